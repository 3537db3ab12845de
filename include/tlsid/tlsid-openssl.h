/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl: wires an OpenSSL client SSL to tlsidd, with libtlsid-nss's promises.
 *
 * tlsid_openssl_ctx_setup() once on an SSL_CTX, then tlsid_openssl_attach() on each SSL of
 * it in client mode, before its handshake (or tlsid_openssl_ctx_attach_on_handshake() for
 * a library that makes the SSL itself, as libcurl does):
 *  - session reuse keyed by the partition: the daemon's newest OpenSSL token for the
 *    partition (BeginConnectionFor, stack "openssl"; every partition, with or without a
 *    certificate, since an OpenSSL session serialises whole), or first the newest one this
 *    process made and has not sent yet when the daemon's answer says it was made under the
 *    partition current now, goes in with SSL_set_session(). A token carries the identity
 *    and generation it was made under and is never set on a connection of another.
 *    A session is kept for a partition with an identity only when that certificate was
 *    sent in it (or it resumed one that was), never one of a connection that sent none.
 *    OpenSSL's own cache keeps nothing (SSL_SESS_CACHE_NO_INTERNAL_STORE); new sessions
 *    (the new-session callback) are queued and sent to the daemon by a worker thread,
 *    off the handshake path, tagged "openssl" so that no NSS process ever takes one;
 *  - client authentication only when the server asks (SSL_set_cert_cb): what its
 *    CertificateRequest carries (CA names, signature algorithms, certificate types, the
 *    version, cipher suite and server certificate) and the application's candidates
 *    (TlsidOpensslCredentials) go to SelectCertificate with the connection's generation;
 *    the chosen certificate is sent with its chain and key, and nothing otherwise: a
 *    certificate the application set on the SSL_CTX or SSL is cleared, never volunteered;
 *  - the binding rule of libtlsid-nss: one identity for the connection's life (a
 *    renegotiation or a TLS 1.3 post-handshake request presents it or none, never another;
 *    during the first handshake of a connection attached with none, a certificate chosen
 *    now moves it to the new partition); renegotiation only secure (RFC 5746: the unsafe
 *    legacy option is cleared); post-handshake authentication with
 *    TLSID_OPENSSL_POST_HANDSHAKE_AUTH; a connection made stale by a switch is reported
 *    (tlsid_openssl_connection_is_current() 0), and tlsid_openssl_retire() marks the
 *    process's connections a signal concerns;
 *  - fail closed: when the daemon cannot be reached a connection goes on with no session
 *    and no certificate, reported once per outage (not per connection).
 * Every daemon call is bounded by the client's timeout (tlsid_openssl_client_new() sets
 * TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC); the certificate callback waits for its answer.
 *
 * Functions return 0 or a negative errno like libtlsid's. Thread-safe: many connections
 * in many threads, each SSL used by one thread at a time. */
#pragma once

#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <tlsid/tlsid.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The default bound on one daemon call made on the handshake path. */
#define TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC 250000u

/* Flags for tlsid_openssl_attach(). */
#define TLSID_OPENSSL_POST_HANDSHAKE_AUTH (1u << 0) /* TLS 1.3 post-handshake authentication */

typedef struct TlsidOpensslConnection TlsidOpensslConnection;
typedef struct TlsidOpensslCredentials TlsidOpensslCredentials;
typedef struct TlsidOpensslAttach TlsidOpensslAttach;

/* A client (as tlsid_client_new()) whose calls time out after
 * TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC. @ret_client: (transfer full). */
int tlsid_openssl_client_new(const char *bus_address, TlsidClient **ret_client);

/* ---- Credentials ---- */

/* The client certificates an application can use, each with its key and chain: the only
 * candidates the adapter offers SelectCertificate (at most 64). Adding is thread-safe;
 * connections see what was added before their server asked. @ret: (transfer full). */
int tlsid_openssl_credentials_new(TlsidOpensslCredentials **ret);
TlsidOpensslCredentials *tlsid_openssl_credentials_ref(TlsidOpensslCredentials *credentials);
/* Drops a reference; accepts NULL; returns NULL. */
TlsidOpensslCredentials *tlsid_openssl_credentials_unref(TlsidOpensslCredentials *credentials);
/* Adds @cert with @key (which must match it: -EINVAL) and @chain (nullable; issuer of
 * @cert first, at most 8 used), under @nickname (nullable). Takes references of its own.
 * @ret_identity: (nullable) 65 bytes for the certificate's fingerprint. -ENOBUFS past 64;
 * -EEXIST when it is there already. */
int tlsid_openssl_credentials_add(TlsidOpensslCredentials *credentials, X509 *cert,
                                  EVP_PKEY *key, STACK_OF(X509) *chain, const char *nickname,
                                  char *ret_identity);
/* Adds the certificate of a PEM file @cert_path (the first certificate is the leaf, the
 * others its chain) with the key of @key_path (nullable: in @cert_path too; @password
 * nullable for an unencrypted key). -ENOENT, -EACCES as opening it; -EINVAL when it holds
 * no certificate or key, or they do not match. */
