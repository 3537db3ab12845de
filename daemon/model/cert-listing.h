/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What ListCertificates lists, in its order: the user's certificates of the daemon's NSS
 * database, then those applications offered that the database does not hold, each part
 * sorted by identity, so that a page resumes after the key of the last entry given,
 * whatever came or went since. */
#pragma once

#include <glib.h>

#include "cert-info.h"

typedef enum {
        CERT_SOURCE_DATABASE = 0,    /* the daemon's NSS database */
        CERT_SOURCE_APPLICATION = 1, /* offered as a candidate (offered-certs.h) */
} CertSource;

/* "database" or "application", as ListCertificates' "source" spells it (static). */
const char *cert_source_to_string(CertSource source);
/* The source @name spells; FALSE when it is neither. */
gboolean cert_source_from_string(const char *name, CertSource *ret_source);

typedef struct {
        CertSource source;
        const CertInfo *info;   /* borrowed */
        const char *offered_by; /* borrowed; the application that offered it, else NULL */
} CertListEntry;

/* The entries (CertListEntry) of @database's leaves (Candidate*, nullable: no database)
 * and of @offered (OfferedCert*) not among them, in list order. They borrow from both
 * arrays' elements (transfer container). */
GArray *cert_listing_new(GPtrArray *database, GPtrArray *offered);
/* The index of the first entry of @listing (from cert_listing_new()) whose key sorts
 * after (@source, @identity), which need not be listed (gone since); the length when
 * none does. */
guint cert_listing_after(GArray *listing, CertSource source, const char *identity);
