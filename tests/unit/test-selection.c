/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the certificate decision (daemon/model/selection.c), one table row per rule:
 * selection_decide() on eligible certificates, selection_decide_request() on candidates,
 * a request and a policy, and selection_apply() on a store, all without a bus. */
#include <check.h>
#include <string.h>

#include "challenge.h"
#include "check-main.h"
#include "model-certs.h"
#include "selection.h"
#include "tlsid-ids.h"
#include "tmp-dir.h"

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define FP_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

typedef struct {
        const char *name;
        int state;
        const char *identity;
        const char *eligible;   /* letters of the eligible certificates, best first */
        PolicyMode mode;
        int auto_select;        /* index into eligible, -1 none */
        SelectionDecision decision;
        char chosen;            /* letter of the certificate chosen, 0 unless CERTIFICATE */
        SelectionReason reason;
} Row;

static const Row rows[] = {
        /* The choice none wins over everything, even policy. */
        { "none choice", TLSID_STATE_NONE, "", "ab", POLICY_MODE_AUTO, 0,
          SELECTION_NONE, 0, SELECTION_BY_CHOICE },
        { "none choice, nothing eligible", TLSID_STATE_NONE, "", "", POLICY_MODE_ASK, -1,
          SELECTION_NONE, 0, SELECTION_BY_CHOICE },
        /* Nothing eligible: no prompt, whatever was chosen or the policy says. */
        { "nothing eligible, undecided", TLSID_STATE_UNDECIDED, "", "", POLICY_MODE_ASK, -1,
          SELECTION_NONE, 0, SELECTION_BY_NOTHING_ELIGIBLE },
        { "nothing eligible, mode auto", TLSID_STATE_UNDECIDED, "", "", POLICY_MODE_AUTO, -1,
          SELECTION_NONE, 0, SELECTION_BY_NOTHING_ELIGIBLE },
        { "nothing eligible, choice certificate", TLSID_STATE_CERTIFICATE, FP_A, "",
          POLICY_MODE_ASK, -1, SELECTION_NONE, 0, SELECTION_BY_NOTHING_ELIGIBLE },
        /* A remembered certificate that is eligible is used, wherever it ranks. */
        { "choice eligible first", TLSID_STATE_CERTIFICATE, FP_A, "ab", POLICY_MODE_ASK, -1,
          SELECTION_CERTIFICATE, 'a', SELECTION_BY_CHOICE },
        { "choice eligible second", TLSID_STATE_CERTIFICATE, FP_B, "ab", POLICY_MODE_ASK, -1,
          SELECTION_CERTIFICATE, 'b', SELECTION_BY_CHOICE },
        /* ...and beats the policy. */
        { "choice beats auto_select", TLSID_STATE_CERTIFICATE, FP_B, "ab", POLICY_MODE_AUTO, 0,
          SELECTION_CERTIFICATE, 'b', SELECTION_BY_CHOICE },
        { "choice beats mode none", TLSID_STATE_CERTIFICATE, FP_A, "a", POLICY_MODE_NONE, -1,
          SELECTION_CERTIFICATE, 'a', SELECTION_BY_CHOICE },
        /* A remembered certificate that is not eligible: ask, never switch silently. */
        { "choice ineligible", TLSID_STATE_CERTIFICATE, FP_C, "ab", POLICY_MODE_ASK, -1,
          SELECTION_ASK, 0, SELECTION_BY_INELIGIBLE_CHOICE },
        { "choice ineligible, mode auto", TLSID_STATE_CERTIFICATE, FP_C, "ab", POLICY_MODE_AUTO,
          -1, SELECTION_ASK, 0, SELECTION_BY_INELIGIBLE_CHOICE },
        { "choice ineligible, auto_select", TLSID_STATE_CERTIFICATE, FP_C, "ab",
          POLICY_MODE_ASK, 1, SELECTION_ASK, 0, SELECTION_BY_INELIGIBLE_CHOICE },
        /* Undecided: auto_select first, then the mode. */
        { "auto_select", TLSID_STATE_UNDECIDED, "", "ab", POLICY_MODE_ASK, 1,
          SELECTION_CERTIFICATE, 'b', SELECTION_BY_AUTO_SELECT },
        { "auto_select beats mode none", TLSID_STATE_UNDECIDED, "", "ab", POLICY_MODE_NONE, 0,
          SELECTION_CERTIFICATE, 'a', SELECTION_BY_AUTO_SELECT },
        { "auto_select out of range ignored", TLSID_STATE_UNDECIDED, "", "ab", POLICY_MODE_ASK,
          2, SELECTION_ASK, 0, SELECTION_BY_MODE },
        { "mode auto picks the best", TLSID_STATE_UNDECIDED, "", "ba", POLICY_MODE_AUTO, -1,
          SELECTION_CERTIFICATE, 'b', SELECTION_BY_MODE },
        { "mode none", TLSID_STATE_UNDECIDED, "", "ab", POLICY_MODE_NONE, -1,
          SELECTION_NONE, 0, SELECTION_BY_MODE },
        { "mode ask", TLSID_STATE_UNDECIDED, "", "ab", POLICY_MODE_ASK, -1,
          SELECTION_ASK, 0, SELECTION_BY_MODE },
        { "mode ask, one eligible", TLSID_STATE_UNDECIDED, "", "c", POLICY_MODE_ASK, -1,
          SELECTION_ASK, 0, SELECTION_BY_MODE },
};

