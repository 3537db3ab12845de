/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.freedesktop.DBus.Properties on the manager object: the read-only properties of
 * org.tlsid.Manager1 (the version and the limits in force), named and typed by the table
 * generated from the XML. */
#include <string.h>

#include "args.h"
#include "build-config.h"
#include "error.h"
#include "manager-private.h"

/* A property's value: the string or the number, whichever its generated type says. */
typedef struct {
        const char *string;
        guint64 number;
} PropertyValue;

#define NUMBER(v) ((PropertyValue) { .number = (v) })

static PropertyValue property_value(Manager *m, PropertyId id) {
        const StoreLimits *limits = &m->config.limits;

        /* No default: a property added to the XML without a value here warns at build. */
        switch (id) {
        case PROPERTY_VERSION:
                return (PropertyValue) { .string = PACKAGE_VERSION };
        case PROPERTY_MAX_CONTEXTS:
                return NUMBER(limits->max_contexts);
        case PROPERTY_MAX_ORIGINS_PER_CONTEXT:
                return NUMBER(limits->max_origins_per_context);
        case PROPERTY_MAX_TOKENS_PER_PARTITION:
                return NUMBER(limits->max_tokens_per_partition);
        case PROPERTY_MAX_TOKEN_BYTES:
                return NUMBER(limits->max_token_bytes);
        case PROPERTY_MAX_HOLDERS_PER_CONTEXT:
                return NUMBER(limits->max_holders_per_context);
        case PROPERTY_MAX_REMEMBERED:
                return NUMBER(limits->max_remembered);
        case PROPERTY_MAX_SENDERS:
                return NUMBER(m->config.max_senders);
        case PROPERTY_MAX_PENDING_PER_SENDER:
                return NUMBER(m->config.max_pending_per_sender);
        case PROPERTY_MAX_AGENTS:
                return NUMBER(m->config.max_agents);
        case PROPERTY_MAX_AGENT_REQUESTS:
                return NUMBER(m->config.max_agent_requests);
        case PROPERTY_MAX_AGENT_WAITS_PER_CALLER:
                return NUMBER(m->config.max_agent_waits_per_caller);
        case PROPERTY_DIRECT_ADDRESS:
                return (PropertyValue) { .string = direct_server_get_address(m->direct) };
        case _PROPERTY_MAX:
                break;
        }
        g_assert_not_reached();
}

/* Appends the value of @id to @it as a variant of its generated type. */
static void append_property(Manager *m, PropertyId id, DBusMessageIter *it) {
        const PropertySpec *spec = &interface_properties[id];
        PropertyValue value = property_value(m, id);
        DBusMessageIter variant;

        open_container(it, DBUS_TYPE_VARIANT, spec->signature, &variant);
        switch (spec->signature[0]) {
        case DBUS_TYPE_STRING:
                g_assert(value.string);
                append_basic(&variant, DBUS_TYPE_STRING, &value.string);
                break;
        case DBUS_TYPE_UINT32: {
                dbus_uint32_t u = (dbus_uint32_t) value.number;

                g_assert(u == value.number);
                append_basic(&variant, DBUS_TYPE_UINT32, &u);
                break;
        }
        case DBUS_TYPE_UINT64: {
                dbus_uint64_t t = value.number;

                append_basic(&variant, DBUS_TYPE_UINT64, &t);
                break;
        }
        default:
                g_assert_not_reached();
        }
        close_container(it, &variant);
}

/* Whether the object has @interface: one with a method or a property in the table, or
 * Peer, which libdbus answers for us. */
static gboolean object_has_interface(const char *interface) {
        if (strcmp(interface, DBUS_INTERFACE_PEER) == 0)
                return TRUE;
        for (size_t i = 0; i < _METHOD_MAX; i++)
                if (strcmp(interface_methods[i].interface, interface) == 0)
                        return TRUE;
        for (size_t i = 0; i < _PROPERTY_MAX; i++)
                if (strcmp(interface_properties[i].interface, interface) == 0)
                        return TRUE;
        return FALSE;
}

static gboolean unknown_interface(const char *interface, GError **error) {
        g_autofree char *quoted = error_quote(interface);

        g_set_error(error, BUS_STANDARD_ERROR, BUS_STANDARD_ERROR_UNKNOWN_INTERFACE,
                    "Unknown interface %s on %s", quoted, TLSID_OBJECT_PATH);
        return FALSE;
}

/* Finds property @name of @interface ("": of any interface). */
static gboolean find_property(const char *interface, const char *name, PropertyId *ret_id,
                              GError **error) {
        for (PropertyId id = 0; id < _PROPERTY_MAX; id++) {
                const PropertySpec *spec = &interface_properties[id];

                if ((!*interface || strcmp(spec->interface, interface) == 0) &&
                    strcmp(spec->name, name) == 0) {
                        *ret_id = id;
                        return TRUE;
                }
        }
        if (*interface && !object_has_interface(interface))
                return unknown_interface(interface, error);
        g_autofree char *quoted = error_quote(name);
        g_autofree char *quoted_interface = error_quote(interface);
        g_set_error(error, BUS_STANDARD_ERROR, BUS_STANDARD_ERROR_UNKNOWN_PROPERTY,
                    "Unknown property %s on interface %s", quoted,
                    *interface ? quoted_interface : "(any)");
        return FALSE;
}

gboolean method_properties_get(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                               GError **error) {
        DBusMessageIter it, out;
        PropertyId id;

        dbus_message_iter_init(message, &it);
        const char *interface = iter_string(&it);
        const char *name = iter_string(&it);
        if (!find_property(interface, name, &id, error))
                return FALSE;
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        append_property(m, id, &out);
        *ret_reply = reply;
        return TRUE;
}

gboolean method_properties_get_all(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                   GError **error) {
        DBusMessageIter it, out, dict, entry;

        dbus_message_iter_init(message, &it);
        const char *interface = iter_string(&it);
        if (*interface && !object_has_interface(interface))
                return unknown_interface(interface, error);
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "{sv}", &dict);
        for (PropertyId id = 0; id < _PROPERTY_MAX; id++) {
                const PropertySpec *spec = &interface_properties[id];

                if (*interface && strcmp(spec->interface, interface) != 0)
                        continue;
                open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
                append_basic(&entry, DBUS_TYPE_STRING, &spec->name);
                append_property(m, id, &entry);
                close_container(&dict, &entry);
        }
        close_container(&out, &dict);
        *ret_reply = reply;
        return TRUE;
}

gboolean method_properties_set(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                               GError **error) {
        DBusMessageIter it;
        PropertyId id;

        dbus_message_iter_init(message, &it);
        const char *interface = iter_string(&it);
        const char *name = iter_string(&it);
        if (!find_property(interface, name, &id, error))
                return FALSE;
        g_set_error(error, BUS_STANDARD_ERROR, BUS_STANDARD_ERROR_PROPERTY_READ_ONLY,
                    "Property %s of %s is read-only", interface_properties[id].name,
                    interface_properties[id].interface);
        return FALSE;
}
