#!/usr/bin/env bash
# configs.sh - check the configuration files Loopgate ships.
#
#   tests/configs.sh
#
# 1. nginx/loopgate.conf (production site) passes `nginx -t` once its
#    certificate and include paths point at a throwaway directory with a
#    self-signed certificate; no upstream has `keepalive` and the FastCGI
#    include turns fastcgi_keep_conn off (the parked-request pitfall).
# 2. nginx/loopgate-local.conf.in, rendered the way src/stack.sh renders it,
#    passes `nginx -t`.
# 3. systemd/ (loopgate.socket, loopgate.service, loopgate-telegram-poll.service)
#    passes `systemd-analyze verify` (skipped when systemd-analyze is missing)
#    and keeps its hardening and the paths the other files use.
# 4. `make install` into a throwaway DESTDIR (PREFIX=/usr and the default):
#    the tree, the installed units' ExecStart and the site's console alias
#    and includes point at installed files; a second install keeps an edited
#    config and site; `make uninstall` leaves only those.
# 5. build/loopgate parses its arguments and conf/loopgate.conf.
#
# Nothing is started: `nginx -t` opens no socket. Prints one `ok - ...` or
# `not ok - ...` line per check, then `configs: N passed, N failed, N skipped`;
# exits 1 if any check failed. Environment: LOOPGATE_BIN (build/loopgate).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${LOOPGATE_BIN:-$ROOT/build/loopgate}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/loopgate-configs.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
export PATH=$PATH:/usr/sbin:/sbin   # nginx lives in /usr/sbin on Debian

passed=0 failed=0 skipped=0
OUT=$TMP/out   # output of the last command run by `check`

pass() { echo "ok - $*"; passed=$((passed + 1)); }
skip() { echo "ok - $*"; skipped=$((skipped + 1)); }
fail() {
    echo "not ok - $*"
    failed=$((failed + 1))
    [[ -s $OUT ]] && sed 's/^/#   /' "$OUT"
    : >"$OUT"
}

# check DESCRIPTION COMMAND...: one line for the command's exit status; on
# failure the command's output follows as `#` lines.
check() {
    local what=$1
    shift
    if "$@" >"$OUT" 2>&1; then pass "$what"; else fail "$what"; fi
    : >"$OUT"
}

# has FILE REGEX DESCRIPTION: FILE has a line (comments aside) matching REGEX.
has() {
    if sed 's/#.*//' "$1" | grep -Eq "$2"; then pass "$3"; else fail "$3"; fi
}
hasnt() {
    if sed 's/#.*//' "$1" | grep -Eq "$2"; then fail "$3"; else pass "$3"; fi
}

# upstream_blocks FILE: the upstream { ... } blocks of an nginx file, comments
# stripped.
upstream_blocks() {
    sed 's/#.*//' "$1" | awk '
        !inside && /^[ \t]*upstream[ \t]/ { inside = 1; outer = depth }
        inside { print }
        { n = gsub(/\{/, "{"); m = gsub(/\}/, "}"); depth += n - m }
        inside && m && depth <= outer { inside = 0 }'
}

no_upstream_keepalive() {   # FILE DESCRIPTION
    local blocks
    blocks=$(upstream_blocks "$1")
    if [[ -z $blocks ]]; then
        fail "$2 (no upstream block found)"
    elif grep -Eq '(^|[ \t;{])keepalive([ \t;]|$)' <<<"$blocks"; then
        grep -E 'keepalive' <<<"$blocks" >"$OUT"
        fail "$2"
    else
        pass "$2"
    fi
}

# ---------------------------------------------------------------- nginx
NGINX=$(command -v nginx || true)
SITE=$ROOT/nginx/loopgate.conf
FCGI=$ROOT/nginx/loopgate-fastcgi.conf
LOCAL_IN=$ROOT/nginx/loopgate-local.conf.in

