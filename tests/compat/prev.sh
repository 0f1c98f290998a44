#!/usr/bin/env bash
# prev.sh - the previous release's binary, built from git once per commit.
#
#   prev.sh [OUTDIR]   build OUTDIR/loopgate-VERSION (OUTDIR: build/prev) unless
#                      it is already there for the same commit; print "VERSION PATH"
#
# RELEASES lists `version commit`, oldest first. The previous release is the
# newest entry whose commit is not HEAD: while a release's own commit is
# checked out, the one before it. It is checked out into a detached git
# worktree, built there with its own Makefile (its SQL is embedded in its
# binary, so nothing here depends on how the tree lays out sql/), and the
# worktree is removed. Next to the binary: loopgate-VERSION.conf, the
# release's shipped configuration (a host not yet upgraded keeps its own
# configuration file), and loopgate-VERSION.commit, the commit both came from.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/prev}

say() { echo "prev.sh: $*" >&2; }
die() { say "$*"; exit 1; }

head=$(git rev-parse HEAD) || die "not a git checkout: the previous release is built from git"
version="" commit=""
while read -r v c _; do
    [[ -z $v || $v == \#* ]] && continue
    [[ $c =~ ^[0-9a-f]{40}$ ]] || die "RELEASES: '$v' needs a full 40-digit commit, not '$c'"
    [[ $c == "$head" ]] && continue
    version=$v commit=$c
done <RELEASES
[[ -n $commit ]] || die "RELEASES names no release before HEAD"

bin=$out/loopgate-$version
if [[ -x $bin && -f $bin.conf && -f $bin.commit && $(cat "$bin.commit") == "$commit" ]]; then
    echo "$version $bin"
    exit 0
fi

if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
    die "the previous release $version (commit $commit) is not in this clone;" \
        "a shallow clone lacks it: fetch the history with 'git fetch --unshallow'" \
        "(or 'git fetch origin $commit') and run again"
fi

mkdir -p "$out"
src=$(mktemp -d "$out/src.XXXXXX")
src=$(cd "$src" && pwd)
cleanup() {
    git worktree remove --force "$src" >/dev/null 2>&1 || true
    rm -rf "$src"
    git worktree prune >/dev/null 2>&1 || true
}
trap cleanup EXIT
say "building $version ($commit) in a temporary git worktree"
git worktree add --quiet --detach "$src" "$commit"
# Its own make, not ours: no SAN=1 or TSAN=1 from a calling make leaks in.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$src" -j2 build >"$src.log" 2>&1; then
    cat "$src.log" >&2
    rm -f "$src.log"
    die "could not build $version ($commit)"
fi
rm -f "$src.log"
cp "$src/conf/loopgate.conf" "$bin.conf"
cp "$src/build/loopgate" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$commit" >"$bin.commit"
echo "$version $bin"
