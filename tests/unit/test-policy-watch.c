/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of rereading policy.json (daemon/model/policy-watch.c). */
#include <check.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "check-main.h"
#include "policy-watch.h"
#include "tmp-dir.h"

/* Generous: a loaded machine may be slow to deliver file events; the tests wait for the
 * callback, not for this. */
#define WAIT_SECONDS 20

static char *tmpdir;
static char *policy_path;
static GMainContext *ctx;

/* What the callback saw. */
static guint calls;
static char *last_error;
static PolicyMode last_mode;

static void on_changed(const Policy *policy, const char *error, gpointer user_data) {
        ck_assert_ptr_eq(user_data, &calls);
        ck_assert_ptr_nonnull(policy);
        calls++;
        g_free(last_error);
        last_error = g_strdup(error);
        last_mode = policy_mode_for(policy, "firefox/private-1");
}

static void setup(void) {
        tmpdir = tmp_dir_make("tlsid-policy-watch-XXXXXX");
        policy_path = g_build_filename(tmpdir, "policy.json", NULL);
        ctx = g_main_context_new();
        calls = 0;
        last_mode = -1;
}

static void teardown(void) {
        tmp_dir_remove(tmpdir);
        g_clear_pointer(&tmpdir, g_free);
        g_clear_pointer(&policy_path, g_free);
        g_clear_pointer(&last_error, g_free);
        g_clear_pointer(&ctx, g_main_context_unref);
}

/* Atomic save: a temporary file renamed onto policy.json. */
static void write_atomic(const char *text) {
        ck_assert(g_file_set_contents(policy_path, text, -1, NULL));
}

/* In-place save: truncate and write, as some editors do. */
static void write_in_place(const char *text) {
        int fd = open(policy_path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0600);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ck_assert_int_eq(close(fd), 0);
}

static gboolean on_timeout(gpointer user_data) {
        *(gboolean *) user_data = TRUE;
        return G_SOURCE_REMOVE;
}

/* Runs @ctx until the callback has been called @n times in all; FALSE on timeout. */
static gboolean wait_for_calls(guint n) {
        gboolean timed_out = FALSE;
        GSource *timeout = g_timeout_source_new_seconds(WAIT_SECONDS);

        g_source_set_callback(timeout, on_timeout, &timed_out, NULL);
        g_source_attach(timeout, ctx);
        while (calls < n && !timed_out)
                g_main_context_iteration(ctx, TRUE);
        g_source_destroy(timeout);
        g_source_unref(timeout);
        return calls >= n;
}

static PolicyWatch *watch_new(void) {
        return policy_watch_new(policy_path, ctx, on_changed, &calls);
}

START_TEST(test_policy_watch_initial_load) {
        g_autoptr(PolicyWatch) watch = NULL;

        write_atomic("{\"mode\": \"auto\"}");
        watch = watch_new();
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_AUTO);
        ck_assert_ptr_null(policy_watch_get_error(watch));
        ck_assert_uint_eq(calls, 0);
}
END_TEST

START_TEST(test_policy_watch_initial_bad_file_is_default) {
        g_autoptr(PolicyWatch) watch = NULL;

        write_atomic("{\"mode\": \"auto\",\n\"contexts\": 3}");
        watch = watch_new();
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_ASK);
        ck_assert_str_eq(policy_watch_get_error(watch),
                         "contexts: must be an object of context prefixes, not a number");
        ck_assert_uint_eq(calls, 0);
}
END_TEST

START_TEST(test_policy_watch_reload_on_change) {
        g_autoptr(PolicyWatch) watch = NULL;

        write_atomic("{\"mode\": \"ask\"}");
        watch = watch_new();

        write_atomic("{\"mode\": \"none\"}");
        ck_assert_msg(wait_for_calls(1), "no callback after an atomic save");
        ck_assert_ptr_null(last_error);
        ck_assert_int_eq(last_mode, POLICY_MODE_NONE);
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_NONE);

        write_in_place("{\"contexts\": {\"firefox/private-\": {\"mode\": \"auto\"}}}");
        ck_assert_msg(wait_for_calls(2), "no callback after an in-place save");
        ck_assert_ptr_null(last_error);
        ck_assert_int_eq(last_mode, POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_ASK);
}
END_TEST

START_TEST(test_policy_watch_reload_on_request) {
        g_autoptr(PolicyWatch) watch = NULL;

        write_atomic("{\"mode\": \"ask\"}");
        watch = watch_new();
        write_atomic("{\"mode\": \"auto\"}");
        /* No main loop here: the reload happens inside the call. */
        policy_watch_reload(watch);
        ck_assert_uint_eq(calls, 1);
        ck_assert_ptr_null(last_error);
        ck_assert_int_eq(last_mode, POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_AUTO);

        /* An explicit reload reports even when nothing changed (SIGHUP is answered). */
        policy_watch_reload(watch);
        ck_assert_uint_eq(calls, 2);
        ck_assert_ptr_null(last_error);
}
END_TEST