static const char *fingerprint_of(char letter) {
        switch (letter) {
        case 'a':
                return FP_A;
        case 'b':
                return FP_B;
        default:
                return FP_C;
        }
}

START_TEST(test_selection_rules) {
        const Row *row = &rows[_i];
        CertInfo infos[3];
        CertInfo *eligible[3];
        guint n = (guint) strlen(row->eligible);

        memset(infos, 0, sizeof infos);
        for (guint i = 0; i < n; i++) {
                strcpy(infos[i].identity, fingerprint_of(row->eligible[i]));
                eligible[i] = &infos[i];
        }
        Selection s = selection_decide(row->state, row->identity, eligible, n, row->mode,
                                       row->auto_select);
        ck_assert_msg(s.decision == row->decision, "%s: decision %s, expected %s", row->name,
                      selection_decision_to_string(s.decision),
                      selection_decision_to_string(row->decision));
        ck_assert_msg(s.reason == row->reason, "%s: reason %d, expected %d", row->name,
                      s.reason, row->reason);
        if (row->decision == SELECTION_CERTIFICATE) {
                ck_assert_msg(s.index >= 0 && (guint) s.index < n, "%s: index %d", row->name,
                              s.index);
                ck_assert_msg(strcmp(eligible[s.index]->identity,
                                     fingerprint_of(row->chosen)) == 0,
                              "%s: chose %c", row->name, row->eligible[s.index]);
        } else {
                ck_assert_msg(s.index == -1, "%s: index %d without a certificate", row->name,
                              s.index);
        }
}
END_TEST

START_TEST(test_selection_decision_names) {
        ck_assert_str_eq(selection_decision_to_string(SELECTION_CERTIFICATE), "certificate");
        ck_assert_str_eq(selection_decision_to_string(SELECTION_NONE), "none");
        ck_assert_str_eq(selection_decision_to_string(SELECTION_ASK), "ask");
}
END_TEST

/* --- selection_decide_request(): candidates, a request, a policy --- */

typedef struct {
        const char *name;
        const char *mode;        /* the policy's global mode */
        int state;
        char choice;             /* letter of the chosen certificate, 0 for none */
        const char *candidates;  /* letters, newest first */
        const char *ec;          /* letters whose key is EC (the rest RSA) */
        guint key_types;         /* a challenge's key-types hint, 0: any */
        gboolean auto_single;
        SelectionDecision decision;
        char chosen;             /* letter sent, 0 unless CERTIFICATE */
        SelectionReason reason;
        const char *eligible;    /* letters of ret_eligible, in order */
} RequestRow;

