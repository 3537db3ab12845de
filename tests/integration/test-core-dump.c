/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration test: a core dump of tlsidd holding a token and the token key has neither
 * in the daemon's own memory.
 *
 * tlsidd is not dumpable (it crashes without a core), so the dump is made the way a core
 * dump of a dumpable process would be: gdb's gcore, which follows the kernel's rules
 * (/proc/PID/coredump_filter, and mappings marked MADV_DONTDUMP are left out). Attaching
 * to a non-dumpable process needs CAP_SYS_PTRACE; without it, or without gcore, the test
 * is skipped (exit status 77).
 *
 * libdbus keeps copies of its own that the daemon cannot reach: the bytes of a received
 * call stay in the connection's socket read buffer until later input overwrites them, and
 * a sent reply's body stays in a freed buffer or libdbus's message cache. So each secret
 * may appear once in the core, never more: the store's copy, the call's body and the
 * token key's own memory must not be there. */
#include <check.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asan.h"
#include "check-main.h"
#include "raw-bus.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000
#define CONTEXT "core/ctx"
#define ORIGIN "core.example:443"
#define TOKEN_LEN 1024
/* The bytes searched for: long enough never to occur by chance. */
#define NEEDLE_LEN 48

static DBusMessage *call(DBusConnection *conn, DBusMessage *m) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                       &error);

        ck_assert_msg(reply, "%s: %s", dbus_message_get_member(m), error.message);
        dbus_message_unref(m);
        return reply;
}

static void put_token(DBusConnection *conn, const guint8 *token, size_t len) {
        DBusMessage *m = test_bus_method("GetPartition"), *reply;
        const char *context = CONTEXT, *origin = ORIGIN, *identity = "", *state, *peer;
        dbus_uint32_t gen = 0;
        dbus_int64_t expires = (dbus_int64_t) time(NULL) + 3600;
        DBusMessageIter it, dict;

        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_INVALID);
        reply = call(conn, m);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state, DBUS_TYPE_STRING,
                                        &identity, DBUS_TYPE_UINT32, &gen, DBUS_TYPE_STRING,
                                        &peer, DBUS_TYPE_INVALID));
        identity = "";
        dbus_message_unref(reply);

        m = test_bus_method("PutSession");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                 DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32, &gen,
                                 DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &token, (int) len,
                                 DBUS_TYPE_INT64, &expires, DBUS_TYPE_INVALID);
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dbus_message_iter_close_container(&it, &dict);
        dbus_message_unref(call(conn, m));
}

/* How often @needle occurs in the file @path. */
static guint count_in_file(const char *path, const guint8 *needle, gsize len) {
        g_autoptr(GMappedFile) file = g_mapped_file_new(path, FALSE, NULL);
        const guint8 *data, *end, *p;
        guint n = 0;

        ck_assert_msg(file, "cannot read %s", path);
        data = (const guint8 *) g_mapped_file_get_contents(file);
        end = data + g_mapped_file_get_length(file);
        for (p = data; p && p + len <= end; p++) {
                p = memchr(p, needle[0], (size_t) (end - p));
                if (!p || p + len > end)
                        break;
                if (memcmp(p, needle, len) == 0)
                        n++;
        }
        return n;
}

