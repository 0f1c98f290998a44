"""Votes and quorum (issue 15, items 1 and 2), end to end through the Bot API
stand-in: every press or typed answer is a vote; a request that needs N
approvals stays pending, its message showing the progress, until N distinct
approvers approved; a denial vetoes unless deny_vetoes is false; a second
vote by the same person is answered "already voted" and counts once. The
votes are on the wire (poll, pending, webhook, MCP result) and in the
database."""
import threading

from hookrecv import Receiver, verify
from lg import chat, eq, ok, error_is, wait_for
from test_07_telegram import ASK, OK, NO, register, submit, sent, poll, buttons, answers_for
from test_08_waiting import long_poll
from test_09_mcp import initialize, call, result_of, rpc

ANN, BOB, CID = 401, 402, 403


def votes_rows(s, rid):
    return s.sql("SELECT person, user_id, name, channel, approve, response, reason IS NULL,"
                 " params IS NULL FROM votes WHERE request_id = :'p1' ORDER BY created_at", rid)


def request_row(s, rid):
    return s.sql("SELECT status, approved, response, responder_id, approvals_required,"
                 " deny_vetoes FROM requests WHERE id = :'p1'", rid)[0]


def press(s, c, m, label, user, name):
    upd, st = s.tg.press_and_deliver(c, m, button_text=label, user_id=user, first_name=name)
    eq(st, [200])
    return answers_for(s, upd)["text"]


