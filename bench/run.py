#!/usr/bin/env python3
"""run.py - the benchmark suite: each figure of the product next to its floor, both at their best.

    bench/run.py [--bin build/loopgate] [--floor build/bench/floor] [--duration 8]
                 [--warmup 2] [--floor-threads 1,2,4,8,16] [--connections 4,16,64]
                 [--product 16/4,2/2,4/4,8/8] [--sweep-duration 2] [--skip PHASE,...]

`make bench` runs it. Everything runs on 127.0.0.1 (the two-host figure in
network namespaces) and is bounded in time (about 12 minutes in all);
PostgreSQL runs with its durable defaults (fsync on).

1. Throughput. One stack (src/stack.sh via tests/integration/lg.py: a private
   PostgreSQL, the workers, nginx) with the floors (bench/floor.c) behind the
   same nginx at /floor/f0, /floor/f1, /floor/f2 (unix sockets, the same
   FastCGI settings as the product, fastcgi_keep_conn off). wrk, with the
   same script (bench/wrk.lua) for a floor and the product, measures:
     F0  /floor/f0            constant JSON (nginx + FastCGI)
     F1  /floor/f1?request_id one prepared primary-key SELECT
     poll GET /hitl/poll?request_id=... (no wait) on the same 200 requests
     F2  POST /floor/f2       one single-row INSERT, committed
     submit POST /hitl/request (delivery to a Bot API stand-in on, the
          pending limit raised out of the way)
   Each is measured at its best. The sweep: every floor with each number
   of request threads per worker in --floor-threads (2 workers, one
   connection per thread) against each wrk connection count in
   --connections; the product in each --product setting BUSY/POOL
   (busy_threads/db_pool_size: request threads that work at once, database
   connections per worker; the rest as it ships): as it ships (16/4), and
   shaped as the floor is, one connection per working thread (2/2, 4/4,
   8/8), against the same connection counts. Each point is
   --sweep-duration seconds (a server's first after 1 s of warm-up: it may
   have just started; the next follow it without a pause). A figure's best
   is the point with the most requests per second and no errors; the best of each
   floor and of each product path is then measured again, --duration
   seconds after --warmup, F1 and poll alternately and F2 and submit
   alternately (--rounds times), and every ratio is the product's best over
   its floor's best. Why the product's best and not only its shipped
   configuration: a floor at its best against a product at a setting chosen
   without looking compares tuning, not work; the product's figure as it
   ships is printed next to it, so a default that is not the best shows.
   The sweep is printed in full and kept in the JSON.
   Then, one request at a time 20 ms apart (the machine idle in between, as
   a decision finds it), the latency of F1 and of poll.
2. Telegram burst. A fresh stack with the product's default pacing: 1,000
   requests across 50 private chats of one bot, against the stand-in with
   Telegram's limits on. Rate = successful sendMessage calls / (last - first).
3. Wake latency and memory: bench/wake.py with 1,000 and 10,000 agents waiting
   (each starts its own stack). With 1,000, the wake floor FW (bench/floor.c
   fw behind the same nginx, each configuration in its own database of the
   same PostgreSQL: a decision is one UPDATE + pg_notify, a waiter answers
   from the notification) runs with 1 and with 2 worker processes, each
   holding 1,000 waiters of its own; each decision is timed on the product
   and then on each FW configuration, in turn. FW is the faster of them.
4. Two hosts and fail-over, when the harnesses that make them exist:
   tests/integration/hosts.py (Cluster: worker hosts in network namespaces
   behind one nginx, on one PostgreSQL) gives poll and submit through two
   hosts, at the product's best connection count; tests/integration/
   pgcluster.py (measure_failover_gap: a primary and a streaming standby, the
   primary stopped under load and the standby promoted) gives the gap from
   the first failed to the first served request. Without the module the
   row says so; it never shows a figure that was not measured.

Prints one table (figure, measured, configuration, floor, ratio, target,
result: PASS or MISS and by how much) with the machine and the versions,
the sweeps, and writes build/bench/results.json.
"""
import argparse
import concurrent.futures
import http.client
import importlib
import inspect
import json
import os
import platform
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
PUBLIC_URL = "https://bench.example.test"
SESSIONS = 50
POLL_TARGETS = 200  # existing requests that poll and F1 read, at random
# The product's settings as it ships (src/config.c), unless the environment says otherwise.
SHIPPED = {"workers": "2", "threads": "256", "busy_threads": "16", "db_pool_size": "4"}
SHIPPED_ENV = {"workers": "LOOPGATE_WORKERS", "threads": "LOOPGATE_THREADS",
               "busy_threads": "LOOPGATE_BUSY_THREADS", "db_pool_size": "LOOPGATE_DB_POOL_SIZE"}
FLOOR_WORKERS = 2  # as the product's workers


def SHIPPED_SETTING():  # noqa: N802 - a constant of the environment
    """busy_threads/db_pool_size as the product ships (or as the environment sets them)."""
    return "%s/%s" % (shipped("busy_threads"), shipped("db_pool_size"))
T0 = time.monotonic()


