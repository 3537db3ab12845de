/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the data model (daemon/model/store.c). */
#include <check.h>
#include <string.h>

#include "check-main.h"
#include "secret-mem.h"
#include "store.h"
#include "zeroed-hook.h"

#define NOW G_GINT64_CONSTANT(1700000000)
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CTX "firefox/container-2/tab-17"
#define ORIGIN "example.org:443"

static const guint8 test_nonce[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void setup(void) {
        zeroed_hook_install();
}

static void teardown(void) {
        zeroed_hook_remove();
}

/* --- helpers --- */

static Store *new_store_with(const StoreLimits *limits) {
        return store_new(limits, test_nonce);
}

static Store *new_store(void) {
        return new_store_with(NULL);
}

static void open_ctx(Store *store, const char *context) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(store_open_context(store, context, FALSE, NULL, NULL, &error), "%s",
                      error ? error->message : "");
}

static StorePartition partition(Store *store, const char *context, const char *origin) {
        g_autoptr(GError) error = NULL;
        StorePartition p;

        ck_assert_msg(store_get_partition(store, context, origin, &p, &error), "%s",
                      error ? error->message : "");
        return p;
}

/* Puts a token filled with @fill, @len bytes; returns the put result. */
static StorePutResult put_full(Store *store, const char *context, const char *origin,
                               const char *identity, guint32 generation, guint8 fill, gsize len,
                               gint64 expires, guint16 tls_version, gint64 now) {
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *token = g_malloc(len);
        StorePutResult result = -1;

        memset(token, fill, len);
        ck_assert_msg(store_put_session(store, context, origin, identity, generation, token,
                                        len, expires, tls_version, now, &result, &error),
                      "%s", error ? error->message : "");
        return result;
}

/* The current generation of (@context, @origin). Generations come from one store-wide
 * counter, so tests compare them (greater after a change, equal after a no-op) rather
 * than expect particular numbers. */
static guint32 generation_of(Store *store, const char *context, const char *origin) {
        return partition(store, context, origin).generation;
}

/* put_full() into the current partition of (@context, @origin). */
static StorePutResult put_in(Store *store, const char *context, const char *origin,
                             guint8 fill, gsize len, gint64 expires, guint16 tls_version,
                             gint64 now) {
        StorePartition p = partition(store, context, origin);

        return put_full(store, context, origin, p.identity, p.generation, fill, len, expires,
                        tls_version, now);
}

/* A 16-byte token filled with @fill into the current partition of (CTX, @origin). */
static StorePutResult put_current(Store *store, const char *origin, guint8 fill,
                                  gint64 expires) {
        return put_in(store, CTX, origin, fill, 16, expires, TLSID_TLS_VERSION_1_3, NOW);
}

/* The first byte of the token taken from the current partition, or -1 when none. */
static int take_current_at(Store *store, const char *origin, gint64 now) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) token = NULL;
        StorePartition p = partition(store, CTX, origin);

        ck_assert_msg(store_take_session(store, CTX, origin, p.identity, p.generation, now,
                                         &token, &error),
                      "%s", error ? error->message : "");
        if (!token)
                return -1;
        return ((const guint8 *) g_bytes_get_data(token, NULL))[0];
}

static int take_current(Store *store, const char *origin) {
        return take_current_at(store, origin, NOW);
}

static void set_choice(Store *store, const char *context, const char *origin, int state,
                       const char *identity, gboolean remember, gboolean *ret_changed) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(store_set_choice(store, context, origin, state, identity, 0, remember,
                                       ret_changed, &error),
                      "%s", error ? error->message : "");
}

static StoreStatistics stats(Store *store) {
        StoreStatistics s;

        store_get_statistics(store, &s);
        return s;
}

/* Asserts @error has @code and its message holds @needle. */
#define assert_error(error, want_code, needle)                                               \
        do {                                                                                 \
                ck_assert_ptr_nonnull(error);                                                \
                ck_assert_msg(g_error_matches((error), TLSID_ERROR, (want_code)),           \
                              "code %d, message %s", (error)->code, (error)->message);       \
                ck_assert_msg(strstr((error)->message, (needle)) != NULL,                    \
                              "\"%s\" not in \"%s\"", (needle), (error)->message);           \
                g_clear_error(&(error));                                                     \
        } while (0)

/* --- contexts --- */

START_TEST(test_store_open_close) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        guint dropped = 99;

        ck_assert(!store_has_context(store, CTX));
        open_ctx(store, CTX);
        ck_assert(store_has_context(store, CTX));
        open_ctx(store, CTX); /* idempotent */
        ck_assert_uint_eq(stats(store).contexts, 1);
        ck_assert_int_eq(put_current(store, ORIGIN, 1, NOW + 100), STORE_PUT_STORED);
        ck_assert_int_eq(put_current(store, ORIGIN, 2, NOW + 100), STORE_PUT_STORED);

        ck_assert(store_close_context(store, CTX, &dropped, &error));
        ck_assert_uint_eq(dropped, 2);
        ck_assert(!store_has_context(store, CTX));
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).partitions, 0);
        ck_assert_uint_eq(stats(store).bytes, 0);

        ck_assert(!store_close_context(store, CTX, &dropped, &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"" CTX "\"");
}
END_TEST

START_TEST(test_store_label) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autofree char *long_label = g_strnfill(257, 'x');

        ck_assert(store_open_context(store, "a", FALSE, "first", NULL, &error));
        ck_assert(store_open_context(store, "a", FALSE, NULL, NULL, &error));
        ck_assert(!store_open_context(store, "a", FALSE, long_label, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "label");
        ck_assert(!store_open_context(store, "a", FALSE, "\xff", NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "label");
}
END_TEST

static gboolean collect_context(const StoreContextInfo *info, gpointer user_data) {
        GString *out = user_data;

        g_string_append_printf(out, "%s|%s|%d|%u|%u|%" G_GUINT64_FORMAT "|%u;", info->context,
                               info->label, info->ephemeral, info->partitions, info->tokens,
                               info->bytes, info->choices);
        return TRUE;
}

START_TEST(test_store_list_contexts_sorted) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) out = g_string_new(NULL);

        ck_assert(store_open_context(store, "zeta", FALSE, "Z", NULL, &error));
        ck_assert(store_open_context(store, "alpha", TRUE, NULL, ":1.5", &error));
        open_ctx(store, CTX);
        ck_assert(store_open_context(store, "zeta", FALSE, "Zed", NULL, &error));
        ck_assert_int_eq(put_current(store, ORIGIN, 1, NOW + 100), STORE_PUT_STORED);
        set_choice(store, CTX, "other.example:443", TLSID_STATE_NONE, "", FALSE, NULL);

        ck_assert(!store_list_contexts(store, NULL, collect_context, out, NULL));
        ck_assert_str_eq(out->str, "alpha||1|0|0|0|0;"
                                   CTX "||0|2|1|16|1;"
                                   "zeta|Zed|0|0|0|0|0;");
}
END_TEST

/* --- partitions, puts and takes --- */

START_TEST(test_store_get_partition_does_not_create) {
        g_autoptr(Store) store = new_store();
        StorePartition p;

        open_ctx(store, CTX);
        p = partition(store, CTX, ORIGIN);
        ck_assert_int_eq(p.state, TLSID_STATE_UNDECIDED);
        ck_assert_str_eq(p.identity, "");
        ck_assert_uint_ge(p.generation, 1);
        ck_assert_uint_eq(stats(store).partitions, 0);
        /* Reading is no change: the generation stays. */
        ck_assert_uint_eq(generation_of(store, CTX, ORIGIN), p.generation);
        ck_assert_uint_eq(stats(store).partitions, 0);
}
END_TEST

START_TEST(test_store_put_take_roundtrip) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) token = NULL;
        const guint8 data[] = { 'h', 'e', 'l', 'l', 'o' };
        StorePutResult result;
        StoreStatistics s;
        guint32 gen;

        open_ctx(store, CTX);
        gen = generation_of(store, CTX, ORIGIN);
        ck_assert(store_put_session(store, CTX, ORIGIN, "", gen, data, sizeof data, NOW + 60,
                                    0x0303, NOW, &result, &error));
        ck_assert_int_eq(result, STORE_PUT_STORED);
        s = stats(store);
        ck_assert_uint_eq(s.partitions, 1);
        ck_assert_uint_eq(s.tokens, 1);
        ck_assert_uint_eq(s.bytes, sizeof data);

        ck_assert(store_take_session(store, CTX, ORIGIN, "", gen, NOW, &token, &error));
        ck_assert_ptr_nonnull(token);
        ck_assert_uint_eq(g_bytes_get_size(token), sizeof data);
        ck_assert_mem_eq(g_bytes_get_data(token, NULL), data, sizeof data);
        /* Single use: the take removed it. */
        ck_assert_int_eq(take_current(store, ORIGIN), -1);

        s = stats(store);
        ck_assert_uint_eq(s.tokens, 0);
        ck_assert_uint_eq(s.bytes, 0);
        ck_assert_uint_eq(s.counters.puts, 1);
        ck_assert_uint_eq(s.counters.takes, 2);
        ck_assert_uint_eq(s.counters.hits, 1);
        ck_assert_uint_eq(s.counters.misses, 1);

        /* The taken token is not zeroed until its holder lets go: no copy was made. */
        ck_assert_uint_eq(zeroed_count, 0);
        g_clear_pointer(&token, g_bytes_unref);
        ck_assert_uint_eq(zeroed_count, 1);
        ck_assert(zeroed_all_zero);
}
END_TEST

START_TEST(test_store_take_newest_first) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        put_current(store, ORIGIN, 1, NOW + 100);
        put_current(store, ORIGIN, 2, NOW + 50);
        put_current(store, ORIGIN, 3, NOW + 100);
        ck_assert_int_eq(take_current(store, ORIGIN), 3);
        ck_assert_int_eq(take_current(store, ORIGIN), 2);
        ck_assert_int_eq(take_current(store, ORIGIN), 1);
        ck_assert_int_eq(take_current(store, ORIGIN), -1);
}
END_TEST

START_TEST(test_store_take_miss_on_other_partition) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) token = NULL;
        guint32 gen;

        open_ctx(store, CTX);
        put_current(store, ORIGIN, 1, NOW + 100);
        gen = generation_of(store, CTX, ORIGIN);
        ck_assert(store_take_session(store, CTX, ORIGIN, "", gen + 1, NOW, &token, &error));
        ck_assert_ptr_null(token);
        ck_assert(store_take_session(store, CTX, ORIGIN, FP_A, gen, NOW, &token, &error));
        ck_assert_ptr_null(token);
        ck_assert(store_take_session(store, CTX, "example.org:8443", "",
                                     generation_of(store, CTX, "example.org:8443"), NOW,
                                     &token, &error));
        ck_assert_ptr_null(token);
        ck_assert_uint_eq(stats(store).counters.misses, 3);
        ck_assert_uint_eq(stats(store).tokens, 1);
}
END_TEST

/* --- expiry --- */

START_TEST(test_store_expiry_clamped_tls13) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW + 30 * 86400, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW + TLSID_TOKEN_LIFETIME_TLS13);
        /* A later version counts as 1.3 or newer. */
        ck_assert_int_eq(put_in(store, CTX, "b.example:443", 1, 8, G_MAXINT64, 0x0305, NOW - 10),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW - 10 + TLSID_TOKEN_LIFETIME_TLS13);
}
END_TEST

START_TEST(test_store_expiry_clamped_tls12) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW + 3 * 86400, 0x0303, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW + TLSID_TOKEN_LIFETIME_OTHER);
        /* No version given counts as "all others". */
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW + 3 * 86400, 0, NOW - 5),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW - 5 + TLSID_TOKEN_LIFETIME_OTHER);
        /* An expiry within the clamp is kept as is. */
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW + 60, 0x0303, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW + 60);
}
END_TEST

