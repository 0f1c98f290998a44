"""hosts.py - several worker hosts on one PostgreSQL behind one nginx upstream.

Cluster(binary, n_hosts, **opts) is a context manager that runs, as root:

1. one network namespace per host (ip netns), joined to the root namespace
   by a veth pair with a /30 of its own from 10.219.X.0/24 (X is free on
   this machine, chosen under a lock); loopback inside, nothing else;
2. one PostgreSQL (initdb in a temp dir) listening on the root side of
   every veth pair (and a unix socket for psql and the CLI), trusting the
   cluster's /24 only;
3. the Bot API stand-in (tgstub) on the root side of host 0's pair, where
   every namespace reaches it;
4. in each namespace its own `loopgate serve` (a master and its workers),
   listening on FastCGI over TCP at <host address>:9000;
5. one nginx in the root namespace on 127.0.0.1:<port> (.url): the local
   stack's site (nginx/loopgate-local.conf.in) with its upstream made from
   nginx/loopgate-upstream.conf, one server line per host, and each
   answer naming the host that gave it (X-Loopgate-Upstream); plus one
   port per host that reaches that host alone (.hosts[i].url), for tests
   that must place a request on a given host.

The Cluster quacks like lg.Stack for the tests' helpers (request, get, post,
sql, scalar, cli, tg); so does each Host (its requests go to its own port).
kill(i) sends SIGKILL to host i's master and workers (one process group),
start(i) starts it again. Everything made is written down in a state file
under /run/loopgate-hosts/ first and undone on exit, on an exception, on
SIGTERM, and, should the test process itself be killed, by the next
Cluster that starts (it sweeps the state of clusters whose process is gone).
LOOPGATE_NETNS_PREFIX (default "lgh") names the namespaces and veths.
"""
import atexit
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import lg
import tgstub

PREFIX = os.environ.get("LOOPGATE_NETNS_PREFIX", "lgh")
NET = "10.219"
FCGI_PORT = 9000
STATE_DIR = "/run/loopgate-hosts"
LOCK = os.path.join(STATE_DIR, ".lock")
DB_PORT = 5432

_live = set()


def _run(cmd, check=True, timeout=30):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))
    return r


def _as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.getuid() == 0 else cmd


