/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end tests: tlsid-fetch (as browser tabs) through tlsidd against real nginx and
 * NSS selfserv, under TLS 1.2 and TLS 1.3.
 *
 * main() makes the CA, server, alice and bob certificates and the NSS databases once
 * (tests/helpers/make-e2e-certs.sh), before the tests fork; each test starts its own
 * private bus with tlsidd (whose NSS database is the client one) and its own server, and
 * runs tlsid-fetch and tlsidctl as separate processes. What the server saw comes from the
 * bodies nginx echoes ($ssl_client_s_dn, $ssl_session_reused, $ssl_protocol) or from
 * selfserv's log; what the client did comes from tlsid-fetch's --verbose lines. */
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tlsid/tlsid.h>

#include "asan.h"
#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tls-server.h"

#define RUN_TIMEOUT_MS 30000
#define TOKEN_WAIT_MS 10000
#define MAX_CONNECTIONS 128
#define ROUNDS 10

#define DN_ALICE "CN=Alice,O=tlsid e2e"
#define DN_BOB "CN=Bob,O=tlsid e2e"

/* Made once by main(); the tests only read it. */
static char *alice_fp, *bob_fp;
/* The client the scenarios run: "tlsid-fetch" (NSS), or "tlsid-curl" (libcurl and
 * OpenSSL) when TLSID_E2E_CLIENT is "curl"; its --verbose lines start with its name. */
static const char *tool = "tlsid-fetch";

static bool is_curl(void) {
        return strcmp(tool, "tlsid-curl") == 0;
}

/* "@tool: @text" (transfer full). */
static char *tool_line(const char *text) {
        return g_strdup_printf("%s: %s", tool, text);
}

typedef enum { NGINX, SELFSERV, APACHE } ServerKind;

/* The test's servers (each test runs in a child of its own). */
static struct {
        ServerKind kind;
        TlsVersion version;
        TlsServer *server;  /* asks for a certificate */
        TlsServer *noask;   /* selfserv without -r (nginx has both on one server) */
        char *origin;       /* "localhost:PORT" of the asking server */
        size_t seen;        /* selfserv connections already checked */
} t;

/* --- tlsid-fetch and tlsidctl --- */

typedef struct {
        int number;
        unsigned generation;
        char identity[65]; /* "" for "-" */
        bool resumed, asked;
        char sent[65];     /* "" for "-" */
        int status;
} Connection;

typedef struct {
        GPid pid;
        int out_fd, err_fd;
        GString *out, *err;
        int exit_status; /* 128 + signal when killed */
        Connection conns[MAX_CONNECTIONS];
        size_t n_conns;
        char *command;
} Fetch;

static const char *who(const char *fp) {
        if (!fp[0])
                return "nobody";
        if (strcmp(fp, alice_fp) == 0)
                return "alice";
        if (strcmp(fp, bob_fp) == 0)
                return "bob";
        return fp;
}

static char *url(uint16_t port, const char *path) {
        return g_strdup_printf("https://localhost:%u%s", port, path);
}

/* Starts `tlsid-fetch --verbose --context @context --nss-db CLIENT-DB ARGS... URL`
 * (@first...: NULL-ended), or tlsid-curl with alice's and bob's certificates and keys and
 * the test CA in place of the NSS database. */
static void fetch_start(Fetch *f, const char *context, const char *first, ...) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        const char *fetch = g_getenv(is_curl() ? "TLSID_CURL" : "TLSID_FETCH");
        va_list ap;

        ck_assert_msg(fetch != NULL, "TLSID_FETCH or TLSID_CURL is not set");
        memset(f, 0, sizeof(*f));
        g_ptr_array_add(argv, g_strdup(fetch));
        g_ptr_array_add(argv, g_strdup("--verbose"));
        g_ptr_array_add(argv, g_strdup("--context"));
        g_ptr_array_add(argv, g_strdup(context));
        if (is_curl()) {
                static const char *const files[] = { "--cert", "alice.pem", "--key", "alice.key",
                                                     "--cert", "bob.pem", "--key", "bob.key",
                                                     "--cacert", "ca.pem" };

                for (size_t i = 0; i < G_N_ELEMENTS(files); i += 2) {
                        g_ptr_array_add(argv, g_strdup(files[i]));
                        g_ptr_array_add(argv, g_build_filename(certs_dir, files[i + 1], NULL));
                }
        } else {
                g_ptr_array_add(argv, g_strdup("--nss-db"));
                g_ptr_array_add(argv, g_build_filename(certs_dir, "client-db", NULL));
        }
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, g_strdup(a));
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        f->command = g_strjoinv(" ", (char **) argv->pdata);
        ck_assert_msg(g_spawn_async_with_pipes(NULL, (char **) argv->pdata, NULL,
                                               G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &f->pid,
                                               NULL, &f->out_fd, &f->err_fd, &error),
                      "%s: %s", f->command, error->message);
        f->out = g_string_new(NULL);
        f->err = g_string_new(NULL);
}

/* Reads what the process wrote until @needle (when not NULL) is in its stderr, or both
 * pipes are at EOF. Returns whether @needle was seen. */
static bool fetch_read(Fetch *f, const char *needle, long long deadline) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = f->out_fd, .events = POLLIN },
                        { .fd = f->err_fd, .events = POLLIN },
                };
                long long left;

                if (needle && strstr(f->err->str, needle))
                        return true;
                if (f->out_fd < 0 && f->err_fd < 0)
                        return false;
                left = deadline - test_bus_now_ms();
                ck_assert_msg(left > 0, "%s: no end within %d ms; stdout:\n%s\nstderr:\n%s",
                              f->command, RUN_TIMEOUT_MS, f->out->str, f->err->str);
                if (poll(p, 2, (int) left) < 0) {
                        ck_assert_msg(errno == EINTR, "poll: %s", strerror(errno));
                        continue;
                }
                for (int i = 0; i < 2; i++) {
                        int *fd = i == 0 ? &f->out_fd : &f->err_fd;
                        GString *s = i == 0 ? f->out : f->err;
                        char buf[4096];
                        ssize_t n;

                        if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(*fd, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                close(*fd);
                                *fd = -1;
                        } else {
                                g_string_append_len(s, buf, n);
                        }
                }
        }
}

/* Parses the --verbose lines; any line that claims to be one and does not parse fails
 * the test, so a change of format cannot pass silently. */
