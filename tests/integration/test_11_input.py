"""Bounded untrusted input: JSON nesting, ids, bytes quoted in errors. Run on
the production build, these prove that the production request-thread stack
survives the deepest input anyone may send, and that a bad byte is a 4xx."""
import json

from lg import eq, ok, error_is, wait_for
from test_02_errors import unchanged
from test_09_mcp import initialize, rpc

DEEP_MSG = "JSON nested deeper than 32 levels"


def nested(depth, leaf="1"):
    """Text of `depth` nested arrays around `leaf` (built as text: Python's own
    json module would recurse)."""
    return "[" * depth + leaf + "]" * depth


def no_worker_died(s, pids, log_from):
    eq(s.worker_pids(), pids, "worker pids")
    tail = s.worker_log()[log_from:]
    ok("worker died" not in tail, "a worker died:\n" + tail[-2000:])


def test_deep_json_refused_everywhere(s):
    eq(s.post("/hitl/register", {"session_id": "deep", "client_id": "a", "telegram_id": 5}).status,
       200)
    sid, _ = initialize(s)
    pids, log_from = s.worker_pids(), len(s.worker_log())
    for depth in (33, 1000, 2000):
        before = s.counts()
        body = '{"session_id":"deep","client_id":"a","message":"m","metadata":{"a":%s}}' % \
            nested(depth)
        r = s.request("POST", "/hitl/request", body=body,
                      headers={"Content-Type": "application/json"})
        error_is(r, 400, "invalid_json", DEEP_MSG)
        eq(r.json["error"]["message"], DEEP_MSG)

        # MCP: the id itself is the deep part; the answer's id is null.
        r = rpc(s, None, sid, raw='{"jsonrpc":"2.0","id":%s,"method":"ping"}' % nested(depth))
        eq(r.status, 400, repr(r))
        eq(r.json["id"], None)
        eq(r.json["error"]["code"], -32700)
        ok(DEEP_MSG in r.json["error"]["message"], repr(r))
        # ... without a session too: refused before anything else.
        r = rpc(s, None, None, raw='{"jsonrpc":"2.0","id":%s,"method":"ping"}' % nested(depth))
        eq((r.status, r.json["error"]["code"], r.json["id"]), (400, -32700, None))

        # progressToken.
        r = rpc(s, None, sid, raw='{"jsonrpc":"2.0","id":3,"method":"tools/call","params":'
                '{"name":"list_pending_requests","arguments":{},"_meta":{"progressToken":%s}}}'
                % nested(depth))
        eq((r.status, r.json["error"]["code"], r.json["id"]), (400, -32700, None))

        # A Telegram update through the webhook.
        upd = '{"update_id":%d,"message":{"message_id":1,"chat":{"id":5,"type":"private"},' \
              '"from":{"id":5,"first_name":"A"},"text":"hi","entities":%s}}' % (
                  900000 + depth, nested(depth))
        r = s.request("POST", "/telegram/webhook", body=upd,
                      headers={"Content-Type": "application/json",
                               "X-Telegram-Bot-Api-Secret-Token": s.webhook_secret})
        error_is(r, 400, "invalid_json", DEEP_MSG)
        eq(s.counts(), before, "database after %d-deep input" % depth)
    # The workers are the same processes: nothing crashed and was restarted.
    eq(s.get("/health").status, 200)
    no_worker_died(s, pids, log_from)


def test_deep_but_allowed_metadata_is_served(s):
    """31 levels inside the body (32 in all) are accepted, stored, and listed by
    /hitl/pending and by MCP (where the answer nests deeper still)."""
    eq(s.post("/hitl/register", {"session_id": "deep-ok", "client_id": "a", "telegram_id": 6})
       .status, 200)
    pids, log_from = s.worker_pids(), len(s.worker_log())
    meta = '{"k":' * 30 + '"leaf"' + "}" * 30  # metadata itself: 30 objects + the value's 0
    meta = '{"a":%s}' % meta  # 31 levels
    body = '{"session_id":"deep-ok","client_id":"a","message":"m","metadata":%s}' % meta
    r = s.request("POST", "/hitl/request", body=body, headers={"Content-Type": "application/json"})
    eq(r.status, 200, repr(r))
    rid = r.json["request_id"]
    eq(s.scalar("SELECT metadata = :'p1'::jsonb FROM requests WHERE id = :'p2'", meta, rid),
       "t")
    r = s.get("/hitl/pending?session_id=deep-ok")
    eq(r.status, 200, repr(r))
    got = [p for p in r.json["pending_requests"] if p["id"] == rid][0]["metadata"]
    for _ in range(31):
        got = got["a" if "a" in got else "k"]
    eq(got, "leaf")

    sid, _ = initialize(s)
    r = rpc(s, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": {"name": "list_pending_requests", "arguments": {"session_id": "deep-ok"}}},
            sid)
    eq(r.status, 200, repr(r))
    ids = [p["id"] for p in r.json["result"]["structuredContent"]["pending_requests"]]
    ok(rid in ids, "MCP lists the request")
    # A batch lists it as well (protocol 2025-03-26).
    sid2, _ = initialize(s, "2025-03-26")
    r = rpc(s, [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                 "params": {"name": "list_pending_requests", "arguments": {}}}
                for i in range(3)], sid2)
    eq(r.status, 200, repr(r))
    eq(len(r.json), 3)
    no_worker_died(s, pids, log_from)


