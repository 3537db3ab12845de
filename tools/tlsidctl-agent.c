/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsidctl agent: the terminal agent of org.tlsid.Agent1. It asks the person at the
 * terminal which certificate to send, one request at a time; with --json it prints each
 * request as a JSON line and reads the answers as JSON lines, for scripts. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json-line.h"
#include "tlsidctl.h"

#define LINE_MAX_BYTES (64 * 1024)

/* A request the agent holds, in arrival order. Terminal mode asks about the first. */
typedef struct Prompt {
        char *id;
        char *origin;
        char *label;
        char *context;
        bool ephemeral;
        char **identities;      /* the certificates offered, as numbered */
        size_t n;
        char *text;             /* terminal mode: the request as shown */
        struct Prompt *next;
} Prompt;

typedef enum {
        ASK_CERTIFICATE,        /* waiting for a number, n or c */
        ASK_REMEMBER,           /* waiting for y or n */
} AskState;

typedef struct {
        TlsidClient *client;
        Prompt *prompts;
        AskState state;
        TlsidAgentAnswer answer;        /* ASK_REMEMBER: what was chosen */
        size_t chosen;                  /* ASK_REMEMBER: which certificate */
        unsigned line_number;
} Agent;

static volatile sig_atomic_t agent_stop;

static void on_stop(int sig) {
        agent_stop = 1;
}

static void prompt_free(Prompt *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                free(p->identities[i]);
        free(p->identities);
        free(p->id);
        free(p->origin);
        free(p->label);
        free(p->context);
        free(p->text);
        free(p);
}

static Prompt *prompt_find(Agent *a, const char *id) {
        for (Prompt *p = a->prompts; p; p = p->next)
                if (strcmp(p->id, id) == 0)
                        return p;
        return NULL;
}

static void prompt_remove(Agent *a, Prompt *gone) {
        for (Prompt **pp = &a->prompts; *pp; pp = &(*pp)->next)
                if (*pp == gone) {
                        *pp = gone->next;
                        prompt_free(gone);
                        return;
                }
}

/* ---- Terminal mode ---- */

static void print_date(FILE *f, int64_t t) {
        char *s = format_expiry(t);

        /* The day is what a person compares. */
        fprintf(f, "%.10s", s ? s : "-");
        free(s);
}

static void print_question(const Agent *a) {
        const Prompt *p = a->prompts;

        if (!p)
                return;
        if (a->state == ASK_REMEMBER)
                fputs("Remember this decision (across restarts of tlsidd)? [y/N] ", stdout);
        else if (p->n > 0)
                printf("Send which certificate? [1-%zu, n = send none, c = cancel] ", p->n);
        else
                fputs("Send no certificate? [n = send none, c = cancel] ", stdout);
        fflush(stdout);
}

/* The request as a person reads it. */
static void print_request(FILE *f, const TlsidAgentRequest *q) {
        fputs("\nCertificate request ", f);
        print_sanitised(f, q->id);
        fputs(": ", f);
        print_sanitised(f, q->origin);
        fputs(" asks for a client certificate\n  Tab: ", f);
        if (*q->label) {
                print_sanitised(f, q->label);
                fputs(" (context ", f);
        } else
                fputs("(no label; context ", f);
        print_sanitised(f, q->context);
        fprintf(f, ")%s\n", q->ephemeral ? ", private" : "");
        if (strcmp(q->reason, "challenge") == 0) {
                fputs("  Why: an HTTP transport challenge", f);
                if (*q->realm) {
                        fputs(" (realm ", f);
                        print_sanitised(f, q->realm);
                        fputc(')', f);
                }
                fputc('\n', f);
        } else
                fputs("  Why: the TLS handshake's certificate request\n", f);
        for (size_t i = 0; i < q->n_certificates; i++) {
                const TlsidCertificateInfo *c = &q->certificates[i];

                fprintf(f, "  %zu) ", i + 1);
                print_sanitised(f, c->nickname && *c->nickname ? c->nickname
                                                                    : c->identity);
                fputs("\n     subject: ", f);
                print_sanitised(f, c->subject);
                fputs("\n     issuer:  ", f);
                print_sanitised(f, c->issuer);
                fputs("\n     valid:   ", f);
                print_date(f, c->not_before);
                fputs(" to ", f);
                print_date(f, c->not_after);
                if (c->source && strcmp(c->source, "application") == 0) {
                        fputs("\n     offered by ", f);
                        print_sanitised(f, c->offered_by ? c->offered_by : "?");
                }
                fputc('\n', f);
        }
        if (q->eligible_total > q->n_certificates)
                fprintf(f, "  (and %" PRIu32 " more eligible: tlsidctl choose CONTEXT ORIGIN "
                       "FINGERPRINT picks any of them)\n",
                       q->eligible_total - (uint32_t) q->n_certificates);
}

