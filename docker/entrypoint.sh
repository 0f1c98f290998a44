#!/usr/bin/env bash
# entrypoint.sh - what the Loopgate image runs (under tini, as user loopgate).
#
#   auto      (the default) `stack` without DB_URI, `serve` with it
#   stack     the self-contained stack of src/stack.sh in the foreground: a
#             private PostgreSQL cluster in $LOOPGATE_VAR (/var/lib/loopgate,
#             a volume), the workers, `loopgate telegram poll` when
#             TELEGRAM_BOT_TOKEN is set without PUBLIC_URL, and nginx on
#             port $SERVER_PORT of every address of the container; keys
#             required (LOOPGATE_AUTH=off only with LOOPGATE_INSECURE_NO_AUTH=1);
#             its banner names the commands that make an API key and a
#             console link instead of printing either into the container's
#             log; stops cleanly on SIGTERM (docker stop)
#   serve     production: `loopgate migrate` (unless LOOPGATE_MIGRATE=false;
#             the migration takes an advisory lock, so replicas may start
#             together), then `loopgate serve` alone on $LOOPGATE_SOCKET
#             (/run/loopgate/loopgate.sock, a volume nginx shares; or
#             host:port for FastCGI over TCP). Refuses to start when another
#             loopgate answers on that socket (two containers on one socket
#             volume). With FCGI_WEB_SERVER_ADDRS set, 127.0.0.1 and ::1
#             are added to it: the HEALTHCHECK asks from there
#   nginx     nginx alone in front of `serve` containers: plain HTTP on
#             $SERVER_PORT, FastCGI to $LOOPGATE_SOCKET (a unix socket in the
#             shared volume, or host:port); TLS is for the proxy in front
#   link      in a running stack container (docker exec): a one-time admin
#             link to the console
#   anything else is run as given (`loopgate apikey create ...`)
#
# Configuration: the environment (`loopgate serve --help`), over a config
# file when one is mounted at /etc/loopgate/loopgate.conf (or named by
# LOOPGATE_CONFIG); the image has none of its own. In a stack container,
# `docker exec <container> loopgate ...` reads the stack's
# $LOOPGATE_VAR/loopgate.conf (its database) when no file is mounted there.
set -euo pipefail

STACK=/usr/share/loopgate/stack
BIN=${LOOPGATE_BIN:-/usr/bin/loopgate}

say() { echo "loopgate-entrypoint: $*" >&2; }
die() { say "$*"; exit 1; }

# The stack's base config: the mounted one, else none (an empty file).
stack_env() {
    if [[ -z ${LOOPGATE_CONFIG:-} ]]; then
        LOOPGATE_CONFIG=/dev/null
        [[ -e /etc/loopgate/loopgate.conf ]] && LOOPGATE_CONFIG=/etc/loopgate/loopgate.conf
    fi
    export LOOPGATE_CONFIG
    export LOOPGATE_VAR=${LOOPGATE_VAR:-/var/lib/loopgate}
    export LOOPGATE_BIN=$BIN
}

run_stack() {
    stack_env
    [[ -w $LOOPGATE_VAR ]] || die "$LOOPGATE_VAR is not writable by $(id -un); the stack keeps its database there"
    # nginx answers on every address of the container (a published port
    # reaches it there): keys are required unless it is asked for twice.
    case ${LOOPGATE_AUTH:=required} in
    required) ;;
    off)
        [[ ${LOOPGATE_INSECURE_NO_AUTH:-} == 1 ]] ||
            die "LOOPGATE_AUTH=off refused: nginx answers on every address of this container, and without keys" \
                "anyone who reaches its port submits requests to your Telegram chat and reads every agent's." \
                "Keep keys (make one: docker exec <container> loopgate apikey create --name me --tenant default)," \
                "or add LOOPGATE_INSECURE_NO_AUTH=1 and publish the port on loopback only (-p 127.0.0.1:8080:8080)"
        say "WARNING: keys are off (LOOPGATE_AUTH=off, LOOPGATE_INSECURE_NO_AUTH=1): whoever reaches port" \
            "${SERVER_PORT:-8080} of this container acts as tenant 'default'"
        ;;
    *) die "LOOPGATE_AUTH must be required or off" ;;
    esac
    export LOOPGATE_AUTH
    # The container's log is kept (docker logs, log shippers): the banner
    # names the commands that make a key and a console link instead.
    export LOOPGATE_STACK_EXEC="docker exec <container>"
    # Pid files a killed container left in the volume name nothing of this
    # one (a container starts with no process of the stack running).
    rm -f "$LOOPGATE_VAR/run/nginx.pid" "$LOOPGATE_VAR/run/loopgate.pid" "$LOOPGATE_VAR/run/poller.pid"
    "$STACK/src/stack.sh" run &
    watch_stack $!
}

# alive PID NAME: the process runs (a zombie does not) and is NAME.
alive() {
    local st comm
    read -r st <"/proc/$1/stat" 2>/dev/null || return 1
    read -r comm <"/proc/$1/comm" 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st%% *} != Z && $comm == "$2" ]]
}

