/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsidd: start-up and shutdown. Options and tlsidd.conf, the store with its remembered
 * choices, NSS and the policy, the bus connection and its name, the main loop and signals. */
#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>

#include "build-config.h"
#include "bus-glib.h"
#include "certs.h"
#include "config.h"
#include "manager.h"
#include "policy-watch.h"
#include "state-file.h"
#include "store.h"

typedef struct {
        GMainLoop *loop;
        int exit_status;
} Daemon;

static gboolean quit_on_signal(gpointer user_data) {
        Daemon *d = user_data;

        g_message("Terminating on signal");
        g_main_loop_quit(d->loop);
        return G_SOURCE_CONTINUE;
}

/* The daemon's own life on the bus: disconnection and losing the name end it. */
static DBusHandlerResult bus_filter_cb(DBusConnection *connection, DBusMessage *message,
                                       void *user_data) {
        Daemon *d = user_data;
        const char *name = NULL;

        if (dbus_message_is_signal(message, DBUS_INTERFACE_LOCAL, "Disconnected")) {
                g_message("Disconnected from the bus, exiting");
                g_main_loop_quit(d->loop);
        } else if (dbus_message_is_signal(message, DBUS_INTERFACE_DBUS, "NameLost") &&
                   g_strcmp0(dbus_message_get_sender(message), DBUS_SERVICE_DBUS) == 0 &&
                   dbus_message_get_args(message, NULL, DBUS_TYPE_STRING, &name,
                                         DBUS_TYPE_INVALID) &&
                   strcmp(name, TLSID_BUS_NAME) == 0) {
                g_message("Lost the name %s (replaced by another instance), exiting",
                          TLSID_BUS_NAME);
                g_main_loop_quit(d->loop);
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static DBusConnection *bus_connect(const char *address, GError **error) {
        g_auto(DBusError) derror = DBUS_ERROR_INIT;
        DBusConnection *connection;

        if (address) {
                connection = dbus_connection_open_private(address, &derror);
                if (connection && !dbus_bus_register(connection, &derror)) {
                        dbus_connection_close(connection);
                        g_clear_pointer(&connection, dbus_connection_unref);
                }
        } else {
                /* Started by bus activation the bus tells us where it is; otherwise
                 * (systemd, by hand) the session bus of the environment. */
                DBusBusType type = g_getenv("DBUS_STARTER_ADDRESS") ? DBUS_BUS_STARTER
                                                                     : DBUS_BUS_SESSION;
                connection = dbus_bus_get_private(type, &derror);
        }
        if (!connection) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot connect to the %s: %s", address ? address : "session bus",
                            derror.message);
                return NULL;
        }
        return connection;
}

/* Blocking, but only at start-up before the main loop runs: nothing else could be
 * served meanwhile, and with systemd's Type=dbus the service counts as started only
 * once the name is taken anyway. */
static gboolean request_name(DBusConnection *connection, gboolean replace, GError **error) {
        g_auto(DBusError) derror = DBUS_ERROR_INIT;
        unsigned flags = DBUS_NAME_FLAG_ALLOW_REPLACEMENT | DBUS_NAME_FLAG_DO_NOT_QUEUE;

        if (replace)
                flags |= DBUS_NAME_FLAG_REPLACE_EXISTING;
        int r = dbus_bus_request_name(connection, TLSID_BUS_NAME, flags, &derror);
        if (r < 0) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot request the name %s: %s", TLSID_BUS_NAME, derror.message);
                return FALSE;
        }
        if (r != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER &&
            r != DBUS_REQUEST_NAME_REPLY_ALREADY_OWNER) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "the name %s is owned by another process%s", TLSID_BUS_NAME,
                            replace ? " that does not allow replacement" :
                                      " (use --replace to take it over)");
                return FALSE;
        }
        return TRUE;
}

/* The certificate database tlsidd.conf names (or the default), said once in the log.
 * Without one, or when it cannot be opened, certificates passed by clients are still
 * parsed; NULL only when NSS cannot be initialised at all. */
static CertDb *open_cert_db(const TlsidConfig *config, const char *config_path) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = NULL;
        g_autofree char *source = NULL;
        CertDb *db;

        if (strcmp(config->nss_db, "none") == 0) {
                source = g_strdup_printf("nss_db=none in %s", config_path);
        } else if (config->nss_db[0]) {
                dir = g_strdup(config->nss_db);
                source = g_strdup_printf("from %s", config_path);
        } else {
                dir = cert_db_default_dir();
                source = g_strdup(dir ? "the default" : "~/.pki/nssdb does not exist");
        }
        if (dir) {
                db = cert_db_open(dir, &error);
                if (db) {
                        g_message("User certificates: NSS database %s (%s)", dir, source);
                        return db;
                }
                g_warning("Cannot open the NSS database %s (%s): %s; going on without user "
                          "certificates", dir, source, error->message);
                g_clear_error(&error);
        } else {
                g_message("User certificates: none, no NSS database (%s)", source);
        }
        db = cert_db_open(NULL, &error);
        if (!db)
                g_warning("Cannot initialise NSS: %s; SelectCertificate will fail",
                          error->message);
        return db;
}

static void policy_changed_cb(const Policy *policy, const char *error, gpointer user_data) {
        const char *path = user_data;

        if (error)
                g_warning("%s; keeping the previous policy", error);
        else
                g_message("Certificate policy loaded from %s (mode %s)", path,
                          policy_mode_to_string(policy_mode_for(policy, "")));
}

