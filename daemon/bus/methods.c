/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The method table of org.tlsid.Manager1 and its handlers: each reads its arguments,
 * validates what the model does not, calls the model, emits and builds the reply. */
#include <string.h>
#include <sys/prctl.h>

#include "args.h"
#include "bus-glib.h"
#include "cert-args.h"
#include "error.h"
#include "manager-private.h"
#include "offered-certs.h"
#include "secret-mem.h"
#include "selection.h"

/* --- contexts, sessions and choices --- */

static gboolean method_open_context(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                    GError **error) {
        DBusMessageIter it;
        dbus_bool_t ephemeral = FALSE;
        const char *label = NULL;
        DictField options[] = {
                { "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral },
                { "label", DBUS_TYPE_STRING, &label },
        };

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), error))
                return FALSE;
        if (label && strlen(label) > TLSID_LABEL_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "options.label: must be at most %d bytes", TLSID_LABEL_MAX);
                return FALSE;
        }
        /* The caller's unique name keeps an ephemeral context alive until it vanishes. */
        const char *holder = ephemeral ? dbus_message_get_sender(message) : NULL;
        if (!store_open_context(m->store, context, ephemeral, label, holder, error))
                return FALSE;
        *ret_reply = new_reply(message);
        return TRUE;
}

static gboolean method_close_context(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        DBusMessageIter it;
        guint dropped = 0;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        if (!store_close_context(m->store, context, &dropped, error))
                return FALSE;
        *ret_reply = new_reply_uint32(message, dropped);
        return TRUE;
}

/* Appends (s state, s identity, u generation, s peer_id) of @partition. */
static void append_partition(Manager *m, DBusMessage *reply, const char *context,
                             const char *origin, const StorePartition *partition) {
        g_autofree char *peer_id = store_peer_id(m->store, context, origin, partition->identity,
                                                 partition->generation);
        const char *state = choice_state_to_string(partition->state);
        const char *peer = peer_id;
        dbus_uint32_t generation = partition->generation;

        if (!dbus_message_append_args(reply,
                                      DBUS_TYPE_STRING, &state,
                                      DBUS_TYPE_STRING, &partition->identity,
                                      DBUS_TYPE_UINT32, &generation,
                                      DBUS_TYPE_STRING, &peer,
                                      DBUS_TYPE_INVALID))
                oom();
}

/* Appends @token (nullable: none) as ay. */
static void append_token(DBusMessage *reply, GBytes *token) {
        DBusMessageIter it;
        gsize len = 0;
        const guint8 *data = token ? g_bytes_get_data(token, &len) : NULL;

        dbus_message_iter_init_append(reply, &it);
        append_bytes(&it, data, len);
}

static gboolean method_get_partition(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        const char *context, *origin;
        StorePartition partition;

        read_context_origin(message, &context, &origin);
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;
        DBusMessage *reply = new_reply(message);
        append_partition(m, reply, context, origin, &partition);
        *ret_reply = reply;
        return TRUE;
}

/* A stack's name as PutSession's meta and the ...For methods give it; @field names the
 * argument in the error. */
static gboolean parse_stack(const char *name, const char *field, StoreStack *ret,
                            GError **error) {
        if (strcmp(name, "nss") == 0)
                *ret = STORE_STACK_NSS;
        else if (strcmp(name, "openssl") == 0)
                *ret = STORE_STACK_OPENSSL;
        else {
                g_autofree char *quoted = error_quote(name);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: must be nss or openssl, not %s", field, quoted);
                return FALSE;
        }
        return TRUE;
}

/* BeginConnection (NSS's tokens, none for a partition with an identity) and
 * BeginConnectionFor (@stack's; OpenSSL's sessions with a certificate serialise whole, so a
 * partition with an identity hands them out too: the identity is in its key). */
