/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl: setting up an SSL_CTX, attaching an SSL to a context (its partition
 * and session, its options, the state it owns), the live connections signals retire, and
 * what a connection reports. */
#include <openssl/ssl.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-openssl-private.h"

const char adapter_name[] = "libtlsid-openssl";
const char *const adapter_stack = TLSID_STACK_OPENSSL;
const bool adapter_stack_resumes_identities = true;

bool outbox_may_queue(void) {
        return true;
}

_public_ int tlsid_openssl_client_new(const char *bus_address, TlsidClient **ret_client) {
        TlsidClient *client = NULL;
        int r;

        if (!ret_client)
                return -EINVAL;
        r = tlsid_client_new(bus_address, &client);
        if (r < 0)
                return r;
        r = tlsid_client_set_timeout(client, TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC);
        if (r < 0) {
                tlsid_client_unref(client);
                return r;
        }
        *ret_client = client;
        return 0;
}

/* ---- The live connections ---- */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static TlsidOpensslConnection *live_head;       /* under live_lock */

static void live_add(TlsidOpensslConnection *c) {
        pthread_mutex_lock(&live_lock);
        c->next = live_head;
        if (live_head)
                live_head->prev = c;
        live_head = c;
        pthread_mutex_unlock(&live_lock);
}

static void live_remove(TlsidOpensslConnection *c) {
        pthread_mutex_lock(&live_lock);
        if (c->prev)
                c->prev->next = c->next;
        else if (live_head == c)
                live_head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        pthread_mutex_unlock(&live_lock);
}

_public_ int tlsid_openssl_retire(const char *context, const char *origin) {
        int n = 0;

        if (!context || !origin)
                return -EINVAL;
        pthread_mutex_lock(&live_lock);
        for (TlsidOpensslConnection *c = live_head; c; c = c->next)
                if (adapter_signal_matches(c->context, c->origin, context, origin) == 1) {
                        __atomic_store_n(&c->stale, true, __ATOMIC_RELEASE);
                        n++;
                }
        pthread_mutex_unlock(&live_lock);
        return n;
}

/* ---- The state an SSL owns ---- */

static void connection_free(TlsidOpensslConnection *c) {
        if (!c)
                return;
        live_remove(c);
        release_tokens(c);
        ossl_selection_unref(c->last);
        tlsid_openssl_credentials_unref(c->credentials);
        tlsid_context_unref(c->context);
        free(c);
}

static void free_connection_data(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                                 long argl, void *argp) {
        connection_free(ptr);
}

/* What tlsid_openssl_ctx_attach_on_handshake() set on an SSL_CTX. */
typedef struct {
        TlsidContext *context;
        TlsidOpensslCredentials *credentials;
        char host[TLSID_HOST_MAX + 3];
        uint16_t port;
        unsigned flags;
} Deferred;

static void deferred_free(Deferred *d) {
        if (!d)
                return;
        tlsid_context_unref(d->context);
        tlsid_openssl_credentials_unref(d->credentials);
        free(d);
}

static void free_deferred_data(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                               long argl, void *argp) {
        deferred_free(ptr);
}

static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int ssl_index = -1, ctx_index = -1;

static void indexes_init(void) {
        ssl_index = SSL_get_ex_new_index(0, (void *) "tlsid", NULL, NULL, free_connection_data);
        ctx_index = SSL_CTX_get_ex_new_index(0, (void *) "tlsid", NULL, NULL,
                                             free_deferred_data);
}

int connection_index(void) {
        pthread_once(&index_once, indexes_init);
        return ssl_index;
}

static int deferred_index(void) {
        pthread_once(&index_once, indexes_init);
        return ctx_index;
}

_public_ TlsidOpensslConnection *tlsid_openssl_connection_from_ssl(const SSL *ssl) {
        int idx = connection_index();

        return ssl && idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
}

/* The info callback: attaches the SSLs of a deferred SSL_CTX when their first handshake
 * starts (before the ClientHello is written), and tells the tokens when a handshake is
 * done. */
static void on_info(const SSL *cssl, int where, int ret) {
        SSL *ssl = (SSL *) cssl;
        TlsidOpensslConnection *c = tlsid_openssl_connection_from_ssl(ssl);

        if ((where & SSL_CB_HANDSHAKE_START) && !c) {
                Deferred *d = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), deferred_index());

                /* A failure is fail closed: attach says so itself when it can. */
                if (d)
                        (void) tlsid_openssl_attach(ssl, d->context, d->credentials, d->host,
                                                    d->port, d->flags, NULL);
                return;
        }
        if ((where & SSL_CB_HANDSHAKE_DONE) && c)
                tokens_handshake_done(c);
}

