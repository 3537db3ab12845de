/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl's own calls, on OpenSSL connections to nginx: the credentials and
 * their loaders, a certificate set on the SSL_CTX never volunteered, fail closed with one
 * report per outage, a token of another partition never set, and many connections in
 * threads. */
#include <check.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tlsid/tlsid-openssl.h>
#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tls-server.h"

#define DN_ALICE "CN=Alice,O=tlsid e2e"
#define THREADS 4
#define PER_THREAD 10

static TlsServer *server;
static TlsidClient *client;
static TlsidContext *context;
static SSL_CTX *ctx;
static char origin[32];

static char *cert_path(const char *name) {
        return g_build_filename(certs_dir, name, NULL);
}

static void setup(void) {
        g_autofree char *dir = NULL, *ca = NULL;

        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        test_bus_start();
        dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        server = tls_server_start_nginx(certs_dir, dir, TLS_VERSION_1_3);
        snprintf(origin, sizeof origin, "localhost:%u", tls_server_port(server));
        client = client_new();
        ASSERT_OK(tlsid_context_open(client, "app/openssl", 0, NULL, &context));
        ASSERT_OK(tlsid_client_set_timeout(client, TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC * 8));
        ctx = SSL_CTX_new(TLS_client_method());
        ca = cert_path("ca.pem");
        ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ASSERT_OK(tlsid_openssl_ctx_setup(ctx));
}

static void teardown(void) {
        SSL_CTX_free(ctx);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        tls_server_stop(server);
        test_bus_stop();
        certs_remove();
}

typedef struct {
        bool resumed;
        bool degraded;
        int decision;
        char sent[65];
        char body[512];
} Got;

/* One connection attached to @in (@creds nullable), GET @path, the response read. */
static Got fetch(TlsidContext *in, TlsidOpensslCredentials *creds, uint16_t port,
                 const char *path) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        g_autofree char *request = g_strdup_printf("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                                                   "Connection: close\r\n\r\n", path);
        TlsidOpensslConnection *c = NULL;
        char response[4096];
        size_t got = 0;
        Got out = { 0 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        SSL *ssl;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &addr, sizeof addr), 0);
        ssl = SSL_new(ctx);
        ck_assert_int_eq(SSL_set_fd(ssl, fd), 1);
        ck_assert_int_eq(SSL_set1_host(ssl, "localhost"), 1);
        ASSERT_OK(tlsid_openssl_attach(ssl, in, creds, "localhost", port, 0, &c));
        ck_assert_ptr_eq(tlsid_openssl_connection_from_ssl(ssl), c);
        ASSERT_ERRNO(tlsid_openssl_attach(ssl, in, creds, "localhost", port, 0, NULL), EALREADY);
        ck_assert_msg(SSL_connect(ssl) == 1, "handshake: %s",
                      ERR_error_string(ERR_get_error(), NULL));
        ck_assert_int_gt(SSL_write(ssl, request, (int) strlen(request)), 0);
        for (int n; (n = SSL_read(ssl, response + got, (int) (sizeof response - 1 - got))) > 0;)
                got += (size_t) n;
        response[got] = '\0';
        out.resumed = SSL_session_reused(ssl);
        out.degraded = tlsid_openssl_connection_is_degraded(c);
        out.decision = tlsid_openssl_connection_get_decision(c);
        g_strlcpy(out.sent, tlsid_openssl_connection_get_sent_identity(c), sizeof out.sent);
        const char *body = strstr(response, "\r\n\r\n");
        g_strlcpy(out.body, body ? body + 4 : response, sizeof out.body);
        (void) SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        return out;
}

START_TEST(test_openssl_credentials_loaders) {
        g_autofree char *alice = cert_path("alice.pem"), *alice_key = cert_path("alice.key");
        g_autofree char *bob = cert_path("bob.pem"), *bob_key = cert_path("bob.key");
        g_autofree char *p12 = g_build_filename(test_bus_tmpdir(), "bob.p12", NULL);
        g_autofree char *command = g_strdup_printf(
                "openssl pkcs12 -export -in '%s' -inkey '%s' -name bob -passout pass:secret "
                "-out '%s'", bob, bob_key, p12);
        g_autofree char *alice_fp = certs_read_fingerprint("alice");
        g_autofree char *bob_fp = certs_read_fingerprint("bob");
        TlsidOpensslCredentials *creds = NULL;
        char identity[65];

        ASSERT_OK(tlsid_openssl_credentials_new(&creds));
        /* A key that is not the certificate's, a file that is not there, no key at all. */
        ASSERT_ERRNO(tlsid_openssl_credentials_add_pem_file(creds, alice, bob_key, NULL, NULL),
                     EINVAL);
        ASSERT_ERRNO(tlsid_openssl_credentials_add_pem_file(creds, "/nonexistent.pem", NULL,
                                                            NULL, NULL),
                     ENOENT);
        ASSERT_ERRNO(tlsid_openssl_credentials_add_pem_file(creds, alice, NULL, NULL, NULL),
                     EINVAL);
        ck_assert_uint_eq(tlsid_openssl_credentials_count(creds), 0);
        ASSERT_OK(tlsid_openssl_credentials_add_pem_file(creds, alice, alice_key, NULL,
                                                         identity));
        ck_assert_str_eq(identity, alice_fp);
        ASSERT_ERRNO(tlsid_openssl_credentials_add_pem_file(creds, alice, alice_key, NULL,
                                                            NULL),
                     EEXIST);
        ck_assert_int_eq(system(command), 0);
        ASSERT_ERRNO(tlsid_openssl_credentials_add_pkcs12_file(creds, p12, "wrong", NULL),
                     EINVAL);
        ASSERT_OK(tlsid_openssl_credentials_add_pkcs12_file(creds, p12, "secret", identity));
        ck_assert_str_eq(identity, bob_fp);
        ck_assert_uint_eq(tlsid_openssl_credentials_count(creds), 2);
        tlsid_openssl_credentials_unref(creds);
}
END_TEST

