"""The agent REST API: every endpoint's success shape, as the Go original's
clients read it, and what each call leaves in the database."""
import os
import re
import subprocess
import threading
import time

from lg import ROOT, eq, ok, error_is, wait_for

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def register(s, sid, cid="agent", tg=123456789, **extra):
    body = {"session_id": sid, "client_id": cid, "telegram_id": tg}
    body.update(extra)
    r = s.post("/hitl/register", body)
    eq(r.status, 200, "register %s: %r" % (sid, r))
    return r.json


def submit(s, sid, msg="Approve?", **extra):
    body = {"session_id": sid, "client_id": "agent", "message": msg}
    body.update(extra)
    r = s.post("/hitl/request", body)
    eq(r.status, 200, "submit: %r" % r)
    return r.json


def test_health(s):
    r = s.get("/health")
    eq(r.status, 200)
    eq(r.json["status"], "healthy")
    eq(r.json["database"], "ok")


def test_readme_curl_register_and_request(s):
    # The original README's commands, byte for byte but for the port.
    def curl(*args):
        out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}"] +
                             [a.replace("8080", str(s.port)) for a in args],
                             capture_output=True, text=True, check=True).stdout
        body, code = out.rsplit("\n", 1)
        return int(code), body

    code, body = curl("-X", "POST", "http://localhost:8080/hitl/register",
                      "-H", "Content-Type: application/json",
                      "-d", '{\n    "session_id": "production-deploy-bot",\n    "client_id": "ci-cd-pipeline", \n    "telegram_id": 123456789\n  }')
    eq(code, 200, "register " + body)
    ok('"success":true' in body, body)
    code, body = curl("-X", "POST", "http://localhost:8080/hitl/register",
                      "-H", "Content-Type: application/json",
                      "-d", '{"session_id": "test", "client_id": "test", "telegram_id": 123456789}')
    eq(code, 200, body)
    code, body = curl("-X", "POST", "http://localhost:8080/hitl/request",
                      "-H", "Content-Type: application/json",
                      "-d", '{"session_id": "test", "client_id": "test", "message": "Test message"}')
    eq(code, 200, body)
    ok('"request_id"' in body and '"status":"pending"' in body, body)
    rows = s.sql("SELECT session_id, client_id, message, request_type, status, timeout_seconds"
                 " FROM requests WHERE message = 'Test message'")
    eq(rows[-1], ["test", "test", "Test message", "input", "pending", "300"])


def test_register_upsert(s):
    j = register(s, "upsert-1", "c1", 42)
    eq(j["success"], True)
    eq(j["session_id"], "upsert-1")
    eq(s.sql("SELECT client_id, telegram_chat_id, active FROM sessions WHERE session_id='upsert-1'"),
       [["c1", "42", "t"]])
    # Same id again: updated, not duplicated; a huge chat id (int64) kept exact.
    r = s.post("/sessions/register", {"session_id": "upsert-1", "client_id": "c2",
                                      "telegram_id": -1001234567890123, "approvers": [7, 8]})
    eq(r.status, 200, repr(r))
    eq(s.sql("SELECT client_id, telegram_chat_id, approvers FROM sessions WHERE session_id='upsert-1'"),
       [["c2", "-1001234567890123", "{7,8}"]])
    eq(s.scalar("SELECT count(*) FROM audit_log WHERE session_id='upsert-1'"), "2")


