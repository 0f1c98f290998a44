"""Telegram state per bot, and Telegram failures a person can see: a second bot
token on the same database, update ids per bot and their window, presses on
an old bot's message and on requests that timed out or were canceled, the
longest non-ASCII names Telegram allows (webhook and getUpdates), updates that
can never be processed, a token Telegram refuses, and getUpdates' least gap."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import tgstub
from lg import chat, eq, ok, wait_for
from test_07_telegram import register

SECOND_TOKEN = "654321:SECOND-bot-token"
LONG_FIRST = "\U0001F680" * 64   # 64 characters of 4 bytes
LONG_LAST = "\u4e2d" * 64        # 64 characters of 3 bytes


def submit(s, sid, message="Deploy v2.1.0 to production?", **extra):
    body = {"session_id": sid, "client_id": "agent", "message": message,
            "request_type": "confirmation"}
    body.update(extra)
    r = s.post("/hitl/request", body)
    eq(r.status, 200, repr(r))
    return r.json["request_id"]


def sent(s, rid, timeout=15):
    row = wait_for(lambda: s.sql("SELECT telegram_chat_id, telegram_message_id FROM requests"
                                 " WHERE id = :'p1' AND tg_state = 'sent'", rid),
                   timeout, "request %s to be sent" % rid)
    return int(row[0][0]), int(row[0][1])


def status(s, rid):
    return s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid)


def answer_texts(stub, qid):
    return [c["params"].get("text") for c in stub.calls_of("answerCallbackQuery")
            if str(c["params"].get("callback_query_id")) == str(qid)]


def restart_with(s, stub):
    s.stop()
    s.start(TELEGRAM_API_URL=stub.url, TELEGRAM_BOT_TOKEN=stub.token)


def test_second_bot_on_the_same_database(s):
    """A second bot's message ids and update ids collide with the first's: each is its own."""
    c = chat()
    register(s, "bots", c)
    first = s.tg
    # The first bot: message 1 in chat c (left pending) and a press it processed.
    r1 = submit(s, "bots", "first bot's request")
    eq(sent(s, r1), (c, 1), "first bot's message")
    r0 = submit(s, "bots", "decided by the first bot")
    c0, m0 = sent(s, r0)
    shared_update = first.next_update_id
    up = first.press(c0, m0, data="%s:0" % r0)
    eq(up["update_id"], shared_update)
    eq(first.deliver(up)[-1], 200)
    wait_for(lambda: status(s, r0) == "completed", 10, "the first bot's press")

    second = tgstub.TelegramStub(token=SECOND_TOKEN).start()
    try:
        second.webhook_target("http://127.0.0.1:%d/telegram/webhook" % s.port, s.webhook_secret)
        # Updates the second bot saw long ago (beyond the window) and lately.
        old_id, recent_id = shared_update - 50, shared_update - 40
        s.sql("INSERT INTO tg_updates (bot_id, update_id, received_at) VALUES"
              " (654321, :'p1', now() - interval '49 hours'),"
              " (654321, :'p2', now() - interval '1 hour')", old_id, recent_id)
        restart_with(s, second)
        wait_for(lambda: s.scalar("SELECT count(*) FROM tg_updates WHERE bot_id = 654321"
                                  " AND update_id = :'p1'", old_id) == "0", 30,
                 "the update older than the window to be pruned (the janitor's first run)")
        eq(s.scalar("SELECT count(*) FROM tg_updates WHERE bot_id = 654321 AND update_id = :'p1'",
                    recent_id), "1", "a recent update is kept")

        # Its first message in chat c is message 1 too: delivered once, at once.
        t0 = time.time()
        r2 = submit(s, "bots", "second bot's request")
        eq(sent(s, r2, timeout=10), (c, 1), "second bot's message")
        ok(time.time() - t0 < 5, "the second bot's message took %.1fs" % (time.time() - t0))
        eq(s.scalar("SELECT tg_bot_id FROM requests WHERE id = :'p1'", r2), "654321")
        time.sleep(1.5)
        eq(len([m for m in second.sent_messages(c)]), 1, "messages the second bot sent to c")
        ok("could not record a delivery outcome" not in s.worker_log(),
           "a delivery outcome could not be recorded")

        # Its press carries an update_id the first bot already used: it decides.
        second.next_update_id = shared_update
        up2 = second.press(c, 1, data="%s:0" % r2)
        eq(up2["update_id"], shared_update)
        t0 = time.time()
        eq(second.deliver(up2)[-1], 200)
        wait_for(lambda: status(s, r2) == "completed", 5, "the second bot's press to decide")
        ok(time.time() - t0 < 5, "decided in %.1fs" % (time.time() - t0))
        wait_for(lambda: answer_texts(second, up2["callback_query"]["id"]), 10, "its answer")

        # A lower update_id than any seen (Telegram restarts them), once pruned: processed.
        r3 = submit(s, "bots", "answered with a restarted update id")
        c3, m3 = sent(s, r3)
        second.next_update_id = old_id
        up3 = second.press(c3, m3, data="%s:0" % r3)
        eq(second.deliver(up3)[-1], 200)
        wait_for(lambda: status(s, r3) == "completed", 5, "a press with a lower update_id")

        # A press on the old bot's message: answered "expired", nothing decided.
        up4 = first.press(c, 1, data="%s:0" % r1)
        up4["update_id"] = second.next_update_id + 100
        eq(second.deliver(up4)[-1], 200)
        texts = wait_for(lambda: answer_texts(second, up4["callback_query"]["id"]), 10,
                         "the answer to a press on the old bot's message")
        ok("expired" in texts[0], "answer %r does not say expired" % texts[0])
        eq(status(s, r1), "pending", "the old bot's request")

        # A timed-out and a canceled request: answered as such, not "already answered".
        r4 = submit(s, "bots", "times out")
        c4, m4 = sent(s, r4)
        s.sql("UPDATE requests SET expires_at = now() - interval '1 second' WHERE id = :'p1'", r4)
        wait_for(lambda: status(s, r4) == "timeout", 5, "the request to time out")
        r5 = submit(s, "bots", "canceled")
        c5, m5 = sent(s, r5)
        eq(s.post("/hitl/cancel", {"request_id": r5}).status, 200)
        for rid, cc, mm, want in ((r4, c4, m4, "timed out"), (r5, c5, m5, "canceled"),
                                  (r2, c, 1, "already answered by Ann")):
            u = second.press(cc, mm, data="%s:0" % rid)
            eq(second.deliver(u)[-1], 200)
            got = wait_for(lambda: answer_texts(second, u["callback_query"]["id"]), 10,
                           "the answer for %s" % want)
            ok(want in got[0], "answer %r does not say %r" % (got[0], want))
    finally:
        restart_with(s, first)
        second.stop()


def long_name_update(update, key):
    update[key]["from"]["first_name"] = LONG_FIRST
    update[key]["from"]["last_name"] = LONG_LAST
    return update


def test_longest_non_ascii_names_webhook(s):
    c = chat()
    register(s, "names", c)
    rid = submit(s, "names")
    cc, mm = sent(s, rid)
    up = long_name_update(s.tg.press(cc, mm, data="%s:0" % rid), "callback_query")
    eq(s.tg.deliver(up, deadline=5)[-1], 200)
    wait_for(lambda: status(s, rid) == "completed", 5, "the press to decide")
    eq(s.scalar("SELECT responder_name FROM requests WHERE id = :'p1'", rid),
       LONG_FIRST + " " + LONG_LAST, "the name, stored whole")
    # A reply to an input request.
    rid2 = submit(s, "names", "Which version?", request_type="input")
    cc, mm = sent(s, rid2)
    up = long_name_update(s.tg.reply(cc, mm, "approve"), "message")
    eq(s.tg.deliver(up, deadline=5)[-1], 200)
    wait_for(lambda: status(s, rid2) == "completed", 5, "the reply to decide")
    eq(s.scalar("SELECT responder_name FROM requests WHERE id = :'p1'", rid2),
       LONG_FIRST + " " + LONG_LAST)


def test_update_that_can_never_be_processed_webhook(s):
    """Recorded as refused and answered 200, so Telegram stops repeating it."""
    uid = s.tg.next_update_id + 10_000
    bad = {"update_id": uid, "callback_query": {"from": {"id": 5, "first_name": "x"},
                                                "data": "no id"}}
    statuses = s.tg.deliver(bad, deadline=3)
    eq(statuses, [200], "webhook answers")
    ok(s.scalar("SELECT refused FROM tg_updates WHERE update_id = :'p1'", uid),
       "the update is recorded as refused")


def test_getupdates_mode(s):
    """getUpdates: a press by the longest non-ASCII name decides; an update that can never
    be processed is passed over; an immediate empty answer does not make the loop spin."""
    c = chat()
    register(s, "poll", c)
    rid = submit(s, "poll")
    cc, mm = sent(s, rid)
    s.tg.webhook_target(None)
    log = open(os.path.join(s.var, "log", "poll.log"), "w")
    poller = None
    try:
        bad_id = s.tg.next_update_id
        s.tg.next_update_id += 1
        s.tg.deliver({"update_id": bad_id, "callback_query": {"from": {"id": 5}, "data": "x"}})
        up = long_name_update(s.tg.press(cc, mm, data="%s:0" % rid), "callback_query")
        s.tg.deliver(up)
        poller = subprocess.Popen([s.binary, "telegram", "poll"], env=s.env(), stdout=log,
                                  stderr=subprocess.STDOUT)
        wait_for(lambda: status(s, rid) == "completed", 15, "the press to decide via getUpdates")
        eq(s.scalar("SELECT responder_name FROM requests WHERE id = :'p1'", rid),
           LONG_FIRST + " " + LONG_LAST)
        ok(s.scalar("SELECT refused FROM tg_updates WHERE update_id = :'p1'", bad_id),
           "the bad update is recorded as refused")
        wait_for(lambda: not s.tg.pending_updates() and s.tg.calls_of("getUpdates"), 10,
                 "getUpdates to move past both updates")
        # A Bot API that answers at once with nothing: at most about one call a second.
        s.tg.max_poll = 0
        time.sleep(0.5)
        n0 = len(s.tg.calls_of("getUpdates"))
        time.sleep(3)
        n = len(s.tg.calls_of("getUpdates")) - n0
        ok(n <= 5, "%d getUpdates calls in 3 s" % n)
        ok(poller.poll() is None, "the poller is still running")
    finally:
        s.tg.max_poll = 30.0
        if poller:
            poller.send_signal(signal.SIGTERM)
            try:
                poller.wait(30)
            except subprocess.TimeoutExpired:
                poller.kill()
        log.close()
        s.tg.webhook_target("http://127.0.0.1:%d/telegram/webhook" % s.port, s.webhook_secret)


def test_token_refused(s):
    """401 from Telegram: no hot loop, and no worker calls again once one was refused; one
    clear error without the token, /health shows it;
    the right token sends what waited."""
    c = chat()
    register(s, "refused", c)
    wrong = "999999:WRONG-token-value"
    log_start = len(s.worker_log())
    s.stop()
    s.start(TELEGRAM_BOT_TOKEN=wrong)
    later = []
    try:
        rid = submit(s, "refused", "waits for a working token")
        unauthorized = lambda: [x for x in s.tg.calls if x["status"] == 401]  # noqa: E731
        wait_for(unauthorized, 10, "a call with the refused token")
        h = wait_for(lambda: (lambda r: r if r.json.get("telegram", {}).get("ok") is False
                              else None)(s.get("/health")), 10, "/health to show the token")
        eq(h.status, 200, "health status code")
        eq(h.json["status"], "degraded")
        eq(h.json["database"], "ok")
        ok("401" in h.json["telegram"]["error"] and "refused" in h.json["telegram"]["error"],
           "health error %r" % h.json["telegram"])
        # Every process reads the refusal (at most a second later) and its Telegram lane
        # takes no rows while parked: later requests wait unclaimed, without a call.
        time.sleep(1.2)
        n0 = len(unauthorized())
        for i in range(6):
            register(s, "refused-%d" % i, chat())
        later = [submit(s, "refused-%d" % i, "one more") for i in range(6)]
        time.sleep(4)
        eq(s.sql("SELECT attempts, last_error FROM outbox WHERE kind = 'tg_send'"
                 " AND attempts > 0 AND request_id::text = ANY (:'p1'::text[])",
                 "{%s}" % ",".join(later)), [], "later requests claimed while parked")
        eq(len(unauthorized()) - n0, 0, "401 calls after the refusal was recorded: %r" % [
            (x["method"], str(x.get("params"))[:60]) for x in unauthorized()[n0:]])
        log = s.worker_log()[log_start:]
        eq(log.count("Telegram refused the bot token"), 1, "error lines about the token")
        ok("WRONG-token-value" not in s.log_text(), "the token is in a log")
        eq(status(s, rid), "pending")
    finally:
        restart_with(s, s.tg)
    for r in [rid] + later:
        sent(s, r, timeout=30)
    h = s.get("/health")
    eq(h.json["status"], "healthy", repr(h))
    eq(h.json["telegram"]["ok"], True)


def test_revoked_token_elsewhere_parks_nothing_here(s):
    """Another process of the same bot on the same database still runs with a token
    revoked in BotFather (the same bot id): here `loopgate telegram poll`, whose
    getUpdates Telegram refuses. Its refusal is recorded under its token's
    fingerprint; this stack, whose token works, parks nothing and sends every
    request, and its /health stays healthy."""
    sessions = ["revoked-%d" % i for i in range(4)]
    for sid in sessions:
        register(s, sid, chat())
    bot = int(s.tg.token.split(":")[0])
    d = tempfile.mkdtemp(prefix="lgtok.")
    n0 = len(s.tg.calls)
    refused = lambda: [x for x in s.tg.calls[n0:] if x["status"] == 401]  # noqa: E731
    other = subprocess.Popen(
        [s.binary, "telegram", "poll"],
        env=s.env(TELEGRAM_BOT_TOKEN="%d:REVOKED-token-value" % bot, TELEGRAM_API_URL=s.tg.url),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(d, "poll.log"), "w"))
    try:
        wait_for(lambda: refused() and s.scalar(
            "SELECT count(*) FROM tg_token_refused WHERE bot_id = :'p1'", bot) == "1", 15,
            "the revoked token's refusal to be recorded")
        time.sleep(1.2)   # every worker has read its own token's row (none) since
        rids = [submit(s, sid, "while another process has the old token") for sid in sessions]
        for r in rids:
            sent(s, r, timeout=20)
        eq([x["method"] for x in refused()], ["getUpdates"], "calls refused")
        h = s.get("/health")
        eq((h.json["status"], h.json["telegram"]["ok"]), ("healthy", True), repr(h.json))
    finally:
        other.send_signal(signal.SIGTERM)
        try:
            other.wait(15)
        except subprocess.TimeoutExpired:
            other.kill()
            other.wait()
        s.sql("DELETE FROM tg_token_refused WHERE bot_id = :'p1'", bot)
        shutil.rmtree(d, ignore_errors=True)


OTHER_BOT = {"id": 999001, "is_bot": True, "first_name": "Old Bot", "username": "old_bot"}


def bot_of(stub):
    return {k: stub.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}


def person(c):
    return {"id": c, "is_bot": False, "first_name": "Ann"}


def private(c):
    return {"id": c, "type": "private", "first_name": "Ann"}


def bot_message(bot, c, mid):
    return {"message_id": mid, "from": bot, "chat": private(c), "date": int(time.time()),
            "text": "a message of bot %d" % bot["id"]}


def reply_update(update_id, bot, c, to_mid, text):
    """A person's reply in private chat c to message to_mid of `bot`."""
    return {"update_id": update_id, "message": {
        "message_id": 900000 + update_id % 100000, "from": person(c), "chat": private(c),
        "date": int(time.time()), "text": text,
        "reply_to_message": bot_message(bot, c, to_mid)}}


