/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The adapters' certificate decision, whatever the TLS stack: SelectCertificate asked for
 * a connection, and the binding rule applied to its answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter-private.h"

void adapter_select(TlsidContext *context, const char *origin, const TlsidCertRequest *request,
                    const TlsidCandidate *candidates, size_t n, int *ret_r,
                    TlsidDecision *ret_decision, char *ret_identity, uint32_t *ret_generation,
                    TlsidCertificateInfo **ret_eligible, size_t *ret_n_eligible) {
        char *identity = NULL;
        int r;

        r = tlsid_context_select_certificate(context, origin, request, candidates, n,
                                             ret_decision, &identity, ret_generation,
                                             ret_eligible, ret_n_eligible);
        *ret_r = r;
        if (r < 0) {
                if (!is_caller_error(r))
                        note_unreachable(r);
                return;
        }
        note_reachable();
        snprintf(ret_identity, TLSID_IDENTITY_LEN + 1, "%s", identity);
        free(identity);
}

AdapterBind adapter_bind(TlsidDecision decision, const char *answer_identity,
                         const char *identity, bool mid_connection, bool degraded) {
        if (decision == TLSID_DECISION_STALE)
                return BIND_STALE;
        if (decision != TLSID_DECISION_CERTIFICATE)
                return BIND_NONE;
        if (strcmp(answer_identity, identity) == 0)
                return BIND_SEND;
        if (identity[0] || mid_connection || degraded)
                return BIND_STALE;
        return BIND_MOVED;
}
