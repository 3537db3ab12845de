/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Admin policy for certificate selection: policy.json, with Chromium's
 * AutoSelectCertificateForUrls semantics for auto_select. */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "file-read.h"
#include "tlsid-ids.h"

/* An admin file, not client input; the cap only keeps a mistake (a log file written
 * over the policy) from filling the daemon's memory. */
#define POLICY_FILE_MAX (1024 * 1024)
/* json-glib's parser recurses once per array or object: deeper files are refused before
 * it sees them. Real policies nest four levels. */
#define POLICY_DEPTH_MAX 32

/* One principal of a Chromium filter (certificate_principal_pattern.cc): NULL means any.
 * An empty string is stored as NULL because Chromium treats "" as "not given". */
typedef struct {
        char *cn;
        char *l;
        char *o;
        char *ou;
} PrincipalFilter;

typedef struct {
        PrincipalFilter issuer;
        PrincipalFilter subject;
} CertFilter;

typedef enum {
        HOST_DNS,
        HOST_IPV4,
        HOST_IPV6,
} HostKind;

/* A content-settings pattern, reduced to what an https origin can be matched on. */
typedef struct {
        char *scheme;            /* NULL: any scheme; else "https" or "http" (never matches) */
        gboolean domain_wildcard;
        HostKind kind;
        char *host;              /* HOST_DNS: lower-case ASCII; "" with domain_wildcard: any */
        guint8 addr[16];         /* HOST_IPV4 (4 bytes) and HOST_IPV6 */
        int port;                /* -1: any */
} Pattern;

/* One auto_select string as written, kept in file order for policy_to_json. */
typedef struct {
        char *pattern_text;
        gboolean plural;         /* written with "filters" rather than "filter" */
        GPtrArray *filters;      /* CertFilter*, owned */
} AutoSelectEntry;

/* The entries that share one pattern: Chromium merges their filters into one content
 * setting (content_settings_policy_provider.cc). */
typedef struct {
        Pattern pattern;
        GPtrArray *filters;      /* CertFilter*, borrowed from the entries, file order */
} AutoSelectRule;

typedef struct {
        char *prefix;
        PolicyMode mode;
} ContextOverride;

struct Policy {
        PolicyMode mode;
        GPtrArray *entries;      /* AutoSelectEntry* */
        GPtrArray *rules;        /* AutoSelectRule* */
        GPtrArray *contexts;     /* ContextOverride*, sorted by prefix */
};

static const char *const mode_names[] = {
        [POLICY_MODE_ASK] = "ask",
        [POLICY_MODE_AUTO] = "auto",
        [POLICY_MODE_NONE] = "none",
};

/* --- freeing --- */

static void cert_filter_free(CertFilter *f) {
        PrincipalFilter *p[] = { &f->issuer, &f->subject };

        for (gsize i = 0; i < G_N_ELEMENTS(p); i++) {
                g_free(p[i]->cn);
                g_free(p[i]->l);
                g_free(p[i]->o);
                g_free(p[i]->ou);
        }
        g_free(f);
}

static void entry_free(AutoSelectEntry *e) {
        g_free(e->pattern_text);
        g_ptr_array_unref(e->filters);
        g_free(e);
}

static void rule_free(AutoSelectRule *r) {
        g_free(r->pattern.scheme);
        g_free(r->pattern.host);
        if (r->filters)
                g_ptr_array_unref(r->filters);
        g_free(r);
}

static void context_override_free(ContextOverride *c) {
        g_free(c->prefix);
        g_free(c);
}

Policy *policy_new_default(void) {
        Policy *policy = g_new0(Policy, 1);

        policy->mode = POLICY_MODE_ASK;
        policy->entries = g_ptr_array_new_with_free_func((GDestroyNotify) entry_free);
        policy->rules = g_ptr_array_new_with_free_func((GDestroyNotify) rule_free);
        policy->contexts = g_ptr_array_new_with_free_func((GDestroyNotify) context_override_free);
        return policy;
}

void policy_free(Policy *policy) {
        if (!policy)
                return;
        /* Rules borrow the entries' filters: free them first. */
        g_ptr_array_unref(policy->rules);
        g_ptr_array_unref(policy->entries);
        g_ptr_array_unref(policy->contexts);
        g_free(policy);
}

char *policy_default_path(void) {
        return g_build_filename(g_get_user_config_dir(), "tlsid", "policy.json", NULL);
}

const char *policy_mode_to_string(PolicyMode mode) {
        if ((guint) mode < G_N_ELEMENTS(mode_names))
                return mode_names[mode];
        return "unknown";
}

/* --- error messages --- */

static gboolean fail(GError **error, const char *path, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Sets "PATH: reason" and returns FALSE. */
static gboolean fail(GError **error, const char *path, const char *fmt, ...) {
        g_autofree char *reason = NULL;
        va_list ap;

        va_start(ap, fmt);
        reason = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT, "%s: %s", path, reason);
        return FALSE;
}

