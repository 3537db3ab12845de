/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ListContexts, ListSessions and ListCertificates: one page per call, cut by count and by
 * its size on the wire, and the cursors that resume them. */
#include <string.h>

#include "args.h"
#include "bus-glib.h"
#include "cert-args.h"
#include "cert-listing.h"
#include "error.h"
#include "manager-private.h"
#include "tlsid-ids.h"
#include "wire-size.h"

/* A session entry: (s context, s origin, s identity, u, u, x, t). */
#define SESSION_ENTRY_FIXED (WIRE_STRUCT + 3 * WIRE_STRING(0) + 2 * WIRE_U32 + 2 * WIRE_U64)
/* A context entry: (s context, a{sv}) with the six keys of list_context_cb(). */
#define CONTEXT_ENTRY_FIXED                                                            \
        (WIRE_STRUCT + WIRE_STRING(0) + WIRE_DICT +                                    \
         WIRE_DICT_ENTRY("label", WIRE_STRING(0)) + WIRE_DICT_ENTRY("ephemeral", WIRE_U32) + \
         WIRE_DICT_ENTRY("partitions", WIRE_U32) + WIRE_DICT_ENTRY("tokens", WIRE_U32) +   \
         WIRE_DICT_ENTRY("bytes", WIRE_U64) + WIRE_DICT_ENTRY("choices", WIRE_U32))

/* Even the largest entry leaves room for many on a page. */
G_STATIC_ASSERT(SESSION_ENTRY_FIXED + TLSID_CONTEXT_MAX + TLSID_ORIGIN_MAX +
                TLSID_IDENTITY_LEN <= TLSID_LIST_PAGE_BYTES / 64);
G_STATIC_ASSERT(CONTEXT_ENTRY_FIXED + TLSID_CONTEXT_MAX + TLSID_LABEL_MAX <=
                TLSID_LIST_PAGE_BYTES / 64);

/* The page being filled. */
typedef struct {
        DBusMessageIter *array;
        guint limit;
        guint n;
        gsize bytes;            /* the bounds of the entries so far */
        const char *last_major; /* the key of the last entry, owned by the store */
        const char *last_minor;
} Page;

/* A @limit of 0, or one past the cap, is the cap. */
static guint page_limit(guint limit) {
        return limit == 0 || limit > TLSID_LIST_PAGE_MAX ? TLSID_LIST_PAGE_MAX : limit;
}

/* Whether an entry of @bound bytes fits on @page; it then counts. The first always fits
 * (see the assertions above), so every page but the last moves on. */
static gboolean page_take(Page *page, gsize bound) {
        if (page->n > 0 && (page->n >= page->limit || page->bytes + bound > TLSID_LIST_PAGE_BYTES))
                return FALSE;
        page->n++;
        page->bytes += bound;
        return TRUE;
}

/* Closes @page's array and appends (s next_cursor, u total): @next_cursor is "" when the
 * list ran out. */
static DBusMessage *page_finish(DBusMessage *reply, DBusMessageIter *out, DBusMessageIter *array,
                                const char *next_cursor, guint total) {
        dbus_uint32_t total_v = total;

        close_container(out, array);
        append_basic(out, DBUS_TYPE_STRING, &next_cursor);
        append_basic(out, DBUS_TYPE_UINT32, &total_v);
        return reply;
}

static gboolean bad_cursor(GError **error, const char *cursor, const char *why) {
        g_autofree char *q = error_quote(cursor);

        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT, "cursor %s: %s", q, why);
        return FALSE;
}

/* --- ListContexts: the cursor is the last context's id --- */

