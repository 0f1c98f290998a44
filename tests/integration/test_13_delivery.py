"""Delivery lanes: webhooks that hang cost only the webhook lane, a lease
outlives its attempt (nothing sent twice), IPv6-literal callbacks, proxies
ignored, webhooks that can never be delivered stop."""
import threading
import time

from hookrecv import Hanging, Receiver, verify
from lg import eq, ok, error_is, wait_for
from test_07_telegram import chat, register, submit, sent, poll


def _headers(key):
    return {"Authorization": "Bearer " + key}


def test_hanging_webhooks_do_not_delay_telegram(s):
    hang = Hanging()
    flood, victim = _headers(s.new_key("hook-flood")), _headers(s.new_key("hook-victim"))
    ca, cb = chat(), chat()
    try:
        for h, c in ((flood, ca), (victim, cb)):
            eq(s.post("/hitl/register", {"session_id": "lanes", "client_id": "agent",
                                         "telegram_id": c}, headers=h).status, 200)
        rids = []
        for i in range(40):
            r = s.post("/hitl/request", {"session_id": "lanes", "client_id": "agent",
                                         "message": "hang %d" % i, "callback_url": hang.url},
                       headers=flood)
            eq(r.status, 200, repr(r))
            rids.append(r.json["request_id"])
        for rid in rids:
            eq(s.post("/hitl/cancel", {"request_id": rid}, headers=flood).status, 200)
        # The webhook lane is stuck on the receiver (each attempt hangs until its timeout).
        wait_for(lambda: hang.accepted >= 2, 10, "webhook attempts reaching the hanging receiver")
        wait_for(lambda: int(s.scalar("SELECT count(*) FROM outbox WHERE kind = 'webhook'"
                                      " AND state = 'queued' AND leased_until > now()")) >= 2,
                 10, "webhooks in flight")
        time.sleep(0.5)  # every delivery thread that would take a webhook has taken one
        t0 = time.monotonic()
        r = s.post("/hitl/request", {"session_id": "lanes", "client_id": "agent",
                                     "message": "Telegram must not wait"}, headers=victim)
        eq(r.status, 200, repr(r))
        call = wait_for(lambda: next((c for c in list(s.tg.calls)
                                      if c["method"] == "sendMessage"
                                      and int(c["params"].get("chat_id", 0)) == cb), None),
                        20, "the other tenant's message at the Bot API")
        took = call["received"] - t0
        print("    40 webhooks hanging: another tenant's sendMessage reached the Bot API %.0f ms"
              " after submit" % (took * 1000))
        ok(took < 1.0, "sendMessage %.2fs after submit" % took)
        # The per-tenant cap (webhook_tenant_concurrency, default 2) holds across workers.
        inflight = int(s.scalar("SELECT count(*) FROM outbox WHERE kind = 'webhook'"
                                " AND state = 'queued' AND leased_until > now()"))
        ok(inflight <= 2, "webhooks of one tenant in flight: %d" % inflight)
        ok(hang.open_now() <= 2, "connections open at the receiver: %d" % hang.open_now())
        p = s.get("/hitl/poll?request_id=" + rids[0], headers=flood).json
        eq(p["callback"]["state"], "queued")
    finally:
        s.sql("UPDATE outbox SET state = 'failed', done_at = now(), last_error = 'test cleanup'"
              " WHERE kind = 'webhook' AND state = 'queued' AND request_id IN"
              " (SELECT id FROM requests WHERE tenant = 'hook-flood')")
        hang.stop()


