/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: the TLS stack a token was made by keeps it apart, so an NSS client
 * never takes an OpenSSL token and the other way round, and OpenSSL partitions with a
 * certificate hand out their tokens. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tlsid/tlsid.h>

#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"

#define ORIGIN "stacks.example:443"
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static TlsidClient *client;
static TlsidContext *context;

static void setup(void) {
        test_bus_start();
        ASSERT_OK(tlsid_client_new(test_bus_address(), &client));
        ASSERT_OK(tlsid_client_set_timeout(client, 20u * 1000u * 1000u));
        ASSERT_OK(tlsid_context_open(client, "app/stacks", 0, NULL, &context));
}

static void teardown(void) {
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        test_bus_stop();
}

static uint32_t generation_now(void) {
        uint32_t generation = 0;

        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, &generation, NULL));
        return generation;
}

static void put_for(const char *stack, const char *identity, const char *token) {
        int64_t expires = (int64_t) time(NULL) + 3600;

        if (stack)
                ASSERT_OK(tlsid_context_put_session_for(context, ORIGIN, identity,
                                                        generation_now(), stack, token,
                                                        strlen(token), expires, 0x0304, NULL));
        else
                ASSERT_OK(tlsid_context_put_session(context, ORIGIN, identity, generation_now(),
                                                    token, strlen(token), expires, 0x0304,
                                                    NULL));
}

/* Takes with @stack (NULL: TakeSession) and checks the token is @expected (NULL: none). */
static void take_expect(const char *stack, const char *identity, const char *expected) {
        void *token = NULL;
        size_t len = 0;
        int r = stack ? tlsid_context_take_session_for(context, ORIGIN, identity,
                                                       generation_now(), stack, &token, &len)
                      : tlsid_context_take_session(context, ORIGIN, identity, generation_now(),
                                                   &token, &len);

        ck_assert_msg(r >= 0, "take: %d %s", r, tlsid_error_message());
        if (!expected) {
                ck_assert_msg(r == 0, "took a token of another stack");
                return;
        }
        ck_assert_msg(r == 1, "expected \"%s\", got none", expected);
        ck_assert_uint_eq(len, strlen(expected));
        ck_assert(memcmp(token, expected, len) == 0);
        tlsid_secret_free(token, len);
}

START_TEST(test_stacks_never_cross) {
        /* The newest is OpenSSL's, yet an NSS take passes it over for the older NSS one. */
        put_for(NULL, "", "nss-1");
        put_for(TLSID_STACK_OPENSSL, "", "openssl-1");
        take_expect(NULL, "", "nss-1");
        take_expect(NULL, "", NULL);
        take_expect(TLSID_STACK_NSS, "", NULL);
        take_expect(TLSID_STACK_OPENSSL, "", "openssl-1");
        take_expect(TLSID_STACK_OPENSSL, "", NULL);

        /* BeginConnection is NSS's; BeginConnectionFor names its stack. */
        put_for(TLSID_STACK_OPENSSL, "", "openssl-2");
        put_for(TLSID_STACK_NSS, "", "nss-2");
        void *token = NULL;
        size_t len = 0;
        ck_assert_int_eq(tlsid_context_begin_connection_for(context, ORIGIN, TLSID_STACK_OPENSSL,
                                                            NULL, NULL, NULL, NULL, &token,
                                                            &len),
                         1);
        ck_assert(len == strlen("openssl-2") && memcmp(token, "openssl-2", len) == 0);
        tlsid_secret_free(token, len);
        ck_assert_int_eq(tlsid_context_begin_connection(context, ORIGIN, NULL, NULL, NULL, NULL,
                                                        &token, &len),
                         1);
        ck_assert(len == strlen("nss-2") && memcmp(token, "nss-2", len) == 0);
        tlsid_secret_free(token, len);
        ck_assert_int_eq(tlsid_context_begin_connection_for(context, ORIGIN, TLSID_STACK_OPENSSL,
                                                            NULL, NULL, NULL, NULL, &token,
                                                            &len),
                         0);
}
END_TEST

START_TEST(test_stacks_openssl_resumes_certificate_partitions) {
        TlsidChoice state;
        char *identity = NULL;
        void *token = NULL;
        size_t len = 0;

        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0));
        put_for(TLSID_STACK_OPENSSL, FP_A, "alice-session");
        /* NSS's BeginConnection hands out nothing for a certificate's partition... */
        ck_assert_int_eq(tlsid_context_begin_connection(context, ORIGIN, NULL, NULL, NULL, NULL,
                                                        &token, &len),
                         0);
        /* ...OpenSSL's does, with the identity it belongs to. */
        ck_assert_int_eq(tlsid_context_begin_connection_for(context, ORIGIN, TLSID_STACK_OPENSSL,
                                                            &state, &identity, NULL, NULL,
                                                            &token, &len),
                         1);
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, FP_A);
        ck_assert(len == strlen("alice-session") && memcmp(token, "alice-session", len) == 0);
        tlsid_secret_free(token, len);
        free(identity);

        /* A switch drops it: no stack resumes the old identity. */
        put_for(TLSID_STACK_OPENSSL, FP_A, "alice-again");
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_NONE, NULL, 0));
        ck_assert_int_eq(tlsid_context_begin_connection_for(context, ORIGIN, TLSID_STACK_OPENSSL,
                                                            NULL, NULL, NULL, NULL, &token,
                                                            &len),
                         0);
}
END_TEST

START_TEST(test_stacks_unknown_stack_is_invalid) {
        void *token = NULL;
        size_t len = 0;

        ASSERT_ERRNO(tlsid_context_take_session_for(context, ORIGIN, "", 1, "gnutls", &token,
                                                    &len),
                     EINVAL);
        ASSERT_ERRNO(tlsid_context_put_session_for(context, ORIGIN, "", 1, NULL, "x", 1,
                                                   (int64_t) time(NULL) + 60, 0, NULL),
                     EINVAL);
}
END_TEST

static Suite *stacks_suite(void) {
        Suite *s = suite_create("stacks");
        TCase *tc = tcase_create("stacks");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_stacks_never_cross);
        tcase_add_test(tc, test_stacks_openssl_resumes_certificate_partitions);
        tcase_add_test(tc, test_stacks_unknown_stack_is_invalid);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(stacks_suite(), CK_FORK);
}
