/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the TLS adapters (libtlsid-nss, libtlsid-openssl) share, whatever their stack: the
 * outbox of new tokens (adapter-outbox.c), the outage report (adapter-report.c), the
 * origin and signal rules of a connection (adapter-connection.c), the asynchronous
 * attach's round trips (adapter-attach-async.c), and the certificate decision with its
 * binding rule (adapter-client-auth.c). Each adapter's shared library links its own copy
 * and defines the adapter_... constants below. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsid-ids.h"
#include "tlsid-limits.h"
#include "tlsid/tlsid.h"

#define _public_ __attribute__((visibility("default")))

/* The bound on one daemon call on the handshake path (TLSID_NSS_DEFAULT_TIMEOUT_USEC,
 * TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC). */
#define ADAPTER_DEFAULT_TIMEOUT_USEC 250000u

/* Bytes of a partition's peer id as the adapter keeps it (the daemon's are 71). */
#define PEER_ID_MAX 127

/* ---- Defined by each adapter ---- */

/* The name its messages start with ("libtlsid-nss"). */
extern const char adapter_name[];
/* The stack its tokens are tagged with for the daemon (TLSID_STACK_...), or NULL for NSS,
 * whose calls are the untagged ones. */
extern const char *const adapter_stack;
/* Whether its tokens of partitions with an identity may serve (OpenSSL's sessions keep
 * the certificate they sent; NSS exports none). */
extern const bool adapter_stack_resumes_identities;
/* Called under the outbox's lock before each token is queued: false drops it (NSS: its
 * shutdown hook cannot be registered). */
bool outbox_may_queue(void);

/* ---- adapter-report.c ---- */

typedef void (*AdapterReportFn)(const char *message, void *userdata);
/* The daemon could not serve a call (@r): reported once per outage. */
void note_unreachable(int r);
/* The daemon answered: the end of an outage is reported once. */
void note_reachable(void);
/* Where reports go; NULL: one line on stderr. */
void report_set_function(AdapterReportFn fn, void *userdata);

/* Failures the caller caused, which attach returns; any other one means the daemon cannot
 * serve us now, and the connection goes on without it. */
static inline bool is_caller_error(int r) {
        return r == -EINVAL || r == -ENOMEM || r == -ENOENT;
}

/* ---- adapter-connection.c ---- */

typedef struct Put Put;

/* "host:port" of @host (a DNS name or IP literal; an IPv6 literal with or without
 * brackets) and @port, checked as the daemon would; -EINVAL when it is not an origin. */
int adapter_make_origin(const char *host, uint16_t port, char *out, size_t size);
/* What a stack may keep with a queued token of its own: its session as an object (an
 * OpenSSL SSL_SESSION), so that the process's next connection need not decode the token. */
typedef void (*AdapterObjectFree)(void *object);

/* Where a new connection of (@context, @origin) starts: its partition, and the token it
 * resumes, if any (transfer full: free with tlsid_secret_free()), with the object its put
 * kept when it came from this process's outbox (transfer full: free with object_free). */
typedef struct {
        char identity[TLSID_IDENTITY_LEN + 1];
        uint32_t generation;
        char peer_id[PEER_ID_MAX + 1];
        void *token;
        size_t len;
        void *object;
        AdapterObjectFree object_free;
} AdapterBegin;
/* Asks the daemon for the partition (and a token in the same round trip), after this
 * process's own outbox, whose newest token for the origin serves first when the daemon's
 * answer says it was made under the current partition. A partition with an identity gets
 * a token only when adapter_stack_resumes_identities. 0 or the daemon's negative errno. */
int adapter_begin_partition(TlsidContext *context, const char *origin, AdapterBegin *ret);
/* adapter_begin_partition()'s step after the daemon's answer, for an adapter whose round
 * trips do not wait (@own: the put outbox_claim() returned, nullable; freed and NULL when
 * the partition has an identity, its token taken when it serves; @identity and @peer_id
 * taken; @token taken, NULL after GetPartition). Returns 1 when TakeSession should still be
 * asked (the process's own token was made under a partition gone since), else 0. */
