/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A strict parser of WWW-Authenticate and Proxy-Authenticate field values (RFC 9110 11). */
#include "http-auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Internal: a syntax error was recorded in the Parser. */
#define SYNTAX_ERROR (-EBADMSG)

typedef enum {
        MODE_NONE,    /* no challenge yet in this field value */
        MODE_BARE,    /* the scheme was not followed by SP: no parameter belongs to it */
        MODE_PARAMS,  /* scheme 1*SP: auth-params may follow, after commas too */
        MODE_TOKEN68, /* scheme 1*SP token68: the challenge is complete */
} ChallengeMode;

typedef struct {
        HttpAuthList *list;
        size_t challenges_allocated;
        size_t errors_allocated;
} Builder;

typedef struct {
        Builder *builder;
        const unsigned char *s; /* the field value, unfolded when it held obs-fold */
        size_t len;
        ChallengeMode mode;
        size_t error_pos; /* in s */
        const char *error_message;
} Parser;

static bool is_alnum(unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 9110 5.6.2 */
static bool is_tchar(unsigned char c) {
        return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 9110 11.2: token68 characters before the '=' padding. */
static bool is_token68_char(unsigned char c) {
        return is_alnum(c) || (c != 0 && strchr("-._~+/", c) != NULL);
}

static bool is_ows(unsigned char c) {
        return c == ' ' || c == '\t';
}

/* qdtext (RFC 9110 5.6.4): HTAB, SP, VCHAR except '"' and '\', obs-text. */
static bool is_qdtext(unsigned char c) {
        return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* What may follow '\' in a quoted-pair: HTAB, SP, VCHAR, obs-text. */
static bool is_quotable(unsigned char c) {
        return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

static unsigned char ascii_lower(unsigned char c) {
        return c >= 'A' && c <= 'Z' ? (unsigned char) (c - 'A' + 'a') : c;
}

/* Locale-independent: schemes and parameter names are ASCII tokens. */
static bool ascii_equal_nocase(const char *a, const char *b) {
        for (; *a && *b; a++, b++)
                if (ascii_lower((unsigned char) *a) != ascii_lower((unsigned char) *b))
                        return false;
        return *a == *b;
}

static char *copy_range(const unsigned char *s, size_t start, size_t end) {
        char *r = malloc(end - start + 1);

        if (!r)
                return NULL;
        memcpy(r, s + start, end - start);
        r[end - start] = 0;
        return r;
}

/* @array with room for one more element (growing by doubling from 4), or NULL when out of
 * memory (then @array is untouched). */
static void *grow(void *array, size_t *allocated, size_t used, size_t element_size) {
        size_t n;
        void *p;

        if (used < *allocated)
                return array;
        n = *allocated ? *allocated * 2 : 4;
        p = realloc(array, n * element_size);
        if (p)
                *allocated = n;
        return p;
}

static int syntax_error(Parser *p, size_t pos, const char *message) {
        p->error_pos = pos;
        p->error_message = message;
        return SYNTAX_ERROR;
}

static size_t skip_ows(const Parser *p, size_t i) {
        while (i < p->len && is_ows(p->s[i]))
                i++;
        return i;
}

static size_t token_end(const Parser *p, size_t i) {
        while (i < p->len && is_tchar(p->s[i]))
                i++;
        return i;
}

static size_t token68_end(const Parser *p, size_t i) {
        while (i < p->len && is_token68_char(p->s[i]))
                i++;
        return i;
}

static bool at_element_end(const Parser *p, size_t i) {
        i = skip_ows(p, i);
        return i == p->len || p->s[i] == ',';
}

static HttpAuthChallenge *current_challenge(Parser *p) {
        HttpAuthList *list = p->builder->list;

        return &list->challenges[list->n_challenges - 1];
}

static void challenge_clear(HttpAuthChallenge *c) {
        free(c->scheme);
        free(c->token68);
        for (size_t i = 0; i < c->n_params; i++) {
                free(c->params[i].name);
                free(c->params[i].value);
        }
        free(c->params);
        memset(c, 0, sizeof *c);
}

static int challenge_add(Parser *p, size_t field_index, size_t start, size_t end) {
        Builder *b = p->builder;
        HttpAuthList *list = b->list;
        HttpAuthChallenge *c;

        if (list->n_challenges >= HTTP_AUTH_CHALLENGES_MAX)
                return syntax_error(p, start,
                                    "more than " STRINGIFY(HTTP_AUTH_CHALLENGES_MAX) " challenges");
        c = grow(list->challenges, &b->challenges_allocated, list->n_challenges, sizeof *c);
        if (!c)
                return -ENOMEM;
        list->challenges = c;
        c = &list->challenges[list->n_challenges];
        memset(c, 0, sizeof *c);
        c->scheme = copy_range(p->s, start, end);
        if (!c->scheme)
                return -ENOMEM;
        c->valid = true;
        c->field_index = field_index;
        list->n_challenges++;
        return 0;
}

/* Takes @value (also on failure). */
static int param_add(Parser *p, size_t name_start, size_t name_end, char *value) {
        HttpAuthChallenge *c = current_challenge(p);
        HttpAuthParam *params;
        char *name;

        if (c->n_params >= HTTP_AUTH_PARAMS_MAX) {
                free(value);
                return syntax_error(p, name_start,
                                    "more than " STRINGIFY(HTTP_AUTH_PARAMS_MAX)
                                    " auth-params in one challenge");
        }
        name = copy_range(p->s, name_start, name_end);
        if (!name) {
                free(value);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c->n_params; i++)
                if (ascii_equal_nocase(c->params[i].name, name))
                        c->valid = false;
        /* Capacities 4, 8, 16, ...: grow when the count reaches one of them. */
        if (c->n_params == 0 || (c->n_params >= 4 && (c->n_params & (c->n_params - 1)) == 0)) {
                params = realloc(c->params, (c->n_params ? c->n_params * 2 : 4) * sizeof *params);
                if (!params) {
                        free(name);
                        free(value);
                        return -ENOMEM;
                }
                c->params = params;
        }
        c->params[c->n_params++] = (HttpAuthParam) { .name = name, .value = value };
        return 0;
}

/* @i is at the opening DQUOTE. Validates first, then copies without the quoted-pair
 * backslashes, so the allocation is exact. */
static int parse_quoted_string(Parser *p, size_t i, size_t *ret_end, char **ret_value) {
        size_t j, n = 0;
        char *value, *o;

        for (j = i + 1;; j++) {
                if (j == p->len)
                        return syntax_error(p, j, "unterminated quoted-string");
                if (p->s[j] == '"')
                        break;
                if (p->s[j] == '\\') {
                        j++;
                        if (j == p->len)
                                return syntax_error(p, j, "unterminated quoted-string");
                        if (!is_quotable(p->s[j]))
                                return syntax_error(p, j, "invalid quoted-pair");
                } else if (!is_qdtext(p->s[j]))
                        return syntax_error(p, j, "character not allowed in a quoted-string");
                n++;
        }
        value = malloc(n + 1);
        if (!value)
                return -ENOMEM;
        o = value;
        for (size_t k = i + 1; k < j; k++) {
                if (p->s[k] == '\\')
                        k++;
                *o++ = (char) p->s[k];
        }
        *o = 0;
        *ret_end = j + 1;
        *ret_value = value;
        return 0;
}

/* The name is [name_start, name_end); @i is just past the '='. */
static int parse_param_value(Parser *p, size_t name_start, size_t name_end, size_t i,
                             size_t *ret_end) {
        char *value;
        size_t end;
        int r;

        i = skip_ows(p, i);
        if (i < p->len && p->s[i] == '"') {
                r = parse_quoted_string(p, i, &end, &value);
                if (r < 0)
                        return r;
        } else if (i < p->len && is_tchar(p->s[i])) {
                end = token_end(p, i);
                value = copy_range(p->s, i, end);
                if (!value)
                        return -ENOMEM;
        } else
                return syntax_error(p, i, "expected a token or quoted-string after '='");
        r = param_add(p, name_start, name_end, value);
        if (r < 0)
                return r;
        *ret_end = end;
        return 0;
}

/* After "scheme 1*SP": a token68, the first auth-param, or nothing (an empty first list
 * element, e.g. "Basic , realm=x"). A token68 ending in '=' is told from an auth-param by
 * what follows the '=' run: only the end of the challenge may follow a token68. */
static int parse_after_scheme(Parser *p, size_t i, size_t *ret_end) {
        size_t t68_end, eq_end, tok_end, q;
        HttpAuthChallenge *c;

        while (i < p->len && p->s[i] == ' ')
                i++;
        p->mode = MODE_PARAMS;
        /* HTAB is not SP: after it only OWS "," or the end may follow (checked by the caller). */
        if (i == p->len || p->s[i] == ',' || p->s[i] == '\t') {
                *ret_end = i;
                return 0;
        }

        c = current_challenge(p);
        t68_end = token68_end(p, i);
        eq_end = t68_end;
        while (eq_end < p->len && p->s[eq_end] == '=')
                eq_end++;
        if (t68_end > i && eq_end > t68_end && at_element_end(p, eq_end)) {
                p->mode = MODE_TOKEN68;
                c->token68 = copy_range(p->s, i, eq_end);
                *ret_end = eq_end;
                return c->token68 ? 0 : -ENOMEM;
        }

        /* "abc==x" is no auth-param: a value never starts with '='. */
        tok_end = token_end(p, i);
        q = skip_ows(p, tok_end);
        if (tok_end > i && q < p->len && p->s[q] == '=' && eq_end - t68_end <= 1)
                return parse_param_value(p, i, tok_end, q + 1, ret_end);

        if (t68_end > i && eq_end == t68_end) {
                p->mode = MODE_TOKEN68;
                c->token68 = copy_range(p->s, i, t68_end);
                *ret_end = t68_end;
                return c->token68 ? 0 : -ENOMEM;
        }
        if (t68_end > i)
                return syntax_error(p, eq_end, "a token68 must end its challenge");
        return syntax_error(p, i, "expected a token68 or auth-param after the auth-scheme");
}

/* One non-empty list element at @i: a new challenge, or an auth-param of the current one.
 * A token followed by BWS "=" is an auth-param; any other token starts a challenge. */
static int parse_element(Parser *p, size_t field_index, size_t i, size_t *ret_end) {
        size_t tok_end, q;
        int r;

        if (!is_tchar(p->s[i]))
                return syntax_error(p, i, p->mode == MODE_NONE
                                                  ? "expected an auth-scheme"
                                                  : "expected an auth-scheme or auth-param");
        tok_end = token_end(p, i);
        q = skip_ows(p, tok_end);
        if (q < p->len && p->s[q] == '=') {
                if (p->mode == MODE_TOKEN68)
                        return syntax_error(p, i, "auth-param after a token68");
                if (p->mode != MODE_PARAMS)
                        return syntax_error(p, i, "auth-param without an auth-scheme and a space "
                                                  "before it");
                return parse_param_value(p, i, tok_end, q + 1, ret_end);
        }

        r = challenge_add(p, field_index, i, tok_end);
        if (r < 0)
                return r;
        if (tok_end < p->len && p->s[tok_end] == ' ')
                return parse_after_scheme(p, tok_end, ret_end);
        p->mode = MODE_BARE;
        *ret_end = tok_end;
        return 0;
}

/* #challenge with the recipient's list rule (RFC 9110 5.6.1.2): empty elements and OWS. */
static int parse_challenges(Parser *p, size_t field_index) {
        size_t i = 0;
        int r;

        for (;;) {
                i = skip_ows(p, i);
                if (i == p->len)
                        return 0;
                if (p->s[i] == ',') {
                        i++;
                        continue;
                }
                r = parse_element(p, field_index, i, &i);
                if (r < 0)
                        return r;
                i = skip_ows(p, i);
                if (i < p->len && p->s[i] != ',')
                        return syntax_error(p, i, "expected ',' or the end of the field value");
        }
}

/* RFC 9112 5.2: each obs-fold (OWS, CRLF or LF, 1*(SP / HTAB)) becomes one SP. @map gets,
 * for each byte of the result and its end, the offset in @in it came from. */
static int unfold(const unsigned char *in, size_t n, unsigned char *out, size_t *map,
                  size_t *ret_len, size_t *ret_error_pos) {
        size_t o = 0;

        for (size_t i = 0; i < n;) {
                size_t j = i;

                if (in[i] != '\r' && in[i] != '\n') {
                        map[o] = i;
                        out[o++] = in[i++];
                        continue;
                }
                if (in[j] == '\r' && (++j == n || in[j] != '\n')) {
                        *ret_error_pos = i;
                        return SYNTAX_ERROR;
                }
                j++;
                if (j == n || !is_ows(in[j])) {
                        *ret_error_pos = i;
                        return SYNTAX_ERROR;
                }
                while (j < n && is_ows(in[j]))
                        j++;
                while (o > 0 && is_ows(out[o - 1]))
                        o--;
                map[o] = i;
                out[o++] = ' ';
                i = j;
        }
        map[o] = n;
        *ret_len = o;
        return 0;
}

static int error_add(Builder *b, size_t field_index, size_t offset, const char *message) {
        HttpAuthList *list = b->list;
        HttpAuthError *errors;

        errors = grow(list->errors, &b->errors_allocated, list->n_errors, sizeof *errors);
        if (!errors)
                return -ENOMEM;
        list->errors = errors;
        list->errors[list->n_errors++] = (HttpAuthError) {
                .field_index = field_index,
                .offset = offset,
                .message = message,
        };
        return 0;
}

static int parse_field_value(Builder *b, size_t field_index, const char *value, size_t len) {
        const unsigned char *s = (const unsigned char *) value;
        size_t first = b->list->n_challenges;
        unsigned char *unfolded = NULL;
        size_t *map = NULL, pos;
        Parser p = { .builder = b, .s = s, .len = len, .mode = MODE_NONE };
        const char *message;
        int r;

        if (len > HTTP_AUTH_FIELD_VALUE_MAX)
                return error_add(b, field_index, HTTP_AUTH_FIELD_VALUE_MAX,
                                 "field value longer than " STRINGIFY(HTTP_AUTH_FIELD_VALUE_MAX)
                                 " bytes");
        if (len > 0 && (memchr(s, '\r', len) || memchr(s, '\n', len))) {
                unfolded = malloc(len);
                map = malloc((len + 1) * sizeof *map);
                if (!unfolded || !map) {
                        r = -ENOMEM;
                        goto out;
                }
                r = unfold(s, len, unfolded, map, &p.len, &pos);
                if (r == SYNTAX_ERROR) {
                        r = error_add(b, field_index, pos,
                                      "CR or LF outside an obsolete line folding");
                        goto out;
                }
                p.s = unfolded;
        }

        r = parse_challenges(&p, field_index);
        if (r == SYNTAX_ERROR) {
                /* A value that does not parse contributes nothing but its error. */
                while (b->list->n_challenges > first)
                        challenge_clear(&b->list->challenges[--b->list->n_challenges]);
                message = p.error_message;
                if (p.error_pos < p.len && p.s[p.error_pos] == 0)
                        message = "NUL byte";
                else if (p.error_pos < p.len && p.s[p.error_pos] != '\t' &&
                         (p.s[p.error_pos] < 0x20 || p.s[p.error_pos] == 0x7f))
                        message = "control character";
                r = error_add(b, field_index, map ? map[p.error_pos] : p.error_pos, message);
        }
out:
        free(unfolded);
        free(map);
        return r;
}

int http_auth_parse(const char *const *values, const size_t *lengths, size_t n,
                    HttpAuthList *ret_list) {
        HttpAuthList list = { 0 };
        Builder b = { .list = &list };
        int r = 0;

        if (!ret_list)
                return -EINVAL;
        if (n > 0 && (!values || !lengths)) {
                r = -EINVAL;
                goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                if (!values[i] && lengths[i] > 0) {
                        r = -EINVAL;
                        goto fail;
                }
                r = parse_field_value(&b, i, values[i], lengths[i]);
                if (r < 0)
                        goto fail;
        }
        /* Values dropped after their challenges were stored may leave an empty array. */
        if (list.n_challenges == 0) {
                free(list.challenges);
                list.challenges = NULL;
        }
        *ret_list = list;
        return 0;
fail:
        http_auth_list_clear(&list);
        memset(ret_list, 0, sizeof *ret_list);
        return r;
}

void http_auth_list_clear(HttpAuthList *list) {
        if (!list)
                return;
        for (size_t i = 0; i < list->n_challenges; i++)
                challenge_clear(&list->challenges[i]);
        free(list->challenges);
        free(list->errors);
        memset(list, 0, sizeof *list);
}

const char *http_auth_param(const HttpAuthChallenge *challenge, const char *name) {
        if (!challenge || !name)
                return NULL;
        for (size_t i = 0; i < challenge->n_params; i++)
                if (ascii_equal_nocase(challenge->params[i].name, name))
                        return challenge->params[i].value;
        return NULL;
}

bool http_auth_is_scheme(const HttpAuthChallenge *challenge, const char *scheme) {
        return challenge && challenge->scheme && scheme &&
                ascii_equal_nocase(challenge->scheme, scheme);
}
