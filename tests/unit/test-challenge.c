/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of daemon/model/challenge.c: finding the transport challenge and reading its hints. */
#include <check.h>
#include <string.h>

#include "challenge.h"
#include "check-main.h"

#define MODE "mode=\"tls-client-certificate\""

static TransportChallenge *find1(const char *value) {
        const char *values[] = { value };

        return transport_challenge_find(values, 1);
}

START_TEST(test_challenge_scheme_and_mode_case_insensitive) {
        g_autoptr(TransportChallenge) c = find1("TRANSPORT Mode=TLS-Client-Certificate");

        ck_assert(c->found);
        ck_assert_uint_eq(c->schemes->len, 1);
        ck_assert_str_eq(c->schemes->pdata[0], "transport");
        ck_assert_ptr_null(c->error);
        ck_assert_uint_eq(c->ca_names->len, 0);
        ck_assert_uint_eq(c->key_types, 0);
}
END_TEST

START_TEST(test_challenge_first_usable_one_wins) {
        const char *values[] = {
                "Basic realm=\"a\", transport mode=other, realm=\"wrong\"",
                "transport " MODE ", realm=\"first\", transport " MODE ", realm=\"second\"",
        };
        g_autoptr(TransportChallenge) c = transport_challenge_find(values, 2);

        ck_assert(c->found);
        ck_assert_str_eq(c->realm, "first");
        ck_assert_uint_eq(c->schemes->len, 4);
        ck_assert_str_eq(c->schemes->pdata[0], "basic");
}
END_TEST

START_TEST(test_challenge_duplicate_parameter_is_skipped_for_the_next) {
        const char *values[] = {
                "transport " MODE ", realm=a, REALM=b",
                "transport " MODE ", realm=c",
        };
        g_autoptr(TransportChallenge) c = transport_challenge_find(values, 2);

        ck_assert(c->found);
        ck_assert_str_eq(c->realm, "c");
        ck_assert_ptr_nonnull(c->error);
        ck_assert_ptr_nonnull(strstr(c->error, "field_values[0]"));
}
END_TEST

START_TEST(test_challenge_ca_names_base64url) {
        /* DER of a Name holding CN=A: 30 0c 31 0a 30 08 06 03 55 04 03 0c 01 41, which
         * in base64url is MAwxCjAIBgNVBAMMAUE (no padding); padded form accepted too. */
        static const guint8 name[] = { 0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03,
                                       0x55, 0x04, 0x03, 0x0c, 0x01, 0x41 };
        g_autoptr(TransportChallenge) c =
                find1("transport " MODE ", ca-names=\"MAwxCjAIBgNVBAMMAUE  MAwxCjAIBgNVBAMMAUE=\"");

        ck_assert(c->found);
        ck_assert_ptr_null(c->error);
        ck_assert_uint_eq(c->ca_names->len, 2);
        for (guint i = 0; i < 2; i++) {
                gsize len;
                const void *data = g_bytes_get_data(c->ca_names->pdata[i], &len);

                ck_assert_uint_eq(len, sizeof name);
                ck_assert_mem_eq(data, name, sizeof name);
        }
}
END_TEST

START_TEST(test_challenge_ca_names_bad_entries_ignored) {
        /* "+" and "/" are base64, not base64url; "AAAA" is not a SEQUENCE; "A" is too
         * short; "=A" has padding in the middle. */
        g_autoptr(TransportChallenge) c =
                find1("transport " MODE ", ca-names=\"MA+x MA/x AAAA A =A MAwxCjAIBgNVBAMMAUE\"");

        ck_assert(c->found);
        ck_assert_uint_eq(c->ca_names->len, 1);
        ck_assert_ptr_nonnull(c->error);
        ck_assert_str_eq(c->error, "ca-names[0]: not a base64url DER name; ignored");
}
END_TEST

START_TEST(test_challenge_ca_names_capped) {
        g_autoptr(GString) v = g_string_new("transport " MODE ", ca-names=\"");

        for (guint i = 0; i < TLSID_CA_NAMES_MAX + 5; i++)
                g_string_append(v, "MAwxCjAIBgNVBAMMAUE ");
        g_string_append_c(v, '"');
        g_autoptr(TransportChallenge) c = find1(v->str);

        ck_assert(c->found);
        ck_assert_uint_eq(c->ca_names->len, TLSID_CA_NAMES_MAX);
        ck_assert_ptr_nonnull(strstr(c->error, "more than 256 names"));
}
END_TEST

