/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of daemon/model/challenge.c: finding the transport challenge and reading its
 * hints, the loop guard, and AnswerChallenge's answer on a store, without a bus. */
#include <check.h>
#include <string.h>

#include "challenge.h"
#include "check-main.h"
#include "model-certs.h"
#include "tmp-dir.h"

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

/* --- the loop guard --- */

START_TEST(test_challenge_retries_refused_only_under_the_retry_generation) {
        g_autoptr(ChallengeRetries) r = challenge_retries_new();

        ck_assert_ptr_null(challenge_retries_refused(r, "tab", "a.example:443", 2, NULL));
        challenge_retries_remember(r, "tab", "a.example:443", 2, model_fingerprint('a'), NULL);
        ck_assert_str_eq(challenge_retries_refused(r, "tab", "a.example:443", 2, NULL),
                         model_fingerprint('a'));
        ck_assert_ptr_null(challenge_retries_refused(r, "tab", "a.example:443", 3, NULL));
        ck_assert_ptr_null(challenge_retries_refused(r, "tab", "b.example:443", 2, NULL));
        ck_assert_ptr_null(challenge_retries_refused(r, "tab2", "a.example:443", 2, NULL));
        /* A later retry replaces the record. */
        challenge_retries_remember(r, "tab", "a.example:443", 3, model_fingerprint('b'), NULL);
        ck_assert_ptr_null(challenge_retries_refused(r, "tab", "a.example:443", 2, NULL));
        ck_assert_str_eq(challenge_retries_refused(r, "tab", "a.example:443", 3, NULL),
                         model_fingerprint('b'));
        ck_assert_uint_eq(challenge_retries_size(r), 1);
}
END_TEST

START_TEST(test_challenge_retries_bounded) {
        g_autoptr(ChallengeRetries) r = challenge_retries_new();

        for (guint i = 0; i < CHALLENGE_RETRIES_MAX; i++) {
                g_autofree char *origin = g_strdup_printf("h%u.example:443", i);
                challenge_retries_remember(r, "tab", origin, 2, model_fingerprint('a'), NULL);
        }
        ck_assert_uint_eq(challenge_retries_size(r), CHALLENGE_RETRIES_MAX);
        /* Updating a known record keeps them all... */
        challenge_retries_remember(r, "tab", "h0.example:443", 3, model_fingerprint('a'), NULL);
        ck_assert_uint_eq(challenge_retries_size(r), CHALLENGE_RETRIES_MAX);
        /* ...a new one past the bound drops the others. */
        challenge_retries_remember(r, "tab", "new.example:443", 2, model_fingerprint('b'), NULL);
        ck_assert_uint_eq(challenge_retries_size(r), 1);
        ck_assert_str_eq(challenge_retries_refused(r, "tab", "new.example:443", 2, NULL),
                         model_fingerprint('b'));
}
END_TEST

/* --- the answer --- */

#define ORIGIN "site.example:443"
#define TRANSPORT "transport " MODE

typedef struct {
        Store *store;
        ChallengeRetries *retries;
        Policy *policy;
        GPtrArray *candidates; /* what the candidates function returns */
        guint listed;          /* times it was called */
} AnswerFixture;

static AnswerFixture af;
static const guint8 nonce[16] = { 9 };

static GPtrArray *list_candidates(gpointer user_data, GError **error) {
        AnswerFixture *f = user_data;

        f->listed++;
        return g_ptr_array_ref(f->candidates);
}

static void answer_setup_with(const char *mode, const char *letters) {
        g_autofree char *dir = tmp_dir_make("tlsid-challenge-XXXXXX");
        g_autofree char *path = g_build_filename(dir, "policy.json", NULL);
        g_autofree char *json = g_strdup_printf("{\"mode\": \"%s\"}", mode);
        g_autoptr(GError) error = NULL;

        ck_assert(g_file_set_contents(path, json, -1, NULL));
        af.policy = policy_load(path, &error);
        ck_assert_msg(af.policy, "%s", error ? error->message : "");
        tmp_dir_remove(dir);
        af.store = store_new(NULL, nonce);
        af.retries = challenge_retries_new();
        af.candidates = model_candidates(letters, "");
        af.listed = 0;
        ck_assert(store_open_context(af.store, "tab", FALSE, NULL, NULL, &error));
}

