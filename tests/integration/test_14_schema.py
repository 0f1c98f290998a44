"""The schema: sql/schema.sql, `loopgate migrate` and its --status, the worker's start-up check.

Each test works on a scratch database of its own in the stack's PostgreSQL
(CREATE DATABASE, dropped afterwards), so the stack's database is never
disturbed, and migrates it with the binary under test.
"""
import contextlib
import difflib
import hashlib
import os
import select
import subprocess
import tempfile
import time

from lg import PGBIN, ROOT, Failure, eq, ok, wait_for


@contextlib.contextmanager
def scratch(s, name, migrated=True):
    """A database `name` of its own, migrated unless told not to: yields (name, conninfo)."""
    s.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, db="postgres")
    s.sql("CREATE DATABASE %s" % name, db="postgres")
    uri = "host=%s/run port=5432 dbname=%s user=loopgate" % (s.var, name)
    try:
        if migrated:
            r = migrate(s, uri)
            eq(r.returncode, 0, "migrate %s: %s" % (name, r.stderr))
        yield name, uri
    finally:
        s.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, db="postgres")


def migrate(s, uri, *args):
    return s.cli("migrate", *args, env={"DB_URI": uri}, check=False)


def status_lines(out):
    """--status output as {name: state text} for its migration and object lines."""
    lines = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("migration", "object"):
            lines[parts[1]] = parts[2]
    return lines


def embedded():
    """The migrations and objects this binary carries, from the sources it was built from."""
    migs = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "sql/migrations")))
    objs = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "sql/functions")))
    return migs, objs


def records(s, db):
    return s.sql("SELECT version, applied_at FROM schema_migrations ORDER BY 1", db=db), \
        s.sql("SELECT name, sha256, applied_at FROM schema_objects ORDER BY 1", db=db)


def test_schema_sql_is_what_the_migrations_make(s):
    with scratch(s, "lg14_schema") as (_, uri):
        r = subprocess.run([os.path.join(ROOT, "src/schema.sh"), "dump", uri],
                           capture_output=True, text=True, timeout=60)
        eq(r.returncode, 0, "schema.sh dump: %s" % r.stderr)
    with open(os.path.join(ROOT, "sql/schema.sql")) as f:
        want = f.read()
    if r.stdout != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), r.stdout.splitlines(True),
                                            "sql/schema.sql", "what the migrations make"))
        raise Failure("sql/schema.sql does not match what the migrations make; regenerate it "
                      "with `make schema` and commit it:\n" + diff)


def test_migrate_applies_everything_once_in_order(s):
    migs, objs = embedded()
    with scratch(s, "lg14_order", migrated=False) as (db, uri):
        r = migrate(s, uri, "--status")
        eq(r.returncode, 1, "--status of an empty database exits 1: %s" % r.stdout)
        states = status_lines(r.stdout)
        eq(sorted(states), sorted(migs + objs), "--status lists every migration and object")
        ok(all(v == "pending" for v in states.values()), r.stdout)
        ok("%d to apply: run 'loopgate migrate'" % (len(migs) + len(objs)) in r.stdout, r.stdout)

        r = migrate(s, uri)
        eq(r.returncode, 0, r.stderr)
        applied = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("applied ")]
        # Migrations in order, then the objects in name order, none of them twice: those
        # a migration needs (006, 019) went with it, in its transaction.
        needed = set()
        for m in migs:
            with open(os.path.join(ROOT, "sql/migrations", m + ".sql")) as f:
                for line in f:
                    if line.startswith("-- loopgate: needs "):
                        needed.update(line.split()[3:])
        ok({"requests_pending_insert", "requests_pending_status"} <= needed, needed)
        eq(applied, migs + [o for o in objs if o not in needed])
        ok("applied 006_throughput (with requests_pending_insert, requests_pending_status)\n"
           in r.stdout, r.stdout)
        before = records(s, db)
        eq([x[0] for x in before[1]], objs, "schema_objects records every object")
        shas = {x[0]: x[1] for x in before[1]}
        for o in objs:
            with open(os.path.join(ROOT, "sql/functions", o + ".sql"), "rb") as f:
                eq(shas[o], hashlib.sha256(f.read()).hexdigest(), "recorded SHA-256 of " + o)

        r = migrate(s, uri)
        eq(r.returncode, 0, r.stderr)
        eq(r.stdout, "database is up to date (%d migrations, %d objects)\n" % (len(migs), len(objs)))
        eq(records(s, db), before, "a second run records nothing new")

        r = migrate(s, uri, "--status")
        eq(r.returncode, 0, "--status of a migrated database exits 0: %s" % r.stdout)
        ok(all(v.startswith("applied 20") and v.endswith(" UTC")
               for v in status_lines(r.stdout).values()), r.stdout)
        ok(r.stdout.endswith("up to date (%d migrations, %d objects)\n" % (len(migs), len(objs))),
           r.stdout)


