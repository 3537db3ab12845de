/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end tests of libtlsid-nss's own calls: NSS sockets attached to contexts talk to a
 * real nginx (tests/helpers/tls-server.c) through tlsidd on a private bus: pooled
 * connection checks, signal matching, the decision record, failing closed when the daemon
 * is gone (reported once), many threads attaching at once, and non-blocking sockets
 * whose certificate request completes from an event loop, an agent's answer included,
 * and a blocking one whose wait for an agent ends at its interactive timeout. */
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <nss.h>
#include <prnetdb.h>
#include <poll.h>
#include <private/pprio.h> /* PR_FileDesc2NativeHandle, for poll() */
#include <pthread.h>
#include <signal.h>
#include <ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tlsid/tlsid-nss.h>
#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tls-server.h"

#define CTX_A "adapter/tab-a"
#define CTX_B "adapter/tab-b"
#define THREADS 4
#define ROUNDS 8

static TlsServer *server;
static char *origin;
static unsigned attach_flags; /* for open_attached() */
static char *alice_fp, *bob_fp;

/* Each test its own CA, server (started by @start in @dir), alice and bob, and NSS
 * databases. */
static void setup_with(TlsServer *(*start)(const char *dir)) {
        g_autofree char *dir = NULL, *db = NULL;

        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        alice_fp = certs_read_fingerprint("alice");
        bob_fp = certs_read_fingerprint("bob");
        db = g_strdup_printf("sql:%s/client-db", certs_dir);
        test_bus_start();
        use_nss_db("client-db");
        dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        server = start(dir);
        origin = g_strdup_printf("localhost:%u", tls_server_port(server));
        attach_flags = 0;
        ck_assert_int_eq(NSS_Initialize(db, "", "", "", NSS_INIT_READONLY), SECSuccess);
        ck_assert_int_eq(NSS_SetDomesticPolicy(), SECSuccess);
}

static TlsServer *start_nginx(const char *dir) {
        return tls_server_start_nginx(certs_dir, dir, TLS_VERSION_1_3);
}

static void setup(void) {
        setup_with(start_nginx);
}

static void teardown(void) {
        SSL_ClearSessionCache();
        NSS_Shutdown();
        tls_server_stop(server);
        g_clear_pointer(&origin, g_free);
        test_bus_stop();
        certs_remove();
        g_clear_pointer(&alice_fp, g_free);
        g_clear_pointer(&bob_fp, g_free);
}

typedef struct {
        TlsidNssConnection *conn;
        char body[512];
        bool resumed;
} Result;

/* A TLS socket to @port on loopback, attached to @context before its handshake. */
static PRFileDesc *open_attached(TlsidContext *context, uint16_t port,
                                 TlsidNssConnection **ret_conn) {
        PRNetAddr addr;
        PRFileDesc *tcp = PR_NewTCPSocket(), *fd;

        ck_assert_ptr_nonnull(tcp);
        ck_assert_int_eq(PR_InitializeNetAddr(PR_IpAddrLoopback, port, &addr), PR_SUCCESS);
        ck_assert_int_eq(PR_Connect(tcp, &addr, PR_SecondsToInterval(10)), PR_SUCCESS);
        fd = SSL_ImportFD(NULL, tcp);
        ck_assert_ptr_nonnull(fd);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_SetURL(fd, "localhost"), SECSuccess);
        ck_assert_int_eq(SSL_ResetHandshake(fd, PR_FALSE), SECSuccess);
        ASSERT_OK(tlsid_nss_attach(fd, context, "localhost", port, attach_flags, ret_conn));
        return fd;
}

