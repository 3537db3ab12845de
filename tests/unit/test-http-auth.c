/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the WWW-Authenticate challenge parser (common/http-auth.c). */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asan.h"
#include "check-main.h"
#include "http-auth.h"

/* A field value with its exact length, so rows may hold NUL bytes. */
typedef struct {
        const char *s;
        size_t len;
} Value;

#define V(literal) { literal, sizeof(literal) - 1 }

/* @expect is the parse result written by dump() below:
 *   challenges separated by " | ", each  scheme[@field][!] [<token68>] [name="value"]...
 *   ("@field" only for field values after the first, "!" when invalid (a duplicated
 *   parameter); values with '"', '\' and bytes outside 0x20-0x7e escaped as \" \\ \xNN),
 *   then " ; E<field>@<offset>" for each error.
 * @message, when set, must be a substring of the first error's message. */
typedef struct {
        const char *name;
        Value values[3];
        const char *expect;
        const char *message;
} Row;

static const Row rows[] = {
        /* Julian Reschke's WWW-Authenticate cases, test.greenbytes.de/tech/tc/httpauth/.
         * Header values as published there (cross-checked against the copies in Firefox's
         * netwerk/test/unit/test_authentication.js, the Rust www-authenticate crate's
         * tests and httoop's tests). Expectations are RFC 9110's grammar, not a browser's:
         * whether a Basic challenge needs a realm, or may have it as a token, is the
         * scheme's business (RFC 7617), not the parser's. */
        { "simplebasic", { V("Basic realm=\"foo\"") }, "Basic realm=\"foo\"" },
        /* obs-fold: CRLF SP becomes one SP (RFC 9112 5.2). */
        { "simplebasiclf", { V("Basic\r\n realm=\"foo\"") }, "Basic realm=\"foo\"" },
        /* Names are kept as sent; they compare case-insensitively (test_http_auth_lookup). */
        { "simplebasicucase", { V("BASIC REALM=\"foo\"") }, "BASIC REALM=\"foo\"" },
        /* auth-param = token BWS "=" BWS ( token / quoted-string ): a token value is fine. */
        { "simplebasictok", { V("Basic realm=foo") }, "Basic realm=\"foo\"" },
        /* '\' is not a tchar, and quoted-pairs exist only inside quoted-strings. */
        { "simplebasictokbs", { V("Basic realm=\\f\\o\\o") }, " ; E0@12",
          "expected a token or quoted-string" },
        /* ''' is a tchar: the token 'foo' with its quotes, not a quoted-string. */
        { "simplebasicsq", { V("Basic realm='foo'") }, "Basic realm=\"'foo'\"" },
        { "simplebasicpct", { V("Basic realm=\"foo%20bar\"") }, "Basic realm=\"foo%20bar\"" },
        /* "Basic" 1*SP starts #auth-param, whose recipient form (RFC 9110 5.6.1.2) is
         * [ element ] *( OWS "," OWS [ element ] ): an empty first element, then realm. */
        { "simplebasiccomma", { V("Basic , realm=\"foo\"") }, "Basic realm=\"foo\"" },
        /* No SP after the scheme: "Basic" is a complete challenge, the comma separates
         * challenges, and realm="foo" is no challenge (a scheme is not followed by '='). */
        { "simplebasiccomma2", { V("Basic, realm=\"foo\"") }, " ; E0@7",
          "auth-param without an auth-scheme" },
        { "simplebasicnorealm", { V("Basic") }, "Basic" },
        /* Kept, marked invalid: parameter names must be unique (RFC 9110 11.2). */
        { "simplebasic2realms", { V("Basic realm=\"foo\", realm=\"bar\"") },
          "Basic! realm=\"foo\" realm=\"bar\"" },
        /* BWS around '=' is allowed to be received (RFC 9110 5.6.3). */
        { "simplebasicwsrealm", { V("Basic realm = \"foo\"") }, "Basic realm=\"foo\"" },
        { "simplebasicrealmsqc", { V("Basic realm=\"\\f\\o\\o\"") }, "Basic realm=\"foo\"" },
        { "simplebasicrealmsqc2", { V("Basic realm=\"\\\"foo\\\"\"") },
          "Basic realm=\"\\\"foo\\\"\"" },
        { "simplebasicnewparam1", { V("Basic realm=\"foo\", bar=\"xyz\",, a=b,,,c=d") },
          "Basic realm=\"foo\" bar=\"xyz\" a=\"b\" c=\"d\"" },
        { "simplebasicnewparam2", { V("Basic bar=\"xyz\", realm=\"foo\"") },
          "Basic bar=\"xyz\" realm=\"foo\"" },
        /* obs-text is allowed in quoted-strings and passed on as bytes; charsets are the
         * scheme's business. RFC 2047 encoding does not apply to quoted-strings either. */
        { "simplebasicrealmiso88591", { V("Basic realm=\"foo-\xe4\"") },
          "Basic realm=\"foo-\\xe4\"" },
        { "simplebasicrealmutf8", { V("Basic realm=\"foo-\xc3\xa4\"") },
          "Basic realm=\"foo-\\xc3\\xa4\"" },
        { "simplebasicrealmrfc2047", { V("Basic realm=\"=?ISO-8859-1?Q?foo-=E4?=\"") },
          "Basic realm=\"=?ISO-8859-1?Q?foo-=E4?=\"" },
        { "multibasicunknown", { V("Basic realm=\"basic\", Newauth realm=\"newauth\"") },
          "Basic realm=\"basic\" | Newauth realm=\"newauth\"" },
        { "multibasicunknownnoparam", { V("Basic realm=\"basic\", Newauth") },
          "Basic realm=\"basic\" | Newauth" },
        { "multibasicunknown2", { V("Newauth realm=\"newauth\", Basic realm=\"basic\"") },
          "Newauth realm=\"newauth\" | Basic realm=\"basic\"" },
        { "multibasicunknown2np", { V("Newauth, Basic realm=\"basic\"") },
          "Newauth | Basic realm=\"basic\"" },
        /* Two field values. */
        { "multibasicunknown2mf", { V("Newauth realm=\"newauth\""), V("Basic realm=\"basic\"") },
          "Newauth realm=\"newauth\" | Basic@1 realm=\"basic\"" },
        { "multibasicempty", { V(",Basic realm=\"basic\"") }, "Basic realm=\"basic\"" },
        { "multibasicqs",
          { V("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
              "Basic realm=\"simple\"") },
          "Newauth realm=\"apps\" type=\"1\" title=\"Login to \\\"apps\\\"\" | "
          "Basic realm=\"simple\"" },
        /* "basic=foo" is a parameter (token then '='), not the Basic scheme. */
        { "multidisgscheme",
          { V("Newauth realm=\"Newauth Realm\", basic=foo, Basic realm=\"Basic Realm\"") },
          "Newauth realm=\"Newauth Realm\" basic=\"foo\" | Basic realm=\"Basic Realm\"" },
        { "unknown", { V("Newauth param=\"value\"") }, "Newauth param=\"value\"" },
        { "parametersnotrequired", { V("A, B") }, "A | B" },
        { "disguisedrealm", { V("Basic foo=\"realm=nottherealm\", realm=\"basic\"") },
          "Basic foo=\"realm=nottherealm\" realm=\"basic\"" },
        { "disguisedrealm2", { V("Basic nottherealm=\"nottherealm\", realm=\"basic\"") },
          "Basic nottherealm=\"nottherealm\" realm=\"basic\"" },
        /* The value ends inside the quoted-string: the offset is the value's length. */
        { "missingquote", { V("Basic realm=\"basic") }, " ; E0@18", "unterminated" },

        /* token68 (RFC 9110 11.2): what follows the '=' run decides token68 or auth-param. */
        { "token68 padded", { V("X abc=") }, "X <abc=>" },
        { "token68 double padded", { V("X abc==") }, "X <abc==>" },
        { "token68 padding then text", { V("X abc==x") }, " ; E0@7", "token68 must end" },
        { "token68 or param", { V("X abc=x") }, "X abc=\"x\"" },
        { "token68 all characters", { V("X a/b+c~d.e_f-g=") }, "X <a/b+c~d.e_f-g=>" },
        { "token68 unpadded", { V("X dXNlcjpwYXNz") }, "X <dXNlcjpwYXNz>" },
        { "token68 with slash is no param name", { V("X a/b=c") }, " ; E0@6",
          "token68 must end" },
        { "token68 then OWS comma", { V("X abc= , Y def==\t") }, "X <abc=> | Y <def==>" },
        { "token68 then text", { V("X abc def") }, " ; E0@6", "expected ','" },
        { "param after token68", { V("X abc= , realm=y") }, " ; E0@9", "after a token68" },
        /* "realm=" then ',' is a token68, not a parameter without value. */
        { "token68 looking like a param", { V("Basic realm=,") }, "Basic <realm=>" },
        /* token BWS "=" is an auth-param, here without a challenge. */
        { "token SP '='", { V("X =abc") }, " ; E0@0", "auth-param without" },
        { "quoted-string after scheme", { V("X \"abc\"") }, " ; E0@2", "expected a token68" },
        { "token68 non-token68 character", { V("X a!b") }, " ; E0@3", "expected ','" },

        /* auth-param values */
        { "param value missing", { V("X abc =") }, " ; E0@7", "expected a token or" },
        { "param value missing after comma", { V("Basic realm=\"x\", foo=") }, " ; E0@21",
          "expected a token or" },
        { "param value '=' after comma", { V("Basic realm=\"x\", foo==") }, " ; E0@21",
          "expected a token or" },
        { "param value text after token", { V("Basic realm=foo\"bar\"") }, " ; E0@15",
          "expected ','" },
        { "param value non-ASCII token", { V("Basic realm=caf\xc3\xa9") }, " ; E0@15",
          "expected ','" },
        { "param value quoted text after", { V("Basic realm=\"a\"b") }, " ; E0@15",
          "expected ','" },
        { "param name not a token", { V("Basic realm=\"x\", \"y\"") }, " ; E0@17",
          "expected an auth-scheme or auth-param" },
        { "param without scheme", { V("realm=\"x\"") }, " ; E0@0", "auth-param without" },

        /* BWS around '=' */
        { "BWS before =", { V("X abc =x") }, "X abc=\"x\"" },
        { "BWS after =", { V("X abc= x") }, "X abc=\"x\"" },
        { "BWS both", { V("X abc = \"x\", d\t=\te") }, "X abc=\"x\" d=\"e\"" },

        /* quoted-string and quoted-pair (RFC 9110 5.6.4) */
        { "quoted empty", { V("Basic realm=\"\"") }, "Basic realm=\"\"" },
        { "quoted-pair at end", { V("Basic realm=\"a\\") }, " ; E0@15", "unterminated" },
        { "quoted-pair escaping the closing quote", { V("Basic realm=\"a\\\"") }, " ; E0@16",
          "unterminated" },
        { "quoted-pair backslash", { V("Basic realm=\"a\\\\\"") }, "Basic realm=\"a\\\\\"" },
        { "quoted-pair of a control character", { V("Basic realm=\"a\\\x01\"") }, " ; E0@15",
          "control character" },
        { "quoted-pair of obs-text", { V("Basic realm=\"a\\\x80\"") },
          "Basic realm=\"a\\x80\"" },
        { "quoted-pair of HTAB", { V("Basic realm=\"\\\t\"") }, "Basic realm=\"\\x09\"" },
        { "quoted DEL", { V("Basic realm=\"\x7f\"") }, " ; E0@13", "control character" },
        { "quoted HTAB and SP", { V("Basic realm=\"a\tb c\"") }, "Basic realm=\"a\\x09b c\"" },
        { "quoted obs-text", { V("Basic realm=\"\x80\xff\"") }, "Basic realm=\"\\x80\\xff\"" },
        { "quoted comma and equals", { V("Basic realm=\"a, b=c\", d=e") },
          "Basic realm=\"a, b=c\" d=\"e\"" },
        { "unterminated then more values", { V("Basic realm=\"x"), V("Newauth realm=\"y\"") },
          "Newauth@1 realm=\"y\" ; E0@14", "unterminated" },

        /* Whitespace: OWS is SP or HTAB, but the scheme is followed by 1*SP. */
        { "leading and trailing OWS", { V(" \tBasic realm=\"x\"\t ") }, "Basic realm=\"x\"" },
        { "OWS around commas", { V("Basic realm=\"x\"\t,\tNewauth") },
          "Basic realm=\"x\" | Newauth" },
        { "HTAB after scheme", { V("Basic\trealm=\"x\"") }, " ; E0@6", "expected ','" },
        { "SP HTAB after scheme", { V("Basic \trealm=\"x\"") }, " ; E0@7", "expected ','" },
        { "HTAB then comma after scheme", { V("Basic\t,\tNewauth") }, "Basic | Newauth" },
        { "SP HTAB comma after scheme", { V("Basic \t, realm=x") }, "Basic realm=\"x\"" },
        { "several SP after scheme", { V("Basic   realm=x") }, "Basic realm=\"x\"" },
        { "trailing SP after scheme", { V("Basic ") }, "Basic" },

        /* Empty list elements and empty values */
        { "empty value", { V("") }, "" },
        { "only commas", { V(",,, ,") }, "" },
        { "only OWS", { V(" \t ") }, "" },
        { "empty then value", { V(""), V("Basic") }, "Basic@1" },
        { "empty elements between params", { V("Basic realm=\"x\" ,, , a=b,") },
          "Basic realm=\"x\" a=\"b\"" },

        /* Obsolete line folding (RFC 9112 5.2): OWS CRLF-or-LF RWS becomes one SP. */
        { "fold between challenges", { V("Basic realm=\"foo\",\r\n Newauth") },
          "Basic realm=\"foo\" | Newauth" },
        { "fold with HTAB", { V("Basic\r\n\trealm=\"foo\"") }, "Basic realm=\"foo\"" },
        { "fold with LF only", { V("Basic\n realm=\"foo\"") }, "Basic realm=\"foo\"" },
        { "fold after OWS", { V("Basic \t\r\n  realm=\"foo\"") }, "Basic realm=\"foo\"" },
        { "fold in quoted-string", { V("Basic realm=\"a \r\n  b\"") }, "Basic realm=\"a b\"" },
        { "fold at start", { V("\r\n Basic") }, "Basic" },
        { "bare LF", { V("Basic\nrealm=\"foo\"") }, " ; E0@5", "CR or LF" },
        { "bare CR", { V("Basic\r realm=\"foo\"") }, " ; E0@5", "CR or LF" },
        { "CRLF at end", { V("Basic realm=\"foo\"\r\n") }, " ; E0@17", "CR or LF" },
        { "CR in quoted-string", { V("Basic realm=\"a\rb\"") }, " ; E0@14", "CR or LF" },
        /* Offsets are in the value as given, not in the unfolded copy. */
        { "error offset after fold", { V("Basic\r\n realm=\"a\" \x01") }, " ; E0@18",
          "control character" },
        { "error offset at end after fold", { V("Basic realm=\"foo\",\r\n Newauth x=\"") },
          " ; E0@32", "unterminated" },

        /* NUL and other control characters */
        { "NUL in quoted-string", { V("Basic realm=\"a\0b\"") }, " ; E0@14", "NUL" },
        { "NUL after scheme", { V("Basic\0") }, " ; E0@5", "NUL" },
        { "NUL alone", { V("\0") }, " ; E0@0", "NUL" },
        { "control character in token", { V("Basic realm=a\x01") }, " ; E0@13",
          "control character" },
        { "ESC after scheme", { V("Basic\x1b") }, " ; E0@5", "control character" },
        { "DEL in scheme", { V("Ba\x7fsic") }, " ; E0@2", "control character" },

        /* Parameter names: kept as sent, duplicates compared case-insensitively. */
        { "uppercase param names", { V("Basic REALM=\"x\", Charset=UTF-8") },
          "Basic REALM=\"x\" Charset=\"UTF-8\"" },
        { "duplicate param, different case", { V("Basic realm=\"a\", REALM=\"b\"") },
          "Basic! realm=\"a\" REALM=\"b\"" },
        { "duplicate param not first", { V("Basic a=1, b=2, A=3") },
          "Basic! a=\"1\" b=\"2\" A=\"3\"" },
        { "duplicate stays in its challenge", { V("Basic realm=a, realm=b, Newauth realm=c") },
          "Basic! realm=\"a\" realm=\"b\" | Newauth realm=\"c\"" },
        { "same param in two challenges", { V("A realm=a, B realm=b") },
          "A realm=\"a\" | B realm=\"b\"" },

        /* Schemes */
        { "scheme with all tchar punctuation", { V("X-Auth!#$%&'*+-.^_`|~ a=b") },
          "X-Auth!#$%&'*+-.^_`|~ a=\"b\"" },
        { "scheme with a non-tchar", { V("Newauth/2 a=b") }, " ; E0@7", "expected ','" },
        { "quoted scheme", { V("\"Basic\" realm=x") }, " ; E0@0", "expected an auth-scheme" },
        { "scheme then '='", { V("=abc") }, " ; E0@0", "expected an auth-scheme" },
        { "token68 challenges in a list", { V("Negotiate abc==, NTLM, Bearer") },
          "Negotiate <abc==> | NTLM | Bearer" },

        /* One bad value among good ones. */
        { "bad value in the middle",
          { V("Basic realm=\"a\""), V("Basic, x=y"), V("Newauth") },
          "Basic realm=\"a\" | Newauth@2 ; E1@7", "auth-param without" },
        { "challenges before the error are dropped too",
          { V("A, B x=1, C x=\"y"), V("Transport mode=\"tls-client-certificate\"") },
          "Transport@1 mode=\"tls-client-certificate\" ; E0@16", "unterminated" },
        { "two bad values", { V("Basic realm=\"x"), V("\x01") }, " ; E0@14 ; E1@0",
          "unterminated" },

        /* The transport scheme as servers send it. */
        { "transport",
          { V("transport mode=\"tls-client-certificate\", realm=\"intranet\", "
              "ca-names=\"MBExDzANBgNVBAMMBlRlc3RDQQ MBIxEDAOBgNVBAMMB090aGVyQ0E\", "
              "key-types=\"ec rsa\", url=\"https://auth.example.com:8443/login?x=1\"") },
          "transport mode=\"tls-client-certificate\" realm=\"intranet\" "
          "ca-names=\"MBExDzANBgNVBAMMBlRlc3RDQQ MBIxEDAOBgNVBAMMB090aGVyQ0E\" "
          "key-types=\"ec rsa\" url=\"https://auth.example.com:8443/login?x=1\"" },
};

