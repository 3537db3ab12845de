/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the picker's request model (tools/picker/picker-request.c): reading
 * RequestChoice's a{sv}, and the names and dates the windows show. */
#include <check.h>
#include <gio/gio.h>
#include <string.h>

#include "check-main.h"
#include "picker-request.h"

#define FP_A "aaaa000000000000000000000000000000000000000000000000000000000001"
#define FP_B "bbbb000000000000000000000000000000000000000000000000000000000002"

static GVariant *certificate(const char *identity, const char *nickname) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        if (identity)
                g_variant_builder_add(&b, "{sv}", "identity", g_variant_new_string(identity));
        if (nickname)
                g_variant_builder_add(&b, "{sv}", "nickname", g_variant_new_string(nickname));
        g_variant_builder_add(&b, "{sv}", "subject", g_variant_new_string("CN=Alice,O=Ex"));
        g_variant_builder_add(&b, "{sv}", "not_before", g_variant_new_int64(100));
        g_variant_builder_add(&b, "{sv}", "not_after", g_variant_new_int64(200));
        g_variant_builder_add(&b, "{sv}", "source", g_variant_new_string("application"));
        g_variant_builder_add(&b, "{sv}", "offered_by", g_variant_new_string("firefox"));
        return g_variant_builder_end(&b);
}

/* A request with @n certificates (the first two FP_A and FP_B, then copies of FP_A); @skip
 * leaves that key out; "certificates" may be given as @certificates instead. */
static GVariant *request(guint n, const char *skip, GVariant *certificates) {
        GVariantBuilder b, certs;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_init(&certs, G_VARIANT_TYPE("aa{sv}"));
        for (guint i = 0; i < n; i++)
                g_variant_builder_add_value(&certs, certificate(i == 1 ? FP_B : FP_A, NULL));
        if (g_strcmp0(skip, "context") != 0)
                g_variant_builder_add(&b, "{sv}", "context", g_variant_new_string("ff/tab-1"));
        if (g_strcmp0(skip, "origin") != 0)
                g_variant_builder_add(&b, "{sv}", "origin", g_variant_new_string("a.test:443"));
        g_variant_builder_add(&b, "{sv}", "label", g_variant_new_string(""));
        g_variant_builder_add(&b, "{sv}", "ephemeral", g_variant_new_boolean(TRUE));
        g_variant_builder_add(&b, "{sv}", "reason", g_variant_new_string("challenge"));
        g_variant_builder_add(&b, "{sv}", "realm", g_variant_new_string("intranet"));
        g_variant_builder_add(&b, "{sv}", "eligible_total", g_variant_new_uint32(100));
        g_variant_builder_add(&b, "{sv}", "timeout_ms", g_variant_new_uint32(30000));
        g_variant_builder_add(&b, "{sv}", "future_key", g_variant_new_string("ignored"));
        g_variant_builder_add(&b, "{sv}", "ca_names",
                              g_variant_new_strv((const char *const[]){ "CN=CA one",
                                                                        "CN=CA two" }, 2));
        g_variant_builder_add(&b, "{sv}", "certificates",
                              certificates ? certificates : g_variant_builder_end(&certs));
        if (certificates)
                g_variant_builder_clear(&certs);
        return g_variant_ref_sink(g_variant_builder_end(&b));
}

START_TEST(test_picker_request_read) {
        g_autoptr(GVariant) v = request(2, NULL, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(PickerRequest) r = picker_request_new("req-1", v, &error);
        const PickerCertificate *cert;

        ck_assert_msg(r, "refused: %s", error ? error->message : "");
        ck_assert_str_eq(r->id, "req-1");
        ck_assert_str_eq(r->context, "ff/tab-1");
        ck_assert_str_eq(r->origin, "a.test:443");
        ck_assert_str_eq(r->reason, "challenge");
        ck_assert_str_eq(r->realm, "intranet");
        ck_assert(r->ephemeral);
        ck_assert_uint_eq(r->eligible_total, 100);
        ck_assert_uint_eq(r->timeout_ms, 30000);
        ck_assert_uint_eq(r->certificates->len, 2);
        ck_assert_uint_eq(g_strv_length(r->ca_names), 2);
        ck_assert_str_eq(r->ca_names[1], "CN=CA two");
        /* No label: the tab is named by its id. */
        ck_assert_str_eq(picker_request_tab_name(r), "ff/tab-1");
        cert = picker_request_find(r, FP_B);
        ck_assert_ptr_eq(cert, g_ptr_array_index(r->certificates, 1));
        ck_assert_str_eq(cert->source, "application");
        ck_assert_str_eq(cert->offered_by, "firefox");
        ck_assert_str_eq(cert->nickname, "");
        ck_assert_int_eq(cert->not_after, 200);
        ck_assert_ptr_null(picker_request_find(r, "cc"));
}
END_TEST

static void assert_refused(GVariant *v, const char *field) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PickerRequest) r = picker_request_new("req-1", v, &error);

        ck_assert_ptr_null(r);
        ck_assert_msg(error && strstr(error->message, field), "error \"%s\" lacks %s",
                      error ? error->message : "(none)", field);
}