static gboolean list_context_cb(const StoreContextInfo *info, gpointer user_data) {
        Page *page = user_data;
        DBusMessageIter entry, dict;
        dbus_bool_t ephemeral = info->ephemeral;

        if (!page_take(page, CONTEXT_ENTRY_FIXED + strlen(info->context) + strlen(info->label)))
                return FALSE;
        open_container(page->array, DBUS_TYPE_STRUCT, NULL, &entry);
        append_basic(&entry, DBUS_TYPE_STRING, &info->context);
        open_container(&entry, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append(&dict, "label", DBUS_TYPE_STRING, &info->label);
        dict_append(&dict, "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral);
        dict_append_uint32(&dict, "partitions", info->partitions);
        dict_append_uint32(&dict, "tokens", info->tokens);
        dict_append_uint64(&dict, "bytes", info->bytes);
        dict_append_uint32(&dict, "choices", info->choices);
        close_container(&entry, &dict);
        close_container(page->array, &entry);
        page->last_major = info->context;
        return TRUE;
}

gboolean method_list_contexts(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                              GError **error) {
        DBusMessageIter it, out, array;
        guint total;

        dbus_message_iter_init(message, &it);
        const char *cursor = iter_string(&it);
        Page page = { .array = &array, .limit = page_limit(iter_uint32(&it)) };
        if (*cursor && id_context_check(cursor))
                return bad_cursor(error, cursor, "not one ListContexts returned");

        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "(sa{sv})", &array);
        gboolean more = store_list_contexts(m->store, cursor, list_context_cb, &page, &total);
        *ret_reply = page_finish(reply, &out, &array, more ? page.last_major : "", total);
        return TRUE;
}

/* --- ListSessions: the cursor is the last entry's "CONTEXT ORIGIN" --- */

static gboolean list_session_cb(const StoreSessionInfo *info, gpointer user_data) {
        Page *page = user_data;
        DBusMessageIter entry;
        dbus_uint32_t generation = info->generation;
        dbus_uint32_t tokens = info->tokens;
        dbus_int64_t earliest = info->earliest_expiry;
        dbus_uint64_t bytes = info->bytes;

        if (!page_take(page, SESSION_ENTRY_FIXED + strlen(info->context) + strlen(info->origin) +
                                     strlen(info->identity)))
                return FALSE;
        open_container(page->array, DBUS_TYPE_STRUCT, NULL, &entry);
        append_basic(&entry, DBUS_TYPE_STRING, &info->context);
        append_basic(&entry, DBUS_TYPE_STRING, &info->origin);
        append_basic(&entry, DBUS_TYPE_STRING, &info->identity);
        append_basic(&entry, DBUS_TYPE_UINT32, &generation);
        append_basic(&entry, DBUS_TYPE_UINT32, &tokens);
        append_basic(&entry, DBUS_TYPE_INT64, &earliest);
        append_basic(&entry, DBUS_TYPE_UINT64, &bytes);
        close_container(page->array, &entry);
        page->last_major = info->context;
        page->last_minor = info->origin;
        return TRUE;
}

/* Splits a ListSessions cursor of a list of @context ("": all) into its key. Neither a
 * context id nor an origin holds a space. */
static gboolean parse_session_cursor(const char *cursor, const char *context,
                                     char **ret_context, const char **ret_origin,
                                     GError **error) {
        const char *space = strchr(cursor, ' ');
        g_autofree char *after = NULL;

        if (!space)
                return bad_cursor(error, cursor, "not one ListSessions returned");
        after = g_strndup(cursor, (gsize) (space - cursor));
        if (id_context_check(after) || id_origin_check(space + 1))
                return bad_cursor(error, cursor, "not one ListSessions returned");
        if (*context && strcmp(after, context) != 0)
                return bad_cursor(error, cursor, "from the list of another context");
        *ret_context = g_steal_pointer(&after);
        *ret_origin = space + 1;
        return TRUE;
}

gboolean method_list_sessions(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                              GError **error) {
        DBusMessageIter it, out, array;
        g_autofree char *after_context = NULL;
        g_autofree char *next_cursor = NULL;
        const char *after_origin = NULL;
        gboolean more;
        guint total;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *cursor = iter_string(&it);
        Page page = { .array = &array, .limit = page_limit(iter_uint32(&it)) };
        if (*cursor && !parse_session_cursor(cursor, context, &after_context, &after_origin,
                                             error))
                return FALSE;

        g_autoptr(DBusMessage) reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "(sssuuxt)", &array);
        if (!store_list_sessions(m->store, context, after_context, after_origin,
                                 list_session_cb, &page, &more, &total, error)) {
                dbus_message_iter_abandon_container(&out, &array);
                return FALSE;
        }
        if (more)
                next_cursor = g_strconcat(page.last_major, " ", page.last_minor, NULL);
        page_finish(reply, &out, &array, more ? next_cursor : "", total);
        *ret_reply = g_steal_pointer(&reply);
        return TRUE;
}

