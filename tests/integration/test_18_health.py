"""Health: /livez answers without the database; /readyz names each check that
fails (database, schema, listener) with a 503 and turns 200 again once it is
fixed, and what is the same for every host (delivery stuck, the Telegram
token refused) as a warning with a 200; probes are bounded in time and never
starve the pool; /health is unchanged."""
import hashlib
import os
import signal
import subprocess
import threading
import time

from lg import PGBIN, eq, ok, wait_for
from test_07_telegram import chat, register, submit

NEWEST = sorted(f[:-4] for f in os.listdir(os.path.join(os.path.dirname(__file__), "../../sql/migrations"))
                if f.endswith(".sql"))[-1]


def _ready(s):
    r = s.get("/readyz")
    ok(r.status in (200, 503), "readyz answered %r" % r)
    ok(r.json is not None and "checks" in r.json, "readyz body %r" % r)
    return r


def _failing(s, name):
    """Wait until /readyz is 503 naming `name`; the answer."""
    def named():
        r = _ready(s)
        return r if r.status == 503 and name in r.json["failing"] else None
    return wait_for(named, 15, "/readyz to name %s" % name)


def _warned(s, name):
    """Wait until /readyz warns of `name` (still 200: the same on every host,
    so no reason for a balancer to take this one out); the answer."""
    def named():
        r = _ready(s)
        return r if name in r.json.get("warnings", []) else None
    r = wait_for(named, 15, "/readyz to warn of %s" % name)
    eq(r.status, 200, repr(r))
    eq(r.json["status"], "ready")
    ok(name not in r.json["failing"], repr(r.json))
    eq(r.json["checks"][name]["ok"], False)
    return r


def _all_ready(s, timeout=20):
    """Wait until every worker is listening again and /readyz answers 200 a few
    times in a row (each answer comes from one of the workers)."""
    last = {}

    def ready():
        for _ in range(4):
            r = last["r"] = _ready(s)
            if r.status != 200:
                return None
        return r
    wait_for(lambda: int(s.scalar("SELECT count(*) FROM pg_stat_activity"
                                  " WHERE application_name = 'loopgate listener'"))
             >= len(s.worker_pids()), timeout, "every worker listening")
    try:
        return wait_for(ready, timeout, "/readyz 200")
    except AssertionError:
        raise AssertionError("/readyz stays %r" % last.get("r"))


def test_livez_and_readyz_when_all_is_well(s):
    # Deliveries an earlier module on this stack left failing on purpose (what
    # /readyz counts as stuck) are not this module's.
    s.sql("UPDATE outbox SET state = 'failed', done_at = now(), last_error = 'test cleanup'"
          " WHERE state = 'queued' AND (next_attempt_at < now() - interval '300 seconds'"
          "   OR (kind LIKE 'tg\\_%' AND attempts > 0"
          "       AND created_at < now() - interval '300 seconds'))")
    r = s.get("/livez")
    eq(r.status, 200, repr(r))
    eq(r.json, {"status": "ok"})
    ok(r.header("X-Request-Id"), "livez carries X-Request-Id")
    r = _all_ready(s)
    eq(r.json["status"], "ready")
    eq(r.json["failing"], [])
    eq(r.json["warnings"], [])
    for name in ("database", "schema", "listener", "delivery", "telegram"):
        eq(r.json["checks"][name]["ok"], True, "check %s: %r" % (name, r.json["checks"][name]))
    eq(r.json["checks"]["schema"]["expected"], NEWEST)
    eq(r.json["checks"]["telegram"]["configured"], True)
    eq(r.json["checks"]["delivery"]["stuck"], 0)
    # /health is as it was
    h = s.get("/health")
    eq(h.status, 200)
    eq(h.json["status"], "healthy")
    eq(h.json["database"], "ok")


def test_livez_without_database(s):
    s.pg_ctl("stop")
    try:
        r = s.get("/livez")
        eq(r.status, 200, repr(r))
        eq(r.json, {"status": "ok"})
        r = _ready(s)
        eq(r.status, 503, repr(r))
        eq(r.json["status"], "not_ready")
        ok("database" in r.json["failing"], "database named: %r" % r.json)
        eq(r.json["checks"]["database"]["ok"], False)
        ok("database" in r.json["checks"]["database"]["error"], repr(r.json))
        # what needs the database is not checked, and not named
        for name in ("schema", "delivery", "telegram"):
            eq(r.json["checks"][name]["ok"], None, name)
            ok(name not in r.json["failing"], "%s named while unchecked" % name)
        eq(r.header("Retry-After"), "5")
        eq(s.get("/health").status, 503)
    finally:
        s.pg_ctl("start")
    _all_ready(s)


