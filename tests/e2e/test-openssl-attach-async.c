/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end tests of libtlsid-openssl's asynchronous attach against nginx (its port that
 * never asks for a certificate) through tlsidd on a private bus: the attach is started
 * before a non-blocking TCP connect and both complete on one poll loop; the handshake
 * resumes from the daemon's token, or from the process's own (the outbox path); the loop
 * keeps turning while the daemon is stopped; a cancelled attach, or one finished on an
 * SSL it refuses, gives its token back; and it fails closed when the daemon does not
 * answer or is gone. Linked with the adapter's static library for outbox_hold(). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tlsid/tlsid-openssl.h>
#include <tlsid/tlsid.h>

#include "adapter-private.h"
#include "cert-bus.h"
#include "check-main.h"
#include "daemon-pause.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tls-server.h"

#define CTX "async/openssl"
#define FLUSH_USEC (10u * 1000u * 1000u)
#define LOOP_MS 20000
/* How long the daemon stays stopped while the loop turns. */
#define STOPPED_MS 400

static TlsServer *server;
static TlsidClient *client;
static TlsidContext *context;
static SSL_CTX *ctx;
static uint16_t port;
static char origin[32];
static TlsVersion version;

static void setup(TlsVersion v) {
        g_autofree char *dir = NULL, *ca = NULL;

        version = v;
        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        test_bus_start();
        test_bus_activate_daemon();
        dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        server = tls_server_start_nginx(certs_dir, dir, v);
        port = tls_server_noask_port(server);
        snprintf(origin, sizeof origin, "localhost:%u", port);
        /* The adapter's own bound on a call (250 ms). */
        ASSERT_OK(tlsid_openssl_client_new(test_bus_address(), &client));
        ASSERT_OK(tlsid_context_open(client, CTX, 0, NULL, &context));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        ctx = SSL_CTX_new(TLS_client_method());
        ca = g_build_filename(certs_dir, "ca.pem", NULL);
        ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ASSERT_OK(tlsid_openssl_ctx_setup(ctx));
}

static void setup_1_3(void) {
        setup(TLS_VERSION_1_3);
}

static void setup_1_2(void) {
        setup(TLS_VERSION_1_2);
}

static void teardown(void) {
        outbox_hold(false);
        SSL_CTX_free(ctx);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        tls_server_stop(server);
        test_bus_stop();
        certs_remove();
}

static TlsidStatistics statistics(void) {
        TlsidStatistics s;

        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        return s;
}

/* A TCP socket to the server whose connect is under way (or done). */
static int connect_start(void) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        ck_assert_int_ge(fd, 0);
        if (connect(fd, (struct sockaddr *) &addr, sizeof addr) < 0)
                ck_assert_int_eq(errno, EINPROGRESS);
        return fd;
}

/* What one poll loop saw. */
typedef struct {
        int turns_while_stopped; /* poll() returned with nothing done while *stopped */
        bool done_while_stopped; /* the attach ended while *stopped was set */
} Loop;

static volatile int stopped; /* set while the daemon is stopped (by the test's thread) */

/* One loop for the attach and the connect, never blocking on either: polls the attach's
 * fd and the socket (for writing, until connected), 10 ms at most at a time. */
static void drive(TlsidOpensslAttach *attach, int tcp, Loop *loop) {
        long long deadline = test_bus_now_ms() + LOOP_MS;
        bool attached = false, connected = false;

        while (!attached || !connected) {
                struct pollfd p[2] = {
                        { .fd = attached ? -1 : tlsid_openssl_attach_get_fd(attach),
                          .events = POLLIN },
                        { .fd = connected ? -1 : tcp, .events = POLLOUT },
                };
                int n, error = 0;

                ck_assert_msg(test_bus_now_ms() < deadline, "the loop did not end");
                n = poll(p, 2, 10);
                ck_assert_int_ge(n, 0);
                if (n == 0 && stopped)
                        loop->turns_while_stopped++;
                if (!attached && (p[0].revents & POLLIN)) {
                        int r = tlsid_openssl_attach_dispatch(attach);

                        ck_assert_int_ge(r, 0);
                        attached = r == 1;
                        if (attached && stopped)
                                loop->done_while_stopped = true;
                }
                if (!connected && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ck_assert_int_eq(getsockopt(tcp, SOL_SOCKET, SO_ERROR, &error,
                                                    &(socklen_t) { sizeof error }),
                                         0);
                        ck_assert_msg(error == 0, "connect: %s", strerror(error));
                        connected = true;
                }
        }
}

