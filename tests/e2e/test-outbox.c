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
#include "test-bus.h"
#include "tls-server.h"

#define CTX "outbox/tab"
#define HELD_CONNECTIONS 12
#define FREE_CONNECTIONS 100
#define FLUSH_USEC (10u * 1000u * 1000u)

static TlsVersion version;
static TlsServer *server;
static uint16_t port;
static char *origin;
static char *alice_fp;

static void setup(void) {
        g_autofree char *dir = NULL, *db = NULL;

        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        alice_fp = certs_read_fingerprint("alice");
        db = g_strdup_printf("sql:%s/client-db", certs_dir);
        test_bus_start();
        dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        server = tls_server_start_nginx(certs_dir, dir, version);
        port = tls_server_noask_port(server);
        origin = g_strdup_printf("localhost:%u", port);
        ck_assert_int_eq(NSS_Initialize(db, "", "", "", NSS_INIT_READONLY), SECSuccess);
        ck_assert_int_eq(NSS_SetDomesticPolicy(), SECSuccess);
}

static void setup_1_3(void) {
        version = TLS_VERSION_1_3;
        setup();
}

static void setup_1_2(void) {
        version = TLS_VERSION_1_2;
        setup();
}

static void teardown(void) {
        outbox_hold(false);
        SSL_ClearSessionCache();
        NSS_Shutdown();
        tls_server_stop(server);
        g_clear_pointer(&origin, g_free);
        test_bus_stop();
        certs_remove();
        g_clear_pointer(&alice_fp, g_free);
}

/* One connection of @context to the server: handshake, GET /, the response read to its end
 * (a TLS 1.3 NewSessionTicket with it), close. Returns whether it resumed, which NSS and
 * nginx must agree on. */
static bool connect_once(TlsidContext *context) {
        static const char request[] =
                "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        SSLVersionRange range = { SSL_LIBRARY_VERSION_TLS_1_2, SSL_LIBRARY_VERSION_TLS_1_3 };
        TlsidNssConnection *conn = NULL;
        PRFileDesc *tcp = PR_NewTCPSocket(), *fd;
        SSLChannelInfo info;
        PRNetAddr addr;
        char body[1024];
        size_t got = 0;

        ck_assert_ptr_nonnull(tcp);
        ck_assert_int_eq(PR_InitializeNetAddr(PR_IpAddrLoopback, port, &addr), PR_SUCCESS);
        ck_assert_int_eq(PR_Connect(tcp, &addr, PR_SecondsToInterval(10)), PR_SUCCESS);
        fd = SSL_ImportFD(NULL, tcp);
        ck_assert_ptr_nonnull(fd);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_ENABLE_SESSION_TICKETS, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_VersionRangeSet(fd, &range), SECSuccess);
        ck_assert_int_eq(SSL_SetURL(fd, "localhost"), SECSuccess);
        ck_assert_int_eq(SSL_ResetHandshake(fd, PR_FALSE), SECSuccess);
        ASSERT_OK(tlsid_nss_attach(fd, context, "localhost", port, 0, &conn));
        ck_assert(!tlsid_nss_connection_is_degraded(conn));
        ck_assert_msg(SSL_ForceHandshake(fd) == SECSuccess, "handshake: %d", PR_GetError());
        ck_assert_int_eq(PR_Write(fd, request, (PRInt32) strlen(request)),
                         (PRInt32) strlen(request));
        for (;;) {
                PRInt32 n = PR_Read(fd, body + got, (PRInt32) (sizeof body - 1 - got));

                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        body[got] = '\0';
        ck_assert_msg(strstr(body, "HTTP/1.1 200 "), "response: %s", body);
        ck_assert_int_eq(SSL_GetChannelInfo(fd, &info, sizeof info), SECSuccess);
        ck_assert_int_eq(info.resumed, strstr(body, "reused=r ") != NULL);
        PR_Close(fd);
        tlsid_nss_connection_free(conn);
        return info.resumed;
}

static TlsidContext *open_context(TlsidClient *client) {
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, CTX, 0, NULL, &context));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        return context;
}

static TlsidStatistics statistics(TlsidClient *client) {
        TlsidStatistics s;

        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        return s;
}

/* Releases the worker, which sends what is left: new tokens reach the daemon, and none
 * it would refuse as stale (since @before). */
static void release_and_flush(TlsidClient *client, const TlsidStatistics *before) {
        TlsidStatistics after;

        outbox_hold(false);
        ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        after = statistics(client);
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
        TlsidContext *context = open_context(client);
        TlsidStatistics before, after;

        before = statistics(client);
        outbox_hold(true);
        ck_assert_msg(!connect_once(context), "the first connection resumed");
        for (int i = 1; i < HELD_CONNECTIONS; i++)
                ck_assert_msg(connect_once(context),
                              "%s: connection %d of %d after the first did a full handshake",
                              tls_version_name(version), i, HELD_CONNECTIONS - 1);
        after = statistics(client);
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
        TlsidContext *context = open_context(client);
        int full = 0;

        ck_assert(!connect_once(context));
        for (int i = 1; i < FREE_CONNECTIONS; i++)
                full += !connect_once(context);
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
        TlsidContext *context = open_context(client);
        TlsidStatistics before = statistics(client);

        outbox_hold(true);
        ck_assert(!connect_once(context));
        ck_assert(connect_once(context));

        ASSERT_OK(tlsid_client_flush_sessions(client, CTX, origin, NULL));
        ck_assert_msg(!connect_once(context), "resumed a session flushed");
        ck_assert(connect_once(context));

        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_CERTIFICATE, alice_fp,
                                           0));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        ck_assert_msg(!connect_once(context), "resumed a session of the partition before a switch");
        ck_assert(connect_once(context));

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
