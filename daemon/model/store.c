/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The data model: contexts, per-origin choices and generations, resumption tokens. */
#include "store.h"

#include <string.h>

#include "ilist.h"
#include "memory-budget.h"
#include "min-heap.h"
#include "secret-mem.h"
#include "store-index.h"

typedef struct Context Context;
typedef struct Entry Entry;
typedef struct Token Token;
typedef struct TokenBatch TokenBatch;

struct Token {
        Entry *entry;      /* only while live: a doomed token's entry may be gone */
        TokenBatch *batch; /* live while its batch is */
        guint8 *data;      /* a secret chunk (secret-mem.h): no GBytes until it is taken */
        guint32 len : 24;  /* at most TLSID_TOKEN_MAX */
        guint32 stack : 8; /* StoreStack: the TLS stack that made it */
        MinHeapNode expiry_node; /* in store->by_expiry */
        gint64 expires;
        /* In entry->tokens, newest first; left stale once doomed. Singly linked: an entry
         * holds at most max_tokens_per_partition (64) tokens, so a scan is cheap. */
        Token *entry_next;
        /* Embedded links: removal from these queues is O(1) and needs no allocation. */
        IListLink batch_link; /* in batch->tokens */
        IListLink lru_link;
};

G_STATIC_ASSERT(TLSID_TOKEN_MAX < (1 << 24));

/* 80 bytes on 64-bit, one 96-byte malloc chunk (a GBytes, a GSequence node and GList
 * links made a token's metadata 240 bytes in three allocations). g_slice would give
 * 80-byte chunks with GLib 2.74, but its page-aligned slabs cost more than that saved:
 * measured, 33 bytes more per token with 4 per partition. */
G_STATIC_ASSERT(sizeof(void *) != 8 || sizeof(Token) <= 80);

#define TOKEN_OF(link, member) ILIST_ITEM(link, Token, member)

/* The tokens of one context stored since its last wildcard flush (or close): a flush dooms
 * the whole batch at once, so the caller's path does not touch each token; the store's
 * reclaimer zeroes and frees doomed batches later, in slices (store_reclaim). */
struct TokenBatch {
        IList tokens;      /* by batch_link */
        gboolean doomed;   /* no token of it is reachable any more */
        GList doomed_link; /* in store->doomed while doomed and not empty */
};

/* A partition is the most numerous object after tokens, so it is one allocation with its
 * index links and its origin inside, and nothing else: it is looked up in the ordered
 * index, not in a hash table. 60 bytes and the origin: with an origin of up to 27 bytes,
 * one 96-byte malloc chunk (a separate origin string, a GTree node and a hash slot once
 * took about 140 bytes more). */
struct Entry {
        Context *context;
        char *identity;   /* no_identity when none is chosen */
        gint64 not_after; /* of the certificate chosen; 0 when unknown */
        Token *tokens;    /* by entry_next, newest first; only the current partition has any */
        StoreIndexNode index_node; /* in store->entry_index */
        guint32 generation;
        guint epoch;     /* the context's epoch it was last synced to, see entry_sync() */
        guint8 state;    /* TlsidStateCode */
        guint8 remembered;
        guint16 n_tokens; /* at most max_tokens_per_partition (64) */
        char origin[];   /* NUL-terminated */
};
G_STATIC_ASSERT(sizeof(void *) != 8 || G_STRUCT_OFFSET(Entry, origin) <= 60);

struct Context {
        char *id;
        char *label;
        StoreIndexNode index_node; /* in store->context_index */
        gboolean ephemeral;
        guint n_entries; /* in store->entry_index */
        GHashTable *holders; /* set of unique names, ephemeral contexts only */
        /* The generation of every origin without an entry: a wildcard flush bumps it,
         * so origins the store never saw move on too, and new entries start here. */
        guint32 base_generation;
        /* Bumped by every wildcard flush, which moves every entry to base_generation and
         * dooms its tokens: entries catch up when next looked at (entry_sync()). */
        guint epoch;
        TokenBatch *batch; /* where its new tokens go */
        guint tokens;
        guint64 bytes;
        guint64 tokens_cost; /* of its tokens, see token_cost() */
        guint64 charged;     /* against max_memory for it, its entries and holders */
        guint choices;
};

typedef struct {
        int state;
        char *identity;
} Remembered;

struct Store {
        StoreLimits limits;
        guint8 nonce[16];
        GHashTable *contexts;   /* id -> Context* */
        StoreIndex *context_index; /* every Context by (id, ""), for paged lists */
        StoreIndex *entry_index;   /* every Entry by (context id, origin), likewise */
        GHashTable *holders;    /* unique name -> set of Context* (reverse index) */
        GHashTable *remembered; /* context id -> (origin -> Remembered*) */
        guint n_remembered;
        guint64 remembered_serial;
        IList lru;              /* every Token by lru_link, live or doomed, least recently
                                 * stored first */
        MinHeap *by_expiry;     /* every Token, live or doomed, by expiry */
        guint n_tokens;         /* live ones */
        guint64 bytes;          /* of live tokens */
        GQueue doomed;          /* TokenBatch*: what store_reclaim() has left to free */
        TokenBatch *loose;      /* doomed tokens of single entries, always doomed */
        guint n_doomed;
        guint64 doomed_cost;    /* of doomed tokens, see token_cost() */
        MemoryBudget budget;
        StoreCounters counters;
        guint32 last_generation; /* every generation ever handed out, see take_generation() */
        GChecksum *checksum;    /* reused by store_peer_id */
        StoreChoiceChangedFn changed_fn;
        gpointer changed_data;
};

/* --- errors --- */

static gboolean invalid_field(GError **error, const char *field, const char *value,
                              const char *why) {
        g_autofree char *q = error_quote(value);

        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT, "%s %s: %s", field, q,
                    why);
        return FALSE;
}

static gboolean check_context(const char *context, GError **error) {
        const char *why = id_context_check(context);

        return why ? invalid_field(error, "context", context, why) : TRUE;
}

static gboolean check_origin(const char *origin, GError **error) {
        const char *why = id_origin_check(origin);

        return why ? invalid_field(error, "origin", origin, why) : TRUE;
}

static gboolean check_identity(const char *identity, GError **error) {
        const char *why = id_identity_check(identity);

        return why ? invalid_field(error, "identity", identity, why) : TRUE;
}

static gboolean no_such_context(GError **error, const char *context) {
        g_autofree char *q = error_quote(context);

        g_set_error(error, TLSID_ERROR, TLSID_ERROR_NO_SUCH_CONTEXT, "context %s is not open",
                    q);
        return FALSE;
}

/* The open context @id, or NULL with NO_SUCH_CONTEXT (@id validated first). */
static Context *lookup_context(Store *store, const char *id, GError **error) {
        Context *ctx;

        if (!check_context(id, error))
                return NULL;
        ctx = g_hash_table_lookup(store->contexts, id);
        if (!ctx)
                no_such_context(error, id);
        return ctx;
}

static gboolean is_wildcard(const char *s) {
        return !s || !*s;
}

/* --- limits --- */

void store_limits_init(StoreLimits *limits) {
        *limits = (StoreLimits) {
                .max_contexts = 4096,
                .max_origins_per_context = 4096,
                .max_tokens_per_partition = 4,
                .max_token_bytes = 32u * 1024 * 1024,
                .max_holders_per_context = 64,
                .max_remembered = 65536,
                .max_memory = 256u * 1024 * 1024,
        };
}

