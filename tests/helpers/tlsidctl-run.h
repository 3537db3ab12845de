/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running the built tlsidctl ($TLSIDCTL) against the test bus and reading what it
 * printed. Header-only (Check and test-bus.h). */
#pragma once

#include <check.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test-bus.h"

extern char **environ;

/* Runs tlsidctl with @args (NULL-terminated, at most 6) and returns its standard output;
 * it must exit 0 (transfer full). */
static inline char *tlsidctl_run(const char *const *args) {
        const char *path = getenv("TLSIDCTL");
        char *out_path = test_xasprintf("%s/tlsidctl.out", test_bus_tmpdir());
        const char *argv[8] = { "tlsidctl" };
        posix_spawn_file_actions_t actions;
        char *contents = NULL;
        size_t len = 0, n = 1;
        int status = 0;
        FILE *f;
        pid_t pid;

        ck_assert_msg(path && *path, "TLSIDCTL is not set");
        for (; args[n - 1]; n++) {
                ck_assert_uint_lt(n, 7);
                argv[n] = args[n - 1];
        }
        argv[n] = NULL;
        ck_assert_int_eq(posix_spawn_file_actions_init(&actions), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&actions, 1, out_path,
                                                          O_WRONLY | O_CREAT | O_TRUNC, 0600),
                         0);
        ck_assert_int_eq(posix_spawn(&pid, path, &actions, NULL, (char *const *) argv, environ),
                         0);
        posix_spawn_file_actions_destroy(&actions);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "tlsidctl %s exited with status 0x%x", args[0], status);
        f = fopen(out_path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(getdelim(&contents, &len, '\0', f), 0);
        fclose(f);
        free(out_path);
        return contents;
}
