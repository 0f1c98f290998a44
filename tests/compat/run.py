#!/usr/bin/env python3
"""run.py - the previous-release compatibility test: during a rolling upgrade
the release before this one keeps serving on the schema this one migrates.

    run.py [--bin build/loopgate] [--prev PATH]

--prev is the previous release's binary, its shipped configuration next to it
as PATH.conf; without it, prev.sh builds the previous release of RELEASES from
git (once per commit, into build/prev). Every check runs on one throwaway
stack (tests/integration/lg.py) wired to the Bot API stand-in, and asserts
what went over the wire and what was stored:

1. old on new: the new binary migrates the database, the old binary's
   workers serve it. The smoke: register a session, submit, poll, a
   long-poll woken by a button press, the Telegram message delivered and
   edited to show the decision.
2. mixed fleet: old and new workers accept on the one FastCGI socket behind
   the one nginx, as two hosts behind one upstream halfway through a rolling
   upgrade. A request the old fleet alone delivered is decided, the smoke
   runs again, and submits go on until each fleet has served one.
3. upgrade path: a database migrated by the old binary and then by the new
   one ends with the schema (pg_dump --schema-only) and the recorded
   migrations of a database the new binary migrated alone.

Ends with `compat: N passed, N failed`.
"""
import argparse
import difflib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import lg  # noqa: E402
import tgstub  # noqa: E402
from lg import chat, eq, ok, wait_for  # noqa: E402
from test_07_telegram import ASK, NO, OK, answers_for, buttons, poll, register, sent, submit  # noqa: E402
from test_08_waiting import long_poll  # noqa: E402


def smoke(s, sid):
    """The smoke test of one release, whichever workers serve: register,
    submit, poll, the message delivered, a long-poll woken by a button press,
    the message edited. Returns the request id."""
    c = chat()
    register(s, sid, c)
    eq(s.sql("SELECT telegram_chat_id, active FROM sessions WHERE session_id = :'p1'", sid),
       [[str(c), "t"]], "the registered session's row")
    rid = submit(s, sid, options=["Yes", "No"])
    p = poll(s, rid)
    eq((p["request_id"], p["status"], p["completed"]), (rid, "pending", False), "the first poll")
    c2, m, rec = sent(s, rid)
    eq(c2, c, "the chat the message went to")
    ok("Deploy v2.1.0 to production?" in rec["text"], "the message shows the question: %r" % rec["text"])
    # A message sent by this tree's workers also offers "Deny with reason…";
    # one sent by the previous release's does not.
    ok(buttons(rec) in ([OK + "Yes", NO + "No"], [OK + "Yes", NO + "No", ASK]),
       "the message's buttons: %r" % buttons(rec))

    box = {}
    t = threading.Thread(target=lambda: box.update(r=long_poll(s, rid, 30)), daemon=True)
    t.start()
    time.sleep(0.3)  # the long-poll reaches its worker and sleeps
    ok(t.is_alive(), "the long-poll answered before any decision: %r" % (box,))
    upd = s.tg.press(c, m, button_text=OK + "Yes", user_id=c)
    eq(s.tg.deliver(upd), [200], "the webhook's answers to the press")
    t.join(10)
    ok(not t.is_alive(), "the long-poll was not woken within 10 s of the decision")
    r, _ = box["r"]
    eq((r.status, r.json["status"], r.json["approved"], r.json["completed"], r.json["response"]),
       (200, "completed", True, True, "Yes"), "the long-poll's answer")
    eq(answers_for(s, upd)["text"], "Recorded: Yes", "the answer to the press")
    eq(s.sql("SELECT status, approved, response, responder_id FROM requests WHERE id = :'p1'", rid),
       [["completed", "t", "Yes", str(c)]], "the decided request's row")
    eq(s.sql("SELECT actor FROM audit_log WHERE request_id = :'p1' AND action = 'decided'", rid),
       [["telegram:%d" % c]], "the decision's audit row")
    wait_for(lambda: "Approved" in s.tg.messages[(c, m)]["text"], 10,
             "the message edited to show the decision")
    eq(buttons(s.tg.messages[(c, m)]), [], "the decided message's buttons")
    return rid