def test_stored_too_deep_metadata_is_not_parsed(s):
    """A row written before the limit existed (deeper than 32) is listed with
    metadata null instead of being walked."""
    eq(s.post("/hitl/register", {"session_id": "deep-old", "client_id": "a", "telegram_id": 7})
       .status, 200)
    pids, log_from = s.worker_pids(), len(s.worker_log())
    rid = s.post("/hitl/request", {"session_id": "deep-old", "client_id": "a", "message": "m",
                                   "metadata": {"a": 1}}).json["request_id"]
    deep = '{"a":%s}' % nested(800)
    s.sql("UPDATE requests SET metadata = :'p1'::jsonb WHERE id = :'p2'", deep, rid)
    r = s.get("/hitl/pending?session_id=deep-old")
    eq(r.status, 200, repr(r))
    eq([p["metadata"] for p in r.json["pending_requests"] if p["id"] == rid], [None])
    sid, _ = initialize(s, "2025-03-26")
    r = rpc(s, [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                 "params": {"name": "list_pending_requests", "arguments": {}}}
                for i in range(4)], sid)
    eq(r.status, 200, repr(r))
    no_worker_died(s, pids, log_from)


def test_bad_bytes_are_4xx(s):
    eq(s.post("/hitl/register", {"session_id": "bytes", "client_id": "a", "telegram_id": 8}).status,
       200)
    # Query ids: checked like body ids.
    for q in ("%ff", "a%e2%80%aeb", "%c2%85", "a%01b", "a%e2%81%a6", "%e2%80%8f", "x" * 129):
        unchanged(s, lambda: s.get("/hitl/status?session_id=" + q), 400, "invalid_parameter",
                  "session_id")
        unchanged(s, lambda: s.get("/hitl/pending?session_id=" + q), 400, "invalid_parameter",
                  "session_id")
    unchanged(s, lambda: s.get("/hitl/poll?request_id=%ff"), 400, "invalid_parameter",
              "request_id")
    unchanged(s, lambda: s.get("/hitl/poll?request_id=%ff&wait=%ff"), 400, "invalid_parameter")
    eq(s.get("/hitl/status?session_id=bytes").status, 200)

    # Body ids: C1 controls, bidi overrides and isolates, invisible characters.
    for bad in ("a\u0085b", "admin\u202etxt", "a\u2066b\u2069", "a\u200eb", "\u061c", "a\u200bb",
                "\ufeffa", "a\x7f"):
        for field in ("session_id", "client_id"):
            b = {"session_id": "bytes", "client_id": "a", "telegram_id": 8}
            b[field] = bad
            unchanged(s, lambda: s.post("/hitl/register", b), 400, "invalid_field", field)
            b = {"session_id": "bytes", "client_id": "a", "message": "m"}
            b[field] = bad
            unchanged(s, lambda: s.post("/hitl/request", b), 400, "invalid_field", field)
    # Non-ASCII ids that are plain text are fine.
    eq(s.post("/hitl/register", {"session_id": "café-🚀", "client_id": "Ωmega",
                                 "telegram_id": 8}).status, 200)

    # Error texts that quote input: escaped, never a 500.
    r = unchanged(s, lambda: s.request("POST", "/hitl/request", body=b"{}",
                                       headers={"Content-Type": "text/\xff\x01plain"}),
                  415, "unsupported_media_type")
    ok("\\xff\\x01" in r.json["error"]["message"], r.raw)
    r = unchanged(s, lambda: s.get("/hitl/%ff%fe"), 404, "not_found")
    ok("\\xff\\xfe" in r.json["error"]["message"], r.raw)
    r = unchanged(s, lambda: s.get("/hitl/" + "%c3%a9" * 400), 404, "not_found")
    r.raw.encode("utf-8")  # well-formed UTF-8: cut between characters
    ok("\ufffd" not in r.raw, "message cut inside a character: %r" % r.raw[-80:])
    r = unchanged(s, lambda: s.request("BREW", "/hitl/request"), 405, "method_not_allowed")
    r = unchanged(s, lambda: s.request("POST", "/mcp", body=b"{}",
                                       headers={"Content-Type": "application/json",
                                                "Origin": "http://\xff\x1b[31m"}),
                  403, "forbidden_origin")
    ok("\\xff\\x1b" in r.json["error"]["message"], r.raw)
    r = s.request("POST", "/mcp", body=b"{}", headers={"Content-Type": "application/json",
                                                       "Host": "\xffevil"})
    ok(r.status in (400, 421), repr(r))
    if r.status == 421:
        ok("\\xff" in r.json["error"]["message"], r.raw)
    r = s.request("POST", "/hitl/request", body=json.dumps({"session_id": "bytes",
                  "client_id": "a", "message": "m"}), headers={"Content-Type": "application/json",
                                                               "Idempotency-Key": "k\x01"})
    ok(r.status == 400, repr(r))
    # Mcp-Session-Id of any other shape names no session.
    for bad in ("\xff" * 10, "g" * 64, "a" * 65):
        r = rpc(s, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, None,
                headers={"Mcp-Session-Id": bad})
        eq(r.status, 404, repr(r))
        eq(s.request("DELETE", "/mcp", headers={"Mcp-Session-Id": bad}).status, 404)


