/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: TakeSession and PutSession round trips to tlsidd next to a bare libdbus echo,
 * over the bus and over tlsidd's direct socket.
 *
 * On one private bus it runs tlsidd and echo-service (a plain libdbus Echo(ay) -> ay),
 * and echo-service --peer (the same echo on a peer-to-peer socket of its own, the
 * baseline of the direct socket), fills tlsidd with 100 and then 100,000 stored tokens,
 * and times, from 1 and from 4 client threads (one connection of each kind each),
 * PutSession (with a reply), TakeSession and Echo round trips carrying the same payload,
 * each over the bus and peer-to-peer (tlsidd's DirectAddress). The six calls are
 * interleaved in each iteration, in an order drawn anew each time (a call that always went
 * first would always meet processes gone idle since the last iteration), so that the
 * daemon and the baselines share the same machine conditions. Two tokens stay stored
 * across iterations, so that each TakeSession has one to take also when both go before
 * the PutSessions.
 * Speed is only printed; the exit status is non-zero when any call fails.
 *
 * Usage: bench-sessions [--iterations N] [--payload BYTES] [--seed N]
 * Environment: BENCH_ECHO_SERVICE, the path of echo-service (default: next to this
 * program). */
#include <dbus/dbus.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-calls.h"
#include "test-bus.h"

#define WARMUP_ITERATIONS 300
#define FILL_ORIGINS_PER_CONTEXT 1000 /* below the default 4096 origins per context */
#define TOKENS_PER_PARTITION 4       /* the daemon's default cap */
#define MAX_THREADS 4

enum { OP_ECHO, OP_PUT, OP_TAKE, OP_PEER_ECHO, OP_DIRECT_PUT, OP_DIRECT_TAKE, N_OPS };
static const char *const op_names[N_OPS] = {
        "Echo", "PutSession", "TakeSession", "Echo p2p", "Put direct", "Take direct",
};
/* What each call is compared with: the echo over the same kind of connection. */
static const int op_baseline[N_OPS] = {
        OP_ECHO, OP_ECHO, OP_ECHO, OP_PEER_ECHO, OP_PEER_ECHO, OP_PEER_ECHO,
};

static char *direct_address; /* tlsidd's DirectAddress */
static char *peer_address;   /* echo-service --peer's */

static int iterations = 5000;
static size_t payload_size = 512;
static uint64_t seed;           /* of each thread's order of the calls */

/* --- calls --- */

/* Whether @reply carries exactly (ay) @data. */
static bool reply_has_bytes(DBusMessage *reply, const unsigned char *data, size_t len) {
        const unsigned char *got = NULL;
        int n = -1;

        return dbus_message_get_args(reply, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &got, &n,
                                     DBUS_TYPE_INVALID) &&
               (size_t) n == len && memcmp(got, data, len) == 0;
}

/* --- filling the store --- */

/* Adds tokens in new partitions until the daemon holds @target of them; @filled is how
 * many earlier calls stored. Puts are pipelined without replies (the GetPartition per
 * partition keeps them in step with the daemon). */
static void fill_to(DBusConnection *conn, uint64_t target, uint64_t *filled) {
        unsigned char token[4096];

        memset(token, 0xf1, sizeof(token));
        while (*filled < target) {
                uint64_t partition = *filled / TOKENS_PER_PARTITION;
                char context[64], origin[64];
                dbus_uint32_t gen;

                snprintf(context, sizeof(context), "bench/fill-%03llu",
                         (unsigned long long) (partition / FILL_ORIGINS_PER_CONTEXT));
                snprintf(origin, sizeof(origin), "o%05llu.fill.example:443",
                         (unsigned long long) (partition % FILL_ORIGINS_PER_CONTEXT));
                if (partition % FILL_ORIGINS_PER_CONTEXT == 0 &&
                    *filled % TOKENS_PER_PARTITION == 0)
                        bench_open_context(conn, context);
                /* Generations need not start equal: ask for each partition. */
                gen = bench_generation_of(conn, context, origin);
                for (int i = 0; i < TOKENS_PER_PARTITION && *filled < target; i++) {
                        DBusMessage *m;

                        memcpy(token, filled, sizeof(*filled)); /* distinct tokens */
                        m = bench_put_message(context, origin, gen, token, payload_size);
                        dbus_message_set_no_reply(m, TRUE);
                        if (!dbus_connection_send(conn, m, NULL)) {
                                fprintf(stderr, "bench: out of memory\n");
                                exit(1);
                        }
                        dbus_message_unref(m);
                        (*filled)++;
                }
        }
        if (bench_statistic(conn, "tokens") != target) {
                fprintf(stderr, "bench: the daemon holds %llu tokens, expected %llu "
                        "(stale puts %llu, evictions %llu)\n",
                        (unsigned long long) bench_statistic(conn, "tokens"),
                        (unsigned long long) target,
                        (unsigned long long) bench_statistic(conn, "stale_puts"),
                        (unsigned long long) bench_statistic(conn, "evictions"));
                exit(1);
        }
}

/* --- the measured loop --- */

/* xorshift64*: the order of the calls, reproducible from --seed. */
static uint64_t next_random(uint64_t *state) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        return *state * 0x2545F4914F6CDD1DULL;
}

