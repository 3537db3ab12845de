/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: every tlsidctl command against tlsidd on a private bus. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <tlsid/tlsid.h>

#include "check-main.h"
#include "json-check.h"
#include "test-bus.h"

#define RUN_TIMEOUT_MS 30000

#define ORIGIN "example.com:443"
#define ORIGIN2 "[2001:db8::1]:8443"
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP_B_COLONS "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:" \
                    "01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef"

/* --- running tlsidctl --- */

typedef struct {
        pid_t pid;
        int out_fd, err_fd;
        char *out, *err;
        size_t out_len, err_len;
        int status;
} Proc;

static const char *tlsidctl_path(void) {
        const char *path = getenv("TLSIDCTL");

        ck_assert_msg(path && *path, "TLSIDCTL is not set");
        return path;
}

static void append(char **buf, size_t *len, const char *data, size_t n) {
        *buf = realloc(*buf, *len + n + 1);
        ck_assert_ptr_nonnull(*buf);
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = 0;
}

static Proc *proc_spawn(const char *const *args) {
        Proc *p = calloc(1, sizeof(*p));
        int out[2], err[2];
        const char *argv[32];
        size_t n = 0;

        argv[n++] = "tlsidctl";
        for (; args[n - 1]; n++) {
                ck_assert_uint_lt(n, 31);
                argv[n] = args[n - 1];
        }
        argv[n] = NULL;
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
        p->pid = fork();
        ck_assert_int_ge(p->pid, 0);
        if (p->pid == 0) {
                dup2(out[1], STDOUT_FILENO);
                dup2(err[1], STDERR_FILENO);
                execv(tlsidctl_path(), (char *const *) argv);
                fprintf(stderr, "exec %s: %s\n", tlsidctl_path(), strerror(errno));
                _exit(127);
        }
        close(out[1]);
        close(err[1]);
        p->out_fd = out[0];
        p->err_fd = err[0];
        append(&p->out, &p->out_len, "", 0);
        append(&p->err, &p->err_len, "", 0);
        return p;
}

/* Reads what is available on either pipe, waiting at most until @deadline. Returns false
 * when both pipes are closed. */
static bool proc_read(Proc *p, long long deadline) {
        struct pollfd fds[2] = {
                { .fd = p->out_fd, .events = POLLIN },
                { .fd = p->err_fd, .events = POLLIN },
        };
        long long left = deadline - test_bus_now_ms();
        char buf[4096];
        int r;

        if (p->out_fd < 0 && p->err_fd < 0)
                return false;
        ck_assert_msg(left > 0, "tlsidctl timed out; stdout: %s; stderr: %s", p->out, p->err);
        r = poll(fds, 2, (int) left);
        if (r < 0 && errno == EINTR)
                return true;
        ck_assert_int_ge(r, 0);
        for (int i = 0; i < 2; i++) {
                int *fd = i == 0 ? &p->out_fd : &p->err_fd;
                ssize_t n;

                if (*fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                n = read(*fd, buf, sizeof(buf));
                if (n > 0) {
                        if (i == 0)
                                append(&p->out, &p->out_len, buf, (size_t) n);
                        else
                                append(&p->err, &p->err_len, buf, (size_t) n);
                } else if (n == 0 || errno != EINTR) {
                        close(*fd);
                        *fd = -1;
                }
        }
        return true;
}

/* Reads until @needle shows up on stdout (or stderr); false on timeout or EOF. */
static bool proc_wait_for(Proc *p, bool on_stderr, const char *needle, int timeout_ms) {
        long long deadline = test_bus_now_ms() + timeout_ms;

        for (;;) {
                if (strstr(on_stderr ? p->err : p->out, needle))
                        return true;
                if (test_bus_now_ms() >= deadline || !proc_read(p, deadline))
                        return false;
        }
}

/* Reads to EOF and returns the exit code (-1 when killed by a signal). */
static int proc_finish(Proc *p) {
        long long deadline = test_bus_now_ms() + RUN_TIMEOUT_MS;

        while (proc_read(p, deadline))
                ;
        ck_assert_int_eq(waitpid(p->pid, &p->status, 0), p->pid);
        return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

static void proc_free(Proc *p) {
        if (p->out_fd >= 0)
                close(p->out_fd);
        if (p->err_fd >= 0)
                close(p->err_fd);
        free(p->out);
        free(p->err);
        free(p);
}

/* Output of the last run(). */
static char *out, *err;

/* Runs tlsidctl with the NULL-terminated arguments and returns its exit code; its
 * output stays in out and err until the next run. */
static int run(const char *first, ...) {
        const char *args[32];
        size_t n = 0;
        va_list ap;
        Proc *p;
        int code;

        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *)) {
                ck_assert_uint_lt(n, 31);
                args[n++] = a;
        }
        va_end(ap);
        args[n] = NULL;
        p = proc_spawn(args);
        code = proc_finish(p);
        free(out);
        free(err);
        out = strdup(p->out);
        err = strdup(p->err);
        proc_free(p);
        return code;
}

