/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target of the challenge parser (common/http-auth.c): invariants, independence of
 * field values, and a re-serialisation round trip; abort() on any violation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http-auth.h"

#define MAX_VALUES 256

static bool is_tchar(unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!is_tchar((unsigned char) *s))
                        return false;
        return true;
}

static void check_list(const HttpAuthList *list, const size_t *lengths, size_t n) {
        REQUIRE(list->n_challenges <= HTTP_AUTH_CHALLENGES_MAX);
        REQUIRE(list->n_errors <= n);
        REQUIRE((list->n_challenges == 0) == (list->challenges == NULL));
        for (size_t i = 0; i < list->n_challenges; i++) {
                const HttpAuthChallenge *c = &list->challenges[i];
                bool duplicate = false;

                REQUIRE(c->scheme && is_token(c->scheme));
                REQUIRE(c->field_index < n);
                REQUIRE(i == 0 || c->field_index >= list->challenges[i - 1].field_index);
                REQUIRE(c->n_params <= HTTP_AUTH_PARAMS_MAX);
                REQUIRE((c->n_params == 0) == (c->params == NULL));
                REQUIRE(!c->token68 || (c->n_params == 0 && *c->token68));
                for (size_t j = 0; j < c->n_params; j++) {
                        REQUIRE(c->params[j].name && is_token(c->params[j].name));
                        REQUIRE(c->params[j].value);
                        REQUIRE(strlen(c->params[j].value) < lengths[c->field_index]);
                        /* Lookups find the first parameter of that name. */
                        REQUIRE(http_auth_param(c, c->params[j].name) != NULL);
                        for (size_t k = 0; k < j; k++)
                                if (strcasecmp(c->params[k].name, c->params[j].name) == 0)
                                        duplicate = true;
                }
                REQUIRE(c->valid == !duplicate);
                REQUIRE(http_auth_is_scheme(c, c->scheme));
        }
        for (size_t i = 0; i < list->n_errors; i++) {
                const HttpAuthError *e = &list->errors[i];

                REQUIRE(e->field_index < n);
                REQUIRE(i == 0 || e->field_index > list->errors[i - 1].field_index);
                REQUIRE(e->offset <= lengths[e->field_index]);
                REQUIRE(e->message && *e->message);
                for (size_t j = 0; j < list->n_challenges; j++)
                        REQUIRE(list->challenges[j].field_index != e->field_index);
        }
}

static bool challenges_equal(const HttpAuthChallenge *a, const HttpAuthChallenge *b) {
        if (strcmp(a->scheme, b->scheme) != 0 || a->valid != b->valid ||
            a->n_params != b->n_params || !a->token68 != !b->token68)
                return false;
        if (a->token68 && strcmp(a->token68, b->token68) != 0)
                return false;
        for (size_t i = 0; i < a->n_params; i++)
                if (strcmp(a->params[i].name, b->params[i].name) != 0 ||
                    strcmp(a->params[i].value, b->params[i].value) != 0)
                        return false;
        return true;
}

/* Each value parsed alone gives what it gave among the others, unless the challenge cap,
 * which counts over all values, was reached. */
static void check_independence(const HttpAuthList *list, const char *const *values,
                               const size_t *lengths, size_t n) {
        HttpAuthList alone[MAX_VALUES];
        size_t total = 0, c = 0, e = 0;

        for (size_t i = 0; i < n; i++) {
                REQUIRE(http_auth_parse(&values[i], &lengths[i], 1, &alone[i]) == 0);
                total += alone[i].n_challenges;
        }
        if (total <= HTTP_AUTH_CHALLENGES_MAX) {
                REQUIRE(list->n_challenges == total);
                for (size_t i = 0; i < n; i++) {
                        for (size_t j = 0; j < alone[i].n_challenges; j++, c++) {
                                REQUIRE(list->challenges[c].field_index == i);
                                REQUIRE(challenges_equal(&list->challenges[c],
                                                         &alone[i].challenges[j]));
                        }
                        if (alone[i].n_errors > 0) {
                                REQUIRE(e < list->n_errors);
                                REQUIRE(list->errors[e].field_index == i);
                                /* The challenge cap counts the earlier values too, so
                                 * among them a value may reach it sooner, or before its
                                 * own syntax error. */
                                if (!strstr(alone[i].errors[0].message, "challenges") &&
                                    !strstr(list->errors[e].message, "challenges"))
                                        REQUIRE(list->errors[e].offset ==
                                                alone[i].errors[0].offset);
                                e++;
                        }
                }
                REQUIRE(e == list->n_errors);
        }
        for (size_t i = 0; i < n; i++)
                http_auth_list_clear(&alone[i]);
}

static void append(char *buf, size_t size, size_t *len, const char *s) {
        size_t n = strlen(s);

        if (*len + n < size)
                memcpy(buf + *len, s, n);
        *len += n;
}

/* Written back as scheme SP token68, or scheme SP name="value", ...: parses to the same. */
static void check_round_trip(const HttpAuthChallenge *c) {
        static char buf[HTTP_AUTH_FIELD_VALUE_MAX + 1];
        const char *value = buf;
        size_t len = 0;
        HttpAuthList again;

        append(buf, sizeof buf, &len, c->scheme);
        if (c->token68) {
                append(buf, sizeof buf, &len, " ");
                append(buf, sizeof buf, &len, c->token68);
        }
        for (size_t i = 0; i < c->n_params; i++) {
                append(buf, sizeof buf, &len, i ? ", " : " ");
                append(buf, sizeof buf, &len, c->params[i].name);
                append(buf, sizeof buf, &len, "=\"");
                for (const char *p = c->params[i].value; *p; p++) {
                        char ch[3] = { '\\', *p, 0 };

                        append(buf, sizeof buf, &len, *p == '"' || *p == '\\' ? ch : ch + 1);
                }
                append(buf, sizeof buf, &len, "\"");
        }
        if (len > HTTP_AUTH_FIELD_VALUE_MAX)
                return;
        REQUIRE(http_auth_parse(&value, &len, 1, &again) == 0);
        REQUIRE(again.n_errors == 0 && again.n_challenges == 1);
        REQUIRE(challenges_equal(c, &again.challenges[0]));
        http_auth_list_clear(&again);
}

/* Field values are the input split at LF, except an LF followed by SP or HTAB, which stays
 * in its value so obsolete line folding is fuzzed too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *values[MAX_VALUES];
        size_t lengths[MAX_VALUES], n = 0, start = 0;
        HttpAuthList list;

        for (size_t i = 0; i <= size && n < MAX_VALUES; i++) {
                if (i < size && (data[i] != '\n' || (i + 1 < size && (data[i + 1] == ' ' ||
                                                                       data[i + 1] == '\t'))))
                        continue;
                values[n] = (const char *) data + start;
                lengths[n++] = i - start;
                start = i + 1;
        }

        REQUIRE(http_auth_parse(values, lengths, n, &list) == 0);
        check_list(&list, lengths, n);
        check_independence(&list, values, lengths, n);
        for (size_t i = 0; i < list.n_challenges; i++)
                check_round_trip(&list.challenges[i]);
        http_auth_list_clear(&list);
        REQUIRE(list.challenges == NULL && list.n_challenges == 0 && list.errors == NULL);
        return 0;
}
