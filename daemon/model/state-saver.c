/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The remembered choices' life on disk: loading, the worker thread that writes them, its
 * scheduling and retries, and the callers waiting for a write. */
#include "state-saver.h"

#include <gio/gio.h>

#include "state-file.h"

/* What the worker thread shares with the main thread. Reference counted
 * (g_atomic_rc_box), so a write finishing after state_saver_free() is harmless. */
typedef struct {
        GMutex lock;
        GCond idle;
        gboolean busy;      /* under lock: a worker is writing */
        StateSaver *saver;  /* main thread only; NULL once the saver is gone */
        char *path;
} SaveState;

typedef struct {
        SaveState *state; /* a reference */
        GBytes *data;
} SaveJob;

/* A caller waiting for the remembered set of @serial to reach the disk. */
typedef struct {
        guint64 serial;
        StateSaverDoneFn fn;
        gpointer user_data;
        GDestroyNotify destroy;
} Waiter;

#define NO_SERIAL G_MAXUINT64

struct StateSaver {
        Store *store;
        GMainContext *context;
        SaveState *save;
        guint64 saved_serial;   /* remembered serial of what is on disk */
        guint64 writing_serial; /* of the snapshot the worker is writing */
        guint64 failed_serial;  /* of the last snapshot that failed, or NO_SERIAL */
        gboolean dirty;         /* a write is due whatever the serials say (a file that
                                 * was moved aside, a write that failed) */
        gboolean running;
        GSource *source;        /* idle source that takes the next snapshot */
        GSource *retry;         /* timeout source that tries a failed save again */
        guint backoff;          /* seconds before the next retry */
        GQueue waiters;         /* Waiter*, oldest first */
        GError *blocked;        /* why the choices file must not be replaced, or NULL */
        gint64 blocked_tried;   /* monotonic time it was last read */
        guint64 saves, save_failures;
        char *last_error;       /* of the last write when it failed, else NULL */
};

static SaveState *save_state_ref(SaveState *s) {
        return g_atomic_rc_box_acquire(s);
}

static void save_state_clear(SaveState *s) {
        g_mutex_clear(&s->lock);
        g_cond_clear(&s->idle);
        g_free(s->path);
}

static void save_state_unref(SaveState *s) {
        g_atomic_rc_box_release_full(s, (GDestroyNotify) save_state_clear);
}

static void save_job_free(SaveJob *job) {
        save_state_unref(job->state);
        g_bytes_unref(job->data);
        g_free(job);
}

static void waiter_free(Waiter *w) {
        if (w->destroy)
                w->destroy(w->user_data);
        g_free(w);
}

/* --- what is on disk --- */

static gboolean need_write(StateSaver *saver) {
        return !saver->blocked &&
               (saver->dirty || store_remembered_serial(saver->store) != saver->saved_serial);
}

/* Answers the waiters whose choices the write of @serial covered; @error NULL when it
 * reached the disk. */
static void answer_waiters(StateSaver *saver, guint64 serial, const GError *error) {
        while (!g_queue_is_empty(&saver->waiters)) {
                Waiter *w = g_queue_peek_head(&saver->waiters);

                if (w->serial > serial)
                        break;
                g_queue_pop_head(&saver->waiters);
                w->fn(error, w->user_data);
                waiter_free(w);
        }
}

static void schedule(StateSaver *saver);

static gboolean retry_cb(gpointer data) {
        StateSaver *saver = data;

        g_clear_pointer(&saver->retry, g_source_unref);
        schedule(saver);
        return G_SOURCE_REMOVE;
}

static void saved(StateSaver *saver, guint64 serial) {
        if (saver->last_error)
                g_message("Saved the remembered choices to %s again", saver->save->path);
        saver->saves++;
        saver->saved_serial = serial;
        saver->failed_serial = NO_SERIAL;
        g_clear_pointer(&saver->last_error, g_free);
        saver->backoff = 0;
        /* Nothing wakes the daemon once the choices are on disk. */
        if (saver->retry) {
                g_source_destroy(saver->retry);
                g_clear_pointer(&saver->retry, g_source_unref);
        }
        answer_waiters(saver, serial, NULL);
}

