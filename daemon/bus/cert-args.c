/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readers of certificate requests and candidates off the wire, and the certificate a{sv}. */
#include "cert-args.h"

#include <stdarg.h>
#include <string.h>

#include "args.h"
#include "error.h"
#include "tlsid-limits.h"

static const char *key_type_name(CertKeyType type) {
        switch (type) {
        case CERT_KEY_RSA:
                return "rsa";
        case CERT_KEY_RSA_PSS:
                return "rsa-pss";
        case CERT_KEY_EC:
                return "ec";
        case CERT_KEY_ED25519:
                return "ed25519";
        case CERT_KEY_DSA:
                return "dsa";
        case CERT_KEY_DH:
                return "dh";
        case CERT_KEY_UNKNOWN:
        default:
                return "unknown";
        }
}

/* Even the largest description leaves room for many on a list's page, and the eligible
 * list at its longest stays within its bound. */
G_STATIC_ASSERT(CERT_INFO_WIRE_MAX <= TLSID_LIST_PAGE_BYTES / 32);
G_STATIC_ASSERT(WIRE_DICT + TLSID_ELIGIBLE_MAX * CERT_INFO_WIRE_MAX <= TLSID_ELIGIBLE_BYTES);

/* One certificate as SelectCertificate's eligible and ListCertificates describe it. */
void append_cert_info(DBusMessageIter *array, const CertInfo *info, const char *source,
                      const char *offered_by) {
        DBusMessageIter dict;
        const char *identity = info->identity;
        const char *key_type = key_type_name(info->key_type);
        dbus_int64_t not_before = info->not_before, not_after = info->not_after;
        g_autofree char *subject = cert_text(info->subject);
        g_autofree char *issuer = cert_text(info->issuer);
        g_autofree char *nickname = info->nickname ? cert_text(info->nickname) : NULL;

        open_container(array, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append(&dict, "identity", DBUS_TYPE_STRING, &identity);
        dict_append(&dict, "subject", DBUS_TYPE_STRING, &subject);
        dict_append(&dict, "issuer", DBUS_TYPE_STRING, &issuer);
        dict_append(&dict, "not_before", DBUS_TYPE_INT64, &not_before);
        dict_append(&dict, "not_after", DBUS_TYPE_INT64, &not_after);
        dict_append(&dict, "key_type", DBUS_TYPE_STRING, &key_type);
        if (nickname)
                dict_append(&dict, "nickname", DBUS_TYPE_STRING, &nickname);
        if (source)
                dict_append(&dict, "source", DBUS_TYPE_STRING, &source);
        if (offered_by)
                dict_append_text(&dict, "offered_by", offered_by);
        close_container(array, &dict);
}

/* cert_text()'s length for @text: each byte that is not UTF-8 becomes 3. */
static gsize text_bound(const char *text) {
        return text ? MIN(3 * strlen(text), (gsize) TLSID_CERT_TEXT_MAX) : 0;
}

gsize cert_info_wire_bound(const CertInfo *info, const char *source, const char *offered_by) {
        /* offered_by is the first part of a context id: ASCII, at most TLSID_CONTEXT_MAX. */
        return CERT_INFO_WIRE_FIXED + text_bound(info->subject) + text_bound(info->issuer) +
               text_bound(info->nickname) + (offered_by ? strlen(offered_by) : 0);
}

guint append_eligible(DBusMessageIter *it, GPtrArray *eligible) {
        DBusMessageIter array;
        guint n = eligible ? eligible->len : 0;

        open_container(it, DBUS_TYPE_ARRAY, "a{sv}", &array);
        for (guint i = 0; i < n && i < TLSID_ELIGIBLE_MAX; i++)
                append_cert_info(&array, eligible->pdata[i], NULL, NULL);
        close_container(it, &array);
        return n;
}

/* FAILED: without NSS no certificate can be parsed. */
static gboolean no_cert_support(GError **error) {
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                    "certificates cannot be parsed: NSS could not be initialised");
        return FALSE;
}

gboolean check_interactive_timeout(const char *field, guint32 timeout_ms, GError **error) {
        if (timeout_ms <= TLSID_INTERACTIVE_TIMEOUT_MAX_MS)
                return TRUE;
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                    "%s: at most %d (milliseconds), not %u", field,
                    TLSID_INTERACTIVE_TIMEOUT_MAX_MS, timeout_ms);
        return FALSE;
}

