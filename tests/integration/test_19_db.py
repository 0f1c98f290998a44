"""The database settings that fail-over and pgbouncer rely on, on one stack:
db_transaction_pooling without db_listen_uri is refused by `serve` and
`doctor`, naming db_listen_uri, and a reload to it is refused; `migrate`
then runs on db_listen_uri, PostgreSQL itself; a commit waits for any synchronous standby
(synchronous_commit = on) whatever the connection's default, in pooled mode
(SET LOCAL per transaction) and directly (conninfo options of the operator's
own); the audit export's mark on a server that takes no writes is a 503
"database_unavailable" and the connection is dropped, as everywhere else.

What needs a standby or pgbouncer is in test_19_failover.py (make check-ha).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

from lg import chat, eq, ok, wait_for


def _pooled(s, **extra):
    env = {"LOOPGATE_DB_TRANSACTION_POOLING": "true", "LOOPGATE_DB_LISTEN_URI": ""}
    env.update(extra)
    return env


def test_transaction_pooling_needs_a_listen_uri(s):
    d = tempfile.mkdtemp(prefix="lgdb19.")
    os.chmod(d, 0o755)
    p = None
    try:
        # A socket of its own: were it not refused, it must not take the stack's.
        p = subprocess.Popen([s.binary, "serve", "--socket", os.path.join(d, "x.sock"),
                              "--workers", "1"], env=s.env(**_pooled(s)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=15)
        eq(p.returncode, 2, "serve with pooling and no db_listen_uri: %s%s" % (out, err))
        ok("configuration error" in err and "db_listen_uri" in err
           and "db_transaction_pooling" in err, err)
    finally:
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)
    r = s.cli("doctor", env=_pooled(s), check=False)
    eq(r.returncode, 1, r.stdout + r.stderr)
    line = next((ln for ln in r.stdout.splitlines() if re.match(r"FAIL\s+config\s", ln)), "")
    ok("db_listen_uri" in line, "doctor's config check names db_listen_uri: %s" % r.stdout)
    # Every command reads the same configuration: refused alike.
    r = s.cli("apikey", "create", "--name", "pool19", "--tenant", "pool19", env=_pooled(s),
              check=False)
    ok(r.returncode != 0 and "db_listen_uri" in r.stderr, r.stderr)
    eq(s.scalar("SELECT count(*) FROM api_keys WHERE tenant = 'pool19'"), "0")


def test_migrate_under_pooling_goes_to_postgresql_itself(s):
    """Under db_transaction_pooling, db_uri is the pooler: `loopgate migrate`
    holds a session lock and session settings, so it runs on db_listen_uri
    (PostgreSQL itself, checked), never on db_uri, which it only asks which
    database it is (it must be db_listen_uri's). With db_uri leading nowhere,
    migrate and its status refuse, saying so; through a db_uri that answers,
    they succeed and leave no lock behind."""
    env = _pooled(s, DB_URI="host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2",
                  LOOPGATE_DB_LISTEN_URI=s.db_uri)
    for args in (("migrate", "--status"), ("migrate",)):
        r = s.cli(*args, env=env, check=False)
        ok(r.returncode != 0 and "could not reach db_uri" in r.stderr, "%s: %d %s%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr))
    env["DB_URI"] = s.db_uri + " application_name=lg19-pooled-side"
    r = s.cli("migrate", "--status", env=env, check=False)
    eq(r.returncode, 0, "migrate --status under pooling: %s%s" % (r.stdout, r.stderr))
    ok("up to date" in r.stdout, r.stdout)
    r = s.cli("migrate", env=env, check=False)
    eq(r.returncode, 0, "migrate under pooling: %s%s" % (r.stdout, r.stderr))
    eq(s.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), "0",
       "no advisory lock left behind")


def test_reload_to_pooling_without_listen_uri_is_refused(s):
    """A running `serve` whose file gains db_transaction_pooling = true
    without db_listen_uri keeps its running configuration and says why."""
    d = tempfile.mkdtemp(prefix="lgdb19r.")
    os.chmod(d, 0o755)
    conf, log = os.path.join(d, "loopgate.conf"), os.path.join(d, "serve.log")

    def write(extra):
        with open(conf + ".tmp", "w") as f:
            f.write('socket = %s/x.sock\ndb_uri = "%s"\nworkers = 1\nthreads = 4\n'
                    "busy_threads = 2\ndelivery_threads = 0\nwebhook_threads = 0\n"
                    "janitor_interval = 0\n%s" % (d, s.db_uri, extra))
        os.replace(conf + ".tmp", conf)

    def text():
        with open(log, errors="replace") as f:
            return f.read()

    env = {k: v for k, v in s.env().items()
           if not k.startswith(("LOOPGATE_", "TELEGRAM_", "DB_", "PUBLIC_URL", "SERVER_PORT",
                                "MAX_CONCURRENT", "REQUEST_TIMEOUT", "LOG_LEVEL"))}
    p = None
    try:
        write("")
        with open(log, "w") as out:
            p = subprocess.Popen([s.binary, "serve", "--config", conf], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
        wait_for(lambda: "loopgate serving" in text(), 20, "serve to start")
        write("db_transaction_pooling = true\n")
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: re.search(r"could not reload|configuration reloaded", text()), 20,
                 "the master to log the reload's outcome")
        ok("could not reload the configuration" in text(), text()[-1500:])
        line = next(ln for ln in text().splitlines() if "could not reload" in ln)
        ok("db_listen_uri" in line and "keeping the running one" in line, line)
        eq(p.poll(), None, "serve keeps running")
    finally:
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_commits_are_synchronous_whatever_the_default(s):
    """The connection's own default is synchronous_commit = local (options in
    the conninfo, as a role or database default would be): the key's INSERT
    still runs with synchronous_commit on, through the pooled path and the
    direct one. A trigger of the test's own notes the setting in force."""
    s.sql("CREATE TABLE IF NOT EXISTS sc19_seen (name text, sc text);"
          " CREATE OR REPLACE FUNCTION sc19_note() RETURNS trigger LANGUAGE plpgsql AS $$"
          " BEGIN IF NEW.tenant = 'sc19' THEN"
          "   INSERT INTO sc19_seen VALUES (NEW.name, current_setting('synchronous_commit'));"
          " END IF; RETURN NEW; END $$;"
          " DROP TRIGGER IF EXISTS sc19_note ON api_keys;"
          " CREATE TRIGGER sc19_note AFTER INSERT ON api_keys FOR EACH ROW"
          "   EXECUTE FUNCTION sc19_note()")
    local = s.db_uri + " options='-c synchronous_commit=local'"
    try:
        for name, env in (("pooled", _pooled(s, DB_URI=local, LOOPGATE_DB_LISTEN_URI=s.db_uri)),
                          ("direct", {"DB_URI": local})):
            s.cli("apikey", "create", "--name", "sc19-" + name, "--tenant", "sc19", env=env)
        eq(s.sql("SELECT name, sc FROM sc19_seen ORDER BY name"),
           [["sc19-direct", "on"], ["sc19-pooled", "on"]], "synchronous_commit at each INSERT")
    finally:
        s.sql("DROP TRIGGER IF EXISTS sc19_note ON api_keys; DROP FUNCTION IF EXISTS sc19_note();"
              " DROP TABLE IF EXISTS sc19_seen")


