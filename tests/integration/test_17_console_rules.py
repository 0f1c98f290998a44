"""Policy rules in the approval console (docs/CONSOLE.md, "Rules"): a tenant's
admins list, add and revoke rules through /console/api/policies with the
session cookie and the CSRF token, with the validation of /v1/policies and
audited with the console user as the actor; approvers, other tenants and
requests without the CSRF token are refused and change nothing. A rule added
in the console decides the next tool call at once; a rule made by "Allow for
this session" is listed with its agent session and revoked there. The page
itself is driven in Chromium on a phone's viewport (tests/browser/rules.mjs)."""
import json
import threading

from lg import eq, error_is, ok, wait_for
from test_16_browser import browser, link
from test_16_console import login, register

API = "/console/api/policies"


def add(b, expect=201, **body):
    r = b.post(API, body)
    eq(r.status, expect, repr(r))
    return r.json.get("policy") if expect == 201 else r


def listed(b, query=""):
    r = b.get(API + query)
    eq(r.status, 200, repr(r))
    ok(r.json["truncated"] is False, repr(r.json))
    return {p["id"]: p for p in r.json["policies"]}


def bash(s, sid, command, headers=None, **extra):
    body = {"session_id": sid, "client_id": "agent", "message": "Run: " + command,
            "request_type": "confirmation", "tool": "Bash", "tool_input": {"command": command}}
    body.update(extra)
    r = s.post("/hitl/request", body, headers=headers)
    eq(r.status, 200, repr(r))
    return r.json


def audit(s, pid):
    return s.sql("SELECT action, actor, tenant, coalesce(session_id, '') FROM audit_log"
                 " WHERE action LIKE 'policy%%' AND detail->>'policy_id' = :'p1' ORDER BY id",
                 str(pid))


def test_add_list_revoke_and_decide(s):
    """An admin adds a session rule: it is answered as /v1/policies shows it,
    audited as policy_added by console:<name>, listed live, and the next
    matching tool call is allowed at once by it (no one asked). Revoked in the
    console (audited the same way), it is listed as revoked and the same call
    is asked again; revoking it twice is 404."""
    register(s, "crules-a", console_approvers=["admin"])
    b = login(s, "--role", "admin", "--name", "admin")
    p = add(b, tool="Bash", match="^make (test|lint)$", action="allow", session_id="crules-a",
            expires_seconds=3600)
    eq({k: p[k] for k in ("session_id", "agent_session", "tool", "match", "action", "position",
                          "created_by", "state", "revoked_at")},
       {"session_id": "crules-a", "agent_session": None, "tool": "Bash",
        "match": "^make (test|lint)$", "action": "allow", "position": 0,
        "created_by": "console:admin", "state": "live", "revoked_at": None})
    ok(p["expires_at"] and p["created_at"], repr(p))
    eq(audit(s, p["id"]), [["policy_added", "console:admin", "default", "crules-a"]])
    # /v1/policies sees the same rule.
    eq([x["id"] for x in s.get("/v1/policies?session_id=crules-a").json["policies"]], [p["id"]])
    got = listed(b, "?session_id=crules-a")
    eq(list(got), [p["id"]])
    eq(got[p["id"]]["state"], "live")

    out = bash(s, "crules-a", "make test")
    eq((out["status"], out.get("decided_by")), ("completed", "policy:%d" % p["id"]),
       "decided by the console's rule at once")
    eq(s.sql("SELECT status, approved::text FROM requests WHERE id = :'p1'", out["request_id"]),
       [["completed", "true"]])
    eq(s.sql("SELECT count(*) FROM votes WHERE request_id = :'p1'", out["request_id"]), [["0"]],
       "nobody voted")
    eq(bash(s, "crules-a", "make deploy")["status"], "pending", "another command is asked")

    r = b.post(API + "/%d/revoke" % p["id"])
    eq((r.status, r.json), (200, {"revoked": True, "id": p["id"]}))
    eq(audit(s, p["id"]), [["policy_added", "console:admin", "default", "crules-a"],
                           ["policy_revoked", "console:admin", "default", "crules-a"]])
    got = listed(b, "?session_id=crules-a")[p["id"]]
    eq(got["state"], "revoked")
    ok(got["revoked_at"], repr(got))
    eq(bash(s, "crules-a", "make test")["status"], "pending", "asked again once revoked")
    error_is(b.post(API + "/%d/revoke" % p["id"]), 404, "policy_not_found")
    eq(len(audit(s, p["id"])), 2, "a second revoke writes nothing")
    for rid in s.sql("SELECT id FROM requests WHERE session_id = 'crules-a' AND status = 'pending'"):
        s.post("/hitl/cancel", {"request_id": rid[0]})


