/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the NSS certificate layer (daemon/certs/certs.c, daemon/model/cert-info.c). */
#include <check.h>
#include <string.h>

#include "cert-fixture.h"
#include "certs.h"
#include "check-main.h"
#include "store.h"

static CertDb *db;

/* A CertDb with no database: parsing only. */
static void setup(void) {
        g_autoptr(GError) error = NULL;

        db = cert_db_open(NULL, &error);
        ck_assert_msg(db, "%s", error ? error->message : "?");
}

/* A CertDb on make-certs.sh's NSS database. */
static void setup_db(void) {
        g_autofree char *dir = g_strconcat("sql:", cert_fixture_dir, "/nssdb", NULL);
        g_autoptr(GError) error = NULL;

        db = cert_db_open(dir, &error);
        ck_assert_msg(db, "%s", error ? error->message : "?");
}

static void teardown(void) {
        g_clear_pointer(&db, cert_db_free);
}

static CertInfo *parse(const char *name) {
        g_autoptr(GBytes) der = cert_fixture_der(name);
        g_autoptr(GError) error = NULL;
        CertInfo *info = cert_db_parse(db, der, name, &error);

        ck_assert_msg(info, "%s: %s", name, error ? error->message : "?");
        return info;
}

static gint64 unix_time(int year, int month, int day) {
        g_autoptr(GDateTime) t = g_date_time_new_utc(year, month, day, 0, 0, 0);

        return g_date_time_to_unix(t);
}

START_TEST(test_certs_parse_rsa) {
        g_autoptr(CertInfo) rsa = parse("rsa");
        g_autoptr(CertInfo) inter = parse("inter");
        g_autofree char *identity = cert_fixture_identity("rsa");
        g_autoptr(GBytes) der = cert_fixture_der("rsa");

        ck_assert_str_eq(rsa->identity, identity);
        ck_assert(g_bytes_equal(rsa->der, der));
        ck_assert_str_eq(rsa->subject,
                         "CN=rsa client,OU=Testers,OU=People,O=tlsid test,L=Paris");
        ck_assert_str_eq(rsa->issuer,
                         "CN=tlsid Test Intermediate CA,OU=Intermediates,O=tlsid test");
        ck_assert(g_bytes_equal(rsa->issuer_der, inter->subject_der));
        ck_assert(!g_bytes_equal(rsa->subject_der, inter->subject_der));
        ck_assert_str_eq(rsa->subject_name.cn, "rsa client");
        ck_assert_str_eq(rsa->subject_name.l, "Paris");
        ck_assert_uint_eq(g_strv_length(rsa->subject_name.o), 1);
        ck_assert_str_eq(rsa->subject_name.o[0], "tlsid test");
        ck_assert_uint_eq(g_strv_length(rsa->subject_name.ou), 2);
        ck_assert_str_eq(rsa->subject_name.ou[0], "People");
        ck_assert_str_eq(rsa->subject_name.ou[1], "Testers");
        ck_assert_str_eq(rsa->issuer_name.cn, "tlsid Test Intermediate CA");
        ck_assert_ptr_null(rsa->issuer_name.l);
        ck_assert_str_eq(rsa->issuer_name.ou[0], "Intermediates");
        ck_assert_int_eq(rsa->not_after - rsa->not_before, 3650 * 24 * 3600);
        ck_assert_int_eq(rsa->key_type, CERT_KEY_RSA);
        ck_assert_uint_eq(rsa->key_bits, 2048);
        ck_assert(rsa->has_key_usage);
        ck_assert_uint_eq(rsa->key_usage, CERT_KU_DIGITAL_SIGNATURE);
        ck_assert(rsa->has_eku);
        ck_assert(rsa->eku_client_auth);
        ck_assert(!rsa->eku_server_auth);
        ck_assert(!rsa->eku_any);
        ck_assert(!rsa->is_ca);
        ck_assert(inter->is_ca);
        ck_assert_uint_eq(rsa->signed_with, 0x0401);
        ck_assert_ptr_null(rsa->nickname);
}
END_TEST

