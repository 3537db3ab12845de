/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A certificate request as the daemon sends it to RequestChoice, read into plain fields.
 *
 * No GTK and no bus here: the dialog shows what this holds, the agent answers for it. */
#pragma once

#include <glib.h>

/* The most certificates a request may list (the daemon lists at most the 64 best). */
#define PICKER_REQUEST_MAX_CERTIFICATES 64
/* The most CA names kept (a CertificateRequest may carry 256). */
#define PICKER_REQUEST_MAX_CA_NAMES 256

/* One eligible certificate of a request. */
typedef struct {
        char *identity;         /* SHA-256 of the DER, 64 hex characters */
        char *nickname;         /* "" when the database has none */
        char *subject;          /* RFC 4514 */
        char *issuer;           /* RFC 4514 */
        char *key_type;
        char *source;           /* "database" or "application" */
        char *offered_by;       /* the application, for source "application" */
        gint64 not_before;      /* Unix seconds */
        gint64 not_after;
} PickerCertificate;

/* What RequestChoice asks. */
typedef struct {
        char *id;
        char *context;
        char *label;            /* "" when the context has none */
        char *origin;
        char *reason;           /* "handshake" or "challenge" */
        char *realm;            /* "" unless a challenge named one */
        GStrv ca_names;         /* RFC 4514 names of the CAs the server accepts; empty: any */
        gboolean ephemeral;
        GPtrArray *certificates; /* of PickerCertificate */
        guint eligible_total;
        guint timeout_ms;
} PickerRequest;

/* Reads RequestChoice's @id and @request (a{sv}). Unknown keys are ignored (a newer daemon
 * may send more); a missing or mistyped "context", "origin" or "certificates", an empty
 * certificate list or a certificate without its identity is an error naming the field.
 * Returns NULL with @error set on failure (transfer full: picker_request_free()). */
PickerRequest *picker_request_new(const char *id, GVariant *request, GError **error);
/* Frees @request; accepts NULL. */
void picker_request_free(PickerRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PickerRequest, picker_request_free)

/* The certificate of @request whose identity is @identity, or NULL. */
const PickerCertificate *picker_request_find(const PickerRequest *request,
                                             const char *identity);
/* How the tab is named to the user: the context's label, its id when it has none. */
const char *picker_request_tab_name(const PickerRequest *request);

/* The common name of an RFC 4514 name ("CN=Alice,O=Example" gives "Alice"), or NULL when
 * it has none (transfer full). Escaped characters are unescaped. */
char *picker_name_common_name(const char *rfc4514);
/* What a certificate is called in a list: its nickname, else its subject's common name,
 * else its subject, else the start of its identity (transfer full). */
char *picker_certificate_title(const char *nickname, const char *subject,
                               const char *identity);
/* "2024-01-01 to 2026-01-01", in UTC, with "expired" or "not yet valid" when @now is
 * outside it (transfer full). */
char *picker_validity_text(gint64 not_before, gint64 not_after, gint64 now);