static void dump_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p >= 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

/* The result in the notation of Row.expect (transfer full). */
static char *dump(const HttpAuthList *list) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        ck_assert_ptr_nonnull(f);
        for (size_t i = 0; i < list->n_challenges; i++) {
                const HttpAuthChallenge *c = &list->challenges[i];

                fprintf(f, "%s%s", i > 0 ? " | " : "", c->scheme);
                if (c->field_index > 0)
                        fprintf(f, "@%zu", c->field_index);
                if (!c->valid)
                        fputc('!', f);
                if (c->token68)
                        fprintf(f, " <%s>", c->token68);
                for (size_t j = 0; j < c->n_params; j++) {
                        fprintf(f, " %s=", c->params[j].name);
                        dump_string(f, c->params[j].value);
                }
        }
        for (size_t i = 0; i < list->n_errors; i++)
                fprintf(f, " ; E%zu@%zu", list->errors[i].field_index, list->errors[i].offset);
        ck_assert_int_eq(fclose(f), 0);
        return out;
}

/* Invariants every result keeps, whatever the input. */
static void check_invariants(const HttpAuthList *list, size_t n_values) {
        ck_assert_uint_le(list->n_challenges, HTTP_AUTH_CHALLENGES_MAX);
        for (size_t i = 0; i < list->n_challenges; i++) {
                const HttpAuthChallenge *c = &list->challenges[i];

                ck_assert_ptr_nonnull(c->scheme);
                ck_assert_uint_gt(strlen(c->scheme), 0);
                ck_assert_uint_lt(c->field_index, n_values);
                ck_assert_uint_le(c->n_params, HTTP_AUTH_PARAMS_MAX);
                ck_assert(c->token68 == NULL || c->n_params == 0);
                ck_assert(c->n_params == 0 || c->params != NULL);
                if (i > 0)
                        ck_assert_uint_ge(c->field_index, list->challenges[i - 1].field_index);
        }
        for (size_t i = 0; i < list->n_errors; i++) {
                ck_assert_uint_lt(list->errors[i].field_index, n_values);
                ck_assert_ptr_nonnull(list->errors[i].message);
                /* No field value has challenges and an error. */
                for (size_t j = 0; j < list->n_challenges; j++)
                        ck_assert_uint_ne(list->challenges[j].field_index,
                                          list->errors[i].field_index);
        }
}

