/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport auth-scheme: the challenge and its hints. */
#include "challenge.h"

#include <string.h>

#include "http-auth.h"

#define TRANSPORT_SCHEME "transport"
#define TRANSPORT_MODE "tls-client-certificate"

void transport_challenge_free(TransportChallenge *c) {
        if (!c)
                return;
        g_ptr_array_unref(c->schemes);
        g_ptr_array_unref(c->ca_names);
        g_free(c->error);
        g_free(c->realm);
        g_free(c->url);
        g_free(c);
}

/* Keeps the first reason only: it is the one a user can act on. */
static void note(TransportChallenge *c, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void note(TransportChallenge *c, const char *format, ...) {
        va_list ap;

        if (c->error)
                return;
        va_start(ap, format);
        c->error = g_strdup_vprintf(format, ap);
        va_end(ap);
}

/* One base64url entry (RFC 4648 5; padding tolerated) decoded, or NULL. */
static GBytes *decode_base64url(const char *s, gsize len) {
        g_autoptr(GString) std = g_string_sized_new(len + 3);
        gsize out_len = 0;
        guchar *der;

        for (gsize i = 0; i < len; i++) {
                char ch = s[i];

                if (ch == '=' ) {
                        /* Padding only at the end. */
                        for (gsize j = i; j < len; j++)
                                if (s[j] != '=')
                                        return NULL;
                        break;
                }
                if (ch == '-')
                        ch = '+';
                else if (ch == '_')
                        ch = '/';
                else if (!g_ascii_isalnum(ch))
                        return NULL;
                g_string_append_c(std, ch);
        }
        if (std->len % 4 == 1 || std->len == 0)
                return NULL;
        while (std->len % 4)
                g_string_append_c(std, '=');
        der = g_base64_decode(std->str, &out_len);
        /* A Name is a DER SEQUENCE. */
        if (out_len < 2 || der[0] != 0x30) {
                g_free(der);
                return NULL;
        }
        return g_bytes_new_take(der, out_len);
}

static void read_ca_names(TransportChallenge *c, const char *value) {
        g_auto(GStrv) items = g_strsplit_set(value, " \t", -1);
        guint index = 0;

        for (guint i = 0; items[i]; i++) {
                GBytes *der;

                if (!*items[i])
                        continue;
                if (c->ca_names->len >= CHALLENGE_CA_NAMES_MAX) {
                        note(c, "ca-names: more than %u names; the rest were ignored",
                             CHALLENGE_CA_NAMES_MAX);
                        break;
                }
                der = decode_base64url(items[i], strlen(items[i]));
                if (der)
                        g_ptr_array_add(c->ca_names, der);
                else
                        note(c, "ca-names[%u]: not a base64url DER name; ignored", index);
                index++;
        }
}

static void read_key_types(TransportChallenge *c, const char *value) {
        g_auto(GStrv) items = g_strsplit_set(value, " \t", -1);

        for (guint i = 0; items[i]; i++) {
                if (g_ascii_strcasecmp(items[i], "rsa") == 0)
                        c->key_types |= CHALLENGE_KEY_RSA;
                else if (g_ascii_strcasecmp(items[i], "ec") == 0)
                        c->key_types |= CHALLENGE_KEY_EC;
                else if (g_ascii_strcasecmp(items[i], "ed25519") == 0)
                        c->key_types |= CHALLENGE_KEY_ED25519;
                /* Unknown types are ignored: hints are advisory. */
        }
}

static void read_url(TransportChallenge *c, const char *value) {
        g_autoptr(GUri) uri = NULL;

        if (strlen(value) > CHALLENGE_URL_MAX) {
                note(c, "url: longer than %u bytes; ignored", CHALLENGE_URL_MAX);
                return;
        }
        uri = g_uri_parse(value, G_URI_FLAGS_ENCODED, NULL);
        if (!uri || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 || !g_uri_get_host(uri) ||
            !*g_uri_get_host(uri) || g_uri_get_userinfo(uri)) {
                note(c, "url: not an https URL; ignored");
                return;
        }
        c->url = g_strdup(value);
}

static void take(TransportChallenge *c, const HttpAuthChallenge *ch) {
        const char *v;

        c->found = TRUE;
        if ((v = http_auth_param(ch, "realm")))
                c->realm = g_strdup(v);
        if ((v = http_auth_param(ch, "ca-names")))
                read_ca_names(c, v);
        if ((v = http_auth_param(ch, "key-types")))
                read_key_types(c, v);
        if ((v = http_auth_param(ch, "url")))
                read_url(c, v);
}

TransportChallenge *transport_challenge_find(const char *const *values, guint n) {
        TransportChallenge *c = g_new0(TransportChallenge, 1);
        HttpAuthList list = { 0 };
        g_autofree size_t *lengths = NULL;

        c->schemes = g_ptr_array_new_with_free_func(g_free);
        c->ca_names = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        if (n > CHALLENGE_VALUES_MAX) {
                note(c, "field_values: more than %u values; the rest were ignored",
                     CHALLENGE_VALUES_MAX);
                n = CHALLENGE_VALUES_MAX;
        }
        lengths = g_new(size_t, n + 1);
        for (guint i = 0; i < n; i++)
                lengths[i] = strlen(values[i]);
        if (http_auth_parse(values, lengths, n, &list) < 0)
                g_error("out of memory");

        for (size_t i = 0; i < list.n_errors; i++)
                note(c, "field_values[%zu]: offset %zu: %s", list.errors[i].field_index,
                     list.errors[i].offset, list.errors[i].message);
        for (size_t i = 0; i < list.n_challenges; i++) {
                const HttpAuthChallenge *ch = &list.challenges[i];
                const char *mode;

                g_ptr_array_add(c->schemes, g_ascii_strdown(ch->scheme, -1));
                if (c->found || !http_auth_is_scheme(ch, TRANSPORT_SCHEME))
                        continue;
                if (!ch->valid) {
                        note(c, "field_values[%zu]: transport challenge repeats a parameter; "
                             "ignored", ch->field_index);
                        continue;
                }
                mode = http_auth_param(ch, "mode");
                if (!mode || g_ascii_strcasecmp(mode, TRANSPORT_MODE) != 0)
                        continue;
                take(c, ch);
        }
        http_auth_list_clear(&list);
        return c;
}

gboolean challenge_key_type_allowed(guint key_types, CertKeyType type) {
        switch (type) {
        case CERT_KEY_RSA:
        case CERT_KEY_RSA_PSS:
                return !key_types || (key_types & CHALLENGE_KEY_RSA);
        case CERT_KEY_EC:
                return !key_types || (key_types & CHALLENGE_KEY_EC);
        case CERT_KEY_ED25519:
                return !key_types || (key_types & CHALLENGE_KEY_ED25519);
        default:
                return !key_types;
        }
}

char *challenge_decline_value(const char *status) {
        return g_strdup_printf(TRANSPORT_SCHEME " mode=\"" TRANSPORT_MODE "\", status=\"%s\"",
                               status);
}