#define assert_run(code, ...)                                                           \
        do {                                                                            \
                int _c = run(__VA_ARGS__, (const char *) NULL);                         \
                ck_assert_msg(_c == (code), "exit %d, expected %d; stdout: %s; stderr: %s", \
                              _c, (code), out, err);                                    \
        } while (0)

#define assert_out_has(s) ck_assert_msg(strstr(out, (s)), "stdout lacks \"%s\": %s", (s), out)
#define assert_err_has(s) ck_assert_msg(strstr(err, (s)), "stderr lacks \"%s\": %s", (s), err)

static void assert_json(void) {
        long offset = -1;

        ck_assert_msg(json_check(out, &offset), "invalid JSON at byte %ld: %s", offset, out);
}

/* A failure is one line on stderr, naming the program. */
static void assert_one_line_error(void) {
        ck_assert_msg(strncmp(err, "tlsidctl: ", 10) == 0, "stderr: %s", err);
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
}

/* --- fixture: a daemon holding some state, set up through libtlsid --- */

static TlsidClient *client;

static void setup(void) {
        test_bus_start();
        ck_assert_int_eq(tlsid_client_new(test_bus_address(), &client), 0);
        tlsid_client_set_timeout(client, 20u * 1000u * 1000u);
}

static void teardown(void) {
        client = tlsid_client_unref(client);
        free(out);
        free(err);
        out = err = NULL;
        test_bus_stop();
}

static TlsidContext *open_context(const char *name, unsigned flags, const char *label) {
        TlsidContext *context = NULL;

        ck_assert_msg(tlsid_context_open(client, name, flags, label, &context) == 0, "open: %s",
                      tlsid_error_message());
        return context;
}

static void put(TlsidContext *context, const char *origin, const char *token) {
        uint32_t gen = 0;

        ck_assert_int_eq(tlsid_context_get_partition(context, origin, NULL, NULL, &gen, NULL), 0);
        ck_assert_int_eq(tlsid_context_put_session(context, origin, "", gen, token, strlen(token),
                                                   (int64_t) time(NULL) + 3600, 0x0304, NULL), 0);
}

static TlsidStatistics statistics(void) {
        TlsidStatistics s;

        ck_assert_int_eq(tlsid_client_get_statistics(client, &s), 0);
        return s;
}

static TlsidChoice choice_of(TlsidContext *context, const char *origin, char **ret_identity) {
        TlsidChoice state = TLSID_CHOICE_UNDECIDED;

        ck_assert_int_eq(tlsid_context_get_partition(context, origin, &state, ret_identity, NULL,
                                                     NULL), 0);
        return state;
}

/* --- tests --- */

START_TEST(test_tlsidctl_status) {
        TlsidContext *c = open_context("app/one", 0, NULL);

        put(c, ORIGIN, "abcdef");
        assert_run(0, "status");
        assert_out_has("Daemon:       :");
        assert_out_has("Contexts:     1\n");
        assert_out_has("Tokens:       1\n");
        assert_out_has("Bytes:        6\n");
        assert_out_has("Uptime:");

        assert_run(0, "--json", "status");
        assert_json();
        assert_out_has("\"daemon\":\":");
        assert_out_has("\"contexts\":1");
        assert_out_has("\"tokens\":1");
        assert_out_has("\"bytes\":6");
        assert_out_has("\"stale_puts\":0");

        /* The same through --bus-address instead of the environment. */
        assert_run(0, "--bus-address", test_bus_address(), "--json", "status");
        assert_json();
        assert_out_has("\"tokens\":1");
        tlsid_context_unref(c);
}
END_TEST

