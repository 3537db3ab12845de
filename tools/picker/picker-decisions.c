/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The "Remembered decisions" window of tlsid-picker. */
#include "picker-decisions.h"

#include "interface.h"
#include "picker-request.h"
#include "picker-widgets.h"

#define STATE_KEY "picker-decisions-state"
#define CALL_TIMEOUT_MS 10000
/* Bounds on what one refresh reads, so a daemon holding a lot cannot stall it. */
#define MAX_CONTEXTS 512
#define MAX_PAGES 64

/* One choice of one context. */
typedef struct {
        char *context;
        char *origin;
        char *state;
        char *identity;
        char *certificate;      /* what the certificate is called, or NULL */
} Entry;

typedef struct {
        char *context;
        char *label;
        GPtrArray *entries;     /* of Entry */
} ContextEntries;

/* What one refresh read. */
typedef struct {
        GPtrArray *contexts;    /* of ContextEntries */
        guint left_out;         /* choices past PICKER_DECISIONS_MAX_ENTRIES */
        guint contexts_total;
} Snapshot;

typedef struct {
        GDBusConnection *connection;
        GtkWidget *content;     /* the box the snapshot is drawn into */
        GtkWidget *status;
        guint signal_id;
        guint watch_id;         /* the manager's name: a new daemon holds other state */
        gboolean refreshing;
        gboolean dirty;         /* a change arrived during the refresh */
        gboolean closed;        /* the window is destroyed; a read may still finish */
        gboolean unshown;       /* presented once the first read is drawn */
} Decisions;

static void entry_free(gpointer data) {
        Entry *entry = data;

        g_free(entry->context);
        g_free(entry->origin);
        g_free(entry->state);
        g_free(entry->identity);
        g_free(entry->certificate);
        g_free(entry);
}

static void context_entries_free(gpointer data) {
        ContextEntries *ctx = data;

        g_free(ctx->context);
        g_free(ctx->label);
        g_ptr_array_unref(ctx->entries);
        g_free(ctx);
}

static void snapshot_free(gpointer data) {
        Snapshot *snapshot = data;

        g_ptr_array_unref(snapshot->contexts);
        g_free(snapshot);
}

static GVariant *call(GDBusConnection *connection, const char *method, GVariant *args,
                      const char *reply_type, GCancellable *cancellable, GError **error) {
        return g_dbus_connection_call_sync(connection, TLSID_BUS_NAME, TLSID_OBJECT_PATH,
                                           TLSID_INTERFACE, method, args,
                                           G_VARIANT_TYPE(reply_type),
                                           G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS,
                                           cancellable, error);
}

/* identity -> what it is called, from every page of ListCertificates. */
static GHashTable *read_certificate_names(GDBusConnection *connection,
                                          GCancellable *cancellable, GError **error) {
        g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                            g_free);
        g_autofree char *cursor = g_strdup("");

        for (int page = 0; page < MAX_PAGES; page++) {
                g_autoptr(GVariant) reply = NULL;
                g_autoptr(GVariantIter) certs = NULL;
                GVariant *dict;
                const char *next;

                reply = call(connection, "ListCertificates", g_variant_new("(su)", cursor, 0),
                             "(aa{sv}su)", cancellable, error);
                if (!reply)
                        return NULL;
                g_variant_get(reply, "(aa{sv}&su)", &certs, &next, NULL);
                while ((dict = g_variant_iter_next_value(certs))) {
                        g_autoptr(GVariant) owned = dict;
                        const char *identity = NULL, *nickname = NULL, *subject = NULL;

                        if (!g_variant_lookup(dict, "identity", "&s", &identity))
                                continue;
                        g_variant_lookup(dict, "nickname", "&s", &nickname);
                        g_variant_lookup(dict, "subject", "&s", &subject);
                        g_hash_table_replace(names, g_strdup(identity),
                                             picker_certificate_title(nickname, subject,
                                                                      identity));
                }
                if (!*next)
                        break;
                g_free(cursor);
                cursor = g_strdup(next);
        }
        return g_steal_pointer(&names);
}

