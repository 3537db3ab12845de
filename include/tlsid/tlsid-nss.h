/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss: wires an NSS SSL client socket to tlsidd.
 *
 * tlsid_nss_attach() on a socket before its handshake:
 *  - sets SSL_SetSockPeerID to the partition's peer_id, so NSS's in-process session cache
 *    is partitioned by (context, identity, generation);
 *  - asks the daemon for the partition and, when its identity is "" (no client
 *    certificate), gives NSS a resumption token in the same round trip
 *    (SSL_SetResumptionToken; one NSS refuses is dropped): the newest one this process
 *    made for the origin and has not sent yet, when the daemon's answer (GetPartition)
 *    says it was made under the partition current now (then it is used once and never
 *    sent), otherwise the daemon's newest (BeginConnection). So connections opened back
 *    to back resume from their predecessor's token. New tokens
 *    (SSL_SetResumptionTokenCallback), dated from the session without decoding them, are
 *    sent by a worker thread, off the handshake path: a few milliseconds after they
 *    arrive, later while handshakes of the process run (at most 50 ms), at once in
 *    tlsid_nss_flush();
 *    when a certificate is chosen, leaves tokens alone and lets NSS's own cache resume
 *    within the process (NSS exports no token for a session that sent a certificate);
 *  - installs a client-auth hook that runs only when the server asks, calls
 *    SelectCertificate with what the CertificateRequest carries and the certificates
 *    with private keys in the process's NSS database, and sends the chosen one; "none"
 *    and "ask" send nothing ("ask" is recorded on the connection). On a non-blocking
 *    socket it answers SECWouldBlock and completes through tlsid_nss_connection_dispatch();
 *  - binds the connection, for its whole life, to the partition it was attached under:
 *    whenever the server asks (the first handshake, a TLS 1.2 renegotiation, a TLS 1.3
 *    post-handshake CertificateRequest) it presents that partition's identity, or none,
 *    never another. When the partition moved on (a switch or a flush) the hook sends
 *    nothing and the connection is stale (tlsid_nss_connection_is_current() says 0 without
 *    asking the daemon): retire it and send the request again on a new one. The one
 *    exception: during the first handshake of a connection attached with no identity, a
 *    certificate chosen now (by the policy) moves the connection to the new partition,
 *    since no application data has flowed (get_generation() and get_identity() then say
 *    so);
 *  - allows renegotiation only with the RFC 5746 extension (SSL_RENEGOTIATE_REQUIRES_XTN),
 *    and TLS 1.3 post-handshake authentication only with TLSID_NSS_POST_HANDSHAKE_AUTH
 *    (never with HTTP/2, which forbids both: RFC 9113 9.2). After a mid-connection
 *    authentication that sent a certificate, a request already in flight was sent before
 *    the identity existed: tlsid_nss_connection_get_reauthentications() counts them, so
 *    an HTTP client re-sends an idempotent request once on the same connection.
 * tlsid_nss_attach_start() is the same attach without waiting: started before the TCP
 * connect and completed on the application's poll loop, then tlsid_nss_attach_finish() on
 * the socket.
 * Every daemon call is bounded by the client's timeout (tlsid_nss_client_new() makes a
 * client with TLSID_NSS_DEFAULT_TIMEOUT_USEC), plus the interactive timeout for the
 * client-auth hook and challenges when the application set one
 * (tlsid_client_set_interactive_timeout(): the user is asked through an agent). When
 * the daemon cannot be reached the connection goes on with no resumption and no
 * certificate (fail closed), and this is reported once per outage, not per connection.
 *
 * The server certificates of the last handshakes that made tokens stay referenced until
 * NSS_Shutdown() (with an in-memory trust record that says nothing, see
 * client-lib/nss-peer-certs.c), so that decoding a token queries no certificate database.
 *
 * NSS wraps a token's session secret with a key of its internal slot that each process
 * generates (PK11_GetWrapKey, index 0), so a token resumes only in a process holding the
 * same key. The first attach installs the daemon's key (GetTokenKey) with
 * PK11_SetWrapKey(), so the user's processes share tokens; in a process that made TLS
 * sessions before its first attach NSS keeps its own key, and tokens resume only there.
 *
 * Functions return 0 or a negative errno like libtlsid's; after a failed daemon call
 * tlsid_error_message() says why (the adapter's own argument checks set no message).
 * Safe to use from several threads, each socket used by one thread at a time. NSS must
 * be initialised by the application. */
#pragma once

#include <prio.h>
#include <stdint.h>

#include <tlsid/tlsid.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The default bound on one daemon call made on the handshake path. */
#define TLSID_NSS_DEFAULT_TIMEOUT_USEC 250000u

typedef struct TlsidNssConnection TlsidNssConnection;
typedef struct TlsidNssAttach TlsidNssAttach;

/* A client (as tlsid_client_new()) whose calls time out after
 * TLSID_NSS_DEFAULT_TIMEOUT_USEC. @ret_client: (transfer full). */
int tlsid_nss_client_new(const char *bus_address, TlsidClient **ret_client);

/* Wires @ssl_fd (an NSS SSL socket in client mode, before its handshake) to @context for
 * the origin @host:@port (@host: a DNS name or IP literal, lower-cased by the caller, an
 * IPv6 literal with or without brackets; also used for SNI unless the caller called
 * SSL_SetURL), with @flags (TLSID_NSS_POST_HANDSHAKE_AUTH or 0). Call it after
 * SSL_ResetHandshake(), which drops a resumption token set
 * before it. It installs the socket's SSL_GetClientAuthDataHook and resumption token
 * callback; do not replace them. @context must outlive the connection state, which lives
 * until tlsid_nss_connection_free(), called after PR_Close(@ssl_fd).
 * When the daemon cannot be reached (or refuses with anything but -EINVAL, -ENOMEM or
 * -ENOENT, which are returned) this still succeeds, fail closed: SSL_NO_CACHE is set, no
 * token is used and no certificate is sent; tlsid_nss_connection_is_degraded() says so.
 * The client-auth hook calls SelectCertificate, bounded by the client's timeout (plus
 * its interactive timeout): on a blocking socket the handshake waits for the answer, on
 * a non-blocking one a thread asks and the socket's event loop stays free
 * (tlsid_nss_connection_get_fd()). It sends the user certificates of the process's NSS
 * database that SSL_CertIsUsable() accepts (at most 64); with none it sends nothing
 * without asking.
 * @ret_connection: (transfer full). */
int tlsid_nss_attach(PRFileDesc *ssl_fd, TlsidContext *context, const char *host,
                     uint16_t port, unsigned flags, TlsidNssConnection **ret_connection);

/* The asynchronous form of tlsid_nss_attach(), for an event loop that must never wait:
 * started as soon as the origin is known, before the TCP connect, so that the daemon's
 * round trip overlaps it. tlsid_nss_attach_start() sends the call (GetPartition when the
 * process holds a token of its own for the origin, else BeginConnection) and returns at
 * once; poll tlsid_nss_attach_get_fd() for POLLIN (owned by @attach; the same number for
 * the attach's whole life) and call tlsid_nss_attach_dispatch() when it is readable, until
 * it returns 1; then tlsid_nss_attach_finish() on the socket, after SSL_ResetHandshake(),
 * wires it as tlsid_nss_attach() would. The first attach of a process still fetches the
 * token key (GetTokenKey) before it returns, blocking, bounded by the client's timeout;
 * a round trip that fails or outlives that timeout fails closed at the finish, as in the
 * blocking form. One thread at a time per attach.
 * @ret_attach: (transfer full) ends with tlsid_nss_attach_finish() or
 * tlsid_nss_attach_cancel(). */
int tlsid_nss_attach_start(TlsidContext *context, const char *host, uint16_t port,
                           unsigned flags, TlsidNssAttach **ret_attach);
/* The fd to poll for POLLIN; it stays readable once the round trips ended. */
int tlsid_nss_attach_get_fd(const TlsidNssAttach *attach);
/* Reads what arrived: 1 when the round trips ended, 0 when one is in flight. */
int tlsid_nss_attach_dispatch(TlsidNssAttach *attach);
/* Wires @ssl_fd (an NSS SSL socket in client mode, after SSL_ResetHandshake()) to the
 * partition the daemon named, with its token, as tlsid_nss_attach() (which see, for what
 * it returns too). Waits when the round trips have not ended yet. Takes @attach, whatever
 * it returns. @ret_connection: (transfer full). */
int tlsid_nss_attach_finish(TlsidNssAttach *attach, PRFileDesc *ssl_fd,
                            TlsidNssConnection **ret_connection);
/* Drops @attach (accepts NULL): a round trip in flight is cancelled; a token the attach
 * holds goes back to the process's outbox (and from there to the next connection of its
 * partition, or to the daemon). A token the daemon gave a BeginConnection whose reply had
 * not arrived yet is lost: the daemon keeps the partition's other tokens (up to 4). */
void tlsid_nss_attach_cancel(TlsidNssAttach *attach);

/* Flags for tlsid_nss_attach(). */
#define TLSID_NSS_POST_HANDSHAKE_AUTH (1u << 0) /* TLS 1.3 post-handshake authentication */

/* Frees the state of a closed socket; accepts NULL. */
void tlsid_nss_connection_free(TlsidNssConnection *connection);

/* The origin ("host:port", owned by @connection). */
const char *tlsid_nss_connection_get_origin(const TlsidNssConnection *connection);
/* The generation of the partition the connection was made under. */
uint32_t tlsid_nss_connection_get_generation(const TlsidNssConnection *connection);
/* The identity of that partition: "" or the fingerprint (owned by @connection). */
const char *tlsid_nss_connection_get_identity(const TlsidNssConnection *connection);
/* Whether the daemon could not be reached when the connection was attached. */
int tlsid_nss_connection_is_degraded(const TlsidNssConnection *connection);
/* Whether the server asked for a certificate on this connection. */
int tlsid_nss_connection_server_asked(const TlsidNssConnection *connection);
/* The decision the client-auth hook got, or -1 when the server did not ask (or the
 * daemon could not be reached). TLSID_DECISION_ASK means the user should be asked;
 * TLSID_DECISION_NONE also when the process holds no usable certificate;
 * TLSID_DECISION_STALE that the connection must be retired. */
int tlsid_nss_connection_get_decision(const TlsidNssConnection *connection);
/* The certificates the server's last CertificateRequest on @connection allowed, best
 * first, as the daemon described them (for the list to show when the decision was
 * TLSID_DECISION_ASK); none before the daemon answered. @ret_infos: (transfer none) owned
 * by @connection, valid until its next request or tlsid_nss_connection_free(). */
int tlsid_nss_connection_get_eligible(const TlsidNssConnection *connection,
                                      const TlsidCertificateInfo **ret_infos, size_t *ret_n);
/* How many mid-connection authentications (renegotiations, post-handshake requests) sent
 * a certificate on this connection. Read it before and after each response: when it
 * grew, the request went out before the identity existed, and an idempotent one should
 * be sent again, once, on the same connection. */
unsigned tlsid_nss_connection_get_reauthentications(const TlsidNssConnection *connection);
/* The identity the hook sent ("" when none; owned by @connection). */
const char *tlsid_nss_connection_get_sent_identity(const TlsidNssConnection *connection);

/* Non-blocking sockets: the client-auth hook does not stall the caller's event loop. It
 * asks the daemon from a thread of its own and returns SECWouldBlock, so the handshake
 * call fails with PR_WOULD_BLOCK_ERROR and nothing arrives on the socket until the answer
 * is in. Poll tlsid_nss_connection_get_fd() for POLLIN alongside the socket (it is -1
 * until the first such request; owned by @connection), and when it is readable call
 * tlsid_nss_connection_dispatch() on the socket's thread, then drive the handshake on
 * (SSL_ForceHandshake(), PR_Recv(), ...). Blocking sockets wait for the answer in the hook,
 * bounded by the client's timeout. */
int tlsid_nss_connection_get_fd(const TlsidNssConnection *connection);
/* Hands NSS the answer to the certificate request in flight on @ssl_fd
 * (SSL_ClientCertCallbackComplete): 1 when there was one and it is answered, 0 when
 * there is nothing to do yet. */
int tlsid_nss_connection_dispatch(TlsidNssConnection *connection, PRFileDesc *ssl_fd);

/* Whether a pooled connection may still carry requests: 1 when the partition of its
 * (context, origin) is still the one it was made under, 0 when it must be retired (the
 * choice changed or the sessions were flushed), negative errno when the daemon cannot
 * say (retire it then). One GetPartition round trip. */
int tlsid_nss_connection_is_current(const TlsidNssConnection *connection);

/* Whether an IdentityChanged or SessionsFlushed signal for (@context, @origin) ("" is a
 * wildcard, as the signals send it) concerns @connection: from the application's libtlsid
 * signal callbacks, retire the pooled connections for which this returns 1. */
int tlsid_nss_connection_matches(const TlsidNssConnection *connection, const char *context,
                                 const char *origin);

/* Answers a transport challenge (tlsid_context_answer_challenge()) to a request sent on
 * @connection (its socket @ssl_fd, still open), with what the connection saw: its
 * generation, the server's last CertificateRequest and the process's certificates it
 * allowed (or, when the server never asked, every certificate of the process's NSS
 * database with a key), and the certificate it sent. @ret_answer: (transfer full). */
int tlsid_nss_connection_answer_challenge(TlsidNssConnection *connection, PRFileDesc *ssl_fd,
                                          const char *const *field_values, size_t n,
                                          unsigned flags, TlsidChallengeAnswer **ret_answer);

/* New resumption tokens are stored by a worker thread, off the handshake path. Has it send
 * them now and waits up to @usec microseconds until every token queued so far has been
 * sent to the daemon;
 * returns 0, or -ETIMEDOUT. A program about to exit calls it (before NSS_Shutdown(),
 * which drops what is still queued) so that its last tokens serve the user's next
 * process. */
int tlsid_nss_flush(uint64_t usec);

/* How the adapter reports that the daemon cannot be reached (once per outage) and that
 * it can be reached again. @message is English text. NULL restores the default, one
 * line on stderr. */
typedef void (*TlsidNssReportFn)(const char *message, void *userdata);
void tlsid_nss_set_report_function(TlsidNssReportFn fn, void *userdata);

#ifdef __cplusplus
}
#endif