prod_nginx_t() {
    local d=$TMP/prod
    mkdir -p "$d/tls" "$d/tmp" || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj /CN=hitl.example.com -keyout "$d/tls/privkey.pem" -out "$d/tls/fullchain.pem" \
        >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log"; return 1; }
    cp "$ROOT/nginx/loopgate-errors.conf" "$ROOT/nginx/loopgate-fastcgi.conf" "$d/" || return 1
    # `nginx -t` binds every listen address (and shrugs only at one in use):
    # move the ports above 1024 so the check also runs unprivileged, onto
    # loopback, and drop the IPv6 lines where this machine has no ::1.
    local v6='s|^\([ \t]*listen[ \t]*\)\[::\]:|\1[::1]:|'
    grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null || v6='/^[ \t]*listen[ \t]*\[/d'
    sed -e "s|/etc/loopgate/tls/|$d/tls/|g" -e "s|/etc/nginx/loopgate-|$d/loopgate-|g" \
        -e 's|^\([ \t]*listen[ \t]*\)80\([ ;]\)|\1127.0.0.1:18080\2|' \
        -e 's|^\([ \t]*listen[ \t]*\)443\([ ;]\)|\1127.0.0.1:18443\2|' \
        -e 's|^\([ \t]*listen[ \t]*\[::\]:\)80\([ ;]\)|\118080\2|' \
        -e 's|^\([ \t]*listen[ \t]*\[::\]:\)443\([ ;]\)|\118443\2|' \
        -e "$v6" "$SITE" >"$d/site.conf" || return 1
    cat >"$d/nginx.conf" <<EOF
pid $d/nginx.pid;
error_log $d/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    fastcgi_temp_path     $d/tmp/fastcgi;
    proxy_temp_path       $d/tmp/proxy;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;
    include $d/site.conf;
}
EOF
    if grep -n '/etc/' "$d/site.conf" | grep -v '^[0-9]*:[ \t]*#'; then
        echo "paths above were not rewritten into $d"
        return 1
    fi
    "$NGINX" -t -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
}

# The same substitutions as nginx_start in src/stack.sh.
local_nginx_t() {
    local var=$TMP/local/var user_line=""
    mkdir -p "$var/nginx/tmp" "$var/log" "$var/run" || return 1
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    sed -e "s|@VAR@|$var|g" -e "s|@ROOT@|$ROOT|g" -e "s|@PORT@|18080|g" \
        -e "s|@SOCKET@|$var/run/loopgate.sock|g" -e "s|@USER_LINE@|$user_line|g" \
        -e "s|@ACCESS_LOG@|off|g" "$LOCAL_IN" >"$var/nginx/nginx.conf" || return 1
    if grep -n '@[A-Z_]*@' "$var/nginx/nginx.conf"; then
        echo "placeholders above are left after rendering"
        return 1
    fi
    "$NGINX" -t -p "$var/nginx" -c "$var/nginx/nginx.conf" -e "$var/log/nginx-error.log"
}

# Every @PLACEHOLDER@ of the template is one that src/stack.sh fills in.
stack_fills_template() {
    local want have
    want=$(grep -o '@[A-Z_]*@' "$LOCAL_IN" | sort -u)
    have=$(sed -n '/^nginx_start()/,/^}/p' "$ROOT/src/stack.sh" | grep -o 's|@[A-Z_]*@|' |
        tr -d 's|' | sort -u)
    comm -23 <(echo "$want") <(echo "$have") >"$TMP/missing"
    if [[ -s $TMP/missing ]]; then
        echo "not substituted by src/stack.sh:"
        cat "$TMP/missing"
        return 1
    fi
}

if [[ -z $NGINX ]]; then
    fail "nginx not found (tests/deps.sh installs it)"
elif ! command -v openssl >/dev/null; then
    fail "openssl not found (tests/deps.sh installs it)"
else
    check "nginx -t accepts nginx/loopgate.conf (production site, throwaway certificate)" prod_nginx_t
fi
no_upstream_keepalive "$SITE" "nginx/loopgate.conf: no keepalive in the upstream block"
has "$FCGI" '^[ \t]*fastcgi_keep_conn[ \t]+off[ \t]*;' \
    "nginx/loopgate-fastcgi.conf: fastcgi_keep_conn off"
hasnt "$FCGI" '^[ \t]*fastcgi_keep_conn[ \t]+on' \
    "nginx/loopgate-fastcgi.conf: fastcgi_keep_conn is never turned on"
for f in "$SITE" "$LOCAL_IN"; do
    hasnt "$f" 'fastcgi_keep_conn[ \t]+on' "nginx/${f##*/}: does not turn fastcgi_keep_conn on"
done

check "src/stack.sh fills in every placeholder of nginx/loopgate-local.conf.in" stack_fills_template
if [[ -n $NGINX ]]; then
    check "nginx -t accepts nginx/loopgate-local.conf.in rendered like src/stack.sh" local_nginx_t