/* What a waiter learns of the failed write @error (transfer full). */
static GError *not_saved_error(const GError *error) {
        return g_error_new(TLSID_ERROR, TLSID_ERROR_NOT_SAVED,
                           "remember: not saved: %s; the choice is in force and remembered "
                           "until the daemon exits, and saving it is retried", error->message);
}

static void save_failed(StateSaver *saver, guint64 serial, const GError *error) {
        g_autoptr(GError) not_saved = not_saved_error(error);

        /* Once per cause, not at every retry. */
        if (g_strcmp0(saver->last_error, error->message) != 0)
                g_warning("Failed to save remembered choices to %s: %s; retrying",
                          saver->save->path, error->message);
        saver->save_failures++;
        saver->failed_serial = serial;
        saver->dirty = TRUE;
        g_free(saver->last_error);
        saver->last_error = g_strdup(error->message);
        saver->backoff = saver->backoff ? MIN(saver->backoff * 2, STATE_SAVER_RETRY_LAST_S)
                                        : STATE_SAVER_RETRY_FIRST_S;
        if (!saver->retry) {
                saver->retry = g_timeout_source_new_seconds(saver->backoff);
                g_source_set_name(saver->retry, "tlsid-save-retry");
                g_source_set_callback(saver->retry, retry_cb, saver, NULL);
                g_source_attach(saver->retry, saver->context);
        }
        answer_waiters(saver, serial, not_saved);
}

/* --- the worker --- */

static void save_thread(GTask *task, gpointer source_object, gpointer task_data,
                        GCancellable *cancellable) {
        SaveJob *job = task_data;
        GError *error = NULL;
        gboolean ok = state_file_write(job->state->path, job->data, &error);

        g_mutex_lock(&job->state->lock);
        job->state->busy = FALSE;
        g_cond_broadcast(&job->state->idle);
        g_mutex_unlock(&job->state->lock);
        if (ok)
                g_task_return_boolean(task, TRUE);
        else
                g_task_return_error(task, error);
}

/* In the main thread: the worker reports. */
static void save_done(GObject *source_object, GAsyncResult *result, gpointer user_data) {
        SaveState *state = user_data;
        StateSaver *saver = state->saver;
        g_autoptr(GError) error = NULL;
        gboolean ok = g_task_propagate_boolean(G_TASK(result), &error);

        if (saver) {
                saver->running = FALSE;
                if (ok)
                        saved(saver, saver->writing_serial);
                else
                        save_failed(saver, saver->writing_serial, error);
                /* Changes, and callers, that arrived while this save ran. */
                state_saver_changed(saver);
        }
        save_state_unref(state);
}

static gboolean save_idle_cb(gpointer data) {
        StateSaver *saver = data;

        g_clear_pointer(&saver->source, g_source_unref);
        /* save_done() schedules again once the running save is finished. */
        if (saver->running || !need_write(saver))
                return G_SOURCE_REMOVE;

        SaveJob *job = g_new0(SaveJob, 1);
        job->data = state_file_serialize(saver->store);
        job->state = save_state_ref(saver->save);
        saver->writing_serial = store_remembered_serial(saver->store);
        saver->dirty = FALSE;
        saver->running = TRUE;
        g_mutex_lock(&saver->save->lock);
        saver->save->busy = TRUE;
        g_mutex_unlock(&saver->save->lock);

        /* save_done() runs on the saver's context. */
        g_main_context_push_thread_default(saver->context);
        g_autoptr(GTask) task = g_task_new(NULL, NULL, save_done, save_state_ref(saver->save));
        g_main_context_pop_thread_default(saver->context);
        g_task_set_source_tag(task, save_idle_cb);
        g_task_set_task_data(task, job, (GDestroyNotify) save_job_free);
        g_task_run_in_thread(task, save_thread);
        return G_SOURCE_REMOVE;
}

