/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every fuzz target shares: libFuzzer's entry point, which fuzz-driver.c calls too,
 * and REQUIRE, which aborts on a broken invariant so that libFuzzer keeps the input. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                        \
        do {                                                                                 \
                if (!(cond)) {                                                               \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                                #cond);                                                      \
                        abort();                                                             \
                }                                                                            \
        } while (0)
