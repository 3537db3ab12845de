/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdbus on a GLib main context. */
#include "bus-glib.h"

/* How many queued messages one main loop iteration dispatches: enough to keep the
 * per-message poll() overhead low under load, few enough that timers and signal
 * sources still run between bursts. */
#define DISPATCH_BURST 32

struct BusGlib {
        DBusConnection *connection; /* NULL for a server */
        DBusServer *server;         /* NULL for a connection */
        GMainContext *context;
        GSource *dispatch_source;   /* connections only */
};

/* --- watches --- */

typedef struct {
        GSource source;
        BusGlib *bus;
        DBusWatch *watch;
        gpointer fd_tag;
} WatchSource;

static void dispatch_burst(DBusConnection *connection) {
        dbus_connection_ref(connection);
        for (int i = 0; i < DISPATCH_BURST; i++)
                if (dbus_connection_dispatch(connection) != DBUS_DISPATCH_DATA_REMAINS)
                        break;
        dbus_connection_unref(connection);
}

static GIOCondition watch_condition(DBusWatch *watch) {
        if (!dbus_watch_get_enabled(watch))
                return 0;
        unsigned flags = dbus_watch_get_flags(watch);
        GIOCondition condition = G_IO_HUP | G_IO_ERR;
        if (flags & DBUS_WATCH_READABLE)
                condition |= G_IO_IN;
        if (flags & DBUS_WATCH_WRITABLE)
                condition |= G_IO_OUT;
        return condition;
}

static gboolean watch_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
        WatchSource *ws = (WatchSource *) source;
        GIOCondition revents = g_source_query_unix_fd(source, ws->fd_tag);
        DBusConnection *connection = ws->bus->connection;
        unsigned flags = 0;

        if (revents & G_IO_IN)
                flags |= DBUS_WATCH_READABLE;
        if (revents & G_IO_OUT)
                flags |= DBUS_WATCH_WRITABLE;
        if (revents & G_IO_HUP)
                flags |= DBUS_WATCH_HANGUP;
        if (revents & G_IO_ERR)
                flags |= DBUS_WATCH_ERROR;
        /* May remove the watch and so destroy this source: GLib holds a reference on it
         * for the duration of the dispatch, and nothing touches it afterwards. */
        if (flags == 0)
                return G_SOURCE_CONTINUE;
        dbus_watch_handle(ws->watch, flags);
        /* What was just read is dispatched now rather than by the dispatch source in the
         * next iteration, which would cost one more poll() per message. (A server's
         * watch accepts connections; it has nothing to dispatch.) */
        if (connection)
                dispatch_burst(connection);
        return G_SOURCE_CONTINUE;
}

/* No prepare or check: GLib reports the source ready when its fd has revents. */
static GSourceFuncs watch_source_funcs = {
        .dispatch = watch_source_dispatch,
};

static void watch_source_free(void *data) {
        GSource *source = data;

        g_source_destroy(source);
        g_source_unref(source);
}

static dbus_bool_t add_watch(DBusWatch *watch, void *data) {
        BusGlib *bus = data;
        GSource *source = g_source_new(&watch_source_funcs, sizeof(WatchSource));
        WatchSource *ws = (WatchSource *) source;

        ws->bus = bus;
        ws->watch = watch;
        ws->fd_tag = g_source_add_unix_fd(source, dbus_watch_get_unix_fd(watch),
                                          watch_condition(watch));
        g_source_set_name(source, "dbus-watch");
        /* GLib blocks a source that cannot recurse while it dispatches, by taking its fd
         * out of the poll set and putting it back: two wake-ups of the context per
         * message. Nothing here runs a nested main loop, and libdbus's own I/O lock
         * serializes dbus_watch_handle() should one ever run. */
        g_source_set_can_recurse(source, TRUE);
        g_source_attach(source, bus->context);
        /* The watch owns the source: it goes when the watch is removed or freed. */
        dbus_watch_set_data(watch, source, watch_source_free);
        return TRUE;
}

static void remove_watch(DBusWatch *watch, void *data) {
        dbus_watch_set_data(watch, NULL, NULL);
}

static void toggle_watch(DBusWatch *watch, void *data) {
        WatchSource *ws = dbus_watch_get_data(watch);

        if (ws)
                g_source_modify_unix_fd(&ws->source, ws->fd_tag, watch_condition(watch));
}

/* --- timeouts --- */

static gboolean timeout_cb(gpointer data) {
        /* libdbus timeouts repeat until libdbus removes or disables them. */
        dbus_timeout_handle(data);
        return G_SOURCE_CONTINUE;
}

static void timeout_source_free(void *data) {
        GSource *source = data;

        g_source_destroy(source);
        g_source_unref(source);
}

static void timeout_arm(BusGlib *bus, DBusTimeout *timeout) {
        if (!dbus_timeout_get_enabled(timeout)) {
                dbus_timeout_set_data(timeout, NULL, NULL);
                return;
        }
        GSource *source = g_timeout_source_new(dbus_timeout_get_interval(timeout));
        g_source_set_name(source, "dbus-timeout");
        g_source_set_callback(source, timeout_cb, timeout, NULL);
        g_source_attach(source, bus->context);
        /* Replaces (and so destroys) any source armed before. */
        dbus_timeout_set_data(timeout, source, timeout_source_free);
}