/* --- memory costs --- */

/* What each object counts against max_memory: its structure, about 16 bytes of allocator
 * overhead per allocation, a slot of its hash table at the usual load (about 48 bytes),
 * and its strings. An identity always counts its full 64 hex digits, so a change of choice
 * never changes a cost. */
#define ALLOC_OVERHEAD 16
#define HASH_SLOT 48
#define TABLE_BASE 128     /* an empty GHashTable */
#define HEAP_SLOT 16       /* a token's pointer in by_expiry, with the array's spare room */

/* A token: its structure, its slot in by_expiry, and the secret chunk. */
static guint64 token_cost(gsize len) {
        return sizeof(Token) + ALLOC_OVERHEAD + HEAP_SLOT + secret_mem_chunk_size(len);
}

/* A partition: its block with the origin and the index links inside, its identity when
 * one is chosen. */
static guint64 entry_cost(const char *origin) {
        return sizeof(Entry) + 2 * ALLOC_OVERHEAD + strlen(origin) + 1 + TLSID_IDENTITY_LEN +
               1;
}

/* A context with its tables and its token batch (the label is charged apart). */
static guint64 context_cost(const char *id) {
        return sizeof(Context) + sizeof(TokenBatch) + 4 * ALLOC_OVERHEAD + TABLE_BASE +
               strlen(id) + 1 + HASH_SLOT;
}

static guint64 label_cost(const char *label) {
        return strlen(label) + 1;
}

/* One holder of one context: its name in the context's set and in the reverse index. */
static guint64 holder_cost(const char *holder) {
        return 2 * (strlen(holder) + 1 + ALLOC_OVERHEAD + HASH_SLOT) + TABLE_BASE / 2;
}

/* A remembered choice; @new_context adds the table of its context. */
static guint64 remembered_cost(const char *context, const char *origin, gboolean new_context) {
        guint64 cost = sizeof(Remembered) + 3 * ALLOC_OVERHEAD + strlen(origin) + 1 +
                       TLSID_IDENTITY_LEN + 1 + HASH_SLOT;

        if (new_context)
                cost += TABLE_BASE + strlen(context) + 1 + ALLOC_OVERHEAD + HASH_SLOT;
        return cost;
}

/* --- tokens --- */

#define TOKEN_OF_EXPIRY_NODE(node) \
        ((Token *) ((guint8 *) (node) - G_STRUCT_OFFSET(Token, expiry_node)))

/* Earliest expiry first (tokens due in the same second go in the same call, or the same
 * slice of it, in no particular order). */
static gboolean token_expires_before(const MinHeapNode *a, const MinHeapNode *b) {
        return TOKEN_OF_EXPIRY_NODE(a)->expires < TOKEN_OF_EXPIRY_NODE(b)->expires;
}

/* The token that expires first, live or doomed; NULL when none. */
static Token *first_to_expire(Store *store) {
        MinHeapNode *node = min_heap_peek(store->by_expiry);

        return node ? TOKEN_OF_EXPIRY_NODE(node) : NULL;
}

static TokenBatch *batch_new(void) {
        TokenBatch *batch = g_new0(TokenBatch, 1);

        ilist_init(&batch->tokens);
        batch->doomed_link.data = batch;
        return batch;
}

/* Frees @token, in no entry or batch any more: its bytes are zeroed (secret_mem_free)
 * unless a taker has them. */
static void token_free(Store *store, Token *token) {
        min_heap_remove(store->by_expiry, &token->expiry_node);
        ilist_unlink(&store->lru, &token->lru_link);
        memory_budget_release(&store->budget, token_cost(token->len));
        secret_mem_free(token->data);
        g_free(token);
}

/* Takes live @token out of its entry, its batch and the live counts. */
static void token_detach(Store *store, Token *token) {
        Entry *entry = token->entry;
        Context *ctx = entry->context;
        Token **link = &entry->tokens;

        while (*link != token)
                link = &(*link)->entry_next;
        *link = token->entry_next;
        token->entry_next = NULL;
        entry->n_tokens--;
        ilist_unlink(&token->batch->tokens, &token->batch_link);
        ctx->tokens--;
        ctx->bytes -= token->len;
        ctx->tokens_cost -= token_cost(token->len);
        store->n_tokens--;
        store->bytes -= token->len;
}

/* Unlinks live @token from everything; returns its data (transfer full). */
static GBytes *token_unlink(Store *store, Token *token) {
        GBytes *data = secret_bytes_new_take(token->data, token->len);

        token->data = NULL;
        token_detach(store, token);
        token_free(store, token);
        return data;
}

/* Drops live @token at once: taken, expired or evicted. */
static void token_drop(Store *store, Token *token) {
        token_detach(store, token);
        token_free(store, token);
}

static void doomed_add(Store *store, TokenBatch *batch, guint n, guint64 cost) {
        if (batch->tokens.length == n)
                g_queue_push_tail_link(&store->doomed, &batch->doomed_link);
        store->n_doomed += n;
        store->doomed_cost += cost;
}

/* Makes live @token unreachable at once and leaves its freeing to store_reclaim(). */
static void token_doom(Store *store, Token *token) {
        token_detach(store, token);
        token->entry = NULL;
        token->batch = store->loose;
        ilist_push_tail(&store->loose->tokens, &token->batch_link);
        doomed_add(store, store->loose, 1, token_cost(token->len));
}

/* Dooms every token of @entry; returns how many. */
static guint entry_doom_tokens(Store *store, Entry *entry) {
        guint n = entry->n_tokens;

        while (entry->tokens)
                token_doom(store, entry->tokens);
        return n;
}

/* Dooms every token of @ctx in O(1): its batch goes to the reclaimer whole, and its
 * entries forget their tokens when next synced (the epoch moves on). Returns how many. */
static guint context_doom_tokens(Store *store, Context *ctx) {
        guint n = ctx->tokens;

        if (ctx->batch->tokens.length > 0) {
                ctx->batch->doomed = TRUE;
                doomed_add(store, ctx->batch, ctx->batch->tokens.length, ctx->tokens_cost);
                ctx->batch = batch_new();
        }
        store->n_tokens -= ctx->tokens;
        store->bytes -= ctx->bytes;
        ctx->tokens = 0;
        ctx->bytes = 0;
        ctx->tokens_cost = 0;
        ctx->epoch++;
        return n;
}

/* Frees doomed @token: zeroed and gone. */
static void token_reclaim(Store *store, Token *token) {
        TokenBatch *batch = token->batch;

        ilist_unlink(&batch->tokens, &token->batch_link);
        if (batch->tokens.length == 0) {
                g_queue_unlink(&store->doomed, &batch->doomed_link);
                if (batch != store->loose)
                        g_free(batch);
        }
        store->n_doomed--;
        store->doomed_cost -= token_cost(token->len);
        token_free(store, token);
}

static void reclaim_one(Store *store) {
        TokenBatch *batch = store->doomed.head->data;

        token_reclaim(store, TOKEN_OF(batch->tokens.head, batch_link));
}

/* Whether @bytes more fit under max_memory. Doomed tokens still count until freed, so
 * when freeing some would make room, as many as needed are freed now: at most @bytes'
 * worth, never the whole backlog. */
