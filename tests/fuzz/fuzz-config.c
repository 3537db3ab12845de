/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target of the settings loader (daemon/model/config.c): the input is the text of
 * tlsidd.conf, read by config_load_data() as config_load() reads a file. Checked against
 * tlsidd.conf(5): a text that is not a key file leaves every default and says why;
 * otherwise each number is within its documented range and differs from its default only
 * when the file has its key, nss_db is "" (the default), "none" or "sql:" and an absolute
 * directory, and every warning names the file. Loading again gives the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define FIELD(f) offsetof(TlsidConfig, f), sizeof(((TlsidConfig *) NULL)->f)

/* The numbers of tlsidd.conf(5), with their ranges. */
static const struct {
        const char *group, *key;
        size_t offset, width;
        guint64 min, max;
} documented[] = {
        { "limits", "max_contexts", FIELD(limits.max_contexts), 1, 1048576 },
        { "limits", "max_origins_per_context", FIELD(limits.max_origins_per_context), 1,
          1048576 },
        { "limits", "max_tokens_per_partition", FIELD(limits.max_tokens_per_partition), 1, 64 },
        { "limits", "max_token_bytes", FIELD(limits.max_token_bytes), 64 << 10,
          G_GUINT64_CONSTANT(4) << 30 },
        { "limits", "max_holders_per_context", FIELD(limits.max_holders_per_context), 1, 4096 },
        { "limits", "max_remembered", FIELD(limits.max_remembered), 0, 1048576 },
        { "daemon", "max_pending_per_sender", FIELD(max_pending_per_sender), 1, 4096 },
        { "daemon", "max_senders", FIELD(max_senders), 1, 1048576 },
};

static guint64 number(const TlsidConfig *config, size_t i) {
        const char *p = (const char *) config + documented[i].offset;

        return documented[i].width == sizeof(guint64) ? *(const guint64 *) p
                                                       : *(const guint *) p;
}

/* Field by field: padding need not compare equal. */
static gboolean same_config(const TlsidConfig *a, const TlsidConfig *b) {
        for (size_t i = 0; i < G_N_ELEMENTS(documented); i++)
                if (number(a, i) != number(b, i))
                        return FALSE;
        return strcmp(a->nss_db, b->nss_db) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GPtrArray) warnings = NULL, warnings_again = NULL;
        g_autoptr(GError) error = NULL, error_again = NULL;
        g_autoptr(GKeyFile) kf = g_key_file_new();
        TlsidConfig config, again, defaults;
        gboolean ok, ok_again;

        config_init(&defaults);
        ok = config_load_data(&config, (const char *) data, size, "tlsidd.conf", &warnings,
                              &error);
        ok_again = config_load_data(&again, (const char *) data, size, "tlsidd.conf",
                                    &warnings_again, &error_again);
        REQUIRE(ok == ok_again && same_config(&config, &again));
        REQUIRE(!warnings == !warnings_again);
        for (guint i = 0; warnings && i < warnings->len; i++)
                REQUIRE(strcmp(warnings->pdata[i], warnings_again->pdata[i]) == 0);

        if (!ok) {
                REQUIRE(error && g_str_has_prefix(error->message, "tlsidd.conf: "));
                REQUIRE(!warnings);
                REQUIRE(same_config(&config, &defaults));
                return 0;
        }
        REQUIRE(!error);
        REQUIRE(!warnings || warnings->len > 0);
        for (guint i = 0; warnings && i < warnings->len; i++)
                REQUIRE(g_str_has_prefix(warnings->pdata[i], "tlsidd.conf: "));

        /* GLib reads the text as the loader did; which keys it holds is the oracle. */
        REQUIRE(g_key_file_load_from_data(kf, (const char *) data, size, G_KEY_FILE_NONE,
                                          NULL));
        for (size_t i = 0; i < G_N_ELEMENTS(documented); i++) {
                guint64 v = number(&config, i);

                REQUIRE(v >= documented[i].min && v <= documented[i].max);
                REQUIRE(v == number(&defaults, i) ||
                        g_key_file_has_key(kf, documented[i].group, documented[i].key, NULL));
        }

        const char *nss_db = config.nss_db;
        REQUIRE(!*nss_db || strcmp(nss_db, "none") == 0 ||
                (g_str_has_prefix(nss_db, "sql:") && g_path_is_absolute(nss_db + 4)));
        REQUIRE(!*nss_db || g_key_file_has_key(kf, "certificates", "nss_db", NULL));
        return 0;
}
