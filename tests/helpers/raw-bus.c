/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading tlsidd's replies with bare libdbus. */
#include "raw-bus.h"

#include <string.h>

bool raw_bus_statistic(DBusMessage *reply, const char *key, uint64_t *ret_value) {
        DBusMessageIter it, array, entry, variant;

        if (!dbus_message_has_signature(reply, "a{sv}"))
                return false;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &array);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                const char *k;

                dbus_message_iter_recurse(&array, &entry);
                dbus_message_iter_get_basic(&entry, &k);
                if (strcmp(k, key) != 0)
                        continue;
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_UINT32) {
                        dbus_uint32_t v;

                        dbus_message_iter_get_basic(&variant, &v);
                        *ret_value = v;
                        return true;
                }
                if (dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_UINT64) {
                        dbus_uint64_t v;

                        dbus_message_iter_get_basic(&variant, &v);
                        *ret_value = v;
                        return true;
                }
        }
        return false;
}
