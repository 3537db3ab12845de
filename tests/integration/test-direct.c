/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: the direct socket. Where tlsidd puts it and who may connect (raw
 * libdbus connections, and as root connections of another uid in forked children), which
 * methods it serves, its limit, and libtlsid using it for the handshake path and falling
 * back to the bus when it is off, gone, refused or of a daemon that restarted. Which
 * connection calls took is read from the daemon's direct_calls statistic. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tlsid/tlsid.h>

#include "check-main.h"
#include "lib-asserts.h"
#include "raw-bus.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000
#define CALL_TIMEOUT_USEC (CALL_TIMEOUT_MS * 1000ULL)
#define ORIGIN "www.example.com:443"
#define TOKEN "a resumption token"

static DBusConnection *bus;

static void setup(void) {
        test_bus_start();
        bus = test_bus_connect();
}

static void teardown(void) {
        test_bus_disconnect(bus);
        bus = NULL;
        unsetenv("TLSID_DIRECT");
        test_bus_stop();
}

/* --- raw calls --- */

static DBusMessage *call_on(DBusConnection *conn, DBusMessage *msg, DBusError *error) {
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, msg,
                                                                       CALL_TIMEOUT_MS, error);
        dbus_message_unref(msg);
        return reply;
}

/* The daemon's DirectAddress, asked on the bus (free()). */
static char *direct_address(void) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      DBUS_INTERFACE_PROPERTIES, "Get");
        const char *interface = TEST_BUS_INTERFACE, *name = "DirectAddress", *address;
        DBusError error = DBUS_ERROR_INIT;
        DBusMessageIter it, variant;

        dbus_message_append_args(m, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING, &name,
                                 DBUS_TYPE_INVALID);
        DBusMessage *reply = call_on(bus, m, &error);
        ck_assert_msg(reply, "Get(DirectAddress): %s", error.message);
        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_recurse(&it, &variant);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&variant), DBUS_TYPE_STRING);
        dbus_message_iter_get_basic(&variant, &address);
        char *copy = strdup(address);
        dbus_message_unref(reply);
        return copy;
}

/* The path inside unix:path=PATH,guid=... (free()). */
static char *address_path(const char *address) {
        const char *p = strstr(address, "unix:path=");

        ck_assert_msg(p == address, "not a unix:path address: %s", address);
        p += strlen("unix:path=");
        return strndup(p, strcspn(p, ","));
}

/* GetStatistics' @key, asked on the bus. */
static uint64_t statistic(const char *key) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = call_on(bus, test_bus_method("GetStatistics"), &error);
        uint64_t value = 0;

        ck_assert_msg(reply, "GetStatistics: %s", error.message);
        ck_assert_msg(raw_bus_statistic(reply, key, &value), "GetStatistics has no %s", key);
        dbus_message_unref(reply);
        return value;
}

/* A connection to the direct socket at @address that answered a Peer.Ping, or NULL when
 * it was refused (the daemon closed it). */
static DBusConnection *direct_connect(const char *address) {
        DBusError error = DBUS_ERROR_INIT;
        DBusConnection *conn = dbus_connection_open_private(address, &error);

        if (!conn) {
                dbus_error_free(&error);
                return NULL;
        }
        dbus_connection_set_exit_on_disconnect(conn, FALSE);
        DBusMessage *reply = call_on(conn,
                                     dbus_message_new_method_call(NULL, "/", DBUS_INTERFACE_PEER,
                                                                  "Ping"),
                                     &error);
        if (!reply) {
                dbus_error_free(&error);
                dbus_connection_close(conn);
                dbus_connection_unref(conn);
                return NULL;
        }
        dbus_message_unref(reply);
        return conn;
}

static void direct_close(DBusConnection *conn) {
        if (!conn)
                return;
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
}

/* A call of @method with (s @context, s @origin), on @conn. */
static DBusMessage *context_origin_call(const char *method, const char *context,
                                        const char *origin) {
        DBusMessage *m = test_bus_method(method);

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_INVALID);
        return m;
}