class Fleet:
    """Worker masters of several binaries accepting on one FastCGI socket,
    handed to each as systemd hands a socket over (LISTEN_FDS), so that the
    stack's one nginx upstream reaches all of them."""

    def __init__(self, s):
        self.s = s
        self.path = os.path.join(s.var, "run", "loopgate.sock")
        self.procs = []
        self.logs = []
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o660)
        self.sock.listen(1024)

    def add(self, name, binary, config):
        log = os.path.join(self.s.var, "log", "loopgate-%s.log" % name)
        fd = self.sock.fileno()
        with open(log, "ab") as out:
            p = subprocess.Popen(
                ["/bin/sh", "-c", '[ "$1" = 3 ] || eval "exec 3<&$1 $1<&-"; export LISTEN_PID=$$ LISTEN_FDS=1;'
                 ' exec "$0" serve', binary, str(fd)],
                env=self.env(config), stdout=out, stderr=subprocess.STDOUT,
                pass_fds=(fd,), start_new_session=True)
        self.procs.append((name, p))
        self.logs.append((name, log))
        wait_for(lambda: self.log(name).count("worker ready") >= 1 or p.poll() is not None, 20,
                 "the %s workers to start" % name)
        ok(p.poll() is None, "the %s master exited: %s" % (name, self.log(name)[-2000:]))

    def env(self, config):
        """What stack.sh hands its workers, with this binary's configuration."""
        e = self.s.env(LOOPGATE_CONFIG=config, LOOPGATE_SOCKET=self.path, LOOPGATE_SOCKET_MODE="0660")
        e.setdefault("LOOPGATE_AUTH", "off")
        return e

    def log(self, name):
        path = dict(self.logs)[name]
        with open(path, errors="replace") as f:
            return f.read()

    def stop(self):
        for _, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise lg.Failure("the %s master did not stop within 30 s of SIGTERM" % name)
        self.procs = []
        self.sock.close()


def stop_workers(s):
    """Stop the stack's own workers (stack.sh's master), leaving PostgreSQL and nginx."""
    pid = s.master_pid()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or _zombie(pid), 30,
             "the workers to stop")
    os.unlink(os.path.join(s.var, "run", "loopgate.pid"))


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def error_lines(text):
    return [line for line in text.splitlines() if "level=error" in line]


