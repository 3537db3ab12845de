/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of tlsidd.conf loading (daemon/model/config.c). */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-main.h"
#include "config.h"
#include "tmp-dir.h"

static char *tmpdir;

static void setup(void) {
        tmpdir = tmp_dir_make("tlsid-config-XXXXXX");
}

static void teardown(void) {
        tmp_dir_remove(tmpdir);
        g_clear_pointer(&tmpdir, g_free);
}

/* Writes @text to tlsidd.conf in the temporary directory; returns its path. */
static char *write_conf(const char *text) {
        char *path = g_build_filename(tmpdir, "tlsidd.conf", NULL);

        ck_assert(g_file_set_contents(path, text, -1, NULL));
        return path;
}

static void assert_defaults(const TlsidConfig *c) {
        ck_assert_uint_eq(c->limits.max_contexts, 4096);
        ck_assert_uint_eq(c->limits.max_origins_per_context, 4096);
        ck_assert_uint_eq(c->limits.max_tokens_per_partition, 4);
        ck_assert_uint_eq(c->limits.max_token_bytes, 32u * 1024 * 1024);
        ck_assert_uint_eq(c->limits.max_holders_per_context, 64);
        ck_assert_uint_eq(c->limits.max_remembered, 65536);
        ck_assert_uint_eq(c->max_pending_per_sender, 64);
        ck_assert_uint_eq(c->max_senders, 1024);
}

/* Asserts @warnings holds exactly @expected, in order. */
static void assert_warnings(GPtrArray *warnings, const char *const *expected) {
        guint n = g_strv_length((char **) expected);

        ck_assert_ptr_nonnull(warnings);
        for (guint i = 0; i < warnings->len && i < n; i++)
                ck_assert_str_eq(warnings->pdata[i], expected[i]);
        ck_assert_uint_eq(warnings->len, n);
}

START_TEST(test_config_defaults) {
        TlsidConfig c;

        memset(&c, 0xab, sizeof c);
        config_init(&c);
        assert_defaults(&c);
}
END_TEST

START_TEST(test_config_missing_file) {
        g_autofree char *path = g_build_filename(tmpdir, "absent.conf", NULL);
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        ck_assert(config_load(&c, path, &warnings, &error));
        ck_assert_ptr_null(warnings);
        assert_defaults(&c);
}
END_TEST

START_TEST(test_config_values) {
        g_autofree char *path = write_conf("# comment\n"
                                           "[limits]\n"
                                           "max_contexts = 10\n"
                                           "max_origins_per_context=20\n"
                                           "max_tokens_per_partition=64\n"
                                           "max_token_bytes=1G\n"
                                           "max_holders_per_context=2\n"
                                           "max_remembered=0\n"
                                           "[daemon]\n"
                                           "max_pending_per_sender=3\n"
                                           "max_senders=5\n");
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        ck_assert(config_load(&c, path, &warnings, &error));
        ck_assert_ptr_null(warnings);
        ck_assert_uint_eq(c.limits.max_contexts, 10);
        ck_assert_uint_eq(c.limits.max_origins_per_context, 20);
        ck_assert_uint_eq(c.limits.max_tokens_per_partition, 64);
        ck_assert_uint_eq(c.limits.max_token_bytes, 1024u * 1024 * 1024);
        ck_assert_uint_eq(c.limits.max_holders_per_context, 2);
        ck_assert_uint_eq(c.limits.max_remembered, 0);
        ck_assert_uint_eq(c.max_pending_per_sender, 3);
        ck_assert_uint_eq(c.max_senders, 5);
}
END_TEST

START_TEST(test_config_size_suffixes) {
        static const struct {
                const char *text;
                guint64 bytes;
        } cases[] = {
                { "65536", 65536 },
                { "64K", 65536 },
                { "64k", 65536 },
                { "32M", 32u * 1024 * 1024 },
                { "7m", 7u * 1024 * 1024 },
                { "4G", G_GUINT64_CONSTANT(4) * 1024 * 1024 * 1024 },
                { " 100K ", 100 * 1024 },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *text = g_strdup_printf("[limits]\nmax_token_bytes=%s\n",
                                                        cases[i].text);
                g_autofree char *path = write_conf(text);
                g_autoptr(GPtrArray) warnings = NULL;
                g_autoptr(GError) error = NULL;
                TlsidConfig c;

                ck_assert(config_load(&c, path, &warnings, &error));
                ck_assert_msg(warnings == NULL, "%s: %s", cases[i].text,
                              warnings ? (char *) warnings->pdata[0] : "");
                ck_assert_uint_eq(c.limits.max_token_bytes, cases[i].bytes);
        }
}
END_TEST

