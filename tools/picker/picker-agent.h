/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The picker's org.tlsid.Agent1 object on the session bus.
 *
 * It registers with org.tlsid.Manager1 whenever that name gets an owner (at start, and
 * again after tlsidd restarts), takes RequestChoice calls from that owner only, keeps each
 * call's invocation until the user answers (the reply is the answer), and passes Cancel
 * on. The user interface sees requests through two callbacks. */
#pragma once

#include <gio/gio.h>

#include "picker-request.h"

/* The object path the picker serves org.tlsid.Agent1 at. */
#define PICKER_AGENT_PATH "/org/tlsid/Picker/Agent"
/* The most requests waiting for the user at once (the daemon's own limit of prompts). */
#define PICKER_AGENT_MAX_PENDING 64

typedef struct _PickerAgent PickerAgent;

/* A request arrived; @request stays valid until picker_agent_answer() or the cancel
 * callback for its id. */
typedef void (*PickerAgentRequestFunc)(const PickerRequest *request, gpointer user_data);
/* The request @id ended without the user's answer (the daemon's Cancel, or the daemon
 * left the bus): close its prompt. */
typedef void (*PickerAgentCancelFunc)(const char *id, gpointer user_data);

/* Exports the agent object on @connection and watches org.tlsid.Manager1. Returns NULL
 * with @error set when the object cannot be exported (transfer full: picker_agent_free()). */
PickerAgent *picker_agent_new(GDBusConnection *connection, PickerAgentRequestFunc on_request,
                              PickerAgentCancelFunc on_cancel, gpointer user_data,
                              GError **error);
/* Unexports the object and stops watching; pending requests are answered "cancel".
 * Accepts NULL. */
void picker_agent_free(PickerAgent *agent);

/* Answers the pending request @id: @answer "certificate" (with @identity, one of the
 * request's), "none" or "cancel"; @remember keeps it across restarts. Nothing happens when
 * @id is no longer pending. */
void picker_agent_answer(PickerAgent *agent, const char *id, const char *answer,
                         const char *identity, gboolean remember);
