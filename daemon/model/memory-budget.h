/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The global memory cap: one accounted byte total over all state a client can make the
 * daemon hold (contexts, partitions, choices, tokens, retry records).
 *
 * Each holder charges an approximate cost per object (its structure, its strings, its
 * share of the hash tables and the allocator's overhead; the costs are documented where
 * they are computed) before creating it and releases it when the object goes, so the total
 * tracks the daemon's memory to within a small factor whatever the mix of objects. */
#pragma once

#include <glib.h>

typedef struct {
        guint64 used;
        guint64 cap; /* max_memory; 0: none */
} MemoryBudget;

/* Whether @bytes more fit under the cap; else FALSE with LIMIT_EXCEEDED naming max_memory
 * and @what (the object refused, e.g. "a token of 1024 bytes"). */
gboolean memory_budget_check(const MemoryBudget *budget, guint64 bytes, const char *what,
                             GError **error);
/* Adds @bytes to the total, checked or not (the caller checked, or the object is one the
 * daemon cannot refuse). */
void memory_budget_charge(MemoryBudget *budget, guint64 bytes);
/* Removes @bytes from the total. */
void memory_budget_release(MemoryBudget *budget, guint64 bytes);