/* On a blocking socket whose handshake is done: GET @path, read the body into @r, close. */
static void finish_request(PRFileDesc *fd, const char *path, Result *r) {
        SSLChannelInfo info;
        char request[256];
        size_t got = 0;

        snprintf(request, sizeof request,
                 "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
        ck_assert_int_eq(PR_Write(fd, request, (PRInt32) strlen(request)),
                         (PRInt32) strlen(request));
        for (;;) {
                PRInt32 n = PR_Read(fd, r->body + got, (PRInt32) (sizeof r->body - 1 - got));

                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        r->body[got] = '\0';
        ck_assert_int_eq(SSL_GetChannelInfo(fd, &info, sizeof info), SECSuccess);
        r->resumed = info.resumed;
        PR_Close(fd);
        /* Keep only the body. */
        char *body = strstr(r->body, "\r\n\r\n");
        ck_assert_msg(body, "no HTTP response: %s", r->body);
        memmove(r->body, body + 4, strlen(body + 4) + 1);
}

/* One connection to @port attached to @context: GET @path, read the body, close. Returns
 * the connection state (the caller frees it). */
static Result fetch(TlsidContext *context, uint16_t port, const char *path) {
        Result r = { 0 };
        PRFileDesc *fd = open_attached(context, port, &r.conn);

        ck_assert_msg(SSL_ForceHandshake(fd) == SECSuccess, "handshake: %d", PR_GetError());
        finish_request(fd, path, &r);
        return r;
}

static TlsidContext *open_context(TlsidClient *client, const char *name) {
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, name, 0, NULL, &context));
        return context;
}

START_TEST(test_adapter_pooled_connection_checks) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A);
        uint32_t generation = 0;

        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        ASSERT_OK(tlsid_context_get_partition(a, origin, NULL, NULL, &generation, NULL));
        Result r = fetch(a, tls_server_port(server), "/");

        ck_assert_msg(strstr(r.body, "dn=CN=Alice"), "body: %s", r.body);
        ck_assert_str_eq(tlsid_nss_connection_get_origin(r.conn), origin);
        ck_assert_str_eq(tlsid_nss_connection_get_identity(r.conn), alice_fp);
        ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn), alice_fp);
        ck_assert_uint_eq(tlsid_nss_connection_get_generation(r.conn), generation);
        ck_assert_int_eq(tlsid_nss_connection_server_asked(r.conn), 1);
        ck_assert_int_eq(tlsid_nss_connection_get_decision(r.conn), TLSID_DECISION_CERTIFICATE);
        ck_assert_int_eq(tlsid_nss_connection_is_degraded(r.conn), 0);

        /* Signals as the daemon sends them: "" is a wildcard. */
        ck_assert_int_eq(tlsid_nss_connection_matches(r.conn, CTX_A, origin), 1);
        ck_assert_int_eq(tlsid_nss_connection_matches(r.conn, CTX_A, ""), 1);
        ck_assert_int_eq(tlsid_nss_connection_matches(r.conn, "", ""), 1);
        ck_assert_int_eq(tlsid_nss_connection_matches(r.conn, CTX_B, origin), 0);
        ck_assert_int_eq(tlsid_nss_connection_matches(r.conn, CTX_A, "example.org:443"), 0);

        /* Pooled: usable until the choice changes or the sessions are flushed. */
        ck_assert_int_eq(tlsid_nss_connection_is_current(r.conn), 1);
        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, bob_fp, 0));
        ck_assert_int_eq(tlsid_nss_connection_is_current(r.conn), 0);
        tlsid_nss_connection_free(r.conn);

        Result s = fetch(a, tls_server_port(server), "/");
        ck_assert_msg(strstr(s.body, "dn=CN=Bob"), "body: %s", s.body);
        ck_assert_int_eq(tlsid_nss_connection_is_current(s.conn), 1);
        ASSERT_OK(tlsid_client_flush_sessions(client, CTX_A, origin, NULL));
        ck_assert_int_eq(tlsid_nss_connection_is_current(s.conn), 0);
        tlsid_nss_connection_free(s.conn);
        tlsid_context_unref(a);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_adapter_ask_sends_nothing_and_is_recorded) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A);

        /* Undecided under the default policy (ask), two eligible certificates. */
        Result r = fetch(a, tls_server_port(server), "/");
        ck_assert_msg(strstr(r.body, "dn= "), "body: %s", r.body);
        ck_assert_int_eq(tlsid_nss_connection_server_asked(r.conn), 1);
        ck_assert_int_eq(tlsid_nss_connection_get_decision(r.conn), TLSID_DECISION_ASK);
        ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn), "");
        tlsid_nss_connection_free(r.conn);

        /* A server that does not ask never gets a certificate, chosen or not. */
        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        Result s = fetch(a, tls_server_noask_port(server), "/");
        ck_assert_msg(strstr(s.body, "dn= "), "body: %s", s.body);
        ck_assert_int_eq(tlsid_nss_connection_server_asked(s.conn), 0);
        ck_assert_int_eq(tlsid_nss_connection_get_decision(s.conn), -1);
        tlsid_nss_connection_free(s.conn);
        tlsid_context_unref(a);
        tlsid_client_unref(client);
}
END_TEST

