/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Saving the remembered choices off the main loop: changes made within one main loop
 * iteration are coalesced into one snapshot, written by a worker thread with
 * state_file_write(), one write at a time. */
#pragma once

#include <glib.h>

#include "store.h"

typedef struct StateSaver StateSaver;

/* A saver of @store's remembered choices to @path, scheduling on @context (the thread
 * default when NULL). What @store holds now counts as saved (it was just loaded). @store
 * is not owned and must outlive the saver. */
StateSaver *state_saver_new(Store *store, const char *path, GMainContext *context);

/* Schedules a save when the remembered choices changed since the last snapshot. Call it
 * after anything that may have changed them. */
void state_saver_changed(StateSaver *saver);

/* Writes the remembered choices now if they changed since the last snapshot, after
 * waiting for a write running in the worker thread. For shutdown, after the loop
 * stopped. */
gboolean state_saver_flush(StateSaver *saver, GError **error);

/* Drops a scheduled save; a write still running finishes on its own. Accepts NULL. */
void state_saver_free(StateSaver *saver);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StateSaver, state_saver_free)
