"""MCP over Streamable HTTP on /mcp: sessions, JSON-RPC errors, the tools, and
waiting for a human with progress, through the real nginx and workers."""
import json
import threading
import time

from lg import eq, ok, wait_for
from test_07_telegram import chat, register, sent, poll

ACCEPT = "application/json, text/event-stream"


def rpc(s, body, sid=None, headers=None, raw=None, timeout=60):
    h = {"Content-Type": "application/json", "Accept": ACCEPT}
    if sid:
        h["Mcp-Session-Id"] = sid
    h.update(headers or {})
    return s.request("POST", "/mcp", body=raw if raw is not None else json.dumps(body), headers=h,
                     timeout=timeout)


def sse_messages(resp):
    """The JSON-RPC messages of a text/event-stream body."""
    out = []
    for block in resp.raw.split("\n\n"):
        data = [ln[5:].strip() for ln in block.split("\n") if ln.startswith("data:")]
        if data:
            out.append(json.loads("".join(data)))
    return out


def initialize(s, version="2025-06-18"):
    r = rpc(s, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": version, "capabilities": {},
                           "clientInfo": {"name": "it", "version": "1"}}})
    eq(r.status, 200, repr(r))
    sid = r.header("Mcp-Session-Id")
    ok(sid and len(sid) == 64, "session id %r" % sid)
    eq(rpc(s, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid).status, 202)
    return sid, r.json["result"]


def call(s, sid, name, args, rid=7, meta=None, timeout=60):
    params = {"name": name, "arguments": args}
    if meta:
        params["_meta"] = meta
    return rpc(s, {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}, sid,
               timeout=timeout)


def result_of(resp):
    if resp.header("Content-Type").startswith("text/event-stream"):
        return sse_messages(resp)[-1]
    return resp.json


def test_initialize_and_version_negotiation(s):
    for v in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        _, res = initialize(s, v)
        eq(res["protocolVersion"], v)
        eq(res["capabilities"], {"tools": {"listChanged": False}})
        eq(res["serverInfo"]["name"], "loopgate")
    _, res = initialize(s, "1999-01-01")
    eq(res["protocolVersion"], "2025-11-25")
    eq(s.scalar("SELECT count(*) FROM mcp_sessions WHERE ended_at IS NULL") >= "5", True)


def test_sessions_and_headers(s):
    sid, _ = initialize(s)
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    r = rpc(s, ping, sid)
    eq((r.status, r.json["result"]), (200, {}))
    eq(rpc(s, ping).status, 400)                       # no session header
    eq(rpc(s, ping, "0" * 64).status, 404)             # unknown session
    eq(rpc(s, ping, sid, {"MCP-Protocol-Version": "2030-01-01"}).status, 400)
    eq(rpc(s, ping, sid, {"MCP-Protocol-Version": "2025-06-18"}).status, 200)
    r = rpc(s, ping, sid, {"Origin": "http://evil.example"})
    eq(r.status, 403, repr(r))
    eq(rpc(s, ping, sid, {"Host": "evil.example"}).status, 421)
    r = s.get("/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": sid})
    eq(r.status, 405)
    eq(r.header("Allow"), "POST, DELETE")
    # Any worker serves any session: the id is a database row.
    eq(s.scalar("SELECT protocol_version FROM mcp_sessions WHERE id = :'p1'", sid), "2025-06-18")
    eq(s.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid}).status, 204)
    eq(rpc(s, ping, sid).status, 404)
    eq(s.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid}).status, 404)


def test_jsonrpc_errors_and_hostile_input(s):
    sid, _ = initialize(s)
    cases = [
        (b"{bad", 400, -32700),
        (b"", 400, -32700),
        (b'{"jsonrpc":"2.0","id":1e400,"method":"ping"}', 400, -32700),
        (b'{"jsonrpc":"2.0","id":99999999999999999999999,"method":"ping"}', 400, -32700),
        (b"\xff\xfe", 400, -32700),
        (b"[1,2]", 400, -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"ping"}', 400, -32600),
        (b'{"id":1,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1}', 400, -32600),
        (b'"just a string"', 400, -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"nope/nothing"}', 200, -32601),
        (b'{"jsonrpc":"2.0","id":"s-1","method":"tools/call","params":{"name":"frob"}}', 200, -32602),
        (b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"cancel_request","arguments":[1]}}', 200, -32602),
        (b'{"jsonrpc":"2.0","id":3,"method":"tools/list","params":"x"}', 200, -32602),
    ]
    for body, status, code in cases:
        r = rpc(s, None, sid, raw=body)
        eq(r.status, status, "%r -> %r" % (body, r))
        eq(r.json["error"]["code"], code, "%r -> %r" % (body, r.json))
        eq(r.json["jsonrpc"], "2.0")
    # Ids come back as they were sent.
    eq(rpc(s, {"jsonrpc": "2.0", "id": "abc", "method": "ping"}, sid).json["id"], "abc")
    eq(rpc(s, {"jsonrpc": "2.0", "id": 2**62, "method": "ping"}, sid).json["id"], 2**62)
    # A response or a notification from the client is accepted without a body.
    r = rpc(s, {"jsonrpc": "2.0", "id": 5, "result": {}}, sid)
    eq((r.status, r.raw), (202, ""))
    eq(s.get("/health").status, 200, "the worker still serves")


