#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test wrapper of the sanitized run (scripts/test-sanitized gives it to meson test
# --wrapper): runs one test so that every process it starts writes its sanitizer reports
# into a directory of this run, and fails the test when a report is there, printing it
# into the test's log. Usage: run-sanitized.sh COMMAND [ARGS...]
#
# Files, not stderr: tlsidd is activated by the test's dbus-daemon, and tests read or
# discard the stderr of the programs they run, so a report on stderr could go unseen.
# log_path writes one file per process (PREFIX.PID); the options reach tlsidd because
# dbus-daemon passes its environment on to what it activates
# (tests/sanitize/test-sanitized-daemon.c checks that).
set -u

here=$(cd "$(dirname "$0")" && pwd)
reports=$(mktemp -d "${TMPDIR:-/tmp}/tlsid-sanitizer-XXXXXX")

# Any report ends the process (abort_on_error: a test sees a signal, not an exit status
# it might expect); leaks are checked at every exit. UBSan's recovery is compiled out too
# (-fno-sanitize-recover=undefined). With clang's combined runtime UBSAN_OPTIONS's
# log_path is the one that applies, so both name the same place.
export ASAN_OPTIONS="log_path=$reports/report:halt_on_error=1:abort_on_error=1:detect_leaks=1:disable_coredump=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="log_path=$reports/report:halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"

"$@"
status=$?

found=0
for f in "$reports"/*; do
        [ -e "$f" ] || continue
        found=1
        echo "==== sanitizer report of pid ${f##*.} ====" >&2
        cat "$f" >&2
done
rm -rf "$reports"
if [ "$found" -eq 1 ]; then
        echo "run-sanitized.sh: a sanitizer reported an error (above): the test fails" >&2
        [ "$status" -eq 0 ] && status=1
fi
exit "$status"
