#!/usr/bin/env bash
# test_image.sh - the container image, built and run with podman (root).
#
#   tests/pkg/test_image.sh        (make check-dist runs it)
#
# 1. The base: this machine has no registry, so the cached debootstrap
#    --variant=minbase bookworm root (tests/pkg/bookworm-root.sh, under
#    $LOOPGATE_ROOTFS_CACHE or build/cache) is imported as
#    debian:bookworm-slim. A minbase root is not the slim image: it keeps
#    the documentation, the locales and apt's lists that slim strips, so
#    the image is larger here than from the real base; what the Dockerfile
#    installs and runs is the same.
# 2. `make docker-build` (with podman) builds loopgate:latest from the
#    package ($LOOPGATE_DEB, else `make deb`).
# 3. tests/pkg/image_flow.py runs it as the seed does (TELEGRAM_BOT_TOKEN,
#    no DB_URI: the self-contained stack) with the Bot API stand-in: keys
#    required (LOOPGATE_AUTH=off alone refused), no key or console link in
#    the log, a key and a link made with `exec`; the HEALTHCHECK healthy, a
#    request from submit to a Telegram button press to the agent's poll;
#    the HEALTHCHECK failing while the workers cannot reach the container's
#    PostgreSQL; the container exiting 1 when that PostgreSQL dies. Then the
#    production shape of compose.yaml (DB_URI to a PostgreSQL, `serve` and
#    `nginx` containers sharing the socket's volume; a second `serve` on it
#    refused), and `serve` on FastCGI over TCP, healthy on an IPv6 socket and
#    with FCGI_WEB_SERVER_ADDRS set.
# 4. Where the docker client is installed: `podman system service` on a unix
#    socket, DOCKER_HOST pointing at it, and the seed's lines as printed:
#    `docker build -t loopgate:latest .` and
#    `docker run -e TELEGRAM_BOT_TOKEN=your_token loopgate:latest`
#    (run detached, then asked for /livez, and for a request on its address
#    with the key `exec` made).
#
# Everything lives in a private podman store under build/ (its own images,
# containers, volumes; the host's podman store is not touched), removed with
# the service on every exit. podman runs with docker/containers.conf (runc,
# cgroupfs, events in a file, ulimits within this machine's limits).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# The package: the argument (tests/pkg/run.sh passes it), else $LOOPGATE_DEB,
# else make docker-build runs make deb.
if [[ -n ${1:-} ]]; then
    LOOPGATE_DEB=$(realpath -- "$1")
    export LOOPGATE_DEB
fi
NAME=${LOOPGATE_TEST_PREFIX:-lgimage}-$$

say() { echo "test_image: $*" >&2; }
die() { say "FAIL: $*"; exit 1; }
t0=$SECONDS
lap() { say "$1 ($((SECONDS - t0)) s)"; t0=$SECONDS; }

[[ $(id -u) -eq 0 ]] || die "needs root (podman with runc and cgroupfs)"
for c in podman runc python3 curl; do
    command -v "$c" >/dev/null || die "$c is missing (tests/deps.sh)"
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -n $PGBIN ]] || die "PostgreSQL is missing (tests/deps.sh)"

mkdir -p build
WORK=$(mktemp -d "$ROOT/build/image-test.XXXXXX")
SERVICE_PID=""
PG_STARTED=""
# LOOPGATE_IMAGE_STORE=DIR keeps the images (the base and the build's
# layers) in DIR between runs, for working on the image; containers and
# volumes go all the same. podman keeps its state directories in the
# store's database, so they live in the store too.
STORE=${LOOPGATE_IMAGE_STORE:-$WORK/store}
mkdir -p "$STORE"
STORE=$(cd "$STORE" && pwd)

# docker/containers.conf, with this run's state and file locks of its own:
# podman's default shm locks are one set for every store on the host.
export CONTAINERS_CONF=$WORK/containers.conf
sed "s|^\[engine\]\$|[engine]\ntmp_dir = \"$STORE/run/libpod\"\nlock_type = \"file\"|" \
    docker/containers.conf >"$CONTAINERS_CONF"
grep -q '^lock_type = "file"' "$CONTAINERS_CONF" || die "docker/containers.conf has no [engine] table"
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$STORE/storage"
runroot = "$STORE/run/storage"
EOF

