/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libdbus on a GLib main context: watches, timeouts and dispatching as GSources. */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

/* Cleanup helpers for libdbus types, declared once for the whole daemon. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DBusMessage, dbus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DBusPendingCall, dbus_pending_call_unref)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DBusError, dbus_error_free)

typedef struct BusGlib BusGlib;

/* Makes @connection do all its I/O from @context (NULL: the global default context):
 * each DBusWatch becomes a GSource polling its fd, each DBusTimeout a timeout GSource,
 * and queued messages are dispatched as soon as they are read, or from a GSource
 * whenever any are pending. The context is woken only when libdbus queues messages from
 * a thread that does not own it. Nothing blocks. Holds a reference on @connection until
 * bus_glib_detach(). */
BusGlib *bus_glib_attach(DBusConnection *connection, GMainContext *context);

/* Makes @server accept its connections from @context as bus_glib_attach() does for a
 * connection (each new connection is attached on its own). Holds a reference on
 * @server until bus_glib_detach(). */
BusGlib *bus_glib_attach_server(DBusServer *server, GMainContext *context);

/* Removes every source bus_glib_attach() or bus_glib_attach_server() added and drops
 * its reference on the connection or server. Accepts NULL. */
void bus_glib_detach(BusGlib *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BusGlib, bus_glib_detach)
