/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the client side of the agent interface: `tlsidctl agent` (JSON
 * lines and the terminal prompt, driven through its stdin and stdout) answering the
 * interactive SelectCertificate of a libtlsid caller
 * (tlsid_client_set_interactive_timeout()), `tlsidctl requests`, `tlsidctl monitor` and
 * the library's CertificateRequested/Ended callbacks, against tlsidd on a private bus with
 * make-certs.sh's database. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "json-check.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tlsidctl-run.h"

#define CTX "app/agent-cli"
#define LABEL "Tab seven"
#define ORIGIN "www.example.com:443"
#define INTERACTIVE_USEC (20u * 1000u * 1000u)

static void setup(void) {
        test_bus_start();
        use_nss_db("nssdb");
}

static void teardown(void) {
        test_bus_stop();
}

/* ---- The agent process ---- */

typedef struct {
        pid_t pid;
        int in;                 /* its stdin */
        int out;                /* its stdout */
        int err;                /* its stderr */
        char buf[65536];        /* what was read from out and not yet returned */
        size_t len;
        GString *all;           /* everything it printed on stdout */
} AgentProcess;

static int read_some(int fd, char *buf, size_t size, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return -ETIMEDOUT;
        n = read(fd, buf, size);
        return n < 0 ? -errno : (int) n;
}

/* Starts `tlsidctl @command @option` (@option nullable) and waits until its stderr holds
 * @ready. */
