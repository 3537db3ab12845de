/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End to end, asking the user: `tlsid-fetch --interactive` against nginx with an undecided
 * context while `tlsidctl agent --json` answers, under TLS 1.2 and TLS 1.3. The chosen
 * identity is what nginx saw on the connection that asked, in its first handshake (nginx
 * echoes its connection serial: one more than a probe's just before, so no second
 * connection was made), and the remembered choice outlives CloseContext: the next run
 * needs no agent. */
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert-bus.h"
#include "check-main.h"
#include "test-bus.h"
#include "tls-server.h"

#define RUN_TIMEOUT_MS 30000
#define DN_ALICE "CN=Alice,O=tlsid e2e"
#define CTX "tab/interactive"

static TlsServer *server;
static char *alice_fp;

static void setup(void) {
        g_autofree char *conf = NULL;

        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        alice_fp = certs_read_fingerprint("alice");
        test_bus_start();
        conf = g_strdup_printf("[certificates]\nnss_db = sql:%s/client-db\n", certs_dir);
        test_bus_write_daemon_config(conf);
}

static void teardown(void) {
        tls_server_stop(server);
        server = NULL;
        test_bus_stop();
        certs_remove();
        g_clear_pointer(&alice_fp, g_free);
}

/* ---- Processes ---- */

typedef struct {
        GPid pid;
        int in, out, err;
        GString *got_out, *got_err;
        char *command;
} Child;

static void child_start(Child *c, const char *const *argv, bool with_stdin) {
        g_autoptr(GError) error = NULL;

        memset(c, 0, sizeof *c);
        c->in = -1;
        c->command = g_strjoinv(" ", (char **) argv);
        ck_assert_msg(g_spawn_async_with_pipes(NULL, (char **) argv, NULL,
                                               G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &c->pid,
                                               with_stdin ? &c->in : NULL, &c->out, &c->err,
                                               &error),
                      "%s: %s", c->command, error->message);
        c->got_out = g_string_new(NULL);
        c->got_err = g_string_new(NULL);
}

/* Reads both pipes until @needle is in stdout (@needle NULL: until both end). */
static bool child_read(Child *c, const char *needle) {
        long long deadline = test_bus_now_ms() + RUN_TIMEOUT_MS;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = c->out, .events = POLLIN },
                        { .fd = c->err, .events = POLLIN },
                };
                long long left = deadline - test_bus_now_ms();

                if (needle && strstr(c->got_out->str, needle))
                        return true;
                if (c->out < 0 && c->err < 0)
                        return false;
                ck_assert_msg(left > 0, "%s: nothing more within %d ms; stdout:\n%s\nstderr:\n%s",
                              c->command, RUN_TIMEOUT_MS, c->got_out->str, c->got_err->str);
                if (poll(p, 2, (int) left) < 0)
                        continue;
                for (int i = 0; i < 2; i++) {
                        int *fd = i == 0 ? &c->out : &c->err;
                        char buf[4096];
                        ssize_t n;

                        if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(*fd, buf, sizeof buf);
                        if (n <= 0) {
                                close(*fd);
                                *fd = -1;
                        } else
                                g_string_append_len(i == 0 ? c->got_out : c->got_err, buf, n);
                }
        }
}

/* Closes its stdin, reads to the end and returns its exit status. */
static int child_finish(Child *c) {
        int status;

        if (c->in >= 0)
                close(c->in);
        c->in = -1;
        child_read(c, NULL);
        ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
        g_spawn_close_pid(c->pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void child_clear(Child *c) {
        g_string_free(c->got_out, TRUE);
        g_string_free(c->got_err, TRUE);
        g_free(c->command);
}

static char *server_url(const char *path) {
        return g_strdup_printf("https://localhost:%u%s", tls_server_port(server), path);
}

/* Starts tlsid-fetch --verbose in @context with @extra (nullable) on @path. */
static void fetch_start(Child *c, const char *context, const char *extra, const char *path) {
        g_autofree char *db = g_build_filename(certs_dir, "client-db", NULL);
        g_autofree char *u = server_url(path);
        const char *argv[] = { g_getenv("TLSID_FETCH"), "--verbose", "--context", context,
                               "--nss-db", db, u, extra, NULL };

        ck_assert_msg(argv[0], "TLSID_FETCH is not set");
        if (extra) {
                /* The option before the URL. */
                argv[6] = extra;
                argv[7] = u;
        }
        child_start(c, argv, false);
}

/* Runs tlsidctl @a @b @c @d (each nullable: the list ends there); it must succeed. */
static void ctl(const char *a, const char *b, const char *c, const char *d) {
        const char *argv[] = { g_getenv("TLSIDCTL"), a, b, c, d, NULL };
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        int status;

        ck_assert_msg(argv[0], "TLSIDCTL is not set");
        ck_assert_msg(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   &out, &err, &status, &error), "tlsidctl: %s", error->message);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tlsidctl %s %s: %s%s",
                      a, b ? b : "", out, err);
}

/* nginx's connection serial in a /connection body ("connection=N"). */
static long connection_serial(const char *body) {
        const char *p = strstr(body, "connection=");

        ck_assert_msg(p, "no connection= in the body: %s", body);
        return strtol(p + strlen("connection="), NULL, 10);
}

/* The string value of @key in the one-line JSON object @line (transfer full). */
static char *json_value(const char *line, const char *key) {
        g_autofree char *pattern = g_strdup_printf("\"%s\":\"", key);
        const char *p = strstr(line, pattern), *end;

        ck_assert_msg(p, "no \"%s\" in %s", key, line);
        p += strlen(pattern);
        end = strchr(p, '"');
        ck_assert_ptr_nonnull(end);
        return g_strndup(p, (size_t) (end - p));
}

