"""Standard Webhooks: every agent webhook carries webhook-id,
webhook-timestamp and webhook-signature, verified here by the npm package
`standardwebhooks` with the secret `loopgate apikey webhook-secret` prints
(whsec_...); a tampered body, timestamp or id fails; a retry keeps its id; a
secret made before (hex, the key of X-Loopgate-Signature) keeps signing both
schemes with the same key."""
import base64
import json
import os
import re
import subprocess

from hookrecv import Receiver, verify
from lg import ROOT, eq, ok, wait_for

NODE22 = os.path.join(ROOT, "tests/node_modules/node/bin/node")
SWVERIFY = os.path.join(ROOT, "tests/integration/swverify.js")


def library_verify(cases):
    """[(secret, headers, body bytes)] -> the library's answers, in order."""
    lines = "".join(json.dumps({"secret": sec, "headers": h,
                                "body_b64": base64.b64encode(b).decode()}) + "\n"
                    for sec, h, b in cases)
    r = subprocess.run([NODE22, SWVERIFY], input=lines, capture_output=True, text=True,
                       timeout=60, cwd=os.path.join(ROOT, "tests"))
    eq(r.returncode, 0, r.stderr)
    return [json.loads(x) for x in r.stdout.splitlines()]


def _h(key):
    return {"Authorization": "Bearer " + key}


def _deliver(s, tenant, rec, sid):
    """A request of `tenant` with a callback to `rec`, canceled: its webhook call."""
    h = _h(s.new_key(tenant))
    eq(s.post("/hitl/register", {"session_id": sid, "client_id": "agent",
                                 "telegram_id": 424242}, headers=h).status, 200)
    r = s.post("/hitl/request", {"session_id": sid, "client_id": "agent",
                                 "message": "verify me", "callback_url": rec.url}, headers=h)
    eq(r.status, 200, repr(r))
    rid = r.json["request_id"]
    eq(s.post("/hitl/cancel", {"request_id": rid}, headers=h).status, 200)
    return rid, h


def test_delivery_verified_by_standardwebhooks(s):
    rec = Receiver()
    tenant = "swh-new"
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", tenant).stdout.strip()
        ok(re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret), "shown as whsec_: %r" % secret)
        eq(len(base64.b64decode(secret[6:])), 32, "32 random bytes")
        eq(s.scalar("SELECT secret FROM webhook_secrets WHERE tenant = :'p1'", tenant), secret,
           "stored as shown")
        rid, _ = _deliver(s, tenant, rec, "swh")
        call = rec.wait_calls(1)[0]
        h = {k.lower(): v for k, v in call["headers"].items()}
        body = call["body"]
        print("    webhook-id: %s  webhook-signature: %s..." % (h["webhook-id"],
                                                              h["webhook-signature"][:12]))
        ok(re.fullmatch(r"msg_[A-Za-z0-9_-]+", h["webhook-id"]), "no '.' in the id: %r" % h)
        eq(h["webhook-id"], "msg_" + h["x-loopgate-delivery"].replace(".", "_"))
        eq(h["webhook-timestamp"], h["x-loopgate-timestamp"])
        ok(h["webhook-signature"].startswith("v1,"), h["webhook-signature"])
        verify(call, secret)  # X-Loopgate-Signature keeps working, with the same key

        ts = int(h["webhook-timestamp"])
        other = "whsec_" + base64.b64encode(b"x" * 32).decode()
        cases = [
            (secret, h, body),
            (secret, h, body.replace(b"canceled", b"completed")),
            (secret, dict(h, **{"webhook-timestamp": str(ts + 1)}), body),
            (secret, dict(h, **{"webhook-timestamp": str(ts - 3600)}), body),
            (secret, dict(h, **{"webhook-id": h["webhook-id"] + "x"}), body),
            (other, h, body),
        ]
        got = library_verify(cases)
        ok(got[0]["ok"], "the library verifies the delivery: %r" % got[0])
        eq((got[0]["payload"]["request_id"], got[0]["payload"]["event"]),
           (rid, "request.canceled"))
        for name, g in zip(("body", "timestamp", "old timestamp", "id", "secret"), got[1:]):
            ok(not g["ok"], "a tampered %s verifies: %r" % (name, g))
        eq(got[1]["error"], "No matching signature found")
        eq(got[2]["error"], "No matching signature found")
        eq(got[3]["error"], "Message timestamp too old")
    finally:
        rec.stop()


def test_retry_keeps_its_webhook_id(s):
    rec = Receiver()
    rec.status = 503
    tenant = "swh-retry"
    try:
        secret = s.cli("apikey", "webhook-secret", "--tenant", tenant).stdout.strip()
        _deliver(s, tenant, rec, "swh-retry")
        first = rec.wait_calls(1)[0]
        rec.status = 200
        second = rec.wait_calls(2, timeout=20)[1]
        ids = [{k.lower(): v for k, v in c["headers"].items()}["webhook-id"]
               for c in (first, second)]
        eq(ids[0], ids[1], "one delivery, one id")
        got = library_verify([(secret, second["headers"], second["body"]),
                              (secret, first["headers"], first["body"])])
        ok(got[0]["ok"] and got[1]["ok"], repr(got))
    finally:
        rec.stop()


def test_secret_from_before_keeps_its_key(s):
    rec = Receiver()
    tenant = "swh-old"
    old = "0f" * 32
    try:
        s.sql("INSERT INTO webhook_secrets (tenant, secret) VALUES (:'p1', :'p2')"
              " ON CONFLICT (tenant) DO UPDATE SET secret = EXCLUDED.secret", tenant, old)
        shown = s.cli("apikey", "webhook-secret", "--tenant", tenant).stdout.strip()
        eq(shown, "whsec_" + base64.b64encode(old.encode()).decode())
        eq(s.scalar("SELECT secret FROM webhook_secrets WHERE tenant = :'p1'", tenant), old,
           "kept as it was")
        _deliver(s, tenant, rec, "swh-old")
        call = rec.wait_calls(1)[0]
        verify(call, old)    # a receiver keyed with the old hex text
        verify(call, shown)  # ... and one given the secret as shown now
        got = library_verify([(shown, call["headers"], call["body"])])
        ok(got[0]["ok"], repr(got))
        # A rotation replaces it with a new-style secret.
        new = s.cli("apikey", "webhook-secret", "--tenant", tenant, "--rotate").stdout.strip()
        ok(new.startswith("whsec_") and new != shown, new)
    finally:
        rec.stop()
