#!/usr/bin/env bash
# run.sh - every test of `make check`, ending with one `N passed, N failed` line.
#
#   unit         C unit tests of the pure modules (tests/unit)
#   configs      nginx -t and systemd-analyze on the shipped configs
#   integration-san  every integration test against the ASan/UBSan build but
#                the ones marked slow, no report allowed; two runs at once,
#                each with its own stack
#   compat       the previous release of RELEASES, built from git, serves on
#                the schema this tree migrates, alone and beside this tree's
#                normal build; its database upgrades to a fresh one's schema
#   integration  the normal (-O2) build: the README's examples, the latency
#                and throughput figures the sanitizers would distort, and the
#                tests marked slow
#   unit-tsan    the unit tests against the ThreadSanitizer build (test_notify: the waiter table)
#   integration-tsan the concurrency tests (submit batcher, listener, delivery, waiters)
#                against the ThreadSanitizer build, no report allowed
#   fuzz         every libFuzzer harness of tests/fuzz: its corpus replayed, then 20 s of fuzzing
#
# The integration tests wait (on people, timeouts, retries, restarts) far
# more than they compute, so the wait-bound suites share the two cores:
# integration-san's two runs in the foreground while compat and integration
# run beside them. The suites that keep the cores busy (the ThreadSanitizer
# runs, fuzzing) run alone. Suites run beside another print their lines when
# they end.
set -uo pipefail
cd "$(dirname "$0")/.."
total_pass=0 total_fail=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# tally NAME LOG: add the suite's `NAME: N passed, N failed` line to the totals.
tally() {
    local name=$1 line p f
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
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

# suite NAME CMD...: run a suite in the foreground, its lines as they come.
suite() {
    local name=$1
    shift
    echo "==== $name"
    "$@" 2>&1 | tee "$dir/$name.log"
    tally "$name" "$dir/$name.log"
}

# beside NAME CMD...: run a suite into its log, for `reap` to print later.
beside() {
    local name=$1
    shift
    "$@" >"$dir/$name.log" 2>&1
}

# reap NAME: print the log of a suite run beside another and count it.
reap() {
    echo "==== $1 (ran beside the one before)"
    cat "$dir/$1.log"
    tally "$1" "$dir/$1.log"
}

suite unit tests/unit/run.sh build
suite configs tests/configs.sh

# The normal build's run: what the README promises, the figures (wake
# latency, submits sharing a commit, 500 waiters) that only an -O2 build
# shows as they are (they run under ASan too), and every test marked slow:
# those wait on timeouts, retries, restarts and outside programs (Telegram
# outages, MCP SDK clients, the conformance suite, a restore), not on memory,
# and some assert deadlines an ASan build on a loaded machine can miss (a
# second bot's first message within 5 s of a restart). Every other test runs
# under ASan.
smoke=test_01_api.test_readme,test_01_api.test_submits_at_once_share_a_commit
smoke+=,test_07_telegram.test_python_example,test_long_poll_wakes,test_500_waiting_all_woken
# the README's console tour: a request live in Chromium within a second, approved there
smoke+=,test_16_browser.test_live_pending_and_approve_with_reason
(
    beside compat python3 tests/compat/run.py --bin build/loopgate
    beside integration python3 tests/integration/run.py --bin build/loopgate -k "$smoke" --slow
) &
lane=$!
suite integration-san python3 tests/integration/run.py --bin build/san/loopgate --san --jobs 2 \
    --skip-slow
wait "$lane"
reap compat
reap integration

suite unit-tsan env TSAN_OPTIONS=halt_on_error=0 tests/unit/run.sh build/tsan
# About three minutes: the batcher (concurrent submits, one batch over the
# pending limit), delivery under a burst, waiters woken, across a database
# restart and by timeouts and webhooks, the listener (test_11), and a
# configuration swapped under running request, delivery and retention
# threads (test_18_reload).
tsan_tests=test_concurrent_submits,test_pending_limit_within_one_batch,test_pacing_under_burst
tsan_tests+=,test_long_poll_wakes,test_500_waiting_all_woken,test_database_restart_while_waiting
tsan_tests+=,test_timeout_enforced,test_webhook_retried_until,test_11_durable,test_18_reload
suite integration-tsan python3 tests/integration/run.py --bin build/tsan/loopgate --tsan -k "$tsan_tests"
suite fuzz tests/fuzz/run.sh --check

echo
echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