static void answer_teardown(void) {
        g_clear_pointer(&af.store, store_free);
        g_clear_pointer(&af.retries, challenge_retries_free);
        g_clear_pointer(&af.policy, policy_free);
        g_clear_pointer(&af.candidates, g_ptr_array_unref);
}

/* Answers @value for a request sent under @generation (0: the current one). */
static void answer_question(const char *origin, ChallengeQuestion *q, ChallengeAnswer *ret) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(challenge_answer(af.store, af.retries, af.policy, list_candidates, &af,
                                       "tab", origin, q, g_get_real_time() / G_USEC_PER_SEC,
                                       ret, &error),
                      "%s", error ? error->message : "");
}

static void answer(const char *value, guint32 generation, ChallengeAnswer *ret) {
        const char *values[] = { value };
        ChallengeQuestion q = { .values = values, .n_values = 1,
                                .have_generation = generation != 0, .generation = generation };

        answer_question(ORIGIN, &q, ret);
}

static guint32 generation_now(void) {
        StorePartition p;

        ck_assert(store_get_partition(af.store, "tab", ORIGIN, &p, NULL));
        return p.generation;
}

START_TEST(test_challenge_answer_not_transport) {
        g_auto(ChallengeAnswer) a = { 0 };

        answer_setup_with("auto", "a");
        answer("Basic realm=\"x\"", 0, &a);
        ck_assert_str_eq(challenge_action_to_string(a.action), "not-transport");
        ck_assert_str_eq(a.identity, "");
        ck_assert_uint_eq(a.generation, generation_now());
        ck_assert_str_eq(a.challenge->schemes->pdata[0], "basic");
        /* Nothing to choose: the certificates were not even listed. */
        ck_assert_uint_eq(af.listed, 0);
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_retry_then_rejected) {
        g_auto(ChallengeAnswer) first = { 0 };
        g_auto(ChallengeAnswer) second = { 0 };
        g_auto(ChallengeAnswer) stale = { 0 };
        guint32 before;

        answer_setup_with("auto", "a");
        before = generation_now();
        answer(TRANSPORT, before, &first);
        ck_assert_str_eq(challenge_action_to_string(first.action), "retry");
        ck_assert_str_eq(first.identity, model_fingerprint('a'));
        /* A new partition for the re-sent request, with the certificate as the choice. */
        ck_assert_uint_gt(first.generation, before);
        ck_assert_uint_eq(first.generation, generation_now());
        ck_assert(!first.flushed);

        /* The re-sent request is challenged again: the server refused the certificate. */
        answer(TRANSPORT, first.generation, &second);
        ck_assert_str_eq(challenge_action_to_string(second.action), "rejected");
        ck_assert_str_eq(second.identity, model_fingerprint('a'));
        ck_assert_uint_eq(second.generation, first.generation);
        ck_assert_uint_eq(generation_now(), first.generation);

        /* A request that went out before the retry is just sent again. */
        answer(TRANSPORT, before, &stale);
        ck_assert_str_eq(challenge_action_to_string(stale.action), "retry");
        ck_assert_uint_eq(stale.generation, first.generation);
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_same_choice_moves_the_partition) {
        g_auto(ChallengeAnswer) a = { 0 };
        g_autoptr(GError) error = NULL;
        guint32 before;

        answer_setup_with("ask", "a");
        ck_assert(store_set_choice(af.store, "tab", ORIGIN, TLSID_STATE_CERTIFICATE,
                                   model_fingerprint('a'), 0, FALSE, NULL, &error));
        before = generation_now();
        answer(TRANSPORT, before, &a);
        ck_assert_str_eq(challenge_action_to_string(a.action), "retry");
        ck_assert(a.flushed);
        ck_assert_uint_gt(a.generation, before);
        ck_assert_uint_eq(a.generation, generation_now());
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_auto_asks_between_two) {
        g_auto(ChallengeAnswer) a = { 0 };
        guint32 before;

        answer_setup_with("auto", "ab");
        before = generation_now();
        answer(TRANSPORT, 0, &a);
        ck_assert_str_eq(challenge_action_to_string(a.action), "ask");
        ck_assert_uint_eq(a.eligible->len, 2);
        ck_assert_str_eq(((CertInfo *) a.eligible->pdata[0])->identity, model_fingerprint('a'));
        ck_assert_uint_eq(generation_now(), before);
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_declined_and_unavailable) {
        g_auto(ChallengeAnswer) declined = { 0 };
        g_auto(ChallengeAnswer) unavailable = { 0 };
        g_autoptr(GError) error = NULL;

        answer_setup_with("auto", "a");
        /* Hints narrow the choice: an EC-only challenge leaves the RSA certificate out. */
        answer(TRANSPORT ", key-types=\"ec\"", 0, &unavailable);
        ck_assert_str_eq(challenge_action_to_string(unavailable.action), "declined");
        ck_assert_str_eq(unavailable.status, "unavailable");

        ck_assert(store_set_choice(af.store, "tab", ORIGIN, TLSID_STATE_NONE, "", 0, FALSE,
                                   NULL, &error));
        answer(TRANSPORT, 0, &declined);
        ck_assert_str_eq(challenge_action_to_string(declined.action), "declined");
        ck_assert_str_eq(declined.status, "declined");
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_context_not_open) {
        const char *values[] = { TRANSPORT };
        g_auto(ChallengeAnswer) a = { 0 };
        g_autoptr(GError) error = NULL;

        answer_setup_with("auto", "a");
        ChallengeQuestion q = { .values = values, .n_values = 1 };

        ck_assert(!challenge_answer(af.store, af.retries, af.policy, list_candidates, &af,
                                    "closed", ORIGIN, &q, 0, &a, &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_NO_SUCH_CONTEXT));
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_url_decides_and_guards_the_url_origin) {
        const char *url = TRANSPORT ", url=\"https://login.example:8443/cert\"";
        const char *values[] = { url };
        g_auto(ChallengeAnswer) first = { 0 };
        g_auto(ChallengeAnswer) again = { 0 };
        g_auto(ChallengeAnswer) refused = { 0 };
        StorePartition p;
        guint32 site_before = 0;

        answer_setup_with("auto", "a");
        site_before = generation_now();
        answer(url, site_before, &first);
        ck_assert_str_eq(challenge_action_to_string(first.action), "retry");
        ck_assert_str_eq(first.origin, "login.example:8443");
        /* The url's origin got the certificate and a new partition; this one did not. */
        ck_assert(store_get_partition(af.store, "tab", "login.example:8443", &p, NULL));
        ck_assert_str_eq(p.identity, model_fingerprint('a'));
        ck_assert_uint_eq(first.generation, p.generation);
        ck_assert_uint_eq(generation_now(), site_before);

        /* A new request to this origin is challenged the same way: not a refusal (no
         * certificate ever went here), one more retry to the url. */
        answer(url, site_before, &again);
        ck_assert_str_eq(challenge_action_to_string(again.action), "retry");

        /* The re-sent request challenged at the url's origin: that one refused it. */
        ChallengeQuestion q = { .values = values, .n_values = 1, .have_generation = TRUE,
                                .generation = again.generation,
                                .sent_identity = model_fingerprint('a') };
        answer_question("login.example:8443", &q, &refused);
        ck_assert_str_eq(challenge_action_to_string(refused.action), "rejected");
        ck_assert_str_eq(refused.identity, model_fingerprint('a'));
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_rejected_names_only_what_was_sent) {
        const char *values[] = { TRANSPORT };
        g_auto(ChallengeAnswer) first = { 0 };
        g_auto(ChallengeAnswer) refused = { 0 };

        answer_setup_with("auto", "a");
        answer(TRANSPORT, generation_now(), &first);
        ck_assert_str_eq(challenge_action_to_string(first.action), "retry");
        /* The re-sent request's connection sent nothing (the server never asked). */
        ChallengeQuestion q = { .values = values, .n_values = 1, .have_generation = TRUE,
                                .generation = first.generation, .sent_identity = "" };
        answer_question(ORIGIN, &q, &refused);
        ck_assert_str_eq(challenge_action_to_string(refused.action), "rejected");
        ck_assert_str_eq(refused.identity, "");
        ck_assert_ptr_null(refused.subject);
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_answer_obeys_the_connection_request) {
        const char *values[] = { TRANSPORT };
        g_auto(ChallengeAnswer) a = { 0 };
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) mine = model_candidates("bc", "");
        Candidate *b = mine->pdata[0];

        answer_setup_with("ask", "a");
        /* The server's CertificateRequest names b's issuer only. */
        b->leaf->issuer_der = g_bytes_new("issuer-b", 8);
        g_ptr_array_add(request->ca_names, g_bytes_new("issuer-b", 8));
        ((Candidate *) mine->pdata[1])->leaf->issuer_der = g_bytes_new("issuer-c", 8);
        ChallengeQuestion q = { .values = values, .n_values = 1, .request = request,
                                .candidates = mine };
        answer_question(ORIGIN, &q, &a);
        ck_assert_str_eq(challenge_action_to_string(a.action), "ask");
        /* The application's certificates, not the daemon's, and only the one it allows. */
        ck_assert_uint_eq(af.listed, 0);
        ck_assert_uint_eq(a.eligible->len, 1);
        ck_assert_str_eq(((CertInfo *) a.eligible->pdata[0])->identity, model_fingerprint('b'));
        answer_teardown();
}
END_TEST

