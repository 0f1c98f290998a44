"""Every bad input gets a precise JSON error with the right status and leaves
the database exactly as it was."""
from lg import eq, ok, error_is, wait_for

GOOD = {"session_id": "errs", "client_id": "agent", "message": "ok?"}


def with_(**kw):
    b = dict(GOOD)
    for k, v in kw.items():
        if v is None:
            b.pop(k, None)
        else:
            b[k] = v
    return b


def setup(s):
    r = s.post("/hitl/register", {"session_id": "errs", "client_id": "agent", "telegram_id": 1})
    eq(r.status, 200)
    r = s.post("/hitl/register", {"session_id": "errs-off", "client_id": "agent", "telegram_id": 1})
    eq(r.status, 200)
    eq(s.post("/hitl/deactivate", {"session_id": "errs-off"}).status, 200)


def unchanged(s, call, status, code, mentions=None):
    before = s.counts()
    r = call()
    error_is(r, status, code, mentions)
    eq(s.counts(), before, "database after %s" % code)
    return r


def test_submit_errors(s):
    setup(s)
    cases = [
        # (body bytes, content type, status, code, mentions)
        (b'{"session_id": "errs", ', "application/json", 400, "invalid_json", "line 1"),
        (b"", "application/json", 400, "invalid_json", None),
        (b"[1,2]", "application/json", 400, "invalid_json", "object"),
        (b'{"session_id":"errs","session_id":"x","client_id":"a","message":"m"}',
         "application/json", 400, "invalid_json", "duplicate"),
        (b'{"session_id":"errs","client_id":"a","message":"\xff\xfe"}', "application/json",
         400, "invalid_utf8", None),
        (b'{"session_id":"errs","client_id":"a","message":"\xc0\xaf"}', "application/json",
         400, "invalid_utf8", None),
        (b'{"session_id":"errs","client_id":"a","message":"a\\u0000b"}', "application/json",
         400, "invalid_json", None),
    ]
    for body, ct, status, code, mentions in cases:
        unchanged(s, lambda: s.request("POST", "/hitl/request", body=body,
                                       headers={"Content-Type": ct}), status, code, mentions)
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        unchanged(s, lambda: s.request("POST", "/hitl/request", body=b"{}",
                                       headers={"Content-Type": ct}), 415,
                  "unsupported_media_type", ct.split(";")[0])
    unchanged(s, lambda: s.request("POST", "/hitl/request", body=b"{}"), 415,
              "unsupported_media_type")
    # Charset parameter is fine.
    r = s.request("POST", "/hitl/request", body=b'{"session_id":"errs","client_id":"a","message":"m"}',
                  headers={"Content-Type": "application/json; charset=utf-8"})
    eq(r.status, 200, repr(r))

    big = b'{"session_id":"errs","client_id":"a","message":"' + b"x" * 70000 + b'"}'
    unchanged(s, lambda: s.request("POST", "/hitl/request", body=big,
                                   headers={"Content-Type": "application/json"}), 413,
              "payload_too_large", "65536")
    huge = b"x" * (2 * 1024 * 1024)
    unchanged(s, lambda: s.request("POST", "/hitl/request", body=huge,
                                   headers={"Content-Type": "application/json"}), 413,
              "payload_too_large")

    field_cases = [
        (with_(session_id=None), 400, "missing_field", "session_id"),
        (with_(client_id=None), 400, "missing_field", "client_id"),
        (with_(message=None), 400, "missing_field", "message"),
        (with_(message=""), 400, "missing_field", "message"),
        (with_(session_id=5), 400, "invalid_field", "session_id"),
        (with_(message=["x"]), 400, "invalid_field", "message"),
        (with_(session_id="a\nb"), 400, "invalid_field", "session_id"),
        (with_(session_id="s" * 129), 400, "invalid_field", "session_id"),
        (with_(message="m" * 16385), 400, "invalid_field", "message"),
        (with_(options="Yes"), 400, "invalid_field", "options"),
        (with_(options=["o%d" % i for i in range(11)]), 400, "invalid_field", "options"),
        (with_(options=["ok", "x" * 65]), 400, "invalid_field", "options[1]"),
        (with_(options=["ok", ""]), 400, "invalid_field", "options[1]"),
        (with_(options=["ok", 3]), 400, "invalid_field", "options[1]"),
        (with_(options=["same", "same"]), 400, "invalid_field", "options[1]"),
        (with_(metadata=[1]), 400, "invalid_field", "metadata"),
        (with_(metadata="x"), 400, "invalid_field", "metadata"),
        (with_(metadata={"blob": "y" * 9000}), 400, "invalid_field", "metadata"),
        (with_(timeout_seconds=86401), 400, "invalid_field", "timeout_seconds"),
        (with_(timeout_seconds=-1), 400, "invalid_field", "timeout_seconds"),
        (with_(timeout_seconds="60"), 400, "invalid_field", "timeout_seconds"),
        (with_(timeout_seconds=1.5), 400, "invalid_field", "timeout_seconds"),
        (with_(request_type="poll"), 400, "invalid_field", "request_type"),
        (with_(request_type="choice"), 400, "invalid_field", "choice"),
        (with_(on_timeout="maybe"), 400, "invalid_field", "on_timeout"),
        (with_(callback_url="ftp://x"), 400, "invalid_field", "callback_url"),
        (with_(session_id="nobody"), 404, "session_not_found", "nobody"),
        (with_(session_id="errs-off"), 409, "session_inactive", "errs-off"),
    ]
    for body, status, code, mentions in field_cases:
        unchanged(s, lambda: s.post("/hitl/request", body), status, code, mentions)
    # Exactly at the limits is accepted.
    r = s.post("/hitl/request", with_(options=["o%d" % i for i in range(9)] + ["\U0001F680" * 64],
                                      metadata={"blob": "y" * 8000}, timeout_seconds=86400,
                                      message="\u00e9" * 16384))
    eq(r.status, 200, repr(r))


