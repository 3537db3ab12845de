/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The certificate decision for one request. */
#include "selection.h"

#include <string.h>

#include "tlsid-ids.h"

static Selection decided(SelectionDecision decision, int index, SelectionReason reason) {
        return (Selection) { .decision = decision, .index = index, .reason = reason };
}

Selection selection_decide(int state, const char *identity, CertInfo *const *eligible,
                           guint n_eligible, PolicyMode mode, int auto_select) {
        if (state == TLSID_STATE_NONE)
                return decided(SELECTION_NONE, -1, SELECTION_BY_CHOICE);
        /* Firefox's behaviour: no certificate can be sent, so nobody is asked. */
        if (n_eligible == 0)
                return decided(SELECTION_NONE, -1, SELECTION_BY_NOTHING_ELIGIBLE);
        if (state == TLSID_STATE_CERTIFICATE) {
                for (guint i = 0; i < n_eligible; i++)
                        if (identity && strcmp(eligible[i]->identity, identity) == 0)
                                return decided(SELECTION_CERTIFICATE, (int) i,
                                               SELECTION_BY_CHOICE);
                /* The user chose a certificate this server no longer accepts (expired,
                 * removed, outside the CA list): switching to another one silently
                 * would present an identity nobody picked. */
                return decided(SELECTION_ASK, -1, SELECTION_BY_INELIGIBLE_CHOICE);
        }
        if (auto_select >= 0 && (guint) auto_select < n_eligible)
                return decided(SELECTION_CERTIFICATE, auto_select, SELECTION_BY_AUTO_SELECT);
        switch (mode) {
        case POLICY_MODE_AUTO:
                return decided(SELECTION_CERTIFICATE, 0, SELECTION_BY_MODE);
        case POLICY_MODE_NONE:
                return decided(SELECTION_NONE, -1, SELECTION_BY_MODE);
        case POLICY_MODE_ASK:
        default:
                return decided(SELECTION_ASK, -1, SELECTION_BY_MODE);
        }
}

const char *selection_decision_to_string(SelectionDecision decision) {
        switch (decision) {
        case SELECTION_CERTIFICATE:
                return "certificate";
        case SELECTION_NONE:
                return "none";
        case SELECTION_ASK:
        default:
                return "ask";
        }
}
