/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which certificates a CertificateRequest allows: docs/certificate-selection.md, rule by rule. */
#include "eligibility.h"

#include <string.h>

#define OID_KEY_USAGE "2.5.29.15"
#define OID_EXT_KEY_USAGE "2.5.29.37"

/* The fixed-ECDH cipher suites: TLS_ECDH_ECDSA_* and TLS_ECDH_RSA_* of RFC 4492 5.1 and
 * RFC 5289 3.1, 3.2 (the ECDHE_* and ECDH_anon_* suites are not fixed-ECDH). */
static const guint16 fixed_ecdh_suites[] = {
        0xc001, /* TLS_ECDH_ECDSA_WITH_NULL_SHA */
        0xc002, /* TLS_ECDH_ECDSA_WITH_RC4_128_SHA */
        0xc003, /* TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA */
        0xc004, /* TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA */
        0xc005, /* TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA */
        0xc00b, /* TLS_ECDH_RSA_WITH_NULL_SHA */
        0xc00c, /* TLS_ECDH_RSA_WITH_RC4_128_SHA */
        0xc00d, /* TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA */
        0xc00e, /* TLS_ECDH_RSA_WITH_AES_128_CBC_SHA */
        0xc00f, /* TLS_ECDH_RSA_WITH_AES_256_CBC_SHA */
        0xc025, /* TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256 */
        0xc026, /* TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384 */
        0xc029, /* TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256 */
        0xc02a, /* TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384 */
        0xc02d, /* TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256 */
        0xc02e, /* TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384 */
        0xc031, /* TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256 */
        0xc032, /* TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384 */
};

CertOidFilter *cert_oid_filter_new(GBytes *oid, GBytes *values) {
        CertOidFilter *filter = g_new0(CertOidFilter, 1);

        filter->oid = g_bytes_ref(oid);
        filter->values = g_bytes_ref(values);
        return filter;
}

void cert_oid_filter_free(CertOidFilter *filter) {
        if (!filter)
                return;
        g_bytes_unref(filter->oid);
        g_bytes_unref(filter->values);
        g_free(filter);
}

CertRequest *cert_request_new(void) {
        CertRequest *request = g_new0(CertRequest, 1);

        request->ca_names = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        request->certificate_types = g_byte_array_new();
        request->signature_schemes = g_array_new(FALSE, FALSE, sizeof(guint16));
        request->signature_schemes_cert = g_array_new(FALSE, FALSE, sizeof(guint16));
        request->oid_filters =
                g_ptr_array_new_with_free_func((GDestroyNotify) cert_oid_filter_free);
        return request;
}

void cert_request_free(CertRequest *request) {
        if (!request)
                return;
        g_ptr_array_unref(request->ca_names);
        g_byte_array_unref(request->certificate_types);
        g_array_unref(request->signature_schemes);
        g_array_unref(request->signature_schemes_cert);
        g_ptr_array_unref(request->oid_filters);
        cert_info_free(request->server_certificate);
        g_free(request);
}

gboolean cert_cipher_suite_is_fixed_ecdh(guint16 cipher_suite) {
        for (gsize i = 0; i < G_N_ELEMENTS(fixed_ecdh_suites); i++) {
                if (fixed_ecdh_suites[i] == cipher_suite)
                        return TRUE;
        }
        return FALSE;
}

static gboolean is_tls13(const CertRequest *request) {
        return request->tls_version >= 0x0304;
}

static gboolean schemes_contain(const GArray *schemes, guint16 scheme) {
        for (guint i = 0; i < schemes->len; i++) {
                if (g_array_index(schemes, guint16, i) == scheme)
                        return TRUE;
        }
        return FALSE;
}

/* --- what a key can sign with --- */

static gboolean scheme_is_rsa_pkcs1(guint16 s) {
        return (s & 0xff) == 0x01 && s >= 0x0101 && s <= 0x0601;
}

static gboolean scheme_is_rsa_pss_rsae(guint16 s) {
        return s >= 0x0804 && s <= 0x0806;
}

