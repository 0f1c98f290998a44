"""SIGHUP: the master and every worker read the config file again and apply
what can change live, while a long-poll in flight keeps waiting and gets its
answer; a file with an error changes nothing and says why; keys that need a
restart are named.

The shared stack is restarted with a config file of the test's own (the
stack's environment overrides none of the keys changed here), and restarted
as it was at the end.
"""
import os
import re
import shutil
import signal
import tempfile
import threading
import time

from lg import ROOT, chat, eq, ok, wait_for
from test_07_telegram import OK, answers_for, register, sent, submit


def _write(path, **keys):
    with open(os.path.join(ROOT, "conf/loopgate.conf")) as f:
        base = f.read()
    lines = [ln for ln in base.splitlines()
             if not any(re.match(r"\s*%s\s*=" % k, ln) for k in keys)]
    lines += ["%s = %s" % (k, v) for k, v in keys.items()]
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


# The environment variables of the keys this file's tests change in the file.
OVERRIDES = {"LOG_LEVEL", "LOOPGATE_LOG_LEVEL", "LOOPGATE_TELEGRAM_ALLOWED_USERS",
             "LOOPGATE_POLL_WAIT_MAX", "LOOPGATE_WORKERS", "LOOPGATE_DB_POOL_SIZE"}


def _reload(s, at, want):
    """SIGHUP the master; wait until it and every worker logged `want` after offset `at`."""
    n = 1 + len(s.worker_pids())
    os.kill(s.master_pid(), signal.SIGHUP)
    wait_for(lambda: s.worker_log()[at:].count(want) >= n, 20,
             "%d processes to log %r: %s" % (n, want, s.worker_log()[at:][-2000:]))


