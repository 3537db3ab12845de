/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: the daemon's memory per stored token.
 *
 * For each layout below, a fresh tlsidd on one private bus: its VmRSS before and after
 * storing 100,000 tokens, printed as RSS over the payload (the whole daemon's RSS, as the
 * target "RSS / payload <= 1.3" reads) and as bytes of overhead per token (the growth
 * over the payload, divided by the tokens), with what max_memory charged per token. The
 * layouts: tokens of 1 KiB, 4 per partition (the default cap) and 1 per partition; and
 * tokens of 1,100 bytes, 4 per partition (a size just past a power of two). Nothing is
 * asserted; the exit status is non-zero only when a call fails.
 *
 * Usage: bench-token-memory */
#include <dbus/dbus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-calls.h"
#include "test-bus.h"

#define TOKENS 100000
#define ORIGINS_PER_CONTEXT 1000

typedef struct {
        unsigned token_size;
        unsigned per_partition;
} Layout;

static const Layout layouts[] = {
        { 1024, 4 },
        { 1024, 1 },
        { 1100, 4 },
};

/* Stores TOKENS tokens as @l says, pipelined, and checks the daemon holds them all. */
static void fill(DBusConnection *conn, const Layout *l) {
        unsigned char *token = malloc(l->token_size);
        unsigned partitions = TOKENS / l->per_partition;

        memset(token, 0xb7, l->token_size);
        for (unsigned p = 0; p < partitions; p++) {
                char context[64], origin[64];
                dbus_uint32_t gen;

                snprintf(context, sizeof(context), "bench/mem-%05u", p / ORIGINS_PER_CONTEXT);
                snprintf(origin, sizeof(origin), "o%05u.memory.example:443",
                         p % ORIGINS_PER_CONTEXT);
                if (p % ORIGINS_PER_CONTEXT == 0)
                        bench_open_context(conn, context);
                gen = bench_generation_of(conn, context, origin);
                for (unsigned i = 0; i < l->per_partition; i++) {
                        unsigned serial = p * l->per_partition + i;
                        DBusMessage *m;

                        memcpy(token, &serial, sizeof(serial));
                        m = bench_put_message(context, origin, gen, token, l->token_size);
                        dbus_message_set_no_reply(m, TRUE);
                        if (!dbus_connection_send(conn, m, NULL)) {
                                fprintf(stderr, "bench: out of memory\n");
                                exit(1);
                        }
                        dbus_message_unref(m);
                }
        }
        free(token);
        if (bench_statistic(conn, "tokens") != TOKENS) {
                fprintf(stderr, "bench: the daemon holds %llu tokens, expected %u\n",
                        (unsigned long long) bench_statistic(conn, "tokens"), TOKENS);
                exit(1);
        }
}

static void measure(DBusConnection *conn, const Layout *l) {
        double payload = (double) TOKENS * l->token_size;
        uint64_t charged_before, charged;
        long before, filled;
        pid_t pid;

        test_bus_restart_daemon();
        /* A first call, so the daemon has served one before the baseline is read. */
        charged_before = bench_statistic(conn, "memory_used");
        pid = test_bus_daemon_pid();
        before = bench_vm_rss_kib(pid);
        fill(conn, l);
        filled = bench_vm_rss_kib(pid);
        charged = bench_statistic(conn, "memory_used");
        printf("  %4u-byte tokens, %u per partition: VmRSS %6ld KiB before, %7ld KiB with "
               "%d tokens\n"
               "      RSS / payload %.3f   overhead per token %.0f bytes   max_memory charge "
               "per token %.0f bytes\n",
               l->token_size, l->per_partition, before, filled, TOKENS,
               (double) filled * 1024.0 / payload,
               ((double) (filled - before) * 1024.0 - payload) / TOKENS,
               (double) (charged - charged_before) / TOKENS);
        fflush(stdout);
}

int main(int argc, char *argv[]) {
        DBusConnection *conn;

        (void) argv;
        if (argc > 1) {
                fprintf(stderr, "Usage: bench-token-memory\n");
                return 2;
        }
        dbus_threads_init_default();
        test_bus_start();
        /* 100,000 tokens of 1 KiB in 100 contexts are past the default bounds. */
        test_bus_write_daemon_config("[limits]\nmax_token_bytes=1G\nmax_memory=1G\n");
        test_bus_activate_daemon();
        conn = test_bus_connect();
        printf("tlsid token memory benchmark: %d tokens, a fresh tlsidd per layout\n",
               TOKENS);
        for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
                measure(conn, &layouts[i]);

        return bench_finish(conn, 0);
}
