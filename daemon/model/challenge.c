/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport auth-scheme: the challenge and its hints, the loop guard and the answer. */
#include "challenge.h"

#include <string.h>

#include "eligibility.h"
#include "http-auth.h"
#include "selection.h"
#include "tlsid-ids.h"

#define TRANSPORT_SCHEME "transport"
#define TRANSPORT_MODE "tls-client-certificate"

void transport_challenge_free(TransportChallenge *c) {
        if (!c)
                return;
        g_ptr_array_unref(c->schemes);
        g_ptr_array_unref(c->ca_names);
        g_free(c->error);
        g_free(c->realm);
        g_free(c->url);
        g_free(c);
}

/* Keeps the first reason only: it is the one a user can act on. */
static void note(TransportChallenge *c, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void note(TransportChallenge *c, const char *format, ...) {
        va_list ap;

        if (c->error)
                return;
        va_start(ap, format);
        c->error = g_strdup_vprintf(format, ap);
        va_end(ap);
}

/* One base64url entry (RFC 4648 5; padding tolerated) decoded, or NULL. */
static GBytes *decode_base64url(const char *s, gsize len) {
        g_autoptr(GString) std = g_string_sized_new(len + 3);
        gsize out_len = 0;
        guchar *der;

        for (gsize i = 0; i < len; i++) {
                char ch = s[i];

                if (ch == '=' ) {
                        /* Padding only at the end. */
                        for (gsize j = i; j < len; j++)
                                if (s[j] != '=')
                                        return NULL;
                        break;
                }
                if (ch == '-')
                        ch = '+';
                else if (ch == '_')
                        ch = '/';
                else if (!g_ascii_isalnum(ch))
                        return NULL;
                g_string_append_c(std, ch);
        }
        if (std->len % 4 == 1 || std->len == 0)
                return NULL;
        while (std->len % 4)
                g_string_append_c(std, '=');
        der = g_base64_decode(std->str, &out_len);
        /* A Name is a DER SEQUENCE. */
        if (out_len < 2 || der[0] != 0x30) {
                g_free(der);
                return NULL;
        }
        return g_bytes_new_take(der, out_len);
}

static void read_ca_names(TransportChallenge *c, const char *value) {
        g_auto(GStrv) items = g_strsplit_set(value, " \t", -1);
        guint index = 0;

        for (guint i = 0; items[i]; i++) {
                GBytes *der;

                if (!*items[i])
                        continue;
                if (c->ca_names->len >= TLSID_CA_NAMES_MAX) {
                        note(c, "ca-names: more than %u names; the rest were ignored",
                             TLSID_CA_NAMES_MAX);
                        break;
                }
                der = decode_base64url(items[i], strlen(items[i]));
                if (der)
                        g_ptr_array_add(c->ca_names, der);
                else
                        note(c, "ca-names[%u]: not a base64url DER name; ignored", index);
                index++;
        }
}

static void read_key_types(TransportChallenge *c, const char *value) {
        g_auto(GStrv) items = g_strsplit_set(value, " \t", -1);

        for (guint i = 0; items[i]; i++) {
                if (g_ascii_strcasecmp(items[i], "rsa") == 0)
                        c->key_types |= CHALLENGE_KEY_RSA;
                else if (g_ascii_strcasecmp(items[i], "ec") == 0)
                        c->key_types |= CHALLENGE_KEY_EC;
                else if (g_ascii_strcasecmp(items[i], "ed25519") == 0)
                        c->key_types |= CHALLENGE_KEY_ED25519;
                /* Unknown types are ignored: hints are advisory. */
        }
}

static void read_url(TransportChallenge *c, const char *value) {
        g_autoptr(GUri) uri = NULL;

        if (strlen(value) > CHALLENGE_URL_MAX) {
                note(c, "url: longer than %u bytes; ignored", CHALLENGE_URL_MAX);
                return;
        }
        uri = g_uri_parse(value, G_URI_FLAGS_ENCODED, NULL);
        if (!uri || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 || !g_uri_get_host(uri) ||
            !*g_uri_get_host(uri) || g_uri_get_userinfo(uri)) {
                note(c, "url: not an https URL; ignored");
                return;
        }
        c->url = g_strdup(value);
}

static void take(TransportChallenge *c, const HttpAuthChallenge *ch) {
        const char *v;

        c->found = TRUE;
        if ((v = http_auth_param(ch, "realm")))
                c->realm = g_strdup(v);
        if ((v = http_auth_param(ch, "ca-names")))
                read_ca_names(c, v);
        if ((v = http_auth_param(ch, "key-types")))
                read_key_types(c, v);
        if ((v = http_auth_param(ch, "url")))
                read_url(c, v);
}

TransportChallenge *transport_challenge_find(const char *const *values, guint n) {
        TransportChallenge *c = g_new0(TransportChallenge, 1);
        HttpAuthList list = { 0 };
        g_autofree size_t *lengths = NULL;

        c->schemes = g_ptr_array_new_with_free_func(g_free);
        c->ca_names = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        if (n > CHALLENGE_VALUES_MAX) {
                note(c, "field_values: more than %u values; the rest were ignored",
                     CHALLENGE_VALUES_MAX);
                n = CHALLENGE_VALUES_MAX;
        }
        lengths = g_new(size_t, n + 1);
        for (guint i = 0; i < n; i++)
                lengths[i] = strlen(values[i]);
        if (http_auth_parse(values, lengths, n, &list) < 0)
                g_error("out of memory");

        for (size_t i = 0; i < list.n_errors; i++)
                note(c, "field_values[%zu]: offset %zu: %s", list.errors[i].field_index,
                     list.errors[i].offset, list.errors[i].message);
        for (size_t i = 0; i < list.n_challenges; i++) {
                const HttpAuthChallenge *ch = &list.challenges[i];
                const char *mode;

                g_ptr_array_add(c->schemes, g_ascii_strdown(ch->scheme, -1));
                if (c->found || !http_auth_is_scheme(ch, TRANSPORT_SCHEME))
                        continue;
                if (!ch->valid) {
                        note(c, "field_values[%zu]: transport challenge repeats a parameter; "
                             "ignored", ch->field_index);
                        continue;
                }
                mode = http_auth_param(ch, "mode");
                if (!mode || g_ascii_strcasecmp(mode, TRANSPORT_MODE) != 0)
                        continue;
                take(c, ch);
        }
        http_auth_list_clear(&list);
        return c;
}

gboolean challenge_key_type_allowed(guint key_types, CertKeyType type) {
        switch (type) {
        case CERT_KEY_RSA:
        case CERT_KEY_RSA_PSS:
                return !key_types || (key_types & CHALLENGE_KEY_RSA);
        case CERT_KEY_EC:
                return !key_types || (key_types & CHALLENGE_KEY_EC);
        case CERT_KEY_ED25519:
                return !key_types || (key_types & CHALLENGE_KEY_ED25519);
        default:
                return !key_types;
        }
}

char *challenge_decline_value(const char *status) {
        return g_strdup_printf(TRANSPORT_SCHEME " mode=\"" TRANSPORT_MODE "\", status=\"%s\"",
                               status);
}

/* --- the loop guard --- */

/* Bytes of a refused certificate's subject kept for the answer. */
#define RETRY_SUBJECT_MAX 1024

typedef struct {
        guint32 generation;
        char identity[TLSID_IDENTITY_LEN + 1];
        char *subject; /* nullable */
        guint64 cost;  /* charged to the budget */
} RetryRecord;

struct ChallengeRetries {
        GHashTable *records; /* "context\norigin" -> RetryRecord */
        MemoryBudget *budget; /* nullable */
};

static void retry_record_free(RetryRecord *record) {
        g_free(record->subject);
        g_free(record);
}

void challenge_retries_set_budget(ChallengeRetries *r, MemoryBudget *budget) {
        r->budget = budget;
}

/* Empties @r, giving back what it charged. */
static void retries_clear(ChallengeRetries *r) {
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, r->records);
        while (r->budget && g_hash_table_iter_next(&iter, NULL, &value))
                memory_budget_release(r->budget, ((RetryRecord *) value)->cost);
        g_hash_table_remove_all(r->records);
}

