/*
 * hook_cli.c - see hook_cli.h.
 */
#include "hook_cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util.h"

#define STDIN_MAX (1024 * 1024)  /* bytes of hook input read; the server takes 64 KiB */
#define ANSWER_MAX (1024 * 1024) /* bytes of answer kept */
#define HEADER_MAX 512
#define CALL_TIMEOUT_S 86460 /* the longest wait a call may ask for, and a minute */
#define RETRY_WINDOW_S 30    /* how long a call no host answers is sent again ($LOOPGATE_RETRY) */
#define RETRY_WINDOW_MAX_S 600
#define RETRY_PAUSE_MS 250 /* the first pause before sending it again; doubled each time */
#define RETRY_PAUSE_MAX_MS 4000

static void usage(FILE *f)
{
    fprintf(f, "Usage: loopgate hook claude-code|codex|gemini [--url URL] [--fail-closed]\n\n"
               "A command hook for a coding agent: reads the hook's JSON on stdin, asks the\n"
               "Loopgate server (POST URL/v1/hooks/AGENT) and prints its answer in the agent's\n"
               "format.\n\n"
               "  --url URL       the server (else $LOOPGATE_URL, else http://127.0.0.1:8080)\n"
               "  --fail-closed   no answer from the server (unreachable, an error, or a 200 that\n"
               "                  is no decision in the agent's format): exit 2 (the agent reads:\n"
               "                  deny; Claude Code also gets a deny on stdout, as its\n"
               "                  PermissionRequest needs); without it, exit 1 (the agent reads:\n"
               "                  the hook failed: a PermissionRequest asks locally, Claude\n"
               "                  Code's PreToolUse goes on through its own permission mode)\n\n"
               "A call no Loopgate host answers (one restarting, or none reachable) is sent again\n"
               "for up to LOOPGATE_RETRY seconds (30; 0: never); it waits on the request it\n"
               "already made.\n\n"
               "Environment: LOOPGATE_API_KEY (the key), LOOPGATE_SESSION (the Loopgate session,\n"
               "X-Loopgate-Session), LOOPGATE_WAIT (seconds to wait, X-Loopgate-Wait).\n");
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    struct sbuf *b = ctx;

    if (b->len + size * n > ANSWER_MAX)
        return 0;
    sb_append(b, p, size * n);
    return size * n;
}

/* stdin, at most STDIN_MAX bytes; -1 when longer or unreadable. */
static int read_stdin(struct sbuf *b)
{
    char buf[8192];
    size_t n;

    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        if (b->len + n > STDIN_MAX)
            return -1;
        sb_append(b, buf, n);
    }
    return ferror(stdin) ? -1 : 0;
}

/* A header line from an environment variable, refused when it would break the line. */
static int env_header(struct curl_slist **h, const char *name, const char *var)
{
    const char *v = getenv(var);
    char line[HEADER_MAX];

    if (!v || !*v)
        return 0;
    if (strpbrk(v, "\r\n") || lg_snprintf(line, sizeof(line), "%s: %s", name, v) < 0)
        return -1;
    *h = curl_slist_append(*h, line);
    return 0;
}

/* How a call that got no answer ends. */
struct failing {
    bool closed;           /* --fail-closed */
    const char *agent;     /* claude-code, codex or gemini */
    const struct sbuf *in; /* the hook's input, as read so far */
};

/*
 * Claude Code's deny on stdout, for the event its input names: PreToolUse,
 * else PermissionRequest (whose hooks' exit status 2 Claude Code ignores: only
 * a decision denies). Nothing is printed when it cannot be built.
 */
static void claude_deny(const struct sbuf *in, const char *why)
{
    json_t *j = NULL, *out;
    const char *event;
    char msg[900], *s;

    if (in->p && json_depth_ok(in->p, in->len, LG_JSON_DEPTH_MAX))
        j = json_loadb(in->p, in->len, 0, NULL);
    event = json_string_value(json_object_get(j, "hook_event_name"));
    lg_snprintf(msg, sizeof(msg), "Loopgate: %s (denied: the hook fails closed)", why);
    if (!utf8_valid(msg, strlen(msg)))
        lg_strlcpy(msg, "Loopgate: no answer from the server (denied: the hook fails closed)",
                   sizeof(msg));
    if (event && !strcmp(event, "PreToolUse"))
        out = json_pack("{s:{s:s, s:s, s:s}}", "hookSpecificOutput", "hookEventName", "PreToolUse",
                        "permissionDecision", "deny", "permissionDecisionReason", msg);
    else
        out = json_pack("{s:{s:s, s:{s:s, s:s, s:b}}}", "hookSpecificOutput", "hookEventName",
                        "PermissionRequest", "decision", "behavior", "deny", "message", msg,
                        "interrupt", 0);
    s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(out);
    json_decref(j);
}