static gboolean begin_connection(Manager *m, DBusMessage *message, StoreStack stack,
                                 DBusMessage **ret_reply, GError **error) {
        const char *context, *origin;
        StorePartition partition;
        /* Zeroed when unreffed, right after being copied into the reply. */
        g_autoptr(GBytes) token = NULL;

        read_context_origin(message, &context, &origin);
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;
        /* The identity and generation are copied: taking may change the store. */
        char identity[TLSID_IDENTITY_LEN + 1];
        g_strlcpy(identity, partition.identity, sizeof identity);
        partition.identity = identity;
        if (!*identity || stack == STORE_STACK_OPENSSL) {
                if (!store_take_session_of(m->store, stack, context, origin, identity,
                                           partition.generation,
                                           g_get_real_time() / G_USEC_PER_SEC, &token, error))
                        return FALSE;
                store_expiry_rearm(m->expiry);
        }
        DBusMessage *reply = new_reply(message);
        append_partition(m, reply, context, origin, &partition);
        append_token(reply, token);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_begin_connection(Manager *m, DBusMessage *message,
                                        DBusMessage **ret_reply, GError **error) {
        return begin_connection(m, message, STORE_STACK_NSS, ret_reply, error);
}

static gboolean method_begin_connection_for(Manager *m, DBusMessage *message,
                                            DBusMessage **ret_reply, GError **error) {
        DBusMessageIter it;
        StoreStack stack;

        dbus_message_iter_init(message, &it);
        dbus_message_iter_next(&it);
        dbus_message_iter_next(&it);
        if (!parse_stack(iter_string(&it), "stack", &stack, error))
                return FALSE;
        return begin_connection(m, message, stack, ret_reply, error);
}

static gboolean method_put_session(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                   GError **error) {
        DBusMessageIter it, array;
        dbus_uint16_t tls_version = 0;
        const char *alpn = NULL, *stack_name = "nss";
        DictField meta[] = {
                { "tls_version", DBUS_TYPE_UINT16, &tls_version },
                { "alpn", DBUS_TYPE_STRING, &alpn },
                { "stack", DBUS_TYPE_STRING, &stack_name },
        };
        StoreStack stack;
        const guint8 *token = NULL;
        int len = 0;
        StorePutResult result;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        const char *identity = iter_string(&it);
        guint32 generation = iter_uint32(&it);
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_get_fixed_array(&array, &token, &len);
        dbus_message_iter_next(&it);
        gint64 expires = iter_int64(&it);
        if (!parse_dict(&it, "meta", meta, G_N_ELEMENTS(meta), error))
                return FALSE;
        /* ALPN is accepted for later use and checked now, so clients cannot come to
         * depend on sending garbage. */
        if (alpn && strlen(alpn) > TLSID_ALPN_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "meta.alpn: must be at most %d bytes", TLSID_ALPN_MAX);
                return FALSE;
        }
        if (!parse_stack(stack_name, "meta.stack", &stack, error))
                return FALSE;
        gboolean ok = store_put_session_of(m->store, stack, context, origin, identity,
                                           generation, token, (gsize) len, expires,
                                           tls_version, g_get_real_time() / G_USEC_PER_SEC,
                                           &result, error);
        /* The store holds its own copy now. The call's body is libdbus's copy, and nothing
         * reads it after this handler: zero the token there too, so the body (freed, or
         * kept in libdbus's message cache) does not keep it. libdbus's socket read buffer
         * still held these bytes and cannot be reached. */
        if (len > 0)
                explicit_bzero((guint8 *) token, (gsize) len);
        if (!ok)
                return FALSE;
        store_expiry_rearm(m->expiry);
        *ret_reply = new_reply(message);
        return TRUE;
}