int tlsid_openssl_credentials_add_pem_file(TlsidOpensslCredentials *credentials,
                                           const char *cert_path, const char *key_path,
                                           const char *password, char *ret_identity);
/* Adds the certificate, key and chain of a PKCS#12 file (@password nullable: ""). */
int tlsid_openssl_credentials_add_pkcs12_file(TlsidOpensslCredentials *credentials,
                                              const char *path, const char *password,
                                              char *ret_identity);
/* How many certificates @credentials holds. */
size_t tlsid_openssl_credentials_count(TlsidOpensslCredentials *credentials);

/* ---- Attaching ---- */

/* Installs the adapter's callbacks on @ctx (client mode): the new-session callback with
 * SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE, the certificate callback and
 * an info callback. Call it once, before its SSLs are made, and do not replace them; an
 * SSL of @ctx that is never attached behaves as without them. */
int tlsid_openssl_ctx_setup(SSL_CTX *ctx);

/* Wires @ssl (of a set-up SSL_CTX, client mode, before its handshake) to @context for
 * the origin @host:@port (@host: a DNS name or IP literal, lower-cased by the caller, an
 * IPv6 literal with or without brackets; also the SNI name unless one is set), with
 * @credentials (nullable: no certificate is ever sent) and @flags
 * (TLSID_OPENSSL_POST_HANDSHAKE_AUTH or 0). The connection state lives until SSL_free(@ssl)
 * and holds references to @context and @credentials. When the daemon cannot be reached
 * (or refuses with anything but -EINVAL, -ENOMEM or -ENOENT, which are returned) this
 * still succeeds, fail closed: no session, no certificate;
 * tlsid_openssl_connection_is_degraded() says so.
 * @ret_connection: (nullable) (transfer none) owned by @ssl. -EALREADY when attached. */
int tlsid_openssl_attach(SSL *ssl, TlsidContext *context,
                         TlsidOpensslCredentials *credentials, const char *host,
                         uint16_t port, unsigned flags, TlsidOpensslConnection **ret_connection);

/* The asynchronous form of tlsid_openssl_attach(), for an event loop that must never
 * wait: start it when the origin is known, before the TCP connect, so that the daemon's
 * round trip overlaps it. tlsid_openssl_attach_start() sends the call (GetPartition when
 * the process has a token of its own queued for the origin, else BeginConnectionFor; then
 * TakeSessionFor when that token turns out stale); when the daemon cannot be reached it
 * still succeeds and is done at once (fail closed). Poll tlsid_openssl_attach_get_fd()
 * for POLLIN (owned by @attach; the same number for the attach's whole life) and call
 * tlsid_openssl_attach_dispatch() when it is readable, until it returns 1; then
 * tlsid_openssl_attach_finish() on the SSL, before its handshake. One thread at a time
 * per attach. Arguments as tlsid_openssl_attach()'s; @ret_attach: (transfer full) ends
 * with tlsid_openssl_attach_finish() or tlsid_openssl_attach_cancel(). */
int tlsid_openssl_attach_start(TlsidContext *context, const char *host, uint16_t port,
                               unsigned flags, TlsidOpensslAttach **ret_attach);
int tlsid_openssl_attach_get_fd(const TlsidOpensslAttach *attach);
/* 1 when the round trips ended, 0 while one is in flight. */
int tlsid_openssl_attach_dispatch(TlsidOpensslAttach *attach);
/* Attaches @ssl with @credentials (nullable) under the partition the daemon named, with
 * its session, as tlsid_openssl_attach() (which see, for what it returns too). Waits
 * (bounded by the client's timeout) when the round trips have not ended yet. Takes
 * @attach, whatever it returns; an SSL refused gives back what the attach took. */
int tlsid_openssl_attach_finish(TlsidOpensslAttach *attach, SSL *ssl,
                                TlsidOpensslCredentials *credentials,
                                TlsidOpensslConnection **ret_connection);
/* Drops @attach (accepts NULL): a round trip in flight is cancelled; a token the attach
 * holds goes back to the process's outbox, to serve the next connection or be put (one
 * BeginConnectionFor took for a reply that never came is lost). */
void tlsid_openssl_attach_cancel(TlsidOpensslAttach *attach);

/* For a library that makes the SSLs itself (libcurl's CURLOPT_SSL_CTX_FUNCTION): every
 * SSL of the set-up @ctx is attached, as tlsid_openssl_attach() would, when its first
 * handshake starts (the info callback's SSL_CB_HANDSHAKE_START, before its ClientHello).
 * Calling it again replaces what earlier SSLs of @ctx were not yet attached with. When
 * that attach fails the handshake goes on fail closed. */
int tlsid_openssl_ctx_attach_on_handshake(SSL_CTX *ctx, TlsidContext *context,
                                          TlsidOpensslCredentials *credentials,
                                          const char *host, uint16_t port, unsigned flags);

