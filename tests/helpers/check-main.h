/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main() body shared by every Check test program. */
#pragma once

#include <check.h>

/* Runs every test of @suite (transfer full) and returns the process's exit status: 0 when
 * all passed, 1 otherwise. @fork_mode is CK_FORK for programs whose tests must each run in a
 * child of their own whatever $CK_FORK says (a private bus per test), or CK_FORK_GETENV
 * for Check's default: fork unless $CK_FORK is "no". */
static inline int test_run_suite(Suite *suite, enum fork_status fork_mode) {
        SRunner *runner = srunner_create(suite);
        int failed;

        srunner_set_fork_status(runner, fork_mode);
        srunner_run_all(runner, CK_NORMAL);
        failed = srunner_ntests_failed(runner);
        srunner_free(runner);
        return failed == 0 ? 0 : 1;
}
