/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss: attaching an NSS socket to a context (its partition, the token key, the
 * socket options and hooks) and what the connection reports. */
#include <pk11pub.h>
#include <pthread.h>
#include <ssl.h>
#include <sslexp.h>
#include <sslproto.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-nss-private.h"

_public_ int tlsid_nss_client_new(const char *bus_address, TlsidClient **ret_client) {
        TlsidClient *client = NULL;
        int r;

        if (!ret_client)
                return -EINVAL;
        r = tlsid_client_new(bus_address, &client);
        if (r < 0)
                return r;
        r = tlsid_client_set_timeout(client, TLSID_NSS_DEFAULT_TIMEOUT_USEC);
        if (r < 0) {
                tlsid_client_unref(client);
                return r;
        }
        *ret_client = client;
        return 0;
}

/* SNI and the name check use the host without the brackets of an IPv6 literal. */
static int set_url_unless_set(PRFileDesc *fd, const char *host) {
        char *url = SSL_RevealURL(fd);
        char name[TLSID_HOST_MAX + 1];
        size_t len = strlen(host);

        if (url) {
                PORT_Free(url);
                return 0;
        }
        if (host[0] == '[' && len >= 2 && host[len - 1] == ']') {
                host++;
                len -= 2;
        }
        if (len >= sizeof name)
                return -EINVAL;
        memcpy(name, host, len);
        name[len] = '\0';
        return SSL_SetURL(fd, name) == SECSuccess ? 0 : -EINVAL;
}

/* ---- The token key ---- */

/* NSS keeps the secret of a session inside its resumption token wrapped with the internal
 * slot's wrapping key, which each process draws for itself on its first cached session:
 * a token would then resume only in the process that made it. Installing the daemon's
 * key (GetTokenKey) before that makes the tokens of the user's processes interchangeable.
 * Done once per process; NSS ignores it once a key is in place (a process that made
 * sessions before its first attach resumes only its own tokens). */
static pthread_mutex_t wrap_key_lock = PTHREAD_MUTEX_INITIALIZER;
static bool wrap_key_installed; /* set under wrap_key_lock, read atomically */

int install_wrap_key(TlsidContext *context) {
        bool done = false;
        PK11SlotInfo *slot = NULL;
        PK11SymKey *sym = NULL;
        void *key = NULL;
        size_t len = 0;
        int r = 0;

        /* Every attach passes here: once done, without taking the lock. */
        if (__atomic_load_n(&wrap_key_installed, __ATOMIC_ACQUIRE))
                return 0;
        pthread_mutex_lock(&wrap_key_lock);
        if (wrap_key_installed)
                goto out;
        /* Only the daemon's failure is one: without the key NSS still resumes its own
         * tokens, so an NSS that refuses it is not asked again. */
        r = tlsid_client_get_token_key(tlsid_context_get_client(context), &key, &len);
        if (r < 0)
                goto out;
        done = true;
        slot = PK11_GetInternalSlot();
        if (!slot)
                goto out;
        CK_MECHANISM_TYPE mech = PK11_GetBestWrapMechanism(slot);
        int key_len = PK11_GetBestKeyLength(slot, mech);
        if (key_len <= 0) {
                /* Fixed-size keys (DES3) report 0: the length of a generated one. */
                PK11SymKey *probe = PK11_KeyGen(slot, PK11_GetKeyGen(mech), NULL, 0, NULL);

                if (probe) {
                        key_len = (int) PK11_GetKeyLength(probe);
                        PK11_FreeSymKey(probe);
                }
        }
        if (key_len <= 0 || (size_t) key_len > len)
                goto out;
        SECItem item = { siBuffer, key, (unsigned) key_len };
        sym = PK11_ImportSymKeyWithFlags(slot, mech, PK11_OriginUnwrap, CKA_WRAP, &item,
                                         CKF_WRAP | CKF_UNWRAP | CKF_ENCRYPT | CKF_DECRYPT,
                                         PR_FALSE, NULL);
        if (sym)
                PK11_SetWrapKey(slot, 0, sym);
out:
        /* Published only now: other threads attach once the key is in place. */
        if (done)
                __atomic_store_n(&wrap_key_installed, true, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&wrap_key_lock);
        if (sym)
                PK11_FreeSymKey(sym);
        if (slot)
                PK11_FreeSlot(slot);
        tlsid_secret_free(key, len);
        return r;
}