static void parse_connections(Fetch *f) {
        g_auto(GStrv) lines = g_strsplit(f->err->str, "\n", -1);
        g_autofree char *prefix = tool_line("connection ");

        for (char **l = lines; *l; l++) {
                Connection *c;
                char identity[80], resumed[8], asked[8], sent[80];
                int end = 0;

                if (!g_str_has_prefix(*l, prefix))
                        continue;
                ck_assert_msg(f->n_conns < MAX_CONNECTIONS, "%s: too many connections",
                              f->command);
                c = &f->conns[f->n_conns];
                ck_assert_msg(sscanf(*l + strlen(prefix), "%d: generation=%u "
                                     "identity=%79s resumed=%7s asked=%7s sent=%79s "
                                     "status=%d%n",
                                     &c->number, &c->generation, identity, resumed, asked, sent,
                                     &c->status, &end) == 7 &&
                                      (*l)[strlen(prefix) + end] == '\0',
                              "%s: unexpected --verbose line: '%s'", f->command, *l);
                ck_assert_msg(c->number == (int) f->n_conns + 1,
                              "%s: connection %d where %zu was due", f->command, c->number,
                              f->n_conns + 1);
                ck_assert_msg(strcmp(resumed, "yes") == 0 || strcmp(resumed, "no") == 0,
                              "%s: resumed=%s", f->command, resumed);
                ck_assert_msg(strcmp(asked, "yes") == 0 || strcmp(asked, "no") == 0,
                              "%s: asked=%s", f->command, asked);
                for (int i = 0; i < 2; i++) {
                        const char *v = i == 0 ? identity : sent;
                        char *dst = i == 0 ? c->identity : c->sent;

                        ck_assert_msg(strcmp(v, "-") == 0 || (strlen(v) == 64 &&
                                      strspn(v, "0123456789abcdef") == 64),
                                      "%s: not a fingerprint or '-': '%s'", f->command, v);
                        g_strlcpy(dst, strcmp(v, "-") == 0 ? "" : v, 65);
                }
                c->resumed = strcmp(resumed, "yes") == 0;
                c->asked = strcmp(asked, "yes") == 0;
                f->n_conns++;
        }
}

/* Reads to the end, reaps the process and parses its lines. */
static void fetch_finish(Fetch *f) {
        long long deadline = test_bus_now_ms() + RUN_TIMEOUT_MS;
        int status;

        fetch_read(f, NULL, deadline);
        ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
        g_spawn_close_pid(f->pid);
        f->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        parse_connections(f);
}

static void fetch_clear(Fetch *f) {
        if (f->out)
                g_string_free(f->out, TRUE);
        if (f->err)
                g_string_free(f->err, TRUE);
        g_free(f->command);
        memset(f, 0, sizeof(*f));
}

/* Runs tlsid-fetch to its end (@first...: arguments, then the URL; NULL-ended). */
#define fetch_run(f, context, ...)                                \
        do {                                                      \
                fetch_start((f), (context), __VA_ARGS__, NULL);   \
                fetch_finish(f);                                  \
        } while (0)

static void assert_exit(const Fetch *f, int expected) {
        ck_assert_msg(f->exit_status == expected,
                      "%s: exit status %d, expected %d; stdout:\n%s\nstderr:\n%s", f->command,
                      f->exit_status, expected, f->out->str, f->err->str);
}

static const Connection *conn(const Fetch *f, size_t k) {
        ck_assert_msg(k >= 1 && k <= f->n_conns, "%s: no connection %zu (there are %zu); "
                      "stderr:\n%s", f->command, k, f->n_conns, f->err->str);
        return &f->conns[k - 1];
}

/* Runs tlsidctl on the test bus with @args (NULL-ended) and asserts it succeeds. */
static void ctlv(const char *const *args) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL, *command = NULL;
        const char *tlsidctl = g_getenv("TLSIDCTL");
        int status;

        ck_assert_msg(tlsidctl != NULL, "TLSIDCTL is not set");
        g_ptr_array_add(argv, (char *) tlsidctl);
        for (; *args; args++)
                g_ptr_array_add(argv, (char *) *args);
        g_ptr_array_add(argv, NULL);
        command = g_strjoinv(" ", (char **) argv->pdata);
        ck_assert_msg(g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL,
                                   NULL, &out, &err, &status, &error),
                      "%s: %s", command, error->message);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d: %s%s",
                      command, status, out, err);
}

/* Copies @first and the rest of @ap (NULL-ended, at most 7) into @args[8], NULL-ended. */
static void collect_args(const char **args, const char *first, va_list ap) {
        size_t n = 0;

        for (const char *a = first; a; a = va_arg(ap, const char *)) {
                ck_assert_uint_lt(n, 7);
                args[n++] = a;
        }
        args[n] = NULL;
}

/* ctlv() with the arguments listed (@first...: NULL-ended, at most 7). */
static void ctl(const char *first, ...) {
        const char *args[8];
        va_list ap;

        va_start(ap, first);
        collect_args(args, first, ap);
        va_end(ap);
        ctlv(args);
}

/* Waits until tlsidd holds a resumption token for (@context, @origin): the token
 * callback's put does not wait for a reply, so it may still be on its way when the
 * process that made it has exited. */
static void wait_for_token(const char *context, const char *origin) {
        long long deadline = test_bus_now_ms() + TOKEN_WAIT_MS;
        TlsidClient *client = NULL;

        ASSERT_OK(tlsid_client_new(test_bus_address(), &client));
        for (;;) {
                TlsidSessionInfo *infos = NULL;
                size_t n = 0;
                uint32_t tokens = 0;

                ASSERT_OK(tlsid_client_list_sessions(client, context, &infos, &n));
                for (size_t i = 0; i < n; i++)
                        if (strcmp(infos[i].origin, origin) == 0)
                                tokens += infos[i].tokens;
                tlsid_session_infos_free(infos, n);
                if (tokens > 0)
                        break;
                ck_assert_msg(test_bus_now_ms() < deadline,
                              "tlsidd got no resumption token for %s %s within %d ms",
                              context, origin, TOKEN_WAIT_MS);
                poll(NULL, 0, 20);
        }
        tlsid_client_unref(client);
}

/* --- what the server saw --- */

typedef struct {
        char dn[256]; /* the client certificate's subject, "" when none */
        bool resumed;
} Seen;

/* What the server saw of @f's connections, in order, into @ret (one per 200 echo body
 * for nginx, one per completed handshake for selfserv). Returns the count. */
static size_t server_saw(const Fetch *f, Seen *ret, size_t max) {
        size_t n = 0;

        if (t.kind == NGINX) {
                TlsServerEcho echoes[MAX_CONNECTIONS];
                size_t total = tls_server_parse_echoes(f->out->str, echoes, G_N_ELEMENTS(echoes));

                ck_assert_uint_le(total, max);
                for (; n < total; n++) {
                        ck_assert_str_eq(echoes[n].protocol, tls_version_name(t.version));
                        g_strlcpy(ret[n].dn, echoes[n].subject, sizeof(ret[n].dn));
                        ret[n].resumed = echoes[n].resumed;
                }
        } else {
                TlsServerConnection c[64];
                size_t total = tls_server_selfserv_connections(t.server, c, G_N_ELEMENTS(c));

                ck_assert_uint_le(total, G_N_ELEMENTS(c));
                for (size_t i = t.seen; i < total; i++) {
                        ck_assert_uint_lt(n, max);
                        ck_assert_str_eq(c[i].version,
                                         t.version == TLS_VERSION_1_3 ? "3.4" : "3.3");
                        g_strlcpy(ret[n].dn, c[i].subject, sizeof(ret[n].dn));
                        ret[n].resumed = c[i].resumed;
                        n++;
                }
                t.seen = total;
        }
        return n;
}

/* Asserts the server saw exactly @n 2xx connections of @f, with the client subjects of
 * @dns (NULL for none) and, when @resumed is not NULL, those resumptions ('r' resumed,
 * '.' full handshake, '?' either). */