def test_list_marks_expired_and_orders_live_first(s):
    """The list holds live rules first (session rules before tenant rules,
    then position), then the expired and revoked ones, each with its state."""
    register(s, "crules-o", console_approvers=["admin"])
    b = login(s, "--role", "admin", "--name", "admin")
    t = add(b, tool="Read", match="secret", action="deny")
    sess = add(b, tool="Read", match="^/tmp/.*$", action="allow", session_id="crules-o",
               position=5)
    first = add(b, tool="Read", match="^/etc/.*$", action="ask", session_id="crules-o",
                position=-5)
    gone = add(b, tool="Read", match="^/old$", action="allow", expires_seconds=60)
    s.sql("UPDATE policies SET expires_at = now() - interval '1 second' WHERE id = :'p1'",
          str(gone["id"]))
    try:
        got = listed(b)
        ids = [i for i in got if i in (t["id"], sess["id"], first["id"], gone["id"])]
        eq(ids, [first["id"], sess["id"], t["id"], gone["id"]], "the order")
        eq([got[i]["state"] for i in ids], ["live", "live", "live", "expired"])
        eq(got[t["id"]]["session_id"], None, "a tenant rule has no session")
    finally:
        for p in (t, sess, first):
            eq(b.post(API + "/%d/revoke" % p["id"]).status, 200)


def test_refusals_change_nothing(s):
    """Without a session 401; a POST without or with a wrong CSRF token 403
    csrf; an approver 403 on all three routes; a bad body 400 naming the
    field (the validator of /v1/policies); an unknown session 404; another
    tenant's rule 404 to revoke and absent from the list. None of them adds,
    revokes or audits anything."""
    register(s, "crules-r", console_approvers=["ann"])
    b = login(s, "--role", "admin", "--name", "admin")
    keep = add(b, tool="Bash", match="^ls$", action="allow", session_id="crules-r")
    before = s.sql("SELECT count(*), count(revoked_at) FROM policies")
    audits = s.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'policy%'")
    good = {"tool": "Bash", "match": "^pwd$", "action": "allow"}

    error_is(s.get(API), 401, "unauthenticated")
    error_is(s.post(API, good), 401, "unauthenticated")
    error_is(b.post(API, good, csrf=False), 403, "csrf")
    error_is(b.post(API, good, csrf="x" * 43), 403, "csrf")
    error_is(b.post(API + "/%d/revoke" % keep["id"], csrf=False), 403, "csrf")

    ann = login(s, "--role", "approver", "--name", "ann")
    error_is(ann.get(API), 403, "forbidden")
    error_is(ann.post(API, good), 403, "forbidden")
    error_is(ann.post(API + "/%d/revoke" % keep["id"]), 403, "forbidden")

    for body, status, code, mention in [
            ({"match": "x", "action": "allow"}, 400, "missing_field", "tool"),
            ({"tool": "Bash", "action": "allow"}, 400, "missing_field", "match"),
            ({"tool": "Bash", "match": "(", "action": "allow"}, 400, "invalid_field", "match"),
            ({"tool": "Bash", "match": "a{1,99999}", "action": "allow"}, 400, "invalid_field",
             "match"),
            ({"tool": "Bash", "match": "x", "action": "always"}, 400, "invalid_field", "action"),
            ({"tool": "Bash", "match": "x", "action": "allow", "expires_seconds": 0}, 400,
             "invalid_field", "expires_seconds"),
            ({"tool": "Bash", "match": "x", "action": "allow", "expires_seconds": "60"}, 400,
             "invalid_field", "expires_seconds"),
            ({"tool": "Bash", "match": "x", "action": "allow", "tenant": "other"}, 400,
             "invalid_field", "tenant"),
            ({"tool": "Ba\u0007sh", "match": "x", "action": "allow"}, 400, "invalid_field", "tool"),
            ({"tool": "Bash", "match": "x", "action": "allow", "session_id": "crules-none"}, 404,
             "session_not_found", "crules-none")]:
        error_is(b.post(API, body), status, code, mention)
    r = s.request("POST", API, body="not json", headers={
        "Cookie": b.cookie, "X-CSRF-Token": b.csrf, "Content-Type": "application/json"})
    ok(r.status == 400 and r.json["error"]["code"], repr(r))
    error_is(b.post(API + "/abc/revoke"), 400, "invalid_parameter")
    error_is(b.post(API + "/0/revoke"), 400, "invalid_parameter")
    error_is(b.post(API + "/99999999999999999999/revoke"), 400, "invalid_parameter")
    error_is(b.get(API + "?session_id=" + "x" * 300), 400, "invalid_parameter")

    # Another tenant's admin: the rule is not in its list and is 404 to revoke;
    # this tenant's session is not its to name.
    other = login(s, "--tenant", "crules-t2", "--role", "admin", "--name", "admin")
    ok(keep["id"] not in listed(other), "another tenant's rule listed")
    error_is(other.post(API + "/%d/revoke" % keep["id"]), 404, "policy_not_found")
    error_is(other.post(API, dict(good, session_id="crules-r")), 404, "session_not_found")

    eq(s.sql("SELECT count(*), count(revoked_at) FROM policies"), before, "nothing changed")
    eq(s.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'policy%'"), audits,
       "nothing audited")
    eq(b.post(API + "/%d/revoke" % keep["id"]).status, 200)