static gboolean memory_room(Store *store, guint64 bytes, const char *what, GError **error) {
        MemoryBudget *b = &store->budget;

        if (memory_budget_check(b, bytes, what, NULL))
                return TRUE;
        if (b->cap > 0 && b->used - MIN(store->doomed_cost, b->used) + bytes <= b->cap)
                while (store->doomed.head && !memory_budget_check(b, bytes, what, NULL))
                        reclaim_one(store);
        return memory_budget_check(b, bytes, what, error);
}

static void charge_context(Store *store, Context *ctx, guint64 bytes) {
        memory_budget_charge(&store->budget, bytes);
        ctx->charged += bytes;
}

/* --- entries --- */

/* Most entries have no identity chosen: they share this instead of an allocation each. */
static char no_identity[] = "";

static void entry_set_identity(Entry *entry, const char *identity) {
        char *old = entry->identity;

        entry->identity = *identity ? g_strdup(identity) : no_identity;
        if (old != no_identity)
                g_free(old);
}

static void entry_free(Entry *entry) {
        entry_set_identity(entry, "");
        g_free(entry);
}

/* Generations come from one store-wide counter, so a generation is never handed out
 * twice in a daemon run: a context closed and opened again (a private window reopened
 * under the same id) cannot meet the peer ids, and so the in-process sessions, of its
 * previous life. Each call that changes partitions takes ONE value and moves every
 * (context, origin) it touches there: a peer id hashes the context and origin too, so
 * sharing is safe, and taking one per entry would let a few wildcard flushes over a full
 * store use up the counter. Wrapping to 0 would make old partitions reachable again, so
 * when a caller has spent all 2^32 (billions of changes: days of nothing else), changes
 * fail until the daemon restarts with a new nonce. */
static gboolean take_generation(Store *store, guint32 *ret, GError **error) {
        if (store->last_generation == G_MAXUINT32) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "generations are used up: restart tlsidd");
                return FALSE;
        }
        *ret = ++store->last_generation;
        return TRUE;
}

/* Whether setting (@state, @identity) on @entry (NULL: no entry, so undecided) changes it. */
static gboolean choice_differs(const Entry *entry, int state, const char *identity) {
        if (!entry)
                return state != TLSID_STATE_UNDECIDED;
        return entry->state != state || strcmp(entry->identity, identity) != 0;
}

/* Makes @entry one of @ctx's: looked up by origin, listed in order. */
static void entry_insert(Store *store, Context *ctx, Entry *entry) {
        store_index_add(store->entry_index, entry);
        ctx->n_entries++;
}

static void entry_index_key(gconstpointer item, const char **ret_major,
                            const char **ret_minor) {
        const Entry *entry = item;

        *ret_major = entry->context->id;
        *ret_minor = entry->origin;
}

/* Brings @entry up to its context's last wildcard flush: the flush doomed its tokens with
 * the context's batch and moved it to the base generation. Every read of an entry goes
 * through here. */
static Entry *entry_sync(Entry *entry) {
        Context *ctx = entry->context;

        if (entry->epoch != ctx->epoch) {
                /* The links are stale: the doomed batch owns those tokens now. */
                entry->tokens = NULL;
                entry->n_tokens = 0;
                entry->generation = ctx->base_generation;
                entry->epoch = ctx->epoch;
        }
        return entry;
}

/* The entry of (@ctx, @origin), synced, or NULL. */
static Entry *entry_lookup(Store *store, Context *ctx, const char *origin) {
        Entry *entry = store_index_find(store->entry_index, ctx->id, origin);

        return entry ? entry_sync(entry) : NULL;
}

static gboolean collect_item(gpointer item, gpointer user_data) {
        g_ptr_array_add(user_data, item);
        return TRUE;
}

/* The entries of @ctx by origin, not synced (transfer container). */
static GPtrArray *context_entries(Store *store, Context *ctx) {
        GPtrArray *entries = g_ptr_array_sized_new(ctx->n_entries);

        store_index_walk(store->entry_index, ctx->id, NULL, NULL, collect_item, entries);
        return entries;
}

/* Takes every entry of @ctx out of the index and frees it. */
static void context_free_entries(Store *store, Context *ctx) {
        g_autoptr(GPtrArray) entries = context_entries(store, ctx);

        for (guint i = 0; i < entries->len; i++) {
                Entry *entry = entries->pdata[i];

                store_index_remove(store->entry_index, ctx->id, entry->origin);
                entry_free(entry);
        }
        ctx->n_entries = 0;
}

/* A new entry of @ctx for @origin at the base generation, charged to @ctx. */
static Entry *entry_new(Store *store, Context *ctx, const char *origin) {
        gsize len = strlen(origin);
        Entry *entry = g_malloc0(G_STRUCT_OFFSET(Entry, origin) + len + 1);

        entry->context = ctx;
        memcpy(entry->origin, origin, len + 1);
        entry->state = TLSID_STATE_UNDECIDED;
        entry->identity = no_identity;
        entry->generation = ctx->base_generation;
        entry->epoch = ctx->epoch;
        entry_insert(store, ctx, entry);
        charge_context(store, ctx, entry_cost(origin));
        return entry;
}

/* The entry of (@ctx, @origin), created at the context's base generation when missing;
 * NULL with LIMIT_EXCEEDED when the context holds max_origins_per_context already, or
 * max_memory has no room for it. */
static Entry *entry_ensure(Store *store, Context *ctx, const char *origin, GError **error) {
        Entry *entry = entry_lookup(store, ctx, origin);

        if (entry)
                return entry;
        if (ctx->n_entries >= store->limits.max_origins_per_context) {
                g_autofree char *q = error_quote(ctx->id);

                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "context %s: max_origins_per_context (%u) reached", q,
                            store->limits.max_origins_per_context);
                return NULL;
        }
        if (!memory_room(store, entry_cost(origin), "a partition", error))
                return NULL;
        return entry_new(store, ctx, origin);
}

/* Sets the choice of @entry; returns TRUE when it changed (then tokens are gone and the
 * generation moved on). Does not call the changed fn. */
static gboolean entry_set_choice(Store *store, Entry *entry, int state, const char *identity,
                                 guint32 generation) {
        if (entry->state == state && strcmp(entry->identity, identity) == 0)
                return FALSE;
        entry_doom_tokens(store, entry);
        entry->generation = generation;
        if (entry->state == TLSID_STATE_UNDECIDED && state != TLSID_STATE_UNDECIDED)
                entry->context->choices++;
        else if (entry->state != TLSID_STATE_UNDECIDED && state == TLSID_STATE_UNDECIDED)
                entry->context->choices--;
        entry->state = state;
        entry_set_identity(entry, identity);
        entry->not_after = 0;
        return TRUE;
}

static void notify_changed(Store *store, Entry *entry) {
        if (store->changed_fn)
                store->changed_fn(entry->context->id, entry->origin, entry->state,
                                  entry->identity, entry->generation, store->changed_data);
}

/* --- remembered choices --- */

static void remembered_free(Remembered *r) {
        g_free(r->identity);
        g_free(r);
}

static Remembered *remembered_lookup(Store *store, const char *context, const char *origin) {
        GHashTable *origins = g_hash_table_lookup(store->remembered, context);

        return origins ? g_hash_table_lookup(origins, origin) : NULL;
}

