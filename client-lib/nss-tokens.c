/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's resumption tokens: the daemon's token given to NSS before a handshake,
 * and new tokens stored by a worker thread, off the handshake path. */
#include <nss.h>
#include <pthread.h>
#include <ssl.h>
#include <sslexp.h>
#include <sslproto.h>
#include <time.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-nss-private.h"

/* Tokens are stored by one worker thread, off the handshake path: decoding a token (for
 * its expiry and ALPN) costs NSS a certificate lookup, and the put a message. The queue
 * is bounded; past it new tokens are dropped (a later connection makes others). */
#define PUTS_QUEUED_MAX 256

typedef struct Put {
        struct Put *next;
        TlsidContext *context;          /* a reference */
        char origin[TLSID_ORIGIN_MAX + 1];
        char identity[TLSID_IDENTITY_LEN + 1];
        uint32_t generation;
        uint16_t version;
        void *token;                    /* zeroed when freed */
        size_t len;
} Put;

static pthread_mutex_t puts_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t puts_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t puts_idle = PTHREAD_COND_INITIALIZER;
static Put *puts_head, *puts_tail;      /* under puts_lock */
static size_t puts_queued;              /* under puts_lock: queued or being sent */
static bool puts_worker;                /* under puts_lock: the thread runs */
static bool puts_hooked;                /* under puts_lock: NSS_RegisterShutdown done */

static void put_free(Put *put) {
        tlsid_secret_free(put->token, put->len);
        tlsid_context_unref(put->context);
        free(put);
}

static void put_send(Put *put) {
        SSLResumptionTokenInfo info;
        char alpn[TLSID_ALPN_MAX + 1];
        bool have_alpn = false;
        int64_t expires = 0;
        int r;

        if (SSL_GetResumptionTokenInfo(put->token, (unsigned) put->len, &info,
                                       sizeof info) == SECSuccess) {
                /* PRTime is in microseconds. */
                expires = info.expirationTime / PR_USEC_PER_SEC;
                if (info.alpnSelection && info.alpnSelectionLen > 0 &&
                    info.alpnSelectionLen <= TLSID_ALPN_MAX &&
                    !memchr(info.alpnSelection, '\0', info.alpnSelectionLen)) {
                        memcpy(alpn, info.alpnSelection, info.alpnSelectionLen);
                        alpn[info.alpnSelectionLen] = '\0';
                        have_alpn = true;
                }
                SSL_DestroyResumptionTokenInfo(&info);
        }
        if (expires <= 0)
                return;         /* a token we cannot date is not worth keeping */
        r = tlsid_context_put_session(put->context, put->origin, put->identity, put->generation,
                                      put->token, put->len, expires, put->version,
                                      have_alpn ? alpn : NULL);
        if (r < 0 && !is_caller_error(r))
                note_unreachable(r);
}

static void *puts_main(void *unused) {
        for (;;) {
                Put *put;

                pthread_mutex_lock(&puts_lock);
                while (!puts_head)
                        pthread_cond_wait(&puts_cond, &puts_lock);
                put = puts_head;
                puts_head = put->next;
                if (!puts_head)
                        puts_tail = NULL;
                pthread_mutex_unlock(&puts_lock);
                put_send(put);
                put_free(put);
                pthread_mutex_lock(&puts_lock);
                if (--puts_queued == 0)
                        pthread_cond_broadcast(&puts_idle);
                pthread_mutex_unlock(&puts_lock);
        }
        return NULL;
}

/* NSS is shutting down (the worker decodes tokens with it): drops what is queued and waits
 * for the put being sent. */
static SECStatus on_nss_shutdown(void *app_data, void *nss_data) {
        Put *dropped;

        pthread_mutex_lock(&puts_lock);
        dropped = puts_head;
        for (Put *p = puts_head; p; p = p->next)
                puts_queued--;
        puts_head = puts_tail = NULL;
        while (puts_queued > 0)
                pthread_cond_wait(&puts_idle, &puts_lock);
        puts_hooked = false;
        pthread_cond_broadcast(&puts_idle);
        pthread_mutex_unlock(&puts_lock);
        while (dropped) {
                Put *next = dropped->next;

                put_free(dropped);
                dropped = next;
        }
        return SECSuccess;
}

