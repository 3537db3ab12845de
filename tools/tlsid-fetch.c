/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid-fetch: a small HTTPS/1.1 client on NSS and libtlsid-nss, standing in for a browser tab.
 *
 * Each of N fetches opens a fresh TLS connection attached to a tlsid context and sends one
 * GET; a 401 carrying a transport challenge goes through AnswerChallenge. Exit codes: 0
 * every response was 2xx, 1 an HTTP failure (or declined, rejected), 2 usage error, 3 the
 * user must choose a certificate, 4 a network or TLS error. */
#include "build-config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <nspr.h>
#include <nss.h>
#include <prerror.h>
#include <secport.h>
#include <ssl.h>
#include <sslproto.h>

#include <tlsid/tlsid-nss.h>
#include <tlsid/tlsid.h>

#include "fetch-common.h"

const char *tool_name = "tlsid-fetch";

#define DEFAULT_CONTEXT "tlsid-fetch/default"
#define HEADERS_MAX (64 * 1024)
#define BODY_MAX (16 * 1024 * 1024)
#define IO_TIMEOUT_SECONDS 30

typedef struct {
        char host[256];         /* for DNS and SNI: an IPv6 literal without brackets */
        char origin_host[258];  /* lower-case, an IPv6 literal in brackets */
        uint16_t port;
        char *path;             /* from "/", without the fragment */
} Url;

typedef struct {
        int status;
        char *body;
        size_t body_len;
        char *www_authenticate[WWW_AUTHENTICATE_MAX];
        size_t n_www_authenticate;
        bool keep_alive;        /* the connection may carry another request */
} Response;

static const char *nss_error(void) {
        PRErrorCode code = PR_GetError();
        const char *name = PR_ErrorToName(code);
        static __thread char buffer[256];

        snprintf(buffer, sizeof buffer, "%s (%s)", PORT_ErrorToString(code),
                 name ? name : "unknown error");
        return buffer;
}

static void help(FILE *f) {
        fputs("Usage: tlsid-fetch [OPTIONS] URL\n"
              "\n"
              "Fetches https://HOST[:PORT]/PATH over fresh TLS connections attached to a tlsid\n"
              "context, and prints each response body on stdout.\n"
              "\n"
              "Options:\n"
              "  --context CTX        the tlsid context (default " DEFAULT_CONTEXT ")\n"
              "  --nss-db DIR         the NSS database: certificates, keys and trusted CAs\n"
              "                       (default $HOME/.pki/nssdb)\n"
              "  --connections N      fetch N times, one connection each (default 1)\n"
              "  --interval SECONDS   wait between connections (default 0)\n"
              "  --keep-alive         send the N requests on one connection while it is\n"
              "                       current (retired on a switch or a flush)\n"
              "  --interactive[=SECONDS]\n"
              "                       when a certificate must be chosen, wait up to SECONDS\n"
              "                       (default 120, at most 600) for the user's answer\n"
              "                       through an agent (tlsidctl agent, tlsid-picker)\n"
              "  --verbose            one line per connection on stderr (and per request,\n"
              "                       re-send and retired connection)\n"
              "  -h, --help           show this help\n"
              "  -V, --version        show the version\n"
              "\n"
              "Exit status: 0 every response was 2xx, 1 an HTTP failure (or the server's\n"
              "challenge was declined or rejected), 2 usage error, 3 a certificate must be\n"
              "chosen (the eligible ones are listed on stderr), 4 a network or TLS error.\n",
              f);
}

/* ---- URL ---- */

static bool path_char_ok(unsigned char ch) {
        return ch > 0x20 && ch < 0x7f;
}

