/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's resumption tokens on a socket: the partition's token given to NSS
 * before a handshake, and the new ones NSS hands out, dated from the session (no second
 * decode) and queued in the outbox. */
#include <ssl.h>
#include <sslexp.h>
#include <sslproto.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-nss-private.h"

/* What the daemon keeps with a token, as NSS knows it of the connection's session: its
 * expiry (the session's own, which NSS also writes into the token: SSL_GetChannelInfo
 * reads it without decoding the token, as SSL_GetResumptionTokenInfo would), the version
 * and the ALPN protocol. Returns the expiry in Unix seconds, 0 when NSS cannot say yet:
 * before the first handshake is done, where a TLS 1.2 token arrives. */
static int64_t session_facts(PRFileDesc *fd, const SSLChannelInfo *info, uint16_t *ret_version,
                             char alpn[static TLSID_ALPN_MAX + 1]) {
        unsigned char proto[TLSID_ALPN_MAX];
        SSLNextProtoState state;
        unsigned len = 0;

        alpn[0] = '\0';
        if (info->expirationTime == 0)
                return 0;
        *ret_version = info->protocolVersion;
        if (SSL_GetNextProto(fd, &state, proto, &len, sizeof proto) == SECSuccess &&
            state != SSL_NEXT_PROTO_NO_SUPPORT && len > 0 && !memchr(proto, '\0', len)) {
                memcpy(alpn, proto, len);
                alpn[len] = '\0';
        }
        return (int64_t) info->expirationTime;
}

static bool channel_info(PRFileDesc *fd, SSLChannelInfo *ret) {
        if (SSL_GetChannelInfo(fd, ret, sizeof *ret) == SECSuccess)
                return true;
        memset(ret, 0, sizeof *ret);
        return false;
}

/* Queues @token (taken) of the connection's session, dated now. */
static void queue_token(TlsidNssConnection *c, PRFileDesc *fd, const SSLChannelInfo *info,
                        void *token, size_t len) {
        char alpn[TLSID_ALPN_MAX + 1];
        uint16_t version = 0;
        int64_t expires = session_facts(fd, info, &version, alpn);

        nss_outbox_put(c, token, len, expires, version, alpn[0] ? alpn : NULL);
}

/* NSS calls this for each ticket of a session in which no client certificate was sent
 * (only on sockets whose partition has no identity). */
SECStatus on_resumption_token(PRFileDesc *fd, const PRUint8 *token, unsigned int len,
                              void *userdata) {
        TlsidNssConnection *c = userdata;
        SSLChannelInfo info;
        void *copy;

        c->got_token = true;
        if (c->degraded || !(copy = malloc(len)))
                return SECSuccess;
        memcpy(copy, token, len);
        if (channel_info(fd, &info) && info.expirationTime != 0)
                queue_token(c, fd, &info, copy, len);
        else {
                /* TLS 1.2: NSS hands the ticket over just before it ends the handshake,
                 * and tells the session's expiry only after; the handshake callback
                 * queues it. */
                tlsid_secret_free(c->new_token, c->new_len);
                c->new_token = copy;
                c->new_len = len;
        }
        /* NSS goes on whatever we did with the copy. */
        return SECSuccess;
}

static void drop_used_token(TlsidNssConnection *c) {
        tlsid_secret_free(c->used_token, c->used_len);
        c->used_token = NULL;
        c->used_len = 0;
}

static void end_handshake(TlsidNssConnection *c) {
        if (c->in_handshake) {
                c->in_handshake = false;
                outbox_handshake_end();
        }
}

void release_tokens(TlsidNssConnection *c) {
        drop_used_token(c);
        tlsid_secret_free(c->new_token, c->new_len);
        c->new_token = NULL;
        c->new_len = 0;
        end_handshake(c);
}

/* A TLS 1.2 session resumed from a ticket usually gets no new ticket (the server renews it
 * only when it likes), yet may be resumed again, as NSS's own cache would: the daemon's
 * tokens are single use, so the one used goes back. TLS 1.3 tickets are single use
 * (RFC 8446 C.4) and a new one arrives after the handshake. */
void on_handshake_done(PRFileDesc *fd, void *userdata) {
        TlsidNssConnection *c = userdata;
        SSLChannelInfo info;

        c->handshakes++;
        end_handshake(c);
        if (!channel_info(fd, &info) || c->degraded) {
                release_tokens(c);
                return;
        }
        /* A connection that makes tokens: its next ones decode against this certificate. */
        if (c->identity[0] == '\0')
                peer_certs_keep(fd);
        if (c->new_token) {
                queue_token(c, fd, &info, c->new_token, c->new_len);
                c->new_token = NULL;
                c->new_len = 0;
        } else if (c->used_token && !c->got_token && info.resumed &&
                   info.protocolVersion <= SSL_LIBRARY_VERSION_TLS_1_2) {
                queue_token(c, fd, &info, c->used_token, c->used_len);
                c->used_token = NULL;
                c->used_len = 0;
        }
        drop_used_token(c);
}

/* Gives NSS a token of the partition; one NSS refuses (expired, or a version or cipher
 * suite no longer enabled) is dropped. Takes @token. */
void use_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len) {
        if (SSL_SetResumptionToken(fd, token, (unsigned) len) != SECSuccess) {
                tlsid_secret_free(token, len);
                return;
        }
        c->used_token = token;
        c->used_len = len;
}
