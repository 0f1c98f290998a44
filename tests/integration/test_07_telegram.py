"""Telegram, end to end through the Bot API stand-in (tgstub.py): durable
delivery, button presses and replies through the real webhook, exactly-once
decisions, approver authorization, commands."""
import copy
import json
import subprocess
import threading
import time

from lg import chat, eq, ok, error_is, wait_for

def register(s, sid, chat_id, **extra):
    body = {"session_id": sid, "client_id": "agent", "telegram_id": chat_id}
    body.update(extra)
    eq(s.post("/hitl/register", body).status, 200)


def submit(s, sid, message="Deploy v2.1.0 to production?", **extra):
    body = {"session_id": sid, "client_id": "agent", "message": message}
    body.update(extra)
    r = s.post("/hitl/request", body)
    eq(r.status, 200, repr(r))
    return r.json["request_id"]


def sent(s, rid, timeout=30):
    """Wait for the request's message to be delivered; (chat, message_id, stub record)."""
    row = wait_for(lambda: s.sql("SELECT telegram_chat_id, telegram_message_id FROM requests"
                                 " WHERE id = :'p1' AND tg_state = 'sent'", rid),
                   timeout, "request %s to be sent" % rid)
    c, m = int(row[0][0]), int(row[0][1])
    return c, m, s.tg.messages[(c, m)]


def poll(s, rid):
    r = s.get("/hitl/poll?request_id=" + rid)
    eq(r.status, 200)
    return r.json


# The marks a button's text starts with: it approves, it denies.
OK, NO = "\u2705 ", "\u274C "
# The button after the options that asks for a reason and denies (kept on a cut message).
ASK = "Deny with reason\u2026"


def buttons(record):
    kb = (record.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["text"] for row in kb for b in row]


def answers_for(s, update):
    cq = update["callback_query"]["id"]
    return wait_for(lambda: s.tg.answer_for(cq), 10, "answerCallbackQuery for %s" % cq)


def explain_429(s):
    """Which limit each 429 broke: the gap to the chat's previous message, the bot's 1 s window."""
    calls = [c for c in s.tg.calls if c["method"] in ("sendMessage", "editMessageText")]
    out = []
    for i, c in enumerate(calls):
        if c["status"] != 429:
            continue
        ch = c["params"].get("chat_id")
        prev = [x for x in calls[:i] if x["params"].get("chat_id") == ch and x["status"] == 200]
        window = [x for x in calls[:i] if x["status"] == 200 and c["time"] - x["time"] < 1.0]
        out.append("chat %s gap %s (received %s) window %d" % (
            ch, "%.3f" % (c["time"] - prev[-1]["time"]) if prev else "-",
            "%.3f" % (c["received"] - prev[-1]["received"]) if prev else "-", len(window)))
    return "; ".join(out)


README_PYTHON = r'''
import requests, time, sys
base, session = sys.argv[1], sys.argv[2]
response = requests.post(base + '/hitl/request', json={
    "session_id": session,
    "client_id": "ci-cd-pipeline",
    "message": "Deploy v2.1.0 to production? All tests passed \u2705",
    "options": ["\U0001F680 Deploy", "\u23F8\uFE0F Hold", "\U0001F50D Review First"],
    "metadata": {"version": "v2.1.0", "tests_passed": 847, "code_coverage": "94.2%", "environment": "production"}
})
result = response.json()
request_id = result["request_id"]
print("submitted", request_id, flush=True)
while True:
    poll_response = requests.get(f'{base}/hitl/poll?request_id={request_id}')
    status = poll_response.json()
    if status["status"] == "completed":
        if status["approved"]:
            print("APPROVED", status["response"])
        else:
            print("DENIED", status["response"])
        break
    time.sleep(0.2)
'''


def run_readme_python(s, session, chat_id, button, username="ann"):
    """The README's Python example (submit, then poll until completed), answered by `button`."""
    proc = subprocess.Popen(["/usr/bin/python3", "-c", README_PYTHON, "http://localhost:%d" % s.port,
                             session], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = :'p1'", session),
                       10, "the example's request")
        c2, m, rec = sent(s, rid)
        rec = copy.deepcopy(rec)  # the message as sent: the decision edits the stand-in's record
        eq(c2, chat_id)
        upd, statuses = s.tg.press_and_deliver(chat_id, m, button_text=button, user_id=chat_id,
                                               first_name="Ann", username=username)
        eq(statuses, [200])
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    return rid, m, rec, upd, out + err


