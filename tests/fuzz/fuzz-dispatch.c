/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target of the D-Bus dispatcher (daemon/bus/manager.c, methods.c, properties.c,
 * callers.c and the argument readers): the input is one or more D-Bus messages in wire
 * format, one after the other (dbus_message_demarshal_bytes_needed() finds where each
 * ends; at most MESSAGES_MAX). Each that demarshals is sent from a client to a manager
 * built as daemon/main.c builds it, on the other end of a peer-to-peer connection: a
 * DBusServer on a socket in a private temporary directory, accepted once per process,
 * both ends on GLib's main context through bus-glib.c, so nothing blocks and one thread
 * runs everything. A Peer.Ping follows; the main context runs until it and every method
 * call expecting a reply are answered (GUARD_MS at most, else abort: a call left
 * unanswered would hang its caller). Replies and signals are read and dropped.
 *
 * The uid: on a bus the daemon asks the bus driver for the uid of each caller's unique
 * name (callers.c). A peer-to-peer connection has no driver and no unique names; there
 * the caller's uid is the one libdbus learnt from the socket when authenticating the
 * peer (dbus_connection_get_unix_user()), whatever sender the message names. That is the
 * seam, and it is the daemon's own code path for peer connections, not a test hook: here
 * the peer is this process, so its uid is the owner's and the calls run. The daemon must
 * never call its peer (it would ask the peer for uids, which the peer could answer as it
 * pleased): a method call arriving at the client aborts, but for org.tlsid.Agent1's
 * (the peer registered an agent), which must have the signature of the Agent1 table;
 * the client answers a RequestChoice "cancel", so a held call ends.
 *
 * Each input gets a new store (with the context "fuzz" open) and a new manager, so it
 * behaves the same whatever ran before; the connection, NSS (without a database) and
 * the temporary directory (where remembered choices are saved, flushed before the
 * manager goes and removed after) live as long as the process. Every error reply is an
 * org.tlsid.Error.* or org.freedesktop.DBus.Error.*, no call is answered twice, and one
 * that expects no reply gets none (but from libdbus: UnknownMethod for an unknown path);
 * a GLib critical aborts. */
#include <dbus/dbus.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-interface.h"
#include "bus-glib.h"
#include "certs.h"
#include "config.h"
#include "fuzz.h"
#include "manager.h"
#include "store.h"

#define MESSAGES_MAX 16
#define GUARD_MS 10000

static struct {
        char *dir;
        char *state_path;
        TlsidConfig config;
        CertDb *certs;
        DBusServer *server;
        guint server_watch;
        DBusConnection *daemon_end;
        BusGlib *daemon_bus;
        DBusConnection *client;
        BusGlib *client_bus;
        /* Of the input being run. */
        GHashTable *awaiting;  /* serials of the calls not yet answered */
        GHashTable *unawaited; /* serials of the calls expecting no reply */
        dbus_uint32_t ping_serial;
        gboolean ping_answered;
        gboolean timed_out;
} fx;

/* Quiet below criticals, which are bugs: abort on them, as G_DEBUG=fatal-criticals. */
static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields,
                                   gsize n_fields, gpointer user_data) {
        if (!(level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)))
                return G_LOG_WRITER_HANDLED;
        g_log_writer_standard_streams(level, fields, n_fields, user_data);
        abort();
}

static void remove_dir(void) {
        g_autoptr(GDir) dir = g_dir_open(fx.dir, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(fx.dir, name, NULL);

                g_unlink(path);
        }
        g_rmdir(fx.dir);
}

/* --- the server side, until the one connection is accepted --- */

static gboolean server_watch_cb(gint fd, GIOCondition condition, gpointer user_data) {
        dbus_watch_handle(user_data, DBUS_WATCH_READABLE);
        return G_SOURCE_CONTINUE;
}

static dbus_bool_t server_add_watch(DBusWatch *watch, void *data) {
        if (dbus_watch_get_enabled(watch) && !fx.server_watch)
                fx.server_watch = g_unix_fd_add(dbus_watch_get_unix_fd(watch), G_IO_IN,
                                                server_watch_cb, watch);
        return TRUE;
}

static void server_remove_watch(DBusWatch *watch, void *data) {
        if (fx.server_watch)
                g_source_remove(fx.server_watch);
        fx.server_watch = 0;
}

