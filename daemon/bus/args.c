/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Argument readers and reply writers shared by the method handlers. */
#include "args.h"

#include <string.h>

#include "error.h"

void oom(void) {
        g_error("out of memory");
}

DBusMessage *new_reply(DBusMessage *message) {
        DBusMessage *reply = dbus_message_new_method_return(message);
        if (!reply)
                oom();
        return reply;
}

DBusMessage *new_reply_uint32(DBusMessage *message, guint v) {
        DBusMessage *reply = new_reply(message);
        dbus_uint32_t value = v;

        if (!dbus_message_append_args(reply, DBUS_TYPE_UINT32, &value, DBUS_TYPE_INVALID))
                oom();
        return reply;
}

const char *iter_string(DBusMessageIter *it) {
        const char *s = NULL;

        dbus_message_iter_get_basic(it, &s);
        dbus_message_iter_next(it);
        return s;
}

guint32 iter_uint32(DBusMessageIter *it) {
        dbus_uint32_t v = 0;

        dbus_message_iter_get_basic(it, &v);
        dbus_message_iter_next(it);
        return v;
}

gint64 iter_int64(DBusMessageIter *it) {
        dbus_int64_t v = 0;

        dbus_message_iter_get_basic(it, &v);
        dbus_message_iter_next(it);
        return v;
}

guint iter_count(DBusMessageIter *array) {
        DBusMessageIter it = *array;
        guint n = 0;

        for (; dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&it))
                n++;
        return n;
}

const guint8 *iter_bytes(DBusMessageIter *it, int *ret_len) {
        DBusMessageIter array;
        const guint8 *data = NULL;

        dbus_message_iter_recurse(it, &array);
        *ret_len = 0;
        dbus_message_iter_get_fixed_array(&array, &data, ret_len);
        return data;
}

void read_context_origin(DBusMessage *message, const char **ret_context,
                         const char **ret_origin) {
        DBusMessageIter it;

        dbus_message_iter_init(message, &it);
        *ret_context = iter_string(&it);
        *ret_origin = iter_string(&it);
}

gboolean parse_dict(DBusMessageIter *it, const char *arg, DictField *fields, size_t n_fields,
                    GError **error) {
        DBusMessageIter array;

        dbus_message_iter_recurse(it, &array);
        dbus_message_iter_next(it);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                DBusMessageIter entry, variant;
                dbus_message_iter_recurse(&array, &entry);
                const char *key = iter_string(&entry);
                dbus_message_iter_recurse(&entry, &variant);

                DictField *field = NULL;
                for (size_t i = 0; i < n_fields; i++)
                        if (strcmp(fields[i].key, key) == 0)
                                field = &fields[i];
                if (!field) {
                        g_autofree char *path = error_member_path(arg, key);
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s: unknown key", path);
                        return FALSE;
                }
                if (field->seen) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s.%s: given more than once", arg, key);
                        return FALSE;
                }
                if (field->signature) {
                        char *got = dbus_message_iter_get_signature(&variant);
                        if (!got)
                                oom();
                        if (strcmp(got, field->signature) != 0) {
                                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                            "%s.%s: expected type %s, got %s", arg, key,
                                            field->signature, got);
                                dbus_free(got);
                                return FALSE;
                        }
                        dbus_free(got);
                        *(DBusMessageIter *) field->value = variant;
                        field->seen = TRUE;
                        continue;
                }
                if (dbus_message_iter_get_arg_type(&variant) != field->type) {
                        char *got = dbus_message_iter_get_signature(&variant);
                        if (!got)
                                oom();
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s.%s: expected type %c, got %s", arg, key, field->type,
                                    got);
                        dbus_free(got);
                        return FALSE;
                }
                dbus_message_iter_get_basic(&variant, field->value);
                field->seen = TRUE;
        }
        return TRUE;
}

gboolean too_many(GError **error, const char *field, guint max) {
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                    "%s: at most %u entries", field, max);
        return FALSE;
}

void open_container(DBusMessageIter *it, int type, const char *signature,
                    DBusMessageIter *sub) {
        if (!dbus_message_iter_open_container(it, type, signature, sub))
                oom();
}

void close_container(DBusMessageIter *it, DBusMessageIter *sub) {
        if (!dbus_message_iter_close_container(it, sub))
                oom();
}

void append_basic(DBusMessageIter *it, int type, const void *value) {
        if (!dbus_message_iter_append_basic(it, type, value))
                oom();
}

void append_bytes(DBusMessageIter *it, const guint8 *data, gsize len) {
        DBusMessageIter array;

        open_container(it, DBUS_TYPE_ARRAY, "y", &array);
        if (len > 0 && !dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &data,
                                                             (int) len))
                oom();
        close_container(it, &array);
}

void dict_append(DBusMessageIter *dict, const char *key, int type, const void *value) {
        DBusMessageIter entry, variant;
        const char signature[2] = { (char) type, '\0' };

        if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
            !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature, &variant) ||
            !dbus_message_iter_append_basic(&variant, type, value) ||
            !dbus_message_iter_close_container(&entry, &variant) ||
            !dbus_message_iter_close_container(dict, &entry))
                oom();
}

void dict_append_uint32(DBusMessageIter *dict, const char *key, guint v) {
        dbus_uint32_t value = v;
        dict_append(dict, key, DBUS_TYPE_UINT32, &value);
}

void dict_append_uint64(DBusMessageIter *dict, const char *key, guint64 v) {
        dbus_uint64_t value = v;
        dict_append(dict, key, DBUS_TYPE_UINT64, &value);
}

void dict_append_text(DBusMessageIter *dict, const char *key, const char *text) {
        g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
        const char *value = valid;

        dict_append(dict, key, DBUS_TYPE_STRING, &value);
}