def test_a_changed_object_is_applied_again_once(s):
    with scratch(s, "lg14_changed") as (db, uri):
        # The database holds another body than sql/functions/lg_url_host.sql, as after
        # a release that changed the file: the record's checksum is the old file's.
        s.sql("CREATE OR REPLACE FUNCTION lg_url_host(p_url text) RETURNS text"
              " LANGUAGE sql IMMUTABLE AS $$ SELECT 'stale'::text $$;"
              " UPDATE schema_objects SET sha256 = repeat('0', 64) WHERE name = 'lg_url_host'",
              db=db)
        r = migrate(s, uri, "--status")
        eq(r.returncode, 1, r.stdout)
        state = status_lines(r.stdout)["lg_url_host"]
        ok(state.startswith("changed (applied 20") and "sql/functions/lg_url_host.sql differs" in state,
           state)
        eq(sum(v.startswith("applied") for v in status_lines(r.stdout).values()),
           len(status_lines(r.stdout)) - 1, "only lg_url_host is not current")

        r = migrate(s, uri)
        eq((r.returncode, r.stdout), (0, "applied lg_url_host\n"))
        eq(s.sql("SELECT lg_url_host('https://user@Hooks.Example.COM:8443/x')", db=db),
           [["hooks.example.com"]])
        r = migrate(s, uri)
        ok(r.stdout.startswith("database is up to date"), r.stdout)
        eq(migrate(s, uri, "--status").returncode, 0)


def serve(s, uri, tmp):
    """`loopgate serve` on a scratch database, without Telegram; its log goes to tmp/serve.log."""
    env = s.env(DB_URI=uri, LOOPGATE_SOCKET=os.path.join(tmp, "lg.sock"), LOOPGATE_WORKERS="1",
                LOOPGATE_THREADS="4", TELEGRAM_BOT_TOKEN="", PUBLIC_URL="")
    with open(os.path.join(tmp, "serve.log"), "w") as log:
        return subprocess.Popen([s.binary, "serve"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)


def stop(p):
    p.terminate()
    p.wait(timeout=30)


def refused(s, uri, tmp):
    """The worker's start-up log when it refuses to start, as it must."""
    p = serve(s, uri, tmp)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p)
        raise Failure("loopgate serve started on a schema older than it needs")
    with open(os.path.join(tmp, "serve.log")) as f:
        log = f.read()
    ok(p.returncode != 0, "serve exited %d: %s" % (p.returncode, log))
    ok("run 'loopgate migrate' first" in log, log)
    ok(not os.path.exists(os.path.join(tmp, "lg.sock")), "a refusing worker bound its socket")
    return log


