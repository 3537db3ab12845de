/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Remembered choices on disk: $XDG_STATE_HOME/tlsid/choices (GKeyFile, mode 0600). */
#pragma once

#include <glib.h>

#include "store.h"

/* Bytes one remembered choice takes in the file at most: its group line and four keys
 * with a 128-byte context, a 259-byte origin and a fingerprint come to about 520. */
#define STATE_FILE_ENTRY_MAX 640

/* Bytes of a choices file at most for @store: room for its max_remembered choices. A
 * larger file (a log written over it, say) is moved aside unread, as a corrupt one is. */
gsize state_file_max_size(Store *store);

/* The default path: $XDG_STATE_HOME/tlsid/choices (transfer full). */
char *state_file_default_path(void);

/* Loads the remembered choices of @path into @store. A missing file is fine. A file
 * that does not parse, or holds an invalid entry, is renamed to
 * "@path.corrupt-<unix time>" (valid entries are still loaded): then the new name is
 * in @ret_moved_to and the reason, naming the group and key, in @ret_problem (both
 * transfer full, NULL otherwise), so the caller logs once. A file larger than
 * state_file_max_size() is moved aside the same way, unread. Returns FALSE with @error only when the file cannot be read or moved. */
gboolean state_file_load(Store *store, const char *path, char **ret_moved_to,
                         char **ret_problem, GError **error);
/* Loads the remembered choices of a choices file's text, @len bytes at @data, into @store:
 * every valid entry is added. FALSE when the text does not parse or holds an invalid
 * entry; then @ret_problem (transfer full) gives the first reason, naming the group and
 * key, and how many more there are. What state_file_load() runs on the file it read. */
gboolean state_file_parse(Store *store, const char *data, gsize len, char **ret_problem);

/* Serialises the remembered choices of @store (transfer full), in the main thread. */
GBytes *state_file_serialize(Store *store);

/* Writes @data to @path atomically (temp file, fsync, rename), mode 0600, creating the
 * directory (0700). Blocking: run it from a worker thread. */
gboolean state_file_write(const char *path, GBytes *data, GError **error);
