/*
 * metrics.c - see metrics.h.
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "version.h"

#define MAX_ROUTES 96
#define MAX_SLOTS 256
#define ROUTE_NONE 0  /* "(none)": no route matched */
#define ROUTE_OTHER 1 /* a pattern nobody added (never expected) */

static const char *const methods[] = {"GET",   "POST", "PUT",     "DELETE",
                                      "PATCH", "HEAD", "OPTIONS", "other"};
#define N_METHODS (int)(sizeof(methods) / sizeof(methods[0]))

static const int statuses[] = {200, 201, 202, 204, 301, 302, 303, 304, 400, 401, 403, 404,
                               405, 408, 409, 413, 415, 421, 422, 429, 500, 502, 503, 504};
#define N_STATUSES (int)(sizeof(statuses) / sizeof(statuses[0]) + 1) /* + "other" */

/* HTTP latency buckets, microseconds (5 ms .. 5 min: long-polls and streams). */
static const int64_t http_le_us[] = {5000,     10000,    25000,    50000,     100000,
                                     250000,   500000,   1000000,  2500000,   5000000,
                                     10000000, 30000000, 60000000, 120000000, 300000000};
#define HTTP_BUCKETS (int)(sizeof(http_le_us) / sizeof(http_le_us[0]))

/* Submit-to-decision buckets, seconds (1 s .. a day). */
static const int64_t decision_le_s[] = {1,    5,    10,   30,    60,    120,   300,  600,
                                        1800, 3600, 7200, 14400, 28800, 43200, 86400};
#define DECISION_BUCKETS (int)(sizeof(decision_le_s) / sizeof(decision_le_s[0]))

static const char *const types[] = {"confirmation", "choice", "input", "other"};
#define N_TYPES (int)(sizeof(types) / sizeof(types[0]))

static const char *const channels[METRICS_CHANNELS] = {"telegram", "console", "api",    "mcp",
                                                       "hook",     "policy",  "timeout"};
static const char *const outcomes[METRICS_OUTCOMES] = {"approved", "denied", "timeout", "canceled",
                                                       "answered"};
static const char *const tg_results[METRICS_TG_RESULTS] = {"ok", "rate_limited", "retry",
                                                           "permanent", "token_refused"};
static const char *const tg_methods[] = {"getMe",
                                         "getUpdates",
                                         "sendMessage",
                                         "editMessageText",
                                         "editMessageReplyMarkup",
                                         "answerCallbackQuery",
                                         "deleteMessage",
                                         "setWebhook",
                                         "deleteWebhook",
                                         "getWebhookInfo",
                                         "other"};
#define N_TG_METHODS (int)(sizeof(tg_methods) / sizeof(tg_methods[0]))

static const char *const hook_results[METRICS_HOOK_RESULTS] = {"delivered", "retry", "refused"};

static const char *const janitor_tables[] = {
    "outbox",    "tg_updates",       "mcp_sessions",  "requests",  "votes",
    "audit_log", "console_sessions", "console_links", "tg_logins", "other"};
#define N_JANITOR (int)(sizeof(janitor_tables) / sizeof(janitor_tables[0]))

const char *const metrics_outbox_kinds[METRICS_OUTBOX_KINDS] = {
    "tg_send", "tg_edit", "tg_answer", "tg_text", "tg_escalate", "webhook", "other"};

struct http_hist {
    uint64_t bucket[HTTP_BUCKETS + 1]; /* not cumulative; the last is +Inf */
    uint64_t sum_us;
};

struct slot {
    int32_t pid; /* 0: no worker */
    int32_t pad;
    int64_t waiting;
};

