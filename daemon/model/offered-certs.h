/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The certificates applications offered as candidates (SelectCertificate,
 * AnswerChallenge), remembered in memory only, so that ListCertificates, tlsidctl and a
 * picker know them whatever database the application keeps them in. Only what a person
 * needs to recognise one is kept: never a key, never the DER. */
#pragma once

#include <glib.h>

#include "cert-info.h"

/* Certificates remembered at most; past it the one offered longest ago goes. */
#define OFFERED_CERTS_MAX 256

typedef struct {
        CertInfo *info;   /* identity, subject, issuer, nickname, validity, key type */
        char *offered_by; /* the application: the first component of the context id */
        gint64 last_offered;
} OfferedCert;

typedef struct OfferedCerts OfferedCerts;

OfferedCerts *offered_certs_new(void);
/* Accepts NULL. */
void offered_certs_free(OfferedCerts *offered);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OfferedCerts, offered_certs_free)

/* Notes the leaves of @candidates (Candidate*) as offered at @now by the application of
 * @context. */
void offered_certs_note(OfferedCerts *offered, GPtrArray *candidates, const char *context,
                        gint64 now);

/* The certificates offered, the most recent first (OfferedCert*, borrowed: valid until the
 * next note; transfer container). */
GPtrArray *offered_certs_list(OfferedCerts *offered);
