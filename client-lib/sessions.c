/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's sessions: partitions, storing and taking resumption tokens, flushing and
 * listing them, and the key tokens are wrapped in. */
#include <errno.h>
#include <string.h>

#include "libtlsid-private.h"
#include "tlsid-ids.h"
#include "tlsid-limits.h"

void context_forget_calls(TlsidContext *context) {
        for (size_t i = 0; i < PARTITION_CALLS_KEPT; i++) {
                free(context->calls[i].origin);
                context->calls[i].origin = NULL;
                if (context->calls[i].msg)
                        dbus_message_unref(context->calls[i].msg);
                context->calls[i].msg = NULL;
        }
}

/* A copy of the call of method @id for @origin that @context keeps, or NULL. */
static DBusMessage *copy_kept_call(TlsidContext *context, MethodId id, const char *origin) {
        DBusMessage *msg = NULL;

        pthread_mutex_lock(&context->calls_lock);
        for (size_t i = 0; i < PARTITION_CALLS_KEPT && !msg; i++)
                if (context->calls[i].origin && context->calls[i].id == id &&
                    strcmp(context->calls[i].origin, origin) == 0)
                        msg = dbus_message_copy(context->calls[i].msg);
        pthread_mutex_unlock(&context->calls_lock);
        return msg;
}

/* Keeps a copy of @msg, the call of method @id for @origin, in place of the oldest kept. */
static void keep_call(TlsidContext *context, MethodId id, const char *origin,
                      DBusMessage *msg) {
        DBusMessage *copy = dbus_message_copy(msg), *old_msg;
        char *copy_origin = strdup(origin), *old_origin;
        unsigned slot;

        if (!copy || !copy_origin) {
                if (copy)
                        dbus_message_unref(copy);
                free(copy_origin);
                return;
        }
        pthread_mutex_lock(&context->calls_lock);
        slot = context->calls_next;
        context->calls_next = (slot + 1) % PARTITION_CALLS_KEPT;
        old_msg = context->calls[slot].msg;
        old_origin = context->calls[slot].origin;
        context->calls[slot].id = id;
        context->calls[slot].origin = copy_origin;
        context->calls[slot].msg = copy;
        pthread_mutex_unlock(&context->calls_lock);
        if (old_msg)
                dbus_message_unref(old_msg);
        free(old_origin);
}

int build_partition_call(TlsidContext *context, const char *origin, MethodId id,
                         const char *stack, DBusMessage **ret_msg) {
        DBusMessage *msg;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if ((r = check_origin(origin)) < 0)
                return r;
        /* Calls that name a stack are built each time: the kept ones are keyed by method
         * and origin only. */
        msg = stack ? NULL : copy_kept_call(context, id, origin);
        if (msg) {
                *ret_msg = msg;
                return 0;
        }
        msg = message_with_args(new_call(id), DBUS_TYPE_STRING, &context->name,
                                DBUS_TYPE_STRING, &origin, stack ? DBUS_TYPE_STRING
                                                                 : DBUS_TYPE_INVALID,
                                &stack, DBUS_TYPE_INVALID);
        if (!msg)
                return set_oom();
        if (!stack)
                keep_call(context, id, origin, msg);
        *ret_msg = msg;
        return 0;
}

int read_partition_reply(DBusMessage *reply, MethodId id, TlsidChoice *ret_state,
                         char **ret_identity, uint32_t *ret_generation, char **ret_peer_id,
                         void **ret_token, size_t *ret_len) {
        _cleanup_(freep) char *identity_copy = NULL, *peer_id_copy = NULL;
        _cleanup_(freep) void *token = NULL;
        const char *state_name, *identity, *peer_id;
        const unsigned char *bytes = NULL;
        dbus_uint32_t generation;
        bool with_token = id == METHOD_BEGIN_CONNECTION || id == METHOD_BEGIN_CONNECTION_FOR;
        int state, n = 0;

        if (!reply_has_signature(reply, id) ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state_name, DBUS_TYPE_STRING,
                                   &identity, DBUS_TYPE_UINT32, &generation, DBUS_TYPE_STRING,
                                   &peer_id, with_token ? DBUS_TYPE_ARRAY : DBUS_TYPE_INVALID,
                                   DBUS_TYPE_BYTE, &bytes, &n, DBUS_TYPE_INVALID))
                return -EIO;
        state = choice_state_from_string(state_name);
        if (state < 0)
                return set_error(-EIO, "%s: unknown state '%s'", interface_methods[id].name,
                                 state_name);
        /* The reply's own buffer holds the token too; libdbus offers no way to wipe it. */
        if ((ret_identity && !(identity_copy = strdup(identity))) ||
            (ret_peer_id && !(peer_id_copy = strdup(peer_id))) ||
            (ret_token && n > 0 && !(token = malloc((size_t) n))))
                return set_oom();
        if (ret_token && n > 0)
                memcpy(token, bytes, (size_t) n);
        if (ret_state)
                *ret_state = (TlsidChoice) state;
        if (ret_identity)
                *ret_identity = TAKE_PTR(identity_copy);
        if (ret_generation)
                *ret_generation = generation;
        if (ret_peer_id)
                *ret_peer_id = TAKE_PTR(peer_id_copy);
        if (ret_token) {
                *ret_len = token ? (size_t) n : 0;
                *ret_token = TAKE_PTR(token);
                return *ret_token ? 1 : 0;
        }
        return 0;
}

