/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsidd.conf: limits and settings (GKeyFile). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "file-read.h"
#include "tlsid-limits.h"

typedef struct {
        const char *group;
        const char *key;
        size_t offset;  /* into TlsidConfig */
        gboolean wide;  /* guint64 rather than guint, and takes a K/M/G suffix */
        guint64 min, max;
        const char *what;
} Setting;

#define KIB (G_GUINT64_CONSTANT(1024))
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

/* The one setting that is not a number. */
/* tlsidd.conf is a few hundred bytes; anything past this is not read at all. */
#define CONFIG_FILE_MAX (64 * 1024)
#define NSS_DB_GROUP "certificates"
#define NSS_DB_KEY "nss_db"

static const Setting settings[] = {
        { "limits", "max_contexts", offsetof(TlsidConfig, limits.max_contexts), FALSE,
          1, 1048576, "contexts open at once" },
        { "limits", "max_origins_per_context",
          offsetof(TlsidConfig, limits.max_origins_per_context), FALSE, 1, 1048576,
          "origins (choices and partitions) per context" },
        { "limits", "max_tokens_per_partition",
          offsetof(TlsidConfig, limits.max_tokens_per_partition), FALSE, 1, 64,
          "resumption tokens per partition; a new one pushes out the oldest" },
        { "limits", "max_token_bytes", offsetof(TlsidConfig, limits.max_token_bytes), TRUE,
          64 * KIB, 4 * GIB,
          "bytes of all tokens (suffix K, M or G); least recently stored go first" },
        { "limits", "max_holders_per_context",
          offsetof(TlsidConfig, limits.max_holders_per_context), FALSE, 1, 4096,
          "connections keeping one ephemeral context open" },
        { "limits", "max_remembered", offsetof(TlsidConfig, limits.max_remembered), FALSE, 0,
          1048576, "remembered choices kept on disk" },
        { "limits", "max_memory", offsetof(TlsidConfig, limits.max_memory), TRUE, 64 * KIB,
          64 * GIB,
          "bytes of all state together (suffix K, M or G): contexts, partitions, choices, "
          "tokens, retry records; past it calls fail with LimitExceeded" },
        { "daemon", "max_pending_per_sender", offsetof(TlsidConfig, max_pending_per_sender),
          FALSE, 1, 4096, "calls queued per caller while its uid is looked up" },
        { "daemon", "max_senders", offsetof(TlsidConfig, max_senders), FALSE, 1, 1048576,
          "distinct callers tracked at once" },
        { "daemon", "max_direct_connections", offsetof(TlsidConfig, max_direct_connections),
          FALSE, 0, 65536,
          "connections to the direct socket at once (0: no direct socket, all on the bus)" },
        { "agents", "max_agents", offsetof(TlsidConfig, max_agents), FALSE, 1, 1024,
          "agents registered at once (RegisterAgent)" },
        { "agents", "max_agent_requests", offsetof(TlsidConfig, max_agent_requests), FALSE, 1,
          4096, "prompts waiting for an agent's answer (one per context and origin)" },
        { "agents", "max_agent_waits_per_caller",
          offsetof(TlsidConfig, max_agent_waits_per_caller), FALSE, 1, 1024,
          "interactive calls of one caller waiting for an agent's answer" },
};

void config_init(TlsidConfig *config) {
        *config = (TlsidConfig) {
                .max_pending_per_sender = 64,
                .max_senders = 1024,
                .max_agents = TLSID_AGENTS_MAX,
                .max_agent_requests = TLSID_AGENT_REQUESTS_MAX,
                .max_agent_waits_per_caller = TLSID_AGENT_WAITS_PER_CALLER_MAX,
                .max_direct_connections = 256,
        };
        store_limits_init(&config->limits);
}

char *config_default_path(void) {
        return g_build_filename(g_get_user_config_dir(), "tlsid", "tlsidd.conf", NULL);
}

static guint64 setting_get(const TlsidConfig *config, const Setting *s) {
        const char *p = (const char *) config + s->offset;

        return s->wide ? *(const guint64 *) p : *(const guint *) p;
}

static void setting_set(TlsidConfig *config, const Setting *s, guint64 value) {
        char *p = (char *) config + s->offset;

        if (s->wide)
                *(guint64 *) p = value;
        else
                *(guint *) p = (guint) value;
}