START_TEST(test_certs_extensions_table) {
        g_autoptr(CertInfo) rsa = parse("rsa");
        GBytes *ku = g_hash_table_lookup(rsa->extensions, "2.5.29.15");
        GBytes *eku = g_hash_table_lookup(rsa->extensions, "2.5.29.37");
        /* BIT STRING digitalSignature; SEQUENCE { id-kp-clientAuth } */
        static const guint8 ku_der[] = { 0x03, 0x02, 0x07, 0x80 };
        static const guint8 eku_der[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01,
                                          0x05, 0x05, 0x07, 0x03, 0x02 };
        g_autoptr(GBytes) ku_want = g_bytes_new_static(ku_der, sizeof ku_der);
        g_autoptr(GBytes) eku_want = g_bytes_new_static(eku_der, sizeof eku_der);

        ck_assert_ptr_nonnull(ku);
        ck_assert_ptr_nonnull(eku);
        ck_assert(g_bytes_equal(ku, ku_want));
        ck_assert(g_bytes_equal(eku, eku_want));
        /* basicConstraints, and the key identifiers openssl adds. */
        ck_assert(g_hash_table_contains(rsa->extensions, "2.5.29.19"));
        ck_assert(g_hash_table_contains(rsa->extensions, "2.5.29.14"));
        ck_assert(g_hash_table_contains(rsa->extensions, "2.5.29.35"));
        ck_assert_uint_eq(g_hash_table_size(rsa->extensions), 5);
}
END_TEST

static const struct {
        const char *name;
        CertKeyType key_type;
        CertCurve curve;
        guint bits;
} key_rows[] = {
        { "rsa", CERT_KEY_RSA, CERT_CURVE_NONE, 2048 },
        { "rsa-pss", CERT_KEY_RSA_PSS, CERT_CURVE_NONE, 2048 },
        { "ec256", CERT_KEY_EC, CERT_CURVE_P256, 256 },
        { "ec384", CERT_KEY_EC, CERT_CURVE_P384, 384 },
        { "ed25519", CERT_KEY_ED25519, CERT_CURVE_NONE, 256 },
        { "dsa", CERT_KEY_DSA, CERT_CURVE_NONE, 2048 },
        { "dh-rsa", CERT_KEY_DH, CERT_CURVE_NONE, 2048 },
        { "dh-other", CERT_KEY_DH, CERT_CURVE_NONE, 2048 },
};

START_TEST(test_certs_key_types) {
        g_autoptr(CertInfo) info = parse(key_rows[_i].name);

        ck_assert_msg(info->key_type == key_rows[_i].key_type, "%s: key type %d",
                      key_rows[_i].name, info->key_type);
        ck_assert_msg(info->curve == key_rows[_i].curve, "%s: curve %d", key_rows[_i].name,
                      info->curve);
        ck_assert_msg(info->key_bits == key_rows[_i].bits, "%s: %u bits", key_rows[_i].name,
                      info->key_bits);
        ck_assert_msg((info->dh_group != NULL) == (info->key_type == CERT_KEY_DH),
                      "%s: dh_group", key_rows[_i].name);
}
END_TEST

START_TEST(test_certs_dh_groups) {
        g_autoptr(CertInfo) dh_rsa = parse("dh-rsa");
        g_autoptr(CertInfo) dh_dsa = parse("dh-dsa");
        g_autoptr(CertInfo) server = parse("server-dh");
        g_autoptr(CertInfo) other = parse("dh-other");
        gsize len = 0;
        const guint8 *group = g_bytes_get_data(dh_rsa->dh_group, &len);

        ck_assert(g_bytes_equal(dh_rsa->dh_group, server->dh_group));
        ck_assert(g_bytes_equal(dh_dsa->dh_group, server->dh_group));
        ck_assert(!g_bytes_equal(other->dh_group, server->dh_group));
        /* SEQUENCE { INTEGER p (2048 bits and a zero octet), INTEGER 2 } */
        ck_assert_uint_eq(len, 4 + 4 + 257 + 3);
        ck_assert_uint_eq(group[0], 0x30);
        ck_assert_uint_eq(group[4], 0x02);
        ck_assert_uint_eq(group[len - 3], 0x02);
        ck_assert_uint_eq(group[len - 1], 0x02);
}
END_TEST

