/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: every method through libtlsid against tlsidd on a private bus. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tlsid/tlsid.h>

#include "check-main.h"
#include "fake-systemd.h"
#include "lib-asserts.h"
#include "test-bus.h"

#define CALL_TIMEOUT_USEC (20u * 1000u * 1000u)
#define SIGNAL_TIMEOUT_MS 10000

#define ORIGIN "example.com:443"
#define ORIGIN2 "[2001:db8::1]:8443"
#define ORIGIN3 "192.0.2.7:993"
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void setup(void) {
        test_bus_start();
}

static void teardown(void) {
        test_bus_stop();
}

static TlsidClient *client_new(void) {
        TlsidClient *client = NULL;

        ASSERT_OK(tlsid_client_new(test_bus_address(), &client));
        ck_assert_ptr_nonnull(client);
        /* Generous: the first call activates tlsidd on a loaded machine. */
        ASSERT_OK(tlsid_client_set_timeout(client, CALL_TIMEOUT_USEC));
        return client;
}

static TlsidContext *context_open(TlsidClient *client, const char *name, unsigned flags,
                                  const char *label) {
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, name, flags, label, &context));
        ck_assert_ptr_nonnull(context);
        ck_assert_str_eq(tlsid_context_get_name(context), name);
        return context;
}

static int64_t now_unix(void) {
        return (int64_t) time(NULL);
}

static uint32_t generation_of(TlsidContext *context, const char *origin) {
        uint32_t generation = 0;

        ASSERT_OK(tlsid_context_get_partition(context, origin, NULL, NULL, &generation, NULL));
        ck_assert_uint_ge(generation, 1);
        return generation;
}

static void put(TlsidContext *context, const char *origin, const char *identity,
                uint32_t generation, const char *token) {
        ASSERT_OK(tlsid_context_put_session(context, origin, identity, generation, token,
                                            strlen(token), now_unix() + 3600, 0x0304, "h2"));
}

/* Takes a token and checks it is @expected (NULL: none). */
static void take_expect(TlsidContext *context, const char *origin, const char *identity,
                        uint32_t generation, const char *expected) {
        void *token = (void *) 0x1;
        size_t len = 1;
        int r;

        r = tlsid_context_take_session(context, origin, identity, generation, &token, &len);
        ck_assert_msg(r >= 0, "take failed: %d: %s", r, tlsid_error_message());
        if (!expected) {
                ck_assert_int_eq(r, 0);
                ck_assert_ptr_null(token);
                ck_assert_uint_eq(len, 0);
                return;
        }
        ck_assert_msg(r == 1, "expected token \"%s\", got none", expected);
        ck_assert_uint_eq(len, strlen(expected));
        ck_assert_msg(memcmp(token, expected, len) == 0, "wrong token bytes");
        tlsid_secret_free(token, len);
}

static TlsidStatistics statistics(TlsidClient *client) {
        TlsidStatistics s;

        memset(&s, 0xff, sizeof(s));
        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        return s;
}

/* --- signal recording --- */

typedef struct {
        int identity_changed;
        char context[256], origin[300], identity[80];
        TlsidChoice state;
        uint32_t generation;

        int flushed;
        char flushed_context[256], flushed_origin[300];
        uint32_t dropped;

        /* The order signals came in: 'I' or 'F'. */
        char order[64];
        int n_order;
} Recorder;

static void on_identity_changed(const char *context, const char *origin, TlsidChoice state,
                                const char *identity, uint32_t generation, void *userdata) {
        Recorder *rec = userdata;

        rec->identity_changed++;
        snprintf(rec->context, sizeof(rec->context), "%s", context);
        snprintf(rec->origin, sizeof(rec->origin), "%s", origin);
        snprintf(rec->identity, sizeof(rec->identity), "%s", identity ? identity : "");
        rec->state = state;
        rec->generation = generation;
        if (rec->n_order < (int) sizeof(rec->order) - 1)
                rec->order[rec->n_order++] = 'I';
}

static void on_sessions_flushed(const char *context, const char *origin, uint32_t dropped,
                                void *userdata) {
        Recorder *rec = userdata;

        rec->flushed++;
        snprintf(rec->flushed_context, sizeof(rec->flushed_context), "%s", context);
        snprintf(rec->flushed_origin, sizeof(rec->flushed_origin), "%s", origin);
        rec->dropped = dropped;
        if (rec->n_order < (int) sizeof(rec->order) - 1)
                rec->order[rec->n_order++] = 'F';
}

static void record_signals(TlsidClient *client, Recorder *rec) {
        memset(rec, 0, sizeof(*rec));
        ASSERT_OK(tlsid_client_on_identity_changed(client, on_identity_changed, rec));
        ASSERT_OK(tlsid_client_on_sessions_flushed(client, on_sessions_flushed, rec));
        /* A round trip after subscribing, so the bus has our match rules before another
         * connection makes the daemon emit anything. */
        statistics(client);
}

/* Polls the client's fd and dispatches until *@counter reaches @target; false on
 * timeout. */
static bool dispatch_until(TlsidClient *client, const int *counter, int target) {
        long long deadline = test_bus_now_ms() + SIGNAL_TIMEOUT_MS;
        int fd = tlsid_client_get_fd(client);

        ck_assert_int_ge(fd, 0);
        while (*counter < target) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - test_bus_now_ms();
                int r;

                if (left <= 0)
                        return false;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno != EINTR)
                        ck_abort_msg("poll: %s", strerror(errno));
                if (r > 0)
                        ASSERT_OK(tlsid_client_dispatch(client));
        }
        return true;
}

/* --- contexts --- */

static const TlsidContextInfo *find_context(const TlsidContextInfo *infos, size_t n,
                                            const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(infos[i].context, name) == 0)
                        return &infos[i];
        return NULL;
}

static bool context_listed(TlsidClient *client, const char *name) {
        TlsidContextInfo *infos = NULL;
        size_t n = 0;
        bool found;

        ASSERT_OK(tlsid_client_list_contexts(client, &infos, &n));
        found = find_context(infos, n, name) != NULL;
        tlsid_context_infos_free(infos, n);
        return found;
}

