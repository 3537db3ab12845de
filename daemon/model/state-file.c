/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remembered choices on disk: $XDG_STATE_HOME/tlsid/choices (GKeyFile, mode 0600). */
#include "state-file.h"

#include <errno.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* One group per choice: origins such as "[::1]:443" cannot be key names. */
#define GROUP_PREFIX "choice "

char *state_file_default_path(void) {
#if GLIB_CHECK_VERSION(2, 72, 0)
        return g_build_filename(g_get_user_state_dir(), "tlsid", "choices", NULL);
#else
        const char *dir = g_getenv("XDG_STATE_HOME");

        if (dir && g_path_is_absolute(dir))
                return g_build_filename(dir, "tlsid", "choices", NULL);
        return g_build_filename(g_get_home_dir(), ".local", "state", "tlsid", "choices", NULL);
#endif
}

/* Collects the problems of one load: the first one is reported, the rest counted. */
typedef struct {
        char *first;
        guint count;
} Problems;

static void problem_add(Problems *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void problem_add(Problems *p, const char *fmt, ...) {
        va_list ap;

        if (p->count++ > 0)
                return;
        va_start(ap, fmt);
        p->first = g_strdup_vprintf(fmt, ap);
        va_end(ap);
}

/* The string @key of @group, or NULL with a problem recorded. */
static char *group_get(GKeyFile *kf, const char *group, const char *key, Problems *p) {
        g_autoptr(GError) error = NULL;
        char *value = g_key_file_get_string(kf, group, key, &error);

        if (!value)
                problem_add(p, "[%s] %s: %s", group, key, error->message);
        return value;
}

static void load_group(Store *store, GKeyFile *kf, const char *group, Problems *p) {
        g_autofree char *context = NULL;
        g_autofree char *origin = NULL;
        g_autofree char *state_name = NULL;
        g_autofree char *identity = NULL;
        g_autoptr(GError) error = NULL;
        int state;

        if (!g_str_has_prefix(group, GROUP_PREFIX)) {
                problem_add(p, "[%s]: not a choice group", group);
                return;
        }
        context = group_get(kf, group, "context", p);
        origin = group_get(kf, group, "origin", p);
        state_name = group_get(kf, group, "state", p);
        if (!context || !origin || !state_name)
                return;
        /* A missing identity means none: only certificate choices carry one. */
        identity = g_key_file_get_string(kf, group, "identity", NULL);
        if (!identity)
                identity = g_strdup("");
        state = choice_state_from_string(state_name);
        if (state != TLSID_STATE_NONE && state != TLSID_STATE_CERTIFICATE) {
                g_autofree char *q = g_strescape(state_name, NULL);

                problem_add(p, "[%s] state: \"%s\" must be none or certificate", group, q);
                return;
        }
        /* The store's message names the field ("origin \"x\": ..."): that is the key. */
        if (!store_add_remembered(store, context, origin, state, identity, &error))
                problem_add(p, "[%s] %s", group, error->message);
}

/* Renames @path aside to "@path.corrupt-<unix time>"; returns the new name. */
static char *move_aside(const char *path, GError **error) {
        g_autofree char *target = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT, path,
                                                  g_get_real_time() / G_USEC_PER_SEC);

        if (g_rename(path, target) < 0) {
                int err = errno;

                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                            "cannot rename %s to %s: %s", path, target, g_strerror(err));
                return NULL;
        }
        return g_steal_pointer(&target);
}

gsize state_file_max_size(Store *store) {
        return (gsize) STATE_FILE_ENTRY_MAX * MAX(store_get_limits(store)->max_remembered, 1) +
               4096;
}

gboolean state_file_parse(Store *store, const char *data, gsize len, char **ret_problem) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;
        Problems problems = { 0 };

        *ret_problem = NULL;
        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &error)) {
                problem_add(&problems, "does not parse: %s", error->message);
        } else {
                g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

                for (gsize i = 0; groups[i]; i++)
                        load_group(store, kf, groups[i], &problems);
        }
        if (problems.count == 0)
                return TRUE;
        if (problems.count > 1)
                *ret_problem = g_strdup_printf("%s (and %u more)", problems.first,
                                               problems.count - 1);
        else
                *ret_problem = g_steal_pointer(&problems.first);
        g_free(problems.first);
        return FALSE;
}

gboolean state_file_load(Store *store, const char *path, char **ret_moved_to,
                         char **ret_problem, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autofree char *contents = NULL;
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        GStatBuf st;
        gsize len;

        if (ret_moved_to)
                *ret_moved_to = NULL;
        if (ret_problem)
                *ret_problem = NULL;
        if (g_stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (guint64) st.st_size > state_file_max_size(store)) {
                problem = g_strdup_printf("larger than %" G_GSIZE_FORMAT " bytes",
                                          state_file_max_size(store));
        } else {
                if (!g_file_get_contents(path, &contents, &len, &local)) {
                        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                                return TRUE;
                        g_propagate_error(error, g_steal_pointer(&local));
                        return FALSE;
                }
                if (state_file_parse(store, contents, len, &problem))
                        return TRUE;
        }

        moved_to = move_aside(path, error);
        if (!moved_to)
                return FALSE;
        if (ret_moved_to)
                *ret_moved_to = g_steal_pointer(&moved_to);
        if (ret_problem)
                *ret_problem = g_steal_pointer(&problem);
        return TRUE;
}

typedef struct {
        GKeyFile *kf;
        guint n;
} SerializeState;

static void serialize_one(const char *context, const char *origin, int state,
                          const char *identity, gpointer user_data) {
        SerializeState *st = user_data;
        g_autofree char *group = g_strdup_printf(GROUP_PREFIX "%u", ++st->n);

        g_key_file_set_string(st->kf, group, "context", context);
        g_key_file_set_string(st->kf, group, "origin", origin);
        g_key_file_set_string(st->kf, group, "state", choice_state_to_string(state));
        g_key_file_set_string(st->kf, group, "identity", identity);
}

GBytes *state_file_serialize(Store *store) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        SerializeState st = { kf, 0 };
        char *data;
        gsize len;

        store_foreach_remembered(store, serialize_one, &st);
        data = g_key_file_to_data(kf, &len, NULL);
        return g_bytes_new_take(data, len);
}

gboolean state_file_write(const char *path, GBytes *data, GError **error) {
        g_autofree char *dir = g_path_get_dirname(path);
        gsize len;
        const char *bytes = g_bytes_get_data(data, &len);

        if (g_mkdir_with_parents(dir, 0700) < 0) {
                int err = errno;

                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                            "cannot create %s: %s", dir, g_strerror(err));
                return FALSE;
        }
        return g_file_set_contents_full(path, bytes ? bytes : "", (gssize) len,
                                        G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}
