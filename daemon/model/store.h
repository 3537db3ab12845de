/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The data model: contexts, per-origin choices and generations, resumption tokens.
 *
 * Pure data: no D-Bus, no NSS, no I/O, no clock of its own (every call that needs the
 * time takes @now in Unix seconds), so it is unit tested without a bus. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "memory-budget.h"
#include "tlsid-ids.h"

#define TLSID_TOKEN_LIFETIME_TLS13 (7 * 24 * 3600)
#define TLSID_TOKEN_LIFETIME_OTHER (24 * 3600)
#define TLSID_TLS_VERSION_1_3 0x0304

typedef struct {
        guint max_contexts;             /* open contexts, default 4096 */
        guint max_origins_per_context;  /* (context, origin) entries, default 4096 */
        guint max_tokens_per_partition; /* default 4 */
        guint64 max_token_bytes;        /* all tokens together, default 32 MiB */
        guint max_holders_per_context;  /* connections holding one ephemeral context, 64 */
        guint max_remembered;           /* remembered choices, default 65536 */
        guint64 max_memory;             /* accounted bytes of all state, default 256 MiB */
} StoreLimits;

/* The defaults above. */
void store_limits_init(StoreLimits *limits);

/* takes and puts count every call that passed validation (stale and expired puts too);
 * evictions count tokens pushed out by the partition cap or the byte bound; expirations
 * count expired tokens dropped (at put, lazily at take, by store_expire); flushes count
 * successful store_flush calls, whatever they matched. */
typedef struct {
        guint64 takes, hits, misses, puts, stale_puts, evictions, expirations, flushes;
} StoreCounters;

/* Called for every change of a (context, origin) choice: SetChoice, ForgetChoices, and
 * the implicit reset when an ephemeral context goes away is NOT reported. */
typedef void (*StoreChoiceChangedFn)(const char *context, const char *origin, int state,
                                     const char *identity, guint32 generation,
                                     gpointer user_data);

typedef struct Store Store;

/* A new empty store; @nonce (16 bytes) goes into every peer id. */
Store *store_new(const StoreLimits *limits, const guint8 nonce[16]);
/* The limits @store was made with (owned by @store). */
const StoreLimits *store_get_limits(Store *store);
/* Zeroes every token and frees everything. Accepts NULL. */
void store_free(Store *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, store_free)

/* Observers: the D-Bus layer emits IdentityChanged from here. */
void store_set_choice_changed_fn(Store *store, StoreChoiceChangedFn fn, gpointer user_data);

/* --- contexts --- */

/* Opens @context (idempotent). For an ephemeral context @holder (a D-Bus unique name)
 * is added to the connections keeping it alive; reopening with a different @ephemeral
 * is TLSID_ERROR_INVALID_ARGUMENT; @label may be NULL (keeps the old one). Remembered
 * choices of @context apply from now on, unless it is ephemeral: nothing persistent
 * crosses into an ephemeral context. */
gboolean store_open_context(Store *store, const char *context, gboolean ephemeral,
                            const char *label, const char *holder, GError **error);
/* Closes @context: drops its tokens (at once unreachable and uncounted; freed by
 * store_reclaim()) and unremembered choices. TLSID_ERROR_NO_SUCH_CONTEXT when not open. */
gboolean store_close_context(Store *store, const char *context, guint *ret_dropped,
                             GError **error);
/* @holder disconnected: every ephemeral context it was the last holder of is closed.
 * Returns the number of contexts closed. */
guint store_drop_holder(Store *store, const char *holder);
gboolean store_has_context(Store *store, const char *context);
/* Whether @context is open and ephemeral (private browsing: nothing of it is logged). */
gboolean store_context_is_ephemeral(Store *store, const char *context);
/* The label of the open @context ("" when none), or NULL when it is not open (borrowed:
 * valid until the store changes). */
const char *store_context_label(Store *store, const char *context);

typedef struct {
        const char *context;
        const char *label; /* "" when none */
        gboolean ephemeral;
        guint partitions;  /* (context, origin) entries */
        guint tokens;
        guint64 bytes;
        guint choices;     /* entries whose state is not undecided */
} StoreContextInfo;

/* Called for each context of a page, in order; returns FALSE to end the page before
 * @info, which then comes first on the next page. @info is valid during the call. */
