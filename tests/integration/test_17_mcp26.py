"""MCP revision 2026-07-28 on /mcp, beside the four stateful revisions: stateless
requests (no initialize, no session), server/discover, the Mcp-Method /
Mcp-Name / MCP-Protocol-Version headers checked against the body, resultType,
and request_human_input as a task of the io.modelcontextprotocol/tasks
extension (task id = request id; tasks/get, tasks/cancel), with the human
answering through the Telegram stand-in. Also the conformance suite
0.2.0-alpha.12 at --spec-version 2026-07-28 and the client SDK 2.x."""
import json
import os
import subprocess
import threading

from steps import StepProcess
from lg import ROOT, chat, eq, ok, wait_for
from test_07_telegram import register, sent, poll
from test_09_mcp import ACCEPT, initialize, result_of

V = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
NODE22 = os.path.join(ROOT, "tests/node_modules/node/bin/node")
SDK2 = os.path.join(ROOT, "tests/mcp/sdk2_client.mjs")


def meta(tasks=False, version=V):
    caps = {"extensions": {TASKS: {}}} if tasks else {}
    return {"io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": caps}


def req(s, method, params=None, rid=1, headers=None, tasks=False, name=None, raw_params=False):
    """One stateless request with the headers a 2026-07-28 client sends; `headers`
    overrides them (None as a value drops one)."""
    p = dict(params or {})
    if not raw_params:
        p["_meta"] = meta(tasks)
    h = {"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": V,
         "Mcp-Method": method}
    if name is not None:
        h["Mcp-Name"] = name
    for k, v in (headers or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    body = {"jsonrpc": "2.0", "id": rid, "method": method, "params": p}
    return s.request("POST", "/mcp", body=json.dumps(body), headers=h, timeout=60)


def error_of(r, status, code):
    eq(r.status, status, repr(r))
    eq(r.json["error"]["code"], code, repr(r.json))
    return r.json["error"]


def test_stateless_discover_and_tools(s):
    r = req(s, "server/discover")
    eq(r.status, 200, repr(r))
    ok(r.header("Mcp-Session-Id") in (None, ""), "no session is made")
    res = r.json["result"]
    eq(res["resultType"], "complete")
    ok(V in res["supportedVersions"] and "2025-11-25" in res["supportedVersions"], repr(res))
    ok(TASKS in res["capabilities"]["extensions"] and "tools" in res["capabilities"], repr(res))
    eq(res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "loopgate")
    ok(res["cacheScope"] in ("public", "private") and res["ttlMs"] >= 0, repr(res))
    # tools/list and a tools/call with no initialize before them.
    r = req(s, "tools/list", rid=2)
    eq(r.status, 200, repr(r))
    eq(r.json["id"], 2)
    eq(r.json["result"]["resultType"], "complete")
    ok("request_human_input" in [t["name"] for t in r.json["result"]["tools"]], repr(r.json))
    r = req(s, "tools/call", {"name": "list_pending_requests", "arguments": {}}, rid=3,
            name="list_pending_requests")
    res = result_of(r)["result"]
    eq((res["resultType"], res["isError"]), ("complete", False))
    # Removed and unknown methods: 404 with -32601, the request's id kept.
    for m in ("initialize", "ping", "logging/setLevel", "unknown/method"):
        e = req(s, m, rid=9)
        error_of(e, 404, -32601)
        eq(e.json["id"], 9)
    # The four stateful revisions are unchanged: initialize still makes a session.
    sid, res = initialize(s, "2025-11-25")
    eq(res["protocolVersion"], "2025-11-25")
    ok(len(sid) == 64, sid)


def test_stateless_meta_and_headers_checked(s):
    # _meta without the protocol version or the client capabilities: -32602, 400.
    error_of(req(s, "tools/list", {}, raw_params=True), 400, -32602)
    error_of(req(s, "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": V}},
                 raw_params=True), 400, -32602)
    # Headers that do not match the body: -32020 (HeaderMismatch), 400.
    error_of(req(s, "tools/list", headers={"Mcp-Method": "tools/call"}), 400, -32020)
    error_of(req(s, "tools/list", headers={"Mcp-Method": None}), 400, -32020)
    error_of(req(s, "tools/list", headers={"Mcp-Method": "TOOLS/LIST"}), 400, -32020)
    error_of(req(s, "tools/call", {"name": "list_pending_requests", "arguments": {}},
                 name="cancel_request"), 400, -32020)
    error_of(req(s, "tools/call", {"name": "list_pending_requests", "arguments": {}}),
             400, -32020)  # Mcp-Name missing
    # Whitespace around a header value is not part of it.
    r = req(s, "tools/call", {"name": "list_pending_requests", "arguments": {}},
            name="  list_pending_requests ")
    eq(r.status, 200, repr(r))
    # The version header must equal _meta's version; an unsupported one is -32022.
    r = s.request("POST", "/mcp", headers={
        "Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": V,
        "Mcp-Method": "tools/list"}, body=json.dumps({
            "jsonrpc": "2.0", "id": 4, "method": "tools/list",
            "params": {"_meta": meta(version="2099-01-01")}}))
    error_of(r, 400, -32020)
    error_of(req(s, "tools/list", headers={"MCP-Protocol-Version": None}), 400, -32020)
    r = s.request("POST", "/mcp", headers={
        "Content-Type": "application/json", "Accept": ACCEPT,
        "MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"}, body=json.dumps({
            "jsonrpc": "2.0", "id": 5, "method": "tools/list",
            "params": {"_meta": meta(version="2099-01-01")}}))
    e = error_of(r, 400, -32022)
    eq(e["data"]["requested"], "2099-01-01")
    ok(V in e["data"]["supported"], repr(e))
    # tasks/* without the tasks extension declared: -32021, 400, naming it.
    e = error_of(req(s, "tasks/get", {"taskId": "00000000-0000-0000-0000-000000000000"},
                     name="00000000-0000-0000-0000-000000000000"), 400, -32021)
    ok(TASKS in e["data"]["requiredCapabilities"]["extensions"], repr(e))
    # An unknown task: -32602.
    tid = "00000000-0000-4000-8000-000000000000"
    e = req(s, "tasks/get", {"taskId": tid}, name=tid, tasks=True)
    eq(e.json["error"]["code"], -32602, repr(e.json))


