"""The live event stream, GET /hitl/events (docs/API.md): through nginx, a
client sees each request change of its tenant (submitted, voted, decided,
timed_out, canceled) within a second, never another tenant's; ?session_id
narrows it; Last-Event-ID replays exactly what was missed, and an id the
trail cannot replay says `reset`; a quiet stream gets keepalives; idle
streams hold no database connection; the streams a worker serves are
bounded and a client that left frees its place.

The module restarts the stack with one worker (so the bound is one
process's), a 1 s keepalive, streams that last 15 s and room for 8 of them,
and restores it at the end."""
import http.client
import json
import socket
import threading
import time

from lg import chat, eq, ok, error_is, wait_for
from test_07_telegram import OK, register, submit, sent, poll

STREAMS = 8
LIFETIME = 15
ENV = {"LOOPGATE_EVENTS_KEEPALIVE": "1", "LOOPGATE_EVENTS_STREAMS": str(STREAMS),
       "LOOPGATE_EVENTS_LIFETIME": str(LIFETIME),
       "LOOPGATE_WORKERS": "1", "LOOPGATE_DB_POOL_SIZE": "4"}
ANN, BOB = 1601, 1602


class Stream:
    """An SSE client on its own connection: a thread reads events and comments
    as they come (each with its arrival time)."""

    def __init__(self, s, path="/hitl/events", headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.events = []    # {"id", "event", "data", "t"}
        self.comments = []  # (text, id or None)
        self.ended = False
        self.body = b""
        if self.status != 200:
            self.body = self.resp.read()
            self.conn.close()
            self.ended = True
            return
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def header(self, name):
        return self.resp.getheader(name)

    def _read(self):
        block = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line == "":
                    if "data" in block:
                        self.events.append({"id": block.get("id"), "event": block.get("event"),
                                            "data": json.loads(block["data"]),
                                            "t": time.monotonic()})
                    elif "comment" in block:
                        self.comments.append((block["comment"], block.get("id")))
                    block = {}
                elif line.startswith(":"):
                    block["comment"] = line[1:].strip()
                else:
                    k, _, v = line.partition(":")
                    block[k] = v[1:] if v.startswith(" ") else v
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            # Closed under the reader (close() from the test).
            pass
        self.ended = True

    def of(self, rid, action=None):
        return [e for e in self.events
                if e["data"].get("request_id") == rid and (action is None or e["data"]["action"] == action)]

    def wait(self, rid, action, timeout=10):
        return wait_for(lambda: self.of(rid, action), timeout,
                        "event %s of %s (got %r)" % (action, rid, [e["data"].get("action") for e in self.events]))[0]

    def opened(self):
        """Wait until the worker serves the stream (its opening comment came)."""
        wait_for(lambda: self.comments, 10, "the stream to open")
        return self

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()


def key_headers(key):
    return {"Authorization": "Bearer " + key}


def test_events_setup(s):
    s.stop()
    s.start(**ENV)


def test_events_stream_each_change(s):
    c = chat()
    register(s, "ev-main", c, approvers=[ANN, BOB])
    st = Stream(s).opened()
    try:
        eq(st.status, 200)
        ok(st.header("Content-Type").startswith("text/event-stream"), st.header("Content-Type"))
        ok("no-store" in st.header("Cache-Control"), st.header("Cache-Control"))
        # Submitted: on the stream within a second, with the request's summary.
        t0 = time.monotonic()
        rid = submit(s, "ev-main", "Deploy?", options=["Approve", "Reject"],
                     callback_url="http://127.0.0.1:9/hook", metadata={"k": "v"})
        ev = st.wait(rid, "submitted", 5)
        ok(ev["t"] - t0 < 1.0, "the submit reached the stream after %.3f s" % (ev["t"] - t0))
        eq(ev["event"], "request")
        d = ev["data"]
        eq((d["status"], d["approved"], d["session_id"], d["client_id"], d["message"],
            d["request_type"], d["approvals_required"]),
           ("pending", False, "ev-main", "agent", "Deploy?", "choice", 1))
        eq(d["options"], ["Approve", "Reject"])
        ok(d["created_at"] and d["expires_at"], d)
        ok("callback_url" not in json.dumps(ev["data"]) and "127.0.0.1:9" not in json.dumps(d),
           "a callback_url on the stream: %r" % d)
        eq(int(ev["id"]), int(s.scalar("SELECT seq FROM audit_log WHERE request_id = :'p1'"
                                        " AND action = 'submitted'", rid)))
        # Decided by a button.
        _, m, _ = sent(s, rid)
        s.tg.press_and_deliver(c, m, button_text=OK + "Approve", user_id=ANN, first_name="Ann")
        d = st.wait(rid, "decided")["data"]
        eq((d["status"], d["approved"], d["response"]), ("completed", True, "Approve"))
        # Canceled.
        rid2 = submit(s, "ev-main", "Cancel me")
        st.wait(rid2, "submitted")
        eq(s.post("/hitl/cancel", {"request_id": rid2}).status, 200)
        d = st.wait(rid2, "canceled")["data"]
        eq((d["status"], d["approved"]), ("canceled", False))
        # Timed out.
        rid3 = submit(s, "ev-main", "Time me out", timeout_seconds=1)
        d = st.wait(rid3, "timed_out", 15)["data"]
        eq((d["status"], d["approved"]), ("timeout", False))
        # A vote that does not decide yet (a quorum of two), then the one that does.
        rid4 = submit(s, "ev-main", "Two of us", options=["Approve", "Reject"], approvals_required=2)
        _, m4, _ = sent(s, rid4)
        s.tg.press_and_deliver(c, m4, button_text=OK + "Approve", user_id=ANN, first_name="Ann")
        d = st.wait(rid4, "voted")["data"]
        eq((d["status"], d["approvals"], d["approvals_required"]), ("pending", 1, 2))
        s.tg.press_and_deliver(c, m4, button_text=OK + "Approve", user_id=BOB, first_name="Bob")
        d = st.wait(rid4, "decided")["data"]
        eq((d["status"], d["approved"], d["approvals"]), ("completed", True, 2))
        # Ids grow with the tenant's trail.
        ids = [int(e["id"]) for e in st.events]
        eq(ids, sorted(set(ids)), "event ids")
    finally:
        st.close()


def test_events_other_tenant_never_seen(s):
    key_a, key_b = s.new_key("ev-tenant-a"), s.new_key("ev-tenant-b")
    for k in (key_a, key_b):
        eq(s.post("/hitl/register", {"session_id": "ev-t", "client_id": "agent",
                                     "telegram_id": chat()}, headers=key_headers(k)).status, 200)
    sa, sb = Stream(s, headers=key_headers(key_a)).opened(), Stream(s, headers=key_headers(key_b)).opened()
    try:
        def sub(k, msg):
            r = s.post("/hitl/request", {"session_id": "ev-t", "client_id": "agent", "message": msg},
                       headers=key_headers(k))
            eq(r.status, 200, repr(r))
            return r.json["request_id"]
        ra = sub(key_a, "for a")
        rb = sub(key_b, "for b")
        sb.wait(rb, "submitted")
        ra2 = sub(key_a, "for a, later")
        sa.wait(ra2, "submitted")   # a has caught up past b's submit
        sa.wait(ra, "submitted")
        eq(sa.of(rb), [], "tenant a saw tenant b's request")
        eq(sb.of(ra) + sb.of(ra2), [], "tenant b saw tenant a's requests")
        # A wrong key gets no stream.
        bad = Stream(s, headers=key_headers("lg_not_a_key"))
        eq(bad.status, 401)
    finally:
        sa.close()
        sb.close()


def test_events_session_filter(s):
    register(s, "ev-s1", chat())
    register(s, "ev-s2", chat())
    st = Stream(s, "/hitl/events?session_id=ev-s2").opened()
    try:
        r1 = submit(s, "ev-s1", "not for the stream")
        r2 = submit(s, "ev-s2", "for the stream")
        st.wait(r2, "submitted")
        eq(st.of(r1), [], "another session's request on a filtered stream")
        eq({e["data"]["session_id"] for e in st.events}, {"ev-s2"})
        bad = Stream(s, "/hitl/events?session_id=%00")
        eq(bad.status, 400)
    finally:
        st.close()


def test_events_resume_with_last_event_id(s):
    register(s, "ev-resume", chat())
    st = Stream(s, "/hitl/events?session_id=ev-resume").opened()
    r0 = submit(s, "ev-resume", "seen")
    last = int(st.wait(r0, "submitted")["id"])
    st.close()
    missed = [submit(s, "ev-resume", "missed %d" % i) for i in range(3)]
    eq(s.post("/hitl/cancel", {"request_id": missed[0]}).status, 200)
    want = [(missed[0], "submitted"), (missed[1], "submitted"), (missed[2], "submitted"),
            (missed[0], "canceled")]
    # The header, as EventSource sends it on reconnect; and the query parameter.
    for how in ({"headers": {"Last-Event-ID": str(last)}},
                {"path": "/hitl/events?session_id=ev-resume&last_event_id=%d" % last}):
        st = Stream(s, how.get("path", "/hitl/events?session_id=ev-resume"), how.get("headers"))
        try:
            wait_for(lambda: len(st.events) >= len(want), 10, "the replay")
            later = submit(s, "ev-resume", "after the replay")
            st.wait(later, "submitted")
            got = [(e["data"]["request_id"], e["data"]["action"]) for e in st.events]
            eq(got[:len(want)], want, "replayed events")
            eq(got[len(want):], [(later, "submitted")], "events after the replay")
            want = want + [(later, "submitted")]
            ok(all(int(e["id"]) > last for e in st.events), "an event before Last-Event-ID")
        finally:
            st.close()
        s.clear_pending()
    # Without Last-Event-ID: nothing old is replayed.
    st = Stream(s, "/hitl/events?session_id=ev-resume").opened()
    try:
        new = submit(s, "ev-resume", "new")
        st.wait(new, "submitted")
        eq([e["data"]["request_id"] for e in st.events], [new])
    finally:
        st.close()
    # An id the trail has not reached: reset, then the stream goes on from the head.
    st = Stream(s, headers={"Last-Event-ID": "999999999"})
    try:
        ev = wait_for(lambda: st.events, 10, "the reset")[0]
        eq(ev["event"], "reset")
        ok(int(ev["id"]) == ev["data"]["head"] and ev["data"]["reason"], ev)
    finally:
        st.close()
    for bad in ("abc", "-1", "1" * 19):
        r = s.get("/hitl/events", headers={"Last-Event-ID": bad})
        error_is(r, 400, "invalid_header")
    error_is(s.get("/hitl/events?last_event_id=x"), 400, "invalid_parameter")


def test_events_keepalive(s):
    st = Stream(s).opened()
    try:
        wait_for(lambda: any(c == "keepalive" for c, _ in st.comments), 5, "a keepalive")
    finally:
        st.close()


def pool_connections(s):
    """The workers' pooled connections (the listener's has a name of its own)."""
    return int(s.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loopgate'"))


def open_stream(s):
    """A stream, once a place is free (a worker sees a client gone within a second)."""
    def attempt():
        x = Stream(s)
        return x if x.status == 200 else None
    return wait_for(attempt, 10, "a free stream place").opened()


def test_events_idle_streams_hold_no_connection_and_are_bounded(s):
    register(s, "ev-many", chat())
    before = pool_connections(s)
    streams = [open_stream(s) for _ in range(STREAMS)]
    try:
        eq([x.status for x in streams], [200] * STREAMS)
        # One more is refused at once, with a JSON error.
        extra = Stream(s)
        eq(extra.status, 503)
        eq(json.loads(extra.body)["error"]["code"], "too_many_streams")
        # Every stream sees a submit, and the workers have no more connections
        # than their pool (4), fewer than the streams that are open.
        rid = submit(s, "ev-many", "everyone")
        for x in streams:
            x.wait(rid, "submitted")
        now = pool_connections(s)
        ok(now <= 4 and now <= max(before, 4),
           "%d pooled connections with %d streams open (before: %d)" % (now, STREAMS, before))
        eq(int(s.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loopgate'"
                        " AND state LIKE 'idle in transaction%'")), 0)
        # A client that leaves frees its place for the next.
        streams.pop().close()
        streams.append(open_stream(s))
        # Long-polls are refused neither: streams leave them their own threads.
        r = s.get("/hitl/poll?request_id=%s&wait=1" % rid)
        eq(r.status, 200)
    finally:
        for x in streams:
            x.close()


def test_events_only_watched_tenants_are_announced(s):
    # A NOTIFY makes its transaction commit under PostgreSQL's notification
    # lock: the trigger announces only tenants with a stream open (a lease).
    s.sql("INSERT INTO feed_tenants VALUES ('ev-loud', now() + interval '1 hour')"
          " ON CONFLICT (tenant) DO UPDATE SET until = EXCLUDED.until")
    out = s.notices(
        "LISTEN lg_feed",
        "INSERT INTO audit_log (tenant, actor, action) VALUES ('ev-quiet', 'test', 'submitted')",
        "INSERT INTO audit_log (tenant, actor, action) VALUES ('ev-loud', 'test', 'session_registered')",
        "SELECT 'after the session row'",
        # One statement of three rows: one notification.
        "INSERT INTO audit_log (tenant, actor, action)"
        " SELECT 'ev-loud', 'test', 'submitted' FROM generate_series(1, 3)",
        "SELECT 'done'")
    eq(out.count('"lg_feed" with payload "ev-loud"'), 1, out)
    ok(out.index('"lg_feed" with payload "ev-loud"') > out.index("after the session row"), out)
    ok("ev-quiet" not in out, out)


def test_events_stream_ends_after_its_lifetime(s):
    register(s, "ev-life", chat())
    st = open_stream(s)
    t0 = time.monotonic()
    r1 = submit(s, "ev-life", "before the end")
    last = st.wait(r1, "submitted")["id"]
    wait_for(lambda: st.ended, LIFETIME + 10, "the stream to end")
    ok(time.monotonic() - t0 > LIFETIME - 2, "the stream ended early")
    # What happened in between is replayed to the client that comes back.
    r2 = submit(s, "ev-life", "while away")
    st = Stream(s, "/hitl/events?session_id=ev-life", {"Last-Event-ID": last})
    try:
        eq([e["data"]["request_id"] for e in wait_for(lambda: st.events, 10, "the replay")], [r2])
    finally:
        st.close()

def test_events_restore(s):
    s.stop()
    for k in ENV:
        s.extra_env.pop(k, None)
    s.start()