/* The request keys of SelectCertificate and their signatures, in parse order. */
typedef enum {
        REQUEST_TLS_VERSION,
        REQUEST_CA_NAMES,
        REQUEST_CERTIFICATE_TYPES,
        REQUEST_SIGNATURE_SCHEMES,
        REQUEST_SIGNATURE_SCHEMES_CERT,
        REQUEST_OID_FILTERS,
        REQUEST_SERVER_CERTIFICATE,
        REQUEST_CIPHER_SUITE,
        REQUEST_POST_HANDSHAKE,
        REQUEST_RENEGOTIATION,
        REQUEST_GENERATION,
        REQUEST_INTERACTIVE_TIMEOUT_MS,
        _REQUEST_MAX,
} RequestKey;

static const struct {
        const char *name;
        const char *signature;
} request_keys[_REQUEST_MAX] = {
        [REQUEST_TLS_VERSION] = { "tls_version", "q" },
        [REQUEST_CA_NAMES] = { "ca_names", "aay" },
        [REQUEST_CERTIFICATE_TYPES] = { "certificate_types", "ay" },
        [REQUEST_SIGNATURE_SCHEMES] = { "signature_schemes", "aq" },
        [REQUEST_SIGNATURE_SCHEMES_CERT] = { "signature_schemes_cert", "aq" },
        [REQUEST_OID_FILTERS] = { "oid_filters", "a(ayay)" },
        [REQUEST_SERVER_CERTIFICATE] = { "server_certificate", "ay" },
        [REQUEST_CIPHER_SUITE] = { "cipher_suite", "q" },
        [REQUEST_POST_HANDSHAKE] = { "post_handshake", "b" },
        [REQUEST_RENEGOTIATION] = { "renegotiation", "b" },
        [REQUEST_GENERATION] = { "generation", "u" },
        [REQUEST_INTERACTIVE_TIMEOUT_MS] = { "interactive_timeout_ms", "u" },
};

static gboolean read_ca_names(DBusMessageIter *value, CertRequest *request, GError **error) {
        DBusMessageIter array;

        dbus_message_iter_recurse(value, &array);
        if (iter_count(&array) > TLSID_CA_NAMES_MAX)
                return too_many(error, "request.ca_names", TLSID_CA_NAMES_MAX);
        for (guint i = 0; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_ARRAY;
             dbus_message_iter_next(&array), i++) {
                int len;
                const guint8 *der = iter_bytes(&array, &len);

                if (len < 1 || len > TLSID_CA_NAME_MAX) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.ca_names[%u]: a DER name is 1 to %d bytes, not %d",
                                    i, TLSID_CA_NAME_MAX, len);
                        return FALSE;
                }
                g_ptr_array_add(request->ca_names, g_bytes_new(der, (gsize) len));
        }
        return TRUE;
}

static gboolean read_schemes(DBusMessageIter *value, const char *field, GArray *out,
                             GError **error) {
        DBusMessageIter array;
        const dbus_uint16_t *schemes = NULL;
        int n = 0;

        dbus_message_iter_recurse(value, &array);
        dbus_message_iter_get_fixed_array(&array, &schemes, &n);
        if (n > TLSID_SIGNATURE_SCHEMES_MAX)
                return too_many(error, field, TLSID_SIGNATURE_SCHEMES_MAX);
        for (int i = 0; i < n; i++) {
                guint16 scheme = schemes[i];
                g_array_append_val(out, scheme);
        }
        return TRUE;
}