def test_python_example_approved_by_button(s):
    c = chat()
    register(s, "tg-approve", c)
    rid, m, rec, upd, out = run_readme_python(s, "tg-approve", c, OK + "\U0001F680 Deploy")
    ok("APPROVED \U0001F680 Deploy" in out, out)
    eq(buttons(rec), [OK + "\U0001F680 Deploy", NO + "\u23F8\uFE0F Hold", NO + "\U0001F50D Review First",
                      ASK])
    eq([b["style"] for row in rec["reply_markup"]["inline_keyboard"] for b in row],
       ["success", "danger", "danger", "danger"])
    eq(rec["parse_mode"], "HTML")
    for needle in ("Deploy v2.1.0 to production? All tests passed \u2705", "client ci-cd-pipeline",
                   "session tg-approve", "version: v2.1.0", "tests_passed: 847", rid):
        ok(needle in rec["text"], "message shows %r: %r" % (needle, rec["text"]))
    eq(answers_for(s, upd)["text"], "Recorded: \U0001F680 Deploy")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["completed"], p["response"]),
       ("completed", True, True, "\U0001F680 Deploy"))
    eq(p["responder"], {"id": c, "name": "Ann @ann"})
    eq(p["delivery"]["state"], "sent")
    # The message was edited to show the decision, and its keyboard removed.
    wait_for(lambda: "Approved" in s.tg.messages[(c, m)]["text"], 10, "the decision edit")
    final = s.tg.messages[(c, m)]
    ok("by Ann @ann" in final["text"], final["text"])
    eq(buttons(final), [])
    eq(s.sql("SELECT actor, action, detail->>'response' FROM audit_log WHERE request_id = :'p1'"
             " AND action = 'decided'", rid), [["telegram:%d" % c, "decided", "\U0001F680 Deploy"]])


def test_python_example_denied_by_button(s):
    c = chat()
    register(s, "tg-deny", c)
    rid, m, _, _, out = run_readme_python(s, "tg-deny", c, NO + "\u23F8\uFE0F Hold")
    ok("DENIED \u23F8\uFE0F Hold" in out, out)
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "\u23F8\uFE0F Hold"))
    wait_for(lambda: "Denied" in s.tg.messages[(c, m)]["text"], 10, "the decision edit")


def test_explicit_option_meaning_and_confirmation(s):
    c = chat()
    register(s, "tg-explicit", c)
    rid = submit(s, "tg-explicit", options=[{"label": "Ship it", "approve": True},
                                            {"label": "Yes, stop", "approve": False}])
    _, m, rec = sent(s, rid)
    eq(buttons(rec), [OK + "Ship it", NO + "Yes, stop", ASK])
    s.tg.press_and_deliver(c, m, button_text=NO + "Yes, stop")
    eq(poll(s, rid)["approved"], False)
    eq(s.get("/hitl/pending?session_id=tg-explicit").json["count"], 0)
    rid = submit(s, "tg-explicit", "Restart the database?", request_type="confirmation")
    _, m, rec = sent(s, rid)
    eq(buttons(rec), [OK + "Approve", NO + "Deny", ASK])
    s.tg.press_and_deliver(c, m, button_text=OK + "Approve")
    eq((poll(s, rid)["approved"], poll(s, rid)["response"]), (True, "Approve"))


def test_text_reply_answers_input_request(s):
    c = chat()
    register(s, "tg-input", c)
    rid = submit(s, "tg-input", "Which branch should I deploy?")
    _, m, rec = sent(s, rid)
    eq(rec["reply_markup"].get("force_reply"), True)
    s.tg.reply_and_deliver(c, m, "release/2.1 <b>please</b>")
    p = poll(s, rid)
    # An answer that is not, as a whole, an approval word is the response, and it denies.
    eq((p["status"], p["response"], p["approved"]), ("completed", "release/2.1 <b>please</b>", False))
    wait_for(lambda: "release/2.1 &lt;b&gt;" in s.tg.messages[(c, m)]["raw_text"], 10,
             "the edit showing the escaped answer")
    # A reply to a choice request is not an answer.
    rid2 = submit(s, "tg-input", "Pick one", options=["A", "B"])
    _, m2, _ = sent(s, rid2)
    s.tg.reply_and_deliver(c, m2, "A")
    eq(poll(s, rid2)["status"], "pending")
    wait_for(lambda: any("with its buttons" in x["text"] for x in s.tg.sent_messages(c)), 10)