# watch_stack PID: wait for the stack (src/stack.sh run, PID); docker stop
# (SIGTERM) stops it. Once it answers, its parts are watched: when
# PostgreSQL, nginx or the Telegram poller dies, or the workers' master
# ends, the whole stack is stopped and the container exits 1, so that its
# restart policy starts it again (a part dying is not left to a health
# status that nothing acts on).
watch_stack() {
    local stack=$1 stopping="" up="" name pid file dead=""
    local -A watched=()
    trap 'stopping=1; kill -TERM "$stack" 2>/dev/null || true' TERM INT
    while [[ -z $dead ]] && kill -0 "$stack" 2>/dev/null; do
        sleep 2 &
        wait $! || true
        [[ -n $stopping ]] && continue
        if [[ -z $up ]]; then
            curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${SERVER_PORT:-8080}/livez" 2>/dev/null || continue
            # Up: every pid file is this start's. A part that is not running
            # now (no poller without TELEGRAM_BOT_TOKEN) is not watched.
            up=1
            for file in postgres:pg/postmaster.pid nginx:run/nginx.pid loopgate:run/poller.pid; do
                name=${file%%:*} pid=""
                read -r pid <"$LOOPGATE_VAR/${file#*:}" 2>/dev/null || true
                [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" "$name" && watched[$pid]=$name
            done
            continue
        fi
        for pid in "${!watched[@]}"; do
            alive "$pid" "${watched[$pid]}" && continue
            dead="${watched[$pid]} (pid $pid)"
            break
        done
    done
    if [[ -n $dead ]]; then
        say "$dead has died: stopping the stack; the container exits for its restart policy"
        kill -TERM "$stack" 2>/dev/null || true
    fi
    while kill -0 "$stack" 2>/dev/null; do wait "$stack" || true; done
    [[ -z $stopping ]] && { [[ -n $dead ]] || say "the stack ended (the workers' master stopped)"; exit 1; }
    exit 0
}

# Does a server accept connections on the unix socket PATH?
socket_answers() {
    perl -MSocket=AF_UNIX,SOCK_STREAM,pack_sockaddr_un -e \
        'socket(my $s, AF_UNIX, SOCK_STREAM, 0) or exit 2; exit(connect($s, pack_sockaddr_un($ARGV[0])) ? 0 : 1)' "$1"
}

run_serve() {
    local sock=${LOOPGATE_SOCKET:-/run/loopgate/loopgate.sock}
    # A socket some other master accepts on (a second container on the same
    # socket volume) is not taken over; one left by a container that was
    # killed is replaced by `serve`.
    if [[ $sock == /* && -S $sock ]] && socket_answers "$sock"; then
        die "another loopgate serves on $sock (a second container on the same socket volume?);" \
            "give each serve container a socket volume of its own (docs/DEPLOYMENT.md, \"The container image\")"
    fi
    # The HEALTHCHECK asks the workers from 127.0.0.1 or ::1 (healthcheck.sh):
    # with a list of nginx addresses set, those must be on it.
    if [[ $sock != /* && -n ${FCGI_WEB_SERVER_ADDRS:-} ]]; then
        local lo added=""
        for lo in 127.0.0.1 ::1; do
            [[ ,$FCGI_WEB_SERVER_ADDRS, == *,$lo,* ]] && continue
            FCGI_WEB_SERVER_ADDRS=$FCGI_WEB_SERVER_ADDRS,$lo
            added+=" $lo"
        done
        export FCGI_WEB_SERVER_ADDRS
        if [[ -n $added ]]; then
            say "FCGI_WEB_SERVER_ADDRS=$FCGI_WEB_SERVER_ADDRS (added${added}: the HEALTHCHECK asks from there)"
        fi
    fi
    case ${LOOPGATE_MIGRATE:-true} in
    true | 1 | yes) "$BIN" migrate || die "could not migrate the database of DB_URI" ;;
    false | 0 | no) ;;
    *) die "LOOPGATE_MIGRATE must be true or false" ;;
    esac
    exec "$BIN" serve
}

run_nginx() {
    local var=${LOOPGATE_NGINX_VAR:-/tmp/loopgate-nginx} sock=${LOOPGATE_SOCKET:-/run/loopgate/loopgate.sock}
    local port=${SERVER_PORT:-8080} access=off upstream
    [[ $port =~ ^[0-9]{1,5}$ ]] && ((10#$port >= 1 && 10#$port <= 65535)) || die "SERVER_PORT must be a port number (1-65535)"
    local bad='[^][A-Za-z0-9_./:-]'
    [[ -n $sock && ! $sock =~ $bad ]] || die "LOOPGATE_SOCKET must be a path or host:port"
    [[ $var == /* && ! $var =~ $bad && $var != *:* ]] || die "LOOPGATE_NGINX_VAR must be an absolute path of letters, digits and _ . / -"
    if [[ $sock == /* ]]; then upstream="unix:$sock"; else upstream=$sock; fi
    [[ -n ${LOOPGATE_ACCESS_LOG:-} ]] && access=/dev/stdout
    mkdir -p "$var/nginx/tmp" "$var/nginx/extra" "$var/run" "$var/log"
    ln -sf /dev/stderr "$var/log/nginx-error.log"
    sed -e "s|@VAR@|$var|g" -e "s|@ROOT@|$STACK|g" -e "s|@PORT@|$port|g" \
        -e "s|unix:@SOCKET@|$upstream|g" -e "s|@USER_LINE@||g" -e "s|@ACCESS_LOG@|$access|g" \
        "$STACK/nginx/loopgate-local.conf.in" >"$var/nginx.conf"
    exec nginx -p "$var" -c "$var/nginx.conf" -e /dev/stderr -g 'daemon off;'
}

mode=${1:-auto}
case $mode in
auto)
    if [[ -n ${DB_URI:-} ]]; then run_serve; else run_stack; fi
    ;;
stack) run_stack ;;
serve)
    [[ -n ${DB_URI:-} ]] || die "serve needs DB_URI (the PostgreSQL to use); without it, run the image as it is for the self-contained stack"
    run_serve
    ;;
nginx) run_nginx ;;
link)
    stack_env
    exec "$STACK/src/stack.sh" link
    ;;
*) exec "$@" ;;
esac