/* OpenContext(@context, {ephemeral: @ephemeral}). */
static DBusMessage *open_context_call(const char *context, bool ephemeral) {
        DBusMessage *m = test_bus_method("OpenContext");
        DBusMessageIter it, dict, entry, variant;
        const char *key = "ephemeral";
        dbus_bool_t b = ephemeral;

        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key);
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "b", &variant);
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_BOOLEAN, &b);
        dbus_message_iter_close_container(&entry, &variant);
        dbus_message_iter_close_container(&dict, &entry);
        dbus_message_iter_close_container(&it, &dict);
        return m;
}

static void open_context_on(DBusConnection *conn, const char *context, bool ephemeral) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = call_on(conn, open_context_call(context, ephemeral), &error);

        ck_assert_msg(reply, "OpenContext: %s", error.message);
        dbus_message_unref(reply);
}

/* --- libtlsid --- */

static TlsidClient *client_new(void) {
        TlsidClient *client = NULL;

        ASSERT_OK(tlsid_client_new(test_bus_address(), &client));
        ASSERT_OK(tlsid_client_set_timeout(client, CALL_TIMEOUT_USEC));
        return client;
}

/* The handshake path once: GetPartition, BeginConnection, PutSession, TakeSession (4
 * calls), each checked. */
static void handshake_calls(TlsidContext *context) {
        uint32_t generation = 0;
        void *token = NULL;
        size_t len = 0;

        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, &generation, NULL));
        ASSERT_OK(tlsid_context_begin_connection(context, ORIGIN, NULL, NULL, &generation,
                                                 NULL, &token, &len));
        tlsid_secret_free(token, len);
        ASSERT_OK(tlsid_context_put_session(context, ORIGIN, "", generation, TOKEN,
                                            strlen(TOKEN), (int64_t) time(NULL) + 3600, 0x0304,
                                            NULL));
        token = NULL;
        ASSERT_OK(tlsid_context_take_session(context, ORIGIN, "", generation, &token, &len));
        ck_assert_msg(token && len == strlen(TOKEN) && memcmp(token, TOKEN, len) == 0,
                      "TakeSession did not return the token just put");
        tlsid_secret_free(token, len);
}

/* The number of direct-* sockets in $XDG_RUNTIME_DIR/tlsid. */
static int sockets_in_dir(void) {
        char *dir = test_xasprintf("%s/tlsid", test_bus_runtime_dir());
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        ck_assert_msg(d, "%s: %s", dir, strerror(errno));
        while ((e = readdir(d)))
                n += strncmp(e->d_name, "direct-", 7) == 0;
        closedir(d);
        free(dir);
        return n;
}

/* --- where the socket is --- */

START_TEST(test_direct_socket_in_private_dir) {
        test_bus_activate_daemon();
        char *address = direct_address();
        char *path = address_path(address);
        char *prefix = test_xasprintf("%s/tlsid/direct-", test_bus_runtime_dir());
        char *dir = test_xasprintf("%s/tlsid", test_bus_runtime_dir());
        struct stat st;

        ck_assert_msg(strncmp(path, prefix, strlen(prefix)) == 0, "socket %s not in %s", path,
                      dir);
        ck_assert_int_eq(lstat(dir, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_uid, getuid());
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));

        DBusConnection *conn = direct_connect(address);
        ck_assert_msg(conn, "the daemon's own uid was refused");
        ck_assert_uint_eq(statistic("direct_connections"), 1);
        direct_close(conn);

        /* A new socket at each start; the old one removed at exit. */
        test_bus_restart_daemon();
        char *again = direct_address();
        ck_assert_str_ne(again, address);
        ck_assert_int_eq(lstat(path, &st), -1);
        ck_assert_int_eq(sockets_in_dir(), 1);
        free(again);
        free(dir);
        free(prefix);
        free(path);
        free(address);
}
END_TEST

