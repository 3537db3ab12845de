/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prompts and their waiters, bounded per caller and in all. */
#include "prompts.h"

#include <string.h>

#include "error.h"

struct Prompts {
        guint max_prompts;
        guint max_per_caller;
        GDestroyNotify waiter_data_free;
        GHashTable *by_key;  /* "context\norigin" -> Prompt* */
        GHashTable *by_id;   /* id -> Prompt* */
        GHashTable *waits;   /* caller -> GUINT_TO_POINTER(waiting calls) */
        GQueue order;        /* Prompt*, oldest first */
        guint64 next_id;
};

const char *prompt_reason_to_string(PromptReason reason) {
        return reason == PROMPT_CHALLENGE ? "challenge" : "handshake";
}

/* Neither ids nor origins hold a newline. */
static char *prompt_key(const char *context, const char *origin) {
        return g_strconcat(context, "\n", origin, NULL);
}

Prompts *prompts_new(guint max_prompts, guint max_per_caller, GDestroyNotify waiter_data_free) {
        Prompts *p = g_new0(Prompts, 1);

        p->max_prompts = max_prompts;
        p->max_per_caller = max_per_caller;
        p->waiter_data_free = waiter_data_free;
        p->by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        p->by_id = g_hash_table_new(g_str_hash, g_str_equal);
        p->waits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_queue_init(&p->order);
        return p;
}

static void count_wait(Prompts *p, const char *caller, int delta) {
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(p->waits, caller));

        n = (guint) ((int) n + delta);
        if (n == 0)
                g_hash_table_remove(p->waits, caller);
        else
                g_hash_table_replace(p->waits, g_strdup(caller), GUINT_TO_POINTER(n));
}

static void waiter_free(Prompts *p, PromptWaiter *w, gboolean free_data) {
        count_wait(p, w->caller, -1);
        if (free_data && p->waiter_data_free && w->data)
                p->waiter_data_free(w->data);
        g_free(w->caller);
        g_free(w);
}

void prompt_free(Prompts *p, Prompt *prompt) {
        if (!prompt)
                return;
        for (guint i = 0; i < prompt->waiters->len; i++)
                waiter_free(p, prompt->waiters->pdata[i], TRUE);
        g_ptr_array_unref(prompt->waiters);
        g_hash_table_destroy(prompt->eligible);
        g_free(prompt->id);
        g_free(prompt->context);
        g_free(prompt->origin);
        g_free(prompt->agent);
        g_free(prompt);
}

void prompts_take(Prompts *p, Prompt *prompt) {
        g_autofree char *key = prompt_key(prompt->context, prompt->origin);

        g_hash_table_remove(p->by_key, key);
        g_hash_table_remove(p->by_id, prompt->id);
        g_queue_remove(&p->order, prompt);
}

void prompts_free(Prompts *p) {
        Prompt *prompt;

        if (!p)
                return;
        while ((prompt = g_queue_peek_head(&p->order))) {
                prompts_take(p, prompt);
                prompt_free(p, prompt);
        }
        g_hash_table_destroy(p->by_key);
        g_hash_table_destroy(p->by_id);
        g_hash_table_destroy(p->waits);
        g_free(p);
}

Prompt *prompts_find(Prompts *p, const char *context, const char *origin) {
        g_autofree char *key = prompt_key(context, origin);

        return g_hash_table_lookup(p->by_key, key);
}

Prompt *prompts_find_id(Prompts *p, const char *id) {
        return g_hash_table_lookup(p->by_id, id);
}

guint prompts_count(Prompts *p) {
        return g_queue_get_length(&p->order);
}

guint prompts_caller_waits(Prompts *p, const char *caller) {
        return GPOINTER_TO_UINT(g_hash_table_lookup(p->waits, caller));
}

