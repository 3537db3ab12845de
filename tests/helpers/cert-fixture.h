/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test certificates made once per test program by tests/helpers/make-certs.sh. */
#pragma once

#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "certs.h"

static char *cert_fixture_dir;

/* Runs make-certs.sh into a new temporary directory; call in main() before the suite so
 * every test (forked or not) sees the same certificates. Exits on failure. */
static inline void cert_fixture_make(void) {
        const char *source = g_getenv("TLSID_SOURCE_DIR");
        g_autofree char *script = NULL;
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        const char *argv[4] = { "/bin/sh" };
        int status = 0;

        if (!source) {
                fprintf(stderr, "TLSID_SOURCE_DIR is not set\n");
                exit(1);
        }
        script = g_build_filename(source, "tests", "helpers", "make-certs.sh", NULL);
        cert_fixture_dir = g_dir_make_tmp("tlsid-certs-XXXXXX", &error);
        if (!cert_fixture_dir) {
                fprintf(stderr, "temporary directory: %s\n", error->message);
                exit(1);
        }
        argv[1] = script;
        argv[2] = cert_fixture_dir;
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                          &status, &error) ||
            !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "make-certs.sh failed: %s\n%s%s",
                        error ? error->message : "non-zero exit", out ? out : "", err ? err : "");
                exit(1);
        }
}

/* Removes the directory cert_fixture_make() made. */
static inline void cert_fixture_remove(void) {
        const char *argv[] = { "rm", "-rf", cert_fixture_dir, NULL };

        if (cert_fixture_dir)
                g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                             NULL, NULL, NULL);
        g_clear_pointer(&cert_fixture_dir, g_free);
}

/* The DER of certificate @name (make-certs.sh's NAME.der). */
static inline GBytes *cert_fixture_der(const char *name) {
        g_autofree char *file = g_strconcat(name, ".der", NULL);
        g_autofree char *path = g_build_filename(cert_fixture_dir, file, NULL);
        g_autoptr(GError) error = NULL;
        GMappedFile *mapped = g_mapped_file_new(path, FALSE, &error);
        GBytes *bytes;

        ck_assert_msg(mapped, "%s: %s", path, error ? error->message : "?");
        bytes = g_mapped_file_get_bytes(mapped);
        g_mapped_file_unref(mapped);
        return bytes;
}

/* Parses certificate @name with @chain, a space-separated list of names (nullable). */
static inline Candidate *cert_fixture_candidate(CertDb *db, const char *name,
                                                const char *chain) {
        g_autoptr(GBytes) leaf = cert_fixture_der(name);
        g_autoptr(GPtrArray) ders = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        g_auto(GStrv) names = g_strsplit(chain ? chain : "", " ", -1);
        g_autoptr(GError) error = NULL;
        Candidate *candidate;

        for (guint i = 0; names[i]; i++) {
                if (*names[i])
                        g_ptr_array_add(ders, cert_fixture_der(names[i]));
        }
        candidate = cert_db_parse_candidate(db, leaf, ders, name, &error);
        ck_assert_msg(candidate, "%s: %s", name, error ? error->message : "?");
        return candidate;
}

/* The SHA-256 of certificate @name, lower-case hex (transfer full). */
static inline char *cert_fixture_identity(const char *name) {
        g_autoptr(GBytes) der = cert_fixture_der(name);

        return g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, der);
}
