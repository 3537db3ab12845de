/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Caller tracking: the uid of each caller, known by its unique name, looked up once from
 * the bus driver without blocking; its calls wait in order meanwhile, within limits. */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>
#include <sys/types.h>

typedef struct Callers Callers;

/* Runs @message, from a caller whose uid is @uid. */
typedef void (*CallersRunFn)(DBusMessage *message, uid_t uid, gpointer user_data);
/* Refuses @message with @error (the caller's uid could not be learnt). */
typedef void (*CallersRefuseFn)(DBusMessage *message, const GError *error, gpointer user_data);

/* Tracks the callers of @connection (not owned): at most @max_senders whose uid is being
 * looked up or known, at most @max_pending calls waiting for each lookup. Only callers of
 * uid @owner are kept once known: another uid's calls are run (to be refused) and the
 * caller dropped, so that it cannot hold the slots the owner's callers need. */
Callers *callers_new(DBusConnection *connection, uid_t owner, guint max_senders,
                     guint max_pending, CallersRunFn run, CallersRefuseFn refuse,
                     gpointer user_data);
/* Cancels the lookups; waiting calls are dropped. Accepts NULL. */
void callers_free(Callers *callers);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Callers, callers_free)

/* Runs the method call @message now when its caller's uid is known (on a peer-to-peer
 * connection: the uid of the socket's peer, whatever sender the message names), else
 * queues it behind the lookup, started now when there is none. Returns FALSE with
 * LIMIT_EXCEEDED or FAILED in @error when it can neither run nor queue it; the caller
 * replies with it. */
gboolean callers_submit(Callers *callers, DBusMessage *message, GError **error);

/* Forgets the caller @name (its unique name left the bus). */
void callers_forget(Callers *callers, const char *name);
