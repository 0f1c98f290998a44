"""Signing in to the console through Telegram: with console_login_button on,
every request message carries a login_url button "Open in console" ("Read it
all" on a message cut to fit) under its own buttons, which stay as they were;
GET /console/api/telegram-login, through nginx, takes Telegram's signed data
(signed here with the stand-in's bot token, as Telegram signs it) once,
while fresh, for a person the console would show the request to, and
answers a 303 with a console session cookie, or a 303 to the page's error.
A domain not linked to the bot never keeps a message from being sent."""
import hashlib
import hmac
import http.client
import itertools
import os
import time
import urllib.parse

from lg import Response, chat, eq, ok, wait_for
from test_07_telegram import OK, NO, ASK, register, submit, sent, buttons

ANN, BOB, CAROL, ADMIN = 1601, 1602, 1603, 1604
DOMAIN = "hitl.example.test"
LOGIN = "/console/api/telegram-login"


def button_on(s, on=True):
    """Restart the stack with console_login_button on (and ADMIN in console_admins), or off."""
    want = "on" if on else "off"
    if s.extra_env.get("LOOPGATE_CONSOLE_LOGIN_BUTTON", "off") == want and s.running:
        return
    s.stop()
    s.start(LOOPGATE_CONSOLE_LOGIN_BUTTON=want, LOOPGATE_CONSOLE_ADMINS=str(ADMIN))
    s.tg.login_domain = DOMAIN


def signed(s, fields):
    """`fields` with the hash Telegram adds: HMAC-SHA-256 of the sorted key=value
    lines under SHA-256 of the bot token."""
    check = "\n".join("%s=%s" % (k, fields[k]) for k in sorted(fields))
    key = hashlib.sha256(s.tg.token.encode()).digest()
    out = dict(fields)
    out["hash"] = hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    return out


def login_path(s, rid, uid, first_name="Ann", age=0, tamper=None, **extra):
    """The URL Telegram opens: our ?r=<rid>, then the person's signed data."""
    fields = {"id": str(uid), "first_name": first_name, "auth_date": str(int(time.time()) - age)}
    fields.update(extra)
    data = signed(s, fields)
    if tamper:
        data.update(tamper)
    q = ("r=%s&" % rid if rid is not None else "") + urllib.parse.urlencode(data)
    return LOGIN + "?" + q


_addresses = itertools.count(2)


def browser(s):
    """A GET from a loopback address of its own: logins are rate-limited per client
    address, so each test signs in from another one."""
    src = "127.0.%d.%d" % divmod(next(_addresses), 250)

    def get(path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30,
                                          source_address=(src, 0))
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read().decode("utf-8", "replace"))
        finally:
            conn.close()
    return get


def cookie_of(resp):
    for k, v in resp.headers:
        if k.lower() == "set-cookie" and v.startswith("lg_console="):
            return v.split(";", 1)[0]
    return None


def refused_with(resp, code):
    eq(resp.status, 303, repr(resp))
    eq(resp.header("Location"), "/console/#error=" + code)
    eq(cookie_of(resp), None, "a refused login sets no cookie")
    ok(not resp.raw, "a refused login has no body: %r" % resp.raw)


def login_button(record):
    kb = (record.get("reply_markup") or {}).get("inline_keyboard") or []
    found = [b for row in kb for b in row if "login_url" in b]
    return found[0] if found else None


def test_button_only_when_on(s):
    button_on(s, False)
    c = chat()
    register(s, "tgl-off", c, approvers=[ANN])
    rid = submit(s, "tgl-off", options=["Deploy", "Hold"])
    _, _, rec = sent(s, rid)
    eq(login_button(rec), None)
    eq(buttons(rec), [OK + "Deploy", NO + "Hold", ASK])

    button_on(s, True)
    rid = submit(s, "tgl-off", options=["Deploy", "Hold"])
    _, _, rec = sent(s, rid)
    kb = rec["reply_markup"]["inline_keyboard"]
    # The request's own buttons, styles and data as before; the login button last, alone.
    eq(buttons(rec), [OK + "Deploy", NO + "Hold", ASK, "Open in console"])
    eq([b.get("style") for row in kb[:-1] for b in row], ["success", "danger", "danger"])
    ok(all("callback_data" in b for row in kb[:-1] for b in row), kb)
    eq(kb[-1], [{"text": "Open in console",
                 "login_url": {"url": "https://%s%s?r=%s" % (DOMAIN, LOGIN, rid),
                               "request_write_access": False}}])