/* Inserts or replaces; the caller checked max_remembered. */
static void remembered_put(Store *store, const char *context, const char *origin, int state,
                           const char *identity) {
        GHashTable *origins = g_hash_table_lookup(store->remembered, context);
        Remembered *r;

        if (!origins) {
                origins = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) remembered_free);
                g_hash_table_insert(store->remembered, g_strdup(context), origins);
                memory_budget_charge(&store->budget,
                                     remembered_cost(context, origin, TRUE) -
                                             remembered_cost(context, origin, FALSE));
        }
        r = g_hash_table_lookup(origins, origin);
        if (r) {
                if (r->state == state && strcmp(r->identity, identity) == 0)
                        return;
                r->state = state;
                g_free(r->identity);
                r->identity = g_strdup(identity);
        } else {
                r = g_new0(Remembered, 1);
                r->state = state;
                r->identity = g_strdup(identity);
                g_hash_table_insert(origins, g_strdup(origin), r);
                store->n_remembered++;
                memory_budget_charge(&store->budget, remembered_cost(context, origin, FALSE));
        }
        store->remembered_serial++;
}

static gboolean remembered_remove(Store *store, const char *context, const char *origin) {
        GHashTable *origins = g_hash_table_lookup(store->remembered, context);

        if (!origins || !g_hash_table_remove(origins, origin))
                return FALSE;
        memory_budget_release(&store->budget, remembered_cost(context, origin, FALSE));
        if (g_hash_table_size(origins) == 0) {
                memory_budget_release(&store->budget,
                                      remembered_cost(context, origin, TRUE) -
                                              remembered_cost(context, origin, FALSE));
                g_hash_table_remove(store->remembered, context);
        }
        store->n_remembered--;
        store->remembered_serial++;
        return TRUE;
}

/* Whether a remembered choice for (@context, @origin) fits: max_remembered, max_memory. */
static gboolean remembered_check_room(Store *store, const char *context, const char *origin,
                                      GError **error) {
        if (remembered_lookup(store, context, origin))
                return TRUE;
        if (store->n_remembered >= store->limits.max_remembered) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "max_remembered (%u) reached", store->limits.max_remembered);
                return FALSE;
        }
        return memory_room(store,
                           remembered_cost(context, origin,
                                           !g_hash_table_contains(store->remembered, context)),
                           "a remembered choice", error);
}

/* --- contexts --- */

static void context_remove_holders(Store *store, Context *ctx) {
        GHashTableIter iter;
        gpointer name;

        if (!ctx->holders)
                return;
        g_hash_table_iter_init(&iter, ctx->holders);
        while (g_hash_table_iter_next(&iter, &name, NULL)) {
                GHashTable *set = g_hash_table_lookup(store->holders, name);

                if (!set)
                        continue;
                g_hash_table_remove(set, ctx);
                if (g_hash_table_size(set) == 0)
                        g_hash_table_remove(store->holders, name);
        }
}

/* Removes @ctx from the store, dooming its tokens at once (the reclaimer frees them) and
 * freeing its entries; returns tokens dropped. */
static guint context_close(Store *store, Context *ctx) {
        guint dropped;

        context_remove_holders(store, ctx);
        dropped = context_doom_tokens(store, ctx);
        context_free_entries(store, ctx);
        store_index_remove(store->context_index, ctx->id, "");
        memory_budget_release(&store->budget, ctx->charged);
        g_hash_table_remove(store->contexts, ctx->id);
        return dropped;
}

static void context_index_key(gconstpointer item, const char **ret_major,
                              const char **ret_minor) {
        *ret_major = ((const Context *) item)->id;
        *ret_minor = "";
}

static void context_free(Context *ctx) {
        g_free(ctx->batch); /* empty: its tokens were dropped or doomed first */
        if (ctx->holders)
                g_hash_table_unref(ctx->holders);
        g_free(ctx->label);
        g_free(ctx->id);
        g_free(ctx);
}

/* What the entries of the remembered choices of @context will cost once it opens. */
static guint64 remembered_entries_cost(Store *store, const char *context) {
        GHashTable *origins = g_hash_table_lookup(store->remembered, context);
        GHashTableIter iter;
        gpointer key;
        guint64 cost = 0;

        if (!origins)
                return 0;
        g_hash_table_iter_init(&iter, origins);
        while (g_hash_table_iter_next(&iter, &key, NULL))
                cost += entry_cost(key);
        return cost;
}

/* Applies the remembered choices of a freshly opened context: no signal, the entries are
 * new. The remembered set is bounded by max_remembered, so this may pass
 * max_origins_per_context; further origins are refused until there is room. */
static void context_apply_remembered(Store *store, Context *ctx) {
        GHashTable *origins = g_hash_table_lookup(store->remembered, ctx->id);
        GHashTableIter iter;
        gpointer key, value;

        if (!origins)
                return;
        g_hash_table_iter_init(&iter, origins);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                Remembered *r = value;
                Entry *entry = entry_new(store, ctx, key);

                entry->state = r->state;
                entry_set_identity(entry, r->identity);
                entry->remembered = TRUE;
                if (r->state != TLSID_STATE_UNDECIDED)
                        ctx->choices++;
        }
}

static gboolean holder_add(Store *store, Context *ctx, const char *holder, GError **error) {
        GHashTable *set;

        if (is_wildcard(holder))
                return invalid_field(error, "holder", holder,
                                     "an ephemeral context needs a holder");
        if (g_hash_table_contains(ctx->holders, holder))
                return TRUE;
        if (g_hash_table_size(ctx->holders) >= store->limits.max_holders_per_context) {
                g_autofree char *q = error_quote(ctx->id);

                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "context %s: max_holders_per_context (%u) reached", q,
                            store->limits.max_holders_per_context);
                return FALSE;
        }
        if (!memory_room(store, holder_cost(holder), "a holder", error))
                return FALSE;
        charge_context(store, ctx, holder_cost(holder));
        g_hash_table_add(ctx->holders, g_strdup(holder));
        set = g_hash_table_lookup(store->holders, holder);
        if (!set) {
                set = g_hash_table_new(g_direct_hash, g_direct_equal);
                g_hash_table_insert(store->holders, g_strdup(holder), set);
        }
        g_hash_table_add(set, ctx);
        return TRUE;
}

