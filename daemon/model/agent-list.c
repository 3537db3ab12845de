/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registered agents, most recent last. */
#include "agent-list.h"

#include <string.h>

#include "error.h"

struct AgentList {
        guint max;
        GPtrArray *agents; /* Agent*, in registration order */
};

static void agent_free(Agent *a) {
        g_free(a->name);
        g_free(a->path);
        g_free(a);
}

AgentList *agent_list_new(guint max) {
        AgentList *l = g_new0(AgentList, 1);

        l->max = max;
        l->agents = g_ptr_array_new_with_free_func((GDestroyNotify) agent_free);
        return l;
}

void agent_list_free(AgentList *l) {
        if (!l)
                return;
        g_ptr_array_unref(l->agents);
        g_free(l);
}

static int find(AgentList *l, const char *name, const char *path) {
        for (guint i = 0; i < l->agents->len; i++) {
                const Agent *a = l->agents->pdata[i];
                if (strcmp(a->name, name) == 0 && strcmp(a->path, path) == 0)
                        return (int) i;
        }
        return -1;
}

gboolean agent_list_add(AgentList *l, const char *name, const char *path, GError **error) {
        if (find(l, name, path) >= 0) {
                g_autofree char *quoted = error_quote(path);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "path: this connection registered an agent at %s already", quoted);
                return FALSE;
        }
        if (l->agents->len >= l->max) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "too many agents registered (max_agents is %u)", l->max);
                return FALSE;
        }
        Agent *a = g_new0(Agent, 1);
        a->name = g_strdup(name);
        a->path = g_strdup(path);
        g_ptr_array_add(l->agents, a);
        return TRUE;
}

gboolean agent_list_remove(AgentList *l, const char *name, const char *path, GError **error) {
        int i = find(l, name, path);

        if (i < 0) {
                g_autofree char *quoted = error_quote(path);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "path: this connection has no agent registered at %s", quoted);
                return FALSE;
        }
        g_ptr_array_remove_index(l->agents, (guint) i);
        return TRUE;
}

guint agent_list_remove_name(AgentList *l, const char *name) {
        guint removed = 0;

        for (guint i = l->agents->len; i-- > 0;) {
                const Agent *a = l->agents->pdata[i];
                if (strcmp(a->name, name) == 0) {
                        g_ptr_array_remove_index(l->agents, i);
                        removed++;
                }
        }
        return removed;
}

const Agent *agent_list_current(AgentList *l) {
        return l->agents->len ? l->agents->pdata[l->agents->len - 1] : NULL;
}

gboolean agent_list_has_name(AgentList *l, const char *name) {
        for (guint i = 0; i < l->agents->len; i++)
                if (strcmp(((const Agent *) l->agents->pdata[i])->name, name) == 0)
                        return TRUE;
        return FALSE;
}

guint agent_list_count(AgentList *l) {
        return l->agents->len;
}
