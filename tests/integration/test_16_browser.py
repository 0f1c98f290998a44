"""The approval console in a real browser (Debian's Chromium driven by
playwright-core, tests/browser/*.mjs): each test starts the script with a
one-time sign-in link from `loopgate console link`, plays the agent over
HTTP when the script asks (STEP lines), and asserts both what the page
showed (the script's RESULT) and what the database and the agent's poll
say. Every script also reports what would betray script running where it
should not (dialogs, page errors, CSP violations): none is allowed in any
test. Screenshots go to build/browser/."""
import json
import os
import re
import subprocess
import tempfile
import threading

from lg import ROOT, Failure, eq, ok

SHOTS = os.path.join(ROOT, "build", "browser")
SCHEMA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
        "env": {"enum": ["staging", "production"]},
        "dry_run": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 200},
    },
    "required": ["replicas", "env"],
    "additionalProperties": False,
}


def link(s, user="admin", role="admin", tenant="default"):
    """A one-time console link for `user` (a console name or a Telegram id)."""
    out = s.cli("console", "link", "--tenant", tenant, "--user", user, "--role", role,
                "--base", "http://127.0.0.1:%d" % s.port).stdout.strip()
    ok(out.startswith("http://127.0.0.1:%d/console/#login=" % s.port) and "\n" not in out,
       "console link printed %r" % out)
    return out


def register(s, sid, headers=None, **extra):
    body = {"session_id": sid, "client_id": "agent"}
    body.update(extra)
    r = s.post("/hitl/register", body, headers=headers)
    eq(r.status, 200, "register %s: %r" % (sid, r))


def submit(s, sid, message, headers=None, **extra):
    body = {"session_id": sid, "client_id": "agent", "message": message}
    body.update(extra)
    r = s.post("/hitl/request", body, headers=headers)
    eq(r.status, 200, "submit: %r" % r)
    return r.json["request_id"]


def browser(s, script, steps=None, **args):
    """Run tests/browser/<script>.mjs with `args` (JSON), answering each of its
    STEP lines with steps[name](data); return its RESULT, failing the test on
    an error or on any sign of script running (dialog, page error, CSP report)."""
    args.setdefault("base", "http://127.0.0.1:%d" % s.port)
    args.setdefault("shots", SHOTS)
    steps = steps or {}
    err = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(["node", os.path.join(ROOT, "tests", "browser", script + ".mjs"),
                          json.dumps(args)], cwd=ROOT, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=err, text=True)
    killer = threading.Timer(180, p.kill)
    killer.start()
    result = None
    try:
        for line in p.stdout:
            if line.startswith("STEP "):
                _, name, data = line.rstrip("\n").split(" ", 2)
                answer = steps[name](json.loads(data))
                p.stdin.write(json.dumps(answer or {}) + "\n")
                p.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
        p.wait()
    finally:
        killer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
        err.seek(0)
        stderr = err.read()
        err.close()
    if result is None or "error" in result:
        raise Failure("browser %s failed: %s\n%s" % (
            script, (result or {}).get("error", "no RESULT (exit %s)" % p.returncode), stderr[-3000:]))
    seen = result.get("seen", {})
    eq(seen.get("dialogs"), [], "dialogs opened in %s" % script)
    eq(seen.get("errors"), [], "page errors in %s" % script)
    eq(result.get("csp"), [], "CSP violations in %s" % script)
    return result


def long_poll(s, rid, box):
    r = s.get("/hitl/poll?request_id=%s&wait=60" % rid, timeout=90)
    box.append(r)