START_TEST(test_client_contexts_open_list_close) {
        TlsidClient *client = client_new();
        TlsidContext *one, *two, *again;
        TlsidContextInfo *infos = NULL;
        const TlsidContextInfo *info;
        uint32_t dropped = 99;
        size_t n = 0;

        one = context_open(client, "firefox/container-1/tab-1", 0, "Work");
        two = context_open(client, "firefox/private", TLSID_CONTEXT_EPHEMERAL, NULL);
        /* Opening an open context again is fine. */
        again = context_open(client, "firefox/container-1/tab-1", 0, NULL);
        put(one, ORIGIN, "", generation_of(one, ORIGIN), "tok-1");
        put(one, ORIGIN2, "", generation_of(one, ORIGIN2), "tok-22");
        ASSERT_OK(tlsid_context_set_choice(one, ORIGIN3, TLSID_CHOICE_NONE, NULL, 0));

        ASSERT_OK(tlsid_client_list_contexts(client, &infos, &n));
        ck_assert_uint_eq(n, 2);
        /* Sorted by name. */
        ck_assert_str_eq(infos[0].context, "firefox/container-1/tab-1");
        ck_assert_str_eq(infos[1].context, "firefox/private");
        info = &infos[0];
        ck_assert_str_eq(info->label, "Work");
        ck_assert_int_eq(info->ephemeral, 0);
        ck_assert_uint_eq(info->tokens, 2);
        ck_assert_uint_eq(info->bytes, strlen("tok-1") + strlen("tok-22"));
        ck_assert_uint_eq(info->choices, 1);
        ck_assert_uint_ge(info->partitions, 3);
        info = &infos[1];
        ck_assert_int_ne(info->ephemeral, 0);
        ck_assert_uint_eq(info->tokens, 0);
        tlsid_context_infos_free(infos, n);

        ASSERT_OK(tlsid_context_close(one, &dropped));
        ck_assert_uint_eq(dropped, 2);
        ck_assert(!context_listed(client, "firefox/container-1/tab-1"));
        ck_assert(context_listed(client, "firefox/private"));
        /* Both handles named the closed context. */
        ASSERT_ERRNO(tlsid_context_get_partition(again, ORIGIN, NULL, NULL, NULL, NULL), ENOENT);
        ASSERT_ERRNO(tlsid_context_close(again, NULL), ENOENT);

        /* Reopened, the context starts empty and its unremembered choice is gone. */
        tlsid_context_unref(one);
        one = context_open(client, "firefox/container-1/tab-1", 0, NULL);
        {
                TlsidChoice state = TLSID_CHOICE_CERTIFICATE;

                ASSERT_OK(tlsid_context_get_partition(one, ORIGIN3, &state, NULL, NULL, NULL));
                ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        }
        take_expect(one, ORIGIN, "", generation_of(one, ORIGIN), NULL);

        /* Closing by name, as a tool that never opened it would. */
        put(one, ORIGIN, "", generation_of(one, ORIGIN), "tok-3");
        dropped = 99;
        ASSERT_OK(tlsid_client_close_context(client, "firefox/container-1/tab-1", &dropped));
        ck_assert_uint_eq(dropped, 1);
        ck_assert(!context_listed(client, "firefox/container-1/tab-1"));
        ASSERT_ERRNO(tlsid_client_close_context(client, "firefox/container-1/tab-1", NULL),
                     ENOENT);
        ASSERT_ERRNO(tlsid_client_close_context(client, "bad context", NULL), EINVAL);

        tlsid_context_unref(again);
        tlsid_context_unref(two);
        tlsid_context_unref(one);
        ck_assert_ptr_null(tlsid_client_unref(client));
}
END_TEST

START_TEST(test_client_references) {
        TlsidClient *client = client_new();
        TlsidContext *context;

        /* A second reference keeps the client (and its connection) alive. */
        ck_assert_ptr_eq(tlsid_client_ref(client), client);
        ck_assert_ptr_null(tlsid_client_unref(client));
        context = context_open(client, "app/refs", 0, NULL);
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_NONE, NULL, 0));
        ck_assert_ptr_null(tlsid_context_unref(context));
        ck_assert_ptr_null(tlsid_client_unref(client));
        ck_assert_ptr_null(tlsid_client_ref(NULL));
        ck_assert_ptr_null(tlsid_client_unref(NULL));
        ck_assert_ptr_null(tlsid_context_unref(NULL));
}
END_TEST

/* Whether @fd is open in this process: the client's poll fd is open exactly while the
 * client is. */
static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/* The _unrefp helpers, as a consumer's cleanup attributes call them: each drops one
 * reference and leaves NULL behind. */
START_TEST(test_client_unrefp_under_cleanup) {
        TlsidClient *no_client = NULL;
        TlsidContext *no_context = NULL;
        int fd;

        tlsid_client_unrefp(NULL);
        tlsid_context_unrefp(NULL);
        tlsid_client_unrefp(&no_client);
        tlsid_context_unrefp(&no_context);
        ck_assert_ptr_null(no_client);
        ck_assert_ptr_null(no_context);

        {
                __attribute__((cleanup(tlsid_client_unrefp))) TlsidClient *client = client_new();

                fd = tlsid_client_get_fd(client);
                ck_assert_int_ge(fd, 0);
                {
                        __attribute__((cleanup(tlsid_context_unrefp))) TlsidContext *context =
                                context_open(client, "app/unrefp", 0, NULL);
                        __attribute__((cleanup(tlsid_context_unrefp))) TlsidContext *second =
                                tlsid_context_ref(context);

                        /* The context's reference keeps the client alive past ours. */
                        tlsid_client_unrefp(&client);
                        ck_assert_ptr_null(client);
                        ck_assert(fd_is_open(fd));
                        tlsid_context_unrefp(&second);
                        ck_assert_ptr_null(second);
                        ck_assert(fd_is_open(fd));
                        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_NONE,
                                                           NULL, 0));
                }
                /* Leaving the scope released the context, and with it the last reference
                 * to the client. */
                ck_assert(!fd_is_open(fd));
        }

        {
                __attribute__((cleanup(tlsid_client_unrefp))) TlsidClient *client = client_new();

                fd = tlsid_client_get_fd(client);
                {
                        __attribute__((cleanup(tlsid_context_unrefp))) TlsidContext *context =
                                context_open(client, "app/unrefp", 0, NULL);

                        ck_assert_ptr_eq(tlsid_context_get_client(context), client);
                }
                ck_assert(fd_is_open(fd));
        }
        /* The context went first, so the client's own release freed it. */
        ck_assert(!fd_is_open(fd));
}
END_TEST

START_TEST(test_client_unknown_context_is_enoent) {
        TlsidClient *client = client_new();
        uint32_t n = 0;

        ASSERT_ERRNO(tlsid_client_set_choice(client, "never/opened", ORIGIN, TLSID_CHOICE_NONE,
                                             NULL, 0), ENOENT);
        ASSERT_ERRNO(tlsid_client_flush_sessions(client, "never/opened", NULL, &n), ENOENT);
        ASSERT_ERRNO(tlsid_client_list_sessions(client, "never/opened",
                                                &(TlsidSessionInfo *) { NULL }, &(size_t) { 0 }),
                     ENOENT);
        ck_assert_str_ne(tlsid_error_message(), "");
        tlsid_client_unref(client);
}
END_TEST

/* --- partitions --- */

