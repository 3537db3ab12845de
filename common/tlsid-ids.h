/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of context ids, origins and identities, shared by daemon, library and tools. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "tlsid-limits.h"

/* Each check returns NULL when @s is valid, or a static string saying why it is not
 * ("must be 1 to 128 bytes", ...), for the caller to prefix with the field name. */
const char *id_context_check(const char *s);
const char *id_origin_check(const char *s);
/* "" or 64 lower-case hex characters. */
const char *id_identity_check(const char *s);
/* A certificate fingerprint: exactly 64 lower-case hex characters. */
const char *id_fingerprint_check(const char *s);

/* Choice states, as spelled on the bus. */
typedef enum {
        TLSID_STATE_UNDECIDED = 0,
        TLSID_STATE_NONE = 1,
        TLSID_STATE_CERTIFICATE = 2,
} TlsidStateCode;

/* "undecided", "none", "certificate". */
const char *choice_state_to_string(int state);
/* The state named @s, or -1. */
int choice_state_from_string(const char *s);
