/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reader of one flat JSON object per line (RFC 8259): strings with every escape,
 * surrogate pairs included, booleans, numbers and null; nested values are refused. */
#include "json-line.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_space(const char *p) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
        return p;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static bool read_hex4(const char *p, uint32_t *ret) {
        uint32_t v = 0;

        for (int i = 0; i < 4; i++) {
                int h = hex_value(p[i]);

                if (h < 0)
                        return false;
                v = v << 4 | (uint32_t) h;
        }
        *ret = v;
        return true;
}

static size_t put_utf8(char *out, uint32_t cp) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | cp >> 6);
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | cp >> 12);
                out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | cp >> 18);
        out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
        out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* Reads the string at *@p (at its opening quote) into a new buffer; advances *@p past it. */
static const char *read_string(const char **p, char **ret) {
        const char *s = *p + 1;
        char *out = malloc(strlen(s) * 2 + 1), *o = out;

        if (!out)
                return "out of memory";
        for (;;) {
                unsigned char c = (unsigned char) *s;

                if (c == '"')
                        break;
                if (c == '\0') {
                        free(out);
                        return "a string is not closed";
                }
                if (c < 0x20) {
                        free(out);
                        return "a string holds a control character";
                }
                if (c != '\\') {
                        *o++ = (char) c;
                        s++;
                        continue;
                }
                s++;
                switch (*s) {
                case '"': case '\\': case '/':
                        *o++ = *s++;
                        break;
                case 'b': *o++ = '\b'; s++; break;
                case 'f': *o++ = '\f'; s++; break;
                case 'n': *o++ = '\n'; s++; break;
                case 'r': *o++ = '\r'; s++; break;
                case 't': *o++ = '\t'; s++; break;
                case 'u': {
                        uint32_t cp, low;

                        if (!read_hex4(s + 1, &cp)) {
                                free(out);
                                return "a \\u escape needs 4 hex digits";
                        }
                        s += 5;
                        if (cp >= 0xd800 && cp < 0xdc00) {
                                if (s[0] != '\\' || s[1] != 'u' || !read_hex4(s + 2, &low) ||
                                    low < 0xdc00 || low >= 0xe000) {
                                        free(out);
                                        return "a \\u escape is half a surrogate pair";
                                }
                                s += 6;
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                        } else if (cp >= 0xdc00 && cp < 0xe000) {
                                free(out);
                                return "a \\u escape is half a surrogate pair";
                        }
                        if (cp == 0) {
                                free(out);
                                return "a string holds \\u0000";
                        }
                        o += put_utf8(o, cp);
                        break;
                }
                default:
                        free(out);
                        return "a string has an unknown escape";
                }
        }
        *o = '\0';
        *p = s + 1;
        *ret = out;
        return NULL;
}

static const char *read_value(const char **p, JsonMember *m) {
        const char *s = *p;
        char *end;

        if (*s == '"') {
                m->type = JSON_STRING;
                return read_string(p, &m->string);
        }
        if (strncmp(s, "true", 4) == 0 || strncmp(s, "false", 5) == 0) {
                m->type = JSON_BOOLEAN;
                m->boolean = *s == 't';
                *p = s + (m->boolean ? 4 : 5);
                return NULL;
        }
        if (strncmp(s, "null", 4) == 0) {
                m->type = JSON_NULL;
                *p = s + 4;
                return NULL;
        }
        if (*s == '-' || (*s >= '0' && *s <= '9')) {
                m->type = JSON_NUMBER;
                m->number = strtod(s, &end);
                if (end == s)
                        return "a number is malformed";
                *p = end;
                return NULL;
        }
        if (*s == '{' || *s == '[')
                return "a value is an object or an array (only strings, booleans, numbers "
                       "and null are read)";
        return "a value is not JSON";
}

const char *json_line_parse(const char *text, JsonLine *ret) {
        const char *p = skip_space(text), *why;

        memset(ret, 0, sizeof *ret);
        if (*p != '{')
                return "the line is not a JSON object";
        p = skip_space(p + 1);
        if (*p == '}')
                goto end;
        for (;;) {
                JsonMember *m;

                if (*p != '"')
                        return "a member's name is not a string";
                if (ret->n == JSON_LINE_MEMBERS_MAX)
                        return "the object has more than 16 members";
                m = &ret->members[ret->n];
                if ((why = read_string(&p, &m->key)))
                        return why;
                ret->n++;
                for (size_t i = 0; i + 1 < ret->n; i++)
                        if (strcmp(ret->members[i].key, m->key) == 0)
                                return "a member appears twice";
                p = skip_space(p);
                if (*p != ':')
                        return "a member's name is not followed by ':'";
                p = skip_space(p + 1);
                if ((why = read_value(&p, m)))
                        return why;
                p = skip_space(p);
                if (*p == ',') {
                        p = skip_space(p + 1);
                        continue;
                }
                if (*p == '}')
                        break;
                return "members are not separated by ','";
        }
end:
        p = skip_space(p + 1);
        if (*p)
                return "text follows the object";
        return NULL;
}

const JsonMember *json_line_get(const JsonLine *line, const char *key) {
        for (size_t i = 0; i < line->n; i++)
                if (strcmp(line->members[i].key, key) == 0)
                        return &line->members[i];
        return NULL;
}

void json_line_clear(JsonLine *line) {
        for (size_t i = 0; i < line->n; i++) {
                free(line->members[i].key);
                free(line->members[i].string);
        }
        line->n = 0;
}

const char *json_type_name(JsonType type) {
        switch (type) {
        case JSON_STRING:
                return "a string";
        case JSON_BOOLEAN:
                return "a boolean";
        case JSON_NUMBER:
                return "a number";
        default:
                return "null";
        }
}