static gboolean scheme_is_rsa_pss_pss(guint16 s) {
        return s >= 0x0809 && s <= 0x080b;
}

static gboolean scheme_is_rsa(guint16 s) {
        return scheme_is_rsa_pkcs1(s) || scheme_is_rsa_pss_rsae(s) || scheme_is_rsa_pss_pss(s);
}

/* TLS 1.2 SignatureAndHashAlgorithm with signature dsa(2), and ecdsa(3). */
static gboolean scheme_is_dsa(guint16 s) {
        return (s & 0xff) == 0x02 && s >= 0x0102 && s <= 0x0602;
}

static gboolean scheme_is_ecdsa(guint16 s) {
        return (s & 0xff) == 0x03 && s >= 0x0103 && s <= 0x0603;
}

static guint16 ecdsa_scheme_of_curve(CertCurve curve) {
        switch (curve) {
        case CERT_CURVE_P256:
                return 0x0403;
        case CERT_CURVE_P384:
                return 0x0503;
        case CERT_CURVE_P521:
                return 0x0603;
        default:
                return 0;
        }
}

/* Whether the key of @cert can make a @scheme signature under the request's version. */
static gboolean key_can_make(const CertRequest *request, const CertInfo *cert, guint16 scheme) {
        switch (cert->key_type) {
        case CERT_KEY_RSA:
                /* RFC 8446 4.4.3: no PKCS #1 v1.5 in CertificateVerify under TLS 1.3. */
                if (scheme_is_rsa_pkcs1(scheme))
                        return !is_tls13(request);
                return scheme_is_rsa_pss_rsae(scheme);
        case CERT_KEY_RSA_PSS:
                return scheme_is_rsa_pss_pss(scheme);
        case CERT_KEY_EC:
                /* TLS 1.3 binds each ECDSA scheme to a curve (RFC 8446 4.2.3); TLS 1.2 does
                 * not (RFC 5246 7.4.1.4.1). */
                if (is_tls13(request))
                        return scheme != 0 && scheme == ecdsa_scheme_of_curve(cert->curve);
                return scheme_is_ecdsa(scheme) && cert->curve != CERT_CURVE_OTHER;
        case CERT_KEY_ED25519:
                return scheme == 0x0807;
        case CERT_KEY_DSA:
                return !is_tls13(request) && scheme_is_dsa(scheme);
        default:
                return FALSE;
        }
}

/* --- the rules --- */

/* A signing certificate: one whose key signs CertificateVerify. */
static const char *check_signing(const CertRequest *request, const CertInfo *leaf) {
        gboolean any = FALSE;

        switch (leaf->key_type) {
        case CERT_KEY_DH:
                return "a Diffie-Hellman key cannot sign";
        case CERT_KEY_UNKNOWN:
                return "unknown key type";
        case CERT_KEY_DSA:
                if (is_tls13(request))
                        return "TLS 1.3 has no DSA signatures";
                break;
        default:
                break;
        }
        /* nonRepudiation also asserts a signing key (RFC 5280 4.2.1.3); such certificates
         * stay eligible and go last (see the ordering). */
        if (leaf->has_key_usage &&
            !(leaf->key_usage & (CERT_KU_DIGITAL_SIGNATURE | CERT_KU_NON_REPUDIATION)))
                return "keyUsage lacks digitalSignature";
        if (request->signature_schemes->len == 0)
                return NULL;
        for (guint i = 0; i < request->signature_schemes->len && !any; i++)
                any = key_can_make(request, leaf,
                                   g_array_index(request->signature_schemes, guint16, i));
        if (any)
                return NULL;
        if (leaf->key_type == CERT_KEY_RSA && is_tls13(request)) {
                for (guint i = 0; i < request->signature_schemes->len; i++) {
                        if (scheme_is_rsa_pkcs1(
                                    g_array_index(request->signature_schemes, guint16, i)))
                                return "signature_schemes: the rsa_pkcs1 schemes do not count "
                                       "under TLS 1.3";
                }
        }
        return "signature_schemes: the key can make none of them";
}

