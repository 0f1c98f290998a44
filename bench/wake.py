#!/usr/bin/env python3
"""wake.py - decision to long-poll answer latency, with N agents waiting.

    bench/wake.py [--agents 1000] [--decisions 200] [--bin build/loopgate] [--json]
                  [--floor build/bench/floor]

Starts the real stack (private PostgreSQL with fsync on, nginx, workers) with
a Bot API stand-in on loopback, submits N requests, delivers their Telegram
messages, and opens N long-polls (GET /hitl/poll?wait=120), one per request,
on raw sockets driven by asyncio. Then, one decision at a time, it POSTs a
button press to /telegram/webhook exactly as Telegram does and measures the
time from that POST until the matching agent's long-poll response has
arrived. The other polls are then released at once by one UPDATE (as the
test harness's clear_pending does): its trigger NOTIFYs each request, so
every waiter must be woken by the listener. Prints p50 / p99 / max, how many
agents were woken, and the memory of the workers with everyone waiting.
The Bot API stand-in runs without Nagle delays, in a process of its own
(bench/benchlib.py StubProcess); the button presses are built there before
the timing starts.

With --floor, the wake floor (bench/floor.c in mode fw, behind the same
nginx) is measured at its best: it runs in each configuration of
--floor-workers (default 1 and 2 worker processes, each with threads enough
for all its waiters), each a server of its own with a database of its own
and N waiters of its own (GET /floor/fwW?wait=K). Right after each product
decision the same client POSTs /floor/fwW?decide=K to each of them in turn
and times it the same way: the least that nginx, FastCGI and a PostgreSQL
notification take on this machine at that moment. FW is the configuration
with the lowest p50; every configuration's figures are in the JSON
("floors"). The floors' waiters are not released afterwards. The product
runs as it ships (2 workers): its wake path has no knob that trades
anything for latency, and the floor's 1-worker configuration has no
counterpart the product would keep (one worker is one crash from no service).

Sizing, so that the stack itself is not what fails:
- threads: each waiting poll holds a request thread, and a worker keeps
  1/16 of its threads free (wait_capacity() in src/wait.c). The kernel does
  not split connections evenly between the 2 workers (one can take 60 % of a
  burst), so each worker gets room for --share (0.65) of the agents.
- open files: nginx holds two descriptors per waiting agent (client and
  FastCGI) and cannot raise its limit above the hard limit (20000 on the
  bench machine; worker_rlimit_nofile 65536 fails without CAP_SYS_RESOURCE).
  When one nginx cannot hold them all, a second nginx is started from the
  very same rendered configuration (only port, pid and logs differ), in
  front of the same worker socket, and half the agents use it: the product
  path (nginx -> FastCGI -> workers -> PostgreSQL) is unchanged. The JSON
  says how many nginx instances were used.

Errors count agents, once each: a poll answered before the decisions
(e.g. 503 too_many_waiting), a decision not answered 200/completed, a
released poll not answered "canceled", or a connection that failed.
"""
import argparse
import asyncio
import collections
import concurrent.futures
import gc
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import benchlib  # noqa: E402
import lg  # noqa: E402

SECRET = "bench-webhook-secret"
# PostgreSQL signals every listening session of a database at each commit
# that notifies, whatever it listens to: each wake floor has a database of
# its own in the same cluster, so that none wakes another's listeners.
FLOOR_DB = "bench_fw%d"  # by worker count
RAMP = 500  # agents that start their long-poll together
T0 = time.monotonic()


