/*
 * http.h - one HTTP exchange as seen through FastCGI.
 *
 * Wraps an FCGX_Request: CGI parameters, the body (read with a size bound),
 * and writing a JSON answer with the right Status line. No pointer obtained
 * from http_param() outlives the request (FCGX_Finish_r frees them).
 * The query-string helpers are pure and unit tested.
 */
#ifndef LG_HTTP_H
#define LG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "config.h"
#include "actor.h"
#include "util.h"

struct console_user;

struct http_req {
    FCGX_Request *fcgi;
    const struct config *cfg;
    const char *method;
    const char *path;
    const char *query;
    char *body; /* NUL-terminated, owned; NULL until read */
    size_t body_len;
    struct actor who;
    struct console_user *console; /* the console user of an AUTH_CONSOLE route, else NULL */
    bool answered;
    int status;            /* what was answered, for the access log */
    const char *route;     /* the route table pattern matched, or "(none)" */
    struct timespec start; /* CLOCK_MONOTONIC when http_begin ran */
    char request_id[65];   /* nginx's $request_id (REQUEST_ID), else one made here */
    char cors[400];        /* CORS header lines every answer carries (cors.h), or "" */
};

/*
 * Set up `r` from the CGI parameters of `fcgi`. The request id is nginx's
 * (fastcgi_param REQUEST_ID $request_id) when it is 1-64 characters of
 * [A-Za-z0-9-], else 32 random hex digits; every answer carries it as
 * X-Request-Id and the access line logs it.
 */
void http_begin(struct http_req *r, FCGX_Request *fcgi, const struct config *cfg);

/* Free what http_begin and http_read_body allocated. */
void http_end(struct http_req *r);

/* A CGI parameter (HTTP_X_API_KEY, CONTENT_TYPE ...) or NULL; borrowed. */
const char *http_param(const struct http_req *r, const char *name);

/*
 * Read the whole body into r->body; 413 beyond `max` bytes, 400 when it
 * ends before its Content-Length (the peer closed, went silent, or did not
 * send it within the read deadline: then no answer reaches it), 503 when
 * the read cannot be watched (body hooks). Calls the
 * body hooks around the read.
 */
int http_read_body(struct http_req *r, size_t max, struct lg_error *err) LG_MUST_CHECK;

/*
 * What a worker does around reading a body (server.c): `begins` before the
 * first read (the thread stops counting as working, the read gets its
 * deadline; false when it cannot, and then the body is not read: 503),
 * `ends` after the last (false when the connection was shut down
 * at the deadline: the body is not served). Set once, before any request
 * thread starts; without hooks a read calls nothing.
 */
struct http_body_hooks {
    bool (*begins)(void);
    bool (*ends)(void);
};
void http_set_body_hooks(const struct http_body_hooks *hooks);

/*
 * What a worker does around writing an answer that may wait for its reader
 * (server.c): `begins` before (the thread stops counting as working; each
 * write still fails after the connection's send timeout), `ends` after. An answer longer
 * than HTTP_ANSWER_INLINE bytes fills libfcgi's buffer, so it is written
 * inside the handler: http_send_json_hdr and http_send_text call
 * http_write_begins/ends around it, and so do event streams and the audit
 * export around each write. A shorter answer goes out after the handler,
 * where the worker has already stopped counting the thread. Set once,
 * before any request thread starts; without hooks nothing is called.
 */
enum { HTTP_ANSWER_INLINE = 4096 };
struct http_write_hooks {
    void (*begins)(void);
    void (*ends)(void);
};
void http_set_write_hooks(const struct http_write_hooks *hooks);
void http_write_begins(void);
void http_write_ends(void);

/* Answer `status` with `body` (a reference that is stolen). */
void http_send_json(struct http_req *r, int status, json_t *body);

/* Answer the error `err` as {"error":{"code","message"}}. */
void http_send_error(struct http_req *r, const struct lg_error *err);

/* Answer with an extra header line (e.g. "Allow: GET\r\n"). */
void http_send_json_hdr(struct http_req *r, int status, json_t *body, const char *headers);

/* Answer `status` with no body (202 Accepted for MCP notifications). */
void http_send_empty(struct http_req *r, int status, const char *headers);

/* Answer `status` with `len` bytes of `body` as `content_type` (a constant of ours). */
void http_send_text(struct http_req *r, int status, const char *content_type, const char *body,
                    size_t len);

/*
 * Start a text/event-stream answer (status 200) that opens with an SSE
 * comment, so the client sees the stream at once; then http_sse_send.
 */
void http_sse_begin(struct http_req *r, const char *headers);

/* Send one SSE event carrying `msg` (stolen) and flush it to the client. */
void http_sse_send(struct http_req *r, json_t *msg);

/*
 * True when the client can no longer get an answer: a write to it failed,
 * or the FastCGI connection was closed or reset (nginx closes it when its
 * own client goes away). Does not block and consumes nothing.
 */
bool http_client_gone(struct http_req *r);

/*
 * Find `name` in an application/x-www-form-urlencoded query and decode it
 * into `out`. Returns 0 found, 1 absent, -1 malformed or longer than outlen-1.
 */
int http_query_get(const char *query, const char *name, char *out, size_t outlen) LG_MUST_CHECK;

/* True when `id` may be used as a request id: 1-64 characters of [A-Za-z0-9-]. */
bool http_request_id_ok(const char *id);

/* The reason phrase of a status code. */
const char *http_reason(int status);

#endif
