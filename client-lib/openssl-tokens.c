/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl's resumption tokens: an OpenSSL session (i2d_SSL_SESSION) behind the
 * partition it was made under, set on a connection of that partition only, and the new
 * sessions OpenSSL hands out queued in the outbox. */
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libtlsid-openssl-private.h"

/* A token: MAGIC, the generation (4 bytes, big-endian), the identity's length (1 byte) and
 * the identity, then the session's DER. The daemon keeps it tagged "openssl", so no NSS
 * process is ever given one; the header also makes sure that a token is never set on a
 * connection of another partition, whatever handed it over. */
static const unsigned char MAGIC[8] = { 't', 'l', 's', 'i', 'd', 'o', 's', '1' };

void *session_to_token(const TlsidOpensslConnection *c, SSL_SESSION *session, size_t *ret_len) {
        size_t id_len = strlen(c->identity), head = sizeof MAGIC + 4 + 1 + id_len;
        int der_len = i2d_SSL_SESSION(session, NULL);
        unsigned char *token, *p;

        if (der_len <= 0 || head + (size_t) der_len > TLSID_TOKEN_MAX)
                return NULL;
        token = malloc(head + (size_t) der_len);
        if (!token)
                return NULL;
        memcpy(token, MAGIC, sizeof MAGIC);
        token[8] = (unsigned char) (c->generation >> 24);
        token[9] = (unsigned char) (c->generation >> 16);
        token[10] = (unsigned char) (c->generation >> 8);
        token[11] = (unsigned char) c->generation;
        token[12] = (unsigned char) id_len;
        memcpy(token + 13, c->identity, id_len);
        p = token + head;
        if (i2d_SSL_SESSION(session, &p) != der_len) {
                tlsid_secret_free(token, head + (size_t) der_len);
                return NULL;
        }
        *ret_len = head + (size_t) der_len;
        return token;
}

/* The length of @token's header when it was made under @c's partition, else 0. */
static size_t token_header(const TlsidOpensslConnection *c, const unsigned char *t, size_t len) {
        size_t id_len = strlen(c->identity), head = sizeof MAGIC + 4 + 1 + id_len;
        uint32_t generation;

        if (len <= head || memcmp(t, MAGIC, sizeof MAGIC) != 0 || t[12] != id_len ||
            memcmp(t + 13, c->identity, id_len) != 0)
                return 0;
        generation = (uint32_t) t[8] << 24 | (uint32_t) t[9] << 16 | (uint32_t) t[10] << 8 |
                t[11];
        return generation == c->generation ? head : 0;
}

static bool session_usable(SSL_SESSION *session) {
        return SSL_SESSION_is_resumable(session) &&
                SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session) >
                        (long) time(NULL);
}

SSL_SESSION *token_to_session(const TlsidOpensslConnection *c, const void *token, size_t len) {
        size_t head = token_header(c, token, len);
        const unsigned char *p = (const unsigned char *) token + head;
        SSL_SESSION *session;

        if (head == 0)
                return NULL;
        /* OpenSSL 3.0 decodes the server certificate's key here: about as long as a full
         * handshake's own work on a busy machine, which the outbox's object spares. */
        session = d2i_SSL_SESSION(NULL, &p, (long) (len - head));
        if (session && !session_usable(session)) {
                SSL_SESSION_free(session);
                return NULL;
        }
        return session;
}

static void drop_used_token(TlsidOpensslConnection *c) {
        tlsid_secret_free(c->used_token, c->used_len);
        c->used_token = NULL;
        c->used_len = 0;
}

void use_token(TlsidOpensslConnection *c, void *token, size_t len, SSL_SESSION *kept) {
        SSL_SESSION *session = NULL;

        /* The object this process kept is the token's session, unless OpenSSL marked it
         * unresumable since (its connection freed without a close_notify). */
        if (kept && token_header(c, token, len) > 0 && session_usable(kept))
                session = kept;
        else {
                SSL_SESSION_free(kept);
                session = token_to_session(c, token, len);
        }
        if (!session || !SSL_set_session(c->ssl, session)) {
                SSL_SESSION_free(session);
                tlsid_secret_free(token, len);
                return;
        }
        SSL_SESSION_free(session);
        c->offered = true;
        c->used_token = token;
        c->used_len = len;
}

