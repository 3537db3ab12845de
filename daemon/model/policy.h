/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Admin policy for certificate selection: $XDG_CONFIG_HOME/tlsid/policy.json. */
#pragma once

#include <glib.h>

#include "cert-info.h"

typedef enum {
        POLICY_MODE_ASK = 0,
        POLICY_MODE_AUTO,
        POLICY_MODE_NONE,
} PolicyMode;

typedef struct Policy Policy;

/* The policy in force without a file: mode ask, nothing else. */
Policy *policy_new_default(void);
/* Parses @path. A missing file gives the default policy. A bad file is
 * INVALID_ARGUMENT with "policy.json:LINE:COLUMN: reason" (or naming the member, e.g.
 * "auto_select[2].pattern: ..."). */
Policy *policy_load(const char *path, GError **error);
/* Parses the text of a policy file that exists: @len bytes at @text (no NUL needed; one
 * inside is an error), named @file in errors ("policy.json"), by the rules and with the
 * errors of policy_load(), which reads the file and calls this. */
Policy *policy_parse(const char *text, gsize len, const char *file, GError **error);
void policy_free(Policy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Policy, policy_free)

/* $XDG_CONFIG_HOME/tlsid/policy.json (transfer full). */
char *policy_default_path(void);

/* The mode for @context: the override of the longest matching context prefix, else the
 * global mode. */
PolicyMode policy_mode_for(const Policy *policy, const char *context);
const char *policy_mode_to_string(PolicyMode mode);

/* With Chromium's AutoSelectCertificateForUrls semantics: of the auto_select patterns that
 * match https://@origin, only the most specific one counts (entries with the same pattern
 * pool their filters); the index in @certs of the first certificate that matches any of
 * its filters; -1 when none (later, less specific patterns are not tried). */
int policy_auto_select(const Policy *policy, const char *origin, CertInfo *const *certs,
                       guint n_certs);

/* The policy as JSON, for `tlsidctl policy` (transfer full). */
char *policy_to_json(const Policy *policy);
