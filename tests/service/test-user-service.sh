#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The installed user unit under a real systemd --user manager: D-Bus activation, reload,
# restart with remembered choices, the sandbox as seen from inside the service, stop, and
# what a client says when the unit fails to start.
#
# Containers and CI machines have no user manager, so this script boots one, as root, for
# an unprivileged test user: private mount and cgroup namespaces, cgroup2 mounted inside
# with a subtree delegated to the user, /run/systemd/system (so systemd believes it was
# booted with systemd), a journald of its own, a private XDG_RUNTIME_DIR and
# dbus-user-session's dbus.socket. /run itself is left as the machine has it, so that a
# container whose /run is no mount point of its own is tested as such.
#
# It tests what is installed on the system (the unit, the activation file, tlsidd and
# tlsidctl under /usr), never a build tree. Skipped (77) unless TLSID_INSTALLED=1 and root.
# Environment: TLSID_TEST_USER (default tlsid-ci, created when missing),
# TLSID_SERVICE_TEST_TIMEOUT (seconds, default 300).
set -euo pipefail

if [ "${TLSID_INSTALLED:-}" != 1 ]; then
        echo "SKIP: set TLSID_INSTALLED=1 once tlsid is installed on this system"
        exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: must run as root (it boots a user manager for a test user)"
        exit 77
fi

self=$(readlink -f "$0")
if [ "${1:-}" != --inside ]; then
        # The global timeout, and the namespaces everything below lives in. When the
        # timeout fires, the namespace's processes die with it (the EXIT trap runs on TERM).
        exec timeout --kill-after=15 "${TLSID_SERVICE_TEST_TIMEOUT:-300}" \
                unshare --mount --cgroup --fork --propagation private "$self" --inside
fi

# --- the test user and the installed files ---

user=${TLSID_TEST_USER:-tlsid-ci}
PATH=/usr/sbin:/usr/bin:/sbin:/bin
step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok: %s\n' "$*"; }

if ! id "$user" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash --comment "tlsid user-service test" "$user"
        echo "created user $user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)
rt=/run/user/$uid
# A drop-in left by an earlier run that failed half-way would change the unit.
rm -rf "$home/.config/systemd/user/tlsid.service.d"

unit_dir=$(pkg-config --variable=systemduserunitdir systemd 2>/dev/null || echo /usr/lib/systemd/user)
services_dir=$(pkg-config --variable=session_bus_services_dir dbus-1 2>/dev/null ||
               echo /usr/share/dbus-1/services)
unit=$unit_dir/tlsid.service
activation=$services_dir/org.tlsid.Manager1.service
for f in "$unit" "$activation" /usr/bin/tlsidctl /usr/lib/systemd/systemd \
         /usr/lib/systemd/systemd-journald "$unit_dir/dbus.socket"; do
        [ -e "$f" ] || fail "$f is not installed"
done
tlsidd=$(sed -n 's/^ExecStart=//p' "$unit")
[ -x "$tlsidd" ] || fail "the unit's ExecStart $tlsidd is not installed"

# --- cleanup: every process we start, by PID; every mount; every cgroup ---

manager_pid=
journald_pid=
cg_top=
made_dirs=()
mounts=()

