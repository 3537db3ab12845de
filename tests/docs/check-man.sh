#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks built man pages: groff renders each without a warning (and mandoc finds no
# error, when it is installed), each has NAME, SYNOPSIS, DESCRIPTION, EXAMPLES and SEE
# ALSO, and each tlsid page it refers to is among the pages given.
# Usage: check-man.sh PAGE...
set -u
status=0
names=" "
for page in "$@"; do
        names="$names$(basename "$page") "
done
for page in "$@"; do
        name=$(basename "$page")
        warnings=$(groff -man -ww -z -Tutf8 "$page" 2>&1)
        if [ -n "$warnings" ]; then
                echo "$name: groff warns: $warnings"
                status=1
        fi
        if command -v mandoc >/dev/null; then
                errors=$(mandoc -Tlint -Werror "$page" 2>&1) ||
                        { echo "$name: mandoc: $errors"; status=1; }
        fi
        text=$(MANWIDTH=80 man -l "$page" 2>&1) ||
                { echo "$name: man -l failed: $text"; status=1; continue; }
        for section in NAME SYNOPSIS DESCRIPTION EXAMPLES "SEE ALSO"; do
                printf '%s\n' "$text" | grep -q "^$section\$" ||
                        { echo "$name: no $section section"; status=1; }
        done
        for ref in $(printf '%s\n' "$text" | grep -o '\b\(lib\)\?tlsid[a-z.-]*([1-8])' |
                     sort -u); do
                file=$(printf '%s' "$ref" | sed 's/(\(.\))$/.\1/')
                case "$names" in
                *" $file "*) ;;
                *) echo "$name: refers to $ref, which is not built"; status=1 ;;
                esac
        done
        [ $status -eq 0 ] && echo "$name: ok"
done
exit $status