static const char *node_kind(JsonNode *node) {
        switch (json_node_get_node_type(node)) {
        case JSON_NODE_OBJECT:
                return "an object";
        case JSON_NODE_ARRAY:
                return "an array";
        case JSON_NODE_NULL:
                return "null";
        case JSON_NODE_VALUE:
                break;
        }
        switch (json_node_get_value_type(node)) {
        case G_TYPE_STRING:
                return "a string";
        case G_TYPE_BOOLEAN:
                return json_node_get_boolean(node) ? "true" : "false";
        default:
                return "a number";
        }
}

static gboolean is_string(JsonNode *node) {
        return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
}

/* FALSE (with the error naming the member) when @object has a member not in @known. */
static gboolean check_members(JsonObject *object, const char *path, const char *const *known,
                              const char *known_text, GError **error) {
        g_autoptr(GList) names = json_object_get_members(object);

        for (GList *l = names; l; l = l->next) {
                g_autofree char *p = NULL;

                if (g_strv_contains(known, l->data))
                        continue;
                p = error_member_path(path, l->data);
                return fail(error, p, "unknown member (known: %s)", known_text);
        }
        return TRUE;
}

/* Splits json-glib's "<data>:LINE:COL: Parse error: reason" into "LINE:COL" (transfer
 * full) and the reason; FALSE when @message has another form. */
static gboolean split_parse_error(const char *message, char **ret_position,
                                  const char **ret_reason) {
        const char *rest, *line_end, *col_end, *reason;

        if (!g_str_has_prefix(message, "<data>:"))
                return FALSE;
        rest = message + strlen("<data>:");
        line_end = strchr(rest, ':');
        col_end = line_end ? strchr(line_end + 1, ':') : NULL;
        if (!col_end)
                return FALSE;
        reason = col_end + 1;
        while (*reason == ' ')
                reason++;
        if (g_str_has_prefix(reason, "Parse error: "))
                reason += strlen("Parse error: ");
        *ret_position = g_strndup(rest, (gsize) (col_end - rest));
        *ret_reason = reason;
        return TRUE;
}

/* --- patterns (Chromium content-settings patterns) --- */

/* Canonicalizes @host (no wildcard in it) into @pattern. Follows
 * ContentSettingsPattern::Builder::Canonicalize: IDN to punycode and lower case, IP
 * literals by value, a single trailing dot dropped, two refused, no domain wildcard on
 * an IP literal. */
static gboolean pattern_set_host(Pattern *pattern, const char *host, const char *path,
                                 GError **error) {
        g_autofree char *h = NULL;
        gsize n = strlen(host);

        if (host[0] == '[') {
                g_autofree char *inner = NULL;

                if (n < 3 || host[n - 1] != ']')
                        return fail(error, path, "IPv6 literal without its closing ']'");
                inner = g_strndup(host + 1, n - 2);
                if (inet_pton(AF_INET6, inner, pattern->addr) != 1)
                        return fail(error, path, "invalid IPv6 literal [%s]", inner);
                if (pattern->domain_wildcard)
                        return fail(error, path, "[*.] cannot apply to an IP address");
                pattern->kind = HOST_IPV6;
                return TRUE;
        }
        if (g_str_has_suffix(host, ".."))
                return fail(error, path, "host ends in \"..\"");
        h = g_strdup(host);
        if (n >= 2 && h[n - 1] == '.')
                h[n - 1] = 0;
        if (!g_str_is_ascii(h)) {
                g_autofree char *ascii = g_hostname_to_ascii(h);

                if (!ascii)
                        return fail(error, path, "host is not a valid internationalized name");
                g_free(h);
                h = g_steal_pointer(&ascii);
        }
        g_free(pattern->host);
        pattern->host = g_ascii_strdown(h, -1);
        if (strspn(pattern->host, "0123456789.") == strlen(pattern->host)) {
                if (inet_pton(AF_INET, pattern->host, pattern->addr) != 1)
                        return fail(error, path, "invalid IPv4 address %s", pattern->host);
                if (pattern->domain_wildcard)
                        return fail(error, path, "[*.] cannot apply to an IP address");
                pattern->kind = HOST_IPV4;
                return TRUE;
        }
        for (const char *p = pattern->host; *p; p++)
                if (!g_ascii_isalnum(*p) && !strchr("-_.", *p))
                        return fail(error, path, "host has a character outside a-z 0-9 - _ .");
        pattern->kind = HOST_DNS;
        return TRUE;
}

/* Parses @spec the way content_settings::PatternParser::Parse does, into what matters
 * for an https origin: [scheme://]host[:port][/path], host "*", "[*.]domain", a name or an
 * IP literal ("[::1]"), a missing scheme or port meaning any. Chromium drops invalid patterns silently; here they are errors,
 * so that a typo in admin policy does not pass unnoticed. */
