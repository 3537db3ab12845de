/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NSS certificate layer: reads certificates into CertInfo, lists the user's own. */
#include "certs.h"

#include <nss.h>
#include <pk11pub.h>
#include <prerror.h>
#include <secasn1.h>
#include <secoid.h>
#include <stddef.h>
#include <string.h>

#include "nss-util.h"
#include "error.h"

struct CertDb {
        NSSInitContext *context;
        CERTCertDBHandle *handle;
        gboolean has_db;
};

/* OIDs NSS 3.87 does not know, compared by their contents octets. */
static const guint8 oid_ed25519[] = { 0x2b, 0x65, 0x70 }; /* 1.3.101.112 */
static const guint8 oid_dh_pkcs3[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                       0x0d, 0x01, 0x03, 0x01 }; /* 1.2.840.113549.1.3.1 */

static gboolean oid_is(const SECItem *oid, const guint8 *want, gsize len) {
        return oid->len == len && memcmp(oid->data, want, len) == 0;
}

static const char *nss_error_text(void) {
        PRErrorCode code = PR_GetError();
        const char *name = PR_ErrorToName(code);

        return name ? name : "unknown NSS error";
}

CertDb *cert_db_open(const char *dir, GError **error) {
        g_autofree CertDb *db = g_new0(CertDb, 1);
        PRUint32 flags = NSS_INIT_READONLY | NSS_INIT_NOROOTINIT | NSS_INIT_OPTIMIZESPACE;

        /* Our own context, so another NSS user in the process (none today) is unaffected
         * and the database is never written. */
        if (dir)
                db->context = NSS_InitContext(dir, "", "", SECMOD_DB, NULL, flags);
        else
                db->context = NSS_InitContext("", "", "", "", NULL,
                                              flags | NSS_INIT_NOCERTDB | NSS_INIT_NOMODDB);
        if (!db->context) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot open the NSS database \"%s\": %s", dir ? dir : "(none)",
                            nss_error_text());
                return NULL;
        }
        db->handle = CERT_GetDefaultCertDB();
        db->has_db = dir != NULL;
        return g_steal_pointer(&db);
}

void cert_db_free(CertDb *db) {
        if (!db)
                return;
        /* Fails (SEC_ERROR_BUSY) only while certificates are still referenced; NSS then
         * shuts down with the process. */
        (void) NSS_ShutdownContext(db->context);
        g_free(db);
}

char *cert_db_default_dir(void) {
        g_autofree char *path = g_build_filename(g_get_home_dir(), ".pki", "nssdb", NULL);

        if (!g_file_test(path, G_FILE_TEST_IS_DIR))
                return NULL;
        return g_strconcat("sql:", path, NULL);
}

static GBytes *bytes_from_item(const SECItem *item) {
        return g_bytes_new(item->data, item->len);
}

/* The UTF-8 text of an attribute value, or NULL when it is not a string. */
static char *ava_value_text(const CERTAVA *ava) {
        SECItem *value = CERT_DecodeAVAValue(&ava->value);
        char *text;

        if (!value)
                return NULL;
        text = g_utf8_make_valid((const char *) value->data, value->len);
        SECITEM_FreeItem(value, PR_TRUE);
        return text;
}

static void cert_name_from_nss(CertName *out, const CERTName *name) {
        g_autoptr(GStrvBuilder) o = g_strv_builder_new();
        g_autoptr(GStrvBuilder) ou = g_strv_builder_new();

        for (CERTRDN **rdn = name->rdns; rdn && *rdn; rdn++) {
                for (CERTAVA **ava = (*rdn)->avas; ava && *ava; ava++) {
                        SECOidTag tag = CERT_GetAVATag(*ava);
                        g_autofree char *text = NULL;

                        if (tag != SEC_OID_AVA_COMMON_NAME && tag != SEC_OID_AVA_LOCALITY &&
                            tag != SEC_OID_AVA_ORGANIZATION_NAME &&
                            tag != SEC_OID_AVA_ORGANIZATIONAL_UNIT_NAME)
                                continue;
                        text = ava_value_text(*ava);
                        if (!text)
                                continue;
                        if (tag == SEC_OID_AVA_COMMON_NAME && !out->cn)
                                out->cn = g_steal_pointer(&text);
                        else if (tag == SEC_OID_AVA_LOCALITY && !out->l)
                                out->l = g_steal_pointer(&text);
                        else if (tag == SEC_OID_AVA_ORGANIZATION_NAME)
                                g_strv_builder_add(o, text);
                        else if (tag == SEC_OID_AVA_ORGANIZATIONAL_UNIT_NAME)
                                g_strv_builder_add(ou, text);
                }
        }
        out->o = g_strv_builder_end(o);
        out->ou = g_strv_builder_end(ou);
}

