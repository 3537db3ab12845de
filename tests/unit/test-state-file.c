/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the remembered-choices file (daemon/model/state-file.c). */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check-main.h"
#include "state-file.h"
#include "tmp-dir.h"

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NOW G_GINT64_CONSTANT(1700000000)

static const guint8 nonce[16] = { 0 };
static char *tmpdir;

static void setup(void) {
        tmpdir = tmp_dir_make("tlsid-state-XXXXXX");
}

static void teardown(void) {
        tmp_dir_remove(tmpdir);
        g_clear_pointer(&tmpdir, g_free);
}

static char *write_file(const char *name, const char *text) {
        char *path = g_build_filename(tmpdir, name, NULL);

        ck_assert(g_file_set_contents(path, text, -1, NULL));
        return path;
}

/* The single "choices.corrupt-*" file of tmpdir, or NULL (transfer full). */
static char *find_corrupt(void) {
        g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
        const char *name;
        char *found = NULL;

        while ((name = g_dir_read_name(dir))) {
                if (g_str_has_prefix(name, "choices.corrupt-")) {
                        ck_assert_ptr_null(found);
                        found = g_build_filename(tmpdir, name, NULL);
                }
        }
        return found;
}

static void collect(const char *context, const char *origin, int state, const char *identity,
                    gpointer user_data) {
        g_string_append_printf(user_data, "%s|%s|%s|%s;", context, origin,
                               choice_state_to_string(state), identity);
}

static char *remembered(Store *store) {
        GString *out = g_string_new(NULL);

        store_foreach_remembered(store, collect, out);
        return g_string_free(out, FALSE);
}

static void set_choice(Store *store, const char *context, const char *origin, int state,
                       const char *identity, gboolean remember) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(store_set_choice(store, context, origin, state, identity, 0, remember, NULL,
                                       &error),
                      "%s", error ? error->message : "");
}

START_TEST(test_state_file_default_path) {
        g_autofree char *path = state_file_default_path();
        g_autofree char *expected = g_build_filename(g_get_user_state_dir(), "tlsid", "choices",
                                                     NULL);

        ck_assert_str_eq(path, expected);
}
END_TEST

START_TEST(test_state_file_round_trip) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(Store) loaded = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = NULL;
        g_autofree char *path = g_build_filename(tmpdir, "state", "tlsid", "choices", NULL);
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *before = NULL;
        g_autofree char *after = NULL;
        g_autofree char *contents = NULL;
        const char secret[] = "SECRET-TOKEN-BYTES";
        StorePartition p;
        struct stat st;

        ck_assert(store_open_context(store, "firefox/default", FALSE, NULL, NULL, &error));
        ck_assert(store_open_context(store, "private", TRUE, NULL, ":1.1", &error));
        set_choice(store, "firefox/default", "[::1]:443", TLSID_STATE_CERTIFICATE, FP_A, TRUE);
        set_choice(store, "firefox/default", "example.org:443", TLSID_STATE_NONE, "", TRUE);
        set_choice(store, "firefox/default", "forgotten.example:443", TLSID_STATE_NONE, "",
                   FALSE);
        set_choice(store, "private", "example.org:443", TLSID_STATE_NONE, "", FALSE);
        ck_assert(store_add_remembered(store, "closed/ctx", "1.2.3.4:8443", TLSID_STATE_NONE, "",
                                       &error));
        ck_assert(store_put_session(store, "firefox/default", "example.org:443", "", 2,
                                    (const guint8 *) secret, sizeof secret, NOW + 60, 0x0304,
                                    NOW, NULL, &error));

        data = state_file_serialize(store);
        ck_assert(state_file_write(path, data, &error));
        ck_assert_int_eq(g_stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(g_stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);

        /* Tokens, unremembered and ephemeral choices never reach the disk. */
        ck_assert(g_file_get_contents(path, &contents, NULL, &error));
        ck_assert_ptr_null(strstr(contents, "SECRET"));
        ck_assert_ptr_null(strstr(contents, "forgotten"));
        ck_assert_ptr_null(strstr(contents, "private"));

        ck_assert(state_file_load(loaded, path, &moved_to, &problem, &error));
        ck_assert_ptr_null(moved_to);
        ck_assert_ptr_null(problem);
        before = remembered(store);
        after = remembered(loaded);
        ck_assert_str_eq(after, "closed/ctx|1.2.3.4:8443|none|;"
                                "firefox/default|[::1]:443|certificate|" FP_A ";"
                                "firefox/default|example.org:443|none|;");
        ck_assert_str_eq(before, after);

        /* The loaded choices apply when the context opens. */
        ck_assert(store_open_context(loaded, "firefox/default", FALSE, NULL, NULL, &error));
        ck_assert(store_get_partition(loaded, "firefox/default", "[::1]:443", &p, &error));
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(p.identity, FP_A);

        /* Writing again replaces the file. */
        g_clear_pointer(&data, g_bytes_unref);
        set_choice(store, "firefox/default", "example.org:443", TLSID_STATE_NONE, "", FALSE);
        data = state_file_serialize(store);
        ck_assert(state_file_write(path, data, &error));
        g_clear_pointer(&contents, g_free);
        ck_assert(g_file_get_contents(path, &contents, NULL, &error));
        ck_assert_ptr_null(strstr(contents, "example.org"));
        ck_assert_ptr_nonnull(strstr(contents, "[::1]:443"));
}
END_TEST

