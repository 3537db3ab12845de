/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remembered choices on disk: $XDG_STATE_HOME/tlsid/choices (GKeyFile, mode 0600). */
#include "state-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file-read.h"

/* One group per choice: origins such as "[::1]:443" cannot be key names. */
#define GROUP_PREFIX "choice "
/* The keys of a group; each may be given once. */
static const char *const group_keys[] = { "context", "origin", "state", "identity" };

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

/* "Permission denied (EACCES)": the text and the name of @err, for messages that must
 * say which errno it was (transfer full). */
static char *errno_text(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        const char *name = strerrorname_np(err);

        if (name)
                return g_strdup_printf("%s (%s)", g_strerror(err), name);
#endif
        return g_strdup_printf("%s (errno %d)", g_strerror(err), err);
}

static gboolean set_errno_error(GError **error, int err, const char *fmt, ...)
        G_GNUC_PRINTF(3, 4);

/* Sets @error to "<fmt>: <errno_text>" in G_FILE_ERROR; returns FALSE. */
static gboolean set_errno_error(GError **error, int err, const char *fmt, ...) {
        g_autofree char *what = NULL;
        g_autofree char *why = errno_text(err);
        va_list ap;

        va_start(ap, fmt);
        what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", what, why);
        return FALSE;
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

/* One load: the store, its problems, and what the file held so far. */
typedef struct {
        Store *store;
        Problems problems;
        GHashTable *groups;     /* group name -> GUINT_TO_POINTER(line) */
        GHashTable *choices;    /* choice_key() of a loaded entry -> GUINT_TO_POINTER(line) */
        GHashTable *in_use;     /* choice_key() of what @store remembered before the load */
} Load;

/* (context, origin) as one string that no other pair makes (transfer full). */
static char *choice_key(const char *context, const char *origin) {
        return g_strdup_printf("%zu:%s%s", strlen(context), context, origin);
}

static void note_in_use(const char *context, const char *origin, int state,
                        const char *identity, gpointer user_data) {
        g_hash_table_add(user_data, choice_key(context, origin));
}

/* The string @key of @group, or NULL with a problem recorded. */
static char *group_get(GKeyFile *kf, const char *group, guint line, const char *key,
                       Problems *p) {
        g_autoptr(GError) error = NULL;
        char *value = g_key_file_get_string(kf, group, key, &error);

        if (!value)
                problem_add(p, "line %u: [%s] %s: %s", line, group, key, error->message);
        return value;
}

/* GKeyFile keeps the last of a key given twice: the entry is refused instead. */
static gboolean group_keys_once(GKeyFile *kf, const char *group, guint line, Problems *p) {
        gsize n = 0;
        g_auto(GStrv) keys = g_key_file_get_keys(kf, group, &n, NULL);

        for (gsize k = 0; k < G_N_ELEMENTS(group_keys); k++) {
                guint seen = 0;

                for (gsize i = 0; i < n; i++)
                        if (strcmp(keys[i], group_keys[k]) == 0)
                                seen++;
                if (seen > 1) {
                        problem_add(p, "line %u: [%s] %s: given %u times", line, group,
                                    group_keys[k], seen);
                        return FALSE;
                }
        }
        return TRUE;
}

/* Adds one entry without overriding what @load->store holds (see state_file_load()). */
static gboolean apply_entry(Load *load, const char *context, const char *origin, int state,
                            const char *identity, GError **error) {
        Store *store = load->store;
        g_autofree char *key = choice_key(context, origin);
        StorePartition current;

        if (g_hash_table_contains(load->in_use, key))
                return TRUE;
        if (store_has_context(store, context) && !store_context_is_ephemeral(store, context)) {
                if (!store_get_partition(store, context, origin, &current, error))
                        return FALSE;
                if (current.state != TLSID_STATE_UNDECIDED)
                        return TRUE;
                return store_set_choice(store, context, origin, state, identity, 0, TRUE, NULL,
                                        error);
        }
        return store_add_remembered(store, context, origin, state, identity, error);
}

static void load_group(Load *load, GKeyFile *kf, const char *group, guint line) {
        Problems *p = &load->problems;
        g_autofree char *context = NULL;
        g_autofree char *origin = NULL;
        g_autofree char *state_name = NULL;
        g_autofree char *identity = NULL;
        g_autofree char *key = NULL;
        g_autoptr(GError) error = NULL;
        gpointer first;
        int state;

        if (!g_str_has_prefix(group, GROUP_PREFIX)) {
                problem_add(p, "line %u: [%s]: not a choice group", line, group);
                return;
        }
        if (g_hash_table_lookup_extended(load->groups, group, NULL, &first)) {
                problem_add(p, "line %u: [%s]: the group of line %u again", line, group,
                            GPOINTER_TO_UINT(first));
                return;
        }
        g_hash_table_insert(load->groups, g_strdup(group), GUINT_TO_POINTER(line));
        if (!group_keys_once(kf, group, line, p))
                return;
        context = group_get(kf, group, line, "context", p);
        origin = group_get(kf, group, line, "origin", p);
        state_name = group_get(kf, group, line, "state", p);
        if (!context || !origin || !state_name)
                return;
        /* A missing identity means none: only certificate choices carry one. */
        identity = g_key_file_get_string(kf, group, "identity", NULL);
        if (!identity)
                identity = g_strdup("");
        state = choice_state_from_string(state_name);
        if (state != TLSID_STATE_NONE && state != TLSID_STATE_CERTIFICATE) {
                g_autofree char *q = g_strescape(state_name, NULL);

                problem_add(p, "line %u: [%s] state: \"%s\" must be none or certificate", line,
                            group, q);
                return;
        }
        key = choice_key(context, origin);
        if (g_hash_table_lookup_extended(load->choices, key, NULL, &first)) {
                g_autofree char *qc = error_quote(context);
                g_autofree char *qo = error_quote(origin);

                problem_add(p, "line %u: [%s]: context %s, origin %s again (first at line %u)",
                            line, group, qc, qo, GPOINTER_TO_UINT(first));
                return;
        }
        /* The store's message names the field ("origin \"x\": ..."): that is the key. */
        if (!apply_entry(load, context, origin, state, identity, &error)) {
                problem_add(p, "line %u: [%s] %s", line, group, error->message);
                return;
        }
        g_hash_table_insert(load->choices, g_steal_pointer(&key), GUINT_TO_POINTER(line));
}

/* Parses one section of the file, from @line on: a group header and its keys, or the
 * text before the first header. Each section is a key file of its own, so a group name
 * given twice cannot merge two entries, and each problem has its line. */
static void load_section(Load *load, const char *text, gsize len, guint line) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &error)) {
                problem_add(&load->problems, "line %u: does not parse: %s", line,
                            error->message);
                return;
        }
        groups = g_key_file_get_groups(kf, NULL);
        for (gsize i = 0; groups[i]; i++)
                load_group(load, kf, groups[i], line);
}