def test_unauthorized_press_changes_nothing(s):
    c = chat()
    register(s, "tg-auth", c, approvers=[111, 222])
    rid = submit(s, "tg-auth", options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    before = s.sql("SELECT status, approved, response FROM requests WHERE id = :'p1'", rid)
    upd, st = s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=999, first_name="Mallory")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")
    eq(s.sql("SELECT status, approved, response FROM requests WHERE id = :'p1'", rid), before)
    eq(s.sql("SELECT actor, action FROM audit_log WHERE request_id = :'p1' AND action <> 'submitted'", rid),
       [["telegram:999", "unauthorized_attempt"]])
    # The chat's own user is not an approver either when approvers are listed.
    s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=c)
    eq(poll(s, rid)["status"], "pending")
    upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=222, first_name="Bob")
    eq(answers_for(s, upd)["text"], "Recorded: Yes")
    eq(poll(s, rid)["responder"]["id"], 222)
    # A group chat without approvers: nobody may decide (group_any_member is off).
    g = -1001234567890
    register(s, "tg-group", g)
    rid = submit(s, "tg-group", options=["Yes"])
    _, m, _ = sent(s, rid)
    upd, _ = s.tg.press_and_deliver(g, m, button_text=OK + "Yes", user_id=5)
    eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")
    eq(poll(s, rid)["status"], "pending")


