"""Retention: the janitor deletes what is old enough and nothing else, in
batches, one process at a time (an advisory lock), audit rows only once
exported, and `loopgate audit verify` still passes afterwards.

Two extra `loopgate serve` masters (A and B, one worker each, no delivery
threads) share the shared stack's database, with a config that runs the
janitor every second in batches of two. The test holds the janitor's lock
first: both A and B try it and skip; once it is let go one of them deletes.
"""
import os
import shutil
import signal
import subprocess
import tempfile

from lg import PGBIN, chat, eq, ok, wait_for
from test_07_telegram import register, submit

LOCK = "1819242087, 2"
TENANT = "jan18"
UNEXPORTED = "jan18u"


def _conf(s, d, name):
    path = os.path.join(d, name + ".conf")
    with open(path, "w") as f:
        f.write("socket = %s/%s.sock\n" % (d, name))
        f.write('db_uri = "%s"\n' % s.db_uri)
        f.write("workers = 1\nthreads = 4\nbusy_threads = 2\n")
        f.write("delivery_threads = 0\nwebhook_threads = 0\nlog_level = debug\n")
        f.write("janitor_interval = 1\njanitor_batch = 2\n")
        f.write("retention_days = 30\naudit_retention_days = 10\n")
    return path


def _serve(s, d, name):
    """A `loopgate serve` of its own on the shared database; (process, log path)."""
    conf = _conf(s, d, name)
    env = {k: v for k, v in s.env().items()
           if not k.startswith(("LOOPGATE_", "TELEGRAM_", "DB_", "PUBLIC_URL", "SERVER_PORT",
                                "MAX_CONCURRENT", "REQUEST_TIMEOUT", "LOG_LEVEL"))}
    log = os.path.join(d, name + ".log")
    with open(log, "w") as out:
        p = subprocess.Popen([s.binary, "serve", "--config", conf], env=env, stdout=out,
                             stderr=subprocess.STDOUT)
    return p, log


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


def _holder(s):
    """A psql session holding the janitor's advisory lock until its stdin closes."""
    p = subprocess.Popen([os.path.join(PGBIN, "psql"), "-X", "-q", "-h", os.path.join(s.var, "run"),
                          "-U", "loopgate", "-d", "loopgate"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         text=True)
    p.stdin.write("SELECT pg_advisory_lock(%s);\n" % LOCK)
    p.stdin.flush()
    wait_for(lambda: s.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                              " AND classid = 1819242087 AND objid = 2 AND granted") == "1",
             15, "the test to hold the janitor lock")
    return p


def _by_hand(s, statements):
    """Statements run with the audit triggers off, as a table owner can."""
    s.sql("BEGIN; ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;"
          " ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain; " + statements +
          " ALTER TABLE audit_log ENABLE TRIGGER audit_log_chain;"
          " ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only; COMMIT;")


def _audit(s, tenant, ages_days):
    for age in ages_days:
        s.sql("INSERT INTO audit_log (tenant, actor, action, at, detail)"
              " VALUES (:'p1', 'test', 'janitor_fixture', now() - make_interval(days => :p2),"
              " '{\"n\": 1}')", tenant, age)


