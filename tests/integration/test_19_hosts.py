"""Several worker hosts on one PostgreSQL behind one nginx upstream (hosts.py):
a decision taken on one host wakes a long-poll held by another, an MCP session
moves between hosts, and a host killed under load is taken out and back by
nginx with nothing answered 2xx lost or doubled. Those tests are marked ha
(make check-ha) and each starts its own cluster. The last one, the TCP
socket's values, needs no cluster and runs in make check."""
import http.client
import json
import os
import socket
import statistics
import subprocess
import threading
import time
import uuid

import lg
from hosts import Cluster
from lg import eq, ok, wait_for
from test_07_telegram import register, submit, sent
from test_09_mcp import initialize, rpc, call, result_of

YES = "\u2705 Yes"


def _bin(s):
    return s.binary


def _poll(h, rid, wait, timeout=None):
    r = h.get("/hitl/poll?request_id=%s&wait=%d" % (rid, wait), timeout=timeout or wait + 30)
    return r, time.monotonic()


def _webhooks(h):
    return h.log().count(" path=/telegram/webhook ")


def test_long_poll_on_one_host_woken_by_a_decision_on_another(s):
    with Cluster(_bin(s), 2) as c:
        a, b = c.hosts
        # Telegram's updates reach host B alone; the agent polls host A alone.
        c.tg.webhook_target(b.url + "/telegram/webhook", c.webhook_secret)
        lat, after = [], []
        for i in range(5):
            chat = lg.chat()
            register(a, "hosts-wake-%d" % i, chat)
            rid = submit(a, "hosts-wake-%d" % i, options=["Yes", "No"])
            _, m, _ = sent(c, rid)
            box = {}
            t = threading.Thread(target=lambda: box.update(r=_poll(a, rid, 30)))
            t.start()
            wait_for(lambda: a.metric("loopgate_waiting_polls") == 1, 10, "the poll to wait on A")
            eq(b.metric("loopgate_waiting_polls"), 0, "polls waiting on B")
            before = (_webhooks(a), _webhooks(b))
            upd = c.tg.press(chat, m, button_text=YES)
            t0 = time.monotonic()
            eq(c.tg.deliver(upd), [200])
            t1 = time.monotonic()
            t.join(10)
            r, t2 = box["r"]
            lat.append((t2 - t0) * 1000)
            after.append((t2 - t1) * 1000)
            eq((r.status, r.json["status"], r.json["approved"]), (200, "completed", True))
            # Where each went: the poll's answer came from A (nginx's header and
            # A's own access log), the update was served by B.
            eq(c.which(r), a, "host that answered the poll")
            ok(a.served(r.header("X-Request-Id")), "A's log has the poll")
            # (A host logs a request once its answer is out: wait for B's line.)
            wait_for(lambda: _webhooks(b) == before[1] + 1, 5, "B's log to have the update")
            eq(_webhooks(a), before[0], "webhook calls on A")
            eq(c.sql("SELECT status, approved FROM requests WHERE id = :'p1'", rid),
               [["completed", "t"]], "the request's row")
        print("    Telegram update sent to host B to the answer of the long-poll on host A: median"
              " %.1f ms, max %.1f ms; after B's answer to the update: median %.1f ms, max %.1f ms"
              " (5 decisions, through Python threads on a shared machine)"
              % (statistics.median(lat), max(lat), statistics.median(after), max(after)))
        ok(max(lat) < 1000, "woken within a second: %r" % lat)
        # A host's FastCGI port serves nginx's address alone.
        ok(a.fcgi_answers(a.gateway), "A refused nginx's address")
        ok(not a.fcgi_answers(b.gateway), "A served another address than nginx's")


