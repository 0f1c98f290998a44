#!/bin/sh
# embed_sql.sh OUT FILE... - write a C file holding the migrations in order.
set -eu
out=$1
shift
{
    echo '/* Generated from the files of sql/ by src/embed_sql.sh; do not edit. */'
    echo '#include "migrate.h"'
    echo 'const struct migration migrations[] = {'
    for f in "$@"; do
        v=$(basename "$f" .sql)
        printf '    {"%s",\n' "$v"
        sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/     "/' -e 's/$/\\n"/' "$f"
        echo '    },'
    done
    echo '};'
    echo "const int migrations_count = $#;"
} > "$out.tmp"
mv "$out.tmp" "$out"
