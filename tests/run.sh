#!/usr/bin/env bash
# run.sh - every test of `make check`, ending with one `N passed, N failed` line.
#
#   unit         C unit tests of the pure modules (tests/unit)
#   configs      nginx -t and systemd-analyze on the shipped configs
#   integration  the real stack against build/loopgate
#   integration-san  the same against the ASan/UBSan build, no report allowed
#   unit-tsan    the unit tests against the ThreadSanitizer build (test_notify: the waiter table)
#   integration-tsan the concurrency tests (submit batcher, listener, delivery, waiters)
#                against the ThreadSanitizer build, no report allowed
#   fuzz         every libFuzzer harness of tests/fuzz: its corpus replayed, then 30 s of fuzzing
set -uo pipefail
cd "$(dirname "$0")/.."
total_pass=0 total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

suite() {
    local name=$1
    shift
    echo "==== $name"
    "$@" 2>&1 | tee "$log"
    local line p f
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [[ -z $line ]]; then
        echo "not ok - $name printed no summary"
        total_fail=$((total_fail + 1))
        return
    fi
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}

suite unit tests/unit/run.sh build
suite configs tests/configs.sh
suite integration python3 tests/integration/run.py --bin build/loopgate
suite integration-san python3 tests/integration/run.py --bin build/san/loopgate --san --skip-slow
suite unit-tsan env TSAN_OPTIONS=halt_on_error=0 tests/unit/run.sh build/tsan
# About two minutes: the batcher (concurrent submits, one batch over the
# pending limit), delivery under a burst, waiters woken, across a database
# restart and by timeouts and webhooks, and the listener (test_11).
tsan_tests=test_concurrent_submits,test_pending_limit_within_one_batch,test_pacing_under_burst
tsan_tests+=,test_long_poll_wakes,test_500_waiting_all_woken,test_database_restart_while_waiting
tsan_tests+=,test_timeout_enforced,test_webhook_retried_until,test_11_durable
suite integration-tsan python3 tests/integration/run.py --bin build/tsan/loopgate --tsan -k "$tsan_tests"
suite fuzz tests/fuzz/run.sh --check

echo
echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