def test_two_of_three_quorum(s):
    c = chat()
    register(s, "votes-q", c, approvers=[ANN, BOB, CID])
    rid = submit(s, "votes-q", options=["Approve", "Reject"], approvals_required=2)
    _, m, rec = sent(s, rid)
    ok("0 of 2 approvals" in rec["text"], rec["text"])
    eq(buttons(rec), [OK + "Approve", NO + "Reject", ASK])
    data = rec["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    # One approval: still pending, and the message, edited for everyone, says who approved.
    eq(press(s, c, m, OK + "Approve", ANN, "Ann"), "Recorded: Approve. 1 of 2 approvals.")
    wait_for(lambda: "1 of 2 approvals: Ann" in s.tg.messages[(c, m)]["text"], 10,
             "the progress edit")
    eq(buttons(s.tg.messages[(c, m)]), [OK + "Approve", NO + "Reject", ASK])
    p = poll(s, rid)
    eq((p["status"], p["completed"], p["approvals"], p["approvals_required"]),
       ("pending", False, 1, 2))
    eq([(v["responder"], v["channel"], v["approve"], v["response"], v["reason"])
        for v in p["votes"]], [({"id": ANN, "name": "Ann"}, "telegram", True, "Approve", None)])
    ok(p["votes"][0]["at"].endswith("Z"), p["votes"][0])
    eq(request_row(s, rid), ["pending", "f", "", "", "2", "t"])
    # The same person again: answered "already voted", counted once, nothing changes.
    eq(press(s, c, m, OK + "Approve", ANN, "Ann"), "You already voted on this request.")
    eq(press(s, c, m, NO + "Reject", ANN, "Ann"), "You already voted on this request.")
    eq(poll(s, rid)["approvals"], 1)
    eq(s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'", rid), "1")
    # The pending list shows the progress too.
    pend = [x for x in s.get("/hitl/pending?session_id=votes-q").json["pending_requests"]
            if x["id"] == rid][0]
    eq((pend["approvals"], pend["approvals_required"], len(pend["votes"])), (1, 2, 1))
    # A second approver approves it.
    eq(press(s, c, m, OK + "Approve", BOB, "Bob"), "Recorded: Approve")
    r, _ = long_poll(s, rid, 10)
    p = r.json
    eq((p["status"], p["approved"], p["response"], p["approvals"], p["approvals_required"]),
       ("completed", True, "Approve", 2, 2))
    eq(p["responder"], {"id": BOB, "name": "Bob"})
    eq([v["responder"]["name"] for v in p["votes"]], ["Ann", "Bob"])
    wait_for(lambda: "Approved" in s.tg.messages[(c, m)]["text"], 10, "the decision edit")
    ok("by Ann, Bob" in s.tg.messages[(c, m)]["text"], s.tg.messages[(c, m)]["text"])
    eq(buttons(s.tg.messages[(c, m)]), [])
    eq(votes_rows(s, rid), [["telegram:%d" % ANN, str(ANN), "Ann", "telegram", "t", "Approve", "t", "t"],
                            ["telegram:%d" % BOB, str(BOB), "Bob", "telegram", "t", "Approve", "t", "t"]])
    eq(request_row(s, rid), ["completed", "t", "Approve", str(BOB), "2", "t"])
    eq(s.sql("SELECT action, actor FROM audit_log WHERE request_id = :'p1' AND action <> 'submitted'"
             " ORDER BY id", rid),
       [["voted", "telegram:%d" % ANN], ["already_voted", "telegram:%d" % ANN],
        ["already_voted", "telegram:%d" % ANN], ["decided", "telegram:%d" % BOB]])
    # The third approver is late: the request was answered.
    upd, _ = s.tg.press_and_deliver(c, m, data=data, user_id=CID, first_name="Cid")
    eq(answers_for(s, upd)["text"], "This request was already answered by Bob.")
    eq(s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'", rid), "2")


def test_a_deny_vetoes(s):
    c = chat()
    register(s, "votes-veto", c, approvers=[ANN, BOB, CID])
    rid = submit(s, "votes-veto", options=["Approve", "Reject"], approvals_required=2)
    _, m, _ = sent(s, rid)
    press(s, c, m, OK + "Approve", ANN, "Ann")
    eq(press(s, c, m, NO + "Reject", BOB, "Bob"), "Recorded: Reject")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"], p["approvals"]),
       ("completed", False, "Reject", 1))
    eq([(v["responder"]["id"], v["approve"]) for v in p["votes"]], [(ANN, True), (BOB, False)])
    eq(request_row(s, rid)[:3], ["completed", "f", "Reject"])
    wait_for(lambda: "Denied" in s.tg.messages[(c, m)]["text"], 10, "the decision edit")


def test_deny_vetoes_false_takes_as_many_denials(s):
    c = chat()
    register(s, "votes-noveto", c, approvers=[ANN, BOB, CID])
    rid = submit(s, "votes-noveto", options=["Approve", "Reject"], approvals_required=2,
                 deny_vetoes=False)
    _, m, _ = sent(s, rid)
    eq(press(s, c, m, NO + "Reject", ANN, "Ann"),
       "Recorded: Reject. 0 of 2 approvals, 1 of 2 denials to deny.")
    wait_for(lambda: "1 of 2 denials: Ann" in s.tg.messages[(c, m)]["text"], 10, "the progress edit")
    eq(poll(s, rid)["status"], "pending")
    eq(request_row(s, rid), ["pending", "f", "", "", "2", "f"])
    press(s, c, m, OK + "Approve", BOB, "Bob")
    eq(poll(s, rid)["status"], "pending")
    press(s, c, m, NO + "Reject", CID, "Cid")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["approvals"], len(p["votes"])), ("completed", False, 1, 3))


def test_single_approval_unchanged_and_votes_recorded(s):
    c = chat()
    register(s, "votes-one", c)
    rid = submit(s, "votes-one", options=["Yes", "No"])
    _, m, rec = sent(s, rid)
    ok("approvals" not in rec["text"], rec["text"])
    upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Yes")
    eq(answers_for(s, upd)["text"], "Recorded: Yes")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["approvals"], p["approvals_required"]),
       ("completed", True, 1, 1))
    eq(votes_rows(s, rid), [["telegram:%d" % c, str(c), "Ann", "telegram", "t", "Yes", "t", "t"]])
    # A typed answer is a vote too.
    rid = submit(s, "votes-one", "Which branch?")
    _, m, _ = sent(s, rid)
    s.tg.reply_and_deliver(c, m, "main")
    eq(poll(s, rid)["response"], "main")
    eq(s.sql("SELECT approve, response FROM votes WHERE request_id = :'p1'", rid), [["f", "main"]])