/* The application set Alice on the SSL_CTX; the choice is "none": the server, which
 * asks, gets nothing. With the choice Alice (and her credentials), it gets Alice. */
START_TEST(test_openssl_never_volunteers) {
        g_autofree char *alice = cert_path("alice.pem"), *alice_key = cert_path("alice.key");
        g_autofree char *alice_fp = certs_read_fingerprint("alice");
        TlsidOpensslCredentials *creds = NULL;
        Got got;

        ck_assert_int_eq(SSL_CTX_use_certificate_file(ctx, alice, SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, alice_key, SSL_FILETYPE_PEM), 1);
        ASSERT_OK(tlsid_openssl_credentials_new(&creds));
        ASSERT_OK(tlsid_openssl_credentials_add_pem_file(creds, alice, alice_key, NULL, NULL));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        got = fetch(context, creds, tls_server_port(server), "/");
        ck_assert_msg(g_str_has_prefix(got.body, "dn= "), "the server saw: %s", got.body);
        ck_assert_int_eq(got.decision, TLSID_DECISION_NONE);
        ck_assert_str_eq(got.sent, "");
        /* No credentials: nothing is sent, whatever the SSL_CTX holds. */
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_CERTIFICATE, alice_fp,
                                           0));
        got = fetch(context, NULL, tls_server_port(server), "/");
        ck_assert_msg(g_str_has_prefix(got.body, "dn= "), "the server saw: %s", got.body);
        got = fetch(context, creds, tls_server_port(server), "/");
        ck_assert_msg(g_str_has_prefix(got.body, "dn=" DN_ALICE " "), "the server saw: %s",
                      got.body);
        ck_assert_str_eq(got.sent, alice_fp);
        tlsid_openssl_credentials_unref(creds);
}
END_TEST

static int reports;

static void count_report(const char *message, void *userdata) {
        if (strstr(message, "cannot use tlsidd"))
                reports++;
}

/* The bus and daemon gone: three connections go on without a session or a certificate
 * (Alice is chosen, her credentials given, the server asks), one report. */
START_TEST(test_openssl_fail_closed_reported_once) {
        g_autofree char *alice = cert_path("alice.pem"), *alice_key = cert_path("alice.key");
        g_autofree char *alice_fp = certs_read_fingerprint("alice");
        TlsidOpensslCredentials *creds = NULL;
        Got got;

        ASSERT_OK(tlsid_openssl_credentials_new(&creds));
        ASSERT_OK(tlsid_openssl_credentials_add_pem_file(creds, alice, alice_key, NULL, NULL));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_CERTIFICATE, alice_fp,
                                           0));
        got = fetch(context, creds, tls_server_port(server), "/");
        ck_assert_msg(g_str_has_prefix(got.body, "dn=" DN_ALICE " "), "%s", got.body);
        tlsid_openssl_set_report_function(count_report, NULL);
        ck_assert(test_bus_kill_daemon(SIGKILL));
        test_bus_stop();
        for (int i = 0; i < 3; i++) {
                got = fetch(context, creds, tls_server_port(server), "/");
                ck_assert(got.degraded && !got.resumed && !got.sent[0]);
                ck_assert_msg(g_str_has_prefix(got.body, "dn= reused=."), "%s", got.body);
        }
        ck_assert_int_eq(reports, 1);
        tlsid_openssl_set_report_function(NULL, NULL);
        tlsid_openssl_credentials_unref(creds);
}
END_TEST

typedef struct {
        int resumed, failures;
} Worker;

static void *worker_run(void *data) {
        Worker *w = data;

        for (int i = 0; i < PER_THREAD; i++) {
                Got got = fetch(context, NULL, tls_server_noask_port(server), "/");

                w->resumed += got.resumed;
                w->failures += got.degraded;
        }
        return NULL;
}

/* Connections in threads at once, one context: each handshake completes, most resume. */
START_TEST(test_openssl_threads) {
        pthread_t threads[THREADS];
        Worker workers[THREADS] = { 0 };
        int resumed = 0;

        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        (void) fetch(context, NULL, tls_server_noask_port(server), "/");
        for (int i = 0; i < THREADS; i++)
                ck_assert_int_eq(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
        for (int i = 0; i < THREADS; i++) {
                pthread_join(threads[i], NULL);
                ck_assert_int_eq(workers[i].failures, 0);
                resumed += workers[i].resumed;
        }
        ck_assert_int_ge(resumed, THREADS * PER_THREAD / 2);
        ck_assert_int_eq(tlsid_openssl_flush(5u * 1000u * 1000u), 0);
}
END_TEST

static Suite *openssl_suite(void) {
        Suite *s = suite_create("openssl-adapter");
        TCase *tc = tcase_create("adapter");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_openssl_credentials_loaders);
        tcase_add_test(tc, test_openssl_never_volunteers);
        tcase_add_test(tc, test_openssl_fail_closed_reported_once);
        tcase_add_test(tc, test_openssl_threads);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        return test_run_suite(openssl_suite(), CK_FORK);
}