START_TEST(test_http_auth_table) {
        const Row *row = &rows[_i];
        const char *values[3];
        size_t lengths[3], n = 0;
        HttpAuthList list;
        char *got;

        for (; n < 3 && row->values[n].s; n++) {
                values[n] = row->values[n].s;
                lengths[n] = row->values[n].len;
        }
        ck_assert_int_eq(http_auth_parse(values, lengths, n, &list), 0);
        check_invariants(&list, n);
        got = dump(&list);
        ck_assert_msg(strcmp(got, row->expect) == 0, "%s: got '%s', expected '%s'", row->name,
                      got, row->expect);
        ck_assert_msg((list.n_errors > 0) == (row->message != NULL), "%s: %zu errors", row->name,
                      list.n_errors);
        if (row->message)
                ck_assert_msg(strstr(list.errors[0].message, row->message) != NULL,
                              "%s: message '%s' lacks '%s'", row->name, list.errors[0].message,
                              row->message);
        free(got);
        http_auth_list_clear(&list);
}
END_TEST

/* Parses one value. */
static void parse1(const char *value, size_t len, HttpAuthList *list) {
        const char *values[] = { value };

        ck_assert_int_eq(http_auth_parse(values, &len, 1, list), 0);
        check_invariants(list, 1);
}

/* "A, A, ..." with @n challenges, in @buf. */
static size_t make_challenges(char *buf, size_t size, size_t n) {
        size_t len = 0;

        for (size_t i = 0; i < n; i++) {
                ck_assert_uint_lt(len + 4, size);
                len += (size_t) sprintf(buf + len, "%sA", i ? ", " : "");
        }
        return len;
}