_public_ int tlsid_openssl_ctx_setup(SSL_CTX *ctx) {
        if (!ctx || connection_index() < 0 || deferred_index() < 0)
                return -EINVAL;
        /* The client cache mode is what makes OpenSSL call the new-session callback; it
         * keeps nothing itself, so that no session resumes outside its partition. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                    SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        SSL_CTX_set_cert_cb(ctx, on_cert_request, NULL);
        SSL_CTX_set_info_callback(ctx, on_info);
        return 0;
}

static bool ctx_is_set_up(SSL_CTX *ctx) {
        return SSL_CTX_sess_get_new_cb(ctx) == on_new_session;
}

_public_ int tlsid_openssl_ctx_attach_on_handshake(SSL_CTX *ctx, TlsidContext *context,
                                                   TlsidOpensslCredentials *credentials,
                                                   const char *host, uint16_t port,
                                                   unsigned flags) {
        char origin[TLSID_ORIGIN_MAX + 1];
        Deferred *d;

        if (!ctx || !context || !host || !*host || port == 0 ||
            (flags & ~TLSID_OPENSSL_POST_HANDSHAKE_AUTH) || !ctx_is_set_up(ctx) ||
            strlen(host) >= sizeof d->host ||
            adapter_make_origin(host, port, origin, sizeof origin) < 0)
                return -EINVAL;
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->context = tlsid_context_ref(context);
        d->credentials = tlsid_openssl_credentials_ref(credentials);
        memcpy(d->host, host, strlen(host) + 1);
        d->port = port;
        d->flags = flags;
        Deferred *old = SSL_CTX_get_ex_data(ctx, deferred_index());
        if (!SSL_CTX_set_ex_data(ctx, deferred_index(), d)) {
                deferred_free(d);
                return -ENOMEM;
        }
        /* The ex_data's free function frees only the last one, with the SSL_CTX. */
        deferred_free(old);
        return 0;
}

/* SNI is the host without the brackets of an IPv6 literal, and none for an IP literal
 * (RFC 6066 3), unless the application set one. */
static void set_sni_unless_set(SSL *ssl, const char *host) {
        char name[TLSID_HOST_MAX + 1];
        size_t len = strlen(host);

        if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) || strchr(host, ':') ||
            strspn(host, "0123456789.") == len || len >= sizeof name)
                return;
        memcpy(name, host, len + 1);
        (void) SSL_set_tlsext_host_name(ssl, name);
}

/* The partition and, when there is one, its session: adapter_begin_partition()'s, or
 * the asynchronous attach's @round_trips' (nullable; taken). */
static int attach_partition(TlsidOpensslConnection *c, AdapterAttach *round_trips) {
        AdapterBegin begin;
        int r;

        r = round_trips ? adapter_attach_end(round_trips, &begin)
                        : adapter_begin_partition(c->context, c->origin, &begin);
        if (r < 0)
                return r;
        memcpy(c->identity, begin.identity, sizeof c->identity);
        c->generation = begin.generation;
        memcpy(c->peer_id, begin.peer_id, sizeof c->peer_id);
        if (begin.token)
                use_token(c, begin.token, begin.len, begin.object);
        else if (begin.object)
                begin.object_free(begin.object);
        return 0;
}