/* Shows the first request and its question. */
static void show_first(Agent *a) {
        a->state = ASK_CERTIFICATE;
        if (!a->prompts)
                return;
        fputs(a->prompts->text, stdout);
        print_question(a);
}

/* Sends the answer to the first prompt and moves on to the next. */
static void answer_first(Agent *a, TlsidAgentAnswer answer, size_t chosen, bool remember) {
        Prompt *p = a->prompts;
        const char *identity = answer == TLSID_AGENT_CERTIFICATE ? p->identities[chosen] : NULL;
        int r;

        r = tlsid_client_answer_request(a->client, p->id, answer, identity,
                                        remember ? TLSID_CHOICE_REMEMBER : 0);
        if (r < 0)
                (void) fail("agent", r);
        else if (answer == TLSID_AGENT_CERTIFICATE) {
                printf("Sending certificate %zu to ", chosen + 1);
                print_sanitised(stdout, p->origin);
                printf("%s.\n", remember ? " (remembered)" : "");
        } else if (answer == TLSID_AGENT_NONE) {
                fputs("Sending no certificate to ", stdout);
                print_sanitised(stdout, p->origin);
                printf("%s.\n", remember ? " (remembered)" : "");
        } else
                fputs("Cancelled: nothing changes.\n", stdout);
        prompt_remove(a, p);
        show_first(a);
        fflush(stdout);
}

/* The certificate number @line names, from 1 to @n, or 0. */
static size_t certificate_number(const char *line, size_t n) {
        unsigned long k;
        char *end;

        if (*line < '1' || *line > '9')
                return 0;
        errno = 0;
        k = strtoul(line, &end, 10);
        return errno || *end || k > n ? 0 : (size_t) k;
}

static void terminal_line(Agent *a, char *line) {
        Prompt *p = a->prompts;
        size_t number = 0;

        /* The answer without the blanks around it. */
        while (*line == ' ' || *line == '\t')
                line++;
        for (size_t len = strlen(line);
             len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r');
             len--)
                line[len - 1] = '\0';
        if (!p)
                return; /* nothing asked: typed ahead, or after a withdrawal */
        if (a->state == ASK_REMEMBER) {
                bool yes = strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;

                if (!yes && *line && strcasecmp(line, "n") != 0 && strcasecmp(line, "no") != 0) {
                        fputs("Please answer y or n.\n", stdout);
                        print_question(a);
                        return;
                }
                answer_first(a, a->answer, a->chosen, yes);
                return;
        }
        if (strcasecmp(line, "c") == 0) {
                answer_first(a, TLSID_AGENT_CANCEL, 0, false);
        } else if (strcasecmp(line, "n") == 0 || (number = certificate_number(line, p->n))) {
                a->answer = number ? TLSID_AGENT_CERTIFICATE : TLSID_AGENT_NONE;
                a->chosen = number ? number - 1 : 0;
                if (p->ephemeral) {
                        fputs("(A private context: the decision lasts while it is open.)\n",
                              stdout);
                        answer_first(a, a->answer, a->chosen, false);
                } else {
                        a->state = ASK_REMEMBER;
                        print_question(a);
                }
        } else {
                fputs("Not an answer: ", stdout);
                print_sanitised(stdout, line);
                if (p->n > 0)
                        printf(" (type a number from 1 to %zu, n or c)\n", p->n);
                else
                        fputs(" (type n or c)\n", stdout);
                print_question(a);
        }
}