void plan_clear(AttachPlan *plan) {
        put_free(plan->own);
        tlsid_secret_free(plan->token, plan->len);
        *plan = (AttachPlan) { 0 };
}

/* The token a connection of a partition with no identity resumes: a token this process
 * made and has not sent yet serves first, since the daemon cannot have it (a connection
 * opened right after its predecessor would miss it otherwise), used once: it is then
 * never sent. The daemon is still asked, for the partition (GetPartition then, which takes
 * no token of the daemon's in vain): only its answer, and no signal this process may not
 * have read yet, says that the token's partition is still the current one, and the peer
 * id it gives names the partition exactly (context, origin, identity, generation and the
 * daemon's run). Otherwise BeginConnection asks for both in one round trip: that is
 * adapter_begin_partition(), here after the token key, blocking. */
static int attach_partition(TlsidNssConnection *c, AttachPlan *plan) {
        AdapterBegin begin;
        int r;

        *plan = (AttachPlan) { 0 };
        r = install_wrap_key(c->context);
        if (r < 0)
                return r;
        r = adapter_begin_partition(c->context, c->origin, &begin);
        if (r < 0)
                return r;
        memcpy(c->identity, begin.identity, sizeof c->identity);
        c->generation = begin.generation;
        memcpy(c->peer_id, begin.peer_id, sizeof c->peer_id);
        plan->token = begin.token;
        plan->len = begin.len;
        if (begin.object)       /* NSS keeps none with its puts */
                begin.object_free(begin.object);
        return 0;
}

/* Renegotiation only with RFC 5746's extension, and TLS 1.3 post-handshake
 * authentication when asked for; the handshake callback counts the handshakes, so that
 * the client-auth hook knows when application data may have flowed. */
static int set_socket_options(TlsidNssConnection *c, PRFileDesc *fd, unsigned flags) {
        if (SSL_OptionSet(fd, SSL_ENABLE_RENEGOTIATION, SSL_RENEGOTIATE_REQUIRES_XTN) !=
                    SECSuccess ||
            SSL_OptionSet(fd, SSL_ENABLE_POST_HANDSHAKE_AUTH,
                          (flags & TLSID_NSS_POST_HANDSHAKE_AUTH) ? PR_TRUE : PR_FALSE) !=
                    SECSuccess ||
            SSL_HandshakeCallback(fd, on_handshake_done, c) != SECSuccess)
                return -EINVAL;
        return 0;
}

int connection_new(TlsidContext *context, const char *host, uint16_t port, unsigned flags,
                   TlsidNssConnection **ret_connection) {
        TlsidNssConnection *c;
        int r;

        if (!context || !host || !*host || port == 0 || !ret_connection ||
            (flags & ~TLSID_NSS_POST_HANDSHAKE_AUTH))
                return -EINVAL;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->context = context;
        c->decision = -1;
        c->ready_fd = -1;
        r = adapter_make_origin(host, port, c->origin, sizeof c->origin);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret_connection = c;
        return 0;
}

int attach_prepare_socket(TlsidNssConnection *c, PRFileDesc *fd, const char *host,
                          unsigned flags) {
        int r = set_url_unless_set(fd, host);

        if (r >= 0 && SSL_GetClientAuthDataHook(fd, on_client_auth, c) != SECSuccess)
                r = -EINVAL;    /* not an SSL socket */
        if (r >= 0)
                r = set_socket_options(c, fd, flags);
        return r;
}