static gboolean signed_with_rsa(const CertInfo *cert) {
        return scheme_is_rsa(cert->signed_with);
}

static gboolean signed_with_dsa(const CertInfo *cert) {
        return scheme_is_dsa(cert->signed_with);
}

static gboolean signed_with_ecdsa(const CertInfo *cert) {
        return scheme_is_ecdsa(cert->signed_with);
}

static const char *check_key_agreement(const CertInfo *leaf) {
        if (leaf->has_key_usage && !(leaf->key_usage & CERT_KU_KEY_AGREEMENT))
                return "keyUsage lacks keyAgreement";
        return NULL;
}

/* rsa_fixed_dh, dss_fixed_dh (RFC 5246 7.4.4, 7.4.6). */
static const char *check_fixed_dh(const CertRequest *request, const CertInfo *leaf,
                                  gboolean rsa) {
        const CertInfo *server = request->server_certificate;

        if (!server || server->key_type != CERT_KEY_DH || !server->dh_group)
                return "certificate_types: fixed DH needs the server's DH certificate";
        if (!leaf->dh_group || !g_bytes_equal(leaf->dh_group, server->dh_group))
                return "certificate_types: fixed DH needs the server's DH group";
        if (rsa ? !signed_with_rsa(leaf) : !signed_with_dsa(leaf))
                return rsa ? "certificate_types: rsa_fixed_dh needs an RSA-signed certificate"
                           : "certificate_types: dss_fixed_dh needs a DSA-signed certificate";
        return check_key_agreement(leaf);
}

/* rsa_fixed_ecdh, ecdsa_fixed_ecdh (RFC 8422 5.5; RFC 4492 2.3, 3.2). */
static const char *check_fixed_ecdh(const CertRequest *request, const CertInfo *leaf,
                                    gboolean rsa) {
        const CertInfo *server = request->server_certificate;

        if (!cert_cipher_suite_is_fixed_ecdh(request->cipher_suite))
                return "certificate_types: fixed ECDH needs a fixed-ECDH cipher suite";
        if (!server || server->key_type != CERT_KEY_EC)
                return "certificate_types: fixed ECDH needs the server's EC certificate";
        if (leaf->curve != server->curve || leaf->curve == CERT_CURVE_OTHER)
                return "certificate_types: fixed ECDH needs the server key's curve";
        if (rsa ? !signed_with_rsa(leaf) : !signed_with_ecdsa(leaf))
                return rsa ? "certificate_types: rsa_fixed_ecdh needs an RSA-signed certificate"
                           : "certificate_types: ecdsa_fixed_ecdh needs an ECDSA-signed "
                             "certificate";
        return check_key_agreement(leaf);
}

/* Whether @type takes @leaf's kind of key at all, and when it does, what else it needs
 * (NULL: fits). */
static gboolean check_type(const CertRequest *request, const CertInfo *leaf, guint8 type,
                           const char **ret_reason) {
        CertKeyType key = leaf->key_type;

        switch (type) {
        case CERT_TYPE_RSA_SIGN:
                *ret_reason = "certificate_types: rsa_sign needs an RSA key";
                if (key != CERT_KEY_RSA && key != CERT_KEY_RSA_PSS)
                        return FALSE;
                break;
        case CERT_TYPE_DSS_SIGN:
                *ret_reason = "certificate_types: dss_sign needs a DSA key";
                if (key != CERT_KEY_DSA)
                        return FALSE;
                break;
        case CERT_TYPE_ECDSA_SIGN:
                /* RFC 8422 5.5: ECDSA- or EdDSA-capable keys. */
                *ret_reason = "certificate_types: ecdsa_sign needs an EC or Ed25519 key";
                if (key != CERT_KEY_EC && key != CERT_KEY_ED25519)
                        return FALSE;
                break;
        case CERT_TYPE_RSA_FIXED_DH:
        case CERT_TYPE_DSS_FIXED_DH:
                *ret_reason = "certificate_types: fixed DH needs a DH key";
                if (key != CERT_KEY_DH)
                        return FALSE;
                *ret_reason = check_fixed_dh(request, leaf, type == CERT_TYPE_RSA_FIXED_DH);
                return TRUE;
        case CERT_TYPE_RSA_FIXED_ECDH:
        case CERT_TYPE_ECDSA_FIXED_ECDH:
                *ret_reason = "certificate_types: fixed ECDH needs an EC key";
                if (key != CERT_KEY_EC)
                        return FALSE;
                *ret_reason = check_fixed_ecdh(request, leaf, type == CERT_TYPE_RSA_FIXED_ECDH);
                return TRUE;
        default:
                *ret_reason = "certificate_types: no listed type is known";
                return FALSE;
        }
        *ret_reason = check_signing(request, leaf);
        return TRUE;
}

