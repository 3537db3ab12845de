/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixture of the adapter's token tests: a private bus, nginx on its port that never
 * asks for a certificate under one TLS version, NSS on the client database, and one
 * blocking connection through tlsid_nss_attach(). Header-only, so that a test linking the
 * adapter's static library (for its test seams) calls that copy of it. */
#pragma once

#include <check.h>
#include <glib.h>
#include <nss.h>
#include <prnetdb.h>
#include <ssl.h>
#include <sslproto.h>
#include <string.h>

#include <tlsid/tlsid-nss.h>
#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tls-server.h"

static TlsVersion version;
static TlsServer *server;
static uint16_t port;
static char *origin;

/* Starts it all under @v (aborts the test on failure). */
static inline void noask_start(TlsVersion v) {
        g_autofree char *dir = NULL, *db = NULL;

        version = v;
        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        db = g_strdup_printf("sql:%s/client-db", certs_dir);
        test_bus_start();
        dir = g_build_filename(test_bus_tmpdir(), "server", NULL);
        server = tls_server_start_nginx(certs_dir, dir, version);
        port = tls_server_noask_port(server);
        origin = g_strdup_printf("localhost:%u", port);
        ck_assert_int_eq(NSS_Initialize(db, "", "", "", NSS_INIT_READONLY), SECSuccess);
        ck_assert_int_eq(NSS_SetDomesticPolicy(), SECSuccess);
}

/* Stops it all; returns what NSS_Shutdown() said. */
static inline SECStatus noask_stop(void) {
        SECStatus shutdown;

        SSL_ClearSessionCache();
        shutdown = NSS_Shutdown();
        tls_server_stop(server);
        g_clear_pointer(&origin, g_free);
        test_bus_stop();
        certs_remove();
        return shutdown;
}

/* On @fd, after its handshake: GET /, the response read to its end (a TLS 1.3
 * NewSessionTicket with it), close. Returns whether the handshake resumed, which NSS and
 * nginx must agree on. */
static inline bool noask_exchange(PRFileDesc *fd) {
        static const char request[] =
                "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        SSLChannelInfo info;
        char body[1024];
        size_t got = 0;

        ck_assert_int_eq(PR_Write(fd, request, (PRInt32) strlen(request)),
                         (PRInt32) strlen(request));
        for (;;) {
                PRInt32 n = PR_Read(fd, body + got, (PRInt32) (sizeof body - 1 - got));

                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        body[got] = '\0';
        ck_assert_msg(strstr(body, "HTTP/1.1 200 "), "response: %s", body);
        ck_assert_int_eq(SSL_GetChannelInfo(fd, &info, sizeof info), SECSuccess);
        ck_assert_int_eq(info.resumed, strstr(body, "reused=r ") != NULL);
        PR_Close(fd);
        return info.resumed;
}

/* One connection of @context to the server through the blocking attach: handshake, then
 * noask_exchange(). Returns whether it resumed. */
static inline bool noask_connect(TlsidContext *context) {
        SSLVersionRange range = { SSL_LIBRARY_VERSION_TLS_1_2, SSL_LIBRARY_VERSION_TLS_1_3 };
        TlsidNssConnection *conn = NULL;
        PRFileDesc *tcp = PR_NewTCPSocket(), *fd;
        PRNetAddr addr;
        bool resumed;

        ck_assert_ptr_nonnull(tcp);
        ck_assert_int_eq(PR_InitializeNetAddr(PR_IpAddrLoopback, port, &addr), PR_SUCCESS);
        ck_assert_int_eq(PR_Connect(tcp, &addr, PR_SecondsToInterval(10)), PR_SUCCESS);
        fd = SSL_ImportFD(NULL, tcp);
        ck_assert_ptr_nonnull(fd);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_ENABLE_SESSION_TICKETS, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_VersionRangeSet(fd, &range), SECSuccess);
        ck_assert_int_eq(SSL_SetURL(fd, "localhost"), SECSuccess);
        ck_assert_int_eq(SSL_ResetHandshake(fd, PR_FALSE), SECSuccess);
        ASSERT_OK(tlsid_nss_attach(fd, context, "localhost", port, 0, &conn));
        ck_assert(!tlsid_nss_connection_is_degraded(conn));
        ck_assert_msg(SSL_ForceHandshake(fd) == SECSuccess, "handshake: %d", PR_GetError());
        resumed = noask_exchange(fd);
        tlsid_nss_connection_free(conn);
        return resumed;
}

/* The context @name of @client, whose choice for the origin is "none". */
static inline TlsidContext *noask_open_context(TlsidClient *client, const char *name) {
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, name, 0, NULL, &context));
        ASSERT_OK(tlsid_context_set_choice(context, origin, TLSID_CHOICE_NONE, NULL, 0));
        return context;
}

static inline TlsidStatistics noask_statistics(TlsidClient *client) {
        TlsidStatistics s;

        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        return s;
}
