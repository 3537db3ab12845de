/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the eligibility rules (daemon/model/eligibility.c), one table row per case. */
#include <check.h>
#include <string.h>

#include "cert-fixture.h"
#include "certs.h"
#include "check-main.h"
#include "eligibility.h"

#define TLS12 0x0303
#define TLS13 0x0304

/* TLS 1.2 ClientCertificateType codes, shorter. */
#define RSA_SIGN CERT_TYPE_RSA_SIGN
#define DSS_SIGN CERT_TYPE_DSS_SIGN
#define ECDSA_SIGN CERT_TYPE_ECDSA_SIGN
#define RSA_FIXED_DH CERT_TYPE_RSA_FIXED_DH
#define DSS_FIXED_DH CERT_TYPE_DSS_FIXED_DH
#define RSA_FIXED_ECDH CERT_TYPE_RSA_FIXED_ECDH
#define ECDSA_FIXED_ECDH CERT_TYPE_ECDSA_FIXED_ECDH

/* Cipher suites. */
#define ECDH_RSA_AES128_SHA 0xc00e
#define ECDH_ECDSA_AES128_GCM 0xc02d
#define ECDHE_RSA_AES128_GCM 0xc02f

typedef enum {
        FILTER_NONE,
        FILTER_EKU_CLIENT_AUTH,
        FILTER_KU_DIGITAL_SIGNATURE,
        FILTER_KU_KEY_AGREEMENT,
        FILTER_UNKNOWN_OID,
} Filter;

typedef struct {
        const char *description;
        const char *leaf;       /* make-certs.sh name */
        const char *chain;      /* names, space-separated; NULL: none */
        gboolean no_key;        /* the candidate has no private key */
        guint16 tls_version;
        const char *ca_names;   /* names whose subject is listed; NULL: empty list */
        guint8 types[4];        /* 0-terminated */
        guint16 schemes[6];     /* 0-terminated */
        guint16 schemes_cert[4];
        const char *server;     /* name of the server's certificate */
        guint16 cipher_suite;
        Filter filter;
        const char *reason;     /* NULL: eligible; else a substring of the reason */
} Row;

