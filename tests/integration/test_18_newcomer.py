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


def test_tenant_names(s):
    """One rule for a new tenant's name wherever the CLI takes --tenant; tenants
    that already have keys (also from before the rule) are taken as they are."""
    rule = "a tenant name is 1-63 characters of a-z, 0-9, '.', '_' and '-'"

    def tenants():
        return {t for (t,) in s.sql("SELECT DISTINCT tenant FROM api_keys UNION"
                                    " SELECT DISTINCT tenant FROM policies UNION"
                                    " SELECT DISTINCT tenant FROM webhook_secrets UNION"
                                    " SELECT DISTINCT tenant FROM console_links")}

    before = tenants()
    looks = [("default ", "write it as 'default'"), ("Default", "write it as 'default'"),
             ("ACME", "write it as 'acme'"), (" acme", "write it as 'acme'"),
             ("d\u0435fault", rule), ("a b", rule), ("x/y", rule), ("-rf", rule),
             ("a;b", rule), ("..", rule), ("a" * 64, rule)]
    commands = [("apikey", "create", "--name", "n"), ("apikey", "webhook-secret"),
                ("policy", "add", "--tool", "Bash", "--match", "^ls$", "--action", "deny"),
                ("policy", "list"), ("policy", "rm", "1"),
                ("console", "link", "--role", "admin", "--name", "ann")]
    # every name with the command that makes tenants, two with each other command
    tries = [(b, c) for b in looks for c in commands[:1]]
    tries += [(b, c) for b in looks[2:3] + looks[4:5] for c in commands[1:]]
    for (bad, says), cmd in tries:
        r = s.cli(*cmd, "--tenant", bad, check=False)
        eq(r.returncode, 2, "%s --tenant %r: %s" % (" ".join(cmd), bad, r.stderr))
        # ("default" is a tenant: a name like it is told so instead)
        ok("--tenant" in r.stderr and "ERROR" not in r.stderr and
           (says in r.stderr or "looks like the existing tenant 'default'" in r.stderr),
           "%s --tenant %r: %s" % (" ".join(cmd), bad, r.stderr))
    eq(tenants(), before, "refused names made tenants")
    r = s.cli("apikey", "create", "--help")
    ok("A new TENANT is 1-63 characters of a-z," in r.stdout, r.stdout)

    # A new name by the rule is a new tenant.
    key = s.new_key("acme.eu_2")
    eq(s.get("/hitl/pending", headers={"Authorization": "Bearer " + key}).status, 200)
    s.cli("policy", "add", "--tenant", "team-x", "--tool", "Bash", "--match", "^ls$",
          "--action", "deny")
    eq(s.scalar("SELECT count(*) FROM policies WHERE tenant = 'team-x'"), "1")
    # ... but not one that differs from an existing tenant only by case or spaces.
    r = s.cli("apikey", "create", "--name", "n", "--tenant", "ACME.EU_2", check=False)
    eq(r.returncode, 2, r.stderr)
    ok("looks like the existing tenant 'acme.eu_2'" in r.stderr, r.stderr)
    # ... nor by '.', '_', '-' or a digit read as a letter.
    for bad, like in (("defau1t", "default"), ("default.", "default"), ("-default", None),
                      ("acme-eu2", "acme.eu_2"), ("acmeeu_2.", "acme.eu_2")):
        r = s.cli("apikey", "create", "--name", "n", "--tenant", bad, check=False)
        eq(r.returncode, 2, "--tenant %r: %s" % (bad, r.stderr))
        ok(like is None or "looks like the existing tenant '%s'" % like in r.stderr, r.stderr)
    eq(tenants(), before | {"acme.eu_2", "team-x"}, "refused look-alikes made tenants")

    # A database from before the rule: its tenants keep working by their exact names.
    legacy = {"Legacy Corp ": "lg_" + "ab" * 20, "Acme": "lg_" + "cd" * 20,
              "Line\u2028ok tenant=forged": "lg_" + "9a" * 20}
    for tenant, k in legacy.items():
        s.sql("INSERT INTO api_keys (tenant, name, key_hash, prefix)"
              " VALUES (:'p1', 'old', encode(sha256(convert_to(:'p2', 'UTF8')), 'hex'), :'p3')",
              tenant, k, k[:11])
        r = s.post("/hitl/register", {"session_id": "legacy", "client_id": "c",
                                      "telegram_id": 4242},
                   headers={"Authorization": "Bearer " + k})
        ok(r.status in (200, 201), r.raw)
        eq(s.scalar("SELECT count(*) FROM sessions WHERE session_id = 'legacy'"
                    " AND tenant = :'p1'", tenant), "1", "a session of %r" % tenant)
    # A legacy name too long to hold is refused, never cut: two such names
    # sharing their first 128 bytes would otherwise be one tenant.
    long_key = "lg_" + "ef" * 20
    s.sql("INSERT INTO api_keys (tenant, name, key_hash, prefix)"
          " VALUES (:'p1', 'old', encode(sha256(convert_to(:'p2', 'UTF8')), 'hex'), :'p3')",
          "L" * 128 + "-alice", long_key, long_key[:11])
    r = s.get("/hitl/pending", headers={"Authorization": "Bearer " + long_key})
    eq(r.status, 403, r.raw)
    ok("longer than 128 bytes" in r.json["error"]["message"], r.raw)
    # audit verify quotes such a name, so that its line reads as fields.
    r = s.cli("audit", "verify", check=False)
    ok(re.search(r'^ok tenant="Legacy Corp " rows=\d+ head_seq=', r.stdout, re.M), r.stdout)
    # Bytes outside ASCII are escaped: no line separator of any kind forges a line.
    ok('ok tenant="Line\\xe2\\x80\\xa8ok tenant=forged" rows=' in r.stdout, r.stdout)
    eq(len(r.stdout.splitlines()), r.stdout.count("\n"), "lines as a reader splits them")
    for cmd in commands[:4]:
        r = s.cli(*cmd, "--tenant", "Legacy Corp ", check=False)
        eq(r.returncode, 0, "%s: %s" % (" ".join(cmd), r.stderr))
    new = s.cli("apikey", "create", "--name", "old", "--tenant", "Legacy Corp ",
                "--replace").stdout.strip()
    eq(s.sql("SELECT name FROM api_keys WHERE tenant = 'Legacy Corp ' AND revoked_at IS NULL"
             " ORDER BY name"), [["n"], ["old"]])
    eq(s.get("/hitl/pending", headers={"Authorization": "Bearer " + new}).status, 200)
    eq(s.get("/hitl/pending",
             headers={"Authorization": "Bearer " + legacy["Legacy Corp "]}).status, 401)
    # A new name that would look like a legacy tenant is refused, naming the one meant.
    for alike in ("acme", "legacy corp", "ACME "):
        r = s.cli("apikey", "create", "--name", "n", "--tenant", alike, check=False)
        eq(r.returncode, 2, "%r: %s" % (alike, r.stderr))
        ok("looks like the existing tenant" in r.stderr, r.stderr)
    ok("'Acme'" in r.stderr, r.stderr)
    eq(s.scalar("SELECT count(*) FROM api_keys WHERE tenant IN ('acme', 'legacy corp', 'ACME ')"),
       "0")


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
        # Another stack (by the name before stack ids, and by another id) and
        # a deployment already have their keys in this database.
        s.cli("migrate", env={"DB_URI": uri})
        s.sql("INSERT INTO api_keys (tenant, name, key_hash, prefix) VALUES"
              " ('default', 'local-stack', repeat('1', 64), 'lg_11111111'),"
              " ('default', 'local-stack-0123456789ab', repeat('2', 64), 'lg_22222222')",
              db="newcomer_ext")
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
        # The keys of the others that use this database were left alone.
        eq(s.sql("SELECT prefix FROM api_keys WHERE prefix IN ('lg_11111111', 'lg_22222222')"
                 " AND revoked_at IS NULL ORDER BY prefix", db="newcomer_ext"),
           [["lg_11111111"], ["lg_22222222"]])
        with open(os.path.join(other.var, "stack-id")) as f:
            own = "local-stack-" + f.read().strip()
        ok(re.fullmatch(r"local-stack-[0-9a-f]{12}", own), own)
        ok("named %s" % own in out, out)
        eq(s.sql("SELECT tenant, name FROM api_keys WHERE prefix = :'p1' AND revoked_at IS NULL",
                 key[:11], db="newcomer_ext"), [["default", own]])
        eq(other.get("/hitl/pending").status, 401)
        eq(other.get("/hitl/pending", headers={"Authorization": "Bearer " + key}).status, 200)
        # The CLI inside that checkout reaches DB_URI's database too.
        if _no_system_config():
            top, deep = _checkout(other.var)
            r = _run(s, deep, "apikey", "list")
            eq(r.returncode, 0, r.stderr)
            ok(key[:11] in r.stdout, r.stdout)
        other.stop()
        other.stop()
        eq(other.sanitizer_reports(), [], "sanitizer reports of the DB_URI stack")
        # The stack's stop left the database it did not start alone.
        eq(s.sql("SELECT 1", db="newcomer_ext"), [["1"]])
    finally:
        if top:
            shutil.rmtree(top)
        other.cleanup()
        s.sql("DROP DATABASE IF EXISTS newcomer_ext WITH (FORCE)", db="postgres")


