/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target of the choices file (daemon/model/state-file.c) and the remembered set of
 * the store (daemon/model/store.c): the input is the text of $XDG_STATE_HOME/tlsid/choices,
 * loaded by state_file_parse() as state_file_load() loads the file it read (the moving
 * aside of a bad file is left out: it is a rename). A store of at most
 * REMEMBERED_MAX choices takes it twice, once empty and once with the contexts of the
 * choices already open: both report the same, remember the same, and give each open
 * context its remembered choice, whether it was open before the load or opened after.
 * What the store remembers is written back (state_file_serialize) as a text that loads
 * without a problem and is written back the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "state-file.h"
#include "store.h"

/* Small, so that a few KiB of input reach the limit. */
#define REMEMBERED_MAX 16

typedef struct {
        char *context, *origin, *identity;
        int state;
} Choice;

static void choice_free(Choice *c) {
        g_free(c->context);
        g_free(c->origin);
        g_free(c->identity);
        g_free(c);
}

static void collect_cb(const char *context, const char *origin, int state,
                       const char *identity, gpointer user_data) {
        Choice *c = g_new0(Choice, 1);

        c->context = g_strdup(context);
        c->origin = g_strdup(origin);
        c->identity = g_strdup(identity);
        c->state = state;
        g_ptr_array_add(user_data, c);
}

/* The remembered choices of @store, in its (sorted) order. */
static GPtrArray *remembered(Store *store) {
        GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify) choice_free);

        store_foreach_remembered(store, collect_cb, list);
        return list;
}

static Store *new_store(void) {
        static const guint8 nonce[16] = { 7 };
        StoreLimits limits;

        store_limits_init(&limits);
        limits.max_remembered = REMEMBERED_MAX;
        return store_new(&limits, nonce);
}

static void open_contexts(Store *store, GPtrArray *choices) {
        for (guint i = 0; i < choices->len; i++) {
                const Choice *c = choices->pdata[i];
                g_autoptr(GError) error = NULL;

                if (!store_open_context(store, c->context, FALSE, NULL, NULL, &error)) {
                        fprintf(stderr, "cannot open %s: %s\n", c->context, error->message);
                        abort();
                }
        }
}

/* Every choice of @choices is in force in @store, whose contexts are open. */
static void check_in_force(Store *store, GPtrArray *choices) {
        for (guint i = 0; i < choices->len; i++) {
                const Choice *c = choices->pdata[i];
                StorePartition p;

                REQUIRE(store_get_partition(store, c->context, c->origin, &p, NULL));
                REQUIRE(p.state == c->state && strcmp(p.identity, c->identity) == 0);
                REQUIRE(p.remembered);
        }
}

static gboolean same_choices(GPtrArray *a, GPtrArray *b) {
        if (a->len != b->len)
                return FALSE;
        for (guint i = 0; i < a->len; i++) {
                const Choice *x = a->pdata[i], *y = b->pdata[i];

                if (strcmp(x->context, y->context) != 0 || strcmp(x->origin, y->origin) != 0 ||
                    strcmp(x->identity, y->identity) != 0 || x->state != y->state)
                        return FALSE;
        }
        return TRUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(Store) store = new_store();
        g_autoptr(Store) open_first = new_store();
        g_autoptr(Store) again = new_store();
        g_autofree char *problem = NULL, *problem_open = NULL, *problem_again = NULL;
        gboolean ok = state_file_parse(store, (const char *) data, size, &problem);
        g_autoptr(GPtrArray) choices = remembered(store);

        REQUIRE(ok == (problem == NULL));
        REQUIRE(ok || *problem);
        REQUIRE(choices->len <= REMEMBERED_MAX);
        for (guint i = 0; i < choices->len; i++) {
                const Choice *c = choices->pdata[i];

                REQUIRE(c->state == TLSID_STATE_NONE || c->state == TLSID_STATE_CERTIFICATE);
                REQUIRE((c->state == TLSID_STATE_CERTIFICATE) == (c->identity[0] != 0));
        }

        /* Contexts open at load time take their choices at once. */
        open_contexts(open_first, choices);
        REQUIRE(state_file_parse(open_first, (const char *) data, size, &problem_open) == ok);
        REQUIRE(g_strcmp0(problem, problem_open) == 0);
        g_autoptr(GPtrArray) choices_open = remembered(open_first);
        REQUIRE(same_choices(choices, choices_open));
        check_in_force(open_first, choices);
        open_contexts(store, choices);
        check_in_force(store, choices);

        /* What is remembered survives a save and a load. */
        g_autoptr(GBytes) saved = state_file_serialize(store);
        gsize len;
        const char *text = g_bytes_get_data(saved, &len);
        REQUIRE(state_file_parse(again, text ? text : "", len, &problem_again));
        g_autoptr(GPtrArray) choices_again = remembered(again);
        REQUIRE(same_choices(choices, choices_again));
        g_autoptr(GBytes) saved_again = state_file_serialize(again);
        REQUIRE(g_bytes_equal(saved, saved_again));
        return 0;
}