static void assert_server_saw(const Fetch *f, size_t n, const char *const *dns,
                              const char *resumed) {
        Seen seen[MAX_CONNECTIONS];
        size_t got = server_saw(f, seen, G_N_ELEMENTS(seen));

        ck_assert_msg(got == n, "%s: the server saw %zu connections, expected %zu; "
                      "stdout:\n%s\nstderr:\n%s", f->command, got, n, f->out->str,
                      f->err->str);
        for (size_t i = 0; i < n; i++) {
                const char *dn = dns && dns[i] ? dns[i] : "";

                ck_assert_msg(strcmp(seen[i].dn, dn) == 0,
                              "%s: connection %zu: the server saw '%s', expected '%s'",
                              f->command, i + 1, seen[i].dn, dn);
                if (resumed && resumed[i] != '?')
                        ck_assert_msg(seen[i].resumed == (resumed[i] == 'r'),
                                      "%s: connection %zu: the server %s the session",
                                      f->command, i + 1,
                                      seen[i].resumed ? "resumed" : "did not resume");
        }
}

/* --- fixture --- */

static void setup(void) {
        g_autofree char *conf = NULL;

        memset(&t, 0, sizeof(t));
        /* Each test its own CA, server, alice and bob, and NSS databases. */
        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        alice_fp = certs_read_fingerprint("alice");
        bob_fp = certs_read_fingerprint("bob");
        test_bus_start();
        conf = g_strdup_printf("[certificates]\nnss_db = sql:%s/client-db\n", certs_dir);
        test_bus_write_daemon_config(conf);
}

static void teardown(void) {
        tls_server_stop(t.server);
        tls_server_stop(t.noask);
        g_free(t.origin);
        memset(&t, 0, sizeof(t));
        test_bus_stop();
        certs_remove();
        g_clear_pointer(&alice_fp, g_free);
        g_clear_pointer(&bob_fp, g_free);
}

/* Starts the test's server: @kind serving only the TLS version of loop index @i. */
static void start_server(ServerKind kind, int i) {
        g_autofree char *dir = g_build_filename(test_bus_tmpdir(), "server", NULL);

        t.kind = kind;
        t.version = i == 0 ? TLS_VERSION_1_2 : TLS_VERSION_1_3;
        if (kind == NGINX)
                t.server = tls_server_start_nginx(certs_dir, dir, t.version);
        else if (kind == APACHE)
                /* Without resumption: every connection is a full handshake. */
                t.server = tls_server_start_apache(certs_dir, dir, t.version, false);
        else
                t.server = tls_server_start_selfserv(certs_dir, dir, t.version, true);
        t.origin = g_strdup_printf("localhost:%u", tls_server_port(t.server));
}

/* The asking server's URL for @path (selfserv answers every path alike). */
static char *server_url(const char *path) {
        return url(tls_server_port(t.server), path);
}

/* --- the scenarios --- */

/* 1. Two tlsid-fetch processes in one context whose choice is no certificate (an
 * undecided one would be asked: exit 3): the second one's first connection resumes, from
 * the token the first one stored in tlsidd. */
static void scenario_shared_resumption(void) {
        g_autofree char *u = server_url("/");
        Fetch first, second;
        const Connection *c;

        ctl("open", "tab/shared", NULL);
        ctl("choose", "tab/shared", t.origin, "none", NULL);
        fetch_run(&first, "tab/shared", u);
        assert_exit(&first, 0);
        c = conn(&first, 1);
        ck_assert_msg(!c->resumed && c->identity[0] == '\0' && c->sent[0] == '\0' &&
                      c->status == 200, "%s: %s", first.command, first.err->str);
        assert_server_saw(&first, 1, NULL, ".");
        wait_for_token("tab/shared", t.origin);

        fetch_run(&second, "tab/shared", u);
        assert_exit(&second, 0);
        c = conn(&second, 1);
        ck_assert_msg(c->resumed, "%s: the second process did not resume: %s", second.command,
                      second.err->str);
        ck_assert_msg(c->identity[0] == '\0' && c->sent[0] == '\0' && !c->asked &&
                      c->status == 200, "%s: %s", second.command, second.err->str);
        ck_assert_uint_eq(c->generation, conn(&first, 1)->generation);
        assert_server_saw(&second, 1, NULL, "r");
        fetch_clear(&first);
        fetch_clear(&second);
}

/* 2. Context A chose alice, B bob; they fetch alternately, two connections each time
 * (the second resumed from NSS's in-process cache, or with OpenSSL from its own outbox;
 * with OpenSSL the first too, after the first round, from the daemon): the server sees
 * Alice only from A and Bob only from B. */
static void scenario_parallel_identities(void) {
        g_autofree char *u = server_url("/private");
        static const char *const alice2[] = { DN_ALICE, DN_ALICE };
        static const char *const bob2[] = { DN_BOB, DN_BOB };

        ctl("open", "tab/a", NULL);
        ctl("open", "tab/b", NULL);
        ctl("choose", "tab/a", t.origin, alice_fp, NULL);
        ctl("choose", "tab/b", t.origin, bob_fp, NULL);
        for (int round = 0; round < ROUNDS; round++) {
                for (int tab = 0; tab < 2; tab++) {
                        const char *fp = tab == 0 ? alice_fp : bob_fp;
                        Fetch f;

                        fetch_run(&f, tab == 0 ? "tab/a" : "tab/b", "--connections", "2", u);
                        assert_exit(&f, 0);
                        ck_assert_uint_eq(f.n_conns, 2);
                        for (size_t k = 1; k <= 2; k++) {
                                const Connection *c = conn(&f, k);

                                ck_assert_msg(strcmp(c->identity, fp) == 0 && c->status == 200,
                                              "round %d: %s: connection %zu as %s: %s", round,
                                              f.command, k, who(c->identity), f.err->str);
                                /* A full handshake sends the certificate; a resumed one
                                 * is not asked and carries the session's. */
                                if (!c->resumed)
                                        ck_assert_msg(c->asked && strcmp(c->sent, fp) == 0,
                                                      "round %d: %s: connection %zu sent %s",
                                                      round, f.command, k, who(c->sent));
                        }
                        /* OpenSSL's sessions with a certificate go through the daemon:
                         * from the second round on, the process resumes its tab's session
                         * of the round before. */
                        bool full_first = !is_curl() || round == 0;

                        ck_assert_msg(conn(&f, 1)->resumed != full_first &&
                                      conn(&f, 2)->resumed,
                                      "round %d: %s: expected %s then a resumption: %s", round,
                                      f.command, full_first ? "a full handshake" : "one",
                                      f.err->str);
                        assert_server_saw(&f, 2, tab == 0 ? alice2 : bob2,
                                          full_first ? ".r" : "rr");
                        fetch_clear(&f);
                }
        }
}

/* Runs `tlsid-fetch --connections @n --interval 1 URL` in @context and, once its first
 * connection is done, `tlsidctl @first...` (NULL-ended). */
static void fetch_with_change(Fetch *f, const char *context, const char *u, const char *n,
                              const char *first, ...) {
        const char *args[8];
        va_list ap;

        va_start(ap, first);
        collect_args(args, first, ap);
        va_end(ap);
        g_autofree char *first_line = tool_line("connection 1:");

        fetch_start(f, context, "--connections", n, "--interval", "1", u, NULL);
        ck_assert_msg(fetch_read(f, first_line,
                                 test_bus_now_ms() + RUN_TIMEOUT_MS),
                      "%s: ended before its first connection; stdout:\n%s\nstderr:\n%s",
                      f->command, f->out->str, f->err->str);
        ctlv(args);
        fetch_finish(f);
}

/* 3. While A fetches four times a second apart, A switches to bob: the next connection is
 * a full handshake as Bob, and Alice never appears again. */