def test_csp_and_headers_on_console(s):
    """nginx serves the pages with the strict CSP and the API answers with it too."""
    for path in ("/console/", "/console/js/main.js", "/console/console.css", "/console/api/me"):
        r = s.get(path)
        ok(r.status in (200, 401), "%s: %r" % (path, r))
        csp = r.header("Content-Security-Policy") or ""
        directives = {}
        for d in csp.split(";"):
            words = d.split()
            if words:
                directives[words[0]] = " ".join(words[1:])
        for name, want in (("default-src", ("'self'", "'none'")), ("script-src", ("'self'",)),
                           ("style-src", ("'self'",)), ("frame-ancestors", ("'none'",)),
                           ("base-uri", ("'none'", "'self'"))):
            ok(directives.get(name) in want, "%s: CSP %r: %s is %r" % (path, csp, name,
                                                                      directives.get(name)))
        for bad in ("unsafe-inline", "unsafe-eval", "*", "http:", "https:"):
            ok(bad not in csp, "%s: CSP %r allows %s" % (path, csp, bad))
        eq(r.header("X-Content-Type-Options"), "nosniff", path + " X-Content-Type-Options")
    ok((s.get("/console/").header("Content-Type") or "").startswith("text/html"), "index is HTML")
    ok((s.get("/console/js/main.js").header("Content-Type") or "").endswith("javascript"),
       "modules are served as JavaScript")


def test_live_pending_and_approve_with_reason(s):
    """A request an agent submits appears on the open pending page within
    seconds (the stream, not the 10 s fallback); approving it there with a
    reason ends the agent's long-poll with the decision and the reason; a
    request canceled while the page is open leaves it."""
    register(s, "console-live", console_approvers=["admin"])
    msg = "Deploy v2.1.0 to production?"
    got, polled, threads = {}, [], []

    def do_submit(_):
        got["rid"] = submit(s, "console-live", msg, request_type="confirmation",
                            metadata={"repo": "acme/web", "commit": "4f2c9e1",
                                      "pipeline": "https://ci.example.test/acme/web/812"},
                            params={"replicas": 3, "env": "production"}, params_schema=SCHEMA)
        t = threading.Thread(target=long_poll, args=(s, got["rid"], polled))
        t.start()
        threads.append(t)
        return {"rid": got["rid"]}

    def submit_other(_):
        got["other"] = submit(s, "console-live", "Rotate the keys? (live)")
        return {"rid": got["other"]}

    def cancel_other(_):
        eq(s.post("/hitl/cancel", {"request_id": got["other"]}).status, 200, "cancel")
        return {}

    res = browser(s, "live", {"submit": do_submit, "submit-other": submit_other,
                              "cancel-other": cancel_other},
                  link=link(s), reason="checked the change log")
    for t in threads:
        t.join(90)
    # Within a second (the submit's own time included; a sanitizer build on a
    # busy machine gets three); the fallback without the stream takes 10 s.
    limit = 3000 if s.san else 1000
    ok(res["appeared_ms"] < limit, "the request appeared after %d ms" % res["appeared_ms"])
    ok(res["left_ms"] < limit, "the canceled request left after %d ms" % res["left_ms"])
    ok(msg in res["card_text"], "card shows the message: %r" % res["card_text"])
    eq(res["message"], msg, "the request page's message")
    eq(res["quorum"], "0 of 1 approval", "quorum line")
    eq(res["flash"], "Approved.", "vote result")
    eq(res["still_there"], 0, "the decided request left the pending list")
    ok("admin" in res["who"] and "default" in res["who"], "header names user and tenant: %r" % res["who"])
    eq(len(polled), 1, "the long-poll returned")
    p = polled[0].json
    eq((p["status"], p["approved"]), ("completed", True), "the agent's poll")
    ok("checked the change log" in (p.get("reason") or ""), "the reason reaches the agent: %r" % p)
    eq(s.sql("SELECT person, channel, approve, reason FROM votes WHERE request_id = :'p1'", got["rid"]),
       [["console:admin", "console", "t", "checked the change log"]], "the vote stored")


