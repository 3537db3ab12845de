/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport auth-scheme (docs/transport-challenge.md): finding the challenge among a
 * response's field values and reading its hints, the loop guard (ChallengeRetries), and
 * the answer AnswerChallenge gives. No D-Bus, no NSS: candidates come parsed. */
#pragma once

#include <glib.h>

#include "cert-info.h"
#include "policy.h"
#include "store.h"

/* Field values past this many are not parsed (AnswerChallenge's bound). */
#define CHALLENGE_VALUES_MAX 64
/* The longest url hint taken. */
#define CHALLENGE_URL_MAX 2048

/* key-types hint bits; 0 means any. */
#define CHALLENGE_KEY_RSA (1u << 0)
#define CHALLENGE_KEY_EC (1u << 1)
#define CHALLENGE_KEY_ED25519 (1u << 2)

typedef struct {
        gboolean found;     /* a usable transport challenge is among the values */
        GPtrArray *schemes; /* char*: every challenge's auth-scheme, lower-case, in order */
        char *error;        /* nullable: the first reason a value or hint was ignored */
        char *realm;        /* nullable */
        char *url;          /* nullable: a valid https URL */
        GPtrArray *ca_names; /* GBytes*: DER names; empty: any CA */
        guint key_types;    /* CHALLENGE_KEY_*; 0: any */
} TransportChallenge;

/* Parses @n field values (at most CHALLENGE_VALUES_MAX are read) and takes the first
 * valid challenge of scheme "transport" whose mode is "tls-client-certificate". Never
 * fails: what does not parse is noted in ->error. Transfer full. */
TransportChallenge *transport_challenge_find(const char *const *values, guint n);
void transport_challenge_free(TransportChallenge *challenge);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TransportChallenge, transport_challenge_free)

/* Whether a certificate whose key is @type satisfies the key-types hint @key_types. */
gboolean challenge_key_type_allowed(guint key_types, CertKeyType type);

/* The value a client sends in Authorization (Proxy-Authorization) to decline with @status
 * ("declined" or "unavailable"); transfer full. */
char *challenge_decline_value(const char *status);

/* The loop guard: for each (context, origin), the generation the last "retry" moved it to
 * and the certificate that retry sends. A challenge to a request sent under that
 * generation means the server refused the certificate. In memory only. */
typedef struct ChallengeRetries ChallengeRetries;

/* Records kept at most; past it they are all dropped (a lost record only ever costs one
 * more automatic retry). */
#define CHALLENGE_RETRIES_MAX 4096

ChallengeRetries *challenge_retries_new(void);
/* Accepts NULL. */
void challenge_retries_free(ChallengeRetries *retries);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ChallengeRetries, challenge_retries_free)
/* Notes that a retry moved (context, origin) to @generation to send @identity. */
void challenge_retries_remember(ChallengeRetries *retries, const char *context,
                                const char *origin, guint32 generation, const char *identity);
/* The identity the retry that moved (context, origin) to @generation sent, or NULL when
 * no retry did (borrowed: valid until the next remember). */
const char *challenge_retries_refused(ChallengeRetries *retries, const char *context,
                                      const char *origin, guint32 generation);
/* The number of records, for tests of the bound. */
guint challenge_retries_size(ChallengeRetries *retries);

typedef enum {
        CHALLENGE_NOT_TRANSPORT = 0, /* no usable transport challenge among the values */
        CHALLENGE_RETRY,             /* send the request again, in the new partition */
        CHALLENGE_ASK,               /* a person must choose among the eligible ones */
        CHALLENGE_DECLINED,          /* send the decline header */
        CHALLENGE_REJECTED,          /* the server refused what a retry sent: stop */
} ChallengeAction;

/* "not-transport", "retry", "ask", "declined" or "rejected", as AnswerChallenge spells it. */
const char *challenge_action_to_string(ChallengeAction action);

/* What AnswerChallenge answers. Clear it with challenge_answer_clear(). */
typedef struct {
        ChallengeAction action;
        char identity[TLSID_IDENTITY_LEN + 1]; /* retry: sent; rejected: refused; else "" */
        guint32 generation;      /* the partition's generation the request goes out under */
        const char *status;      /* declined: "declined" or "unavailable" (static) */
        GPtrArray *eligible;     /* ask: CertInfo*, borrowed from the candidates */
        GPtrArray *candidates;   /* owned: what @eligible borrows from */
        TransportChallenge *challenge; /* owned: the schemes and hints found */
        gboolean flushed;        /* retry with the same identity: the partition was flushed */
        guint dropped;           /* tokens that flush dropped */
} ChallengeAnswer;

void challenge_answer_clear(ChallengeAnswer *answer);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ChallengeAnswer, challenge_answer_clear)

/* The certificates a challenge may be answered with (Candidate*, transfer full; NULL
 * exactly when @error is set). Called only when a certificate must be chosen. */
typedef GPtrArray *(*ChallengeCandidatesFn)(gpointer user_data, GError **error);

/* Answers the @n field values @values of a 401/407 to a request sent to (context, origin)
 * under @sent_generation (when @have_generation; else under the current one), at @now:
 *  - no usable transport challenge: NOT_TRANSPORT;
 *  - the retry that produced the current generation is challenged again: REJECTED;
 *  - else the decision among @candidates_fn's certificates the challenge's hints allow
 *    (mode "auto" picks only a single eligible one): DECLINED ("unavailable" when none is
 *    eligible), ASK, or RETRY, which makes the certificate the choice and always moves the
 *    partition to a new generation (the same choice is flushed, as FlushSessions does;
 *    ->flushed tells the caller to say so), so that nothing cached or pooled carries the
 *    re-sent request.
 * Returns FALSE exactly when @error is set (an invalid id, a context not open, a store
 * error, the candidates). */
gboolean challenge_answer(Store *store, ChallengeRetries *retries, const Policy *policy,
                          ChallengeCandidatesFn candidates_fn, gpointer user_data,
                          const char *context, const char *origin,
                          const char *const *values, guint n, gboolean have_generation,
                          guint32 sent_generation, gint64 now, ChallengeAnswer *ret,
                          GError **error);