def test_a_worker_refuses_a_schema_older_than_it_needs(s):
    migs, objs = embedded()
    with scratch(s, "lg14_old") as (db, uri), tempfile.TemporaryDirectory() as tmp:
        gone = s.sql("DELETE FROM schema_migrations"
                     " WHERE version IN ('016_timeout_seen', '017_bot_adoption')"
                     " RETURNING version, applied_at", db=db)
        err = refused(s, uri, tmp)
        ok("missing_migration=016_timeout_seen" in err, err)
        r = migrate(s, uri, "--status")
        eq(r.returncode, 1)
        eq(status_lines(r.stdout)["016_timeout_seen"], "pending")
        for version, at in gone:
            s.sql("INSERT INTO schema_migrations VALUES (:'p1', :'p2')", version, at, db=db)

        # An object whose body is not this binary's, as after a release that changed it.
        s.sql("UPDATE schema_objects SET sha256 = repeat('0', 64) WHERE name = 'tg_press'", db=db)
        err = refused(s, uri, tmp)
        ok("stale_object=tg_press state=changed" in err, err)

        # A newer schema is a rolling upgrade: a migration this binary does not know,
        # and tg_press applied by a newer release. migrate leaves tg_press alone, and
        # the worker starts.
        s.sql("INSERT INTO schema_migrations VALUES ('999_from_the_future');"
              " UPDATE schema_objects SET applied_by = '99.0.0' WHERE name = 'tg_press'", db=db)
        r = migrate(s, uri)
        eq(r.returncode, 0, r.stderr)
        eq(r.stdout, "the database is newer than this binary (it holds migration"
           " 999_from_the_future)\nleft as a newer release made them: tg_press\n"
           "database is up to date (%d migrations, %d objects)\n" % (len(migs), len(objs)))
        eq(s.sql("SELECT sha256 FROM schema_objects WHERE name = 'tg_press'", db=db), [["0" * 64]])
        r = migrate(s, uri, "--status")
        eq(r.returncode, 0, r.stdout)
        states = status_lines(r.stdout)
        ok(states["999_from_the_future"].endswith("not in this binary (a newer release's)"), states)
        ok(states["tg_press"].startswith("newer (applied") and "loopgate 99.0.0" in states["tg_press"]
           and states["tg_press"].endswith("left as it is"), states["tg_press"])
        p = serve(s, uri, tmp)
        try:
            wait_for(lambda: os.path.exists(os.path.join(tmp, "lg.sock")) or p.poll() is not None,
                     30, "the worker's socket")
            if p.poll() is not None:
                with open(os.path.join(tmp, "serve.log")) as f:
                    raise Failure("serve stopped on a newer schema: " + f.read())
        finally:
            stop(p)