START_TEST(test_tlsidctl_status_activates_the_daemon) {
        ck_assert_int_eq(test_bus_daemon_pid(), 0);
        client = tlsid_client_unref(client);
        assert_run(0, "status");
        assert_out_has("Contexts:     0\n");
        ck_assert_int_gt(test_bus_daemon_pid(), 0);
}
END_TEST

START_TEST(test_tlsidctl_contexts) {
        TlsidContext *one = open_context("app/one", 0, "Work \"quoted\" \\ label");
        TlsidContext *two = open_context("app/two", TLSID_CONTEXT_EPHEMERAL, NULL);

        put(one, ORIGIN, "tok");
        ck_assert_int_eq(tlsid_context_set_choice(one, ORIGIN2, TLSID_CHOICE_NONE, NULL, 0), 0);

        assert_run(0, "contexts");
        assert_out_has("CONTEXT");
        assert_out_has("app/one");
        assert_out_has("app/two");
        assert_out_has("Work \"quoted\" \\ label");
        ck_assert(strstr(out, "app/one") < strstr(out, "app/two"));

        assert_run(0, "--json", "contexts");
        assert_json();
        assert_out_has("\"context\":\"app/one\"");
        assert_out_has("\"label\":\"Work \\\"quoted\\\" \\\\ label\"");
        assert_out_has("\"ephemeral\":false");
        assert_out_has("\"ephemeral\":true");
        assert_out_has("\"tokens\":1");
        assert_out_has("\"choices\":1");
        ck_assert_int_eq(out[0], '[');

        /* Nothing open: an empty list is still JSON. */
        ck_assert_int_eq(tlsid_context_close(one, NULL), 0);
        ck_assert_int_eq(tlsid_context_close(two, NULL), 0);
        assert_run(0, "--json", "contexts");
        assert_json();
        ck_assert_ptr_null(strstr(out, "app/one"));
        tlsid_context_unref(one);
        tlsid_context_unref(two);
}
END_TEST

START_TEST(test_tlsidctl_open_close) {
        TlsidContext *c;

        assert_run(0, "open", "cli/tab", "--label", "From the CLI");
        /* The context outlives tlsidctl: another client sees it and its label. */
        assert_run(0, "--json", "contexts");
        assert_out_has("\"context\":\"cli/tab\"");
        assert_out_has("\"label\":\"From the CLI\"");
        assert_out_has("\"ephemeral\":false");

        c = open_context("cli/tab", 0, NULL);
        put(c, ORIGIN, "secret-token");
        assert_run(0, "close", "cli/tab");
        assert_out_has("1 token(s) dropped");
        ck_assert_ptr_null(strstr(out, "secret-token"));
        ck_assert_uint_eq(statistics().contexts, 0);

        assert_run(3, "close", "cli/tab");
        assert_one_line_error();
        assert_run(1, "open", "bad context");
        assert_one_line_error();
        assert_run(2, "open");
        assert_run(2, "close", "a/b", "extra");
        tlsid_context_unref(c);
}
END_TEST