def test_typed_answers_vote(s):
    c = chat()
    register(s, "votes-typed", c, approvers=[ANN, BOB])
    rid = submit(s, "votes-typed", "Approve the migration?", request_type="input",
                 approvals_required=2)
    _, m, rec = sent(s, rid)
    eq(rec["reply_markup"].get("force_reply"), True)
    s.tg.reply_and_deliver(c, m, "yes", user_id=ANN, first_name="Ann")
    wait_for(lambda: any("1 of 2 approvals" in x["text"] for x in s.tg.sent_messages(c)), 10,
             "the reply to a vote that did not decide")
    s.tg.reply_and_deliver(c, m, "approve", user_id=ANN, first_name="Ann")
    wait_for(lambda: any("already voted" in x["text"] for x in s.tg.sent_messages(c)), 10,
             "already voted")
    eq(poll(s, rid)["status"], "pending")
    s.tg.reply_and_deliver(c, m, "yes", user_id=BOB, first_name="Bob")
    p = wait_for(lambda: (lambda p: p if p["status"] != "pending" else None)(poll(s, rid)), 10,
                 "the second typed vote deciding")
    eq((p["status"], p["approved"], p["approvals"]), ("completed", True, 2))


def test_votes_in_webhook_and_mcp(s):
    rec = Receiver()
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        c = chat()
        register(s, "votes-hook", c, approvers=[ANN, BOB])
        rid = submit(s, "votes-hook", options=["Approve", "Reject"], approvals_required=2,
                     callback_url=rec.url)
        _, m, _ = sent(s, rid)
        press(s, c, m, OK + "Approve", ANN, "Ann")
        press(s, c, m, OK + "Approve", BOB, "Bob")
        body = verify(rec.wait_calls(1)[0], secret)
        eq((body["status"], body["approved"], body["approvals"], body["approvals_required"]),
           ("completed", True, 2, 2))
        eq([(v["responder"], v["approve"], v["response"], v["channel"]) for v in body["votes"]],
           [({"id": ANN, "name": "Ann"}, True, "Approve", "telegram"),
            ({"id": BOB, "name": "Bob"}, True, "Approve", "telegram")])
    finally:
        rec.stop()
    # MCP: the tool takes the quorum and returns the votes.
    sid, _ = initialize(s)
    register(s, "mcp", c, approvers=[ANN, BOB])
    tools = result_of(rpc(s, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, sid))
    tool = [t for t in tools["result"]["tools"] if t["name"] == "request_human_input"][0]
    ok("approvals_required" in tool["inputSchema"]["properties"], tool["inputSchema"])
    ok("deny_vetoes" in tool["inputSchema"]["properties"], tool["inputSchema"])
    for k in ("votes", "approvals", "approvals_required"):
        ok(k in tool["outputSchema"]["properties"], tool["outputSchema"])
    box = {}
    t = threading.Thread(target=lambda: box.update(r=call(
        s, sid, "request_human_input", {"message": "Two keys?", "options": ["Ship", "Hold"],
                                        "approvals_required": 2, "wait_seconds": 30})))
    t.start()
    rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = 'mcp'"
                                    " AND message = 'Two keys?'"), 10)
    _, m, _ = sent(s, rid)
    press(s, c, m, OK + "Ship", ANN, "Ann")
    press(s, c, m, OK + "Ship", BOB, "Bob")
    t.join(30)
    sc = result_of(box["r"])["result"]["structuredContent"]
    eq((sc["status"], sc["approved"], sc["approvals"], sc["approvals_required"]),
       ("completed", True, 2, 2))
    eq([v["responder"]["id"] for v in sc["votes"]], [ANN, BOB])
    # The quorum is checked against the session for MCP too.
    bad = result_of(call(s, sid, "request_human_input", {"message": "x", "approvals_required": 3,
                                                         "wait_seconds": 0}))["result"]
    eq(bad["isError"], True)
    ok("approvals_required" in bad["content"][0]["text"], bad)