static const RequestRow request_rows[] = {
        /* A challenge answered without a person: mode auto picks only a single one. */
        { "auto, two eligible, single rule", "auto", TLSID_STATE_UNDECIDED, 0, "ab", "", 0,
          TRUE, SELECTION_ASK, 0, SELECTION_BY_MODE, "ab" },
        { "auto, two eligible, handshake", "auto", TLSID_STATE_UNDECIDED, 0, "ab", "", 0,
          FALSE, SELECTION_CERTIFICATE, 'a', SELECTION_BY_MODE, "ab" },
        { "auto, one eligible, single rule", "auto", TLSID_STATE_UNDECIDED, 0, "a", "", 0,
          TRUE, SELECTION_CERTIFICATE, 'a', SELECTION_BY_MODE, "a" },
        /* The rule is about guessing: a choice is no guess. */
        { "choice, two eligible, single rule", "auto", TLSID_STATE_CERTIFICATE, 'b', "ab", "",
          0, TRUE, SELECTION_CERTIFICATE, 'b', SELECTION_BY_CHOICE, "ab" },
        { "ask, two eligible, single rule", "ask", TLSID_STATE_UNDECIDED, 0, "ab", "", 0, TRUE,
          SELECTION_ASK, 0, SELECTION_BY_MODE, "ab" },
        { "none mode", "none", TLSID_STATE_UNDECIDED, 0, "a", "", 0, TRUE, SELECTION_NONE, 0,
          SELECTION_BY_MODE, "a" },
        /* The key-types hint narrows the eligible ones before the rule counts them. */
        { "key types leave one", "auto", TLSID_STATE_UNDECIDED, 0, "ab", "b", CHALLENGE_KEY_EC,
          TRUE, SELECTION_CERTIFICATE, 'b', SELECTION_BY_MODE, "b" },
        { "key types leave none", "auto", TLSID_STATE_UNDECIDED, 0, "a", "", CHALLENGE_KEY_EC,
          TRUE, SELECTION_NONE, 0, SELECTION_BY_NOTHING_ELIGIBLE, "" },
        { "key types any", "auto", TLSID_STATE_UNDECIDED, 0, "ab", "b", 0, FALSE,
          SELECTION_CERTIFICATE, 'a', SELECTION_BY_MODE, "ab" },
        { "choice filtered out by key types", "auto", TLSID_STATE_CERTIFICATE, 'a', "ab", "b",
          CHALLENGE_KEY_EC, TRUE, SELECTION_ASK, 0, SELECTION_BY_INELIGIBLE_CHOICE, "b" },
};

static Policy *policy_with_mode(const char *mode) {
        g_autofree char *dir = tmp_dir_make("tlsid-selection-XXXXXX");
        g_autofree char *path = g_build_filename(dir, "policy.json", NULL);
        g_autofree char *json = g_strdup_printf("{\"mode\": \"%s\"}", mode);
        g_autoptr(GError) error = NULL;
        Policy *policy;

        ck_assert(g_file_set_contents(path, json, -1, NULL));
        policy = policy_load(path, &error);
        ck_assert_msg(policy, "%s", error ? error->message : "");
        tmp_dir_remove(dir);
        return policy;
}

