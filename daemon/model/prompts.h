/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prompts: the certificate requests that wait for a person's answer through an agent.
 * One prompt per (context, origin); the calls waiting on it (waiters), each with its
 * caller and deadline; the limits per caller and in all. No D-Bus: what a waiter holds
 * (its call) is the bus face's, an opaque pointer here. */
#pragma once

#include <glib.h>

typedef enum {
        PROMPT_HANDSHAKE = 0, /* a TLS CertificateRequest (SelectCertificate) */
        PROMPT_CHALLENGE,     /* an HTTP transport challenge (AnswerChallenge) */
} PromptReason;

/* "handshake" or "challenge". */
const char *prompt_reason_to_string(PromptReason reason);

typedef struct Prompt Prompt;
typedef struct Prompts Prompts;

/* A call waiting on a prompt. */
typedef struct {
        Prompt *prompt;
        char *caller;     /* the caller's unique bus name */
        gint64 deadline;  /* monotonic microseconds: then it gets its non-interactive answer */
        gpointer data;    /* the bus face's (its held call), freed by the prompts' free fn */
} PromptWaiter;

struct Prompt {
        char *id;           /* unique within the daemon's life */
        char *context;
        char *origin;
        PromptReason reason;
        gint64 since;       /* Unix seconds */
        GPtrArray *waiters; /* PromptWaiter*, in arrival order */
        char *agent;        /* nullable: the bus name of the agent asked */
        GHashTable *eligible; /* identity -> gint64* notAfter: what the agent may answer */
        gpointer data;      /* the bus face's (the agent's call in flight); not freed here */
};

/* Prompts within @max_prompts in all and @max_per_caller waiting calls per caller;
 * @waiter_data_free (nullable) frees a waiter's data when the waiter goes. */
Prompts *prompts_new(guint max_prompts, guint max_per_caller, GDestroyNotify waiter_data_free);
/* Frees every prompt and waiter. Accepts NULL. */
void prompts_free(Prompts *prompts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Prompts, prompts_free)

/* The prompt of (context, origin), or NULL. */
Prompt *prompts_find(Prompts *prompts, const char *context, const char *origin);
/* The prompt whose id is @id, or NULL. */
Prompt *prompts_find_id(Prompts *prompts, const char *id);
/* The number of prompts. */
guint prompts_count(Prompts *prompts);
/* The waiting calls of @caller. */
guint prompts_caller_waits(Prompts *prompts, const char *caller);

/* Adds a waiter of @caller with @deadline and @data to the prompt of (context, origin),
 * made now (@now: Unix seconds) for @reason when there is none (*@ret_new: nullable,
 * TRUE then). LIMIT_EXCEEDED naming the limit when @caller waits max_per_caller times
 * already, or a new prompt would be one past max_prompts; @data is not taken then. */
PromptWaiter *prompts_add_waiter(Prompts *prompts, const char *context, const char *origin,
                                 PromptReason reason, const char *caller, gint64 deadline,
                                 gint64 now, gpointer data, gboolean *ret_new, GError **error);

/* Takes @waiter off its prompt and frees it without freeing its data, which is returned.
 * The prompt stays (possibly with no waiter left: see prompt_is_empty()). */
gpointer prompts_remove_waiter(Prompts *prompts, PromptWaiter *waiter);
gboolean prompt_is_empty(const Prompt *prompt);

/* Takes @prompt out of @prompts (it is no longer found); free it with prompt_free()
 * after taking its waiters' data with prompts_remove_waiter(). */
void prompts_take(Prompts *prompts, Prompt *prompt);
/* Frees a prompt that prompts_take() took, and the waiters left on it (with their
 * data). Accepts NULL. */
void prompt_free(Prompts *prompts, Prompt *prompt);

/* Notes that @identity (whose certificate ends at @not_after) may be the agent's answer. */
void prompt_allow(Prompt *prompt, const char *identity, gint64 not_after);
/* Whether @identity may be the answer; @ret_not_after (nullable) gets its notAfter. */
gboolean prompt_allows(const Prompt *prompt, const char *identity, gint64 *ret_not_after);

/* The waiters of @caller, of every prompt (PromptWaiter*, transfer container). */
GPtrArray *prompts_waiters_of(Prompts *prompts, const char *caller);
/* The waiters whose deadline is at or before @now (monotonic µs), earliest first
 * (transfer container). */
GPtrArray *prompts_expired(Prompts *prompts, gint64 now);
/* The earliest deadline of any waiter, G_MAXINT64 when none waits. */
gint64 prompts_next_deadline(Prompts *prompts);
/* The prompts asked of the agent @agent (Prompt*, transfer container). */
GPtrArray *prompts_of_agent(Prompts *prompts, const char *agent);
/* Every prompt, oldest first (Prompt*, transfer container). */
GPtrArray *prompts_list(Prompts *prompts);