static void tlsidctl_start(AgentProcess *a, const char *command, const char *option,
                           const char *ready) {
        const char *path = getenv("TLSIDCTL");
        const char *argv[] = { "tlsidctl", command, option, NULL };
        posix_spawn_file_actions_t actions;
        int in[2], out[2], err[2];
        GString *said = g_string_new(NULL);
        char chunk[512];

        memset(a, 0, sizeof *a);
        ck_assert_msg(path && *path, "TLSIDCTL is not set");
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
        ck_assert_int_eq(posix_spawn_file_actions_init(&actions), 0);
        ck_assert_int_eq(posix_spawn_file_actions_adddup2(&actions, in[0], 0), 0);
        ck_assert_int_eq(posix_spawn_file_actions_adddup2(&actions, out[1], 1), 0);
        ck_assert_int_eq(posix_spawn_file_actions_adddup2(&actions, err[1], 2), 0);
        ck_assert_int_eq(posix_spawn(&a->pid, path, &actions, NULL, (char *const *) argv,
                                     environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        close(in[0]);
        close(out[1]);
        close(err[1]);
        a->in = in[1];
        a->out = out[0];
        a->err = err[0];
        a->all = g_string_new(NULL);
        while (!strstr(said->str, ready)) {
                int n = read_some(a->err, chunk, sizeof chunk - 1, WAIT_MS);

                ck_assert_msg(n > 0, "tlsidctl %s never said \"%s\"; it said: %s", command,
                              ready, said->str);
                g_string_append_len(said, chunk, n);
        }
        g_string_free(said, TRUE);
}

/* Starts `tlsidctl agent` (with --json when @json) and waits until it is registered. */
static void agent_start(AgentProcess *a, bool json) {
        tlsidctl_start(a, "agent", json ? "--json" : NULL, "registered");
}

static void agent_write(AgentProcess *a, const char *text) {
        size_t len = strlen(text);

        ck_assert_int_eq(write(a->in, text, len), (ssize_t) len);
}

/* Reads stdout until it holds @needle; returns everything up to the end of the line that
 * holds it, or of the needle when no newline follows yet (transfer full), and keeps the
 * rest. */
static char *agent_read_until(AgentProcess *a, const char *needle) {
        for (;;) {
                char *hit = memmem(a->buf, a->len, needle, strlen(needle));

                if (hit) {
                        char *nl = memchr(hit, '\n', a->len - (size_t) (hit - a->buf));
                        size_t used;
                        char *text;

                        /* A question ends without a newline: up to the needle then. */
                        used = nl ? (size_t) (nl - a->buf) + 1
                                  : (size_t) (hit - a->buf) + strlen(needle);
                        text = g_strndup(a->buf, used);
                        memmove(a->buf, a->buf + used, a->len - used);
                        a->len -= used;
                        return text;
                }
                int n = read_some(a->out, a->buf + a->len, sizeof a->buf - a->len, WAIT_MS);

                if (n <= 0) {
                        char err[4096];
                        int k = read_some(a->err, err, sizeof err - 1, 0);

                        err[k > 0 ? k : 0] = '\0';
                        ck_abort_msg("tlsidctl agent never printed \"%s\"; it printed: %s%.*s; "
                                     "on stderr: %s", needle, a->all->str, (int) a->len, a->buf,
                                     err);
                }
                g_string_append_len(a->all, a->buf + a->len, n);
                a->len += (size_t) n;
        }
}

/* Whether stdout holds @needle within @timeout_ms (what it read stays for
 * agent_read_until()). */
static bool agent_printed(AgentProcess *a, const char *needle, int timeout_ms) {
        long long deadline = test_bus_now_ms() + timeout_ms;

        while (!memmem(a->buf, a->len, needle, strlen(needle))) {
                long long left = deadline - test_bus_now_ms();
                int n;

                if (left <= 0 || a->len == sizeof a->buf)
                        return false;
                n = read_some(a->out, a->buf + a->len, sizeof a->buf - a->len, (int) left);
                if (n <= 0)
                        return false;
                g_string_append_len(a->all, a->buf + a->len, n);
                a->len += (size_t) n;
        }
        return true;
}

/* The next line on stdout that holds @needle (transfer full, without its newline); the
 * lines before it are dropped. */
static char *agent_line(AgentProcess *a, const char *needle) {
        char *text = agent_read_until(a, needle);
        char *start = text, *nl;

        /* Only the line of the needle. */
        for (char *p = strstr(text, needle); p > text && p[-1] != '\n'; p--)
                start = p - 1;
        if (start > text && start[-1] != '\n')
                start = text;
        nl = strchr(start, '\n');
        if (nl)
                *nl = '\0';
        start = g_strdup(start);
        g_free(text);
        return start;
}

/* Ends its input and waits for it: it must unregister and exit 0. */
static void agent_finish(AgentProcess *a) {
        int status = 0;

        close(a->in);
        ck_assert_int_eq(waitpid(a->pid, &status, 0), a->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "tlsidctl agent exited with status 0x%x", status);
        close(a->out);
        close(a->err);
        g_string_free(a->all, TRUE);
}

/* Stops it with SIGTERM: it must exit 0. */
static void tlsidctl_stop(AgentProcess *a) {
        ck_assert_int_eq(kill(a->pid, SIGTERM), 0);
        agent_finish(a);
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

/* ---- The caller: an interactive SelectCertificate in a thread ---- */

typedef struct {
        uint64_t interactive_usec;
        pthread_t thread;
        int r;
        TlsidDecision decision;
        char identity[80];
} Caller;

static void *caller_run(void *data) {
        Caller *c = data;
        TlsidClient *client = NULL;
        TlsidContext *context = NULL;
        char *identity = NULL;

        c->r = tlsid_client_new(test_bus_address(), &client);
        if (c->r >= 0)
                c->r = tlsid_client_set_timeout(client, CALL_TIMEOUT_USEC);
        if (c->r >= 0)
                c->r = tlsid_client_set_interactive_timeout(client, c->interactive_usec);
        if (c->r >= 0)
                c->r = tlsid_context_open(client, CTX, 0, LABEL, &context);
        if (c->r >= 0)
                c->r = tlsid_context_select_certificate(context, ORIGIN, NULL, NULL, 0,
                                                        &c->decision, &identity, NULL, NULL,
                                                        NULL);
        if (identity)
                snprintf(c->identity, sizeof c->identity, "%s", identity);
        free(identity);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        return NULL;
}

static void caller_start(Caller *c, uint64_t interactive_usec) {
        memset(c, 0, sizeof *c);
        c->interactive_usec = interactive_usec;
        ck_assert_int_eq(pthread_create(&c->thread, NULL, caller_run, c), 0);
}

static void caller_wait(Caller *c) {
        ck_assert_int_eq(pthread_join(c->thread, NULL), 0);
        ck_assert_msg(c->r >= 0, "SelectCertificate: %s", strerror(-c->r));
}

/* ---- JSON lines ---- */

START_TEST(test_agent_cli_json_answers_certificate) {
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *request = NULL, *id = NULL, *answer = NULL, *answered = NULL;
        AgentProcess a;
        Caller c;

        agent_start(&a, true);
        caller_start(&c, INTERACTIVE_USEC);
        request = agent_line(&a, "\"type\":\"request\"");
        ck_assert_msg(json_check(request, NULL), "not JSON: %s", request);
        ck_assert_ptr_nonnull(strstr(request, "\"origin\":\"" ORIGIN "\""));
        ck_assert_ptr_nonnull(strstr(request, "\"label\":\"" LABEL "\""));
        ck_assert_ptr_nonnull(strstr(request, "\"context\":\"" CTX "\""));
        ck_assert_ptr_nonnull(strstr(request, "\"reason\":\"handshake\""));
        ck_assert_ptr_nonnull(strstr(request, rsa));
        ck_assert_ptr_nonnull(strstr(request, "\"nickname\":\"rsa client\""));
        id = json_value(request, "id");

        answer = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"certificate\",\"identity\":\"%s\","
                                 "\"remember\":false}\n", id, rsa);
        agent_write(&a, answer);
        answered = agent_line(&a, "\"type\":\"answered\"");
        ck_assert_ptr_nonnull(strstr(answered, id));
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(c.identity, rsa);
        agent_finish(&a);
}
END_TEST

START_TEST(test_agent_cli_json_declines) {
        g_autofree char *request = NULL, *id = NULL, *answer = NULL;
        AgentProcess a;
        Caller c;

        agent_start(&a, true);
        caller_start(&c, INTERACTIVE_USEC);
        request = agent_line(&a, "\"type\":\"request\"");
        id = json_value(request, "id");
        answer = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"none\"}\n", id);
        agent_write(&a, answer);
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_NONE);
        agent_finish(&a);
}
END_TEST

