/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: the system calls tlsidd makes per TakeSession next to a bare libdbus echo.
 *
 * On one private bus it runs tlsidd and echo-service, stores one token for each call to
 * come, then attaches `strace -f -c` to both processes and makes N TakeSession calls
 * (each takes a token) interleaved with N Echo calls of the same size. It prints each
 * process's system calls per call, their ratio, and tlsidd's count per system call, so
 * that a system call the daemon makes and the echo does not shows by name.
 * Counting only: the exit status is non-zero when a call fails or strace cannot attach
 * (it says so and exits 77, skipped, when strace is missing or ptrace is not allowed).
 *
 * Usage: bench-syscalls [--iterations N] [--payload BYTES]
 * Environment: BENCH_ECHO_SERVICE, the path of echo-service (default: next to this
 * program). */
#include <dbus/dbus.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-calls.h"
#include "test-bus.h"

#define SKIP 77
#define TOKENS_PER_PARTITION 4 /* the daemon's default cap */
#define ATTACH_TIMEOUT_MS 10000

static int iterations = 1000;
static size_t payload_size = 512;

/* --- strace --- */

/* Whether every thread of @pid is traced by @tracer. */
static bool all_threads_traced(pid_t pid, pid_t tracer) {
        char path[320], line[128];
        struct dirent *d;
        DIR *dir;
        bool all = true;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        dir = opendir(path);
        if (!dir)
                return false;
        while (all && (d = readdir(dir))) {
                FILE *f;
                bool traced = false;

                if (d->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int) pid, d->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue; /* the thread is gone */
                while (fgets(line, sizeof(line), f))
                        if (strncmp(line, "TracerPid:", 10) == 0)
                                traced = atoi(line + 10) == (int) tracer;
                fclose(f);
                all = traced;
                n++;
        }
        closedir(dir);
        return all && n > 0;
}

/* Starts `strace -f -c -o @out -p @pid` and waits until it traces every thread; 0 when
 * it cannot (strace missing, ptrace refused). */
static pid_t start_strace(pid_t pid, const char *out) {
        char pid_text[16];
        long long deadline = test_bus_now_ms() + ATTACH_TIMEOUT_MS;
        pid_t tracer;

        snprintf(pid_text, sizeof(pid_text), "%d", (int) pid);
        tracer = fork();
        if (tracer == 0) {
                execlp("strace", "strace", "-qq", "-f", "-c", "-o", out, "-p", pid_text,
                       (char *) NULL);
                _exit(127);
        }
        while (!all_threads_traced(pid, tracer)) {
                if (waitpid(tracer, NULL, WNOHANG) == tracer || test_bus_now_ms() > deadline) {
                        kill(tracer, SIGKILL);
                        waitpid(tracer, NULL, 0);
                        return 0;
                }
                usleep(10000);
        }
        return tracer;
}

/* Detaches @tracer, which then writes its summary. */
static void stop_strace(pid_t tracer) {
        kill(tracer, SIGINT);
        waitpid(tracer, NULL, 0);
}

/* The "total" calls of strace -c's summary in @path, and prints its table when
 * @print. */
static long summary_total(const char *path, bool print) {
        FILE *f = fopen(path, "re");
        char line[256];
        long total = -1;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                char name[64];
                double percent, seconds;
                long usecs, calls, errors;

                if (print)
                        printf("  %s", line);
                if (strstr(line, " total") &&
                    (sscanf(line, "%lf %lf %ld %ld %ld %63s", &percent, &seconds, &usecs, &calls,
                            &errors, name) == 6 ||
                     sscanf(line, "%lf %lf %ld %ld %63s", &percent, &seconds, &usecs, &calls,
                            name) == 5))
                        total = calls;
        }
        fclose(f);
        return total;
}

/* --- calls --- */

static const char *origin_of(int partition) {
        static char origin[64];

        snprintf(origin, sizeof(origin), "o%05d.syscalls.example:443", partition);
        return origin;
}

