/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The global memory cap's accounted total. */
#include "memory-budget.h"

#include "error.h"

gboolean memory_budget_check(const MemoryBudget *b, guint64 bytes, const char *what,
                             GError **error) {
        if (b->cap == 0 || (b->used <= b->cap && bytes <= b->cap - b->used))
                return TRUE;
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                    "max_memory (%" G_GUINT64_FORMAT " bytes) reached: %" G_GUINT64_FORMAT
                    " in use, %s needs %" G_GUINT64_FORMAT " more", b->cap, b->used, what,
                    bytes);
        return FALSE;
}

void memory_budget_charge(MemoryBudget *b, guint64 bytes) {
        b->used += bytes;
}

void memory_budget_release(MemoryBudget *b, guint64 bytes) {
        g_warn_if_fail(bytes <= b->used);
        b->used -= MIN(bytes, b->used);
}
