/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the agent registry (daemon/model/agent-list.c): its order and limit. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "agent-list.h"
#include "check-main.h"
#include "error.h"

static void add_ok(AgentList *l, const char *name, const char *path) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(agent_list_add(l, name, path, &error), "%s", error ? error->message : "");
}

START_TEST(test_agent_list_most_recent_asked) {
        g_autoptr(AgentList) l = agent_list_new(16);

        ck_assert_ptr_null(agent_list_current(l));
        add_ok(l, ":1.1", "/a");
        add_ok(l, ":1.2", "/b");
        ck_assert_str_eq(agent_list_current(l)->name, ":1.2");
        add_ok(l, ":1.1", "/c");
        ck_assert_str_eq(agent_list_current(l)->path, "/c");
        ck_assert(agent_list_remove(l, ":1.1", "/c", NULL));
        /* The one before it comes back. */
        ck_assert_str_eq(agent_list_current(l)->name, ":1.2");
        ck_assert_uint_eq(agent_list_remove_name(l, ":1.2"), 1);
        ck_assert_str_eq(agent_list_current(l)->path, "/a");
        ck_assert(agent_list_has_name(l, ":1.1"));
        ck_assert(!agent_list_has_name(l, ":1.2"));
}
END_TEST

START_TEST(test_agent_list_twice_and_unknown) {
        g_autoptr(AgentList) l = agent_list_new(16);
        g_autoptr(GError) error = NULL;

        add_ok(l, ":1.1", "/a");
        ck_assert(!agent_list_add(l, ":1.1", "/a", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        ck_assert(g_str_has_prefix(error->message, "path: "));
        g_clear_error(&error);
        /* The same path of another connection is another agent. */
        add_ok(l, ":1.2", "/a");
        ck_assert(!agent_list_remove(l, ":1.3", "/a", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        ck_assert(g_str_has_prefix(error->message, "path: "));
        ck_assert_uint_eq(agent_list_count(l), 2);
}
END_TEST

START_TEST(test_agent_list_limit) {
        g_autoptr(AgentList) l = agent_list_new(2);
        g_autoptr(GError) error = NULL;

        add_ok(l, ":1.1", "/a");
        add_ok(l, ":1.1", "/b");
        ck_assert(!agent_list_add(l, ":1.2", "/a", &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED));
        ck_assert_ptr_nonnull(strstr(error->message, "max_agents is 2"));
        /* A connection leaving frees its slots. */
        ck_assert_uint_eq(agent_list_remove_name(l, ":1.1"), 2);
        add_ok(l, ":1.2", "/a");
}
END_TEST

static Suite *agent_list_suite(void) {
        Suite *s = suite_create("agent-list");
        TCase *tc = tcase_create("agent-list");

        tcase_add_test(tc, test_agent_list_most_recent_asked);
        tcase_add_test(tc, test_agent_list_twice_and_unknown);
        tcase_add_test(tc, test_agent_list_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(agent_list_suite(), CK_FORK_GETENV);
}
