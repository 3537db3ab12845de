/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exports of libtlsid.so.1 and libtlsid-nss.so.1: exactly their public headers'
 * functions, in their version nodes (LIBTLSID_1, LIBTLSID_NSS_1). */
#include <check.h>
#include <dlfcn.h>
#include <glib.h>
#include <string.h>

#include "check-main.h"

static char *source_path(const char *relative) {
        const char *top = g_getenv("TLSID_SOURCE_DIR");

        ck_assert_msg(top, "TLSID_SOURCE_DIR is not set");
        return g_build_filename(top, relative, NULL);
}

static char *read_source(const char *relative) {
        g_autofree char *path = source_path(relative);
        g_autoptr(GError) error = NULL;
        char *text = NULL;

        ck_assert_msg(g_file_get_contents(path, &text, NULL, &error), "%s: %s", path,
                      error ? error->message : "");
        return text;
}

/* Every "name;" line of the version script's global section. */
/* The two libraries: their version script, header, path (from the environment), version
 * node, and internals they are built from that must not leak. */
typedef struct {
        const char *sym;
        const char *header;
        const char *env;
        const char *node;
        guint min_functions;
        const char *const *internal;
} Library;

static const char *const libtlsid_internal[] = {
        "id_context_check", "id_origin_check", "id_identity_check",
        "error_code_to_errno", "error_code_from_dbus_name", "choice_state_from_string",
        "set_error", "client_call", "close_context", NULL,
};
/* (Its static functions cannot leak; the shared code it links in can.) */
static const char *const libtlsid_nss_internal[] = {
        "id_origin_check", "id_context_check", "id_identity_check",
        "error_code_to_errno", NULL,
};
static const Library libraries[] = {
        { "client-lib/libtlsid.sym", "include/tlsid/tlsid.h", "TLSID_LIBTLSID", "LIBTLSID_1",
          20, libtlsid_internal },
        { "client-lib/libtlsid-nss.sym", "include/tlsid/tlsid-nss.h", "TLSID_LIBTLSID_NSS",
          "LIBTLSID_NSS_1", 10, libtlsid_nss_internal },
};

static GPtrArray *symbols_in_version_script(const Library *lib) {
        g_autofree char *text = read_source(lib->sym);
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        gboolean global = FALSE;

        for (char **l = lines; *l; l++) {
                g_autofree char *line = g_strstrip(g_strdup(*l));

                if (g_str_equal(line, "global:"))
                        global = TRUE;
                else if (g_str_equal(line, "local:"))
                        global = FALSE;
                else if (global && g_str_has_suffix(line, ";"))
                        g_ptr_array_add(names, g_strndup(line, strlen(line) - 1));
        }
        return names;
}

/* Every function the public header declares: "tlsid_...(" at the start of a declaration. */
static GPtrArray *functions_in_header(const Library *lib) {
        g_autofree char *text = read_source(lib->header);
        g_autoptr(GRegex) re = g_regex_new("^[A-Za-z][A-Za-z0-9_ *]*[ *](tlsid_[a-z0-9_]+)\\(",
                                           G_REGEX_MULTILINE, 0, NULL);
        g_autoptr(GMatchInfo) match = NULL;
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

        ck_assert_ptr_nonnull(re);
        for (g_regex_match(re, text, 0, &match); g_match_info_matches(match);
             g_match_info_next(match, NULL))
                g_ptr_array_add(names, g_match_info_fetch(match, 1));
        return names;
}

static gboolean contains(GPtrArray *names, const char *name) {
        return g_ptr_array_find_with_equal_func(names, name, g_str_equal, NULL);
}

static void *open_library(const Library *lib) {
        const char *path = g_getenv(lib->env);
        void *handle;

        ck_assert_msg(path, "%s is not set", lib->env);
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        ck_assert_msg(handle, "dlopen: %s", dlerror());
        return handle;
}

START_TEST(test_exports_header_matches_version_script) {
        const Library *lib = &libraries[_i];
        g_autoptr(GPtrArray) header = functions_in_header(lib);
        g_autoptr(GPtrArray) script = symbols_in_version_script(lib);

        ck_assert_uint_ge(header->len, lib->min_functions);
        for (guint i = 0; i < header->len; i++)
                ck_assert_msg(contains(script, header->pdata[i]), "%s is declared in %s "
                              "but not exported by %s", (char *) header->pdata[i], lib->header,
                              lib->sym);
        for (guint i = 0; i < script->len; i++)
                ck_assert_msg(contains(header, script->pdata[i]), "%s is exported but not "
                              "declared in %s", (char *) script->pdata[i], lib->header);
}
END_TEST

START_TEST(test_exports_every_symbol_in_its_version_node) {
        const Library *lib = &libraries[_i];
        g_autoptr(GPtrArray) script = symbols_in_version_script(lib);
        void *handle = open_library(lib);

        for (guint i = 0; i < script->len; i++)
                ck_assert_msg(dlvsym(handle, script->pdata[i], lib->node),
                              "%s is not exported as %s", (char *) script->pdata[i], lib->node);
        dlclose(handle);
}
END_TEST

START_TEST(test_exports_nothing_else) {
        const Library *lib = &libraries[_i];
        void *handle = open_library(lib);

        for (size_t i = 0; lib->internal[i]; i++)
                ck_assert_msg(!dlsym(handle, lib->internal[i]), "%s leaks out of %s",
                              lib->internal[i], lib->sym);
        dlclose(handle);
}
END_TEST

static Suite *exports_suite(void) {
        Suite *s = suite_create("exports");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, test_exports_header_matches_version_script, 0,
                            G_N_ELEMENTS(libraries));
        tcase_add_loop_test(tc, test_exports_every_symbol_in_its_version_node, 0,
                            G_N_ELEMENTS(libraries));
        tcase_add_loop_test(tc, test_exports_nothing_else, 0, G_N_ELEMENTS(libraries));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(exports_suite(), CK_FORK_GETENV);
}
