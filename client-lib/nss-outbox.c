/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-nss's side of the adapters' outbox (adapter-outbox.c): NSS's tokens queued from
 * a connection, dropped when NSS shuts down (they belong to its key), flushed on demand. */
#include <nss.h>

#include "libtlsid-nss-private.h"

const char adapter_name[] = "libtlsid-nss";
const char *const adapter_stack = NULL;
const bool adapter_stack_resumes_identities = false;

static bool hooked; /* under the outbox's lock: NSS_RegisterShutdown done */

/* NSS is shutting down: what is queued is dropped, the put being sent waited for. */
static SECStatus on_nss_shutdown(void *app_data, void *nss_data) {
        __atomic_store_n(&hooked, false, __ATOMIC_RELEASE);
        outbox_drop_queued();
        return SECSuccess;
}

bool outbox_may_queue(void) {
        if (!__atomic_load_n(&hooked, __ATOMIC_ACQUIRE))
                __atomic_store_n(&hooked,
                                 NSS_RegisterShutdown(on_nss_shutdown, NULL) == SECSuccess,
                                 __ATOMIC_RELEASE);
        return __atomic_load_n(&hooked, __ATOMIC_ACQUIRE);
}

void nss_outbox_put(TlsidNssConnection *c, void *token, size_t len, int64_t expires,
                    uint16_t version, const char *alpn) {
        AdapterPartition at = {
                .context = c->context,
                .origin = c->origin,
                .identity = c->identity,
                .generation = c->generation,
                .peer_id = c->peer_id,
        };

        outbox_put(&at, token, len, expires, version, alpn, NULL, NULL);
}

_public_ int tlsid_nss_flush(uint64_t usec) {
        return outbox_flush(usec);
}