/* The caller's wait ends before anyone answers: the agent is told, prints a cancel line,
 * and an answer to it now is refused naming the id. */
START_TEST(test_agent_cli_json_cancel) {
        g_autofree char *request = NULL, *id = NULL, *cancel = NULL, *late = NULL,
                        *error = NULL;
        AgentProcess a;
        Caller c;

        agent_start(&a, true);
        caller_start(&c, 1500u * 1000u);
        request = agent_line(&a, "\"type\":\"request\"");
        id = json_value(request, "id");
        cancel = agent_line(&a, "\"type\":\"cancel\"");
        ck_assert_msg(json_check(cancel, NULL), "not JSON: %s", cancel);
        ck_assert_ptr_nonnull(strstr(cancel, id));
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_ASK);

        late = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"none\"}\n", id);
        agent_write(&a, late);
        error = agent_line(&a, "\"type\":\"error\"");
        ck_assert_ptr_nonnull(strstr(error, "\"field\":\"id\""));
        agent_finish(&a);
}
END_TEST

/* Each bad line gets an error naming its field, and the agent goes on to answer. */
START_TEST(test_agent_cli_json_bad_lines) {
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *request = NULL, *id = NULL, *line = NULL;
        static const struct {
                const char *format;     /* %s: the id */
                const char *field;      /* in the error, or NULL: "field":null */
        } bad[] = {
                { "this is not JSON%.0s", NULL },
                { "{\"id\":\"%s\",\"answer\":\"certificate\"", NULL },
                { "{\"id\":\"no-such-request%.0s\",\"answer\":\"none\"}", "id" },
                { "{\"answer\":\"none\"%.0s}", "id" },
                { "{\"id\":\"%s\",\"answer\":\"maybe\"}", "answer" },
                { "{\"id\":\"%s\",\"answer\":\"certificate\"}", "identity" },
                { "{\"id\":\"%s\",\"answer\":\"certificate\",\"identity\":\"zz\"}", "identity" },
                { "{\"id\":\"%s\",\"answer\":\"none\",\"identity\":\"ab\"}", "identity" },
                { "{\"id\":\"%s\",\"answer\":\"none\",\"remember\":\"yes\"}", "remember" },
                { "{\"id\":\"%s\",\"answer\":\"none\",\"colour\":\"blue\"}", "colour" },
        };
        AgentProcess a;
        Caller c;

        agent_start(&a, true);
        caller_start(&c, INTERACTIVE_USEC);
        request = agent_line(&a, "\"type\":\"request\"");
        id = json_value(request, "id");
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *line_text = NULL, *text = NULL, *error = NULL, *field = NULL;
                g_autofree char *number = g_strdup_printf("\"line\":%zu,", i + 1);

                line_text = g_strdup_printf(bad[i].format, id);
                text = g_strconcat(line_text, "\n", NULL);
                agent_write(&a, text);
                error = agent_line(&a, "\"type\":\"error\"");
                ck_assert_msg(json_check(error, NULL), "not JSON: %s", error);
                ck_assert_msg(strstr(error, number), "%s: not about line %zu", error, i + 1);
                field = bad[i].field ? g_strdup_printf("\"field\":\"%s\"", bad[i].field)
                                     : g_strdup("\"field\":null");
                ck_assert_msg(strstr(error, field), "line %zu (%s): %s does not name %s", i + 1,
                              text, error, field);
        }
        line = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"certificate\",\"identity\":\"%s\"}\n",
                               id, rsa);
        agent_write(&a, line);
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(c.identity, rsa);
        agent_finish(&a);
}
END_TEST

