/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's client certificates: the daemon's certificates and policy, and
 * SelectCertificate (the server's CertificateRequest and the candidates as a message). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-private.h"
#include "tlsid-limits.h"

_public_ void tlsid_certificate_infos_free(TlsidCertificateInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].identity);
                free(infos[i].subject);
                free(infos[i].issuer);
                free(infos[i].key_type);
                free(infos[i].nickname);
                free(infos[i].source);
                free(infos[i].offered_by);
        }
        free(infos);
}

/* Reads one certificate's a{sv}; unknown keys are skipped, missing strings read as "". */
static int read_certificate_info(DBusMessageIter *dict, TlsidCertificateInfo *info) {
        static const StringField strings[] = {
                { "identity", offsetof(TlsidCertificateInfo, identity) },
                { "subject", offsetof(TlsidCertificateInfo, subject) },
                { "issuer", offsetof(TlsidCertificateInfo, issuer) },
                { "key_type", offsetof(TlsidCertificateInfo, key_type) },
                { "nickname", offsetof(TlsidCertificateInfo, nickname) },
                { "source", offsetof(TlsidCertificateInfo, source) },
                { "offered_by", offsetof(TlsidCertificateInfo, offered_by) },
        };
        DBusMessageIter entry, variant;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                const char *key;
                int type;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                type = dbus_message_iter_get_arg_type(&variant);

                if (type == DBUS_TYPE_INT64) {
                        dbus_int64_t v;

                        dbus_message_iter_get_basic(&variant, &v);
                        if (strcmp(key, "not_before") == 0)
                                info->not_before = v;
                        else if (strcmp(key, "not_after") == 0)
                                info->not_after = v;
                        continue;
                }
                if (read_string_field(key, &variant, strings,
                                      sizeof strings / sizeof strings[0], info) < 0)
                        return -ENOMEM;
        }
        /* Every string but the nickname is there, whatever an older daemon sends. */
        if ((!info->identity && !(info->identity = strdup(""))) ||
            (!info->subject && !(info->subject = strdup(""))) ||
            (!info->issuer && !(info->issuer = strdup(""))) ||
            (!info->key_type && !(info->key_type = strdup("unknown"))))
                return set_oom();
        return 0;
}

/* Reads the aa{sv} at @array (with @n elements) into a new array. */
int read_certificate_infos(DBusMessageIter *array, size_t n, TlsidCertificateInfo **ret_infos) {
        TlsidCertificateInfo *infos = NULL;
        DBusMessageIter dict;
        int r;

        if (n > 0 && !(infos = calloc(n, sizeof *infos)))
                return set_oom();
        for (size_t i = 0; i < n; i++, dbus_message_iter_next(array)) {
                dbus_message_iter_recurse(array, &dict);
                r = read_certificate_info(&dict, &infos[i]);
                if (r < 0) {
                        tlsid_certificate_infos_free(infos, n);
                        return r;
                }
        }
        *ret_infos = infos;
        return 0;
}

static int read_certificate_entry(DBusMessageIter *dict, void *item) {
        return read_certificate_info(dict, item);
}

static void free_certificate_infos(void *items, size_t n) {
        tlsid_certificate_infos_free(items, n);
}

/* The order tlsid_client_list_certificates() promises: the database's certificates
 * first, each part by nickname (none last), then by identity. */
static int certificate_compare(const void *a, const void *b) {
        const TlsidCertificateInfo *x = a, *y = b;
        bool x_app = x->source && strcmp(x->source, "application") == 0;
        bool y_app = y->source && strcmp(y->source, "application") == 0;
        int c;

        if (x_app != y_app)
                return x_app ? 1 : -1;
        if (!x->nickname != !y->nickname)
                return x->nickname ? -1 : 1;
        if (x->nickname && (c = strcmp(x->nickname, y->nickname)) != 0)
                return c;
        return strcmp(x->identity, y->identity);
}

