/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's context handles: opening, referencing, closing, and listing the daemon's
 * contexts. */
#include <errno.h>
#include <string.h>

#include "libtlsid-private.h"
#include "tlsid-limits.h"

int build_open_context(const char *name, unsigned flags, const char *label,
                       DBusMessage **ret_msg) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL;
        DBusMessageIter iter, dict;
        dbus_bool_t ephemeral = (flags & TLSID_CONTEXT_EPHEMERAL) != 0;

        msg = new_call(METHOD_OPEN_CONTEXT);
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &name) ||
            !open_dict(&iter, &dict))
                return set_oom();
        if (!dict_append(&dict, "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral) ||
            (label && !dict_append(&dict, "label", DBUS_TYPE_STRING, &label)) ||
            !dbus_message_iter_close_container(&iter, &dict)) {
                dbus_message_iter_abandon_container_if_open(&iter, &dict);
                return set_oom();
        }
        *ret_msg = TAKE_PTR(msg);
        return 0;
}

/* Frees a handle that is in no client's list. */
static void context_free(TlsidContext *ctx) {
        context_forget_calls(ctx);
        pthread_mutex_destroy(&ctx->calls_lock);
        free(ctx->name);
        free(ctx->label);
        free(ctx);
}

/* A new handle of @context, not yet in a client's list. */
static TlsidContext *context_new(const char *context, unsigned flags, const char *label) {
        TlsidContext *ctx = calloc(1, sizeof *ctx);

        if (!ctx)
                return NULL;
        ctx->refs = 1;
        ctx->flags = flags;
        pthread_mutex_init(&ctx->calls_lock, NULL);
        ctx->name = strdup(context);
        if (!ctx->name || (label && !(ctx->label = strdup(label)))) {
                context_free(ctx);
                return NULL;
        }
        return ctx;
}

_public_ int tlsid_context_open(TlsidClient *client, const char *context, unsigned flags,
                                const char *label, TlsidContext **ret_context) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg = NULL;
        TlsidContext *ctx;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_context)
                return set_error(-EINVAL, "ret_context is NULL");
        if ((r = check_context(context)) < 0)
                return r;
        if (flags & ~TLSID_CONTEXT_EPHEMERAL)
                return set_error(-EINVAL, "flags has unknown bits 0x%x",
                                 flags & ~TLSID_CONTEXT_EPHEMERAL);
        if (label && (r = check_text("label", label, TLSID_LABEL_MAX)) < 0)
                return r;

        ctx = context_new(context, flags, label);
        if (!ctx)
                return set_oom();
        r = build_open_context(context, flags, label, &msg);
        if (r >= 0)
                r = client_call(client, msg, NULL, &reply);
        if (r < 0) {
                context_free(ctx);
                return r;
        }

        ctx->client = tlsid_client_ref(client);
        pthread_mutex_lock(&client->lock);
        ctx->next = client->contexts;
        if (client->contexts)
                client->contexts->prev = ctx;
        client->contexts = ctx;
        pthread_mutex_unlock(&client->lock);
        *ret_context = ctx;
        return 0;
}

_public_ TlsidContext *tlsid_context_ref(TlsidContext *context) {
        if (context)
                __atomic_add_fetch(&context->refs, 1, __ATOMIC_RELAXED);
        return context;
}