static gboolean pattern_parse(Pattern *pattern, const char *spec, const char *path,
                              GError **error) {
        g_autofree char *scheme = NULL;
        g_autofree char *host = NULL;
        g_autofree char *port = NULL;
        const char *rest = spec, *sep, *end;

        *pattern = (Pattern) { .port = -1, .kind = HOST_DNS };
        if (strcmp(spec, "*") == 0) {
                pattern->domain_wildcard = TRUE;
                pattern->host = g_strdup("");
                return TRUE;
        }
        if (!*spec)
                return fail(error, path, "empty pattern");

        sep = strstr(spec, "://");
        if (sep) {
                scheme = g_ascii_strdown(spec, sep - spec);
                rest = sep + 3;
        }
        if (!*rest)
                return fail(error, path, "no host in %s", spec);

        /* Skip "[*.]" or an IPv6 literal before looking for the port's ':'. */
        end = rest;
        if (*rest == '[') {
                end = strchr(rest, ']');
                if (!end)
                        return fail(error, path, "'[' without its closing ']'");
        }
        sep = strchr(end, ':');
        if (sep) {
                const char *slash = strchr(sep + 1, '/');

                host = g_strndup(rest, sep - rest);
                port = slash ? g_strndup(sep + 1, slash - sep - 1) : g_strdup(sep + 1);
        } else {
                const char *slash = strchr(rest, '/');

                host = slash ? g_strndup(rest, slash - rest) : g_strdup(rest);
        }
        /* A path is allowed and ignored: Chromium only matches paths of file: URLs. */

        if (scheme && *scheme && strcmp(scheme, "*") != 0) {
                if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
                        return fail(error, path, "scheme must be https, http or *, not %s",
                                    scheme);
                pattern->scheme = g_steal_pointer(&scheme);
        }

        if (strcmp(host, "*") == 0) {
                pattern->domain_wildcard = TRUE;
                pattern->host = g_strdup("");
        } else if (g_str_has_prefix(host, "[*.]")) {
                if (host[4] == '.')
                        return fail(error, path, "\"[*.].\" has one dot too many");
                pattern->domain_wildcard = TRUE;
                if (strchr(host + 4, '*'))
                        return fail(error, path, "'*' is allowed only as \"[*.]\" or alone");
                if (host[4] == 0)
                        pattern->host = g_strdup("");
                else if (!pattern_set_host(pattern, host + 4, path, error))
                        return FALSE;
        } else {
                if (!*host)
                        return fail(error, path, "no host in %s", spec);
                if (strchr(host, '*'))
                        return fail(error, path, "'*' is allowed only as \"[*.]\" or alone");
                if (!pattern_set_host(pattern, host, path, error))
                        return FALSE;
        }

        /* No port, or an empty one, is ANY port, not only 443: PatternParser::Parse
         * (components/content_settings/core/common/content_settings_pattern_parser.cc)
         * calls WithPortWildcard() for patterns without a port, and
         * ContentSettingsPattern::Matches then skips the port. */
        if (port && *port && strcmp(port, "*") != 0) {
                guint64 value;

                /* Chromium checks digits only (a TODO for the range) and compares the
                 * port as a string, so "0443" or "70000" could never match: refuse them. */
                if (port[0] == '0' ||
                    !g_ascii_string_to_unsigned(port, 10, 1, 65535, &value, NULL))
                        return fail(error, path, "port must be * or 1 to 65535, not %s", port);
                pattern->port = (int) value;
        }
        return TRUE;
}

static gboolean pattern_equal(const Pattern *a, const Pattern *b) {
        if (g_strcmp0(a->scheme, b->scheme) != 0 || a->domain_wildcard != b->domain_wildcard ||
            a->kind != b->kind || a->port != b->port)
                return FALSE;
        switch (a->kind) {
        case HOST_IPV4:
                return memcmp(a->addr, b->addr, 4) == 0;
        case HOST_IPV6:
                return memcmp(a->addr, b->addr, 16) == 0;
        case HOST_DNS:
                break;
        }
        return strcmp(a->host, b->host) == 0;
}

/* An origin "host:port" split for matching. */
typedef struct {
        HostKind kind;
        char host[TLSID_HOST_MAX + 1];
        guint8 addr[16];
        int port;
} Origin;