static void scenario_switch(void) {
        g_autofree char *u = server_url("/private");
        static const char *const dns[] = { DN_ALICE, DN_BOB, DN_BOB, DN_BOB };
        Fetch f;

        ctl("open", "tab/a", NULL);
        ctl("choose", "tab/a", t.origin, alice_fp, NULL);
        fetch_with_change(&f, "tab/a", u, "4", "choose", "tab/a", t.origin, bob_fp, NULL);
        assert_exit(&f, 0);
        ck_assert_uint_eq(f.n_conns, 4);
        ck_assert_msg(strcmp(conn(&f, 1)->identity, alice_fp) == 0 &&
                      strcmp(conn(&f, 1)->sent, alice_fp) == 0, "%s", f.err->str);
        ck_assert_msg(!conn(&f, 2)->resumed && conn(&f, 2)->asked &&
                      strcmp(conn(&f, 2)->sent, bob_fp) == 0,
                      "connection 2 after the switch: %s", f.err->str);
        ck_assert_uint_gt(conn(&f, 2)->generation, conn(&f, 1)->generation);
        for (size_t k = 2; k <= 4; k++) {
                ck_assert_msg(strcmp(conn(&f, k)->identity, bob_fp) == 0 &&
                              conn(&f, k)->status == 200,
                              "connection %zu as %s: %s", k, who(conn(&f, k)->identity),
                              f.err->str);
                ck_assert_msg(strcmp(conn(&f, k)->sent, alice_fp) != 0, "%s", f.err->str);
        }
        assert_server_saw(&f, 4, dns, "..??");
        fetch_clear(&f);
}

/* 4. An undecided context under policy "ask" is challenged: status 3 and the eligible
 * certificates; after `tlsidctl choose`, the same command gets 200 as the chosen one. */
static void scenario_challenge(void) {
        g_autofree char *u = server_url("/private");
        static const char *const alice[] = { DN_ALICE };
        g_autofree char *alice_line = g_strdup_printf("\n%s\t", alice_fp);
        g_autofree char *bob_line = g_strdup_printf("\n%s\t", bob_fp);
        Fetch f;

        write_policy("{\"mode\": \"ask\"}\n");
        fetch_run(&f, "tab/c", u);
        assert_exit(&f, 3);
        ck_assert_msg(f.n_conns >= 1 && conn(&f, 1)->asked && conn(&f, 1)->sent[0] == '\0' &&
                      conn(&f, 1)->status == 401, "%s", f.err->str);
        for (int i = 0; i < 2; i++) {
                const char *line = strstr(f.err->str, i == 0 ? alice_line : bob_line);
                const char *subject = i == 0 ? "Alice" : "Bob";
                g_autofree char *text = NULL;

                ck_assert_msg(line != NULL, "%s: %s is not listed: %s", f.command,
                              i == 0 ? "alice" : "bob", f.err->str);
                text = g_strndup(line + 1, strcspn(line + 1, "\n"));
                /* FINGERPRINT \t SUBJECT \t ISSUER */
                ck_assert_msg(strstr(text, subject) && strstr(text, "tlsid e2e CA") &&
                              strchr(strchr(text, '\t') + 1, '\t'),
                              "%s: eligible line '%s'", f.command, text);
        }
        fetch_clear(&f);

        ctl("choose", "tab/c", t.origin, alice_fp, NULL);
        fetch_run(&f, "tab/c", u);
        assert_exit(&f, 0);
        ck_assert_msg(f.n_conns == 1 && strcmp(conn(&f, 1)->sent, alice_fp) == 0 &&
                      conn(&f, 1)->status == 200, "%s", f.err->str);
        assert_server_saw(&f, 1, alice, ".");
        fetch_clear(&f);

        /* A server that never asks points, with the challenge's url, to one that does:
         * AnswerChallenge says retry there, and the request is re-sent on a new connection
         * which carries the certificate. The decision is the url origin's, made above:
         * one decision per origin is enough (nothing is chosen for the one that never
         * asks). */
        if (t.kind == NGINX) {
                g_autofree char *noask_url = url(tls_server_noask_port(t.server), "/private");

                fetch_run(&f, "tab/c", noask_url);
                assert_exit(&f, 0);
                ck_assert_msg(f.n_conns == 2 && !conn(&f, 1)->asked &&
                              conn(&f, 1)->sent[0] == '\0' && conn(&f, 1)->status == 401 &&
                              conn(&f, 2)->asked && strcmp(conn(&f, 2)->sent, alice_fp) == 0 &&
                              conn(&f, 2)->status == 200,
                              "%s", f.err->str);
                ck_assert_msg(strstr(f.out->str, "dn=" DN_ALICE), "%s", f.out->str);
                fetch_clear(&f);
        }
}

/* 5. With the choice "none" no certificate is sent; nginx's 401 body is printed, after one
 * re-send that carries the decline. selfserv never answers 401: there the check is that
 * it was asked, sent nothing and saw nothing. */
static void scenario_decline(void) {
        g_autofree char *u = server_url("/private");
        Fetch f;

        ctl("open", "tab/d", NULL);
        ctl("choose", "tab/d", t.origin, "none", NULL);
        fetch_run(&f, "tab/d", u);
        /* A full handshake is asked and sends nothing; the re-send may resume that
         * certificate-less session, and is then not asked. */
        for (size_t k = 1; k <= f.n_conns; k++)
                ck_assert_msg((conn(&f, k)->asked || conn(&f, k)->resumed) &&
                              conn(&f, k)->sent[0] == '\0' && conn(&f, k)->identity[0] == '\0',
                              "%s: connection %zu: %s", f.command, k, f.err->str);
        ck_assert_msg(conn(&f, 1)->asked, "%s: %s", f.command, f.err->str);
        if (t.kind == NGINX) {
                assert_exit(&f, 1);
                ck_assert_msg(f.n_conns == 2 && conn(&f, 1)->status == 401 &&
                              conn(&f, 2)->status == 401,
                              "%s: expected a 401 and one re-send: %s", f.command, f.err->str);
                ck_assert_msg(strstr(f.out->str, "certificate needed") &&
                              strstr(f.out->str, "authorization=transport") &&
                              strstr(f.out->str, "status=\"declined\""),
                              "%s: the 401 body of the re-sent request: %s", f.command,
                              f.out->str);
                assert_server_saw(&f, 0, NULL, NULL);
        } else {
                assert_exit(&f, 0);
                ck_assert_uint_eq(f.n_conns, 1);
                assert_server_saw(&f, 1, NULL, ".");
        }
        fetch_clear(&f);
}

/* 6. A flush makes the next connection a full handshake: across processes and within one,
 * without a certificate (the tokens tlsidd held are gone) and with one (NSS's own cache is
 * keyed by the old generation); the connection after that resumes again. */