START_TEST(test_tlsidctl_sessions) {
        TlsidContext *one = open_context("app/one", 0, NULL);
        TlsidContext *two = open_context("app/two", 0, NULL);

        put(one, ORIGIN, "12345");
        put(one, ORIGIN, "123");
        put(two, ORIGIN2, "1");
        ck_assert_int_eq(tlsid_context_set_choice(two, ORIGIN, TLSID_CHOICE_CERTIFICATE, FP_A, 0),
                         0);

        assert_run(0, "sessions");
        assert_out_has("app/one");
        assert_out_has("app/two");
        assert_out_has(ORIGIN);
        assert_out_has(ORIGIN2);
        assert_out_has(FP_A);
        /* Never the token bytes. */
        ck_assert_ptr_null(strstr(out, "12345"));

        assert_run(0, "sessions", "app/one");
        assert_out_has(ORIGIN);
        ck_assert_ptr_null(strstr(out, "app/two"));

        assert_run(0, "--json", "sessions", "app/one");
        assert_json();
        assert_out_has("\"context\":\"app/one\"");
        assert_out_has("\"origin\":\"example.com:443\"");
        assert_out_has("\"identity\":\"\"");
        assert_out_has("\"tokens\":2");
        assert_out_has("\"bytes\":8");
        ck_assert_ptr_null(strstr(out, "app/two"));

        assert_run(0, "--json", "sessions");
        assert_json();
        assert_out_has("\"identity\":\"" FP_A "\"");
        assert_out_has("\"origin\":\"[2001:db8::1]:8443\"");

        assert_run(3, "sessions", "no/such");
        assert_one_line_error();
        assert_run(1, "sessions", "bad context");
        assert_one_line_error();
        tlsid_context_unref(one);
        tlsid_context_unref(two);
}
END_TEST

START_TEST(test_tlsidctl_flush) {
        TlsidContext *one = open_context("app/one", 0, NULL);
        TlsidContext *two = open_context("app/two", 0, NULL);
        uint32_t gen_before = 0, gen_after = 0;

        put(one, ORIGIN, "a");
        put(one, ORIGIN, "b");
        put(one, ORIGIN2, "c");
        put(two, ORIGIN, "d");
        ck_assert_int_eq(tlsid_context_get_partition(one, ORIGIN, NULL, NULL, &gen_before, NULL),
                         0);

        assert_run(0, "flush", "--context", "app/one", "--origin", ORIGIN);
        assert_out_has("2 tokens dropped");
        ck_assert_int_eq(tlsid_context_get_partition(one, ORIGIN, NULL, NULL, &gen_after, NULL),
                         0);
        ck_assert_uint_gt(gen_after, gen_before);
        ck_assert_uint_eq(statistics().tokens, 2);

        assert_run(0, "flush", "--context", "app/one");
        assert_out_has("1 token dropped");
        assert_run(0, "flush");
        assert_out_has("1 token dropped");
        ck_assert_uint_eq(statistics().tokens, 0);
        ck_assert_uint_ge(statistics().flushes, 3);

        assert_run(3, "flush", "--context", "no/such");
        assert_one_line_error();
        assert_run(1, "flush", "--origin", "Example.com:443");
        assert_one_line_error();
        assert_run(2, "flush", "--context");
        assert_run(2, "flush", "--bogus");
        assert_run(2, "flush", "extra");
        tlsid_context_unref(one);
        tlsid_context_unref(two);
}
END_TEST

START_TEST(test_tlsidctl_choose) {
        TlsidContext *one = open_context("app/one", 0, NULL);
        char *identity = NULL;

        assert_run(0, "choose", "app/one", ORIGIN, FP_A);
        ck_assert_int_eq(choice_of(one, ORIGIN, &identity), TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, FP_A);
        free(identity);

        /* Colon-separated, mixed case: normalised. */
        assert_run(0, "choose", "app/one", ORIGIN, FP_B_COLONS);
        ck_assert_int_eq(choice_of(one, ORIGIN, &identity), TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, FP_B);
        free(identity);

        assert_run(0, "choose", "app/one", ORIGIN, "none");
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_NONE);
        assert_run(0, "choose", "app/one", ORIGIN, "undecided");
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);

        /* Remembered across a restart. */
        assert_run(0, "choose", "--remember", "app/one", ORIGIN2, FP_A);
        assert_run(0, "choose", "app/one", ORIGIN, "none");
        test_bus_restart_daemon();
        tlsid_context_unref(one);
        one = open_context("app/one", 0, NULL);
        ck_assert_int_eq(choice_of(one, ORIGIN2, NULL), TLSID_CHOICE_CERTIFICATE);
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);

        assert_run(3, "choose", "no/such", ORIGIN, "none");
        assert_one_line_error();
        assert_run(1, "choose", "app/one", "Example.com:443", "none");
        assert_one_line_error();
        /* Anything else may be a nickname: an unknown one is refused (test-select.c
         * covers nicknames and prefixes). */
        assert_run(1, "choose", "app/one", ORIGIN, "not-a-fingerprint");
        assert_one_line_error();
        assert_run(2, "choose", "app/one", ORIGIN);
        assert_run(2, "choose", "app/one");
        assert_run(2, "choose", "app/one", ORIGIN, "none", "extra");
        assert_run(2, "choose", "--bogus", "app/one", ORIGIN, "none");
        /* The refused ones changed nothing. */
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);
        tlsid_context_unref(one);
}
END_TEST

