/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The adapters' outbox (libtlsid-nss's and libtlsid-openssl's, whatever the TLS stack):
 * new resumption tokens queued for the daemon, sent by a worker thread when no handshake
 * of the process runs, and served first to the process's own next connection of their
 * partition. */
#include <pthread.h>
#include <time.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter-private.h"

/* The queue is bounded; past it new tokens are dropped (a later connection makes others). */
#define PUTS_QUEUED_MAX 256
/* How long a new token waits for the process's next connection to its origin before it
 * is sent: a connection that opens right after its predecessor takes it from here. */
#define PUTS_LINGER_USEC 5000
/* While handshakes of the process run, tokens wait for them, but never longer. */
#define PUTS_DEFER_MAX_USEC 50000
/* How long an attach waits for a token of its origin that is being sent, so that its own
 * call reaches the daemon after it: sending is a write, microseconds, unless the bus
 * stalls; no longer than one daemon call may take on the handshake path. */
#define PUTS_SEND_WAIT_USEC ADAPTER_DEFAULT_TIMEOUT_USEC

static pthread_once_t puts_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t puts_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t puts_cond;        /* CLOCK_MONOTONIC: the worker's wake-up */
static pthread_cond_t puts_idle;        /* CLOCK_MONOTONIC: a put was sent or dropped */
static Put *puts_head, *puts_tail;      /* under puts_lock: oldest first */
static size_t puts_queued;              /* under puts_lock: queued or being sent */
static uint64_t puts_serial;            /* under puts_lock: the last serial given */
static const Put *puts_sending;         /* under puts_lock: the put being sent, or NULL */
static unsigned handshakes_running;     /* under puts_lock */
static unsigned flushing;               /* under puts_lock: tlsid_nss_flush() calls waiting */
static bool held;                       /* under puts_lock: outbox_hold() */
static bool puts_worker;                /* under puts_lock: the thread runs */

static void puts_init(void) {
        pthread_condattr_t attr;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&puts_cond, &attr);
        pthread_cond_init(&puts_idle, &attr);
        pthread_condattr_destroy(&attr);
}

