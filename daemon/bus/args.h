/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a method call's arguments and building replies: the iterator and a{sv} helpers
 * every handler shares. The dispatcher has checked the call's signature, so readers do not
 * check types again; writers abort on out-of-memory, as the rest of the daemon does. */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

/* Aborts: libdbus could not allocate. */
G_NORETURN void oom(void);

/* A method return for @message (transfer full), and one carrying a single u. */
DBusMessage *new_reply(DBusMessage *message);
DBusMessage *new_reply_uint32(DBusMessage *message, guint v);

/* The basic value at @it, advancing @it. */
const char *iter_string(DBusMessageIter *it);
guint32 iter_uint32(DBusMessageIter *it);
gint64 iter_int64(DBusMessageIter *it);
/* The number of elements left in the array iterator @array (not advanced). */
guint iter_count(DBusMessageIter *array);
/* The bytes of the ay at @it (not advanced); they live as long as the message. */
const guint8 *iter_bytes(DBusMessageIter *it, int *ret_len);

/* The leading (s context, s origin) of a call. */
void read_context_origin(DBusMessage *message, const char **ret_context,
                         const char **ret_origin);

/* One known key of an a{sv} argument. @value points at a dbus_bool_t for 'b', a
 * const char * for 's', a dbus_uint16_t for 'q', a dbus_uint32_t for 'u'; for a
 * container, whose whole signature @signature gives, at a DBusMessageIter positioned on
 * the value. It is left alone when the key is absent. */
typedef struct {
        const char *key;
        int type;
        void *value;
        gboolean seen;
        const char *signature; /* containers only */
} DictField;

/* Reads the a{sv} at @it into @fields (and advances @it). Unknown keys, repeated keys
 * and values of the wrong type are INVALID_ARGUMENT naming "@arg.key". */
gboolean parse_dict(DBusMessageIter *it, const char *arg, DictField *fields, size_t n_fields,
                    GError **error);

/* INVALID_ARGUMENT "@field: at most @max entries"; returns FALSE. */
gboolean too_many(GError **error, const char *field, guint max);

void open_container(DBusMessageIter *it, int type, const char *signature,
                    DBusMessageIter *sub);
void close_container(DBusMessageIter *it, DBusMessageIter *sub);
void append_basic(DBusMessageIter *it, int type, const void *value);
/* Appends @len bytes at @data as ay. */
void append_bytes(DBusMessageIter *it, const guint8 *data, gsize len);

/* Appends the entry {@key: <@value>} of basic @type to the a{sv} @dict. */
void dict_append(DBusMessageIter *dict, const char *key, int type, const void *value);
void dict_append_uint32(DBusMessageIter *dict, const char *key, guint v);
void dict_append_uint64(DBusMessageIter *dict, const char *key, guint64 v);
/* Text from certificates, servers or files, which may hold anything: made valid UTF-8
 * (libdbus refuses anything else). NULL appends "". */
void dict_append_text(DBusMessageIter *dict, const char *key, const char *text);
