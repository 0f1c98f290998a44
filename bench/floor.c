/*
 * floor.c - the floors of bench/run.py: the least a threaded libfcgi program
 * behind the same nginx can do for each kind of request Loopgate serves.
 *
 *   floor --socket PATH [--threads 16] [--workers 2] --mode f0|f1|f2|fw [--db CONNINFO]
 *
 * 1. Same shape as `loopgate serve`: the master binds the unix socket, forks
 *    `workers` processes (before any thread exists), and each runs `threads`
 *    request threads that take turns in FCGX_Accept_r behind one mutex.
 *    nginx reaches it with fastcgi_keep_conn off, like the product.
 * 2. Modes:
 *      f0  answers a constant JSON body (the price of nginx + FastCGI);
 *      f1  one primary-key SELECT per request, prepared, the id taken from
 *          QUERY_STRING `request_id=...`;
 *      f2  one single-row INSERT per request, committed (autocommit), into
 *          bench_f2, which the master creates before forking.
 *      fw  the wake floor: GET ?wait=ID sleeps until PostgreSQL notifies ID
 *          (at most 120 s) and answers from the notification; POST
 *          ?decide=ID sets bench_wake.decided and notifies, one statement
 *          in autocommit, committed synchronously as the product's
 *          decisions are (on disk before anyone hears of them). Each
 *          worker has one listener thread on
 *          its own connection and a table of waiters, each with its own
 *          condition variable. Waiters hold no connection and do not read
 *          the row (the driver decides only once everyone waits).
 *    f1 and f2 hold one PGconn per thread, opened when the thread starts;
 *    fw's decisions share one per worker, opened when the worker starts.
 * 3. Only start-up errors are fatal. A failed query answers 503 (404 for an
 *    unknown id) and the thread reconnects on its next request.
 * 4. Signals: every thread of a worker blocks them; the worker's main thread
 *    sigwaits for SIGTERM/SIGINT and exits. The master forwards SIGTERM/SIGINT
 *    to its children, waits for them and removes the socket. A worker dies
 *    with its master (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <libpq-fe.h>

#define MAX_WORKERS 64
#define MAX_BODY (64 * 1024)
#define THREAD_STACK (256 * 1024)

enum mode { F0, F1, F2, FW };

static struct {
    const char *socket;
    const char *db;
    int threads;
    int workers;
    enum mode mode;
    int listen_fd;
    pthread_mutex_t accept_lock;
} F = {.threads = 16, .workers = 2, .db = "", .accept_lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const F1_SQL = "SELECT id, status FROM requests WHERE id = $1::uuid";
static const char *const F2_SQL = "INSERT INTO bench_f2 (body) VALUES ($1) RETURNING id";
static const char *const F2_TABLE = "CREATE TABLE IF NOT EXISTS bench_f2 (id bigserial primary key,"
                                    " body text, created_at timestamptz default now())";
static const char *const FW_SQL =
    "WITH d AS (UPDATE bench_wake SET decided = true WHERE id = $1::bigint AND NOT decided"
    " RETURNING id) SELECT pg_notify('bench_wake', id::text) FROM d";
static const char *const FW_TABLE = "CREATE TABLE IF NOT EXISTS bench_wake (id bigint primary key,"
                                    " decided boolean NOT NULL DEFAULT false)";

/* ---------------------------------------------------------------- answers */

static void reply(FCGX_Request *req, int status, const char *reason, const char *body)
{
    char head[256];
    size_t len = strlen(body);
    int n = snprintf(head, sizeof(head),
                     "Status: %d %s\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\nContent-Length: %zu\r\n\r\n",
                     status, reason, len);

    FCGX_PutStr(head, n, req->out);
    FCGX_PutStr(body, (int)len, req->out);
}

static void reply_error(FCGX_Request *req, int status, const char *reason, const char *code)
{
    char body[160];

    snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, reason);
    reply(req, status, reason, body);
}

/* ---------------------------------------------------------------- database */

/* Connect and prepare this mode's statement; NULL on failure (logged). */
static PGconn *db_open(void)
{
    PGconn *pg = PQconnectdb(F.db);
    PGresult *res;

    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "floor: could not connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    if (F.mode == FW) {
        res = PQexec(pg, "SET synchronous_commit = on");
        PQclear(res);
    }
    res = PQprepare(pg, "s", F.mode == F1 ? F1_SQL : F.mode == F2 ? F2_SQL : FW_SQL, 1, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "floor: could not prepare: %s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(pg);
        return NULL;
    }
    PQclear(res);
    return pg;
}

