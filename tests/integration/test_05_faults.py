"""Faults: a worker killed mid-load, the database going away, a restart of the
whole stack. Nothing answered 2xx is lost; nothing is answered twice."""
import os
import signal
import subprocess
import threading
import time

import lg
from lg import eq, ok, error_is, wait_for


def test_worker_sigkill_under_load(s):
    eq(s.post("/hitl/register", {"session_id": "kill", "client_id": "c", "telegram_id": 5}).status, 200)
    s.sql("UPDATE requests SET status = 'canceled' WHERE tenant = 'default' AND status = 'pending'")
    workers = s.worker_pids()
    eq(len(workers), 2, "worker processes")
    answered, failures, lock = {}, [], threading.Lock()
    stop = time.time() + 30

    def client(n):
        # Each logical request retries with its Idempotency-Key until it gets a 2xx.
        for i in range(60):
            key = "kill-%d-%d" % (n, i)
            while time.time() < stop:
                try:
                    r = s.post("/hitl/request", {"session_id": "kill", "client_id": "c",
                                                 "message": key}, headers={"Idempotency-Key": key},
                               timeout=10)
                except OSError as e:
                    with lock:
                        failures.append(str(e))
                    continue
                if r.status == 200:
                    with lock:
                        answered[key] = r.json["request_id"]
                    s.post("/hitl/cancel", {"request_id": r.json["request_id"]})
                    break
                with lock:
                    failures.append(r.status)
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    os.kill(workers[0], signal.SIGKILL)
    for t in threads:
        t.join()
    eq(len(answered), 360, "logical requests answered (failures seen: %r)" % failures[:5])
    rows = dict((k, v) for k, v in s.sql("SELECT idempotency_key, id FROM requests"
                                         " WHERE session_id = 'kill'"))
    eq(len(rows), 360, "rows in the database")
    for k, rid in answered.items():
        eq(rows.get(k), rid, "request %s stored under the id the client got" % k)
    new = wait_for(lambda: len(s.worker_pids()) == 2 and s.worker_pids(), 5, "a replacement worker")
    ok(workers[0] not in new and workers[1] in new, "the master replaced only the dead worker")
    print("    (%d transient failures while the worker died: %r)" % (len(failures), failures[:3]))


def test_database_down(s):
    eq(s.post("/hitl/register", {"session_id": "dbdown", "client_id": "c", "telegram_id": 5}).status, 200)
    rid = s.post("/hitl/request", {"session_id": "dbdown", "client_id": "c", "message": "m"}).json["request_id"]
    s.pg_ctl("stop")
    try:
        r = s.get("/health")
        eq(r.status, 503, repr(r))
        eq(r.json["status"], "unavailable")
        eq(r.json["error"]["code"], "database_unavailable")
        error_is(s.post("/hitl/request", {"session_id": "dbdown", "client_id": "c", "message": "x"}),
                 503, "database_unavailable")
        error_is(s.get("/hitl/poll?request_id=" + rid), 503, "database_unavailable")
    finally:
        s.pg_ctl("start")
    # Pooled connections were lost; the next calls reconnect.
    wait_for(lambda: s.get("/health").status == 200, 10, "health after PostgreSQL restart")
    for _ in range(6):
        eq(s.get("/hitl/poll?request_id=" + rid).status, 200)
    eq(s.scalar("SELECT count(*) FROM requests WHERE session_id='dbdown'"), "1")


def test_restart_keeps_data_and_auth_required(s):
    key = s.new_key("restart-tenant")
    h = {"X-API-Key": key}
    eq(s.post("/hitl/register", {"session_id": "persist", "client_id": "c", "telegram_id": 5},
              headers=h).status, 200)
    rid = s.post("/hitl/request", {"session_id": "persist", "client_id": "c", "message": "m"},
                 headers=h).json["request_id"]
    master = s.master_pid()
    s.stop()
    ok(not os.path.exists(os.path.join(s.var, "run/loopgate.sock")), "socket removed on stop")
    ok(subprocess.run(["pgrep", "-f", s.var], capture_output=True).returncode != 0,
       "no process of the stack left after stop")
    try:
        os.kill(master, 0)
        raise AssertionError("master still alive")
    except ProcessLookupError:
        pass
    s.start(LOOPGATE_AUTH="required")
    try:
        eq(s.get("/hitl/poll?request_id=" + rid, headers=h).json["status"], "pending")
        error_is(s.get("/hitl/poll?request_id=" + rid), 401, "unauthorized", "API key")
        error_is(s.post("/hitl/register", {"session_id": "x", "client_id": "c", "telegram_id": 1}),
                 401, "unauthorized")
        eq(s.get("/health").status, 200)  # health needs no key
    finally:
        s.stop()
        s.start(LOOPGATE_AUTH="off")


def test_sigterm_lets_in_flight_requests_finish(s):
    eq(s.post("/hitl/register", {"session_id": "inflight", "client_id": "c", "telegram_id": 5}).status, 200)
    rid = s.post("/hitl/request", {"session_id": "inflight", "client_id": "c", "message": "m"}).json["request_id"]
    # Hold the request's row so that a cancel blocks inside a worker.
    locker = subprocess.Popen(
        [os.path.join(lg.PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"), "-U", "loopgate",
         "-d", "loopgate", "-At"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    locker.stdin.write("BEGIN; SELECT 1 FROM requests WHERE id = '%s' FOR UPDATE;\n"
                       "\\echo locked\n" % rid)
    locker.stdin.flush()
    eq(locker.stdout.readline().strip(), "1")
    eq(locker.stdout.readline().strip(), "locked")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=s.post("/hitl/cancel", {"request_id": rid})))
    t.start()
    time.sleep(0.5)  # the cancel is now waiting on the row lock, inside a worker
    master = s.master_pid()
    os.kill(master, signal.SIGTERM)
    time.sleep(1.0)
    ok(t.is_alive(), "the in-flight request is still running")
    locker.stdin.write("COMMIT;\n")
    locker.stdin.close()
    locker.wait(10)
    t.join(15)
    eq(result["r"].status, 200, "the in-flight cancel finished: %r" % result.get("r"))
    eq(s.scalar("SELECT status FROM requests WHERE id = :'p1'", rid), "canceled")
    wait_for(lambda: subprocess.run(["kill", "-0", str(master)], capture_output=True).returncode != 0,
             15, "master exit")
    s.stop()


def test_sigterm_stops_cleanly(s):
    master = s.master_pid()
    workers = s.worker_pids()
    os.kill(master, signal.SIGTERM)
    t = time.time()
    wait_for(lambda: subprocess.run(["kill", "-0", str(master)], capture_output=True).returncode != 0,
             15, "master exit")
    ok(time.time() - t < 5, "stopped in %.1fs" % (time.time() - t))
    for w in workers:
        ok(subprocess.run(["kill", "-0", str(w)], capture_output=True).returncode != 0,
           "worker %d gone" % w)
    log = open(os.path.join(s.var, "log/loopgate.log")).read()
    ok('msg="stopped"' in log, "master logged its clean stop")
    s.stop()


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_restart_keeps_data_and_auth_required.slow = True
test_sigterm_stops_cleanly.slow = True
test_sigterm_lets_in_flight_requests_finish.slow = True