/* TakeSession (NSS's tokens) and TakeSessionFor (its fifth argument's stack's). */
static gboolean method_take_session(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                    GError **error) {
        DBusMessageIter it;
        StoreStack stack = STORE_STACK_NSS;
        /* Zeroed when unreffed, right after being copied into the reply. */
        g_autoptr(GBytes) token = NULL;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        const char *identity = iter_string(&it);
        guint32 generation = iter_uint32(&it);
        if (dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_STRING &&
            !parse_stack(iter_string(&it), "stack", &stack, error))
                return FALSE;
        if (!store_take_session_of(m->store, stack, context, origin, identity, generation,
                                   g_get_real_time() / G_USEC_PER_SEC, &token, error))
                return FALSE;
        store_expiry_rearm(m->expiry);

        DBusMessage *reply = new_reply(message);
        append_token(reply, token);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_flush_sessions(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                      GError **error) {
        const char *context, *origin;
        guint dropped = 0;

        read_context_origin(message, &context, &origin);
        if (!store_flush(m->store, context, origin, &dropped, error))
                return FALSE;
        manager_emit_sessions_flushed(m, context, origin, dropped);
        *ret_reply = new_reply_uint32(message, dropped);
        return TRUE;
}

static gboolean method_set_choice(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        DBusMessageIter it;
        dbus_bool_t remember = FALSE;
        DictField options[] = {
                { "remember", DBUS_TYPE_BOOLEAN, &remember },
        };

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        const char *state_name = iter_string(&it);
        const char *identity = iter_string(&it);
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), error))
                return FALSE;
        int state = choice_state_from_string(state_name);
        if (state < 0) {
                g_autofree char *quoted = error_quote(state_name);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "state: must be undecided, none or certificate, not %s", quoted);
                return FALSE;
        }
        /* A certificate of the daemon's database: its tokens expire with it. */
        gint64 not_after = 0;
        if (state == TLSID_STATE_CERTIFICATE && m->certs) {
                g_autoptr(Candidate) known = cert_db_find(m->certs, identity);
                if (known)
                        not_after = known->leaf->not_after;
        }
        /* A remember that cannot be saved (the choices file cannot be read) still sets the
         * choice for this session, which the error then says. */
        g_autoptr(GError) not_saved = NULL;
        if (state == TLSID_STATE_UNDECIDED)
                remember = FALSE;
        /* (An ephemeral context's remember is the store's InvalidArgument.) */
        if (remember && !store_context_is_ephemeral(m->store, context) &&
            !state_saver_check_remember(m->saver, &not_saved)) {
                if (!g_error_matches(not_saved, TLSID_ERROR, TLSID_ERROR_NOT_SAVED)) {
                        g_propagate_error(error, g_steal_pointer(&not_saved));
                        return FALSE;
                }
                remember = FALSE;
        }
        /* IdentityChanged is emitted by the store's choice-changed callback. */
        if (!store_set_choice(m->store, context, origin, state, identity, not_after, remember,
                              NULL, error))
                return FALSE;
        if (not_saved) {
                g_propagate_error(error, g_steal_pointer(&not_saved));
                return FALSE;
        }
        /* The reply says the choice is on disk. */
        if (remember) {
                manager_reply_when_saved(m, message, ret_reply);
                return TRUE;
        }
        *ret_reply = new_reply(message);
        return TRUE;
}

static gboolean method_forget_choices(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                      GError **error) {
        const char *context, *origin;
        guint forgotten = 0;

        read_context_origin(message, &context, &origin);
        if (!store_forget_choices(m->store, context, origin, &forgotten, error))
                return FALSE;
        *ret_reply = new_reply_uint32(message, forgotten);
        return TRUE;
}

static gboolean method_get_statistics(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                      GError **error) {
        StoreStatistics stats;
        DBusMessageIter it, dict;

        store_get_statistics(m->store, &stats);
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &it);
        open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append_uint32(&dict, "contexts", stats.contexts);
        dict_append_uint32(&dict, "partitions", stats.partitions);
        dict_append_uint32(&dict, "tokens", stats.tokens);
        dict_append_uint64(&dict, "bytes", stats.bytes);
        dict_append_uint64(&dict, "takes", stats.counters.takes);
        dict_append_uint64(&dict, "hits", stats.counters.hits);
        dict_append_uint64(&dict, "misses", stats.counters.misses);
        dict_append_uint64(&dict, "puts", stats.counters.puts);
        dict_append_uint64(&dict, "stale_puts", stats.counters.stale_puts);
        dict_append_uint64(&dict, "evictions", stats.counters.evictions);
        dict_append_uint64(&dict, "expirations", stats.counters.expirations);
        dict_append_uint64(&dict, "flushes", stats.counters.flushes);
        dict_append_uint64(&dict, "direct_calls", m->direct_calls);
        dict_append_uint32(&dict, "direct_connections", direct_server_count(m->direct));
        dict_append_uint64(&dict, "uptime",
                           (guint64) ((g_get_monotonic_time() - m->started) / G_USEC_PER_SEC));
        dict_append_uint32(&dict, "reclaim_pending", stats.reclaim_pending);
        dict_append_uint64(&dict, "memory_used", stats.memory_used);
        dict_append_uint64(&dict, "memory_cap", stats.memory_cap);
        SecretMemStatistics secret;
        secret_mem_get_statistics(&secret);
        dict_append_uint64(&dict, "secret_locked", secret.locked);
        dict_append_uint64(&dict, "secret_unlocked", secret.unlocked);
        StateSaverStatistics saves;
        state_saver_get_statistics(m->saver, &saves);
        dict_append_uint64(&dict, "saves", saves.saves);
        dict_append_uint64(&dict, "save_failures", saves.save_failures);
        dict_append_text(&dict, "last_save_error", saves.last_error);
        AgentStatistics agents;
        manager_agents_get_statistics(m, &agents);
        dict_append_uint32(&dict, "agents", agents.agents);
        dict_append_uint32(&dict, "agent_waiting", agents.waiting);
        dict_append_uint64(&dict, "agent_requests", agents.requests);
        dict_append_uint64(&dict, "agent_answers", agents.answers);
        dict_append_uint64(&dict, "agent_cancels", agents.cancels);
        /* Read from the kernel: 0 unless something made the daemon dumpable again. */
        dict_append_uint32(&dict, "dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) > 0);
        close_container(&it, &dict);
        *ret_reply = reply;
        return TRUE;
}

