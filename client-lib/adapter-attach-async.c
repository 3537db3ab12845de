/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The adapters' asynchronous attach, whatever their stack: the partition's round trips
 * (adapter_begin_partition()'s, through libtlsid's calls without waiting) started as soon
 * as the origin is known, the one fd the application polls for them, and, when the attach
 * is cancelled, the process's own token given back to the outbox. */
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapter-private.h"

typedef enum {
        STEP_PARTITION, /* GetPartition or BeginConnection(For) in flight */
        STEP_TAKE,      /* TakeSession(For) in flight: the process's own token was stale */
        STEP_DONE,
} Step;

struct AdapterAttach {
        TlsidContext *context;          /* a reference */
        char origin[TLSID_ORIGIN_MAX + 1];
        Put *own;                       /* the process's queued token claimed, nullable */
        AdapterBegin begin;             /* once the daemon answered */
        Step step;
        TlsidCall *call;                /* the last round trip, kept until the end */
        int r;                          /* once done: how the round trips ended */
        int ready_fd;                   /* adapter_attach_get_fd() */
};

static void begin_clear(AdapterBegin *b) {
        tlsid_secret_free(b->token, b->len);
        if (b->object)
                b->object_free(b->object);
        memset(b, 0, sizeof *b);
}

static void attach_free(AdapterAttach *a) {
        put_free(a->own);
        begin_clear(&a->begin);
        tlsid_call_free(a->call);
        if (a->ready_fd >= 0)
                close(a->ready_fd);
        tlsid_context_unref(a->context);
        free(a);
}

static void attach_done(AdapterAttach *a, int r) {
        a->step = STEP_DONE;
        a->r = r;
}

/* GetPartition when the process has a token of its own queued for the origin (then the
 * daemon's stay where they are), else BeginConnection. */
static int attach_send(AdapterAttach *a) {
        a->own = outbox_claim(a->context, a->origin);
        if (a->own)
                return tlsid_context_get_partition_async(a->context, a->origin, &a->call);
        if (adapter_stack)
                return tlsid_context_begin_connection_for_async(a->context, a->origin,
                                                                adapter_stack, &a->call);
        return tlsid_context_begin_connection_async(a->context, a->origin, &a->call);
}

/* @r_before: a failure of the stack's own step before the round trips (NSS's token key):
 * then none is sent. */
static int attach_start(TlsidContext *context, const char *origin, int r_before,
                        AdapterAttach **ret_attach) {
        AdapterAttach *a;
        int r;

        if (!context || !origin || strlen(origin) >= sizeof a->origin || !ret_attach)
                return -EINVAL;
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->ready_fd = -1;
        a->context = tlsid_context_ref(context);
        memcpy(a->origin, origin, strlen(origin) + 1);
        r = r_before < 0 ? r_before : attach_send(a);
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

int adapter_attach_start(TlsidContext *context, const char *origin,
                         AdapterAttach **ret_attach) {
        return attach_start(context, origin, 0, ret_attach);
}

int adapter_attach_start_failed(TlsidContext *context, const char *origin, int r,
                                AdapterAttach **ret_attach) {
        return attach_start(context, origin, r, ret_attach);
}

int adapter_attach_get_fd(const AdapterAttach *a) {
        return a ? a->ready_fd : -EINVAL;
}

static int take_session_start(AdapterAttach *a, TlsidCall **ret_call) {
        if (adapter_stack)
                return tlsid_context_take_session_for_async(a->context, a->origin,
                                                            a->begin.identity,
                                                            a->begin.generation,
                                                            adapter_stack, ret_call);
        return tlsid_context_take_session_async(a->context, a->origin, a->begin.identity,
                                                a->begin.generation, ret_call);
}

/* The first round trip ended: reads the partition (adapter_plan_answer()), and asks
 * TakeSession when the token of the process's own turned out stale. */
static void attach_partition_answered(AdapterAttach *a) {
        char *identity = NULL, *peer_id = NULL;
        uint32_t generation = 0;
        void *token = NULL;
        size_t len = 0;
        TlsidCall *take = NULL;
        bool with_token = !a->own;
        int r;

        r = tlsid_call_finish_partition(a->call, NULL, &identity, &generation, &peer_id,
                                        with_token ? &token : NULL, with_token ? &len : NULL);
        if (r < 0) {
                attach_done(a, r);
                return;
        }
        if (adapter_plan_answer(a->context, a->origin, &a->own, identity, generation, peer_id,
                                token, len, &a->begin) > 0 &&
            take_session_start(a, &take) >= 0) {
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

int adapter_attach_dispatch(AdapterAttach *a) {
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
                        a->begin.token = token;
                        a->begin.len = len;
                }
                attach_done(a, 0);
        }
        return a->step == STEP_DONE;
}

int adapter_attach_end(AdapterAttach *a, AdapterBegin *ret) {
        int r;

        /* What is still in flight is waited for, bounded by the client's timeout. */
        while (a->step != STEP_DONE) {
                struct pollfd p = { .fd = a->ready_fd, .events = POLLIN };

                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        break;
                if (adapter_attach_dispatch(a) < 0)
                        break;
        }
        if (a->step != STEP_DONE)
                attach_done(a, -EIO);
        r = a->r;
        if (r >= 0) {
                *ret = a->begin;
                memset(&a->begin, 0, sizeof a->begin);
        }
        attach_free(a);
        return r;
}

void adapter_attach_cancel(AdapterAttach *a, AdapterBegin *ret_rest) {
        Put *own = a->own;
        AdapterBegin *b = &a->begin;

        memset(ret_rest, 0, sizeof *ret_rest);
        a->own = NULL;
        if (own && b->token && !own->token) {
                /* It is the token the claimed put carried. */
                own->token = b->token;
                own->len = b->len;
                own->object = b->object;
                b->token = NULL;
                b->len = 0;
                b->object = NULL;
        }
        /* Before the daemon answered it may still serve; after, only if it was made under
         * the partition the daemon named. */
        if (own && own->token && (!b->peer_id[0] || put_serves(own, b->peer_id)))
                outbox_return(own);
        else
                put_free(own);
        /* A daemon's token only once the partition it serves is known. */
        if (b->peer_id[0]) {
                *ret_rest = *b;
                memset(b, 0, sizeof *b);
        }
        attach_free(a);
}
