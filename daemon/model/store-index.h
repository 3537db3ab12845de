/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store's ordered index: its items sorted by a two-part key, so that a list resumes
 * after any key in O(log n) and costs O(log n + page), whatever the store holds.
 *
 * Private to the model: store.c keeps one for its contexts (keyed by (id, ""), beside the
 * hash table it looks them up in) and one for its (context, origin) entries, which is also
 * where an entry is looked up (a hash slot per entry cost more than the entry's links). */
#pragma once

#include <glib.h>

typedef struct StoreIndex StoreIndex;

/* The index's links, embedded in each item: the index allocates nothing per item. */
typedef struct StoreIndexNode StoreIndexNode;
struct StoreIndexNode {
        StoreIndexNode *left, *right;
};

/* An item's key, read from the item itself; its strings must not change while the item
 * is in the index. */
typedef void (*StoreIndexKeyFn)(gconstpointer item, const char **ret_major,
                                const char **ret_minor);

/* An index of items that embed a StoreIndexNode at @node_offset. */
StoreIndex *store_index_new(gsize node_offset, StoreIndexKeyFn key_fn);
/* Frees the index, not the items. Accepts NULL. */
void store_index_free(StoreIndex *index);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreIndex, store_index_free)

/* Adds @item, whose key is not in the index yet. */
void store_index_add(StoreIndex *index, gpointer item);
/* Removes the item under (@major, @minor), if any. */
void store_index_remove(StoreIndex *index, const char *major, const char *minor);
/* The item under (@major, @minor), or NULL: O(log n) comparisons, a pointer compare
 * first, so the caller passing the very strings the items hold saves their strcmp. */
gpointer store_index_find(StoreIndex *index, const char *major, const char *minor);
/* How many items it holds (constant time). */
guint store_index_size(StoreIndex *index);

/* Called with each item of a walk, in key order; returns FALSE to stop before @item. */
typedef gboolean (*StoreIndexFn)(gpointer item, gpointer user_data);

/* Calls @fn for each item whose key sorts after (@after_major, @after_minor) (strcmp on
 * the major part, then on the minor; @after_major NULL: from the first item, whatever
 * @after_minor), in order, until @fn returns FALSE. With @only_major, only items whose
 * major part is @only_major. The key need not be in the index (an item removed since).
 * @fn must not change the index. Returns TRUE when @fn stopped the walk, FALSE when it
 * ran to the end. */
gboolean store_index_walk(StoreIndex *index, const char *only_major, const char *after_major,
                          const char *after_minor, StoreIndexFn fn, gpointer user_data);
