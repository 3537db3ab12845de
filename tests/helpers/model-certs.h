/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Candidates made by hand for the model's unit tests, without NSS: a leaf whose
 * fingerprint is one letter repeated, valid now, with a private key and no extensions,
 * so an empty CertificateRequest allows it. Header-only. */
#pragma once

#include <glib.h>
#include <string.h>

#include "cert-info.h"

/* A candidate "@letter" with a key of @type, issued @age seconds ago (the ranking puts
 * the newest first) (transfer full). */
static inline Candidate *model_candidate(char letter, CertKeyType type, gint64 age) {
        Candidate *c = g_new0(Candidate, 1);
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        c->leaf = g_new0(CertInfo, 1);
        memset(c->leaf->identity, letter, 64);
        c->leaf->identity[64] = '\0';
        c->leaf->key_type = type;
        c->leaf->key_bits = 2048;
        c->leaf->curve = type == CERT_KEY_EC ? CERT_CURVE_P256 : CERT_CURVE_NONE;
        c->leaf->not_before = now - age;
        c->leaf->not_after = now + 86400;
        c->chain = g_ptr_array_new_with_free_func((GDestroyNotify) cert_info_free);
        c->has_private_key = TRUE;
        return c;
}

/* Candidates for @letters, each RSA but for the letters in @ec (EC), each an hour older
 * than the one before it (transfer full). */
static inline GPtrArray *model_candidates(const char *letters, const char *ec) {
        GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);

        for (guint i = 0; letters[i]; i++)
                g_ptr_array_add(a, model_candidate(letters[i],
                                                   strchr(ec, letters[i]) ? CERT_KEY_EC
                                                                          : CERT_KEY_RSA,
                                                   3600 * (i + 1)));
        return a;
}

/* The fingerprint of "@letter" (static storage, one per call site's letter). */
static inline const char *model_fingerprint(char letter) {
        static char fps[26][65];
        char *fp = fps[(letter - 'a') % 26];

        memset(fp, letter, 64);
        fp[64] = '\0';
        return fp;
}