/* ---- JSON mode ---- */

static void json_field(const char *key, const char *value, bool first) {
        if (!first)
                fputc(',', stdout);
        json_string(stdout, key);
        fputc(':', stdout);
        json_string(stdout, value ? value : "");
}

static void json_request(const TlsidAgentRequest *q) {
        fputs("{\"type\":\"request\",", stdout);
        json_field("id", q->id, true);
        json_field("context", q->context, false);
        json_field("label", q->label, false);
        printf(",\"ephemeral\":%s", q->ephemeral ? "true" : "false");
        json_field("origin", q->origin, false);
        json_field("reason", q->reason, false);
        json_field("realm", q->realm, false);
        fputs(",\"ca_names\":[", stdout);
        for (size_t i = 0; i < q->n_ca_names; i++) {
                if (i)
                        fputc(',', stdout);
                json_string(stdout, q->ca_names[i]);
        }
        fputs("],\"certificates\":[", stdout);
        for (size_t i = 0; i < q->n_certificates; i++) {
                const TlsidCertificateInfo *c = &q->certificates[i];

                fputs(i ? ",{" : "{", stdout);
                json_field("identity", c->identity, true);
                json_field("nickname", c->nickname, false);
                json_field("subject", c->subject, false);
                json_field("issuer", c->issuer, false);
                printf(",\"not_before\":%" PRId64 ",\"not_after\":%" PRId64, c->not_before,
                       c->not_after);
                json_field("key_type", c->key_type, false);
                json_field("source", c->source, false);
                json_field("offered_by", c->offered_by, false);
                fputc('}', stdout);
        }
        printf("],\"eligible_total\":%" PRIu32 ",\"timeout_ms\":%" PRIu32 "}\n",
               q->eligible_total, q->timeout_ms);
        fflush(stdout);
}

/* One error line: what was wrong with input line @a->line_number, naming @field
 * (nullable: the line as a whole). */
static void json_error(const Agent *a, const char *field, const char *message) {
        printf("{\"type\":\"error\",\"line\":%u,\"field\":", a->line_number);
        if (field)
                json_string(stdout, field);
        else
                fputs("null", stdout);
        fputs(",\"message\":", stdout);
        json_string(stdout, message);
        fputs("}\n", stdout);
        fflush(stdout);
        fprintf(stderr, "tlsidctl: agent: line %u: %s%s%s\n", a->line_number,
                field ? field : "", field ? ": " : "", message);
}

static const char *const json_keys[] = { "id", "answer", "identity", "remember" };