def test_cut_message_says_read_it_all(s):
    button_on(s)
    c = chat()
    register(s, "tgl-cut", c, approvers=[ANN])
    rid = submit(s, "tgl-cut", message="deploy everything " * 400, request_type="confirmation")
    _, _, rec = sent(s, rid)
    ok("Shortened" in rec["text"], rec["text"][-300:])
    b = login_button(rec)
    eq(b["text"], "Read it all")
    eq(b["login_url"]["url"], "https://%s%s?r=%s" % (DOMAIN, LOGIN, rid))
    # A cut confirmation is denied, never approved, in Telegram: its approve stays off.
    eq(buttons(rec), [NO + "Deny", ASK, "Read it all"])
    # An answer request: the login button instead of force_reply; a reply still answers it.
    rid = submit(s, "tgl-cut", message="Which branch?")
    _, _, rec = sent(s, rid)
    eq(buttons(rec), ["Open in console"])


def test_login_opens_the_request(s):
    button_on(s)
    get = browser(s)
    c = chat()
    register(s, "tgl-in", c, approvers=[ANN])
    rid = submit(s, "tgl-in")
    path = login_path(s, rid, ANN, first_name="Ann", last_name="Lee", username="ann")
    r = get(path)
    eq(r.status, 303, repr(r))
    eq(r.header("Location"), "/console/#/requests/" + rid)
    eq(r.header("Cache-Control"), "no-store")
    cookie = cookie_of(r)
    ok(cookie, "no console cookie in %r" % (r.headers,))
    attrs = [a.strip().lower() for a in r.header("Set-Cookie").split(";")]
    ok("httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs, attrs)
    me = s.get("/console/api/me", headers={"Cookie": cookie})
    eq(me.status, 200, repr(me))
    eq((me.json["user"], me.json["role"], me.json["tenant"], me.json["name"]),
       ("telegram:%d" % ANN, "approver", "default", "Ann Lee @ann"))
    det = s.get("/console/api/requests/" + rid, headers={"Cookie": cookie})
    eq(det.status, 200, repr(det))
    eq(det.json["request_id"], rid)
    # Audited as a console login through Telegram; the hash is stored only as its SHA-256.
    row = s.sql("SELECT actor, detail->>'via' FROM audit_log WHERE action = 'console_login'"
                " AND actor = :'p1' ORDER BY id DESC LIMIT 1", "telegram:%d" % ANN)
    eq(row, [["telegram:%d" % ANN, "telegram"]])
    h = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["hash"][0]
    eq(s.scalar("SELECT count(*) FROM tg_logins WHERE hash_sha256 = :'p1'",
                hashlib.sha256(h.encode()).hexdigest()), "1")
    eq(s.scalar("SELECT count(*) FROM tg_logins WHERE hash_sha256 = :'p1'", h), "0")
    # Neither the query nor the hash reaches a log: nginx keeps no access log line of it.
    ok(h not in s.log_text(), "the login's hash is in a log")
    with open(os.path.join(s.var, "log", "nginx-access.log")) as f:
        logged = f.read()
    ok("/console/api/me" in logged and LOGIN not in logged, "access log: %r" % logged[-500:])

    # A name that would turn the text around it, or hold controls, is shown tamed.
    odd = get(login_path(s, rid, ANN, first_name="Eve\u202egnp.exe", last_name="a\tb"))
    me = s.get("/console/api/me", headers={"Cookie": cookie_of(odd)}).json
    ok("\u202e" not in me["name"] and "\t" not in me["name"] and "\ufffd" in me["name"],
       repr(me["name"]))

    # The same data again: refused, and audited.
    refused_with(get(path), "invalid")
    eq(s.scalar("SELECT detail->>'reason' FROM audit_log WHERE action = 'console_login_refused'"
                " AND detail->>'request_id' = :'p1' ORDER BY id DESC LIMIT 1", rid), "replayed")


def test_login_refusals(s):
    button_on(s)
    get = browser(s)
    c = chat()
    register(s, "tgl-no", c, approvers=[ANN])
    rid = submit(s, "tgl-no")
    # Older than ten minutes, or from the future.
    # 602: the worker's time(NULL) is the coarse clock, which may still show
    # the second before the one this process read.
    refused_with(get(login_path(s, rid, ANN, age=602)), "expired")
    refused_with(get(login_path(s, rid, ANN, age=-120)), "invalid")
    # A field changed after Telegram signed it; a field added; the hash of another bot.
    refused_with(get(login_path(s, rid, ANN, tamper={"id": str(BOB)})), "invalid")
    refused_with(get(login_path(s, rid, ANN, tamper={"last_name": "X"})), "invalid")
    refused_with(get(login_path(s, rid, ANN, tamper={"hash": "0" * 64})), "invalid")
    # No r, or an r that is not a request id.
    refused_with(get(login_path(s, None, ANN)), "invalid")
    refused_with(get(login_path(s, "../../etc", ANN)), "invalid")
    # Authentic, but not an approver of r's session: forbidden, as for a request that
    # does not exist.
    refused_with(get(login_path(s, rid, CAROL)), "forbidden")
    refused_with(get(login_path(s, "00000000-0000-4000-8000-000000000000", ANN)), "forbidden")
    rows = s.sql("SELECT actor, detail->>'reason' FROM audit_log"
                 " WHERE action = 'console_login_refused' AND detail->>'request_id' = :'p1'"
                 " ORDER BY id", rid)
    # only what Telegram signed reaches the trail: unsigned data is anyone's
    eq(rows, [["telegram:%d" % CAROL, "forbidden"]])
    eq(s.scalar("SELECT count(*) FROM console_sessions WHERE person = :'p1'",
                "telegram:%d" % CAROL), "0")


def test_escalation_and_admin(s):
    button_on(s)
    get = browser(s)
    c1, c2 = chat(), chat()
    register(s, "tgl-esc-boss", c2, approvers=[BOB])
    register(s, "tgl-esc", c1, approvers=[ANN])
    rid = submit(s, "tgl-esc", escalate_after_seconds=1, escalate_to="tgl-esc-boss",
                 timeout_seconds=60)
    # Bob approves for the session the request was escalated to, once it was.
    wait_for(lambda: s.scalar("SELECT escalated_at IS NOT NULL FROM requests WHERE id = :'p1'",
                              rid) == "t", 15, "the escalation")
    r = get(login_path(s, rid, BOB, first_name="Bob"))
    eq(r.header("Location"), "/console/#/requests/" + rid)
    # An id in console_admins signs in as admin of the request's tenant.
    r = get(login_path(s, rid, ADMIN, first_name="Root"))
    eq(r.header("Location"), "/console/#/requests/" + rid)
    me = s.get("/console/api/me", headers={"Cookie": cookie_of(r)})
    eq((me.json["user"], me.json["role"]), ("telegram:%d" % ADMIN, "admin"))
    eq(me.json["tenant"], "default")
    # In another tenant (the request id in the address is not signed) the
    # same id is no admin: an approver there, and this one is not.
    key = s.new_key("tgl-other")
    h = {"Authorization": "Bearer " + key}
    eq(s.post("/hitl/register", {"session_id": "tgl-o", "client_id": "agent",
                                 "telegram_id": chat(), "approvers": [ANN]}, headers=h).status, 200)
    other = s.post("/hitl/request", {"session_id": "tgl-o", "client_id": "agent",
                                     "message": "theirs"}, headers=h).json["request_id"]
    refused_with(get(login_path(s, other, ADMIN, first_name="Root", last_name="Again")), "forbidden")
    eq(s.scalar("SELECT count(*) FROM console_sessions WHERE tenant = 'tgl-other'"), "0")


def test_domain_not_linked(s):
    """Telegram refuses the button (BOT_DOMAIN_INVALID): the message goes without it."""
    button_on(s)
    s.tg.login_domain = None
    try:
        c = chat()
        register(s, "tgl-dom", c, approvers=[ANN])
        rid = submit(s, "tgl-dom", options=["Deploy", "Hold"])
        _, _, rec = sent(s, rid)
        eq(login_button(rec), None)
        eq(buttons(rec), [OK + "Deploy", NO + "Hold", ASK])
        ok(any(x["status"] == 400 and "BOT_DOMAIN_INVALID" in x["response"]["description"]
               for x in s.tg.calls_of("sendMessage")), "the button was not tried")
        ok("setdomain" in s.worker_log(), "no warning names /setdomain")
    finally:
        s.tg.login_domain = DOMAIN


def test_rate_limited_then_off(s):
    """Past CONSOLE_LOGIN_PER_MINUTE attempts a minute from one address: rate_limited.
    Then the stack goes back to the default (button off) for the modules after this one."""
    button_on(s)
    get = browser(s)
    try:
        # Fixed one-minute windows: within 21 attempts one window holds 11 of them.
        codes = []
        while len(codes) < 21 and "/console/#error=rate_limited" not in codes:
            codes.append(get(login_path(s, None, ANN)).header("Location"))
        eq(codes[-1], "/console/#error=rate_limited")
        ok(len(codes) > 10 and set(codes[:10]) == {"/console/#error=invalid"}, codes)
    finally:
        s.stop()
        for k in ("LOOPGATE_CONSOLE_LOGIN_BUTTON", "LOOPGATE_CONSOLE_ADMINS"):
            s.extra_env.pop(k, None)
        s.start()
