/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl's insides: the connection state and what its files share
 * (libtlsid-openssl.c attaches and reports, openssl-attach-async.c attaches without
 * waiting, openssl-tokens.c turns sessions into tokens and back, openssl-client-auth.c
 * answers CertificateRequests, openssl-credentials.c holds the application's
 * certificates; adapter-private.h what the NSS adapter shares). */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapter-private.h"
#include "tlsid/tlsid-openssl.h"

struct TlsidOpensslConnection {
        TlsidContext *context;          /* a reference */
        TlsidOpensslCredentials *credentials;   /* a reference, nullable */
        SSL *ssl;                       /* borrowed: it owns us */
        char origin[TLSID_ORIGIN_MAX + 1];
        char identity[TLSID_IDENTITY_LEN + 1];  /* the partition's: "" or a fingerprint */
        uint32_t generation;
        char peer_id[PEER_ID_MAX + 1];  /* the partition's, or "" when not known */
        bool degraded;
        bool offered;                   /* a session was set */
        bool server_asked;
        bool got_session;               /* a new session arrived on it */
        bool stale;                     /* atomic: the partition moved on (or retired) */
        int decision;                   /* TlsidDecision, or -1 */
        char sent_identity[TLSID_IDENTITY_LEN + 1];
        void *used_token;               /* the token set, until the first handshake ends */
        size_t used_len;
        bool in_handshake;              /* counted in the outbox's handshakes running */
        unsigned handshakes;            /* completed: the first, then renegotiations */
        unsigned reauthentications;
        struct OsslSelection *last;     /* the last certificate request */
        struct TlsidOpensslConnection *prev, *next;     /* in the live list */
};

/* ---- libtlsid-openssl.c ---- */

/* The ex_data index of the connection state on an SSL. */
int connection_index(void);
/* tlsid_openssl_attach(), its partition and session from the asynchronous attach's
 * *@round_trips (nullable: the blocking calls), which it takes (*@round_trips NULL) once
 * @ssl and the arguments are accepted; an error before leaves it to the caller. */
int attach_with(SSL *ssl, TlsidContext *context, TlsidOpensslCredentials *credentials,
                const char *host, uint16_t port, unsigned flags, AdapterAttach **round_trips,
                TlsidOpensslConnection **ret_connection);

/* ---- openssl-tokens.c ---- */

/* Wraps a session (the identity and generation it was made under go in front of its DER)
 * and unwraps it, checking both: NULL when it is not a token of that partition. */
void *session_to_token(const TlsidOpensslConnection *c, SSL_SESSION *session, size_t *ret_len);
SSL_SESSION *token_to_session(const TlsidOpensslConnection *c, const void *token, size_t len);
/* Sets a token of the partition on @c's SSL; takes @token and @session (nullable: the
 * token's session as this process made it, which spares decoding the token). */
void use_token(TlsidOpensslConnection *c, void *token, size_t len, SSL_SESSION *session);
/* Queues @token (taken) of @session, made under @c's partition; the outbox keeps a
 * reference to @session. */
void queue_token(TlsidOpensslConnection *c, SSL_SESSION *session, void *token, size_t len);
/* SSL_CTX_sess_set_new_cb's callback. */
int on_new_session(SSL *ssl, SSL_SESSION *session);
/* The first (or a later) handshake of @c is done. */
void tokens_handshake_done(TlsidOpensslConnection *c);
/* Drops what @c holds of tokens and ends its handshake for the outbox. */
void release_tokens(TlsidOpensslConnection *c);

/* ---- openssl-client-auth.c ---- */

/* SSL_CTX_set_cert_cb's callback. */
int on_cert_request(SSL *ssl, void *arg);
void ossl_selection_unref(struct OsslSelection *sel);

/* ---- openssl-credentials.c ---- */

/* One certificate of the application, as SelectCertificate takes it. */
typedef struct {
        X509 *cert;
        EVP_PKEY *key;
        STACK_OF(X509) *chain;          /* nullable */
        char identity[TLSID_IDENTITY_LEN + 1];
        char *nickname;                 /* nullable */
        unsigned char *der;             /* the leaf's DER */
        size_t der_len;
        unsigned char *chain_der[TLSID_CHAIN_MAX];
        size_t chain_len[TLSID_CHAIN_MAX];
        size_t n_chain;
} OsslCredential;

/* A snapshot of @credentials' certificates (references; free with
 * credentials_snapshot_free()); none for NULL. */
int credentials_snapshot(TlsidOpensslCredentials *credentials, OsslCredential ***ret,
                         size_t *ret_n);
void credentials_snapshot_free(OsslCredential **items, size_t n);
/* The SHA-256 of @cert's DER in lower-case hex. */
int certificate_identity(X509 *cert, char out[static TLSID_IDENTITY_LEN + 1]);
