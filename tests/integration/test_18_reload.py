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
import socket
import subprocess
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
    try:
        # The environment wins over the file: settings an earlier test left in the
        # stack's environment would hide the changes this test makes to the file.
        with s.restarted(OVERRIDES, LOOPGATE_CONFIG=conf):
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
        shutil.rmtree(d, ignore_errors=True)


def test_reload_names_file_changes_the_environment_overrides(s):
    d = tempfile.mkdtemp(prefix="lgreload.")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "loopgate.conf")
    _write(conf, log_level="info", telegram_allowed_users="424242")
    try:
        with s.restarted(LOOPGATE_CONFIG=conf, LOG_LEVEL="info"):
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
        shutil.rmtree(d, ignore_errors=True)


A = "https://reload-a.example.test"
B = "https://reload-b.example.test"


def _cors_seen(s, n=16):
    """Over `n` requests (both workers answer some): how many allowed A, how many B."""
    got = {A: 0, B: 0}
    for _ in range(n):
        for origin in (A, B):
            r = s.get("/hitl/pending", headers={"Origin": origin})
            eq(r.status, 200)
            got[origin] += r.header("Access-Control-Allow-Origin") == origin
    return got[A], got[B]


def _generations(s, at):
    """{pid: generation} of the workers' reload and start lines after offset `at`."""
    gens = {}
    for m in re.finditer(r'pid=(\d+) msg="(?:configuration reloaded|worker ready)"'
                         r'[^\n]*generation=(\d+)', s.worker_log()[at:]):
        gens[int(m.group(1))] = int(m.group(2))
    return gens


def _replace_worker(s, at):
    """SIGKILL one worker; return the pid of the one the master starts instead."""
    before = s.worker_pids()
    os.kill(before[0], signal.SIGKILL)

    def replaced():
        now = s.worker_pids()
        fresh = [p for p in now if p not in before]
        return fresh[0] if len(now) == len(before) and before[0] not in now and fresh else None
    new = wait_for(replaced, 20, "the master to replace worker %d" % before[0])
    wait_for(lambda: new in _generations(s, at), 20, "worker %d to be ready" % new)
    return new