/* https://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]; returns NULL or why it is not valid. */
static const char *url_parse(const char *s, Url *ret) {
        const char *authority, *end, *host, *port = NULL;
        size_t host_len;
        bool bracket = false;

        memset(ret, 0, sizeof *ret);
        if (strncasecmp(s, "https://", 8) != 0)
                return "must start with https://";
        authority = s + 8;
        end = authority + strcspn(authority, "/?#");
        if (memchr(authority, '@', (size_t) (end - authority)))
                return "must not carry user information";
        host = authority;
        if (*host == '[') {
                const char *close = memchr(host, ']', (size_t) (end - host));

                if (!close)
                        return "has an IPv6 literal without ']'";
                host++;
                host_len = (size_t) (close - host);
                bracket = true;
                if (close + 1 < end) {
                        if (close[1] != ':')
                                return "has characters after the IPv6 literal";
                        port = close + 2;
                }
        } else {
                const char *colon = memchr(host, ':', (size_t) (end - host));

                host_len = (size_t) ((colon ? colon : end) - host);
                if (colon)
                        port = colon + 1;
        }
        if (host_len == 0)
                return "has no host";
        if (host_len >= sizeof ret->host)
                return "has a host longer than 255 bytes";
        for (size_t i = 0; i < host_len; i++) {
                unsigned char ch = (unsigned char) host[i];

                if (!(isalnum(ch) || ch == '-' || ch == '.' || (bracket && ch == ':')))
                        return "has a host with a character that is not allowed";
                ret->host[i] = (char) tolower(ch);
        }
        ret->host[host_len] = '\0';
        snprintf(ret->origin_host, sizeof ret->origin_host, bracket ? "[%s]" : "%s",
                 ret->host);
        ret->port = 443;
        if (port) {
                unsigned long v = 0;

                if (port == end)
                        return "has an empty port";
                for (const char *p = port; p < end; p++) {
                        if (!isdigit((unsigned char) *p))
                                return "has a port that is not a number";
                        v = v * 10 + (unsigned long) (*p - '0');
                        if (v > 65535)
                                return "has a port above 65535";
                }
                if (v == 0)
                        return "has port 0";
                ret->port = (uint16_t) v;
        }
        /* The path and query as given; the fragment is not sent. */
        {
                size_t len = strcspn(end, "#");

                for (size_t i = 0; i < len; i++)
                        if (!path_char_ok((unsigned char) end[i]))
                                return "has a space or control character in its path";
                if (asprintf(&ret->path, "%s%.*s", *end == '/' ? "" : "/", (int) len, end) < 0)
                        return "cannot be stored (out of memory)";
        }
        return NULL;
}

static void url_free(Url *url) {
        free(url->path);
        url->path = NULL;
}

/* ---- Options ---- */

static const char *arg_context = DEFAULT_CONTEXT;
static char *arg_nss_db;
static unsigned long arg_connections = 1;
static double arg_interval;
static bool arg_verbose;
static bool arg_keep_alive;
static unsigned long arg_interactive; /* seconds; 0: exit 3 at once */
static const char *arg_url;

static int parse_argv(int argc, char **argv) {
        enum {
                OPT_CONTEXT = 0x100,
                OPT_NSS_DB,
                OPT_CONNECTIONS,
                OPT_INTERVAL,
                OPT_VERBOSE,
                OPT_KEEP_ALIVE,
                OPT_INTERACTIVE,
        };
        static const struct option options[] = {
                { "context", required_argument, NULL, OPT_CONTEXT },
                { "nss-db", required_argument, NULL, OPT_NSS_DB },
                { "connections", required_argument, NULL, OPT_CONNECTIONS },
                { "interval", required_argument, NULL, OPT_INTERVAL },
                { "verbose", no_argument, NULL, OPT_VERBOSE },
                { "keep-alive", no_argument, NULL, OPT_KEEP_ALIVE },
                { "interactive", optional_argument, NULL, OPT_INTERACTIVE },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *nss_db = NULL;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) >= 0) {
                switch (c) {
                case OPT_CONTEXT:
                        arg_context = optarg;
                        break;
                case OPT_NSS_DB:
                        if (!*optarg)
                                return tool_fail(EXIT_USAGE, "--nss-db: must not be empty");
                        nss_db = optarg;
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
                case OPT_INTERACTIVE:
                        if (parse_interactive(optarg, &arg_interactive) != EXIT_OK)
                                return EXIT_USAGE;
                        break;
                default:
                        return other_option(c, argv, help, "tlsid-fetch " PACKAGE_VERSION);
                }
        }
        if (take_url(argc, argv, &arg_url) != EXIT_OK)
                return EXIT_USAGE;

        if (nss_db) {
                if (asprintf(&arg_nss_db, "%s%s", strncmp(nss_db, "sql:", 4) == 0 ? "" : "sql:",
                             nss_db) < 0)
                        return tool_fail(EXIT_NETWORK, "out of memory");
        } else {
                const char *home = getenv("HOME");
                struct passwd *pw;

                if (!home || !*home) {
                        pw = getpwuid(getuid());
                        home = pw ? pw->pw_dir : NULL;
                }
                if (!home)
                        return tool_fail(EXIT_USAGE, "--nss-db: no default (HOME is not set)");
                if (asprintf(&arg_nss_db, "sql:%s/.pki/nssdb", home) < 0)
                        return tool_fail(EXIT_NETWORK, "out of memory");
        }
        return EXIT_OK;
}

/* ---- HTTP over an NSS socket ---- */

typedef struct {
        PRFileDesc *fd;
        char *buf;
        size_t len, pos, cap;
} Reader;