typedef struct {
        bool resumed;
        bool degraded;
} Got;

/* The rest of a connection once the attach and the connect are done: the SSL, the
 * finish, the handshake, GET /, the response to its end, close. */
static Got complete(TlsidOpensslAttach *attach, int tcp) {
        static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\n"
                                      "Connection: close\r\n\r\n";
        TlsidOpensslConnection *c = NULL;
        char response[4096];
        size_t got = 0;
        Got out = { 0 };
        SSL *ssl;

        ck_assert_int_eq(fcntl(tcp, F_SETFL, fcntl(tcp, F_GETFL) & ~O_NONBLOCK), 0);
        ssl = SSL_new(ctx);
        ck_assert_int_eq(SSL_set_fd(ssl, tcp), 1);
        ck_assert_int_eq(SSL_set1_host(ssl, "localhost"), 1);
        ASSERT_OK(tlsid_openssl_attach_finish(attach, ssl, NULL, &c));
        ck_assert_ptr_eq(tlsid_openssl_connection_from_ssl(ssl), c);
        ck_assert_msg(SSL_connect(ssl) == 1, "handshake: %s",
                      ERR_error_string(ERR_get_error(), NULL));
        ck_assert_int_gt(SSL_write(ssl, request, (int) strlen(request)), 0);
        for (int n; (n = SSL_read(ssl, response + got, (int) (sizeof response - 1 - got))) > 0;)
                got += (size_t) n;
        response[got] = '\0';
        out.resumed = SSL_session_reused(ssl);
        out.degraded = tlsid_openssl_connection_is_degraded(c);
        /* nginx must agree. */
        ck_assert_msg(strstr(response, out.resumed ? " reused=r" : " reused=."),
                      "resumed %d, the server says: %s", out.resumed, response);
        (void) SSL_shutdown(ssl);
        SSL_free(ssl);
        close(tcp);
        return out;
}

/* One connection through the asynchronous attach, started before the connect. */
static Got connect_async(Loop *loop) {
        TlsidOpensslAttach *attach = NULL;
        Loop scratch = { 0 };
        int tcp;

        ASSERT_OK(tlsid_openssl_attach_start(context, "localhost", port, 0, &attach));
        tcp = connect_start();
        drive(attach, tcp, loop ? loop : &scratch);
        return complete(attach, tcp);
}

/* A token in the daemon and none in the outbox: the process's first connection, sent. */
static void prime(void) {
        ck_assert(!connect_async(NULL).resumed);
        ck_assert_int_eq(tlsid_openssl_flush(FLUSH_USEC), 0);
}

/* Started before the connect, the attach's BeginConnectionFor brings the daemon's token,
 * and the handshake resumes from it. */
START_TEST(test_openssl_async_resumes_from_the_daemons_token) {
        TlsidStatistics before;
        Got got;

        prime();
        for (int i = 0; i < 5; i++) {
                before = statistics();
                got = connect_async(NULL);
                ck_assert_msg(got.resumed, "%s: connection %d did a full handshake",
                              tls_version_name(version), i);
                ck_assert(!got.degraded);
                ck_assert_uint_eq(statistics().hits, before.hits + 1);
                ck_assert_int_eq(tlsid_openssl_flush(FLUSH_USEC), 0);
        }
}
END_TEST

/* With the put worker held, each asynchronous connection resumes from its predecessor's
 * session, served by the outbox after GetPartition: the daemon serves none and gets none. */
START_TEST(test_openssl_async_serves_the_outbox_first) {
        TlsidStatistics before;
        Got got;

        prime();
        outbox_hold(true);
        ck_assert(connect_async(NULL).resumed);
        before = statistics();
        for (int i = 0; i < 5; i++) {
                got = connect_async(NULL);
                ck_assert_msg(got.resumed, "%s: connection %d did a full handshake",
                              tls_version_name(version), i);
                ck_assert(!got.degraded);
        }
        ck_assert_uint_eq(statistics().hits, before.hits);
        ck_assert_uint_eq(statistics().puts, before.puts);
        outbox_hold(false);
        ck_assert_int_eq(tlsid_openssl_flush(FLUSH_USEC), 0);
}
END_TEST