START_TEST(test_state_file_empty_store) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(Store) loaded = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = state_file_serialize(store);
        g_autofree char *path = g_build_filename(tmpdir, "choices", NULL);
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *list = NULL;

        ck_assert(state_file_write(path, data, &error));
        ck_assert(g_file_test(path, G_FILE_TEST_IS_REGULAR));
        ck_assert(state_file_load(loaded, path, &moved_to, &problem, &error));
        ck_assert_ptr_null(moved_to);
        list = remembered(loaded);
        ck_assert_str_eq(list, "");
}
END_TEST

START_TEST(test_state_file_missing) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = g_build_filename(tmpdir, "nothing", "choices", NULL);
        char *moved_to = (char *) "x";
        char *problem = (char *) "x";

        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_null(moved_to);
        ck_assert_ptr_null(problem);
        ck_assert_uint_eq(store_remembered_serial(store), 0);
}
END_TEST

START_TEST(test_state_file_unparsable_moved_aside) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices", "garbage without a group\n\x01\x02");
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *found = NULL;
        g_autofree char *contents = NULL;
        g_autofree char *prefix = g_strconcat(path, ".corrupt-", NULL);
        gint64 t0 = g_get_real_time() / G_USEC_PER_SEC;
        gint64 stamp;

        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(moved_to);
        ck_assert_ptr_nonnull(problem);
        ck_assert_ptr_nonnull(strstr(problem, "does not parse"));
        ck_assert(g_str_has_prefix(moved_to, prefix));
        stamp = g_ascii_strtoll(moved_to + strlen(prefix), NULL, 10);
        ck_assert_int_ge(stamp, t0);
        ck_assert_int_le(stamp, t0 + 5);
        ck_assert(!g_file_test(path, G_FILE_TEST_EXISTS));
        found = find_corrupt();
        ck_assert_str_eq(found, moved_to);
        ck_assert(g_file_get_contents(moved_to, &contents, NULL, &error));
        ck_assert(g_str_has_prefix(contents, "garbage"));

        /* The store is there and works; the next save writes a fresh file. */
        ck_assert(store_open_context(store, "a", FALSE, NULL, NULL, &error));
        set_choice(store, "a", "example.org:443", TLSID_STATE_NONE, "", TRUE);
        {
                g_autoptr(GBytes) data = state_file_serialize(store);

                ck_assert(state_file_write(path, data, &error));
        }
        ck_assert(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}
END_TEST