def _hba(s):
    return os.path.join(s.var, "pg", "pg_hba.conf")


def _postmaster_hup(s):
    with open(os.path.join(s.var, "pg", "postmaster.pid")) as f:
        os.kill(int(f.readline()), signal.SIGHUP)


def test_readyz_names_the_listener_until_it_reconnects(s):
    eq(_all_ready(s).json["checks"]["listener"]["ok"], True)
    with open(_hba(s)) as f:
        orig = f.read()
    try:
        # New connections are refused (pooled ones stay), so the listener, once
        # killed, cannot come back until the rule goes.
        with open(_hba(s), "w") as f:
            f.write("local all all reject\nhost all all all reject\n" + orig)
        out = s.sql("SELECT pg_reload_conf(); SELECT pg_sleep(0.5);"
                    " SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'loopgate listener'")
        ok(int(out[-1][0]) >= 1, "listener connections terminated: %r" % out)
        r = _failing(s, "listener")
        eq(r.json["checks"]["listener"]["ok"], False)
        ok("LISTEN" in r.json["checks"]["listener"]["error"], repr(r.json))
        ok(r.json["checks"]["listener"]["down_ms"] >= 0, repr(r.json))
    finally:
        with open(_hba(s), "w") as f:
            f.write(orig)
        _postmaster_hup(s)
    _all_ready(s)


def test_stuck_delivery_named(s):
    c = chat()
    register(s, "ready-stuck", c)
    s.tg.go_down()
    try:
        rid = submit(s, "ready-stuck", "Is Telegram there?")
        wait_for(lambda: int(s.scalar("SELECT coalesce(max(attempts), 0) FROM outbox"
                                      " WHERE request_id = :'p1' AND state = 'queued'", rid)) > 0,
                 20, "a failed attempt at the Bot API")
        eq(_ready(s).status, 200, "a row failing for a moment is not stuck")
        # As if Telegram had been down for an hour.
        s.sql("UPDATE outbox SET created_at = now() - interval '1 hour' WHERE request_id = :'p1'", rid)
        r = _warned(s, "delivery")
        d = r.json["checks"]["delivery"]
        ok(d["stuck"] >= 1 and "tg_send" in d["kinds"] and d["oldest_s"] >= 3500, repr(d))
        eq(d["max_age_s"], 300)
        ok("Telegram" in d["error"], d["error"])
    finally:
        s.tg.come_back()
    wait_for(lambda: s.scalar("SELECT tg_state FROM requests WHERE id = :'p1'", rid) == "sent",
             60, "the message sent once Telegram is back")
    _all_ready(s)


def test_schema_newer_or_older_named(s):
    s.sql("INSERT INTO schema_migrations (version) VALUES ('999_from_a_newer_release')")
    try:
        r = _failing(s, "schema")
        eq(r.json["failing"], ["schema"])
        eq(r.json["checks"]["schema"]["unknown"], "999_from_a_newer_release")
        ok("newer release" in r.json["checks"]["schema"]["error"], repr(r.json))
    finally:
        s.sql("DELETE FROM schema_migrations WHERE version = '999_from_a_newer_release'")
    _all_ready(s)
    applied = s.scalar("SELECT applied_at FROM schema_migrations WHERE version = :'p1'", NEWEST)
    s.sql("DELETE FROM schema_migrations WHERE version = :'p1'", NEWEST)
    try:
        r = _failing(s, "schema")
        ok(NEWEST in r.json["checks"]["schema"]["error"] and
           "loopgate migrate" in r.json["checks"]["schema"]["error"], repr(r.json))
    finally:
        s.sql("INSERT INTO schema_migrations (version, applied_at) VALUES (:'p1', :'p2')",
              NEWEST, applied)
    _all_ready(s)


