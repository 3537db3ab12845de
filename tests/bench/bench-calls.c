/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The benchmarks' calls to tlsidd. */
#include "bench-calls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raw-bus.h"
#include "test-bus.h"

atomic_int bench_failures;

void bench_failure(const char *fmt, ...) {
        va_list ap;

        /* Only the first few: one broken call per iteration would flood the output. */
        if (atomic_fetch_add(&bench_failures, 1) >= 10)
                return;
        fprintf(stderr, "bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

uint64_t bench_now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

DBusMessage *bench_method(const char *name) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      TEST_BUS_INTERFACE, name);

        if (!m) {
                fprintf(stderr, "bench: out of memory\n");
                exit(1);
        }
        return m;
}

DBusMessage *bench_put_message(const char *context, const char *origin, dbus_uint32_t gen,
                               const unsigned char *token, size_t len) {
        DBusMessage *m = bench_method("PutSession");
        const char *identity = "", *key = "tls_version";
        dbus_int64_t expires = (dbus_int64_t) time(NULL) + 3600;
        dbus_uint16_t version = 0x0304;
        DBusMessageIter it, array, entry, variant;

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32, &gen,
                                 DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &token, (int) len,
                                 DBUS_TYPE_INT64, &expires, DBUS_TYPE_INVALID);
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &array);
        dbus_message_iter_open_container(&array, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key);
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "q", &variant);
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT16, &version);
        dbus_message_iter_close_container(&entry, &variant);
        dbus_message_iter_close_container(&array, &entry);
        dbus_message_iter_close_container(&it, &array);
        return m;
}

DBusMessage *bench_take_message(const char *context, const char *origin, dbus_uint32_t gen) {
        DBusMessage *m = bench_method("TakeSession");
        const char *identity = "";

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32, &gen,
                                 DBUS_TYPE_INVALID);
        return m;
}

DBusMessage *bench_echo_message(const unsigned char *data, size_t len) {
        DBusMessage *m = dbus_message_new_method_call(BENCH_ECHO_NAME, BENCH_ECHO_PATH,
                                                      BENCH_ECHO_INTERFACE, "Echo");

        dbus_message_append_args(m, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &data, (int) len,
                                 DBUS_TYPE_INVALID);
        return m;
}

DBusMessage *bench_round_trip(DBusConnection *conn, DBusMessage *m, uint64_t *ret_ns) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply;
        uint64_t start;
        char name[32];

        snprintf(name, sizeof(name), "%s", dbus_message_get_member(m));
        start = bench_now_ns();
        reply = dbus_connection_send_with_reply_and_block(conn, m, BENCH_CALL_TIMEOUT_MS,
                                                          &error);
        if (ret_ns)
                *ret_ns = bench_now_ns() - start;
        dbus_message_unref(m);
        if (!reply) {
                bench_failure("%s: %s: %s", name, error.name, error.message);
                dbus_error_free(&error);
        }
        return reply;
}

void bench_call_or_die(DBusConnection *conn, DBusMessage *m) {
        DBusMessage *reply = bench_round_trip(conn, m, NULL);

        if (!reply)
                exit(1);
        dbus_message_unref(reply);
}

void bench_open_context(DBusConnection *conn, const char *context) {
        DBusMessage *m = bench_method("OpenContext");
        DBusMessageIter it, array;

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_INVALID);
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &array);
        dbus_message_iter_close_container(&it, &array);
        bench_call_or_die(conn, m);
}

dbus_uint32_t bench_generation_of(DBusConnection *conn, const char *context,
                                  const char *origin) {
        DBusMessage *m = bench_method("GetPartition"), *reply;
        const char *state, *identity, *peer_id;
        dbus_uint32_t gen = 0;

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_INVALID);
        reply = bench_round_trip(conn, m, NULL);
        if (!reply || !dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state,
                                             DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32, &gen,
                                             DBUS_TYPE_STRING, &peer_id, DBUS_TYPE_INVALID))
                exit(1);
        dbus_message_unref(reply);
        return gen;
}