/* Sets the choice CERTIFICATE @identity on (CTX, ORIGIN) recording @not_after. */
static void choose_certificate(Store *store, const char *identity, gint64 not_after,
                               gboolean *ret_changed) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(store_set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, identity,
                                       not_after, FALSE, ret_changed, &error),
                      "%s", error ? error->message : "");
}

START_TEST(test_store_expiry_clamped_to_not_after) {
        g_autoptr(Store) store = new_store();
        gboolean changed = FALSE;
        guint32 generation;

        open_ctx(store, CTX);
        choose_certificate(store, FP_A, NOW + 600, &changed);
        ck_assert(changed);
        ck_assert_int_eq(partition(store, CTX, ORIGIN).not_after, NOW + 600);
        generation = generation_of(store, CTX, ORIGIN);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW + 3600, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW + 600);

        /* The same choice again changes nothing but records the notAfter given. */
        choose_certificate(store, FP_A, NOW + 300, &changed);
        ck_assert(!changed);
        ck_assert_uint_eq(generation_of(store, CTX, ORIGIN), generation);
        ck_assert_uint_eq(stats(store).tokens, 1);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 2, 8, NOW + 3600, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW + 300);
        /* An unknown notAfter keeps the known one. */
        choose_certificate(store, FP_A, 0, &changed);
        ck_assert(!changed);
        ck_assert_int_eq(partition(store, CTX, ORIGIN).not_after, NOW + 300);

        /* A token of a certificate that has expired is dropped as expired. */
        choose_certificate(store, FP_A, NOW - 1, &changed);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 3, 8, NOW + 3600, 0x0304, NOW),
                         STORE_PUT_EXPIRED);

        /* Another certificate starts from unknown: only the lifetime clamp applies. */
        choose_certificate(store, FP_B, 0, &changed);
        ck_assert(changed);
        ck_assert_int_eq(partition(store, CTX, ORIGIN).not_after, 0);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 4, 8, NOW + 3600, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(store_next_expiry(store), NOW + 3600);

        /* Forgetting the choice forgets its notAfter. */
        choose_certificate(store, FP_A, NOW + 60, &changed);
        ck_assert_int_eq(partition(store, CTX, ORIGIN).not_after, NOW + 60);
        g_autoptr(GError) error = NULL;
        ck_assert(store_forget_choices(store, CTX, ORIGIN, NULL, &error));
        ck_assert_int_eq(partition(store, CTX, ORIGIN).not_after, 0);
}
END_TEST

START_TEST(test_store_expired_put_dropped) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW, 0x0304, NOW),
                         STORE_PUT_EXPIRED);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 1, 8, NOW - 100, 0x0304, NOW),
                         STORE_PUT_EXPIRED);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).partitions, 0);
        ck_assert_uint_eq(stats(store).counters.expirations, 2);
        ck_assert_uint_eq(stats(store).counters.puts, 2);
        ck_assert_int_eq(store_next_expiry(store), 0);
}
END_TEST

START_TEST(test_store_take_drops_expired_lazily) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        put_current(store, ORIGIN, 1, NOW + 100);
        put_current(store, ORIGIN, 2, NOW + 10);
        put_current(store, ORIGIN, 3, NOW + 20);
        /* At NOW + 50 the two newest are expired: both dropped on the way to the oldest. */
        ck_assert_int_eq(take_current_at(store, ORIGIN, NOW + 50), 1);
        ck_assert_uint_eq(stats(store).counters.expirations, 2);
        ck_assert_uint_eq(stats(store).counters.hits, 1);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(zeroed_count, 3);
        ck_assert_int_eq(store_next_expiry(store), 0);

        put_current(store, ORIGIN, 4, NOW + 10);
        ck_assert_int_eq(take_current_at(store, ORIGIN, NOW + 10), -1);
        ck_assert_uint_eq(stats(store).counters.expirations, 3);
        ck_assert_uint_eq(stats(store).counters.misses, 1);
}
END_TEST

START_TEST(test_store_expire_coalesced) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        ck_assert_int_eq(store_next_expiry(store), 0);
        ck_assert_uint_eq(store_expire(store, NOW, G_MAXUINT), 0);
        put_current(store, "a.example:443", 1, NOW + 30);
        put_current(store, "b.example:443", 2, NOW + 10);
        put_current(store, "c.example:443", 3, NOW + 20);
        put_current(store, "a.example:443", 4, NOW + 10);
        ck_assert_int_eq(store_next_expiry(store), NOW + 10);

        ck_assert_uint_eq(store_expire(store, NOW + 9, G_MAXUINT), 0);
        ck_assert_uint_eq(store_expire(store, NOW + 10, G_MAXUINT), 2);
        ck_assert_int_eq(store_next_expiry(store), NOW + 20);
        ck_assert_uint_eq(stats(store).tokens, 2);
        ck_assert_uint_eq(stats(store).counters.expirations, 2);
        ck_assert_int_eq(take_current(store, "b.example:443"), -1);
        ck_assert_int_eq(take_current(store, "a.example:443"), 1);

        ck_assert_uint_eq(store_expire(store, NOW + 1000, G_MAXUINT), 1);
        ck_assert_int_eq(store_next_expiry(store), 0);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).bytes, 0);
        ck_assert_uint_eq(zeroed_count, 4); /* the taken one is zeroed by its unref too */
        ck_assert_uint_eq(stats(store).counters.expirations, 3);
}
END_TEST

/* Many tokens due at once expire a slice at a time; one left for a later slice is never
 * taken meanwhile (a take drops it itself). */
START_TEST(test_store_expire_in_slices) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        for (guint i = 0; i < 10; i++) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);

                ck_assert_int_eq(put_in(store, CTX, origin, 0x40 + i, 100, NOW + 10, 0x0304,
                                        NOW),
                                 STORE_PUT_STORED);
        }
        ck_assert_uint_eq(stats(store).tokens, 10);
        ck_assert_uint_eq(store_expire(store, NOW + 10, 4), 4);
        ck_assert_uint_eq(stats(store).tokens, 6);
        ck_assert_int_eq(store_next_expiry(store), NOW + 10);
        ck_assert_uint_eq(store_expire(store, NOW + 10, 4), 4);
        ck_assert_uint_eq(stats(store).tokens, 2);
        for (guint i = 0; i < 10; i++) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);
                g_autoptr(GBytes) token = NULL;
                g_autoptr(GError) error = NULL;

                ck_assert(store_take_session(store, CTX, origin, "",
                                             generation_of(store, CTX, origin), NOW + 10,
                                             &token, &error));
                ck_assert_ptr_null(token);
        }
        ck_assert_uint_eq(store_expire(store, NOW + 10, 4), 0);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).counters.expirations, 10);
        ck_assert_int_eq(store_next_expiry(store), 0);
}
END_TEST

/* Many tokens of scattered expiries, some taken and some flushed first: store_expire()
 * drops exactly those due, second by second, and store_next_expiry() names the earliest
 * live one each time (the heap keeps its order through removals from anywhere). */
START_TEST(test_store_expiry_order_with_removals) {
        enum { N = 300 };
        g_autoptr(Store) store = new_store();
        gint64 expires[N];
        gboolean live[N];
        GRand *rand = g_rand_new_with_seed(7);
        guint left = N;

        open_ctx(store, CTX);
        open_ctx(store, "other");
        for (guint i = 0; i < N; i++) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);

                expires[i] = NOW + g_rand_int_range(rand, 1, 60);
                live[i] = TRUE;
                ck_assert_int_eq(put_in(store, i % 3 == 0 ? "other" : CTX, origin, (guint8) i,
                                        64, expires[i], 0x0304, NOW),
                                 STORE_PUT_STORED);
        }
        /* Every fifth of CTX's taken; "other" flushed whole (doomed, reclaimed later). */
        for (guint i = 1; i < N; i += 5) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);

                if (i % 3 == 0)
                        continue;
                ck_assert_int_eq(take_current(store, origin), (guint8) i);
                live[i] = FALSE;
                left--;
        }
        ck_assert(store_flush(store, "other", "", NULL, NULL));
        for (guint i = 0; i < N; i += 3) {
                if (live[i])
                        left--;
                live[i] = FALSE;
        }
        ck_assert_uint_eq(stats(store).tokens, left);
        for (gint64 now = NOW; now < NOW + 60; now++) {
                guint due = 0;
                gint64 earliest = 0;

                for (guint i = 0; i < N; i++)
                        if (live[i] && expires[i] <= now) {
                                due++;
                                live[i] = FALSE;
                        }
                ck_assert_uint_eq(store_expire(store, now, N), due);
                left -= due;
                ck_assert_uint_eq(stats(store).tokens, left);
                for (guint i = 0; i < N; i++)
                        if (live[i] && (earliest == 0 || expires[i] < earliest))
                                earliest = expires[i];
                ck_assert_int_eq(store_next_expiry(store), earliest);
        }
        ck_assert_uint_eq(left, 0);
        g_rand_free(rand);
}
END_TEST

/* --- bounds --- */

START_TEST(test_store_partition_cap) {
        g_autoptr(Store) store = new_store();

        open_ctx(store, CTX);
        for (guint8 i = 1; i <= 5; i++)
                ck_assert_int_eq(put_current(store, ORIGIN, i, NOW + 100), STORE_PUT_STORED);
        ck_assert_uint_eq(stats(store).tokens, 4);
        ck_assert_uint_eq(stats(store).counters.evictions, 1);
        ck_assert_uint_eq(zeroed_count, 1);
        for (int i = 5; i >= 2; i--)
                ck_assert_int_eq(take_current(store, ORIGIN), i);
        ck_assert_int_eq(take_current(store, ORIGIN), -1);
}
END_TEST

START_TEST(test_store_partition_cap_configured) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;

        store_limits_init(&limits);
        limits.max_tokens_per_partition = 1;
        store = new_store_with(&limits);
        open_ctx(store, CTX);
        put_current(store, ORIGIN, 1, NOW + 100);
        put_current(store, ORIGIN, 2, NOW + 100);
        ck_assert_uint_eq(stats(store).tokens, 1);
        ck_assert_int_eq(take_current(store, ORIGIN), 2);
}
END_TEST

