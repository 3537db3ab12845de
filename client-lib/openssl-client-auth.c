/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl's client authentication: the certificate callback that answers a
 * server's CertificateRequest with the connection's partition's identity (or nothing),
 * from the application's credentials, and the transport challenges answered with what
 * the connection saw. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-openssl-private.h"

/* One certificate request: what the callback gathered (copies) and the daemon's answer. */
typedef struct OsslSelection {
        TlsidCertRequest request;
        TlsidDer names[TLSID_CA_NAMES_MAX];
        unsigned char *name_ders[TLSID_CA_NAMES_MAX];
        uint16_t schemes[TLSID_SIGNATURE_SCHEMES_MAX];
        uint8_t cert_types[255];
        unsigned char *server_der;
        OsslCredential **items;         /* the snapshot offered */
        size_t n;
        TlsidCandidate wire[TLSID_CANDIDATES_MAX];
        TlsidDer chains[TLSID_CANDIDATES_MAX][TLSID_CHAIN_MAX];
        int r;
        TlsidDecision decision;
        char identity[TLSID_IDENTITY_LEN + 1];
        uint32_t generation;
        TlsidCertificateInfo *eligible;
        size_t n_eligible;
} OsslSelection;

void ossl_selection_unref(OsslSelection *sel) {
        if (!sel)
                return;
        for (size_t i = 0; i < sel->request.n_ca_names; i++)
                OPENSSL_free(sel->name_ders[i]);
        OPENSSL_free(sel->server_der);
        credentials_snapshot_free(sel->items, sel->n);
        tlsid_certificate_infos_free(sel->eligible, sel->n_eligible);
        free(sel);
}

/* The candidates in SelectCertificate's form (pointing into the snapshot). */
static void fill_wire(OsslSelection *sel) {
        for (size_t i = 0; i < sel->n; i++) {
                const OsslCredential *item = sel->items[i];

                for (size_t k = 0; k < item->n_chain; k++)
                        sel->chains[i][k] = (TlsidDer) { item->chain_der[k], item->chain_len[k] };
                sel->wire[i] = (TlsidCandidate) {
                        .der = item->der,
                        .len = item->der_len,
                        .chain = item->n_chain ? sel->chains[i] : NULL,
                        .n_chain = item->n_chain,
                        .nickname = item->nickname,
                };
        }
}

/* What OpenSSL tells a client of the CertificateRequest: the CA names (TLS 1.3's
 * certificate_authorities or TLS 1.2's list), the server's signature_algorithms, TLS 1.2's
 * certificate_types, the version, the cipher suite and the server's certificate (none
 * yet under TLS 1.3, where the request comes before it). oid_filters are not exposed. */
static OsslSelection *selection_new(TlsidOpensslConnection *c) {
        SSL *ssl = c->ssl;
        const STACK_OF(X509_NAME) *cas = SSL_get0_peer_CA_list(ssl);
        const unsigned char *types = NULL;
        const SSL_CIPHER *cipher = SSL_get_pending_cipher(ssl);
        X509 *server = SSL_get0_peer_certificate(ssl);
        OsslSelection *sel = calloc(1, sizeof *sel);
        int count;

        if (!sel)
                return NULL;
        if (credentials_snapshot(c->credentials, &sel->items, &sel->n) < 0) {
                free(sel);
                return NULL;
        }
        fill_wire(sel);
        if (!cas)
                cas = SSL_get_client_CA_list(ssl);
        count = cas ? sk_X509_NAME_num(cas) : 0;
        for (int i = 0; i < count && sel->request.n_ca_names < TLSID_CA_NAMES_MAX; i++) {
                unsigned char *der = NULL;
                int len = i2d_X509_NAME(sk_X509_NAME_value(cas, i), &der);

                if (len <= 0 || len > 65535) {
                        OPENSSL_free(der);
                        continue;
                }
                sel->name_ders[sel->request.n_ca_names] = der;
                sel->names[sel->request.n_ca_names] = (TlsidDer) { der, (size_t) len };
                sel->request.n_ca_names++;
        }
        sel->request.ca_names = sel->request.n_ca_names ? sel->names : NULL;
        count = SSL_get_sigalgs(ssl, -1, NULL, NULL, NULL, NULL, NULL);
        for (int i = 0; i < count && sel->request.n_signature_schemes <
                                TLSID_SIGNATURE_SCHEMES_MAX; i++) {
                unsigned char rsig = 0, rhash = 0;

                if (SSL_get_sigalgs(ssl, i, NULL, NULL, NULL, &rsig, &rhash) > 0)
                        sel->schemes[sel->request.n_signature_schemes++] =
                                (uint16_t) (rhash << 8 | rsig);
        }
        sel->request.signature_schemes = sel->request.n_signature_schemes ? sel->schemes : NULL;
        count = (int) SSL_get0_certificate_types(ssl, &types);
        if (types && count > 0 && count <= 255) {
                memcpy(sel->cert_types, types, (size_t) count);
                sel->request.certificate_types = sel->cert_types;
                sel->request.n_certificate_types = (size_t) count;
        }
        sel->request.tls_version = (uint16_t) SSL_version(ssl);
        if (!cipher)
                cipher = SSL_get_current_cipher(ssl);
        if (cipher)
                sel->request.cipher_suite = SSL_CIPHER_get_protocol_id(cipher);
        if (server) {
                int len = i2d_X509(server, &sel->server_der);

                if (len > 0 && len <= TLSID_CERTIFICATE_MAX) {
                        sel->request.server_certificate = sel->server_der;
                        sel->request.server_certificate_len = (size_t) len;
                }
        }
        /* Bound to the partition of the attach; a handshake completed before this request
         * means application data may have flowed. */
        sel->request.generation = c->degraded ? 0 : c->generation;
        if (c->handshakes > 0) {
                if (sel->request.tls_version >= TLS1_3_VERSION)
                        sel->request.post_handshake = 1;
                else
                        sel->request.renegotiation = 1;
        }
        ERR_clear_error();
        return sel;
}