static void new_connection_cb(DBusServer *server, DBusConnection *connection, void *data) {
        REQUIRE(!fx.daemon_end);
        fx.daemon_end = dbus_connection_ref(connection);
        fx.daemon_bus = bus_glib_attach(connection, NULL);
}

/* --- the client side --- */

static gboolean is_known_error(const char *name) {
        return g_str_has_prefix(name, "org.tlsid.Error.") ||
               g_str_has_prefix(name, "org.freedesktop.DBus.Error.");
}

/* Answers a call of the agent interface: RequestChoice with "cancel", Cancel with
 * nothing. FALSE for any other call. */
static gboolean answer_agent(DBusConnection *connection, DBusMessage *message) {
        for (int i = 0; i < _AGENT_METHOD_MAX; i++) {
                const MethodSpec *spec = &agent_methods[i];

                if (!dbus_message_is_method_call(message, spec->interface, spec->name))
                        continue;
                REQUIRE(dbus_message_has_signature(message, spec->in_signature));
                REQUIRE(!dbus_message_get_no_reply(message) == !spec->no_reply);
                if (spec->no_reply)
                        return TRUE;
                g_autoptr(DBusMessage) reply = dbus_message_new_method_return(message);
                DBusMessageIter it, dict;
                const char *answer = "cancel", *identity = "";

                REQUIRE(reply);
                dbus_message_iter_init_append(reply, &it);
                REQUIRE(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &answer));
                REQUIRE(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &identity));
                REQUIRE(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
                REQUIRE(dbus_message_iter_close_container(&it, &dict));
                REQUIRE(dbus_connection_send(connection, reply, NULL));
                return TRUE;
        }
        return FALSE;
}

static DBusHandlerResult client_filter_cb(DBusConnection *connection, DBusMessage *message,
                                          void *user_data) {
        int type = dbus_message_get_type(message);
        dbus_uint32_t serial = dbus_message_get_reply_serial(message);

        if (dbus_message_is_signal(message, DBUS_INTERFACE_LOCAL, "Disconnected")) {
                fprintf(stderr, "the daemon's end of the connection closed it\n");
                abort();
        }
        if (type == DBUS_MESSAGE_TYPE_METHOD_CALL && answer_agent(connection, message))
                return DBUS_HANDLER_RESULT_HANDLED;
        if (type == DBUS_MESSAGE_TYPE_METHOD_CALL) {
                fprintf(stderr, "the daemon called its peer: %s.%s\n",
                        dbus_message_get_interface(message), dbus_message_get_member(message));
                abort();
        }
        if (type != DBUS_MESSAGE_TYPE_METHOD_RETURN && type != DBUS_MESSAGE_TYPE_ERROR)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (type == DBUS_MESSAGE_TYPE_ERROR &&
            !is_known_error(dbus_message_get_error_name(message))) {
                fprintf(stderr, "unexpected error %s\n", dbus_message_get_error_name(message));
                abort();
        }
        if (serial == fx.ping_serial) {
                REQUIRE(!fx.ping_answered);
                fx.ping_answered = TRUE;
        } else if (!g_hash_table_remove(fx.awaiting, GUINT_TO_POINTER(serial))) {
                /* libdbus itself answers a call nobody handled (an unknown path) even
                 * when it expects no reply; nothing else may, nor answer twice. */
                REQUIRE(g_hash_table_remove(fx.unawaited, GUINT_TO_POINTER(serial)));
                REQUIRE(dbus_message_is_error(message, DBUS_ERROR_UNKNOWN_METHOD));
        }
        return DBUS_HANDLER_RESULT_HANDLED;
}

static gboolean guard_cb(gpointer user_data) {
        fx.timed_out = TRUE;
        return G_SOURCE_REMOVE;
}

/* Sends a Peer.Ping after whatever was sent and runs the main context until it and
 * every awaited call are answered. */
static void run_until_answered(void) {
        g_autoptr(DBusMessage) ping = dbus_message_new_method_call(NULL, "/",
                                                                   DBUS_INTERFACE_PEER, "Ping");

        fx.ping_answered = FALSE;
        fx.timed_out = FALSE;
        REQUIRE(ping && dbus_connection_send(fx.client, ping, &fx.ping_serial));
        guint guard = g_timeout_add(GUARD_MS, guard_cb, NULL);
        while (!fx.timed_out && (!fx.ping_answered || g_hash_table_size(fx.awaiting) > 0))
                g_main_context_iteration(NULL, TRUE);
        if (fx.timed_out) {
                fprintf(stderr, "%u calls unanswered after %d ms%s\n",
                        g_hash_table_size(fx.awaiting), GUARD_MS,
                        fx.ping_answered ? "" : ", and Ping");
                abort();
        }
        g_source_remove(guard);
}