static const struct {
        const char *name;
        const char *chain;
        guint16 signed_with;
} signed_rows[] = {
        { "rsa", NULL, 0x0401 },         /* sha256WithRSAEncryption */
        { "root", NULL, 0x0501 },        /* sha384WithRSAEncryption */
        { "rsa-pss", NULL, 0x0804 },     /* RSASSA-PSS by an rsaEncryption key */
        { "rsa-pss", "inter", 0x0804 },
        { "pss-ca", NULL, 0x0809 },      /* self-signed by an id-RSASSA-PSS key */
        { "rsa-by-pss", NULL, 0x0804 },  /* issuer unknown: taken as rsaEncryption */
        { "rsa-by-pss", "pss-ca", 0x0809 },
        { "ecdh256-ec", NULL, 0x0403 },  /* ecdsa-with-SHA256 */
        { "ecdh384", NULL, 0x0503 },     /* ecdsa-with-SHA384 */
        { "ed25519-ca", NULL, 0x0807 },  /* Ed25519 */
        { "dsa", NULL, 0x0402 },         /* dsa-with-SHA256 */
        { "dh-dsa", "dsa-ca", 0x0402 },
};

START_TEST(test_certs_signed_with) {
        g_autoptr(Candidate) c =
                cert_fixture_candidate(db, signed_rows[_i].name, signed_rows[_i].chain);

        ck_assert_msg(c->leaf->signed_with == signed_rows[_i].signed_with,
                      "%s (chain %s): 0x%04x", signed_rows[_i].name,
                      signed_rows[_i].chain ? signed_rows[_i].chain : "none",
                      c->leaf->signed_with);
}
END_TEST

START_TEST(test_certs_usages) {
        g_autoptr(CertInfo) nonrep = parse("nonrep");
        g_autoptr(CertInfo) ecdh = parse("ecdh256");
        g_autoptr(CertInfo) server_auth = parse("server-auth");
        g_autoptr(CertInfo) any = parse("any-eku");
        g_autoptr(CertInfo) plain = parse("rsa-plain");
        g_autoptr(CertInfo) root = parse("root");
        g_autoptr(CertInfo) server = parse("server-rsa");

        ck_assert_uint_eq(nonrep->key_usage, CERT_KU_NON_REPUDIATION);
        ck_assert_uint_eq(ecdh->key_usage, CERT_KU_KEY_AGREEMENT);
        ck_assert(server_auth->has_eku && server_auth->eku_server_auth);
        ck_assert(!server_auth->eku_client_auth);
        ck_assert(any->has_eku && any->eku_any && !any->eku_client_auth);
        ck_assert(!plain->has_key_usage);
        ck_assert(!plain->has_eku);
        ck_assert(!plain->is_ca);
        ck_assert(root->is_ca);
        ck_assert_uint_eq(root->key_usage, CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN);
        ck_assert_uint_eq(server->key_usage, CERT_KU_DIGITAL_SIGNATURE |
                                                     CERT_KU_KEY_ENCIPHERMENT |
                                                     CERT_KU_KEY_AGREEMENT);
}
END_TEST

START_TEST(test_certs_validity) {
        g_autoptr(CertInfo) expired = parse("expired");
        g_autoptr(CertInfo) future = parse("not-yet-valid");

        ck_assert_int_eq(expired->not_before, unix_time(2010, 1, 1));
        ck_assert_int_eq(expired->not_after, unix_time(2011, 1, 1));
        ck_assert_int_eq(future->not_before, unix_time(2090, 1, 1));
        ck_assert_int_eq(future->not_after, unix_time(2091, 1, 1));
}
END_TEST

START_TEST(test_certs_candidate_chain) {
        g_autoptr(Candidate) c = cert_fixture_candidate(db, "rsa", "inter root");
        CertInfo *inter, *root;

        ck_assert_uint_eq(c->chain->len, 2);
        inter = c->chain->pdata[0];
        root = c->chain->pdata[1];
        ck_assert_str_eq(inter->subject_name.cn, "tlsid Test Intermediate CA");
        ck_assert_str_eq(root->subject_name.cn, "tlsid Test Root CA");
        ck_assert(g_bytes_equal(root->subject_der, root->issuer_der));
        ck_assert(c->has_private_key);
}
END_TEST