START_TEST(test_http_auth_challenges_cap) {
        char buf[1024], buf2[1024], buf3[1024];
        const char *values[3] = { buf, buf2, buf3 };
        size_t lengths[3];
        HttpAuthList list;

        lengths[0] = make_challenges(buf, sizeof buf, HTTP_AUTH_CHALLENGES_MAX);
        parse1(buf, lengths[0], &list);
        ck_assert_uint_eq(list.n_challenges, HTTP_AUTH_CHALLENGES_MAX);
        ck_assert_uint_eq(list.n_errors, 0);
        http_auth_list_clear(&list);

        /* The 65th challenge starts at 64 * strlen("A, "). */
        lengths[0] = make_challenges(buf, sizeof buf, HTTP_AUTH_CHALLENGES_MAX + 1);
        parse1(buf, lengths[0], &list);
        ck_assert_uint_eq(list.n_challenges, 0);
        ck_assert_uint_eq(list.n_errors, 1);
        ck_assert_uint_eq(list.errors[0].offset, HTTP_AUTH_CHALLENGES_MAX * 3);
        ck_assert_ptr_nonnull(strstr(list.errors[0].message, "challenges"));
        http_auth_list_clear(&list);

        /* The cap counts over all values; a value over it is dropped, later ones may fit. */
        lengths[0] = make_challenges(buf, sizeof buf, 40);
        lengths[1] = make_challenges(buf2, sizeof buf2, 30);
        lengths[2] = make_challenges(buf3, sizeof buf3, HTTP_AUTH_CHALLENGES_MAX - 40);
        ck_assert_int_eq(http_auth_parse(values, lengths, 3, &list), 0);
        check_invariants(&list, 3);
        ck_assert_uint_eq(list.n_challenges, HTTP_AUTH_CHALLENGES_MAX);
        ck_assert_uint_eq(list.challenges[39].field_index, 0);
        ck_assert_uint_eq(list.challenges[40].field_index, 2);
        ck_assert_uint_eq(list.n_errors, 1);
        ck_assert_uint_eq(list.errors[0].field_index, 1);
        ck_assert_uint_eq(list.errors[0].offset, (HTTP_AUTH_CHALLENGES_MAX - 40) * 3);
        http_auth_list_clear(&list);
}
END_TEST