/* Coalesces every change made within one main loop iteration into one save. */
static void schedule(StateSaver *saver) {
        if (saver->source)
                return;
        saver->source = g_idle_source_new();
        g_source_set_name(saver->source, "tlsid-save");
        g_source_set_callback(saver->source, save_idle_cb, saver, NULL);
        g_source_attach(saver->source, saver->context);
}

/* --- loading --- */

/* Writes now, in this thread: at start, before the loop runs. */
static void write_now(StateSaver *saver) {
        g_autoptr(GBytes) data = state_file_serialize(saver->store);
        g_autoptr(GError) error = NULL;
        guint64 serial = store_remembered_serial(saver->store);

        saver->dirty = FALSE;
        if (state_file_write(saver->save->path, data, &error))
                saved(saver, serial);
        else
                save_failed(saver, serial, error);
}

/* Loads the file into the store; @at_start: the store was empty and nothing runs yet. */
static void load_file(StateSaver *saver, gboolean at_start) {
        const char *path = saver->save->path;
        g_autoptr(GError) error = NULL;
        g_autofree char *moved_to = NULL;
        g_autofree char *problem = NULL;
        gboolean was_blocked = saver->blocked != NULL;

        saver->blocked_tried = g_get_monotonic_time();
        if (!state_file_load(saver->store, path, &moved_to, &problem, &error)) {
                if (!was_blocked)
                        g_warning("Cannot load remembered choices: %s; it is left as it is, and "
                                  "choices are not remembered until it can be read or is "
                                  "removed", error->message);
                g_clear_error(&saver->blocked);
                saver->blocked = g_steal_pointer(&error);
                if (at_start)
                        saver->saved_serial = store_remembered_serial(saver->store);
                return;
        }
        g_clear_error(&saver->blocked);
        if (was_blocked)
                g_message("Remembered choices loaded from %s, which can be read again", path);
        if (problem) {
                g_warning("Remembered choices in %s are corrupt (%s); moved the file to %s, "
                          "its good entries are written back", path, problem, moved_to);
                saver->dirty = TRUE;
        }
        if (at_start && problem)
                write_now(saver);
        else if (at_start)
                saver->saved_serial = store_remembered_serial(saver->store);
        else
                state_saver_changed(saver);
}

/* --- the saver --- */

StateSaver *state_saver_new(Store *store, const char *path, GMainContext *context) {
        StateSaver *saver = g_new0(StateSaver, 1);

        saver->store = store;
        saver->context = context ? g_main_context_ref(context)
                                 : g_main_context_ref_thread_default();
        saver->save = g_atomic_rc_box_new0(SaveState);
        g_mutex_init(&saver->save->lock);
        g_cond_init(&saver->save->idle);
        saver->save->saver = saver;
        saver->save->path = g_strdup(path);
        saver->saved_serial = store_remembered_serial(store);
        saver->failed_serial = NO_SERIAL;
        g_queue_init(&saver->waiters);
        return saver;
}

void state_saver_load(StateSaver *saver) {
        guint removed = state_file_remove_stale_temps(saver->save->path);

        if (removed > 0)
                g_message("Removed %u temporary file%s an interrupted save of %s left", removed,
                          removed == 1 ? "" : "s", saver->save->path);
        load_file(saver, TRUE);
}

void state_saver_changed(StateSaver *saver) {
        if (!need_write(saver))
                return;
        /* What failed is retried by the timer, or at once for a caller waiting. */
        if (store_remembered_serial(saver->store) == saver->failed_serial &&
            g_queue_is_empty(&saver->waiters))
                return;
        schedule(saver);
}

/* Why a remember is refused while the choices file must not be replaced. */
static GError *blocked_error(StateSaver *saver) {
        return g_error_new(TLSID_ERROR, TLSID_ERROR_NOT_SAVED,
                           "remember: not saved: %s; the file is left as it is, and no choice "
                           "is remembered until it can be read or is removed (this one is in "
                           "force until the daemon exits)", saver->blocked->message);
}

