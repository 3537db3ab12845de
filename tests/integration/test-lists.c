/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: lists whose whole reply would pass the bus's message size limit,
 * read through libtlsid, tlsidctl and ListContexts/ListSessions pages, with the daemon
 * still there and holding all its state afterwards. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tlsid/tlsid.h>

#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tlsidctl-run.h"
#include "tlsid-limits.h"

/* The test bus refuses larger messages, so a small store reaches the bound. */
#define MAX_MESSAGE (512 * 1024)
#define N_CONTEXTS 10
#define N_ORIGINS 1000 /* per context: 10,000 partitions */
#define N_LABELLED 2000 /* contexts with the longest labels */

static void setup(void) {
        test_bus_start_with_max_message_size(MAX_MESSAGE);
}

static void teardown(void) {
        test_bus_stop();
}

/* Names that sort as their numbers do (transfer full). */
static char *context_name(unsigned i) {
        return test_xasprintf("lists/ctx-%04u", i);
}

static char *origin_name(unsigned j) {
        return test_xasprintf("host-%04u.example.com:443", j);
}

/* A label of TLSID_LABEL_MAX bytes, without spaces (transfer full). */
static char *label_of(unsigned i) {
        char *label = malloc(TLSID_LABEL_MAX + 1);

        ck_assert_ptr_nonnull(label);
        memset(label, 'x', TLSID_LABEL_MAX);
        label[TLSID_LABEL_MAX] = '\0';
        memcpy(label, "label-", 6);
        memcpy(label + 6, "0000", 4);
        for (int k = 9; k >= 6; k--, i /= 10)
                label[k] = (char) ('0' + i % 10);
        return label;
}

/* The bytes an unpaged list reply's strings and numbers take at the least (no padding,
 * no header): what must pass MAX_MESSAGE for the test to mean anything. */
#define WIRE_STRING_MIN(s) (4 + strlen(s) + 1)

static uint64_t statistic(TlsidClient *client, const char *what) {
        TlsidStatistics s;

        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        return strcmp(what, "partitions") == 0 ? s.partitions
                : strcmp(what, "tokens") == 0  ? s.tokens
                                               : s.contexts;
}

/* N_CONTEXTS contexts of N_ORIGINS partitions, each with one token, stored without
 * waiting for replies (the fastest way in). */
static void fill_partitions(TlsidClient *client) {
        size_t unpaged = 0;

        for (unsigned i = 0; i < N_CONTEXTS; i++) {
                char *name = context_name(i);
                TlsidContext *ctx = NULL;
                uint32_t generation;

                ASSERT_OK(tlsid_context_open(client, name, 0, NULL, &ctx));
                /* Every origin without an entry starts at the context's base generation. */
                ASSERT_OK(tlsid_context_get_partition(ctx, "unseen.example:443", NULL, NULL,
                                                      &generation, NULL));
                for (unsigned j = 0; j < N_ORIGINS; j++) {
                        char *origin = origin_name(j);

                        ASSERT_OK(tlsid_context_put_session(ctx, origin, "", generation, "t", 1,
                                                            time(NULL) + 3600, 0x0304, NULL));
                        unpaged += WIRE_STRING_MIN(name) + WIRE_STRING_MIN(origin) +
                                   WIRE_STRING_MIN("") + 4 + 4 + 8 + 8;
                        free(origin);
                }
                tlsid_context_unref(ctx);
                free(name);
        }
        ck_assert_msg(unpaged > MAX_MESSAGE, "an unpaged reply (%zu bytes) would fit", unpaged);
        /* A call with a reply comes after every put on the same connection. */
        ck_assert_uint_eq(statistic(client, "partitions"), N_CONTEXTS * N_ORIGINS);
}

