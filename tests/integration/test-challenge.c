/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: AnswerChallenge against tlsidd on a private bus, with the daemon's NSS
 * database from make-certs.sh ("rsa client" and "ec256 client", both under inter/root),
 * through libtlsid and raw libdbus. */
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"

#define CTX "app/challenge"
#define ORIGIN "www.example.com:443"
#define CALL_TIMEOUT_MS 20000

#define CHALLENGE "transport mode=\"tls-client-certificate\""
#define DECLINE "transport mode=\"tls-client-certificate\", status=\"declined\""
#define UNAVAILABLE "transport mode=\"tls-client-certificate\", status=\"unavailable\""

static TlsidClient *client;
static TlsidContext *ctx;
static char *rsa_fp, *ec_fp;

static void setup(void) {
        test_bus_start();
        use_nss_db("nssdb");
        client = client_new();
        ASSERT_OK(tlsid_context_open(client, CTX, 0, NULL, &ctx));
        rsa_fp = fingerprint("rsa");
        ec_fp = fingerprint("ec256");
}

static void teardown(void) {
        tlsid_context_unref(ctx);
        tlsid_client_unref(client);
        g_free(rsa_fp);
        g_free(ec_fp);
        test_bus_stop();
}

/* AnswerChallenge with one or more field values (NULL-terminated), for a request sent
 * under @generation (negative: the current one). */
static TlsidChallengeAnswer *answer_gen(int64_t generation, unsigned flags, ...) {
        const char *values[8];
        size_t n = 0;
        va_list ap;
        TlsidChallengeAnswer *a = NULL;

        va_start(ap, flags);
        for (const char *v; (v = va_arg(ap, const char *)) && n < G_N_ELEMENTS(values);)
                values[n++] = v;
        va_end(ap);
        ASSERT_OK(tlsid_context_answer_challenge(ctx, ORIGIN, values, n, flags, generation, NULL, &a));
        ck_assert_ptr_nonnull(a);
        return a;
}

#define answer(...) answer_gen(-1, 0, __VA_ARGS__, NULL)

static uint32_t generation_now(void) {
        uint32_t g = 0;

        ASSERT_OK(tlsid_context_get_partition(ctx, ORIGIN, NULL, NULL, &g, NULL));
        return g;
}

static void choose(TlsidChoice state, const char *identity) {
        ASSERT_OK(tlsid_context_set_choice(ctx, ORIGIN, state, identity, 0));
}

static void assert_action(const TlsidChallengeAnswer *a, TlsidAnswerAction action) {
        ck_assert_msg(a->action == action, "action %s, expected %s (error \"%s\")",
                      tlsid_answer_action_to_string(a->action),
                      tlsid_answer_action_to_string(action), a->error);
}

/* Chooses @identity; the plain challenge is then a retry with it. */
static void choose_then_retry(const char *identity) {
        TlsidChallengeAnswer *a;

        choose(TLSID_CHOICE_CERTIFICATE, identity);
        a = answer(CHALLENGE);
        assert_action(a, TLSID_ANSWER_RETRY);
        ck_assert_str_eq(a->identity, identity);
        tlsid_challenge_answer_free(a);
}

/* base64url without padding of @der. */
static char *base64url(GBytes *der) {
        gsize len;
        const guchar *data = g_bytes_get_data(der, &len);
        char *b64 = g_base64_encode(data, len);

        for (char *p = b64; *p; p++) {
                if (*p == '+')
                        *p = '-';
                else if (*p == '/')
                        *p = '_';
                else if (*p == '=')
                        *p = '\0';
        }
        return b64;
}

/* A challenge whose ca-names is the subject of certificate @ca. */
static char *challenge_for_ca(const char *ca) {
        g_autoptr(GBytes) name = subject_der(ca);
        g_autofree char *b64 = base64url(name);

        return g_strdup_printf(CHALLENGE ", ca-names=\"%s\"", b64);
}

/* --- not-transport --- */

