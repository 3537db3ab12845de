/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of what ListCertificates lists and where its pages start
 * (daemon/model/cert-listing.c), and of the bounded text a certificate's names show as
 * (cert_text() of daemon/model/cert-info.c). */
#include <check.h>
#include <string.h>

#include "cert-listing.h"
#include "check-main.h"
#include "model-certs.h"
#include "offered-certs.h"
#include "tlsid-limits.h"

/* The database's candidates for @letters (transfer full). */
static GPtrArray *database_of(const char *letters) {
        return model_candidates(letters, "");
}

/* @o after the applications offered @letters. */
static void offer(OfferedCerts *o, const char *letters) {
        g_autoptr(GPtrArray) c = model_candidates(letters, "");

        offered_certs_note(o, c, "app/tab", 1);
}

static const char *identity_at(GArray *listing, guint i) {
        return g_array_index(listing, CertListEntry, i).info->identity;
}

static CertSource source_at(GArray *listing, guint i) {
        return g_array_index(listing, CertListEntry, i).source;
}

START_TEST(test_cert_listing_order) {
        g_autoptr(GPtrArray) database = database_of("dbc");
        g_autoptr(OfferedCerts) o = offered_certs_new();
        g_autoptr(GPtrArray) offered = NULL;
        g_autoptr(GArray) listing = NULL;

        /* Offered most recently last: "a" then "c" (also in the database) then "e". */
        offer(o, "e");
        offer(o, "c");
        offer(o, "a");
        offered = offered_certs_list(o);
        listing = cert_listing_new(database, offered);
        /* The database's by identity, then the applications' it does not hold. */
        ck_assert_uint_eq(listing->len, 5);
        ck_assert_str_eq(identity_at(listing, 0), model_fingerprint('b'));
        ck_assert_str_eq(identity_at(listing, 1), model_fingerprint('c'));
        ck_assert_str_eq(identity_at(listing, 2), model_fingerprint('d'));
        ck_assert_str_eq(identity_at(listing, 3), model_fingerprint('a'));
        ck_assert_str_eq(identity_at(listing, 4), model_fingerprint('e'));
        for (guint i = 0; i < 3; i++) {
                ck_assert_int_eq(source_at(listing, i), CERT_SOURCE_DATABASE);
                ck_assert_ptr_null(g_array_index(listing, CertListEntry, i).offered_by);
        }
        ck_assert_int_eq(source_at(listing, 3), CERT_SOURCE_APPLICATION);
        ck_assert_str_eq(g_array_index(listing, CertListEntry, 3).offered_by, "app");
        ck_assert_str_eq(cert_source_to_string(source_at(listing, 4)), "application");
}
END_TEST

START_TEST(test_cert_listing_after) {
        g_autoptr(GPtrArray) database = database_of("bd");
        g_autoptr(OfferedCerts) o = offered_certs_new();
        g_autoptr(GPtrArray) offered = NULL;
        g_autoptr(GArray) listing = NULL;
        CertSource source;

        offer(o, "ac");
        offered = offered_certs_list(o);
        listing = cert_listing_new(database, offered);
        ck_assert_uint_eq(listing->len, 4); /* b d | a c */
        /* After an entry given: the next one, across the parts too. */
        ck_assert_uint_eq(cert_listing_after(listing, CERT_SOURCE_DATABASE,
                                             model_fingerprint('b')), 1);
        ck_assert_uint_eq(cert_listing_after(listing, CERT_SOURCE_DATABASE,
                                             model_fingerprint('d')), 2);
        ck_assert_uint_eq(cert_listing_after(listing, CERT_SOURCE_APPLICATION,
                                             model_fingerprint('c')), 4);
        /* After one that went since: where it would be. */
        ck_assert_uint_eq(cert_listing_after(listing, CERT_SOURCE_DATABASE,
                                             model_fingerprint('c')), 1);
        ck_assert_uint_eq(cert_listing_after(listing, CERT_SOURCE_DATABASE,
                                             model_fingerprint('z')), 2);
        ck_assert_uint_eq(cert_listing_after(listing, CERT_SOURCE_APPLICATION,
                                             model_fingerprint('b')), 3);
        /* No database, nothing offered: nothing after anything. */
        g_autoptr(GPtrArray) none = g_ptr_array_new();
        g_autoptr(GArray) empty = cert_listing_new(NULL, none);
        ck_assert_uint_eq(empty->len, 0);
        ck_assert_uint_eq(cert_listing_after(empty, CERT_SOURCE_DATABASE,
                                             model_fingerprint('a')), 0);

        ck_assert(cert_source_from_string("application", &source));
        ck_assert_int_eq(source, CERT_SOURCE_APPLICATION);
        ck_assert(!cert_source_from_string("Database", &source));
}
END_TEST