def hook_body(agent_session, command):
    return json.dumps({
        "session_id": agent_session, "cwd": "/home/dev/app", "permission_mode": "default",
        "hook_event_name": "PermissionRequest", "tool_name": "Bash",
        "tool_input": {"command": command, "description": "Run the tests"},
        "permission_suggestions": [{"type": "addRules", "rules": [
            {"toolName": "Bash", "ruleContent": command}], "behavior": "allow",
            "destination": "localSettings"}]})


def hook_call(s, sid, body, box, wait=None):
    headers = {"Content-Type": "application/json", "X-Loopgate-Session": sid}
    if wait:
        headers["X-Loopgate-Wait"] = str(wait)
    box.append(s.request("POST", "/v1/hooks/claude-code", body=body, headers=headers, timeout=60))


def test_allow_for_this_session_rule_listed_and_revoked(s):
    """"Allow for this session" pressed in the console makes a rule that the
    console lists with its agent session and who made it; the same call is
    then allowed at once; revoked in the console, it is asked again."""
    register(s, "crules-h", console_approvers=["admin"])
    b = login(s, "--role", "admin", "--name", "admin")
    body = hook_body("cc-rules-1", "npm test")
    box = []
    t = threading.Thread(target=hook_call, args=(s, "crules-h", body, box))
    t.start()
    rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = 'crules-h'"
                                    " AND status = 'pending'"), 10, "the hook's request")
    d = b.get("/console/api/requests/" + rid).json
    labels = [c["label"] for c in d["choices"]]
    ok("Allow this exact call for this session" in labels, repr(labels))
    r = b.vote(rid, {"option": labels.index("Allow this exact call for this session")})
    eq(r.status, 200, repr(r))
    t.join(30)
    ok(box and box[0].status == 200, repr(box))
    eq(box[0].json["hookSpecificOutput"]["decision"]["behavior"], "allow")

    rules = [p for p in listed(b, "?session_id=crules-h").values() if p["state"] == "live"]
    eq(len(rules), 1, repr(rules))
    rule = rules[0]
    eq((rule["agent_session"], rule["tool"], rule["action"], rule["created_by"]),
       ("cc-rules-1", "Bash", "allow",
        "admin (Allow this exact call for this session, request %s)" % rid))
    ok(rule["expires_at"], "a session rule expires: %r" % rule)

    again = []
    hook_call(s, "crules-h", body, again)
    eq(again[0].json["hookSpecificOutput"]["decision"]["behavior"], "allow", "allowed at once")
    eq(s.scalar("SELECT responder_name FROM requests WHERE session_id = 'crules-h'"
                " ORDER BY created_at DESC, id LIMIT 1"), "rule %d" % rule["id"])

    eq(b.post(API + "/%d/revoke" % rule["id"]).status, 200)
    eq(audit(s, rule["id"])[-1], ["policy_revoked", "console:admin", "default", "crules-h"])
    asked = []
    hook_call(s, "crules-h", body, asked, wait=1)
    eq(asked[0].json["hookSpecificOutput"]["decision"]["behavior"], "deny",
       "asked again (and timed out unanswered)")