static void scenario_flush(void) {
        g_autofree char *u = server_url("/");
        g_autofree char *private = server_url("/private");
        static const char *const alice[] = { DN_ALICE, DN_ALICE, DN_ALICE };
        Fetch f, g;

        ctl("open", "tab/f", NULL);
        ctl("choose", "tab/f", t.origin, "none", NULL);
        fetch_run(&f, "tab/f", u);
        assert_exit(&f, 0);
        assert_server_saw(&f, 1, NULL, ".");
        wait_for_token("tab/f", t.origin);
        ctl("flush", "--context", "tab/f", NULL);
        fetch_run(&g, "tab/f", u);
        assert_exit(&g, 0);
        ck_assert_msg(!conn(&g, 1)->resumed, "%s: resumed after the flush: %s", g.command,
                      g.err->str);
        ck_assert_uint_gt(conn(&g, 1)->generation, conn(&f, 1)->generation);
        assert_server_saw(&g, 1, NULL, ".");
        fetch_clear(&f);
        fetch_clear(&g);

        for (int chosen = 0; chosen < 2; chosen++) {
                const char *context = chosen ? "tab/g" : "tab/f";
                const char *fp = chosen ? alice_fp : "";

                if (chosen) {
                        ctl("open", context, NULL);
                        ctl("choose", context, t.origin, alice_fp, NULL);
                }
                fetch_with_change(&f, context, chosen ? private : u, "3", "flush", "--context",
                                  context, NULL);
                assert_exit(&f, 0);
                ck_assert_uint_eq(f.n_conns, 3);
                ck_assert_msg(!conn(&f, 2)->resumed && strcmp(conn(&f, 2)->sent, fp) == 0,
                              "%s: connection 2 after the flush: %s", f.command, f.err->str);
                ck_assert_uint_gt(conn(&f, 2)->generation, conn(&f, 1)->generation);
                ck_assert_msg(conn(&f, 3)->resumed, "%s: connection 3 did not resume: %s",
                              f.command, f.err->str);
                for (size_t k = 1; k <= 3; k++)
                        ck_assert_msg(strcmp(conn(&f, k)->identity, fp) == 0 &&
                                      conn(&f, k)->status == 200, "%s", f.err->str);
                /* Without a certificate the first connection may resume from the token
                 * the process before left. */
                assert_server_saw(&f, 3, chosen ? alice : NULL, chosen ? "..r" : "?.r");
                fetch_clear(&f);
        }
}

/* 7. A server that does not ask gets no certificate, even from a context that chose one
 * for its origin. */
static void scenario_never_unsolicited(void) {
        g_autofree char *dir = g_build_filename(test_bus_tmpdir(), "noask", NULL);
        g_autofree char *origin = NULL, *u = NULL;
        uint16_t port;
        Fetch f;

        if (t.kind == NGINX) {
                port = tls_server_noask_port(t.server);
        } else {
                t.noask = tls_server_start_selfserv(certs_dir, dir, t.version, false);
                port = tls_server_port(t.noask);
        }
        origin = g_strdup_printf("localhost:%u", port);
        u = url(port, "/");
        ctl("open", "tab/h", NULL);
        ctl("choose", "tab/h", origin, alice_fp, NULL);
        fetch_run(&f, "tab/h", u);
        assert_exit(&f, 0);
        ck_assert_msg(f.n_conns == 1 && !conn(&f, 1)->asked && conn(&f, 1)->sent[0] == '\0' &&
                      strcmp(conn(&f, 1)->identity, alice_fp) == 0 &&
                      conn(&f, 1)->status == 200, "%s: %s", f.command, f.err->str);
        if (t.kind == NGINX) {
                assert_server_saw(&f, 1, NULL, ".");
        } else {
                TlsServerConnection c[4];

                ck_assert_uint_eq(tls_server_selfserv_connections(t.noask, c, 4), 1);
                ck_assert_str_eq(c[0].subject, "");
                ck_assert_msg(strstr(f.out->str, "GET / HTTP/1.1"), "%s", f.out->str);
        }
        fetch_clear(&f);
}

/* 8. Policy "auto" picks a certificate in the handshake of an undecided context: the
 * connection, attached with no identity, moves to the new partition before any data and
 * reports it; the program exits 0 with nothing of NSS left behind. */
static void scenario_policy_auto(void) {
        g_autofree char *u = server_url("/private");
        Fetch f;

        write_policy("{\"mode\": \"auto\"}\n");
        ctl("open", "tab/auto", NULL);
        fetch_run(&f, "tab/auto", u);
        assert_exit(&f, 0);
        const Connection *c = conn(&f, 1);
        ck_assert_msg(c->asked && c->sent[0] && strcmp(c->sent, c->identity) == 0 &&
                      c->status == 200 && c->generation > 1,
                      "%s: %s", f.command, f.err->str);
        ck_assert_msg(strcmp(c->sent, alice_fp) == 0 || strcmp(c->sent, bob_fp) == 0,
                      "%s: sent %s", f.command, c->sent);
        fetch_clear(&f);
}

/* 9. An undecided context, a server that asks in the handshake: the user must choose, so
 * the program lists the eligible certificates and exits 3, even though the server (which
 * only requests a certificate) answered. */
static void assert_fetch_asks(const char *context, const char *path) {
        g_autofree char *u = server_url(path);
        g_autofree char *alice_line = g_strdup_printf("\n%s\t", alice_fp);
        g_autofree char *hint = g_strdup_printf("tlsidctl choose %s", context);
        Fetch f;

        fetch_run(&f, context, u);
        assert_exit(&f, 3);
        ck_assert_msg(strstr(f.err->str, hint) && strstr(f.err->str, alice_line), "%s: %s",
                      f.command, f.err->str);
        fetch_clear(&f);
}

static void scenario_handshake_ask(void) {
        assert_fetch_asks("tab/ask", "/");
        /* A server that requires one answers 400 without it: the user is asked all the
         * same. */
        if (t.kind == NGINX) {
                g_autofree char *u = url(tls_server_require_port(t.server), "/");
                g_autofree char *alice_line = g_strdup_printf("\n%s\t", alice_fp);
                Fetch f;

                fetch_run(&f, "tab/ask", u);
                assert_exit(&f, 3);
                ck_assert_msg(f.n_conns == 1 && conn(&f, 1)->status == 400 &&
                              strstr(f.err->str, alice_line), "%s: %s", f.command, f.err->str);
                fetch_clear(&f);
        }
}

/* 10. The application's certificates live in its own database, the daemon has none: the
 * challenge lists the application's certificates, `tlsidctl choose` takes the nickname
 * the application offered, and the next fetch is Alice. */
static void scenario_application_database(void) {
        g_autofree char *u = server_url("/private");
        g_autofree char *alice_line = g_strdup_printf("\n%s\t", alice_fp);
        static const char *const alice[] = { DN_ALICE };
        Fetch f;

        test_bus_write_daemon_config("[certificates]\nnss_db = none\n");
        write_policy("{\"mode\": \"ask\"}\n");
        fetch_run(&f, "tab/app", u);
        assert_exit(&f, 3);
        ck_assert_msg(strstr(f.err->str, alice_line), "%s: %s", f.command, f.err->str);
        fetch_clear(&f);

        ctl("choose", "tab/app", t.origin, "alice", NULL);
        fetch_run(&f, "tab/app", u);
        assert_exit(&f, 0);
        ck_assert_msg(f.n_conns == 1 && strcmp(conn(&f, 1)->sent, alice_fp) == 0 &&
                      conn(&f, 1)->status == 200, "%s", f.err->str);
        assert_server_saw(&f, 1, alice, ".");
        fetch_clear(&f);
}

/* --- Apache: certificates asked for after the request --- */

/* The subject the server saw for a certificate sent ("" when none). */
static const char *dn_of(const char *fp) {
        if (!*fp)
                return "";
        return strcmp(fp, alice_fp) == 0 ? DN_ALICE : strcmp(fp, bob_fp) == 0 ? DN_BOB : "?";
}

