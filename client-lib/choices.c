/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's choices: setting the certificate choice of an origin, and forgetting
 * choices. */
#include <errno.h>

#include "libtlsid-private.h"
#include "tlsid-ids.h"

/* Checks the arguments of SetChoice and builds the call. (transfer full) */
static int build_set_choice(const char *context, const char *origin, TlsidChoice state,
                            const char *identity, unsigned flags, DBusMessage **ret_msg) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL;
        DBusMessageIter iter, dict;
        dbus_bool_t remember = TRUE;
        const char *state_name;
        int r;

        if ((r = check_context(context)) < 0 || (r = check_origin(origin)) < 0)
                return r;
        state_name = choice_state_to_string((int) state);
        if (!state_name)
                return set_error(-EINVAL, "state %d is not a TlsidChoice", (int) state);
        if (state == TLSID_CHOICE_CERTIFICATE) {
                const char *why = id_fingerprint_check(identity);

                if (why)
                        return set_error(-EINVAL, "identity %s", why);
        } else if (identity && *identity)
                return set_error(-EINVAL, "identity must be empty unless state is certificate");
        else
                identity = "";
        if (flags & ~TLSID_CHOICE_REMEMBER)
                return set_error(-EINVAL, "flags has unknown bits 0x%x",
                                 flags & ~TLSID_CHOICE_REMEMBER);

        msg = new_call(METHOD_SET_CHOICE);
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &state_name) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &identity) ||
            !open_dict(&iter, &dict))
                return set_oom();
        if (((flags & TLSID_CHOICE_REMEMBER) &&
             !dict_append(&dict, "remember", DBUS_TYPE_BOOLEAN, &remember)) ||
            !dbus_message_iter_close_container(&iter, &dict)) {
                dbus_message_iter_abandon_container_if_open(&iter, &dict);
                return set_oom();
        }
        *ret_msg = TAKE_PTR(msg);
        return 0;
}

static int set_choice(TlsidClient *c, const char *context, const char *retry_name,
                      const char *origin, TlsidChoice state, const char *identity,
                      unsigned flags) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg = NULL;
        int r;

        r = build_set_choice(context, origin, state, identity, flags, &msg);
        if (r < 0)
                return r;
        r = client_call(c, msg, retry_name, &reply);
        return r < 0 ? r : 0;
}

_public_ int tlsid_context_set_choice(TlsidContext *context, const char *origin,
                                      TlsidChoice state, const char *identity, unsigned flags) {
        if (!context)
                return set_error(-EINVAL, "context is NULL");
        return set_choice(context->client, context->name, context_retry_name(context), origin,
                          state, identity, flags);
}

_public_ int tlsid_client_set_choice(TlsidClient *client, const char *context, const char *origin,
                                     TlsidChoice state, const char *identity, unsigned flags) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        /* A context this client also has open is reopened after a restart like any other. */
        return set_choice(client, context, context, origin, state, identity, flags);
}

_public_ int tlsid_client_forget_choices(TlsidClient *client, const char *context,
                                         const char *origin, uint32_t *ret_forgotten) {
        return client_call_wildcard(client, METHOD_FORGET_CHOICES, context, origin,
                                    ret_forgotten);
}