/* tlsidd restarts under a running agent: the library registers it with the new daemon,
 * which asks it. (Until the agent has seen the restart, a request gets "ask" at once: it
 * is tried again.) */
START_TEST(test_agent_cli_json_registers_again_after_restart) {
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *request = NULL, *id = NULL, *answer = NULL;
        AgentProcess a;
        Caller c;

        agent_start(&a, true);
        test_bus_restart_daemon();
        for (int attempt = 0;; attempt++) {
                caller_start(&c, INTERACTIVE_USEC);
                if (agent_printed(&a, "\"type\":\"request\"", 2000))
                        break;
                caller_wait(&c);
                ck_assert_int_eq(c.decision, TLSID_DECISION_ASK);
                ck_assert_msg(attempt < 20, "the agent was not registered again");
                usleep(100 * 1000);
        }
        request = agent_line(&a, "\"type\":\"request\"");
        id = json_value(request, "id");
        answer = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"certificate\",\"identity\":\"%s\"}\n",
                                 id, rsa);
        agent_write(&a, answer);
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(c.identity, rsa);
        agent_finish(&a);
}
END_TEST

/* ---- The terminal prompt ---- */

START_TEST(test_agent_cli_terminal_answers) {
        g_autofree char *rsa = fingerprint("rsa"), *ec = fingerprint("ec256");
        g_autofree char *shown = NULL, *sent = NULL;
        const char *number;
        AgentProcess a;
        Caller c;

        agent_start(&a, false);
        caller_start(&c, INTERACTIVE_USEC);
        shown = agent_read_until(&a, "Send which certificate? [1-2");
        ck_assert_msg(strstr(shown, ORIGIN) && strstr(shown, "Tab: " LABEL) &&
                      strstr(shown, "subject: ") && strstr(shown, "CN=rsa client") &&
                      strstr(shown, "issuer:  ") &&
                      strstr(shown, "CN=tlsid Test Intermediate CA") &&
                      strstr(shown, "valid:   ") && strstr(shown, "1) ") &&
                      strstr(shown, "2) "), "the prompt lacks a detail:\n%s", shown);
        /* Choose the EC certificate by its number, whichever it is. */
        number = strstr(shown, "1) ec256 client") ? "1\n" : "2\n";
        ck_assert_msg(strstr(shown, "1) ec256 client") || strstr(shown, "2) ec256 client"),
                      "no numbered ec256 client in:\n%s", shown);
        agent_write(&a, "7\n");
        g_free(agent_read_until(&a, "Not an answer: 7"));
        agent_write(&a, number);
        g_free(agent_read_until(&a, "Remember this decision"));
        agent_write(&a, "n\n");
        sent = agent_line(&a, "Sending certificate");
        ck_assert_ptr_nonnull(strstr(sent, ORIGIN));
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(c.identity, ec);
        ck_assert_str_ne(c.identity, rsa);
        agent_finish(&a);
}
END_TEST

