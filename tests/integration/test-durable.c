/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: remembered choices survive what a real tlsidd meets on disk. A
 * remember is answered once the choice is on disk, so a kill -9 right after loses
 * nothing; a save that fails (a read-only state directory) is an error to the caller,
 * counted and retried; a choices file with a bad entry keeps its good ones at once; an
 * unreadable one is never replaced; an interrupted save's temporary files are removed.
 * Run as root, the bus and the daemon it activates lose CAP_DAC_OVERRIDE, so file modes
 * bind them as they bind any user. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check-main.h"
#include "no-dac.h"
#include "raw-bus.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000
/* The first retry of a failed save comes after a second; then 2, 4, ... */
#define RECOVERY_TIMEOUT_MS 20000

#define ERR_NOT_SAVED "org.tlsid.Error.NotSaved"
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static DBusConnection *conn;
static bool modes_bind; /* file modes bind the daemon (not root, or root without DAC) */
static char *tlsid_dir, *choices_path;

static void setup(void) {
        modes_bind = no_dac_override_for_children();
        test_bus_start();
        conn = test_bus_connect();
        tlsid_dir = test_xasprintf("%s/tlsid", test_bus_state_dir());
        choices_path = test_xasprintf("%s/choices", tlsid_dir);
        ck_assert_int_eq(mkdir(tlsid_dir, 0700), 0);
}

static void teardown(void) {
        /* The fixture removes the directory: give it back its modes. */
        chmod(tlsid_dir, 0700);
        chmod(choices_path, 0600);
        test_bus_disconnect(conn);
        conn = NULL;
        test_bus_stop();
        free(choices_path);
        free(tlsid_dir);
}

/* --- calls --- */

static DBusMessage *call_new(const char *method) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      TEST_BUS_INTERFACE, method);

        ck_assert_ptr_nonnull(m);
        return m;
}

/* Sends @m (consumed); the reply, or NULL with @error set. */
static DBusMessage *call(DBusMessage *m, DBusError *error) {
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                       error);

        dbus_message_unref(m);
        return reply;
}

static DBusMessage *call_ok(DBusMessage *m) {
        DBusError error = DBUS_ERROR_INIT;
        char what[64];

        snprintf(what, sizeof what, "%s", dbus_message_get_member(m));
        DBusMessage *reply = call(m, &error);
        ck_assert_msg(reply, "%s failed: %s: %s", what, error.name, error.message);
        return reply;
}

static void open_context(const char *context) {
        DBusMessage *m = call_new("OpenContext");
        DBusMessageIter it, dict;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        dbus_message_unref(call_ok(m));
}

/* SetChoice(@context, @origin, @state, @identity, {remember: @remember}). */
static DBusMessage *set_choice_call(const char *context, const char *origin, const char *state,
                                    const char *identity, bool remember) {
        DBusMessage *m = call_new("SetChoice");
        DBusMessageIter it, dict, entry, variant;
        const char *key = "remember";
        dbus_bool_t value = remember;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &state));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &identity));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        ck_assert(dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
        ck_assert(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "b", &variant));
        ck_assert(dbus_message_iter_append_basic(&variant, DBUS_TYPE_BOOLEAN, &value));
        ck_assert(dbus_message_iter_close_container(&entry, &variant));
        ck_assert(dbus_message_iter_close_container(&dict, &entry));
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        return m;
}

static void remember_ok(const char *context, const char *origin) {
        dbus_message_unref(call_ok(set_choice_call(context, origin, "none", "", true)));
}

/* A remember refused with NotSaved whose message names @needle and @errno_name. */
static void remember_not_saved(const char *context, const char *origin, const char *needle,
                               const char *errno_name) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = call(set_choice_call(context, origin, "none", "", true), &error);

        ck_assert_msg(!reply, "SetChoice(remember) of %s succeeded", origin);
        ck_assert_msg(strcmp(error.name, ERR_NOT_SAVED) == 0 && strstr(error.message, needle) &&
                              strstr(error.message, errno_name),
                      "expected %s naming %s and %s, got %s: %s", ERR_NOT_SAVED, needle,
                      errno_name, error.name, error.message);
        dbus_error_free(&error);
}

/* The state of (@context, @origin): "undecided", "none" or "certificate" (static). */
static const char *state_of(const char *context, const char *origin) {
        static char state[32];
        DBusMessage *m = call_new("GetPartition");
        DBusMessage *reply;
        const char *s, *identity, *peer;
        dbus_uint32_t generation;

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                           &origin, DBUS_TYPE_INVALID));
        reply = call_ok(m);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &s, DBUS_TYPE_STRING,
                                        &identity, DBUS_TYPE_UINT32, &generation,
                                        DBUS_TYPE_STRING, &peer, DBUS_TYPE_INVALID));
        snprintf(state, sizeof state, "%s", s);
        dbus_message_unref(reply);
        return state;
}

