/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Apache httpd of the end-to-end tests (tls_server_start_apache()), checked with
 * openssl s_client, under TLS 1.2 and TLS 1.3.
 *
 * What later tests through tlsidd rely on: / serves without a certificate; /require/ asks
 * for one after the request, by renegotiating under TLS 1.2 and by post-handshake
 * authentication under TLS 1.3, and refuses a client without one; the identity can change
 * within a connection; without a session cache no connection resumes. What the server saw
 * comes from the page it served and from its access log (tls_server_apache_requests()).
 * main() makes the certificates once, before the tests fork; each test starts one Apache
 * and runs every s_client against it. */
#include <check.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "cert-bus.h"
#include "check-main.h"
#include "tls-server.h"
#include "tmp-dir.h"

/* Bounds each s_client run; the test's own timeout bounds the whole test. */
#define S_CLIENT_TIMEOUT_S "10"
#define MAX_REQUESTS 16

#define DN_ALICE "CN=Alice,O=tlsid e2e"
#define DN_BOB "CN=Bob,O=tlsid e2e"
#define GET(path, connection) \
        "GET " path " HTTP/1.1\r\nHost: localhost\r\nConnection: " connection "\r\n\r\n"
/* Apache's info line each time it asks a TLS 1.2 client to renegotiate. */
#define RENEGOTIATION "AH02221: Requesting connection re-negotiation"

/* The test's server (each test runs in a child of its own). */
static struct {
        TlsVersion version;
        TlsServer *server;
        char *dir;
        size_t seen; /* access log lines already checked */
} t;

typedef struct {
        char *out, *err, *command;
} SClient;

/* @bytes as a string, "" when empty (transfer full). */
static char *bytes_to_string(GBytes *bytes) {
        gsize size;
        const char *data = g_bytes_get_data(bytes, &size);

        return g_strndup(data ? data : "", size);
}

/* Runs `openssl s_client` against the server, verifying it, with @request on its stdin
 * and the extra options @first... (NULL-ended), to its end: -quiet ignores the end of
 * stdin, so it runs until the server closes the connection. */
static void s_client(SClient *c, const char *request, const char *first, ...) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GSubprocess) proc = NULL;
        g_autoptr(GBytes) in = g_bytes_new_static(request, strlen(request));
        g_autoptr(GBytes) out = NULL, err = NULL;
        g_autoptr(GError) error = NULL;
        const char *fixed[] = { "timeout", S_CLIENT_TIMEOUT_S, "openssl", "s_client", "-quiet",
                                "-servername", "localhost", "-verify_return_error" };
        va_list ap;

        for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
                g_ptr_array_add(argv, g_strdup(fixed[i]));
        g_ptr_array_add(argv, g_strdup("-connect"));
        g_ptr_array_add(argv, g_strdup_printf("127.0.0.1:%u", tls_server_port(t.server)));
        g_ptr_array_add(argv, g_strdup("-CAfile"));
        g_ptr_array_add(argv, g_build_filename(certs_dir, "ca.pem", NULL));
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, g_strdup(a));
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        c->command = g_strjoinv(" ", (char **) argv->pdata);
        proc = g_subprocess_newv((const char *const *) argv->pdata,
                                 G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                 G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
        ck_assert_msg(proc != NULL, "%s: %s", c->command, error->message);
        ck_assert_msg(g_subprocess_communicate(proc, in, NULL, &out, &err, &error), "%s: %s",
                      c->command, error->message);
        ck_assert_msg(!g_subprocess_get_if_exited(proc) ||
                      g_subprocess_get_exit_status(proc) != 124,
                      "%s: still running after %s s", c->command, S_CLIENT_TIMEOUT_S);
        c->out = bytes_to_string(out);
        c->err = bytes_to_string(err);
}

static void s_client_clear(SClient *c) {
        g_free(c->out);
        g_free(c->err);
        g_free(c->command);
        memset(c, 0, sizeof(*c));
}

/* The certificate and key files of @name ("alice", "bob") (transfer full). */
static char *cert_of(const char *name) {
        return g_strdup_printf("%s/%s.pem", certs_dir, name);
}

static char *key_of(const char *name) {
        return g_strdup_printf("%s/%s.key", certs_dir, name);
}

/* Post-handshake authentication, which TLS 1.3 clients must offer for /require/. */
static const char *pha(void) {
        return t.version == TLS_VERSION_1_3 ? "-enable_pha" : NULL;
}

/* Asserts @c got responses with the statuses @statuses ("200 200": in order) and no other,
 * and that their pages name the subjects @dns ("" none) in order. */
