"""Waiting for the human: long-polls woken by LISTEN/NOTIFY, enforced
timeouts, signed agent webhooks."""
import concurrent.futures
import itertools
import json
import os
import statistics
import threading
import time

from hookrecv import Receiver, verify
from lg import eq, ok, error_is, wait_for
from test_07_telegram import chat, register, submit, sent, poll, buttons
from test_18_metrics import scrape, val


def long_poll(s, rid, wait, **kw):
    t = time.monotonic()
    r = s.get("/hitl/poll?request_id=%s&wait=%s" % (rid, wait), timeout=wait + 30, **kw)
    return r, time.monotonic() - t


def test_long_poll_wakes_within_milliseconds(s):
    c = chat()
    register(s, "wait-fast", c)
    lat = []
    for i in range(5):
        rid = submit(s, "wait-fast", options=["Yes", "No"])
        _, m, _ = sent(s, rid)
        box = {}
        t = threading.Thread(target=lambda: box.update(r=long_poll(s, rid, 30)))
        t.start()
        time.sleep(0.3)  # the poll is now waiting
        upd = s.tg.press(c, m, button_text="\u2705 Yes")
        t0 = time.monotonic()
        eq(s.tg.deliver(upd), [200])
        t.join(10)
        r, _ = box["r"]
        lat.append((time.monotonic() - t0) * 1000)
        eq((r.status, r.json["status"], r.json["approved"], r.json["completed"]),
           (200, "completed", True, True))
    print("    webhook POST to long-poll answer: median %.1f ms, max %.1f ms (5 decisions,"
          " measured through Python threads; bench/wake.py measures the product itself)" % (statistics.median(lat), max(lat)))
    ok(max(lat) < 1000, "woken within a second: %r" % lat)


def test_wait_runs_out_and_request_stays_pending(s):
    c = chat()
    register(s, "wait-out", c)
    rid = submit(s, "wait-out", options=["Yes"])
    r, took = long_poll(s, rid, 2)
    eq((r.status, r.json["status"], r.json["completed"]), (200, "pending", False))
    ok(1.9 <= took < 4, "waited %.2fs for wait=2" % took)
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid), "pending")
    # A final request answers at once, whatever the wait; the cap bounds it anyway.
    eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    r, took = long_poll(s, rid, 99999)
    eq(r.json["status"], "canceled")
    ok(took < 1, "answered at once (%.2fs)" % took)
    error_is(s.get("/hitl/poll?request_id=%s&wait=soon" % rid), 400, "invalid_parameter", "wait")
    error_is(s.get("/hitl/poll?request_id=%s&wait=-1" % rid), 400, "invalid_parameter", "wait")
    error_is(s.get("/hitl/poll?request_id=00000000-0000-0000-0000-000000000000&wait=5"), 404,
             "request_not_found")


def test_500_waiting_all_woken(s):
    # The test stack runs 2 workers of 400 threads (run.py).
    s.clear_pending()
    c = -1003000000001
    register(s, "wait-many", c, approvers=[1])
    one = submit(s, "wait-many", options=["Yes", "No"])
    many_c = [chat() for _ in range(5)]
    many = []
    for i, cc in enumerate(many_c):
        register(s, "wait-many-%d" % i, cc)
        many += [submit(s, "wait-many-%d" % i, "q", options=["Yes", "No"]) for _ in range(5)]
    targets = [one] * 250 + [many[i % len(many)] for i in range(250)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=520) as ex:
        futs = [ex.submit(long_poll, s, rid, 60) for rid in targets]
        wait_for(lambda: s.get("/health").status == 200 and all(not f.done() for f in futs), 5)
        time.sleep(2)  # let every poll reach its worker and register
        ok(all(not f.done() for f in futs), "a poll returned before any decision")
        t0 = time.monotonic()
        # Decide them all: cancel is the quickest decision for the agent-side test.
        for rid in [one] + many:
            eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        results = [f.result(timeout=60) for f in futs]
    took = time.monotonic() - t0
    eq(sorted(set(r.status for r, _ in results)), [200])
    eq(sorted(set(r.json["status"] for r, _ in results)), ["canceled"])
    print("    500 long-polls (250 on one request, 250 on 25 others): all woken, last answer"
          " %.2fs after the first cancel" % took)


