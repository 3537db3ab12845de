/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy in force: policy.json reread when it changes and on request (SIGHUP). */
#pragma once

#include <glib.h>

#include "policy.h"

/* How long a burst of file events settles before the file is reread (an editor's save is
 * several events). */
#define POLICY_WATCH_SETTLE_MS 100

typedef struct PolicyWatch PolicyWatch;

/* Called from the watch's main context when the policy in force changed (@error NULL),
 * or when rereading failed (@error says why, with line and column, and @policy is the
 * previous policy, still in force). A failure is reported once, not again while the
 * file stays bad in the same way; policy_watch_reload() always reports. @policy belongs
 * to the watch and is valid until the next reload. */
typedef void (*PolicyChangedFn)(const Policy *policy, const char *error, gpointer user_data);

/* Loads @path (a missing file is the default policy; a bad one leaves the default in
 * force, see policy_watch_get_error()) and watches it from @ctx (NULL: the global
 * default context): changes, creation, deletion and atomic renames onto it. @changed is
 * never called from here. */
PolicyWatch *policy_watch_new(const char *path, GMainContext *ctx, PolicyChangedFn changed,
                              gpointer user_data);
/* Stops watching and frees; accepts NULL. */
void policy_watch_free(PolicyWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PolicyWatch, policy_watch_free)

/* Rereads the file now (SIGHUP) and calls the callback with the outcome. */
void policy_watch_reload(PolicyWatch *watch);

/* The policy in force (transfer none): valid until the next reload. */
const Policy *policy_watch_get(PolicyWatch *watch);
/* Why the last read failed, or NULL when the file in force is the file on disk. */
const char *policy_watch_get_error(PolicyWatch *watch);

/* What the watch's file monitor watches: the file, or while its directory is missing the
 * nearest existing directory on the way to it (never a poll); NULL without a monitor. For
 * tests. */
const char *policy_watch_get_watched(PolicyWatch *watch);
