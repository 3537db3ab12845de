/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The request window: which site asks, for which tab and why, the certificates to choose
 * from, "Remember this decision", and Send / Don't send / Cancel. */
#pragma once

#include <gtk/gtk.h>

#include "picker-request.h"

/* The user answered request @id: @answer "certificate" (with @identity), "none" or
 * "cancel". The window closes itself after the call. */
typedef void (*PickerDialogAnswerFunc)(const char *id, const char *answer,
                                       const char *identity, gboolean remember,
                                       gpointer user_data);

/* A window for @request (its content copied), shown by the caller with
 * gtk_window_present() (transfer none: the application holds it while it is open). */
GtkWindow *picker_dialog_new(GtkApplication *app, const PickerRequest *request,
                             PickerDialogAnswerFunc on_answer, gpointer user_data);
/* Closes @dialog without calling its answer function: the request ended elsewhere. */
void picker_dialog_dismiss(GtkWindow *dialog);
/* The request id @dialog answers, or NULL when @window is not a request window. */
const char *picker_dialog_get_id(GtkWindow *window);