START_TEST(test_cert_listing_text_bounded) {
        g_autofree char *shortest = cert_text(NULL);
        g_autofree char *plain = cert_text("CN=Alice,O=Example");
        g_autofree char *bad = cert_text("CN=\xff");
        g_autoptr(GString) long_ascii = g_string_new(NULL);
        g_autoptr(GString) long_utf8 = g_string_new("CN=");

        ck_assert_str_eq(shortest, "");
        ck_assert_str_eq(plain, "CN=Alice,O=Example");
        /* Not UTF-8: the replacement character, as D-Bus needs. */
        ck_assert_str_eq(bad, "CN=\xef\xbf\xbd");

        for (guint i = 0; i < 2 * TLSID_CERT_TEXT_MAX; i++)
                g_string_append_c(long_ascii, (char) ('a' + i % 26));
        g_autofree char *cut = cert_text(long_ascii->str);
        ck_assert_uint_eq(strlen(cut), TLSID_CERT_TEXT_MAX);
        ck_assert(g_str_has_suffix(cut, "..."));
        ck_assert_int_eq(strncmp(cut, long_ascii->str, TLSID_CERT_TEXT_MAX - 3), 0);

        /* Two-byte characters: cut between two of them, never inside one. */
        while (long_utf8->len < 2 * TLSID_CERT_TEXT_MAX)
                g_string_append(long_utf8, "\xc3\xa9");
        g_autofree char *cut_utf8 = cert_text(long_utf8->str);
        ck_assert_uint_le(strlen(cut_utf8), TLSID_CERT_TEXT_MAX);
        ck_assert_uint_ge(strlen(cut_utf8), TLSID_CERT_TEXT_MAX - 1);
        ck_assert(g_utf8_validate(cut_utf8, -1, NULL));
        ck_assert(g_str_has_suffix(cut_utf8, "\xc3\xa9..."));

        /* Invalid bytes triple in size before the cut, never after it. */
        g_autofree char *invalid = g_strnfill(TLSID_CERT_TEXT_MAX, '\xff');
        g_autofree char *cut_invalid = cert_text(invalid);
        ck_assert_uint_le(strlen(cut_invalid), TLSID_CERT_TEXT_MAX);
        ck_assert(g_utf8_validate(cut_invalid, -1, NULL));
}
END_TEST

START_TEST(test_cert_listing_offered_names_held_bounded) {
        g_autoptr(OfferedCerts) o = offered_certs_new();
        g_autoptr(GPtrArray) c = model_candidates("a", "");
        g_autoptr(GPtrArray) list = NULL;
        Candidate *leaf = c->pdata[0];

        leaf->leaf->subject = g_strnfill(64 * 1024, 's');
        leaf->leaf->issuer = g_strnfill(64 * 1024, 'i');
        offered_certs_note(o, c, "app/tab", 1);
        list = offered_certs_list(o);
        /* 256 of them stay small whatever their certificates hold. */
        const OfferedCert *held = list->pdata[0];
        ck_assert_uint_eq(strlen(held->info->subject), TLSID_CERT_TEXT_MAX);
        ck_assert_uint_eq(strlen(held->info->issuer), TLSID_CERT_TEXT_MAX);
        ck_assert_ptr_null(held->info->nickname);
}
END_TEST

static Suite *cert_listing_suite(void) {
        Suite *s = suite_create("cert-listing");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_cert_listing_order);
        tcase_add_test(tc, test_cert_listing_after);
        tcase_add_test(tc, test_cert_listing_text_bounded);
        tcase_add_test(tc, test_cert_listing_offered_names_held_bounded);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(cert_listing_suite(), CK_FORK_GETENV);
}
