/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading an application's AT-SPI tree for the picker test. */
#include "a11y-tree.h"

#define CALL_MS 5000
/* Bounds on a walk, so a tree with a cycle or a flood of nodes still ends. */
#define MAX_DEPTH 24
#define MAX_NODES 2000

#define ACCESSIBLE "org.a11y.atspi.Accessible"
#define ROOT_PATH "/org/a11y/atspi/accessible/root"

GDBusConnection *a11y_connect(GError **error) {
        g_autoptr(GDBusConnection) session = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, error);
        g_autoptr(GVariant) reply = NULL;
        const char *address;

        if (!session)
                return NULL;
        reply = g_dbus_connection_call_sync(session, "org.a11y.Bus", "/org/a11y/bus",
                                            "org.a11y.Bus", "GetAddress", NULL,
                                            G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE,
                                            CALL_MS, NULL, error);
        if (!reply)
                return NULL;
        g_variant_get(reply, "(&s)", &address);
        return g_dbus_connection_new_for_address_sync(
                address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, error);
}

static char *string_property(GDBusConnection *a11y, const char *bus, const char *path,
                             const char *name) {
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GVariant) value = NULL;

        reply = g_dbus_connection_call_sync(a11y, bus, path, "org.freedesktop.DBus.Properties",
                                            "Get", g_variant_new("(ss)", ACCESSIBLE, name),
                                            G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                            CALL_MS, NULL, NULL);
        if (!reply)
                return g_strdup("");
        g_variant_get(reply, "(v)", &value);
        return g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)
                ? g_variant_dup_string(value, NULL) : g_strdup("");
}

/* The children of a node, as (bus name, path) pairs (transfer full), or NULL. */
static GVariant *children_of(GDBusConnection *a11y, const char *bus, const char *path) {
        g_autoptr(GVariant) reply = NULL;

        reply = g_dbus_connection_call_sync(a11y, bus, path, ACCESSIBLE, "GetChildren", NULL,
                                            G_VARIANT_TYPE("(a(so))"), G_DBUS_CALL_FLAGS_NONE,
                                            CALL_MS, NULL, NULL);
        return reply ? g_variant_get_child_value(reply, 0) : NULL;
}

static void dump(GDBusConnection *a11y, const char *bus, const char *path, int depth,
                 guint *nodes, GString *out) {
        g_autoptr(GVariant) role = NULL;
        g_autoptr(GVariant) children = NULL;
        const char *role_name = "?";
        g_autofree char *name = NULL, *description = NULL;
        GVariantIter iter;
        const char *child_bus, *child_path;

        if (depth > MAX_DEPTH || ++*nodes > MAX_NODES)
                return;
        role = g_dbus_connection_call_sync(a11y, bus, path, ACCESSIBLE, "GetRoleName", NULL,
                                           G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE,
                                           CALL_MS, NULL, NULL);
        name = string_property(a11y, bus, path, "Name");
        description = string_property(a11y, bus, path, "Description");
        if (role)
                g_variant_get(role, "(&s)", &role_name);
        g_string_append_printf(out, "%*s%s: %s", depth * 2, "", role_name, name);
        if (*description)
                g_string_append_printf(out, " (%s)", description);
        g_string_append_c(out, '\n');
        children = children_of(a11y, bus, path);
        if (!children)
                return;
        g_variant_iter_init(&iter, children);
        while (g_variant_iter_next(&iter, "(&s&o)", &child_bus, &child_path))
                dump(a11y, child_bus, child_path, depth + 1, nodes, out);
}

char *a11y_dump_application(GDBusConnection *a11y, const char *app_name, GError **error) {
        g_autoptr(GVariant) apps = children_of(a11y, "org.a11y.atspi.Registry", ROOT_PATH);
        GVariantIter iter;
        const char *bus, *path;

        if (apps) {
                g_variant_iter_init(&iter, apps);
                while (g_variant_iter_next(&iter, "(&s&o)", &bus, &path)) {
                        g_autofree char *name = string_property(a11y, bus, path, "Name");
                        GString *out;
                        guint nodes = 0;

                        if (g_strcmp0(name, app_name) != 0)
                                continue;
                        out = g_string_new(NULL);
                        dump(a11y, bus, path, 0, &nodes, out);
                        return g_string_free(out, FALSE);
                }
        }
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "no application %s on the accessibility bus", app_name);
        return NULL;
}
