"""`loopgate doctor` against the test stack and the Bot API stand-in: a good
set-up passes every check (exit 0); a wrong token, a missing or mismatched
webhook, a database that is down, stale migrations, missing privileges, an
nginx that passes elsewhere and a bad config value each fail their own
check, name their fix, and exit 1; secrets are never printed."""
import os
import subprocess
import re
import shutil
import tempfile

from lg import ROOT, eq, ok
import tgstub


def _doctor(s, *args, **env):
    r = s.cli("doctor", *args, env=env, check=False)
    out = r.stdout + r.stderr
    lines = {}
    for ln in r.stdout.splitlines():
        m = re.match(r"(ok|FAIL|skip)\s+(\S+)\s+(.*)$", ln)
        if m:
            lines[m.group(2)] = (m.group(1), m.group(3))
    for secret in (s.tg.token, s.webhook_secret, "sekrit-pw", "999999:wrong-token-XYZ"):
        ok(secret not in out, "a secret was printed: %s" % out)
    return r.returncode, lines, out


def _webhook_url(s):
    return tgstub._call(s.tg, "getWebhookInfo")[1]["result"]["url"]


def _restore_webhook(s, url):
    if url:
        tgstub._call(s.tg, "setWebhook", {"url": url, "secret_token": s.webhook_secret})
    else:
        tgstub._call(s.tg, "deleteWebhook")


def _failed(lines, name, fix_words):
    st, detail = lines.get(name, (None, ""))
    eq(st, "FAIL", "%s: %r" % (name, lines.get(name)))
    ok("-> fix:" in detail and all(w in detail for w in fix_words),
       "%s names its fix (%s): %s" % (name, fix_words, detail))


def test_doctor_good_setup(s):
    was = _webhook_url(s)
    try:
        s.cli("telegram", "set-webhook")
        eq(_webhook_url(s), "https://hitl.example.test/telegram/webhook")
        rc, lines, out = _doctor(s)
        print("    " + "\n    ".join(out.splitlines()))
        eq(rc, 0, out)
        for name in ("config", "config.webhook", "database", "migrations", "privileges", "clock",
                     "telegram.token", "telegram.webhook", "nginx", "socket"):
            eq(lines.get(name, ("missing",))[0], "ok", "%s: %s" % (name, out))
        ok("@" in lines["telegram.token"][1], lines["telegram.token"])
        ok(os.path.join(s.var, "run/loopgate.sock") in lines["nginx"][1], lines["nginx"])
        ok(any(c["method"] == "getWebhookInfo" for c in list(s.tg.calls)), "asked Telegram")

        # A wrong token: getMe refused, the webhook not asked.
        rc, lines, out = _doctor(s, TELEGRAM_BOT_TOKEN="999999:wrong-token-XYZ")
        eq(rc, 1, out)
        _failed(lines, "telegram.token", ["BotFather", "TELEGRAM_BOT_TOKEN"])
        eq(lines["telegram.webhook"][0], "skip")

        # Telegram posts somewhere else than PUBLIC_URL.
        rc, lines, out = _doctor(s, PUBLIC_URL="https://elsewhere.example.test")
        eq(rc, 1, out)
        _failed(lines, "telegram.webhook", ["loopgate telegram set-webhook"])
        ok("https://hitl.example.test/telegram/webhook" in lines["telegram.webhook"][1]
           and "https://elsewhere.example.test/telegram/webhook" in lines["telegram.webhook"][1],
           lines["telegram.webhook"])

        # No webhook at all.
        tgstub._call(s.tg, "deleteWebhook")
        rc, lines, out = _doctor(s)
        eq(rc, 1, out)
        _failed(lines, "telegram.webhook", ["loopgate telegram set-webhook"])
        ok("no webhook" in lines["telegram.webhook"][1], lines["telegram.webhook"])
    finally:
        _restore_webhook(s, was)


