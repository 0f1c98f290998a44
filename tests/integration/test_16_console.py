"""The approval console's API (docs/CONSOLE.md) through the real stack: a
one-time link becomes a session cookie; the session sees and decides only what
its tenant and role allow; a vote from the console is the same vote as one
from Telegram (lg_vote: the votes row, the decision the agent's long-poll
returns, the audit trail); history pages; admins export and verify the audit
trail; without a bot token, or for a session without telegram_id, requests
wait in the console (delivery state 'console', nothing queued for Telegram).

Logins are rate-limited per client address and every test here signs in from
127.0.0.1: the helper empties the rate window before each login (a fixture,
as clear_pending is), except in the test of the limit itself."""
import csv
import hashlib
import io
import json
import re
import os
import threading

import lg
from lg import chat, eq, ok, error_is, wait_for
from test_08_waiting import long_poll


# ---------------------------------------------------------------- helpers

class Browser:
    """A console session as a browser holds it: the cookie and the CSRF token."""

    def __init__(self, s, cookie, csrf, me):
        self.s, self.cookie, self.csrf, self.me = s, cookie, csrf, me

    def get(self, path):
        return self.s.get(path, headers={"Cookie": self.cookie})

    def post(self, path, body=None, csrf=True, headers=None):
        h = {"Cookie": self.cookie}
        if csrf:
            h["X-CSRF-Token"] = self.csrf if csrf is True else csrf
        h.update(headers or {})
        return self.s.post(path, body if body is not None else {}, headers=h)

    def vote(self, rid, body, **kw):
        return self.post("/console/api/requests/%s/vote" % rid, body, **kw)


def make_link(s, *args):
    out = s.cli("console", "link", *args).stdout.strip()
    m = re.fullmatch(r"(https?://[^#\s]+)/console/#login=([A-Za-z0-9_-]{43})", out)
    ok(m, "one line <base>/console/#login=<token>: %r" % out)
    return m.group(2)


def login_with(s, token):
    return s.post("/console/api/login", {"token": token})


def login(s, *args):
    s.sql("DELETE FROM console_rate")
    r = login_with(s, make_link(s, *args))
    eq(r.status, 200, repr(r))
    cookie = r.header("Set-Cookie").split(";")[0]
    return Browser(s, cookie, r.json["csrf"], r.json["user"])


def register(s, sid, headers=None, **extra):
    body = {"session_id": sid, "client_id": "agent"}
    body.update(extra)
    r = s.post("/hitl/register", body, headers=headers)
    eq(r.status, 200, repr(r))
    return r.json


def submit(s, sid, headers=None, **extra):
    body = {"session_id": sid, "client_id": "agent", "message": "Deploy v2.1.0 to production?"}
    body.update(extra)
    r = s.post("/hitl/request", body, headers=headers)
    eq(r.status, 200, repr(r))
    return r.json["request_id"]


def votes_rows(s, rid):
    return s.sql("SELECT person, coalesce(user_id::text, ''), name, channel, approve, response,"
                 " coalesce(reason, ''), coalesce(params::text, '') FROM votes"
                 " WHERE request_id = :'p1' ORDER BY created_at", rid)


def vote_and_long_poll(s, b, rid, body):
    """Vote while the agent long-polls; (vote answer, poll answer)."""
    box = {}
    t = threading.Thread(target=lambda: box.update(p=long_poll(s, rid, 30)[0]))
    t.start()
    r = b.vote(rid, body)
    t.join(40)
    ok("p" in box, "the long-poll returned")
    eq(box["p"].status, 200)
    return r, box["p"].json


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- ways in