/* A TakeSession reply must carry a stored token. */
static void check_take(DBusMessage *reply) {
        const unsigned char *got = NULL;
        int n = -1;

        if (!dbus_message_get_args(reply, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &got, &n,
                                   DBUS_TYPE_INVALID) ||
            (size_t) n != payload_size)
                bench_failure("TakeSession returned no token");
}

int main(int argc, char *argv[]) {
        const char *context = "bench/syscalls";
        unsigned char *payload;
        char daemon_out[4096], echo_out[4096];
        DBusConnection *conn;
        pid_t echo, daemon, daemon_tracer, echo_tracer;
        int partitions;
        long daemon_calls, echo_calls;
        dbus_uint32_t *gens;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
                        iterations = atoi(argv[++i]);
                else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc)
                        payload_size = (size_t) atol(argv[++i]);
                else {
                        fprintf(stderr, "Usage: %s [--iterations N] [--payload BYTES]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (iterations < 1 || iterations > 100000 || payload_size < 8 || payload_size > 4096) {
                fprintf(stderr, "bench: need --iterations 1..100000 and --payload 8..4096\n");
                return 2;
        }
        dbus_threads_init_default();
        test_bus_start();
        test_bus_activate_daemon();
        echo = bench_start_echo_service(argv[0]);
        conn = test_bus_connect();
        daemon = test_bus_daemon_pid();

        /* One stored token per TakeSession to come. */
        payload = malloc(payload_size);
        memset(payload, 0x5a, payload_size);
        partitions = (iterations + TOKENS_PER_PARTITION - 1) / TOKENS_PER_PARTITION;
        gens = calloc((size_t) partitions, sizeof(*gens));
        bench_open_context(conn, context);
        for (int p = 0; p < partitions; p++) {
                gens[p] = bench_generation_of(conn, context, origin_of(p));
                for (int k = 0; k < TOKENS_PER_PARTITION; k++)
                        bench_call_or_die(conn, bench_put_message(context, origin_of(p),
                                                                  gens[p], payload,
                                                                  payload_size));
        }

        snprintf(daemon_out, sizeof(daemon_out), "%s/strace-tlsidd.txt", test_bus_tmpdir());
        snprintf(echo_out, sizeof(echo_out), "%s/strace-echo.txt", test_bus_tmpdir());
        daemon_tracer = start_strace(daemon, daemon_out);
        echo_tracer = daemon_tracer ? start_strace(echo, echo_out) : 0;
        if (!echo_tracer) {
                printf("SKIP: cannot trace tlsidd and echo-service with strace (missing, or "
                       "ptrace not allowed)\n");
                if (daemon_tracer)
                        stop_strace(daemon_tracer);
                bench_finish(conn, echo);
                return SKIP;
        }

        for (int i = 0; i < iterations; i++) {
                DBusMessage *reply;
                int p = i / TOKENS_PER_PARTITION;

                reply = bench_round_trip(conn, bench_take_message(context, origin_of(p), gens[p]),
                                         NULL);
                if (reply) {
                        check_take(reply);
                        dbus_message_unref(reply);
                }
                reply = bench_round_trip(conn, bench_echo_message(payload, payload_size), NULL);
                if (reply)
                        dbus_message_unref(reply);
        }
        stop_strace(daemon_tracer);
        stop_strace(echo_tracer);

        printf("tlsid benchmark: system calls per call, %d TakeSession (each takes a "
               "%zu-byte token) interleaved with %d Echo of the same size, one private "
               "dbus-daemon, strace -f -c attached to both services\n\ntlsidd:\n",
               iterations, payload_size, iterations);
        daemon_calls = summary_total(daemon_out, true);
        printf("echo-service:\n");
        echo_calls = summary_total(echo_out, true);
        if (daemon_calls < 0 || echo_calls <= 0)
                bench_failure("no strace summary");
        else
                printf("\nsystem calls per call: tlsidd %.2f per TakeSession, echo-service %.2f "
                       "per Echo, ratio %.2fx\n",
                       (double) daemon_calls / iterations, (double) echo_calls / iterations,
                       (double) daemon_calls / (double) echo_calls);

        free(payload);
        free(gens);
        return bench_finish(conn, echo);
}