START_TEST(test_direct_crash_leaves_no_problem) {
        test_bus_activate_daemon();
        char *address = direct_address();
        char *path = address_path(address);
        struct stat st;

        ck_assert(test_bus_kill_daemon(SIGKILL));
        ck_assert_int_eq(lstat(path, &st), 0); /* left behind */
        test_bus_activate_daemon();
        char *again = direct_address();
        ck_assert_str_ne(again, address);
        /* The dead one was removed at start. */
        ck_assert_int_eq(lstat(path, &st), -1);
        ck_assert_int_eq(sockets_in_dir(), 1);
        DBusConnection *conn = direct_connect(again);
        ck_assert(conn);
        direct_close(conn);
        free(again);
        free(path);
        free(address);
}
END_TEST

/* The directory exists with looser permissions, or of another owner: no direct socket,
 * and libtlsid's calls go over the bus. */
static void check_dir_refused(mode_t mode, bool other_owner) {
        char *dir = test_xasprintf("%s/tlsid", test_bus_runtime_dir());
        struct passwd *nobody = getpwnam("nobody");

        if (other_owner && (getuid() != 0 || !nobody)) {
                fprintf(stderr, "skipped: changing the owner needs root and a nobody user\n");
                free(dir);
                return;
        }
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        ck_assert_int_eq(chmod(dir, mode), 0);
        if (other_owner)
                ck_assert_int_eq(chown(dir, nobody->pw_uid, nobody->pw_gid), 0);
        test_bus_activate_daemon();
        char *address = direct_address();
        ck_assert_str_eq(address, "");

        TlsidClient *client = client_new();
        TlsidContext *context = NULL;
        ASSERT_OK(tlsid_context_open(client, "app/refused-dir", 0, NULL, &context));
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 0);
        ck_assert_int_eq(sockets_in_dir(), 0);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        free(address);
        free(dir);
}

START_TEST(test_direct_dir_with_loose_mode_refused) {
        check_dir_refused(0755, false);
}
END_TEST

START_TEST(test_direct_dir_of_other_owner_refused) {
        check_dir_refused(0700, true);
}
END_TEST

START_TEST(test_direct_off_in_config) {
        test_bus_write_daemon_config("[daemon]\nmax_direct_connections=0\n");
        test_bus_activate_daemon();
        char *address = direct_address();
        ck_assert_str_eq(address, "");
        free(address);
}
END_TEST

/* --- who may connect --- */

/* Forks a child that becomes nobody and tries the direct socket at @address: its exit
 * status is 0 when it was refused, 1 when it got in, 77 when it could not try. */
