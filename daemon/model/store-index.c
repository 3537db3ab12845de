/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store's ordered index: items by a two-part key, walked from any key. */
#include "store-index.h"

#include <string.h>

/* A GTree is a balanced, threaded tree: finding a key's successor is O(log n) and each
 * further step amortised O(1), which is what a page needs. */
struct StoreIndex {
        GTree *tree; /* StoreIndexKey* (in the item) -> item */
};

typedef StoreIndexKey IndexKey;

static gint index_key_compare(gconstpointer a, gconstpointer b, gpointer user_data) {
        const IndexKey *x = a, *y = b;
        int c = strcmp(x->major, y->major);

        return c != 0 ? c : strcmp(x->minor, y->minor);
}

StoreIndex *store_index_new(void) {
        StoreIndex *index = g_new0(StoreIndex, 1);

        index->tree = g_tree_new_full(index_key_compare, NULL, NULL, NULL);
        return index;
}

void store_index_free(StoreIndex *index) {
        if (!index)
                return;
        g_tree_destroy(index->tree);
        g_free(index);
}

void store_index_add(StoreIndex *index, const StoreIndexKey *key, gpointer item) {
        g_tree_insert(index->tree, (gpointer) key, item);
}

void store_index_remove(StoreIndex *index, const char *major, const char *minor) {
        IndexKey probe = { major, minor };

        g_tree_remove(index->tree, &probe);
}

guint store_index_size(StoreIndex *index) {
        return (guint) g_tree_nnodes(index->tree);
}

/* The first node of the walk: after the key, and not before @only_major's first. */
static GTreeNode *walk_start(StoreIndex *index, const char *only_major, const char *after_major,
                             const char *after_minor) {
        if (only_major && (!after_major || strcmp(after_major, only_major) < 0)) {
                IndexKey first = { only_major, "" };

                /* "" sorts first: the lower bound is @only_major's first item. */
                return g_tree_lower_bound(index->tree, &first);
        }
        if (after_major) {
                IndexKey after = { after_major, after_minor ? after_minor : "" };

                return g_tree_upper_bound(index->tree, &after);
        }
        return g_tree_node_first(index->tree);
}

gboolean store_index_walk(StoreIndex *index, const char *only_major, const char *after_major,
                          const char *after_minor, StoreIndexFn fn, gpointer user_data) {
        for (GTreeNode *node = walk_start(index, only_major, after_major, after_minor); node;
             node = g_tree_node_next(node)) {
                const IndexKey *key = g_tree_node_key(node);

                if (only_major && strcmp(key->major, only_major) != 0)
                        break;
                if (!fn(g_tree_node_value(node), user_data))
                        return TRUE;
        }
        return FALSE;
}