/* The choices of one context: its known origins (ListSessions), each one's state. */
static gboolean read_context_choices(GDBusConnection *connection, ContextEntries *ctx,
                                     GHashTable *names, guint *budget, guint *left_out,
                                     GCancellable *cancellable, GError **error) {
        g_autofree char *cursor = g_strdup("");

        for (int page = 0; page < MAX_PAGES; page++) {
                g_autoptr(GVariant) reply = NULL;
                g_autoptr(GVariantIter) sessions = NULL;
                const char *next, *origin;

                reply = call(connection, "ListSessions",
                             g_variant_new("(ssu)", ctx->context, cursor, 0),
                             "(a(sssuuxt)su)", cancellable, error);
                if (!reply)
                        return FALSE;
                g_variant_get(reply, "(a(sssuuxt)&su)", &sessions, &next, NULL);
                while (g_variant_iter_next(sessions, "(&s&s&suuxt)", NULL, &origin, NULL,
                                           NULL, NULL, NULL, NULL)) {
                        g_autoptr(GVariant) partition = NULL;
                        g_autoptr(GError) local = NULL;
                        const char *state, *identity;
                        Entry *entry;

                        partition = call(connection, "GetPartition",
                                         g_variant_new("(ss)", ctx->context, origin),
                                         "(ssus)", cancellable, &local);
                        if (!partition)
                                continue;  /* closed or forgotten meanwhile */
                        g_variant_get(partition, "(&s&sus)", &state, &identity, NULL, NULL);
                        if (g_strcmp0(state, "undecided") == 0)
                                continue;
                        if (*budget == 0) {
                                (*left_out)++;
                                continue;
                        }
                        (*budget)--;
                        entry = g_new0(Entry, 1);
                        entry->context = g_strdup(ctx->context);
                        entry->origin = g_strdup(origin);
                        entry->state = g_strdup(state);
                        entry->identity = g_strdup(identity);
                        entry->certificate = g_strdup(g_hash_table_lookup(names, identity));
                        g_ptr_array_add(ctx->entries, entry);
                }
                if (!*next)
                        break;
                g_free(cursor);
                cursor = g_strdup(next);
        }
        return TRUE;
}

static Snapshot *read_snapshot(GDBusConnection *connection, GCancellable *cancellable,
                               GError **error) {
        g_autoptr(GHashTable) names = NULL;
        g_autofree char *cursor = g_strdup("");
        Snapshot *snapshot = g_new0(Snapshot, 1);
        guint budget = PICKER_DECISIONS_MAX_ENTRIES;

        snapshot->contexts = g_ptr_array_new_with_free_func(context_entries_free);
        names = read_certificate_names(connection, cancellable, error);
        if (!names)
                goto fail;
        for (int page = 0; page < MAX_PAGES; page++) {
                g_autoptr(GVariant) reply = NULL;
                g_autoptr(GVariantIter) contexts = NULL;
                g_autoptr(GVariant) info = NULL;
                const char *next, *id;

                reply = call(connection, "ListContexts", g_variant_new("(su)", cursor, 0),
                             "(a(sa{sv})su)", cancellable, error);
                if (!reply)
                        goto fail;
                g_variant_get(reply, "(a(sa{sv})&su)", &contexts, &next,
                              &snapshot->contexts_total);
                while (g_variant_iter_next(contexts, "(&s@a{sv})", &id, &info)) {
                        ContextEntries *ctx;
                        const char *label = "";
                        guint32 choices = 1;

                        g_variant_lookup(info, "label", "&s", &label);
                        g_variant_lookup(info, "choices", "u", &choices);
                        if (snapshot->contexts->len < MAX_CONTEXTS) {
                                ctx = g_new0(ContextEntries, 1);
                                ctx->context = g_strdup(id);
                                ctx->label = g_strdup(label);
                                ctx->entries = g_ptr_array_new_with_free_func(entry_free);
                                g_ptr_array_add(snapshot->contexts, ctx);
                                if (choices > 0 &&
                                    !read_context_choices(connection, ctx, names, &budget,
                                                          &snapshot->left_out, cancellable,
                                                          error))
                                        goto fail;
                        } else {
                                snapshot->left_out += choices;
                        }
                        g_clear_pointer(&info, g_variant_unref);
                }
                if (!*next)
                        break;
                g_free(cursor);
                cursor = g_strdup(next);
        }
        return snapshot;
fail:
        snapshot_free(snapshot);
        return NULL;
}