START_TEST(test_challenge_other_schemes_are_not_transport) {
        TlsidChallengeAnswer *a = answer("Basic realm=\"x\", Bearer", "Negotiate abc==");

        assert_action(a, TLSID_ANSWER_NOT_TRANSPORT);
        ck_assert_uint_eq(a->n_schemes, 3);
        ck_assert_str_eq(a->schemes[0], "basic");
        ck_assert_str_eq(a->schemes[1], "bearer");
        ck_assert_str_eq(a->schemes[2], "negotiate");
        ck_assert_ptr_null(a->schemes[3]);
        ck_assert_str_eq(a->error, "");
        ck_assert_str_eq(a->identity, "");
        ck_assert_uint_eq(a->generation, generation_now());
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_wrong_or_missing_mode_is_ignored) {
        TlsidChallengeAnswer *a = answer("transport mode=\"tls-psk\"", "Transport realm=\"r\"");

        assert_action(a, TLSID_ANSWER_NOT_TRANSPORT);
        ck_assert_uint_eq(a->n_schemes, 2);
        ck_assert_str_eq(a->schemes[0], "transport");
        ck_assert_str_eq(a->schemes[1], "transport");
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_malformed_value_is_not_a_bus_error) {
        uint32_t before = generation_now();
        /* The first value is unparsable (no closing quote); the second still counts. */
        TlsidChallengeAnswer *a = answer("transport mode=\"tls-client-certificate",
                                         "Basic realm=\"a\"");

        assert_action(a, TLSID_ANSWER_NOT_TRANSPORT);
        ck_assert_msg(strncmp(a->error, "field_values[0]: offset ", 24) == 0, "error: %s",
                      a->error);
        ck_assert_uint_eq(a->n_schemes, 1);
        ck_assert_str_eq(a->schemes[0], "basic");
        ck_assert_uint_eq(generation_now(), before);
        tlsid_challenge_answer_free(a);

        /* A duplicated parameter makes the challenge invalid, not the call. */
        a = answer("transport mode=\"tls-client-certificate\", MODE=\"tls-client-certificate\"");
        assert_action(a, TLSID_ANSWER_NOT_TRANSPORT);
        ck_assert_msg(strstr(a->error, "repeats a parameter") != NULL, "error: %s", a->error);
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_non_utf8_value_is_read_as_latin1) {
        /* realm="b\xe4r" in ISO-8859-1, as a server may send it. */
        TlsidChallengeAnswer *a = answer(CHALLENGE ", realm=\"b\xe4r\"");

        ck_assert_str_eq(a->realm, "b\xc3\xa4r");
        tlsid_challenge_answer_free(a);
}
END_TEST

/* --- retry and the loop guard --- */

START_TEST(test_challenge_retry_with_remembered_choice_moves_generation) {
        static const char token[] = "resumption-token";
        void *taken = NULL;
        size_t taken_len = 0;

        choose(TLSID_CHOICE_CERTIFICATE, rsa_fp);
        uint32_t g = generation_now();
        ASSERT_OK(tlsid_context_put_session(ctx, ORIGIN, rsa_fp, g, token, sizeof token,
                                            time(NULL) + 3600, 0x0304, NULL));

        TlsidChallengeAnswer *a = answer("Basic realm=\"x\", " CHALLENGE ", realm=\"Admin\"");
        assert_action(a, TLSID_ANSWER_RETRY);
        ck_assert_str_eq(a->identity, rsa_fp);
        ck_assert_str_eq(a->realm, "Admin");
        ck_assert_str_eq(a->url, "");
        /* Same identity: the partition still moves on, so nothing cached serves the retry. */
        ck_assert_uint_gt(a->generation, g);
        ck_assert_uint_eq(a->generation, generation_now());
        ck_assert_int_eq(tlsid_context_take_session(ctx, ORIGIN, rsa_fp, g, &taken, &taken_len),
                         0);
        ck_assert_ptr_null(taken);
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_loop_guard_rejects_second_challenge) {
        choose(TLSID_CHOICE_CERTIFICATE, rsa_fp);
        uint32_t first = generation_now();

        TlsidChallengeAnswer *a = answer_gen(first, 0, CHALLENGE, NULL);
        assert_action(a, TLSID_ANSWER_RETRY);
        uint32_t retried = a->generation;
        tlsid_challenge_answer_free(a);

        /* The re-sent request, under the new generation, is challenged again. */
        a = answer_gen(retried, 0, CHALLENGE, NULL);
        assert_action(a, TLSID_ANSWER_REJECTED);
        ck_assert_str_eq(a->identity, rsa_fp);
        ck_assert_uint_eq(a->generation, retried);
        tlsid_challenge_answer_free(a);

        /* Without a generation the daemon assumes the current one: rejected too. */
        a = answer(CHALLENGE);
        assert_action(a, TLSID_ANSWER_REJECTED);
        tlsid_challenge_answer_free(a);
        ck_assert_uint_eq(generation_now(), retried);

        /* A request that went out before the retry is simply sent again. */
        a = answer_gen(first, 0, CHALLENGE, NULL);
        assert_action(a, TLSID_ANSWER_RETRY);
        ck_assert_uint_eq(a->generation, retried);
        tlsid_challenge_answer_free(a);

        /* A new choice is a new chance. */
        choose_then_retry(ec_fp);
}
END_TEST