ChallengeRetries *challenge_retries_new(void) {
        ChallengeRetries *r = g_new0(ChallengeRetries, 1);

        r->records = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) retry_record_free);
        return r;
}

void challenge_retries_free(ChallengeRetries *r) {
        if (!r)
                return;
        retries_clear(r);
        g_hash_table_destroy(r->records);
        g_free(r);
}

static char *retry_key(const char *context, const char *origin) {
        return g_strconcat(context, "\n", origin, NULL);
}

void challenge_retries_remember(ChallengeRetries *r, const char *context, const char *origin,
                                guint32 generation, const char *identity,
                                const char *subject) {
        char *key = retry_key(context, origin);
        RetryRecord *record = g_new0(RetryRecord, 1);
        RetryRecord *old;

        if (g_hash_table_size(r->records) >= CHALLENGE_RETRIES_MAX &&
            !g_hash_table_contains(r->records, key))
                retries_clear(r);
        record->generation = generation;
        g_strlcpy(record->identity, identity, sizeof record->identity);
        if (subject)
                record->subject = g_strndup(subject, RETRY_SUBJECT_MAX);
        /* The record, its key and subject, their allocations and a slot of the table. */
        record->cost = sizeof *record + strlen(key) + 1 +
                       (record->subject ? strlen(record->subject) + 1 : 0) + 3 * 16 + 48;
        if ((old = g_hash_table_lookup(r->records, key)) && r->budget)
                memory_budget_release(r->budget, old->cost);
        /* At max_memory the records go as past CHALLENGE_RETRIES_MAX; when even an empty
         * guard has no room, this one is not kept (a lost record costs one retry). */
        if (r->budget && !memory_budget_check(r->budget, record->cost, "a retry record", NULL)) {
                g_hash_table_remove(r->records, key);
                retries_clear(r);
                if (!memory_budget_check(r->budget, record->cost, "a retry record", NULL)) {
                        retry_record_free(record);
                        g_free(key);
                        return;
                }
        }
        if (r->budget)
                memory_budget_charge(r->budget, record->cost);
        g_hash_table_replace(r->records, key, record);
}