/* --- ListCertificates: the cursor is the last entry's "SOURCE:IDENTITY" --- */

static gboolean parse_certificate_cursor(const char *cursor, CertSource *ret_source,
                                         const char **ret_identity, GError **error) {
        const char *colon = strchr(cursor, ':');
        g_autofree char *source = NULL;

        if (!colon)
                return bad_cursor(error, cursor, "not one ListCertificates returned");
        source = g_strndup(cursor, (gsize) (colon - cursor));
        if (!cert_source_from_string(source, ret_source) || id_fingerprint_check(colon + 1))
                return bad_cursor(error, cursor, "not one ListCertificates returned");
        *ret_identity = colon + 1;
        return TRUE;
}

/* How long the database read for a page stays in use for the next page of the walk:
 * reading it costs about a millisecond per certificate, which every page would pay. */
#define LISTED_DATABASE_REUSE_USEC (5 * G_USEC_PER_SEC)

/* The database's user certificates for a page: read again for a first page, or when the
 * walk paused, else the read the page before used. NULL exactly on error (borrowed). */
static GPtrArray *listed_database(Manager *m, gboolean first_page, GError **error) {
        gint64 now = g_get_monotonic_time();

        if (first_page || !m->listed_database ||
            now - m->listed_at >= LISTED_DATABASE_REUSE_USEC) {
                g_clear_pointer(&m->listed_database, g_ptr_array_unref);
                m->listed_database = cert_db_list_user(m->certs, error);
                if (!m->listed_database)
                        return NULL;
        }
        m->listed_at = now;
        return m->listed_database;
}

gboolean method_list_certificates(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        DBusMessageIter it, out, array;
        GPtrArray *database = NULL;
        g_autoptr(GPtrArray) offered = NULL;
        g_autoptr(GArray) listing = NULL;
        g_autofree char *next_cursor = NULL;
        CertSource after_source = CERT_SOURCE_DATABASE;
        const char *after_identity = NULL;
        guint i = 0;

        dbus_message_iter_init(message, &it);
        const char *cursor = iter_string(&it);
        Page page = { .array = &array, .limit = page_limit(iter_uint32(&it)) };
        if (*cursor && !parse_certificate_cursor(cursor, &after_source, &after_identity, error))
                return FALSE;
        if (m->certs && !(database = listed_database(m, !*cursor, error)))
                return FALSE;
        offered = offered_certs_list(m->offered);
        listing = cert_listing_new(database, offered);
        if (after_identity)
                i = cert_listing_after(listing, after_source, after_identity);

        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "a{sv}", &array);
        for (; i < listing->len; i++) {
                const CertListEntry *e = &g_array_index(listing, CertListEntry, i);
                const char *source = cert_source_to_string(e->source);

                if (!page_take(&page, cert_info_wire_bound(e->info, source, e->offered_by)))
                        break;
                append_cert_info(&array, e->info, source, e->offered_by);
        }
        /* The first entry always fits: a page that is not the last holds one. */
        if (i < listing->len) {
                const CertListEntry *last = &g_array_index(listing, CertListEntry, i - 1);

                next_cursor = g_strconcat(cert_source_to_string(last->source), ":",
                                          last->info->identity, NULL);
        }
        *ret_reply = page_finish(reply, &out, &array, next_cursor ? next_cursor : "",
                                 listing->len);
        /* The walk is over: nothing to keep for it. */
        if (!next_cursor)
                g_clear_pointer(&m->listed_database, g_ptr_array_unref);
        return TRUE;
}