static void set_up(void) {
        g_autoptr(GError) error = NULL;
        g_auto(DBusError) derror = DBUS_ERROR_INIT;

        g_log_set_writer_func(log_writer, NULL, NULL);
        config_init(&fx.config);
        fx.dir = g_dir_make_tmp("tlsid-fuzz-dispatch-XXXXXX", &error);
        REQUIRE(fx.dir);
        atexit(remove_dir);
        fx.state_path = g_build_filename(fx.dir, "choices", NULL);
        fx.certs = cert_db_open(NULL, &error);
        REQUIRE(fx.certs);
        fx.awaiting = g_hash_table_new(g_direct_hash, g_direct_equal);
        fx.unawaited = g_hash_table_new(g_direct_hash, g_direct_equal);

        g_autofree char *socket = g_build_filename(fx.dir, "socket", NULL);
        g_autofree char *address = g_strdup_printf("unix:path=%s", socket);
        fx.server = dbus_server_listen(address, &derror);
        REQUIRE(fx.server);
        dbus_server_set_new_connection_function(fx.server, new_connection_cb, NULL, NULL);
        REQUIRE(dbus_server_set_watch_functions(fx.server, server_add_watch,
                                                server_remove_watch, NULL, NULL, NULL));
        fx.client = dbus_connection_open_private(address, &derror);
        REQUIRE(fx.client);
        fx.client_bus = bus_glib_attach(fx.client, NULL);
        REQUIRE(dbus_connection_add_filter(fx.client, client_filter_cb, NULL, NULL));
        /* The server is done once it has accepted the daemon's end. */
        while (!fx.daemon_end)
                g_main_context_iteration(NULL, TRUE);
        dbus_server_disconnect(fx.server);
        dbus_server_unref(fx.server);
        g_unlink(socket);
        run_until_answered();
}

/* Sends each message of @data that demarshals; the calls expecting a reply are awaited. */
static void send_messages(const uint8_t *data, size_t size) {
        size_t offset = 0;

        for (int n = 0; n < MESSAGES_MAX && size - offset >= DBUS_MINIMUM_HEADER_SIZE; n++) {
                g_auto(DBusError) error = DBUS_ERROR_INIT;
                const char *bytes = (const char *) data + offset;
                int need = dbus_message_demarshal_bytes_needed(bytes, (int) (size - offset));

                if (need <= 0 || (size_t) need > size - offset)
                        break;
                offset += (size_t) need;
                g_autoptr(DBusMessage) message = dbus_message_demarshal(bytes, need, &error);
                if (!message)
                        continue;
                /* A copy has no serial: the client numbers it, apart from the Ping's. */
                g_autoptr(DBusMessage) copy = dbus_message_copy(message);
                dbus_uint32_t serial;
                REQUIRE(copy && dbus_connection_send(fx.client, copy, &serial));
                if (dbus_message_get_type(copy) == DBUS_MESSAGE_TYPE_METHOD_CALL)
                        g_hash_table_add(dbus_message_get_no_reply(copy) ? fx.unawaited
                                                                         : fx.awaiting,
                                         GUINT_TO_POINTER(serial));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const guint8 nonce[16] = { 1 };
        g_autoptr(GError) error = NULL;

        if (!fx.client)
                set_up();

        Store *store = store_new(&fx.config.limits, nonce);
        REQUIRE(store_open_context(store, "fuzz", FALSE, "fuzz", NULL, NULL));
        Manager *manager = manager_new(fx.daemon_end, store, &fx.config, fx.state_path,
                                       fx.certs, NULL);
        REQUIRE(manager_start(manager, &error));

        g_hash_table_remove_all(fx.unawaited);
        send_messages(data, size);
        run_until_answered();

        /* Remembered choices are written as the daemon writes them at exit. */
        if (!manager_flush_save(manager, &error)) {
                fprintf(stderr, "cannot save the remembered choices: %s\n", error->message);
                abort();
        }
        manager_free(manager);
        store_free(store);
        /* The next input starts without a choices file, as this one did. */
        g_unlink(fx.state_path);
        return 0;
}
