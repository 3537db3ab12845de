/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsidctl: inspect and control tlsidd from the command line.
 *
 * Exit codes: 0 success, 1 the daemon refused the request (invalid argument, limit,
 * access), 2 usage error, 3 no such context, 4 daemon or bus unreachable or timed out, or
 * tlsidd failed to start.
 * Errors are one line on stderr: "tlsidctl: COMMAND: MESSAGE". Token bytes are never
 * printed. */
#include "build-config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include <tlsid/tlsid.h>

#include "tlsid-ids.h"
#include "tlsidctl.h"

const char *arg_bus_address;
bool arg_json;

static bool arg_no_legend;

/* What a command prints, for its usage text: JSON with --json, a table with --no-legend. */
enum {
        OUTPUT_NONE = 0,
        OUTPUT_JSON = 1 << 0,
        OUTPUT_TABLE = 1 << 1,
};

typedef struct {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *arguments;  /* after the name, as the usage shows them */
        const char *summary;    /* lines of the help, '\n'-separated */
        const char *options;    /* the command's own option lines, or NULL */
        unsigned output;        /* OUTPUT_* */
} Command;

static const Command *command_find(const char *name);

#define HELP_COLUMN 30

/* Prints @text's lines, the first after @used columns, the others at HELP_COLUMN. */
static void print_help_lines(FILE *f, size_t used, const char *text) {
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n");

                if (used >= HELP_COLUMN - 1) {
                        fputc('\n', f);
                        used = 0;
                }
                fprintf(f, "%*s%.*s\n", (int) (HELP_COLUMN - used), "", (int) len, line);
                used = 0;
                line += len;
                if (*line == '\n')
                        line++;
        }
}

static void print_option(FILE *f, const char *option, const char *text) {
        fprintf(f, "  %s", option);
        print_help_lines(f, 2 + strlen(option), text);
}

static void print_output_options(FILE *f, unsigned output) {
        if (output & OUTPUT_JSON)
                print_option(f, "--json", "JSON output (see tlsidctl(1))");
        if (output & OUTPUT_TABLE)
                print_option(f, "--no-legend", "no column headers");
}

static void help(FILE *f);

/* `tlsidctl COMMAND --help`. */
static void command_help(FILE *f, const char *name) {
        const Command *command = command_find(name);

        fprintf(f, "Usage: tlsidctl [--bus-address ADDRESS] %s%s%s%s%s\n\n", command->name,
                *command->arguments ? " " : "", command->arguments,
                command->output & OUTPUT_JSON ? " [--json]" : "",
                command->output & OUTPUT_TABLE ? " [--no-legend]" : "");
        /* The summary as a sentence: capitalised, on one paragraph's lines. */
        fputc(toupper((unsigned char) command->summary[0]), f);
        fprintf(f, "%s.\n\nOptions:\n", command->summary + 1);
        if (command->options)
                fputs(command->options, f);
        print_output_options(f, command->output);
        print_option(f, "-h, --help", "show this help");
        fputs("\nSee 'tlsidctl --help' for the global options and exit status, and tlsidctl(1).\n",
              f);
}

int usage_error(const char *command, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "tlsidctl: %s: ", command);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_USAGE;
}

static int exit_code_from_errno(int r) {
        switch (-r) {
        case ENOENT:
                return EXIT_NO_CONTEXT;
        case ETIMEDOUT:
        case ECONNREFUSED:
        case EHOSTDOWN:
                return EXIT_UNREACHABLE;
        default:
                return EXIT_REFUSED;
        }
}

/* Reports a failed library call on one line and returns the exit code. */
int fail(const char *command, int r) {
        const char *message = tlsid_error_message();

        if (r == -EHOSTDOWN)
                /* The why is in the service's status and journal, not in the message. */
                fprintf(stderr, "tlsidctl: %s: tlsidd failed to start (%s); see: systemctl --user "
                        "status " TLSID_UNIT_NAME " and journalctl --user -u tlsid\n", command,
                        *message ? message : strerror(-r));
        else
                fprintf(stderr, "tlsidctl: %s: %s\n", command, *message ? message : strerror(-r));
        return exit_code_from_errno(r);
}

/* fail() for a command that holds a client, which it drops. */
int fail_unref(const char *command, int r, TlsidClient *client) {
        r = fail(command, r);
        tlsid_client_unref(client);
        return r;
}

/* Each call's timeout. libtlsid's 1 s default is meant for a handshake path; a command at
 * a prompt rather waits for a daemon that starts slowly (a loaded machine, valgrind) than
 * fails, as long as systemctl does. */
#define CALL_TIMEOUT_USEC (25u * 1000u * 1000u)

int connect_client(const char *command, TlsidClient **ret) {
        int r = tlsid_client_new(arg_bus_address, ret);

        if (r < 0)
                return fail(command, r);
        (void) tlsid_client_set_timeout(*ret, CALL_TIMEOUT_USEC);
        return EXIT_OK;
}

/* ---- Output helpers ---- */

/* Terminals get no control characters from daemon-supplied strings. */
void print_sanitised(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        /* D-Bus strings are valid UTF-8, which JSON takes as is. */
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

/* A table printed with aligned columns; numeric columns are right-aligned. */
typedef struct {
        size_t n_columns;
        const char *const *headers;
        const bool *numeric;
        char **cells;           /* row-major */
        size_t n_rows;
} Table;

/* Takes ownership of the row's n_columns cells, also on failure: a NULL cell (an allocation
 * that failed while building the row) or a failed append frees them all and returns -ENOMEM,
 * so callers can pass freshly allocated cells without checking each one. */
static int table_add_row(Table *t, char **row) {
        char **cells = NULL;
        bool complete = true;

        for (size_t k = 0; k < t->n_columns; k++)
                complete = complete && row[k];
        if (complete)
                cells = realloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof *cells);
        if (!cells) {
                for (size_t k = 0; k < t->n_columns; k++)
                        free(row[k]);
                return -ENOMEM;
        }
        t->cells = cells;
        memcpy(cells + t->n_rows * t->n_columns, row, t->n_columns * sizeof *cells);
        t->n_rows++;
        return 0;
}

