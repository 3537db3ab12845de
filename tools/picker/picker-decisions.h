/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The "Remembered decisions" window: every open context (tab) with its certificate choice
 * per origin, and a Forget button each (ForgetChoices), the per-tab log-out. It reads the
 * daemon in a worker thread (ListContexts, ListSessions, GetPartition, ListCertificates,
 * each paged and bounded) and refreshes on IdentityChanged. */
#pragma once

#include <gtk/gtk.h>

/* The most choices the window lists; past them it says how many it left out. */
#define PICKER_DECISIONS_MAX_ENTRIES 2000

/* Presents the application's decisions window (and reads the daemon again), making it on
 * first use: a new window appears once its first read is drawn. */
void picker_decisions_present(GtkApplication *app, GDBusConnection *connection);
