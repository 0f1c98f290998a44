"""hookrecv.py - an agent's webhook receiver on 127.0.0.1 for the tests.

Records every POST (headers, raw body, time), answers 200 (or what the test
asks), and can go down and come back on the same port to test retries.
"""
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time


class Receiver:
    def __init__(self):
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

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

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


def verify(call, secret, max_age=300):
    """Check a webhook the way docs/API.md tells agents to; returns the parsed body."""
    h = {k.lower(): v for k, v in call["headers"].items()}
    ts = h["x-loopgate-timestamp"]
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + call["body"],
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, h["x-loopgate-signature"]):
        raise AssertionError("bad signature: %r" % h)
    if abs(time.time() - int(ts)) > max_age:
        raise AssertionError("stale timestamp %s" % ts)
    return json.loads(call["body"])
