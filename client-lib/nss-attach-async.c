/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's asynchronous attach: the partition's round trips (adapter-attach-async.c)
 * started as soon as the origin is known (before the TCP connect), and the socket wired
 * once they ended; or cancelled, the tokens it holds given back. */
#include <ssl.h>
#include <sslexp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-nss-private.h"

struct TlsidNssAttach {
        TlsidNssConnection *c;          /* until finished */
        AdapterAttach *round_trips;
        char *host;                     /* as the caller gave it, for SNI */
        unsigned flags;
};

static void attach_free(TlsidNssAttach *a) {
        if (a->c)
                tlsid_nss_connection_free(a->c);
        free(a->host);
        free(a);
}

_public_ int tlsid_nss_attach_start(TlsidContext *context, const char *host, uint16_t port,
                                    unsigned flags, TlsidNssAttach **ret_attach) {
        TlsidNssAttach *a;
        int r;

        if (!ret_attach)
                return -EINVAL;
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->flags = flags;
        r = connection_new(context, host, port, flags, &a->c);
        if (r >= 0 && !(a->host = strdup(host)))
                r = -ENOMEM;
        if (r >= 0) {
                r = install_wrap_key(context);
                r = r >= 0 ? adapter_attach_start(context, a->c->origin, &a->round_trips)
                           : adapter_attach_start_failed(context, a->c->origin, r,
                                                         &a->round_trips);
        }
        if (r < 0) {
                attach_free(a);
                return r;
        }
        *ret_attach = a;
        return 0;
}

_public_ int tlsid_nss_attach_get_fd(const TlsidNssAttach *attach) {
        return attach ? adapter_attach_get_fd(attach->round_trips) : -EINVAL;
}

_public_ int tlsid_nss_attach_dispatch(TlsidNssAttach *attach) {
        return attach ? adapter_attach_dispatch(attach->round_trips) : -EINVAL;
}

/* Records the partition of @b on @c. */
static void connection_set_partition(TlsidNssConnection *c, const AdapterBegin *b) {
        memcpy(c->identity, b->identity, sizeof c->identity);
        c->generation = b->generation;
        memcpy(c->peer_id, b->peer_id, sizeof c->peer_id);
}

/* Gives back the tokens @a holds and will not use (adapter_attach_cancel()), a daemon's
 * dated by decoding it (a cancel is rare; the put path never decodes). */
static void attach_give_back(TlsidNssAttach *a) {
        AdapterBegin rest;
        SSLResumptionTokenInfo info;

        adapter_attach_cancel(a->round_trips, &rest);
        a->round_trips = NULL;
        if (!rest.token)
                return;
        connection_set_partition(a->c, &rest);
        if (SSL_GetResumptionTokenInfo(rest.token, (unsigned) rest.len, &info, sizeof info) ==
            SECSuccess) {
                int64_t expires = (int64_t) (info.expirationTime / PR_USEC_PER_SEC);

                (void) SSL_DestroyResumptionTokenInfo(&info);
                nss_outbox_put(a->c, rest.token, rest.len, expires, 0, NULL);
                return;
        }
        tlsid_secret_free(rest.token, rest.len);
}

_public_ void tlsid_nss_attach_cancel(TlsidNssAttach *attach) {
        if (!attach)
                return;
        attach_give_back(attach);
        attach_free(attach);
}

_public_ int tlsid_nss_attach_finish(TlsidNssAttach *attach, PRFileDesc *ssl_fd,
                                     TlsidNssConnection **ret_connection) {
        TlsidNssAttach *a = attach;
        TlsidNssConnection *c;
        AttachPlan plan = { 0 };
        AdapterBegin begin;
        int r;

        if (!a)
                return -EINVAL;
        if (!ssl_fd || !ret_connection) {
                tlsid_nss_attach_cancel(a);
                return -EINVAL;
        }
        c = a->c;
        r = attach_prepare_socket(c, ssl_fd, a->host, a->flags);
        if (r < 0) {
                /* Not an SSL socket: what the attach took goes back. */
                attach_give_back(a);
                a->c = NULL;
                (void) attach_wire(c, &plan, ssl_fd, r);
                attach_free(a);
                return r;
        }
        r = adapter_attach_end(a->round_trips, &begin);
        a->round_trips = NULL;
        if (r >= 0) {
                connection_set_partition(c, &begin);
                plan.token = begin.token;
                plan.len = begin.len;
                if (begin.object)
                        begin.object_free(begin.object);
        }
        a->c = NULL;
        r = attach_wire(c, &plan, ssl_fd, r);
        attach_free(a);
        if (r < 0)
                return r;
        *ret_connection = c;
        return 0;
}
