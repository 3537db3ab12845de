/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The adapters' rules for a connection that hold whatever its TLS stack: its origin, which
 * signals concern it, and whether its partition is still current. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter-private.h"

int adapter_make_origin(const char *host, uint16_t port, char *out, size_t size) {
        bool bracket = strchr(host, ':') && host[0] != '[';
        int k = snprintf(out, size, "%s%s%s:%u", bracket ? "[" : "", host, bracket ? "]" : "",
                         (unsigned) port);

        if (k < 0 || (size_t) k >= size || id_origin_check(out))
                return -EINVAL;
        return 0;
}

int adapter_signal_matches(TlsidContext *own_context, const char *own_origin,
                           const char *context, const char *origin) {
        if (!context || !origin)
                return -EINVAL;
        if (*context && strcmp(context, tlsid_context_get_name(own_context)) != 0)
                return 0;
        return !*origin || strcmp(origin, own_origin) == 0;
}

int adapter_partition_is_current(TlsidContext *context, const char *origin,
                                 const char *identity, uint32_t generation, bool stale,
                                 bool degraded) {
        char *now_identity = NULL;
        uint32_t now_generation;
        int r;

        if (stale)
                return 0;
        r = tlsid_context_get_partition(context, origin, NULL, &now_identity, &now_generation,
                                        NULL);
        if (r < 0)
                return r;
        /* A degraded connection was made outside any partition: retire it once the daemon
         * answers again. */
        r = !degraded && now_generation == generation && strcmp(now_identity, identity) == 0;
        free(now_identity);
        return r;
}
