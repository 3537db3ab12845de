#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Idle wake-ups of tlsidd: on a private dbus-daemon, a daemon that nobody calls is left
# alone for BENCH_IDLE_SECONDS (default 60) with and without $XDG_CONFIG_HOME/tlsid/ (a new
# user's state), and the voluntary context switches of all its threads are summed from
# /proc (no tracer attached: a tracer's own wake-ups would count). Prints figures; fails
# only when the daemon cannot be started. Usage: idle-wakeups.sh TLSIDD
set -euo pipefail
tlsidd=$1
seconds=${BENCH_IDLE_SECONDS:-60}

switches() {
        cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s }'
}

measure() {
        local mode=$1 dir pid bus_pid addr before after
        dir=$(mktemp -d)
        mkdir -p "$dir/home" "$dir/state"
        [ "$mode" = with ] && mkdir -p "$dir/config/tlsid"
        addr=$(dbus-daemon --session --print-address --fork --nopidfile --print-pid=3 3>"$dir/bus.pid")
        bus_pid=$(cat "$dir/bus.pid")
        HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_STATE_HOME=$dir/state \
                XDG_RUNTIME_DIR=$dir "$tlsidd" --bus-address="$addr" 2>"$dir/log" &
        pid=$!
        sleep 3 # start-up: bus name, policy watch, first reads
        if ! kill -0 "$pid" 2>/dev/null; then
                cat "$dir/log" >&2
                kill "$bus_pid"
                return 1
        fi
        before=$(switches "$pid")
        sleep "$seconds"
        after=$(switches "$pid")
        printf '%-45s %6d wake-ups in %d s\n' "$mode $dir/config/tlsid:" $((after - before)) \
                "$seconds" | sed "s|$dir|\$TMP|"
        kill "$pid" "$bus_pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$dir"
}

measure without
measure with
