/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The remembered choices' life on disk: loaded at start (stale temporary files removed,
 * a corrupt file's good entries written back at once), saved off the main loop by a
 * worker thread (changes made meanwhile coalesced into one snapshot, one write at a
 * time), a failed save retried with backoff, and the callers that wait for their choice
 * to be on disk answered from the main loop. */
#pragma once

#include <glib.h>

#include "store.h"

/* Callers waiting for a save at most: each holds its call until the write is done. */
#define STATE_SAVER_WAITERS_MAX 4096
/* Seconds between retries of a failed save: doubled from the first to the last. */
#define STATE_SAVER_RETRY_FIRST_S 1
#define STATE_SAVER_RETRY_LAST_S 60

typedef struct StateSaver StateSaver;

/* Called on the saver's context once what the store remembered when the waiter was
 * added is on disk (@error NULL), or the write that was to put it there failed (@error:
 * TLSID_ERROR_NOT_SAVED, naming the file and the errno). */
typedef void (*StateSaverDoneFn)(const GError *error, gpointer user_data);

typedef struct {
        guint64 saves;          /* writes that reached the disk, the directory fsync'd */
        guint64 save_failures;  /* writes that failed */
        const char *last_error; /* why the remembered choices are not on disk (the last
                                 * failed write, or a choices file that must not be
                                 * replaced), "" when they are; owned by the saver */
} StateSaverStatistics;

/* A saver of @store's remembered choices to @path, scheduling on @context (the thread
 * default when NULL). @store is not owned and must outlive the saver. */
StateSaver *state_saver_new(Store *store, const char *path, GMainContext *context);

/* Removes the temporary files an interrupted save left, and loads @path into the store
 * (state_file_load()). A file with bad entries is moved aside and its good entries are
 * written back at once; one that cannot be read (or moved aside) is left as it is and
 * never replaced: nothing is saved and state_saver_check_remember() refuses until it
 * can be read or is gone. Logs what it found. Call it once, first. */
void state_saver_load(StateSaver *saver);

/* Schedules a save when the remembered choices differ from what is on disk. Call it
 * after anything that may have changed them. A save that failed is not tried again
 * for each call, but by the retry timer or for a new waiter. */
void state_saver_changed(StateSaver *saver);

/* Whether a remembered choice can be saved now. While the choices file cannot be read,
 * tries it again (at most once a second): one readable now is loaded, as at start, one
 * gone is fine. FALSE with TLSID_ERROR_NOT_SAVED naming the file and the errno when it
 * still cannot, or LIMIT_EXCEEDED when STATE_SAVER_WAITERS_MAX callers wait already. */
gboolean state_saver_check_remember(StateSaver *saver, GError **error);

/* Whether the remembered choices the store holds now are on disk. */
gboolean state_saver_is_saved(StateSaver *saver);

/* Calls @fn with @user_data once what the store remembers now is on disk or the write
 * for it failed, then @destroy (nullable) on @user_data; only @destroy when the saver is
 * freed first. Schedules the write. */
void state_saver_wait(StateSaver *saver, StateSaverDoneFn fn, gpointer user_data,
                      GDestroyNotify destroy);

/* The saver's counters and its last error, for GetStatistics. */
void state_saver_get_statistics(StateSaver *saver, StateSaverStatistics *ret);

/* Writes the remembered choices now if they differ from what is on disk, after waiting
 * for a write running in the worker thread, and answers every waiter. For shutdown,
 * after the loop stopped. */
gboolean state_saver_flush(StateSaver *saver, GError **error);

/* Drops a scheduled save and the waiters; a write still running finishes on its own.
 * Accepts NULL. */
void state_saver_free(StateSaver *saver);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StateSaver, state_saver_free)