/* How many requests of @f got a response: each connection's (status 0: none), each
 * re-send, each further request on a kept connection. */
static size_t requests_answered(const Fetch *f) {
        size_t n = 0;

        for (size_t i = 0; i < f->n_conns; i++)
                n += f->conns[i].status != 0;
        g_autofree char *resending = tool_line("re-sending ");
        g_autofree char *request = tool_line("request ");

        for (const char *p = f->err->str; (p = strstr(p, resending)); p++)
                n++;
        for (const char *p = f->err->str; (p = strstr(p, request)); p++)
                n++;
        return n;
}

/* Apache's requests grouped by connection, in order: @ret_first[k] is the index of the
 * first request of connection k, @ret_n[k] how many it had. Returns the connections. */
static size_t apache_connections(const TlsServerRequest *r, size_t n, size_t *ret_first,
                                 size_t *ret_n, size_t max) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                if (k > 0 && strcmp(r[i].connection, r[ret_first[k - 1]].connection) == 0) {
                        ret_n[k - 1]++;
                        continue;
                }
                ck_assert_uint_lt(k, max);
                ret_first[k] = i;
                ret_n[k] = 1;
                k++;
        }
        return k;
}

/* 11. Alice chosen, a path that asks after the request (TLS 1.2 renegotiation, TLS 1.3
 * post-handshake authentication): the certificate goes mid-connection, and the GET, sent
 * before the identity existed, is sent again on the same connection. */
static void scenario_reauthentication(void) {
        g_autofree char *u = server_url("/require/");
        TlsServerRequest r[8];
        g_autofree char *resent = tool_line("re-sending on connection 1");
        Fetch f;

        ctl("open", "tab/re", NULL);
        ctl("choose", "tab/re", t.origin, alice_fp, NULL);
        fetch_run(&f, "tab/re", u);
        assert_exit(&f, 0);
        ck_assert_msg(f.n_conns == 1 && strcmp(conn(&f, 1)->sent, alice_fp) == 0 &&
                      conn(&f, 1)->status == 200 && strstr(f.err->str, resent),
                      "%s: %s", f.command, f.err->str);
        ck_assert_msg(strstr(f.out->str, "dn=" DN_ALICE), "%s", f.out->str);
        /* The server's side: the same request twice on one connection, both as Alice. */
        ck_assert_uint_eq(tls_server_apache_requests_wait(t.server, r, G_N_ELEMENTS(r), 2), 2);
        ck_assert_str_eq(r[0].connection, r[1].connection);
        for (int i = 0; i < 2; i++) {
                ck_assert_str_eq(r[i].path, "/require/");
                ck_assert_str_eq(r[i].subject, DN_ALICE);
                ck_assert_int_eq(r[i].status, 200);
        }
        fetch_clear(&f);
}

/* 12. Undecided, a path that requires a certificate after the request: the user must
 * choose, whatever the server did next (a TLS alert, or a 403). */
static void scenario_reauthentication_ask(void) {
        assert_fetch_asks("tab/reask", "/require/");
}

/* 13. A kept-alive connection made as Alice, then a switch to Bob: the connection is
 * retired and never presents Bob; the next one is Bob's. */
static void scenario_keep_alive_switch(void) {
        g_autofree char *u = server_url("/optional/");
        TlsServerRequest r[16];
        size_t first[16], count[16], n, k;
        g_autofree char *first_line = tool_line("connection 1:");
        Fetch f;

        ctl("open", "tab/ka", NULL);
        ctl("choose", "tab/ka", t.origin, alice_fp, NULL);
        fetch_start(&f, "tab/ka", "--keep-alive", "--connections", "3", "--interval", "1", u,
                    NULL);
        ck_assert_msg(fetch_read(&f, first_line,
                                 test_bus_now_ms() + RUN_TIMEOUT_MS),
                      "%s: %s", f.command, f.err->str);
        ctl("choose", "tab/ka", t.origin, bob_fp, NULL);
        fetch_finish(&f);
        assert_exit(&f, 0);
        ck_assert_msg(f.n_conns == 2 && strcmp(conn(&f, 1)->identity, alice_fp) == 0 &&
                      strcmp(conn(&f, 2)->identity, bob_fp) == 0 &&
                      strstr(f.err->str, "retired connection 1: IdentityChanged"),
                      "%s: %s", f.command, f.err->str);
        /* Three requests, the first sent twice. */
        n = tls_server_apache_requests_wait(t.server, r, G_N_ELEMENTS(r), 4);
        k = apache_connections(r, n, first, count, G_N_ELEMENTS(first));
        ck_assert_uint_eq(k, 2);
        /* Connection 1: Alice only (its first request re-sent after the authentication);
         * connection 2 carried the other two requests as Bob. */
        for (size_t i = 0; i < count[0]; i++)
                ck_assert_str_eq(r[first[0] + i].subject, DN_ALICE);
        for (size_t i = 0; i < count[1]; i++)
                ck_assert_str_eq(r[first[1] + i].subject, DN_BOB);
        fetch_clear(&f);
}

#define RACE_FETCHES 40

/* 14. One process fetches while another switches the context between Alice and Bob at
 * every connection, against a server without resumption that asks after each request:
 * no connection ever presents another identity than the one the client reports for it,
 * and the server saw exactly what the client says it sent. */
static void scenario_switch_race(void) {
        g_autofree char *u = server_url("/optional/");
        g_autofree char *n_fetches = g_strdup_printf("%d", RACE_FETCHES);
        static TlsServerRequest r[4 * MAX_CONNECTIONS];
        size_t first[MAX_CONNECTIONS], count[MAX_CONNECTIONS], n, k, mismatches = 0;
        long long deadline = test_bus_now_ms() + 4 * RUN_TIMEOUT_MS;
        Fetch f;

        ctl("open", "tab/race", NULL);
        ctl("choose", "tab/race", t.origin, alice_fp, NULL);
        fetch_start(&f, "tab/race", "--connections", n_fetches, u, NULL);
        for (int i = 1; i <= RACE_FETCHES; i++) {
                g_autofree char *line = g_strdup_printf("%s: connection %d:", tool, i);

                if (!fetch_read(&f, line, deadline))
                        break;
                /* Lands somewhere in the next connection: its attach, its handshake, its
                 * request or the server's CertificateRequest. */
                ctl("choose", "tab/race", t.origin, i % 2 ? bob_fp : alice_fp, NULL);
        }
        fetch_finish(&f);
        assert_exit(&f, 0);
        n = tls_server_apache_requests_wait(t.server, r, G_N_ELEMENTS(r),
                                            requests_answered(&f));
        k = apache_connections(r, n, first, count, G_N_ELEMENTS(first));
        ck_assert_msg(k == f.n_conns, "the server saw %zu connections, the client %zu: %s", k,
                      f.n_conns, f.err->str);
        for (size_t c = 0; c < k; c++) {
                const Connection *cc = &f.conns[c];

                if (*cc->sent && strcmp(cc->sent, cc->identity) != 0)
                        mismatches++;
                for (size_t i = 0; i < count[c]; i++)
                        if (strcmp(r[first[c] + i].subject, dn_of(cc->sent)) != 0)
                                mismatches++;
        }
        printf("switch race, %s: %zu connections checked, %zu mismatches\n",
               tls_version_name(t.version), k, mismatches);
        ck_assert_uint_ge(k, RACE_FETCHES);
        ck_assert_msg(mismatches == 0, "%zu mismatches: %s", mismatches, f.err->str);
        fetch_clear(&f);
}