def create_task(s, message, rid=11):
    r = req(s, "tools/call", {"name": "request_human_input",
                              "arguments": {"message": message, "options": ["Yes", "No"]}},
            rid=rid, name="request_human_input", tasks=True)
    eq(r.status, 200, repr(r))
    ok(r.header("Content-Type").startswith("application/json"), "a task is answered at once")
    res = r.json["result"]
    eq((res["resultType"], res["status"]), ("task", "working"))
    for k in ("taskId", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"):
        ok(k in res, "%s missing: %r" % (k, res))
    ok("result" not in res and "task" not in res, repr(res))
    return res["taskId"]


def task_get(s, tid):
    r = req(s, "tasks/get", {"taskId": tid}, rid=12, name=tid, tasks=True)
    eq(r.status, 200, repr(r))
    eq(r.json["result"]["resultType"], "complete")
    eq(r.json["result"]["taskId"], tid)
    return r.json["result"]


def test_request_human_input_as_task(s):
    c = chat()
    register(s, "mcp", c, approvers=[])  # earlier modules may have listed approvers
    tid = create_task(s, "Task: ship?")
    # The task id is the request id: the request is an ordinary one.
    eq(s.scalar("SELECT message FROM requests WHERE id = :'p1'", tid), "Task: ship?")
    t = task_get(s, tid)
    eq(t["status"], "working")
    ok("result" not in t, repr(t))
    _, m, _ = sent(s, tid)
    s.tg.press_and_deliver(c, m, button_text="\u2705 Yes")
    t = wait_for(lambda: (lambda x: x if x["status"] == "completed" else None)(task_get(s, tid)),
                 20, "the task to complete")
    res = t["result"]
    eq((res["resultType"], res["isError"]), ("complete", False))
    sc = res["structuredContent"]
    eq((sc["request_id"], sc["status"], sc["approved"], sc["response"]),
       (tid, "completed", True, "Yes"))
    ok(res["content"][0]["text"].startswith("The human approved."), res["content"][0]["text"])
    # Without the tasks extension the same tool waits as before (no task).
    r = req(s, "tools/call", {"name": "request_human_input",
                              "arguments": {"message": "Task: no ext?", "wait_seconds": 0}},
            rid=13, name="request_human_input")
    res = result_of(r)["result"]
    eq(res["resultType"], "complete")
    ok("taskId" not in res, repr(res))
    eq(res["structuredContent"]["status"], "pending")


def test_task_cancel(s):
    c = chat()
    register(s, "mcp", c, approvers=[])  # earlier modules may have listed approvers
    tid = create_task(s, "Task: cancel me?", rid=21)
    r = req(s, "tasks/cancel", {"taskId": tid}, rid=22, name=tid, tasks=True)
    eq(r.status, 200, repr(r))
    eq(r.json["result"], {"resultType": "complete"})
    eq(task_get(s, tid)["status"], "cancelled")
    eq(poll(s, tid)["status"], "canceled")
    # Cancelling a final task is the same ack; tasks/update has nothing to update.
    eq(req(s, "tasks/cancel", {"taskId": tid}, rid=23, name=tid, tasks=True).json["result"],
       {"resultType": "complete"})
    eq(req(s, "tasks/update", {"taskId": tid, "inputResponses": {}}, rid=24, name=tid,
           tasks=True).json["result"], {"resultType": "complete"})
    # Mcp-Name must be the task id.
    error_of(req(s, "tasks/get", {"taskId": tid}, rid=25, name="someone-else", tasks=True),
             400, -32020)


def test_stdio_bridge_stateless(s):
    """`loopgate mcp` forwards 2026-07-28 messages without initialize or a session,
    mirroring the headers from each body, so the task flow works over stdio too."""
    c = chat()
    register(s, "mcp", c, approvers=[])  # earlier modules may have listed approvers
    p = subprocess.Popen([s.binary, "mcp", "--url", "http://127.0.0.1:%d" % s.port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, bufsize=1)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(ln) for ln in p.stdout),
                              daemon=True)
    reader.start()

    def send(i, method, params):
        params = dict(params, _meta=meta(tasks=True))
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                  "params": params}) + "\n")
        p.stdin.flush()
        return wait_for(lambda: next((x for x in lines if x.get("id") == i), None), 30,
                        "the bridge's answer to %r" % i)

    try:
        eq(send(1, "server/discover", {})["result"]["resultType"], "complete")
        eq(len(send(2, "tools/list", {})["result"]["tools"]), 6)  # with permission_prompt
        res = send(3, "tools/call", {"name": "request_human_input",
                                     "arguments": {"message": "stdio task?"}})["result"]
        eq(res["resultType"], "task")
        tid = res["taskId"]
        eq(send(4, "tasks/get", {"taskId": tid})["result"]["status"], "working")
        eq(send(5, "tasks/cancel", {"taskId": tid})["result"], {"resultType": "complete"})
        eq(send(6, "tasks/get", {"taskId": tid})["result"]["status"], "cancelled")
        eq(send(7, "initialize", {})["error"]["code"], -32601)
        p.stdin.close()
        eq(p.wait(15), 0)
    finally:
        if p.poll() is None:
            p.kill()