gboolean state_saver_check_remember(StateSaver *saver, GError **error) {
        if (g_queue_get_length(&saver->waiters) >= STATE_SAVER_WAITERS_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "remember: %u choices are waiting to be saved already",
                            STATE_SAVER_WAITERS_MAX);
                return FALSE;
        }
        if (saver->blocked &&
            g_get_monotonic_time() - saver->blocked_tried >= G_USEC_PER_SEC)
                load_file(saver, FALSE);
        if (!saver->blocked)
                return TRUE;
        g_propagate_error(error, blocked_error(saver));
        return FALSE;
}

gboolean state_saver_is_saved(StateSaver *saver) {
        return !saver->dirty && !saver->blocked &&
               store_remembered_serial(saver->store) == saver->saved_serial;
}

void state_saver_wait(StateSaver *saver, StateSaverDoneFn fn, gpointer user_data,
                      GDestroyNotify destroy) {
        Waiter *w = g_new0(Waiter, 1);

        w->serial = store_remembered_serial(saver->store);
        w->fn = fn;
        w->user_data = user_data;
        w->destroy = destroy;
        g_queue_push_tail(&saver->waiters, w);
        state_saver_changed(saver);
}

void state_saver_get_statistics(StateSaver *saver, StateSaverStatistics *ret) {
        ret->saves = saver->saves;
        ret->save_failures = saver->save_failures;
        ret->last_error = saver->blocked      ? saver->blocked->message
                          : saver->last_error ? saver->last_error
                                              : "";
}

gboolean state_saver_flush(StateSaver *saver, GError **error) {
        if (saver->source) {
                g_source_destroy(saver->source);
                g_clear_pointer(&saver->source, g_source_unref);
        }
        if (saver->retry) {
                g_source_destroy(saver->retry);
                g_clear_pointer(&saver->retry, g_source_unref);
        }
        /* Let a running write finish first, so it cannot overwrite the newer one. Its
         * result is not known here: what it wrote is written again. */
        g_mutex_lock(&saver->save->lock);
        while (saver->save->busy)
                g_cond_wait(&saver->save->idle, &saver->save->lock);
        g_mutex_unlock(&saver->save->lock);
        if (saver->running) {
                saver->running = FALSE;
                saver->dirty = TRUE;
        }
        if (saver->blocked) {
                g_autoptr(GError) not_saved = blocked_error(saver);

                answer_waiters(saver, NO_SERIAL, not_saved);
                return TRUE;
        }
        if (!need_write(saver)) {
                answer_waiters(saver, NO_SERIAL, NULL);
                return TRUE;
        }
        g_autoptr(GBytes) data = state_file_serialize(saver->store);
        guint64 serial = store_remembered_serial(saver->store);
        g_autoptr(GError) local = NULL;

        saver->dirty = FALSE;
        if (state_file_write(saver->save->path, data, &local)) {
                saved(saver, serial);
                return TRUE;
        }
        /* The caller logs it: no retry, the loop has stopped. */
        {
                g_autoptr(GError) not_saved = not_saved_error(local);

                answer_waiters(saver, NO_SERIAL, not_saved);
        }
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
}

void state_saver_free(StateSaver *saver) {
        if (!saver)
                return;
        if (saver->source) {
                g_source_destroy(saver->source);
                g_source_unref(saver->source);
        }
        if (saver->retry) {
                g_source_destroy(saver->retry);
                g_source_unref(saver->retry);
        }
        g_queue_clear_full(&saver->waiters, (GDestroyNotify) waiter_free);
        /* A save still running finishes on its own and then finds no saver. */
        saver->save->saver = NULL;
        save_state_unref(saver->save);
        g_clear_error(&saver->blocked);
        g_free(saver->last_error);
        g_main_context_unref(saver->context);
        g_free(saver);
}