START_TEST(test_store_byte_bound_lru) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        StoreStatistics s;

        store_limits_init(&limits);
        limits.max_token_bytes = 100;
        store = new_store_with(&limits);
        open_ctx(store, CTX);
        open_ctx(store, "other");

        ck_assert_int_eq(put_in(store, CTX, "a.example:443", 1, 40, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(put_in(store, "other", "b.example:443", 2, 40, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_uint_eq(stats(store).bytes, 80);
        /* Past the bound the least recently stored token goes, across contexts; the put
         * itself succeeds. */
        ck_assert_int_eq(put_in(store, CTX, "c.example:443", 3, 40, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STORED);
        s = stats(store);
        ck_assert_uint_eq(s.bytes, 80);
        ck_assert_uint_eq(s.tokens, 2);
        ck_assert_uint_eq(s.counters.evictions, 1);
        ck_assert_uint_eq(zeroed_count, 1);
        ck_assert_int_eq(take_current(store, "a.example:443"), -1);
        ck_assert_int_eq(take_current(store, "c.example:443"), 3);

        /* A big one pushes out as many as needed. */
        ck_assert_int_eq(put_in(store, CTX, "d.example:443", 4, 90, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STORED);
        s = stats(store);
        ck_assert_uint_eq(s.bytes, 90);
        ck_assert_uint_eq(s.tokens, 1);
        ck_assert_uint_eq(s.counters.evictions, 2);
        ck_assert_int_eq(take_current(store, "d.example:443"), 4);
        ck_assert(zeroed_all_zero);
}
END_TEST

START_TEST(test_store_limit_contexts) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;

        store_limits_init(&limits);
        limits.max_contexts = 2;
        store = new_store_with(&limits);
        open_ctx(store, "one");
        open_ctx(store, "two");
        open_ctx(store, "two"); /* reopening is not a new context */
        ck_assert(!store_open_context(store, "three", FALSE, NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_contexts");
        ck_assert(!store_has_context(store, "three"));
        ck_assert(store_close_context(store, "one", NULL, &error));
        open_ctx(store, "three");
}
END_TEST

START_TEST(test_store_limit_origins) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        StorePartition p;
        const guint8 token[] = { 1 };

        store_limits_init(&limits);
        limits.max_origins_per_context = 2;
        store = new_store_with(&limits);
        open_ctx(store, CTX);
        put_current(store, "a.example:443", 1, NOW + 100);
        set_choice(store, CTX, "b.example:443", TLSID_STATE_NONE, "", FALSE, NULL);

        /* At the current generation, so it is the limit that refuses it, not staleness. */
        ck_assert(!store_put_session(store, CTX, "c.example:443", "",
                                     generation_of(store, CTX, "c.example:443"), token, 1,
                                     NOW + 100, 0x0304, NOW, NULL, &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_origins_per_context");
        ck_assert(!store_set_choice(store, CTX, "c.example:443", TLSID_STATE_NONE, "", 0, FALSE,
                                    NULL, &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_origins_per_context");
        ck_assert(!store_flush(store, CTX, "c.example:443", NULL, &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_origins_per_context");
        /* Reads still work, and existing entries still take puts. */
        ck_assert(store_get_partition(store, CTX, "c.example:443", &p, &error));
        ck_assert_int_eq(put_current(store, "a.example:443", 2, NOW + 100), STORE_PUT_STORED);
        /* Setting an unknown origin to undecided needs no entry. */
        set_choice(store, CTX, "c.example:443", TLSID_STATE_UNDECIDED, "", FALSE, NULL);
        ck_assert_uint_eq(stats(store).partitions, 2);
}
END_TEST

START_TEST(test_store_limit_remembered) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;

        store_limits_init(&limits);
        limits.max_remembered = 1;
        store = new_store_with(&limits);
        open_ctx(store, CTX);
        set_choice(store, CTX, "a.example:443", TLSID_STATE_NONE, "", TRUE, NULL);
        /* Replacing the one remembered choice is fine. */
        set_choice(store, CTX, "a.example:443", TLSID_STATE_CERTIFICATE, FP_A, TRUE, NULL);
        ck_assert(!store_set_choice(store, CTX, "b.example:443", TLSID_STATE_NONE, "", 0, TRUE,
                                    NULL, &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_remembered");
        /* Refused before anything changed. */
        ck_assert_int_eq(partition(store, CTX, "b.example:443").state, TLSID_STATE_UNDECIDED);
        ck_assert(!store_add_remembered(store, "x", "b.example:443", TLSID_STATE_NONE, "",
                                        &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_remembered");
}
END_TEST

/* --- generations and choices --- */

typedef struct {
        guint calls;
        char *context, *origin, *identity;
        int state;
        guint32 generation;
} ChangedLog;

static void on_changed(const char *context, const char *origin, int state,
                       const char *identity, guint32 generation, gpointer user_data) {
        ChangedLog *log = user_data;

        log->calls++;
        g_free(log->context);
        g_free(log->origin);
        g_free(log->identity);
        log->context = g_strdup(context);
        log->origin = g_strdup(origin);
        log->identity = g_strdup(identity);
        log->state = state;
        log->generation = generation;
}

static void changed_log_clear(ChangedLog *log) {
        g_free(log->context);
        g_free(log->origin);
        g_free(log->identity);
}

START_TEST(test_store_generation_bumps_on_change_only) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        ChangedLog log = { 0 };
        gboolean changed = FALSE;
        guint dropped = 0;
        StorePartition p;
        guint32 gen;

        store_set_choice_changed_fn(store, on_changed, &log);
        open_ctx(store, CTX);
        put_current(store, ORIGIN, 1, NOW + 100);
        gen = generation_of(store, CTX, ORIGIN);

        set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A, FALSE, &changed);
        ck_assert(changed);
        p = partition(store, CTX, ORIGIN);
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(p.identity, FP_A);
        ck_assert_uint_gt(p.generation, gen);
        gen = p.generation;
        ck_assert_uint_eq(stats(store).tokens, 0); /* the change dropped the token */
        ck_assert_uint_eq(zeroed_count, 0); /* dropped at once, freed by the reclaimer */
        ck_assert_uint_eq(stats(store).reclaim_pending, 1);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 1);
        ck_assert_uint_eq(zeroed_count, 1);
        ck_assert_uint_eq(log.calls, 1);
        ck_assert_str_eq(log.context, CTX);
        ck_assert_str_eq(log.origin, ORIGIN);
        ck_assert_int_eq(log.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(log.identity, FP_A);
        ck_assert_uint_eq(log.generation, gen);

        /* The same choice again changes nothing, tokens survive. */
        put_current(store, ORIGIN, 2, NOW + 100);
        set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A, FALSE, &changed);
        ck_assert(!changed);
        ck_assert_uint_eq(generation_of(store, CTX, ORIGIN), gen);
        ck_assert_uint_eq(stats(store).tokens, 1);
        ck_assert_uint_eq(log.calls, 1);

        /* Another identity is a change. */
        set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_B, FALSE, &changed);
        ck_assert(changed);
        ck_assert_uint_gt(generation_of(store, CTX, ORIGIN), gen);
        gen = generation_of(store, CTX, ORIGIN);
        ck_assert_uint_eq(log.calls, 2);
        ck_assert_str_eq(log.identity, FP_B);
        ck_assert_uint_eq(log.generation, gen);

        /* A flush bumps too, but is no choice change. */
        put_current(store, ORIGIN, 3, NOW + 100);
        ck_assert(store_flush(store, CTX, ORIGIN, &dropped, &error));
        ck_assert_uint_eq(dropped, 1);
        ck_assert_uint_gt(generation_of(store, CTX, ORIGIN), gen);
        gen = generation_of(store, CTX, ORIGIN);
        ck_assert_uint_eq(log.calls, 2);

        /* Back to undecided is a change as well. */
        set_choice(store, CTX, ORIGIN, TLSID_STATE_UNDECIDED, "", FALSE, &changed);
        ck_assert(changed);
        p = partition(store, CTX, ORIGIN);
        ck_assert_int_eq(p.state, TLSID_STATE_UNDECIDED);
        ck_assert_uint_gt(p.generation, gen);
        ck_assert_uint_eq(log.calls, 3);
        ck_assert_uint_eq(log.generation, p.generation);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 2);
        ck_assert_uint_eq(zeroed_count, 3);
        changed_log_clear(&log);
}
END_TEST

START_TEST(test_store_stale_puts) {
        g_autoptr(Store) store = new_store();
        guint32 old, gen, base;

        open_ctx(store, CTX);
        old = generation_of(store, CTX, ORIGIN);
        set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A, FALSE, NULL);
        /* gen is current with FP_A; old was current with "" before the change. */
        gen = generation_of(store, CTX, ORIGIN);
        ck_assert_uint_gt(gen, old);
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, FP_A, old, 1, 8, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STALE);
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, FP_A, gen + 1, 1, 8, NOW + 100, 0x0304,
                                  NOW),
                         STORE_PUT_STALE);
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, FP_B, gen, 1, 8, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STALE);
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, "", gen, 1, 8, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STALE);
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, "", old, 1, 8, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STALE);
        /* An origin without an entry is at the context's base generation with no identity. */
        base = generation_of(store, CTX, "new.example:443");
        ck_assert_int_eq(put_full(store, CTX, "new.example:443", FP_A, base, 1, 8, NOW + 100,
                                  0x0304, NOW),
                         STORE_PUT_STALE);
        ck_assert_int_eq(put_full(store, CTX, "new.example:443", "", base + 1, 1, 8, NOW + 100,
                                  0x0304, NOW),
                         STORE_PUT_STALE);
        ck_assert_uint_eq(stats(store).counters.stale_puts, 7);
        ck_assert_uint_eq(stats(store).counters.puts, 7);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).partitions, 1); /* stale puts create no entry */
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, FP_A, gen, 1, 8, NOW + 100, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_uint_eq(stats(store).tokens, 1);
}
END_TEST

/* Two contexts opened one after the other start at different generations, and opening
 * an open context again is no new life: its generation stays. */
START_TEST(test_store_contexts_distinct_base_generations) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        guint32 a, b;

        open_ctx(store, "a");
        a = generation_of(store, "a", ORIGIN);
        ck_assert_uint_ge(a, 1);
        ck_assert(store_open_context(store, "b", TRUE, NULL, ":1.1", &error));
        b = generation_of(store, "b", ORIGIN);
        ck_assert_uint_ne(b, a);
        ck_assert_uint_gt(b, a);

        open_ctx(store, "a");
        ck_assert(store_open_context(store, "b", TRUE, NULL, ":1.2", &error));
        ck_assert_uint_eq(generation_of(store, "a", ORIGIN), a);
        ck_assert_uint_eq(generation_of(store, "b", ORIGIN), b);
}
END_TEST

/* A context closed and opened again under the same id (a private window reopened) must
 * not meet a (generation, peer id) of its previous life, or in-process sessions cached
 * under the old peer id would be reachable again. */
START_TEST(test_store_reopen_never_reuses_generation) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) token = NULL;
        g_autofree char *peer_before = NULL;
        g_autofree char *peer_after = NULL;
        g_autofree char *private_before = NULL;
        g_autofree char *private_after = NULL;
        guint32 before, after, base_before, kept_before, private_gen;
        StorePartition p;

        open_ctx(store, CTX);
        set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A, FALSE, NULL);
        set_choice(store, CTX, "kept.example:443", TLSID_STATE_CERTIFICATE, FP_B, TRUE, NULL);
        before = generation_of(store, CTX, ORIGIN);
        base_before = generation_of(store, CTX, "never.example:443");
        kept_before = generation_of(store, CTX, "kept.example:443");
        peer_before = store_peer_id(store, CTX, ORIGIN, FP_A, before);
        ck_assert_int_eq(put_current(store, ORIGIN, 1, NOW + 100), STORE_PUT_STORED);
        ck_assert(store_close_context(store, CTX, NULL, &error));

        open_ctx(store, CTX);
        set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A, FALSE, NULL);
        after = generation_of(store, CTX, ORIGIN);
        peer_after = store_peer_id(store, CTX, ORIGIN, FP_A, after);
        ck_assert_uint_gt(after, before);
        ck_assert_str_ne(peer_after, peer_before);
        /* Origins without an entry and remembered choices start afresh too. */
        ck_assert_uint_gt(generation_of(store, CTX, "never.example:443"), base_before);
        p = partition(store, CTX, "kept.example:443");
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(p.identity, FP_B);
        ck_assert_uint_gt(p.generation, kept_before);
        /* The old partition is unreachable for takes and puts alike. */
        ck_assert(store_take_session(store, CTX, ORIGIN, FP_A, before, NOW, &token, &error));
        ck_assert_ptr_null(token);
        ck_assert_int_eq(put_full(store, CTX, ORIGIN, FP_A, before, 2, 8, NOW + 100, 0x0304,
                                  NOW),
                         STORE_PUT_STALE);

        /* The private window case: the last holder goes, the same id is opened again. */
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.1", &error));
        set_choice(store, "private", ORIGIN, TLSID_STATE_NONE, "", FALSE, NULL);
        private_gen = generation_of(store, "private", ORIGIN);
        private_before = store_peer_id(store, "private", ORIGIN, "", private_gen);
        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 1);
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.2", &error));
        set_choice(store, "private", ORIGIN, TLSID_STATE_NONE, "", FALSE, NULL);
        ck_assert_uint_gt(generation_of(store, "private", ORIGIN), private_gen);
        private_after = store_peer_id(store, "private", ORIGIN, "",
                                      generation_of(store, "private", ORIGIN));
        ck_assert_str_ne(private_after, private_before);
}
END_TEST

/* One call takes one generation, however many partitions it moves, and a call that
 * changes nothing takes none: the 2^32 generations are not spent by a few wildcard
 * flushes or by repeating a choice. */