static gboolean type_is_signing(guint8 type) {
        return type == CERT_TYPE_RSA_SIGN || type == CERT_TYPE_DSS_SIGN ||
               type == CERT_TYPE_ECDSA_SIGN;
}

/* The key and its usage: the signing rules, or under TLS 1.2 any listed certificate type.
 * @ret_signing says whether a signing type (or no type at all) admitted it. */
static const char *check_key(const CertRequest *request, const CertInfo *leaf,
                             gboolean *ret_signing) {
        const char *first = NULL, *matched = NULL;
        gboolean fixed_fits = FALSE;

        *ret_signing = FALSE;
        /* TLS 1.3 has no certificate types (RFC 8446 4.3.2). */
        if (is_tls13(request) || request->certificate_types->len == 0) {
                const char *reason = check_signing(request, leaf);

                *ret_signing = reason == NULL;
                return reason;
        }
        for (guint i = 0; i < request->certificate_types->len; i++) {
                guint8 type = request->certificate_types->data[i];
                const char *reason = NULL;
                gboolean takes_key = check_type(request, leaf, type, &reason);

                if (takes_key && !reason) {
                        if (type_is_signing(type)) {
                                *ret_signing = TRUE;
                                return NULL;
                        }
                        fixed_fits = TRUE;
                        continue;
                }
                if (!first)
                        first = reason;
                /* The reason of a type that takes this kind of key says more. */
                if (takes_key && !matched)
                        matched = reason;
        }
        if (fixed_fits)
                return NULL;
        return matched ? matched : first;
}

static const char *check_extended_key_usage(const CertInfo *leaf) {
        if (leaf->has_eku && !leaf->eku_client_auth && !leaf->eku_any)
                return "extendedKeyUsage lacks clientAuth";
        return NULL;
}

static gboolean ca_names_contain(const CertRequest *request, GBytes *name) {
        for (guint i = 0; i < request->ca_names->len; i++) {
                if (g_bytes_equal(request->ca_names->pdata[i], name))
                        return TRUE;
        }
        return FALSE;
}

/* RFC 5246 7.4.4, RFC 8446 4.2.4: an issuer on the chain, or a CA certificate of it. */
static const char *check_ca_names(const CertRequest *request, const Candidate *candidate) {
        if (request->ca_names->len == 0)
                return NULL;
        if (ca_names_contain(request, candidate->leaf->issuer_der))
                return NULL;
        for (guint i = 0; i < candidate->chain->len; i++) {
                const CertInfo *cert = candidate->chain->pdata[i];

                if (ca_names_contain(request, cert->issuer_der) ||
                    (cert->is_ca && ca_names_contain(request, cert->subject_der)))
                        return NULL;
        }
        return "ca_names: no certificate of the chain is issued by a listed CA";
}

static gboolean self_signed(const CertInfo *cert) {
        return g_bytes_equal(cert->subject_der, cert->issuer_der);
}

/* RFC 5246 7.4.4 (TLS 1.2), RFC 8446 4.2.3 (TLS 1.3: signature_algorithms_cert, else
 * signature_algorithms). Self-signed certificates begin a path: their signature is never
 * checked, so it does not count (RFC 8446 4.2.3). */
