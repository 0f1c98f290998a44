#!/usr/bin/env bash
# build.sh - the Debian package from a `make install` staging tree.
#
#   packaging/deb/build.sh STAGE VERSION ARCH OUT.deb
#
# STAGE is `make DEB=1 install PREFIX=/usr DESTDIR=STAGE` (the packaged
# layout of docs/OPERATIONS.md). To it this adds what Debian asks of a
# binary package and builds OUT.deb with dpkg-deb:
#   - the nginx site only as an example (/usr/share/doc/loopgate/examples/,
#     where `make install` also puts it), not in /etc/nginx/sites-available;
#   - the binary stripped, the manual pages and the changelog compressed
#     (gzip -9n), the copyright file and README.Debian;
#   - DEBIAN/: control (Depends from dpkg-shlibdeps), conffiles (every file
#     under /etc), the maintainer scripts of this directory, md5sums.
# Timestamps are those of the last commit (SOURCE_DATE_EPOCH), files are
# owned by root: two builds of one commit give the same package.
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: packaging/deb/build.sh STAGE VERSION ARCH OUT.deb" >&2; exit 2; }
stage=$1 version=$2 arch=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
maintainer=${DEB_MAINTAINER:-"Loopgate maintainers <maintainers@users.noreply.b-seed-bfecf42c.example>"}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}
doc=$stage/usr/share/doc/loopgate

[[ -x $stage/usr/bin/loopgate ]] || { echo "build.sh: $stage/usr/bin/loopgate is missing" >&2; exit 1; }

# ---- layout: what differs from a plain `make install`.
rm -rf "$stage/etc/nginx/sites-available"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$stage/usr/bin/loopgate"
gzip -9nf "$stage"/usr/share/man/man*/*
install -m 0644 "$here/copyright" "$doc/copyright"
install -m 0644 "$here/README.Debian" "$doc/README.Debian"
rm -f "$doc/LICENSE"   # the copyright file holds it
install -D -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/loopgate"

# The changelog: this version, then every release of RELEASES, newest first.
{
    printf 'loopgate (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Built from commit %s (see RELEASES).\n\n' \
        "$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    grep -E '^v[0-9]' "$here/../../RELEASES" 2>/dev/null | tac | while read -r tag commit _; do
        when=$(git -C "$here" log -1 --format=%ct "$commit" 2>/dev/null) || continue
        printf '\nloopgate (%s) unstable; urgency=medium\n\n' "${tag#v}"
        printf '  * Release %s, commit %s.\n\n' "$tag" "${commit:0:12}"
        printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$when")"
    done
} | gzip -9n >"$doc/changelog.gz"

# ---- DEBIAN/
ctl=$stage/DEBIAN
rm -rf "$ctl"
install -d -m 0755 "$ctl"
for s in postinst prerm postrm; do
    install -m 0755 "$here/$s" "$ctl/$s"
done
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') >"$ctl/conffiles"

# dpkg-shlibdeps wants a debian/control; it reads only the package's name.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: loopgate\n\nPackage: loopgate\nArchitecture: any\n' >"$work/debian/control"
bin=$(realpath "$stage/usr/bin/loopgate")
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$bin" 2>"$work/err") ||
    { cat "$work/err" >&2; exit 1; }
shlibs=${shlibs#shlibs:Depends=}
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)

sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@SIZE@|$size|" -e "s|@SHLIBS@|$shlibs|" "$here/control.in" >"$ctl/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
    xargs -d '\n' md5sum) >"$ctl/md5sums"
chmod 0644 "$ctl/control" "$ctl/conffiles" "$ctl/md5sums"

# Directories 0755 (the staging tree's umask may differ) except /etc/loopgate.
find "$stage" -type d -exec chmod 0755 {} +
chmod 0750 "$stage/etc/loopgate"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out.tmp" >/dev/null
mv "$out.tmp" "$out"
