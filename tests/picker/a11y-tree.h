/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a screen reader reads of a program: its AT-SPI tree on the accessibility bus.
 *
 * The test starts at-spi-bus-launcher on the private session bus; GTK finds the
 * accessibility bus through it (org.a11y.Bus) and registers with its registry. */
#pragma once

#include <gio/gio.h>

/* Connects to the accessibility bus the session bus's org.a11y.Bus names (transfer full),
 * or NULL with @error set. */
GDBusConnection *a11y_connect(GError **error);
/* The tree of the application named @app_name, one line per node: depth times two spaces,
 * "ROLE: NAME", and " (DESCRIPTION)" when it has one. NULL with @error set when no such
 * application is registered (transfer full). */
char *a11y_dump_application(GDBusConnection *a11y, const char *app_name, GError **error);