def test_tools_list_and_plain_json(s):
    sid, _ = initialize(s)
    r = rpc(s, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid)
    tools = {t["name"]: t for t in r.json["result"]["tools"]}
    eq(sorted(tools), ["cancel_request", "check_request_status", "list_pending_requests",
                       "permission_prompt", "register_callback", "request_human_input"])
    for t in tools.values():
        eq(t["inputSchema"]["type"], "object")
        eq(t["outputSchema"]["type"], "object")
        ok(t["description"], "description")
    eq(tools["request_human_input"]["inputSchema"]["required"], ["message"])
    plain = s.get("/mcp/tools").json
    eq(sorted(x["name"] for x in plain["tools"]), sorted(tools))
    caps = s.get("/mcp/capabilities").json
    ok("2025-11-25" in caps["protocolVersions"] and caps["capabilities"]["tools"] is not None, caps)


def test_request_human_input_decided_with_progress(s):
    sid, _ = initialize(s)
    c = chat()
    register(s, "mcp", c)  # the default MCP session (mcp_default_session)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=call(
        s, sid, "request_human_input", {"message": "Ship it?", "options": ["Ship", "Hold"],
                                        "wait_seconds": 30}, meta={"progressToken": "tok-1"})))
    t.start()
    rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = 'mcp'"
                                    " AND message = 'Ship it?'"), 10)
    _, m, _ = sent(s, rid)
    time.sleep(6)  # at least one progress notification goes out first
    s.tg.press_and_deliver(c, m, button_text="\u2705 Ship")
    t.join(30)
    r = box["r"]
    eq(r.status, 200)
    ok(r.header("Content-Type").startswith("text/event-stream"), r.header("Content-Type"))
    msgs = sse_messages(r)
    progress = [x for x in msgs if x.get("method") == "notifications/progress"]
    ok(len(progress) >= 1 and progress[0]["params"]["progressToken"] == "tok-1", repr(msgs[:2]))
    res = msgs[-1]["result"]
    eq(res["isError"], False)
    sc = res["structuredContent"]
    eq((sc["request_id"], sc["status"], sc["approved"], sc["response"], sc["completed"]),
       (rid, "completed", True, "Ship", True))
    eq(res["content"][0]["type"], "text")
    # Same door as REST: the request is an ordinary one.
    eq(poll(s, rid)["response"], "Ship")


def test_pending_result_then_check_status(s):
    sid, _ = initialize(s)
    c = chat()
    register(s, "mcp", c)
    r = call(s, sid, "request_human_input", {"message": "Later?", "wait_seconds": 1,
                                             "options": ["Yes", "No"]})
    res = result_of(r)["result"]
    sc = res["structuredContent"]
    eq((sc["status"], sc["completed"]), ("pending", False))
    ok("check_request_status" in sc["instructions"] and sc["request_id"] in sc["instructions"],
       sc["instructions"])
    _, m, _ = sent(s, sc["request_id"])
    box = {}
    t = threading.Thread(target=lambda: box.update(r=call(
        s, sid, "check_request_status", {"request_id": sc["request_id"], "wait_seconds": 20})))
    t.start()
    time.sleep(1)
    s.tg.press_and_deliver(c, m, button_text="\u274C No")
    t.join(30)
    sc2 = result_of(box["r"])["result"]["structuredContent"]
    eq((sc2["status"], sc2["approved"], sc2["response"]), ("completed", False, "No"))
    # The other tools.
    r2 = result_of(call(s, sid, "request_human_input", {"message": "x", "wait_seconds": 0}))
    rid2 = r2["result"]["structuredContent"]["request_id"]
    lst = result_of(call(s, sid, "list_pending_requests", {"session_id": "mcp"}))["result"]
    ok(any(x["id"] == rid2 for x in lst["structuredContent"]["pending_requests"]), "listed")
    cb = result_of(call(s, sid, "register_callback", {"request_id": rid2,
                                                      "callback_url": "https://example.com/h"}))
    eq(cb["result"]["isError"], False)
    cn = result_of(call(s, sid, "cancel_request", {"request_id": rid2}))["result"]
    eq(cn["structuredContent"]["status"], "canceled")
    eq(poll(s, rid2)["status"], "canceled")


