/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the intrusive min-heap (daemon/model/min-heap.c). */
#include <check.h>

#include "check-main.h"
#include "min-heap.h"

typedef struct {
        MinHeapNode node; /* first: the node's address is the item's */
        int key;
        int serial;
        gboolean in_heap;
} Item;

static gboolean item_less(const MinHeapNode *a, const MinHeapNode *b) {
        const Item *x = (const Item *) a, *y = (const Item *) b;

        return x->key != y->key ? x->key < y->key : x->serial < y->serial;
}

/* The least item in heap (by a scan of @items), or NULL. */
static Item *least(Item *items, int n) {
        Item *best = NULL;

        for (int i = 0; i < n; i++)
                if (items[i].in_heap && (!best || item_less(&items[i].node, &best->node)))
                        best = &items[i];
        return best;
}

/* Pushes and removes from anywhere in a random order: the minimum is always the least
 * item (ties by serial, as the store breaks them), and popping gives the whole order. */
START_TEST(test_min_heap_order) {
        enum { N = 2000 };
        Item *items = g_new0(Item, N);
        MinHeap *heap = min_heap_new(item_less);
        GRand *rand = g_rand_new_with_seed(13);
        guint size = 0;
        Item *prev = NULL;

        ck_assert_ptr_null(min_heap_peek(heap));
        for (int i = 0; i < N; i++) {
                items[i].key = g_rand_int_range(rand, 0, 100); /* many ties */
                items[i].serial = i;
        }
        for (int round = 0; round < 4 * N; round++) {
                Item *it = &items[g_rand_int_range(rand, 0, N)];

                if (it->in_heap) {
                        min_heap_remove(heap, &it->node);
                        size--;
                } else {
                        min_heap_push(heap, &it->node);
                        size++;
                }
                it->in_heap = !it->in_heap;
                ck_assert_uint_eq(min_heap_size(heap), size);
                ck_assert_ptr_eq(min_heap_peek(heap), size ? &least(items, N)->node : NULL);
        }
        while (min_heap_peek(heap)) {
                Item *it = (Item *) min_heap_peek(heap);

                if (prev)
                        ck_assert(item_less(&prev->node, &it->node));
                min_heap_remove(heap, &it->node);
                it->in_heap = FALSE;
                prev = it;
        }
        ck_assert_uint_eq(min_heap_size(heap), 0);
        g_rand_free(rand);
        min_heap_free(heap);
        g_free(items);
}
END_TEST

static Suite *min_heap_suite(void) {
        Suite *s = suite_create("min-heap");
        TCase *tc = tcase_create("min-heap");

        tcase_add_test(tc, test_min_heap_order);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(min_heap_suite(), CK_FORK_GETENV);
}
