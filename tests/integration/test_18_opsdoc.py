"""docs/OPERATIONS.md, run: every line of every `sh` block, in the doc's order,
against the test stack, each checked for its exit status and for what the doc
says it does (an installed tree, a reload every process applies, a dump that
restores into a new cluster, a new key that works and an old one refused...).

The doc's convention, stated at its top:
- words in capitals are placeholders this test fills in (placeholders()),
  the install goes under a DESTDIR and the doc's system paths are read under
  it (paths()), and the site's https://hitl.example.com/ is the stack's nginx;
- a line marked `# [host]` needs what one test machine lacks (systemd, the
  system's PostgreSQL, a second host): HOST names the equivalent this test
  runs for it, or why it runs none. A marked line HOST does not know fails
  the test, and so does an unmarked line that fails: a new command in the
  doc is run, or marked and accounted for here.

The new cluster of the restore skips fsync, as every cluster of these tests
does (lg.py's PG_OPTS): `initdb` gets --no-sync and `pg_ctl` -c fsync=off
(NO_FSYNC). Nothing else is added to a line but what placeholders() and
paths() say, and DESTDIR to `make install`.
"""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from lg import PGBIN, ROOT, chat, eq, free_port, ok, wait_for
import tgstub

DOC = os.path.join(ROOT, "docs/OPERATIONS.md")
MARK = "[host]"
TENANT = "opsdoc18"


def _lines(text):
    """(section, command, comment) for every command line of the `sh` blocks,
    in order: comment-only and blank lines left out, continuations joined."""
    out, section, fence, pending = [], "", None, ""
    for raw in text.splitlines():
        line = raw.strip()
        if fence is None:
            if line.startswith("```"):
                fence = line[3:].strip()
            elif raw.startswith("#"):
                section = raw.lstrip("#").strip()
            continue
        if line.startswith("```"):
            fence = None
            continue
        if fence != "sh" or not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        m = re.match(r"^(.*?)\s+#\s?(.*)$", line)
        cmd, comment = (m.group(1), m.group(2)) if m else (line, "")
        out.append((section, cmd.strip(), comment.strip()))
    return out