def test_doctor_database_down_and_stale(s):
    empty = tempfile.mkdtemp(prefix="lgdoctor.")
    try:
        rc, lines, out = _doctor(s, DB_URI="host=%s port=5432 dbname=loopgate user=loopgate"
                                 " password=sekrit-pw" % empty)
        eq(rc, 1, out)
        _failed(lines, "database", ["start PostgreSQL", "DB_URI"])
        for name in ("migrations", "privileges", "clock"):
            eq(lines[name][0], "skip", out)
    finally:
        shutil.rmtree(empty)

    s.sql("DROP DATABASE IF EXISTS doctor_stale", db="postgres")
    s.sql("CREATE DATABASE doctor_stale", db="postgres")
    try:
        stale = s.db_uri_of("doctor_stale")
        rc, lines, out = _doctor(s, DB_URI=stale)
        eq(rc, 1, out)
        _failed(lines, "migrations", ["loopgate migrate"])
        s.cli("migrate", env={"DB_URI": stale})
        # One migration short: a schema an older binary left.
        last = s.sql("SELECT max(version) FROM schema_migrations", db="doctor_stale")[0][0]
        s.sql("DELETE FROM schema_migrations WHERE version = :'p1'", last, db="doctor_stale")
        rc, lines, out = _doctor(s, DB_URI=stale)
        eq(rc, 1, out)
        _failed(lines, "migrations", ["loopgate migrate"])
        ok(last in lines["migrations"][1], "names the missing migration: %s" % out)
    finally:
        s.sql("DROP DATABASE IF EXISTS doctor_stale WITH (FORCE)", db="postgres")


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"  # tests/deps.sh


def test_doctor_clock_skew(s):
    ok(os.path.exists(FAKETIME_LIB), "libfaketime is installed (tests/deps.sh)")
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+30s", "FAKETIME_DONT_RESET": "1"}
    asan = s.env().get("ASAN_OPTIONS")
    if asan:  # the sanitizer runtime then is not the first library: allowed here
        env["ASAN_OPTIONS"] = asan + ":verify_asan_link_order=0"
    rc, lines, out = _doctor(s, **env)
    eq(rc, 1, out)
    _failed(lines, "clock", ["chrony"])
    ok(re.search(r"(29|30)\.\d s ahead of the database's", lines["clock"][1]), lines["clock"])
    eq(lines["database"][0], "ok", out)


def test_doctor_privileges_nginx_config(s):
    s.sql("DROP ROLE IF EXISTS doctor_ro; CREATE ROLE doctor_ro LOGIN;"
          " GRANT SELECT ON ALL TABLES IN SCHEMA public TO doctor_ro")
    try:
        rc, lines, out = _doctor(s, DB_URI="host=%s/run port=5432 dbname=loopgate user=doctor_ro"
                                 % s.var)
        eq(rc, 1, out)
        _failed(lines, "privileges", ["GRANT SELECT, INSERT, UPDATE, DELETE"])
        ok("requests" in lines["privileges"][1] and "schema_migrations"
           not in lines["privileges"][1], lines["privileges"])
    finally:
        s.sql("DROP OWNED BY doctor_ro; DROP ROLE IF EXISTS doctor_ro")

    d = tempfile.mkdtemp(prefix="lgdoctor.")
    try:
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("http {\n  upstream lg { server unix:/run/elsewhere.sock; }  # ours?\n"
                    "  server { location / { fastcgi_pass lg; } }\n}\n")
        rc, lines, out = _doctor(s, "--nginx-conf", conf)
        eq(rc, 1, out)
        _failed(lines, "nginx", ["LOOPGATE_SOCKET", "nginx -s reload"])
        ok("unix:/run/elsewhere.sock" in lines["nginx"][1], lines["nginx"])
    finally:
        shutil.rmtree(d)

    rc, lines, out = _doctor(s, REQUEST_TIMEOUT="0")
    eq(rc, 1, out)
    _failed(lines, "config", ["loopgate serve --help"])
    ok("REQUEST_TIMEOUT" in lines["config"][1], lines["config"])

    r = s.cli("doctor", "--help")
    ok("telegram.webhook" in r.stdout and "--nginx-conf" in r.stdout, r.stdout)
    ok("doctor" in s.cli("--help").stdout, "listed in loopgate --help")


