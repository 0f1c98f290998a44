/*
 * events.c - see events.h.
 */
#include "events.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "feed.h"
#include "log.h"
#include "notify.h"

#define READ_BATCH 200     /* rows read in one statement */
#define GONE_CHECK_MS 1000 /* how often a sleeping stream looks whether its client left */
#define RETRY_MS 1000      /* a read that failed is tried again this soon */
/*
 * A stream reads at most this often: under a burst of changes its wake-ups
 * fold into one read per gap, so a stream costs the database a few reads a
 * second however many changes there are, and an event is late by at most
 * this much.
 */
#define READ_GAP_MS 100
/*
 * A stream leases its tenant's announcements (feed_tenants) for LEASE_S
 * seconds and renews the lease every third of that. A change whose
 * statement looked for the lease just before it was taken is not announced:
 * a stream reads once more RECHECK_MS after it opened, and with every
 * keepalive.
 */
#define LEASE_S 90
#define LEASE_RENEW_MS (LEASE_S * 1000 / 3)
#define RECHECK_MS 1000

static struct wait_hooks hooks; /* written once, before any streaming thread starts */

void events_set_hooks(const struct wait_hooks *h)
{
    hooks = *h;
}

/* One stream's state. */
struct stream {
    struct http_req *r;
    const struct events_filter *f;
    int64_t cursor; /* the last seq read (shown or not) */
    int64_t sent;   /* the last seq the client was given as an id */
    bool failed;    /* a write to the client failed */
};

/*
 * Write `n` bytes and flush them to the client; false when that failed.
 * Waiting for the client to read is no work: the thread does not count as
 * busy while it writes, and a write the client leaves without room fails at
 * the deadline (http_write_begins).
 */
static bool put(struct stream *s, const char *text, int n)
{
    FCGX_Stream *out = s->r->fcgi ? s->r->fcgi->out : NULL;

    if (!out || s->failed)
        return !s->failed;
    http_write_begins();
    if (FCGX_PutStr(text, n, out) != n || FCGX_FFlush(out) < 0 || FCGX_GetError(out) != 0)
        s->failed = true;
    http_write_ends();
    return !s->failed;
}

/* Send one event of type `type` with id `seq` and `data` (a JSON text without newlines). */
static bool send_event(struct stream *s, int64_t seq, const char *type, const char *data)
{
    struct sbuf b = {0};
    bool ok;

    sb_printf(&b, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", seq, type, data);
    ok = put(s, b.p, (int)b.len);
    sb_free(&b);
    if (ok)
        s->sent = seq;
    return ok;
}

static int on_row(const struct events_row *row, void *arg)
{
    struct stream *s = arg;

    s->cursor = row->seq;
    if (s->f->visible && !s->f->visible(s->f->ctx, row))
        return 0;
    return send_event(s, row->seq, "request", row->data ? row->data : "{}") ? 0 : 1;
}

/*
 * Read and send everything after the cursor. 0 when caught up, -1 when the
 * read failed (logged; try again later), -2 when the client is gone.
 */
static int catch_up(struct stream *s)
{
    struct lg_error err;
    int64_t head = 0;
    int n;

    do {
        n = store_events_read(s->f->tenant, s->cursor, s->f->session_id, READ_BATCH, &head, on_row,
                              s, &err);
        if (n == -2)
            return -2;
        if (n < 0) {
            log_warn("event stream could not read the audit trail", "tenant=%s error=\"%s\"",
                     s->f->tenant, err.message);
            return -1;
        }
        if (n < READ_BATCH && head > s->cursor)
            s->cursor = head;
    } while (n == READ_BATCH && !feed_stopping());
    return 0;
}

/* A keepalive comment; with the cursor as the id when rows not shown moved it on. */
static bool keepalive(struct stream *s)
{
    char text[64];
    int n;

    if (s->cursor > s->sent) {
        n = snprintf(text, sizeof(text), ": keepalive\nid: %" PRId64 "\n\n", s->cursor);
        s->sent = s->cursor;
    } else {
        n = snprintf(text, sizeof(text), ": keepalive\n\n");
    }
    return put(s, text, n);
}

/*
 * The seq the client saw last: Last-Event-ID, else ?last_event_id=. 1 when
 * there is none, 0 with `*seq`, -1 with `err` when malformed.
 */
static int last_event_id(struct http_req *r, int64_t *seq, struct lg_error *err)
{
    const char *h = http_param(r, "HTTP_LAST_EVENT_ID");
    char q[32];
    int rc;

    if (h && *h) {
        if (strlen(h) > 18 || strspn(h, "0123456789") != strlen(h) || parse_int64(h, seq) < 0)
            return lg_fail(err, 400, "invalid_header",
                           "Last-Event-ID must be an event id of this stream (a whole number)");
        return 0;
    }
    rc = http_query_get(r->query, "last_event_id", q, sizeof(q));
    if (rc == 1 || (rc == 0 && !*q))
        return 1;
    if (rc < 0 || strlen(q) > 18 || strspn(q, "0123456789") != strlen(q) || parse_int64(q, seq) < 0)
        return lg_fail(err, 400, "invalid_parameter",
                       "last_event_id must be an event id of this stream (a whole number)");
    return 0;
}

/* Streams this process may still take: events_streams, within what long-polls leave. */
static int capacity(const struct config *cfg)
{
    int left = wait_capacity(cfg) - notify_waiters();

    return cfg->events_streams < left ? cfg->events_streams : left;
}

/* Sleep until woken, `until`, the next look for a gone client, or shutdown; true when woken. */
static bool doze(struct feed_waiter *w, int64_t until)
{
    int64_t look = now_ms() + GONE_CHECK_MS;
    bool woken;

    if (hooks.sleeps)
        hooks.sleeps();
    woken = feed_sleep(w, until < look ? until : look);
    if (hooks.wakes)
        hooks.wakes();
    return woken;
}

/*
 * `in` as one logfmt value in out[len]: a caller's session id may hold
 * spaces, quotes or '=', which would forge fields; each such byte (and any
 * outside printable ASCII) becomes '_'.
 */
static void log_field(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; in[i] && i + 1 < len; i++)
        out[i] = in[i] > ' ' && in[i] < 0x7f && in[i] != '"' && in[i] != '=' && in[i] != '\\'
                     ? in[i]
                     : '_';
    out[i] = '\0';
}

