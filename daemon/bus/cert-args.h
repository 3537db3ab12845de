/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Certificates on the wire: reading SelectCertificate's request and candidates off a
 * call (bounded by common/tlsid-limits.h, parsed by the certificate layer), and writing a
 * certificate's description (the a{sv} of ListCertificates and of "eligible"). */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#include "certs.h"
#include "eligibility.h"

/* Reads the request a{sv} at @it into @request (and advances @it). @certs (nullable: NSS
 * is not available) parses a server certificate. INVALID_ARGUMENT names the key. */
gboolean read_cert_request(CertDb *certs, DBusMessageIter *it, CertRequest *request,
                           GError **error);

/* Reads the candidates a(ayaaya{sv}) at @it (leaf, chain, "nickname") as Candidate*
 * (transfer full; NULL exactly on error), parsed by @certs (nullable: then any candidate
 * is FAILED). */
GPtrArray *read_candidates(CertDb *certs, DBusMessageIter *it, GError **error);

/* Appends @info as an a{sv}: identity, subject, issuer, not_before, not_after, key_type
 * and, when given, nickname, source ("database" or "application") and offered_by (the
 * application that offered it). */
void append_cert_info(DBusMessageIter *array, const CertInfo *info, const char *source,
                      const char *offered_by);
