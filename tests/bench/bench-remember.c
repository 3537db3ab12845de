/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: what saving costs a SetChoice with remember, whose reply waits until the
 * choice is written, fsync'd, renamed and the directory fsync'd.
 *
 * On a private bus it times tlsid_context_set_choice(none) with and without
 * TLSID_CHOICE_REMEMBER, interleaved (each remember a new origin, so each one is a
 * write) so both share the same machine conditions, and prints their medians, means and
 * ratios. The state directory is the fixture's, under /tmp. Speed is only printed; the
 * exit status is non-zero when a call fails.
 *
 * Usage: bench-remember [--calls N] (default 100 of each) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tlsid/tlsid.h>

#include "test-bus.h"

static int failures;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* One SetChoice of @origin to none; returns its time in ns. */
static uint64_t timed_choice(TlsidContext *context, const char *prefix, int i, unsigned flags) {
        char origin[64];
        uint64_t start;
        int r;

        snprintf(origin, sizeof origin, "%s%d.example:443", prefix, i);
        start = now_ns();
        r = tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, flags);
        start = now_ns() - start;
        if (r < 0 && failures++ < 10)
                fprintf(stderr, "bench: SetChoice %s: %s\n", origin, tlsid_error_message());
        return start;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Sorts @ns; its median and mean in microseconds. */
static void summary(uint64_t *ns, int n, double *ret_median_us, double *ret_mean_us) {
        uint64_t sum = 0;

        for (int i = 0; i < n; i++)
                sum += ns[i];
        qsort(ns, (size_t) n, sizeof *ns, compare_u64);
        *ret_median_us = (double) ns[n / 2] / 1e3;
        *ret_mean_us = (double) sum / n / 1e3;
}

int main(int argc, char *argv[]) {
        int calls = 100;
        uint64_t *plain, *remembered;
        double plain_median, plain_mean, rem_median, rem_mean;
        TlsidClient *client = NULL;
        TlsidContext *context = NULL;

        if (argc == 3 && strcmp(argv[1], "--calls") == 0)
                calls = atoi(argv[2]);
        else if (argc != 1)
                calls = 0;
        if (calls < 1) {
                fprintf(stderr, "Usage: %s [--calls N], N >= 1\n", argv[0]);
                return 2;
        }
        plain = calloc((size_t) calls, sizeof *plain);
        remembered = calloc((size_t) calls, sizeof *remembered);
        if (!plain || !remembered)
                return 1;

        test_bus_start();
        if (tlsid_client_new(test_bus_address(), &client) < 0 ||
            tlsid_context_open(client, "bench/remember", 0, NULL, &context) < 0) {
                fprintf(stderr, "bench: %s\n", tlsid_error_message());
                test_bus_stop();
                return 1;
        }
        /* Warm-up: the worker thread and the file exist before timing. */
        for (int i = 0; i < 10; i++)
                timed_choice(context, "warm", i, i % 2 ? 0 : TLSID_CHOICE_REMEMBER);
        for (int i = 0; i < calls; i++) {
                plain[i] = timed_choice(context, "p", i, 0);
                remembered[i] = timed_choice(context, "r", i, TLSID_CHOICE_REMEMBER);
        }
        summary(plain, calls, &plain_median, &plain_mean);
        summary(remembered, calls, &rem_median, &rem_mean);
        printf("SetChoice round trips, %d of each, interleaved, state directory under /tmp:\n"
               "  without remember: median %8.1f us, mean %8.1f us\n"
               "  with remember:    median %8.1f us, mean %8.1f us\n"
               "  ratio remember/plain: median %.2f, mean %.2f\n",
               calls, plain_median, plain_mean, rem_median, rem_mean,
               rem_median / plain_median, rem_mean / plain_mean);

        tlsid_context_unref(context);
        tlsid_client_unref(client);
        test_bus_stop();
        free(plain);
        free(remembered);
        return failures ? 1 : 0;
}
