/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A strict JSON syntax checker (RFC 8259) for testing tlsidctl --json output. */
#include "json-check.h"

#include <string.h>

/* Deep enough for any output of tlsidctl, shallow enough to never exhaust the stack. */
#define JSON_MAX_DEPTH 64

typedef struct {
        const char *s;
        const char *p;
} Parser;

static bool parse_value(Parser *ps, int depth);

static void skip_space(Parser *ps) {
        while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
                ps->p++;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_hex(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool parse_string(Parser *ps) {
        if (*ps->p != '"')
                return false;
        ps->p++;
        for (;;) {
                unsigned char c = (unsigned char) *ps->p;

                if (c == '"') {
                        ps->p++;
                        return true;
                }
                if (c < 0x20) /* also the end of the text */
                        return false;
                if (c == '\\') {
                        ps->p++;
                        if (*ps->p == 'u') {
                                for (int i = 1; i <= 4; i++)
                                        if (!is_hex(ps->p[i])) {
                                                ps->p += i;
                                                return false;
                                        }
                                ps->p += 5;
                                continue;
                        }
                        if (!*ps->p || !strchr("\"\\/bfnrt", *ps->p))
                                return false;
                }
                ps->p++;
        }
}

static bool parse_number(Parser *ps) {
        if (*ps->p == '-')
                ps->p++;
        if (*ps->p == '0')
                ps->p++;
        else if (is_digit(*ps->p))
                while (is_digit(*ps->p))
                        ps->p++;
        else
                return false;
        if (*ps->p == '.') {
                ps->p++;
                if (!is_digit(*ps->p))
                        return false;
                while (is_digit(*ps->p))
                        ps->p++;
        }
        if (*ps->p == 'e' || *ps->p == 'E') {
                ps->p++;
                if (*ps->p == '+' || *ps->p == '-')
                        ps->p++;
                if (!is_digit(*ps->p))
                        return false;
                while (is_digit(*ps->p))
                        ps->p++;
        }
        return true;
}

static bool parse_literal(Parser *ps, const char *word) {
        size_t n = strlen(word);

        if (strncmp(ps->p, word, n) != 0)
                return false;
        ps->p += n;
        return true;
}

/* Elements separated by commas up to @close; object members when @members. */
static bool parse_list(Parser *ps, char close, bool members, int depth) {
        ps->p++;
        skip_space(ps);
        if (*ps->p == close) {
                ps->p++;
                return true;
        }
        for (;;) {
                skip_space(ps);
                if (members) {
                        if (!parse_string(ps))
                                return false;
                        skip_space(ps);
                        if (*ps->p != ':')
                                return false;
                        ps->p++;
                }
                if (!parse_value(ps, depth + 1))
                        return false;
                skip_space(ps);
                if (*ps->p == close) {
                        ps->p++;
                        return true;
                }
                if (*ps->p != ',')
                        return false;
                ps->p++;
        }
}

static bool parse_value(Parser *ps, int depth) {
        if (depth > JSON_MAX_DEPTH)
                return false;
        skip_space(ps);
        switch (*ps->p) {
        case '{':
                return parse_list(ps, '}', true, depth);
        case '[':
                return parse_list(ps, ']', false, depth);
        case '"':
                return parse_string(ps);
        case 't':
                return parse_literal(ps, "true");
        case 'f':
                return parse_literal(ps, "false");
        case 'n':
                return parse_literal(ps, "null");
        default:
                return parse_number(ps);
        }
}

bool json_check(const char *text, long *ret_offset) {
        Parser ps = { .s = text, .p = text };
        bool ok;

        ok = parse_value(&ps, 0);
        if (ok) {
                skip_space(&ps);
                ok = *ps.p == '\0';
        }
        if (!ok && ret_offset)
                *ret_offset = (long) (ps.p - ps.s);
        return ok;
}