def press_update(update_id, qid, bot, c, mid, data):
    """A person's press in private chat c of a button on message mid of `bot`."""
    return {"update_id": update_id, "callback_query": {
        "id": qid, "from": person(c), "message": bot_message(bot, c, mid),
        "chat_instance": "1", "data": data}}


def test_bot_zero_is_adopted_once(s):
    """Rows from before bot ids (bot 0) are the configured bot's only by adoption, once: after
    a token change a reply to the new bot's message 777 or a press on the new bot's message
    does not decide the old request of the same message id."""
    c = chat()
    register(s, "unowned", c)
    first = s.tg
    old_in = submit(s, "unowned", "Which version?", request_type="input")
    sent(s, old_in)
    old_btn = submit(s, "unowned", "Deploy the old way?")
    _, m_btn = sent(s, old_btn)
    # As written before bot ids were recorded: bot 0.
    s.sql("UPDATE requests SET tg_bot_id = 0, telegram_message_id = 777 WHERE id = :'p1'", old_in)
    s.sql("UPDATE requests SET tg_bot_id = 0 WHERE id = :'p1'", old_btn)
    uid = 8_100_000
    second = tgstub.TelegramStub(token=SECOND_TOKEN).start()
    try:
        second.webhook_target("http://127.0.0.1:%d/telegram/webhook" % s.port, s.webhook_secret)
        restart_with(s, second)
        new_bot = bot_of(second)
        # The new bot's own message 777 (say, a /help answer) gets the reply "yes".
        eq(second.deliver(reply_update(uid, new_bot, c, 777, "yes"))[-1], 200)
        eq(status(s, old_in), "pending", "the old request after a reply to the new bot's 777")
        # A press on the new bot's message with the old request's message id and data.
        eq(second.deliver(press_update(uid + 1, "q-unowned-1", new_bot, c, m_btn,
                                       "%s:0" % old_btn))[-1], 200)
        texts = wait_for(lambda: answer_texts(second, "q-unowned-1"), 10, "the press's answer")
        ok("expired" in texts[0], "answer %r does not say expired" % texts[0])
        eq(status(s, old_btn), "pending", "the old request after a press on the new bot's message")
        # A reply to the old bot's message: no bot owns it, nothing is decided.
        eq(second.deliver(reply_update(uid + 2, bot_of(first), c, 777, "yes"))[-1], 200)
        eq(status(s, old_in), "pending", "the old request after a reply to the old bot's 777")
        eq(s.scalar("SELECT tg_bot_id FROM requests WHERE id = :'p1'", old_in), "0")
        eq(s.scalar("SELECT bot_id FROM tg_unowned_adopted"), str(first.bot_id),
           "the bot that adopted bot 0 when the stack started")
        ok("another bot's; presses on them are answered expired" in s.worker_log(),
           "the log says the unowned messages are another bot's")

        # A database nobody adopted bot 0 of yet: the first start with a token adopts it.
        s.sql("INSERT INTO tg_updates (bot_id, update_id) VALUES (0, :'p1')", uid + 3)
        s.sql("DELETE FROM tg_unowned_adopted")
        restart_with(s, first)
        wait_for(lambda: s.scalar("SELECT bot_id FROM tg_unowned_adopted") == str(first.bot_id),
                 10, "the first bot to adopt bot 0's rows")
        for rid in (old_in, old_btn):
            eq(s.scalar("SELECT tg_bot_id FROM requests WHERE id = :'p1'", rid),
               str(first.bot_id), "bot of %s" % rid)
        eq(s.sql("SELECT bot_id FROM tg_updates WHERE update_id = :'p1'", uid + 3),
           [[str(first.bot_id)]], "bot 0's processed update, adopted")
        ok("Telegram messages recorded without a bot id are now this bot's" in s.worker_log(),
           "adoption is logged")
        # Adopted: its own bot's reply decides.
        eq(first.deliver(reply_update(uid + 4, bot_of(first), c, 777, "yes"))[-1], 200)
        wait_for(lambda: status(s, old_in) == "completed", 5, "the reply to decide")
        eq(s.scalar("SELECT approved FROM requests WHERE id = :'p1'", old_in), "t")
    finally:
        restart_with(s, first)
        second.stop()
    # Once for the database: another start changes nothing.
    eq(s.sql("SELECT count(*), min(bot_id) FROM tg_unowned_adopted"), [["1", str(first.bot_id)]])


