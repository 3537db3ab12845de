/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of context, origin and identity validation (common/tlsid-ids.c). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check-main.h"
#include "tlsid-ids.h"

/* A fingerprint is "0" FP_TAIL: 64 lower-case hex characters. */
#define FP_TAIL "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP "0" FP_TAIL

#define assert_valid(check, s)                                                               \
        do {                                                                                 \
                const char *why_ = check(s);                                                 \
                ck_assert_msg(why_ == NULL, "%s(\"%s\") refused: %s", #check, (s), why_);    \
        } while (0)

#define assert_invalid(check, s)                                                             \
        ck_assert_msg(check(s) != NULL, "%s(\"%s\") accepted", #check, (s))

/* Refused, and the reason holds @needle. */
#define assert_invalid_why(check, s, needle)                                                 \
        do {                                                                                 \
                const char *why_ = check(s);                                                 \
                ck_assert_msg(why_ != NULL, "%s(\"%s\") accepted", #check, (s));             \
                ck_assert_msg(strstr(why_, (needle)) != NULL, "%s(\"%s\"): \"%s\" lacks %s", \
                              #check, (s), why_, (needle));                                  \
        } while (0)

START_TEST(test_ids_context_valid) {
        char max[TLSID_CONTEXT_MAX + 1];

        assert_valid(id_context_check, "a");
        assert_valid(id_context_check, "firefox/container-2/tab-17");
        assert_valid(id_context_check, "AZaz09._:/@+-");
        memset(max, 'x', TLSID_CONTEXT_MAX);
        max[TLSID_CONTEXT_MAX] = 0;
        assert_valid(id_context_check, max);
}
END_TEST

START_TEST(test_ids_context_invalid) {
        char over[TLSID_CONTEXT_MAX + 2];

        memset(over, 'x', TLSID_CONTEXT_MAX + 1);
        over[TLSID_CONTEXT_MAX + 1] = 0;
        assert_invalid_why(id_context_check, over, "1 to 128");
        assert_invalid_why(id_context_check, "", "1 to 128");
        ck_assert_ptr_nonnull(id_context_check(NULL));
        assert_invalid_why(id_context_check, "a b", "may hold only");
        assert_invalid(id_context_check, "tab\n");
        assert_invalid(id_context_check, "caf\xc3\xa9");
        assert_invalid(id_context_check, "a,b");
        assert_invalid(id_context_check, "a\\b");
        assert_invalid(id_context_check, "a*");
}
END_TEST

START_TEST(test_ids_origin_dns) {
        char label63[64], label64[65];
        char host[300], origin[320];

        assert_valid(id_origin_check, "example.org:443");
        assert_valid(id_origin_check, "a:1");
        assert_valid(id_origin_check, "localhost:8080");
        assert_valid(id_origin_check, "sub-domain.example.com:65535");
        assert_valid(id_origin_check, "123.example:443");
        assert_valid(id_origin_check, "a1.b2:443");
        /* IDNA A-labels are plain LDH. */
        assert_valid(id_origin_check, "xn--bcher-kva.example:443");
        assert_valid(id_origin_check, "xn--80ak6aa92e.xn--p1ai:443");

        memset(label63, 'a', 63);
        label63[63] = 0;
        snprintf(origin, sizeof origin, "%s.example:443", label63);
        assert_valid(id_origin_check, origin);
        memset(label64, 'a', 64);
        label64[64] = 0;
        snprintf(origin, sizeof origin, "%s.example:443", label64);
        assert_invalid_why(id_origin_check, origin, "63");

        /* 253 bytes of host fit, 254 do not. */
        memset(host, 0, sizeof host);
        for (int i = 0; i < 253; i++)
                host[i] = (i % 2) ? '.' : 'a';
        host[252] = 'a';
        snprintf(origin, sizeof origin, "%s:65535", host);
        assert_valid(id_origin_check, origin);
        host[253] = '.';
        host[254] = 'a';
        snprintf(origin, sizeof origin, "%s:1", host);
        assert_invalid(id_origin_check, origin);
}
END_TEST

START_TEST(test_ids_origin_dns_invalid) {
        assert_invalid_why(id_origin_check, "Example.org:443", "lower case");
        assert_invalid_why(id_origin_check, "EXAMPLE.ORG:443", "lower case");
        assert_invalid_why(id_origin_check, "XN--bcher-kva.example:443", "lower case");
        assert_invalid(id_origin_check, "b\xc3\xbc" "cher.example:443"); /* U-label */
        assert_invalid(id_origin_check, "a_b.example:443");
        assert_invalid(id_origin_check, "exa mple:443");
        assert_invalid(id_origin_check, " example.org:443");
        assert_invalid(id_origin_check, "example.org:443 ");
        assert_invalid(id_origin_check, "example.org:443\n");
        assert_invalid(id_origin_check, ":443");
        assert_invalid(id_origin_check, ".example.org:443");
        assert_invalid(id_origin_check, "example.org.:443");
        assert_invalid(id_origin_check, "ex..ample:443");
        assert_invalid_why(id_origin_check, "-a.example:443", "starting");
        assert_invalid_why(id_origin_check, "a-.example:443", "ending");
        assert_invalid(id_origin_check, "xn--:443");
        /* A numeric last label would read as an IPv4 literal. */
        assert_invalid(id_origin_check, "example.123:443");
        assert_invalid(id_origin_check, "example/x:443");
        assert_invalid(id_origin_check, "user@example.org:443");
}
END_TEST

START_TEST(test_ids_origin_port) {
        assert_valid(id_origin_check, "example.org:1");
        assert_valid(id_origin_check, "example.org:65535");
        assert_invalid_why(id_origin_check, "example.org", "host:port");
        assert_invalid_why(id_origin_check, "example.org:", "no port");
        assert_invalid(id_origin_check, "example.org:0");
        assert_invalid(id_origin_check, "example.org:0443");
        assert_invalid(id_origin_check, "example.org:65536");
        assert_invalid(id_origin_check, "example.org:99999999999999999999999");
        assert_invalid(id_origin_check, "example.org:44a");
        assert_invalid(id_origin_check, "example.org:-1");
        assert_invalid(id_origin_check, "example.org:+443");
        assert_invalid(id_origin_check, "example.org: 443");
        assert_invalid(id_origin_check, "example.org:443:443");
        assert_invalid(id_origin_check, "");
        ck_assert_ptr_nonnull(id_origin_check(NULL));
}
END_TEST

START_TEST(test_ids_origin_ipv4) {
        assert_valid(id_origin_check, "1.2.3.4:443");
        assert_valid(id_origin_check, "127.0.0.1:8443");
        assert_valid(id_origin_check, "255.255.255.255:1");
        assert_valid(id_origin_check, "0.0.0.0:443");
        assert_invalid(id_origin_check, "1.2.3:443");
        assert_invalid(id_origin_check, "1.2.3.4.5:443");
        assert_invalid(id_origin_check, "256.1.1.1:443");
        assert_invalid(id_origin_check, "01.2.3.4:443"); /* not canonical */
        assert_invalid(id_origin_check, "1.2.3.04:443");
        assert_invalid(id_origin_check, "1..3.4:443");
        assert_invalid(id_origin_check, "1.2.3.4.:443");
        assert_invalid(id_origin_check, "16909060:443"); /* inet_aton would take it */
        assert_invalid(id_origin_check, "[1.2.3.4]:443");
}
END_TEST

START_TEST(test_ids_origin_ipv6) {
        assert_valid(id_origin_check, "[::1]:443");
        assert_valid(id_origin_check, "[::]:443");
        assert_valid(id_origin_check, "[2001:db8::1]:8443");
        assert_valid(id_origin_check, "[fe80::1:2:3:4]:1");
        assert_valid(id_origin_check, "[::ffff:1.2.3.4]:443");
        assert_valid(id_origin_check, "[2001:db8:0:1:1:1:1:1]:443");
        assert_valid(id_origin_check, "[1::]:443");
        assert_valid(id_origin_check, "[1:0:0:2::3]:443");
        /* An embedded IPv4 address: dotted (inet_ntop) or hex (WHATWG URL). */
        assert_valid(id_origin_check, "[::ffff:102:304]:443");

        assert_invalid_why(id_origin_check, "::1:443", "without brackets");
        assert_invalid_why(id_origin_check, "2001:db8::1:443", "without brackets");
        assert_invalid(id_origin_check, "[::1]");
        assert_invalid(id_origin_check, "[::1]:");
        assert_invalid(id_origin_check, "[::1:443");
        assert_invalid(id_origin_check, "::1]:443");
        assert_invalid(id_origin_check, "[]:443");
        assert_invalid(id_origin_check, "[::1]x:443");
        assert_invalid(id_origin_check, "x[::1]:443");
        assert_invalid(id_origin_check, "[::g]:443");
        assert_invalid(id_origin_check, "[1:2:3:4:5:6:7:8:9]:443");
        assert_invalid(id_origin_check, "[fe80::1%eth0]:443");
        assert_invalid(id_origin_check, "[fe80::1%25eth0]:443");
        assert_invalid_why(id_origin_check, "[2001:DB8::1]:443", "lower case");
        assert_invalid_why(id_origin_check, "[::FFFF:1.2.3.4]:443", "lower case");
        /* One address, one spelling: non-canonical forms are refused, not normalised. */
        assert_invalid(id_origin_check, "[0:0:0:0:0:0:0:1]:443");
        assert_invalid(id_origin_check, "[::0001]:443");
        assert_invalid(id_origin_check, "[2001:db8:0:0:0:0:0:1]:443");
        assert_invalid(id_origin_check, "[2001:db8::0:1]:443");
        assert_invalid(id_origin_check, "[0::1]:443");
        assert_invalid(id_origin_check, "[1::2:0:0:0:3]:443"); /* the longer run goes */
        assert_invalid(id_origin_check, "[2001:db8::1:1:1:1:1]:443"); /* one 0: no :: */
        assert_invalid(id_origin_check, "[::ffff:0102:0304]:443");
}
END_TEST

START_TEST(test_ids_identity) {
        assert_valid(id_identity_check, "");
        assert_valid(id_identity_check, FP);
        ck_assert_ptr_nonnull(id_identity_check(NULL));
        assert_invalid(id_identity_check, "0123456789abcdef");
        assert_invalid(id_identity_check, FP "0");
        assert_valid(id_identity_check, "f" FP_TAIL);
        assert_invalid(id_identity_check, "A" FP_TAIL);
        assert_invalid(id_identity_check, "g" FP_TAIL);
        assert_invalid(id_identity_check, " " FP_TAIL);

        assert_valid(id_fingerprint_check, FP);
        assert_invalid_why(id_fingerprint_check, "", "64");
        ck_assert_ptr_nonnull(id_fingerprint_check(NULL));
}
END_TEST

START_TEST(test_ids_states) {
        ck_assert_str_eq(choice_state_to_string(TLSID_STATE_UNDECIDED), "undecided");
        ck_assert_str_eq(choice_state_to_string(TLSID_STATE_NONE), "none");
        ck_assert_str_eq(choice_state_to_string(TLSID_STATE_CERTIFICATE), "certificate");
        ck_assert_ptr_null(choice_state_to_string(-1));
        ck_assert_ptr_null(choice_state_to_string(3));
        ck_assert_int_eq(choice_state_from_string("undecided"), TLSID_STATE_UNDECIDED);
        ck_assert_int_eq(choice_state_from_string("none"), TLSID_STATE_NONE);
        ck_assert_int_eq(choice_state_from_string("certificate"), TLSID_STATE_CERTIFICATE);
        ck_assert_int_eq(choice_state_from_string("Certificate"), -1);
        ck_assert_int_eq(choice_state_from_string(""), -1);
        ck_assert_int_eq(choice_state_from_string("none "), -1);
        ck_assert_int_eq(choice_state_from_string(NULL), -1);
}
END_TEST

static Suite *ids_suite(void) {
        Suite *s = suite_create("ids");
        TCase *tc = tcase_create("ids");

        tcase_add_test(tc, test_ids_context_valid);
        tcase_add_test(tc, test_ids_context_invalid);
        tcase_add_test(tc, test_ids_origin_dns);
        tcase_add_test(tc, test_ids_origin_dns_invalid);
        tcase_add_test(tc, test_ids_origin_port);
        tcase_add_test(tc, test_ids_origin_ipv4);
        tcase_add_test(tc, test_ids_origin_ipv6);
        tcase_add_test(tc, test_ids_identity);
        tcase_add_test(tc, test_ids_states);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(ids_suite(), CK_FORK_GETENV);
}