static gboolean origin_parse(Origin *o, const char *origin) {
        const char *colon;
        gsize n;

        if (id_origin_check(origin))
                return FALSE;
        colon = strrchr(origin, ':');
        n = (gsize) (colon - origin);
        o->port = atoi(colon + 1);
        if (origin[0] == '[') {
                char inner[64];

                if (n - 2 >= sizeof inner)
                        return FALSE;
                memcpy(inner, origin + 1, n - 2);
                inner[n - 2] = 0;
                o->kind = HOST_IPV6;
                return inet_pton(AF_INET6, inner, o->addr) == 1;
        }
        if (n > TLSID_HOST_MAX)
                return FALSE;
        memcpy(o->host, origin, n);
        o->host[n] = 0;
        o->kind = HOST_DNS;
        if (inet_pton(AF_INET, o->host, o->addr) == 1)
                o->kind = HOST_IPV4;
        return TRUE;
}

/* ContentSettingsPattern::Matches for https://@o: scheme, then host (exact, or equal or
 * a subdomain under [*.]), then port. */
static gboolean pattern_matches(const Pattern *p, const Origin *o) {
        if (p->scheme && strcmp(p->scheme, "https") != 0)
                return FALSE;
        if (p->port >= 0 && p->port != o->port)
                return FALSE;
        if (p->domain_wildcard && p->host[0] == 0)
                return TRUE;
        if (p->kind != o->kind)
                return FALSE;
        switch (p->kind) {
        case HOST_IPV4:
                return memcmp(p->addr, o->addr, 4) == 0;
        case HOST_IPV6:
                return memcmp(p->addr, o->addr, 16) == 0;
        case HOST_DNS:
                break;
        }
        if (strcmp(p->host, o->host) == 0)
                return TRUE;
        if (p->domain_wildcard) {
                gsize hn = strlen(o->host), pn = strlen(p->host);

                return hn > pn && o->host[hn - pn - 1] == '.' &&
                        strcmp(o->host + hn - pn, p->host) == 0;
        }
        return FALSE;
}

/* Whether @a takes precedence over @b, both matching one origin (so neither is disjoint
 * from the other). ContentSettingsPattern::Compare orders by host first (an exact host
 * before [*.], a longer [*.] domain before a shorter one), then port (a given port
 * before *), then scheme (a given scheme before *). */
static gboolean pattern_precedes(const Pattern *a, const Pattern *b) {
        if (a->domain_wildcard != b->domain_wildcard)
                return !a->domain_wildcard;
        if (a->domain_wildcard && strlen(a->host) != strlen(b->host))
                return strlen(a->host) > strlen(b->host);
        if ((a->port < 0) != (b->port < 0))
                return a->port >= 0;
        return a->scheme && !b->scheme;
}

/* --- filters --- */

static gboolean parse_principal(PrincipalFilter *pf, JsonNode *node, const char *path,
                                GError **error) {
        static const char *const known[] = { "CN", "L", "O", "OU", NULL };
        struct {
                const char *key;
                char **field;
        } fields[] = {
                { "CN", &pf->cn }, { "L", &pf->l }, { "O", &pf->o }, { "OU", &pf->ou },
        };
        JsonObject *object;

        if (!JSON_NODE_HOLDS_OBJECT(node))
                return fail(error, path, "must be an object, not %s", node_kind(node));
        object = json_node_get_object(node);
        if (!check_members(object, path, known, "CN, L, O, OU", error))
                return FALSE;
        for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
                JsonNode *value = json_object_get_member(object, fields[i].key);
                g_autofree char *p = NULL;

                if (!value)
                        continue;
                if (!is_string(value)) {
                        p = error_member_path(path, fields[i].key);
                        return fail(error, p, "must be a string, not %s", node_kind(value));
                }
                if (*json_node_get_string(value))
                        *fields[i].field = g_strdup(json_node_get_string(value));
        }
        return TRUE;
}

static CertFilter *parse_filter(JsonNode *node, const char *path, GError **error) {
        static const char *const known[] = { "ISSUER", "SUBJECT", NULL };
        CertFilter *f;
        JsonObject *object;
        JsonNode *member;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
                fail(error, path, "must be an object, not %s", node_kind(node));
                return NULL;
        }
        object = json_node_get_object(node);
        if (!check_members(object, path, known, "ISSUER, SUBJECT", error))
                return NULL;
        f = g_new0(CertFilter, 1);
        if ((member = json_object_get_member(object, "ISSUER"))) {
                g_autofree char *p = error_member_path(path, "ISSUER");

                if (!parse_principal(&f->issuer, member, p, error)) {
                        cert_filter_free(f);
                        return NULL;
                }
        }
        if ((member = json_object_get_member(object, "SUBJECT"))) {
                g_autofree char *p = error_member_path(path, "SUBJECT");

                if (!parse_principal(&f->subject, member, p, error)) {
                        cert_filter_free(f);
                        return NULL;
                }
        }
        return f;
}

/* CertificatePrincipalPattern::Matches: CN and L equal, O and OU among the name's
 * values; what the filter leaves out matches anything. */