gboolean store_open_context(Store *store, const char *context, gboolean ephemeral,
                            const char *label, const char *holder, GError **error) {
        guint32 base_generation;
        Context *ctx;

        ephemeral = !!ephemeral;
        if (!check_context(context, error))
                return FALSE;
        if (label && (strlen(label) > TLSID_LABEL_MAX || !g_utf8_validate(label, -1, NULL)))
                return invalid_field(error, "label", label,
                                     "must be valid UTF-8 of at most 256 bytes");

        ctx = g_hash_table_lookup(store->contexts, context);
        if (ctx) {
                if (ctx->ephemeral != ephemeral) {
                        g_autofree char *q = error_quote(context);

                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "ephemeral: context %s is already open %s", q,
                                    ctx->ephemeral ? "as ephemeral" : "as not ephemeral");
                        return FALSE;
                }
                if (label && label_cost(label) > label_cost(ctx->label) &&
                    !memory_room(store, label_cost(label) - label_cost(ctx->label), "a label",
                                 error))
                        return FALSE;
                if (ephemeral && !holder_add(store, ctx, holder, error))
                        return FALSE;
                if (label) {
                        memory_budget_release(&store->budget, label_cost(ctx->label));
                        ctx->charged -= label_cost(ctx->label);
                        charge_context(store, ctx, label_cost(label));
                        g_free(ctx->label);
                        ctx->label = g_strdup(label);
                }
                return TRUE;
        }

        if (ephemeral && is_wildcard(holder))
                return invalid_field(error, "holder", holder,
                                     "an ephemeral context needs a holder");
        if (g_hash_table_size(store->contexts) >= store->limits.max_contexts) {
                g_autofree char *q = error_quote(context);

                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "context %s: max_contexts (%u) reached", q,
                            store->limits.max_contexts);
                return FALSE;
        }

        {
                guint64 cost = context_cost(context) + label_cost(label ? label : "") +
                               (ephemeral ? holder_cost(holder)
                                          : remembered_entries_cost(store, context));

                if (!memory_room(store, cost, "a context", error))
                        return FALSE;
        }
        if (!take_generation(store, &base_generation, error))
                return FALSE;
        ctx = g_new0(Context, 1);
        ctx->id = g_strdup(context);
        ctx->label = g_strdup(label ? label : "");
        ctx->ephemeral = ephemeral;
        ctx->base_generation = base_generation;
        ctx->batch = batch_new();
        charge_context(store, ctx, context_cost(context) + label_cost(ctx->label));
        g_hash_table_insert(store->contexts, ctx->id, ctx);
        store_index_add(store->context_index, ctx);
        if (ephemeral) {
                ctx->holders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                /* Cannot fail: the holder is valid and the set is empty. */
                holder_add(store, ctx, holder, NULL);
        } else {
                /* Nothing persistent crosses into an ephemeral context, and nothing of
                 * one is kept, so only non-ephemeral contexts see remembered choices. */
                context_apply_remembered(store, ctx);
        }
        return TRUE;
}

gboolean store_close_context(Store *store, const char *context, guint *ret_dropped,
                             GError **error) {
        Context *ctx = lookup_context(store, context, error);
        guint dropped;

        if (!ctx)
                return FALSE;
        dropped = context_close(store, ctx);
        if (ret_dropped)
                *ret_dropped = dropped;
        return TRUE;
}

guint store_drop_holder(Store *store, const char *holder) {
        g_autoptr(GHashTable) set = NULL;
        g_autofree gpointer *contexts = NULL;
        g_autofree char *name = NULL;
        guint n, closed = 0;

        if (!holder || !g_hash_table_steal_extended(store->holders, holder,
                                                    (gpointer *) &name, (gpointer *) &set))
                return 0;
        contexts = g_hash_table_get_keys_as_array(set, &n);
        for (guint i = 0; i < n; i++) {
                Context *ctx = contexts[i];

                g_hash_table_remove(ctx->holders, holder);
                memory_budget_release(&store->budget, holder_cost(holder));
                ctx->charged -= holder_cost(holder);
                if (g_hash_table_size(ctx->holders) == 0) {
                        context_close(store, ctx);
                        closed++;
                }
        }
        return closed;
}

const StoreLimits *store_get_limits(Store *store) {
        return &store->limits;
}

gboolean store_has_context(Store *store, const char *context) {
        return context && g_hash_table_contains(store->contexts, context);
}

gboolean store_context_is_ephemeral(Store *store, const char *context) {
        Context *ctx = context ? g_hash_table_lookup(store->contexts, context) : NULL;

        return ctx && ctx->ephemeral;
}

const char *store_context_label(Store *store, const char *context) {
        Context *ctx = context ? g_hash_table_lookup(store->contexts, context) : NULL;

        return ctx ? (ctx->label ? ctx->label : "") : NULL;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The keys of @table (strings), sorted (transfer container). */
static gpointer *sorted_keys(GHashTable *table, guint *ret_n) {
        gpointer *keys = g_hash_table_get_keys_as_array(table, ret_n);

        qsort(keys, *ret_n, sizeof *keys, compare_strings);
        return keys;
}

/* A paged list's callback, passed through the index's walk. */
typedef struct {
        StoreContextFn context_fn;
        StoreSessionFn session_fn;
        gpointer user_data;
} ListWalk;

static gboolean context_info_emit(gpointer item, gpointer user_data) {
        const Context *ctx = item;
        const ListWalk *walk = user_data;
        StoreContextInfo info = {
                .context = ctx->id,
                .label = ctx->label,
                .ephemeral = ctx->ephemeral,
                .partitions = ctx->n_entries,
                .tokens = ctx->tokens,
                .bytes = ctx->bytes,
                .choices = ctx->choices,
        };

        return walk->context_fn(&info, walk->user_data);
}

gboolean store_list_contexts(Store *store, const char *after, StoreContextFn fn,
                             gpointer user_data, guint *ret_total) {
        ListWalk walk = { .context_fn = fn, .user_data = user_data };

        if (ret_total)
                *ret_total = g_hash_table_size(store->contexts);
        return store_index_walk(store->context_index, NULL, is_wildcard(after) ? NULL : after,
                                "", context_info_emit, &walk);
}

/* --- partitions --- */

gboolean store_get_partition(Store *store, const char *context, const char *origin,
                             StorePartition *ret, GError **error) {
        Context *ctx;
        Entry *entry;

        if (!check_context(context, error) || !check_origin(origin, error))
                return FALSE;
        ctx = lookup_context(store, context, error);
        if (!ctx)
                return FALSE;
        entry = entry_lookup(store, ctx, origin);
        if (entry)
                *ret = (StorePartition) {
                        .state = entry->state,
                        .identity = entry->identity,
                        .generation = entry->generation,
                        .remembered = entry->remembered,
                        .not_after = entry->not_after,
                };
        else
                *ret = (StorePartition) {
                        .state = TLSID_STATE_UNDECIDED,
                        .identity = "",
                        .generation = ctx->base_generation,
                };
        return TRUE;
}

char *store_peer_id(Store *store, const char *context, const char *origin,
                    const char *identity, guint32 generation) {
        const guint8 gen[4] = {
                (guint8) (generation >> 24), (guint8) (generation >> 16),
                (guint8) (generation >> 8), (guint8) generation,
        };
        const char *parts[] = { context, origin, identity };

        g_checksum_reset(store->checksum);
        g_checksum_update(store->checksum, store->nonce, sizeof store->nonce);
        /* Each string with its NUL, so no two tuples hash the same bytes. */
        for (gsize i = 0; i < G_N_ELEMENTS(parts); i++) {
                const char *s = parts[i] ? parts[i] : "";

                g_checksum_update(store->checksum, (const guchar *) s, (gssize) strlen(s) + 1);
        }
        g_checksum_update(store->checksum, gen, sizeof gen);
        return g_strconcat("tlsid1-", g_checksum_get_string(store->checksum), NULL);
}

static gboolean check_token(const guint8 *token, gsize len, GError **error) {
        if (len == 0 || len > TLSID_TOKEN_MAX || !token) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "token: %" G_GSIZE_FORMAT " bytes, must be 1 to %u", len,
                            TLSID_TOKEN_MAX);
                return FALSE;
        }
        return TRUE;
}

/* The oldest token of @entry, which has one: the last of a few. */
static Token *entry_oldest_token(Entry *entry) {
        Token *t = entry->tokens;

        while (t->entry_next)
                t = t->entry_next;
        return t;
}

/* Evicts least recently stored tokens until the byte bound holds. Doomed tokens met on
 * the way are freed (they would be anyway); past a slice of them the bound waits for the
 * reclaimer, which calls this again, so no call walks a large flush's backlog. */