static gboolean read_oid_filters(DBusMessageIter *value, CertRequest *request,
                                 GError **error) {
        DBusMessageIter array, pair;

        dbus_message_iter_recurse(value, &array);
        if (iter_count(&array) > TLSID_OID_FILTERS_MAX)
                return too_many(error, "request.oid_filters", TLSID_OID_FILTERS_MAX);
        for (guint i = 0; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRUCT;
             dbus_message_iter_next(&array), i++) {
                int oid_len, values_len;

                dbus_message_iter_recurse(&array, &pair);
                const guint8 *oid = iter_bytes(&pair, &oid_len);
                dbus_message_iter_next(&pair);
                const guint8 *values = iter_bytes(&pair, &values_len);
                g_autofree char *dotted = oid_len >= 1 && oid_len <= TLSID_OID_MAX
                                                  ? cert_oid_to_dotted(oid, (gsize) oid_len)
                                                  : NULL;

                if (!dotted) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.oid_filters[%u]: the OID must be 1 to %d bytes "
                                    "of DER contents octets", i, TLSID_OID_MAX);
                        return FALSE;
                }
                if (values_len > TLSID_OID_VALUE_MAX) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.oid_filters[%u]: the values are at most %d bytes",
                                    i, TLSID_OID_VALUE_MAX);
                        return FALSE;
                }
                CertOidFilter *filter = g_new0(CertOidFilter, 1);
                filter->oid = g_bytes_new(oid, (gsize) oid_len);
                filter->values = g_bytes_new(values, (gsize) values_len);
                g_ptr_array_add(request->oid_filters, filter);
        }
        return TRUE;
}

gboolean read_cert_request(CertDb *certs, DBusMessageIter *it, CertRequest *request,
                           GError **error) {
        DBusMessageIter array;
        gboolean seen[_REQUEST_MAX] = { FALSE };

        dbus_message_iter_recurse(it, &array);
        dbus_message_iter_next(it);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                DBusMessageIter entry, value;
                int key = -1;

                dbus_message_iter_recurse(&array, &entry);
                const char *name = iter_string(&entry);
                dbus_message_iter_recurse(&entry, &value);
                for (int k = 0; k < _REQUEST_MAX; k++)
                        if (strcmp(request_keys[k].name, name) == 0)
                                key = k;
                if (key < 0) {
                        g_autofree char *path = error_member_path("request", name);
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s: unknown key", path);
                        return FALSE;
                }
                if (seen[key]) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.%s: given more than once", name);
                        return FALSE;
                }
                seen[key] = TRUE;
                char *got = dbus_message_iter_get_signature(&value);
                if (!got)
                        oom();
                if (strcmp(got, request_keys[key].signature) != 0) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.%s: expected type %s, got %s", name,
                                    request_keys[key].signature, got);
                        dbus_free(got);
                        return FALSE;
                }
                dbus_free(got);

                switch ((RequestKey) key) {
                case REQUEST_TLS_VERSION: {
                        dbus_uint16_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->tls_version = v;
                        break;
                }
                case REQUEST_CIPHER_SUITE: {
                        dbus_uint16_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->cipher_suite = v;
                        break;
                }
                case REQUEST_POST_HANDSHAKE: {
                        dbus_bool_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->post_handshake = v != 0;
                        break;
                }
                case REQUEST_RENEGOTIATION: {
                        dbus_bool_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->renegotiation = v != 0;
                        break;
                }
                case REQUEST_GENERATION: {
                        dbus_uint32_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->generation = v;
                        break;
                }
                case REQUEST_INTERACTIVE_TIMEOUT_MS: {
                        dbus_uint32_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        if (!check_interactive_timeout("request.interactive_timeout_ms", v,
                                                       error))
                                return FALSE;
                        request->interactive_timeout_ms = v;
                        break;
                }
                case REQUEST_CA_NAMES:
                        if (!read_ca_names(&value, request, error))
                                return FALSE;
                        break;
                case REQUEST_CERTIFICATE_TYPES: {
                        int n;
                        const guint8 *types = iter_bytes(&value, &n);
                        if (n > TLSID_CERT_TYPES_MAX)
                                return too_many(error, "request.certificate_types",
                                                TLSID_CERT_TYPES_MAX);
                        g_byte_array_append(request->certificate_types, types, (guint) n);
                        break;
                }
                case REQUEST_SIGNATURE_SCHEMES:
                        if (!read_schemes(&value, "request.signature_schemes",
                                          request->signature_schemes, error))
                                return FALSE;
                        break;
                case REQUEST_SIGNATURE_SCHEMES_CERT:
                        if (!read_schemes(&value, "request.signature_schemes_cert",
                                          request->signature_schemes_cert, error))
                                return FALSE;
                        break;
                case REQUEST_OID_FILTERS:
                        if (!read_oid_filters(&value, request, error))
                                return FALSE;
                        break;
                case REQUEST_SERVER_CERTIFICATE: {
                        int n;
                        const guint8 *der = iter_bytes(&value, &n);
                        g_autoptr(GBytes) bytes = g_bytes_new(der, (gsize) n);
                        if (!certs)
                                return no_cert_support(error);
                        request->server_certificate =
                                cert_db_parse(certs, bytes, "request.server_certificate",
                                              error);
                        if (!request->server_certificate)
                                return FALSE;
                        break;
                }
                case _REQUEST_MAX:
                default:
                        g_assert_not_reached();
                }
        }
        return TRUE;
}