/*
 * Fail: why on stderr, and the exit status the agent reads as intended;
 * failing closed, Claude Code also reads a deny on stdout.
 */
static int fail(const struct failing *f, const char *fmt, const char *what)
{
    char why[700];

    if (snprintf(why, sizeof(why), fmt, what) < 0)
        why[0] = '\0';
    fprintf(stderr, "Loopgate: %s%s\n", why, f->closed ? " (denied: the hook fails closed)" : "");
    if (f->closed && !strcmp(f->agent, "claude-code")) {
        claude_deny(f->in, why);
        fflush(stdout);
    }
    return f->closed ? 2 : 1;
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return s && (!strcmp(s, a) || !strcmp(s, b) || (c && !strcmp(s, c)));
}

/*
 * Whether `j` is the answer the agent reads as a decision: Claude Code's
 * stop ("continue": false, which every event obeys) or its decision for the
 * event its input `in` names (PreToolUse: permissionDecision allow, deny or
 * ask; else PermissionRequest: decision.behavior allow or deny),
 * Codex's PermissionRequest decision, Gemini CLI's decision. Anything else
 * (a proxy's page, a health check's JSON) is no answer.
 */
static bool answer_ok(const char *agent, json_t *j, const struct sbuf *in)
{
    json_t *hso = json_object_get(j, "hookSpecificOutput"), *q = NULL;
    const char *name = json_string_value(json_object_get(hso, "hookEventName")), *event = NULL;
    bool ok;

    if (!strcmp(agent, "gemini"))
        return one_of(json_string_value(json_object_get(j, "decision")), "allow", "deny", NULL);
    /* the fields every Claude Code event obeys: stop (the proxy's answer when no worker could) */
    if (!strcmp(agent, "claude-code") && json_is_false(json_object_get(j, "continue")))
        return true;
    if (!name)
        return false;
    if (!strcmp(agent, "claude-code") && in->p && json_depth_ok(in->p, in->len, LG_JSON_DEPTH_MAX))
        q = json_loadb(in->p, in->len, 0, NULL);
    event = json_string_value(json_object_get(q, "hook_event_name"));
    if (event && !strcmp(event, "PreToolUse"))
        ok = !strcmp(name, "PreToolUse") &&
             one_of(json_string_value(json_object_get(hso, "permissionDecision")), "allow", "deny",
                    "ask");
    else
        ok =
            !strcmp(name, "PermissionRequest") &&
            one_of(json_string_value(json_object_get(json_object_get(hso, "decision"), "behavior")),
                   "allow", "deny", NULL);
    json_decref(q);
    return ok;
}

/* The deny's reason in the agent's format, or NULL. */
static const char *deny_reason(const char *agent, json_t *j)
{
    json_t *hso = json_object_get(j, "hookSpecificOutput");
    const char *s;

    if (!strcmp(agent, "gemini"))
        return json_string_value(json_object_get(j, "reason"));
    if ((s = json_string_value(json_object_get(j, "stopReason"))) != NULL)
        return s;
    if ((s = json_string_value(json_object_get(hso, "permissionDecisionReason"))) != NULL)
        return s;
    return json_string_value(json_object_get(json_object_get(hso, "decision"), "message"));
}

/*
 * Whether no Loopgate host answered the call, so that sending it again may
 * reach one: the connection failed or broke, a 502, 503 or 504 status, or
 * the shipped nginx's deny for those (a 200 whose reason is exactly "Loopgate
 * could not answer (nginx: 502); the call was not run"). A call sent again
 * waits on the request its first arrival made, if that is still pending.
 */
