"""The tamper-evident audit trail (docs/AUDIT.md): real actions through the
stack chain their audit rows per tenant; `loopgate audit export` writes them
in chain order with hashes anyone can recompute (done here in Python, apart
from both the database and the C code); `loopgate audit verify` passes, then
names the first row changed, removed or inserted by hand with SQL; many
concurrent writers of one tenant leave one unforked chain.

Each test uses tenants of its own (API keys), so the rows of other tests do
not matter, and verifies with --tenant."""
import csv
import hashlib
import io
import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

from lg import chat, eq, ok, wait_for
from test_07_telegram import OK



# ---------------------------------------------------------------- the canonical form, again

def jsonb_text(v):
    """A JSON value as PostgreSQL prints jsonb: object keys by byte length, then
    bytes; ", " between items, ": " after keys; strings as JSON escapes them."""
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(json.dumps(k, ensure_ascii=False) + ": " + jsonb_text(v[k])
                               for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(jsonb_text(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def row_sha256(tenant, seq, at, request_id, session_id, actor, action, detail_text, prev):
    fields = ["loopgate-audit-v1", tenant, str(seq), at, request_id, session_id, actor, action,
              detail_text, prev]
    canon = "\n".join("-" if f is None else "%d:%s" % (len(f.encode()), f) for f in fields)
    return hashlib.sha256(canon.encode()).hexdigest()


# ---------------------------------------------------------------- helpers

def tenant(s, name):
    return {"X-API-Key": s.new_key(name)}


def register(s, h, sid, chat_id):
    eq(s.post("/hitl/register", {"session_id": sid, "client_id": "agent", "telegram_id": chat_id},
              headers=h).status, 200)


def submit(s, h, sid, **extra):
    body = {"session_id": sid, "client_id": "agent", "message": "Deploy v2.1.0 to production?"}
    body.update(extra)
    r = s.post("/hitl/request", body, headers=h)
    eq(r.status, 200, repr(r))
    return r.json["request_id"]


def cancel(s, h, rid):
    r = s.post("/hitl/cancel", {"request_id": rid}, headers=h)
    eq(r.status, 200, repr(r))


def audit(s, *args, check=None):
    r = s.cli("audit", *args, check=False)
    if check is not None:
        eq(r.returncode, check, "loopgate audit %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def export(s, name, fmt="jsonl", *extra):
    r = audit(s, "export", "--tenant", name, "--format", fmt, *extra, check=0)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    return [json.loads(line) for line in r.stdout.splitlines()]


def db_chain(s, name):
    """(seq, action, prev_sha256, row_sha256) of every row of a tenant, in chain order."""
    return [tuple(r) for r in s.sql(
        "SELECT seq, action, coalesce(prev_sha256, ''), row_sha256 FROM audit_log"
        " WHERE tenant = :'p1' ORDER BY seq", name)]


def linked(chain, what):
    """seq 1..N without gaps, each prev the row before's hash."""
    eq([int(c[0]) for c in chain], list(range(1, len(chain) + 1)), what + ": the seqs")
    for a, b in zip(chain, chain[1:]):
        eq(b[2], a[3], "%s: seq %s's prev_sha256" % (what, b[0]))
    eq(chain[0][2], "", what + ": the first row's prev_sha256")


def rows_of(s, h, sid, n):
    """A session and n submit + cancel pairs: 1 + 2n audit rows."""
    register(s, h, sid, chat())
    for _ in range(n):
        cancel(s, h, submit(s, h, sid))


def tampered(s, statements):
    """Run statements by hand in one transaction, with the audit triggers off
    as a table owner can (ALTER TABLE takes the table's lock until the end of
    the transaction: no other writer ever sees them off)."""
    s.sql("BEGIN;"
          " ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;"
          " ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain;"
          + statements +
          " ALTER TABLE audit_log ENABLE TRIGGER audit_log_chain;"
          " ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;"
          " COMMIT;")


def broken_line(r, name):
    m = re.search(r"^broken tenant=%s seq=(\d+) kind=(\w+): (.*)$" % re.escape(name), r.stdout,
                  re.M)
    ok(m, "no broken line for %s in %r" % (name, r.stdout))
    return int(m.group(1)), m.group(2), m.group(3)


# ---------------------------------------------------------------- tests

def test_actions_chain_and_export_carries_the_hashes(s):
    name = "audit-trail"
    h = tenant(s, name)
    c = chat()
    register(s, h, "a15", c)
    # A press in Telegram decides one ...
    pressed = submit(s, h, "a15", options=["Yes", "No"])
    wait_for(lambda: s.sql("SELECT telegram_message_id FROM requests WHERE id = :'p1'"
                           " AND tg_state = 'sent'", pressed), 30, "the message sent")
    m = int(s.scalar("SELECT telegram_message_id FROM requests WHERE id = :'p1'", pressed))
    eq(s.tg.deliver(s.tg.press(c, m, button_text=OK + "Yes", user_id=c)), [200])
    # ... the agent cancels one, and one times out.
    canceled = submit(s, h, "a15")
    cancel(s, h, canceled)
    timed = submit(s, h, "a15", timeout_seconds=1)
    wait_for(lambda: s.scalar("SELECT status FROM requests WHERE id = :'p1'", timed) == "timeout",
             15, "the request to time out")
    wait_for(lambda: s.scalar("SELECT count(*) FROM audit_log WHERE request_id = :'p1'", timed)
             == "2", 10, "the timeout's audit row")

    chain = db_chain(s, name)
    linked(chain, "the tenant's chain")
    want = [("session_registered", None), ("submitted", pressed), ("decided", pressed),
            ("submitted", canceled), ("canceled", canceled), ("submitted", timed),
            ("timed_out", timed)]
    rows = export(s, name)
    eq([(r["action"], r["request_id"]) for r in rows if r["action"] in dict(want)], want,
       "the actions in chain order")
    eq([(str(r["seq"]), r["action"], r["prev_sha256"] or "", r["row_sha256"]) for r in rows],
       chain, "the exported chain")
    decided = [r for r in rows if r["action"] == "decided"][0]
    eq((decided["actor"], decided["detail"]["response"]), ("telegram:%d" % c, "Yes"),
       "the decision's row")
    timed_out = [r for r in rows if r["action"] == "timed_out"][0]
    eq(timed_out["detail"]["on_timeout"], "deny", "the timeout's row")
    # Each end carries the decision latency, as the request's row has it.
    for r in rows:
        if r["action"] in ("decided", "canceled", "timed_out"):
            eq(str(r["detail"]["latency_ms"]), s.scalar(
                "SELECT floor(extract(epoch FROM responded_at - created_at) * 1000)::bigint"
                " FROM requests WHERE id = :'p1'", r["request_id"]),
               "the latency of the %s row" % r["action"])
    eq(rows[0]["detail"], {"client_id": "agent", "telegram_id": c, "approvers": []},
       "the registered session's row")
    # Each hash, recomputed apart from the database and the C code: from the
    # JSON lines (detail written back in jsonb's form) and from the CSV
    # (detail as the database printed it).
    for r in rows:
        ok(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", r["at"]), r["at"])
        eq(row_sha256(name, r["seq"], r["at"], r["request_id"], r["session_id"], r["actor"],
                      r["action"], None if r["detail"] is None else jsonb_text(r["detail"]),
                      r["prev_sha256"]), r["row_sha256"], "seq %d's hash from jsonl" % r["seq"])
    crows = export(s, name, "csv")
    eq(list(crows[0].keys()), ["tenant", "seq", "at", "request_id", "session_id", "actor",
                               "action", "detail", "prev_sha256", "row_sha256"], "the CSV header")
    eq([(r["seq"], r["row_sha256"]) for r in crows], [(c[0], c[3]) for c in chain],
       "the CSV's chain")
    nul = lambda v: v or None  # noqa: E731 - an empty CSV field is NULL
    for r in crows:
        eq(row_sha256(r["tenant"], r["seq"], r["at"], nul(r["request_id"]), nul(r["session_id"]),
                      r["actor"], r["action"], nul(r["detail"]), nul(r["prev_sha256"])),
           r["row_sha256"], "seq %s's hash from CSV" % r["seq"])
    raw = subprocess.run([s.binary, "audit", "export", "--tenant", name, "--format", "csv"],
                         env=s.env(), capture_output=True, timeout=60).stdout
    eq(raw.count(b"\r\n"), raw.count(b"\n"), "CSV lines end with CRLF")
    eq(raw.count(b"\r\n"), len(chain) + 1, "CSV lines")
    # --since: the rows from the cancel's submit on.
    since = rows[3]["at"]
    eq([r["seq"] for r in export(s, name, "jsonl", "--since", since)],
       [r["seq"] for r in rows if r["at"] >= since], "--since")

    r = audit(s, "verify", "--tenant", name, check=0)
    eq(r.stdout, "ok tenant=%s rows=%d head_seq=%d head_sha256=%s\n"
       % (name, len(chain), len(chain), chain[-1][3]), "verify's line")
    eq(s.sql("SELECT seq, row_sha256 FROM audit_heads WHERE tenant = :'p1'", name),
       [[chain[-1][0], chain[-1][3]]], "the chain head")


def test_verify_names_the_row_changed_removed_or_inserted(s):
    names = {k: "audit-" + k for k in ("changed", "rehashed", "removed", "inserted", "outside")}
    for k, name in names.items():
        rows_of(s, tenant(s, name), "t15-" + k, 2)  # seq 1..5
        audit(s, "verify", "--tenant", name, check=0)

    # A detail changed by hand.
    tampered(s, "UPDATE audit_log SET detail = '{\"forged\": true}'"
                " WHERE tenant = '%s' AND seq = 3;" % names["changed"])
    r = audit(s, "verify", "--tenant", names["changed"], check=1)
    eq(broken_line(r, names["changed"])[:2], (3, "changed"), r.stdout)
    ok("BROKEN" in r.stderr, r.stderr)

    # Changed, and its hash recomputed to match: the next row no longer chains onto it.
    tampered(s, "UPDATE audit_log SET actor = 'someone-else', row_sha256 = audit_row_sha256("
                " tenant, seq, at, request_id, session_id, 'someone-else', action, detail,"
                " prev_sha256) WHERE tenant = '%s' AND seq = 2;" % names["rehashed"])
    r = audit(s, "verify", "--tenant", names["rehashed"], check=1)
    eq(broken_line(r, names["rehashed"])[:2], (2, "changed"), r.stdout)

    # A row deleted.
    tampered(s, "DELETE FROM audit_log WHERE tenant = '%s' AND seq = 2;" % names["removed"])
    r = audit(s, "verify", "--tenant", names["removed"], check=1)
    eq(broken_line(r, names["removed"])[:2], (2, "removed"), r.stdout)

    # A row forged onto the end of the chain, hashes and all, past the trigger:
    # the chain head still records seq 5.
    tampered(s, "INSERT INTO audit_log (tenant, session_id, actor, action, seq, prev_sha256,"
                "  row_sha256)"
                " SELECT tenant, session_id, 'key:forged', 'canceled', 6, row_sha256,"
                "  audit_row_sha256(tenant, 6, now(), NULL, session_id, 'key:forged',"
                "                   'canceled', NULL, row_sha256)"
                " FROM audit_log WHERE tenant = '%s' AND seq = 5;" % names["inserted"])
    r = audit(s, "verify", "--tenant", names["inserted"], check=1)
    eq(broken_line(r, names["inserted"])[:2], (6, "inserted"), r.stdout)

    # A row with no place in the chain at all.
    tampered(s, "INSERT INTO audit_log (tenant, actor, action) VALUES ('%s', 'x', 'canceled');"
             % names["outside"])
    r = audit(s, "verify", "--tenant", names["outside"], check=1)
    eq(broken_line(r, names["outside"])[:2], (6, "inserted"), r.stdout)

    # Over every tenant: each broken one named, exit 1.
    r = audit(s, "verify", check=1)
    for name in names.values():
        broken_line(r, name)

    # The append-only trigger still refuses, and the chain trigger writes its
    # own values whatever an INSERT says.
    try:
        s.sql("UPDATE audit_log SET actor = 'x' WHERE tenant = '%s'" % names["changed"])
        ok(False, "an UPDATE of audit_log went through")
    except RuntimeError as e:
        ok("append-only" in str(e), str(e))
    s.sql("INSERT INTO audit_log (tenant, actor, action, seq, prev_sha256, row_sha256)"
          " VALUES ('audit-clean', 'x', 'y', 99, 'a', 'b')")
    eq(s.sql("SELECT seq, prev_sha256 IS NULL, row_sha256 <> 'b' FROM audit_log"
             " WHERE tenant = 'audit-clean'"), [["1", "t", "t"]], "the chain's own values")
    audit(s, "verify", "--tenant", "audit-clean", check=0)


def test_concurrent_writers_of_one_tenant_leave_one_chain(s):
    one, other = "audit-busy", "audit-busy-2"
    h1, h2 = tenant(s, one), tenant(s, other)
    register(s, h1, "busy", chat())
    register(s, h2, "busy", chat())
    jobs = [(h1, i) for i in range(50)] + [(h2, i) for i in range(20)]

    def job(arg):
        h, _ = arg
        cancel(s, h, submit(s, h, "busy"))

    with ThreadPoolExecutor(max_workers=35) as ex:
        list(ex.map(job, jobs))
    chain = db_chain(s, one)
    eq(len(chain), 101, "rows of the busy tenant")
    linked(chain, "the busy tenant's chain")
    linked(db_chain(s, other), "the other tenant's chain")
    for name in (one, other):
        audit(s, "verify", "--tenant", name, check=0)


def test_audit_cli_usage(s):
    r = audit(s, "--help", check=0)
    ok("loopgate audit verify [--tenant T]" in r.stdout and "Exit status" in r.stdout, r.stdout)
    audit(s, check=2)
    audit(s, "nonsense", check=2)
    ok("--format" in audit(s, "export", "--format", "xml", check=2).stderr, "bad --format")
    for since in ("yesterday-ish", "", "'; SELECT 1; --", "2026-01-01 00:00:00+99", "epoch",
                  "2026-13-01", "2026-12-01\n"):
        r = audit(s, "export", "--since", since, check=2)
        ok("--since takes a timestamp such as 2026-12-01" in r.stderr and "ERROR" not in r.stderr,
           "bad --since %r: %s" % (since, r.stderr))
    for since in ("2026-12-01", "2026-12-01T10:00:00Z", "2026-12-01 10:00:00.123456+02:00"):
        audit(s, "export", "--since", since, "--tenant", "audit-nobody", check=0)
    ok("no audit rows" in audit(s, "verify", "--tenant", "audit-nobody", check=2).stderr,
       "an unknown tenant")
    eq(audit(s, "export", "--tenant", "audit-nobody", check=0).stdout, "", "nothing to export")
