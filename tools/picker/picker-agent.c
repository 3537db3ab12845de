/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The picker's org.tlsid.Agent1 object: registration with the manager, RequestChoice and
 * Cancel. */
#include "picker-agent.h"

#include "agent-interface.h"
#include "interface.h"
#include "picker-resources.h"

#include <string.h>

/* dbus/org.tlsid.Agent1.xml, built in (picker.gresource.xml). */
#define AGENT_XML_RESOURCE "/org/tlsid/Picker/org.tlsid.Agent1.xml"

typedef struct {
        GDBusMethodInvocation *invocation;
        PickerRequest *request;
} Pending;

struct _PickerAgent {
        GDBusConnection *connection;
        GDBusNodeInfo *node;
        guint object_id;
        guint watch_id;
        char *manager_owner;    /* the unique name owning the manager's name, or NULL */
        GHashTable *pending;    /* id -> Pending */
        PickerAgentRequestFunc on_request;
        PickerAgentCancelFunc on_cancel;
        gpointer user_data;
};

static void pending_free(gpointer data) {
        Pending *pending = data;

        g_clear_object(&pending->invocation);
        picker_request_free(pending->request);
        g_free(pending);
}

static void reply_answer(GDBusMethodInvocation *invocation, const char *answer,
                         const char *identity, gboolean remember) {
        GVariantBuilder options;

        g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
        if (remember)
                g_variant_builder_add(&options, "{sv}", "remember",
                                      g_variant_new_boolean(TRUE));
        g_dbus_method_invocation_return_value(invocation,
                                              g_variant_new("(ssa{sv})", answer, identity,
                                                            &options));
}

/* Ends every pending request without an answer and tells the interface. */
static void cancel_all(PickerAgent *agent) {
        g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init(&iter, agent->pending);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                Pending *pending = value;

                reply_answer(g_steal_pointer(&pending->invocation), "cancel", "", FALSE);
                g_ptr_array_add(ids, g_strdup(key));
        }
        g_hash_table_remove_all(agent->pending);
        for (guint i = 0; i < ids->len; i++)
                agent->on_cancel(g_ptr_array_index(ids, i), agent->user_data);
}

static void handle_request_choice(PickerAgent *agent, GVariant *parameters,
                                  GDBusMethodInvocation *invocation) {
        g_autoptr(GVariant) request = NULL;
        g_autoptr(GError) error = NULL;
        const char *id;
        Pending *pending;

        g_variant_get(parameters, "(&s@a{sv})", &id, &request);
        if (!*id || strlen(id) > 256) {
                g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                                      G_DBUS_ERROR_INVALID_ARGS,
                                                      "id: empty or longer than 256 bytes");
                return;
        }
        if (g_hash_table_contains(agent->pending, id)) {
                g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                                      G_DBUS_ERROR_INVALID_ARGS,
                                                      "id: request %s is pending already",
                                                      id);
                return;
        }
        if (g_hash_table_size(agent->pending) >= PICKER_AGENT_MAX_PENDING) {
                g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                                      G_DBUS_ERROR_LIMITS_EXCEEDED,
                                                      "%d requests wait for the user already",
                                                      PICKER_AGENT_MAX_PENDING);
                return;
        }
        pending = g_new0(Pending, 1);
        pending->request = picker_request_new(id, request, &error);
        if (!pending->request) {
                g_warning("RequestChoice %s: %s", id, error->message);
                pending_free(pending);
                g_dbus_method_invocation_return_gerror(invocation, error);
                return;
        }
        pending->invocation = g_object_ref(invocation);
        g_hash_table_insert(agent->pending, g_strdup(id), pending);
        agent->on_request(pending->request, agent->user_data);
}

static void handle_cancel(PickerAgent *agent, GVariant *parameters,
                          GDBusMethodInvocation *invocation) {
        const char *id;

        g_variant_get(parameters, "(&s)", &id);
        if (g_hash_table_remove(agent->pending, id))
                agent->on_cancel(id, agent->user_data);
        g_dbus_method_invocation_return_value(invocation, NULL);
}

static void method_call(GDBusConnection *connection, const char *sender,
                        const char *object_path, const char *interface_name,
                        const char *method_name, GVariant *parameters,
                        GDBusMethodInvocation *invocation, gpointer user_data) {
        PickerAgent *agent = user_data;

        /* Only the daemon asks: a prompt is the user's trust in the site's name. */
        if (!agent->manager_owner || g_strcmp0(sender, agent->manager_owner) != 0) {
                g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                                      G_DBUS_ERROR_ACCESS_DENIED,
                                                      "only %s calls the agent",
                                                      TLSID_BUS_NAME);
                return;
        }
        if (g_strcmp0(method_name, "RequestChoice") == 0)
                handle_request_choice(agent, parameters, invocation);
        else if (g_strcmp0(method_name, "Cancel") == 0)
                handle_cancel(agent, parameters, invocation);
        else
                g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                                      G_DBUS_ERROR_UNKNOWN_METHOD,
                                                      "no method %s", method_name);
}