static bool mode_is_auto(const char *json, const char *error) {
        return strstr(json, "\"auto\"") != NULL;
}

START_TEST(test_challenge_policy_auto_single_eligible_switches) {
        Changes changes;

        write_policy("{\"mode\": \"auto\"}");
        wait_policy(client, mode_is_auto);
        watch_changes(client, &changes);
        uint32_t before = generation_now();

        /* Two certificates are eligible: auto does not guess at a challenge. */
        TlsidChallengeAnswer *a = answer(CHALLENGE);
        assert_action(a, TLSID_ANSWER_ASK);
        ck_assert_uint_eq(a->n_eligible, 2);
        tlsid_challenge_answer_free(a);

        /* key-types narrows it to the EC one, which is then taken. */
        a = answer(CHALLENGE ", key-types=\"ec ed25519 unknown-type\"");
        assert_action(a, TLSID_ANSWER_RETRY);
        ck_assert_str_eq(a->identity, ec_fp);
        ck_assert_uint_gt(a->generation, before);
        ck_assert(dispatch_until(client, &changes.count, 1));
        ck_assert_str_eq(changes.identity, ec_fp);
        ck_assert_uint_eq(changes.generation, a->generation);
        ck_assert_int_eq(changes.state, TLSID_CHOICE_CERTIFICATE);
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_url_hint) {
        /* The certificate goes to the url's origin: its choice decides, not this one's. */
        choose(TLSID_CHOICE_CERTIFICATE, ec_fp);
        ASSERT_OK(tlsid_context_set_choice(ctx, "login.example.com:8443",
                                           TLSID_CHOICE_CERTIFICATE, rsa_fp, 0));
        TlsidChallengeAnswer *a =
                answer(CHALLENGE ", url=\"https://login.example.com:8443/certificate\"");

        assert_action(a, TLSID_ANSWER_RETRY);
        ck_assert_str_eq(a->url, "https://login.example.com:8443/certificate");
        ck_assert_str_eq(a->origin, "login.example.com:8443");
        ck_assert_str_eq(a->identity, rsa_fp);
        ck_assert_str_eq(a->error, "");
        tlsid_challenge_answer_free(a);

        /* Only https: anything else is ignored, and said so. */
        choose(TLSID_CHOICE_CERTIFICATE, ec_fp);
        a = answer(CHALLENGE ", url=\"http://login.example.com/certificate\"");
        assert_action(a, TLSID_ANSWER_RETRY);
        ck_assert_str_eq(a->url, "");
        ck_assert_str_eq(a->origin, ORIGIN);
        ck_assert_str_eq(a->identity, ec_fp);
        ck_assert_msg(strncmp(a->error, "url:", 4) == 0, "error: %s", a->error);
        tlsid_challenge_answer_free(a);
}
END_TEST

/* --- ask --- */

START_TEST(test_challenge_ask_lists_eligible) {
        uint32_t before = generation_now();
        TlsidChallengeAnswer *a = answer(CHALLENGE);
        bool rsa = false, ec = false;

        /* The default policy mode is ask. */
        assert_action(a, TLSID_ANSWER_ASK);
        ck_assert_uint_eq(a->n_eligible, 2);
        for (size_t i = 0; i < a->n_eligible; i++) {
                rsa |= strcmp(a->eligible[i].identity, rsa_fp) == 0;
                ec |= strcmp(a->eligible[i].identity, ec_fp) == 0;
                ck_assert_ptr_nonnull(strstr(a->eligible[i].issuer, "Intermediate"));
        }
        ck_assert(rsa && ec);
        ck_assert_str_eq(a->identity, "");
        ck_assert_uint_eq(generation_now(), before);
        tlsid_challenge_answer_free(a);

        /* After the user's pick, the same challenge is a retry. */
        choose_then_retry(ec_fp);
}
END_TEST