def test_empty_approvers_clear_the_list(s):
    b = {"session_id": "appr", "client_id": "a", "telegram_id": 9, "approvers": [11, 12]}
    eq(s.post("/hitl/register", b).status, 200)
    eq(s.scalar("SELECT approvers::text FROM sessions WHERE session_id = 'appr'"), "{11,12}")
    b["approvers"] = []
    r = s.post("/hitl/register", b)
    eq(r.status, 200, repr(r))
    eq(s.scalar("SELECT approvers::text FROM sessions WHERE session_id = 'appr'"), "{}")
    eq(s.get("/hitl/status?session_id=appr").json["approvers"], [])
    # A first registration with [] as well.
    b = {"session_id": "appr2", "client_id": "a", "telegram_id": 9, "approvers": []}
    eq(s.post("/hitl/register", b).status, 200)
    eq(s.scalar("SELECT approvers::text FROM sessions WHERE session_id = 'appr2'"), "{}")


# ---------------------------------------------------------------- MCP bounds
def mcp_init(s, headers=None, client=None, version="2025-06-18"):
    return rpc(s, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": version, "capabilities": {},
                              "clientInfo": client or {"name": "it", "version": "1"}}},
               headers=headers)


def test_mcp_wait_ends_when_client_goes(s):
    import http.client
    eq(s.post("/hitl/register", {"session_id": "gone", "client_id": "a", "telegram_id": 10})
       .status, 200)
    rid = s.post("/hitl/request", {"session_id": "gone", "client_id": "a", "message": "m"}
                 ).json["request_id"]
    sid, _ = initialize(s)
    # With a progressToken the stream carries progress (a write to a closed
    # connection); without one nothing is written and the closed FastCGI
    # connection alone tells.
    for progress in (True, False):
        log_from = len(s.worker_log())
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        params = {"name": "check_request_status",
                  "arguments": {"request_id": rid, "wait_seconds": 100}}
        if progress:
            params["_meta"] = {"progressToken": "p"}
        conn.request("POST", "/mcp",
                     body=json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                                      "params": params}),
                     headers={"Content-Type": "application/json", "Mcp-Session-Id": sid,
                              "Accept": "application/json, text/event-stream"})
        r = conn.getresponse()  # the stream has begun: the call is waiting
        eq(r.status, 200)
        conn.sock.shutdown(2)
        conn.close()
        line = wait_for(lambda: [ln for ln in s.worker_log()[log_from:].splitlines()
                                 if "the client has gone" in ln and rid in ln], 20,
                        "the wait to end after the client left (progress=%s)" % progress)
        ok("waited_s=" in line[0], line[0])
    eq(poll_status(s, rid), "pending")


