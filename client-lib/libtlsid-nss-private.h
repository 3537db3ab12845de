/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's insides: the connection state and what its files share
 * (libtlsid-nss.c attaches, nss-attach-async.c attaches without waiting, nss-tokens.c
 * hands resumption tokens to NSS and takes new ones from it, nss-outbox.c ties the outbox
 * to NSS, nss-peer-certs.c keeps servers' certificates in memory, nss-client-auth.c answers
 * CertificateRequests; adapter-private.h has what the OpenSSL adapter shares). */
#pragma once

#include <cert.h>
#include <errno.h>
#include <prio.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapter-private.h"
#include "tlsid/tlsid-nss.h"

struct TlsidNssConnection {
        TlsidContext *context;          /* borrowed: the caller keeps it alive */
        char origin[TLSID_ORIGIN_MAX + 1];
        char identity[TLSID_IDENTITY_LEN + 1];          /* the partition's: "" or a fingerprint */
        uint32_t generation;
        char peer_id[PEER_ID_MAX + 1];  /* the partition's, or "" when it is not known */
        bool degraded;
        bool server_asked;
        int decision;                   /* TlsidDecision, or -1 */
        char sent_identity[TLSID_IDENTITY_LEN + 1];
        void *used_token;               /* the daemon's token NSS accepted, until the handshake */
        size_t used_len;
        bool got_token;                 /* NSS handed out a new token on this connection */
        void *new_token;                /* a new token NSS dates only once the handshake is done */
        size_t new_len;
        bool in_handshake;              /* counted in the outbox's handshakes running */
        bool stale;                     /* the daemon said its partition moved on */
        unsigned handshakes;            /* completed: the first, then renegotiations */
        unsigned reauthentications;     /* mid-connection requests answered with a cert */
        struct Selection *pending;      /* non-blocking: the certificate request in flight */
        struct Selection *last;         /* the last certificate request, for challenges */
        int ready_fd;                   /* non-blocking: readable when pending is answered */
};

/* ---- libtlsid-nss.c ---- */

/* What an attach learns before it touches the socket, and keeps until it does. */
typedef struct {
        Put *own;               /* the process's queued token claimed for the origin */
        void *token;            /* the token to resume from, or NULL */
        size_t len;
} AttachPlan;

/* The connection state of an attach to @context for @host:@port (its arguments checked),
 * before its socket is known. @ret_connection: (transfer full). */
int connection_new(TlsidContext *context, const char *host, uint16_t port, unsigned flags,
                   TlsidNssConnection **ret_connection);
/* Installs the daemon's token key as NSS's wrapping key (once per process, blocking). */
int install_wrap_key(TlsidContext *context);
/* Frees what @plan holds (the claimed put is dropped, its token never sent). */
void plan_clear(AttachPlan *plan);
/* The socket's options and hooks: SNI, the client-auth hook, renegotiation and
 * post-handshake authentication (-EINVAL when @fd is not an SSL socket). */
int attach_prepare_socket(TlsidNssConnection *c, PRFileDesc *fd, const char *host,
                          unsigned flags);
/* Gives @fd (prepared) the peer id and token of @plan, whose round trips ended with @r;
 * fails closed when the daemon could not serve; clears @plan. On failure unhooks @fd and
 * frees @c. */
int attach_wire(TlsidNssConnection *c, AttachPlan *plan, PRFileDesc *fd, int r);

/* ---- nss-tokens.c ---- */

/* NSS's resumption token callback, installed on sockets whose partition has no identity. */
SECStatus on_resumption_token(PRFileDesc *fd, const PRUint8 *token, unsigned int len,
                              void *userdata);
/* NSS's handshake callback: counts the handshakes, queues a new TLS 1.2 token, gives a
 * reused TLS 1.2 ticket back. */
void on_handshake_done(PRFileDesc *fd, void *userdata);
/* Gives NSS a token of the partition; takes @token. */
void use_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len);
/* Drops what the connection still holds of tokens (the one NSS was given, a new one not
 * yet queued) and ends its handshake for the outbox: the connection is freed. */
void release_tokens(TlsidNssConnection *c);

/* ---- nss-outbox.c ---- */

/* Queues @token (taking it) made on @c, as outbox_put(). */
void nss_outbox_put(TlsidNssConnection *c, void *token, size_t len, int64_t expires,
                    uint16_t version, const char *alpn);

/* ---- nss-peer-certs.c ---- */

/* Keeps the server certificate of @fd's handshake referenced (a bounded ring, dropped at
 * NSS_Shutdown()), so that its tokens decode without the certificate database. */
void peer_certs_keep(PRFileDesc *fd);

/* ---- nss-client-auth.c ---- */

/* NSS's client-auth hook (SSL_GetClientAuthDataHook). */
SECStatus on_client_auth(void *userdata, PRFileDesc *fd, CERTDistNames *ca_names,
                         CERTCertificate **ret_cert, SECKEYPrivateKey **ret_key);
/* Drops a reference to a certificate request's state; accepts NULL. */
void selection_unref(struct Selection *sel);