def _fixtures(s):
    """Rows on both sides of every window; returns the ids to look for."""
    f = {}
    c = chat()
    register(s, "jan18", c)
    f["old_done"], f["old_pending"], f["young_done"] = (submit(s, "jan18", message="jan18 %d" % i)
                                                         for i in range(3))
    for rid in (f["old_done"], f["young_done"]):
        eq(s.post("/hitl/cancel", {"request_id": rid}).status, 200)
    rids = [f["old_done"], f["old_pending"], f["young_done"]]
    wait_for(lambda: s.scalar("SELECT count(*) FROM outbox WHERE request_id::text = ANY (:'p1')"
                              " AND state = 'queued' AND request_id <> :'p2'",
                              "{%s}" % ",".join(rids), f["old_pending"]) == "0",
             30, "the deliveries of the finished requests to end")
    s.sql("UPDATE requests SET created_at = now() - interval '40 days' WHERE id IN (:'p1', :'p2')",
          f["old_done"], f["old_pending"])
    for rid in (f["old_done"], f["young_done"]):
        s.sql("INSERT INTO votes (request_id, tenant, person, name, channel, approve, response)"
              " VALUES (:'p1', 'default', 'console:jan18', 'Jan', 'console', false, 'No')", rid)
    # Outbox rows of no request: five finished 8 days ago, one 6 days ago, one old but queued.
    s.sql("INSERT INTO outbox (kind, state, done_at, payload)"
          " SELECT 'webhook', 'done', now() - interval '8 days', '{\"jan18\": \"old\"}'"
          " FROM generate_series(1, 5)")
    s.sql("INSERT INTO outbox (kind, state, done_at, payload) VALUES"
          " ('webhook', 'failed', now() - interval '6 days', '{\"jan18\": \"young\"}'),"
          " ('webhook', 'queued', NULL, '{\"jan18\": \"queued\"}')")
    # (queued, but due only next year: no delivery thread takes it meanwhile)
    s.sql("UPDATE outbox SET next_attempt_at = now() + interval '1 year',"
          " created_at = now() - interval '30 days' WHERE payload->>'jan18' = 'queued'")
    s.sql("INSERT INTO tg_updates (bot_id, update_id, received_at) VALUES"
          " (18, 1801, now() - interval '49 hours'), (18, 1802, now() - interval '47 hours')")
    s.sql("INSERT INTO mcp_sessions (id, tenant, protocol_version, last_seen_at, ended_at) VALUES"
          " ('jan18-ended', 'default', '2025-06-18', now(), now()),"
          " ('jan18-idle', 'default', '2025-06-18', now() - interval '25 hours', NULL),"
          " ('jan18-live', 'default', '2025-06-18', now(), NULL)")
    for table in ("console_sessions", "console_links"):
        extra = ", csrf" if table == "console_sessions" else ""
        val = ", 'x'" if table == "console_sessions" else ""
        s.sql("INSERT INTO %s (token_sha256, tenant, person, name, role, expires_at%s) VALUES"
              " ('jan18-expired', 'default', 'console:jan18', 'Jan', 'approver',"
              "  now() - interval '2 hours'%s),"
              " ('jan18-recent', 'default', 'console:jan18', 'Jan', 'approver',"
              "  now() - interval '1 minute'%s),"
              " ('jan18-valid', 'default', 'console:jan18', 'Jan', 'approver',"
              "  now() + interval '1 hour'%s)" % (table, extra, val, val, val))
    s.sql("INSERT INTO tg_logins (hash_sha256, telegram_id, expires_at) VALUES"
          " ('jan18-expired', 18, now() - interval '2 hours'),"
          " ('jan18-recent', 18, now() - interval '1 minute'),"
          " ('jan18-valid', 18, now() + interval '1 hour')")
    # Audit: TENANT has six rows 20 days old, exported (--mark), then two more
    # that old and one new, not exported. UNEXPORTED has old rows, never exported.
    _audit(s, TENANT, [20] * 6)
    r = s.cli("audit", "export", "--tenant", TENANT, "--mark")
    eq(len(r.stdout.splitlines()), 6, r.stderr)
    ok("marked tenant=%s exported_seq=6" % TENANT in r.stderr, r.stderr)
    eq(s.scalar("SELECT exported_seq FROM audit_retention WHERE tenant = :'p1'", TENANT), "6")
    _audit(s, TENANT, [20, 20, 0])
    _audit(s, UNEXPORTED, [20, 20, 20])
    return f