START_TEST(test_tlsidctl_forget) {
        TlsidContext *one = open_context("app/one", 0, NULL);
        TlsidContext *two = open_context("app/two", 0, NULL);

        ck_assert_int_eq(tlsid_context_set_choice(one, ORIGIN, TLSID_CHOICE_NONE, NULL,
                                                  TLSID_CHOICE_REMEMBER), 0);
        ck_assert_int_eq(tlsid_context_set_choice(one, ORIGIN2, TLSID_CHOICE_CERTIFICATE, FP_A,
                                                  0), 0);
        ck_assert_int_eq(tlsid_context_set_choice(two, ORIGIN, TLSID_CHOICE_NONE, NULL, 0), 0);

        assert_run(0, "forget", "--context", "app/one", "--origin", ORIGIN);
        assert_out_has("1 choice forgotten");
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);
        ck_assert_int_eq(choice_of(one, ORIGIN2, NULL), TLSID_CHOICE_CERTIFICATE);

        assert_run(0, "forget", "--origin", ORIGIN);
        assert_out_has("1 choice forgotten");
        ck_assert_int_eq(choice_of(two, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);
        assert_run(0, "forget");
        assert_out_has("1 choice forgotten");
        assert_run(0, "forget");
        assert_out_has("0 choices forgotten");

        assert_run(3, "forget", "--context", "no/such");
        assert_run(1, "forget", "--origin", "example.com");
        assert_run(2, "forget", "--origin");
        tlsid_context_unref(one);
        tlsid_context_unref(two);
}
END_TEST

START_TEST(test_tlsidctl_monitor) {
        TlsidContext *one = open_context("app/one", 0, NULL);
        const char *args[] = { "monitor", NULL };
        Proc *monitor;
        int code;

        monitor = proc_spawn(args);
        /* Printed once its match rules are in place. */
        ck_assert_msg(proc_wait_for(monitor, true, "Monitoring", RUN_TIMEOUT_MS),
                      "monitor did not start: %s", monitor->err);

        assert_run(0, "choose", "app/one", ORIGIN, FP_A);
        ck_assert_msg(proc_wait_for(monitor, false, "IdentityChanged context=app/one origin="
                                    ORIGIN " state=certificate identity=" FP_A " generation=",
                                    RUN_TIMEOUT_MS),
                      "no IdentityChanged line: %s", monitor->out);

        put(one, ORIGIN2, "x");
        assert_run(0, "flush");
        ck_assert_msg(proc_wait_for(monitor, false, "SessionsFlushed context=* origin=* dropped=1",
                                    RUN_TIMEOUT_MS),
                      "no SessionsFlushed line: %s", monitor->out);

        /* Choices made by libtlsid show up too, with "-" for no identity. */
        ck_assert_int_eq(tlsid_context_set_choice(one, ORIGIN2, TLSID_CHOICE_NONE, NULL, 0), 0);
        ck_assert_msg(proc_wait_for(monitor, false, "origin=" ORIGIN2 " state=none identity=-",
                                    RUN_TIMEOUT_MS),
                      "no IdentityChanged line for none: %s", monitor->out);

        kill(monitor->pid, SIGTERM);
        code = proc_finish(monitor);
        ck_assert_msg(code == 0, "monitor exited with %d (status 0x%x)", code, monitor->status);
        proc_free(monitor);
        tlsid_context_unref(one);
}
END_TEST

