"""A decision is on disk before any agent hears of it; the listener notices a
lost LISTEN connection; the master restarts dying workers with backoff."""
import os
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


def _syncrep_waiters(s):
    return int(s.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"))


def _quiet_outbox(s):
    return s.scalar("SELECT count(*) FROM outbox WHERE state = 'queued'"
                    " AND next_attempt_at <= now() + interval '5 seconds'") == "0"


def test_decision_is_durable_before_the_waiter_hears(s):
    """A synchronous standby that never answers holds every durable commit
    back. A decision that commits asynchronously slips past it and its
    waiter is told at once; a durable one stays invisible (the row reads
    'pending', the long-poll waits) until the commit may complete."""
    c = chat()
    register(s, "durable", c)
    rid = submit(s, "durable", options=["Yes", "No"])
    _, m, _ = sent(s, rid)
    wait_for(lambda: _quiet_outbox(s), 20, "the outbox to be idle")
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
            return _syncrep_waiters(s) >= 1

        wait_for(probe_waits, 20, "a commit to wait for the standby")
        upd = s.tg.press(c, m, button_text="Yes")
        press = threading.Thread(
            target=lambda: box.update(d=s.tg.deliver(upd, deadline=60, timeout=45)))
        press.start()
        # The press has gone as far as it can: its commit (or, were that
        # asynchronous, the durable commits that follow it: the answer to the
        # press, the message edit) waits for the standby too.
        wait_for(lambda: _syncrep_waiters(s) >= 2, 20, "the decision's commit to wait")
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
