/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss: partitions, resumption tokens and client certificates for NSS sockets. */
#include "tlsid/tlsid-nss.h"

#include <cert.h>
#include <errno.h>
#include <keyhi.h>
#include <nss.h>
#include <pk11pub.h>
#include <pthread.h>
#include <secerr.h>
#include <ssl.h>
#include <sslexp.h>
#include <sslproto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tlsid-ids.h"
#include "tlsid-limits.h"

#define _public_ __attribute__((visibility("default")))

struct TlsidNssConnection {
        TlsidContext *context;          /* borrowed: the caller keeps it alive */
        char origin[TLSID_ORIGIN_MAX + 1];
        char identity[TLSID_IDENTITY_LEN + 1];          /* the partition's: "" or a fingerprint */
        uint32_t generation;
        bool degraded;
        bool server_asked;
        int decision;                   /* TlsidDecision, or -1 */
        char sent_identity[TLSID_IDENTITY_LEN + 1];
        void *used_token;               /* the daemon's token NSS accepted, until the handshake */
        size_t used_len;
        bool got_token;                 /* NSS handed out a new token on this connection */
        bool stale;                     /* the daemon said its partition moved on */
        unsigned handshakes;            /* completed: the first, then renegotiations */
        unsigned reauthentications;     /* mid-connection requests answered with a cert */
        struct Selection *pending;      /* non-blocking: the certificate request in flight */
        struct Selection *last;         /* the last certificate request, for challenges */
        int ready_fd;                   /* non-blocking: readable when pending is answered */
};

/* The outage report: one message when the daemon becomes unreachable, one when it answers
 * again, whichever thread notices. */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static TlsidNssReportFn report_fn;      /* under report_lock; NULL: stderr */
static void *report_userdata;           /* under report_lock */
static bool outage;                     /* under report_lock */

static void report(TlsidNssReportFn fn, void *userdata, const char *message) {
        if (fn)
                fn(message, userdata);
        else
                fprintf(stderr, "libtlsid-nss: %s\n", message);
}

/* The callback runs outside the lock so that it may call back into the library. */
static void note_unreachable(int r) {
        TlsidNssReportFn fn;
        void *userdata;
        char message[640];
        bool first;

        pthread_mutex_lock(&report_lock);
        first = !outage;
        outage = true;
        fn = report_fn;
        userdata = report_userdata;
        pthread_mutex_unlock(&report_lock);
        if (!first)
                return;
        snprintf(message, sizeof message,
                 "cannot use tlsidd (%s): TLS connections go on without resumption and "
                 "without client certificates",
                 *tlsid_error_message() ? tlsid_error_message() : strerror(-r));
        report(fn, userdata, message);
}

static void note_reachable(void) {
        TlsidNssReportFn fn;
        void *userdata;
        bool was_out;

        pthread_mutex_lock(&report_lock);
        was_out = outage;
        outage = false;
        fn = report_fn;
        userdata = report_userdata;
        pthread_mutex_unlock(&report_lock);
        if (was_out)
                report(fn, userdata, "tlsidd is reachable again");
}

_public_ void tlsid_nss_set_report_function(TlsidNssReportFn fn, void *userdata) {
        pthread_mutex_lock(&report_lock);
        report_fn = fn;
        report_userdata = userdata;
        pthread_mutex_unlock(&report_lock);
}

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

/* Failures the caller caused, which attach returns; any other one means the daemon cannot
 * serve us now, and the connection goes on without it. */
static bool is_caller_error(int r) {
        return r == -EINVAL || r == -ENOMEM || r == -ENOENT;
}

static void fingerprint_hex(const unsigned char *der, unsigned len, char out[65]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char digest[32];

        if (PK11_HashBuf(SEC_OID_SHA256, digest, der, (PRInt32) len) != SECSuccess) {
                out[0] = '\0';
                return;
        }
        for (size_t i = 0; i < sizeof digest; i++) {
                out[2 * i] = hex[digest[i] >> 4];
                out[2 * i + 1] = hex[digest[i] & 0xf];
        }
        out[64] = '\0';
}

