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
    (PostgreSQL itself, checked), never on db_uri. Here db_uri leads nowhere:
    migrate and its status succeed only through db_listen_uri."""
    env = _pooled(s, DB_URI="host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2",
                  LOOPGATE_DB_LISTEN_URI=s.db_uri)
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