START_TEST(test_http_auth_params_cap) {
        char buf[2048];
        size_t len = 0, offset_65th = 0;
        HttpAuthList list;

        len = (size_t) sprintf(buf, "X");
        for (int i = 0; i < HTTP_AUTH_PARAMS_MAX; i++)
                len += (size_t) sprintf(buf + len, "%sp%d=v", i ? ", " : " ", i);
        parse1(buf, len, &list);
        ck_assert_uint_eq(list.n_challenges, 1);
        ck_assert_uint_eq(list.challenges[0].n_params, HTTP_AUTH_PARAMS_MAX);
        ck_assert(list.challenges[0].valid);
        ck_assert_str_eq(http_auth_param(&list.challenges[0], "P63"), "v");
        http_auth_list_clear(&list);

        offset_65th = len + 2;
        len += (size_t) sprintf(buf + len, ", extra=\"v\"");
        parse1(buf, len, &list);
        ck_assert_uint_eq(list.n_challenges, 0);
        ck_assert_uint_eq(list.n_errors, 1);
        ck_assert_uint_eq(list.errors[0].offset, offset_65th);
        ck_assert_ptr_nonnull(strstr(list.errors[0].message, "auth-params"));
        http_auth_list_clear(&list);
}
END_TEST

START_TEST(test_http_auth_params_cap_per_challenge) {
        char buf[4096];
        size_t len = 0;
        HttpAuthList list;

        for (int c = 0; c < 2; c++) {
                len += (size_t) sprintf(buf + len, "%sX%d", c ? ", " : "", c);
                for (int i = 0; i < HTTP_AUTH_PARAMS_MAX; i++)
                        len += (size_t) sprintf(buf + len, "%sp%d=v", i ? ", " : " ", i);
        }
        parse1(buf, len, &list);
        ck_assert_uint_eq(list.n_errors, 0);
        ck_assert_uint_eq(list.n_challenges, 2);
        ck_assert_uint_eq(list.challenges[1].n_params, HTTP_AUTH_PARAMS_MAX);
        http_auth_list_clear(&list);
}
END_TEST