/* ---- Resumption tokens ---- */

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
static void put_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len) {
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
static SECStatus on_resumption_token(PRFileDesc *fd, const PRUint8 *token, unsigned int len,
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

static void drop_used_token(TlsidNssConnection *c) {
        tlsid_secret_free(c->used_token, c->used_len);
        c->used_token = NULL;
        c->used_len = 0;
}

/* A TLS 1.2 session resumed from a ticket usually gets no new ticket (the server renews it
 * only when it likes), yet may be resumed again, as NSS's own cache would: the daemon's
 * tokens are single use, so the one used goes back. TLS 1.3 tickets are single use
 * (RFC 8446 C.4) and a new one arrives after the handshake. */
static void on_handshake_done(PRFileDesc *fd, void *userdata) {
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
static void use_token(TlsidNssConnection *c, PRFileDesc *fd, void *token, size_t len) {
        if (SSL_SetResumptionToken(fd, token, (unsigned) len) != SECSuccess) {
                tlsid_secret_free(token, len);
                return;
        }
        c->used_token = token;
        c->used_len = len;
}

/* ---- Client authentication ---- */

typedef struct {
        CERTCertificate *cert;          /* its nickname goes to the daemon too */
        CERTCertificateList *chain;     /* nullable; certs[0] is the leaf */
        TlsidDer chain_ders[TLSID_CHAIN_MAX];
        char fingerprint[TLSID_IDENTITY_LEN + 1];
} Candidate;

static void candidates_free(Candidate *candidates, size_t n) {
        for (size_t i = 0; i < n; i++) {
                CERT_DestroyCertificate(candidates[i].cert);
                if (candidates[i].chain)
                        CERT_DestroyCertificateList(candidates[i].chain);
        }
        free(candidates);
}

/* The user certificates (those with a private key) of the process's NSS database that NSS
 * can use on @fd, each with its chain (issuer first, without the root). SSL_CertIsUsable
 * checks the key against the server's signature_algorithms, which NSS 3.87 keeps to itself:
 * filtering here stands in for sending the schemes. */
static int gather_candidates(PRFileDesc *fd, bool usable_only, Candidate **ret,
                             size_t *ret_n) {
        CERTCertList *list;
        Candidate *candidates;
        size_t n = 0;

        candidates = calloc(TLSID_CANDIDATES_MAX, sizeof *candidates);
        if (!candidates)
                return -ENOMEM;
        list = PK11_ListCerts(PK11CertListUserUnique, SSL_RevealPinArg(fd));
        if (list) {
                for (CERTCertListNode *node = CERT_LIST_HEAD(list);
                     !CERT_LIST_END(node, list) && n < TLSID_CANDIDATES_MAX;
                     node = CERT_LIST_NEXT(node)) {
                        CERTCertificate *cert = node->cert;
                        Candidate *cand = &candidates[n];

                        if (cert->derCert.len == 0 || cert->derCert.len > TLSID_CERTIFICATE_MAX ||
                            (usable_only && !SSL_CertIsUsable(fd, cert)))
                                continue;
                        cand->cert = CERT_DupCertificate(cert);
                        fingerprint_hex(cert->derCert.data, cert->derCert.len,
                                        cand->fingerprint);
                        cand->chain = CERT_CertChainFromCert(cert, certUsageSSLClient, PR_FALSE);
                        n++;
                }
                CERT_DestroyCertList(list);
        }
        *ret = candidates;
        *ret_n = n;
        return 0;
}

/* One certificate request: what the hook gathered (copies: NSS's CA names do not outlive
 * the hook) and, once SelectCertificate answered, the decision. Shared by the connection
 * and, on a non-blocking socket, the thread asking the daemon. */
typedef struct Selection {
        int refs;                       /* atomic */
        TlsidContext *context;          /* a reference */
        char origin[TLSID_ORIGIN_MAX + 1];
        TlsidCertRequest request;
        TlsidDer *names;
        CERTCertificate *server_cert;   /* nullable */
        Candidate *candidates;
        size_t n;
        TlsidCandidate *wire;
        int efd;                        /* non-blocking sockets: readable once answered */
        /* The answer (written by the asking thread before efd is signalled). */
        int r;
        TlsidDecision decision;
        char identity[TLSID_IDENTITY_LEN + 1];
        uint32_t generation;            /* of the partition the connection is in now */
        TlsidCertificateInfo *eligible; /* what the request allowed, best first */
        size_t n_eligible;
} Selection;

static Selection *selection_ref(Selection *sel) {
        __atomic_add_fetch(&sel->refs, 1, __ATOMIC_RELAXED);
        return sel;
}

static void selection_unref(Selection *sel) {
        if (!sel || __atomic_sub_fetch(&sel->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        for (size_t i = 0; i < sel->request.n_ca_names; i++)
                free((void *) sel->names[i].der);
        free(sel->names);
        if (sel->server_cert)
                CERT_DestroyCertificate(sel->server_cert);
        candidates_free(sel->candidates, sel->n);
        free(sel->wire);
        tlsid_certificate_infos_free(sel->eligible, sel->n_eligible);
        if (sel->efd >= 0)
                close(sel->efd);
        tlsid_context_unref(sel->context);
        free(sel);
}

/* What NSS 3.87 hands a client of the CertificateRequest: the CA names, and through the
 * socket the version, the cipher suite and the server's certificate (in TLS 1.3 the request
 * comes before the server's Certificate, so there is none yet). The signature_algorithms,
 * signature_algorithms_cert, TLS 1.2 certificate_types and TLS 1.3 oid_filters are parsed
 * but not exposed; SSL_CertIsUsable in gather_candidates() applies the first.
 * Post-handshake authentication is not enabled on our sockets. */
static Selection *selection_new(TlsidNssConnection *c, PRFileDesc *fd, CERTDistNames *ca_names,
                                Candidate *candidates, size_t n) {
        SSLPreliminaryChannelInfo pre;
        Selection *sel = calloc(1, sizeof *sel);

        if (!sel) {
                candidates_free(candidates, n);
                return NULL;
        }
        sel->refs = 1;
        sel->efd = -1;
        sel->context = tlsid_context_ref(c->context);
        snprintf(sel->origin, sizeof sel->origin, "%s", c->origin);
        sel->candidates = candidates;
        sel->n = n;
        sel->wire = calloc(n, sizeof *sel->wire);
        if (!sel->wire)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                Candidate *cand = &candidates[i];
                size_t k = 0;

                sel->wire[i].der = cand->cert->derCert.data;
                sel->wire[i].len = cand->cert->derCert.len;
                for (int j = 1; cand->chain && j < cand->chain->len && k < TLSID_CHAIN_MAX; j++) {
                        const SECItem *item = &cand->chain->certs[j];

                        if (item->len == 0 || item->len > TLSID_CERTIFICATE_MAX)
                                break;
                        cand->chain_ders[k].der = item->data;
                        cand->chain_ders[k].len = item->len;
                        k++;
                }
                sel->wire[i].chain = k ? cand->chain_ders : NULL;
                sel->wire[i].n_chain = k;
                sel->wire[i].nickname = cand->cert->nickname;
        }
        if (ca_names && ca_names->nnames > 0) {
                size_t count = (size_t) ca_names->nnames;

                if (count > TLSID_CA_NAMES_MAX)
                        count = TLSID_CA_NAMES_MAX;
                sel->names = calloc(count, sizeof *sel->names);
                if (!sel->names)
                        goto fail;
                sel->request.ca_names = sel->names;
                for (size_t i = 0; i < count; i++) {
                        const SECItem *item = &ca_names->names[i];
                        void *copy;

                        if (item->len == 0 || item->len > 65535)
                                continue;
                        if (!(copy = malloc(item->len)))
                                goto fail;
                        memcpy(copy, item->data, item->len);
                        sel->names[sel->request.n_ca_names].der = copy;
                        sel->names[sel->request.n_ca_names].len = item->len;
                        sel->request.n_ca_names++;
                }
        }
        if (SSL_GetPreliminaryChannelInfo(fd, &pre, sizeof pre) == SECSuccess) {
                if (pre.valuesSet & ssl_preinfo_version)
                        sel->request.tls_version = pre.protocolVersion;
                if (pre.valuesSet & ssl_preinfo_cipher_suite)
                        sel->request.cipher_suite = pre.cipherSuite;
        }
        /* Bound to the partition of the attach; a handshake completed before this request
         * means application data may have flowed (a renegotiation, or TLS 1.3
         * post-handshake authentication). */
        sel->request.generation = c->degraded ? 0 : c->generation;
        if (c->handshakes > 0) {
                if (sel->request.tls_version >= SSL_LIBRARY_VERSION_TLS_1_3)
                        sel->request.post_handshake = 1;
                else
                        sel->request.renegotiation = 1;
        }
        sel->server_cert = SSL_PeerCertificate(fd);
        if (sel->server_cert && sel->server_cert->derCert.len > 0 &&
            sel->server_cert->derCert.len <= TLSID_CERTIFICATE_MAX) {
                sel->request.server_certificate = sel->server_cert->derCert.data;
                sel->request.server_certificate_len = sel->server_cert->derCert.len;
        }
        return sel;
fail:
        selection_unref(sel);
        return NULL;
}

/* Asks the daemon (bounded by the client's timeout, 250 ms by default). */
static void selection_run(Selection *sel) {
        char *identity = NULL;

        sel->r = tlsid_context_select_certificate(sel->context, sel->origin, &sel->request,
                                                  sel->wire, sel->n, &sel->decision, &identity,
                                                  &sel->generation, &sel->eligible,
                                                  &sel->n_eligible);
        if (sel->r < 0) {
                if (!is_caller_error(sel->r))
                        note_unreachable(sel->r);
                return;
        }
        note_reachable();
        snprintf(sel->identity, sizeof sel->identity, "%s", identity);
        free(identity);
}

/* The chosen certificate and its key (transfer full), or false to send none. */
static bool selection_result(TlsidNssConnection *c, Selection *sel, PRFileDesc *fd,
                             CERTCertificate **ret_cert, SECKEYPrivateKey **ret_key) {
        bool mid_connection = sel->request.renegotiation || sel->request.post_handshake;

        if (sel->r < 0)
                return false;
        c->decision = (int) sel->decision;
        if (sel->decision == TLSID_DECISION_STALE)
                c->stale = true;
        if (sel->decision != TLSID_DECISION_CERTIFICATE)
                return false;
        /* A connection presents its partition's identity, and never another: the one
         * exception is a first handshake of a connection attached with none, which moves
         * to the partition the choice made now created (nothing has flowed on it yet). */
        if (strcmp(sel->identity, c->identity) != 0) {
                if (c->identity[0] || mid_connection || c->degraded) {
                        c->decision = TLSID_DECISION_STALE;
                        c->stale = true;
                        return false;
                }
                snprintf(c->identity, sizeof c->identity, "%s", sel->identity);
                c->generation = sel->generation;
                /* As for a connection attached with a certificate: no tokens, NSS's own
                 * cache (a token callback left on a session that sends a certificate
                 * keeps its key alive past NSS_Shutdown under TLS 1.3). */
                (void) SSL_SetResumptionTokenCallback(fd, NULL, NULL);
        }
        for (size_t i = 0; i < sel->n; i++) {
                SECKEYPrivateKey *key;

                if (strcmp(sel->candidates[i].fingerprint, sel->identity) != 0)
                        continue;
                key = PK11_FindKeyByAnyCert(sel->candidates[i].cert, SSL_RevealPinArg(fd));
                if (!key)
                        return false;
                *ret_cert = CERT_DupCertificate(sel->candidates[i].cert);
                *ret_key = key;
                snprintf(c->sent_identity, sizeof c->sent_identity, "%s", sel->identity);
                if (mid_connection)
                        c->reauthentications++;
                return true;
        }
        return false;
}

static void *selection_thread(void *data) {
        Selection *sel = data;
        uint64_t one = 1;

        selection_run(sel);
        /* The write publishes the answer to whoever reads efd. */
        if (write(sel->efd, &one, sizeof one) < 0) {
                /* An eventfd counter cannot overflow from one write. */
        }
        selection_unref(sel);
        return NULL;
}

/* On a non-blocking socket: asks the daemon from a thread of its own and lets NSS wait
 * (SECWouldBlock), so the caller's event loop stays free; the connection's fd becomes
 * readable with the answer (tlsid_nss_connection_dispatch()). */
static SECStatus select_async(TlsidNssConnection *c, Selection *sel) {
        pthread_attr_t attr;
        pthread_t thread;
        int r;

        sel->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sel->efd < 0 || pthread_attr_init(&attr) != 0)
                return SECFailure;
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&thread, &attr, selection_thread, selection_ref(sel));
        pthread_attr_destroy(&attr);
        if (r != 0) {
                selection_unref(sel);
                return SECFailure;
        }
        c->pending = selection_ref(sel);
        if (c->ready_fd < 0)
                c->ready_fd = dup(sel->efd);
        else
                (void) dup2(sel->efd, c->ready_fd);
        return SECWouldBlock;
}

static SECStatus on_client_auth(void *userdata, PRFileDesc *fd, CERTDistNames *ca_names,
                                CERTCertificate **ret_cert, SECKEYPrivateKey **ret_key) {
        TlsidNssConnection *c = userdata;
        Candidate *candidates = NULL;
        PRSocketOptionData nonblocking = { .option = PR_SockOpt_Nonblocking };
        Selection *sel;
        SECStatus status = SECFailure;
        size_t n = 0;

        c->server_asked = true;
        c->decision = -1;
        c->sent_identity[0] = '\0';
        if (c->degraded || c->pending)
                return SECFailure;
        if (gather_candidates(fd, true, &candidates, &n) < 0)
                return SECFailure;
        if (n == 0) {
                /* An empty list would ask the daemon to choose from its own database, whose
                 * keys this process may not hold. */
                c->decision = TLSID_DECISION_NONE;
                candidates_free(candidates, n);
                return SECFailure;
        }
        sel = selection_new(c, fd, ca_names, candidates, n);
        if (!sel)
                return SECFailure;
        selection_unref(c->last);
        c->last = selection_ref(sel);
        if (PR_GetSocketOption(fd, &nonblocking) == PR_SUCCESS && nonblocking.value.non_blocking) {
                status = select_async(c, sel);
        } else {
                /* The handshake waits for the answer as it would for a PIN prompt. */
                selection_run(sel);
                if (selection_result(c, sel, fd, ret_cert, ret_key))
                        status = SECSuccess;
        }
        selection_unref(sel);
        return status;
}

_public_ int tlsid_nss_connection_get_fd(const TlsidNssConnection *connection) {
        return connection ? connection->ready_fd : -EINVAL;
}

_public_ int tlsid_nss_connection_dispatch(TlsidNssConnection *connection,
                                           PRFileDesc *ssl_fd) {
        TlsidNssConnection *c = connection;
        CERTCertificate *cert = NULL;
        SECKEYPrivateKey *key = NULL;
        uint64_t count;
        Selection *sel;

        if (!c || !ssl_fd)
                return -EINVAL;
        sel = c->pending;
        if (!sel || read(sel->efd, &count, sizeof count) != (ssize_t) sizeof count)
                return 0;
        c->pending = NULL;
        if (selection_result(c, sel, ssl_fd, &cert, &key))
                (void) SSL_ClientCertCallbackComplete(ssl_fd, SECSuccess, key, cert);
        else
                (void) SSL_ClientCertCallbackComplete(ssl_fd, SECFailure, NULL, NULL);
        selection_unref(sel);
        return 1;
}

/* ---- Attaching ---- */

/* "host:port", with an IPv6 literal in brackets. */
static int make_origin(const char *host, uint16_t port, char *out, size_t size) {
        bool bracket = strchr(host, ':') && host[0] != '[';
        int k = snprintf(out, size, "%s%s%s:%u", bracket ? "[" : "", host, bracket ? "]" : "",
                         (unsigned) port);

        if (k < 0 || (size_t) k >= size || id_origin_check(out))
                return -EINVAL;
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

static int install_wrap_key(TlsidContext *context) {
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

/* Asks the daemon for the partition and, with no identity, for a token. */
static int attach_partition(TlsidNssConnection *c, PRFileDesc *fd) {
        char *identity = NULL, *peer_id = NULL;
        void *token = NULL;
        size_t len = 0;
        int r;

        r = install_wrap_key(c->context);
        if (r < 0)
                return r;
        /* One round trip: the partition, and its token when it has no identity. */
        r = tlsid_context_begin_connection(c->context, c->origin, NULL, &identity,
                                           &c->generation, &peer_id, &token, &len);
        if (r < 0)
                return r;
        snprintf(c->identity, sizeof c->identity, "%s", identity);
        free(identity);
        r = SSL_SetSockPeerID(fd, peer_id) == SECSuccess ? 0 : -EINVAL;
        free(peer_id);
        if (r < 0 || c->identity[0] != '\0') {
                tlsid_secret_free(token, len);
                return r;
        }
        if (token)
                use_token(c, fd, token, len);
        if (SSL_SetResumptionTokenCallback(fd, on_resumption_token, c) != SECSuccess)
                return -EINVAL;
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

_public_ int tlsid_nss_attach(PRFileDesc *ssl_fd, TlsidContext *context, const char *host,
                              uint16_t port, unsigned flags,
                              TlsidNssConnection **ret_connection) {
        TlsidNssConnection *c;
        int r;

        if (!ssl_fd || !context || !host || !*host || port == 0 || !ret_connection ||
            (flags & ~TLSID_NSS_POST_HANDSHAKE_AUTH))
                return -EINVAL;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->context = context;
        c->decision = -1;
        c->ready_fd = -1;
        r = make_origin(host, port, c->origin, sizeof c->origin);
        if (r >= 0)
                r = set_url_unless_set(ssl_fd, host);
        if (r >= 0 && SSL_GetClientAuthDataHook(ssl_fd, on_client_auth, c) != SECSuccess)
                r = -EINVAL;    /* not an SSL socket */
        if (r >= 0)
                r = set_socket_options(c, ssl_fd, flags);
        if (r >= 0) {
                r = attach_partition(c, ssl_fd);
                if (r < 0 && !is_caller_error(r)) {
                        /* Fail closed: nothing from the daemon, nothing NSS remembers. */
                        note_unreachable(r);
                        c->degraded = true;
                        c->identity[0] = '\0';
                        c->generation = 0;
                        (void) SSL_SetResumptionTokenCallback(ssl_fd, NULL, NULL);
                        if (SSL_OptionSet(ssl_fd, SSL_NO_CACHE, PR_TRUE) != SECSuccess)
                                r = -EINVAL;
                        else
                                r = 0;
                } else if (r >= 0)
                        note_reachable();
        }
        if (r < 0) {
                /* The socket must not call back into freed state. */
                (void) SSL_GetClientAuthDataHook(ssl_fd, NULL, NULL);
                (void) SSL_SetResumptionTokenCallback(ssl_fd, NULL, NULL);
                (void) SSL_HandshakeCallback(ssl_fd, NULL, NULL);
                free(c);
                return r;
        }
        *ret_connection = c;
        return 0;
}

_public_ void tlsid_nss_connection_free(TlsidNssConnection *connection) {
        if (connection) {
                drop_used_token(connection);
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
        char *identity = NULL;
        uint32_t generation;
        int r;

        if (!connection)
                return -EINVAL;
        if (connection->stale)
                return 0;
        r = tlsid_context_get_partition(connection->context, connection->origin, NULL,
                                        &identity, &generation, NULL);
        if (r < 0)
                return r;
        /* A degraded connection was made outside any partition: retire it once the daemon
         * answers again. */
        r = !connection->degraded && generation == connection->generation &&
                strcmp(identity, connection->identity) == 0;
        free(identity);
        return r;
}

_public_ int tlsid_nss_connection_matches(const TlsidNssConnection *connection,
                                          const char *context, const char *origin) {
        if (!connection || !context || !origin)
                return -EINVAL;
        if (*context && strcmp(context, tlsid_context_get_name(connection->context)) != 0)
                return 0;
        return !*origin || strcmp(origin, connection->origin) == 0;
}

_public_ int tlsid_nss_connection_get_eligible(const TlsidNssConnection *connection,
                                               const TlsidCertificateInfo **ret_infos,
                                               size_t *ret_n) {
        const Selection *sel;

        if (!connection || !ret_infos || !ret_n)
                return -EINVAL;
        sel = connection->last;
        /* Only once answered: a request still in flight has no list yet. */
        if (!sel || connection->pending == sel || sel->r < 0) {
                *ret_infos = NULL;
                *ret_n = 0;
                return 0;
        }
        *ret_infos = sel->eligible;
        *ret_n = sel->n_eligible;
        return 0;
}

_public_ unsigned tlsid_nss_connection_get_reauthentications(
                const TlsidNssConnection *connection) {
        return connection ? connection->reauthentications : 0;
}

_public_ int tlsid_nss_connection_answer_challenge(TlsidNssConnection *connection,
                                                   PRFileDesc *ssl_fd,
                                                   const char *const *field_values, size_t n,
                                                   unsigned flags,
                                                   TlsidChallengeAnswer **ret_answer) {
        TlsidNssConnection *c = connection;
        TlsidChallengeConnection seen = { 0 };
        Selection *own = NULL;
        Candidate *candidates = NULL;
        size_t n_candidates = 0;
        int r;

        if (!c || !ssl_fd || !ret_answer)
                return -EINVAL;
        if (c->last) {
                /* What the server's last CertificateRequest allowed, among the certificates
                 * that were usable for it. */
                seen.request = &c->last->request;
                seen.candidates = c->last->wire;
                seen.n_candidates = c->last->n;
        } else {
                /* The server never asked on this connection: any of the process's own. */
                r = gather_candidates(ssl_fd, false, &candidates, &n_candidates);
                if (r < 0)
                        return r;
                own = selection_new(c, ssl_fd, NULL, candidates, n_candidates);
                if (!own)
                        return -ENOMEM;
                seen.candidates = own->wire;
                seen.n_candidates = own->n;
        }
        seen.sent_identity = c->sent_identity;
        r = tlsid_context_answer_challenge(c->context, c->origin, field_values, n, flags,
                                           c->degraded ? -1 : (int64_t) c->generation, &seen,
                                           ret_answer);
        selection_unref(own);
        return r;
}