def test_reload_workers_take_the_masters_text_never_the_file(s):
    d = tempfile.mkdtemp(prefix="lgreload.")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "loopgate.conf")
    _write(conf, cors_allowed_origins='""')
    try:
        with s.restarted(OVERRIDES | {"LOOPGATE_CORS_ALLOWED_ORIGINS"}, LOOPGATE_CONFIG=conf):
            workers = s.worker_pids()
            eq(_cors_seen(s, 4), (0, 0))

            # 1. The file changes again between the master's reload and the
            #    workers' (stopped meanwhile): they apply what the master read.
            at = len(s.worker_log())
            for p in workers:
                os.kill(p, signal.SIGSTOP)
            try:
                _write(conf, cors_allowed_origins=A)
                os.kill(s.master_pid(), signal.SIGHUP)
                wait_for(lambda: re.search(r'msg="configuration reloaded" process=master [^\n]*'
                                           r'generation=1 changed="cors_allowed_origins"',
                                           s.worker_log()[at:]), 20, "the master's reload")
                _write(conf, cors_allowed_origins=B)
            finally:
                for p in workers:
                    os.kill(p, signal.SIGCONT)
            wait_for(lambda: all(_generations(s, at).get(p) == 1 for p in workers), 20,
                     "both workers on generation 1: %s" % s.worker_log()[at:][-1500:])
            ok(B not in s.worker_log()[at:], "no process read the second save")
            eq(_cors_seen(s), (16, 0), "every answer allows A, none B")

            # 2. A worker started after a crash runs the master's configuration,
            #    not the file's.
            at = len(s.worker_log())
            new = _replace_worker(s, at)
            eq(_generations(s, at)[new], 1)
            eq(_cors_seen(s), (16, 0), "the new worker allows A, not the file's B")

            # 3. A reload that fails changes nothing anywhere, also for a worker
            #    started after it.
            at = len(s.worker_log())
            _write(conf, cors_allowed_origins=B, log_level="loud")
            os.kill(s.master_pid(), signal.SIGHUP)
            wait_for(lambda: "could not reload the configuration" in s.worker_log()[at:], 20,
                     "the master's refusal")
            new = _replace_worker(s, at)
            eq(_generations(s, at), {new: 1}, "no worker reloaded: %s" % s.worker_log()[at:][-1500:])
            eq(_cors_seen(s), (16, 0), "still A everywhere")

            # 3b. A file that cannot be read (gone, a NUL byte) and a SIGHUP sent to
            #     a worker, not the master: refused and logged, nobody dies.
            master, workers = s.master_pid(), s.worker_pids()
            for broken in ("gone", "nul", "fifo"):
                at = len(s.worker_log())
                if broken == "gone":
                    os.remove(conf)
                elif broken == "fifo":
                    # A FIFO is refused at once: the master never waits for a writer.
                    os.remove(conf)
                    os.mkfifo(conf)
                else:
                    with open(conf, "w") as f:
                        f.write("log_level = info\n\0\n")
                os.kill(master, signal.SIGHUP)
                wait_for(lambda: "could not reload the configuration" in s.worker_log()[at:], 20,
                         "the master's refusal of a file %s: %s" % (broken, s.worker_log()[at:][-1500:]))
            ok("config file %s: not a regular file" % conf in s.worker_log()[at:],
               s.worker_log()[at:][-1500:])
            at = len(s.worker_log())
            os.kill(workers[0], signal.SIGHUP)
            wait_for(lambda: "SIGHUP without a new configuration" in s.worker_log()[at:], 20,
                     "the worker's note: %s" % s.worker_log()[at:][-1500:])
            eq((s.master_pid(), s.worker_pids()), (master, workers), "the same master and workers")
            eq(_cors_seen(s), (16, 0), "still A everywhere")

            # 4. A reload racing a worker's restart: every process ends on the
            #    new text, none dies of the SIGHUP.
            at = len(s.worker_log())
            os.remove(conf)
            _write(conf, cors_allowed_origins=B)
            before = s.worker_pids()
            os.kill(before[0], signal.SIGKILL)
            os.kill(s.master_pid(), signal.SIGHUP)
            wait_for(lambda: len(s.worker_pids()) == len(before) and before[0] not in s.worker_pids()
                     and all(_generations(s, at).get(p) == 2 for p in s.worker_pids()), 20,
                     "every worker on generation 2: %s" % s.worker_log()[at:][-1500:])
            ok("signal=1 " not in s.worker_log()[at:], "no worker died of SIGHUP")
            eq(_cors_seen(s), (0, 16), "B everywhere")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_sighup_during_startup_is_a_reload_not_a_death(s):
    """A SIGHUP while `loopgate serve` still checks the database (here one that
    accepts and never answers) is held until the master waits for signals,
    then runs as a reload: the master stays up and stops cleanly on SIGTERM."""
    d = tempfile.mkdtemp(prefix="lghup.")
    conf = os.path.join(d, "loopgate.conf")
    log = os.path.join(d, "serve.log")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    with open(conf, "w") as f:
        f.write("socket = %s/fcgi.sock\nworkers = 1\nthreads = 2\n" % d)
    env = s.env(DB_URI="host=127.0.0.1 port=%d dbname=x user=x connect_timeout=3"
                % silent.getsockname()[1], LOOPGATE_CONFIG=conf, LOOPGATE_SECRETS_FILE="")
    for k in ("LOOPGATE_SOCKET", "LOOPGATE_WORKERS", "LOOPGATE_THREADS"):
        env.pop(k, None)
    p = None
    try:
        with open(log, "w") as out:
            p = subprocess.Popen([s.binary, "serve"], env=env, stdout=out, stderr=out)

        def text():
            with open(log, errors="replace") as f:
                return f.read()

        # The schema check's connection reaching the silent database: serve is
        # past its config load and waits for the database.
        silent.settimeout(20)
        conn, _ = silent.accept()
        ok("worker ready" not in text() and "loopgate serving" not in text(), text())
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: p.poll() is not None or
                 re.search(r'configuration reloaded" process=master', text()), 20,
                 "the held SIGHUP to run as a reload: %s" % text()[-1500:])
        eq(p.poll(), None, "the master is alive: %s" % text()[-1500:])
        ok("loopgate serving" in text(), text()[-1500:])
        p.send_signal(signal.SIGTERM)
        eq(p.wait(timeout=30), 0, text()[-1500:])
        conn.close()
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        silent.close()
        shutil.rmtree(d, ignore_errors=True)