static gboolean principal_matches(const PrincipalFilter *pf, const CertName *name) {
        if (pf->cn && g_strcmp0(pf->cn, name->cn) != 0)
                return FALSE;
        if (pf->l && g_strcmp0(pf->l, name->l) != 0)
                return FALSE;
        if (pf->o && (!name->o || !g_strv_contains((const char *const *) name->o, pf->o)))
                return FALSE;
        if (pf->ou && (!name->ou || !g_strv_contains((const char *const *) name->ou, pf->ou)))
                return FALSE;
        return TRUE;
}

static gboolean filter_matches(const CertFilter *f, const CertInfo *cert) {
        return principal_matches(&f->issuer, &cert->issuer_name) &&
                principal_matches(&f->subject, &cert->subject_name);
}

/* --- auto_select entries --- */

/* @text without commas that precede a closing bracket or brace (outside strings):
 * Chromium reads the entries with base::JSON_ALLOW_TRAILING_COMMAS (transfer full). */
static char *strip_trailing_commas(const char *text) {
        GString *out = g_string_sized_new(strlen(text));
        gboolean in_string = FALSE, escaped = FALSE;

        for (const char *p = text; *p; p++) {
                if (in_string) {
                        if (escaped)
                                escaped = FALSE;
                        else if (*p == '\\')
                                escaped = TRUE;
                        else if (*p == '"')
                                in_string = FALSE;
                } else if (*p == '"') {
                        in_string = TRUE;
                } else if (*p == ',') {
                        const char *q = p + 1;

                        while (g_ascii_isspace(*q))
                                q++;
                        if (*q == '}' || *q == ']')
                                continue;
                }
                g_string_append_c(out, *p);
        }
        return g_string_free(out, FALSE);
}

/* Why json-glib must not parse the JSON @text (@len bytes), or NULL; then the line and
 * column (from 1, in bytes) of the character at fault: an array or object past
 * POLICY_DEPTH_MAX levels, or one of json-glib's extensions, a single-quoted string or a
 * comment. Those are refused because a '"' inside them would hide the brackets after it
 * from this count: json-glib would see them and recurse. Brackets in strings do not
 * count. */
static const char *nesting_problem(const char *text, gsize len, guint *ret_line,
                                   guint *ret_column) {
        gboolean in_string = FALSE, escaped = FALSE;
        const char *why = NULL;
        guint depth = 0, line = 1, column = 0;

        for (gsize i = 0; i < len && text[i] && !why; i++) {
                char c = text[i];

                column++;
                if (c == '\n') {
                        line++;
                        column = 0;
                } else if (in_string) {
                        if (escaped)
                                escaped = FALSE;
                        else if (c == '\\')
                                escaped = TRUE;
                        else if (c == '"')
                                in_string = FALSE;
                } else if (c == '"') {
                        in_string = TRUE;
                } else if (c == '[' || c == '{') {
                        if (++depth > POLICY_DEPTH_MAX)
                                why = "nested deeper than " G_STRINGIFY(POLICY_DEPTH_MAX)
                                      " levels";
                } else if ((c == ']' || c == '}') && depth > 0) {
                        depth--;
                } else if (c == '\'') {
                        why = "a single-quoted string, which JSON does not have";
                } else if (c == '/') {
                        why = "a comment, which JSON does not have";
                }
        }
        *ret_line = line;
        *ret_column = column;
        return why;
}

