/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The certificate decision for one request, and applying it to the store. */
#include "selection.h"

#include <string.h>

#include "challenge.h"
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

const char *selection_reason_to_string(SelectionReason reason) {
        static const char *const names[] = {
                [SELECTION_BY_CHOICE] = "choice",
                [SELECTION_BY_NOTHING_ELIGIBLE] = "nothing-eligible",
                [SELECTION_BY_INELIGIBLE_CHOICE] = "ineligible-choice",
                [SELECTION_BY_AUTO_SELECT] = "auto-select",
                [SELECTION_BY_MODE] = "mode",
        };

        return (guint) reason < G_N_ELEMENTS(names) ? names[reason] : "unknown";
}

const char *selection_decision_to_string(SelectionDecision decision) {
        switch (decision) {
        case SELECTION_CERTIFICATE:
                return "certificate";
        case SELECTION_NONE:
                return "none";
        case SELECTION_STALE:
                return "stale";
        case SELECTION_ASK:
        default:
                return "ask";
        }
}

Selection selection_decide_request(const Policy *policy, const char *context,
                                   const char *origin, const StorePartition *partition,
                                   const CertRequest *request, GPtrArray *candidates,
                                   guint key_types, gboolean auto_single, gint64 now,
                                   GPtrArray **ret_eligible) {
        g_autoptr(GPtrArray) eligible = cert_select_eligible(request, candidates, now);
        GPtrArray *leaves = g_ptr_array_sized_new(eligible->len + 1);

        for (guint i = 0; i < eligible->len; i++) {
                CertInfo *leaf = ((Candidate *) eligible->pdata[i])->leaf;

                if (challenge_key_type_allowed(key_types, leaf->key_type))
                        g_ptr_array_add(leaves, leaf);
        }
        int auto_select = -1;
        if (partition->state == TLSID_STATE_UNDECIDED && leaves->len > 0)
                auto_select = policy_auto_select(policy, origin, (CertInfo **) leaves->pdata,
                                                 leaves->len);
        Selection selection = selection_decide(partition->state, partition->identity,
                                               (CertInfo **) leaves->pdata, leaves->len,
                                               policy_mode_for(policy, context), auto_select);
        if (auto_single && selection.reason == SELECTION_BY_MODE &&
            selection.decision == SELECTION_CERTIFICATE && leaves->len > 1)
                selection = decided(SELECTION_ASK, -1, SELECTION_BY_MODE);
        *ret_eligible = leaves;
        return selection;
}

gboolean selection_apply(Store *store, const char *context, const char *origin,
                         const StorePartition *partition, const Selection *selection,
                         const CertInfo *chosen, gboolean *ret_changed, GError **error) {
        gboolean remember = selection->reason == SELECTION_BY_CHOICE && partition->remembered;

        return store_set_choice(store, context, origin, TLSID_STATE_CERTIFICATE,
                                chosen->identity, chosen->not_after, remember, ret_changed,
                                error);
}

void selection_answer_clear(SelectionAnswer *answer) {
        g_clear_pointer(&answer->eligible, g_ptr_array_unref);
}

/* selection_select() for a connection bound to @bound_generation (0: nothing bound)
 * and attached under identity @attached (NULL: the current partition's). */
static gboolean select_bound(Store *store, const Policy *policy, const char *context,
                             const char *origin, const CertRequest *request,
                             guint32 bound_generation, const char *attached,
                             GPtrArray *candidates, gint64 now, SelectionAnswer *ret,
                             GError **error) {
        StorePartition partition;
        gboolean bound = bound_generation != 0;
        gboolean mid_connection = request->post_handshake || request->renegotiation;

        *ret = (SelectionAnswer) { .decision = SELECTION_NONE };
        if (!store_get_partition(store, context, origin, &partition, error))
                return FALSE;
        ret->generation = partition.generation;
        if (bound && bound_generation != partition.generation) {
                ret->decision = SELECTION_STALE;
                ret->eligible = g_ptr_array_new();
                return TRUE;
        }
        Selection selection = selection_decide_request(policy, context, origin, &partition,
                                                       request, candidates, 0, FALSE, now,
                                                       &ret->eligible);
        ret->decision = selection.decision;
        ret->reason = selection.reason;
        if (selection.decision != SELECTION_CERTIFICATE)
                return TRUE;

        const CertInfo *chosen = ret->eligible->pdata[selection.index];
        /* Only a choice made now (or while the call waited) can differ from the identity
         * the connection was attached under (a remembered choice is the partition's). */
        if (!attached)
                attached = partition.identity;
        gboolean moves = strcmp(chosen->identity, attached) != 0;
        /* Only a connection attached with no certificate moves to another partition. */
        gboolean could_move = !mid_connection && !*attached;

        if (!selection_apply(store, context, origin, &partition, &selection, chosen, NULL,
                             error))
                return FALSE;
        if (!store_get_partition(store, context, origin, &partition, error))
                return FALSE;
        ret->generation = partition.generation;
        if (bound && moves && !could_move) {
                ret->decision = SELECTION_STALE;
                return TRUE;
        }
        g_strlcpy(ret->identity, chosen->identity, sizeof ret->identity);
        return TRUE;
}

gboolean selection_select(Store *store, const Policy *policy, const char *context,
                          const char *origin, const CertRequest *request,
                          GPtrArray *candidates, gint64 now, SelectionAnswer *ret,
                          GError **error) {
        return select_bound(store, policy, context, origin, request, request->generation,
                            NULL, candidates, now, ret, error);
}

gboolean selection_select_resumed(Store *store, const Policy *policy, const char *context,
                                  const char *origin, const CertRequest *request,
                                  GPtrArray *candidates, gint64 now, guint32 waited_generation,
                                  const char *waited_identity, SelectionAnswer *ret,
                                  GError **error) {
        guint32 bound = request->generation;
        StorePartition partition;

        if (bound && bound == waited_generation) {
                if (!store_get_partition(store, context, origin, &partition, error))
                        return FALSE;
                bound = partition.generation;
        } else {
                waited_identity = NULL;
        }
        return select_bound(store, policy, context, origin, request, bound, waited_identity,
                            candidates, now, ret, error);
}
