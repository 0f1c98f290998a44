"""The local stack a newcomer drives: `loopgate` commands run inside the
checkout find the stack's database with no flags (var/loopgate.conf, written
by src/stack.sh); `apikey create` makes keys of tenant "default" unless told
otherwise; `make run` honours DB_URI; with keys required the banner's curl
lines carry a key that works."""
import os
import re
import shutil
import subprocess
import tempfile

from lg import Stack, eq, ok

# What a newcomer's shell does not have: the harness's own settings.
HARNESS = ("DB_URI", "LOOPGATE_CONFIG", "LOOPGATE_VAR", "LOOPGATE_AUTH", "LOOPGATE_SOCKET")


def _shell_env():
    return {k: v for k, v in os.environ.items() if k not in HARNESS}


def _checkout(var):
    """A directory laid out like a checkout whose var/ is the stack's `var`,
    and a directory deep inside it to run commands from."""
    top = tempfile.mkdtemp(prefix="lgcheckout.")
    os.symlink(var, os.path.join(top, "var"))
    deep = os.path.join(top, "src", "deep")
    os.makedirs(deep)
    return top, deep


def _run(s, cwd, *args):
    return subprocess.run([s.binary] + list(args), cwd=cwd, env=_shell_env(),
                          capture_output=True, text=True, timeout=60)


def _no_system_config():
    return not os.path.exists("/etc/loopgate/loopgate.conf")


def test_cli_in_the_checkout_finds_the_stack(s):
    if not _no_system_config():
        print("    skipped: /etc/loopgate/loopgate.conf exists and wins")
        return
    conf = os.path.join(s.var, "loopgate.conf")
    with open(conf) as f:
        text = f.read()
    ok(text.startswith("# loopgate local stack (written by src/stack.sh)\n"), text[:200])
    ok('db_uri = "host=%s/run port=5432 dbname=loopgate user=loopgate"' % s.var in text, text[-400:])
    eq(os.stat(conf).st_mode & 0o777, 0o600)
    top, deep = _checkout(s.var)
    try:
        # The README's step, as printed, from anywhere inside the checkout.
        r = _run(s, deep, "apikey", "create", "--name", "deploy-bot")
        eq(r.returncode, 0, r.stderr)
        key = r.stdout.strip()
        ok(re.fullmatch(r"lg_[0-9a-f]{40}", key), r.stdout)
        ok("for tenant 'default'" in r.stderr, r.stderr)
        eq(s.sql("SELECT tenant, name FROM api_keys WHERE prefix = :'p1' AND revoked_at IS NULL",
                 key[:11]), [["default", "deploy-bot"]])
        eq(s.get("/hitl/pending", headers={"Authorization": "Bearer " + key}).status, 200)
        # --tenant names the tenant; names are checked.
        r = _run(s, top, "apikey", "create", "--name", "deploy-bot", "--tenant", "team-a")
        eq(r.returncode, 0, r.stderr)
        eq(s.scalar("SELECT tenant FROM api_keys WHERE prefix = :'p1'", r.stdout.strip()[:11]),
           "team-a")
        for bad in ("", "a\tb", "x" * 129, "\u202ertl"):
            r = _run(s, top, "apikey", "create", "--name", "n", "--tenant", bad)
            eq(r.returncode, 2, "tenant %r: %s" % (bad, r.stderr))
        r = _run(s, top, "apikey", "create", "--name", "")
        eq(r.returncode, 2, r.stderr)
        # --replace: the old key of that name stops working.
        r = _run(s, top, "apikey", "create", "--name", "deploy-bot", "--replace")
        eq(r.returncode, 0, r.stderr)
        eq(s.scalar("SELECT count(*) FROM api_keys WHERE tenant = 'default'"
                    " AND name = 'deploy-bot' AND revoked_at IS NULL"), "1")
        ok(s.scalar("SELECT revoked_at FROM api_keys WHERE prefix = :'p1'", key[:11]),
           "replaced key revoked")
        # Other commands too.
        r = _run(s, deep, "migrate", "--status")
        eq(r.returncode, 0, r.stdout + r.stderr)
        r = _run(s, deep, "console", "link", "--tenant", "default", "--role", "admin",
                 "--name", "newcomer", "--base", "http://127.0.0.1:%d" % s.port)
        eq(r.returncode, 0, r.stderr)
        ok("#login=" in r.stdout, r.stdout)
        # `make link` (no DB_URI in its environment) reads the database from there too.
        r = s.stack("link")
        ok("#login=" in r.stdout + r.stderr, r.stdout + r.stderr)
    finally:
        shutil.rmtree(top)