_public_ int tlsid_client_list_certificates(TlsidClient *client,
                                            TlsidCertificateInfo **ret_infos, size_t *ret_n) {
        ListCall call = {
                .id = METHOD_LIST_CERTIFICATES,
                .item_size = sizeof(TlsidCertificateInfo),
                .read_item = read_certificate_entry,
                .free_items = free_certificate_infos,
        };
        void *infos = NULL;
        size_t n = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        r = client_list_all(client, &call, &infos, &n);
        if (r < 0)
                return r;
        if (n > 1)
                qsort(infos, n, sizeof(TlsidCertificateInfo), certificate_compare);
        *ret_infos = infos;
        *ret_n = n;
        return 0;
}

_public_ int tlsid_client_get_policy(TlsidClient *client, char **ret_json, char **ret_error) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        _cleanup_(freep) char *json_copy = NULL, *problem_copy = NULL;
        const char *json, *problem;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_json)
                return set_error(-EINVAL, "ret_json must not be NULL");
        r = client_call(client, new_call(METHOD_GET_POLICY), NULL, &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, METHOD_GET_POLICY) ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &json, DBUS_TYPE_STRING,
                                   &problem, DBUS_TYPE_INVALID))
                return -EIO;
        if (!(json_copy = strdup(json)) ||
            (ret_error && *problem && !(problem_copy = strdup(problem))))
                return set_oom();
        *ret_json = TAKE_PTR(json_copy);
        if (ret_error)
                *ret_error = TAKE_PTR(problem_copy);
        return 0;
}

/* One request entry whose value is an array: @key with variant signature @signature.
 * @fill appends the elements to the open array. */
typedef bool (*FillFn)(DBusMessageIter *array, const void *items, size_t n);

static bool dict_append_array(DBusMessageIter *dict, const char *key, const char *signature,
                              FillFn fill, const void *items, size_t n) {
        DBusMessageIter entry, variant, array;

        if (!dict_open_entry(dict, key, signature, &entry, &variant))
                return false;
        /* signature + 1: the element type of the array. */
        if (!dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, signature + 1,
                                              &array))
                return dict_close_entry(dict, &entry, &variant, false);
        if (!fill(&array, items, n)) {
                dbus_message_iter_abandon_container(&variant, &array);
                return dict_close_entry(dict, &entry, &variant, false);
        }
        return dbus_message_iter_close_container(&variant, &array) &&
                dict_close_entry(dict, &entry, &variant, true);
}

static bool fill_ders(DBusMessageIter *array, const void *items, size_t n) {
        const TlsidDer *ders = items;

        for (size_t i = 0; i < n; i++)
                if (!append_bytes(array, ders[i].der, ders[i].len))
                        return false;
        return true;
}

static bool fill_bytes(DBusMessageIter *array, const void *items, size_t n) {
        const unsigned char *bytes = items;

        return dbus_message_iter_append_fixed_array(array, DBUS_TYPE_BYTE, &bytes, (int) n);
}

static bool fill_uint16s(DBusMessageIter *array, const void *items, size_t n) {
        const dbus_uint16_t *values = items;

        return dbus_message_iter_append_fixed_array(array, DBUS_TYPE_UINT16, &values, (int) n);
}

static bool fill_oid_filters(DBusMessageIter *array, const void *items, size_t n) {
        const TlsidOidFilter *filters = items;
        DBusMessageIter pair;

        for (size_t i = 0; i < n; i++) {
                if (!dbus_message_iter_open_container(array, DBUS_TYPE_STRUCT, NULL, &pair))
                        return false;
                if (!append_bytes(&pair, filters[i].oid, filters[i].oid_len) ||
                    !append_bytes(&pair, filters[i].values, filters[i].values_len)) {
                        dbus_message_iter_abandon_container(array, &pair);
                        return false;
                }
                if (!dbus_message_iter_close_container(array, &pair))
                        return false;
        }
        return true;
}

