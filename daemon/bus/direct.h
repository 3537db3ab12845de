/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The direct socket: a private peer-to-peer D-Bus server beside the bus, for the
 * handshake path, so that a call costs one socket hop rather than two through
 * dbus-daemon. The same manager, method table and checks serve its connections. */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#include "manager.h"

typedef struct DirectServer DirectServer;

/* Listens on a new socket $XDG_RUNTIME_DIR/tlsid/direct-RANDOM (the directory made mode
 * 0700, and refused when it exists with another owner, looser permissions or as
 * something other than a directory; sockets left by a daemon that crashed are removed),
 * EXTERNAL authentication only, serving @manager's handshake methods from @context. Every
 * connection's peer must have the daemon's uid, read from the socket (SO_PEERCRED) when
 * it is accepted and again by libdbus's authentication: another uid is closed before any
 * of its messages is dispatched. At most @max_connections at once; one more is closed
 * when accepted, and so is a connection that lets replies pile up unread. Returns NULL
 * with @error (FAILED, naming the path and the reason) when it cannot listen. */
DirectServer *direct_server_new(Manager *manager, GMainContext *context,
                                guint max_connections, GError **error);

/* The address clients connect to (libdbus's, with the server's guid); "" for NULL. */
const char *direct_server_get_address(DirectServer *server);

/* The connections open now (0 for NULL). */
guint direct_server_count(DirectServer *server);

/* Closes every connection, stops listening and removes the socket. Accepts NULL. */
void direct_server_free(DirectServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DirectServer, direct_server_free)
