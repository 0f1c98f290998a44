"""Deny with a reason (issue 15, item 3), end to end through the Bot API
stand-in: "Deny with reason…" asks the presser with a ForceReply prompt,
their reply to it is their deny vote with that reason, and the deciding
reason is on the wire as a model reads it ("Denied by Ann: ...") in the
poll answer, the webhook body and the MCP tool result. A reply after the
decision, or by someone the prompt did not ask, adds nothing."""
import threading

from hookrecv import Receiver, verify
from lg import chat, eq, ok, wait_for
from test_07_telegram import ASK, OK, NO, register, submit, sent, poll, buttons, answers_for
from test_09_mcp import initialize, call, result_of

ANN, BOB = 501, 502


def ask(s, c, m, user, name):
    """Press "Deny with reason…" as `user`; -> the prompt message sent to the chat."""
    before = len(s.tg.sent_messages(c))
    upd, st = s.tg.press_and_deliver(c, m, button_text=ASK, user_id=user, first_name=name)
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Reply to the question with your reason.")
    prompt = wait_for(lambda: [x for x in s.tg.sent_messages(c)[before:]
                               if x["text"].startswith("Why deny?")], 10, "the prompt")[0]
    # The person is mentioned, so that a selective ForceReply reaches them in a group.
    ok([e for e in prompt.get("entities", [])
        if e["type"] == "text_mention" and e["user"]["id"] == user], prompt)
    return prompt


def said_to(s, c, mid, timeout=10):
    return wait_for(lambda: [x["text"] for x in s.tg.sent_messages(c)
                             if (x.get("reply_to_message") or {}).get("message_id") == mid],
                    timeout, "the answer to message %d" % mid)


def test_deny_with_reason(s):
    rec = Receiver()
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        c = chat()
        register(s, "reason-a", c, approvers=[ANN, BOB])
        rid = submit(s, "reason-a", options=["Approve", "Reject"], callback_url=rec.url)
        _, m, msg = sent(s, rid)
        eq(buttons(msg), [OK + "Approve", NO + "Reject", ASK])
        eq(msg["reply_markup"]["inline_keyboard"][2][0]["callback_data"], rid + ":r")
        prompt = ask(s, c, m, ANN, "Ann")
        # The prompt over the wire: a ForceReply for the presser, a reply to the request message.
        call_ = [x for x in s.tg.calls_of("sendMessage")
                 if ((x.get("response") or {}).get("result") or {}).get("message_id")
                 == prompt["message_id"] and x["response"]["result"]["chat"]["id"] == c][0]
        mk = call_["params"]["reply_markup"]
        eq((mk["force_reply"], mk["selective"], mk["input_field_placeholder"]),
           (True, True, "Your reason"))
        eq(prompt["reply_to_message"]["message_id"], m)
        ok(prompt["text"].startswith("Why deny? Ann"), prompt["text"])
        eq(poll(s, rid)["status"], "pending")
        # Someone else's reply to Ann's prompt is not Ann's reason, nor a vote of theirs.
        u, st = s.tg.reply_and_deliver(c, prompt["message_id"], "just because", user_id=BOB,
                                       first_name="Bob")
        eq(st, [200])
        told = said_to(s, c, u["message"]["message_id"])
        ok(any("someone else" in t for t in told), told)
        eq(s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'", rid), "0")
        eq(poll(s, rid)["status"], "pending")
        # Ann's reply is her deny vote with that reason.
        s.tg.reply_and_deliver(c, prompt["message_id"], "use the staging database", user_id=ANN,
                               first_name="Ann")
        p = wait_for(lambda: (lambda p: p if p["status"] == "completed" else None)(poll(s, rid)),
                     10, "the decision")
        eq((p["approved"], p["response"], p["reason"]),
           (False, "Reject", "Denied by Ann: use the staging database"))
        eq([(v["responder"]["id"], v["approve"], v["reason"]) for v in p["votes"]],
           [(ANN, False, "use the staging database")])
        eq(s.sql("SELECT person, approve, response, reason FROM votes WHERE request_id = :'p1'",
                 rid), [["telegram:%d" % ANN, "f", "Reject", "use the staging database"]])
        body = verify(rec.wait_calls(1)[0], secret)
        eq((body["status"], body["approved"], body["reason"]),
           ("completed", False, "Denied by Ann: use the staging database"))
        # A reply after the decision adds nothing, and is answered so.
        u, _ = s.tg.reply_and_deliver(c, prompt["message_id"], "and another thing", user_id=ANN,
                                      first_name="Ann")
        told = said_to(s, c, u["message"]["message_id"])
        ok(any("already decided" in t for t in told), told)
        eq(s.scalar("SELECT reason FROM votes WHERE request_id = :'p1'", rid),
           "use the staging database")
        eq(poll(s, rid)["reason"], "Denied by Ann: use the staging database")
    finally:
        rec.stop()


def test_no_reason_answers_as_before(s):
    c = chat()
    register(s, "reason-none", c, approvers=[ANN])
    rid = submit(s, "reason-none", options=["Approve", "Reject"])
    _, m, _ = sent(s, rid)
    upd, _ = s.tg.press_and_deliver(c, m, button_text=NO + "Reject", user_id=ANN,
                                    first_name="Ann")
    answers_for(s, upd)
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["reason"]), ("completed", False, None))