static void json_line(Agent *a, const char *text) {
        const JsonMember *id, *answer, *identity, *remember;
        TlsidAgentAnswer value;
        JsonLine line;
        const char *why;
        char message[512];
        int r;

        if (!*text)
                return;
        why = json_line_parse(text, &line);
        if (why) {
                json_error(a, NULL, why);
                goto out;
        }
        for (size_t i = 0; i < line.n; i++) {
                bool known = false;

                for (size_t k = 0; k < sizeof json_keys / sizeof json_keys[0]; k++)
                        known = known || strcmp(line.members[i].key, json_keys[k]) == 0;
                if (!known) {
                        json_error(a, line.members[i].key, "unknown member (known: id, answer, "
                                   "identity, remember)");
                        goto out;
                }
        }
        id = json_line_get(&line, "id");
        answer = json_line_get(&line, "answer");
        identity = json_line_get(&line, "identity");
        remember = json_line_get(&line, "remember");
        if (!id || id->type != JSON_STRING) {
                json_error(a, "id", id ? "must be a string" : "missing");
                goto out;
        }
        if (!prompt_find(a, id->string)) {
                snprintf(message, sizeof message, "no request '%.200s' is pending (answered, "
                         "withdrawn, or never asked)", id->string);
                json_error(a, "id", message);
                goto out;
        }
        if (!answer || answer->type != JSON_STRING) {
                json_error(a, "answer", answer ? "must be a string" : "missing");
                goto out;
        }
        if (strcmp(answer->string, "certificate") == 0)
                value = TLSID_AGENT_CERTIFICATE;
        else if (strcmp(answer->string, "none") == 0)
                value = TLSID_AGENT_NONE;
        else if (strcmp(answer->string, "cancel") == 0)
                value = TLSID_AGENT_CANCEL;
        else {
                json_error(a, "answer", "must be \"certificate\", \"none\" or \"cancel\"");
                goto out;
        }
        if (identity && identity->type != JSON_STRING && identity->type != JSON_NULL) {
                json_error(a, "identity", "must be a string");
                goto out;
        }
        if (value == TLSID_AGENT_CERTIFICATE && (!identity || identity->type != JSON_STRING)) {
                json_error(a, "identity", "missing: a certificate answer names one");
                goto out;
        }
        if (remember && remember->type != JSON_BOOLEAN) {
                json_error(a, "remember", "must be true or false");
                goto out;
        }
        r = tlsid_client_answer_request(a->client, id->string, value,
                                        identity && identity->type == JSON_STRING
                                                ? identity->string : NULL,
                                        remember && remember->boolean ? TLSID_CHOICE_REMEMBER
                                                                      : 0);
        if (r == -EINVAL) {
                /* The library names the field in its message. */
                json_error(a, strstr(tlsid_error_message(), "identity") ? "identity" : NULL,
                           tlsid_error_message());
                goto out;
        }
        if (r < 0) {
                json_error(a, "id", *tlsid_error_message() ? tlsid_error_message()
                                                           : strerror(-r));
                goto out;
        }
        fputs("{\"type\":\"answered\",", stdout);
        json_field("id", id->string, true);
        json_field("answer", answer->string, false);
        fputs("}\n", stdout);
        fflush(stdout);
        prompt_remove(a, prompt_find(a, id->string));
out:
        json_line_clear(&line);
}

/* ---- The agent's callbacks ---- */

static void on_request(TlsidClient *client, const TlsidAgentRequest *q, void *userdata) {
        Agent *a = userdata;
        Prompt *p = calloc(1, sizeof *p), **tail;
        bool first = !a->prompts;

        if (!p || !(p->id = strdup(q->id)) || !(p->origin = strdup(q->origin)) ||
            !(p->label = strdup(q->label)) || !(p->context = strdup(q->context)) ||
            (q->n_certificates &&
             !(p->identities = calloc(q->n_certificates, sizeof *p->identities)))) {
                prompt_free(p);
                (void) tlsid_client_answer_request(client, q->id, TLSID_AGENT_CANCEL, NULL, 0);
                return;
        }
        p->ephemeral = q->ephemeral;
        for (; p->n < q->n_certificates; p->n++)
                if (!(p->identities[p->n] = strdup(q->certificates[p->n].identity))) {
                        prompt_free(p);
                        (void) tlsid_client_answer_request(client, q->id, TLSID_AGENT_CANCEL,
                                                           NULL, 0);
                        return;
                }
        for (tail = &a->prompts; *tail; tail = &(*tail)->next)
                ;
        *tail = p;
        if (arg_json) {
                json_request(q);
                return;
        }
        {
                size_t size = 0;
                FILE *f = open_memstream(&p->text, &size);

                if (f) {
                        print_request(f, q);
                        fclose(f);
                }
                if (!p->text) {
                        prompt_remove(a, p);
                        (void) tlsid_client_answer_request(client, q->id, TLSID_AGENT_CANCEL,
                                                           NULL, 0);
                        return;
                }
        }
        if (!first) {
                fputs("\n(Another request, from ", stdout);
                print_sanitised(stdout, q->origin);
                fputs(", waits for this one.)\n", stdout);
                print_question(a);
                return;
        }
        show_first(a);
}

