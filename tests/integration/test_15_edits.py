"""Approve with edits and approve with a comment (issue 15, items 3 and 4),
end to end through the Bot API stand-in: submit takes `params` and
`params_schema` (precise 400s otherwise); the request message shows the
params; a reply `/edit` with key=value lines or a JSON object is the
person's approval with those params, checked against the schema: one that
fails is answered in the chat and records nothing, one that passes decides
the request and the answer carries the final `params`, `edited: true` and
`params_sha256`, which the test recomputes from the params. `/approve
<comment>` approves with the comment as the reason, `/deny <reason>` denies
with it. The MCP tool takes params and returns them."""
import hashlib
import json
import threading

from hookrecv import Receiver, verify
from lg import chat, eq, ok, wait_for
from test_07_telegram import OK, NO, ASK, register, submit, sent, poll, buttons
from test_09_mcp import initialize, call, result_of

ANN, BOB = 601, 602

SCHEMA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
        "env": {"enum": ["staging", "production"]},
        "tag": {"type": "string", "maxLength": 12, "pattern": "^v[0-9]+\\.[0-9]+$"},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "dry_run": {"type": "boolean"},
    },
    "required": ["replicas", "env"],
    "additionalProperties": False,
}
PARAMS = {"replicas": 3, "env": "staging", "tag": "v2.1", "dry_run": True}