def say(msg):
    print("bench: [%5.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


# ---------------------------------------------------------------- machine and versions

def first_line(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unknown (%s)" % e
    out = (r.stdout.strip() or r.stderr.strip()).splitlines()
    return out[0].strip() if out else "unknown"


def machine():
    model = "unknown"
    mem_kib = 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {"cores": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 1048576, 1),
            "loadavg_start": os.getloadavg()[0],
            "kernel": platform.release(),
            "nofile_hard": resource.getrlimit(resource.RLIMIT_NOFILE)[1]}


def versions(binary):
    wrk = first_line(["wrk", "-v"]).split(" Copyright")[0]
    commit = first_line(["git", "-C", ROOT, "log", "-1", "--format=%h %s"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "sql"],
                           capture_output=True, text=True).stdout.strip()
    return {"nginx": first_line(["nginx", "-v"]).replace("nginx version: ", ""),
            "commit": commit[:80] + (" (+ uncommitted changes in src/ or sql/)" if dirty else ""),
            "postgres": first_line([os.path.join(lg.PGBIN, "postgres"), "--version"]),
            "loopgate": first_line([binary, "version"]),
            "wrk": wrk}


# ---------------------------------------------------------------- wrk

def wrk(args, url, script_args, seconds, conns):
    cmd = ["wrk", "-t", str(min(args.wrk_threads, conns)), "-c", str(conns), "-d",
           "%ds" % seconds, "--timeout", "5s", "-s", os.path.join(HERE, "wrk.lua"), url,
           "--"] + script_args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    for line in r.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError("wrk printed no result (exit %d): %s %s"
                       % (r.returncode, r.stdout[-500:], r.stderr[-500:]))


CPU_GROUPS = ("nginx", "loopgate", "floor", "postgres", "wrk", "python3")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_command():
    """CPU seconds (user + system, all threads) of every live process, summed by command."""
    out = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if comm in out:
            out[comm] += (int(fields[11]) + int(fields[12])) / TICK
    return out


def measure(args, name, url, script_args, conns, warmup=None, duration=None, config=""):
    """wrk on one path after a warm-up: its totals, percentiles, errors and the
    CPU each kind of process spent per request."""
    warmup = args.warmup if warmup is None else warmup
    duration = args.duration if duration is None else duration
    if warmup:
        wrk(args, url, script_args, warmup, conns)
    before = cpu_by_command()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = wrk(args, url, script_args, duration, conns)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = cpu_by_command()
    # wrk has exited by now: its CPU is in our children's usage.
    after["wrk"] = before["wrk"] + (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    # CPU microseconds per request, by process kind (floor and loopgate are "app").
    res["cpu_us_per_req"] = {k: round(1e6 * (after[k] - before[k]) / max(1, res["requests"]), 1)
                             for k in CPU_GROUPS}
    res["connections"] = conns
    bad = sum(res["errors"].values())
    say("%-7s %-24s -c %-3d %9.1f req/s  p50 %6.2f ms  p99 %7.2f ms  %s"
        % (name, config, conns, res["rps"], res["p50_us"] / 1000, res["p99_us"] / 1000,
           "errors %s" % res["errors"] if bad else "no errors"))
    return res


def one_at_a_time(port, path_of, count=200, gap_s=0.02):
    """`count` GETs on one keep-alive connection, each alone, `gap_s` apart (the
    machine goes idle in between, as a human's decision finds it): latency
    percentiles in ms, as the wake figures are."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat = []
    for i in range(count):
        time.sleep(gap_s)
        t0 = time.perf_counter()
        conn.request("GET", path_of(i))
        r = conn.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000)
        check(r.status == 200, "%s answered %d" % (path_of(i), r.status))
    conn.close()
    lat.sort()
    return {"count": count, "gap_ms": gap_s * 1000, "p50_ms": round(statistics.median(lat), 3),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3), "max_ms": round(lat[-1], 3)}


def combine(runs):
    """Several wrk runs of one path -> their totals (rps over all), mean percentiles."""
    if len(runs) == 1:
        return runs[0]
    n = len(runs)
    res = {"requests": sum(r["requests"] for r in runs),
           "duration_us": sum(r["duration_us"] for r in runs),
           "rounds_rps": [r["rps"] for r in runs]}
    res["rps"] = round(res["requests"] / (res["duration_us"] / 1e6), 1)
    for k in ("p50_us", "p90_us", "p99_us"):
        res[k] = int(sum(r[k] for r in runs) / n)
    res["max_us"] = max(r["max_us"] for r in runs)
    res["connections"] = runs[0]["connections"]
    res["errors"] = {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]}
    res["cpu_us_per_req"] = {k: round(sum(r["cpu_us_per_req"][k] * r["requests"] for r in runs)
                                      / max(1, res["requests"]), 1) for k in CPU_GROUPS}
    return res


def check(ok, what):
    if not ok:
        raise RuntimeError("bench: %s" % what)


def stack_env(stub, **more):
    env = {"TELEGRAM_API_URL": stub.url, "TELEGRAM_BOT_TOKEN": stub.token,
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "PUBLIC_URL": PUBLIC_URL,
           "MAX_CONCURRENT_REQUESTS": "10000000", "LOOPGATE_ACCESS_LOG": ""}
    env.update(more)
    return env


def register_sessions(stack, chat_base):
    chats = [chat_base + i for i in range(SESSIONS)]
    for i, c in enumerate(chats):
        r = stack.post("/hitl/register", {"session_id": "b%d" % i, "client_id": "bench",
                                          "telegram_id": c})
        check(r.status == 200, "register answered %r" % r)
    return chats


def submit_many(stack, count, threads=16):
    def one(i):
        r = stack.post("/hitl/request", {"session_id": "b%d" % (i % SESSIONS),
                                         "client_id": "bench", "message": "Deploy build %d?" % i,
                                         "options": ["Deploy", "Hold"]})
        check(r.status == 200, "submit answered %r" % r)
        return r.json["request_id"]

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, range(count)))


# ---------------------------------------------------------------- phase 1: throughput

# What each figure is, how wrk drives it and which floor it is compared with.
FLOOR_PATHS = (("f0", "/floor/f0", "get"), ("f1", "/floor/f1", "ids"), ("f2", "/floor/f2", "post"))
FLOOR_KIND = dict((k, kind) for k, _, kind in FLOOR_PATHS)
PRODUCT_PATHS = (("poll", "/hitl/poll", "ids", "f1"), ("submit", "/hitl/request", "post", "f2"))


def shipped(key):
    return os.environ.get(SHIPPED_ENV[key]) or SHIPPED[key]


def best_point(points):
    """The sweep point with the most requests per second among those without
    errors (among all of them if every one had errors)."""
    clean = [p for p in points if not p["errors"]] or points
    return max(clean, key=lambda p: p["rps"])


def sweep_point(res, **config):
    return dict(config, rps=res["rps"], p50_ms=round(res["p50_us"] / 1000, 2),
                p99_ms=round(res["p99_us"] / 1000, 2), errors=sum(res["errors"].values()))


class Bench:
    """The throughput phase's stack, floors and wrk arguments."""

    def __init__(self, args, stub):
        self.args = args
        self.stub = stub
        self.stack = lg.Stack(args.bin, env=stack_env(stub))
        self.stack.extra_env["PG_OPTS"] = ""  # PostgreSQL's durable defaults: fsync on
        self.setting = SHIPPED_SETTING()
        self.floors = benchlib.Floors(args.floor, self.stack, [
            benchlib.Floor(m, m, args.floor_threads[0], FLOOR_WORKERS) for m, _, _ in FLOOR_PATHS])
        self.ids = []
        self.ids_file = None

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.stack.port

    def script(self, kind):
        return {"get": ["get"], "ids": ["ids", self.ids_file],
                "post": ["post", str(SESSIONS)]}[kind]

    def set_setting(self, setting):
        """The product with busy_threads/db_pool_size `setting` (the stack restarts,
        and the floors with it: PostgreSQL restarts too)."""
        if setting == self.setting:
            return
        say("throughput: restarting the stack with %s" % self.product_config(setting))
        self.floors.stop()
        self.stack.stop()
        self.setting = setting
        busy, pool = setting.split("/")
        self.stack.start(LOOPGATE_BUSY_THREADS=busy, LOOPGATE_DB_POOL_SIZE=pool)
        self.floors.start()
        r = self.stack.get("/hitl/poll?request_id=" + self.ids[0])
        check(r.status == 200, "poll answered %r after the restart" % r)

    def floor_config(self, threads):
        return "%d workers x %d threads" % (FLOOR_WORKERS, threads)

    def product_config(self, setting):
        return "busy_threads/db_pool_size %s" % setting

    def measure_floor(self, key, kind, threads, conns, **kw):
        self.floors.set_threads(key, threads)
        return measure(self.args, key.upper(), self.base + "/floor/" + key, self.script(kind),
                       conns, config=self.floor_config(threads), **kw)

    def measure_product(self, key, path, kind, setting, conns, **kw):
        self.set_setting(setting)
        return measure(self.args, key, self.base + path, self.script(kind), conns,
                       config=self.product_config(setting), **kw)


def throughput(args):
    stub = benchlib.telegram_stub(rate_limits=True)
    b = Bench(args, stub)
    stack, floors = b.stack, b.floors
    out = {}
    try:
        floors.write_nginx_conf()
        say("throughput: starting the stack (PostgreSQL fsync on, the product as it ships) "
            "and the floors")
        stack.start()
        floors.start()
        register_sessions(stack, 7_200_000_000)
        # The requests to poll; their messages are delivered (paced, ~30/s) before
        # anything is timed, so no path is measured against a delivery backlog.
        ids = b.ids = submit_many(stack, POLL_TARGETS)
        lg.wait_for(lambda: stack.scalar("SELECT count(*) FROM outbox WHERE state = 'queued'")
                    == "0", 60, "the poll targets' messages delivered")
        b.ids_file = os.path.join(stack.var, "bench-ids.txt")
        with open(b.ids_file, "w") as f:
            f.write("\n".join(ids) + "\n")

        # What the stack burns with no traffic at all: the floor of every figure below.
        a = cpu_by_command()
        time.sleep(3)
        z = cpu_by_command()
        out["idle_cpu_cores"] = {k: round((z[k] - a[k]) / 3, 3) for k in ("postgres", "loopgate")}
        say("throughput: idle stack uses %.2f cores in PostgreSQL, %.2f in the workers"
            % (out["idle_cpu_cores"]["postgres"], out["idle_cpu_cores"]["loopgate"]))

        # Every path answers what it should before it is timed.
        r = stack.get("/floor/f0")
        check(r.status == 200 and r.json == {"ok": True, "floor": "f0"}, "f0 answered %r" % r)
        r = stack.get("/floor/f1?request_id=" + ids[0])
        check(r.status == 200 and r.json["status"] == "pending", "f1 answered %r" % r)
        r = stack.request("POST", "/floor/f2", body='{"x":1}',
                          headers={"Content-Type": "application/json"})
        check(r.status == 200 and r.json["success"], "f2 answered %r" % r)
        r = stack.get("/hitl/poll?request_id=" + ids[0])
        check(r.status == 200 and r.json["status"] == "pending", "poll answered %r" % r)

        # The sweep: short points over the grid, the best of each figure kept.
        sw = dict((k, []) for k in ("f0", "f1", "f2", "poll", "submit"))
        out["sweep"] = sw
        out["sweep_duration"] = args.sweep_duration
        say("throughput: sweep, %d s per point (after 1 s of warm-up on a server's first): "
            "floors x threads %s x wrk -c %s"
            % (args.sweep_duration, args.floor_threads, args.connections))

        def warm(c):
            """Seconds of warm-up: 1 for a server's first point (it may have just
            started), none for the next ones, which follow it without a pause."""
            return 1 if c == args.connections[0] else 0
        for t in args.floor_threads:
            for key, _, kind in FLOOR_PATHS:
                for c in args.connections:
                    res = b.measure_floor(key, kind, t, c, warmup=warm(c),
                                          duration=args.sweep_duration)
                    sw[key].append(sweep_point(res, threads=t, connections=c))
        # The running setting (as shipped) first, then the others.
        settings = sorted(args.product, key=lambda p: p != b.setting)
        say("throughput: sweep: product x busy_threads/db_pool_size %s x wrk -c %s"
            % (settings, args.connections))
        for setting in settings:
            for key, path, kind, _ in PRODUCT_PATHS:
                for c in args.connections:
                    res = b.measure_product(key, path, kind, setting, c, warmup=warm(c),
                                            duration=args.sweep_duration)
                    sw[key].append(sweep_point(res, setting=setting, connections=c))
        best = dict((k, best_point(v)) for k, v in sw.items())
        out["best_config"] = best
        out["shipped_setting"] = SHIPPED_SETTING()
        out["shipped"] = dict((k, best_point([p for p in sw[k]
                                              if p["setting"] == out["shipped_setting"]] or sw[k]))
                              for k in ("poll", "submit"))
        for k, p in best.items():
            say("throughput: best %-6s %s, wrk -c %d: %.0f req/s"
                % (k, b.floor_config(p["threads"]) if "threads" in p
                   else b.product_config(p["setting"]), p["connections"], p["rps"]))

        # The figures: each best measured again, at full length, floor and product alternately.
        say("throughput: the best of each, %d s warm-up + %d s, floor and product alternately x%d"
            % (args.warmup, args.duration, args.rounds))
        for key, _, kind in FLOOR_PATHS:
            b.floors.set_threads(key, best[key]["threads"])

        def floor_fig(key, kind):
            return b.measure_floor(key, kind, best[key]["threads"], best[key]["connections"])

        def product_fig(key, path, kind):
            return b.measure_product(key, path, kind, best[key]["setting"],
                                     best[key]["connections"])

        out["f0"] = floor_fig("f0", "get")
        # The path whose best setting is the running one first: one restart fewer.
        for key, path, kind, floor_key in sorted(
                PRODUCT_PATHS, key=lambda p: best[p[0]]["setting"] != b.setting):
            b.set_setting(best[key]["setting"])
            fl, pr = [], []
            if key == "submit":
                out["submit_pending_before"] = int(stack.scalar(
                    "SELECT count(*) FROM requests WHERE status = 'pending'"))
            for _ in range(args.rounds):
                fl.append(floor_fig(floor_key, FLOOR_KIND[floor_key]))
                pr.append(product_fig(key, path, kind))
            out[floor_key], out[key] = combine(fl), combine(pr)
            if key == "poll":
                # One request at a time: the floor of one trip through nginx, a worker
                # and PostgreSQL when nothing else runs (the wake figures cross several).
                for k, p in (("f1_alone", "/floor/f1"), ("poll_alone", "/hitl/poll")):
                    out[k] = one_at_a_time(stack.port, lambda i, p=p: "%s?request_id=%s"
                                           % (p, ids[i % len(ids)]))
                    say("%-10s one at a time, 20 ms apart: p50 %.2f ms  p99 %.2f ms"
                        % (k, out[k]["p50_ms"], out[k]["p99_ms"]))
        out["submit"]["pending_before"] = out.pop("submit_pending_before")
        out["submit"]["pending_after"] = int(stack.scalar(
            "SELECT count(*) FROM requests WHERE status = 'pending'"))
        out["telegram_429_during_submit"] = stub.count_429
    finally:
        floors.stop()
        stack.cleanup()
        stub.stop()
    return out


# ---------------------------------------------------------------- phase 2: Telegram burst

def telegram_burst(args, count=1000):
    stub = benchlib.telegram_stub(rate_limits=True)
    stack = lg.Stack(args.bin, env=stack_env(stub))
    stack.extra_env["PG_OPTS"] = ""
    try:
        say("telegram: starting a fresh stack (default pacing), stand-in with Telegram's limits")
        stack.start()
        register_sessions(stack, 7_300_000_000)
        t_submit = time.monotonic()
        submit_many(stack, count)
        say("telegram: %d requests submitted across %d private chats in %.1f s"
            % (count, SESSIONS, time.monotonic() - t_submit))

        def sent():
            return [c["time"] for c in list(stub.calls)
                    if c["method"] == "sendMessage" and c["status"] == 200]

        deadline = time.monotonic() + 150  # 1,000 messages at 30/s take about 34 s
        last_say = time.monotonic()
        while len(sent()) < count and time.monotonic() < deadline:
            time.sleep(0.25)
            if time.monotonic() - last_say >= 10:
                last_say = time.monotonic()
                say("telegram: %d of %d messages sent, %d answered 429"
                    % (len(sent()), count, stub.count_429))
        times = sorted(sent())
        span = times[-1] - times[0] if len(times) > 1 else 0
        window = 0  # most successful sends in any 1 s window
        j = 0
        for i, t in enumerate(times):
            while t - times[j] >= 1.0:
                j += 1
            window = max(window, i - j + 1)
        gaps = sorted(1000 * (b - a) for a, b in zip(times, times[1:]))

        def gap(q):
            return round(gaps[min(len(gaps) - 1, int(q * len(gaps)))], 1) if gaps else None

        res = {"requests": count, "chats": SESSIONS, "sent": len(times),
               "gap_ms": {"min": gap(0), "p50": gap(0.5), "p90": gap(0.9), "p99": gap(0.99),
                          "max": gap(1.0)},
               "span_s": round(span, 3),
               "msg_per_s": round(len(times) / span, 2) if span else 0.0,
               "count_429": stub.count_429, "max_in_1s": window,
               "complete": len(times) >= count}
        say("telegram: %d sent in %.1f s = %.2f msg/s, %d responses 429"
            % (len(times), span, res["msg_per_s"], stub.count_429))
        return res
    finally:
        stack.cleanup()
        stub.stop()


# ---------------------------------------------------------------- phase 3: wake

def wake(args, agents, timeout, floor=False):
    say("wake: %d agents waiting (bench/wake.py, its own stack); at most %d s" % (agents, timeout))
    cmd = [sys.executable, os.path.join(HERE, "wake.py"), "--agents", str(agents), "--json",
           "--bin", args.bin] + (["--floor", args.floor] if floor else [])
    stdout, why = run_bounded(cmd, timeout)
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            res = json.loads(line)
            say("wake: %d agents: p50 %s ms, p99 %s ms, %d errors, %d woken, workers %.1f MiB"
                % (agents, res["p50_ms"], res["p99_ms"], res["errors"], res["woken"],
                   res["worker_rss_mib"]))
            return res
    return {"agents": agents, "failed": why or "wake.py exited without a result"}


def run_bounded(cmd, timeout):
    """Run cmd; (its stdout, None), or at the deadline SIGINT (its clean-up runs:
    it stops what it started), then SIGKILL a minute later: (stdout, why)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        return p.communicate(timeout=timeout)[0], None
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        try:
            out = p.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
        return out or "", "did not finish within %d s" % timeout


# ---------------------------------------------------------------- phase 4: two hosts, fail-over

def optional(module, attr):
    """tests/integration/<module>.py's `attr`, or (None, why it is not measured)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            return None, "not measured: module missing (tests/integration/%s.py)" % module
        return None, "not measured: %s.py needs %s, missing" % (module, e.name)
    except Exception as e:  # noqa: BLE001 - reported in the table
        return None, "not measured: %s.py failed to import: %s" % (module, str(e)[:80])
    fn = getattr(mod, attr, None)
    if fn is None:
        return None, "not measured: %s.py has no %s" % (module, attr)
    return fn, None


def http_json(base, method, path, body=None, timeout=30):
    """One request to base (http://host:port); (status, parsed JSON or None)."""
    host, _, port = base.split("://", 1)[1].rstrip("/").partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        data = json.dumps(body) if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, None
    finally:
        conn.close()


def two_hosts(args, tp):
    """poll and submit through two worker hosts (tests/integration/hosts.py) behind
    one nginx on one PostgreSQL, each at the one-host product's best connection count."""
    Cluster, why = optional("hosts", "Cluster")
    if why:
        return {"missing": why}
    best = (tp or {}).get("best_config") or {}
    # The hosts as the product ships, the pending limit out of the way (as on one host).
    want = {"env": {"MAX_CONCURRENT_REQUESTS": "10000000", "LOOPGATE_ACCESS_LOG": ""},
            "workers": int(shipped("workers")), "threads": int(shipped("threads"))}
    try:
        params = inspect.signature(Cluster).parameters
    except (TypeError, ValueError):
        params = {}
    kw = dict((k, v) for k, v in want.items() if k in params)
    out = {"hosts": 2}
    try:
        say("hosts: two worker hosts behind one nginx (tests/integration/hosts.py)")
        with Cluster(args.bin, 2, **kw) as cluster:
            base = cluster.url.rstrip("/")
            for i in range(SESSIONS):
                st, body = http_json(base, "POST", "/hitl/register",
                                     {"session_id": "b%d" % i, "client_id": "bench",
                                      "telegram_id": 7_400_000_000 + i})
                check(st == 200, "register through two hosts answered %d %r" % (st, body))

            def one(i):
                st, body = http_json(base, "POST", "/hitl/request",
                                     {"session_id": "b%d" % (i % SESSIONS), "client_id": "bench",
                                      "message": "Deploy build %d?" % i,
                                      "options": ["Deploy", "Hold"]})
                check(st == 200, "submit through two hosts answered %d %r" % (st, body))
                return body["request_id"]

            with concurrent.futures.ThreadPoolExecutor(16) as ex:
                ids = list(ex.map(one, range(POLL_TARGETS)))
            ids_file = os.path.join(os.path.dirname(args.out), "bench-hosts-ids.txt")
            os.makedirs(os.path.dirname(ids_file), exist_ok=True)
            with open(ids_file, "w") as f:
                f.write("\n".join(ids) + "\n")
            for key, path, script in (("poll", "/hitl/poll", ["ids", ids_file]),
                                      ("submit", "/hitl/request", ["post", str(SESSIONS)])):
                conns = (best.get(key) or {}).get("connections") or args.connections[-1]
                out[key] = measure(args, key, base + path, script, conns,
                                   config="2 hosts, as shipped")
    except Exception as e:  # noqa: BLE001 - reported in the table
        say("hosts failed: %s" % e)
        out["failed"] = str(e)[:200]
    return out


FAILOVER_RUN = """
import json, sys
sys.path.insert(0, sys.argv[2])
import pgcluster
print("FAILOVER_JSON " + json.dumps(pgcluster.measure_failover_gap(sys.argv[1])), flush=True)
"""


def failover(args, timeout):
    """The fail-over gap (tests/integration/pgcluster.py measure_failover_gap: seconds from
    the first failed to the first served request), run in a process of its own so
    that a deadline can end it (SIGINT first: its clean-up runs)."""
    _, why = optional("pgcluster", "measure_failover_gap")
    if why:
        return {"missing": why}
    say("failover: primary stopped under load, standby promoted (tests/integration/pgcluster.py);"
        " at most %d s" % timeout)
    stdout, why = run_bounded([sys.executable, "-c", FAILOVER_RUN, args.bin,
                               os.path.join(ROOT, "tests", "integration")], timeout)
    if why:
        return {"failed": why}
    for line in stdout.splitlines():
        if line.startswith("FAILOVER_JSON "):
            gap = json.loads(line[len("FAILOVER_JSON "):])
            if isinstance(gap, dict):
                return dict(gap, gap_s=float(gap.get("gap_s", gap.get("gap"))))
            return {"gap_s": float(gap)}
    return {"failed": "pgcluster.measure_failover_gap exited without a result"}


# ---------------------------------------------------------------- the table

def fmt_num(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float) and v >= 100:
        return "{:,.0f}{}".format(v, unit)
    if isinstance(v, float):
        return "{:.2f}{}".format(v, unit)
    return "{:,}{}".format(v, unit)


def config_of(p):
    """A sweep point's configuration, in words."""
    if "threads" in p:
        return "%dx%d threads, -c %d" % (FLOOR_WORKERS, p["threads"], p["connections"])
    return "busy/pool %s, -c %d" % (p["setting"], p["connections"])


def build_rows(res):
    """The table: one dict per row (figure, value, config, floor, ratio, target,
    result, pass: True, False or None for a row without a target)."""
    rows = []
    skipped = set(res.get("skipped", ()))

    def row(figure, value, config="", floor="", ratio="", target="", result="", ok=None):
        rows.append({"figure": figure, "value": value, "config": config, "floor": floor,
                     "ratio": ratio, "target": target, "result": result, "pass": ok})

    def judged(figure, value, ok, by, config="", floor="", ratio="", target=""):
        row(figure, value, config, floor, ratio, target,
            ("PASS" if ok else "MISS") + (" by %s" % by if by else ""), ok)

    def missing(figure, target, why):
        if why == "not run" and skipped:
            row(figure, "-", target=target, result="skipped")
        else:
            if not why.startswith("not "):
                why = "not measured: " + why
            row(figure, "-", target=target, result=why, ok=False if target else None)

    def rps(w):
        return "%s req/s" % fmt_num(w["rps"])

    tp = res.get("throughput") or {}
    if tp:
        idle = tp["idle_cpu_cores"]
        row("idle stack CPU (no traffic)", "%.2f cores" % (idle["postgres"] + idle["loopgate"]),
            target="(no target)", result="postgres %.2f, workers %.2f"
            % (idle["postgres"], idle["loopgate"]))
        best = tp["best_config"]
        for key, name in (("f0", "F0 nginx -> libfcgi, constant"),
                          ("f1", "F1 nginx -> libfcgi, 1 PK SELECT"),
                          ("f2", "F2 nginx -> libfcgi, 1 INSERT+COMMIT")):
            row(name, rps(tp[key]), config_of(best[key]), target="(floor, best of %d)"
                % len(tp["sweep"][key]))
        for key, name in (("f1_alone", "F1 one request alone (idle machine)"),
                          ("poll_alone", "poll one request alone (idle machine)")):
            if key in tp:
                row(name, "p50 %.2f / p99 %.2f ms" % (tp[key]["p50_ms"], tp[key]["p99_ms"]),
                    target="(floor)" if key == "f1_alone" else "(no target)")
        for key, floor_key, target, name in (
                ("poll", "f1", 0.85, "poll GET /hitl/poll (no wait)"),
                ("submit", "f2", 0.60, "submit POST /hitl/request")):
            w, f = tp[key], tp[floor_key]
            ratio = w["rps"] / f["rps"] if f["rps"] else 0.0
            errs = sum(w["errors"].values())
            ok = ratio >= target and errs == 0
            if errs and ratio >= target:
                by = "%d wrk errors" % errs
            elif ok:
                by = "%.2f" % (ratio - target)
            else:
                need = target * f["rps"] - w["rps"]
                by = "%.2f: +{:,.0f} req/s (+%.0f%%) needed".format(need) % (
                    target - ratio, 100 * need / w["rps"] if w["rps"] else 0)
            judged(name, rps(w), ok, by, config_of(best[key]),
                   "%s %s" % (floor_key.upper(), rps(f)), "%.2f" % ratio, ">= %.2f" % target)
            sh = tp["shipped"][key]
            if sh["setting"] != best[key]["setting"]:
                row("  %s as shipped (sweep point)" % key, "%s req/s" % fmt_num(sh["rps"]),
                    config_of(sh), target="(no target)",
                    result="best (%s): %.2fx the shipped" % (
                        best[key]["setting"], best[key]["rps"] / sh["rps"] if sh["rps"] else 0))
    elif res.get("throughput_error"):
        missing("throughput (F0-F2, poll, submit)", "poll >= 0.85 F1, submit >= 0.60 F2",
                res["throughput_error"][:60])
    else:
        missing("throughput (F0-F2, poll, submit)", "poll >= 0.85 F1, submit >= 0.60 F2",
                "not run")

    w1 = res.get("wake_1000") or {}
    if w1.get("p50_ms") is not None:
        fw_p50, fw_p99 = w1.get("floor_p50_ms"), w1.get("floor_p99_ms")
        if fw_p50 is not None:
            fw = "p50 %.2f / p99 %.2f ms" % (fw_p50, fw_p99)
            if w1.get("floor_errors"):
                fw += " (%d errors)" % w1["floor_errors"]
            others = ", ".join("%s p50 %.2f" % (k, f["p50_ms"])
                               for k, f in sorted((w1.get("floors") or {}).items())
                               if k != w1.get("floor_name") and f.get("p50_ms") is not None)
            row("FW wake floor, 1,000 waiting", fw,
                "%d worker(s)" % w1["floor_workers"] if w1.get("floor_workers") else "",
                target="(floor, best of %d)" % len(w1.get("floors") or {1: 1}),
                result=("others: " + others) if others else "")
        v = w1["p50_ms"]
        errs = w1["errors"]
        if fw_p50:
            ratio = v / fw_p50
            ok = ratio <= 1.3 and errs == 0
            by = ("%d errors" % errs if errs and ratio <= 1.3 else
                  "%.2fx" % (1.3 - ratio) if ok else
                  "%.2fx: %.2f ms over 1.3x FW (%.2f ms)" % (ratio - 1.3, v - 1.3 * fw_p50,
                                                             1.3 * fw_p50))
            judged("wake, 1,000 waiting: p50", "%.2f ms" % v, ok, by, "as shipped",
                   "FW %.2f ms" % fw_p50, "%.2fx" % ratio, "<= 1.3x FW")
        else:
            missing("wake, 1,000 waiting: p50", "<= 1.3x FW", "not measured: no FW figure")
        v = w1["p99_ms"]
        ok = v <= 10.0 and errs == 0
        by = ("%d errors" % errs if errs and v <= 10.0 else "%.2f ms" % abs(10.0 - v))
        if not ok and fw_p99 is not None and fw_p99 > 9.0:
            by += "; FW itself %.2f ms" % fw_p99
        judged("wake, 1,000 waiting: p99", "%.2f ms" % v, ok, by, "as shipped",
               "FW %.2f ms" % fw_p99 if fw_p99 is not None else "",
               "%.2fx" % (v / fw_p99) if fw_p99 else "", "<= 10 ms")
        judged("wake, 1,000 waiting: errors", fmt_num(errs), errs == 0,
               "" if errs == 0 else "%d errors: %s" % (errs, w1.get("error_reasons")),
               target="0")
    else:
        missing("wake, 1,000 waiting", "p50 <= 1.3x FW, p99 <= 10 ms",
                w1.get("failed", "not run"))

    w10 = res.get("wake_10000") or {}
    if "errors" in w10:
        n = w10["agents"]
        judged("wake, 10,000 waiting: errors", fmt_num(w10["errors"]), w10["errors"] == 0,
               "" if w10["errors"] == 0 else "%d errors: %s" % (w10["errors"],
                                                                w10.get("error_reasons")),
               target="0")
        judged("wake, 10,000 waiting: woken", "%s of %s" % (fmt_num(w10["woken"]), fmt_num(n)),
               w10["woken"] == n, "" if w10["woken"] == n else "%d not woken" % (n - w10["woken"]),
               target="all")
        gib = w10["worker_rss_mib"] / 1024
        judged("wake, 10,000 waiting: worker RSS", "%.0f MiB (%.1f KiB/waiter)"
               % (w10["worker_rss_mib"], w10["rss_per_waiter_kib"]), gib <= 1.0,
               "%.0f MiB" % abs(1024 - w10["worker_rss_mib"]), target="<= 1 GiB total")
        row("wake, 10,000 waiting: latency", "p50 %.2f / p99 %.2f ms"
            % (w10["p50_ms"], w10["p99_ms"]) if w10.get("p50_ms") is not None else "-",
            "as shipped", target="(no target)")
    else:
        missing("wake, 10,000 waiting", "0 errors, all woken, <= 1 GiB",
                w10.get("failed", "not run"))

    tb = res.get("telegram_burst") or {}
    if "msg_per_s" in tb:
        rate = tb["msg_per_s"]
        ok = rate >= 30.0 and tb["complete"]
        by = ("only %d of %d sent" % (tb["sent"], tb["requests"]) if not tb["complete"]
              else "%.2f msg/s (%.1f%%)" % (abs(rate - 30.0), 100 * abs(rate - 30.0) / 30.0))
        judged("Telegram burst: 1,000 msgs, 50 chats", "%.2f msg/s" % rate, ok, by,
               "default pacing", target=">= 30 msg/s")
        judged("Telegram burst: responses 429", fmt_num(tb["count_429"]), tb["count_429"] == 0,
               "" if tb["count_429"] == 0 else "%d responses 429" % tb["count_429"], target="0")
    else:
        missing("Telegram burst", ">= 30 msg/s, 0 x 429", tb.get("failed", "not run"))

    hs = res.get("two_hosts") or {}
    if "poll" in hs and "submit" in hs:
        for key in ("poll", "submit"):
            one = tp.get(key) if tp else None
            row("two hosts, one PostgreSQL: %s" % key, rps(hs[key]),
                "2 hosts, -c %d" % hs[key]["connections"],
                "1 host %s" % rps(one) if one else "",
                "%.2f" % (hs[key]["rps"] / one["rps"]) if one and one["rps"] else "",
                "(no target)", "%d wrk errors" % sum(hs[key]["errors"].values())
                if sum(hs[key]["errors"].values()) else "")
    else:
        why = hs.get("missing") or ("not measured: " + hs["failed"] if "failed" in hs
                                    else "not run")
        row("two hosts, one PostgreSQL", "-", target="(no target)",
            result="skipped" if why == "not run" and skipped else why)

    fo = res.get("failover") or {}
    if fo.get("gap_s") is not None:
        row("PostgreSQL fail-over gap", "%.2f s" % fo["gap_s"], "primary stopped, standby "
            "promoted", target="(no target)", result="first failed -> first served request")
    else:
        why = fo.get("missing") or ("not measured: " + fo["failed"] if "failed" in fo
                                    else "not run")
        row("PostgreSQL fail-over gap", "-", target="(no target)",
            result="skipped" if why == "not run" and skipped else why)
    return rows


def print_sweep(tp):
    """The sweep grids: req/s of each point, the best marked with *."""
    sw, best = tp["sweep"], tp["best_config"]
    print("sweep (req/s; %d s a point, after 1 s of warm-up on a server's first; * the best, "
          "measured again for the table; e: wrk errors):" % tp["sweep_duration"])
    for key, axis, label in (("f0", "threads", "F0"), ("f1", "threads", "F1"),
                             ("f2", "threads", "F2"), ("poll", "setting", "poll"),
                             ("submit", "setting", "submit")):
        pts = sw[key]
        if not pts:
            continue
        conns = sorted(set(p["connections"] for p in pts))
        rows_ = sorted(set(p[axis] for p in pts),
                       key=lambda v: [int(x) for x in str(v).split("/")])
        head = "  %-6s %-16s" % (label, ("threads/worker" if axis == "threads" else
                                         "busy/pool") + " \\ -c")
        print(head + "".join("%9d" % c for c in conns))
        for v in rows_:
            cells = []
            for c in conns:
                p = [q for q in pts if q[axis] == v and q["connections"] == c]
                if not p:
                    cells.append("%9s" % "-")
                    continue
                mark = "*" if (v, c) == (best[key][axis], best[key]["connections"]) else ""
                mark += "e" if p[0]["errors"] else ""
                cells.append("%9s" % ("{:,.0f}".format(p[0]["rps"]) + mark))
            print("  %-6s %-16s" % ("", v) + "".join(cells))


def print_table(res, rows):
    m, v = res["machine"], res["versions"]
    cols = ("figure", "value", "config", "floor", "ratio", "target", "result")
    heads = ("figure", "measured", "configuration", "floor", "ratio", "target", "result")
    widths = [max(len(h), *(len(str(r[c])) for r in rows)) for c, h in zip(cols, heads)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    s = res["settings"]
    print()
    print("Loopgate benchmark  %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    print("machine:  %d cores (%s), %.1f GiB memory, Linux %s, open files hard limit %d, "
          "load average %.2f at start, %.2f at end"
          % (m["cores"], m["cpu"], m["memory_gib"], m["kernel"], m["nofile_hard"],
             m["loadavg_start"], m["loadavg_end"]))
    print("versions: %s | %s | %s | wrk %s"
          % ("nginx " + v["nginx"], v["postgres"], v["loopgate"],
             v["wrk"].replace("wrk ", "")))
    print("commit:   %s" % v["commit"])
    print("settings: PostgreSQL fsync on; product as shipped: %s workers x %s threads (%s busy), "
          "db_pool_size %s; floors %d workers, 1 connection per thread; sweep: floor threads "
          "per worker %s, product busy_threads/db_pool_size %s, wrk -t %d -c %s; the best of "
          "each measured "
          "%d s after %d s warm-up, floor and product alternately x%d"
          % (s["product"]["workers"], s["product"]["threads"], s["product"]["busy_threads"],
             s["product"]["db_pool_size"], FLOOR_WORKERS, s["floor_threads"],
             ",".join(s["product_settings"]),
             s["wrk_threads"], s["connections"], s["duration"], s["warmup"], s["rounds"]))
    print(line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |")
    print(line)
    for r in rows:
        print("| " + " | ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)) + " |")
    print(line)
    passed = sum(1 for r in rows if r["pass"] is True)
    missed = sum(1 for r in rows if r["pass"] is False)
    tp = res.get("throughput") or {}
    if tp:
        print_sweep(tp)
        print("wrk latency p50/p99 (ms): " + ", ".join(
            "%s %.1f/%.1f" % (k, tp[k]["p50_us"] / 1000, tp[k]["p99_us"] / 1000)
            for k in ("f0", "f1", "poll", "f2", "submit")))
        print("CPU us/request (nginx / app / postgres / wrk): " + ", ".join(
            "%s %.0f/%.0f/%.0f/%.0f" % (k, c["nginx"], c["loopgate"] + c["floor"], c["postgres"],
                                        c["wrk"])
            for k, c in ((k, tp[k]["cpu_us_per_req"]) for k in ("f0", "f1", "poll", "f2",
                                                                 "submit"))))
        errs = ["%s %s" % (k, tp[k]["errors"]) for k in ("f0", "f1", "poll", "f2", "submit")
                if sum(tp[k]["errors"].values())]
        print("wrk errors: " + ("; ".join(errs) if errs else "none") +
              "; pending requests during submit: %d -> %d"
              % (tp["submit"]["pending_before"], tp["submit"]["pending_after"]))
    tb = res.get("telegram_burst") or {}
    if "msg_per_s" in tb:
        g = tb["gap_ms"]
        print("Telegram burst: %d sent in %.1f s (rate = sent / (last - first)), at most %d in "
              "any 1 s window; gap between sends min %s / p50 %s / p90 %s / max %s ms"
              % (tb["sent"], tb["span_s"], tb["max_in_1s"], g["min"], g["p50"], g["p90"],
                 g["max"]))
    for k in ("wake_1000", "wake_10000"):
        w = res.get(k) or {}
        if "errors" in w:
            print("%s: %d waiting (per worker %s), %d threads per worker, %d nginx, "
                  "workers %.1f MiB idle -> %.1f MiB waiting"
                  % (k, w["waiting"], w["waiting_per_worker"], w["threads_per_worker"],
                     w["nginx_instances"], w["worker_rss_idle_mib"], w["worker_rss_mib"]))
        if w.get("webhook_p99_ms") is not None:
            print("  decision to answer p50 %.2f / p99 %.2f ms = the webhook POST (its decision"
                  " committed) p50 %.2f / p99 %.2f ms, then the long-poll's answer p50 %.2f /"
                  " p99 %.2f ms" % (w["p50_ms"], w["p99_ms"], w["webhook_p50_ms"],
                                    w["webhook_p99_ms"], w["after_webhook_p50_ms"],
                                    w["after_webhook_p99_ms"]))
        for name, f in sorted((w.get("floors") or {}).items()):
            if f.get("p50_ms") is not None:
                print("  wake floor %s: %d worker(s) x %d threads: p50 %.2f / p99 %.2f / max "
                      "%.2f ms, %d errors" % (name, f["workers"], f["threads"], f["p50_ms"],
                                              f["p99_ms"], f["max_ms"], f["errors"]))
    print("%d targets met, %d missed; %.0f s in all; results in %s"
          % (passed, missed, res["elapsed_s"], os.path.relpath(res["json_path"], ROOT)))


def int_list(text):
    try:
        v = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma list of whole numbers: %r" % text)
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError("a comma list of whole numbers >= 1: %r" % text)
    return v


def settings_list(text):
    out = []
    for x in text.split(","):
        busy, _, pool = x.strip().partition("/")
        if not (busy.isdigit() and pool.isdigit() and int(busy) >= 1 and int(pool) >= 1):
            raise argparse.ArgumentTypeError("BUSY/POOL, comma separated: %r" % text)
        out.append("%d/%d" % (int(busy), int(pool)))
    return out


PHASES = ("throughput", "telegram", "wake1000", "wake10000", "hosts", "failover")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/loopgate"))
    ap.add_argument("--floor", default=os.path.join(ROOT, "build/bench/floor"))
    ap.add_argument("--duration", type=int, default=8,
                    help="seconds wrk measures each best configuration, each round")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each of those")
    ap.add_argument("--sweep-duration", type=int, default=2,
                    help="seconds wrk measures each sweep point (after 1 s of warm-up)")
    ap.add_argument("--connections", type=int_list, default=[4, 16, 64],
                    help="wrk connection counts of the sweep (comma list)")
    ap.add_argument("--floor-threads", type=int_list, default=[1, 2, 4, 8, 16],
                    help="request threads per floor worker of the sweep (comma list)")
    ap.add_argument("--product", type=settings_list, default=None,
                    help="the product's settings of the sweep, busy_threads/db_pool_size "
                    "(comma list; default: as shipped, 2/2, 4/4, 8/8)")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternating floor/product measurements of each best")
    ap.add_argument("--out", default=os.path.join(ROOT, "build/bench/results.json"))
    ap.add_argument("--skip", default="", help="comma list of phases to skip: " + ",".join(PHASES))
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    if args.product is None:
        args.product = [SHIPPED_SETTING()] + [s for s in ("2/2", "4/4", "8/8")
                                              if s != SHIPPED_SETTING()]
    args.out = os.path.abspath(args.out)
    skip = set(x for x in args.skip.split(",") if x)
    if skip - set(PHASES):
        sys.exit("bench: unknown phase(s) to skip: %s" % ", ".join(sorted(skip - set(PHASES))))

    for path in (args.bin, args.floor):
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s is missing; run make bench" % path)
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    res = {"machine": machine(), "versions": versions(args.bin),
           "settings": {"duration": args.duration, "warmup": args.warmup,
                        "sweep_duration": args.sweep_duration,
                        "connections": args.connections, "wrk_threads": args.wrk_threads,
                        "rounds": args.rounds, "floor_threads": args.floor_threads,
                        "product_settings": args.product, "postgres_fsync": True,
                        "product": dict((k, shipped(k)) for k in SHIPPED)}}
    say("machine: %d cores, %.1f GiB; %s" % (res["machine"]["cores"],
                                             res["machine"]["memory_gib"],
                                             res["versions"]["loopgate"]))
    phases = (("throughput", "throughput", lambda: throughput(args)),
              ("telegram", "telegram_burst", lambda: telegram_burst(args)),
              # Deadlines against a hang, not a schedule: each phase bounds itself.
              ("wake1000", "wake_1000", lambda: wake(args, 1000, 360, floor=True)),
              ("wake10000", "wake_10000", lambda: wake(args, 10000, 480)),
              ("hosts", "two_hosts", lambda: two_hosts(args, res.get("throughput"))),
              ("failover", "failover", lambda: failover(args, 300)))
    res["skipped"] = sorted(skip)
    for name, key, fn in phases:
        if name in skip:
            continue
        try:
            res[key] = fn()
        except Exception as e:  # noqa: BLE001 - a failed phase is reported, the rest still run
            say("%s failed: %s" % (name, e))
            res[key] = {"failed": str(e)[:200]}
            if key == "throughput":
                res["throughput"] = None
                res["throughput_error"] = str(e)
    res["elapsed_s"] = round(time.monotonic() - T0, 1)
    res["machine"]["loadavg_end"] = os.getloadavg()[0]
    res["json_path"] = args.out
    rows = build_rows(res)
    res["table"] = rows
    os.makedirs(os.path.dirname(res["json_path"]), exist_ok=True)
    with open(res["json_path"], "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print_table(res, rows)
    # Missed targets are results, not errors; a phase that could not run is an error
    # (a harness module that is missing is not: its row says so).
    return 1 if any(isinstance(res.get(k), dict) and "failed" in res[k]
                    for k in ("telegram_burst", "wake_1000", "wake_10000", "two_hosts",
                              "failover")) \
        or res.get("throughput_error") else 0


if __name__ == "__main__":
    sys.exit(main())
