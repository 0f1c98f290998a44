"""CORS for browser agents: cors_allowed_origins opens the agent API to the
pages of listed origins (Access-Control-* on every answer, preflights
answered through nginx by the workers), refuses a preflight from any other,
leaves the console and the Telegram webhook alone, keeps MCP's Origin and
Host checks, applies a changed list on SIGHUP, and `*` is refused without
auth = required.

The shared stack runs without the key first (no CORS at all); then it is
restarted with keys required and a config file of the test's own, and
restarted as it was at the end.
"""
import http.client
import http.server
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

from lg import ROOT, eq, error_is, free_port, ok, wait_for

APP = "https://app.example.test"
DEV = "http://localhost:5173"
EVIL = "https://evil.example.test"
OTHER = "https://other.example.test"

ALLOW_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key",
                 "Mcp-Session-Id", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name",
                 "Last-Event-ID", "X-Loopgate-Session", "X-Loopgate-Wait"]


def preflight(s, path, origin, method="POST", headers="authorization, content-type"):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return s.request("OPTIONS", path, headers=h)


def no_cors(r, what):
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                 "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"):
        eq(r.header(name), None, "%s: %s" % (what, name))


def cors_for(r, origin, what):
    eq(r.header("Access-Control-Allow-Origin"), origin, what + ": Allow-Origin")
    if origin != "*":
        ok("Origin" in (r.header("Vary") or ""), what + ": Vary: Origin, got %r" % r.headers)
    exposed = [h.strip() for h in (r.header("Access-Control-Expose-Headers") or "").split(",")]
    for h in ("X-Request-Id", "Mcp-Session-Id", "Retry-After", "WWW-Authenticate"):
        ok(h in exposed, "%s: %s exposed, got %r" % (what, h, exposed))
    eq(r.header("Access-Control-Allow-Credentials"), None, what + ": never credentials")


def test_no_cors_without_config(s):
    r = s.get("/hitl/pending", headers={"Origin": APP})
    eq(r.status, 200)
    no_cors(r, "GET without cors_allowed_origins")
    eq(r.header("Vary"), None, "no Vary without CORS")
    # A preflight reaches the workers (nginx passes OPTIONS) and is refused.
    r = preflight(s, "/hitl/request", APP)
    error_is(r, 403, "forbidden_origin", "cors_allowed_origins")
    no_cors(r, "preflight without cors_allowed_origins")
    # OPTIONS that is no preflight stays a 405 with its Allow list.
    r = s.request("OPTIONS", "/hitl/request")
    error_is(r, 405, "method_not_allowed")
    eq(r.header("Allow"), "POST")