/* Reads more into the buffer: 1, 0 at the end of the stream, or -1 with a message. */
static int reader_fill(Reader *r, size_t limit) {
        PRInt32 n;

        if (r->pos > 0) {
                memmove(r->buf, r->buf + r->pos, r->len - r->pos);
                r->len -= r->pos;
                r->pos = 0;
        }
        if (r->len >= limit)
                return -1;
        if (r->cap - r->len < 16384) {
                size_t cap = r->cap ? r->cap * 2 : 65536;
                char *p = realloc(r->buf, cap);

                if (!p)
                        return -1;
                r->buf = p;
                r->cap = cap;
        }
        n = PR_Recv(r->fd, r->buf + r->len, (PRInt32) (r->cap - r->len), 0,
                    PR_SecondsToInterval(IO_TIMEOUT_SECONDS));
        if (n < 0)
                return -1;
        r->len += (size_t) n;
        return n > 0;
}

/* A line ending in CRLF (or LF) at the reader's position, without its end; NULL at the end
 * of the stream or past @limit bytes. */
static char *reader_line(Reader *r, size_t limit, int *ret_error) {
        for (;;) {
                /* No buffer before the first read: NULL + 0 is undefined too. */
                char *start = r->buf ? r->buf + r->pos : NULL;
                char *nl = r->len > r->pos ? memchr(start, '\n', r->len - r->pos) : NULL;
                int k;

                if (nl) {
                        *nl = '\0';
                        if (nl > start && nl[-1] == '\r')
                                nl[-1] = '\0';
                        r->pos = (size_t) (nl - r->buf) + 1;
                        return start;
                }
                if (r->len - r->pos >= limit) {
                        *ret_error = 1;
                        return NULL;
                }
                k = reader_fill(r, r->pos + limit + 1);
                if (k <= 0) {
                        *ret_error = k < 0 ? 2 : 3;
                        return NULL;
                }
        }
}

static int body_append(Response *resp, const char *data, size_t len) {
        char *p;

        if (len > BODY_MAX - resp->body_len)
                return tool_fail(EXIT_HTTP, "the response body exceeds %d bytes", BODY_MAX);
        p = realloc(resp->body, resp->body_len + len + 1);
        if (!p)
                return tool_fail(EXIT_NETWORK, "out of memory");
        memcpy(p + resp->body_len, data, len);
        resp->body = p;
        resp->body_len += len;
        resp->body[resp->body_len] = '\0';
        return EXIT_OK;
}

/* Moves up to @want buffered-or-received bytes into the body. */
static int read_body_bytes(Reader *r, Response *resp, size_t want, bool until_close) {
        while (want > 0 || until_close) {
                size_t avail = r->len - r->pos;
                int k;

                if (avail > 0) {
                        size_t take = until_close || avail < want ? avail : want;
                        int e = body_append(resp, r->buf + r->pos, take);

                        if (e != EXIT_OK)
                                return e;
                        r->pos += take;
                        if (!until_close)
                                want -= take;
                        continue;
                }
                r->pos = r->len = 0;
                k = reader_fill(r, SIZE_MAX);
                if (k < 0)
                        return tool_fail(EXIT_NETWORK, "reading the response body: %s", nss_error());
                if (k == 0) {
                        if (until_close)
                                return EXIT_OK;
                        return tool_fail(EXIT_NETWORK, "the connection closed inside the body");
                }
        }
        return EXIT_OK;
}

static int read_chunked(Reader *r, Response *resp) {
        for (;;) {
                int error = 0, e;
                char *line = reader_line(r, 1024, &error), *end;
                unsigned long long size;

                if (!line)
                        return tool_fail(error == 2 ? EXIT_NETWORK : EXIT_HTTP,
                                    "reading a chunk size: %s",
                                    error == 2 ? nss_error() : "malformed or truncated");
                errno = 0;
                size = strtoull(line, &end, 16);
                if (errno || end == line || (*end && *end != ';' && *end != ' ' && *end != '\t'))
                        return tool_fail(EXIT_HTTP, "malformed chunk size '%.40s'", line);
                if (size == 0)
                        break;
                if (size > BODY_MAX)
                        return tool_fail(EXIT_HTTP, "the response body exceeds %d bytes", BODY_MAX);
                e = read_body_bytes(r, resp, (size_t) size, false);
                if (e != EXIT_OK)
                        return e;
                line = reader_line(r, 2, &error);
                if (!line || *line)
                        return tool_fail(EXIT_HTTP, "a chunk does not end with CRLF");
        }
        /* Trailers, up to the empty line. */
        for (size_t total = 0;;) {
                int error = 0;
                char *line = reader_line(r, HEADERS_MAX, &error);

                if (!line)
                        return tool_fail(EXIT_HTTP, "the chunked body ends without its last CRLF");
                if (!*line)
                        return EXIT_OK;
                total += strlen(line) + 2;
                if (total > HEADERS_MAX)
                        return tool_fail(EXIT_HTTP, "the trailers exceed %d bytes", HEADERS_MAX);
        }
}

