/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The direct socket: its private directory and socket, accepting connections of the
 * daemon's uid only, within limits, and handing their method calls to the manager. */
#include "direct.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"
#include "bus-glib.h"
#include "error.h"
#include "manager-private.h"

#define SOCKET_PREFIX "direct-"

/* Bytes of replies that may wait unsent on one connection when its next call arrives:
 * many times the largest reply of a direct method (SelectCertificate's, within
 * TLSID_ELIGIBLE_BYTES and a little more), so only a peer that stopped reading its
 * replies meets it; it is closed then, rather than making the daemon hold ever more. */
#define DIRECT_OUTGOING_MAX (8 * 1024 * 1024)

typedef struct {
        DirectServer *server;
        DBusConnection *connection;
        BusGlib *glib;
        uid_t uid; /* the peer's, from SO_PEERCRED */
        gboolean registered;
} DirectConnection;

struct DirectServer {
        Manager *manager;
        GMainContext *context;
        guint max_connections;
        char *path;
        DBusServer *server;
        BusGlib *glib;
        char *address;
        GHashTable *open;    /* DirectConnection, owned */
        GHashTable *closing; /* DirectConnection, owned: disconnected, freed on idle */
        GSource *reaper;     /* the idle that frees @closing, while it has any */
};

/* --- connections --- */

static DBusHandlerResult direct_filter_cb(DBusConnection *connection, DBusMessage *message,
                                          void *user_data);

static void direct_connection_free(DirectConnection *dc) {
        dbus_connection_remove_filter(dc->connection, direct_filter_cb, dc);
        if (dc->registered)
                dbus_connection_unregister_object_path(dc->connection, TLSID_OBJECT_PATH);
        bus_glib_detach(dc->glib);
        dbus_connection_close(dc->connection);
        dbus_connection_unref(dc->connection);
        g_free(dc);
}

static gboolean reap_cb(gpointer user_data) {
        DirectServer *s = user_data;

        g_hash_table_remove_all(s->closing);
        g_clear_pointer(&s->reaper, g_source_unref);
        return G_SOURCE_REMOVE;
}

/* Moves @dc to the connections freed on idle: it is inside its own dispatch now. */
static void direct_connection_retire(DirectConnection *dc) {
        DirectServer *s = dc->server;

        if (!g_hash_table_steal(s->open, dc))
                return;
        g_hash_table_add(s->closing, dc);
        if (!s->reaper) {
                s->reaper = g_idle_source_new();
                g_source_set_name(s->reaper, "tlsid-direct-reaper");
                g_source_set_callback(s->reaper, reap_cb, s, NULL);
                g_source_attach(s->reaper, s->context);
        }
}

/* Method calls to the manager's object; everything else (signals such as a forged
 * NameOwnerChanged among them) is not for us and is dropped by libdbus. */
static DBusHandlerResult direct_message_cb(DBusConnection *connection, DBusMessage *message,
                                           void *user_data) {
        DirectConnection *dc = user_data;
        long waiting;

        /* Calls read before the peer hung up are still run (a process's last PutSession,
         * sent without a reply just before it exited); their replies go nowhere. */
        if (dbus_message_get_type(message) != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        waiting = dbus_connection_get_outgoing_size(connection);
        if (waiting > DIRECT_OUTGOING_MAX) {
                g_message("Closing a direct connection that reads none of its replies (%ld "
                          "bytes waiting)", waiting);
                dbus_connection_close(connection);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        manager_run_direct_call(dc->server->manager, connection, message, dc->uid);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static const DBusObjectPathVTable direct_vtable = {
        .message_function = direct_message_cb,
};

static DBusHandlerResult direct_filter_cb(DBusConnection *connection, DBusMessage *message,
                                          void *user_data) {
        if (dbus_message_is_signal(message, DBUS_INTERFACE_LOCAL, "Disconnected"))
                direct_connection_retire(user_data);
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

/* libdbus's check of the identity the EXTERNAL mechanism proved (the socket's
 * credentials): the daemon's uid, and not root either, which libdbus lets in by default. */
static dbus_bool_t allow_unix_user(DBusConnection *connection, unsigned long uid, void *data) {
        return uid == (unsigned long) getuid();
}

/* The uid of @connection's peer, from the kernel; FALSE when it cannot be read. */
static gboolean peer_uid(DBusConnection *connection, uid_t *ret_uid) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        int fd = -1;

        if (!dbus_connection_get_socket(connection, &fd) || fd < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred)
                return FALSE;
        *ret_uid = cred.uid;
        return TRUE;
}

/* A connection not referenced here is closed by libdbus once this returns. */
static void new_connection_cb(DBusServer *server, DBusConnection *connection, void *data) {
        DirectServer *s = data;
        uid_t uid;

        if (!peer_uid(connection, &uid)) {
                g_message("Refusing a direct connection whose peer's uid cannot be read: %s",
                          g_strerror(errno));
                return;
        }
        if (uid != s->manager->uid) {
                g_message("Refusing a direct connection of uid %lu (the daemon's is %lu)",
                          (unsigned long) uid, (unsigned long) s->manager->uid);
                return;
        }
        if (g_hash_table_size(s->open) >= s->max_connections) {
                g_message("Refusing a direct connection: %u are open (max_direct_connections); "
                          "the client goes on over the bus", s->max_connections);
                return;
        }

        DirectConnection *dc = g_new0(DirectConnection, 1);
        dc->server = s;
        dc->connection = dbus_connection_ref(connection);
        dc->uid = uid;
        dbus_connection_set_exit_on_disconnect(connection, FALSE);
        dbus_connection_set_unix_user_function(connection, allow_unix_user, NULL, NULL);
        if (!dbus_connection_add_filter(connection, direct_filter_cb, dc, NULL) ||
            !dbus_connection_register_object_path(connection, TLSID_OBJECT_PATH,
                                                  &direct_vtable, dc))
                oom();
        dc->registered = TRUE;
        dc->glib = bus_glib_attach(connection, s->context);
        g_hash_table_add(s->open, dc);
}

/* --- the directory and the socket --- */

/* Makes $XDG_RUNTIME_DIR/tlsid, or checks the one there (transfer full; NULL on error). */
static char *private_dir(GError **error) {
        const char *runtime = g_getenv("XDG_RUNTIME_DIR");
        struct stat st;

        if (!runtime || !g_path_is_absolute(runtime)) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "XDG_RUNTIME_DIR is not set to an absolute path");
                return NULL;
        }
        g_autofree char *dir = g_build_filename(runtime, "tlsid", NULL);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "cannot create %s: %s",
                            dir, g_strerror(errno));
                return NULL;
        }
        /* Made now or found: either way it must be ours alone, and not a link to
         * elsewhere. */
        if (lstat(dir, &st) < 0) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "cannot read %s: %s", dir,
                            g_strerror(errno));
                return NULL;
        }
        if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "%s must be a directory of uid %lu with mode 0700 (it is %s of uid "
                            "%lu with mode %04o)", dir, (unsigned long) getuid(),
                            S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                            (unsigned long) st.st_uid, (unsigned) (st.st_mode & 07777));
                return NULL;
        }
        return g_steal_pointer(&dir);
}