def test_slow_telegram_sends_each_message_once(s):
    """A batch of four rows, each call 16 s: the last starts 48 s into a 60 s lease."""
    chats = [chat() for _ in range(4)]
    for i, c in enumerate(chats):
        register(s, "slow-%d" % i, c)
    held = threading.Event()
    release = threading.Event()

    def hold_claims():
        # The claim's advisory lock, held while the four rows are queued, so that
        # one delivery thread claims all four in one batch.
        s.sql("SELECT pg_advisory_lock(1819242087, 1), pg_sleep(3),"
              " pg_advisory_unlock(1819242087, 1)")
        release.set()

    s.tg.delay_for["sendMessage"] = 16
    t = threading.Thread(target=hold_claims)
    try:
        t.start()
        wait_for(lambda: s.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                  " AND classid = 1819242087 AND objid = 1 AND granted") == "1",
                 10, "the claim lock held")
        held.set()
        rids = [submit(s, "slow-%d" % i, "slow %d" % i) for i in range(4)]
        ok(not release.is_set(), "the four rows were queued while claims were held")
        t.join(10)
        for rid in rids:
            sent(s, rid, timeout=150)
        rows = s.sql("SELECT attempts, state FROM outbox WHERE kind = 'tg_send'"
                     " AND request_id = ANY (:'p1'::uuid[])", "{%s}" % ",".join(rids))
        eq(sorted(rows), [["1", "done"]] * 4, "each row claimed once")
        for c in chats:
            n = len([x for x in list(s.tg.calls)
                     if x["method"] == "sendMessage" and int(x["params"].get("chat_id", 0)) == c])
            eq(n, 1, "sendMessage calls to chat %d" % c)
    finally:
        s.tg.delay_for.pop("sendMessage", None)
        t.join(10)


test_slow_telegram_sends_each_message_once.slow = True
test_slow_telegram_sends_each_message_once.drill = True  # make check-drills


def test_ipv6_literal_callback_delivered(s):
    rec = Receiver(host="::1")
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        c = chat()
        register(s, "hook-v6", c)
        ok(rec.url.startswith("http://[::1]:"), rec.url)
        rid = submit(s, "hook-v6", "v6", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        body = verify(rec.wait_calls(1, timeout=10)[0], secret)
        eq((body["request_id"], body["event"]), (rid, "request.canceled"))
        wait_for(lambda: poll(s, rid)["callback"]["state"] == "delivered", 5)
        eq(poll(s, rid)["callback"]["attempts"], 1)
    finally:
        rec.stop()


def test_undeliverable_webhooks_stop_and_say_why(s):
    rec = Receiver()
    rec.status = 404
    try:
        c = chat()
        register(s, "hook-final", c)
        # A non-ASCII host is refused at submit.
        error_is(s.post("/hitl/request", {"session_id": "hook-final", "client_id": "agent",
                                          "message": "x",
                                          "callback_url": "https://b\u00fccher.example/x"}),
                 400, "invalid_field", "ASCII")
        # A final 4xx: one attempt, then failed with the reason.
        rid = submit(s, "hook-final", "gone", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        rec.wait_calls(1)
        wait_for(lambda: poll(s, rid)["callback"]["state"] == "failed", 10, "failed for good")
        cb = poll(s, rid)["callback"]
        eq(cb["attempts"], 1)
        ok("HTTP 404" in cb["last_error"], cb)
        eq(s.sql("SELECT state, attempts FROM outbox WHERE request_id = :'p1'"
                 " AND kind = 'webhook'", rid), [["failed", "1"]])
        # A URL stored before the submit check (an older release) is refused at delivery.
        rid2 = submit(s, "hook-final", "idn", callback_url=rec.url)
        s.sql("UPDATE requests SET callback_url = 'https://b\u00fccher.example/x'"
              " WHERE id = :'p1'", rid2)
        eq(s.post("/hitl/cancel", {"request_id": rid2}).status, 200)
        wait_for(lambda: poll(s, rid2)["callback"]["state"] == "failed", 10, "refused for good")
        ok("ASCII" in poll(s, rid2)["callback"]["last_error"], poll(s, rid2)["callback"])
        eq(len(rec.calls), 1, "the receiver saw only the first")
    finally:
        rec.stop()


def test_proxy_variables_ignored_for_callbacks(s):
    # A proxy on a closed port: a callback sent through it could never arrive.
    closed = Hanging()
    closed.stop()
    proxy = "http://127.0.0.1:%d" % closed.port
    env = {"http_proxy": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "HTTPS_PROXY": proxy,
           "ALL_PROXY": proxy, "all_proxy": proxy,
           # the Bot API stand-in and nginx stay direct
           "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
    rec = Receiver(host="127.0.0.2")  # loopback, not in no_proxy
    s.stop()
    try:
        s.start(**env)
        c = chat()
        register(s, "hook-proxy", c)
        rid = submit(s, "hook-proxy", "direct", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        rec.wait_calls(1, timeout=10)
        wait_for(lambda: poll(s, rid)["callback"]["state"] == "delivered", 5)
    finally:
        rec.stop()
        s.stop()
        for k in env:
            s.extra_env.pop(k, None)
        s.start()


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_proxy_variables_ignored_for_callbacks.slow = True
