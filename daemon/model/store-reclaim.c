/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The idle reclamation of dropped tokens. */
#include "store-reclaim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Tokens freed between two looks at the clock. */
#define CLOCK_EVERY 64

struct StoreReclaimer {
        Store *store;
        GMainContext *context;
        GSource *source;
        guint64 since_trim; /* tokens freed since the last malloc_trim() */
};

static gboolean reclaim_cb(gpointer data) {
        StoreReclaimer *r = data;
        gint64 deadline = g_get_monotonic_time() + STORE_RECLAIM_SLICE_US;
        guint done = 0;

        while (done < STORE_RECLAIM_SLICE && store_reclaim_pending(r->store) > 0) {
                done += store_reclaim(r->store, MIN(CLOCK_EVERY, STORE_RECLAIM_SLICE - done));
                if (g_get_monotonic_time() >= deadline)
                        break;
        }
        r->since_trim += done;
        if (store_reclaim_pending(r->store) > 0)
                return G_SOURCE_CONTINUE;
#ifdef __GLIBC__
        if (r->since_trim >= STORE_RECLAIM_TRIM_TOKENS &&
            mallinfo2().fordblks >= STORE_RECLAIM_TRIM_FREE_BYTES)
                malloc_trim(0);
#endif
        r->since_trim = 0;
        g_clear_pointer(&r->source, g_source_unref);
        return G_SOURCE_REMOVE;
}

StoreReclaimer *store_reclaimer_new(Store *store, GMainContext *context) {
        StoreReclaimer *r = g_new0(StoreReclaimer, 1);

        r->store = store;
        r->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
        return r;
}

void store_reclaimer_kick(StoreReclaimer *r) {
        if (r->source || store_reclaim_pending(r->store) == 0)
                return;
        /* Below every source that delivers calls: a caller is always served first. */
        r->source = g_idle_source_new();
        g_source_set_priority(r->source, G_PRIORITY_DEFAULT_IDLE);
        g_source_set_name(r->source, "tlsid-reclaim");
        g_source_set_callback(r->source, reclaim_cb, r, NULL);
        g_source_attach(r->source, r->context);
}

void store_reclaimer_free(StoreReclaimer *r) {
        if (!r)
                return;
        if (r->source) {
                g_source_destroy(r->source);
                g_source_unref(r->source);
        }
        g_main_context_unref(r->context);
        g_free(r);
}
