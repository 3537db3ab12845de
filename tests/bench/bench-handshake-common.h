/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the handshake benchmarks (bench-handshake.c, NSS; bench-handshake-openssl.c)
 * share: the test bus and the e2e certificates they run on, the clock, percentiles and
 * the ratios they print. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tlsid/tlsid.h>

/* Starts the test bus and makes tests/helpers/make-e2e-certs.sh's certificates
 * ($TLSID_MAKE_E2E_CERTS) in its directory. Returns that directory (transfer full). */
char *bench_handshake_setup(void);

uint64_t bench_now_ns(void);

/* The tokens tlsidd has served so far (its statistics' hits), asked through @context's
 * client. */
uint64_t bench_daemon_hits(TlsidContext *context);

/* p50 and p99 in microseconds of @n values (sorted in place); their sum in *@ret_sum
 * (nullable). */
void bench_percentiles(uint64_t *ns, size_t n, double *ret_p50, double *ret_p99,
                       uint64_t *ret_sum);

/* " NAME = VALUE;" and its target (0: none) within one run. */
void bench_print_ratio(const char *name, double value, double target);
