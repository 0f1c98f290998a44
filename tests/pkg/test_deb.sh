#!/usr/bin/env bash
# test_deb.sh - the Debian package, installed into a fresh Debian 12 root,
# used, removed and purged.
#
#   tests/pkg/test_deb.sh build/loopgate_<version>_<arch>.deb
#
# 1. lintian: no errors (warnings are printed).
# 2. A chroot from the cached debootstrap minbase tarball
#    (tests/pkg/bookworm-root.sh; LOOPGATE_ROOTFS_CACHE), with proc and dev
#    mounted, nginx installed from the mirror (a policy-rc.d keeps every
#    service from starting) and a systemctl that only logs, as on a host
#    where systemd runs.
# 3. `apt-get install ./loopgate.deb` pulls the dependencies from the mirror;
#    the user, the conffiles and their modes are checked, and that the
#    maintainer scripts neither enabled nor started a unit.
# 4. A throwaway PostgreSQL on the host (initdb, 127.0.0.1, a free port):
#    `loopgate migrate` as user loopgate inside the chroot, with db_uri set in
#    the (now modified) conffile; `loopgate serve` on the unix socket; the
#    package's example nginx site, with only its ports and certificate
#    changed, in front; `loopgate doctor` with no check failing.
# 5. Through that nginx: /livez, the console's page from
#    /usr/share/loopgate/www/, a session registered, a request submitted
#    and polled, cancelled and long-polled to its end; the rows in the
#    database.
# 6. The package installed again over itself keeps the modified conffile
#    and its mode; with the conffile deleted it configures all the same and
#    keeps it deleted (loopgate runs without it), --force-confmiss brings it
#    back; `apt-get remove`: the files are gone, /etc/loopgate/loopgate.conf
#    (modified) stays; `apt-get purge`: /etc/loopgate is gone and nothing
#    the package listed (dpkg -L) is left but shared directories.
#
# Every process this starts is stopped and every mount undone on any exit.
# LOOPGATE_KEEP_ROOT=1 keeps the chroot for a look afterwards.
set -euo pipefail
[[ $# -eq 1 && -f $1 ]] || { echo "usage: tests/pkg/test_deb.sh PACKAGE.deb" >&2; exit 2; }
deb=$(realpath "$1")
cd "$(dirname "$0")/../.."
[[ $(id -u) -eq 0 ]] || { echo "test_deb.sh: needs root (chroot, mounts)" >&2; exit 1; }

t0=$(date +%s)
say() { printf 'test_deb: [%3ds] %s\n' "$(($(date +%s) - t0))" "$*"; }
fail() { printf 'test_deb: FAIL %s\n' "$*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p build
work=$(mktemp -d "$PWD/build/pkgtest.XXXXXX")
root=$work/root
pgdata=$(mktemp -d /tmp/loopgate-pkgtest-pg.XXXXXX)   # the user postgres must reach it
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
serve_pid=

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
as_loopgate() { chroot --userspec=loopgate:loopgate "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 "$@"; }

cleanup() {
    local rc=$? pids p
    set +e
    [[ -n $serve_pid ]] && kill -TERM "$serve_pid" 2>/dev/null
    [[ -s $root/run/nginx.pid ]] && kill -QUIT "$(cat "$root/run/nginx.pid")" 2>/dev/null
    # Whatever else still runs inside this root (a worker, an nginx worker)
    # was started by this test.
    for i in 1 2 3 4 5 6 7 8 9 10; do
        pids=()
        for p in /proc/[0-9]*; do
            [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && pids+=("${p#/proc/}")
        done
        [[ ${#pids[@]} -eq 0 ]] && break
        [[ $i -ge 5 ]] && kill -KILL "${pids[@]}" 2>/dev/null
        sleep 0.5
    done
    [[ -f $pgdata/postmaster.pid ]] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1
    for m in "$root/var/cache/apt/archives" "$root/dev" "$root/proc"; do
        mountpoint -q "$m" && umount -l "$m"
    done
    if [[ ${LOOPGATE_KEEP_ROOT:-0} == 1 ]]; then
        echo "test_deb: kept $work and $pgdata" >&2
    elif ! findmnt -rn -o TARGET | grep -qF "$root/"; then
        rm -rf --one-file-system "$work" "$pgdata"
    else
        echo "test_deb: $root still has mounts; left in place" >&2
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. lintian
lintian_out=$(lintian "$deb" 2>&1 | grep -v 'running with root privileges' || true)
[[ -n $lintian_out ]] && printf '%s\n' "$lintian_out" | sed 's/^/test_deb: lintian: /'
grep -q '^E:' <<<"$lintian_out" && fail "lintian reports errors"
say "ok lintian: no errors"
say "unpacking the root"

# ---- 2. the root
tar=$(tests/pkg/bookworm-root.sh)
mkdir -p "$root"
tar -C "$root" -xf "$tar"
mount -t proc proc "$root/proc"
# A /dev of its own with the few devices apt, nginx and loopgate open (not
# the host's /dev bound in: nothing done in the root can touch the host's).
mount -t tmpfs -o mode=0755,size=1m,nosuid tmpfs "$root/dev"
for d in "null c 1 3" "zero c 1 5" "full c 1 7" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
    set -- $d
    mknod -m 0666 "$root/dev/$1" "$2" "$3" "$4"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
# Packages downloaded once are kept beside the tarball; the host's package
# lists (same mirror) spare apt-get update most of its downloads.
archives=$(dirname "$tar")/apt-archives
mkdir -p "$archives/partial"
mount --bind "$archives" "$root/var/cache/apt/archives"
cp -a /var/lib/apt/lists/. "$root/var/lib/apt/lists/" 2>/dev/null || true
rm -f "$root/var/lib/apt/lists/lock"
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
in_root apt-get update -q >"$work/apt.log" 2>&1 || { tail "$work/apt.log"; fail "apt-get update in the root"; }
in_root apt-get install -y -q --no-install-recommends nginx >>"$work/apt.log" 2>&1 ||
    { tail "$work/apt.log"; fail "apt-get install nginx in the root"; }
rm -f "$root/etc/nginx/sites-enabled/default"
# From here on, systemd "runs": the maintainer scripts talk to this.
mkdir -p "$root/run/systemd/system"
cat >"$root/usr/bin/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>/var/log/systemctl.calls
case "$*" in *is-active*|*is-enabled*) exit 1 ;; esac
exit 0
EOF
chmod 0755 "$root/usr/bin/systemctl"
say "ok a Debian $(cat "$root/etc/debian_version") root with nginx"

# ---- 3. install
cp "$deb" "$root/tmp/"
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" >"$work/install.log" 2>&1 ||
    { tail -n 30 "$work/install.log"; fail "apt-get install of the package"; }
status=$(in_root dpkg-query -W -f='${Status} ${Version}' loopgate)
[[ $status == "install ok installed "* ]] || fail "dpkg status: $status"
in_root getent passwd loopgate >/dev/null || fail "no user loopgate"
in_root getent group loopgate >/dev/null || fail "no group loopgate"
# Owners by number: the names are the root's, not this host's.
gid=$(in_root getent group loopgate | cut -d: -f3)
[[ $(stat -c '%a %u %g' "$root/etc/loopgate") == "750 0 $gid" ]] ||
    fail "/etc/loopgate is $(stat -c '%a %u %g' "$root/etc/loopgate") (group loopgate: $gid)"
[[ $(stat -c '%a %u %g' "$root/etc/loopgate/loopgate.conf") == "640 0 $gid" ]] ||
    fail "loopgate.conf is $(stat -c '%a %u %g' "$root/etc/loopgate/loopgate.conf")"
[[ $(stat -c '%a %u' "$root/etc/loopgate/secrets.env") == "600 0" ]] || fail "secrets.env mode"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' loopgate)
for f in /etc/loopgate/loopgate.conf /etc/nginx/loopgate-fastcgi.conf /etc/nginx/loopgate-errors.conf; do
    grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile"
done
for f in /usr/bin/loopgate /usr/lib/systemd/system/loopgate.service /usr/lib/systemd/system/loopgate.socket \
         /usr/lib/sysusers.d/loopgate.conf /usr/share/loopgate/www/index.html /usr/share/man/man8/loopgate.8.gz \
         /usr/share/man/man5/loopgate.conf.5.gz /usr/share/doc/loopgate/copyright \
         /usr/share/doc/loopgate/examples/nginx-site.conf; do
    [[ -f $root$f ]] || fail "$f is missing"
done
[[ ! -e $root/etc/nginx/sites-available/loopgate.conf ]] || fail "the package put a site in sites-available"
calls=$(cat "$root/var/log/systemctl.calls" 2>/dev/null || true)
grep -q 'daemon-reload' <<<"$calls" || fail "the postinst did not reload systemd (calls: $calls)"
if grep -E 'enable|start|restart' <<<"$calls" | grep -q loopgate; then
    fail "the postinst enabled or started a unit: $calls"
fi
version=$(in_root loopgate version | head -n 1)
say "ok installed ($status; $version; pulled: $(grep -oE '^Setting up [^ ]+' "$work/install.log" | cut -d' ' -f3 | tr '\n' ' '))"

# ---- 4. database, migrate, serve, nginx, doctor
pg_port=$(free_port)
chown postgres "$pgdata"
chmod 0700 "$pgdata"
runuser -u postgres -- "$pg_bin/initdb" -D "$pgdata" -A trust -E UTF8 >"$work/initdb.log" 2>&1 ||
    { tail "$work/initdb.log"; fail "initdb"; }
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pgdata" -w -l "$pgdata/log" \
    -o "-p $pg_port -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
    { tail "$pgdata/log"; fail "PostgreSQL did not start"; }
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qAt \
    -c "CREATE ROLE loopgate LOGIN" -c "CREATE DATABASE loopgate OWNER loopgate" >/dev/null
psql_lg() { "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U loopgate -d loopgate -qAt "$@"; }

conf=$root/etc/loopgate/loopgate.conf
sed -i "s|^db_uri = .*|db_uri = \"host=127.0.0.1 port=$pg_port dbname=loopgate user=loopgate\"|" "$conf"
grep -q "port=$pg_port" "$conf" || fail "could not set db_uri in $conf"
as_loopgate loopgate migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; fail "loopgate migrate"; }
as_loopgate loopgate migrate --status >/dev/null 2>&1 || fail "loopgate migrate --status: not up to date"
n=$(psql_lg -c "SELECT count(*) FROM schema_migrations")
[[ $n -gt 0 ]] || fail "no migrations recorded"
say "ok loopgate migrate: $n migrations"

# The socket directory systemd's loopgate.socket would make: nginx
# (www-data) may enter it, the socket itself is loopgate's.
in_root install -d -o loopgate -g www-data -m 0750 /run/loopgate
chroot --userspec=loopgate:loopgate "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
    LOOPGATE_SOCKET_MODE=0666 LOOPGATE_WORKERS=1 LOOPGATE_THREADS=16 \
    /usr/bin/loopgate serve >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do
    [[ -S $root/run/loopgate/loopgate.sock ]] && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; fail "loopgate serve exited"; }
    sleep 0.1
done
[[ -S $root/run/loopgate/loopgate.sock ]] || { cat "$work/serve.log"; fail "no socket after 10 s"; }

http_port=$(free_port)
https_port=$(free_port)
install -d "$root/etc/ssl/lgtest"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=hitl.example.com \
    -keyout "$root/etc/ssl/lgtest/key.pem" -out "$root/etc/ssl/lgtest/cert.pem" >/dev/null 2>&1
site=$root/etc/nginx/sites-available/loopgate.conf
sed -e "s|^\( *\)listen 80;|\1listen 127.0.0.1:$http_port;|" \
    -e "s|^\( *\)listen 443 ssl http2;|\1listen 127.0.0.1:$https_port ssl http2;|" \
    -e '/^ *listen \[::\]/d' \
    -e 's|/etc/loopgate/tls/fullchain.pem|/etc/ssl/lgtest/cert.pem|' \
    -e 's|/etc/loopgate/tls/privkey.pem|/etc/ssl/lgtest/key.pem|' \
    "$root/usr/share/doc/loopgate/examples/nginx-site.conf" >"$site"
ln -s ../sites-available/loopgate.conf "$root/etc/nginx/sites-enabled/loopgate.conf"
in_root nginx -t >"$work/nginx.log" 2>&1 || { cat "$work/nginx.log"; fail "nginx -t with the example site"; }
in_root nginx >>"$work/nginx.log" 2>&1 || { cat "$work/nginx.log"; fail "nginx did not start"; }
base=https://hitl.example.com:$https_port
c() { curl -sS --max-time 30 --resolve "hitl.example.com:$https_port:127.0.0.1" --cacert "$root/etc/ssl/lgtest/cert.pem" "$@"; }
for _ in $(seq 100); do
    [[ $(c -o /dev/null -w '%{http_code}' "$base/livez" 2>/dev/null) == 200 ]] && break
    sleep 0.1
done
[[ $(c -o /dev/null -w '%{http_code}' "$base/livez") == 200 ]] || fail "GET /livez through nginx"

in_root loopgate doctor >"$work/doctor.log" 2>&1 || { cat "$work/doctor.log"; fail "loopgate doctor"; }
sed 's/^/test_deb: doctor: /' "$work/doctor.log"
for check in config database migrations privileges clock nginx socket; do
    grep -qE "^ok +$check " "$work/doctor.log" || fail "doctor: $check is not ok"
done
say "ok serve, nginx and doctor"

# ---- 5. smoke test through nginx
page=$(c "$base/console/")
grep -qi '<html' <<<"$page" || fail "GET /console/ is not the console's page"
cmp -s <(printf '%s' "$page") <(printf '%s' "$(cat "$root/usr/share/loopgate/www/index.html")") ||
    fail "GET /console/ differs from /usr/share/loopgate/www/index.html"
key=$(as_loopgate loopgate apikey create --name pkgtest 2>/dev/null)
[[ -n $key ]] || fail "loopgate apikey create printed no key"
auth=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
out=$(c "${auth[@]}" -d '{"session_id":"pkg","client_id":"pkgtest"}' "$base/hitl/register")
grep -q '"success": *true' <<<"$out" || fail "register: $out"
out=$(c "${auth[@]}" -d '{"session_id":"pkg","client_id":"pkgtest","message":"from the package test","timeout_seconds":600}' \
    "$base/hitl/request")
rid=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["request_id"])' <<<"$out") || fail "submit: $out"
out=$(c "${auth[@]}" "$base/hitl/poll?request_id=$rid")
grep -q '"status": *"pending"' <<<"$out" || fail "poll: $out"
# A long-poll that a cancel ends.
c "${auth[@]}" "$base/hitl/poll?request_id=$rid&wait=30" >"$work/longpoll.json" &
poll_pid=$!
out=$(c "${auth[@]}" -d "{\"request_id\":\"$rid\"}" "$base/hitl/cancel")
wait "$poll_pid" || fail "long-poll failed"
grep -q '"status": *"canceled"' "$work/longpoll.json" || fail "long-poll after cancel: $(cat "$work/longpoll.json")"
[[ $(psql_lg -c "SELECT status FROM requests WHERE id::text = '$rid'") == canceled ]] ||
    fail "request $rid is not canceled in the database"
say "ok smoke: /livez, /console/, register, submit, poll, cancel, long-poll, row canceled"

# ---- 6. upgrade (the same version again), remove and purge
in_root apt-get install -y -q --reinstall "/tmp/$(basename "$deb")" >"$work/reinstall.log" 2>&1 ||
    { tail -n 20 "$work/reinstall.log"; fail "apt-get install --reinstall"; }
grep -q "port=$pg_port" "$conf" || fail "the upgrade replaced the modified $conf"
[[ $(stat -c '%a %u %g' "$conf") == "640 0 $gid" ]] || fail "after the upgrade loopgate.conf is $(stat -c '%a %u %g' "$conf")"
[[ $(c -o /dev/null -w '%{http_code}' "$base/livez") == 200 ]] || fail "GET /livez after the upgrade"
say "ok upgrade kept the modified conffile and its mode"

# A config file the administrator deleted: the package configures all the
# same, the file stays deleted, loopgate runs on the environment; the
# README.Debian's --force-confmiss brings the packaged one back.
cp -p "$conf" "$work/loopgate.conf.kept"
rm "$conf"
in_root apt-get install -y -q --reinstall "/tmp/$(basename "$deb")" >"$work/reinstall-noconf.log" 2>&1 ||
    { tail -n 20 "$work/reinstall-noconf.log"; fail "apt-get install --reinstall with loopgate.conf deleted"; }
status=$(in_root dpkg-query -W -f='${Status}' loopgate)
[[ $status == "install ok installed" ]] || fail "with loopgate.conf deleted, the reinstall left: $status"
[[ ! -e $conf ]] || fail "the reinstall brought the deleted loopgate.conf back"
in_root env DB_URI="host=127.0.0.1 port=$pg_port dbname=loopgate user=loopgate" loopgate migrate --status \
    >"$work/noconf.log" 2>&1 || { cat "$work/noconf.log"; fail "loopgate without loopgate.conf"; }
in_root apt-get install -y -q --reinstall -o Dpkg::Options::=--force-confmiss "/tmp/$(basename "$deb")" \
    >"$work/reinstall-confmiss.log" 2>&1 ||
    { tail -n 20 "$work/reinstall-confmiss.log"; fail "apt-get install --reinstall --force-confmiss"; }
[[ -f $conf && $(stat -c '%a %u %g' "$conf") == "640 0 $gid" ]] ||
    fail "--force-confmiss: loopgate.conf is $(stat -c '%a %u %g' "$conf" 2>&1)"
cp -p "$work/loopgate.conf.kept" "$conf"
say "ok a deleted loopgate.conf: the reinstall configures and keeps it deleted; --force-confmiss restores it"

kill -TERM "$serve_pid"
wait "$serve_pid" || true
serve_pid=
kill -QUIT "$(cat "$root/run/nginx.pid")"
for _ in $(seq 100); do [[ -e $root/run/nginx.pid ]] || break; sleep 0.1; done
rm -f "$root/etc/nginx/sites-enabled/loopgate.conf" "$site"

files=$(in_root dpkg-query -L loopgate)
: >"$root/var/log/systemctl.calls"
# The prerm's stop goes through deb-systemd-invoke, which asks policy-rc.d.
rm -f "$root/usr/sbin/policy-rc.d"
in_root apt-get remove -y -q loopgate >"$work/remove.log" 2>&1 || { tail "$work/remove.log"; fail "apt-get remove"; }
status=$(in_root dpkg-query -W -f='${Status}' loopgate)
[[ $status == "deinstall ok config-files" ]] || fail "status after remove: $status"
[[ ! -e $root/usr/bin/loopgate ]] || fail "/usr/bin/loopgate left after remove"
grep -q "port=$pg_port" "$conf" || fail "remove did not keep the modified $conf"
grep -q 'stop.*loopgate.service' "$root/var/log/systemctl.calls" || fail "the prerm did not stop the units"
in_root apt-get purge -y -q loopgate >"$work/purge.log" 2>&1 || { tail "$work/purge.log"; fail "apt-get purge"; }
in_root dpkg-query -W loopgate >/dev/null 2>&1 && fail "dpkg still knows loopgate after purge"
[[ ! -e $root/etc/loopgate ]] || fail "/etc/loopgate left after purge: $(ls -la "$root/etc/loopgate")"
left=()
while read -r f; do
    [[ -z $f || $f == /. ]] && continue
    [[ -e $root$f && ! -d $root$f ]] && left+=("$f")
    # A directory may stay only when something else still owns it.
    if [[ -d $root$f ]] && ! in_root dpkg-query -S "$f" >/dev/null 2>&1; then left+=("$f/"); fi
done <<<"$files"
[[ ${#left[@]} -eq 0 ]] || fail "left after purge: ${left[*]}"
say "ok remove kept the conffile, purge left nothing (the user loopgate stays, as policy allows)"