def test_link_single_use_expiry_and_hash_only(s):
    token = make_link(s, "--role", "admin", "--name", "admin")
    row = s.sql("SELECT tenant, person, name, role, used_at IS NULL,"
                " expires_at BETWEEN now() + interval '9 minutes' AND now() + interval '10 minutes'"
                " FROM console_links WHERE token_sha256 = :'p1'", sha(token))
    eq(row, [["default", "console:admin", "admin", "admin", "t", "t"]], "the link's row")
    eq(s.scalar("SELECT count(*) FROM console_links WHERE position(:'p1' in"
                " concat_ws(',', token_sha256, tenant, person, name)) > 0", token), "0",
       "the token itself is stored nowhere")
    ok(s.scalar("SELECT count(*) FROM audit_log WHERE action = 'console_link_created'"
                " AND detail->>'person' = 'console:admin'") != "0", "the link is audited")

    s.sql("DELETE FROM console_rate")
    r = login_with(s, token)
    eq(r.status, 200, repr(r))
    eq(s.scalar("SELECT used_at IS NOT NULL FROM console_links WHERE token_sha256 = :'p1'",
                sha(token)), "t")
    # single use
    error_is(login_with(s, token), 401, "invalid_link")
    eq(s.scalar("SELECT detail->>'why' FROM audit_log WHERE action = 'console_login_refused'"
                " ORDER BY id DESC LIMIT 1"), "used")
    # expired
    t2 = make_link(s, "--name", "ann")
    s.sql("UPDATE console_links SET expires_at = now() - interval '1 second'"
          " WHERE token_sha256 = :'p1'", sha(t2))
    error_is(login_with(s, t2), 401, "invalid_link")
    eq(s.scalar("SELECT detail->>'why' FROM audit_log WHERE action = 'console_login_refused'"
                " ORDER BY id DESC LIMIT 1"), "expired")
    # unknown, malformed, wrong type: the same answer, nothing opened
    n = s.scalar("SELECT count(*) FROM console_sessions")
    error_is(login_with(s, "A" * 43), 401, "invalid_link")
    error_is(login_with(s, "short"), 401, "invalid_link")
    error_is(login_with(s, 42), 400, "invalid_field")
    error_is(s.post("/console/api/login", body='{"token":"x"}',
                    headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    eq(s.scalar("SELECT count(*) FROM console_sessions"), n, "no session opened")
    ok(token not in s.log_text(), "the token is never logged")
    # bad CLI input
    r = s.cli("console", "link", "--role", "root", check=False)
    eq(r.returncode, 2, r.stderr)
    r = s.cli("console", "link", "--user", "bad name!", check=False)
    eq(r.returncode, 2, r.stderr)
    r = s.cli("console", "link", "--name", "Ann Smith", check=False)
    eq(r.returncode, 2, r.stderr)
    ok("--user" in r.stderr, r.stderr)
    eq(len(make_link(s, "--user", "ann", "--name", "Ann Smith")), 43)


def test_login_cookie_me_and_logout(s):
    s.sql("DELETE FROM console_rate")
    r = login_with(s, make_link(s, "--role", "admin", "--name", "admin"))
    eq(r.status, 200, repr(r))
    set_cookie = r.header("Set-Cookie")
    parts = [p.strip() for p in set_cookie.split(";")]
    name, value = parts[0].split("=", 1)
    eq(name, "lg_console", "plain HTTP: the cookie without __Host-")
    ok(re.fullmatch(r"[A-Za-z0-9_-]{43}", value), "32 random bytes base64url: %r" % value)
    attrs = set(parts[1:])
    for a in ("Path=/", "Max-Age=43200", "HttpOnly", "SameSite=Strict"):
        ok(a in attrs, "%s in %r" % (a, set_cookie))
    ok("Secure" not in attrs, "no Secure over plain HTTP")
    me = r.json["user"]
    eq((me["tenant"], me["user"], me["name"], me["role"]),
       ("default", "console:admin", "admin", "admin"))
    eq(r.json["csrf"], me["csrf"])
    # only the cookie's hash is stored
    eq(s.scalar("SELECT count(*) FROM console_sessions WHERE token_sha256 = :'p1'", sha(value)),
       "1")
    eq(s.scalar("SELECT count(*) FROM console_sessions WHERE token_sha256 = :'p1'", value), "0")
    ok(value not in s.log_text(), "the cookie is never logged")
    b = Browser(s, parts[0], r.json["csrf"], me)
    m = b.get("/console/api/me")
    eq(m.status, 200, repr(m))
    eq(m.json["user"], "console:admin")
    eq(m.json["csrf"], b.csrf)
    ok(m.json["expires_at"].endswith("Z"), m.json)
    eq(m.header("Cache-Control"), "no-store")
    ok("frame-ancestors 'none'" in (m.header("Content-Security-Policy") or ""),
       "the CSP on the API")
    # no cookie, a wrong one
    error_is(s.get("/console/api/me"), 401, "unauthenticated")
    error_is(s.get("/console/api/me", headers={"Cookie": "lg_console=" + "B" * 43}), 401,
             "unauthenticated")
    # logout needs the CSRF token, then revokes the session everywhere
    error_is(b.post("/console/api/logout", csrf=False), 403, "csrf")
    eq(b.get("/console/api/me").status, 200, "still signed in after a refused logout")
    r = b.post("/console/api/logout")
    eq(r.status, 200, repr(r))
    eq(r.json, {"ok": True})
    ok("Max-Age=0" in r.header("Set-Cookie"), "the cookie is cleared: %r" % r.header("Set-Cookie"))
    eq(s.scalar("SELECT revoked_at IS NOT NULL FROM console_sessions WHERE token_sha256 = :'p1'",
                sha(value)), "t")
    eq(s.scalar("SELECT action FROM audit_log WHERE actor = 'console:admin'"
                " ORDER BY id DESC LIMIT 1"), "console_logout")
    for _ in range(3):  # whichever worker answers
        error_is(b.get("/console/api/me"), 401, "unauthenticated")
    error_is(b.post("/console/api/logout"), 401, "unauthenticated")


def test_csrf_refused_changes_nothing(s):
    register(s, "con-csrf", telegram_id=chat(), console_approvers=["ann"])
    rid = submit(s, "con-csrf")
    b = login(s, "--name", "ann")
    before = s.counts()
    error_is(b.vote(rid, {"approve": True}, csrf=False), 403, "csrf")
    error_is(b.vote(rid, {"approve": True}, csrf="C" * 43), 403, "csrf")
    error_is(b.vote(rid, {"approve": True}, csrf=""), 403, "csrf")
    eq(s.counts(), before, "nothing changed")
    eq(votes_rows(s, rid), [])
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid), "pending")


