/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid-curl: a small HTTPS client on libcurl and libtlsid-openssl (tlsid/tlsid-curl.h),
 * with tlsid-fetch's options, transport-challenge behaviour and exit codes.
 *
 * Each of N fetches sends one GET, on a fresh connection unless --keep-alive; a 401 carrying
 * a transport challenge goes through AnswerChallenge, asked while the connection that
 * carried it is still open (at the end of the response's headers). Exit codes: 0 every
 * response was 2xx, 1 an HTTP failure (or declined, rejected), 2 usage error, 3 the user
 * must choose a certificate, 4 a network or TLS error. */
#include "build-config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <tlsid/tlsid-curl.h>
#include <tlsid/tlsid-openssl.h>
#include <tlsid/tlsid.h>

#include "fetch-common.h"

const char *tool_name = "tlsid-curl";

#define DEFAULT_CONTEXT "tlsid-curl/default"
#define BODY_MAX (16 * 1024 * 1024)
#define CERTS_MAX 64
#define IO_TIMEOUT_SECONDS 30L

static void help(FILE *f) {
        fputs("Usage: tlsid-curl [OPTIONS] URL\n"
              "\n"
              "Fetches an https:// URL with libcurl over connections attached to a tlsid\n"
              "context, and prints each response body on stdout.\n"
              "\n"
              "Options:\n"
              "  --context CTX        the tlsid context (default " DEFAULT_CONTEXT ")\n"
              "  --cert FILE          a client certificate the daemon may choose: PEM with\n"
              "                       its key (and chain), or PKCS#12 (.p12, .pfx; password\n"
              "                       from $TLSID_CERT_PASSWORD, default empty); repeatable\n"
              "  --key FILE           the PEM key of the --cert before it, when not in its file\n"
              "  --cacert FILE        trust the CAs of this PEM file (default: the system's)\n"
              "  --connections N      fetch N times (default 1)\n"
              "  --interval SECONDS   wait between fetches (default 0)\n"
              "  --keep-alive         send the N requests on one connection while it is\n"
              "                       current (retired on a switch or a flush)\n"
              "  --verbose            one line per request on stderr (and per re-send and\n"
              "                       retired connection)\n"
              "  -h, --help           show this help\n"
              "  -V, --version        show the version\n"
              "\n"
              "Exit status: 0 every response was 2xx, 1 an HTTP failure (or the server's\n"
              "challenge was declined or rejected), 2 usage error, 3 a certificate must be\n"
              "chosen (the eligible ones are listed on stderr), 4 a network or TLS error.\n",
              f);
}

/* ---- Options ---- */

static const char *arg_context = DEFAULT_CONTEXT;
static const char *arg_certs[CERTS_MAX];
static const char *arg_keys[CERTS_MAX];
static size_t arg_n_certs;
static const char *arg_cacert;
static unsigned long arg_connections = 1;
static double arg_interval;
static bool arg_verbose;
static bool arg_keep_alive;
static const char *arg_url;

static int parse_argv(int argc, char **argv) {
        enum {
                OPT_CONTEXT = 0x100,
                OPT_CERT,
                OPT_KEY,
                OPT_CACERT,
                OPT_CONNECTIONS,
                OPT_INTERVAL,
                OPT_VERBOSE,
                OPT_KEEP_ALIVE,
        };
        static const struct option options[] = {
                { "context", required_argument, NULL, OPT_CONTEXT },
                { "cert", required_argument, NULL, OPT_CERT },
                { "key", required_argument, NULL, OPT_KEY },
                { "cacert", required_argument, NULL, OPT_CACERT },
                { "connections", required_argument, NULL, OPT_CONNECTIONS },
                { "interval", required_argument, NULL, OPT_INTERVAL },
                { "verbose", no_argument, NULL, OPT_VERBOSE },
                { "keep-alive", no_argument, NULL, OPT_KEEP_ALIVE },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) >= 0) {
                switch (c) {
                case OPT_CONTEXT:
                        arg_context = optarg;
                        break;
                case OPT_CERT:
                        if (!*optarg)
                                return tool_fail(EXIT_USAGE, "--cert: must not be empty");
                        if (arg_n_certs >= CERTS_MAX)
                                return tool_fail(EXIT_USAGE, "--cert: at most %d", CERTS_MAX);
                        arg_certs[arg_n_certs++] = optarg;
                        break;
                case OPT_KEY:
                        if (!*optarg)
                                return tool_fail(EXIT_USAGE, "--key: must not be empty");
                        if (arg_n_certs == 0 || arg_keys[arg_n_certs - 1])
                                return tool_fail(EXIT_USAGE, "--key: must follow a --cert");
                        arg_keys[arg_n_certs - 1] = optarg;
                        break;
                case OPT_CACERT:
                        if (!*optarg)
                                return tool_fail(EXIT_USAGE, "--cacert: must not be empty");
                        arg_cacert = optarg;
                        break;
                case OPT_CONNECTIONS:
                        if (parse_connections(optarg, &arg_connections) != EXIT_OK)
                                return EXIT_USAGE;
                        break;
                case OPT_INTERVAL:
                        if (parse_interval(optarg, &arg_interval) != EXIT_OK)
                                return EXIT_USAGE;
                        break;
                case OPT_VERBOSE:
                        arg_verbose = true;
                        break;
                case OPT_KEEP_ALIVE:
                        arg_keep_alive = true;
                        break;
                default:
                        return other_option(c, argv, help, "tlsid-curl " PACKAGE_VERSION);
                }
        }
        if (take_url(argc, argv, &arg_url) != EXIT_OK)
                return EXIT_USAGE;
        if (strncasecmp(arg_url, "https://", 8) != 0)
                return tool_fail(EXIT_USAGE, "URL '%s' is not an https:// URL", arg_url);
        return EXIT_OK;
}

