/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The adapters' rules for a connection that hold whatever its TLS stack: its origin, the
 * partition and token it starts from, which signals concern it, and whether its partition
 * is still current. */
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

/* BeginConnection, or the stack's BeginConnectionFor. */
static int begin_connection(TlsidContext *context, const char *origin, char **ret_identity,
                            uint32_t *ret_generation, char **ret_peer_id, void **ret_token,
                            size_t *ret_len) {
        if (adapter_stack)
                return tlsid_context_begin_connection_for(context, origin, adapter_stack, NULL,
                                                          ret_identity, ret_generation,
                                                          ret_peer_id, ret_token, ret_len);
        return tlsid_context_begin_connection(context, origin, NULL, ret_identity,
                                              ret_generation, ret_peer_id, ret_token, ret_len);
}

static void take_session(TlsidContext *context, const char *origin, const char *identity,
                         uint32_t generation, void **ret_token, size_t *ret_len) {
        if (adapter_stack)
                (void) tlsid_context_take_session_for(context, origin, identity, generation,
                                                      adapter_stack, ret_token, ret_len);
        else
                (void) tlsid_context_take_session(context, origin, identity, generation,
                                                  ret_token, ret_len);
}

/* The token a connection resumes: a token this process made and has not sent yet serves
 * first, since the daemon cannot have it (a connection opened right after its
 * predecessor would miss it otherwise), used once: it is then never sent. The daemon is
 * still asked, for the partition (GetPartition then, which takes no token of the daemon's
 * in vain): only its answer, and no signal this process may not have read yet, says that
 * the token's partition is still the current one, and the peer id it gives names the
 * partition exactly (context, origin, identity, generation and the daemon's run).
 * Otherwise BeginConnection asks for both in one round trip. */
int adapter_plan_answer(TlsidContext *context, const char *origin, Put **own, char *identity,
                        uint32_t generation, char *peer_id, void *token, size_t len,
                        AdapterBegin *ret) {
        memset(ret, 0, sizeof *ret);
        snprintf(ret->identity, sizeof ret->identity, "%s", identity);
        if (strlen(peer_id) < sizeof ret->peer_id)
                memcpy(ret->peer_id, peer_id, strlen(peer_id) + 1);
        ret->generation = generation;
        free(identity);
        free(peer_id);
        if (ret->identity[0] != '\0' && !adapter_stack_resumes_identities) {
                if (*own) {
                        /* The origin has a certificate now: what is queued for it is stale,
                         * and dropped (none serves a partition with an identity). */
                        size_t stale_len;
                        void *stale = outbox_take(context, origin, ret->peer_id, &stale_len);

                        tlsid_secret_free(stale, stale_len);
                }
                put_free(*own);
                *own = NULL;
                tlsid_secret_free(token, len);
                return 0;
        }
        /* Ours when it was made under the partition the daemon just named; else one queued
         * meanwhile; else, when ours was made under a partition gone since (a switch, a
         * flush), the daemon's: it may hold tokens of the current one. */
        if (*own && put_serves(*own, ret->peer_id)) {
                token = put_steal_token(*own, &len);
                ret->object = (*own)->object;
                ret->object_free = (*own)->object_free;
                (*own)->object = NULL;
        } else if (!token)
                token = outbox_take(context, origin, ret->peer_id, &len);
        ret->token = token;
        ret->len = token ? len : 0;
        return !token && *own;
}

int adapter_begin_partition(TlsidContext *context, const char *origin, AdapterBegin *ret) {
        char *identity = NULL, *peer_id = NULL;
        void *token = NULL;
        size_t len = 0;
        uint32_t generation = 0;
        Put *own;
        int r;

        own = outbox_claim(context, origin);
        if (own)
                r = tlsid_context_get_partition(context, origin, NULL, &identity, &generation,
                                                &peer_id);
        else
                r = begin_connection(context, origin, &identity, &generation, &peer_id, &token,
                                     &len);
        if (r < 0) {
                put_free(own);
                return r;
        }
        if (adapter_plan_answer(context, origin, &own, identity, generation, peer_id, token, len,
                                ret) > 0) {
                take_session(context, origin, ret->identity, ret->generation, &ret->token,
                             &ret->len);
                if (!ret->token)
                        ret->len = 0;
        }
        put_free(own);
        return 0;
}
