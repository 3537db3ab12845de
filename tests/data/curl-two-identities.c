/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An out-of-tree libcurl program on libtlsid-openssl, built by the tests with only
 * `pkg-config --cflags --libs tlsid-openssl libcurl`: two easy handles on one multi handle,
 * each in its own tlsid context, fetch one URL at once, then again (libcurl may offer
 * either handle either kept connection: the helper refuses the other context's); each
 * prints "CONTEXT: CODE BODY" per response.
 * Usage: curl-two-identities URL CA-PEM CONTEXT-A CONTEXT-B CERT KEY [CERT KEY...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <tlsid/tlsid-curl.h>
#include <tlsid/tlsid-openssl.h>

typedef struct {
        TlsidCurl tc;
        const char *name;
        char body[4096];
        size_t len;
} Tab;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
        Tab *tab = userdata;
        size_t n = size * nmemb;

        if (tab->len + n >= sizeof tab->body)
                return 0;
        memcpy(tab->body + tab->len, data, n);
        tab->len += n;
        tab->body[tab->len] = '\0';
        return n;
}

int main(int argc, char **argv) {
        TlsidOpensslCredentials *creds = NULL;
        TlsidClient *client = NULL;
        CURL *easy[2];
        CURLM *multi;
        Tab tabs[2];
        int status = 0, retries = 0;

        if (argc < 7 || (argc - 5) % 2) {
                fprintf(stderr, "usage: %s URL CA CONTEXT-A CONTEXT-B CERT KEY...\n", argv[0]);
                return 2;
        }
        if (tlsid_openssl_client_new(NULL, &client) < 0 ||
            tlsid_openssl_credentials_new(&creds) < 0)
                return 1;
        (void) tlsid_client_set_timeout(client, 0);
        for (int i = 5; i < argc; i += 2)
                if (tlsid_openssl_credentials_add_pem_file(creds, argv[i], argv[i + 1], NULL,
                                                           NULL) < 0) {
                        fprintf(stderr, "cannot load %s\n", argv[i]);
                        return 1;
                }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        multi = curl_multi_init();
        for (int i = 0; i < 2; i++) {
                TlsidContext *context = NULL;

                memset(&tabs[i], 0, sizeof tabs[i]);
                tabs[i].name = argv[3 + i];
                if (tlsid_context_open(client, tabs[i].name, 0, NULL, &context) < 0)
                        return 1;
                tabs[i].tc = (TlsidCurl) { .context = context, .credentials = creds };
                easy[i] = curl_easy_init();
                if (tlsid_curl_setup(easy[i], &tabs[i].tc) != CURLE_OK)
                        return 1;
                curl_easy_setopt(easy[i], CURLOPT_URL, argv[1]);
                curl_easy_setopt(easy[i], CURLOPT_CAINFO, argv[2]);
                curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &tabs[i]);
        }
        (void) tlsid_client_set_timeout(client, TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC);
        for (int round = 0; round < 2; round++) {
                int running = 0;

                for (int i = 0; i < 2; i++) {
                        tabs[i].len = 0;
                        curl_multi_add_handle(multi, easy[i]);
                }
                do {
                        CURLMsg *msg;
                        int left;

                        curl_multi_perform(multi, &running);
                        /* A transfer refused a connection of the other context (their
                         * pool is the multi handle's) goes again, on another. */
                        while ((msg = curl_multi_info_read(multi, &left)))
                                for (int i = 0; i < 2; i++)
                                        if (msg->msg == CURLMSG_DONE &&
                                            msg->easy_handle == easy[i] &&
                                            msg->data.result == CURLE_ABORTED_BY_CALLBACK &&
                                            tabs[i].tc.retired && retries++ < 10) {
                                                curl_multi_remove_handle(multi, easy[i]);
                                                tabs[i].len = 0;
                                                curl_multi_add_handle(multi, easy[i]);
                                                running = 1;
                                        }
                        if (running)
                                curl_multi_poll(multi, NULL, 0, 1000, NULL);
                } while (running);
                for (int i = 0; i < 2; i++) {
                        long code = 0;

                        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
                        printf("%s: %ld %s", tabs[i].name, code, tabs[i].body);
                        if (code != 200)
                                status = 1;
                        curl_multi_remove_handle(multi, easy[i]);
                }
        }
        for (int i = 0; i < 2; i++) {
                curl_easy_cleanup(easy[i]);
                tlsid_context_unref(tabs[i].tc.context);
        }
        curl_multi_cleanup(multi);
        (void) tlsid_openssl_flush(1000000);
        tlsid_openssl_credentials_unref(creds);
        tlsid_client_unref(client);
        curl_global_cleanup();
        return status;
}
