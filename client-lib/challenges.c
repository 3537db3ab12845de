/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's transport challenges (docs/transport-challenge.md): AnswerChallenge on a
 * 401/407 response's field values, and the answer. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "libtlsid-private.h"

static const char *const answer_actions[] = {
        [TLSID_ANSWER_NOT_TRANSPORT] = "not-transport",
        [TLSID_ANSWER_RETRY] = "retry",
        [TLSID_ANSWER_ASK] = "ask",
        [TLSID_ANSWER_DECLINED] = "declined",
        [TLSID_ANSWER_REJECTED] = "rejected",
};

_public_ const char *tlsid_answer_action_to_string(TlsidAnswerAction action) {
        if ((size_t) action >= sizeof answer_actions / sizeof answer_actions[0])
                return "unknown";
        return answer_actions[action];
}

_public_ void tlsid_challenge_answer_free(TlsidChallengeAnswer *a) {
        if (!a)
                return;
        free(a->identity);
        for (size_t i = 0; a->schemes && i < a->n_schemes; i++)
                free(a->schemes[i]);
        free(a->schemes);
        free(a->error);
        free(a->realm);
        free(a->url);
        free(a->header);
        free(a->authorization);
        free(a->status);
        free(a->origin);
        free(a->subject);
        free(a->recover);
        tlsid_certificate_infos_free(a->eligible, a->n_eligible);
        free(a);
}

static void challenge_answer_freep(TlsidChallengeAnswer **a) {
        tlsid_challenge_answer_free(*a);
}

/* @s as UTF-8: a copy when it is valid, else its bytes read as ISO-8859-1, the historic
 * charset of HTTP field values (RFC 9110 5.5: obs-text). Transfer full. */
static char *field_value_utf8(const char *s) {
        size_t len = strlen(s), j = 0;
        char *out;

        if (dbus_validate_utf8(s, NULL))
                return strdup(s);
        out = malloc(2 * len + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c < 0x80) {
                        out[j++] = (char) c;
                } else {
                        out[j++] = (char) (0xc0 | (c >> 6));
                        out[j++] = (char) (0x80 | (c & 0x3f));
                }
        }
        out[j] = '\0';
        return out;
}

static bool append_field_values(DBusMessageIter *iter, const char *const *values, size_t n) {
        DBusMessageIter array;
        bool ok = true;

        if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "s", &array))
                return false;
        for (size_t i = 0; ok && i < n; i++) {
                char *v = field_value_utf8(values[i]);

                ok = v && dbus_message_iter_append_basic(&array, DBUS_TYPE_STRING, &v);
                free(v);
        }
        if (!ok) {
                dbus_message_iter_abandon_container(iter, &array);
                return false;
        }
        return dbus_message_iter_close_container(iter, &array);
}

static int dup_into(char **field, const char *value) {
        free(*field);
        *field = strdup(value);
        return *field ? 0 : set_oom();
}

static const struct {
        const char *key;
        size_t offset;
} answer_strings[] = {
        { "error", offsetof(TlsidChallengeAnswer, error) },
        { "realm", offsetof(TlsidChallengeAnswer, realm) },
        { "url", offsetof(TlsidChallengeAnswer, url) },
        { "header", offsetof(TlsidChallengeAnswer, header) },
        { "authorization", offsetof(TlsidChallengeAnswer, authorization) },
        { "status", offsetof(TlsidChallengeAnswer, status) },
        { "origin", offsetof(TlsidChallengeAnswer, origin) },
        { "subject", offsetof(TlsidChallengeAnswer, subject) },
        { "recover", offsetof(TlsidChallengeAnswer, recover) },
};

static char **answer_string(TlsidChallengeAnswer *a, size_t k) {
        return (char **) ((char *) a + answer_strings[k].offset);
}

/* The number of elements of the array in @variant, and @ret_array at the first. */
static size_t variant_open_array(DBusMessageIter *variant, DBusMessageIter *ret_array) {
        size_t n = 0;

        dbus_message_iter_recurse(variant, ret_array);
        for (DBusMessageIter it = *ret_array;
             dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&it))
                n++;
        return n;
}

