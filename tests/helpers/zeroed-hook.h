/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Counting what secret memory zeroes, for the unit tests: zeroed_hook_install() points
 * secret_mem_zeroed_hook here; each zeroed chunk bumps zeroed_count, and zeroed_all_zero
 * turns FALSE if any byte of one was not zero. Include it once, in a test program. */
#pragma once

#include <glib.h>

#include "secret-mem.h"

static guint zeroed_count;
static gboolean zeroed_all_zero = TRUE;

static void zeroed_record(const guint8 *data, gsize len) {
        zeroed_count++;
        for (gsize i = 0; i < len; i++)
                if (data[i] != 0)
                        zeroed_all_zero = FALSE;
}

static inline void zeroed_hook_install(void) {
        zeroed_count = 0;
        zeroed_all_zero = TRUE;
        secret_mem_zeroed_hook = zeroed_record;
}

static inline void zeroed_hook_remove(void) {
        secret_mem_zeroed_hook = NULL;
}