static void selection_run(TlsidOpensslConnection *c, OsslSelection *sel) {
        adapter_select(c->context, c->origin, &sel->request, sel->wire, sel->n, &sel->r,
                       &sel->decision, sel->identity, &sel->generation, &sel->eligible,
                       &sel->n_eligible);
}

/* The credential to send, or NULL to send none; applies the binding rule. */
static const OsslCredential *selection_result(TlsidOpensslConnection *c, OsslSelection *sel) {
        bool mid_connection = sel->request.renegotiation || sel->request.post_handshake;

        if (sel->r < 0)
                return NULL;
        c->decision = (int) sel->decision;
        switch (adapter_bind(sel->decision, sel->identity, c->identity, mid_connection,
                             c->degraded)) {
        case BIND_NONE:
                return NULL;
        case BIND_STALE:
                c->decision = TLSID_DECISION_STALE;
                __atomic_store_n(&c->stale, true, __ATOMIC_RELEASE);
                return NULL;
        case BIND_SEND:
                break;
        case BIND_MOVED:
                snprintf(c->identity, sizeof c->identity, "%s", sel->identity);
                c->generation = sel->generation;
                c->peer_id[0] = '\0';   /* the daemon did not say the new one */
                break;
        }
        for (size_t i = 0; i < sel->n; i++)
                if (strcmp(sel->items[i]->identity, sel->identity) == 0) {
                        if (mid_connection)
                                c->reauthentications++;
                        return sel->items[i];
                }
        return NULL;
}

/* ---- The thread's last request ---- */

typedef struct {
        bool set;
        char origin[TLSID_ORIGIN_MAX + 1];
        int decision;
        TlsidCertificateInfo *eligible;
        size_t n;
} LastRequest;

static __thread LastRequest last_request;

static char *dup_or_null(const char *s, bool *ok) {
        char *copy;

        if (!s)
                return NULL;
        copy = strdup(s);
        if (!copy)
                *ok = false;
        return copy;
}

/* A deep copy of @n @infos (transfer full), or NULL. */
static TlsidCertificateInfo *infos_copy(const TlsidCertificateInfo *infos, size_t n) {
        TlsidCertificateInfo *copy = calloc(n ? n : 1, sizeof *copy);
        bool ok = copy != NULL;

        for (size_t i = 0; ok && i < n; i++) {
                copy[i] = infos[i];
                copy[i].identity = dup_or_null(infos[i].identity, &ok);
                copy[i].subject = dup_or_null(infos[i].subject, &ok);
                copy[i].issuer = dup_or_null(infos[i].issuer, &ok);
                copy[i].key_type = dup_or_null(infos[i].key_type, &ok);
                copy[i].nickname = dup_or_null(infos[i].nickname, &ok);
                copy[i].source = dup_or_null(infos[i].source, &ok);
                copy[i].offered_by = dup_or_null(infos[i].offered_by, &ok);
        }
        if (!ok) {
                tlsid_certificate_infos_free(copy, n);
                return NULL;
        }
        return copy;
}

_public_ void tlsid_openssl_clear_last_request(void) {
        tlsid_certificate_infos_free(last_request.eligible, last_request.n);
        memset(&last_request, 0, sizeof last_request);
}