static void assert_responses(const SClient *c, const char *statuses, const char *const *dns) {
        g_auto(GStrv) expected = g_strsplit(statuses, " ", -1);
        TlsServerEcho echoes[MAX_REQUESTS];
        size_t n_echoes = tls_server_parse_echoes(c->out, echoes, G_N_ELEMENTS(echoes));
        size_t n = 0, n_ok = 0;

        for (const char *p = c->out; (p = strstr(p, "HTTP/1.1 ")); p += 9, n++) {
                ck_assert_msg(n < g_strv_length(expected) && strncmp(p + 9, expected[n], 3) == 0,
                              "%s: response %zu is '%.12s', expected %s; stdout:\n%s\n"
                              "stderr:\n%s", c->command, n + 1, p, statuses, c->out, c->err);
                n_ok += strcmp(expected[n], "200") == 0;
        }
        ck_assert_msg(n == g_strv_length(expected), "%s: %zu responses, expected %s; "
                      "stdout:\n%s\nstderr:\n%s", c->command, n, statuses, c->out, c->err);
        ck_assert_msg(n_echoes == n_ok, "%s: %zu pages for %zu responses 200:\n%s", c->command,
                      n_echoes, n_ok, c->out);
        for (size_t i = 0; i < n_echoes; i++) {
                ck_assert_str_eq(echoes[i].subject, dns[i]);
                ck_assert_str_eq(echoes[i].protocol, tls_version_name(t.version));
        }
}

/* The access log lines since the last call, asserting there are @n of them. */
static void new_requests(TlsServerRequest *ret, size_t n) {
        TlsServerRequest all[MAX_REQUESTS];
        size_t total = tls_server_apache_requests_wait(t.server, all, G_N_ELEMENTS(all),
                                                       t.seen + n);

        ck_assert_uint_le(total, G_N_ELEMENTS(all));
        ck_assert_msg(total == t.seen + n, "Apache logged %zu requests, expected %zu",
                      total - t.seen, n);
        memcpy(ret, all + t.seen, n * sizeof(*ret));
        t.seen = total;
}

static void assert_request(const TlsServerRequest *r, const char *path, int status,
                           const char *verify, const char *dn) {
        ck_assert_str_eq(r->path, path);
        ck_assert_int_eq(r->status, status);
        ck_assert_str_eq(r->verify, verify);
        ck_assert_str_eq(r->subject, dn);
}

/* How often Apache has asked a client to renegotiate so far. */
static size_t renegotiations(void) {
        const char *path = tls_server_error_log_path(t.server);
        g_autofree char *log = NULL;
        size_t n = 0;

        ck_assert_msg(g_file_get_contents(path, &log, NULL, NULL), "cannot read %s", path);
        for (const char *p = log; (p = strstr(p, RENEGOTIATION)); p++)
                n++;
        return n;
}

/* --- fixture --- */

static void setup(void) {
        memset(&t, 0, sizeof(t));
        t.dir = tmp_dir_make("tlsid-apache-test-XXXXXX");
}

static void teardown(void) {
        tls_server_stop(t.server);
        tmp_dir_remove(t.dir);
        g_free(t.dir);
        memset(&t, 0, sizeof(t));
}

/* Starts the test's Apache: TLS 1.2 for @version_index 0, TLS 1.3 for 1. */
static void start_apache(int version_index, bool session_cache) {
        g_autofree char *dir = g_build_filename(t.dir, "server", NULL);

        t.version = version_index == 0 ? TLS_VERSION_1_2 : TLS_VERSION_1_3;
        t.server = tls_server_start_apache(certs_dir, dir, t.version, session_cache);
}

/* --- the tests --- */

/* / needs no certificate; /require/ gets alice's after the request (renegotiation or
 * post-handshake authentication) and refuses a client without one. */
START_TEST(test_apache_client_auth) {
        g_autofree char *alice_cert = cert_of("alice"), *alice_key = key_of("alice");
        TlsServerRequest r[2];
        SClient c;
        size_t renegotiated;

        start_apache(_i, true);

        s_client(&c, GET("/", "close"), NULL);
        assert_responses(&c, "200", (const char *[]) { "" });
        new_requests(r, 1);
        assert_request(&r[0], "/", 200, "NONE", "");
        ck_assert_str_eq(r[0].protocol, tls_version_name(t.version));
        ck_assert_msg(!r[0].resumed, "the first connection resumed");
        ck_assert_uint_eq(renegotiations(), 0);
        s_client_clear(&c);

        s_client(&c, GET("/require/", "close"), "-cert", alice_cert, "-key", alice_key, pha(),
                 NULL);
        assert_responses(&c, "200", (const char *[]) { DN_ALICE });
        new_requests(r, 1);
        assert_request(&r[0], "/require/", 200, "SUCCESS", DN_ALICE);
        /* TLS 1.3 cannot renegotiate: there Apache asked after the handshake instead. */
        renegotiated = renegotiations();
        ck_assert_uint_eq(renegotiated, t.version == TLS_VERSION_1_2 ? 1 : 0);
        s_client_clear(&c);

        /* Without a certificate: under TLS 1.2 the renegotiation fails, and the 403 Apache
         * logs (of a connection already gone) never reaches the client; under TLS 1.3 a
         * client that offers no post-handshake authentication is never asked and gets the
         * 403. */
        s_client(&c, GET("/require/", "close"), NULL);
        if (t.version == TLS_VERSION_1_2) {
                assert_responses(&c, "", NULL);
                new_requests(r, 1);
                assert_request(&r[0], "/require/", 403, "", "");
        } else {
                assert_responses(&c, "403", NULL);
                new_requests(r, 1);
                assert_request(&r[0], "/require/", 403, "NONE", "");
        }
        s_client_clear(&c);

        if (t.version == TLS_VERSION_1_3) {
                /* A certificate alone does not do: it is never asked for. */
                s_client(&c, GET("/require/", "close"), "-cert", alice_cert, "-key", alice_key,
                         NULL);
                assert_responses(&c, "403", NULL);
                new_requests(r, 1);
                assert_request(&r[0], "/require/", 403, "NONE", "");
                s_client_clear(&c);

                /* Offered but declined: the handshake fails as TLS 1.2's does. */
                s_client(&c, GET("/require/", "close"), "-enable_pha", NULL);
                assert_responses(&c, "", NULL);
                new_requests(r, 1);
                assert_request(&r[0], "/require/", 403, "", "");
                s_client_clear(&c);
        }
        ck_assert_uint_eq(renegotiations(), renegotiated + (t.version == TLS_VERSION_1_2));
}
END_TEST

