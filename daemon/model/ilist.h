/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An intrusive doubly-linked list: the item embeds its IListLink (two pointers, where a
 * GList link embedded for GQueue takes three), so linking and unlinking are O(1) and
 * allocate nothing. ILIST_ITEM() gets the item back from its link. */
#pragma once

#include <glib.h>

typedef struct IListLink IListLink;
struct IListLink {
        IListLink *prev, *next;
};

typedef struct {
        IListLink *head, *tail;
        guint length;
} IList;

#define ILIST_ITEM(link, type, member) \
        ((type *) ((guint8 *) (link) - G_STRUCT_OFFSET(type, member)))

static inline void ilist_init(IList *list) {
        *list = (IList) { NULL, NULL, 0 };
}

static inline void ilist_push_tail(IList *list, IListLink *link) {
        link->next = NULL;
        link->prev = list->tail;
        if (list->tail)
                list->tail->next = link;
        else
                list->head = link;
        list->tail = link;
        list->length++;
}

/* @link must be in @list. */
static inline void ilist_unlink(IList *list, IListLink *link) {
        if (link->prev)
                link->prev->next = link->next;
        else
                list->head = link->next;
        if (link->next)
                link->next->prev = link->prev;
        else
                list->tail = link->prev;
        link->prev = link->next = NULL;
        list->length--;
}