def test_quorum_validation(s):
    c = chat()
    register(s, "votes-val", c, approvers=[ANN, BOB])
    register(s, "votes-none", chat())
    base = {"session_id": "votes-val", "client_id": "agent", "message": "m"}
    for v, why in (("2", "an integer"), (2.5, "an integer"), (True, "an integer"),
                   (0, "1-10"), (11, "1-10"), (-1, "1-10")):
        error_is(s.post("/hitl/request", dict(base, approvals_required=v)), 400, "invalid_field",
                 "approvals_required")
        ok(why in s.post("/hitl/request", dict(base, approvals_required=v)).json["error"]["message"],
           why)
    error_is(s.post("/hitl/request", dict(base, deny_vetoes="no")), 400, "invalid_field",
             "deny_vetoes")
    # More than the session's approvers.
    error_is(s.post("/hitl/request", dict(base, approvals_required=3)), 400, "invalid_field",
             "approvals_required")
    error_is(s.post("/hitl/request", dict(base, session_id="votes-none", approvals_required=2)),
             400, "invalid_field", "approvals_required")
    # The same approver listed twice is one approver.
    register(s, "votes-twice", chat(), approvers=[ANN, ANN])
    error_is(s.post("/hitl/request", dict(base, session_id="votes-twice", approvals_required=2)),
             400, "invalid_field", "approvals_required")
    # A timeout cannot stand in for a quorum.
    error_is(s.post("/hitl/request", dict(base, approvals_required=2, on_timeout="approve",
                                              options=["Yes", "No"])),
             400, "invalid_field", "approvals_required")
    eq(s.scalar("SELECT count(*) FROM requests"
                " WHERE session_id IN ('votes-val', 'votes-none', 'votes-twice')"), "0")
    # Exactly as many as the session lists, and the defaults.
    r = s.post("/hitl/request", dict(base, approvals_required=2, deny_vetoes=False))
    eq(r.status, 200, repr(r))
    eq(request_row(s, r.json["request_id"])[4:], ["2", "f"])
    r = s.post("/hitl/request", dict(base, approvals_required=None))
    eq(r.status, 200, repr(r))
    eq(request_row(s, r.json["request_id"])[4:], ["1", "t"])


def test_quick_votes_share_one_progress_edit(s):
    """Votes that come while a progress edit still waits for the group's
    pace add none of their own: the waiting edit shows the row as it is
    when it goes out."""
    c = -chat()
    register(s, "votes-quick", c, approvers=[ANN, BOB, CID])
    rid = submit(s, "votes-quick", options=["Approve", "Reject"], approvals_required=3)
    _, m, _ = sent(s, rid)
    # The group's pace holds the first edit for seconds after the message itself.
    eq(press(s, c, m, OK + "Approve", ANN, "Ann"), "Recorded: Approve. 1 of 3 approvals.")
    eq(press(s, c, m, OK + "Approve", BOB, "Bob"), "Recorded: Approve. 2 of 3 approvals.")
    eq(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1' AND kind = 'tg_edit'", rid),
       "1", "one progress edit for two quick votes")
    wait_for(lambda: "2 of 3 approvals: Ann, Bob" in s.tg.messages[(c, m)]["text"], 20,
             "the progress edit with both votes")


def test_ended_quorum_shows_its_votes(s):
    """A quorum request that times out or is canceled after some votes: the
    final edit of its message still says who had voted."""
    c = chat()
    register(s, "votes-ended", c, approvers=[ANN, BOB, CID])
    for end in ("cancel", "timeout"):
        extra = {"timeout_seconds": 3} if end == "timeout" else {}
        rid = submit(s, "votes-ended", options=["Approve", "Reject"], approvals_required=2, **extra)
        _, m, _ = sent(s, rid)
        press(s, c, m, OK + "Approve", ANN, "Ann")
        if end == "cancel":
            eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
            word = "Canceled"
        else:
            word = "Timed out"
        wait_for(lambda: word in s.tg.messages[(c, m)]["text"], 15, "the %s edit" % end)
        text = s.tg.messages[(c, m)]["text"]
        ok("1 of 2 approvals: Ann" in text and "One denial" not in text, text)
        eq(buttons(s.tg.messages[(c, m)]), [])
