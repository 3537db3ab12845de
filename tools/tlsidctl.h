/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What tlsidctl's command files share: exit codes, global options, error reporting and
 * the output helpers (defined in tlsidctl.c). */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tlsid/tlsid.h>

enum {
        EXIT_OK = 0,
        EXIT_REFUSED = 1,
        EXIT_USAGE = 2,
        EXIT_NO_CONTEXT = 3,
        EXIT_UNREACHABLE = 4,
};

extern const char *arg_bus_address;
extern bool arg_json;

/* "tlsidctl: COMMAND: MESSAGE" on stderr; returns EXIT_USAGE. */
int usage_error(const char *command, const char *format, ...)
        __attribute__((format(printf, 2, 3)));
/* Reports a failed library call on one line and returns the exit code. */
int fail(const char *command, int r);
/* fail() for a command that holds a client, which it drops. */
int fail_unref(const char *command, int r, TlsidClient *client);
/* A client with the command line's timeout, or the exit code after reporting why not. */
int connect_client(const char *command, TlsidClient **ret);
/* Parses the options of a command that takes only --json (and --no-legend for a table),
 * leaving optind at its positionals. */
int parse_listing_options(int argc, char *argv[]);

/* @s with control characters shown as '?', for terminals. */
void print_sanitised(FILE *f, const char *s);
/* @s as a JSON string. */
void json_string(FILE *f, const char *s);
/* Unix seconds @t as an ISO 8601 UTC time, or "-" (transfer full, NULL on no memory). */
char *format_expiry(int64_t t);

/* Makes SIGINT and SIGTERM call @handler, and blocks them but inside ppoll() with
 * *@ret_unblocked, so that one cannot slip in between a check of the flag @handler sets and
 * the wait. */
void catch_stop_signals(void (*handler)(int), sigset_t *ret_unblocked);

/* tlsidctl agent (tlsidctl-agent.c). */
int cmd_agent(int argc, char *argv[]);
