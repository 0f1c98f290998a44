"""PostgreSQL fail-over: a primary and a synchronous streaming standby
(pgcluster.py), the workers on a multi-host conninfo with
target_session_attrs=read-write, the primary stopped (immediate) and the
standby promoted under 500 waiting agents and a stream of submits and
decisions; then the same with pgbouncer in transaction mode in front of
PostgreSQL for the request connections, LISTEN on a direct connection
(db_listen_uri). And a server that stops taking writes under open
connections; through pgbouncer, a submit that waits for the synchronous
standby however the database's default is set; and a db_listen_uri that goes
through pgbouncer, which /readyz, the janitor and doctor refuse to trust.

Each fail-over test runs its own stack on its own cluster; the shared stack
is stopped first to leave the machine to it.
"""
import contextlib
import re
import threading
import time

import pgcluster
from lg import eq, error_is, ok, wait_for

WAITERS = 500
CHATS = 20
DECIDE_EARLY = 10   # decided before the fail-over: the ordinary path
DECIDE_IN_GAP = 20  # decided while the listener cannot LISTEN on the new primary


def _metric(stack, name):
    r = stack.get("/metrics")
    m = re.search(r"^%s (\d+)" % name, r.raw, re.M) if r.status == 200 else None
    return int(m.group(1)) if m else None


def _message_ids(tg, chats):
    """{waiter number: (chat, message_id)} of the bot's messages so far."""
    out = {}
    for c in chats:
        for m in tg.sent_messages(c):
            found = re.search(r"waiter #(\d+)#", m.get("text", ""))
            if found:
                out[int(found.group(1))] = (c, m["message_id"])
    return out


def _fail_over(s, pgbouncer):
    binary, tg = s.binary, s.tg
    if s.running:
        s.stop()
    with pgcluster.Cluster() as cl:
        bouncer = pgcluster.Bouncer(cl, cl.primary) if pgbouncer else None
        stack = load = None
        try:
            if bouncer:
                bouncer.start()
            stack = pgcluster.stack_on(binary, tg, cl, bouncer)
            stack.start()
            load = pgcluster.Load(stack.port, tg, [pgcluster.lg.chat() for _ in range(CHATS)])
            _scenario(stack, tg, cl, bouncer, load)
        finally:
            if load:
                load.close()
            if stack:
                stack.cleanup()
            if bouncer:
                bouncer.stop()