static int reports;
static char last_report[512];

static void count_report(const char *message, void *userdata) {
        reports++;
        snprintf(last_report, sizeof last_report, "%s", message);
}

START_TEST(test_adapter_fails_closed_and_reports_once) {
        TlsidClient *client = NULL;
        TlsidContext *a;

        /* Started first: activating it may take longer than the handshake-path timeout. */
        test_bus_activate_daemon();
        ASSERT_OK(tlsid_nss_client_new(test_bus_address(), &client));
        a = open_context(client, CTX_A);
        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        tlsid_nss_set_report_function(count_report, NULL);

        /* The bus and the daemon go away. */
        ck_assert(test_bus_kill_daemon(SIGKILL));
        test_bus_stop();
        for (int i = 0; i < 3; i++) {
                Result r = fetch(a, tls_server_port(server), "/");

                /* No certificate, no resumption: fail closed. */
                ck_assert_msg(strstr(r.body, "dn= reused=."), "body: %s", r.body);
                ck_assert_int_eq(tlsid_nss_connection_is_degraded(r.conn), 1);
                ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn), "");
                ck_assert_int_lt(tlsid_nss_connection_is_current(r.conn), 0);
                tlsid_nss_connection_free(r.conn);
        }
        ck_assert_int_eq(reports, 1);
        ck_assert_msg(strstr(last_report, "tlsidd"), "report: %s", last_report);
        tlsid_nss_set_report_function(NULL, NULL);
        tlsid_context_unref(a);
        tlsid_client_unref(client);
        /* teardown's stop is harmless on a stopped bus. */
}
END_TEST

typedef struct {
        TlsidContext *context;
        const char *expect;
        int ok;
} Worker;

static void *worker_main(void *data) {
        Worker *w = data;

        for (int i = 0; i < ROUNDS; i++) {
                Result r = fetch(w->context, tls_server_port(server), "/");

                if (strstr(r.body, w->expect))
                        w->ok++;
                tlsid_nss_connection_free(r.conn);
        }
        return NULL;
}

START_TEST(test_adapter_threads_keep_identities_apart) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A), *b = open_context(client, CTX_B);
        pthread_t threads[THREADS];
        Worker workers[THREADS];

        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        ASSERT_OK(tlsid_context_set_choice(b, origin, TLSID_CHOICE_CERTIFICATE, bob_fp, 0));
        /* Threads of one client, sockets of two contexts, at once. */
        for (int i = 0; i < THREADS; i++) {
                workers[i] = (Worker) { i % 2 ? b : a, i % 2 ? "dn=CN=Bob" : "dn=CN=Alice", 0 };
                ck_assert_int_eq(pthread_create(&threads[i], NULL, worker_main, &workers[i]),
                                 0);
        }
        for (int i = 0; i < THREADS; i++) {
                ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
                ck_assert_int_eq(workers[i].ok, ROUNDS);
        }
        tlsid_context_unref(a);
        tlsid_context_unref(b);
        tlsid_client_unref(client);
}
END_TEST

static void set_nonblocking(PRFileDesc *fd, bool on) {
        PRSocketOptionData opt = { .option = PR_SockOpt_Nonblocking };

        opt.value.non_blocking = on ? PR_TRUE : PR_FALSE;
        ck_assert_int_eq(PR_SetSocketOption(fd, &opt), PR_SUCCESS);
}