START_TEST(test_challenge_url_origin) {
        static const struct {
                const char *url, *origin;
        } rows[] = {
                { "https://login.example/cert", "login.example:443" },
                { "https://LOGIN.Example:8443/x?y", "login.example:8443" },
                { "https://[2001:db8::1]:444/", "[2001:db8::1]:444" },
                { "https://127.0.0.1/", "127.0.0.1:443" },
                { "http://login.example/", NULL },
                { "https:///nohost", NULL },
                { "not a url", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
                g_autofree char *origin = challenge_url_origin(rows[i].url);

                ck_assert_msg(g_strcmp0(origin, rows[i].origin) == 0, "%s: %s, expected %s",
                              rows[i].url, origin, rows[i].origin);
        }
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

        tc = tcase_create("answer");
        tcase_add_test(tc, test_challenge_retries_refused_only_under_the_retry_generation);
        tcase_add_test(tc, test_challenge_retries_bounded);
        tcase_add_test(tc, test_challenge_answer_not_transport);
        tcase_add_test(tc, test_challenge_answer_retry_then_rejected);
        tcase_add_test(tc, test_challenge_answer_same_choice_moves_the_partition);
        tcase_add_test(tc, test_challenge_answer_auto_asks_between_two);
        tcase_add_test(tc, test_challenge_answer_declined_and_unavailable);
        tcase_add_test(tc, test_challenge_answer_context_not_open);
        tcase_add_test(tc, test_challenge_answer_url_decides_and_guards_the_url_origin);
        tcase_add_test(tc, test_challenge_answer_rejected_names_only_what_was_sent);
        tcase_add_test(tc, test_challenge_answer_obeys_the_connection_request);
        tcase_add_test(tc, test_challenge_url_origin);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(challenge_suite(), CK_NOFORK);
}