static uint64_t statistic(const char *key) {
        DBusMessage *reply = call_ok(call_new("GetStatistics"));
        uint64_t v = 0;

        ck_assert_msg(raw_bus_statistic(reply, key, &v), "GetStatistics has no \"%s\"", key);
        dbus_message_unref(reply);
        return v;
}

/* The "last_save_error" statistic (transfer full: free()). */
static char *last_save_error(void) {
        DBusMessage *reply = call_ok(call_new("GetStatistics"));
        DBusMessageIter it, array, entry, variant;
        char *found = NULL;

        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &array);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                const char *k, *v;

                dbus_message_iter_recurse(&array, &entry);
                dbus_message_iter_get_basic(&entry, &k);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (strcmp(k, "last_save_error") == 0 &&
                    dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_STRING) {
                        dbus_message_iter_get_basic(&variant, &v);
                        found = strdup(v);
                }
        }
        dbus_message_unref(reply);
        ck_assert_msg(found, "GetStatistics has no string \"last_save_error\"");
        return found;
}

/* kill -9 of the daemon, once it is gone from the bus. */
static void kill_daemon_hard(pid_t pid) {
        DBusConnection *watch = test_bus_connect_watching();

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_msg(test_bus_wait_owner_change(watch, TEST_BUS_NAME, true, CALL_TIMEOUT_MS),
                      "tlsidd was not gone after SIGKILL");
        test_bus_disconnect(watch);
}

/* kill -9 of the running daemon, then @context opened on the next one. */
static void kill_and_reopen(const char *context) {
        kill_daemon_hard(test_bus_daemon_pid());
        open_context(context);
}

static char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t len = 0;

        ck_assert_msg(f, "open %s: %s", path, strerror(errno));
        if (getdelim(&text, &len, '\0', f) < 0) {
                free(text);
                text = strdup("");
        }
        fclose(f);
        return text;
}

/* The names in the state directory starting with @prefix, separated by spaces. */
static char *names_with(const char *prefix) {
        DIR *d = opendir(tlsid_dir);
        struct dirent *e;
        char *out = strdup("");

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d))) {
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
                        char *more = test_xasprintf("%s%s%s", out, *out ? " " : "", e->d_name);

                        free(out);
                        out = more;
                }
        }
        closedir(d);
        return out;
}

static void skip_unless_modes_bind(const char *test) {
        if (!modes_bind)
                printf("%s: skipped, cannot drop CAP_DAC_OVERRIDE for the daemon\n", test);
}

/* --- tests --- */

/* A remember while the state directory is read-only: the caller gets NotSaved naming
 * the directory and the errno, the choice is in force, GetStatistics counts the failure
 * and says why; the save is retried until the directory is writable again, and then
 * holds everything, across a kill -9. */
START_TEST(test_durable_read_only_state_dir) {
        char *why;

        skip_unless_modes_bind("test_durable_read_only_state_dir");
        if (!modes_bind)
                return;
        open_context("app/ro");
        ck_assert_int_eq(chmod(tlsid_dir, 0500), 0);

        remember_not_saved("app/ro", "a.example:443", tlsid_dir, "(EACCES)");
        ck_assert_str_eq(state_of("app/ro", "a.example:443"), "none");
        ck_assert_uint_eq(statistic("save_failures"), 1);
        why = last_save_error();
        ck_assert_msg(strstr(why, tlsid_dir) && strstr(why, "(EACCES)"), "%s", why);
        free(why);

        /* Writable again: the retry saves it, without another call that changes it. */
        ck_assert_int_eq(chmod(tlsid_dir, 0700), 0);
        for (long long deadline = test_bus_now_ms() + RECOVERY_TIMEOUT_MS;;) {
                why = last_save_error();
                if (!*why)
                        break;
                free(why);
                ck_assert_msg(test_bus_now_ms() < deadline, "the failed save was not retried");
                usleep(100 * 1000);
        }
        free(why);
        ck_assert_uint_ge(statistic("saves"), 1);
        remember_ok("app/ro", "b.example:443");

        kill_and_reopen("app/ro");
        ck_assert_str_eq(state_of("app/ro", "a.example:443"), "none");
        ck_assert_str_eq(state_of("app/ro", "b.example:443"), "none");
}
END_TEST

/* The reply to a remember means the choice is on disk: a kill -9 right after it, and
 * the next activation has it. Several rounds, as the old daemon lost it only most of
 * the time. */
