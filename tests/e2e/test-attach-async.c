/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end tests of libtlsid-nss's asynchronous attach against nginx (its port that
 * never asks for a certificate) through tlsidd on a private bus: the attach is started
 * before a non-blocking TCP connect and both complete on one poll loop; the handshake
 * resumes from the daemon's token, or from the process's own (the outbox path); the loop
 * keeps turning while the daemon is stopped; a cancelled attach gives its token back; and
 * it fails closed when the daemon does not answer; and the server's certificate stays in
 * memory so that tokens decode without the database. Linked with the adapter's static
 * library for outbox_hold(). */
#include <cert.h>
#include <certdb.h>
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <nss.h>
#include <poll.h>
#include <prerror.h>
#include <prnetdb.h>
#include <private/pprio.h> /* PR_FileDesc2NativeHandle, for poll() */
#include <pthread.h>
#include <signal.h>
#include <ssl.h>
#include <sslproto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tlsid/tlsid-nss.h>
#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "daemon-pause.h"
#include "lib-asserts.h"
#include "libtlsid-nss-private.h"
#include "noask-fixture.h"
#include "test-bus.h"
#include "tls-server.h"

#define CTX "async/tab"
#define FLUSH_USEC (10u * 1000u * 1000u)
#define LOOP_MS 20000
/* How long the daemon stays stopped while the loop turns. */
#define STOPPED_MS 400

static void setup_1_3(void) {
        noask_start(TLS_VERSION_1_3);
}

static void setup_1_2(void) {
        noask_start(TLS_VERSION_1_2);
}

static void teardown(void) {
        outbox_hold(false);
        /* Nothing of the adapter keeps NSS busy (the certificates it keeps are dropped). */
        ck_assert_int_eq(noask_stop(), SECSuccess);
}

/* A TCP socket to the server whose connect is under way (or done). */
static PRFileDesc *connect_start(void) {
        PRSocketOptionData opt = { .option = PR_SockOpt_Nonblocking };
        PRFileDesc *tcp = PR_OpenTCPSocket(PR_AF_INET);
        PRNetAddr addr;

        ck_assert_ptr_nonnull(tcp);
        opt.value.non_blocking = PR_TRUE;
        ck_assert_int_eq(PR_SetSocketOption(tcp, &opt), PR_SUCCESS);
        ck_assert_int_eq(PR_InitializeNetAddr(PR_IpAddrLoopback, port, &addr), PR_SUCCESS);
        if (PR_Connect(tcp, &addr, PR_INTERVAL_NO_WAIT) != PR_SUCCESS)
                ck_assert_int_eq(PR_GetError(), PR_IN_PROGRESS_ERROR);
        return tcp;
}

/* What one poll loop saw. */
typedef struct {
        int turns;              /* poll() returned with nothing done */
        int turns_while_stopped; /* ... while *stopped was set */
        bool done_while_stopped; /* the attach ended while *stopped was set */
} Loop;

static volatile int stopped; /* set while the daemon is stopped (by the test's thread) */

/* One loop for the attach and the connect, never blocking on either: polls the attach's
 * fd and the socket (for writing, until connected), 10 ms at most at a time. */
static void drive(TlsidNssAttach *attach, PRFileDesc *tcp, Loop *loop) {
        long long deadline = test_bus_now_ms() + LOOP_MS;
        bool attached = false, connected = false;

        while (!attached || !connected) {
                struct pollfd p[2] = {
                        { .fd = attached ? -1 : tlsid_nss_attach_get_fd(attach), .events = POLLIN },
                        { .fd = connected ? -1 : PR_FileDesc2NativeHandle(tcp), .events = POLLOUT },
                };
                int n;

                ck_assert_msg(test_bus_now_ms() < deadline, "the loop did not end");
                n = poll(p, 2, 10);
                ck_assert_int_ge(n, 0);
                if (n == 0) {
                        loop->turns++;
                        if (stopped)
                                loop->turns_while_stopped++;
                }
                if (!attached && (p[0].revents & POLLIN)) {
                        int r = tlsid_nss_attach_dispatch(attach);

                        ck_assert_int_ge(r, 0);
                        attached = r == 1;
                        if (attached && stopped)
                                loop->done_while_stopped = true;
                }
                if (!connected && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        PRInt16 flags = (p[1].revents & POLLOUT ? PR_POLL_WRITE : 0) |
                                        (p[1].revents & POLLERR ? PR_POLL_ERR : 0) |
                                        (p[1].revents & POLLHUP ? PR_POLL_HUP : 0);

                        ck_assert_msg(PR_ConnectContinue(tcp, flags) == PR_SUCCESS,
                                      "connect: %d", PR_GetError());
                        connected = true;
                }
        }
}

