/*
 * mcpstdio.c - `loopgate mcp`: MCP over stdio, bridged to a Loopgate server.
 *
 * Desktop clients (Claude Desktop, Cursor, VS Code) start an MCP server as a
 * child process and speak newline-delimited JSON-RPC on its stdin/stdout.
 * This command forwards each message to <url>/mcp over Streamable HTTP and
 * writes back every JSON-RPC message the server answers, progress
 * notifications included, as they arrive.
 *
 * 1. `initialize` is forwarded first and alone; the Mcp-Session-Id it
 *    returns goes with every later message.
 * 2. Every other request runs on its own thread, so a tool call that waits
 *    for a human does not hold up a ping. Lines to stdout are written whole,
 *    under a lock.
 * 3. At end of input the bridge waits for calls in flight, ends the
 *    session (DELETE), and exits. stdout carries protocol only; diagnostics
 *    go to stderr.
 * 4. A message of revision 2026-07-28 (its params._meta names a protocol
 *    version) needs no initialize and goes without the session, with the
 *    headers that revision's HTTP transport mirrors from the body
 *    (MCP-Protocol-Version, Mcp-Method, Mcp-Name); the server checks them.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mcpstdio.h"
#include "util.h"
#include "version.h"

static struct {
    char *url;              /* .../mcp */
    char *api_key;          /* or NULL */
    char hook_headers[400]; /* X-Loopgate-Session / -Wait lines from the environment, or "" */
    char session[200];
    pthread_mutex_t out_lock;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int in_flight;
} B = {.out_lock = PTHREAD_MUTEX_INITIALIZER,
       .lock = PTHREAD_MUTEX_INITIALIZER,
       .idle = PTHREAD_COND_INITIALIZER};

static void emit(const char *json, size_t n)
{
    /* One message, one line: no trailing newline of the server's own. */
    while (n > 0 && (json[n - 1] == '\n' || json[n - 1] == '\r' || json[n - 1] == ' '))
        n--;
    pthread_mutex_lock(&B.out_lock);
    fwrite(json, 1, n, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&B.out_lock);
}

/* Write a JSON-RPC error for request `id` (when it had one). */
static void emit_error(json_t *id, int code, const char *message)
{
    json_t *e;
    char *s;

    if (!id || json_is_null(id))
        return;
    e = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code", code,
                  "message", message);
    s = json_dumps(e, JSON_COMPACT);
    emit(s, strlen(s));
    free(s);
    json_decref(e);
}

/* One HTTP exchange: parses SSE as it streams, or collects a JSON body. */
struct exchange {
    struct sbuf buf; /* unparsed bytes */
    bool sse;
    bool decided; /* content type seen */
    char session[200];
};

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    struct exchange *x = userdata;
    size_t len = size * n;

    if (len > 15 && !strncasecmp(p, "Content-Type:", 13)) {
        x->sse = strstr(p, "text/event-stream") != NULL;
        x->decided = true;
    } else if (len > 16 && !strncasecmp(p, "Mcp-Session-Id:", 15)) {
        size_t i = 15, k = 0;
        while (i < len && p[i] == ' ')
            i++;
        while (i < len && p[i] != '\r' && p[i] != '\n' && k + 1 < sizeof(x->session))
            x->session[k++] = p[i++];
        x->session[k] = '\0';
    }
    return len;
}

/* Emit every complete SSE event in the buffer. */
static void drain_sse(struct exchange *x)
{
    char *start = x->buf.p, *end;

    while (start && (end = strstr(start, "\n\n"))) {
        struct sbuf data = {0};
        for (char *line = start; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
            if (ll >= 5 && !strncmp(line, "data:", 5)) {
                const char *d = line + 5 + (line[5] == ' ');
                sb_append(&data, d, ll - (size_t)(d - line));
            }
            line += ll + 1;
        }
        if (data.len)
            emit(data.p, data.len);
        sb_free(&data);
        start = end + 2;
    }
    if (start && start != x->buf.p) {
        size_t rest = x->buf.len - (size_t)(start - x->buf.p);
        memmove(x->buf.p, start, rest + 1);
        x->buf.len = rest;
    }
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct exchange *x = userdata;

    size_t len = size * n;

    if (!x->sse) {
        sb_append(&x->buf, p, len);
        return len;
    }
    /* Drop CRs so events split on blank lines whatever the line ending. */
    for (size_t i = 0; i < len; i++)
        if (p[i] != '\r')
            sb_append(&x->buf, p + i, 1);
    drain_sse(x);
    return len;
}