# ---------------------------------------------------------------- who sees what

def test_tenant_isolation(s):
    other = {"X-API-Key": s.new_key("con-other")}
    register(s, "con-iso", headers=other, telegram_id=chat())
    theirs = submit(s, "con-iso", headers=other)
    b = login(s, "--role", "admin", "--name", "admin")
    error_is(b.get("/console/api/requests/" + theirs), 404, "not_found")
    error_is(b.vote(theirs, {"approve": True}), 404, "not_found")
    ok(theirs not in b.get("/console/api/pending").raw, "not listed as pending")
    ok(theirs not in b.get("/console/api/history?limit=100").raw, "not in the history")
    ok("con-iso" not in b.get("/console/api/sessions").raw, "nor its session")
    eq(votes_rows(s, theirs), [])
    # the other tenant's own admin sees it
    o = login(s, "--tenant", "con-other", "--role", "admin", "--name", "admin")
    eq(o.get("/console/api/requests/" + theirs).status, 200)
    error_is(b.get("/console/api/requests/not-a-uuid"), 404, "not_found")


def test_unlisted_approver(s):
    ann_tg = 9_100_000_001
    register(s, "con-list", telegram_id=chat(), approvers=[ann_tg], console_approvers=["ann"])
    register(s, "con-nobody", telegram_id=chat())
    rid = submit(s, "con-list")
    none = submit(s, "con-nobody")
    bob = login(s, "--name", "bob")
    error_is(bob.get("/console/api/requests/" + rid), 404, "not_found")
    error_is(bob.vote(rid, {"approve": True}), 404, "not_found")
    ok(rid not in bob.get("/console/api/pending").raw, "not in bob's pending")
    for page in ("/console/api/sessions", "/console/api/audit/export?format=csv",
                 "/console/api/audit/verify"):
        error_is(bob.get(page), 403, "forbidden")
    ann = login(s, "--name", "ann")
    ok(rid in [x["request_id"] for x in ann.get("/console/api/pending").json["requests"]],
       "ann is listed: she sees it")
    error_is(ann.get("/console/api/requests/" + none), 404, "not_found")
    # the same person through Telegram's user id
    tg = login(s, "--user", str(ann_tg), "--name", "Ann T")
    eq(tg.me["user"], "telegram:%d" % ann_tg)
    d = tg.get("/console/api/requests/" + rid)
    eq(d.status, 200, repr(d))
    eq((d.json["can_vote"], d.json["already_voted"]), (True, False))
    # a session with no approvers at all: admins only
    adm = login(s, "--role", "admin", "--name", "admin")
    eq(adm.get("/console/api/requests/" + none).status, 200)
    eq(votes_rows(s, rid), [])


# ---------------------------------------------------------------- votes

def test_vote_deny_with_reason(s):
    register(s, "con-deny", telegram_id=chat(), console_approvers=["ann"])
    rid = submit(s, "con-deny", request_type="confirmation")
    ann = login(s, "--name", "ann")
    d = ann.get("/console/api/requests/" + rid).json
    eq((d["status"], d["can_vote"], d["message"]), ("pending", True, "Deploy v2.1.0 to production?"))
    r, p = vote_and_long_poll(s, ann, rid, {"approve": False, "reason": "  use staging first  "})
    eq(r.status, 200, repr(r))
    eq(r.json["result"], "denied")
    eq(r.json["request"]["status"], "completed")
    eq(votes_rows(s, rid), [["console:ann", "", "ann", "console", "f", "Deny",
                            "use staging first", ""]])
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Deny"))
    eq(p["reason"], "Denied by ann: use staging first")
    eq(p["responder"], {"id": None, "name": "ann"})
    # the timeline from the audit trail
    d = ann.get("/console/api/requests/" + rid).json
    eq([t["action"] for t in d["timeline"]], ["submitted", "decided"])
    eq(d["timeline"][1]["actor"], "console:ann")
    eq(d["timeline"][1]["detail"]["via"], "console")
    eq(d["votes"][0]["reason"], "use staging first")
    eq((d["can_vote"], d["already_voted"]), (False, True))
    error_is(ann.vote(rid, {"approve": True}), 409, "already_voted")


