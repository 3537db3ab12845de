/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's asynchronous attach: the partition's round trips started as soon as the
 * origin is known (before the TCP connect), driven by the application's event loop through
 * libtlsid's calls without waiting (TlsidCall), and the socket wired once they ended; or
 * cancelled, the tokens it holds given back. */
#include <fcntl.h>
#include <poll.h>
#include <ssl.h>
#include <sslexp.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-nss-private.h"

typedef enum {
        STEP_PARTITION, /* GetPartition or BeginConnection in flight */
        STEP_TAKE,      /* TakeSession in flight: the process's own token was stale */
        STEP_DONE,
} Step;

struct TlsidNssAttach {
        TlsidNssConnection *c;          /* until finished */
        AttachPlan plan;
        char *host;                     /* as the caller gave it, for SNI */
        unsigned flags;
        Step step;
        TlsidCall *call;                /* the last round trip, kept until the end */
        int r;                          /* once done: how the round trips ended */
        int ready_fd;                   /* tlsid_nss_attach_get_fd() */
};

static void attach_free(TlsidNssAttach *a) {
        plan_clear(&a->plan);
        tlsid_call_free(a->call);
        if (a->ready_fd >= 0)
                close(a->ready_fd);
        if (a->c)
                tlsid_nss_connection_free(a->c);
        free(a->host);
        free(a);
}

/* The round trips ended with @r. */
static void attach_done(TlsidNssAttach *a, int r) {
        a->step = STEP_DONE;
        a->r = r;
}

/* Sends the first round trip: GetPartition when the process has a token of its own
 * queued for the origin (then the daemon's stay where they are), else BeginConnection. */
static int attach_send(TlsidNssAttach *a) {
        int r = plan_begin(a->c, &a->plan);

        if (r < 0)
                return r;
        if (a->plan.own)
                return tlsid_context_get_partition_async(a->c->context, a->c->origin, &a->call);
        return tlsid_context_begin_connection_async(a->c->context, a->c->origin, &a->call);
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
        a->ready_fd = -1;
        a->flags = flags;
        r = connection_new(context, host, port, flags, &a->c);
        if (r >= 0 && !(a->host = strdup(host)))
                r = -ENOMEM;
        if (r < 0) {
                attach_free(a);
                return r;
        }
        r = attach_send(a);
        if (r >= 0)
                a->ready_fd = fcntl(tlsid_call_get_fd(a->call), F_DUPFD_CLOEXEC, 0);
        else if (!is_caller_error(r)) {
                /* Done already, failed closed: the fd polls readable at once. */
                attach_done(a, r);
                a->ready_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
        }
        if (r >= 0 || !is_caller_error(r))
                r = a->ready_fd >= 0 ? 0 : -errno;
        if (r < 0) {
                attach_free(a);
                return r;
        }
        *ret_attach = a;
        return 0;
}

_public_ int tlsid_nss_attach_get_fd(const TlsidNssAttach *attach) {
        return attach ? attach->ready_fd : -EINVAL;
}

/* The first round trip ended: reads the partition, and asks TakeSession when the token of
 * the process's own turned out stale (the blocking form does the same). */
static void attach_partition_answered(TlsidNssAttach *a) {
        char *identity = NULL, *peer_id = NULL;
        uint32_t generation = 0;
        void *token = NULL;
        size_t len = 0;
        TlsidCall *take = NULL;
        bool with_token = !a->plan.own;
        int r;

        r = tlsid_call_finish_partition(a->call, NULL, &identity, &generation, &peer_id,
                                        with_token ? &token : NULL, with_token ? &len : NULL);
        if (r < 0) {
                attach_done(a, r);
                return;
        }
        if (plan_answer(a->c, &a->plan, identity, generation, peer_id, token, len) > 0 &&
            tlsid_context_take_session_async(a->c->context, a->c->origin, "", a->c->generation,
                                             &take) >= 0) {
                /* The same fd number polls the new call. */
                if (dup3(tlsid_call_get_fd(take), a->ready_fd, O_CLOEXEC) >= 0) {
                        tlsid_call_free(a->call);
                        a->call = take;
                        a->step = STEP_TAKE;
                        return;
                }
                tlsid_call_free(take);
        }
        /* Without TakeSession's token the connection does a full handshake. */
        attach_done(a, 0);
}

_public_ int tlsid_nss_attach_dispatch(TlsidNssAttach *attach) {
        TlsidNssAttach *a = attach;
        void *token = NULL;
        size_t len = 0;
        int r;

        if (!a)
                return -EINVAL;
        if (a->step == STEP_DONE)
                return 1;
        r = tlsid_call_dispatch(a->call);
        if (r == 0)
                return 0;
        if (r < 0)
                attach_done(a, r);
        else if (a->step == STEP_PARTITION)
                attach_partition_answered(a);
        else {
                /* As in the blocking form, a failed TakeSession only costs the resumption. */
                if (tlsid_call_finish_session(a->call, &token, &len) > 0) {
                        a->plan.token = token;
                        a->plan.len = len;
                }
                attach_done(a, 0);
        }
        return a->step == STEP_DONE;
}

/* Gives back the tokens @a holds and will not use: the process's own to the outbox (as it
 * was), a daemon's dated by decoding it (a cancel is rare; the put path never decodes). A
 * token BeginConnection took for a reply that never came is lost with the reply. */
static void attach_give_back(TlsidNssAttach *a) {
        Put *own = a->plan.own;
        void *token = a->plan.token;
        size_t len = a->plan.len;
        SSLResumptionTokenInfo info;

        a->plan.own = NULL;
        a->plan.token = NULL;
        a->plan.len = 0;
        if (own && token && !own->token) {
                /* It is the token the claimed put carried. */
                own->token = token;
                own->len = len;
                token = NULL;
        }
        /* Before the daemon answered it may still serve; after, only if it was made under
         * the partition the daemon named. */
        if (own && own->token && (!a->c->peer_id[0] || put_serves(own, a->c->peer_id)))
                outbox_return(own);
        else
                put_free(own);
        if (!token)
                return;
        if (a->c->peer_id[0] &&
            SSL_GetResumptionTokenInfo(token, (unsigned) len, &info, sizeof info) == SECSuccess) {
                int64_t expires = (int64_t) (info.expirationTime / PR_USEC_PER_SEC);

                (void) SSL_DestroyResumptionTokenInfo(&info);
                nss_outbox_put(a->c, token, len, expires, 0, NULL);
                return;
        }
        tlsid_secret_free(token, len);
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
        int r;

        if (!a)
                return -EINVAL;
        if (!ssl_fd || !ret_connection) {
                tlsid_nss_attach_cancel(a);
                return -EINVAL;
        }
        /* What is still in flight is waited for, bounded by the client's timeout. */
        while (a->step != STEP_DONE) {
                struct pollfd p = { .fd = a->ready_fd, .events = POLLIN };

                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        break;
                if (tlsid_nss_attach_dispatch(a) < 0)
                        break;
        }
        if (a->step != STEP_DONE)
                attach_done(a, -EIO);
        c = a->c;
        r = attach_prepare_socket(c, ssl_fd, a->host, a->flags);
        if (r < 0) {
                /* Not an SSL socket: what the attach took goes back. */
                attach_give_back(a);
                a->c = NULL;
                (void) attach_wire(c, &a->plan, ssl_fd, r);
                attach_free(a);
                return r;
        }
        a->c = NULL;
        r = attach_wire(c, &a->plan, ssl_fd, a->r);
        attach_free(a);
        if (r < 0)
                return r;
        *ret_connection = c;
        return 0;
}
