/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy in force: policy.json reread when it changes and on request (SIGHUP). */
#include "policy-watch.h"

#include <gio/gio.h>
#include <string.h>

struct PolicyWatch {
        char *path;
        GMainContext *ctx;
        GFileMonitor *monitor;   /* nullable: then only explicit reloads */
        GSource *settle;         /* pending reread after file events */
        Policy *policy;
        char *policy_json;       /* policy_to_json(policy), to tell a real change */
        char *error;             /* last failure, while the file on disk is bad */
        PolicyChangedFn changed;
        gpointer user_data;
};

/* Rereads the file. @always: report even when nothing changed (an explicit reload). */
static void reload(PolicyWatch *watch, gboolean always) {
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = policy_load(watch->path, &error);
        g_autofree char *json = NULL;
        gboolean report;

        if (!policy) {
                report = always || g_strcmp0(watch->error, error->message) != 0;
                g_free(watch->error);
                watch->error = g_strdup(error->message);
                if (report && watch->changed)
                        watch->changed(watch->policy, watch->error, watch->user_data);
                return;
        }

        json = policy_to_json(policy);
        /* Recovering from a bad file is news even when the policy is the same. */
        report = always || watch->error || strcmp(json, watch->policy_json) != 0;
        g_clear_pointer(&watch->error, g_free);
        g_free(watch->policy_json);
        watch->policy_json = g_steal_pointer(&json);
        policy_free(watch->policy);
        watch->policy = g_steal_pointer(&policy);
        if (report && watch->changed)
                watch->changed(watch->policy, NULL, watch->user_data);
}

static gboolean on_settled(gpointer user_data) {
        PolicyWatch *watch = user_data;

        g_clear_pointer(&watch->settle, g_source_unref);
        reload(watch, FALSE);
        return G_SOURCE_REMOVE;
}

/* Any event on the file (written, created, renamed onto, deleted, attributes) rereads it
 * once the burst settles: an atomic save is a create or move, an in-place one several
 * changes, and rereading an unchanged file reports nothing. */
static void on_file_event(GFileMonitor *monitor, GFile *file, GFile *other,
                          GFileMonitorEvent event, gpointer user_data) {
        PolicyWatch *watch = user_data;

        if (watch->settle)
                return;
        watch->settle = g_timeout_source_new(POLICY_WATCH_SETTLE_MS);
        g_source_set_callback(watch->settle, on_settled, watch, NULL);
        g_source_attach(watch->settle, watch->ctx);
}

PolicyWatch *policy_watch_new(const char *path, GMainContext *ctx, PolicyChangedFn changed,
                              gpointer user_data) {
        PolicyWatch *watch = g_new0(PolicyWatch, 1);
        g_autoptr(GFile) file = g_file_new_for_path(path);
        g_autoptr(GError) error = NULL;

        watch->path = g_strdup(path);
        watch->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
        watch->policy = policy_new_default();
        watch->policy_json = policy_to_json(watch->policy);
        reload(watch, FALSE);
        watch->changed = changed;
        watch->user_data = user_data;

        /* A file monitor delivers its events to the thread-default context of the thread
         * that made it. It watches the directory entry, so renames onto the file and a
         * file created later are seen. */
        g_main_context_push_thread_default(watch->ctx);
        watch->monitor = g_file_monitor_file(file, G_FILE_MONITOR_NONE, NULL, &error);
        g_main_context_pop_thread_default(watch->ctx);
        if (watch->monitor)
                g_signal_connect(watch->monitor, "changed", G_CALLBACK(on_file_event), watch);
        return watch;
}

void policy_watch_free(PolicyWatch *watch) {
        if (!watch)
                return;
        if (watch->monitor) {
                g_signal_handlers_disconnect_by_data(watch->monitor, watch);
                g_file_monitor_cancel(watch->monitor);
                g_object_unref(watch->monitor);
        }
        if (watch->settle) {
                g_source_destroy(watch->settle);
                g_source_unref(watch->settle);
        }
        g_main_context_unref(watch->ctx);
        policy_free(watch->policy);
        g_free(watch->policy_json);
        g_free(watch->error);
        g_free(watch->path);
        g_free(watch);
}

void policy_watch_reload(PolicyWatch *watch) {
        reload(watch, TRUE);
}

const Policy *policy_watch_get(PolicyWatch *watch) {
        return watch->policy;
}

const char *policy_watch_get_error(PolicyWatch *watch) {
        return watch->error;
}