/* Reads the "schemes" as into @a. */
static int read_answer_schemes(DBusMessageIter *variant, TlsidChallengeAnswer *a) {
        DBusMessageIter array;
        size_t n = variant_open_array(variant, &array);

        a->schemes = calloc(n + 1, sizeof *a->schemes);
        if (!a->schemes)
                return set_oom();
        for (; a->n_schemes < n; a->n_schemes++, dbus_message_iter_next(&array)) {
                const char *value;

                dbus_message_iter_get_basic(&array, &value);
                if (!(a->schemes[a->n_schemes] = strdup(value)))
                        return set_oom();
        }
        return 0;
}

/* Reads one entry @key of AnswerChallenge's details, a variant of signature @sig. */
static int read_answer_detail(const char *key, const char *sig, DBusMessageIter *variant,
                              TlsidChallengeAnswer *a) {
        DBusMessageIter array;
        size_t n;
        int r;

        if (strcmp(sig, "s") == 0) {
                const char *value;

                dbus_message_iter_get_basic(variant, &value);
                for (size_t k = 0; k < sizeof answer_strings / sizeof answer_strings[0]; k++)
                        if (strcmp(answer_strings[k].key, key) == 0 &&
                            (r = dup_into(answer_string(a, k), value)) < 0)
                                return r;
        } else if (strcmp(sig, "as") == 0 && strcmp(key, "schemes") == 0 && !a->schemes)
                return read_answer_schemes(variant, a);
        else if (strcmp(sig, "aa{sv}") == 0 && strcmp(key, "eligible") == 0 && !a->eligible) {
                n = variant_open_array(variant, &array);
                r = read_certificate_infos(&array, n, &a->eligible);
                if (r < 0)
                        return r;
                a->n_eligible = n;
        } else if (strcmp(sig, "u") == 0 && strcmp(key, "eligible_total") == 0) {
                dbus_uint32_t total;

                dbus_message_iter_get_basic(variant, &total);
                a->eligible_total = total;
        }
        return 0;
}

/* Reads AnswerChallenge's details a{sv} into @a; unknown keys and types are skipped. */
static int read_answer_details(DBusMessageIter *dict, TlsidChallengeAnswer *a) {
        DBusMessageIter entry, variant;
        int r;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                _cleanup_(dbus_freep) char *sig = NULL;
                const char *key;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                sig = dbus_message_iter_get_signature(&variant);
                if (!sig)
                        return set_oom();
                r = read_answer_detail(key, sig, &variant, a);
                if (r < 0)
                        return r;
        }
        /* Every string is there, whatever an older daemon sends. */
        for (size_t k = 0; k < sizeof answer_strings / sizeof answer_strings[0]; k++) {
                char **field = answer_string(a, k);

                if (!*field && !(*field = strdup("")))
                        return set_oom();
        }
        if (!a->schemes && !(a->schemes = calloc(1, sizeof *a->schemes)))
                return set_oom();
        /* A daemon that does not say lists them all. */
        if (a->eligible_total < a->n_eligible)
                a->eligible_total = a->n_eligible;
        return 0;
}

/* @context's checked arguments as an AnswerChallenge call. (transfer full) */
static int build_answer_challenge(TlsidContext *context, const char *origin,
                                  const char *const *field_values, size_t n, unsigned flags,
                                  int64_t generation, const TlsidChallengeConnection *conn,
                                  dbus_uint32_t wait_ms, DBusMessage **ret_msg) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL;
        DBusMessageIter iter, options, entry, variant;
        dbus_uint32_t g = (dbus_uint32_t) generation;
        dbus_bool_t proxy = TRUE;
        bool ok;

        msg = new_call(METHOD_ANSWER_CHALLENGE);
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context->name) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) ||
            !append_field_values(&iter, field_values, n) || !open_dict(&iter, &options))
                return set_oom();
        ok = (generation < 0 || dict_append(&options, "generation", DBUS_TYPE_UINT32, &g)) &&
                (!(flags & TLSID_CHALLENGE_PROXY) ||
                 dict_append(&options, "proxy", DBUS_TYPE_BOOLEAN, &proxy)) &&
                (!wait_ms ||
                 dict_append(&options, "interactive_timeout_ms", DBUS_TYPE_UINT32, &wait_ms));
        if (ok && conn && conn->sent_identity)
                ok = dict_append(&options, "sent_identity", DBUS_TYPE_STRING,
                                 &conn->sent_identity);
        if (ok && conn && conn->request)
                ok = dict_open_entry(&options, "request", "a{sv}", &entry, &variant) &&
                        dict_close_entry(&options, &entry, &variant,
                                         append_request(&variant, conn->request, 0));
        if (ok && conn && conn->n_candidates > 0)
                ok = dict_open_entry(&options, "candidates", "a(ayaaya{sv})", &entry,
                                     &variant) &&
                        dict_close_entry(&options, &entry, &variant,
                                         append_candidates(&variant, conn->candidates,
                                                           conn->n_candidates));
        if (!ok) {
                dbus_message_iter_abandon_container(&iter, &options);
                return set_oom();
        }
        if (!dbus_message_iter_close_container(&iter, &options))
                return set_oom();
        *ret_msg = TAKE_PTR(msg);
        return 0;
}