/* Everything a host adds up: plain integers, only ever changed with __atomic builtins. */
struct block {
    uint64_t http[MAX_ROUTES][N_METHODS][N_STATUSES];
    struct http_hist duration[MAX_ROUTES];
    uint64_t submitted[N_TYPES];
    uint64_t decided[METRICS_OUTCOMES][METRICS_CHANNELS];
    uint64_t decision_bucket[METRICS_CHANNELS][DECISION_BUCKETS + 1];
    uint64_t decision_sum_ms[METRICS_CHANNELS];
    uint64_t tg[N_TG_METHODS][METRICS_TG_RESULTS];
    uint64_t hook[METRICS_HOOK_RESULTS];
    uint64_t pool_waits, pool_wait_us, pool_timeouts;
    uint64_t listener_reconnects;
    uint64_t worker_restarts;
    uint64_t janitor[N_JANITOR];
    uint64_t dead_cpu_us; /* CPU time of the workers that died */
    int32_t master_pid;   /* 0: no master (a process of its own) */
    int32_t nslots;
    struct slot slots[MAX_SLOTS];
};

/* A process that never ran metrics_init records here (metrics.h, 5.). */
static struct block local;
static struct block *M = &local;
static int my_slot = -1;

/* Route labels: the same in every process (set before fork). */
static const char *routes[MAX_ROUTES] = {"(none)", "(other)"};
static int nroutes = 2;

#define ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void metrics_init(void)
{
    void *p =
        mmap(NULL, sizeof(struct block), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        log_warn("could not map the shared metrics; /metrics shows one worker at a time",
                 "error=\"%s\"", strerror(errno));
        return;
    }
    M = p; /* zero-filled */
    M->master_pid = (int32_t)getpid();
    M->nslots = MAX_SLOTS;
}

void metrics_route_add(const char *route)
{
    for (int i = 0; i < nroutes; i++)
        if (routes[i] == route || !strcmp(routes[i], route))
            return;
    if (nroutes < MAX_ROUTES)
        routes[nroutes++] = route;
    else
        log_warn("too many routes for the metrics; counted as (other)", "route=%s", route);
}

void metrics_worker_begin(int slot)
{
    if (slot < 0 || slot >= M->nslots)
        return;
    my_slot = slot;
    __atomic_store_n(&M->slots[slot].waiting, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&M->slots[slot].pid, (int32_t)getpid(), __ATOMIC_RELEASE);
}