static const Row rows[] = {
        /* Validity (RFC 5280 4.1.2.5) and the private key. */
        { "valid, empty request", "rsa", "inter root", .reason = NULL },
        { "expired", "expired", "inter root", .reason = "expired" },
        { "not yet valid", "not-yet-valid", "inter root", .reason = "not yet valid" },
        { "no private key", "rsa", "inter root", .no_key = TRUE, .reason = "private key" },

        /* keyUsage (RFC 5280 4.2.1.3). */
        { "TLS 1.3: keyAgreement only cannot sign", "ecdh256", .tls_version = TLS13,
          .reason = "keyUsage lacks digitalSignature" },
        { "TLS 1.2 ecdsa_sign: keyAgreement only cannot sign", "ecdh256", .tls_version = TLS12,
          .types = { ECDSA_SIGN }, .reason = "keyUsage lacks digitalSignature" },
        { "no keyUsage, no EKU: any use", "rsa-plain", .tls_version = TLS13 },
        { "nonRepudiation only: eligible, sorted last", "nonrep", .tls_version = TLS13 },
        { "fixed ECDH needs keyAgreement", "ec256", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_RSA_AES128_SHA, .reason = "keyUsage lacks keyAgreement" },

        /* extendedKeyUsage (RFC 5280 4.2.1.12). */
        { "serverAuth-only EKU", "server-auth", .reason = "extendedKeyUsage lacks clientAuth" },
        { "anyExtendedKeyUsage", "any-eku", .tls_version = TLS13 },

        /* CA names (RFC 5246 7.4.4, RFC 8446 4.2.4). */
        { "empty CA list allows any", "ecdh256-ec", .tls_version = TLS12,
          .types = { ECDSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_ECDSA_AES128_GCM },
        { "CA name: the leaf's issuer", "rsa", NULL, .ca_names = "inter" },
        { "CA name: the root above the intermediate", "rsa", "inter root", .ca_names = "root" },
        { "CA name: the root, chain without the intermediate", "rsa", NULL,
          .ca_names = "root", .reason = "ca_names" },
        { "CA name: another CA", "rsa", "inter root", .ca_names = "ec-ca dsa-ca",
          .reason = "ca_names" },
        { "CA name: one of several", "rsa", "inter root", .ca_names = "ec-ca root dsa-ca" },
        { "CA name: subject of a CA certificate only", "dsa", "inter", .ca_names = "inter" },
        { "CA name: subject of a non-CA certificate does not count", "ecdh256-ec", "rsa",
          .ca_names = "rsa", .reason = "ca_names" },

        /* TLS 1.2 certificate_types (RFC 5246 7.4.4, RFC 8422 5.5). */
        { "rsa_sign, RSA key", "rsa", .tls_version = TLS12, .types = { RSA_SIGN } },
        { "rsa_sign, RSA-PSS key", "rsa-pss", .tls_version = TLS12, .types = { RSA_SIGN } },
        { "rsa_sign, EC key", "ec256", .tls_version = TLS12, .types = { RSA_SIGN },
          .reason = "rsa_sign needs an RSA key" },
        { "dss_sign, DSA key", "dsa", "dsa-ca", .tls_version = TLS12, .types = { DSS_SIGN } },
        { "dss_sign, RSA key", "rsa", .tls_version = TLS12, .types = { DSS_SIGN },
          .reason = "dss_sign needs a DSA key" },
        { "ecdsa_sign, P-384 key", "ec384", .tls_version = TLS12, .types = { ECDSA_SIGN } },
        { "ecdsa_sign, Ed25519 key", "ed25519", .tls_version = TLS12,
          .types = { ECDSA_SIGN } },
        { "ecdsa_sign or rsa_sign, DSA key", "dsa", .tls_version = TLS12,
          .types = { ECDSA_SIGN, RSA_SIGN }, .reason = "ecdsa_sign needs an EC" },
        { "signing types only, DH key", "dh-rsa", .tls_version = TLS12,
          .types = { RSA_SIGN, ECDSA_SIGN }, .reason = "rsa_sign needs an RSA key" },
        { "rsa_fixed_dh, server's group", "dh-rsa", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-dh" },
        { "rsa_fixed_dh, another group", "dh-other", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-dh", .reason = "server's DH group" },
        { "rsa_fixed_dh, DSA-signed", "dh-dsa", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-dh",
          .reason = "rsa_fixed_dh needs an RSA-signed certificate" },
        { "dss_fixed_dh, DSA-signed", "dh-dsa", "dsa-ca", .tls_version = TLS12,
          .types = { DSS_FIXED_DH }, .server = "server-dh" },
        { "dss_fixed_dh, RSA-signed", "dh-rsa", .tls_version = TLS12,
          .types = { DSS_FIXED_DH }, .server = "server-dh",
          .reason = "dss_fixed_dh needs a DSA-signed certificate" },
        { "rsa_fixed_dh, server has an RSA key", "dh-rsa", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-rsa",
          .reason = "server's DH certificate" },
        { "rsa_fixed_dh, server certificate unknown", "dh-rsa", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .reason = "server's DH certificate" },
        { "rsa_fixed_dh, EC key", "ecdh256", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-dh", .reason = "needs a DH key" },
        { "rsa_fixed_ecdh, server's curve", "ecdh256", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_RSA_AES128_SHA },
        { "rsa_fixed_ecdh, wrong curve", "ecdh384", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_RSA_AES128_SHA, .reason = "server key's curve" },
        { "ecdsa_fixed_ecdh, wrong curve", "ecdh384", .tls_version = TLS12,
          .types = { ECDSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_ECDSA_AES128_GCM, .reason = "server key's curve" },
        { "rsa_fixed_ecdh, ECDHE suite", "ecdh256", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDHE_RSA_AES128_GCM, .reason = "fixed-ECDH cipher suite" },
        { "rsa_fixed_ecdh, suite unknown", "ecdh256", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-ec",
          .reason = "fixed-ECDH cipher suite" },
        { "rsa_fixed_ecdh, server has an RSA key", "ecdh256", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-rsa",
          .cipher_suite = ECDH_RSA_AES128_SHA, .reason = "server's EC certificate" },
        { "ecdsa_fixed_ecdh, ECDSA-signed", "ecdh256-ec", .tls_version = TLS12,
          .types = { ECDSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_ECDSA_AES128_GCM },
        { "ecdsa_fixed_ecdh, RSA-signed", "ecdh256", .tls_version = TLS12,
          .types = { ECDSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_ECDSA_AES128_GCM,
          .reason = "ecdsa_fixed_ecdh needs an ECDSA-signed certificate" },
        { "rsa_fixed_ecdh, ECDSA-signed", "ecdh256-ec", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH }, .server = "server-ec",
          .cipher_suite = ECDH_RSA_AES128_SHA,
          .reason = "rsa_fixed_ecdh needs an RSA-signed certificate" },
        { "signing and fixed types, signing key", "ec256", .tls_version = TLS12,
          .types = { RSA_FIXED_ECDH, ECDSA_SIGN }, .server = "server-ec",
          .cipher_suite = ECDH_RSA_AES128_SHA },
        { "TLS 1.3 has no certificate types", "rsa", .tls_version = TLS13,
          .types = { ECDSA_SIGN } },
        { "TLS 1.3: a DH key cannot sign", "dh-rsa", .tls_version = TLS13,
          .reason = "cannot sign" },

        /* signature_schemes (RFC 5246 7.4.1.4.1, RFC 8446 4.2.3). */
        { "TLS 1.3, only rsa_pkcs1 offered", "rsa", "inter", .tls_version = TLS13,
          .schemes = { 0x0401, 0x0501, 0x0601 }, .reason = "rsa_pkcs1" },
        { "TLS 1.2, rsa_pkcs1_sha256", "rsa", "inter", .tls_version = TLS12,
          .schemes = { 0x0401 } },
        { "TLS 1.3, rsa_pss_rsae and rsa_pkcs1 for the chain", "rsa", "inter root",
          .tls_version = TLS13, .schemes = { 0x0804, 0x0401 } },
        { "TLS 1.3, chain signed with an unlisted scheme", "rsa", "inter",
          .tls_version = TLS13, .schemes = { 0x0804 },
          .reason = "signature_schemes: a certificate of the chain" },
        { "TLS 1.3, signature_schemes_cert lists the chain's", "rsa", "inter",
          .tls_version = TLS13, .schemes = { 0x0804 }, .schemes_cert = { 0x0401 } },
        { "TLS 1.3, signature_schemes_cert replaces signature_schemes", "rsa", "inter",
          .tls_version = TLS13, .schemes = { 0x0804, 0x0401 }, .schemes_cert = { 0x0403 },
          .reason = "signature_schemes_cert" },
        { "TLS 1.2 ignores signature_schemes_cert", "rsa", "inter", .tls_version = TLS12,
          .schemes = { 0x0401 }, .schemes_cert = { 0x0403 } },
        { "self-signed root's signature not checked", "rsa", "inter root",
          .tls_version = TLS12, .schemes = { 0x0401 } },
        { "RSA-PSS key cannot make rsa_pss_rsae", "rsa-pss", .tls_version = TLS13,
          .schemes = { 0x0804, 0x0401 }, .reason = "none of them" },
        { "RSA-PSS key makes rsa_pss_pss", "rsa-pss", .tls_version = TLS13,
          .schemes = { 0x0809, 0x0804 } },
        { "RSA key cannot make rsa_pss_pss", "rsa", .tls_version = TLS12,
          .schemes = { 0x0809, 0x0403 }, .reason = "none of them" },
        { "signed by a PSS key: rsa_pss_pss, not rsae", "rsa-by-pss", "pss-ca",
          .tls_version = TLS13, .schemes = { 0x0804 }, .reason = "a certificate of the chain" },
        { "signed by a PSS key, rsa_pss_pss listed", "rsa-by-pss", "pss-ca",
          .tls_version = TLS13, .schemes = { 0x0804 }, .schemes_cert = { 0x0809 } },
        { "TLS 1.3, P-256 key, only the P-384 scheme", "ec256", .tls_version = TLS13,
          .schemes = { 0x0503, 0x0401 }, .reason = "none of them" },
        { "TLS 1.2, P-256 key, ecdsa with SHA-384", "ec256", .tls_version = TLS12,
          .schemes = { 0x0503, 0x0401 } },
        { "TLS 1.3, P-384 key", "ec384", .tls_version = TLS13, .schemes = { 0x0503, 0x0401 } },
        { "TLS 1.3, Ed25519", "ed25519", .tls_version = TLS13, .schemes = { 0x0807, 0x0401 } },
        { "TLS 1.3, Ed25519 without ed25519", "ed25519", .tls_version = TLS13,
          .schemes = { 0x0403, 0x0804, 0x0401 }, .reason = "none of them" },
        { "TLS 1.2, DSA", "dsa", "dsa-ca", .tls_version = TLS12, .schemes = { 0x0402 } },
        { "TLS 1.3, DSA", "dsa", "dsa-ca", .tls_version = TLS13, .schemes = { 0x0402 },
          .reason = "DSA" },
        { "fixed DH: the key signs nothing, the chain counts", "dh-rsa", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-dh", .schemes = { 0x0401 } },
        { "fixed DH, chain signed with an unlisted scheme", "dh-rsa", .tls_version = TLS12,
          .types = { RSA_FIXED_DH }, .server = "server-dh", .schemes = { 0x0403 },
          .reason = "a certificate of the chain" },

        /* oid_filters (RFC 8446 4.2.5). */
        { "oid_filters: clientAuth", "rsa", .tls_version = TLS13,
          .filter = FILTER_EKU_CLIENT_AUTH },
        { "oid_filters: clientAuth, no EKU", "rsa-plain", .tls_version = TLS13,
          .filter = FILTER_EKU_CLIENT_AUTH, .reason = "extendedKeyUsage lacks a required" },
        { "oid_filters: clientAuth, anyExtendedKeyUsage", "any-eku", .tls_version = TLS13,
          .filter = FILTER_EKU_CLIENT_AUTH, .reason = "extendedKeyUsage lacks a required" },
        { "oid_filters: digitalSignature", "rsa", .tls_version = TLS13,
          .filter = FILTER_KU_DIGITAL_SIGNATURE },
        { "oid_filters: keyAgreement", "rsa", .tls_version = TLS13,
          .filter = FILTER_KU_KEY_AGREEMENT, .reason = "keyUsage lacks a required bit" },
        { "oid_filters: unknown OID skipped", "rsa", .tls_version = TLS13,
          .filter = FILTER_UNKNOWN_OID },
        { "oid_filters: only under TLS 1.3", "rsa-plain", .tls_version = TLS12,
          .filter = FILTER_EKU_CLIENT_AUTH },
};

static CertDb *db;

static void setup(void) {
        g_autoptr(GError) error = NULL;

        db = cert_db_open(NULL, &error);
        ck_assert_msg(db, "%s", error ? error->message : "?");
}

static void teardown(void) {
        g_clear_pointer(&db, cert_db_free);
}

static gint64 now(void) {
        return g_get_real_time() / G_USEC_PER_SEC;
}

static void add_filter(CertRequest *request, Filter filter) {
        static const guint8 eku_oid[] = { 0x55, 0x1d, 0x25 };
        static const guint8 ku_oid[] = { 0x55, 0x1d, 0x0f };
        static const guint8 unknown_oid[] = { 0x2a, 0x03, 0x04 };
        static const guint8 client_auth[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01,
                                              0x05, 0x05, 0x07, 0x03, 0x02 };
        static const guint8 digital_signature[] = { 0x03, 0x02, 0x07, 0x80 };
        static const guint8 key_agreement[] = { 0x03, 0x02, 0x03, 0x08 };
        static const guint8 null[] = { 0x05, 0x00 };
        const guint8 *oid, *values;
        gsize oid_len, values_len;
        g_autoptr(GBytes) oid_bytes = NULL, values_bytes = NULL;

        switch (filter) {
        case FILTER_NONE:
                return;
        case FILTER_EKU_CLIENT_AUTH:
                oid = eku_oid, oid_len = sizeof eku_oid;
                values = client_auth, values_len = sizeof client_auth;
                break;
        case FILTER_KU_DIGITAL_SIGNATURE:
                oid = ku_oid, oid_len = sizeof ku_oid;
                values = digital_signature, values_len = sizeof digital_signature;
                break;
        case FILTER_KU_KEY_AGREEMENT:
                oid = ku_oid, oid_len = sizeof ku_oid;
                values = key_agreement, values_len = sizeof key_agreement;
                break;
        default:
                oid = unknown_oid, oid_len = sizeof unknown_oid;
                values = null, values_len = sizeof null;
                break;
        }
        oid_bytes = g_bytes_new_static(oid, oid_len);
        values_bytes = g_bytes_new_static(values, values_len);
        g_ptr_array_add(request->oid_filters, cert_oid_filter_new(oid_bytes, values_bytes));
}

static CertRequest *request_of(const Row *row) {
        CertRequest *request = cert_request_new();
        g_auto(GStrv) names = g_strsplit(row->ca_names ? row->ca_names : "", " ", -1);

        request->tls_version = row->tls_version;
        for (guint i = 0; names[i]; i++) {
                g_autoptr(Candidate) ca = NULL;

                if (!*names[i])
                        continue;
                ca = cert_fixture_candidate(db, names[i], NULL);
                g_ptr_array_add(request->ca_names, g_bytes_ref(ca->leaf->subject_der));
        }
        for (guint i = 0; i < G_N_ELEMENTS(row->types) && row->types[i]; i++)
                g_byte_array_append(request->certificate_types, &row->types[i], 1);
        for (guint i = 0; i < G_N_ELEMENTS(row->schemes) && row->schemes[i]; i++)
                g_array_append_val(request->signature_schemes, row->schemes[i]);
        for (guint i = 0; i < G_N_ELEMENTS(row->schemes_cert) && row->schemes_cert[i]; i++)
                g_array_append_val(request->signature_schemes_cert, row->schemes_cert[i]);
        if (row->server) {
                g_autoptr(Candidate) server = cert_fixture_candidate(db, row->server, NULL);

                request->server_certificate = g_steal_pointer(&server->leaf);
        }
        request->cipher_suite = row->cipher_suite;
        add_filter(request, row->filter);
        return request;
}

START_TEST(test_eligibility_rule) {
        const Row *row = &rows[_i];
        g_autoptr(CertRequest) request = request_of(row);
        g_autoptr(Candidate) candidate = cert_fixture_candidate(db, row->leaf, row->chain);
        const char *reason = "(unset)";
        gboolean eligible;

        if (row->no_key)
                candidate->has_private_key = FALSE;
        eligible = cert_eligible(request, candidate, now(), &reason);
        if (!row->reason) {
                ck_assert_msg(eligible, "\"%s\": refused: %s", row->description, reason);
                ck_assert_ptr_null(reason);
        } else {
                ck_assert_msg(!eligible, "\"%s\": eligible", row->description);
                ck_assert_msg(reason && strstr(reason, row->reason),
                              "\"%s\": reason \"%s\" lacks \"%s\"", row->description, reason,
                              row->reason);
        }
}
END_TEST

/* Parses each name of @names into @candidates, under the intermediate. */
static GPtrArray *candidates_of(const char *const *names) {
        GPtrArray *candidates = g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);

        for (guint i = 0; names[i]; i++)
                g_ptr_array_add(candidates, cert_fixture_candidate(db, names[i], "inter"));
        return candidates;
}

static void assert_order(GPtrArray *selected, const char *const *expected) {
        guint n = g_strv_length((char **) expected);

        for (guint i = 0; i < selected->len && i < n; i++) {
                const Candidate *c = selected->pdata[i];
                g_autofree char *cn = g_strconcat(expected[i], " client", NULL);

                ck_assert_msg(g_strcmp0(c->leaf->subject_name.cn, cn) == 0,
                              "position %u: \"%s\", not \"%s\"", i, c->leaf->subject_name.cn,
                              cn);
        }
        ck_assert_uint_eq(selected->len, n);
}

START_TEST(test_eligibility_order_newest_first) {
        static const char *const names[] = { "nonrep", "older", "expired", "rsa", "newer",
                                             NULL };
        static const char *const expected[] = { "rsa", "newer", "older", "nonrep", NULL };
        g_autoptr(GPtrArray) candidates = candidates_of(names);
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) selected = cert_select_eligible(request, candidates, now());

        assert_order(selected, expected);
        /* The candidates stay owned by the caller's array. */
        ck_assert_uint_eq(candidates->len, 5);
}
END_TEST

START_TEST(test_eligibility_order_signing_before_fixed) {
        static const char *const names[] = { "ecdh256", "nonrep", "older", "ec256", "dh-rsa",
                                             NULL };
        static const char *const expected[] = { "ec256", "older", "nonrep", "ecdh256", NULL };
        static const guint8 types[] = { RSA_FIXED_ECDH, ECDSA_SIGN, RSA_SIGN };
        g_autoptr(GPtrArray) candidates = candidates_of(names);
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) selected = NULL;
        g_autoptr(Candidate) server = cert_fixture_candidate(db, "server-ec", NULL);

        request->tls_version = TLS12;
        g_byte_array_append(request->certificate_types, types, sizeof types);
        request->server_certificate = g_steal_pointer(&server->leaf);
        request->cipher_suite = ECDH_RSA_AES128_SHA;
        selected = cert_select_eligible(request, candidates, now());
        assert_order(selected, expected);
}
END_TEST

START_TEST(test_eligibility_nothing_eligible) {
        static const char *const names[] = { "expired", "server-auth", NULL };
        g_autoptr(GPtrArray) candidates = candidates_of(names);
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) selected = cert_select_eligible(request, candidates, now());

        ck_assert_uint_eq(selected->len, 0);
}
END_TEST

START_TEST(test_eligibility_validity_bounds) {
        g_autoptr(Candidate) c = cert_fixture_candidate(db, "rsa", NULL);
        g_autoptr(CertRequest) request = cert_request_new();
        const char *reason = NULL;

        /* Both bounds are inclusive (RFC 5280 4.1.2.5). */
        ck_assert(cert_eligible(request, c, c->leaf->not_before, NULL));
        ck_assert(cert_eligible(request, c, c->leaf->not_after, NULL));
        ck_assert(!cert_eligible(request, c, c->leaf->not_before - 1, &reason));
        ck_assert_str_eq(reason, "not yet valid");
        ck_assert(!cert_eligible(request, c, c->leaf->not_after + 1, &reason));
        ck_assert_str_eq(reason, "expired");
}
END_TEST

START_TEST(test_eligibility_fixed_ecdh_suites) {
        static const guint16 fixed[] = { 0xc001, 0xc005, 0xc00b, 0xc00f, 0xc025,
                                         0xc026, 0xc029, 0xc02a, 0xc02d, 0xc032 };
        /* ECDHE_ECDSA, ECDHE_RSA, ECDH_anon, TLS 1.3 and RSA suites. */
        static const guint16 other[] = { 0xc006, 0xc009, 0xc010, 0xc013, 0xc015,
                                         0xc02b, 0xc02f, 0x1301, 0x002f, 0x0000 };

        for (gsize i = 0; i < G_N_ELEMENTS(fixed); i++)
                ck_assert_msg(cert_cipher_suite_is_fixed_ecdh(fixed[i]), "0x%04x", fixed[i]);
        for (gsize i = 0; i < G_N_ELEMENTS(other); i++)
                ck_assert_msg(!cert_cipher_suite_is_fixed_ecdh(other[i]), "0x%04x", other[i]);
}
END_TEST

static Suite *eligibility_suite(void) {
        Suite *s = suite_create("eligibility");
        TCase *tc = tcase_create("rules");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, test_eligibility_rule, 0, G_N_ELEMENTS(rows));
        tcase_add_test(tc, test_eligibility_validity_bounds);
        tcase_add_test(tc, test_eligibility_fixed_ecdh_suites);
        suite_add_tcase(s, tc);

        tc = tcase_create("ordering");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_eligibility_order_newest_first);
        tcase_add_test(tc, test_eligibility_order_signing_before_fixed);
        tcase_add_test(tc, test_eligibility_nothing_eligible);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        cert_fixture_make();
        status = test_run_suite(eligibility_suite(), CK_FORK_GETENV);
        cert_fixture_remove();
        return status;
}