def test_submit_and_poll_shapes(s):
    register(s, "shapes")
    j = submit(s, "shapes", "Deploy v2.1.0 to production? All tests passed \u2705",
               options=["\U0001F680 Deploy", "\u23F8\uFE0F Hold", "\U0001F50D Review First"],
               metadata={"version": "v2.1.0", "tests_passed": 847, "code_coverage": "94.2%"})
    eq(j["success"], True)
    eq(j["status"], "pending")
    ok(TS.match(j["created_at"]), "created_at RFC 3339 UTC: %r" % j["created_at"])
    ok(TS.match(j["expires_at"]), "expires_at")
    eq(j["request_type"], "choice")
    rid = j["request_id"]
    row = s.sql("SELECT request_type, options::text, metadata->>'tests_passed', timeout_seconds,"
                " extract(epoch FROM expires_at - created_at)::int, status, approved"
                " FROM requests WHERE id = :'p1'", rid)
    eq(row, [["choice", '["\U0001F680 Deploy", "\u23F8\uFE0F Hold", "\U0001F50D Review First"]',
              "847", "300", "300", "pending", "f"]])
    p = s.get("/hitl/poll?request_id=" + rid)
    eq(p.status, 200)
    for k, v in (("request_id", rid), ("status", "pending"), ("approved", False),
                 ("completed", False), ("response", "")):
        eq(p.json[k], v, k)
    eq(s.scalar("SELECT action FROM audit_log WHERE request_id = :'p1'", rid), "submitted")



