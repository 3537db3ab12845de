/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid-picker: the graphical agent of tlsid. One instance per session (GApplication):
 * it serves org.tlsid.Agent1, opens a request window per RequestChoice, and shows the
 * Remembered decisions window on --decisions or the app.decisions action. */
#include <gtk/gtk.h>
#include <stdio.h>

#include "build-config.h"
#include "picker-agent.h"
#include "picker-decisions.h"
#include "picker-dialog.h"

#define APPLICATION_ID "org.tlsid.Picker"

typedef struct {
        GtkApplication *app;
        PickerAgent *agent;
        gboolean show_decisions;        /* --decisions given to this primary instance */
        int status;                     /* 1 when it cannot serve as the agent */
} Picker;

static void dialog_answered(const char *id, const char *answer, const char *identity,
                            gboolean remember, gpointer user_data) {
        Picker *picker = user_data;

        picker_agent_answer(picker->agent, id, answer, identity, remember);
}

static void request_arrived(const PickerRequest *request, gpointer user_data) {
        Picker *picker = user_data;

        gtk_window_present(picker_dialog_new(picker->app, request, dialog_answered, picker));
}

static void request_cancelled(const char *id, gpointer user_data) {
        Picker *picker = user_data;
        GList *windows = gtk_application_get_windows(picker->app);

        for (GList *l = windows; l; l = l->next)
                if (g_strcmp0(picker_dialog_get_id(l->data), id) == 0) {
                        picker_dialog_dismiss(l->data);
                        return;
                }
}

static void decisions_activated(GSimpleAction *action, GVariant *parameter,
                                gpointer user_data) {
        Picker *picker = user_data;
        GDBusConnection *connection =
                g_application_get_dbus_connection(G_APPLICATION(picker->app));

        if (connection)
                picker_decisions_present(picker->app, connection);
}

static void app_startup(GApplication *app, gpointer user_data) {
        Picker *picker = user_data;
        GDBusConnection *connection = g_application_get_dbus_connection(app);
        g_autoptr(GError) error = NULL;
        static const GActionEntry actions[] = {
                { .name = "decisions", .activate = decisions_activated },
        };

        g_action_map_add_action_entries(G_ACTION_MAP(app), actions, G_N_ELEMENTS(actions),
                                        picker);
        if (!connection) {
                g_printerr("tlsid-picker: no session bus (DBUS_SESSION_BUS_ADDRESS)\n");
                picker->status = 1;
                return;
        }
        picker->agent = picker_agent_new(connection, request_arrived, request_cancelled,
                                         picker, &error);
        if (!picker->agent) {
                g_printerr("tlsid-picker: cannot serve %s: %s\n", PICKER_AGENT_PATH,
                           error->message);
                picker->status = 1;
                return;
        }
        /* An agent runs for the whole session, windows or not. */
        g_application_hold(app);
}

static void app_activate(GApplication *app, gpointer user_data) {
        Picker *picker = user_data;

        if (picker->show_decisions) {
                picker->show_decisions = FALSE;
                g_action_group_activate_action(G_ACTION_GROUP(app), "decisions", NULL);
        }
}

static void app_shutdown(GApplication *app, gpointer user_data) {
        Picker *picker = user_data;

        g_clear_pointer(&picker->agent, picker_agent_free);
}

static int handle_local_options(GApplication *app, GVariantDict *options, gpointer user_data) {
        Picker *picker = user_data;
        g_autoptr(GError) error = NULL;

        if (g_variant_dict_contains(options, "version")) {
                printf("tlsid-picker %s\n", PACKAGE_VERSION);
                return 0;
        }
        if (!g_variant_dict_contains(options, "decisions"))
                return -1;
        if (!g_application_register(app, NULL, &error)) {
                g_printerr("tlsid-picker: %s\n", error->message);
                return 1;
        }
        if (g_application_get_is_remote(app)) {
                /* The running picker opens the window; this process is done. */
                g_action_group_activate_action(G_ACTION_GROUP(app), "decisions", NULL);
                return 0;
        }
        picker->show_decisions = TRUE;
        return -1;
}

int main(int argc, char **argv) {
        static const GOptionEntry entries[] = {
                { "decisions", 'd', 0, G_OPTION_ARG_NONE, NULL,
                  "Show the remembered decisions (in the running picker, if one runs)",
                  NULL },
                { "version", 0, 0, G_OPTION_ARG_NONE, NULL, "Print the version and exit",
                  NULL },
                { NULL },
        };
        g_autoptr(GtkApplication) app = gtk_application_new(APPLICATION_ID,
                                                            G_APPLICATION_DEFAULT_FLAGS);
        Picker picker = { .app = app };
        int status;

        g_set_application_name("tlsid certificate picker");
        g_application_add_main_option_entries(G_APPLICATION(app), entries);
        g_application_set_option_context_summary(
                G_APPLICATION(app),
                "Asks which client certificate a site gets, for tlsidd (org.tlsid.Agent1).");
        g_signal_connect(app, "handle-local-options", G_CALLBACK(handle_local_options),
                         &picker);
        g_signal_connect(app, "startup", G_CALLBACK(app_startup), &picker);
        g_signal_connect(app, "activate", G_CALLBACK(app_activate), &picker);
        g_signal_connect(app, "shutdown", G_CALLBACK(app_shutdown), &picker);
        status = g_application_run(G_APPLICATION(app), argc, argv);
        return picker.status ? picker.status : status;
}