START_TEST(test_agent_cli_terminal_withdrawn) {
        g_autofree char *closed = NULL;
        AgentProcess a;
        Caller c;

        agent_start(&a, false);
        caller_start(&c, 1500u * 1000u);
        g_free(agent_read_until(&a, "Send which certificate?"));
        closed = agent_line(&a, "was withdrawn");
        ck_assert_ptr_nonnull(strstr(closed, ORIGIN));
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_ASK);
        agent_finish(&a);
}
END_TEST

/* ---- Seeing what waits: ListRequests and the signals ---- */

typedef struct {
        int requested, ended;
        char id[256], origin[300], label[300], reason[32], outcome[32];
        uint32_t eligible_total;
} Seen;

static void on_requested(const char *id, const char *context, const char *origin,
                         const char *label, const char *reason, uint32_t eligible_total,
                         void *userdata) {
        Seen *s = userdata;

        s->requested++;
        snprintf(s->id, sizeof s->id, "%s", id);
        snprintf(s->origin, sizeof s->origin, "%s", origin);
        snprintf(s->label, sizeof s->label, "%s", label);
        snprintf(s->reason, sizeof s->reason, "%s", reason);
        s->eligible_total = eligible_total;
}

static void on_ended(const char *id, const char *outcome, void *userdata) {
        Seen *s = userdata;

        s->ended++;
        snprintf(s->outcome, sizeof s->outcome, "%s", outcome);
}

START_TEST(test_agent_cli_requests_listed_and_signalled) {
        g_autofree char *request = NULL, *id = NULL, *answer = NULL, *table = NULL,
                        *json = NULL, *began = NULL, *ended = NULL;
        TlsidClient *watcher = client_new();
        AgentProcess monitor;
        TlsidRequestInfo *infos = NULL;
        size_t n = 0;
        Seen seen = { 0 };
        AgentProcess a;
        Caller c;

        ASSERT_OK(tlsid_client_on_certificate_requested(watcher, on_requested, &seen));
        ASSERT_OK(tlsid_client_on_certificate_request_ended(watcher, on_ended, &seen));
        ASSERT_OK(tlsid_client_list_requests(watcher, &infos, &n));
        ck_assert_uint_eq(n, 0);
        tlsid_request_infos_free(infos, n);

        tlsidctl_start(&monitor, "monitor", "--json", "Monitoring");
        agent_start(&a, true);
        caller_start(&c, INTERACTIVE_USEC);
        request = agent_line(&a, "\"type\":\"request\"");
        id = json_value(request, "id");
        ck_assert(dispatch_until(watcher, &seen.requested, 1));
        ck_assert_str_eq(seen.id, id);
        ck_assert_str_eq(seen.origin, ORIGIN);
        ck_assert_str_eq(seen.label, LABEL);
        ck_assert_str_eq(seen.reason, "handshake");
        ck_assert_uint_eq(seen.eligible_total, 2);

        ASSERT_OK(tlsid_client_list_requests(watcher, &infos, &n));
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(infos[0].id, id);
        ck_assert_str_eq(infos[0].context, CTX);
        ck_assert_str_eq(infos[0].label, LABEL);
        ck_assert_str_eq(infos[0].origin, ORIGIN);
        ck_assert_str_eq(infos[0].reason, "handshake");
        ck_assert_uint_eq(infos[0].waiters, 1);
        ck_assert_str_ne(infos[0].agent, "");
        ck_assert_int_gt(infos[0].since, 0);
        tlsid_request_infos_free(infos, n);

        table = tlsidctl_run((const char *[]) { "--bus-address", test_bus_address(), "requests",
                                                NULL });
        ck_assert_msg(strstr(table, id) && strstr(table, ORIGIN) && strstr(table, LABEL),
                      "tlsidctl requests: %s", table);
        json = tlsidctl_run((const char *[]) { "--bus-address", test_bus_address(), "requests",
                                               "--json", NULL });
        ck_assert_msg(json_check(json, NULL), "not JSON: %s", json);
        ck_assert_ptr_nonnull(strstr(json, "\"waiters\":1"));

        answer = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"none\"}\n", id);
        agent_write(&a, answer);
        caller_wait(&c);
        ck_assert(dispatch_until(watcher, &seen.ended, 1));
        ck_assert_str_eq(seen.outcome, "none");
        agent_finish(&a);

        /* tlsidctl monitor saw both. */
        began = agent_line(&monitor, "\"signal\":\"CertificateRequested\"");
        ck_assert_msg(json_check(began, NULL), "not JSON: %s", began);
        ck_assert_msg(strstr(began, id) && strstr(began, "\"origin\":\"" ORIGIN "\"") &&
                      strstr(began, "\"label\":\"" LABEL "\"") &&
                      strstr(began, "\"eligible_total\":2"), "monitor: %s", began);
        ended = agent_line(&monitor, "\"signal\":\"CertificateRequestEnded\"");
        ck_assert_msg(strstr(ended, id) && strstr(ended, "\"outcome\":\"none\""),
                      "monitor: %s", ended);
        tlsidctl_stop(&monitor);
        tlsid_client_unref(watcher);
}
END_TEST