def _snapshot(s, f):
    return s.sql(
        "SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM requests"
        "        WHERE id IN (:'p1', :'p2', :'p3')),"
        " (SELECT count(*) FROM votes WHERE request_id IN (:'p1', :'p3')),"
        " (SELECT count(*) FROM outbox WHERE payload ? 'jan18'),"
        " (SELECT count(*) FROM outbox WHERE request_id = :'p1'),"
        " (SELECT string_agg(update_id::text, ',' ORDER BY update_id) FROM tg_updates WHERE bot_id = 18),"
        " (SELECT string_agg(id, ',' ORDER BY id) FROM mcp_sessions WHERE id LIKE 'jan18%'),"
        " (SELECT string_agg(token_sha256, ',' ORDER BY token_sha256) FROM console_sessions"
        "  WHERE token_sha256 LIKE 'jan18%'),"
        " (SELECT string_agg(token_sha256, ',' ORDER BY token_sha256) FROM console_links"
        "  WHERE token_sha256 LIKE 'jan18%'),"
        " (SELECT string_agg(hash_sha256, ',' ORDER BY hash_sha256) FROM tg_logins"
        "  WHERE hash_sha256 LIKE 'jan18%'),"
        " (SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit_log WHERE tenant = :'p4'),"
        " (SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit_log WHERE tenant = :'p5')",
        f["old_done"], f["old_pending"], f["young_done"], TENANT, UNEXPORTED)[0]


def test_janitor_deletes_only_what_is_old_enough_one_at_a_time(s):
    d = tempfile.mkdtemp(prefix="lgjan.")
    os.chmod(d, 0o755)
    procs = []
    holder = _holder(s)
    try:
        f = _fixtures(s)
        before = _snapshot(s, f)
        eq(before[1:3], ["2", "7"], "the fixtures are all there")
        ok(int(before[3]) >= 1, "the old request has outbox rows: %r" % before)
        for name in ("a", "b"):
            procs.append(_serve(s, d, name))
        # Both try the lock, find it held, and skip: nothing is deleted meanwhile.
        for _, log in procs:
            wait_for(lambda: "another process holds the janitor lock" in _read(log), 30,
                     "a janitor to find the lock held: %s" % log)
        for _, log in procs:
            ok("janitor run" not in _read(log), "no run while the lock is held")
        eq(_snapshot(s, f), before, "nothing deleted while another holds the lock")
        # Let go: one of them runs and deletes what is old enough.
        holder.stdin.close()
        holder.wait(10)
        wait_for(lambda: any("msg=\"janitor run\"" in _read(log) and
                             "requests=1 " in _read(log) for _, log in procs),
                 30, "a janitor run that deleted the old request")
        after = _snapshot(s, f)
        eq(after[0], ",".join(sorted([f["old_pending"], f["young_done"]])), "requests kept")
        eq(after[1], "1", "the old request's vote went with it")
        eq(after[2], "2", "outbox: the 6-day-old and the queued row stay")
        eq(after[3], "0", "the old request's outbox rows went with it")
        eq(after[4], "1802", "tg_updates inside the 48 h window stay")
        eq(after[5], "jan18-live", "ended and idle MCP sessions go")
        eq(after[6:9], ["jan18-recent,jan18-valid"] * 3,
           "console sessions, links, logins go an hour after they expired")
        eq(after[9], "6,7,8,9", "exported audit rows below the mark went; the rest stay")
        eq(after[10], "1,2,3", "audit rows never exported stay")
        eq(s.sql("SELECT pruned_seq, exported_seq FROM audit_retention WHERE tenant = :'p1'",
                 TENANT), [["5", "6"]])
        # The chain still verifies: from the first row left, onto the last removed one's hash.
        r = s.cli("audit", "verify", "--tenant", TENANT)
        ok(r.returncode == 0 and "ok tenant=%s rows=4 head_seq=9" % TENANT in r.stdout
           and "from_seq=6" in r.stdout, r.stdout + r.stderr)
        # A row removed past the record still shows: the first row left is gone.
        _by_hand(s, "CREATE TABLE jan18_saved AS SELECT * FROM audit_log"
                    " WHERE tenant = 'jan18' AND seq = 6;"
                    " DELETE FROM audit_log WHERE tenant = 'jan18' AND seq = 6;")
        r = s.cli("audit", "verify", "--tenant", TENANT, check=False)
        ok(r.returncode == 1 and "broken tenant=%s seq=6 kind=removed" % TENANT in r.stdout,
           r.stdout + r.stderr)
        _by_hand(s, "INSERT INTO audit_log SELECT * FROM jan18_saved; DROP TABLE jan18_saved;")
        eq(s.cli("audit", "verify", "--tenant", TENANT, check=False).returncode, 0)
        # One run of A or B deleted the request and the audit rows (the shared
        # stack's own janitor, with the default settings, may have taken the
        # rest), counted per table, in batches of two: the five audit rows
        # alone took three statements, and every table took one at least.
        runs = [ln for _, log in procs for ln in _read(log).splitlines()
                if "msg=\"janitor run\"" in ln and "requests=1 " in ln]
        eq(len(runs), 1, "one run deleted the old request")
        figures = dict(kv.split("=", 1) for kv in runs[0].split() if "=" in kv)
        eq((figures["votes"], figures["audit_log"]), ("1", "5"), runs[0])
        ok(int(figures["outbox"]) >= 1, "the request's outbox rows went with it: %s" % runs[0])
        ok(int(figures["batches"]) >= 3 + 1 + 6, "batches of two: %s" % runs[0])
        # The trigger refuses what retention may not delete, whoever asks:
        # rows never exported, and the last exported row.
        r = subprocess.run([os.path.join(PGBIN, "psql"), "-X", "-h", os.path.join(s.var, "run"),
                            "-U", "loopgate", "-d", "loopgate", "-c",
                            "SET loopgate.audit_prune = 'on'; DELETE FROM audit_log"
                            " WHERE tenant IN ('jan18u', 'jan18') AND seq >= 1"],
                           capture_output=True, text=True, timeout=30)
        ok(r.returncode != 0 and "append-only" in r.stderr, r.stdout + r.stderr)
        eq(s.scalar("SELECT count(*) FROM audit_log WHERE tenant IN ('jan18u', 'jan18')"), "7")
    finally:
        s.sql("DELETE FROM outbox WHERE payload ? 'jan18';"
              " DELETE FROM console_sessions WHERE token_sha256 LIKE 'jan18%';"
              " DELETE FROM console_links WHERE token_sha256 LIKE 'jan18%';"
              " DELETE FROM tg_logins WHERE hash_sha256 LIKE 'jan18%';"
              " DELETE FROM mcp_sessions WHERE id LIKE 'jan18%';"
              " DELETE FROM tg_updates WHERE bot_id = 18")
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(10)
        for p, _ in procs:
            p.terminate()
        for p, _ in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