static dbus_bool_t add_timeout(DBusTimeout *timeout, void *data) {
        timeout_arm(data, timeout);
        return TRUE;
}

static void remove_timeout(DBusTimeout *timeout, void *data) {
        dbus_timeout_set_data(timeout, NULL, NULL);
}

static void toggle_timeout(DBusTimeout *timeout, void *data) {
        /* Re-armed rather than resumed: the interval may have changed meanwhile. */
        timeout_arm(data, timeout);
}

/* --- dispatching --- */

typedef struct {
        GSource source;
        DBusConnection *connection;
} DispatchSource;

static gboolean dispatch_source_ready(GSource *source) {
        DispatchSource *ds = (DispatchSource *) source;

        return dbus_connection_get_dispatch_status(ds->connection) == DBUS_DISPATCH_DATA_REMAINS;
}

static gboolean dispatch_source_prepare(GSource *source, gint *timeout) {
        *timeout = -1;
        return dispatch_source_ready(source);
}

static gboolean dispatch_source_check(GSource *source) {
        return dispatch_source_ready(source);
}

static gboolean dispatch_source_dispatch(GSource *source, GSourceFunc callback,
                                         gpointer user_data) {
        dispatch_burst(((DispatchSource *) source)->connection);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs dispatch_source_funcs = {
        .prepare = dispatch_source_prepare,
        .check = dispatch_source_check,
        .dispatch = dispatch_source_dispatch,
};

/* libdbus asks for a wake-up whenever it queues a message to dispatch or to send. The
 * thread that owns the context is running one of its callbacks (or is not iterating
 * yet), so the dispatch source's prepare() runs before it next sleeps in poll(), and a
 * message left to send has enabled its write watch: it needs no wake-up, and most
 * requests are made there (one eventfd write and read saved each). Another thread, such
 * as one blocking on a call of its own that reads and queues messages meant for the
 * loop, must wake it, or they wait in the queue until unrelated traffic arrives. */
static void wake_unless_owner(BusGlib *bus) {
        if (!g_main_context_is_owner(bus->context))
                g_main_context_wakeup(bus->context);
}

static void dispatch_status_changed(DBusConnection *connection, DBusDispatchStatus status,
                                    void *data) {
        if (status == DBUS_DISPATCH_DATA_REMAINS)
                wake_unless_owner(data);
}

static void wakeup_main(void *data) {
        wake_unless_owner(data);
}

BusGlib *bus_glib_attach(DBusConnection *connection, GMainContext *context) {
        BusGlib *bus = g_new0(BusGlib, 1);

        bus->connection = dbus_connection_ref(connection);
        bus->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();

        GSource *source = g_source_new(&dispatch_source_funcs, sizeof(DispatchSource));
        ((DispatchSource *) source)->connection = connection;
        g_source_set_name(source, "dbus-dispatch");
        g_source_attach(source, bus->context);
        bus->dispatch_source = source;

        /* These only fail when out of memory, which GLib treats as fatal as well. */
        if (!dbus_connection_set_watch_functions(connection, add_watch, remove_watch,
                                                 toggle_watch, bus, NULL) ||
            !dbus_connection_set_timeout_functions(connection, add_timeout, remove_timeout,
                                                   toggle_timeout, bus, NULL))
                g_error("out of memory attaching the D-Bus connection to the main loop");
        dbus_connection_set_dispatch_status_function(connection, dispatch_status_changed, bus,
                                                     NULL);
        dbus_connection_set_wakeup_main_function(connection, wakeup_main, bus, NULL);
        return bus;
}

BusGlib *bus_glib_attach_server(DBusServer *server, GMainContext *context) {
        BusGlib *bus = g_new0(BusGlib, 1);

        bus->server = dbus_server_ref(server);
        bus->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
        if (!dbus_server_set_watch_functions(server, add_watch, remove_watch, toggle_watch, bus,
                                             NULL) ||
            !dbus_server_set_timeout_functions(server, add_timeout, remove_timeout,
                                               toggle_timeout, bus, NULL))
                g_error("out of memory attaching the D-Bus server to the main loop");
        return bus;
}

void bus_glib_detach(BusGlib *bus) {
        if (!bus)
                return;
        if (bus->server) {
                dbus_server_set_watch_functions(bus->server, NULL, NULL, NULL, NULL, NULL);
                dbus_server_set_timeout_functions(bus->server, NULL, NULL, NULL, NULL, NULL);
                dbus_server_unref(bus->server);
                g_main_context_unref(bus->context);
                g_free(bus);
                return;
        }
        /* Setting NULL functions makes libdbus remove every watch and timeout through
         * the old remove functions, which destroys their sources. */
        dbus_connection_set_watch_functions(bus->connection, NULL, NULL, NULL, NULL, NULL);
        dbus_connection_set_timeout_functions(bus->connection, NULL, NULL, NULL, NULL, NULL);
        dbus_connection_set_dispatch_status_function(bus->connection, NULL, NULL, NULL);
        dbus_connection_set_wakeup_main_function(bus->connection, NULL, NULL, NULL);
        g_source_destroy(bus->dispatch_source);
        g_source_unref(bus->dispatch_source);
        dbus_connection_unref(bus->connection);
        g_main_context_unref(bus->context);
        g_free(bus);
}
