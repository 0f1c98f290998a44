"""A decision is on disk before any agent hears of it; the listener notices a
lost LISTEN connection; the master restarts dying workers with backoff."""
import os
import signal
import subprocess
import threading
import time

import lg
from lg import eq, ok, wait_for
from test_07_telegram import chat, register, submit, sent
from test_08_waiting import long_poll


def _psql_async(s, query):
    """Run `query` in a psql of its own, in the background; returns the Popen."""
    cmd = [os.path.join(lg.PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"),
           "-U", "loopgate", "-d", "loopgate", "-At", "-c", query]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _syncrep_waiters(s, app, query="%"):
    """Sessions of `app` waiting for the standby, whose last statement is like `query`."""
    return int(s.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                        " AND application_name = :'p1' AND query LIKE :'p2'", app, query))


def test_decision_is_durable_before_the_waiter_hears(s):
    """A synchronous standby that never answers holds every durable commit
    back. A decision that commits asynchronously slips past it and its
    waiter is told at once; a durable one stays invisible (the row reads
    'pending', the long-poll waits) until the commit may complete."""
    c = chat()
    register(s, "durable", c)
    rid = submit(s, "durable", options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    box = {}
    waiter = threading.Thread(target=lambda: box.update(r=long_poll(s, rid, 60)))
    waiter.start()
    probes, press = [], None
    try:
        s.sql("ALTER SYSTEM SET synchronous_standby_names = 'lg_test_never'")
        s.sql("SELECT pg_reload_conf()")
        # The standby is in force once a commit of our own waits for it (the
        # reload reaches the server's processes a moment later).
        def probe_waits():
            if not probes or probes[-1].poll() is not None:
                probes.append(_psql_async(
                    s, "SELECT pg_logical_emit_message(true, 'loopgate-test', 'probe')"))
            return _syncrep_waiters(s, "psql") >= 1

        wait_for(probe_waits, 20, "a commit to wait for the standby")
        upd = s.tg.press(c, m, button_text="\u2705 Yes")
        press = threading.Thread(
            target=lambda: box.update(d=s.tg.deliver(upd, deadline=60, timeout=45)))
        press.start()
        # The press has gone as far as it can: its COMMIT waits for the
        # standby too (an asynchronous one would not, and this times out).
        wait_for(lambda: _syncrep_waiters(s, "loopgate", "COMMIT") >= 1, 20,
                 "the decision's commit to wait for the standby")
        eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid), "pending",
           "the request as another session sees it while its decision is not durable")
        ok("r" not in box, "the waiter was told of a decision not yet durable: %r" % box.get("r"))
    finally:
        s.sql("ALTER SYSTEM RESET synchronous_standby_names")
        s.sql("SELECT pg_reload_conf()")
        for p in probes:
            p.communicate(timeout=30)
    waiter.join(30)
    press.join(60)
    r, _ = box["r"]
    eq((r.status, r.json["status"], r.json["approved"]), (200, "completed", True))
    eq(box["d"][-1], 200)


def _listeners(s):
    return sorted(int(r[0]) for r in s.sql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'loopgate listener'"))


def _all_listening(s, besides=()):
    pids = _listeners(s)
    fresh = [p for p in pids if p not in besides]
    return fresh if len(fresh) == len(s.worker_pids()) else None


def _waiting_request(s, sid):
    c = chat()
    register(s, sid, c)
    rid = submit(s, sid, options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=long_poll(s, rid, 60)))
    t.start()
    return c, m, rid, box, t


def test_listener_killed_by_the_server_still_wakes(s):
    old = wait_for(lambda: _all_listening(s), 20, "every worker's listener")
    c, m, rid, box, t = _waiting_request(s, "listen-kill")
    s.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
          " WHERE application_name = 'loopgate listener'")
    eq(s.tg.deliver(s.tg.press(c, m, button_text="\u274C No"))[-1], 200)
    t.join(10)
    ok("r" in box, "a long-poll whose worker's listener was killed was not woken within 10 s")
    r, _ = box["r"]
    eq((r.status, r.json["status"], r.json["approved"]), (200, "completed", False))
    wait_for(lambda: _all_listening(s, besides=old), 20, "every worker to listen again")


def test_listener_that_stops_answering_is_replaced(s):
    """The listener's backend stops (as a peer behind a dead NAT or proxy
    would: the socket stays open, nothing answers, no notification comes).
    The listener's ping finds it, it reconnects and wakes every waiter."""
    stalled = wait_for(lambda: _all_listening(s), 20, "every worker's listener")
    c, m, rid, box, t = _waiting_request(s, "listen-stall")
    log_at = len(s.worker_log())
    for pid in stalled:
        os.kill(pid, signal.SIGSTOP)
    try:
        eq(s.tg.deliver(s.tg.press(c, m, button_text="\u2705 Yes"))[-1], 200)
        t.join(30)  # a ping after 10 s of quiet, answered within 5 s
        ok("r" in box, "the waiter was not woken within 30 s of its listener going silent")
        r, _ = box["r"]
        eq((r.status, r.json["status"], r.json["approved"]), (200, "completed", True))
        # A long-poll that reached its worker after the press was answered
        # at once; the ping finds the silent connection all the same.
        wait_for(lambda: "did not answer a ping" in s.worker_log()[log_at:], 20,
                 "the silent connection to be logged")
        wait_for(lambda: _all_listening(s, besides=stalled), 20, "every worker to listen again")
    finally:
        for pid in stalled:
            os.kill(pid, signal.SIGCONT)


def test_a_worker_that_dies_young_is_restarted_with_backoff(s):
    """One worker slot killed as soon as each replacement appears: the
    master waits 1 s, then 2 s, then 4 s before the next replacement."""
    pids = wait_for(lambda: s.worker_pids() if len(s.worker_pids()) >= 2 else None, 20, "workers")
    victim, others = pids[0], set(pids[1:])
    log_at = len(s.worker_log())
    gaps = []
    for _ in range(4):
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        fresh = wait_for(lambda: set(s.worker_pids()) - others - {victim}, 30, "a new worker")
        gaps.append(time.monotonic() - t0)
        victim = fresh.pop()
    log = s.worker_log()[log_at:]
    print("    restart gaps after each kill: %s s" % ", ".join("%.1f" % g for g in gaps))
    for want in ("in_ms=1000", "in_ms=2000", "in_ms=4000"):
        ok(want in log, "the master logged a restart %s: %s" % (want, log[-2000:]))
    ok(gaps[-1] >= 3.5 and gaps[-2] >= 1.5, "restarts waited longer each time: %r" % gaps)
    wait_for(lambda: s.get("/health").status == 200, 20, "the stack to answer again")
    wait_for(lambda: _all_listening(s), 20, "every worker's listener")


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_listener_that_stops_answering_is_replaced.slow = True
test_a_worker_that_dies_young_is_restarted_with_backoff.slow = True
