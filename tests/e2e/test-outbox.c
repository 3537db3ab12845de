/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end tests of libtlsid-nss's outbox, against nginx (its port that never asks for a
 * certificate) under TLS 1.3 and 1.2, through tlsidd on a private bus: connections opened
 * back to back to one origin resume from their own process's newest token even when its
 * put worker has not run yet, and a token made under a partition gone since (a flush, a
 * switch) never serves and never reaches the daemon. The test links the adapter's static
 * library for outbox_hold(), which holds the worker as a busy machine would: the race the
 * outbox closes is then certain instead of likely. */
#include <check.h>
#include <glib.h>
#include <nss.h>
#include <prnetdb.h>
#include <signal.h>
#include <ssl.h>
#include <sslproto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tlsid/tlsid-nss.h>
#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "libtlsid-nss-private.h"
#include "noask-fixture.h"
#include "test-bus.h"
#include "tls-server.h"

#define CTX "outbox/tab"
#define HELD_CONNECTIONS 12
#define FREE_CONNECTIONS 100
#define FLUSH_USEC (10u * 1000u * 1000u)

static char *alice_fp;

static void setup_1_3(void) {
        noask_start(TLS_VERSION_1_3);
        alice_fp = certs_read_fingerprint("alice");
}

static void setup_1_2(void) {
        noask_start(TLS_VERSION_1_2);
        alice_fp = certs_read_fingerprint("alice");
}

static void teardown(void) {
        outbox_hold(false);
        (void) noask_stop();
        g_clear_pointer(&alice_fp, g_free);
}

/* Releases the worker, which sends what is left: new tokens reach the daemon, and none
 * it would refuse as stale (since @before). */
static void release_and_flush(TlsidClient *client, const TlsidStatistics *before) {
        TlsidStatistics after;

        outbox_hold(false);
        ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        after = noask_statistics(client);
        ck_assert_uint_gt(after.puts, before->puts);
        ck_assert_uint_eq(after.stale_puts, before->stale_puts);
}

/* The tokens the daemon holds for the origin are dated as NSS dates its sessions (read
 * from the session, not by decoding the token again): days ahead, within the daemon's
 * clamp (24 hours for TLS 1.2, 7 days for TLS 1.3). */
static void check_expiry(TlsidClient *client) {
        TlsidSessionInfo *infos = NULL;
        size_t n = 0, found = 0;
        int64_t now = (int64_t) time(NULL);

        ASSERT_OK(tlsid_client_list_sessions(client, CTX, &infos, &n));
        for (size_t i = 0; i < n; i++) {
                if (strcmp(infos[i].origin, origin) != 0 || infos[i].tokens == 0)
                        continue;
                found++;
                ck_assert_int_gt(infos[i].earliest_expiry, now + 3600);
                ck_assert_int_le(infos[i].earliest_expiry, now + 7 * 24 * 3600 + 60);
        }
        ck_assert_uint_eq(found, 1);
        tlsid_session_infos_free(infos, n);
}

/* The worker sends nothing while the connections run: each resumes from the token its
 * predecessor queued, which the daemon has never seen. */
START_TEST(test_outbox_back_to_back_resume_while_puts_wait) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidStatistics before, after;

        before = noask_statistics(client);
        outbox_hold(true);
        ck_assert_msg(!noask_connect(context), "the first connection resumed");
        for (int i = 1; i < HELD_CONNECTIONS; i++)
                ck_assert_msg(noask_connect(context),
                              "%s: connection %d of %d after the first did a full handshake",
                              tls_version_name(version), i, HELD_CONNECTIONS - 1);
        after = noask_statistics(client);
        ck_assert_uint_eq(after.puts, before.puts);
        ck_assert_uint_eq(after.hits, before.hits);

        release_and_flush(client, &before);
        check_expiry(client);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* With the worker running as it likes, no connection misses its predecessor's token. */
START_TEST(test_outbox_back_to_back_resume) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        int full = 0;

        ck_assert(!noask_connect(context));
        for (int i = 1; i < FREE_CONNECTIONS; i++)
                full += !noask_connect(context);
        ck_assert_msg(full == 0, "%s: %d of %d connections after the first did a full handshake",
                      tls_version_name(version), full, FREE_CONNECTIONS - 1);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* A flush, and a switch away and back, each leave the process holding a token of the
 * partition gone: the next connection does a full handshake, the one after it resumes from
 * the new partition's token, and the old one never reaches the daemon. */
START_TEST(test_outbox_token_of_a_partition_gone_never_serves) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidStatistics before = noask_statistics(client);

        outbox_hold(true);
        ck_assert(!noask_connect(context));
        ck_assert(noask_connect(context));

        ASSERT_OK(tlsid_client_flush_sessions(client, CTX, origin, NULL));
        ck_assert_msg(!noask_connect(context), "resumed a session flushed");
        ck_assert(noask_connect(context));

        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_CERTIFICATE, alice_fp,
                                           0));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        ck_assert_msg(!noask_connect(context),
                      "resumed a session of the partition before a switch");
        ck_assert(noask_connect(context));

        release_and_flush(client, &before);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

static Suite *outbox_suite(void) {
        Suite *s = suite_create("outbox");

        for (int v = 0; v < 2; v++) {
                TCase *tc = tcase_create(v == 0 ? "tls13" : "tls12");

                tcase_add_checked_fixture(tc, v == 0 ? setup_1_3 : setup_1_2, teardown);
                tcase_set_timeout(tc, 120);
                tcase_add_test(tc, test_outbox_back_to_back_resume_while_puts_wait);
                tcase_add_test(tc, test_outbox_back_to_back_resume);
                tcase_add_test(tc, test_outbox_token_of_a_partition_gone_never_serves);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        return test_run_suite(outbox_suite(), CK_FORK);
}
