/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's GError domain and the quoting of values in error messages. */
#include "error.h"

#include <string.h>

G_DEFINE_QUARK(tlsid-error-quark, daemon_error)

char *error_quote(const char *s) {
        g_autofree char *cut = NULL;
        g_autofree char *escaped = NULL;
        gsize n;

        if (!s)
                return g_strdup("(null)");
        n = strlen(s);
        cut = g_strndup(s, MIN(n, ERROR_QUOTE_MAX));
        escaped = g_strescape(cut, NULL);
        return g_strdup_printf("\"%s\"%s", escaped, n > ERROR_QUOTE_MAX ? "..." : "");
}

static gboolean is_identifier(const char *s) {
        if (!g_ascii_isalpha(*s) && *s != '_')
                return FALSE;
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && *s != '_')
                        return FALSE;
        return TRUE;
}

char *error_member_path(const char *parent, const char *name) {
        g_autofree char *quoted = NULL;

        if (is_identifier(name) && strlen(name) <= ERROR_QUOTE_MAX)
                return *parent ? g_strdup_printf("%s.%s", parent, name) : g_strdup(name);
        quoted = error_quote(name);
        return g_strdup_printf("%s[%s]", parent, quoted);
}