START_TEST(test_state_file_invalid_entry_keeps_valid_ones) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices",
                                           "[choice 1]\n"
                                           "context=a\n"
                                           "origin=good.example:443\n"
                                           "state=certificate\n"
                                           "identity=" FP_A "\n"
                                           "[choice 2]\n"
                                           "context=a\n"
                                           "origin=Bad.Example:443\n"
                                           "state=none\n"
                                           "identity=\n"
                                           "[choice 3]\n"
                                           "context=b\n"
                                           "origin=other.example:443\n"
                                           "state=none\n");
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *list = NULL;

        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(moved_to);
        ck_assert_msg(g_str_has_prefix(problem, "[choice 2] origin \"Bad.Example:443\""), "%s",
                      problem);
        ck_assert(!g_file_test(path, G_FILE_TEST_EXISTS));
        ck_assert(g_file_test(moved_to, G_FILE_TEST_IS_REGULAR));
        list = remembered(store);
        ck_assert_str_eq(list, "a|good.example:443|certificate|" FP_A ";"
                               "b|other.example:443|none|;");
}
END_TEST

/* Loads @text as the state file and returns the problem reported (transfer full). */
static char *problem_of(const char *text) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices", text);
        g_autofree char *moved_to = NULL;
        char *problem = NULL;

        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(moved_to);
        ck_assert_ptr_nonnull(problem);
        ck_assert_int_eq(g_unlink(moved_to), 0);
        ck_assert_uint_eq(store_remembered_serial(store), 0);
        return problem;
}

#define assert_problem(text, needle)                                                         \
        do {                                                                                 \
                g_autofree char *p_ = problem_of(text);                                      \
                ck_assert_msg(strstr(p_, (needle)) != NULL, "\"%s\" lacks \"%s\"", p_,       \
                              (needle));                                                     \
        } while (0)

START_TEST(test_state_file_problems_name_group_and_key) {
        assert_problem("[choice 1]\norigin=a.example:443\nstate=none\n", "[choice 1] context");
        assert_problem("[choice 7]\ncontext=a\nstate=none\n", "[choice 7] origin");
        assert_problem("[choice 1]\ncontext=a\norigin=a.example:443\n", "[choice 1] state");
        assert_problem("[choice 1]\ncontext=a\norigin=a.example:443\nstate=maybe\n",
                       "[choice 1] state: \"maybe\"");
        assert_problem("[choice 1]\ncontext=a\norigin=a.example:443\nstate=undecided\n",
                       "[choice 1] state");
        assert_problem("[choice 1]\ncontext=a b\norigin=a.example:443\nstate=none\n",
                       "[choice 1] context \"a b\"");
        assert_problem("[choice 1]\ncontext=a\norigin=a.example:443\nstate=certificate\n",
                       "[choice 1] identity");
        assert_problem("[choice 1]\ncontext=a\norigin=a.example:443\nstate=none\nidentity="
                       FP_A "\n",
                       "[choice 1] identity");
        assert_problem("[settings]\nx=1\n", "[settings]");
        /* Several problems: the first is named, the rest counted. */
        assert_problem("[choice 1]\ncontext=a\n[choice 2]\ncontext=b\n",
                       "[choice 1] origin");
        assert_problem("[choice 1]\ncontext=a\n[choice 2]\ncontext=b\n", "(and 3 more)");
}
END_TEST

START_TEST(test_state_file_limit_exceeded_is_a_problem) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices",
                                           "[choice 1]\ncontext=a\norigin=a.example:443\n"
                                           "state=none\n"
                                           "[choice 2]\ncontext=a\norigin=b.example:443\n"
                                           "state=none\n");
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *list = NULL;

        store_limits_init(&limits);
        limits.max_remembered = 1;
        store = store_new(&limits, nonce);
        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(moved_to);
        ck_assert_ptr_nonnull(strstr(problem, "[choice 2] max_remembered"));
        list = remembered(store);
        ck_assert_str_eq(list, "a|a.example:443|none|;");
}
END_TEST

/* A choices file far larger than any the daemon writes (a log written over it, say) is
 * not read into memory: it is moved aside whole and reported, and the store starts
 * empty. */
