#!/usr/bin/env bash
# bookworm-root.sh - a minimal Debian 12 root file system, made once and kept.
#
#   tests/pkg/bookworm-root.sh [DIR]   prints the path of the tarball
#
# debootstrap --variant=minbase bookworm from the mirror apt uses on this
# host, packed as DIR/bookworm-minbase.tar (default DIR: $LOOPGATE_ROOTFS_CACHE, else build/cache). A
# second call finds the tarball and returns at once; a failed or interrupted
# run leaves nothing behind that looks finished. The package test unpacks it
# into a fresh chroot; the image test imports it as debian:bookworm-slim.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-${LOOPGATE_ROOTFS_CACHE:-build/cache}}
tar=$dir/bookworm-minbase.tar
if [[ -s $tar ]]; then
    echo "$tar"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "bookworm-root.sh: debootstrap is missing (tests/deps.sh)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "bookworm-root.sh: debootstrap needs root" >&2; exit 1; }
mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
         grep -v security | awk 'NR == 1 {print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$dir"
work=$(mktemp -d "$dir/rootfs.XXXXXX")
trap 'rm -rf "$work" "$tar.part"' EXIT
echo "bookworm-root.sh: debootstrap --variant=minbase bookworm from $mirror (about 1.5 min)" >&2
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 ||
    { tail -n 20 "$work/log" >&2; exit 1; }
tar -C "$work/root" --numeric-owner -cf "$tar.part" .
mv "$tar.part" "$tar"
echo "$tar"