def test_poll_times_whatever_the_session_settings(s):
    # The poll answer formats its timestamps in the worker from PostgreSQL's
    # text: they must equal the submit's (formatted by the server) and keep
    # six fraction digits, also when the database's defaults are another
    # DateStyle and TimeZone.
    def check(sid):
        register(s, sid)
        j = submit(s, sid, "times")
        rid = j["request_id"]
        # The delivery writes tg_sent_at when it sends: let it finish first.
        wait_for(lambda: s.scalar("SELECT tg_state FROM requests WHERE id = :'p1'", rid)
                 != "queued", 30, "the message's delivery")
        s.sql("UPDATE requests SET tg_sent_at = '2026-01-02 03:04:05+00',"
              " callback_url = 'https://hooks.example.test/x', cb_state = 'delivered',"
              " cb_delivered_at = '2026-01-02 03:04:05.5+00' WHERE id = :'p1'", rid)
        s.sql("UPDATE requests SET status = 'completed', response = 'ok',"
              " responded_at = '2026-01-02 23:59:59.000001+00' WHERE id = :'p1'", rid)
        p = s.get("/hitl/poll?request_id=" + rid).json
        eq((p["created_at"], p["expires_at"]), (j["created_at"], j["expires_at"]))
        ok(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", p["created_at"]), p["created_at"])
        eq(p["responded_at"], "2026-01-02T23:59:59.000001Z")
        eq(p["delivery"]["sent_at"], "2026-01-02T03:04:05.000000Z")
        eq(p["callback"]["delivered_at"], "2026-01-02T03:04:05.500000Z")

    check("times-default")
    s.sql("ALTER DATABASE loopgate SET DateStyle = 'SQL, DMY';"
          " ALTER DATABASE loopgate SET TimeZone = 'America/New_York'")
    s.stop()
    s.start()
    try:
        check("times-database-defaults")
    finally:
        s.sql("ALTER DATABASE loopgate RESET DateStyle; ALTER DATABASE loopgate RESET TimeZone")
        s.stop()
        s.start()


def test_poll_looks_the_request_up_by_its_key_before_any_statistics(s):
    # A new database whose requests table has no statistics yet (nothing
    # analyzed it): the worker's pooled connection plans its poll while the
    # table holds one request and keeps the plan as 3,000 more of the same
    # tenant arrive. Each poll must still look its request up by id, not
    # walk an index over the tenant's requests (3,000 entries a poll), nor
    # the table.
    s.sql("DROP DATABASE IF EXISTS plans")
    s.stop()
    s.start(LOOPGATE_DB_NAME="plans", LOOPGATE_WORKERS="1", LOOPGATE_DB_POOL_SIZE="1")
    try:
        s.sql("ALTER TABLE requests SET (autovacuum_enabled = false)", db="plans")
        register(s, "plans")
        rid = submit(s, "plans", "the one polled")["request_id"]
        for _ in range(10):
            eq(s.get("/hitl/poll?request_id=" + rid).json["request_id"], rid)
        s.sql("INSERT INTO requests (tenant, session_id, client_id, message, request_type,"
              " timeout_seconds, expires_at) SELECT 'default', 'plans', 'agent', 'other',"
              " 'confirmation', 300, now() + interval '300 s' FROM generate_series(1, 3000)",
              db="plans")
        for _ in range(40):
            eq(s.get("/hitl/poll?request_id=" + rid).json["request_id"], rid)

        def read():
            return [int(v or 0) for v in s.sql(
                "SELECT (SELECT sum(idx_scan) FROM pg_stat_user_indexes"
                "        WHERE relname = 'requests' AND indexrelname = 'requests_pkey'),"
                "       (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes"
                "        WHERE relname = 'requests' AND indexrelname <> 'requests_pkey'),"
                "       (SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'requests')",
                db="plans")[0]]

        # Statistics reach the view once the worker's connection flushes them (1 s or so).
        wait_for(lambda: read()[0] >= 50 or sum(read()[1:]) >= 3000, 20, "the polls counted")
        pkey, others, seq = read()
        ok(others < 3000 and seq < 3000,
           "40 polls read %d entries of other indexes and %d rows by scanning the table"
           % (others, seq))
        ok(pkey >= 50, "50 polls, %d lookups by primary key" % pkey)
    finally:
        s.stop()
        del s.extra_env["LOOPGATE_DB_NAME"]
        s.start(LOOPGATE_WORKERS="2", LOOPGATE_DB_POOL_SIZE="4")
        s.sql("DROP DATABASE plans")


def test_submit_defaults_and_explicit(s):
    register(s, "defaults")
    j = submit(s, "defaults", "free text please")
    eq(j["request_type"], "input")
    eq(j["timeout_seconds"], 300)
    # The original's OpenAI example sends empty options and metadata.
    j = submit(s, "defaults", "x", options=[], metadata={})
    eq(j["request_type"], "input")
    eq(s.sql("SELECT options IS NULL, metadata IS NULL FROM requests WHERE id = :'p1'",
             j["request_id"]), [["t", "t"]])
    j = submit(s, "defaults", "sure?", request_type="confirmation", timeout_seconds=60,
               on_timeout="approve", callback_url="https://example.com/hook")
    eq(s.sql("SELECT request_type, timeout_seconds, on_timeout, callback_url,"
             " extract(epoch FROM expires_at - created_at)::int FROM requests WHERE id = :'p1'",
             j["request_id"]), [["confirmation", "60", "approve", "https://example.com/hook", "60"]])
    j = submit(s, "defaults", "zero means default", timeout_seconds=0)
    eq(j["timeout_seconds"], 300)


def test_status_deactivate_pending_cancel(s):
    register(s, "lifecycle", "bot", 555)
    r = s.get("/hitl/status?session_id=lifecycle")
    eq(r.status, 200)
    for k, v in (("id", "lifecycle"), ("client_id", "bot"), ("telegram_id", 555), ("active", True)):
        eq(r.json[k], v, k)
    a = submit(s, "lifecycle", "one")["request_id"]
    b = submit(s, "lifecycle", "two")["request_id"]
    r = s.get("/hitl/pending?session_id=lifecycle")
    eq(r.status, 200)
    eq(r.json["count"], 2)
    eq([x["id"] for x in r.json["pending_requests"]], [a, b])
    eq(r.json["pending_requests"][0]["message"], "one")
    ok(any(x["id"] == a for x in s.get("/hitl/pending").json["pending_requests"]),
       "unfiltered /hitl/pending lists it")
    r = s.post("/hitl/cancel", {"request_id": a})
    eq(r.status, 200, repr(r))
    eq(r.json["success"], True)
    p = s.get("/hitl/poll?request_id=" + a).json
    eq((p["status"], p["completed"], p["approved"]), ("canceled", True, False))
    eq(s.get("/hitl/pending?session_id=lifecycle").json["count"], 1)
    eq(s.scalar("SELECT actor || '/' || action FROM audit_log WHERE request_id = :'p1'"
                " AND action = 'canceled'", a), "anonymous/canceled")
    r = s.post("/hitl/deactivate", {"session_id": "lifecycle"})
    eq(r.status, 200, repr(r))
    eq(r.json["success"], True)
    eq(s.get("/hitl/status?session_id=lifecycle").json["active"], False)
    error_is(s.post("/hitl/request", {"session_id": "lifecycle", "client_id": "bot",
                                      "message": "more"}), 409, "session_inactive")
    register(s, "lifecycle", "bot", 555)  # registering again reactivates
    eq(s.get("/hitl/status?session_id=lifecycle").json["active"], True)


def test_readme_python_client(s):
    # The original README's LoopgateClient, unchanged but for the base URL;
    # nobody answers in Telegram here, so the test cancels the request and
    # the client's poll loop must end with completed=true.
    code = '''
import requests
import time

class LoopgateClient:
    def __init__(self, base_url="http://localhost:8080"):
        self.base_url = base_url
    
    def register_session(self, session_id, client_id, telegram_id):
        response = requests.post(f"{self.base_url}/hitl/register", json={
            "session_id": session_id,
            "client_id": client_id,
            "telegram_id": telegram_id
        })
        return response.json()
    
    def request_approval(self, session_id, client_id, message, options=None, metadata=None):
        data = {
            "session_id": session_id,
            "client_id": client_id,
            "message": message
        }
        if options:
            data["options"] = options
        if metadata:
            data["metadata"] = metadata
            
        response = requests.post(f"{self.base_url}/hitl/request", json=data)
        result = response.json()
        request_id = result["request_id"]
        
        # Poll for response
        while True:
            poll_resp = requests.get(f"{self.base_url}/hitl/poll?request_id={request_id}")
            status = poll_resp.json()
            
            if status["completed"]:
                return status
            
            time.sleep(2)

# Usage
client = LoopgateClient(BASE)
client.register_session("my-session", "my-ai", 123456789)
result = client.request_approval("my-session", "my-ai", "Approve deployment?", ["Yes", "No"])
print("RESULT", result["status"], result["completed"], result["approved"])
'''
    proc = subprocess.Popen(["/usr/bin/python3", "-c", "BASE='http://localhost:%d'\n" % s.port + code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id='my-session'"
                                        " AND status='pending'"), 15, "the client's request")
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    eq(proc.returncode, 0, err)
    ok("RESULT canceled True False" in out, out + err)


NODE_FETCH = r'''
const base = process.argv[process.argv.length - 1];
(async () => {
    await fetch(base + '/sessions/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ session_id: 'trading-bot', client_id: 'algo-trader', telegram_id: 123456789 })
    });
    const response = await fetch(base + '/hitl/request', {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({
            session_id: "trading-bot",
            client_id: "algo-trader",
            message: "Execute large trade: Buy 10,000 AAPL at $150.25",
            options: ['Execute', 'Cancel', 'Reduce Size'],
            metadata: { symbol: 'AAPL', value: '$1,502,500', risk_score: 'Medium' }
        })
    });
    const { request_id } = await response.json();
    const pollResp = await fetch(base + `/hitl/poll?request_id=${request_id}`);
    const status = await pollResp.json();
    console.log(response.status, request_id, status.status, status.completed);
})().catch(e => { console.error(e); process.exit(1); });
'''


def test_readme_node_fetch(s):
    r = subprocess.run(["node", "-e", NODE_FETCH, "--", "http://localhost:%d" % s.port],
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, r.stderr)
    status, rid, st, done = r.stdout.split()
    eq((status, st, done), ("200", "pending", "false"))
    eq(s.sql("SELECT session_id, metadata->>'symbol', options->>2 FROM requests WHERE id = :'p1'", rid),
       [["trading-bot", "AAPL", "Reduce Size"]])


def test_concurrent_submits(s):
    register(s, "burst")
    key = s.new_key("burst-tenant")
    s.sql("INSERT INTO sessions (tenant, session_id, client_id, telegram_chat_id)"
          " VALUES ('burst-tenant', 'burst', 'a', 1)")
    results = []

    def worker():
        for _ in range(10):
            r = s.post("/hitl/request", {"session_id": "burst", "client_id": "a", "message": "m"},
                       headers={"X-API-Key": key})
            results.append((r.status, r.json and r.json.get("request_id")))
            if r.status == 200:
                s.post("/hitl/cancel", {"request_id": r.json["request_id"]},
                       headers={"Authorization": "Bearer " + key})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    t = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    eq(sorted(set(st for st, _ in results)), [200], "statuses")
    ids = [i for _, i in results]
    eq(len(set(ids)), 80, "distinct ids")
    eq(s.scalar("SELECT count(*) FROM requests WHERE tenant='burst-tenant'"), "80")
    ok(time.time() - t < 20, "80 submits took %.1fs" % (time.time() - t))



def burst(s, calls):
    """Send every (body, headers) of `calls` at the same moment; their answers, in order."""
    gate = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def one(i):
        body, headers = calls[i]
        gate.wait()
        out[i] = s.post("/hitl/request", body, headers=headers)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def test_submits_at_once_share_a_commit(s):
    # Submits that arrive together are written in one statement and one
    # commit; each still gets its own answer, whatever the others' fate.
    key = s.new_key("together")
    h = {"X-API-Key": key}
    for sid in ("tog", "tog-off"):
        eq(s.post("/hitl/register", {"session_id": sid, "client_id": "a", "telegram_id": 5},
                  headers=h).status, 200)
    eq(s.post("/hitl/deactivate", {"session_id": "tog-off"}, headers=h).status, 200)
    shared = 0
    for rnd in range(3):
        calls = [({"session_id": "tog", "client_id": "c%d" % i, "message": "r%d m%d" % (rnd, i),
                   "options": ["Go", "Stop"], "metadata": {"i": i}}, h) for i in range(24)]
        calls += [({"session_id": "tog-none", "client_id": "a", "message": "x"}, h)] * 3
        calls += [({"session_id": "tog-off", "client_id": "a", "message": "x"}, h)] * 3
        same = {"session_id": "tog", "client_id": "a", "message": "keyed r%d" % rnd}
        calls += [(same, dict(h, **{"Idempotency-Key": "same-%d" % rnd}))] * 2
        calls += [(dict(same, message="first %d" % i), dict(h, **{"Idempotency-Key": "clash-%d" % rnd}))
                  for i in range(2)]
        before = int(s.scalar("SELECT count(*) FROM requests WHERE tenant = 'together'"))
        out = burst(s, calls)
        for i in range(24):
            eq(out[i].status, 200, "submit %d: %r" % (i, out[i]))
            row = s.sql("SELECT session_id, client_id, message, options::text, metadata::text,"
                        " option_approve::text FROM requests WHERE id = :'p1'",
                        out[i].json["request_id"])
            eq(row, [["tog", "c%d" % i, "r%d m%d" % (rnd, i), '["Go", "Stop"]', '{"i": %d}' % i,
                      "{t,f}"]], "request %d as stored" % i)
        for r in out[24:27]:
            error_is(r, 404, "session_not_found", "tog-none")
        for r in out[27:30]:
            error_is(r, 409, "session_inactive", "tog-off")
        a, b = out[30], out[31]
        eq((a.status, b.status), (200, 200))
        eq(a.json["request_id"], b.json["request_id"], "one key, one request")
        eq(sorted([bool(a.json.get("idempotent_replay")), bool(b.json.get("idempotent_replay"))]),
           [False, True])
        eq(sorted(r.status for r in out[32:34]), [200, 409])
        made = [r.json["request_id"] for r in out if r.status == 200]
        made = sorted(set(made))
        eq(len(made), 26)
        eq(int(s.scalar("SELECT count(*) FROM requests WHERE tenant = 'together'")), before + 26)
        ids = "{%s}" % ",".join(made)
        eq(s.scalar("SELECT count(*) FROM audit_log WHERE action = 'submitted'"
                    " AND actor LIKE 'key:%' AND tenant = 'together' AND session_id = 'tog'"
                    " AND request_id = ANY (:'p1'::uuid[])", ids), "26")
        eq(s.scalar("SELECT count(*) FROM outbox WHERE kind = 'tg_send'"
                    " AND request_id = ANY (:'p1'::uuid[])", ids), "26")
        commits = int(s.scalar("SELECT count(DISTINCT xmin::text) FROM requests"
                               " WHERE id = ANY (:'p1'::uuid[])", ids))
        shared = max(shared, 26 - commits)
        if shared:
            break
    ok(shared > 0, "submits sent at once were committed one by one")


def test_pending_limit_within_one_batch(s):
    # 95 pending of a limit of 100: of twelve submits at once, each batch lets
    # through only as many as still fit. Two workers may each write a batch
    # at the same moment, so up to 2 x 5 are accepted, never all twelve.
    key = s.new_key("batch-limit")
    h = {"X-API-Key": key}
    eq(s.post("/hitl/register", {"session_id": "bl", "client_id": "a", "telegram_id": 6},
              headers=h).status, 200)
    s.sql("INSERT INTO requests (tenant, session_id, client_id, message, request_type,"
          " timeout_seconds, expires_at)"
          " SELECT 'batch-limit', 'bl', 'a', 'old', 'input', 600, now() + interval '10 min'"
          " FROM generate_series(1, 95)")
    out = burst(s, [({"session_id": "bl", "client_id": "a", "message": "m%d" % i}, h)
                    for i in range(12)])
    accepted = [r for r in out if r.status == 200]
    for r in out:
        if r.status != 200:
            error_is(r, 429, "too_many_pending", "limit 100")
    ok(5 <= len(accepted) <= 10, "%d of 12 accepted with room for 5" % len(accepted))
    eq(s.scalar("SELECT count(*) FROM requests WHERE tenant = 'batch-limit'"
                " AND status = 'pending'"), str(95 + len(accepted)))
    s.clear_pending("batch-limit")


NODE_AXIOS = r'''
const axios = require('axios');

class LoopgateClient {
    constructor(baseURL = 'http://localhost:8080') {
        this.baseURL = baseURL;
    }
    
    async registerSession(sessionId, clientId, telegramId) {
        const response = await axios.post(`${this.baseURL}/hitl/register`, {
            session_id: sessionId,
            client_id: clientId,
            telegram_id: telegramId
        });
        return response.data;
    }
    
    async requestApproval(sessionId, clientId, message, options = null, metadata = null) {
        const data = { session_id: sessionId, client_id: clientId, message };
        if (options) data.options = options;
        if (metadata) data.metadata = metadata;
        
        const response = await axios.post(`${this.baseURL}/hitl/request`, data);
        const requestId = response.data.request_id;
        
        // Poll for response
        while (true) {
            const pollResp = await axios.get(`${this.baseURL}/hitl/poll?request_id=${requestId}`);
            const status = pollResp.data;
            
            if (status.completed) {
                return status;
            }
            
            await new Promise(resolve => setTimeout(resolve, 2000));
        }
    }
}

(async () => {
// Usage
const client = new LoopgateClient(process.argv[process.argv.length - 1]);
await client.registerSession('my-node-session', 'my-ai', 123456789);
const result = await client.requestApproval('my-node-session', 'my-ai', 'Approve deployment?', ['Yes', 'No']);
console.log('RESULT', result.status, result.completed, result.approved);
})().catch(e => { console.error(e.message); process.exit(1); });
'''


def test_readme_node_axios_client(s):
    # The original README's Node LoopgateClient (axios), unchanged but for the
    # base URL; the test cancels the request so the poll loop ends.
    proc = subprocess.Popen(["node", "-e", NODE_AXIOS, "--", "http://localhost:%d" % s.port],
                            cwd=os.path.join(ROOT, "tests"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        rid = wait_for(lambda: s.scalar("SELECT id FROM requests WHERE session_id='my-node-session'"
                                        " AND status='pending'"), 15, "the client's request")
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    eq(proc.returncode, 0, err)
    ok("RESULT canceled true false" in out, out + err)


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_poll_times_whatever_the_session_settings.slow = True
test_poll_looks_the_request_up_by_its_key_before_any_statistics.slow = True