START_TEST(test_challenge_ca_names_filter) {
        g_autofree char *by_inter = challenge_for_ca("inter");
        g_autofree char *by_root = challenge_for_ca("root");
        g_autofree char *by_ec_ca = challenge_for_ca("ec-ca");

        TlsidChallengeAnswer *a = answer(by_inter);
        assert_action(a, TLSID_ANSWER_ASK);
        ck_assert_uint_eq(a->n_eligible, 2);
        tlsid_challenge_answer_free(a);

        a = answer(by_root);
        assert_action(a, TLSID_ANSWER_ASK);
        ck_assert_uint_eq(a->n_eligible, 2);
        tlsid_challenge_answer_free(a);

        /* No certificate of the user's chains to this CA. */
        a = answer(by_ec_ca);
        assert_action(a, TLSID_ANSWER_DECLINED);
        ck_assert_str_eq(a->status, "unavailable");
        ck_assert_str_eq(a->authorization, UNAVAILABLE);
        tlsid_challenge_answer_free(a);

        /* key-types filters too. */
        a = answer(CHALLENGE ", key-types=rsa");
        assert_action(a, TLSID_ANSWER_ASK);
        ck_assert_uint_eq(a->n_eligible, 1);
        ck_assert_str_eq(a->eligible[0].identity, rsa_fp);
        tlsid_challenge_answer_free(a);

        /* Malformed entries are ignored (and said so): no usable name means any CA. */
        a = answer(CHALLENGE ", ca-names=\"%% AAAA\"");
        assert_action(a, TLSID_ANSWER_ASK);
        ck_assert_msg(strncmp(a->error, "ca-names[0]:", 12) == 0, "error: %s", a->error);
        tlsid_challenge_answer_free(a);
}
END_TEST

/* --- declined --- */

START_TEST(test_challenge_declined_gives_header) {
        choose(TLSID_CHOICE_NONE, NULL);
        uint32_t before = generation_now();

        TlsidChallengeAnswer *a = answer(CHALLENGE);
        assert_action(a, TLSID_ANSWER_DECLINED);
        ck_assert_str_eq(a->status, "declined");
        ck_assert_str_eq(a->header, "Authorization");
        ck_assert_str_eq(a->authorization, DECLINE);
        ck_assert_str_eq(a->identity, "");
        ck_assert_uint_eq(a->generation, before);
        tlsid_challenge_answer_free(a);

        /* A proxy's 407. */
        a = answer_gen(-1, TLSID_CHALLENGE_PROXY, CHALLENGE, NULL);
        assert_action(a, TLSID_ANSWER_DECLINED);
        ck_assert_str_eq(a->header, "Proxy-Authorization");
        ck_assert_str_eq(a->authorization, DECLINE);
        tlsid_challenge_answer_free(a);
        ck_assert_uint_eq(generation_now(), before);
}
END_TEST

START_TEST(test_challenge_no_database_is_unavailable) {
        /* A daemon without certificates. */
        test_bus_write_daemon_config("[certificates]\nnss_db = none\n");
        test_bus_restart_daemon();

        TlsidChallengeAnswer *a = answer(CHALLENGE);
        assert_action(a, TLSID_ANSWER_DECLINED);
        ck_assert_str_eq(a->status, "unavailable");
        tlsid_challenge_answer_free(a);
}
END_TEST

/* --- bad calls --- */

/* AnswerChallenge over raw libdbus with one options entry @key of D-Bus type @type. */
static void raw_answer(const char *context, const char *key, int type, const void *value,
                       const char *expect_error, const char *expect_prefix) {
        DBusConnection *conn = test_bus_connect();
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      TEST_BUS_INTERFACE, "AnswerChallenge");
        DBusMessageIter it, array, dict, entry, variant;
        const char *origin = ORIGIN, *value0 = CHALLENGE;
        const char signature[2] = { (char) type, '\0' };
        DBusError error = DBUS_ERROR_INIT;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &array));
        ck_assert(dbus_message_iter_append_basic(&array, DBUS_TYPE_STRING, &value0));
        ck_assert(dbus_message_iter_close_container(&it, &array));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (key) {
                ck_assert(dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL,
                                                           &entry));
                ck_assert(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
                ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT,
                                                           signature, &variant));
                ck_assert(dbus_message_iter_append_basic(&variant, type, value));
                ck_assert(dbus_message_iter_close_container(&entry, &variant));
                ck_assert(dbus_message_iter_close_container(&dict, &entry));
        }
        ck_assert(dbus_message_iter_close_container(&it, &dict));

        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                        &error);
        dbus_message_unref(m);
        ck_assert_msg(reply == NULL, "accepted");
        ck_assert_str_eq(error.name, expect_error);
        ck_assert_msg(strncmp(error.message, expect_prefix, strlen(expect_prefix)) == 0,
                      "\"%s\" does not start with \"%s\"", error.message, expect_prefix);
        dbus_error_free(&error);
        test_bus_disconnect(conn);
}