void metrics_worker_gone(int slot, const struct rusage *ru)
{
    if (slot < 0 || slot >= M->nslots)
        return;
    __atomic_store_n(&M->slots[slot].pid, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&M->slots[slot].waiting, 0, __ATOMIC_RELAXED);
    if (ru)
        ADD(M->dead_cpu_us, (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000 +
                                (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec));
}

void metrics_worker_restarted(void)
{
    ADD(M->worker_restarts, 1);
}

static int route_index(const char *route)
{
    if (!route)
        return ROUTE_NONE;
    for (int i = 0; i < nroutes; i++)
        if (routes[i] == route)
            return i;
    for (int i = 0; i < nroutes; i++)
        if (!strcmp(routes[i], route))
            return i;
    return ROUTE_OTHER;
}

static int method_index(const char *m)
{
    for (int i = 0; m && i < N_METHODS - 1; i++)
        if (!strcmp(methods[i], m))
            return i;
    return N_METHODS - 1;
}

static int status_index(int status)
{
    for (int i = 0; i < N_STATUSES - 1; i++)
        if (statuses[i] == status)
            return i;
    return N_STATUSES - 1;
}

void metrics_http(const char *route, const char *method, int status, const struct timespec *start)
{
    struct timespec now;
    int r = route_index(route), b = 0;
    int64_t us;

    clock_gettime(CLOCK_MONOTONIC, &now);
    us = (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
    if (us < 0)
        us = 0;
    while (b < HTTP_BUCKETS && us > http_le_us[b])
        b++;
    ADD(M->http[r][method_index(method)][status_index(status)], 1);
    ADD(M->duration[r].bucket[b], 1);
    ADD(M->duration[r].sum_us, (uint64_t)us);
}

void metrics_submitted(const char *type)
{
    int i = 0;

    while (i < N_TYPES - 1 && (!type || strcmp(types[i], type) != 0))
        i++;
    ADD(M->submitted[i], 1);
}

void metrics_decided(enum metrics_outcome outcome, enum metrics_channel channel, long n,
                     double seconds)
{
    int b = 0;

    if ((unsigned)outcome >= METRICS_OUTCOMES || (unsigned)channel >= METRICS_CHANNELS || n <= 0)
        return;
    ADD(M->decided[outcome][channel], (uint64_t)n);
    if (seconds < 0)
        return;
    while (b < DECISION_BUCKETS && seconds > (double)decision_le_s[b])
        b++;
    ADD(M->decision_bucket[channel][b], (uint64_t)n);
    ADD(M->decision_sum_ms[channel], (uint64_t)(seconds * 1000.0 + 0.5) * (uint64_t)n);
}

void metrics_waiting(int delta)
{
    ADD(M->slots[my_slot >= 0 ? my_slot : 0].waiting, (int64_t)delta);
}

void metrics_tg_call(const char *method, enum metrics_tg_result result)
{
    int i = 0;

    if ((unsigned)result >= METRICS_TG_RESULTS)
        return;
    while (i < N_TG_METHODS - 1 && (!method || strcmp(tg_methods[i], method) != 0))
        i++;
    ADD(M->tg[i][result], 1);
}

void metrics_webhook(enum metrics_hook_result result)
{
    if ((unsigned)result < METRICS_HOOK_RESULTS)
        ADD(M->hook[result], 1);
}

void metrics_db_pool_wait(int64_t us, bool gave_up)
{
    ADD(M->pool_waits, 1);
    ADD(M->pool_wait_us, (uint64_t)(us > 0 ? us : 0));
    if (gave_up)
        ADD(M->pool_timeouts, 1);
}

void metrics_listener_reconnect(void)
{
    ADD(M->listener_reconnects, 1);
}

void metrics_janitor_deleted(const char *table, long rows)
{
    int i = 0;

    if (rows <= 0)
        return;
    while (i < N_JANITOR - 1 && (!table || strcmp(janitor_tables[i], table) != 0))
        i++;
    ADD(M->janitor[i], (uint64_t)rows);
}

int metrics_outbox_kind(const char *kind)
{
    for (int i = 0; kind && i < METRICS_OUTBOX_KINDS - 1; i++)
        if (!strcmp(metrics_outbox_kinds[i], kind))
            return i;
    return METRICS_OUTBOX_KINDS - 1;
}

/* ---------------------------------------------------------------- render */

static void head(struct sbuf *o, const char *name, const char *type, const char *help)
{
    sb_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: route patterns are ours, but escape as the format says anyway. */
static void label_value(struct sbuf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sb_printf(o, "\\%c", *v);
        else if (*v == '\n')
            sb_puts(o, "\\n");
        else
            sb_append(o, v, 1);
    }
}

/*
 * One series of the histogram `name`, labelled `label`="`value`" (escaped):
 * a _bucket line for each of the n bounds le[i] / scale and for +Inf, where
 * counts[0..n] are each bucket's own count (the lines add them up), then
 * _sum (`sum`, with `digits` decimals) and _count.
 */
static void histogram(struct sbuf *o, const char *name, const char *label, const char *value,
                      const uint64_t *counts, const int64_t *le, int n, double scale, double sum,
                      int digits)
{
    uint64_t cum = 0;

    for (int i = 0; i <= n; i++) {
        cum += counts[i];
        sb_printf(o, "%s_bucket{%s=\"", name, label);
        label_value(o, value);
        if (i < n)
            sb_printf(o, "\",le=\"%g\"} %llu\n", (double)le[i] / scale, (unsigned long long)cum);
        else
            sb_printf(o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    sb_printf(o, "%s_sum{%s=\"", name, label);
    label_value(o, value);
    sb_printf(o, "\"} %.*f\n", digits, sum);
    sb_printf(o, "%s_count{%s=\"", name, label);
    label_value(o, value);
    sb_printf(o, "\"} %llu\n", (unsigned long long)cum);
}

/* The process figures of one pid, from /proc; false when it is gone. */
struct proc_figures {
    double cpu_s, start_s;
    double rss, vsize, fds, max_fds;
};

static long page_size, clock_ticks;
static double boot_time;

static bool proc_read(int32_t pid, struct proc_figures *f)
{
    char path[64], buf[1024], *p;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    FILE *fp;
    DIR *d;
    struct dirent *e;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(fp = fopen(path, "re")))
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    /* after the command name, which may hold anything: fields 3 .. */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu "
               "%llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return false;
    f->cpu_s = (double)(utime + stime) / (double)clock_ticks;
    f->start_s = boot_time + (double)start / (double)clock_ticks;
    f->vsize = (double)vsize;
    f->rss = (double)rss * (double)page_size;

    f->fds = 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if ((d = opendir(path))) {
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                f->fds++;
        closedir(d);
    }
    f->max_fds = 0;
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
    if ((fp = fopen(path, "re"))) {
        char line[256];
        unsigned long long soft;

        while (fgets(line, sizeof(line), fp))
            if (!strncmp(line, "Max open files", 14) && sscanf(line + 14, " %llu", &soft) == 1)
                f->max_fds = (double)soft;
        fclose(fp);
    }
    return true;
}

static void proc_init(void)
{
    FILE *fp;
    char line[256];

    page_size = sysconf(_SC_PAGESIZE);
    clock_ticks = sysconf(_SC_CLK_TCK);
    if (clock_ticks <= 0)
        clock_ticks = 100;
    if ((fp = fopen("/proc/stat", "re"))) {
        unsigned long long bt;

        while (fgets(line, sizeof(line), fp))
            if (sscanf(line, "btime %llu", &bt) == 1)
                boot_time = (double)bt;
        fclose(fp);
    }
}

static void render_process(struct sbuf *o)
{
    struct proc_figures sum = {0}, f;
    int32_t pids[MAX_SLOTS + 1];
    int n = 0;
    double start = 0;

    proc_init();
    if (GET(M->master_pid))
        pids[n++] = GET(M->master_pid);
    for (int i = 0; i < M->nslots; i++) {
        int32_t pid = __atomic_load_n(&M->slots[i].pid, __ATOMIC_ACQUIRE);
        if (pid)
            pids[n++] = pid;
    }
    if (n == 0)
        pids[n++] = (int32_t)getpid();
    for (int i = 0; i < n; i++) {
        if (!proc_read(pids[i], &f))
            continue;
        sum.cpu_s += f.cpu_s;
        sum.rss += f.rss;
        sum.vsize += f.vsize;
        sum.fds += f.fds;
        sum.max_fds += f.max_fds;
        if (start == 0 || f.start_s < start)
            start = f.start_s;
    }
    sum.cpu_s += (double)GET(M->dead_cpu_us) / 1e6;

    head(o, "process_cpu_seconds_total", "counter",
         "User and system CPU time of the master and its workers (and of the workers that "
         "died), in seconds.");
    sb_printf(o, "process_cpu_seconds_total %.2f\n", sum.cpu_s);
    head(o, "process_resident_memory_bytes", "gauge",
         "Resident memory of the master and its workers, added up, in bytes.");
    sb_printf(o, "process_resident_memory_bytes %.0f\n", sum.rss);
    head(o, "process_virtual_memory_bytes", "gauge",
         "Virtual memory of the master and its workers, added up, in bytes.");
    sb_printf(o, "process_virtual_memory_bytes %.0f\n", sum.vsize);
    head(o, "process_open_fds", "gauge",
         "Open file descriptors of the master and its workers, added up.");
    sb_printf(o, "process_open_fds %.0f\n", sum.fds);
    head(o, "process_max_fds", "gauge",
         "The open file limits of the master and its workers, added up.");
    sb_printf(o, "process_max_fds %.0f\n", sum.max_fds);
    head(o, "process_start_time_seconds", "gauge",
         "Start time of the oldest process (the master) since the Unix epoch, in seconds.");
    sb_printf(o, "process_start_time_seconds %.2f\n", start);
}

static void render_http(struct sbuf *o)
{
    head(o, "loopgate_http_requests_total", "counter",
         "HTTP requests answered, by route pattern, method and status.");
    for (int r = 0; r < nroutes; r++)
        for (int m = 0; m < N_METHODS; m++)
            for (int s = 0; s < N_STATUSES; s++) {
                uint64_t v = GET(M->http[r][m][s]);

                if (!v)
                    continue;
                sb_puts(o, "loopgate_http_requests_total{route=\"");
                label_value(o, routes[r]);
                if (s < N_STATUSES - 1)
                    sb_printf(o, "\",method=\"%s\",status=\"%d\"} %llu\n", methods[m], statuses[s],
                              (unsigned long long)v);
                else
                    sb_printf(o, "\",method=\"%s\",status=\"other\"} %llu\n", methods[m],
                              (unsigned long long)v);
            }

    head(o, "loopgate_http_request_duration_seconds", "histogram",
         "Time from the start of a request to its end, by route pattern, in seconds.");
    for (int r = 0; r < nroutes; r++) {
        uint64_t b[HTTP_BUCKETS + 1], any = 0;

        for (int i = 0; i <= HTTP_BUCKETS; i++)
            any |= (b[i] = GET(M->duration[r].bucket[i]));
        if (any)
            histogram(o, "loopgate_http_request_duration_seconds", "route", routes[r], b,
                      http_le_us, HTTP_BUCKETS, 1e6, (double)GET(M->duration[r].sum_us) / 1e6, 6);
    }
}

/* The pairs shown even at 0: how each channel can end a request. */
static bool possible(int outcome, int channel)
{
    switch (outcome) {
    case METRICS_APPROVED:
    case METRICS_DENIED:
        return channel == METRICS_CH_TELEGRAM || channel == METRICS_CH_CONSOLE ||
               channel == METRICS_CH_POLICY;
    case METRICS_TIMED_OUT:
        return channel == METRICS_CH_TIMEOUT;
    default:
        return channel == METRICS_CH_API || channel == METRICS_CH_MCP || channel == METRICS_CH_HOOK;
    }
}

static void render_requests(struct sbuf *o)
{
    head(o, "loopgate_requests_submitted_total", "counter",
         "Requests stored, by request type (decided at once by a rule or not).");
    for (int i = 0; i < N_TYPES; i++)
        sb_printf(o, "loopgate_requests_submitted_total{type=\"%s\"} %llu\n", types[i],
                  (unsigned long long)GET(M->submitted[i]));

    head(o, "loopgate_requests_decided_total", "counter",
         "Requests that left pending, by outcome and by the channel that ended them.");
    for (int a = 0; a < METRICS_OUTCOMES; a++)
        for (int c = 0; c < METRICS_CHANNELS; c++) {
            uint64_t v = GET(M->decided[a][c]);

            if (v || possible(a, c))
                sb_printf(o,
                          "loopgate_requests_decided_total{outcome=\"%s\",channel=\"%s\"} %llu\n",
                          outcomes[a], channels[c], (unsigned long long)v);
        }

    head(o, "loopgate_decision_seconds", "histogram",
         "Time from submit to the decision of a person, a rule or a cancel (not timeouts), by "
         "channel, in seconds.");
    for (int c = 0; c < METRICS_CHANNELS; c++) {
        uint64_t b[DECISION_BUCKETS + 1];

        if (c == METRICS_CH_TIMEOUT)
            continue;
        for (int i = 0; i <= DECISION_BUCKETS; i++)
            b[i] = GET(M->decision_bucket[c][i]);
        histogram(o, "loopgate_decision_seconds", "channel", channels[c], b, decision_le_s,
                  DECISION_BUCKETS, 1, (double)GET(M->decision_sum_ms[c]) / 1e3, 3);
    }
}

static void render_rest(struct sbuf *o)
{
    int64_t waiting = 0;

    for (int i = 0; i < (M->nslots ? M->nslots : 1); i++)
        if (M == &local || __atomic_load_n(&M->slots[i].pid, __ATOMIC_ACQUIRE))
            waiting += GET(M->slots[i].waiting);
    head(o, "loopgate_waiting_polls", "gauge",
         "Long-polls and blocking tool calls waiting for a human, over every worker.");
    sb_printf(o, "loopgate_waiting_polls %lld\n", (long long)(waiting > 0 ? waiting : 0));

    head(o, "loopgate_telegram_api_calls_total", "counter",
         "Telegram Bot API calls, by method and result (rate_limited: answered 429).");
    for (int m = 0; m < N_TG_METHODS; m++)
        for (int r = 0; r < METRICS_TG_RESULTS; r++) {
            uint64_t v = GET(M->tg[m][r]);

            if (v)
                sb_printf(o,
                          "loopgate_telegram_api_calls_total{method=\"%s\",result=\"%s\"} %llu\n",
                          tg_methods[m], tg_results[r], (unsigned long long)v);
        }

    head(o, "loopgate_webhook_deliveries_total", "counter",
         "Attempts to deliver an agent webhook, by outcome.");
    for (int i = 0; i < METRICS_HOOK_RESULTS; i++)
        sb_printf(o, "loopgate_webhook_deliveries_total{outcome=\"%s\"} %llu\n", hook_results[i],
                  (unsigned long long)GET(M->hook[i]));

    head(o, "loopgate_db_pool_waits_total", "counter",
         "Times a thread found every pooled database connection busy and waited.");
    sb_printf(o, "loopgate_db_pool_waits_total %llu\n", (unsigned long long)GET(M->pool_waits));
    head(o, "loopgate_db_pool_wait_seconds_total", "counter",
         "Time spent waiting for a pooled database connection, in seconds.");
    sb_printf(o, "loopgate_db_pool_wait_seconds_total %.6f\n", (double)GET(M->pool_wait_us) / 1e6);
    head(o, "loopgate_db_pool_timeouts_total", "counter",
         "Waits for a pooled database connection that ran out (answered 503).");
    sb_printf(o, "loopgate_db_pool_timeouts_total %llu\n",
              (unsigned long long)GET(M->pool_timeouts));

    head(o, "loopgate_listener_reconnects_total", "counter",
         "Times a worker's LISTEN connection was opened again after it was lost.");
    sb_printf(o, "loopgate_listener_reconnects_total %llu\n",
              (unsigned long long)GET(M->listener_reconnects));

    head(o, "loopgate_worker_restarts_total", "counter",
         "Worker processes the master started in place of one that died.");
    sb_printf(o, "loopgate_worker_restarts_total %llu\n",
              (unsigned long long)GET(M->worker_restarts));

    head(o, "loopgate_janitor_deleted_rows_total", "counter",
         "Rows the janitor deleted, by table.");
    for (int i = 0; i < N_JANITOR; i++)
        sb_printf(o, "loopgate_janitor_deleted_rows_total{table=\"%s\"} %llu\n", janitor_tables[i],
                  (unsigned long long)GET(M->janitor[i]));
}

static void render_db(struct sbuf *o, const struct metrics_db *db)
{
    if (!db || !db->ok)
        return;
    head(o, "loopgate_pending_requests", "gauge", "Requests pending, over every tenant.");
    sb_printf(o, "loopgate_pending_requests %lld\n", (long long)db->pending);
    head(o, "loopgate_outbox_depth", "gauge", "Outbox rows queued (not yet done), by kind.");
    for (int i = 0; i < METRICS_OUTBOX_KINDS; i++)
        sb_printf(o, "loopgate_outbox_depth{kind=\"%s\"} %lld\n", metrics_outbox_kinds[i],
                  (long long)db->outbox_depth[i]);
    head(o, "loopgate_outbox_oldest_age_seconds", "gauge",
         "Age of the oldest queued outbox row, by kind (0 when none is queued), in seconds.");
    for (int i = 0; i < METRICS_OUTBOX_KINDS; i++)
        sb_printf(o, "loopgate_outbox_oldest_age_seconds{kind=\"%s\"} %.3f\n",
                  metrics_outbox_kinds[i], db->outbox_oldest_age[i]);
}

void metrics_render(struct sbuf *out, const struct metrics_db *db)
{
    head(out, "loopgate_build_info", "gauge", "The running release; always 1.");
    sb_puts(out, "loopgate_build_info{version=\"");
    label_value(out, LOOPGATE_VERSION);
    sb_puts(out, "\"} 1\n");
    render_http(out);
    render_requests(out);
    render_rest(out);
    render_db(out, db);
    render_process(out);
}
