#!/bin/sh
# embed_sql.sh OUT MIGRATION... --objects OBJECT... - write a C file holding
# the migrations (sql/migrations/NNN_name.sql, in the order given) and the
# object files (sql/functions/NAME.sql) with their SHA-256, for migrate.c.
#
# Directives are lines `-- loopgate: ...` in a migration's leading comment
# block (docs/MIGRATIONS.md):
#   -- loopgate: no-transaction     run outside a transaction, statement by statement
#   -- loopgate: needs NAME...      apply these object files first, in its transaction
# A directive that is not one of these, a `needs` naming no object file, a
# directive in an object file or a file without a final newline stops the
# build here rather than the migration later.
set -eu
out=$1
shift

die() {
    echo "embed_sql.sh: $*" >&2
    exit 1
}

# The directives of a file's leading comment block, one per line.
directives() {
    awk '!/^--/ { exit } sub(/^-- loopgate: */, "") { print }' "$1"
}

# Any line that looks like a directive but is not one of the leading block
# in its exact spelling (after a blank line, `--loopgate:`, `-- Loopgate:`):
# it would be silently ignored, so it stops the build.
stray_directives() {
    awk 'head && !/^--/ { head = 0 }
         tolower($0) ~ /^[ \t]*--[ \t]*loopgate[ \t]*:/ && !(head && /^-- loopgate: /) {
             print FILENAME ":" FNR ": " $0 }' head=1 "$1"
}

# What an object file defines, as kind:name words (function:lg_ts
# trigger:requests_decided view:...): migrate.c looks each one up in the
# database, so an object dropped or never created there is applied again.
defines() {
    tr 'A-Z' 'a-z' <"$1" | sed -nE \
        's/^[[:space:]]*create[[:space:]]+or[[:space:]]+replace[[:space:]]+(function|trigger|view)[[:space:]]+([a-z_][a-z0-9_]*).*/\1:\2/p' |
        sort -u | tr '\n' ' ' | sed 's/ $//'
}

# C string literal lines of a file.
literal() {
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/     "/' -e 's/$/\\n"/' "$1"
}

migs=""
while [ $# -gt 0 ] && [ "$1" != --objects ]; do
    migs="$migs $1"
    shift
done
[ $# -gt 0 ] && shift
objs="$*"

names=""
for f in $objs; do
    names="$names $(basename "$f" .sql)"
done

{
    echo '/* Generated from sql/migrations and sql/functions by src/embed_sql.sh; do not edit. */'
    echo '#include "migrate.h"'
    echo 'const struct migration migrations[] = {'
    n=0
    for f in $migs; do
        v=$(basename "$f" .sql)
        echo "$v" | grep -Eq '^[0-9]{3}_[a-z0-9_]+$' || die "$f: a migration is named NNN_name.sql"
        [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ] || die "$f: no newline at the end"
        stray=$(stray_directives "$f")
        [ -z "$stray" ] || die "a directive outside the leading comment block or misspelt (write '-- loopgate: ...' at the top): $stray"
        notx=0
        needs=""
        while read -r d; do
            case $d in
            '') ;;
            no-transaction) notx=1 ;;
            "needs "*)
                for o in ${d#needs }; do
                    case " $names " in
                    *" $o "*) needs="$needs${needs:+ }$o" ;;
                    *) die "$f: needs $o, which is no file of sql/functions" ;;
                    esac
                done
                ;;
            *) die "$f: unknown directive '-- loopgate: $d'" ;;
            esac
        done <<EOF
$(directives "$f")
EOF
        printf '    {.version = "%s", .no_transaction = %d, .needs = "%s",\n     .sql =\n' \
            "$v" "$notx" "$needs"
        literal "$f"
        echo '    },'
        n=$((n + 1))
    done
    echo '};'
    echo "const int migrations_count = $n;"
    echo 'const struct sql_object sql_objects[] = {'
    n=0
    for f in $objs; do
        o=$(basename "$f" .sql)
        echo "$o" | grep -Eq '^[a-z_][a-z0-9_]*$' || die "$f: an object file is named after its object"
        [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ] || die "$f: no newline at the end"
        [ -z "$(directives "$f")$(stray_directives "$f")" ] || die "$f: directives belong to migrations"
        defs=$(defines "$f")
        [ -n "$defs" ] || die "$f: defines nothing with CREATE OR REPLACE FUNCTION, TRIGGER or VIEW"
        sum=$(sha256sum "$f" | cut -d ' ' -f 1)
        printf '    {.name = "%s", .sha256 = "%s", .defines = "%s",\n     .sql =\n' "$o" "$sum" "$defs"
        literal "$f"
        echo '    },'
        n=$((n + 1))
    done
    echo '};'
    echo "const int sql_objects_count = $n;"
} >"$out.tmp"
mv "$out.tmp" "$out"
