"""The loopgate command line: help, version, migrate, apikey, config errors."""
import os
import tempfile

from lg import eq, ok, error_is


def test_help_everywhere(s):
    for args in (["--help"], ["help"], ["serve", "--help"], ["migrate", "--help"],
                 ["apikey", "--help"], ["apikey", "create", "--help"], ["version", "--help"]):
        r = s.cli(*args)
        ok("Usage" in r.stdout, "%s prints usage: %r" % (args, r.stdout[:200]))
    ok("request_timeout" in s.cli("serve", "--help").stdout, "serve --help lists config keys")
    r = s.cli("frobnicate", check=False)
    eq(r.returncode, 2)
    ok("unknown command" in r.stderr, r.stderr)
    ok(s.cli("version").stdout.startswith("loopgate "), "version")


def test_migrate_twice_changes_nothing(s):
    before = s.sql("SELECT version, applied_at FROM schema_migrations ORDER BY 1")
    ok(before and before[0][0] == "001_init", "schema_migrations records 001_init: %r" % before)
    r = s.cli("migrate")
    ok("up to date" in r.stdout, r.stdout)
    eq(s.sql("SELECT version, applied_at FROM schema_migrations ORDER BY 1"), before)


def test_apikey_lifecycle(s):
    key = s.cli("apikey", "create", "--name", "ci-bot", "--tenant", "cli-tenant").stdout.strip()
    h = {"X-API-Key": key}
    # Used often enough that every worker has it in its key cache.
    for _ in range(20):
        eq(s.get("/hitl/pending", headers=h).status, 200)
    listing = s.cli("apikey", "list").stdout
    ok("ci-bot" in listing and key[:11] in listing and key not in listing, listing)
    ok(key not in s.log_text(), "an API key reached a log")
    r = s.cli("apikey", "revoke", key[:11])
    ok("revoked" in r.stdout, r.stdout)
    # Every worker heard the revocation (lg_apikey): no cached copy still works.
    for _ in range(20):
        error_is(s.get("/hitl/pending", headers=h), 401, "unauthorized", "revoked")
    r = s.cli("apikey", "revoke", key[:11], check=False)
    eq(r.returncode, 1)
    r = s.cli("apikey", "create", check=False)
    eq(r.returncode, 2)
    ok("--name" in r.stderr, r.stderr)


def test_config_errors_stop_startup(s):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("# comment\nworkers = 2\nfrobs = 3\n")
        bad = f.name
    try:
        for args, env, needle in (
            (["serve", "--config", bad], {}, bad + ":3: unknown key 'frobs'"),
            (["migrate"], {"LOOPGATE_CONFIG": bad}, "unknown key 'frobs'"),
            (["serve"], {"DB_ADAPTER": "mysql"}, "db_adapter"),
            (["serve"], {"REQUEST_TIMEOUT": "soon"}, "REQUEST_TIMEOUT"),
            (["serve"], {"MAX_CONCURRENT_REQUESTS": "0"}, "max_concurrent_requests"),
            (["serve"], {"LOOPGATE_AUTH": "maybe"}, "auth"),
            (["serve", "--config", "/nonexistent.conf"], {}, "/nonexistent.conf"),
        ):
            r = s.cli(*args, env=env, check=False)
            eq(r.returncode, 2, "%s %s exit code (%s)" % (args, env, r.stderr))
            ok(needle in r.stderr, "%r not in %r" % (needle, r.stderr))
        # The shipped production config parses.
        r = s.cli("migrate", "--help", env={"LOOPGATE_CONFIG": os.path.join(
            os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
            "conf/loopgate.conf")})
        eq(r.returncode, 0)
    finally:
        os.unlink(bad)
