/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A temporary directory per unit test: made in the fixture's setup, removed with all it
 * holds in its teardown. Header-only (GLib and Check). */
#pragma once

#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>

/* A new directory from @template ("name-XXXXXX"); the test fails when it cannot be made
 * (transfer full). */
static inline char *tmp_dir_make(const char *template) {
        char *dir = g_dir_make_tmp(template, NULL);

        ck_assert_ptr_nonnull(dir);
        return dir;
}

/* Removes @path and everything below it; accepts NULL. */
static inline void tmp_dir_remove(const char *path) {
        g_autoptr(GDir) dir = path ? g_dir_open(path, 0, NULL) : NULL;
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *child = g_build_filename(path, name, NULL);

                if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                        tmp_dir_remove(child);
                else
                        g_unlink(child);
        }
        if (path)
                g_rmdir(path);
}
