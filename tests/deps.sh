#!/usr/bin/env bash
# deps.sh - install the Debian packages Loopgate needs to build, run and test.
#
#   tests/deps.sh          what make run, make check, make check-ha and make bench need
#   tests/deps.sh dist     that and what packaging needs (make deb, make docker-build,
#                          make check-dist)
#
# As root: apt-get installs what is missing. Otherwise: prints the exact
# command and fails, so nothing half-works.
set -euo pipefail

PACKAGES=(
    gcc make libc6-dev            # build
    libtsan2                      # make TSAN=1 (ThreadSanitizer runtime for gcc)
    clang libclang-rt-14-dev      # tests/fuzz: libFuzzer, ASan and UBSan runtimes for clang
    libfcgi-dev libpq-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    postgresql                    # the private cluster of the local stack and the tests
    pgbouncer                     # make check-ha: the fail-over test through a pooler (test_19_failover)
    nginx                         # TLS, HTTP/2 and FastCGI in front of the workers
    curl openssl procps iproute2  # the stack script and the tests
    libfaketime                   # test_18_doctor: a host whose clock is off
    wrk                           # make bench
    prometheus:promtool           # `promtool check metrics` on GET /metrics (test_18_metrics)
    python3 python3-requests      # integration tests (and the README's Python examples)
    nodejs:node npm:npm           # the README's Node examples, Telegram and MCP test peers
    chromium                      # the console's browser tests (driven by playwright-core)
)
DIST_PACKAGES=(
    dpkg-dev lintian              # make deb: dpkg-shlibdeps, dpkg-buildflags; the package's checks
    debootstrap                   # make check-dist: the Debian 12 root the package is tried in
    podman runc                   # tests/pkg/test_image.sh: build and run the container image (docker/containers.conf)
)

if [[ ${1:-} == dist ]]; then
    PACKAGES+=("${DIST_PACKAGES[@]}")
elif [[ $# -gt 0 ]]; then
    echo "usage: tests/deps.sh [dist]" >&2
    exit 2
fi

# "package:command" entries are satisfied by the command alone (a Node.js
# installed from elsewhere brings its own npm).
missing=()
for entry in "${PACKAGES[@]}"; do
    p=${entry%%:*}
    if [[ $entry == *:* ]] && command -v "${entry#*:}" >/dev/null 2>&1; then
        continue
    fi
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "loopgate: missing Debian packages: ${missing[*]}" >&2
    echo "loopgate: install them as root with:" >&2
    echo "    apt-get update && $cmd" >&2
    exit 1
fi
echo "loopgate: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a default nginx on port 80 and a system PostgreSQL; the
# stack runs its own, so leave those alone but do not depend on them.