START_TEST(test_store_one_generation_per_change) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        const char *fp = "abababababababababababababababababababababababababababababababab";
        guint32 before, after;

        open_ctx(store, "a");
        open_ctx(store, "b");
        for (int i = 0; i < 50; i++) {
                g_autofree char *origin = g_strdup_printf("o%d.example:443", i);

                ck_assert(store_set_choice(store, i % 2 ? "a" : "b", origin, TLSID_STATE_NONE,
                                           "", 0, FALSE, NULL, &error));
        }
        ck_assert(store_flush(store, NULL, NULL, NULL, &error));
        after = generation_of(store, "a", "o1.example:443");
        for (int i = 0; i < 50; i++) {
                g_autofree char *origin = g_strdup_printf("o%d.example:443", i);

                ck_assert_uint_eq(generation_of(store, i % 2 ? "a" : "b", origin), after);
        }
        ck_assert_uint_eq(generation_of(store, "b", "never.example:443"), after);

        before = after;
        for (int i = 0; i < 1000; i++)
                ck_assert(store_set_choice(store, "a", "o1.example:443", TLSID_STATE_NONE, "", 0,
                                           FALSE, NULL, &error));
        ck_assert_uint_eq(generation_of(store, "a", "o1.example:443"), before);
        ck_assert(store_set_choice(store, "a", "o1.example:443", TLSID_STATE_CERTIFICATE, fp, 0,
                                   FALSE, NULL, &error));
        ck_assert_uint_eq(generation_of(store, "a", "o1.example:443"), before + 1);
}
END_TEST