def test_a_migration_that_waits_for_a_lock_fails_naming_its_file(s):
    with scratch(s, "lg14_lock") as (db, uri):
        # 016 pending again: it adds a column to requests, which needs its lock.
        s.sql("ALTER TABLE requests DROP COLUMN tg_cut;"
              " DELETE FROM schema_migrations WHERE version = '016_timeout_seen'", db=db)
        holder = subprocess.Popen(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"),
             "-U", "loopgate", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        try:
            holder.stdin.write("BEGIN; LOCK TABLE requests IN ACCESS SHARE MODE;\n")
            holder.stdin.flush()
            wait_for(lambda: s.sql("SELECT 1 FROM pg_locks WHERE relation = 'requests'::regclass"
                                   " AND granted AND pid <> pg_backend_pid()", db=db),
                     10, "the lock on requests")
            t0 = time.time()
            r = migrate(s, uri, "--lock-timeout", "1")
            took = time.time() - t0
            eq(r.returncode, 1, r.stdout)
            ok("sql/migrations/016_timeout_seen.sql: a lock was not granted within 1 s" in r.stderr
               and "lock_timeout" in r.stderr, r.stderr)
            ok(took < 10, "migrate gave up after %.1f s" % took)
            eq(s.sql("SELECT count(*) FROM schema_migrations WHERE version = '016_timeout_seen'",
                     db=db), [["0"]])
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        r = migrate(s, uri)
        eq((r.returncode, r.stdout), (0, "applied 016_timeout_seen\n"), r.stderr)


def test_migrate_usage(s):
    r = s.cli("migrate", "--help")
    for words in ("--status", "--lock-timeout", "Exits 0", "1 when something is"):
        ok(words in r.stdout, "migrate --help mentions %r: %s" % (words, r.stdout))
    for args in (["--lock-timeout", "0"], ["--lock-timeout", "soon"], ["--frob"], ["extra"]):
        eq(s.cli("migrate", *args, check=False).returncode, 2, "migrate %s" % args)


def test_objects_missing_from_the_database_are_applied_again(s):
    migs, objs = embedded()
    with scratch(s, "lg14_missing") as (db, uri), tempfile.TemporaryDirectory() as tmp:
        # Dropped by hand: the records still hold the files' checksums.
        s.sql("DROP FUNCTION tg_adopt_unowned(bigint);"
              " DROP TRIGGER requests_pending_insert ON requests", db=db)
        r = migrate(s, uri, "--status")
        eq(r.returncode, 1, r.stdout)
        states = status_lines(r.stdout)
        for name in ("tg_adopt_unowned", "requests_pending_insert"):
            ok(states[name].startswith("missing from the database (applied 20"), states[name])
        ok("2 to apply" in r.stdout, r.stdout)
        err = refused(s, uri, tmp)
        ok("stale_object=requests_pending_insert state=missing" in err, err)
        # The getUpdates poller writes to the database too: it refuses as the worker does.
        poll = subprocess.run([s.binary, "telegram", "poll"], capture_output=True, text=True,
                              timeout=30, env=s.env(DB_URI=uri, TELEGRAM_BOT_TOKEN="123456:abc",
                                                    TELEGRAM_API_URL="http://127.0.0.1:9"))
        eq(poll.returncode, 1, poll.stderr)
        ok("run 'loopgate migrate' first" in poll.stderr
           and "stale_object=requests_pending_insert" in poll.stderr, poll.stderr)

        r = migrate(s, uri)
        eq((r.returncode, r.stdout), (0, "applied requests_pending_insert\napplied tg_adopt_unowned\n"),
           r.stderr)
        eq(s.sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'requests_pending_insert'", db=db),
           [["1"]])
        eq(s.sql("SELECT to_regproc('tg_adopt_unowned') IS NOT NULL", db=db), [["t"]])
        eq(migrate(s, uri, "--status").returncode, 0)

        # A newer database (a migration this binary does not know) still gets the
        # objects it never recorded; the ones it records differently stay as they are.
        s.sql("INSERT INTO schema_migrations VALUES ('999_from_the_future');"
              " DELETE FROM schema_objects WHERE name = 'lg_ts';"
              " UPDATE schema_objects SET sha256 = repeat('0', 64) WHERE name = 'tg_press'", db=db)
        r = migrate(s, uri)
        eq(r.returncode, 0, r.stderr)
        ok("applied lg_ts\n" in r.stdout and "left as a newer release made them: tg_press\n"
           in r.stdout, r.stdout)
        eq(s.sql("SELECT count(*) FROM schema_objects WHERE name = 'lg_ts'", db=db), [["1"]])


def test_a_second_migrate_says_it_waits(s):
    with scratch(s, "lg14_wait") as (db, uri):
        holder = subprocess.Popen(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"),
             "-U", "loopgate", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        try:
            holder.stdin.write("SELECT pg_advisory_lock(7262317405291017);\n")
            holder.stdin.flush()
            wait_for(lambda: s.sql(held, db=db) == [["1"]], 10, "the held lock")
            p = subprocess.Popen([s.binary, "migrate"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=s.env(DB_URI=uri))
            # It waits by trying again (never blocked in pg_advisory_lock): its
            # line says so.
            if not select.select([p.stdout], [], [], 10)[0]:
                raise Failure("the second migrate did not say it waits for the lock")
            first = p.stdout.readline()
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        out, err = p.communicate(timeout=30)
        out = first + out
        eq(p.returncode, 0, err)
        ok(out.startswith("waiting for another 'loopgate migrate' to finish"), out)
        ok("database is up to date" in out, out)


def test_directives_are_exact_or_the_build_stops(_s):
    """embed_sql.sh refuses a directive it would otherwise ignore."""
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, "lg_ts.sql")
        with open(obj, "w") as f:
            f.write("CREATE OR REPLACE FUNCTION lg_ts() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
        for text in ("-- 018_x.sql - header\n\n-- loopgate: no-transaction\nSELECT 1;\n",
                     "--loopgate: needs lg_ts\nSELECT 1;\n",
                     "-- Loopgate: no-transaction\nSELECT 1;\n"):
            mig = os.path.join(tmp, "018_x.sql")
            with open(mig, "w") as f:
                f.write(text)
            r = subprocess.run([os.path.join(ROOT, "src/embed_sql.sh"), os.path.join(tmp, "out.c"),
                                mig, "--objects", obj], capture_output=True, text=True, timeout=30)
            ok(r.returncode != 0 and "018_x.sql:" in r.stderr and "directive" in r.stderr,
               "%r: %d %s" % (text, r.returncode, r.stderr))
        with open(mig, "w") as f:
            f.write("-- loopgate: needs lg_ts\n-- 018_x.sql - header\nSELECT 1;\n")
        r = subprocess.run([os.path.join(ROOT, "src/embed_sql.sh"), os.path.join(tmp, "out.c"),
                            mig, "--objects", obj], capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, r.stderr)
        with open(os.path.join(tmp, "out.c")) as f:
            out = f.read()
        ok('.needs = "lg_ts"' in out and '.defines = "function:lg_ts"' in out, out)