def test_untrusted_stack_config_ignored(s):
    """A var/loopgate.conf that someone else could have written is not read."""
    if not _no_system_config():
        return
    top = tempfile.mkdtemp(prefix="lgcheckout.")
    try:
        os.makedirs(os.path.join(top, "var"))
        p = os.path.join(top, "var", "loopgate.conf")
        with open(p, "w") as f:
            f.write("# loopgate local stack (written by src/stack.sh)\nbogus_key = 1\n")
        os.chmod(p, 0o600)
        r = _run(s, top, "migrate", "--status")
        ok("bogus_key" in r.stderr, "a trusted file is read: %r" % r.stderr)
        os.chmod(p, 0o666)
        r = _run(s, top, "migrate", "--status")
        ok("bogus_key" not in r.stderr, "a world-writable file was read: %r" % r.stderr)
        os.chmod(p, 0o600)
        with open(p, "w") as f:
            f.write("db_uri = x\nbogus_key = 1\n")
        r = _run(s, top, "migrate", "--status")
        ok("bogus_key" not in r.stderr, "a file without the mark was read: %r" % r.stderr)
    finally:
        shutil.rmtree(top)


def test_make_run_honours_db_uri_and_prints_a_key(s):
    s.sql("DROP DATABASE IF EXISTS newcomer_ext", db="postgres")
    s.sql("CREATE DATABASE newcomer_ext", db="postgres")
    other = Stack(s.binary, san=s.san, env={"LOOPGATE_AUTH": "required"})
    uri = s.db_uri_of("newcomer_ext") + " password=sekrit-pw"
    top = None
    try:
        r = other.stack("start", DB_URI=uri)
        other.running = True
        out = r.stdout + r.stderr
        print("    " + "\n    ".join(ln for ln in out.splitlines() if "curl" in ln or "Database" in ln))
        ok("using the database of DB_URI" in out, out)
        ok("sekrit-pw" not in out and "password=***" in out, "the password is hidden: %s" % out)
        ok(not os.path.exists(os.path.join(other.var, "pg", "PG_VERSION")),
           "no private cluster was made")
        ok(s.sql("SELECT count(*) FROM schema_migrations", db="newcomer_ext")[0][0] != "0",
           "DB_URI's database was migrated")
        m = re.search(r"Authorization: Bearer (lg_[0-9a-f]{40})'", out)
        ok(m, "the banner's curl lines carry a key: %s" % out)
        key = m.group(1)
        curls = [ln for ln in out.splitlines() if ln.strip().startswith("curl")]
        ok(len(curls) >= 4 and all("Authorization: Bearer " + key in ln for ln in curls), curls)
        eq(s.sql("SELECT tenant, name FROM api_keys WHERE prefix = :'p1' AND revoked_at IS NULL",
                 key[:11], db="newcomer_ext"), [["default", "local-stack"]])
        eq(other.get("/hitl/pending").status, 401)
        eq(other.get("/hitl/pending", headers={"Authorization": "Bearer " + key}).status, 200)
        # The CLI inside that checkout reaches DB_URI's database too.
        if _no_system_config():
            top, deep = _checkout(other.var)
            r = _run(s, deep, "apikey", "list")
            eq(r.returncode, 0, r.stderr)
            ok(key[:11] in r.stdout, r.stdout)
        other.stop()
        eq(other.sanitizer_reports(), [], "sanitizer reports of the DB_URI stack")
        # The stack's stop left the database it did not start alone.
        eq(s.sql("SELECT 1", db="newcomer_ext"), [["1"]])
    finally:
        if top:
            shutil.rmtree(top)
        other.cleanup()
        s.sql("DROP DATABASE IF EXISTS newcomer_ext WITH (FORCE)", db="postgres")



def test_banner_masks_every_password_form(s):
    # stack.sh's masked(), run alone on each form libpq accepts.
    stack_sh = os.path.join(os.path.dirname(__file__), "../../src/stack.sh")
    script = ('eval "$(sed -n \'/^masked() {/,/^}/p\' "$1")"; shift\n'
              'for u in "$@"; do masked "$u"; done')
    forms = ["host=h user=u password = hunter2SECRET dbname=x",
             "host=h password='a b\\' cSECRET' dbname=x",
             "host=h password=SECRET",
             "postgresql://u:SECRET@h/db?sslmode=require",
             "postgresql://u@h/db?password=SECRET&sslmode=require",
             "host=h sslpassword =SECRET"]
    r = subprocess.run(["bash", "-c", script, "_", stack_sh] + forms, capture_output=True,
                       text=True, timeout=30)
    eq(r.returncode, 0, r.stderr)
    lines = r.stdout.splitlines()
    eq(len(lines), len(forms), r.stdout)
    for form, line in zip(forms, lines):
        ok("SECRET" not in line and "***" in line, "%r shown as %r" % (form, line))
    eq(lines[0], "host=h user=u password = *** dbname=x")
