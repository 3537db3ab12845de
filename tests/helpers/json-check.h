/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A strict JSON syntax checker (RFC 8259) for testing tlsidctl --json output. */
#pragma once

#include <stdbool.h>

/* Whether @text is exactly one JSON value, optionally surrounded by white space. On
 * failure @ret_offset (nullable) gets the byte offset of the first error. */
bool json_check(const char *text, long *ret_offset);
