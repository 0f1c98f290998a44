#!/usr/bin/env python3
"""image_flow.py - run the Loopgate image and use it as an agent and a person would.

Driven by tests/pkg/test_image.sh, which has built the image in a private
podman store. Three ways of running it:

* the seed's (default): ``run -e TELEGRAM_BOT_TOKEN=... loopgate:latest`` with
  no DB_URI, the self-contained stack, pointed at the Bot API stand-in
  (tgstub.py, on the host's network). Safe by default: LOOPGATE_AUTH=off
  alone is refused; a request without a key is a 401; the container's log
  holds no key and no console link, only the commands that make them, and
  those work through ``exec`` (no secrets-file warning). The HEALTHCHECK
  must say healthy; a request goes from submit to a message in the chat, a
  press of its approving button (fetched by the container's getUpdates
  poller) and the agent's long-poll, and its row says so. The HEALTHCHECK
  (/readyz) fails while the workers cannot reach the container's
  PostgreSQL and passes again once they can; `stop` ends the container
  cleanly; started again, its PostgreSQL killed, it exits by itself.
* the production shape of compose.yaml (--db-uri): `serve` (DB_URI, keys
  required) and `nginx` containers sharing the FastCGI socket's volume, on a
  PostgreSQL the test started; both healthy; a request without a key is a
  401, with one it is taken and is in the database. A second `serve` on the
  same socket volume refuses to start and the first keeps serving. `serve`
  on FastCGI over TCP, with FCGI_WEB_SERVER_ADDRS set, is healthy on an
  IPv6 socket and on an IPv4 one, whose list still closes other peers
  unanswered.
* the seed's line as printed (--seed-line, through the docker client):
  ``docker run -e TELEGRAM_BOT_TOKEN=your_token loopgate:latest`` (detached
  and named, to be asked and removed) on the default bridge network,
  reached on the container's address, port 8080: 401 without a key, a
  request taken with the key ``exec`` made.

Exit status 0 when every check passed; each failure says what was expected.
"""
import argparse
import json
import os
import re
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


def health_passes(name):
    return engine_run("podman", "healthcheck", "run", name, check=False).returncode == 0


def logs_of(engine, name):
    p = engine_run(engine, "logs", name, check=False)
    return p.stdout + p.stderr


def make_key(engine, name, tenant):
    """`exec NAME loopgate apikey create`: the key, and what it said on stderr."""
    p = engine_run(engine, "exec", name, "loopgate", "apikey", "create", "--name", "img-" + tenant,
                   "--tenant", tenant)
    key = p.stdout.strip()
    expect(key.startswith("lg_"), "apikey create printed %r (stderr %r)" % (key[:8], p.stderr[-300:]))
    expect("secrets file" not in p.stderr, "apikey create warned: %r" % p.stderr[-300:])
    return key