/* @value with a K, M or G suffix when it divides evenly (transfer full). */
static char *format_size(guint64 value) {
        if (value >= GIB && value % GIB == 0)
                return g_strdup_printf("%" G_GUINT64_FORMAT "G", value / GIB);
        if (value >= MIB && value % MIB == 0)
                return g_strdup_printf("%" G_GUINT64_FORMAT "M", value / MIB);
        if (value >= KIB && value % KIB == 0)
                return g_strdup_printf("%" G_GUINT64_FORMAT "K", value / KIB);
        return g_strdup_printf("%" G_GUINT64_FORMAT, value);
}

static char *format_value(const Setting *s, guint64 value) {
        return s->wide ? format_size(value) : g_strdup_printf("%" G_GUINT64_FORMAT, value);
}

/* Parses a decimal number, with a binary K/M/G suffix when @wide. FALSE when @text is
 * not a number (or overflows 64 bits, which is out of every range anyway: then
 * *@ret_overflow). */
static gboolean parse_number(const char *text, gboolean wide, guint64 *ret,
                             gboolean *ret_overflow) {
        g_autofree char *digits = g_strstrip(g_strdup(text));
        gsize n = strlen(digits);
        guint64 unit = 1, value;
        g_autoptr(GError) error = NULL;

        *ret_overflow = FALSE;
        if (wide && n > 0) {
                switch (digits[n - 1]) {
                case 'k': case 'K': unit = KIB; break;
                case 'm': case 'M': unit = MIB; break;
                case 'g': case 'G': unit = GIB; break;
                default: break;
                }
                if (unit != 1)
                        digits[--n] = 0;
        }
        if (!g_ascii_string_to_unsigned(digits, 10, 0, G_MAXUINT64, &value, &error)) {
                if (g_error_matches(error, G_NUMBER_PARSER_ERROR,
                                    G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
                        *ret_overflow = TRUE;
                }
                return FALSE;
        }
        if (value > G_MAXUINT64 / unit) {
                *ret_overflow = TRUE;
                return FALSE;
        }
        *ret = value * unit;
        return TRUE;
}

static const Setting *find_setting(const char *group, const char *key) {
        for (gsize i = 0; i < G_N_ELEMENTS(settings); i++)
                if (strcmp(settings[i].group, group) == 0 && strcmp(settings[i].key, key) == 0)
                        return &settings[i];
        return NULL;
}

static gboolean known_group(const char *group) {
        if (strcmp(group, NSS_DB_GROUP) == 0)
                return TRUE;
        for (gsize i = 0; i < G_N_ELEMENTS(settings); i++)
                if (strcmp(settings[i].group, group) == 0)
                        return TRUE;
        return FALSE;
}

static void warn(GPtrArray *warnings, const char *file, const char *fmt, ...)
        G_GNUC_PRINTF(3, 4);

static void warn(GPtrArray *warnings, const char *file, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_ptr_array_add(warnings, g_strdup_printf("%s: %s", file, msg));
}

/* Why @value is not a valid nss_db, or NULL when it is. */
static const char *nss_db_check(const char *value) {
        if (strcmp(value, "none") == 0)
                return NULL;
        if (!g_str_has_prefix(value, "sql:"))
                return "must be \"none\" or \"sql:\" and an absolute directory";
        if (!g_path_is_absolute(value + strlen("sql:")))
                return "the directory after \"sql:\" must be absolute";
        if (strlen(value) >= TLSID_NSS_DB_MAX)
                return "is too long";
        return NULL;
}

static void load_nss_db(TlsidConfig *config, GKeyFile *kf, GPtrArray *warnings,
                        const char *file) {
        g_autofree char *raw = g_key_file_get_value(kf, NSS_DB_GROUP, NSS_DB_KEY, NULL);
        g_autofree char *value = NULL;
        const char *why;

        if (!raw)
                return;
        value = g_strstrip(g_strdup(raw));
        why = nss_db_check(value);
        if (why) {
                g_autofree char *escaped = g_strescape(raw, NULL);

                warn(warnings, file, "[%s] %s: \"%s\": %s; using the default", NSS_DB_GROUP,
                     NSS_DB_KEY, escaped, why);
                return;
        }
        g_strlcpy(config->nss_db, value, sizeof config->nss_db);
}

static void load_setting(TlsidConfig *config, GKeyFile *kf, const Setting *s,
                         GPtrArray *warnings, const char *file) {
        g_autofree char *raw = g_key_file_get_value(kf, s->group, s->key, NULL);
        g_autofree char *escaped = NULL;
        g_autofree char *def = format_value(s, setting_get(config, s));
        guint64 value;
        gboolean overflow;

        if (!raw)
                return;
        escaped = g_strescape(raw, NULL);
        if (!parse_number(raw, s->wide, &value, &overflow) && !overflow) {
                warn(warnings, file, "[%s] %s: \"%s\" is not a number; using %s", s->group,
                     s->key, escaped, def);
                return;
        }
        if (overflow || value < s->min || value > s->max) {
                g_autofree char *lo = format_value(s, s->min);
                g_autofree char *hi = format_value(s, s->max);

                warn(warnings, file, "[%s] %s: \"%s\" is out of range %s..%s; using %s",
                     s->group, s->key, escaped, lo, hi, def);
                return;
        }
        setting_set(config, s, value);
}

/* Reads the settings of @kf, loaded from @path, over the defaults in @config: what
 * config_load() and config_load_data() share once GLib has parsed the key file. */
static void config_read_key_file(TlsidConfig *config, GKeyFile *kf, const char *path,
                                 GPtrArray **ret_warnings) {
        g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *file = g_path_get_basename(path);
        g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

        for (gsize g = 0; groups[g]; g++) {
                g_auto(GStrv) keys = NULL;

                if (!known_group(groups[g])) {
                        g_autofree char *q = g_strescape(groups[g], NULL);

                        warn(warnings, file, "[%s]: unknown group; ignored", q);
                        continue;
                }
                keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
                for (gsize k = 0; keys && keys[k]; k++) {
                        const Setting *s = find_setting(groups[g], keys[k]);

                        if (strcmp(groups[g], NSS_DB_GROUP) == 0 &&
                            strcmp(keys[k], NSS_DB_KEY) == 0) {
                                load_nss_db(config, kf, warnings, file);
                                continue;
                        }
                        if (!s) {
                                g_autofree char *q = g_strescape(keys[k], NULL);

                                warn(warnings, file, "[%s] %s: unknown key; ignored",
                                     groups[g], q);
                                continue;
                        }
                        load_setting(config, kf, s, warnings, file);
                }
        }
        if (ret_warnings && warnings->len > 0)
                *ret_warnings = g_steal_pointer(&warnings);
}

gboolean config_load(TlsidConfig *config, const char *path, GPtrArray **ret_warnings,
                     GError **error) {
        g_autofree char *text = NULL;
        gsize len;
        int err;

        config_init(config);
        if (ret_warnings)
                *ret_warnings = NULL;
        switch (file_read_bounded(path, CONFIG_FILE_MAX, &text, &len, &err)) {
        case FILE_READ_OK:
                return config_load_data(config, text, len, path, ret_warnings, error);
        case FILE_READ_MISSING:
                return TRUE;
        case FILE_READ_TOO_LARGE:
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                            "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
                return FALSE;
        case FILE_READ_NOT_REGULAR:
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: not a regular file",
                            path);
                return FALSE;
        case FILE_READ_FAILED:
        default:
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", path,
                            g_strerror(err));
                return FALSE;
        }
}