static int connect_as_nobody(const char *address) {
        struct passwd *nobody = getpwnam("nobody");
        int status = 0;

        if (!nobody)
                return 77;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(nobody->pw_gid, nobody->pw_gid,
                                                        nobody->pw_gid) < 0 ||
                    setresuid(nobody->pw_uid, nobody->pw_uid, nobody->pw_uid) < 0)
                        _exit(77);
                DBusConnection *conn = direct_connect(address);
                _exit(conn ? 1 : 0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* The brief's case: the daemon of root, a caller of another uid that reaches the socket
 * (the test opens the directory to it, which the daemon would never do). */
START_TEST(test_direct_other_uid_refused) {
        if (getuid() != 0) {
                fprintf(stderr, "skipped: needs root to run a child as another uid\n");
                return;
        }
        test_bus_activate_daemon();
        char *address = direct_address();
        char *dir = test_xasprintf("%s/tlsid", test_bus_runtime_dir());

        ck_assert_int_eq(chmod(test_bus_tmpdir(), 0711), 0);
        ck_assert_int_eq(chmod(test_bus_runtime_dir(), 0711), 0);
        ck_assert_int_eq(chmod(dir, 0711), 0);
        char *path = address_path(address);
        ck_assert_int_eq(chmod(path, 0777), 0);
        int r = connect_as_nobody(address);
        ck_assert_msg(r != 77, "cannot become nobody");
        ck_assert_msg(r == 0, "a caller of uid nobody got in");
        ck_assert_uint_eq(statistic("direct_connections"), 0);
        /* The daemon's own uid still does. */
        DBusConnection *conn = direct_connect(address);
        ck_assert(conn);
        direct_close(conn);
        free(path);
        free(dir);
        free(address);
}
END_TEST

/* A daemon of an ordinary user, and root knocking: libdbus would let root in by default;
 * the daemon must not. */
START_TEST(test_direct_root_refused_by_user_daemon) {
        struct passwd *nobody = getpwnam("nobody");

        if (getuid() != 0 || !nobody) {
                fprintf(stderr, "skipped: needs root and a nobody user\n");
                return;
        }
        ck_assert_int_eq(chmod(test_bus_tmpdir(), 0711), 0);
        ck_assert_int_eq(chown(test_bus_runtime_dir(), nobody->pw_uid, nobody->pw_gid), 0);
        test_bus_spawn_daemon_as(nobody->pw_uid, nobody->pw_gid);

        /* Its calls refuse root (AccessDenied): the socket is found in the directory. */
        char *dir = test_xasprintf("%s/tlsid", test_bus_runtime_dir());
        DIR *d = opendir(dir);
        struct dirent *e;
        char *address = NULL;

        ck_assert_msg(d, "%s: %s", dir, strerror(errno));
        while ((e = readdir(d)))
                if (strncmp(e->d_name, "direct-", 7) == 0)
                        address = test_xasprintf("unix:path=%s/%s", dir, e->d_name);
        closedir(d);
        ck_assert_msg(address, "the daemon of nobody made no socket in %s", dir);

        DBusConnection *conn = direct_connect(address);
        ck_assert_msg(!conn, "root got into the daemon of nobody");
        test_bus_stop_spawned_daemon(SIGTERM);
        free(address);
        free(dir);
}
END_TEST

START_TEST(test_direct_connection_limit) {
        test_bus_write_daemon_config("[daemon]\nmax_direct_connections=1\n");
        test_bus_activate_daemon();
        char *address = direct_address();
        DBusConnection *first = direct_connect(address);

        ck_assert(first);
        DBusConnection *second = direct_connect(address);
        ck_assert_msg(!second, "a second connection got past max_direct_connections=1");
        ck_assert_uint_eq(statistic("direct_connections"), 1);

        /* libtlsid meets the same refusal and goes on over the bus. */
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;
        ASSERT_OK(tlsid_context_open(client, "app/limit", 0, NULL, &context));
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 0);

        /* Once the first goes, there is room again (its slot is freed). */
        direct_close(first);
        for (int i = 0; i < 100 && statistic("direct_connections") > 0; i++)
                usleep(20000);
        ck_assert_uint_eq(statistic("direct_connections"), 0);
        second = direct_connect(address);
        ck_assert(second);
        direct_close(second);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        free(address);
}
END_TEST

/* --- what it serves --- */

START_TEST(test_direct_serves_the_handshake_path_only) {
        test_bus_activate_daemon();
        char *address = direct_address();
        DBusConnection *conn = direct_connect(address);
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply;

        ck_assert(conn);
        open_context_on(bus, "app/direct", false);
        reply = call_on(conn, context_origin_call("GetPartition", "app/direct", ORIGIN), &error);
        ck_assert_msg(reply, "GetPartition on the direct socket: %s", error.message);
        dbus_message_unref(reply);
        /* The same checks: a bad origin is the same InvalidArgument. */
        reply = call_on(conn, context_origin_call("GetPartition", "app/direct", "NOT AN ORIGIN"),
                        &error);
        ck_assert(!reply);
        ck_assert_str_eq(error.name, "org.tlsid.Error.InvalidArgument");
        dbus_error_free(&error);

        /* OpenContext needs the caller's unique name; the rest stay on the bus too. */
        reply = call_on(conn, test_bus_method("GetStatistics"), &error);
        ck_assert(!reply);
        ck_assert_str_eq(error.name, DBUS_ERROR_UNKNOWN_METHOD);
        dbus_error_free(&error);
        reply = call_on(conn, open_context_call("app/from-direct", true), &error);
        ck_assert(!reply);
        ck_assert_str_eq(error.name, DBUS_ERROR_UNKNOWN_METHOD);
        dbus_error_free(&error);

        ck_assert_uint_eq(statistic("direct_calls"), 4);
        direct_close(conn);
        free(address);
}
END_TEST