/* A (pointer, length) pair is consistent: data for every byte it claims. */
static bool blob_ok(const void *p, size_t len, size_t max) {
        return len <= max && (p || len == 0);
}

/* Checks what libdbus would otherwise abort on or the daemon refuse anyway. */
int check_cert_request(const TlsidCertRequest *q) {
        if (!q)
                return 0;
        if (!blob_ok(q->ca_names, q->n_ca_names, TLSID_CA_NAMES_MAX))
                return set_error(-EINVAL, "request.ca_names: at most %d, and not NULL",
                                 TLSID_CA_NAMES_MAX);
        for (size_t i = 0; i < q->n_ca_names; i++)
                if (!blob_ok(q->ca_names[i].der, q->ca_names[i].len, TLSID_CA_NAME_MAX) ||
                    q->ca_names[i].len == 0)
                        return set_error(-EINVAL, "request.ca_names[%zu]: 1 to %d bytes", i,
                                         TLSID_CA_NAME_MAX);
        if (!blob_ok(q->certificate_types, q->n_certificate_types, TLSID_CERT_TYPES_MAX))
                return set_error(-EINVAL, "request.certificate_types: at most %d",
                                 TLSID_CERT_TYPES_MAX);
        if (!blob_ok(q->signature_schemes, q->n_signature_schemes, TLSID_SIGNATURE_SCHEMES_MAX))
                return set_error(-EINVAL, "request.signature_schemes: at most %d",
                                 TLSID_SIGNATURE_SCHEMES_MAX);
        if (!blob_ok(q->signature_schemes_cert, q->n_signature_schemes_cert,
                     TLSID_SIGNATURE_SCHEMES_MAX))
                return set_error(-EINVAL, "request.signature_schemes_cert: at most %d",
                                 TLSID_SIGNATURE_SCHEMES_MAX);
        if (!blob_ok(q->oid_filters, q->n_oid_filters, TLSID_OID_FILTERS_MAX))
                return set_error(-EINVAL, "request.oid_filters: at most %d",
                                 TLSID_OID_FILTERS_MAX);
        for (size_t i = 0; i < q->n_oid_filters; i++)
                if (!blob_ok(q->oid_filters[i].oid, q->oid_filters[i].oid_len, TLSID_OID_MAX) ||
                    !blob_ok(q->oid_filters[i].values, q->oid_filters[i].values_len,
                             TLSID_OID_VALUE_MAX))
                        return set_error(-EINVAL, "request.oid_filters[%zu]: bad lengths", i);
        if (!blob_ok(q->server_certificate, q->server_certificate_len, TLSID_CERTIFICATE_MAX))
                return set_error(-EINVAL, "request.server_certificate: at most %d bytes",
                                 TLSID_CERTIFICATE_MAX);
        return 0;
}

int check_candidates(const TlsidCandidate *candidates, size_t n) {
        if (!blob_ok(candidates, n, TLSID_CANDIDATES_MAX))
                return set_error(-EINVAL, "candidates: at most %d, and not NULL",
                                 TLSID_CANDIDATES_MAX);
        for (size_t i = 0; i < n; i++) {
                const TlsidCandidate *c = &candidates[i];

                if (!blob_ok(c->der, c->len, TLSID_CERTIFICATE_MAX) || c->len == 0)
                        return set_error(-EINVAL, "candidates[%zu]: 1 to %d bytes", i,
                                         TLSID_CERTIFICATE_MAX);
                if (!blob_ok(c->chain, c->n_chain, TLSID_CHAIN_MAX))
                        return set_error(-EINVAL, "candidates[%zu].chain: at most %d", i,
                                         TLSID_CHAIN_MAX);
                for (size_t k = 0; k < c->n_chain; k++)
                        if (!blob_ok(c->chain[k].der, c->chain[k].len, TLSID_CERTIFICATE_MAX) ||
                            c->chain[k].len == 0)
                                return set_error(-EINVAL,
                                                 "candidates[%zu].chain[%zu]: 1 to %d bytes",
                                                 i, k, TLSID_CERTIFICATE_MAX);
                if (c->nickname && strlen(c->nickname) > TLSID_NICKNAME_MAX)
                        return set_error(-EINVAL, "candidates[%zu].nickname: at most %d bytes",
                                         i, TLSID_NICKNAME_MAX);
        }
        return 0;
}

