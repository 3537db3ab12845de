/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A private dbus-daemon with a throwaway home for the integration tests and the benchmark.
 *
 * test_bus_start() makes a temporary directory with home/, state/, config/ and runtime/,
 * points HOME and the XDG_* variables at it, starts dbus-daemon from the build tree's
 * tests/data/test-bus.conf (whose service directory activates the build tree's tlsidd)
 * and sets DBUS_SESSION_BUS_ADDRESS. One bus per process: it is meant for Check's checked
 * fixtures, which run in each test's forked child. Failures abort the test with a
 * message; if the test dies early, an exit handler still kills the bus and removes the
 * directory. */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>
#include <sys/types.h>

#include "interface.h"

/* The daemon's names, from the interface table generated from the XML. */
#define TEST_BUS_NAME TLSID_BUS_NAME
#define TEST_BUS_PATH TLSID_OBJECT_PATH
#define TEST_BUS_INTERFACE TLSID_INTERFACE

/* Starts the bus (aborts the test on failure). tlsidd is activated by the first call. */
void test_bus_start(void);
/* Starts a bus like test_bus_start() whose activation file for the daemon's name runs
 * @exec instead of tlsidd: a program that fails, or a path that does not exist. */
void test_bus_start_with_exec(const char *exec);
/* Starts a bus like test_bus_start() that refuses messages larger than @bytes (its
 * max_message_size): a connection that sends one, the daemon's included, is dropped.
 * Small, it lets a test reach the bound of a reply cheaply. */
void test_bus_start_with_max_message_size(long bytes);
/* Stops tlsidd (SIGTERM, then waits for it), the bus and anything it spawned, and
 * removes the temporary directory. Safe to call when nothing runs. */
void test_bus_stop(void);

/* The bus address (owned by the fixture). */
const char *test_bus_address(void);
/* The temporary directory and its parts: $HOME, $XDG_STATE_HOME, $XDG_CONFIG_HOME,
 * $XDG_RUNTIME_DIR (owned by the fixture). */
const char *test_bus_tmpdir(void);
const char *test_bus_home_dir(void);
const char *test_bus_state_dir(void);
const char *test_bus_config_dir(void);
const char *test_bus_runtime_dir(void);
/* The path of the tlsidd binary the bus activates. */
const char *test_bus_tlsidd_path(void);

/* Writes $XDG_CONFIG_HOME/tlsid/tlsidd.conf; takes effect when tlsidd next starts. */
void test_bus_write_daemon_config(const char *contents);
/* Writes $XDG_STATE_HOME/tlsid/choices (the remembered choices), e.g. a corrupt one. */
void test_bus_write_state_file(const char *contents);

/* The pid of the process owning org.tlsid.Manager1, or 0 when nobody owns it (never
 * activates the daemon). */
pid_t test_bus_daemon_pid(void);
/* Activates tlsidd (StartServiceByName) and waits until it owns its name. */
void test_bus_activate_daemon(void);
/* Sends @sig to tlsidd and waits until the process is gone and its name released.
 * Returns false when it was not running. */
bool test_bus_kill_daemon(int sig);
/* Stops tlsidd with SIGTERM and activates a new one; the caller's next call meets the
 * new daemon. */
void test_bus_restart_daemon(void);
/* Starts tlsidd directly as a child of this process (so its exit status can be
 * waited for) with `--bus-address`, and waits until it owns its name. The bus must not
 * run another tlsidd. Returns its pid. */
pid_t test_bus_spawn_daemon(void);
/* test_bus_spawn_daemon() as the user @uid with the group @gid (the caller, root, makes
 * the directories it needs reachable to it). */
pid_t test_bus_spawn_daemon_as(uid_t uid, gid_t gid);
/* Sends @sig to the tlsidd of test_bus_spawn_daemon(), waits for it and for its name to
 * be released, and returns its wait status. */
int test_bus_stop_spawned_daemon(int sig);

/* A call of the daemon's method @name, no arguments yet. */
DBusMessage *test_bus_method(const char *name);
/* A new private connection, registered on the bus (transfer full: close and unref). */
DBusConnection *test_bus_connect(void);
/* Like test_bus_connect(), subscribed to the bus's NameOwnerChanged signals. */
DBusConnection *test_bus_connect_watching(void);
/* Reads @conn (from test_bus_connect_watching()) until a NameOwnerChanged for @name
 * (NULL: any name) arrives whose new owner is empty (@gone) or not (!@gone). Returns
 * false when none came within @timeout_ms. Other messages are discarded. */
bool test_bus_wait_owner_change(DBusConnection *conn, const char *name, bool gone,
                                int timeout_ms);
/* Closes and unrefs a connection from test_bus_connect(); accepts NULL. */
void test_bus_disconnect(DBusConnection *conn);

/* asprintf() that ends the test on failure (transfer full: free()). */
char *test_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on the monotonic clock, for deadlines. */
long long test_bus_now_ms(void);
