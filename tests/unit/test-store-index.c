/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the store's ordered index (daemon/model/store-index.c). */
#include <check.h>
#include <string.h>

#include "check-main.h"
#include "store-index.h"

typedef struct {
        char major[8];
        StoreIndexNode node; /* not first: the index finds the item by its offset */
        char minor[16];
        gboolean in_index;
} Item;

static void item_key(gconstpointer item, const char **ret_major, const char **ret_minor) {
        const Item *it = item;

        *ret_major = it->major;
        *ret_minor = it->minor;
}

static int item_compare(const Item *a, const Item *b) {
        int c = strcmp(a->major, b->major);

        return c != 0 ? c : strcmp(a->minor, b->minor);
}

typedef struct {
        const Item **got;
        guint n, stop_after;
} Walk;

static gboolean collect(gpointer item, gpointer user_data) {
        Walk *w = user_data;

        if (w->n == w->stop_after)
                return FALSE;
        w->got[w->n++] = item;
        return TRUE;
}

/* Checks one walk against a scan of @items: the same items, in key order. */
static void check_walk(StoreIndex *index, Item *items, guint n_items, const char *only,
                       const char *after_major, const char *after_minor, guint stop_after) {
        g_autofree const Item **want = g_new0(const Item *, n_items);
        g_autofree const Item **got = g_new0(const Item *, n_items + 1);
        Item bound = { 0 };
        Walk w = { got, 0, stop_after };
        guint n_want = 0;
        gboolean stopped;

        if (after_major) {
                g_strlcpy(bound.major, after_major, sizeof bound.major);
                g_strlcpy(bound.minor, after_minor, sizeof bound.minor);
        }
        for (guint i = 0; i < n_items; i++) {
                const Item *it = &items[i];

                if (!it->in_index || (only && strcmp(it->major, only) != 0) ||
                    (after_major && item_compare(it, &bound) <= 0))
                        continue;
                want[n_want++] = it;
        }
        for (guint i = 1; i < n_want; i++)
                for (guint j = i; j > 0 && item_compare(want[j - 1], want[j]) > 0; j--) {
                        const Item *t = want[j];

                        want[j] = want[j - 1];
                        want[j - 1] = t;
                }
        stopped = store_index_walk(index, only, after_major, after_minor, collect, &w);
        ck_assert_int_eq(stopped, n_want > stop_after);
        ck_assert_uint_eq(w.n, MIN(n_want, stop_after));
        for (guint i = 0; i < w.n; i++)
                ck_assert_ptr_eq(got[i], want[i]);
}

/* Adds and removes in a random order: size, lookups, and walks from random keys (present, removed
 * or never added; within one major part or across all) against a scan. */
START_TEST(test_store_index_walks) {
        enum { N = 600 };
        static const char *majors[] = { "a", "b", "bb", "c", "d" };
        Item *items = g_new0(Item, N);
        StoreIndex *index = store_index_new(G_STRUCT_OFFSET(Item, node), item_key);
        GRand *rand = g_rand_new_with_seed(13);
        guint size = 0;

        for (int i = 0; i < N; i++) {
                /* The first of each major part has the minor part "", which sorts first
                 * (as a context's key does). */
                g_strlcpy(items[i].major, majors[i < 5 ? i : g_rand_int_range(rand, 0, 5)],
                          sizeof items[i].major);
                if (i >= 5)
                        g_snprintf(items[i].minor, sizeof items[i].minor, "%.*s%04d",
                                   g_rand_int_range(rand, 0, 2) ? 1 : 0, "m", i);
        }
        for (int round = 0; round < 3 * N; round++) {
                Item *it = &items[g_rand_int_range(rand, 0, N)];

                if (it->in_index) {
                        store_index_remove(index, it->major, it->minor);
                        size--;
                } else {
                        store_index_add(index, it);
                        size++;
                }
                it->in_index = !it->in_index;
                ck_assert_uint_eq(store_index_size(index), size);
                /* Found by key (equal strings, not the item's own) exactly while in. */
                {
                        char major[8], minor[16];

                        g_strlcpy(major, it->major, sizeof major);
                        g_strlcpy(minor, it->minor, sizeof minor);
                        ck_assert_ptr_eq(store_index_find(index, major, minor),
                                         it->in_index ? it : NULL);
                        ck_assert_ptr_eq(store_index_find(index, it->major, it->minor),
                                         it->in_index ? it : NULL);
                }
                if (round % 50 == 0) {
                        const Item *from = &items[g_rand_int_range(rand, 0, N)];
                        const char *only = g_rand_int_range(rand, 0, 2)
                                                   ? majors[g_rand_int_range(rand, 0, 5)]
                                                   : NULL;
                        guint stop = g_rand_int_range(rand, 0, 2) ? G_MAXUINT
                                                                  : (guint) g_rand_int_range(rand, 0, 20);

                        check_walk(index, items, N, only, NULL, NULL, stop);
                        check_walk(index, items, N, only, from->major, from->minor, stop);
                        check_walk(index, items, N, only, from->major, "zz", stop);
                        check_walk(index, items, N, only, "", "", stop);
                        check_walk(index, items, N, only, "bz", "", stop);
                }
        }
        /* Removing a key not in the index changes nothing. */
        store_index_remove(index, "nope", "");
        ck_assert_uint_eq(store_index_size(index), size);
        g_rand_free(rand);
        store_index_free(index);
        g_free(items);
}
END_TEST

/* Items added in key order, the worst case of an unbalanced tree: every walk still sees
 * all of them, in order, however deep its path. */
START_TEST(test_store_index_sorted_adds) {
        enum { N = 20000 };
        Item *items = g_new0(Item, N);
        StoreIndex *index = store_index_new(G_STRUCT_OFFSET(Item, node), item_key);

        for (int i = 0; i < N; i++) {
                g_strlcpy(items[i].major, "x", sizeof items[i].major);
                g_snprintf(items[i].minor, sizeof items[i].minor, "%06d", i);
                items[i].in_index = TRUE;
                store_index_add(index, &items[i]);
        }
        check_walk(index, items, N, NULL, NULL, NULL, G_MAXUINT);
        check_walk(index, items, N, "x", "x", "010000", G_MAXUINT);
        for (int i = 0; i < N; i += 2) {
                store_index_remove(index, items[i].major, items[i].minor);
                items[i].in_index = FALSE;
        }
        ck_assert_uint_eq(store_index_size(index), N / 2);
        check_walk(index, items, N, "x", NULL, NULL, G_MAXUINT);
        store_index_free(index);
        g_free(items);
}
END_TEST

static Suite *store_index_suite(void) {
        Suite *s = suite_create("store-index");
        TCase *tc = tcase_create("store-index");

        tcase_add_test(tc, test_store_index_walks);
        tcase_add_test(tc, test_store_index_sorted_adds);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(store_index_suite(), CK_FORK_GETENV);
}
