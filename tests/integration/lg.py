"""lg.py - the integration-test harness: a real Loopgate stack in a temp dir.

Stack() runs src/stack.sh with LOOPGATE_VAR pointing at a fresh directory and
SERVER_PORT at a free loopback port: a private PostgreSQL (initdb), the real
workers and the real nginx. Tests talk HTTP to nginx and read the database
with psql, so they assert what went over the wire and what was stored.
"""
import contextlib
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGBIN = sorted(
    (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")),
    key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
)[-1]


_chats = itertools.count(7_000_000_001)


def chat():
    """A fresh private chat id above 32 bits: unique across every test module, so
    pacing and per-chat state (a chat a test blocked) never leak between tests."""
    return next(_chats)


def _exists(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


class Stack:
    def __init__(self, binary, san=False, env=None, migrate_bin=None):
        """`binary` serves; `migrate_bin` (default `binary`) migrates the database
        when the stack starts: the previous-release test serves with the old
        binary on a schema the new one migrated."""
        self.binary = os.path.abspath(binary)
        self.migrate_bin = os.path.abspath(migrate_bin or binary)
        self.san = san
        self.var = tempfile.mkdtemp(prefix="lgtest.")
        os.chmod(self.var, 0o755)
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.running = False
        self.starts = 0           # how often start() ran, and the seconds that
        self.lifecycle_s = 0.0    # start() and stop() took: run.py reports them

    # ------------------------------------------------------------ lifecycle
    def env(self, **over):
        e = dict(os.environ)
        e.update(
            LOOPGATE_VAR=self.var,
            SERVER_PORT=str(self.port),
            LOOPGATE_BIN=self.binary,
            LOOPGATE_MIGRATE_BIN=self.migrate_bin,
            LOOPGATE_ACCESS_LOG="1",
            PG_OPTS="-c fsync=off -c full_page_writes=off",
            DB_URI=self.db_uri,
        )
        if self.san:
            e["ASAN_OPTIONS"] = "log_path=%s/log/asan:detect_leaks=1:abort_on_error=0" % self.var
            e["UBSAN_OPTIONS"] = "log_path=%s/log/ubsan:print_stacktrace=1" % self.var
            e["LSAN_OPTIONS"] = "suppressions=%s/tests/integration/lsan.supp" % ROOT
            e["TSAN_OPTIONS"] = ("log_path=%s/log/tsan:halt_on_error=0:second_deadlock_stack=1:"
                                 "suppressions=%s/tests/integration/tsan.supp" % (self.var, ROOT))
        e.update(self.extra_env)
        e.update(over)
        return e

    def stack_env(self, **over):
        """env() for src/stack.sh itself: without DB_URI (which would make it
        use that database instead of starting its private cluster) unless the
        test gives one."""
        e = self.env(**over)
        if "DB_URI" not in over and "DB_URI" not in self.extra_env:
            e.pop("DB_URI", None)
        return e

    @property
    def db_uri(self):
        return self.db_uri_of("loopgate")

    def db_uri_of(self, db):
        return "host=%s/run port=5432 dbname=%s user=loopgate" % (self.var, db)

    def stack(self, cmd, **env):
        r = subprocess.run(
            [os.path.join(ROOT, "src/stack.sh"), cmd],
            env=self.stack_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0:
            raise RuntimeError("stack.sh %s failed: %s%s" % (cmd, r.stdout, r.stderr))
        return r

    def start(self, **env):
        t = time.monotonic()
        self.extra_env.update(env)
        self.stack("start")
        self.running = True
        self.starts += 1
        self.lifecycle_s += time.monotonic() - t

    def stop(self):
        """Stop the stack; return once the workers' master is gone for good.
        stack.sh returns as soon as nginx and the master have exited; the
        master, a daemon, is then reaped by PID 1, which on some hosts takes
        a second or two, and tests tell a stopped master by kill(pid, 0)."""
        t = time.monotonic()
        try:
            master = self.master_pid()
        except (OSError, ValueError):
            master = None
        self.stack("stop")
        self.running = False
        if master:
            wait_for(lambda: not _exists(master), 10, "the workers' master %d to be reaped" % master)
        self.lifecycle_s += time.monotonic() - t

    @contextlib.contextmanager
    def restarted(self, drop=(), **env):
        """The stack restarted with `env` added to its environment and the
        variables named in `drop` taken out of it (an earlier test's setting
        that would hide what this one changes), then, however the block ends,
        restarted with the environment exactly as it was."""
        kept = dict(self.extra_env)
        if self.running:
            self.stop()
        for k in drop:
            self.extra_env.pop(k, None)
        try:
            self.start(**env)
            yield self
        finally:
            if self.running:
                self.stop()
            self.extra_env = kept
            self.start()

    def cleanup(self):
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self.var, ignore_errors=True)

    # ------------------------------------------------------------ processes
    def master_pid(self):
        with open(os.path.join(self.var, "run/loopgate.pid")) as f:
            return int(f.read())

    def worker_pids(self):
        out = subprocess.run(
            ["pgrep", "-P", str(self.master_pid())], capture_output=True, text=True
        ).stdout
        return sorted(int(x) for x in out.split())

    def pg_ctl(self, action, mode="fast"):
        """Stop ("fast", or "immediate": like a crash, no clean shutdown) or start PostgreSQL."""
        cmd = [os.path.join(PGBIN, "pg_ctl"), "-D", os.path.join(self.var, "pg"), "-w"]
        if action == "stop":
            cmd += ["-m", mode, "stop"]
        else:
            cmd += [
                "-l", os.path.join(self.var, "log/postgresql.log"),
                "-o", "-k %s/run -c listen_addresses='' -p 5432 -c fsync=off" % self.var,
                "start",
            ]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def sanitizer_reports(self):
        logdir = os.path.join(self.var, "log")
        found = []
        for name in os.listdir(logdir):
            if name.startswith(("asan", "ubsan", "tsan")):
                with open(os.path.join(logdir, name), errors="replace") as f:
                    found.append((name, f.read()))
        return found

    def worker_log(self):
        """The workers' log alone: an offset into it stays valid as it grows."""
        p = os.path.join(self.var, "log", "loopgate.log")
        if not os.path.exists(p):
            return ""
        with open(p, errors="replace") as f:
            return f.read()

    def log_text(self):
        parts = []
        for name in ("loopgate.log", "nginx-error.log", "nginx-access.log"):
            p = os.path.join(self.var, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    parts.append(f.read())
        return "\n".join(parts)

    # ------------------------------------------------------------ wire
    def request(self, method, path, body=None, headers=None, json_body=None, timeout=30):
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            raw = r.read().decode("utf-8", "replace")
            return Response(r.status, r.getheaders(), raw)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, data=None, **kw):
        return self.request("POST", path, json_body=data, **kw)

    # ------------------------------------------------------------ database
    def sql(self, query, *args, db="loopgate"):
        """Rows of a query as lists of strings (psql -At); args are bound as psql variables."""
        cmd = [
            os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", os.path.join(self.var, "run"), "-U", "loopgate", "-d", db,
            "-At", "-F", "\x1f",
        ]
        for i, a in enumerate(args):
            cmd += ["-v", "p%d=%s" % (i + 1, a)]
        r = subprocess.run(cmd, input=query, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr)
        return [line.split("\x1f") for line in r.stdout.splitlines() if line != ""]

    def notices(self, *queries, db="loopgate"):
        """What psql prints running `queries` one after the other (each its own
        transaction) in one session, asynchronous notifications included (a
        session receives its own)."""
        cmd = [os.path.join(PGBIN, "psql"), "-X", "-v", "ON_ERROR_STOP=1",
               "-h", os.path.join(self.var, "run"), "-U", "loopgate", "-d", db]
        for q in queries:
            cmd += ["-c", q]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr)
        return r.stdout + r.stderr

    def clear_pending(self, tenant="default"):
        """Test fixture: end every pending request of a tenant, so that tests
        that submit many stay under max_concurrent_requests."""
        self.sql("UPDATE requests SET status = 'canceled', responded_at = now()"
                 " WHERE tenant = :'p1' AND status = 'pending'", tenant)

    def scalar(self, query, *args):
        rows = self.sql(query, *args)
        return rows[0][0] if rows else None

    def counts(self):
        """A fingerprint of every table an API call can change (one psql run).
        What the workers do by themselves meanwhile is left out, so an earlier
        test's request that times out or is reminded in between does not count
        as written: audit rows of the actor 'loopgate', and a pending request's
        move to timeout (pending and timed-out rows fingerprint alike)."""
        return self.sql(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM requests),"
            " (SELECT count(*) FROM audit_log WHERE actor <> 'loopgate'),"
            " (SELECT count(*) FROM api_keys),"
            " (SELECT md5(coalesce(string_agg(concat_ws(',', tenant, session_id, client_id,"
            "   telegram_chat_id, active, approvers, updated_at), ';' ORDER BY tenant, session_id), ''))"
            "  FROM sessions),"
            " (SELECT md5(coalesce(string_agg(id || CASE WHEN status IN ('pending', 'timeout')"
            "   THEN 'open' ELSE status || updated_at END, ';' ORDER BY id), ''))"
            "  FROM requests)")[0]

    # ------------------------------------------------------------ CLI
    def cli(self, *args, env=None, check=True):
        e = self.env()
        e.update(env or {})
        r = subprocess.run([self.binary] + list(args), env=e, capture_output=True, text=True,
                           timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("loopgate %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def new_key(self, tenant, name=None, admin=False):
        return self.cli("apikey", "create", "--name", name or tenant, "--tenant", tenant,
                        *(["--admin"] if admin else [])).stdout.strip()


WEBHOOK_SECRET = "it-webhook-secret_0123456789"


def telegram_stack(binary, tg, san=False, migrate_bin=None):
    """The stack the integration tests run against (not started): wired to the
    Bot API stand-in `tg` (a started tgstub.TelegramStub), whose relay POSTs
    button presses and replies to the stack's webhook as Telegram does."""
    stack = Stack(binary, san=san, migrate_bin=migrate_bin, env={
        "MAX_CONCURRENT_REQUESTS": "100",
        "LOOPGATE_THREADS": "400",
        "LOOPGATE_WEBHOOK_ALLOW_PRIVATE": "true",
        "TELEGRAM_API_URL": tg.url,
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Telegram reaches the stack through the stand-in's relay, so the
        # stack runs in webhook mode, not getUpdates.
        "PUBLIC_URL": "https://hitl.example.test",
    })
    stack.tg = tg
    stack.webhook_secret = WEBHOOK_SECRET
    tg.webhook_target("http://127.0.0.1:%d/telegram/webhook" % stack.port, WEBHOOK_SECRET)
    return stack


# ---------------------------------------------------------------- asserts
class Failure(AssertionError):
    pass


def eq(got, want, what=""):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what or "value", want, got))


def ok(cond, what):
    if not cond:
        raise Failure(what)


def error_is(resp, status, code, mentions=None):
    """The response is a JSON error with `status` and `code` (and a message naming `mentions`)."""
    if resp.status != status:
        raise Failure("expected HTTP %d %s, got %r" % (status, code, resp))
    ok(resp.header("Content-Type", ) and resp.header("Content-Type").startswith("application/json"),
       "error is not JSON: %r" % (resp.headers,))
    ok(resp.json and "error" in resp.json, "no error object in %r" % resp)
    eq(resp.json["error"].get("code"), code, "error code")
    ok(isinstance(resp.json["error"].get("message"), str) and resp.json["error"]["message"],
       "empty error message")
    if mentions:
        ok(mentions in resp.json["error"]["message"],
           "message %r does not mention %r" % (resp.json["error"]["message"], mentions))


def wait_for(cond, timeout=10.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise Failure("timed out waiting for %s" % what)
