/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replies to SetChoice with remember, sent from the main loop once the worker thread has
 * put the choice on disk (or failed to). */
#include "manager-private.h"

#include "args.h"
#include "bus-glib.h"

typedef struct {
        Manager *manager;
        DBusMessage *message; /* a reference, until the reply is sent */
} HeldCall;

static void held_call_free(HeldCall *held) {
        dbus_message_unref(held->message);
        g_free(held);
}

static void saved_cb(const GError *error, gpointer user_data) {
        HeldCall *held = user_data;
        g_autoptr(DBusMessage) reply = NULL;

        if (error) {
                manager_reply_error(held->manager, held->message, error);
                return;
        }
        reply = new_reply(held->message);
        if (!dbus_connection_send(held->manager->connection, reply, NULL))
                oom();
}

void manager_reply_when_saved(Manager *m, DBusMessage *message, DBusMessage **ret_reply) {
        HeldCall *held;

        if (state_saver_is_saved(m->saver)) {
                *ret_reply = new_reply(message);
                return;
        }
        /* The write is scheduled either way; a caller that wants no reply does not wait. */
        if (dbus_message_get_no_reply(message)) {
                state_saver_changed(m->saver);
                return;
        }
        held = g_new0(HeldCall, 1);
        held->manager = m;
        held->message = dbus_message_ref(message);
        state_saver_wait(m->saver, saved_cb, held, (GDestroyNotify) held_call_free);
}
