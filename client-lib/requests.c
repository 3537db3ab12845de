/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's requests: the prompts waiting for the user's answer (ListRequests). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "libtlsid-private.h"
#include "tlsid-limits.h"

/* Every string of a TlsidRequestInfo, by its ListRequests key. */
static const StringField strings[] = {
        { "id", offsetof(TlsidRequestInfo, id) },
        { "context", offsetof(TlsidRequestInfo, context) },
        { "label", offsetof(TlsidRequestInfo, label) },
        { "origin", offsetof(TlsidRequestInfo, origin) },
        { "reason", offsetof(TlsidRequestInfo, reason) },
        { "agent", offsetof(TlsidRequestInfo, agent) },
};

static char **string_of(TlsidRequestInfo *info, size_t k) {
        return (char **) ((char *) info + strings[k].offset);
}

_public_ void tlsid_request_infos_free(TlsidRequestInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
                        free(*string_of(&infos[i], k));
        free(infos);
}

/* Reads one request's a{sv}; unknown keys are skipped, missing strings read as "". */
static int read_request_info(DBusMessageIter *dict, TlsidRequestInfo *info) {

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                DBusMessageIter entry, variant;
                const char *key;
                uint64_t v;
                int r;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                r = read_string_field(key, &variant, strings, sizeof strings / sizeof strings[0],
                                      info);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (strcmp(key, "since") == 0 &&
                           dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_INT64) {
                        dbus_int64_t since;

                        dbus_message_iter_get_basic(&variant, &since);
                        info->since = since;
                } else if (strcmp(key, "waiters") == 0 && variant_get_uint64(&variant, &v)) {
                        info->waiters = v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
                }
        }
        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
                if (!*string_of(info, k) && !(*string_of(info, k) = strdup("")))
                        return set_oom();
        return 0;
}

_public_ int tlsid_client_list_requests(TlsidClient *client, TlsidRequestInfo **ret_infos,
                                        size_t *ret_n) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        TlsidRequestInfo *infos = NULL;
        DBusMessageIter array, dict;
        size_t n = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        r = client_call_array(client, METHOD_LIST_REQUESTS, new_call(METHOD_LIST_REQUESTS), NULL,
                              &reply, &array, &n);
        if (r < 0)
                return r;
        /* The daemon's bound: a longer reply is not the daemon we know. */
        if (n > TLSID_AGENT_REQUESTS_MAX)
                return set_error(-EIO, "ListRequests: %zu requests, more than %d", n,
                                 TLSID_AGENT_REQUESTS_MAX);
        if (n > 0 && !(infos = calloc(n, sizeof *infos)))
                return set_oom();
        for (size_t i = 0; i < n; i++, dbus_message_iter_next(&array)) {
                dbus_message_iter_recurse(&array, &dict);
                r = read_request_info(&dict, &infos[i]);
                if (r < 0) {
                        tlsid_request_infos_free(infos, n);
                        return r;
                }
        }
        *ret_infos = infos;
        *ret_n = n;
        return 0;
}
