"""MCP against the official peers: the conformance suite
(@modelcontextprotocol/conformance) and a client written with the official
TypeScript SDK, over Streamable HTTP and over stdio through `loopgate mcp`,
with the human answering through the Telegram stand-in."""
import os
import subprocess
import time

from steps import StepProcess
from lg import ROOT, eq, ok, wait_for
from test_07_telegram import chat, register, sent

NODE22 = os.path.join(ROOT, "tests/node_modules/node/bin/node")
CLIENT = os.path.join(ROOT, "tests/mcp/sdk_client.mjs")


def test_conformance_suite(s):
    r = subprocess.run([os.path.join(ROOT, "tests/mcp/conformance.sh"),
                        "http://127.0.0.1:%d/mcp" % s.port], capture_output=True, text=True,
                       timeout=400)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    total = [ln for ln in lines if ln.startswith("Total:")]
    summary = [ln for ln in lines if ln.startswith("conformance:")]
    print("    conformance suite: %s; applicable scenarios: %s" % (
        total[-1] if total else "no Total line", summary[-1][len("conformance: "):] if summary else "?"))
    failed = [ln for ln in lines if ln.startswith("not ok")]
    eq(r.returncode, 0, "conformance.sh failed: %s\n%s" % ("\n".join(failed), r.stderr[-2000:]))
    ok(total and summary and summary[-1].endswith(" 0 failed"), "\n".join(lines[-5:]))


class Client(StepProcess):
    """sdk_client.mjs as a subprocess; its JSON step lines collected as they come."""

    def __init__(self, s, *args, env=None):
        super().__init__(
            [NODE22, CLIENT, "--url", "http://127.0.0.1:%d/mcp" % s.port, "--loopgate", s.binary]
            + list(args), os.path.join(ROOT, "tests"), dict(os.environ, **(env or {})))


def request_of(s, message):
    return wait_for(lambda: s.scalar("SELECT id FROM requests WHERE message = :'p1'", message),
                    30, "the request %r" % message)


def test_sdk_client_http_and_stdio(s):
    c = chat()
    for transport in ("http", "stdio"):
        register(s, "sdk-" + transport, c)
        msg = "SDK over %s?" % transport
        cl = Client(s, "--transport", transport, "--wait-seconds", "30", "--message", msg,
                    "--options", "Yes,No", "--session-id", "sdk-" + transport)
        rid = request_of(s, msg)
        _, m, _ = sent(s, rid)
        time.sleep(6)  # progress is flowing
        s.tg.press_and_deliver(c, m, button_text="\u2705 Yes")
        rc, err = cl.finish(60)
        eq(rc, 0, "%s client: %s" % (transport, err[-2000:]))
        eq(sorted(cl.step("tools")[0]["names"]), ["cancel_request", "check_request_status",
                                                  "list_pending_requests", "permission_prompt",
                                                  "register_callback",
                                                  "request_human_input"])
        ok(len(cl.step("progress")) >= 1, "%s: no progress notification" % transport)
        sc = cl.step("result")[-1]["structuredContent"]
        eq((sc["request_id"], sc["status"], sc["approved"], sc["response"]),
           (rid, "completed", True, "Yes"))


def test_sdk_client_outlasts_its_60s_timeout(s):
    """A decision made 90 s after the call: (a) a client at the SDK's default 60 s
    timeout gets it by following the result's instruction (check_request_status);
    (b) with resetTimeoutOnProgress it gets it in the one call, kept alive by progress."""
    c = chat()
    register(s, "sdk-long", c)
    a = Client(s, "--default-timeout", "--then-check", "--message", "long A?", "--options",
               "Yes,No", "--session-id", "sdk-long")
    b = Client(s, "--default-timeout", "--reset-timeout-on-progress", "--wait-seconds", "110",
               "--message", "long B?", "--options", "Yes,No", "--session-id", "sdk-long")
    ra, rb = request_of(s, "long A?"), request_of(s, "long B?")
    t0 = time.monotonic()  # both calls are in: the decisions come 90 s after them
    ma, mb = sent(s, ra)[1], sent(s, rb)[1]
    time.sleep(max(0, 90 - (time.monotonic() - t0)))
    s.tg.press_and_deliver(c, ma, button_text="\u2705 Yes")
    s.tg.press_and_deliver(c, mb, button_text="\u274C No")
    rca, erra = a.finish(60)
    rcb, errb = b.finish(60)
    eq(rca, 0, erra[-2000:])
    eq(rcb, 0, errb[-2000:])
    # (a): the first result said pending and named check_request_status; a later call got it.
    first = a.step("result")[0]["structuredContent"]
    eq((first["completed"], first["request_id"]), (False, ra))
    ok("check_request_status" in first["instructions"], first["instructions"])
    done = a.step("done")[-1]
    eq((done["completed"], done["approved"], done["response"]), (True, True, "Yes"))
    ok(done["checks"] >= 1, repr(done))
    # (b): one call, lasting past 60 s, kept alive by progress.
    results = b.step("result")
    eq(len(results), 1)
    ok(results[0]["call_ms"] > 60000, "the call lasted %s ms" % results[0]["call_ms"])
    ok(results[0]["progress_count"] >= 10, repr(results[0]["progress_count"]))
    sc = results[0]["structuredContent"]
    eq((sc["completed"], sc["approved"], sc["response"]), (True, False, "No"))
    print("    decision 90 s after the call: default-timeout client got it after %d check(s);"
          " resetTimeoutOnProgress client in one %.0f s call with %d progress notifications"
          % (done["checks"], results[0]["call_ms"] / 1000, results[0]["progress_count"]))


test_sdk_client_outlasts_its_60s_timeout.slow = True
test_sdk_client_outlasts_its_60s_timeout.drill = True  # make check-drills


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_sdk_client_http_and_stdio.slow = True