/* --- certificates --- */

/* The certificates to choose from: the caller's, or when it passed none the user's
 * certificates in the daemon's database (transfer full; NULL exactly on error). */
static GPtrArray *user_candidates(Manager *m, GPtrArray *given, GError **error) {
        if (given && given->len > 0)
                return g_ptr_array_ref(given);
        if (m->certs)
                return cert_db_list_user(m->certs, error);
        return g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
}

/* SelectCertificate, or with @resumed its second run for a call that waited for an agent
 * since @resumed (never waiting again). */
static gboolean select_certificate(Manager *m, DBusMessage *message, const WaitStart *resumed,
                                   DBusMessage **ret_reply, GError **error) {
        DBusMessageIter it, out;
        StorePartition partition;
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) candidates = NULL;
        g_auto(SelectionAnswer) answer = { 0 };
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        /* Also checks the ids, and that the context is open, before any parsing. */
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;
        if (!read_cert_request(m->certs, &it, request, error))
                return FALSE;
        g_autoptr(GPtrArray) given = read_candidates(m->certs, &it, error);
        if (!given)
                return FALSE;
        offered_certs_note(m->offered, given, context, now);
        candidates = user_candidates(m, given, error);
        if (!candidates)
                return FALSE;
        if (resumed ? !selection_select_resumed(m->store, manager_policy(m), context, origin,
                                                request, candidates, now, resumed->generation,
                                                resumed->identity, &answer, error)
                    : !selection_select(m->store, manager_policy(m), context, origin, request,
                                        candidates, now, &answer, error))
                return FALSE;
        manager_log(m, G_LOG_LEVEL_DEBUG, context, origin,
                    "SelectCertificate: %s%s%s (%s), generation %u, %u eligible of %u",
                    selection_decision_to_string(answer.decision), *answer.identity ? " " : "",
                    answer.identity, selection_reason_to_string(answer.reason),
                    answer.generation, answer.eligible ? answer.eligible->len : 0,
                    candidates->len);
        if (!resumed && answer.decision == SELECTION_ASK && request->interactive_timeout_ms) {
                AgentQuestion q = {
                        .context = context,
                        .origin = origin,
                        .reason = PROMPT_HANDSHAKE,
                        .timeout_ms = request->interactive_timeout_ms,
                        .ca_names = request->ca_names,
                        .eligible = answer.eligible,
                        .from_database = !given || given->len == 0,
                };
                gboolean held = FALSE;

                /* An ask changed nothing: the partition is the one the call saw. */
                q.start.generation = partition.generation;
                g_strlcpy(q.start.identity, partition.identity, sizeof q.start.identity);
                if (!manager_wait_for_agent(m, message, &q, &held, error))
                        return FALSE;
                if (held)
                        return TRUE;
        }

        const char *decision = selection_decision_to_string(answer.decision);
        const char *identity = answer.identity;
        dbus_uint32_t generation = answer.generation;
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        append_basic(&out, DBUS_TYPE_STRING, &decision);
        append_basic(&out, DBUS_TYPE_STRING, &identity);
        append_basic(&out, DBUS_TYPE_UINT32, &generation);
        dbus_uint32_t eligible_total = append_eligible(&out, answer.eligible);
        append_basic(&out, DBUS_TYPE_UINT32, &eligible_total);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_select_certificate(Manager *m, DBusMessage *message,
                                          DBusMessage **ret_reply, GError **error) {
        return select_certificate(m, message, NULL, ret_reply, error);
}