int adapter_plan_answer(TlsidContext *context, const char *origin, Put **own, char *identity,
                        uint32_t generation, char *peer_id, void *token, size_t len,
                        AdapterBegin *ret);
/* Whether a signal for (@context, @origin) ("" a wildcard) concerns a connection of
 * @own_context to @own_origin: 1 or 0, -EINVAL for NULL. */
int adapter_signal_matches(TlsidContext *own_context, const char *own_origin,
                           const char *context, const char *origin);
/* Whether a connection made under (@identity, @generation) may still carry requests: 1,
 * 0, or the daemon's negative errno (one GetPartition). @stale or @degraded: 0 (a
 * degraded one is retired once the daemon answers). */
int adapter_partition_is_current(TlsidContext *context, const char *origin,
                                 const char *identity, uint32_t generation, bool stale,
                                 bool degraded);

/* ---- adapter-attach-async.c ---- */

/* adapter_begin_partition() without waiting: its round trips in flight. */
typedef struct AdapterAttach AdapterAttach;
/* Claims the process's own token of (@context, @origin) and sends the first round trip.
 * Only a caller's error fails (is_caller_error()); when the daemon cannot be reached the
 * attach is done at once, and adapter_attach_end() says so. @ret_attach: (transfer full)
 * ends with adapter_attach_end() or adapter_attach_cancel(). */
int adapter_attach_start(TlsidContext *context, const char *origin,
                         AdapterAttach **ret_attach);
/* An attach that a step of the stack's own before the round trips ended with @r: a
 * caller's error is returned, any other one makes an attach done at once, failed closed. */
int adapter_attach_start_failed(TlsidContext *context, const char *origin, int r,
                                AdapterAttach **ret_attach);
/* The fd that polls readable (POLLIN) when the round trips ended (owned by @a; the same
 * number for its whole life). */
int adapter_attach_get_fd(const AdapterAttach *a);
/* Reads what arrived: 1 when the round trips ended, 0 while one is in flight. */
int adapter_attach_dispatch(AdapterAttach *a);
/* Waits for what is still in flight (bounded by the client's timeout) and frees @a:
 * adapter_begin_partition()'s result. */
int adapter_attach_end(AdapterAttach *a, AdapterBegin *ret);
/* Frees @a, cancelling what is in flight: the process's own token goes back to the
 * outbox while it may still serve; a token of the daemon's, when the partition it serves
 * is known, comes back in @ret_rest with that partition (for the stack to date and queue;
 * else @ret_rest is all zero). A token BeginConnection took for a reply that never came
 * is lost with the reply. */
void adapter_attach_cancel(AdapterAttach *a, AdapterBegin *ret_rest);

/* ---- adapter-client-auth.c ---- */

/* SelectCertificate for a connection of (@context, @origin): the answer in the ret_...
 * (@ret_identity: TLSID_IDENTITY_LEN + 1 bytes); its error in *@ret_r; an outage is
 * reported, the daemon's answer ends one. */
void adapter_select(TlsidContext *context, const char *origin, const TlsidCertRequest *request,
                    const TlsidCandidate *candidates, size_t n, int *ret_r,
                    TlsidDecision *ret_decision, char *ret_identity, uint32_t *ret_generation,
                    TlsidCertificateInfo **ret_eligible, size_t *ret_n_eligible);

/* What the binding rule makes of SelectCertificate's answer for a connection. */
typedef enum {
        BIND_NONE,      /* send nothing */
        BIND_SEND,      /* send the answer's identity, the connection's own */
        BIND_MOVED,     /* send it: the connection moves to the partition the choice made
                         * now (generation: the answer's; peer id: unknown) */
        BIND_STALE,     /* send nothing: the connection is stale, its decision "stale" */
} AdapterBind;

