"""pgcluster.py - a PostgreSQL primary and a streaming standby, pgbouncer, and a
fail-over under load, for the fail-over tests and the benchmark.

Cluster(dir) makes a primary with initdb and a standby of it with
pg_basebackup (-R: it streams from the primary), both on 127.0.0.1 and on a
socket directory each. The standby is synchronous (synchronous_standby_names
= '*' on the primary): a commit the primary acknowledged is on the standby
too, so a promoted standby has every row a client was told about. That is
the setting a manager such as Patroni keeps (synchronous_mode) in
production; with asynchronous replication a fail-over may lose the last
commits.

    conninfo()        the request connections: both hosts, target_session_attrs=read-write
    listen_conninfo() the same hosts through their socket directories (LISTEN)
    stop_primary()    pg_ctl stop -m immediate (a crash, as far as clients can tell)
    promote()         pg_ctl promote on the standby
    Bouncer(cluster)  a pgbouncer in transaction mode in front of one node; .point(i) moves it

load_failover(...) runs a stream of submits, decisions and long-polls
against a stack on the cluster, fails the primary over in the middle, and
returns what it saw; measure_failover_gap(binary) does all of it on a fresh
stack and returns the gap in seconds (first failed to first served submit),
for bench/.

As root PostgreSQL and pgbouncer run as the user postgres (neither runs as
root); everything lives under the directory given, removed by cleanup().
"""
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import lg

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.getuid() == 0 else cmd


def _chown(path):
    if os.getuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _run(cmd, timeout=120):
    r = subprocess.run(_as_pg(cmd), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (" ".join(cmd[:2]), r.stdout, r.stderr))
    return r