def test_approve_with_edits_refused_then_accepted(s):
    """The params form comes from the schema; an edit the schema refuses
    (replicas 50 > maximum 10) shows the server's message and records
    nothing; replicas 5 approves, and the agent gets the edited params."""
    register(s, "console-edits", console_approvers=["admin"])
    rid = submit(s, "console-edits", "Scale the web tier?", request_type="confirmation",
                 params={"replicas": 3, "env": "staging"}, params_schema=SCHEMA)
    res = browser(s, "edits", link=link(s), rid=rid, bad=50, good=5, reason="five is enough")
    for k in ("replicas", "env", "dry_run", "note"):
        ok(k in res["labels"], "a field for %s: %r" % (k, res["labels"]))
    eq(res["dry_run_select"], "", "an absent boolean stays unset")
    eq(res["env_selected"], "staging", "the enum shows the current value")
    ok("replicas" in res["refused"], "the refusal names the field: %r" % res["refused"])
    ok(res["still_pending"], "the controls stay usable after a refusal")
    eq(res["flash"], "Approved.", "vote result")
    p = s.get("/hitl/poll?request_id=" + rid).json
    eq((p["status"], p["approved"], p["edited"]), ("completed", True, True), "decision")
    eq(p["params"], {"replicas": 5, "env": "staging"}, "edited params (dry_run stays absent)")
    eq(s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'", rid), "1", "one vote, not two")


XSS_MESSAGE = ("<script>window.__pwned='script';alert('script')</script>\n"
               "<img src=x onerror=\"window.__pwned='img';alert('img')\">\n"
               "<a href=\"javascript:window.__pwned='link'\">click me</a> javascript:alert(1)\n"
               "<svg onload=alert('svg')></svg><iframe srcdoc=\"<script>parent.alert(1)</script>\">"
               "</iframe>\"><b onmouseover=alert(1)>bold</b>")
XSS_META = {"<img src=x onerror=alert('key')>": "<script>alert('value')</script>",
            "url": "javascript:alert('meta')",
            "nested": {"html": "<iframe src=javascript:alert(1)>"}}
XSS_OPTIONS = [{"label": "<img src=x onerror=alert(3)> Go", "approve": True},
               {"label": "<script>alert(4)</script> Hold", "approve": False},
               {"label": "javascript:alert(5) Later", "approve": False}]


def test_agent_markup_is_text(s):
    """Markup and javascript: URLs in the message, metadata, option labels,
    params and a voter's reason show literally and nothing of them runs."""
    register(s, "console-xss", console_approvers=["admin"])
    params = {"replicas": 2, "env": "staging", "note": "<img src=x onerror=alert(6)>"}
    rid = submit(s, "console-xss", XSS_MESSAGE, request_type="choice", options=XSS_OPTIONS,
                 metadata=XSS_META, params=params, params_schema=SCHEMA)
    reason = "<script>alert('reason')</script> no"
    res = browser(s, "xss", link=link(s), rid=rid, reason=reason)
    eq(res["message"], XSS_MESSAGE, "the message, literally")
    ok(XSS_MESSAGE.split("\n")[0] in res["card_text"], "the card shows the markup as text")
    for k, v in (("<img src=x onerror=alert('key')>", "<script>alert('value')</script>"),
                 ("url", "javascript:alert('meta')")):
        ok(k in res["metadata"] and v in res["metadata"], "metadata %r shown: %r" % (k, res["metadata"]))
    ok("<iframe src=javascript:alert(1)>" in res["metadata"], "nested metadata as JSON text")
    eq([o.split(" approves")[0].split(" denies")[0] for o in res["options"]],
       ["\u2705 " + XSS_OPTIONS[0]["label"], "\u274C " + XSS_OPTIONS[1]["label"],
        "\u274C " + XSS_OPTIONS[2]["label"]], "option labels with their marks")
    eq(res["buttons"], ["\u2705 " + XSS_OPTIONS[0]["label"], "\u274C " + XSS_OPTIONS[1]["label"],
                        "\u274C " + XSS_OPTIONS[2]["label"]], "one button per option")
    ok(params["note"] in res["params"], "the params form holds the text: %r" % res["params"])
    ok(reason in res["votes"], "the reason shown as text: %r" % res["votes"])
    eq(res["dom"]["pwned"], None, "no payload ran")
    eq(res["dom"]["made"], 0, "no element made from agent text")
    eq(res["dom"]["js_links"], [], "no link outside the console")
    eq(res["csp_before_eval"], [], "no attempt the CSP had to block")
    eq(res["inline_result"], "blocked", "the CSP refuses inline script")
    ok(res["inline_csp"] and res["inline_csp"][0].startswith("script-src"),
       "the refusal is the CSP's: %r" % res["inline_csp"])
    eq(s.sql("SELECT status, approved::text FROM requests WHERE id = :'p1'", rid),
       [["completed", "false"]], "denied")
    eq(s.scalar("SELECT reason FROM votes WHERE request_id = :'p1'", rid), reason, "reason stored as sent")


def test_other_tenant_and_unlisted_invisible(s):
    """An approver sees only requests of sessions that list them: another
    tenant's, an unlisted session's and an approver-less session's are absent
    from the lists and 404 to the API; admin pages are 403; POSTs without or
    with a wrong CSRF token are 403 and change nothing."""
    register(s, "console-ann", console_approvers=["ann"])
    register(s, "console-bob", console_approvers=["bob"], approvers=[424242])
    register(s, "console-nobody")
    key = s.new_key("console-t2")
    other = {"X-API-Key": key}
    register(s, "console-ann", headers=other, console_approvers=["ann"])
    mine = submit(s, "console-ann", "Ann's request", request_type="confirmation")
    hidden = [submit(s, "console-bob", "Bob's request"),
              submit(s, "console-nobody", "Nobody's request"),
              submit(s, "console-ann", "The other tenant's request", headers=other)]
    late = {}

    def while_streaming(_):
        late["hidden"] = [submit(s, "console-bob", "Bob's second"),
                          submit(s, "console-nobody", "Nobody's second"),
                          submit(s, "console-ann", "The other tenant's second", headers=other)]
        late["mine"] = submit(s, "console-ann", "Ann's second", request_type="confirmation")
        return {"last": late["mine"]}

    res = browser(s, "isolation", {"submit-while-streaming": while_streaming},
                  link=link(s, "ann", "approver"), mine=mine, hidden=hidden)
    ok(late["mine"] in res["streamed"], "the visible request streamed")
    for h in late["hidden"]:
        ok(h not in res["streamed"], "hidden request %s streamed to the approver" % h)
    ok(mine in res["listed"], "listed request shown")
    for h in hidden:
        ok(h not in res["listed"], "hidden request %s on the pending page" % h)
        ok(h not in res["history"], "hidden request %s in history" % h)
        eq(res["api"]["get " + h], [404, "not_found"], "GET of hidden %s" % h)
        eq(res["api"]["vote " + h], [404, "not_found"], "vote on hidden %s" % h)
    eq(res["role"], "approver", "role shown")
    eq(res["nav"], ["Pending", "History"], "an approver's navigation")
    eq(res["api"]["sessions"], [403, "forbidden"], "sessions")
    eq(res["api"]["verify"], [403, "forbidden"], "audit verify")
    eq(res["api"]["export"], [403, "forbidden"], "audit export")
    eq(res["api"]["vote_no_csrf"], [403, "csrf"], "vote without the CSRF token")
    eq(res["api"]["vote_bad_csrf"], [403, "csrf"], "vote with a wrong CSRF token")
    eq(res["api"]["logout_no_csrf"], [403, "csrf"], "logout without the CSRF token")
    eq(res["api"]["me_after"][0], 200, "the session survived the refused logout")
    # The refused votes changed nothing; the one through the page decided.
    eq(s.sql("SELECT person, approve FROM votes WHERE request_id = :'p1'", mine),
       [["console:ann", "t"]], "only the page's vote counted")
    for h in hidden:
        eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", h), "pending", "hidden %s" % h)
        eq(s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'", h), "0", "votes on %s" % h)
    for h in hidden + late["hidden"] + [late["mine"]]:
        s.post("/hitl/cancel", {"request_id": h}, headers=other if h in (hidden[2], late["hidden"][2]) else None)


def test_phone_viewport(s):
    """On a 390 x 844 phone no page scrolls sideways, text is 16 px and the
    controls are touch-sized."""
    register(s, "console-phone", console_approvers=["admin"])
    long_word = "https://example.test/" + "a" * 300
    rid = submit(s, "console-phone", "Release the hotfix?\n" + long_word, request_type="confirmation",
                 metadata={"ticket": long_word}, params={"replicas": 3, "env": "staging"},
                 params_schema=SCHEMA)
    other = submit(s, "console-phone", "Clear the cache?")
    res = browser(s, "phone", link=link(s), rid=rid, session="console-phone")
    ok("#/history?session_id=console-phone" in res["filtered_url"], res["filtered_url"])
    ok(res["filtered_sessions"] and set(res["filtered_sessions"]) == {"console-phone"},
       "history filtered by session: %r" % res["filtered_sessions"])
    eq(res["paged"], [1, 2], "history one at a time")
    eq(len(set(res["paged_ids"])), 2, "the second page is another request")
    ok(res["download"].endswith(".jsonl"), "the audit export downloads: %r" % res["download"])
    eq(res["download_failure"], None, "the download")
    for page, m in res.items():
        if not isinstance(m, dict) or "scroll_width" not in m:
            continue
        ok(m["scroll_width"] <= m["client_width"],
           "%s scrolls sideways: %d > %d" % (page, m["scroll_width"], m["client_width"]))
        ok(m["body_font_px"] >= 16, "%s text is %s px" % (page, m["body_font_px"]))
        eq(m["small_targets"], [], "%s touch targets under 44 px" % page)
        ok(m["targets"] > 0, "%s has controls" % page)
    for r in (rid, other):
        s.post("/hitl/cancel", {"request_id": r})


def test_link_login_and_logout(s):
    """A link signs in and its token leaves the address at once; Log out
    revokes the session (the API answers 401 from then on); the link is
    single use; a failed Telegram login is explained in words."""
    url = link(s, "carol", "approver")
    res = browser(s, "login", link=url)
    for k in ("url_after", "url_reused", "url_error"):
        ok("login=" not in res[k] and "error=" not in res[k], "%s keeps the fragment: %r" % (k, res[k]))
    ok(not res["history_has_token"], "the token stayed in the address")
    ok("carol" in res["who"] and "approver" in res["who"], "header: %r" % res["who"])
    eq(res["logged_out"], "You are logged out.", "after Log out")
    eq(res["me_after"], 401, "the API after logout")
    ok("not valid any more" in res["reused"], "a used link: %r" % res["reused"])
    ok("Telegram" in res["telegram"], "a failed Telegram login: %r" % res["telegram"])
    for code, words in (("invalid", "could not confirm"), ("expired", "too old"),
                        ("forbidden", "may see"), ("rate_limited", "Too many"),
                        ("unavailable", "not available")):
        ok(words in res["codes"][code] and "did not work" not in res["codes"][code],
           "#error=%s: %r" % (code, res["codes"][code]))
    eq(s.sql("SELECT count(*), count(revoked_at) FROM console_sessions WHERE person = 'console:carol'"),
       [["1", "1"]], "one session, revoked")


def test_input_and_choice_answered(s):
    """An input request is answered with the text typed; a choice request by
    the option pressed, its buttons marked by what each means; with a quorum
    of two one approval is counted, shown, and the controls go."""
    register(s, "console-answer", console_approvers=["admin"])
    rin = submit(s, "console-answer", "Which tag should I release?", request_type="input")
    rch = submit(s, "console-answer", "Deploy now?", request_type="choice",
                 options=[{"label": "Deploy", "approve": True}, {"label": "Hold", "approve": False},
                          {"label": "Blue", "approve": True}])
    register(s, "console-quorum", console_approvers=["admin", "ann"])
    rq = submit(s, "console-quorum", "Drop the old table?", request_type="confirmation",
                approvals_required=2)
    res = browser(s, "answer", link=link(s), input=rin, choice=rch, quorum=rq, text="v2.1.1")
    eq((res["quorum_before"], res["quorum_after"]), ("0 of 2 approvals", "1 of 2 approvals"), "quorum")
    eq(res["quorum_flash"], "Your vote is counted. 1 of 2 approvals.", "a counted vote")
    ok(len(res["votes"]) == 1 and "admin" in res["votes"][0] and "approved" in res["votes"][0],
       "who voted: %r" % res["votes"])
    eq(res["controls_left"], 0, "no controls after voting")
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", rq), "pending", "still pending")
    s.post("/hitl/cancel", {"request_id": rq})
    eq(res["buttons"], [["\u2705 Deploy", "btn yes"], ["\u274C Hold", "btn no"], ["\u2705 Blue", "btn yes"]],
       "option buttons with their marks")
    p = s.get("/hitl/poll?request_id=" + rin).json
    eq((p["status"], p["response"]), ("completed", "v2.1.1"), "the input's answer")
    p = s.get("/hitl/poll?request_id=" + rch).json
    eq((p["status"], p["approved"], p["response"]), ("completed", False, "Hold"), "the option pressed")
    eq(res["input_flash"], "Answer sent.", "answer result")
    eq(res["counts"], ["1200 / 1024 bytes", "4200 / 4096 bytes"], "the boxes count UTF-8 bytes")
    ok("1200 bytes" in res["too_long"], "a reason too long: %r" % res["too_long"])
    eq(res["posts_too_long"], 0, "nothing sent while a box holds too much")
    eq(res["choice_flash"], "Denied.", "vote result")


def test_edits_approve_exactly_what_the_form_shows(s):
    """A boolean set to "(not set)" and a cleared field are removed, not kept
    with their submitted values; without a schema a number stays a number
    (a number input) and a boolean a boolean (a true/false select)."""
    register(s, "console-whole", console_approvers=["admin"])
    rid = submit(s, "console-whole", "Scale the web tier?", request_type="confirmation",
                 params={"replicas": 3, "env": "staging", "dry_run": True, "note": "x"},
                 params_schema=SCHEMA)
    rid2 = submit(s, "console-whole", "Resize?", request_type="confirmation",
                  params={"n": 3, "on": True, "__proto__": "keep", "toString": "t"})
    res = browser(s, "edits_whole", link=link(s), rid=rid, rid2=rid2)
    eq(res["posted"][0], {"approve": True, "params": {"replicas": 3, "env": "staging"}},
       "the whole params as shown")
    p = s.get("/hitl/poll?request_id=" + rid).json
    eq((p["approved"], p["params"], p["edited"]), (True, {"replicas": 3, "env": "staging"}, True))
    eq(res["types"], {"n": "number", "on": "select"})
    p = s.get("/hitl/poll?request_id=" + rid2).json
    eq((p["approved"], p["params"], p["edited"]),
       (True, {"n": 7, "on": False, "__proto__": "keep", "toString": "t"}, True),
       "keys named __proto__ or toString are kept as keys, as text")


def test_sessions_page_with_odd_session_ids(s):
    """A session id with ! ' ( ) * neither breaks the Sessions page nor its link."""
    sid = "deploy (prod)!'*"
    register(s, sid, console_approvers=["admin"])
    res = browser(s, "sessions_odd", link=link(s), sid=sid)
    ok(sid in res["names"], "the session is listed: %r" % res["names"])
    eq(res["filter"], sid, "the history filter is the session id")


def test_request_page_follows_refusals_case_and_quorum(s):
    """After a 409 the page shows the request as it is (not pending with live
    buttons); a page opened by an upper-case id follows live events; the
    Decide card's "N of M approvals" follows other approvers' votes."""
    from test_16_console import login as console_login
    register(s, "console-follow", console_approvers=["admin", "ann"])
    conf = {"request_type": "confirmation"}
    rid1 = submit(s, "console-follow", "First?", **conf)
    rid2 = submit(s, "console-follow", "Second?", **conf)
    rid3 = submit(s, "console-follow", "Third?", approvals_required=2, **conf)

    def cancel(d):
        r = s.post("/hitl/cancel", {"request_id": d["rid"]})
        eq(r.status, 200, repr(r))

    def ann(d):
        r = console_login(s, "--name", "ann").vote(d["rid"], {"approve": True})
        eq((r.status, r.json["result"]), (200, "voted"), repr(r))

    res = browser(s, "request_live", {"cancel": cancel, "ann": ann}, link=link(s),
                  rid1=rid1, rid2=rid2, rid3=rid3)
    ok("canceled" in res["after_409"]["decided"], repr(res["after_409"]))
    ok("no longer pending" in res["after_409"]["flash"], repr(res["after_409"]))
    ok("0 of 2" in res["quorum_before"] and "1 of 2" in res["quorum_after"], repr(res))


def test_refused_stream_is_opened_again(s):
    """One refused stream (502) is retried after a short back-off."""
    res = browser(s, "stream_retry", link=link(s))
    ok(res["opened"] >= 1 and res["ms"] < 9000, repr(res))


def test_bidi_and_zero_width_shown_as_markers(s):
    """"\\u202egnigats" does not read as "staging": bidi controls,
    zero-width characters and NEL/U+2028/U+2029 in agent text are shown as ⟨U+XXXX⟩; the
    approved params keep the real values."""
    register(s, "console-bidi", console_approvers=["admin"])
    params = {"env": "\u202egnigats", "branch": "ma\u200bin"}
    rid = submit(s, "console-bidi", "\u202eevorppa\u202c Approve is safe\u2028Why: fine\u0085.",
                 request_type="confirmation",
                 metadata={"\u202eRTL": "\u200b\u200bzw", "iso": "\u2066x\u2069\ufeff"},
                 params=params,
                 params_schema={"type": "object", "properties": {
                     "env": {"enum": ["staging", "\u202egnigats", "production"]},
                     "branch": {"type": "string"}}})
    res = browser(s, "bidi", link=link(s), rid=rid)
    hidden = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
    for k in ("message", "metadata", "params"):
        ok(not hidden.search(res[k]), "%s shows a control: %r" % (k, res[k]))
    ok(res["message"].startswith("\u27e8U+202E\u27e9evorppa\u27e8U+202C\u27e9"), repr(res["message"]))
    # A line or paragraph separator or a NEL is a break a browser may draw: marked too.
    ok("safe\u27e8U+2028\u27e9Why: fine\u27e8U+0085\u27e9." in res["message"], repr(res["message"]))
    for m in ("\u27e8U+202E\u27e9RTL", "\u27e8U+200B\u27e9\u27e8U+200B\u27e9zw",
              "\u27e8U+2066\u27e9x\u27e8U+2069\u27e9\u27e8U+FEFF\u27e9"):
        ok(m in res["metadata"], "metadata %r lacks %r" % (res["metadata"], m))
    ok("\u27e8U+202E\u27e9gnigats" in res["params"] and "ma\u27e8U+200B\u27e9in" in res["params"],
       repr(res["params"]))
    ok("\u27e8U+202E\u27e9gnigats" in res["options"] and "staging" in res["options"], repr(res["options"]))
    p = s.get("/hitl/poll?request_id=" + rid).json
    eq((p["approved"], p["params"]), (True, params), "the real values are approved")


def test_pending_list_redraws_only_what_changed(s):
    """A new request adds its card; the cards already shown stay in place."""
    register(s, "console-keyed", console_approvers=["admin"])
    rid = submit(s, "console-keyed", "First?", request_type="confirmation")
    got = {}

    def more(_):
        got["rid"] = submit(s, "console-keyed", "Second?", request_type="confirmation")
        return {"rid": got["rid"]}

    res = browser(s, "pending_keyed", {"submit": more}, link=link(s), rid=rid)
    eq(res["mark"], "kept", "the first card is the same node")
    eq([i for i in res["ids"] if i in (rid, got["rid"])], [rid, got["rid"]], "oldest first")