static gboolean reload_policy_on_signal(gpointer user_data) {
        PolicyWatch *watch = user_data;

        g_message("Rereading the certificate policy on SIGHUP");
        policy_watch_reload(watch);
        return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
        gboolean version = FALSE, replace = FALSE, verbose = FALSE;
        g_autofree char *bus_address = NULL;
        g_autofree char *config_path = NULL;
        g_autoptr(GError) error = NULL;
        GOptionEntry entries[] = {
                { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit",
                  NULL },
                { "replace", 0, 0, G_OPTION_ARG_NONE, &replace,
                  "Replace a running instance", NULL },
                { "bus-address", 0, 0, G_OPTION_ARG_STRING, &bus_address,
                  "Connect to the bus at ADDRESS instead of the session bus", "ADDRESS" },
                { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
                  "Log a debug line for each certificate decision (as G_MESSAGES_DEBUG=tlsidd)",
                  NULL },
                { "config", 0, 0, G_OPTION_ARG_FILENAME, &config_path,
                  "Read settings from FILE (default: $XDG_CONFIG_HOME/tlsid/tlsidd.conf)",
                  "FILE" },
                { NULL },
        };

        g_autoptr(GOptionContext) options =
                g_option_context_new("- per-context TLS session partitions on D-Bus");
        g_autofree char *description = config_describe();
        g_option_context_add_main_entries(options, entries, NULL);
        g_option_context_set_description(options, description);
        if (!g_option_context_parse(options, &argc, &argv, &error)) {
                fprintf(stderr, "tlsidd: %s\n", error->message);
                return 2;
        }
        if (verbose)
                g_log_set_debug_enabled(TRUE);
        /* No core dump and no ptrace by other processes of the user: the daemon holds the
         * user's resumption tokens and the token key. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                g_warning("Cannot make tlsidd non-dumpable: %s", g_strerror(errno));
        if (argc > 1) {
                fprintf(stderr, "tlsidd: unexpected argument \"%s\"\n", argv[1]);
                return 2;
        }
        if (version) {
                printf("tlsidd %s\n", PACKAGE_VERSION);
                return 0;
        }

        /* A lost client must not kill the daemon. */
        signal(SIGPIPE, SIG_IGN);

        TlsidConfig config;
        g_autoptr(GPtrArray) warnings = NULL;
        if (!config_path)
                config_path = config_default_path();
        config_init(&config);
        if (!config_load(&config, config_path, &warnings, &error)) {
                g_warning("Ignoring %s: %s", config_path, error->message);
                g_clear_error(&error);
        }
        for (guint i = 0; warnings && i < warnings->len; i++)
                g_warning("%s (in %s)", (const char *) g_ptr_array_index(warnings, i),
                          config_path);

        guint8 nonce[16];
        if (getrandom(nonce, sizeof nonce, 0) != (ssize_t) sizeof nonce) {
                g_printerr("tlsidd: cannot draw the peer id nonce: %s\n", g_strerror(errno));
                return 1;
        }
        g_autoptr(Store) store = store_new(&config.limits, nonce);
        explicit_bzero(nonce, sizeof nonce);

        g_autofree char *state_path = state_file_default_path();

        DBusConnection *connection = bus_connect(bus_address, &error);
        if (!connection) {
                g_printerr("tlsidd: %s\n", error->message);
                return 1;
        }
        /* We clean up and exit on our own: store_free() must zero the tokens. */
        dbus_connection_set_exit_on_disconnect(connection, FALSE);

        Daemon daemon = { .loop = g_main_loop_new(NULL, FALSE), .exit_status = 0 };
        BusGlib *bus = bus_glib_attach(connection, NULL);
        if (!dbus_connection_add_filter(connection, bus_filter_cb, &daemon, NULL))
                g_error("out of memory");

        g_autoptr(CertDb) certs = open_cert_db(&config, config_path);
        g_autofree char *policy_path = policy_default_path();
        g_autoptr(PolicyWatch) policy = policy_watch_new(policy_path, NULL, policy_changed_cb,
                                                         policy_path);
        if (policy_watch_get_error(policy))
                g_warning("%s; using the default policy", policy_watch_get_error(policy));

        Manager *manager = manager_new(connection, store, &config, state_path, certs, policy);
        gboolean started = manager_start(manager, &error);
        /* Without the direct socket the bus serves every call: not fatal. */
        if (started && !manager_listen_direct(manager, &error)) {
                g_warning("No direct socket: %s; every call goes over the bus", error->message);
                g_clear_error(&error);
        }
        if (!started || !request_name(connection, replace, &error)) {
                g_printerr("tlsidd: %s\n", error->message);
                daemon.exit_status = 1;
        } else {
                g_unix_signal_add(SIGTERM, quit_on_signal, &daemon);
                g_unix_signal_add(SIGINT, quit_on_signal, &daemon);
                g_unix_signal_add(SIGHUP, reload_policy_on_signal, policy);
                g_message("tlsidd %s serving %s", PACKAGE_VERSION, TLSID_BUS_NAME);
                g_main_loop_run(daemon.loop);
        }

        if (!manager_flush_save(manager, &error)) {
                g_warning("Failed to save remembered choices to %s: %s", state_path,
                          error->message);
                g_clear_error(&error);
        }
        /* The replies to remembers that final write answered. */
        dbus_connection_flush(connection);
        manager_free(manager);
        g_clear_pointer(&policy, policy_watch_free);
        g_clear_pointer(&certs, cert_db_free);
        dbus_connection_remove_filter(connection, bus_filter_cb, &daemon);
        bus_glib_detach(bus);
        dbus_connection_close(connection);
        dbus_connection_unref(connection);
        g_main_loop_unref(daemon.loop);
        /* Zeroes every token before freeing it. */
        g_clear_pointer(&store, store_free);
        return daemon.exit_status;
}