class Sdk2(StepProcess):
    """sdk2_client.mjs (client SDK 2.x) as a subprocess; its JSON step lines as they come."""

    def __init__(self, s, mode, message, session):
        super().__init__(
            [NODE22, SDK2, "--url", "http://127.0.0.1:%d/mcp" % s.port, "--mode", mode,
             "--message", message, "--session-id", session, "--wait-seconds", "30"],
            os.path.join(ROOT, "tests"))


def test_client_sdk_2(s):
    """The client SDK 2.x: pinned to 2026-07-28 and in its auto mode it speaks the
    stateless revision (server/discover, no session); in its legacy mode it
    initializes a 2025-11-25 session. Each gets the human's answer, with progress."""
    c = chat()
    for mode, era, version in (("pin", "modern", V), ("auto", "modern", V),
                               ("legacy", "legacy", "2025-11-25")):
        session = "sdk2-" + mode
        register(s, session, c)
        msg = "SDK 2 %s?" % mode
        since = s.scalar("SELECT now()::text")
        cl = Sdk2(s, mode, msg, session)
        rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE message = :'p1'", msg),
                       30, "the request %r" % msg)
        _, m, _ = sent(s, rid)
        wait_for(lambda: cl.step("progress"), 20, "a progress notification (%s)" % mode)
        s.tg.press_and_deliver(c, m, button_text="\u2705 Yes")
        rc, err = cl.finish(60)
        eq(rc, 0, "%s: %s %r" % (mode, err[-2000:], cl.steps))
        con = cl.step("connected")[0]
        eq((con["era"], con["protocol_version"], con["server"]["name"]), (era, version, "loopgate"))
        ok("request_human_input" in cl.step("tools")[0]["names"], repr(cl.steps))
        sc = cl.step("result")[-1]["structuredContent"]
        eq((sc["request_id"], sc["status"], sc["approved"], sc["response"]),
           (rid, "completed", True, "Yes"))
        made = s.scalar("SELECT count(*) FROM mcp_sessions WHERE created_at >= :'p1'::timestamptz",
                        since)
        eq(int(made), 0 if era == "modern" else 1, "%s: MCP sessions made" % mode)


test_client_sdk_2.slow = True


def test_conformance_2026_07_28(s):
    env = dict(os.environ, CONFORMANCE_PACKAGE="conformance-next",
               CONFORMANCE_SPEC_VERSION=V, CONFORMANCE_SUITE="active draft extensions",
               CONFORMANCE_EXPECTED_FAILURES=os.path.join(
                   ROOT, "tests/mcp/expected-failures-2026-07-28.yml"))
    r = subprocess.run([os.path.join(ROOT, "tests/mcp/conformance.sh"),
                        "http://127.0.0.1:%d/mcp" % s.port], capture_output=True, text=True,
                       timeout=600, env=env)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    summary = [ln for ln in lines if ln.startswith("conformance:")]
    print("    conformance 2026-07-28 applicable scenarios: %s" % (
        summary[-1][len("conformance: "):] if summary else "?"))
    failed = [ln for ln in lines if ln.startswith("not ok")]
    eq(r.returncode, 0, "conformance.sh failed: %s\n%s\n%s" % (
        "\n".join(failed), "\n".join(lines[-15:]), r.stderr[-2000:]))
    ok(summary and summary[-1].endswith(" 0 failed"), "\n".join(lines[-5:]))


test_conformance_2026_07_28.slow = True