static gboolean method_get_policy(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        g_autofree char *json = policy_to_json(manager_policy(m));
        const char *problem = m->policy ? policy_watch_get_error(m->policy) : NULL;
        /* The error may quote the file, which may hold anything. */
        g_autofree char *valid_json = g_utf8_make_valid(json, -1);
        g_autofree char *valid_problem = g_utf8_make_valid(problem ? problem : "", -1);
        const char *a = valid_json, *b = valid_problem;
        DBusMessage *reply = new_reply(message);

        if (!dbus_message_append_args(reply, DBUS_TYPE_STRING, &a, DBUS_TYPE_STRING, &b,
                                      DBUS_TYPE_INVALID))
                oom();
        *ret_reply = reply;
        return TRUE;
}

/* --- transport challenges --- */

static DBusMessage *answer_reply(DBusMessage *message, const char *context,
                                 const char *origin, const ChallengeAnswer *a, gboolean proxy) {
        const TransportChallenge *tc = a->challenge;
        const char *action = challenge_action_to_string(a->action);
        const char *identity = a->identity;
        DBusMessage *reply = new_reply(message);
        DBusMessageIter out, dict, entry, variant, array;
        dbus_uint32_t generation = a->generation;

        dbus_message_iter_init_append(reply, &out);
        append_basic(&out, DBUS_TYPE_STRING, &action);
        append_basic(&out, DBUS_TYPE_STRING, &identity);
        append_basic(&out, DBUS_TYPE_UINT32, &generation);
        open_container(&out, DBUS_TYPE_ARRAY, "{sv}", &dict);

        open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        const char *key = "schemes";
        append_basic(&entry, DBUS_TYPE_STRING, &key);
        open_container(&entry, DBUS_TYPE_VARIANT, "as", &variant);
        open_container(&variant, DBUS_TYPE_ARRAY, "s", &array);
        for (guint i = 0; i < tc->schemes->len; i++) {
                g_autofree char *scheme = g_utf8_make_valid(tc->schemes->pdata[i], -1);
                const char *v = scheme;
                append_basic(&array, DBUS_TYPE_STRING, &v);
        }
        close_container(&variant, &array);
        close_container(&entry, &variant);
        close_container(&dict, &entry);

        /* Hints come from the server: they may hold anything. */
        if (tc->error)
                dict_append_text(&dict, "error", tc->error);
        if (tc->realm)
                dict_append_text(&dict, "realm", tc->realm);
        if (tc->url && a->action == CHALLENGE_RETRY)
                dict_append_text(&dict, "url", tc->url);
        if (*a->origin) {
                const char *v = a->origin;
                dict_append(&dict, "origin", DBUS_TYPE_STRING, &v);
        }
        if (a->action == CHALLENGE_REJECTED) {
                g_autofree char *recover = g_strdup_printf(
                        "choose another certificate (tlsidctl choose %s %s CERTIFICATE) or "
                        "none (tlsidctl choose %s %s none), or start over (tlsidctl forget "
                        "--context %s --origin %s)", context, origin, context, origin, context,
                        origin);
                if (a->subject)
                        dict_append_text(&dict, "subject", a->subject);
                dict_append_text(&dict, "recover", recover);
        }
        if (a->status) {
                g_autofree char *value = challenge_decline_value(a->status);
                const char *header = proxy ? "Proxy-Authorization" : "Authorization";
                const char *v = value;

                dict_append(&dict, "authorization", DBUS_TYPE_STRING, &v);
                dict_append(&dict, "header", DBUS_TYPE_STRING, &header);
                dict_append(&dict, "status", DBUS_TYPE_STRING, &a->status);
        }
        if (a->eligible) {
                open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
                key = "eligible";
                append_basic(&entry, DBUS_TYPE_STRING, &key);
                open_container(&entry, DBUS_TYPE_VARIANT, "aa{sv}", &variant);
                guint eligible_total = append_eligible(&variant, a->eligible);
                close_container(&entry, &variant);
                close_container(&dict, &entry);
                dict_append_uint32(&dict, "eligible_total", eligible_total);
        }
        close_container(&out, &dict);
        return reply;
}

