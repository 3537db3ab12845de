/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Certificates on the wire: reading SelectCertificate's request and candidates off a
 * call (bounded by common/tlsid-limits.h, parsed by the certificate layer), and writing a
 * certificate's description (the a{sv} of ListCertificates and of "eligible") within
 * known bounds. */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#include "certs.h"
#include "eligibility.h"
#include "tlsid-limits.h"
#include "wire-size.h"

/* Reads the request a{sv} at @it into @request (and advances @it). @certs (nullable: NSS
 * is not available) parses a server certificate. INVALID_ARGUMENT names the key. */
gboolean read_cert_request(CertDb *certs, DBusMessageIter *it, CertRequest *request,
                           GError **error);

/* INVALID_ARGUMENT naming @field when @timeout_ms is more than
 * TLSID_INTERACTIVE_TIMEOUT_MAX_MS (an interactive_timeout_ms). */
gboolean check_interactive_timeout(const char *field, guint32 timeout_ms, GError **error);

/* Reads the candidates a(ayaaya{sv}) at @it (leaf, chain, "nickname") as Candidate*
 * (transfer full; NULL exactly on error), parsed by @certs (nullable: then any candidate
 * is FAILED). */
GPtrArray *read_candidates(CertDb *certs, DBusMessageIter *it, GError **error);

/* Appends @info as an a{sv}: identity, subject, issuer, not_before, not_after, key_type
 * and, when given, nickname, source ("database" or "application") and offered_by (the
 * application that offered it, the first part of a context id). The names are shown as
 * cert_text() makes them. */
void append_cert_info(DBusMessageIter *array, const CertInfo *info, const char *source,
                      const char *offered_by);

/* What append_cert_info() appends at the most, counted as wire-size.h counts, with
 * every string at its longest. */
#define CERT_INFO_WIRE_FIXED                                                                \
        (WIRE_DICT + WIRE_DICT_ENTRY("identity", WIRE_STRING(TLSID_IDENTITY_LEN)) +         \
         WIRE_DICT_ENTRY("subject", WIRE_STRING(0)) +                                       \
         WIRE_DICT_ENTRY("issuer", WIRE_STRING(0)) +                                        \
         WIRE_DICT_ENTRY("not_before", WIRE_U64) + WIRE_DICT_ENTRY("not_after", WIRE_U64) + \
         WIRE_DICT_ENTRY("key_type", WIRE_STRING(sizeof "unknown" - 1)) +                   \
         WIRE_DICT_ENTRY("nickname", WIRE_STRING(0)) +                                      \
         WIRE_DICT_ENTRY("source", WIRE_STRING(sizeof "application" - 1)) +                \
         WIRE_DICT_ENTRY("offered_by", WIRE_STRING(0)))
#define CERT_INFO_WIRE_MAX (CERT_INFO_WIRE_FIXED + 3 * TLSID_CERT_TEXT_MAX + TLSID_CONTEXT_MAX)

/* An upper bound of what append_cert_info(@info, @source, @offered_by) appends, at most
 * CERT_INFO_WIRE_MAX, without building it. */
gsize cert_info_wire_bound(const CertInfo *info, const char *source, const char *offered_by);

/* Appends the eligible certificates @eligible (CertInfo*, best first; nullable: none) as
 * an aa{sv} of the first TLSID_ELIGIBLE_MAX, and returns how many there are in all. */
guint append_eligible(DBusMessageIter *it, GPtrArray *eligible);
