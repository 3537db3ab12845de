/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent interface on the bus: registering agents, asking one (RequestChoice, never
 * blocking: the reply comes to a pending call's notify), the calls held meanwhile and
 * every way they end, and the signals that show it. */
#include "agents.h"

#include <string.h>

#include "agent-interface.h"
#include "agent-list.h"
#include "args.h"
#include "bus-glib.h"
#include "cert-args.h"
#include "error.h"
#include "manager-private.h"

struct ManagerAgents {
        AgentList *list;
        Prompts *prompts;
        GSource *timer;          /* at the earliest deadline of a waiting call */
        GPtrArray *answered;     /* char* "context\norigin": choices changed, to end */
        GSource *answered_idle;
        gboolean applying;       /* an agent's answer is being made the choice */
        guint64 requests, answers, cancels;
};

/* A call held for an agent's answer: the waiter's data. */
typedef struct {
        DBusMessage *message;
        WaitStart start;
        MemoryBudget *budget; /* the store's, which the held message is charged to */
        guint64 cost;
} HeldCall;

static void held_call_free(HeldCall *held) {
        memory_budget_release(held->budget, held->cost);
        dbus_message_unref(held->message);
        g_free(held);
}

/* The bytes the values from @it on take, about as on the wire: a walk of every container
 * (the handler walked them already), byte arrays taken whole. */
static guint64 values_cost(DBusMessageIter *it) {
        guint64 cost = 0;

        for (int type; (type = dbus_message_iter_get_arg_type(it)) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(it)) {
                DBusMessageIter sub;

                if (type == DBUS_TYPE_STRING || type == DBUS_TYPE_OBJECT_PATH ||
                    type == DBUS_TYPE_SIGNATURE) {
                        const char *v;
                        dbus_message_iter_get_basic(it, &v);
                        cost += strlen(v) + 8;
                } else if (type == DBUS_TYPE_ARRAY &&
                           dbus_message_iter_get_element_type(it) == DBUS_TYPE_BYTE) {
                        const guint8 *bytes;
                        int n = 0;
                        dbus_message_iter_recurse(it, &sub);
                        dbus_message_iter_get_fixed_array(&sub, &bytes, &n);
                        cost += (guint64) n + 8;
                } else if (dbus_type_is_container(type)) {
                        dbus_message_iter_recurse(it, &sub);
                        cost += values_cost(&sub) + 8;
                } else {
                        cost += 8;
                }
        }
        return cost;
}

/* What holding @message costs: its arguments' bytes (a SelectCertificate's candidates
 * may be large) and the message's own structures. */
static guint64 held_call_cost(DBusMessage *message) {
        DBusMessageIter it;

        return 512 + sizeof(HeldCall) +
               (dbus_message_iter_init(message, &it) ? values_cost(&it) : 0);
}

/* What the bus face keeps of a prompt: the agent's call in flight. */
typedef struct {
        DBusPendingCall *pending; /* nullable: answered or never sent */
        char *path;               /* the agent's object path */
} Asked;

static void asked_free(Asked *asked) {
        if (!asked)
                return;
        if (asked->pending) {
                dbus_pending_call_cancel(asked->pending);
                dbus_pending_call_unref(asked->pending);
        }
        g_free(asked->path);
        g_free(asked);
}

ManagerAgents *manager_agents_new(Manager *m) {
        ManagerAgents *a = g_new0(ManagerAgents, 1);

        a->list = agent_list_new(m->config.max_agents);
        a->prompts = prompts_new(m->config.max_agent_requests,
                                 m->config.max_agent_waits_per_caller,
                                 (GDestroyNotify) held_call_free);
        a->answered = g_ptr_array_new_with_free_func(g_free);
        return a;
}

static void destroy_source(GSource **source) {
        if (*source) {
                g_source_destroy(*source);
                g_clear_pointer(source, g_source_unref);
        }
}

void manager_agents_free(ManagerAgents *a) {
        if (!a)
                return;
        destroy_source(&a->timer);
        destroy_source(&a->answered_idle);
        g_autoptr(GPtrArray) prompts = prompts_list(a->prompts);
        for (guint i = 0; i < prompts->len; i++)
                asked_free(((Prompt *) prompts->pdata[i])->data);
        prompts_free(a->prompts);
        agent_list_free(a->list);
        g_ptr_array_unref(a->answered);
        g_free(a);
}

/* --- signals and calls to the agent --- */

static void send_message(Manager *m, DBusMessage *message) {
        if (!dbus_connection_send(m->connection, message, NULL))
                oom();
}

static void emit_requested(Manager *m, const Prompt *prompt, guint eligible_total) {
        g_autoptr(DBusMessage) signal = dbus_message_new_signal(
                TLSID_OBJECT_PATH, interface_signals[SIGNAL_CERTIFICATE_REQUESTED].interface,
                interface_signals[SIGNAL_CERTIFICATE_REQUESTED].name);
        DBusMessageIter it, dict;
        const char *label = store_context_label(m->store, prompt->context);

        if (!signal)
                oom();
        dbus_message_iter_init_append(signal, &it);
        append_basic(&it, DBUS_TYPE_STRING, &prompt->id);
        append_basic(&it, DBUS_TYPE_STRING, &prompt->context);
        append_basic(&it, DBUS_TYPE_STRING, &prompt->origin);
        open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append_text(&dict, "label", label);
        const char *reason = prompt_reason_to_string(prompt->reason);
        dict_append(&dict, "reason", DBUS_TYPE_STRING, &reason);
        dict_append_uint32(&dict, "eligible_total", eligible_total);
        close_container(&it, &dict);
        send_message(m, signal);
}

static void emit_ended(Manager *m, const Prompt *prompt, const char *outcome) {
        g_autoptr(DBusMessage) signal = dbus_message_new_signal(
                TLSID_OBJECT_PATH, interface_signals[SIGNAL_CERTIFICATE_REQUEST_ENDED].interface,
                interface_signals[SIGNAL_CERTIFICATE_REQUEST_ENDED].name);

        if (!signal || !dbus_message_append_args(signal,
                                                 DBUS_TYPE_STRING, &prompt->id,
                                                 DBUS_TYPE_STRING, &outcome,
                                                 DBUS_TYPE_INVALID))
                oom();
        send_message(m, signal);
}

static DBusMessage *new_agent_call(const char *name, const char *path, AgentMethodId id) {
        const MethodSpec *spec = &agent_methods[id];
        /* A peer-to-peer connection (the unit tests, the fuzzer) has no names: its peer
         * is the agent. */
        DBusMessage *call = dbus_message_new_method_call(*name ? name : NULL, path,
                                                         spec->interface, spec->name);

        if (!call)
                oom();
        return call;
}

static void send_cancel(Manager *m, const Prompt *prompt) {
        const Asked *asked = prompt->data;

        if (!prompt->agent || !asked)
                return;
        g_autoptr(DBusMessage) call = new_agent_call(prompt->agent, asked->path,
                                                     AGENT_METHOD_CANCEL);
        dbus_message_set_no_reply(call, TRUE);
        if (!dbus_message_append_args(call, DBUS_TYPE_STRING, &prompt->id, DBUS_TYPE_INVALID))
                oom();
        send_message(m, call);
}

/* --- ending prompts and held calls --- */

static void rearm_timer(Manager *m);

/* After anything that may have changed the store outside a handler. */
static void store_changed(Manager *m) {
        state_saver_changed(m->saver);
        store_reclaimer_kick(m->reclaimer);
}

/* Answers @held (taken off its prompt) as it would be answered without agents, given
 * what the store holds now, and frees it. */
static void answer_held(Manager *m, HeldCall *held) {
        manager_answer_again(m, held->message, &held->start);
        held_call_free(held);
}

/* Ends @prompt with @outcome: the signal, Cancel to the agent when @cancel_agent, and
 * every call waiting on it answered from what the store holds now. */
static void end_prompt(Manager *m, Prompt *prompt, const char *outcome, gboolean cancel_agent) {
        ManagerAgents *a = m->agents;
        Asked *asked = prompt->data;

        prompts_take(a->prompts, prompt);
        if (asked && asked->pending) {
                dbus_pending_call_cancel(asked->pending);
                g_clear_pointer(&asked->pending, dbus_pending_call_unref);
        }
        if (cancel_agent)
                send_cancel(m, prompt);
        if (strcmp(outcome, "certificate") == 0 || strcmp(outcome, "none") == 0)
                a->answers++;
        else
                a->cancels++;
        emit_ended(m, prompt, outcome);
        manager_log(m, G_LOG_LEVEL_DEBUG, prompt->context, prompt->origin,
                    "request %s ended: %s, %u waiting", prompt->id, outcome,
                    prompt->waiters->len);
        while (prompt->waiters->len > 0)
                answer_held(m, prompts_remove_waiter(a->prompts, prompt->waiters->pdata[0]));
        asked_free(prompt->data);
        prompt->data = NULL;
        prompt_free(a->prompts, prompt);
        store_changed(m);
        rearm_timer(m);
}

static gboolean timer_cb(gpointer user_data) {
        Manager *m = user_data;
        ManagerAgents *a = m->agents;
        g_autoptr(GPtrArray) expired = prompts_expired(a->prompts, g_get_monotonic_time());

        g_clear_pointer(&a->timer, g_source_unref);
        for (guint i = 0; i < expired->len; i++) {
                PromptWaiter *w = expired->pdata[i];
                Prompt *prompt = w->prompt;

                answer_held(m, prompts_remove_waiter(a->prompts, w));
                /* The last one's timeout is the prompt's. */
                if (prompt_is_empty(prompt))
                        end_prompt(m, prompt, "timeout", TRUE);
        }
        store_changed(m);
        rearm_timer(m);
        return G_SOURCE_REMOVE;
}

static void rearm_timer(Manager *m) {
        ManagerAgents *a = m->agents;
        gint64 next = prompts_next_deadline(a->prompts);

        destroy_source(&a->timer);
        if (next == G_MAXINT64)
                return;
        gint64 wait = next - g_get_monotonic_time();
        /* Rounded up: a timer that fires early would find nothing expired. */
        guint ms = wait <= 0 ? 0 : (guint) MIN((wait + 999) / 1000, (gint64) G_MAXUINT);
        a->timer = g_timeout_source_new(ms);
        g_source_set_callback(a->timer, timer_cb, m, NULL);
        g_source_attach(a->timer, m->context);
}

static gboolean answered_cb(gpointer user_data) {
        Manager *m = user_data;
        ManagerAgents *a = m->agents;
        g_autoptr(GPtrArray) keys = g_steal_pointer(&a->answered);

        a->answered = g_ptr_array_new_with_free_func(g_free);
        g_clear_pointer(&a->answered_idle, g_source_unref);
        for (guint i = 0; i < keys->len; i++) {
                char *key = keys->pdata[i];
                char *newline = strchr(key, '\n');

                *newline = '\0';
                Prompt *prompt = prompts_find(a->prompts, key, newline + 1);
                if (prompt)
                        end_prompt(m, prompt, "answered", TRUE);
        }
        return G_SOURCE_REMOVE;
}

void manager_agents_choice_changed(Manager *m, const char *context, const char *origin) {
        ManagerAgents *a = m->agents;

        /* The agent's own answer ends its prompt itself. */
        if (!a || a->applying || !prompts_find(a->prompts, context, origin))
                return;
        /* Not now: the store is in the middle of a change, and a handler may be running. */
        g_ptr_array_add(a->answered, g_strconcat(context, "\n", origin, NULL));
        if (!a->answered_idle) {
                a->answered_idle = g_idle_source_new();
                g_source_set_priority(a->answered_idle, G_PRIORITY_DEFAULT);
                g_source_set_callback(a->answered_idle, answered_cb, m, NULL);
                g_source_attach(a->answered_idle, m->context);
        }
}

void manager_agents_name_gone(Manager *m, const char *name) {
        ManagerAgents *a = m->agents;

        if (agent_list_remove_name(a->list, name) > 0) {
                g_autoptr(GPtrArray) asked = prompts_of_agent(a->prompts, name);
                for (guint i = 0; i < asked->len; i++)
                        end_prompt(m, asked->pdata[i], "cancel", FALSE);
        }
        g_autoptr(GPtrArray) waits = prompts_waiters_of(a->prompts, name);
        for (guint i = 0; i < waits->len; i++) {
                PromptWaiter *w = waits->pdata[i];
                Prompt *prompt = w->prompt;

                /* Nobody to answer. */
                held_call_free(prompts_remove_waiter(a->prompts, w));
                if (prompt_is_empty(prompt))
                        end_prompt(m, prompt, "abandoned", TRUE);
        }
        rearm_timer(m);
}

/* --- the agent's answer --- */

/* Makes the agent's answer the choice, as SetChoice does; FALSE when it cannot be (the
 * context closed meanwhile, a limit), which the caller takes as a cancel. */
static gboolean apply_answer(Manager *m, Prompt *prompt, int state, const char *identity,
                             gint64 not_after, gboolean remember) {
        ManagerAgents *a = m->agents;
        g_autoptr(GError) error = NULL;

        if (remember && store_context_is_ephemeral(m->store, prompt->context)) {
                manager_log(m, G_LOG_LEVEL_MESSAGE, prompt->context, prompt->origin,
                            "request %s: the agent's remember is ignored for a private "
                            "context", prompt->id);
                remember = FALSE;
        }
        if (remember && !state_saver_check_remember(m->saver, &error)) {
                manager_log(m, G_LOG_LEVEL_WARNING, prompt->context, prompt->origin,
                            "request %s: the answer is not remembered: %s", prompt->id,
                            error->message);
                g_clear_error(&error);
                remember = FALSE;
        }
        a->applying = TRUE;
        gboolean ok = store_set_choice(m->store, prompt->context, prompt->origin, state,
                                       identity, not_after, remember, NULL, &error);
        a->applying = FALSE;
        if (!ok)
                manager_log(m, G_LOG_LEVEL_WARNING, prompt->context, prompt->origin,
                            "request %s: the agent's answer cannot be applied: %s",
                            prompt->id, error->message);
        return ok;
}

/* The notify's user data: the manager and the prompt's id (the prompt may be gone). */
typedef struct {
        Manager *manager;
        char *id;
} AskedRef;

static void asked_ref_free(AskedRef *ref) {
        g_free(ref->id);
        g_free(ref);
}

static void choice_reply_cb(DBusPendingCall *pending, void *user_data) {
        AskedRef *ref = user_data;
        Manager *m = ref->manager;
        ManagerAgents *a = m->agents;
        Prompt *prompt = prompts_find_id(a->prompts, ref->id);
        g_autoptr(DBusMessage) reply = dbus_pending_call_steal_reply(pending);
        const char *answer = NULL, *identity = NULL;
        dbus_bool_t remember = FALSE;
        DictField options[] = {
                { "remember", DBUS_TYPE_BOOLEAN, &remember },
        };
        DBusMessageIter it;
        g_autoptr(GError) error = NULL;

        if (!prompt)
                return;
        Asked *asked = prompt->data;
        if (asked && asked->pending == pending)
                g_clear_pointer(&asked->pending, dbus_pending_call_unref);
        if (!reply || dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR) {
                const char *name = reply ? dbus_message_get_error_name(reply) : NULL;
                gboolean timeout = !reply || g_strcmp0(name, DBUS_ERROR_NO_REPLY) == 0;

                manager_log(m, G_LOG_LEVEL_MESSAGE, prompt->context, prompt->origin,
                            "request %s: the agent %s: %s", prompt->id,
                            timeout ? "did not answer in time" : "failed",
                            name ? name : "no reply");
                end_prompt(m, prompt, timeout ? "timeout" : "cancel", timeout);
                return;
        }
        if (!dbus_message_has_signature(reply,
                                        agent_methods[AGENT_METHOD_REQUEST_CHOICE].out_signature)) {
                manager_log(m, G_LOG_LEVEL_MESSAGE, prompt->context, prompt->origin,
                            "request %s: the agent answered with signature \"%s\"; taken as "
                            "cancel", prompt->id, dbus_message_get_signature(reply));
                end_prompt(m, prompt, "cancel", TRUE);
                return;
        }
        dbus_message_iter_init(reply, &it);
        answer = iter_string(&it);
        identity = iter_string(&it);
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), &error)) {
                manager_log(m, G_LOG_LEVEL_MESSAGE, prompt->context, prompt->origin,
                            "request %s: the agent's answer is taken as cancel: %s",
                            prompt->id, error->message);
                end_prompt(m, prompt, "cancel", TRUE);
                return;
        }
        gint64 not_after = 0;
        if (strcmp(answer, "certificate") == 0) {
                if (!prompt_allows(prompt, identity, &not_after)) {
                        g_autofree char *quoted = error_quote(identity);
                        manager_log(m, G_LOG_LEVEL_MESSAGE, prompt->context, prompt->origin,
                                    "request %s: the agent chose %s, which is not eligible; "
                                    "taken as cancel", prompt->id, quoted);
                        end_prompt(m, prompt, "cancel", TRUE);
                        return;
                }
                if (!apply_answer(m, prompt, TLSID_STATE_CERTIFICATE, identity, not_after,
                                  remember)) {
                        end_prompt(m, prompt, "cancel", TRUE);
                        return;
                }
                end_prompt(m, prompt, "certificate", FALSE);
        } else if (strcmp(answer, "none") == 0) {
                if (!apply_answer(m, prompt, TLSID_STATE_NONE, "", 0, remember)) {
                        end_prompt(m, prompt, "cancel", TRUE);
                        return;
                }
                end_prompt(m, prompt, "none", FALSE);
        } else {
                if (strcmp(answer, "cancel") != 0) {
                        g_autofree char *quoted = error_quote(answer);
                        manager_log(m, G_LOG_LEVEL_MESSAGE, prompt->context, prompt->origin,
                                    "request %s: unknown answer %s; taken as cancel",
                                    prompt->id, quoted);
                }
                end_prompt(m, prompt, "cancel", FALSE);
        }
}

