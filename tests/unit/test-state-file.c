/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the remembered-choices file (daemon/model/state-file.c). */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-main.h"
#include "no-dac.h"
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

static void count_change(const char *context, const char *origin, int state,
                         const char *identity, guint32 generation, gpointer user_data) {
        (*(guint *) user_data)++;
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
        ck_assert_msg(g_str_has_prefix(problem, "line 6: [choice 2] origin \"Bad.Example:443\""),
                      "%s", problem);
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

/* Loads @text as the state file into @store, which must succeed and move it aside;
 * returns the problem reported (transfer full). */
static char *load_bad(Store *store, const char *text) {
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices", text);
        g_autofree char *moved_to = NULL;
        char *problem = NULL;

        ck_assert_msg(state_file_load(store, path, &moved_to, &problem, &error), "%s",
                      error ? error->message : "");
        ck_assert_ptr_nonnull(moved_to);
        ck_assert_ptr_nonnull(problem);
        return problem;
}

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

/* A hand-edited file with the same (context, origin) twice: the first entry stays, the
 * second is a bad entry named by its line, and the file is moved aside. GKeyFile alone
 * would keep both groups and the store the last one. */
START_TEST(test_state_file_duplicate_choice_is_a_problem) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autofree char *problem = load_bad(store, "[choice 1]\n"
                                                   "context=a\n"
                                                   "origin=x.example:443\n"
                                                   "state=none\n"
                                                   "\n"
                                                   "[choice 2]\n"
                                                   "context=a\n"
                                                   "origin=x.example:443\n"
                                                   "state=certificate\n"
                                                   "identity=" FP_A "\n"
                                                   "[choice 3]\n"
                                                   "context=b\n"
                                                   "origin=x.example:443\n"
                                                   "state=none\n");
        g_autofree char *list = remembered(store);

        ck_assert_str_eq(problem, "line 6: [choice 2]: context \"a\", origin \"x.example:443\" "
                                  "again (first at line 1)");
        ck_assert_str_eq(list, "a|x.example:443|none|;b|x.example:443|none|;");
}
END_TEST

/* The same group name twice: GKeyFile would merge the two into one group whose later
 * keys win. Each is read on its own; the first stays. */
START_TEST(test_state_file_group_given_twice_is_a_problem) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autofree char *problem = load_bad(store, "# edited by hand\n"
                                                   "[choice 1]\n"
                                                   "context=a\n"
                                                   "origin=x.example:443\n"
                                                   "state=none\n"
                                                   "[choice 1]\n"
                                                   "context=a\n"
                                                   "origin=y.example:443\n"
                                                   "state=none\n");
        g_autofree char *list = remembered(store);

        ck_assert_str_eq(problem, "line 6: [choice 1]: the group of line 2 again");
        ck_assert_str_eq(list, "a|x.example:443|none|;");
}
END_TEST

START_TEST(test_state_file_key_given_twice_is_a_problem) {
        assert_problem("[choice 1]\ncontext=a\norigin=x.example:443\norigin=y.example:443\n"
                       "state=none\n",
                       "line 1: [choice 1] origin: given 2 times");
        assert_problem("[choice 1]\ncontext=a\norigin=x.example:443\nstate=none\n"
                       "state=certificate\nidentity=" FP_A "\n",
                       "[choice 1] state: given 2 times");
}
END_TEST

/* Each problem names its line; a broken group costs that group only. */
START_TEST(test_state_file_problems_have_lines) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autofree char *problem = load_bad(store, "[choice 1]\n"
                                                   "context=a\n"
                                                   "origin=x.example:443\n"
                                                   "state=none\n"
                                                   "[choice 2\n"
                                                   "context=a\n"
                                                   "[choice 3]\n"
                                                   "context=a\n"
                                                   "origin=z.example:443\n"
                                                   "state=none\n");
        g_autofree char *list = remembered(store);

        ck_assert_msg(g_str_has_prefix(problem, "line 5: does not parse: "), "%s", problem);
        ck_assert_str_eq(list, "a|x.example:443|none|;a|z.example:443|none|;");
        assert_problem("x=1\n", "line 1: does not parse");
        assert_problem("# a comment\n\n[choice 1]\ncontext=a\nstate=none\n\n"
                       "[choice 2]\ncontext=a\norigin=Y:443\nstate=none\n",
                       "line 3: [choice 1] origin");
        assert_problem("[choice 1]\ncontext=a\nstate=none\n\n"
                       "[choice 2]\ncontext=a\norigin=Y:443\nstate=none\n",
                       "(and 1 more)");
}
END_TEST

/* A file that exists but cannot be read is an error naming it and the errno; nothing
 * is loaded, and the file is neither moved nor changed. */
START_TEST(test_state_file_unreadable_names_file_and_errno) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices", "[choice 1]\ncontext=a\n"
                                                      "origin=x.example:443\nstate=none\n");
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *contents = NULL;
        g_autofree char *list = NULL;

        if (!no_dac_override_here()) {
                printf("test_state_file_unreadable_names_file_and_errno: skipped, cannot drop "
                       "CAP_DAC_OVERRIDE\n");
                return;
        }
        ck_assert_int_eq(chmod(path, 0), 0);
        ck_assert(!state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error->message, path) && strstr(error->message, "(EACCES)"), "%s",
                      error->message);
        ck_assert_ptr_null(moved_to);
        ck_assert_ptr_null(problem);
        ck_assert_ptr_null(find_corrupt());
        list = remembered(store);
        ck_assert_str_eq(list, "");
        ck_assert_int_eq(chmod(path, 0600), 0);
        ck_assert(g_file_get_contents(path, &contents, NULL, NULL));
        ck_assert(g_str_has_prefix(contents, "[choice 1]\ncontext=a\n"));
}
END_TEST