START_TEST(test_selection_request_rules) {
        const RequestRow *row = &request_rows[_i];
        g_autoptr(Policy) policy = policy_with_mode(row->mode);
        g_autoptr(GPtrArray) candidates = model_candidates(row->candidates, row->ec);
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) eligible = NULL;
        StorePartition partition = {
                .state = row->state,
                .identity = row->choice ? model_fingerprint(row->choice) : "",
                .generation = 1,
        };

        Selection s = selection_decide_request(policy, "tab", "example.org:443", &partition,
                                               request, candidates, row->key_types,
                                               row->auto_single,
                                               g_get_real_time() / G_USEC_PER_SEC, &eligible);
        ck_assert_msg(s.decision == row->decision, "%s: decision %s, expected %s", row->name,
                      selection_decision_to_string(s.decision),
                      selection_decision_to_string(row->decision));
        ck_assert_msg(s.reason == row->reason, "%s: reason %d, expected %d", row->name,
                      s.reason, row->reason);
        ck_assert_msg(eligible->len == strlen(row->eligible), "%s: %u eligible", row->name,
                      eligible->len);
        for (guint i = 0; i < eligible->len; i++)
                ck_assert_msg(((CertInfo *) eligible->pdata[i])->identity[0] == row->eligible[i],
                              "%s: eligible[%u] is %c", row->name, i,
                              ((CertInfo *) eligible->pdata[i])->identity[0]);
        if (row->decision == SELECTION_CERTIFICATE)
                ck_assert_msg(((CertInfo *) eligible->pdata[s.index])->identity[0] == row->chosen,
                              "%s: chose %c", row->name,
                              ((CertInfo *) eligible->pdata[s.index])->identity[0]);
        else
                ck_assert_int_eq(s.index, -1);
}
END_TEST

/* --- selection_apply(): the decision becomes the choice --- */

static const guint8 nonce[16] = { 7 };

START_TEST(test_selection_apply_policy_pick_not_remembered) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(Candidate) a = model_candidate('a', CERT_KEY_RSA, 60);
        g_autoptr(GError) error = NULL;
        StorePartition before, after;
        Selection by_mode = { SELECTION_CERTIFICATE, 0, SELECTION_BY_MODE };
        gboolean changed = FALSE;

        ck_assert(store_open_context(store, "tab", FALSE, NULL, NULL, &error));
        ck_assert(store_get_partition(store, "tab", "example.org:443", &before, &error));
        ck_assert(selection_apply(store, "tab", "example.org:443", &before, &by_mode, a->leaf,
                                  &changed, &error));
        ck_assert(changed);
        ck_assert(store_get_partition(store, "tab", "example.org:443", &after, &error));
        ck_assert_int_eq(after.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(after.identity, model_fingerprint('a'));
        ck_assert_uint_gt(after.generation, before.generation);
        ck_assert(!after.remembered);
        ck_assert_int_eq(after.not_after, a->leaf->not_after);
}
END_TEST

START_TEST(test_selection_apply_remembered_choice_stays_remembered) {
        g_autoptr(Store) store = store_new(NULL, nonce);
        g_autoptr(Candidate) a = model_candidate('a', CERT_KEY_RSA, 60);
        g_autoptr(GError) error = NULL;
        StorePartition before, after;
        Selection by_choice = { SELECTION_CERTIFICATE, 0, SELECTION_BY_CHOICE };
        gboolean changed = TRUE;

        ck_assert(store_open_context(store, "tab", FALSE, NULL, NULL, &error));
        ck_assert(store_set_choice(store, "tab", "example.org:443", TLSID_STATE_CERTIFICATE,
                                   a->leaf->identity, 0, TRUE, NULL, &error));
        ck_assert(store_get_partition(store, "tab", "example.org:443", &before, &error));
        ck_assert(before.remembered);
        ck_assert(selection_apply(store, "tab", "example.org:443", &before, &by_choice,
                                  a->leaf, &changed, &error));
        /* The same certificate: no new generation, and still remembered. */
        ck_assert(!changed);
        ck_assert(store_get_partition(store, "tab", "example.org:443", &after, &error));
        ck_assert_uint_eq(after.generation, before.generation);
        ck_assert(after.remembered);
}
END_TEST

/* --- selection_select(): a connection bound to its partition --- */

typedef struct {
        Store *store;
        Policy *policy;
        GPtrArray *candidates;
} BindFixture;

static void bind_setup(BindFixture *f, const char *mode) {
        g_autoptr(GError) error = NULL;

        f->store = store_new(NULL, nonce);
        f->policy = policy_with_mode(mode);
        f->candidates = model_candidates("a", "");
        ck_assert(store_open_context(f->store, "tab", FALSE, NULL, NULL, &error));
}

static void bind_clear(BindFixture *f) {
        store_free(f->store);
        policy_free(f->policy);
        g_ptr_array_unref(f->candidates);
}