/* Run the prepared statement with one parameter; a new result, or NULL (and
 * the connection is closed, to be reopened on the next request). */
static PGresult *db_run(PGconn **pg, const char *param)
{
    PGresult *res;
    ExecStatusType st;

    if (!*pg && !(*pg = db_open()))
        return NULL;
    res = PQexecPrepared(*pg, "s", 1, &param, NULL, NULL, 0);
    st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK)
        return res;
    fprintf(stderr, "floor: query failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    if (PQstatus(*pg) != CONNECTION_OK) {
        PQfinish(*pg);
        *pg = NULL;
    }
    return NULL;
}

/* ---------------------------------------------------------------- modes */

/* Copy the value of `name` from a query string into out; -1 if absent or too long. */
static int query_value(const char *qs, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name), n;

    while (qs && *qs) {
        if (!strncmp(qs, name, nlen) && qs[nlen] == '=') {
            qs += nlen + 1;
            n = strcspn(qs, "&");
            if (n == 0 || n >= outlen)
                return -1;
            memcpy(out, qs, n);
            out[n] = '\0';
            return 0;
        }
        qs = strchr(qs, '&');
        if (qs)
            qs++;
    }
    return -1;
}

static void serve_f1(FCGX_Request *req, PGconn **pg)
{
    char id[64];
    PGresult *res;

    if (query_value(FCGX_GetParam("QUERY_STRING", req->envp), "request_id", id, sizeof(id)) < 0) {
        reply_error(req, 400, "Bad Request", "invalid_request");
        return;
    }
    res = db_run(pg, id);
    if (!res) {
        reply_error(req, 503, "Service Unavailable", "database_unavailable");
        return;
    }
    if (PQntuples(res) == 0) {
        reply_error(req, 404, "Not Found", "request_not_found");
    } else {
        char body[160];

        snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"%s\"}", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
        reply(req, 200, "OK", body);
    }
    PQclear(res);
}

/* Read the body (at most MAX_BODY bytes) into a new NUL-terminated buffer; NULL if too long. */
static char *read_body(FCGX_Request *req)
{
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
    long want = cl ? strtol(cl, NULL, 10) : 0;
    char *buf;
    int len = 0, n;

    if (want < 0 || want > MAX_BODY)
        return NULL;
    buf = malloc((size_t)want + 1);
    if (!buf)
        abort();
    while (len < want && (n = FCGX_GetStr(buf + len, (int)want - len, req->in)) > 0)
        len += n;
    buf[len] = '\0';
    return buf;
}

static void serve_f2(FCGX_Request *req, PGconn **pg)
{
    char *text = read_body(req), body[64];
    PGresult *res;

    if (!text) {
        reply_error(req, 413, "Payload Too Large", "payload_too_large");
        return;
    }
    res = db_run(pg, text);
    free(text);
    if (!res) {
        reply_error(req, 503, "Service Unavailable", "database_unavailable");
        return;
    }
    snprintf(body, sizeof(body), "{\"success\":true,\"id\":%s}", PQgetvalue(res, 0, 0));
    reply(req, 200, "OK", body);
    PQclear(res);
}

/* ---------------------------------------------------------------- wake floor */

#define WAIT_BUCKETS 1024
#define WAIT_MAX_S 120

struct waiter {
    long long id;
    bool woken;
    pthread_cond_t cond;
    struct waiter *next;
};

static struct {
    pthread_mutex_t lock;
    struct waiter *bucket[WAIT_BUCKETS];
    pthread_mutex_t db_lock; /* decisions share one connection per worker */
    PGconn *db;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .db_lock = PTHREAD_MUTEX_INITIALIZER};

static struct waiter **wait_slot(long long id)
{
    return &W.bucket[(unsigned long long)id % WAIT_BUCKETS];
}

/* Wake every waiter on `id`; called by the listener. */
static void wake_id(long long id)
{
    pthread_mutex_lock(&W.lock);
    for (struct waiter *w = *wait_slot(id); w; w = w->next)
        if (w->id == id) {
            w->woken = true;
            pthread_cond_signal(&w->cond);
        }
    pthread_mutex_unlock(&W.lock);
}

