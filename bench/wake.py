#!/usr/bin/env python3
"""wake.py - decision to long-poll answer latency, with N agents waiting.

    bench/wake.py [--agents 1000] [--decisions 200] [--bin build/loopgate]

Starts the real stack (private PostgreSQL, nginx, workers) with a Bot API
stand-in on loopback, submits N requests, delivers their Telegram messages,
and opens N long-polls (GET /hitl/poll?wait=120), one per request, on raw
sockets driven by asyncio. Then, one decision at a time, it POSTs a button
press to /telegram/webhook exactly as Telegram does and measures the time
from that POST until the matching agent's long-poll response has arrived.
Prints p50 / p99 / max and the per-waiter memory of the workers.
"""
import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import lg  # noqa: E402
import tgstub  # noqa: E402

SECRET = "bench-webhook-secret"


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


async def run(args, stack, tg, requests):
    port = stack.port
    loop = asyncio.get_running_loop()
    # One connection per agent, each long-polling its own request.
    conns = []
    for _ in range(len(requests)):
        conns.append(await asyncio.open_connection("127.0.0.1", port))
    answers = {}

    async def agent(i, rid):
        reader, writer = conns[i]
        fut = loop.create_future()
        answers[rid] = fut
        status, body = await http_request(reader, writer, "GET",
                                          "/hitl/poll?request_id=%s&wait=120" % rid)
        fut.set_result((time.perf_counter(), status, json.loads(body)))

    tasks = [asyncio.create_task(agent(i, r["id"])) for i, r in enumerate(requests)]
    await asyncio.sleep(3 + len(requests) / 1000)  # every poll reaches a worker and registers
    early = sum(1 for f in answers.values() if f.done())
    waiting = sum(1 for _ in answers) - early
    rss = rss_kib(stack.worker_pids())

    hook_r, hook_w = await asyncio.open_connection("127.0.0.1", port)
    lat = []
    errors = early
    for n, r in enumerate(requests[: args.decisions]):
        update = tg.press(r["chat"], r["message_id"], data="%s:0" % r["id"], user_id=r["chat"])
        body = json.dumps(update)
        t0 = time.perf_counter()
        status, _ = await http_request(hook_r, hook_w, "POST", "/telegram/webhook", body,
                                       {"Content-Type": "application/json",
                                        "X-Telegram-Bot-Api-Secret-Token": SECRET})
        t1, pstatus, poll = await answers[r["id"]]
        if status != 200 or pstatus != 200 or poll.get("status") != "completed":
            errors += 1
        lat.append((t1 - t0) * 1000)
    # Release the rest: cancel through the API so every poll is answered.
    rest = requests[args.decisions:]
    for r in rest:
        await http_request(hook_r, hook_w, "POST", "/hitl/cancel",
                           json.dumps({"request_id": r["id"]}), {"Content-Type": "application/json"})
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    errors += sum(1 for d in done if isinstance(d, Exception))
    errors += sum(1 for r in rest if answers[r["id"]].result()[2].get("status") != "canceled")
    for _, w in conns:
        w.close()
    hook_w.close()
    return lat, errors, waiting, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/loopgate"))
    ap.add_argument("--json", action="store_true", help="print one JSON line of results")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tg = tgstub.TelegramStub().start()
    tg.rate_limits = False
    threads = max(64, args.agents // 2 + 100)
    stack = lg.Stack(args.bin, env={
        "TELEGRAM_API_URL": tg.url, "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET, "PUBLIC_URL": "https://bench.example.test",
        "LOOPGATE_THREADS": str(threads), "MAX_CONCURRENT_REQUESTS": str(args.agents + 10),
        "LOOPGATE_TELEGRAM_CHAT_GAP_MS": "0", "LOOPGATE_TELEGRAM_BOT_GAP_MS": "0",
        "LOOPGATE_TELEGRAM_GROUP_GAP_MS": "0", "LOOPGATE_ACCESS_LOG": "",
        "LOG_LEVEL": "warn",
    })
    # Benchmarks run with PostgreSQL's durable defaults (fsync on).
    stack.extra_env["PG_OPTS"] = ""
    tg.webhook_target("http://127.0.0.1:%d/telegram/webhook" % stack.port, SECRET)
    try:
        stack.start()
        chats = [7_100_000_000 + i for i in range(50)]
        for i, c in enumerate(chats):
            stack.post("/hitl/register", {"session_id": "b%d" % i, "client_id": "bench",
                                          "telegram_id": c})
        reqs = []
        for i in range(args.agents):
            r = stack.post("/hitl/request", {"session_id": "b%d" % (i % 50), "client_id": "bench",
                                             "message": "bench %d" % i, "options": ["Yes", "No"]})
            reqs.append({"id": r.json["request_id"], "chat": chats[i % 50]})
        lg.wait_for(lambda: stack.scalar("SELECT count(*) FROM requests WHERE tg_state = 'sent'")
                    == str(args.agents), 300, "all messages delivered")
        mids = dict((rid, int(m)) for rid, m in stack.sql(
            "SELECT id, telegram_message_id FROM requests"))
        for r in reqs:
            r["message_id"] = mids[r["id"]]
        base_rss = rss_kib(stack.worker_pids())
        lat, errors, waiting, rss = asyncio.run(run(args, stack, tg, reqs))
    finally:
        stack.cleanup()
        tg.stop()
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    res = {"agents": args.agents, "waiting": waiting, "decisions": len(lat), "errors": errors,
           "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(lat[-1], 3),
           "worker_rss_mib": round(rss / 1024, 1),
           "rss_per_waiter_kib": round((rss - base_rss) / max(1, waiting), 1)}
    if args.json:
        print(json.dumps(res))
    else:
        print("wake latency, webhook POST -> agent's long-poll answer, %d agents waiting:" % waiting)
        print("  p50 %.2f ms   p99 %.2f ms   max %.2f ms   (%d decisions, %d errors)"
              % (p50, p99, lat[-1], len(lat), errors))
        print("  worker RSS %.1f MiB with everyone waiting (%.1f KiB per waiter)"
              % (res["worker_rss_mib"], res["rss_per_waiter_kib"]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