/* GetPartition, or with @ret_token BeginConnection (which also takes the partition's
 * newest token when it has no identity), or with @stack too BeginConnectionFor. */
static int partition_call(TlsidContext *context, const char *origin, const char *stack,
                          TlsidChoice *ret_state, char **ret_identity, uint32_t *ret_generation,
                          char **ret_peer_id, void **ret_token, size_t *ret_len) {
        MethodId id = !ret_token ? METHOD_GET_PARTITION
                      : stack    ? METHOD_BEGIN_CONNECTION_FOR
                                 : METHOD_BEGIN_CONNECTION;
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg = NULL;
        int r;

        r = build_partition_call(context, origin, id, stack, &msg);
        if (r < 0)
                return r;
        r = client_call(context->client, msg, context_retry_name(context), &reply);
        if (r < 0)
                return r;
        return read_partition_reply(reply, id, ret_state, ret_identity, ret_generation,
                                    ret_peer_id, ret_token, ret_len);
}

_public_ int tlsid_context_get_partition(TlsidContext *context, const char *origin,
                                         TlsidChoice *ret_state, char **ret_identity,
                                         uint32_t *ret_generation, char **ret_peer_id) {
        return partition_call(context, origin, NULL, ret_state, ret_identity, ret_generation,
                              ret_peer_id, NULL, NULL);
}

_public_ int tlsid_context_begin_connection(TlsidContext *context, const char *origin,
                                            TlsidChoice *ret_state, char **ret_identity,
                                            uint32_t *ret_generation, char **ret_peer_id,
                                            void **ret_token, size_t *ret_len) {
        if (!ret_token || !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len must not be NULL");
        return partition_call(context, origin, NULL, ret_state, ret_identity, ret_generation,
                              ret_peer_id, ret_token, ret_len);
}
/* The TLS stacks the daemon tells tokens apart by. */
static int check_stack(const char *stack) {
        if (!stack || (strcmp(stack, TLSID_STACK_NSS) != 0 &&
                       strcmp(stack, TLSID_STACK_OPENSSL) != 0))
                return set_error(-EINVAL, "stack must be \"nss\" or \"openssl\"");
        return 0;
}

_public_ int tlsid_context_begin_connection_for(TlsidContext *context, const char *origin,
                                                const char *stack, TlsidChoice *ret_state,
                                                char **ret_identity, uint32_t *ret_generation,
                                                char **ret_peer_id, void **ret_token,
                                                size_t *ret_len) {
        int r;

        if ((r = check_stack(stack)) < 0)
                return r;
        if (!ret_token || !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len must not be NULL");
        return partition_call(context, origin, stack, ret_state, ret_identity, ret_generation,
                              ret_peer_id, ret_token, ret_len);
}


/* PutSession's arguments after the context: origin, identity, generation, token, expiry
 * and the options. */
static bool append_put_session(DBusMessageIter *iter, const char *origin, const char *identity,
                               uint32_t generation, const void *token, size_t len,
                               int64_t expires, uint16_t tls_version, const char *alpn,
                               const char *stack) {
        DBusMessageIter array, dict;
        dbus_int64_t expires_v = expires;
        dbus_uint32_t generation_v = generation;
        dbus_uint16_t version_v = tls_version;
        const unsigned char *bytes = token;
        bool ok;

        ok = dbus_message_iter_append_basic(iter, DBUS_TYPE_STRING, &origin) &&
                dbus_message_iter_append_basic(iter, DBUS_TYPE_STRING, &identity) &&
                dbus_message_iter_append_basic(iter, DBUS_TYPE_UINT32, &generation_v);
        if (ok && dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "y", &array)) {
                ok = dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &bytes,
                                                          (int) len);
                ok = dbus_message_iter_close_container(iter, &array) && ok;
        } else
                ok = false;
        ok = ok && dbus_message_iter_append_basic(iter, DBUS_TYPE_INT64, &expires_v);
        if (!ok || !open_dict(iter, &dict))
                return false;
        ok = (!tls_version || dict_append(&dict, "tls_version", DBUS_TYPE_UINT16, &version_v)) &&
                (!alpn || dict_append(&dict, "alpn", DBUS_TYPE_STRING, &alpn)) &&
                (!stack || dict_append(&dict, "stack", DBUS_TYPE_STRING, &stack));
        if (!ok) {
                dbus_message_iter_abandon_container_if_open(iter, &dict);
                return false;
        }
        return dbus_message_iter_close_container(iter, &dict);
}