START_TEST(test_http_auth_oversize) {
        size_t max = HTTP_AUTH_FIELD_VALUE_MAX;
        char *buf = malloc(max + 2);
        const char *prefix = "Basic realm=\"";
        HttpAuthList list;

        ck_assert_ptr_nonnull(buf);
        /* Exactly the cap: parsed. */
        memset(buf, 'a', max + 1);
        memcpy(buf, prefix, strlen(prefix));
        buf[max - 1] = '"';
        parse1(buf, max, &list);
        ck_assert_uint_eq(list.n_errors, 0);
        ck_assert_uint_eq(list.n_challenges, 1);
        ck_assert_uint_eq(strlen(http_auth_param(&list.challenges[0], "realm")),
                          max - strlen(prefix) - 1);
        http_auth_list_clear(&list);

        /* One byte more: refused at the cap, whatever the content. */
        buf[max - 1] = 'a';
        buf[max] = '"';
        parse1(buf, max + 1, &list);
        ck_assert_uint_eq(list.n_challenges, 0);
        ck_assert_uint_eq(list.n_errors, 1);
        ck_assert_uint_eq(list.errors[0].offset, max);
        ck_assert_ptr_nonnull(strstr(list.errors[0].message, "longer than"));
        http_auth_list_clear(&list);

        /* A long token68 within the cap. */
        memset(buf, 'A', max);
        memcpy(buf, "Bearer ", 7);
        buf[max - 1] = '=';
        parse1(buf, max, &list);
        ck_assert_uint_eq(list.n_challenges, 1);
        ck_assert_uint_eq(strlen(list.challenges[0].token68), max - 7);
        http_auth_list_clear(&list);
        free(buf);
}
END_TEST