/* The columns @s takes on a terminal in the locale's character set (LC_CTYPE): wide
 * characters count two, combining ones none. A byte that does not decode, and a character
 * print_sanitised() replaces, counts one. */
static size_t display_width(const char *s) {
        mbstate_t state = {};
        size_t n = 0, left = strlen(s);

        while (left > 0) {
                wchar_t wc;
                size_t len = mbrtowc(&wc, s, left, &state);
                int w;

                if (len == (size_t) -1 || len == (size_t) -2) {
                        /* Not in the locale's encoding: one column per lead byte. */
                        memset(&state, 0, sizeof state);
                        n += ((unsigned char) *s & 0xc0) != 0x80;
                        s++;
                        left--;
                        continue;
                }
                w = wcwidth(wc);
                n += w < 0 ? 1 : (size_t) w;
                s += len;
                left -= len;
        }
        return n;
}

static void print_cell(const char *s, size_t width, bool numeric, bool last) {
        size_t pad = width - display_width(s);

        if (numeric)
                printf("%*s", (int) pad, "");
        print_sanitised(stdout, s);
        if (!numeric && !last)
                printf("%*s", (int) pad, "");
}

static void table_print(const Table *t) {
        size_t *widths = calloc(t->n_columns, sizeof *widths);

        if (!widths)
                return;
        for (size_t c = 0; c < t->n_columns; c++) {
                widths[c] = arg_no_legend ? 0 : strlen(t->headers[c]);
                for (size_t r = 0; r < t->n_rows; r++) {
                        size_t w = display_width(t->cells[r * t->n_columns + c]);

                        if (w > widths[c])
                                widths[c] = w;
                }
        }
        for (size_t c = 0; c < t->n_columns && !arg_no_legend; c++) {
                if (c > 0)
                        fputs("  ", stdout);
                print_cell(t->headers[c], widths[c], t->numeric[c], c + 1 == t->n_columns);
                if (c + 1 == t->n_columns)
                        fputc('\n', stdout);
        }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        if (c > 0)
                                fputs("  ", stdout);
                        print_cell(t->cells[r * t->n_columns + c], widths[c], t->numeric[c],
                                   c + 1 == t->n_columns);
                }
                fputc('\n', stdout);
        }
        free(widths);
}

static void table_free(Table *t) {
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
}

/* Prints the table unless building it failed (r < 0), frees it and returns the exit code. */
static int table_finish(Table *t, const char *command, int r) {
        if (r >= 0)
                table_print(t);
        table_free(t);
        if (r < 0) {
                fprintf(stderr, "tlsidctl: %s: %s\n", command, strerror(-r));
                return EXIT_REFUSED;
        }
        return EXIT_OK;
}

static char *strdup_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));