def test_audit_mark_on_a_read_only_server_is_unavailable(s):
    name = "ro19"
    h = {"X-API-Key": s.new_key(name)}
    eq(s.post("/hitl/register", {"session_id": "ro19", "client_id": "agent",
                                 "telegram_id": chat()}, headers=h).status, 200)
    ro = s.db_uri + " options='-c default_transaction_read_only=on'"
    r = s.cli("audit", "export", "--tenant", name, "--mark", env={"DB_URI": ro}, check=False)
    eq(r.returncode, 2, r.stdout + r.stderr)
    ok(r.stdout.strip(), "the rows were exported before the mark: %r" % r.stdout)
    ok("could not record the export" in r.stderr and "retry shortly" in r.stderr,
       "a 503 database_unavailable, not a database error: %s" % r.stderr)
    ok(re.search(r'lost database connection.*sqlstate=25006', r.stderr),
       "the connection is dropped as db.c drops one: %s" % r.stderr)
    eq(s.scalar("SELECT count(*) FROM audit_retention WHERE tenant = :'p1'", name), "0")
    r = s.cli("audit", "export", "--tenant", name, "--mark")
    ok("marked tenant=%s" % name in r.stderr, r.stderr)


def _readyz(sock):
    """/readyz of a `serve` on unix socket `sock`, over FastCGI: (status, body)."""
    env = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/readyz", "DOCUMENT_URI": "/readyz",
           "REQUEST_URI": "/readyz", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(["cgi-fcgi", "-bind", "-connect", sock], env=env, capture_output=True,
                       timeout=20)
    head, _, body = r.stdout.decode(errors="replace").partition("\r\n\r\n")
    m = re.search(r"^Status: (\d+)", head, re.M)
    try:
        return (int(m.group(1)) if m else 200), json.loads(body)
    except ValueError:
        return 0, {"raw": r.stdout[-300:]}


