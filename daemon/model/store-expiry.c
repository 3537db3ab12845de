/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token expiry timer. */
#include "store-expiry.h"

struct StoreExpiry {
        Store *store;
        GMainContext *context;
        GSource *source;
        gint64 at; /* when @source fires, in Unix seconds */
};

static void disarm(StoreExpiry *e) {
        if (e->source) {
                g_source_destroy(e->source);
                g_clear_pointer(&e->source, g_source_unref);
        }
}

static gboolean expiry_cb(gpointer data) {
        StoreExpiry *e = data;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        gint64 next;

        g_clear_pointer(&e->source, g_source_unref);
        store_expire(e->store, now, STORE_EXPIRY_SLICE);
        next = store_next_expiry(e->store);
        if (next != 0 && next <= now) {
                /* More are due: the next slice after whatever else is waiting. */
                e->at = now;
                e->source = g_idle_source_new();
                g_source_set_name(e->source, "tlsid-expiry-slice");
                g_source_set_callback(e->source, expiry_cb, e, NULL);
                g_source_attach(e->source, e->context);
                return G_SOURCE_REMOVE;
        }
        store_expiry_rearm(e);
        return G_SOURCE_REMOVE;
}

StoreExpiry *store_expiry_new(Store *store, GMainContext *context) {
        StoreExpiry *e = g_new0(StoreExpiry, 1);

        e->store = store;
        e->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
        return e;
}

void store_expiry_rearm(StoreExpiry *e) {
        gint64 next = store_next_expiry(e->store);

        if (next == 0) {
                disarm(e);
                return;
        }
        if (e->source && e->at <= next)
                return;
        disarm(e);

        gint64 now_ms = g_get_real_time() / 1000;
        gint64 delay_ms = next * 1000 - now_ms;
        gint64 delay_s = (delay_ms + 999) / 1000;
        delay_s = CLAMP(delay_s, STORE_EXPIRY_MIN_DELAY_S, STORE_EXPIRY_MAX_DELAY_S);

        e->at = now_ms / 1000 + delay_s;
        e->source = g_timeout_source_new((guint) delay_s * 1000);
        g_source_set_name(e->source, "tlsid-expiry");
        g_source_set_callback(e->source, expiry_cb, e, NULL);
        g_source_attach(e->source, e->context);
}

void store_expiry_free(StoreExpiry *e) {
        if (!e)
                return;
        disarm(e);
        g_main_context_unref(e->context);
        g_free(e);
}
