/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's signals: the connection's filter, the daemon's IdentityChanged,
 * SessionsFlushed, CertificateRequested and CertificateRequestEnded (named by
 * interface.h's signal table) delivered to the callbacks, and the callbacks' setters. */
#include <errno.h>
#include <string.h>

#include "libtlsid-private.h"
#include "tlsid-ids.h"

__thread TlsidClient *dispatching;
__thread int dispatch_delivered;

int deliver_restart(TlsidClient *c) {
        TlsidSessionsFlushedFn fn;
        void *userdata;

        pthread_mutex_lock(&c->lock);
        fn = c->sessions_flushed;
        userdata = c->sessions_flushed_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn("", "", 0, userdata);
        return 1;
}

static void handle_identity_changed(TlsidClient *c, DBusMessage *msg) {
        const char *context, *origin, *state_name, *identity;
        dbus_uint32_t generation;
        TlsidIdentityChangedFn fn;
        void *userdata;
        int state;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                   &origin, DBUS_TYPE_STRING, &state_name, DBUS_TYPE_STRING,
                                   &identity, DBUS_TYPE_UINT32, &generation, DBUS_TYPE_INVALID))
                return;
        state = choice_state_from_string(state_name);
        if (state < 0)
                return;
        pthread_mutex_lock(&c->lock);
        fn = c->identity_changed;
        userdata = c->identity_changed_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(context, origin, (TlsidChoice) state, identity, generation, userdata);
        dispatch_delivered++;
}

static void handle_sessions_flushed(TlsidClient *c, DBusMessage *msg) {
        const char *context, *origin;
        dbus_uint32_t dropped;
        TlsidSessionsFlushedFn fn;
        void *userdata;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                   &origin, DBUS_TYPE_UINT32, &dropped, DBUS_TYPE_INVALID))
                return;
        pthread_mutex_lock(&c->lock);
        fn = c->sessions_flushed;
        userdata = c->sessions_flushed_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(context, origin, dropped, userdata);
        dispatch_delivered++;
}

/* A string entry @key of the a{sv} at @dict, or @fallback. */
static const char *dict_string(DBusMessageIter dict, const char *key, const char *fallback) {
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                DBusMessageIter entry, variant;
                const char *k, *v;

                dbus_message_iter_recurse(&dict, &entry);
                dbus_message_iter_get_basic(&entry, &k);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (strcmp(k, key) == 0 &&
                    dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_STRING) {
                        dbus_message_iter_get_basic(&variant, &v);
                        return v;
                }
        }
        return fallback;
}

static void handle_certificate_requested(TlsidClient *c, DBusMessage *msg) {
        const char *id, *context, *origin;
        DBusMessageIter iter, dict, it, entry, variant;
        TlsidCertificateRequestedFn fn;
        uint32_t total = 0;
        void *userdata;

        if (!dbus_message_has_signature(msg, interface_signals[SIGNAL_CERTIFICATE_REQUESTED]
                                                     .signature))
                return;
        dbus_message_iter_init(msg, &iter);
        dbus_message_iter_get_basic(&iter, &id);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &context);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &origin);
        dbus_message_iter_next(&iter);
        dbus_message_iter_recurse(&iter, &dict);
        for (it = dict; dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&it)) {
                const char *k;
                uint64_t v;

                dbus_message_iter_recurse(&it, &entry);
                dbus_message_iter_get_basic(&entry, &k);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (strcmp(k, "eligible_total") == 0 && variant_get_uint64(&variant, &v))
                        total = v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
        }
        pthread_mutex_lock(&c->lock);
        fn = c->certificate_requested;
        userdata = c->certificate_requested_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(id, context, origin, dict_string(dict, "label", ""),
                   dict_string(dict, "reason", ""), total, userdata);
        dispatch_delivered++;
}

static void handle_certificate_request_ended(TlsidClient *c, DBusMessage *msg) {
        const char *id, *outcome;
        TlsidCertificateRequestEndedFn fn;
        void *userdata;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &id, DBUS_TYPE_STRING, &outcome,
                                   DBUS_TYPE_INVALID))
                return;
        pthread_mutex_lock(&c->lock);
        fn = c->certificate_request_ended;
        userdata = c->certificate_request_ended_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(id, outcome, userdata);
        dispatch_delivered++;
}

static void (*const signal_handlers[_SIGNAL_MAX])(TlsidClient *c, DBusMessage *msg) = {
        [SIGNAL_IDENTITY_CHANGED] = handle_identity_changed,
        [SIGNAL_SESSIONS_FLUSHED] = handle_sessions_flushed,
        [SIGNAL_CERTIFICATE_REQUESTED] = handle_certificate_requested,
        [SIGNAL_CERTIFICATE_REQUEST_ENDED] = handle_certificate_request_ended,
};

bool from_daemon(TlsidClient *c, DBusMessage *msg) {
        bool ok;

        pthread_mutex_lock(&c->lock);
        ok = streq_ptr(dbus_message_get_sender(msg), c->daemon_owner);
        pthread_mutex_unlock(&c->lock);
        return ok;
}

DBusHandlerResult on_message(DBusConnection *conn, DBusMessage *msg, void *userdata) {
        TlsidClient *c = userdata;

        if (dbus_message_get_type(msg) == DBUS_MESSAGE_TYPE_METHOD_CALL)
                return agent_handle_call(c, conn, msg);
        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_SIGNAL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
            streq_ptr(dbus_message_get_sender(msg), DBUS_SERVICE_DBUS)) {
                client_handle_name_owner_changed(c, msg);
                /* Others on this connection may want it too. */
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        }
        if (!dbus_message_has_path(msg, TLSID_OBJECT_PATH) ||
            !dbus_message_has_interface(msg, TLSID_INTERFACE) || !from_daemon(c, msg))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        for (SignalId id = 0; id < _SIGNAL_MAX; id++) {
                if (!signal_handlers[id] ||
                    !dbus_message_is_signal(msg, interface_signals[id].interface,
                                            interface_signals[id].name))
                        continue;
                signal_handlers[id](c, msg);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

_public_ int tlsid_client_on_identity_changed(TlsidClient *client, TlsidIdentityChangedFn fn,
                                              void *userdata) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        client->identity_changed = fn;
        client->identity_changed_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&client->lock);
        return 0;
}

_public_ int tlsid_client_on_sessions_flushed(TlsidClient *client, TlsidSessionsFlushedFn fn,
                                              void *userdata) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        client->sessions_flushed = fn;
        client->sessions_flushed_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&client->lock);
        return 0;
}

_public_ int tlsid_client_on_certificate_requested(TlsidClient *client,
                                                   TlsidCertificateRequestedFn fn,
                                                   void *userdata) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        client->certificate_requested = fn;
        client->certificate_requested_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&client->lock);
        return 0;
}

_public_ int tlsid_client_on_certificate_request_ended(TlsidClient *client,
                                                       TlsidCertificateRequestEndedFn fn,
                                                       void *userdata) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        client->certificate_request_ended = fn;
        client->certificate_request_ended_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&client->lock);
        return 0;
}
