/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.tlsid.Manager1 object: registration on the connection, the dispatcher, the
 * signals, and following callers that leave the bus. */
#include "manager-private.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "args.h"
#include "bus-glib.h"
#include "direct.h"
#include "secret-mem.h"

/* --- signals --- */

static void emit_signal(Manager *m, DBusMessage *signal) {
        if (!dbus_connection_send(m->connection, signal, NULL))
                oom();
}

static DBusMessage *new_signal(SignalId id) {
        const SignalSpec *spec = &interface_signals[id];
        DBusMessage *signal = dbus_message_new_signal(TLSID_OBJECT_PATH, spec->interface,
                                                      spec->name);
        if (!signal)
                oom();
        return signal;
}

static void choice_changed_cb(const char *context, const char *origin, int state,
                              const char *identity, guint32 generation, gpointer user_data) {
        Manager *m = user_data;
        g_autoptr(DBusMessage) signal = new_signal(SIGNAL_IDENTITY_CHANGED);
        const char *state_name = choice_state_to_string(state);
        dbus_uint32_t gen = generation;

        if (!dbus_message_append_args(signal,
                                      DBUS_TYPE_STRING, &context,
                                      DBUS_TYPE_STRING, &origin,
                                      DBUS_TYPE_STRING, &state_name,
                                      DBUS_TYPE_STRING, &identity,
                                      DBUS_TYPE_UINT32, &gen,
                                      DBUS_TYPE_INVALID))
                oom();
        emit_signal(m, signal);
        manager_agents_choice_changed(m, context, origin);
}

void manager_emit_sessions_flushed(Manager *m, const char *context, const char *origin,
                                   guint dropped) {
        g_autoptr(DBusMessage) signal = new_signal(SIGNAL_SESSIONS_FLUSHED);
        dbus_uint32_t n = dropped;

        if (!dbus_message_append_args(signal,
                                      DBUS_TYPE_STRING, &context,
                                      DBUS_TYPE_STRING, &origin,
                                      DBUS_TYPE_UINT32, &n,
                                      DBUS_TYPE_INVALID))
                oom();
        emit_signal(m, signal);
}

const ManagerMethod *manager_get_methods(size_t *ret_n) {
        *ret_n = G_N_ELEMENTS(manager_methods);
        return manager_methods;
}

const SignalSpec *manager_get_signals(size_t *ret_n) {
        *ret_n = G_N_ELEMENTS(interface_signals);
        return interface_signals;
}

const Policy *manager_policy(Manager *m) {
        return m->policy ? policy_watch_get(m->policy) : m->default_policy;
}

/* --- the log --- */