/* Two requests on one connection: the first without a certificate, then /optional/ asks
 * and gets bob's; the log tells them apart and shows the one connection. */
START_TEST(test_apache_identity_within_connection) {
        g_autofree char *bob_cert = cert_of("bob"), *bob_key = key_of("bob");
        TlsServerRequest r[2];
        SClient c;

        start_apache(_i, true);
        s_client(&c, GET("/", "keep-alive") GET("/optional/", "close"), "-cert", bob_cert,
                 "-key", bob_key, pha(), NULL);
        assert_responses(&c, "200 200", (const char *[]) { "", DN_BOB });
        new_requests(r, 2);
        assert_request(&r[0], "/", 200, "NONE", "");
        assert_request(&r[1], "/optional/", 200, "SUCCESS", DN_BOB);
        ck_assert_str_ne(r[0].connection, "");
        ck_assert_str_eq(r[0].connection, r[1].connection);
        ck_assert_str_ne(r[0].request, r[1].request);
        ck_assert_uint_eq(renegotiations(), t.version == TLS_VERSION_1_2 ? 1 : 0);
        s_client_clear(&c);

        /* /optional/ without a certificate is served, to nobody. */
        s_client(&c, GET("/optional/", "close"), pha(), NULL);
        assert_responses(&c, "200", (const char *[]) { "" });
        new_requests(r, 1);
        assert_request(&r[0], "/optional/", 200, "NONE", "");
        ck_assert_str_ne(r[0].connection, r[1].connection);
        s_client_clear(&c);
}
END_TEST

/* A second connection offering the first one's session resumes it only with the session
 * cache on (_i: TLS 1.2, 1.3; then the same without the cache). */
START_TEST(test_apache_resumption) {
        g_autofree char *session = g_build_filename(t.dir, "session.pem", NULL);
        bool cache = _i < 2;
        TlsServerRequest r[1];
        TlsServerEcho echo[1];
        SClient c;

        start_apache(_i % 2, cache);
        s_client(&c, GET("/", "close"), "-sess_out", session, NULL);
        assert_responses(&c, "200", (const char *[]) { "" });
        new_requests(r, 1);
        ck_assert(!r[0].resumed);
        s_client_clear(&c);

        /* Under TLS 1.2 without cache or ticket the server gives no session id, and
         * s_client then writes no session to offer. */
        if (cache || g_file_test(session, G_FILE_TEST_EXISTS))
                s_client(&c, GET("/", "close"), "-sess_in", session, NULL);
        else
                s_client(&c, GET("/", "close"), NULL);
        assert_responses(&c, "200", (const char *[]) { "" });
        ck_assert_uint_eq(tls_server_parse_echoes(c.out, echo, 1), 1);
        new_requests(r, 1);
        ck_assert_msg(r[0].resumed == cache && echo[0].resumed == cache,
                      "%s: with the session cache %s, the second connection %s", c.command,
                      cache ? "on" : "off", r[0].resumed ? "resumed" : "did not resume");
        s_client_clear(&c);
}
END_TEST

static Suite *apache_suite(void) {
        Suite *s = suite_create("apache");
        TCase *tc = tcase_create("apache");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_apache_client_auth, 0, 2);
        tcase_add_loop_test(tc, test_apache_identity_within_connection, 0, 2);
        tcase_add_loop_test(tc, test_apache_resumption, 0, 4);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        signal(SIGPIPE, SIG_IGN);
        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        status = test_run_suite(apache_suite(), CK_FORK);
        certs_remove();
        return status;
}
