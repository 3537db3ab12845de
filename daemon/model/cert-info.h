/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What certificate selection needs to know of a certificate: plain data, no NSS types. */
#pragma once

#include <glib.h>

typedef enum {
        CERT_KEY_UNKNOWN = 0,
        CERT_KEY_RSA,     /* rsaEncryption: RSA PKCS#1 v1.5 and RSA-PSS signatures */
        CERT_KEY_RSA_PSS, /* id-RSASSA-PSS: RSA-PSS signatures only */
        CERT_KEY_EC,
        CERT_KEY_ED25519,
        CERT_KEY_DSA,
        CERT_KEY_DH,
} CertKeyType;

typedef enum {
        CERT_CURVE_NONE = 0,
        CERT_CURVE_P256,
        CERT_CURVE_P384,
        CERT_CURVE_P521,
        CERT_CURVE_OTHER,
} CertCurve;

/* keyUsage bits as in RFC 5280 4.2.1.3, numbered from the first (most significant) bit:
 * digitalSignature is 1 << 0 here. */
#define CERT_KU_DIGITAL_SIGNATURE (1u << 0)
#define CERT_KU_NON_REPUDIATION   (1u << 1)
#define CERT_KU_KEY_ENCIPHERMENT  (1u << 2)
#define CERT_KU_DATA_ENCIPHERMENT (1u << 3)
#define CERT_KU_KEY_AGREEMENT     (1u << 4)
#define CERT_KU_KEY_CERT_SIGN     (1u << 5)
#define CERT_KU_CRL_SIGN          (1u << 6)

/* The attributes of a distinguished name that policies match on (Chromium's
 * AutoSelectCertificateForUrls filters: CN, L, O, OU). */
typedef struct {
        char *cn;   /* nullable: the first commonName */
        char *l;    /* nullable: the first localityName */
        GStrv o;    /* every organizationName, never NULL */
        GStrv ou;   /* every organizationalUnitName, never NULL */
} CertName;

typedef struct {
        char identity[65];       /* SHA-256 of the DER, lower-case hex */
        GBytes *der;
        char *subject;           /* RFC 4514 string, for people */
        char *issuer;
        GBytes *subject_der;     /* DER Name, compared byte for byte with CA names */
        GBytes *issuer_der;
        CertName subject_name;
        CertName issuer_name;
        char *nickname;          /* nullable */
        gint64 not_before;       /* Unix seconds */
        gint64 not_after;
        CertKeyType key_type;
        CertCurve curve;         /* CERT_KEY_EC only */
        guint key_bits;
        GBytes *dh_group;        /* CERT_KEY_DH only: DER of the domain parameters */
        gboolean has_key_usage;
        guint key_usage;         /* CERT_KU_* */
        gboolean has_eku;
        gboolean eku_client_auth;
        gboolean eku_any;
        gboolean eku_server_auth;
        gboolean is_ca;          /* basicConstraints cA */
        /* The algorithm this certificate is signed with, as a TLS SignatureScheme code
         * (0x0401 rsa_pkcs1_sha256, 0x0804 rsa_pss_rsae_sha256, 0x0809 rsa_pss_pss_sha256,
         * 0x0403 ecdsa_secp256r1_sha256, 0x0807 ed25519, 0x0402 dsa_sha256 (TLS 1.2),
         * ...), or 0 when it has none. */
        guint16 signed_with;
        /* Raw extension values (DER of extnValue's content) by dotted OID, for TLS 1.3
         * oid_filters: "2.5.29.15" keyUsage, "2.5.29.37" extendedKeyUsage. */
        GHashTable *extensions;  /* char* oid -> GBytes* */
} CertInfo;

/* A leaf and its chain (intermediates first, then the root when known). */
typedef struct {
        CertInfo *leaf;
        GPtrArray *chain;        /* CertInfo*, owned */
        gboolean has_private_key;
} Candidate;

/* The dotted form ("2.5.29.15") of an OID's DER contents octets (no tag, no length), or
 * NULL when they are not a well-formed OID (transfer full). */
char *cert_oid_to_dotted(const guint8 *oid, gsize len);

/* @text (nullable: "") as valid UTF-8 of at most TLSID_CERT_TEXT_MAX bytes: bytes that
 * are not UTF-8 become U+FFFD, and a longer text is cut at a character boundary and ends
 * in "..." (transfer full). What a certificate's subject, issuer or nickname shows as. */
char *cert_text(const char *text);

/* Frees @info; accepts NULL. */
void cert_info_free(CertInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CertInfo, cert_info_free)
/* Frees @candidate and its certificates; accepts NULL. */
void candidate_free(Candidate *candidate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Candidate, candidate_free)