/* Splits @contents at the lines that start a group (a "[" after blanks, as GKeyFile
 * reads them). */
static void load_contents(Load *load, const char *contents, gsize len) {
        gsize start = 0, pos = 0;
        guint line = 1, start_line = 1;

        while (pos < len) {
                const char *nl = memchr(contents + pos, '\n', len - pos);
                gsize next = nl ? (gsize) (nl - contents) + 1 : len;
                gsize p = pos;

                while (p < next && (contents[p] == ' ' || contents[p] == '\t'))
                        p++;
                if (p < next && contents[p] == '[' && pos > start) {
                        load_section(load, contents + start, pos - start, start_line);
                        start = pos;
                        start_line = line;
                } else if (pos == start) {
                        start_line = line;
                }
                pos = next;
                line++;
        }
        if (pos > start)
                load_section(load, contents + start, pos - start, start_line);
}

/* Renames @path aside to "@path.corrupt-<unix time>"; returns the new name. */
static char *move_aside(const char *path, GError **error) {
        g_autofree char *target = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT, path,
                                                  g_get_real_time() / G_USEC_PER_SEC);

        if (g_rename(path, target) < 0) {
                set_errno_error(error, errno, "cannot rename %s to %s", path, target);
                return NULL;
        }
        return g_steal_pointer(&target);
}

gsize state_file_max_size(Store *store) {
        return (gsize) STATE_FILE_ENTRY_MAX * MAX(store_get_limits(store)->max_remembered, 1) +
               4096;
}

gboolean state_file_parse(Store *store, const char *data, gsize len, char **ret_problem) {
        Load load = { .store = store };

        *ret_problem = NULL;
        load.groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        load.choices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        load.in_use = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        store_foreach_remembered(store, note_in_use, load.in_use);
        load_contents(&load, data, len);
        g_hash_table_unref(load.groups);
        g_hash_table_unref(load.choices);
        g_hash_table_unref(load.in_use);
        if (load.problems.count == 0)
                return TRUE;
        if (load.problems.count > 1)
                *ret_problem = g_strdup_printf("%s (and %u more)", load.problems.first,
                                               load.problems.count - 1);
        else
                *ret_problem = g_steal_pointer(&load.problems.first);
        g_free(load.problems.first);
        return FALSE;
}