/* The token's bytes are copied into the message's buffer, which libdbus frees without
 * zeroing; no public libdbus call reaches that buffer, so the copy cannot be wiped. */
static int put_session(TlsidContext *context, const char *origin, const char *identity,
                       uint32_t generation, const char *stack, const void *token, size_t len,
                       int64_t expires, uint16_t tls_version, const char *alpn) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL;
        _cleanup_(dbus_connection_unrefp) DBusConnection *conn = NULL;
        DBusMessageIter iter;
        bool direct;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if ((r = check_origin(origin)) < 0 || (r = check_identity(identity)) < 0)
                return r;
        if (!token || len == 0 || len > TLSID_TOKEN_MAX)
                return set_error(-EINVAL, "token must be 1 to %d bytes", TLSID_TOKEN_MAX);
        if (alpn && (r = check_text("alpn", alpn, TLSID_ALPN_MAX)) < 0)
                return r;

        msg = new_call(METHOD_PUT_SESSION);
        if (!msg)
                return set_oom();
        dbus_message_set_no_reply(msg, TRUE);
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context->name) ||
            !append_put_session(&iter, origin, identity, generation, token, len, expires,
                                tls_version, alpn, stack))
                return set_oom();

        r = client_call_connection(context->client, msg, &conn, &direct);
        if (r < 0)
                return r;
        if (!dbus_connection_send(conn, msg, NULL))
                return set_oom();
        dbus_connection_flush(conn);
        if (!dbus_connection_get_is_connected(conn)) {
                /* Not sent again over the bus: it may have been read before the socket
                 * closed, and a token must never be stored twice. */
                if (direct)
                        direct_lost(context->client, conn);
                return set_error(-ECONNREFUSED, "%s: lost the %s connection",
                                 interface_methods[METHOD_PUT_SESSION].name,
                                 direct ? "direct" : "bus");
        }
        return 0;
}

_public_ int tlsid_context_put_session(TlsidContext *context, const char *origin,
                                       const char *identity, uint32_t generation,
                                       const void *token, size_t len, int64_t expires,
                                       uint16_t tls_version, const char *alpn) {
        return put_session(context, origin, identity, generation, NULL, token, len, expires,
                           tls_version, alpn);
}

_public_ int tlsid_context_put_session_for(TlsidContext *context, const char *origin,
                                           const char *identity, uint32_t generation,
                                           const char *stack, const void *token, size_t len,
                                           int64_t expires, uint16_t tls_version,
                                           const char *alpn) {
        int r;

        if ((r = check_stack(stack)) < 0)
                return r;
        return put_session(context, origin, identity, generation, stack, token, len, expires,
                           tls_version, alpn);
}

int build_take_session(TlsidContext *context, const char *origin, const char *identity,
                       uint32_t generation, const char *stack, DBusMessage **ret_msg) {
        dbus_uint32_t generation_v = generation;
        DBusMessage *msg;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if ((r = check_origin(origin)) < 0 || (r = check_identity(identity)) < 0)
                return r;
        msg = message_with_args(new_call(stack ? METHOD_TAKE_SESSION_FOR : METHOD_TAKE_SESSION),
                                DBUS_TYPE_STRING, &context->name, DBUS_TYPE_STRING, &origin,
                                DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32, &generation_v,
                                stack ? DBUS_TYPE_STRING : DBUS_TYPE_INVALID, &stack,
                                DBUS_TYPE_INVALID);
        if (!msg)
                return set_oom();
        *ret_msg = msg;
        return 0;
}