START_TEST(test_client_partition_changes_with_choice) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/a", 0, NULL);
        TlsidContext *other = context_open(client, "app/b", 0, NULL);
        TlsidChoice state = TLSID_CHOICE_CERTIFICATE;
        char *identity = NULL, *peer0 = NULL, *peer0_again = NULL, *peer1 = NULL;
        char *peer2 = NULL, *peer_other = NULL;
        uint32_t gen0 = 0, gen1 = 0, gen2 = 0, gen_same = 0;

        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, &state, &identity, &gen0, &peer0));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_str_eq(identity, "");
        ck_assert_uint_ge(gen0, 1);
        ck_assert_uint_gt(strlen(peer0), 0);
        free(identity);

        /* Stable while nothing changes. */
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, NULL, &peer0_again));
        ck_assert_str_eq(peer0, peer0_again);

        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0));
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, &state, &identity, &gen1, &peer1));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, FP_A);
        ck_assert_uint_gt(gen1, gen0);
        ck_assert_str_ne(peer1, peer0);
        free(identity);

        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_B, 0));
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, &identity, &gen2, &peer2));
        ck_assert_str_eq(identity, FP_B);
        ck_assert_uint_gt(gen2, gen1);
        ck_assert_str_ne(peer2, peer1);
        ck_assert_str_ne(peer2, peer0);
        free(identity);

        /* The same choice again changes nothing. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_B, 0));
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, &gen_same, NULL));
        ck_assert_uint_eq(gen_same, gen2);

        /* Another context, same origin: another partition. */
        ASSERT_OK(tlsid_context_get_partition(other, ORIGIN, &state, NULL, NULL, &peer_other));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_str_ne(peer_other, peer0);
        ck_assert_str_ne(peer_other, peer2);

        /* A certificate choice needs a fingerprint, the others none. */
        ASSERT_ERRNO(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, "", 0),
                     EINVAL);
        ASSERT_ERRNO(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE,
                                              "AAAA", 0), EINVAL);
        ASSERT_ERRNO(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_NONE, FP_A, 0),
                     EINVAL);
        ASSERT_ERRNO(tlsid_context_get_partition(context, "Example.com:443", NULL, NULL, NULL,
                                                 NULL), EINVAL);

        free(peer0);
        free(peer0_again);
        free(peer1);
        free(peer2);
        free(peer_other);
        tlsid_context_unref(context);
        tlsid_context_unref(other);
        tlsid_client_unref(client);
}
END_TEST

/* --- sessions --- */

/* The partition calls a context keeps built (a copy of the last one per origin, four
 * kept) never answer for another origin or the other method: six origins with choices of
 * their own, asked in turn with both methods, each get their own partition. */
