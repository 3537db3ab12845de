/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The request window of tlsid-picker. */
#include "picker-dialog.h"

#include "picker-widgets.h"

typedef struct {
        char *id;
        GPtrArray *identities;  /* of char *, in the list's order */
        GtkListBox *list;
        GtkCheckButton *remember;
        PickerDialogAnswerFunc on_answer;
        gpointer user_data;
        gboolean done;
} DialogState;

#define STATE_KEY "picker-dialog-state"

static void dialog_state_free(gpointer data) {
        DialogState *state = data;

        g_free(state->id);
        g_ptr_array_unref(state->identities);
        g_free(state);
}

/* Answers once, then closes the window. */
static void finish(GtkWindow *window, const char *answer) {
        DialogState *state = g_object_get_data(G_OBJECT(window), STATE_KEY);
        const char *identity = "";
        gboolean remember = FALSE;

        if (!state || state->done)
                return;
        state->done = TRUE;
        if (g_strcmp0(answer, "certificate") == 0) {
                GtkListBoxRow *row = gtk_list_box_get_selected_row(state->list);

                if (!row) {
                        state->done = FALSE;
                        gtk_widget_error_bell(GTK_WIDGET(window));
                        return;
                }
                identity = g_ptr_array_index(state->identities, gtk_list_box_row_get_index(row));
        }
        if (g_strcmp0(answer, "cancel") != 0)
                remember = gtk_widget_get_visible(GTK_WIDGET(state->remember)) &&
                           gtk_check_button_get_active(state->remember);
        state->on_answer(state->id, answer, identity, remember, state->user_data);
        gtk_window_destroy(window);
}

static void send_clicked(GtkButton *button, gpointer user_data) {
        finish(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(button))), "certificate");
}

static void decline_clicked(GtkButton *button, gpointer user_data) {
        finish(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(button))), "none");
}

static void cancel_clicked(GtkButton *button, gpointer user_data) {
        finish(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(button))), "cancel");
}

static void row_activated(GtkListBox *list, GtkListBoxRow *row, gpointer user_data) {
        gtk_list_box_select_row(list, row);
        finish(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(list))), "certificate");
}

static gboolean escape_pressed(GtkWidget *widget, GVariant *args, gpointer user_data) {
        finish(GTK_WINDOW(widget), "cancel");
        return TRUE;
}

/* Closing the window is Cancel. */
static gboolean close_request(GtkWindow *window, gpointer user_data) {
        finish(window, "cancel");
        return FALSE;
}

static char *storage_text(const PickerCertificate *cert) {
        if (g_strcmp0(cert->source, "application") == 0)
                return g_strdup_printf("Offered by %s", *cert->offered_by ? cert->offered_by
                                                                           : "the application");
        return g_strdup("Stored in your certificate database");
}

static GtkWidget *certificate_row_new(const PickerCertificate *cert) {
        g_autofree char *title = picker_certificate_title(cert->nickname, cert->subject,
                                                          cert->identity);
        g_autofree char *validity = picker_validity_text(cert->not_before, cert->not_after,
                                                         g_get_real_time() / G_USEC_PER_SEC);
        g_autofree char *subject = g_strdup_printf("Subject: %s", cert->subject);
        g_autofree char *issuer = g_strdup_printf("Issued by: %s", cert->issuer);
        g_autofree char *valid = g_strdup_printf("Valid: %s", validity);
        g_autofree char *stored = storage_text(cert);
        g_autofree char *fingerprint = g_strdup_printf("SHA-256: %.16s…", cert->identity);
        g_autofree char *full_fingerprint = g_strdup_printf("SHA-256: %s", cert->identity);
        g_autofree char *spoken = NULL;
        GtkWidget *row = gtk_list_box_row_new();
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
        GtkWidget *heading = picker_label_new(title, "heading");

        picker_widget_set_margins(box, 6, 8);
        gtk_box_append(GTK_BOX(box), heading);
        gtk_box_append(GTK_BOX(box), picker_label_new(subject, NULL));
        gtk_box_append(GTK_BOX(box), picker_label_new(issuer, NULL));
        gtk_box_append(GTK_BOX(box), picker_label_new(valid, NULL));
        gtk_box_append(GTK_BOX(box), picker_label_new(stored, "dim-label"));
        gtk_box_append(GTK_BOX(box), picker_label_new(fingerprint, "dim-label"));
        gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), box);
        gtk_widget_set_tooltip_text(row, full_fingerprint);

        spoken = g_strdup_printf("%s. %s. %s. %s. %s.", title, subject, issuer, valid, stored);
        gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       spoken, -1);
        return row;
}