static void enforce_byte_bound(Store *store) {
        guint doomed = 0;

        while (store->bytes > store->limits.max_token_bytes && store->lru.head) {
                Token *t = TOKEN_OF(store->lru.head, lru_link);

                if (t->batch->doomed) {
                        if (doomed++ >= STORE_RECLAIM_SLICE)
                                return;
                        token_reclaim(store, t);
                        continue;
                }
                token_drop(store, t);
                store->counters.evictions++;
        }
}

gboolean store_put_session(Store *store, const char *context, const char *origin,
                           const char *identity, guint32 generation, const guint8 *token,
                           gsize len, gint64 expires, guint16 tls_version, gint64 now,
                           StorePutResult *ret_result, GError **error) {
        return store_put_session_of(store, STORE_STACK_NSS, context, origin, identity,
                                    generation, token, len, expires, tls_version, now,
                                    ret_result, error);
}

gboolean store_put_session_of(Store *store, StoreStack stack, const char *context,
                              const char *origin, const char *identity, guint32 generation,
                              const guint8 *token, gsize len, gint64 expires,
                              guint16 tls_version, gint64 now, StorePutResult *ret_result,
                              GError **error) {
        Context *ctx;
        Entry *entry;
        Token *t;
        const char *current_identity;
        guint32 current_generation;
        gint64 lifetime;

        if (!check_context(context, error) || !check_origin(origin, error) ||
            !check_identity(identity, error) || !check_token(token, len, error))
                return FALSE;
        ctx = lookup_context(store, context, error);
        if (!ctx)
                return FALSE;

        store->counters.puts++;
        entry = entry_lookup(store, ctx, origin);
        current_identity = entry ? entry->identity : "";
        current_generation = entry ? entry->generation : ctx->base_generation;
        if (generation != current_generation || strcmp(identity, current_identity) != 0) {
                store->counters.stale_puts++;
                if (ret_result)
                        *ret_result = STORE_PUT_STALE;
                return TRUE;
        }

        lifetime = tls_version >= TLSID_TLS_VERSION_1_3 ? TLSID_TOKEN_LIFETIME_TLS13
                                                        : TLSID_TOKEN_LIFETIME_OTHER;
        if (expires > now + lifetime)
                expires = now + lifetime;
        /* The identity matched the choice, so a certificate's entry exists. */
        if (entry && entry->not_after > 0 && expires > entry->not_after)
                expires = entry->not_after;
        if (expires <= now) {
                store->counters.expirations++;
                if (ret_result)
                        *ret_result = STORE_PUT_EXPIRED;
                return TRUE;
        }

        {
                g_autofree char *what = g_strdup_printf("a token of %" G_GSIZE_FORMAT " bytes",
                                                        len);
                guint64 need = token_cost(len) + (entry ? 0 : entry_cost(origin));
                guint64 freed = 0;

                /* A full partition pushes out its oldest token for this one. */
                if (entry && entry->n_tokens >= store->limits.max_tokens_per_partition &&
                    entry->tokens)
                        freed = token_cost(entry_oldest_token(entry)->len);
                if (need > freed && !memory_room(store, need - freed, what, error))
                        return FALSE;
        }
        entry = entry_ensure(store, ctx, origin, error);
        if (!entry)
                return FALSE;

        while (entry->n_tokens >= store->limits.max_tokens_per_partition && entry->tokens) {
                token_drop(store, entry_oldest_token(entry));
                store->counters.evictions++;
        }

        t = g_new0(Token, 1);
        t->entry = entry;
        t->batch = ctx->batch;
        t->data = secret_mem_alloc(len);
        memcpy(t->data, token, len);
        t->len = (guint32) len;
        t->stack = (guint8) stack;
        t->expires = expires;
        t->entry_next = entry->tokens;
        entry->tokens = t;
        entry->n_tokens++;
        ilist_push_tail(&ctx->batch->tokens, &t->batch_link);
        ilist_push_tail(&store->lru, &t->lru_link);
        min_heap_push(store->by_expiry, &t->expiry_node);
        ctx->tokens++;
        ctx->bytes += len;
        ctx->tokens_cost += token_cost(len);
        store->n_tokens++;
        store->bytes += len;
        memory_budget_charge(&store->budget, token_cost(len));

        enforce_byte_bound(store);
        if (ret_result)
                *ret_result = STORE_PUT_STORED;
        return TRUE;
}

gboolean store_take_session(Store *store, const char *context, const char *origin,
                            const char *identity, guint32 generation, gint64 now,
                            GBytes **ret_token, GError **error) {
        return store_take_session_of(store, STORE_STACK_NSS, context, origin, identity,
                                     generation, now, ret_token, error);
}

gboolean store_take_session_of(Store *store, StoreStack stack, const char *context,
                               const char *origin, const char *identity, guint32 generation,
                               gint64 now, GBytes **ret_token, GError **error) {
        Context *ctx;
        Entry *entry;

        if (!check_context(context, error) || !check_origin(origin, error) ||
            !check_identity(identity, error))
                return FALSE;
        ctx = lookup_context(store, context, error);
        if (!ctx)
                return FALSE;

        store->counters.takes++;
        entry = entry_lookup(store, ctx, origin);
        if (entry && entry->generation == generation && strcmp(entry->identity, identity) == 0) {
                /* Newest first; another stack's tokens are passed over (at most
                 * max_tokens_per_partition of them), expired ones dropped on the way. */
                for (Token *newest = entry->tokens, *next; newest; newest = next) {
                        next = newest->entry_next;
                        if (newest->expires <= now) {
                                token_drop(store, newest);
                                store->counters.expirations++;
                                continue;
                        }
                        if (newest->stack != stack)
                                continue;
                        store->counters.hits++;
                        *ret_token = token_unlink(store, newest);
                        return TRUE;
                }
        }
        store->counters.misses++;
        *ret_token = NULL;
        return TRUE;
}

/* Flushes @ctx: a named @origin gets an entry if it had none, so its generation moves on
 * from the one GetPartition reported; a wildcard bumps every entry and the base of the
 * origins without one. Either way in O(1) (plus the named entry's few tokens): tokens are
 * doomed here, unreachable at once and no longer counted, and freed by store_reclaim();
 * a wildcard moves the entries on lazily (entry_sync()). */
static gboolean context_flush(Store *store, Context *ctx, const char *origin,
                              guint32 generation, guint *dropped, GError **error) {
        if (!is_wildcard(origin)) {
                Entry *entry = entry_ensure(store, ctx, origin, error);

                if (!entry)
                        return FALSE;
                *dropped += entry_doom_tokens(store, entry);
                entry->generation = generation;
                return TRUE;
        }
        *dropped += context_doom_tokens(store, ctx);
        ctx->base_generation = generation;
        return TRUE;
}