static void bind_choose(BindFixture *f, char letter) {
        g_autoptr(GError) error = NULL;

        ck_assert_msg(store_set_choice(f->store, "tab", "example.org:443",
                                       TLSID_STATE_CERTIFICATE, model_fingerprint(letter), 0,
                                       FALSE, NULL, &error),
                      "%s", error ? error->message : "");
}

static guint32 bind_generation(BindFixture *f) {
        StorePartition p;

        ck_assert(store_get_partition(f->store, "tab", "example.org:443", &p, NULL));
        return p.generation;
}

static void bind_select(BindFixture *f, guint32 generation, gboolean renegotiation,
                        SelectionAnswer *ret) {
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GError) error = NULL;

        request->generation = generation;
        request->renegotiation = renegotiation;
        ck_assert_msg(selection_select(f->store, f->policy, "tab", "example.org:443", request,
                                       f->candidates, g_get_real_time() / G_USEC_PER_SEC, ret,
                                       &error),
                      "%s", error ? error->message : "");
}

START_TEST(test_selection_select_stale_after_a_switch) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };
        guint32 attached;

        bind_setup(&f, "ask");
        attached = bind_generation(&f);
        /* Another process switches between the attach and the CertificateRequest. */
        bind_choose(&f, 'a');
        bind_select(&f, attached, FALSE, &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "stale");
        ck_assert_str_eq(a.identity, "");
        ck_assert_uint_eq(a.generation, bind_generation(&f));
        ck_assert_uint_gt(a.generation, attached);
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_select_bound_choice_is_sent) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };
        guint32 attached;

        bind_setup(&f, "ask");
        bind_choose(&f, 'a');
        attached = bind_generation(&f);
        /* Its own partition's identity, also in the middle of the connection. */
        bind_select(&f, attached, TRUE, &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "certificate");
        ck_assert_str_eq(a.identity, model_fingerprint('a'));
        ck_assert_uint_eq(a.generation, attached);
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_select_first_handshake_moves_to_the_new_partition) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };
        guint32 attached;

        bind_setup(&f, "auto");
        attached = bind_generation(&f);
        bind_select(&f, attached, FALSE, &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "certificate");
        ck_assert_str_eq(a.identity, model_fingerprint('a'));
        /* The policy's pick is the choice now, in a new partition the connection joins. */
        ck_assert_uint_gt(a.generation, attached);
        ck_assert_uint_eq(a.generation, bind_generation(&f));
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_select_mid_connection_never_presents_a_new_identity) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };
        StorePartition p;
        guint32 attached;

        bind_setup(&f, "auto");
        attached = bind_generation(&f);
        /* A renegotiation on a connection attached with no identity: application data has
         * flowed, so it cannot become the policy's pick; the next connection will be. */
        bind_select(&f, attached, TRUE, &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "stale");
        ck_assert_str_eq(a.identity, "");
        ck_assert(store_get_partition(f.store, "tab", "example.org:443", &p, NULL));
        ck_assert_int_eq(p.state, TLSID_STATE_CERTIFICATE);
        ck_assert_str_eq(p.identity, model_fingerprint('a'));
        ck_assert_uint_eq(a.generation, p.generation);
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_select_unbound_as_before) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };
        guint32 before;

        bind_setup(&f, "ask");
        bind_choose(&f, 'a');
        before = bind_generation(&f);
        /* A caller that does not say its generation is answered from the current choice. */
        bind_select(&f, 0, FALSE, &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "certificate");
        ck_assert_uint_eq(a.generation, before);
        bind_clear(&f);
}
END_TEST

/* --- selection_select_resumed(): a call that waited for a person's answer --- */

static void bind_resume(BindFixture *f, guint32 generation, gboolean renegotiation,
                        guint32 waited_generation, const char *waited_identity,
                        SelectionAnswer *ret) {
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GError) error = NULL;

        request->generation = generation;
        request->renegotiation = renegotiation;
        ck_assert_msg(selection_select_resumed(f->store, f->policy, "tab", "example.org:443",
                                               request, f->candidates,
                                               g_get_real_time() / G_USEC_PER_SEC,
                                               waited_generation, waited_identity, ret,
                                               &error),
                      "%s", error ? error->message : "");
}