START_TEST(test_durable_kill_after_acknowledged_remember) {
        enum { ROUNDS = 5 };
        char origin[64];

        for (int round = 0; round < ROUNDS; round++) {
                pid_t pid;

                open_context("app/kill");
                pid = test_bus_daemon_pid();
                ck_assert_int_gt(pid, 0);
                snprintf(origin, sizeof origin, "h%d.example:443", round);
                remember_ok("app/kill", origin);
                kill_daemon_hard(pid);

                open_context("app/kill");
                for (int i = 0; i <= round; i++) {
                        snprintf(origin, sizeof origin, "h%d.example:443", i);
                        ck_assert_msg(strcmp(state_of("app/kill", origin), "none") == 0,
                                      "round %d: %s lost after kill -9", round, origin);
                }
        }
}
END_TEST

/* Remembers sent together are written together: each reply still waits for its choice
 * to be on disk, and there are fewer writes than calls. */
START_TEST(test_durable_concurrent_remembers_batched) {
        enum { CALLS = 64 };
        DBusPendingCall *pending[CALLS];
        uint64_t before, after;
        char origin[64];

        open_context("app/batch");
        before = statistic("saves");
        for (int i = 0; i < CALLS; i++) {
                snprintf(origin, sizeof origin, "b%d.example:443", i);
                DBusMessage *m = set_choice_call("app/batch", origin, "none", "", true);
                ck_assert(dbus_connection_send_with_reply(conn, m, &pending[i], CALL_TIMEOUT_MS));
                dbus_message_unref(m);
        }
        for (int i = 0; i < CALLS; i++) {
                DBusMessage *reply;

                dbus_pending_call_block(pending[i]);
                reply = dbus_pending_call_steal_reply(pending[i]);
                ck_assert_int_eq(dbus_message_get_type(reply), DBUS_MESSAGE_TYPE_METHOD_RETURN);
                dbus_message_unref(reply);
                dbus_pending_call_unref(pending[i]);
        }
        after = statistic("saves");
        printf("test_durable_concurrent_remembers_batched: %d remembers, %llu writes\n", CALLS,
               (unsigned long long) (after - before));
        ck_assert_uint_ge(after - before, 1);
        ck_assert_uint_lt(after - before, CALLS);

        kill_and_reopen("app/batch");
        ck_assert_str_eq(state_of("app/batch", "b0.example:443"), "none");
        ck_assert_str_eq(state_of("app/batch", "b63.example:443"), "none");
}
END_TEST

/* A file with one bad entry: moved aside, and its good entry written back at start, so
 * that a daemon killed before any other save still has it at the next start. */
START_TEST(test_durable_bad_entry_good_ones_rewritten) {
        static const char file[] = "[choice 1]\n"
                                   "context=app/bad\n"
                                   "origin=good.example:443\n"
                                   "state=none\n"
                                   "[choice 2]\n"
                                   "context=app/bad\n"
                                   "origin=Bad.Example:443\n"
                                   "state=none\n";
        char *aside, *path, *contents;

        test_bus_write_state_file(file);
        open_context("app/bad");
        ck_assert_str_eq(state_of("app/bad", "good.example:443"), "none");
        kill_and_reopen("app/bad");
        ck_assert_str_eq(state_of("app/bad", "good.example:443"), "none");
        contents = read_all(choices_path);
        ck_assert_msg(strstr(contents, "good.example:443") && !strstr(contents, "Bad.Example"),
                      "%s", contents);
        free(contents);
        /* The original is kept beside it, whole. */
        aside = names_with("choices.corrupt-");
        ck_assert_msg(*aside && !strchr(aside, ' '), "moved aside: \"%s\"", aside);
        path = test_xasprintf("%s/%s", tlsid_dir, aside);
        contents = read_all(path);
        ck_assert_str_eq(contents, file);
        free(contents);
        free(path);
        free(aside);
}
END_TEST

/* An unreadable choices file: the daemon starts without its choices, refuses to
 * remember (the choice is in force for the session) naming the file, and never
 * replaces it, also at exit; once it is readable, its choices load and remembering
 * works again, with everything in the file. */