static GPtrArray *challenge_candidates(gpointer user_data, GError **error) {
        Manager *m = user_data;

        return user_candidates(m, NULL, error);
}

/* AnswerChallenge, or with @resumed its second run for a call that waited for an agent
 * (never waiting again). */
static gboolean answer_challenge(Manager *m, DBusMessage *message, gboolean resumed,
                                 DBusMessage **ret_reply, GError **error) {
        DBusMessageIter it, array, request_iter, candidates_iter;
        dbus_uint32_t sent_generation = 0;
        dbus_bool_t proxy = FALSE;
        const char *sent_identity = NULL;
        dbus_uint32_t interactive_timeout_ms = 0;
        DictField options[] = {
                { "generation", DBUS_TYPE_UINT32, &sent_generation },
                { "proxy", DBUS_TYPE_BOOLEAN, &proxy },
                { "sent_identity", DBUS_TYPE_STRING, &sent_identity },
                { "request", DBUS_TYPE_ARRAY, &request_iter, .signature = "a{sv}" },
                { "candidates", DBUS_TYPE_ARRAY, &candidates_iter,
                  .signature = "a(ayaaya{sv})" },
                { "interactive_timeout_ms", DBUS_TYPE_UINT32, &interactive_timeout_ms },
        };
        g_autoptr(GPtrArray) values = g_ptr_array_new();
        g_autoptr(CertRequest) request = NULL;
        g_autoptr(GPtrArray) candidates = NULL;
        g_auto(ChallengeAnswer) answer = { 0 };
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_next(&it);
        /* One past the bound, so the challenge code can say values were ignored. */
        while (dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRING &&
               values->len <= CHALLENGE_VALUES_MAX)
                g_ptr_array_add(values, (gpointer) iter_string(&array));
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), error))
                return FALSE;
        if (!check_interactive_timeout("options.interactive_timeout_ms",
                                       interactive_timeout_ms, error))
                return FALSE;
        if (sent_identity && id_identity_check(sent_identity)) {
                g_autofree char *quoted = error_quote(sent_identity);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "options.sent_identity %s: %s", quoted,
                            id_identity_check(sent_identity));
                return FALSE;
        }
        if (options[3].seen) {
                request = cert_request_new();
                if (!read_cert_request(m->certs, &request_iter, request, error))
                        return FALSE;
                /* The connection's CertificateRequest: the caller's wait is no part of it. */
                if (request->interactive_timeout_ms) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "options.request.interactive_timeout_ms: give it as "
                                    "options.interactive_timeout_ms");
                        return FALSE;
                }
        }
        if (options[4].seen) {
                if (!(candidates = read_candidates(m->certs, &candidates_iter, error)))
                        return FALSE;
                offered_certs_note(m->offered, candidates, context, now);
        }
        ChallengeQuestion q = {
                .values = (const char *const *) values->pdata,
                .n_values = values->len,
                .have_generation = options[0].seen,
                .generation = sent_generation,
                .request = request,
                .candidates = candidates,
                .sent_identity = sent_identity,
        };
        if (!challenge_answer(m->store, m->retries, manager_policy(m), challenge_candidates, m,
                              context, origin, &q, now, &answer, error))
                return FALSE;
        if (answer.action == CHALLENGE_REJECTED)
                manager_log(m, G_LOG_LEVEL_MESSAGE, context, origin,
                            "the server refused %s; not retrying",
                            *answer.identity ? answer.identity : "the re-sent request");
        manager_log(m, G_LOG_LEVEL_DEBUG, context, origin,
                    "AnswerChallenge: %s%s%s, generation %u, for %s",
                    challenge_action_to_string(answer.action), *answer.identity ? " " : "",
                    answer.identity, answer.generation, *answer.origin ? answer.origin : origin);
        if (answer.flushed)
                manager_emit_sessions_flushed(m, context, answer.origin, answer.dropped);
        if (!resumed && answer.action == CHALLENGE_ASK && interactive_timeout_ms) {
                g_autoptr(GPtrArray) ca_names = g_ptr_array_new();
                AgentQuestion aq = {
                        .context = context,
                        .origin = *answer.origin ? answer.origin : origin,
                        .reason = PROMPT_CHALLENGE,
                        .timeout_ms = interactive_timeout_ms,
                        .realm = answer.challenge ? answer.challenge->realm : NULL,
                        .ca_names = ca_names,
                        .eligible = answer.eligible,
                        .from_database = !candidates || candidates->len == 0,
                };
                gboolean held = FALSE;

                /* The CAs the connection's request names, then those of the challenge. */
                for (guint i = 0; request && i < request->ca_names->len; i++)
                        g_ptr_array_add(ca_names, request->ca_names->pdata[i]);
                for (guint i = 0; answer.challenge && i < answer.challenge->ca_names->len; i++)
                        g_ptr_array_add(ca_names, answer.challenge->ca_names->pdata[i]);
                aq.start.generation = answer.generation;
                if (!manager_wait_for_agent(m, message, &aq, &held, error))
                        return FALSE;
                if (held)
                        return TRUE;
        }
        *ret_reply = answer_reply(message, context, origin, &answer, proxy);
        return TRUE;
}

