/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bare libdbus echo service: the benchmark's baseline for one bus round trip.
 *
 * Owns org.tlsid.BenchEcho on the session bus (DBUS_SESSION_BUS_ADDRESS) and answers
 * org.tlsid.BenchEcho.Echo(ay) -> ay with the same bytes, from a blocking
 * dbus_connection_read_write_dispatch() loop. Prints "ready" on stdout once it owns
 * its name, and exits when the bus goes away or on SIGTERM. */
#include <dbus/dbus.h>
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

int main(void) {
        static const DBusObjectPathVTable vtable = { .message_function = handle_message };
        DBusError error = DBUS_ERROR_INIT;
        DBusConnection *conn;
        int r;

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