START_TEST(test_tlsidctl_usage_errors) {
        assert_run(2, "--json");
        assert_one_line_error();
        assert_run(2, "frobnicate");
        assert_one_line_error();
        assert_run(2, "--bogus", "status");
        assert_one_line_error();
        assert_run(2, "--bus-address");
        assert_run(2, "status", "extra");
        assert_run(2, "contexts", "extra");
        assert_run(2, "sessions", "a/b", "extra");
        assert_run(2, "monitor", "extra");

        assert_run(0, "help");
        assert_out_has("Usage:");
        assert_out_has("monitor");
        assert_run(0, "--help");
        assert_out_has("Exit status");
        assert_run(0, "--version");
        assert_out_has("tlsidctl ");
        /* None of these started the daemon. */
        ck_assert_int_eq(test_bus_daemon_pid(), 0);
}
END_TEST

START_TEST(test_tlsidctl_unreachable) {
        const char *bad = "unix:path=/nonexistent/bus";

        assert_run(4, "--bus-address", bad, "status");
        assert_one_line_error();
        assert_run(4, "--bus-address", bad, "--json", "contexts");
        assert_one_line_error();
        ck_assert_str_eq(out, "");
        assert_run(4, "--bus-address", bad, "sessions");
        assert_run(4, "--bus-address", bad, "flush");
        assert_run(4, "--bus-address", bad, "choose", "a/b", ORIGIN, "none");
        assert_run(4, "--bus-address", bad, "forget");
        assert_run(4, "--bus-address", bad, "monitor");
}
END_TEST

/* A daemon that fails to start: exit 4 at once, one line saying so and where to look. */
START_TEST(test_tlsidctl_daemon_fails_to_start) {
        long long start;

        test_bus_start_with_exec("/bin/false");
        start = test_bus_now_ms();
        assert_run(4, "status");
        ck_assert_int_lt(test_bus_now_ms() - start, 3000);
        assert_one_line_error();
        assert_err_has("tlsidctl: status: tlsidd failed to start (");
        assert_err_has("Spawn.ChildExited");
        assert_err_has("; see: systemctl --user status tlsid.service and "
                       "journalctl --user -u tlsid\n");
        ck_assert_str_eq(out, "");
        assert_run(4, "contexts");
        assert_err_has("tlsidd failed to start");
        free(out);
        free(err);
        out = err = NULL;
        test_bus_stop();
}
END_TEST

/* A daemon that takes longer to start than libtlsid's default call timeout (1 s), as under
 * valgrind or on a loaded machine: tlsidctl waits for it. */
START_TEST(test_tlsidctl_waits_for_a_slow_start) {
        char *exec = test_xasprintf("/bin/sh -c \"sleep 2 && exec %s\"", test_bus_tlsidd_path());

        test_bus_start_with_exec(exec);
        assert_run(0, "status");
        assert_out_has("Daemon:       :");
        free(exec);
        free(out);
        free(err);
        out = err = NULL;
        test_bus_stop();
}
END_TEST

START_TEST(test_tlsidctl_json_counts) {
        TlsidContext *one = open_context("app/one", 0, NULL);

        put(one, ORIGIN, "a");
        put(one, ORIGIN, "b");
        assert_run(0, "flush", "--json", "--context", "app/one");
        ck_assert_str_eq(out, "{\"dropped\":2}\n");
        assert_run(0, "--json", "flush");
        ck_assert_str_eq(out, "{\"dropped\":0}\n");

        ck_assert_int_eq(tlsid_context_set_choice(one, ORIGIN, TLSID_CHOICE_NONE, NULL, 0), 0);
        assert_run(0, "forget", "--json");
        ck_assert_str_eq(out, "{\"forgotten\":1}\n");
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);

        put(one, ORIGIN2, "c");
        assert_run(0, "close", "--json", "app/one");
        ck_assert_str_eq(out, "{\"dropped\":1}\n");
        assert_json();
        ck_assert_uint_eq(statistics().contexts, 0);

        /* open and choose print nothing: --json is refused, and nothing is done. */
        assert_run(2, "--json", "open", "cli/tab");
        assert_one_line_error();
        assert_err_has("open prints nothing");
        assert_run(2, "open", "--json", "cli/tab");
        ck_assert_uint_eq(statistics().contexts, 0);
        tlsid_context_unref(one);
        one = open_context("app/one", 0, NULL);
        assert_run(2, "choose", "--json", "app/one", ORIGIN, "none");
        assert_err_has("choose prints nothing");
        ck_assert_int_eq(choice_of(one, ORIGIN, NULL), TLSID_CHOICE_UNDECIDED);
        /* A table's option on a command without one. */
        assert_run(2, "status", "--no-legend");
        assert_one_line_error();
        tlsid_context_unref(one);
}
END_TEST