def test_other_bots_update_id_is_its_own(s):
    """An update about another bot's message is answered expired and recorded under that bot:
    the configured bot's update with the same update_id is still processed."""
    c = chat()
    register(s, "otherbot", c)
    rid = submit(s, "otherbot", "Deploy after the other bot?")
    cc, mm = sent(s, rid)
    up = s.tg.press(cc, mm, data="%s:0" % rid)
    other = press_update(up["update_id"], "q-other-1", OTHER_BOT, c, mm, "%s:0" % rid)
    eq(s.tg.deliver(other)[-1], 200)
    texts = wait_for(lambda: answer_texts(s.tg, "q-other-1"), 10, "the other bot's answer")
    ok("expired" in texts[0], "answer %r does not say expired" % texts[0])
    eq(status(s, rid), "pending", "after the other bot's press")
    eq(s.sql("SELECT bot_id FROM tg_updates WHERE update_id = :'p1' ORDER BY bot_id",
             up["update_id"]), [[str(OTHER_BOT["id"])]], "recorded under the other bot")
    # The configured bot's own press with the same update_id: processed.
    eq(s.tg.deliver(up)[-1], 200)
    wait_for(lambda: status(s, rid) == "completed", 5, "the configured bot's press to decide")

    # The same for a reply to an input request.
    rid2 = submit(s, "otherbot", "Which branch?", request_type="input")
    cc, mm = sent(s, rid2)
    up2 = s.tg.reply(cc, mm, "yes")
    eq(s.tg.deliver(reply_update(up2["update_id"], OTHER_BOT, c, mm, "yes"))[-1], 200)
    eq(status(s, rid2), "pending", "after a reply to the other bot's message")
    eq(s.tg.deliver(up2)[-1], 200)
    wait_for(lambda: status(s, rid2) == "completed", 5, "the configured bot's reply to decide")