static void lock_puts(void) {
        pthread_once(&puts_once, puts_init);
        pthread_mutex_lock(&puts_lock);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static struct timespec timespec_at(uint64_t usec) {
        return (struct timespec) { .tv_sec = (time_t) (usec / 1000000u),
                                   .tv_nsec = (long) (usec % 1000000u) * 1000 };
}

void *put_steal_token(Put *put, size_t *ret_len) {
        void *token = put->token;

        *ret_len = put->len;
        put->token = NULL;
        put->len = 0;
        return token;
}

void put_free(Put *put) {
        if (!put)
                return;
        if (put->object)
                put->object_free(put->object);
        tlsid_secret_free(put->token, put->len);
        tlsid_context_unref(put->context);
        free(put);
}

/* Whether @put is for (@context's client and name, @origin): the daemon partitions by
 * name, and one client speaks to one daemon. */
static bool put_is_for(const Put *put, TlsidContext *context, const char *origin) {
        return put->stack == adapter_stack &&
                tlsid_context_get_client(put->context) == tlsid_context_get_client(context) &&
                strcmp(tlsid_context_get_name(put->context), tlsid_context_get_name(context)) ==
                        0 &&
                strcmp(put->origin, origin) == 0;
}

bool put_serves(const Put *put, const char *peer_id) {
        /* The peer id names the identity too; NSS's tokens are never made with one. */
        return put->peer_id[0] != '\0' && peer_id[0] != '\0' &&
                strcmp(put->peer_id, peer_id) == 0 &&
                (put->identity[0] == '\0' || adapter_stack_resumes_identities) &&
                put->expires > (int64_t) time(NULL);
}

/* Unlinks @put (queued, after @prev or first); under puts_lock. */
static void unlink_put(Put *prev, Put *put) {
        if (prev)
                prev->next = put->next;
        else
                puts_head = put->next;
        if (puts_tail == put)
                puts_tail = prev;
        put->next = NULL;
        if (--puts_queued == 0)
                pthread_cond_broadcast(&puts_idle);
}

static void put_send(Put *put) {
        const char *alpn = put->alpn[0] ? put->alpn : NULL;
        int r = put->stack ? tlsid_context_put_session_for(put->context, put->origin,
                                                           put->identity, put->generation,
                                                           put->stack, put->token, put->len,
                                                           put->expires, put->version, alpn)
                           : tlsid_context_put_session(put->context, put->origin, put->identity,
                                                       put->generation, put->token, put->len,
                                                       put->expires, put->version, alpn);

        if (r < 0 && !is_caller_error(r))
                note_unreachable(r);
}

/* When the oldest put is due: it lingers for the process's next connection, then waits
 * for the handshakes running, up to a bound; at once when someone flushes. */
static uint64_t put_due(const Put *put) {
        if (flushing > 0)
                return 0;
        return put->queued_usec +
                (handshakes_running > 0 ? PUTS_DEFER_MAX_USEC : PUTS_LINGER_USEC);
}

static void *puts_main(void *unused) {
        lock_puts();
        for (;;) {
                Put *put;
                uint64_t due;

                if (!puts_head || held) {
                        pthread_cond_wait(&puts_cond, &puts_lock);
                        continue;
                }
                due = put_due(puts_head);
                if (due > now_usec()) {
                        struct timespec at = timespec_at(due);

                        (void) pthread_cond_timedwait(&puts_cond, &puts_lock, &at);
                        continue;
                }
                put = puts_head;
                puts_head = put->next;
                if (!puts_head)
                        puts_tail = NULL;
                puts_sending = put;
                pthread_mutex_unlock(&puts_lock);
                put_send(put);
                pthread_mutex_lock(&puts_lock);
                puts_sending = NULL;
                puts_queued--;
                pthread_cond_broadcast(&puts_idle);
                pthread_mutex_unlock(&puts_lock);
                put_free(put);
                pthread_mutex_lock(&puts_lock);
        }
        return NULL;
}

void outbox_drop_queued(void) {
        Put *dropped;

        lock_puts();
        dropped = puts_head;
        for (Put *p = puts_head; p; p = p->next)
                puts_queued--;
        puts_head = puts_tail = NULL;
        while (puts_queued > 0)
                pthread_cond_wait(&puts_idle, &puts_lock);
        pthread_cond_broadcast(&puts_idle);
        pthread_mutex_unlock(&puts_lock);
        while (dropped) {
                Put *next = dropped->next;

                put_free(dropped);
                dropped = next;
        }
}

/* Queues @put last, or drops it when nothing would send it or the queue is full; called
 * with puts_lock held, which it releases. */
static void enqueue_locked(Put *put) {
        if (!puts_worker || !outbox_may_queue() || puts_queued >= PUTS_QUEUED_MAX) {
                pthread_mutex_unlock(&puts_lock);
                put_free(put);
                return;
        }
        put->next = NULL;
        if (puts_tail)
                puts_tail->next = put;
        else
                puts_head = put;
        puts_tail = put;
        puts_queued++;
        pthread_cond_signal(&puts_cond);
        pthread_mutex_unlock(&puts_lock);
}

void outbox_put(const AdapterPartition *at, void *token, size_t len, int64_t expires,
                uint16_t version, const char *alpn, void *object,
                AdapterObjectFree object_free) {
        Put *put = expires > 0 ? calloc(1, sizeof *put) : NULL;

        if (!put) {
                /* A token we cannot date is not worth keeping. */
                tlsid_secret_free(token, len);
                if (object)
                        object_free(object);
                return;
        }
        put->token = token;
        put->len = len;
        put->object = object;
        put->object_free = object_free;
        put->stack = adapter_stack;
        put->context = tlsid_context_ref(at->context);
        snprintf(put->origin, sizeof put->origin, "%s", at->origin);
        snprintf(put->identity, sizeof put->identity, "%s", at->identity);
        snprintf(put->peer_id, sizeof put->peer_id, "%s", at->peer_id);
        put->generation = at->generation;
        put->expires = expires;
        put->version = version;
        if (alpn)
                snprintf(put->alpn, sizeof put->alpn, "%s", alpn);
        put->queued_usec = now_usec();

        lock_puts();
        if (!puts_worker) {
                pthread_t thread;
                pthread_attr_t attr;

                /* Detached: it lives as long as the process, waiting when idle. */
                if (pthread_attr_init(&attr) == 0) {
                        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                        puts_worker = pthread_create(&thread, &attr, puts_main, NULL) == 0;
                        pthread_attr_destroy(&attr);
                }
        }
        put->serial = ++puts_serial;
        enqueue_locked(put);
}

Put *outbox_claim(TlsidContext *context, const char *origin) {
        Put *newest = NULL, *newest_prev = NULL, *prev = NULL;
        uint64_t deadline = now_usec() + PUTS_SEND_WAIT_USEC, serial;

        lock_puts();
        for (Put *p = puts_head; p; prev = p, p = p->next)
                if (put_is_for(p, context, origin)) {
                        newest = p;
                        newest_prev = prev;
                }
        if (newest)
                unlink_put(newest_prev, newest);
        else if (puts_sending && put_is_for(puts_sending, context, origin)) {
                /* Older than anything queued: once it is written, the daemon has it
                 * before the call this attach makes next. */
                serial = puts_sending->serial;
                while (puts_sending && puts_sending->serial == serial) {
                        struct timespec at = timespec_at(deadline);

                        if (pthread_cond_timedwait(&puts_idle, &puts_lock, &at) == ETIMEDOUT)
                                break;
                }
        }
        pthread_mutex_unlock(&puts_lock);
        return newest;
}

void outbox_return(Put *put) {
        lock_puts();
        /* Its serial and queued time stand: it is older than what came meanwhile. */
        enqueue_locked(put);
}

void *outbox_take(TlsidContext *context, const char *origin, const char *peer_id,
                  size_t *ret_len) {
        Put *newest = NULL, *newest_prev = NULL, *prev = NULL, *dropped = NULL;
        void *token = NULL;

        *ret_len = 0;
        lock_puts();
        for (Put *p = puts_head, *next; p; p = next) {
                next = p->next;
                if (put_is_for(p, context, origin) && p->peer_id[0]) {
                        if (!put_serves(p, peer_id)) {
                                /* Another peer id is another partition (a switch, a flush,
                                 * a restarted daemon): the daemon would refuse it, and it
                                 * must never serve. */
                                unlink_put(prev, p);
                                p->next = dropped;
                                dropped = p;
                                continue;
                        }
                        newest = p;
                        newest_prev = prev;
                }
                prev = p;
        }
        if (newest)
                unlink_put(newest_prev, newest);
        pthread_mutex_unlock(&puts_lock);
        while (dropped) {
                Put *next = dropped->next;

                put_free(dropped);
                dropped = next;
        }
        if (newest) {
                token = put_steal_token(newest, ret_len);
                put_free(newest);
        }
        return token;
}

void outbox_handshake_begin(void) {
        lock_puts();
        handshakes_running++;
        pthread_mutex_unlock(&puts_lock);
}

void outbox_handshake_end(void) {
        lock_puts();
        if (handshakes_running > 0 && --handshakes_running == 0)
                pthread_cond_signal(&puts_cond);
        pthread_mutex_unlock(&puts_lock);
}

void outbox_hold(bool hold) {
        lock_puts();
        held = hold;
        pthread_cond_signal(&puts_cond);
        pthread_mutex_unlock(&puts_lock);
}

int outbox_flush(uint64_t usec) {
        uint64_t deadline = now_usec() + usec;
        int r = 0;

        lock_puts();
        flushing++;
        pthread_cond_signal(&puts_cond);
        while (puts_queued > 0 && r == 0) {
                struct timespec at = timespec_at(deadline);

                r = pthread_cond_timedwait(&puts_idle, &puts_lock, &at);
        }
        flushing--;
        r = puts_queued > 0 ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&puts_lock);
        return r;
}
