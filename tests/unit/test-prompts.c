/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the prompts (daemon/model/prompts.c): one prompt per (context, origin),
 * waiters with deadlines, the limits per caller and in all. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "check-main.h"
#include "error.h"
#include "prompts.h"

static guint freed;

static void count_free(gpointer data) {
        freed++;
}

static PromptWaiter *add(Prompts *p, const char *context, const char *caller, gint64 deadline,
                         gboolean *ret_new) {
        g_autoptr(GError) error = NULL;
        PromptWaiter *w = prompts_add_waiter(p, context, "example.org:443", PROMPT_HANDSHAKE,
                                             caller, deadline, 1000, GUINT_TO_POINTER(1),
                                             ret_new, &error);

        ck_assert_msg(w, "%s", error ? error->message : "");
        return w;
}

START_TEST(test_prompts_one_per_context_origin) {
        g_autoptr(Prompts) p = prompts_new(64, 8, NULL);
        gboolean is_new = FALSE;

        PromptWaiter *a = add(p, "tab/1", ":1.1", 100, &is_new);
        ck_assert(is_new);
        PromptWaiter *b = add(p, "tab/1", ":1.2", 200, &is_new);
        ck_assert(!is_new);
        ck_assert_ptr_eq(a->prompt, b->prompt);
        ck_assert_uint_eq(a->prompt->waiters->len, 2);
        ck_assert_ptr_eq(prompts_find(p, "tab/1", "example.org:443"), a->prompt);
        ck_assert_ptr_eq(prompts_find_id(p, a->prompt->id), a->prompt);
        ck_assert_ptr_null(prompts_find(p, "tab/1", "other.org:443"));

        PromptWaiter *c = add(p, "tab/2", ":1.1", 300, &is_new);
        ck_assert(is_new);
        ck_assert_str_ne(c->prompt->id, a->prompt->id);
        ck_assert_uint_eq(prompts_count(p), 2);
        ck_assert_str_eq(prompt_reason_to_string(c->prompt->reason), "handshake");
        ck_assert_int_eq(c->prompt->since, 1000);

        g_autoptr(GPtrArray) list = prompts_list(p);
        ck_assert_uint_eq(list->len, 2);
        ck_assert_ptr_eq(list->pdata[0], a->prompt); /* oldest first */
}
END_TEST

START_TEST(test_prompts_limit_per_caller) {
        g_autoptr(Prompts) p = prompts_new(64, 2, NULL);
        g_autoptr(GError) error = NULL;

        add(p, "tab/1", ":1.1", 100, NULL);
        PromptWaiter *w = add(p, "tab/2", ":1.1", 100, NULL);
        ck_assert_ptr_null(prompts_add_waiter(p, "tab/1", "example.org:443", PROMPT_HANDSHAKE,
                                              ":1.1", 100, 0, NULL, NULL, &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED));
        ck_assert_ptr_nonnull(strstr(error->message, "max_agent_waits_per_caller is 2"));
        /* Another caller may still wait; one that left a wait may wait again. */
        add(p, "tab/1", ":1.2", 100, NULL);
        ck_assert_uint_eq(prompts_caller_waits(p, ":1.1"), 2);
        prompts_remove_waiter(p, w);
        ck_assert_uint_eq(prompts_caller_waits(p, ":1.1"), 1);
        add(p, "tab/3", ":1.1", 100, NULL);
}
END_TEST

START_TEST(test_prompts_limit_in_all) {
        g_autoptr(Prompts) p = prompts_new(2, 8, NULL);
        g_autoptr(GError) error = NULL;

        add(p, "tab/1", ":1.1", 100, NULL);
        add(p, "tab/2", ":1.2", 100, NULL);
        ck_assert_ptr_null(prompts_add_waiter(p, "tab/3", "example.org:443", PROMPT_CHALLENGE,
                                              ":1.3", 100, 0, NULL, NULL, &error));
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED));
        ck_assert_ptr_nonnull(strstr(error->message, "max_agent_requests is 2"));
        /* Joining a prompt that exists is no new prompt. */
        add(p, "tab/1", ":1.3", 100, NULL);
        ck_assert_uint_eq(prompts_count(p), 2);
}
END_TEST