START_TEST(test_store_flush_wildcards) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        guint dropped = 0;
        guint32 ax, ay, an, bx, by, bn;

        open_ctx(store, "a");
        open_ctx(store, "b");
        ck_assert_int_eq(put_in(store, "a", "x.example:443", 1, 8, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(put_in(store, "a", "y.example:443", 1, 8, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(put_in(store, "b", "x.example:443", 1, 8, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);

        ax = generation_of(store, "a", "x.example:443");
        ay = generation_of(store, "a", "y.example:443");
        an = generation_of(store, "a", "never.example:443");
        bx = generation_of(store, "b", "x.example:443");
        by = generation_of(store, "b", "y.example:443");
        bn = generation_of(store, "b", "never.example:443");

        /* Named context, every origin: also origins the store never saw move on. */
        ck_assert(store_flush(store, "a", "", &dropped, &error));
        ck_assert_uint_eq(dropped, 2);
        ck_assert_uint_gt(generation_of(store, "a", "x.example:443"), ax);
        ck_assert_uint_gt(generation_of(store, "a", "y.example:443"), ay);
        ck_assert_uint_gt(generation_of(store, "a", "never.example:443"), an);
        ck_assert_uint_eq(generation_of(store, "b", "x.example:443"), bx);
        ck_assert_uint_eq(generation_of(store, "b", "never.example:443"), bn);
        ck_assert_uint_eq(stats(store).tokens, 1);
        ax = generation_of(store, "a", "x.example:443");
        ay = generation_of(store, "a", "y.example:443");
        an = generation_of(store, "a", "never.example:443");

        /* Every context, one origin: an origin without an entry gets one, moved on. */
        ck_assert(store_flush(store, NULL, "y.example:443", &dropped, &error));
        ck_assert_uint_eq(dropped, 0);
        ck_assert_uint_gt(generation_of(store, "a", "y.example:443"), ay);
        ck_assert_uint_gt(generation_of(store, "b", "y.example:443"), by);
        ck_assert_uint_eq(generation_of(store, "a", "x.example:443"), ax);
        ck_assert_uint_eq(generation_of(store, "a", "never.example:443"), an);
        ck_assert_uint_eq(generation_of(store, "b", "x.example:443"), bx);
        ck_assert_uint_eq(generation_of(store, "b", "never.example:443"), bn);
        ck_assert_uint_eq(stats(store).partitions, 4);

        /* Everything. */
        ck_assert(store_flush(store, "", NULL, &dropped, &error));
        ck_assert_uint_eq(dropped, 1);
        ck_assert_uint_gt(generation_of(store, "b", "x.example:443"), bx);
        ck_assert_uint_gt(generation_of(store, "b", "never.example:443"), bn);
        ck_assert_uint_gt(generation_of(store, "a", "x.example:443"), ax);
        ck_assert_uint_gt(generation_of(store, "a", "never.example:443"), an);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).counters.flushes, 3);
        ck_assert_uint_eq(zeroed_count, 0); /* dropped at once, freed by the reclaimer */
        ck_assert_uint_eq(stats(store).reclaim_pending, 3);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 3);
        ck_assert_uint_eq(zeroed_count, 3);

        /* A new entry starts where GetPartition said, and only moves forward. */
        an = generation_of(store, "a", "never.example:443");
        ck_assert_int_eq(put_full(store, "a", "never.example:443", "", an, 1, 8, NOW + 99,
                                  0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_uint_eq(generation_of(store, "a", "never.example:443"), an);

        ck_assert(!store_flush(store, "closed", NULL, &dropped, &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"closed\"");
        ck_assert(!store_flush(store, NULL, "Bad:443", &dropped, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "origin \"Bad:443\"");
        ck_assert_uint_eq(stats(store).counters.flushes, 3);
}
END_TEST

START_TEST(test_store_choice_validation) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;

        open_ctx(store, CTX);
        ck_assert(!store_set_choice(store, CTX, ORIGIN, 7, "", 0, FALSE, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "state");
        ck_assert(!store_set_choice(store, CTX, ORIGIN, -1, "", 0, FALSE, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "state");
        ck_assert(!store_set_choice(store, CTX, ORIGIN, TLSID_STATE_NONE, FP_A, 0, FALSE, NULL,
                                    &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "identity");
        ck_assert(!store_set_choice(store, CTX, ORIGIN, TLSID_STATE_UNDECIDED, FP_A, 0, FALSE, NULL,
                                    &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "identity");
        ck_assert(!store_set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, "", 0, FALSE, NULL,
                                    &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "identity \"\"");
        ck_assert(!store_set_choice(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, "ABCD", 0, FALSE,
                                    NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "identity \"ABCD\"");
        ck_assert(!store_set_choice(store, "gone", ORIGIN, TLSID_STATE_NONE, "", 0, FALSE, NULL,
                                    &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"gone\"");
        ck_assert_uint_eq(stats(store).partitions, 0);
}
END_TEST

/* --- remembered choices --- */

static void collect_remembered(const char *context, const char *origin, int state,
                               const char *identity, gpointer user_data) {
        g_string_append_printf(user_data, "%s %s %s %.4s;", context, origin,
                               choice_state_to_string(state), identity);
}

static char *remembered_string(Store *store) {
        GString *out = g_string_new(NULL);

        store_foreach_remembered(store, collect_remembered, out);
        return g_string_free(out, FALSE);
}

START_TEST(test_store_remembered_survive_close) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autofree char *list = NULL;
        ChangedLog log = { 0 };
        guint64 serial;
        StorePartition p;

        store_set_choice_changed_fn(store, on_changed, &log);
        open_ctx(store, CTX);
        serial = store_remembered_serial(store);
        set_choice(store, CTX, "b.example:443", TLSID_STATE_CERTIFICATE, FP_A, TRUE, NULL);
        ck_assert_uint_gt(store_remembered_serial(store), serial);
        serial = store_remembered_serial(store);
        set_choice(store, CTX, "a.example:443", TLSID_STATE_NONE, "", TRUE, NULL);
        set_choice(store, CTX, "c.example:443", TLSID_STATE_NONE, "", FALSE, NULL);
        ck_assert_uint_gt(store_remembered_serial(store), serial);
        serial = store_remembered_serial(store);
        /* The same choice remembered again is no change of the set. */
        set_choice(store, CTX, "a.example:443", TLSID_STATE_NONE, "", TRUE, NULL);
        ck_assert_uint_eq(store_remembered_serial(store), serial);

        list = remembered_string(store);
        ck_assert_str_eq(list, CTX " a.example:443 none ;" CTX " b.example:443 certificate aaaa;");

        ck_assert(store_close_context(store, CTX, NULL, &error));
        ck_assert_uint_eq(store_remembered_serial(store), serial);
        log.calls = 0;
        open_ctx(store, CTX);
        ck_assert_uint_eq(log.calls, 0); /* applying remembered choices is no signal */
        p = partition(store, CTX, "b.example:443");
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(p.identity, FP_A);
        ck_assert_int_eq(partition(store, CTX, "a.example:443").state, TLSID_STATE_NONE);
        ck_assert_int_eq(partition(store, CTX, "c.example:443").state, TLSID_STATE_UNDECIDED);

        /* remember=FALSE takes a choice out of the remembered set. */
        set_choice(store, CTX, "a.example:443", TLSID_STATE_NONE, "", FALSE, NULL);
        ck_assert_uint_gt(store_remembered_serial(store), serial);
        g_free(list);
        list = remembered_string(store);
        ck_assert_str_eq(list, CTX " b.example:443 certificate aaaa;");
        changed_log_clear(&log);
}
END_TEST

START_TEST(test_store_remembered_not_for_ephemeral) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autofree char *list = NULL;

        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.1", &error));
        ck_assert(!store_set_choice(store, "private", ORIGIN, TLSID_STATE_NONE, "", 0, TRUE, NULL,
                                    &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "remember");
        ck_assert_int_eq(partition(store, "private", ORIGIN).state, TLSID_STATE_UNDECIDED);
        set_choice(store, "private", ORIGIN, TLSID_STATE_NONE, "", FALSE, NULL);

        /* Remembered choices of the same name do not cross into an ephemeral context. */
        ck_assert(store_add_remembered(store, "private", "x.example:443", TLSID_STATE_NONE, "",
                                       &error));
        ck_assert_int_eq(partition(store, "private", "x.example:443").state,
                         TLSID_STATE_UNDECIDED);
        list = remembered_string(store);
        ck_assert_str_eq(list, "private x.example:443 none ;");
}
END_TEST

START_TEST(test_store_add_remembered) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        ChangedLog log = { 0 };
        StorePartition p;
        guint32 gen;

        store_set_choice_changed_fn(store, on_changed, &log);
        ck_assert(store_add_remembered(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A,
                                       &error));
        ck_assert_uint_eq(stats(store).partitions, 0);
        open_ctx(store, CTX);
        p = partition(store, CTX, ORIGIN);
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert_uint_ge(p.generation, 1);
        gen = p.generation;
        /* The same choice again moves nothing. */
        ck_assert(store_add_remembered(store, CTX, ORIGIN, TLSID_STATE_CERTIFICATE, FP_A,
                                       &error));
        ck_assert_uint_eq(generation_of(store, CTX, ORIGIN), gen);
        /* Applies to an open context at once, moving its generation, without a signal. */
        ck_assert(store_add_remembered(store, CTX, ORIGIN, TLSID_STATE_NONE, "", &error));
        p = partition(store, CTX, ORIGIN);
        ck_assert_int_eq(p.state, TLSID_STATE_NONE);
        ck_assert_uint_gt(p.generation, gen);
        ck_assert_uint_eq(log.calls, 0);

        ck_assert(!store_add_remembered(store, CTX, ORIGIN, TLSID_STATE_UNDECIDED, "", &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "state");
        ck_assert(!store_add_remembered(store, CTX, "x:0", TLSID_STATE_NONE, "", &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "origin \"x:0\"");
        ck_assert(!store_add_remembered(store, "a b", ORIGIN, TLSID_STATE_NONE, "", &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "context \"a b\"");
        changed_log_clear(&log);
}
END_TEST

START_TEST(test_store_forget) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autofree char *list = NULL;
        ChangedLog log = { 0 };
        guint forgotten = 0;
        guint64 serial;
        StorePartition p;
        guint32 ax, bx;

        store_set_choice_changed_fn(store, on_changed, &log);
        open_ctx(store, "a");
        open_ctx(store, "b");
        set_choice(store, "a", "x.example:443", TLSID_STATE_CERTIFICATE, FP_A, TRUE, NULL);
        set_choice(store, "a", "y.example:443", TLSID_STATE_NONE, "", FALSE, NULL);
        set_choice(store, "b", "x.example:443", TLSID_STATE_NONE, "", TRUE, NULL);
        /* A remembered choice of a context that is not open. */
        ck_assert(store_add_remembered(store, "closed", "x.example:443", TLSID_STATE_NONE, "",
                                       &error));
        ax = generation_of(store, "a", "x.example:443");
        ck_assert_int_eq(put_full(store, "a", "x.example:443", FP_A, ax, 't', 3, NOW + 99,
                                  0x0304, NOW),
                         STORE_PUT_STORED);
        log.calls = 0;

        /* One origin of one context. */
        serial = store_remembered_serial(store);
        ck_assert(store_forget_choices(store, "a", "x.example:443", &forgotten, &error));
        ck_assert_uint_eq(forgotten, 1);
        ck_assert_uint_eq(log.calls, 1);
        ck_assert_str_eq(log.context, "a");
        ck_assert_str_eq(log.origin, "x.example:443");
        ck_assert_int_eq(log.state, TLSID_STATE_UNDECIDED);
        ck_assert_str_eq(log.identity, "");
        ck_assert_uint_gt(log.generation, ax);
        p = partition(store, "a", "x.example:443");
        ck_assert_int_eq(p.state, TLSID_STATE_UNDECIDED);
        ck_assert_uint_eq(p.generation, log.generation);
        ax = p.generation;
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(zeroed_count, 0); /* dropped at once, freed by the reclaimer */
        ck_assert_uint_eq(stats(store).reclaim_pending, 1);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 1);
        ck_assert_uint_eq(zeroed_count, 1);
        ck_assert_uint_gt(store_remembered_serial(store), serial);

        /* Nothing left to forget there: no change, no call. */
        ck_assert(store_forget_choices(store, "a", "x.example:443", &forgotten, &error));
        ck_assert_uint_eq(forgotten, 0);
        ck_assert_uint_eq(log.calls, 1);
        ck_assert_uint_eq(generation_of(store, "a", "x.example:443"), ax);

        /* Everything: a/y and b/x are reset, closed/x only leaves the remembered set. */
        bx = generation_of(store, "b", "x.example:443");
        ck_assert(store_forget_choices(store, "", "", &forgotten, &error));
        ck_assert_uint_eq(forgotten, 3);
        ck_assert_uint_eq(log.calls, 3);
        ck_assert_int_eq(partition(store, "b", "x.example:443").state, TLSID_STATE_UNDECIDED);
        ck_assert_uint_gt(generation_of(store, "b", "x.example:443"), bx);
        ck_assert_uint_eq(generation_of(store, "a", "x.example:443"), ax);
        list = remembered_string(store);
        ck_assert_str_eq(list, "");

        ck_assert(!store_forget_choices(store, "closed", NULL, &forgotten, &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"closed\"");
        ck_assert(!store_forget_choices(store, NULL, "nope", &forgotten, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "origin \"nope\"");
        changed_log_clear(&log);
}
END_TEST

START_TEST(test_store_forget_remembered_of_closed_context) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        guint forgotten = 0;

        open_ctx(store, "a");
        set_choice(store, "a", "x.example:443", TLSID_STATE_NONE, "", TRUE, NULL);
        set_choice(store, "a", "y.example:443", TLSID_STATE_NONE, "", TRUE, NULL);
        ck_assert(store_close_context(store, "a", NULL, &error));
        ck_assert(store_forget_choices(store, NULL, "x.example:443", &forgotten, &error));
        ck_assert_uint_eq(forgotten, 1);
        open_ctx(store, "a");
        ck_assert_int_eq(partition(store, "a", "x.example:443").state, TLSID_STATE_UNDECIDED);
        ck_assert_int_eq(partition(store, "a", "y.example:443").state, TLSID_STATE_NONE);
}
END_TEST

/* --- ephemeral contexts --- */

START_TEST(test_store_ephemeral_lifetime) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;

        ck_assert(store_open_context(store, "private", TRUE, "Private", ":1.1", &error));
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.2", &error));
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.2", &error));
        ck_assert(store_open_context(store, "other-private", TRUE, NULL, ":1.1", &error));
        ck_assert_int_eq(put_in(store, "private", ORIGIN, 7, 32, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(put_in(store, "other-private", ORIGIN, 7, 32, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);

        /* The first holder goes: "private" still has :1.2, "other-private" nobody. */
        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 1);
        ck_assert(store_has_context(store, "private"));
        ck_assert(!store_has_context(store, "other-private"));
        ck_assert_uint_eq(stats(store).tokens, 1);
        ck_assert_uint_eq(zeroed_count, 0); /* dropped at once, freed by the reclaimer */
        ck_assert_uint_eq(stats(store).reclaim_pending, 1);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 1);
        ck_assert_uint_eq(zeroed_count, 1);
        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 0);

        ck_assert_uint_eq(store_drop_holder(store, ":1.2"), 1);
        ck_assert(!store_has_context(store, "private"));
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).contexts, 0);
        ck_assert_uint_eq(zeroed_count, 1); /* dropped at once, freed by the reclaimer */
        ck_assert_uint_eq(stats(store).reclaim_pending, 1);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 1);
        ck_assert_uint_eq(zeroed_count, 2);
        ck_assert(zeroed_all_zero);
        ck_assert_uint_eq(store_drop_holder(store, ":1.2"), 0);
        ck_assert_uint_eq(store_drop_holder(store, ":1.99"), 0);
}
END_TEST

START_TEST(test_store_ephemeral_flag_mismatch) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;

        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.1", &error));
        ck_assert(!store_open_context(store, "private", FALSE, NULL, ":1.1", &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "ephemeral");
        open_ctx(store, "normal");
        ck_assert(!store_open_context(store, "normal", TRUE, NULL, ":1.1", &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "ephemeral");
        ck_assert(!store_open_context(store, "p2", TRUE, NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "holder");
        ck_assert(!store_has_context(store, "p2"));

        /* A non-ephemeral context ignores holders. */
        ck_assert(store_open_context(store, "normal", FALSE, NULL, ":1.7", &error));
        ck_assert_uint_eq(store_drop_holder(store, ":1.7"), 0);
        ck_assert(store_has_context(store, "normal"));

        /* Closing an ephemeral context by hand unhooks it from its holders. */
        ck_assert(store_close_context(store, "private", NULL, &error));
        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 0);
        ck_assert(store_open_context(store, "private", FALSE, NULL, NULL, &error));
}
END_TEST

START_TEST(test_store_limit_holders) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;

        store_limits_init(&limits);
        limits.max_holders_per_context = 2;
        store = new_store_with(&limits);
        ck_assert(store_open_context(store, "p", TRUE, NULL, ":1.1", &error));
        ck_assert(store_open_context(store, "p", TRUE, NULL, ":1.2", &error));
        ck_assert(store_open_context(store, "p", TRUE, NULL, ":1.1", &error));
        ck_assert(!store_open_context(store, "p", TRUE, NULL, ":1.3", &error));
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_holders_per_context");
        ck_assert_uint_eq(store_drop_holder(store, ":1.3"), 0);
        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 0);
        ck_assert(store_open_context(store, "p", TRUE, NULL, ":1.3", &error));
        ck_assert_uint_eq(store_drop_holder(store, ":1.2"), 0);
        ck_assert_uint_eq(store_drop_holder(store, ":1.3"), 1);
}
END_TEST

/* --- zeroing --- */

START_TEST(test_store_zeroing_every_drop) {
        StoreLimits limits;
        Store *store;
        g_autoptr(GError) error = NULL;
        GBytes *taken = NULL;
        guint stored = 0;

        store_limits_init(&limits);
        limits.max_token_bytes = 250;
        store = new_store_with(&limits);
        open_ctx(store, CTX);
        open_ctx(store, "closing");

        /* Every way a token goes: partition cap, byte bound, expiry, take, flush, choice
         * change, close, and what is left for store_free. */
        for (guint8 i = 1; i <= 6; i++, stored++)
                ck_assert_int_eq(put_in(store, CTX, ORIGIN, i, 10, NOW + 99, 0x0304, NOW),
                                 STORE_PUT_STORED);
        ck_assert_uint_eq(stats(store).counters.evictions, 2);
        for (guint8 i = 1; i <= 5; i++, stored++)
                ck_assert_int_eq(put_in(store, CTX, "big.example:443", 0xff, 50, NOW + 99,
                                        0x0304, NOW),
                                 STORE_PUT_STORED);
        ck_assert_uint_eq(stats(store).counters.evictions, 3);
        ck_assert_int_eq(put_in(store, CTX, "lru.example:443", 0xdd, 30, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        stored++;
        ck_assert_uint_eq(stats(store).counters.evictions, 5); /* byte bound */
        ck_assert_int_eq(put_in(store, CTX, "exp.example:443", 0xee, 10, NOW + 5, 0x0304, NOW),
                         STORE_PUT_STORED);
        stored++;
        ck_assert_uint_eq(stats(store).counters.evictions, 6);
        ck_assert_uint_eq(store_expire(store, NOW + 5, G_MAXUINT), 1);
        ck_assert(store_take_session(store, CTX, ORIGIN, "", generation_of(store, CTX, ORIGIN),
                                     NOW, &taken, &error));
        ck_assert_ptr_nonnull(taken);
        ck_assert_uint_eq(((const guint8 *) g_bytes_get_data(taken, NULL))[0], 6);
        g_bytes_unref(taken);
        ck_assert_int_eq(put_in(store, CTX, "flush.example:443", 0xaa, 10, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        stored++;
        ck_assert(store_flush(store, CTX, "flush.example:443", NULL, &error));
        ck_assert_int_eq(put_in(store, CTX, "choice.example:443", 0xbb, 10, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        stored++;
        set_choice(store, CTX, "choice.example:443", TLSID_STATE_NONE, "", FALSE, NULL);
        ck_assert_int_eq(put_in(store, "closing", ORIGIN, 0xcc, 10, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        stored++;
        ck_assert(store_close_context(store, "closing", NULL, &error));
        ck_assert_uint_gt(stats(store).tokens, 0);
        {
                guint before = zeroed_count;

                ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE),
                                  stored - stats(store).tokens - before);
        }
        ck_assert_uint_eq(zeroed_count, stored - stats(store).tokens);

        store_free(store);
        ck_assert_uint_eq(zeroed_count, stored);
        ck_assert(zeroed_all_zero);
}
END_TEST

/* --- deferred reclamation --- */

static gboolean count_session(const StoreSessionInfo *info, gpointer user_data) {
        guint *tokens = user_data;

        *tokens += info->tokens;
        return TRUE;
}

START_TEST(test_store_flush_deferred_reclaim) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) token = NULL;
        guint32 old_gen[8];
        guint dropped = 0, listed = 0;

        open_ctx(store, CTX);
        open_ctx(store, "other");
        for (guint i = 0; i < 8; i++) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);

                old_gen[i] = generation_of(store, CTX, origin);
                for (guint j = 0; j < 4; j++)
                        ck_assert_int_eq(put_in(store, CTX, origin, 0x40 + j, 100, NOW + 99,
                                                0x0304, NOW), STORE_PUT_STORED);
        }
        ck_assert_int_eq(put_in(store, "other", ORIGIN, 0x77, 100, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);

        ck_assert(store_flush(store, "", "", &dropped, &error));
        ck_assert_uint_eq(dropped, 33);
        /* Gone at once for every reader, though nothing was freed yet. */
        ck_assert_uint_eq(zeroed_count, 0);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(stats(store).bytes, 0);
        ck_assert_uint_eq(stats(store).reclaim_pending, 33);
        ck_assert(store_list_sessions(store, "", NULL, NULL, count_session, &listed, NULL, NULL,
                                      &error));
        ck_assert_uint_eq(listed, 0);
        for (guint i = 0; i < 8; i++) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);

                ck_assert_uint_gt(generation_of(store, CTX, origin), old_gen[i]);
                /* Neither under the old generation nor under the new one. */
                ck_assert(store_take_session(store, CTX, origin, "", old_gen[i], NOW, &token,
                                             &error));
                ck_assert_ptr_null(token);
                ck_assert_int_eq(take_current(store, origin), -1);
        }

        /* New tokens are not the reclaimer's: it frees exactly the dropped ones, in the
         * slices asked for. */
        ck_assert_int_eq(put_in(store, CTX, "o1.example:443", 0x99, 100, NOW + 200, 0x0304,
                                NOW), STORE_PUT_STORED);
        ck_assert_uint_eq(store_reclaim(store, 5), 5);
        ck_assert_uint_eq(zeroed_count, 5);
        ck_assert_uint_eq(store_reclaim_pending(store), 28);
        /* The timer is armed for live tokens only: dropped ones that expire earlier are
         * freed on the way. */
        ck_assert_int_eq(store_next_expiry(store), NOW + 200);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 0);
        ck_assert_uint_eq(zeroed_count, 33);
        ck_assert(zeroed_all_zero);
        ck_assert_uint_eq(stats(store).tokens, 1);
        ck_assert_int_eq(take_current(store, "o1.example:443"), 0x99);
}
END_TEST

START_TEST(test_store_close_deferred_reclaim) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        guint dropped = 0;

        open_ctx(store, CTX);
        for (guint i = 0; i < 3; i++)
                ck_assert_int_eq(put_current(store, ORIGIN, (guint8) i, NOW + 99),
                                 STORE_PUT_STORED);
        ck_assert(store_close_context(store, CTX, &dropped, &error));
        ck_assert_uint_eq(dropped, 3);
        ck_assert_uint_eq(stats(store).tokens, 0);
        ck_assert_uint_eq(zeroed_count, 0);
        /* Reopened, the context has nothing of its previous life, and the reclaimer frees
         * the old tokens only. */
        open_ctx(store, CTX);
        ck_assert_int_eq(put_current(store, ORIGIN, 0x55, NOW + 99), STORE_PUT_STORED);
        ck_assert_uint_eq(store_reclaim(store, STORE_RECLAIM_SLICE), 3);
        ck_assert_uint_eq(zeroed_count, 3);
        ck_assert_int_eq(take_current(store, ORIGIN), 0x55);
        ck_assert_int_eq(take_current(store, ORIGIN), -1);
}
END_TEST

/* A byte bound with dropped tokens ahead in the LRU still evicts live ones once the
 * reclaimer has gone through. */
START_TEST(test_store_byte_bound_after_flush) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;

        store_limits_init(&limits);
        limits.max_token_bytes = 1000;
        store = new_store_with(&limits);
        open_ctx(store, CTX);
        open_ctx(store, "other");
        for (guint i = 0; i < 9; i++) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", i);

                ck_assert_int_eq(put_in(store, "other", origin, 1, 100, NOW + 99, 0x0304, NOW),
                                 STORE_PUT_STORED);
        }
        ck_assert(store_flush(store, "other", "", NULL, &error));
        for (guint i = 0; i < 12; i++) {
                g_autofree char *origin = g_strdup_printf("n%u.example:443", i);

                ck_assert_int_eq(put_in(store, CTX, origin, 2, 100, NOW + 99, 0x0304, NOW),
                                 STORE_PUT_STORED);
        }
        store_reclaim(store, G_MAXUINT);
        ck_assert_uint_le(stats(store).bytes, 1000);
        ck_assert_uint_eq(stats(store).counters.evictions, 2);
}
END_TEST

/* --- the memory cap --- */

START_TEST(test_store_memory_cap) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *big = g_malloc0(4096);
        guint64 used;
        guint stored = 0;

        store_limits_init(&limits);
        limits.max_memory = 64 * 1024;
        store = new_store_with(&limits);
        ck_assert_uint_eq(stats(store).memory_cap, 64 * 1024);
        ck_assert_uint_eq(stats(store).memory_used, 0);
        open_ctx(store, CTX);
        ck_assert_uint_gt(stats(store).memory_used, 0);

        /* Tokens of 4 KiB in partitions of their own, until the cap refuses one. */
        for (;;) {
                g_autofree char *origin = g_strdup_printf("o%u.example:443", stored);
                StorePartition p = partition(store, CTX, origin);
                StorePutResult result;

                used = stats(store).memory_used;
                if (!store_put_session(store, CTX, origin, "", p.generation, big, 4096,
                                       NOW + 99, 0x0304, NOW, &result, &error))
                        break;
                ck_assert_uint_le(stats(store).memory_used, 64 * 1024);
                stored++;
                ck_assert_uint_lt(stored, 16);
        }
        assert_error(error, TLSID_ERROR_LIMIT_EXCEEDED, "max_memory");
        g_clear_error(&error);
        /* Refused whole: no partition was left behind, nothing counted. */
        ck_assert_uint_ge(stored, 10);
        ck_assert_uint_eq(stats(store).tokens, stored);
        ck_assert_uint_eq(stats(store).partitions, stored);
        ck_assert_uint_eq(stats(store).memory_used, used);
        /* Every kind of state is refused the same way. */
        ck_assert(!store_open_context(store, "another", FALSE, NULL, NULL, &error) ||
                  stats(store).memory_used <= 64 * 1024);
        g_clear_error(&error);

        /* Dropped tokens still count until freed, but a call that needs room frees as
         * many as it needs. */
        ck_assert(store_flush(store, CTX, "", NULL, &error));
        ck_assert_uint_eq(stats(store).reclaim_pending, stored);
        ck_assert_int_eq(put_in(store, CTX, "o0.example:443", 1, 4096, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        ck_assert_uint_lt(stats(store).reclaim_pending, stored);
        ck_assert_uint_gt(stats(store).reclaim_pending, 0);
}
END_TEST

/* Charges and releases balance: whatever was made and undone, nothing stays counted. */
START_TEST(test_store_memory_accounting_balances) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;

        ck_assert_uint_eq(stats(store).memory_cap, 256 * 1024 * 1024);
        open_ctx(store, CTX);
        ck_assert(store_open_context(store, CTX, FALSE, "a label", NULL, &error));
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.1", &error));
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.2", &error));
        ck_assert_int_eq(put_current(store, ORIGIN, 1, NOW + 99), STORE_PUT_STORED);
        ck_assert_int_eq(put_in(store, "private", ORIGIN, 2, 3000, NOW + 99, 0x0304, NOW),
                         STORE_PUT_STORED);
        set_choice(store, CTX, "kept.example:443", TLSID_STATE_CERTIFICATE, FP_A, TRUE, NULL);
        set_choice(store, CTX, "other.example:443", TLSID_STATE_NONE, "", FALSE, NULL);
        ck_assert(store_add_remembered(store, "closed", ORIGIN, TLSID_STATE_NONE, "", &error));
        ck_assert_int_eq(take_current(store, ORIGIN), 1);
        ck_assert_int_eq(put_current(store, ORIGIN, 3, NOW + 99), STORE_PUT_STORED);
        ck_assert_uint_gt(stats(store).memory_used, 3000);

        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 0);
        ck_assert_uint_eq(store_drop_holder(store, ":1.2"), 1);
        ck_assert(store_close_context(store, CTX, NULL, &error));
        ck_assert(store_forget_choices(store, "", "", NULL, &error));
        ck_assert_uint_gt(stats(store).memory_used, 0); /* the dropped tokens */
        store_reclaim(store, G_MAXUINT);
        ck_assert_uint_eq(stats(store).memory_used, 0);
}
END_TEST

/* --- bad input --- */

START_TEST(test_store_bad_ids) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autofree char *long_ctx = g_strnfill(300, 'c');
        g_autoptr(GBytes) token = NULL;
        StorePartition p;
        const guint8 t[] = { 1 };

        open_ctx(store, CTX);
        ck_assert(!store_open_context(store, "a b", FALSE, NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "context \"a b\": may hold only");
        ck_assert(!store_open_context(store, "", FALSE, NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "context \"\": must be 1 to 128");
        ck_assert(!store_open_context(store, NULL, FALSE, NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "context");
        /* Control characters are escaped and long values cut. */
        ck_assert(!store_open_context(store, "a\nb", FALSE, NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "context \"a\\nb\"");
        ck_assert(!store_open_context(store, long_ctx, FALSE, NULL, NULL, &error));
        ck_assert_ptr_nonnull(error);
        ck_assert_uint_lt(strlen(error->message), 150);
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "...: must be 1 to 128");

        ck_assert(!store_get_partition(store, CTX, "Example.org:443", &p, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT,
                     "origin \"Example.org:443\": must be lower case");
        ck_assert(!store_get_partition(store, CTX, "example.org", &p, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "origin \"example.org\"");
        ck_assert(!store_get_partition(store, "nope", ORIGIN, &p, &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "context \"nope\" is not open");

        ck_assert(!store_put_session(store, CTX, ORIGIN, "xyz", 1, t, 1, NOW + 9, 0, NOW, NULL,
                                     &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "identity \"xyz\"");
        ck_assert(!store_put_session(store, "nope", ORIGIN, "", 1, t, 1, NOW + 9, 0, NOW, NULL,
                                     &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"nope\"");
        ck_assert(!store_take_session(store, CTX, "[::1]", "", 1, NOW, &token, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "origin \"[::1]\"");
        ck_assert(!store_take_session(store, "nope", ORIGIN, "", 1, NOW, &token, &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"nope\"");
        ck_assert(!store_list_sessions(store, "nope", NULL, NULL, NULL, NULL, NULL, NULL,
                                       &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"nope\"");
        ck_assert(!store_close_context(store, "bad id", NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "context \"bad id\"");
        /* Rejected calls are not counted. */
        ck_assert_uint_eq(stats(store).counters.puts, 0);
        ck_assert_uint_eq(stats(store).counters.takes, 0);
}
END_TEST

START_TEST(test_store_bad_token_size) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *big = g_malloc0(TLSID_TOKEN_MAX + 1);

        open_ctx(store, CTX);
        ck_assert(!store_put_session(store, CTX, ORIGIN, "", 1, big, TLSID_TOKEN_MAX + 1,
                                     NOW + 9, 0, NOW, NULL, &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "token");
        ck_assert(!store_put_session(store, CTX, ORIGIN, "", 1, big, 0, NOW + 9, 0, NOW, NULL,
                                     &error));
        assert_error(error, TLSID_ERROR_INVALID_ARGUMENT, "token");
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 5, TLSID_TOKEN_MAX, NOW + 9, 0, NOW),
                         STORE_PUT_STORED);
        ck_assert_int_eq(put_in(store, CTX, ORIGIN, 5, 1, NOW + 9, 0, NOW),
                         STORE_PUT_STORED);
        ck_assert_uint_eq(stats(store).bytes, TLSID_TOKEN_MAX + 1);
}
END_TEST

/* --- peer ids --- */

START_TEST(test_store_peer_id) {
        const guint8 other_nonce[16] = { 0 };
        g_autoptr(Store) store = new_store();
        g_autoptr(Store) same = new_store();
        g_autoptr(Store) other = store_new(NULL, other_nonce);
        g_autofree char *base = store_peer_id(store, "a", ORIGIN, "", 1);
        g_autofree char *again = store_peer_id(store, "a", ORIGIN, "", 1);
        g_autofree char *same_nonce = store_peer_id(same, "a", ORIGIN, "", 1);
        g_autofree char *nonce = store_peer_id(other, "a", ORIGIN, "", 1);
        g_autofree char *ctx = store_peer_id(store, "b", ORIGIN, "", 1);
        g_autofree char *origin = store_peer_id(store, "a", "example.org:444", "", 1);
        g_autofree char *identity = store_peer_id(store, "a", ORIGIN, FP_A, 1);
        g_autofree char *gen = store_peer_id(store, "a", ORIGIN, "", 2);
        g_autofree char *gen_high = store_peer_id(store, "a", ORIGIN, "", 0x01000001);
        /* The NUL separators keep shifted boundaries apart. */
        g_autofree char *shift1 = store_peer_id(store, "ab", "c.de:1", "", 1);
        g_autofree char *shift2 = store_peer_id(store, "a", "bc.de:1", "", 1);
        const char *all[] = { base, nonce, ctx, origin, identity, gen, gen_high, shift1 };

        ck_assert(g_str_has_prefix(base, "tlsid1-"));
        ck_assert_uint_eq(strlen(base), strlen("tlsid1-") + 64);
        ck_assert_str_eq(base, again);
        ck_assert_str_eq(base, same_nonce);
        for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
                for (gsize j = i + 1; j < G_N_ELEMENTS(all); j++)
                        ck_assert_str_ne(all[i], all[j]);
        ck_assert_str_ne(shift1, shift2);
}
END_TEST

START_TEST(test_store_peer_id_known_value) {
        /* Pins the documented layout: nonce, context, 0, origin, 0, identity, 0,
         * generation (big endian), so other implementations can rely on it. */
        g_autoptr(Store) store = new_store();
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        const guint8 gen[4] = { 0, 0, 1, 2 };
        g_autofree char *expected = NULL;
        g_autofree char *got = store_peer_id(store, "c", "h.example:1", FP_A, 0x102);

        g_checksum_update(sum, test_nonce, 16);
        g_checksum_update(sum, (const guchar *) "c\0h.example:1\0", 14);
        g_checksum_update(sum, (const guchar *) FP_A, 65);
        g_checksum_update(sum, gen, 4);
        expected = g_strconcat("tlsid1-", g_checksum_get_string(sum), NULL);
        ck_assert_str_eq(got, expected);
}
END_TEST

/* --- listing and statistics --- */

static gboolean collect_session(const StoreSessionInfo *info, gpointer user_data) {
        g_string_append_printf(user_data, "%s %s %.4s %d %u %u %" G_GINT64_FORMAT
                               " %" G_GUINT64_FORMAT ";",
                               info->context, info->origin, info->identity, info->state,
                               info->generation, info->tokens,
                               info->earliest_expiry ? info->earliest_expiry - NOW : 0,
                               info->bytes);
        return TRUE;
}

START_TEST(test_store_list_sessions_sorted) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) all = g_string_new(NULL);
        g_autoptr(GString) one = g_string_new(NULL);
        g_autofree char *want_all = NULL;
        g_autofree char *want_one = NULL;
        guint32 aq, bm, bz;

        open_ctx(store, "b");
        open_ctx(store, "a");
        aq = generation_of(store, "a", "q.example:443");
        put_in(store, "b", "z.example:443", 1, 10, NOW + 50, 0x0304, NOW);
        put_in(store, "b", "z.example:443", 1, 5, NOW + 20, 0x0304, NOW);
        put_in(store, "b", "m.example:443", 1, 3, NOW + 70, 0x0304, NOW);
        set_choice(store, "a", "q.example:443", TLSID_STATE_CERTIFICATE, FP_B, FALSE, NULL);
        ck_assert_uint_gt(generation_of(store, "a", "q.example:443"), aq);
        aq = generation_of(store, "a", "q.example:443");
        bm = generation_of(store, "b", "m.example:443");
        bz = generation_of(store, "b", "z.example:443");

        /* The listed generations are the ones GetPartition reports. */
        want_one = g_strdup_printf("a q.example:443 bbbb 2 %u 0 0 0;", aq);
        want_all = g_strdup_printf("%sb m.example:443  0 %u 1 70 3;"
                                   "b z.example:443  0 %u 2 20 15;",
                                   want_one, bm, bz);
        ck_assert(store_list_sessions(store, "", NULL, NULL, collect_session, all, NULL, NULL,
                                      &error));
        ck_assert_str_eq(all->str, want_all);
        ck_assert(store_list_sessions(store, "a", NULL, NULL, collect_session, one, NULL, NULL,
                                      &error));
        ck_assert_str_eq(one->str, want_one);
}
END_TEST

/* --- paged lists --- */

/* Gives (context, origin) an entry (a "none" choice) without a token. */
static void touch(Store *store, const char *context, const char *origin) {
        set_choice(store, context, origin, TLSID_STATE_NONE, "", FALSE, NULL);
}

/* Opens "a", "b" and "c", each with entries for the three origins. */
static void open_abc(Store *store, const char *o1, const char *o2, const char *o3) {
        static const char *const contexts[] = { "a", "b", "c" };

        for (gsize i = 0; i < G_N_ELEMENTS(contexts); i++) {
                open_ctx(store, contexts[i]);
                touch(store, contexts[i], o1);
                touch(store, contexts[i], o2);
                touch(store, contexts[i], o3);
        }
}

/* One page being collected: the "CONTEXT ORIGIN" (or context id) keys of at most @limit
 * entries, and how often the store called back. */
typedef struct {
        GPtrArray *keys;
        guint limit;
        guint calls;
} PageOut;

static gboolean page_session(const StoreSessionInfo *info, gpointer user_data) {
        PageOut *page = user_data;

        page->calls++;
        if (page->keys->len >= page->limit)
                return FALSE;
        g_ptr_array_add(page->keys, g_strconcat(info->context, " ", info->origin, NULL));
        return TRUE;
}

static gboolean page_context(const StoreContextInfo *info, gpointer user_data) {
        PageOut *page = user_data;

        page->calls++;
        if (page->keys->len >= page->limit)
                return FALSE;
        g_ptr_array_add(page->keys, g_strdup(info->context));
        return TRUE;
}

/* Checks what a page returned, appends its keys to @all and returns the cursor of the
 * next page: the last key, or NULL when the list ran out (transfer full). */
static char *page_finish(PageOut *page, gboolean more, GPtrArray *all) {
        /* The walk stops at the first entry refused: one call past a full page, and never
         * at an entry taken. */
        ck_assert_uint_eq(page->calls, page->keys->len + (more ? 1 : 0));
        if (more)
                ck_assert_uint_eq(page->keys->len, page->limit);
        for (guint i = 0; i < page->keys->len; i++)
                g_ptr_array_add(all, g_strdup(page->keys->pdata[i]));
        return more && page->keys->len ? g_strdup(page->keys->pdata[page->keys->len - 1]) : NULL;
}

/* The page of the entries of @context after @cursor (NULL: the first), of at most
 * @limit entries: its keys appended to @all, and the next cursor (as page_finish()). */
static char *session_page(Store *store, const char *context, const char *cursor, guint limit,
                          GPtrArray *all, guint *ret_total) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *after_context = NULL;
        const char *after_origin = NULL;
        PageOut page = { keys, limit, 0 };
        gboolean more = FALSE;

        if (cursor) {
                const char *space = strchr(cursor, ' ');

                after_context = g_strndup(cursor, (gsize) (space - cursor));
                after_origin = space + 1;
        }
        ck_assert_msg(store_list_sessions(store, context, after_context, after_origin,
                                          page_session, &page, &more, ret_total, &error),
                      "%s", error ? error->message : "");
        return page_finish(&page, more, all);
}

static char *context_page(Store *store, const char *cursor, guint limit, GPtrArray *all,
                          guint *ret_total) {
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
        PageOut page = { keys, limit, 0 };
        gboolean more = store_list_contexts(store, cursor, page_context, &page, ret_total);

        return page_finish(&page, more, all);
}

/* @keys joined with ";" (transfer full). */
static char *joined(GPtrArray *keys) {
        g_ptr_array_add(keys, NULL);
        g_autofree char *s = g_strjoinv(";", (char **) keys->pdata);
        g_ptr_array_set_size(keys, keys->len - 1);
        return g_steal_pointer(&s);
}

#define assert_keys(keys, want)                                                  \
        do {                                                                     \
                g_autofree char *got_ = joined(keys);                            \
                ck_assert_str_eq(got_, want);                                    \
        } while (0)

START_TEST(test_store_list_pages) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) once = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL, *whole = NULL;
        guint total = 0;

        /* Contexts and origins opened out of order; "b" has no entry. */
        open_ctx(store, "c");
        open_ctx(store, "b");
        open_ctx(store, "a");
        touch(store, "c", "y.example:443");
        touch(store, "a", "z.example:443");
        touch(store, "c", "x.example:443");
        touch(store, "a", "m.example:443");
        touch(store, "c", "z.example:443");
        touch(store, "a", "a.example:443");
        put_in(store, "c", "a.example:443", 1, 10, NOW + 50, 0x0304, NOW);

        c1 = session_page(store, "", NULL, 2, all, &total);
        ck_assert_uint_eq(total, 7);
        ck_assert_str_eq(c1, "a m.example:443");
        c2 = session_page(store, "", c1, 2, all, &total);
        ck_assert_str_eq(c2, "c a.example:443");
        c3 = session_page(store, "", c2, 2, all, &total);
        c4 = session_page(store, "", c3, 2, all, &total);
        ck_assert_ptr_null(c4);
        ck_assert_uint_eq(total, 7);
        assert_keys(all, "a a.example:443;a m.example:443;a z.example:443;c a.example:443;"
                         "c x.example:443;c y.example:443;c z.example:443");

        /* A page as large as the list is the last: no empty page after it. */
        whole = session_page(store, NULL, NULL, 7, once, &total);
        ck_assert_ptr_null(whole);
        ck_assert_uint_eq(once->len, 7);
}
END_TEST

START_TEST(test_store_list_pages_of_one_context) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GPtrArray) b = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) none = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
        guint total = 0;

        open_abc(store, "x.example:443", "y.example:443", "z.example:443");
        c1 = session_page(store, "b", NULL, 2, b, &total);
        ck_assert_uint_eq(total, 3);
        c2 = session_page(store, "b", c1, 2, b, &total);
        ck_assert_ptr_null(c2);
        assert_keys(b, "b x.example:443;b y.example:443;b z.example:443");

        /* A key before the context's starts at its first entry, one after it is past its
         * end: no other context's entry leaks in. */
        c3 = session_page(store, "b", "a z.example:443", 5, none, NULL);
        ck_assert_ptr_null(c3);
        ck_assert_uint_eq(none->len, 3);
        c4 = session_page(store, "b", "b zz.example:443", 5, none, NULL);
        ck_assert_ptr_null(c4);
        ck_assert_uint_eq(none->len, 3);

        /* The context closed between pages. */
        ck_assert(store_close_context(store, "b", NULL, &error));
        ck_assert(!store_list_sessions(store, "b", "b", "x.example:443", page_session, NULL,
                                       NULL, NULL, &error));
        assert_error(error, TLSID_ERROR_NO_SUCH_CONTEXT, "\"b\"");
}
END_TEST

START_TEST(test_store_list_resume_after_changes) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL;
        guint total = 0;

        open_abc(store, "o1.example:443", "o2.example:443", "o3.example:443");
        c1 = session_page(store, "", NULL, 4, all, &total);
        ck_assert_str_eq(c1, "b o1.example:443");
        ck_assert_uint_eq(total, 9);

        /* Behind the cursor: not listed; ahead of it: listed. */
        touch(store, "a", "o4.example:443");
        touch(store, "b", "o0.example:443");
        touch(store, "b", "o5.example:443");
        c2 = session_page(store, "", c1, 3, all, &total);
        ck_assert_str_eq(c2, "b o5.example:443");
        ck_assert_uint_eq(total, 12);

        /* The cursor's entry and its context gone, another context opened ahead. */
        ck_assert(store_close_context(store, "b", NULL, &error));
        open_ctx(store, "d");
        touch(store, "d", "o1.example:443");
        c3 = session_page(store, "", c2, 100, all, &total);
        ck_assert_ptr_null(c3);
        ck_assert_uint_eq(total, 8);
        assert_keys(all, "a o1.example:443;a o2.example:443;a o3.example:443;b o1.example:443;"
                         "b o2.example:443;b o3.example:443;b o5.example:443;"
                         "c o1.example:443;c o2.example:443;c o3.example:443;"
                         "d o1.example:443");
}
END_TEST

START_TEST(test_store_list_contexts_resume_after_changes) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL;
        guint total = 0;

        open_ctx(store, "h");
        open_ctx(store, "d");
        open_ctx(store, "f");
        open_ctx(store, "b");
        c1 = context_page(store, NULL, 2, all, &total);
        ck_assert_str_eq(c1, "d");
        ck_assert_uint_eq(total, 4);

        open_ctx(store, "a");
        open_ctx(store, "e");
        ck_assert(store_close_context(store, "d", NULL, &error));
        c2 = context_page(store, c1, 2, all, &total);
        ck_assert_str_eq(c2, "f");
        ck_assert_uint_eq(total, 5);

        /* What was left closed: an empty last page. */
        ck_assert(store_close_context(store, "h", NULL, &error));
        c3 = context_page(store, c2, 2, all, &total);
        ck_assert_ptr_null(c3);
        ck_assert_uint_eq(total, 4);
        assert_keys(all, "b;d;e;f");
}
END_TEST

