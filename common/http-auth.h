/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A strict parser of WWW-Authenticate and Proxy-Authenticate field values (RFC 9110 11).
 *
 * Plain C (no GLib, no libdbus) so the daemon, the library and the fuzz target share it.
 * The grammar (RFC 9110 11.2, 11.3, 5.6):
 *
 *   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param  = token BWS "=" BWS ( token / quoted-string )
 *   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *   field value = #challenge   (empty list elements and OWS allowed)
 *
 * Obsolete line folding (OWS, CRLF or LF, then at least one SP or HTAB) is replaced by one
 * SP before parsing (RFC 9112 5.2), also inside quoted-strings; any other CR, LF or control
 * character is a syntax error. Leading and trailing OWS of a field value are ignored. The
 * scheme is separated from its token68 or first auth-param by SP only ("1*SP"): a HTAB
 * there is a syntax error. A field value that does not parse yields no challenges and one
 * error (with the byte offset), and does not affect the other field values. A challenge
 * with a duplicated parameter name (compared case-insensitively) is kept, marked invalid,
 * so a caller can report it; nobody should act on it. After "scheme SP", "abc=" or "abc=="
 * followed by the end of the challenge is a token68, "abc=x" an auth-param, "abc==x" an
 * error. Input is read only within the lengths given; nothing recurses; counts and sizes
 * are capped below. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Caps: past them parsing stops with an error for that field value (whose challenges are
 * then dropped, so a later, smaller value may still contribute). */
#define HTTP_AUTH_FIELD_VALUE_MAX 16384 /* bytes of one field value */
#define HTTP_AUTH_CHALLENGES_MAX 64     /* challenges over all field values of one call */
#define HTTP_AUTH_PARAMS_MAX 64         /* auth-params of one challenge */

typedef struct {
        char *name;  /* as sent (compare with http_auth_param()) */
        char *value; /* the token, or the quoted-string without quotes and quoted-pairs */
} HttpAuthParam;

typedef struct {
        char *scheme;          /* as sent; schemes compare case-insensitively */
        char *token68;         /* NULL unless the challenge carries a token68 */
        HttpAuthParam *params; /* in order; NULL when there are none */
        size_t n_params;
        bool valid;            /* false: a parameter name appears twice */
        size_t field_index;    /* which field value it came from */
} HttpAuthChallenge;

typedef struct {
        size_t field_index; /* which field value */
        size_t offset;      /* byte offset in that field value (as given, before unfolding) of
                             * the first byte that does not fit the grammar; the value's
                             * length when it ends too early (e.g. an unterminated
                             * quoted-string); HTTP_AUTH_FIELD_VALUE_MAX for an oversize value */
        const char *message; /* static English text, e.g. "expected '=' after parameter name" */
} HttpAuthError;

typedef struct {
        HttpAuthChallenge *challenges; /* NULL when there are none */
        size_t n_challenges;
        HttpAuthError *errors; /* one per field value that did not parse */
        size_t n_errors;
} HttpAuthList;

/* Parses @n field values (@values[i] of @lengths[i] bytes; NUL bytes are syntax errors)
 * into @ret_list, which the caller clears with http_auth_list_clear(). Syntax errors are
 * reported in @ret_list->errors, not as a failure. @values[i] may be NULL when
 * @lengths[i] is 0. Returns 0, -EINVAL (NULL arguments), or -ENOMEM; on failure
 * @ret_list is zeroed. */
int http_auth_parse(const char *const *values, const size_t *lengths, size_t n,
                    HttpAuthList *ret_list);

/* Frees what @list holds and zeroes it; accepts a zeroed list. */
void http_auth_list_clear(HttpAuthList *list);

/* The value of parameter @name (case-insensitive) of @challenge, or NULL. */
const char *http_auth_param(const HttpAuthChallenge *challenge, const char *name);

/* Whether @challenge's scheme is @scheme, case-insensitively. */
bool http_auth_is_scheme(const HttpAuthChallenge *challenge, const char *scheme);