gboolean store_flush(Store *store, const char *context, const char *origin,
                     guint *ret_dropped, GError **error) {
        guint32 generation;
        guint dropped = 0;

        if (!is_wildcard(origin) && !check_origin(origin, error))
                return FALSE;
        if (!is_wildcard(context)) {
                Context *ctx = lookup_context(store, context, error);

                if (!ctx || !take_generation(store, &generation, error))
                        return FALSE;
                if (!context_flush(store, ctx, origin, generation, &dropped, error))
                        return FALSE;
        } else {
                g_autofree gpointer *ids = NULL;
                guint n;

                /* A named origin needs an entry in every context: create them all before
                 * flushing any, so LIMIT_EXCEEDED leaves nothing visible changed (a
                 * fresh entry looks exactly like no entry). */
                if (!is_wildcard(origin)) {
                        GHashTableIter iter;
                        gpointer value;

                        g_hash_table_iter_init(&iter, store->contexts);
                        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                                Context *ctx = value;

                                if (!entry_lookup(store, ctx, origin) &&
                                    !entry_ensure(store, ctx, origin, error))
                                        return FALSE;
                        }
                }
                if (!take_generation(store, &generation, error))
                        return FALSE;
                ids = g_hash_table_get_keys_as_array(store->contexts, &n);
                for (guint i = 0; i < n; i++) {
                        Context *ctx = g_hash_table_lookup(store->contexts, ids[i]);

                        /* Cannot fail: checked above. */
                        context_flush(store, ctx, origin, generation, &dropped, NULL);
                }
        }
        store->counters.flushes++;
        if (ret_dropped)
                *ret_dropped = dropped;
        return TRUE;
}

static gboolean session_info_emit(gpointer item, gpointer user_data) {
        Entry *entry = entry_sync(item);
        const ListWalk *walk = user_data;
        StoreSessionInfo info = {
                .context = entry->context->id,
                .origin = entry->origin,
                .identity = entry->identity,
                .state = entry->state,
                .generation = entry->generation,
                .tokens = entry->n_tokens,
        };

        /* At most max_tokens_per_partition tokens: a scan is cheap. */
        for (const Token *t = entry->tokens; t; t = t->entry_next) {
                info.bytes += t->len;
                if (info.earliest_expiry == 0 || t->expires < info.earliest_expiry)
                        info.earliest_expiry = t->expires;
        }
        return walk->session_fn(&info, walk->user_data);
}

gboolean store_list_sessions(Store *store, const char *context, const char *after_context,
                             const char *after_origin, StoreSessionFn fn, gpointer user_data,
                             gboolean *ret_more, guint *ret_total, GError **error) {
        ListWalk walk = { .session_fn = fn, .user_data = user_data };
        const char *only = NULL;
        guint total = store_index_size(store->entry_index);
        gboolean more;

        if (!is_wildcard(context)) {
                Context *ctx = lookup_context(store, context, error);

                if (!ctx)
                        return FALSE;
                only = ctx->id;
                total = ctx->n_entries;
        }
        more = store_index_walk(store->entry_index, only,
                                is_wildcard(after_context) ? NULL : after_context, after_origin,
                                session_info_emit, &walk);
        if (ret_more)
                *ret_more = more;
        if (ret_total)
                *ret_total = total;
        return TRUE;
}

/* --- choices --- */

static gboolean check_choice(int state, const char *identity, GError **error) {
        const char *state_name = choice_state_to_string(state);

        if (!state_name) {
                g_autofree char *value = g_strdup_printf("%d", state);

                return invalid_field(error, "state", value,
                                     "must be undecided, none or certificate");
        }
        if (state == TLSID_STATE_CERTIFICATE) {
                const char *why = id_fingerprint_check(identity);

                return why ? invalid_field(error, "identity", identity, why) : TRUE;
        }
        if (!identity || *identity)
                return invalid_field(error, "identity", identity,
                                     "must be \"\" unless the state is certificate");
        return TRUE;
}

gboolean store_set_choice(Store *store, const char *context, const char *origin, int state,
                          const char *identity, gint64 not_after, gboolean remember,
                          gboolean *ret_changed, GError **error) {
        Context *ctx;
        Entry *entry;
        guint32 generation;
        gboolean changed = FALSE;

        if (!check_context(context, error) || !check_origin(origin, error) ||
            !check_choice(state, identity, error))
                return FALSE;
        ctx = lookup_context(store, context, error);
        if (!ctx)
                return FALSE;
        if (remember && ctx->ephemeral) {
                g_autofree char *q = error_quote(context);

                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "remember: context %s is ephemeral, nothing of it is kept", q);
                return FALSE;
        }
        /* Undecided is the default: there is nothing to remember about it. */
        if (state == TLSID_STATE_UNDECIDED)
                remember = FALSE;
        if (remember && !remembered_check_room(store, context, origin, error))
                return FALSE;

        entry = entry_lookup(store, ctx, origin);
        if (choice_differs(entry, state, identity)) {
                if (!take_generation(store, &generation, error) ||
                    !(entry = entry_ensure(store, ctx, origin, error)))
                        return FALSE;
                changed = entry_set_choice(store, entry, state, identity, generation);
        }
        if (entry && state == TLSID_STATE_CERTIFICATE && not_after > 0)
                entry->not_after = not_after;

        if (!ctx->ephemeral) {
                if (remember)
                        remembered_put(store, context, origin, state, identity);
                else
                        remembered_remove(store, context, origin);
                if (entry)
                        entry->remembered = !!remember;
        }
        if (changed)
                notify_changed(store, entry);
        if (ret_changed)
                *ret_changed = changed;
        return TRUE;
}

/* Resets @entry to undecided, removing it from the remembered set; TRUE when it held a
 * choice. Collects the entry for notification in @changed. */
static gboolean entry_forget(Store *store, Entry *entry, guint32 generation,
                             GPtrArray *changed) {
        if (entry->remembered) {
                remembered_remove(store, entry->context->id, entry->origin);
                entry->remembered = FALSE;
        }
        if (!entry_set_choice(store, entry, TLSID_STATE_UNDECIDED, "", generation))
                return FALSE;
        g_ptr_array_add(changed, entry);
        return TRUE;
}

static guint context_forget(Store *store, Context *ctx, const char *origin,
                            guint32 generation, GPtrArray *changed) {
        g_autoptr(GPtrArray) entries = NULL;
        guint forgotten = 0;

        if (!is_wildcard(origin)) {
                Entry *entry = entry_lookup(store, ctx, origin);

                return entry && entry_forget(store, entry, generation, changed) ? 1 : 0;
        }
        /* Sorted, so the callbacks come in a stable order. */
        entries = context_entries(store, ctx);
        for (guint i = 0; i < entries->len; i++)
                if (entry_forget(store, entry_sync(entries->pdata[i]), generation, changed))
                        forgotten++;
        return forgotten;
}

/* Removes remembered choices matching (@context, @origin) that no open entry stood for. */
static guint forget_remembered(Store *store, const char *context, const char *origin) {
        g_autoptr(GPtrArray) victims = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter iter, inner;
        gpointer key, value, okey;
        guint forgotten = 0;

        g_hash_table_iter_init(&iter, store->remembered);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                if (!is_wildcard(context) && strcmp(key, context) != 0)
                        continue;
                if (!is_wildcard(origin)) {
                        if (g_hash_table_contains(value, origin)) {
                                g_ptr_array_add(victims, g_strdup(key));
                                g_ptr_array_add(victims, g_strdup(origin));
                        }
                        continue;
                }
                g_hash_table_iter_init(&inner, value);
                while (g_hash_table_iter_next(&inner, &okey, NULL)) {
                        g_ptr_array_add(victims, g_strdup(key));
                        g_ptr_array_add(victims, g_strdup(okey));
                }
        }
        for (guint i = 0; i + 1 < victims->len; i += 2)
                if (remembered_remove(store, victims->pdata[i], victims->pdata[i + 1]))
                        forgotten++;
        return forgotten;
}