/* strcmp on the context, then on the origin, of two "CONTEXT ORIGIN" keys. */
static int compare_keys(const char *a, const char *b) {
        gsize la = strcspn(a, " "), lb = strcspn(b, " ");
        g_autofree char *ca = g_strndup(a, la), *cb = g_strndup(b, lb);
        int c = strcmp(ca, cb);

        return c != 0 ? c : strcmp(a + la + 1, b + lb + 1);
}

/* Walks the list of @context ("": all) with pages of random sizes while contexts open
 * and close and entries appear between pages, and checks the walk against a model of
 * the store: sorted, no key twice, every key present from the first page to the last
 * listed. Returns the number of pages. */
static guint random_walk(Store *store, GRand *rand, const char *context, GHashTable *present) {
        g_autoptr(GHashTable) throughout = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GHashTable) listed = g_hash_table_new(g_str_hash, g_str_equal);
        g_autofree char *cursor = NULL;
        GHashTableIter iter;
        gpointer key;
        guint pages = 0;

        g_hash_table_iter_init(&iter, present);
        while (g_hash_table_iter_next(&iter, &key, NULL))
                g_hash_table_add(throughout, key);
        do {
                guint before = all->len;
                char *next = session_page(store, context, cursor, g_rand_int_range(rand, 1, 6),
                                          all, NULL);

                g_free(cursor);
                cursor = next;
                pages++;
                for (guint i = before; i < all->len; i++)
                        ck_assert_msg(g_hash_table_contains(present, all->pdata[i]),
                                      "%s listed but not in the store", (char *) all->pdata[i]);

                /* Changes between pages: a few entries, a context closed or opened. */
                for (int n = g_rand_int_range(rand, 0, 4); n > 0; n--) {
                        char ctx[] = { 'c', (char) ('0' + g_rand_int_range(rand, 0, 6)), 0 };
                        g_autofree char *origin =
                                g_strdup_printf("h%02d.example:443", g_rand_int_range(rand, 0, 30));
                        int what = g_rand_int_range(rand, 0, 10);

                        if (what == 0 && store_has_context(store, ctx)) {
                                g_autoptr(GError) error = NULL;
                                g_autofree char *prefix = g_strconcat(ctx, " ", NULL);
                                GHashTableIter it;

                                ck_assert(store_close_context(store, ctx, NULL, &error));
                                g_hash_table_iter_init(&it, present);
                                while (g_hash_table_iter_next(&it, &key, NULL))
                                        if (g_str_has_prefix(key, prefix)) {
                                                g_hash_table_remove(throughout, key);
                                                g_hash_table_iter_remove(&it);
                                        }
                        } else if (what == 1 && !store_has_context(store, ctx)) {
                                open_ctx(store, ctx);
                        } else if (store_has_context(store, ctx)) {
                                g_autofree char *k = g_strconcat(ctx, " ", origin, NULL);

                                touch(store, ctx, origin);
                                /* Not replaced when there: @throughout points at it. */
                                if (!g_hash_table_contains(present, k))
                                        g_hash_table_add(present, g_steal_pointer(&k));
                        }
                }
                /* The listed context itself may close: the walk ends there. */
                if (*context && !store_has_context(store, context))
                        break;
        } while (cursor);

        for (guint i = 0; i < all->len; i++) {
                if (i > 0)
                        ck_assert_msg(compare_keys(all->pdata[i - 1], all->pdata[i]) < 0,
                                      "%s listed after %s", (char *) all->pdata[i],
                                      (char *) all->pdata[i - 1]);
                g_hash_table_add(listed, all->pdata[i]);
        }
        if (!*context || store_has_context(store, context)) {
                g_autofree char *prefix = g_strconcat(context, " ", NULL);

                g_hash_table_iter_init(&iter, throughout);
                while (g_hash_table_iter_next(&iter, &key, NULL))
                        if (!*context || g_str_has_prefix(key, prefix))
                                ck_assert_msg(g_hash_table_contains(listed, key),
                                              "%s was in the store throughout but not listed",
                                              (char *) key);
        }
        return pages;
}

