/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The benchmarks' calls to tlsidd with bare libdbus: building them, timing round trips,
 * counting failures. A call the benchmark cannot go on without ends the program. */
#pragma once

#include <dbus/dbus.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_CALL_TIMEOUT_MS 60000

/* echo-service's names. */
#define BENCH_ECHO_NAME "org.tlsid.BenchEcho"
#define BENCH_ECHO_PATH "/org/tlsid/BenchEcho"
#define BENCH_ECHO_INTERFACE "org.tlsid.BenchEcho"

/* Calls that failed; the benchmarks exit non-zero when any did. */
extern atomic_int bench_failures;

/* Counts a failure and prints the first few. */
void bench_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Nanoseconds on the monotonic clock. */
uint64_t bench_now_ns(void);

/* A call of tlsidd's @name without arguments (transfer full). */
DBusMessage *bench_method(const char *name);
/* PutSession of @token into (@context, @origin, "", @gen), expiring in an hour, with
 * meta {"tls_version": q 0x0304} (transfer full). */
DBusMessage *bench_put_message(const char *context, const char *origin, dbus_uint32_t gen,
                               const unsigned char *token, size_t len);

/* TakeSession of (@context, @origin, "", @gen) (transfer full). */
DBusMessage *bench_take_message(const char *context, const char *origin, dbus_uint32_t gen);
/* echo-service's Echo of @data (transfer full). */
DBusMessage *bench_echo_message(const unsigned char *data, size_t len);

/* Sends @m (consumed) and waits for its reply; NULL (and a counted failure) on error.
 * @ret_ns (nullable): the round trip time. */
DBusMessage *bench_round_trip(DBusConnection *conn, DBusMessage *m, uint64_t *ret_ns);
/* bench_round_trip(), exiting on failure. */
void bench_call_or_die(DBusConnection *conn, DBusMessage *m);

void bench_open_context(DBusConnection *conn, const char *context);
/* The current generation of (@context, @origin), from GetPartition. */
dbus_uint32_t bench_generation_of(DBusConnection *conn, const char *context,
                                  const char *origin);
/* The u or t statistic @key; 0 when the daemon does not report it. */
uint64_t bench_statistic(DBusConnection *conn, const char *key);
/* tlsidd's DirectAddress, "" when it has none (transfer full: free()). */
char *bench_direct_address(DBusConnection *conn);
/* The VmRSS of process @pid in KiB, or -1 when it cannot be read. */
long bench_vm_rss_kib(pid_t pid);
/* Starts echo-service (BENCH_ECHO_SERVICE, else the one next to @argv0) on the session
 * bus and waits until it owns its name; it dies with the calling process. Returns its
 * pid; exits on failure. */
pid_t bench_start_echo_service(const char *argv0);
/* Starts echo-service --peer: the same echo on a libdbus peer-to-peer server of its own
 * (no bus between), and returns its pid and in @ret_address its address (transfer full:
 * free()); it dies with the calling process. Exits on failure. */
pid_t bench_start_peer_echo_service(const char *argv0, char **ret_address);
/* Closes @conn, stops @echo (when > 0) and the bus; returns the benchmark's exit status,
 * non-zero when any call failed. */
int bench_finish(DBusConnection *conn, pid_t echo);
