/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: what bulk calls cost other callers, and what memory a large drop gives back.
 *
 * On one private bus it runs tlsidd and:
 * (b) reads the daemon's VmRSS before filling, after storing 100,000 tokens of 1 KiB, and
 *     after a wildcard FlushSessions dropped them all (once GetStatistics says nothing is
 *     left to reclaim);
 * (a) fills 10,000 partitions with 4 tokens each and times, from a second connection, a
 *     caller alternating BeginConnection and TakeSession: alone, while the first connection
 *     flushes all 40,000 tokens with a wildcard FlushSessions, and while it lists every
 *     context and every session. Each figure is printed with its ratio to the caller alone
 *     in the same run. Nothing is asserted about time; the exit status is non-zero only
 *     when a call fails.
 *
 * Usage: bench-bulk [--rounds N] */
#include <dbus/dbus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-calls.h"
#include "test-bus.h"

#define TOKEN_SIZE 1024
#define ORIGINS_PER_CONTEXT 1000
#define TOKENS_PER_PARTITION 4
#define FLUSH_PARTITIONS 10000
#define RSS_TOKENS 100000
#define LIST_CONTEXTS 10000
#define BASELINE_CALLS 4000
#define MAX_SAMPLES 2000000

static int rounds = 5;
/* --- calls --- */

static DBusMessage *context_origin_message(const char *name, const char *context,
                                           const char *origin) {
        DBusMessage *m = bench_method(name);

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_INVALID);
        return m;
}

/* PutSession without a reply (pipelined). */
static void send_put(DBusConnection *conn, const char *context, const char *origin,
                     dbus_uint32_t gen, const unsigned char *token, size_t len) {
        DBusMessage *m = bench_put_message(context, origin, gen, token, len);

        dbus_message_set_no_reply(m, TRUE);
        if (!dbus_connection_send(conn, m, NULL)) {
                fprintf(stderr, "bench: out of memory\n");
                exit(1);
        }
        dbus_message_unref(m);
}

/* Stores @partitions x TOKENS_PER_PARTITION tokens of TOKEN_SIZE bytes in contexts
 * "bench/@prefix-N" of @per_context origins each, and checks the daemon holds them. */
static void fill(DBusConnection *conn, const char *prefix, unsigned partitions,
                 unsigned per_context) {
        unsigned char token[TOKEN_SIZE];
        uint64_t before = bench_statistic(conn, "tokens");

        memset(token, 0xb7, sizeof(token));
        for (unsigned p = 0; p < partitions; p++) {
                char context[64], origin[64];
                dbus_uint32_t gen;

                snprintf(context, sizeof(context), "bench/%s-%05u", prefix, p / per_context);
                snprintf(origin, sizeof(origin), "o%05u.bulk.example:443", p % per_context);
                if (p % per_context == 0)
                        bench_open_context(conn, context);
                gen = bench_generation_of(conn, context, origin);
                for (unsigned i = 0; i < TOKENS_PER_PARTITION; i++) {
                        unsigned serial = p * TOKENS_PER_PARTITION + i;

                        memcpy(token, &serial, sizeof(serial));
                        send_put(conn, context, origin, gen, token, sizeof(token));
                }
        }
        if (bench_statistic(conn, "tokens") !=
            before + (uint64_t) partitions * TOKENS_PER_PARTITION) {
                fprintf(stderr, "bench: the daemon holds %llu tokens, expected %llu\n",
                        (unsigned long long) bench_statistic(conn, "tokens"),
                        (unsigned long long) (before +
                                              (uint64_t) partitions * TOKENS_PER_PARTITION));
                exit(1);
        }
}

/* Waits until the daemon has nothing of dropped tokens left to reclaim (a daemon that
 * frees at once reports no such statistic: then there is nothing to wait for). */
static double wait_reclaimed(DBusConnection *conn) {
        uint64_t start = bench_now_ns();

        while (bench_statistic(conn, "reclaim_pending") > 0)
                usleep(1000);
        return (double) (bench_now_ns() - start) / 1e6;
}

static uint64_t flush_all(DBusConnection *conn, double *ret_ms) {
        uint64_t ns;
        DBusMessage *reply = bench_round_trip(
                conn, context_origin_message("FlushSessions", "", ""), &ns);
        dbus_uint32_t dropped = 0;

        if (!reply || !dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &dropped,
                                             DBUS_TYPE_INVALID))
                exit(1);
        dbus_message_unref(reply);
        *ret_ms = (double) ns / 1e6;
        return dropped;
}

/* --- the probing caller --- */

typedef struct {
        uint64_t *ns;
        size_t n;
} Samples;

static atomic_bool probe_recording, probe_stop;
static Samples probe_samples;
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(uint64_t ns) {
        pthread_mutex_lock(&probe_lock);
        if (atomic_load(&probe_recording) && probe_samples.n < MAX_SAMPLES)
                probe_samples.ns[probe_samples.n++] = ns;
        pthread_mutex_unlock(&probe_lock);
}