static bool is_pkcs12(const char *path) {
        size_t len = strlen(path);

        return (len > 4 && strcasecmp(path + len - 4, ".p12") == 0) ||
                (len > 4 && strcasecmp(path + len - 4, ".pfx") == 0);
}

static int load_certs(TlsidOpensslCredentials *creds) {
        const char *password = getenv("TLSID_CERT_PASSWORD");

        for (size_t i = 0; i < arg_n_certs; i++) {
                char identity[65];
                int r = is_pkcs12(arg_certs[i])
                                ? tlsid_openssl_credentials_add_pkcs12_file(creds, arg_certs[i],
                                                                            password, identity)
                                : tlsid_openssl_credentials_add_pem_file(creds, arg_certs[i],
                                                                         arg_keys[i], password,
                                                                         identity);

                if (r == -EEXIST)
                        continue;
                if (r < 0)
                        return tool_fail(EXIT_USAGE, "--cert: cannot load '%s': %s",
                                         arg_certs[i],
                                         r == -EINVAL ? "no certificate with its key in it"
                                                      : strerror(-r));
        }
        return EXIT_OK;
}

/* ---- One transfer ---- */

static TlsidClient *client;
static TlsidContext *context;   /* NULL: the daemon could not be reached at start */
static TlsidCurl tc;
static CURL *easy;
static unsigned connection_number;
static const char *retire_pooled;       /* why the pooled connection must not carry another
                                         * request, or NULL */
static unsigned pooled_reauthentications;       /* the pooled connection's, last seen */

typedef struct {
        long status;
        char *body;
        size_t body_len;
        bool too_big;
        char *www_authenticate[WWW_AUTHENTICATE_MAX];
        size_t n_www_authenticate;
        /* What the connection saw, read while it was open (the end of the headers). */
        bool seen;
        bool attached, resumed, asked;
        int decision;
        uint32_t generation;
        char identity[65], sent[65];
        unsigned reauthentications;
        TlsidCertificateInfo *eligible;
        size_t n_eligible;
        TlsidChallengeAnswer *answer;   /* the 401's transport challenge, answered */
} Response;

static void response_free(Response *resp) {
        free(resp->body);
        for (size_t i = 0; i < resp->n_www_authenticate; i++)
                free(resp->www_authenticate[i]);
        tlsid_certificate_infos_free(resp->eligible, resp->n_eligible);
        tlsid_challenge_answer_free(resp->answer);
        memset(resp, 0, sizeof *resp);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
        Response *resp = userdata;
        size_t len = size * nmemb;
        char *grown;

        if (resp->body_len + len > BODY_MAX) {
                resp->too_big = true;
                return 0;
        }
        grown = realloc(resp->body, resp->body_len + len + 1);
        if (!grown)
                return 0;
        memcpy(grown + resp->body_len, data, len);
        resp->body = grown;
        resp->body_len += len;
        resp->body[resp->body_len] = '\0';
        return len;
}

static TlsidOpensslConnection *current_connection(void) {
        struct curl_tlssessioninfo *info = NULL;

        if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info ||
            info->backend != CURLSSLBACKEND_OPENSSL || !info->internals)
                return NULL;
        return tlsid_openssl_connection_from_ssl(info->internals);
}

