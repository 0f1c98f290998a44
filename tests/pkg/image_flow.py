#!/usr/bin/env python3
"""image_flow.py - run the Loopgate image and use it as an agent and a person would.

Driven by tests/pkg/test_image.sh, which has built the image in a private
podman store. Three ways of running it:

* the seed's (default): ``run -e TELEGRAM_BOT_TOKEN=... loopgate:latest`` with
  no DB_URI, the self-contained stack, pointed at the Bot API stand-in
  (tgstub.py, on the host's network). The HEALTHCHECK must say healthy; a
  request goes from submit to a message in the chat, a press of its
  approving button (fetched by the container's getUpdates poller) and the
  agent's long-poll, and its row says so; `stop` ends it cleanly.
* the production shape of compose.yaml (--db-uri): `serve` (DB_URI, keys
  required) and `nginx` containers sharing the FastCGI socket's volume, on a
  PostgreSQL the test started; both healthy; a request without a key is a
  401, with one it is taken and is in the database.
* the seed's line as printed (--seed-line, through the docker client):
  ``docker run -e TELEGRAM_BOT_TOKEN=your_token loopgate:latest`` (detached
  and named, to be asked and removed) on the default bridge network,
  reached on the container's address, port 8080.

Exit status 0 when every check passed; each failure says what was expected.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from tgstub import TelegramStub  # noqa: E402

CHAT = 424242001
PSQL = "exec $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql"


class Fail(Exception):
    pass


def log(msg):
    print("image_flow: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_run(engine, *args, check=True, timeout=120):
    p = subprocess.run([engine, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Fail("%s %s: exit %d: %s" % (engine, " ".join(args), p.returncode, p.stderr.strip()[-500:]))
    return p


def http(method, url, body=None, headers=None, timeout=40):
    """(status, parsed JSON or None); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def wait_until(what, fn, timeout, interval=0.5):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_healthy(name, timeout=180):
    """Run the image's HEALTHCHECK (podman has no systemd timer here to run it)
    until it passes; then the recorded state must be healthy."""
    t = time.monotonic()

    def passed():
        running = engine_run("podman", "inspect", name, "--format", "{{.State.Running}}").stdout.strip()
        if running != "true":
            raise Fail("%s is not running: %s" % (name, engine_run("podman", "logs", "--tail", "5", name).stderr))
        return engine_run("podman", "healthcheck", "run", name, check=False).returncode == 0

    wait_until("%s to be healthy" % name, passed, timeout, 1.0)
    state = engine_run("podman", "inspect", name, "--format", "{{.State.Healthcheck.Status}}").stdout.strip()
    if state != "healthy":
        raise Fail("%s: health %r after a passing check" % (name, state))
    log("%s healthy after %.1f s" % (name, time.monotonic() - t))


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def approving_button(rec):
    for row in (rec.get("reply_markup") or {}).get("inline_keyboard") or []:
        for b in row:
            if b.get("style") == "success" and b.get("callback_data"):
                return b["callback_data"]
    raise Fail("the request's message has no approving button: %r" % rec.get("reply_markup"))


def stop(engine, name):
    t = time.monotonic()
    engine_run(engine, "stop", "-t", "30", name, timeout=60)
    took = time.monotonic() - t
    expect(took < 25, "%s took %.1f s to stop (SIGTERM not handled?)" % (name, took))
    return took


def seed_way(engine, image, name):
    """TELEGRAM_BOT_TOKEN and nothing else that matters: the self-contained stack."""
    port = free_port()
    with TelegramStub(token="123456:TEST-image-token") as stub:
        ctr = name + "-stack"
        engine_run(engine, "run", "-d", "--name", ctr, "--network=host",
                   "-e", "SERVER_PORT=%d" % port, "-e", "TELEGRAM_BOT_TOKEN=" + stub.token,
                   "-e", "TELEGRAM_API_URL=" + stub.url, image)
        wait_healthy(ctr)
        base = "http://127.0.0.1:%d" % port
        st, b = http("GET", base + "/livez")
        expect(st == 200, "/livez: %d %r" % (st, b))
        st, b = http("POST", base + "/hitl/register",
                     {"session_id": "img", "client_id": "img", "telegram_id": CHAT})
        expect(st == 200 and b.get("success"), "register: %d %r" % (st, b))
        st, b = http("POST", base + "/hitl/request",
                     {"session_id": "img", "client_id": "img", "message": "Ship the image?",
                      "request_type": "confirmation"})
        expect(st == 200 and b.get("request_id"), "submit: %d %r" % (st, b))
        rid = b["request_id"]
        msg = stub.wait_for(lambda: [m for m in stub.sent_messages(CHAT) if "Ship the image?" in m.get("text", "")],
                            timeout=60, message="the request's message in the chat")[0]
        rec = stub.messages[(CHAT, msg["message_id"])]
        stub.press_and_deliver(CHAT, msg["message_id"], data=approving_button(rec), user_id=CHAT)
        st, b = http("GET", base + "/hitl/poll?request_id=%s&wait=60" % rid, timeout=75)
        expect(st == 200 and b.get("status") == "completed" and b.get("approved") is True,
               "poll after the press: %d %r" % (st, b))
        row = engine_run(engine, "exec", ctr, "sh", "-c",
                         PSQL + " -h /var/lib/loopgate/run -U loopgate -d loopgate -Atc "
                         "\"SELECT status, approved FROM requests WHERE id = '%s'\"" % rid).stdout.strip()
        expect(row == "completed|t", "the request's row: %r" % row)
        who = engine_run(engine, "exec", ctr, "id", "-un").stdout.strip()
        expect(who == "loopgate", "the container runs as %r" % who)
        took = stop(engine, ctr)
        logs = engine_run(engine, "logs", ctr).stderr + engine_run(engine, "logs", ctr).stdout
        expect("loopgate: stopped" in logs, "the stack did not say it stopped")
        expect(stub.token not in logs, "the bot token is in the container's log")
        log("seed's way: submit -> Telegram -> press -> poll approved, row completed; stopped in %.1f s" % took)
        engine_run(engine, "rm", ctr)


