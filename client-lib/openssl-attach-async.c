/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl's asynchronous attach: the partition's round trips (adapter-attach-async.c,
 * BeginConnectionFor and TakeSessionFor) started as soon as the origin is known (before
 * the TCP connect), and the SSL attached once they ended; or cancelled, the tokens it
 * holds given back. */
#include <openssl/ssl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-openssl-private.h"

struct TlsidOpensslAttach {
        TlsidContext *context;          /* a reference */
        AdapterAttach *round_trips;     /* until finished */
        char host[TLSID_HOST_MAX + 3];
        uint16_t port;
        unsigned flags;
};

static void attach_free(TlsidOpensslAttach *a) {
        tlsid_context_unref(a->context);
        free(a);
}

_public_ int tlsid_openssl_attach_start(TlsidContext *context, const char *host,
                                        uint16_t port, unsigned flags,
                                        TlsidOpensslAttach **ret_attach) {
        char origin[TLSID_ORIGIN_MAX + 1];
        TlsidOpensslAttach *a;
        int r;

        if (!context || !host || !*host || port == 0 || !ret_attach ||
            (flags & ~TLSID_OPENSSL_POST_HANDSHAKE_AUTH) || strlen(host) >= sizeof a->host ||
            adapter_make_origin(host, port, origin, sizeof origin) < 0)
                return -EINVAL;
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        memcpy(a->host, host, strlen(host) + 1);
        a->port = port;
        a->flags = flags;
        a->context = tlsid_context_ref(context);
        r = adapter_attach_start(context, origin, &a->round_trips);
        if (r < 0) {
                attach_free(a);
                return r;
        }
        *ret_attach = a;
        return 0;
}

_public_ int tlsid_openssl_attach_get_fd(const TlsidOpensslAttach *attach) {
        return attach ? adapter_attach_get_fd(attach->round_trips) : -EINVAL;
}

_public_ int tlsid_openssl_attach_dispatch(TlsidOpensslAttach *attach) {
        return attach ? adapter_attach_dispatch(attach->round_trips) : -EINVAL;
}

/* Gives back the tokens @a holds and will not use (adapter_attach_cancel()), a daemon's
 * queued with its session, decoded (a cancel is rare; the put path never decodes). */
static void attach_give_back(TlsidOpensslAttach *a) {
        TlsidOpensslConnection at = { .context = a->context };
        AdapterBegin rest;
        SSL_SESSION *session;

        adapter_attach_cancel(a->round_trips, &rest);
        a->round_trips = NULL;
        if (!rest.token)
                return;
        (void) adapter_make_origin(a->host, a->port, at.origin, sizeof at.origin);
        memcpy(at.identity, rest.identity, sizeof at.identity);
        at.generation = rest.generation;
        memcpy(at.peer_id, rest.peer_id, sizeof at.peer_id);
        session = rest.object ? rest.object : token_to_session(&at, rest.token, rest.len);
        if (!session) {
                tlsid_secret_free(rest.token, rest.len);
                return;
        }
        queue_token(&at, session, rest.token, rest.len);
        SSL_SESSION_free(session);
}

_public_ void tlsid_openssl_attach_cancel(TlsidOpensslAttach *attach) {
        if (!attach)
                return;
        attach_give_back(attach);
        attach_free(attach);
}

_public_ int tlsid_openssl_attach_finish(TlsidOpensslAttach *attach, SSL *ssl,
                                         TlsidOpensslCredentials *credentials,
                                         TlsidOpensslConnection **ret_connection) {
        TlsidOpensslAttach *a = attach;
        int r;

        if (!a)
                return -EINVAL;
        r = attach_with(ssl, a->context, credentials, a->host, a->port, a->flags,
                        &a->round_trips, ret_connection);
        /* An SSL refused takes nothing the attach holds: it goes back. */
        if (a->round_trips)
                attach_give_back(a);
        attach_free(a);
        return r;
}