static void on_cancel(TlsidClient *client, const char *id, void *userdata) {
        Agent *a = userdata;
        Prompt *p = prompt_find(a, id);
        bool was_first = p && p == a->prompts;

        if (!p)
                return;
        if (arg_json) {
                fputs("{\"type\":\"cancel\",", stdout);
                json_field("id", id, true);
                fputs("}\n", stdout);
                fflush(stdout);
                prompt_remove(a, p);
                return;
        }
        fputs("\nRequest ", stdout);
        print_sanitised(stdout, id);
        fputs(" from ", stdout);
        print_sanitised(stdout, p->origin);
        fputs(" was withdrawn by tlsidd (it timed out, its callers left, or the choice was "
              "set elsewhere): prompt closed.\n", stdout);
        prompt_remove(a, p);
        if (was_first)
                show_first(a);
        else if (a->prompts)
                print_question(a);
        fflush(stdout);
}

/* ---- The command ---- */

/* Splits what arrived on stdin into lines; returns false at end of input. */
static bool read_input(Agent *a, char *buf, size_t *len) {
        ssize_t n = read(STDIN_FILENO, buf + *len, LINE_MAX_BYTES - *len);
        char *nl;

        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n == 0) {
                if (*len > 0) {
                        buf[*len] = '\0';
                        a->line_number++;
                        arg_json ? json_line(a, buf) : terminal_line(a, buf);
                        *len = 0;
                }
                return false;
        }
        *len += (size_t) n;
        while ((nl = memchr(buf, '\n', *len))) {
                size_t used = (size_t) (nl - buf) + 1;

                *nl = '\0';
                a->line_number++;
                arg_json ? json_line(a, buf) : terminal_line(a, buf);
                memmove(buf, buf + used, *len - used);
                *len -= used;
        }
        if (*len == LINE_MAX_BYTES) {
                a->line_number++;
                if (arg_json)
                        json_error(a, NULL, "the line is longer than 64 KiB");
                else
                        fputs("That line is too long: dropped.\n", stdout);
                *len = 0;
        }
        return true;
}

int cmd_agent(int argc, char *argv[]) {
        sigset_t unblocked;
        Agent a = { 0 };
        struct pollfd pfd[2];
        char *buf;
        size_t len = 0;
        bool input = true;
        int r;

        if ((r = parse_listing_options(argc, argv)) != EXIT_OK)
                return r;
        if (optind < argc)
                return usage_error("agent", "unexpected argument '%s'", argv[optind]);
        if (!(buf = malloc(LINE_MAX_BYTES + 1)))
                return fail("agent", -ENOMEM);

        catch_stop_signals(on_stop, &unblocked);

        if ((r = connect_client("agent", &a.client)) != EXIT_OK) {
                free(buf);
                return r;
        }
        r = tlsid_client_register_agent(a.client, on_request, on_cancel, &a);
        if (r < 0) {
                free(buf);
                return fail_unref("agent", r, a.client);
        }
        /* Registered: requests reach us from now on; say so, for scripts. */
        fputs("tlsidctl agent: registered; waiting for certificate requests (stop with "
              "Ctrl-C).\n", stderr);

        pfd[0] = (struct pollfd) { .fd = tlsid_client_get_fd(a.client), .events = POLLIN };
        pfd[1] = (struct pollfd) { .fd = STDIN_FILENO, .events = POLLIN };
        r = 0;
        while (!agent_stop && input) {
                r = tlsid_client_dispatch(a.client);
                if (r < 0)
                        break;
                if (ppoll(pfd, 2, NULL, &unblocked) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
                        input = read_input(&a, buf, &len);
        }
        /* End of input or a signal: unanswered requests are answered cancel. */
        if (r >= 0)
                r = tlsid_client_unregister_agent(a.client);
        r = r < 0 ? fail("agent", r) : EXIT_OK;
        while (a.prompts)
                prompt_remove(&a, a.prompts);
        tlsid_client_unref(a.client);
        free(buf);
        return r;
}
