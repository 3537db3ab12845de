/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading RequestChoice's request into a PickerRequest, and the names and dates shown. */
#include "picker-request.h"

#include <gio/gio.h>
#include <string.h>

static char *lookup_string(GVariant *dict, const char *key) {
        g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_STRING);

        return g_strdup(value ? g_variant_get_string(value, NULL) : "");
}

static gboolean lookup_required_string(GVariant *dict, const char *field, const char *key,
                                       char **ret, GError **error) {
        g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_STRING);

        if (!value || !*g_variant_get_string(value, NULL)) {
                g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                            "%s%s: missing, empty or not a string", field, key);
                return FALSE;
        }
        *ret = g_variant_dup_string(value, NULL);
        return TRUE;
}

static gint64 lookup_int64(GVariant *dict, const char *key) {
        g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_INT64);

        return value ? g_variant_get_int64(value) : 0;
}

static guint lookup_uint32(GVariant *dict, const char *key) {
        g_autoptr(GVariant) value = g_variant_lookup_value(dict, key, G_VARIANT_TYPE_UINT32);

        return value ? g_variant_get_uint32(value) : 0;
}

static void certificate_free(gpointer data) {
        PickerCertificate *cert = data;

        g_free(cert->identity);
        g_free(cert->nickname);
        g_free(cert->subject);
        g_free(cert->issuer);
        g_free(cert->key_type);
        g_free(cert->source);
        g_free(cert->offered_by);
        g_free(cert);
}

static PickerCertificate *certificate_new(GVariant *dict, gsize index, GError **error) {
        PickerCertificate *cert = g_new0(PickerCertificate, 1);
        g_autofree char *field = g_strdup_printf("request.certificates[%" G_GSIZE_FORMAT "].",
                                                 index);

        if (!lookup_required_string(dict, field, "identity", &cert->identity, error)) {
                certificate_free(cert);
                return NULL;
        }
        cert->nickname = lookup_string(dict, "nickname");
        cert->subject = lookup_string(dict, "subject");
        cert->issuer = lookup_string(dict, "issuer");
        cert->key_type = lookup_string(dict, "key_type");
        cert->source = lookup_string(dict, "source");
        cert->offered_by = lookup_string(dict, "offered_by");
        cert->not_before = lookup_int64(dict, "not_before");
        cert->not_after = lookup_int64(dict, "not_after");
        return cert;
}

PickerRequest *picker_request_new(const char *id, GVariant *request, GError **error) {
        g_autoptr(PickerRequest) req = g_new0(PickerRequest, 1);
        g_autoptr(GVariant) certificates = NULL;
        g_autoptr(GVariant) ephemeral = NULL;
        g_autoptr(GVariant) ca_names = NULL;
        GVariantIter iter;
        GVariant *dict;

        req->id = g_strdup(id);
        req->certificates = g_ptr_array_new_with_free_func(certificate_free);
        if (!lookup_required_string(request, "request.", "context", &req->context, error) ||
            !lookup_required_string(request, "request.", "origin", &req->origin, error))
                return NULL;
        req->label = lookup_string(request, "label");
        req->reason = lookup_string(request, "reason");
        req->realm = lookup_string(request, "realm");
        ephemeral = g_variant_lookup_value(request, "ephemeral", G_VARIANT_TYPE_BOOLEAN);
        req->ephemeral = ephemeral && g_variant_get_boolean(ephemeral);
        req->timeout_ms = lookup_uint32(request, "timeout_ms");
        ca_names = g_variant_lookup_value(request, "ca_names", G_VARIANT_TYPE_STRING_ARRAY);
        {
                g_autoptr(GStrvBuilder) names = g_strv_builder_new();
                gsize n = ca_names ? g_variant_n_children(ca_names) : 0;

                for (gsize i = 0; i < MIN(n, PICKER_REQUEST_MAX_CA_NAMES); i++) {
                        g_autoptr(GVariant) name = g_variant_get_child_value(ca_names, i);

                        g_strv_builder_add(names, g_variant_get_string(name, NULL));
                }
                req->ca_names = g_strv_builder_end(names);
        }

        certificates = g_variant_lookup_value(request, "certificates",
                                              G_VARIANT_TYPE("aa{sv}"));
        if (!certificates || g_variant_n_children(certificates) == 0) {
                g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                            "request.certificates: missing, empty or not aa{sv}");
                return NULL;
        }
        g_variant_iter_init(&iter, certificates);
        while ((dict = g_variant_iter_next_value(&iter))) {
                g_autoptr(GVariant) owned = dict;
                PickerCertificate *cert;

                if (req->certificates->len == PICKER_REQUEST_MAX_CERTIFICATES)
                        break;
                cert = certificate_new(dict, req->certificates->len, error);
                if (!cert)
                        return NULL;
                g_ptr_array_add(req->certificates, cert);
        }
        req->eligible_total = MAX(lookup_uint32(request, "eligible_total"),
                                  g_variant_n_children(certificates));
        return g_steal_pointer(&req);
}

void picker_request_free(PickerRequest *request) {
        if (!request)
                return;
        g_free(request->id);
        g_free(request->context);
        g_free(request->label);
        g_free(request->origin);
        g_free(request->reason);
        g_free(request->realm);
        g_strfreev(request->ca_names);
        g_clear_pointer(&request->certificates, g_ptr_array_unref);
        g_free(request);
}

const PickerCertificate *picker_request_find(const PickerRequest *request,
                                             const char *identity) {
        for (guint i = 0; identity && i < request->certificates->len; i++) {
                const PickerCertificate *cert = g_ptr_array_index(request->certificates, i);

                if (strcmp(cert->identity, identity) == 0)
                        return cert;
        }
        return NULL;
}

const char *picker_request_tab_name(const PickerRequest *request) {
        return *request->label ? request->label : request->context;
}

char *picker_name_common_name(const char *rfc4514) {
        const char *p = rfc4514;

        /* RDNs are separated by unescaped commas (or plus signs within one RDN). */
        while (p && *p) {
                const char *start = p;
                GString *value = NULL;

                while (*p == ' ')
                        p++;
                if (g_ascii_strncasecmp(p, "CN=", 3) == 0) {
                        value = g_string_new(NULL);
                        p += 3;
                }
                for (; *p && *p != ',' && *p != '+'; p++) {
                        if (*p == '\\' && p[1])
                                p++;
                        if (value)
                                g_string_append_c(value, *p);
                }
                if (value)
                        return g_string_free(value, FALSE);
                if (*p)
                        p++;
                if (p == start)
                        break;
        }
        return NULL;
}

char *picker_certificate_title(const char *nickname, const char *subject,
                               const char *identity) {
        char *cn;

        if (nickname && *nickname)
                return g_strdup(nickname);
        cn = picker_name_common_name(subject);
        if (cn && *cn)
                return cn;
        g_free(cn);
        if (subject && *subject)
                return g_strdup(subject);
        return g_strdup_printf("%.16s…", identity ? identity : "");
}

static char *date_text(gint64 seconds) {
        g_autoptr(GDateTime) date = g_date_time_new_from_unix_utc(seconds);

        return date ? g_date_time_format(date, "%Y-%m-%d") : g_strdup("?");
}

char *picker_validity_text(gint64 not_before, gint64 not_after, gint64 now) {
        g_autofree char *from = date_text(not_before);
        g_autofree char *to = date_text(not_after);
        const char *note = "";

        if (now > not_after)
                note = " (expired)";
        else if (now < not_before)
                note = " (not yet valid)";
        return g_strdup_printf("%s to %s%s", from, to, note);
}