START_TEST(test_core_dump_has_no_secrets) {
        DBusConnection *conn;
        guint8 token[TOKEN_LEN];
        const guint8 *key = NULL;
        guint8 key_copy[64];
        int key_len = 0;
        DBusMessage *m, *reply;
        const char *context = CONTEXT;
        DBusMessageIter it, dict;
        g_autofree char *prefix = NULL, *core = NULL, *pid_text = NULL, *out = NULL,
                        *err = NULL;
        g_autoptr(GError) error = NULL;
        GRand *rand = g_rand_new_with_seed(0x7115d);
        int status = -1;
        pid_t pid;
        guint token_copies, key_copies;

        for (gsize i = 0; i < sizeof(token); i++)
                token[i] = (guint8) g_rand_int(rand);
        g_rand_free(rand);

        test_bus_start();
        conn = test_bus_connect();
        m = test_bus_method("OpenContext");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_INVALID);
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dbus_message_iter_close_container(&it, &dict);
        dbus_message_unref(call(conn, m));
        put_token(conn, token, sizeof(token));
        reply = call(conn, test_bus_method("GetTokenKey"));
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &key,
                                        &key_len, DBUS_TYPE_INVALID));
        ck_assert_int_ge(key_len, 16);
        ck_assert_int_le(key_len, (int) sizeof(key_copy));
        memcpy(key_copy, key, (size_t) key_len);
        dbus_message_unref(reply);
        {
                uint64_t tokens = 0;

                reply = call(conn, test_bus_method("GetStatistics"));
                ck_assert(raw_bus_statistic(reply, "tokens", &tokens));
                ck_assert_uint_eq(tokens, 1);
                dbus_message_unref(reply);
        }

        pid = test_bus_daemon_pid();
        ck_assert_int_gt(pid, 0);
        prefix = g_build_filename(test_bus_tmpdir(), "core", NULL);
        pid_text = g_strdup_printf("%ld", (long) pid);
        {
                const char *argv[] = { "gcore", "-o", prefix, pid_text, NULL };

                ck_assert_msg(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH,
                                           NULL, NULL, &out, &err, &status, &error),
                              "gcore: %s", error ? error->message : "");
        }
        core = g_strdup_printf("%s.%ld", prefix, (long) pid);
        ck_assert_msg(g_file_test(core, G_FILE_TEST_EXISTS), "gcore made no %s: %s%s", core,
                      out, err);
        /* Still serving after being dumped. */
        dbus_message_unref(call(conn, test_bus_method("GetStatistics")));

        token_copies = count_in_file(core, token + 100, NEEDLE_LEN);
        key_copies = count_in_file(core, key_copy, (gsize) key_len);
        printf("core of tlsidd %ld: the token %u time(s), the token key %u time(s)\n",
               (long) pid, token_copies, key_copies);
        fflush(stdout);
        ck_assert_msg(token_copies <= 1, "the token is in the core %u times", token_copies);
        ck_assert_msg(key_copies <= 1, "the token key is in the core %u times", key_copies);
        /* The search itself works: the core holds the daemon's memory. */
        ck_assert_uint_gt(count_in_file(core, (const guint8 *) "org.tlsid.Manager1", 18), 0);

        unlink(core);
        test_bus_disconnect(conn);
        test_bus_stop();
}
END_TEST

/* Whether this process has CAP_SYS_PTRACE (bit 19 of CapEff). */
static gboolean have_cap_sys_ptrace(void) {
        g_autofree char *status = NULL;
        const char *line;
        guint64 caps;

        if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) ||
            !(line = strstr(status, "\nCapEff:")))
                return FALSE;
        caps = g_ascii_strtoull(line + strlen("\nCapEff:"), NULL, 16);
        return (caps >> 19) & 1;
}

/* gcore can attach to the non-dumpable daemon only with CAP_SYS_PTRACE. */
static gboolean can_dump(void) {
        g_autofree char *gcore = g_find_program_in_path("gcore");

        if (!gcore) {
                fprintf(stderr, "skipped: no gcore (gdb) in PATH\n");
                return FALSE;
        }
        if (!have_cap_sys_ptrace()) {
                fprintf(stderr, "skipped: attaching to the non-dumpable tlsidd needs "
                                "CAP_SYS_PTRACE\n");
                return FALSE;
        }
        return TRUE;
}

static Suite *core_dump_suite(void) {
        Suite *s = suite_create("core-dump");
        TCase *tc = tcase_create("core-dump");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_core_dump_has_no_secrets);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
#ifdef HAVE_ASAN
        /* gdb walks every mapping of an ASan process, its terabytes of shadow included, and
         * took over 7 minutes here; the daemon's memory layout is checked by the normal
         * build's run. */
        puts("skipped: gcore of a sanitized daemon");
        return 77;
#endif
        if (!can_dump())
                return 77;
        return test_run_suite(core_dump_suite(), CK_FORK_GETENV);
}