fi
no_upstream_keepalive "$LOCAL_IN" "nginx/loopgate-local.conf.in: no keepalive in the upstream block"

# ---------------------------------------------------------------- systemd
SERVICE=$ROOT/systemd/loopgate.service
SOCKET=$ROOT/systemd/loopgate.socket
SYSUSERS=$ROOT/systemd/loopgate.sysusers.conf
POLLER=$ROOT/systemd/loopgate-telegram-poll.service

# systemd-analyze verify wants ExecStart's binary to exist: point the copies
# at the built one.
units_copy() {
    mkdir -p "$TMP/units" &&
        sed "s|/usr/bin/loopgate|$BIN|g" "$SERVICE" >"$TMP/units/loopgate.service" &&
        sed "s|/usr/bin/loopgate|$BIN|g" "$POLLER" >"$TMP/units/loopgate-telegram-poll.service" &&
        cp "$SOCKET" "$TMP/units/loopgate.socket"
}

verify_units() {
    units_copy || return 1
    systemd-analyze verify --man=no "$TMP/units/loopgate.socket" "$TMP/units/loopgate.service" \
        "$TMP/units/loopgate-telegram-poll.service"
}

# verify only warns about misspelt settings; a misspelt hardening line would
# silently drop that protection, so warnings of that kind fail here.
verify_no_unknown_settings() {
    units_copy || return 1
    systemd-analyze verify --man=no "$TMP/units/loopgate.socket" "$TMP/units/loopgate.service" \
        "$TMP/units/loopgate-telegram-poll.service" >"$TMP/verify" 2>&1
    if grep -E 'Unknown (key|section|lvalue)|Failed to parse|Invalid ' "$TMP/verify"; then
        return 1
    fi
}

if command -v systemd-analyze >/dev/null; then
    if [[ -x $BIN ]]; then
        check "systemd-analyze verify systemd/loopgate.socket, loopgate.service, loopgate-telegram-poll.service" verify_units
        check "systemd-analyze verify: no unknown or unparsable settings" verify_no_unknown_settings
    else
        fail "systemd-analyze verify needs $BIN; run make"
    fi
else
    skip "systemd-analyze not installed; skipped"
fi
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$TMP/sysroot"
    check "systemd-sysusers --dry-run accepts systemd/loopgate.sysusers.conf" \
        systemd-sysusers --root="$TMP/sysroot" --dry-run - <"$SYSUSERS"
else
    skip "systemd-sysusers not installed; skipped"
fi

has "$SERVICE" '^NoNewPrivileges=yes$' "loopgate.service: NoNewPrivileges=yes"
has "$SERVICE" '^ProtectSystem=strict$' "loopgate.service: ProtectSystem=strict"
has "$SERVICE" '^PrivateTmp=yes$' "loopgate.service: PrivateTmp=yes"
has "$SERVICE" '^User=loopgate$' "loopgate.service: User=loopgate"
has "$SERVICE" '^CapabilityBoundingSet=$' "loopgate.service: no capabilities"
has "$SERVICE" '^SystemCallFilter=@system-service$' "loopgate.service: SystemCallFilter=@system-service"
has "$SERVICE" '^ExecStartPre=/usr/bin/loopgate migrate( |$)' "loopgate.service: ExecStartPre migrates"
has "$SERVICE" '^ExecStart=/usr/bin/loopgate serve( |$)' "loopgate.service: ExecStart serves"
has "$SERVICE" '^EnvironmentFile=-?/etc/loopgate/secrets.env$' "loopgate.service: secrets from an EnvironmentFile"
has "$SERVICE" '^Requires=(.* )?loopgate\.socket( |$)' "loopgate.service: Requires=loopgate.socket"
hasnt "$SERVICE" '^DynamicUser=(yes|true|on|1)' "loopgate.service: no DynamicUser (the socket belongs to user loopgate)"
hasnt "$SERVICE" '^RuntimeDirectory=' "loopgate.service: no RuntimeDirectory (it would delete the socket on stop)"

# The master gives workers shutdown_timeout + 3 s; systemd must wait longer.
stop_timeout_fits() {
    local stop conf
    stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$SERVICE")
    conf=$(sed -n 's/^shutdown_timeout[ \t]*=[ \t]*\([0-9]*\).*/\1/p' "$ROOT/conf/loopgate.conf")
    echo "TimeoutStopSec=${stop:-?} shutdown_timeout=${conf:-?}"
    [[ -n $stop && -n $conf ]] && ((stop > conf + 3))
}
check "loopgate.service: TimeoutStopSec exceeds shutdown_timeout + 3 s" stop_timeout_fits

