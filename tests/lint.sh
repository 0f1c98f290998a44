#!/usr/bin/env bash
# lint.sh - static checks: banned unbounded string functions, cppcheck,
# and clang-format drift (reported, not fixed: `make fmt` fixes).
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0

banned='\b(sprintf|vsprintf|strcpy|strcat|strncat|strtok|atoi|atol|atoll|gets)\s*\('
if grep -nE "$banned" src/*.c src/*.h tests/unit/*.c 2>/dev/null; then
    echo "lint: banned function used (use snprintf, lg_strlcpy, strtol/parse_int64)" >&2
    fail=1
fi

# The console's pages put agent text in only as text (www/js/dom.js), and
# the CSP refuses inline script and style: no HTML from strings, no eval,
# no inline handlers, scripts or styles.
htmlsinks='innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\s*\(|new Function|setAttribute\(.on|\.style\.|javascript:'
if grep -nE "$htmlsinks" www/js/*.js www/js/*/*.js 2>/dev/null; then
    echo "lint: www/ builds HTML from strings or runs strings as code (use h() and textContent)" >&2
    fail=1
fi
if grep -niE '<script>|<script [^>]*>[^<]|<style|\bstyle=|\bon[a-z]+=' www/*.html 2>/dev/null; then
    echo "lint: www/*.html has inline script, style or handlers (the CSP refuses them)" >&2
    fail=1
fi

if command -v cppcheck >/dev/null; then
    cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
        --inline-suppr --std=c11 -D_GNU_SOURCE -Isrc src/*.c || fail=1
else
    echo "lint: cppcheck not installed; skipped" >&2
fi

if command -v clang-format >/dev/null; then
    drift=$(for f in src/*.c src/*.h; do clang-format "$f" | cmp -s - "$f" || echo "$f"; done)
    [[ -z $drift ]] || echo "lint: not clang-formatted (make fmt): $drift" >&2
fi

[[ $fail -eq 0 ]] && echo "lint: ok"
exit $fail
