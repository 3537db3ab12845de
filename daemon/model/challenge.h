/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport auth-scheme (docs/transport-challenge.md): finding the challenge among a
 * response's field values and reading its hints. Pure: no D-Bus, no NSS, no store. */
#pragma once

#include <glib.h>

#include "cert-info.h"

/* Field values past this many are not parsed (AnswerChallenge's bound). */
#define CHALLENGE_VALUES_MAX 64
/* ca-names entries past this many are ignored (as SelectCertificate's ca_names). */
#define CHALLENGE_CA_NAMES_MAX 256
/* The longest url hint taken. */
#define CHALLENGE_URL_MAX 2048

/* key-types hint bits; 0 means any. */
#define CHALLENGE_KEY_RSA (1u << 0)
#define CHALLENGE_KEY_EC (1u << 1)
#define CHALLENGE_KEY_ED25519 (1u << 2)

typedef struct {
        gboolean found;     /* a usable transport challenge is among the values */
        GPtrArray *schemes; /* char*: every challenge's auth-scheme, lower-case, in order */
        char *error;        /* nullable: the first reason a value or hint was ignored */
        char *realm;        /* nullable */
        char *url;          /* nullable: a valid https URL */
        GPtrArray *ca_names; /* GBytes*: DER names; empty: any CA */
        guint key_types;    /* CHALLENGE_KEY_*; 0: any */
} TransportChallenge;

/* Parses @n field values (at most CHALLENGE_VALUES_MAX are read) and takes the first
 * valid challenge of scheme "transport" whose mode is "tls-client-certificate". Never
 * fails: what does not parse is noted in ->error. Transfer full. */
TransportChallenge *transport_challenge_find(const char *const *values, guint n);
void transport_challenge_free(TransportChallenge *challenge);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TransportChallenge, transport_challenge_free)

/* Whether a certificate whose key is @type satisfies the key-types hint @key_types. */
gboolean challenge_key_type_allowed(guint key_types, CertKeyType type);

/* The value a client sends in Authorization (Proxy-Authorization) to decline with @status
 * ("declined" or "unavailable"); transfer full. */
char *challenge_decline_value(const char *status);