gboolean config_load_data(TlsidConfig *config, const char *data, gsize len, const char *path,
                          GPtrArray **ret_warnings, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;

        config_init(config);
        if (ret_warnings)
                *ret_warnings = NULL;
        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &local)) {
                g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
                return FALSE;
        }
        config_read_key_file(config, kf, path, ret_warnings);
        return TRUE;
}

char *config_describe(void) {
        g_autoptr(GString) out = g_string_new(NULL);
        g_autofree char *path = config_default_path();
        TlsidConfig defaults;
        const char *group = NULL;

        config_init(&defaults);
        g_string_append_printf(out,
                               "Settings are read from %s (GKeyFile).\n"
                               "A bad value is reported in the log and leaves its default.\n",
                               path);
        for (gsize i = 0; i < G_N_ELEMENTS(settings); i++) {
                const Setting *s = &settings[i];
                g_autofree char *def = format_value(s, setting_get(&defaults, s));
                g_autofree char *lo = format_value(s, s->min);
                g_autofree char *hi = format_value(s, s->max);

                if (!group || strcmp(group, s->group) != 0) {
                        group = s->group;
                        g_string_append_printf(out, "\n[%s]\n", group);
                }
                g_string_append_printf(out, "  %-26s %s\n  %-26s %s..%s, default %s\n", s->key,
                                       s->what, "", lo, hi, def);
        }
        g_string_append_printf(out,
                               "\n[%s]\n"
                               "  %-26s the NSS database listing the user's certificates:\n"
                               "  %-26s \"sql:DIRECTORY\" (absolute) or \"none\";\n"
                               "  %-26s default sql:$HOME/.pki/nssdb when it exists\n",
                               NSS_DB_GROUP, NSS_DB_KEY, "", "");
        return g_string_free(g_steal_pointer(&out), FALSE);
}