def test_reload_applies_live_keeps_long_polls_and_refuses_bad_files(s):
    d = tempfile.mkdtemp(prefix="lgreload.")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "loopgate.conf")
    _write(conf, log_level="info", telegram_allowed_users='""', poll_wait_max="120")
    s.stop()
    # The environment wins over the file: settings an earlier test left in the
    # stack's environment would hide the changes this test makes to the file.
    kept = {k: s.extra_env.pop(k) for k in list(s.extra_env) if k in OVERRIDES}
    s.start(LOOPGATE_CONFIG=conf)
    try:
        workers = s.worker_pids()
        c = chat()
        register(s, "reload18", c)
        rid = submit(s, "reload18", options=["Yes", "No"])
        c, m, _ = sent(s, rid)
        # A long-poll in flight across every reload below.
        got = {}

        def long_poll():
            r = s.get("/hitl/poll?request_id=%s&wait=90" % rid, timeout=120)
            got["status"], got["json"], got["at"] = r.status, r.json, time.monotonic()

        t = threading.Thread(target=long_poll, daemon=True)
        t.start()
        # Give the poll time to reach a worker: nothing outside shows a poll
        # asleep. Had it come after the reload below, poll_wait_max 3 would
        # end it within seconds, and the checks of t.is_alive() would fail.
        time.sleep(1)
        t_start = time.monotonic()

        # 1. An allow-list that leaves the chat's own user out, debug logging,
        #    a shorter longest wait: all live.
        at = len(s.worker_log())
        _write(conf, log_level="debug", telegram_allowed_users="424242", poll_wait_max="3")
        _reload(s, at, 'msg="configuration reloaded"')
        ok(re.search(r'changed="[^"]*log_level', s.worker_log()[at:]), s.worker_log()[at:][-1500:])
        eq(s.worker_pids(), workers, "the workers were not restarted")
        upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=c)
        eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")
        ok(t.is_alive(), "the long-poll still waits")
        # poll_wait_max 3: a new poll asking for 30 s comes back within a few.
        other = submit(s, "reload18", message="second")
        t0 = time.monotonic()
        r = s.get("/hitl/poll?request_id=%s&wait=30" % other, timeout=60)
        eq((r.status, r.json["status"]), (200, "pending"))
        ok(time.monotonic() - t0 < 15, "wait capped by the reloaded poll_wait_max")
        wait_for(lambda: re.search(r'level=debug .*delivering', s.worker_log()[at:]), 20,
                 "debug lines (the second request's delivery) after the reload")

        # 2. A file with an error: logged, the running configuration stays.
        at = len(s.worker_log())
        _write(conf, log_level="loud", telegram_allowed_users="424242", poll_wait_max="3")
        os.kill(s.master_pid(), signal.SIGHUP)
        wait_for(lambda: "could not reload the configuration; keeping the running one"
                 in s.worker_log()[at:], 20, "the refusal to be logged")
        tail = s.worker_log()[at:]
        ok("log_level" in tail and "loud" in tail, tail[-1500:])
        eq(tail.count('msg="configuration reloaded"'), 0, tail[-1500:])
        upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=c)
        eq(answers_for(s, upd)["text"], "You are not authorized to decide this request.")

        # 3. Keys that need a restart are named, and keep their running values.
        at = len(s.worker_log())
        _write(conf, log_level="debug", telegram_allowed_users=str(c), poll_wait_max="3",
               workers="3", db_pool_size="3")
        _reload(s, at, 'msg="configuration reloaded"')
        tail = s.worker_log()[at:]
        ok('msg="restart needed for: workers, db_pool_size"' in tail, tail[-1500:])
        eq(s.worker_pids(), workers, "still the same two workers")

        # 4. The allow-list now has the chat's user: the press decides, and the
        #    long-poll that waited through three reloads gets the answer.
        ok(t.is_alive(), "the long-poll still waits")
        upd, _ = s.tg.press_and_deliver(c, m, button_text=OK + "Yes", user_id=c)
        eq(answers_for(s, upd)["text"], "Recorded: Yes")
        t.join(30)
        ok(not t.is_alive(), "the long-poll answered")
        eq((got["status"], got["json"]["status"], got["json"]["response"], got["json"]["approved"]),
           (200, "completed", "Yes", True))
        ok(got["at"] - t_start > 3, "the long-poll waited through the reloads")
    finally:
        s.stop()
        s.extra_env.pop("LOOPGATE_CONFIG", None)
        s.extra_env.update(kept)
        s.start()
        shutil.rmtree(d, ignore_errors=True)


def test_reload_names_file_changes_the_environment_overrides(s):
    d = tempfile.mkdtemp(prefix="lgreload.")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "loopgate.conf")
    _write(conf, log_level="info", telegram_allowed_users="424242")
    s.stop()
    s.start(LOOPGATE_CONFIG=conf, LOG_LEVEL="info")
    try:
        at = len(s.worker_log())
        _write(conf, log_level="debug", telegram_allowed_users="424242")
        want = "log_level: the file's value is overridden by LOG_LEVEL"
        _reload(s, at, 'msg="configuration reloaded"')
        tail = s.worker_log()[at:]
        eq(tail.count(want), 1 + len(s.worker_pids()), tail[-1500:])
        ok("level=debug" not in tail, "the environment's level stays: %s" % tail[-1500:])
        # A reload without a change of log_level in the file says nothing of
        # it; one that empties the approvers' allow-list says so loudly.
        at = len(s.worker_log())
        _write(conf, log_level="debug")
        _reload(s, at, 'msg="configuration reloaded"')
        tail = s.worker_log()[at:]
        ok(want not in tail, tail[-1500:])
        eq(len(re.findall(r'level=warn .*msg="telegram_allowed_users is now empty', tail)),
           1 + len(s.worker_pids()), tail[-1500:])
    finally:
        s.stop()
        s.extra_env.pop("LOOPGATE_CONFIG", None)
        s.extra_env.pop("LOG_LEVEL", None)
        s.start()
        shutil.rmtree(d, ignore_errors=True)
