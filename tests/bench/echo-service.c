/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bare libdbus echo service: the benchmark's baseline for one bus round trip.
 *
 * Owns org.tlsid.BenchEcho on the session bus (DBUS_SESSION_BUS_ADDRESS) and answers
 * org.tlsid.BenchEcho.Echo(ay) -> ay with the same bytes, from a blocking
 * dbus_connection_read_write_dispatch() loop. Prints "ready" on stdout once it owns
 * its name, and exits when the bus goes away or on SIGTERM.
 *
 * With --peer, the baseline of the direct socket instead: no bus, a libdbus peer-to-peer
 * server on a socket in $XDG_RUNTIME_DIR (else /tmp), every connection answered the same
 * way from one thread's poll() loop, as tlsidd's one thread serves its direct socket.
 * Prints "ready ADDRESS". */
#include <dbus/dbus.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-calls.h" /* the names only */

static DBusHandlerResult handle_message(DBusConnection *conn, DBusMessage *m, void *data) {
        const unsigned char *bytes = NULL;
        DBusMessage *reply;
        int len = 0;

        if (!dbus_message_is_method_call(m, BENCH_ECHO_INTERFACE, "Echo"))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        /* Parse and rebuild like a real service does, rather than echo the raw message. */
        if (!dbus_message_get_args(m, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes, &len,
                                   DBUS_TYPE_INVALID))
                reply = dbus_message_new_error(m, DBUS_ERROR_INVALID_ARGS, "expected (ay)");
        else {
                reply = dbus_message_new_method_return(m);
                if (reply)
                        dbus_message_append_args(reply, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes,
                                                 len, DBUS_TYPE_INVALID);
        }
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_connection_send(conn, reply, NULL);
        dbus_message_unref(reply);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static const DBusObjectPathVTable vtable = { .message_function = handle_message };

/* --- the peer-to-peer server --- */

#define PEERS_MAX 64
#define WATCHES_MAX (4 * PEERS_MAX + 4)

/* The server's and every connection's watches, polled by the one loop. */
static DBusWatch *watches[WATCHES_MAX];
static int n_watches;
static DBusConnection *peers[PEERS_MAX];
static int n_peers;

static dbus_bool_t add_watch(DBusWatch *watch, void *data) {
        if (n_watches == WATCHES_MAX)
                return FALSE;
        watches[n_watches++] = watch;
        return TRUE;
}

static void remove_watch(DBusWatch *watch, void *data) {
        for (int i = 0; i < n_watches; i++)
                if (watches[i] == watch) {
                        watches[i] = watches[--n_watches];
                        return;
                }
}

/* Enabled or not is read at each poll(). */
static void toggle_watch(DBusWatch *watch, void *data) {
}

static dbus_bool_t add_timeout(DBusTimeout *timeout, void *data) {
        return TRUE; /* the echo makes no calls: nothing of it times out */
}

static void remove_timeout(DBusTimeout *timeout, void *data) {
}

static void new_connection(DBusServer *server, DBusConnection *conn, void *data) {
        if (n_peers == PEERS_MAX ||
            !dbus_connection_set_watch_functions(conn, add_watch, remove_watch, toggle_watch,
                                                 NULL, NULL) ||
            !dbus_connection_set_timeout_functions(conn, add_timeout, remove_timeout, NULL,
                                                   NULL, NULL) ||
            !dbus_connection_register_object_path(conn, BENCH_ECHO_PATH, &vtable, NULL))
                return; /* not referenced: libdbus closes it */
        peers[n_peers++] = dbus_connection_ref(conn);
}

/* One thread for the server and every connection, as tlsidd serves its direct socket:
 * poll() the watches libdbus asks for, handle them, dispatch what was read. */
static int run_peer(void) {
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char address[4096];
        DBusError error = DBUS_ERROR_INIT;
        DBusServer *server;
        char *listening;

        snprintf(address, sizeof(address), "unix:tmpdir=%s", dir && *dir ? dir : "/tmp");
        server = dbus_server_listen(address, &error);
        if (!server || !dbus_server_set_watch_functions(server, add_watch, remove_watch,
                                                        toggle_watch, NULL, NULL)) {
                fprintf(stderr, "echo-service: cannot listen on %s: %s\n", address,
                        error.message ? error.message : "out of memory");
                return 1;
        }
        dbus_server_set_new_connection_function(server, new_connection, NULL, NULL);
        listening = dbus_server_get_address(server);
        printf("ready %s\n", listening);
        fflush(stdout);
        dbus_free(listening);
        for (;;) {
                struct pollfd p[WATCHES_MAX];
                DBusWatch *polled[WATCHES_MAX];
                int n = 0;

                for (int i = 0; i < n_watches; i++) {
                        unsigned flags = dbus_watch_get_flags(watches[i]);

                        if (!dbus_watch_get_enabled(watches[i]))
                                continue;
                        polled[n] = watches[i];
                        p[n++] = (struct pollfd) {
                                .fd = dbus_watch_get_unix_fd(watches[i]),
                                .events = (flags & DBUS_WATCH_READABLE ? POLLIN : 0) |
                                          (flags & DBUS_WATCH_WRITABLE ? POLLOUT : 0),
                        };
                }
                if (poll(p, (nfds_t) n, -1) < 0)
                        continue;
                for (int i = 0; i < n; i++) {
                        unsigned flags = (p[i].revents & POLLIN ? DBUS_WATCH_READABLE : 0) |
                                         (p[i].revents & POLLOUT ? DBUS_WATCH_WRITABLE : 0) |
                                         (p[i].revents & POLLHUP ? DBUS_WATCH_HANGUP : 0) |
                                         (p[i].revents & POLLERR ? DBUS_WATCH_ERROR : 0);
                        bool present = false;

                        /* A watch handled before may have removed this one. */
                        for (int k = 0; k < n_watches && !present; k++)
                                present = watches[k] == polled[i];
                        if (flags && present)
                                dbus_watch_handle(polled[i], flags);
                }
                for (int i = n_peers - 1; i >= 0; i--) {
                        DBusConnection *conn = peers[i];

                        while (dbus_connection_dispatch(conn) == DBUS_DISPATCH_DATA_REMAINS)
                                ;
                        if (!dbus_connection_get_is_connected(conn)) {
                                dbus_connection_close(conn);
                                dbus_connection_unref(conn);
                                peers[i] = peers[--n_peers];
                        }
                }
        }
}

int main(int argc, char **argv) {
        DBusError error = DBUS_ERROR_INIT;
        DBusConnection *conn;
        int r;

        if (argc > 1 && strcmp(argv[1], "--peer") == 0)
                return run_peer();
        conn = dbus_bus_get_private(DBUS_BUS_SESSION, &error);
        if (!conn) {
                fprintf(stderr, "echo-service: %s\n", error.message);
                return 1;
        }
        dbus_connection_set_exit_on_disconnect(conn, FALSE);
        if (!dbus_connection_register_object_path(conn, BENCH_ECHO_PATH, &vtable, NULL)) {
                fprintf(stderr, "echo-service: cannot register %s\n", BENCH_ECHO_PATH);
                return 1;
        }
        r = dbus_bus_request_name(conn, BENCH_ECHO_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE, &error);
        if (r != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
                fprintf(stderr, "echo-service: cannot own %s: %s\n", BENCH_ECHO_NAME,
                        dbus_error_is_set(&error) ? error.message : "already owned");
                return 1;
        }
        puts("ready");
        fflush(stdout);
        while (dbus_connection_read_write_dispatch(conn, -1))
                ;
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
        return 0;
}
