"""GET /metrics: the Prometheus text format (promtool finds nothing to say),
the figures of every worker of the host added up, and actions moving the
right numbers."""
import os
import re
import signal
import subprocess
import threading

from hookrecv import Receiver
from lg import chat, eq, ok, wait_for
from test_07_telegram import OK, register, sent, submit

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


def scrape_text(s):
    r = s.get("/metrics")
    eq(r.status, 200, repr(r))
    eq(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
    return r.raw.decode() if isinstance(r.raw, bytes) else r.raw


def parse(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        ok(m, "not an exposition line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(s):
    return parse(scrape_text(s))


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool check metrics")


def test_format_passes_promtool(s):
    c = chat()
    register(s, "m18-format", c)
    rid = submit(s, "m18-format")
    eq(s.get("/hitl/poll?request_id=" + rid).status, 200)
    eq(s.get("/no/such/" + rid).status, 404)
    text = scrape_text(s)
    promtool(text)
    ok(not UUID.search(text), "a request id in the metrics")
    m = parse(text)
    version = s.cli("version").stdout.split()[1]
    eq(val(m, "loopgate_build_info", version=version), 1.0,
       "build_info")
    # Routes are the table's patterns, never a path with an id in it.
    ok(val(m, "loopgate_http_requests_total", route="/hitl/poll", method="GET",
           status="200") >= 1, "the poll counted under its pattern")
    routes = {dict(k[1]).get("route") for k in m if k[0] == "loopgate_http_requests_total"}
    ok(routes <= {"(none)", "(telegram webhook)"} | {r for r in routes if r.startswith("/")},
       routes)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_virtual_memory_bytes", "process_open_fds", "process_max_fds"):
        ok(val(m, name) > 0, "%s is %r" % (name, val(m, name)))
    # The processes' figures are added up: more files than the master alone holds.
    master = s.master_pid()
    own = len(os.listdir("/proc/%d/fd" % master))
    ok(val(m, "process_open_fds") > own, "open fds %r, the master alone %d"
       % (val(m, "process_open_fds"), own))
    with open("/proc/%d/stat" % master) as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        btime = next(int(ln.split()[1]) for ln in f if ln.startswith("btime "))
    want = btime + start_ticks / os.sysconf("SC_CLK_TCK")
    ok(abs(val(m, "process_start_time_seconds") - want) < 1.5,
       "start time %r, the master's %r" % (val(m, "process_start_time_seconds"), want))
    ok(("loopgate_pending_requests", frozenset()) in m, "pending gauge")
    ok(val(m, "loopgate_pending_requests") >= 1, "the request just submitted is pending")
    ok(("loopgate_outbox_depth", frozenset({("kind", "webhook")})) in m, "outbox gauges")


def test_submit_and_404_move_their_counters(s):
    c = chat()
    register(s, "m18-submit", c)
    before = scrape(s)
    submit(s, "m18-submit", request_type="input")
    submit(s, "m18-submit", options=["Ship it", "Wait"])
    for _ in range(3):
        eq(s.get("/certainly/not/here").status, 404)
    after = scrape(s)
    eq(val(after, "loopgate_requests_submitted_total", type="input")
       - val(before, "loopgate_requests_submitted_total", type="input"), 1.0, "input submitted")
    eq(val(after, "loopgate_requests_submitted_total", type="choice")
       - val(before, "loopgate_requests_submitted_total", type="choice"), 1.0, "choice submitted")
    key = dict(route="(none)", method="GET", status="404")
    eq(val(after, "loopgate_http_requests_total", **key)
       - val(before, "loopgate_http_requests_total", **key), 3.0, "404s of no route")
    key = dict(route="/hitl/request", method="POST", status="200")
    eq(val(after, "loopgate_http_requests_total", **key)
       - val(before, "loopgate_http_requests_total", **key), 2.0, "submits")
    n = "loopgate_http_request_duration_seconds_count"
    eq(val(after, n, route="/hitl/request") - val(before, n, route="/hitl/request"), 2.0,
       "submit latencies observed")


def test_telegram_press_moves_decided_and_decision_seconds(s):
    c = chat()
    register(s, "m18-press", c)
    rid = submit(s, "m18-press", options=["Ship it", "Wait"])
    _, m, _ = sent(s, rid)
    before = scrape(s)
    upd, st = s.tg.press_and_deliver(c, m, button_text=OK + "Ship it")
    eq(st, [200])
    after = wait_for(lambda: (lambda x: x if val(x, "loopgate_decision_seconds_count",
                                                 channel="telegram")
                              > val(before, "loopgate_decision_seconds_count",
                                    channel="telegram") else None)(scrape(s)),
                     10, "the press counted")
    key = dict(outcome="approved", channel="telegram")
    eq(val(after, "loopgate_requests_decided_total", **key)
       - val(before, "loopgate_requests_decided_total", **key), 1.0, "approved in Telegram")
    eq(val(after, "loopgate_decision_seconds_count", channel="telegram")
       - val(before, "loopgate_decision_seconds_count", channel="telegram"), 1.0)
    waited = float(s.scalar("SELECT extract(epoch FROM responded_at - created_at)"
                            " FROM requests WHERE id = :'p1'", rid))
    got = (val(after, "loopgate_decision_seconds_sum", channel="telegram")
           - val(before, "loopgate_decision_seconds_sum", channel="telegram"))
    ok(abs(got - waited) < 0.01, "decision seconds %r, the row says %r" % (got, waited))
    # The webhook call itself is counted under its own label, never its path.
    ok(val(after, "loopgate_http_requests_total", route="(telegram webhook)", method="POST",
           status="200") >= 1, "the webhook route")

    # A typed answer goes the long way (tg_decided): counted too.
    rid = submit(s, "m18-press", request_type="input")
    _, m, _ = sent(s, rid)
    before = after
    s.tg.reply_and_deliver(c, m, "no")
    wait_for(lambda: val(scrape(s), "loopgate_decision_seconds_count", channel="telegram")
             - val(before, "loopgate_decision_seconds_count", channel="telegram") == 1.0,
             10, "the typed answer counted")
    # ... as "answered", never as a denial.
    after = scrape(s)
    eq(val(after, "loopgate_requests_decided_total", outcome="answered", channel="telegram")
       - val(before, "loopgate_requests_decided_total", outcome="answered", channel="telegram"),
       1.0, "input answered in Telegram")
    eq(val(after, "loopgate_requests_decided_total", outcome="denied", channel="telegram"),
       val(before, "loopgate_requests_decided_total", outcome="denied", channel="telegram"),
       "an answer is no denial")


def test_policy_decision_counted(s):
    from test_17_policy import add, bash, rm
    register(s, "m18-policy", chat())
    p = add(s, "Bash", "^git (status|diff|log)", "allow", session_id="m18-policy")
    d = add(s, "Bash", "rm -rf", "deny", session_id="m18-policy")
    try:
        before = scrape(s)
        eq(bash(s, "m18-policy", "git status").get("decided_by"), "policy:%d" % p["id"])
        eq(bash(s, "m18-policy", "cd / && rm -rf tmp").get("decided_by"), "policy:%d" % d["id"])
        after = scrape(s)
        for outcome in ("approved", "denied"):
            key = dict(outcome=outcome, channel="policy")
            eq(val(after, "loopgate_requests_decided_total", **key)
               - val(before, "loopgate_requests_decided_total", **key), 1.0, outcome)
        eq(val(after, "loopgate_decision_seconds_count", channel="policy")
           - val(before, "loopgate_decision_seconds_count", channel="policy"), 2.0)
        eq(val(after, "loopgate_requests_submitted_total", type="confirmation")
           - val(before, "loopgate_requests_submitted_total", type="confirmation"), 2.0)
    finally:
        rm(s, p["id"])
        rm(s, d["id"])


def test_console_vote_counted(s):
    import test_16_console as con
    con.register(s, "m18-console", telegram_id=chat(), console_approvers=["m18ann"])
    rid = con.submit(s, "m18-console", request_type="confirmation")
    ann = con.login(s, "--name", "m18ann")
    before = scrape(s)
    r = ann.vote(rid, {"approve": False, "reason": "not today"})
    eq((r.status, r.json["result"]), (200, "denied"), repr(r))
    after = scrape(s)
    key = dict(outcome="denied", channel="console")
    eq(val(after, "loopgate_requests_decided_total", **key)
       - val(before, "loopgate_requests_decided_total", **key), 1.0, "denied in the console")
    eq(val(after, "loopgate_decision_seconds_count", channel="console")
       - val(before, "loopgate_decision_seconds_count", channel="console"), 1.0)


def test_listener_reconnect_counted(s):
    before = val(scrape(s), "loopgate_listener_reconnects_total")
    n = int(s.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE application_name = 'loopgate listener'"))
    ok(n >= 1, "no listener connection to end")
    wait_for(lambda: val(scrape(s), "loopgate_listener_reconnects_total") - before >= n, 30,
             "the listeners' reconnects counted")


def test_long_poll_shows_in_waiting_polls(s):
    c = chat()
    register(s, "m18-wait", c)
    rid = submit(s, "m18-wait")
    base = val(scrape(s), "loopgate_waiting_polls")
    got = {}
    t = threading.Thread(target=lambda: got.update(
        r=s.get("/hitl/poll?request_id=%s&wait=30" % rid, timeout=60)))
    t.start()
    try:
        before = wait_for(lambda: (lambda x: x if val(x, "loopgate_waiting_polls") >= base + 1
                                   else None)(scrape(s)), 10, "waiting_polls to show the long-poll")
        during = val(before, "loopgate_waiting_polls")
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        t.join(20)
        eq(got["r"].json["status"], "canceled")
        after = wait_for(lambda: (lambda x: x if val(x, "loopgate_waiting_polls") <= during - 1
                                  else None)(scrape(s)), 10, "the long-poll to end")
        key = dict(outcome="canceled", channel="api")
        eq(val(after, "loopgate_requests_decided_total", **key)
           - val(before, "loopgate_requests_decided_total", **key), 1.0, "canceled by the API")
        eq(val(after, "loopgate_decision_seconds_count", channel="api")
           - val(before, "loopgate_decision_seconds_count", channel="api"), 1.0)
    finally:
        s.post("/hitl/cancel", {"request_id": rid})
        t.join(40)


def test_telegram_429_counted(s):
    c = chat()
    register(s, "m18-429", c)
    before = scrape(s)
    s.tg.fail_next("sendMessage", 429, retry_after=1)
    rid = submit(s, "m18-429")
    sent(s, rid)
    after = scrape(s)
    key = dict(method="sendMessage", result="rate_limited")
    ok(val(after, "loopgate_telegram_api_calls_total", **key)
       - val(before, "loopgate_telegram_api_calls_total", **key) >= 1, "the 429 counted")
    key = dict(method="sendMessage", result="ok")
    ok(val(after, "loopgate_telegram_api_calls_total", **key)
       > val(before, "loopgate_telegram_api_calls_total", **key), "the send that went through")


def test_webhook_delivery_counted(s):
    rec = Receiver()
    try:
        c = chat()
        register(s, "m18-hook", c)
        before = scrape(s)
        rid = submit(s, "m18-hook", callback_url=rec.url)
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
        rec.wait_calls(1, timeout=10)
        wait_for(lambda: val(scrape(s), "loopgate_webhook_deliveries_total", outcome="delivered")
                 - val(before, "loopgate_webhook_deliveries_total", outcome="delivered") >= 1,
                 10, "the delivery counted")
    finally:
        rec.stop()


def stop(pid):
    """SIGSTOP `pid` and wait until every thread of it is stopped: a thread still
    in accept() could otherwise take a connection and then stop with it."""
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
            except FileNotFoundError:
                pass
        return True
    wait_for(stopped, 10, "worker %d to stop" % pid)


def test_counts_of_every_worker_added_up(s):
    if len(s.worker_pids()) != 2:
        s.stop()
        s.start(LOOPGATE_WORKERS="2")
    a, b = wait_for(lambda: len(s.worker_pids()) == 2 and s.worker_pids(), 10, "two workers")
    key = dict(route="(none)", method="GET", status="404")
    base = val(scrape(s), "loopgate_http_requests_total", **key)
    stopped = None
    try:
        # Only b serves while a is stopped; then a answers the scrape.
        stopped = a
        stop(a)
        for _ in range(7):
            eq(s.get("/m18/served-by-b").status, 404)
        os.kill(a, signal.SIGCONT)
        stopped = b
        stop(b)
        eq(val(scrape(s), "loopgate_http_requests_total", **key) - base, 7.0,
           "worker a shows what worker b counted")
        for _ in range(5):
            eq(s.get("/m18/served-by-a").status, 404)
        os.kill(b, signal.SIGCONT)
        stopped = a
        stop(a)
        eq(val(scrape(s), "loopgate_http_requests_total", **key) - base, 12.0,
           "worker b shows what worker a counted")
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)


def test_worker_restart_counted_and_totals_kept(s):
    before = scrape(s)
    victim = s.worker_pids()[0]
    others = set(s.worker_pids()) - {victim}
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(set(s.worker_pids()) - others - {victim}) == 1, 40, "a new worker")
    after = wait_for(lambda: (lambda x: x if val(x, "loopgate_worker_restarts_total")
                              > val(before, "loopgate_worker_restarts_total") else None)(
        scrape(s)), 10, "the restart counted")
    eq(val(after, "loopgate_worker_restarts_total")
       - val(before, "loopgate_worker_restarts_total"), 1.0, "one restart")
    # What the dead worker counted stays; its CPU time too.
    for name in ("loopgate_requests_submitted_total",):
        for k in before:
            if k[0] == name:
                ok(after.get(k, 0) >= before[k], "%s went back" % (k,))
    ok(val(after, "process_cpu_seconds_total") >= val(before, "process_cpu_seconds_total"),
       "process_cpu_seconds_total went back")
