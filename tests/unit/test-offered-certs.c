/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the certificates applications offered (daemon/model/offered-certs.c). */
#include <check.h>
#include <string.h>

#include "check-main.h"
#include "model-certs.h"
#include "offered-certs.h"

static Candidate *named(char letter, const char *nickname, const char *subject) {
        Candidate *c = model_candidate(letter, CERT_KEY_RSA, 60);

        c->leaf->nickname = g_strdup(nickname);
        c->leaf->subject = g_strdup(subject);
        c->leaf->der = g_bytes_new("secret-der", 10);
        return c;
}

START_TEST(test_offered_certs_newest_first_with_the_application) {
        g_autoptr(OfferedCerts) o = offered_certs_new();
        g_autoptr(GPtrArray) first = g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
        g_autoptr(GPtrArray) second = g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
        g_autoptr(GPtrArray) list = NULL;

        g_ptr_array_add(first, named('a', "alice", "CN=Alice"));
        g_ptr_array_add(first, named('b', "bob", "CN=Bob"));
        offered_certs_note(o, first, "firefox/container-1/tab-3", 100);
        g_ptr_array_add(second, named('a', "alice-renamed", "CN=Alice"));
        offered_certs_note(o, second, "curl", 200);

        list = offered_certs_list(o);
        ck_assert_uint_eq(list->len, 2);
        const OfferedCert *a = list->pdata[0], *b = list->pdata[1];
        /* Offered again: first, with its new name and application. */
        ck_assert_str_eq(a->info->identity, model_fingerprint('a'));
        ck_assert_str_eq(a->info->nickname, "alice-renamed");
        ck_assert_str_eq(a->offered_by, "curl");
        ck_assert_int_eq(a->last_offered, 200);
        ck_assert_str_eq(b->info->identity, model_fingerprint('b'));
        ck_assert_str_eq(b->info->subject, "CN=Bob");
        ck_assert_str_eq(b->offered_by, "firefox");
        /* What a person recognises it by, not the certificate itself. */
        ck_assert_ptr_null(a->info->der);
        ck_assert_ptr_null(b->info->der);
}
END_TEST

START_TEST(test_offered_certs_bounded) {
        g_autoptr(OfferedCerts) o = offered_certs_new();
        g_autoptr(GPtrArray) list = NULL;

        for (guint i = 0; i <= OFFERED_CERTS_MAX; i++) {
                g_autoptr(GPtrArray) one =
                        g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
                Candidate *c = model_candidate('a', CERT_KEY_RSA, 60);

                /* A distinct fingerprint per round. */
                g_snprintf(c->leaf->identity, sizeof c->leaf->identity, "%064x", i);
                g_ptr_array_add(one, c);
                offered_certs_note(o, one, "app/tab", i);
        }
        list = offered_certs_list(o);
        ck_assert_uint_eq(list->len, OFFERED_CERTS_MAX);
        /* The one offered longest ago went. */
        for (guint i = 0; i < list->len; i++)
                ck_assert_int_ne(((OfferedCert *) list->pdata[i])->last_offered, 0);
        ck_assert_int_eq(((OfferedCert *) list->pdata[0])->last_offered, OFFERED_CERTS_MAX);
}
END_TEST

static Suite *offered_certs_suite(void) {
        Suite *s = suite_create("offered-certs");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_offered_certs_newest_first_with_the_application);
        tcase_add_test(tc, test_offered_certs_bounded);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(offered_certs_suite(), CK_FORK_GETENV);
}