START_TEST(test_durable_unreadable_file_never_replaced) {
        static const char file[] = "[choice 1]\n"
                                   "context=app/unread\n"
                                   "origin=kept.example:443\n"
                                   "state=certificate\n"
                                   "identity=" FP_A "\n";
        struct stat before, after;
        char *why, *contents;

        skip_unless_modes_bind("test_durable_unreadable_file_never_replaced");
        if (!modes_bind)
                return;
        test_bus_write_state_file(file);
        ck_assert_int_eq(chmod(choices_path, 0), 0);
        ck_assert_int_eq(stat(choices_path, &before), 0);

        open_context("app/unread");
        ck_assert_str_eq(state_of("app/unread", "kept.example:443"), "undecided");
        remember_not_saved("app/unread", "new.example:443", choices_path, "(EACCES)");
        ck_assert_str_eq(state_of("app/unread", "new.example:443"), "none");
        why = last_save_error();
        ck_assert_msg(strstr(why, choices_path) && strstr(why, "(EACCES)"), "%s", why);
        free(why);
        /* Also through tlsidctl, which prints the daemon's reason. */
        {
                char *command = test_xasprintf("\"$TLSIDCTL\" choose app/unread t.example:443 none "
                                               "--remember 2>&1");
                FILE *p = popen(command, "r");
                char out[1024] = "";
                size_t n = fread(out, 1, sizeof out - 1, p);
                int status = pclose(p);

                out[n] = '\0';
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x: %s",
                              status, out);
                ck_assert_msg(strstr(out, "tlsidctl: choose: remember: not saved: ") &&
                                      strstr(out, choices_path),
                              "%s", out);
                free(command);
        }

        /* SIGTERM saves at exit: not over this file. */
        test_bus_restart_daemon();
        ck_assert_int_eq(stat(choices_path, &after), 0);
        ck_assert_uint_eq(after.st_ino, before.st_ino);
        ck_assert_uint_eq(after.st_mode & 07777, 0);
        contents = read_all(choices_path);
        ck_assert_str_eq(contents, file);
        free(contents);

        /* Readable again: the next remember loads it first (the daemon tries the file at
         * most once a second). */
        ck_assert_int_eq(chmod(choices_path, 0600), 0);
        open_context("app/unread");
        for (long long deadline = test_bus_now_ms() + RECOVERY_TIMEOUT_MS;;) {
                DBusError error = DBUS_ERROR_INIT;
                DBusMessage *reply = call(
                        set_choice_call("app/unread", "new.example:443", "none", "", true),
                        &error);

                if (reply) {
                        dbus_message_unref(reply);
                        break;
                }
                ck_assert_msg(strcmp(error.name, ERR_NOT_SAVED) == 0, "%s: %s", error.name,
                              error.message);
                dbus_error_free(&error);
                ck_assert_msg(test_bus_now_ms() < deadline, "remembering stayed refused");
                usleep(200 * 1000);
        }
        ck_assert_str_eq(state_of("app/unread", "kept.example:443"), "certificate");
        contents = read_all(choices_path);
        ck_assert_msg(strstr(contents, "kept.example:443") && strstr(contents, "new.example:443"),
                      "%s", contents);
        free(contents);
}
END_TEST

/* A kill -9 during a save leaves its temporary file: the next start removes it, and
 * nothing that only looks alike. */
START_TEST(test_durable_stale_temporary_files_removed) {
        static const char *const stale[] = { "choices.tmp-Ab3dE9", "choices.tmp-000000" };
        static const char *const kept[] = { "choices.backup", "choices.tmp-notmine",
                                            "choices.tmp-Ab3dE" };
        char *left;

        for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
                char *path = test_xasprintf("%s/%s", tlsid_dir, stale[i]);
                FILE *f = fopen(path, "we");

                ck_assert_ptr_nonnull(f);
                fputs("[choice 1]\n", f);
                fclose(f);
                free(path);
        }
        for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
                char *path = test_xasprintf("%s/%s", tlsid_dir, kept[i]);
                FILE *f = fopen(path, "we");

                ck_assert_ptr_nonnull(f);
                fclose(f);
                free(path);
        }
        test_bus_activate_daemon();
        left = names_with("choices.");
        ck_assert_msg(!strstr(left, stale[0]) && !strstr(left, stale[1]), "left: %s", left);
        for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
                ck_assert_msg(strstr(left, kept[i]), "%s removed; left: %s", kept[i], left);
        free(left);
}
END_TEST

static Suite *durable_suite(void) {
        Suite *s = suite_create("durable");
        TCase *tc = tcase_create("durable");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_durable_read_only_state_dir);
        tcase_add_test(tc, test_durable_kill_after_acknowledged_remember);
        tcase_add_test(tc, test_durable_concurrent_remembers_batched);
        tcase_add_test(tc, test_durable_bad_entry_good_ones_rewritten);
        tcase_add_test(tc, test_durable_unreadable_file_never_replaced);
        tcase_add_test(tc, test_durable_stale_temporary_files_removed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(durable_suite(), CK_FORK);
}
