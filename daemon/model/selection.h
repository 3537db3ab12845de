/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The certificate decision for one request: the remembered choice, eligibility and policy
 * (selection_decide() alone is pure), and making the decision the choice in the store.
 * No D-Bus, no NSS: candidates come parsed. */
#pragma once

#include <glib.h>

#include "cert-info.h"
#include "eligibility.h"
#include "policy.h"
#include "store.h"

typedef enum {
        SELECTION_ASK = 0,     /* the application shows its picker and calls SetChoice */
        SELECTION_NONE,        /* send no certificate, ask nobody */
        SELECTION_CERTIFICATE, /* send eligible[index] */
        SELECTION_STALE,       /* selection_select(): the connection's partition moved on */
} SelectionDecision;

/* Why a decision was taken, for the caller's log and for tests. */
typedef enum {
        SELECTION_BY_CHOICE = 0,   /* the (context, origin) choice decided */
        SELECTION_BY_NOTHING_ELIGIBLE,
        SELECTION_BY_INELIGIBLE_CHOICE, /* the remembered certificate is no longer eligible */
        SELECTION_BY_AUTO_SELECT,  /* a policy auto_select entry matched */
        SELECTION_BY_MODE,         /* the policy mode for the context */
} SelectionReason;

typedef struct {
        SelectionDecision decision;
        int index;                 /* into the eligible certificates; -1 unless CERTIFICATE */
        SelectionReason reason;
} Selection;

/* Decides for a (context, origin) whose choice is @state (TlsidStateCode) with @identity
 * ("" unless certificate), given the certificates the request allows, best first
 * (@eligible, @n_eligible), the policy mode for the context and the index in @eligible of
 * the certificate the policy's auto_select picks (-1: none):
 *  - choice none: none;
 *  - nothing eligible: none (no prompt);
 *  - choice certificate: that certificate when it is eligible, else ask (never a silent
 *    switch to another one);
 *  - undecided: the auto_select certificate, else by mode: auto the best eligible, none
 *    none, ask ask. */
Selection selection_decide(int state, const char *identity, CertInfo *const *eligible,
                           guint n_eligible, PolicyMode mode, int auto_select);

/* Why, in a word for the log: "choice", "nothing-eligible", "ineligible-choice",
 * "auto-select" or "mode". */
const char *selection_reason_to_string(SelectionReason reason);

/* "certificate", "none", "ask" or "stale", as SelectCertificate spells it. */
const char *selection_decision_to_string(SelectionDecision decision);

/* The decision for (context, origin) in @partition on a server's @request: the leaf
 * certificates of @candidates (Candidate*) that @request and the transport challenge's
 * key-types hint @key_types (CHALLENGE_KEY_*, 0: any) allow at @now, best first, go to
 * @ret_eligible (CertInfo*, borrowed from @candidates; transfer container), then the
 * choice, @policy's auto_select and its mode for @context decide. With @auto_single,
 * mode "auto" picks only a single eligible certificate and asks when there are more (a
 * challenge answered without a person must not guess). */
Selection selection_decide_request(const Policy *policy, const char *context,
                                   const char *origin, const StorePartition *partition,
                                   const CertRequest *request, GPtrArray *candidates,
                                   guint key_types, gboolean auto_single, gint64 now,
                                   GPtrArray **ret_eligible);

/* Makes @chosen, which @selection picked for (context, origin) in @partition, the choice,
 * as SetChoice does: a change drops the partition's tokens, bumps the generation and
 * calls the store's choice-changed function. A remembered choice stays remembered; a
 * policy's pick is not remembered. @ret_changed: nullable. */
gboolean selection_apply(Store *store, const char *context, const char *origin,
                         const StorePartition *partition, const Selection *selection,
                         const CertInfo *chosen, gboolean *ret_changed, GError **error);

/* What SelectCertificate answers a connection's client-auth hook. Clear it with
 * selection_answer_clear(). */
typedef struct {
        SelectionDecision decision;
        SelectionReason reason;
        char identity[TLSID_IDENTITY_LEN + 1]; /* CERTIFICATE: the one to send; else "" */
        guint32 generation;  /* the generation of the partition the connection is in now */
        GPtrArray *eligible; /* CertInfo*, borrowed from the candidates, best first */
} SelectionAnswer;

void selection_answer_clear(SelectionAnswer *answer);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SelectionAnswer, selection_answer_clear)

/* Answers a server's @request on a connection to (context, origin), binding it to the
 * partition it was attached under (@request->generation, when given): a connection
 * presents that partition's identity, or none, and never another.
 *  - The partition moved on (a switch or a flush since the attach): STALE; nothing is
 *    sent and the connection must be retired.
 *  - Otherwise the decision of selection_decide_request() among @candidates, applied as
 *    selection_apply() does. A certificate for a connection attached with no identity
 *    moves it to the new partition during its first handshake (no application data has
 *    flowed): CERTIFICATE with the new ->generation. After application data (a
 *    renegotiation or a post-handshake request) it cannot: the choice is made for the
 *    next connections and this one is STALE.
 * Returns FALSE exactly when @error is set. */
gboolean selection_select(Store *store, const Policy *policy, const char *context,
                          const char *origin, const CertRequest *request,
                          GPtrArray *candidates, gint64 now, SelectionAnswer *ret,
                          GError **error);

/* selection_select() again for a call that waited for a person's answer (an agent's, or a
 * choice set meanwhile by anyone): a connection bound to @waited_generation, the
 * partition current when the wait began (whose identity was @waited_identity), is bound to
 * the current partition instead, since nothing could flow on it while it waited. A
 * certificate chosen meanwhile then moves a connection attached with no identity in its
 * first handshake to the new partition (CERTIFICATE with the new ->generation); after
 * application data, or attached under another identity, it is STALE. A connection bound
 * to an older generation is STALE, as with selection_select(). */
gboolean selection_select_resumed(Store *store, const Policy *policy, const char *context,
                                  const char *origin, const CertRequest *request,
                                  GPtrArray *candidates, gint64 now, guint32 waited_generation,
                                  const char *waited_identity, SelectionAnswer *ret,
                                  GError **error);