START_TEST(test_interactive_agent_answers_on_the_same_connection) {
        g_autofree char *dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        g_autofree char *answer = NULL, *id = NULL, *request = NULL, *origin = NULL;
        const char *agent_argv[] = { g_getenv("TLSIDCTL"), "agent", "--json", NULL };
        Child probe, agent, fetch, again;
        long before, serial;
        char *nl;

        server = tls_server_start_nginx(certs_dir, dir,
                                        _i == 0 ? TLS_VERSION_1_2 : TLS_VERSION_1_3);
        origin = g_strdup_printf("localhost:%u", tls_server_port(server));

        /* A probe, sending no certificate, for nginx's connection serial just before. */
        ctl("open", "tab/probe", NULL, NULL);
        ctl("choose", "tab/probe", origin, "none");
        fetch_start(&probe, "tab/probe", NULL, "/connection");
        ck_assert_int_eq(child_finish(&probe), 0);
        before = connection_serial(probe.got_out->str);

        /* The agent, then the interactive fetch in an undecided context. */
        ck_assert_msg(agent_argv[0], "TLSIDCTL is not set");
        child_start(&agent, agent_argv, true);
        {
                /* Registered once it says so on stderr. */
                long long deadline = test_bus_now_ms() + RUN_TIMEOUT_MS;

                while (!strstr(agent.got_err->str, "registered")) {
                        struct pollfd p = { .fd = agent.err, .events = POLLIN };
                        char buf[512];
                        ssize_t n;

                        ck_assert_msg(test_bus_now_ms() < deadline, "the agent did not register");
                        if (poll(&p, 1, 1000) <= 0)
                                continue;
                        n = read(agent.err, buf, sizeof buf);
                        ck_assert_msg(n > 0, "the agent ended: %s", agent.got_err->str);
                        g_string_append_len(agent.got_err, buf, n);
                }
        }
        fetch_start(&fetch, CTX, "--interactive=60", "/connection");
        ck_assert_msg(child_read(&agent, "\"type\":\"request\""), "no request reached the agent");
        request = g_strdup(strstr(agent.got_out->str, "{\"type\":\"request\""));
        nl = strchr(request, '\n');
        if (nl)
                *nl = '\0';
        ck_assert_msg(strstr(request, alice_fp), "alice is not offered: %s", request);
        ck_assert_msg(strstr(request, origin), "not the server's origin: %s", request);
        id = json_value(request, "id");
        answer = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"certificate\",\"identity\":\"%s\","
                                 "\"remember\":true}\n", id, alice_fp);
        ck_assert_int_eq(write(agent.in, answer, strlen(answer)), (ssize_t) strlen(answer));

        ck_assert_msg(child_finish(&fetch) == 0, "%s failed; stdout:\n%s\nstderr:\n%s",
                      fetch.command, fetch.got_out->str, fetch.got_err->str);
        /* What nginx saw: Alice, on the connection right after the probe's. */
        ck_assert_msg(strstr(fetch.got_out->str, "dn=" DN_ALICE " "), "nginx saw: %s",
                      fetch.got_out->str);
        serial = connection_serial(fetch.got_out->str);
        ck_assert_msg(serial == before + 1, "nginx saw connection %ld, after the probe's %ld: "
                      "more than one connection was made", serial, before);
        /* What the client did: one connection, in its first handshake, not resumed. */
        ck_assert_msg(strstr(fetch.got_err->str, "tlsid-fetch: connection 1: generation=") &&
                      !strstr(fetch.got_err->str, "tlsid-fetch: connection 2:"),
                      "%s", fetch.got_err->str);
        {
                g_autofree char *sent = g_strdup_printf("identity=%s resumed=no asked=yes "
                                                        "sent=%s status=200", alice_fp,
                                                        alice_fp);

                ck_assert_msg(strstr(fetch.got_err->str, sent), "not sent as alice: %s",
                              fetch.got_err->str);
        }
        ck_assert_int_eq(child_finish(&agent), 0);

        /* Remembered: it outlives CloseContext, and the next run needs no agent. */
        ctl("close", CTX, NULL, NULL);
        fetch_start(&again, CTX, NULL, "/connection");
        ck_assert_msg(child_finish(&again) == 0, "%s failed; stdout:\n%s\nstderr:\n%s",
                      again.command, again.got_out->str, again.got_err->str);
        ck_assert_msg(strstr(again.got_out->str, "dn=" DN_ALICE " "), "nginx saw: %s",
                      again.got_out->str);

        child_clear(&probe);
        child_clear(&agent);
        child_clear(&fetch);
        child_clear(&again);
}
END_TEST

/* Without an agent --interactive answers at once, as without it: exit 3 with the list. */
START_TEST(test_interactive_without_agent_exits_3) {
        g_autofree char *dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        Child fetch;

        server = tls_server_start_nginx(certs_dir, dir,
                                        _i == 0 ? TLS_VERSION_1_2 : TLS_VERSION_1_3);
        fetch_start(&fetch, CTX, "--interactive=60", "/connection");
        ck_assert_int_eq(child_finish(&fetch), 3);
        ck_assert_msg(strstr(fetch.got_err->str, alice_fp) &&
                      strstr(fetch.got_err->str, "no agent answered"),
                      "%s", fetch.got_err->str);
        child_clear(&fetch);
}
END_TEST

static Suite *interactive_suite(void) {
        Suite *s = suite_create("interactive");
        TCase *tc = tcase_create("nginx");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_interactive_agent_answers_on_the_same_connection, 0, 2);
        tcase_add_loop_test(tc, test_interactive_without_agent_exits_3, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        return test_run_suite(interactive_suite(), CK_FORK);
}