/* Whether something listens on the socket @path. */
static gboolean socket_listening(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (strlen(path) >= sizeof sa.sun_path)
                return FALSE;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return TRUE; /* cannot tell: leave it */
        r = connect(fd, (struct sockaddr *) &sa, sizeof sa);
        /* EAGAIN: alive, its backlog full. */
        gboolean listening = r == 0 || errno != ECONNREFUSED;
        close(fd);
        return listening;
}

/* Removes the sockets of daemons that died without removing theirs. */
static void remove_stale_sockets(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                if (!g_str_has_prefix(name, SOCKET_PREFIX))
                        continue;
                g_autofree char *path = g_build_filename(dir, name, NULL);
                if (!socket_listening(path))
                        (void) unlink(path);
        }
}

DirectServer *direct_server_new(Manager *manager, GMainContext *context,
                                guint max_connections, GError **error) {
        static const char *const mechanisms[] = { "EXTERNAL", NULL };
        g_auto(DBusError) derror = DBUS_ERROR_INIT;
        guint8 random[8];

        g_autofree char *dir = private_dir(error);
        if (!dir)
                return NULL;
        remove_stale_sockets(dir);
        if (getrandom(random, sizeof random, 0) != (ssize_t) sizeof random) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot draw the socket's name: %s", g_strerror(errno));
                return NULL;
        }
        g_autofree char *hex = g_strdup_printf("%02x%02x%02x%02x%02x%02x%02x%02x", random[0],
                                               random[1], random[2], random[3], random[4],
                                               random[5], random[6], random[7]);
        g_autofree char *name = g_strconcat(SOCKET_PREFIX, hex, NULL);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (strlen(path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "the socket path %s is too long for a Unix socket", path);
                return NULL;
        }
        g_autofree char *escaped = dbus_address_escape_value(path);
        if (!escaped)
                oom();
        g_autofree char *listen = g_strconcat("unix:path=", escaped, NULL);
        DBusServer *server = dbus_server_listen(listen, &derror);
        if (!server) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "cannot listen on %s: %s",
                            path, derror.message);
                return NULL;
        }

        DirectServer *s = g_new0(DirectServer, 1);
        s->manager = manager;
        s->context = g_main_context_ref(context);
        s->max_connections = max_connections;
        s->path = g_steal_pointer(&path);
        s->server = server;
        s->open = g_hash_table_new_full(NULL, NULL, (GDestroyNotify) direct_connection_free,
                                        NULL);
        s->closing = g_hash_table_new_full(NULL, NULL, (GDestroyNotify) direct_connection_free,
                                           NULL);
        char *address = dbus_server_get_address(server);
        s->address = g_strdup(address);
        dbus_free(address);
        if (!dbus_server_set_auth_mechanisms(server, (const char **) mechanisms))
                oom();
        dbus_server_set_new_connection_function(server, new_connection_cb, s, NULL);
        s->glib = bus_glib_attach_server(server, context);
        return s;
}

const char *direct_server_get_address(DirectServer *s) {
        return s ? s->address : "";
}

guint direct_server_count(DirectServer *s) {
        return s ? g_hash_table_size(s->open) : 0;
}

void direct_server_free(DirectServer *s) {
        if (!s)
                return;
        dbus_server_set_new_connection_function(s->server, NULL, NULL, NULL);
        dbus_server_disconnect(s->server);
        bus_glib_detach(s->glib);
        dbus_server_unref(s->server);
        /* libdbus removes it when disconnecting; a socket left would be stale anyway. */
        if (unlink(s->path) < 0 && errno != ENOENT)
                g_warning("Cannot remove %s: %s", s->path, g_strerror(errno));
        if (s->reaper) {
                g_source_destroy(s->reaper);
                g_source_unref(s->reaper);
        }
        g_hash_table_destroy(s->open);
        g_hash_table_destroy(s->closing);
        g_main_context_unref(s->context);
        g_free(s->address);
        g_free(s->path);
        g_free(s);
}
