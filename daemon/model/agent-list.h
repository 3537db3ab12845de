/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registered agents, in the order they registered: the most recent one is asked.
 * No D-Bus: an agent is its connection's unique name and its object path. */
#pragma once

#include <glib.h>

typedef struct {
        char *name; /* the agent connection's unique bus name */
        char *path; /* where it serves org.tlsid.Agent1 */
} Agent;

typedef struct AgentList AgentList;

/* At most @max agents. */
AgentList *agent_list_new(guint max);
/* Accepts NULL. */
void agent_list_free(AgentList *agents);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AgentList, agent_list_free)

/* Registers (@name, @path) as the most recent agent. INVALID_ARGUMENT naming "path" when
 * it is registered already, LIMIT_EXCEEDED when @max are. */
gboolean agent_list_add(AgentList *agents, const char *name, const char *path, GError **error);
/* Unregisters (@name, @path); INVALID_ARGUMENT naming "path" when it is not registered. */
gboolean agent_list_remove(AgentList *agents, const char *name, const char *path,
                           GError **error);
/* Unregisters every agent of @name (its connection left the bus); returns how many. */
guint agent_list_remove_name(AgentList *agents, const char *name);
/* The agent to ask: the most recently registered one, or NULL (borrowed). */
const Agent *agent_list_current(AgentList *agents);
/* Whether @name has an agent registered. */
gboolean agent_list_has_name(AgentList *agents, const char *name);
guint agent_list_count(AgentList *agents);
