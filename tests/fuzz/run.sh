#!/usr/bin/env bash
# tests/fuzz/run.sh - run the libFuzzer harnesses of build/fuzz (make fuzz-build).
#
#   tests/fuzz/run.sh           fuzz each for FUZZ_SECONDS (default 300): make fuzz
#   tests/fuzz/run.sh --check   replay each corpus, then fuzz each for 20 s: make check
#
# Harnesses run two at a time (the machine has two cores), all at once with
# --check. Each starts from its seeds in tests/fuzz/corpus/<harness>/ and writes what it finds to a
# scratch corpus under build/fuzz/work/, never into the repository. A crash
# leaves its input in build/fuzz/artifacts/ (add it to the corpus as a
# regression case once fixed). tests/fuzz/crashes/ holds inputs that still
# crash, whose fix belongs elsewhere: they are not replayed. One line per
# harness with executions and coverage, then `fuzz: N passed, N failed`.
set -u
cd "$(dirname "$0")/../.." || exit 2

seconds=${FUZZ_SECONDS:-300}
replay=0
if [[ ${1:-} == --check ]]; then
    seconds=20
    replay=1
fi
harnesses=(fuzz_validate fuzz_query fuzz_telegram fuzz_mcp fuzz_config fuzz_hooks fuzz_listen)
out=build/fuzz/logs
mkdir -p "$out" build/fuzz/artifacts

# One harness: replay (with --check), then fuzz; the verdict goes to $out/<h>.result.
one() {
    local h=$1 bin=build/fuzz/$1 seeds=tests/fuzz/corpus/$1 work=build/fuzz/work/$1 rc
    local opts=(-timeout=10 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix=build/fuzz/artifacts/$h-
        -print_final_stats=1)
    if [[ ! -x $bin ]]; then
        echo "not ok - $h: $bin missing (make fuzz-build)" >"$out/$h.result"
        return
    fi
    if ((replay)); then
        if ! "$bin" "${opts[@]}" -runs=0 "$seeds" >"$out/$h.replay.log" 2>&1; then
            echo "not ok - $h: a corpus input fails (see $out/$h.replay.log)" >"$out/$h.result"
            return
        fi
    fi
    rm -rf "$work"
    mkdir -p "$work"
    "$bin" "${opts[@]}" -max_total_time="$seconds" "$work" "$seeds" >"$out/$h.log" 2>&1
    rc=$?
    local execs cov
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out/$h.log" | grep -oE '[0-9]+$')
    cov=$(grep -oE 'cov: [0-9]+' "$out/$h.log" | tail -n 1 | grep -oE '[0-9]+')
    if ((rc != 0)); then
        echo "not ok - $h: crashed after ${execs:-?} executions (see $out/$h.log;" \
            "input in build/fuzz/artifacts/)" >"$out/$h.result"
    else
        echo "ok - $h: ${execs:-?} executions in ${seconds}s, coverage ${cov:-?} edges," \
            "corpus $(find "$work" -type f | wc -l) inputs" >"$out/$h.result"
    fi
}

rm -f "$out"/*.result
running=0
# make fuzz gives each harness a core (two at a time); the short run of make
# check runs them all at once, so that it takes 20 s, not 70.
parallel=2
((replay)) && parallel=${#harnesses[@]}
for h in "${harnesses[@]}"; do
    one "$h" &
    running=$((running + 1))
    if ((running == parallel)); then
        wait -n
        running=$((running - 1))
    fi
done
wait

passed=0 failed=0
for h in "${harnesses[@]}"; do
    if [[ -f $out/$h.result ]]; then
        cat "$out/$h.result"
    else
        echo "not ok - $h: no verdict"
    fi
    if grep -q '^ok' "$out/$h.result" 2>/dev/null; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        grep -m 3 -E 'ERROR|SUMMARY|fuzz:' "$out/$h.log" 2>/dev/null | sed 's/^/    /'
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