/* Reads AnswerChallenge's reply (ssua{sv}) into a new answer. */
static int read_answer(DBusMessage *reply, TlsidChallengeAnswer **ret_answer) {
        _cleanup_(challenge_answer_freep) TlsidChallengeAnswer *a = NULL;
        DBusMessageIter iter, options;
        const char *action, *identity;
        int r;

        if (!reply_has_signature(reply, METHOD_ANSWER_CHALLENGE))
                return -EIO;
        if (!(a = calloc(1, sizeof *a)))
                return set_oom();
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_get_basic(&iter, &action);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &identity);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &a->generation);
        dbus_message_iter_next(&iter);

        r = -EIO;
        for (size_t k = 0; k < sizeof answer_actions / sizeof answer_actions[0]; k++) {
                if (strcmp(answer_actions[k], action) == 0) {
                        a->action = (TlsidAnswerAction) k;
                        r = 0;
                }
        }
        if (r < 0)
                return set_error(-EIO, "%s: unknown action '%s'",
                                 interface_methods[METHOD_ANSWER_CHALLENGE].name, action);
        if ((r = dup_into(&a->identity, identity)) < 0)
                return r;
        dbus_message_iter_recurse(&iter, &options);
        if ((r = read_answer_details(&options, a)) < 0)
                return r;
        *ret_answer = TAKE_PTR(a);
        return 0;
}

_public_ int tlsid_context_answer_challenge(TlsidContext *context, const char *origin,
                                            const char *const *field_values, size_t n,
                                            unsigned flags, int64_t generation,
                                            const TlsidChallengeConnection *connection,
                                            TlsidChallengeAnswer **ret_answer) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg = NULL;
        uint32_t wait_ms;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if (!ret_answer)
                return set_error(-EINVAL, "ret_answer must not be NULL");
        if (n > 0 && !field_values)
                return set_error(-EINVAL, "field_values is NULL");
        for (size_t i = 0; i < n; i++) {
                if (!field_values[i])
                        return set_error(-EINVAL, "field_values[%zu] is NULL", i);
        }
        if (flags & ~TLSID_CHALLENGE_PROXY)
                return set_error(-EINVAL, "flags: unknown bits 0x%x", flags);
        if (generation > UINT32_MAX)
                return set_error(-EINVAL, "generation: larger than 2^32-1");
        if ((r = check_origin(origin)) < 0)
                return r;
        if (connection) {
                if ((r = check_cert_request(connection->request)) < 0 ||
                    (r = check_candidates(connection->candidates, connection->n_candidates)) < 0)
                        return r;
                if (connection->sent_identity && (r = check_identity(connection->sent_identity)) < 0)
                        return r;
        }

        wait_ms = interactive_ms(context->client);
        r = build_answer_challenge(context, origin, field_values, n, flags, generation,
                                   connection, wait_ms, &msg);
        if (r < 0)
                return r;
        r = client_call_waiting(context->client, msg, context_retry_name(context), wait_ms,
                                &reply);
        if (r < 0)
                return r;
        return read_answer(reply, ret_answer);
}
