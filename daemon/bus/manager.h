/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.tlsid.Manager1 object: its life cycle on the connection and the dispatcher
 * that checks each call against the generated interface table and runs its handler. */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#include "certs.h"
#include "interface.h"
#include "config.h"
#include "policy-watch.h"
#include "store.h"


typedef struct Manager Manager;

/* A method handler: reads the arguments of @message (whose signature the dispatcher
 * has checked), validates, acts, emits signals and returns the reply in @ret_reply
 * (transfer full). Returns FALSE exactly when @error (TLSID_ERROR domain, or the standard
 * errors of manager-private.h) is set; the dispatcher turns it into the error reply. */
typedef gboolean (*ManagerMethodFn)(Manager *manager, DBusMessage *message,
                                    DBusMessage **ret_reply, GError **error);

/* A method of the generated table (dbus/org.tlsid.Manager1.xml) and its handler; @direct:
 * also served on the direct socket (the handshake path), not only on the bus. */
typedef struct {
        const MethodSpec *spec;
        ManagerMethodFn handler;
        gboolean direct;
} ManagerMethod;

/* The daemon's method table (org.freedesktop.DBus.Peer is answered by libdbus itself
 * and so is not in it); @ret_n gets its length. For the interface test. */
const ManagerMethod *manager_get_methods(size_t *ret_n);
/* The signals the daemon emits; @ret_n gets their number. */
const SignalSpec *manager_get_signals(size_t *ret_n);

/* A manager serving @store on @connection, with the caller limits of @config (copied; the
 * one @store's limits came from, since the properties report them as in force), loading
 * the remembered choices of @state_path into @store now and saving them there, listing and parsing certificates with @certs
 * (nullable: NSS could not be initialised; there are no user certificates then, and
 * certificates passed by callers are refused with FAILED) and selecting by the
 * policy of @policy (nullable: the default policy). None of them is owned; all must
 * outlive the manager. Nothing happens on the bus until manager_start(). */
Manager *manager_new(DBusConnection *connection, Store *store, const TlsidConfig *config,
                     const char *state_path, CertDb *certs, PolicyWatch *policy);

/* Registers the object path, and subscribes to NameOwnerChanged (asynchronously) to
 * follow callers' lifetimes. Call it before requesting the bus name. */
gboolean manager_start(Manager *manager, GError **error);

/* Listens on the direct socket as well (direct.h), in $XDG_RUNTIME_DIR/tlsid/, with the
 * [daemon] max_direct_connections of the config (0: not at all, and TRUE). FALSE with
 * @error when it cannot; the bus serves everything then, and DirectAddress is "". Call it
 * after manager_start(), before requesting the bus name, so the address is known to the
 * first caller. */
gboolean manager_listen_direct(Manager *manager, GError **error);

/* Writes the remembered choices now if they changed since the last save, waiting for a
 * save running in the worker thread first, and queues the replies of the remembers that
 * waited. For shutdown, after the loop stopped. */
gboolean manager_flush_save(Manager *manager, GError **error);

/* Unregisters everything and frees @manager; queued calls are dropped. Accepts NULL. */
void manager_free(Manager *manager);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)