def test_vote_option_uses_its_approve_flag(s):
    register(s, "con-opt", telegram_id=chat(), console_approvers=["ann", "bob"])
    opts = [{"label": "Ship it", "approve": True}, {"label": "Hold", "approve": False}]
    r1 = submit(s, "con-opt", request_type="choice", options=opts)
    r2 = submit(s, "con-opt", request_type="choice", options=opts)
    ann = login(s, "--name", "ann")
    error_is(ann.vote(r1, {"option": 2}), 400, "invalid_field")
    error_is(ann.vote(r1, {"option": "0"}), 400, "invalid_field")
    error_is(ann.vote(r1, {"option": 0, "approve": True}), 400, "invalid_body")
    error_is(ann.vote(r1, {"text": "yes"}), 400, "invalid_field")
    error_is(ann.vote(r1, {"nope": 1}), 400, "invalid_field")
    eq(votes_rows(s, r1), [])
    r, p = vote_and_long_poll(s, ann, r1, {"option": 1})
    eq(r.json["result"], "denied", repr(r))
    eq((p["approved"], p["response"]), (False, "Hold"))
    r, p = vote_and_long_poll(s, ann, r2, {"option": 0, "reason": "after 18:00"})
    eq(r.json["result"], "approved", repr(r))
    eq((p["approved"], p["response"]), (True, "Ship it"))
    eq(votes_rows(s, r2), [["console:ann", "", "ann", "console", "t", "Ship it", "after 18:00",
                           ""]])


def test_vote_typed_answer(s):
    register(s, "con-text", telegram_id=chat(), console_approvers=["ann"])
    yes = submit(s, "con-text", request_type="input")
    unclear = submit(s, "con-text", request_type="input")
    ann = login(s, "--name", "ann")
    error_is(ann.vote(yes, {"text": ""}), 400, "invalid_field")
    error_is(ann.vote(yes, {"option": 0}), 400, "invalid_field")
    r, p = vote_and_long_poll(s, ann, yes, {"text": "yes, go ahead"})
    eq(r.json["result"], "approved", repr(r))
    eq((p["approved"], p["response"]), (True, "yes, go ahead"))
    # anything that is not, as a whole, an approval word denies
    r, p = vote_and_long_poll(s, ann, unclear, {"text": "yes but tomorrow"})
    eq(r.json["result"], "denied", repr(r))
    eq((p["approved"], p["response"]), (False, "yes but tomorrow"))
    eq(votes_rows(s, unclear)[0][4:6], ["f", "yes but tomorrow"])


def test_vote_approve_with_edits(s):
    register(s, "con-edit", telegram_id=chat(), console_approvers=["ann"])
    schema = {"type": "object", "properties": {"replicas": {"type": "integer", "maximum": 5},
                                               "env": {"enum": ["staging", "prod"]}}}
    rid = submit(s, "con-edit", params={"replicas": 2, "env": "prod"}, params_schema=schema)
    ann = login(s, "--name", "ann")
    error_is(ann.vote(rid, {"approve": True, "params": {"replicas": 9}}), 422, "invalid_params",
             "replicas")
    error_is(ann.vote(rid, {"approve": True, "params": {"replcas": 3}}), 422, "invalid_params",
             "replcas")
    error_is(ann.vote(rid, {"approve": False, "params": {"replicas": 3}}), 400, "invalid_body")
    error_is(ann.vote(rid, {"approve": True, "params": [1]}), 400, "invalid_field")
    eq(votes_rows(s, rid), [], "refused edits record nothing")
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid), "pending")
    r, p = vote_and_long_poll(s, ann, rid, {"approve": True,
                                            "params": {"replicas": 3, "env": "prod"}})
    eq(r.json["result"], "approved", repr(r))
    eq((p["approved"], p["params"], p["edited"]), (True, {"replicas": 3, "env": "prod"}, True))
    row = votes_rows(s, rid)[0]
    eq(row[:5], ["console:ann", "", "ann", "console", "t"])
    eq(json.loads(row[7]), {"replicas": 3, "env": "prod"})
    eq(json.loads(s.scalar("SELECT detail::text FROM audit_log WHERE request_id = :'p1'"
                           " AND action = 'decided'", rid))["edited"], True)


def test_edits_replace_the_params_whole(s):
    # The form shows every key; what it sends is what is approved: a key left
    # out (a cleared field, a boolean "(not set)") is removed, unless required.
    register(s, "con-repl", telegram_id=chat(), console_approvers=["ann"])
    schema = {"type": "object", "required": ["path"],
              "properties": {"path": {"type": "string"}, "force": {"type": "boolean"},
                             "older_than_days": {"type": "integer"}}}
    sent = {"path": "/backups/2025", "force": True, "older_than_days": 30}
    rid = submit(s, "con-repl", params=sent, params_schema=schema)
    ann = login(s, "--name", "ann")
    error_is(ann.vote(rid, {"approve": True, "params": {"older_than_days": 30}}), 422,
             "invalid_params", "path is required")
    error_is(ann.vote(rid, {"approve": True, "params": dict(sent, extra=1)}), 422,
             "invalid_params", "extra")
    eq(votes_rows(s, rid), [], "refused edits record nothing")
    r, p = vote_and_long_poll(s, ann, rid, {"approve": True,
                                            "params": {"path": "/backups/2025",
                                                       "older_than_days": 30}})
    eq(r.json["result"], "approved", repr(r))
    eq((p["approved"], p["params"], p["edited"]),
       (True, {"path": "/backups/2025", "older_than_days": 30}, True))