# The poller: the same sandbox and identity, and the command that polls.
for line in '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' '^PrivateTmp=yes$' \
    '^User=loopgate$' '^CapabilityBoundingSet=$' '^SystemCallFilter=@system-service$' \
    '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$' '^MemoryDenyWriteExecute=yes$' \
    '^EnvironmentFile=-?/etc/loopgate/secrets.env$' '^Restart=on-failure$'; do
    has "$POLLER" "$line" "loopgate-telegram-poll.service: ${line//[\^\$]/}"
done
has "$POLLER" '^ExecStart=/usr/bin/loopgate telegram poll --config /etc/loopgate/loopgate.conf$' \
    "loopgate-telegram-poll.service: ExecStart polls with the service's config"
hasnt "$POLLER" '^(Requires|BindsTo)=.*loopgate\.socket' \
    "loopgate-telegram-poll.service: needs no FastCGI socket"

has "$SOCKET" '^ListenStream=/' "loopgate.socket: ListenStream"
has "$SOCKET" '^SocketUser=loopgate$' "loopgate.socket: SocketUser=loopgate"
has "$SOCKET" '^SocketMode=0?660$' "loopgate.socket: SocketMode=0660"

# One socket path in the socket unit, the nginx site and the config file.
socket_paths_agree() {
    local unit site conf
    unit=$(sed -n 's/^ListenStream=//p' "$SOCKET")
    site=$(sed 's/#.*//' "$SITE" | sed -n 's/^[ \t]*server[ \t]\{1,\}unix:\([^ ;]*\).*/\1/p')
    conf=$(sed -n 's/^socket[ \t]*=[ \t]*//p' "$ROOT/conf/loopgate.conf")
    echo "socket unit: $unit; nginx site: $site; config: $conf"
    [[ -n $unit && $unit == "$site" && $unit == "$conf" ]]
}
check "socket path agrees in loopgate.socket, nginx/loopgate.conf, conf/loopgate.conf" socket_paths_agree

# ---------------------------------------------------------------- make install
# `make install DESTDIR=... PREFIX=...` puts every file where the units and
# the nginx site it installs look for it; a second install keeps the edited
# config and site; `make uninstall` removes the rest and keeps those.
INST=$TMP/inst