/* A process's last put, sent without a reply as it exits: the daemon reads it after the
 * hang-up and stores it all the same (as dbus-daemon would have delivered it). */
START_TEST(test_direct_put_before_hangup_is_kept) {
        test_bus_activate_daemon();
        char *address = direct_address();
        DBusConnection *conn = direct_connect(address);
        const char *context = "app/last-put", *origin = ORIGIN, *identity = "";
        const char *key = "tls_version";
        const unsigned char *token = (const unsigned char *) TOKEN;
        dbus_uint32_t generation = 0;
        dbus_int64_t expires = (dbus_int64_t) time(NULL) + 3600;
        dbus_uint16_t version = 0x0304;
        DBusMessageIter it, array, dict, entry, variant;
        DBusError error = DBUS_ERROR_INIT;

        ck_assert(conn);
        open_context_on(bus, context, false);
        DBusMessage *reply = call_on(bus, context_origin_call("GetPartition", context, origin),
                                     &error);
        ck_assert(reply);
        const char *state, *id, *peer;
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state, DBUS_TYPE_STRING,
                                        &id, DBUS_TYPE_UINT32, &generation, DBUS_TYPE_STRING,
                                        &peer, DBUS_TYPE_INVALID));
        dbus_message_unref(reply);

        DBusMessage *put = test_bus_method("PutSession");
        dbus_message_set_no_reply(put, TRUE);
        dbus_message_iter_init_append(put, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &identity);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &generation);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "y", &array);
        dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &token,
                                             (int) strlen(TOKEN));
        dbus_message_iter_close_container(&it, &array);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_INT64, &expires);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key);
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "q", &variant);
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT16, &version);
        dbus_message_iter_close_container(&entry, &variant);
        dbus_message_iter_close_container(&dict, &entry);
        dbus_message_iter_close_container(&it, &dict);
        ck_assert(dbus_connection_send(conn, put, NULL));
        dbus_message_unref(put);
        dbus_connection_flush(conn);
        direct_close(conn);

        for (int i = 0; i < 250 && statistic("tokens") == 0; i++)
                usleep(20000);
        ck_assert_msg(statistic("tokens") == 1, "the put sent before the hang-up was lost");
        free(address);
}
END_TEST

/* On the direct socket the peer writes the sender field itself: a NameOwnerChanged
 * "from the bus driver" saying a caller left must not drop its ephemeral context. */
START_TEST(test_direct_forged_name_owner_changed_drops_nothing) {
        test_bus_activate_daemon();
        char *address = direct_address();
        DBusConnection *holder = test_bus_connect();
        DBusConnection *conn = direct_connect(address);
        const char *name = dbus_bus_get_unique_name(holder), *empty = "";
        DBusError error = DBUS_ERROR_INIT;

        ck_assert(conn);
        open_context_on(holder, "app/private", true);
        ck_assert_uint_eq(statistic("contexts"), 1);

        DBusMessage *forged = dbus_message_new_signal(DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                      "NameOwnerChanged");
        ck_assert(dbus_message_set_sender(forged, DBUS_SERVICE_DBUS));
        dbus_message_append_args(forged, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &name,
                                 DBUS_TYPE_STRING, &empty, DBUS_TYPE_INVALID);
        ck_assert(dbus_connection_send(conn, forged, NULL));
        dbus_message_unref(forged);
        /* Read in order: once this is answered, the signal was handled. */
        DBusMessage *reply = call_on(conn, context_origin_call("GetPartition", "app/private",
                                                               ORIGIN), &error);
        ck_assert_msg(reply, "GetPartition: %s", error.message);
        dbus_message_unref(reply);
        ck_assert_uint_eq(statistic("contexts"), 1);

        /* While the real departure does drop it. */
        test_bus_disconnect(holder);
        for (int i = 0; i < 100 && statistic("contexts") > 0; i++)
                usleep(20000);
        ck_assert_uint_eq(statistic("contexts"), 0);
        direct_close(conn);
        free(address);
}
END_TEST