/* N_LABELLED contexts with labels of the largest size. */
static void fill_contexts(TlsidClient *client) {
        size_t unpaged = 0;

        for (unsigned i = 0; i < N_LABELLED; i++) {
                char *name = context_name(i);
                char *label = label_of(i);
                TlsidContext *ctx = NULL;

                ASSERT_OK(tlsid_context_open(client, name, 0, label, &ctx));
                /* The id, the label and the keys and smallest values of the dictionary. */
                unpaged += WIRE_STRING_MIN(name) + WIRE_STRING_MIN(label) +
                           WIRE_STRING_MIN("label") + WIRE_STRING_MIN("ephemeral") + 4 +
                           WIRE_STRING_MIN("partitions") + 4 + WIRE_STRING_MIN("tokens") + 4 +
                           WIRE_STRING_MIN("bytes") + 8 + WIRE_STRING_MIN("choices") + 4;
                tlsid_context_unref(ctx);
                free(label);
                free(name);
        }
        ck_assert_msg(unpaged > MAX_MESSAGE, "an unpaged reply (%zu bytes) would fit", unpaged);
        ck_assert_uint_eq(statistic(client, "contexts"), N_LABELLED);
}

/* Checks that the lines of @table start with the columns @want(0), @want(1)... in order,
 * @n lines in all, and frees @table. */
static void assert_table(char *table, size_t n, char *(*want)(size_t i, char **second)) {
        char *save = NULL;
        size_t i = 0;

        for (char *line = strtok_r(table, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save), i++) {
                char *second = NULL;
                char *first = want(i, &second);
                char *expected = test_xasprintf("%s %s", first, second);
                char got[768];
                char col1[256], col2[384];

                ck_assert_uint_lt(i, n);
                ck_assert_int_eq(sscanf(line, "%255s %383s", col1, col2), 2);
                snprintf(got, sizeof(got), "%s %s", col1, col2);
                ck_assert_str_eq(got, expected);
                free(expected);
                free(first);
                free(second);
        }
        ck_assert_uint_eq(i, n);
        free(table);
}

static char *want_session(size_t i, char **second) {
        *second = origin_name((unsigned) (i % N_ORIGINS));
        return context_name((unsigned) (i / N_ORIGINS));
}

static char *want_context(size_t i, char **second) {
        *second = label_of((unsigned) i);
        return context_name((unsigned) i);
}

/* --- pages on the wire --- */

/* Walks ListSessions(@context) or, with @context NULL, ListContexts page by page with
 * the largest pages, and checks every reply: its size on the wire within the byte budget
 * (with room for the header, the cursor and the total), its total, and that the pages
 * hold @want entries together. Returns whether a page ended before TLSID_LIST_PAGE_MAX
 * entries yet was not the last (the byte budget cut it). */
static bool walk_raw_pages(const char *context, unsigned want) {
        DBusConnection *conn = test_bus_connect();
        char *cursor = strdup("");
        unsigned entries = 0, pages = 0;
        bool cut_by_bytes = false;

        while (cursor) {
                const char *method = context ? "ListSessions" : "ListContexts";
                DBusMessage *call = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                                 TEST_BUS_INTERFACE, method);
                DBusError error = DBUS_ERROR_INIT;
                DBusMessageIter it, array;
                dbus_uint32_t limit = 0, total = 0;
                const char *next;
                unsigned n = 0;
                char *wire = NULL;
                int wire_len = 0;
                DBusMessage *reply;

                if (context)
                        dbus_message_append_args(call, DBUS_TYPE_STRING, &context,
                                                 DBUS_TYPE_INVALID);
                dbus_message_append_args(call, DBUS_TYPE_STRING, &cursor, DBUS_TYPE_UINT32,
                                         &limit, DBUS_TYPE_INVALID);
                reply = dbus_connection_send_with_reply_and_block(conn, call, 10000, &error);
                dbus_message_unref(call);
                ck_assert_msg(reply, "%s page %u: %s", method, pages, error.message);
                ck_assert(dbus_message_marshal(reply, &wire, &wire_len));
                ck_assert_int_le(wire_len, TLSID_LIST_PAGE_BYTES + 1024);
                dbus_free(wire);

                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &array);
                for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRUCT;
                     dbus_message_iter_next(&array))
                        n++;
                dbus_message_iter_next(&it);
                dbus_message_iter_get_basic(&it, &next);
                dbus_message_iter_next(&it);
                dbus_message_iter_get_basic(&it, &total);
                ck_assert_uint_eq(total, want);
                ck_assert_uint_le(n, TLSID_LIST_PAGE_MAX);
                if (*next && n < TLSID_LIST_PAGE_MAX)
                        cut_by_bytes = true;
                entries += n;
                pages++;
                free(cursor);
                cursor = *next ? strdup(next) : NULL;
                dbus_message_unref(reply);
        }
        ck_assert_uint_eq(entries, want);
        ck_assert_uint_gt(pages, 1);
        test_bus_disconnect(conn);
        return cut_by_bytes;
}