START_TEST(test_selection_resumed_first_handshake_adopted) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };

        bind_setup(&f, "ask");
        guint32 attached = bind_generation(&f);
        /* The agent's answer became the choice while the first handshake waited. */
        bind_choose(&f, 'a');
        bind_resume(&f, attached, FALSE, attached, "", &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "certificate");
        ck_assert_str_eq(a.identity, model_fingerprint('a'));
        ck_assert_uint_gt(a.generation, attached);
        ck_assert_uint_eq(a.generation, bind_generation(&f));

        /* selection_select() of the same call would have retired the connection. */
        g_auto(SelectionAnswer) b = { 0 };
        bind_select(&f, attached, FALSE, &b);
        ck_assert_str_eq(selection_decision_to_string(b.decision), "stale");
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_resumed_mid_connection_stale) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };

        bind_setup(&f, "ask");
        guint32 attached = bind_generation(&f);
        bind_choose(&f, 'a');
        /* Application data flowed before the renegotiation asked: never a new identity. */
        bind_resume(&f, attached, TRUE, attached, "", &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "stale");
        ck_assert_str_eq(a.identity, "");
        ck_assert_uint_eq(a.generation, bind_generation(&f));
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_resumed_older_attach_stale) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };

        bind_setup(&f, "ask");
        guint32 attached = bind_generation(&f);
        g_autoptr(GError) error = NULL;
        ck_assert(store_flush(f.store, "tab", "example.org:443", NULL, &error));
        /* The partition had moved on before the call began to wait. */
        guint32 waited = bind_generation(&f);
        bind_choose(&f, 'a');
        bind_resume(&f, attached, FALSE, waited, "", &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "stale");
        bind_clear(&f);
}
END_TEST

START_TEST(test_selection_resumed_without_answer_asks) {
        BindFixture f;
        g_auto(SelectionAnswer) a = { 0 };

        bind_setup(&f, "ask");
        guint32 attached = bind_generation(&f);
        /* A timeout or a cancel: nothing changed, the call gets today's ask. */
        bind_resume(&f, attached, FALSE, attached, "", &a);
        ck_assert_str_eq(selection_decision_to_string(a.decision), "ask");
        ck_assert_uint_eq(a.eligible->len, 1);
        ck_assert_uint_eq(a.generation, attached);
        bind_clear(&f);
}
END_TEST

static Suite *selection_suite(void) {
        Suite *s = suite_create("selection");
        TCase *tc = tcase_create("decide");

        tcase_add_loop_test(tc, test_selection_rules, 0, G_N_ELEMENTS(rows));
        tcase_add_test(tc, test_selection_decision_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("request");
        tcase_add_loop_test(tc, test_selection_request_rules, 0, G_N_ELEMENTS(request_rows));
        tcase_add_test(tc, test_selection_apply_policy_pick_not_remembered);
        tcase_add_test(tc, test_selection_apply_remembered_choice_stays_remembered);
        suite_add_tcase(s, tc);

        tc = tcase_create("bound");
        tcase_add_test(tc, test_selection_select_stale_after_a_switch);
        tcase_add_test(tc, test_selection_select_bound_choice_is_sent);
        tcase_add_test(tc, test_selection_select_first_handshake_moves_to_the_new_partition);
        tcase_add_test(tc, test_selection_select_mid_connection_never_presents_a_new_identity);
        tcase_add_test(tc, test_selection_select_unbound_as_before);
        suite_add_tcase(s, tc);

        tc = tcase_create("resumed");
        tcase_add_test(tc, test_selection_resumed_first_handshake_adopted);
        tcase_add_test(tc, test_selection_resumed_mid_connection_stale);
        tcase_add_test(tc, test_selection_resumed_older_attach_stale);
        tcase_add_test(tc, test_selection_resumed_without_answer_asks);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(selection_suite(), CK_FORK_GETENV);
}