def test_failed_tool_runs_are_results_with_is_error(s):
    sid, _ = initialize(s)
    for name, args, needle in (
        ("request_human_input", {"message": "x", "session_id": "no-such-session"}, "no-such-session"),
        ("request_human_input", {}, "message is required"),
        ("request_human_input", {"message": "x", "options": "Yes"}, "options"),
        ("request_human_input", {"message": "x", "wait_seconds": -3}, "wait_seconds"),
        ("check_request_status", {"request_id": "nope"}, "request_id"),
        ("check_request_status", {"request_id": "00000000-0000-0000-0000-000000000000"}, "no request"),
        ("cancel_request", {}, "request_id is required"),
        ("register_callback", {"request_id": "00000000-0000-0000-0000-000000000000",
                               "callback_url": "ftp://x"}, "callback_url"),
    ):
        r = call(s, sid, name, args)
        eq(r.status, 200)
        res = result_of(r)["result"]
        eq(res["isError"], True, "%s %r" % (name, args))
        ok(needle in res["content"][0]["text"], "%r lacks %r" % (res["content"][0]["text"], needle))


def test_stdio_bridge(s):
    import subprocess
    c = chat()
    register(s, "mcp", c)
    p = subprocess.Popen([s.binary, "mcp", "--url", "http://127.0.0.1:%d" % s.port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, bufsize=1)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(ln) for ln in p.stdout),
                              daemon=True)
    reader.start()

    def send(m):
        p.stdin.write(json.dumps(m) + "\n")
        p.stdin.flush()

    def reply(i, timeout=30):
        return wait_for(lambda: next((x for x in lines if x.get("id") == i), None), timeout,
                        "the bridge's answer to %r" % i)

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "stdio-it", "version": "1"}}})
        eq(reply(1)["result"]["protocolVersion"], "2025-06-18")
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        eq(len(reply(2)["result"]["tools"]), 6)
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
              "params": {"name": "request_human_input", "_meta": {"progressToken": 9},
                         "arguments": {"message": "via stdio?", "options": ["Yes", "No"],
                                       "wait_seconds": 30}}})
        rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE message = 'via stdio?'"), 10)
        _, m, _ = sent(s, rid)
        # A ping is not held up by the waiting call.
        send({"jsonrpc": "2.0", "id": 4, "method": "ping"})
        eq(reply(4, 5)["result"], {})
        wait_for(lambda: any(x.get("method") == "notifications/progress" for x in lines), 15,
                 "a progress notification through the bridge")
        s.tg.press_and_deliver(c, m, button_text="\u2705 Yes")
        sc = reply(3)["result"]["structuredContent"]
        eq((sc["status"], sc["approved"]), ("completed", True))
        send({"jsonrpc": "2.0", "id": 5, "method": "nope"})
        eq(reply(5)["error"]["code"], -32601)
        p.stdin.write("{not json\n")
        p.stdin.flush()
        wait_for(lambda: any(x.get("error", {}).get("code") == -32700 for x in lines), 5)
        p.stdin.close()
        eq(p.wait(15), 0)
    finally:
        if p.poll() is None:
            p.kill()
    eq(s.scalar("SELECT count(*) FROM mcp_sessions WHERE client_name = 'stdio-it'"
                " AND ended_at IS NOT NULL"), "1")


def test_batches_only_for_2025_03_26(s):
    sid, _ = initialize(s, "2025-03-26")
    r = rpc(s, [{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                {"jsonrpc": "2.0", "id": 3, "method": "nope"},
                {"bad": 1}], sid)
    eq(r.status, 200, repr(r))
    eq([x.get("id") for x in r.json], [1, 2, 3, None])
    eq(r.json[0]["result"], {})
    eq(len(r.json[1]["result"]["tools"]), 6)
    eq((r.json[2]["error"]["code"], r.json[3]["error"]["code"]), (-32601, -32600))
    eq(rpc(s, [{"jsonrpc": "2.0", "method": "notifications/initialized"}], sid).status, 202)
    sid2, _ = initialize(s, "2025-06-18")
    r = rpc(s, [{"jsonrpc": "2.0", "id": 1, "method": "ping"}], sid2)
    eq((r.status, r.json["error"]["code"]), (400, -32600))
