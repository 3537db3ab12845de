/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cleanup helpers for the NSS types the certificate layer holds, declared once. */
#pragma once

#include <glib.h>

#include <cert.h>
#include <keyhi.h>
#include <secitem.h>
#include <secport.h>

static inline void nss_arena_free(PLArenaPool *arena) {
        PORT_FreeArena(arena, PR_FALSE);
}

/* A string NSS allocated with PORT_Alloc (CERT_NameToAscii). */
typedef char NssString;
static inline void nss_string_free(NssString *s) {
        PORT_Free(s);
}

/* A SECItem on the stack whose data NSS allocated (CERT_FindCertExtension). */
static inline void nss_item_clear(SECItem *item) {
        SECITEM_FreeItem(item, PR_FALSE);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CERTCertificate, CERT_DestroyCertificate)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CERTCertList, CERT_DestroyCertList)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CERTOidSequence, CERT_DestroyOidSequence)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SECKEYPublicKey, SECKEY_DestroyPublicKey)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PLArenaPool, nss_arena_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NssString, nss_string_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SECItem, nss_item_clear)