static AutoSelectEntry *parse_entry(const char *text, const char *path, GError **error) {
        static const char *const known[] = { "pattern", "filter", "filters", NULL };
        g_autoptr(JsonParser) parser = json_parser_new_immutable();
        g_autoptr(GError) local = NULL;
        g_autoptr(GPtrArray) filters = NULL;
        g_autofree char *pattern_path = error_member_path(path, "pattern");
        JsonObject *object;
        JsonNode *root, *pattern, *filter, *filter_list;
        Pattern check;
        AutoSelectEntry *entry;
        guint line, column;
        const char *why = nesting_problem(text, strlen(text), &line, &column);

        if (why) {
                fail(error, path, "%s", why);
                return NULL;
        }
        if (!json_parser_load_from_data(parser, text, -1, &local)) {
                g_autofree char *stripped = strip_trailing_commas(text);
                g_autofree char *position = NULL;
                const char *reason;

                if (!json_parser_load_from_data(parser, stripped, -1, NULL)) {
                        if (split_parse_error(local->message, &position, &reason))
                                fail(error, path, "not valid JSON at %s of the string: %s",
                                     position, reason);
                        else
                                fail(error, path, "not valid JSON: %s", local->message);
                        return NULL;
                }
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                fail(error, path, "must hold a JSON object {\"pattern\": ..., \"filter\": ...}, "
                     "not %s", root ? node_kind(root) : "nothing");
                return NULL;
        }
        object = json_node_get_object(root);
        if (!check_members(object, path, known, "pattern, filter, filters", error))
                return NULL;

        pattern = json_object_get_member(object, "pattern");
        if (!pattern) {
                fail(error, path, "has no pattern");
                return NULL;
        }
        if (!is_string(pattern)) {
                fail(error, pattern_path, "must be a string, not %s", node_kind(pattern));
                return NULL;
        }
        if (!pattern_parse(&check, json_node_get_string(pattern), pattern_path, error)) {
                g_free(check.scheme);
                g_free(check.host);
                return NULL;
        }
        g_free(check.scheme);
        g_free(check.host);

        filter = json_object_get_member(object, "filter");
        filter_list = json_object_get_member(object, "filters");
        if (filter && filter_list) {
                fail(error, path, "has both filter and filters; use one");
                return NULL;
        }
        if (!filter && !filter_list) {
                fail(error, path, "has no filter (use {} to allow every certificate)");
                return NULL;
        }
        filters = g_ptr_array_new_with_free_func((GDestroyNotify) cert_filter_free);
        if (filter) {
                g_autofree char *p = error_member_path(path, "filter");
                CertFilter *f = parse_filter(filter, p, error);

                if (!f)
                        return NULL;
                g_ptr_array_add(filters, f);
        } else {
                g_autofree char *list_path = error_member_path(path, "filters");
                JsonArray *array;

                if (!JSON_NODE_HOLDS_ARRAY(filter_list)) {
                        fail(error, list_path, "must be an array of filters, not %s",
                             node_kind(filter_list));
                        return NULL;
                }
                array = json_node_get_array(filter_list);
                for (guint i = 0; i < json_array_get_length(array); i++) {
                        g_autofree char *p = g_strdup_printf("%s[%u]", list_path, i);
                        CertFilter *f = parse_filter(json_array_get_element(array, i), p, error);

                        if (!f)
                                return NULL;
                        g_ptr_array_add(filters, f);
                }
        }

        entry = g_new0(AutoSelectEntry, 1);
        entry->pattern_text = g_strdup(json_node_get_string(pattern));
        entry->plural = filter_list != NULL;
        entry->filters = g_steal_pointer(&filters);
        return entry;
}

/* Adds @entry's filters to the rule of its pattern, making one when it is new. Chromium
 * pools the filters of entries whose pattern strings are equal; equal patterns spelled
 * differently ("example.com" and "*://example.com:*") are pooled too, in file order,
 * where Chromium would keep one of them depending on hash order. */
static void add_to_rules(GPtrArray *rules, AutoSelectEntry *entry) {
        AutoSelectRule *rule = g_new0(AutoSelectRule, 1);

        /* Already parsed once without error. */
        pattern_parse(&rule->pattern, entry->pattern_text, "", NULL);
        for (guint i = 0; i < rules->len; i++) {
                AutoSelectRule *r = rules->pdata[i];

                if (pattern_equal(&r->pattern, &rule->pattern)) {
                        rule_free(rule);
                        rule = r;
                        goto add;
                }
        }
        rule->filters = g_ptr_array_new();
        g_ptr_array_add(rules, rule);
add:
        for (guint i = 0; i < entry->filters->len; i++)
                g_ptr_array_add(rule->filters, entry->filters->pdata[i]);
}

/* --- the file --- */

static gboolean parse_mode(JsonNode *node, PolicyMode *ret, const char *path,
                           const char *what, GError **error) {
        g_autofree char *quoted = NULL;
        const char *s;

        if (!is_string(node))
                return fail(error, path, "%smust be ask, auto or none, not %s", what,
                            node_kind(node));
        s = json_node_get_string(node);
        for (gsize i = 0; i < G_N_ELEMENTS(mode_names); i++) {
                if (strcmp(s, mode_names[i]) == 0) {
                        *ret = (PolicyMode) i;
                        return TRUE;
                }
        }
        quoted = error_quote(s);
        return fail(error, path, "%smust be ask, auto or none, not %s", what, quoted);
}

static gint compare_overrides(gconstpointer a, gconstpointer b) {
        const ContextOverride *x = *(ContextOverride *const *) a;
        const ContextOverride *y = *(ContextOverride *const *) b;

        return strcmp(x->prefix, y->prefix);
}

