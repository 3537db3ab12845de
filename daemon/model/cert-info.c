/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CertInfo and Candidate: freeing, the dotted form of OIDs, and the bounded text of a
 * certificate's names. */
#include "cert-info.h"

#include <string.h>

#include "tlsid-limits.h"

char *cert_oid_to_dotted(const guint8 *oid, gsize len) {
        g_autoptr(GString) out = NULL;
        guint64 arc = 0;
        gboolean first = TRUE;

        /* The last octet must end an arc, and an arc must not start with 0x80 (X.690
         * 8.19.2: the shortest encoding). */
        if (!oid || len == 0 || len > 256 || (oid[len - 1] & 0x80))
                return NULL;
        out = g_string_new(NULL);
        for (gsize i = 0; i < len; i++) {
                if (arc == 0 && oid[i] == 0x80)
                        return NULL;
                if (arc > (G_MAXUINT64 >> 7))
                        return NULL;
                arc = (arc << 7) | (oid[i] & 0x7f);
                if (oid[i] & 0x80)
                        continue;
                if (first) {
                        /* The first subidentifier holds the first two arcs (X.690 8.19.4). */
                        guint64 top = arc < 40 ? 0 : arc < 80 ? 1 : 2;

                        g_string_append_printf(out, "%" G_GUINT64_FORMAT ".%" G_GUINT64_FORMAT,
                                               top, arc - top * 40);
                        first = FALSE;
                } else {
                        g_string_append_printf(out, ".%" G_GUINT64_FORMAT, arc);
                }
                arc = 0;
        }
        return g_string_free(g_steal_pointer(&out), FALSE);
}

char *cert_text(const char *text) {
        static const char ellipsis[] = "...";
        char *valid = g_utf8_make_valid(text ? text : "", -1);
        gsize len = strlen(valid);
        const char *end;

        if (len <= TLSID_CERT_TEXT_MAX)
                return valid;
        /* The last whole character that leaves room for the ellipsis. */
        end = g_utf8_find_prev_char(valid, valid + TLSID_CERT_TEXT_MAX - strlen(ellipsis) + 1);
        memcpy((char *) end, ellipsis, sizeof ellipsis);
        return valid;
}

static void cert_name_clear(CertName *name) {
        g_clear_pointer(&name->cn, g_free);
        g_clear_pointer(&name->l, g_free);
        g_clear_pointer(&name->o, g_strfreev);
        g_clear_pointer(&name->ou, g_strfreev);
}

void cert_info_free(CertInfo *info) {
        if (!info)
                return;
        g_clear_pointer(&info->der, g_bytes_unref);
        g_free(info->subject);
        g_free(info->issuer);
        g_clear_pointer(&info->subject_der, g_bytes_unref);
        g_clear_pointer(&info->issuer_der, g_bytes_unref);
        cert_name_clear(&info->subject_name);
        cert_name_clear(&info->issuer_name);
        g_free(info->nickname);
        g_clear_pointer(&info->dh_group, g_bytes_unref);
        g_clear_pointer(&info->extensions, g_hash_table_unref);
        g_free(info);
}

void candidate_free(Candidate *candidate) {
        if (!candidate)
                return;
        cert_info_free(candidate->leaf);
        g_clear_pointer(&candidate->chain, g_ptr_array_unref);
        g_free(candidate);
}