/* Queues @token (taking it, @len bytes) for the connection's partition. */
void put_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len) {
        SSLPreliminaryChannelInfo pre;
        Put *put = calloc(1, sizeof *put);

        if (!put) {
                tlsid_secret_free(token, len);
                return;
        }
        put->token = token;
        put->len = len;
        put->context = tlsid_context_ref(c->context);
        snprintf(put->origin, sizeof put->origin, "%s", c->origin);
        snprintf(put->identity, sizeof put->identity, "%s", c->identity);
        put->generation = c->generation;
        if (SSL_GetPreliminaryChannelInfo(fd, &pre, sizeof pre) == SECSuccess &&
            (pre.valuesSet & ssl_preinfo_version))
                put->version = pre.protocolVersion;

        pthread_mutex_lock(&puts_lock);
        if (!puts_hooked)
                puts_hooked = NSS_RegisterShutdown(on_nss_shutdown, NULL) == SECSuccess;
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
        if (!puts_worker || !puts_hooked || puts_queued >= PUTS_QUEUED_MAX) {
                pthread_mutex_unlock(&puts_lock);
                put_free(put);
                return;
        }
        if (puts_tail)
                puts_tail->next = put;
        else
                puts_head = put;
        puts_tail = put;
        puts_queued++;
        pthread_cond_signal(&puts_cond);
        pthread_mutex_unlock(&puts_lock);
}

_public_ int tlsid_nss_flush(uint64_t usec) {
        struct timespec deadline;
        int r = 0;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += (time_t) (usec / 1000000u);
        deadline.tv_nsec += (long) (usec % 1000000u) * 1000;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&puts_lock);
        while (puts_queued > 0 && r == 0)
                r = pthread_cond_timedwait(&puts_idle, &puts_lock, &deadline);
        r = puts_queued > 0 ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&puts_lock);
        return r;
}

/* NSS calls this for each ticket of a session in which no client certificate was sent
 * (only on sockets whose partition has no identity). */
SECStatus on_resumption_token(PRFileDesc *fd, const PRUint8 *token, unsigned int len,
                                     void *userdata) {
        TlsidNssConnection *c = userdata;
        void *copy;

        c->got_token = true;
        if (c->degraded || !(copy = malloc(len)))
                return SECSuccess;
        memcpy(copy, token, len);
        put_token(c, fd, copy, len);
        /* NSS goes on whatever we did with the copy. */
        return SECSuccess;
}

void drop_used_token(TlsidNssConnection *c) {
        tlsid_secret_free(c->used_token, c->used_len);
        c->used_token = NULL;
        c->used_len = 0;
}

/* A TLS 1.2 session resumed from a ticket usually gets no new ticket (the server renews it
 * only when it likes), yet may be resumed again, as NSS's own cache would: the daemon's
 * tokens are single use, so the one used goes back. TLS 1.3 tickets are single use
 * (RFC 8446 C.4) and a new one arrives after the handshake. */
void on_handshake_done(PRFileDesc *fd, void *userdata) {
        TlsidNssConnection *c = userdata;
        SSLChannelInfo info;

        c->handshakes++;
        if (c->used_token && !c->got_token && !c->degraded &&
            SSL_GetChannelInfo(fd, &info, sizeof info) == SECSuccess && info.resumed &&
            info.protocolVersion <= SSL_LIBRARY_VERSION_TLS_1_2) {
                put_token(c, fd, c->used_token, c->used_len);
                c->used_token = NULL;
                c->used_len = 0;
        }
        drop_used_token(c);
}

/* Gives NSS the daemon's token of the partition; one NSS refuses (expired, or a version
 * or cipher suite no longer enabled) is dropped. Takes @token. */
void use_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len) {
        if (SSL_SetResumptionToken(fd, token, (unsigned) len) != SECSuccess) {
                tlsid_secret_free(token, len);
                return;
        }
        c->used_token = token;
        c->used_len = len;
}
