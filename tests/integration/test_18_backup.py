"""Backup and restore as docs/OPERATIONS.md says: pg_dump of the live
database in the custom format, pg_restore into a new cluster (initdb), and a
stack started on the restored database serves the restored requests: a poll
answers the same status and response, the audit trail still verifies."""
import os
import subprocess

from lg import PGBIN, Stack, chat, eq, ok
from test_07_telegram import OK, register, sent, submit


def _as_pg(cmd):
    """PostgreSQL's server programs refuse to run as root: as root they run as postgres."""
    return ["runuser", "-u", "postgres", "--"] + cmd if os.getuid() == 0 else cmd


def _poll(stack, rid):
    r = stack.get("/hitl/poll?request_id=" + rid)
    eq(r.status, 200, repr(r))
    return {k: r.json.get(k) for k in ("request_id", "status", "response", "approved", "completed")}


def test_dump_restore_into_a_new_cluster_serves_the_requests(s):
    c = chat()
    register(s, "backup18", c)
    decided = submit(s, "backup18", message="backup18 decided", options=["Ship it", "Hold"])
    c, m, _ = sent(s, decided)
    s.tg.press_and_deliver(c, m, button_text=OK + "Ship it", user_id=c)
    pending = submit(s, "backup18", message="backup18 pending", timeout_seconds=3600)
    canceled = submit(s, "backup18", message="backup18 canceled")
    eq(s.post("/hitl/cancel", {"request_id": canceled}).status, 200)
    want = {rid: _poll(s, rid) for rid in (decided, pending, canceled)}
    eq([want[r]["status"] for r in (decided, pending, canceled)], ["completed", "pending", "canceled"])

    new = Stack(s.binary, san=s.san, env={"LOOPGATE_DB_NAME": "restored"})
    dump = os.path.join(new.var, "loopgate.dump")
    try:
        # 1. pg_dump of the live database (custom format: compressed, restorable in parallel).
        r = subprocess.run([os.path.join(PGBIN, "pg_dump"), "-h", os.path.join(s.var, "run"),
                            "-U", "loopgate", "-d", "loopgate", "-Fc", "-f", dump],
                           capture_output=True, text=True, timeout=120)
        eq(r.returncode, 0, r.stderr)
        # 2. A new cluster: initdb, start it, create an empty database.
        pgdata, run, log = (os.path.join(new.var, d) for d in ("pg", "run", "log"))
        for path in (pgdata, run, log):
            os.makedirs(path, exist_ok=True)
            if os.getuid() == 0:
                subprocess.run(["chown", "postgres:", path], check=True)
        subprocess.run(_as_pg([os.path.join(PGBIN, "initdb"), "-D", pgdata, "-U", "loopgate",
                               "-A", "trust", "-E", "UTF8", "--no-locale"]),
                       check=True, capture_output=True, timeout=120)
        new.pg_ctl("start")
        psql = [os.path.join(PGBIN, "psql"), "-X", "-h", run, "-U", "loopgate"]
        subprocess.run(psql + ["-d", "postgres", "-c", "CREATE DATABASE restored"], check=True,
                       capture_output=True, timeout=60)
        # 3. pg_restore into it.
        r = subprocess.run([os.path.join(PGBIN, "pg_restore"), "-h", run, "-U", "loopgate",
                            "-d", "restored", "--exit-on-error", dump],
                           capture_output=True, text=True, timeout=300)
        eq(r.returncode, 0, r.stderr)
        # 4. A stack on the restored database (stack.sh finds the cluster running
        #    and the database there; `loopgate migrate` has nothing to do).
        new.start()
        for rid, w in want.items():
            eq(_poll(new, rid), w, "request %s after the restore" % rid)
        got = new.sql("SELECT status, response, approved, (SELECT count(*) FROM votes v"
                      " WHERE v.request_id = r.id) FROM requests r WHERE id = :'p1'", decided,
                      db="restored")
        eq(got, [["completed", "Ship it", "t", "1"]])
        r = new.cli("audit", "verify", "--tenant", "default",
                    env={"DB_URI": new.db_uri_of("restored")}, check=False)
        ok(r.returncode == 0, "the restored audit trail verifies: %s%s" % (r.stdout, r.stderr))
        r = new.cli("migrate", "--status", env={"DB_URI": new.db_uri_of("restored")}, check=False)
        eq(r.returncode, 0, "nothing pending on the restored database: %s%s" % (r.stdout, r.stderr))
    finally:
        try:
            if not new.running and os.path.exists(os.path.join(new.var, "pg", "postmaster.pid")):
                new.pg_ctl("stop")  # started by hand above; the stack never came up
        finally:
            new.cleanup()


# Wait-bound, not memory-bound (pg_dump, initdb, pg_restore): make check runs it
# against the normal build (run.py --slow).
test_dump_restore_into_a_new_cluster_serves_the_requests.slow = True
