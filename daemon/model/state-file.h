/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remembered choices on disk: $XDG_STATE_HOME/tlsid/choices (GKeyFile, mode 0600). */
#pragma once

#include <glib.h>

#include "store.h"

/* Bytes one remembered choice takes in the file at most: its group line and four keys
 * with a 128-byte context, a 259-byte origin and a fingerprint come to about 520. */
#define STATE_FILE_ENTRY_MAX 640

/* What state_file_write() inserts after the file's name for its temporary file, which
 * then ends in six letters or digits: "choices.tmp-a1B2c3". */
#define STATE_FILE_TEMP_INFIX ".tmp-"

/* Bytes of a choices file at most for @store: room for its max_remembered choices. A
 * larger file (a log written over it, say) is moved aside unread, as a corrupt one is. */
gsize state_file_max_size(Store *store);

/* The default path: $XDG_STATE_HOME/tlsid/choices (transfer full). */
char *state_file_default_path(void);

/* Loads the remembered choices of @path into @store. A missing file is fine. A file
 * that does not parse, or holds an invalid entry, is renamed to
 * "@path.corrupt-<unix time>" (valid entries are still loaded): then the new name is
 * in @ret_moved_to and the reason, "line N: [group] key: ...", in @ret_problem (both
 * transfer full, NULL otherwise), so the caller logs once. An entry whose context and
 * origin an earlier one had, a group name given twice and a key given twice in a group
 * are invalid entries (the first stays). A file larger than state_file_max_size() is
 * moved aside the same way, unread.
 *
 * Entries apply to a store in use without overriding it: one @store remembers already
 * is left out, and one for an open context whose entry holds a choice leaves that
 * choice alone (and is left out); one for an undecided entry of an open context is set
 * as SetChoice with remember would (a new generation, the choice-changed fn called).
 *
 * Returns FALSE with @error, naming @path and the errno, when the file exists but
 * cannot be read (nothing is loaded) or cannot be moved aside (its valid entries are
 * loaded): such a file must not be replaced. */
gboolean state_file_load(Store *store, const char *path, char **ret_moved_to,
                         char **ret_problem, GError **error);
/* Loads the remembered choices of a choices file's text, @len bytes at @data, into @store:
 * every valid entry is added. FALSE when the text does not parse or holds an invalid
 * entry; then @ret_problem (transfer full) gives the first reason, naming the group and
 * key, and how many more there are. What state_file_load() runs on the file it read. */
gboolean state_file_parse(Store *store, const char *data, gsize len, char **ret_problem);

/* Serialises the remembered choices of @store (transfer full), in the main thread. */
GBytes *state_file_serialize(Store *store);

/* Writes @data to @path durably: to "@path" STATE_FILE_TEMP_INFIX "XXXXXX" in the same
 * directory (mode 0600), fsync'd, renamed over @path, then the directory fsync'd;
 * creates the directory (0700). The error names the file and the errno; the temporary
 * file is removed on failure. Blocking: run it from a worker thread. */
gboolean state_file_write(const char *path, GBytes *data, GError **error);

/* Removes the temporary files state_file_write() leaves behind when the process dies
 * mid-write: regular files of @path's directory named as above, nothing else. Returns
 * how many were removed. For start-up, before anything writes. */
guint state_file_remove_stale_temps(const char *path);