def test_mcp_session_made_on_one_host_continues_on_another(s):
    with Cluster(_bin(s), 2) as c:
        a, b = c.hosts
        sid, _ = initialize(a)
        eq(c.scalar("SELECT count(*) FROM mcp_sessions WHERE id = :'p1'", sid), "1")
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        r = rpc(b, ping, sid)
        eq((r.status, r.json["result"], c.which(r)), (200, {}, b))
        chat = lg.chat()
        register(a, "mcp", chat)
        res = result_of(call(a, sid, "request_human_input", {"message": "Across hosts?",
                                                             "wait_seconds": 0,
                                                             "options": ["Yes", "No"]}))
        rid = res["result"]["structuredContent"]["request_id"]
        _, m, _ = sent(c, rid)
        box = {}
        t = threading.Thread(target=lambda: box.update(r=call(
            b, sid, "check_request_status", {"request_id": rid, "wait_seconds": 20})))
        t.start()
        wait_for(lambda: b.metric("loopgate_waiting_polls") == 1, 10, "the MCP call to wait on B")
        c.tg.press_and_deliver(chat, m, button_text=YES)
        t.join(30)
        r = box["r"]
        sc = result_of(r)["result"]["structuredContent"]
        eq((sc["status"], sc["approved"], sc["response"]), ("completed", True, "Yes"))
        eq(c.which(r), b, "host that answered the MCP call")
        ok(b.served(r.header("X-Request-Id")), "B's log has the MCP call")
        # Ended on B, it is gone on A too.
        eq(b.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid}).status, 204)
        eq(rpc(a, ping, sid).status, 404)


# ---------------------------------------------------------------- a host dies
class Load:
    """Submitters (each submit with an Idempotency-Key, retried with the same key
    until it is answered 2xx) and waiting agents (a long-poll, polled again after
    a failure until the request is decided), all through nginx's upstream."""

    def __init__(self, c, submitters, pace, agents):
        self.c = c
        self.pace = pace
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answered = {}       # idempotency key -> request id (2xx)
        self.failed_tries = []   # (time, status) of submits that were not 2xx
        self.served_by = []      # (time sent, Host or None, X-Request-Id) of every 2xx
        self.agents = agents     # request ids
        self.results = {}        # request id -> final poll answer
        self.agent_retries = {}  # request id -> failed polls the agent saw
        self.via = {}            # request id -> nginx's upstream list of the final poll
        self.threads = [threading.Thread(target=self._submitter, args=(j,), daemon=True)
                        for j in range(submitters)]
        self.threads += [threading.Thread(target=self._agent, args=(rid,), daemon=True)
                         for rid in agents]

    def _req(self, method, path, body=None, headers=None, timeout=90):
        sent = time.monotonic()
        try:
            r = self.c.request(method, path, json_body=body, headers=headers, timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None
        r.sent = sent   # an answer read after A died may have left A before it died
        return r

    def _note(self, r):
        with self.lock:
            self.served_by.append((r.sent, self.c.which(r), r.header("X-Request-Id")))

    def _submitter(self, j):
        n = 0
        while not self.stop.is_set():
            n += 1
            key = "load-%d-%d-%s" % (j, n, uuid.uuid4().hex[:8])
            body = {"session_id": "load-%d" % j, "client_id": "agent",
                    "message": "load %d/%d" % (j, n)}
            end = time.monotonic() + 60
            while time.monotonic() < end:
                r = self._req("POST", "/hitl/request", body, {"Idempotency-Key": key}, timeout=30)
                if r is not None and 200 <= r.status < 300:
                    with self.lock:
                        self.answered[key] = r.json["request_id"]
                    self._note(r)
                    break
                with self.lock:
                    self.failed_tries.append((time.monotonic(), r.status if r else 0))
                time.sleep(0.1)
            time.sleep(self.pace)

    def _agent(self, rid):
        end = time.monotonic() + 150
        retries = 0
        while time.monotonic() < end:
            r = self._req("GET", "/hitl/poll?request_id=%s&wait=60" % rid)
            if r is None or r.status != 200:
                retries += 1
                time.sleep(0.2)
                continue
            if r.json.get("completed"):
                with self.lock:
                    self.results[rid] = r.json
                    self.via[rid] = r.header("X-Loopgate-Upstream") or ""
                self._note(r)
                break
        with self.lock:
            self.agent_retries[rid] = retries

    def start(self):
        for t in self.threads:
            t.start()

    def join(self, seconds=40):
        """Stop the submitters (each after its submit in hand) and wait for every
        thread, `seconds` at most in all (they are daemons: a test that failed
        goes on to tear the cluster down, which ends their calls)."""
        self.stop.set()
        end = time.monotonic() + seconds
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))