static void read_in_thread(GTask *task, gpointer source, gpointer task_data,
                           GCancellable *cancellable) {
        GDBusConnection *connection = task_data;
        GError *error = NULL;
        Snapshot *snapshot = read_snapshot(connection, cancellable, &error);

        if (snapshot)
                g_task_return_pointer(task, snapshot, snapshot_free);
        else
                g_task_return_error(task, error);
}

static void refresh(GtkWindow *window);

static void forget_done(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autoptr(GtkWindow) window = user_data;
        Decisions *decisions = g_object_get_data(G_OBJECT(window), STATE_KEY);
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
        if (!decisions || decisions->closed)
                return;
        if (!reply) {
                g_autofree char *text = g_strdup_printf("Could not forget: %s",
                                                        error->message);

                gtk_label_set_text(GTK_LABEL(decisions->status), text);
                return;
        }
        refresh(window);
}

static void forget_clicked(GtkButton *button, gpointer user_data) {
        GtkWindow *window = GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(button)));
        Decisions *decisions = g_object_get_data(G_OBJECT(window), STATE_KEY);
        const char *context = g_object_get_data(G_OBJECT(button), "context");
        const char *origin = g_object_get_data(G_OBJECT(button), "origin");

        gtk_widget_set_sensitive(GTK_WIDGET(button), FALSE);
        g_dbus_connection_call(decisions->connection, TLSID_BUS_NAME, TLSID_OBJECT_PATH,
                               TLSID_INTERFACE, "ForgetChoices",
                               g_variant_new("(ss)", context, origin), G_VARIANT_TYPE("(u)"),
                               G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL,
                               forget_done, g_object_ref(window));
}

static char *choice_text(const Entry *entry) {
        if (g_strcmp0(entry->state, "none") == 0)
                return g_strdup("Sends no certificate");
        if (entry->certificate)
                return g_strdup_printf("Sends %s (SHA-256 %.16s…)", entry->certificate,
                                       entry->identity);
        return g_strdup_printf("Sends the certificate %.16s…", entry->identity);
}

static GtkWidget *entry_row_new(const ContextEntries *ctx, const Entry *entry) {
        const char *tab = *ctx->label ? ctx->label : ctx->context;
        g_autofree char *choice = choice_text(entry);
        g_autofree char *spoken = g_strdup_printf("Forget the choice for %s in %s", entry->origin,
                                                  tab);
        GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
        GtkWidget *text = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
        GtkWidget *forget = picker_button_new("Forget", spoken, spoken);

        gtk_widget_set_margin_start(row, 12);
        gtk_widget_set_hexpand(text, TRUE);
        gtk_box_append(GTK_BOX(text), picker_label_new(entry->origin, "heading"));
        gtk_box_append(GTK_BOX(text), picker_label_new(choice, NULL));
        gtk_box_append(GTK_BOX(row), text);
        g_object_set_data_full(G_OBJECT(forget), "context", g_strdup(entry->context), g_free);
        g_object_set_data_full(G_OBJECT(forget), "origin", g_strdup(entry->origin), g_free);
        gtk_widget_set_valign(forget, GTK_ALIGN_CENTER);
        g_signal_connect(forget, "clicked", G_CALLBACK(forget_clicked), NULL);
        gtk_box_append(GTK_BOX(row), forget);
        return row;
}