def _doctor_env(s, secrets, *args, user=None, timeout=60, **env):
    """doctor (or another command: args) with the stack's environment minus the
    bot token and webhook secret, which live in the file `secrets` instead, as
    on a host installed by docs/OPERATIONS.md."""
    e = s.env()
    for k in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        e.pop(k, None)
    e["LOOPGATE_SECRETS_FILE"] = secrets
    e.update(env)
    cmd = [s.binary] + list(args or ["doctor"])
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    for secret in (s.tg.token, s.webhook_secret, s.tg.token.split(":")[1], "plain-extra-value"):
        ok(secret not in out, "a secret was printed: %s" % out)
    lines = {}
    for ln in r.stdout.splitlines():
        m = re.match(r"(ok|FAIL|skip)\s+(\S+)\s+(.*)$", ln)
        if m:
            lines[m.group(2)] = (m.group(1), m.group(3))
    return r.returncode, lines, out


def test_doctor_and_set_webhook_read_the_secrets_file(s):
    was = _webhook_url(s)
    d = tempfile.mkdtemp(prefix="lgdoctor.")
    os.chmod(d, 0o755)
    secrets = os.path.join(d, "secrets.env")
    try:
        tgstub._call(s.tg, "deleteWebhook")
        # 1. The install of docs/OPERATIONS.md without the file read: the
        #    token is missing while public_url expects Telegram: a failure,
        #    never "everything checked is fine".
        rc, lines, out = _doctor_env(s, os.path.join(d, "absent.env"))
        eq(rc, 1, out)
        _failed(lines, "telegram.token", ["TELEGRAM_BOT_TOKEN", "secrets"])
        ok("public_url" in lines["telegram.token"][1], lines["telegram.token"])
        eq(lines["secrets"][0], "ok", out)
        ok("everything checked is fine" not in out, out)

        # 2. The token and secret in the file (a comment, a quoted value, a
        #    variable not loopgate's): set-webhook and doctor use them.
        with open(secrets, "w") as f:
            f.write("# loopgate secrets\nTELEGRAM_BOT_TOKEN=%s\n\n"
                    "TELEGRAM_WEBHOOK_SECRET=\"%s\"\nOTHER_TOOL_KEY=plain-extra-value\n"
                    % (s.tg.token, s.webhook_secret))
        os.chmod(secrets, 0o600)
        rc, _, out = _doctor_env(s, secrets, "telegram", "set-webhook")
        eq(rc, 0, out)
        sets = s.tg.calls_of("setWebhook")
        eq((sets[-1]["params"]["url"], sets[-1]["params"]["secret_token"]),
           ("https://hitl.example.test/telegram/webhook", s.webhook_secret))
        rc, lines, out = _doctor_env(s, secrets)
        eq(rc, 0, out)
        for name in ("secrets", "telegram.token", "telegram.webhook"):
            eq(lines[name][0], "ok", "%s: %s" % (name, out))
        ok("TELEGRAM_BOT_TOKEN" in lines["secrets"][1] and "OTHER_TOOL_KEY" in lines["secrets"][1],
           lines["secrets"])

        # 3. The shell's environment wins over the file, and doctor says so.
        rc, lines, out = _doctor_env(s, secrets, TELEGRAM_BOT_TOKEN="999999:wrong-token-XYZ")
        eq(rc, 1, out)
        _failed(lines, "telegram.token", ["BotFather"])
        ok("environment overrides TELEGRAM_BOT_TOKEN" in lines["secrets"][1], lines["secrets"])

        # 4. A file doctor may not read (another user than root): a failure
        #    that says to run it as root, and the token check fails, not skips.
        rc, lines, out = _doctor_env(s, secrets, user="nobody",
                                     LOOPGATE_CONFIG=os.path.join(ROOT, "conf/loopgate.conf"),
                                     PUBLIC_URL="")
        eq(rc, 1, out)
        _failed(lines, "secrets", ["as root"])
        ok("Permission denied" in lines["secrets"][1], lines["secrets"])
        _failed(lines, "telegram.token", ["TELEGRAM_BOT_TOKEN"])

        # 5. A line that is not NAME=VALUE (a shell's export, an escaped
        #    value) stops the command, naming the line, never its text.
        for bad in ("export TELEGRAM_BOT_TOKEN=%s\n" % s.tg.token,
                    "TELEGRAM_BOT_TOKEN=%s\\\n" % s.tg.token):
            with open(secrets, "w") as f:
                f.write("# x\n" + bad)
            rc, lines, out = _doctor_env(s, secrets)
            eq(rc, 1, out)
            _failed(lines, "config", [])
            ok(secrets + ":2" in lines["config"][1], lines["config"])

        # 6. No token and nothing that expects Telegram (a database without
        #    sessions in Telegram chats): a skip, and the last line says that
        #    something was skipped. One such session makes it a failure.
        s.sql("DROP DATABASE IF EXISTS doctor_notg", db="postgres")
        s.sql("CREATE DATABASE doctor_notg", db="postgres")
        notg = s.db_uri_of("doctor_notg")
        s.cli("migrate", env={"DB_URI": notg})
        rc, lines, out = _doctor_env(s, os.path.join(d, "absent.env"), PUBLIC_URL="",
                                     DB_URI=notg)
        eq(rc, 0, out)
        eq(lines["telegram.token"][0], "skip", out)
        ok("everything checked is fine" not in out and "nothing failed; 2 checks were skipped"
           in out, out)
        s.sql("INSERT INTO sessions (tenant, session_id, client_id, telegram_chat_id)"
              " VALUES ('default', 'notg', 'c', 4242)", db="doctor_notg")
        rc, lines, out = _doctor_env(s, os.path.join(d, "absent.env"), PUBLIC_URL="",
                                     DB_URI=notg)
        eq(rc, 1, out)
        _failed(lines, "telegram.token", ["TELEGRAM_BOT_TOKEN"])
        ok("sessions" in lines["telegram.token"][1], lines["telegram.token"])
    finally:
        _restore_webhook(s, was)
        shutil.rmtree(d, ignore_errors=True)
        s.sql("DROP DATABASE IF EXISTS doctor_notg WITH (FORCE)", db="postgres")