static char *name_to_string(CERTName *name) {
        g_autoptr(NssString) ascii = CERT_NameToAscii(name);

        return g_strdup(ascii ? ascii : "");
}

char *cert_db_name_text(CertDb *db, GBytes *der) {
        g_autoptr(PLArenaPool) arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
        gsize len = 0;
        const guint8 *data = g_bytes_get_data(der, &len);
        SECItem item = { siBuffer, (unsigned char *) data, (unsigned int) len };
        CERTName name = { 0 };

        if (!arena || len == 0 ||
            SEC_QuickDERDecodeItem(arena, &name, SEC_ASN1_GET(CERT_NameTemplate), &item) !=
                    SECSuccess)
                return NULL;
        g_autofree char *text = name_to_string(&name);
        return cert_text(text);
}

/* Appends the DER header of a @tag element of @len content octets. */
static void der_append_header(GByteArray *out, guint8 tag, gsize len) {
        guint8 header[6] = { tag };
        guint n = 1;

        if (len < 0x80) {
                header[n++] = len;
        } else {
                guint bytes = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;

                header[n++] = 0x80 | bytes;
                for (guint i = bytes; i > 0; i--)
                        header[n++] = (len >> (8 * (i - 1))) & 0xff;
        }
        g_byte_array_append(out, header, n);
}

typedef struct {
        SECItem prime;
        SECItem base;
} DhParams;

/* PKCS #3 DHParameter and X9.42 DomainParameters both start with p and g. */
static const SEC_ASN1Template dh_params_template[] = {
        { SEC_ASN1_SEQUENCE, 0, NULL, sizeof(DhParams) },
        { SEC_ASN1_INTEGER, offsetof(DhParams, prime), NULL, 0 },
        { SEC_ASN1_INTEGER, offsetof(DhParams, base), NULL, 0 },
        { SEC_ASN1_SKIP_REST, 0, NULL, 0 },
        { 0, 0, NULL, 0 },
};

static guint integer_bits(const SECItem *integer) {
        gsize i = 0;
        guint bits;

        while (i < integer->len && integer->data[i] == 0)
                i++;
        if (i == integer->len)
                return 0;
        bits = (integer->len - i - 1) * 8;
        for (guint8 top = integer->data[i]; top; top >>= 1)
                bits++;
        return bits;
}

/* The group of a DH key as DER SEQUENCE { p, g }: the same group gives the same bytes
 * whether the key is PKCS #3 or X9.42 (whose q and validation parameters are dropped). */
static void read_dh_key(CertInfo *info, const CERTSubjectPublicKeyInfo *spki) {
        g_autoptr(PLArenaPool) arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
        g_autoptr(GByteArray) fields = g_byte_array_new();
        g_autoptr(GByteArray) group = g_byte_array_new();
        DhParams params = { 0 };

        if (!arena || SEC_QuickDERDecodeItem(arena, &params, dh_params_template,
                                             &spki->algorithm.parameters) != SECSuccess)
                return;
        der_append_header(fields, 0x02, params.prime.len);
        g_byte_array_append(fields, params.prime.data, params.prime.len);
        der_append_header(fields, 0x02, params.base.len);
        g_byte_array_append(fields, params.base.data, params.base.len);
        der_append_header(group, 0x30, fields->len);
        g_byte_array_append(group, fields->data, fields->len);
        info->dh_group = g_byte_array_free_to_bytes(g_steal_pointer(&group));
        info->key_bits = integer_bits(&params.prime);
}