START_TEST(test_client_kept_partition_calls_stay_per_origin) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/kept-calls", 0, NULL);
        char origins[6][32];

        for (int i = 0; i < 6; i++) {
                snprintf(origins[i], sizeof origins[i], "host-%d.example:443", i);
                if (i % 2)
                        ASSERT_OK(tlsid_context_set_choice(context, origins[i],
                                                           TLSID_CHOICE_CERTIFICATE,
                                                           i % 4 == 1 ? FP_A : FP_B, 0));
        }
        for (int round = 0; round < 3; round++)
                for (int i = 0; i < 6; i++) {
                        const char *want = i % 2 == 0 ? "" : i % 4 == 1 ? FP_A : FP_B;
                        TlsidChoice state;
                        char *identity = NULL;
                        void *token = NULL;
                        size_t len = 0;

                        ASSERT_OK(tlsid_context_get_partition(context, origins[i], &state,
                                                              &identity, NULL, NULL));
                        ck_assert_str_eq(identity, want);
                        ck_assert_int_eq(state, i % 2 ? TLSID_CHOICE_CERTIFICATE
                                                      : TLSID_CHOICE_UNDECIDED);
                        free(identity);
                        ck_assert_int_ge(tlsid_context_begin_connection(context, origins[i],
                                                                        NULL, &identity, NULL,
                                                                        NULL, &token, &len),
                                         0);
                        ck_assert_str_eq(identity, want);
                        free(identity);
                        tlsid_secret_free(token, len);
                }
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_begin_connection_takes_only_without_identity) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/begin", 0, NULL);
        uint32_t gen = generation_of(context, ORIGIN), generation = 0;
        char *identity = NULL, *peer_id = NULL, *expected_peer = NULL;
        TlsidChoice state = TLSID_CHOICE_CERTIFICATE;
        void *token = NULL;
        size_t len = 0;

        put(context, ORIGIN, "", gen, "resumption-ticket-1");
        ck_assert_int_eq(tlsid_context_begin_connection(context, ORIGIN, &state, &identity,
                                                        &generation, &peer_id, &token, &len),
                         1);
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_str_eq(identity, "");
        ck_assert_uint_eq(generation, gen);
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, NULL,
                                              &expected_peer));
        ck_assert_str_eq(peer_id, expected_peer);
        ck_assert_uint_eq(len, strlen("resumption-ticket-1"));
        ck_assert(memcmp(token, "resumption-ticket-1", len) == 0);
        tlsid_secret_free(token, len);
        free(identity);
        free(peer_id);
        free(expected_peer);
        /* Taken: the next connection finds none. */
        ck_assert_int_eq(tlsid_context_begin_connection(context, ORIGIN, NULL, NULL, NULL, NULL,
                                                        &token, &len),
                         0);
        ck_assert_ptr_null(token);
        ck_assert_uint_eq(len, 0);

        /* A partition with a certificate never hands its tokens out here. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0));
        gen = generation_of(context, ORIGIN);
        put(context, ORIGIN, FP_A, gen, "certificate-ticket");
        ck_assert_int_eq(tlsid_context_begin_connection(context, ORIGIN, &state, &identity,
                                                        &generation, NULL, &token, &len),
                         0);
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, FP_A);
        ck_assert_ptr_null(token);
        free(identity);
        take_expect(context, ORIGIN, FP_A, gen, "certificate-ticket");
        ASSERT_ERRNO(tlsid_context_begin_connection(context, ORIGIN, NULL, NULL, NULL, NULL,
                                                    NULL, &len),
                     EINVAL);

        /* A second reference keeps the handle alive after the first is dropped. */
        TlsidContext *again = tlsid_context_ref(context);
        ck_assert_ptr_eq(again, context);
        tlsid_context_unref(context);
        ck_assert_str_eq(tlsid_context_get_name(again), "app/begin");
        ck_assert_uint_eq(generation_of(again, ORIGIN), gen);
        tlsid_context_unref(again);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_take_is_single_use) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/single", 0, NULL);
        uint32_t gen = generation_of(context, ORIGIN);
        static unsigned char big[64 * 1024];
        void *token = NULL;
        size_t len = 0;

        put(context, ORIGIN, "", gen, "resumption-ticket-1");
        take_expect(context, ORIGIN, "", gen, "resumption-ticket-1");
        take_expect(context, ORIGIN, "", gen, NULL);

        /* Binary data and the largest token survive the round trip intact. */
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (unsigned char) (i * 7 + 3);
        big[10] = 0;
        ASSERT_OK(tlsid_context_put_session(context, ORIGIN, "", gen, big, sizeof(big),
                                            now_unix() + 60, 0x0303, NULL));
        ck_assert_int_eq(tlsid_context_take_session(context, ORIGIN, "", gen, &token, &len), 1);
        ck_assert_uint_eq(len, sizeof(big));
        ck_assert(memcmp(token, big, len) == 0);
        tlsid_secret_free(token, len);

        /* Refused before anything is sent: a put has no reply to carry an error. */
        ASSERT_ERRNO(tlsid_context_put_session(context, ORIGIN, "", gen, big, 0,
                                               now_unix() + 60, 0, NULL), EINVAL);
        ASSERT_ERRNO(tlsid_context_put_session(context, "example.com", "", gen, "x", 1,
                                               now_unix() + 60, 0, NULL), EINVAL);
        {
                size_t n = 64 * 1024 + 1;
                unsigned char *huge = calloc(1, n);

                ASSERT_ERRNO(tlsid_context_put_session(context, ORIGIN, "", gen, huge, n,
                                                       now_unix() + 60, 0, NULL), EINVAL);
                free(huge);
        }
        take_expect(context, ORIGIN, "", gen, NULL);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_newest_first_and_cap_of_four) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/cap", 0, NULL);
        uint32_t gen = generation_of(context, ORIGIN);
        TlsidSessionInfo *infos = NULL;
        size_t n = 0;

        put(context, ORIGIN, "", gen, "t0");
        put(context, ORIGIN, "", gen, "t1");
        put(context, ORIGIN, "", gen, "t2");
        put(context, ORIGIN, "", gen, "t3");
        put(context, ORIGIN, "", gen, "t4");

        ASSERT_OK(tlsid_client_list_sessions(client, "app/cap", &infos, &n));
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(infos[0].tokens, 4);
        ck_assert_uint_eq(infos[0].bytes, 8);
        tlsid_session_infos_free(infos, n);

        /* The fifth pushed out the oldest; takes return the newest first. */
        take_expect(context, ORIGIN, "", gen, "t4");
        take_expect(context, ORIGIN, "", gen, "t3");
        take_expect(context, ORIGIN, "", gen, "t2");
        take_expect(context, ORIGIN, "", gen, "t1");
        take_expect(context, ORIGIN, "", gen, NULL);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_list_sessions_and_expiry_clamp) {
        TlsidClient *client = client_new();
        TlsidContext *a = context_open(client, "app/list-a", 0, NULL);
        TlsidContext *b = context_open(client, "app/list-b", 0, NULL);
        uint32_t gen_a = generation_of(a, ORIGIN), gen_b2 = generation_of(b, ORIGIN2);
        int64_t now = now_unix();
        TlsidStatistics before = statistics(client), after;
        TlsidSessionInfo *infos = NULL;
        size_t n = 0;
        bool seen_a = false, seen_b = false;

        /* Far future: clamped to 7 days for TLS 1.3 and 24 hours for the rest. */
        ASSERT_OK(tlsid_context_put_session(a, ORIGIN, "", gen_a, "abc", 3, now + 30 * 86400,
                                            0x0304, "h2"));
        ASSERT_OK(tlsid_context_put_session(b, ORIGIN2, "", gen_b2, "defg", 4,
                                            now + 30 * 86400, 0x0303, NULL));
        /* Already expired: dropped and counted. */
        ASSERT_OK(tlsid_context_put_session(b, ORIGIN2, "", gen_b2, "old", 3, now - 10,
                                            0x0304, NULL));

        ASSERT_OK(tlsid_client_list_sessions(client, NULL, &infos, &n));
        ck_assert_uint_ge(n, 2);
        for (size_t i = 0; i < n; i++) {
                if (strcmp(infos[i].context, "app/list-a") == 0 &&
                    strcmp(infos[i].origin, ORIGIN) == 0) {
                        seen_a = true;
                        ck_assert_str_eq(infos[i].identity, "");
                        ck_assert_uint_eq(infos[i].generation, gen_a);
                        ck_assert_uint_eq(infos[i].tokens, 1);
                        ck_assert_uint_eq(infos[i].bytes, 3);
                        ck_assert_int_gt(infos[i].earliest_expiry, now + 6 * 86400);
                        ck_assert_int_le(infos[i].earliest_expiry, now_unix() + 7 * 86400);
                }
                if (strcmp(infos[i].context, "app/list-b") == 0 &&
                    strcmp(infos[i].origin, ORIGIN2) == 0) {
                        seen_b = true;
                        ck_assert_uint_eq(infos[i].tokens, 1);
                        ck_assert_uint_eq(infos[i].bytes, 4);
                        ck_assert_int_gt(infos[i].earliest_expiry, now + 86400 - 3600);
                        ck_assert_int_le(infos[i].earliest_expiry, now_unix() + 86400);
                }
        }
        ck_assert(seen_a && seen_b);
        tlsid_session_infos_free(infos, n);

        /* Filtered by context. */
        ASSERT_OK(tlsid_client_list_sessions(client, "app/list-a", &infos, &n));
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(infos[i].context, "app/list-a");
        tlsid_session_infos_free(infos, n);

        after = statistics(client);
        ck_assert_uint_eq(after.expirations - before.expirations, 1);
        ck_assert_uint_eq(after.tokens, 2);
        take_expect(b, ORIGIN2, "", gen_b2, "defg");

        tlsid_context_unref(a);
        tlsid_context_unref(b);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_stale_put_dropped_and_counted) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/stale", 0, NULL);
        uint32_t old_gen = generation_of(context, ORIGIN), gen;
        TlsidStatistics before = statistics(client), after;

        /* The client raced a switch: its token belongs to the old partition. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0));
        gen = generation_of(context, ORIGIN);
        ck_assert_uint_gt(gen, old_gen);
        put(context, ORIGIN, "", old_gen, "stale-generation");
        put(context, ORIGIN, FP_B, gen, "stale-identity");
        put(context, ORIGIN, "", gen, "no-certificate-but-one-chosen");
        put(context, ORIGIN, FP_A, gen, "current");

        after = statistics(client);
        ck_assert_uint_eq(after.stale_puts - before.stale_puts, 3);
        ck_assert_uint_eq(after.puts - before.puts, 4);
        ck_assert_uint_eq(after.tokens, 1);

        take_expect(context, ORIGIN, "", old_gen, NULL);
        take_expect(context, ORIGIN, FP_B, gen, NULL);
        take_expect(context, ORIGIN, FP_A, gen, "current");
        take_expect(context, ORIGIN, FP_A, gen, NULL);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* --- choices and signals --- */