def test_stack_id_is_the_stacks_own(s):
    # stack.sh's stack_id(), run alone: made once per var/ directory and kept,
    # so each start of one stack replaces that stack's banner key, and only it.
    stack_sh = os.path.join(os.path.dirname(__file__), "../../src/stack.sh")
    script = ('eval "$(sed -n -e \'/^die() {/p\' -e \'/^say() {/p\' '
              '-e \'/^stack_id() {/,/^}/p\' "$1")"\n'
              'for VAR in "$2" "$2" "$3"; do stack_id; done')
    a, b = tempfile.mkdtemp(prefix="lgvar."), tempfile.mkdtemp(prefix="lgvar.")
    try:
        r = subprocess.run(["bash", "-c", script, "_", stack_sh, a, b], capture_output=True,
                           text=True, timeout=30)
        eq(r.returncode, 0, r.stderr)
        ids = r.stdout.split()
        eq(len(ids), 3, r.stdout)
        ok(all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids), ids)
        eq(ids[0], ids[1], "one stack, one id")
        ok(ids[0] != ids[2], "two stacks, one id: %s" % ids)
        with open(os.path.join(a, "stack-id")) as f:
            eq(f.read().strip(), ids[0])
    finally:
        shutil.rmtree(a)
        shutil.rmtree(b)


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