START_TEST(test_store_list_random_changes_between_pages) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GRand) rand = g_rand_new_with_seed(12);
        g_autoptr(GHashTable) present = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                              NULL);
        guint pages = 0;

        for (int i = 0; i < 6; i++) {
                char ctx[] = { 'c', (char) ('0' + i), 0 };

                open_ctx(store, ctx);
                for (int j = 0; j < 30; j += 1 + i % 3) {
                        g_autofree char *origin = g_strdup_printf("h%02d.example:443", j);

                        touch(store, ctx, origin);
                        g_hash_table_add(present, g_strconcat(ctx, " ", origin, NULL));
                }
        }
        for (int round = 0; round < 200; round++) {
                char ctx[] = { 'c', (char) ('0' + round % 6), 0 };

                pages += random_walk(store, rand, "", present);
                if (store_has_context(store, ctx))
                        pages += random_walk(store, rand, ctx, present);
        }
        /* The walks crossed many page boundaries. */
        ck_assert_uint_gt(pages, 800);
}
END_TEST

START_TEST(test_store_list_remembered_entries) {
        g_autoptr(Store) store = new_store();
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) after = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autofree char *c1 = NULL, *c2 = NULL;

        /* Entries made from remembered choices when a context opens are listed; those of
         * a context closed, or of an ephemeral one whose last holder left, are not. */
        ck_assert(store_add_remembered(store, "r", "x.example:443", TLSID_STATE_NONE, "",
                                       &error));
        open_ctx(store, "r");
        ck_assert(store_open_context(store, "e", TRUE, NULL, ":1.1", &error));
        touch(store, "e", "y.example:443");
        c1 = session_page(store, "", NULL, 10, all, NULL);
        assert_keys(all, "e y.example:443;r x.example:443");

        ck_assert_uint_eq(store_drop_holder(store, ":1.1"), 1);
        ck_assert(store_close_context(store, "r", NULL, &error));
        c2 = session_page(store, "", NULL, 10, after, NULL);
        ck_assert_uint_eq(after->len, 0);
        ck_assert_ptr_null(c1);
        ck_assert_ptr_null(c2);
}
END_TEST