START_TEST(test_policy_watch_bad_file_keeps_policy) {
        g_autoptr(PolicyWatch) watch = NULL;

        write_atomic("{\"mode\": \"auto\"}");
        watch = watch_new();

        write_atomic("{\n\"mode\": \"none\",\n\"contexts\": {\n}}}");
        ck_assert_msg(wait_for_calls(1), "no callback for a bad file");
        ck_assert_ptr_nonnull(last_error);
        ck_assert_msg(g_regex_match_simple("^policy\\.json:4:[0-9]+: ", last_error, 0, 0),
                      "%s", last_error);
        ck_assert_str_eq(policy_watch_get_error(watch), last_error);
        ck_assert_int_eq(last_mode, POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_AUTO);

        /* Another mistake is reported too. */
        write_atomic("{\"mode\": \"nope\"}");
        ck_assert_msg(wait_for_calls(2), "no callback for another bad file");
        ck_assert_str_eq(last_error, "mode: must be ask, auto or none, not \"nope\"");
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_AUTO);

        /* An explicit reload of the same bad file reports it again and keeps the policy. */
        policy_watch_reload(watch);
        ck_assert_uint_eq(calls, 3);
        ck_assert_str_eq(last_error, "mode: must be ask, auto or none, not \"nope\"");
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_AUTO);

        /* Fixing the file is reported even though the policy is the one in force. */
        write_atomic("{\"mode\": \"auto\"}");
        ck_assert_msg(wait_for_calls(4), "no callback when the file was fixed");
        ck_assert_ptr_null(last_error);
        ck_assert_ptr_null(policy_watch_get_error(watch));
        ck_assert_int_eq(last_mode, POLICY_MODE_AUTO);
}
END_TEST

START_TEST(test_policy_watch_deleted_file_is_default) {
        g_autoptr(PolicyWatch) watch = NULL;

        write_atomic("{\"mode\": \"none\"}");
        watch = watch_new();
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_NONE);

        ck_assert_int_eq(g_unlink(policy_path), 0);
        ck_assert_msg(wait_for_calls(1), "no callback after deletion");
        ck_assert_ptr_null(last_error);
        ck_assert_int_eq(last_mode, POLICY_MODE_ASK);
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_ASK);

        /* And created again. */
        write_in_place("{\"mode\": \"auto\"}");
        ck_assert_msg(wait_for_calls(2), "no callback after creation");
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_AUTO);
}
END_TEST

/* $XDG_CONFIG_HOME/tlsid may not exist when the daemon starts. */
START_TEST(test_policy_watch_directory_created_later) {
        g_autofree char *dir = g_build_filename(tmpdir, "tlsid", NULL);
        g_autofree char *path = g_build_filename(dir, "policy.json", NULL);
        g_autoptr(PolicyWatch) watch = policy_watch_new(path, ctx, on_changed, &calls);

        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_ASK);
        ck_assert_int_eq(g_mkdir(dir, 0700), 0);
        ck_assert(g_file_set_contents(path, "{\"mode\": \"none\"}", -1, NULL));
        ck_assert_msg(wait_for_calls(1), "no callback when the directory and file appeared");
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_NONE);
        g_unlink(path);
        g_rmdir(dir);
}
END_TEST

/* A new user has no ~/.config/tlsid yet: nothing polls. The nearest existing directory is
 * watched, then each one on the way as it appears, then the file. */
START_TEST(test_policy_watch_missing_directories_no_polling) {
        g_autofree char *top = g_build_filename(tmpdir, "config", NULL);
        g_autofree char *dir = g_build_filename(top, "tlsid", NULL);
        g_autofree char *path = g_build_filename(dir, "policy.json", NULL);
        g_autoptr(PolicyWatch) watch = policy_watch_new(path, ctx, on_changed, &calls);

        /* An existing directory: GIO's inotify backend rescans a watched path whose
         * directory is missing every 4 s (its "missing" list), waking the process for
         * nothing; a directory that exists is one inotify watch and no timer. */
        ck_assert_str_eq(policy_watch_get_watched(watch), tmpdir);
        ck_assert(g_file_test(policy_watch_get_watched(watch), G_FILE_TEST_IS_DIR));

        ck_assert_int_eq(g_mkdir(top, 0700), 0);
        ck_assert_int_eq(g_mkdir(dir, 0700), 0);
        ck_assert(g_file_set_contents(path, "{\"mode\": \"none\"}", -1, NULL));
        ck_assert_msg(wait_for_calls(1), "no callback when the directories and file appeared");
        ck_assert_int_eq(policy_mode_for(policy_watch_get(watch), "x"), POLICY_MODE_NONE);
        ck_assert_str_eq(policy_watch_get_watched(watch), path);
        g_unlink(path);
        g_rmdir(dir);
        g_rmdir(top);
}
END_TEST

START_TEST(test_policy_watch_free_with_pending_reload) {
        PolicyWatch *watch;
        guint before;

        write_atomic("{\"mode\": \"ask\"}");
        watch = watch_new();
        write_atomic("{\"mode\": \"none\"}");
        /* Dispatch what is there (the file event queues the settle timeout), then free:
         * nothing may run on the freed watch afterwards. */
        while (g_main_context_iteration(ctx, FALSE))
                ;
        before = calls;
        policy_watch_free(watch);
        policy_watch_free(NULL);
        while (g_main_context_iteration(ctx, FALSE))
                ;
        ck_assert_uint_eq(calls, before);
}
END_TEST

static Suite *policy_watch_suite(void) {
        Suite *s = suite_create("policy-watch");
        TCase *tc = tcase_create("policy-watch");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 4 * WAIT_SECONDS);
        tcase_add_test(tc, test_policy_watch_initial_load);
        tcase_add_test(tc, test_policy_watch_initial_bad_file_is_default);
        tcase_add_test(tc, test_policy_watch_reload_on_change);
        tcase_add_test(tc, test_policy_watch_reload_on_request);
        tcase_add_test(tc, test_policy_watch_bad_file_keeps_policy);
        tcase_add_test(tc, test_policy_watch_deleted_file_is_default);
        tcase_add_test(tc, test_policy_watch_directory_created_later);
        tcase_add_test(tc, test_policy_watch_missing_directories_no_polling);
        tcase_add_test(tc, test_policy_watch_free_with_pending_reload);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(policy_watch_suite(), CK_FORK_GETENV);
}