START_TEST(test_tlsidctl_monitor_json) {
        TlsidContext *one = open_context("app/one", 0, NULL);
        const char *args[] = { "monitor", "--json", NULL };
        Proc *monitor = proc_spawn(args);
        char *line, *saveptr = NULL;
        int code, lines = 0;

        ck_assert_msg(proc_wait_for(monitor, true, "Monitoring", RUN_TIMEOUT_MS),
                      "monitor did not start: %s", monitor->err);
        assert_run(0, "choose", "app/one", ORIGIN, FP_A);
        ck_assert_msg(proc_wait_for(monitor, false, "{\"signal\":\"IdentityChanged\","
                                    "\"context\":\"app/one\",\"origin\":\"" ORIGIN "\","
                                    "\"state\":\"certificate\",\"identity\":\"" FP_A "\","
                                    "\"generation\":", RUN_TIMEOUT_MS),
                      "no IdentityChanged object: %s", monitor->out);
        put(one, ORIGIN2, "x");
        assert_run(0, "flush");
        /* The wildcard stays "" in JSON. */
        ck_assert_msg(proc_wait_for(monitor, false, "{\"signal\":\"SessionsFlushed\","
                                    "\"context\":\"\",\"origin\":\"\",\"dropped\":1}\n",
                                    RUN_TIMEOUT_MS),
                      "no SessionsFlushed object: %s", monitor->out);
        kill(monitor->pid, SIGTERM);
        code = proc_finish(monitor);
        ck_assert_int_eq(code, 0);

        /* One complete JSON object per line, and nothing else on stdout. */
        for (line = strtok_r(monitor->out, "\n", &saveptr); line;
             line = strtok_r(NULL, "\n", &saveptr), lines++) {
                long offset = -1;

                ck_assert_msg(line[0] == '{' && json_check(line, &offset),
                              "not a JSON object (byte %ld): %s", offset, line);
        }
        ck_assert_int_ge(lines, 2);
        proc_free(monitor);
        tlsid_context_unref(one);
}
END_TEST

START_TEST(test_tlsidctl_command_help) {
        static const char *const names[] = {
                "status", "contexts", "sessions", "flush", "open", "close", "choose",
                "forget", "certs", "policy", "monitor", "help",
        };

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                char usage[128];
                char *first;

                snprintf(usage, sizeof usage, "Usage: tlsidctl [--bus-address ADDRESS] %s",
                         names[i]);
                assert_run(0, names[i], "--help");
                ck_assert_msg(strncmp(out, usage, strlen(usage)) == 0, "%s --help: %s",
                              names[i], out);
                /* That command's usage alone, not the list of every command. */
                ck_assert_msg(!strstr(out, "Commands:"), "%s --help: %s", names[i], out);
                assert_out_has("-h, --help");
                first = strdup(out);
                assert_run(0, "help", names[i]);
                ck_assert_str_eq(out, first);
                free(first);
        }
        assert_run(0, "flush", "--help");
        assert_out_has("--origin O");
        assert_out_has("--json");
        ck_assert_ptr_null(strstr(out, "--no-legend"));
        assert_run(0, "contexts", "-h");
        assert_out_has("--no-legend");
        assert_run(0, "choose", "--help");
        assert_out_has("--remember");
        ck_assert_ptr_null(strstr(out, "--json"));
        assert_run(2, "help", "frobnicate");
        assert_one_line_error();
        /* Asking for help starts nothing. */
        ck_assert_int_eq(test_bus_daemon_pid(), 0);
}
END_TEST