const char *challenge_retries_refused(ChallengeRetries *r, const char *context,
                                      const char *origin, guint32 generation,
                                      const char **ret_subject) {
        g_autofree char *key = retry_key(context, origin);
        const RetryRecord *record = g_hash_table_lookup(r->records, key);

        if (!record || record->generation != generation)
                return NULL;
        if (ret_subject)
                *ret_subject = record->subject;
        return record->identity;
}

guint challenge_retries_size(ChallengeRetries *r) {
        return g_hash_table_size(r->records);
}

/* --- the answer --- */

static const char *const action_names[] = {
        [CHALLENGE_NOT_TRANSPORT] = "not-transport",
        [CHALLENGE_RETRY] = "retry",
        [CHALLENGE_ASK] = "ask",
        [CHALLENGE_DECLINED] = "declined",
        [CHALLENGE_REJECTED] = "rejected",
};

const char *challenge_action_to_string(ChallengeAction action) {
        return (guint) action < G_N_ELEMENTS(action_names) ? action_names[action] : "unknown";
}

void challenge_answer_clear(ChallengeAnswer *a) {
        g_clear_pointer(&a->subject, g_free);
        g_clear_pointer(&a->eligible, g_ptr_array_unref);
        g_clear_pointer(&a->candidates, g_ptr_array_unref);
        g_clear_pointer(&a->challenge, transport_challenge_free);
}