typedef gboolean (*StoreContextFn)(const StoreContextInfo *info, gpointer user_data);
/* A page of the open contexts, sorted by id (strcmp): calls @fn for each one whose id
 * sorts after @after (NULL or "": from the first; it need not be open any more) until
 * @fn refuses one. Costs O(log n) plus the contexts given, whatever the store holds; a
 * context open from the first page to the last is given exactly once. @fn must not
 * change the store. *@ret_total (nullable): the number of open contexts. Returns TRUE
 * when @fn refused one (more follow), FALSE when the list ran out. */
gboolean store_list_contexts(Store *store, const char *after, StoreContextFn fn,
                             gpointer user_data, guint *ret_total);

/* --- partitions --- */

typedef struct {
        int state;            /* TlsidStateCode */
        const char *identity; /* "" or 64 hex; valid until the store changes */
        guint32 generation;   /* >= 1 */
        gboolean remembered;  /* the choice is in the remembered set */
        gint64 not_after;     /* the certificate's notAfter, 0 when unknown or no certificate */
} StorePartition;

/* The current partition of (context, origin); does not create an entry. */
gboolean store_get_partition(Store *store, const char *context, const char *origin,
                             StorePartition *ret, GError **error);
/* The peer id for a partition: a hex SHA-256 over nonce, context, origin, identity and
 * generation with a "tlsid1-" prefix (transfer full). */
char *store_peer_id(Store *store, const char *context, const char *origin,
                    const char *identity, guint32 generation);

typedef enum {
        STORE_PUT_STORED,
        STORE_PUT_STALE,   /* identity or generation not current: dropped, counted */
        STORE_PUT_EXPIRED, /* already expired: dropped, counted */
} StorePutResult;

/* Stores a copy of @token (1 to TLSID_TOKEN_MAX bytes; else INVALID_ARGUMENT), made by
 * NSS, with its expiry clamped by @tls_version, and to the certificate's notAfter when the
 * choice recorded one (a token never outlives its certificate). Creates the (context,
 * origin) entry if needed (LIMIT_EXCEEDED past max_origins_per_context). Evicts as the
 * limits say. */
gboolean store_put_session(Store *store, const char *context, const char *origin,
                           const char *identity, guint32 generation, const guint8 *token,
                           gsize len, gint64 expires, guint16 tls_version, gint64 now,
                           StorePutResult *ret_result, GError **error);
/* The TLS stack a token was made by: a stack's tokens go only to clients of that stack
 * (an NSS token is nothing an OpenSSL client can resume, and the other way round). Clients
 * that do not say are NSS's (PutSession's meta "stack" absent, TakeSession,
 * BeginConnection). */
typedef enum {
        STORE_STACK_NSS = 0,
        STORE_STACK_OPENSSL = 1,
} StoreStack;

/* store_put_session() for a token of @stack. */
gboolean store_put_session_of(Store *store, StoreStack stack, const char *context,
                              const char *origin, const char *identity, guint32 generation,
                              const guint8 *token, gsize len, gint64 expires,
                              guint16 tls_version, gint64 now, StorePutResult *ret_result,
                              GError **error);
/* store_take_session() among the tokens of @stack only. */
gboolean store_take_session_of(Store *store, StoreStack stack, const char *context,
                               const char *origin, const char *identity, guint32 generation,
                               gint64 now, GBytes **ret_token, GError **error);

/* Removes the newest unexpired token of the partition and returns it in @ret_token
 * (transfer full, zeroed when unreffed; no copy is made); NULL (and TRUE) when none. */
gboolean store_take_session(Store *store, const char *context, const char *origin,
                            const char *identity, guint32 generation, gint64 now,
                            GBytes **ret_token, GError **error);

/* Drops tokens and bumps the generation of each matched (context, origin); NULL or ""
 * matches all. O(contexts matched): the tokens are unreachable and uncounted at once, and
 * zeroed and freed later by store_reclaim(). NO_SUCH_CONTEXT for a named context that is
 * not open. A named origin without an entry gets one (LIMIT_EXCEEDED as for a put), and a
 * wildcard origin also moves on the generation every origin without an entry starts from,
 * so in-process sessions keyed by a generation GetPartition reported become unreachable
 * too. */
gboolean store_flush(Store *store, const char *context, const char *origin,
                     guint *ret_dropped, GError **error);