START_TEST(test_adapter_nonblocking_socket_keeps_event_loop_free) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A);
        Result r = { 0 };
        PRFileDesc *fd;
        int dispatched = 0;
        long long deadline = test_bus_now_ms() + 20000;

        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        fd = open_attached(a, tls_server_port(server), &r.conn);
        ck_assert_int_eq(tlsid_nss_connection_get_fd(r.conn), -1);
        set_nonblocking(fd, true);
        /* An event loop: the socket and the adapter's fd, never blocking in the hook. */
        while (SSL_ForceHandshake(fd) != SECSuccess) {
                struct pollfd p[2] = {
                        { .fd = PR_FileDesc2NativeHandle(fd), .events = POLLIN },
                        { .fd = tlsid_nss_connection_get_fd(r.conn), .events = POLLIN },
                };

                ck_assert_int_eq(PR_GetError(), PR_WOULD_BLOCK_ERROR);
                ck_assert_msg(test_bus_now_ms() < deadline, "handshake did not finish");
                /* A short timeout too: NSS may hold bytes the socket no longer shows. */
                ck_assert_int_ge(poll(p, p[1].fd >= 0 ? 2 : 1, 100), 0);
                if (p[1].fd >= 0 && (p[1].revents & POLLIN))
                        dispatched += tlsid_nss_connection_dispatch(r.conn, fd);
        }
        /* The certificate went through the asynchronous path, exactly once. */
        ck_assert_int_eq(dispatched, 1);
        ck_assert_int_eq(tlsid_nss_connection_dispatch(r.conn, fd), 0);
        ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn), alice_fp);
        set_nonblocking(fd, false);
        finish_request(fd, "/", &r);
        ck_assert_msg(strstr(r.body, "dn=CN=Alice"), "body: %s", r.body);
        tlsid_nss_connection_free(r.conn);
        tlsid_context_unref(a);
        tlsid_client_unref(client);
}
END_TEST

/* An agent served by the test's own event loop: it answers alice at once. */
typedef struct {
        int requests;
        bool offered;           /* alice was among the certificates */
} LoopAgent;

static void loop_agent_request(TlsidClient *client, const TlsidAgentRequest *q,
                               void *userdata) {
        LoopAgent *agent = userdata;

        agent->requests++;
        for (size_t i = 0; i < q->n_certificates; i++)
                agent->offered = agent->offered ||
                                 strcmp(q->certificates[i].identity, alice_fp) == 0;
        ASSERT_OK(tlsid_client_answer_request(client, q->id, TLSID_AGENT_CERTIFICATE, alice_fp,
                                              0));
}

/* A non-blocking socket in an undecided context, interactive: the hook's wait for the
 * agent goes through the asynchronous path, so the one event loop that drives the
 * handshake also serves the agent that answers; the connection then sends alice in its
 * first handshake and moves to her partition. A hook that blocked would never see the
 * answer. */
START_TEST(test_adapter_nonblocking_interactive_wait_leaves_the_loop_free) {
        TlsidClient *client = client_new(), *agent_client = client_new();
        TlsidContext *a = open_context(client, CTX_A);
        LoopAgent agent = { 0 };
        Result r = { 0 };
        PRFileDesc *fd;
        int dispatched = 0;
        long long deadline = test_bus_now_ms() + 20000;

        ASSERT_OK(tlsid_client_set_interactive_timeout(client, 30u * 1000u * 1000u));
        ASSERT_OK(tlsid_client_register_agent(agent_client, loop_agent_request, NULL, &agent));
        fd = open_attached(a, tls_server_port(server), &r.conn);
        ck_assert_str_eq(tlsid_nss_connection_get_identity(r.conn), "");
        set_nonblocking(fd, true);
        while (SSL_ForceHandshake(fd) != SECSuccess) {
                struct pollfd p[3] = {
                        { .fd = tlsid_client_get_fd(agent_client), .events = POLLIN },
                        { .fd = PR_FileDesc2NativeHandle(fd), .events = POLLIN },
                        { .fd = tlsid_nss_connection_get_fd(r.conn), .events = POLLIN },
                };

                ck_assert_int_eq(PR_GetError(), PR_WOULD_BLOCK_ERROR);
                ck_assert_msg(test_bus_now_ms() < deadline, "handshake did not finish");
                ck_assert_int_ge(poll(p, p[2].fd >= 0 ? 3 : 2, 100), 0);
                if (p[0].revents & POLLIN)
                        ck_assert_int_ge(tlsid_client_dispatch(agent_client), 0);
                if (p[2].fd >= 0 && (p[2].revents & POLLIN))
                        dispatched += tlsid_nss_connection_dispatch(r.conn, fd);
        }
        ck_assert_int_eq(agent.requests, 1);
        ck_assert(agent.offered);
        ck_assert_int_eq(dispatched, 1);
        ck_assert_int_eq(tlsid_nss_connection_get_decision(r.conn), TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn), alice_fp);
        ck_assert_str_eq(tlsid_nss_connection_get_identity(r.conn), alice_fp);
        set_nonblocking(fd, false);
        finish_request(fd, "/", &r);
        ck_assert_msg(strstr(r.body, "dn=CN=Alice"), "body: %s", r.body);
        tlsid_nss_connection_free(r.conn);
        ASSERT_OK(tlsid_client_unregister_agent(agent_client));
        tlsid_context_unref(a);
        tlsid_client_unref(agent_client);
        tlsid_client_unref(client);
}
END_TEST