def _connects(addr, port, timeout=0.5):
    try:
        with socket.create_connection((addr, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_wait(pid, sig, seconds):
    """Signal `pid` and wait up to `seconds` for it to be gone; True when it is."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _teardown(state):
    """Undo what a state file names; every step runs whatever the others did."""
    for ns in state.get("netns", []):
        out = _run(["ip", "netns", "pids", ns], check=False).stdout
        for pid in (int(p) for p in out.split()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    var = state.get("var")
    if var:
        try:
            with open(os.path.join(var, "run/nginx.pid")) as f:
                pid = int(f.read())
            if not _kill_wait(pid, signal.SIGQUIT, 5):
                _kill_wait(pid, signal.SIGKILL, 5)
        except (OSError, ValueError):
            pass
        if os.path.exists(os.path.join(var, "pg/postmaster.pid")):
            _run(_as_pg([os.path.join(lg.PGBIN, "pg_ctl"), "-D", os.path.join(var, "pg"),
                         "-m", "immediate", "-w", "stop"]), check=False, timeout=60)
    for ns in state.get("netns", []):
        _run(["ip", "netns", "del", ns], check=False)
    for veth in state.get("veth", []):
        if os.path.exists("/sys/class/net/" + veth):
            _run(["ip", "link", "del", veth], check=False)
    if var:
        shutil.rmtree(var, ignore_errors=True)


class _Locked:
    """The machine-wide lock under which subnets are chosen and stale state swept."""

    def __enter__(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        self.fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _sweep():
    """Tear down what clusters of processes that are gone left behind (caller holds the lock)."""
    for name in os.listdir(STATE_DIR):
        if not name.endswith(".json"):
            continue
        path = os.path.join(STATE_DIR, name)
        try:
            with open(path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if _alive(int(state.get("pid", 0))):
            continue
        _teardown(state)
        os.unlink(path)


class Host:
    """One worker host: a network namespace and the `loopgate serve` in it."""

    def __init__(self, cluster, i, x):
        self.cluster = cluster
        self.i = i
        self.netns = "%s%d-%d" % (PREFIX, x, i)
        self.veth = "%s%dr%d" % (PREFIX, x, i)   # the root namespace's end
        self.peer = "%s%dn%d" % (PREFIX, x, i)   # the host's end
        self.gateway = "%s.%d.%d" % (NET, x, 4 * i + 1)
        self.addr = "%s.%d.%d" % (NET, x, 4 * i + 2)
        self.socket = "%s:%d" % (self.addr, FCGI_PORT)
        self.port = lg.free_port()               # nginx's port for this host alone
        self.proc = None
        self.starts = 0
        self.log_path = os.path.join(cluster.var, "log", "host%d.log" % i)

    # The wire, through nginx's port for this host alone (lg.Stack's methods).
    request = lg.Stack.request
    get = lg.Stack.get
    post = lg.Stack.post

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def tg(self):
        return self.cluster.tg

    def sql(self, *a, **kw):
        return self.cluster.sql(*a, **kw)

    def scalar(self, *a, **kw):
        return self.cluster.scalar(*a, **kw)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def served(self, request_id):
        """This host's access log has the request nginx numbered `request_id` (X-Request-Id)."""
        return ("request_id=%s" % request_id) in self.log()

    def master_pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def worker_pids(self):
        pid = self.master_pid()
        if not pid:
            return []
        out = _run(["pgrep", "-P", str(pid)], check=False).stdout
        return sorted(int(x) for x in out.split())

    def pids(self):
        """Every process in the host's namespace."""
        return [int(p) for p in _run(["ip", "netns", "pids", self.netns], check=False).stdout.split()]

    def fcgi_answers(self, source):
        """Whether this host's FastCGI port keeps a connection from `source` (an
        address of the root namespace) open: False when it closes it unanswered."""
        with socket.socket() as s:
            s.settimeout(1.5)
            s.bind((source, 0))
            s.connect((self.addr, FCGI_PORT))
            try:
                return s.recv(1) != b""
            except socket.timeout:
                return True   # accepted: the worker waits for the request

    def metric(self, name):
        """The sum of a metric's samples on this host's /metrics (None: not there)."""
        r = self.get("/metrics", timeout=10)
        if r.status != 200:
            return None
        vals = [float(line.split()[-1]) for line in r.raw.splitlines()
                if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{")]
        return sum(vals) if vals else None

    def __repr__(self):
        return "<host %d %s>" % (self.i, self.socket)


class Cluster(lg.Stack):
    """n_hosts worker hosts (Host) on one PostgreSQL behind one nginx upstream.

    opts: workers (per host, 2), threads (per worker, 64), env (extra
    settings for every host), telegram (True: a Bot API stand-in, .tg, the
    hosts in webhook mode), max_fails / fail_timeout (the upstream's, else
    nginx/loopgate-upstream.conf's), san (a sanitizer build).
    .url is nginx's base URL, .hosts the hosts, .db_uri the database (a unix
    socket, from this namespace), .kill(i) / .start(i) stop and start host i.
    """

    def __init__(self, binary, n_hosts=2, workers=2, threads=64, env=None, telegram=True,
                 max_fails=None, fail_timeout=None, san=False):
        if os.getuid() != 0:
            raise RuntimeError("hosts.Cluster needs root (network namespaces)")
        settings = {
            "LOOPGATE_CONFIG": os.path.join(lg.ROOT, "conf/loopgate.conf"),
            "LOOPGATE_AUTH": "off",
            "LOOPGATE_WORKERS": str(workers),
            "LOOPGATE_THREADS": str(threads),
            "MAX_CONCURRENT_REQUESTS": "100",
            "LOOPGATE_WEBHOOK_ALLOW_PRIVATE": "true",
        }
        settings.update(env or {})
        super().__init__(binary, san=san, env=settings)
        _live.add(self)
        self.n_hosts = n_hosts
        self.telegram = telegram
        self.max_fails, self.fail_timeout = max_fails, fail_timeout
        self.hosts = []
        self.tg = None
        self.x = None
        self.state_path = None
        self._old_term = None

    # ------------------------------------------------------------ lifecycle
    def __enter__(self):
        try:
            self.start_all()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start_all(self):
        t = time.monotonic()
        if self._old_term is None and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            try:   # a SIGTERM unwinds through cleanup() like an exception
                self._old_term = signal.signal(signal.SIGTERM, _on_term)
            except ValueError:   # not the main thread
                pass
        self._network()
        if self.telegram:
            self.tg = tgstub.TelegramStub(host=self.hosts[0].gateway).start()
            self.tg.webhook_target(self.url + "/telegram/webhook", lg.WEBHOOK_SECRET)
            self.webhook_secret = lg.WEBHOOK_SECRET
            self.extra_env.update({
                "TELEGRAM_API_URL": self.tg.url, "TELEGRAM_BOT_TOKEN": self.tg.token,
                "TELEGRAM_WEBHOOK_SECRET": lg.WEBHOOK_SECRET,
                "PUBLIC_URL": "https://hitl.example.test"})
        self._pg_start()
        for h in self.hosts:
            self.start(h.i)
        self._nginx_start()
        for h in self.hosts:
            lg.wait_for(lambda: h.get("/readyz", timeout=5).status == 200, 30,
                        "host %d to be ready" % h.i)
        self.running = True
        self.starts += 1
        self.lifecycle_s += time.monotonic() - t

    def _save_state(self):
        state = {"pid": os.getpid(), "var": self.var,
                 "netns": [h.netns for h in self.hosts], "veth": [h.veth for h in self.hosts]}
        with open(self.state_path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(self.state_path + ".tmp", self.state_path)

    def _network(self):
        with _Locked():
            _sweep()
            used = _run(["ip", "-4", "-o", "addr"]).stdout + _run(["ip", "netns", "list"]).stdout
            taken = {int(m) for m in re.findall(r"\b10\.219\.(\d+)\.", used)}
            taken |= {int(m) for m in re.findall(r"\b%s(\d+)-" % re.escape(PREFIX), used)}
            taken |= {int(n.split(".")[0]) for n in os.listdir(STATE_DIR) if n[0].isdigit()}
            free = [x for x in range(1, 255) if x not in taken]
            if not free:
                raise RuntimeError("no free 10.219.X.0/24 for the hosts' network")
            if 4 * self.n_hosts > 252:
                raise RuntimeError("at most 63 hosts")
            self.x = free[os.getpid() % len(free)]
            self.state_path = os.path.join(STATE_DIR, "%d.json" % self.x)
            self.hosts = [Host(self, i, self.x) for i in range(self.n_hosts)]
            self._save_state()   # before anything is made: the sweep undoes a half-made one
            for h in self.hosts:
                _run(["ip", "netns", "add", h.netns])
                _run(["ip", "link", "add", h.veth, "type", "veth", "peer", "name", h.peer])
                _run(["ip", "link", "set", h.peer, "netns", h.netns])
                _run(["ip", "addr", "add", h.gateway + "/30", "dev", h.veth])
                _run(["ip", "link", "set", h.veth, "up"])
                _run(["ip", "-n", h.netns, "addr", "add", h.addr + "/30", "dev", h.peer])
                _run(["ip", "-n", h.netns, "link", "set", h.peer, "up"])
                _run(["ip", "-n", h.netns, "link", "set", "lo", "up"])
                _run(["ip", "-n", h.netns, "route", "add", "default", "via", h.gateway])

    def _pg_start(self):
        pg, run, log = (os.path.join(self.var, d) for d in ("pg", "run", "log"))
        for d in (pg, run, log):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.var, 0o755)
        logfile = os.path.join(log, "postgresql.log")
        open(logfile, "a").close()
        if os.getuid() == 0:
            shutil.chown(pg, "postgres")
            shutil.chown(run, "postgres")
            shutil.chown(logfile, "postgres")
        _run(_as_pg([os.path.join(lg.PGBIN, "initdb"), "-D", pg, "-U", "loopgate", "-A", "trust",
                     "-E", "UTF8", "--no-locale"]), timeout=120)
        with open(os.path.join(pg, "pg_hba.conf"), "a") as f:
            f.write("host all loopgate %s.%d.0/24 trust\n" % (NET, self.x))
        listen = ",".join(h.gateway for h in self.hosts)
        _run(_as_pg([os.path.join(lg.PGBIN, "pg_ctl"), "-D", pg, "-w", "-t", "60", "-l", logfile,
                     "-o", "-k %s -c listen_addresses='%s' -p %d -c max_connections=%d"
                     " -c fsync=off -c full_page_writes=off" % (run, listen, DB_PORT,
                                                                100 + 60 * self.n_hosts),
                     "start"]), timeout=90)
        self.sql("CREATE DATABASE loopgate", db="postgres")
        self.cli("migrate")

    def host_env(self, h):
        """A host's settings: the cluster's, its database over TCP, its socket, and
        the one address its FastCGI port answers (FCGI_WEB_SERVER_ADDRS: a
        connection from any other address is closed): nginx's, as
        docs/DEPLOYMENT.md says."""
        e = {"DB_URI": "host=%s port=%d dbname=loopgate user=loopgate" % (h.gateway, DB_PORT),
             "LOOPGATE_SOCKET": h.socket, "FCGI_WEB_SERVER_ADDRS": h.gateway}
        e.update(self.extra_env)
        return self.env(**e)

    def start(self, i):
        """Start host i's `loopgate serve` (again); return once it accepts FastCGI connections."""
        h = self.hosts[i]
        if h.master_pid():
            raise RuntimeError("host %d is running" % i)
        with open(h.log_path, "ab") as log:
            h.proc = subprocess.Popen(["ip", "netns", "exec", h.netns, self.binary, "serve"],
                                      env=self.host_env(h), stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, cwd=self.var,
                                      start_new_session=True)
        h.starts += 1
        end = time.monotonic() + 30
        while not _connects(h.addr, FCGI_PORT):
            if h.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("host %d's loopgate serve did not listen on %s (%s); its log: %s"
                                   % (i, h.socket, "exited %d" % h.proc.returncode
                                      if h.proc.poll() is not None else "timed out",
                                      h.log()[-1500:]))
            time.sleep(0.05)

    def kill(self, i):
        """SIGKILL host i's master and its workers at once (their process group)."""
        h = self.hosts[i]
        if not h.master_pid():
            raise RuntimeError("host %d is not running" % i)
        victims = [h.proc.pid] + h.worker_pids()
        os.killpg(h.proc.pid, signal.SIGKILL)
        h.proc.wait(10)
        lg.wait_for(lambda: not any(_alive(p) for p in victims), 10,
                    "host %d's processes to be gone" % i)
        return victims

    def _stop_host(self, h):
        if h.master_pid():
            if not _kill_wait(h.proc.pid, signal.SIGTERM, 10):
                os.killpg(h.proc.pid, signal.SIGKILL)
            h.proc.wait(10)

    # ------------------------------------------------------------ nginx
    def _upstream_block(self):
        with open(os.path.join(lg.ROOT, "nginx/loopgate-upstream.conf")) as f:
            example = f.read()
        m = re.search(r"^\s*server\s+\S+:\d+\s+([^;]*);", example, re.M)
        params = m.group(1)
        if self.max_fails is not None:
            params = re.sub(r"max_fails=\S+", "max_fails=%d" % self.max_fails, params)
        if self.fail_timeout is not None:
            params = re.sub(r"fail_timeout=\S+", "fail_timeout=%ds" % self.fail_timeout, params)
        self.upstream_params = params
        return "upstream loopgate {\n%s    }" % "".join(
            "        server %s %s;\n" % (h.socket, params) for h in self.hosts)

    def _nginx_conf(self):
        with open(os.path.join(lg.ROOT, "nginx/loopgate-local.conf.in")) as f:
            t = f.read()
        for k, v in (("@VAR@", self.var), ("@ROOT@", lg.ROOT), ("@PORT@", str(self.port)),
                     ("@USER_LINE@", "user root;" if os.getuid() == 0 else ""),
                     ("@ACCESS_LOG@", os.path.join(self.var, "log/nginx-access.log"))):
            t = t.replace(k, v)
        t, n = re.subn(r"upstream loopgate \{.*?\n    \}", lambda _: self._upstream_block(), t,
                       count=1, flags=re.S)
        errors = "include %s/nginx/loopgate-errors.conf;" % lg.ROOT
        if n != 1 or errors not in t:
            raise RuntimeError("nginx/loopgate-local.conf.in has no upstream block or errors include")
        t = t.replace(errors, errors + "\n        add_header X-Loopgate-Upstream $upstream_addr always;", 1)
        direct = ""
        for h in self.hosts:
            direct += """
    upstream loopgate_host%(i)d {
        server %(sock)s;
    }
    server {
        listen 127.0.0.1:%(port)d;
        client_max_body_size 1m;
        fastcgi_read_timeout 300s;
        include %(root)s/nginx/loopgate-errors.conf;
        add_header X-Loopgate-Upstream $upstream_addr always;
        location / {
            fastcgi_pass loopgate_host%(i)d;
            include %(root)s/nginx/loopgate-fastcgi.conf;
            fastcgi_buffering off;
        }
    }
""" % {"i": h.i, "sock": h.socket, "port": h.port, "root": lg.ROOT}
        end = t.rstrip().rfind("}")
        return t[:end] + direct + t[end:]

    def _nginx_start(self):
        conf_dir = os.path.join(self.var, "nginx")
        for d in ("tmp", "extra"):
            os.makedirs(os.path.join(conf_dir, d), exist_ok=True)
        conf = os.path.join(conf_dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._nginx_conf())
        err = os.path.join(self.var, "log/nginx-error.log")
        _run(["nginx", "-q", "-t", "-p", conf_dir, "-c", conf, "-e", err])
        _run(["nginx", "-p", conf_dir, "-c", conf, "-e", err])

    # ------------------------------------------------------------ teardown
    def stop(self):
        for h in self.hosts:
            try:
                self._stop_host(h)
            except Exception:  # noqa: BLE001 - the teardown below kills what is left
                pass
        self.running = False

    def cleanup(self):
        t = time.monotonic()
        try:
            self.stop()
        finally:
            try:
                if self.tg:
                    self.tg.stop()
            finally:
                with _Locked():
                    _teardown({"var": self.var, "netns": [h.netns for h in self.hosts],
                               "veth": [h.veth for h in self.hosts]})
                    if self.state_path and os.path.exists(self.state_path):
                        os.unlink(self.state_path)
                _live.discard(self)
                if self._old_term is not None:
                    try:
                        signal.signal(signal.SIGTERM, self._old_term)
                    except ValueError:
                        pass
                    self._old_term = None
                self.lifecycle_s += time.monotonic() - t

    # ------------------------------------------------------------ logs
    def log_text(self):
        parts = [h.log() for h in self.hosts]
        for name in ("nginx-error.log", "nginx-access.log"):
            p = os.path.join(self.var, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    parts.append(f.read())
        return "\n".join(parts)

    def worker_log(self):
        return "\n".join(h.log() for h in self.hosts)

    def which(self, resp):
        """The host that answered `resp` (nginx's X-Loopgate-Upstream), or None."""
        addr = (resp.header("X-Loopgate-Upstream") or "").split(",")[-1].strip()
        for h in self.hosts:
            if addr == h.socket:
                return h
        return None


def _on_term(signum, frame):
    raise SystemExit(128 + signum)


@atexit.register
def _cleanup_live():
    for c in list(_live):
        try:
            c.cleanup()
        except Exception:  # noqa: BLE001
            pass
