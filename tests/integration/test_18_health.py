"""Health: /livez answers without the database; /readyz names each check that
fails (database, schema, listener, delivery, telegram) with a 503 and turns
200 again once it is fixed; /health is unchanged."""
import os
import signal

from lg import eq, ok, wait_for
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
        r = _failing(s, "delivery")
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


def test_refused_token_named(s):
    bot = int(s.tg.token.split(":")[0])
    s.sql("INSERT INTO tg_bots (bot_id, error) VALUES (:'p1', 'Unauthorized')", bot)
    try:
        r = _failing(s, "telegram")
        t = r.json["checks"]["telegram"]
        eq(t["bot_id"], bot)
        ok("Unauthorized" in t["error"], repr(t))
        eq(s.get("/health").json["status"], "degraded")
    finally:
        s.sql("DELETE FROM tg_bots WHERE bot_id = :'p1'", bot)
    _all_ready(s)