/* Draws @snapshot; returns its first Forget button, or NULL. */
static GtkWidget *show_snapshot(Decisions *decisions, const Snapshot *snapshot) {
        GtkWidget *child, *first_forget = NULL;
        guint shown = 0;

        while ((child = gtk_widget_get_first_child(decisions->content)))
                gtk_box_remove(GTK_BOX(decisions->content), child);
        for (guint i = 0; i < snapshot->contexts->len; i++) {
                const ContextEntries *ctx = g_ptr_array_index(snapshot->contexts, i);
                g_autofree char *heading = *ctx->label
                        ? g_strdup_printf("%s (%s)", ctx->label, ctx->context)
                        : g_strdup(ctx->context);

                gtk_box_append(GTK_BOX(decisions->content),
                               picker_label_new(heading, "title-4"));
                if (ctx->entries->len == 0)
                        gtk_box_append(GTK_BOX(decisions->content),
                                       picker_label_new("No decisions: every site asks",
                                                        "dim-label"));
                for (guint k = 0; k < ctx->entries->len; k++) {
                        GtkWidget *row = entry_row_new(ctx, g_ptr_array_index(ctx->entries, k));

                        if (!first_forget)
                                first_forget = gtk_widget_get_last_child(row);
                        gtk_box_append(GTK_BOX(decisions->content), row);
                }
                shown += ctx->entries->len;
        }
        if (snapshot->contexts->len == 0) {
                gtk_label_set_text(GTK_LABEL(decisions->status), "No tab is open in tlsid.");
        } else {
                g_autofree char *text = NULL;

                if (snapshot->left_out)
                        text = g_strdup_printf("%u decisions in %u tabs, and %u more not shown",
                                               shown, snapshot->contexts->len,
                                               snapshot->left_out);
                else
                        text = g_strdup_printf("%u decisions in %u tabs", shown,
                                               snapshot->contexts->len);
                gtk_label_set_text(GTK_LABEL(decisions->status), text);
        }
        return first_forget;
}

static void read_done(GObject *source, GAsyncResult *result, gpointer user_data) {
        GtkWindow *window = GTK_WINDOW(source);
        Decisions *decisions = g_object_get_data(G_OBJECT(window), STATE_KEY);
        g_autoptr(GError) error = NULL;
        Snapshot *snapshot = g_task_propagate_pointer(G_TASK(result), &error);

        if (!decisions || decisions->closed) {
                g_clear_pointer(&snapshot, snapshot_free);
                return;
        }
        decisions->refreshing = FALSE;
        if (snapshot) {
                GtkWidget *first_forget = show_snapshot(decisions, snapshot);

                /* The keyboard starts at the first Forget button (the rows it was in are
                 * gone after a refresh). */
                if (first_forget && !gtk_window_get_focus(window))
                        gtk_window_set_focus(window, first_forget);
                snapshot_free(snapshot);
        } else if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
                   g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
                gtk_label_set_text(GTK_LABEL(decisions->status),
                                   "tlsid is not running: no tab is open.");
        } else {
                g_autofree char *text = g_strdup_printf("Cannot read tlsid's decisions: %s",
                                                        error->message);

                gtk_label_set_text(GTK_LABEL(decisions->status), text);
        }
        /* Shown once it has something to show, so it never flashes empty. */
        if (decisions->unshown) {
                decisions->unshown = FALSE;
                gtk_window_present(window);
        }
        if (decisions->dirty) {
                decisions->dirty = FALSE;
                refresh(window);
        }
}

/* Reads the daemon again; a change during a read makes one more read after it. */
static void refresh(GtkWindow *window) {
        Decisions *decisions = g_object_get_data(G_OBJECT(window), STATE_KEY);
        g_autoptr(GTask) task = NULL;

        if (decisions->closed)
                return;
        if (decisions->refreshing) {
                decisions->dirty = TRUE;
                return;
        }
        decisions->refreshing = TRUE;
        task = g_task_new(window, NULL, read_done, NULL);
        g_task_set_task_data(task, g_object_ref(decisions->connection), g_object_unref);
        g_task_run_in_thread(task, read_in_thread);
}

static void identity_changed(GDBusConnection *connection, const char *sender,
                             const char *path, const char *interface, const char *signal,
                             GVariant *parameters, gpointer user_data) {
        refresh(GTK_WINDOW(user_data));
}

static void manager_changed(GDBusConnection *connection, const char *name,
                            const char *name_owner, gpointer user_data) {
        refresh(GTK_WINDOW(user_data));
}