def test_webhook_bodies_that_cannot_be_processed(s):
    """A JSON object that can never be processed is answered 200 and logged (Telegram would
    repeat it); a body that is not a JSON object at all is 400, logged, nothing recorded."""
    pids, log_from = s.worker_pids(), len(s.worker_log())
    hdrs = {"Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": s.webhook_secret}
    before = s.counts()
    for body in ('{"message": {"text": "/help"}}', '{"update_id": "7", "message": {}}',
                 '{"update_id": 1.5}'):
        r = s.request("POST", "/telegram/webhook", body=body, headers=hdrs)
        eq(r.status, 200, "%s -> %r" % (body, r))
    for body in ("not json", "[1, 2]", "{\"update_id\": 5"):
        r = s.request("POST", "/telegram/webhook", body=body, headers=hdrs)
        eq(r.status, 400, "%s -> %r" % (body, r))
        eq(r.json["error"]["code"], "invalid_json", repr(r))
    eq(s.counts(), before, "database")
    log = s.worker_log()[log_from:]
    eq(log.count("update_id must be an integer"), 3, "log lines for updates without an id:\n" + log)
    eq(log.count("telegram webhook body refused"), 3, "log lines for bodies that are no JSON "
       "object:\n" + log)
    eq(s.worker_pids(), pids, "worker pids")
    ok("worker died" not in log, "a worker died")


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_token_refused.slow = True
test_second_bot_on_the_same_database.slow = True
test_bot_zero_is_adopted_once.slow = True
