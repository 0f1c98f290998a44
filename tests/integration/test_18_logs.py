"""Logs: one access line per request at info with the request id nginx made
(and answered as X-Request-Id); values escaped so a caller cannot add a field
or a line; log_format = json writes a JSON object a line; a refused API key
or login is logged with its reason and never with the key or token."""
import http.client
import json
import os
import re
import signal

from lg import ROOT, eq, ok, wait_for

FORGED = '/x" level=error msg="forged\nnext level=error \x1b[31m'
FORGED_URL = "/x%22%20level=error%20msg=%22forged%0Anext%20level=error%20%1B[31m"


def parse_logfmt(line):
    """The fields of a logfmt line as a parser reads them: [(key, value)]; the
    leading timestamp is skipped. Fails on anything not key=value."""
    out = []
    i = line.index(" ") + 1
    while i < len(line):
        m = re.compile(r'([A-Za-z0-9_.-]+)=').match(line, i)
        ok(m, "not key=value at %d of %r" % (i, line))
        key, i = m.group(1), m.end()
        if i < len(line) and line[i] == '"':
            i += 1
            val = []
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                val.append(line[i])
                i += 1
            i += 1
            val = "".join(val)
        else:
            j = line.find(" ", i)
            j = len(line) if j < 0 else j
            val, i = line[i:j], j
        out.append((key, val))
        if i < len(line):
            eq(line[i], " ", "fields separated by one space in %r" % line)
            i += 1
    return out


def unescape(v):
    """The text a logfmt value stands for (\\n, \\t, \\xNN, \\u{XXXX} read back)."""
    def sub(m):
        e = m.group(0)
        if e[1] == "x":
            return chr(int(e[2:], 16))
        if e[1] == "u":
            return chr(int(e[3:-1], 16))
        return {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}[e[1]]
    return re.sub(r'\\(x[0-9a-f]{2}|u\{[0-9A-F]+\}|[ntr"\\])', sub, v)


def raw_value(line, key):
    """The raw (still escaped) quoted value of `key` in a logfmt line."""
    m = re.search(r' %s="((?:[^"\\]|\\.)*)"' % re.escape(key), line)
    ok(m, "no quoted %s in %r" % (key, line))
    return m.group(1)


def lines_with(s, needle, since=0):
    return [l for l in s.worker_log()[since:].splitlines() if needle in l]


def _access_line(s, rid, since=0):
    return wait_for(lambda: next((l for l in lines_with(s, rid, since)
                                  if 'msg="request"' in l or '"msg":"request"' in l), None),
                    10, "the access line of %s" % rid)


def _nginx_hup(s):
    with open(os.path.join(s.var, "run", "nginx.pid")) as f:
        os.kill(int(f.read().strip()), signal.SIGHUP)