static gboolean method_answer_challenge(Manager *m, DBusMessage *message,
                                        DBusMessage **ret_reply, GError **error) {
        return answer_challenge(m, message, FALSE, ret_reply, error);
}

void manager_answer_again(Manager *m, DBusMessage *message, const WaitStart *start) {
        g_autoptr(GError) error = NULL;
        g_autoptr(DBusMessage) reply = NULL;
        gboolean ok;

        if (dbus_message_has_member(message, interface_methods[METHOD_ANSWER_CHALLENGE].name))
                ok = answer_challenge(m, message, TRUE, &reply, &error);
        else
                ok = select_certificate(m, message, start, &reply, &error);
        if (!ok)
                manager_reply_error(m, message, error);
        else if (reply && !dbus_connection_send(m->connection, reply, NULL))
                oom();
}

/* --- the token key --- */

static gboolean method_get_token_key(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        DBusMessageIter out;

        if (!m->token_key) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "no token key");
                return FALSE;
        }
        /* libdbus copies the bytes into the reply's body; once written that buffer is freed
         * or kept in libdbus's message cache without being zeroed (as with TakeSession's
         * tokens). */
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        append_bytes(&out, m->token_key, TLSID_TOKEN_KEY_LEN);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_introspect(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        DBusMessage *reply = new_reply(message);
        const char *xml = interface_xml;

        if (!dbus_message_append_args(reply, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID))
                oom();
        *ret_reply = reply;
        return TRUE;
}

/* Indexed by MethodId: the names and signatures come from the XML. */
const ManagerMethod manager_methods[_METHOD_MAX] = {
#define M(id, fn) [METHOD_##id] = { &interface_methods[METHOD_##id], fn }
/* The handshake path, served on direct connections too (none of them needs the caller's
 * unique name: OpenContext's ephemeral holder does, and stays on the bus). */
#define D(id, fn) [METHOD_##id] = { &interface_methods[METHOD_##id], fn, TRUE }
        M(OPEN_CONTEXT, method_open_context),
        M(CLOSE_CONTEXT, method_close_context),
        M(LIST_CONTEXTS, method_list_contexts),
        D(GET_PARTITION, method_get_partition),
        D(PUT_SESSION, method_put_session),
        D(TAKE_SESSION, method_take_session),
        D(BEGIN_CONNECTION, method_begin_connection),
        D(TAKE_SESSION_FOR, method_take_session),
        D(BEGIN_CONNECTION_FOR, method_begin_connection_for),
        M(FLUSH_SESSIONS, method_flush_sessions),
        M(LIST_SESSIONS, method_list_sessions),
        M(SET_CHOICE, method_set_choice),
        M(FORGET_CHOICES, method_forget_choices),
        M(GET_STATISTICS, method_get_statistics),
        D(SELECT_CERTIFICATE, method_select_certificate),
        M(LIST_CERTIFICATES, method_list_certificates),
        M(GET_POLICY, method_get_policy),
        M(ANSWER_CHALLENGE, method_answer_challenge),
        M(GET_TOKEN_KEY, method_get_token_key),
        M(REGISTER_AGENT, method_register_agent),
        M(UNREGISTER_AGENT, method_unregister_agent),
        M(LIST_REQUESTS, method_list_requests),
        M(GET, method_properties_get),
        M(GET_ALL, method_properties_get_all),
        M(SET, method_properties_set),
        M(INTROSPECT, method_introspect),
#undef D
#undef M
};
