/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's insides: the connection state and what its files share
 * (libtlsid-nss.c attaches, nss-tokens.c stores and uses resumption tokens,
 * nss-client-auth.c answers CertificateRequests, nss-report.c reports outages). */
#pragma once

#include <cert.h>
#include <errno.h>
#include <prio.h>
#include <stdbool.h>
#include <stdint.h>

#include "tlsid-ids.h"
#include "tlsid-limits.h"
#include "tlsid/tlsid-nss.h"

#define _public_ __attribute__((visibility("default")))

struct TlsidNssConnection {
        TlsidContext *context;          /* borrowed: the caller keeps it alive */
        char origin[TLSID_ORIGIN_MAX + 1];
        char identity[TLSID_IDENTITY_LEN + 1];          /* the partition's: "" or a fingerprint */
        uint32_t generation;
        bool degraded;
        bool server_asked;
        int decision;                   /* TlsidDecision, or -1 */
        char sent_identity[TLSID_IDENTITY_LEN + 1];
        void *used_token;               /* the daemon's token NSS accepted, until the handshake */
        size_t used_len;
        bool got_token;                 /* NSS handed out a new token on this connection */
        bool stale;                     /* the daemon said its partition moved on */
        unsigned handshakes;            /* completed: the first, then renegotiations */
        unsigned reauthentications;     /* mid-connection requests answered with a cert */
        struct Selection *pending;      /* non-blocking: the certificate request in flight */
        struct Selection *last;         /* the last certificate request, for challenges */
        int ready_fd;                   /* non-blocking: readable when pending is answered */
};

/* ---- nss-report.c ---- */

/* The daemon could not serve a call (@r): reported once per outage. */
void note_unreachable(int r);
/* The daemon answered: the end of an outage is reported once. */
void note_reachable(void);

/* Failures the caller caused, which attach returns; any other one means the daemon cannot
 * serve us now, and the connection goes on without it. */
static inline bool is_caller_error(int r) {
        return r == -EINVAL || r == -ENOMEM || r == -ENOENT;
}

/* ---- nss-tokens.c ---- */

/* Queues @token (taking it, @len bytes) for the connection's partition. */
void put_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len);
/* NSS's resumption token callback, installed on sockets whose partition has no identity. */
SECStatus on_resumption_token(PRFileDesc *fd, const PRUint8 *token, unsigned int len,
                              void *userdata);
/* NSS's handshake callback: counts the handshakes, gives a reused TLS 1.2 ticket back. */
void on_handshake_done(PRFileDesc *fd, void *userdata);
/* Gives NSS the daemon's token of the partition; takes @token. */
void use_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len);
/* Drops the token NSS was given, once the handshake no longer needs it. */
void drop_used_token(TlsidNssConnection *c);

/* ---- nss-client-auth.c ---- */

/* NSS's client-auth hook (SSL_GetClientAuthDataHook). */
SECStatus on_client_auth(void *userdata, PRFileDesc *fd, CERTDistNames *ca_names,
                         CERTCertificate **ret_cert, SECKEYPrivateKey **ret_key);
/* Drops a reference to a certificate request's state; accepts NULL. */
void selection_unref(struct Selection *sel);
