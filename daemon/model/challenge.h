/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport auth-scheme (docs/transport-challenge.md): finding the challenge among a
 * response's field values and reading its hints, the loop guard (ChallengeRetries), and
 * the answer AnswerChallenge gives. No D-Bus, no NSS: candidates come parsed. */
#pragma once

#include <glib.h>

#include "cert-info.h"
#include "eligibility.h"
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
/* Charges every record to @budget (nullable: none), the store's max_memory total; set it
 * before the first record. */
void challenge_retries_set_budget(ChallengeRetries *retries, MemoryBudget *budget);
/* Accepts NULL. */
void challenge_retries_free(ChallengeRetries *retries);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ChallengeRetries, challenge_retries_free)
/* Notes that a retry moved (context, origin) to @generation to send @identity, whose
 * subject is @subject (nullable). */
void challenge_retries_remember(ChallengeRetries *retries, const char *context,
                                const char *origin, guint32 generation, const char *identity,
                                const char *subject);
/* The identity the retry that moved (context, origin) to @generation sent, or NULL when
 * no retry did; @ret_subject (nullable) gets its subject or NULL (both borrowed: valid
 * until the next remember). */
const char *challenge_retries_refused(ChallengeRetries *retries, const char *context,
                                      const char *origin, guint32 generation,
                                      const char **ret_subject);
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
        char identity[TLSID_IDENTITY_LEN + 1]; /* retry: to send; rejected: refused; else "" */
        char *subject;           /* rejected: the refused certificate's subject, or NULL */
        char origin[TLSID_ORIGIN_MAX + 1]; /* retry, ask: where the re-sent request goes
                                            * (the challenge's url, else the origin) */
        guint32 generation;      /* retry: that origin's new generation; else the current
                                  * one of the challenged origin */
        const char *status;      /* declined: "declined" or "unavailable" (static) */
        GPtrArray *eligible;     /* ask: CertInfo*, borrowed from the candidates */
        GPtrArray *candidates;   /* owned: what @eligible borrows from */
        TransportChallenge *challenge; /* owned: the schemes and hints found */
        gboolean flushed;        /* retry with the same identity: ->origin was flushed */
        guint dropped;           /* tokens that flush dropped */
} ChallengeAnswer;

void challenge_answer_clear(ChallengeAnswer *answer);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ChallengeAnswer, challenge_answer_clear)

/* The certificates a challenge may be answered with (Candidate*, transfer full; NULL
 * exactly when @error is set). Called only when a certificate must be chosen and the
 * caller passed none. */
typedef GPtrArray *(*ChallengeCandidatesFn)(gpointer user_data, GError **error);

/* A 401/407 response to a request sent to (context, origin), and what the connection
 * that carried it saw. */
typedef struct {
        const char *const *values; /* the WWW-Authenticate (Proxy-) field values */
        guint n_values;
        gboolean have_generation;  /* the request went out under @generation, else under
                                    * the current one */
        guint32 generation;
        const CertRequest *request; /* nullable: the connection's last CertificateRequest */
        GPtrArray *candidates;      /* nullable or empty: the application's certificates
                                     * (Candidate*); else the candidates function's */
        const char *sent_identity;  /* nullable: the certificate the connection sent ("":
                                     * none); unknown when NULL */
} ChallengeQuestion;

/* Answers @q at @now:
 *  - no usable transport challenge: NOT_TRANSPORT;
 *  - the request was the one a retry re-sent (under the generation that retry produced,
 *    to this origin): REJECTED, naming the certificate only when the connection sent it;
 *  - else the decision for the origin the request is to be re-sent to (the challenge's
 *    url, else this origin) among the candidates that the connection's CertificateRequest
 *    and the challenge's hints allow (mode "auto" picks only a single eligible one):
 *    DECLINED ("unavailable" when none is eligible), ASK, or RETRY, which makes the
 *    certificate that origin's choice and always moves its partition to a new
 *    generation (the same choice is flushed, as FlushSessions does; ->flushed tells the
 *    caller to say so), so that nothing cached or pooled carries the re-sent request.
 * Returns FALSE exactly when @error is set (an invalid id, a context not open, a store
 * error, the candidates). */
gboolean challenge_answer(Store *store, ChallengeRetries *retries, const Policy *policy,
                          ChallengeCandidatesFn candidates_fn, gpointer user_data,
                          const char *context, const char *origin,
                          const ChallengeQuestion *q, gint64 now, ChallengeAnswer *ret,
                          GError **error);

/* The origin ("host:port", lower-case, IPv6 in brackets) of the https @url, or NULL when
 * it has none that is valid (transfer full). */
char *challenge_url_origin(const char *url);