cleanup() {
        local rc=$?
        set +e
        trap - EXIT
        if [ -n "$manager_pid" ]; then
                # It stops its units (dbus, tlsid) and exits; KILL after 20 s.
                kill -TERM "$manager_pid" 2>/dev/null
                (sleep 20; kill -KILL "$manager_pid" 2>/dev/null) &
                local killer=$!
                wait "$manager_pid" 2>/dev/null
                kill "$killer" 2>/dev/null
                wait "$killer" 2>/dev/null
        fi
        # Anything the manager left behind in its cgroups (there should be nothing).
        if [ -n "$cg_top" ] && [ -d "$cg_top" ]; then
                local left= _
                for _ in $(seq 50); do
                        left=$(find "$cg_top" -name cgroup.procs -exec cat {} + | sort -u)
                        [ -z "$left" ] && break
                        sleep 0.1
                done
                if [ -n "$left" ]; then
                        echo "FAIL: processes left in the user manager's cgroups:" $left >&2
                        # shellcheck disable=SC2086
                        kill -KILL $left 2>/dev/null
                        sleep 0.5
                        rc=1
                fi
                find "$cg_top" -depth -type d -exec rmdir {} + ||
                        { echo "FAIL: cannot remove the test's cgroups under $cg_top" >&2; rc=1; }
        fi
        if [ -n "$journald_pid" ]; then
                kill -TERM "$journald_pid" 2>/dev/null
                wait "$journald_pid" 2>/dev/null
        fi
        local i
        for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
                umount "${mounts[i]}" || { echo "FAIL: cannot unmount ${mounts[i]}" >&2; rc=1; }
        done
        for ((i = ${#made_dirs[@]} - 1; i >= 0; i--)); do
                rmdir "${made_dirs[i]}" 2>/dev/null
        done
        if [ "$rc" -eq 0 ]; then
                printf '\nPASS\n'
        else
                printf '\nFAILED (exit %s)\n' "$rc" >&2
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

# A mount point made only for this test is removed again afterwards.
mount_here() {
        local target=${*: -1}
        if [ ! -d "$target" ]; then
                mkdir -p "$target"
                made_dirs+=("$target")
        fi
        mount "$@"
        mounts+=("$target")
}

step "environment"
echo "kernel $(uname -r); $(systemctl --version | head -1); $(dbus-daemon --version | head -1)"
echo "unit: $unit"
echo "activation file: $activation"
echo "daemon: $tlsidd; tlsidctl: /usr/bin/tlsidctl"
echo "test user: $user ($uid:$gid, $home)"
echo "/run: $(findmnt -n -o FSTYPE /run || echo 'not a mount point of its own')"

step "booting systemd --user for $user"
mount_here -t cgroup2 cgroup2 /sys/fs/cgroup
# The path user@.service has, so that journald files the service's lines under
# _SYSTEMD_USER_UNIT. Relative to the cgroup namespace's root: our own cgroup.
[ -e /sys/fs/cgroup/user.slice ] && fail "/sys/fs/cgroup/user.slice exists in our cgroup namespace"
cg_top=/sys/fs/cgroup/user.slice
manager_cg=$cg_top/user-$uid.slice/user@$uid.service
mkdir -p "$manager_cg"
chown -R "$uid:$gid" "$manager_cg"
echo "cgroup2 mounted, $manager_cg delegated to $user"

# /run/systemd as a booted system has it: system/ tells sd_booted() yes, unit-root/ is
# where a manager assembles a unit's mount namespace, journal/ is journald's.
mount_here -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir /run/systemd/system /run/systemd/journal
mkdir -m 0700 /run/systemd/unit-root
mount_here -t tmpfs -o mode=0755 tmpfs /run/log
if [ -d /var/log/journal ]; then
        mount_here -t tmpfs -o mode=0755 tmpfs /var/log/journal
fi
/usr/lib/systemd/systemd-journald &
journald_pid=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
[ -S /run/systemd/journal/socket ] || fail "journald did not start"
echo "journald $journald_pid"

mount_here -t tmpfs -o mode=0755 tmpfs /run/user
mkdir -m 0700 "$rt"
chown "$uid:$gid" "$rt"

as_user() {
        setpriv --reuid="$uid" --regid="$gid" --init-groups \
                env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/bin:/bin \
                XDG_RUNTIME_DIR="$rt" DBUS_SESSION_BUS_ADDRESS="unix:path=$rt/bus" "$@"
}
user_systemctl() { as_user systemctl --user "$@"; }
show() { user_systemctl show -p "$1" --value tlsid.service; }
journal() { journalctl -D /run/log/journal --no-pager "$@"; }
# Waits up to 5 s for a line of tlsid.service in the journal (journald files it a little
# after the daemon wrote it).
journal_has() {
        local _
        for _ in $(seq 50); do
                journal _SYSTEMD_USER_UNIT=tlsid.service -o cat | grep -q -- "$1" && return 0
                sleep 0.1
        done
        return 1
}

# The manager starts in its delegated cgroup, as user@UID.service would.
(
        echo "$BASHPID" > "$manager_cg/cgroup.procs"
        exec setpriv --reuid="$uid" --regid="$gid" --init-groups \
                env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/bin:/bin \
                XDG_RUNTIME_DIR="$rt" /usr/lib/systemd/systemd --user
) </dev/null &
manager_pid=$!
for _ in $(seq 100); do [ -S "$rt/systemd/private" ] && break; sleep 0.1; done
[ -S "$rt/systemd/private" ] || fail "systemd --user did not come up"
state=$(as_user timeout 30 systemctl --user is-system-running --wait || true)
echo "systemd --user $manager_pid: $state"
[ "$state" = running ] || { user_systemctl --failed --no-pager; fail "manager is $state"; }
[ -S "$rt/bus" ] || fail "dbus.socket did not create $rt/bus"
ok "session bus at unix:path=$rt/bus (dbus.socket)"

step "the unit as installed"
[ "$(show FragmentPath)" = "$unit" ] || fail "systemd loads $(show FragmentPath), not $unit"
[ -z "$(show DropInPaths)" ] || fail "drop-ins change the unit: $(show DropInPaths)"
ok "loaded from $unit, no drop-ins"
[ "$(show UnitFileState)" = static ] || fail "tlsid.service is $(show UnitFileState), not static (no [Install])"
ok "UnitFileState=static: no [Install] section, started by D-Bus activation"
[ "$(show ActiveState)" = inactive ] || fail "tlsid.service runs before anyone asked for it"
ok "not running before the first call"
for p in Slice LimitCORE Type BusName PrivateUsers Documentation; do
        echo "  $p=$(show $p)"
done
[ "$(show Slice)" = session.slice ] || fail "Slice is not session.slice"
[ "$(show LimitCORE)" = 0 ] || fail "LimitCORE is not 0"

# The user's files: an NSS database and a policy, read through the sandbox.
as_user mkdir -p "$home/.pki/nssdb" "$home/.config/tlsid"
as_user rm -rf "$home/.local/state/tlsid"
if [ ! -f "$home/.pki/nssdb/cert9.db" ]; then
        as_user certutil -N --empty-password -d "sql:$home/.pki/nssdb"
fi
echo '{ "mode": "none" }' | as_user tee "$home/.config/tlsid/policy.json" >/dev/null

step "the first call activates tlsid.service"
start=$(date +%s%N)
as_user tlsidctl status
echo "tlsidctl status took $(( ($(date +%s%N) - start) / 1000000 )) ms"
[ "$(show ActiveState)" = active ] || fail "tlsid.service is $(show ActiveState)"
pid=$(show MainPID)
[ "$pid" -gt 0 ] || fail "no MainPID"
ok "$(user_systemctl show -p ActiveState,SubState,MainPID tlsid.service | tr '\n' ' ')"
journal_has "serving org.tlsid.Manager1" ||
        fail "tlsidd's start is not in the journal"
ok "journal: $(journal _SYSTEMD_USER_UNIT=tlsid.service -o cat | grep 'User certificates')"
as_user tlsidctl policy | grep -q '"mode" : "none"' || fail "policy.json was not read"
ok "policy.json read: mode none"

step "the sandbox as seen from inside tlsidd (PID $pid)"
grep -E '^(Uid|Gid|NoNewPrivs|Seccomp|Seccomp_filters|Cap[A-Za-z]+):' "/proc/$pid/status"
status_field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
[ "$(status_field NoNewPrivs)" = 1 ] || fail "NoNewPrivs is not 1"
[ "$(status_field Seccomp)" = 2 ] || fail "no seccomp filter (Seccomp is not 2)"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
        [ "$(status_field $c)" = 0000000000000000 ] || fail "$c is $(status_field $c), not empty"
done
ok "no capabilities in any set, NoNewPrivs, a seccomp filter"

printf '%-7s %-22s %-22s\n' NS tlsidd "systemd --user"
for ns in user mnt net uts ipc pid cgroup; do
        a=$(readlink "/proc/$pid/ns/$ns")
        b=$(readlink "/proc/$manager_pid/ns/$ns")
        printf '%-7s %-22s %-22s %s\n' "$ns" "$a" "$b" "$([ "$a" = "$b" ] && echo shared || echo private)"
        case $ns in
        user | mnt | net | uts) [ "$a" != "$b" ] || fail "the $ns namespace is not private" ;;
        esac
done
ok "private user (PrivateUsers), mount, network (PrivateNetwork), UTS (ProtectHostname) namespaces"
echo "uid_map: $(tr -s ' ' < "/proc/$pid/uid_map")"
echo "network devices: $(awk -F: 'NR > 2 { gsub(/ /, "", $1); printf "%s ", $1 }' "/proc/$pid/net/dev")"
[ "$(awk 'NR > 2' "/proc/$pid/net/dev" | grep -vc '^ *lo:')" = 0 ] || fail "tlsidd sees network devices"

inside() { nsenter -t "$pid" -m -- "$@"; }
# Written as root from the service's mount namespace: only a read-only mount stops it.
writable() { inside sh -c "touch '$1/.tlsid-test' 2>/dev/null && rm -f '$1/.tlsid-test'"; }
[ "$(stat -c %a "$home/.local/state/tlsid")" = 700 ] || fail "ExecStartPre did not make the state directory"
for d in /usr /etc /var "$home" "$home/.pki/nssdb" "$home/.config/tlsid" "$rt"; do
        if writable "$d"; then fail "$d is writable inside the service"; fi
        echo "read-only: $d"
done
writable "$home/.local/state/tlsid" || fail "the state directory is not writable inside the service"
echo "writable:  $home/.local/state/tlsid"
echo "outside" > /tmp/.tlsid-test-$$
if inside test -e /tmp/.tlsid-test-$$; then fail "/tmp is not private"; fi
rm -f /tmp/.tlsid-test-$$
writable /tmp || fail "the private /tmp is not writable"
echo "private:   /tmp (PrivateTmp)"
inside test -S "$rt/bus" || fail "the bus socket is not visible inside"
echo "visible:   $rt/bus"
devs=$(inside ls /dev | tr '\n' ' ')
echo "/dev: $devs"
if inside test -e /dev/kmsg; then fail "/dev/kmsg is visible (ProtectKernelLogs)"; fi
if [ -n "$(inside find /dev -maxdepth 1 -type b)" ]; then fail "block devices visible (PrivateDevices)"; fi
# The topmost mount on each path (findmnt -T lists a stack bottom first).
mount_of() { inside findmnt -n -o FSTYPE,OPTIONS -T "$1" | tail -n 1; }
for t in /proc/sys /sys/fs/cgroup; do
        echo "mount $t: $(mount_of "$t")"
        mount_of "$t" | grep -q ' ro,' || fail "$t is writable inside the service"
done
ok "ProtectSystem=strict, ProtectHome=read-only with the state directory writable, \
PrivateTmp, PrivateDevices, ProtectKernel*, ProtectControlGroups in force"

step "reload (SIGHUP) rereads policy.json"
echo '{ "mode": "ask", "contexts": { "ci/": { "mode": "none" } } }' |
        as_user tee "$home/.config/tlsid/policy.json" >/dev/null
user_systemctl reload tlsid.service
journal_has "Rereading the certificate policy on SIGHUP" ||
        fail "tlsidd did not get SIGHUP"
out=$(as_user tlsidctl policy)
printf '%s\n' "$out"
grep -q '"ci/"' <<<"$out" || fail "the new policy is not in force"
[ "$(show MainPID)" = "$pid" ] || fail "reload restarted the daemon"
ok "SIGHUP reread policy.json; same PID $pid"

step "restart keeps a remembered choice"
as_user tlsidctl open ci/tab-1
as_user tlsidctl choose ci/tab-1 example.org:443 none --remember
user_systemctl restart tlsid.service
newpid=$(show MainPID)
[ "$newpid" -gt 0 ] && [ "$newpid" != "$pid" ] || fail "restart did not start a new tlsidd"
[ -e "/proc/$pid" ] && fail "the old tlsidd $pid still runs"
echo "state file: $(ls -l "$home/.local/state/tlsid/choices")"
as_user tlsidctl open ci/tab-1
out=$(as_user tlsidctl sessions ci/tab-1)
printf '%s\n' "$out"
grep -q 'example.org:443' <<<"$out" || fail "the remembered choice is gone after restart"
as_user tlsidctl --json contexts | grep -q '"choices":1' || fail "ci/tab-1 has no choice after restart"
ok "tlsidd $newpid has the choice remembered by $pid"

step "stop ends it"
user_systemctl stop tlsid.service
[ "$(show ActiveState)" = inactive ] || fail "tlsid.service is $(show ActiveState) after stop"
[ -e "/proc/$newpid" ] && fail "tlsidd $newpid still runs after stop"
ok "inactive, tlsidd $newpid gone"

step "a unit that fails to start: the client says so at once"
dropin=$home/.config/systemd/user/tlsid.service.d
as_user mkdir -p "$dropin"
printf '[Service]\nExecStart=\nExecStart=/bin/false\n' | as_user tee "$dropin/fail.conf" >/dev/null
user_systemctl daemon-reload
start=$(date +%s%N)
rc=0
out=$(as_user tlsidctl status 2>&1) || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf '%s\n' "$out"
echo "exit $rc after $ms ms"
[ "$rc" = 4 ] || fail "tlsidctl exited $rc, not 4"
grep -q "failed to start" <<<"$out" || fail "the message does not say tlsidd failed to start"
grep -q "systemctl --user status tlsid.service" <<<"$out" || fail "the message does not say where to look"
grep -q "journalctl --user -u tlsid" <<<"$out" || fail "the message does not name the journal"
[ "$ms" -lt 3000 ] || fail "it took $ms ms"
ok "exit 4 with the cause in $ms ms"
as_user rm -r "$dropin"
user_systemctl daemon-reload
user_systemctl reset-failed tlsid.service
as_user tlsidctl status >/dev/null || fail "tlsidd does not start again without the drop-in"
user_systemctl stop tlsid.service
ok "starts again without the drop-in"

step "tlsidd's journal"
journal _SYSTEMD_USER_UNIT=tlsid.service -o short-monotonic | tail -n 30
