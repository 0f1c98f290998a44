#!/usr/bin/env bash
# tests/unit/run.sh - run every unit-test binary and add up their counts.
#
#   tests/unit/run.sh [BUILD_DIR]     (default: build; build/san for SAN=1)
#
# Each binary prints its failures and ends with `<binary>: N passed, N failed`.
# The binaries run from the repository root (test_config reads
# conf/loopgate.conf). A binary that exits non-zero without reporting a
# failure (a crash, a sanitizer report) counts as one failure. Ends with
# `unit: N passed, N failed` and exits non-zero if anything failed.
set -u

build=${1:-build}
case $build in
/*) ;;
*) build=$PWD/$build ;;
esac
cd "$(dirname "$0")/../.." || exit 2

shopt -s nullglob
bins=("$build"/tests/test_*)
if [ ${#bins[@]} -eq 0 ]; then
    echo "unit: no test binaries in $build/tests (run make unit first)" >&2
    exit 2
fi

passed=0
failed=0
for bin in "${bins[@]}"; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    out=$("$bin" 2>&1)
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out"
    summary=$(printf '%s\n' "$out" | grep -E "^$name: [0-9]+ passed, [0-9]+ failed\$" | tail -n 1)
    if [ -z "$summary" ]; then
        echo "$name: exited with status $rc without a summary line"
        failed=$((failed + 1))
        continue
    fi
    p=$(printf '%s\n' "$summary" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/')
    f=$(printf '%s\n' "$summary" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$name: exited with status $rc after reporting no failures"
        failed=$((failed + 1))
    fi
done

echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
