/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NSS certificate layer: the user's certificate database, read-only, and parsing of
 * certificates passed by clients. The only module of the daemon that uses NSS. */
#pragma once

#include <glib.h>

#include "cert-info.h"
#include "tlsid-limits.h"

typedef struct CertDb CertDb;


/* Initialises NSS read-only with an NSSInitContext of its own on @dir ("sql:/path"), or
 * with no database when @dir is NULL (clients' certificates are still parsed). */
CertDb *cert_db_open(const char *dir, GError **error);
/* Shuts its NSS context down; accepts NULL. */
void cert_db_free(CertDb *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CertDb, cert_db_free)

/* The default database: "sql:$HOME/.pki/nssdb" when it exists, else NULL
 * (transfer full). */
char *cert_db_default_dir(void);

/* The user's certificates that have a private key in the database, each with the chain
 * NSS builds for it (Candidate*, transfer full). */
GPtrArray *cert_db_list_user(CertDb *db, GError **error);

/* The certificate of the database whose SHA-256 is @identity, or NULL (transfer full). */
Candidate *cert_db_find(CertDb *db, const char *identity);

/* Parses a client's leaf and chain (DER) as temporary certificates; INVALID_ARGUMENT
 * naming @field when one does not parse. @chain may be NULL. */
Candidate *cert_db_parse_candidate(CertDb *db, GBytes *leaf, GPtrArray *chain,
                                   const char *field, GError **error);

/* Parses one DER certificate (for the server's certificate of a request). */
CertInfo *cert_db_parse(CertDb *db, GBytes *der, const char *field, GError **error);

/* The DER Name @der as an RFC 4514 string, shown as cert_text() makes it, or NULL when it
 * does not parse (transfer full). */
char *cert_db_name_text(CertDb *db, GBytes *der);
