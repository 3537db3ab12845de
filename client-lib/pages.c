/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's paged lists: ListContexts, ListSessions and ListCertificates called page
 * after page, their entries read into one array, so a caller gets the whole list in one
 * call while the daemon never builds a reply larger than a page. */
#include <errno.h>
#include <string.h>

#include "libtlsid-private.h"

/* The call of the page after @cursor ("": the first), as many entries as the daemon
 * gives (limit 0). (transfer full) */
static DBusMessage *page_call(const ListCall *call, const char *cursor) {
        dbus_uint32_t limit = 0;

        if (call->context)
                return message_with_args(new_call(call->id), DBUS_TYPE_STRING, &call->context,
                                         DBUS_TYPE_STRING, &cursor, DBUS_TYPE_UINT32, &limit,
                                         DBUS_TYPE_INVALID);
        return message_with_args(new_call(call->id), DBUS_TYPE_STRING, &cursor,
                                 DBUS_TYPE_UINT32, &limit, DBUS_TYPE_INVALID);
}

/* Makes room for one more item of @size bytes in *@items, zeroed. */
static int grow(void **items, size_t *capacity, size_t n, size_t size) {
        size_t want;
        void *p;

        if (n < *capacity)
                return 0;
        want = *capacity ? *capacity * 2 : 64;
        if (want > SIZE_MAX / size)
                return set_oom();
        p = realloc(*items, want * size);
        if (!p)
                return set_oom();
        memset((char *) p + *capacity * size, 0, (want - *capacity) * size);
        *items = p;
        *capacity = want;
        return 0;
}

/* Reads the entries of one page into *@items and its next cursor into @ret_next
 * (owned by @reply); @ret_n_page counts the entries of this page. */
static int read_page(const ListCall *call, DBusMessage *reply, void **items, size_t *capacity,
                     size_t *n, size_t *ret_n_page, const char **ret_next) {
        DBusMessageIter iter, array, element;
        size_t before = *n;
        int r;

        if (!reply_has_signature(reply, call->id))
                return -EIO;
        dbus_message_iter_init(reply, &iter);
        for (dbus_message_iter_recurse(&iter, &array);
             dbus_message_iter_get_arg_type(&array) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&array)) {
                if ((r = grow(items, capacity, *n, call->item_size)) < 0)
                        return r;
                dbus_message_iter_recurse(&array, &element);
                /* Counted before reading: a half-read item is freed with the rest. */
                r = call->read_item(&element, (char *) *items + (*n)++ * call->item_size);
                if (r < 0)
                        return r;
        }
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, ret_next);
        *ret_n_page = *n - before;
        return 0;
}

int client_list_all(TlsidClient *c, const ListCall *call, void **ret_items, size_t *ret_n) {
        const char *name = interface_methods[call->id].name;
        const char *retry = call->context && *call->context ? call->context : NULL;
        _cleanup_(freep) char *cursor = strdup("");
        void *items = NULL;
        size_t n = 0, capacity = 0;
        int r;

        if (!cursor)
                return set_oom();
        for (;;) {
                _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
                const char *next;
                size_t n_page;

                r = client_call(c, page_call(call, cursor), retry, &reply);
                if (r >= 0)
                        r = read_page(call, reply, &items, &capacity, &n, &n_page, &next);
                if (r < 0)
                        break;
                if (!*next) {
                        *ret_items = items;
                        *ret_n = n;
                        return 0;
                }
                /* A daemon that does not move on would keep us here for ever. */
                if (n_page == 0 || strcmp(next, cursor) == 0) {
                        r = set_error(-EIO, "%s: a page that is not the last moved nowhere",
                                      name);
                        break;
                }
                free(cursor);
                if (!(cursor = strdup(next))) {
                        r = set_oom();
                        break;
                }
        }
        call->free_items(items, n);
        return r;
}