START_TEST(test_http_auth_lookup) {
        static const char value[] = "BASIC REALM=\"foo\", Realm=bar, Transport MODE=x";
        HttpAuthList list;

        parse1(value, strlen(value), &list);
        ck_assert_uint_eq(list.n_challenges, 2);
        ck_assert(http_auth_is_scheme(&list.challenges[0], "basic"));
        ck_assert(http_auth_is_scheme(&list.challenges[0], "Basic"));
        ck_assert(!http_auth_is_scheme(&list.challenges[0], "basi"));
        ck_assert(!http_auth_is_scheme(&list.challenges[0], "basicx"));
        ck_assert(!http_auth_is_scheme(&list.challenges[0], NULL));
        ck_assert(!http_auth_is_scheme(NULL, "basic"));
        ck_assert(http_auth_is_scheme(&list.challenges[1], "transport"));
        /* Invalid (duplicate realm): kept for reporting; lookups give the first. */
        ck_assert(!list.challenges[0].valid);
        ck_assert_str_eq(http_auth_param(&list.challenges[0], "realm"), "foo");
        ck_assert(list.challenges[1].valid);
        ck_assert_str_eq(http_auth_param(&list.challenges[1], "mode"), "x");
        ck_assert_str_eq(http_auth_param(&list.challenges[1], "Mode"), "x");
        ck_assert_ptr_null(http_auth_param(&list.challenges[1], "realm"));
        ck_assert_ptr_null(http_auth_param(&list.challenges[1], "mod"));
        ck_assert_ptr_null(http_auth_param(&list.challenges[1], NULL));
        ck_assert_ptr_null(http_auth_param(NULL, "mode"));
        http_auth_list_clear(&list);
        ck_assert_ptr_null(list.challenges);
        ck_assert_uint_eq(list.n_challenges, 0);
        /* A cleared list may be cleared again. */
        http_auth_list_clear(&list);
        http_auth_list_clear(NULL);
}
END_TEST

START_TEST(test_http_auth_arguments) {
        const char *values[] = { NULL, "Basic" };
        size_t lengths[] = { 0, 5 };
        HttpAuthList list;

        /* No values at all. */
        ck_assert_int_eq(http_auth_parse(NULL, NULL, 0, &list), 0);
        ck_assert_uint_eq(list.n_challenges, 0);
        ck_assert_uint_eq(list.n_errors, 0);
        http_auth_list_clear(&list);

        /* NULL with length 0 is an empty value. */
        ck_assert_int_eq(http_auth_parse(values, lengths, 2, &list), 0);
        ck_assert_uint_eq(list.n_challenges, 1);
        ck_assert_uint_eq(list.challenges[0].field_index, 1);
        http_auth_list_clear(&list);

        lengths[0] = 1;
        memset(&list, 0xaa, sizeof list);
        ck_assert_int_eq(http_auth_parse(values, lengths, 2, &list), -EINVAL);
        ck_assert_ptr_null(list.challenges);
        ck_assert_uint_eq(list.n_challenges, 0);
        ck_assert_int_eq(http_auth_parse(NULL, lengths, 1, &list), -EINVAL);
        ck_assert_int_eq(http_auth_parse(values, NULL, 1, &list), -EINVAL);
        ck_assert_int_eq(http_auth_parse(values, lengths, 1, NULL), -EINVAL);
}
END_TEST