def test_listen_uri_in_another_database_is_refused(s):
    """db_listen_uri naming another Loopgate database (here a second database,
    migrated, in the stack's own PostgreSQL) than db_uri: notifications would
    be sent where nobody listens and the janitor would prune that database.
    /readyz fails its listener check naming both databases, the janitor skips
    its runs and leaves the other database's rows, doctor's database.listen
    FAILs; named the right database, the listener is ready and the janitor
    runs. `migrate` under transaction pooling, which runs on db_listen_uri,
    refuses it."""
    other = "lg19_other"
    other_uri = s.db_uri_of(other)
    d = tempfile.mkdtemp(prefix="lgdb19o.")
    os.chmod(d, 0o755)
    sock, log = os.path.join(d, "lg.sock"), os.path.join(d, "serve.log")
    p = None

    def text():
        with open(log, errors="replace") as f:
            return f.read()

    def serve(listen_uri):
        env = s.env(LOOPGATE_SOCKET=sock, LOOPGATE_WORKERS="1", LOOPGATE_THREADS="4",
                    LOOPGATE_DELIVERY_THREADS="0", LOOPGATE_WEBHOOK_THREADS="0",
                    LOOPGATE_JANITOR_INTERVAL="1", TELEGRAM_BOT_TOKEN="", PUBLIC_URL="",
                    LOOPGATE_DB_LISTEN_URI=listen_uri)
        with open(log, "w") as out:
            return subprocess.Popen([s.binary, "serve"], env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)

    def stop(proc):
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def doctor_line(listen_uri):
        r = s.cli("doctor", env={"LOOPGATE_DB_LISTEN_URI": listen_uri}, check=False)
        return next((ln for ln in r.stdout.splitlines()
                     if re.match(r"\S+\s+database\.listen\s", ln)), r.stdout + r.stderr)

    s.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % other, db="postgres")
    s.sql("CREATE DATABASE %s" % other, db="postgres")
    try:
        r = s.cli("migrate", env={"DB_URI": other_uri}, check=False)
        eq(r.returncode, 0, "migrate %s: %s" % (other, r.stderr))
        mine = s.sql("SELECT id FROM database_identity")[0][0]
        theirs = s.sql("SELECT id FROM database_identity", db=other)[0][0]
        ok(mine != theirs, "each migrated database has an id of its own")
        # A processed update far past its window: the janitor's first sweep takes it.
        s.sql("INSERT INTO tg_updates (bot_id, update_id, received_at)"
              " VALUES (19, 1900001, now() - interval '30 days')", db=other)

        # Under transaction pooling migrate runs on db_listen_uri: naming another
        # database, it would report that one up to date; it refuses, naming both.
        pooled = {"LOOPGATE_DB_TRANSACTION_POOLING": "true", "LOOPGATE_DB_LISTEN_URI": other_uri}
        for args in (("migrate",), ("migrate", "--status")):
            r = s.cli(*args, env=pooled, check=False)
            ok(r.returncode != 0 and "db_listen_uri reaches database '%s'" % other in r.stderr
               and "db_uri reaches 'loopgate'" in r.stderr and "up to date" not in r.stdout,
               "%s: %d %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        pooled["LOOPGATE_DB_LISTEN_URI"] = s.db_uri
        for args in (("migrate",), ("migrate", "--status")):
            r = s.cli(*args, env=pooled, check=False)
            eq(r.returncode, 0, "%s with the right db_listen_uri: %s" % (" ".join(args), r.stderr))

        line = doctor_line(other_uri)
        ok(line.startswith("FAIL") and other in line and "loopgate" in line
           and theirs in line and mine in line, line)
        line = doctor_line(s.db_uri)
        ok(line.startswith("ok") and "db_uri's database loopgate" in line, line)

        p = serve(other_uri)
        got = {}

        def refused():
            got["r"] = _readyz(sock) if os.path.exists(sock) else (0, {})
            chk = got["r"][1].get("checks", {}).get("listener", {})
            return got["r"][0] == 503 and "other_database" in chk
        # (Before the listener has connected, its check fails for that alone.)
        wait_for(refused, 20, "/readyz to fail its listener check: %r" % (got,))
        ok("listener" in got["r"][1]["failing"], repr(got["r"]))
        chk = got["r"][1]["checks"]["listener"]
        eq(chk.get("other_database"), True, repr(got["r"]))
        eq((chk["db_listen_uri"]["database"], chk["db_listen_uri"]["id"]), (other, theirs))
        eq((chk["db_uri"]["database"], chk["db_uri"]["id"]), ("loopgate", mine))
        ok("db_listen_uri" in chk["error"] and other in chk["error"], chk["error"])
        wait_for(lambda: "janitor: db_listen_uri reaches another database" in text(), 15,
                 "the janitor to skip a run")
        lines = [ln for ln in text().splitlines()
                 if "db_listen_uri reaches another database than db_uri:" in ln]
        eq(len(lines), 1, "one log line from the listener: %s" % text()[-2000:])
        ok("listen_database=%s" % other in lines[0] and "id=%s" % mine in lines[0], lines[0])
        ok("janitor run" not in text(), text()[-2000:])
        eq(s.sql("SELECT count(*) FROM tg_updates WHERE update_id = 1900001", db=other)[0][0],
           "1", "the other database's rows are left alone")
        stop(p)

        p = serve(s.db_uri)

        def ready():
            got["r"] = _readyz(sock) if os.path.exists(sock) else (0, {})
            return got["r"][1].get("checks", {}).get("listener", {}).get("ok") is True
        wait_for(ready, 20, "/readyz's listener check to pass: %r" % (got,))
        wait_for(lambda: "janitor run" in text(), 15, "the janitor to run")
        ok("another database" not in text(), text()[-2000:])
    finally:
        stop(p)
        shutil.rmtree(d, ignore_errors=True)
        s.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % other, db="postgres")
