/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one timer that expires the store's resumption tokens on the main loop. */
#pragma once

#include <glib.h>

#include "store.h"

typedef struct StoreExpiry StoreExpiry;

/* The timer never fires more often than this, nor later than a day after arming (it
 * re-arms then), whatever the store answers. */
#define STORE_EXPIRY_MIN_DELAY_S 1
#define STORE_EXPIRY_MAX_DELAY_S (24 * 3600)
/* Tokens expired per turn of the main loop: when more are due (many tokens put in the same
 * second), the rest follow from an idle source, so no caller waits behind all of them. */
#define STORE_EXPIRY_SLICE 512

/* A timer for @store on @context (the thread default when NULL), not armed. @store is not
 * owned and must outlive it. */
StoreExpiry *store_expiry_new(Store *store, GMainContext *context);

/* Arms the timer for the store's earliest expiry, or disarms it when no token is left;
 * a timer that already fires no later than that is left alone. Call it after tokens
 * were stored or taken. */
void store_expiry_rearm(StoreExpiry *expiry);

/* Accepts NULL. */
void store_expiry_free(StoreExpiry *expiry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreExpiry, store_expiry_free)