/* The connected @tcp made blocking and an SSL client socket, reset for its handshake. */
static PRFileDesc *import_tls(PRFileDesc *tcp) {
        SSLVersionRange range = { SSL_LIBRARY_VERSION_TLS_1_2, SSL_LIBRARY_VERSION_TLS_1_3 };
        PRSocketOptionData opt = { .option = PR_SockOpt_Nonblocking };
        PRFileDesc *fd;

        opt.value.non_blocking = PR_FALSE;
        ck_assert_int_eq(PR_SetSocketOption(tcp, &opt), PR_SUCCESS);
        fd = SSL_ImportFD(NULL, tcp);
        ck_assert_ptr_nonnull(fd);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_ENABLE_SESSION_TICKETS, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_VersionRangeSet(fd, &range), SECSuccess);
        ck_assert_int_eq(SSL_ResetHandshake(fd, PR_FALSE), SECSuccess);
        return fd;
}

/* The rest of a connection once the attach and the connect are done: the TLS socket,
 * the finish, the handshake, GET /, the response to its end, close. Returns whether it
 * resumed (NSS and nginx must agree); *@ret_degraded says whether it failed closed. */
static bool complete(TlsidNssAttach *attach, PRFileDesc *tcp, bool *ret_degraded) {
        TlsidNssConnection *conn = NULL;
        PRFileDesc *fd;
        bool resumed;

        fd = import_tls(tcp);
        ASSERT_OK(tlsid_nss_attach_finish(attach, fd, &conn));
        *ret_degraded = tlsid_nss_connection_is_degraded(conn);
        ck_assert_msg(SSL_ForceHandshake(fd) == SECSuccess, "handshake: %d", PR_GetError());
        resumed = noask_exchange(fd);
        tlsid_nss_connection_free(conn);
        return resumed;
}

/* One connection through the asynchronous attach, started before the connect. */
static bool connect_async(TlsidContext *context, Loop *loop, bool *ret_degraded) {
        TlsidNssAttach *attach = NULL;
        PRFileDesc *tcp;
        Loop scratch = { 0 };

        ASSERT_OK(tlsid_nss_attach_start(context, "localhost", port, 0, &attach));
        tcp = connect_start();
        drive(attach, tcp, loop ? loop : &scratch);
        return complete(attach, tcp, ret_degraded);
}

/* A token in the daemon and none in the outbox: the process's first connection, sent. */
static void prime(TlsidContext *context) {
        ck_assert(!noask_connect(context));
        ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
}

/* Started before the connect, the attach's BeginConnection brings the daemon's token,
 * and the handshake resumes from it. */
START_TEST(test_attach_async_resumes_from_the_daemons_token) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidStatistics before;
        bool degraded = true;

        prime(context);
        for (int i = 0; i < 5; i++) {
                before = noask_statistics(client);
                ck_assert_msg(connect_async(context, NULL, &degraded),
                              "%s: connection %d did a full handshake", tls_version_name(version),
                              i);
                ck_assert(!degraded);
                ck_assert_uint_eq(noask_statistics(client).hits, before.hits + 1);
                ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        }
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* With the put worker held, each asynchronous connection resumes from its predecessor's
 * token, served by the outbox after GetPartition: the daemon serves none and gets none. */