int attach_with(SSL *ssl, TlsidContext *context, TlsidOpensslCredentials *credentials,
                const char *host, uint16_t port, unsigned flags, AdapterAttach **round_trips,
                TlsidOpensslConnection **ret_connection) {
        AdapterAttach *taken = NULL;
        TlsidOpensslConnection *c;
        int r;

        if (!ssl || !context || !host || !*host || port == 0 ||
            (flags & ~TLSID_OPENSSL_POST_HANDSHAKE_AUTH) || SSL_is_server(ssl) ||
            !ctx_is_set_up(SSL_get_SSL_CTX(ssl)) || connection_index() < 0)
                return -EINVAL;
        if (tlsid_openssl_connection_from_ssl(ssl))
                return -EALREADY;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->ssl = ssl;
        c->decision = -1;
        r = adapter_make_origin(host, port, c->origin, sizeof c->origin);
        if (r < 0) {
                free(c);
                return r;
        }
        c->context = tlsid_context_ref(context);
        c->credentials = tlsid_openssl_credentials_ref(credentials);
        if (!SSL_set_ex_data(ssl, connection_index(), c)) {
                connection_free(c);
                return -ENOMEM;
        }
        set_sni_unless_set(ssl, host);
        /* Renegotiation only with RFC 5746's extension; post-handshake authentication when
         * asked for. Nothing is resumed that the adapter did not set. */
        SSL_clear_options(ssl, SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
        SSL_set_post_handshake_auth(ssl, (flags & TLSID_OPENSSL_POST_HANDSHAKE_AUTH) ? 1 : 0);
        (void) SSL_set_session(ssl, NULL);
        if (round_trips) {
                taken = *round_trips;
                *round_trips = NULL;
        }
        r = attach_partition(c, taken);
        if (r < 0 && is_caller_error(r)) {
                SSL_set_ex_data(ssl, connection_index(), NULL);
                connection_free(c);
                return r;
        }
        if (r < 0) {
                /* Fail closed: nothing from the daemon, nothing OpenSSL remembers. */
                note_unreachable(r);
                c->degraded = true;
                c->identity[0] = '\0';
                c->generation = 0;
                c->peer_id[0] = '\0';
        } else
                note_reachable();
        live_add(c);
        /* Until its first handshake is done, the outbox sends nothing if it can wait. */
        c->in_handshake = true;
        outbox_handshake_begin();
        if (ret_connection)
                *ret_connection = c;
        return 0;
}

_public_ int tlsid_openssl_attach(SSL *ssl, TlsidContext *context,
                                  TlsidOpensslCredentials *credentials, const char *host,
                                  uint16_t port, unsigned flags,
                                  TlsidOpensslConnection **ret_connection) {
        return attach_with(ssl, context, credentials, host, port, flags, NULL, ret_connection);
}

/* ---- What a connection reports ---- */

_public_ const char *tlsid_openssl_connection_get_origin(const TlsidOpensslConnection *c) {
        return c ? c->origin : "";
}

_public_ uint32_t tlsid_openssl_connection_get_generation(const TlsidOpensslConnection *c) {
        return c ? c->generation : 0;
}

_public_ const char *tlsid_openssl_connection_get_identity(const TlsidOpensslConnection *c) {
        return c ? c->identity : "";
}

_public_ int tlsid_openssl_connection_is_degraded(const TlsidOpensslConnection *c) {
        return c && c->degraded;
}

_public_ int tlsid_openssl_connection_offered_session(const TlsidOpensslConnection *c) {
        return c && c->offered;
}

_public_ int tlsid_openssl_connection_server_asked(const TlsidOpensslConnection *c) {
        return c && c->server_asked;
}

_public_ int tlsid_openssl_connection_get_decision(const TlsidOpensslConnection *c) {
        return c ? c->decision : -1;
}

_public_ unsigned tlsid_openssl_connection_get_reauthentications(
                const TlsidOpensslConnection *c) {
        return c ? c->reauthentications : 0;
}

_public_ const char *tlsid_openssl_connection_get_sent_identity(
                const TlsidOpensslConnection *c) {
        return c ? c->sent_identity : "";
}

_public_ int tlsid_openssl_connection_is_retired(const TlsidOpensslConnection *c) {
        return c && __atomic_load_n(&c->stale, __ATOMIC_ACQUIRE);
}

_public_ int tlsid_openssl_connection_is_current(const TlsidOpensslConnection *c) {
        if (!c)
                return -EINVAL;
        return adapter_partition_is_current(c->context, c->origin, c->identity, c->generation,
                                            __atomic_load_n(&c->stale, __ATOMIC_ACQUIRE),
                                            c->degraded);
}

_public_ int tlsid_openssl_connection_matches(const TlsidOpensslConnection *c,
                                              const char *context, const char *origin) {
        if (!c)
                return -EINVAL;
        return adapter_signal_matches(c->context, c->origin, context, origin);
}

_public_ int tlsid_openssl_flush(uint64_t usec) {
        return outbox_flush(usec);
}

_public_ void tlsid_openssl_set_report_function(TlsidOpensslReportFn fn, void *userdata) {
        report_set_function(fn, userdata);
}