START_TEST(test_client_set_choice_emits_identity_changed) {
        TlsidClient *client = client_new();
        TlsidClient *watcher = client_new();
        TlsidContext *context = context_open(client, "app/signals", 0, NULL);
        uint32_t gen0 = generation_of(context, ORIGIN), gen1;
        Recorder rec;

        put(context, ORIGIN, "", gen0, "dropped-by-the-change");
        record_signals(watcher, &rec);
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0));
        ck_assert_msg(dispatch_until(watcher, &rec.identity_changed, 1),
                      "IdentityChanged did not arrive");
        gen1 = generation_of(context, ORIGIN);
        ck_assert_str_eq(rec.context, "app/signals");
        ck_assert_str_eq(rec.origin, ORIGIN);
        ck_assert_int_eq(rec.state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(rec.identity, FP_A);
        ck_assert_uint_eq(rec.generation, gen1);
        ck_assert_uint_gt(gen1, gen0);
        /* The change dropped the tokens of (context, origin). */
        take_expect(context, ORIGIN, "", gen0, NULL);
        ck_assert_uint_eq(statistics(client).tokens, 0);

        /* The same choice again emits nothing: the next signal is the flush's. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0));
        ASSERT_OK(tlsid_client_flush_sessions(client, "app/signals", ORIGIN, NULL));
        ck_assert(dispatch_until(watcher, &rec.flushed, 1));
        ck_assert_str_eq(rec.order, "IF");

        /* A choice set through the client call on a context it has not opened. */
        ASSERT_OK(tlsid_client_set_choice(watcher, "app/signals", ORIGIN2, TLSID_CHOICE_NONE,
                                          NULL, 0));
        ck_assert(dispatch_until(watcher, &rec.identity_changed, 2));
        ck_assert_str_eq(rec.origin, ORIGIN2);
        ck_assert_int_eq(rec.state, TLSID_CHOICE_NONE);
        ck_assert_str_eq(rec.identity, "");

        tlsid_context_unref(context);
        tlsid_client_unref(client);
        tlsid_client_unref(watcher);
}
END_TEST