/* The daemon is stopped while the attach is in flight: the loop keeps turning (the start
 * returned, the dispatch never waits) and the connect completes; the attach ends only once
 * the daemon runs again, and resumes from its token. The client's timeout is longer than
 * the stop, so that a blocking attach would have waited it out inside the start. */
START_TEST(test_openssl_async_loop_turns_while_daemon_stopped) {
        TlsidOpensslAttach *attach = NULL;
        DaemonPause pause;
        Loop loop = { 0 };
        Got got;
        int tcp;

        ASSERT_OK(tlsid_client_set_timeout(client, 10u * 1000u * 1000u));
        prime();
        daemon_pause_start(&pause, STOPPED_MS, &stopped);
        ASSERT_OK(tlsid_openssl_attach_start(context, "localhost", port, 0, &attach));
        ck_assert_msg(stopped, "tlsid_openssl_attach_start() waited for the stopped daemon");
        tcp = connect_start();
        drive(attach, tcp, &loop);
        daemon_pause_join(&pause);
        ck_assert_msg(loop.turns_while_stopped >= 5,
                      "the loop turned %d times while the daemon was stopped",
                      loop.turns_while_stopped);
        ck_assert_msg(!loop.done_while_stopped, "the attach ended while the daemon was stopped");
        got = complete(attach, tcp);
        ck_assert_msg(got.resumed, "did a full handshake");
        ck_assert(!got.degraded);
}
END_TEST

/* The daemon does not answer within the adapter's timeout (250 ms): the attach ends on its
 * own, and the connection fails closed (no session set, no resumption). */
START_TEST(test_openssl_async_fails_closed_without_answer) {
        Loop loop = { 0 };
        pid_t pid;
        Got got;

        prime();
        pid = test_bus_daemon_pid();
        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        stopped = 1;
        got = connect_async(&loop);
        stopped = 0;
        ck_assert_int_eq(kill(pid, SIGCONT), 0);
        ck_assert_msg(!got.resumed, "resumed without the daemon");
        ck_assert(got.degraded);
        ck_assert_msg(loop.done_while_stopped, "the attach did not end on its own");
}
END_TEST

/* Bus and daemon gone before the start: the attach fails closed at once. */
START_TEST(test_openssl_async_fails_closed_when_the_bus_is_gone) {
        Got got;

        prime();
        ck_assert(test_bus_kill_daemon(SIGKILL));
        test_bus_stop();
        got = connect_async(NULL);
        ck_assert(!got.resumed);
        ck_assert(got.degraded);
}
END_TEST

/* Polls @attach's fd until its round trips ended. */
static void wait_answer(TlsidOpensslAttach *attach) {
        while (tlsid_openssl_attach_dispatch(attach) == 0) {
                struct pollfd p = { .fd = tlsid_openssl_attach_get_fd(attach),
                                    .events = POLLIN };

                ck_assert_int_eq(poll(&p, 1, 5000), 1);
        }
}

/* An attach cancelled once its reply is in gives the daemon's token back (through the
 * outbox): the daemon has it again, and the next connection resumes from it. Cancelled
 * while in flight, it leaks nothing (the sanitized run checks) and the next attach
 * works. */
START_TEST(test_openssl_async_cancel_gives_the_token_back) {
        TlsidOpensslAttach *attach = NULL;
        TlsidStatistics before;
        Got got;

        prime();
        before = statistics();
        ASSERT_OK(tlsid_openssl_attach_start(context, "localhost", port, 0, &attach));
        wait_answer(attach);
        /* The daemon gave it a token. */
        ck_assert_uint_eq(statistics().hits, before.hits + 1);
        tlsid_openssl_attach_cancel(attach);
        ck_assert_int_eq(tlsid_openssl_flush(FLUSH_USEC), 0);
        ck_assert_uint_eq(statistics().puts, before.puts + 1);
        ck_assert_msg(connect_async(NULL).resumed, "%s: the token of the cancelled attach was lost",
                      tls_version_name(version));

        /* In flight. */
        ASSERT_OK(tlsid_openssl_attach_start(context, "localhost", port, 0, &attach));
        tlsid_openssl_attach_cancel(attach);
        tlsid_openssl_attach_cancel(NULL);
        got = connect_async(NULL);
        ck_assert(!got.degraded);
}
END_TEST