/* Sleep until `id` is notified or WAIT_MAX_S pass; true when notified. */
static bool wait_for(long long id)
{
    struct waiter w = {.id = id}, **p;
    pthread_condattr_t ca;
    struct timespec until;
    bool woken;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &ca);
    pthread_condattr_destroy(&ca);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += WAIT_MAX_S;
    pthread_mutex_lock(&W.lock);
    w.next = *wait_slot(id);
    *wait_slot(id) = &w;
    while (!w.woken)
        if (pthread_cond_timedwait(&w.cond, &W.lock, &until) == ETIMEDOUT)
            break;
    for (p = wait_slot(id); *p != &w; p = &(*p)->next)
        ;
    *p = w.next;
    woken = w.woken;
    pthread_mutex_unlock(&W.lock);
    pthread_cond_destroy(&w.cond);
    return woken;
}

/* The listener thread: LISTEN on its own connection, wake waiters by payload. */
static void *listen_thread(void *arg)
{
    PGconn *pg = NULL;

    (void)arg;
    for (;;) {
        PGnotify *n;
        PGresult *res;
        struct pollfd pfd;

        if (!pg) {
            pg = PQconnectdb(F.db);
            res = PQexec(pg, "LISTEN bench_wake");
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "floor: LISTEN failed: %s", PQerrorMessage(pg));
                PQclear(res);
                PQfinish(pg);
                pg = NULL;
                sleep(1);
                continue;
            }
            PQclear(res);
        }
        pfd = (struct pollfd){.fd = PQsocket(pg), .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            abort();
        if (!PQconsumeInput(pg)) {
            fprintf(stderr, "floor: listener connection lost: %s", PQerrorMessage(pg));
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        while ((n = PQnotifies(pg))) {
            wake_id(strtoll(n->extra, NULL, 10));
            PQfreemem(n);
        }
    }
    return NULL;
}

/* GET ?wait=ID: until notified; POST ?decide=ID: decide and notify. */
static void serve_fw(FCGX_Request *req)
{
    const char *qs = FCGX_GetParam("QUERY_STRING", req->envp);
    char id[32], body[96];
    PGresult *res;

    if (query_value(qs, "wait", id, sizeof(id)) == 0) {
        bool woken = wait_for(strtoll(id, NULL, 10));

        snprintf(body, sizeof(body), "{\"id\":%lld,\"status\":\"%s\"}", strtoll(id, NULL, 10),
                 woken ? "completed" : "pending");
        reply(req, 200, "OK", body);
        return;
    }
    if (query_value(qs, "decide", id, sizeof(id)) < 0) {
        reply_error(req, 400, "Bad Request", "invalid_request");
        return;
    }
    pthread_mutex_lock(&W.db_lock);
    res = db_run(&W.db, id);
    pthread_mutex_unlock(&W.db_lock);
    if (!res) {
        reply_error(req, 503, "Service Unavailable", "database_unavailable");
        return;
    }
    if (PQntuples(res) == 0)
        reply_error(req, 409, "Conflict", "already_decided");
    else
        reply(req, 200, "OK", "{\"success\":true}");
    PQclear(res);
}

/* ---------------------------------------------------------------- worker */

static void *request_thread(void *arg)
{
    FCGX_Request req;
    PGconn *pg = NULL;

    (void)arg;
    if ((F.mode == F1 || F.mode == F2) && !(pg = db_open()))
        fprintf(stderr, "floor: thread starts without a connection; retrying per request\n");
    if (FCGX_InitRequest(&req, F.listen_fd, 0) != 0) {
        fprintf(stderr, "floor: could not initialise a FastCGI request\n");
        goto out;
    }
    for (;;) {
        int rc;

        pthread_mutex_lock(&F.accept_lock);
        rc = FCGX_Accept_r(&req);
        pthread_mutex_unlock(&F.accept_lock);
        if (rc < 0) {
            usleep(10000);
            continue;
        }
        switch (F.mode) {
        case F0:
            reply(&req, 200, "OK", "{\"ok\":true,\"floor\":\"f0\"}");
            break;
        case F1:
            serve_f1(&req, &pg);
            break;
        case F2:
            serve_f2(&req, &pg);
            break;
        case FW:
            serve_fw(&req);
            break;
        }
        FCGX_Finish_r(&req);
    }
out:
    PQfinish(pg);
    return NULL;
}