static void response_free(Response *resp) {
        free(resp->body);
        for (size_t i = 0; i < resp->n_www_authenticate; i++)
                free(resp->www_authenticate[i]);
        memset(resp, 0, sizeof *resp);
}

static char *trim(char *s) {
        char *end;

        while (*s == ' ' || *s == '\t')
                s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = '\0';
        return s;
}

/* Reads one response: the status line, the headers (64 KiB at most, interim 1xx responses
 * skipped), and the body by Content-Length, chunked coding or until the server closes. */
static int read_response(PRFileDesc *fd, Response *resp) {
        Reader r = { .fd = fd };
        bool line_is_http11 = false;
        int e = EXIT_OK;

        memset(resp, 0, sizeof *resp);
        for (;;) {
                long long content_length = -1;
                bool chunked = false, close = false;
                size_t header_bytes = 0;
                int error = 0;
                char *line = reader_line(&r, HEADERS_MAX, &error);
                char *reason;
                long status;

                if (!line) {
                        e = error == 2 ? tool_fail(EXIT_NETWORK, "reading the response: %s", nss_error())
                                       : tool_fail(EXIT_HTTP, "no HTTP response (%s)",
                                              error == 1 ? "status line too long"
                                                         : "the server closed the connection");
                        break;
                }
                if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) line[7]) ||
                    line[8] != ' ') {
                        e = tool_fail(EXIT_HTTP, "malformed status line '%.60s'", line);
                        break;
                }
                status = strtol(line + 9, &reason, 10);
                if (reason != line + 12 || status < 100 || status > 599) {
                        e = tool_fail(EXIT_HTTP, "malformed status line '%.60s'", line);
                        break;
                }
                resp->status = (int) status;
                line_is_http11 = line[7] == '1';
                header_bytes = strlen(line) + 2;

                for (;;) {
                        char *colon, *value;

                        line = reader_line(&r, HEADERS_MAX, &error);
                        if (!line) {
                                e = error == 2 ? tool_fail(EXIT_NETWORK, "reading the headers: %s",
                                                      nss_error())
                                               : tool_fail(EXIT_HTTP, "the headers exceed %d bytes "
                                                      "or are truncated", HEADERS_MAX);
                                goto out;
                        }
                        header_bytes += strlen(line) + 2;
                        if (header_bytes > HEADERS_MAX) {
                                e = tool_fail(EXIT_HTTP, "the headers exceed %d bytes", HEADERS_MAX);
                                goto out;
                        }
                        if (!*line)
                                break;
                        colon = strchr(line, ':');
                        if (!colon || colon == line)
                                continue;       /* not a field; obs-fold is not supported */
                        *colon = '\0';
                        value = trim(colon + 1);
                        if (strcasecmp(line, "Content-Length") == 0) {
                                char *end;

                                errno = 0;
                                content_length = strtoll(value, &end, 10);
                                if (errno || end == value || *end || content_length < 0) {
                                        e = tool_fail(EXIT_HTTP, "malformed Content-Length '%.40s'",
                                                 value);
                                        goto out;
                                }
                        } else if (strcasecmp(line, "Connection") == 0) {
                                close = strcasestr(value, "close") != NULL;
                        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
                                const char *last = strrchr(value, ',');

                                chunked = strcasecmp(trim((char *) (last ? last + 1 : value)),
                                                     "chunked") == 0;
                        } else if (strcasecmp(line, "WWW-Authenticate") == 0 &&
                                   resp->n_www_authenticate < WWW_AUTHENTICATE_MAX) {
                                char *copy = strdup(value);

                                if (!copy) {
                                        e = tool_fail(EXIT_NETWORK, "out of memory");
                                        goto out;
                                }
                                resp->www_authenticate[resp->n_www_authenticate++] = copy;
                        }
                }
                if (status >= 100 && status < 200)
                        continue;       /* an interim response: the final one follows */
                /* HTTP/1.1 keeps the connection unless told otherwise; a body read to the
                 * end of the connection leaves nothing to reuse. */
                resp->keep_alive = line_is_http11 && !close &&
                                   (chunked || content_length >= 0 || status == 204 ||
                                    status == 304);
                if (status == 204 || status == 304)
                        break;
                if (chunked)
                        e = read_chunked(&r, resp);
                else if (content_length >= 0) {
                        if (content_length > BODY_MAX)
                                e = tool_fail(EXIT_HTTP, "the response body exceeds %d bytes",
                                         BODY_MAX);
                        else
                                e = read_body_bytes(&r, resp, (size_t) content_length, false);
                } else
                        e = read_body_bytes(&r, resp, 0, true);
                break;
        }
out:
        free(r.buf);
        return e;
}