def test_database_restart_while_waiting(s):
    s.clear_pending()
    c = chat()
    register(s, "wait-pg", c)
    rids = [submit(s, "wait-pg", "q%d" % i, options=["Yes", "No"]) for i in range(5)]
    msgs = [sent(s, rid)[1] for rid in rids]
    with concurrent.futures.ThreadPoolExecutor(max_workers=500) as ex:
        futs = [ex.submit(long_poll, s, rids[i % 5], 40) for i in range(500)]
        time.sleep(2.5)
        s.pg_ctl("stop", mode="immediate")  # killed: no clean shutdown
        time.sleep(5)
        s.pg_ctl("start")
        ok(all(not f.done() for f in futs), "no wait ended while the database was away")
        # Decisions after the restart wake the waiters of the same requests.
        for rid, m in zip(rids, msgs):
            statuses = s.tg.deliver(s.tg.press(c, m, button_text="\u274C No"), deadline=30)
            eq(statuses[-1], 200)
        results = [f.result(timeout=60) for f in futs]
    eq(sorted(set((r.status, r.json["status"], r.json["approved"]) for r, _ in results)),
       [(200, "completed", False)])
    ok(max(t for _, t in results) < 30, "every wait ended long before its 40 s")
    print("    PostgreSQL killed for 5 s under 500 waits: 500 of 500 answered with the decision"
          " made after the restart")


def test_timeout_enforced_with_edit_and_webhook(s):
    rec = Receiver()
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        ok(secret.startswith("whsec_") and len(secret) == 6 + 44, "secret %r" % secret)
        c = chat()
        register(s, "wait-timeout", c)
        t0 = time.monotonic()
        rid = submit(s, "wait-timeout", "Nobody answers this", options=["Yes", "No"],
                     timeout_seconds=2, callback_url=rec.url)
        _, m, _ = sent(s, rid)
        r, _ = long_poll(s, rid, 10)
        took = time.monotonic() - t0
        eq((r.json["status"], r.json["approved"], r.json["completed"]), ("timeout", False, True))
        ok(took < 3.5, "timed out %.2fs after submit" % took)
        wait_for(lambda: "Timed out" in s.tg.messages[(c, m)]["text"], 10, "the timeout edit")
        eq(buttons(s.tg.messages[(c, m)]), [])
        call = rec.wait_calls(1)[0]
        body = verify(call, secret)
        eq((body["request_id"], body["status"], body["approved"], body["event"]),
           (rid, "timeout", False, "request.timeout"))
        h = {k.lower(): v for k, v in call["headers"].items()}
        eq(h["x-loopgate-event"], "request.timeout")
        eq(h["x-loopgate-delivery"], body["delivery_id"])
        wait_for(lambda: poll(s, rid)["callback"]["state"] == "delivered", 5)
        eq(s.scalar("SELECT actor || ':' || action FROM audit_log WHERE request_id = :'p1'"
                    " AND action = 'timed_out'", rid), "loopgate:timed_out")
        print("    timeout_seconds=2: timed out after %.2fs, message edited, webhook delivered" % took)
        # on_timeout approve is honoured, and only when asked for and the message was delivered.
        rid = submit(s, "wait-timeout", "Approve unless stopped", timeout_seconds=3,
                     request_type="confirmation", on_timeout="approve")
        wait_for(lambda: s.scalar("SELECT tg_state FROM requests WHERE id = :'p1'", rid) == "sent",
                 3, "the message to be delivered before it times out")
        r, _ = long_poll(s, rid, 10)
        eq((r.json["status"], r.json["approved"]), ("timeout", True))
    finally:
        rec.stop()