def test_edits_without_schema_keep_the_submitted_types(s):
    register(s, "con-types", telegram_id=chat(), console_approvers=["ann"])
    sent = {"replicas": 3, "ratio": 0.5, "on": True, "name": "web", "cfg": {"a": 1}, "opt": None}
    rid = submit(s, "con-types", params=sent)
    ann = login(s, "--name", "ann")
    for key, bad in (("replicas", "5O"), ("replicas", 2.5), ("ratio", "0.7"), ("on", "true"),
                     ("name", 5), ("cfg", '{"a":2'), ("cfg", [1])):
        error_is(ann.vote(rid, {"approve": True, "params": dict(sent, **{key: bad})}), 422,
                 "invalid_params", key)
    eq(votes_rows(s, rid), [], "refused edits record nothing")
    want = {"replicas": 5, "ratio": 1, "on": False, "name": "api", "cfg": {"a": 2}, "opt": "x"}
    r, p = vote_and_long_poll(s, ann, rid, {"approve": True, "params": want})
    eq(r.json["result"], "approved", repr(r))
    eq((p["params"], p["edited"]), (want, True))


def test_quorum_already_voted_and_not_pending(s):
    register(s, "con-quorum", telegram_id=chat(), console_approvers=["ann", "bob"])
    rid = submit(s, "con-quorum", approvals_required=2)
    ann, bob = login(s, "--name", "ann"), login(s, "--name", "bob")
    adm = login(s, "--role", "admin", "--name", "admin")
    r = ann.vote(rid, {"approve": True})
    eq((r.status, r.json["result"]), (200, "voted"), repr(r))
    eq(r.json["request"]["approvals"], 1)
    error_is(ann.vote(rid, {"approve": True}), 409, "already_voted")
    error_is(ann.vote(rid, {"approve": False}), 409, "already_voted")
    eq(len(votes_rows(s, rid)), 1, "one vote of ann")
    error_is(bob.vote(rid, {"approve": True, "params": {"x": 1}}), 422, "invalid_params")
    r, p = vote_and_long_poll(s, bob, rid, {"approve": True})
    eq(r.json["result"], "approved", repr(r))
    eq((p["status"], p["approved"], p["approvals"]), ("completed", True, 2))
    error_is(adm.vote(rid, {"approve": False}), 409, "not_pending")
    eq([v[0] for v in votes_rows(s, rid)], ["console:ann", "console:bob"])


# ---------------------------------------------------------------- history, sessions, audit

def test_history_paging_and_filters(s):
    register(s, "con-hist", telegram_id=chat(), console_approvers=["hana"])
    ids = [submit(s, "con-hist") for _ in range(5)]
    for rid in ids[:2]:
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    h = login(s, "--name", "hana")
    seen, cur, pages = [], None, 0
    while True:
        r = h.get("/console/api/history?session_id=con-hist&limit=2"
                  + ("&before=" + cur if cur else ""))
        eq(r.status, 200, repr(r))
        seen += [x["request_id"] for x in r.json["requests"]]
        pages += 1
        cur = r.json["next"]
        if not cur:
            break
        ok(pages < 5, "paging ends")
    eq(seen, list(reversed(ids)), "every request once, newest first")
    eq(pages, 3)
    r = h.get("/console/api/history?session_id=con-hist&status=canceled")
    eq(sorted(x["request_id"] for x in r.json["requests"]), sorted(ids[:2]))
    eq(r.json["next"], None)
    r = h.get("/console/api/history?session_id=con-hist&status=pending&limit=100")
    eq(len(r.json["requests"]), 3)
    eq(r.json["requests"][0]["delivery"] in ("queued", "sent", "console"), True)
    r = h.get("/console/api/history?session_id=con-hist&since=2999-01-01T00:00:00Z")
    eq(r.json["requests"], [])
    r = h.get("/console/api/history?session_id=con-hist&until=2000-01-01T00:00:00Z")
    eq(r.json["requests"], [])
    for bad in ("limit=0", "limit=101", "status=done", "since=yesterday",
                "before=nonsense", "before=2026-01-01T00:00:00Z~x"):
        error_is(h.get("/console/api/history?" + bad), 400, "invalid_parameter")
    # hana sees only sessions that list her
    ok(all(x["session_id"] == "con-hist" for x in
           h.get("/console/api/history?limit=100").json["requests"]), "only con-hist")


def test_sessions_page_for_admins(s):
    register(s, "con-sess", telegram_id=chat(), approvers=[501], console_approvers=["zoe"])
    reg = register(s, "con-only", console_approvers=["zoe"])
    eq(reg["telegram_id"], None)
    adm = login(s, "--role", "admin", "--name", "admin")
    r = adm.get("/console/api/sessions")
    eq(r.status, 200, repr(r))
    by = {x["session_id"]: x for x in r.json["sessions"]}
    eq((by["con-sess"]["approvers"], by["con-sess"]["console_approvers"]), ([501], ["zoe"]))
    eq(by["con-only"]["telegram_id"], None)
    ok("remind_after_seconds" in by["con-sess"]["defaults"], by["con-sess"])