def fcgi_livez(host, port, source):
    """A FastCGI GET /livez to host:port from the address source: the bytes answered."""
    def record(rtype, body):
        pad = (8 - len(body) % 8) % 8
        return bytes([1, rtype, 0, 1, len(body) >> 8, len(body) & 255, pad, 0]) + body + b"\0" * pad

    params = b""
    for k, v in (("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/livez"), ("REQUEST_URI", "/livez"),
                 ("DOCUMENT_URI", "/livez"), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", source)):
        params += bytes([len(k), len(v)]) + k.encode() + v.encode()
    req = record(1, b"\0\1\0\0\0\0\0\0") + record(4, params) + record(4, b"") + record(5, b"")
    got = b""
    with socket.socket() as s:
        s.settimeout(5)
        s.bind((source, 0))
        s.connect((host, port))
        try:
            s.sendall(req)
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (ConnectionResetError, BrokenPipeError):
            pass
    return got


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
        env = ["-e", "SERVER_PORT=%d" % port, "-e", "TELEGRAM_BOT_TOKEN=" + stub.token,
               "-e", "TELEGRAM_API_URL=" + stub.url]
        # Keys off alone is refused, before anything starts.
        p = engine_run(engine, "run", "--rm", "--network=host", *env, "-e", "LOOPGATE_AUTH=off", image,
                       check=False, timeout=60)
        expect(p.returncode != 0 and "LOOPGATE_INSECURE_NO_AUTH=1" in p.stderr,
               "LOOPGATE_AUTH=off alone: exit %d, %r" % (p.returncode, p.stderr[-400:]))

        engine_run(engine, "run", "-d", "--name", ctr, "--network=host", *env, image)
        wait_healthy(ctr)
        base = "http://127.0.0.1:%d" % port
        st, b = http("GET", base + "/livez")
        expect(st == 200, "/livez: %d %r" % (st, b))
        st, b = http("POST", base + "/hitl/register",
                     {"session_id": "img", "client_id": "img", "telegram_id": CHAT})
        expect(st == 401, "register without a key: %d %r (keys must be required)" % (st, b))
        wait_until("the banner naming the commands that make a key and a link",
                   lambda: "docker exec <container> loopgate apikey create" in logs_of(engine, ctr)
                   and "docker exec <container> loopgate-entrypoint link" in logs_of(engine, ctr), 20)
        key = make_key(engine, ctr, "default")
        auth = {"Authorization": "Bearer " + key}
        link = engine_run(engine, "exec", ctr, "loopgate-entrypoint", "link").stdout
        expect("#login=" in link, "loopgate-entrypoint link printed %r" % link[-200:])

        st, b = http("POST", base + "/hitl/register",
                     {"session_id": "img", "client_id": "img", "telegram_id": CHAT}, headers=auth)
        expect(st == 200 and b.get("success"), "register: %d %r" % (st, b))
        st, b = http("POST", base + "/hitl/request",
                     {"session_id": "img", "client_id": "img", "message": "Ship the image?",
                      "request_type": "confirmation"}, headers=auth)
        expect(st == 200 and b.get("request_id"), "submit: %d %r" % (st, b))
        rid = b["request_id"]
        msg = stub.wait_for(lambda: [m for m in stub.sent_messages(CHAT) if "Ship the image?" in m.get("text", "")],
                            timeout=60, message="the request's message in the chat")[0]
        rec = stub.messages[(CHAT, msg["message_id"])]
        stub.press_and_deliver(CHAT, msg["message_id"], data=approving_button(rec), user_id=CHAT)
        st, b = http("GET", base + "/hitl/poll?request_id=%s&wait=60" % rid, headers=auth, timeout=75)
        expect(st == 200 and b.get("status") == "completed" and b.get("approved") is True,
               "poll after the press: %d %r" % (st, b))
        sql = PSQL + " -h /var/lib/loopgate/run -U loopgate -d %s -Atc \"%s\""
        row = engine_run(engine, "exec", ctr, "sh", "-c",
                         sql % ("loopgate", "SELECT status, approved FROM requests WHERE id = '%s'" % rid)).stdout.strip()
        expect(row == "completed|t", "the request's row: %r" % row)
        who = engine_run(engine, "exec", ctr, "id", "-un").stdout.strip()
        expect(who == "loopgate", "the container runs as %r" % who)

        # The workers cannot reach the container's PostgreSQL (it runs, the
        # database takes no connections): /readyz, so the HEALTHCHECK, fails;
        # once it takes them again, healthy again.
        def psql_admin(q):
            engine_run(engine, "exec", ctr, "sh", "-c", sql % ("postgres", q))
        psql_admin("ALTER DATABASE loopgate ALLOW_CONNECTIONS false")
        psql_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'loopgate'")
        t = time.monotonic()
        wait_until("the HEALTHCHECK to fail without the database", lambda: not health_passes(ctr), 30, 1.0)
        st, _ = http("GET", base + "/readyz")
        expect(st == 503, "/readyz without the database: %d" % st)
        log("database unreachable: HEALTHCHECK failing after %.1f s, /readyz 503" % (time.monotonic() - t))
        psql_admin("ALTER DATABASE loopgate ALLOW_CONNECTIONS true")
        wait_healthy(ctr, 60)

        took = stop(engine, ctr)
        logs = logs_of(engine, ctr)
        expect("loopgate: stopped" in logs, "the stack did not say it stopped")
        expect(stub.token not in logs, "the bot token is in the container's log")
        expect(key not in logs and not re.search(r"lg_[A-Za-z0-9_-]{16}", logs), "an API key is in the container's log")
        expect("#login=" not in logs, "a console link is in the container's log")
        expect("secrets file" not in logs, "the container's log warns about the secrets file")
        log("seed's way: 401 without a key, exec'd key and link, submit -> Telegram -> press -> poll approved, "
            "row completed; no secret in the log; stopped in %.1f s" % took)

        # Started again, its PostgreSQL killed: the container stops itself
        # (exit 1), for its restart policy.
        engine_run(engine, "start", ctr)
        wait_healthy(ctr)
        engine_run(engine, "exec", ctr, "sh", "-c",
                   "exec $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl "
                   "-D /var/lib/loopgate/pg -m immediate stop")
        t = time.monotonic()
        wait_until("the container to exit after its PostgreSQL died",
                   lambda: engine_run(engine, "inspect", ctr, "--format", "{{.State.Running}}").stdout.strip() == "false",
                   40, 0.5)
        code = engine_run(engine, "inspect", ctr, "--format", "{{.State.ExitCode}}").stdout.strip()
        expect(code == "1", "exit status after PostgreSQL died: %s" % code)
        expect("postgres (pid" in logs_of(engine, ctr), "the log does not say PostgreSQL died")
        log("PostgreSQL killed: the container exited 1 after %.1f s" % (time.monotonic() - t))
        engine_run(engine, "rm", ctr)


def tcp_serve(engine, image, name, db_uri, sock, extra=()):
    engine_run(engine, "run", "-d", "--name", name, "--network=host", "-e", "DB_URI=" + db_uri,
               "-e", "LOOPGATE_SOCKET=" + sock, "-e", "LOOPGATE_WORKERS=1", "-e", "LOOPGATE_THREADS=8",
               *extra, image)


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
    key = make_key(engine, srv, "img")
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

    # A second serve on the same socket volume (compose's --scale) does not
    # take the socket over: it says why and exits; the first serves on.
    p = engine_run(engine, "run", "--rm", "--network=host", "-v", vol + ":/run/loopgate", "-e", "DB_URI=" + db_uri,
                   image, check=False, timeout=90)
    expect(p.returncode != 0 and "another loopgate serves on /run/loopgate/loopgate.sock" in p.stderr,
           "a second serve on the socket volume: exit %d, %r" % (p.returncode, p.stderr[-400:]))
    expect(health_passes(srv), "the first serve is not healthy after the second was refused")
    st, b = http("GET", base + "/hitl/poll?request_id=" + rid, headers=auth)
    expect(st == 200 and b.get("status") == "pending", "poll after the second serve: %d %r" % (st, b))
    log("a second serve on the same socket volume refused; the first serves on")

    stop(engine, ngx)
    took = stop(engine, srv)
    engine_run(engine, "rm", ngx, srv)
    engine_run(engine, "volume", "rm", vol)
    log("production shape: 401 without a key, submit and poll with one, row in DB_URI's database; "
        "serve stopped in %.1f s" % took)

    # FastCGI over TCP: the HEALTHCHECK speaks it on an IPv6 socket and on
    # an IPv4 one, with FCGI_WEB_SERVER_ADDRS naming only nginx's address;
    # that list still closes other peers unanswered.
    v6, v4 = name + "-v6", name + "-v4"
    p6, p4 = free_port(), free_port()
    only_nginx = ("-e", "FCGI_WEB_SERVER_ADDRS=192.0.2.10")
    tcp_serve(engine, image, v6, db_uri, "[::1]:%d" % p6, only_nginx)
    tcp_serve(engine, image, v4, db_uri, "127.0.0.1:%d" % p4, only_nginx)
    # `*:port` (every IPv4 address) is asked on loopback, as `:port` is.
    vs, ps = name + "-vs", free_port()
    tcp_serve(engine, image, vs, db_uri, "*:%d" % ps)
    wait_healthy(v6)
    wait_healthy(v4)
    wait_healthy(vs)
    expect("FCGI_WEB_SERVER_ADDRS=192.0.2.10,127.0.0.1,::1 (added 127.0.0.1 ::1" in logs_of(engine, v4),
           "the entrypoint did not say it added loopback: %r" % logs_of(engine, v4)[-400:])
    got = fcgi_livez("127.0.0.1", p4, "127.0.0.2")
    expect(got == b"", "FCGI_WEB_SERVER_ADDRS: a peer not listed got %r" % got[:80])
    got = fcgi_livez("127.0.0.1", p4, "127.0.0.1")
    expect(b'"status"' in got, "FCGI_WEB_SERVER_ADDRS: 127.0.0.1 got %r" % got[:80])
    for c in (v6, v4, vs):
        stop(engine, c)
    engine_run(engine, "rm", v6, v4, vs)
    log("serve on [::1]:%d and on 127.0.0.1:%d with FCGI_WEB_SERVER_ADDRS healthy, and on *:%d;"
        " an unlisted peer closed" % (p6, p4, ps))


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
    expect(st == 401, "register without a key: %d %r (keys must be required)" % (st, b))
    # podman's own exec: an exec through the service leaves its conmon
    # waiting minutes for an inspect that never comes.
    auth = {"Authorization": "Bearer " + make_key("podman", name, "default")}
    st, b = http("POST", base + "/hitl/register", {"session_id": "s", "client_id": "s", "telegram_id": CHAT},
                 headers=auth)
    expect(st == 200, "register: %d %r" % (st, b))
    st, b = http("POST", base + "/hitl/request", {"session_id": "s", "client_id": "s", "message": "Seed?"},
                 headers=auth)
    expect(st == 200 and b.get("request_id"), "submit: %d %r" % (st, b))
    st, b = http("GET", base + "/hitl/poll?request_id=" + b["request_id"], headers=auth)
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