static const GDBusInterfaceVTable agent_vtable = {
        .method_call = method_call,
};

static void register_done(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *owner = user_data;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
        if (!reply)
                g_warning("RegisterAgent with %s (%s) failed: %s", TLSID_BUS_NAME, owner,
                          error->message);
        else
                g_message("registered as the agent %s with %s (%s)", PICKER_AGENT_PATH,
                          TLSID_BUS_NAME, owner);
}

static void manager_appeared(GDBusConnection *connection, const char *name,
                             const char *name_owner, gpointer user_data) {
        PickerAgent *agent = user_data;

        /* A new owner is a new daemon: whatever the old one asked has ended. */
        cancel_all(agent);
        g_free(agent->manager_owner);
        agent->manager_owner = g_strdup(name_owner);
        g_dbus_connection_call(connection, name_owner, TLSID_OBJECT_PATH, TLSID_INTERFACE,
                               "RegisterAgent",
                               g_variant_new("(o@a{sv})", PICKER_AGENT_PATH,
                                             g_variant_new_array(G_VARIANT_TYPE("{sv}"),
                                                                 NULL, 0)),
                               G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                               register_done, g_strdup(name_owner));
}

static void manager_vanished(GDBusConnection *connection, const char *name,
                             gpointer user_data) {
        PickerAgent *agent = user_data;

        g_clear_pointer(&agent->manager_owner, g_free);
        cancel_all(agent);
}

PickerAgent *picker_agent_new(GDBusConnection *connection, PickerAgentRequestFunc on_request,
                              PickerAgentCancelFunc on_cancel, gpointer user_data,
                              GError **error) {
        PickerAgent *agent = g_new0(PickerAgent, 1);
        g_autoptr(GBytes) xml = NULL;
        GDBusInterfaceInfo *interface = NULL;

        agent->connection = g_object_ref(connection);
        agent->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, pending_free);
        agent->on_request = on_request;
        agent->on_cancel = on_cancel;
        agent->user_data = user_data;
        /* Named, not looked up globally: the linker keeps the resource of a static
         * library only when something refers to it. */
        xml = g_resource_lookup_data(picker_get_resource(), AGENT_XML_RESOURCE,
                                     G_RESOURCE_LOOKUP_FLAGS_NONE, error);
        if (xml)
                agent->node = g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), error);
        if (agent->node)
                interface = g_dbus_node_info_lookup_interface(agent->node, AGENT_INTERFACE);
        if (interface)
                agent->object_id = g_dbus_connection_register_object(
                        connection, PICKER_AGENT_PATH, interface, &agent_vtable, agent, NULL,
                        error);
        else if (agent->node)
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s lacks %s",
                            AGENT_XML_RESOURCE, AGENT_INTERFACE);
        if (!agent->object_id) {
                picker_agent_free(agent);
                return NULL;
        }
        agent->watch_id = g_bus_watch_name_on_connection(connection, TLSID_BUS_NAME,
                                                         G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                         manager_appeared, manager_vanished,
                                                         agent, NULL);
        return agent;
}

void picker_agent_free(PickerAgent *agent) {
        GHashTableIter iter;
        gpointer value;

        if (!agent)
                return;
        if (agent->watch_id)
                g_bus_unwatch_name(agent->watch_id);
        if (agent->object_id)
                g_dbus_connection_unregister_object(agent->connection, agent->object_id);
        /* Unanswered requests end as cancel (the daemon would time them out otherwise). */
        g_hash_table_iter_init(&iter, agent->pending);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                Pending *pending = value;

                reply_answer(g_steal_pointer(&pending->invocation), "cancel", "", FALSE);
        }
        g_hash_table_unref(agent->pending);
        g_clear_pointer(&agent->node, g_dbus_node_info_unref);
        g_free(agent->manager_owner);
        g_object_unref(agent->connection);
        g_free(agent);
}

void picker_agent_answer(PickerAgent *agent, const char *id, const char *answer,
                         const char *identity, gboolean remember) {
        Pending *pending = g_hash_table_lookup(agent->pending, id);

        if (!pending)
                return;
        reply_answer(g_steal_pointer(&pending->invocation), answer, identity ? identity : "",
                     remember);
        g_hash_table_remove(agent->pending, id);
}
