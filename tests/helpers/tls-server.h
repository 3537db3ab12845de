/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real TLS servers on loopback for the end-to-end tests: nginx, NSS selfserv, Apache.
 *
 * tls_server_start_nginx() fills in tests/data/nginx.conf.in and runs nginx in the
 * foreground (one process, so it runs as whoever starts it, root included) on two free
 * loopback ports: one that asks for a client certificate (ssl_verify_client optional)
 * and one that never asks. tls_server_start_selfserv() runs `selfserv -v -u` on the
 * server NSS database of make-e2e-certs.sh, with `-r` (request, do not require) when
 * asked to. tls_server_start_apache() fills in tests/data/apache.conf.in and runs
 * `apache2 -f CONF -DFOREGROUND` (a parent and one child process) on one free port whose
 * /require/ and /optional/ ask for a client certificate after the request (renegotiation
 * under TLS 1.2, post-handshake authentication under TLS 1.3) and whose other paths never
 * ask. Each returns once the server accepts connections. Failures abort the test with a
 * message (naming the package to install when a server is missing). If the test dies, an
 * exit handler kills what is still running, Apache's children by pid; the servers stay in
 * the test's process group, so Check's timeout kills them too. */
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

/* Starts Apache serving only @version with the certificates in @certs_dir, its files under
 * @dir (created) except the page it serves (in a world-readable directory of /tmp, for its
 * children running as www-data when started by root). With @session_cache false it
 * neither caches sessions nor issues tickets: no connection can resume. (transfer full) */
TlsServer *tls_server_start_apache(const char *certs_dir, const char *dir, TlsVersion version,
                                   bool session_cache);

/* Stops the server (SIGTERM, then waits for it and, for Apache, checks that its children
 * are gone too) and frees it; accepts NULL. */
void tls_server_stop(TlsServer *server);

/* The port that asks for a client certificate (selfserv: its only port, which asks only
 * when started with request_cert; Apache: its only port, which asks on /require/ and
 * /optional/). */
uint16_t tls_server_port(const TlsServer *server);
/* nginx's port that never asks for a client certificate (0 for selfserv and Apache). */
uint16_t tls_server_noask_port(const TlsServer *server);
/* nginx's port that requires a client certificate in the handshake (ssl_verify_client on;
 * 0 for selfserv and Apache). */
uint16_t tls_server_require_port(const TlsServer *server);

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

/* The path of the server's log (nginx's error log, selfserv's output, Apache's access log;
 * owned by @server). */
const char *tls_server_log_path(const TlsServer *server);
/* The path of the server's own messages (nginx's and Apache's error log, selfserv's
 * output; owned by @server). */
const char *tls_server_error_log_path(const TlsServer *server);

/* One request as Apache's access log has it ("" for what Apache did not know). */
typedef struct {
        char connection[8];  /* the client's port: the same for requests of one connection */
        char request[32];    /* mod_unique_id's id, also on the page's second line */
        char path[256];
        int status;
        char protocol[8];    /* "TLSv1.2", "TLSv1.3" */
        bool resumed;        /* the connection resumed a session */
        char verify[64];     /* SSL_CLIENT_VERIFY: NONE, SUCCESS, FAILED:reason... */
        char subject[256];   /* the client certificate's subject ("" when none) */
} TlsServerRequest;

/* Reads Apache's access log: its requests, in order, into @ret (up to @max). Returns how
 * many there were (which may exceed @max). */
size_t tls_server_apache_requests(const TlsServer *server, TlsServerRequest *ret, size_t max);
/* As tls_server_apache_requests(), once the log holds at least @want requests or after
 * 10 s: Apache writes a request's line after it sent the response, so a client may be
 * done before the line is there. */
size_t tls_server_apache_requests_wait(const TlsServer *server, TlsServerRequest *ret,
                                       size_t max, size_t want);

/* What a page nginx or Apache served says the server saw. */
typedef struct {
        char subject[256]; /* the client certificate's subject ("" when none) */
        bool resumed;      /* the connection resumed a session */
        char protocol[8];  /* "TLSv1.2", "TLSv1.3" */
} TlsServerEcho;

/* Parses the echo lines ("dn=... reused=... protocol=...") of @body, in order, into @ret
 * (up to @max); other lines are skipped. Returns how many there were (which may exceed
 * @max). */
size_t tls_server_parse_echoes(const char *body, TlsServerEcho *ret, size_t max);