static int worker_main(void)
{
    pthread_attr_t attr;
    sigset_t set;
    int sig = 0, started = 0;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) {
        fprintf(stderr, "floor: could not initialise libfcgi\n");
        return 1;
    }
    /* Threads inherit this mask: signals go to the main thread's sigwait. */
    sigfillset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (F.mode == FW) {
        pthread_t t;

        /* Opened now, as f1 and f2 open theirs: a first decision pays no connect. */
        if (!(W.db = db_open()))
            fprintf(stderr, "floor: starting without a connection; retrying per decision\n");

        if (pthread_create(&t, &attr, listen_thread, NULL) != 0) {
            fprintf(stderr, "floor: could not start the listener\n");
            return 1;
        }
    }
    for (int i = 0; i < F.threads; i++) {
        pthread_t t;

        if (pthread_create(&t, &attr, request_thread, NULL) != 0)
            break;
        started++;
    }
    pthread_attr_destroy(&attr);
    if (started == 0) {
        fprintf(stderr, "floor: could not start any request thread\n");
        return 1;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigwait(&set, &sig);
    /* Nothing to drain: the floor keeps no state; in-flight requests are dropped. */
    return 0;
}

/* ---------------------------------------------------------------- master */

static int listen_unix(const char *path)
{
    struct sockaddr_un sun;
    int fd = -1;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "floor: socket path too long: %s\n", path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        goto fail;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0666) < 0 ||
        listen(fd, 1024) < 0)
        goto fail;
    return fd;
fail:
    fprintf(stderr, "floor: could not listen on %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The mode's table exists before any worker writes (concurrent CREATE ... IF NOT EXISTS can fail). */
static int create_table(const char *sql)
{
    PGconn *pg = PQconnectdb(F.db);
    PGresult *res = NULL;
    int rc = -1;

    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "floor: could not connect to the database: %s", PQerrorMessage(pg));
        goto out;
    }
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "floor: could not create its table: %s", PQresultErrorMessage(res));
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(pg);
    return rc;
}

/* A whole decimal number in [lo, hi], or -1. */
static int parse_count(const char *s, int lo, int hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    return (int)v;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: floor --socket PATH --mode f0|f1|f2|fw [--threads N] [--workers N]"
                " [--db CONNINFO]\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v)
            goto bad;
        i++;
        if (!strcmp(a, "--socket")) {
            F.socket = v;
        } else if (!strcmp(a, "--db")) {
            F.db = v;
        } else if (!strcmp(a, "--threads")) {
            F.threads = parse_count(v, 1, 4096);
        } else if (!strcmp(a, "--workers")) {
            F.workers = parse_count(v, 1, MAX_WORKERS);
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "f0"))
                F.mode = F0;
            else if (!strcmp(v, "f1"))
                F.mode = F1;
            else if (!strcmp(v, "f2"))
                F.mode = F2;
            else if (!strcmp(v, "fw"))
                F.mode = FW;
            else
                goto bad;
        } else {
            goto bad;
        }
    }
    if (!F.socket || F.threads < 1 || F.workers < 1)
        goto bad;
    return 0;
bad:
    usage(stderr);
    return -1;
}

int main(int argc, char **argv)
{
    pid_t kids[MAX_WORKERS] = {0};
    sigset_t set, old;
    int sig = 0, alive;

    if (parse_args(argc, argv) < 0)
        return 2;
    if ((F.mode == F2 || F.mode == FW) && create_table(F.mode == F2 ? F2_TABLE : FW_TABLE) < 0)
        return 1;
    F.listen_fd = listen_unix(F.socket);
    if (F.listen_fd < 0)
        return 1;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    for (int i = 0; i < F.workers; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(worker_main());
        if (kids[i] < 0) {
            fprintf(stderr, "floor: could not fork: %s\n", strerror(errno));
            kids[i] = 0;
        }
    }
    /* Run until told to stop, or until every worker has died. */
    for (alive = F.workers; alive > 0 && sig != SIGTERM && sig != SIGINT;) {
        pid_t pid;

        if (sigwait(&set, &sig) != 0)
            break;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            for (int i = 0; i < F.workers; i++)
                if (kids[i] == pid) {
                    kids[i] = 0;
                    alive--;
                }
    }
    for (int i = 0; i < F.workers; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGTERM);
    for (int i = 0; i < F.workers; i++)
        if (kids[i] > 0)
            waitpid(kids[i], NULL, 0);
    unlink(F.socket);
    close(F.listen_fd);
    return 0;
}
