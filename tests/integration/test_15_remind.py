"""Reminders and escalation (issue 15, item 5), end to end through the Bot API
stand-in: a request still pending at remind_after_seconds is reminded once,
a reply to its message in its chat ("Reminder: waiting 2 s"); one still
pending at escalate_after_seconds is also sent, with its buttons, to the chat
of the session escalate_to, whose approvers may decide there; every edit
(progress, decision, timeout, cancel) is made to both messages. A decided,
expired or canceled request is never reminded or escalated. `reminders` and
`escalated` are on the wire; the sessions' defaults apply to submits that
name none."""
import json
import re
import threading

from hookrecv import Receiver
from lg import chat, eq, ok, error_is, wait_for
from test_07_telegram import OK, NO, ASK, register, submit, sent, poll, buttons, answers_for
from test_09_mcp import initialize, call, result_of, rpc

ANN, BOB, CID = 601, 602, 603


def replies_to(s, c, m):
    """Messages the bot sent to chat `c` as replies to message `m`."""
    return [x for x in s.tg.sent_messages(c)
            if (x.get("reply_to_message") or {}).get("message_id") == m]


def escalation(s, rid, timeout=15):
    """Wait for the request's escalation message; (chat, message_id, stub record)."""
    row = wait_for(lambda: s.sql("SELECT esc_chat_id, esc_message_id FROM requests"
                                 " WHERE id = :'p1' AND esc_message_id IS NOT NULL", rid),
                   timeout, "request %s to be escalated" % rid)
    c, m = int(row[0][0]), int(row[0][1])
    return c, m, s.tg.messages[(c, m)]


def actions(s, rid):
    return [r[0] for r in s.sql("SELECT action FROM audit_log WHERE request_id = :'p1'"
                                " ORDER BY seq", rid)]


