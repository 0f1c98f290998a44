"""hookrecv.py - an agent's webhook receiver on 127.0.0.1 for the tests.

Records every POST (headers, raw body, time), answers 200 (or what the test
asks), and can go down and come back on the same port to test retries.
"""
import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time


class Receiver:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.calls = []
        self.status = 200
        self.lock = threading.Lock()
        self.server = None
        self.port = None
        self._start(0)

    def _start(self, port):
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rec.lock:
                    rec.calls.append({"path": self.path, "headers": dict(self.headers.items()),
                                      "body": body, "time": time.monotonic()})
                    status = rec.status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        self.server = Server((self.host, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d/hook" % (host, self.port)

    def go_down(self):
        self.server.shutdown()
        self.server.server_close()

    def come_back(self):
        self._start(self.port)

    def stop(self):
        self.go_down()

    def wait_calls(self, n, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if len(self.calls) >= n:
                    return list(self.calls)
            time.sleep(0.05)
        raise AssertionError("webhook receiver: %d calls after %ss, wanted %d"
                             % (len(self.calls), timeout, n))


class Hanging:
    """Accepts connections and never answers; counts them and the most open at once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.accepted = 0
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
                self.accepted += 1

    def open_now(self):
        """Connections the peer has not closed (a closed one reads EOF)."""
        with self.lock:
            alive = []
            for c in self.conns:
                c.setblocking(False)
                try:
                    while True:
                        data = c.recv(65536)
                        if not data:
                            c.close()
                            break
                except BlockingIOError:
                    alive.append(c)
                except OSError:
                    c.close()
            self.conns = alive
            return len(alive)

    @property
    def url(self):
        return "http://127.0.0.1:%d/hang" % self.port

    def stop(self):
        self.stopped = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()
            self.conns = []


def secret_key(secret):
    """The HMAC key of a secret as `loopgate apikey webhook-secret` prints it
    (whsec_ + base64); any other text is its own key (a secret kept from
    before Standard Webhooks)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[6:], validate=True)
    return secret.encode()


def verify(call, secret, max_age=300):
    """Check a webhook the way docs/API.md tells agents to (both schemes);
    returns the parsed body."""
    h = {k.lower(): v for k, v in call["headers"].items()}
    key = secret_key(secret)
    ts = h["x-loopgate-timestamp"]
    want = "sha256=" + hmac.new(key, ts.encode() + b"." + call["body"],
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, h["x-loopgate-signature"]):
        raise AssertionError("bad signature: %r" % h)
    msg = h["webhook-id"].encode() + b"." + h["webhook-timestamp"].encode() + b"." + call["body"]
    v1 = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    if not any(hmac.compare_digest(v1, s) for s in h["webhook-signature"].split(" ")):
        raise AssertionError("bad webhook-signature: %r" % h)
    if h["webhook-timestamp"] != ts:
        raise AssertionError("two timestamps: %r" % h)
    if abs(time.time() - int(ts)) > max_age:
        raise AssertionError("stale timestamp %s" % ts)
    return json.loads(call["body"])
