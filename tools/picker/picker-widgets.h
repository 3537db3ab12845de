/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The small widget helpers the picker's two windows share. */
#pragma once

#include <gtk/gtk.h>

/* A left-aligned label of @text that wraps (anywhere in a long word, such as a name),
 * with the style class @css_class (nullable). */
GtkWidget *picker_label_new(const char *text, const char *css_class);
/* Sets the four margins of @widget: @vertical at top and bottom, @horizontal at start and
 * end. */
void picker_widget_set_margins(GtkWidget *widget, int vertical, int horizontal);
/* A button labelled @mnemonic (with its underscore), read by screen readers as @name
 * alone, with the tooltip and description @tooltip (nullable). */
GtkWidget *picker_button_new(const char *mnemonic, const char *name, const char *tooltip);