START_TEST(test_state_file_too_large_moved_aside_unread) {
        StoreLimits limits;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *path = g_build_filename(tmpdir, "choices", NULL);
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *expected = NULL;
        GString *big = g_string_new(NULL);
        GStatBuf st;

        store_limits_init(&limits);
        limits.max_remembered = 100;
        store = store_new(&limits, nonce);
        expected = g_strdup_printf("larger than %" G_GSIZE_FORMAT " bytes",
                                   state_file_max_size(store));
        /* What the daemon itself writes for its limit, with the longest ids, fits. */
        {
                g_autoptr(Store) full = store_new(&limits, nonce);
                g_autoptr(GBytes) data = NULL;
                char context[TLSID_CONTEXT_MAX + 1], origin[TLSID_ORIGIN_MAX + 1];

                for (guint i = 0; i < limits.max_remembered; i++) {
                        memset(context, 'c', TLSID_CONTEXT_MAX);
                        g_snprintf(context, sizeof context, "%03u", i);
                        context[3] = 'c';
                        context[TLSID_CONTEXT_MAX] = '\0';
                        /* Four labels of 63, 63, 63 and 61 characters: 253. */
                        g_snprintf(origin, sizeof origin, "%.63s.%.63s.%.63s.%.61s:65535",
                                   context, context, context, context);
                        ck_assert(store_open_context(full, context, FALSE, NULL, NULL, &error));
                        set_choice(full, context, origin, TLSID_STATE_CERTIFICATE,
                                   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                   TRUE);
                }
                data = state_file_serialize(full);
                ck_assert_uint_le(g_bytes_get_size(data), state_file_max_size(full));
        }
        /* Valid groups all along: only its size is wrong. */
        for (guint i = 0; big->len <= state_file_max_size(store); i++)
                g_string_append_printf(big, "[choice %u]\ncontext=a\norigin=h%u.example:443\n"
                                       "state=none\nidentity=\n", i, i);
        ck_assert(g_file_set_contents(path, big->str, (gssize) big->len, NULL));
        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(moved_to);
        ck_assert_msg(problem && strstr(problem, expected), "%s", problem);
        ck_assert(!g_file_test(path, G_FILE_TEST_EXISTS));
        ck_assert_int_eq(g_stat(moved_to, &st), 0);
        ck_assert_uint_eq((gsize) st.st_size, big->len);
        ck_assert(!store_has_context(store, "a"));
        g_string_free(big, TRUE);
}
END_TEST

START_TEST(test_state_file_unreadable) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;

        /* A directory where the file should be: a real error, nothing moved. */
        ck_assert(!state_file_load(store, tmpdir, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_null(moved_to);
        ck_assert_ptr_null(problem);
        ck_assert(g_file_test(tmpdir, G_FILE_TEST_IS_DIR));
}
END_TEST

START_TEST(test_state_file_write_fails_cleanly) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = g_bytes_new_static("x", 1);
        g_autofree char *blocker = write_file("blocker", "");
        g_autofree char *path = g_build_filename(blocker, "sub", "choices", NULL);

        /* The directory cannot be made: a file is in the way. */
        ck_assert(!state_file_write(path, data, &error));
        ck_assert_ptr_nonnull(error);
}
END_TEST

static Suite *state_file_suite(void) {
        Suite *s = suite_create("state-file");
        TCase *tc = tcase_create("state-file");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_state_file_default_path);
        tcase_add_test(tc, test_state_file_round_trip);
        tcase_add_test(tc, test_state_file_empty_store);
        tcase_add_test(tc, test_state_file_missing);
        tcase_add_test(tc, test_state_file_unparsable_moved_aside);
        tcase_add_test(tc, test_state_file_invalid_entry_keeps_valid_ones);
        tcase_add_test(tc, test_state_file_problems_name_group_and_key);
        tcase_add_test(tc, test_state_file_limit_exceeded_is_a_problem);
        tcase_add_test(tc, test_state_file_unreadable);
        tcase_add_test(tc, test_state_file_too_large_moved_aside_unread);
        tcase_add_test(tc, test_state_file_write_fails_cleanly);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(state_file_suite(), CK_FORK_GETENV);
}
