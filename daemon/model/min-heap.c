/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The intrusive binary min-heap. */
#include "min-heap.h"

#define MIN_ALLOC 16

struct MinHeap {
        MinHeapNode **nodes;
        guint len, alloc;
        MinHeapLessFn less;
};

MinHeap *min_heap_new(MinHeapLessFn less) {
        MinHeap *heap = g_new0(MinHeap, 1);

        heap->less = less;
        return heap;
}

void min_heap_free(MinHeap *heap) {
        if (!heap)
                return;
        g_free(heap->nodes);
        g_free(heap);
}

static void place(MinHeap *heap, guint i, MinHeapNode *node) {
        heap->nodes[i] = node;
        node->index = i;
}

static void sift_up(MinHeap *heap, guint i) {
        MinHeapNode *node = heap->nodes[i];

        while (i > 0) {
                guint parent = (i - 1) / 2;

                if (!heap->less(node, heap->nodes[parent]))
                        break;
                place(heap, i, heap->nodes[parent]);
                i = parent;
        }
        place(heap, i, node);
}

static void sift_down(MinHeap *heap, guint i) {
        MinHeapNode *node = heap->nodes[i];

        for (;;) {
                guint child = 2 * i + 1;

                if (child >= heap->len)
                        break;
                if (child + 1 < heap->len && heap->less(heap->nodes[child + 1], heap->nodes[child]))
                        child++;
                if (!heap->less(heap->nodes[child], node))
                        break;
                place(heap, i, heap->nodes[child]);
                i = child;
        }
        place(heap, i, node);
}

void min_heap_push(MinHeap *heap, MinHeapNode *node) {
        if (heap->len == heap->alloc) {
                heap->alloc = MAX(MIN_ALLOC, heap->alloc * 2);
                heap->nodes = g_renew(MinHeapNode *, heap->nodes, heap->alloc);
        }
        place(heap, heap->len++, node);
        sift_up(heap, heap->len - 1);
}

void min_heap_remove(MinHeap *heap, MinHeapNode *node) {
        guint i = node->index;
        MinHeapNode *last;

        g_return_if_fail(i < heap->len && heap->nodes[i] == node);
        last = heap->nodes[--heap->len];
        if (i < heap->len) {
                place(heap, i, last);
                if (i > 0 && heap->less(last, heap->nodes[(i - 1) / 2]))
                        sift_up(heap, i);
                else
                        sift_down(heap, i);
        }
        /* A large drop gives the array back too. */
        if (heap->alloc > MIN_ALLOC && heap->len < heap->alloc / 4) {
                heap->alloc /= 2;
                heap->nodes = g_renew(MinHeapNode *, heap->nodes, heap->alloc);
        }
}

MinHeapNode *min_heap_peek(const MinHeap *heap) {
        return heap->len > 0 ? heap->nodes[0] : NULL;
}

guint min_heap_size(const MinHeap *heap) {
        return heap->len;
}
