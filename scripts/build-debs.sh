#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian packages of this tree into OUTDIR and checks them with lintian.
# As root it first installs the build dependencies (debian/control) and the tools.
# The build runs in a copy of the tree under a scratch directory, since
# dpkg-buildpackage writes its results into the parent of the source directory.
# Usage: scripts/build-debs.sh OUTDIR
set -euo pipefail

if [ $# -ne 1 ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                dpkg-dev debhelper lintian
        DEBIAN_FRONTEND=noninteractive apt-get build-dep -y "$top"
fi

scratch=$(mktemp -d /tmp/tlsid-debbuild-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
src=$scratch/tlsid-src
mkdir "$src"
# The tracked and untracked files of the tree, without build directories (.gitignore).
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$src"

start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b)
echo "dpkg-buildpackage took $(($(date +%s) - start)) s"

mv "$scratch"/*.deb "$scratch"/*.changes "$scratch"/*.buildinfo "$out"/
changes=$(ls "$out"/*.changes | tail -n 1)
echo "Packages in $out:"
ls -l "$out"/*.deb
# Errors fail the build; warnings are shown.
lintian --fail-on error --display-info "$changes"