/* An agent that never answers, served by a thread of its own. */
typedef struct {
        TlsidClient *client;
        pthread_t thread;
        int stop;               /* atomic */
        int requests, cancels;  /* atomic */
} SilentAgent;

static void silent_request(TlsidClient *client, const TlsidAgentRequest *q, void *userdata) {
        __atomic_add_fetch(&((SilentAgent *) userdata)->requests, 1, __ATOMIC_SEQ_CST);
}

static void silent_cancel(TlsidClient *client, const char *id, void *userdata) {
        __atomic_add_fetch(&((SilentAgent *) userdata)->cancels, 1, __ATOMIC_SEQ_CST);
}

static void *silent_run(void *data) {
        SilentAgent *agent = data;

        while (!__atomic_load_n(&agent->stop, __ATOMIC_SEQ_CST)) {
                struct pollfd p = { .fd = tlsid_client_get_fd(agent->client), .events = POLLIN };

                if (poll(&p, 1, 50) > 0)
                        (void) tlsid_client_dispatch(agent->client);
        }
        return NULL;
}

/* A blocking socket waits for the agent up to the interactive timeout the application
 * set, then goes on as without an agent: nothing sent, the decision "ask", and the agent
 * told the request is withdrawn. */
START_TEST(test_adapter_blocking_interactive_wait_ends_at_its_timeout) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A);
        SilentAgent agent = { .client = client_new() };
        long long deadline = test_bus_now_ms() + 20000;
        Result r = { 0 };
        PRFileDesc *fd;

        ASSERT_OK(tlsid_client_set_interactive_timeout(client, 1000u * 1000u));
        ASSERT_OK(tlsid_client_register_agent(agent.client, silent_request, silent_cancel,
                                              &agent));
        ck_assert_int_eq(pthread_create(&agent.thread, NULL, silent_run, &agent), 0);
        fd = open_attached(a, tls_server_port(server), &r.conn);
        ck_assert_msg(SSL_ForceHandshake(fd) == SECSuccess, "handshake: %d", PR_GetError());
        ck_assert_int_eq(tlsid_nss_connection_get_decision(r.conn), TLSID_DECISION_ASK);
        ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn), "");
        ck_assert_int_eq(__atomic_load_n(&agent.requests, __ATOMIC_SEQ_CST), 1);
        /* The withdrawal may trail the caller's answer. */
        while (__atomic_load_n(&agent.cancels, __ATOMIC_SEQ_CST) == 0) {
                ck_assert_msg(test_bus_now_ms() < deadline, "the agent was never told");
                poll(NULL, 0, 20);
        }
        finish_request(fd, "/", &r);
        ck_assert_msg(strstr(r.body, "dn= "), "body: %s", r.body);
        __atomic_store_n(&agent.stop, 1, __ATOMIC_SEQ_CST);
        ck_assert_int_eq(pthread_join(agent.thread, NULL), 0);
        tlsid_nss_connection_free(r.conn);
        tlsid_context_unref(a);
        tlsid_client_unref(agent.client);
        tlsid_client_unref(client);
}
END_TEST

/* --- Apache: the server asks after the request --- */

static TlsVersion apache_version;

static TlsServer *start_apache(const char *dir) {
        return tls_server_start_apache(certs_dir, dir, apache_version, false);
}

static void setup_apache_1_2(void) {
        apache_version = TLS_VERSION_1_2;
        setup_with(start_apache);
}

static void setup_apache_1_3(void) {
        apache_version = TLS_VERSION_1_3;
        setup_with(start_apache);
}

/* Two contexts of one process alternate on a path that asks mid-connection: each
 * connection authenticates once, mid-connection, with its own context's certificate. */
