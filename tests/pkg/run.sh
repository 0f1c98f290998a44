#!/usr/bin/env bash
# run.sh - the distribution tests of make check-dist.
#
#   tests/pkg/run.sh PACKAGE.deb TEST...
#
# Runs each TEST with the package's path, one after the other, prints
# PASS or FAIL with its time, and ends with "N passed, N failed"; exits 1
# when one failed.
set -uo pipefail
[[ $# -ge 2 ]] || { echo "usage: tests/pkg/run.sh PACKAGE.deb TEST..." >&2; exit 2; }
deb=$1
shift
passed=0 failed=0
for t in "$@"; do
    start=$(date +%s)
    if "$t" "$deb"; then
        passed=$((passed + 1))
        echo "PASS $(basename "$t") ($(($(date +%s) - start)) s)"
    else
        failed=$((failed + 1))
        echo "FAIL $(basename "$t") ($(($(date +%s) - start)) s)"
    fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