/* Loading into a store in use (a file readable again) leaves what the session decided:
 * a choice it remembers, and the choice of an open context's entry. An undecided entry
 * of an open context gets the remembered choice as SetChoice would: with a signal. */
START_TEST(test_state_file_load_keeps_what_the_store_holds) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = write_file("choices",
                                           "[choice 1]\ncontext=open\norigin=set.example:443\n"
                                           "state=none\n"
                                           "[choice 2]\ncontext=open\norigin=new.example:443\n"
                                           "state=certificate\nidentity=" FP_A "\n"
                                           "[choice 3]\ncontext=closed\norigin=r.example:443\n"
                                           "state=none\n"
                                           "[choice 4]\ncontext=closed\norigin=c.example:443\n"
                                           "state=none\n");
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        g_autofree char *list = NULL;
        guint changes = 0;
        StorePartition p;

        ck_assert(store_open_context(store, "open", FALSE, NULL, NULL, &error));
        set_choice(store, "open", "set.example:443", TLSID_STATE_CERTIFICATE, FP_A, FALSE);
        ck_assert(store_add_remembered(store, "closed", "r.example:443",
                                       TLSID_STATE_CERTIFICATE, FP_A, &error));
        store_set_choice_changed_fn(store, count_change, &changes);

        ck_assert(state_file_load(store, path, &moved_to, &problem, &error));
        ck_assert_ptr_null(problem);
        ck_assert(store_get_partition(store, "open", "set.example:443", &p, &error));
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert(store_get_partition(store, "open", "new.example:443", &p, &error));
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert(p.remembered);
        ck_assert_uint_eq(changes, 1);
        list = remembered(store);
        ck_assert_str_eq(list, "closed|c.example:443|none|;"
                               "closed|r.example:443|certificate|" FP_A ";"
                               "open|new.example:443|certificate|" FP_A ";");
}
END_TEST

/* Durable writes: no temporary file stays, and an interrupted save's temporary files
 * (and only they) are removed at start. */
START_TEST(test_state_file_stale_temps_removed) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = state_file_serialize(store);
        g_autofree char *path = g_build_filename(tmpdir, "choices", NULL);
        static const char *const stale[] = { "choices.tmp-a1B2c3", "choices.tmp-ZZZZZZ" };
        static const char *const kept[] = {
                "choices.tmp-a1B2c", "choices.tmp-a1B2c3d", "choices.tmp-a1B2c.", "choices.backup",
                "choices.corrupt-1700000000", "other.tmp-a1B2c3", "choices.AbC123",
        };
        g_autoptr(GDir) dir = NULL;
        const char *name;

        ck_assert(state_file_write(path, data, &error));
        dir = g_dir_open(tmpdir, 0, NULL);
        while ((name = g_dir_read_name(dir)))
                ck_assert_str_eq(name, "choices");
        for (gsize i = 0; i < G_N_ELEMENTS(stale); i++)
                g_free(write_file(stale[i], "x"));
        for (gsize i = 0; i < G_N_ELEMENTS(kept); i++)
                g_free(write_file(kept[i], "x"));
        {
                g_autofree char *subdir = g_build_filename(tmpdir, "choices.tmp-d1r3ct", NULL);

                ck_assert_int_eq(g_mkdir(subdir, 0700), 0);
                ck_assert_uint_eq(state_file_remove_stale_temps(path), G_N_ELEMENTS(stale));
                ck_assert(g_file_test(subdir, G_FILE_TEST_IS_DIR));
        }
        for (gsize i = 0; i < G_N_ELEMENTS(stale); i++) {
                g_autofree char *file = g_build_filename(tmpdir, stale[i], NULL);

                ck_assert_msg(!g_file_test(file, G_FILE_TEST_EXISTS), "%s", stale[i]);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(kept); i++) {
                g_autofree char *file = g_build_filename(tmpdir, kept[i], NULL);

                ck_assert_msg(g_file_test(file, G_FILE_TEST_EXISTS), "%s", kept[i]);
        }
        ck_assert(g_file_test(path, G_FILE_TEST_IS_REGULAR));
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
        ck_assert_msg(strstr(error->message, "(EISDIR)"), "%s", error->message);
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
        ck_assert_msg(strstr(error->message, blocker) && strstr(error->message, "(ENOTDIR)"),
                      "%s", error->message);
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
        tcase_add_test(tc, test_state_file_duplicate_choice_is_a_problem);
        tcase_add_test(tc, test_state_file_group_given_twice_is_a_problem);
        tcase_add_test(tc, test_state_file_key_given_twice_is_a_problem);
        tcase_add_test(tc, test_state_file_problems_have_lines);
        tcase_add_test(tc, test_state_file_unreadable_names_file_and_errno);
        tcase_add_test(tc, test_state_file_load_keeps_what_the_store_holds);
        tcase_add_test(tc, test_state_file_stale_temps_removed);
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
