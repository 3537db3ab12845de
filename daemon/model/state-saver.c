/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker thread that writes the remembered choices, and its scheduling. */
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

struct StateSaver {
        Store *store;
        GMainContext *context;
        SaveState *save;
        guint64 saved_serial; /* remembered serial of the last snapshot taken */
        GSource *source;      /* idle source that takes the next snapshot */
        gboolean running;
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

static void schedule(StateSaver *saver);

static void save_done(GObject *source_object, GAsyncResult *result, gpointer user_data) {
        SaveState *state = user_data;
        StateSaver *saver = state->saver;
        g_autoptr(GError) error = NULL;

        if (!g_task_propagate_boolean(G_TASK(result), &error) && saver)
                g_warning("Failed to save remembered choices to %s: %s", state->path,
                          error->message);
        if (saver) {
                saver->running = FALSE;
                /* Changes that arrived while this save ran. */
                state_saver_changed(saver);
        }
        save_state_unref(state);
}

static gboolean save_idle_cb(gpointer data) {
        StateSaver *saver = data;
        guint64 serial = store_remembered_serial(saver->store);

        g_clear_pointer(&saver->source, g_source_unref);
        /* save_done() schedules again once the running save is finished. */
        if (saver->running || serial == saver->saved_serial)
                return G_SOURCE_REMOVE;

        SaveJob *job = g_new0(SaveJob, 1);
        job->data = state_file_serialize(saver->store);
        job->state = save_state_ref(saver->save);
        saver->saved_serial = serial;
        saver->running = TRUE;
        g_mutex_lock(&saver->save->lock);
        saver->save->busy = TRUE;
        g_mutex_unlock(&saver->save->lock);

        g_autoptr(GTask) task = g_task_new(NULL, NULL, save_done, save_state_ref(saver->save));
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
        return saver;
}

void state_saver_changed(StateSaver *saver) {
        if (store_remembered_serial(saver->store) != saver->saved_serial)
                schedule(saver);
}

gboolean state_saver_flush(StateSaver *saver, GError **error) {
        if (saver->source) {
                g_source_destroy(saver->source);
                g_clear_pointer(&saver->source, g_source_unref);
        }
        /* Let a running write finish first, so it cannot overwrite the newer one. */
        g_mutex_lock(&saver->save->lock);
        while (saver->save->busy)
                g_cond_wait(&saver->save->idle, &saver->save->lock);
        g_mutex_unlock(&saver->save->lock);
        saver->running = FALSE;

        guint64 serial = store_remembered_serial(saver->store);
        if (serial == saver->saved_serial)
                return TRUE;
        g_autoptr(GBytes) data = state_file_serialize(saver->store);
        saver->saved_serial = serial;
        return state_file_write(saver->save->path, data, error);
}

void state_saver_free(StateSaver *saver) {
        if (!saver)
                return;
        if (saver->source) {
                g_source_destroy(saver->source);
                g_source_unref(saver->source);
        }
        /* A save still running finishes on its own and then finds no saver. */
        saver->save->saver = NULL;
        save_state_unref(saver->save);
        g_main_context_unref(saver->context);
        g_free(saver);
}
