/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The certificates applications offered, in memory, bounded. */
#include "offered-certs.h"

#include <string.h>

struct OfferedCerts {
        GHashTable *by_identity; /* identity -> GList* node of @order */
        GQueue order;            /* OfferedCert*, most recently offered first */
};

static void offered_cert_free(OfferedCert *c) {
        cert_info_free(c->info);
        g_free(c->offered_by);
        g_free(c);
}

OfferedCerts *offered_certs_new(void) {
        OfferedCerts *o = g_new0(OfferedCerts, 1);

        o->by_identity = g_hash_table_new(g_str_hash, g_str_equal);
        g_queue_init(&o->order);
        return o;
}

void offered_certs_free(OfferedCerts *o) {
        if (!o)
                return;
        g_hash_table_destroy(o->by_identity);
        g_queue_clear_full(&o->order, (GDestroyNotify) offered_cert_free);
        g_free(o);
}

/* What a person recognises a certificate by, and nothing else: the names as they are
 * shown, so that 256 of them stay small whatever the certificates hold. */
static CertInfo *summary_of(const CertInfo *leaf) {
        CertInfo *info = g_new0(CertInfo, 1);

        memcpy(info->identity, leaf->identity, sizeof info->identity);
        info->subject = cert_text(leaf->subject);
        info->issuer = cert_text(leaf->issuer);
        info->nickname = leaf->nickname ? cert_text(leaf->nickname) : NULL;
        info->not_before = leaf->not_before;
        info->not_after = leaf->not_after;
        info->key_type = leaf->key_type;
        return info;
}

static char *application_of(const char *context) {
        const char *slash = strchr(context, '/');

        return slash ? g_strndup(context, (gsize) (slash - context)) : g_strdup(context);
}

void offered_certs_note(OfferedCerts *o, GPtrArray *candidates, const char *context,
                        gint64 now) {
        for (guint i = 0; candidates && i < candidates->len; i++) {
                const CertInfo *leaf = ((Candidate *) candidates->pdata[i])->leaf;
                GList *link = g_hash_table_lookup(o->by_identity, leaf->identity);
                OfferedCert *c;

                if (link) {
                        /* Seen again (at every handshake that asks): newest first, and
                         * copied again only when its name or application changed. */
                        g_autofree char *by = application_of(context);

                        c = link->data;
                        g_queue_unlink(&o->order, link);
                        g_queue_push_head_link(&o->order, link);
                        c->last_offered = now;
                        if (g_strcmp0(c->info->nickname, leaf->nickname) == 0 &&
                            strcmp(c->offered_by, by) == 0)
                                continue;
                        /* Its key is the identity inside the info about to be replaced. */
                        g_hash_table_remove(o->by_identity, leaf->identity);
                        cert_info_free(c->info);
                        g_free(c->offered_by);
                } else {
                        if (o->order.length >= OFFERED_CERTS_MAX) {
                                OfferedCert *oldest = g_queue_pop_tail(&o->order);

                                g_hash_table_remove(o->by_identity, oldest->info->identity);
                                offered_cert_free(oldest);
                        }
                        c = g_new0(OfferedCert, 1);
                        g_queue_push_head(&o->order, c);
                        link = o->order.head;
                }
                c->info = summary_of(leaf);
                c->offered_by = application_of(context);
                c->last_offered = now;
                g_hash_table_insert(o->by_identity, c->info->identity, link);
        }
}

GPtrArray *offered_certs_list(OfferedCerts *o) {
        GPtrArray *list = g_ptr_array_sized_new(o->order.length);

        for (GList *l = o->order.head; l; l = l->next)
                g_ptr_array_add(list, l->data);
        return list;
}