/* The end of a response's headers: what the connection saw, and a transport challenge
 * answered while it is open. */
static void end_of_headers(Response *resp) {
        TlsidOpensslConnection *c = current_connection();
        struct curl_tlssessioninfo *info = NULL;
        const TlsidCertificateInfo *eligible = NULL;
        size_t n = 0;

        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
        if (resp->status >= 100 && resp->status < 200)
                return;
        resp->seen = true;
        if (!c)
                return;
        resp->attached = true;
        if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) == CURLE_OK && info &&
            info->internals)
                resp->resumed = SSL_session_reused(info->internals);
        resp->asked = tlsid_openssl_connection_server_asked(c);
        resp->decision = tlsid_openssl_connection_get_decision(c);
        resp->generation = tlsid_openssl_connection_get_generation(c);
        snprintf(resp->identity, sizeof resp->identity, "%s",
                 tlsid_openssl_connection_get_identity(c));
        snprintf(resp->sent, sizeof resp->sent, "%s",
                 tlsid_openssl_connection_get_sent_identity(c));
        resp->reauthentications = tlsid_openssl_connection_get_reauthentications(c);
        (void) tlsid_openssl_connection_get_eligible(c, &eligible, &n);
        tlsid_certificate_infos_free(resp->eligible, resp->n_eligible);
        resp->eligible = NULL;
        resp->n_eligible = 0;
        /* The connection may be gone when the transfer ends: the thread's last request
         * (this transfer's) keeps a copy. */
        if (n > 0)
                (void) tlsid_openssl_get_last_request(NULL, NULL, &resp->eligible,
                                                      &resp->n_eligible);
        if (resp->status == 401 && resp->n_www_authenticate > 0) {
                int r;

                /* Not on the handshake path: the daemon may read its NSS database. */
                (void) tlsid_client_set_timeout(client, 0);
                r = tlsid_openssl_connection_answer_challenge(
                                c, (const char *const *) resp->www_authenticate,
                                resp->n_www_authenticate, 0, &resp->answer);
                (void) tlsid_client_set_timeout(client, TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC);
                if (r < 0)
                        fprintf(stderr, "tlsid-curl: cannot answer the challenge of %s: %s\n",
                                tlsid_openssl_connection_get_origin(c),
                                *tlsid_error_message() ? tlsid_error_message()
                                                       : strerror(-r));
        }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata) {
        Response *resp = userdata;
        size_t len = size * nmemb;
        static const char name[] = "www-authenticate:";

        if (len >= 7 && strncmp(data, "HTTP/", 5) == 0) {
                /* A new response (after a 1xx): forget the last one's fields. */
                for (size_t i = 0; i < resp->n_www_authenticate; i++)
                        free(resp->www_authenticate[i]);
                resp->n_www_authenticate = 0;
        } else if (len == 2 && data[0] == '\r' && data[1] == '\n') {
                end_of_headers(resp);
        } else if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0 &&
                   resp->n_www_authenticate < WWW_AUTHENTICATE_MAX) {
                const char *v = data + sizeof name - 1, *end = data + len;

                while (v < end && (*v == ' ' || *v == '\t'))
                        v++;
                while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                        end--;
                resp->www_authenticate[resp->n_www_authenticate] = strndup(v, (size_t) (end - v));
                if (resp->www_authenticate[resp->n_www_authenticate])
                        resp->n_www_authenticate++;
        }
        return len;
}

static void print_verbose(const Response *resp, bool reused) {
        if (reused) {
                fprintf(stderr, "tlsid-curl: request on connection %u: status=%ld\n",
                        connection_number, resp->status);
                return;
        }
        fprintf(stderr,
                "tlsid-curl: connection %u: generation=%u identity=%s resumed=%s asked=%s "
                "sent=%s status=%ld\n",
                connection_number, resp->generation, *resp->identity ? resp->identity : "-",
                resp->resumed ? "yes" : "no", resp->asked ? "yes" : "no",
                *resp->sent ? resp->sent : "-", resp->status);
}

/* The host:port of @url, for messages. */
static void origin_of(const char *url, char *out, size_t size) {
        char host[260];
        unsigned port = 0;

        if (tlsid_curl_url_origin(url, host, sizeof host, &port) < 0)
                snprintf(out, size, "%s", url);
        else
                snprintf(out, size, "%s:%u", host, port);
}