/* The value is read within its length only: a value cut out of a longer buffer parses
 * as the cut, never as the rest. */
START_TEST(test_http_auth_length_bounds) {
        static const char buf[] = "Basic realm=\"foo\", Newauth";
        static const char unterminated[] = "Basic realm=\"foo\"";
        HttpAuthList list;

        parse1(buf, 5, &list);
        ck_assert_uint_eq(list.n_challenges, 1);
        ck_assert_str_eq(list.challenges[0].scheme, "Basic");
        ck_assert_uint_eq(list.challenges[0].n_params, 0);
        http_auth_list_clear(&list);

        parse1(unterminated, strlen(unterminated) - 1, &list);
        ck_assert_uint_eq(list.n_challenges, 0);
        ck_assert_uint_eq(list.n_errors, 1);
        ck_assert_uint_eq(list.errors[0].offset, strlen(unterminated) - 1);
        http_auth_list_clear(&list);
}
END_TEST

/* Allocation failure injection for test_http_auth_out_of_memory: the parser allocates only
 * with malloc and realloc. Not with a sanitizer, which owns malloc itself. */
#ifndef HAVE_ASAN
void *__libc_malloc(size_t size);
void *__libc_realloc(void *p, size_t size);

/* Allocations left before one fails; negative: never fail. */
static long allocations_until_failure = -1;

static bool allocation_fails(void) {
        if (allocations_until_failure < 0)
                return false;
        return allocations_until_failure-- == 0;
}

void *malloc(size_t size) {
        return allocation_fails() ? NULL : __libc_malloc(size);
}

void *realloc(void *p, size_t size) {
        return allocation_fails() ? NULL : __libc_realloc(p, size);
}

/* Every allocation of a parse that needs several fails in turn: -ENOMEM, a zeroed list,
 * nothing leaked (under valgrind), until enough succeed. */
START_TEST(test_http_auth_out_of_memory) {
        const char *values[] = {
                "Basic realm=\"a\", REALM=b, Negotiate abc==",
                "Basic realm=\"x",
                ("Transport mode=\"tls-client-certificate\",\r\n ca-names=\"AA BB\", a=1, "
                 "b=2, c=3, d=4, e=5"),
        };
        size_t lengths[] = { strlen(values[0]), strlen(values[1]), strlen(values[2]) };
        HttpAuthList list;
        long n;
        int r;

        for (n = 0;; n++) {
                memset(&list, 0xaa, sizeof list);
                allocations_until_failure = n;
                r = http_auth_parse(values, lengths, 3, &list);
                allocations_until_failure = -1;
                if (r == 0)
                        break;
                ck_assert_int_eq(r, -ENOMEM);
                ck_assert_ptr_null(list.challenges);
                ck_assert_ptr_null(list.errors);
                ck_assert_uint_eq(list.n_challenges, 0);
                ck_assert_uint_eq(list.n_errors, 0);
        }
        /* Scheme, token68 and parameter strings, arrays, the unfolded copy: many. */
        ck_assert_int_gt(n, 15);
        ck_assert_uint_eq(list.n_challenges, 3);
        ck_assert_uint_eq(list.n_errors, 1);
        http_auth_list_clear(&list);
}
END_TEST
#endif

static Suite *http_auth_suite(void) {
        Suite *s = suite_create("http-auth");
        TCase *tc = tcase_create("http-auth");

        tcase_add_loop_test(tc, test_http_auth_table, 0, (int) (sizeof rows / sizeof rows[0]));
        tcase_add_test(tc, test_http_auth_challenges_cap);
        tcase_add_test(tc, test_http_auth_params_cap);
        tcase_add_test(tc, test_http_auth_params_cap_per_challenge);
        tcase_add_test(tc, test_http_auth_oversize);
        tcase_add_test(tc, test_http_auth_lookup);
        tcase_add_test(tc, test_http_auth_arguments);
        tcase_add_test(tc, test_http_auth_length_bounds);
#ifndef HAVE_ASAN
        tcase_add_test(tc, test_http_auth_out_of_memory);
#endif
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(http_auth_suite(), CK_FORK_GETENV);
}