START_TEST(test_config_bad_values_keep_defaults) {
        g_autofree char *path = write_conf("[limits]\n"
                                           "max_contexts=abc\n"
                                           "max_origins_per_context=0\n"
                                           "max_tokens_per_partition=65\n"
                                           "max_token_bytes=1K\n"
                                           "max_holders_per_context=-1\n"
                                           "max_remembered=99999999999999999999999\n"
                                           "colour=blue\n"
                                           "[daemon]\n"
                                           "max_pending_per_sender=12X\n"
                                           "max_senders=\n"
                                           "[extra]\n"
                                           "x=1\n");
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;
        const char *const expected[] = {
                "tlsidd.conf: [limits] max_contexts: \"abc\" is not a number; using 4096",
                "tlsidd.conf: [limits] max_origins_per_context: \"0\" is out of range "
                "1..1048576; using 4096",
                "tlsidd.conf: [limits] max_tokens_per_partition: \"65\" is out of range 1..64; "
                "using 4",
                "tlsidd.conf: [limits] max_token_bytes: \"1K\" is out of range 64K..4G; using "
                "32M",
                "tlsidd.conf: [limits] max_holders_per_context: \"-1\" is not a number; using 64",
                "tlsidd.conf: [limits] max_remembered: \"99999999999999999999999\" is out of "
                "range 0..1048576; using 65536",
                "tlsidd.conf: [limits] colour: unknown key; ignored",
                "tlsidd.conf: [daemon] max_pending_per_sender: \"12X\" is not a number; using 64",
                "tlsidd.conf: [daemon] max_senders: \"\" is not a number; using 1024",
                "tlsidd.conf: [extra]: unknown group; ignored",
                NULL,
        };

        ck_assert(config_load(&c, path, &warnings, &error));
        assert_warnings(warnings, expected);
        assert_defaults(&c);
}
END_TEST

START_TEST(test_config_size_overflow) {
        g_autofree char *path = write_conf("[limits]\nmax_token_bytes=99999999999G\n");
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;
        const char *const expected[] = {
                "tlsidd.conf: [limits] max_token_bytes: \"99999999999G\" is out of range "
                "64K..4G; using 32M",
                NULL,
        };

        ck_assert(config_load(&c, path, &warnings, &error));
        assert_warnings(warnings, expected);
        ck_assert_uint_eq(c.limits.max_token_bytes, 32u * 1024 * 1024);
}
END_TEST

START_TEST(test_config_control_characters_escaped) {
        g_autofree char *path = write_conf("[limits]\nmax_contexts=a\\tb\n");
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        ck_assert(config_load(&c, path, &warnings, &error));
        ck_assert_ptr_nonnull(warnings);
        ck_assert_uint_eq(warnings->len, 1);
        ck_assert_ptr_null(strchr(warnings->pdata[0], '\t'));
}
END_TEST

START_TEST(test_config_not_a_key_file) {
        g_autofree char *path = write_conf("this is not\na key file\n");
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        memset(&c, 0, sizeof c);
        ck_assert(!config_load(&c, path, &warnings, &error));
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_nonnull(strstr(error->message, path));
        ck_assert_ptr_null(warnings);
        assert_defaults(&c);
}
END_TEST

/* A file past the cap is refused unread: even its valid settings are not taken. */
START_TEST(test_config_too_large_not_read) {
        g_autoptr(GString) text = g_string_new("[limits]\nmax_contexts=5\n");
        g_autofree char *path = NULL;
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        while (text->len <= 64 * 1024)
                g_string_append(text, "# a comment that pads the file past its size cap\n");
        path = write_conf(text->str);
        memset(&c, 0, sizeof c);
        ck_assert(!config_load(&c, path, &warnings, &error));
        ck_assert_ptr_nonnull(strstr(error->message, path));
        ck_assert_ptr_nonnull(strstr(error->message, "larger than 65536 bytes"));
        ck_assert_ptr_null(warnings);
        assert_defaults(&c);
}
END_TEST

/* A FIFO where the file should be is an error at once, not a daemon blocked in open(). */
START_TEST(test_config_fifo_is_not_read) {
        g_autofree char *path = g_build_filename(tmpdir, "tlsidd.conf", NULL);
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        ck_assert_int_eq(mkfifo(path, 0600), 0);
        alarm(10); /* before the fix, open() blocked here for good */
        ck_assert(!config_load(&c, path, NULL, &error));
        alarm(0);
        ck_assert_ptr_nonnull(strstr(error->message, "not a regular file"));
        assert_defaults(&c);
}
END_TEST

