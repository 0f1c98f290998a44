/*
 * http.c - see http.h.
 */
#include "http.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "shape.h"

bool http_request_id_ok(const char *id)
{
    size_t n = 0;

    if (!id)
        return false;
    for (; id[n]; n++) {
        char c = id[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return n > 0;
}

/* nginx's request id, or a new one: 32 hex digits as nginx makes them. */
static void request_id_set(struct http_req *r)
{
    const char *given = http_param(r, "REQUEST_ID");
    unsigned char raw[16];
    static _Atomic unsigned long seq;

    if (http_request_id_ok(given)) {
        lg_strlcpy(r->request_id, given, sizeof(r->request_id));
        return;
    }
    if (random_bytes(raw, sizeof(raw)) < 0) {
        /* no randomness: still unique within this process */
        snprintf(r->request_id, sizeof(r->request_id), "%08lx%08lx%016lx",
                 (unsigned long)r->start.tv_sec, (unsigned long)r->start.tv_nsec, ++seq);
        return;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(r->request_id + 2 * i, 3, "%02x", raw[i]);
}

/* What of a header block snprintf() made fits its buffer (a cut block is never overrun). */
static int head_len(int n, size_t size)
{
    return n < 0 ? 0 : (size_t)n >= size ? (int)size - 1 : n;
}

void http_begin(struct http_req *r, FCGX_Request *fcgi, const struct config *cfg)
{
    const char *uri;

    memset(r, 0, sizeof(*r));
    r->fcgi = fcgi;
    r->cfg = cfg;
    r->route = "(none)";
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    r->method = http_param(r, "REQUEST_METHOD");
    if (!r->method)
        r->method = "GET";
    r->path = http_param(r, "DOCUMENT_URI");
    if (!r->path)
        r->path = http_param(r, "SCRIPT_NAME");
    if (!r->path) {
        uri = http_param(r, "REQUEST_URI");
        r->path = uri ? uri : "/";
    }
    r->query = http_param(r, "QUERY_STRING");
    if (!r->query)
        r->query = "";
    request_id_set(r);
}

void http_end(struct http_req *r)
{
    free(r->body);
    r->body = NULL;
}

const char *http_param(const struct http_req *r, const char *name)
{
    if (!r->fcgi)
        return NULL;
    return FCGX_GetParam(name, r->fcgi->envp);
}

static struct http_body_hooks hooks; /* written once, before any request thread starts */

void http_set_body_hooks(const struct http_body_hooks *h)
{
    hooks = *h;
}

static struct http_write_hooks whooks; /* written once, before any request thread starts */

void http_set_write_hooks(const struct http_write_hooks *h)
{
    whooks = *h;
}

void http_write_begins(void)
{
    if (whooks.begins)
        whooks.begins();
}

void http_write_ends(void)
{
    if (whooks.ends)
        whooks.ends();
}

int http_read_body(struct http_req *r, size_t max, struct lg_error *err)
{
    const char *cl = http_param(r, "CONTENT_LENGTH");
    int64_t declared = 0;
    size_t cap, len = 0;
    bool served;
    char *buf;
    int n;

    if (cl && *cl && (parse_int64(cl, &declared) < 0 || declared < 0))
        return lg_fail(err, 400, "invalid_request", "Content-Length is not a number");
    if ((uint64_t)declared > max)
        return lg_fail(err, 413, "payload_too_large",
                       "request body is %lld bytes; the limit is %zu", (long long)declared, max);
    cap = (size_t)declared + 1;
    buf = xmalloc(cap + 1);
    if (hooks.begins && !hooks.begins()) {
        free(buf);
        return lg_fail(err, 503, "unavailable",
                       "the worker has no file descriptor left to read the body; retry shortly");
    }
    /* Read one byte past what was declared, to catch a body longer than its header. */
    while (len < cap && (n = FCGX_GetStr(buf + len, (int)(cap - len), r->fcgi->in)) > 0)
        len += (size_t)n;
    served = hooks.ends ? hooks.ends() : true;
    if (len > (size_t)declared) {
        free(buf);
        return lg_fail(err, 400, "invalid_request", "request body is longer than Content-Length");
    }
    if (len < (size_t)declared || !served) {
        free(buf);
        return lg_fail(err, 400, "invalid_request",
                       "request body ended after %zu of its %lld bytes (Content-Length)", len,
                       (long long)declared);
    }
    buf[len] = '\0';
    r->body = buf;
    r->body_len = len;
    return 0;
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void http_send_json_hdr(struct http_req *r, int status, json_t *body, const char *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (!text) {
        /* Only possible if shaping failed; never leave the client without an answer. */
        log_error("could not encode response body", "path=%s status=%d", r->path, status);
        status = 500;
        text = xstrdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"could not encode the "
                       "response\"}}");
    }
    r->status = status;
    r->answered = true;
    if (r->fcgi) {
        /* libfcgi's own printf lacks %zu: format here, write once. */
        struct sbuf head = {0};
        size_t len = strlen(text);
        bool big;

        sb_printf(&head,
                  "Status: %d %s\r\nContent-Type: application/json\r\n"
                  "Cache-Control: no-store\r\nX-Request-Id: %s\r\n%s%sContent-Length: %zu\r\n\r\n",
                  status, http_reason(status), r->request_id, headers ? headers : "", r->cors,
                  len + 1);
        big = head.len + len > HTTP_ANSWER_INLINE;
        if (big)
            http_write_begins();
        FCGX_PutStr(head.p, (int)head.len, r->fcgi->out);
        sb_free(&head);
        FCGX_PutStr(text, (int)len, r->fcgi->out);
        FCGX_PutChar('\n', r->fcgi->out);
        if (big)
            http_write_ends();
    }
    free(text);
}

void http_send_empty(struct http_req *r, int status, const char *headers)
{
    struct sbuf head = {0};

    r->status = status;
    r->answered = true;
    if (!r->fcgi)
        return;
    /* Headers of any length (a redirect with a cookie): never cut. */
    sb_printf(&head, "Status: %d %s\r\nX-Request-Id: %s\r\n%s%sContent-Length: 0\r\n\r\n", status,
              http_reason(status), r->request_id, headers ? headers : "", r->cors);
    FCGX_PutStr(head.p, (int)head.len, r->fcgi->out);
    sb_free(&head);
}

void http_send_text(struct http_req *r, int status, const char *content_type, const char *body,
                    size_t len)
{
    char head[1024];
    int n;

    r->status = status;
    r->answered = true;
    if (!r->fcgi)
        return;
    n = snprintf(head, sizeof(head),
                 "Status: %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
                 "X-Request-Id: %s\r\n%sContent-Length: %zu\r\n\r\n",
                 status, http_reason(status), content_type, r->request_id, r->cors, len);
    if (len > HTTP_ANSWER_INLINE)
        http_write_begins();
    FCGX_PutStr(head, head_len(n, sizeof(head)), r->fcgi->out);
    /* FCGX_PutStr takes an int: a long body goes in parts. */
    for (size_t off = 0; off < len;) {
        int part = len - off > (1 << 30) ? (1 << 30) : (int)(len - off);

        FCGX_PutStr(body + off, part, r->fcgi->out);
        off += (size_t)part;
    }
    if (len > HTTP_ANSWER_INLINE)
        http_write_ends();
}

void http_sse_begin(struct http_req *r, const char *headers)
{
    struct sbuf head = {0};

    r->status = 200;
    r->answered = true;
    if (!r->fcgi)
        return;
    sb_printf(&head,
              "Status: 200 OK\r\nContent-Type: text/event-stream\r\n"
              "Cache-Control: no-cache, no-store\r\nX-Accel-Buffering: no\r\n"
              "X-Request-Id: %s\r\n%s%s\r\n"
              /* An SSE comment: nginx passes headers on only with body bytes. */
              ": stream open\n\n",
              r->request_id, headers ? headers : "", r->cors);
    FCGX_PutStr(head.p, (int)head.len, r->fcgi->out);
    sb_free(&head);
    http_write_begins();
    FCGX_FFlush(r->fcgi->out);
    http_write_ends();
}

void http_sse_send(struct http_req *r, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);

    json_decref(msg);
    if (!text || !r->fcgi) {
        free(text);
        return;
    }
    http_write_begins();
    FCGX_PutStr("event: message\ndata: ", 21, r->fcgi->out);
    FCGX_PutStr(text, (int)strlen(text), r->fcgi->out);
    FCGX_PutStr("\n\n", 2, r->fcgi->out);
    FCGX_FFlush(r->fcgi->out);
    http_write_ends();
    free(text);
}

bool http_client_gone(struct http_req *r)
{
    struct pollfd p;
    char c;

    if (!r->fcgi || r->fcgi->ipcFd < 0)
        return false;
    if (FCGX_GetError(r->fcgi->out) != 0)
        return true;
    p.fd = r->fcgi->ipcFd;
    p.events = POLLIN | POLLRDHUP;
    p.revents = 0;
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        return true;
    /* Readable: end of stream means the peer closed; anything else is left unread. */
    return (p.revents & POLLIN) && recv(p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void http_send_json(struct http_req *r, int status, json_t *body)
{
    http_send_json_hdr(r, status, body, NULL);
}

void http_send_error(struct http_req *r, const struct lg_error *err)
{
    const char *hdr = NULL;

    if (err->status == 401)
        hdr = "WWW-Authenticate: Bearer realm=\"loopgate\"\r\n";
    else if (err->status == 503 || err->status == 429)
        hdr = "Retry-After: 1\r\n";
    http_send_json_hdr(r, err->status, shape_error(err->code, err->message), hdr);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode form-urlencoded [s, s+n) into out; -1 on bad escapes or overflow. */
static int decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            if (c == 0)
                return -1;
            i += 2;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int http_query_get(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = query;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;

        if (klen == nlen && !memcmp(p, name, nlen)) {
            if (!eq) {
                out[0] = '\0';
                return 0;
            }
            return decode(eq + 1, len - klen - 1, out, outlen) < 0 ? -1 : 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 1;
}