static int send_all(PRFileDesc *fd, const char *data, size_t len) {
        while (len > 0) {
                PRInt32 n = PR_Send(fd, data, (PRInt32) len, 0,
                                    PR_SecondsToInterval(IO_TIMEOUT_SECONDS));

                if (n <= 0)
                        return tool_fail(EXIT_NETWORK, "sending the request: %s", nss_error());
                data += n;
                len -= (size_t) n;
        }
        return EXIT_OK;
}

/* ---- Connections ---- */

static TlsidClient *client;
static TlsidContext *context;   /* NULL: the daemon could not be reached at start */
static unsigned connection_number;

static PRFileDesc *tcp_connect(const Url *url, int *ret_exit) {
        PRAddrInfo *info;
        PRNetAddr addr;
        void *iter = NULL;
        PRFileDesc *fd = NULL;
        PRErrorCode last = 0;

        info = PR_GetAddrInfoByName(url->host, PR_AF_UNSPEC, PR_AI_ADDRCONFIG);
        if (!info) {
                *ret_exit = tool_fail(EXIT_NETWORK, "cannot resolve %s: %s", url->host, nss_error());
                return NULL;
        }
        while ((iter = PR_EnumerateAddrInfo(iter, info, url->port, &addr))) {
                fd = PR_OpenTCPSocket(PR_NetAddrFamily(&addr));
                if (!fd) {
                        last = PR_GetError();
                        continue;
                }
                if (PR_Connect(fd, &addr, PR_SecondsToInterval(IO_TIMEOUT_SECONDS)) ==
                    PR_SUCCESS)
                        break;
                last = PR_GetError();
                PR_Close(fd);
                fd = NULL;
        }
        PR_FreeAddrInfo(info);
        if (!fd) {
                PR_SetError(last, 0);
                *ret_exit = tool_fail(EXIT_NETWORK, "cannot connect to %s port %u: %s", url->host,
                                 (unsigned) url->port, nss_error());
        }
        return fd;
}

/* A TLS connection attached to the context. With --keep-alive it carries the requests of
 * one origin until it is retired. */
typedef struct {
        PRFileDesc *fd;
        TlsidNssConnection *tlsid;      /* NULL without a context */
        bool resumed;
        unsigned number;
        unsigned requests;              /* sent on it so far */
        char origin[300];
        const char *retire;             /* why it must not carry another request, or NULL */
} Connection;

static Connection pooled;               /* the one connection kept between requests */

static void connection_close(Connection *c) {
        if (c->fd)
                PR_Close(c->fd);
        tlsid_nss_connection_free(c->tlsid);
        memset(c, 0, sizeof *c);
}

static void retire(Connection *c, const char *why) {
        if (!c->fd)
                return;
        if (arg_verbose)
                fprintf(stderr, "tlsid-fetch: retired connection %u: %s\n", c->number, why);
        connection_close(c);
}

/* The daemon's signals retire the pooled connection they concern. */
static void on_identity_changed(const char *ctx, const char *origin, TlsidChoice state,
                                const char *identity, uint32_t generation, void *userdata) {
        if (pooled.tlsid && tlsid_nss_connection_matches(pooled.tlsid, ctx, origin) == 1)
                pooled.retire = "IdentityChanged";
}

static void on_sessions_flushed(const char *ctx, const char *origin, uint32_t dropped,
                                void *userdata) {
        if (pooled.tlsid && tlsid_nss_connection_matches(pooled.tlsid, ctx, origin) == 1)
                pooled.retire = "SessionsFlushed";
}

/* The hook's decision was "ask": the certificates the server's request allowed. */
static int report_ask(const Connection *c, const char *origin) {
        const TlsidCertificateInfo *eligible = NULL;
        size_t n = 0;

        (void) tlsid_nss_connection_get_eligible(c->tlsid, &eligible, &n);
        return print_ask(arg_context, origin, eligible, n);
}

static int decision_of(const Connection *c) {
        return c->tlsid ? tlsid_nss_connection_get_decision(c->tlsid) : -1;
}