def test_star_refused_without_auth(s):
    d = tempfile.mkdtemp(prefix="lgcors.")
    try:
        env = dict(os.environ, LOOPGATE_AUTH="off", LOOPGATE_CORS_ALLOWED_ORIGINS="*")
        env.pop("LOOPGATE_CONFIG", None)
        p = subprocess.Popen([s.binary, "serve", "--config", os.path.join(ROOT, "conf/loopgate.conf"),
                              "--socket", os.path.join(d, "lg.sock")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("loopgate serve started with cors_allowed_origins = * and auth off")
        eq(p.returncode, 2, "exit status: %s" % err)
        ok("cors_allowed_origins" in err and "auth = required" in err, err)
        # A list with a path, or `*` beside an origin, is no list of origins.
        for bad in ("https://app.example.test/", "app.example.test", "*, https://a.example.test"):
            env.update(LOOPGATE_AUTH="required", LOOPGATE_CORS_ALLOWED_ORIGINS=bad)
            r = subprocess.run([s.binary, "serve", "--config",
                                os.path.join(ROOT, "conf/loopgate.conf"),
                                "--socket", os.path.join(d, "lg.sock")],
                               env=env, capture_output=True, text=True, timeout=20)
            eq(r.returncode, 2, "%r: %s" % (bad, r.stderr))
            ok("cors_allowed_origins" in r.stderr, r.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _reload(s, at):
    n = 1 + len(s.worker_pids())
    os.kill(s.master_pid(), signal.SIGHUP)
    wait_for(lambda: s.worker_log()[at:].count('msg="configuration reloaded"') >= n, 20,
             "%d processes to reload: %s" % (n, s.worker_log()[at:][-2000:]))


def _events_head(s, origin, key):
    """The head of an event stream opened from `origin` (the stream is left at once)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=15)
    try:
        conn.request("GET", "/hitl/events", headers={"Origin": origin, "X-API-Key": key})
        r = conn.getresponse()
        return r.status, r.getheaders()
    finally:
        conn.close()


class _Page(http.server.BaseHTTPRequestHandler):
    """An empty page: the origin a browser agent runs on."""

    def do_GET(self):
        body = b"<!doctype html><title>agent</title><p>a browser agent</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def _browser_agent(s, page_port, key):
    """Chromium: the page on the listed origin (127.0.0.1:page_port) calls the
    API; the same page on localhost:page_port, not listed, cannot."""
    from test_16_browser import browser
    res = browser(s, "cors", page="http://127.0.0.1:%d/" % page_port,
                  other="http://localhost:%d/" % page_port, key=key)
    got = res["listed"]
    eq(got["submit"]["status"], 200, "the page's submit: %r" % got)
    rid = got["submit"]["body"]["request_id"]
    eq(s.sql("SELECT tenant, message FROM requests WHERE id = :'p1'", rid),
       [["corsten", "Asked from http://127.0.0.1:%d" % page_port]])
    eq((got["poll"]["status"], got["poll"]["body"]["status"]), (200, "pending"))
    eq(got["mcp"]["status"], 200, "the page's MCP initialize: %r" % got)
    ok(re.fullmatch(r"[0-9a-f]{64}", got["mcp"]["session"] or ""),
       "the page reads Mcp-Session-Id: %r" % got["mcp"])
    eq(got["unauthorized"]["status"], 401, "the page reads a 401: %r" % got)
    other = res["unlisted"]
    for name in ("submit", "poll", "unauthorized"):
        ok("failed" in other[name], "an unlisted origin's %s is kept from the page: %r"
           % (name, other[name]))
    # The preflight stopped the unlisted page's submit before it was sent.
    eq(s.scalar("SELECT count(*) FROM requests WHERE message LIKE 'Asked from http://localhost:%'"),
       "0")


def test_cors_allowed_origins(s):
    d = tempfile.mkdtemp(prefix="lgcors.")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "loopgate.conf")
    page_port = free_port()
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), _Page)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    with open(os.path.join(ROOT, "conf/loopgate.conf")) as f:
        base = f.read()
    with open(conf, "w") as f:
        f.write(base + '\ncors_allowed_origins = "%s, %s, http://127.0.0.1:%d"\n'
                % (APP, DEV, page_port))
    s.stop()
    s.start(LOOPGATE_CONFIG=conf, LOOPGATE_AUTH="required")
    try:
        key = s.new_key("corsten", "cors-agent")
        K = {"X-API-Key": key}

        # 1. Preflights from a listed origin: 204 from the workers, through nginx.
        r = preflight(s, "/hitl/request", APP,
                      headers="authorization, content-type, idempotency-key")
        eq(r.status, 204, "preflight: %r %r" % (r, r.headers))
        eq(r.raw, "")
        cors_for(r, APP, "preflight")
        eq(r.header("Access-Control-Allow-Methods"), "POST")
        allowed = [h.strip() for h in r.header("Access-Control-Allow-Headers").split(",")]
        for h in ALLOW_HEADERS:
            ok(h in allowed, "%s in Allow-Headers %r" % (h, allowed))
        ok(int(r.header("Access-Control-Max-Age")) > 0, "a Max-Age")
        r = preflight(s, "/mcp", DEV, headers="mcp-session-id, mcp-protocol-version, content-type")
        eq(r.status, 204, "MCP preflight: %r" % r)
        cors_for(r, DEV, "MCP preflight")
        eq(sorted(m.strip() for m in r.header("Access-Control-Allow-Methods").split(",")),
           ["DELETE", "GET", "POST"])
        for path, method in (("/v1/hooks/claude-code", "POST"), ("/sessions/register", "POST"),
                             ("/hitl/poll", "GET"), ("/v1/policies/abc", "DELETE")):
            r = preflight(s, path, APP, method=method)
            eq(r.status, 204, "preflight of %s: %r" % (path, r))
            cors_for(r, APP, "preflight of " + path)

        # 2. A preflight from another origin: 403 JSON, no CORS headers.
        r = preflight(s, "/hitl/request", EVIL)
        error_is(r, 403, "forbidden_origin", "cors_allowed_origins")
        no_cors(r, "refused preflight")
        ok("Origin" in (r.header("Vary") or ""), "Vary: Origin on a refusal")
        # An origin is matched exactly: another scheme or port is another origin.
        for origin in ("http://app.example.test", "https://app.example.test:8443", "null"):
            r = preflight(s, "/hitl/request", origin)
            error_is(r, 403, "forbidden_origin")

        # 3. Not the console (its cookie and CSRF token stay same-origin), not
        #    the Telegram webhook, not /health.
        for path in ("/console/api/me", "/console/api/login", "/telegram/webhook", "/health"):
            r = preflight(s, path, APP)
            eq(r.status, 405, "preflight of %s: %r" % (path, r))
            no_cors(r, "preflight of " + path)
        r = s.get("/console/api/me", headers={"Origin": APP})
        eq(r.status, 401)
        no_cors(r, "console answer")

        # 4. Real answers carry the headers: successes, errors, 401s.
        r = s.post("/hitl/register", {"session_id": "cors", "client_id": "web",
                                      "telegram_id": 7100000001}, headers=dict(K, Origin=APP))
        eq(r.status, 200, "register: %r" % r)
        cors_for(r, APP, "register")
        r = s.post("/hitl/request", {"session_id": "cors", "client_id": "web",
                                     "message": "From the browser?"},
                   headers=dict(K, Origin=APP, **{"Idempotency-Key": "cors-1"}))
        eq(r.status, 200, "submit: %r" % r)
        cors_for(r, APP, "submit")
        rid = r.json["request_id"]
        eq(s.sql("SELECT tenant, session_id, message FROM requests WHERE id = :'p1'", rid),
           [["corsten", "cors", "From the browser?"]])
        r = s.get("/hitl/poll?request_id=" + rid, headers=dict(K, Origin=DEV))
        eq((r.status, r.json["status"]), (200, "pending"))
        cors_for(r, DEV, "poll")
        r = s.post("/hitl/request", {"session_id": "cors"}, headers=dict(K, Origin=APP))
        eq(r.status, 400)
        cors_for(r, APP, "a 400")
        r = s.get("/hitl/pending", headers={"Origin": APP})
        error_is(r, 401, "unauthorized")
        cors_for(r, APP, "a 401 (the page can read why)")
        r = s.get("/hitl/nowhere", headers=dict(K, Origin=APP))
        eq(r.status, 404)
        cors_for(r, APP, "a 404")
        st, head = _events_head(s, APP, key)
        eq(st, 200)
        eq(dict((k.lower(), v) for k, v in head).get("access-control-allow-origin"), APP,
           "the event stream's head: %r" % head)

        # 4b. A real browser, fetch from a page on a listed origin and an unlisted one.
        _browser_agent(s, page_port, key)

        # 5. Another origin's request is served (keys decide who may act) but
        #    without CORS headers: the browser keeps the answer from the page.
        r = s.get("/hitl/pending", headers=dict(K, Origin=EVIL))
        eq(r.status, 200)
        no_cors(r, "another origin's GET")
        r = s.get("/hitl/pending", headers=K)
        eq(r.status, 200)
        no_cors(r, "no Origin")

        # 6. MCP: a listed origin passes its Origin check and reads the
        #    session id; any other is still refused, and a loopback listener
        #    still refuses a foreign Host (DNS rebinding).
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "browser", "version": "1"}}}
        mh = dict(K, Accept="application/json, text/event-stream")
        r = s.post("/mcp", init, headers=dict(mh, Origin=APP))
        eq(r.status, 200, "initialize: %r" % r)
        cors_for(r, APP, "MCP initialize")
        ok(re.fullmatch(r"[0-9a-f]{64}", r.header("Mcp-Session-Id") or ""), "a session id")
        r = s.post("/mcp", init, headers=dict(mh, Origin=EVIL))
        error_is(r, 403, "forbidden_origin")
        r = s.post("/mcp", init, headers=dict(mh, Origin=APP, Host="rebound.example.test"))
        error_is(r, 421, "misdirected_request")
        r = preflight(s, "/mcp", APP, headers=None)
        eq(r.status, 204)
        r = s.request("OPTIONS", "/mcp", headers={"Origin": APP, "Host": "rebound.example.test",
                                                  "Access-Control-Request-Method": "POST"})
        error_is(r, 421, "misdirected_request")

        # 7. A changed list applies on SIGHUP; `*` (keys are required here)
        #    answers any origin with `*`.
        local = conf  # the file the workers read (src/stack.sh)
        at = len(s.worker_log())
        with open(local, "a") as f:
            f.write('\ncors_allowed_origins = "%s"\n' % OTHER)
        _reload(s, at)
        eq(preflight(s, "/hitl/request", OTHER).status, 204)
        error_is(preflight(s, "/hitl/request", APP), 403, "forbidden_origin")
        cors_for(s.get("/hitl/pending", headers=dict(K, Origin=OTHER)), OTHER, "after reload")
        at = len(s.worker_log())
        with open(local, "a") as f:
            f.write("\ncors_allowed_origins = *\n")
        _reload(s, at)
        r = preflight(s, "/hitl/request", EVIL)
        eq(r.status, 204)
        cors_for(r, "*", "preflight under *")
        r = s.get("/hitl/pending", headers=dict(K, Origin=EVIL))
        eq(r.status, 200)
        cors_for(r, "*", "GET under *")
        # `*` names no origin for MCP's check.
        error_is(s.post("/mcp", init, headers=dict(mh, Origin=EVIL)), 403, "forbidden_origin")
    finally:
        pages.shutdown()
        pages.server_close()
        s.stop()
        s.extra_env.pop("LOOPGATE_CONFIG", None)
        s.extra_env.pop("LOOPGATE_AUTH", None)
        s.start()
        shutil.rmtree(d, ignore_errors=True)
