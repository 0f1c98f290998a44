#!/usr/bin/env bash
# stack.sh - the local Loopgate stack: a private PostgreSQL cluster, the
# workers and nginx on 127.0.0.1:$SERVER_PORT, all under one directory.
#
#   stack.sh run     start everything, stay in the foreground, stop on Ctrl-C
#   stack.sh start   start everything in the background
#   stack.sh stop    stop everything that start/run started
#   stack.sh status  say what is running
#   stack.sh link    print a one-time admin link to the console (10 minutes)
#
# Environment: SERVER_PORT (8080), LOOPGATE_VAR (./var), LOOPGATE_BIN
# (build/loopgate), LOOPGATE_AUTH (off: the README's examples work as
# printed), LOOPGATE_CONFIG (conf/loopgate.conf), PG_OPTS (extra postgres -c
# settings), LOOPGATE_DB_NAME (loopgate: the database the workers use, created
# when missing), DB_URI (unset: a private PostgreSQL cluster in
# $LOOPGATE_VAR/pg; set: that database instead, migrated, and no cluster is
# started), LOOPGATE_MIGRATE_BIN ($LOOPGATE_BIN: the binary that migrates
# the database before the workers start; the previous-release test migrates
# with the new binary and serves with the old one), LOOPGATE_STACK_EXEC
# (unset; the container image sets `docker exec <container>`: its log is
# kept, so the banner makes neither an API key nor a console link and names
# the commands, with this in front, that make them). Data lives in
# $LOOPGATE_VAR/pg and survives a restart.
#
# start and run write $LOOPGATE_VAR/loopgate.conf: the config file (from
# $LOOPGATE_CONFIG) with the stack's own settings (db_uri, auth, socket,
# server_port) at its end. Every `loopgate` command run inside this
# checkout that is given no other config file reads it
# (config.h: --config, $LOOPGATE_CONFIG, /etc/loopgate/loopgate.conf, then
# var/loopgate.conf from the current directory upwards), with the
# environment over it as always. Secrets given in the environment
# (TELEGRAM_BOT_TOKEN and the like) are not written there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=${LOOPGATE_VAR:-$ROOT/var}
BIN=${LOOPGATE_BIN:-$ROOT/build/loopgate}
MIGRATE_BIN=${LOOPGATE_MIGRATE_BIN:-$BIN}
PORT=${SERVER_PORT:-8080}
SOCK=$VAR/run/loopgate.sock
PGDATA=$VAR/pg
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
DB_NAME=${LOOPGATE_DB_NAME:-loopgate}
[[ $DB_NAME =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "loopgate: LOOPGATE_DB_NAME must be a plain lower-case name" >&2; exit 1; }
# An explicit DB_URI names an existing PostgreSQL: use it, start no cluster.
# (Exported for the stack's processes only when it starts: `link` reads the
# database from $LOCAL_CONFIG, where the start wrote it.)
EXTERNAL_DB=${DB_URI:+1}
STACK_DB_URI=${DB_URI:-"host=$VAR/run port=5432 dbname=$DB_NAME user=loopgate"}
BASE_CONFIG=${LOOPGATE_CONFIG:-$ROOT/conf/loopgate.conf}
LOCAL_CONFIG=$VAR/loopgate.conf
if [[ -f $LOCAL_CONFIG ]]; then export LOOPGATE_CONFIG=$LOCAL_CONFIG; else export LOOPGATE_CONFIG=$BASE_CONFIG; fi
export LOOPGATE_AUTH=${LOOPGATE_AUTH:-off}
export LOOPGATE_SOCKET=$SOCK
export LOOPGATE_SOCKET_MODE=0660

say() { echo "loopgate: $*" >&2; }
die() { say "$*"; exit 1; }

# A connection string with its password hidden, for messages.
# DB_URI without its passwords: password= and sslpassword= (spaces around
# '=' allowed, a quoted value with \' escapes, a URI's query parameter),
# and a URI's user:password@.
masked() {
    sed -E "s/(password[[:space:]]*=[[:space:]]*)('([^'\\\\]|\\\\.)*'?|[^[:space:]&]*)/\1***/g; s#(://[^:/@]*):[^@/]*@#\1:***@#" <<<"$1"
}

# What the database is, in words, for the banner.
db_words() {
    if [[ -n $EXTERNAL_DB ]]; then echo "$(masked "$DB_URI") (DB_URI)"
    else echo "private PostgreSQL cluster in $PGDATA, database $DB_NAME"; fi
}

# $LOCAL_CONFIG: the base config, then the stack's settings (they win: a
# key given twice takes its last value). Readable by its owner alone: the
# base config or DB_URI may hold a secret.
write_config() {
    [[ -r $BASE_CONFIG ]] || die "cannot read the config file $BASE_CONFIG (LOOPGATE_CONFIG)"
    [[ $(realpath -m -- "$BASE_CONFIG") != "$(realpath -m -- "$LOCAL_CONFIG")" ]] ||
        die "LOOPGATE_CONFIG names the file the stack writes ($LOCAL_CONFIG); name the one it is made from (conf/loopgate.conf)"
    [[ $DB_URI != *$'\n'* && $DB_URI != *'"'* ]] || die "DB_URI must be one line without '\"'"
    mkdir -p "$VAR"
    (
        umask 077
        {
            echo "# loopgate local stack (written by src/stack.sh)"
            echo "# $BASE_CONFIG with the settings of the stack in $VAR after it; rewritten"
            echo "# at every start. loopgate commands run inside the checkout read it when"
            echo "# given no --config, LOOPGATE_CONFIG or /etc/loopgate/loopgate.conf."
            cat "$BASE_CONFIG"
            echo
            echo "# ---- the local stack"
            echo "db_uri = \"$DB_URI\""
            echo "auth = $LOOPGATE_AUTH"
            echo "socket = $SOCK"
            echo "socket_mode = 0660"
            echo "server_port = $PORT"
        } >"$LOCAL_CONFIG.tmp"
        mv -f "$LOCAL_CONFIG.tmp" "$LOCAL_CONFIG"
    )
}

# PostgreSQL refuses to run as root: as root the cluster belongs to 'postgres'.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The database: DB_URI's, migrated; or the private cluster, started,
# its database created when missing, migrated.
db_start() {
    if [[ -n $EXTERNAL_DB ]]; then
        say "using the database of DB_URI: $(masked "$DB_URI"); no private cluster is started"
        mkdir -p "$VAR/run" "$VAR/log"
        "$MIGRATE_BIN" migrate >/dev/null || die "could not migrate the database of DB_URI ($(masked "$DB_URI"))"
        return 0
    fi
    pg_start
}

pg_start() {
    [[ -n $PGBIN ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (run make deps)"
    mkdir -p "$VAR/run" "$VAR/log" "$PGDATA"
    chmod 755 "$VAR" "$VAR/run" "$VAR/log"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PGDATA" "$VAR/run"; touch "$VAR/log/postgresql.log"; chown postgres: "$VAR/log/postgresql.log"; fi
    if [[ ! -f $PGDATA/PG_VERSION ]]; then
        say "creating the database cluster in $PGDATA"
        as_pg "$PGBIN/initdb" -D "$PGDATA" -U loopgate -A trust -E UTF8 --no-locale >"$VAR/log/initdb.log" 2>&1 \
            || die "initdb failed; see $VAR/log/initdb.log"
    fi
    if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 30 -l "$VAR/log/postgresql.log" \
            -o "-k $VAR/run -c listen_addresses='' -p 5432 -c max_connections=200 ${PG_OPTS:-}" start >/dev/null \
            || die "PostgreSQL did not start; see $VAR/log/postgresql.log"
    fi
    if ! "$PGBIN/psql" -h "$VAR/run" -U loopgate -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1; then
        "$PGBIN/psql" -h "$VAR/run" -U loopgate -d postgres -qc "CREATE DATABASE $DB_NAME" >/dev/null
    fi
    "$MIGRATE_BIN" migrate >/dev/null || die "migration failed"
}

workers_start() {
    local fg=${1:-}
    rm -f "$SOCK"
    if [[ -n $fg ]]; then
        "$BIN" serve 2> >(tee -a "$VAR/log/loopgate.log" >&2) &
    else
        nohup "$BIN" serve >>"$VAR/log/loopgate.log" 2>&1 &
    fi
    echo $! >"$VAR/run/loopgate.pid"
    for _ in $(seq 100); do [[ -S $SOCK ]] && return 0; sleep 0.1; done
    die "the workers did not create $SOCK; see $VAR/log/loopgate.log"
}

# Without a public HTTPS address Telegram cannot call the webhook: fetch
# updates with getUpdates instead.
poller_start() {
    [[ -n ${TELEGRAM_BOT_TOKEN:-} && -z ${PUBLIC_URL:-} ]] || return 0
    nohup "$BIN" telegram poll >>"$VAR/log/telegram-poll.log" 2>&1 &
    echo $! >"$VAR/run/poller.pid"
}

nginx_start() {
    local user_line="" access="off"
    mkdir -p "$VAR/nginx/tmp" "$VAR/nginx/extra"
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    [[ -n ${LOOPGATE_ACCESS_LOG:-} ]] && access="$VAR/log/nginx-access.log"
    sed -e "s|@VAR@|$VAR|g" -e "s|@ROOT@|$ROOT|g" -e "s|@PORT@|$PORT|g" -e "s|@SOCKET@|$SOCK|g" \
        -e "s|@USER_LINE@|$user_line|g" -e "s|@ACCESS_LOG@|$access|g" \
        "$ROOT/nginx/loopgate-local.conf.in" >"$VAR/nginx/nginx.conf"
    nginx -q -t -p "$VAR/nginx" -c "$VAR/nginx/nginx.conf" -e "$VAR/log/nginx-error.log" 2>>"$VAR/log/nginx-error.log" \
        || die "nginx configuration test failed; see $VAR/log/nginx-error.log"
    nginx -p "$VAR/nginx" -c "$VAR/nginx/nginx.conf" -e "$VAR/log/nginx-error.log" \
        || die "nginx did not start (is port $PORT free? set SERVER_PORT); see $VAR/log/nginx-error.log"
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

wait_healthy() {
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "http://127.0.0.1:$PORT/health did not answer; see $VAR/log/"
}

# alive PID: the process runs. A process that has exited but that its parent
# has not reaped yet (a zombie) does not: nginx and the workers' master are
# daemons whose parent is PID 1, and an init that reaps slowly (as in some
# containers and VMs) would otherwise add seconds to every stop.
alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    read -r st <"/proc/$1/stat" 2>/dev/null || return 0
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

stop_pid() {   # stop_pid FILE SIGNAL SECONDS
    local f=$1 pid
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill "-$2" "$pid" 2>/dev/null || true
        for _ in $(seq $(($3 * 10))); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$f"
}

stop_all() {
    stop_pid "$VAR/run/nginx.pid" QUIT 10
    stop_pid "$VAR/run/poller.pid" TERM 15
    stop_pid "$VAR/run/loopgate.pid" TERM 15
    if [[ -f $PGDATA/postmaster.pid ]]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

start_all() {
    [[ -x $BIN ]] || die "$BIN is missing; run make"
    [[ -x $MIGRATE_BIN ]] || die "$MIGRATE_BIN is missing; run make"
    if [[ -f $VAR/run/nginx.pid ]] && alive "$(cat "$VAR/run/nginx.pid")"; then
        die "the stack in $VAR is already running; make stop first"
    fi
    port_busy && die "port $PORT on 127.0.0.1 is in use; stop what uses it or set SERVER_PORT"
    export DB_URI=$STACK_DB_URI
    write_config
    # The workers read the base config, the stack's settings coming from
    # the environment: a SIGHUP (kill -HUP of the master) re-reads the file
    # you edit, not the copy written above.
    export LOOPGATE_CONFIG=$BASE_CONFIG
    db_start
    workers_start "${1:-}"
    poller_start
    nginx_start
    wait_healthy
}

# A one-time admin link to the console for tenant 'default' (the tenant of
# requests without an API key while auth is off), valid 10 minutes.
console_link() {
    "$BIN" console link --tenant default --role admin --name admin --base "http://127.0.0.1:$PORT" 2>&1 \
        || echo "(could not make a link; run: make link)"
}

# The banner's console lines: a fresh link, or (LOOPGATE_STACK_EXEC) the
# command that prints one.
console_words() {
    if [[ -n ${LOOPGATE_STACK_EXEC:-} ]]; then
        echo "  Console: a one-time sign-in link as admin (it works once, for 10 minutes) from"
        echo "    $LOOPGATE_STACK_EXEC loopgate-entrypoint link"
        return 0
    fi
    echo "  Console (sign in as admin; the link works once, for 10 minutes;"
    echo "  'make link' prints another):"
    echo "    $(console_link)"
}

# This stack's id: 12 hex digits made at its first start and kept in
# $VAR/stack-id with its data. The banner's key is named after it, so that
# a start replaces only the key this stack made, also in a database that
# other stacks or a deployment use (DB_URI).
stack_id() {
    local f=$VAR/stack-id id=""
    [[ -f $f ]] && id=$(<"$f")
    if [[ ! $id =~ ^[0-9a-f]{12}$ ]]; then
        id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
        [[ $id =~ ^[0-9a-f]{12}$ ]] || die "could not make a stack id"
        echo "$id" >"$f.tmp" && mv -f "$f.tmp" "$f"
    fi
    echo "$id"
}

# With keys required, a key of tenant 'default' for the banner's curl lines,
# named local-stack-<stack id>: made anew at each start (this stack's
# previous one is revoked, no other key), shown once. Sets AUTH_H and
# KEY_NOTE.
banner_key() {
    local key name
    AUTH_H="" KEY_NOTE=""
    [[ $LOOPGATE_AUTH == required ]] || return 0
    if [[ -n ${LOOPGATE_STACK_EXEC:-} ]]; then
        AUTH_H=" -H 'Authorization: Bearer <key>'"
        KEY_NOTE="API keys are required. Make one (the command prints it, once) with
    $LOOPGATE_STACK_EXEC loopgate apikey create --name me --tenant default
  and put it in place of <key> below."
        return 0
    fi
    name=local-stack-$(stack_id)
    if key=$("$BIN" apikey create --name "$name" --tenant default --replace 2>/dev/null) &&
        [[ $key == lg_* ]]; then
        AUTH_H=" -H 'Authorization: Bearer $key'"
        KEY_NOTE="API key for tenant 'default', named $name (made for this run, shown once;
  this stack's key of the previous run is revoked):
    $key"
    else
        AUTH_H=" -H 'Authorization: Bearer <key>'"
        KEY_NOTE="API key: could not make one; make one with
    $BIN apikey create --name me --tenant default
  and put it in place of <key> below."
    fi
}

banner() {
    banner_key
    cat >&2 <<EOT

  Loopgate is running at http://127.0.0.1:$PORT  (data in $VAR)
  Database: $(db_words).
  Telegram: $(if [[ -z ${TELEGRAM_BOT_TOKEN:-} ]]; then echo "no TELEGRAM_BOT_TOKEN set: requests wait in the console (delivery state console)"; elif [[ -z ${PUBLIC_URL:-} ]]; then echo "polling for updates (no PUBLIC_URL)"; else echo "webhook at $PUBLIC_URL"; fi).
  Authentication is $LOOPGATE_AUTH for this local stack$([[ $LOOPGATE_AUTH == off ]] && echo ": requests without an API key act as tenant 'default'").
  loopgate commands run $([[ -n ${LOOPGATE_STACK_EXEC:-} ]] && echo "with $LOOPGATE_STACK_EXEC" || echo "in this checkout") use it (config $LOCAL_CONFIG).
$([[ -n $KEY_NOTE ]] && echo "  $KEY_NOTE")

$(console_words)

  Try: ask as an agent would,
    curl -X POST http://localhost:$PORT/hitl/register$AUTH_H -H 'Content-Type: application/json' \\
         -d '{"session_id":"test","client_id":"test","telegram_id":123456789}'
    curl -X POST http://localhost:$PORT/hitl/request$AUTH_H -H 'Content-Type: application/json' \\
         -d '{"session_id":"test","client_id":"test","message":"Test message"}'
    curl$AUTH_H http://localhost:$PORT/hitl/pending
  answer it: open $([[ -n ${LOOPGATE_STACK_EXEC:-} ]] && echo "a console link (the command above)" || echo "the console link above") and press Approve or Deny (or in Telegram),
  and read the answer as the agent does:
    curl$AUTH_H 'http://localhost:$PORT/hitl/poll?request_id=<request_id>&wait=60'

EOT
}

case ${1:-} in
run)
    trap 'stop_all; say "stopped"; exit 0' INT TERM
    trap 'stop_all' EXIT
    start_all fg
    banner
    say "press Ctrl-C to stop"
    wait "$(cat "$VAR/run/loopgate.pid")" || true
    ;;
start)
    start_all
    banner
    say "running in the background; 'make stop' stops it"
    ;;
stop)
    stop_all
    say "stopped"
    ;;
link)
    console_link
    ;;
status)
    for n in nginx loopgate poller; do
        if [[ -f $VAR/run/$n.pid ]] && alive "$(cat "$VAR/run/$n.pid")"; then
            say "$n running (pid $(cat "$VAR/run/$n.pid"))"
        else say "$n stopped"; fi
    done
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 && say "postgresql running" || say "postgresql stopped"
    ;;
*)
    echo "usage: $0 run|start|stop|status|link" >&2
    exit 2
    ;;
esac