def token_fingerprint(api_url, token):
    """src/tg.c tg_token_fingerprint: the SHA-256 of the Bot API base URL with the token."""
    return hashlib.sha256(("%s/bot%s/" % (api_url.rstrip("/"), token)).encode()).hexdigest()


def test_refused_token_named(s):
    bot = int(s.tg.token.split(":")[0])
    fp = token_fingerprint(s.tg.url, s.tg.token)
    # A refusal of the same bot's other token (a revoked one) is not this host's.
    s.sql("INSERT INTO tg_token_refused (token_sha256, bot_id, error)"
          " VALUES (:'p1', :'p2', 'Unauthorized (old token)')",
          token_fingerprint(s.tg.url, "%d:REVOKED-token" % bot), bot)
    _all_ready(s)
    s.sql("INSERT INTO tg_token_refused (token_sha256, bot_id, error)"
          " VALUES (:'p1', :'p2', 'Unauthorized')", fp, bot)
    try:
        r = _warned(s, "telegram")
        t = r.json["checks"]["telegram"]
        eq(t["bot_id"], bot)
        ok("Unauthorized" in t["error"], repr(t))
        eq(s.get("/health").json["status"], "degraded")
    finally:
        s.sql("DELETE FROM tg_token_refused WHERE bot_id = :'p1'", bot)
    _all_ready(s)


class _Lock:
    """A psql session holding ACCESS EXCLUSIVE locks on `tables` until closed."""

    def __init__(self, s, tables):
        self.s = s
        self.p = subprocess.Popen(
            [os.path.join(PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"),
             "-U", "loopgate", "-d", "loopgate",
             "-c", "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;"
             % ", ".join(tables)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, PGAPPNAME="test lock holder"))
        wait_for(lambda: int(s.scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.granted AND l.mode = 'AccessExclusiveLock' AND c.relname = :'p1'",
            tables[0])) > 0, 10, "the lock on %s" % tables[0])

    def close(self):
        # The server notices a vanished client only after pg_sleep: end its backend.
        self.s.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE application_name = 'test lock holder'")
        self.p.kill()
        self.p.wait()


def test_readyz_bounded_on_a_locked_table(s):
    _all_ready(s)
    lock = _Lock(s, ["outbox", "requests"])
    try:
        for path in ("/readyz", "/readyz"):
            t0 = time.monotonic()
            r = _ready(s)
            took = time.monotonic() - t0
            ok(took < 3.5, "%s answered in %.1f s" % (path, took))
            eq(r.status, 503, repr(r))
            eq(r.json["failing"], ["database"])
            d = r.json["checks"]["database"]
            eq(d["busy"], True, repr(d))
            ok("did not answer in time" in d["error"] or "busy" in d["error"], repr(d))
        t0 = time.monotonic()
        m = s.get("/metrics")
        ok(time.monotonic() - t0 < 3.5, "/metrics bounded")
        eq(m.status, 200)
        ok("\nloopgate_pending_requests " not in m.raw, "gauges left out while locked")
        t0 = time.monotonic()
        h = s.get("/health")
        ok(time.monotonic() - t0 < 3.5, "/health bounded")
        # the database answers; the pool may be taken by threads waiting on the lock
        ok(h.json["database"] in ("ok", "busy"), repr(h))
    finally:
        lock.close()
    _all_ready(s)


def test_concurrent_probes_leave_the_pool_to_agents(s):
    _all_ready(s)
    results = []
    lock = _Lock(s, ["outbox"])
    try:
        def probe():
            t0 = time.monotonic()
            r = s.get("/readyz")
            results.append((r.status, time.monotonic() - t0))
        threads = [threading.Thread(target=probe) for _ in range(12)]
        for t in threads:
            t.start()
        # While the probes run: the agents' API still has connections.
        t0 = time.monotonic()
        p = s.get("/hitl/pending")
        eq(p.status, 200, repr(p))
        ok(time.monotonic() - t0 < 3, "pending answered at once")
        for t in threads:
            t.join(30)
        eq(len(results), 12)
        for status, took in results:
            ok(status in (200, 503), "probe status %d" % status)
            ok(took < 5, "a probe took %.1f s" % took)
        ok(any(status == 503 for status, _ in results), repr(results))
    finally:
        lock.close()
    _all_ready(s)
    register(s, "probe-after", chat())
    submit(s, "probe-after", "After the probes?")