bool append_request(DBusMessageIter *iter, const TlsidCertRequest *q, uint32_t interactive_ms) {
        DBusMessageIter dict;
        dbus_uint16_t version, suite;
        dbus_uint32_t generation;
        dbus_bool_t post, renegotiation;
        bool ok = true;

        if (!open_dict(iter, &dict))
                return false;
        if (q) {
                version = q->tls_version;
                suite = q->cipher_suite;
                post = q->post_handshake != 0;
                renegotiation = q->renegotiation != 0;
                generation = q->generation;
                ok = (!version || dict_append(&dict, "tls_version", DBUS_TYPE_UINT16, &version)) &&
                        (!q->n_ca_names ||
                         dict_append_array(&dict, "ca_names", "aay", fill_ders, q->ca_names,
                                           q->n_ca_names)) &&
                        (!q->n_certificate_types ||
                         dict_append_array(&dict, "certificate_types", "ay", fill_bytes,
                                           q->certificate_types, q->n_certificate_types)) &&
                        (!q->n_signature_schemes ||
                         dict_append_array(&dict, "signature_schemes", "aq", fill_uint16s,
                                           q->signature_schemes, q->n_signature_schemes)) &&
                        (!q->n_signature_schemes_cert ||
                         dict_append_array(&dict, "signature_schemes_cert", "aq", fill_uint16s,
                                           q->signature_schemes_cert,
                                           q->n_signature_schemes_cert)) &&
                        (!q->n_oid_filters ||
                         dict_append_array(&dict, "oid_filters", "a(ayay)", fill_oid_filters,
                                           q->oid_filters, q->n_oid_filters)) &&
                        (!q->server_certificate_len ||
                         dict_append_array(&dict, "server_certificate", "ay", fill_bytes,
                                           q->server_certificate,
                                           q->server_certificate_len)) &&
                        (!suite || dict_append(&dict, "cipher_suite", DBUS_TYPE_UINT16, &suite)) &&
                        (!post || dict_append(&dict, "post_handshake", DBUS_TYPE_BOOLEAN, &post)) &&
                        (!renegotiation ||
                         dict_append(&dict, "renegotiation", DBUS_TYPE_BOOLEAN, &renegotiation)) &&
                        (!generation ||
                         dict_append(&dict, "generation", DBUS_TYPE_UINT32, &generation));
        }
        if (ok && interactive_ms)
                ok = dict_append(&dict, "interactive_timeout_ms", DBUS_TYPE_UINT32,
                                 &interactive_ms);
        if (!ok) {
                dbus_message_iter_abandon_container(iter, &dict);
                return false;
        }
        return dbus_message_iter_close_container(iter, &dict);
}

/* One (ayaaya{sv}) of the candidates: the leaf, its chain and its nickname. */
static bool append_candidate(DBusMessageIter *array, const TlsidCandidate *candidate) {
        DBusMessageIter pair, chain, meta;

        if (!dbus_message_iter_open_container(array, DBUS_TYPE_STRUCT, NULL, &pair))
                return false;
        if (!append_bytes(&pair, candidate->der, candidate->len) ||
            !dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "ay", &chain)) {
                dbus_message_iter_abandon_container(array, &pair);
                return false;
        }
        if (!fill_ders(&chain, candidate->chain, candidate->n_chain)) {
                dbus_message_iter_abandon_container(&pair, &chain);
                dbus_message_iter_abandon_container(array, &pair);
                return false;
        }
        if (!dbus_message_iter_close_container(&pair, &chain) || !open_dict(&pair, &meta)) {
                dbus_message_iter_abandon_container(array, &pair);
                return false;
        }
        if ((candidate->nickname && *candidate->nickname &&
             !dict_append(&meta, "nickname", DBUS_TYPE_STRING, &candidate->nickname)) ||
            !dbus_message_iter_close_container(&pair, &meta)) {
                dbus_message_iter_abandon_container_if_open(&pair, &meta);
                dbus_message_iter_abandon_container(array, &pair);
                return false;
        }
        return dbus_message_iter_close_container(array, &pair);
}