static gboolean parse_contexts(Policy *policy, JsonNode *node, GError **error) {
        static const char *const known[] = { "mode", NULL };
        g_autoptr(GList) names = NULL;
        JsonObject *object;

        if (!JSON_NODE_HOLDS_OBJECT(node))
                return fail(error, "contexts", "must be an object of context prefixes, not %s",
                            node_kind(node));
        object = json_node_get_object(node);
        names = json_object_get_members(object);
        for (GList *l = names; l; l = l->next) {
                const char *prefix = l->data;
                JsonNode *value = json_object_get_member(object, prefix);
                g_autofree char *q = error_quote(prefix);
                g_autofree char *path = g_strdup_printf("contexts[%s]", q);
                const char *why = id_context_check(prefix);
                ContextOverride *c;
                JsonNode *mode;
                PolicyMode m;

                if (why)
                        return fail(error, path, "a context prefix %s", why);
                if (!JSON_NODE_HOLDS_OBJECT(value))
                        return fail(error, path, "must be an object {\"mode\": ...}, not %s",
                                    node_kind(value));
                if (!check_members(json_node_get_object(value), path, known, "mode", error))
                        return FALSE;
                mode = json_object_get_member(json_node_get_object(value), "mode");
                if (!mode)
                        return fail(error, path, "has no mode");
                if (!parse_mode(mode, &m, path, "mode ", error))
                        return FALSE;
                c = g_new0(ContextOverride, 1);
                c->prefix = g_strdup(prefix);
                c->mode = m;
                g_ptr_array_add(policy->contexts, c);
        }
        g_ptr_array_sort(policy->contexts, compare_overrides);
        return TRUE;
}

static gboolean parse_auto_select(Policy *policy, JsonNode *node, GError **error) {
        JsonArray *array;

        if (!JSON_NODE_HOLDS_ARRAY(node))
                return fail(error, "auto_select", "must be an array of strings, not %s",
                            node_kind(node));
        array = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(array); i++) {
                JsonNode *element = json_array_get_element(array, i);
                g_autofree char *path = g_strdup_printf("auto_select[%u]", i);
                AutoSelectEntry *entry;

                if (!is_string(element))
                        return fail(error, path,
                                    "must be a string holding JSON, as in Chromium's "
                                    "AutoSelectCertificateForUrls, not %s",
                                    node_kind(element));
                entry = parse_entry(json_node_get_string(element), path, error);
                if (!entry)
                        return FALSE;
                g_ptr_array_add(policy->entries, entry);
                add_to_rules(policy->rules, entry);
        }
        return TRUE;
}

Policy *policy_parse(const char *text, gsize len, const char *file, GError **error) {
        static const char *const known[] = { "mode", "auto_select", "contexts", NULL };
        g_autoptr(JsonParser) parser = json_parser_new_immutable();
        g_autoptr(Policy) policy = policy_new_default();
        g_autoptr(GError) local = NULL;
        JsonObject *object;
        JsonNode *root, *member;
        guint line, column;
        const char *why = nesting_problem(text, len, &line, &column);

        if (why) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT, "%s:%u:%u: %s",
                            file, line, column, why);
                return NULL;
        }
        if (!json_parser_load_from_data(parser, text, (gssize) len, &local)) {
                g_autofree char *position = NULL;
                const char *reason;

                if (split_parse_error(local->message, &position, &reason))
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s:%s: %s", file, position, reason);
                else
                        fail(error, file, "%s", local->message);
                return NULL;
        }
        root = json_parser_get_root(parser);
        if (!root) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s:1:1: no JSON object (write {} for the default policy)", file);
                return NULL;
        }
        if (!JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: must hold a JSON object, not %s", file, node_kind(root));
                return NULL;
        }
        object = json_node_get_object(root);
        if (!check_members(object, "", known, "mode, auto_select, contexts", error))
                return NULL;
        if ((member = json_object_get_member(object, "mode")) &&
            !parse_mode(member, &policy->mode, "mode", "", error))
                return NULL;
        if ((member = json_object_get_member(object, "auto_select")) &&
            !parse_auto_select(policy, member, error))
                return NULL;
        if ((member = json_object_get_member(object, "contexts")) &&
            !parse_contexts(policy, member, error))
                return NULL;
        return g_steal_pointer(&policy);
}

Policy *policy_load(const char *path, GError **error) {
        g_autofree char *file = g_path_get_basename(path);
        g_autofree char *text = NULL;
        gsize len;
        int err;

        switch (file_read_bounded(path, POLICY_FILE_MAX, &text, &len, &err)) {
        case FILE_READ_OK:
                return policy_parse(text, len, file, error);
        case FILE_READ_MISSING:
                return policy_new_default();
        case FILE_READ_TOO_LARGE:
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: larger than %d bytes", file, POLICY_FILE_MAX);
                return NULL;
        case FILE_READ_NOT_REGULAR:
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "%s: not a regular file",
                            path);
                return NULL;
        case FILE_READ_FAILED:
        default:
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "%s: %s", path,
                            g_strerror(err));
                return NULL;
        }
}

/* --- queries --- */

PolicyMode policy_mode_for(const Policy *policy, const char *context) {
        const ContextOverride *best = NULL;

        for (guint i = 0; context && i < policy->contexts->len; i++) {
                const ContextOverride *c = policy->contexts->pdata[i];

                if (g_str_has_prefix(context, c->prefix) &&
                    (!best || strlen(c->prefix) > strlen(best->prefix)))
                        best = c;
        }
        return best ? best->mode : policy->mode;
}

