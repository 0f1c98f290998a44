"""Decisions that deny unless they are clearly approvals, end to end: what each
option means is fixed at submit and returned, buttons show it, a label the
approval vocabulary does not know denies, a typed answer approves only as a
whole approval word, a message cut to fit Telegram cannot be approved, a
timeout approves only what a person was shown, and an option that
contradicts its own flag is refused."""
import json

from lg import chat, eq, ok, error_is, wait_for

from test_07_telegram import ASK, NO, OK, poll, register, sent


def submit_full(s, sid, message="Deploy v2.1.0 to production?", **extra):
    body = {"session_id": sid, "client_id": "agent", "message": message}
    body.update(extra)
    r = s.post("/hitl/request", body)
    eq(r.status, 200, repr(r))
    return r.json


def keyboard(record):
    kb = (record.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b.get("style")) for row in kb for b in row]


# "Deny with reason…", after the options of every message with buttons.
REASON = (ASK, "danger")


def answers_for(s, update):
    cq = update["callback_query"]["id"]
    return wait_for(lambda: s.tg.answer_for(cq), 10, "answerCallbackQuery for %s" % cq)


def test_ship_revert_press_revert_denies(s):
    c = chat()
    register(s, "dec-ship", c)
    j = submit_full(s, "dec-ship", options=["Ship", "Revert"])
    # The submit answer keeps the original's fields and adds what each option means.
    for field in ("success", "request_id", "status", "created_at"):
        ok(field in j, "submit answer lacks %s: %r" % (field, j))
    eq(j["status"], "pending")
    eq(j["options"], [{"label": "Ship", "approve": True}, {"label": "Revert", "approve": False}])
    rid = j["request_id"]
    _, m, rec = sent(s, rid)
    eq(keyboard(rec), [(OK + "Ship", "success"), (NO + "Revert", "danger"), REASON])
    eq(s.scalar("SELECT option_approve::text FROM requests WHERE id = :'p1'", rid), "{t,f}")
    upd, st = s.tg.press_and_deliver(c, m, button_text=NO + "Revert")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Recorded: Revert")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Revert"))
    eq(json.loads(s.sql("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                        " AND action = 'decided'", rid)[0][0])["approved"], False)


def test_colour_label_denies(s):
    c = chat()
    register(s, "dec-colour", c)
    j = submit_full(s, "dec-colour", "Which colour?", options=["Blue", "Green"])
    eq(j["options"], [{"label": "Blue", "approve": False}, {"label": "Green", "approve": False}])
    rid = j["request_id"]
    _, m, rec = sent(s, rid)
    eq(keyboard(rec), [(NO + "Blue", "danger"), (NO + "Green", "danger"), REASON])
    # The one-statement press path reads the meaning stored when the message was sent.
    eq([b["approve"] for b in json.loads(s.scalar("SELECT tg_buttons FROM requests"
                                                  " WHERE id = :'p1'", rid))], [False, False])
    s.tg.press_and_deliver(c, m, button_text=NO + "Blue")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Blue"))
    # An agent that means Blue to approve says so, and the button shows it.
    j = submit_full(s, "dec-colour", "Which colour?",
                    options=[{"label": "Blue", "approve": True}, "Green"])
    eq(j["options"], [{"label": "Blue", "approve": True}, {"label": "Green", "approve": False}])
    _, m, rec = sent(s, j["request_id"])
    eq(keyboard(rec), [(OK + "Blue", "success"), (NO + "Green", "danger"), REASON])
    s.tg.press_and_deliver(c, m, button_text=OK + "Blue")
    eq(poll(s, j["request_id"])["approved"], True)


def test_typed_answer_approves_only_as_a_whole(s):
    c = chat()
    register(s, "dec-typed", c)
    cases = [("I'd rather you didn't", False), ("yes but only on staging", False),
             ("absolutely out of the question", False), ("Yes!", True),
             ("\u00a1S\u00ed!", True), ("go ahead \U0001F44D", True)]
    for text, approved in cases:
        rid = submit_full(s, "dec-typed", "Go on with the migration?")["request_id"]
        _, m, rec = sent(s, rid)
        eq(rec["reply_markup"].get("force_reply"), True)
        _, st = s.tg.reply_and_deliver(c, m, text)
        eq(st, [200])
        p = wait_for(lambda: poll(s, rid) if poll(s, rid)["status"] != "pending" else None, 10,
                     "the reply to decide %s" % rid)
        eq((p["status"], p["response"], p["approved"]), ("completed", text, approved), text)


def test_cut_choice_cannot_be_approved(s):
    c = chat()
    register(s, "dec-cut", c)
    long_msg = ("\U0001F680 deploy everything " * 1000)[:15000]
    j = submit_full(s, "dec-cut", long_msg, request_type="choice", options=["Deploy", "Hold"])
    rid = j["request_id"]
    _, m, rec = sent(s, rid)
    ok("Shortened to fit Telegram" in rec["text"], rec["text"][-400:])
    ok("cannot be approved here" in rec["text"], rec["text"][-400:])
    ok("GET /hitl/poll?request_id=" + rid in rec["text"], rec["text"][-400:])
    eq(keyboard(rec), [(NO + "Hold", "danger"), REASON])
    eq([(b["label"], b["refused"]) for b in json.loads(
        s.scalar("SELECT tg_buttons FROM requests WHERE id = :'p1'", rid))],
       [("Deploy", True), ("Hold", False)])
    # A forged press of the approving option is refused, in the one-statement path and after.
    upd, _ = s.tg.press_and_deliver(c, m, data="%s:0" % rid)
    eq(answers_for(s, upd)["text"], "This request is too long to approve in Telegram.")
    eq(poll(s, rid)["status"], "pending")
    s.tg.press_and_deliver(c, m, button_text=NO + "Hold")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Hold"))

    # A cut input request: a typed approval is refused, anything else is the denying answer.
    rid = submit_full(s, "dec-cut", long_msg)["request_id"]
    _, m, rec = sent(s, rid)
    ok("cannot be approved here" in rec["text"], rec["text"][-400:])
    before = len(s.tg.sent_messages(c))
    s.tg.reply_and_deliver(c, m, "yes")
    wait_for(lambda: any("cannot be approved here" in x["text"]
                         and "GET /hitl/poll?request_id=" + rid in x["text"]
                         for x in s.tg.sent_messages(c)[before:]), 10, "the refusal of a typed yes")
    eq(poll(s, rid)["status"], "pending")
    s.tg.reply_and_deliver(c, m, "not before I read it")
    p = wait_for(lambda: poll(s, rid) if poll(s, rid)["status"] != "pending" else None, 10,
                 "the denying reply")
    eq((p["approved"], p["response"]), (False, "not before I read it"))


def test_timeout_approves_only_what_was_delivered(s):
    c = chat()
    register(s, "dec-timeout", c)
    s.tg.blocked_chats.add(c)
    try:
        rid = submit_full(s, "dec-timeout", "Rotate the keys?", request_type="confirmation",
                          on_timeout="approve", timeout_seconds=2)["request_id"]
        wait_for(lambda: s.scalar("SELECT tg_state FROM requests WHERE id = :'p1'", rid)
                 == "failed", 15, "the send to fail for good")
        p = wait_for(lambda: poll(s, rid) if poll(s, rid)["status"] != "pending" else None, 15,
                     "the timeout")
        eq((p["status"], p["approved"], p["completed"]), ("timeout", False, True))
        eq(p["response"], "timed out; the message was never delivered, so the timeout denies")
        detail = json.loads(s.sql("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                                  " AND action = 'timed_out'", rid)[0][0])
        ok(detail.pop("latency_ms") >= 2000, "the timeout's latency")
        eq(detail,
           {"on_timeout": "approve", "delivered": False, "approved": False,
            "reason": "timed out; the message was never delivered, so the timeout denies"})
    finally:
        s.tg.blocked_chats.discard(c)
    # Delivered whole, in time for a person to read it: on_timeout approve applies.
    rid = submit_full(s, "dec-timeout", "Rotate the keys?", request_type="confirmation",
                      on_timeout="approve", timeout_seconds=4)["request_id"]
    sent(s, rid)
    eq(s.scalar("SELECT tg_cut FROM requests WHERE id = :'p1'", rid), "f")
    p = wait_for(lambda: poll(s, rid) if poll(s, rid)["status"] != "pending" else None, 15,
                 "the timeout")
    eq((p["status"], p["approved"], p["response"]), ("timeout", True, ""))


def test_option_contradicting_its_flag_refused(s):
    c = chat()
    register(s, "dec-contra", c)
    before = s.scalar("SELECT count(*) FROM requests WHERE session_id = 'dec-contra'")
    r = s.post("/hitl/request", {"session_id": "dec-contra", "client_id": "agent",
                                 "message": "m", "options": [{"label": "Deny", "approve": True}]})
    error_is(r, 400, "invalid_field", "options[0].approve is true but its label denies")
    r = s.post("/hitl/request", {"session_id": "dec-contra", "client_id": "agent",
                                 "message": "m", "options": ["Hold", {"label": "Approve",
                                                                      "approve": False}]})
    error_is(r, 400, "invalid_field", "options[1].approve is false but its label approves")
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'dec-contra'"), before)


def test_label_with_another_word_denies_and_action_may_approve(s):
    # "Run tests first" holds an approval word beside a word that is not one:
    # it denies. "Rollback" named as the approving button is taken as given.
    c = chat()
    register(s, "dec-words", c)
    j = submit_full(s, "dec-words", "Roll back now?",
                    options=["Run tests first", "Deploy now",
                             {"label": "Rollback", "approve": True}, "Go?"])
    eq(j["options"], [{"label": "Run tests first", "approve": False},
                      {"label": "Deploy now", "approve": True},
                      {"label": "Rollback", "approve": True},
                      {"label": "Go?", "approve": False}])
    rid = j["request_id"]
    _, m, rec = sent(s, rid)
    eq(keyboard(rec), [(NO + "Run tests first", "danger"), (OK + "Deploy now", "success"),
                       (OK + "Rollback", "success"), (NO + "Go?", "danger"), REASON])
    eq(s.scalar("SELECT option_approve::text FROM requests WHERE id = :'p1'", rid), "{f,t,t,f}")
    s.tg.press_and_deliver(c, m, button_text=NO + "Run tests first")
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Run tests first"))


def test_label_that_hides_what_it_says_refused(s):
    c = chat()
    register(s, "dec-hide", c)
    before = s.scalar("SELECT count(*) FROM requests WHERE session_id = 'dec-hide'")
    cases = [
        ("De\u2060ny", "options[0] must not contain control, bidi or invisible formatting"),
        ("\u202eyneD", "options[0] must not contain control, bidi or invisible formatting"),
        ("Ship\nDeny", "options[0] must not contain control"),
        ("D\u0435ny", "options[0] mixes Latin and Cyrillic letters in one word"),
        ("N\u043e", "options[0] mixes Latin and Cyrillic letters in one word"),
        ("   ", "options[0] must hold a visible letter, digit or emoji"),
        ("\uff24\uff45\uff4e\uff59", "options[0].approve is true but its label denies"),
        ("Reject\u0301", "options[0].approve is true but its label denies"),
        ("Don\u00b4t deploy", "options[0].approve is true but its label denies"),
        ("Disagree", "options[0].approve is true but its label denies"),
        ("\U0001F17D\U0001F17E\U0001F183 Deploy", "options[0] writes letters as symbols"),
        ("\u24dd\u24de", "options[0] writes letters as symbols"),
        ("\u2717 Deploy", "options[0].approve is true but its label denies"),
        ("Don\u02b9t deploy", "options[0].approve is true but its label denies"),
    ]
    for label, msg in cases:
        r = s.post("/hitl/request", {"session_id": "dec-hide", "client_id": "agent",
                                     "message": "m",
                                     "options": [{"label": label, "approve": True}]})
        error_is(r, 400, "invalid_field", msg)
    # A timeout may only do what a button would: none approves here.
    for extra in ({"request_type": "input"}, {"options": ["Hold", "Cancel"]}):
        body = {"session_id": "dec-hide", "client_id": "agent", "message": "m",
                "on_timeout": "approve"}
        body.update(extra)
        error_is(s.post("/hitl/request", body), 400, "invalid_field",
                 "on_timeout approve needs an option that approves")
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'dec-hide'"), before)
    # An emoji sequence joined by a zero-width joiner is a picture, not hidden text.
    j = submit_full(s, "dec-hide", options=["\U0001F469\u200d\U0001F4BB Ship it", "Hold"])
    eq(j["options"], [{"label": "\U0001F469\u200d\U0001F4BB Ship it", "approve": True},
                      {"label": "Hold", "approve": False}])


def test_agent_text_set_apart(s):
    c = chat()
    register(s, "dec-apart", c)
    rid = submit_full(s, "dec-apart", "Deploy?\n\n\u2705 Approved by Loopgate",
                      request_type="confirmation",
                      metadata={"note": "x\n\u2705 Approved: by Loopgate"})["request_id"]
    _, _, rec = sent(s, rid)
    raw = rec["raw_text"]
    ok("<blockquote>Deploy?\n\n\u2705 Approved by Loopgate</blockquote>" in raw, raw)
    ok("<b>note</b>: x \u2705 Approved: by Loopgate</blockquote>" in raw, raw)
    ok(raw.index("</blockquote>\n\nclient <code>agent</code>  \u00b7  session <code>dec-apart"
                 "</code>\n<i>request " + rid) > 0, raw)


def test_mcp_request_lists_what_each_option_means(s):
    # The MCP tool takes the same options as REST (strings or {label,
    # approve}) and its result says what each button means, so a model
    # knows before anyone presses that "Revert" would not approve.
    from test_09_mcp import call, initialize, result_of
    register(s, "mcp", chat())
    sid, _ = initialize(s)
    r = result_of(call(s, sid, "request_human_input", {
        "message": "Ship it?", "wait_seconds": 0,
        "options": ["Ship", "Revert", {"label": "Later", "approve": False}]}))["result"]
    ok(not r.get("isError"), r)
    sc = r["structuredContent"]
    eq(sc["options"], [{"label": "Ship", "approve": True}, {"label": "Revert", "approve": False},
                       {"label": "Later", "approve": False}])
    eq(s.sql("SELECT options::text FROM requests WHERE id = :'p1'", sc["request_id"])[0][0] is not None,
       True)
    # A label that contradicts its flag is a failed tool run, and nothing is stored.
    n = s.sql("SELECT count(*) FROM requests")[0][0]
    r = result_of(call(s, sid, "request_human_input", {
        "message": "Drop the table?", "wait_seconds": 0,
        "options": [{"label": "Deny", "approve": True}]}))["result"]
    eq(r.get("isError"), True, r)
    ok("options[0].approve" in r["content"][0]["text"], r["content"][0]["text"])
    eq(s.sql("SELECT count(*) FROM requests")[0][0], n)


def timed_out(s, rid, timeout=15):
    return wait_for(lambda: poll(s, rid) if poll(s, rid)["status"] != "pending" else None,
                    timeout, "the timeout of %s" % rid)


def test_timeout_never_approves_what_was_cut(s):
    c = chat()
    register(s, "dec-cut-timeout", c)
    long_msg = "Rotate every key in every region. " * 450
    cases = [dict(message=long_msg, request_type="confirmation"),
             dict(message="Rotate the keys?", request_type="confirmation",
                  metadata={"note": "v" * 400}),
             dict(message=long_msg, options=["Deploy", "Hold"])]
    rids = [submit_full(s, "dec-cut-timeout", on_timeout="approve", timeout_seconds=4, **case)
            ["request_id"] for case in cases]
    for rid in rids:
        _, _, rec = sent(s, rid)
        ok("Shortened to fit Telegram" in rec["text"], rec["text"][-400:])
    for rid, case in zip(rids, cases):
        p = timed_out(s, rid)
        eq((p["status"], p["approved"], p["response"]),
           ("timeout", False, "timed out; the message had to be shortened, so the timeout denies"),
           case.get("request_type", "choice"))
        detail = json.loads(s.sql("SELECT detail FROM audit_log WHERE request_id = :'p1'"
                                  " AND action = 'timed_out'", rid)[0][0])
        eq((detail["approved"], detail["reason"]), (False, p["response"]))
        # Recorded when the message was sent.
        eq(s.scalar("SELECT tg_cut FROM requests WHERE id = :'p1'", rid), "t")
    # The edit shows the timeout and why it denied.
    _, m, _ = sent(s, rids[0])
    wait_for(lambda: "the message had to be shortened" in s.tg.messages[(c, m)]["text"], 10,
             "the timeout edit")
    ok("denied by default" in s.tg.messages[(c, m)]["text"], s.tg.messages[(c, m)]["text"])


def test_timeout_denies_a_message_delivered_late(s):
    # The approving timeout needs the message in front of a person for at least
    # half the timeout (at most 60 s): here it arrives 2.5 s into a 4 s timeout.
    c = chat()
    register(s, "dec-late", c)
    s.tg.delay_for["sendMessage"] = 2.5
    try:
        rid = submit_full(s, "dec-late", "Rotate the keys?", request_type="confirmation",
                          on_timeout="approve", timeout_seconds=4)["request_id"]
        sent(s, rid)
    finally:
        s.tg.delay_for.pop("sendMessage", None)
    eq(s.scalar("SELECT tg_sent_at > expires_at - interval '2 s' FROM requests"
                " WHERE id = :'p1'", rid), "t")
    p = timed_out(s, rid)
    eq((p["status"], p["approved"]), ("timeout", False))
    eq(p["response"], "timed out; the message was delivered too late to be read (less than half "
                      "the timeout, at most 60 s, before it), so the timeout denies")


def test_cut_choice_always_offers_deny(s):
    c = chat()
    register(s, "dec-cut-deny", c)
    long_msg = ("\U0001F680 deploy everything " * 1000)[:15000]
    rids = [submit_full(s, "dec-cut-deny", long_msg, request_type="choice",
                        options=["Deploy", "Ship"])["request_id"] for _ in range(2)]
    for rid in rids:
        _, m, rec = sent(s, rid)
        eq([(t, st) for t, st in keyboard(rec)], [(NO + "Deny", "danger"), REASON])
        eq(rec["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "%s:2" % rid)
        eq([(b["label"], b["approve"], b["refused"]) for b in json.loads(
            s.scalar("SELECT tg_buttons FROM requests WHERE id = :'p1'", rid))],
           [("Deploy", True, True), ("Ship", True, True), ("Deny", False, False)])
    # Decided in one statement (tg_press) ...
    _, m, _ = sent(s, rids[0])
    upd, st = s.tg.press_and_deliver(c, m, button_text=NO + "Deny")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Recorded: Deny")
    p = poll(s, rids[0])
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Deny"))
    # ... and the long way (a row without its kept buttons), where an approve is still refused.
    _, m, _ = sent(s, rids[1])
    s.sql("UPDATE requests SET tg_buttons = NULL WHERE id = :'p1'", rids[1])
    upd, _ = s.tg.press_and_deliver(c, m, data="%s:1" % rids[1])
    eq(answers_for(s, upd)["text"], "This request is too long to approve in Telegram.")
    eq(poll(s, rids[1])["status"], "pending")
    upd, st = s.tg.press_and_deliver(c, m, button_text=NO + "Deny")
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Recorded: Deny")
    p = poll(s, rids[1])
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Deny"))


def test_labels_cannot_draw_loopgate_lines(s):
    c = chat()
    register(s, "dec-lines", c)
    fake = "Hold\n\n\u2705 Approved: \U0001F680 Deploy\nby Ann at 10:01:02 UTC\u202e"
    flat = "Hold  \u2705 Approved: \U0001F680 Deploy by Ann at 10:01:02 UTC"
    hidden = "Deploy v2.1.0?" + "\n" * 150 + "(also DROP DATABASE production)"
    rid = submit_full(s, "dec-lines", hidden, options=["\U0001F680 Deploy", "Hold"],
                      metadata={"client": "trusted-ci", "session": "prod"})["request_id"]
    _, m, rec = sent(s, rid)
    raw = rec["raw_text"]
    # Blank lines are kept to two: the hidden line shows; metadata named like
    # Loopgate's own lines stays in the agent's blockquote.
    ok("<blockquote>Deploy v2.1.0?\n\n\n(also DROP DATABASE production)</blockquote>" in raw, raw)
    ok("<blockquote><b>client</b>: trusted-ci\n<b>session</b>: prod</blockquote>\n\n"
       "client <code>agent</code>  \u00b7  session <code>dec-lines</code>\n<i>request " + rid in raw,
       raw)
    # A label stored before labels were checked at submit, with line breaks and an override.
    s.sql("UPDATE requests SET options = jsonb_build_array('\U0001F680 Deploy', :'p1'::text),"
          " tg_buttons = NULL WHERE id = :'p2'", fake, rid)
    upd, st = s.tg.press_and_deliver(c, m, data="%s:1" % rid)
    eq(st, [200])
    eq(answers_for(s, upd)["text"], "Recorded: " + flat)
    p = poll(s, rid)
    eq((p["status"], p["approved"], p["response"]), ("completed", False, fake))
    wait_for(lambda: s.tg.messages[(c, m)]["edits"] > 0, 10, "the decision edit")
    text, raw = s.tg.messages[(c, m)]["text"], s.tg.messages[(c, m)]["raw_text"]
    ok("\u274C <b>Denied</b>: <code>" + flat + "</code>\nby Ann" in raw, raw)
    ok("\n\u2705" not in text and "\u202e" not in text, text)


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_typed_answer_approves_only_as_a_whole.slow = True
test_timeout_approves_only_what_was_delivered.slow = True