START_TEST(test_tlsidctl_no_legend) {
        TlsidContext *one = open_context("app/one", 0, "One");

        put(one, ORIGIN, "tok");
        assert_run(0, "contexts", "--no-legend");
        ck_assert_msg(strncmp(out, "app/one  One", 12) == 0, "stdout: %s", out);
        ck_assert_ptr_null(strstr(out, "CONTEXT"));
        ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
        assert_run(0, "--no-legend", "sessions");
        ck_assert_msg(strncmp(out, "app/one  " ORIGIN, 9 + strlen(ORIGIN)) == 0, "stdout: %s",
                      out);
        ck_assert_ptr_null(strstr(out, "GENERATION"));
        /* With the legend, the same row comes second. */
        assert_run(0, "sessions");
        ck_assert_msg(strncmp(out, "CONTEXT", 7) == 0, "stdout: %s", out);
        assert_run(0, "certs", "--no-legend");
        ck_assert_str_eq(out, "");
        tlsid_context_unref(one);
}
END_TEST

/* The columns @s takes on a terminal in the current locale. */
static int line_width(const char *s, size_t len) {
        wchar_t wide[512];
        char buf[1024];
        size_t n;

        ck_assert_uint_lt(len, sizeof buf);
        memcpy(buf, s, len);
        buf[len] = 0;
        n = mbstowcs(wide, buf, 512);
        ck_assert_msg(n != (size_t) -1, "not in the locale's encoding: %s", buf);
        return wcswidth(wide, n);
}

START_TEST(test_tlsidctl_wide_labels_align) {
        TlsidContext *one = open_context("app/one", 0, "\u65e5\u672c\u8a9e\u306e\u30e9\u30d9\u30eb");
        TlsidContext *two = open_context("app/two", 0, "plain");
        TlsidContext *three = open_context("app/three", 0, "caf\u00e9");
        const char *line;
        int width = -1, rows = 0;

        /* tlsidctl takes the character set from the environment, as the test does. */
        setenv("LC_ALL", "C.UTF-8", 1);
        ck_assert_ptr_nonnull(setlocale(LC_ALL, ""));
        put(one, ORIGIN, "tok");
        assert_run(0, "contexts");
        /* The last column is right-aligned: every line ends at the same terminal column
         * when cells are padded by display width (the label takes 14 columns in 7
         * characters). */
        for (line = out; *line; rows++) {
                size_t len = strcspn(line, "\n");
                int w = line_width(line, len);

                if (width < 0)
                        width = w;
                ck_assert_msg(w == width, "line %d is %d columns, the header %d:\n%s", rows, w,
                              width, out);
                line += len + (line[len] == '\n');
        }
        ck_assert_int_eq(rows, 4);
        tlsid_context_unref(one);
        tlsid_context_unref(two);
        tlsid_context_unref(three);
}
END_TEST

static Suite *tlsidctl_suite(void) {
        Suite *s = suite_create("tlsidctl");
        TCase *tc = tcase_create("tlsidctl");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_tlsidctl_status);
        tcase_add_test(tc, test_tlsidctl_status_activates_the_daemon);
        tcase_add_test(tc, test_tlsidctl_contexts);
        tcase_add_test(tc, test_tlsidctl_open_close);
        tcase_add_test(tc, test_tlsidctl_sessions);
        tcase_add_test(tc, test_tlsidctl_flush);
        tcase_add_test(tc, test_tlsidctl_choose);
        tcase_add_test(tc, test_tlsidctl_forget);
        tcase_add_test(tc, test_tlsidctl_monitor);
        tcase_add_test(tc, test_tlsidctl_usage_errors);
        tcase_add_test(tc, test_tlsidctl_unreachable);
        tcase_add_test(tc, test_tlsidctl_json_counts);
        tcase_add_test(tc, test_tlsidctl_monitor_json);
        tcase_add_test(tc, test_tlsidctl_command_help);
        tcase_add_test(tc, test_tlsidctl_no_legend);
        tcase_add_test(tc, test_tlsidctl_wide_labels_align);
        suite_add_tcase(s, tc);

        /* On a bus of its own whose activation file fails. */
        tc = tcase_create("activation");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_tlsidctl_daemon_fails_to_start);
        tcase_add_test(tc, test_tlsidctl_waits_for_a_slow_start);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(tlsidctl_suite(), CK_FORK);
}