class Ctx:
    """The throwaway places the doc's commands act on, and what they left."""

    def __init__(self, s):
        self.s = s
        self.root = tempfile.mkdtemp(prefix="lgopsdoc.")
        os.chmod(self.root, 0o755)
        self.destdir = os.path.join(self.root, "destdir")
        self.work = os.path.join(self.root, "work")        # the operator's directory
        self.pglib = os.path.join(self.root, "pglib")      # /var/lib/postgresql/15
        self.bin = os.path.join(self.root, "bin")          # `loopgate` on PATH
        for d in (self.work, self.pglib, self.bin):
            os.makedirs(d)
        os.chmod(self.work, 0o700)    # like root's home: not the postgres user's to write
        if os.getuid() == 0:
            os.chown(self.pglib, pwd.getpwnam("postgres").pw_uid, -1)
        os.symlink(s.binary, os.path.join(self.bin, "loopgate"))
        self.restore_port = free_port()
        self.vals = {}            # placeholders the steps fill in as they go
        self.cleanups = []
        self.not_run = []
        self.log_at = 0
        self.service = None       # the installed unit's `loopgate serve`
        self.service_cleanup = False

    def fill(self, cmd):
        vals = dict(placeholders(self), **{k: v for k, v in self.vals.items() if k.isupper()})
        for word, val in vals.items():
            cmd = re.sub(r"\b%s\b" % re.escape(word), lambda _m, v=val: v, cmd)
        for path, under in paths(self):
            cmd = cmd.replace(path, under)
        for pattern, old, new in NO_FSYNC:
            if re.search(pattern, cmd):
                cmd = cmd.replace(old, new, 1)
        return cmd

    def env(self, **over):
        e = self.s.env(**over)
        e["PATH"] = "%s:%s" % (self.bin, e.get("PATH", "/usr/bin:/bin"))
        return e

    def sh(self, cmd, cwd=None, env=None, timeout=120):
        if os.getuid() != 0:
            cmd = re.sub(r"^runuser -u postgres -- ", "", cmd)
        return subprocess.run(["bash", "-c", cmd], cwd=cwd or self.work, env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def run_ok(self, cmd, **kw):
        r = self.sh(cmd, **kw)
        eq(r.returncode, 0, "`%s` exits 0: %s%s" % (cmd, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def psql(self, host, port, db, query):
        return self.run_ok("psql -X -At -h %s -p %d -U loopgate -d %s -c %s"
                           % (host, port, db, _q(query))).stdout.strip()


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def placeholders(c):
    return {"DBHOST": os.path.join(c.s.var, "run"),
            "MASTER_PID": str(c.service.pid if c.service else 0),
            "NAME": "opsdoc-new", "TENANT": TENANT, "5433": str(c.restore_port),
            "2026-12-01": time.strftime("%Y-%m-%d", time.gmtime())}


def paths(c):
    d = c.destdir
    return [("/etc/loopgate", d + "/etc/loopgate"), ("/etc/nginx", d + "/etc/nginx"),
            ("/var/lib/postgresql/15", c.pglib), ("/usr/lib/postgresql/15/bin", PGBIN),
            ("--resolve hitl.example.com:443:127.0.0.1 https://hitl.example.com/",
             "http://127.0.0.1:%d/" % c.s.port)]


NO_FSYNC = [(r"^runuser -u postgres -- \S*/initdb ", " -D ", " --no-sync -D "),
            (r"^runuser -u postgres -- \S*/pg_ctl .* start$", " -o '", " -o '-c fsync=off ")]


# ------------------------------------------------------------ unmarked lines
# (pattern on the doc's line, before(ctx), after(ctx, result)); each pattern
# must match a line of the doc, so a step the doc drops is noticed.

def _install_run(c, cmd):
    env = c.env()
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(k, None)      # not the flags of a `make check` (SAN=1 would install build/san)
    return c.sh(cmd + " DESTDIR=" + c.destdir, cwd=ROOT, env=env, timeout=300)


def _install_after(c, r):
    d = c.destdir
    ok(os.access(d + "/usr/bin/loopgate", os.X_OK), "installed binary")
    eq(oct(os.stat(d + "/etc/loopgate/loopgate.conf").st_mode & 0o777), "0o640", "config mode")
    ok(os.path.exists(d + "/usr/lib/sysusers.d/loopgate.conf"), "sysusers file")
    os.makedirs(d + "/etc/nginx/sites-enabled")    # what Debian's nginx package makes


def _secrets_after(c, r):
    st = os.stat(c.destdir + "/etc/loopgate/secrets.env")
    eq((oct(st.st_mode & 0o777), st.st_size), ("0o600", 0), "secrets.env empty, mode 0600")


def _site_after(c, r):
    d = c.destdir + "/etc/nginx"
    eq(os.path.realpath(d + "/sites-enabled/loopgate.conf"),
       os.path.realpath(d + "/sites-available/loopgate.conf"), "the site is enabled")
    with open(d + "/sites-enabled/loopgate.conf") as f:
        ok("fastcgi_pass" in f.read(), "the link reads the site")


def _webhook_before(c):
    c.vals["_webhook"] = tgstub._call(c.s.tg, "getWebhookInfo")[1]["result"]["url"]

    def restore(url=c.vals["_webhook"], s=c.s):
        if url:
            tgstub._call(s.tg, "setWebhook", {"url": url, "secret_token": s.webhook_secret})
        else:
            tgstub._call(s.tg, "deleteWebhook")
    c.cleanups.append(restore)


def _webhook_after(c, r):
    eq(tgstub._call(c.s.tg, "getWebhookInfo")[1]["result"]["url"],
       "https://hitl.example.test/telegram/webhook", "the webhook Telegram has")


def _doctor_after(c, r):
    checks = re.findall(r"^(ok|FAIL|skip)\s+(\S+)", r.stdout, re.M)
    ok(checks and all(st != "FAIL" for st, _ in checks), r.stdout)
    for name in ("database", "migrations", "privileges", "telegram.token", "telegram.webhook"):
        ok(("ok", name) in checks, "doctor: %s ok: %s" % (name, r.stdout))
    for secret in (c.s.tg.token, c.s.webhook_secret):
        ok(secret not in r.stdout + r.stderr, "doctor printed a secret")


def _hup_before(c):
    """An edit to reload: log_level in the installed config the service runs on,
    a key its environment leaves to the file."""
    ok(not {"LOG_LEVEL", "LOOPGATE_LOG_LEVEL"} & set(c.s.env()), "log_level is the file's")
    conf = c.destdir + "/etc/loopgate/loopgate.conf"
    with open(conf) as f:
        text = f.read()
    levels = re.findall(r"^\s*log_level\s*=\s*(\w+)", text, re.M)
    # Up, not down: the reload's own line is at info.
    level = "debug" if (levels or ["info"])[-1] != "debug" else "info"
    _write(conf, text + "\nlog_level = %s\n" % level)
    c.vals["_workers"] = _children(c.service.pid)
    c.log_at = len(_service_log(c))


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(x) for x in out.split())


def _write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _hup_after(c, r):
    n = 1 + len(c.vals["_workers"])
    tail = lambda: _service_log(c)[c.log_at:]  # noqa: E731
    conf = re.escape(c.destdir + "/etc/loopgate/loopgate.conf")
    applied = r'msg="configuration reloaded".* config=%s .*changed="[^"]*log_level' % conf
    wait_for(lambda: len(re.findall(applied, tail())) >= n, 30,
             "the master and every worker to apply log_level: %s" % tail()[-1500:])
    ok(c.vals["_workers"], "the service has workers")
    eq(_children(c.service.pid), c.vals["_workers"], "the workers were not restarted")


def _ready_after(c, r):
    j = json.loads(r.stdout)
    eq((j.get("status"), j.get("failing")), ("ready", []), "/readyz: %s" % r.stdout)


def _status_after(c, r):
    left = re.findall(r"^\S+\s+\S+\s+(?:pending|changed)\b.*$", r.stdout, re.M)
    ok("up to date" in r.stdout and not left, "nothing pending: %s" % (left or r.stdout[-3000:]))


def _migrate_after(c, r):
    ok("up to date" in r.stdout, r.stdout)


def _dump_before(c):
    """Something to find after the restore: a request answered by its poll."""
    s = c.s
    eq(s.post("/hitl/register", {"session_id": "opsdoc18", "client_id": "opsdoc",
                                 "telegram_id": chat()}).status, 200)
    r = s.post("/hitl/request", {"session_id": "opsdoc18", "client_id": "opsdoc",
                                 "message": "opsdoc18 backup"})
    eq(r.status, 200, repr(r))
    rid = r.json["request_id"]
    eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    c.vals["_rid"] = rid
    c.vals["_poll"] = s.get("/hitl/poll?request_id=" + rid).json
    c.vals["_keys"] = s.scalar("SELECT count(*) FROM api_keys")


def _dump_after(c, r):
    dumps = glob.glob(os.path.join(c.work, "loopgate-*.dump"))
    eq(len(dumps), 1, "one dump: %s" % dumps)
    listing = c.run_ok("pg_restore -l " + dumps[0]).stdout
    ok("TABLE DATA public requests" in listing, listing[:2000])


def _initdb_after(c, r):
    ok(os.path.exists(os.path.join(c.pglib, "restore/PG_VERSION")), "a new cluster")


def _pgctl_after(c, r):
    def stop(c=c):
        c.sh("runuser -u postgres -- %s/pg_ctl -D %s/restore -m fast -w stop" % (PGBIN, c.pglib))
    c.cleanups.append(stop)
    eq(c.psql("localhost", c.restore_port, "postgres", "SELECT 1"), "1")


def _restore_after(c, r):
    p = c.restore_port
    got = c.psql("localhost", p, "loopgate", "SELECT status || ',' || coalesce(response, '')"
                 " FROM requests WHERE id = '%s'" % c.vals["_rid"])
    eq(got, "canceled,", "the request after the restore")
    eq(c.psql("localhost", p, "loopgate", "SELECT count(*) FROM api_keys"), c.vals["_keys"],
       "every API key restored")


def _verify_before(c):
    """The dumped database's own verdict, read after the dump: the suite's
    other tests go on writing (and breaking chains on purpose) meanwhile."""
    src = c.s.cli("audit", "verify", check=False)
    c.vals["_verify_src"] = src.stdout.splitlines()
    c.vals["_expect_rc"] = src.returncode


# audit verify's tenant= field: a name as it is, or in double quotes (one from
# before the naming rule, with a space in it).
TENANT_FIELD = re.compile(r'\btenant=(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _tenant(m):
    """The name a tenant= field stands for: \\xNN is a byte, \\" and \\\\ a character."""
    if m.group(2) is not None:
        return m.group(2)
    raw = re.sub(rb"\\x([0-9a-f]{2})|\\(.)",
                 lambda e: bytes([int(e.group(1), 16)]) if e.group(1) else e.group(2),
                 m.group(1).encode())
    return raw.decode("utf-8", "surrogateescape")


def _verify_after(c, r):
    """Every chain of the restore is a prefix of the dumped database's: an ok
    chain ends on a row the source has with the same seq and hash, and a chain
    the source holds broken is broken in the restore too (or was cut before
    the break)."""
    lines = r.stdout.splitlines()
    ok(any(ln.startswith("ok tenant=") for ln in lines), r.stdout)
    src = {}
    for ln in c.vals["_verify_src"]:
        m = TENANT_FIELD.search(ln)
        if m:
            src[_tenant(m)] = ln
    for ln in lines:
        m = TENANT_FIELD.search(ln)
        if not m:
            continue
        tenant = _tenant(m)
        ok(tenant in src, "the restore has a tenant the source does not: %s" % ln)
        m = re.match(r'^ok tenant=(?:"(?:[^"\\]|\\.)*"|\S+) rows=(\d+) head_seq=(\d+)'
                     r' head_sha256=([0-9a-f]{64})(?: from_seq=\d+)?$', ln)
        if m:
            n = c.s.scalar("SELECT count(*) FROM audit_log WHERE tenant = :'p1'"
                           " AND seq = :'p2' AND row_sha256 = :'p3'",
                           tenant, m.group(2), m.group(3))
            eq(n, "1", "the restore's chain of %s ends on a row of the source's: %s" % (tenant, ln))
        else:
            ok(not src[tenant].startswith("ok "),
               "a chain broken in the restore only: %s (source: %s)" % (ln, src[tenant]))


def _key_before(c):
    s = c.s
    old = s.new_key(TENANT, "opsdoc-old")
    eq(s.get("/hitl/pending", headers={"X-API-Key": old}).status, 200, "the old key works")
    listing = s.cli("apikey", "list").stdout
    ok(old[:11] in listing, "the prefix apikey list shows: %s" % listing)
    c.vals["_old"], c.vals["KEY_PREFIX"] = old, old[:11]


def _key_after(c, r):
    new = r.stdout.strip()
    ok(new and new != c.vals["_old"], r.stdout)
    eq(c.s.get("/hitl/pending", headers={"X-API-Key": new}).status, 200, "the new key works")
    eq(c.s.sql("SELECT DISTINCT tenant FROM api_keys WHERE name = 'opsdoc-new'"), [[TENANT]],
       "the new key's tenant")
    c.vals["_new"] = new


def _revoke_after(c, r):
    for _ in range(20):     # every worker, whichever nginx picks
        eq(c.s.get("/hitl/pending", headers={"X-API-Key": c.vals["_old"]}).status, 401,
           "the old key is refused")
    eq(c.s.get("/hitl/pending", headers={"X-API-Key": c.vals["_new"]}).status, 200,
       "the new key still works")


def _secret_before(c):
    c.vals["_secret"] = c.s.cli("apikey", "webhook-secret", "--tenant", TENANT).stdout.strip()
    ok(c.vals["_secret"].startswith("whsec_"), c.vals["_secret"])


def _secret_after(c, r):
    new = r.stdout.strip()
    ok(new.startswith("whsec_") and new != c.vals["_secret"], "a new secret: %s" % new)
    eq(c.s.cli("apikey", "webhook-secret", "--tenant", TENANT).stdout.strip(), new,
       "the tenant's secret from now on")


def _export_after(c, r):
    files = glob.glob(os.path.join(c.work, "audit-*.jsonl"))
    eq(len(files), 1, "one export: %s" % files)
    last = {}
    with open(files[0]) as f:
        for line in f:
            row = json.loads(line)
            if row["seq"] is not None:   # a row written past the chain (test_15_audit) has none
                last[row["tenant"]] = max(last.get(row["tenant"], 0), int(row["seq"]))
    ok("default" in last, "the export has the rows of the request made before the dump")
    # Tenant names in hex: a legacy one may hold a line separator.
    marked = {bytes.fromhex(t).decode("utf-8", "surrogateescape"): seq for t, seq in c.s.sql(
        "SELECT encode(convert_to(tenant, 'UTF8'), 'hex'), exported_seq FROM audit_retention")}
    # --mark never marks across a gap: a chain the suite's audit tests broke is
    # marked up to its break (test_15_audit checks that); the intact ones to their end
    intact = {_tenant(TENANT_FIELD.search(ln)) for ln in c.vals["_verify_src"]
              if ln.startswith("ok tenant=")}
    for tenant, seq in sorted(last.items()):
        if tenant not in intact:
            continue
        eq(marked.get(tenant), str(seq), "--mark recorded tenant %s's last row" % tenant)


STEPS = [
    (r"^make install ", None, _install_after),
    (r"^install -m 0600 /dev/null /etc/loopgate/secrets\.env$", None, _secrets_after),
    (r"^ln -s \.\./sites-available/loopgate\.conf ", None, _site_after),
    (r"^loopgate telegram set-webhook$", _webhook_before, _webhook_after),
    (r"^loopgate doctor$", None, _doctor_after),
    (r"^kill -HUP MASTER_PID$", _hup_before, _hup_after),
    (r"^curl -fsS .*/readyz$", None, _ready_after),
    (r"^loopgate migrate --status$", None, _status_after),
    (r"^loopgate migrate$", None, _migrate_after),
    (r"^pg_dump ", _dump_before, _dump_after),
    (r"^runuser -u postgres -- \S*/initdb ", None, _initdb_after),
    (r"^runuser -u postgres -- \S*/pg_ctl .* start$", None, _pgctl_after),
    (r"^psql .*CREATE DATABASE", None, None),
    (r"^pg_restore ", None, _restore_after),
    (r"^DB_URI=.* loopgate migrate --status$", None, _status_after),
    (r"^DB_URI=.* loopgate audit verify$", _verify_before, _verify_after),
    (r"^loopgate apikey create --name NAME --tenant TENANT$", _key_before, _key_after),
    (r"^loopgate apikey revoke KEY_PREFIX$", None, _revoke_after),
    (r"^loopgate apikey webhook-secret --tenant TENANT --rotate$", _secret_before, _secret_after),
    (r"^loopgate audit export --mark > ", None, _export_after),
]


# ------------------------------------------------------------ marked lines
# The doc's line -> (what this test runs instead, a function doing it), or
# (why it runs nothing, None).

def _sysusers(c):
    c.run_ok("systemd-sysusers --root " + c.destdir)
    with open(c.destdir + "/etc/group") as f:
        m = re.search(r"^loopgate:x:(\d+):", f.read(), re.M)
    ok(m, "group loopgate made")
    c.vals["_gid"] = int(m.group(1))


def _chgrp(c):
    if os.getuid() != 0:
        c.not_run.append("chgrp: not root")
        return
    d = c.destdir + "/etc/loopgate"
    c.run_ok("chgrp %d %s %s/loopgate.conf" % (c.vals["_gid"], d, d))
    eq({os.stat(p).st_gid for p in (d, d + "/loopgate.conf")}, {c.vals["_gid"]}, "group loopgate")


def _role(c):
    c.vals["_role"] = "lg_opsdoc_%d" % os.getpid()
    c.run_ok("createuser -h %s -U loopgate %s" % (placeholders(c)["DBHOST"], c.vals["_role"]))

    def drop(c=c, role=c.vals["_role"]):
        run = placeholders(c)["DBHOST"]
        c.sh("dropdb -h %s -U loopgate --if-exists %s" % (run, role))
        c.sh("dropuser -h %s -U loopgate --if-exists %s" % (run, role))
    c.cleanups.append(drop)
    eq(c.s.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = :'p1'", c.vals["_role"]), "f",
       "an ordinary role")


def _db(c):
    role, run = c.vals["_role"], placeholders(c)["DBHOST"]
    c.run_ok("createdb -h %s -U loopgate -O %s %s" % (run, role, role))
    uri = "host=%s port=5432 dbname=%s user=%s" % (run, role, role)
    r = c.run_ok("loopgate migrate", env=c.env(DB_URI=uri))
    ok("up to date" in r.stdout or "applied" in r.stdout, r.stdout)


def _service_log(c):
    with open(c.destdir + "/log/loopgate.log", errors="replace") as f:
        return f.read()


def _service_start(c):
    """The installed unit's ExecStartPre and ExecStart, as systemd runs them:
    on the installed config, beside the stack, on its database, with its
    environment (secrets.env's part of it) and a socket of its own."""
    with open(c.destdir + "/usr/lib/systemd/system/loopgate.service") as f:
        unit = f.read()
    pre, start = (re.search(r"^%s=(.*)$" % k, unit, re.M).group(1)
                  for k in ("ExecStartPre", "ExecStart"))
    pre, start = (x.replace("/usr/bin/loopgate", os.path.join(c.bin, "loopgate"))
                  .replace("/etc/loopgate", c.destdir + "/etc/loopgate") for x in (pre, start))
    os.makedirs(c.destdir + "/run", exist_ok=True)
    os.makedirs(c.destdir + "/log", exist_ok=True)
    sock = c.destdir + "/run/loopgate.sock"
    env = c.env(LOOPGATE_SOCKET=sock, LOOPGATE_THREADS="8")
    r = c.run_ok(pre, env=env)
    ok("up to date" in r.stdout, r.stdout)
    c.log_at = len(_service_log(c)) if os.path.exists(c.destdir + "/log/loopgate.log") else 0
    with open(c.destdir + "/log/loopgate.log", "a") as log:
        c.service = subprocess.Popen(start.split(), env=env, stdout=log, stderr=log,
                                     start_new_session=True)
    if not c.service_cleanup:
        c.service_cleanup = True
        c.cleanups.append(lambda: _service_stop(c))
    wait_for(lambda: _service_log(c)[c.log_at:].count('msg="worker ready"') >= 1, 60,
             "the service's workers: %s" % _service_log(c)[-1500:])
    wait_for(lambda: _accepts(sock), 30, "the service to accept on %s" % sock)


def _accepts(path):
    with socket.socket(socket.AF_UNIX) as so:
        try:
            so.connect(path)
            return True
        except OSError:
            return False


def _service_stop(c):
    if c.service and c.service.poll() is None:
        c.service.send_signal(signal.SIGTERM)
        try:
            c.service.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(c.service.pid, signal.SIGKILL)
            c.service.wait(10)
        ok(c.service.returncode == 0, "the service stopped cleanly (%s)" % c.service.returncode)


def _exec_reload(c):
    with open(os.path.join(ROOT, "systemd/loopgate.service")) as f:
        ok(re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", f.read(), re.M), "ExecReload")


def _restart(c):
    before = c.service.pid
    _service_stop(c)
    _service_start(c)
    ok(c.service.pid != before, "a new master")


def _worker_ready(c):
    ok('msg="worker ready"' in _service_log(c)[c.log_at:], "`worker ready` after the restart")


HOST = {
    "systemd-sysusers": ("systemd-sysusers --root DESTDIR", _sysusers),
    "chgrp loopgate /etc/loopgate /etc/loopgate/loopgate.conf":
        ("chgrp to the gid sysusers gave loopgate under DESTDIR", _chgrp),
    "runuser -u postgres -- createuser loopgate":
        ("createuser of a role of the test's own in the stack's cluster", _role),
    "runuser -u postgres -- createdb -O loopgate loopgate":
        ("createdb owned by that role, and `loopgate migrate` as it", _db),
    "printf 'loopgate root loopgate\\nloopgate loopgate loopgate\\n' >> /etc/postgresql/15/main/pg_ident.conf":
        ("not run: the test's clusters trust local connections; the map lets root's shell in as"
         " loopgate under Debian's peer authentication", None),
    "sed -i '/^local *all *all /i local loopgate loopgate peer map=loopgate' /etc/postgresql/15/main/pg_hba.conf":
        ("not run: as the pg_ident.conf line before it", None),
    "systemctl reload postgresql":
        ("not run: systemd and the system's PostgreSQL", None),
    "nginx -t && systemctl reload nginx":
        ("not run: the site needs its certificate and the host's nginx; tests/configs.sh runs"
         " nginx -t on the shipped site, and the stack runs an nginx of its own", None),
    "systemctl daemon-reload":
        ("not run: systemd; tests/configs.sh checks the units with systemd-analyze verify", None),
    "systemctl enable --now loopgate.socket loopgate.service":
        ("the installed unit's ExecStartPre and ExecStart beside the stack, on its database,"
         " with a socket of their own", _service_start),
    "systemctl reload loopgate":
        ("kill -HUP MASTER_PID, the doc's next line (the unit's ExecReload)", _exec_reload),
    "nginx -s reload":
        ("not run: the upstream of several hosts is a second host's; make check-ha"
         " (tests/integration/hosts.py) runs hosts behind one nginx", None),
    "systemctl restart loopgate":
        ("SIGTERM to that service's master, then its ExecStartPre and ExecStart again"
         " (the curl line after it asks the stack's nginx)", _restart),
    "journalctl -u loopgate --since -5min | grep 'worker ready'":
        ("grep 'worker ready' in that service's log since the restart", _worker_ready),
}


def test_every_command_of_operations_md(s):
    with open(DOC) as f:
        text = f.read()
    lines = _lines(text)
    ok(len(lines) >= 20, "the doc's sh blocks: %r" % lines)
    top = text.split("\n## ", 1)[0]
    for word in ("DBHOST", "MASTER_PID", "NAME", "TENANT", "KEY_PREFIX", "5433", "2026-12-01",
                 "DESTDIR", "[host]"):
        ok(word in top, "the doc's top says what %s stands for" % word)
    c = Ctx(s)
    seen, report = set(), []
    try:
        for section, cmd, comment in lines:
            t0 = time.monotonic()
            where = "%s: `%s`" % (section, cmd)
            if comment.startswith(MARK):
                ok(cmd in HOST, "%s is marked %s but test_18_opsdoc.py names no equivalent"
                   % (where, MARK))
                what, fn = HOST[cmd]
                if fn:
                    fn(c)
                report.append("%5.1fs %-56s %s" % (time.monotonic() - t0, cmd[:56], what))
                continue
            step = next((st for st in STEPS if re.search(st[0], cmd)), None)
            if step:
                seen.add(step[0])
            if step and step[1]:
                step[1](c)
            filled = c.fill(cmd)
            if cmd.startswith("make install"):
                r = _install_run(c, filled)
            else:
                r = c.sh(filled)
            want = c.vals.pop("_expect_rc", 0)
            eq(r.returncode, want, "%s (run as `%s`) exits %d: %s%s"
               % (where, filled, want, r.stdout[-2000:], r.stderr[-2000:]))
            if step and step[2]:
                step[2](c, r)
            report.append("%5.1fs %-56s run" % (time.monotonic() - t0, cmd[:56]))
        missing = [p for p, _, _ in STEPS if p not in seen]
        eq(missing, [], "steps this test checks that the doc no longer has")
        print("    " + "\n    ".join(report + c.not_run))
    finally:
        for fn in reversed(c.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - clean up the rest
                print("    cleanup: %s" % e)
        shutil.rmtree(c.root, ignore_errors=True)


def test_restart_keys_as_the_binary_names_them(s):
    """The doc's list of keys that need a restart is the one `loopgate serve
    --help` marks "(restart to change)": a key added to one shows in the other."""
    r = subprocess.run([s.binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    marked, key = set(), None
    for line in (r.stdout + r.stderr).splitlines():
        m = re.match(r"^  ([a-z_]+) +[A-Z_]+", line)
        if m:
            key = m.group(1)
        elif key and line.startswith("      ") and line.rstrip().endswith("(restart to change)"):
            marked.add(key)
        else:
            key = None
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"\*\*Keys that need a restart\*\*.*?They are(.*?)\(`loopgate serve", text, re.S)
    ok(m, "OPERATIONS.md has no list of the keys that need a restart")
    listed = set(re.findall(r"`([a-z_]+)`", m.group(1)))
    ok(len(marked) > 10, "serve --help marked only %r" % sorted(marked))
    eq(sorted(listed), sorted(marked), "OPERATIONS.md's keys that need a restart")


test_every_command_of_operations_md.slow = True