START_TEST(test_prompts_deadlines) {
        g_autoptr(Prompts) p = prompts_new(64, 8, NULL);

        ck_assert_int_eq(prompts_next_deadline(p), G_MAXINT64);
        PromptWaiter *late = add(p, "tab/1", ":1.1", 300, NULL);
        PromptWaiter *early = add(p, "tab/1", ":1.2", 100, NULL);
        PromptWaiter *middle = add(p, "tab/2", ":1.1", 200, NULL);
        ck_assert_int_eq(prompts_next_deadline(p), 100);

        g_autoptr(GPtrArray) none = prompts_expired(p, 99);
        ck_assert_uint_eq(none->len, 0);
        g_autoptr(GPtrArray) two = prompts_expired(p, 200);
        ck_assert_uint_eq(two->len, 2);
        ck_assert_ptr_eq(two->pdata[0], early);
        ck_assert_ptr_eq(two->pdata[1], middle);

        Prompt *prompt = middle->prompt;
        prompts_remove_waiter(p, middle);
        ck_assert(prompt_is_empty(prompt));
        prompts_remove_waiter(p, early);
        ck_assert(!prompt_is_empty(late->prompt));
        ck_assert_int_eq(prompts_next_deadline(p), 300);
}
END_TEST

START_TEST(test_prompts_waiters_of_caller_and_agent) {
        g_autoptr(Prompts) p = prompts_new(64, 8, NULL);

        PromptWaiter *a = add(p, "tab/1", ":1.1", 100, NULL);
        add(p, "tab/1", ":1.2", 100, NULL);
        add(p, "tab/2", ":1.1", 100, NULL);
        g_autoptr(GPtrArray) of_1 = prompts_waiters_of(p, ":1.1");
        ck_assert_uint_eq(of_1->len, 2);
        g_autoptr(GPtrArray) of_9 = prompts_waiters_of(p, ":1.9");
        ck_assert_uint_eq(of_9->len, 0);

        a->prompt->agent = g_strdup(":1.50");
        g_autoptr(GPtrArray) asked = prompts_of_agent(p, ":1.50");
        ck_assert_uint_eq(asked->len, 1);
        ck_assert_ptr_eq(asked->pdata[0], a->prompt);
}
END_TEST

START_TEST(test_prompts_eligible_answers) {
        g_autoptr(Prompts) p = prompts_new(64, 8, NULL);
        PromptWaiter *w = add(p, "tab/1", ":1.1", 100, NULL);
        gint64 not_after = 0;

        prompt_allow(w->prompt, "aaaa", 42);
        ck_assert(prompt_allows(w->prompt, "aaaa", &not_after));
        ck_assert_int_eq(not_after, 42);
        ck_assert(!prompt_allows(w->prompt, "bbbb", NULL));
}
END_TEST

START_TEST(test_prompts_take_and_free_data) {
        Prompts *p = prompts_new(64, 8, count_free);

        freed = 0;
        PromptWaiter *a = add(p, "tab/1", ":1.1", 100, NULL);
        add(p, "tab/1", ":1.2", 100, NULL);
        add(p, "tab/2", ":1.3", 100, NULL);
        Prompt *prompt = a->prompt;
        /* A waiter taken off gives its data back, unfreed. */
        ck_assert_ptr_eq(prompts_remove_waiter(p, a), GUINT_TO_POINTER(1));
        ck_assert_uint_eq(freed, 0);
        prompts_take(p, prompt);
        ck_assert_ptr_null(prompts_find(p, "tab/1", "example.org:443"));
        ck_assert_uint_eq(prompts_count(p), 1);
        prompt_free(p, prompt); /* the waiter left on it */
        ck_assert_uint_eq(freed, 1);
        ck_assert_uint_eq(prompts_caller_waits(p, ":1.2"), 0);
        prompts_free(p); /* tab/2's */
        ck_assert_uint_eq(freed, 2);
}
END_TEST

static Suite *prompts_suite(void) {
        Suite *s = suite_create("prompts");
        TCase *tc = tcase_create("prompts");

        tcase_add_test(tc, test_prompts_one_per_context_origin);
        tcase_add_test(tc, test_prompts_limit_per_caller);
        tcase_add_test(tc, test_prompts_limit_in_all);
        tcase_add_test(tc, test_prompts_deadlines);
        tcase_add_test(tc, test_prompts_waiters_of_caller_and_agent);
        tcase_add_test(tc, test_prompts_eligible_answers);
        tcase_add_test(tc, test_prompts_take_and_free_data);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(prompts_suite(), CK_FORK_GETENV);
}
