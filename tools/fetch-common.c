/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What tlsid-fetch and tlsid-curl share (fetch-common.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch-common.h"

int tool_fail(int code, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", tool_name);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return code;
}

int other_option(int c, char **argv, void (*help)(FILE *f), const char *version_line) {
        switch (c) {
        case 'h':
                help(stdout);
                exit(EXIT_OK);
        case 'V':
                puts(version_line);
                exit(EXIT_OK);
        case ':':
                return tool_fail(EXIT_USAGE, "%s: needs an argument", argv[optind - 1]);
        default:
                return tool_fail(EXIT_USAGE, "unknown option '%s' (see --help)",
                                 argv[optind - 1]);
        }
}

int take_url(int argc, char **argv, const char **ret_url) {
        if (optind >= argc)
                return tool_fail(EXIT_USAGE, "URL: missing (see --help)");
        if (optind + 1 < argc)
                return tool_fail(EXIT_USAGE, "unexpected argument '%s' after the URL",
                                 argv[optind + 1]);
        *ret_url = argv[optind];
        return EXIT_OK;
}

/* @arg as a whole number from 1 to @max into *@ret: EXIT_OK, or EXIT_USAGE said, naming
 * @option and what the number counts (@unit: "" or "of seconds "). */
static int parse_count(const char *option, const char *unit, const char *arg, unsigned long max,
                       unsigned long *ret) {
        char *end;

        errno = 0;
        *ret = strtoul(arg, &end, 10);
        if (errno || end == arg || *end || arg[0] == '-' || *ret < 1 || *ret > max)
                return tool_fail(EXIT_USAGE, "%s: '%s' is not a number %sfrom 1 to %lu", option,
                                 arg, unit, max);
        return EXIT_OK;
}

int parse_connections(const char *arg, unsigned long *ret) {
        return parse_count("--connections", "", arg, CONNECTIONS_MAX, ret);
}

int parse_interval(const char *arg, double *ret) {
        char *end;

        errno = 0;
        *ret = strtod(arg, &end);
        if (errno || end == arg || *end || !isfinite(*ret) || *ret < 0 || *ret > INTERVAL_MAX)
                return tool_fail(EXIT_USAGE,
                                 "--interval: '%s' is not a number of seconds from 0 to %.0f",
                                 arg, INTERVAL_MAX);
        return EXIT_OK;
}

int parse_interactive(const char *arg, unsigned long *ret_seconds) {
        if (!arg) {
                *ret_seconds = INTERACTIVE_DEFAULT_SECONDS;
                return EXIT_OK;
        }
        return parse_count("--interactive", "of seconds ", arg, INTERACTIVE_MAX_SECONDS,
                           ret_seconds);
}

/* The --interactive seconds open_context() was given, for print_ask(). */
static unsigned long interactive_seconds;

void open_context(const char *name, uint64_t timeout_usec, unsigned long interactive,
                  TlsidClient **ret_client, TlsidContext **ret_context) {
        TlsidClient *client = NULL;
        TlsidContext *context = NULL;
        int r;

        interactive_seconds = interactive;
        r = tlsid_client_new(NULL, &client);
        if (r >= 0)
                r = tlsid_context_open(client, name, 0, NULL, &context);
        /* The handshake's SelectCertificate and the challenges' AnswerChallenge wait for
         * the agent. */
        if (r >= 0 && interactive)
                r = tlsid_client_set_interactive_timeout(client,
                                                         (uint64_t) interactive * 1000000);
        if (client)
                (void) tlsid_client_set_timeout(client, timeout_usec);
        if (r < 0)
                fprintf(stderr, "%s: cannot open context %s (%s): going on without "
                        "resumption and without client certificates\n", tool_name, name,
                        *tlsid_error_message() ? tlsid_error_message() : strerror(-r));
        *ret_client = client;
        *ret_context = context;
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void wait_dispatching(TlsidClient *client, double seconds) {
        uint64_t deadline = now_ms() + (uint64_t) (seconds * 1000.0 + 0.5);
        int fd = client ? tlsid_client_get_fd(client) : -1;

        for (;;) {
                uint64_t now = now_ms();
                int timeout = now >= deadline ? 0 : (int) (deadline - now);
                struct pollfd p = { .fd = fd, .events = POLLIN };

                if (fd < 0) {
                        if (timeout > 0)
                                poll(NULL, 0, timeout);
                        return;
                }
                if (poll(&p, 1, timeout) > 0)
                        (void) tlsid_client_dispatch(client);
                if (now_ms() >= deadline)
                        return;
        }
}

int print_ask(const char *context, const char *origin, const TlsidCertificateInfo *eligible,
              size_t n) {
        fprintf(stderr,
                "%s: %s asks for a client certificate; choose one with: tlsidctl "
                "choose %s %s FINGERPRINT\n", tool_name, origin, context, origin);
        if (interactive_seconds)
                fprintf(stderr, "%s: no agent answered within %lu s (is tlsidctl agent or "
                        "tlsid-picker running?)\n", tool_name, interactive_seconds);
        for (size_t i = 0; i < n; i++)
                fprintf(stderr, "%s\t%s\t%s\n", eligible[i].identity, eligible[i].subject,
                        eligible[i].issuer);
        return EXIT_ASK;
}

bool header_value_ok(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 && *s != '\t')
                        return false;
        return true;
}

ChallengeStep challenge_step(const TlsidChallengeAnswer *answer, const char *context,
                             const char *origin, bool retried, int *ret_exit) {
        switch (answer->action) {
        case TLSID_ANSWER_NOT_TRANSPORT:
                return STEP_SHOW;
        case TLSID_ANSWER_RETRY:
                if (retried) {
                        fprintf(stderr, "%s: %s asked again after a retry\n", tool_name, origin);
                        return STEP_SHOW;
                }
                return STEP_RETRY;
        case TLSID_ANSWER_ASK:
                *ret_exit = print_ask(context, *answer->origin ? answer->origin : origin,
                                      answer->eligible, answer->n_eligible);
                return STEP_EXIT;
        case TLSID_ANSWER_DECLINED:
                if (!*answer->header || !header_value_ok(answer->header) ||
                    !header_value_ok(answer->authorization)) {
                        *ret_exit = tool_fail(EXIT_HTTP, "the daemon's decline header is "
                                              "unusable");
                        return STEP_EXIT;
                }
                return STEP_DECLINE;
        case TLSID_ANSWER_REJECTED:
                if (*answer->identity)
                        *ret_exit = tool_fail(EXIT_HTTP, "%s rejected the client certificate "
                                              "%s (%s); %s", origin, answer->identity,
                                              answer->subject, answer->recover);
                else
                        *ret_exit = tool_fail(EXIT_HTTP, "%s challenged the re-sent request, "
                                              "on which it never asked for a certificate; %s",
                                              origin, answer->recover);
                return STEP_EXIT;
        }
        return STEP_SHOW;
}