/* An SSL the finish refuses (a server's) takes nothing: -EINVAL, and the token the attach
 * holds goes back to the daemon, so that the next connection resumes from it. */
START_TEST(test_openssl_async_refused_ssl_gives_the_token_back) {
        TlsidOpensslAttach *attach = NULL;
        TlsidStatistics before;
        SSL *server_ssl;

        prime();
        before = statistics();
        ASSERT_OK(tlsid_openssl_attach_start(context, "localhost", port, 0, &attach));
        wait_answer(attach);
        ck_assert_uint_eq(statistics().hits, before.hits + 1);
        server_ssl = SSL_new(ctx);
        SSL_set_accept_state(server_ssl);
        ASSERT_ERRNO(tlsid_openssl_attach_finish(attach, server_ssl, NULL, NULL), EINVAL);
        ck_assert_ptr_null(tlsid_openssl_connection_from_ssl(server_ssl));
        SSL_free(server_ssl);
        ASSERT_ERRNO(tlsid_openssl_attach_finish(NULL, NULL, NULL, NULL), EINVAL);
        ck_assert_int_eq(tlsid_openssl_flush(FLUSH_USEC), 0);
        ck_assert_uint_eq(statistics().puts, before.puts + 1);
        ck_assert_msg(connect_async(NULL).resumed, "%s: the refused attach's token was lost",
                      tls_version_name(version));
}
END_TEST

/* With the put worker held, an attach cancelled after it claimed the process's own token
 * puts it back in the outbox: the next connection resumes from it, without the daemon. */
START_TEST(test_openssl_async_cancel_gives_the_outbox_token_back) {
        TlsidOpensslAttach *attach = NULL;
        TlsidStatistics before;

        prime();
        outbox_hold(true);
        ck_assert(connect_async(NULL).resumed);
        before = statistics();
        for (int i = 0; i < 2; i++) {
                ASSERT_OK(tlsid_openssl_attach_start(context, "localhost", port, 0, &attach));
                /* Before the answer, then after it. */
                if (i == 1)
                        wait_answer(attach);
                tlsid_openssl_attach_cancel(attach);
                ck_assert_msg(connect_async(NULL).resumed,
                              "%s: the outbox's token was lost (cancelled %s the answer)",
                              tls_version_name(version), i ? "after" : "before");
                ck_assert_msg(statistics().hits == before.hits,
                              "%s: the daemon served the connection after the cancel",
                              tls_version_name(version));
        }
        outbox_hold(false);
        ck_assert_int_eq(tlsid_openssl_flush(FLUSH_USEC), 0);
}
END_TEST

static Suite *openssl_attach_async_suite(void) {
        Suite *s = suite_create("openssl-attach-async");

        for (int v = 0; v < 2; v++) {
                TCase *tc = tcase_create(v == 0 ? "tls13" : "tls12");

                tcase_add_checked_fixture(tc, v == 0 ? setup_1_3 : setup_1_2, teardown);
                tcase_set_timeout(tc, 120);
                tcase_add_test(tc, test_openssl_async_resumes_from_the_daemons_token);
                tcase_add_test(tc, test_openssl_async_serves_the_outbox_first);
                tcase_add_test(tc, test_openssl_async_cancel_gives_the_token_back);
                tcase_add_test(tc, test_openssl_async_refused_ssl_gives_the_token_back);
                tcase_add_test(tc, test_openssl_async_cancel_gives_the_outbox_token_back);
                if (v == 0) {
                        tcase_add_test(tc, test_openssl_async_loop_turns_while_daemon_stopped);
                        tcase_add_test(tc, test_openssl_async_fails_closed_without_answer);
                        tcase_add_test(tc, test_openssl_async_fails_closed_when_the_bus_is_gone);
                }
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        return test_run_suite(openssl_attach_async_suite(), CK_FORK);
}
