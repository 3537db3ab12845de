/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsidd.conf: limits and settings (GKeyFile). */
#pragma once

#include <glib.h>

#include "store.h"

/* Longest [certificates] nss_db value, with its terminating NUL. */
#define TLSID_NSS_DB_MAX 4096

typedef struct {
        StoreLimits limits;
        guint max_pending_per_sender;  /* [daemon] queued calls of a sender whose uid is being looked up, 64 */
        guint max_senders;             /* [daemon] distinct callers tracked at once, 1024 */
        guint max_agents;                 /* [agents] agents registered at once, 16 */
        guint max_agent_requests;         /* [agents] prompts waiting for an answer, 64 */
        guint max_agent_waits_per_caller; /* [agents] interactive calls waiting per caller, 8 */
        guint max_direct_connections;  /* [daemon] direct socket connections (0: none), 256 */
        /* [certificates] nss_db: "sql:/absolute/dir", "none" (no database), or "" for the
         * default (cert_db_default_dir()). An array, so the config copies by value. */
        char nss_db[TLSID_NSS_DB_MAX];
} TlsidConfig;

/* The defaults. */
void config_init(TlsidConfig *config);

/* The path of tlsidd.conf: $XDG_CONFIG_HOME/tlsid/tlsidd.conf (transfer full). */
char *config_default_path(void);

/* Loads @path over the defaults in @config. A missing file is fine (TRUE, no
 * warnings). Every bad key or value leaves that setting at its default and adds one
 * line naming the group, key and the reason to @ret_warnings (transfer full, NULL
 * when there are none). Returns FALSE with @error only when the file exists but is not
 * a key file at all; then @config holds the defaults. */
gboolean config_load(TlsidConfig *config, const char *path, GPtrArray **ret_warnings,
                           GError **error);
/* Loads the text of a tlsidd.conf: @len bytes at @data, as if read from @path (named in
 * the error; its base name in the warnings). The settings are read as config_load() reads
 * them; GLib's one key-file parser reads the text in both. */
gboolean config_load_data(TlsidConfig *config, const char *data, gsize len, const char *path,
                          GPtrArray **ret_warnings, GError **error);

/* The text of `tlsidd --help` describing every setting, its group and its default
 * (transfer full). */
char *config_describe(void);