/* --- what only OpenSSL allows, and both stacks in one context (tlsid-curl) --- */

/* Runs @client ("tlsid-fetch" or "tlsid-curl") to its end in @context on @u. */
static void run_client(Fetch *f, const char *client, const char *context, const char *u) {
        const char *was = tool;

        tool = client;
        fetch_run(f, context, u);
        tool = was;
}

/* 15. A second tlsid-curl process resumes the first one's session with Alice's
 * certificate, from the daemon: the server shows the session reused and Alice's DN. After
 * a switch to Bob no process resumes it, nor after a switch back to Alice (a new
 * partition). */
static void scenario_certificate_resumption(void) {
        g_autofree char *u = server_url("/private");
        static const char *const alice[] = { DN_ALICE };
        static const char *const bob[] = { DN_BOB };
        Fetch first, second, third, fourth;

        ctl("open", "tab/x", NULL);
        ctl("choose", "tab/x", t.origin, alice_fp, NULL);
        run_client(&first, "tlsid-curl", "tab/x", u);
        assert_exit(&first, 0);
        ck_assert_msg(!conn(&first, 1)->resumed && strcmp(conn(&first, 1)->sent, alice_fp) == 0,
                      "%s", first.err->str);
        assert_server_saw(&first, 1, alice, ".");
        wait_for_token("tab/x", t.origin);

        run_client(&second, "tlsid-curl", "tab/x", u);
        assert_exit(&second, 0);
        ck_assert_msg(conn(&second, 1)->resumed && !conn(&second, 1)->asked &&
                      conn(&second, 1)->sent[0] == '\0' &&
                      strcmp(conn(&second, 1)->identity, alice_fp) == 0,
                      "%s: did not resume Alice's session: %s", second.command,
                      second.err->str);
        assert_server_saw(&second, 1, alice, "r");
        wait_for_token("tab/x", t.origin);

        ctl("choose", "tab/x", t.origin, bob_fp, NULL);
        run_client(&third, "tlsid-curl", "tab/x", u);
        assert_exit(&third, 0);
        ck_assert_msg(!conn(&third, 1)->resumed && strcmp(conn(&third, 1)->sent, bob_fp) == 0 &&
                      conn(&third, 1)->generation > conn(&second, 1)->generation,
                      "%s: %s", third.command, third.err->str);
        assert_server_saw(&third, 1, bob, ".");

        ctl("choose", "tab/x", t.origin, alice_fp, NULL);
        run_client(&fourth, "tlsid-curl", "tab/x", u);
        assert_exit(&fourth, 0);
        ck_assert_msg(!conn(&fourth, 1)->resumed &&
                      strcmp(conn(&fourth, 1)->sent, alice_fp) == 0,
                      "%s: resumed a session of an earlier partition: %s", fourth.command,
                      fourth.err->str);
        assert_server_saw(&fourth, 1, alice, ".");
        fetch_clear(&first);
        fetch_clear(&second);
        fetch_clear(&third);
        fetch_clear(&fourth);
}

/* 16. tlsid-fetch (NSS) and tlsid-curl (OpenSSL) in one context share its choice and
 * generations, never each other's tokens: each resumes only from its own stack's token,
 * which the other left in the daemon; a choice made for one is the other's too. */
static void scenario_mixed_stacks(void) {
        g_autofree char *u = server_url("/");
        g_autofree char *private = server_url("/private");
        static const char *const alice[] = { DN_ALICE };
        Fetch nss1, ossl1, nss2, ossl2, ask, chosen, switched;

        ctl("open", "tab/mix", NULL);
        ctl("choose", "tab/mix", t.origin, "none", NULL);
        run_client(&nss1, "tlsid-fetch", "tab/mix", u);
        assert_exit(&nss1, 0);
        assert_server_saw(&nss1, 1, NULL, ".");
        wait_for_token("tab/mix", t.origin);
        /* The daemon holds an NSS token: OpenSSL is not given it. */
        run_client(&ossl1, "tlsid-curl", "tab/mix", u);
        assert_exit(&ossl1, 0);
        ck_assert_msg(!conn(&ossl1, 1)->resumed, "%s: took another stack's token: %s",
                      ossl1.command, ossl1.err->str);
        ck_assert_uint_eq(conn(&ossl1, 1)->generation, conn(&nss1, 1)->generation);
        assert_server_saw(&ossl1, 1, NULL, ".");
        /* Each finds its own stack's token, which the other passed over. */
        run_client(&nss2, "tlsid-fetch", "tab/mix", u);
        assert_exit(&nss2, 0);
        ck_assert_msg(conn(&nss2, 1)->resumed, "%s: its token is gone: %s", nss2.command,
                      nss2.err->str);
        assert_server_saw(&nss2, 1, NULL, "r");
        run_client(&ossl2, "tlsid-curl", "tab/mix", u);
        assert_exit(&ossl2, 0);
        ck_assert_msg(conn(&ossl2, 1)->resumed, "%s: its token is gone: %s", ossl2.command,
                      ossl2.err->str);
        assert_server_saw(&ossl2, 1, NULL, "r");

        /* A choice asked by one and made by the user is the other's. */
        ctl("forget", "--context", "tab/mix", NULL);
        write_policy("{\"mode\": \"ask\"}\n");
        run_client(&ask, "tlsid-fetch", "tab/mix", private);
        assert_exit(&ask, 3);
        ctl("choose", "tab/mix", t.origin, alice_fp, NULL);
        run_client(&chosen, "tlsid-curl", "tab/mix", private);
        assert_exit(&chosen, 0);
        ck_assert_msg(strcmp(conn(&chosen, 1)->sent, alice_fp) == 0, "%s: %s", chosen.command,
                      chosen.err->str);
        assert_server_saw(&chosen, 1, alice, ".");
        run_client(&switched, "tlsid-fetch", "tab/mix", private);
        assert_exit(&switched, 0);
        ck_assert_msg(strcmp(conn(&switched, 1)->identity, alice_fp) == 0 &&
                      conn(&switched, 1)->generation == conn(&chosen, 1)->generation,
                      "%s: %s", switched.command, switched.err->str);
        fetch_clear(&nss1);
        fetch_clear(&ossl1);
        fetch_clear(&nss2);
        fetch_clear(&ossl2);
        fetch_clear(&ask);
        fetch_clear(&chosen);
        fetch_clear(&switched);
}

/* 17. A libcurl program outside the tree (tests/data/curl-two-identities.c), built with
 * nothing but `pkg-config --cflags --libs tlsid-openssl libcurl` against the build tree's
 * uninstalled pkg-config files: its two easy handles on one multi handle, in two
 * contexts, fetch at once, twice: the server sees Alice only from the first and Bob only
 * from the second. */
