/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid: per-context TLS session partitions and client-certificate choices.
 *
 * A thin client of the tlsidd daemon (org.tlsid.Manager1 on the session bus). Every
 * function returns 0 (or a documented positive value) on success and a negative errno
 * on failure, and never aborts the caller; tlsid_error_message() then says why. Output
 * parameters are named ret_..., come last, and are not written on failure.
 *
 * Errors: -EINVAL (an argument is malformed; org.tlsid.Error.InvalidArgument),
 * -ENOENT (no such context), -ENOBUFS (a daemon limit), -EACCES (access denied),
 * -EIO (the daemon failed), -EREMOTEIO (a remembered choice is in force but could not be
 * saved; org.tlsid.Error.NotSaved), -ETIMEDOUT (no reply in time), -ECONNREFUSED (neither the
 * bus nor the daemon could be reached), -EHOSTDOWN (the daemon failed to start: the bus's
 * activation failed, or systemd's start job of tlsid.service; the message says how),
 * -ENOMEM.
 *
 * Thread safety: a TlsidClient and its contexts may be used from several threads at
 * once. Callbacks run in the thread that calls tlsid_client_dispatch().
 *
 * The functions of each section below ("---- Name ----") are defined in
 * client-lib/name.c. */
#pragma once

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TlsidClient TlsidClient;
typedef struct TlsidContext TlsidContext;

/* The state of a choice. */
typedef enum {
        TLSID_CHOICE_UNDECIDED = 0,
        TLSID_CHOICE_NONE = 1,
        TLSID_CHOICE_CERTIFICATE = 2,
} TlsidChoice;

/* ---- Error ---- */

/* The message of the last failing call in this thread, or "" (never NULL). */
const char *tlsid_error_message(void);

/* ---- Client ---- */
/* The connection to the daemon. */

/* Connects to the daemon through the bus at @bus_address (nullable: the session bus,
 * from DBUS_SESSION_BUS_ADDRESS). The daemon is activated on first use.
 * @ret_client: (transfer full). */
int tlsid_client_new(const char *bus_address, TlsidClient **ret_client);
/* Returns @client. */
TlsidClient *tlsid_client_ref(TlsidClient *client);
/* Drops a reference; accepts NULL; returns NULL. */
TlsidClient *tlsid_client_unref(TlsidClient *client);
/* tlsid_client_unref(*@client), then sets *@client to NULL; for
 * __attribute__((cleanup(tlsid_client_unrefp))). Accepts NULL and a pointer to NULL. */
void tlsid_client_unrefp(TlsidClient **client);
/* The timeout of each call in microseconds (default 1 s, which covers activating the
 * daemon); 0 restores the default. A handshake path sets it lower. */
int tlsid_client_set_timeout(TlsidClient *client, uint64_t usec);

/* The longest interactive timeout: 600 s. */
#define TLSID_INTERACTIVE_TIMEOUT_MAX_USEC UINT64_C(600000000)
/* How long tlsid_context_select_certificate() and tlsid_context_answer_challenge() of
 * @client's contexts let the daemon wait for the user when the answer would be "ask" and
 * an agent (tlsidctl agent, tlsid-picker) is registered: the agent's answer, applied as
 * tlsid_context_set_choice() would, then decides the call, or after @usec it answers
 * "ask" as without an agent. 0 (the default): never wait. At most
 * TLSID_INTERACTIVE_TIMEOUT_MAX_USEC, else -EINVAL; rounded up to milliseconds. Such a
 * call blocks up to @usec plus the client's timeout (tlsid_client_set_timeout()). */
int tlsid_client_set_interactive_timeout(TlsidClient *client, uint64_t usec);

/* A file descriptor that polls readable (POLLIN) when tlsid_client_dispatch() has work.
 * Owned by @client; do not close it. */
int tlsid_client_get_fd(TlsidClient *client);
/* Reads what is pending without blocking and runs the callbacks; returns the number of
 * signals delivered. */
int tlsid_client_dispatch(TlsidClient *client);

/* The unique bus name of the daemon, or -ENOENT when it is not running (it is not
 * activated). @ret_owner: (transfer full) free(). */
int tlsid_client_get_daemon(TlsidClient *client, char **ret_owner);

/* The daemon's counters (GetStatistics): its store, and how calls on it went. */
typedef struct {
        uint64_t contexts, partitions, tokens, bytes;
        uint64_t takes, hits, misses, puts, stale_puts, evictions, expirations, flushes;
        uint64_t uptime;
} TlsidStatistics;

int tlsid_client_get_statistics(TlsidClient *client, TlsidStatistics *ret_statistics);

/* ---- Signals ---- */
/* The daemon's signals, delivered by tlsid_client_dispatch(). */

/* Signal callbacks. When the daemon restarts, every partition changes: the library
 * reopens its contexts and reports this as sessions_flushed("", "", 0). */
typedef void (*TlsidIdentityChangedFn)(const char *context, const char *origin,
                                       TlsidChoice state, const char *identity,
                                       uint32_t generation, void *userdata);
typedef void (*TlsidSessionsFlushedFn)(const char *context, const char *origin,
                                       uint32_t dropped, void *userdata);
/* Sets (or with NULL clears) the callback. */
int tlsid_client_on_identity_changed(TlsidClient *client, TlsidIdentityChangedFn fn,
                                     void *userdata);
int tlsid_client_on_sessions_flushed(TlsidClient *client, TlsidSessionsFlushedFn fn,
                                     void *userdata);

/* A site asked for a certificate and the daemon asks the user (CertificateRequested):
 * once per prompt, whoever waits on it. @label: the context's label or "". @reason:
 * "handshake" or "challenge". @eligible_total: the certificates to choose from. */
typedef void (*TlsidCertificateRequestedFn)(const char *id, const char *context,
                                            const char *origin, const char *label,
                                            const char *reason, uint32_t eligible_total,
                                            void *userdata);
/* The prompt @id ended (CertificateRequestEnded). @outcome: "certificate", "none",
 * "cancel", "timeout", "abandoned" (every caller left) or "answered" (the choice was set
 * meanwhile by other means). */
typedef void (*TlsidCertificateRequestEndedFn)(const char *id, const char *outcome,
                                               void *userdata);
int tlsid_client_on_certificate_requested(TlsidClient *client, TlsidCertificateRequestedFn fn,
                                          void *userdata);
int tlsid_client_on_certificate_request_ended(TlsidClient *client,
                                              TlsidCertificateRequestEndedFn fn,
                                              void *userdata);

/* ---- Contexts ---- */
/* A context holds partitions and choices. */

/* Flags for tlsid_context_open(). */
#define TLSID_CONTEXT_EPHEMERAL (1u << 0)
/* Opens (or reopens) @context. @flags: TLSID_CONTEXT_EPHEMERAL. @label: nullable.
 * An ephemeral context lives while this client is connected; the library reopens its
 * contexts when the daemon restarts. @ret_context: (transfer full). */
int tlsid_context_open(TlsidClient *client, const char *context, unsigned flags,
                       const char *label, TlsidContext **ret_context);
/* Returns @context, with one more reference (for another thread, say). */
TlsidContext *tlsid_context_ref(TlsidContext *context);
/* Drops a reference to the handle (the last one frees it); accepts NULL; returns NULL.
 * Does not close the context. */
TlsidContext *tlsid_context_unref(TlsidContext *context);
/* tlsid_context_unref(*@context), then sets *@context to NULL; for
 * __attribute__((cleanup(tlsid_context_unrefp))). Accepts NULL and a pointer to NULL. */
void tlsid_context_unrefp(TlsidContext **context);
/* Closes the context in the daemon. @ret_dropped: (nullable) tokens dropped. */
int tlsid_context_close(TlsidContext *context, uint32_t *ret_dropped);
/* The context id (owned by @context). */
const char *tlsid_context_get_name(TlsidContext *context);
/* The client @context was opened on (borrowed: valid while @context is). */
TlsidClient *tlsid_context_get_client(TlsidContext *context);

/* CloseContext on a context this client has not opened; -ENOENT when it is not open.
 * @ret_dropped: (nullable) tokens dropped. */
int tlsid_client_close_context(TlsidClient *client, const char *context,
                               uint32_t *ret_dropped);

typedef struct {
        char *context;
        char *label;
        int ephemeral;
        uint32_t partitions;
        uint32_t tokens;
        uint64_t bytes;
        uint32_t choices;
} TlsidContextInfo;

/* The open contexts, sorted by id. The daemon gives them a page at a time (ListContexts)
 * and this call reads every page, so the array is not one snapshot: a context open from
 * the first page to the last is in it exactly once, one opened or closed meanwhile may
 * or may not be. @ret_infos: (transfer full) free with tlsid_context_infos_free(). */
int tlsid_client_list_contexts(TlsidClient *client, TlsidContextInfo **ret_infos,
                               size_t *ret_n);
void tlsid_context_infos_free(TlsidContextInfo *infos, size_t n);

/* ---- Sessions ---- */
/* Partitions and their resumption tokens. */

/* The current partition of @origin ("host:port"). Each output is nullable.
 * @ret_identity, @ret_peer_id: (transfer full) free(). */
int tlsid_context_get_partition(TlsidContext *context, const char *origin,
                                TlsidChoice *ret_state, char **ret_identity,
                                uint32_t *ret_generation, char **ret_peer_id);
/* tlsid_context_get_partition() and, when the partition has no identity, taking its
 * newest token (as tlsid_context_take_session()), in one round trip: what a new TLS
 * connection needs. Returns 1 with the token, 0 with *@ret_token NULL and *@ret_len 0.
 * @ret_token: (transfer full) free with tlsid_secret_free(). */
int tlsid_context_begin_connection(TlsidContext *context, const char *origin,
                                   TlsidChoice *ret_state, char **ret_identity,
                                   uint32_t *ret_generation, char **ret_peer_id,
                                   void **ret_token, size_t *ret_len);
/* Stores a resumption token for the partition (identity, generation) without waiting
 * for a reply. @expires: Unix seconds. @tls_version: e.g. 0x0304, 0 when unknown.
 * @alpn: nullable. */
int tlsid_context_put_session(TlsidContext *context, const char *origin,
                              const char *identity, uint32_t generation,
                              const void *token, size_t len, int64_t expires,
                              uint16_t tls_version, const char *alpn);
/* Takes the newest token of the partition. Returns 1 and the token, or 0 with both
 * outputs set to NULL/0 when there is none. @ret_token: (transfer full) free with
 * tlsid_secret_free(). */
int tlsid_context_take_session(TlsidContext *context, const char *origin,
                               const char *identity, uint32_t generation,
                               void **ret_token, size_t *ret_len);
/* The TLS stacks the daemon tells tokens apart by: a token goes only to a taker of the
 * stack that made it. The calls above are NSS's (libtlsid-nss); a client of another TLS
 * library names its stack in the ..._for() forms. */
#define TLSID_STACK_NSS "nss"
#define TLSID_STACK_OPENSSL "openssl"
/* tlsid_context_begin_connection() for @stack's tokens; with TLSID_STACK_OPENSSL a
 * partition with an identity hands out its tokens too (an OpenSSL session serialises
 * whole, the certificate it sent included, and the identity is in the partition). */
int tlsid_context_begin_connection_for(TlsidContext *context, const char *origin,
                                       const char *stack, TlsidChoice *ret_state,
                                       char **ret_identity, uint32_t *ret_generation,
                                       char **ret_peer_id, void **ret_token, size_t *ret_len);
/* tlsid_context_put_session() of a token made by @stack. */
int tlsid_context_put_session_for(TlsidContext *context, const char *origin,
                                  const char *identity, uint32_t generation, const char *stack,
                                  const void *token, size_t len, int64_t expires,
                                  uint16_t tls_version, const char *alpn);
/* tlsid_context_take_session() among @stack's tokens. */
int tlsid_context_take_session_for(TlsidContext *context, const char *origin,
                                   const char *identity, uint32_t generation,
                                   const char *stack, void **ret_token, size_t *ret_len);
/* Zeroes @len bytes at @p and frees it; accepts NULL. */
void tlsid_secret_free(void *p, size_t len);

/* @context and @origin: nullable or "" for all. */
int tlsid_client_flush_sessions(TlsidClient *client, const char *context, const char *origin,
                                uint32_t *ret_dropped);

typedef struct {
        char *context;
        char *origin;
        char *identity;
        uint32_t generation;
        uint32_t tokens;
        int64_t earliest_expiry;
        uint64_t bytes;
} TlsidSessionInfo;

/* The partitions of @context (nullable or "" for all), sorted by context then origin,
 * read page after page as tlsid_client_list_contexts() does; -ENOENT when @context is
 * closed meanwhile. @ret_infos: (transfer full) free with tlsid_session_infos_free(). */
int tlsid_client_list_sessions(TlsidClient *client, const char *context,
                               TlsidSessionInfo **ret_infos, size_t *ret_n);
void tlsid_session_infos_free(TlsidSessionInfo *infos, size_t n);

/* The key NSS clients wrap session secrets in resumption tokens with (GetTokenKey), so
 * that tokens resume across the user's processes: 32 bytes, fixed for the daemon's
 * lifetime. A secret: never log it. @ret_key: (transfer full) free with
 * tlsid_secret_free(). */
int tlsid_client_get_token_key(TlsidClient *client, void **ret_key, size_t *ret_len);

/* ---- Calls ----
 * The calls of a new connection's path, without waiting: the call is sent at once, and
 * its fd polls readable (POLLIN) when the reply is in or the client's timeout passed.
 * Then tlsid_call_dispatch() returns 1 and a finish function reads the reply. Nothing
 * blocks: not on the daemon, not on another thread's blocking call on the same client
 * (which may read the reply itself; the fd tells that too), and no signal callback runs
 * (they still run in tlsid_client_dispatch()). Unlike the blocking calls, a call made
 * here is not retried after a lost bus connection or a daemon restart: it fails, and
 * the next one reconnects. A TlsidCall is used by one thread at a time. */
typedef struct TlsidCall TlsidCall;

/* tlsid_context_get_partition(), sent now. @ret_call: (transfer full) free with
 * tlsid_call_free(). */
int tlsid_context_get_partition_async(TlsidContext *context, const char *origin,
                                      TlsidCall **ret_call);
/* tlsid_context_begin_connection(), sent now. The daemon takes the partition's token
 * when it handles the call: freeing the call before its reply is in loses that token.
 * @ret_call: (transfer full). */
int tlsid_context_begin_connection_async(TlsidContext *context, const char *origin,
                                         TlsidCall **ret_call);
/* tlsid_context_take_session(), sent now (the same token caveat). @ret_call: (transfer
 * full). */
int tlsid_context_take_session_async(TlsidContext *context, const char *origin,
                                     const char *identity, uint32_t generation,
                                     TlsidCall **ret_call);
/* The same for @stack's tokens (BeginConnectionFor, TakeSessionFor; see
 * tlsid_context_begin_connection_for()); the finish functions read their replies. */
int tlsid_context_begin_connection_for_async(TlsidContext *context, const char *origin,
                                             const char *stack, TlsidCall **ret_call);
int tlsid_context_take_session_for_async(TlsidContext *context, const char *origin,
                                         const char *identity, uint32_t generation,
                                         const char *stack, TlsidCall **ret_call);
/* The fd to poll for POLLIN (owned by @call); it stays readable once the call ended. */
int tlsid_call_get_fd(const TlsidCall *call);
/* Reads what arrived: 1 when the call ended (its reply is in, or it failed: the finish
 * function says how), 0 when it is still in flight. */
int tlsid_call_dispatch(TlsidCall *call);
/* The reply of a call of GetPartition or BeginConnection that ended, as
 * tlsid_context_begin_connection() returns it (@ret_token and @ret_len nullable together;
 * for GetPartition they get NULL and 0); -EAGAIN when it has not ended. */
int tlsid_call_finish_partition(TlsidCall *call, TlsidChoice *ret_state, char **ret_identity,
                                uint32_t *ret_generation, char **ret_peer_id,
                                void **ret_token, size_t *ret_len);
/* The reply of a TakeSession call that ended, as tlsid_context_take_session(). */
int tlsid_call_finish_session(TlsidCall *call, void **ret_token, size_t *ret_len);
/* Frees @call, cancelling it when it is still in flight; accepts NULL. */
void tlsid_call_free(TlsidCall *call);

/* ---- Choices ---- */
/* The certificate choice of an origin. */

/* Flags for tlsid_context_set_choice() and tlsid_client_answer_request(). */
#define TLSID_CHOICE_REMEMBER (1u << 0)

/* Sets the choice of @origin. @identity: the SHA-256 fingerprint (64 lower-case hex)
 * for TLSID_CHOICE_CERTIFICATE, otherwise NULL or "". @flags: TLSID_CHOICE_REMEMBER,
 * which returns once the choice is on disk, or -EREMOTEIO when it cannot be saved (the
 * choice is in force all the same). */
int tlsid_context_set_choice(TlsidContext *context, const char *origin, TlsidChoice state,
                             const char *identity, unsigned flags);

/* SetChoice on a context this client has not opened. */
int tlsid_client_set_choice(TlsidClient *client, const char *context, const char *origin,
                            TlsidChoice state, const char *identity, unsigned flags);

/* @context and @origin: nullable or "" for all. */
int tlsid_client_forget_choices(TlsidClient *client, const char *context, const char *origin,
                                uint32_t *ret_forgotten);

/* ---- Certificates ---- */
/* Client certificates and their selection. */

/* A certificate as the daemon describes it. Every string is owned by the array it is in
 * (free the array with tlsid_certificate_infos_free()). The subject, issuer and nickname
 * are at most 1024 bytes: a longer one is cut and ends in "..."; the identity names the
 * certificate. */
typedef struct {
        char *identity;     /* SHA-256 of the DER, 64 lower-case hex characters */
        char *subject;      /* RFC 4514 */
        char *issuer;       /* RFC 4514 */
        int64_t not_before; /* Unix seconds */
        int64_t not_after;  /* Unix seconds */
        char *key_type;     /* "rsa", "rsa-pss", "ec", "ed25519", "dsa", "dh" or "unknown" */
        char *nickname;     /* (nullable) the NSS database's nickname */
        char *source;       /* (nullable) "database" or "application" (ListCertificates) */
        char *offered_by;   /* (nullable) the application that offered it */
} TlsidCertificateInfo;

/* Frees @infos and their strings; accepts NULL. */
void tlsid_certificate_infos_free(TlsidCertificateInfo *infos, size_t n);

/* The user's certificates with a private key in the daemon's NSS database (none when
 * it has no database), then those applications offered as candidates from databases of
 * their own, each part sorted by nickname (certificates without one last), then by
 * identity. Read page by page (ListCertificates), so the list has no bound but memory;
 * it is not one snapshot when the certificates change meanwhile. @ret_infos: (transfer
 * full) free with tlsid_certificate_infos_free(). */
int tlsid_client_list_certificates(TlsidClient *client, TlsidCertificateInfo **ret_infos,
                                   size_t *ret_n);

/* The certificate selection policy in force, as JSON. @ret_json: (transfer full) free().
 * @ret_error: (nullable) (transfer full) free(): why policy.json on disk is not in force
 * ("policy.json:LINE:COLUMN: ..."; the previous policy stays), or NULL when it is. */
int tlsid_client_get_policy(TlsidClient *client, char **ret_json, char **ret_error);

/* A DER blob the caller owns: a certificate or a distinguished name. */
typedef struct {
        const void *der;
        size_t len;
} TlsidDer;

/* A TLS 1.3 oid_filters entry (RFC 8446 4.2.5). */
typedef struct {
        const void *oid;    /* DER contents octets of the extension OID (no tag, no length) */
        size_t oid_len;
        const void *values; /* DER of the required extension value */
        size_t values_len;
} TlsidOidFilter;

/* What the server's CertificateRequest asked for. Start from a zeroed struct: every
 * field left 0/NULL is not sent (the daemon then assumes "any"). Nothing is copied or
 * kept after the call. */
typedef struct {
        uint16_t tls_version;               /* 0x0303, 0x0304; 0 unknown */
        const TlsidDer *ca_names;           /* certificate_authorities; none: any CA */
        size_t n_ca_names;                  /* at most 256 */
        const uint8_t *certificate_types;   /* TLS 1.2 ClientCertificateType codes */
        size_t n_certificate_types;         /* at most 255 */
        const uint16_t *signature_schemes;  /* signature_algorithms */
        size_t n_signature_schemes;         /* at most 1024 */
        const uint16_t *signature_schemes_cert; /* TLS 1.3 signature_algorithms_cert */
        size_t n_signature_schemes_cert;    /* at most 1024 */
        const TlsidOidFilter *oid_filters;  /* TLS 1.3 */
        size_t n_oid_filters;               /* at most 64 */
        const void *server_certificate;     /* (nullable) the server's certificate, DER */
        size_t server_certificate_len;
        uint16_t cipher_suite;              /* 0 unknown */
        int post_handshake;                 /* nonzero: a TLS 1.3 post-handshake request */
        int renegotiation;                  /* nonzero: a TLS 1.2 renegotiation's request */
        /* The generation of the partition the connection was attached under: nonzero
         * binds the connection to that partition (TLSID_DECISION_STALE). */
        uint32_t generation;
} TlsidCertRequest;

/* A certificate the application can use (it holds the key) and its chain. */
typedef struct {
        const void *der;        /* the leaf certificate, DER, at most 64 KiB */
        size_t len;
        const TlsidDer *chain;  /* (nullable) issuer of the leaf first; at most 8 */
        size_t n_chain;
        const char *nickname;   /* (nullable) the application's name for it, UTF-8 */
} TlsidCandidate;

/* What SelectCertificate decided. */
typedef enum {
        TLSID_DECISION_ASK = 0,         /* show a picker, then tlsid_context_set_choice() */
        TLSID_DECISION_NONE = 1,        /* send no certificate */
        TLSID_DECISION_CERTIFICATE = 2, /* send the certificate *ret_identity names */
        TLSID_DECISION_STALE = 3,       /* send none; the connection's partition moved on:
                                         * retire it, send the request on a new one */
} TlsidDecision;

/* Decides which certificate to send to @origin for a server's @request (nullable: any),
 * from @candidates (@n at most 64; none: the user's certificates in the daemon's NSS
 * database). The remembered choice wins when that certificate is eligible; a remembered
 * certificate that is not gives TLSID_DECISION_ASK, never another one. A certificate
 * the policy selects becomes the choice as with tlsid_context_set_choice() (an
 * IdentityChanged when it is a change). With @request->generation the connection is
 * bound to the partition it was attached under: TLSID_DECISION_STALE when that moved on,
 * or when a certificate is chosen now for a connection with none after application data
 * flowed (@request->renegotiation, ->post_handshake); during a first handshake such a
 * choice moves the connection to the new partition (*@ret_generation).
 * @ret_identity: (nullable) (transfer full) free(): the fingerprint for
 * TLSID_DECISION_CERTIFICATE, else "". @ret_generation: (nullable) the generation of the
 * partition the connection belongs to now. @ret_eligible, @ret_n_eligible: (nullable,
 * both or neither) (transfer full) the certificates @request allows, best first; free
 * with tlsid_certificate_infos_free(). At most the 64 best: with @candidates that is
 * every eligible one; from the daemon's database it may be fewer than are eligible. The
 * decision is made among all of them, so any eligible certificate can be chosen
 * (tlsid_context_set_choice() with an identity tlsid_client_list_certificates() gives). */
int tlsid_context_select_certificate(TlsidContext *context, const char *origin,
                                     const TlsidCertRequest *request,
                                     const TlsidCandidate *candidates, size_t n,
                                     TlsidDecision *ret_decision, char **ret_identity,
                                     uint32_t *ret_generation,
                                     TlsidCertificateInfo **ret_eligible,
                                     size_t *ret_n_eligible);

/* ---- Challenges ---- */
/* Transport challenges (docs/transport-challenge.md). */

/* What to do about a 401/407 response (AnswerChallenge). */
typedef enum {
        TLSID_ANSWER_NOT_TRANSPORT = 0, /* no transport challenge: handle it as usual */
        TLSID_ANSWER_RETRY = 1,         /* new connection (to url if set), send again */
        TLSID_ANSWER_ASK = 2,           /* show eligible, tlsid_context_set_choice(), retry */
        TLSID_ANSWER_DECLINED = 3,      /* send authorization in header, no certificate */
        TLSID_ANSWER_REJECTED = 4,      /* the server refused identity: do not retry */
} TlsidAnswerAction;

/* The daemon's answer; free with tlsid_challenge_answer_free(). Strings are never NULL
 * ("" when absent) except where marked nullable. */
typedef struct {
        TlsidAnswerAction action;
        char *identity;                 /* RETRY: the certificate; REJECTED: the refused
                                         * one, when the connection sent it, else "" */
        uint32_t generation;            /* RETRY: @origin's new generation; else the
                                         * current one of (context, origin) */
        char *origin;                   /* RETRY, ASK, DECLINED: the origin decided for,
                                         * where the request goes (url's, or the one asked) */
        char *subject;                  /* REJECTED: the refused certificate's subject */
        char *recover;                  /* REJECTED: what the user can do, one sentence */
        char **schemes;                 /* the auth-schemes seen, lower-case; NULL-terminated */
        size_t n_schemes;
        char *error;                    /* why a value or hint was ignored, or "" */
        char *realm;                    /* or "" */
        char *url;                      /* RETRY: where to send it, or "" */
        char *header;                   /* DECLINED: "Authorization" or "Proxy-Authorization" */
        char *authorization;            /* DECLINED: the field value to send */
        char *status;                   /* DECLINED: "declined" or "unavailable" */
        TlsidCertificateInfo *eligible; /* ASK: the certificates to choose from, best first,
                                         * at most the 64 best */
        size_t n_eligible;
        size_t eligible_total;          /* ASK: how many are eligible; more than n_eligible
                                         * only when the list was cut at 64 (any of them can
                                         * still be chosen by identity) */
} TlsidChallengeAnswer;

/* Flags for tlsid_context_answer_challenge(). */
#define TLSID_CHALLENGE_PROXY (1u << 0) /* the values are Proxy-Authenticate (a 407) */

/* What the connection that carried the challenged request saw; start from a zeroed
 * struct (every field is optional). */
typedef struct {
        const TlsidCertRequest *request;  /* (nullable) its last CertificateRequest: the
                                           * eligible certificates must satisfy it */
        const TlsidCandidate *candidates; /* (nullable) the application's certificates;
                                           * none: the daemon's database */
        size_t n_candidates;              /* at most 64 */
        const char *sent_identity;        /* (nullable) what it sent ("": none), so that
                                           * REJECTED names only a certificate it sent */
} TlsidChallengeConnection;

/* Answers the transport challenge among @field_values (@n WWW-Authenticate or, with
 * TLSID_CHALLENGE_PROXY, Proxy-Authenticate values as received; bytes that are not UTF-8
 * are read as ISO-8859-1) of a response from @origin to a request sent under partition
 * generation @generation (negative: the current one), on a connection that saw
 * @connection (nullable: nothing known). A malformed value is not an error: it shows in
 * the answer's error. @ret_answer: (transfer full). */
int tlsid_context_answer_challenge(TlsidContext *context, const char *origin,
                                   const char *const *field_values, size_t n, unsigned flags,
                                   int64_t generation,
                                   const TlsidChallengeConnection *connection,
                                   TlsidChallengeAnswer **ret_answer);
/* Frees @answer; accepts NULL. */
void tlsid_challenge_answer_free(TlsidChallengeAnswer *answer);
/* "not-transport", "retry", "ask", "declined" or "rejected" (static). */
const char *tlsid_answer_action_to_string(TlsidAnswerAction action);

/* ---- Requests ---- */
/* What waits for the user's answer now (ListRequests). */

typedef struct {
        char *id;
        char *context;
        char *label;            /* "" when the context has none */
        char *origin;
        char *reason;           /* "handshake" or "challenge" */
        int64_t since;          /* Unix seconds */
        uint32_t waiters;       /* calls waiting on it */
        char *agent;            /* the bus name of the agent asked, "" when none yet */
} TlsidRequestInfo;

/* The prompts waiting now (at most 64). @ret_infos: (transfer full) free with
 * tlsid_request_infos_free(). */
int tlsid_client_list_requests(TlsidClient *client, TlsidRequestInfo **ret_infos,
                               size_t *ret_n);
/* Frees @infos and their strings; accepts NULL. */
void tlsid_request_infos_free(TlsidRequestInfo *infos, size_t n);

/* ---- Agent ---- */
/* Asking the user on the daemon's behalf (org.tlsid.Agent1), as tlsidctl agent does. */

/* What the daemon asks the user to decide (RequestChoice). The library owns it: valid
 * during the callback only. Fields may be added at the end in later versions. */
typedef struct {
        const char *id;                 /* answer with it */
        const char *context;
        const char *label;              /* the context's label (the tab), or "" */
        int ephemeral;                  /* nonzero: remembering is not possible */
        const char *origin;             /* "host:port" */
        const char *reason;             /* "handshake" or "challenge" */
        const char *realm;              /* a challenge's realm, or "" */
        const char *const *ca_names;    /* RFC 4514 names of the CAs asked for; none: any */
        size_t n_ca_names;
        const TlsidCertificateInfo *certificates; /* the eligible ones, best first */
        size_t n_certificates;
        uint32_t eligible_total;        /* how many are eligible (may exceed the list) */
        uint32_t timeout_ms;            /* how long the daemon waits for the answer */
} TlsidAgentRequest;

/* How the user answered. */
typedef enum {
        TLSID_AGENT_CANCEL = 0,         /* no decision: nothing changes */
        TLSID_AGENT_NONE = 1,           /* send no certificate to this origin */
        TLSID_AGENT_CERTIFICATE = 2,    /* send the certificate an identity names */
} TlsidAgentAnswer;

/* A request to put to the user; answer it with tlsid_client_answer_request(), now or
 * later (before its timeout_ms pass). */
typedef void (*TlsidAgentRequestFn)(TlsidClient *client, const TlsidAgentRequest *request,
                                    void *userdata);
/* The daemon withdrew request @id (its callers left or timed out, or the choice was set
 * meanwhile): close its prompt; answering it now is -ENOENT. */
typedef void (*TlsidAgentCancelFn)(TlsidClient *client, const char *id, void *userdata);

/* Registers @client as an agent of the daemon (RegisterAgent): the daemon's requests
 * arrive through tlsid_client_dispatch() at @request, its withdrawals at @cancel
 * (nullable). The library registers again when it reconnects or the daemon restarts
 * (requests pending then are withdrawn). At most one agent per client: -EBUSY. */
int tlsid_client_register_agent(TlsidClient *client, TlsidAgentRequestFn request,
                                TlsidAgentCancelFn cancel, void *userdata);
/* Unregisters it (UnregisterAgent); requests not answered yet are answered cancel.
 * -ENOENT when no agent is registered. */
int tlsid_client_unregister_agent(TlsidClient *client);
/* Answers request @id: TLSID_AGENT_CERTIFICATE with @identity (one of the request's
 * certificates, or any eligible one), otherwise @identity NULL or "". @flags:
 * TLSID_CHOICE_REMEMBER keeps the answer across daemon restarts and CloseContext, as
 * tlsid_context_set_choice() does. -ENOENT when @id is not pending (answered, withdrawn or
 * unknown). */
int tlsid_client_answer_request(TlsidClient *client, const char *id, TlsidAgentAnswer answer,
                                const char *identity, unsigned flags);

#ifdef __cplusplus
}
#endif