cleanup() {
    local rc=$?
    set +e
    if [[ -n $SERVICE_PID ]]; then
        kill "$SERVICE_PID" 2>/dev/null
        wait "$SERVICE_PID" 2>/dev/null
    fi
    if [[ $rc -ne 0 ]]; then
        for c in $(podman ps -a --format '{{.Names}}' 2>/dev/null); do
            say "logs of $c:"
            podman logs --tail 30 "$c" 2>&1 | sed 's/^/    /' >&2
        done
    fi
    podman rm -af -t 5 >/dev/null 2>&1
    podman volume rm -af >/dev/null 2>&1
    # A container podman lost track of is still runc's: ended by its id.
    runc list -f json 2>/dev/null | python3 -c '
import json, sys
for c in json.load(sys.stdin) or []:
    if c["bundle"].startswith(sys.argv[1]):
        print(c["id"])' "$STORE/" | while read -r id; do
        say "container $id outlived podman rm; ending it"
        runc kill "$id" KILL; sleep 1; runc delete -f "$id"
    done
    if [[ -z ${LOOPGATE_IMAGE_STORE:-} ]]; then
        podman rmi -af >/dev/null 2>&1
        podman system reset -f >/dev/null 2>&1
    fi
    # conmon runs `podman container cleanup` once a container is gone, which
    # writes under this run's state: let those finish before removing it.
    for _ in $(seq 100); do pgrep -f "$WORK/" >/dev/null || break; sleep 0.1; done
    [[ -n $PG_STARTED ]] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1
    # Whatever overlay or shm mount is left under the store.
    findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the base
tar=$(tests/pkg/bookworm-root.sh) || die "no Debian 12 root (tests/pkg/bookworm-root.sh)"
podman import "$tar" docker.io/library/debian:bookworm-slim >/dev/null || die "podman import $tar"
lap "imported $tar as debian:bookworm-slim"

# ---- 2. the image
LOOPGATE_ENGINE=podman make --no-print-directory docker-build >"$WORK/build.log" 2>&1 ||
    { tail -n 30 "$WORK/build.log" >&2; die "make docker-build"; }
podman image exists loopgate:latest || die "make docker-build made no loopgate:latest"
[[ $(podman image inspect loopgate:latest --format '{{.Config.User}}') == loopgate ]] ||
    die "the image does not run as the user loopgate"
podman image inspect loopgate:latest --format '{{json .Config.Healthcheck}}' | grep -q livez ||
    podman inspect --type image loopgate:latest | grep -q loopgate-healthcheck ||
    die "the image has no HEALTHCHECK"
lap "make docker-build: loopgate:latest, $(podman image inspect loopgate:latest --format '{{.Size}}' |
    awk '{printf "%d MB", $1 / 1e6}')"

# ---- 3. the seed's way and the production shape
# A PostgreSQL on the host for the production shape (DB_URI), reached from
# the containers on the host's network.
mkdir -p "$WORK/pg" "$WORK/pgrun"
chown postgres: "$WORK/pg" "$WORK/pgrun"
chmod 755 "$WORK"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -U loopgate -A trust -E UTF8 --no-locale >"$WORK/initdb.log" 2>&1 ||
    die "initdb"
pgport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -w -t 30 -l "$WORK/pgrun/postgresql.log" \
    -o "-k $WORK/pgrun -c listen_addresses=127.0.0.1 -p $pgport" start >/dev/null || die "PostgreSQL did not start"
PG_STARTED=1
"$PGBIN/psql" -h 127.0.0.1 -p "$pgport" -U loopgate -d postgres -qc "CREATE DATABASE loopgate" >/dev/null

python3 tests/pkg/image_flow.py --engine podman --image loopgate:latest --name "$NAME" \
    --db-uri "postgresql://loopgate@127.0.0.1:$pgport/loopgate" || die "image_flow.py"
lap "the image: the self-contained stack and the production shape work"

# ---- 4. the seed's docker lines, through the docker client
if ! command -v docker >/dev/null; then
    say "no docker client here: the seed's docker lines were not run"
    exit 0
fi
sock=$WORK/podman.sock
podman system service --time=0 "unix://$sock" >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
[[ -S $sock ]] || die "podman system service made no socket"
export DOCKER_HOST=unix://$sock
docker version --format '{{.Server.Version}}' >/dev/null || die "the docker client cannot talk to podman system service"
podman untag loopgate:latest  # the layers stay: the build below reuses them
say "\$ docker build -t loopgate:latest ."
docker build -t loopgate:latest . >"$WORK/docker-build.log" 2>&1 ||
    { tail -n 30 "$WORK/docker-build.log" >&2; die "docker build -t loopgate:latest ."; }
lap "docker build -t loopgate:latest . (through podman system service)"
python3 tests/pkg/image_flow.py --engine docker --image loopgate:latest --name "$NAME-seed" --seed-line ||
    die "image_flow.py --seed-line"
lap "docker run -e TELEGRAM_BOT_TOKEN=your_token loopgate:latest answers"
say "PASS"