START_TEST(test_picker_request_refused) {
        g_autoptr(GVariant) no_context = request(2, "context", NULL);
        g_autoptr(GVariant) no_origin = request(2, "origin", NULL);
        g_autoptr(GVariant) empty = request(0, NULL, NULL);
        g_autoptr(GVariant) mistyped = request(0, NULL, g_variant_new_string("x"));
        GVariant *no_identity[] = { certificate(FP_A, NULL), certificate(NULL, "bob") };
        g_autoptr(GVariant) anonymous =
                request(0, NULL, g_variant_new_array(NULL, no_identity, 2));

        assert_refused(no_context, "request.context");
        assert_refused(no_origin, "request.origin");
        assert_refused(empty, "request.certificates");
        assert_refused(mistyped, "request.certificates");
        assert_refused(anonymous, "request.certificates[1].identity");
}
END_TEST

/* A daemon that sent more than the picker lists: the first 64 are kept, the total counts
 * every one. */
START_TEST(test_picker_request_bounded) {
        g_autoptr(GVariant) v = request(PICKER_REQUEST_MAX_CERTIFICATES + 6, NULL, NULL);
        g_autoptr(PickerRequest) r = picker_request_new("req-1", v, NULL);

        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->certificates->len, PICKER_REQUEST_MAX_CERTIFICATES);
        ck_assert_uint_eq(r->eligible_total, 100);
}
END_TEST

START_TEST(test_picker_request_names) {
        g_autofree char *cn = picker_name_common_name("O=Example,CN=Alice\\, Admin,C=DE");
        g_autofree char *none = picker_name_common_name("O=Example,C=DE");
        g_autofree char *nick = picker_certificate_title("alice", "CN=Alice", FP_A);
        g_autofree char *from_cn = picker_certificate_title("", "CN=Bob+UID=7", FP_A);
        g_autofree char *from_subject = picker_certificate_title(NULL, "O=Only", FP_A);
        g_autofree char *from_identity = picker_certificate_title(NULL, "", FP_A);

        ck_assert_str_eq(cn, "Alice, Admin");
        ck_assert_ptr_null(none);
        ck_assert_str_eq(nick, "alice");
        ck_assert_str_eq(from_cn, "Bob");
        ck_assert_str_eq(from_subject, "O=Only");
        ck_assert_str_eq(from_identity, "aaaa000000000000…");
}
END_TEST

START_TEST(test_picker_request_validity) {
        /* 2024-01-01 and 2026-01-01, UTC. */
        g_autofree char *valid = picker_validity_text(1704067200, 1767225600, 1750000000);
        g_autofree char *expired = picker_validity_text(1704067200, 1767225600, 1800000000);
        g_autofree char *early = picker_validity_text(1704067200, 1767225600, 1600000000);

        ck_assert_str_eq(valid, "2024-01-01 to 2026-01-01");
        ck_assert_str_eq(expired, "2024-01-01 to 2026-01-01 (expired)");
        ck_assert_str_eq(early, "2024-01-01 to 2026-01-01 (not yet valid)");
}
END_TEST

static Suite *picker_request_suite(void) {
        Suite *s = suite_create("picker-request");
        TCase *tc = tcase_create("picker-request");

        tcase_add_test(tc, test_picker_request_read);
        tcase_add_test(tc, test_picker_request_refused);
        tcase_add_test(tc, test_picker_request_bounded);
        tcase_add_test(tc, test_picker_request_names);
        tcase_add_test(tc, test_picker_request_validity);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(picker_request_suite(), CK_FORK_GETENV);
}