def test_repeated_update_is_processed_once(s):
    c = chat()
    register(s, "tg-dup", c)
    rid = submit(s, "tg-dup", options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    upd = s.tg.press(c, m, button_text=OK + "Yes")
    eq(s.tg.deliver(upd, repeat=2), [200, 200])
    time.sleep(0.5)
    eq(s.sql("SELECT count(*) FROM audit_log WHERE request_id = :'p1' AND action = 'decided'", rid), [["1"]])
    eq(len([a for a in s.tg.answers if a["callback_query_id"] == upd["callback_query"]["id"]]), 1)
    eq(s.scalar("SELECT count(*) FROM tg_updates WHERE update_id = :'p1'", upd["update_id"]), "1")
    # A later press on the decided request is answered, and changes nothing.
    upd2, _ = s.tg.press_and_deliver(c, m, data=upd["callback_query"]["data"])
    eq(answers_for(s, upd2)["text"], "This request was already answered by Ann.")


def test_two_approvers_at_once_one_decision(s):
    c = -1009876543210
    register(s, "tg-race", c, approvers=[301, 302, 303, 304])
    for round_ in range(2):
        rid = submit(s, "tg-race", options=["Approve", "Reject"])
        _, m, _ = sent(s, rid, timeout=20)
        ups = [s.tg.press(c, m, button_text=(OK + "Approve", NO + "Reject")[i % 2], user_id=301 + i)
               for i in range(4)]
        done = [s.tg.deliver_async(u) for u in ups]
        eq([d.result(30) for d in done], [[200]] * 4)
        eq(s.scalar("SELECT count(*) FROM audit_log WHERE request_id = :'p1' AND action = 'decided'", rid), "1")
        texts = sorted(answers_for(s, u)["text"] for u in ups)
        eq(len([t for t in texts if t.startswith("Recorded")]), 1, "answers %r" % texts)
        eq(len([t for t in texts if t.startswith("This request was already answered by ")]), 3)
        p = poll(s, rid)
        eq(p["approved"], p["response"] == "Approve")


def test_webhook_secret_required(s):
    c = chat()
    register(s, "tg-secret", c)
    rid = submit(s, "tg-secret", options=["Yes"])
    _, m, _ = sent(s, rid)
    upd = s.tg.press(c, m, button_text=OK + "Yes")
    before = s.counts() + [s.scalar("SELECT count(*) FROM tg_updates"), s.scalar("SELECT count(*) FROM outbox")]
    for secret in (False, "wrong", s.webhook_secret + "x", s.webhook_secret[:-1]):
        r = s.request("POST", "/telegram/webhook", body=json.dumps(upd),
                      headers=dict({"Content-Type": "application/json"},
                                   **({"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {})))
        error_is(r, 401, "unauthorized")
    eq(s.counts() + [s.scalar("SELECT count(*) FROM tg_updates"), s.scalar("SELECT count(*) FROM outbox")],
       before, "database after forged webhook calls")
    eq(poll(s, rid)["status"], "pending")
    error_is(s.get("/telegram/webhook"), 405, "method_not_allowed")


def test_html_escaped_and_long_messages_cut(s):
    c = chat()
    register(s, "tg-html", c)
    nasty = "<script>alert('x')</script> & <b>bold?</b> \"quoted\""
    rid = submit(s, "tg-html", nasty, options=[{"label": "<i>Yes</i>", "approve": True}, "No & never"],
                 metadata={"<key>": "<value & more>"})
    _, m, rec = sent(s, rid)
    ok(nasty in rec["text"], "visible text keeps the characters: %r" % rec["text"])
    ok("&lt;script&gt;" in rec["raw_text"] and "<script>" not in rec["raw_text"], rec["raw_text"])
    ok("&lt;key&gt;</b>: &lt;value &amp; more&gt;" in rec["raw_text"], rec["raw_text"])
    eq(buttons(rec), [OK + "<i>Yes</i>", NO + "No & never", ASK])
    # 16384 characters with astral emoji: cut to Telegram's limit and says so.
    long_msg = ("\U0001F680 go " * 3000)[:16000]
    rid = submit(s, "tg-html", long_msg, request_type="confirmation",
                 metadata={"k%d" % i: "v" * 50 for i in range(60)})
    _, m, rec = sent(s, rid)
    ok("Shortened to fit Telegram" in rec["text"], "cut note")
    eq(buttons(rec), [NO + "Deny", ASK], "a cut confirmation offers only its denials")
    eq(poll(s, rid)["delivery"]["state"], "sent")
    # Approve was not offered: a forged Approve press is refused.
    upd, _ = s.tg.press_and_deliver(c, m, data="%s:0" % rid)
    eq(answers_for(s, upd)["text"], "This request is too long to approve in Telegram.")
    s.tg.press_and_deliver(c, m, button_text=NO + "Deny")
    eq((poll(s, rid)["status"], poll(s, rid)["approved"]), ("completed", False))
    wait_for(lambda: "Denied" in s.tg.messages[(c, m)]["text"], 10, "the edit of a long message")


def test_cancel_edits_the_message(s):
    c = chat()
    register(s, "tg-cancel", c)
    rid = submit(s, "tg-cancel", options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    wait_for(lambda: "Canceled" in s.tg.messages[(c, m)]["text"], 10, "the cancel edit")
    eq(buttons(s.tg.messages[(c, m)]), [])
    # Canceled before it could be sent: never sent at all.
    c2 = chat()
    register(s, "tg-cancel-early", c2)
    s.tg.go_down()
    try:
        rid = submit(s, "tg-cancel-early", "never shown")
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    finally:
        s.tg.come_back()
    wait_for(lambda: poll(s, rid)["delivery"]["state"] == "skipped", 20, "the send to be skipped")
    eq(s.tg.sent_messages(c2), [])


def test_cancel_and_timeout_edits_go_at_once(s):
    # A cancel (a request thread) and a timeout (the expiry thread) queue the
    # message's edit; the worker that queued it wakes its own delivery
    # threads, so the edit goes at once, not at the next idle look (2 s).
    # The canceled requests' edits are due at once (their chat's pacing gap
    # has passed); those timed out after 1 s may wait for the rest of the gap
    # that follows their message (1 s): the thread that was woken for them
    # must then wait for that moment, not for its next idle look.
    c = chat()
    register(s, "tg-final-now", c)
    for final, timeout in (("canceled", 60), ("canceled", 60), ("canceled", 60), ("timeout", 2),
                           ("timeout", 1), ("timeout", 1), ("timeout", 1), ("timeout", 1)):
        time.sleep(1.1)  # the previous edit's gap: this message goes at once
        rid = submit(s, "tg-final-now", options=["Yes", "No"], timeout_seconds=timeout)
        _, m, _ = sent(s, rid)
        if final == "canceled":
            time.sleep(1.2)
            eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        else:
            wait_for(lambda: poll(s, rid)["status"] == "timeout", 10, "the timeout")
        t = time.monotonic()
        word = "Canceled" if final == "canceled" else "Timed out"
        wait_for(lambda: word in s.tg.messages[(c, m)]["text"], 10, "the edit")
        took = time.monotonic() - t
        ok(took < 0.8, "the %s request's message was edited %.2f s later" % (final, took))


def test_a_paced_edit_goes_when_its_chat_may_have_it(s):
    # The bot has just answered a command in the chat, so the chat's next
    # message waits a gap (1 s). A cancel then queues the edit: the delivery
    # thread woken for it finds it not yet due and must wait for that moment
    # itself, not for the next idle look of whichever thread keeps the time.
    c = chat()
    register(s, "tg-paced-edit", c)
    for _ in range(2):
        rid = submit(s, "tg-paced-edit", options=["Yes", "No"])
        _, m, _ = sent(s, rid)
        time.sleep(1.1)
        n = len(s.tg.sent_messages(c))
        eq(s.tg.command_and_deliver(c, "/help")[1], [200])
        wait_for(lambda: len(s.tg.sent_messages(c)) > n, 10, "the answer to /help")
        replied = max(x["time"] for x in s.tg.calls_of("sendMessage")
                      if x["params"].get("chat_id") == c)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        wait_for(lambda: "Canceled" in s.tg.messages[(c, m)]["text"], 10, "the cancel edit")
        edited = max(x["time"] for x in s.tg.calls_of("editMessageText")
                     if x["params"].get("chat_id") == c and x["params"].get("message_id") == m)
        ok(edited - replied < 1.6, "edited %.2f s after the chat's last message (gap 1 s)"
           % (edited - replied))


def test_commands(s):
    c = chat()
    register(s, "tg-cmd", c)
    sent(s, submit(s, "tg-cmd", "first question <x>"))
    for text, needle in (("/start", "%d" % c), ("/help", "/pending"),
                         ("/pending", "first question &lt;x&gt;"), ("/status", "tg-cmd"),
                         ("/pending@loopgate_bot", "1 pending"), ("/frob", "Unknown command")):
        n = len(s.tg.sent_messages(c))
        _, st = s.tg.command_and_deliver(c, text)
        eq(st, [200])
        msgs = wait_for(lambda: len(s.tg.sent_messages(c)) > n and s.tg.sent_messages(c), 10,
                        "a reply to " + text)
        raw = [r for (cc, mm), r in s.tg.messages.items() if cc == c and mm == msgs[-1]["message_id"]][0]
        ok(needle in raw["raw_text"], "%s: %r not in %r" % (text, needle, raw["raw_text"]))


def outbox_idle(s):
    """Test fixture: drop Telegram work other tests left queued (paced backlogs of earlier
    tests' chats) and wait for calls in flight, so injected faults hit this test's calls."""
    s.sql("UPDATE outbox SET state = 'skipped' WHERE state = 'queued' AND kind LIKE 'tg%%'"
          " AND (leased_until IS NULL OR leased_until < now())")
    wait_for(lambda: s.scalar("SELECT count(*) FROM outbox WHERE state = 'queued'"
                              " AND kind LIKE 'tg%%'") == "0", 30, "an idle outbox")


def test_delivery_errors_retried_and_recorded(s):
    outbox_idle(s)
    c = chat()
    register(s, "tg-errors", c)
    s.tg.fail_next("sendMessage", 502, count=2)
    rid = submit(s, "tg-errors", "after two 502s")
    sent(s, rid, timeout=20)
    p = poll(s, rid)
    eq(p["delivery"]["state"], "sent")
    eq(p["delivery"]["attempts"], 3)
    outbox_idle(s)
    s.tg.fail_next("sendMessage", 429, retry_after=2)
    t = time.time()
    rid = submit(s, "tg-errors", "after a 429")
    sent(s, rid, timeout=20)
    ok(time.time() - t >= 1.9, "retry_after honoured (%.2fs)" % (time.time() - t))
    blocked = chat()
    s.tg.blocked_chats.add(blocked)
    register(s, "tg-blocked", blocked)
    rid = submit(s, "tg-blocked", "nobody will see this")
    p = wait_for(lambda: poll(s, rid)["delivery"]["state"] == "failed" and poll(s, rid), 15)
    ok("403" in p["delivery"]["last_error"] and "blocked" in p["delivery"]["last_error"], repr(p))
    eq(s.scalar("SELECT attempts FROM outbox WHERE request_id = :'p1' AND kind = 'tg_send'", rid), "1")


def test_edit_not_modified_is_success(s):
    c = chat()
    register(s, "tg-notmod", c)
    rid = submit(s, "tg-notmod", options=["Yes"])
    _, m, _ = sent(s, rid)
    outbox_idle(s)
    s.tg.fail_next("editMessageText", 400, "Bad Request: message is not modified: specified new "
                   "message content and reply markup are exactly the same as a current content and "
                   "reply markup of the message")
    s.tg.press_and_deliver(c, m, button_text=OK + "Yes")
    wait_for(lambda: s.scalar("SELECT state FROM outbox WHERE request_id = :'p1' AND kind = 'tg_edit'",
                              rid) == "done", 10, "the edit row done")


def test_outage_200_requests_none_lost(s):
    # 50 chats; 4 tenants of 50 requests each (the test stack allows 100 pending per tenant).
    chats = [chat() for _ in range(50)]
    keys = [s.new_key("outage-tenant-%d" % t) for t in range(4)]
    for k in keys:
        for i, c in enumerate(chats):
            eq(s.post("/hitl/register", {"session_id": "o%d" % i, "client_id": "a", "telegram_id": c},
                      headers={"X-API-Key": k}).status, 200)
    base429 = s.tg.count_429
    s.tg.go_down()
    t0 = time.time()
    ids = []
    try:
        for i in range(200):
            r = s.post("/hitl/request", {"session_id": "o%d" % (i % 50), "client_id": "a",
                                         "message": "outage %d" % i, "options": ["Yes", "No"]},
                       headers={"X-API-Key": keys[i // 50]})
            eq(r.status, 200, "submit during the outage: %r" % r)
            ids.append(r.json["request_id"])
        submit_s = time.time() - t0
        time.sleep(max(0, 30 - (time.time() - t0)))
        eq(s.scalar("SELECT count(*) FROM requests WHERE tenant LIKE 'outage-tenant-%%' AND tg_state = 'sent'"), "0")
        errors = s.scalar("SELECT count(*) FROM requests WHERE tenant LIKE 'outage-tenant-%%' AND tg_error IS NOT NULL")
    finally:
        s.tg.come_back()
    back = time.time()
    wait_for(lambda: s.scalar("SELECT count(*) FROM requests WHERE tenant LIKE 'outage-tenant-%%'"
                              " AND tg_state = 'sent'") == "200", 120, "all 200 delivered")
    drained = time.time() - back
    texts = [m["text"] for m in s.tg.sent_messages() if "outage " in m["text"]]
    delivered = set(t.split("\n")[1] for t in texts)
    eq(len(delivered), 200, "distinct messages delivered")
    dups = len(texts) - len(delivered)
    # Every request can be decided exactly once after the outage.
    rows = s.sql("SELECT id, telegram_chat_id, telegram_message_id FROM requests"
                 " WHERE tenant LIKE 'outage-tenant-%%' ORDER BY created_at LIMIT 20")
    for rid, c, m in rows:
        eq(s.tg.deliver(s.tg.press(int(c), int(m), data="%s:0" % rid, user_id=int(c)), repeat=2),
           [200, 200])
    eq(s.scalar("SELECT count(*) FROM audit_log a JOIN requests r ON r.id = a.request_id"
                " WHERE r.tenant LIKE 'outage-tenant-%%' AND a.action = 'decided'"), "20")
    print("    outage: 200 submitted in %.1fs while Telegram was down (%s requests recorded an error);"
          " all 200 delivered %.1fs after it came back, %d duplicate messages, 429s seen: %d,"
          " 0 duplicate decisions" % (submit_s, errors, drained, dups, s.tg.count_429 - base429))
    eq(s.tg.count_429 - base429, 0, "429s during the drain (%s)" % explain_429(s))


def test_pacing_under_burst(s):
    c = chat()
    register(s, "tg-burst", c)
    g = -1002000000001
    register(s, "tg-burst-group", g)
    n0 = len(s.tg.sent_messages(c))
    base429 = s.tg.count_429
    t0 = time.monotonic()
    for i in range(5):
        submit(s, "tg-burst", "burst %d" % i)
    for i in range(3):
        submit(s, "tg-burst-group", "group burst %d" % i)
    wait_for(lambda: len(s.tg.sent_messages(c)) - n0 >= 5 and len(s.tg.sent_messages(g)) >= 3, 30,
             "the burst to drain")
    times = sorted(x["time"] for x in s.tg.calls_of("sendMessage")
                   if x["status"] == 200 and x["params"].get("chat_id") == c and x["time"] >= t0 - 1)
    gaps = [b - a for a, b in zip(times, times[1:])]
    ok(min(gaps) >= 0.95, "private chat paced at 1/s: gaps %r" % gaps)
    gtimes = sorted(x["time"] for x in s.tg.calls_of("sendMessage")
                    if x["status"] == 200 and x["params"].get("chat_id") == g)
    ggaps = [b - a for a, b in zip(gtimes, gtimes[1:])]
    ok(min(ggaps) >= 2.9, "group paced at 20/min: gaps %r" % ggaps)
    eq(s.tg.count_429 - base429, 0, "429s")


def test_cli_webhook_and_poll_mode(s):
    r = s.cli("telegram", "set-webhook", "--drop-pending")
    info = s.tg.webhook_info()
    eq(info["url"], "https://hitl.example.test/telegram/webhook")
    eq(info["secret_token"], s.webhook_secret)
    eq(sorted(info["allowed_updates"]), ["callback_query", "message"])
    ok(s.webhook_secret not in r.stdout + r.stderr, "set-webhook printed the secret")
    r = s.cli("telegram", "webhook-info")
    ok('"url": "https://hitl.example.test/telegram/webhook"' in r.stdout, r.stdout)
    ok(s.tg.token not in r.stdout + r.stderr, "the bot token was printed")
    s.cli("telegram", "delete-webhook")
    eq(s.tg.webhook_info()["url"], "")
    r = s.cli("telegram", "set-webhook", env={"PUBLIC_URL": ""}, check=False)
    eq(r.returncode, 2)
    ok("PUBLIC_URL" in r.stderr, r.stderr)

    # getUpdates mode: updates are fetched and handled like webhook calls.
    c = chat()
    register(s, "tg-poll", c)
    rid = submit(s, "tg-poll", options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    poller = subprocess.Popen([s.binary, "telegram", "poll"], env=s.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    s.tg.webhook_target(None)
    try:
        upd = s.tg.press(c, m, button_text=NO + "No")
        eq(s.tg.deliver(upd), [])  # queued for getUpdates
        wait_for(lambda: poll(s, rid)["status"] == "completed", 20, "the poller to handle the press")
        eq(poll(s, rid)["approved"], False)
        eq(answers_for(s, upd)["text"], "Recorded: No")
    finally:
        s.tg.webhook_target("http://127.0.0.1:%d/telegram/webhook" % s.port, s.webhook_secret)
        poller.terminate()
        out, _ = poller.communicate(timeout=20)
    eq(poller.returncode, 0, out)
    ok(s.tg.token not in out, "the poller logged the bot token")


def test_webhook_answers_503_while_database_down(s):
    c = chat()
    register(s, "tg-dbdown", c)
    rid = submit(s, "tg-dbdown", options=["Yes"])
    _, m, _ = sent(s, rid)
    upd = s.tg.press(c, m, button_text=OK + "Yes")
    s.pg_ctl("stop")
    try:
        r = s.request("POST", "/telegram/webhook", body=json.dumps(upd),
                      headers={"Content-Type": "application/json",
                               "X-Telegram-Bot-Api-Secret-Token": s.webhook_secret})
        error_is(r, 503, "database_unavailable")
    finally:
        s.pg_ctl("start")
    # Telegram delivers the update again; now it is handled.
    eq(s.tg.deliver(upd)[-1], 200)
    eq(poll(s, rid)["status"], "completed")


test_outage_200_requests_none_lost.slow = True


def test_delivery_timekeeping_statements_succeed(s):
    # After a send, the delivery timekeeper asks when the next row is due and
    # when the bot may send again; bot slots never used are free from
    # '-infinity', which must not make that statement fail.
    s.sql("DELETE FROM tg_bot_slots")
    start = len(s.worker_log())
    register(s, "tg-timekeeper", chat())
    rid = submit(s, "tg-timekeeper", "keep time")
    sent(s, rid)
    ok(s.scalar("SELECT count(*) FROM tg_bot_slots WHERE free_at = '-infinity'") != "0",
       "some bot slots are still unused")
    time.sleep(2.5)  # longer than an idle delivery thread's look (IDLE_LOOK_MS)
    failed = [line for line in s.worker_log()[start:].splitlines()
              if "database statement failed" in line]
    eq(failed, [])


def test_button_press_decided_in_one_statement(s):
    c = chat()
    register(s, "tg-one", c)
    rid = submit(s, "tg-one", options=["Ship it", "Wait"])
    _, m, _ = sent(s, rid)
    # The buttons as sent are kept with the request for the one-statement decision.
    eq(json.loads(s.scalar("SELECT tg_buttons FROM requests WHERE id = :'p1'", rid)),
       [{"label": "Ship it", "approve": True, "refused": False, "answer": "Recorded: Ship it"},
        {"label": "Wait", "approve": False, "refused": False, "answer": "Recorded: Wait"}])
    start = len(s.worker_log())
    upd, st = s.tg.press_and_deliver(c, m, button_text=NO + "Wait", first_name="Ann")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Recorded: Wait")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"], p["responder"]["id"]),
       ("completed", False, "Wait", c))
    eq(s.sql("SELECT actor, detail FROM audit_log WHERE request_id = :'p1' AND action = 'decided'",
             rid)[0][0], "telegram:%d" % c)
    detail = json.loads(s.sql("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                              " AND action = 'decided'", rid)[0][0])
    latency = detail.pop("latency_ms")
    eq(detail, {"response": "Wait", "approved": False, "via": "button", "user_id": c,
                "user_name": "Ann"})
    eq(s.scalar("SELECT floor(extract(epoch FROM responded_at - created_at) * 1000)::bigint"
                " FROM requests WHERE id = :'p1'", rid), str(latency), "the decision latency")
    eq(s.scalar("SELECT count(*) FROM tg_updates WHERE update_id = :'p1'", upd["update_id"]), "1")
    logged = [line for line in s.worker_log()[start:].splitlines() if rid in line]
    ok(any("request decided" in line and "statements=1" in line for line in logged), logged)
    wait_for(lambda: "Denied" in s.tg.messages[(c, m)]["text"], 10, "the decision edit")

    # An update_id seen before decides nothing, even on another pending request.
    rid2 = submit(s, "tg-one", options=["Ship it", "Wait"])
    _, m2, _ = sent(s, rid2)
    again = s.tg.press(c, m2, button_text=OK + "Ship it")
    again["update_id"] = upd["update_id"]
    eq(s.tg.deliver(again), [200])
    time.sleep(0.3)
    eq(poll(s, rid2)["status"], "pending")
    eq(s.tg.answer_for(again["callback_query"]["id"]), None)

    # A message sent before its buttons were kept is decided the long way.
    s.sql("UPDATE requests SET tg_buttons = NULL WHERE id = :'p1'", rid2)
    start = len(s.worker_log())
    upd, st = s.tg.press_and_deliver(c, m2, button_text=OK + "Ship it")
    eq(answers_for(s, upd)["text"], "Recorded: Ship it")
    eq((poll(s, rid2)["status"], poll(s, rid2)["approved"]), ("completed", True))
    logged = [line for line in s.worker_log()[start:].splitlines() if rid2 in line]
    ok(any("request decided" in line for line in logged), logged)
    ok(not any("statements=1" in line for line in logged), logged)


def test_long_label_answered_whole(s):
    # 60 characters of 4 bytes: the answer is not cut inside a character.
    c = chat()
    register(s, "tg-long-label", c)
    label = "\U0001F680" * 60
    rid = submit(s, "tg-long-label", options=[label, "No"])
    _, m, _ = sent(s, rid)
    upd, st = s.tg.press_and_deliver(c, m, button_text=OK + label)
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Recorded: " + label)
    eq(poll(s, rid)["response"], label)


def test_press_rules_with_allow_list_and_groups(s):
    # The one-statement decision applies the same rules as the long way.
    c, other, g, member = chat(), chat(), -1009876543210, 4242
    s.stop()
    s.start(LOOPGATE_TELEGRAM_ALLOWED_USERS="%d,%d" % (other, member),
            LOOPGATE_TELEGRAM_GROUP_ANY_MEMBER="true")
    try:
        register(s, "tg-allow", c)
        rid = submit(s, "tg-allow", options=["Yes", "No"])
        _, m, _ = sent(s, rid)
        # The private chat's own user, but not on the allow list.
        upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=c)
        eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")
        eq(poll(s, rid)["status"], "pending")
        register(s, "tg-allow-group", g)
        rid = submit(s, "tg-allow-group", options=["Yes", "No"])
        _, m, _ = sent(s, rid)
        # A group member not on the allow list, then one on it.
        upd, _ = s.tg.press_and_deliver(g, m, button_text=OK + "Yes", user_id=777)
        eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")
        eq(poll(s, rid)["status"], "pending")
        upd, _ = s.tg.press_and_deliver(g, m, button_text=OK + "Yes", user_id=member)
        eq(answers_for(s, upd)["text"], "Recorded: Yes")
        eq((poll(s, rid)["status"], poll(s, rid)["responder"]["id"]), ("completed", member))
    finally:
        s.stop()
        for k in ("LOOPGATE_TELEGRAM_ALLOWED_USERS", "LOOPGATE_TELEGRAM_GROUP_ANY_MEMBER"):
            s.extra_env.pop(k, None)
        s.start()


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_cancel_and_timeout_edits_go_at_once.slow = True
test_cli_webhook_and_poll_mode.slow = True
test_press_rules_with_allow_list_and_groups.slow = True
