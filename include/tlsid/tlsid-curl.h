/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid-curl.h: libtlsid-openssl for a libcurl program (libcurl built with OpenSSL,
 * 7.80 or later), easy or multi interface. Header only: a program builds with
 * `pkg-config --cflags --libs tlsid-openssl libcurl`.
 *
 *   TlsidCurl tc = { .context = context, .credentials = credentials };
 *   tlsid_curl_setup(easy, &tc);       // once per easy handle; @tc outlives its transfers
 *
 * - CURLOPT_SSL_CTX_FUNCTION: libcurl makes an SSL_CTX for each connection it opens and
 *   calls this before it makes the connection's SSL; the helper sets the SSL_CTX up
 *   (tlsid_openssl_ctx_setup()) and has the SSL attached, with the origin of the URL
 *   being fetched (CURLINFO_EFFECTIVE_URL), when its handshake starts
 *   (tlsid_openssl_ctx_attach_on_handshake()): libcurl's public API hands a program no
 *   SSL before its handshake, only after (CURLINFO_TLS_SSL_PTR), too late for its session.
 * - CURLOPT_SSL_SESSIONID_CACHE 0: libcurl's own session cache is keyed by host and port,
 *   not by identity, and would resume one identity's session for another.
 * - CURLOPT_PREREQFUNCTION: before each request, on a new or a reused connection, a
 *   connection the adapter knows to be stale (a decision "stale", or
 *   tlsid_openssl_retire() from the program's signal callbacks), or one of another
 *   context (libcurl's pool is the multi handle's, shared by its easy handles whatever
 *   their context), or not attached at all, is refused: the socket is shut down so that
 *   libcurl drops it from its pool, the transfer ends with CURLE_ABORTED_BY_CALLBACK and
 *   tc->retired says to send it again. libcurl has no call to close one pooled
 *   connection, nor to keep easy handles from each other's connections, so this is where
 *   such a connection goes; a program that keeps one multi handle per context never
 *   meets the second case.
 * These three options, and CURLOPT_SSL_CTX_DATA and CURLOPT_PREREQDATA, belong to the
 * helper: do not set them after tlsid_curl_setup(). A certificate the program gives
 * libcurl itself (CURLOPT_SSLCERT) is never sent: the adapter sends only what the daemon
 * chose among tc->credentials. Connections through an HTTPS proxy are not covered: libcurl
 * calls the same SSL_CTX function for the proxy's TLS, with the target's URL. */
#pragma once

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <tlsid/tlsid-openssl.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
        TlsidContext *context;                  /* borrowed: outlives the easy handle */
        TlsidOpensslCredentials *credentials;   /* nullable: no certificate is ever sent */
        unsigned flags;                         /* TLSID_OPENSSL_POST_HANDSHAKE_AUTH or 0 */
        CURL *easy;                             /* set by tlsid_curl_setup() */
        int retired;                            /* the last transfer was refused a stale
                                                 * connection: send it again */
        int attach_error;                       /* the last SSL_CTX could not be set up */
} TlsidCurl;

/* The host and port of @url, lower-cased (an IPv6 literal keeps its brackets). */
static inline int tlsid_curl_url_origin(const char *url, char *host, size_t size,
                                        unsigned *ret_port) {
        CURLU *u = curl_url();
        char *h = NULL, *p = NULL;
        int r = -1;

        if (u && url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
            strlen(h) < size) {
                for (size_t i = 0; h[i]; i++)
                        host[i] = (h[i] >= 'A' && h[i] <= 'Z') ? (char) (h[i] + 32) : h[i];
                host[strlen(h)] = '\0';
                *ret_port = (unsigned) strtoul(p, NULL, 10);
                r = *ret_port > 0 && *ret_port <= 65535 ? 0 : -1;
        }
        curl_free(h);
        curl_free(p);
        curl_url_cleanup(u);
        return r;
}

static inline CURLcode tlsid_curl_ssl_ctx_function(CURL *curl, void *ssl_ctx, void *userptr) {
        TlsidCurl *tc = (TlsidCurl *) userptr;
        char *url = NULL, host[260];
        unsigned port = 0;
        int r;

        if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK ||
            tlsid_curl_url_origin(url, host, sizeof host, &port) < 0)
                r = -22;
        else if ((r = tlsid_openssl_ctx_setup((SSL_CTX *) ssl_ctx)) >= 0)
                r = tlsid_openssl_ctx_attach_on_handshake((SSL_CTX *) ssl_ctx, tc->context,
                                                          tc->credentials, host,
                                                          (uint16_t) port, tc->flags);
        tc->attach_error = r < 0 ? r : 0;
        return r < 0 ? CURLE_SSL_CERTPROBLEM : CURLE_OK;
}

static inline int tlsid_curl_prereq_function(void *clientp, char *primary_ip, char *local_ip,
                                             int primary_port, int local_port) {
        TlsidCurl *tc = (TlsidCurl *) clientp;
        struct curl_tlssessioninfo *info = NULL;
        curl_socket_t sock = CURL_SOCKET_BAD;
        TlsidOpensslConnection *c;

        tc->retired = 0;
        if (curl_easy_getinfo(tc->easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info ||
            info->backend != CURLSSLBACKEND_OPENSSL || !info->internals)
                return CURL_PREREQFUNC_OK;
        c = tlsid_openssl_connection_from_ssl((SSL *) info->internals);
        /* libcurl reuses a connection of any easy handle of the same multi handle (or
         * share) for the same host: one of another context is another identity. */
        if (c && !tlsid_openssl_connection_is_retired(c) &&
            tlsid_openssl_connection_matches(c, tlsid_context_get_name(tc->context), "") == 1)
                return CURL_PREREQFUNC_OK;
        /* Dead to libcurl's next connection check: it leaves the pool. */
        if (curl_easy_getinfo(tc->easy, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
            sock != CURL_SOCKET_BAD)
                (void) shutdown(sock, SHUT_RDWR);
        tc->retired = 1;
        return CURL_PREREQFUNC_ABORT;
}

/* Installs the helper on @easy for @tc (which must outlive its transfers). */
static inline CURLcode tlsid_curl_setup(CURL *easy, TlsidCurl *tc) {
        CURLcode e;

        if (!easy || !tc || !tc->context)
                return CURLE_BAD_FUNCTION_ARGUMENT;
        tc->easy = easy;
        if ((e = curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION,
                                  tlsid_curl_ssl_ctx_function)) != CURLE_OK ||
            (e = curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, tc)) != CURLE_OK ||
            (e = curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L)) != CURLE_OK ||
            (e = curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION,
                                  tlsid_curl_prereq_function)) != CURLE_OK ||
            (e = curl_easy_setopt(easy, CURLOPT_PREREQDATA, tc)) != CURLE_OK)
                return e;
        return CURLE_OK;
}

#ifdef __cplusplus
}
#endif