/* Checks the size of one certificate a caller passed, naming it @field. */
static gboolean check_cert_size(int len, GError **error, const char *format, ...)
        G_GNUC_PRINTF(3, 4);

static gboolean check_cert_size(int len, GError **error, const char *format, ...) {
        g_autofree char *field = NULL;
        va_list ap;

        if (len >= 1 && (guint) len <= TLSID_CERTIFICATE_MAX)
                return TRUE;
        va_start(ap, format);
        field = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                    "%s: a certificate is 1 to %d bytes of DER, not %d", field, TLSID_CERTIFICATE_MAX,
                    len);
        return FALSE;
}

GPtrArray *read_candidates(CertDb *certs, DBusMessageIter *it, GError **error) {
        g_autoptr(GPtrArray) candidates =
                g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
        DBusMessageIter array, pair, chain_iter;

        dbus_message_iter_recurse(it, &array);
        dbus_message_iter_next(it);
        if (iter_count(&array) > TLSID_CANDIDATES_MAX) {
                too_many(error, "candidates", TLSID_CANDIDATES_MAX);
                return NULL;
        }
        for (guint i = 0; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRUCT;
             dbus_message_iter_next(&array), i++) {
                g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(
                        (GDestroyNotify) g_bytes_unref);
                g_autofree char *field = g_strdup_printf("candidates[%u]", i);
                int len;

                dbus_message_iter_recurse(&array, &pair);
                const guint8 *leaf_der = iter_bytes(&pair, &len);
                if (!check_cert_size(len, error, "%s", field))
                        return NULL;
                g_autoptr(GBytes) leaf = g_bytes_new(leaf_der, (gsize) len);
                dbus_message_iter_next(&pair);
                dbus_message_iter_recurse(&pair, &chain_iter);
                if (iter_count(&chain_iter) > TLSID_CHAIN_MAX) {
                        g_autofree char *chain_field = g_strdup_printf("%s.chain", field);
                        too_many(error, chain_field, TLSID_CHAIN_MAX);
                        return NULL;
                }
                for (guint k = 0; dbus_message_iter_get_arg_type(&chain_iter) == DBUS_TYPE_ARRAY;
                     dbus_message_iter_next(&chain_iter), k++) {
                        const guint8 *der = iter_bytes(&chain_iter, &len);
                        if (!check_cert_size(len, error, "%s.chain[%u]", field, k))
                                return NULL;
                        g_ptr_array_add(chain, g_bytes_new(der, (gsize) len));
                }
                dbus_message_iter_next(&pair);
                const char *nickname = NULL;
                DictField meta[] = { { "nickname", DBUS_TYPE_STRING, &nickname } };
                if (!parse_dict(&pair, field, meta, G_N_ELEMENTS(meta), error))
                        return NULL;
                if (nickname && (strlen(nickname) > TLSID_NICKNAME_MAX ||
                                 !g_utf8_validate(nickname, -1, NULL))) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s.nickname: must be valid UTF-8 of at most %d bytes",
                                    field, TLSID_NICKNAME_MAX);
                        return NULL;
                }
                if (!certs) {
                        no_cert_support(error);
                        return NULL;
                }
                Candidate *candidate = cert_db_parse_candidate(certs, leaf, chain, field,
                                                               error);
                if (!candidate)
                        return NULL;
                /* The application's name for it wins over the daemon database's. */
                if (nickname && *nickname) {
                        g_free(candidate->leaf->nickname);
                        candidate->leaf->nickname = g_strdup(nickname);
                }
                g_ptr_array_add(candidates, candidate);
        }
        return g_steal_pointer(&candidates);
}
