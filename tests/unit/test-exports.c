/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exports of libtlsid.so.1, libtlsid-nss.so.1 and libtlsid-openssl.so.1 (when built):
 * exactly their public headers' functions, in their version nodes (LIBTLSID_1,
 * LIBTLSID_NSS_1, LIBTLSID_OPENSSL_1), and nothing else in their dynamic symbol tables
 * (read from the ELF files). */
#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <glib.h>
#include <link.h>
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

/* The libraries: their version script, header, path (from the environment) and version
 * node; an optional one is not built without its dependency (its path is then unset). */
typedef struct {
        const char *sym;
        const char *header;
        const char *env;
        const char *node;
        guint min_functions;
        gboolean optional;
} Library;

static const Library libraries[] = {
        { "client-lib/libtlsid.sym", "include/tlsid/tlsid.h", "TLSID_LIBTLSID", "LIBTLSID_1",
          20 },
        { "client-lib/libtlsid-nss.sym", "include/tlsid/tlsid-nss.h", "TLSID_LIBTLSID_NSS",
          "LIBTLSID_NSS_1", 10 },
        { "client-lib/libtlsid-openssl.sym", "include/tlsid/tlsid-openssl.h",
          "TLSID_LIBTLSID_OPENSSL", "LIBTLSID_OPENSSL_1", 10, TRUE },
};

/* Every "name;" line of the version script's global section. */

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

static gboolean not_built(const Library *lib) {
        return lib->optional && !g_getenv(lib->env);
}

START_TEST(test_exports_header_matches_version_script) {
        const Library *lib = &libraries[_i];

        if (not_built(lib))
                return;
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

        if (not_built(lib))
                return;
        g_autoptr(GPtrArray) script = symbols_in_version_script(lib);
        void *handle = open_library(lib);

        for (guint i = 0; i < script->len; i++)
                ck_assert_msg(dlvsym(handle, script->pdata[i], lib->node),
                              "%s is not exported as %s", (char *) script->pdata[i], lib->node);
        dlclose(handle);
}
END_TEST

/* @size bytes at @offset lie inside the file of @len bytes. */
static gboolean in_file(gsize len, guint64 offset, guint64 size) {
        return offset <= len && size <= len - offset;
}

/* Every symbol the library at @lib->env defines in its dynamic symbol table (.dynsym) with
 * global, weak or unique binding, whatever its type, read from the ELF file itself, but
 * the definition of the version node (an absolute symbol named after it). */
static GPtrArray *defined_dynamic_symbols(const Library *lib) {
        const char *path = g_getenv(lib->env);
        g_autoptr(GError) error = NULL;
        g_autofree char *data = NULL;
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const ElfW(Ehdr) *eh;
        const ElfW(Shdr) *sh, *dynsym = NULL, *strtab;
        gsize len = 0;

        ck_assert_msg(path, "%s is not set", lib->env);
        ck_assert_msg(g_file_get_contents(path, &data, &len, &error), "%s: %s", path,
                      error ? error->message : "");
        ck_assert_msg(len >= sizeof *eh && memcmp(data, ELFMAG, SELFMAG) == 0,
                      "%s is not an ELF file", path);
        eh = (const ElfW(Ehdr) *) data;
        ck_assert_msg(eh->e_ident[EI_CLASS] == (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32),
                      "%s: not this machine's ELF class", path);
        ck_assert_msg(eh->e_shentsize == sizeof *sh &&
                      in_file(len, eh->e_shoff, (guint64) eh->e_shnum * sizeof *sh),
                      "%s: bad section header table", path);
        sh = (const ElfW(Shdr) *) (data + eh->e_shoff);
        for (guint i = 0; i < eh->e_shnum; i++)
                if (sh[i].sh_type == SHT_DYNSYM)
                        dynsym = &sh[i];
        ck_assert_msg(dynsym, "%s has no .dynsym", path);
        ck_assert_msg(dynsym->sh_entsize == sizeof(ElfW(Sym)) &&
                      in_file(len, dynsym->sh_offset, dynsym->sh_size) &&
                      dynsym->sh_link < eh->e_shnum, "%s: bad .dynsym", path);
        strtab = &sh[dynsym->sh_link];
        ck_assert_msg(strtab->sh_type == SHT_STRTAB && strtab->sh_size > 0 &&
                      in_file(len, strtab->sh_offset, strtab->sh_size) &&
                      data[strtab->sh_offset + strtab->sh_size - 1] == '\0',
                      "%s: bad .dynstr", path);

        for (guint64 i = 0; i < dynsym->sh_size / sizeof(ElfW(Sym)); i++) {
                const ElfW(Sym) *sym = (const ElfW(Sym) *) (data + dynsym->sh_offset) + i;
                int bind = ELF64_ST_BIND(sym->st_info); /* ELF32_ST_BIND is the same */
                const char *name;

                if (sym->st_shndx == SHN_UNDEF ||
                    (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE))
                        continue;
                ck_assert_msg(sym->st_name < strtab->sh_size, "%s: bad symbol name", path);
                name = data + strtab->sh_offset + sym->st_name;
                if (sym->st_shndx == SHN_ABS && g_str_equal(name, lib->node))
                        continue;
                g_ptr_array_add(names, g_strdup(name));
        }
        return names;
}

/* Nothing is exported but the version script's names: an internal function (or variable)
 * that lost its hidden visibility and its place in local: fails here by name. */
START_TEST(test_exports_nothing_else) {
        const Library *lib = &libraries[_i];

        if (not_built(lib))
                return;
        g_autoptr(GPtrArray) exported = defined_dynamic_symbols(lib);
        g_autoptr(GPtrArray) script = symbols_in_version_script(lib);

        for (guint i = 0; i < exported->len; i++)
                ck_assert_msg(contains(script, exported->pdata[i]), "%s leaks out of %s: it is "
                              "not in %s", (char *) exported->pdata[i], g_getenv(lib->env),
                              lib->sym);
}
END_TEST

/* The ELF reader above sees every export, so an empty reading cannot pass for "none". */
START_TEST(test_exports_dynamic_symbols_read) {
        const Library *lib = &libraries[_i];

        if (not_built(lib))
                return;
        g_autoptr(GPtrArray) exported = defined_dynamic_symbols(lib);
        g_autoptr(GPtrArray) script = symbols_in_version_script(lib);

        ck_assert_uint_ge(exported->len, lib->min_functions);
        for (guint i = 0; i < script->len; i++)
                ck_assert_msg(contains(exported, script->pdata[i]), "%s is not in the .dynsym "
                              "of %s", (char *) script->pdata[i], g_getenv(lib->env));
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
        tcase_add_loop_test(tc, test_exports_dynamic_symbols_read, 0, G_N_ELEMENTS(libraries));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(exports_suite(), CK_FORK_GETENV);
}
