#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: the real-systemd test of the user unit, against the tlsid packages installed on this
# machine (apt-get install ./*.deb has run). Usage: scripts/ci-service-test.sh
# Needs root; exits with the test's status (77 when skipped counts as a failure here: CI
# installed the packages, so the test must run).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# What the test boots: a user manager, journald, dbus-user-session's dbus.socket, and
# unshare, setpriv and useradd.
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        systemd dbus-user-session util-linux passwd pkg-config >/dev/null
for f in /usr/lib/systemd/user/tlsid.service /usr/share/dbus-1/services/org.tlsid.Manager1.service \
         /usr/bin/tlsidctl; do
        [ -e "$f" ] || { echo "ci-service-test: $f is not installed" >&2; exit 1; }
done
dpkg-query -W -f='${Package} ${Version}\n' tlsid 2>/dev/null || echo "(tlsid not installed as a package)"
rc=0
TLSID_INSTALLED=1 "$top/tests/service/test-user-service.sh" || rc=$?
if [ "$rc" -eq 77 ]; then
        echo "ci-service-test: the test skipped itself, but CI must run it" >&2
        exit 1
fi
exit "$rc"