static int tls_connect(const Url *url, Connection *ret) {
        SSLVersionRange range = { SSL_LIBRARY_VERSION_TLS_1_2, SSL_LIBRARY_VERSION_TLS_1_3 };
        PRSocketOptionData nodelay = { .option = PR_SockOpt_NoDelay, .value.no_delay = PR_TRUE };
        PRFileDesc *tcp, *ssl;
        SSLChannelInfo info;
        int e = EXIT_OK, r;

        memset(ret, 0, sizeof *ret);
        snprintf(ret->origin, sizeof ret->origin, "%s:%u", url->origin_host,
                 (unsigned) url->port);
        tcp = tcp_connect(url, &e);
        if (!tcp)
                return e;
        /* Requests are small and wait for their answer: Nagle would hold them back behind
         * the delayed ACK of the previous write. */
        if (PR_SetSocketOption(tcp, &nodelay) != PR_SUCCESS) {
                PR_Close(tcp);
                return tool_fail(EXIT_NETWORK, "TCP_NODELAY: %s", nss_error());
        }
        ssl = SSL_ImportFD(NULL, tcp);
        if (!ssl) {
                PR_Close(tcp);
                return tool_fail(EXIT_NETWORK, "SSL_ImportFD: %s", nss_error());
        }
        ret->fd = ssl;
        if (SSL_OptionSet(ssl, SSL_SECURITY, PR_TRUE) != SECSuccess ||
            SSL_OptionSet(ssl, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE) != SECSuccess ||
            SSL_OptionSet(ssl, SSL_ENABLE_SESSION_TICKETS, PR_TRUE) != SECSuccess ||
            SSL_VersionRangeSet(ssl, &range) != SECSuccess ||
            SSL_SetURL(ssl, url->host) != SECSuccess) {
                e = tool_fail(EXIT_NETWORK, "setting up TLS: %s", nss_error());
                goto fail;
        }
        /* Before attaching: SSL_ResetHandshake drops a resumption token set earlier. */
        if (SSL_ResetHandshake(ssl, PR_FALSE) != SECSuccess) {
                e = tool_fail(EXIT_NETWORK, "SSL_ResetHandshake: %s", nss_error());
                goto fail;
        }
        if (context) {
                /* HTTP/1.1: a server may ask for a certificate after the request
                 * (renegotiation, or TLS 1.3 post-handshake authentication). */
                r = tlsid_nss_attach(ssl, context, url->origin_host, url->port,
                                     TLSID_NSS_POST_HANDSHAKE_AUTH, &ret->tlsid);
                if (r < 0) {
                        e = tool_fail(EXIT_NETWORK, "attaching to context %s: %s", arg_context,
                                 *tlsid_error_message() ? tlsid_error_message() : strerror(-r));
                        goto fail;
                }
        } else if (SSL_OptionSet(ssl, SSL_NO_CACHE, PR_TRUE) != SECSuccess) {
                e = tool_fail(EXIT_NETWORK, "setting up TLS: %s", nss_error());
                goto fail;
        }
        ret->number = ++connection_number;
        if (SSL_ForceHandshakeWithTimeout(ssl, PR_SecondsToInterval(IO_TIMEOUT_SECONDS)) !=
            SECSuccess) {
                /* A server that requires a certificate fails the handshake: when the user
                 * must choose one, that is what to say. */
                if (decision_of(ret) == TLSID_DECISION_ASK)
                        e = report_ask(ret, ret->origin);
                else
                        e = tool_fail(EXIT_NETWORK, "TLS handshake with %s port %u failed: %s",
                                 url->host, (unsigned) url->port, nss_error());
                goto fail;
        }
        if (SSL_GetChannelInfo(ssl, &info, sizeof info) == SECSuccess)
                ret->resumed = info.resumed;
        return EXIT_OK;
fail:
        connection_close(ret);
        return e;
}

static void print_verbose(const Connection *c, const Response *resp) {
        const char *identity = c->tlsid ? tlsid_nss_connection_get_identity(c->tlsid) : "";
        const char *sent = c->tlsid ? tlsid_nss_connection_get_sent_identity(c->tlsid) : "";
        uint32_t generation = c->tlsid ? tlsid_nss_connection_get_generation(c->tlsid) : 0;

        if (c->requests > 1) {
                fprintf(stderr, "tlsid-fetch: request %u on connection %u: status=%d\n",
                        c->requests, c->number, resp->status);
                return;
        }
        fprintf(stderr,
                "tlsid-fetch: connection %u: generation=%u identity=%s resumed=%s asked=%s "
                "sent=%s status=%d\n",
                c->number, generation, *identity ? identity : "-", c->resumed ? "yes" : "no",
                c->tlsid && tlsid_nss_connection_server_asked(c->tlsid) ? "yes" : "no",
                *sent ? sent : "-", resp->status);
}

/* Sends the GET of @url on @c and reads the response. When a certificate was sent in the
 * middle of the exchange (a renegotiation or a TLS 1.3 post-handshake request), the
 * request went out before the identity existed: it is sent again, once, on the same
 * connection (a GET is idempotent), and the first response is discarded. */
