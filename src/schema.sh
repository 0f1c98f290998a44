#!/usr/bin/env bash
# schema.sh - sql/schema.sql: the schema as PostgreSQL dumps it after
# `loopgate migrate` on an empty database.
#
#   schema.sh dump CONNINFO   print the normalised schema of a database
#   schema.sh generate OUT    migrate an empty database in a throwaway cluster
#                             (initdb in a temp dir) and write its schema to OUT
#
# `make schema` runs `generate sql/schema.sql`; tests/integration/test_14_schema.py
# runs `dump` on the test stack's database and compares. The dump is
# `pg_dump --schema-only --no-owner --no-privileges`, normalised so that it
# does not change with the pg_dump that made it: no version comments, no
# `\restrict` / `\unrestrict` lines (random keys, newer minor releases), no
# SET lines (they vary between major releases), no run of blank lines.
# Environment: LOOPGATE_BIN (build/loopgate).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${LOOPGATE_BIN:-$ROOT/build/loopgate}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

die() { echo "schema.sh: $*" >&2; exit 1; }
[[ -n $PGBIN ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (run make deps)"

# PostgreSQL refuses to run as root: as root the cluster belongs to 'postgres'.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

normalise() {
    sed -e '/^-- Dumped from database version/d' -e '/^-- Dumped by pg_dump version/d' \
        -e '/^\\restrict /d' -e '/^\\unrestrict /d' \
        -e '/^SET [a-z_]* = .*;$/d' -e "/^SELECT pg_catalog.set_config('search_path', '', false);$/d" |
        cat -s
}

dump() {
    "$PGBIN/pg_dump" --schema-only --no-owner --no-privileges --dbname="$1" | normalise
}

generate() {
    local out=$1
    [[ -x $BIN ]] || die "$BIN not found (run make)"
    tmp=$(mktemp -d /tmp/loopgate-schema.XXXXXX)
    chmod 755 "$tmp"
    trap 'as_pg "$PGBIN/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
    mkdir "$tmp/pg" "$tmp/run"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$tmp/pg" "$tmp/run"
    as_pg "$PGBIN/initdb" -D "$tmp/pg" -U loopgate -A trust -E UTF8 --no-locale >"$tmp/initdb.log" 2>&1 ||
        die "initdb failed: $(cat "$tmp/initdb.log")"
    as_pg "$PGBIN/pg_ctl" -D "$tmp/pg" -w -t 30 -l "$tmp/run/postgresql.log" \
        -o "-k $tmp/run -c listen_addresses='' -p 5432 -c fsync=off" start >/dev/null ||
        die "PostgreSQL did not start: $(cat "$tmp/run/postgresql.log")"
    "$PGBIN/psql" -X -q -h "$tmp/run" -U loopgate -d postgres -c "CREATE DATABASE loopgate"
    local uri="host=$tmp/run port=5432 dbname=loopgate user=loopgate"
    DB_URI=$uri LOOPGATE_CONFIG=$ROOT/conf/loopgate.conf "$BIN" migrate >/dev/null
    dump "$uri" >"$out.tmp"
    mv "$out.tmp" "$out"
}

case ${1:-} in
dump) [[ $# -eq 2 ]] || die "usage: schema.sh dump CONNINFO"; dump "$2" ;;
generate) [[ $# -eq 2 ]] || die "usage: schema.sh generate OUT"; generate "$2" ;;
*) die "usage: schema.sh dump CONNINFO | generate OUT" ;;
esac