def test_audit_export_escapes_formulas_and_verify(s):
    for sid in ("=SUM(1+1)", "+cmd", "-2+3", "@SUM(A1)"):
        register(s, sid, telegram_id=chat())
    adm = login(s, "--role", "admin", "--name", "admin")
    r = adm.get("/console/api/audit/export?format=csv")
    eq(r.status, 200, repr(r))
    ok(r.header("Content-Type").startswith("text/csv"), r.headers)
    ok("attachment" in r.header("Content-Disposition"), r.headers)
    rows = list(csv.DictReader(io.StringIO(r.raw, newline="")))
    sids = {x["session_id"] for x in rows}
    for sid in ("=SUM(1+1)", "+cmd", "-2+3", "@SUM(A1)"):
        ok("'" + sid in sids, "%r is written as text: '%s" % (sid, sid))
        ok(sid not in sids, "%r is never a bare cell" % sid)
    ok(all(x["tenant"] == "default" for x in rows), "the admin's tenant only")
    r = adm.get("/console/api/audit/export")
    eq(r.status, 200)
    lines = [json.loads(x) for x in r.raw.splitlines()]
    ok(any(x["session_id"] == "=SUM(1+1)" for x in lines), "JSON lines keep the value as it is")
    error_is(adm.get("/console/api/audit/export?format=xml"), 400, "invalid_parameter")
    v = adm.get("/console/api/audit/verify")
    eq(v.status, 200, repr(v))
    eq((v.json["ok"], v.json["first_bad"]), (True, None))
    ok(v.json["rows"] >= len(lines), v.json)


# ---------------------------------------------------------------- delivery state console