/* A browser's handshake path: BeginConnection, then TakeSession, back to back. */
static void *probe_run(void *data) {
        DBusConnection *conn = test_bus_connect();
        const char *context = "bench/probe", *origin = "probe.example:443", *identity = "";

        (void) data;
        bench_open_context(conn, context);
        while (!atomic_load(&probe_stop)) {
                uint64_t ns;
                dbus_uint32_t gen = bench_generation_of(conn, context, origin);
                DBusMessage *reply = bench_round_trip(
                        conn, context_origin_message("BeginConnection", context, origin), &ns);
                DBusMessage *m;

                if (reply)
                        dbus_message_unref(reply);
                record(ns);
                m = bench_method("TakeSession");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                         &origin, DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32,
                                         &gen, DBUS_TYPE_INVALID);
                reply = bench_round_trip(conn, m, &ns);
                if (reply)
                        dbus_message_unref(reply);
                record(ns);
        }
        test_bus_disconnect(conn);
        return NULL;
}

static void probe_start_recording(void) {
        pthread_mutex_lock(&probe_lock);
        probe_samples.n = 0;
        atomic_store(&probe_recording, true);
        pthread_mutex_unlock(&probe_lock);
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

typedef struct {
        size_t calls;
        double p50_us, p99_us, worst_us;
} Latency;

/* Stops recording and summarises what was recorded. */
static Latency probe_stop_recording(void) {
        Latency l = { 0 };

        pthread_mutex_lock(&probe_lock);
        atomic_store(&probe_recording, false);
        if (probe_samples.n > 0) {
                qsort(probe_samples.ns, probe_samples.n, sizeof(uint64_t), compare_u64);
                l.calls = probe_samples.n;
                l.p50_us = (double) probe_samples.ns[probe_samples.n / 2] / 1000.0;
                l.p99_us = (double) probe_samples.ns[(probe_samples.n * 99) / 100] / 1000.0;
                l.worst_us = (double) probe_samples.ns[probe_samples.n - 1] / 1000.0;
        }
        pthread_mutex_unlock(&probe_lock);
        return l;
}

static void wait_probe_calls(size_t n) {
        for (;;) {
                size_t got;

                pthread_mutex_lock(&probe_lock);
                got = probe_samples.n;
                pthread_mutex_unlock(&probe_lock);
                if (got >= n)
                        return;
                usleep(1000);
        }
}

static void print_latency(const char *what, const Latency *l, const Latency *alone) {
        printf("  %-34s %7zu calls  p50 %8.1f us  p99 %8.1f us (%6.2fx)  worst %9.1f us "
               "(%7.2fx)\n", what, l->calls, l->p50_us, l->p99_us, l->p99_us / alone->p99_us,
               l->worst_us, l->worst_us / alone->worst_us);
}

/* --- the phases --- */

static void measure_rss(DBusConnection *conn) {
        pid_t pid = test_bus_daemon_pid();
        long before, filled, dropped;
        double flush_ms, reclaim_ms;
        uint64_t n;

        before = bench_vm_rss_kib(pid);
        fill(conn, "rss", RSS_TOKENS / TOKENS_PER_PARTITION, ORIGINS_PER_CONTEXT);
        filled = bench_vm_rss_kib(pid);
        n = flush_all(conn, &flush_ms);
        reclaim_ms = wait_reclaimed(conn);
        dropped = bench_vm_rss_kib(pid);
        printf("(b) daemon VmRSS: %ld KiB before filling, %ld KiB with %llu tokens of %d bytes, "
               "%ld KiB after dropping them (%.0f%% of the peak)\n"
               "    FlushSessions(\"\", \"\") replied in %.2f ms, reclamation done %.1f ms later\n",
               before, filled, (unsigned long long) n, TOKEN_SIZE, dropped,
               100.0 * (double) dropped / (double) filled, flush_ms, reclaim_ms);
        fflush(stdout);
}

static void measure_latency(DBusConnection *conn) {
        Latency alone, flush, list_contexts, list_sessions;
        double flush_ms = 0, worst_flush_ms = 0, list_ms[2] = { 0, 0 }, list_page_ms[2] = { 0, 0 };
        const char *const lists[2] = { "ListContexts", "ListSessions" };
        Latency *list_latency[2] = { &list_contexts, &list_sessions };
        pthread_t probe;

        probe_samples.ns = malloc(MAX_SAMPLES * sizeof(uint64_t));
        pthread_create(&probe, NULL, probe_run, NULL);

        probe_start_recording();
        wait_probe_calls(BASELINE_CALLS);
        alone = probe_stop_recording();

        /* The flush: the caller's figures span from just before the call until the daemon
         * has reclaimed everything, over every round. */
        for (int r = 0; r < rounds; r++) {
                uint64_t dropped;

                fill(conn, "flush", FLUSH_PARTITIONS, ORIGINS_PER_CONTEXT);
                pthread_mutex_lock(&probe_lock);
                atomic_store(&probe_recording, true);
                if (r == 0)
                        probe_samples.n = 0;
                pthread_mutex_unlock(&probe_lock);
                dropped = flush_all(conn, &flush_ms);
                wait_reclaimed(conn);
                atomic_store(&probe_recording, false);
                if (dropped < (uint64_t) FLUSH_PARTITIONS * TOKENS_PER_PARTITION)
                        bench_failure("FlushSessions dropped %llu tokens",
                                      (unsigned long long) dropped);
                if (flush_ms > worst_flush_ms)
                        worst_flush_ms = flush_ms;
        }
        flush = probe_stop_recording();

        /* The lists, over 10,000 more contexts of one partition each. */
        fill(conn, "list", LIST_CONTEXTS, 1);
        for (int l = 0; l < 2; l++) {
                double worst = 0;

                probe_start_recording();
                for (int r = 0; r < rounds * 4; r++) {
                        char *cursor = strdup("");
                        double walk = 0;

                        /* Every page, as tlsidctl reads them. */
                        do {
                                DBusMessage *m = bench_method(lists[l]);
                                DBusMessage *reply;
                                const char *all = "", *next = "";
                                dbus_uint32_t limit = 0;
                                uint64_t ns;

                                if (l == 1)
                                        dbus_message_append_args(m, DBUS_TYPE_STRING, &all,
                                                                 DBUS_TYPE_INVALID);
                                dbus_message_append_args(m, DBUS_TYPE_STRING, &cursor,
                                                         DBUS_TYPE_UINT32, &limit,
                                                         DBUS_TYPE_INVALID);
                                reply = bench_round_trip(conn, m, &ns);
                                free(cursor);
                                if (reply) {
                                        DBusMessageIter it;

                                        dbus_message_iter_init(reply, &it);
                                        dbus_message_iter_next(&it);
                                        dbus_message_iter_get_basic(&it, &next);
                                }
                                cursor = strdup(next);
                                if (reply)
                                        dbus_message_unref(reply);
                                walk += (double) ns / 1e6;
                                if ((double) ns / 1e6 > list_page_ms[l])
                                        list_page_ms[l] = (double) ns / 1e6;
                        } while (*cursor);
                        free(cursor);
                        if (walk > worst)
                                worst = walk;
                }
                *list_latency[l] = probe_stop_recording();
                list_ms[l] = worst;
        }
        atomic_store(&probe_stop, true);
        pthread_join(probe, NULL);
        free(probe_samples.ns);

        printf("(a) a concurrent caller (BeginConnection, TakeSession) on its own connection:\n");
        print_latency("alone", &alone, &alone);
        print_latency("during FlushSessions of 40,000", &flush, &alone);
        print_latency("during ListContexts", &list_contexts, &alone);
        print_latency("during ListSessions(\"\")", &list_sessions, &alone);
        printf("    bulk calls' own round trips (worst of %d): FlushSessions %.2f ms, "
               "ListContexts %.2f ms, ListSessions %.2f ms (%d contexts, %d partitions)\n",
               rounds, worst_flush_ms, list_ms[0], list_ms[1],
               LIST_CONTEXTS + FLUSH_PARTITIONS / ORIGINS_PER_CONTEXT +
                       RSS_TOKENS / TOKENS_PER_PARTITION / ORIGINS_PER_CONTEXT + 1,
               LIST_CONTEXTS + FLUSH_PARTITIONS + RSS_TOKENS / TOKENS_PER_PARTITION + 1);
        printf("    the lists are paged: worst single page ListContexts %.2f ms, ListSessions "
               "%.2f ms; the figures above are whole walks\n",
               list_page_ms[0], list_page_ms[1]);
}

int main(int argc, char *argv[]) {
        DBusConnection *conn;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
                        rounds = atoi(argv[++i]);
                else {
                        fprintf(stderr, "Usage: %s [--rounds N]\n", argv[0]);
                        return 2;
                }
        }
        if (rounds < 1) {
                fprintf(stderr, "bench: need --rounds >= 1\n");
                return 2;
        }
        dbus_threads_init_default();
        test_bus_start();
        /* 100,000 tokens of 1 KiB and 10,000 more contexts are past the default bounds: raise
         * them, so nothing is evicted or refused. */
        test_bus_write_daemon_config("[limits]\nmax_contexts=20000\nmax_token_bytes=1G\n"
                                     "max_memory=1G\n");
        test_bus_activate_daemon();
        conn = test_bus_connect();
        printf("tlsid bulk-call benchmark: %d-byte tokens, one private dbus-daemon, %d rounds\n",
               TOKEN_SIZE, rounds);
        fflush(stdout);

        measure_rss(conn);
        measure_latency(conn);

        return bench_finish(conn, 0);
}