def sha(params):
    """params_sha256 as docs/API.md defines it: SHA-256 of the canonical JSON."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def said_to(s, c, mid, timeout=10):
    """The texts the bot sent in chat `c` as replies to message `mid`."""
    return wait_for(lambda: [x["text"] for x in s.tg.sent_messages(c)
                             if (x.get("reply_to_message") or {}).get("message_id") == mid],
                    timeout, "the answer to message %d" % mid)


def decided(s, rid):
    return wait_for(lambda: (lambda p: p if p["status"] == "completed" else None)(poll(s, rid)),
                    10, "the decision of %s" % rid)


def acts(s, rid):
    """What the trail and the votes hold for `rid` beyond its submit."""
    return (s.scalar("SELECT count(*) FROM votes WHERE request_id = :'p1'", rid),
            s.sql("SELECT action FROM audit_log WHERE request_id = :'p1'"
                  " AND action <> 'submitted' ORDER BY id", rid))


def reply(s, c, m, text, user=ANN, name="Ann"):
    u, st = s.tg.reply_and_deliver(c, m, text, user_id=user, first_name=name)
    eq(st, [200])
    return u["message"]["message_id"]


def test_submit_refuses_bad_params(s):
    register(s, "edits-400", chat(), approvers=[ANN])
    base = {"session_id": "edits-400", "client_id": "agent", "message": "Scale?"}
    cases = [
        ({"params": [1]}, "params must be an object"),
        ({"params": {"a": "x" * 9000}}, "params must be at most 8192 bytes"),
        ({"params": {"n": 2 ** 60}}, "params.n must be an integer within"),
        ({"params": {"a": {"b": [1e20]}}}, "params.a.b[0] must be a number below 1e15"),
        # jsonb stores -0.0 as 0.0: the agent's digest of what it sent would not match.
        ({"params": {"ratio": -0.0}}, "params.ratio is a negative zero"),
        ({"params_schema": []}, "params_schema must be an object"),
        ({"params_schema": {"type": "object", "properties": {"n": {"type": "integer",
                                                                  "format": "x"}}}},
         "params_schema.properties.n.format is not supported"),
        ({"params_schema": {"type": "object", "anyOf": []}}, "params_schema.anyOf is not supported"),
        ({"params_schema": {"type": "object", "properties": {"t": {"type": "string",
                                                                  "pattern": "(["}}}},
         "params_schema.properties.t.pattern is not a POSIX extended regular expression"),
        # Patterns regcomp would expand for seconds and gigabytes: refused before it sees them.
        ({"params_schema": {"type": "object", "properties": {"t": {
            "type": "string", "pattern": "((((a{1,20}){1,20}){1,20}){1,20}){1,20}"}}}},
         "params_schema.properties.t.pattern is too complex: its repetitions expand to more"
         " than 1000 positions"),
        ({"params_schema": {"type": "object", "properties": {"t": {
            "type": "string", "pattern": "a{1,32767}b{1,32767}c{1,32767}d{1,32767}"}}}},
         "params_schema.properties.t.pattern repeats more than 255 times"),
        # An escape POSIX does not have would be taken as the letter itself (\d matching "d").
        ({"params_schema": {"type": "object", "properties": {"t": {"type": "string",
                                                                  "pattern": "^\\d+$"}}}},
         "params_schema.properties.t.pattern: \\d is not POSIX: write [0-9]"),
        ({"params_schema": {"type": "object", "properties": {"n": {"type": "string"}},
                            "required": ["m"]}},
         "params_schema.required[0] names no property"),
        ({"params": {"replicas": 30, "env": "staging"}, "params_schema": SCHEMA},
         "params.replicas must be at most 10"),
        ({"params": {"replicas": 3}, "params_schema": SCHEMA}, "params.env is required"),
        ({"params": {"replicas": 3, "env": "dev"}, "params_schema": SCHEMA},
         "params.env must be one of: staging, production"),
        ({"params": dict(PARAMS, tag="2.1"), "params_schema": SCHEMA},
         "params.tag must match the pattern"),
        ({"params": dict(PARAMS, x=1), "params_schema": SCHEMA},
         "params.x is not a parameter of this request"),
        ({"params_schema": SCHEMA}, "params.replicas is required"),
    ]
    before = s.scalar("SELECT count(*) FROM requests WHERE session_id = 'edits-400'")
    for extra, msg in cases:
        r = s.post("/hitl/request", dict(base, **extra))
        eq(r.status, 400, "%r: %r" % (extra, r))
        eq(r.json["error"]["code"], "invalid_field", repr(extra))
        ok(msg in r.json["error"]["message"], "%r: %r lacks %r" % (extra, r.json, msg))
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id = 'edits-400'"), before)
    # Without params a request answers as before, with the new fields empty.
    rid = submit(s, "edits-400", request_type="confirmation")
    p = poll(s, rid)
    eq((p["params"], p["edited"], p["params_sha256"]), (None, False, None))
    # A schema without params: the params are {} (nothing required), shown as such.
    rid = submit(s, "edits-400", params_schema={"type": "object",
                                                "properties": {"n": {"type": "integer"}}})
    p = poll(s, rid)
    eq((p["params"], p["edited"], p["params_sha256"]), ({}, False, sha({})))
    pend = [x for x in s.get("/hitl/pending?session_id=edits-400").json["pending_requests"]
            if x["id"] == rid][0]
    eq((pend["params"], pend["params_schema"]["properties"]), ({}, {"n": {"type": "integer"}}))


def test_edit_checked_by_schema_then_approved(s):
    rec = Receiver()
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        c = chat()
        register(s, "edits-a", c, approvers=[ANN, BOB])
        rid = submit(s, "edits-a", request_type="confirmation", params=PARAMS,
                     params_schema=SCHEMA, callback_url=rec.url)
        _, m, msg = sent(s, rid)
        # The message shows the params and how to change them.
        ok("Parameters (reply /edit key=value to change them):" in msg["text"], msg["text"])
        # Strings quoted, as JSON writes them: "3" and 3 look different.
        for line in ("replicas = 3", "env = \"staging\"", "tag = \"v2.1\"", "dry_run = true"):
            ok(line in msg["text"], "%r not in %r" % (line, msg["text"]))
        eq(buttons(msg), [OK + "Approve", NO + "Deny", ASK])
        p = poll(s, rid)
        eq((p["params"], p["edited"], p["params_sha256"]), (PARAMS, False, sha(PARAMS)))

        # Edits that fail the schema are answered in the chat and record nothing.
        for text, why in [("/edit replicas=50", "replicas must be at most 10"),
                          ("/edit env=dev", "env must be one of: staging, production"),
                          ("/edit tag=latest", "tag must match the pattern"),
                          ("/edit replicas=three", "replicas must be an integer"),
                          ("/edit ratio=-0.0", "ratio is a negative zero"),
                          ("/edit colour=red", "colour is not a parameter of this request"),
                          ('/edit {"replicas": "4"}', "replicas must be an integer"),
                          ("/edit", "nothing to change")]:
            mid = reply(s, c, m, text)
            told = said_to(s, c, mid)
            ok(any(t.startswith("Not recorded: ") and why in t for t in told),
               "%r: %r lacks %r" % (text, told, why))
        eq(acts(s, rid), ("0", []))
        eq(poll(s, rid)["status"], "pending")

        # One that passes is Bob's approval with edits (the @bot suffix of a group is read).
        reply(s, c, m, "/edit@LoopgateBot replicas=5\n env = production \nratio=0.25",
              user=BOB, name="Bob")
        p = decided(s, rid)
        final = dict(PARAMS, replicas=5, env="production", ratio=0.25)
        eq((p["approved"], p["response"], p["params"], p["edited"]),
           (True, "Approve", final, True))
        eq(p["params_sha256"], sha(final))
        eq(p["params_sha256"], sha(p["params"]))
        eq([(v["responder"]["id"], v["approve"], v.get("params")) for v in p["votes"]],
           [(BOB, True, final)])
        # The database: the vote's params, the request's final params, the trail.
        eq(json.loads(s.scalar("SELECT params::text FROM votes WHERE request_id = :'p1'", rid)),
           final)
        eq(json.loads(s.scalar("SELECT edited_params::text FROM requests WHERE id = :'p1'", rid)),
           final)
        eq(json.loads(s.scalar("SELECT params::text FROM requests WHERE id = :'p1'", rid)), PARAMS)
        eq(acts(s, rid)[1], [["decided"]])
        detail = json.loads(s.scalar("SELECT detail::text FROM audit_log WHERE request_id = :'p1'"
                                     " AND action = 'decided'", rid))
        eq((detail["via"], detail["params"], detail["params_sha256"], detail["edited"]),
           ("edit", final, sha(final), True))
        # The webhook body says the same.
        body = verify(rec.wait_calls(1)[0], secret)
        eq((body["params"], body["edited"], body["params_sha256"]), (final, True, sha(final)))
        # The message, edited with the decision, shows the params as approved.
        fin = wait_for(lambda: (lambda t: t if "Approved" in t else None)(
            s.tg.messages[(c, m)]["text"]), 10, "the final edit")
        ok("Parameters, as edited and approved:" in fin and "replicas = 5" in fin, fin)
        # An edit after the decision adds nothing.
        mid = reply(s, c, m, "/edit replicas=6")
        ok(any("already answered" in t for t in said_to(s, c, mid)), "late edit")
        eq(poll(s, rid)["params"], final)
    finally:
        rec.stop()


def test_edit_as_json_object(s):
    c = chat()
    register(s, "edits-json", c, approvers=[ANN])
    rid = submit(s, "edits-json", request_type="confirmation", params=PARAMS, params_schema=SCHEMA)
    _, m, _ = sent(s, rid)
    reply(s, c, m, '/edit {"env": "production", "dry_run": false, "tag": "v3.0"}')
    p = decided(s, rid)
    final = dict(PARAMS, env="production", dry_run=False, tag="v3.0")
    eq((p["approved"], p["params"], p["edited"], p["params_sha256"]),
       (True, final, True, sha(final)))


def test_edit_without_schema_and_unchanged(s):
    c = chat()
    register(s, "edits-free", c, approvers=[ANN, BOB])
    # Without a schema, a key=value is typed by the value it replaces.
    rid = submit(s, "edits-free", request_type="confirmation",
                 params={"count": 2, "note": "x", "nested": {"a": [1, 2]}})
    _, m, _ = sent(s, rid)
    reply(s, c, m, "/edit count=7\nnote=hello world")
    p = decided(s, rid)
    final = {"count": 7, "note": "hello world", "nested": {"a": [1, 2]}}
    eq((p["params"], p["edited"], p["params_sha256"]), (final, True, sha(final)))
    # An edit that changes nothing is an approval as sent.
    rid = submit(s, "edits-free", request_type="confirmation", params={"count": 2})
    _, m, _ = sent(s, rid)
    reply(s, c, m, "/edit count=2")
    p = decided(s, rid)
    eq((p["approved"], p["params"], p["edited"]), (True, {"count": 2}, False))
    eq(s.scalar("SELECT edited_params IS NULL FROM requests WHERE id = :'p1'", rid), "t")


def test_edit_key_value_typing(s):
    """key=value cannot write an object or an array (refused, pointing at the JSON form); a
    null takes a JSON scalar; a double-quoted value is the string inside the quotes."""
    c = chat()
    register(s, "edits-typing", c, approvers=[ANN])
    params = {"nested": {"a": [1, 2]}, "maybe": None, "note": "x", "tag": "v1.0"}
    schema = {"type": "object", "properties": {"tag": {"type": "string"}}}
    rid = submit(s, "edits-typing", request_type="confirmation", params=params,
                 params_schema=schema)
    _, m, _ = sent(s, rid)
    mid = reply(s, c, m, "/edit nested=1")
    why = 'nested is an object: use the JSON form, /edit {"nested": ...}'
    told = said_to(s, c, mid)
    ok(any(t.startswith("Not recorded: ") and why in t for t in told), "%r lacks %r" % (told, why))
    eq(acts(s, rid), ("0", []))
    reply(s, c, m, '/edit maybe=5\nnote="hello"\ntag="v2.0"')
    p = decided(s, rid)
    final = dict(params, maybe=5, note="hello", tag="v2.0")
    eq((p["approved"], p["params"], p["edited"], p["params_sha256"]),
       (True, final, True, sha(final)))


def test_edit_refuses_a_key_the_request_lacks(s):
    """A mistyped key would be added beside the one meant and the request approved with the
    meant value unchanged: refused in both forms, with or without a schema that leaves the
    params open, naming the keys that can be edited."""
    c = chat()
    register(s, "edits-typo", c, approvers=[ANN])
    params = {"replicas": 3, "env": "staging"}
    open_schema = {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                    "env": {"type": "string"}}}
    for schema in (None, open_schema):
        extra = {"params_schema": schema} if schema else {}
        rid = submit(s, "edits-typo", request_type="confirmation", params=params, **extra)
        _, m, _ = sent(s, rid)
        for text in ("/edit replcas=1", '/edit {"replcas": 1}'):
            mid = reply(s, c, m, text)
            told = said_to(s, c, mid)
            why = "replcas is not a parameter of this request; it has: env, replicas"
            ok(any(t.startswith("Not recorded: ") and why in t for t in told),
               "%r: %r lacks %r" % (text, told, why))
        eq(acts(s, rid), ("0", []))
        eq(poll(s, rid)["status"], "pending")
        # The key meant is edited.
        reply(s, c, m, "/edit replicas=1")
        p = decided(s, rid)
        eq((p["approved"], p["params"], p["edited"]), (True, dict(params, replicas=1), True))


def test_edit_refused_without_params_or_with_quorum(s):
    c = chat()
    register(s, "edits-no", c, approvers=[ANN, BOB])
    rid = submit(s, "edits-no", request_type="confirmation")
    _, m, _ = sent(s, rid)
    mid = reply(s, c, m, "/edit replicas=2")
    ok(any("no parameters to edit" in t for t in said_to(s, c, mid)), "no params")
    eq(acts(s, rid), ("0", []))
    # With a quorum, an edit would be approved by people who did not see it: refused.
    rid = submit(s, "edits-no", request_type="confirmation", params=PARAMS, params_schema=SCHEMA,
                 approvals_required=2)
    _, m, msg = sent(s, rid)
    ok("reply /edit" not in msg["text"], msg["text"])
    mid = reply(s, c, m, "/edit replicas=2")
    ok(any("needs 2 approvals" in t for t in said_to(s, c, mid)), "quorum")
    eq(acts(s, rid), ("0", []))
    eq(poll(s, rid)["status"], "pending")


def test_approve_with_comment_and_deny_with_reason(s):
    rec = Receiver()
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", "default").stdout.strip()
        c = chat()
        register(s, "edits-comment", c, approvers=[ANN])
        rid = submit(s, "edits-comment", options=["Deploy", "Hold"], callback_url=rec.url,
                     params={"version": "v2.1.0"})
        _, m, _ = sent(s, rid)
        reply(s, c, m, "/approve only after 18:00, please")
        p = decided(s, rid)
        eq((p["approved"], p["response"], p["reason"], p["edited"]),
           (True, "Deploy", "Approved by Ann: only after 18:00, please", False))
        eq((p["params"], p["params_sha256"]), ({"version": "v2.1.0"}, sha({"version": "v2.1.0"})))
        eq(s.sql("SELECT approve, response, reason FROM votes WHERE request_id = :'p1'", rid),
           [["t", "Deploy", "only after 18:00, please"]])
        body = verify(rec.wait_calls(1)[0], secret)
        eq(body["reason"], "Approved by Ann: only after 18:00, please")
    finally:
        rec.stop()
    # /deny <reason> (with a bot suffix) denies with the reason, as "Deny with reason…" does.
    rid = submit(s, "edits-comment", options=["Deploy", "Hold"])
    _, m, _ = sent(s, rid)
    reply(s, c, m, "/deny@LoopgateBot use the canary first")
    p = decided(s, rid)
    eq((p["approved"], p["response"], p["reason"]),
       (False, "Hold", "Denied by Ann: use the canary first"))
    # A plain /approve without a comment approves with no reason.
    rid = submit(s, "edits-comment", request_type="confirmation")
    _, m, _ = sent(s, rid)
    reply(s, c, m, "/approve")
    p = decided(s, rid)
    eq((p["approved"], p["response"], p["reason"]), (True, "Approve", None))
    # An option list with two that approve: /approve cannot tell which; nothing recorded.
    rid = submit(s, "edits-comment", options=["Deploy", "Ship it", "Hold"])
    _, m, _ = sent(s, rid)
    mid = reply(s, c, m, "/approve go")
    ok(any("several options that approve" in t for t in said_to(s, c, mid)), "ambiguous")
    eq(acts(s, rid), ("0", []))
    # Someone not listed as an approver is refused and audited, as a press is.
    rid = submit(s, "edits-comment", request_type="confirmation", params={"n": 1})
    _, m, _ = sent(s, rid)
    mid = reply(s, c, m, "/edit n=2", user=BOB, name="Bob")
    ok(any("not authorized" in t for t in said_to(s, c, mid)), "unauthorized")
    eq(acts(s, rid), ("0", [["unauthorized_attempt"]]))


def test_params_in_mcp_result(s):
    c = chat()
    sid, _ = initialize(s)
    tools = s.get("/mcp/tools").json
    tool = [t for t in (tools.get("tools") or tools) if t["name"] == "request_human_input"][0]
    ok("params" in tool["inputSchema"]["properties"], tool["inputSchema"])
    ok("params_schema" in tool["inputSchema"]["properties"], tool["inputSchema"])
    for k in ("params", "edited", "params_sha256"):
        ok(k in tool["outputSchema"]["properties"], tool["outputSchema"])
    register(s, "mcp", c, approvers=[ANN])
    box = {}
    t = threading.Thread(target=lambda: box.update(r=call(
        s, sid, "request_human_input", {"message": "Scale the fleet?",
                                        "request_type": "confirmation", "params": PARAMS,
                                        "params_schema": SCHEMA, "wait_seconds": 30})))
    t.start()
    rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id = 'mcp'"
                                    " AND message = 'Scale the fleet?'"), 10)
    _, m, _ = sent(s, rid)
    reply(s, c, m, "/edit replicas=4")
    t.join(30)
    res = result_of(box["r"])["result"]
    sc = res["structuredContent"]
    final = dict(PARAMS, replicas=4)
    eq((sc["status"], sc["approved"], sc["params"], sc["edited"], sc["params_sha256"]),
       ("completed", True, final, True, sha(final)))
    ok(sha(final) in res["content"][0]["text"], res)
    first = res["content"][0]["text"].split("\n")[0]
    eq(first, "The human approved. The human changed the params: act with exactly these: "
              + json.dumps(final, sort_keys=True, separators=(",", ":")), "the first line")
    # A bad schema is the tool's error, naming the field.
    bad = result_of(call(s, sid, "request_human_input",
                         {"message": "x", "params_schema": {"type": "object", "allOf": []},
                          "wait_seconds": 0}))["result"]
    eq(bad["isError"], True)
    ok("params_schema.allOf is not supported" in bad["content"][0]["text"], bad)
