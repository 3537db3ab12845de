/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy in force: policy.json reread when it changes and on request (SIGHUP). */
#include "policy-watch.h"

#include <gio/gio.h>
#include <string.h>

struct PolicyWatch {
        char *path;
        GMainContext *ctx;
        GFileMonitor *monitor;   /* nullable: then only explicit reloads */
        char *watched;           /* what @monitor watches: @path, or the nearest existing
                                  * directory on the way to it */
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

static void arm(PolicyWatch *watch);

static gboolean on_settled(gpointer user_data) {
        PolicyWatch *watch = user_data;

        g_clear_pointer(&watch->settle, g_source_unref);
        /* A directory on the way appeared or went: watch what is there now. */
        arm(watch);
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

/* The deepest existing directory on the way to @path's (transfer full); "/" at worst. */
static char *nearest_directory(const char *path) {
        char *dir = g_path_get_dirname(path);

        while (!g_file_test(dir, G_FILE_TEST_IS_DIR) && strcmp(dir, "/") != 0 &&
               strcmp(dir, ".") != 0) {
                char *up = g_path_get_dirname(dir);

                g_free(dir);
                dir = up;
        }
        return dir;
}

static void disarm(PolicyWatch *watch) {
        if (watch->monitor) {
                g_signal_handlers_disconnect_by_data(watch->monitor, watch);
                g_file_monitor_cancel(watch->monitor);
                g_clear_object(&watch->monitor);
        }
        g_clear_pointer(&watch->watched, g_free);
}

/* Watches the file when its directory exists, else the nearest directory on the way to it
 * (so that the directory's creation is seen): GIO would poll a path whose directory is
 * missing, waking the daemon every few seconds for nothing. */
static void arm(PolicyWatch *watch) {
        g_autofree char *dir = g_path_get_dirname(watch->path);
        g_autofree char *target = g_file_test(dir, G_FILE_TEST_IS_DIR)
                                          ? g_strdup(watch->path)
                                          : nearest_directory(watch->path);
        g_autoptr(GFile) file = g_file_new_for_path(target);
        g_autoptr(GError) error = NULL;

        if (g_strcmp0(target, watch->watched) == 0)
                return;
        disarm(watch);
        /* A file monitor delivers its events to the thread-default context of the thread
         * that made it. It watches the directory entry, so renames onto the file and a
         * file created later are seen. */
        g_main_context_push_thread_default(watch->ctx);
        watch->monitor = strcmp(target, watch->path) == 0
                                 ? g_file_monitor_file(file, G_FILE_MONITOR_NONE, NULL, &error)
                                 : g_file_monitor_directory(file, G_FILE_MONITOR_NONE, NULL,
                                                            &error);
        g_main_context_pop_thread_default(watch->ctx);
        if (!watch->monitor)
                return;
        watch->watched = g_steal_pointer(&target);
        g_signal_connect(watch->monitor, "changed", G_CALLBACK(on_file_event), watch);
}

const char *policy_watch_get_watched(PolicyWatch *watch) {
        return watch->watched;
}

PolicyWatch *policy_watch_new(const char *path, GMainContext *ctx, PolicyChangedFn changed,
                              gpointer user_data) {
        PolicyWatch *watch = g_new0(PolicyWatch, 1);

        watch->path = g_strdup(path);
        watch->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
        watch->policy = policy_new_default();
        watch->policy_json = policy_to_json(watch->policy);
        reload(watch, FALSE);
        watch->changed = changed;
        watch->user_data = user_data;

        arm(watch);
        return watch;
}

void policy_watch_free(PolicyWatch *watch) {
        if (!watch)
                return;
        disarm(watch);
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