static void remember_request(const TlsidOpensslConnection *c, const OsslSelection *sel) {
        tlsid_openssl_clear_last_request();
        last_request.set = true;
        snprintf(last_request.origin, sizeof last_request.origin, "%s", c->origin);
        last_request.decision = c->decision;
        if (sel && sel->r >= 0 && sel->n_eligible > 0 &&
            (last_request.eligible = infos_copy(sel->eligible, sel->n_eligible)))
                last_request.n = sel->n_eligible;
}

_public_ int tlsid_openssl_get_last_request(char **ret_origin, int *ret_decision,
                                            TlsidCertificateInfo **ret_eligible,
                                            size_t *ret_n) {
        char *origin = NULL;
        TlsidCertificateInfo *eligible = NULL;

        if (!ret_eligible != !ret_n)
                return -EINVAL;
        if (!last_request.set)
                return -ENOENT;
        if ((ret_origin && !(origin = strdup(last_request.origin))) ||
            (ret_eligible && !(eligible = infos_copy(last_request.eligible, last_request.n)))) {
                free(origin);
                return -ENOMEM;
        }
        if (ret_origin)
                *ret_origin = origin;
        if (ret_decision)
                *ret_decision = last_request.decision;
        if (ret_eligible) {
                *ret_eligible = eligible;
                *ret_n = last_request.n;
        }
        return 0;
}

/* Called by OpenSSL on a client only when a CertificateRequest came (the first handshake,
 * a renegotiation, or TLS 1.3 post-handshake authentication). Whatever certificate the
 * SSL_CTX or SSL was given is cleared first: the adapter sends its own choice or none. */
int on_cert_request(SSL *ssl, void *arg) {
        TlsidOpensslConnection *c = tlsid_openssl_connection_from_ssl(ssl);
        const OsslCredential *chosen;
        OsslSelection *sel;

        if (!c)
                return 1;
        SSL_certs_clear(ssl);
        c->server_asked = true;
        c->decision = -1;
        c->sent_identity[0] = '\0';
        if (c->degraded)
                return 1;
        if (tlsid_openssl_credentials_count(c->credentials) == 0) {
                /* An empty list would ask the daemon to choose from its own database, whose
                 * keys this process does not hold. */
                c->decision = TLSID_DECISION_NONE;
                remember_request(c, NULL);
                return 1;
        }
        sel = selection_new(c);
        if (!sel)
                return 1;
        ossl_selection_unref(c->last);
        c->last = sel;
        selection_run(c, sel);
        chosen = selection_result(c, sel);
        remember_request(c, sel);
        if (!chosen)
                return 1;
        if (SSL_use_certificate(ssl, chosen->cert) != 1 ||
            SSL_use_PrivateKey(ssl, chosen->key) != 1 ||
            (chosen->chain && SSL_set1_chain(ssl, chosen->chain) != 1)) {
                ERR_clear_error();
                SSL_certs_clear(ssl);
                return 1;
        }
        snprintf(c->sent_identity, sizeof c->sent_identity, "%s", chosen->identity);
        return 1;
}

_public_ int tlsid_openssl_connection_get_eligible(const TlsidOpensslConnection *connection,
                                                   const TlsidCertificateInfo **ret_infos,
                                                   size_t *ret_n) {
        const OsslSelection *sel;

        if (!connection || !ret_infos || !ret_n)
                return -EINVAL;
        sel = connection->last;
        *ret_infos = sel && sel->r >= 0 ? sel->eligible : NULL;
        *ret_n = sel && sel->r >= 0 ? sel->n_eligible : 0;
        return 0;
}

_public_ int tlsid_openssl_connection_answer_challenge(TlsidOpensslConnection *connection,
                                                       const char *const *field_values,
                                                       size_t n, unsigned flags,
                                                       TlsidChallengeAnswer **ret_answer) {
        TlsidOpensslConnection *c = connection;
        TlsidChallengeConnection seen = { 0 };
        OsslSelection *own = NULL;
        int r;

        if (!c || !ret_answer)
                return -EINVAL;
        if (c->last) {
                /* What the server's last CertificateRequest allowed, among the candidates. */
                seen.request = &c->last->request;
                seen.candidates = c->last->wire;
                seen.n_candidates = c->last->n;
        } else {
                /* The server never asked on this connection: any of the credentials. */
                own = calloc(1, sizeof *own);
                if (!own)
                        return -ENOMEM;
                r = credentials_snapshot(c->credentials, &own->items, &own->n);
                if (r < 0) {
                        free(own);
                        return r;
                }
                fill_wire(own);
                seen.candidates = own->wire;
                seen.n_candidates = own->n;
        }
        seen.sent_identity = c->sent_identity;
        r = tlsid_context_answer_challenge(c->context, c->origin, field_values, n, flags,
                                           c->degraded ? -1 : (int64_t) c->generation, &seen,
                                           ret_answer);
        ossl_selection_unref(own);
        return r;
}
