"""Several `loopgate migrate` runs at once on one database (hosts or replicas
started together): they take turns under the migration lock, and the ones
that wait do so outside any transaction, because the holder's CREATE INDEX
CONCURRENTLY waits for every open transaction to end. A waiter blocked in
pg_advisory_lock would keep one open: a deadlock that PostgreSQL broke by
failing a run. Each test migrates a scratch database of its own in the
stack's PostgreSQL, dropped afterwards.
"""
import contextlib
import os
import select
import socket
import subprocess
import time

from lg import PGBIN, ROOT, Failure, eq, ok, wait_for

LOCK = 7262317405291017


@contextlib.contextmanager
def scratch(s, name):
    s.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, db="postgres")
    s.sql("CREATE DATABASE %s" % name, db="postgres")
    try:
        yield s.db_uri_of(name)
    finally:
        s.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, db="postgres")


def start(s, uri, n):
    return [subprocess.Popen([s.binary, "migrate"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=s.env(DB_URI=uri))
            for _ in range(n)]


def first_line(p, timeout=15.0):
    """The first line `p` prints, waited for with a deadline."""
    r, _, _ = select.select([p.stdout], [], [], timeout)
    if not r:
        raise Failure("migrate pid %d printed nothing within %.0f s" % (p.pid, timeout))
    return p.stdout.readline()


def finish(ps, first=None):
    """(returncode, stdout, stderr) of each run; kills what is still running after 60 s."""
    out = []
    for i, p in enumerate(ps):
        try:
            o, e = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        out.append((p.returncode, (first[i] if first else "") + o, e))
    return out


def assert_current_once(s, db, uri, results):
    """Every run exited 0; exactly one applied the schema, the others found it done."""
    for rc, o, e in results:
        eq(rc, 0, "migrate: %s%s" % (o, e))
        ok("deadlock" not in e, e)
    appliers = [o for _, o, _ in results if "applied 001_init\n" in o]
    eq(len(appliers), 1, "runs that applied the schema: %r" % [o for _, o, _ in results])
    for _, o, _ in results:
        if o not in appliers:
            ok(o.endswith("database is up to date (%d migrations, %d objects)\n"
                          % (len(os.listdir(os.path.join(ROOT, "sql/migrations"))),
                             len(os.listdir(os.path.join(ROOT, "sql/functions"))))), o)
    migs = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "sql/migrations")))
    eq([r[0] for r in s.sql("SELECT version FROM schema_migrations ORDER BY 1", db=db)], migs)
    eq(s.sql("SELECT count(*) FROM pg_index WHERE NOT indisvalid", db=db), [["0"]],
       "invalid indexes a failed CREATE INDEX CONCURRENTLY left")
    r = s.cli("migrate", "--status", env={"DB_URI": uri}, check=False)
    eq(r.returncode, 0, r.stdout)


def test_migrates_waiting_for_the_lock_do_not_deadlock_its_holder(s):
    db = "lg19_migwait"
    with scratch(s, db) as uri:
        holder = subprocess.Popen(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"),
             "-U", "loopgate", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        ps = []
        try:
            holder.stdin.write("SELECT pg_advisory_lock(%d);\n" % LOCK)
            holder.stdin.flush()
            held = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            wait_for(lambda: s.sql(held, db=db), 10, "the lock held from psql")
            psql_pid = s.sql(held, db=db)[0][0]
            ps = start(s, uri, 3)
            first = [first_line(p) for p in ps]
            # Waiting, none of them in pg_advisory_lock (a lock not granted).
            blocked = s.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                            " AND NOT granted", db=db)
            names = sorted(r[0] for r in s.sql(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE application_name LIKE 'loopgate migrate %'", db=db))
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
            results = finish(ps, first) if ps else []
        # The release hands the lock to one run, whose 021, 022 and 026 build
        # their indexes CONCURRENTLY while the other two still wait.
        assert_current_once(s, db, uri, results)
        eq(blocked, [["0"]], "migrate runs blocked in pg_advisory_lock")
        for line in first:
            eq(line, "waiting for another 'loopgate migrate' to finish (it holds the migration"
               " lock: PostgreSQL backend pid %s, application psql, client local)\n" % psql_pid)
        host = socket.gethostname()
        eq(names, sorted(("loopgate migrate pid %d on %s" % (p.pid, host))[:63] for p in ps))


def test_three_migrates_at_once_on_a_fresh_database(s):
    db = "lg19_migthree"
    with scratch(s, db) as uri:
        t0 = time.monotonic()
        results = finish(start(s, uri, 3))
        took = time.monotonic() - t0
        assert_current_once(s, db, uri, results)
        ok(took < 30, "three migrates took %.1f s" % took)
        # A run that waited names the run it waited for (or no one, when the
        # lock was let go between its try and its look).
        for _, o, _ in results:
            if o.startswith("waiting"):
                line = o.splitlines()[0]
                ok(line.endswith("(it holds the migration lock)")
                   or "lock: loopgate migrate pid " in line, line)