gboolean store_forget_choices(Store *store, const char *context, const char *origin,
                              guint *ret_forgotten, GError **error) {
        g_autoptr(GPtrArray) changed = g_ptr_array_new();
        guint32 generation;
        guint forgotten = 0;

        if (!is_wildcard(origin) && !check_origin(origin, error))
                return FALSE;
        if (!is_wildcard(context)) {
                Context *ctx = lookup_context(store, context, error);

                if (!ctx || !take_generation(store, &generation, error))
                        return FALSE;
                forgotten += context_forget(store, ctx, origin, generation, changed);
        } else {
                g_autofree gpointer *ids = NULL;
                guint n;

                if (!take_generation(store, &generation, error))
                        return FALSE;
                ids = sorted_keys(store->contexts, &n);
                for (guint i = 0; i < n; i++)
                        forgotten += context_forget(
                                store, g_hash_table_lookup(store->contexts, ids[i]), origin,
                                generation, changed);
        }
        forgotten += forget_remembered(store, context, origin);

        /* Notify only once the store is consistent: a callback may read it. */
        for (guint i = 0; i < changed->len; i++)
                notify_changed(store, changed->pdata[i]);
        if (ret_forgotten)
                *ret_forgotten = forgotten;
        return TRUE;
}

void store_foreach_remembered(Store *store, StoreRememberedFn fn, gpointer user_data) {
        g_autofree gpointer *ids = NULL;
        guint n;

        ids = sorted_keys(store->remembered, &n);
        for (guint i = 0; i < n; i++) {
                GHashTable *origins = g_hash_table_lookup(store->remembered, ids[i]);
                g_autofree gpointer *keys = NULL;
                guint m;

                keys = sorted_keys(origins, &m);
                for (guint j = 0; j < m; j++) {
                        Remembered *r = g_hash_table_lookup(origins, keys[j]);

                        fn(ids[i], keys[j], r->state, r->identity, user_data);
                }
        }
}

gboolean store_add_remembered(Store *store, const char *context, const char *origin,
                              int state, const char *identity, GError **error) {
        Context *ctx;

        if (!check_context(context, error) || !check_origin(origin, error) ||
            !check_choice(state, identity, error))
                return FALSE;
        if (state == TLSID_STATE_UNDECIDED)
                return invalid_field(error, "state", "undecided",
                                     "only none or certificate can be remembered");
        if (!remembered_check_room(store, context, origin, error))
                return FALSE;

        ctx = g_hash_table_lookup(store->contexts, context);
        if (ctx && !ctx->ephemeral) {
                Entry *entry = entry_lookup(store, ctx, origin);
                guint32 generation = 0;

                /* A changed choice still moves the generation on: old partitions must
                 * stay unreachable even without a signal. */
                if (choice_differs(entry, state, identity) &&
                    !take_generation(store, &generation, error))
                        return FALSE;
                if (!(entry = entry_ensure(store, ctx, origin, error)))
                        return FALSE;
                entry_set_choice(store, entry, state, identity, generation);
                entry->remembered = TRUE;
        }
        remembered_put(store, context, origin, state, identity);
        return TRUE;
}

guint64 store_remembered_serial(Store *store) {
        return store->remembered_serial;
}

/* --- expiry and statistics --- */

#define STORE_NEXT_EXPIRY_RECLAIM 64

guint store_expire(Store *store, gint64 now, guint max) {
        guint n = 0, reclaimed = 0;

        while (n < max && reclaimed < max && min_heap_size(store->by_expiry) > 0) {
                Token *t = first_to_expire(store);

                if (t->expires > now)
                        break;
                /* A doomed one was already counted as gone when it was flushed. */
                if (t->batch->doomed) {
                        token_reclaim(store, t);
                        reclaimed++;
                        continue;
                }
                token_drop(store, t);
                store->counters.expirations++;
                n++;
        }
        return n;
}

gint64 store_next_expiry(Store *store) {
        guint doomed = 0;

        /* Dropped tokens met first are freed, a few at most: this runs after every put and
         * take, and past them the answer is early, which only wakes the timer once more. */
        while (min_heap_size(store->by_expiry) > 0) {
                Token *t = first_to_expire(store);

                if (!t->batch->doomed || doomed++ >= STORE_NEXT_EXPIRY_RECLAIM)
                        return t->expires;
                token_reclaim(store, t);
        }
        return 0;
}

void store_get_statistics(Store *store, StoreStatistics *ret) {
        *ret = (StoreStatistics) {
                .contexts = g_hash_table_size(store->contexts),
                .partitions = store_index_size(store->entry_index),
                .tokens = store->n_tokens,
                .bytes = store->bytes,
                .reclaim_pending = store->n_doomed,
                .memory_used = store->budget.used,
                .memory_cap = store->budget.cap,
                .counters = store->counters,
        };
}

MemoryBudget *store_get_memory_budget(Store *store) {
        return &store->budget;
}

/* --- reclamation --- */

guint store_reclaim(Store *store, guint max_tokens) {
        guint n = 0;

        while (n < max_tokens && store->doomed.head) {
                reclaim_one(store);
                n++;
        }
        /* Live tokens past the byte bound that doomed ones hid at the head of the LRU. */
        if (n > 0)
                enforce_byte_bound(store);
        return n;
}

guint store_reclaim_pending(Store *store) {
        return store->n_doomed;
}

/* --- life cycle --- */

Store *store_new(const StoreLimits *limits, const guint8 nonce[16]) {
        Store *store = g_new0(Store, 1);

        if (limits)
                store->limits = *limits;
        else
                store_limits_init(&store->limits);
        /* Entry.n_tokens; config allows 64. */
        store->limits.max_tokens_per_partition =
                MIN(store->limits.max_tokens_per_partition, G_MAXUINT16);
        memcpy(store->nonce, nonce, sizeof store->nonce);
        store->contexts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                                (GDestroyNotify) context_free);
        store->holders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_hash_table_unref);
        store->remembered = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                  (GDestroyNotify) g_hash_table_unref);
        store->context_index = store_index_new(G_STRUCT_OFFSET(Context, index_node),
                                               context_index_key);
        store->entry_index = store_index_new(G_STRUCT_OFFSET(Entry, index_node),
                                             entry_index_key);
        ilist_init(&store->lru);
        g_queue_init(&store->doomed);
        store->loose = batch_new();
        store->loose->doomed = TRUE;
        store->budget.cap = store->limits.max_memory;
        store->by_expiry = min_heap_new(token_expires_before);
        store->checksum = g_checksum_new(G_CHECKSUM_SHA256);
        return store;
}

void store_set_choice_changed_fn(Store *store, StoreChoiceChangedFn fn, gpointer user_data) {
        store->changed_fn = fn;
        store->changed_data = user_data;
}

void store_free(Store *store) {
        GHashTableIter iter;
        gpointer value;

        if (!store)
                return;
        /* Every token through token_reclaim or token_drop, so each buffer is zeroed. */
        while (store->doomed.head)
                reclaim_one(store);
        while (store->lru.head)
                token_drop(store, TOKEN_OF(store->lru.head, lru_link));
        g_free(store->loose);
        g_hash_table_unref(store->holders);
        /* The entries' keys are their contexts' ids: entries go first. */
        g_hash_table_iter_init(&iter, store->contexts);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                context_free_entries(store, value);
        store_index_free(store->entry_index);
        store_index_free(store->context_index);
        g_hash_table_unref(store->contexts);
        g_hash_table_unref(store->remembered);
        min_heap_free(store->by_expiry);
        g_checksum_free(store->checksum);
        explicit_bzero(store->nonce, sizeof store->nonce);
        g_free(store);
}