class Node:
    def __init__(self, cluster, name):
        self.name = name
        self.data = os.path.join(cluster.dir, name)
        self.sock = os.path.join(cluster.dir, name + "-run")
        self.log = os.path.join(cluster.dir, name + ".log")
        self.port = lg.free_port()
        self.up = False

    def pg_ctl(self, *args, timeout=60):
        return _run([os.path.join(lg.PGBIN, "pg_ctl"), "-D", self.data, "-w", "-t", "30"] +
                    list(args), timeout=timeout)

    def start(self, *settings):
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off %s" % (
            self.port, self.sock, " ".join("-c %s" % s for s in settings))
        self.pg_ctl("-l", self.log, "-o", opts, "start")
        self.up = True

    def stop(self, mode="fast"):
        if self.up:
            self.up = False
            self.pg_ctl("-m", mode, "stop")

    def sql(self, query, timeout=30):
        r = subprocess.run([os.path.join(lg.PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "loopgate",
                            "-d", "loopgate", "-At", "-F", "\x1f"],
                           input=query, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("psql on %s failed: %s" % (self.name, r.stderr))
        return [line.split("\x1f") for line in r.stdout.splitlines() if line != ""]

    def hba(self, local_reject=False):
        """pg_hba.conf: trust over TCP and the socket, or (local_reject) refuse the socket."""
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            if local_reject:
                f.write("local all all reject\n")
            f.write("local all all trust\nhost all all 127.0.0.1/32 trust\n"
                    "host replication all 127.0.0.1/32 trust\n")


class Cluster:
    def __init__(self, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="lgpgha.")
        os.chmod(self.dir, 0o755)
        self.nodes = [Node(self, "node0"), Node(self, "node1")]
        self.primary, self.standby = self.nodes

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def start(self):
        p, s = self.primary, self.standby
        for n in self.nodes:
            os.makedirs(n.sock)
            _chown(n.sock)
        _chown(self.dir)
        _run([os.path.join(lg.PGBIN, "initdb"), "-D", p.data, "-U", "loopgate", "-A", "trust",
              "-E", "UTF8", "--no-locale"])
        p.hba()
        p.start("wal_level=replica", "max_wal_senders=5")
        subprocess.run(_as_pg([os.path.join(lg.PGBIN, "createdb"), "-h", "127.0.0.1", "-p",
                               str(p.port), "-U", "loopgate", "loopgate"]),
                       check=True, capture_output=True, timeout=60)
        _run([os.path.join(lg.PGBIN, "pg_basebackup"), "-D", s.data, "-R", "-X", "stream", "-c", "fast",
              "-h", "127.0.0.1", "-p", str(p.port), "-U", "loopgate"])
        s.hba()
        s.start("synchronous_standby_names=''")
        # Synchronous from here (after the base backup: the standby's own
        # setting stays empty, so that once promoted it waits for nobody).
        p.sql("ALTER SYSTEM SET synchronous_standby_names = '*'; SELECT pg_reload_conf()")
        lg.wait_for(lambda: p.sql("SELECT sync_state FROM pg_stat_replication") == [["sync"]],
                    30, "the standby to stream synchronously")

    def cleanup(self):
        for n in self.nodes:
            try:
                n.stop("immediate")
            except Exception:  # noqa: BLE001 - clean up the rest whatever happens
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def conninfo(self):
        return ("host=127.0.0.1,127.0.0.1 port=%d,%d dbname=loopgate user=loopgate"
                " target_session_attrs=read-write connect_timeout=2"
                % (self.primary.port, self.standby.port))

    def listen_conninfo(self):
        return ("host=%s,%s port=%d,%d dbname=loopgate user=loopgate"
                " target_session_attrs=read-write connect_timeout=2"
                % (self.primary.sock, self.standby.sock, self.primary.port, self.standby.port))

    def stop_primary(self):
        self.primary.stop("immediate")

    def promote(self):
        self.standby.pg_ctl("promote")
        lg.wait_for(lambda: self.standby.sql("SELECT pg_is_in_recovery()") == [["f"]], 30,
                    "the standby to leave recovery")
        self.primary, self.standby = self.standby, self.primary


class Bouncer:
    """pgbouncer in transaction mode in front of node `i` of `cluster`."""

    def __init__(self, cluster, node):
        self.cluster = cluster
        self.dir = os.path.join(cluster.dir, "pgbouncer")
        self.port = lg.free_port()
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.proc = None
        os.makedirs(self.dir)
        _chown(self.dir)
        with open(os.path.join(self.dir, "users.txt"), "w") as f:
            f.write('"loopgate" ""\n')
        self.write(node)

    def write(self, node):
        """The config: one database, `node` behind it. Errors come back within
        seconds during a fail-over, never after pgbouncer's defaults (two
        minutes in the queue, 15 s between tries at a server that refused)."""
        with open(self.ini + ".tmp", "w") as f:
            f.write("[databases]\nloopgate = host=127.0.0.1 port=%d dbname=loopgate\n"
                    "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
                    "auth_type = trust\nauth_file = %s/users.txt\npool_mode = transaction\n"
                    "max_client_conn = 500\ndefault_pool_size = 20\n"
                    "query_wait_timeout = 5\nserver_login_retry = 0.5\nserver_connect_timeout = 2\n"
                    "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n"
                    % (node.port, self.port, self.dir, self.dir, self.dir))
        os.rename(self.ini + ".tmp", self.ini)

    def start(self):
        self.proc = subprocess.Popen(_as_pg([PGBOUNCER, self.ini]), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        lg.wait_for(self._answers, 10, "pgbouncer to listen")
        return self

    def _answers(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def point(self, node):
        """What a manager does at a fail-over: name the new primary and reload."""
        self.write(node)
        with open(os.path.join(self.dir, "pgbouncer.pid")) as f:
            os.kill(int(f.read()), signal.SIGHUP)

    def conninfo(self):
        return "host=127.0.0.1 port=%d dbname=loopgate user=loopgate" % self.port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- load

def _http(port, method, path, body=None, headers=None, timeout=30):
    """(status, JSON body or None); status 0 when the connection failed."""
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            raw = r.read()
            ctype = r.getheader("Content-Type") or ""
        finally:
            c.close()
    except OSError:
        return 0, None
    try:
        js = json.loads(raw) if raw else None
    except ValueError:
        js = None
    if not ctype.startswith("application/json"):
        js = None
    return r.status, js


class Load:
    """Submits (with Idempotency-Key, retried until answered 2xx), long-polls
    and Telegram decisions against the stack on `port`, each answer noted
    with its time. `bad` collects any answer that is neither 2xx nor a 503
    JSON error."""

    def __init__(self, port, tg, chats, submitters=4):
        self.port = port
        self.tg = tg
        self.chats = chats
        self.submitters = submitters
        self.stop = threading.Event()    # submitters stop
        self.closed = threading.Event()  # everyone stops (the stack is going away)
        self.lock = threading.Lock()
        self.acked = []      # request ids answered 2xx
        self.submits = []    # (monotonic time, status) of every submit try
        self.bad = []        # (what, status, body)
        self.threads = []

    def note(self, t, status, body, what):
        with self.lock:
            if what == "submit":
                self.submits.append((t, status))
            if not (200 <= status < 300 or
                    (status == 503 and body and isinstance(body.get("error"), dict)
                     and body["error"].get("code"))):
                self.bad.append((what, status, body))

    def submit(self, sid, message, key=None):
        """Submit until answered 2xx (same Idempotency-Key each try); the id."""
        key = key or str(uuid.uuid4())
        while True:
            st, js = _http(self.port, "POST", "/hitl/request",
                           {"session_id": sid, "client_id": "agent", "message": message,
                            "options": ["Yes", "No"]}, {"Idempotency-Key": key}, timeout=20)
            self.note(time.monotonic(), st, js, "submit")
            if 200 <= st < 300:
                with self.lock:
                    self.acked.append(js["request_id"])
                return js["request_id"]
            if self.closed.wait(0.05):
                return None

    def _submitter(self, n):
        i = 0
        while not self.stop.is_set():
            i += 1
            self.submit("ha-%d" % (i % len(self.chats)), "stream %d.%d" % (n, i))

    def start(self):
        for n in range(self.submitters):
            t = threading.Thread(target=self._submitter, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def close(self):
        """Stop submitters and waiters alike (also on a failure's way out)."""
        self.stop.set()
        self.closed.set()

    def served_since(self, t):
        """Whether a submit was answered 2xx at or after `t`."""
        with self.lock:
            return any(x >= t and 200 <= st < 300 for x, st in self.submits)

    def gap(self, after):
        """Seconds from the first failed submit after `after` to the next one served."""
        with self.lock:
            seen = sorted(x for x in self.submits if x[0] >= after)
        first_fail = next((t for t, st in seen if not 200 <= st < 300), None)
        if first_fail is None:
            return 0.0
        served = next((t for t, st in seen if t > first_fail and 200 <= st < 300), None)
        return None if served is None else served - first_fail


class Waiter(threading.Thread):
    """An agent that long-polls request `rid` until it is decided."""

    def __init__(self, load, rid, wait=110):
        super().__init__(daemon=True)
        self.load, self.rid, self.wait = load, rid, wait
        self.answer = None
        self.answered_at = None
        self.poll_started = None  # when the poll that is (or was last) waiting began

    def run(self):
        end = time.monotonic() + 600
        while time.monotonic() < end and self.answer is None and not self.load.closed.is_set():
            self.poll_started = time.monotonic()
            st, js = _http(self.load.port, "GET", "/hitl/poll?request_id=%s&wait=%d"
                           % (self.rid, self.wait), timeout=self.wait + 30)
            self.load.note(time.monotonic(), st, js, "poll")
            if st == 200 and js.get("status") != "pending":
                self.answer = js
                self.answered_at = time.monotonic()
            elif st != 200:
                self.load.closed.wait(0.2)


def messages_for(tg, chat):
    """{message text: message_id} of the bot's messages in `chat` so far."""
    out = {}
    for m in tg.sent_messages(chat):
        out[m.get("text", "")] = m["message_id"]
    return out


def press(tg, chat, message_id, deadline=60):
    """A person approves in Telegram; the update is redelivered until a 2xx, as
    Telegram does. The statuses seen."""
    upd = tg.press(chat, message_id, button_text="\u2705 Yes")
    return tg.deliver(upd, deadline=deadline)


def measure_failover_gap(binary, waiters=500, pgbouncer=False, settle=2.0):
    """Start a cluster, a stack on it and `waiters` long-polls with a stream
    of submits; stop the primary (immediate), promote the standby (and move
    pgbouncer, if used); return the gap in seconds from the first failed to
    the first served submit."""
    import tgstub
    tg = tgstub.TelegramStub().start()
    with Cluster() as cl:
        bouncer = Bouncer(cl, cl.primary) if pgbouncer else None
        stack = load = None
        try:
            if bouncer:
                bouncer.start()
            stack = stack_on(binary, tg, cl, bouncer)
            stack.start()
            load = Load(stack.port, tg, [lg.chat() for _ in range(20)])
            for i, c in enumerate(load.chats):
                _http(stack.port, "POST", "/hitl/register",
                      {"session_id": "ha-%d" % i, "client_id": "agent", "telegram_id": c})
            ws = [Waiter(load, load.submit("ha-%d" % (i % 20), "wait %d" % i))
                  for i in range(waiters)]
            for w in ws:
                w.start()
            load.start()
            time.sleep(settle)
            t0 = time.monotonic()
            cl.stop_primary()
            cl.promote()
            if bouncer:
                bouncer.point(cl.primary)
            t1 = time.monotonic()
            lg.wait_for(lambda: load.served_since(t1) and load.gap(t0) is not None, 60,
                        "a submit served after the fail-over")
            load.finish()
            return load.gap(t0)
        finally:
            if load:
                load.close()
            if stack:
                stack.cleanup()
            if bouncer:
                bouncer.stop()
            tg.stop()


def stack_on(binary, tg, cl, bouncer=None, listen_conninfo=None):
    """A stack (not started) whose workers use `cl` (through `bouncer` for the
    request connections, if given) and LISTEN directly."""
    stack = lg.telegram_stack(binary, tg)
    stack.extra_env.update({
        "DB_URI": bouncer.conninfo() if bouncer else cl.conninfo(),
        "LOOPGATE_DB_LISTEN_URI": listen_conninfo or cl.listen_conninfo(),
        "LOOPGATE_DB_TRANSACTION_POOLING": "true" if bouncer else "false",
        "MAX_CONCURRENT_REQUESTS": "100000",
        "LOOPGATE_THREADS": "600",
    })
    if bouncer:
        # Migrations hold a session lock: they run on the primary itself,
        # never through a pooler in transaction mode.
        r = subprocess.run([binary, "migrate"], env=dict(os.environ, DB_URI=cl.conninfo()),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("migrate failed: %s" % r.stderr)
        stack.extra_env["LOOPGATE_MIGRATE_BIN"] = "/bin/true"
    return stack