# installed_paths_agree DESTDIR: the installed units' Exec lines name the
# installed binary, the site's console alias holds the installed pages, its
# includes exist.
installed_paths_agree() {
    local d=$1 units bin alias inc n=0
    units=$(find "$d" -path '*/lib/systemd/system/*' -type f)
    [[ $(wc -l <<<"$units") -eq 3 ]] || { echo "units: $units"; return 1; }
    for bin in $(sed -n 's/^ExecStart\(Pre\)\{0,1\}=\([^ ]*\).*/\2/p' $units | sort -u); do
        echo "Exec: $bin"
        [[ -x $d$bin && $bin == /* ]] || { echo "$d$bin is not the installed binary"; return 1; }
        n=$((n + 1))
    done
    ((n == 1)) || { echo "the units name $n binaries"; return 1; }
    alias=$(sed -n 's/^[ \t]*alias[ \t]\{1,\}\([^;]*\);.*/\1/p' "$d/etc/nginx/sites-available/loopgate.conf")
    echo "alias: $alias"
    [[ -f $d${alias}index.html && -f $d${alias}js/main.js ]] || { echo "no console at $d$alias"; return 1; }
    for inc in $(sed 's/#.*//' "$d/etc/nginx/sites-available/loopgate.conf" |
        sed -n 's/^[ \t]*include[ \t]\{1,\}\([^;]*\);.*/\1/p' | sort -u); do
        [[ -f $d$inc ]] || { echo "include $inc is not installed"; return 1; }
    done
}

make_install() {   # DESTDIR [VAR=VALUE...]
    local d=$1
    shift
    # Not the flags of a `make check` this runs under (SAN=1 would install build/san).
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" --no-print-directory install \
        DESTDIR="$d" "$@"
}

install_usr() {
    make_install "$INST/usr" PREFIX=/usr || return 1
    local d=$INST/usr f
    for f in usr/bin/loopgate usr/lib/systemd/system/loopgate.service \
        usr/lib/systemd/system/loopgate.socket usr/lib/systemd/system/loopgate-telegram-poll.service \
        usr/lib/sysusers.d/loopgate.conf etc/loopgate/loopgate.conf \
        etc/nginx/sites-available/loopgate.conf etc/nginx/loopgate-errors.conf \
        etc/nginx/loopgate-fastcgi.conf usr/share/loopgate/www/index.html \
        usr/share/doc/loopgate/README.md usr/share/doc/loopgate/docs/OPERATIONS.md \
        usr/share/doc/loopgate/examples/loopgate.conf; do
        [[ -f $d/$f ]] || { echo "missing: $f"; return 1; }
    done
    [[ $(stat -c %a "$d/etc/loopgate/loopgate.conf") == 640 ]] || { echo "config not 0640"; return 1; }
    [[ $(stat -c %a "$d/etc/loopgate") == 750 ]] || { echo "/etc/loopgate not 0750"; return 1; }
    cmp "$d/usr/bin/loopgate" "$ROOT/build/loopgate" || return 1
    installed_paths_agree "$d" || return 1
    grep -q '^ExecStart=/usr/bin/loopgate serve --config /etc/loopgate/loopgate.conf$' \
        "$d/usr/lib/systemd/system/loopgate.service" || { echo "ExecStart changed"; return 1; }
    grep -q 'alias /usr/share/loopgate/www/;' "$d/etc/nginx/sites-available/loopgate.conf"
}

install_keeps_edits() {
    local d=$INST/usr
    echo 'log_level = debug   # edited' >>"$d/etc/loopgate/loopgate.conf"
    sed -i 's/hitl.example.com/gate.example.org/' "$d/etc/nginx/sites-available/loopgate.conf"
    make_install "$d" PREFIX=/usr || return 1
    grep -q '^log_level = debug   # edited$' "$d/etc/loopgate/loopgate.conf" || { echo "config replaced"; return 1; }
    grep -q 'gate.example.org' "$d/etc/nginx/sites-available/loopgate.conf" || { echo "site replaced"; return 1; }
}

install_uninstall() {
    local d=$INST/usr left
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" --no-print-directory uninstall \
        DESTDIR="$d" PREFIX=/usr || return 1
    left=$(cd "$d" && find . -type f | sort)
    echo "left: $left"
    [[ $left == $'./etc/loopgate/loopgate.conf\n./etc/nginx/sites-available/loopgate.conf' ]]
}

# The default prefix: the units and the site follow it.
install_local() {
    make_install "$INST/local" || return 1
    [[ -x $INST/local/usr/local/bin/loopgate ]] || return 1
    installed_paths_agree "$INST/local"
}

installed_site_nginx_t() {
    SITE=$INST/local/etc/nginx/sites-available/loopgate.conf prod_nginx_t
}

if command -v make >/dev/null && [[ -x $ROOT/build/loopgate ]]; then
    check "make install DESTDIR PREFIX=/usr: the tree, ExecStart and the console alias agree" install_usr
    check "make install again keeps the edited loopgate.conf and nginx site" install_keeps_edits
    check "make uninstall removes all but the edited config and site" install_uninstall
    check "make install (PREFIX=/usr/local): units and site follow the prefix" install_local
    [[ -n $NGINX ]] && check "nginx -t accepts the installed site" installed_site_nginx_t
else
    fail "make install needs make and build/loopgate; run make"
fi

# ---------------------------------------------------------------- binary
if [[ -x $BIN ]]; then
    # A clean environment, so that neither the caller's variables nor an
    # /etc/loopgate/loopgate.conf on this machine decide the outcome.
    check "loopgate serve --help (built-in defaults)" \
        env -i PATH="$PATH" LOOPGATE_CONFIG=/dev/null "$BIN" serve --help
    check "loopgate migrate --help with LOOPGATE_CONFIG=conf/loopgate.conf (the config parses)" \
        env -i PATH="$PATH" LOOPGATE_CONFIG="$ROOT/conf/loopgate.conf" "$BIN" migrate --help
    check "loopgate serve --config conf/loopgate.conf --help (ExecStart's argument order)" \
        env -i PATH="$PATH" "$BIN" serve --config "$ROOT/conf/loopgate.conf" --help
else
    fail "$BIN is missing; run make"
fi

echo "configs: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