static char *reason_text(const PickerRequest *request) {
        if (g_strcmp0(request->reason, "challenge") == 0) {
                if (*request->realm)
                        return g_strdup_printf("The site asked you to log in with a "
                                               "certificate (realm \"%s\").", request->realm);
                return g_strdup("The site asked you to log in with a certificate.");
        }
        return g_strdup("The server asked for a client certificate while connecting.");
}

/* "The site accepts certificates from: A; B; C and 4 more", or NULL when it accepts any
 * CA. */
static char *issuers_text(const PickerRequest *request) {
        guint n = g_strv_length(request->ca_names);
        GString *text;

        if (n == 0)
                return NULL;
        text = g_string_new("The site accepts certificates from: ");
        for (guint i = 0; i < MIN(n, 3); i++)
                g_string_append_printf(text, "%s%s", i ? "; " : "", request->ca_names[i]);
        if (n > 3)
                g_string_append_printf(text, " and %u more", n - 3);
        return g_string_free(text, FALSE);
}

static GtkWidget *buttons_new(GtkWindow *window) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        GtkWidget *cancel = picker_button_new("_Cancel", "Cancel",
                                       "Decide later: the site gets no answer now");
        GtkWidget *decline = picker_button_new("_Don't send", "Don't send",
                                        "Send no certificate to this site from this tab");
        GtkWidget *send = picker_button_new("_Send", "Send",
                                     "Send the selected certificate to this site from this "
                                     "tab");

        gtk_widget_set_halign(box, GTK_ALIGN_END);
        gtk_widget_add_css_class(send, "suggested-action");
        g_signal_connect(cancel, "clicked", G_CALLBACK(cancel_clicked), NULL);
        g_signal_connect(decline, "clicked", G_CALLBACK(decline_clicked), NULL);
        g_signal_connect(send, "clicked", G_CALLBACK(send_clicked), NULL);
        gtk_box_append(GTK_BOX(box), cancel);
        gtk_box_append(GTK_BOX(box), decline);
        gtk_box_append(GTK_BOX(box), send);
        gtk_window_set_default_widget(window, send);
        return box;
}

static GtkWidget *header_bar_new(void) {
        GtkWidget *bar = gtk_header_bar_new();
        GtkWidget *menu_button = gtk_menu_button_new();
        g_autoptr(GMenu) menu = g_menu_new();

        g_menu_append(menu, "_Remembered decisions", "app.decisions");
        gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu_button), "open-menu-symbolic");
        gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu_button), G_MENU_MODEL(menu));
        gtk_accessible_update_property(GTK_ACCESSIBLE(menu_button),
                                       GTK_ACCESSIBLE_PROPERTY_LABEL, "Menu", -1);
        gtk_widget_set_tooltip_text(menu_button, "Menu");
        gtk_header_bar_pack_end(GTK_HEADER_BAR(bar), menu_button);
        return bar;
}