static char *strdup_printf(const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

char *format_expiry(int64_t t) {
        struct tm tm;
        time_t tt = (time_t) t;
        char buf[64];

        if (t <= 0 || !gmtime_r(&tt, &tm) ||
            strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return strdup("-");
        return strdup(buf);
}

/* ---- Commands ---- */

/* Parses the options of a command that takes only --json, --no-legend for a table (and its
 * positionals). */
int parse_listing_options(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "no-legend", no_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool table = command_find(argv[0])->output & OUTPUT_TABLE;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        arg_json = true;
                        break;
                case 'L':
                        if (!table)
                                return usage_error(argv[0], "--no-legend: %s prints no table",
                                                   argv[0]);
                        arg_no_legend = true;
                        break;
                case 'h':
                        command_help(stdout, argv[0]);
                        exit(EXIT_OK);
                default:
                        return usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
                }
        return EXIT_OK;
}

/* For a command that prints nothing: --json (here or before the command) is refused rather
 * than answered with no JSON at all. */
static int refuse_json(const char *command) {
        return usage_error(command, "--json: %s prints nothing; its exit status says how it went",
                           command);
}

/* The start of a command that takes only --json and no positional argument: parses them
 * and connects. */
static int start_plain_command(const char *command, int argc, char *argv[],
                               TlsidClient **ret_client) {
        int r;

        if ((r = parse_listing_options(argc, argv)) != EXIT_OK)
                return r;
        if (optind < argc)
                return usage_error(command, "unexpected argument '%s'", argv[optind]);
        return connect_client(command, ret_client);
}

static int cmd_status(int argc, char *argv[]) {
        TlsidClient *client = NULL;
        TlsidStatistics s;
        char *owner = NULL;
        int r;

        if ((r = start_plain_command("status", argc, argv, &client)) != EXIT_OK)
                return r;
        /* Statistics first: that call starts the daemon when it is not running. */
        r = tlsid_client_get_statistics(client, &s);
        if (r >= 0)
                r = tlsid_client_get_daemon(client, &owner);
        /* -ENOENT here means "not running", not "no such context". */
        if (r < 0)
                return fail_unref("status", r == -ENOENT ? -ECONNREFUSED : r, client);

        if (arg_json) {
                fputs("{\"daemon\":", stdout);
                json_string(stdout, owner);
                printf(",\"contexts\":%" PRIu64 ",\"partitions\":%" PRIu64 ",\"tokens\":%" PRIu64
                       ",\"bytes\":%" PRIu64 ",\"takes\":%" PRIu64 ",\"hits\":%" PRIu64
                       ",\"misses\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"stale_puts\":%" PRIu64
                       ",\"evictions\":%" PRIu64 ",\"expirations\":%" PRIu64
                       ",\"flushes\":%" PRIu64 ",\"uptime\":%" PRIu64 "}\n",
                       s.contexts, s.partitions, s.tokens, s.bytes, s.takes, s.hits, s.misses,
                       s.puts, s.stale_puts, s.evictions, s.expirations, s.flushes, s.uptime);
        } else {
                printf("Daemon:       ");
                print_sanitised(stdout, owner);
                printf("\nContexts:     %" PRIu64 "\n"
                       "Partitions:   %" PRIu64 "\n"
                       "Tokens:       %" PRIu64 "\n"
                       "Bytes:        %" PRIu64 "\n"
                       "Takes:        %" PRIu64 " (%" PRIu64 " hits, %" PRIu64 " misses)\n"
                       "Puts:         %" PRIu64 " (%" PRIu64 " stale)\n"
                       "Evictions:    %" PRIu64 "\n"
                       "Expirations:  %" PRIu64 "\n"
                       "Flushes:      %" PRIu64 "\n"
                       "Uptime:       %" PRIu64 " s\n",
                       s.contexts, s.partitions, s.tokens, s.bytes, s.takes, s.hits, s.misses,
                       s.puts, s.stale_puts, s.evictions, s.expirations, s.flushes, s.uptime);
        }
        free(owner);
        tlsid_client_unref(client);
        return EXIT_OK;
}

static int cmd_contexts(int argc, char *argv[]) {
        static const char *const headers[] = {
                "CONTEXT", "LABEL", "EPHEMERAL", "PARTITIONS", "TOKENS", "BYTES", "CHOICES",
        };
        static const bool numeric[] = { false, false, false, true, true, true, true };
        TlsidClient *client = NULL;
        TlsidContextInfo *infos = NULL;
        size_t n = 0;
        int r;

        if ((r = start_plain_command("contexts", argc, argv, &client)) != EXIT_OK)
                return r;
        r = tlsid_client_list_contexts(client, &infos, &n);
        if (r < 0)
                return fail_unref("contexts", r, client);

        if (arg_json) {
                fputc('[', stdout);
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? ",{\"context\":" : "{\"context\":", stdout);
                        json_string(stdout, infos[i].context);
                        fputs(",\"label\":", stdout);
                        json_string(stdout, infos[i].label);
                        printf(",\"ephemeral\":%s,\"partitions\":%" PRIu32 ",\"tokens\":%" PRIu32
                               ",\"bytes\":%" PRIu64 ",\"choices\":%" PRIu32 "}",
                               infos[i].ephemeral ? "true" : "false", infos[i].partitions,
                               infos[i].tokens, infos[i].bytes, infos[i].choices);
                }
                fputs("]\n", stdout);
        } else {
                Table t = { .n_columns = 7, .headers = headers, .numeric = numeric };

                for (size_t i = 0; i < n && r >= 0; i++)
                        r = table_add_row(&t, (char *[7]) {
                                strdup(infos[i].context),
                                strdup(*infos[i].label ? infos[i].label : "-"),
                                strdup(infos[i].ephemeral ? "yes" : "no"),
                                strdup_printf("%" PRIu32, infos[i].partitions),
                                strdup_printf("%" PRIu32, infos[i].tokens),
                                strdup_printf("%" PRIu64, infos[i].bytes),
                                strdup_printf("%" PRIu32, infos[i].choices),
                        });
                r = table_finish(&t, "contexts", r);
        }
        tlsid_context_infos_free(infos, n);
        tlsid_client_unref(client);
        return r;
}

static int cmd_sessions(int argc, char *argv[]) {
        static const char *const headers[] = {
                "CONTEXT", "ORIGIN", "IDENTITY", "GENERATION", "TOKENS", "EXPIRES", "BYTES",
        };
        static const bool numeric[] = { false, false, false, true, true, false, true };
        TlsidClient *client = NULL;
        TlsidSessionInfo *infos = NULL;
        const char *context = NULL;
        size_t n = 0;
        int r;

        if ((r = parse_listing_options(argc, argv)) != EXIT_OK)
                return r;
        if (optind < argc)
                context = argv[optind++];
        if (optind < argc)
                return usage_error("sessions", "unexpected argument '%s'", argv[optind]);
        if ((r = connect_client("sessions", &client)) != EXIT_OK)
                return r;
        r = tlsid_client_list_sessions(client, context, &infos, &n);
        if (r < 0)
                return fail_unref("sessions", r, client);

        if (arg_json) {
                fputc('[', stdout);
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? ",{\"context\":" : "{\"context\":", stdout);
                        json_string(stdout, infos[i].context);
                        fputs(",\"origin\":", stdout);
                        json_string(stdout, infos[i].origin);
                        fputs(",\"identity\":", stdout);
                        json_string(stdout, infos[i].identity);
                        printf(",\"generation\":%" PRIu32 ",\"tokens\":%" PRIu32
                               ",\"earliest_expiry\":%" PRId64 ",\"bytes\":%" PRIu64 "}",
                               infos[i].generation, infos[i].tokens, infos[i].earliest_expiry,
                               infos[i].bytes);
                }
                fputs("]\n", stdout);
        } else {
                Table t = { .n_columns = 7, .headers = headers, .numeric = numeric };

                for (size_t i = 0; i < n && r >= 0; i++)
                        r = table_add_row(&t, (char *[7]) {
                                strdup(infos[i].context),
                                strdup(infos[i].origin),
                                strdup(*infos[i].identity ? infos[i].identity : "-"),
                                strdup_printf("%" PRIu32, infos[i].generation),
                                strdup_printf("%" PRIu32, infos[i].tokens),
                                format_expiry(infos[i].earliest_expiry),
                                strdup_printf("%" PRIu64, infos[i].bytes),
                        });
                r = table_finish(&t, "sessions", r);
        }
        tlsid_session_infos_free(infos, n);
        tlsid_client_unref(client);
        return r;
}