def test_rules_page_on_a_phone(s):
    """In Chromium at 390 x 844: an admin adds a rule with the form, sees it
    listed, revokes it after confirming (the rule is revoked in the database),
    a bad regex is refused under the form with the server's words; the page
    does not scroll sideways and its controls are touch-sized; markup in a
    pattern shows as text and nothing of it runs (the helper fails the test
    on any dialog, page error or CSP report). An approver
    has no Rules link and the page says it is for admins."""
    register(s, "crules-ui", console_approvers=["admin"])
    # An allow rule needs an admin key (an agent's key may not approve itself).
    admin = {"X-API-Key": s.new_key("default", "crules-admin", admin=True)}
    seed = s.request("POST", "/v1/policies", headers=admin, json_body={
        "tool": "Bash", "match": "^npm test$", "action": "allow", "session_id": "crules-ui",
        "agent_session": "cc-ui-7"})
    eq(seed.status, 201, repr(seed))
    seeded = seed.json["policy"]["id"]
    markup = "<img src=x onerror=alert(1)>|<script>alert(2)</script>"
    seed = s.request("POST", "/v1/policies", headers=admin, json_body={
        "tool": "Bash", "match": markup, "action": "deny", "session_id": "crules-ui"})
    eq(seed.status, 201, repr(seed))
    marked = seed.json["policy"]["id"]
    res = browser(s, "rules", link=link(s), session="crules-ui", seeded=seeded, marked=marked,
                  approver=link(s, "ann", "approver"))
    eq(res["marked_match"], markup, "a pattern with markup shows as text")
    eq(res["made"], 0, "no element made from a rule's text")
    pid = res["added_id"]
    eq(s.sql("SELECT tenant, session_id, tool, match, action, created_by,"
             " expires_at > now() + interval '59 minutes' FROM policies WHERE id = :'p1'", str(pid)),
       [["default", "crules-ui", "Git", "^git (status|diff)$", "deny", "console:admin", "t"]],
       "the rule the form added")
    ok("^git (status|diff)$" in res["added_text"] and "deny" in res["added_text"],
       repr(res["added_text"]))
    ok("cc-ui-7" in res["seeded_text"], "the agent session shown: %r" % res["seeded_text"])
    ok("match" in res["bad_regex"], "the refusal names the field: %r" % res["bad_regex"])
    eq(res["dismissed_state"], "live", "a dismissed confirmation revokes nothing")
    eq(s.scalar("SELECT revoked_at IS NOT NULL FROM policies WHERE id = :'p1'", str(pid)), "t",
       "revoked in the database")
    eq(s.sql("SELECT actor FROM audit_log WHERE action = 'policy_revoked'"
             " AND detail->>'policy_id' = :'p1'", str(pid)), [["console:admin"]])
    ok("revoked" in res["revoked_text"], "marked revoked: %r" % res["revoked_text"])
    eq(res["still_live"], 0, "no longer in the live list")
    ok("Rules" in res["nav"], repr(res["nav"]))
    ok("Rules" not in res["approver_nav"], repr(res["approver_nav"]))
    ok("admins" in res["approver_page"], repr(res["approver_page"]))
    m = res["metrics"]
    ok(m["scroll_width"] <= m["client_width"], "scrolls sideways: %r" % m)
    eq(m["small_targets"], [], "touch targets under 44 px")
    ok(m["body_font_px"] >= 16, repr(m))
    for pid in (seeded, marked):
        eq(s.request("DELETE", "/v1/policies/%d" % pid, headers=admin).status, 200)