START_TEST(test_attach_async_serves_the_outbox_first) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidStatistics before;
        bool degraded = true;

        prime(context);
        outbox_hold(true);
        ck_assert(noask_connect(context));
        before = noask_statistics(client);
        for (int i = 0; i < 5; i++) {
                ck_assert_msg(connect_async(context, NULL, &degraded),
                              "%s: connection %d did a full handshake", tls_version_name(version),
                              i);
                ck_assert(!degraded);
        }
        ck_assert_uint_eq(noask_statistics(client).hits, before.hits);
        ck_assert_uint_eq(noask_statistics(client).puts, before.puts);
        outbox_hold(false);
        ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* The daemon is stopped while the attach is in flight: the loop keeps turning (the start
 * returned, the dispatch never waits) and the connect completes; the attach ends only once
 * the daemon runs again, and resumes from its token. The client's timeout is longer than
 * the stop, so that a blocking attach would have waited it out inside the start. */
START_TEST(test_attach_async_loop_turns_while_daemon_stopped) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidNssAttach *attach = NULL;
        DaemonPause pause;
        Loop loop = { 0 };
        PRFileDesc *tcp;
        bool degraded = true;

        ASSERT_OK(tlsid_client_set_timeout(client, 10u * 1000u * 1000u));
        prime(context);
        daemon_pause_start(&pause, STOPPED_MS, &stopped);
        ASSERT_OK(tlsid_nss_attach_start(context, "localhost", port, 0, &attach));
        ck_assert_msg(stopped, "tlsid_nss_attach_start() waited for the stopped daemon");
        tcp = connect_start();
        drive(attach, tcp, &loop);
        daemon_pause_join(&pause);
        ck_assert_msg(loop.turns_while_stopped >= 5,
                      "the loop turned %d times while the daemon was stopped",
                      loop.turns_while_stopped);
        ck_assert_msg(!loop.done_while_stopped, "the attach ended while the daemon was stopped");
        ck_assert_msg(complete(attach, tcp, &degraded), "did a full handshake");
        ck_assert(!degraded);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* The daemon does not answer within the adapter's timeout (250 ms): the attach ends on its
 * own, and the connection fails closed (no token, no resumption). */