/* The decision the last certificate request of a failed transfer got. */
static int failed_transfer(CURLcode code, const char *url, const char *errbuf) {
        TlsidCertificateInfo *eligible = NULL;
        char *origin = NULL;
        size_t n = 0;
        int decision = -1;

        if (tlsid_openssl_get_last_request(&origin, &decision, &eligible, &n) >= 0 &&
            decision == TLSID_DECISION_ASK) {
                int e = print_ask(arg_context, origin, eligible, n);

                free(origin);
                tlsid_certificate_infos_free(eligible, n);
                return e;
        }
        free(origin);
        tlsid_certificate_infos_free(eligible, n);
        return tool_fail(EXIT_NETWORK, "%s: %s", url,
                         *errbuf ? errbuf : curl_easy_strerror(code));
}

/* One GET of @url (with @header added, nullable) into @resp. A connection that a signal
 * or a "stale" decision retired is refused before the request and replaced, once; when a
 * certificate was sent in the middle of the exchange, the request is sent again, once. */
static int transfer(const char *url, const char *header, Response *resp) {
        bool fresh = !arg_keep_alive || retire_pooled;
        struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE];
        int e = EXIT_OK;

        if (retire_pooled && arg_keep_alive && connection_number > 0 && arg_verbose)
                fprintf(stderr, "tlsid-curl: retired connection %u: %s\n", connection_number,
                        retire_pooled);
        retire_pooled = NULL;
        if (header && !(headers = curl_slist_append(NULL, header)))
                return tool_fail(EXIT_NETWORK, "out of memory");
        for (int attempt = 0;; attempt++) {
                long new_connections = 0;
                unsigned before;
                CURLcode code;

                response_free(resp);
                errbuf[0] = '\0';
                tlsid_openssl_clear_last_request();
                curl_easy_setopt(easy, CURLOPT_URL, url);
                curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
                curl_easy_setopt(easy, CURLOPT_WRITEDATA, resp);
                curl_easy_setopt(easy, CURLOPT_HEADERDATA, resp);
                /* A new connection for each fetch unless --keep-alive; the pool keeps one,
                 * so that a request is sent again on the connection that carried it. */
                curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
                code = curl_easy_perform(easy);
                (void) curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &new_connections);
                if (new_connections > 0) {
                        connection_number++;
                        pooled_reauthentications = 0;
                }
                before = pooled_reauthentications;
                pooled_reauthentications = resp->reauthentications;
                if (code == CURLE_ABORTED_BY_CALLBACK && tc.retired && attempt < 2) {
                        if (arg_verbose)
                                fprintf(stderr, "tlsid-curl: retired connection %u: its "
                                        "partition moved on\n", connection_number);
                        fresh = true;
                        continue;
                }
                if (code != CURLE_OK) {
                        e = failed_transfer(code, url, errbuf);
                        break;
                }
                if (resp->decision == TLSID_DECISION_ASK) {
                        char origin[300];

                        if (arg_verbose)
                                print_verbose(resp, new_connections == 0);
                        origin_of(url, origin, sizeof origin);
                        e = print_ask(arg_context, origin, resp->eligible, resp->n_eligible);
                        break;
                }
                if (resp->decision == TLSID_DECISION_STALE && attempt == 0) {
                        if (arg_verbose) {
                                print_verbose(resp, new_connections == 0);
                                fprintf(stderr, "tlsid-curl: retired connection %u: its "
                                        "partition moved on while the server asked for a "
                                        "certificate\n", connection_number);
                        }
                        fresh = true;
                        continue;
                }
                if (arg_verbose)
                        print_verbose(resp, new_connections == 0);
                if (attempt == 0 && resp->reauthentications > before) {
                        if (arg_verbose)
                                fprintf(stderr, "tlsid-curl: re-sending on connection %u: a "
                                        "certificate was sent after the request (status %ld "
                                        "discarded)\n", connection_number, resp->status);
                        fresh = false;
                        continue;
                }
                break;
        }
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        return e;
}

static void print_body(const Response *resp) {
        if (resp->body_len > 0)
                fwrite(resp->body, 1, resp->body_len, stdout);
        fflush(stdout);
}