def test_console_only_session(s):
    reg = register(s, "con-alone", console_approvers=["ann"])
    eq(reg["telegram_id"], None)
    error_is(s.post("/hitl/register", {"session_id": "x", "client_id": "a", "telegram_id": None}),
             400, "missing_field")
    error_is(s.post("/hitl/register", {"session_id": "x", "client_id": "a", "telegram_id": 1,
                                       "console_approvers": ["no spaces"]}), 400, "invalid_field")
    eq(s.get("/hitl/status?session_id=con-alone").json["telegram_id"], None)
    rid = submit(s, "con-alone")
    eq(s.scalar("SELECT tg_state FROM requests WHERE id = :'p1'", rid), "console")
    eq(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1'", rid), "0")
    p = s.get("/hitl/poll?request_id=" + rid).json
    eq((p["delivery"]["channel"], p["delivery"]["state"]), ("console", "console"))
    ann = login(s, "--name", "ann")
    eq(ann.get("/console/api/requests/" + rid).json["delivery"], "console")
    r, p = vote_and_long_poll(s, ann, rid, {"approve": True})
    eq((r.json["result"], p["approved"]), ("approved", True))
    eq(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1'", rid), "0",
       "nothing for Telegram to edit")
    # on_timeout approve needs a message a person could read: a request that
    # waited in the console times out denied, saying why
    late = submit(s, "con-alone", request_type="confirmation", timeout_seconds=1, on_timeout="approve")
    p = long_poll(s, late, 30)[0].json
    eq((p["status"], p["approved"]), ("timeout", False))
    ok("waited in the console" in p["response"], p)


def test_no_bot_token_delivers_to_console_and_login_rate_limit(s):
    alone = lg.Stack(s.binary, san=s.san)
    try:
        alone.start()
        register(alone, "seed", telegram_id=123456789)
        rid = submit(alone, "seed", message="Test message")
        eq(alone.scalar("SELECT tg_state FROM requests WHERE id = :'p1'", rid), "console")
        eq(alone.scalar("SELECT count(*) FROM outbox"), "0", "nothing queued for Telegram")
        eq(alone.get("/hitl/poll?request_id=" + rid).json["delivery"]["state"], "console")
        adm = login(alone, "--role", "admin", "--name", "admin")
        pend = adm.get("/console/api/pending").json
        eq([x["request_id"] for x in pend["requests"]], [rid])
        eq(pend["requests"][0]["delivery"], "console")
        r, p = vote_and_long_poll(alone, adm, rid, {"approve": True})
        eq((r.json["result"], p["status"], p["approved"]), ("approved", "completed", True))
        # logins per client address: 10 a minute, then 429 with Retry-After
        alone.sql("DELETE FROM console_rate")
        for i in range(10):
            error_is(login_with(alone, "D" * 43), 401, "invalid_link")
        r = login_with(alone, make_link(alone, "--name", "late"))
        error_is(r, 429, "rate_limited")
        ok(1 <= int(r.header("Retry-After")) <= 60, r.headers)
        eq(alone.scalar("SELECT count(*) FROM console_sessions WHERE person = 'console:late'"),
           "0")
    finally:
        alone.cleanup()


def test_same_person_in_telegram_and_console(s):
    # A Telegram approver signed in with their user id is the same voter in
    # both channels: a press in Telegram, then a console vote, is "already
    # voted"; the console's decision edits the Telegram message.
    from test_07_telegram import sent
    ann, bob = 9_200_000_001, 9_200_000_002
    c = chat()
    register(s, "con-both", telegram_id=c, approvers=[ann, bob])
    rid = submit(s, "con-both", request_type="confirmation", approvals_required=2)
    _, m, _ = sent(s, rid)
    _, st = s.tg.press_and_deliver(c, m, button_text="\u2705 Approve", user_id=ann,
                                   first_name="Ann")
    eq(st, [200])
    wait_for(lambda: votes_rows(s, rid), 10, "Ann's press to be recorded")
    a = login(s, "--user", str(ann), "--name", "Ann")
    eq(a.get("/console/api/requests/" + rid).json["already_voted"], True)
    error_is(a.vote(rid, {"approve": True}), 409, "already_voted")
    b = login(s, "--user", str(bob), "--name", "Bob")
    edits = int(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1'"
                         " AND kind = 'tg_edit'", rid))
    r, p = vote_and_long_poll(s, b, rid, {"approve": True})
    eq(r.json["result"], "approved", repr(r))
    eq((p["approved"], p["approvals"]), (True, 2))
    eq([(v[0], v[1], v[3]) for v in votes_rows(s, rid)],
       [("telegram:%d" % ann, str(ann), "telegram"), ("telegram:%d" % bob, str(bob), "console")])
    ok(int(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1' AND kind = 'tg_edit'",
                    rid)) > edits, "the Telegram message is edited to show the decision")


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def test_console_pages_headers(s):
    # nginx serves www/ at /console/ and the API below it, each with the
    # console's headers; /console redirects to /console/.
    r = s.get("/console")
    eq(r.status, 301)
    eq(r.header("Location"), "/console/")
    api = s.get("/console/api/me")
    eq(api.status, 401)
    for name, want in (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                       ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
                       ("Cache-Control", "no-store")):
        eq(api.header(name), want, name + " on the API")
    eq(len([h for h in api.headers if h[0].lower() == "cache-control"]), 1, "one Cache-Control")
    if not os.path.exists(os.path.join(lg.ROOT, "www", "index.html")):
        return  # the pages are not in this tree
    page = s.get("/console/")
    eq(page.status, 200, repr(page))
    ok(page.header("Content-Type").startswith("text/html"), page.headers)
    for name, want in (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                       ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")):
        eq(page.header(name), want, name + " on the page")


def test_escalated_request_visible_to_the_escalation_session(s):
    register(s, "con-esc-b", console_approvers=["eve"])
    register(s, "con-esc-a", telegram_id=chat(), console_approvers=["ann"])
    eve = login(s, "--name", "eve")
    rid = submit(s, "con-esc-a", escalate_after_seconds=3, escalate_to="con-esc-b",
                 timeout_seconds=120)
    r = eve.get("/console/api/requests/" + rid)
    # Before the escalation eve may not see it (on a loaded machine the
    # escalation may already have come: then the row says so).
    if s.scalar("SELECT escalated_at IS NULL FROM requests WHERE id = :'p1'", rid) == "t":
        error_is(r, 404, "not_found")
    wait_for(lambda: s.scalar("SELECT escalated_at IS NOT NULL FROM requests WHERE id = :'p1'",
                              rid) == "t", 20, "the escalation")
    d = eve.get("/console/api/requests/" + rid)
    eq(d.status, 200, repr(d))
    eq((d.json["escalated_to"], d.json["can_vote"]), ("con-esc-b", True))
    ok(rid in [x["request_id"] for x in eve.get("/console/api/pending").json["requests"]],
       "in eve's pending")
    eq(s.scalar("SELECT count(*) FROM outbox WHERE request_id = :'p1' AND kind = 'tg_escalate'",
                rid), "0", "no Telegram message to a console-only session")
    r, p = vote_and_long_poll(s, eve, rid, {"approve": False, "reason": "not tonight"})
    eq((r.json["result"], p["approved"]), ("denied", False))


# ---------------------------------------------------------------- live

def test_console_events_show_what_the_user_may_see_and_end_with_the_session(s):
    from test_16_events import Stream
    register(s, "con-ev-ann", telegram_id=chat(), console_approvers=["evann"])
    register(s, "con-ev-bob", telegram_id=chat(), console_approvers=["evbob"])
    ann = login(s, "--name", "evann")
    st = Stream(s, "/console/api/events", headers={"Cookie": ann.cookie}).opened()
    try:
        eq(st.status, 200)
        other = submit(s, "con-ev-bob", callback_url="http://127.0.0.1:9/hook")
        mine = submit(s, "con-ev-ann", callback_url="http://127.0.0.1:9/hook")
        d = st.wait(mine, "submitted")["data"]
        eq((d["session_id"], d["status"]), ("con-ev-ann", "pending"))
        ok("callback_url" not in d and "127.0.0.1:9" not in json.dumps(d), d)
        # the stream reads in the trail's order: bob's, before ann's, was passed over
        eq(st.of(other), [], "an approver's stream showed another session's request")
        adm = login(s, "--role", "admin", "--name", "admin")
        sa = Stream(s, "/console/api/events", headers={"Cookie": adm.cookie}).opened()
        try:
            third = submit(s, "con-ev-bob")
            sa.wait(third, "submitted")
        finally:
            sa.close()
        # signing out ends the open stream at once, and it cannot come back
        eq(ann.post("/console/api/logout").status, 200)
        wait_for(lambda: st.ended, 5, "the stream to end with its session")
        again = Stream(s, "/console/api/events", headers={"Cookie": ann.cookie})
        eq(again.status, 401)
    finally:
        st.close()


def test_private_chat_owner_and_the_allow_list(s):
    owner = 9_100_000_077
    register(s, "con-private", telegram_id=owner)   # a private chat, no approvers list
    rid = submit(s, "con-private")
    me = login(s, "--user", str(owner), "--name", "Owner")
    d = me.get("/console/api/requests/" + rid)
    eq(d.status, 200, repr(d))
    eq(d.json["can_vote"], True)
    stranger = login(s, "--user", "9100000078", "--name", "Stranger")
    error_is(stranger.get("/console/api/requests/" + rid), 404, "not_found")
    # Telegram's global allow-list holds in the console too
    s.stop()
    s.start(LOOPGATE_TELEGRAM_ALLOWED_USERS="9100000099")
    try:
        me = login(s, "--user", str(owner), "--name", "Owner")
        error_is(me.get("/console/api/requests/" + rid), 403, "forbidden")
        error_is(me.vote(rid, {"approve": True}), 403, "forbidden")
        eq(votes_rows(s, rid), [])
    finally:
        s.stop()
        s.extra_env.pop("LOOPGATE_TELEGRAM_ALLOWED_USERS", None)
        s.start()


def test_what_people_may_not_see_or_do(s):
    register(s, "con-strict", telegram_id=chat(), console_approvers=["sam"], approvers=[9_100_000_301])
    # the agent's webhook address (it may carry a token) is not for people
    rid = submit(s, "con-strict", callback_url="http://127.0.0.1:9/hook?token=s3cret")
    sam = login(s, "--name", "sam")
    for page in ("/console/api/pending", "/console/api/requests/" + rid,
                 "/console/api/history?session_id=con-strict"):
        body = sam.get(page).raw
        ok("s3cret" not in body and "callback_url" not in body, "%s shows the callback: %s" % (page, body[:300]))
    # an admin reads a session that lists its approvers, but does not vote there
    adm = login(s, "--role", "admin", "--name", "admin")
    d = adm.get("/console/api/requests/" + rid).json
    eq((d["may_vote"], d["can_vote"]), (False, False))
    error_is(adm.vote(rid, {"approve": True}), 403, "forbidden")
    eq(votes_rows(s, rid), [])
    # one spelling per Telegram person: 0301 is 301, one voter in a quorum of two
    two = submit(s, "con-strict", approvals_required=2, request_type="confirmation")
    a = login(s, "--user", "9100000301", "--name", "Tg")
    b = login(s, "--user", "09100000301", "--name", "Tg again")
    eq(b.me["user"], "telegram:9100000301")
    eq(a.vote(two, {"approve": True}).status, 200)
    error_is(b.vote(two, {"approve": True}), 409, "already_voted")
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", two), "pending")
    # past its deadline a request takes no vote, before the expiry loop writes its timeout
    late = submit(s, "con-strict", request_type="confirmation", timeout_seconds=600)
    s.sql("UPDATE requests SET expires_at = now() - interval '1 second' WHERE id = :'p1'", late)
    error_is(sam.vote(late, {"approve": True}), 409, "not_pending")
    eq(votes_rows(s, late), [])
    # impossible dates are a 400, not a 500
    for bad in ("2026-02-31T00:00:00Z", "2025-02-29T00:00:00Z", "0000-01-01T00:00:00Z"):
        error_is(sam.get("/console/api/history?since=" + bad), 400, "invalid_parameter")
    eq(sam.get("/console/api/history?since=2024-02-29T00:00:00Z").status, 200)


def test_lists_carry_a_message_preview(s):
    register(s, "con-preview", telegram_id=chat(), console_approvers=["ann"])
    long_msg = "\u0436" * 299 + "\U0001F680" + "x" * 100
    rid = submit(s, "con-preview", message=long_msg)
    short = submit(s, "con-preview", message="short")
    ann = login(s, "--name", "ann")
    got = {r["request_id"]: r for r in ann.get("/console/api/pending").json["requests"]}
    eq((got[rid]["message"], got[rid].get("message_cut")), ("\u0436" * 299 + "\U0001F680", True))
    eq((got[short]["message"], "message_cut" in got[short]), ("short", False))
    eq(ann.get("/console/api/requests/" + rid).json["message"], long_msg, "the page has it whole")
    s.post("/hitl/cancel", {"request_id": rid})
    s.post("/hitl/cancel", {"request_id": short})
    hist = {r["request_id"]: r for r in ann.get("/console/api/history").json["requests"]}
    eq((len(hist[rid]["message"]), hist[rid].get("message_cut")), (300, True))