typedef struct {
        const char *context;
        const char *origin;
        const char *identity;
        int state;
        guint32 generation;
        guint tokens;
        gint64 earliest_expiry; /* 0 when no token */
        guint64 bytes;
} StoreSessionInfo;

/* As StoreContextFn, for the (context, origin) entries of a page. */
typedef gboolean (*StoreSessionFn)(const StoreSessionInfo *info, gpointer user_data);
/* A page of the (context, origin) entries of @context (NULL or "": of every open
 * context; NO_SUCH_CONTEXT for a named one that is not open), sorted by context then
 * origin (strcmp): calls @fn for each one after (@after_context, @after_origin)
 * (@after_context NULL or "": from the first; the entry need not exist any more) until
 * @fn refuses one, as store_list_contexts() does and at the same cost. *@ret_more: TRUE
 * when @fn refused one; *@ret_total: the entries of @context (of all contexts for "");
 * both nullable. */
gboolean store_list_sessions(Store *store, const char *context, const char *after_context,
                             const char *after_origin, StoreSessionFn fn, gpointer user_data,
                             gboolean *ret_more, guint *ret_total, GError **error);

/* --- choices --- */

/* Sets the choice; @identity must be "" unless @state is CERTIFICATE. A change drops the
 * entry's tokens, bumps its generation and calls the choice-changed fn. @not_after is the
 * certificate's notAfter (Unix seconds; 0 when unknown, and ignored unless @state is
 * CERTIFICATE): tokens of the entry expire by then. It is recorded also when the choice
 * does not change; an unknown one then keeps what was known. @remember keeps the choice
 * in the remembered set (INVALID_ARGUMENT for an ephemeral context, whose choices never
 * touch that set); FALSE, or state undecided, removes it from there. Sets *@ret_changed
 * when given. */
gboolean store_set_choice(Store *store, const char *context, const char *origin, int state,
                          const char *identity, gint64 not_after, gboolean remember,
                          gboolean *ret_changed, GError **error);
/* Resets matched choices to undecided and removes them from the remembered set; NULL or
 * "" matches all, including remembered choices of contexts that are not open. A named
 * context must be open (NO_SUCH_CONTEXT). *@ret_forgotten counts entries reset plus
 * remembered choices removed that no open entry stood for. */
gboolean store_forget_choices(Store *store, const char *context, const char *origin,
                              guint *ret_forgotten, GError **error);

/* The remembered choices, for persistence. */
typedef void (*StoreRememberedFn)(const char *context, const char *origin, int state,
                                  const char *identity, gpointer user_data);
void store_foreach_remembered(Store *store, StoreRememberedFn fn, gpointer user_data);
/* Adds a remembered choice at load time (no signal; applies to @context if open). */
gboolean store_add_remembered(Store *store, const char *context, const char *origin,
                              int state, const char *identity, GError **error);
/* Bumped by every change of the remembered set, so the caller knows when to save. */
guint64 store_remembered_serial(Store *store);

/* --- expiry and statistics --- */

/* Drops tokens expired at @now, at most @max of them (the rest wait for the next call,
 * and a take never returns one meanwhile); returns how many. */
guint store_expire(Store *store, gint64 now, guint max);
/* The earliest expiry of any token, or 0 when none. Frees the few dropped tokens it meets
 * first (past them the answer may be early, never late). */
gint64 store_next_expiry(Store *store);

typedef struct {
        guint contexts, partitions, tokens;
        guint64 bytes;
        guint reclaim_pending; /* dropped tokens not yet zeroed and freed */
        guint64 memory_used, memory_cap; /* accounted bytes, max_memory (0: none) */
        StoreCounters counters;
} StoreStatistics;

void store_get_statistics(Store *store, StoreStatistics *ret);

/* The accounted total behind max_memory (owned by @store): other holders of state a
 * client can grow (the challenge retry records) charge it too. */
MemoryBudget *store_get_memory_budget(Store *store);

/* --- reclamation --- */

/* Tokens one reclamation slice frees at most (also the most any call frees of dropped
 * tokens on its way, see the byte bound). */
#define STORE_RECLAIM_SLICE 512

/* Zeroes and frees up to @max_tokens of the tokens flushes and closes dropped; returns
 * how many. */
guint store_reclaim(Store *store, guint max_tokens);
/* The dropped tokens left to reclaim. */
guint store_reclaim_pending(Store *store);
