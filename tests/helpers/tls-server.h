/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real TLS servers on loopback for the end-to-end tests: nginx and NSS selfserv.
 *
 * tls_server_start_nginx() fills in tests/data/nginx.conf.in and runs nginx in the
 * foreground (one process, so it runs as whoever starts it, root included) on two free
 * loopback ports: one that asks for a client certificate (ssl_verify_client optional)
 * and one that never asks. tls_server_start_selfserv() runs `selfserv -v -u` on the
 * server NSS database of make-e2e-certs.sh, with `-r` (request, do not require) when
 * asked to. Both return once the server accepts connections. Failures abort the test
 * with a message (naming the package to install when a server is missing). If the test
 * dies, an exit handler kills what is still running; the servers stay in the test's
 * process group, so Check's timeout kills them too. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
        TLS_VERSION_1_2,
        TLS_VERSION_1_3,
} TlsVersion;

typedef struct TlsServer TlsServer;

/* "TLSv1.2" or "TLSv1.3", as nginx's $ssl_protocol says it. */
const char *tls_version_name(TlsVersion version);

/* Starts nginx serving only @version, with the certificates in @certs_dir (the output of
 * make-e2e-certs.sh), its files under @dir (created). (transfer full) */
TlsServer *tls_server_start_nginx(const char *certs_dir, const char *dir, TlsVersion version);

/* Starts selfserv serving only @version with @certs_dir/server-db, requesting (not
 * requiring) a client certificate when @request_cert; its output goes to @dir/selfserv.log.
 * (transfer full) */
TlsServer *tls_server_start_selfserv(const char *certs_dir, const char *dir, TlsVersion version,
                                     bool request_cert);

/* Stops the server (SIGTERM, then waits for it) and frees it; accepts NULL. */
void tls_server_stop(TlsServer *server);

/* The port that asks for a client certificate (selfserv: its only port, which asks only
 * when started with request_cert). */
uint16_t tls_server_port(const TlsServer *server);
/* nginx's port that never asks for a client certificate (0 for selfserv). */
uint16_t tls_server_noask_port(const TlsServer *server);

/* One TLS connection as selfserv reported it. */
typedef struct {
        char version[8];  /* "3.3" (TLS 1.2) or "3.4" (TLS 1.3) */
        char subject[256]; /* the client certificate's subject ("" when none was sent) */
        bool resumed;     /* the server resumed a session (its cache hits went up) */
} TlsServerConnection;

/* Reads selfserv's log: the connections whose handshake completed, in order, into
 * @ret_connections (up to @max). Returns how many there were (which may exceed @max). */
size_t tls_server_selfserv_connections(const TlsServer *server,
                                       TlsServerConnection *ret_connections, size_t max);

/* The path of the server's log (nginx's error log, selfserv's output; owned by @server). */
const char *tls_server_log_path(const TlsServer *server);