/* Chromium, as of 2024:
 * - components/content_settings/core/browser/content_settings_policy_provider.cc
 *   (GetAutoSelectCertificateSettingsFromPreferences) turns every entry into a content
 *   setting {"filters": [...]} for its pattern, appending the "filter" of every entry
 *   with the same pattern string;
 * - HostContentSettingsMap::GetWebsiteSetting for https://host:port returns the setting
 *   of ONE pattern: the matching one of highest precedence (OriginValueMap::GetRule:
 *   "rules are stored in the order of decreasing precedence, the most specific match is
 *   found first"), not the first in the policy's list, and later entries are never
 *   tried when its filters match no certificate;
 * - chrome/browser/enterprise/util/managed_browser_utils.cc (AutoSelectCertificates,
 *   CertMatchesSelectionFilters) keeps, in the store's order, every certificate that
 *   matches ANY of those filters, and ClientCertificateFetcher / SelectClientCertificate
 *   take the first of them. */
int policy_auto_select(const Policy *policy, const char *origin, CertInfo *const *certs,
                       guint n_certs) {
        const AutoSelectRule *best = NULL;
        Origin o;

        if (!origin || !origin_parse(&o, origin))
                return -1;
        for (guint i = 0; i < policy->rules->len; i++) {
                const AutoSelectRule *r = policy->rules->pdata[i];

                if (pattern_matches(&r->pattern, &o) &&
                    (!best || pattern_precedes(&r->pattern, &best->pattern)))
                        best = r;
        }
        if (!best)
                return -1;
        for (guint c = 0; c < n_certs; c++) {
                for (guint f = 0; f < best->filters->len; f++)
                        if (certs[c] && filter_matches(best->filters->pdata[f], certs[c]))
                                return (int) c;
        }
        return -1;
}

/* --- output --- */

static void add_principal(JsonBuilder *b, const char *name, const PrincipalFilter *pf) {
        if (!pf->cn && !pf->l && !pf->o && !pf->ou)
                return;
        json_builder_set_member_name(b, name);
        json_builder_begin_object(b);
        if (pf->cn) {
                json_builder_set_member_name(b, "CN");
                json_builder_add_string_value(b, pf->cn);
        }
        if (pf->l) {
                json_builder_set_member_name(b, "L");
                json_builder_add_string_value(b, pf->l);
        }
        if (pf->o) {
                json_builder_set_member_name(b, "O");
                json_builder_add_string_value(b, pf->o);
        }
        if (pf->ou) {
                json_builder_set_member_name(b, "OU");
                json_builder_add_string_value(b, pf->ou);
        }
        json_builder_end_object(b);
}

static void add_filter(JsonBuilder *b, const CertFilter *f) {
        json_builder_begin_object(b);
        add_principal(b, "ISSUER", &f->issuer);
        add_principal(b, "SUBJECT", &f->subject);
        json_builder_end_object(b);
}

static char *node_to_string(JsonNode *node, gboolean pretty) {
        g_autoptr(JsonGenerator) gen = json_generator_new();

        json_generator_set_pretty(gen, pretty);
        json_generator_set_indent(gen, 2);
        json_generator_set_root(gen, node);
        return json_generator_to_data(gen, NULL);
}

/* The entry in Chromium's format, as one compact JSON string (transfer full). */
static char *entry_to_string(const AutoSelectEntry *e) {
        g_autoptr(JsonBuilder) b = json_builder_new_immutable();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "pattern");
        json_builder_add_string_value(b, e->pattern_text);
        if (e->plural) {
                json_builder_set_member_name(b, "filters");
                json_builder_begin_array(b);
                for (guint i = 0; i < e->filters->len; i++)
                        add_filter(b, e->filters->pdata[i]);
                json_builder_end_array(b);
        } else {
                json_builder_set_member_name(b, "filter");
                add_filter(b, e->filters->pdata[0]);
        }
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return node_to_string(root, FALSE);
}

char *policy_to_json(const Policy *policy) {
        g_autoptr(JsonBuilder) b = json_builder_new_immutable();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "mode");
        json_builder_add_string_value(b, policy_mode_to_string(policy->mode));
        json_builder_set_member_name(b, "auto_select");
        json_builder_begin_array(b);
        for (guint i = 0; i < policy->entries->len; i++) {
                g_autofree char *s = entry_to_string(policy->entries->pdata[i]);

                json_builder_add_string_value(b, s);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "contexts");
        json_builder_begin_object(b);
        for (guint i = 0; i < policy->contexts->len; i++) {
                const ContextOverride *c = policy->contexts->pdata[i];

                json_builder_set_member_name(b, c->prefix);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "mode");
                json_builder_add_string_value(b, policy_mode_to_string(c->mode));
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return node_to_string(root, TRUE);
}