def test_reload_applies_a_new_interval_at_once(s):
    d = tempfile.mkdtemp(prefix="lgjan.")
    os.chmod(d, 0o755)
    p = None
    try:
        p, log = _serve(s, d, "c")
        conf = os.path.join(d, "c.conf")
        with open(conf) as f:
            text = f.read()

        def attempts():
            t = _read(log)
            return t.count('msg="janitor run"') + t.count("another process holds the janitor lock")

        def reload(interval, n):
            with open(conf + ".tmp", "w") as f:
                f.write(text.replace("janitor_interval = 1", "janitor_interval = %d" % interval))
            os.replace(conf + ".tmp", conf)
            p.send_signal(signal.SIGHUP)
            wait_for(lambda: _read(log).count('msg="configuration reloaded"') >= n, 15,
                     "the reload: %s" % _read(log)[-1500:])

        wait_for(lambda: "worker ready" in _read(log), 30, "the worker: %s" % log)
        reload(3600, 2)
        wait_for(lambda: attempts() >= 1, 30, "the first run: %s" % log)
        first = attempts()
        # An hour to the next run; a reload to 1 s applies at once.
        reload(1, 4)
        wait_for(lambda: attempts() >= first + 2, 15,
                 "runs at the new interval after the reload: %s" % _read(log)[-1500:])
    finally:
        if p:
            p.terminate()
            p.wait(30)
        shutil.rmtree(d, ignore_errors=True)