def test_one_reminder_as_a_reply(s):
    c = chat()
    register(s, "remind-a", c)
    rid = submit(s, "remind-a", options=["Approve", "Reject"], remind_after_seconds=2,
                 timeout_seconds=60)
    _, m, _ = sent(s, rid)
    eq((poll(s, rid)["reminders"], poll(s, rid)["escalated"]), (0, False))
    got = wait_for(lambda: replies_to(s, c, m), 15, "the reminder")
    ok(re.fullmatch(r"Reminder: waiting [2-9] s", got[0]["text"]), got[0]["text"])
    # Over the wire: a sendMessage replying to the request's message in its chat.
    call_ = [x for x in s.tg.calls_of("sendMessage") if x["status"] == 200
             and x["response"]["result"]["message_id"] == got[0]["message_id"]
             and x["response"]["result"]["chat"]["id"] == c][0]
    eq(call_["params"]["reply_parameters"]["message_id"], m)
    # Once: the due time is cleared in the statement that queued it, and the count is 1.
    eq(s.sql("SELECT reminders, remind_at IS NULL, remind_after_seconds FROM requests"
             " WHERE id = :'p1'", rid), [["1", "t", "2"]])
    eq(poll(s, rid)["reminders"], 1)
    pend = [x for x in s.get("/hitl/pending?session_id=remind-a").json["pending_requests"]
            if x["id"] == rid][0]
    eq((pend["reminders"], pend["escalated"]), (1, False))
    eq(actions(s, rid), ["submitted", "reminded"])
    detail = json.loads(s.scalar("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                                 " AND action = 'reminded'", rid))
    eq((detail["reminder"], detail["chat_id"]), (1, c))
    # A later reminder of another request went out: the first was not sent again.
    rid2 = submit(s, "remind-a", remind_after_seconds=2, timeout_seconds=60)
    _, m2, _ = sent(s, rid2)
    wait_for(lambda: replies_to(s, c, m2), 15, "the second request's reminder")
    eq(len(replies_to(s, c, m)), 1)
    eq(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1' AND kind = 'tg_text'", rid),
       "1")
    # The person answers after the reminder: decided as ever.
    upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Approve")
    eq(answers_for(s, upd)["text"], "Recorded: Approve")
    eq(poll(s, rid)["status"], "completed")


def test_decided_before_the_reminder_is_never_reminded(s):
    c = chat()
    register(s, "remind-b", c)
    rid = submit(s, "remind-b", options=["Approve", "Reject"], remind_after_seconds=1,
                 timeout_seconds=60)
    _, m, _ = sent(s, rid)
    upd, _ = s.tg.press_and_deliver(c, m, button_text=NO + "Reject")
    eq(answers_for(s, upd)["text"], "Recorded: Reject")
    # A request submitted after it, reminded after the same wait, proves the loop went past it.
    rid2 = submit(s, "remind-b", remind_after_seconds=1, timeout_seconds=60)
    _, m2, _ = sent(s, rid2)
    wait_for(lambda: replies_to(s, c, m2), 15, "the later reminder")
    eq([x["text"] for x in replies_to(s, c, m)], [])
    eq(s.sql("SELECT reminders FROM requests WHERE id = :'p1'", rid), [["0"]])
    eq(poll(s, rid)["reminders"], 0)
    ok("reminded" not in actions(s, rid), actions(s, rid))


def test_escalation_decided_in_the_second_chat(s):
    rec = Receiver()
    try:
        c1, c2 = chat(), chat()
        register(s, "esc-a", c1, approvers=[ANN, CID])
        register(s, "esc-boss", c2, approvers=[BOB])
        rid = submit(s, "esc-a", options=["Approve", "Reject"], approvals_required=2,
                     escalate_after_seconds=2, escalate_to="esc-boss", timeout_seconds=60,
                     callback_url=rec.url)
        _, m1, msg1 = sent(s, rid)
        eq(poll(s, rid)["escalated"], False)
        ec, em, emsg = escalation(s, rid)
        eq(ec, c2)
        # The same request, the same buttons (the same callback data), in the boss's chat.
        eq(emsg["text"], msg1["text"])
        eq(buttons(emsg), [OK + "Approve", NO + "Reject", ASK])
        eq(emsg["reply_markup"], msg1["reply_markup"])
        # And a note replying to it says why it came.
        note = wait_for(lambda: replies_to(s, c2, em), 10, "the escalation note")
        ok(re.fullmatch(r"Escalated: no decision after [2-9] s", note[0]["text"]), note[0]["text"])
        p = poll(s, rid)
        eq((p["escalated"], p["status"]), (True, "pending"))
        eq(actions(s, rid), ["submitted", "escalated"])
        # The boss's /pending lists it.
        before = len(s.tg.sent_messages(c2))
        s.tg.command_and_deliver(c2, "/pending", user_id=BOB, first_name="Bob")
        listed = wait_for(lambda: s.tg.sent_messages(c2)[before:], 10, "the /pending answer")
        ok(rid in listed[0]["text"], listed[0]["text"])
        detail = json.loads(s.scalar("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                                     " AND action = 'escalated'", rid))
        eq((detail["escalate_to"], detail["chat_id"]), ("esc-boss", c2))
        # Someone in neither session may not decide on the escalation message.
        upd, _ = s.tg.press_and_deliver(c2, em, button_text=OK + "Approve", user_id=7777,
                                        first_name="Eve")
        eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")
        # Ann approves on the original: the progress shows on both messages.
        upd, _ = s.tg.press_and_deliver(c1, m1, button_text=OK + "Approve", user_id=ANN,
                                        first_name="Ann")
        eq(answers_for(s, upd)["text"], "Recorded: Approve. 1 of 2 approvals.")
        wait_for(lambda: "1 of 2 approvals: Ann" in s.tg.messages[(c1, m1)]["text"], 10,
                 "the progress edit of the original")
        wait_for(lambda: "1 of 2 approvals: Ann" in s.tg.messages[(c2, em)]["text"], 10,
                 "the progress edit of the escalation message")
        # Bob, the escalation session's approver, approves on the escalation message.
        upd, _ = s.tg.press_and_deliver(c2, em, button_text=OK + "Approve", user_id=BOB,
                                        first_name="Bob")
        eq(answers_for(s, upd)["text"], "Recorded: Approve")
        p = poll(s, rid)
        eq((p["status"], p["approved"], p["approvals"], p["escalated"], p["reminders"]),
           ("completed", True, 2, True, 0))
        eq([v["responder"]["name"] for v in p["votes"]], ["Ann", "Bob"])
        for ch, mid in ((c1, m1), (c2, em)):
            wait_for(lambda: "Approved" in s.tg.messages[(ch, mid)]["text"], 10,
                     "the decision edit of message %d in chat %d" % (mid, ch))
            eq(buttons(s.tg.messages[(ch, mid)]), [])
        eq(s.sql("SELECT status, escalated_at IS NOT NULL, esc_chat_id, escalate_to"
                 " FROM requests WHERE id = :'p1'", rid), [["completed", "t", str(c2), "esc-boss"]])
        eq(actions(s, rid), ["submitted", "escalated", "unauthorized_attempt", "voted", "decided"])
        eq(s.scalar("SELECT actor FROM audit_log WHERE request_id = :'p1' AND action = 'decided'",
                    rid), "telegram:%d" % BOB)
        # The webhook body carries them too.
        body = json.loads(rec.wait_calls(1)[0]["body"])
        eq((body["request_id"], body["escalated"], body["reminders"]), (rid, True, 0))
    finally:
        rec.stop()


def test_reply_to_the_escalation_message_answers_an_input_request(s):
    c1, c2 = chat(), chat()
    register(s, "esc-in", c1)
    register(s, "esc-in-boss", c2)
    rid = submit(s, "esc-in", "Which branch?", escalate_after_seconds=1,
                 escalate_to="esc-in-boss", timeout_seconds=60)
    _, m1, _ = sent(s, rid)
    ec, em, _ = escalation(s, rid)
    # The boss's private chat: its user may answer, there.
    s.tg.reply_and_deliver(c2, em, "main", user_id=c2, first_name="Boss")
    wait_for(lambda: poll(s, rid)["status"] == "completed", 10, "the answer")
    eq(poll(s, rid)["response"], "main")
    for ch, mid in ((c1, m1), (c2, em)):
        wait_for(lambda: s.tg.messages[(ch, mid)]["edits"] > 0, 10, "the final edit")


def test_decided_before_escalation_is_never_escalated(s):
    c1, c2 = chat(), chat()
    register(s, "esc-b", c1)
    register(s, "esc-b-boss", c2)
    rid = submit(s, "esc-b", options=["Approve", "Reject"], escalate_after_seconds=1,
                 escalate_to="esc-b-boss", timeout_seconds=60)
    _, m, _ = sent(s, rid)
    upd, _ = s.tg.press_and_deliver(c1, m, button_text=OK + "Approve")
    eq(answers_for(s, upd)["text"], "Recorded: Approve")
    # A later request escalated after the same wait: the loop went past the first.
    rid2 = submit(s, "esc-b", escalate_after_seconds=1, escalate_to="esc-b-boss",
                  timeout_seconds=60)
    _, em2, _ = escalation(s, rid2)
    wait_for(lambda: replies_to(s, c2, em2), 10, "the later escalation's note")
    eq([x["message_id"] for x in s.tg.sent_messages(c2) if not x.get("reply_to_message")], [em2])
    eq(s.sql("SELECT escalated_at IS NULL, esc_message_id IS NULL FROM requests"
             " WHERE id = :'p1'", rid), [["t", "t"]])
    eq(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1' AND kind = 'tg_escalate'",
                rid), "0")
    eq(poll(s, rid)["escalated"], False)
    ok("escalated" not in actions(s, rid), actions(s, rid))


def test_expiry_wins_and_edits_both_messages(s):
    c1, c2 = chat(), chat()
    register(s, "esc-t", c1)
    register(s, "esc-t-boss", c2)
    # Escalated, then timed out: the timeout shows on both messages.
    rid = submit(s, "esc-t", options=["Approve", "Reject"], escalate_after_seconds=1,
                 escalate_to="esc-t-boss", timeout_seconds=4)
    _, m1, _ = sent(s, rid)
    _, em, _ = escalation(s, rid)
    wait_for(lambda: poll(s, rid)["status"] == "timeout", 15, "the timeout")
    for ch, mid in ((c1, m1), (c2, em)):
        wait_for(lambda: "timed out" in s.tg.messages[(ch, mid)]["text"].lower(), 10,
                 "the timeout edit of message %d" % mid)
        eq(buttons(s.tg.messages[(ch, mid)]), [])
    # Due at the moment it expires: the timeout comes first, and no escalation follows.
    # (A long timeout first, so the message is sent even on a loaded machine;
    # then expiry, escalation and reminder all due one second from now.)
    rid2 = submit(s, "esc-t", options=["Approve", "Reject"], escalate_after_seconds=50,
                  remind_after_seconds=50, escalate_to="esc-t-boss", timeout_seconds=60)
    _, m2, _ = sent(s, rid2)
    s.sql("UPDATE requests SET expires_at = now() + interval '1 second',"
          " escalate_at = now() + interval '1 second', remind_at = now() + interval '1 second'"
          " WHERE id = :'p1'", rid2)
    wait_for(lambda: poll(s, rid2)["status"] == "timeout", 15, "the second timeout")
    rid3 = submit(s, "esc-t", escalate_after_seconds=1, escalate_to="esc-t-boss",
                  timeout_seconds=60)
    escalation(s, rid3)
    eq(s.sql("SELECT status, escalated_at IS NULL, reminders FROM requests WHERE id = :'p1'", rid2),
       [["timeout", "t", "0"]])
    eq(actions(s, rid2), ["submitted", "timed_out"])
    eq(replies_to(s, c1, m2), [])


def test_cancel_edits_both_messages(s):
    c1, c2 = chat(), chat()
    register(s, "esc-c", c1)
    register(s, "esc-c-boss", c2)
    rid = submit(s, "esc-c", options=["Approve", "Reject"], escalate_after_seconds=1,
                 escalate_to="esc-c-boss", timeout_seconds=60)
    _, m1, _ = sent(s, rid)
    _, em, _ = escalation(s, rid)
    eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    for ch, mid in ((c1, m1), (c2, em)):
        wait_for(lambda: buttons(s.tg.messages[(ch, mid)]) == [], 10,
                 "the cancel edit of message %d" % mid)


def test_escalation_to_a_session_gone_by_then(s):
    c1, c2 = chat(), chat()
    register(s, "esc-gone", c1)
    register(s, "esc-gone-boss", c2)
    rid = submit(s, "esc-gone", escalate_after_seconds=1, escalate_to="esc-gone-boss",
                 timeout_seconds=60)
    sent(s, rid)
    eq(s.post("/hitl/deactivate", {"session_id": "esc-gone-boss"}).status, 200)
    wait_for(lambda: "escalation_failed" in actions(s, rid), 15, "the failed escalation")
    detail = json.loads(s.scalar("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                                 " AND action = 'escalation_failed'", rid))
    eq(detail["reason"], "session deactivated")
    eq(poll(s, rid)["escalated"], False)
    eq(len(s.tg.sent_messages(c2)), 0)


def test_bad_fields(s):
    c = chat()
    register(s, "nudge-bad", c)
    register(s, "nudge-bad-boss", chat())
    register(s, "nudge-bad-off", chat())
    eq(s.post("/hitl/deactivate", {"session_id": "nudge-bad-off"}).status, 200)
    base = {"session_id": "nudge-bad", "client_id": "agent", "message": "Go?",
            "timeout_seconds": 60}
    cases = [
        ({"remind_after_seconds": "60"}, "invalid_field", "remind_after_seconds"),
        ({"remind_after_seconds": -1}, "invalid_field", "remind_after_seconds"),
        ({"remind_after_seconds": 1.5}, "invalid_field", "remind_after_seconds"),
        ({"remind_after_seconds": 60}, "invalid_field", "remind_after_seconds"),
        ({"remind_after_seconds": 86401, "timeout_seconds": 86400}, "invalid_field",
         "remind_after_seconds"),
        ({"escalate_after_seconds": 10}, "missing_field", "escalate_to"),
        ({"escalate_to": "nudge-bad-boss"}, "missing_field", "escalate_after_seconds"),
        ({"escalate_to": "nudge-bad-boss", "escalate_after_seconds": 60}, "invalid_field",
         "escalate_after_seconds"),
        ({"escalate_to": "nudge-bad-boss", "escalate_after_seconds": -1}, "invalid_field",
         "escalate_after_seconds"),
        ({"escalate_to": 5, "escalate_after_seconds": 10}, "invalid_field", "escalate_to"),
        ({"escalate_to": "nudge-bad", "escalate_after_seconds": 10}, "invalid_field",
         "escalate_to"),
        ({"escalate_to": "nobody", "escalate_after_seconds": 10}, "invalid_field",
         "escalate_to"),
        ({"escalate_to": "nudge-bad-off", "escalate_after_seconds": 10}, "invalid_field",
         "escalate_to"),
    ]
    for extra, code, field in cases:
        body = dict(base, **extra)
        error_is(s.post("/hitl/request", body), 400, code, field)
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'nudge-bad'"), "0")
    # Register: the same checks, and an escalation to itself.
    reg = {"session_id": "nudge-bad", "client_id": "agent", "telegram_id": c}
    error_is(s.post("/hitl/register", dict(reg, escalate_to="nudge-bad",
                                           escalate_after_seconds=10)), 400, "invalid_field",
             "escalate_to")
    error_is(s.post("/hitl/register", dict(reg, remind_after_seconds=-5)), 400, "invalid_field",
             "remind_after_seconds")
    error_is(s.post("/hitl/register", dict(reg, escalate_after_seconds=10)), 400,
             "missing_field", "escalate_to")
    # Without the new fields a request is as before.
    r = s.post("/hitl/request", base)
    eq(r.status, 200)
    eq(s.sql("SELECT remind_at IS NULL, escalate_at IS NULL, remind_after_seconds IS NULL,"
             " escalate_to IS NULL FROM requests WHERE id = :'p1'", r.json["request_id"]),
       [["t", "t", "t", "t"]])


def test_register_defaults(s):
    c1, c2 = chat(), chat()
    # A default escalate_to must name an active session of the tenant, as a submit's must.
    other = {"X-API-Key": s.new_key("dflt-other")}
    eq(s.post("/hitl/register", {"session_id": "dflt-boss", "client_id": "agent",
                                 "telegram_id": c2}, headers=other).status, 200)
    before = s.counts()
    for target in ("dflt-boss", "nope"):
        r = s.post("/hitl/register", {"session_id": "dflt", "client_id": "agent",
                                      "telegram_id": c1, "escalate_after_seconds": 2,
                                      "escalate_to": target})
        error_is(r, 400, "invalid_field")
        ok("escalate_to names no active session" in r.json["error"]["message"], r.json)
    eq(s.counts(), before, "nothing written")
    register(s, "dflt-boss", c2)
    r = s.post("/hitl/register", {"session_id": "dflt", "client_id": "agent", "telegram_id": c1,
                                  "remind_after_seconds": 1, "escalate_after_seconds": 2,
                                  "escalate_to": "dflt-boss"})
    eq(r.status, 200)
    eq((r.json["remind_after_seconds"], r.json["escalate_after_seconds"], r.json["escalate_to"]),
       (1, 2, "dflt-boss"))
    st = s.get("/hitl/status?session_id=dflt").json
    eq((st["remind_after_seconds"], st["escalate_after_seconds"], st["escalate_to"]),
       (1, 2, "dflt-boss"))
    eq(s.sql("SELECT remind_after_seconds, escalate_after_seconds, escalate_to FROM sessions"
             " WHERE session_id = 'dflt'"), [["1", "2", "dflt-boss"]])
    # A submit that names none gets the session's: reminded, then escalated.
    rid = submit(s, "dflt", options=["Approve", "Reject"], timeout_seconds=60)
    _, m, _ = sent(s, rid)
    eq(s.sql("SELECT remind_after_seconds, escalate_after_seconds, escalate_to FROM requests"
             " WHERE id = :'p1'", rid), [["1", "2", "dflt-boss"]])
    wait_for(lambda: replies_to(s, c1, m), 15, "the reminder")
    escalation(s, rid)
    p = poll(s, rid)
    eq((p["reminders"], p["escalated"]), (1, True))
    # A submit's own value wins.
    rid = submit(s, "dflt", remind_after_seconds=30, timeout_seconds=60)
    eq(s.sql("SELECT remind_after_seconds, escalate_after_seconds FROM requests"
             " WHERE id = :'p1'", rid), [["30", "2"]])
    # 0 opts a request out of the session's defaults.
    rid = submit(s, "dflt", remind_after_seconds=0, escalate_after_seconds=0, timeout_seconds=60)
    eq(s.sql("SELECT remind_after_seconds IS NULL, remind_at IS NULL, escalate_to IS NULL,"
             " escalate_at IS NULL FROM requests WHERE id = :'p1'", rid), [["t", "t", "t", "t"]])
    rid = submit(s, "dflt", escalate_to="", timeout_seconds=60)
    eq(s.sql("SELECT remind_after_seconds, escalate_to IS NULL, escalate_at IS NULL FROM requests"
             " WHERE id = :'p1'", rid), [["1", "t", "t"]])
    # A default that would come after the request expired is not applied.
    rid = submit(s, "dflt", timeout_seconds=2)
    eq(s.sql("SELECT remind_after_seconds, remind_at IS NULL, escalate_after_seconds IS NULL,"
             " escalate_at IS NULL FROM requests WHERE id = :'p1'", rid), [["1", "f", "t", "t"]])
    # Registering again without them keeps them; 0 clears one, escalate_after 0 both of the pair.
    register(s, "dflt", c1)
    eq(s.sql("SELECT remind_after_seconds, escalate_after_seconds, escalate_to FROM sessions"
             " WHERE session_id = 'dflt'"), [["1", "2", "dflt-boss"]])
    register(s, "dflt", c1, remind_after_seconds=0)
    eq(s.sql("SELECT remind_after_seconds IS NULL, escalate_to FROM sessions"
             " WHERE session_id = 'dflt'"), [["t", "dflt-boss"]])
    register(s, "dflt", c1, escalate_after_seconds=0)
    eq(s.sql("SELECT remind_after_seconds IS NULL, escalate_after_seconds IS NULL,"
             " escalate_to IS NULL FROM sessions WHERE session_id = 'dflt'"), [["t", "t", "t"]])
    rid = submit(s, "dflt", timeout_seconds=60)
    eq(s.sql("SELECT remind_at IS NULL, escalate_at IS NULL FROM requests WHERE id = :'p1'", rid),
       [["t", "t"]])


def test_mcp_takes_and_returns_them(s):
    c1, c2 = chat(), chat()
    sid, _ = initialize(s)
    register(s, "mcp-nudge", c1)
    register(s, "mcp-nudge-boss", c2)
    tools = rpc(s, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, sid).json
    tool = [t for t in tools["result"]["tools"] if t["name"] == "request_human_input"][0]
    for f in ("remind_after_seconds", "escalate_after_seconds", "escalate_to"):
        ok(f in tool["inputSchema"]["properties"], f)
    for f in ("escalated", "reminders"):
        ok(f in tool["outputSchema"]["properties"], f)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=call(
        s, sid, "request_human_input", {"message": "Ship it?", "options": ["Ship", "Stop"],
                                        "session_id": "mcp-nudge", "remind_after_seconds": 1,
                                        "escalate_after_seconds": 2,
                                        "escalate_to": "mcp-nudge-boss", "timeout_seconds": 60,
                                        "wait_seconds": 30})))
    t.start()
    rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = 'mcp-nudge'"
                                    " AND message = 'Ship it?'"), 10)
    _, m, _ = sent(s, rid)
    wait_for(lambda: replies_to(s, c1, m), 15, "the reminder")
    ec, em, _ = escalation(s, rid)
    upd, _ = s.tg.press_and_deliver(ec, em, button_text=OK + "Ship", user_id=c2,
                                    first_name="Boss")
    eq(answers_for(s, upd)["text"], "Recorded: Ship")
    t.join(30)
    sc = result_of(box["r"])["result"]["structuredContent"]
    eq((sc["status"], sc["approved"], sc["escalated"], sc["reminders"]),
       ("completed", True, True, 1))
    # A bad field is a tool error naming it.
    res = result_of(call(s, sid, "request_human_input",
                         {"message": "x", "session_id": "mcp-nudge",
                          "escalate_to": "mcp-nudge-boss"}))["result"]
    eq(res["isError"], True)
    ok("escalate_after_seconds" in res["content"][0]["text"], res)


def test_escalation_to_a_session_of_the_same_chat(s):
    # Another session of the same group: its approvers may decide too; both messages stay in step.
    c = -chat()
    register(s, "esc-same", c, approvers=[ANN, CID])
    register(s, "esc-same-leads", c, approvers=[BOB])
    rid = submit(s, "esc-same", options=["Approve", "Reject"], approvals_required=2,
                 escalate_after_seconds=1, escalate_to="esc-same-leads", timeout_seconds=60)
    _, m1, _ = sent(s, rid)
    _, em, _ = escalation(s, rid)
    ok(em != m1, (em, m1))
    upd, _ = s.tg.press_and_deliver(c, em, button_text=OK + "Approve", user_id=ANN,
                                    first_name="Ann")
    eq(answers_for(s, upd)["text"], "Recorded: Approve. 1 of 2 approvals.")
    for mid in (m1, em):
        wait_for(lambda: "1 of 2 approvals: Ann" in s.tg.messages[(c, mid)]["text"], 10,
                 "the progress edit of message %d" % mid)
    upd, _ = s.tg.press_and_deliver(c, m1, button_text=OK + "Approve", user_id=BOB,
                                    first_name="Bob")
    eq(answers_for(s, upd)["text"], "Recorded: Approve")
    for mid in (m1, em):
        wait_for(lambda: "Approved" in s.tg.messages[(c, mid)]["text"], 10,
                 "the decision edit of message %d" % mid)


def test_a_command_replying_to_the_reminder(s):
    """/approve sent as a reply to the reminder (the newest message in the
    chat, the one a phone user replies to) records nothing and says where an
    answer goes; /Approve, capitalised by a phone, replying to the request
    itself decides."""
    c = chat()
    register(s, "remind-cmd", c)
    rid = submit(s, "remind-cmd", request_type="confirmation", remind_after_seconds=1,
                 timeout_seconds=60)
    _, m, _ = sent(s, rid)
    rem = wait_for(lambda: replies_to(s, c, m), 15, "the reminder")[0]
    for text in ("/approve", "thanks"):
        u, _ = s.tg.reply_and_deliver(c, rem["message_id"], text, user_id=c)
        told = wait_for(lambda: replies_to(s, c, u["message"]["message_id"]), 10,
                        "the answer to %r" % text)
        eq(told[0]["text"], "Nothing recorded: to answer a request, reply to the request's own "
                            "message (the one with its buttons).")
    eq((poll(s, rid)["status"], s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'",
                                         rid)), ("pending", "0"))
    s.tg.reply_and_deliver(c, m, "/Approve looks fine", user_id=c)
    p = wait_for(lambda: (lambda p: p if p["status"] != "pending" else None)(poll(s, rid)), 10,
                 "the decision")
    eq((p["status"], p["approved"], p["reason"]), ("completed", True, "Approved by Ann: looks fine"))


# Wait-bound, not memory-bound (reminder and escalation timings): make check runs it
# against the normal build (run.py --slow).
test_escalation_to_a_session_of_the_same_chat.slow = True