/* A connection presents its partition's identity (@identity, "" for none), and never
 * another: the one exception is a first handshake (!@mid_connection) of a connection
 * attached, not @degraded, with none, which moves to the partition the choice made now
 * created (nothing has flowed on it yet). @decision and @answer_identity: the answer of a
 * call that succeeded. */
AdapterBind adapter_bind(TlsidDecision decision, const char *answer_identity,
                         const char *identity, bool mid_connection, bool degraded);

/* ---- adapter-outbox.c ---- */

/* The partition a token was made under, as the outbox copies it. */
typedef struct {
        TlsidContext *context;
        const char *origin;
        const char *identity;
        uint32_t generation;
        const char *peer_id;            /* "": never served from the outbox */
} AdapterPartition;

/* A new token queued for the daemon, with the partition it was made under. */
struct Put {
        struct Put *next;
        TlsidContext *context;          /* a reference */
        const char *stack;              /* adapter_stack */
        char origin[TLSID_ORIGIN_MAX + 1];
        char identity[TLSID_IDENTITY_LEN + 1];
        uint32_t generation;
        char peer_id[PEER_ID_MAX + 1];  /* "": never served from the outbox */
        int64_t expires;                /* Unix seconds, as the stack dated the session */
        uint16_t version;
        char alpn[TLSID_ALPN_MAX + 1];  /* "" when none was negotiated */
        uint64_t queued_usec;           /* CLOCK_MONOTONIC */
        uint64_t serial;
        void *token;                    /* zeroed when freed */
        size_t len;
        void *object;                   /* nullable: the stack's own form of the session */
        AdapterObjectFree object_free;
};

/* Queues @token (taking it, @len bytes) made under @at, expiring at @expires (Unix
 * seconds; a token without one is dropped), negotiated as @version with @alpn (nullable);
 * takes @object too (nullable), freed with @object_free with the put. */
void outbox_put(const AdapterPartition *at, void *token, size_t len, int64_t expires,
                uint16_t version, const char *alpn, void *object,
                AdapterObjectFree object_free);
/* Removes and returns the newest queued token of (@context's client and name, @origin),
 * before the daemon is asked: the caller uses it (put_serves() tells whether it may) or
 * frees it. With none queued but one being sent, waits (bounded) until it is written, so
 * that the caller's next call reaches the daemon after it. NULL when none. */
Put *outbox_claim(TlsidContext *context, const char *origin);
/* Gives back a put outbox_claim() returned and nobody used (an attach cancelled): it is
 * queued again, to serve or be sent. */
void outbox_return(Put *put);
/* Once the daemon said the partition's @peer_id: drops the queued tokens of (@context,
 * @origin) made under another one or expired, and removes and returns the newest made
 * under @peer_id (@ret_len bytes, to free with tlsid_secret_free()), or NULL. */
void *outbox_take(TlsidContext *context, const char *origin, const char *peer_id,
                  size_t *ret_len);
/* Whether @put may serve a connection of the partition @peer_id ("" when unknown): made
 * under it, not expired, and with no identity unless adapter_stack_resumes_identities. */
bool put_serves(const Put *put, const char *peer_id);
/* Takes @put's token (@ret_len bytes) out of it. */
void *put_steal_token(Put *put, size_t *ret_len);
/* Frees @put and wipes its token; accepts NULL. */
void put_free(Put *put);
/* A connection's first handshake starts and ends: queued tokens wait for the handshakes
 * running (bounded) before they are sent. */
void outbox_handshake_begin(void);
void outbox_handshake_end(void);
/* Has the worker send what is queued now and waits up to @usec until all of it is sent:
 * 0, or -ETIMEDOUT. */
int outbox_flush(uint64_t usec);
/* Drops what is queued (wiping it) and waits for the put being sent. */
void outbox_drop_queued(void);
/* For tests: while @hold, the worker sends nothing (outbox_flush() times out), as a
 * worker that a busy machine does not schedule. */
void outbox_hold(bool hold);