/* Anyone on the bus can call the agent's object: only tlsidd's calls are served. A
 * stranger's RequestChoice or Cancel is refused, and the real request is still answered. */
START_TEST(test_agent_cli_only_the_daemon_may_call_the_agent) {
        g_autofree char *request = NULL, *id = NULL, *answer = NULL, *agent_name = NULL;
        TlsidClient *watcher = client_new();
        DBusConnection *stranger = test_bus_connect();
        TlsidRequestInfo *infos = NULL;
        size_t n = 0;
        AgentProcess a;
        Caller c;

        agent_start(&a, true);
        caller_start(&c, INTERACTIVE_USEC);
        request = agent_line(&a, "\"type\":\"request\"");
        id = json_value(request, "id");
        ASSERT_OK(tlsid_client_list_requests(watcher, &infos, &n));
        ck_assert_uint_eq(n, 1);
        agent_name = g_strdup(infos[0].agent);
        tlsid_request_infos_free(infos, n);

        for (int k = 0; k < 2; k++) {
                DBusMessage *m = dbus_message_new_method_call(agent_name,
                                                              "/org/tlsid/libtlsid/Agent1",
                                                              "org.tlsid.Agent1",
                                                              k == 0 ? "RequestChoice"
                                                                     : "Cancel");
                DBusMessageIter it, dict;
                DBusError error = DBUS_ERROR_INIT;
                DBusMessage *reply;
                const char *fake = k == 0 ? "forged" : id;

                ck_assert_ptr_nonnull(m);
                dbus_message_iter_init_append(m, &it);
                ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &fake));
                if (k == 0) {
                        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY,
                                                                   "{sv}", &dict));
                        ck_assert(dbus_message_iter_close_container(&it, &dict));
                }
                reply = dbus_connection_send_with_reply_and_block(stranger, m, 10000, &error);
                dbus_message_unref(m);
                ck_assert_msg(!reply, "a stranger's %s was served",
                              k == 0 ? "RequestChoice" : "Cancel");
                ck_assert_str_eq(error.name, DBUS_ERROR_ACCESS_DENIED);
                dbus_error_free(&error);
        }
        /* Neither reached the agent: no forged request, no cancel of the real one. */
        answer = g_strdup_printf("{\"id\":\"%s\",\"answer\":\"none\"}\n", id);
        agent_write(&a, answer);
        g_free(agent_line(&a, "\"type\":\"answered\""));
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_NONE);
        ck_assert_ptr_null(strstr(a.all->str, "forged"));
        ck_assert_ptr_null(strstr(a.all->str, "\"type\":\"cancel\""));
        agent_finish(&a);
        test_bus_disconnect(stranger);
        tlsid_client_unref(watcher);
}
END_TEST

