/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Upper bounds of what values take in a message body, every alignment padding at its
 * worst, so that the sum of an entry's bounds never undercounts it: what the lists' byte
 * budgets and the eligible lists' build-time bound are counted in. */
#pragma once

#define WIRE_STRUCT 7                 /* a struct's or a dict entry's padding to 8 */
#define WIRE_STRING(len) ((len) + 8)  /* padding to 4, length, bytes, NUL */
#define WIRE_U32 7                    /* padding to 4, 4 bytes (b and u alike) */
#define WIRE_U64 15                   /* padding to 8, 8 bytes (t and x alike) */
#define WIRE_VARIANT 3                /* a one-letter signature: length, letter, NUL */
#define WIRE_DICT 14                  /* an a{sv}'s padding, length, padding to 8 */
#define WIRE_DICT_ENTRY(key, value) (WIRE_STRUCT + WIRE_STRING(sizeof(key) - 1) + \
                                     WIRE_VARIANT + (value))