/* --- asking --- */

/* The RequestChoice call for a new @prompt (transfer full). */
static DBusMessage *new_request_choice(Manager *m, const Prompt *prompt, const char *path,
                                       const AgentQuestion *q, guint *ret_total) {
        DBusMessage *call = new_agent_call(prompt->agent, path, AGENT_METHOD_REQUEST_CHOICE);
        DBusMessageIter it, dict, entry, variant, array;
        const char *label = store_context_label(m->store, prompt->context);
        const char *reason = prompt_reason_to_string(prompt->reason);
        dbus_bool_t ephemeral = store_context_is_ephemeral(m->store, prompt->context);
        const char *source = q->from_database ? "database" : "application";
        g_autofree char *offered_by = NULL;

        if (!q->from_database) {
                const char *slash = strchr(prompt->context, '/');
                offered_by = slash ? g_strndup(prompt->context, (gsize) (slash - prompt->context))
                                   : g_strdup(prompt->context);
        }
        dbus_message_iter_init_append(call, &it);
        append_basic(&it, DBUS_TYPE_STRING, &prompt->id);
        open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append(&dict, "context", DBUS_TYPE_STRING, &prompt->context);
        dict_append_text(&dict, "label", label);
        dict_append(&dict, "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral);
        dict_append(&dict, "origin", DBUS_TYPE_STRING, &prompt->origin);
        dict_append(&dict, "reason", DBUS_TYPE_STRING, &reason);
        if (q->realm)
                dict_append_text(&dict, "realm", q->realm);

        open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        const char *key = "ca_names";
        append_basic(&entry, DBUS_TYPE_STRING, &key);
        open_container(&entry, DBUS_TYPE_VARIANT, "as", &variant);
        open_container(&variant, DBUS_TYPE_ARRAY, "s", &array);
        for (guint i = 0; q->ca_names && m->certs && i < q->ca_names->len; i++) {
                g_autofree char *text = cert_db_name_text(m->certs, q->ca_names->pdata[i]);
                const char *v = text ? text : "";
                append_basic(&array, DBUS_TYPE_STRING, &v);
        }
        close_container(&variant, &array);
        close_container(&entry, &variant);
        close_container(&dict, &entry);

        open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        key = "certificates";
        append_basic(&entry, DBUS_TYPE_STRING, &key);
        open_container(&entry, DBUS_TYPE_VARIANT, "aa{sv}", &variant);
        open_container(&variant, DBUS_TYPE_ARRAY, "a{sv}", &array);
        guint total = q->eligible ? q->eligible->len : 0;
        for (guint i = 0; i < total && i < TLSID_ELIGIBLE_MAX; i++)
                append_cert_info(&array, q->eligible->pdata[i], source, offered_by);
        close_container(&variant, &array);
        close_container(&entry, &variant);
        close_container(&dict, &entry);

        dict_append_uint32(&dict, "eligible_total", total);
        dict_append_uint32(&dict, "timeout_ms", q->timeout_ms);
        close_container(&it, &dict);
        *ret_total = total;
        return call;
}

/* Asks the current agent about the new @prompt; FALSE when the call cannot be sent. */
static gboolean ask_agent(Manager *m, Prompt *prompt, const AgentQuestion *q) {
        const Agent *agent = agent_list_current(m->agents->list);
        DBusPendingCall *pending = NULL;
        guint total = 0;

        prompt->agent = g_strdup(agent->name);
        g_autoptr(DBusMessage) call = new_request_choice(m, prompt, agent->path, q, &total);
        if (!dbus_connection_send_with_reply(m->connection, call, &pending,
                                             (int) MIN(q->timeout_ms, (guint32) G_MAXINT)) ||
            !pending)
                return FALSE;
        AskedRef *ref = g_new0(AskedRef, 1);
        ref->manager = m;
        ref->id = g_strdup(prompt->id);
        if (!dbus_pending_call_set_notify(pending, choice_reply_cb, ref,
                                          (DBusFreeFunction) asked_ref_free))
                oom();
        Asked *asked = g_new0(Asked, 1);
        asked->pending = pending;
        asked->path = g_strdup(agent->path);
        prompt->data = asked;
        for (guint i = 0; q->eligible && i < q->eligible->len; i++) {
                const CertInfo *info = q->eligible->pdata[i];
                prompt_allow(prompt, info->identity, info->not_after);
        }
        m->agents->requests++;
        emit_requested(m, prompt, total);
        return TRUE;
}

static const char *sender_of(DBusMessage *message) {
        const char *sender = dbus_message_get_sender(message);

        /* A peer-to-peer connection (the unit tests) has no sender. */
        return sender ? sender : "";
}

gboolean manager_wait_for_agent(Manager *m, DBusMessage *message, const AgentQuestion *q,
                                gboolean *ret_held, GError **error) {
        ManagerAgents *a = m->agents;
        gboolean is_new = FALSE;

        *ret_held = FALSE;
        /* A caller that wants no reply has nothing to wait for. A call of the direct
         * socket is answered at once: a wait is tracked by the caller's bus name, and its
         * reply goes out on the bus (libtlsid sends interactive calls there). */
        if (q->timeout_ms == 0 || dbus_message_get_no_reply(message) || m->in_direct_call)
                return TRUE;
        if (!prompts_find(a->prompts, q->context, q->origin) && !agent_list_current(a->list))
                return TRUE;
        MemoryBudget *budget = store_get_memory_budget(m->store);
        guint64 cost = held_call_cost(message);
        if (!memory_budget_check(budget, cost, "a call waiting for an agent", error))
                return FALSE;
        HeldCall *held = g_new0(HeldCall, 1);
        held->message = dbus_message_ref(message);
        held->start = q->start;
        held->budget = budget;
        held->cost = cost;
        memory_budget_charge(budget, cost);
        gint64 deadline = g_get_monotonic_time() + (gint64) q->timeout_ms * 1000;
        PromptWaiter *w = prompts_add_waiter(a->prompts, q->context, q->origin, q->reason,
                                             sender_of(message), deadline,
                                             g_get_real_time() / G_USEC_PER_SEC, held, &is_new,
                                             error);
        if (!w) {
                held_call_free(held);
                return FALSE;
        }
        if (is_new && !ask_agent(m, w->prompt, q)) {
                Prompt *prompt = w->prompt;
                held_call_free(prompts_remove_waiter(a->prompts, w));
                prompts_take(a->prompts, prompt);
                asked_free(prompt->data);
                prompt_free(a->prompts, prompt);
                manager_log(m, G_LOG_LEVEL_WARNING, q->context, q->origin,
                            "cannot ask the agent: not connected");
                return TRUE;
        }
        rearm_timer(m);
        *ret_held = TRUE;
        return TRUE;
}

void manager_agents_get_statistics(Manager *m, AgentStatistics *ret) {
        ManagerAgents *a = m->agents;
        g_autoptr(GPtrArray) prompts = prompts_list(a->prompts);

        *ret = (AgentStatistics) {
                .requests = a->requests,
                .answers = a->answers,
                .cancels = a->cancels,
                .agents = agent_list_count(a->list),
        };
        for (guint i = 0; i < prompts->len; i++)
                ret->waiting += ((Prompt *) prompts->pdata[i])->waiters->len;
}

/* --- the methods --- */

gboolean method_register_agent(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                               GError **error) {
        DBusMessageIter it;
        const char *path;

        dbus_message_iter_init(message, &it);
        dbus_message_iter_get_basic(&it, &path);
        dbus_message_iter_next(&it);
        if (!parse_dict(&it, "options", NULL, 0, error))
                return FALSE;
        if (!agent_list_add(m->agents->list, sender_of(message), path, error))
                return FALSE;
        g_message("agent %s registered at %s", sender_of(message), path);
        *ret_reply = new_reply(message);
        return TRUE;
}

gboolean method_unregister_agent(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                 GError **error) {
        ManagerAgents *a = m->agents;
        const char *path, *sender = sender_of(message);

        if (!dbus_message_get_args(message, NULL, DBUS_TYPE_OBJECT_PATH, &path,
                                   DBUS_TYPE_INVALID))
                oom();
        if (!agent_list_remove(a->list, sender, path, error))
                return FALSE;
        /* Its requests end as its cancel, unless another agent of its connection remains
         * to answer them. */
        if (!agent_list_has_name(a->list, sender)) {
                g_autoptr(GPtrArray) asked = prompts_of_agent(a->prompts, sender);
                for (guint i = 0; i < asked->len; i++)
                        end_prompt(m, asked->pdata[i], "cancel", TRUE);
        }
        *ret_reply = new_reply(message);
        return TRUE;
}

gboolean method_list_requests(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                              GError **error) {
        g_autoptr(GPtrArray) prompts = prompts_list(m->agents->prompts);
        DBusMessage *reply = new_reply(message);
        DBusMessageIter it, array, dict;

        dbus_message_iter_init_append(reply, &it);
        open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &array);
        for (guint i = 0; i < prompts->len; i++) {
                const Prompt *p = prompts->pdata[i];
                const char *reason = prompt_reason_to_string(p->reason);
                const char *agent = p->agent ? p->agent : "";
                dbus_int64_t since = p->since;

                open_container(&array, DBUS_TYPE_ARRAY, "{sv}", &dict);
                dict_append(&dict, "id", DBUS_TYPE_STRING, &p->id);
                dict_append(&dict, "context", DBUS_TYPE_STRING, &p->context);
                dict_append_text(&dict, "label", store_context_label(m->store, p->context));
                dict_append(&dict, "origin", DBUS_TYPE_STRING, &p->origin);
                dict_append(&dict, "reason", DBUS_TYPE_STRING, &reason);
                dict_append(&dict, "since", DBUS_TYPE_INT64, &since);
                dict_append_uint32(&dict, "waiters", p->waiters->len);
                dict_append(&dict, "agent", DBUS_TYPE_STRING, &agent);
                close_container(&array, &dict);
        }
        close_container(&it, &array);
        *ret_reply = reply;
        return TRUE;
}