static void manager_vanished(GDBusConnection *connection, const char *name,
                             gpointer user_data) {
        refresh(GTK_WINDOW(user_data));
}

static void refresh_clicked(GtkButton *button, gpointer user_data) {
        refresh(GTK_WINDOW(gtk_widget_get_root(GTK_WIDGET(button))));
}

static void window_destroyed(GtkWidget *window, gpointer user_data) {
        Decisions *decisions = g_object_get_data(G_OBJECT(window), STATE_KEY);

        decisions->closed = TRUE;
        if (decisions->signal_id)
                g_dbus_connection_signal_unsubscribe(decisions->connection,
                                                     decisions->signal_id);
        decisions->signal_id = 0;
        if (decisions->watch_id)
                g_bus_unwatch_name(decisions->watch_id);
        decisions->watch_id = 0;
}

static void decisions_free(gpointer data) {
        Decisions *decisions = data;

        g_object_unref(decisions->connection);
        g_free(decisions);
}

static void decisions_new(GtkApplication *app, GDBusConnection *connection) {
        GtkWindow *window = GTK_WINDOW(gtk_window_new());
        Decisions *decisions = g_new0(Decisions, 1);
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
        GtkWidget *scrolled = gtk_scrolled_window_new();
        GtkWidget *bottom = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 8);
        GtkWidget *refresh_button = picker_button_new("_Refresh", "Refresh",
                                                      "Read the decisions again");

        decisions->connection = g_object_ref(connection);
        decisions->content = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
        decisions->status = picker_label_new("Reading…", "dim-label");
        g_object_set_data_full(G_OBJECT(window), STATE_KEY, decisions, decisions_free);

        gtk_window_set_application(window, app);
        gtk_window_set_title(window, "Remembered decisions — tlsid");
        gtk_window_set_default_size(window, 600, 420);
        gtk_window_set_titlebar(window, gtk_header_bar_new());
        picker_widget_set_margins(box, 12, 12);
        gtk_box_append(GTK_BOX(box),
                       picker_label_new("The certificate each tab sends to each site. Forget logs "
                                 "that tab out of the site: its next visit asks again.",
                                 NULL));
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), decisions->content);
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                       GTK_POLICY_AUTOMATIC);
        gtk_widget_set_vexpand(scrolled, TRUE);
        gtk_accessible_update_property(GTK_ACCESSIBLE(decisions->content),
                                       GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Decisions per tab and site", -1);
        gtk_box_append(GTK_BOX(box), scrolled);
        gtk_widget_set_hexpand(decisions->status, TRUE);
        gtk_box_append(GTK_BOX(bottom), decisions->status);
        g_signal_connect(refresh_button, "clicked", G_CALLBACK(refresh_clicked), NULL);
        gtk_box_append(GTK_BOX(bottom), refresh_button);
        gtk_box_append(GTK_BOX(box), bottom);
        gtk_window_set_child(window, box);

        decisions->signal_id = g_dbus_connection_signal_subscribe(
                connection, TLSID_BUS_NAME, TLSID_INTERFACE, "IdentityChanged",
                TLSID_OBJECT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, identity_changed, window,
                NULL);
        g_signal_connect(window, "destroy", G_CALLBACK(window_destroyed), NULL);
        decisions->unshown = TRUE;
        /* The watch reports the manager's owner at once (the first read) and each change
         * of it: a restarted daemon holds other contexts. */
        decisions->watch_id = g_bus_watch_name_on_connection(connection, TLSID_BUS_NAME,
                                                             G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                             manager_changed, manager_vanished,
                                                             window, NULL);
}

void picker_decisions_present(GtkApplication *app, GDBusConnection *connection) {
        GList *windows = gtk_application_get_windows(app);

        for (GList *l = windows; l; l = l->next) {
                Decisions *decisions = g_object_get_data(G_OBJECT(l->data), STATE_KEY);

                if (decisions && !decisions->closed) {
                        refresh(l->data);
                        if (!decisions->unshown)
                                gtk_window_present(l->data);
                        return;
                }
        }
        decisions_new(app, connection);
}
