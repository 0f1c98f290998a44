/*
 * test_metrics.c - unit tests for metrics.c: labels from fixed sets, the
 * histograms' buckets, and figures that a forked child adds to the shared
 * block showing in its parent.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "t.h"

static const char *poll_route = "/hitl/poll";

static char *render(void)
{
    struct sbuf b = {0};
    struct metrics_db db = {.ok = true, .pending = 3};

    db.outbox_depth[metrics_outbox_kind("webhook")] = 2;
    db.outbox_oldest_age[metrics_outbox_kind("webhook")] = 1.5;
    metrics_render(&b, &db);
    return b.p;
}

TEST(http_labels_are_patterns_and_fixed_sets)
{
    struct timespec now;
    char *out;

    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_http(poll_route, "GET", 200, &now);
    metrics_http("/hitl/poll", "GET", 200, &now); /* the same pattern by value */
    metrics_http(NULL, "BREW", 418, &now);
    metrics_http("/not/a/pattern", "POST", 404, &now);
    out = render();
    CHECK_CONTAINS(out, "loopgate_http_requests_total{route=\"/hitl/poll\",method=\"GET\","
                        "status=\"200\"} 2\n");
    CHECK_CONTAINS(out, "loopgate_http_requests_total{route=\"(none)\",method=\"other\","
                        "status=\"other\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_http_requests_total{route=\"(other)\",method=\"POST\","
                        "status=\"404\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_http_request_duration_seconds_bucket{route=\"/hitl/poll\","
                        "le=\"0.005\"} 2\n");
    CHECK_CONTAINS(out, "loopgate_http_request_duration_seconds_count{route=\"/hitl/poll\"} 2\n");
    free(out);
}

TEST(decisions_and_their_seconds)
{
    char *out;

    metrics_decided(METRICS_APPROVED, METRICS_CH_TELEGRAM, 1, 4.2);
    metrics_decided(METRICS_DENIED, METRICS_CH_TELEGRAM, 1, 90000); /* beyond a day: +Inf */
    metrics_decided(METRICS_TIMED_OUT, METRICS_CH_TIMEOUT, 3, -1);
    metrics_decided(METRICS_OUTCOMES, METRICS_CH_API, 1, 1); /* out of range: nothing */
    out = render();
    CHECK_CONTAINS(
        out, "loopgate_requests_decided_total{outcome=\"approved\",channel=\"telegram\"} 1\n");
    CHECK_CONTAINS(out,
                   "loopgate_requests_decided_total{outcome=\"timeout\",channel=\"timeout\"} 3\n");
    CHECK_CONTAINS(out, "loopgate_decision_seconds_bucket{channel=\"telegram\",le=\"1\"} 0\n");
    CHECK_CONTAINS(out, "loopgate_decision_seconds_bucket{channel=\"telegram\",le=\"5\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_decision_seconds_bucket{channel=\"telegram\",le=\"86400\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_decision_seconds_bucket{channel=\"telegram\",le=\"+Inf\"} 2\n");
    CHECK_CONTAINS(out, "loopgate_decision_seconds_sum{channel=\"telegram\"} 90004.200\n");
    CHECK_CONTAINS(out, "loopgate_decision_seconds_count{channel=\"telegram\"} 2\n");
    CHECK(!strstr(out, "channel=\"timeout\",le="));
    free(out);
}

TEST(unknown_values_count_as_other)
{
    char *out;

    metrics_submitted("confirmation");
    metrics_submitted("something-else");
    metrics_tg_call("sendMessage", METRICS_TG_RATE_LIMITED);
    metrics_tg_call("getChat", METRICS_TG_OK);
    metrics_janitor_deleted("outbox", 5);
    metrics_janitor_deleted("pg_authid", 7);
    metrics_janitor_deleted("votes", 0);
    out = render();
    CHECK_CONTAINS(out, "loopgate_requests_submitted_total{type=\"confirmation\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_requests_submitted_total{type=\"other\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_telegram_api_calls_total{method=\"sendMessage\","
                        "result=\"rate_limited\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_telegram_api_calls_total{method=\"other\",result=\"ok\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_janitor_deleted_rows_total{table=\"outbox\"} 5\n");
    CHECK_CONTAINS(out, "loopgate_janitor_deleted_rows_total{table=\"other\"} 7\n");
    CHECK_CONTAINS(out, "loopgate_janitor_deleted_rows_total{table=\"votes\"} 0\n");
    CHECK_CONTAINS(out, "loopgate_pending_requests 3\n");
    CHECK_CONTAINS(out, "loopgate_outbox_depth{kind=\"webhook\"} 2\n");
    CHECK_CONTAINS(out, "loopgate_outbox_oldest_age_seconds{kind=\"webhook\"} 1.500\n");
    free(out);
}

/* A worker forked after metrics_init adds to what its master renders; its slot goes with it. */
TEST(children_add_to_the_shared_block)
{
    struct rusage ru;
    int status;
    pid_t pid;
    char *out;

    metrics_init();
    pid = fork();
    if (pid == 0) {
        metrics_worker_begin(1);
        metrics_webhook(METRICS_HOOK_DELIVERED);
        metrics_waiting(1);
        metrics_listener_reconnect();
        pause(); /* until killed, as a worker would be */
        _exit(0);
    }
    CHECK(pid > 0);
    for (int i = 0; i < 200; i++) {
        out = render();
        if (strstr(out, "loopgate_waiting_polls 1\n")) {
            free(out);
            break;
        }
        free(out);
        usleep(10000);
    }
    out = render();
    CHECK_CONTAINS(out, "loopgate_webhook_deliveries_total{outcome=\"delivered\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_listener_reconnects_total 1\n");
    CHECK_CONTAINS(out, "loopgate_waiting_polls 1\n");
    free(out);
    kill(pid, SIGKILL);
    CHECK(wait4(pid, &status, 0, &ru) == pid);
    metrics_worker_gone(1, &ru);
    metrics_worker_restarted();
    out = render();
    CHECK_CONTAINS(out, "loopgate_waiting_polls 0\n");
    CHECK_CONTAINS(out, "loopgate_webhook_deliveries_total{outcome=\"delivered\"} 1\n");
    CHECK_CONTAINS(out, "loopgate_worker_restarts_total 1\n");
    CHECK_CONTAINS(out, "process_cpu_seconds_total ");
    free(out);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    metrics_route_add(poll_route);
    RUN(http_labels_are_patterns_and_fixed_sets);
    RUN(decisions_and_their_seconds);
    RUN(unknown_values_count_as_other);
    RUN(children_add_to_the_shared_block);
    return t_end();
}