def test_access_line_carries_nginx_request_id(s):
    # nginx names its own $request_id in a header of a location of ours, so the
    # test sees that the worker answered and logged nginx's id, not one it made.
    extra = os.path.join(s.var, "nginx", "extra", "lgtest_rid.conf")
    with open(extra, "w") as f:
        f.write("location = /lgtest/request-id {\n"
                "    add_header X-Nginx-Request-Id $request_id always;\n"
                "    fastcgi_pass loopgate;\n"
                "    include %s/nginx/loopgate-fastcgi.conf;\n}\n" % ROOT)
    _nginx_hup(s)
    try:
        r = wait_for(lambda: (lambda r: r if r.header("X-Nginx-Request-Id") else None)(
            s.get("/lgtest/request-id")), 10, "nginx to load the test location")
        eq(r.status, 404)
        rid = r.header("X-Request-Id")
        ok(re.fullmatch(r"[0-9a-f]{32}", rid or ""), "X-Request-Id %r" % rid)
        eq(rid, r.header("X-Nginx-Request-Id"), "the worker answered nginx's request id")
        f = dict(parse_logfmt(_access_line(s, rid)))
        eq(f["level"], "info")
        eq(f["method"], "GET")
        eq(f["route"], "(none)")
        eq(f["path"], "/lgtest/request-id")
        eq(f["status"], "404")
        eq(f["tenant"], "-")
        eq(f["request_id"], rid)
        ok(float(f["duration_ms"]) >= 0, repr(f))
    finally:
        os.unlink(extra)
        _nginx_hup(s)
    # every kind of answer carries it: JSON, empty, and an event stream
    r = s.post("/hitl/register", {"session_id": "logs", "client_id": "agent", "telegram_id": 7})
    eq(r.status, 200)
    ok(re.fullmatch(r"[0-9a-f]{32}", r.header("X-Request-Id") or ""), repr(r.headers))
    f = dict(parse_logfmt(_access_line(s, r.header("X-Request-Id"))))
    eq((f["method"], f["route"], f["status"], f["tenant"]),
       ("POST", "/hitl/register", "200", "default"))
    # an answer without a body (a redirect), and a refused Telegram sign-in logged
    r = s.get("/console/api/telegram-login?id=1&hash=00")
    eq(r.status, 303, repr(r))
    rid = r.header("X-Request-Id")
    ok(re.fullmatch(r"[0-9a-f]{32}", rid or ""), repr(r.headers))
    l = wait_for(lambda: next(iter(l for l in lines_with(s, rid) if "telegram login refused" in l),
                              None), 10, "the refused Telegram sign-in logged")
    f = dict(parse_logfmt(l))
    eq((f["level"], f["remote"]), ("warn", "127.0.0.1"))
    # an event stream: the headers come at once
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        conn.request("GET", "/hitl/events", headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        eq(resp.status, 200)
        eq(resp.getheader("Content-Type"), "text/event-stream")
        ok(re.fullmatch(r"[0-9a-f]{32}", resp.getheader("X-Request-Id") or ""),
           repr(resp.getheaders()))
    finally:
        conn.close()
    ids = set()
    for _ in range(3):
        ids.add(s.get("/livez").header("X-Request-Id"))
    eq(len(ids), 3, "each request has its own id")


def test_forged_path_cannot_add_fields_or_lines(s):
    before = len(s.worker_log())
    r = s.get(FORGED_URL)
    eq(r.status, 404, repr(r))
    rid = r.header("X-Request-Id")
    line = _access_line(s, rid, before)
    fields = parse_logfmt(line)
    keys = [k for k, _ in fields]
    eq(keys.count("level"), 1, "fields %r" % keys)
    eq(keys.count("msg"), 1, "fields %r" % keys)
    eq(dict(fields)["level"], "info")
    path = raw_value(line, "path")
    ok("\n" not in path and "\x1b" not in path, repr(path))
    eq(unescape(path), FORGED)
    # nothing of the path starts a line of its own
    for l in s.worker_log()[before:].splitlines():
        ok(not l.startswith("next"), "a forged line: %r" % l)
        ok(re.match(r"\d{4}-\d\d-\d\dT\S+Z level=(debug|info|warn|error) pid=\d+ msg=", l),
           "a line that is not the logger's: %r" % l)


def test_bad_key_logged_without_the_key(s):
    before = len(s.worker_log())
    ours = "lg_" + "0123456789abcdef0123456789abcdef01234567"
    foreign = "sk-live-very-secret-token-of-another-service"
    r1 = s.get("/hitl/pending", headers={"Authorization": "Bearer " + ours})
    eq(r1.status, 401)
    r2 = s.get("/hitl/pending", headers={"X-API-Key": foreign})
    eq(r2.status, 401)
    l1 = wait_for(lambda: next(iter(l for l in lines_with(s, r1.header("X-Request-Id"), before)
                                    if "API key refused" in l), None), 10, "the refusal logged")
    f = dict(parse_logfmt(l1))
    eq(f["level"], "warn")
    eq(f["reason"], "unknown_or_revoked")
    eq(f["key_prefix"], ours[:11])
    eq(f["remote"], "127.0.0.1")
    eq(f["route"], "/hitl/pending")
    l2 = wait_for(lambda: next(iter(l for l in lines_with(s, r2.header("X-Request-Id"), before)
                                    if "API key refused" in l), None), 10, "the refusal logged")
    f = dict(parse_logfmt(l2))
    eq(f["key_prefix"], "-", "nothing of a key that is not ours")
    eq(f["key_length"], str(len(foreign)))
    # a console sign-in with a link that is not one
    token = "not-a-link-" + "x" * 40
    r3 = s.post("/console/api/login", {"token": token})
    eq(r3.status in (401, 429), True, repr(r3))
    l3 = wait_for(lambda: next(iter(l for l in lines_with(s, r3.header("X-Request-Id"), before)
                                    if "console login refused" in l), None), 10, "the refusal logged")
    f = dict(parse_logfmt(l3))
    eq(f["level"], "warn")
    ok(f["reason"] in ("malformed_link", "rate_limited"), repr(f))
    eq(f["remote"], "127.0.0.1")
    log = s.worker_log()[before:]
    for secret in (ours, ours[11:], foreign, foreign[:12], token):
        ok(secret not in log, "%r is in the log" % secret)


def test_json_format(s):
    s.stop()
    s.start(LOOPGATE_LOG_FORMAT="json")
    try:
        before = len(s.worker_log())
        r = s.get(FORGED_URL)
        rid = r.header("X-Request-Id")
        r2 = s.get("/hitl/pending", headers={"X-API-Key": "lg_" + "f" * 40})
        eq(r2.status, 401)
        wait_for(lambda: lines_with(s, r2.header("X-Request-Id"), before), 10, "the lines written")
        objs = []
        for l in s.worker_log()[before:].splitlines():
            o = json.loads(l)
            ok(isinstance(o, dict), repr(l))
            ok({"ts", "level", "pid", "msg"} <= set(o), repr(o))
            objs.append(o)
        access = [o for o in objs if o["msg"] == "request" and o.get("request_id") == rid]
        eq(len(access), 1, "one access line for %s" % rid)
        a = access[0]
        eq(a["level"], "info")
        eq(a["path"], FORGED)
        eq(a["status"], 404)
        ok(isinstance(a["duration_ms"], (int, float)), repr(a))
        eq(a["route"], "(none)")
        refused = [o for o in objs if o["msg"] == "API key refused"]
        eq(len(refused), 1, repr(refused))
        eq(refused[0]["key_prefix"], "lg_ffffffff")
        eq(refused[0]["request_id"], r2.header("X-Request-Id"))
        ok("f" * 20 not in s.worker_log()[before:], "the key is in the log")
    finally:
        s.stop()
        s.start(LOOPGATE_LOG_FORMAT="logfmt")
