#!/usr/bin/env bash
# build.sh - the manual pages of a built binary.
#
#   man/build.sh BIN OUTDIR VERSION
#
# OUTDIR/loopgate.8: man/loopgate.8 as it is, once it is checked against the
# binary: every command `BIN --help` lists and every option each
# `BIN COMMAND --help` prints must be named in it, or this fails naming what
# is missing. OUTDIR/loopgate.conf.5: man/loopgate.conf.5.in with its key
# list made from `BIN serve --help` (config.c's key table: key, environment
# variable, default, description), so neither page can drift from the binary.
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: man/build.sh BIN OUTDIR VERSION" >&2; exit 2; }
bin=$1 out=$2 version=$3
src=$(dirname "$0")
mkdir -p "$out"

# ---- loopgate.8: every command and option of --help named in the page.
page=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$src/loopgate.8")
missing=()
commands=$("$bin" --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}')
[[ -n $commands ]] || { echo "man/build.sh: $bin --help lists no commands" >&2; exit 1; }
for c in $commands; do
    grep -qE "^\.B $c( |$)" <<<"$page" || missing+=("command $c")
    [[ $c == help ]] && continue
    for o in $("$bin" "$c" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
        grep -qF -- "$o" <<<"$page" || missing+=("$c $o")
    done
done
if [[ ${#missing[@]} -gt 0 ]]; then
    printf 'man/build.sh: man/loopgate.8 does not name: %s\n' "${missing[@]}" >&2
    exit 1
fi
cp "$src/loopgate.8" "$out/loopgate.8.tmp"
mv "$out/loopgate.8.tmp" "$out/loopgate.8"

# ---- loopgate.conf.5: the key list of `serve --help`.
keys=$("$bin" serve --help | awk '
    function roff(s) {
        gsub(/\\/, "\\e", s)
        if (s ~ /^[.\047]/) s = "\\&" s
        return s
    }
    function flush() {
        if (key == "") return
        printf ".TP\n.B %s\n.br\n", key
        printf "Environment: \\fB%s\\fR; default: %s.\n", env, (def == "(empty)" ? "empty" : "\\fB" roff(def) "\\fR")
        if (desc != "") printf ".br\n%s\n", roff(desc)
        key = ""; desc = ""
    }
    /^Configuration keys/ { on = 1; next }
    !on { next }
    /^  [a-z0-9_]+ +[A-Z0-9_]+ / {
        flush()
        key = $1; env = $2
        def = $0; sub(/^  [a-z0-9_]+ +[A-Z0-9_]+ +/, "", def)
        next
    }
    /^      [^ ]/ { d = $0; sub(/^ +/, "", d); desc = (desc == "" ? d : desc " " d); next }
    { exit }
    END { flush() }')
n=$(grep -c '^\.TP$' <<<"$keys" || true)
[[ $n -ge 10 ]] || { echo "man/build.sh: found $n keys in $bin serve --help" >&2; exit 1; }
KEYS=$keys VERSION=$version awk '
    { gsub(/@VERSION@/, ENVIRON["VERSION"]) }
    $0 == "@KEYS@" { print ENVIRON["KEYS"]; next }
    { print }' "$src/loopgate.conf.5.in" >"$out/loopgate.conf.5.tmp"
mv "$out/loopgate.conf.5.tmp" "$out/loopgate.conf.5"
