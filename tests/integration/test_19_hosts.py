"""Several worker hosts on one PostgreSQL behind one nginx upstream (hosts.py):
a decision taken on one host wakes a long-poll held by another, an MCP session
moves between hosts, and a host killed under load is taken out and back by
nginx with nothing answered 2xx lost or doubled. Those tests are marked ha
(make check-ha) and each starts its own cluster. The last ones, on the
FastCGI socket (its values, who may connect, idle connections, requests and
bodies sent a byte at a time, socket activation, a unix socket in use), need
no cluster and run in make check."""
import fcntl
import http.client
import json
import os
import select
import socket
import statistics
import struct
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


# ---------------------------------------------------------------- the FastCGI socket
# These need no cluster and run in make check: `serve` started by the test on
# the suite's database, spoken to in FastCGI directly (_livez).

def _record(kind, body=b""):
    return struct.pack(">BBHHBx", 1, kind, 1, len(body), 0) + body


def _pair(name, value):
    out = b""
    for x in (name, value):
        out += bytes([len(x)]) if len(x) < 128 else struct.pack(">I", len(x) | 0x80000000)
    return out + name + value


def _livez(addr, timeout=5.0):
    """GET /livez over FastCGI at `addr` (a unix socket path, or (host, port)):
    the HTTP status the worker answered, or None when it closed the connection
    without an answer (raises socket.timeout when nothing came in time)."""
    if isinstance(addr, str):
        c = socket.socket(socket.AF_UNIX)
    else:
        c = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    with c:
        c.settimeout(timeout)
        c.connect(addr)
        params = b"".join(_pair(k.encode(), v.encode()) for k, v in (
            ("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/livez"), ("DOCUMENT_URI", "/livez"),
            ("REQUEST_URI", "/livez"), ("QUERY_STRING", ""), ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REMOTE_ADDR", "127.0.0.1")))
        try:
            c.sendall(_record(1, struct.pack(">HB5x", 1, 0)) + _record(4, params) + _record(4)
                      + _record(5))
        except (BrokenPipeError, ConnectionResetError):
            return None
        data = b""
        while True:
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            data += chunk
    out, pos = b"", 0
    while pos + 8 <= len(data):
        _, kind, _, n, pad = struct.unpack(">BBHHBx", data[pos:pos + 8])
        if kind == 6:
            out += data[pos + 8:pos + 8 + n]
        pos += 8 + n + pad
    if not out:
        return None
    head = out.split(b"\r\n\r\n", 1)[0].decode()
    for line in head.split("\r\n"):
        if line.lower().startswith("status:"):
            return int(line.split()[1])
    return 200


class _Serve:
    """`loopgate serve` with the suite's settings and `env` over them; its log
    (stderr) in a file: .log() reads it, .stop() ends it (SIGTERM) and returns
    its exit status. A context manager that stops it."""

    def __init__(self, s, argv=None, pass_fds=(), **env):
        self.path = os.path.join(s.var, "log", "serve-%s.log" % uuid.uuid4().hex[:8])
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        e = {"LOOPGATE_WORKERS": "1"}
        e.update(env)
        with open(self.path, "wb") as log:
            self.proc = subprocess.Popen(argv or [s.binary, "serve"], env=s.env(**e), cwd=s.var,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, pass_fds=pass_fds)

    def log(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def exited(self, timeout=30):
        """The exit status once it ended by itself within `timeout`, else None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _answers(addr):
    try:
        return _livez(addr, timeout=2) == 200
    except OSError:
        return False


def _wait_serving(srv, addr, what):
    wait_for(lambda: srv.proc.poll() is not None or _answers(addr), 30, what)
    eq(srv.proc.poll(), None, "serve exited: %r" % srv.log()[-600:])


def test_tcp_socket_values(s):
    """`socket = host:port` listens on TCP; a value that is neither a unix path
    nor a TCP address, or a TCP address in a form that hides what it binds,
    stops `serve` at start with a message naming it; the log names the
    address bound."""
    for value, says in (("nohost.invalid:9000", "cannot resolve its host"),
                        ("127.0.0.1:99999", "nor host:port"),
                        ("::1:9000", "nor host:port"),
                        ("loopgate.sock", "nor host:port"),
                        ("[]:9000", "empty brackets"),
                        ("0:9000", "four decimal numbers"),
                        ("127.1:9000", "four decimal numbers"),
                        ("010.0.0.1:9000", "four decimal numbers"),
                        ("[::ffff:127.0.0.1]:9000", "IPv4 address written as IPv6"),
                        ("[localhost]:9000", "brackets hold an IPv6 address"),
                        ("[::1:9000", "nor host:port")):
        r = subprocess.run([s.binary, "serve"], env=s.env(LOOPGATE_SOCKET=value), cwd=s.var,
                           capture_output=True, text=True, timeout=30)
        ok(r.returncode != 0 and says in r.stderr and value in r.stderr,
           "socket=%s: exit %d, %r" % (value, r.returncode, r.stderr[-400:]))
        ok(not os.path.exists(os.path.join(s.var, value)), "socket=%s made a file" % value)
    # FCGI_WEB_SERVER_ADDRS with an entry that is not an address: no start.
    r = subprocess.run([s.binary, "serve"], env=s.env(LOOPGATE_SOCKET="127.0.0.1:%d" % lg.free_port(),
                                                      FCGI_WEB_SERVER_ADDRS="127.0.0.1, nginx"),
                       cwd=s.var, capture_output=True, text=True, timeout=30)
    ok(r.returncode != 0 and "FCGI_WEB_SERVER_ADDRS: not an IPv4 or IPv6 address" in r.stderr,
       "FCGI_WEB_SERVER_ADDRS=127.0.0.1, nginx: exit %d, %r" % (r.returncode, r.stderr[-400:]))
    port = lg.free_port()
    with _Serve(s, LOOPGATE_SOCKET="[::1]:%d" % port) as srv:
        _wait_serving(srv, ("::1", port), "serve to answer on [::1]")
        eq(srv.stop(), 0, "serve's exit after SIGTERM")
    log = srv.log()
    ok("[::1]:%d" % port in log, "the log names the socket: %r" % log[-400:])
    ok("address=[::1]:%d allowed_peers=any" % port in log,
       "the log names the address bound: %r" % log[-600:])
    ok("listens on every address" not in log, "a warning for a private address: %r" % log[-600:])


def test_tcp_socket_on_every_address_checks_ipv4_peers_against_the_list(s):
    """`[::]:port` is dual-stack: an IPv4 peer arrives as ::ffff:a.b.c.d and
    FCGI_WEB_SERVER_ADDRS applies to it as to any IPv4 peer (libfcgi's own
    check skipped every AF_INET6 peer); IPv6 peers are checked too."""
    port = lg.free_port()
    with _Serve(s, LOOPGATE_SOCKET="[::]:%d" % port, FCGI_WEB_SERVER_ADDRS="10.9.9.9") as srv:
        wait_for(lambda: srv.proc.poll() is not None or "loopgate serving" in srv.log(), 30,
                 "serve to start")
        eq(srv.proc.poll(), None, "serve exited: %r" % srv.log()[-600:])
        eq(_livez(("127.0.0.1", port)), None, "an IPv4 peer not on the list")
        eq(_livez(("::1", port)), None, "an IPv6 peer not on the list")
        ok("address=[::]:%d allowed_peers=1" % port in srv.log(), srv.log()[-600:])
    with _Serve(s, LOOPGATE_SOCKET="[::]:%d" % port, FCGI_WEB_SERVER_ADDRS="127.0.0.1") as srv:
        _wait_serving(srv, ("127.0.0.1", port), "an IPv4 peer on the list to be served")
        eq(_livez(("::1", port)), None, "an IPv6 peer not on the list")
    with _Serve(s, LOOPGATE_SOCKET="[::]:%d" % port, FCGI_WEB_SERVER_ADDRS="::1") as srv:
        _wait_serving(srv, ("::1", port), "an IPv6 peer on the list to be served")
        eq(_livez(("127.0.0.1", port)), None, "an IPv4 peer not on the list")
    # On every address without a list: served, with a warning in the log.
    with _Serve(s, LOOPGATE_SOCKET="[::]:%d" % port) as srv:
        _wait_serving(srv, ("127.0.0.1", port), "any peer to be served")
        ok("listens on every address and FCGI_WEB_SERVER_ADDRS is not set" in srv.log(),
           srv.log()[-600:])


def test_idle_tcp_connections_do_not_stop_a_host(s):
    """Connections that send nothing hold no busy thread and no accept turn:
    a request behind 40 of them (1 worker, 4 busy threads) is answered before
    any of them is closed, and they are closed after request_read_timeout
    (before, one such connection held a worker's accept for as long as it
    stayed open)."""
    port = lg.free_port()
    addr = ("127.0.0.1", port)
    with _Serve(s, LOOPGATE_SOCKET="127.0.0.1:%d" % port, LOOPGATE_THREADS="64",
                LOOPGATE_BUSY_THREADS="4", LOOPGATE_REQUEST_READ_TIMEOUT="5") as srv:
        _wait_serving(srv, addr, "serve to answer")
        idle = [socket.create_connection(addr, timeout=1) for _ in range(40)]
        try:
            t0 = time.monotonic()
            # Behind the 40 in the listen queue: served once they are taken.
            eq(_livez(addr, timeout=8), 200, "a request behind 40 idle connections")
            took = time.monotonic() - t0
            ok(took < 4.5, "answered after %.2fs, not before the idle ones were closed" % took)
            for c in idle:
                c.settimeout(20 - (time.monotonic() - t0))
            closed = 0
            for c in idle:
                try:
                    closed += c.recv(1) == b""
                except ConnectionResetError:
                    closed += 1
                except socket.timeout:
                    break
            gone = time.monotonic() - t0
            eq(closed, 40, "idle connections closed by the worker")
            ok(gone >= 4.5, "closed after %.2fs, request_read_timeout is 5 s" % gone)
        finally:
            for c in idle:
                c.close()
        eq(_livez(addr), 200, "served afterwards")
        print("    a request behind 40 idle connections answered in %.3fs; they were closed"
              " after %.2fs (request_read_timeout 5 s)" % (took, gone))


def _drip(addr, n, stop, closed):
    """`n` connections that each send BEGIN_REQUEST and a PARAMS header
    announcing 60000 bytes, then one byte a second, never silent for a
    second; until `stop` is set or all are closed, closed[i] is when the
    server closed connection i (its FIN or reset seen). Returns the sockets
    and when each was opened."""
    head = _record(1, struct.pack(">HB5x", 1, 0)) + struct.pack(">BBHHBx", 1, 4, 1, 60000, 0)
    conns, opened = [], []
    for _ in range(n):
        c = socket.create_connection(addr, timeout=1)
        opened.append(time.monotonic())
        c.sendall(head)
        conns.append(c)

    def run():
        next_byte = time.monotonic() + 1
        while not stop.is_set() and len(closed) < n:
            live = [c for i, c in enumerate(conns) if i not in closed]
            readable, _, _ = select.select(live, [], [], 0.02)
            now = time.monotonic()
            for c in readable:  # the server sends nothing: readable is its end
                try:
                    gone = c.recv(1) == b""
                except OSError:
                    gone = True
                if gone:
                    closed[conns.index(c)] = now
            if now >= next_byte:
                next_byte += 1
                for i, c in enumerate(conns):
                    if i not in closed:
                        try:
                            c.send(b"a")
                        except OSError:
                            closed[i] = now

    threading.Thread(target=run, daemon=True).start()
    return conns, opened


def test_slow_tcp_connections_are_closed_at_the_read_deadline(s):
    """request_read_timeout bounds the whole read of a request's opening,
    not each read: connections that send it a byte a second (never silent
    that long) on every thread of a worker are each closed within 1.5 s of
    the deadline, and a request made after it is answered (before, they held
    every thread, and the host answered nobody, for as long as they
    dripped)."""
    port = lg.free_port()
    addr = ("127.0.0.1", port)
    n, deadline = 4, 2.0
    with _Serve(s, LOOPGATE_SOCKET="127.0.0.1:%d" % port, LOOPGATE_THREADS="4",
                LOOPGATE_BUSY_THREADS="2", LOOPGATE_REQUEST_READ_TIMEOUT="2") as srv:
        _wait_serving(srv, addr, "serve to answer")
        stop, closed = threading.Event(), {}
        conns, opened = _drip(addr, n, stop, closed)
        try:
            wait_for(lambda: len(closed) == n, deadline + 8,
                     "the %d dripping connections to be closed" % n)
            took = [closed[i] - opened[i] for i in range(n)]
            for t in took:
                ok(deadline - 0.2 <= t <= deadline + 1.5,
                   "a dripping connection closed after %.2fs (request_read_timeout %d s)"
                   % (t, deadline))
            t0 = time.monotonic()
            eq(_livez(addr, timeout=6), 200, "a request after the deadline")
            answered = time.monotonic() - t0
        finally:
            stop.set()
            for c in conns:
                c.close()
        ok("closed connections that did not send their request within request_read_timeout"
           in srv.log(), "the log says why: %r" % srv.log()[-600:])
        eq(srv.stop(), 0, "serve's exit after SIGTERM")
    print("    %d connections dripping their request a byte a second on 1 worker x 4 threads:"
          " closed after %.2f-%.2fs (request_read_timeout 2 s); a request after them answered"
          " in %.3fs" % (n, min(took), max(took), answered))


def _drip_body(addr, paths, stop, got):
    """One connection per (method, path) of `paths` that sends a whole
    opening (BEGIN_REQUEST, PARAMS with CONTENT_LENGTH 60000, the empty
    PARAMS record) and a STDIN record announcing 60000 bytes, then one of
    them a second, never silent for a second. Until `stop` is set or all are
    closed, got[i] is (when the server closed connection i, the bytes it sent
    on it). Returns the sockets and when each was opened."""
    conns, opened, data = [], [], {}
    for method, path in paths:
        params = b"".join(_pair(k.encode(), v.encode()) for k, v in (
            ("REQUEST_METHOD", method), ("SCRIPT_NAME", path), ("DOCUMENT_URI", path),
            ("REQUEST_URI", path), ("QUERY_STRING", ""), ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REMOTE_ADDR", "127.0.0.1"), ("CONTENT_TYPE", "application/json"),
            ("CONTENT_LENGTH", "60000")))
        c = socket.create_connection(addr, timeout=1)
        opened.append(time.monotonic())
        c.sendall(_record(1, struct.pack(">HB5x", 1, 0)) + _record(4, params) + _record(4)
                  + struct.pack(">BBHHBx", 1, 5, 1, 60000, 0) + b"{")
        data[len(conns)] = b""
        conns.append(c)
    n = len(conns)

    def run():
        next_byte = time.monotonic() + 1
        while not stop.is_set() and len(got) < n:
            live = [c for i, c in enumerate(conns) if i not in got]
            readable, _, _ = select.select(live, [], [], 0.02)
            now = time.monotonic()
            for c in readable:
                i = conns.index(c)
                try:
                    chunk = c.recv(65536)
                except OSError:
                    chunk = b""
                data[i] += chunk
                if not chunk:
                    got[i] = (now, data[i])
            if now >= next_byte:
                next_byte += 1
                for i, c in enumerate(conns):
                    if i not in got:
                        try:
                            c.send(b" ")
                        except OSError:
                            got[i] = (now, data[i])

    threading.Thread(target=run, daemon=True).start()
    return conns, opened


def test_connections_dripping_a_body_hold_no_busy_thread(s):
    """A request's body (read by a route that takes one) and the input left
    after its answer (read before every close) are read within
    request_read_timeout and without a busy thread: connections that send a
    whole opening and then their body a byte a second, more of them than
    busy_threads, leave /livez answering at once, and each is closed within
    1.5 s of the deadline (the dripping /livez after its 200, the dripping
    login unanswered). Before, each held a busy thread for as long as it
    dripped, and the worker answered nobody."""
    port = lg.free_port()
    addr = ("127.0.0.1", port)
    deadline = 2.0
    paths = [("GET", "/livez")] * 2 + [("POST", "/console/api/login")] * 2
    with _Serve(s, LOOPGATE_SOCKET="127.0.0.1:%d" % port, LOOPGATE_THREADS="8",
                LOOPGATE_BUSY_THREADS="2", LOOPGATE_REQUEST_READ_TIMEOUT="2") as srv:
        _wait_serving(srv, addr, "serve to answer")
        stop, got = threading.Event(), {}
        conns, opened = _drip_body(addr, paths, stop, got)
        try:
            time.sleep(0.5)  # the drips are inside their reads
            t0 = time.monotonic()
            try:
                code = _livez(addr, timeout=1.2)
            except socket.timeout:
                code = None
            answered = time.monotonic() - t0
            eq(code, 200, "/livez while %d connections drip a body (busy_threads 2)"
               % len(paths))
            ok(len(got) == 0, "no drip closed before the deadline: %r" % got)
            wait_for(lambda: len(got) == len(paths), deadline + 8,
                     "the %d dripping connections to be closed" % len(paths))
            took = [got[i][0] - opened[i] for i in range(len(paths))]
            for (method, path), t in zip(paths, took):
                ok(deadline - 0.2 <= t <= deadline + 1.5,
                   "%s %s dripping its body closed after %.2fs (request_read_timeout %d s)"
                   % (method, path, t, deadline))
            for i, (method, path) in enumerate(paths):
                answer = got[i][1]
                if path == "/livez":
                    ok(answer.startswith(b"\x01\x06") and b"Status: 200" in answer,
                       "the dripping /livez got its 200 first: %r" % answer[:80])
                else:
                    eq(answer, b"", "the dripping login is closed unanswered")
        finally:
            stop.set()
            for c in conns:
                c.close()
        eq(_livez(addr), 200, "served afterwards")
        ok("closed connections that did not send their request within request_read_timeout"
           in srv.log(), "the log says why: %r" % srv.log()[-600:])
        logins = [x for x in srv.log().splitlines() if "route=/console/api/login" in x]
        eq(len(logins), 2, "the two logins' access lines: %r" % srv.log()[-600:])
        ok(all("status=400" in x for x in logins),
           "a login whose body was cut short is refused, not handled: %r" % logins)
        eq(srv.stop(), 0, "serve's exit after SIGTERM")
    print("    %d connections dripping a body on 1 worker x 8 threads, 2 busy: /livez answered"
          " in %.3fs; they were closed after %.2f-%.2fs (request_read_timeout 2 s)"
          % (len(paths), answered, min(took), max(took)))


def _closed_by_peer(c):
    """Whether the worker has closed `c`: what it sent is read and thrown away,
    without waiting, up to its end."""
    try:
        while True:
            chunk = c.recv(65536, socket.MSG_DONTWAIT)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_peers_that_do_not_read_their_answer_hold_no_busy_thread(s):
    """A FastCGI peer that opens an event stream and never reads it: the
    stream's writes wait without a busy thread, and each fails after
    request_read_timeout without room, which ends the stream and closes the
    connection; so does a long plain answer's, which is written without a
    busy thread too. More such peers than busy_threads leave /livez
    answering at once while events pile up for them. Before, each blocked writer held a
    busy thread for ever and the worker answered nobody."""
    path = os.path.join(s.var, "run", "noread-%s.sock" % uuid.uuid4().hex[:6])
    sid = "noread-%s" % uuid.uuid4().hex[:6]
    register(s, sid, lg.chat())
    s.clear_pending()
    query = "session_id=" + sid

    def opening(route):
        params = b"".join(_pair(k.encode(), v.encode()) for k, v in (
            ("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", route), ("DOCUMENT_URI", route),
            ("REQUEST_URI", route + "?" + query), ("QUERY_STRING", query),
            ("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", "127.0.0.1")))
        return (_record(1, struct.pack(">HB5x", 1, 0)) + _record(4, params) + _record(4)
                + _record(5))
    n, big = 4, "x" * 3000
    conns = []

    def unread(route):
        """`n` connections asking for `route` that will not read its answer."""
        out = []
        for _ in range(n):
            c = socket.socket(socket.AF_UNIX)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            out.append(c)
            c.connect(path)
            c.sendall(opening(route))
        return out
    with _Serve(s, LOOPGATE_SOCKET=path, LOOPGATE_THREADS="16", LOOPGATE_BUSY_THREADS="2",
                LOOPGATE_REQUEST_READ_TIMEOUT="2") as srv:
        _wait_serving(srv, path, "serve to answer")
        try:
            conns = unread("/hitl/events")
            wait_for(lambda: all(select.select([c], [], [], 0)[0] for c in conns), 10,
                     "the %d event streams to begin" % n)
            # About 300 kB of events for each stream: more than its socket holds.
            for i in range(90):
                submit(s, sid, message="%d %s" % (i, big))
            t0 = time.monotonic()
            code = _livez(path, timeout=1.5)
            answered = time.monotonic() - t0
            eq(code, 200, "/livez while %d event streams are not read (busy_threads 2)" % n)
            # Nothing is read until the streams have ended: a read would make room.
            t1 = time.monotonic()
            wait_for(lambda: srv.log().count("route=/hitl/events") == n, 2 + 8,
                     "the unread streams to be ended")
            ended = time.monotonic() - t1
            wait_for(lambda: all(_closed_by_peer(c) for c in conns), 2 + 8,
                     "the ended streams' connections to be closed")
            for c in conns:
                c.close()
            # A plain answer longer than the socket holds (the 90 pending requests
            # of about 3 kB), asked for by peers that never read it.
            conns = unread("/hitl/pending")
            time.sleep(0.5)  # the answers are being written
            t0 = time.monotonic()
            code = _livez(path, timeout=1.5)
            answered_pending = time.monotonic() - t0
            eq(code, 200, "/livez while %d long answers are not read (busy_threads 2)" % n)
            wait_for(lambda: srv.log().count("route=/hitl/pending") == n, 2 + 8,
                     "the unread answers' requests to end")
        finally:
            for c in conns:
                c.close()
            s.clear_pending()
        eq(_livez(path), 200, "served afterwards")
        closed = srv.log().count('msg="event stream closed"')
        ok(closed >= n and "reason=client_gone" in srv.log(),
           "each stream ended as its client's: %r" % srv.log()[-600:])
        eq(srv.stop(), 0, "serve's exit after SIGTERM")
    print("    %d event streams not read, 1 worker x 16 threads, 2 busy: /livez answered in"
          " %.3fs; the streams ended %.1fs after the last event (request_read_timeout 2 s);"
          " beside %d unread long answers /livez answered in %.3fs"
          % (n, answered, ended, n, answered_pending))


def _activated(s, socks, **env):
    """`serve` started as systemd starts it under socket activation: the
    listening sockets `socks` as fds 3, 4, ..., LISTEN_FDS and LISTEN_PID set."""
    fds = [fcntl.fcntl(x.fileno(), fcntl.F_DUPFD_CLOEXEC, 10) for x in socks]
    moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(fds))
    argv = ["bash", "-c", 'exec %s; LISTEN_PID=$$ LISTEN_FDS=%d exec "$0" serve'
            % (moves, len(fds)), s.binary]
    try:
        return _Serve(s, argv=argv, pass_fds=fds, **env)
    finally:
        for fd in fds:
            os.close(fd)


def test_socket_activation_serves_one_socket_and_refuses_two(s):
    """Under socket activation `serve` serves the one socket systemd passes
    and logs its address; two sockets (a drop-in that adds a ListenStream=
    instead of replacing the packaged one) stop it at start, naming both,
    instead of leaving the second one's connections unanswered."""
    port = lg.free_port()
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(64)
    path = os.path.join(s.var, "act-%s.sock" % uuid.uuid4().hex[:6])
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    unix.listen(64)
    try:
        srv = _activated(s, [unix, tcp])
        try:
            code = srv.exited(30)
        finally:
            srv.stop()
        log = srv.log()
        ok(code not in (None, 0), "serve with two sockets: exit %r, %r" % (code, log[-600:]))
        ok("systemd passed several sockets" in log and path in log
           and "127.0.0.1:%d" % port in log, log[-600:])
        with _activated(s, [tcp]) as srv:
            _wait_serving(srv, ("127.0.0.1", port), "serve to answer on the inherited socket")
            log = srv.log()
            ok("socket=(inherited) address=127.0.0.1:%d" % port in log, log[-600:])
    finally:
        tcp.close()
        unix.close()
        if os.path.exists(path):
            os.unlink(path)


def test_unix_socket_in_use_is_not_taken_over(s):
    """A second `serve` on the unix socket path a live one answers on refuses
    to start and leaves it alone; a stale socket file (nobody answers) is
    replaced; a file that is not a socket is refused and kept."""
    path = os.path.join(s.var, "run", "f9-%s.sock" % uuid.uuid4().hex[:6])
    with _Serve(s, LOOPGATE_SOCKET=path) as first:
        _wait_serving(first, path, "the first serve to answer")
        second = _Serve(s, LOOPGATE_SOCKET=path)
        try:
            code = second.exited(30)
        finally:
            second.stop()
        ok(code not in (None, 0), "a second serve on %s: exit %r, %r"
           % (path, code, second.log()[-600:]))
        ok("another server answers on it" in second.log(), second.log()[-600:])
        ok(_answers(path), "the first serve answers after the second gave up")
        eq(first.stop(), 0, "the first serve's exit")
    ok(not os.path.exists(path), "the socket removed by the serve that bound it")
    # Stale: a socket file nobody listens on (an unclean stop).
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)
    dead.close()
    ok(os.path.exists(path), "the stale socket file is there")
    with _Serve(s, LOOPGATE_SOCKET=path) as srv:
        _wait_serving(srv, path, "serve to replace a stale socket")
    # Not a socket: left alone.
    with open(path, "w") as f:
        f.write("keep me\n")
    srv = _Serve(s, LOOPGATE_SOCKET=path)
    try:
        code = srv.exited(30)
    finally:
        srv.stop()
    ok(code not in (None, 0) and "not a socket" in srv.log(), srv.log()[-600:])
    with open(path) as f:
        eq(f.read(), "keep me\n", "the file at the socket path")
    os.unlink(path)