/* The connection state of @ssl, or NULL when it is not attached (transfer none). */
TlsidOpensslConnection *tlsid_openssl_connection_from_ssl(const SSL *ssl);

/* ---- What a connection reports ---- */

/* The origin ("host:port", owned by @connection). */
const char *tlsid_openssl_connection_get_origin(const TlsidOpensslConnection *connection);
/* The generation of the partition the connection was made under. */
uint32_t tlsid_openssl_connection_get_generation(const TlsidOpensslConnection *connection);
/* The identity of that partition: "" or the fingerprint (owned by @connection). */
const char *tlsid_openssl_connection_get_identity(const TlsidOpensslConnection *connection);
/* Whether the daemon could not be reached when the connection was attached. */
int tlsid_openssl_connection_is_degraded(const TlsidOpensslConnection *connection);
/* Whether a session from the daemon or the outbox was set on it (SSL_session_reused()
 * says whether the server took it). */
int tlsid_openssl_connection_offered_session(const TlsidOpensslConnection *connection);
/* Whether the server asked for a certificate on this connection. */
int tlsid_openssl_connection_server_asked(const TlsidOpensslConnection *connection);
/* The decision of the last request, or -1 (as tlsid_nss_connection_get_decision()). */
int tlsid_openssl_connection_get_decision(const TlsidOpensslConnection *connection);
/* The certificates the last CertificateRequest allowed, best first, as the daemon
 * described them. @ret_infos: (transfer none) owned by @connection, valid until its next
 * request or SSL_free(). */
int tlsid_openssl_connection_get_eligible(const TlsidOpensslConnection *connection,
                                          const TlsidCertificateInfo **ret_infos,
                                          size_t *ret_n);
/* How many mid-connection authentications sent a certificate (re-send an idempotent
 * request once when it grew during it). */
unsigned tlsid_openssl_connection_get_reauthentications(
                const TlsidOpensslConnection *connection);
/* The identity sent ("" when none; owned by @connection). */
const char *tlsid_openssl_connection_get_sent_identity(const TlsidOpensslConnection *connection);

/* 1 when the partition the connection was made under is still current, 0 when it must be
 * retired (the choice changed, the sessions were flushed, a signal said so through
 * tlsid_openssl_retire()), negative errno when the daemon cannot say. One GetPartition
 * round trip unless already known stale. */
int tlsid_openssl_connection_is_current(const TlsidOpensslConnection *connection);
/* Whether an IdentityChanged or SessionsFlushed for (@context, @origin) ("" a wildcard)
 * concerns @connection. */
int tlsid_openssl_connection_matches(const TlsidOpensslConnection *connection,
                                     const char *context, const char *origin);
/* Whether the connection was made stale: by a decision "stale", or tlsid_openssl_retire(). */
int tlsid_openssl_connection_is_retired(const TlsidOpensslConnection *connection);
/* From the application's signal callbacks: marks every live connection of this process
 * that a signal for (@context, @origin) concerns as retired. Returns how many. */
int tlsid_openssl_retire(const char *context, const char *origin);

/* Answers a transport challenge (tlsid_context_answer_challenge()) to a request sent on
 * @connection, with what it saw: its generation, the last CertificateRequest and the
 * candidates it allowed (or, when the server never asked, all of its credentials), and
 * the certificate it sent. @ret_answer: (transfer full). */
int tlsid_openssl_connection_answer_challenge(TlsidOpensslConnection *connection,
                                              const char *const *field_values, size_t n,
                                              unsigned flags,
                                              TlsidChallengeAnswer **ret_answer);

/* The last CertificateRequest answered in the calling thread, whatever connection it came
 * on (one that failed its handshake included, when a server that requires a certificate
 * got none): its origin, the decision and the certificates it allowed. For a library that
 * owns and frees the SSL itself (libcurl): the program learns after a failed transfer
 * that the user must choose. -ENOENT when none was. @ret_origin: (nullable) (transfer
 * full) free(); @ret_eligible, @ret_n: (nullable, both or neither) (transfer full) free
 * with tlsid_certificate_infos_free(). */
int tlsid_openssl_get_last_request(char **ret_origin, int *ret_decision,
                                   TlsidCertificateInfo **ret_eligible, size_t *ret_n);
/* Forgets the calling thread's last request (before a transfer). */
void tlsid_openssl_clear_last_request(void);

/* Has the worker send the queued new sessions now and waits up to @usec until every one
 * queued so far is sent: 0 or -ETIMEDOUT. A program about to exit calls it. */
int tlsid_openssl_flush(uint64_t usec);

/* How outages are reported (once per outage, and once when the daemon answers again);
 * NULL restores the default, one line on stderr. */
typedef void (*TlsidOpensslReportFn)(const char *message, void *userdata);
void tlsid_openssl_set_report_function(TlsidOpensslReportFn fn, void *userdata);

#ifdef __cplusplus
}
#endif
