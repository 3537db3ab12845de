/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's client authentication: the hook that answers a server's
 * CertificateRequest with the connection's partition's identity, blocking or not, and the
 * transport challenges answered with what the connection saw. */
#include <keyhi.h>
#include <pk11pub.h>
#include <pthread.h>
#include <secerr.h>
#include <ssl.h>
#include <sslexp.h>
#include <sslproto.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-nss-private.h"

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

void selection_unref(Selection *sel) {
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
        adapter_select(sel->context, sel->origin, &sel->request, sel->wire, sel->n, &sel->r,
                       &sel->decision, sel->identity, &sel->generation, &sel->eligible,
                       &sel->n_eligible);
}

/* The chosen certificate and its key (transfer full), or false to send none. */
static bool selection_result(TlsidNssConnection *c, Selection *sel, PRFileDesc *fd,
                             CERTCertificate **ret_cert, SECKEYPrivateKey **ret_key) {
        bool mid_connection = sel->request.renegotiation || sel->request.post_handshake;

        if (sel->r < 0)
                return false;
        c->decision = (int) sel->decision;
        switch (adapter_bind(sel->decision, sel->identity, c->identity, mid_connection,
                             c->degraded)) {
        case BIND_NONE:
                return false;
        case BIND_STALE:
                c->decision = TLSID_DECISION_STALE;
                c->stale = true;
                return false;
        case BIND_SEND:
                break;
        case BIND_MOVED:
                snprintf(c->identity, sizeof c->identity, "%s", sel->identity);
                c->generation = sel->generation;
                c->peer_id[0] = '\0';  /* the daemon did not say the new one */
                /* As for a connection attached with a certificate: no tokens, NSS's own
                 * cache (a token callback left on a session that sends a certificate
                 * keeps its key alive past NSS_Shutdown under TLS 1.3). */
                (void) SSL_SetResumptionTokenCallback(fd, NULL, NULL);
                break;
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

SECStatus on_client_auth(void *userdata, PRFileDesc *fd, CERTDistNames *ca_names,
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