def test_reason_in_mcp_result(s):
    c = chat()
    sid, _ = initialize(s)
    register(s, "mcp", c, approvers=[ANN])
    box = {}
    t = threading.Thread(target=lambda: box.update(r=call(
        s, sid, "request_human_input", {"message": "Drop the table?", "options": ["Go", "Stop"],
                                        "wait_seconds": 30})))
    t.start()
    rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = 'mcp'"
                                    " AND message = 'Drop the table?'"), 10)
    _, m, _ = sent(s, rid)
    prompt = ask(s, c, m, ANN, "Ann")
    s.tg.reply_and_deliver(c, prompt["message_id"], "take a backup first", user_id=ANN,
                           first_name="Ann")
    t.join(30)
    res = result_of(box["r"])["result"]
    sc = res["structuredContent"]
    eq((sc["status"], sc["approved"], sc["reason"]),
       ("completed", False, "Denied by Ann: take a backup first"))
    # The first line, what a model reads before the JSON, says why.
    eq(res["content"][0]["text"].split("\n")[0],
       "The human answered without approving. Denied by Ann: take a backup first.")


def test_refusals_quote_names_as_text(s):
    """A reply to a request decided by "<Ann & Co>" is answered "already
    answered by <Ann & Co>": the name is escaped in the HTML reply, so the
    Bot API takes it (the stand-in parses HTML as Telegram does)."""
    c = chat()
    register(s, "reason-html", c, approvers=[ANN, BOB])
    rid = submit(s, "reason-html", options=["Approve", "Reject"])
    _, m, _ = sent(s, rid)
    upd, st = s.tg.press_and_deliver(c, m, button_text=NO + "Reject", user_id=ANN,
                                     first_name="<Ann & Co>")
    eq(st, [200])
    eq(poll(s, rid)["status"], "completed")
    u, _ = s.tg.reply_and_deliver(c, m, "yes", user_id=BOB, first_name="Bob")
    told = said_to(s, c, u["message"]["message_id"])
    ok(any("already answered by <Ann & Co>." in t for t in told), told)


def test_asking_a_reason_stops_a_timeout_approving(s):
    """A person who pressed "Deny with reason…" and is still typing when the
    timeout comes: on_timeout approve does not approve, and says why."""
    c = chat()
    register(s, "reason-timeout", c, approvers=[ANN])
    rid = submit(s, "reason-timeout", request_type="confirmation", on_timeout="approve",
                 timeout_seconds=4)
    _, m, _ = sent(s, rid)
    ask(s, c, m, ANN, "Ann")
    eq(s.sql("SELECT actor, detail->>'via' FROM audit_log WHERE request_id = :'p1'"
             " AND action = 'reason_asked'", rid), [["telegram:%d" % ANN, "button"]])
    p = wait_for(lambda: (lambda p: p if p["status"] != "pending" else None)(poll(s, rid)), 15,
                 "the timeout")
    eq((p["status"], p["approved"], p["response"]),
       ("timeout", False,
        "timed out while someone was giving a reason to deny it, so the timeout denies"))


def test_asking_a_reason_after_voting(s):
    """Someone who already voted presses "Deny with reason…": told so at once,
    no prompt."""
    c = chat()
    register(s, "reason-voted", c, approvers=[ANN, BOB])
    rid = submit(s, "reason-voted", options=["Approve", "Reject"], approvals_required=2)
    _, m, _ = sent(s, rid)
    upd, st = s.tg.press_and_deliver(c, m, button_text=OK + "Approve", user_id=ANN,
                                     first_name="Ann")
    eq(st, [200])
    before = len(s.tg.sent_messages(c))
    upd, st = s.tg.press_and_deliver(c, m, button_text=ASK, user_id=ANN, first_name="Ann")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "You already voted on this request.")
    eq([x for x in s.tg.sent_messages(c)[before:] if x["text"].startswith("Why deny?")], [])
    eq(s.scalar("SELECT count(*) FROM audit_log WHERE request_id = :'p1'"
                " AND action = 'already_voted'", rid), "1")


def test_a_blank_reason_is_none(s):
    """A reason of spaces and invisible characters is no reason: the denial
    is recorded with none (null on the wire, not "Denied by Ann:   ")."""
    c = chat()
    register(s, "reason-blank", c, approvers=[ANN, BOB])
    for how in ("prompt", "command"):
        rid = submit(s, "reason-blank", options=["Approve", "Reject"])
        _, m, _ = sent(s, rid)
        if how == "prompt":
            prompt = ask(s, c, m, ANN, "Ann")
            # Someone else's reply to Ann's prompt counts for nobody, and is audited.
            s.tg.reply_and_deliver(c, prompt["message_id"], "not mine", user_id=BOB,
                                   first_name="Bob")
            wait_for(lambda: s.scalar("SELECT count(*) FROM audit_log WHERE request_id = :'p1'"
                                      " AND action = 'mismatched_attempt'", rid) == "1", 10,
                     "the other person's reply audited")
            s.tg.reply_and_deliver(c, prompt["message_id"], "  \u200b \u202e  ", user_id=ANN,
                                   first_name="Ann")
        else:
            s.tg.reply_and_deliver(c, m, "/deny   \n  ", user_id=ANN, first_name="Ann")
        p = wait_for(lambda: (lambda p: p if p["status"] != "pending" else None)(poll(s, rid)),
                     10, "the decision")
        eq((p["status"], p["approved"], p["reason"]), ("completed", False, None), how)
        eq(s.sql("SELECT reason IS NULL FROM votes WHERE request_id = :'p1'", rid), [["t"]], how)
