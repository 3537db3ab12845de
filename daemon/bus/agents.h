/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent interface on the bus: RegisterAgent, UnregisterAgent and ListRequests, the
 * calls held for an agent's answer (RequestChoice, Cancel, CertificateRequested and
 * CertificateRequestEnded), and what ends them. The prompts and the agent registry are
 * the model's (prompts.h, agent-list.h). */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#include "prompts.h"
#include "tlsid-limits.h"

typedef struct Manager Manager;
typedef struct ManagerAgents ManagerAgents;

/* The agents of @manager, with @manager's configured limits. */
ManagerAgents *manager_agents_new(Manager *manager);
/* Drops every held call unanswered. Accepts NULL. */
void manager_agents_free(ManagerAgents *agents);

/* The partition of a held call when it began to wait, for deciding it again. */
typedef struct {
        guint32 generation;
        char identity[TLSID_IDENTITY_LEN + 1];
} WaitStart;

/* What the agent is asked about a request that would be "ask". */
typedef struct {
        const char *context;
        const char *origin;
        PromptReason reason;
        guint32 timeout_ms;   /* the caller's interactive_timeout_ms, > 0 */
        const char *realm;    /* nullable */
        GPtrArray *ca_names;  /* nullable: GBytes* DER names */
        GPtrArray *eligible;  /* CertInfo*, best first */
        gboolean from_database; /* the daemon's NSS database, else the application's */
        WaitStart start;
} AgentQuestion;

/* Holds @message for an agent's answer to @question: *@ret_held is TRUE when the call
 * waits (the handler then sends no reply: manager_answer_again() does, later), FALSE
 * when no agent is registered and no prompt of (context, origin) waits (answer now).
 * LIMIT_EXCEEDED (the limits on waiting calls) is FALSE with @error. */
gboolean manager_wait_for_agent(Manager *manager, DBusMessage *message,
                                const AgentQuestion *question, gboolean *ret_held,
                                GError **error);

/* The connection @name left the bus: its agents and its waiting calls go. */
void manager_agents_name_gone(Manager *manager, const char *name);
/* The choice of (context, origin) changed: a prompt of it ends "answered" (on idle). */
void manager_agents_choice_changed(Manager *manager, const char *context, const char *origin);

/* Counters for GetStatistics. */
typedef struct {
        guint64 requests; /* prompts begun */
        guint64 answers;  /* prompts the agent answered with a certificate or none */
        guint64 cancels;  /* prompts that ended without an answer (cancel, timeout, ...) */
        guint waiting;    /* calls waiting now */
        guint agents;     /* agents registered now */
} AgentStatistics;
void manager_agents_get_statistics(Manager *manager, AgentStatistics *ret);

/* The handlers of RegisterAgent, UnregisterAgent and ListRequests. */
gboolean method_register_agent(Manager *manager, DBusMessage *message, DBusMessage **ret_reply,
                               GError **error);
gboolean method_unregister_agent(Manager *manager, DBusMessage *message,
                                 DBusMessage **ret_reply, GError **error);
gboolean method_list_requests(Manager *manager, DBusMessage *message, DBusMessage **ret_reply,
                              GError **error);