def test_telegram_poll_by_hand_says_where_the_token_comes_from(s):
    """`telegram poll` is a service: it does not read the secrets file, and
    without a token it says so and how to run it, not to fill the file."""
    d = tempfile.mkdtemp(prefix="lgpoll.")
    try:
        secrets = os.path.join(d, "secrets.env")
        with open(secrets, "w") as f:
            f.write("TELEGRAM_BOT_TOKEN=1234:from-the-file\n")
        os.chmod(secrets, 0o600)
        r = s.cli("telegram", "poll", check=False,
                  env={"TELEGRAM_BOT_TOKEN": "", "LOOPGATE_TELEGRAM_BOT_TOKEN": "",
                       "LOOPGATE_SECRETS_FILE": secrets})
        eq(r.returncode, 2, r.stderr)
        ok("does not read the secrets file" in r.stderr and secrets in r.stderr
           and "set -a; . %s; set +a" % secrets in r.stderr, r.stderr)
        ok("from-the-file" not in r.stderr + r.stdout, "the token was printed")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_doctor_guards_the_secrets_file(s):
    """The secrets file: a FIFO (or the config file as one) is refused at once,
    never waited on; a file others may read, or (as root) not root's, fails
    with its fix; a name that is not a variable name (a pasted secret) is
    never echoed, nor is an unknown config key that looks like a hex key."""
    was = _webhook_url(s)
    d = tempfile.mkdtemp(prefix="lgdoctor.")
    os.chmod(d, 0o755)
    secrets = os.path.join(d, "secrets.env")
    fifo = os.path.join(d, "secrets.fifo")
    pasted = "ZZBH8VsyCGmB06pFJsOpxCAfWp4qPqsV4cG4avt89PI"
    hexkey = "8b1783ed8239d56fbba79a6a12e166b3c501638219bb3832b7bb7a5509bebc96"
    try:
        tgstub._call(s.tg, "setWebhook", {"url": "https://hitl.example.test/telegram/webhook",
                                          "secret_token": s.webhook_secret})
        # 1. A FIFO as the secrets file, then as the config file: an error
        #    naming the path, within seconds (the open blocked forever before).
        os.mkfifo(fifo)
        rc, lines, out = _doctor_env(s, fifo, timeout=10)
        eq(rc, 1, out)
        _failed(lines, "config", [])
        ok(fifo + ": not a regular file" in lines["config"][1], lines["config"])
        rc, lines, out = _doctor_env(s, os.path.join(d, "absent.env"), timeout=10,
                                     LOOPGATE_CONFIG=fifo)
        eq(rc, 1, out)
        ok("config file %s: not a regular file" % fifo in lines["config"][1], lines["config"])

        # 2. A pasted secret on a line of its own parses as NAME= : listed by
        #    its line only; a variable name of another tool is listed.
        with open(secrets, "w") as f:
            f.write("TELEGRAM_BOT_TOKEN=%s\nTELEGRAM_WEBHOOK_SECRET=%s\n%s=\n"
                    "lower_pasted_value=x\nOTHER_TOOL_KEY=1\n"
                    % (s.tg.token, s.webhook_secret, pasted))
        os.chmod(secrets, 0o600)
        rc, lines, out = _doctor_env(s, secrets)
        eq(rc, 0, out)
        ok(pasted not in out and "lower_pasted_value" not in out, out)
        ok("line 3: not a variable name (not shown)" in lines["secrets"][1]
           and "line 4: not a variable name (not shown)" in lines["secrets"][1]
           and "OTHER_TOOL_KEY" in lines["secrets"][1], lines["secrets"])

        # 3. Readable by others, readable by a group that is not loopgate,
        #    owned by another user: each a failure with its fix.
        for mode, fix in ((0o644, "chmod 0600 " + secrets), (0o606, "chmod 0600 " + secrets),
                          (0o640, "chmod 0600 " + secrets), (0o620, "chmod 0600 " + secrets)):
            os.chmod(secrets, mode)
            rc, lines, out = _doctor_env(s, secrets)
            eq(rc, 1, "mode %o: %s" % (mode, out))
            _failed(lines, "secrets", [fix, "group loopgate"])
            ok("mode %04o" % mode in lines["secrets"][1], lines["secrets"])
        os.chmod(secrets, 0o600)
        os.chown(secrets, 65534, -1)
        rc, lines, out = _doctor_env(s, secrets)
        eq(rc, 1, out)
        _failed(lines, "secrets", ["chown root: " + secrets])
        os.chown(secrets, 0, -1)
        rc, lines, out = _doctor_env(s, secrets)
        eq((rc, lines["secrets"][0]), (0, "ok"), out)

        # 4. An unknown config key that is a lower-case hex key is not echoed;
        #    a misspelt key still is.
        conf = os.path.join(d, "loopgate.conf")
        for key, shown in ((hexkey, False), ("listen_adress", True)):
            with open(conf, "w") as f:
                f.write("%s=\n" % key)
            rc, lines, out = _doctor_env(s, secrets, LOOPGATE_CONFIG=conf)
            eq(rc, 1, out)
            eq(key in out, shown, out)
            ok("unknown key" in lines["config"][1], lines["config"])
    finally:
        _restore_webhook(s, was)
        shutil.rmtree(d, ignore_errors=True)