char *challenge_url_origin(const char *url) {
        g_autoptr(GUri) uri = url ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;
        const char *host = uri ? g_uri_get_host(uri) : NULL;
        g_autofree char *lower = NULL;
        char *origin;

        if (!host || !*host || g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") != 0)
                return NULL;
        lower = g_ascii_strdown(host, -1);
        origin = g_strdup_printf(strchr(lower, ':') ? "[%s]:%d" : "%s:%d", lower,
                                 g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : 443);
        if (id_origin_check(origin)) {
                g_free(origin);
                return NULL;
        }
        return origin;
}

/* The candidates the challenge's ca-names hint allows (all when it has none); transfer
 * container. */
static GPtrArray *allowed_by_hints(const TransportChallenge *tc, GPtrArray *candidates,
                                   gint64 now) {
        g_autoptr(CertRequest) hints = NULL;

        if (tc->ca_names->len == 0) {
                /* A view: the candidates stay owned by @candidates. */
                GPtrArray *all = g_ptr_array_sized_new(candidates->len);

                for (guint i = 0; i < candidates->len; i++)
                        g_ptr_array_add(all, candidates->pdata[i]);
                return all;
        }
        hints = cert_request_new();
        for (guint i = 0; i < tc->ca_names->len; i++)
                g_ptr_array_add(hints->ca_names, g_bytes_ref(tc->ca_names->pdata[i]));
        return cert_select_eligible(hints, candidates, now);
}

gboolean challenge_answer(Store *store, ChallengeRetries *retries, const Policy *policy,
                          ChallengeCandidatesFn candidates_fn, gpointer user_data,
                          const char *context, const char *origin,
                          const ChallengeQuestion *q, gint64 now, ChallengeAnswer *ret,
                          GError **error) {
        StorePartition partition, target_partition;

        *ret = (ChallengeAnswer) { .action = CHALLENGE_NOT_TRANSPORT };
        if (!store_get_partition(store, context, origin, &partition, error))
                return FALSE;
        ret->generation = partition.generation;
        ret->challenge = transport_challenge_find(q->values, q->n_values);
        if (!ret->challenge->found)
                return TRUE;

        /* A request sent under another generation (before a switch, a flush, or a daemon
         * restart) is simply sent again under the current one. */
        gboolean current = !q->have_generation || q->generation == partition.generation;
        const char *refused_subject = NULL;
        const char *refused = challenge_retries_refused(retries, context, origin,
                                                        partition.generation,
                                                        &refused_subject);
        if (current && refused) {
                ret->action = CHALLENGE_REJECTED;
                /* Name the certificate only when the connection did send it. */
                if (!q->sent_identity || strcmp(q->sent_identity, refused) == 0) {
                        g_strlcpy(ret->identity, refused, sizeof ret->identity);
                        ret->subject = g_strdup(refused_subject);
                }
                return TRUE;
        }

        /* The decision belongs to the origin that will see the certificate. */
        g_autofree char *url_origin = challenge_url_origin(ret->challenge->url);
        const char *target = url_origin ? url_origin : origin;
        gboolean elsewhere = strcmp(target, origin) != 0;
        g_strlcpy(ret->origin, target, sizeof ret->origin);
        if (!store_get_partition(store, context, target, &target_partition, error))
                return FALSE;

        if (q->candidates && q->candidates->len > 0)
                ret->candidates = g_ptr_array_ref(q->candidates);
        else if (!(ret->candidates = candidates_fn(user_data, error)))
                return FALSE;
        g_autoptr(GPtrArray) hinted = allowed_by_hints(ret->challenge, ret->candidates, now);
        g_autoptr(CertRequest) any = q->request ? NULL : cert_request_new();
        const CertRequest *request = q->request ? q->request : any;
        g_autoptr(GPtrArray) leaves = NULL;
        Selection selection = selection_decide_request(policy, context, target,
                                                       &target_partition, request, hinted,
                                                       ret->challenge->key_types, TRUE, now,
                                                       &leaves);

        switch (selection.decision) {
        case SELECTION_NONE:
                ret->action = CHALLENGE_DECLINED;
                ret->status = selection.reason == SELECTION_BY_NOTHING_ELIGIBLE ? "unavailable"
                                                                                : "declined";
                break;
        case SELECTION_ASK:
        case SELECTION_STALE: /* not from selection_decide_request() */
                ret->action = CHALLENGE_ASK;
                ret->eligible = g_steal_pointer(&leaves);
                break;
        case SELECTION_CERTIFICATE: {
                const CertInfo *chosen = leaves->pdata[selection.index];
                gboolean changed = FALSE;

                if (!selection_apply(store, context, target, &target_partition, &selection,
                                     chosen, &changed, error))
                        return FALSE;
                /* The same identity: move the partition on anyway, so that no pooled
                 * connection or cached session (which may not carry the certificate) serves
                 * the re-sent request. A request from an older generation of this origin is
                 * re-sent into the current one, which is fresh already. */
                if (!changed && (current || elsewhere)) {
                        if (!store_flush(store, context, target, &ret->dropped, error))
                                return FALSE;
                        ret->flushed = TRUE;
                }
                if (!store_get_partition(store, context, target, &target_partition, error))
                        return FALSE;
                challenge_retries_remember(retries, context, target,
                                           target_partition.generation, chosen->identity,
                                           chosen->subject);
                ret->action = CHALLENGE_RETRY;
                g_strlcpy(ret->identity, chosen->identity, sizeof ret->identity);
                ret->generation = target_partition.generation;
                break;
        }
        }
        return TRUE;
}