/* One fetch: a GET, and what a transport challenge asks for. */
static int fetch(const char *start) {
        Response resp = { 0 };
        char *target = strdup(start), origin[300];
        bool retried = false;
        int e;

        if (!target)
                return tool_fail(EXIT_NETWORK, "out of memory");
        for (;;) {
                e = transfer(target, NULL, &resp);
                if (e != EXIT_OK)
                        goto out;
                if (resp.status != 401 || !resp.answer)
                        break;
                origin_of(target, origin, sizeof origin);
                switch (challenge_step(resp.answer, arg_context, origin, retried, &e)) {
                case STEP_SHOW:
                        goto done;
                case STEP_RETRY:
                        retried = true;
                        if (*resp.answer->url) {
                                free(target);
                                target = strdup(resp.answer->url);
                                if (!target) {
                                        e = tool_fail(EXIT_NETWORK, "out of memory");
                                        goto out;
                                }
                        }
                        /* The partition moved: a new connection carries the request. */
                        retire_pooled = "the challenge moved its partition on";
                        continue;
                case STEP_DECLINE: {
                        char *header = NULL;

                        if (asprintf(&header, "%s: %s", resp.answer->header,
                                     resp.answer->authorization) < 0) {
                                e = tool_fail(EXIT_NETWORK, "out of memory");
                                goto out;
                        }
                        e = transfer(target, header, &resp);
                        free(header);
                        if (e == EXIT_OK) {
                                print_body(&resp);
                                e = EXIT_HTTP;
                        }
                        goto out;
                }
                case STEP_EXIT:
                        goto out;
                }
        }
done:
        print_body(&resp);
        e = resp.status >= 200 && resp.status < 300 ? EXIT_OK : EXIT_HTTP;
out:
        response_free(&resp);
        free(target);
        return e;
}

/* The daemon's signals retire the pooled connection they concern. */
static void on_identity_changed(const char *ctx, const char *origin, TlsidChoice state,
                                const char *identity, uint32_t generation, void *userdata) {
        if (tlsid_openssl_retire(ctx, origin) > 0)
                retire_pooled = "IdentityChanged";
}

static void on_sessions_flushed(const char *ctx, const char *origin, uint32_t dropped,
                                void *userdata) {
        if (tlsid_openssl_retire(ctx, origin) > 0)
                retire_pooled = "SessionsFlushed";
}

int main(int argc, char **argv) {
        TlsidOpensslCredentials *creds = NULL;
        bool all_ok = true;
        int e;

        e = parse_argv(argc, argv);
        if (e != EXIT_OK)
                return e;
        if (tlsid_openssl_credentials_new(&creds) < 0)
                return tool_fail(EXIT_NETWORK, "out of memory");
        e = load_certs(creds);
        if (e != EXIT_OK) {
                tlsid_openssl_credentials_unref(creds);
                return e;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(easy = curl_easy_init())) {
                tlsid_openssl_credentials_unref(creds);
                return tool_fail(EXIT_NETWORK, "cannot initialise libcurl");
        }
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "tlsid-curl/" PACKAGE_VERSION);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT, IO_TIMEOUT_SECONDS);
        curl_easy_setopt(easy, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(easy, CURLOPT_MAXCONNECTS, 1L);
        if (arg_cacert)
                curl_easy_setopt(easy, CURLOPT_CAINFO, arg_cacert);

        open_context(arg_context, TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC, 0, &client, &context);
        if (context) {
                tc = (TlsidCurl) { .context = context, .credentials = creds,
                                   .flags = TLSID_OPENSSL_POST_HANDSHAKE_AUTH };
                if (tlsid_curl_setup(easy, &tc) != CURLE_OK) {
                        e = tool_fail(EXIT_NETWORK, "cannot install the tlsid callbacks");
                        goto out;
                }
                (void) tlsid_client_on_identity_changed(client, on_identity_changed, NULL);
                (void) tlsid_client_on_sessions_flushed(client, on_sessions_flushed, NULL);
        } else
                curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);

        for (unsigned long i = 0; i < arg_connections; i++) {
                if (i > 0)
                        wait_dispatching(client, arg_interval);
                else if (client)
                        (void) tlsid_client_dispatch(client);
                e = fetch(arg_url);
                if (e == EXIT_HTTP)
                        all_ok = false;
                else if (e != EXIT_OK)
                        break;
        }
        if (e == EXIT_OK && !all_ok)
                e = EXIT_HTTP;
out:
        curl_easy_cleanup(easy);
        /* The last sessions go to the daemon before we exit, for the user's next process. */
        if (context)
                (void) tlsid_openssl_flush(TLSID_OPENSSL_DEFAULT_TIMEOUT_USEC * 4);
        tlsid_openssl_clear_last_request();
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        tlsid_openssl_credentials_unref(creds);
        curl_global_cleanup();
        return e;
}