static CertCurve curve_from_params(const SECItem *params) {
        SECItem oid;

        /* namedCurve: an OBJECT IDENTIFIER; explicit curves are refused by TLS anyway. */
        if (params->len < 3 || params->data[0] != 0x06 || params->data[1] != params->len - 2)
                return CERT_CURVE_OTHER;
        oid = (SECItem) { siBuffer, params->data + 2, params->len - 2 };
        switch (SECOID_FindOIDTag(&oid)) {
        case SEC_OID_ANSIX962_EC_PRIME256V1:
                return CERT_CURVE_P256;
        case SEC_OID_SECG_EC_SECP384R1:
                return CERT_CURVE_P384;
        case SEC_OID_SECG_EC_SECP521R1:
                return CERT_CURVE_P521;
        default:
                return CERT_CURVE_OTHER;
        }
}

static void read_key(CertInfo *info, CERTCertificate *cert) {
        CERTSubjectPublicKeyInfo *spki = &cert->subjectPublicKeyInfo;
        SECOidTag tag = SECOID_GetAlgorithmTag(&spki->algorithm);
        g_autoptr(SECKEYPublicKey) key = NULL;

        switch (tag) {
        case SEC_OID_PKCS1_RSA_ENCRYPTION:
                info->key_type = CERT_KEY_RSA;
                break;
        case SEC_OID_PKCS1_RSA_PSS_SIGNATURE:
                info->key_type = CERT_KEY_RSA_PSS;
                break;
        case SEC_OID_ANSIX9_DSA_SIGNATURE:
                info->key_type = CERT_KEY_DSA;
                break;
        case SEC_OID_ANSIX962_EC_PUBLIC_KEY:
                info->key_type = CERT_KEY_EC;
                info->curve = curve_from_params(&spki->algorithm.parameters);
                info->key_bits = info->curve == CERT_CURVE_P256   ? 256
                                 : info->curve == CERT_CURVE_P384 ? 384
                                 : info->curve == CERT_CURVE_P521 ? 521
                                                                  : 0;
                return;
        case SEC_OID_X942_DIFFIE_HELMAN_KEY:
                info->key_type = CERT_KEY_DH;
                read_dh_key(info, spki);
                return;
        default:
                /* NSS 3.87 knows neither Ed25519 nor PKCS #3 DH keys: read the OID. */
                if (oid_is(&spki->algorithm.algorithm, oid_ed25519, sizeof oid_ed25519)) {
                        info->key_type = CERT_KEY_ED25519;
                        info->key_bits = 256;
                } else if (oid_is(&spki->algorithm.algorithm, oid_dh_pkcs3,
                                  sizeof oid_dh_pkcs3)) {
                        info->key_type = CERT_KEY_DH;
                        read_dh_key(info, spki);
                }
                return;
        }
        key = CERT_ExtractPublicKey(cert);
        if (key)
                info->key_bits = SECKEY_PublicKeyStrengthInBits(key);
}

static void read_key_usage(CertInfo *info, CERTCertificate *cert) {
        g_auto(SECItem) value = { 0 };

        if (CERT_FindKeyUsageExtension(cert, &value) != SECSuccess)
                return;
        info->has_key_usage = TRUE;
        /* NSS gives the bit string's octets: digitalSignature is 0x80 of the first. */
        for (guint bit = 0; bit < 8 && value.len > 0; bit++) {
                if (value.data[0] & (0x80 >> bit))
                        info->key_usage |= 1u << bit;
        }
}