int events_stream(struct http_req *r, const struct events_filter *f)
{
    const struct config *cfg = r->cfg;
    struct stream s = {.r = r, .f = f};
    struct feed_waiter w;
    struct lg_error err;
    int64_t last = 0, head = 0, end_at, ping_at, read_at = 0, lease_at, recheck_at;
    bool stale = false, reset = false, dirty = false, revoked = false;
    char sid[ID_MAX_BYTES + 1];
    const char *why = NULL;
    int has_last, rc;

    has_last = last_event_id(r, &last, &err);
    if (has_last < 0) {
        http_send_error(r, &err);
        return -1;
    }
    if (feed_add(&w, f->tenant, capacity(cfg)) < 0) {
        lg_fail(&err, 503, "too_many_streams",
                "this worker already serves %d event streams; retry later", feed_count());
        http_send_error(r, &err);
        return -1;
    }
    /*
     * Registered, and the tenant's changes announced, before the first read:
     * a change committed after it wakes us.
     */
    if (store_events_lease(f->tenant, LEASE_S, &err) < 0 ||
        store_events_head(f->tenant, has_last == 0 ? last : 0, EVENTS_REPLAY_MAX_AGE_S, &head,
                          &stale, &err) < 0) {
        feed_remove(&w);
        http_send_error(r, &err);
        return -1;
    }
    if (has_last == 1) {
        s.cursor = head;
    } else if (last > head) {
        why = "the trail has no such event";
    } else if (head - last > EVENTS_REPLAY_MAX) {
        why = "more events were missed than a stream replays";
    } else if (stale) {
        why = "the missed events are older than a stream replays";
    } else {
        s.cursor = last;
        dirty = true;
    }
    if (why) {
        s.cursor = head;
        reset = true;
    }
    s.sent = has_last == 0 && !reset ? last : 0;
    http_sse_begin(r, NULL);
    log_field(f->session_id ? f->session_id : "-", sid, sizeof(sid));
    log_info("event stream opened", "tenant=%s session=%s from=%" PRId64 " replay=%s", f->tenant,
             sid, s.cursor,
             reset   ? "reset"
             : dirty ? "yes"
                     : "no");
    if (reset) {
        char data[160];

        snprintf(data, sizeof(data), "{\"reason\":\"%s\",\"head\":%" PRId64 "}", why, head);
        send_event(&s, head, "reset", data);
    }
    lease_at = now_ms() + LEASE_RENEW_MS;
    recheck_at = now_ms() + RECHECK_MS;
    end_at = now_ms() + (int64_t)cfg->events_lifetime * 1000;
    ping_at = now_ms() + (int64_t)cfg->events_keepalive * 1000;
    while (!s.failed && !feed_stopping()) {
        int64_t now = now_ms(), until;

        if (dirty && now >= read_at) {
            if (f->allowed && !f->allowed(f->ctx)) {
                revoked = true;
                break;
            }
            rc = catch_up(&s);
            if (rc == -2)
                break;
            dirty = rc < 0; /* a failed read is tried again soon */
            now = now_ms();
            read_at = now + (dirty ? RETRY_MS : READ_GAP_MS);
        }
        if (now >= end_at)
            break;
        if (now >= ping_at) {
            if (!keepalive(&s))
                break;
            ping_at = now + (int64_t)cfg->events_keepalive * 1000;
            dirty = true;
        }
        if (recheck_at && now >= recheck_at) {
            recheck_at = 0;
            dirty = true;
        }
        if (now >= lease_at) {
            if (store_events_lease(f->tenant, LEASE_S, &err) < 0) {
                log_warn("event stream could not renew its lease", "tenant=%s error=\"%s\"",
                         f->tenant, err.message);
                lease_at = now + RETRY_MS;
            } else {
                lease_at = now + LEASE_RENEW_MS;
            }
        }
        until = ping_at < end_at ? ping_at : end_at;
        if (recheck_at && recheck_at < until)
            until = recheck_at;
        if (lease_at < until)
            until = lease_at;
        if (dirty && read_at < until)
            until = read_at;
        if (doze(&w, until))
            dirty = true;
        if (http_client_gone(r))
            break;
    }
    feed_remove(&w);
    log_info("event stream closed", "tenant=%s last=%" PRId64 " reason=%s", f->tenant, s.cursor,
             revoked                           ? "revoked"
             : s.failed || http_client_gone(r) ? "client_gone"
             : feed_stopping()                 ? "stopping"
                                               : "lifetime");
    return 0;
}