def say(msg):
    print("wake: [%5.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


# ---------------------------------------------------------------- a second nginx

class ExtraNginx:
    """Another nginx from the stack's own rendered nginx.conf, on another port."""

    def __init__(self, stack, n):
        self.stack = stack
        self.port = lg.free_port()
        self.dir = os.path.join(stack.var, "nginx%d" % n)
        self.pidfile = os.path.join(stack.var, "run", "nginx%d.pid" % n)
        self.errlog = os.path.join(stack.var, "log", "nginx%d-error.log" % n)

    def start(self):
        with open(os.path.join(self.stack.var, "nginx", "nginx.conf")) as f:
            conf = f.read()
        var = self.stack.var
        subst = [("listen 127.0.0.1:%d;" % self.stack.port, "listen 127.0.0.1:%d;" % self.port),
                 ("pid %s/run/nginx.pid;" % var, "pid %s;" % self.pidfile),
                 ("error_log %s/log/nginx-error.log" % var, "error_log %s" % self.errlog),
                 ("%s/nginx/tmp/" % var, "%s/tmp/" % self.dir)]
        for old, new in subst:
            if old not in conf:
                raise RuntimeError("second nginx: %r not found in the stack's nginx.conf" % old)
            conf = conf.replace(old, new)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        subprocess.run(["nginx", "-p", self.dir, "-c", path, "-e", self.errlog], check=True,
                       capture_output=True, timeout=30)
        return self

    def stop(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGQUIT)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- HTTP on asyncio

async def http_request(reader, writer, method, path, body=None, headers=None):
    data = body.encode() if isinstance(body, str) else (body or b"")
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % (method, path, len(data))
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    return await read_response(reader)


async def read_response(reader):
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
        elif k.lower() == "transfer-encoding" and "chunked" in v:
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
    else:
        body = await reader.readexactly(length)
    return status, body


def parse(body):
    try:
        v = json.loads(body)
        return v if isinstance(v, dict) else {}
    except ValueError:
        return {}


def describe(status, poll):
    code = (poll.get("error") or {}).get("code") if isinstance(poll.get("error"), dict) else None
    return "%d %s" % (status, code or poll.get("status") or "")


# ---------------------------------------------------------------- the run

async def open_agents(paths, ports, pids, base_fds):
    """One connection per path, each sending GET path; answers[i] -> (t, status, body)."""
    loop = asyncio.get_running_loop()
    conns = []
    for i in range(len(paths)):
        conns.append(await asyncio.open_connection("127.0.0.1", ports[i % len(ports)]))
    answers = [loop.create_future() for _ in paths]

    async def agent(i):
        reader, writer = conns[i]
        try:
            status, body = await http_request(reader, writer, "GET", paths[i])
            answers[i].set_result((time.perf_counter(), status, parse(body)))
        except Exception as e:  # noqa: BLE001 - a failed agent is counted, not fatal
            answers[i].set_result((time.perf_counter(), 0, {"error": {"code": repr(e)}}))

    # Agents arrive in waves of RAMP: a burst of thousands of connects at once
    # overflows the workers' listen backlog (4096) and nginx answers 502.
    # Each wave waits until its polls have reached a worker (each holds one
    # FastCGI descriptor there) or been answered.
    def arrived():
        held = sum(max(0, fd_count(p) - base_fds.get(p, 0)) for p in pids)
        return held + sum(1 for f in answers if f.done())

    tasks = []
    for start in range(0, len(paths), RAMP):
        tasks += [asyncio.create_task(agent(i)) for i in range(start, min(len(paths), start + RAMP))]
        deadline = time.monotonic() + 5
        while arrived() < len(tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    return conns, answers, tasks


async def run(args, stack, tg, requests, ports, base_fds, floor):
    loop = asyncio.get_running_loop()
    n = len(requests)
    failed = {}  # request id -> why, one entry per agent
    say("%d agents connecting to %d nginx; sending the long-polls" % (n, len(ports)))
    pids = stack.worker_pids()
    conns, futs, tasks = await open_agents(
        ["/hitl/poll?request_id=%s&wait=120" % r["id"] for r in requests], ports, pids, base_fds)
    answers = dict((r["id"], f) for r, f in zip(requests, futs))
    fws = list(floor.floors.values()) if floor else []
    for fl in fws:
        say("%d floor agents connecting: GET /floor/%s?wait=ID" % (n, fl.name))
        fl.conns, fl.futs, fl.tasks = await open_agents(
            ["/floor/%s?wait=%d" % (fl.name, i + 1) for i in range(n)], ports, fl.pids,
            fl.base_fds)
        fl.lat = []
    await asyncio.sleep(2 + n / 5000)
    per_worker = [max(0, fd_count(p) - base_fds.get(p, 0)) for p in pids]
    early = {rid: f.result() for rid, f in answers.items() if f.done()}
    for rid, (_, status, poll) in early.items():
        failed[rid] = "answered before any decision: " + describe(status, poll)
    waiting = n - len(early)
    rss = rss_kib(pids)
    say("%d waiting (per worker %s), %d answered early, worker RSS %.1f MiB"
        % (waiting, per_worker, len(early), rss / 1024))
    for fl in fws:
        floor_early = sum(1 for f in fl.futs if f.done())
        say("floor %s: %d waiting, %d answered early" % (fl.name, n - floor_early, floor_early))
        for i in range(floor_early):
            failed["floor-%s-early-%d" % (fl.name, i)] = "floor poll answered before any decision"

    hook_r, hook_w = await asyncio.open_connection("127.0.0.1", stack.port)
    lat = []
    hook_lat = []  # until the webhook POST itself was answered (the decision committed)
    after_lat = []  # from that answer to the long-poll's (0 when the poll's came first)
    decided = requests[: args.decisions]
    # The collector would pause this process mid-measurement (1,000s of objects).
    gc.disable()
    presses = [json.dumps(tg.press(r["chat"], r["message_id"], data="%s:0" % r["id"],
                                   user_id=r["chat"])) for r in decided]
    for r, body in zip(decided, presses):
        t0 = time.perf_counter()
        status, _ = await http_request(hook_r, hook_w, "POST", "/telegram/webhook", body,
                                       {"Content-Type": "application/json",
                                        "X-Telegram-Bot-Api-Secret-Token": SECRET})
        t_hook = time.perf_counter()
        t1, pstatus, poll = await asyncio.wait_for(answers[r["id"]], 30)
        if r["id"] in early:
            continue
        if status != 200 or pstatus != 200 or poll.get("status") != "completed":
            failed[r["id"]] = "decision: webhook %d, poll %s" % (status, describe(pstatus, poll))
        else:
            lat.append((t1 - t0) * 1000)
            hook_lat.append((t_hook - t0) * 1000)
            after_lat.append(max(0.0, t1 - t_hook) * 1000)
        for fl in fws:
            # The same decision on each wake floor, right after: the same moment of the machine.
            k = len(fl.lat) + 1
            t0 = time.perf_counter()
            status, _ = await http_request(hook_r, hook_w, "POST",
                                           "/floor/%s?decide=%d" % (fl.name, k))
            t1, pstatus, poll = await asyncio.wait_for(fl.futs[k - 1], 30)
            if status != 200 or pstatus != 200 or poll.get("status") != "completed":
                failed["floor-%s-%d" % (fl.name, k)] = "floor: decide %d, wait %s" % (
                    status, describe(pstatus, poll))
            fl.lat.append((t1 - t0) * 1000)
    gc.enable()
    hook_w.close()
    for fl in fws:
        # The floor's other waiters are not released: its figure is the decisions above.
        for t in fl.tasks:
            t.cancel()
        await asyncio.gather(*fl.tasks, return_exceptions=True)
        for _, w in fl.conns:
            w.close()
    say("%d decisions timed; releasing the other %d polls at once"
        % (len(decided), n - len(decided)))

    # Release the rest at once, as the test harness does (lg.Stack.clear_pending): one
    # UPDATE whose trigger NOTIFYs every request, so every waiter is woken by the listener.
    rest = requests[args.decisions:]
    t_rel = time.monotonic()
    await loop.run_in_executor(None, stack.sql,
                               "UPDATE requests SET status = 'canceled', responded_at = now(),"
                               " updated_at = now() WHERE status = 'pending'")
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60 + n / 200)
    for d in done:
        if isinstance(d, Exception):
            failed.setdefault("task-%d" % id(d), repr(d))
    woken = 0
    decided_ids = set(r["id"] for r in decided)
    for r in requests:
        _, status, poll = answers[r["id"]].result()
        want = "completed" if r["id"] in decided_ids else "canceled"
        if r["id"] in early:
            continue
        if status == 200 and poll.get("status") == want:
            woken += 1
        else:
            failed.setdefault(r["id"], "release: poll %s" % describe(status, poll))
    say("all %d released polls answered %.1f s after the release" % (len(rest), time.monotonic() - t_rel))
    for _, w in conns:
        w.close()
    return lat, hook_lat, after_lat, failed, waiting, woken, rss, per_worker


def percentiles(lat):
    """p50 / p99 / max of latencies in ms (None when there are none)."""
    lat = sorted(lat)
    if not lat:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": round(statistics.median(lat), 3),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
            "max_ms": round(lat[-1], 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--share", type=float, default=0.65,
                    help="share of the agents each of the 2 workers must be able to hold")
    ap.add_argument("--threads", type=int, default=0, help="LOOPGATE_THREADS (0: from --share)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/loopgate"))
    ap.add_argument("--floor", default="",
                    help="bench/floor binary: also time each decision on the wake floor (fw)")
    ap.add_argument("--floor-workers", default="1,2",
                    help="worker processes of the wake floor's configurations (comma list)")
    ap.add_argument("--json", action="store_true", help="print one JSON line of results")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.agents + 500 > hard:
        sys.exit("wake: %d agents need more than the open-file limit %d" % (args.agents, hard))

    # A worker may hold threads - max(threads/16, 2) waits (src/wait.c).
    need = math.ceil(args.agents * args.share) + 32
    threads = args.threads or min(16384, math.ceil(need * 16 / 15) + 2)
    # nginx: two descriptors per waiting agent (and floor agent) plus its own few.
    floor_workers = [int(x) for x in args.floor_workers.split(",") if x] if args.floor else []
    n_nginx = max(1, math.ceil((2 * args.agents * (1 + len(floor_workers)) + 200) / hard))

    tg = benchlib.StubProcess(rate_limits=False)
    stack = lg.Stack(args.bin, env={
        "TELEGRAM_API_URL": tg.url, "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET, "PUBLIC_URL": "https://bench.example.test",
        "LOOPGATE_THREADS": str(threads), "MAX_CONCURRENT_REQUESTS": str(args.agents + 10),
        "LOOPGATE_TELEGRAM_CHAT_GAP_MS": "0", "LOOPGATE_TELEGRAM_BOT_GAP_MS": "0",
        "LOOPGATE_TELEGRAM_BOT_RATE": "1000",
        "LOOPGATE_TELEGRAM_GROUP_GAP_MS": "0", "LOOPGATE_ACCESS_LOG": "",
        "LOG_LEVEL": "warn",
    })
    # Benchmarks run with PostgreSQL's durable defaults (fsync on).
    stack.extra_env["PG_OPTS"] = ""
    tg.webhook_target("http://127.0.0.1:%d/telegram/webhook" % stack.port, SECRET)
    extra = []
    floor = None
    if args.floor:
        # Threads enough for its share of the waiters, sized as the product's are.
        floor = benchlib.Floors(args.floor, stack, [
            benchlib.Floor("fw%d" % w, "fw", threads if w > 1 else args.agents + 64, w,
                           db=FLOOR_DB % w) for w in floor_workers])
        floor.write_nginx_conf()
    try:
        say("starting the stack: %d agents, %d threads per worker, %d nginx"
            % (args.agents, threads, n_nginx))
        stack.start()
        if floor:
            for fl in floor.floors.values():
                stack.sql("CREATE DATABASE %s" % fl.db)
            floor.start()
            for fl in floor.floors.values():
                stack.sql("INSERT INTO bench_wake (id) SELECT g FROM generate_series(1, %d) g"
                          % args.agents, db=fl.db)
                fl.pids = floor.worker_pids(fl.name)
                fl.base_fds = {p: fd_count(p) for p in fl.pids}
        extra = [ExtraNginx(stack, k + 2).start() for k in range(n_nginx - 1)]
        ports = [stack.port] + [x.port for x in extra]
        chats = [7_100_000_000 + i for i in range(50)]
        for i, c in enumerate(chats):
            stack.post("/hitl/register", {"session_id": "b%d" % i, "client_id": "bench",
                                          "telegram_id": c})

        def submit(i):
            r = stack.post("/hitl/request", {"session_id": "b%d" % (i % 50), "client_id": "bench",
                                             "message": "bench %d" % i, "options": ["Yes", "No"]})
            if r.status != 200:
                raise RuntimeError("submit %d answered %r" % (i, r))
            return {"id": r.json["request_id"], "chat": chats[i % 50]}

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            reqs = list(ex.map(submit, range(args.agents)))
        say("%d requests submitted; waiting for their Telegram messages" % args.agents)
        lg.wait_for(lambda: stack.scalar("SELECT count(*) FROM requests WHERE tg_state = 'sent'")
                    == str(args.agents), 60 + args.agents / 50, "all messages delivered")
        mids = dict((rid, int(m)) for rid, m in stack.sql(
            "SELECT id, telegram_message_id FROM requests"))
        for r in reqs:
            r["message_id"] = mids[r["id"]]
        pids = stack.worker_pids()
        base_rss = rss_kib(pids)
        base_fds = {p: fd_count(p) for p in pids}
        lat, hook_lat, after_lat, failed, waiting, woken, rss, per_worker = asyncio.run(
            run(args, stack, tg, reqs, ports, base_fds, floor))
    finally:
        if floor:
            floor.stop()
        for x in extra:
            x.stop()
        stack.cleanup()
        tg.stop()
    floor_failed = dict((k, v) for k, v in failed.items() if k.startswith("floor-"))
    for k in floor_failed:
        del failed[k]
    reasons = collections.Counter(failed.values())
    lat.sort()
    hook_lat.sort()
    after_lat.sort()
    floors = {}  # the wake floor's configurations, by name
    for fl in (floor.floors.values() if floor else ()):
        errs = [v for k, v in floor_failed.items() if k.startswith("floor-%s-" % fl.name)]
        floors[fl.name] = dict(percentiles(getattr(fl, "lat", [])), workers=fl.workers,
                               threads=fl.threads, errors=len(errs),
                               error_reasons=dict(collections.Counter(errs).most_common(3)))
    # FW: the configuration with the lowest p50 among those without errors (any, if none is).
    usable = [k for k, f in floors.items() if f["p50_ms"] is not None and not f["errors"]] \
        or [k for k, f in floors.items() if f["p50_ms"] is not None]
    best = min(usable, key=lambda k: floors[k]["p50_ms"]) if usable else None
    fw = floors.get(best, {})
    res = {"agents": args.agents, "waiting": waiting, "woken": woken,
           "decisions": len(lat), "errors": len(failed),
           "p50_ms": percentiles(lat)["p50_ms"], "p99_ms": percentiles(lat)["p99_ms"],
           "max_ms": percentiles(lat)["max_ms"],
           "webhook_p50_ms": percentiles(hook_lat)["p50_ms"],
           "webhook_p99_ms": percentiles(hook_lat)["p99_ms"],
           "after_webhook_p50_ms": percentiles(after_lat)["p50_ms"],
           "after_webhook_p99_ms": percentiles(after_lat)["p99_ms"],
           "floor_name": best, "floor_workers": fw.get("workers"),
           "floor_p50_ms": fw.get("p50_ms"), "floor_p99_ms": fw.get("p99_ms"),
           "floor_max_ms": fw.get("max_ms"), "floor_errors": fw.get("errors", 0),
           "floor_error_reasons": fw.get("error_reasons", {}), "floors": floors,
           "worker_rss_mib": round(rss / 1024, 1),
           "rss_per_waiter_kib": round((rss - base_rss) / max(1, waiting), 1),
           "worker_rss_idle_mib": round(base_rss / 1024, 1),
           "threads_per_worker": threads, "waiting_per_worker": per_worker,
           "nginx_instances": n_nginx,
           "error_reasons": dict(reasons.most_common(5))}
    if args.json:
        print(json.dumps(res))
    else:
        print("wake latency, webhook POST -> agent's long-poll answer, %d agents waiting:" % waiting)
        if lat:
            print("  p50 %.2f ms   p99 %.2f ms   max %.2f ms   (%d decisions, %d errors)"
                  % (res["p50_ms"], res["p99_ms"], res["max_ms"], len(lat), len(failed)))
            print("  of which the webhook POST (the decision committed) p50 %.2f / p99 %.2f ms,"
                  " then the long-poll's answer p50 %.2f / p99 %.2f ms"
                  % (res["webhook_p50_ms"], res["webhook_p99_ms"], res["after_webhook_p50_ms"],
                     res["after_webhook_p99_ms"]))
        for name, f in floors.items():
            if f["p50_ms"] is None:
                continue
            print("  wake floor %s (bench/floor.c fw, %d workers, the same decisions interleaved):"
                  " p50 %.2f ms   p99 %.2f ms   max %.2f ms   (%d errors)%s"
                  % (name, f["workers"], f["p50_ms"], f["p99_ms"], f["max_ms"], f["errors"],
                     "   <- FW, the best" if name == best else ""))
        print("  worker RSS %.1f MiB with everyone waiting (%.1f KiB per waiter)"
              % (res["worker_rss_mib"], res["rss_per_waiter_kib"]))
        for why, k in reasons.most_common(5):
            print("  %d x %s" % (k, why))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