static void read_eku(CertInfo *info, CERTCertificate *cert) {
        g_auto(SECItem) value = { 0 };
        g_autoptr(CERTOidSequence) oids = NULL;

        if (CERT_FindCertExtension(cert, SEC_OID_X509_EXT_KEY_USAGE, &value) != SECSuccess)
                return;
        /* Present but unreadable allows no usage at all. */
        info->has_eku = TRUE;
        oids = CERT_DecodeOidSequence(&value);
        for (SECItem **oid = oids ? oids->oids : NULL; oid && *oid; oid++) {
                switch (SECOID_FindOIDTag(*oid)) {
                case SEC_OID_EXT_KEY_USAGE_CLIENT_AUTH:
                        info->eku_client_auth = TRUE;
                        break;
                case SEC_OID_EXT_KEY_USAGE_SERVER_AUTH:
                        info->eku_server_auth = TRUE;
                        break;
                case SEC_OID_X509_ANY_EXT_KEY_USAGE:
                        info->eku_any = TRUE;
                        break;
                default:
                        break;
                }
        }
}

static void read_extensions(CertInfo *info, CERTCertificate *cert) {
        CERTBasicConstraints constraints = { 0 };
        g_auto(SECItem) value = { 0 };

        info->extensions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify) g_bytes_unref);
        for (CERTCertExtension **ext = cert->extensions; ext && *ext; ext++) {
                char *oid = cert_oid_to_dotted((*ext)->id.data, (*ext)->id.len);

                if (oid)
                        g_hash_table_replace(info->extensions, oid,
                                             bytes_from_item(&(*ext)->value));
        }
        /* CERT_FindBasicConstraintExten is not exported. */
        if (CERT_FindCertExtension(cert, SEC_OID_X509_BASIC_CONSTRAINTS, &value) == SECSuccess &&
            CERT_DecodeBasicConstraintValue(&constraints, &value) == SECSuccess)
                info->is_ca = constraints.isCA;
}

/* rsa_pss_rsae_* for an RSASSA-PSS signature with the hash of its parameters; the
 * caller moves it to rsa_pss_pss_* once the issuer's key is known to be id-RSASSA-PSS. */
static guint16 pss_scheme(const SECItem *params) {
        g_autoptr(PLArenaPool) arena = PORT_NewArena(DER_DEFAULT_CHUNKSIZE);
        SECKEYRSAPSSParams pss = { 0 };

        if (!arena || SEC_QuickDERDecodeItem(arena, &pss, SEC_ASN1_GET(SECKEY_RSAPSSParamsTemplate),
                                             params) != SECSuccess)
                return 0;
        /* An absent hashAlgorithm is SHA-1, which no TLS scheme pairs with PSS. */
        switch (pss.hashAlg ? SECOID_GetAlgorithmTag(pss.hashAlg) : SEC_OID_SHA1) {
        case SEC_OID_SHA256:
                return 0x0804;
        case SEC_OID_SHA384:
                return 0x0805;
        case SEC_OID_SHA512:
                return 0x0806;
        default:
                return 0;
        }
}

static guint16 signature_scheme(CERTCertificate *cert) {
        switch (SECOID_GetAlgorithmTag(&cert->signature)) {
        case SEC_OID_PKCS1_SHA1_WITH_RSA_ENCRYPTION:
        case SEC_OID_ISO_SHA1_WITH_RSA_SIGNATURE:
                return 0x0201;
        case SEC_OID_PKCS1_SHA256_WITH_RSA_ENCRYPTION:
                return 0x0401;
        case SEC_OID_PKCS1_SHA384_WITH_RSA_ENCRYPTION:
                return 0x0501;
        case SEC_OID_PKCS1_SHA512_WITH_RSA_ENCRYPTION:
                return 0x0601;
        case SEC_OID_PKCS1_RSA_PSS_SIGNATURE:
                return pss_scheme(&cert->signature.parameters);
        case SEC_OID_ANSIX962_ECDSA_SHA1_SIGNATURE:
                return 0x0203;
        case SEC_OID_ANSIX962_ECDSA_SHA256_SIGNATURE:
                return 0x0403;
        case SEC_OID_ANSIX962_ECDSA_SHA384_SIGNATURE:
                return 0x0503;
        case SEC_OID_ANSIX962_ECDSA_SHA512_SIGNATURE:
                return 0x0603;
        case SEC_OID_ANSIX9_DSA_SIGNATURE_WITH_SHA1_DIGEST:
                return 0x0202;
        case SEC_OID_NIST_DSA_SIGNATURE_WITH_SHA256_DIGEST:
                return 0x0402;
        default:
                if (oid_is(&cert->signature.algorithm, oid_ed25519, sizeof oid_ed25519))
                        return 0x0807;
                return 0;
        }
}