gboolean state_file_load(Store *store, const char *path, char **ret_moved_to,
                         char **ret_problem, GError **error) {
        g_autofree char *contents = NULL;
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        gsize len;
        int err;

        if (ret_moved_to)
                *ret_moved_to = NULL;
        if (ret_problem)
                *ret_problem = NULL;
        switch (file_read_bounded(path, state_file_max_size(store), &contents, &len, &err)) {
        case FILE_READ_OK:
                if (state_file_parse(store, contents, len, &problem))
                        return TRUE;
                break;
        case FILE_READ_MISSING:
                return TRUE;
        case FILE_READ_TOO_LARGE:
                problem = g_strdup_printf("larger than %" G_GSIZE_FORMAT " bytes",
                                          state_file_max_size(store));
                break;
        case FILE_READ_NOT_REGULAR:
                return set_errno_error(error, err, "cannot read %s: not a regular file", path);
        case FILE_READ_FAILED:
        default:
                return set_errno_error(error, err, "cannot read %s", path);
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

static gboolean write_all(int fd, const char *bytes, gsize len, int *ret_errno) {
        while (len > 0) {
                ssize_t n = write(fd, bytes, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        *ret_errno = errno;
                        return FALSE;
                }
                bytes += n;
                len -= (gsize) n;
        }
        return TRUE;
}

/* fsync of the directory, so the rename itself survives a crash. */
static gboolean sync_dir(const char *dir, GError **error) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int err;

        if (fd < 0)
                return set_errno_error(error, errno, "cannot open the directory %s", dir);
        /* EINVAL: a file system that cannot sync directories; the rename is all it has. */
        if (fsync(fd) < 0 && errno != EINVAL) {
                err = errno;
                close(fd);
                return set_errno_error(error, err, "cannot fsync the directory %s", dir);
        }
        close(fd);
        return TRUE;
}

gboolean state_file_write(const char *path, GBytes *data, GError **error) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *temp = g_strconcat(path, STATE_FILE_TEMP_INFIX "XXXXXX", NULL);
        gsize len;
        const char *bytes = g_bytes_get_data(data, &len);
        int fd, err = 0;

        if (g_mkdir_with_parents(dir, 0700) < 0)
                return set_errno_error(error, errno, "cannot create %s", dir);
        fd = g_mkstemp_full(temp, O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return set_errno_error(error, errno, "cannot create a file in %s", dir);
        if (!write_all(fd, bytes ? bytes : "", len, &err)) {
                set_errno_error(error, err, "cannot write %s", temp);
                goto fail;
        }
        if (fsync(fd) < 0) {
                set_errno_error(error, errno, "cannot fsync %s", temp);
                goto fail;
        }
        err = close(fd) < 0 ? errno : 0;
        fd = -1;
        if (err) {
                set_errno_error(error, err, "cannot write %s", temp);
                goto fail;
        }
        if (g_rename(temp, path) < 0) {
                set_errno_error(error, errno, "cannot rename %s to %s", temp, path);
                goto fail;
        }
        return sync_dir(dir, error);

fail:
        if (fd >= 0)
                close(fd);
        g_unlink(temp);
        return FALSE;
}

/* Whether @name is "@base" STATE_FILE_TEMP_INFIX followed by exactly what g_mkstemp()
 * puts in place of "XXXXXX". */
static gboolean is_temp_name(const char *name, const char *base) {
        gsize n = strlen(base), infix = strlen(STATE_FILE_TEMP_INFIX);

        if (strncmp(name, base, n) != 0 || strncmp(name + n, STATE_FILE_TEMP_INFIX, infix) != 0)
                return FALSE;
        name += n + infix;
        for (int i = 0; i < 6; i++)
                if (!g_ascii_isalnum(name[i]))
                        return FALSE;
        return name[6] == '\0';
}

guint state_file_remove_stale_temps(const char *path) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *base = g_path_get_basename(path);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        guint removed = 0;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *file = NULL;
                GStatBuf st;

                if (!is_temp_name(name, base))
                        continue;
                file = g_build_filename(dir, name, NULL);
                if (g_lstat(file, &st) == 0 && S_ISREG(st.st_mode) && g_unlink(file) == 0)
                        removed++;
        }
        return removed;
}
