/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which certificates a CertificateRequest allows, rule by rule (docs/certificate-selection.md).
 * No D-Bus and no NSS: it works on CertInfo. */
#pragma once

#include <glib.h>

#include "cert-info.h"

/* TLS 1.2 ClientCertificateType codes (RFC 5246 7.4.4, RFC 8422 5.5). */
enum {
        CERT_TYPE_RSA_SIGN = 1,
        CERT_TYPE_DSS_SIGN = 2,
        CERT_TYPE_RSA_FIXED_DH = 3,
        CERT_TYPE_DSS_FIXED_DH = 4,
        CERT_TYPE_ECDSA_SIGN = 64,
        CERT_TYPE_RSA_FIXED_ECDH = 65,
        CERT_TYPE_ECDSA_FIXED_ECDH = 66,
};

typedef struct {
        GBytes *oid;     /* DER of the OID (contents octets) */
        GBytes *values;  /* DER of the required extension value */
} CertOidFilter;

/* A filter holding references to @oid and @values. */
CertOidFilter *cert_oid_filter_new(GBytes *oid, GBytes *values);
void cert_oid_filter_free(CertOidFilter *filter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CertOidFilter, cert_oid_filter_free)

typedef struct {
        guint16 tls_version;            /* 0x0303, 0x0304; 0 when unknown */
        GPtrArray *ca_names;            /* GBytes* DER Names; empty: any */
        GByteArray *certificate_types;  /* TLS 1.2 codes; empty: not given */
        GArray *signature_schemes;      /* guint16; empty: not given */
        GArray *signature_schemes_cert; /* guint16; empty: not given */
        GPtrArray *oid_filters;         /* CertOidFilter*, owned */
        CertInfo *server_certificate;   /* nullable, owned */
        guint16 cipher_suite;           /* 0 when unknown */
        gboolean post_handshake;        /* a TLS 1.3 post-handshake CertificateRequest */
        gboolean renegotiation;         /* a TLS 1.2 renegotiation's */
        /* The generation of the partition the connection was attached under; 0 when the
         * caller did not say (selection_select() then binds nothing). */
        guint32 generation;
        /* Not the server's but the caller's: how long it may wait for a person's answer
         * through an agent when the decision is "ask" (milliseconds; 0: not at all). */
        guint32 interactive_timeout_ms;
} CertRequest;

/* An empty request (any certificate); its arrays exist, empty, and free what they hold. */
CertRequest *cert_request_new(void);
/* Frees @request with its arrays and server certificate; accepts NULL. */
void cert_request_free(CertRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CertRequest, cert_request_free)

/* Whether @request allows @candidate at @now. When it does not, @ret_reason (nullable)
 * says which rule refused it (static string). */
gboolean cert_eligible(const CertRequest *request, const Candidate *candidate, gint64 now,
                       const char **ret_reason);

/* Whether @cipher_suite is a fixed-ECDH suite (TLS_ECDH_ECDSA_* or TLS_ECDH_RSA_*). */
gboolean cert_cipher_suite_is_fixed_ecdh(guint16 cipher_suite);

/* The candidates @request allows, best first (transfer container: the Candidate* stay
 * owned by @candidates). */
GPtrArray *cert_select_eligible(const CertRequest *request, GPtrArray *candidates, gint64 now);