/* rsa_pss_rsae_* -> rsa_pss_pss_* when @issuer's key is id-RSASSA-PSS (RFC 8446 4.2.3). */
static void fix_pss_scheme(CertInfo *info, const CertInfo *issuer) {
        if (issuer->key_type == CERT_KEY_RSA_PSS && info->signed_with >= 0x0804 &&
            info->signed_with <= 0x0806)
                info->signed_with += 0x0809 - 0x0804;
}

static CertInfo *cert_info_from_nss(CERTCertificate *cert) {
        g_autoptr(CertInfo) info = g_new0(CertInfo, 1);
        g_autofree char *hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                                            cert->derCert.data,
                                                            cert->derCert.len);
        PRTime not_before = 0, not_after = 0;

        g_strlcpy(info->identity, hash, sizeof info->identity);
        info->der = bytes_from_item(&cert->derCert);
        info->subject = name_to_string(&cert->subject);
        info->issuer = name_to_string(&cert->issuer);
        info->subject_der = bytes_from_item(&cert->derSubject);
        info->issuer_der = bytes_from_item(&cert->derIssuer);
        cert_name_from_nss(&info->subject_name, &cert->subject);
        cert_name_from_nss(&info->issuer_name, &cert->issuer);
        info->nickname = g_strdup(cert->nickname);
        if (CERT_GetCertTimes(cert, &not_before, &not_after) == SECSuccess) {
                info->not_before = not_before / PR_USEC_PER_SEC;
                info->not_after = not_after / PR_USEC_PER_SEC;
        } else {
                /* Unreadable dates: never valid. */
                info->not_before = G_MAXINT64;
                info->not_after = G_MININT64;
        }
        read_key(info, cert);
        read_key_usage(info, cert);
        read_eku(info, cert);
        read_extensions(info, cert);
        info->signed_with = signature_scheme(cert);
        if (SECITEM_ItemsAreEqual(&cert->derSubject, &cert->derIssuer))
                fix_pss_scheme(info, info);
        return g_steal_pointer(&info);
}

/* Every certificate of @candidate signed by the next one learns its issuer's key type. */
static void candidate_fix_pss(Candidate *candidate) {
        CertInfo *cert = candidate->leaf;

        for (guint i = 0; i < candidate->chain->len; i++) {
                CertInfo *issuer = candidate->chain->pdata[i];

                if (g_bytes_equal(cert->issuer_der, issuer->subject_der))
                        fix_pss_scheme(cert, issuer);
                cert = issuer;
        }
}

/* @cert (a database certificate with a key) and the issuers NSS finds for it. */
static Candidate *candidate_from_db(CertDb *db, CERTCertificate *cert) {
        g_autoptr(Candidate) candidate = g_new0(Candidate, 1);
        g_autoptr(CERTCertificate) current = CERT_DupCertificate(cert);

        candidate->leaf = cert_info_from_nss(cert);
        candidate->chain = g_ptr_array_new_with_free_func((GDestroyNotify) cert_info_free);
        candidate->has_private_key = TRUE;
        /* As many issuers as a caller may pass, so that a loop of cross-signed
         * certificates cannot keep us walking. */
        for (guint depth = 0; depth < TLSID_CHAIN_MAX; depth++) {
                g_autoptr(CERTCertificate) issuer = NULL;

                if (SECITEM_ItemsAreEqual(&current->derSubject, &current->derIssuer))
                        break;
                issuer = CERT_FindCertByName(db->handle, &current->derIssuer);
                if (!issuer || SECITEM_ItemsAreEqual(&issuer->derCert, &current->derCert))
                        break;
                g_ptr_array_add(candidate->chain, cert_info_from_nss(issuer));
                CERT_DestroyCertificate(current);
                current = g_steal_pointer(&issuer);
        }
        candidate_fix_pss(candidate);
        return g_steal_pointer(&candidate);
}