uint64_t bench_statistic(DBusConnection *conn, const char *key) {
        DBusMessage *reply = bench_round_trip(conn, bench_method("GetStatistics"), NULL);
        uint64_t value = 0;

        if (!reply)
                exit(1);
        raw_bus_statistic(reply, key, &value);
        dbus_message_unref(reply);
        return value;
}

long bench_vm_rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

char *bench_direct_address(DBusConnection *conn) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      DBUS_INTERFACE_PROPERTIES, "Get");
        const char *interface = TEST_BUS_INTERFACE, *name = "DirectAddress", *address = "";
        DBusMessageIter it, variant;
        DBusMessage *reply;
        char *copy;

        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING,
                                            &name, DBUS_TYPE_INVALID)) {
                fprintf(stderr, "bench: out of memory\n");
                exit(1);
        }
        reply = bench_round_trip(conn, m, NULL);
        if (reply && dbus_message_iter_init(reply, &it) &&
            dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
                dbus_message_iter_recurse(&it, &variant);
                if (dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_STRING)
                        dbus_message_iter_get_basic(&variant, &address);
        }
        copy = strdup(address);
        if (reply)
                dbus_message_unref(reply);
        return copy;
}

/* --- the echo service --- */

static const char *echo_service_path(const char *argv0) {
        static char path[PATH_MAX];
        const char *env = getenv("BENCH_ECHO_SERVICE");
        const char *slash;

        if (env && *env)
                return env;
        slash = strrchr(argv0, '/');
        snprintf(path, sizeof(path), "%.*secho-service", slash ? (int) (slash - argv0 + 1) : 0,
                 argv0);
        return path;
}

/* Starts echo-service with @arg (nullable) and waits for its "ready" line; with
 * @ret_rest, what follows "ready " on it (transfer full). */
static pid_t start_echo(const char *argv0, const char *arg, char **ret_rest) {
        const char *path = echo_service_path(argv0);
        int fds[2];
        char buf[1024];
        size_t len = 0;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0) {
                perror("bench: pipe");
                exit(1);
        }
        pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(fds[1], STDOUT_FILENO);
                execl(path, "echo-service", arg, (char *) NULL);
                fprintf(stderr, "bench: exec %s: %s\n", path, strerror(errno));
                _exit(127);
        }
        close(fds[1]);
        /* It says "ready" once it owns its name or listens. */
        while (len < sizeof(buf) - 1) {
                struct pollfd p = { .fd = fds[0], .events = POLLIN };
                ssize_t n;
                char *line, *end;

                if (poll(&p, 1, BENCH_CALL_TIMEOUT_MS) <= 0)
                        break;
                n = read(fds[0], buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
                buf[len] = 0;
                line = strstr(buf, "ready");
                if (line && (end = strchr(line, '\n'))) {
                        close(fds[0]);
                        if (ret_rest) {
                                line += strlen("ready");
                                line += *line == ' ';
                                *ret_rest = strndup(line, (size_t) (end - line));
                        }
                        return pid;
                }
        }
        fprintf(stderr, "bench: echo-service did not start\n");
        exit(1);
}

pid_t bench_start_echo_service(const char *argv0) {
        return start_echo(argv0, NULL, NULL);
}

pid_t bench_start_peer_echo_service(const char *argv0, char **ret_address) {
        return start_echo(argv0, "--peer", ret_address);
}

int bench_finish(DBusConnection *conn, pid_t echo) {
        test_bus_disconnect(conn);
        if (echo > 0) {
                kill(echo, SIGTERM);
                waitpid(echo, NULL, 0);
        }
        test_bus_stop();
        if (atomic_load(&bench_failures) > 0) {
                fprintf(stderr, "bench: %d calls failed\n", atomic_load(&bench_failures));
                return 1;
        }
        return 0;
}