def dump_schema(s, db):
    r = subprocess.run([os.path.join(lg.PGBIN, "pg_dump"), "--schema-only", "--no-owner",
                        "-h", os.path.join(s.var, "run"), "-U", "loopgate", "-d", db],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("pg_dump %s failed: %s" % (db, r.stderr))
    # \restrict carries a random key per dump; the rest is the schema.
    return [line for line in r.stdout.splitlines() if not re.match(r"\\(un)?restrict ", line)]


def migrate(s, binary, config, db):
    r = subprocess.run([binary, "migrate"], env=s.env(LOOPGATE_CONFIG=config, DB_URI=s.db_uri_of(db)),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise lg.Failure("%s migrate on %s failed (%d): %s" % (binary, db, r.returncode,
                                                              (r.stdout + r.stderr).strip()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(lg.ROOT, "build/loopgate"))
    ap.add_argument("--prev", help="the previous release's binary (default: built by prev.sh)")
    args = ap.parse_args()
    new = os.path.abspath(args.bin)
    new_conf = os.path.join(lg.ROOT, "conf/loopgate.conf")
    passed = failed = 0
    t0 = time.time()
    s, state = None, {}

    def check(name, fn, *a):
        nonlocal passed, failed
        t = time.time()
        try:
            fn(*a)
            passed += 1
            print("ok - %s (%.1fs)" % (name, time.time() - t), flush=True)
        except Exception as e:  # noqa: BLE001 - report every kind of failure
            failed += 1
            print("not ok - %s: %s" % (name, e), flush=True)
            if not isinstance(e, lg.Failure):
                traceback.print_exc()
            for line in worker_errors()[-6:]:
                print("    " + line, flush=True)

    def worker_errors():
        """The errors the workers logged: why a binary failed on this schema."""
        logs = [s.worker_log()] if s else []
        if "fleet" in state:
            logs += [state["fleet"].log(n) for n, _ in state["fleet"].logs]
        seen = state.setdefault("errors_shown", set())
        out = [line for text in logs for line in error_lines(text) if line not in seen]
        seen.update(out)
        return out

    if args.prev:
        old, version = os.path.abspath(args.prev), os.path.basename(args.prev)
    else:
        r = subprocess.run([os.path.join(HERE, "prev.sh")], capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            print("not ok - the previous release could not be built: %s" % r.stderr.strip())
            print("compat: 0 passed, 1 failed")
            return 1
        version, old = r.stdout.split()
        old = os.path.join(lg.ROOT, old)
    old_conf = old + ".conf"
    print("    previous release %s (%s), this tree's %s" % (version, old, new), flush=True)

    tg = tgstub.TelegramStub().start()
    s = lg.telegram_stack(old, tg, migrate_bin=new)
    s.extra_env["LOOPGATE_CONFIG"] = old_conf
    try:
        def old_on_new():
            s.start()
            smoke(s, "compat-old")
            # Delivered by the old fleet alone, decided after the upgrade began.
            c = chat()
            register(s, "compat-across", c)
            rid = submit(s, "compat-across", options=["Yes", "No"])
            _, m, _ = sent(s, rid)
            state["across"] = (c, m, rid)
            eq(error_lines(s.worker_log()), [], "errors logged by the old workers")
            # The old workers' audit rows, which name none of the chain's
            # columns, are chained by the trigger all the same.
            r = subprocess.run([new, "audit", "verify"], env=s.env(LOOPGATE_CONFIG=new_conf),
                               capture_output=True, text=True, timeout=60)
            eq(r.returncode, 0, "audit verify of the old workers' rows: %s%s" % (r.stdout, r.stderr))

        def mixed_fleet():
            if not s.running:
                s.start()
            stop_workers(s)
            fleet = state["fleet"] = Fleet(s)
            fleet.add("old", old, old_conf)
            fleet.add("new", new, new_conf)
            if "across" in state:  # else the check before failed and said why
                c, m, rid = state["across"]
                _, statuses = s.tg.press_and_deliver(c, m, button_text=NO + "No", user_id=c)
                eq(statuses, [200], "the webhook's answers to the press")
                p = poll(s, rid)
                eq((p["status"], p["approved"], p["response"]), ("completed", False, "No"),
                   "the request the old fleet delivered, decided in the mixed fleet")
            smoke(s, "compat-mixed")
            # Submits go to whichever master's worker accepts first: go on
            # until each fleet has logged one.
            for i in range(200):
                if all("request submitted" in fleet.log(n) for n in ("old", "new")):
                    print("    both fleets served submits after %d more" % i, flush=True)
                    break
                submit(s, "compat-mixed", message="Submit %d" % i)
                if i % 50 == 49:
                    s.clear_pending()
            for n in ("old", "new"):
                ok("request submitted" in fleet.log(n), "the %s fleet served no submit of 200" % n)
                eq(error_lines(fleet.log(n)), [], "errors logged by the %s workers" % n)
            fleet.stop()

        def upgrade_path():
            for db in ("upgraded", "fresh"):
                s.sql("CREATE DATABASE %s" % db, db="postgres")
            migrate(s, old, old_conf, "upgraded")
            # Audit rows the old release wrote before the upgrade: the
            # migration chains them, in the order they were written.
            s.sql("INSERT INTO audit_log (tenant, session_id, actor, action, detail)"
                  " SELECT 't' || (g % 3), 's', 'key:x', 'session_registered',"
                  "        jsonb_build_object('n', g, 'note', 'caf\u00e9, \"quoted\"')"
                  " FROM generate_series(1, 30) g;"
                  " INSERT INTO audit_log (tenant, actor, action) VALUES ('t1', 'loopgate', 'x')",
                  db="upgraded")
            migrate(s, new, new_conf, "upgraded")
            r = subprocess.run([new, "audit", "verify"],
                               env=s.env(LOOPGATE_CONFIG=new_conf, DB_URI=s.db_uri_of("upgraded")),
                               capture_output=True, text=True, timeout=60)
            eq(r.returncode, 0, "audit verify after the upgrade: %s%s" % (r.stdout, r.stderr))
            eq(s.sql("SELECT tenant, max(seq), count(*), bool_and(row_sha256 IS NOT NULL)"
                     " FROM audit_log GROUP BY tenant ORDER BY tenant", db="upgraded"),
               [["t0", "10", "10", "t"], ["t1", "11", "11", "t"], ["t2", "10", "10", "t"]],
               "the backfilled chains")
            eq(s.sql("SELECT min(id) FROM audit_log WHERE seq = 11", db="upgraded"),
               s.sql("SELECT max(id) FROM audit_log", db="upgraded"), "chained in written order")
            migrate(s, new, new_conf, "fresh")
            up, fresh = dump_schema(s, "upgraded"), dump_schema(s, "fresh")
            diff = list(difflib.unified_diff(fresh, up, "fresh", "upgraded", lineterm="", n=1))
            ok(not diff, "the upgraded schema differs from a fresh one:\n" + "\n".join(diff[:60]))
            q = "SELECT string_agg(version, ' ' ORDER BY version) FROM schema_migrations"
            eq(s.sql(q, db="upgraded"), s.sql(q, db="fresh"), "the recorded migrations")

        check("%s serves the schema this tree migrates" % version, old_on_new)
        check("%s and this tree serve one database at once" % version, mixed_fleet)
        check("%s's database migrated by this tree has a fresh database's schema" % version,
              upgrade_path)
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("not ok - stack: %s" % e)
        traceback.print_exc()
    finally:
        if "fleet" in state and state["fleet"].procs:
            try:
                state["fleet"].stop()
            except Exception:  # noqa: BLE001 - the stack is torn down regardless
                pass
        if failed and os.environ.get("LOOPGATE_KEEP_LOGS"):
            import shutil
            dest = os.environ["LOOPGATE_KEEP_LOGS"]
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(os.path.join(s.var, "log"), dest)
            print("logs kept in %s" % dest)
        s.cleanup()
        tg.stop()
    print("compat took %.1fs" % (time.time() - t0))
    print("compat: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