int attach_wire(TlsidNssConnection *c, AttachPlan *plan, PRFileDesc *fd, int r) {
        int k = 0;

        if (r >= 0) {
                if (SSL_SetSockPeerID(fd, c->peer_id) != SECSuccess)
                        k = -EINVAL;
                else if (c->identity[0] == '\0') {
                        if (plan->token) {
                                use_token(c, fd, plan->token, plan->len);
                                plan->token = NULL;
                                plan->len = 0;
                        }
                        if (SSL_SetResumptionTokenCallback(fd, on_resumption_token, c) !=
                            SECSuccess)
                                k = -EINVAL;
                }
        } else if (!is_caller_error(r)) {
                /* Fail closed: nothing from the daemon, nothing NSS remembers. */
                note_unreachable(r);
                c->degraded = true;
                c->identity[0] = '\0';
                c->generation = 0;
                c->peer_id[0] = '\0';
                (void) SSL_SetResumptionTokenCallback(fd, NULL, NULL);
                if (SSL_OptionSet(fd, SSL_NO_CACHE, PR_TRUE) != SECSuccess)
                        k = -EINVAL;
        } else
                k = r;
        if (r >= 0 && k >= 0)
                note_reachable();
        plan_clear(plan);
        if (k < 0) {
                /* The socket must not call back into freed state. */
                (void) SSL_GetClientAuthDataHook(fd, NULL, NULL);
                (void) SSL_SetResumptionTokenCallback(fd, NULL, NULL);
                (void) SSL_HandshakeCallback(fd, NULL, NULL);
                release_tokens(c);
                free(c);
                return k;
        }
        /* Until its first handshake is done, the outbox sends nothing if it can wait. */
        c->in_handshake = true;
        outbox_handshake_begin();
        return 0;
}

_public_ int tlsid_nss_attach(PRFileDesc *ssl_fd, TlsidContext *context, const char *host,
                              uint16_t port, unsigned flags,
                              TlsidNssConnection **ret_connection) {
        TlsidNssConnection *c = NULL;
        AttachPlan plan = { 0 };
        int r;

        if (!ssl_fd)
                return -EINVAL;
        r = connection_new(context, host, port, flags, &c);
        if (r < 0)
                return r;
        /* The socket first: a socket refused takes no token of the daemon's. */
        r = attach_prepare_socket(c, ssl_fd, host, flags);
        if (r >= 0)
                r = attach_partition(c, &plan);
        r = attach_wire(c, &plan, ssl_fd, r);
        if (r < 0)
                return r;
        *ret_connection = c;
        return 0;
}

_public_ void tlsid_nss_connection_free(TlsidNssConnection *connection) {
        if (connection) {
                release_tokens(connection);
                /* A request still in flight finishes on its own reference. */
                selection_unref(connection->pending);
                selection_unref(connection->last);
                if (connection->ready_fd >= 0)
                        close(connection->ready_fd);
        }
        free(connection);
}

_public_ const char *tlsid_nss_connection_get_origin(const TlsidNssConnection *connection) {
        return connection ? connection->origin : "";
}

_public_ uint32_t tlsid_nss_connection_get_generation(const TlsidNssConnection *connection) {
        return connection ? connection->generation : 0;
}

_public_ const char *tlsid_nss_connection_get_identity(const TlsidNssConnection *connection) {
        return connection ? connection->identity : "";
}

_public_ int tlsid_nss_connection_is_degraded(const TlsidNssConnection *connection) {
        return connection && connection->degraded;
}

_public_ int tlsid_nss_connection_server_asked(const TlsidNssConnection *connection) {
        return connection && connection->server_asked;
}

_public_ int tlsid_nss_connection_get_decision(const TlsidNssConnection *connection) {
        return connection ? connection->decision : -1;
}

_public_ const char *tlsid_nss_connection_get_sent_identity(
                const TlsidNssConnection *connection) {
        return connection ? connection->sent_identity : "";
}

_public_ int tlsid_nss_connection_is_current(const TlsidNssConnection *connection) {
        if (!connection)
                return -EINVAL;
        return adapter_partition_is_current(connection->context, connection->origin,
                                            connection->identity, connection->generation,
                                            connection->stale, connection->degraded);
}

_public_ int tlsid_nss_connection_matches(const TlsidNssConnection *connection,
                                          const char *context, const char *origin) {
        if (!connection)
                return -EINVAL;
        return adapter_signal_matches(connection->context, connection->origin, context, origin);
}

_public_ void tlsid_nss_set_report_function(TlsidNssReportFn fn, void *userdata) {
        report_set_function(fn, userdata);
}
