/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the certificate decision (daemon/model/selection.c), one table row per rule. */
#include <check.h>
#include <string.h>

#include "check-main.h"
#include "selection.h"
#include "tlsid-ids.h"

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

static Suite *selection_suite(void) {
        Suite *s = suite_create("selection");
        TCase *tc = tcase_create("decide");

        tcase_add_loop_test(tc, test_selection_rules, 0, G_N_ELEMENTS(rows));
        tcase_add_test(tc, test_selection_decision_names);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(selection_suite(), CK_FORK_GETENV);
}
