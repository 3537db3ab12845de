/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's messages: the argument checks that run before anything is built, calls made
 * from the interface table (interface.h), dict entries, and the readers of replies. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "libtlsid-private.h"
#include "tlsid-ids.h"

bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* ---- Argument checks ---- */

int check_context(const char *context) {
        const char *why = id_context_check(context);

        return why ? set_error(-EINVAL, "context %s", why) : 0;
}

int check_context_or_all(const char *context) {
        return !context || !*context ? 0 : check_context(context);
}

int check_origin(const char *origin) {
        const char *why = id_origin_check(origin);

        return why ? set_error(-EINVAL, "origin %s", why) : 0;
}

int check_origin_or_all(const char *origin) {
        return !origin || !*origin ? 0 : check_origin(origin);
}

int check_identity(const char *identity) {
        const char *why = id_identity_check(identity);

        return why ? set_error(-EINVAL, "identity %s", why) : 0;
}

/* libdbus treats invalid UTF-8 in a string argument as a programming error and may abort,
 * so every caller-supplied free-form string is checked here first. */
int check_text(const char *field, const char *s, size_t max) {
        if (strlen(s) > max)
                return set_error(-EINVAL, "%s must be at most %zu bytes", field, max);
        if (!dbus_validate_utf8(s, NULL))
                return set_error(-EINVAL, "%s must be valid UTF-8", field);
        return 0;
}

/* ---- Building ---- */

DBusMessage *new_call(MethodId id) {
        return dbus_message_new_method_call(TLSID_BUS_NAME, TLSID_OBJECT_PATH,
                                            interface_methods[id].interface,
                                            interface_methods[id].name);
}

DBusMessage *new_bus_call(const char *member) {
        return dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                            member);
}

DBusMessage *message_with_args(DBusMessage *msg, int first_arg_type, ...) {
        va_list ap;
        bool ok;

        if (!msg)
                return NULL;
        va_start(ap, first_arg_type);
        ok = dbus_message_append_args_valist(msg, first_arg_type, ap);
        va_end(ap);
        if (!ok) {
                dbus_message_unref(msg);
                return NULL;
        }
        return msg;
}

bool dict_open_entry(DBusMessageIter *dict, const char *key, const char *signature,
                     DBusMessageIter *entry, DBusMessageIter *variant) {
        if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, entry))
                return false;
        if (!dbus_message_iter_append_basic(entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(entry, DBUS_TYPE_VARIANT, signature, variant)) {
                dbus_message_iter_abandon_container(dict, entry);
                return false;
        }
        return true;
}

bool dict_close_entry(DBusMessageIter *dict, DBusMessageIter *entry, DBusMessageIter *variant,
                      bool ok) {
        if (!ok) {
                dbus_message_iter_abandon_container(entry, variant);
                dbus_message_iter_abandon_container(dict, entry);
                return false;
        }
        return dbus_message_iter_close_container(entry, variant) &&
                dbus_message_iter_close_container(dict, entry);
}

bool dict_append(DBusMessageIter *dict, const char *key, int type, const void *value) {
        DBusMessageIter entry, variant;
        char signature[2] = { (char) type, 0 };

        if (!dict_open_entry(dict, key, signature, &entry, &variant))
                return false;
        return dict_close_entry(dict, &entry, &variant,
                                dbus_message_iter_append_basic(&variant, type, value));
}

bool open_dict(DBusMessageIter *iter, DBusMessageIter *dict) {
        return dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", dict);
}

bool append_bytes(DBusMessageIter *iter, const void *data, size_t len) {
        DBusMessageIter array;
        const unsigned char *bytes = data;

        if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "y", &array))
                return false;
        if (len > 0 && !dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &bytes,
                                                             (int) len)) {
                dbus_message_iter_abandon_container(iter, &array);
                return false;
        }
        return dbus_message_iter_close_container(iter, &array);
}

/* ---- Reading replies ---- */

bool reply_has_signature(DBusMessage *reply, MethodId id) {
        if (dbus_message_has_signature(reply, interface_methods[id].out_signature))
                return true;
        set_error(-EIO, "%s: unexpected reply signature '%s'", interface_methods[id].name,
                  dbus_message_get_signature(reply));
        return false;
}

int reply_get_u32(DBusMessage *reply, MethodId id, uint32_t *ret) {
        dbus_uint32_t v;

        if (!reply_has_signature(reply, id) ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &v, DBUS_TYPE_INVALID))
                return -EIO;
        *ret = v;
        return 0;
}

int reply_open_array(DBusMessage *reply, MethodId id, DBusMessageIter *ret_array,
                     size_t *ret_n) {
        DBusMessageIter iter, sub;
        size_t n = 0;

        if (!reply_has_signature(reply, id))
                return -EIO;
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_recurse(&iter, &sub);
        for (; dbus_message_iter_get_arg_type(&sub) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&sub))
                n++;
        dbus_message_iter_recurse(&iter, ret_array);
        *ret_n = n;
        return 0;
}

/* The reply's own buffer holds the bytes too; libdbus offers no way to wipe it. */
int reply_read_bytes(DBusMessage *reply, MethodId id, void **ret_bytes, size_t *ret_len) {
        DBusMessageIter iter, array;
        const unsigned char *bytes = NULL;
        void *copy = NULL;
        int n = 0;

        if (!reply_has_signature(reply, id))
                return -EIO;
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_recurse(&iter, &array);
        dbus_message_iter_get_fixed_array(&array, &bytes, &n);
        if (n > 0) {
                copy = malloc((size_t) n);
                if (!copy)
                        return set_oom();
                memcpy(copy, bytes, (size_t) n);
        }
        *ret_bytes = copy;
        *ret_len = copy ? (size_t) n : 0;
        return copy ? 1 : 0;
}

int read_string_field(const char *key, DBusMessageIter *variant, const StringField *fields,
                      size_t n, void *item) {
        const char *value;

        if (dbus_message_iter_get_arg_type(variant) != DBUS_TYPE_STRING)
                return 0;
        for (size_t k = 0; k < n; k++) {
                char **field = (char **) ((char *) item + fields[k].offset);

                if (strcmp(fields[k].key, key) != 0)
                        continue;
                dbus_message_iter_get_basic(variant, &value);
                free(*field);
                if (!(*field = strdup(value)))
                        return set_oom();
                return 1;
        }
        return 0;
}

bool variant_get_uint64(DBusMessageIter *variant, uint64_t *ret) {
        int type = dbus_message_iter_get_arg_type(variant);
        DBusBasicValue v;
        int64_t n;

        /* The fixed types but double, and fd (which reading would duplicate). */
        if (!dbus_type_is_fixed(type) || type == DBUS_TYPE_DOUBLE || type == DBUS_TYPE_UNIX_FD)
                return false;
        dbus_message_iter_get_basic(variant, &v);
        switch (type) {
        case DBUS_TYPE_UINT64:
                *ret = v.u64;
                return true;
        case DBUS_TYPE_INT64:
                n = v.i64;
                break;
        case DBUS_TYPE_UINT32:
                n = v.u32;
                break;
        case DBUS_TYPE_INT32:
                n = v.i32;
                break;
        case DBUS_TYPE_UINT16:
                n = v.u16;
                break;
        case DBUS_TYPE_INT16:
                n = v.i16;
                break;
        case DBUS_TYPE_BYTE:
                n = v.byt;
                break;
        case DBUS_TYPE_BOOLEAN:
                n = v.bool_val ? 1 : 0;
                break;
        default:
                return false;
        }
        *ret = n < 0 ? 0 : (uint64_t) n;
        return true;
}
