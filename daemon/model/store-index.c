/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store's ordered index: items by a two-part key, walked from any key. */
#include "store-index.h"

#include <string.h>

/* A treap: a binary search tree by key that is also a max-heap by a priority hashed from
 * the node's address, so its expected depth is O(log n) whatever order the keys come in,
 * with no balance data and no parent link in the node (a GTree node was a 48-byte
 * allocation per item). Insertion splits and removal merges, both iterative; a walk keeps
 * its path on a stack. Priorities come from addresses, which clients do not choose. */
struct StoreIndex {
        StoreIndexNode *root;
        gsize node_offset;
        StoreIndexKeyFn key_fn;
        guint size;
};

typedef StoreIndexNode Node;

static gpointer item_of(const StoreIndex *index, const Node *node) {
        return (guint8 *) node - index->node_offset;
}

static Node *node_of(const StoreIndex *index, gpointer item) {
        return (Node *) ((guint8 *) item + index->node_offset);
}

/* A 64-bit mix of the node's address (the finaliser of MurmurHash3). */
static guint64 priority(const Node *node) {
        guint64 x = (guint64) (guintptr) node;

        x ^= x >> 33;
        x *= G_GUINT64_CONSTANT(0xff51afd7ed558ccd);
        x ^= x >> 33;
        x *= G_GUINT64_CONSTANT(0xc4ceb9fe1a85ec53);
        x ^= x >> 33;
        return x;
}

/* The node's key against (@major, @minor). */
static int compare(const StoreIndex *index, const Node *node, const char *major,
                   const char *minor) {
        const char *node_major, *node_minor;
        int c;

        index->key_fn(item_of(index, node), &node_major, &node_minor);
        c = node_major == major ? 0 : strcmp(node_major, major);
        return c != 0 ? c : strcmp(node_minor, minor);
}

StoreIndex *store_index_new(gsize node_offset, StoreIndexKeyFn key_fn) {
        StoreIndex *index = g_new0(StoreIndex, 1);

        index->node_offset = node_offset;
        index->key_fn = key_fn;
        return index;
}

void store_index_free(StoreIndex *index) {
        g_free(index);
}

/* Splits @tree into the keys below (@major, @minor) and those above (the key itself is
 * not in @tree). */
static void split(const StoreIndex *index, Node *tree, const char *major, const char *minor,
                  Node **ret_below, Node **ret_above) {
        while (tree) {
                if (compare(index, tree, major, minor) < 0) {
                        *ret_below = tree;
                        ret_below = &tree->right;
                        tree = tree->right;
                } else {
                        *ret_above = tree;
                        ret_above = &tree->left;
                        tree = tree->left;
                }
        }
        *ret_below = *ret_above = NULL;
}

/* Joins @below and @above, every key of @below sorting before every key of @above. */
static Node *merge(Node *below, Node *above) {
        Node *root = NULL, **link = &root;

        while (below && above) {
                if (priority(below) > priority(above)) {
                        *link = below;
                        link = &below->right;
                        below = below->right;
                } else {
                        *link = above;
                        link = &above->left;
                        above = above->left;
                }
        }
        *link = below ? below : above;
        return root;
}

void store_index_add(StoreIndex *index, gpointer item) {
        Node *node = node_of(index, item), **link = &index->root;
        guint64 prio = priority(node);
        const char *major, *minor;

        index->key_fn(item, &major, &minor);
        while (*link && priority(*link) > prio)
                link = compare(index, *link, major, minor) < 0 ? &(*link)->right
                                                                : &(*link)->left;
        split(index, *link, major, minor, &node->left, &node->right);
        *link = node;
        index->size++;
}

void store_index_remove(StoreIndex *index, const char *major, const char *minor) {
        Node **link = &index->root;

        while (*link) {
                int c = compare(index, *link, major, minor);

                if (c == 0) {
                        Node *node = *link;

                        *link = merge(node->left, node->right);
                        node->left = node->right = NULL;
                        index->size--;
                        return;
                }
                link = c < 0 ? &(*link)->right : &(*link)->left;
        }
}

gpointer store_index_find(StoreIndex *index, const char *major, const char *minor) {
        Node *node = index->root;

        while (node) {
                int c = compare(index, node, major, minor);

                if (c == 0)
                        return item_of(index, node);
                node = c < 0 ? node->right : node->left;
        }
        return NULL;
}

guint store_index_size(StoreIndex *index) {
        return index->size;
}

/* The nodes of a walk still to visit, each before its right subtree. */
typedef struct {
        Node **nodes;
        Node *fixed[64];
        guint len, alloc;
} Path;

static void path_push(Path *path, Node *node) {
        if (path->len == path->alloc) {
                path->alloc *= 2;
                if (path->nodes == path->fixed)
                        path->nodes = g_memdup2(path->fixed, sizeof path->fixed);
                path->nodes = g_renew(Node *, path->nodes, path->alloc);
        }
        path->nodes[path->len++] = node;
}

/* Pushes @tree's nodes from its root down its left side. */
static void path_push_left(Path *path, Node *tree) {
        for (; tree; tree = tree->left)
                path_push(path, tree);
}

/* Pushes the path to the first node of @tree at or after (@major, @minor) (after it only,
 * unless @inclusive): every node on the way that sorts there, each before its left
 * subtree's share. */
static void path_seek(const StoreIndex *index, Path *path, Node *tree, const char *major,
                      const char *minor, gboolean inclusive) {
        while (tree) {
                int c = compare(index, tree, major, minor);

                if (c > 0 || (c == 0 && inclusive)) {
                        path_push(path, tree);
                        tree = tree->left;
                } else {
                        tree = tree->right;
                }
        }
}

gboolean store_index_walk(StoreIndex *index, const char *only_major, const char *after_major,
                          const char *after_minor, StoreIndexFn fn, gpointer user_data) {
        Path path = { .alloc = G_N_ELEMENTS(path.fixed) };
        gboolean stopped = FALSE;

        path.nodes = path.fixed;
        /* "" sorts first: (@only_major, "") inclusive is @only_major's first item. */
        if (only_major && (!after_major || strcmp(after_major, only_major) < 0))
                path_seek(index, &path, index->root, only_major, "", TRUE);
        else if (after_major)
                path_seek(index, &path, index->root, after_major,
                          after_minor ? after_minor : "", FALSE);
        else
                path_push_left(&path, index->root);

        while (path.len > 0) {
                Node *node = path.nodes[--path.len];
                gpointer item = item_of(index, node);

                if (only_major) {
                        const char *major, *minor;

                        index->key_fn(item, &major, &minor);
                        if (strcmp(major, only_major) != 0)
                                break;
                }
                if (!fn(item, user_data)) {
                        stopped = TRUE;
                        break;
                }
                path_push_left(&path, node->right);
        }
        if (path.nodes != path.fixed)
                g_free(path.nodes);
        return stopped;
}