bool append_candidates(DBusMessageIter *iter, const TlsidCandidate *candidates, size_t n) {
        DBusMessageIter array;

        if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &array))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!append_candidate(&array, &candidates[i])) {
                        dbus_message_iter_abandon_container_if_open(iter, &array);
                        return false;
                }
        return dbus_message_iter_close_container(iter, &array);
}

/* The TlsidDecision called @name, or -1. */
static int decision_from_string(const char *name) {
        if (strcmp(name, "certificate") == 0)
                return TLSID_DECISION_CERTIFICATE;
        if (strcmp(name, "none") == 0)
                return TLSID_DECISION_NONE;
        if (strcmp(name, "ask") == 0)
                return TLSID_DECISION_ASK;
        if (strcmp(name, "stale") == 0)
                return TLSID_DECISION_STALE;
        return -1;
}

_public_ int tlsid_context_select_certificate(TlsidContext *context, const char *origin,
                                              const TlsidCertRequest *request,
                                              const TlsidCandidate *candidates, size_t n,
                                              TlsidDecision *ret_decision, char **ret_identity,
                                              uint32_t *ret_generation,
                                              TlsidCertificateInfo **ret_eligible,
                                              size_t *ret_n_eligible) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL, *reply = NULL;
        _cleanup_(freep) char *identity_copy = NULL;
        TlsidCertificateInfo *eligible = NULL;
        const char *decision_name, *identity;
        dbus_uint32_t generation;
        DBusMessageIter iter, array;
        size_t n_eligible = 0;
        uint32_t wait_ms;
        int decision, r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        wait_ms = interactive_ms(context->client);
        if (!ret_decision)
                return set_error(-EINVAL, "ret_decision must not be NULL");
        if (!ret_eligible != !ret_n_eligible)
                return set_error(-EINVAL, "ret_eligible and ret_n_eligible go together");
        if ((r = check_origin(origin)) < 0 || (r = check_cert_request(request)) < 0 ||
            (r = check_candidates(candidates, n)) < 0)
                return r;

        msg = new_call(METHOD_SELECT_CERTIFICATE);
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context->name) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) ||
            !append_request(&iter, request, wait_ms) || !append_candidates(&iter, candidates, n))
                return set_oom();
        r = client_call_waiting(context->client, TAKE_PTR(msg), context_retry_name(context),
                                wait_ms, &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, METHOD_SELECT_CERTIFICATE))
                return -EIO;
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_get_basic(&iter, &decision_name);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &identity);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &generation);
        dbus_message_iter_next(&iter);
        decision = decision_from_string(decision_name);
        if (decision < 0)
                return set_error(-EIO, "%s: unknown decision '%s'",
                                 interface_methods[METHOD_SELECT_CERTIFICATE].name, decision_name);
        if (ret_identity && !(identity_copy = strdup(identity)))
                return set_oom();
        if (ret_eligible) {
                dbus_message_iter_recurse(&iter, &array);
                for (DBusMessageIter it = array;
                     dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
                     dbus_message_iter_next(&it))
                        n_eligible++;
                r = read_certificate_infos(&array, n_eligible, &eligible);
                if (r < 0)
                        return r;
        }
        *ret_decision = (TlsidDecision) decision;
        if (ret_generation)
                *ret_generation = generation;
        if (ret_identity)
                *ret_identity = TAKE_PTR(identity_copy);
        if (ret_eligible) {
                *ret_eligible = eligible;
                *ret_n_eligible = n_eligible;
        }
        return 0;
}