void manager_log_at(Manager *m, GLogLevelFlags level, const char *file, const char *line,
                    const char *func, const char *context, const char *origin,
                    const char *format, ...) {
        g_autofree char *text = NULL, *message = NULL;
        gboolean private;
        va_list ap;

        /* The decisions' debug lines sit on the handshake path: nothing is formatted for a
         * line that would be dropped. */
        if (g_log_writer_default_would_drop(level, G_LOG_DOMAIN))
                return;
        private = store_context_is_ephemeral(m->store, context);
        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        message = private ? g_strconcat("a private context: ", text, NULL)
                          : g_strdup_printf("%s %s: %s", context, origin, text);
        const GLogField fields[] = {
                { "MESSAGE", message, -1 },
                { "CODE_FILE", file, -1 },
                { "CODE_LINE", line, -1 },
                { "CODE_FUNC", func, -1 },
                { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
                { "TLSID_CONTEXT", context, -1 },
                { "TLSID_ORIGIN", origin, -1 },
        };
        /* GLib adds PRIORITY from @level; a private context's fields are left out. */
        g_log_structured_array(level, fields, G_N_ELEMENTS(fields) - (private ? 2 : 0));
}

/* --- dispatching --- */

static const ManagerMethod *find_method(const char *interface, const char *member) {
        for (size_t i = 0; i < G_N_ELEMENTS(manager_methods); i++) {
                const MethodSpec *spec = manager_methods[i].spec;

                /* The interface is optional in a method call. */
                if (strcmp(spec->name, member) == 0 &&
                    (!interface || strcmp(spec->interface, interface) == 0))
                        return &manager_methods[i];
        }
        return NULL;
}

G_DEFINE_QUARK(tlsid-bus-standard-error, bus_standard_error)

static const char *const standard_error_names[_BUS_STANDARD_ERROR_MAX] = {
        [BUS_STANDARD_ERROR_UNKNOWN_INTERFACE] = DBUS_ERROR_UNKNOWN_INTERFACE,
        [BUS_STANDARD_ERROR_UNKNOWN_PROPERTY] = DBUS_ERROR_UNKNOWN_PROPERTY,
        [BUS_STANDARD_ERROR_PROPERTY_READ_ONLY] = DBUS_ERROR_PROPERTY_READ_ONLY,
};

/* The one place errors become error replies, sent on @connection (the call's). */
static void reply_error(DBusConnection *connection, DBusMessage *message, const char *name,
                        const char *text) {
        if (dbus_message_get_no_reply(message))
                return;
        /* Store messages may quote caller input: never send invalid UTF-8 back. */
        g_autofree char *valid = g_utf8_make_valid(text, -1);
        g_autoptr(DBusMessage) reply = dbus_message_new_error(message, name, valid);
        if (!reply || !dbus_connection_send(connection, reply, NULL))
                oom();
}

static void reply_gerror(DBusConnection *connection, DBusMessage *message,
                         const GError *error) {
        if (error->domain == BUS_STANDARD_ERROR && error->code >= 0 &&
            error->code < _BUS_STANDARD_ERROR_MAX) {
                reply_error(connection, message, standard_error_names[error->code],
                            error->message);
                return;
        }
        int code = error->domain == TLSID_ERROR ? error->code : TLSID_ERROR_FAILED;

        reply_error(connection, message, error_code_to_dbus_name(code), error->message);
}

void manager_reply_error(Manager *m, DBusMessage *message, const GError *error) {
        reply_gerror(m->connection, message, error);
}

static void refuse_call(DBusMessage *message, const GError *error, gpointer user_data) {
        Manager *m = user_data;

        reply_gerror(m->connection, message, error);
}

/* Runs a method call that came on @connection (the bus's, or a direct one when @direct)
 * from a caller whose uid is known, and replies there. */
static void run_call(Manager *m, DBusConnection *connection, DBusMessage *message, uid_t uid,
                     gboolean direct) {
        const char *interface = dbus_message_get_interface(message);
        const char *member = dbus_message_get_member(message);
        g_autoptr(GError) error = NULL;
        g_autoptr(DBusMessage) reply = NULL;

        if (uid != m->uid) {
                g_set_error(&error, TLSID_ERROR, TLSID_ERROR_ACCESS_DENIED,
                            "uid %lu may not use the tlsid daemon of uid %lu",
                            (unsigned long) uid, (unsigned long) m->uid);
                reply_gerror(connection, message, error);
                return;
        }

        const ManagerMethod *method = find_method(interface, member);
        if (!method || (direct && !method->direct)) {
                g_autofree char *text = g_strdup_printf(
                        "Unknown method %s on interface %s%s", member,
                        interface ? interface : "(none)",
                        method ? " on the direct socket (it is served on the bus)" : "");
                reply_error(connection, message, DBUS_ERROR_UNKNOWN_METHOD, text);
                return;
        }
        const MethodSpec *spec = method->spec;
        if (!dbus_message_has_signature(message, spec->in_signature)) {
                g_set_error(&error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: expected signature \"%s\", got \"%s\"", spec->name,
                            spec->in_signature, dbus_message_get_signature(message));
                reply_gerror(connection, message, error);
                return;
        }

        m->in_direct_call = direct;
        gboolean ok = method->handler(m, message, &reply, &error);
        m->in_direct_call = FALSE;
        /* A FALSE without an error is a bug somewhere below: answer rather than crash. */
        if (!ok && !error) {
                g_critical("%s failed without saying why", spec->name);
                error = g_error_new(TLSID_ERROR, TLSID_ERROR_FAILED, "%s failed", spec->name);
        }
        state_saver_changed(m->saver);
        store_reclaimer_kick(m->reclaimer);
        if (!ok)
                reply_gerror(connection, message, error);
        else if (reply && !dbus_message_get_no_reply(message) &&
                 !dbus_connection_send(connection, reply, NULL))
                oom();
}

/* Runs a call from the bus, whose caller's uid callers.c learnt. */
static void process_call(DBusMessage *message, uid_t uid, gpointer user_data) {
        Manager *m = user_data;

        run_call(m, m->connection, message, uid, FALSE);
}

void manager_run_direct_call(Manager *m, DBusConnection *connection, DBusMessage *message,
                             uid_t uid) {
        m->direct_calls++;
        run_call(m, connection, message, uid, TRUE);
}

static DBusHandlerResult object_message_cb(DBusConnection *connection, DBusMessage *message,
                                           void *user_data) {
        Manager *m = user_data;
        g_autoptr(GError) error = NULL;

        if (dbus_message_get_type(message) != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (!callers_submit(m->callers, message, &error))
                reply_gerror(connection, message, error);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static const DBusObjectPathVTable object_vtable = {
        .message_function = object_message_cb,
};

/* Follows callers going away: their uid cache entries and ephemeral contexts go too.
 * Only the bus driver says so, on a bus: on a peer-to-peer connection (a direct one, the
 * tests' and fuzzers') the peer writes the sender field itself, and a forged
 * "org.freedesktop.DBus" would drop other callers' ephemeral contexts. */
static DBusHandlerResult filter_cb(DBusConnection *connection, DBusMessage *message,
                                   void *user_data) {
        Manager *m = user_data;
        const char *name, *old_owner, *new_owner;

        if (connection != m->connection || !dbus_bus_get_unique_name(connection) ||
            !dbus_message_is_signal(message, DBUS_INTERFACE_DBUS, "NameOwnerChanged") ||
            g_strcmp0(dbus_message_get_sender(message), DBUS_SERVICE_DBUS) != 0 ||
            !dbus_message_get_args(message, NULL,
                                   DBUS_TYPE_STRING, &name,
                                   DBUS_TYPE_STRING, &old_owner,
                                   DBUS_TYPE_STRING, &new_owner,
                                   DBUS_TYPE_INVALID))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (name[0] == ':' && new_owner[0] == '\0') {
                callers_forget(m->callers, name);
                manager_agents_name_gone(m, name);
                store_drop_holder(m->store, name);
                state_saver_changed(m->saver);
                store_reclaimer_kick(m->reclaimer);
        }
        /* Other filters (the main program's) may want it too. */
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static void add_match_done(DBusPendingCall *pending, void *user_data) {
        g_autoptr(DBusMessage) reply = dbus_pending_call_steal_reply(pending);
        g_auto(DBusError) error = DBUS_ERROR_INIT;

        if (reply && dbus_set_error_from_message(&error, reply))
                g_warning("Cannot follow callers disconnecting (AddMatch failed): %s: %s",
                          error.name, error.message);
}

/* --- life cycle --- */

Manager *manager_new(DBusConnection *connection, Store *store, const TlsidConfig *config,
                     const char *state_path, CertDb *certs, PolicyWatch *policy) {
        Manager *m = g_new0(Manager, 1);

        m->connection = connection;
        m->store = store;
        m->config = *config;
        m->certs = certs;
        m->policy = policy;
        m->default_policy = policy_new_default();
        m->uid = getuid();
        m->started = g_get_monotonic_time();
        m->context = g_main_context_ref_thread_default();
        m->callers = callers_new(connection, m->uid, config->max_senders,
                                 config->max_pending_per_sender, process_call, refuse_call, m);
        m->retries = challenge_retries_new();
        challenge_retries_set_budget(m->retries, store_get_memory_budget(store));
        m->offered = offered_certs_new();
        m->expiry = store_expiry_new(store, m->context);
        m->reclaimer = store_reclaimer_new(store, m->context);
        m->saver = state_saver_new(store, state_path, m->context);
        m->agents = manager_agents_new(m);
        state_saver_load(m->saver);
        return m;
}

/* Sent without waiting: the bus handles it before any later request of ours, such as
 * the name request that lets callers find us. */
static gboolean subscribe_name_owner_changed(Manager *m, GError **error) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
                DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "AddMatch");
        const char *rule = "type='signal',sender='" DBUS_SERVICE_DBUS "',path='" DBUS_PATH_DBUS
                           "',interface='" DBUS_INTERFACE_DBUS "',member='NameOwnerChanged'";
        DBusPendingCall *pending = NULL;

        if (!call || !dbus_message_append_args(call, DBUS_TYPE_STRING, &rule, DBUS_TYPE_INVALID))
                oom();
        if (!dbus_connection_send_with_reply(m->connection, call, &pending,
                                             DBUS_TIMEOUT_USE_DEFAULT) || !pending) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot subscribe to NameOwnerChanged: not connected");
                return FALSE;
        }
        if (!dbus_pending_call_set_notify(pending, add_match_done, NULL, NULL))
                oom();
        /* libdbus keeps its own reference until the reply arrives. */
        dbus_pending_call_unref(pending);
        return TRUE;
}

gboolean manager_start(Manager *m, GError **error) {
        guint8 *key = secret_mem_alloc(TLSID_TOKEN_KEY_LEN);

        if (getrandom(key, TLSID_TOKEN_KEY_LEN, 0) != (ssize_t) TLSID_TOKEN_KEY_LEN) {
                secret_mem_free(key);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot draw the token key: %s", g_strerror(errno));
                return FALSE;
        }
        m->token_key = key;
        g_auto(DBusError) derror = DBUS_ERROR_INIT;

        if (!dbus_connection_add_filter(m->connection, filter_cb, m, NULL))
                oom();
        m->filter_added = TRUE;
        /* A peer-to-peer connection (as in the unit tests) has no bus driver to ask. */
        if (dbus_bus_get_unique_name(m->connection) && !subscribe_name_owner_changed(m, error))
                return FALSE;
        if (!dbus_connection_try_register_object_path(m->connection, TLSID_OBJECT_PATH,
                                                      &object_vtable, m, &derror)) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot register %s: %s", TLSID_OBJECT_PATH, derror.message);
                return FALSE;
        }
        m->registered = TRUE;
        store_set_choice_changed_fn(m->store, choice_changed_cb, m);
        return TRUE;
}

gboolean manager_listen_direct(Manager *m, GError **error) {
        if (m->config.max_direct_connections == 0)
                return TRUE;
        m->direct = direct_server_new(m, m->context, m->config.max_direct_connections, error);
        return m->direct != NULL;
}

gboolean manager_flush_save(Manager *m, GError **error) {
        return state_saver_flush(m->saver, error);
}

void manager_free(Manager *m) {
        if (!m)
                return;
        g_clear_pointer(&m->direct, direct_server_free);
        store_set_choice_changed_fn(m->store, NULL, NULL);
        if (m->registered)
                dbus_connection_unregister_object_path(m->connection, TLSID_OBJECT_PATH);
        if (m->filter_added)
                dbus_connection_remove_filter(m->connection, filter_cb, m);
        manager_agents_free(m->agents);
        callers_free(m->callers);
        challenge_retries_free(m->retries);
        offered_certs_free(m->offered);
        g_clear_pointer(&m->listed_database, g_ptr_array_unref);
        secret_mem_free(m->token_key); /* zeroes it */
        store_expiry_free(m->expiry);
        store_reclaimer_free(m->reclaimer);
        state_saver_free(m->saver);
        policy_free(m->default_policy);
        g_main_context_unref(m->context);
        g_free(m);
}