def test_register_errors(s):
    base = {"session_id": "reg-err", "client_id": "c", "telegram_id": 7}
    cases = [
        (dict(base, telegram_id=0), 400, "invalid_field", "telegram_id"),
        (dict(base, telegram_id="abc"), 400, "invalid_field", "telegram_id"),
        (dict(base, telegram_id=1.5), 400, "invalid_field", "telegram_id"),
        (dict(base, client_id=None), 400, "missing_field", "client_id"),
        (dict(base, approvers="7"), 400, "invalid_field", "approvers"),
        (dict(base, approvers=[7, "x"]), 400, "invalid_field", "approvers[1]"),
        (dict(base, approvers=[-5]), 400, "invalid_field", "approvers[0]"),
    ]
    for body, status, code, mentions in cases:
        body = {k: v for k, v in body.items() if v is not None}
        unchanged(s, lambda: s.post("/hitl/register", body), status, code, mentions)
    # telegram_id null is refused; left out, the session is console-only (test_16)
    unchanged(s, lambda: s.post("/hitl/register", dict(base, telegram_id=None)), 400,
              "missing_field", "telegram_id")
    unchanged(s, lambda: s.request("POST", "/hitl/register",
                                   body=b'{"session_id":"x","client_id":"c","telegram_id":99999999999999999999}',
                                   headers={"Content-Type": "application/json"}), 400, "invalid_json")
    unchanged(s, lambda: s.request("POST", "/sessions/register", body=b"session_id=x",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"}),
              415, "unsupported_media_type")


def test_query_errors(s):
    setup(s)
    unchanged(s, lambda: s.get("/hitl/poll"), 400, "missing_parameter", "request_id")
    unchanged(s, lambda: s.get("/hitl/poll?request_id="), 400, "missing_parameter", "request_id")
    unchanged(s, lambda: s.get("/hitl/poll?request_id=abc"), 400, "invalid_parameter", "request_id")
    unchanged(s, lambda: s.get("/hitl/poll?request_id=%zz"), 400, "invalid_parameter", "request_id")
    unchanged(s, lambda: s.get("/hitl/poll?request_id=00000000-0000-0000-0000-000000000000"),
              404, "request_not_found")
    unchanged(s, lambda: s.get("/hitl/status"), 400, "missing_parameter", "session_id")
    unchanged(s, lambda: s.get("/hitl/status?session_id=ghost"), 404, "session_not_found", "ghost")
    unchanged(s, lambda: s.post("/hitl/deactivate", {"session_id": "ghost"}), 404, "session_not_found")
    unchanged(s, lambda: s.post("/hitl/deactivate", {}), 400, "missing_field", "session_id")
    unchanged(s, lambda: s.post("/hitl/cancel", {}), 400, "missing_field", "request_id")
    unchanged(s, lambda: s.post("/hitl/cancel", {"request_id": 12}), 400, "invalid_field", "request_id")
    unchanged(s, lambda: s.post("/hitl/cancel", {"request_id": "nope"}), 400, "invalid_field", "request_id")
    unchanged(s, lambda: s.post("/hitl/cancel", {"request_id": "00000000-0000-0000-0000-000000000000"}),
              404, "request_not_found")
    rid = s.post("/hitl/request", GOOD).json["request_id"]
    eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    unchanged(s, lambda: s.post("/hitl/cancel", {"request_id": rid}), 409, "request_not_pending",
              "canceled")


def test_routing_errors(s):
    r = unchanged(s, lambda: s.get("/hitl/nothing"), 404, "not_found")
    r = unchanged(s, lambda: s.request("DELETE", "/hitl/request"), 405, "method_not_allowed")
    eq(r.header("Allow"), "POST")
    r = unchanged(s, lambda: s.request("PUT", "/hitl/poll", body=b"{}"), 405, "method_not_allowed")
    eq(r.header("Allow"), "GET")
    r = unchanged(s, lambda: s.get("/hitl/request"), 405, "method_not_allowed")


def test_auth_errors(s):
    setup(s)
    unchanged(s, lambda: s.post("/hitl/request", GOOD, headers={"X-API-Key": "lg_wrong"}), 401,
              "unauthorized")
    r = unchanged(s, lambda: s.get("/hitl/pending", headers={"Authorization": "Bearer nope"}), 401,
                  "unauthorized")
    ok(r.header("WWW-Authenticate"), "401 carries WWW-Authenticate")
    unchanged(s, lambda: s.get("/hitl/pending", headers={"Authorization": "Basic dTpw"}), 401,
              "unauthorized", "Bearer")
    unchanged(s, lambda: s.get("/hitl/pending", headers={"X-API-Key": "k" * 500}), 401,
              "unauthorized")


def test_too_many_pending(s):
    # The test stack runs with MAX_CONCURRENT_REQUESTS=100, the default (run.py).
    key = s.new_key("limit-tenant")
    h = {"X-API-Key": key}
    eq(s.post("/hitl/register", {"session_id": "lim", "client_id": "c", "telegram_id": 3},
              headers=h).status, 200)
    ids = []
    for i in range(100):
        r = s.post("/hitl/request", {"session_id": "lim", "client_id": "c", "message": "m%d" % i},
                   headers=h)
        eq(r.status, 200, "request %d: %r" % (i, r))
        ids.append(r.json["request_id"])
    r = unchanged(s, lambda: s.post("/hitl/request", {"session_id": "lim", "client_id": "c",
                                                      "message": "one too many"}, headers=h),
                  429, "too_many_pending", "100")
    ok(r.header("Retry-After"), "429 carries Retry-After")
    # Another tenant is not limited by this one.
    eq(s.post("/hitl/request", GOOD).status, 200)
    eq(s.post("/hitl/cancel", {"request_id": ids[0]}, headers=h).status, 200)
    eq(s.post("/hitl/request", {"session_id": "lim", "client_id": "c", "message": "room"},
              headers=h).status, 200)
    # The limit reads a sharded counter kept by triggers: it matches the rows exactly,
    # through submits, a cancel, a decision and a timeout.
    tenant = "limit-tenant"
    s.sql("UPDATE requests SET status = 'completed', responded_at = now()"
          " WHERE id = :'p1'", ids[1])
    s.sql("UPDATE requests SET expires_at = now() WHERE id = :'p1'", ids[2])
    wait_for(lambda: s.scalar("SELECT status FROM requests WHERE id = :'p1'", ids[2]) == "timeout",
             10, "the expired request timed out")
    eq(s.scalar("SELECT COALESCE(sum(n), 0) FROM tenant_pending WHERE tenant = :'p1'", tenant),
       s.scalar("SELECT count(*) FROM requests WHERE tenant = :'p1' AND status = 'pending'",
                tenant))
    eq(s.scalar("SELECT count(*) FROM requests WHERE tenant = :'p1' AND status = 'pending'",
                tenant), "98")
    eq(s.post("/hitl/request", {"session_id": "lim", "client_id": "c", "message": "room"},
              headers=h).status, 200)
    eq(s.post("/hitl/request", {"session_id": "lim", "client_id": "c", "message": "room"},
              headers=h).status, 200)
    unchanged(s, lambda: s.post("/hitl/request", {"session_id": "lim", "client_id": "c",
                                                  "message": "one too many"}, headers=h),
              429, "too_many_pending", "100")


def test_malformed_request_lines_are_json_400(s):
    # nginx answers these itself, before any worker: a NUL or a bad escape in
    # the path, a lower-case or non-ASCII method. Its error page must be the
    # API's JSON, not nginx's own HTML 500 (a named error location cannot be
    # reached from a request line nginx could not parse).
    import json as _json
    import socket as _socket
    for line in (b"GET /hitl/%00 HTTP/1.1", b"GET /health%00 HTTP/1.1",
                 b"GET /hitl/request%00 HTTP/1.1", b"GET /hitl/..%2f..%2fetc HTTP/1.1",
                 b"GET /a%2 HTTP/1.1", b"post /hitl/request HTTP/1.1",
                 b"\xffX /hitl/request HTTP/1.1", b"\xffX /mcp HTTP/1.1"):
        with _socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        ok(400 <= status < 500, "%r answered %r" % (line, head[:80]))
        ok(b"application/json" in head, "%r answered %r" % (line, head))
        err = _json.loads(body)["error"]
        ok(err["code"] in ("bad_request", "not_found", "method_not_allowed"), "%r: %r" % (line, err))
