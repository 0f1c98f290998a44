"""A coding agent's hook call whose host goes away (attack 19, F12).

A hook call waits on one host. When it arrives again (nginx sends it on to
another host, `loopgate hook` sends it again), it waits on the request its
first arrival made while that is pending: the person is asked once and one
decision answers every arrival; a decided request is never answered again
and a different input is another call. When nginx itself must answer
(no worker), Claude Code gets the deny of its call's event, not the
`continue: false` that stops its session; `loopgate hook` sends the call
again until a worker answers. The last test (marked ha: make check-ha) kills,
then stops, the host holding a call: the agent gets the person's answer
from the other host."""
import http.client
import json
import os
import signal
import subprocess
import threading

import lg
from lg import chat, eq, ok, wait_for
from test_07_telegram import OK, answers_for, register, sent
from test_17_hooks import Call, fixture, hook_cli, press, request_of

ALLOW_PRE = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow",
                                    "permissionDecisionReason": "Approved by Ann (Loopgate)"}}


def _rows(s, session):
    return s.sql("SELECT id, status, approved, hook_attach FROM requests WHERE session_id = :'p1'"
                 " ORDER BY created_at, id", session)


def _submitted(s, rid):
    return s.scalar("SELECT count(*) FROM audit_log WHERE request_id = :'p1'"
                    " AND action = 'submitted'", rid)


def test_hook_call_arriving_again_waits_on_its_request(s):
    c = chat()
    register(s, "hh-twice", c)
    body = fixture("claude-code-pre-tool-use")
    first = Call(s, "claude-code", body, "hh-twice", wait=60)
    rid = request_of(s, "hh-twice")
    _, m, _ = sent(s, rid)
    # The same body again while the request is pending: no second request, one arrival more.
    again = Call(s, "claude-code", body, "hh-twice", wait=60)
    wait_for(lambda: _rows(s, "hh-twice") == [[rid, "pending", "f", "1"]], 10,
             "the second arrival to wait on the first one's request")
    # Another input (one byte) is another call: its own request, never the first one's.
    other = json.loads(body)
    other["tool_input"]["command"] = "npm test "
    third = Call(s, "claude-code", json.dumps(other), "hh-twice", wait=2)
    eq(third.answer()["hookSpecificOutput"]["permissionDecision"], "deny")
    rows = wait_for(lambda: (lambda r: r if len(r) == 2 and r[1][1] == "timeout" else None)(
        _rows(s, "hh-twice")), 10, "the other input's own request to time out")
    ok(rows[1][0] != rid and rows[0][:2] == [rid, "pending"], rows)
    ok(first.resp is None and again.resp is None, "both arrivals still wait")
    # One decision answers both arrivals; the database holds one request, submitted once.
    press(s, c, m, OK + "Approve")
    eq(first.answer(), ALLOW_PRE)
    eq(again.answer(), ALLOW_PRE)
    eq(_rows(s, "hh-twice")[0], [rid, "completed", "t", "1"])
    eq(_submitted(s, rid), "1")
    # Once decided, the same body asks anew: an arrival is never answered with that decision.
    late = Call(s, "claude-code", body, "hh-twice", wait=2)
    eq(late.answer()["hookSpecificOutput"]["permissionDecisionReason"],
       "No one approved this in 2 s (Loopgate)")
    rows = wait_for(lambda: (lambda r: r if len(r) == 3 and r[2][1] == "timeout" else None)(
        _rows(s, "hh-twice")), 10, "the late arrival's own request to time out")
    ok(rows[2][0] != rid and rows[0][1] == "completed", rows)


def test_hook_wait_outlasts_a_database_outage(s):
    """PostgreSQL stopped for longer than one slice of a hook call's wait (a
    restart, a fail-over): the call waits on, and the person's Approve after
    the outage reaches the agent; never a deny while the request stays
    answerable."""
    c = chat()
    register(s, "hh-db", c)
    call = Call(s, "claude-code", fixture("claude-code-pre-tool-use"), "hh-db", wait=120)
    rid = request_of(s, "hh-db")
    _, m, _ = sent(s, rid)
    s.pg_ctl("stop", "fast")
    try:
        wait_for(lambda: "hook wait: database unavailable; waiting on" in s.worker_log(), 30,
                 "the hook wait to see the database away and wait on")
        ok(call.resp is None, "the call ended during the outage: %r"
           % (call.resp and call.resp.json))
    finally:
        s.pg_ctl("start")
    press(s, c, m, OK + "Approve")
    eq(call.answer(), ALLOW_PRE)
    eq(_rows(s, "hh-db"), [[rid, "completed", "t", "0"]])