def poll_status(s, rid):
    return s.get("/hitl/poll?request_id=" + rid).json["status"]


def test_mcp_batch_session_and_client_info_bounds(s):
    import time
    s.stop()
    s.start(LOOPGATE_POLL_WAIT_MAX="3", LOOPGATE_MCP_SESSIONS_MAX="3")
    try:
        h0 = {"X-API-Key": s.new_key("mcp-batch")}
        eq(s.post("/hitl/register", {"session_id": "mb", "client_id": "a", "telegram_id": 11},
                  headers=h0).status, 200)
        rid = s.post("/hitl/request", {"session_id": "mb", "client_id": "a", "message": "m"},
                     headers=h0).json["request_id"]
        sid = mcp_init(s, h0, version="2025-03-26").header("Mcp-Session-Id")
        # Four calls that each may wait 3 s: the batch waits 3 s in all, not 12.
        t0 = time.time()
        r = rpc(s, [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                     "params": {"name": "check_request_status",
                                "arguments": {"request_id": rid, "wait_seconds": 3}}}
                    for i in range(4)], sid, headers=h0, timeout=30)
        took = time.time() - t0
        eq(r.status, 200, repr(r))
        eq(sorted(a["id"] for a in r.json), [0, 1, 2, 3])
        for a in r.json:
            eq(a["result"]["structuredContent"]["status"], "pending")
        ok(2.5 < took < 6.5, "the batch took %.1f s" % took)

        # Live sessions per tenant are capped.
        key = s.new_key("mcp-cap")
        h = {"X-API-Key": key}
        sids = []
        for _ in range(3):
            r = mcp_init(s, h)
            eq(r.status, 200, repr(r))
            sids.append(r.header("Mcp-Session-Id"))
        before = s.scalar("SELECT count(*) FROM mcp_sessions WHERE tenant = 'mcp-cap'")
        r = mcp_init(s, h)
        eq(r.status, 429, repr(r))
        eq(r.json["error"]["code"], -32000)
        ok("mcp_sessions_max = 3" in r.json["error"]["message"], r.raw)
        ok(not r.header("Mcp-Session-Id"), "a refused initialize named a session")
        eq(s.scalar("SELECT count(*) FROM mcp_sessions WHERE tenant = 'mcp-cap'"), before)
        # Another tenant is not affected.
        eq(mcp_init(s, {"X-API-Key": s.new_key("mcp-cap-other")}).status, 200)
        # Ending one frees a place; the ended row is pruned by a later initialize.
        eq(s.request("DELETE", "/mcp", headers=dict(h, **{"Mcp-Session-Id": sids[0]})).status,
           204)
        r = mcp_init(s, h)
        eq(r.status, 200, repr(r))
        eq(s.scalar("SELECT count(*) FROM mcp_sessions WHERE id = :'p1'", sids[0]), "0")
        # An idle session expires (404) and is pruned.
        s.sql("UPDATE mcp_sessions SET last_seen_at = now() - interval '2 days' WHERE id = :'p1'",
              sids[1])
        r = rpc(s, {"jsonrpc": "2.0", "id": 2, "method": "ping"}, sids[1], headers=h)
        eq(r.status, 404, repr(r))
        r = mcp_init(s, h)
        eq(r.status, 200, repr(r))
        eq(s.scalar("SELECT count(*) FROM mcp_sessions WHERE id = :'p1'", sids[1]), "0")

        # clientInfo is stored cut on a character boundary, controls escaped.
        r = mcp_init(s, {"X-API-Key": s.new_key("mcp-info")}, client={"name": "é" * 300, "version": "\u202e" + "x" * 500})
        eq(r.status, 200, repr(r))
        name, version = s.sql("SELECT client_name, client_version FROM mcp_sessions"
                              " WHERE id = :'p1'", r.header("Mcp-Session-Id"))[0]
        eq(name, "é" * 64)
        ok(version.startswith("\\u{202E}xxx") and len(version.encode()) <= 128, version)
    finally:
        s.stop()
        s.extra_env.pop("LOOPGATE_POLL_WAIT_MAX", None)
        s.extra_env.pop("LOOPGATE_MCP_SESSIONS_MAX", None)
        s.start()


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_mcp_batch_session_and_client_info_bounds.slow = True
test_mcp_wait_ends_when_client_goes.slow = True
