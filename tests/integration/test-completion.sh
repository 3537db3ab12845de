#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion of tlsidctl against a live tlsidd on a private bus: commands and
# options, contexts, origins and certificate nicknames asked from the daemon, with and
# without the bash-completion package's helpers.
# Usage: test-completion.sh COMPLETION_FILE TEST_BUS_CONF (TLSIDCTL in the environment)
set -euo pipefail

completion=$1
bus_conf=$2
: "${TLSIDCTL:?}"
PATH=$(dirname "$TLSIDCTL"):$PATH

tmp=$(mktemp -d /tmp/tlsid-completion-XXXXXX)
bus_pid=""
daemon_pid=""
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait_gone "$daemon_pid"
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null
        rm -rf "$tmp"
}
wait_gone() {
        for _ in $(seq 100); do
                kill -0 "$1" 2>/dev/null || return 0
                sleep 0.05
        done
}
trap cleanup EXIT

# A home of its own: tlsidd lists the certificates of its NSS database.
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state XDG_RUNTIME_DIR=$tmp
mkdir -p "$tmp/.pki/nssdb"
certutil -N -d "sql:$tmp/.pki/nssdb" --empty-password
head -c 64 /dev/urandom > "$tmp/noise"
certutil -S -d "sql:$tmp/.pki/nssdb" -n "work id" -s "CN=Work" -x -t ",," -k ec -q nistp256 \
        -z "$tmp/noise" >/dev/null 2>&1

dbus-daemon --config-file="$bus_conf" --print-address=3 --nofork 3>"$tmp/address" &
bus_pid=$!
for _ in $(seq 200); do
        [ -s "$tmp/address" ] && break
        sleep 0.05
done
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$tmp/address")
export DBUS_SESSION_BUS_ADDRESS
unset DBUS_STARTER_ADDRESS DBUS_STARTER_BUS_TYPE

tlsidctl open test/one --label "One"
tlsidctl open test/two
tlsidctl choose test/one example.com:443 none
daemon_pid=$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus / \
        org.freedesktop.DBus.GetConnectionUnixProcessID string:org.tlsid.Manager1 |
        awk '{print $2}')

failures=0
# complete PRELUDE LINE EXPECTED...: completes the last word of LINE in a bash that
# sourced PRELUDE (the bash-completion package, or nothing) and the completion, and checks
# COMPREPLY holds each EXPECTED (or, with EXPECTED "-", is empty). After a ":" the word
# bash completes is what follows it.
complete_line() {
        local prelude=$1 line=$2 reply before=$failures
        shift 2
        reply=$(bash --norc --noprofile -c '
                . "$1" 2>/dev/null || true
                . "$2"
                COMP_LINE=$3
                COMP_POINT=${#COMP_LINE}
                # Split as bash does: at blanks, and at the ":" and "=" of COMP_WORDBREAKS.
                read -r -a COMP_WORDS <<<"$(sed "s/\([:=]\)/ \1 /g" <<<"$COMP_LINE")"
                [[ $COMP_LINE == *[" :="] ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                _tlsidctl tlsidctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                printf "%s\n" "${COMPREPLY[@]}"' bash "$prelude" "$completion" "$line")
        for want in "$@"; do
                if [ "$want" = - ]; then
                        [ -z "$reply" ] && continue
                elif grep -qxF -- "$want" <<<"$reply"; then
                        continue
                fi
                echo "FAIL: '$line' (${prelude:-plain}): want '$want', got: $(echo $reply)"
                failures=$((failures + 1))
        done
        [ "$failures" -eq "$before" ] && echo "ok: '$line' (${prelude:-plain}) -> $(echo $reply)"
        return 0
}

for prelude in "" /usr/share/bash-completion/bash_completion; do
        complete_line "$prelude" "tlsidctl " status contexts choose monitor help
        complete_line "$prelude" "tlsidctl fl" flush
        complete_line "$prelude" "tlsidctl --" --json --no-legend --bus-address
        complete_line "$prelude" "tlsidctl flush --" --context --origin --json
        complete_line "$prelude" "tlsidctl contexts --" --no-legend
        complete_line "$prelude" "tlsidctl sessions test/" test/one test/two
        complete_line "$prelude" "tlsidctl close test/t" test/two
        complete_line "$prelude" "tlsidctl flush --context " test/one test/two
        complete_line "$prelude" "tlsidctl choose test/one exa" example.com:443
        complete_line "$prelude" "tlsidctl choose test/one example.com:4" 443
        complete_line "$prelude" "tlsidctl flush --origin example.com:" 443
        complete_line "$prelude" "tlsidctl choose test/two exa" -
        complete_line "$prelude" "tlsidctl choose test/one example.com:443 " none undecided \
                'work\ id'
        complete_line "$prelude" "tlsidctl choose test/one example.com:443 wo" 'work\ id'
        complete_line "$prelude" "tlsidctl help mon" monitor
        complete_line "$prelude" "tlsidctl ag" agent
        complete_line "$prelude" "tlsidctl req" requests
        complete_line "$prelude" "tlsidctl agent --" --json --help
        complete_line "$prelude" "tlsidctl requests --" --json --no-legend
done

# A context opened after the first completion shows up in the next one: asked live.
tlsidctl open test/three
complete_line "" "tlsidctl sessions test/th" test/three

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