def _scenario(stack, tg, cl, bouncer, load):
    for i, c in enumerate(load.chats):
        eq(stack.post("/hitl/register", {"session_id": "ha-%d" % i, "client_id": "agent",
                                         "telegram_id": c}).status, 200)
    waiters = [pgcluster.Waiter(load, load.submit("ha-%d" % (i % CHATS), "waiter #%d#" % i))
               for i in range(WAITERS)]
    for w in waiters:
        w.start()
    wait_for(lambda: (_metric(stack, "loopgate_waiting_polls") or 0) >= WAITERS, 60,
             "%d long-polls asleep" % WAITERS)
    reconnects = _metric(stack, "loopgate_listener_reconnects_total")

    # The ordinary path first: decisions wake their waiters at once.
    wanted = DECIDE_EARLY + DECIDE_IN_GAP
    msgs = wait_for(lambda: (lambda m: m if len(m) >= wanted else None)(
        _message_ids(tg, load.chats)), 90, "%d request messages in Telegram" % wanted)
    numbers = sorted(msgs)[:wanted]
    early, in_gap = numbers[:DECIDE_EARLY], numbers[DECIDE_EARLY:]
    for n in early:
        eq(pgcluster.press(tg, *msgs[n])[-1], 200, "decision before the fail-over")
    wait_for(lambda: all(waiters[n].answer for n in early), 10, "the early decisions' waiters")

    # The listener of every worker reaches PostgreSQL through the socket
    # directories (db_listen_uri), the request connections over TCP: until
    # the test lets it in, the new primary refuses the listener, so the
    # decisions below are made while no worker LISTENs there. Only the
    # wake-up of every waiter after the new LISTEN answers their agents
    # before their wait (110 s) runs out.
    cl.standby.hba(local_reject=True)
    cl.standby.sql("SELECT pg_reload_conf()")

    load.start()
    wait_for(lambda: len(load.acked) >= WAITERS + 20, 30, "submits flowing")
    t0 = time.monotonic()
    sent_before = len(tg.sent_messages())
    cl.stop_primary()
    cl.promote()
    if bouncer:
        bouncer.point(cl.primary)
    t1 = time.monotonic()
    wait_for(lambda: load.served_since(t1) and load.gap(t0) is not None, 60,
             "a submit served after the fail-over")
    gap = load.gap(t0)

    # Decisions during the gap: Telegram redelivers each until answered 2xx.
    decided = {}
    for n in in_gap:
        eq(pgcluster.press(tg, *msgs[n])[-1], 200, "decision after the promotion")
        decided[n] = time.monotonic()
    ids = [waiters[n].rid for n in in_gap]
    eq(cl.primary.sql("SELECT count(*) FROM requests WHERE status = 'completed' AND id IN (%s)"
                      % ",".join("'%s'" % i for i in ids)), [[str(len(ids))]])
    opened = time.monotonic()
    cl.primary.hba()
    cl.primary.sql("SELECT pg_reload_conf()")
    wait_for(lambda: all(waiters[n].answer for n in in_gap), 20,
             "the waiters decided during the gap, woken after the new LISTEN")
    woke = max(waiters[n].answered_at for n in in_gap) - opened
    for n in in_gap:
        eq((waiters[n].answer["status"], waiters[n].answer["approved"]), ("completed", True))
    # A waiter whose poll began before its decision and ended before its
    # wait ran out was woken, and only the listener's wake-up after its new
    # LISTEN could (no listener was in before). One whose wait ran out in
    # the gap and who asked again read the decision itself: not counted.
    asleep = [n for n in in_gap if waiters[n].poll_started < decided[n]]
    ok(len(asleep) >= DECIDE_IN_GAP // 2, "too few waiters asleep through the gap: %r" % asleep)
    for n in asleep:
        w = waiters[n]
        ok(w.answered_at >= opened, "waiter %d answered before any listener was back" % n)
        ok(w.answered_at - w.poll_started < w.wait - 5, "waiter %d was not woken" % n)
    wait_for(lambda: (_metric(stack, "loopgate_listener_reconnects_total") or 0) > reconnects,
             20, "the listener's reconnect counted")

    # Delivery resumes: a request submitted now reaches Telegram, as do
    # those queued before (the backlog of the waiters' messages goes on).
    fresh = pgcluster.lg.chat()
    eq(stack.post("/hitl/register", {"session_id": "ha-after", "client_id": "agent",
                                     "telegram_id": fresh}).status, 200)
    load.submit("ha-after", "after the fail-over")
    wait_for(lambda: tg.sent_messages(fresh), 30, "a message sent after the fail-over")
    wait_for(lambda: len(tg.sent_messages()) > sent_before + 10, 60,
             "queued messages sent after the fail-over")

    # Every other waiter gets its answer: its agent cancels, on the new primary.
    rest = [w for w in waiters if not w.answer]
    for w in rest:
        eq(stack.post("/hitl/cancel", {"request_id": w.rid}).status, 200)
    wait_for(lambda: all(w.answer for w in rest), 60, "every waiter answered")

    load.finish()
    acked = sorted(set(load.acked))
    found = cl.primary.sql("SELECT count(*) FROM requests WHERE id IN (%s)"
                           % ",".join("'%s'" % i for i in acked))
    eq(found, [[str(len(acked))]], "every submit answered 2xx is on the new primary")
    failed = sum(1 for t, st in load.submits if t >= t0 and not 200 <= st < 300)
    eq(load.bad, [], "answers other than 2xx or a 503 JSON error")
    print("    %s: fail-over gap %.2f s (first failed to first served submit); %d submits"
          " answered 2xx, all on the new primary; %d tries failed with 503 and were retried;"
          " %d waiters answered, those decided in the gap %.2f s after the listener could"
          " connect" % ("pgbouncer" if bouncer else "direct", gap, len(acked), failed,
                        WAITERS, woke))


def test_failover_direct(s):
    _fail_over(s, pgbouncer=False)


def test_failover_pgbouncer(s):
    _fail_over(s, pgbouncer=True)


def test_read_only_server_connections_dropped(s):
    """A server that stops taking writes under open connections (a primary
    being demoted, default_transaction_read_only): each write is a 503 JSON
    answer, never a 500, and the connections that saw it are closed, so the
    next ones are opened afresh (and, with a multi-host conninfo, find the
    primary)."""
    if not s.running:
        s.start()
    from test_07_telegram import chat, register
    register(s, "ro", chat())
    for _ in range(8):
        eq(s.post("/hitl/request", {"session_id": "ro", "client_id": "agent",
                                    "message": "warm"}).status, 200)
    q = "SELECT pid FROM pg_stat_activity WHERE application_name = 'loopgate'"
    before = {r[0] for r in s.sql(q)}
    s.sql("ALTER SYSTEM SET default_transaction_read_only = on")
    s.sql("SELECT pg_reload_conf()")
    try:
        # each backend applies the reload when its signal arrives: wait for the first refusal
        wait_for(lambda: s.post("/hitl/request", {"session_id": "ro", "client_id": "agent",
                                                  "message": "while read-only"}).status == 503,
                 10, "a write refused by the read-only server")
        for _ in range(8):
            r = s.post("/hitl/request", {"session_id": "ro", "client_id": "agent",
                                         "message": "while read-only"})
            error_is(r, 503, "database_unavailable")
    finally:
        s.sql("SET default_transaction_read_only = off;"
              " ALTER SYSTEM RESET default_transaction_read_only")
        s.sql("SELECT pg_reload_conf()")
    after = {r[0] for r in s.sql(q)}
    ok(before - after, "no connection that met the read-only server was closed (%r, %r)"
       % (before, after))
    wait_for(lambda: s.post("/hitl/request", {"session_id": "ro", "client_id": "agent",
                                              "message": "writable again"}).status == 200,
             10, "writes served again")


@contextlib.contextmanager
def _pooled_stack(s, listen_through_bouncer=False, before=None):
    """(cluster, stack): a cluster, pgbouncer in transaction mode in front of
    its primary, `before(cluster)` run, a started stack on it (LISTEN direct,
    or through pgbouncer); everything stopped on the way out."""
    if s.running:
        s.stop()
    with pgcluster.Cluster() as cl:
        bouncer = pgcluster.Bouncer(cl, cl.primary)
        stack = None
        try:
            bouncer.start()
            if before:
                before(cl)
            stack = pgcluster.stack_on(
                s.binary, s.tg, cl, bouncer,
                listen_conninfo=bouncer.conninfo() if listen_through_bouncer else None)
            stack.start()
            yield cl, stack
        finally:
            if stack:
                stack.cleanup()
            bouncer.stop()


def test_pooled_commits_wait_for_the_sync_standby(s):
    """The database's default is synchronous_commit = local (a throughput
    setting a DBA may choose). A submit through pgbouncer in transaction mode
    is still answered only once its commit reached the synchronous standby:
    with the standby down it waits (SyncRep) and is answered when the standby
    is back, and the row is on the standby then."""
    def local(cl):
        cl.primary.sql("ALTER DATABASE loopgate SET synchronous_commit = local")

    with _pooled_stack(s, before=local) as (cl, st):
        eq(st.post("/hitl/register", {"session_id": "sync", "client_id": "agent"}).status, 200)
        eq(st.post("/hitl/request", {"session_id": "sync", "client_id": "agent",
                                     "message": "standby up"}).status, 200)
        cl.standby.stop("fast")
        got = {}

        def submit():
            got["r"] = st.post("/hitl/request", {"session_id": "sync", "client_id": "agent",
                                                 "message": "standby down"}, timeout=120)
        t = threading.Thread(target=submit, daemon=True)
        t.start()
        # A commit waiting for the standby is not visible yet and keeps its locks.
        waiting = ("SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid"
                   " WHERE a.wait_event = 'SyncRep' AND l.relation = 'requests'::regclass"
                   " AND l.mode = 'RowExclusiveLock'")
        try:
            wait_for(lambda: int(cl.primary.sql(waiting)[0][0]) > 0, 15,
                     "the submit's commit waiting for the synchronous standby")
            ok("r" not in got, "a submit was answered %r before its commit reached the "
               "synchronous standby" % got.get("r"))
        finally:
            cl.standby.start("synchronous_standby_names=''")
        t.join(60)
        eq(got["r"].status, 200, repr(got.get("r")))
        rid = got["r"].json["request_id"]
        wait_for(lambda: cl.standby.sql("SELECT count(*) FROM requests WHERE id = '%s'" % rid)
                 == [["1"]], 15, "the row on the standby")


def test_listen_through_pgbouncer_is_not_trusted(s):
    """db_listen_uri names pgbouncer in transaction mode: each worker finds
    that its LISTEN session is not PostgreSQL's own, /readyz fails its
    listener check, the janitor skips its runs (no advisory lock is left on a
    pooled server connection), doctor's database.listen check fails and
    `loopgate migrate` refuses to run through it."""
    with _pooled_stack(s, listen_through_bouncer=True) as (cl, st):

        def failing():
            r = st.get("/readyz")
            return r if r.status == 503 and "listener" in (r.json or {}).get("failing", []) \
                else None
        r = wait_for(failing, 20, "/readyz to fail its listener check")
        eq(r.json["checks"]["listener"].get("through_pooler"), True, repr(r.json))
        ok("db_listen_uri" in r.json["checks"]["listener"]["error"], repr(r.json))
        wait_for(lambda: "janitor: db_listen_uri goes through a connection pooler"
                 in st.worker_log(), 20, "the janitor to skip its run")
        ok("db_listen_uri goes through a connection pooler: notifications" in st.worker_log(),
           st.worker_log()[-2000:])
        eq(cl.primary.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                          " AND classid = 1819242087 AND objid = 2"), [["0"]],
           "the janitor's lock taken through pgbouncer")
        d = st.cli("doctor", check=False)
        ok(re.search(r"^FAIL\s+database\.listen\s.*pooler", d.stdout, re.M), d.stdout)
        # migrate runs on db_listen_uri under pooling, and refuses a pooler there.
        m = st.cli("migrate", check=False)
        eq(m.returncode, 1, m.stdout + m.stderr)
        ok("goes through a pooler" in m.stderr and "db_listen_uri" in m.stderr, m.stderr)


test_failover_direct.ha = True
test_failover_pgbouncer.ha = True
test_read_only_server_connections_dropped.ha = True
test_pooled_commits_wait_for_the_sync_standby.ha = True
test_listen_through_pgbouncer_is_not_trusted.ha = True