START_TEST(test_store_statistics) {
        g_autoptr(Store) store = new_store();
        StoreStatistics s;

        s = stats(store);
        ck_assert_uint_eq(s.contexts, 0);
        ck_assert_uint_eq(s.partitions, 0);
        open_ctx(store, "a");
        open_ctx(store, "b");
        put_in(store, "a", "x.example:443", 1, 10, NOW + 50, 0x0304, NOW);
        put_in(store, "b", "x.example:443", 1, 20, NOW + 50, 0x0304, NOW);
        put_in(store, "b", "y.example:443", 1, 30, NOW + 50, 0x0304, NOW);
        s = stats(store);
        ck_assert_uint_eq(s.contexts, 2);
        ck_assert_uint_eq(s.partitions, 3);
        ck_assert_uint_eq(s.tokens, 3);
        ck_assert_uint_eq(s.bytes, 60);
        ck_assert_uint_eq(s.counters.puts, 3);
        ck_assert_uint_eq(s.counters.stale_puts, 0);
}
END_TEST

START_TEST(test_store_free_null) {
        store_free(NULL);
        ck_assert_uint_eq(zeroed_count, 0);
}
END_TEST

static Suite *store_suite(void) {
        Suite *s = suite_create("store");
        TCase *tc = tcase_create("store");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_store_open_close);
        tcase_add_test(tc, test_store_label);
        tcase_add_test(tc, test_store_list_contexts_sorted);
        tcase_add_test(tc, test_store_get_partition_does_not_create);
        tcase_add_test(tc, test_store_put_take_roundtrip);
        tcase_add_test(tc, test_store_take_newest_first);
        tcase_add_test(tc, test_store_take_miss_on_other_partition);
        tcase_add_test(tc, test_store_expiry_clamped_tls13);
        tcase_add_test(tc, test_store_expiry_clamped_tls12);
        tcase_add_test(tc, test_store_expiry_clamped_to_not_after);
        tcase_add_test(tc, test_store_expired_put_dropped);
        tcase_add_test(tc, test_store_take_drops_expired_lazily);
        tcase_add_test(tc, test_store_expire_coalesced);
        tcase_add_test(tc, test_store_expire_in_slices);
        tcase_add_test(tc, test_store_expiry_order_with_removals);
        tcase_add_test(tc, test_store_partition_cap);
        tcase_add_test(tc, test_store_partition_cap_configured);
        tcase_add_test(tc, test_store_byte_bound_lru);
        tcase_add_test(tc, test_store_limit_contexts);
        tcase_add_test(tc, test_store_limit_origins);
        tcase_add_test(tc, test_store_limit_remembered);
        tcase_add_test(tc, test_store_generation_bumps_on_change_only);
        tcase_add_test(tc, test_store_stale_puts);
        tcase_add_test(tc, test_store_contexts_distinct_base_generations);
        tcase_add_test(tc, test_store_reopen_never_reuses_generation);
        tcase_add_test(tc, test_store_one_generation_per_change);
        tcase_add_test(tc, test_store_flush_wildcards);
        tcase_add_test(tc, test_store_choice_validation);
        tcase_add_test(tc, test_store_remembered_survive_close);
        tcase_add_test(tc, test_store_remembered_not_for_ephemeral);
        tcase_add_test(tc, test_store_add_remembered);
        tcase_add_test(tc, test_store_forget);
        tcase_add_test(tc, test_store_forget_remembered_of_closed_context);
        tcase_add_test(tc, test_store_ephemeral_lifetime);
        tcase_add_test(tc, test_store_ephemeral_flag_mismatch);
        tcase_add_test(tc, test_store_limit_holders);
        tcase_add_test(tc, test_store_zeroing_every_drop);
        tcase_add_test(tc, test_store_flush_deferred_reclaim);
        tcase_add_test(tc, test_store_close_deferred_reclaim);
        tcase_add_test(tc, test_store_byte_bound_after_flush);
        tcase_add_test(tc, test_store_memory_cap);
        tcase_add_test(tc, test_store_memory_accounting_balances);
        tcase_add_test(tc, test_store_bad_ids);
        tcase_add_test(tc, test_store_bad_token_size);
        tcase_add_test(tc, test_store_peer_id);
        tcase_add_test(tc, test_store_peer_id_known_value);
        tcase_add_test(tc, test_store_list_sessions_sorted);
        tcase_add_test(tc, test_store_list_pages);
        tcase_add_test(tc, test_store_list_pages_of_one_context);
        tcase_add_test(tc, test_store_list_resume_after_changes);
        tcase_add_test(tc, test_store_list_contexts_resume_after_changes);
        tcase_add_test(tc, test_store_list_random_changes_between_pages);
        tcase_add_test(tc, test_store_list_remembered_entries);
        tcase_add_test(tc, test_store_statistics);
        tcase_add_test(tc, test_store_free_null);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(store_suite(), CK_FORK_GETENV);
}