START_TEST(test_certs_bad_der) {
        static const guint8 junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
        g_autoptr(GBytes) bad = g_bytes_new_static(junk, sizeof junk);
        g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
        g_autoptr(GBytes) leaf = cert_fixture_der("rsa");
        g_autoptr(GBytes) inter = cert_fixture_der("inter");
        g_autoptr(GPtrArray) chain = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *huge_data = g_malloc0(TLSID_CERTIFICATE_MAX + 1);
        g_autoptr(GBytes) huge = g_bytes_new_take(g_steal_pointer(&huge_data),
                                                  TLSID_CERTIFICATE_MAX + 1);

        ck_assert_ptr_null(cert_db_parse(db, bad, "server_certificate", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        ck_assert_msg(strstr(error->message, "server_certificate"), "%s", error->message);
        g_clear_error(&error);

        ck_assert_ptr_null(cert_db_parse(db, empty, "server_certificate", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        g_clear_error(&error);

        ck_assert_ptr_null(cert_db_parse(db, huge, "candidates[0]", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        g_clear_error(&error);

        ck_assert_ptr_null(cert_db_parse_candidate(db, bad, NULL, "candidates[2]", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        ck_assert_msg(strstr(error->message, "candidates[2]:"), "%s", error->message);
        g_clear_error(&error);

        g_ptr_array_add(chain, inter);
        g_ptr_array_add(chain, bad);
        ck_assert_ptr_null(cert_db_parse_candidate(db, leaf, chain, "candidates[0]", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        ck_assert_msg(strstr(error->message, "candidates[0] chain[1]"), "%s", error->message);
        g_clear_error(&error);

        g_ptr_array_set_size(chain, 0);
        for (guint i = 0; i <= TLSID_CHAIN_MAX; i++)
                g_ptr_array_add(chain, inter);
        ck_assert_ptr_null(cert_db_parse_candidate(db, leaf, chain, "candidates[0]", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        ck_assert_msg(strstr(error->message, "at most"), "%s", error->message);
}
END_TEST

START_TEST(test_certs_list_user) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) certs = cert_db_list_user(db, &error);
        g_autofree char *rsa_id = cert_fixture_identity("rsa");
        g_autofree char *ec_id = cert_fixture_identity("ec256");
        g_autofree char *inter_id = cert_fixture_identity("inter");
        g_autofree char *root_id = cert_fixture_identity("root");

        ck_assert_msg(certs, "%s", error ? error->message : "?");
        /* The CA certificates have no key: only the two user certificates, by nickname. */
        ck_assert_uint_eq(certs->len, 2);
        for (guint i = 0; i < 2; i++) {
                Candidate *c = certs->pdata[i];
                CertInfo *inter, *root;

                ck_assert_str_eq(c->leaf->nickname, i == 0 ? "ec256 client" : "rsa client");
                ck_assert_str_eq(c->leaf->identity, i == 0 ? ec_id : rsa_id);
                ck_assert(c->has_private_key);
                ck_assert_uint_eq(c->chain->len, 2);
                inter = c->chain->pdata[0];
                root = c->chain->pdata[1];
                ck_assert_str_eq(inter->identity, inter_id);
                ck_assert_str_eq(root->identity, root_id);
                ck_assert_str_eq(inter->nickname, "tlsid Test Intermediate CA");
                ck_assert_str_eq(root->nickname, "tlsid Test Root CA");
        }
        ck_assert_int_eq(((Candidate *) certs->pdata[0])->leaf->key_type, CERT_KEY_EC);
}
END_TEST

START_TEST(test_certs_find) {
        g_autofree char *rsa_id = cert_fixture_identity("rsa");
        g_autofree char *root_id = cert_fixture_identity("root");
        g_autofree char *ec384_id = cert_fixture_identity("ec384");
        g_autoptr(Candidate) rsa = cert_db_find(db, rsa_id);

        ck_assert_ptr_nonnull(rsa);
        ck_assert_str_eq(rsa->leaf->nickname, "rsa client");
        ck_assert_str_eq(rsa->leaf->identity, rsa_id);
        ck_assert_uint_eq(rsa->chain->len, 2);
        /* In the database without a key; not in the database at all. */
        ck_assert_ptr_null(cert_db_find(db, root_id));
        ck_assert_ptr_null(cert_db_find(db, ec384_id));
}
END_TEST

START_TEST(test_certs_parse_known_to_db) {
        g_autoptr(GBytes) der = cert_fixture_der("rsa");
        g_autoptr(GError) error = NULL;
        g_autoptr(CertInfo) rsa = cert_db_parse(db, der, "candidates[0]", &error);
        g_autoptr(GPtrArray) certs = NULL;

        /* A client's copy of a database certificate keeps its nickname, and parsing it
         * writes nothing to the database. */
        ck_assert_ptr_nonnull(rsa);
        ck_assert_str_eq(rsa->nickname, "rsa client");
        certs = cert_db_list_user(db, &error);
        ck_assert_ptr_nonnull(certs);
        ck_assert_uint_eq(certs->len, 2);
}
END_TEST

START_TEST(test_certs_no_db) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) certs = cert_db_list_user(db, &error);
        g_autofree char *rsa_id = cert_fixture_identity("rsa");

        ck_assert_ptr_nonnull(certs);
        ck_assert_uint_eq(certs->len, 0);
        ck_assert_ptr_null(cert_db_find(db, rsa_id));
}
END_TEST

START_TEST(test_certs_open_missing_db) {
        g_autofree char *dir = g_strconcat("sql:", cert_fixture_dir, "/no-such-db", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(CertDb) missing = cert_db_open(dir, &error);

        ck_assert_ptr_null(missing);
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_FAILED));
        ck_assert_msg(strstr(error->message, "no-such-db"), "%s", error->message);
}
END_TEST

START_TEST(test_certs_default_dir) {
        g_autofree char *home = g_build_filename(cert_fixture_dir, "home", NULL);
        g_autofree char *nssdb = g_build_filename(home, ".pki", "nssdb", NULL);
        g_autofree char *expected = g_strconcat("sql:", nssdb, NULL);
        g_autofree char *none = NULL, *found = NULL;

        /* Runs before anything else of this process asks GLib for the home directory. */
        g_setenv("HOME", home, TRUE);
        ck_assert_str_eq(g_get_home_dir(), home);
        none = cert_db_default_dir();
        ck_assert_ptr_null(none);
        ck_assert_int_eq(g_mkdir_with_parents(nssdb, 0700), 0);
        found = cert_db_default_dir();
        ck_assert_str_eq(found, expected);
}
END_TEST

START_TEST(test_certs_oid_to_dotted) {
        static const guint8 ku[] = { 0x55, 0x1d, 0x0f };
        static const guint8 rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
        static const guint8 big[] = { 0x88, 0x37, 0x03 };
        static const guint8 open_end[] = { 0x55, 0x9d };
        static const guint8 padded[] = { 0x55, 0x80, 0x01 };
        g_autofree char *a = cert_oid_to_dotted(ku, sizeof ku);
        g_autofree char *b = cert_oid_to_dotted(rsa, sizeof rsa);
        g_autofree char *c = cert_oid_to_dotted(big, sizeof big);

        ck_assert_str_eq(a, "2.5.29.15");
        ck_assert_str_eq(b, "1.2.840.113549.1.1.1");
        ck_assert_str_eq(c, "2.999.3");
        ck_assert_ptr_null(cert_oid_to_dotted(open_end, sizeof open_end));
        ck_assert_ptr_null(cert_oid_to_dotted(padded, sizeof padded));
        ck_assert_ptr_null(cert_oid_to_dotted(ku, 0));
}
END_TEST

static Suite *certs_suite(void) {
        Suite *s = suite_create("certs");
        TCase *tc = tcase_create("certs");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_certs_default_dir);
        tcase_add_test(tc, test_certs_parse_rsa);
        tcase_add_test(tc, test_certs_extensions_table);
        tcase_add_loop_test(tc, test_certs_key_types, 0, G_N_ELEMENTS(key_rows));
        tcase_add_test(tc, test_certs_dh_groups);
        tcase_add_loop_test(tc, test_certs_signed_with, 0, G_N_ELEMENTS(signed_rows));
        tcase_add_test(tc, test_certs_usages);
        tcase_add_test(tc, test_certs_validity);
        tcase_add_test(tc, test_certs_candidate_chain);
        tcase_add_test(tc, test_certs_bad_der);
        tcase_add_test(tc, test_certs_no_db);
        tcase_add_test(tc, test_certs_oid_to_dotted);
        suite_add_tcase(s, tc);

        tc = tcase_create("database");
        tcase_add_checked_fixture(tc, setup_db, teardown);
        tcase_add_test(tc, test_certs_list_user);
        tcase_add_test(tc, test_certs_find);
        tcase_add_test(tc, test_certs_parse_known_to_db);
        suite_add_tcase(s, tc);

        /* No fixture: opens its own (failing) database. */
        tc = tcase_create("open");
        tcase_add_test(tc, test_certs_open_missing_db);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        cert_fixture_make();
        status = test_run_suite(certs_suite(), CK_FORK_GETENV);
        cert_fixture_remove();
        return status;
}
