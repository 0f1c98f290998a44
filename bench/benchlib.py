"""benchlib.py - what bench/run.py and bench/wake.py share: the floors
(bench/floor.c behind the stack's nginx) and a Bot API stand-in.

The Bot API stand-in (tests/integration/tgstub.py) writes each answer in two
send()s (headers, then body) on a socket without TCP_NODELAY. On a kept-alive
connection the body then waits for the client's delayed ACK, so every Bot API
call of a worker stalls about 40 ms - a property of the stand-in, not of
Telegram or of Loopgate, and it would cap delivery at about 25 calls/s per
delivery thread. telegram_stub() starts the stand-in with TCP_NODELAY set on
each accepted connection; nothing else about it changes (limits, records).
"""
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


# ---------------------------------------------------------------- floors

FLOOR_LOCATION = """location = /floor/%(mode)s {
    fastcgi_pass unix:%(sock)s;
    include %(root)s/nginx/loopgate-fastcgi.conf;
}
"""


class Floors:
    """bench/floor.c in the given modes, each its own master + 2 workers behind the stack's nginx."""

    def __init__(self, binary, stack, threads, modes):
        self.binary = os.path.abspath(binary)
        self.stack = stack
        self.threads = threads
        self.dir = os.path.join(stack.var, "floor")
        self.procs = {}
        self.MODES = tuple(modes)

    def sock(self, mode):
        return os.path.join(self.dir, "%s.sock" % mode)

    def write_nginx_conf(self):
        """Before stack.start(): nginx includes <var>/nginx/extra/*.conf in its server block."""
        os.makedirs(self.dir, exist_ok=True)
        extra = os.path.join(self.stack.var, "nginx", "extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "floor.conf"), "w") as f:
            for m in self.MODES:
                f.write(FLOOR_LOCATION % {"mode": m, "sock": self.sock(m), "root": ROOT})

    def start(self):
        for m in self.MODES:
            log = open(os.path.join(self.stack.var, "log", "floor-%s.log" % m), "ab")
            self.procs[m] = subprocess.Popen(
                [self.binary, "--socket", self.sock(m), "--mode", m, "--threads",
                 str(self.threads), "--workers", "2", "--db", self.stack.db_uri],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            log.close()
        for m in self.MODES:
            lg.wait_for(lambda: os.path.exists(self.sock(m)), 10, "floor %s socket" % m)

    def worker_pids(self, mode):
        """The worker processes of one mode's master."""
        pid = self.procs[mode].pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
