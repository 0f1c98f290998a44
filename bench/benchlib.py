"""benchlib.py - what bench/run.py and bench/wake.py share.

The Bot API stand-in (tests/integration/tgstub.py) writes each answer in two
send()s (headers, then body) on a socket without TCP_NODELAY. On a kept-alive
connection the body then waits for the client's delayed ACK, so every Bot API
call of a worker stalls about 40 ms - a property of the stand-in, not of
Telegram or of Loopgate, and it would cap delivery at about 25 calls/s per
delivery thread. telegram_stub() starts the stand-in with TCP_NODELAY set on
each accepted connection; nothing else about it changes (limits, records).
"""
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

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