static int request_on(Connection *c, const Url *url, const char *header_name,
                      const char *header_value, Response *resp) {
        char host[300];

        if (url->port == 443)
                snprintf(host, sizeof host, "%s", url->origin_host);
        else
                snprintf(host, sizeof host, "%s:%u", url->origin_host, (unsigned) url->port);
        for (int attempt = 0;; attempt++) {
                unsigned before = c->tlsid ? tlsid_nss_connection_get_reauthentications(c->tlsid)
                                           : 0;
                char *request = NULL;
                int e, n;

                n = asprintf(&request,
                             "GET %s HTTP/1.1\r\n"
                             "Host: %s\r\n"
                             "User-Agent: tlsid-fetch/" PACKAGE_VERSION "\r\n"
                             "Accept: */*\r\n"
                             "%s%s%s%s"
                             "\r\n",
                             url->path, host, header_name ? header_name : "",
                             header_name ? ": " : "", header_name ? header_value : "",
                             header_name ? "\r\n" : "");
                if (n < 0)
                        return tool_fail(EXIT_NETWORK, "out of memory");
                c->requests++;
                e = send_all(c->fd, request, (size_t) n);
                free(request);
                if (e == EXIT_OK)
                        e = read_response(c->fd, resp);
                if (e != EXIT_OK)
                        return e;
                if (!resp->keep_alive)
                        c->retire = "the server closes it";
                if (attempt == 0 && c->tlsid &&
                    tlsid_nss_connection_get_reauthentications(c->tlsid) > before) {
                        if (!resp->keep_alive) {
                                fprintf(stderr, "tlsid-fetch: connection %u: a certificate was "
                                        "sent after the request, and the server closed the "
                                        "connection: its response is shown as it is\n",
                                        c->number);
                                return EXIT_OK;
                        }
                        if (arg_verbose)
                                fprintf(stderr, "tlsid-fetch: re-sending on connection %u: a "
                                        "certificate was sent after the request (status %d "
                                        "discarded)\n", c->number, resp->status);
                        response_free(resp);
                        c->requests--; /* the same request, once more */
                        continue;
                }
                return EXIT_OK;
        }
}

/* The connection for a request to @url: the pooled one while it is current, else a new one
 * (transfer none: it is &pooled). */
static int get_connection(const Url *url, Connection **ret) {
        char origin[300];

        snprintf(origin, sizeof origin, "%s:%u", url->origin_host, (unsigned) url->port);
        if (pooled.fd) {
                if (client)
                        (void) tlsid_client_dispatch(client);
                if (!arg_keep_alive)
                        connection_close(&pooled); /* one request per connection */
                else if (strcmp(pooled.origin, origin) != 0)
                        retire(&pooled, "another origin");
                else if (pooled.retire)
                        retire(&pooled, pooled.retire);
                else if (pooled.tlsid && tlsid_nss_connection_is_current(pooled.tlsid) != 1)
                        retire(&pooled, "its partition is no longer current");
        }
        *ret = &pooled;
        return pooled.fd ? EXIT_OK : tls_connect(url, &pooled);
}

/* One GET of @url (with @header added, nullable) on a current connection, which stays open
 * for the caller in *@ret_conn. A connection whose partition moved on during its
 * handshake sent no certificate: the request goes again on a new one, once. */
static int exchange(const Url *url, const char *header_name, const char *header_value,
                    Response *resp, Connection **ret_conn) {
        for (int attempt = 0;; attempt++) {
                Connection *c;
                int e = get_connection(url, &c);

                if (e != EXIT_OK)
                        return e;
                e = request_on(c, url, header_name, header_value, resp);
                /* After the response too: a server that requires a certificate may answer
                 * 400 or end the connection with an alert. */
                if (decision_of(c) == TLSID_DECISION_ASK) {
                        if (e == EXIT_OK && arg_verbose)
                                print_verbose(c, resp);
                        e = report_ask(c, c->origin);
                        connection_close(c);
                        return e;
                }
                if (decision_of(c) == TLSID_DECISION_STALE && attempt == 0) {
                        /* Its line too: what it did before it was retired. */
                        if (arg_verbose)
                                print_verbose(c, e == EXIT_OK ? resp : &(Response) { 0 });
                        if (e == EXIT_OK)
                                response_free(resp);
                        retire(c, "its partition moved on while the server asked for a "
                               "certificate");
                        continue;
                }
                if (e != EXIT_OK) {
                        connection_close(c);
                        return e;
                }
                if (arg_verbose)
                        print_verbose(c, resp);
                *ret_conn = c;
                return EXIT_OK;
        }
}

static void print_body(const Response *resp) {
        if (resp->body_len > 0)
                fwrite(resp->body, 1, resp->body_len, stdout);
        fflush(stdout);
}