def _nginx_error_log(c):
    p = os.path.join(c.var, "log/nginx-error.log")
    with open(p, errors="replace") as f:
        return f.read()


def test_host_killed_under_load_is_taken_out_and_back(s):
    with Cluster(_bin(s), 3, fail_timeout=2, env={"MAX_CONCURRENT_REQUESTS": "100000"}) as c:
        a = c.hosts[0]
        n_sub, n_agents = 5, 24
        for j in range(n_sub):
            register(c, "load-%d" % j, lg.chat())
        agents, chats = [], {}
        for k in range(n_agents):
            chat = lg.chat()
            register(c, "wait-%d" % k, chat)
            rid = submit(c, "wait-%d" % k, "agent %d waits" % k, options=["Yes", "No"])
            agents.append(rid)
            chats[rid] = chat
        msgs = {rid: sent(c, rid, 60)[1] for rid in agents}
        # A submit host A stored just before it died, retried with its key.
        replay = {"session_id": "load-0", "client_id": "agent", "message": "load replay"}
        replay_key = {"Idempotency-Key": "load-replay-%s" % uuid.uuid4().hex[:8]}
        r = a.post("/hitl/request", replay, headers=replay_key)
        eq((r.status, c.which(r)), (200, a), "the submit on A")
        replay_id = r.json["request_id"]
        load = Load(c, n_sub, 0.02, agents)
        load.start()
        try:
            def waiting():
                return [h.metric("loopgate_waiting_polls") or 0 for h in c.hosts]
            wait_for(lambda: sum(waiting()) == n_agents, 30, "every agent's poll to wait")
            held_by_a = int(waiting()[0])
            ok(held_by_a > 0, "host A holds none of the %d polls: %r" % (n_agents, waiting()))
            time.sleep(2)   # the submit stream runs over every host
            t_kill = time.monotonic()
            victims = c.kill(0)
            t_gone = time.monotonic()   # every process of A has exited
            r = c.post("/hitl/request", replay, headers=replay_key)
            eq((r.status, r.json["request_id"]), (200, replay_id), "the submit retried")
            ok(c.which(r) not in (None, a), "retried on another host: %r" % c.which(r))
            time.sleep(2)   # A is dead, the load goes on
            # Every agent's request is decided now, the updates through the same upstream.
            for rid in agents:
                upd = c.tg.press(chats[rid], msgs[rid], button_text=YES)
                eq(c.tg.deliver(upd, deadline=30)[-1], 200, "the update for %s" % rid)
            wait_for(lambda: len(load.results) == n_agents, 60, "every agent's answer")
            time.sleep(max(0.0, t_kill + 5 - time.monotonic()))
            t_restart = time.monotonic()
            c.start(0)
            back = wait_for(lambda: [(t, x) for t, h, x in load.served_by if h is a and t > t_restart],
                            30, "nginx to send submits to host A again")
            time.sleep(1)
        finally:
            load.join()
        t_back = back[0][0] - t_restart

        # Every waiting agent got its answer, those held by A from another host.
        eq(sorted(load.results), sorted(agents), "agents answered")
        ok(all(x["status"] == "completed" and x["approved"] for x in load.results.values()),
           "every agent approved")
        # A poll held by A was passed on by nginx (its upstream list names A, then
        # the host that answered) or failed and the agent polled again.
        passed_on = [rid for rid in agents if a.socket in load.via[rid]]
        repolled = [rid for rid in agents if load.agent_retries[rid]]
        ok(len(set(passed_on) | set(repolled)) >= held_by_a,
           "polls held by A: %d; passed on by nginx: %d, polled again: %d"
           % (held_by_a, len(passed_on), len(repolled)))
        ok(all(load.via[r].split(",")[-1].strip() != a.socket for r in agents),
           "a poll was answered by A while it was dead")
        # Every submit answered 2xx is stored exactly once, under its key.
        with load.lock:
            answered = dict(load.answered)
        ok(len(answered) >= 50, "the load ran: %d submits answered" % len(answered))
        rows = c.sql("SELECT idempotency_key, id::text, count(*) OVER (PARTITION BY idempotency_key),"
                     " count(*) OVER () FROM requests WHERE message LIKE 'load %'")
        stored = {k: (rid, int(n)) for k, rid, n, _ in rows}
        eq([k for k in answered if k not in stored], [], "2xx submits missing in the database")
        eq([k for k, rid in answered.items() if stored[k] != (rid, 1)], [],
           "2xx submits stored under another id or more than once")
        eq(len(stored), int(rows[0][3]), "rows of the load (one per key)")
        eq(stored.get(replay_key["Idempotency-Key"]), (replay_id, 1), "the submit retried after A died")
        # nginx took A out (its error log says so; nothing came from A while it was
        # down) and back (A answered submits again after its restart).
        log = _nginx_error_log(c)
        ok("upstream server temporarily disabled" in log and a.socket in log,
           "nginx's error log does not show A taken out")
        down = [t for t, h, _ in load.served_by if h is a and t_gone < t < t_restart]
        eq(down, [], "answers from A while it was dead")
        ok(a.served(back[0][1]), "A's log has the answer nginx says came from A")
        after = [t for t, h, _ in load.served_by if t > t_restart]
        from_a = [t for t, h, _ in load.served_by if h is a and t > t_restart]
        ok(a.master_pid() and len(a.worker_pids()) == 2, "A runs again: %r" % a.worker_pids())
        eq(a.get("/readyz").status, 200, "A's /readyz after its restart")
        failed_after_kill = [st for t, st in load.failed_tries if t >= t_kill]
        by_host = {}
        for t, h, _ in load.served_by:
            by_host[h.i if h else None] = by_host.get(h.i if h else None, 0) + 1
        print("    3 hosts, %d submitters, %d waiting agents; host A (%d processes) SIGKILLed:"
              " %d submits answered 2xx, all stored once; %d tries failed after the kill"
              " (statuses %s) and were retried with their key; %d polls held by A, %d answered"
              " after nginx passed them on, %d agents saw a failed poll; A served again %.2fs"
              " after its restart (%d of %d answers since); answers by host %s; the kill took %.2fs"
              % (n_sub, n_agents, len(victims), len(answered), len(failed_after_kill),
                 sorted(set(failed_after_kill)), held_by_a, len(passed_on),
                 sum(1 for v in load.agent_retries.values() if v), t_back, len(from_a), len(after),
                 json.dumps(by_host), t_gone - t_kill))