_public_ TlsidContext *tlsid_context_unref(TlsidContext *context) {
        TlsidClient *c;

        if (!context || __atomic_sub_fetch(&context->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        c = context->client;
        pthread_mutex_lock(&c->lock);
        if (context->prev)
                context->prev->next = context->next;
        else
                c->contexts = context->next;
        if (context->next)
                context->next->prev = context->prev;
        pthread_mutex_unlock(&c->lock);
        context_free(context);
        tlsid_client_unref(c);
        return NULL;
}

_public_ void tlsid_context_unrefp(TlsidContext **context) {
        if (context)
                *context = tlsid_context_unref(*context);
}

_public_ const char *tlsid_context_get_name(TlsidContext *context) {
        return context ? context->name : NULL;
}

_public_ TlsidClient *tlsid_context_get_client(TlsidContext *context) {
        return context ? context->client : NULL;
}

const char *context_retry_name(TlsidContext *context) {
        bool closed;

        pthread_mutex_lock(&context->client->lock);
        closed = context->closed;
        pthread_mutex_unlock(&context->client->lock);
        return closed ? NULL : context->name;
}

/* CloseContext; on success (or when the daemon no longer has it) no handle of the
 * context is ever reopened. */
static int close_context(TlsidClient *c, const char *name, uint32_t *ret_dropped) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg;
        uint32_t dropped = 0;
        int r;

        msg = message_with_args(new_call(METHOD_CLOSE_CONTEXT), DBUS_TYPE_STRING, &name,
                                DBUS_TYPE_INVALID);
        /* No retry: reopening a context only to close it would be pointless. */
        r = client_call(c, msg, NULL, &reply);
        if (r >= 0)
                r = reply_get_u32(reply, METHOD_CLOSE_CONTEXT, &dropped);
        if (r >= 0 || r == -ENOENT) {
                pthread_mutex_lock(&c->lock);
                for (TlsidContext *ctx = c->contexts; ctx; ctx = ctx->next)
                        if (strcmp(ctx->name, name) == 0)
                                ctx->closed = true;
                pthread_mutex_unlock(&c->lock);
        }
        if (r < 0)
                return r;
        if (ret_dropped)
                *ret_dropped = dropped;
        return 0;
}

_public_ int tlsid_context_close(TlsidContext *context, uint32_t *ret_dropped) {
        if (!context)
                return set_error(-EINVAL, "context is NULL");
        return close_context(context->client, context->name, ret_dropped);
}

_public_ int tlsid_client_close_context(TlsidClient *client, const char *context,
                                        uint32_t *ret_dropped) {
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if ((r = check_context(context)) < 0)
                return r;
        return close_context(client, context, ret_dropped);
}

_public_ void tlsid_context_infos_free(TlsidContextInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].context);
                free(infos[i].label);
        }
        free(infos);
}

/* Reads a{sv} properties of one context; unknown keys are skipped. */
static int read_context_info(DBusMessageIter *dict, TlsidContextInfo *info) {
        DBusMessageIter entry, variant;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                const char *key;
                uint64_t v = 0;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);

                if (strcmp(key, "label") == 0) {
                        const char *label;

                        if (dbus_message_iter_get_arg_type(&variant) != DBUS_TYPE_STRING)
                                continue;
                        dbus_message_iter_get_basic(&variant, &label);
                        free(info->label);
                        if (!(info->label = strdup(label)))
                                return set_oom();
                        continue;
                }
                if (!variant_get_uint64(&variant, &v))
                        continue;
                if (strcmp(key, "ephemeral") == 0)
                        info->ephemeral = v != 0;
                else if (strcmp(key, "partitions") == 0)
                        info->partitions = (uint32_t) v;
                else if (strcmp(key, "tokens") == 0)
                        info->tokens = (uint32_t) v;
                else if (strcmp(key, "bytes") == 0)
                        info->bytes = v;
                else if (strcmp(key, "choices") == 0)
                        info->choices = (uint32_t) v;
        }
        if (!info->label && !(info->label = strdup("")))
                return set_oom();
        return 0;
}

/* Reads one (s context, a{sv} properties) of ListContexts at @strct into @item, a
 * TlsidContextInfo. */
static int read_context_entry(DBusMessageIter *strct, void *item) {
        TlsidContextInfo *info = item;
        DBusMessageIter dict;
        const char *name;

        dbus_message_iter_get_basic(strct, &name);
        if (!(info->context = strdup(name)))
                return set_oom();
        dbus_message_iter_next(strct);
        dbus_message_iter_recurse(strct, &dict);
        return read_context_info(&dict, info);
}

static void free_context_infos(void *items, size_t n) {
        tlsid_context_infos_free(items, n);
}

_public_ int tlsid_client_list_contexts(TlsidClient *client, TlsidContextInfo **ret_infos,
                                        size_t *ret_n) {
        ListCall call = {
                .id = METHOD_LIST_CONTEXTS,
                .item_size = sizeof(TlsidContextInfo),
                .read_item = read_context_entry,
                .free_items = free_context_infos,
        };
        void *infos = NULL;
        size_t n = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        r = client_list_all(client, &call, &infos, &n);
        if (r < 0)
                return r;
        *ret_infos = infos;
        *ret_n = n;
        return 0;
}