def test_caller_gone_leaves_the_request_to_its_later_arrival(s):
    """The first arrival's caller hangs up after the call arrived again: its worker
    leaves the request pending (the later arrival waits on it), and the person's
    answer reaches the later arrival."""
    c = chat()
    register(s, "hh-gone", c)
    body = fixture("gemini-before-tool")
    hdr = {"X-Loopgate-Session": "hh-gone", "X-Loopgate-Wait": "60",
           "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    conn.request("POST", "/v1/hooks/gemini", body=body, headers=hdr)
    rid = request_of(s, "hh-gone")
    _, m, _ = sent(s, rid)
    later = Call(s, "gemini", body, "hh-gone", wait=60)
    wait_for(lambda: _rows(s, "hh-gone") == [[rid, "pending", "f", "1"]], 10, "the later arrival")
    conn.close()
    wait_for(lambda: "hook call left to its later arrival" in s.worker_log() and rid in
             s.worker_log(), 20, "the first arrival's worker to see its caller gone")
    eq(_rows(s, "hh-gone"), [[rid, "pending", "f", "1"]])
    press(s, c, m, OK + "Approve")
    eq(later.answer(), {"decision": "allow", "reason": "Approved by Ann (Loopgate)"})
    eq(_rows(s, "hh-gone"), [[rid, "completed", "t", "1"]])


def test_caller_gone_during_a_database_outage_cancels_the_request(s):
    """The agent hangs up while PostgreSQL is away: its worker keeps trying the
    cancel, and once the database is back the request ends canceled (its message
    says so); a press after it is answered as for a canceled request and records
    nothing: no answer is taken for a call nobody runs."""
    c = chat()
    register(s, "hh-dbgone", c)
    hdr = {"X-Loopgate-Session": "hh-dbgone", "X-Loopgate-Wait": "120",
           "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    conn.request("POST", "/v1/hooks/claude-code", body=fixture("claude-code-pre-tool-use"),
                 headers=hdr)
    rid = request_of(s, "hh-dbgone")
    _, m, rec = sent(s, rid)
    approve = [b["callback_data"] for row in rec["message"]["reply_markup"]["inline_keyboard"]
               for b in row if b["text"] == OK + "Approve"]
    eq(len(approve), 1, rec["message"]["reply_markup"])
    s.pg_ctl("stop", "fast")
    try:
        conn.close()
        wait_for(lambda: [l for l in s.worker_log().splitlines() if rid in l and
                          "its request could not be canceled; retrying" in l], 30,
                 "the worker to see its caller gone and retry the cancel")
        eq(s.worker_log().count("its request could not be canceled; left to"), 0)
    finally:
        s.pg_ctl("start")
    wait_for(lambda: _rows(s, "hh-dbgone") == [[rid, "canceled", "f", "0"]], 15,
             "the request to end canceled once the database is back")
    wait_for(lambda: "Canceled" in s.tg.messages[(c, m)]["text"], 15, "the cancel edit")
    ok("hook call abandoned: its request canceled once the database was back" in
       s.worker_log(), "the retried cancel logged")
    upd, st = s.tg.press_and_deliver(c, m, data=approve[0], first_name="Ann")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "This request was canceled.")
    eq(_rows(s, "hh-dbgone"), [[rid, "canceled", "f", "0"]])
    eq(s.sql("SELECT action FROM audit_log WHERE request_id = :'p1' ORDER BY id", rid),
       [["submitted"], ["canceled"], ["late_attempt"]])


def _lost(event, status=502):
    why = "Loopgate could not answer (nginx: %d); the call was not run" % status
    if event == "PreToolUse":
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                       "permissionDecision": "deny",
                                       "permissionDecisionReason": why}}
    return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
        "behavior": "deny", "message": why, "interrupt": False}}}


