/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's server certificates kept in memory, so that a resumption token decodes
 * without the certificate database.
 *
 * SSL_SetResumptionToken() makes the token's server certificate an NSS temporary
 * certificate (CERT_NewTempCertificate). NSS 3.87 finds it among the certificates in
 * memory if one holds it, and else searches the certificate database; and even when it
 * finds it there, a temporary certificate without trust has its trust searched for again,
 * in the database, each time (stan_GetCERTCertificate() in lib/pki/pki3hack.c). Those SQL
 * queries were most of the CPU of an attach (perf, in bench-handshake). So the servers'
 * certificates of the last handshakes that make tokens are kept referenced (a bounded
 * ring, dropped when NSS shuts down), and one that is temporary (in no database) and has
 * no trust gets a trust record in memory only (CERT_ChangeCertTrust() on a certificate
 * with no token instance touches no database), so that NSS stops asking. A record of
 * zeros cannot be set (NSS takes it for "no change"), so it carries CERTDB_SEND_WARN in
 * the object-signing flags: a flag no verification in NSS reads (only certutil's trust
 * strings show it), so the record says what no record says: the chain decides, for every
 * usage. A certificate in a database, or with trust of its own, is left as it is. */
#include <cert.h>
#include <certdb.h>
#include <nss.h>
#include <pthread.h>
#include <ssl.h>
#include <stdbool.h>

#include "libtlsid-nss-private.h"

/* Distinct servers whose certificates stay in memory. */
#define PEER_CERTS_MAX 32

static pthread_mutex_t peer_certs_lock = PTHREAD_MUTEX_INITIALIZER;
static CERTCertificate *peer_certs[PEER_CERTS_MAX];     /* under peer_certs_lock */
static size_t peer_certs_next;                          /* under peer_certs_lock */
static bool peer_certs_hooked;                          /* under peer_certs_lock */

/* NSS refuses to shut down while certificates are referenced. */
static SECStatus on_nss_shutdown(void *app_data, void *nss_data) {
        CERTCertificate *drop[PEER_CERTS_MAX];

        pthread_mutex_lock(&peer_certs_lock);
        for (size_t i = 0; i < PEER_CERTS_MAX; i++) {
                drop[i] = peer_certs[i];
                peer_certs[i] = NULL;
        }
        peer_certs_next = 0;
        peer_certs_hooked = false;
        pthread_mutex_unlock(&peer_certs_lock);
        for (size_t i = 0; i < PEER_CERTS_MAX; i++)
                if (drop[i])
                        CERT_DestroyCertificate(drop[i]);
        return SECSuccess;
}

void peer_certs_keep(PRFileDesc *fd) {
        CERTCertificate *cert = SSL_PeerCertificate(fd), *old = NULL;
        CERTCertTrust trust;
        bool kept = false;

        if (!cert)
                return;
        if (!cert->isperm && CERT_GetCertTrust(cert, &trust) != SECSuccess) {
                /* Says nothing (see above); the ring keeps it alive, so it is set once. */
                trust = (CERTCertTrust) { .objectSigningFlags = CERTDB_SEND_WARN };
                (void) CERT_ChangeCertTrust(CERT_GetDefaultCertDB(), cert, &trust);
        }
        pthread_mutex_lock(&peer_certs_lock);
        /* The token's certificate found in memory is the same object. */
        for (size_t i = 0; i < PEER_CERTS_MAX && !kept; i++)
                kept = peer_certs[i] == cert;
        if (!kept && !peer_certs_hooked)
                peer_certs_hooked = NSS_RegisterShutdown(on_nss_shutdown, NULL) == SECSuccess;
        if (!kept && peer_certs_hooked) {
                old = peer_certs[peer_certs_next];
                peer_certs[peer_certs_next] = cert;
                peer_certs_next = (peer_certs_next + 1) % PEER_CERTS_MAX;
                cert = NULL;
        }
        pthread_mutex_unlock(&peer_certs_lock);
        if (cert)
                CERT_DestroyCertificate(cert);
        if (old)
                CERT_DestroyCertificate(old);
}