/* flush and forget: [--context C] [--origin O]. */
static int cmd_flush_or_forget(int argc, char *argv[]) {
        static const struct option options[] = {
                { "context", required_argument, NULL, 'c' },
                { "origin", required_argument, NULL, 'o' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool flush = strcmp(argv[0], "flush") == 0;
        const char *context = NULL, *origin = NULL;
        TlsidClient *client = NULL;
        uint32_t count = 0;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        context = optarg;
                        break;
                case 'o':
                        origin = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        command_help(stdout, argv[0]);
                        return EXIT_OK;
                case ':':
                        return usage_error(argv[0], "option '%s' needs a value",
                                           argv[optind - 1]);
                default:
                        if (optopt == 'c' || optopt == 'o')
                                return usage_error(argv[0], "option '%s' needs a value",
                                                   argv[optind - 1]);
                        return usage_error(argv[0], "unknown option '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
        if ((r = connect_client(argv[0], &client)) != EXIT_OK)
                return r;
        r = flush ? tlsid_client_flush_sessions(client, context, origin, &count)
                  : tlsid_client_forget_choices(client, context, origin, &count);
        if (r < 0)
                return fail_unref(argv[0], r, client);
        if (arg_json)
                printf("{\"%s\":%" PRIu32 "}\n", flush ? "dropped" : "forgotten", count);
        else if (flush)
                printf("%" PRIu32 " token%s dropped\n", count, count == 1 ? "" : "s");
        else
                printf("%" PRIu32 " choice%s forgotten\n", count, count == 1 ? "" : "s");
        tlsid_client_unref(client);
        return EXIT_OK;
}

/* Accepts 64 hex digits, or 32 pairs separated by colons, in either case; writes the
 * canonical lower-case form. */
static bool normalise_fingerprint(const char *s, char out[TLSID_IDENTITY_LEN + 1]) {
        size_t len = strlen(s), n = 0;
        bool colons;

        if (len == TLSID_IDENTITY_LEN)
                colons = false;
        else if (len == TLSID_IDENTITY_LEN + TLSID_IDENTITY_LEN / 2 - 1)
                colons = true;
        else
                return false;
        for (size_t i = 0; i < len; i++) {
                if (colons && i % 3 == 2) {
                        if (s[i] != ':')
                                return false;
                        continue;
                }
                if (!isxdigit((unsigned char) s[i]))
                        return false;
                out[n++] = (char) tolower((unsigned char) s[i]);
        }
        out[n] = 0;
        return n == TLSID_IDENTITY_LEN;
}

/* The certificates whose nickname is @name, else those whose fingerprint starts with the
 * hex digits of @name (colons ignored; at least 4): their indices in @infos. Returns the
 * number of matches, writing at most @max indices. */
static size_t match_certificates(const TlsidCertificateInfo *infos, size_t n, const char *name,
                                 size_t *matches, size_t max) {
        char prefix[TLSID_IDENTITY_LEN + 1];
        size_t found = 0, len = 0;

        for (size_t i = 0; i < n; i++)
                if (infos[i].nickname && strcmp(infos[i].nickname, name) == 0) {
                        if (found < max)
                                matches[found] = i;
                        found++;
                }
        if (found > 0)
                return found;

        for (const char *p = name; *p; p++) {
                if (*p == ':')
                        continue;
                if (!isxdigit((unsigned char) *p) || len == TLSID_IDENTITY_LEN)
                        return 0;
                prefix[len++] = (char) tolower((unsigned char) *p);
        }
        prefix[len] = 0;
        if (len < 4)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (strncmp(infos[i].identity, prefix, len) == 0) {
                        if (found < max)
                                matches[found] = i;
                        found++;
                }
        return found;
}

/* Resolves a nickname or fingerprint prefix through the daemon's certificate list into
 * @out. Returns EXIT_OK or the exit code after reporting the error. */
static int resolve_certificate(TlsidClient *client, const char *name,
                               char out[TLSID_IDENTITY_LEN + 1]) {
        TlsidCertificateInfo *infos = NULL;
        size_t n = 0, matches[8], found;
        int r;

        r = tlsid_client_list_certificates(client, &infos, &n);
        if (r < 0)
                return fail("choose", r);
        found = match_certificates(infos, n, name, matches, 8);
        if (found == 1) {
                snprintf(out, TLSID_IDENTITY_LEN + 1, "%s", infos[matches[0]].identity);
                r = EXIT_OK;
        } else if (found == 0) {
                fputs("tlsidctl: choose: no certificate has the nickname or fingerprint prefix '",
                      stderr);
                print_sanitised(stderr, name);
                fputs("'; see 'tlsidctl certs'\n", stderr);
                r = EXIT_REFUSED;
        } else {
                fputs("tlsidctl: choose: '", stderr);
                print_sanitised(stderr, name);
                fprintf(stderr, "' matches %zu certificates:", found);
                for (size_t i = 0; i < found && i < 8; i++) {
                        const TlsidCertificateInfo *c = &infos[matches[i]];

                        fprintf(stderr, "%s %s", i ? "," : "", c->identity);
                        if (c->nickname) {
                                fputs(" (", stderr);
                                print_sanitised(stderr, c->nickname);
                                fputc(')', stderr);
                        }
                }
                fputs(found > 8 ? ", ...\n" : "\n", stderr);
                r = EXIT_REFUSED;
        }
        tlsid_certificate_infos_free(infos, n);
        return r;
}

static int cmd_choose(int argc, char *argv[]) {
        static const struct option options[] = {
                { "remember", no_argument, NULL, 'r' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        char fingerprint[TLSID_IDENTITY_LEN + 1];
        TlsidClient *client = NULL;
        TlsidChoice state;
        const char *identity = NULL, *choice;
        unsigned flags = 0;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        flags |= TLSID_CHOICE_REMEMBER;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        command_help(stdout, "choose");
                        return EXIT_OK;
                default:
                        return usage_error("choose", "unknown option '%s'", argv[optind - 1]);
                }
        if (arg_json)
                return refuse_json("choose");
        if (argc - optind != 3)
                return usage_error("choose",
                                   "expected CONTEXT ORIGIN (none|undecided|FINGERPRINT)");
        choice = argv[optind + 2];
        if (*choice == 0)
                return usage_error("choose", "empty choice: expected none, undecided, a "
                                   "fingerprint or a certificate's nickname");
        if ((r = connect_client("choose", &client)) != EXIT_OK)
                return r;
        if (strcmp(choice, "none") == 0)
                state = TLSID_CHOICE_NONE;
        else if (strcmp(choice, "undecided") == 0)
                state = TLSID_CHOICE_UNDECIDED;
        else {
                /* A whole fingerprint needs no lookup: the certificate may be one only the
                 * application holds. */
                state = TLSID_CHOICE_CERTIFICATE;
                identity = fingerprint;
                if (!normalise_fingerprint(choice, fingerprint) &&
                    (r = resolve_certificate(client, choice, fingerprint)) != EXIT_OK) {
                        tlsid_client_unref(client);
                        return r;
                }
        }
        r = tlsid_client_set_choice(client, argv[optind], argv[optind + 1], state, identity,
                                    flags);
        if (r < 0)
                r = fail("choose", r);
        else
                r = EXIT_OK;
        tlsid_client_unref(client);
        return r;
}

static int cmd_open(int argc, char *argv[]) {
        static const struct option options[] = {
                { "label", required_argument, NULL, 'l' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        TlsidClient *client = NULL;
        TlsidContext *context = NULL;
        const char *label = NULL;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'l':
                        label = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        command_help(stdout, "open");
                        return EXIT_OK;
                default:
                        return usage_error("open", "unknown option '%s'", argv[optind - 1]);
                }
        if (arg_json)
                return refuse_json("open");
        if (argc - optind != 1)
                return usage_error("open", "expected CONTEXT");
        if ((r = connect_client("open", &client)) != EXIT_OK)
                return r;
        r = tlsid_context_open(client, argv[optind], 0, label, &context);
        r = r < 0 ? fail("open", r) : EXIT_OK;
        tlsid_context_unref(context);
        tlsid_client_unref(client);
        return r;
}

static int cmd_close(int argc, char *argv[]) {
        TlsidClient *client = NULL;
        uint32_t dropped = 0;
        int r;

        if ((r = parse_listing_options(argc, argv)) != EXIT_OK)
                return r;
        if (argc - optind != 1)
                return usage_error("close", "expected CONTEXT");
        if ((r = connect_client("close", &client)) != EXIT_OK)
                return r;
        r = tlsid_client_close_context(client, argv[optind], &dropped);
        if (r < 0)
                r = fail("close", r);
        else {
                if (arg_json)
                        printf("{\"dropped\":%" PRIu32 "}\n", dropped);
                else
                        printf("%" PRIu32 " token(s) dropped\n", dropped);
                r = EXIT_OK;
        }
        tlsid_client_unref(client);
        return r;
}

static int cmd_certs(int argc, char *argv[]) {
        static const char *const headers[] = {
                "FINGERPRINT", "NICKNAME", "SUBJECT", "ISSUER", "NOT BEFORE", "NOT AFTER",
                "SOURCE",
        };
        static const bool numeric[] = { false, false, false, false, false, false, false };
        TlsidClient *client = NULL;
        TlsidCertificateInfo *infos = NULL;
        size_t n = 0;
        int r;

        if ((r = start_plain_command("certs", argc, argv, &client)) != EXIT_OK)
                return r;
        r = tlsid_client_list_certificates(client, &infos, &n);
        if (r < 0)
                return fail_unref("certs", r, client);

        if (arg_json) {
                fputc('[', stdout);
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? ",{\"identity\":" : "{\"identity\":", stdout);
                        json_string(stdout, infos[i].identity);
                        fputs(",\"nickname\":", stdout);
                        if (infos[i].nickname)
                                json_string(stdout, infos[i].nickname);
                        else
                                fputs("null", stdout);
                        fputs(",\"subject\":", stdout);
                        json_string(stdout, infos[i].subject);
                        fputs(",\"issuer\":", stdout);
                        json_string(stdout, infos[i].issuer);
                        fputs(",\"key_type\":", stdout);
                        json_string(stdout, infos[i].key_type);
                        printf(",\"not_before\":%" PRId64 ",\"not_after\":%" PRId64,
                               infos[i].not_before, infos[i].not_after);
                        fputs(",\"source\":", stdout);
                        json_string(stdout, infos[i].source ? infos[i].source : "database");
                        fputs(",\"offered_by\":", stdout);
                        if (infos[i].offered_by)
                                json_string(stdout, infos[i].offered_by);
                        else
                                fputs("null", stdout);
                        fputc('}', stdout);
                }
                fputs("]\n", stdout);
        } else {
                Table t = { .n_columns = 7, .headers = headers, .numeric = numeric };

                for (size_t i = 0; i < n && r >= 0; i++)
                        r = table_add_row(&t, (char *[7]) {
                                strdup(infos[i].identity),
                                strdup(infos[i].nickname ? infos[i].nickname : "-"),
                                strdup(infos[i].subject),
                                strdup(infos[i].issuer),
                                format_expiry(infos[i].not_before),
                                format_expiry(infos[i].not_after),
                                /* Where it lives: the daemon's database, or the
                                 * application that offered it. */
                                strdup(infos[i].offered_by ? infos[i].offered_by : "database"),
                        });
                r = table_finish(&t, "certs", r);
        }
        tlsid_certificate_infos_free(infos, n);
        tlsid_client_unref(client);
        return r;
}

static int cmd_policy(int argc, char *argv[]) {
        TlsidClient *client = NULL;
        char *json = NULL, *problem = NULL;
        int r;

        if ((r = start_plain_command("policy", argc, argv, &client)) != EXIT_OK)
                return r;
        r = tlsid_client_get_policy(client, &json, &problem);
        if (r < 0)
                return fail_unref("policy", r, client);

        if (arg_json) {
                /* The daemon's JSON is one value; wrap it with the error. */
                printf("{\"policy\":%s,\"error\":", json);
                if (problem)
                        json_string(stdout, problem);
                else
                        fputs("null", stdout);
                fputs("}\n", stdout);
        } else {
                fputs(json, stdout);
                if (!*json || json[strlen(json) - 1] != '\n')
                        fputc('\n', stdout);
                if (problem) {
                        /* Said on stderr, so stdout stays the policy alone. */
                        fflush(stdout);
                        fputs("tlsidctl: policy: ", stderr);
                        print_sanitised(stderr, problem);
                        fputs(" (the policy above stays in force)\n", stderr);
                }
        }
        free(json);
        free(problem);
        tlsid_client_unref(client);
        return EXIT_OK;
}

static volatile sig_atomic_t monitor_stop;

static void on_stop_signal(int sig) {
        monitor_stop = 1;
}

static const char *or_star(const char *s) {
        return *s ? s : "*";
}

static void on_identity_changed(const char *context, const char *origin, TlsidChoice state,
                                const char *identity, uint32_t generation, void *userdata) {
        const char *name = choice_state_to_string((int) state);

        if (arg_json) {
                /* One object per line; "" stays "" (no identity) rather than "-". */
                fputs("{\"signal\":\"IdentityChanged\",\"context\":", stdout);
                json_string(stdout, context);
                fputs(",\"origin\":", stdout);
                json_string(stdout, origin);
                fputs(",\"state\":", stdout);
                json_string(stdout, name ? name : "?");
                fputs(",\"identity\":", stdout);
                json_string(stdout, identity);
                printf(",\"generation\":%" PRIu32 "}\n", generation);
                fflush(stdout);
                return;
        }
        fputs("IdentityChanged context=", stdout);
        print_sanitised(stdout, context);
        fputs(" origin=", stdout);
        print_sanitised(stdout, origin);
        printf(" state=%s identity=", name ? name : "?");
        print_sanitised(stdout, *identity ? identity : "-");
        printf(" generation=%" PRIu32 "\n", generation);
        fflush(stdout);
}

static void on_sessions_flushed(const char *context, const char *origin, uint32_t dropped,
                                void *userdata) {
        if (arg_json) {
                /* "" is the wildcard, as the signal sends it. */
                fputs("{\"signal\":\"SessionsFlushed\",\"context\":", stdout);
                json_string(stdout, context);
                fputs(",\"origin\":", stdout);
                json_string(stdout, origin);
                printf(",\"dropped\":%" PRIu32 "}\n", dropped);
                fflush(stdout);
                return;
        }
        fputs("SessionsFlushed context=", stdout);
        print_sanitised(stdout, or_star(context));
        fputs(" origin=", stdout);
        print_sanitised(stdout, or_star(origin));
        printf(" dropped=%" PRIu32 "\n", dropped);
        fflush(stdout);
}

static void on_certificate_requested(const char *id, const char *context, const char *origin,
                                     const char *label, const char *reason,
                                     uint32_t eligible_total, void *userdata) {
        if (arg_json) {
                fputs("{\"signal\":\"CertificateRequested\",\"id\":", stdout);
                json_string(stdout, id);
                fputs(",\"context\":", stdout);
                json_string(stdout, context);
                fputs(",\"origin\":", stdout);
                json_string(stdout, origin);
                fputs(",\"label\":", stdout);
                json_string(stdout, label);
                fputs(",\"reason\":", stdout);
                json_string(stdout, reason);
                printf(",\"eligible_total\":%" PRIu32 "}\n", eligible_total);
                fflush(stdout);
                return;
        }
        fputs("CertificateRequested id=", stdout);
        print_sanitised(stdout, id);
        fputs(" context=", stdout);
        print_sanitised(stdout, context);
        fputs(" origin=", stdout);
        print_sanitised(stdout, origin);
        fputs(" label=", stdout);
        print_sanitised(stdout, *label ? label : "-");
        fputs(" reason=", stdout);
        print_sanitised(stdout, reason);
        printf(" eligible=%" PRIu32 "\n", eligible_total);
        fflush(stdout);
}

static void on_certificate_request_ended(const char *id, const char *outcome, void *userdata) {
        if (arg_json) {
                fputs("{\"signal\":\"CertificateRequestEnded\",\"id\":", stdout);
                json_string(stdout, id);
                fputs(",\"outcome\":", stdout);
                json_string(stdout, outcome);
                fputs("}\n", stdout);
                fflush(stdout);
                return;
        }
        fputs("CertificateRequestEnded id=", stdout);
        print_sanitised(stdout, id);
        fputs(" outcome=", stdout);
        print_sanitised(stdout, outcome);
        fputc('\n', stdout);
        fflush(stdout);
}

void catch_stop_signals(void (*handler)(int), sigset_t *ret_unblocked) {
        struct sigaction sa = { .sa_handler = handler };
        sigset_t block;

        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, ret_unblocked);
        sigdelset(ret_unblocked, SIGINT);
        sigdelset(ret_unblocked, SIGTERM);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

static int cmd_monitor(int argc, char *argv[]) {
        sigset_t unblocked;
        TlsidClient *client = NULL;
        struct pollfd pfd;
        int r;

        if ((r = parse_listing_options(argc, argv)) != EXIT_OK)
                return r;
        if (optind < argc)
                return usage_error("monitor", "unexpected argument '%s'", argv[optind]);

        catch_stop_signals(on_stop_signal, &unblocked);

        if ((r = connect_client("monitor", &client)) != EXIT_OK)
                return r;
        tlsid_client_on_identity_changed(client, on_identity_changed, NULL);
        tlsid_client_on_sessions_flushed(client, on_sessions_flushed, NULL);
        tlsid_client_on_certificate_requested(client, on_certificate_requested, NULL);
        tlsid_client_on_certificate_request_ended(client, on_certificate_request_ended, NULL);
        /* The match rules are in place once the client exists: say so, for scripts. */
        fputs("Monitoring org.tlsid.Manager1; stop with Ctrl-C.\n", stderr);

        pfd.fd = tlsid_client_get_fd(client);
        pfd.events = POLLIN;
        r = 0;
        while (!monitor_stop) {
                r = tlsid_client_dispatch(client);
                if (r < 0)
                        break;
                if (ppoll(&pfd, 1, NULL, &unblocked) < 0 && errno != EINTR) {
                        fprintf(stderr, "tlsidctl: monitor: poll: %s\n", strerror(errno));
                        tlsid_client_unref(client);
                        return EXIT_REFUSED;
                }
        }
        if (r < 0)
                r = fail("monitor", r);
        else
                r = EXIT_OK;
        tlsid_client_unref(client);
        return r;
}

static int cmd_requests(int argc, char *argv[]) {
        static const char *const headers[] = {
                "ID", "CONTEXT", "LABEL", "ORIGIN", "REASON", "WAITERS", "SINCE",
        };
        static const bool numeric[] = { false, false, false, false, false, true, false };
        Table t = { .n_columns = 7, .headers = headers, .numeric = numeric };
        TlsidRequestInfo *infos = NULL;
        TlsidClient *client = NULL;
        size_t n = 0;
        int r;

        if ((r = start_plain_command("requests", argc, argv, &client)) != EXIT_OK)
                return r;
        r = tlsid_client_list_requests(client, &infos, &n);
        if (r < 0)
                return fail_unref("requests", r, client);
        if (arg_json) {
                fputc('[', stdout);
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? ",{\"id\":" : "{\"id\":", stdout);
                        json_string(stdout, infos[i].id);
                        fputs(",\"context\":", stdout);
                        json_string(stdout, infos[i].context);
                        fputs(",\"label\":", stdout);
                        json_string(stdout, infos[i].label);
                        fputs(",\"origin\":", stdout);
                        json_string(stdout, infos[i].origin);
                        fputs(",\"reason\":", stdout);
                        json_string(stdout, infos[i].reason);
                        printf(",\"since\":%" PRId64 ",\"waiters\":%" PRIu32 ",\"agent\":",
                               infos[i].since, infos[i].waiters);
                        json_string(stdout, infos[i].agent);
                        fputc('}', stdout);
                }
                fputs("]\n", stdout);
                tlsid_request_infos_free(infos, n);
                tlsid_client_unref(client);
                return EXIT_OK;
        }
        for (size_t i = 0; i < n && r >= 0; i++)
                r = table_add_row(&t, (char *[7]) {
                                strdup(infos[i].id), strdup(infos[i].context),
                                strdup(*infos[i].label ? infos[i].label : "-"),
                                strdup(infos[i].origin), strdup(infos[i].reason),
                                strdup_printf("%" PRIu32, infos[i].waiters),
                                format_expiry(infos[i].since) });
        tlsid_request_infos_free(infos, n);
        tlsid_client_unref(client);
        return table_finish(&t, "requests", r);
}

static int cmd_help(int argc, char *argv[]) {
        if (argc > 2)
                return usage_error("help", "unexpected argument '%s'", argv[2]);
        if (argc == 2) {
                if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                        argv[1] = argv[0];
                if (!command_find(argv[1]))
                        return usage_error(argv[1], "unknown command; see 'tlsidctl help'");
                command_help(stdout, argv[1]);
        } else
                help(stdout);
        return EXIT_OK;
}

#define CONTEXT_ORIGIN_OPTIONS                                                          \
        "  --context C                 only the context C\n"                           \
        "  --origin O                  only the origin O (host:port)\n"

static const Command commands[] = {
        { "status", cmd_status, "", "the daemon's bus name and statistics", NULL,
          OUTPUT_JSON },
        { "contexts", cmd_contexts, "", "the open contexts", NULL, OUTPUT_JSON | OUTPUT_TABLE },
        { "sessions", cmd_sessions, "[CONTEXT]",
          "the partitions of CONTEXT, or of every context", NULL,
          OUTPUT_JSON | OUTPUT_TABLE },
        { "flush", cmd_flush_or_forget, "[--context C] [--origin O]",
          "drop stored sessions (default: all)", CONTEXT_ORIGIN_OPTIONS, OUTPUT_JSON },
        { "open", cmd_open, "CONTEXT [--label LABEL]",
          "open a context (it stays open until closed)",
          "  --label LABEL               a label for people (shown by 'contexts')\n",
          OUTPUT_NONE },
        { "close", cmd_close, "CONTEXT",
          "close a context: its sessions and unremembered\nchoices are dropped", NULL,
          OUTPUT_JSON },
        { "choose", cmd_choose, "CONTEXT ORIGIN (none|undecided|CERTIFICATE) [--remember]",
          "set the certificate choice; CERTIFICATE is the\n"
          "SHA-256 fingerprint in hex (colons allowed), or\n"
          "the nickname or an unambiguous fingerprint prefix\n"
          "(4 hex digits or more) of a certificate 'certs'\n"
          "lists",
          "  --remember                  keep the choice across daemon restarts\n",
          OUTPUT_NONE },
        { "forget", cmd_flush_or_forget, "[--context C] [--origin O]",
          "reset choices to undecided (default: all)", CONTEXT_ORIGIN_OPTIONS, OUTPUT_JSON },
        { "certs", cmd_certs, "",
          "the user's certificates in tlsidd's NSS database:\n"
          "fingerprint, nickname, subject, issuer, validity", NULL,
          OUTPUT_JSON | OUTPUT_TABLE },
        { "policy", cmd_policy, "",
          "the certificate selection policy in force (JSON),\n"
          "and why policy.json is not, when it is not", NULL, OUTPUT_JSON },
        { "monitor", cmd_monitor, "",
          "print each signal as it arrives, until SIGINT or\n"
          "SIGTERM; \"*\" stands for an empty (wildcard)\n"
          "context or origin, \"-\" for no identity", NULL, OUTPUT_JSON },
        { "requests", cmd_requests, "",
          "the certificate requests waiting for the user's\n"
          "answer (through an agent)", NULL, OUTPUT_JSON | OUTPUT_TABLE },
        { "agent", cmd_agent, "",
          "answer certificate requests at this terminal (or,\n"
          "with --json, as JSON lines on stdin and stdout)\n"
          "until end of input, SIGINT or SIGTERM", NULL, OUTPUT_JSON },
        { "help", cmd_help, "[COMMAND]", "show this help, or COMMAND's", NULL, OUTPUT_NONE },
};

static const Command *command_find(const char *name) {
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static void help(FILE *f) {
        fputs("Usage: tlsidctl [--bus-address ADDRESS] [--json] [--no-legend] COMMAND ...\n"
              "\n"
              "Inspect and control tlsidd, the keeper of per-context TLS session partitions\n"
              "and client-certificate choices (org.tlsid.Manager1 on the session bus).\n"
              "\n"
              "Commands:\n", f);
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
                const Command *c = &commands[i];

                fprintf(f, "  %s%s%s", c->name, *c->arguments ? " " : "", c->arguments);
                print_help_lines(f, 2 + strlen(c->name) + !!*c->arguments +
                                 strlen(c->arguments), c->summary);
        }
        fputs("\n"
              "Options:\n"
              "  --bus-address ADDRESS       use this bus instead of the session bus\n"
              "  --json                      JSON output: every command that prints something\n"
              "                              (open and choose print nothing and refuse it)\n"
              "  --no-legend                 no column headers in tables\n"
              "  -h, --help                  show this help ('tlsidctl COMMAND --help' shows\n"
              "                              a command's)\n"
              "  -V, --version               show the version\n"
              "\n"
              "Exit status:\n"
              "  0  success\n"
              "  1  the daemon refused the request (invalid argument, limit, access), or\n"
              "     choose named an unknown or ambiguous certificate\n"
              "  2  usage error\n"
              "  3  no such context\n"
              "  4  the daemon or the bus is unreachable, the daemon failed to start, or it\n"
              "     did not answer in time\n",
              f);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bus-address", required_argument, NULL, 'b' },
                { "json", no_argument, NULL, 'j' },
                { "no-legend", no_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const Command *command;
        int c;

        /* Display widths of labels and nicknames follow the user's character set. */
        setlocale(LC_CTYPE, "");
        opterr = 0;
        /* "+": stop at the command; each command parses its own options. */
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) >= 0)
                switch (c) {
                case 'b':
                        arg_bus_address = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'L':
                        arg_no_legend = true;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case 'V':
                        printf("tlsidctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        if (optopt == 'b')
                                fprintf(stderr, "tlsidctl: option '%s' needs a value\n",
                                        argv[optind - 1]);
                        else
                                fprintf(stderr, "tlsidctl: unknown option '%s'\n",
                                        argv[optind - 1]);
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                fputs("tlsidctl: no command given; see 'tlsidctl help'\n", stderr);
                return EXIT_USAGE;
        }
        command = command_find(argv[optind]);
        if (!command)
                return usage_error(argv[optind], "unknown command; see 'tlsidctl help'");
        return command->run(argc - optind, argv + optind);
}