def test_lost_upstream_is_a_deny_of_the_call(s):
    """No worker answers: Claude Code gets the deny of its call's event (taken from
    the body), which ends that call only; `loopgate hook` sends the call again until
    a worker answers, and that call is asked and answered."""
    c = chat()
    register(s, "hh-lost", c)
    master = s.master_pid()
    os.kill(master, signal.SIGTERM)
    wait_for(lambda: subprocess.run(["kill", "-0", str(master)], capture_output=True).returncode
             != 0, 15, "the workers' master to exit")
    hdr = {"X-Loopgate-Session": "hh-lost", "Content-Type": "application/json"}
    try:
        pre, perm = fixture("claude-code-pre-tool-use"), fixture("claude-code-permission-request")
        # A PermissionRequest whose command names the other event: its quotes are escaped.
        tricky = json.loads(perm)
        tricky["tool_input"]["command"] = 'echo \'{"hook_event_name": "PreToolUse"}\''
        for body, event in ((pre, "PreToolUse"), (perm, "PermissionRequest"),
                            (json.dumps(tricky), "PermissionRequest")):
            r = s.request("POST", "/v1/hooks/claude-code", body=body, headers=hdr)
            eq((r.status, r.json), (200, _lost(event)), event)
            ok("continue" not in r.json, r.json)
        # The command hook, told not to send it again, passes the deny on.
        p = hook_cli(s, "claude-code", None, LOOPGATE_SESSION="hh-lost", LOOPGATE_RETRY="0")
        so, se = p.communicate(pre, timeout=30)
        eq((p.returncode, json.loads(so)), (0, _lost("PreToolUse")), se)
        # By default it sends the call again: the workers come back and the person answers.
        before = s.log_text().count("/v1/hooks/claude-code")
        p = hook_cli(s, "claude-code", None, LOOPGATE_SESSION="hh-lost", LOOPGATE_WAIT="60",
                     LOOPGATE_RETRY="90")
        out = {}
        t = threading.Thread(target=lambda: out.update(r=p.communicate(perm, timeout=120)),
                             daemon=True)
        t.start()
        wait_for(lambda: s.log_text().count("/v1/hooks/claude-code") >= before + 2, 15,
                 "the command hook to send the call again")
        eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'hh-lost'"), "0")
    finally:
        s.stop()
    s.start()
    rid = request_of(s, "hh-lost")
    _, m, _ = sent(s, rid)
    press(s, c, m, OK + "Approve")
    t.join(30)
    so, se = out["r"]
    eq(p.returncode, 0, se)
    eq(json.loads(so), {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                               "decision": {"behavior": "allow"}}})
    ok(b"sending the call again" in se, se)
    eq(len(_rows(s, "hh-lost")), 1)


def test_hook_call_survives_its_host(s):
    """Two hosts: the host holding a hook call is killed (SIGKILL), then, in a
    second round, stopped (SIGTERM: it answers the call 503 shutting_down). Each
    time nginx sends the call on to the other host, which waits on the same
    request, and the agent gets the person's answer from there; one request, asked
    once."""
    from hosts import Cluster

    with Cluster(s.binary, 2, fail_timeout=1) as c:
        for n, how in enumerate(("kill", "stop")):
            session = "hh-ha-%s" % how
            tg_chat = lg.chat()
            register(c, session, tg_chat)
            call = Call(c, "claude-code", fixture("claude-code-pre-tool-use"), session, wait=120)
            rid = request_of(c, session)
            _, m, _ = sent(c, rid, 60)
            wait_for(lambda: sum(h.metric("loopgate_waiting_polls") or 0 for h in c.hosts) == 1,
                     15, "the call to wait on a host")
            holder = [h for h in c.hosts if (h.metric("loopgate_waiting_polls") or 0) == 1][0]
            other = [h for h in c.hosts if h is not holder][0]
            if how == "kill":
                c.kill(holder.i)
            else:
                c._stop_host(holder)
            wait_for(lambda: (other.metric("loopgate_waiting_polls") or 0) == 1, 15,
                     "the call to wait on the other host")
            eq(c.sql("SELECT status, hook_attach FROM requests WHERE session_id = :'p1'",
                     session), [["pending", "1"]])
            ok(call.resp is None, "the agent still waits (%s)" % how)
            upd = c.tg.press(tg_chat, m, button_text=OK + "Approve", first_name="Ann")
            # Telegram's update may meet the gone host first (a POST nginx does not pass
            # on: 502), and is delivered again, as Telegram does.
            eq(c.tg.deliver(upd, deadline=20)[-1], 200)
            eq(call.answer(60), ALLOW_PRE)
            eq(c.sql("SELECT id, status, approved FROM requests WHERE session_id = :'p1'",
                     session), [[rid, "completed", "t"]])
            eq(_submitted(c, rid), "1")
            c.start(holder.i)
            wait_for(lambda: holder.get("/readyz", timeout=5).status == 200, 30,
                     "host %d to be ready again" % holder.i)
            # nginx leaves a host out for fail_timeout after its failure: with it still
            # out, the next round's 503 would find no host to go on to (502, a deny).
            wait_for(lambda: c.which(c.get("/readyz", timeout=5)) is holder, 30,
                     "nginx to send requests to host %d again" % holder.i)


test_hook_call_survives_its_host.ha = True
