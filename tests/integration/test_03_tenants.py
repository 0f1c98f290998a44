"""Tenant isolation through API keys, and Idempotency-Key semantics."""
import hashlib

from lg import eq, ok, error_is


def test_tenant_isolation(s):
    ka, kb = s.new_key("tenant-a"), s.new_key("tenant-b")
    A = {"Authorization": "Bearer " + ka}
    B = {"X-API-Key": kb}
    for h, tg in ((A, 1001), (B, 2002)):
        eq(s.post("/hitl/register", {"session_id": "shared-name", "client_id": "c",
                                     "telegram_id": tg}, headers=h).status, 200)
    ra = s.post("/hitl/request", {"session_id": "shared-name", "client_id": "c", "message": "A"},
                headers=A).json["request_id"]
    # Same session id, two tenants, two sessions.
    eq(s.sql("SELECT tenant, telegram_chat_id FROM sessions WHERE session_id='shared-name'"
             " ORDER BY tenant"), [["tenant-a", "1001"], ["tenant-b", "2002"]])
    eq(s.get("/hitl/status?session_id=shared-name", headers=B).json["telegram_id"], 2002)
    # B sees none of A's request; anonymous (tenant default) neither.
    for h in (B, {}):
        error_is(s.get("/hitl/poll?request_id=" + ra, headers=h), 404, "request_not_found")
        error_is(s.post("/hitl/cancel", {"request_id": ra}, headers=h), 404, "request_not_found")
        ok(all(x["id"] != ra for x in s.get("/hitl/pending", headers=h).json["pending_requests"]),
           "pending leaks across tenants")
    eq(s.get("/hitl/poll?request_id=" + ra, headers=A).json["status"], "pending")
    eq(s.get("/hitl/pending", headers=A).json["count"], 1)
    error_is(s.get("/hitl/status?session_id=only-a", headers=B), 404, "session_not_found")
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", ra), "pending")
    eq(s.scalar("SELECT actor FROM audit_log WHERE request_id = :'p1'", ra),
       "key:" + ka[:11])


def test_api_keys_stored_hashed(s):
    k = s.new_key("hash-tenant")
    ok(k.startswith("lg_") and len(k) == 43, "key format %r" % k)
    eq(s.scalar("SELECT key_hash FROM api_keys WHERE tenant='hash-tenant'"),
       hashlib.sha256(k.encode()).hexdigest())
    dump = "\n".join("|".join(r) for r in s.sql("SELECT * FROM api_keys"))
    ok(k not in dump and k[11:] not in dump, "the key itself is stored")


def test_idempotency(s):
    k = s.new_key("idem-tenant")
    h = {"X-API-Key": k, "Idempotency-Key": "job-42"}
    eq(s.post("/hitl/register", {"session_id": "idem", "client_id": "c", "telegram_id": 9},
              headers={"X-API-Key": k}).status, 200)
    body = {"session_id": "idem", "client_id": "c", "message": "once"}
    r1 = s.post("/hitl/request", body, headers=h)
    eq(r1.status, 200)
    r2 = s.post("/hitl/request", body, headers=h)
    eq(r2.status, 200)
    eq(r2.json["request_id"], r1.json["request_id"])
    eq(r2.json["created_at"], r1.json["created_at"])
    eq(r2.json.get("idempotent_replay"), True)
    before = s.counts()
    error_is(s.post("/hitl/request", dict(body, message="different"), headers=h), 409,
             "idempotency_conflict", "different body")
    eq(s.counts(), before)
    eq(s.scalar("SELECT count(*) FROM requests WHERE tenant='idem-tenant'"), "1")
    # A replay after the request was decided answers its current status.
    eq(s.post("/hitl/cancel", {"request_id": r1.json["request_id"]},
              headers={"X-API-Key": k}).status, 200)
    r3 = s.post("/hitl/request", body, headers=h)
    eq((r3.json["request_id"], r3.json["status"]), (r1.json["request_id"], "canceled"))
    # The same key in another tenant is another request.
    eq(s.post("/hitl/register", {"session_id": "idem", "client_id": "c", "telegram_id": 9}).status, 200)
    r4 = s.post("/hitl/request", body, headers={"Idempotency-Key": "job-42"})
    eq(r4.status, 200)
    ok(r4.json["request_id"] != r1.json["request_id"], "tenants share idempotency keys")
    error_is(s.post("/hitl/request", body, headers={"Idempotency-Key": "k" * 300}), 400,
             "invalid_header", "Idempotency-Key")
