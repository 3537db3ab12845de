/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Callers' uids, looked up asynchronously, and the calls waiting for them. */
#include "callers.h"

#include "args.h"
#include "bus-glib.h"
#include "error.h"

/* A caller, known by its unique name. Its calls wait in @queue while its uid is being
 * looked up, so that they run in order and the main loop never blocks. */
typedef struct {
        Callers *callers;
        char *name;
        gboolean known;
        uid_t uid;
        GQueue queue;            /* DBusMessage (owned), while !known */
        DBusPendingCall *lookup; /* GetConnectionUnixUser in flight, while !known */
} Sender;

struct Callers {
        DBusConnection *connection;
        uid_t owner;         /* callers of another uid are refused and not kept */
        guint max_senders;
        guint max_pending;
        CallersRunFn run;
        CallersRefuseFn refuse;
        gpointer user_data;
        GHashTable *senders; /* unique name -> Sender */
};

static void sender_free(Sender *s) {
        if (s->lookup) {
                dbus_pending_call_cancel(s->lookup);
                dbus_pending_call_unref(s->lookup);
        }
        g_queue_clear_full(&s->queue, (GDestroyNotify) dbus_message_unref);
        g_free(s->name);
        g_free(s);
}

static void sender_lookup_done(DBusPendingCall *pending, void *user_data) {
        Sender *s = user_data;
        Callers *c = s->callers;
        g_autoptr(DBusMessage) reply = dbus_pending_call_steal_reply(pending);
        dbus_uint32_t uid = 0;
        DBusMessage *message;

        g_clear_pointer(&s->lookup, dbus_pending_call_unref);
        if (reply && dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN &&
            dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &uid, DBUS_TYPE_INVALID)) {
                s->known = TRUE;
                s->uid = uid;
                /* Running a call never dispatches, so @s stays valid meanwhile. */
                while ((message = g_queue_pop_head(&s->queue))) {
                        c->run(message, uid, c->user_data);
                        dbus_message_unref(message);
                }
                /* Refused (run() answered AccessDenied): it keeps no slot the owner's
                 * callers need; a next call looks it up again. */
                if (uid != c->owner)
                        g_hash_table_remove(c->senders, s->name);
                return;
        }

        /* Usually the caller is gone already; answer anyway, in case it is not. */
        g_autoptr(GError) error = g_error_new(TLSID_ERROR, TLSID_ERROR_FAILED,
                                              "cannot determine the uid of caller %s", s->name);
        while ((message = g_queue_pop_head(&s->queue))) {
                c->refuse(message, error, c->user_data);
                dbus_message_unref(message);
        }
        g_hash_table_remove(c->senders, s->name);
}

/* A new sender entry whose uid lookup is on its way, or NULL when the connection
 * cannot send any more. */
static Sender *sender_new(Callers *c, const char *name) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
                DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "GetConnectionUnixUser");
        DBusPendingCall *pending = NULL;

        if (!call || !dbus_message_append_args(call, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID))
                oom();
        if (!dbus_connection_send_with_reply(c->connection, call, &pending,
                                             DBUS_TIMEOUT_USE_DEFAULT) || !pending)
                return NULL;

        Sender *s = g_new0(Sender, 1);
        s->callers = c;
        s->name = g_strdup(name);
        s->lookup = pending;
        g_queue_init(&s->queue);
        if (!dbus_pending_call_set_notify(pending, sender_lookup_done, s, NULL))
                oom();
        g_hash_table_insert(c->senders, s->name, s);
        return s;
}

Callers *callers_new(DBusConnection *connection, uid_t owner, guint max_senders,
                     guint max_pending, CallersRunFn run, CallersRefuseFn refuse,
                     gpointer user_data) {
        Callers *c = g_new0(Callers, 1);

        c->connection = connection;
        c->owner = owner;
        c->max_senders = max_senders;
        c->max_pending = max_pending;
        c->run = run;
        c->refuse = refuse;
        c->user_data = user_data;
        c->senders = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) sender_free);
        return c;
}

void callers_free(Callers *c) {
        if (!c)
                return;
        g_hash_table_destroy(c->senders);
        g_free(c);
}

gboolean callers_submit(Callers *c, DBusMessage *message, GError **error) {
        const char *sender = dbus_message_get_sender(message);

        /* A peer-to-peer connection (no unique name of our own: no bus) has no driver to
         * ask, and the sender of a message is whatever the peer wrote there: the caller
         * is whoever is on the socket. */
        if (!dbus_bus_get_unique_name(c->connection)) {
                unsigned long uid;
                if (!dbus_connection_get_unix_user(c->connection, &uid))
                        uid = (unsigned long) -1;
                c->run(message, (uid_t) uid, c->user_data);
                return TRUE;
        }

        Sender *s = g_hash_table_lookup(c->senders, sender);
        if (s && s->known) {
                c->run(message, s->uid, c->user_data);
                return TRUE;
        }
        if (!s) {
                if (g_hash_table_size(c->senders) >= c->max_senders) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                                    "too many callers at once (max_senders is %u)",
                                    c->max_senders);
                        return FALSE;
                }
                if (!(s = sender_new(c, sender))) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                                    "cannot look up the caller's uid");
                        return FALSE;
                }
        } else if (g_queue_get_length(&s->queue) >= c->max_pending) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "too many calls waiting (max_pending_per_sender is %u)",
                            c->max_pending);
                return FALSE;
        }
        g_queue_push_tail(&s->queue, dbus_message_ref(message));
        return TRUE;
}

void callers_forget(Callers *c, const char *name) {
        g_hash_table_remove(c->senders, name);
}