START_TEST(test_attach_async_fails_closed_without_answer) {
        TlsidClient *client = NULL;
        TlsidContext *context;
        Loop loop = { 0 };
        pid_t pid;
        bool degraded = false;

        test_bus_activate_daemon();
        ASSERT_OK(tlsid_nss_client_new(test_bus_address(), &client));
        context = noask_open_context(client, CTX);
        prime(context);
        pid = test_bus_daemon_pid();
        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        stopped = 1;
        ck_assert_msg(!connect_async(context, &loop, &degraded), "resumed without the daemon");
        stopped = 0;
        ck_assert_int_eq(kill(pid, SIGCONT), 0);
        ck_assert(degraded);
        ck_assert_msg(loop.done_while_stopped, "the attach did not end on its own");
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* Bus and daemon gone before the start: the attach fails closed at once. */
START_TEST(test_attach_async_fails_closed_when_the_bus_is_gone) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        bool degraded = false;

        prime(context);
        ck_assert(test_bus_kill_daemon(SIGKILL));
        test_bus_stop();
        ck_assert(!connect_async(context, NULL, &degraded));
        ck_assert(degraded);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* Polls @attach's fd until its round trips ended. */
static void wait_answer(TlsidNssAttach *attach) {
        while (tlsid_nss_attach_dispatch(attach) == 0) {
                struct pollfd p = { .fd = tlsid_nss_attach_get_fd(attach), .events = POLLIN };

                ck_assert_int_eq(poll(&p, 1, 5000), 1);
        }
}

/* An attach cancelled once its reply is in gives the daemon's token back (through the
 * outbox): the next connection resumes from it. Cancelled while in flight, it leaks
 * nothing (the sanitized run checks) and the next attach works. */
START_TEST(test_attach_async_cancel_gives_the_token_back) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidNssAttach *attach = NULL;
        TlsidStatistics before;
        bool degraded = true;

        prime(context);
        before = noask_statistics(client);
        ASSERT_OK(tlsid_nss_attach_start(context, "localhost", port, 0, &attach));
        wait_answer(attach);
        /* The daemon gave it a token. */
        ck_assert_uint_eq(noask_statistics(client).hits, before.hits + 1);
        tlsid_nss_attach_cancel(attach);
        ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        ck_assert_uint_eq(noask_statistics(client).puts, before.puts + 1);
        ck_assert_msg(connect_async(context, NULL, &degraded),
                      "%s: the token of the cancelled attach was lost", tls_version_name(version));

        /* In flight. */
        ASSERT_OK(tlsid_nss_attach_start(context, "localhost", port, 0, &attach));
        tlsid_nss_attach_cancel(attach);
        tlsid_nss_attach_cancel(NULL);
        (void) connect_async(context, NULL, &degraded);
        ck_assert(!degraded);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* With the put worker held, an attach cancelled after it claimed the process's own token
 * puts it back in the outbox: the next connection resumes from it, without the daemon. */
START_TEST(test_attach_async_cancel_gives_the_outbox_token_back) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidNssAttach *attach = NULL;
        TlsidStatistics before;
        bool degraded = true;

        prime(context);
        outbox_hold(true);
        ck_assert(noask_connect(context));
        before = noask_statistics(client);
        for (int i = 0; i < 2; i++) {
                ASSERT_OK(tlsid_nss_attach_start(context, "localhost", port, 0, &attach));
                /* Before the answer, then after it. */
                if (i == 1)
                        wait_answer(attach);
                tlsid_nss_attach_cancel(attach);
                ck_assert_msg(connect_async(context, NULL, &degraded),
                              "%s: the outbox's token was lost (cancelled %s the answer)",
                              tls_version_name(version), i ? "after" : "before");
                ck_assert_msg(noask_statistics(client).hits == before.hits,
                              "%s: the daemon served the connection after the cancel",
                              tls_version_name(version));
        }
        outbox_hold(false);
        ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* The libtlsid calls underneath: a call's reply that another thread's blocking call read
 * off the socket still wakes the call's fd. */
START_TEST(test_attach_async_call_woken_by_another_threads_read) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        TlsidCall *call = NULL;
        char *peer_id = NULL;
        struct pollfd p;

        ASSERT_OK(tlsid_context_get_partition_async(context, origin, &call));
        /* A blocking call on the same connection reads every reply that comes first. */
        ASSERT_OK(tlsid_context_get_partition(context, origin, NULL, NULL, NULL, NULL));
        p = (struct pollfd) { .fd = tlsid_call_get_fd(call), .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        ck_assert_int_eq(tlsid_call_dispatch(call), 1);
        ASSERT_OK(tlsid_call_finish_partition(call, NULL, NULL, NULL, &peer_id, NULL, NULL));
        ck_assert(peer_id && *peer_id);
        ck_assert_int_eq(tlsid_call_finish_session(call, &(void *) { NULL }, &(size_t) { 0 }),
                         -EINVAL);
        free(peer_id);
        tlsid_call_free(call);

        /* Not ended yet: -EAGAIN, and free cancels. */
        ASSERT_OK(tlsid_context_get_partition_async(context, origin, &call));
        ck_assert_int_eq(tlsid_call_finish_partition(call, NULL, NULL, NULL, NULL, NULL, NULL),
                         -EAGAIN);
        tlsid_call_free(call);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* A connection's server certificate stays in memory with a trust record that says
 * nothing (so that decoding the next token finds it and asks the database nothing): no SSL
 * or e-mail flags, only CERTDB_SEND_WARN, which no verification reads; the resumed
 * connection's certificate is that same object. */
START_TEST(test_attach_async_server_certificate_stays_in_memory) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        CERTCertificate *first = NULL;

        for (int i = 0; i < 2; i++) {
                TlsidNssAttach *attach = NULL;
                TlsidNssConnection *conn = NULL;
                PRFileDesc *tcp, *fd;
                CERTCertificate *cert;
                CERTCertTrust trust;
                Loop loop = { 0 };

                ASSERT_OK(tlsid_nss_attach_start(context, "localhost", port, 0, &attach));
                tcp = connect_start();
                drive(attach, tcp, &loop);
                fd = import_tls(tcp);
                ASSERT_OK(tlsid_nss_attach_finish(attach, fd, &conn));
                ck_assert(SSL_ForceHandshake(fd) == SECSuccess);
                cert = SSL_PeerCertificate(fd);
                ck_assert_ptr_nonnull(cert);
                ck_assert(!cert->isperm);
                ck_assert_msg(CERT_GetCertTrust(cert, &trust) == SECSuccess,
                              "the server's certificate has no trust record in memory");
                ck_assert_uint_eq(trust.sslFlags, 0);
                ck_assert_uint_eq(trust.emailFlags, 0);
                ck_assert_uint_eq(trust.objectSigningFlags, CERTDB_SEND_WARN);
                if (i == 0)
                        first = cert;
                else {
                        ck_assert_ptr_eq(cert, first);
                        CERT_DestroyCertificate(cert);
                }
                PR_Close(fd);
                tlsid_nss_connection_free(conn);
                ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        }
        CERT_DestroyCertificate(first);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

typedef struct {
        TlsidContext *context;
        int degraded;
} Worker;

static void *worker_main(void *data) {
        Worker *w = data;

        for (int i = 0; i < 10; i++) {
                bool degraded = true;

                (void) connect_async(w->context, NULL, &degraded);
                w->degraded += degraded;
                /* Blocking calls on the same connection, reading others' replies. */
                ASSERT_OK(tlsid_context_get_partition(w->context, origin, NULL, NULL, NULL,
                                                      NULL));
        }
        return NULL;
}

/* Threads of one client attach at once: each thread's reads of the shared connection
 * take the others' replies too, and every attach still ends with its own answer (none
 * times out into a degraded connection). */
START_TEST(test_attach_async_threads_share_the_connection) {
        TlsidClient *client = client_new();
        TlsidContext *context = noask_open_context(client, CTX);
        pthread_t threads[4];
        Worker workers[4];

        prime(context);
        for (int i = 0; i < 4; i++) {
                workers[i] = (Worker) { context, 0 };
                ck_assert_int_eq(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
                ck_assert_msg(workers[i].degraded == 0, "thread %d: %d attaches failed closed",
                              i, workers[i].degraded);
        }
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

static Suite *attach_async_suite(void) {
        Suite *s = suite_create("attach-async");

        for (int v = 0; v < 2; v++) {
                TCase *tc = tcase_create(v == 0 ? "tls13" : "tls12");

                tcase_add_checked_fixture(tc, v == 0 ? setup_1_3 : setup_1_2, teardown);
                tcase_set_timeout(tc, 120);
                tcase_add_test(tc, test_attach_async_resumes_from_the_daemons_token);
                tcase_add_test(tc, test_attach_async_serves_the_outbox_first);
                tcase_add_test(tc, test_attach_async_cancel_gives_the_token_back);
                tcase_add_test(tc, test_attach_async_cancel_gives_the_outbox_token_back);
                tcase_add_test(tc, test_attach_async_server_certificate_stays_in_memory);
                if (v == 0) {
                        tcase_add_test(tc, test_attach_async_loop_turns_while_daemon_stopped);
                        tcase_add_test(tc, test_attach_async_fails_closed_without_answer);
                        tcase_add_test(tc, test_attach_async_fails_closed_when_the_bus_is_gone);
                        tcase_add_test(tc, test_attach_async_call_woken_by_another_threads_read);
                        tcase_add_test(tc, test_attach_async_threads_share_the_connection);
                }
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        return test_run_suite(attach_async_suite(), CK_FORK);
}