/* Append the session's id (once there is one and `with_session`) and the API key (if any). */
static struct curl_slist *session_headers(struct curl_slist *h, bool with_session)
{
    char line[300];

    if (with_session && B.session[0]) {
        snprintf(line, sizeof(line), "Mcp-Session-Id: %s", B.session);
        h = curl_slist_append(h, line);
    }
    if (B.api_key) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", B.api_key);
        h = curl_slist_append(h, line);
    }
    for (char *p = B.hook_headers; *p;) {
        char *nl = strchr(p, '\n');
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        h = curl_slist_append(h, line);
        p = nl + 1;
    }
    return h;
}

/* Append "Name: value" when value is a string fit for a header line (no controls, short). */
static struct curl_slist *mirror(struct curl_slist *h, const char *name, json_t *value)
{
    const char *v = json_string_value(value);
    char line[300];

    if (!v || strlen(v) > 200)
        return h;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return h;
    snprintf(line, sizeof(line), "%s: %s", name, v);
    return curl_slist_append(h, line);
}

/*
 * The headers of a 2026-07-28 message mirrored from its body, appended to
 * `h`; *stateless says whether `msg` is one.
 */
static struct curl_slist *stateless_headers(struct curl_slist *h, const char *msg, bool *stateless)
{
    json_t *m = json_loads(msg, JSON_DECODE_ANY, NULL);
    json_t *params = json_object_get(m, "params");
    json_t *v = json_object_get(json_object_get(params, "_meta"),
                                "io.modelcontextprotocol/protocolVersion");
    const char *method = json_string_value(json_object_get(m, "method"));

    *stateless = json_is_string(v);
    if (*stateless) {
        h = mirror(h, "MCP-Protocol-Version", v);
        h = mirror(h, "Mcp-Method", json_object_get(m, "method"));
        if (method && (!strcmp(method, "tools/call") || !strcmp(method, "prompts/get")))
            h = mirror(h, "Mcp-Name", json_object_get(params, "name"));
        else if (method && !strcmp(method, "resources/read"))
            h = mirror(h, "Mcp-Name", json_object_get(params, "uri"));
        else if (method && !strncmp(method, "tasks/", 6))
            h = mirror(h, "Mcp-Name", json_object_get(params, "taskId"));
    }
    json_decref(m);
    return h;
}

/* POST one message; emits what comes back. Returns the HTTP status (0: none). */
static long forward(const char *msg, json_t *id, struct exchange *x)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[300];
    long status = 0;
    CURLcode rc;
    bool stateless;

    memset(x, 0, sizeof(*x));
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, "Expect:");
    h = stateless_headers(h, msg, &stateless);
    h = session_headers(h, !stateless);
    curl_easy_setopt(curl, CURLOPT_URL, B.url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, msg);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 3900L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "loopgate-mcp/" LOOPGATE_VERSION);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "loopgate mcp: %s: %s\n", B.url, curl_easy_strerror(rc));
        emit_error(id, -32603, "Loopgate server unreachable");
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (!x->sse && x->buf.len) {
            json_t *j = json_depth_ok(x->buf.p, x->buf.len, LG_JSON_DEPTH_MAX)
                            ? json_loadb(x->buf.p, x->buf.len, JSON_DECODE_ANY, NULL)
                            : NULL;
            if (json_is_object(j) && json_object_get(j, "jsonrpc")) {
                emit(x->buf.p, x->buf.len);
            } else if (status >= 400) {
                /* A plain API error (401 ...): turn it into JSON-RPC for the client. */
                const char *m =
                    json_string_value(json_object_get(json_object_get(j, "error"), "message"));
                snprintf(line, sizeof(line), "Loopgate answered HTTP %ld: %s", status,
                         m ? m : "error");
                emit_error(id, -32603, line);
            }
            json_decref(j);
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    return status;
}

struct job {
    char *msg;
    json_t *id;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct exchange x;

    forward(j->msg, j->id, &x);
    sb_free(&x.buf);
    free(j->msg);
    json_decref(j->id);
    free(j);
    pthread_mutex_lock(&B.lock);
    B.in_flight--;
    pthread_cond_broadcast(&B.idle);
    pthread_mutex_unlock(&B.lock);
    return NULL;
}

static void end_session(void)
{
    CURL *curl;
    struct curl_slist *h = NULL;

    if (!B.session[0])
        return;
    curl = curl_easy_init();
    h = session_headers(h, true);
    curl_easy_setopt(curl, CURLOPT_URL, B.url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(curl) != CURLE_OK)
        fprintf(stderr, "loopgate mcp: could not end the session\n");
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
}