static const char *check_chain_signatures(const CertRequest *request,
                                          const Candidate *candidate) {
        const GArray *schemes = request->signature_schemes;

        if (is_tls13(request) && request->signature_schemes_cert->len > 0)
                schemes = request->signature_schemes_cert;
        if (schemes->len == 0)
                return NULL;
        for (guint i = 0; i <= candidate->chain->len; i++) {
                const CertInfo *cert = i == 0 ? candidate->leaf : candidate->chain->pdata[i - 1];

                if (self_signed(cert))
                        continue;
                if (cert->signed_with == 0 || !schemes_contain(schemes, cert->signed_with))
                        return schemes == request->signature_schemes_cert
                                       ? "signature_schemes_cert: a certificate of the chain "
                                         "is signed with another scheme"
                                       : "signature_schemes: a certificate of the chain is "
                                         "signed with another scheme";
        }
        return NULL;
}

/* A DER element of @data: its tag, contents and what follows. FALSE when malformed. */
static gboolean der_read(const guint8 **data, gsize *len, guint8 *ret_tag,
                         const guint8 **ret_contents, gsize *ret_length) {
        const guint8 *p = *data;
        gsize left = *len, length;

        if (left < 2)
                return FALSE;
        *ret_tag = p[0];
        length = p[1];
        p += 2;
        left -= 2;
        if (length & 0x80) {
                guint octets = length & 0x7f;

                if (octets == 0 || octets > 4 || octets > left)
                        return FALSE;
                length = 0;
                for (guint i = 0; i < octets; i++)
                        length = (length << 8) | p[i];
                p += octets;
                left -= octets;
        }
        if (length > left)
                return FALSE;
        *ret_contents = p;
        *ret_length = length;
        *data = p + length;
        *len = left - length;
        return TRUE;
}

/* A DER BIT STRING (a keyUsage extension value) as bits, the first in bit 0. */
static gboolean read_bit_string(GBytes *value, guint32 *ret_bits) {
        gsize len = 0;
        const guint8 *data = g_bytes_get_data(value, &len), *contents;
        gsize length;
        guint8 tag;

        if (!der_read(&data, &len, &tag, &contents, &length) || tag != 0x03 || length < 1 ||
            len != 0)
                return FALSE;
        *ret_bits = 0;
        for (gsize i = 1; i < length && i <= 4; i++) {
                for (guint bit = 0; bit < 8; bit++) {
                        if (contents[i] & (0x80 >> bit))
                                *ret_bits |= 1u << ((i - 1) * 8 + bit);
                }
        }
        return TRUE;
}

/* A DER SEQUENCE OF OBJECT IDENTIFIER (an extendedKeyUsage value) as contents octets. */
static GPtrArray *read_oid_sequence(GBytes *value) {
        g_autoptr(GPtrArray) oids = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        gsize len = 0, length;
        const guint8 *data = g_bytes_get_data(value, &len), *contents;
        guint8 tag;

        if (!der_read(&data, &len, &tag, &contents, &length) || tag != 0x30 || len != 0)
                return NULL;
        while (length > 0) {
                const guint8 *oid;
                gsize oid_len;

                if (!der_read(&contents, &length, &tag, &oid, &oid_len) || tag != 0x06)
                        return NULL;
                g_ptr_array_add(oids, g_bytes_new(oid, oid_len));
        }
        return g_steal_pointer(&oids);
}

static gboolean oids_contain(GPtrArray *oids, GBytes *oid) {
        for (guint i = 0; i < oids->len; i++) {
                if (g_bytes_equal(oids->pdata[i], oid))
                        return TRUE;
        }
        return FALSE;
}