/* --- libtlsid on it --- */

START_TEST(test_direct_libtlsid_uses_it) {
        test_bus_activate_daemon();
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, "app/direct", 0, NULL, &context));
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 4);
        ck_assert_uint_eq(statistic("direct_connections"), 1);
        /* One connection, however many calls. */
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 8);
        ck_assert_uint_eq(statistic("direct_connections"), 1);

        /* A put on the direct socket, then a call on the bus: in that order. */
        uint32_t generation = 0, dropped = 0;
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, &generation, NULL));
        ASSERT_OK(tlsid_context_put_session(context, ORIGIN, "", generation, TOKEN,
                                            strlen(TOKEN), (int64_t) time(NULL) + 3600, 0x0304,
                                            NULL));
        ASSERT_OK(tlsid_client_flush_sessions(client, "app/direct", ORIGIN, &dropped));
        ck_assert_uint_eq(dropped, 1);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_direct_libtlsid_off_by_environment) {
        setenv("TLSID_DIRECT", "0", 1);
        test_bus_activate_daemon();
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, "app/bus-only", 0, NULL, &context));
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 0);
        ck_assert_uint_eq(statistic("direct_connections"), 0);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* The daemon restarts (or is killed) under a client: its calls go on, over the bus first,
 * then on the new daemon's socket. */
static void check_restart(int sig) {
        test_bus_activate_daemon();
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, "app/restart", 0, NULL, &context));
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 4);

        ck_assert(test_bus_kill_daemon(sig));
        test_bus_activate_daemon();
        /* The context is reopened (over the bus) and the calls succeed. */
        handshake_calls(context);
        handshake_calls(context);
        ck_assert_uint_ge(statistic("direct_calls"), 4);
        ck_assert_uint_eq(statistic("direct_connections"), 1);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}

START_TEST(test_direct_libtlsid_after_restart) {
        check_restart(SIGTERM);
}
END_TEST

START_TEST(test_direct_libtlsid_after_crash) {
        check_restart(SIGKILL);
}
END_TEST

START_TEST(test_direct_libtlsid_socket_removed) {
        test_bus_activate_daemon();
        char *address = direct_address();
        char *path = address_path(address);
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;

        ck_assert_int_eq(unlink(path), 0);
        ASSERT_OK(tlsid_context_open(client, "app/removed", 0, NULL, &context));
        handshake_calls(context);
        ck_assert_uint_eq(statistic("direct_calls"), 0);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        free(path);
        free(address);
}
END_TEST

static Suite *direct_suite(void) {
        Suite *s = suite_create("direct");
        TCase *tc = tcase_create("direct");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_direct_socket_in_private_dir);
        tcase_add_test(tc, test_direct_crash_leaves_no_problem);
        tcase_add_test(tc, test_direct_dir_with_loose_mode_refused);
        tcase_add_test(tc, test_direct_dir_of_other_owner_refused);
        tcase_add_test(tc, test_direct_off_in_config);
        tcase_add_test(tc, test_direct_other_uid_refused);
        tcase_add_test(tc, test_direct_root_refused_by_user_daemon);
        tcase_add_test(tc, test_direct_connection_limit);
        tcase_add_test(tc, test_direct_serves_the_handshake_path_only);
        tcase_add_test(tc, test_direct_put_before_hangup_is_kept);
        tcase_add_test(tc, test_direct_forged_name_owner_changed_drops_nothing);
        tcase_add_test(tc, test_direct_libtlsid_uses_it);
        tcase_add_test(tc, test_direct_libtlsid_off_by_environment);
        tcase_add_test(tc, test_direct_libtlsid_after_restart);
        tcase_add_test(tc, test_direct_libtlsid_after_crash);
        tcase_add_test(tc, test_direct_libtlsid_socket_removed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(direct_suite(), CK_FORK);
}