/*
 * permission_prompt's session and wait (hooks.h) from $LOOPGATE_SESSION and
 * $LOOPGATE_WAIT: each a header line ended by '\n' in B.hook_headers; -1
 * when one holds a line break or is too long.
 */
static int hook_headers_from_env(void)
{
    static const char *const vars[][2] = {{"LOOPGATE_SESSION", "X-Loopgate-Session"},
                                          {"LOOPGATE_WAIT", "X-Loopgate-Wait"}};
    size_t n = 0;

    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(vars[i][0]);
        int w;

        if (!v || !*v)
            continue;
        if (strpbrk(v, "\r\n") || strlen(v) > 150)
            return -1;
        w = snprintf(B.hook_headers + n, sizeof(B.hook_headers) - n, "%s: %s\n", vars[i][1], v);
        if (w < 0 || (size_t)w >= sizeof(B.hook_headers) - n)
            return -1;
        n += (size_t)w;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: loopgate mcp [--url URL] [--api-key KEY]\n\n"
               "Serves MCP on stdin/stdout (newline-delimited JSON-RPC) for desktop clients,\n"
               "forwarding to a Loopgate server's /mcp endpoint.\n\n"
               "  --url URL      the server, e.g. https://hitl.example.com (default:\n"
               "                 $LOOPGATE_URL, else http://127.0.0.1:8080)\n"
               "  --api-key KEY  sent as Authorization: Bearer (default: $LOOPGATE_API_KEY)\n\n"
               "$LOOPGATE_SESSION and $LOOPGATE_WAIT are sent as X-Loopgate-Session and\n"
               "X-Loopgate-Wait: the session and wait of the permission_prompt tool.\n");
}

int mcpstdio_main(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"api-key", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = getenv("LOOPGATE_URL"), *key = getenv("LOOPGATE_API_KEY");
    struct sbuf u = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "u:k:h", opts, NULL)) != -1) {
        if (c == 'u')
            url = optarg;
        else if (c == 'k')
            key = optarg;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (hook_headers_from_env() < 0) {
        fprintf(stderr, "loopgate mcp: LOOPGATE_SESSION or LOOPGATE_WAIT holds a line break or "
                        "is longer than 150 bytes\n");
        return 2;
    }
    if (!url || !*url)
        url = "http://127.0.0.1:8080";
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
        fprintf(stderr, "loopgate mcp: --url must be an http(s) URL\n");
        return 2;
    }
    sb_puts(&u, url);
    while (u.len && u.p[u.len - 1] == '/')
        u.p[--u.len] = '\0';
    if (u.len < 4 || strcmp(u.p + u.len - 4, "/mcp") != 0)
        sb_puts(&u, "/mcp");
    B.url = u.p;
    B.api_key = key && *key ? xstrdup(key) : NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);

    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_t *msg, *id;
        const char *method;

        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        msg = json_depth_ok(line, (size_t)n, LG_JSON_DEPTH_MAX)
                  ? json_loadb(line, (size_t)n, JSON_DECODE_ANY, NULL)
                  : NULL;
        if (!msg) {
            static const char parse_error[] = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
                                              "{\"code\":-32700,\"message\":\"Parse error\"}}";
            emit(parse_error, sizeof(parse_error) - 1);
            continue;
        }
        id = json_incref(json_object_get(msg, "id"));
        method = json_string_value(json_object_get(msg, "method"));
        if (method && !strcmp(method, "initialize")) {
            struct exchange x;
            /* Wait for everything before: a re-initialize starts afresh. */
            pthread_mutex_lock(&B.lock);
            while (B.in_flight > 0)
                pthread_cond_wait(&B.idle, &B.lock);
            pthread_mutex_unlock(&B.lock);
            B.session[0] = '\0';
            forward(line, id, &x);
            lg_strlcpy(B.session, x.session, sizeof(B.session));
            sb_free(&x.buf);
            json_decref(id);
        } else {
            struct job *j = xmalloc(sizeof(*j));
            pthread_t t;
            j->msg = xstrdup(line);
            j->id = id;
            pthread_mutex_lock(&B.lock);
            B.in_flight++;
            pthread_mutex_unlock(&B.lock);
            if (pthread_create(&t, NULL, run_job, j) != 0) {
                run_job(j);
            } else {
                pthread_detach(t);
            }
        }
        json_decref(msg);
    }
    free(line);
    pthread_mutex_lock(&B.lock);
    while (B.in_flight > 0)
        pthread_cond_wait(&B.idle, &B.lock);
    pthread_mutex_unlock(&B.lock);
    end_session();
    curl_global_cleanup();
    free(B.api_key);
    sb_free(&u);
    return 0;
}
