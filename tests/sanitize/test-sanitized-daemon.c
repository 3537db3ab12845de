/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sanitized run's check of itself (built only with -Db_sanitize=address...): the
 * tlsidd that the test bus activates is the sanitized build, and the sanitizer options in
 * the environment reach it through dbus-daemon, so its reports land where
 * run-sanitized.sh looks for them (log_path), not on dbus-daemon's stderr. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-main.h"
#include "test-bus.h"

/* What ASan writes at its start with verbosity=1. */
#define ASAN_STARTED "AddressSanitizer Init done"

/* The contents of @path, or NULL when it cannot be read (transfer full). */
static char *read_file(const char *path) {
        char *contents = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        if (getdelim(&contents, &len, '\0', f) < 0) {
                free(contents);
                contents = NULL;
        }
        fclose(f);
        return contents;
}

/* @options (the run's own, or none) with the reports of every later process sent to
 * @log_path, and ASan's start-up lines written there too (transfer full). */
static char *options_logging_to(const char *options, const char *log_path) {
        return test_xasprintf("%s%slog_path=%s:verbosity=1", options ? options : "",
                              options && *options ? ":" : "", log_path);
}

START_TEST(test_sanitized_daemon_is_sanitized_and_reports_to_log_path) {
        char dir[] = "/tmp/tlsid-sanitized-XXXXXX";
        char *prefix, *asan, *ubsan, *log, *contents, *rm;
        pid_t pid;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        prefix = test_xasprintf("%s/report", dir);
        /* Both: with clang's combined runtime, UBSAN_OPTIONS's log_path applies too. */
        asan = options_logging_to(getenv("ASAN_OPTIONS"), prefix);
        ubsan = options_logging_to(getenv("UBSAN_OPTIONS"), prefix);
        /* This process parsed its options at its start; dbus-daemon and what it
         * activates take these. */
        setenv("ASAN_OPTIONS", asan, 1);
        setenv("UBSAN_OPTIONS", ubsan, 1);

        test_bus_start();
        test_bus_activate_daemon();
        pid = test_bus_daemon_pid();
        ck_assert_int_gt(pid, 0);
        log = test_xasprintf("%s.%d", prefix, (int) pid);
        contents = read_file(log);
        ck_assert_msg(contents, "the activated tlsidd (pid %d) wrote no %s: not the sanitized "
                      "build, or it did not get ASAN_OPTIONS", (int) pid, log);
        ck_assert_msg(strstr(contents, ASAN_STARTED), "%s lacks \"%s\": %s", log,
                      ASAN_STARTED, contents);
        free(contents);

        /* Its exit (SIGTERM, then LeakSanitizer) is reported there too, without an error. */
        test_bus_stop();
        contents = read_file(log);
        ck_assert_ptr_nonnull(contents);
        ck_assert_msg(!strstr(contents, "ERROR:"), "tlsidd reported: %s", contents);
        free(contents);

        free(log);
        free(ubsan);
        free(asan);
        free(prefix);
        rm = test_xasprintf("rm -rf '%s'", dir);
        ck_assert_int_eq(system(rm), 0);
        free(rm);
}
END_TEST

static Suite *sanitized_suite(void) {
        Suite *s = suite_create("sanitized-daemon");
        TCase *tc = tcase_create("sanitized-daemon");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_sanitized_daemon_is_sanitized_and_reports_to_log_path);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(sanitized_suite(), CK_FORK);
}