static void scenario_out_of_tree_program(void) {
        g_autofree char *u = server_url("/private");
        g_autofree char *prog = g_build_filename(test_bus_tmpdir(), "curl-two-identities", NULL);
        g_autofree char *src = g_build_filename(g_getenv("TLSID_SOURCE_DIR"), "tests", "data",
                                                "curl-two-identities.c", NULL);
        g_autofree char *pc_path = g_build_filename(g_getenv("TLSID_BUILD_DIR"),
                                                    "meson-uninstalled", NULL);
        /* Under the sanitized run the libraries need the sanitizers' runtime, which only
         * an executable built with them brings. */
#ifdef HAVE_ASAN
        const char *cc = "clang -fsanitize=address,undefined";
#else
        const char *cc = "cc";
#endif
        g_autofree char *build = g_strdup_printf(
                "%s -o '%s' '%s' "
                "$(PKG_CONFIG_PATH='%s' pkg-config --cflags --libs tlsid-openssl libcurl)",
                cc, prog, src, pc_path);
        g_autofree char *ca = g_build_filename(certs_dir, "ca.pem", NULL);
        g_autofree char *alice_pem = g_build_filename(certs_dir, "alice.pem", NULL);
        g_autofree char *alice_key = g_build_filename(certs_dir, "alice.key", NULL);
        g_autofree char *bob_pem = g_build_filename(certs_dir, "bob.pem", NULL);
        g_autofree char *bob_key = g_build_filename(certs_dir, "bob.key", NULL);
        const char *sh[] = { "sh", "-c", build, NULL };
        const char *run[] = { prog, u, ca, "app/a", "app/b", alice_pem, alice_key, bob_pem,
                              bob_key, NULL };
        g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) lines = NULL;
        size_t alice = 0, bob = 0;
        int status;

        ck_assert_msg(g_spawn_sync(NULL, (char **) sh, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                   &out, &err, &status, &error),
                      "%s: %s", build, error->message);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s%s", build, out,
                      err);
        ctl("open", "app/a", NULL);
        ctl("open", "app/b", NULL);
        ctl("choose", "app/a", t.origin, alice_fp, NULL);
        ctl("choose", "app/b", t.origin, bob_fp, NULL);
        ck_assert_msg(g_spawn_sync(NULL, (char **) run, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   &out2, &err2, &status, &error),
                      "%s: %s", prog, error->message);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s%s", prog, out2,
                      err2);
        lines = g_strsplit(out2, "\n", -1);
        for (char **l = lines; *l; l++) {
                if (!**l)
                        continue;
                if (g_str_has_prefix(*l, "app/a: 200 dn=" DN_ALICE " "))
                        alice++;
                else if (g_str_has_prefix(*l, "app/b: 200 dn=" DN_BOB " "))
                        bob++;
                else
                        ck_abort_msg("%s: unexpected line '%s'", prog, *l);
        }
        ck_assert_msg(alice == 2 && bob == 2, "%s: %s", prog, out2);
}

/* --- the tests: each scenario under TLS 1.2 (_i = 0) and TLS 1.3 (_i = 1) --- */

#define E2E_TEST(server, kind, scenario)                         \
        START_TEST(test_e2e_##server##_##scenario) {             \
                start_server(kind, _i);                          \
                scenario_##scenario();                           \
        }                                                        \
        END_TEST

E2E_TEST(nginx, NGINX, shared_resumption)
E2E_TEST(nginx, NGINX, parallel_identities)
E2E_TEST(nginx, NGINX, switch)
E2E_TEST(nginx, NGINX, challenge)
E2E_TEST(nginx, NGINX, decline)
E2E_TEST(nginx, NGINX, flush)
E2E_TEST(nginx, NGINX, never_unsolicited)
E2E_TEST(nginx, NGINX, policy_auto)
E2E_TEST(nginx, NGINX, handshake_ask)
E2E_TEST(nginx, NGINX, application_database)
E2E_TEST(nginx, NGINX, certificate_resumption)
E2E_TEST(nginx, NGINX, mixed_stacks)
E2E_TEST(nginx, NGINX, out_of_tree_program)
E2E_TEST(selfserv, SELFSERV, shared_resumption)
E2E_TEST(selfserv, SELFSERV, parallel_identities)
E2E_TEST(selfserv, SELFSERV, switch)
E2E_TEST(selfserv, SELFSERV, decline)
E2E_TEST(selfserv, SELFSERV, flush)
E2E_TEST(selfserv, SELFSERV, never_unsolicited)
E2E_TEST(selfserv, SELFSERV, policy_auto)
E2E_TEST(selfserv, SELFSERV, handshake_ask)
E2E_TEST(apache, APACHE, reauthentication)
E2E_TEST(apache, APACHE, reauthentication_ask)
E2E_TEST(apache, APACHE, keep_alive_switch)
E2E_TEST(apache, APACHE, switch_race)

/* The nginx and Apache scenarios both clients run; each under TLS 1.2 and 1.3. */
static TCase *nginx_case(void) {
        TCase *nginx = tcase_create("nginx");

        tcase_add_checked_fixture(nginx, setup, teardown);
        tcase_set_timeout(nginx, 120);
        tcase_add_loop_test(nginx, test_e2e_nginx_shared_resumption, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_parallel_identities, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_switch, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_challenge, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_decline, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_flush, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_never_unsolicited, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_policy_auto, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_handshake_ask, 0, 2);
        return nginx;
}

static TCase *apache_case(void) {
        TCase *apache = tcase_create("apache");

        tcase_add_checked_fixture(apache, setup, teardown);
        tcase_set_timeout(apache, 240);
        tcase_add_loop_test(apache, test_e2e_apache_reauthentication, 0, 2);
        tcase_add_loop_test(apache, test_e2e_apache_reauthentication_ask, 0, 2);
        tcase_add_loop_test(apache, test_e2e_apache_keep_alive_switch, 0, 2);
        tcase_add_loop_test(apache, test_e2e_apache_switch_race, 0, 2);
        return apache;
}

static Suite *e2e_suite(void) {
        Suite *s = suite_create("e2e");
        TCase *nginx = nginx_case();
        TCase *selfserv = tcase_create("selfserv");

        /* The application's own NSS database: tlsid-fetch's. */
        tcase_add_loop_test(nginx, test_e2e_nginx_application_database, 0, 2);
        suite_add_tcase(s, nginx);

        tcase_add_checked_fixture(selfserv, setup, teardown);
        tcase_set_timeout(selfserv, 120);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_shared_resumption, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_parallel_identities, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_switch, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_decline, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_flush, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_never_unsolicited, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_policy_auto, 0, 2);
        tcase_add_loop_test(selfserv, test_e2e_selfserv_handshake_ask, 0, 2);
        suite_add_tcase(s, selfserv);
        suite_add_tcase(s, apache_case());
        return s;
}

/* tlsid-curl: the scenarios of libtlsid-nss's promises, against nginx and Apache, and
 * what only OpenSSL allows. */
static Suite *e2e_curl_suite(void) {
        Suite *s = suite_create("e2e-curl");
        TCase *nginx = nginx_case();

        tcase_add_loop_test(nginx, test_e2e_nginx_certificate_resumption, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_mixed_stacks, 0, 2);
        tcase_add_loop_test(nginx, test_e2e_nginx_out_of_tree_program, 0, 2);
        suite_add_tcase(s, nginx);
        suite_add_tcase(s, apache_case());
        return s;
}

int main(void) {
        const char *client = g_getenv("TLSID_E2E_CLIENT");
        int status;

        signal(SIGPIPE, SIG_IGN);
        if (client && strcmp(client, "curl") == 0)
                tool = "tlsid-curl";
        status = test_run_suite(is_curl() ? e2e_curl_suite() : e2e_suite(), CK_FORK);
        return status;
}