def production(engine, image, name, db_uri):
    """compose.yaml's shape: serve + nginx sharing the socket's volume, DB_URI."""
    port = free_port()
    vol, srv, ngx = name + "-sock", name + "-serve", name + "-nginx"
    engine_run(engine, "volume", "create", vol)
    engine_run(engine, "run", "-d", "--name", srv, "--network=host", "-v", vol + ":/run/loopgate",
               "-e", "DB_URI=" + db_uri, image)
    engine_run(engine, "run", "-d", "--name", ngx, "--network=host", "-v", vol + ":/run/loopgate",
               "-e", "SERVER_PORT=%d" % port, image, "nginx")
    wait_healthy(srv)
    wait_healthy(ngx)
    base = "http://127.0.0.1:%d" % port
    st, b = http("POST", base + "/hitl/request", {"session_id": "p", "client_id": "p", "message": "x"})
    expect(st == 401, "production without a key: %d %r (keys must be required)" % (st, b))
    key = engine_run(engine, "exec", srv, "loopgate", "apikey", "create", "--name", "img", "--tenant", "img").stdout.strip()
    expect(key.startswith("lg_"), "apikey create printed %r" % key[:8])
    auth = {"Authorization": "Bearer " + key}
    st, b = http("POST", base + "/hitl/register", {"session_id": "p", "client_id": "p", "telegram_id": CHAT},
                 headers=auth)
    expect(st == 200, "register: %d %r" % (st, b))
    st, b = http("POST", base + "/hitl/request", {"session_id": "p", "client_id": "p", "message": "Prod?"},
                 headers=auth)
    expect(st == 200 and b.get("request_id"), "submit: %d %r" % (st, b))
    rid = b["request_id"]
    st, b = http("GET", base + "/hitl/poll?request_id=" + rid, headers=auth)
    expect(st == 200 and b.get("status") == "pending", "poll: %d %r" % (st, b))
    row = subprocess.run(["psql", db_uri, "-Atc", "SELECT tenant, status FROM requests WHERE id = '%s'" % rid],
                         capture_output=True, text=True).stdout.strip()
    expect(row == "img|pending", "the request's row: %r" % row)
    stop(engine, ngx)
    took = stop(engine, srv)
    engine_run(engine, "rm", ngx, srv)
    engine_run(engine, "volume", "rm", vol)
    log("production shape: 401 without a key, submit and poll with one, row in DB_URI's database; "
        "serve stopped in %.1f s" % took)


def seed_line(engine, image, name):
    """The seed's `docker run -e TELEGRAM_BOT_TOKEN=your_token loopgate:latest`, detached."""
    argv = ["run", "-d", "--name", name, "-e", "TELEGRAM_BOT_TOKEN=your_token", image]
    log("$ %s %s" % (engine, " ".join(argv)))
    engine_run(engine, *argv)
    ip = engine_run(engine, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
    expect(ip, "the container has no address on the default network")
    base = "http://%s:8080" % ip
    t = time.monotonic()
    wait_until(base + "/livez", lambda: http("GET", base + "/livez", timeout=3)[0] == 200, 180, 1.0)
    log("%s/livez answers 200 after %.1f s" % (base, time.monotonic() - t))
    st, b = http("POST", base + "/hitl/register", {"session_id": "s", "client_id": "s", "telegram_id": CHAT})
    expect(st == 200, "register: %d %r" % (st, b))
    st, b = http("POST", base + "/hitl/request", {"session_id": "s", "client_id": "s", "message": "Seed?"})
    expect(st == 200 and b.get("request_id"), "submit: %d %r" % (st, b))
    st, b = http("GET", base + "/hitl/poll?request_id=" + b["request_id"])
    expect(st == 200 and b.get("status") == "pending" and b.get("completed") is False, "poll: %d %r" % (st, b))
    wait_healthy(name)
    stop(engine, name)
    engine_run(engine, "rm", name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="podman")
    ap.add_argument("--image", default="loopgate:latest")
    ap.add_argument("--name", required=True, help="prefix of the containers and volumes made")
    ap.add_argument("--db-uri", help="also run the production shape on this PostgreSQL")
    ap.add_argument("--seed-line", action="store_true", help="only the seed's docker run line")
    a = ap.parse_args()
    try:
        if a.seed_line:
            seed_line(a.engine, a.image, a.name)
        else:
            seed_way(a.engine, a.image, a.name)
            if a.db_uri:
                production(a.engine, a.image, a.name, a.db_uri)
    except Fail as e:
        log("FAIL: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