/* --- the tests --- */

/* A client of a daemon that @fill filled; *@ret_daemon: the daemon's pid. */
static TlsidClient *filled_client(void (*fill)(TlsidClient *client), pid_t *ret_daemon) {
        TlsidClient *client = NULL;

        ASSERT_OK(tlsid_client_new(NULL, &client));
        fill(client);
        *ret_daemon = test_bus_daemon_pid();
        ck_assert_int_gt(*ret_daemon, 0);
        return client;
}

START_TEST(test_lists_sessions_beyond_bus_limit) {
        pid_t daemon;
        TlsidClient *client = filled_client(fill_partitions, &daemon);
        TlsidSessionInfo *infos = NULL;
        char *one = context_name(3);
        size_t n = 0;
        char *out;

        /* Every partition exactly once, in order. */
        ASSERT_OK(tlsid_client_list_sessions(client, NULL, &infos, &n));
        ck_assert_uint_eq(n, N_CONTEXTS * N_ORIGINS);
        for (size_t i = 0; i < n; i++) {
                char *origin = NULL;
                char *context = want_session(i, &origin);

                ck_assert_str_eq(infos[i].context, context);
                ck_assert_str_eq(infos[i].origin, origin);
                ck_assert_uint_eq(infos[i].tokens, 1);
                free(context);
                free(origin);
        }
        tlsid_session_infos_free(infos, n);
        ASSERT_OK(tlsid_client_list_sessions(client, one, &infos, &n));
        ck_assert_uint_eq(n, N_ORIGINS);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(infos[i].context, one);
        tlsid_session_infos_free(infos, n);

        out = tlsidctl_run((const char *[]) { "sessions", "--no-legend", NULL });
        assert_table(out, N_CONTEXTS * N_ORIGINS, want_session);
        ck_assert(!walk_raw_pages("", N_CONTEXTS * N_ORIGINS));

        /* The same daemon, with everything it held. */
        ck_assert_int_eq(test_bus_daemon_pid(), daemon);
        ck_assert_uint_eq(statistic(client, "partitions"), N_CONTEXTS * N_ORIGINS);
        ck_assert_uint_eq(statistic(client, "tokens"), N_CONTEXTS * N_ORIGINS);
        free(one);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_lists_contexts_beyond_bus_limit) {
        pid_t daemon;
        TlsidClient *client = filled_client(fill_contexts, &daemon);
        TlsidContextInfo *infos = NULL;
        size_t n = 0;
        char *out;

        ASSERT_OK(tlsid_client_list_contexts(client, &infos, &n));
        ck_assert_uint_eq(n, N_LABELLED);
        for (size_t i = 0; i < n; i++) {
                char *label = NULL;
                char *context = want_context(i, &label);

                ck_assert_str_eq(infos[i].context, context);
                ck_assert_str_eq(infos[i].label, label);
                free(context);
                free(label);
        }
        tlsid_context_infos_free(infos, n);

        out = tlsidctl_run((const char *[]) { "contexts", "--no-legend", NULL });
        assert_table(out, N_LABELLED, want_context);
        /* Entries this large fill the byte budget before the count. */
        ck_assert(walk_raw_pages(NULL, N_LABELLED));

        ck_assert_int_eq(test_bus_daemon_pid(), daemon);
        ck_assert_uint_eq(statistic(client, "contexts"), N_LABELLED);
        tlsid_client_unref(client);
}
END_TEST

static Suite *lists_suite(void) {
        Suite *s = suite_create("lists");
        TCase *tc = tcase_create("lists");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_lists_sessions_beyond_bus_limit);
        tcase_add_test(tc, test_lists_contexts_beyond_bus_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(lists_suite(), CK_FORK_GETENV);
}
