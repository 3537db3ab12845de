/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the handshake benchmarks share (bench-handshake-common.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench-handshake-common.h"
#include "lib-asserts.h"
#include "test-bus.h"

char *bench_handshake_setup(void) {
        const char *script = getenv("TLSID_MAKE_E2E_CERTS");
        char *certs, *command;

        ck_assert_msg(script && *script, "TLSID_MAKE_E2E_CERTS is not set");
        test_bus_start();
        certs = test_xasprintf("%s/certs", test_bus_tmpdir());
        command = test_xasprintf("sh '%s' '%s' > /dev/null", script, certs);
        ck_assert_msg(system(command) == 0, "%s failed", command);
        free(command);
        return certs;
}

uint64_t bench_now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t bench_daemon_hits(TlsidContext *context) {
        TlsidStatistics s;

        ASSERT_OK(tlsid_client_get_statistics(tlsid_context_get_client(context), &s));
        return s.hits;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

void bench_percentiles(uint64_t *ns, size_t n, double *ret_p50, double *ret_p99,
                       uint64_t *ret_sum) {
        uint64_t sum = 0;

        qsort(ns, n, sizeof(uint64_t), compare_u64);
        for (size_t i = 0; i < n; i++)
                sum += ns[i];
        *ret_p50 = (double) ns[n / 2] / 1000.0;
        *ret_p99 = (double) ns[(n * 99) / 100] / 1000.0;
        if (ret_sum)
                *ret_sum = sum;
}

void bench_print_ratio(const char *name, double value, double target) {
        if (target > 0)
                printf(" %s = %.2f (target >= %.2f: %s);", name, value, target,
                       value >= target ? "met" : "NOT met");
        else
                printf(" %s = %.2f;", name, value);
}