PromptWaiter *prompts_add_waiter(Prompts *p, const char *context, const char *origin,
                                 PromptReason reason, const char *caller, gint64 deadline,
                                 gint64 now, gpointer data, gboolean *ret_new,
                                 GError **error) {
        Prompt *prompt = prompts_find(p, context, origin);

        if (prompts_caller_waits(p, caller) >= p->max_per_caller) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "too many interactive calls of this caller waiting "
                            "(max_agent_waits_per_caller is %u)", p->max_per_caller);
                return NULL;
        }
        if (!prompt && prompts_count(p) >= p->max_prompts) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "too many certificate requests waiting for an agent "
                            "(max_agent_requests is %u)", p->max_prompts);
                return NULL;
        }
        if (ret_new)
                *ret_new = !prompt;
        if (!prompt) {
                prompt = g_new0(Prompt, 1);
                prompt->id = g_strdup_printf("%" G_GUINT64_FORMAT, ++p->next_id);
                prompt->context = g_strdup(context);
                prompt->origin = g_strdup(origin);
                prompt->reason = reason;
                prompt->since = now;
                prompt->waiters = g_ptr_array_new();
                prompt->eligible = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                         g_free);
                g_hash_table_insert(p->by_key, prompt_key(context, origin), prompt);
                g_hash_table_insert(p->by_id, prompt->id, prompt);
                g_queue_push_tail(&p->order, prompt);
        }
        PromptWaiter *w = g_new0(PromptWaiter, 1);
        w->prompt = prompt;
        w->caller = g_strdup(caller);
        w->deadline = deadline;
        w->data = data;
        g_ptr_array_add(prompt->waiters, w);
        count_wait(p, caller, +1);
        return w;
}

gpointer prompts_remove_waiter(Prompts *p, PromptWaiter *w) {
        gpointer data = w->data;

        g_ptr_array_remove(w->prompt->waiters, w);
        waiter_free(p, w, FALSE);
        return data;
}

gboolean prompt_is_empty(const Prompt *prompt) {
        return prompt->waiters->len == 0;
}

void prompt_allow(Prompt *prompt, const char *identity, gint64 not_after) {
        gint64 *v = g_new(gint64, 1);

        *v = not_after;
        g_hash_table_replace(prompt->eligible, g_strdup(identity), v);
}

gboolean prompt_allows(const Prompt *prompt, const char *identity, gint64 *ret_not_after) {
        const gint64 *v = g_hash_table_lookup(prompt->eligible, identity);

        if (v && ret_not_after)
                *ret_not_after = *v;
        return v != NULL;
}

GPtrArray *prompts_waiters_of(Prompts *p, const char *caller) {
        GPtrArray *out = g_ptr_array_new();

        if (!prompts_caller_waits(p, caller))
                return out;
        for (GList *l = p->order.head; l; l = l->next) {
                Prompt *prompt = l->data;
                for (guint i = 0; i < prompt->waiters->len; i++) {
                        PromptWaiter *w = prompt->waiters->pdata[i];
                        if (strcmp(w->caller, caller) == 0)
                                g_ptr_array_add(out, w);
                }
        }
        return out;
}

static gint compare_deadlines(gconstpointer a, gconstpointer b) {
        const PromptWaiter *x = *(PromptWaiter *const *) a, *y = *(PromptWaiter *const *) b;

        return x->deadline < y->deadline ? -1 : x->deadline > y->deadline;
}

/* A scan: there are at most max_prompts prompts with max_per_caller waits per caller. */
GPtrArray *prompts_expired(Prompts *p, gint64 now) {
        GPtrArray *out = g_ptr_array_new();

        for (GList *l = p->order.head; l; l = l->next) {
                Prompt *prompt = l->data;
                for (guint i = 0; i < prompt->waiters->len; i++) {
                        PromptWaiter *w = prompt->waiters->pdata[i];
                        if (w->deadline <= now)
                                g_ptr_array_add(out, w);
                }
        }
        g_ptr_array_sort(out, compare_deadlines);
        return out;
}

gint64 prompts_next_deadline(Prompts *p) {
        gint64 next = G_MAXINT64;

        for (GList *l = p->order.head; l; l = l->next) {
                Prompt *prompt = l->data;
                for (guint i = 0; i < prompt->waiters->len; i++) {
                        PromptWaiter *w = prompt->waiters->pdata[i];
                        next = MIN(next, w->deadline);
                }
        }
        return next;
}

GPtrArray *prompts_of_agent(Prompts *p, const char *agent) {
        GPtrArray *out = g_ptr_array_new();

        for (GList *l = p->order.head; l; l = l->next) {
                Prompt *prompt = l->data;
                if (g_strcmp0(prompt->agent, agent) == 0)
                        g_ptr_array_add(out, prompt);
        }
        return out;
}

GPtrArray *prompts_list(Prompts *p) {
        GPtrArray *out = g_ptr_array_new();

        for (GList *l = p->order.head; l; l = l->next)
                g_ptr_array_add(out, l->data);
        return out;
}