START_TEST(test_challenge_bad_options) {
        const char *text = "1";
        dbus_uint32_t number = 1;

        raw_answer(CTX, "generation", DBUS_TYPE_STRING, &text,
                   "org.tlsid.Error.InvalidArgument", "options.generation: expected type u");
        raw_answer(CTX, "proxy", DBUS_TYPE_UINT32, &number,
                   "org.tlsid.Error.InvalidArgument", "options.proxy: expected type b");
        raw_answer(CTX, "retries", DBUS_TYPE_UINT32, &number,
                   "org.tlsid.Error.InvalidArgument", "options.retries: unknown key");
        raw_answer("app/not-open", NULL, 0, NULL, "org.tlsid.Error.NoSuchContext", "");

        /* The daemon still answers. */
        TlsidChallengeAnswer *a = answer(CHALLENGE);
        assert_action(a, TLSID_ANSWER_ASK);
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_too_many_values_are_noted) {
        const char *values[70];
        TlsidChallengeAnswer *a = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(values); i++)
                values[i] = "Basic realm=\"x\"";
        values[69] = CHALLENGE;
        ASSERT_OK(tlsid_context_answer_challenge(ctx, ORIGIN, values, G_N_ELEMENTS(values), 0,
                                                 -1, NULL, &a));
        /* The transport challenge is past the 64th value: not parsed. */
        assert_action(a, TLSID_ANSWER_NOT_TRANSPORT);
        ck_assert_uint_eq(a->n_schemes, 64);
        ck_assert_msg(strncmp(a->error, "field_values: more than 64", 26) == 0, "error: %s",
                      a->error);
        tlsid_challenge_answer_free(a);
}
END_TEST

START_TEST(test_challenge_library_checks_arguments) {
        const char *values[] = { CHALLENGE, NULL };
        TlsidChallengeAnswer *a = NULL;

        ASSERT_ERRNO(tlsid_context_answer_challenge(NULL, ORIGIN, values, 1, 0, -1, NULL, &a), EINVAL);
        ASSERT_ERRNO(tlsid_context_answer_challenge(ctx, "Example.com:443", values, 1, 0, -1, NULL, &a),
                     EINVAL);
        ASSERT_ERRNO(tlsid_context_answer_challenge(ctx, ORIGIN, values, 2, 0, -1, NULL, &a), EINVAL);
        ck_assert_ptr_nonnull(strstr(tlsid_error_message(), "field_values[1]"));
        ASSERT_ERRNO(tlsid_context_answer_challenge(ctx, ORIGIN, values, 1, 1u << 7, -1, NULL, &a),
                     EINVAL);
        ASSERT_ERRNO(tlsid_context_answer_challenge(ctx, ORIGIN, values, 1, 0,
                                                    (int64_t) UINT32_MAX + 1, NULL, &a),
                     EINVAL);
        ASSERT_ERRNO(tlsid_context_answer_challenge(ctx, ORIGIN, values, 1, 0, -1, NULL, NULL),
                     EINVAL);
        ck_assert_ptr_null(a);
        ck_assert_str_eq(tlsid_answer_action_to_string(TLSID_ANSWER_REJECTED), "rejected");
        ck_assert_str_eq(tlsid_answer_action_to_string((TlsidAnswerAction) 99), "unknown");
        tlsid_challenge_answer_free(NULL);
}
END_TEST

static Suite *challenge_suite(void) {
        Suite *s = suite_create("challenge");
        TCase *tc = tcase_create("challenge");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_challenge_other_schemes_are_not_transport);
        tcase_add_test(tc, test_challenge_wrong_or_missing_mode_is_ignored);
        tcase_add_test(tc, test_challenge_malformed_value_is_not_a_bus_error);
        tcase_add_test(tc, test_challenge_non_utf8_value_is_read_as_latin1);
        tcase_add_test(tc, test_challenge_retry_with_remembered_choice_moves_generation);
        tcase_add_test(tc, test_challenge_loop_guard_rejects_second_challenge);
        tcase_add_test(tc, test_challenge_policy_auto_single_eligible_switches);
        tcase_add_test(tc, test_challenge_url_hint);
        tcase_add_test(tc, test_challenge_ask_lists_eligible);
        tcase_add_test(tc, test_challenge_ca_names_filter);
        tcase_add_test(tc, test_challenge_declined_gives_header);
        tcase_add_test(tc, test_challenge_no_database_is_unavailable);
        tcase_add_test(tc, test_challenge_bad_options);
        tcase_add_test(tc, test_challenge_too_many_values_are_noted);
        tcase_add_test(tc, test_challenge_library_checks_arguments);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        certs_make(NULL);
        status = test_run_suite(challenge_suite(), CK_FORK);
        certs_remove();
        return status;
}