/* Asks the daemon about the 401 @resp got on @c (still open). */
static int answer_challenge(Connection *c, const Response *resp, TlsidChallengeAnswer **ret) {
        int r;

        /* Not on the handshake path: the daemon may read its NSS database. */
        (void) tlsid_client_set_timeout(client, 0);
        r = tlsid_nss_connection_answer_challenge(c->tlsid, c->fd,
                                                  (const char *const *) resp->www_authenticate,
                                                  resp->n_www_authenticate, 0, ret);
        (void) tlsid_client_set_timeout(client, TLSID_NSS_DEFAULT_TIMEOUT_USEC);
        if (r < 0)
                fprintf(stderr, "tlsid-fetch: cannot answer the challenge of %s: %s\n",
                        c->origin, *tlsid_error_message() ? tlsid_error_message()
                                                          : strerror(-r));
        return r;
}

/* One fetch: a GET, and what a transport challenge asks for. EXIT_OK when the response was
 * 2xx; EXIT_HTTP for another status, which does not stop the remaining fetches; any other
 * code ends the program. */
static int fetch(const Url *start) {
        TlsidChallengeAnswer *answer = NULL;
        Connection *c = NULL;
        Response resp = { 0 };
        Url target = { 0 }, retry_url = { 0 };
        bool retried = false;
        int e;

        target = *start;
        for (;;) {
                e = exchange(&target, NULL, NULL, &resp, &c);
                if (e != EXIT_OK)
                        goto out;
                if (resp.status != 401 || resp.n_www_authenticate == 0 || !c->tlsid)
                        break;
                if (answer_challenge(c, &resp, &answer) < 0)
                        break;
                switch (challenge_step(answer, arg_context, c->origin, retried, &e)) {
                case STEP_SHOW:
                        goto done;
                case STEP_RETRY:
                        retried = true;
                        if (*answer->url) {
                                const char *why;

                                url_free(&retry_url);
                                why = url_parse(answer->url, &retry_url);
                                if (why) {
                                        e = tool_fail(EXIT_HTTP, "the challenge's url '%s' %s",
                                                      answer->url, why);
                                        goto out;
                                }
                                target = retry_url;
                        }
                        /* The partition moved: the connection that carried it cannot carry
                         * the request again. */
                        c->retire = "the challenge moved its partition on";
                        tlsid_challenge_answer_free(answer);
                        answer = NULL;
                        response_free(&resp);
                        continue;
                case STEP_DECLINE:
                        response_free(&resp);
                        e = exchange(&target, answer->header, answer->authorization, &resp, &c);
                        if (e == EXIT_OK) {
                                print_body(&resp);
                                e = EXIT_HTTP;
                        }
                        goto out;
                case STEP_EXIT:
                        goto out;
                }
                break;
        }
done:
        print_body(&resp);
        e = resp.status >= 200 && resp.status < 300 ? EXIT_OK : EXIT_HTTP;
out:
        tlsid_challenge_answer_free(answer);
        response_free(&resp);
        url_free(&retry_url);
        if (!arg_keep_alive)
                connection_close(&pooled);
        return e;
}

int main(int argc, char **argv) {
        const char *why;
        bool all_ok = true;
        Url url;
        int e;

        e = parse_argv(argc, argv);
        if (e != EXIT_OK)
                return e;
        why = url_parse(arg_url, &url);
        if (why)
                return tool_fail(EXIT_USAGE, "URL '%s' %s", arg_url, why);

        if (NSS_Initialize(arg_nss_db, "", "", SECMOD_DB, NSS_INIT_READONLY) != SECSuccess) {
                e = tool_fail(EXIT_NETWORK, "cannot open the NSS database %s: %s", arg_nss_db,
                         nss_error());
                url_free(&url);
                free(arg_nss_db);
                return e;
        }
        NSS_SetDomesticPolicy();
        open_context(arg_context, TLSID_NSS_DEFAULT_TIMEOUT_USEC, arg_interactive, &client,
                     &context);
        if (client) {
                (void) tlsid_client_on_identity_changed(client, on_identity_changed, NULL);
                (void) tlsid_client_on_sessions_flushed(client, on_sessions_flushed, NULL);
        }

        for (unsigned long i = 0; i < arg_connections; i++) {
                if (i > 0)
                        wait_dispatching(client, arg_interval);
                else if (client)
                        (void) tlsid_client_dispatch(client);
                e = fetch(&url);
                if (e == EXIT_HTTP)
                        all_ok = false;
                else if (e != EXIT_OK)
                        break;
        }
        if (e == EXIT_OK && !all_ok)
                e = EXIT_HTTP;

        connection_close(&pooled);
        /* The last tokens go to the daemon before we exit, for the user's next process. */
        if (context)
                (void) tlsid_nss_flush(TLSID_NSS_DEFAULT_TIMEOUT_USEC * 4);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        url_free(&url);
        free(arg_nss_db);
        SSL_ClearSessionCache();
        if (NSS_Shutdown() != SECSuccess && e == EXIT_OK)
                e = tool_fail(EXIT_NETWORK, "NSS_Shutdown: %s", nss_error());
        return e;
}
