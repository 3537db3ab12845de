/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One line of JSON holding one flat object (string, boolean, number and null members), as
 * tlsidctl agent --json reads its answers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define JSON_LINE_MEMBERS_MAX 16

typedef enum {
        JSON_STRING,
        JSON_BOOLEAN,
        JSON_NUMBER,
        JSON_NULL,
} JsonType;

typedef struct {
        char *key;
        JsonType type;
        char *string;           /* JSON_STRING: the value, unescaped, NUL-free UTF-8 */
        bool boolean;           /* JSON_BOOLEAN */
        double number;          /* JSON_NUMBER */
} JsonMember;

typedef struct {
        JsonMember members[JSON_LINE_MEMBERS_MAX];
        size_t n;
} JsonLine;

/* Parses @text into @ret (to be cleared with json_line_clear() whatever it returns).
 * Returns NULL, or why the line is not such an object (static text). */
const char *json_line_parse(const char *text, JsonLine *ret);
/* The member @key, or NULL. */
const JsonMember *json_line_get(const JsonLine *line, const char *key);
/* Frees what json_line_parse() stored. */
void json_line_clear(JsonLine *line);
/* The name of @type ("a string", "a boolean", ...), for error messages. */
const char *json_type_name(JsonType type);