/* TakeSession, or with @stack TakeSessionFor. */
static int take_session(TlsidContext *context, const char *origin, const char *identity,
                        uint32_t generation, const char *stack, void **ret_token,
                        size_t *ret_len) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg = NULL;
        int r;

        if (!ret_token || !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len must not be NULL");
        r = build_take_session(context, origin, identity, generation, stack, &msg);
        if (r < 0)
                return r;
        r = client_call(context->client, msg, context_retry_name(context), &reply);
        if (r < 0)
                return r;
        return reply_read_bytes(reply, stack ? METHOD_TAKE_SESSION_FOR : METHOD_TAKE_SESSION,
                                ret_token, ret_len);
}

_public_ int tlsid_context_take_session(TlsidContext *context, const char *origin,
                                        const char *identity, uint32_t generation,
                                        void **ret_token, size_t *ret_len) {
        return take_session(context, origin, identity, generation, NULL, ret_token, ret_len);
}

_public_ int tlsid_context_take_session_for(TlsidContext *context, const char *origin,
                                            const char *identity, uint32_t generation,
                                            const char *stack, void **ret_token,
                                            size_t *ret_len) {
        int r;

        if ((r = check_stack(stack)) < 0)
                return r;
        return take_session(context, origin, identity, generation, stack, ret_token, ret_len);
}

_public_ void tlsid_secret_free(void *p, size_t len) {
        if (!p)
                return;
        explicit_bzero(p, len);
        free(p);
}

_public_ int tlsid_client_flush_sessions(TlsidClient *client, const char *context,
                                         const char *origin, uint32_t *ret_dropped) {
        return client_call_wildcard(client, METHOD_FLUSH_SESSIONS, context, origin,
                                    ret_dropped);
}

_public_ void tlsid_session_infos_free(TlsidSessionInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].context);
                free(infos[i].origin);
                free(infos[i].identity);
        }
        free(infos);
}

/* Reads one (sssuuxt) of ListSessions at @strct into @item, a TlsidSessionInfo. */
static int read_session_info(DBusMessageIter *strct, void *item) {
        TlsidSessionInfo *info = item;
        const char *ctx, *origin, *identity;
        dbus_uint32_t generation, tokens;
        dbus_int64_t expiry;
        dbus_uint64_t bytes;

        dbus_message_iter_get_basic(strct, &ctx);
        dbus_message_iter_next(strct);
        dbus_message_iter_get_basic(strct, &origin);
        dbus_message_iter_next(strct);
        dbus_message_iter_get_basic(strct, &identity);
        dbus_message_iter_next(strct);
        dbus_message_iter_get_basic(strct, &generation);
        dbus_message_iter_next(strct);
        dbus_message_iter_get_basic(strct, &tokens);
        dbus_message_iter_next(strct);
        dbus_message_iter_get_basic(strct, &expiry);
        dbus_message_iter_next(strct);
        dbus_message_iter_get_basic(strct, &bytes);

        info->context = strdup(ctx);
        info->origin = strdup(origin);
        info->identity = strdup(identity);
        if (!info->context || !info->origin || !info->identity)
                return set_oom();
        info->generation = generation;
        info->tokens = tokens;
        info->earliest_expiry = expiry;
        info->bytes = bytes;
        return 0;
}

static void free_session_infos(void *items, size_t n) {
        tlsid_session_infos_free(items, n);
}

_public_ int tlsid_client_list_sessions(TlsidClient *client, const char *context,
                                        TlsidSessionInfo **ret_infos, size_t *ret_n) {
        ListCall call = {
                .id = METHOD_LIST_SESSIONS,
                .context = context ? context : "",
                .item_size = sizeof(TlsidSessionInfo),
                .read_item = read_session_info,
                .free_items = free_session_infos,
        };
        void *infos = NULL;
        size_t n = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        if ((r = check_context_or_all(context)) < 0)
                return r;
        r = client_list_all(client, &call, &infos, &n);
        if (r < 0)
                return r;
        *ret_infos = infos;
        *ret_n = n;
        return 0;
}

_public_ int tlsid_client_get_token_key(TlsidClient *client, void **ret_key, size_t *ret_len) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        void *key = NULL;
        size_t len = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_key || !ret_len)
                return set_error(-EINVAL, "ret_key and ret_len must not be NULL");
        r = client_call(client, new_call(METHOD_GET_TOKEN_KEY), NULL, &reply);
        if (r < 0)
                return r;
        r = reply_read_bytes(reply, METHOD_GET_TOKEN_KEY, &key, &len);
        if (r < 0)
                return r;
        if (r == 0)
                return set_error(-EIO, "%s: empty key",
                                 interface_methods[METHOD_GET_TOKEN_KEY].name);
        *ret_key = key;
        *ret_len = len;
        return 0;
}