/* The calls in a random order. */
static void shuffle_ops(int order[N_OPS], uint64_t *state) {
        for (int op = 0; op < N_OPS; op++)
                order[op] = op;
        for (int k = N_OPS - 1; k > 0; k--) {
                int j = (int) (next_random(state) % (uint64_t) (k + 1)), t = order[k];

                order[k] = order[j];
                order[j] = t;
        }
}

/* The payload of iteration @i: the worker's bytes, @i in front. */
static void payload_of(unsigned char *payload, int index, int i) {
        for (size_t k = 0; k < payload_size; k++)
                payload[k] = (unsigned char) (k * 31 + (size_t) index);
        memcpy(payload, &i, sizeof(i));
}

typedef struct {
        int index;
        pthread_barrier_t *barrier;
        uint64_t *ns[N_OPS]; /* iterations entries each */
        uint64_t wall_ns;
} Worker;

/* A peer-to-peer connection to @address; exits on failure. */
static DBusConnection *peer_connect(const char *address) {
        DBusError error = DBUS_ERROR_INIT;
        DBusConnection *conn = dbus_connection_open_private(address, &error);

        if (!conn) {
                fprintf(stderr, "bench: cannot connect to %s: %s\n", address, error.message);
                exit(1);
        }
        dbus_connection_set_exit_on_disconnect(conn, FALSE);
        return conn;
}

static void peer_disconnect(DBusConnection *conn) {
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
}