for _t in (test_long_poll_on_one_host_woken_by_a_decision_on_another,
           test_mcp_session_made_on_one_host_continues_on_another,
           test_host_killed_under_load_is_taken_out_and_back):
    _t.ha = True


# ---------------------------------------------------------------- the TCP socket
def test_tcp_socket_values(s):
    """`socket = host:port` listens on TCP; a value that is neither a unix path
    nor a TCP address stops `serve` at start with a message naming it."""
    for value, says in (("nohost.invalid:9000", "cannot resolve its host"),
                        ("127.0.0.1:99999", "nor host:port"),
                        ("::1:9000", "nor host:port"),
                        ("loopgate.sock", "nor host:port")):
        r = subprocess.run([s.binary, "serve"], env=s.env(LOOPGATE_SOCKET=value), cwd=s.var,
                           capture_output=True, text=True, timeout=30)
        ok(r.returncode != 0 and says in r.stderr and value in r.stderr,
           "socket=%s: exit %d, %r" % (value, r.returncode, r.stderr[-400:]))
        ok(not os.path.exists(os.path.join(s.var, value)), "socket=%s made a file" % value)
    port = lg.free_port()
    p = subprocess.Popen([s.binary, "serve"], env=s.env(LOOPGATE_SOCKET="[::1]:%d" % port,
                                                         LOOPGATE_WORKERS="1"),
                         cwd=s.var, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: p.poll() is not None or _connects6(port), 20, "serve to listen on [::1]")
        eq(p.poll(), None, "serve exited")
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    eq(p.returncode, 0, "serve's exit after SIGTERM")
    ok("[::1]:%d" % port in err, "the log names the socket: %r" % err[-400:])


def _connects6(port):
    try:
        with socket.create_connection(("::1", port), timeout=0.5):
            return True
    except OSError:
        return False
