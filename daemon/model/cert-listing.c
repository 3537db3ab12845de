/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The order of ListCertificates and where a page of it starts. */
#include "cert-listing.h"

#include <string.h>

#include "offered-certs.h"

const char *cert_source_to_string(CertSource source) {
        return source == CERT_SOURCE_APPLICATION ? "application" : "database";
}

gboolean cert_source_from_string(const char *name, CertSource *ret_source) {
        if (strcmp(name, "database") == 0)
                *ret_source = CERT_SOURCE_DATABASE;
        else if (strcmp(name, "application") == 0)
                *ret_source = CERT_SOURCE_APPLICATION;
        else
                return FALSE;
        return TRUE;
}

/* The key order: the source, then the identity (byte order). */
static int key_compare(CertSource a_source, const char *a_identity, CertSource b_source,
                       const char *b_identity) {
        if (a_source != b_source)
                return a_source < b_source ? -1 : 1;
        return strcmp(a_identity, b_identity);
}

static int entry_compare(gconstpointer a, gconstpointer b) {
        const CertListEntry *x = a, *y = b;

        return key_compare(x->source, x->info->identity, y->source, y->info->identity);
}

GArray *cert_listing_new(GPtrArray *database, GPtrArray *offered) {
        guint n_database = database ? database->len : 0;
        GArray *listing = g_array_sized_new(FALSE, FALSE, sizeof(CertListEntry),
                                            n_database + offered->len);
        g_autoptr(GHashTable) held = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint i = 0; i < n_database; i++) {
                const CertInfo *leaf = ((Candidate *) database->pdata[i])->leaf;
                CertListEntry e = { CERT_SOURCE_DATABASE, leaf, NULL };

                g_hash_table_add(held, (gpointer) leaf->identity);
                g_array_append_val(listing, e);
        }
        for (guint i = 0; i < offered->len; i++) {
                const OfferedCert *c = offered->pdata[i];
                CertListEntry e = { CERT_SOURCE_APPLICATION, c->info, c->offered_by };

                if (!g_hash_table_contains(held, c->info->identity))
                        g_array_append_val(listing, e);
        }
        g_array_sort(listing, entry_compare);
        return listing;
}

guint cert_listing_after(GArray *listing, CertSource source, const char *identity) {
        guint lo = 0, hi = listing->len;

        /* The first entry whose key is greater: the keys are unique and sorted. */
        while (lo < hi) {
                guint mid = lo + (hi - lo) / 2;
                const CertListEntry *e = &g_array_index(listing, CertListEntry, mid);

                if (key_compare(e->source, e->info->identity, source, identity) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}