START_TEST(test_challenge_key_types) {
        g_autoptr(TransportChallenge) c = find1("transport " MODE ", key-types=\"EC dsa rsa\"");

        ck_assert_uint_eq(c->key_types, CHALLENGE_KEY_EC | CHALLENGE_KEY_RSA);
        ck_assert(challenge_key_type_allowed(c->key_types, CERT_KEY_RSA));
        ck_assert(challenge_key_type_allowed(c->key_types, CERT_KEY_RSA_PSS));
        ck_assert(challenge_key_type_allowed(c->key_types, CERT_KEY_EC));
        ck_assert(!challenge_key_type_allowed(c->key_types, CERT_KEY_ED25519));
        ck_assert(!challenge_key_type_allowed(c->key_types, CERT_KEY_DSA));
        /* No hint (or only unknown types): anything. */
        ck_assert(challenge_key_type_allowed(0, CERT_KEY_DSA));
        g_autoptr(TransportChallenge) d = find1("transport " MODE ", key-types=dsa");
        ck_assert_uint_eq(d->key_types, 0);
}
END_TEST

START_TEST(test_challenge_url) {
        static const struct {
                const char *url;
                gboolean taken;
        } cases[] = {
                { "https://login.example.com/cert", TRUE },
                { "https://[2001:db8::1]:8443/", TRUE },
                { "HTTPS://login.example.com/", TRUE },
                { "http://login.example.com/", FALSE },
                { "https:///nohost", FALSE },
                { "https://user@login.example.com/", FALSE },
                { "/relative", FALSE },
                { "javascript:alert(1)", FALSE },
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *v =
                        g_strdup_printf("transport " MODE ", url=\"%s\"", cases[i].url);
                g_autoptr(TransportChallenge) c = find1(v);

                ck_assert(c->found);
                if (cases[i].taken) {
                        ck_assert_msg(c->url && strcmp(c->url, cases[i].url) == 0, "%s",
                                      cases[i].url);
                } else {
                        ck_assert_msg(!c->url, "%s taken", cases[i].url);
                        ck_assert_str_eq(c->error, "url: not an https URL; ignored");
                }
        }
}
END_TEST

START_TEST(test_challenge_values_capped) {
        const char *values[CHALLENGE_VALUES_MAX + 1];

        for (guint i = 0; i < CHALLENGE_VALUES_MAX; i++)
                values[i] = "Basic";
        values[CHALLENGE_VALUES_MAX] = "transport " MODE;
        g_autoptr(TransportChallenge) c =
                transport_challenge_find(values, CHALLENGE_VALUES_MAX + 1);

        ck_assert(!c->found);
        ck_assert_uint_eq(c->schemes->len, CHALLENGE_VALUES_MAX);
        ck_assert_ptr_nonnull(strstr(c->error, "more than 64 values"));
}
END_TEST

START_TEST(test_challenge_decline_value) {
        g_autofree char *v = challenge_decline_value("unavailable");
        g_autoptr(TransportChallenge) c = find1(v);

        ck_assert_str_eq(v, "transport mode=\"tls-client-certificate\", status=\"unavailable\"");
        /* It is itself well-formed: a transport credential of the same grammar. */
        ck_assert(c->found);
        ck_assert_ptr_null(c->error);
}
END_TEST

static Suite *challenge_suite(void) {
        Suite *s = suite_create("challenge");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_challenge_scheme_and_mode_case_insensitive);
        tcase_add_test(tc, test_challenge_first_usable_one_wins);
        tcase_add_test(tc, test_challenge_duplicate_parameter_is_skipped_for_the_next);
        tcase_add_test(tc, test_challenge_ca_names_base64url);
        tcase_add_test(tc, test_challenge_ca_names_bad_entries_ignored);
        tcase_add_test(tc, test_challenge_ca_names_capped);
        tcase_add_test(tc, test_challenge_key_types);
        tcase_add_test(tc, test_challenge_url);
        tcase_add_test(tc, test_challenge_values_capped);
        tcase_add_test(tc, test_challenge_decline_value);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(challenge_suite(), CK_NOFORK);
}
