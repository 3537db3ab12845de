/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the HTTPS clients tlsid-fetch (NSS) and tlsid-curl (libcurl and OpenSSL) share:
 * their exit codes, the options both take, the context they open, the list shown when the
 * user must choose, and what a transport challenge's answer asks of them next. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <tlsid/tlsid.h>

enum {
        EXIT_OK = 0,
        EXIT_HTTP = 1,
        EXIT_USAGE = 2,
        EXIT_ASK = 3,
        EXIT_NETWORK = 4,
};

#define CONNECTIONS_MAX 100000
#define INTERVAL_MAX 86400.0
#define WWW_AUTHENTICATE_MAX 64
#define INTERACTIVE_DEFAULT_SECONDS 120
#define INTERACTIVE_MAX_SECONDS (TLSID_INTERACTIVE_TIMEOUT_MAX_USEC / 1000000)

/* The program's name, for messages ("tlsid-fetch"). */
extern const char *tool_name;

/* A failure that ends the program: the exit code and one line on stderr. */
int tool_fail(int code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* What getopt_long()'s @c means when it is none of the program's own options: -h (@help
 * on stdout, exit), -V (@version_line, exit), a missing argument, an unknown option.
 * Returns EXIT_USAGE, said. */
int other_option(int c, char **argv, void (*help)(FILE *f), const char *version_line);
/* The one argument after the options: the URL, in *@ret_url. EXIT_OK or EXIT_USAGE said. */
int take_url(int argc, char **argv, const char **ret_url);

/* --connections and --interval: EXIT_OK, or EXIT_USAGE said. */
int parse_connections(const char *arg, unsigned long *ret);
int parse_interval(const char *arg, double *ret);
/* --interactive[=SECONDS] (@arg nullable: the default): EXIT_OK, or EXIT_USAGE said. */
int parse_interactive(const char *arg, unsigned long *ret_seconds);

/* Opens @name on a new client at @bus_address (nullable: the session bus), allowing the
 * library's default timeout for the opening (it may activate the daemon), then @timeout_usec
 * for the handshake path; with @interactive_seconds, a certificate to choose waits that
 * long for the user's answer through an agent (each call's timeout grows by as much). On
 * failure says so once and leaves both NULL: the program goes on without resumption and
 * client certificates. */
void open_context(const char *name, uint64_t timeout_usec, unsigned long interactive_seconds,
                  TlsidClient **ret_client, TlsidContext **ret_context);

/* Waits @seconds while delivering @client's signals (nullable). */
void wait_dispatching(TlsidClient *client, double seconds);

/* The user must choose: how, and the @n certificates @origin allows. Returns EXIT_ASK. */
int print_ask(const char *context, const char *origin, const TlsidCertificateInfo *eligible,
              size_t n);

/* Whether @s may be sent as a header field's value. */
bool header_value_ok(const char *s);

/* What a challenge's answer asks the client to do next. */
typedef enum {
        STEP_SHOW,      /* not a transport challenge (or asked again): show the response */
        STEP_RETRY,     /* on a new connection, to the answer's url when it has one */
        STEP_DECLINE,   /* send again with the answer's header */
        STEP_EXIT,      /* end with *ret_exit (said) */
} ChallengeStep;

/* The step for @answer to a request to @origin in @context; @retried: a retry was sent
 * already (a second one is not). */
ChallengeStep challenge_step(const TlsidChallengeAnswer *answer, const char *context,
                             const char *origin, bool retried, int *ret_exit);