static void *worker_run(void *data) {
        Worker *w = data;
        DBusConnection *conn = test_bus_connect();
        DBusConnection *direct = peer_connect(direct_address);
        DBusConnection *peer = peer_connect(peer_address);
        unsigned char *payload = malloc(payload_size), *expected = malloc(payload_size);
        char context[64];
        const char *origin = "measure.example:443";
        dbus_uint32_t gen;
        uint64_t start = 0, state = seed + (uint64_t) w->index * 0x9E3779B97F4A7C15ULL + 1;
        /* The iterations whose tokens the daemon holds, oldest first (at most four). */
        int stored[TOKENS_PER_PARTITION], n_stored = 0;
        DBusMessage *reply;

        snprintf(context, sizeof(context), "bench/thread-%d", w->index);
        bench_open_context(conn, context);
        gen = bench_generation_of(conn, context, origin);
        /* The tokens in stock, for the two TakeSessions when they go first: the partition
         * then holds at most 4, the daemon's cap. */
        for (int k = 0; k < 2; k++) {
                payload_of(payload, w->index, -WARMUP_ITERATIONS - 2 + k);
                reply = bench_round_trip(conn, bench_put_message(context, origin, gen, payload,
                                                                 payload_size), NULL);
                if (reply)
                        dbus_message_unref(reply);
                stored[n_stored++] = -WARMUP_ITERATIONS - 2 + k;
        }
        for (int i = -WARMUP_ITERATIONS; i < iterations; i++) {
                uint64_t ns[N_OPS] = { 0 };
                int order[N_OPS];

                if (i == 0) {
                        pthread_barrier_wait(w->barrier);
                        start = bench_now_ns();
                }
                payload_of(payload, w->index, i); /* each token differs */
                shuffle_ops(order, &state);
                for (int k = 0; k < N_OPS; k++) {
                        int op = order[k];
                        bool is_direct = op >= OP_PEER_ECHO;
                        DBusConnection *to_echo = is_direct ? peer : conn;
                        DBusConnection *to_daemon = is_direct ? direct : conn;

                        switch (op) {
                        case OP_ECHO:
                        case OP_PEER_ECHO:
                                reply = bench_round_trip(to_echo,
                                                         bench_echo_message(payload, payload_size),
                                                         &ns[op]);
                                if (reply && !reply_has_bytes(reply, payload, payload_size))
                                        bench_failure("Echo returned other bytes");
                                break;
                        case OP_PUT:
                        case OP_DIRECT_PUT:
                                reply = bench_round_trip(to_daemon,
                                                         bench_put_message(context, origin, gen,
                                                                           payload, payload_size),
                                                         &ns[op]);
                                stored[n_stored++] = i;
                                break;
                        default:
                                reply = bench_round_trip(to_daemon,
                                                         bench_take_message(context, origin, gen),
                                                         &ns[op]);
                                /* The newest: this iteration's once put, else the stock. */
                                payload_of(expected, w->index, stored[--n_stored]);
                                if (reply && !reply_has_bytes(reply, expected, payload_size))
                                        bench_failure("TakeSession did not return the newest "
                                                      "token");
                                break;
                        }
                        if (reply)
                                dbus_message_unref(reply);
                }

                if (i >= 0)
                        for (int op = 0; op < N_OPS; op++)
                                w->ns[op][i] = ns[op];
        }
        w->wall_ns = bench_now_ns() - start;

        /* Leave nothing behind: the stored count must stay what the fill made it. */
        {
                DBusMessage *m = bench_method("CloseContext");
                const char *c = context;

                dbus_message_append_args(m, DBUS_TYPE_STRING, &c, DBUS_TYPE_INVALID);
                bench_call_or_die(conn, m);
        }
        free(payload);
        free(expected);
        peer_disconnect(direct);
        peer_disconnect(peer);
        test_bus_disconnect(conn);
        return NULL;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

typedef struct {
        double p50_us, p99_us, calls_per_s;
} OpResult;

typedef struct {
        uint64_t stored;
        int threads;
        OpResult ops[N_OPS];
        double mix_calls_per_s;
} Run;

static Run measure(uint64_t stored, int threads) {
        pthread_t tids[MAX_THREADS];
        Worker workers[MAX_THREADS];
        pthread_barrier_t barrier;
        size_t n = (size_t) iterations * (size_t) threads;
        uint64_t *all = malloc(n * sizeof(uint64_t));
        uint64_t wall = 0;
        Run run = { .stored = stored, .threads = threads };

        pthread_barrier_init(&barrier, NULL, (unsigned) threads);
        for (int t = 0; t < threads; t++) {
                workers[t] = (Worker) { .index = t, .barrier = &barrier };
                for (int op = 0; op < N_OPS; op++)
                        workers[t].ns[op] = calloc((size_t) iterations, sizeof(uint64_t));
                pthread_create(&tids[t], NULL, worker_run, &workers[t]);
        }
        for (int t = 0; t < threads; t++) {
                pthread_join(tids[t], NULL);
                if (workers[t].wall_ns > wall)
                        wall = workers[t].wall_ns;
        }
        pthread_barrier_destroy(&barrier);

        for (int op = 0; op < N_OPS; op++) {
                uint64_t busy = 0;

                for (int t = 0; t < threads; t++)
                        for (int i = 0; i < iterations; i++) {
                                all[(size_t) t * (size_t) iterations + (size_t) i] =
                                        workers[t].ns[op][i];
                                busy += workers[t].ns[op][i];
                        }
                qsort(all, n, sizeof(uint64_t), compare_u64);
                run.ops[op].p50_us = (double) all[n / 2] / 1000.0;
                run.ops[op].p99_us = (double) all[(n * 99) / 100] / 1000.0;
                /* Calls over the time the threads spent in this call, as if each thread
                 * made only this call back to back. */
                run.ops[op].calls_per_s = (double) n * threads / ((double) busy / 1e9);
        }
        run.mix_calls_per_s = (double) (n * N_OPS) / ((double) wall / 1e9);
        for (int t = 0; t < threads; t++)
                for (int op = 0; op < N_OPS; op++)
                        free(workers[t].ns[op]);
        free(all);
        return run;
}

/* --- output --- */

static void print_table(const Run *runs, size_t n_runs) {
        printf("\n%-9s %-7s %-12s %10s %10s %11s %12s\n", "stored", "threads", "call", "p50 us",
               "p99 us", "calls/s", "p50 vs echo");
        printf("(\"direct\": tlsidd's direct socket, against \"Echo p2p\", the echo on a "
               "peer-to-peer socket)\n");
        for (size_t r = 0; r < n_runs; r++) {
                const Run *run = &runs[r];

                for (int op = 0; op < N_OPS; op++) {
                        char ratio[32] = "";

                        int base = op_baseline[op];

                        if (op != base)
                                snprintf(ratio, sizeof(ratio), "%.2fx (%+.0f%%)",
                                         run->ops[op].p50_us / run->ops[base].p50_us,
                                         (run->ops[op].p50_us / run->ops[base].p50_us - 1) *
                                                 100);
                        printf("%-9llu %-7d %-12s %10.1f %10.1f %11.0f %12s\n",
                               (unsigned long long) run->stored, run->threads, op_names[op],
                               run->ops[op].p50_us, run->ops[op].p99_us,
                               run->ops[op].calls_per_s, ratio);
                }
                printf("%-9s %-7s %-12s %10s %10s %11.0f\n", "", "", "(all six)", "", "",
                       run->mix_calls_per_s);
        }
}

/* Absolute times drift with the machine's load; the ratio to the echo measured in the
 * same iterations does not, so both are printed. */
static void print_growth(const Run *small, const Run *large) {
        for (int op = 0; op < N_OPS; op++) {
                int base = op_baseline[op];

                if (op == base)
                        continue;
                printf("%-11s p50, %d thread%s: %6.1f us at %llu tokens, %6.1f us at %llu tokens "
                       "(%+.0f%%); vs echo %.2fx -> %.2fx\n",
                       op_names[op], small->threads, small->threads == 1 ? " " : "s",
                       small->ops[op].p50_us, (unsigned long long) small->stored,
                       large->ops[op].p50_us, (unsigned long long) large->stored,
                       (large->ops[op].p50_us / small->ops[op].p50_us - 1) * 100,
                       small->ops[op].p50_us / small->ops[base].p50_us,
                       large->ops[op].p50_us / large->ops[base].p50_us);
        }
}

/* Issue 13's two targets, side by side for each run. */
static void print_targets(const Run *runs, size_t n_runs) {
        printf("\nTakeSession p50 / echo p50     bus (target <= 1.10)   direct / p2p echo "
               "(target <= 1.15)   direct / bus TakeSession\n");
        for (size_t r = 0; r < n_runs; r++) {
                const OpResult *o = runs[r].ops;
                double bus = o[OP_TAKE].p50_us / o[OP_ECHO].p50_us;
                double direct = o[OP_DIRECT_TAKE].p50_us / o[OP_PEER_ECHO].p50_us;

                printf("%6llu tokens, %d thread%s     %.2f %-15s      %.2f %-22s     %.2f\n",
                       (unsigned long long) runs[r].stored, runs[r].threads,
                       runs[r].threads == 1 ? " " : "s", bus, bus <= 1.10 ? "met" : "not met",
                       direct, direct <= 1.15 ? "met" : "not met",
                       o[OP_DIRECT_TAKE].p50_us / o[OP_TAKE].p50_us);
        }
}

int main(int argc, char *argv[]) {
        static const uint64_t levels[] = { 100, 100000 };
        static const int thread_counts[] = { 1, MAX_THREADS };
        Run runs[4];
        size_t n_runs = 0;
        DBusConnection *conn;
        uint64_t filled = 0;
        pid_t echo, peer_echo;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
                        iterations = atoi(argv[++i]);
                else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc)
                        payload_size = (size_t) atol(argv[++i]);
                else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
                        seed = strtoull(argv[++i], NULL, 10);
                else {
                        fprintf(stderr, "Usage: %s [--iterations N] [--payload BYTES] "
                                "[--seed N]\n", argv[0]);
                        return 2;
                }
        }
        if (iterations < 1 || payload_size < 8 || payload_size > 4096) {
                fprintf(stderr, "bench: need --iterations >= 1 and --payload 8..4096\n");
                return 2;
        }
        if (seed == 0)
                seed = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
        dbus_threads_init_default();

        test_bus_start();
        /* 100,000 tokens of this size are past the default 32 MiB byte bound: raise it,
         * so the fill is not evicted. */
        test_bus_write_daemon_config("[limits]\nmax_token_bytes=1G\n");
        test_bus_activate_daemon();
        echo = bench_start_echo_service(argv[0]);
        peer_echo = bench_start_peer_echo_service(argv[0], &peer_address);
        conn = test_bus_connect();
        direct_address = bench_direct_address(conn);
        if (!*direct_address) {
                fprintf(stderr, "bench: tlsidd has no direct socket (DirectAddress is \"\")\n");
                return 1;
        }

        printf("tlsid benchmark: %zu-byte payloads, %d timed iterations per thread "
               "(after %d warm-up), one private dbus-daemon\n"
               "Each iteration: Echo(ay) to a bare libdbus service, PutSession (with a reply), "
               "TakeSession, over the bus and peer-to-peer,\nin a random order (--seed %llu).\n",
               payload_size, iterations, WARMUP_ITERATIONS, (unsigned long long) seed);
        fflush(stdout);

        for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
                uint64_t t0 = bench_now_ns();

                fill_to(conn, levels[l], &filled);
                printf("stored %llu tokens in %.1f s\n", (unsigned long long) levels[l],
                       (double) (bench_now_ns() - t0) / 1e9);
                fflush(stdout);
                for (size_t t = 0; t < sizeof(thread_counts) / sizeof(thread_counts[0]); t++) {
                        runs[n_runs++] = measure(levels[l], thread_counts[t]);
                        if (bench_statistic(conn, "tokens") != levels[l]) {
                                bench_failure("stored tokens changed during the run: %llu",
                                        (unsigned long long) bench_statistic(conn, "tokens"));
                        }
                }
        }

        print_table(runs, n_runs);
        printf("\n");
        print_growth(&runs[0], &runs[2]);
        print_growth(&runs[1], &runs[3]);
        print_targets(runs, n_runs);
        printf("Targets: the daemon adds at most 10%% to the echo round trip at p50 over the bus "
               "(TakeSession / echo <= 1.10)\nand 15%% over the direct socket (TakeSession / "
               "peer-to-peer echo <= 1.15), and its cost does not grow with the stored "
               "tokens.\n");
        printf("Daemon counters: puts %llu, takes %llu, hits %llu, evictions %llu\n",
               (unsigned long long) bench_statistic(conn, "puts"),
               (unsigned long long) bench_statistic(conn, "takes"),
               (unsigned long long) bench_statistic(conn, "hits"),
               (unsigned long long) bench_statistic(conn, "evictions"));

        kill(peer_echo, SIGTERM);
        waitpid(peer_echo, NULL, 0);
        return bench_finish(conn, echo);
}