static int candidate_compare(gconstpointer a, gconstpointer b) {
        const Candidate *x = *(Candidate *const *) a, *y = *(Candidate *const *) b;
        int c = g_strcmp0(x->leaf->nickname, y->leaf->nickname);

        return c ? c : strcmp(x->leaf->identity, y->leaf->identity);
}

GPtrArray *cert_db_list_user(CertDb *db, GError **error) {
        g_autoptr(GPtrArray) result =
                g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(CERTCertList) list = NULL;

        if (!db->has_db)
                return g_steal_pointer(&result);
        list = PK11_ListCerts(PK11CertListUserUnique, NULL);
        if (!list) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot list the user's certificates: %s", nss_error_text());
                return NULL;
        }
        for (CERTCertListNode *node = CERT_LIST_HEAD(list); !CERT_LIST_END(node, list);
             node = CERT_LIST_NEXT(node)) {
                Candidate *candidate = candidate_from_db(db, node->cert);

                if (!g_hash_table_add(seen, candidate->leaf->identity)) {
                        candidate_free(candidate);
                        continue;
                }
                g_ptr_array_add(result, candidate);
        }
        g_ptr_array_sort(result, candidate_compare);
        return g_steal_pointer(&result);
}

Candidate *cert_db_find(CertDb *db, const char *identity) {
        g_autoptr(GPtrArray) all = cert_db_list_user(db, NULL);

        for (guint i = 0; all && i < all->len; i++) {
                Candidate *candidate = all->pdata[i];

                if (g_strcmp0(candidate->leaf->identity, identity) == 0)
                        return g_ptr_array_steal_index(all, i);
        }
        return NULL;
}

/* A temporary certificate for @der: NSS's own when the database holds it already, never
 * written to the database. */
static CertInfo *parse_one(CertDb *db, GBytes *der, const char *field, GError **error) {
        g_autoptr(CERTCertificate) cert = NULL;
        gsize len = 0;
        const guint8 *data = der ? g_bytes_get_data(der, &len) : NULL;
        SECItem item = { siDERCertBuffer, (unsigned char *) data, len };

        if (len == 0 || len > (gsize) TLSID_CERTIFICATE_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: a certificate is 1 to %d bytes of DER, not %" G_GSIZE_FORMAT,
                            field, TLSID_CERTIFICATE_MAX, len);
                return NULL;
        }
        cert = CERT_NewTempCertificate(db->handle, &item, NULL, PR_FALSE, PR_TRUE);
        if (!cert) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: not a DER X.509 certificate (%s)", field, nss_error_text());
                return NULL;
        }
        return cert_info_from_nss(cert);
}

Candidate *cert_db_parse_candidate(CertDb *db, GBytes *leaf, GPtrArray *chain,
                                   const char *field, GError **error) {
        g_autoptr(Candidate) candidate = g_new0(Candidate, 1);

        if (chain && chain->len > TLSID_CHAIN_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: a chain has at most %d certificates, not %u", field,
                            TLSID_CHAIN_MAX, chain->len);
                return NULL;
        }
        candidate->leaf = parse_one(db, leaf, field, error);
        if (!candidate->leaf)
                return NULL;
        candidate->chain = g_ptr_array_new_with_free_func((GDestroyNotify) cert_info_free);
        for (guint i = 0; chain && i < chain->len; i++) {
                g_autofree char *name = g_strdup_printf("%s chain[%u]", field, i);
                CertInfo *info = parse_one(db, chain->pdata[i], name, error);

                if (!info)
                        return NULL;
                g_ptr_array_add(candidate->chain, info);
        }
        /* The client offers certificates it holds the keys of. */
        candidate->has_private_key = TRUE;
        candidate_fix_pss(candidate);
        return g_steal_pointer(&candidate);
}

CertInfo *cert_db_parse(CertDb *db, GBytes *der, const char *field, GError **error) {
        return parse_one(db, der, field, error);
}