START_TEST(test_client_flush_emits_and_bumps_generation) {
        TlsidClient *client = client_new();
        TlsidContext *a = context_open(client, "app/flush-a", 0, NULL);
        TlsidContext *b = context_open(client, "app/flush-b", 0, NULL);
        uint32_t ga = generation_of(a, ORIGIN), ga2 = generation_of(a, ORIGIN2);
        uint32_t gb = generation_of(b, ORIGIN), dropped = 0;
        TlsidStatistics before, after;
        Recorder rec;

        record_signals(client, &rec);
        before = statistics(client);
        put(a, ORIGIN, "", ga, "a1");
        put(a, ORIGIN, "", ga, "a2");
        put(a, ORIGIN2, "", ga2, "a3");
        put(b, ORIGIN, "", gb, "b1");

        ASSERT_OK(tlsid_client_flush_sessions(client, "app/flush-a", ORIGIN, &dropped));
        ck_assert_uint_eq(dropped, 2);
        ck_assert_msg(dispatch_until(client, &rec.flushed, 1), "SessionsFlushed did not arrive");
        ck_assert_str_eq(rec.flushed_context, "app/flush-a");
        ck_assert_str_eq(rec.flushed_origin, ORIGIN);
        ck_assert_uint_eq(rec.dropped, 2);
        ck_assert_uint_gt(generation_of(a, ORIGIN), ga);
        /* Only the matched (context, origin). */
        ck_assert_uint_eq(generation_of(a, ORIGIN2), ga2);
        ck_assert_uint_eq(generation_of(b, ORIGIN), gb);
        take_expect(a, ORIGIN, "", ga, NULL);

        /* "" matches everything. */
        ASSERT_OK(tlsid_client_flush_sessions(client, "", "", &dropped));
        ck_assert_uint_eq(dropped, 2);
        ck_assert(dispatch_until(client, &rec.flushed, 2));
        ck_assert_str_eq(rec.flushed_context, "");
        ck_assert_str_eq(rec.flushed_origin, "");
        ck_assert_uint_gt(generation_of(a, ORIGIN2), ga2);
        ck_assert_uint_gt(generation_of(b, ORIGIN), gb);
        take_expect(b, ORIGIN, "", gb, NULL);
        take_expect(b, ORIGIN, "", generation_of(b, ORIGIN), NULL);

        /* NULL is "" too, and a flush of nothing still counts. */
        ASSERT_OK(tlsid_client_flush_sessions(client, NULL, ORIGIN3, &dropped));
        ck_assert_uint_eq(dropped, 0);
        after = statistics(client);
        ck_assert_uint_ge(after.flushes - before.flushes, 2);
        ck_assert_uint_eq(after.tokens, 0);

        tlsid_context_unref(a);
        tlsid_context_unref(b);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_forget_choices) {
        TlsidClient *client = client_new();
        TlsidContext *a = context_open(client, "app/forget-a", 0, NULL);
        TlsidContext *b = context_open(client, "app/forget-b", 0, NULL);
        TlsidChoice state = TLSID_CHOICE_CERTIFICATE;
        uint32_t forgotten = 0, gen;
        Recorder rec;

        record_signals(client, &rec);
        ASSERT_OK(tlsid_context_set_choice(a, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A,
                                           TLSID_CHOICE_REMEMBER));
        ASSERT_OK(tlsid_context_set_choice(a, ORIGIN2, TLSID_CHOICE_NONE, NULL, 0));
        ASSERT_OK(tlsid_context_set_choice(b, ORIGIN, TLSID_CHOICE_NONE, NULL,
                                           TLSID_CHOICE_REMEMBER));
        ck_assert(dispatch_until(client, &rec.identity_changed, 3));
        gen = generation_of(a, ORIGIN);

        ASSERT_OK(tlsid_client_forget_choices(client, "app/forget-a", ORIGIN, &forgotten));
        ck_assert_uint_eq(forgotten, 1);
        ASSERT_OK(tlsid_context_get_partition(a, ORIGIN, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_uint_gt(generation_of(a, ORIGIN), gen);
        /* Forgetting is a change: IdentityChanged to undecided. */
        ck_assert(dispatch_until(client, &rec.identity_changed, 4));
        ck_assert_str_eq(rec.context, "app/forget-a");
        ck_assert_int_eq(rec.state, TLSID_CHOICE_UNDECIDED);

        ASSERT_OK(tlsid_client_forget_choices(client, NULL, NULL, &forgotten));
        ck_assert_uint_eq(forgotten, 2);
        ASSERT_OK(tlsid_context_get_partition(b, ORIGIN, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ASSERT_OK(tlsid_client_forget_choices(client, "", "", &forgotten));
        ck_assert_uint_eq(forgotten, 0);

        tlsid_context_unref(a);
        tlsid_context_unref(b);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_token_key_fixed_per_daemon_run) {
        TlsidClient *client = client_new();
        void *a = NULL, *b = NULL, *c = NULL;
        size_t a_len = 0, b_len = 0, c_len = 0;

        ASSERT_OK(tlsid_client_get_token_key(client, &a, &a_len));
        ASSERT_OK(tlsid_client_get_token_key(client, &b, &b_len));
        ck_assert_uint_eq(a_len, 32);
        ck_assert_uint_eq(b_len, 32);
        /* The same key for every caller while the daemon runs... */
        ck_assert_mem_eq(a, b, a_len);
        /* ...and a new one, from the random source, after a restart. */
        test_bus_restart_daemon();
        ASSERT_OK(tlsid_client_get_token_key(client, &c, &c_len));
        ck_assert_uint_eq(c_len, 32);
        ck_assert(memcmp(a, c, a_len) != 0);
        ASSERT_ERRNO(tlsid_client_get_token_key(client, NULL, &c_len), EINVAL);
        tlsid_secret_free(a, a_len);
        tlsid_secret_free(b, b_len);
        tlsid_secret_free(c, c_len);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_statistics_counters) {
        TlsidClient *client = client_new();
        TlsidContext *context;
        TlsidStatistics before, after;

        before = statistics(client);
        ck_assert_uint_eq(before.contexts, 0);
        ck_assert_uint_eq(before.tokens, 0);
        ck_assert_uint_eq(before.bytes, 0);
        ck_assert_uint_lt(before.uptime, 3600);

        context = context_open(client, "app/stats", 0, NULL);
        put(context, ORIGIN, "", generation_of(context, ORIGIN), "12345");
        put(context, ORIGIN2, "", generation_of(context, ORIGIN2), "123");
        take_expect(context, ORIGIN, "", generation_of(context, ORIGIN), "12345");
        take_expect(context, ORIGIN, "", generation_of(context, ORIGIN), NULL);
        ASSERT_OK(tlsid_client_flush_sessions(client, "app/stats", "", NULL));

        after = statistics(client);
        ck_assert_uint_eq(after.contexts, 1);
        ck_assert_uint_ge(after.partitions, 2);
        ck_assert_uint_eq(after.tokens, 0);
        ck_assert_uint_eq(after.bytes, 0);
        ck_assert_uint_eq(after.puts - before.puts, 2);
        ck_assert_uint_eq(after.takes - before.takes, 2);
        ck_assert_uint_eq(after.hits - before.hits, 1);
        ck_assert_uint_eq(after.misses - before.misses, 1);
        ck_assert_uint_eq(after.flushes - before.flushes, 1);
        ck_assert_uint_ge(after.uptime, before.uptime);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* --- daemon lifetime --- */

START_TEST(test_client_get_daemon) {
        TlsidClient *client = client_new();
        char *owner = NULL;

        statistics(client);
        ASSERT_OK(tlsid_client_get_daemon(client, &owner));
        ck_assert_msg(owner[0] == ':', "not a unique name: %s", owner);
        free(owner);
        owner = NULL;
        ck_assert(test_bus_kill_daemon(SIGTERM));
        /* Asking does not activate it. */
        ASSERT_ERRNO(tlsid_client_get_daemon(client, &owner), ENOENT);
        ck_assert_ptr_null(owner);
        ck_assert_int_eq(test_bus_daemon_pid(), 0);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_remembered_choice_survives_restart) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/remember", 0, "R");
        TlsidContext *reopened;
        TlsidChoice state = TLSID_CHOICE_UNDECIDED;
        char *identity = NULL, *peer_before = NULL, *peer_after = NULL;
        pid_t old_pid;

        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A,
                                           TLSID_CHOICE_REMEMBER));
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN2, TLSID_CHOICE_NONE, NULL,
                                           TLSID_CHOICE_REMEMBER));
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN3, TLSID_CHOICE_CERTIFICATE, FP_B, 0));
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, NULL, NULL, &peer_before));
        old_pid = test_bus_daemon_pid();
        ck_assert_int_gt(old_pid, 0);

        test_bus_restart_daemon();
        ck_assert_int_ne(test_bus_daemon_pid(), old_pid);

        reopened = context_open(client, "app/remember", 0, NULL);
        ASSERT_OK(tlsid_context_get_partition(reopened, ORIGIN, &state, &identity, NULL,
                                              &peer_after));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, FP_A);
        /* A new daemon draws a new nonce: old in-process entries are unreachable. */
        ck_assert_str_ne(peer_after, peer_before);
        free(identity);
        ASSERT_OK(tlsid_context_get_partition(reopened, ORIGIN2, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_NONE);
        /* Not remembered: gone with the old daemon. */
        ASSERT_OK(tlsid_context_get_partition(reopened, ORIGIN3, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);

        /* The state file is private. */
        {
                char path[4096];
                struct stat st;

                snprintf(path, sizeof(path), "%s/tlsid/choices", test_bus_state_dir());
                ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
                ck_assert_uint_eq(st.st_mode & 0777, 0600);
        }

        /* Closing keeps remembered choices. */
        ASSERT_OK(tlsid_context_close(reopened, NULL));
        tlsid_context_unref(reopened);
        reopened = context_open(client, "app/remember", 0, NULL);
        ASSERT_OK(tlsid_context_get_partition(reopened, ORIGIN2, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_NONE);

        free(peer_before);
        free(peer_after);
        tlsid_context_unref(reopened);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_reconnects_after_restart) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/reconnect", 0, "L");
        TlsidContext *eph = context_open(client, "app/reconnect-private",
                                         TLSID_CONTEXT_EPHEMERAL, NULL);
        TlsidContextInfo *infos = NULL;
        const TlsidContextInfo *info;
        size_t n = 0;
        uint32_t gen;
        Recorder rec;

        record_signals(client, &rec);
        put(context, ORIGIN, "", generation_of(context, ORIGIN), "lost-in-restart");
        test_bus_restart_daemon();

        /* The existing handle works against the new daemon. */
        gen = generation_of(context, ORIGIN);
        take_expect(context, ORIGIN, "", gen, NULL);
        put(context, ORIGIN, "", gen, "after-restart");
        take_expect(context, ORIGIN, "", gen, "after-restart");
        ck_assert_uint_ge(generation_of(eph, ORIGIN), 1);

        /* Every partition changed: reported as a flush of everything. */
        ck_assert_msg(dispatch_until(client, &rec.flushed, 1),
                      "sessions_flushed(\"\", \"\", 0) not delivered after a restart");
        ck_assert_str_eq(rec.flushed_context, "");
        ck_assert_str_eq(rec.flushed_origin, "");
        ck_assert_uint_eq(rec.dropped, 0);

        /* Both contexts were reopened as they were. */
        ASSERT_OK(tlsid_client_list_contexts(client, &infos, &n));
        info = find_context(infos, n, "app/reconnect-private");
        ck_assert_ptr_nonnull(info);
        ck_assert_int_ne(info->ephemeral, 0);
        info = find_context(infos, n, "app/reconnect");
        ck_assert_ptr_nonnull(info);
        ck_assert_int_eq(info->ephemeral, 0);
        tlsid_context_infos_free(infos, n);

        tlsid_context_unref(context);
        tlsid_context_unref(eph);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_ephemeral_lives_while_a_holder_is_connected) {
        TlsidClient *observer = client_new();
        TlsidClient *holder1 = client_new();
        TlsidClient *holder2 = client_new();
        DBusConnection *watch = test_bus_connect_watching();
        TlsidContext *c1, *c2, *plain;
        TlsidContextInfo *infos = NULL;
        size_t n = 0;

        c1 = context_open(holder1, "private/window-1", TLSID_CONTEXT_EPHEMERAL, NULL);
        c2 = context_open(holder2, "private/window-1", TLSID_CONTEXT_EPHEMERAL, NULL);
        /* A plain context of a disconnecting client stays. */
        plain = context_open(holder1, "plain/one", 0, NULL);
        put(c1, ORIGIN, "", generation_of(c1, ORIGIN), "private-token");
        /* Reopening with a different ephemeral flag is refused. */
        ASSERT_ERRNO(tlsid_context_open(observer, "private/window-1", 0, NULL,
                                        &(TlsidContext *) { NULL }), EINVAL);

        ASSERT_OK(tlsid_client_list_contexts(observer, &infos, &n));
        ck_assert_ptr_nonnull(find_context(infos, n, "private/window-1"));
        ck_assert_int_ne(find_context(infos, n, "private/window-1")->ephemeral, 0);
        tlsid_context_infos_free(infos, n);

        tlsid_context_unref(c1);
        tlsid_context_unref(plain);
        ck_assert_ptr_null(tlsid_client_unref(holder1));
        /* The daemon got the same NameOwnerChanged before anything we send next. */
        ck_assert_msg(test_bus_wait_owner_change(watch, NULL, true, SIGNAL_TIMEOUT_MS),
                      "the first holder did not disconnect");
        ck_assert(context_listed(observer, "private/window-1"));
        ck_assert(context_listed(observer, "plain/one"));
        take_expect(c2, ORIGIN, "", generation_of(c2, ORIGIN), "private-token");

        tlsid_context_unref(c2);
        tlsid_client_unref(holder2);
        ck_assert_msg(test_bus_wait_owner_change(watch, NULL, true, SIGNAL_TIMEOUT_MS),
                      "the second holder did not disconnect");
        ck_assert(!context_listed(observer, "private/window-1"));
        ck_assert(context_listed(observer, "plain/one"));
        ck_assert_uint_eq(statistics(observer).contexts, 1);

        test_bus_disconnect(watch);
        tlsid_client_unref(observer);
}
END_TEST

START_TEST(test_client_ephemeral_choice_cannot_be_remembered) {
        TlsidClient *client = client_new();
        TlsidContext *eph = context_open(client, "private/x", TLSID_CONTEXT_EPHEMERAL, NULL);

        ASSERT_ERRNO(tlsid_context_set_choice(eph, ORIGIN, TLSID_CHOICE_NONE, NULL,
                                              TLSID_CHOICE_REMEMBER), EINVAL);
        ASSERT_OK(tlsid_context_set_choice(eph, ORIGIN, TLSID_CHOICE_NONE, NULL, 0));
        tlsid_context_unref(eph);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_config_limits_contexts) {
        TlsidClient *client;
        TlsidContext *a, *b, *c = NULL;

        test_bus_write_daemon_config("[limits]\nmax_contexts=2\n");
        client = client_new();
        a = context_open(client, "limit/a", 0, NULL);
        b = context_open(client, "limit/b", 0, NULL);
        ASSERT_ERRNO(tlsid_context_open(client, "limit/c", 0, NULL, &c), ENOBUFS);
        ck_assert_ptr_null(c);
        /* An open context reopens within the limit; closing one makes room. */
        tlsid_context_unref(context_open(client, "limit/a", 0, NULL));
        ASSERT_OK(tlsid_context_close(b, NULL));
        c = context_open(client, "limit/c", 0, NULL);

        tlsid_context_unref(a);
        tlsid_context_unref(b);
        tlsid_context_unref(c);
        tlsid_client_unref(client);
}
END_TEST

static bool state_dir_has(const char *prefix) {
        char path[4096];
        struct dirent *e;
        bool found = false;
        DIR *d;

        snprintf(path, sizeof(path), "%s/tlsid", test_bus_state_dir());
        d = opendir(path);
        if (!d)
                return false;
        while ((e = readdir(d)))
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
                        found = true;
        closedir(d);
        return found;
}

START_TEST(test_client_corrupt_state_file_moved_aside) {
        TlsidClient *client;
        TlsidContext *context;
        TlsidChoice state = TLSID_CHOICE_NONE;

        test_bus_write_state_file("\x01\x02 this is [not a key file\n=====\n[[[\n");
        client = client_new();
        context = context_open(client, "app/corrupt", 0, NULL);
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_msg(state_dir_has("choices.corrupt-"), "the corrupt file was not moved aside");

        /* And remembering works again from a clean slate. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_NONE, NULL,
                                           TLSID_CHOICE_REMEMBER));
        test_bus_restart_daemon();
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_NONE);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_daemon_exits_cleanly_on_sigterm) {
        TlsidClient *client;
        TlsidContext *context;
        pid_t pid;
        int status;

        pid = test_bus_spawn_daemon();
        ck_assert_int_eq(test_bus_daemon_pid(), pid);
        client = client_new();
        context = context_open(client, "app/sigterm", 0, NULL);
        put(context, ORIGIN, "", generation_of(context, ORIGIN), "zeroed-on-exit");
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN2, TLSID_CHOICE_NONE, NULL,
                                           TLSID_CHOICE_REMEMBER));
        ck_assert_uint_eq(statistics(client).tokens, 1);

        status = test_bus_stop_spawned_daemon(SIGTERM);
        ck_assert_msg(WIFEXITED(status), "tlsidd did not exit (status 0x%x)", status);
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        ck_assert_int_eq(test_bus_daemon_pid(), 0);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* The bus goes away under a connected client: the call's retry cannot reconnect and the
 * call fails, leaving nothing behind (the retry's copy of the message, which the sanitized
 * run's LeakSanitizer would report). */
START_TEST(test_client_call_fails_when_the_bus_is_gone) {
        TlsidClient *client = client_new();
        TlsidStatistics s;

        ck_assert_uint_eq(statistics(client).tokens, 0);
        test_bus_stop();
        ASSERT_ERRNO(tlsid_client_get_statistics(client, &s), ECONNREFUSED);
        ck_assert_str_ne(tlsid_error_message(), "");
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_client_unreachable_bus) {
        TlsidClient *client = NULL;
        int r;

        r = tlsid_client_new("unix:path=/nonexistent/bus", &client);
        if (r == 0) {
                TlsidStatistics s;

                ASSERT_ERRNO(tlsid_client_get_statistics(client, &s), ECONNREFUSED);
                tlsid_client_unref(client);
        } else {
                ck_assert_int_eq(r, -ECONNREFUSED);
                ck_assert_ptr_null(client);
        }
        ck_assert_str_ne(tlsid_error_message(), "");
}
END_TEST

/* --- a daemon that fails to start --- */

/* Activation files whose Exec cannot start a daemon, and the error dbus-daemon answers. */
static const struct {
        const char *exec, *error;
} failing_execs[] = {
        { "/bin/false", "org.freedesktop.DBus.Error.Spawn.ChildExited" },
        { "/nonexistent/tlsidd", "org.freedesktop.DBus.Error.Spawn.ExecFailed" },
};

/* The bus's answer, not the client's timeout: the call fails at once with -EHOSTDOWN and
 * a message that names the bus's error. */
START_TEST(test_client_daemon_fails_to_start) {
        TlsidClient *client;
        TlsidStatistics s;
        long long start;

        test_bus_start_with_exec(failing_execs[_i].exec);
        client = client_new();
        start = test_bus_now_ms();
        ASSERT_ERRNO(tlsid_client_get_statistics(client, &s), EHOSTDOWN);
        ck_assert_int_lt(test_bus_now_ms() - start, 3000);
        ck_assert_msg(strstr(tlsid_error_message(), "could not start tlsidd") &&
                      strstr(tlsid_error_message(), failing_execs[_i].error),
                      "message: %s", tlsid_error_message());
        /* And the next call again, not a timeout once the bus knows. */
        ASSERT_ERRNO(tlsid_client_get_statistics(client, &s), EHOSTDOWN);
        tlsid_client_unref(client);
        test_bus_stop();
}
END_TEST

/* With org.freedesktop.systemd1 on the bus, the library starts tlsid.service itself and
 * the job's result decides: a failed job is -EHOSTDOWN at once, and nothing else is tried
 * (the bus's activation would start the build tree's tlsidd); a job that is done, or a
 * unit systemd does not have, leaves it to the bus's activation. */
static const struct {
        const char *job_result;
        int errnum;
        const char *message;
} job_rows[] = {
        { "failed", EHOSTDOWN, "the start job of tlsid.service: failed, service result exit-code" },
        { "dependency", EHOSTDOWN, "the start job of tlsid.service: dependency" },
        { "done", 0, NULL },
        { NULL, 0, NULL },
};

START_TEST(test_client_systemd_start_job) {
        TlsidClient *client;
        TlsidStatistics s;
        long long start;
        pid_t systemd;
        int r;

        test_bus_start();
        systemd = fake_systemd_start(job_rows[_i].job_result);
        client = client_new();
        start = test_bus_now_ms();
        r = tlsid_client_get_statistics(client, &s);
        if (job_rows[_i].errnum) {
                ASSERT_ERRNO(r, job_rows[_i].errnum);
                ck_assert_int_lt(test_bus_now_ms() - start, 3000);
                ck_assert_msg(strstr(tlsid_error_message(), job_rows[_i].message),
                              "message: %s", tlsid_error_message());
                ck_assert_int_eq(test_bus_daemon_pid(), 0);
        } else {
                ASSERT_OK(r);
                ck_assert_int_gt(test_bus_daemon_pid(), 0);
        }
        tlsid_client_unref(client);
        fake_systemd_stop(systemd);
        test_bus_stop();
}
END_TEST

/* The bus's activation of tlsidd hangs (systemd has no such unit, the activation file
 * runs a sleep) and the call times out: a unit that systemd1 says failed turns the
 * timeout into -EHOSTDOWN, as for a client that did not see the daemon go. */
START_TEST(test_client_timeout_of_a_failed_unit) {
        TlsidClient *client;
        TlsidStatistics s;
        pid_t systemd;

        test_bus_start_with_exec("/bin/sleep 60");
        systemd = fake_systemd_start(NULL);
        client = client_new();
        ASSERT_OK(tlsid_client_set_timeout(client, 300u * 1000u));
        ASSERT_ERRNO(tlsid_client_get_statistics(client, &s), EHOSTDOWN);
        ck_assert_msg(strstr(tlsid_error_message(),
                             "GetStatistics: tlsid.service failed, service result exit-code"),
                      "message: %s", tlsid_error_message());
        tlsid_client_unref(client);
        fake_systemd_stop(systemd);
        test_bus_stop();
}
END_TEST

/* --- threads --- */

typedef struct {
        TlsidContext *context;
        char origin[64];
        int failures;
} Worker;

static void *worker_run(void *data) {
        Worker *w = data;

        for (int i = 0; i < 100; i++) {
                char token[96];
                void *got = NULL;
                size_t len = 0;
                uint32_t gen = 0;

                snprintf(token, sizeof(token), "%s#%d", w->origin, i);
                if (tlsid_context_get_partition(w->context, w->origin, NULL, NULL, &gen,
                                                NULL) < 0 ||
                    tlsid_context_put_session(w->context, w->origin, "", gen, token,
                                              strlen(token), now_unix() + 60, 0x0304,
                                              NULL) < 0 ||
                    tlsid_context_take_session(w->context, w->origin, "", gen, &got, &len) != 1 ||
                    len != strlen(token) || memcmp(got, token, len) != 0)
                        w->failures++;
                tlsid_secret_free(got, len);
        }
        return NULL;
}

START_TEST(test_client_threads_share_a_client) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client, "app/threads", 0, NULL);
        pthread_t threads[4];
        Worker workers[4];

        for (int i = 0; i < 4; i++) {
                workers[i] = (Worker) { .context = context };
                snprintf(workers[i].origin, sizeof(workers[i].origin), "host%d.example:443", i);
                ck_assert_int_eq(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(threads[i], NULL);
                ck_assert_msg(workers[i].failures == 0, "thread %d: %d failures", i,
                              workers[i].failures);
        }
        ck_assert_uint_eq(statistics(client).tokens, 0);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

static Suite *client_suite(void) {
        Suite *s = suite_create("client");
        TCase *tc = tcase_create("client");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_client_contexts_open_list_close);
        tcase_add_test(tc, test_client_references);
        tcase_add_test(tc, test_client_unrefp_under_cleanup);
        tcase_add_test(tc, test_client_unknown_context_is_enoent);
        tcase_add_test(tc, test_client_partition_changes_with_choice);
        tcase_add_test(tc, test_client_take_is_single_use);
        tcase_add_test(tc, test_client_begin_connection_takes_only_without_identity);
        tcase_add_test(tc, test_client_kept_partition_calls_stay_per_origin);
        tcase_add_test(tc, test_client_newest_first_and_cap_of_four);
        tcase_add_test(tc, test_client_list_sessions_and_expiry_clamp);
        tcase_add_test(tc, test_client_stale_put_dropped_and_counted);
        tcase_add_test(tc, test_client_set_choice_emits_identity_changed);
        tcase_add_test(tc, test_client_flush_emits_and_bumps_generation);
        tcase_add_test(tc, test_client_forget_choices);
        tcase_add_test(tc, test_client_statistics_counters);
        tcase_add_test(tc, test_client_token_key_fixed_per_daemon_run);
        tcase_add_test(tc, test_client_get_daemon);
        tcase_add_test(tc, test_client_remembered_choice_survives_restart);
        tcase_add_test(tc, test_client_reconnects_after_restart);
        tcase_add_test(tc, test_client_ephemeral_lives_while_a_holder_is_connected);
        tcase_add_test(tc, test_client_ephemeral_choice_cannot_be_remembered);
        tcase_add_test(tc, test_client_config_limits_contexts);
        tcase_add_test(tc, test_client_corrupt_state_file_moved_aside);
        tcase_add_test(tc, test_client_daemon_exits_cleanly_on_sigterm);
        tcase_add_test(tc, test_client_unreachable_bus);
        tcase_add_test(tc, test_client_call_fails_when_the_bus_is_gone);
        tcase_add_test(tc, test_client_threads_share_a_client);
        suite_add_tcase(s, tc);

        /* Each on a bus of its own whose activation file fails. */
        tc = tcase_create("activation");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_client_daemon_fails_to_start, 0,
                            sizeof failing_execs / sizeof failing_execs[0]);
        tcase_add_loop_test(tc, test_client_systemd_start_job, 0,
                            sizeof job_rows / sizeof job_rows[0]);
        tcase_add_test(tc, test_client_timeout_of_a_failed_unit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(client_suite(), CK_FORK);
}
