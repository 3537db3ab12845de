/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory for secrets (resumption tokens, the token key): out of core dumps, locked in RAM
 * as far as RLIMIT_MEMLOCK allows, zeroed when freed.
 *
 * Chunks of a few sizes (powers of two up to 256 bytes, four sizes per doubling above)
 * come from mmap'd arenas marked MADV_DONTDUMP; an arena is mlock'ed while the locked
 * total stays within the soft RLIMIT_MEMLOCK, and left unlocked (still excluded from
 * dumps) past it or when mlock fails. An arena whose chunks are all
 * free is unmapped (one spare per size is kept), so a large drop gives the memory back. */
#pragma once

#include <glib.h>

/* The largest chunk: a resumption token's maximum (TLSID_TOKEN_MAX). */
#define SECRET_MEM_MAX (64 * 1024)

/* @len (1..SECRET_MEM_MAX) bytes of zeroed secret memory; aborts when out of memory, as
 * g_malloc() does. */
void *secret_mem_alloc(gsize len);
/* Zeroes the whole chunk (explicit_bzero) and releases it. Accepts NULL. */
void secret_mem_free(void *p);
/* The bytes a secret_mem_alloc(@len) really takes, for memory accounting. */
gsize secret_mem_chunk_size(gsize len);

typedef struct {
        guint64 locked;   /* bytes of arenas mlock'ed */
        guint64 unlocked; /* bytes of arenas that could not be locked (still not dumped) */
        guint64 in_use;   /* bytes of chunks handed out */
} SecretMemStatistics;

void secret_mem_get_statistics(SecretMemStatistics *ret);

/* A GBytes over @chunk (from secret_mem_alloc(), of at least @len bytes; transfer full)
 * that zeroes and frees it when the last reference goes: a stored token is a bare chunk,
 * and becomes one of these when it is taken, so g_bytes_unref() is all a taker needs. */
GBytes *secret_bytes_new_take(guint8 *chunk, gsize len);

/* Test hook: called with each chunk after it was zeroed, just before it is released. NULL
 * in production. */
extern void (*secret_mem_zeroed_hook)(const guint8 *data, gsize len);
