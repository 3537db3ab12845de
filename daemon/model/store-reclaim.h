/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The idle source that zeroes and frees the tokens flushes and closes dropped, in slices
 * on the main loop, and gives the memory back to the system after a large drop. */
#pragma once

#include <glib.h>

#include "store.h"

typedef struct StoreReclaimer StoreReclaimer;

/* One slice frees at most STORE_RECLAIM_SLICE tokens and runs at most this long, so a
 * caller arriving meanwhile waits no longer. */
#define STORE_RECLAIM_SLICE_US 1000
/* Once this many tokens were freed since the last trim and none are left, malloc_trim(0)
 * returns the heap's free pages to the system, when the heap holds at least
 * STORE_RECLAIM_TRIM_FREE_BYTES free. The token bytes themselves are in secret memory,
 * which is unmapped as it empties, so after a flush the heap holds only the tokens' small
 * blocks; glibc trims under its arena lock, in one go (measured 22-37 ms on a fragmented
 * 50 MB heap), so a trim that would return little is not worth a stall of every caller. */
#define STORE_RECLAIM_TRIM_TOKENS 4096
#define STORE_RECLAIM_TRIM_FREE_BYTES (32u * 1024 * 1024)

/* A reclaimer for @store on @context (the thread default when NULL), idle. @store is not
 * owned and must outlive it. */
StoreReclaimer *store_reclaimer_new(Store *store, GMainContext *context);

/* Schedules reclamation on idle when the store has dropped tokens left. Call it after
 * every call that may drop tokens. */
void store_reclaimer_kick(StoreReclaimer *reclaimer);

/* Accepts NULL; what is left to reclaim stays with the store (store_free() frees it). */
void store_reclaimer_free(StoreReclaimer *reclaimer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreReclaimer, store_reclaimer_free)