static AdapterPartition partition_of(const TlsidOpensslConnection *c) {
        return (AdapterPartition) {
                .context = c->context,
                .origin = c->origin,
                .identity = c->identity,
                .generation = c->generation,
                .peer_id = c->peer_id,
        };
}

static void free_session(void *session) {
        SSL_SESSION_free(session);
}

void queue_token(TlsidOpensslConnection *c, SSL_SESSION *session, void *token, size_t len) {
        AdapterPartition at = partition_of(c);
        const unsigned char *alpn = NULL;
        size_t alpn_len = 0;
        char alpn_text[TLSID_ALPN_MAX + 1] = "";
        int64_t expires = (int64_t) SSL_SESSION_get_time(session) +
                (int64_t) SSL_SESSION_get_timeout(session);

        SSL_SESSION_get0_alpn_selected(session, &alpn, &alpn_len);
        if (alpn && alpn_len > 0 && alpn_len <= TLSID_ALPN_MAX && !memchr(alpn, '\0', alpn_len)) {
                memcpy(alpn_text, alpn, alpn_len);
                alpn_text[alpn_len] = '\0';
        }
        SSL_SESSION_up_ref(session);
        outbox_put(&at, token, len, expires,
                   (uint16_t) SSL_SESSION_get_protocol_version(session),
                   alpn_text[0] ? alpn_text : NULL, session, free_session);
}

/* Whether the connection's session carries the partition's identity and no other: a
 * resumed one does (the adapter set it, checked), a full handshake when it sent that
 * certificate, or none in a partition without one. A connection of Alice's partition that
 * sent nothing (no credentials, or the server did not ask) makes a session without her
 * certificate, which must not resume as hers. */
static bool session_is_the_partitions(const TlsidOpensslConnection *c) {
        if (SSL_session_reused(c->ssl))
                return c->offered;
        return strcmp(c->sent_identity, c->identity) == 0;
}

/* OpenSSL calls this for each new session of an SSL of a set-up SSL_CTX: TLS 1.2 at the
 * end of a full handshake (or a ticket renewed), TLS 1.3 for each NewSessionTicket. */
int on_new_session(SSL *ssl, SSL_SESSION *session) {
        TlsidOpensslConnection *c = tlsid_openssl_connection_from_ssl(ssl);
        void *token;
        size_t len = 0;

        if (!c)
                return 0;
        c->got_session = true;
        if (c->degraded || __atomic_load_n(&c->stale, __ATOMIC_ACQUIRE) ||
            !SSL_SESSION_is_resumable(session) || !session_is_the_partitions(c))
                return 0;
        token = session_to_token(c, session, &len);
        if (token)
                queue_token(c, session, token, len);
        /* 0: we keep no reference of OpenSSL's session. */
        return 0;
}

static void end_handshake(TlsidOpensslConnection *c) {
        if (c->in_handshake) {
                c->in_handshake = false;
                outbox_handshake_end();
        }
}

void release_tokens(TlsidOpensslConnection *c) {
        drop_used_token(c);
        end_handshake(c);
}

/* A TLS 1.2 session resumed from a ticket usually gets no new one, yet may be resumed
 * again: the daemon's tokens are single use, so the one used goes back. TLS 1.3 tickets
 * are single use (RFC 8446 C.4) and new ones arrive after the handshake. */
void tokens_handshake_done(TlsidOpensslConnection *c) {
        SSL_SESSION *session;

        c->handshakes++;
        end_handshake(c);
        if (c->used_token && !c->got_session && !c->degraded && SSL_session_reused(c->ssl) &&
            SSL_version(c->ssl) <= TLS1_2_VERSION && (session = SSL_get_session(c->ssl))) {
                queue_token(c, session, c->used_token, c->used_len);
                c->used_token = NULL;
                c->used_len = 0;
        }
        drop_used_token(c);
}
