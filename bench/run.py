#!/usr/bin/env python3
"""run.py - the benchmark suite: each figure of the product next to its floor.

    bench/run.py [--bin build/loopgate] [--floor build/bench/floor] [--duration 10]
                 [--warmup 3] [--connections 64] [--wrk-threads 2] [--floor-threads 16]

`make bench` runs it. Everything runs on 127.0.0.1 and is bounded in time
(under 10 minutes in all); PostgreSQL runs with its durable defaults (fsync on).

1. Throughput. One stack (src/stack.sh via tests/integration/lg.py: a private
   PostgreSQL, the workers, nginx) with the floors (bench/floor.c) behind the
   same nginx at /floor/f0, /floor/f1, /floor/f2 (unix sockets, the same
   FastCGI settings as the product, fastcgi_keep_conn off). wrk, with the
   same settings and the same script (bench/wrk.lua) for a floor and the
   product, measures after a warm-up:
     F0  /floor/f0            constant JSON (nginx + FastCGI)
     F1  /floor/f1?request_id one prepared primary-key SELECT
     poll GET /hitl/poll?request_id=... (no wait) on the same 200 requests
     F2  POST /floor/f2       one single-row INSERT, committed
     submit POST /hitl/request (delivery to a Bot API stand-in on, the
          pending limit raised out of the way)
   and, one request at a time 20 ms apart (the machine idle in between, as
   a decision finds it), the latency of F1 and of poll: one trip through
   nginx, a worker and PostgreSQL on an idle machine.
2. Telegram burst. A fresh stack with the product's default pacing: 1,000
   requests across 50 private chats of one bot, against the stand-in with
   Telegram's limits on. Rate = successful sendMessage calls / (last - first).
3. Wake latency and memory: bench/wake.py with 1,000 and 10,000 agents waiting
   (each starts its own stack). With 1,000, the wake floor FW (bench/floor.c
   fw behind the same nginx, in its own database of the same PostgreSQL: a
   decision is one UPDATE + pg_notify, a waiter answers from the
   notification) holds 1,000 waiters of its own, and each decision is timed
   on the product and then on FW, alternately.

Prints one table (figure, floor, ratio, target, pass/fail and by how much)
with the machine and the versions, and writes build/bench/results.json.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import platform
import resource
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
BUDGET_S = 570  # the whole run stays under 10 minutes
T0 = time.monotonic()


def say(msg):
    print("bench: [%5.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def left():
    return BUDGET_S - (time.monotonic() - T0)


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


# ---------------------------------------------------------------- floors

# ---------------------------------------------------------------- wrk

def wrk(args, url, script_args, seconds):
    cmd = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d",
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


def measure(args, name, url, script_args):
    wrk(args, url, script_args, args.warmup)
    before = cpu_by_command()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = wrk(args, url, script_args, args.duration)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = cpu_by_command()
    # wrk has exited by now: its CPU is in our children's usage.
    after["wrk"] = before["wrk"] + (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    # CPU microseconds per request, by process kind (floor and loopgate are "app").
    res["cpu_us_per_req"] = {k: round(1e6 * (after[k] - before[k]) / max(1, res["requests"]), 1)
                             for k in CPU_GROUPS}
    bad = sum(res["errors"].values())
    say("%-7s %9.1f req/s  p50 %6.2f ms  p99 %7.2f ms  %s"
        % (name, res["rps"], res["p50_us"] / 1000, res["p99_us"] / 1000,
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

def throughput(args):
    stub = benchlib.telegram_stub(rate_limits=True)
    stack = lg.Stack(args.bin, env=stack_env(stub))
    stack.extra_env["PG_OPTS"] = ""  # PostgreSQL's durable defaults: fsync on
    floors = benchlib.Floors(args.floor, stack, args.floor_threads, ("f0", "f1", "f2"))
    out = {}
    try:
        floors.write_nginx_conf()
        say("throughput: starting the stack (PostgreSQL fsync on, 2 workers) and the floors")
        stack.start()
        floors.start()
        register_sessions(stack, 7_200_000_000)
        # The requests to poll; their messages are delivered (paced, ~30/s) before
        # anything is timed, so no path is measured against a delivery backlog.
        ids = submit_many(stack, POLL_TARGETS)
        lg.wait_for(lambda: stack.scalar("SELECT count(*) FROM outbox WHERE state = 'queued'")
                    == "0", 60, "the poll targets' messages delivered")
        ids_file = os.path.join(stack.var, "bench-ids.txt")
        with open(ids_file, "w") as f:
            f.write("\n".join(ids) + "\n")

        # Every path answers what it should before it is timed.
        # What the stack burns with no traffic at all: the floor of every figure below.
        a = cpu_by_command()
        time.sleep(3)
        b = cpu_by_command()
        out["idle_cpu_cores"] = {k: round((b[k] - a[k]) / 3, 3) for k in ("postgres", "loopgate")}
        say("throughput: idle stack uses %.2f cores in PostgreSQL, %.2f in the workers"
            % (out["idle_cpu_cores"]["postgres"], out["idle_cpu_cores"]["loopgate"]))

        r = stack.get("/floor/f0")
        check(r.status == 200 and r.json == {"ok": True, "floor": "f0"}, "f0 answered %r" % r)
        r = stack.get("/floor/f1?request_id=" + ids[0])
        check(r.status == 200 and r.json["status"] == "pending", "f1 answered %r" % r)
        r = stack.request("POST", "/floor/f2", body='{"x":1}',
                          headers={"Content-Type": "application/json"})
        check(r.status == 200 and r.json["success"], "f2 answered %r" % r)
        r = stack.get("/hitl/poll?request_id=" + ids[0])
        check(r.status == 200 and r.json["status"] == "pending", "poll answered %r" % r)
        say("throughput: %d requests to poll; wrk -t %d -c %d, %d s warm-up + %d s each"
            % (POLL_TARGETS, args.wrk_threads, args.connections, args.warmup, args.duration))

        base = "http://127.0.0.1:%d" % stack.port
        out["f0"] = measure(args, "F0", base + "/floor/f0", ["get"])
        # F1 and poll alternate, twice: drift on the machine hits both alike.
        f1, poll = [], []
        for _ in range(args.rounds):
            f1.append(measure(args, "F1", base + "/floor/f1", ["ids", ids_file]))
            poll.append(measure(args, "poll", base + "/hitl/poll", ["ids", ids_file]))
        out["f1"], out["poll"] = combine(f1), combine(poll)
        # One request at a time: the floor of one trip through nginx, a worker
        # and PostgreSQL when nothing else runs (the wake figures cross several).
        for key, path in (("f1_alone", "/floor/f1"), ("poll_alone", "/hitl/poll")):
            out[key] = one_at_a_time(stack.port,
                                     lambda i, p=path: "%s?request_id=%s" % (p, ids[i % len(ids)]))
            say("%-10s one at a time, 20 ms apart: p50 %.2f ms  p99 %.2f ms"
                % (key, out[key]["p50_ms"], out[key]["p99_ms"]))
        out["f2"] = measure(args, "F2", base + "/floor/f2", ["post", str(SESSIONS)])
        pending0 = int(stack.scalar("SELECT count(*) FROM requests WHERE status = 'pending'"))
        out["submit"] = measure(args, "submit", base + "/hitl/request", ["post", str(SESSIONS)])
        pending1 = int(stack.scalar("SELECT count(*) FROM requests WHERE status = 'pending'"))
        out["submit"]["pending_before"] = pending0
        out["submit"]["pending_after"] = pending1
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

        deadline = time.monotonic() + min(150, max(30, left() - 60))
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
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"agents": agents, "failed": "did not finish within %d s" % timeout}
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            res = json.loads(line)
            say("wake: %d agents: p50 %s ms, p99 %s ms, %d errors, %d woken, workers %.1f MiB"
                % (agents, res["p50_ms"], res["p99_ms"], res["errors"], res["woken"],
                   res["worker_rss_mib"]))
            return res
    return {"agents": agents, "failed": "wake.py exited %d without a result" % r.returncode}


# ---------------------------------------------------------------- the table

def fmt_num(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float) and v >= 100:
        return "{:,.0f}{}".format(v, unit)
    if isinstance(v, float):
        return "{:.2f}{}".format(v, unit)
    return "{:,}{}".format(v, unit)


def verdict(ok, miss):
    return "PASS" if ok else "FAIL (%s)" % miss


def build_rows(res):
    rows = []  # dicts: figure, value, floor, ratio, target, result, pass
    skipped = set(res.get("skipped", ()))

    def info(figure, value):
        rows.append({"figure": figure, "value": value, "floor": "", "ratio": "",
                     "target": "(floor)", "result": "", "pass": None})

    def add(figure, value, floor, ratio, target, ok, miss):
        rows.append({"figure": figure, "value": value, "floor": floor, "ratio": ratio,
                     "target": target, "result": verdict(ok, miss), "pass": ok})

    def wrk_cell(w):
        return "%s req/s" % fmt_num(w["rps"])

    tp = res.get("throughput") or {}
    if tp:
        idle = tp["idle_cpu_cores"]
        rows.append({"figure": "idle stack CPU (no traffic)", "value": "%.2f cores"
                     % (idle["postgres"] + idle["loopgate"]), "floor": "", "ratio": "",
                     "target": "(no target)", "result": "postgres %.2f, workers %.2f"
                     % (idle["postgres"], idle["loopgate"]), "pass": None})
        info("F0 nginx -> libfcgi, constant", wrk_cell(tp["f0"]))
        info("F1 nginx -> libfcgi, 1 PK SELECT", wrk_cell(tp["f1"]))
        info("F2 nginx -> libfcgi, 1 INSERT+COMMIT", wrk_cell(tp["f2"]))
        for key, name in (("f1_alone", "F1 one request alone (idle machine)"),
                          ("poll_alone", "poll one request alone (idle machine)")):
            if key in tp:
                rows.append({"figure": name, "value": "p50 %.2f / p99 %.2f ms"
                             % (tp[key]["p50_ms"], tp[key]["p99_ms"]), "floor": "", "ratio": "",
                             "target": "(floor)" if key == "f1_alone" else "(no target)",
                             "result": "", "pass": None})
        for key, floor_key, target, name in (
                ("poll", "f1", 0.85, "poll GET /hitl/poll (no wait)"),
                ("submit", "f2", 0.60, "submit POST /hitl/request")):
            w, f = tp[key], tp[floor_key]
            ratio = w["rps"] / f["rps"] if f["rps"] else 0.0
            errs = sum(w["errors"].values())
            ok = ratio >= target and errs == 0
            need = target * f["rps"] - w["rps"]
            miss = "%.2f short of %.2f: %.0f req/s (%.0f%%) more needed" % (
                target - ratio, target, need, 100 * need / w["rps"] if w["rps"] else 0)
            if errs and ratio >= target:
                miss = "%d wrk errors" % errs
            add(name, wrk_cell(w), "%s %s" % (floor_key.upper(), wrk_cell(f)), "%.2f" % ratio,
                ">= %.2f" % target, ok, miss)
    elif res.get("throughput_error"):
        add("throughput (F0-F2, poll, submit)", "-", "", "", "", False,
            res["throughput_error"][:60])

    w1 = res.get("wake_1000") or {}
    if "p50_ms" in w1 and w1["p50_ms"] is not None:
        if w1.get("floor_p50_ms") is not None:
            fw = "p50 %.2f / p99 %.2f ms" % (w1["floor_p50_ms"], w1["floor_p99_ms"])
            if w1.get("floor_errors"):
                fw += " (%d errors)" % w1["floor_errors"]
            rows.append({"figure": "FW wake floor, 1,000 waiting", "value": fw, "floor": "",
                         "ratio": "", "target": "(floor)", "result": "", "pass": None})
        for key, limit in (("p50_ms", 2.0), ("p99_ms", 10.0)):
            v = w1[key]
            f = w1.get("floor_" + key)
            miss = "%.2f ms over, %.1fx the target" % (v - limit, v / limit)
            if f is not None and f > limit * 0.9:
                miss += "; FW itself %.2f ms" % f
            add("wake, 1,000 waiting: %s" % key[:3], "%.2f ms" % v,
                "FW %.2f ms" % f if f else "", "%.1fx" % (v / f) if f else "",
                "<= %g ms" % limit, v <= limit and w1["errors"] == 0,
                miss if v > limit else "%d errors" % w1["errors"])
        add("wake, 1,000 waiting: errors", fmt_num(w1["errors"]), "", "", "0",
            w1["errors"] == 0, "%d errors" % w1["errors"])
    else:
        add("wake, 1,000 waiting", "-", "", "", "p50 <= 2, p99 <= 10 ms", False,
            w1.get("failed", "not run"))

    w10 = res.get("wake_10000") or {}
    if "errors" in w10:
        n = w10["agents"]
        add("wake, 10,000 waiting: errors", fmt_num(w10["errors"]), "", "", "0",
            w10["errors"] == 0, "%d errors: %s" % (w10["errors"], w10.get("error_reasons")))
        add("wake, 10,000 waiting: woken", "%s of %s" % (fmt_num(w10["woken"]), fmt_num(n)),
            "", "", "all", w10["woken"] == n, "%d not woken" % (n - w10["woken"]))
        gib = w10["worker_rss_mib"] / 1024
        add("wake, 10,000 waiting: worker RSS", "%.0f MiB (%.1f KiB/waiter)"
            % (w10["worker_rss_mib"], w10["rss_per_waiter_kib"]), "", "", "<= 1 GiB total",
            gib <= 1.0, "%.0f MiB over" % ((gib - 1.0) * 1024))
        info_p = "p50 %.2f / p99 %.2f ms" % (w10["p50_ms"], w10["p99_ms"]) \
            if w10.get("p50_ms") is not None else "-"
        rows.append({"figure": "wake, 10,000 waiting: latency", "value": info_p, "floor": "",
                     "ratio": "", "target": "(no target)", "result": "", "pass": None})
    else:
        add("wake, 10,000 waiting", "-", "", "", "0 errors, all woken, <= 1 GiB", False,
            w10.get("failed", "not run"))

    tb = res.get("telegram_burst") or {}
    if "msg_per_s" in tb:
        rate = tb["msg_per_s"]
        ok = rate >= 30.0 and tb["complete"]
        miss = "%.2f msg/s short (%.1f%%)" % (30.0 - rate, 100 * (30.0 - rate) / 30.0) \
            if rate < 30.0 else "only %d of %d sent" % (tb["sent"], tb["requests"])
        add("Telegram burst: 1,000 msgs, 50 chats", "%.2f msg/s" % rate, "", "",
            ">= 30 msg/s", ok, miss)
        add("Telegram burst: responses 429", fmt_num(tb["count_429"]), "", "", "0",
            tb["count_429"] == 0, "%d responses 429" % tb["count_429"])
    else:
        add("Telegram burst", "-", "", "", ">= 30 msg/s, 0 x 429", False,
            tb.get("failed", "not run"))
    for r in rows:
        if r["result"] == "FAIL (not run)" and skipped:
            r["result"], r["pass"] = "skipped", None
    return rows


def print_table(res, rows):
    m, v = res["machine"], res["versions"]
    cols = ("figure", "value", "floor", "ratio", "target", "result")
    heads = ("figure", "measured", "floor", "ratio", "target", "result")
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
    print("settings: wrk -t %d -c %d, %d s warm-up + %d s per path (F1/poll alternated x%d); "
          "PostgreSQL fsync on; "
          "product 2 workers x %s threads (%s busy, db_pool_size %s); floors 2 workers x %d threads, "
          "1 connection each" % (s["wrk_threads"], s["connections"], s["warmup"], s["duration"],
                                 s["rounds"], s["product_threads"],
                                 s.get("product_busy", "16"), s["product_pool"],
                                 s["floor_threads"]))
    print(line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |")
    print(line)
    for r in rows:
        print("| " + " | ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)) + " |")
    print(line)
    passed = sum(1 for r in rows if r["pass"] is True)
    failed = sum(1 for r in rows if r["pass"] is False)
    tp = res.get("throughput") or {}
    if tp:
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
    print("%d passed, %d failed; %.0f s in all; results in %s"
          % (passed, failed, res["elapsed_s"], os.path.relpath(res["json_path"], ROOT)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/loopgate"))
    ap.add_argument("--floor", default=os.path.join(ROOT, "build/bench/floor"))
    ap.add_argument("--duration", type=int, default=10, help="seconds wrk measures each path")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of wrk before each measure")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--floor-threads", type=int, default=16, help="threads per floor worker")
    ap.add_argument("--rounds", type=int, default=2, help="alternating F1/poll measurements")
    ap.add_argument("--out", default=os.path.join(ROOT, "build/bench/results.json"))
    ap.add_argument("--skip", default="", help="comma list of phases to skip: "
                    "throughput,telegram,wake1000,wake10000")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    skip = set(x for x in args.skip.split(",") if x)

    for path in (args.bin, args.floor):
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s is missing; run make bench" % path)
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    res = {"machine": machine(), "versions": versions(args.bin),
           "settings": {"duration": args.duration, "warmup": args.warmup,
                        "connections": args.connections, "wrk_threads": args.wrk_threads,
                        "rounds": args.rounds,
                        "floor_threads": args.floor_threads, "product_threads": "256",
                        "product_busy": "16", "product_pool": "4", "postgres_fsync": True}}
    for key, env in (("product_threads", "LOOPGATE_THREADS"),
                     ("product_busy", "LOOPGATE_BUSY_THREADS"),
                     ("product_pool", "LOOPGATE_DB_POOL_SIZE")):
        if os.environ.get(env):
            res["settings"][key] = os.environ[env]
    say("machine: %d cores, %.1f GiB; %s" % (res["machine"]["cores"],
                                             res["machine"]["memory_gib"],
                                             res["versions"]["loopgate"]))
    phases = (("throughput", "throughput", lambda: throughput(args)),
              ("telegram", "telegram_burst", lambda: telegram_burst(args)),
              ("wake1000", "wake_1000", lambda: wake(args, 1000, max(60, min(240, int(left()) - 200)), floor=True)),
              ("wake10000", "wake_10000", lambda: wake(args, 10000, max(60, int(left())))))
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
    res["json_path"] = os.path.abspath(args.out)
    rows = build_rows(res)
    res["table"] = rows
    os.makedirs(os.path.dirname(res["json_path"]), exist_ok=True)
    with open(res["json_path"], "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print_table(res, rows)
    # Missed targets are results, not errors; a phase that could not run is an error.
    return 1 if any(isinstance(res.get(k), dict) and "failed" in res[k]
                    for k in ("telegram_burst", "wake_1000", "wake_10000")) \
        or res.get("throughput_error") else 0


if __name__ == "__main__":
    sys.exit(main())
