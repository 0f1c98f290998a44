"""benchlib.py - what bench/run.py and bench/wake.py share: the floors
(bench/floor.c behind the stack's nginx) and a Bot API stand-in.

The Bot API stand-in (tests/integration/tgstub.py) writes each answer in two
send()s (headers, then body) on a socket without TCP_NODELAY. On a kept-alive
connection the body then waits for the client's delayed ACK, so every Bot API
call of a worker stalls about 40 ms - a property of the stand-in, not of
Telegram or of Loopgate, and it would cap delivery at about 25 calls/s per
delivery thread. telegram_stub() starts the stand-in with TCP_NODELAY set on
each accepted connection; nothing else about it changes (limits, records).

wake.py times the agents' answers from its own asyncio loop. A stand-in in
that interpreter would answer the product's deliveries (answerCallbackQuery,
editMessageText) on threads that take the interpreter's lock right when the
answer to be timed arrives: StubProcess runs it in a process of its own, as
Telegram is not inside the agent either.
"""
import json
import os
import signal
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import lg  # noqa: E402
import tgstub  # noqa: E402

_setup = tgstub._Handler.setup


def _setup_nodelay(handler):
    try:
        handler.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    _setup(handler)


def telegram_stub(rate_limits=True):
    """A started TelegramStub whose answers are not delayed by Nagle's algorithm."""
    tgstub._Handler.setup = _setup_nodelay
    stub = tgstub.TelegramStub().start()
    stub.rate_limits = rate_limits
    return stub


class StubProcess:
    """telegram_stub() in a process of its own, driven over a pipe.

    The stand-in's state stays there; call() runs one of its methods and
    returns the result (JSON)."""

    def __init__(self, rate_limits=True):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve-stub",
             "1" if rate_limits else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = json.loads(self.proc.stdout.readline() or "null")
        if not isinstance(hello, dict):
            raise RuntimeError("the Bot API stand-in did not start")
        self.url, self.token = hello["url"], hello["token"]

    def _ask(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        answer = json.loads(self.proc.stdout.readline() or "null")
        if not isinstance(answer, dict) or "error" in answer:
            raise RuntimeError("Bot API stand-in: %r" % (answer,))
        return answer["result"]

    def call(self, method, *args, **kwargs):
        return self._ask({"call": method, "args": args, "kwargs": kwargs})

    def press(self, *args, **kwargs):
        return self.call("press", *args, **kwargs)

    def webhook_target(self, url, secret=None):
        return self.call("webhook_target", url, secret)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _serve_stub(rate_limits):
    """The far end of StubProcess: one JSON request a line, one JSON answer a line."""
    stub = telegram_stub(rate_limits=rate_limits)
    print(json.dumps({"url": stub.url, "token": stub.token}), flush=True)
    try:
        for line in sys.stdin:
            msg = json.loads(line)
            try:
                answer = {"result": getattr(stub, msg["call"])(*msg["args"], **msg["kwargs"])}
            except Exception as e:  # noqa: BLE001 - reported to the caller
                answer = {"error": repr(e)}
            print(json.dumps(answer, default=repr), flush=True)
    finally:
        stub.stop()


# ---------------------------------------------------------------- floors

FLOOR_LOCATION = """location = /floor/%(name)s {
    fastcgi_pass unix:%(sock)s;
    include %(root)s/nginx/loopgate-fastcgi.conf;
}
"""


class Floor:
    """One bench/floor.c server: its name (nginx serves it at /floor/NAME), mode,
    request threads per worker and worker processes."""

    def __init__(self, name, mode, threads, workers=2, db=None):
        self.name, self.mode, self.threads, self.workers, self.db = name, mode, threads, workers, db
        self.proc = None

    def describe(self):
        return "%d workers x %d threads" % (self.workers, self.threads)


class Floors:
    """bench/floor.c servers (Floor), each its own master + workers behind the
    stack's nginx. A floor can be restarted with another number of threads
    (set_threads): nginx keeps pointing at the same socket."""

    def __init__(self, binary, stack, floors):
        self.binary = os.path.abspath(binary)
        self.stack = stack
        self.dir = os.path.join(stack.var, "floor")
        self.floors = dict((f.name, f) for f in floors)

    def __getitem__(self, name):
        return self.floors[name]

    def db_uri(self, floor):
        """A floor's database: the stack's, or another database of its cluster."""
        uri = self.stack.db_uri
        return uri.replace("dbname=loopgate", "dbname=%s" % floor.db) if floor.db else uri

    def sock(self, name):
        return os.path.join(self.dir, "%s.sock" % name)

    def write_nginx_conf(self):
        """Before stack.start(): nginx includes <var>/nginx/extra/*.conf in its server block."""
        os.makedirs(self.dir, exist_ok=True)
        extra = os.path.join(self.stack.var, "nginx", "extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "floor.conf"), "w") as f:
            for name in self.floors:
                f.write(FLOOR_LOCATION % {"name": name, "sock": self.sock(name), "root": ROOT})

    def start(self, names=None):
        names = list(names or self.floors)
        for name in names:
            fl = self.floors[name]
            log = open(os.path.join(self.stack.var, "log", "floor-%s.log" % name), "ab")
            fl.proc = subprocess.Popen(
                [self.binary, "--socket", self.sock(name), "--mode", fl.mode, "--threads",
                 str(fl.threads), "--workers", str(fl.workers), "--db", self.db_uri(fl)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            log.close()
        for name in names:
            lg.wait_for(lambda: os.path.exists(self.sock(name)), 10, "floor %s socket" % name)

    def set_threads(self, name, threads):
        """Restart one floor with `threads` request threads per worker (if it has another count)."""
        fl = self.floors[name]
        if fl.threads == threads and fl.proc and fl.proc.poll() is None:
            return
        self.stop([name])
        fl.threads = threads
        self.start([name])

    def worker_pids(self, name):
        """The worker processes of one floor's master."""
        pid = self.floors[name].proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def stop(self, names=None):
        procs = [self.floors[n].proc for n in (names or self.floors) if self.floors[n].proc]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for n in (names or self.floors):
            self.floors[n].proc = None


if __name__ == "__main__" and sys.argv[1:2] == ["--serve-stub"]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C ends us through stdin
    _serve_stub(sys.argv[2] == "1")
