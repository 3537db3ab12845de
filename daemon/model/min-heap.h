/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An intrusive binary min-heap: the item embeds its MinHeapNode, which remembers its
 * place in the array, so the minimum is O(1) and an insertion or a removal from anywhere
 * O(log n), at one pointer per item (a GSequence costs a 48-byte node per item). */
#pragma once

#include <glib.h>

typedef struct {
        guint index; /* in the heap's array; meaningless while in no heap */
} MinHeapNode;

/* Whether @a sorts strictly before @b (container_of() the nodes to compare the items). */
typedef gboolean (*MinHeapLessFn)(const MinHeapNode *a, const MinHeapNode *b);

typedef struct MinHeap MinHeap;

MinHeap *min_heap_new(MinHeapLessFn less);
/* The items are not owned. Accepts NULL. */
void min_heap_free(MinHeap *heap);
void min_heap_push(MinHeap *heap, MinHeapNode *node);
/* @node must be in @heap. */
void min_heap_remove(MinHeap *heap, MinHeapNode *node);
/* The least item, or NULL when empty. */
MinHeapNode *min_heap_peek(const MinHeap *heap);
guint min_heap_size(const MinHeap *heap);