START_TEST(test_config_nss_db) {
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        /* The default: empty, main() then asks cert_db_default_dir(). */
        config_init(&c);
        ck_assert_str_eq(c.nss_db, "");

        g_autofree char *path = write_conf("[certificates]\nnss_db = sql:/srv/nssdb\n");
        ck_assert(config_load(&c, path, &warnings, &error));
        ck_assert_ptr_null(warnings);
        ck_assert_str_eq(c.nss_db, "sql:/srv/nssdb");

        g_free(path);
        path = write_conf("[certificates]\nnss_db=none\n");
        ck_assert(config_load(&c, path, &warnings, &error));
        ck_assert_ptr_null(warnings);
        ck_assert_str_eq(c.nss_db, "none");

        g_free(path);
        path = write_conf("[certificates]\nnss_db=/srv/nssdb\n");
        ck_assert(config_load(&c, path, &warnings, &error));
        assert_warnings(warnings, (const char *const[]) {
                "tlsidd.conf: [certificates] nss_db: \"/srv/nssdb\": must be \"none\" or "
                "\"sql:\" and an absolute directory; using the default",
                NULL,
        });
        ck_assert_str_eq(c.nss_db, "");
        g_clear_pointer(&warnings, g_ptr_array_unref);

        g_free(path);
        path = write_conf("[certificates]\nnss_db=sql:nssdb\ncolour=blue\n");
        ck_assert(config_load(&c, path, &warnings, &error));
        assert_warnings(warnings, (const char *const[]) {
                "tlsidd.conf: [certificates] nss_db: \"sql:nssdb\": the directory after "
                "\"sql:\" must be absolute; using the default",
                "tlsidd.conf: [certificates] colour: unknown key; ignored",
                NULL,
        });
        ck_assert_str_eq(c.nss_db, "");
}
END_TEST

START_TEST(test_config_describe) {
        g_autofree char *text = config_describe();
        const char *keys[] = {
                "[limits]", "[daemon]", "max_contexts", "max_origins_per_context",
                "max_tokens_per_partition", "max_token_bytes", "max_holders_per_context",
                "max_remembered", "max_pending_per_sender", "max_senders",
                "1..64, default 4", "64K..4G, default 32M", "default 4096", "tlsidd.conf",
                "[certificates]", "nss_db", "sql:$HOME/.pki/nssdb",
        };

        for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
                ck_assert_msg(strstr(text, keys[i]) != NULL, "no \"%s\" in:\n%s", keys[i], text);
}
END_TEST

START_TEST(test_config_example_file) {
        g_autofree char *path = g_build_filename(g_getenv("TLSID_SOURCE_DIR"), "docs",
                                                 "examples", "tlsidd.conf", NULL);
        g_autofree char *text = NULL, *described = config_describe();
        g_auto(GStrv) lines = g_strsplit(described, "\n", -1);
        g_autoptr(GPtrArray) warnings = NULL;
        g_autoptr(GError) error = NULL;
        TlsidConfig c;

        /* The installed example is the defaults, spelled out: it loads without a warning. */
        ck_assert(config_load(&c, path, &warnings, &error));
        ck_assert_msg(!warnings, "%s", warnings ? (char *) warnings->pdata[0] : "");
        assert_defaults(&c);
        ck_assert_str_eq(c.nss_db, "");
        /* And it names every setting `tlsidd --help` describes. */
        ck_assert(g_file_get_contents(path, &text, NULL, NULL));
        for (char **line = lines; *line; line++) {
                g_autofree char *key = NULL, *set = NULL, *commented = NULL;

                if (strncmp(*line, "  ", 2) != 0 || !g_ascii_islower((*line)[2]))
                        continue;
                key = g_strndup(*line + 2, strcspn(*line + 2, " "));
                if (!strchr(key, '_'))
                        continue;
                set = g_strconcat("\n", key, "=", NULL);
                commented = g_strconcat("\n#", key, "=", NULL);
                ck_assert_msg(strstr(text, set) || strstr(text, commented),
                              "%s does not mention %s", path, key);
        }
}
END_TEST

START_TEST(test_config_default_path) {
        g_autofree char *path = config_default_path();
        g_autofree char *expected = g_build_filename(g_get_user_config_dir(), "tlsid",
                                                     "tlsidd.conf", NULL);

        ck_assert_str_eq(path, expected);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("config");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_config_defaults);
        tcase_add_test(tc, test_config_missing_file);
        tcase_add_test(tc, test_config_values);
        tcase_add_test(tc, test_config_size_suffixes);
        tcase_add_test(tc, test_config_bad_values_keep_defaults);
        tcase_add_test(tc, test_config_size_overflow);
        tcase_add_test(tc, test_config_control_characters_escaped);
        tcase_add_test(tc, test_config_not_a_key_file);
        tcase_add_test(tc, test_config_too_large_not_read);
        tcase_add_test(tc, test_config_fifo_is_not_read);
        tcase_add_test(tc, test_config_nss_db);
        tcase_add_test(tc, test_config_describe);
        tcase_add_test(tc, test_config_example_file);
        tcase_add_test(tc, test_config_default_path);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(config_suite(), CK_FORK_GETENV);
}