static bool no_host(CURLcode res, long status, const char *agent, json_t *j)
{
    static const char *const lost[] = {"502", "503", "504"};
    const char *why = res == CURLE_OK && status == 200 ? deny_reason(agent, j) : NULL;
    char want[96];

    if (res != CURLE_OK)
        return res == CURLE_COULDNT_CONNECT || res == CURLE_SEND_ERROR || res == CURLE_RECV_ERROR ||
               res == CURLE_GOT_NOTHING;
    if (status == 502 || status == 503 || status == 504)
        return true;
    for (size_t i = 0; why && i < sizeof(lost) / sizeof(lost[0]); i++) {
        lg_snprintf(want, sizeof(want),
                    "Loopgate could not answer (nginx: %s); the call was not run", lost[i]);
        if (!strcmp(why, want))
            return true;
    }
    return false;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

int hookcli_main(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"fail-closed", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *base = getenv("LOOPGATE_URL"), *agent;
    struct sbuf in = {0}, ans = {0};
    struct curl_slist *h = NULL;
    struct failing failing;
    char url[2048], errbuf[CURL_ERROR_SIZE] = "";
    bool closed = false;
    long status = 0;
    int64_t first_miss = 0, retry_s = RETRY_WINDOW_S;
    CURLcode res = CURLE_OK;
    size_t blen;
    json_t *j = NULL;
    CURL *curl = NULL;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'u')
            base = optarg;
        else if (c == 'f')
            closed = true;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    agent = optind < argc ? argv[optind] : NULL;
    if (!agent || optind + 1 != argc ||
        (strcmp(agent, "claude-code") && strcmp(agent, "codex") && strcmp(agent, "gemini"))) {
        usage(stderr);
        return 2;
    }
    failing = (struct failing){closed, agent, &in};
    if (!base || !*base)
        base = "http://127.0.0.1:8080";
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if ((strncmp(base, "http://", 7) && strncmp(base, "https://", 8)) || blen > 2000 ||
        lg_snprintf(url, sizeof(url), "%.*s/v1/hooks/%s", (int)blen, base, agent) < 0) {
        rc = fail(&failing, "the server URL %s is not an http(s) URL of at most 2000 bytes", base);
        goto out;
    }
    if (getenv("LOOPGATE_RETRY") && (parse_int64(getenv("LOOPGATE_RETRY"), &retry_s) < 0 ||
                                     retry_s < 0 || retry_s > RETRY_WINDOW_MAX_S)) {
        rc = fail(&failing, "LOOPGATE_RETRY must be a whole number of seconds, 0-%s", "600");
        goto out;
    }
    if (read_stdin(&in) < 0 || !in.p) {
        rc = fail(&failing, "%s", "no hook input on stdin (or more than 1 MiB)");
        goto out;
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    if (env_header(&h, "X-API-Key", "LOOPGATE_API_KEY") < 0 ||
        env_header(&h, "X-Loopgate-Session", "LOOPGATE_SESSION") < 0 ||
        env_header(&h, "X-Loopgate-Wait", "LOOPGATE_WAIT") < 0) {
        rc = fail(&failing, "%s",
                  "LOOPGATE_API_KEY, LOOPGATE_SESSION or LOOPGATE_WAIT holds a "
                  "line break or is too long");
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    if (!curl) {
        rc = fail(&failing, "%s", "could not start the HTTP client");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, in.p);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)in.len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)CALL_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    /*
     * The host that held the call died or stopped, or none answered: the
     * same call again, for up to retry_s from the first such answer.
     * It waits on the request its first arrival made while that is pending
     * (the server keys a call by its body); it is never taken for an answer.
     */
    for (int pause = RETRY_PAUSE_MS;;) {
        sb_free(&ans);
        json_decref(j);
        j = NULL;
        status = 0;
        errbuf[0] = '\0';
        res = curl_easy_perform(curl);
        if (res == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            j = ans.p ? json_loadb(ans.p, ans.len, 0, NULL) : NULL;
        }
        if (!no_host(res, status, agent, j))
            break;
        if (!first_miss)
            first_miss = now_ms();
        if (now_ms() - first_miss + pause > retry_s * 1000)
            break;
        fprintf(stderr, "Loopgate: no host answered (%s); sending the call again\n",
                res != CURLE_OK ? errbuf
                : status == 200 ? "nginx's deny"
                                : "an error status");
        pause_ms(pause);
        pause = pause * 2 > RETRY_PAUSE_MAX_MS ? RETRY_PAUSE_MAX_MS : pause * 2;
    }
    if (res != CURLE_OK) {
        rc = fail(&failing, "the server could not be reached: %s", errbuf);
        goto out;
    }
    if (status != 200 || !json_is_object(j)) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        char why[600];

        lg_snprintf(why, sizeof(why), "the server answered %ld: %s", status,
                    msg ? msg : "no JSON answer");
        rc = fail(&failing, "%s", why);
        goto out;
    }
    if (!answer_ok(agent, j, &in)) {
        rc = fail(&failing, "%s", "the server answered 200 with no decision for this agent");
        goto out;
    }
    fwrite(ans.p, 1, ans.len, stdout);
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    json_decref(j);
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(h);
    sb_free(&in);
    sb_free(&ans);
    return rc;
}