/* RFC 8446 4.2.5: every recognised extension of the filters, with at least its values. */
static const char *check_oid_filters(const CertRequest *request, const CertInfo *leaf) {
        if (!is_tls13(request))
                return NULL;
        for (guint i = 0; i < request->oid_filters->len; i++) {
                const CertOidFilter *filter = request->oid_filters->pdata[i];
                gsize oid_len = 0;
                const guint8 *oid_data = g_bytes_get_data(filter->oid, &oid_len);
                g_autofree char *oid = cert_oid_to_dotted(oid_data, oid_len);
                GBytes *have = oid ? g_hash_table_lookup(leaf->extensions, oid) : NULL;

                if (g_strcmp0(oid, OID_KEY_USAGE) == 0) {
                        guint32 want = 0, bits = 0;

                        if (!read_bit_string(filter->values, &want))
                                return "oid_filters: unreadable keyUsage filter";
                        if (!have || !read_bit_string(have, &bits) || (bits & want) != want)
                                return "oid_filters: keyUsage lacks a required bit";
                } else if (g_strcmp0(oid, OID_EXT_KEY_USAGE) == 0) {
                        g_autoptr(GPtrArray) want = read_oid_sequence(filter->values);
                        g_autoptr(GPtrArray) eku = have ? read_oid_sequence(have) : NULL;

                        if (!want)
                                return "oid_filters: unreadable extendedKeyUsage filter";
                        for (guint j = 0; j < want->len; j++) {
                                if (!eku || !oids_contain(eku, want->pdata[j]))
                                        return "oid_filters: extendedKeyUsage lacks a "
                                               "required purpose";
                        }
                }
                /* Unrecognised OIDs are skipped (RFC 8446 4.2.5). */
        }
        return NULL;
}

static const char *evaluate(const CertRequest *request, const Candidate *candidate, gint64 now,
                            gboolean *ret_signing) {
        const CertInfo *leaf = candidate->leaf;
        const char *reason;

        *ret_signing = FALSE;
        if (!candidate->has_private_key)
                return "no private key";
        if (now < leaf->not_before)
                return "not yet valid";
        if (now > leaf->not_after)
                return "expired";
        if ((reason = check_extended_key_usage(leaf)))
                return reason;
        if ((reason = check_ca_names(request, candidate)))
                return reason;
        if ((reason = check_key(request, leaf, ret_signing)))
                return reason;
        if ((reason = check_chain_signatures(request, candidate)))
                return reason;
        return check_oid_filters(request, leaf);
}

gboolean cert_eligible(const CertRequest *request, const Candidate *candidate, gint64 now,
                       const char **ret_reason) {
        gboolean signing;
        const char *reason = evaluate(request, candidate, now, &signing);

        if (ret_reason)
                *ret_reason = reason;
        return reason == NULL;
}

typedef struct {
        const Candidate *candidate;
        gboolean signing;
} Ranked;

static gboolean non_repudiation_only(const CertInfo *cert) {
        return cert->has_key_usage && cert->key_usage == CERT_KU_NON_REPUDIATION;
}

static int ranked_compare(gconstpointer a, gconstpointer b) {
        const Ranked *x = a, *y = b;
        const CertInfo *cx = x->candidate->leaf, *cy = y->candidate->leaf;

        if (x->signing != y->signing)
                return x->signing ? -1 : 1;
        if (non_repudiation_only(cx) != non_repudiation_only(cy))
                return non_repudiation_only(cx) ? 1 : -1;
        if (cx->not_before != cy->not_before)
                return cx->not_before > cy->not_before ? -1 : 1;
        /* Stable whatever the input order. */
        return strcmp(cx->identity, cy->identity);
}

GPtrArray *cert_select_eligible(const CertRequest *request, GPtrArray *candidates, gint64 now) {
        g_autoptr(GArray) ranked = g_array_new(FALSE, FALSE, sizeof(Ranked));
        GPtrArray *result = g_ptr_array_new();

        for (guint i = 0; i < candidates->len; i++) {
                Ranked r = { candidates->pdata[i], FALSE };

                if (!evaluate(request, r.candidate, now, &r.signing))
                        g_array_append_val(ranked, r);
        }
        g_array_sort(ranked, ranked_compare);
        for (guint i = 0; i < ranked->len; i++)
                g_ptr_array_add(result, (gpointer) g_array_index(ranked, Ranked, i).candidate);
        return result;
}