def test_webhook_retried_until_the_receiver_is_back(s):
    rec = Receiver()
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        c = chat()
        register(s, "wait-hook", c)
        rid = submit(s, "wait-hook", options=["Yes", "No"])
        _, m, _ = sent(s, rid)
        # Set the callback after submitting.
        error_is(s.post("/hitl/callback", {"request_id": rid, "callback_url": "ftp://x"}), 400,
                 "invalid_field", "callback_url")
        error_is(s.post("/hitl/callback", {"request_id": rid}), 400, "missing_field", "callback_url")
        r = s.post("/hitl/callback", {"request_id": rid, "callback_url": rec.url})
        eq(r.status, 200, repr(r))
        rec.go_down()
        s.tg.press_and_deliver(c, m, button_text="\u2705 Yes")
        wait_for(lambda: poll(s, rid)["callback"]["attempts"] >= 2, 15, "two failed attempts")
        p = poll(s, rid)["callback"]
        eq(p["state"], "queued")
        ok(p["last_error"], "the failure is visible: %r" % p)
        rec.come_back()
        call = rec.wait_calls(1, timeout=20)[0]
        body = verify(call, secret)
        eq((body["status"], body["approved"], body["response"], body["event"]),
           ("completed", True, "Yes", "request.completed"))
        wait_for(lambda: poll(s, rid)["callback"]["state"] == "delivered", 5)
        time.sleep(1)
        eq(len(rec.calls), 1, "delivered once")
        # Not pending any more: a callback cannot be set.
        error_is(s.post("/hitl/callback", {"request_id": rid, "callback_url": rec.url}), 409,
                 "request_not_pending")
        # Rotating the secret changes what signs the next webhook.
        new = s.cli("apikey", "webhook-secret", "--tenant", "default", "--rotate").stdout.strip()
        ok(new != secret, "rotated")
        rid = submit(s, "wait-hook", "again", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        body = verify(rec.wait_calls(2)[1], new)
        eq((body["request_id"], body["event"]), (rid, "request.canceled"))
    finally:
        rec.stop()


def test_webhook_fails_after_its_retry_window(s):
    rec = Receiver()
    rec.status = 500
    s.stop()
    s.start(LOOPGATE_WEBHOOK_RETRY_SECONDS="3")
    try:
        register(s, "wait-window", chat())
        rid = submit(s, "wait-window", "x", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        cb = wait_for(lambda: poll(s, rid)["callback"]["state"] == "failed" and poll(s, rid)["callback"],
                      20, "the webhook to fail after its window")
        ok(cb["attempts"] >= 2 and "HTTP 500" in cb["last_error"], repr(cb))
        n = len(rec.calls)
        time.sleep(3)
        eq(len(rec.calls), n, "no attempt after it failed")
    finally:
        rec.stop()
        s.stop()
        s.start(LOOPGATE_WEBHOOK_RETRY_SECONDS="86400")


def test_private_targets_refused_and_waits_bounded(s):
    # Restart with the production defaults for webhooks and few threads.
    rec = Receiver()
    s.stop()
    s.start(LOOPGATE_WEBHOOK_ALLOW_PRIVATE="false", LOOPGATE_THREADS="8")
    try:
        register(s, "wait-private", chat())
        rid = submit(s, "wait-private", "x", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        cb = wait_for(lambda: poll(s, rid)["callback"]["state"] == "failed" and poll(s, rid)["callback"], 10)
        ok("127.0.0.1" in cb["last_error"] and "webhook_allow_private" in cb["last_error"], repr(cb))
        time.sleep(0.5)
        eq(rec.calls, [], "nothing was sent to a loopback target")
        # 2 workers x 8 threads: a wait that cannot be served is refused, never queued.
        rid = submit(s, "wait-private", "hold")
        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as ex:
            futs = [ex.submit(long_poll, s, rid, 3) for _ in range(30)]
            results = [f.result(timeout=30) for f in futs]
        codes = sorted(set(r.status for r, _ in results))
        ok(set(codes) <= {200, 503} and 503 in codes, "statuses %r" % codes)
        for r, took in results:
            if r.status == 503:
                error_is(r, 503, "too_many_waiting")
                ok(took < 2, "a refused wait answers at once (%.2fs)" % took)
    finally:
        rec.stop()
        s.stop()
        s.start(LOOPGATE_WEBHOOK_ALLOW_PRIVATE="true", LOOPGATE_THREADS="400")


def test_waits_do_not_count_as_busy(s):
    # One busy thread per worker: a long-poll asleep must free it for the next
    # connection, or the other polls and the cancel would queue behind the waits.
    s.stop()
    s.start(LOOPGATE_BUSY_THREADS="1")
    try:
        register(s, "wait-busy", chat())
        rid = submit(s, "wait-busy", "hold")
        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as ex:
            futs = [ex.submit(long_poll, s, rid, 30) for _ in range(10)]
            time.sleep(1.5)  # every poll is now asleep in its worker
            ok(all(not f.done() for f in futs), "a poll returned before any decision")
            t = time.monotonic()
            r = s.get("/hitl/poll?request_id=" + rid, timeout=40)
            took = time.monotonic() - t
            eq((r.status, r.json["status"]), (200, "pending"))
            ok(took < 2, "a poll beside 10 waits answers at once (%.2fs)" % took)
            eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
            results = [f.result(timeout=40) for f in futs]
        eq(sorted(set((r.status, r.json["status"]) for r, _ in results)), [(200, "canceled")])
        ok(max(took for _, took in results) < 10, "every wait woke on the cancel")
    finally:
        s.stop()
        s.start(LOOPGATE_BUSY_THREADS="16")


def test_a_waiting_poll_holds_one_descriptor(s):
    # A long-poll waiting for a human holds its FastCGI connection in its
    # worker and nothing else: the read deadline's duplicate of a connection
    # is taken for each watched read (the request, a body, the close), not
    # for the wait. Two each would halve the agents a worker's open-file
    # limit lets wait.
    n = 40
    register(s, "wait-fds", chat())
    rid = submit(s, "wait-fds", "hold")
    pids = s.worker_pids()

    def fds():
        return sum(len(os.listdir("/proc/%d/fd" % p)) for p in pids)

    for _ in range(8):  # every pooled database connection is open before the count
        eq(s.get("/hitl/poll?request_id=" + rid).status, 200)
    base, base_waiting = fds(), val(scrape(s), "loopgate_waiting_polls")
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        futs = [ex.submit(long_poll, s, rid, 60) for _ in range(n)]
        try:
            wait_for(lambda: val(scrape(s), "loopgate_waiting_polls") >= base_waiting + n, 20,
                     "the %d long-polls to wait" % n)
            held = fds() - base
            ok(n <= held <= n + 4, "%d waiting long-polls hold %d descriptors in the workers"
               " (one each, and at most 4 for anything else)" % (n, held))
        finally:
            eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
            results = [f.result(timeout=60) for f in futs]
    eq(sorted(set((r.status, r.json["status"]) for r, _ in results)), [(200, "canceled")])
    wait_for(lambda: fds() - base <= 4, 10, "the workers to give the descriptors back")
    print("    %d waiting long-polls held %d descriptors in the workers" % (n, held))


def test_woken_while_connections_busy_answers_from_the_listeners_read(s):
    # One worker with one pooled connection, held by a cancel stuck on a row
    # lock for 7 s. A waiter woken meanwhile could not read its row through
    # the pool (it would wait 5 s for a connection, then look again): the
    # listener reads the row on its own connection after the notification
    # and hands it over, so the agent has its answer at once.
    s.stop()
    s.start(LOOPGATE_WORKERS="1", LOOPGATE_DB_POOL_SIZE="1")
    try:
        register(s, "wait-pool", chat())
        rid = submit(s, "wait-pool", "the waited one")
        stuck = submit(s, "wait-pool", "locked by the test")
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as ex:
            waiter = ex.submit(long_poll, s, rid, 40)
            time.sleep(1)
            lock = ex.submit(s.sql, "BEGIN; SELECT 1 FROM requests WHERE id = :'p1' FOR UPDATE;"
                             " SELECT pg_sleep(7); COMMIT;", stuck)
            time.sleep(0.5)
            cancel = ex.submit(lambda: s.post("/hitl/cancel", {"request_id": stuck}, timeout=30))
            time.sleep(0.5)
            t = time.monotonic()
            s.sql("UPDATE requests SET status = 'canceled', responded_at = now()"
                  " WHERE id = :'p1'", rid)
            r, _ = waiter.result(timeout=60)
            took = time.monotonic() - t
            lock.result(timeout=30)
            eq(cancel.result(timeout=30).status, 200)
        eq((r.status, r.json["status"]), (200, "canceled"))
        ok(took < 2, "the woken waiter answered %.1f s after the decision (the pool was busy"
           " for 6 s more, its wait was 40 s)" % took)
    finally:
        s.stop()
        s.start(LOOPGATE_WORKERS="2", LOOPGATE_DB_POOL_SIZE="4")


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_woken_while_connections_busy_answers_from_the_listeners_read.slow = True
test_webhook_fails_after_its_retry_window.slow = True
test_private_targets_refused_and_waits_bounded.slow = True
test_waits_do_not_count_as_busy.slow = True
test_long_poll_wakes_within_milliseconds.slow = True