START_TEST(test_adapter_mid_connection_two_contexts) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A), *b = open_context(client, CTX_B);

        attach_flags = TLSID_NSS_POST_HANDSHAKE_AUTH;
        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        ASSERT_OK(tlsid_context_set_choice(b, origin, TLSID_CHOICE_CERTIFICATE, bob_fp, 0));
        for (int i = 0; i < 4; i++) {
                TlsidContext *ctx = i % 2 ? b : a;
                Result r = fetch(ctx, tls_server_port(server), "/require/");

                ck_assert_msg(strstr(r.body, i % 2 ? "dn=CN=Bob" : "dn=CN=Alice"), "%s",
                              r.body);
                /* No certificate in the first handshake, one after the request. */
                ck_assert_uint_eq(tlsid_nss_connection_get_reauthentications(r.conn), 1);
                ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(r.conn),
                                 i % 2 ? bob_fp : alice_fp);
                tlsid_nss_connection_free(r.conn);
        }
        tlsid_context_unref(a);
        tlsid_context_unref(b);
        tlsid_client_unref(client);
}
END_TEST

/* Attached as Alice, switched to Bob before the server asks mid-connection: the
 * connection presents nobody (never Bob) and is no longer current, without asking. */
START_TEST(test_adapter_switch_before_mid_connection_request_sends_nothing) {
        TlsidClient *client = client_new();
        TlsidContext *a = open_context(client, CTX_A);
        TlsidNssConnection *conn = NULL;
        PRFileDesc *fd;
        Result r = { 0 };

        attach_flags = TLSID_NSS_POST_HANDSHAKE_AUTH;
        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, alice_fp, 0));
        fd = open_attached(a, tls_server_port(server), &conn);
        ck_assert_int_eq(SSL_ForceHandshake(fd), SECSuccess);
        ck_assert_str_eq(tlsid_nss_connection_get_identity(conn), alice_fp);
        ASSERT_OK(tlsid_context_set_choice(a, origin, TLSID_CHOICE_CERTIFICATE, bob_fp, 0));
        /* The server asks now; whatever it answers, no certificate went. */
        char request[] = "GET /require/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        ck_assert_int_eq(PR_Write(fd, request, (PRInt32) strlen(request)),
                         (PRInt32) strlen(request));
        while (PR_Read(fd, r.body, sizeof r.body - 1) > 0)
                ;
        PR_Close(fd);
        ck_assert(tlsid_nss_connection_server_asked(conn));
        ck_assert_int_eq(tlsid_nss_connection_get_decision(conn), TLSID_DECISION_STALE);
        ck_assert_str_eq(tlsid_nss_connection_get_sent_identity(conn), "");
        ck_assert_uint_eq(tlsid_nss_connection_get_reauthentications(conn), 0);
        ck_assert_int_eq(tlsid_nss_connection_is_current(conn), 0);
        /* The server saw no certificate on it. */
        TlsServerRequest logged[4];
        size_t n = tls_server_apache_requests_wait(server, logged, G_N_ELEMENTS(logged), 1);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(logged[i].subject, "");
        tlsid_nss_connection_free(conn);
        tlsid_context_unref(a);
        tlsid_client_unref(client);
}
END_TEST

static Suite *adapter_suite(void) {
        Suite *s = suite_create("adapter");
        TCase *tc = tcase_create("adapter");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_adapter_pooled_connection_checks);
        tcase_add_test(tc, test_adapter_ask_sends_nothing_and_is_recorded);
        tcase_add_test(tc, test_adapter_fails_closed_and_reports_once);
        tcase_add_test(tc, test_adapter_threads_keep_identities_apart);
        tcase_add_test(tc, test_adapter_nonblocking_socket_keeps_event_loop_free);
        tcase_add_test(tc, test_adapter_nonblocking_interactive_wait_leaves_the_loop_free);
        tcase_add_test(tc, test_adapter_blocking_interactive_wait_ends_at_its_timeout);
        suite_add_tcase(s, tc);

        /* TLS 1.2 renegotiation, then TLS 1.3 post-handshake authentication. */
        for (int v = 0; v < 2; v++) {
                tc = tcase_create(v == 0 ? "apache-tls12" : "apache-tls13");
                tcase_add_checked_fixture(tc, v == 0 ? setup_apache_1_2 : setup_apache_1_3,
                                          teardown);
                tcase_set_timeout(tc, 120);
                tcase_add_test(tc, test_adapter_mid_connection_two_contexts);
                tcase_add_test(tc, test_adapter_switch_before_mid_connection_request_sends_nothing);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        int status;

        signal(SIGPIPE, SIG_IGN);
        status = test_run_suite(adapter_suite(), CK_FORK);
        return status;
}