/* ---- The library's agent calls, directly ---- */

typedef struct {
        int requests, cancels;
        char id[256];
        char identity[80];
} LibAgent;

static void lib_on_request(TlsidClient *client, const TlsidAgentRequest *q, void *userdata) {
        LibAgent *agent = userdata;

        agent->requests++;
        snprintf(agent->id, sizeof agent->id, "%s", q->id);
        if (q->n_certificates > 0)
                snprintf(agent->identity, sizeof agent->identity, "%s",
                         q->certificates[q->n_certificates - 1].identity);
}

static void lib_on_cancel(TlsidClient *client, const char *id, void *userdata) {
        ((LibAgent *) userdata)->cancels++;
}

START_TEST(test_agent_cli_library_agent_arguments) {
        TlsidClient *client = client_new();
        LibAgent agent = { 0 };
        Caller c;

        ck_assert_int_eq(tlsid_client_set_interactive_timeout(client, 600000001), -EINVAL);
        ck_assert_ptr_nonnull(strstr(tlsid_error_message(), "interactive timeout"));
        ASSERT_OK(tlsid_client_set_interactive_timeout(client, 600000000));
        ASSERT_OK(tlsid_client_set_interactive_timeout(client, 0));
        ck_assert_int_eq(tlsid_client_register_agent(client, NULL, NULL, NULL), -EINVAL);
        ck_assert_int_eq(tlsid_client_unregister_agent(client), -ENOENT);
        ck_assert_int_eq(tlsid_client_answer_request(client, "x", TLSID_AGENT_NONE, NULL, 0),
                         -ENOENT);

        ASSERT_OK(tlsid_client_register_agent(client, lib_on_request, lib_on_cancel, &agent));
        ck_assert_int_eq(tlsid_client_register_agent(client, lib_on_request, NULL, NULL),
                         -EBUSY);
        caller_start(&c, INTERACTIVE_USEC);
        ck_assert(dispatch_until(client, &agent.requests, 1));
        ck_assert_int_eq(tlsid_client_answer_request(client, agent.id, TLSID_AGENT_CERTIFICATE,
                                                     NULL, 0), -EINVAL);
        ck_assert_int_eq(tlsid_client_answer_request(client, agent.id, TLSID_AGENT_NONE,
                                                     agent.identity, 0), -EINVAL);
        ck_assert_int_eq(tlsid_client_answer_request(client, agent.id, TLSID_AGENT_NONE, NULL,
                                                     1u << 5), -EINVAL);
        ASSERT_OK(tlsid_client_answer_request(client, agent.id, TLSID_AGENT_CERTIFICATE,
                                              agent.identity, TLSID_CHOICE_REMEMBER));
        ck_assert_int_eq(tlsid_client_answer_request(client, agent.id, TLSID_AGENT_NONE, NULL,
                                                     0), -ENOENT);
        caller_wait(&c);
        ck_assert_int_eq(c.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(c.identity, agent.identity);
        ASSERT_OK(tlsid_client_unregister_agent(client));
        ck_assert_int_eq(agent.cancels, 0);
        tlsid_client_unref(client);
}
END_TEST

static Suite *agent_cli_suite(void) {
        Suite *s = suite_create("agent-cli");
        TCase *tc = tcase_create("agent-cli");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_agent_cli_json_answers_certificate);
        tcase_add_test(tc, test_agent_cli_json_declines);
        tcase_add_test(tc, test_agent_cli_json_cancel);
        tcase_add_test(tc, test_agent_cli_json_bad_lines);
        tcase_add_test(tc, test_agent_cli_json_registers_again_after_restart);
        tcase_add_test(tc, test_agent_cli_terminal_answers);
        tcase_add_test(tc, test_agent_cli_terminal_withdrawn);
        tcase_add_test(tc, test_agent_cli_requests_listed_and_signalled);
        tcase_add_test(tc, test_agent_cli_only_the_daemon_may_call_the_agent);
        tcase_add_test(tc, test_agent_cli_library_agent_arguments);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        certs_make(NULL);
        status = test_run_suite(agent_cli_suite(), CK_FORK);
        certs_remove();
        return status;
}
