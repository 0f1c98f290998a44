#!/usr/bin/env bash
# entrypoint.sh - what the Loopgate image runs (under tini, as user loopgate).
#
#   auto      (the default) `stack` without DB_URI, `serve` with it
#   stack     the self-contained stack of src/stack.sh in the foreground: a
#             private PostgreSQL cluster in $LOOPGATE_VAR (/var/lib/loopgate,
#             a volume), the workers, `loopgate telegram poll` when
#             TELEGRAM_BOT_TOKEN is set without PUBLIC_URL, and nginx on
#             port $SERVER_PORT; stops cleanly on SIGTERM (docker stop)
#   serve     production: `loopgate migrate` (unless LOOPGATE_MIGRATE=false;
#             the migration takes an advisory lock, so replicas may start
#             together), then `loopgate serve` alone on $LOOPGATE_SOCKET
#             (/run/loopgate/loopgate.sock, a volume nginx shares; or
#             host:port for FastCGI over TCP)
#   nginx     nginx alone in front of `serve` containers: plain HTTP on
#             $SERVER_PORT, FastCGI to $LOOPGATE_SOCKET (a unix socket in the
#             shared volume, or host:port); TLS is for the proxy in front
#   link      in a running stack container (docker exec): a one-time admin
#             link to the console
#   anything else is run as given (`loopgate apikey create ...`)
#
# Configuration: /etc/loopgate/loopgate.conf (mount your own, or set
# LOOPGATE_CONFIG) under the environment (`loopgate serve --help`).
set -euo pipefail

STACK=/usr/share/loopgate/stack
BIN=${LOOPGATE_BIN:-/usr/bin/loopgate}

say() { echo "loopgate-entrypoint: $*" >&2; }
die() { say "$*"; exit 1; }

stack_env() {
    export LOOPGATE_CONFIG=${LOOPGATE_CONFIG:-/etc/loopgate/loopgate.conf}
    export LOOPGATE_VAR=${LOOPGATE_VAR:-/var/lib/loopgate}
    export LOOPGATE_BIN=$BIN
}

run_stack() {
    stack_env
    [[ -w $LOOPGATE_VAR ]] || die "$LOOPGATE_VAR is not writable by $(id -un); the stack keeps its database there"
    exec "$STACK/src/stack.sh" run
}

run_serve() {
    local sock=${LOOPGATE_SOCKET:-}
    case ${LOOPGATE_MIGRATE:-true} in
    true | 1 | yes) "$BIN" migrate || die "could not migrate the database of DB_URI" ;;
    false | 0 | no) ;;
    *) die "LOOPGATE_MIGRATE must be true or false" ;;
    esac
    # A socket left by a container that was killed: the new master binds anew.
    [[ $sock == /* && -S $sock ]] && rm -f "$sock"
    exec "$BIN" serve
}

run_nginx() {
    local var=${LOOPGATE_NGINX_VAR:-/tmp/loopgate-nginx} sock=${LOOPGATE_SOCKET:-/run/loopgate/loopgate.sock}
    local port=${SERVER_PORT:-8080} access=off upstream
    [[ $port =~ ^[0-9]{1,5}$ ]] || die "SERVER_PORT must be a port number"
    local bad='[^][A-Za-z0-9_./:-]'
    [[ -n $sock && ! $sock =~ $bad ]] || die "LOOPGATE_SOCKET must be a path or host:port"
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