GtkWindow *picker_dialog_new(GtkApplication *app, const PickerRequest *request,
                             PickerDialogAnswerFunc on_answer, gpointer user_data) {
        const char *tab = picker_request_tab_name(request);
        g_autofree char *title = g_strdup_printf("Certificate for %s — %s", request->origin,
                                                 tab);
        g_autofree char *heading_text = g_strdup_printf("%s asks which certificate to send",
                                                        request->origin);
        g_autofree char *tab_text = *request->label
                ? g_strdup_printf("Tab: %s (%s)", request->label, request->context)
                : g_strdup_printf("Tab: %s", request->context);
        g_autofree char *why = reason_text(request);
        g_autofree char *issuers = issuers_text(request);
        g_autofree char *description = g_strdup_printf("%s %s %s", heading_text, tab_text, why);
        GtkWindow *window = g_object_new(GTK_TYPE_WINDOW, "accessible-role",
                                         GTK_ACCESSIBLE_ROLE_DIALOG, NULL);
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
        GtkWidget *heading = picker_label_new(heading_text, "title-3");
        GtkWidget *list_label = gtk_label_new_with_mnemonic("C_ertificates:");
        GtkWidget *scrolled = gtk_scrolled_window_new();
        GtkWidget *list = gtk_list_box_new();
        GtkWidget *remember = gtk_check_button_new_with_mnemonic("_Remember this decision");
        GtkEventController *shortcuts = gtk_shortcut_controller_new();
        DialogState *state = g_new0(DialogState, 1);

        state->id = g_strdup(request->id);
        state->identities = g_ptr_array_new_with_free_func(g_free);
        state->list = GTK_LIST_BOX(list);
        state->remember = GTK_CHECK_BUTTON(remember);
        state->on_answer = on_answer;
        state->user_data = user_data;
        g_object_set_data_full(G_OBJECT(window), STATE_KEY, state, dialog_state_free);

        gtk_window_set_application(window, app);
        gtk_window_set_title(window, title);
        gtk_window_set_default_size(window, 640, -1);
        gtk_window_set_titlebar(window, header_bar_new());
        gtk_accessible_update_property(GTK_ACCESSIBLE(window),
                                       GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, description, -1);

        picker_widget_set_margins(box, 12, 12);
        gtk_box_append(GTK_BOX(box), heading);
        gtk_box_append(GTK_BOX(box), picker_label_new(tab_text, NULL));
        gtk_box_append(GTK_BOX(box), picker_label_new(why, "dim-label"));
        if (issuers)
                gtk_box_append(GTK_BOX(box), picker_label_new(issuers, "dim-label"));

        gtk_label_set_xalign(GTK_LABEL(list_label), 0);
        gtk_label_set_mnemonic_widget(GTK_LABEL(list_label), list);
        gtk_box_append(GTK_BOX(box), list_label);
        gtk_list_box_set_selection_mode(GTK_LIST_BOX(list), GTK_SELECTION_SINGLE);
        gtk_widget_add_css_class(list, "boxed-list");
        for (guint i = 0; i < request->certificates->len; i++) {
                const PickerCertificate *cert = g_ptr_array_index(request->certificates, i);

                gtk_list_box_append(GTK_LIST_BOX(list), certificate_row_new(cert));
                g_ptr_array_add(state->identities, g_strdup(cert->identity));
        }
        g_signal_connect(list, "row-activated", G_CALLBACK(row_activated), NULL);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), list);
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                       GTK_POLICY_AUTOMATIC);
        gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(scrolled), TRUE);
        gtk_scrolled_window_set_min_content_height(GTK_SCROLLED_WINDOW(scrolled),
                                                   MIN(request->certificates->len, 3) * 140);
        gtk_scrolled_window_set_max_content_height(GTK_SCROLLED_WINDOW(scrolled), 480);
        gtk_widget_set_vexpand(scrolled, TRUE);
        gtk_box_append(GTK_BOX(box), scrolled);
        if (request->eligible_total > request->certificates->len) {
                g_autofree char *more = g_strdup_printf(
                        "and %u more not shown (tlsidctl certs lists them all)",
                        request->eligible_total - request->certificates->len);

                gtk_box_append(GTK_BOX(box), picker_label_new(more, "dim-label"));
        }

        /* An ephemeral context keeps nothing: there is nothing to remember in. */
        gtk_widget_set_visible(remember, !request->ephemeral);
        gtk_widget_set_tooltip_text(remember, "Keep this choice after the tab closes and "
                                              "across restarts");
        gtk_accessible_update_property(GTK_ACCESSIBLE(remember), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Remember this decision",
                                       GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                       "Keep this choice after the tab closes and across "
                                       "restarts", -1);
        gtk_box_append(GTK_BOX(box), remember);
        gtk_box_append(GTK_BOX(box), buttons_new(window));
        gtk_window_set_child(window, box);

        gtk_shortcut_controller_add_shortcut(
                GTK_SHORTCUT_CONTROLLER(shortcuts),
                gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, 0),
                                 gtk_callback_action_new(escape_pressed, NULL, NULL)));
        gtk_widget_add_controller(GTK_WIDGET(window), shortcuts);
        g_signal_connect(window, "close-request", G_CALLBACK(close_request), NULL);

        /* The first (best) certificate is selected and has the focus: arrows move, Enter
         * sends. */
        if (request->certificates->len > 0) {
                GtkListBoxRow *first = gtk_list_box_get_row_at_index(GTK_LIST_BOX(list), 0);

                gtk_list_box_select_row(GTK_LIST_BOX(list), first);
                gtk_window_set_focus(window, GTK_WIDGET(first));
        }
        return window;
}

void picker_dialog_dismiss(GtkWindow *dialog) {
        DialogState *state = g_object_get_data(G_OBJECT(dialog), STATE_KEY);

        if (state)
                state->done = TRUE;
        gtk_window_destroy(dialog);
}

const char *picker_dialog_get_id(GtkWindow *window) {
        DialogState *state = g_object_get_data(G_OBJECT(window), STATE_KEY);

        return state ? state->id : NULL;
}
