/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid-picker under Xvfb, against the real tlsidd on a private bus: a SelectCertificate
 * that may wait makes the daemon ask the picker, keystrokes sent with xdotool choose a
 * certificate in its window, the answer becomes the choice; then the Remembered decisions
 * window's Forget button, pressed by keyboard, forgets it; several requests get a window
 * each; and the accessibility tree (AT-SPI, what a screen reader reads) names what the
 * windows show. Each window is saved as a screenshot in the meson log directory (and in
 * $TLSID_PICKER_SCREENSHOT_DIR when set, which is how docs/screenshots/ is refreshed). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tlsid/tlsid.h>

#include "a11y-tree.h"
#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"

#define TAB_OTHER "firefox/tab-1"
#define TAB "firefox/tab-2"
#define TAB_LABEL "Work tab"
#define ORIGIN "www.example.com:443"
#define INTERACTIVE_MS 60000u
#define STEP_TIMEOUT "30"
#define STEP_MS 30000

static struct {
        GPid xvfb;
        char *display;
        GPid picker;
        GPid a11y_launcher;     /* at-spi-bus-launcher, when a test reads the a11y tree */
        int picker_err;         /* the picker's stderr, read for its registration */
        GString *picker_log;
} t;

/* --- processes --- */

/* How many times @needle occurs in @haystack. */
static unsigned count_of(const char *haystack, const char *needle) {
        unsigned n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Reads @fd into @log until it holds @needle @count times; false when @fail (nullable)
 * comes first, at end of file, or after @timeout_ms. */
static bool read_until(int fd, GString *log, const char *needle, unsigned count,
                       const char *fail, int timeout_ms) {
        long long deadline = test_bus_now_ms() + timeout_ms;

        while (count_of(log->str, needle) < count) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                long long left = deadline - test_bus_now_ms();
                char buf[4096];
                ssize_t n;

                if (fail && strstr(log->str, fail))
                        return false;
                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        return false;
                n = read(fd, buf, sizeof buf);
                if (n <= 0)
                        return false;
                g_string_append_len(log, buf, n);
        }
        return true;
}

/* Xvfb on a display it picks itself (-displayfd), waited for until it says which. */
static void xvfb_start(void) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) number = g_string_new(NULL);
        int fds[2];
        g_autofree char *fd_arg = NULL;

        ck_assert_int_eq(pipe(fds), 0);
        fd_arg = g_strdup_printf("%d", fds[1]);
        {
                const char *argv[] = { "Xvfb", "-displayfd", fd_arg, "-screen", "0",
                                       "1280x800x24", "-nolisten", "tcp",
                                       NULL };
                GSpawnFlags flags = G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_LEAVE_DESCRIPTORS_OPEN |
                                    G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL;

                ck_assert_msg(g_spawn_async(NULL, (char **)argv, NULL, flags, NULL, NULL,
                                            &t.xvfb, &error),
                              "cannot start Xvfb (install xvfb): %s", error->message);
        }
        close(fds[1]);
        ck_assert_msg(read_until(fds[0], number, "\n", 1, NULL, STEP_MS),
                      "Xvfb did not report its display");
        close(fds[0]);
        g_strstrip(number->str);
        t.display = g_strdup_printf(":%s", number->str);
}

/* The environment GTK gets under Xvfb: X11, software rendering, no dconf to find, the
 * test bus's throwaway home and runtime directory, and no accessibility bus unless the
 * test started one. */
static char **picker_environment(void) {
        char **env = g_get_environ();

        env = g_environ_setenv(env, "DISPLAY", t.display, TRUE);
        env = g_environ_setenv(env, "GDK_BACKEND", "x11", TRUE);
        env = g_environ_setenv(env, "GSK_RENDERER", "cairo", TRUE);
        if (t.a11y_launcher <= 0) {
                env = g_environ_setenv(env, "NO_AT_BRIDGE", "1", TRUE);
                env = g_environ_setenv(env, "GTK_A11Y", "none", TRUE);
        }
        env = g_environ_setenv(env, "GSETTINGS_BACKEND", "memory", TRUE);
        env = g_environ_setenv(env, "GIO_USE_VFS", "local", TRUE);
        return env;
}

static const char *picker_path(void) {
        const char *path = getenv("TLSID_PICKER");

        ck_assert_msg(path && *path, "TLSID_PICKER is not set");
        return path;
}

/* Starts the picker and waits until it says it registered as the daemon's agent. */
static void picker_start(void) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = picker_environment();
        const char *argv[] = { picker_path(), NULL };

        t.picker_log = g_string_new(NULL);
        ck_assert_msg(g_spawn_async_with_pipes(NULL, (char **)argv, env,
                                               G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                               &t.picker, NULL, NULL, &t.picker_err, &error),
                      "cannot start %s: %s", argv[0], error->message);
        ck_assert_msg(read_until(t.picker_err, t.picker_log, "registered as the agent", 1,
                                 "RegisterAgent", STEP_MS),
                      "the picker did not register as an agent; it said:\n%s",
                      t.picker_log->str);
}

/* Runs @argv (a NULL-ended list) in the picker's environment; returns its stdout,
 * stripped, and fails the test unless it exits 0 (transfer full). */
static char *run(const char *const *argv) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = picker_environment();
        g_autofree char *err = NULL;
        char *out = NULL;
        int status = -1;

        ck_assert_msg(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                   &out, &err, &status, &error),
                      "cannot run %s: %s", argv[0], error->message);
        if (!g_spawn_check_wait_status(status, NULL)) {
                g_autofree char *command = g_strjoinv(" ", (char **)argv);

                ck_abort_msg("%s failed (status %d): %s", command, status, err);
        }
        return g_strstrip(out);
}

/* The id of the visible window whose title matches @pattern, waited for. */
static char *window_wait(const char *pattern) {
        const char *argv[] = { "timeout", STEP_TIMEOUT, "xdotool", "search", "--sync",
                               "--onlyvisible", "--name", pattern, NULL };
        char *id = run(argv);

        /* Several matches come one a line: the test opens one window of each kind. */
        ck_assert_msg(*id && !strchr(id, '\n'), "windows matching \"%s\": \"%s\"", pattern,
                      id);
        return id;
}

/* Waits until no visible window's title matches @pattern. xdotool can wait for a window
 * to come, not for one to go, and nothing else tells the test: this asks every 100 ms. */
static bool window_gone(const char *pattern) {
        const char *argv[] = { "xdotool", "search", "--onlyvisible", "--name", pattern, NULL };
        long long deadline = test_bus_now_ms() + STEP_MS;
        g_auto(GStrv) env = picker_environment();

        while (test_bus_now_ms() < deadline) {
                g_autofree char *out = NULL;
                int status = -1;

                ck_assert(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_SEARCH_PATH |
                                       G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                                       &status, NULL));
                if (!out || !*g_strstrip(out))
                        return true;
                g_usleep(100 * 1000);
        }
        return false;
}

/* Gives @window the keyboard focus (there is no window manager) and types @keys. */
static void window_keys(const char *window, const char *const *keys) {
        const char *focus[] = { "timeout", STEP_TIMEOUT, "xdotool", "windowfocus", "--sync",
                                window, NULL };
        const char *argv[16] = { "xdotool", "key", "--clearmodifiers" };
        size_t n = 3;

        g_free(run(focus));
        for (size_t i = 0; keys[i]; i++) {
                ck_assert_uint_lt(n, G_N_ELEMENTS(argv) - 1);
                argv[n++] = keys[i];
        }
        argv[n] = NULL;
        g_free(run(argv));
}

/* Saves @window as NAME.png in the meson log directory and, when
 * $TLSID_PICKER_SCREENSHOT_DIR is set, there too. The picture is documentation: nothing
 * is asserted on it, so it waits a moment for the last keystroke's repaint. */
static void screenshot(const char *window, const char *name) {
        const char *build = getenv("TLSID_BUILD_DIR");
        const char *extra = getenv("TLSID_PICKER_SCREENSHOT_DIR");
        g_autofree char *file = g_strdup_printf("%s.png", name);
        g_autofree char *path = g_build_filename(build ? build : ".", "meson-logs", file,
                                                 NULL);
        const char *settle[] = { "xdotool", "sleep", "0.5", NULL };
        const char *argv[] = { "import", "-window", window, path, NULL };

        g_free(run(settle));
        g_free(run(argv));
        ck_assert_msg(g_file_test(path, G_FILE_TEST_IS_REGULAR), "no screenshot %s", path);
        if (extra && *extra) {
                g_autofree char *copy = g_build_filename(extra, file, NULL);
                const char *cp[] = { "cp", path, copy, NULL };

                g_free(run(cp));
        }
        fprintf(stderr, "screenshot: %s\n", path);
}

static void stop_child(GPid *pid) {
        if (*pid <= 0)
                return;
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = 0;
}

/* --- fixture --- */

static void setup(void) {
        memset(&t, 0, sizeof t);
        t.picker_err = -1;
        test_bus_start();
        use_nss_db("client-db");
        xvfb_start();
}

static void teardown(void) {
        if (t.picker_err >= 0) {
                char buf[4096];
                ssize_t n;

                /* What the picker said (warnings included) goes to the test log. */
                fcntl(t.picker_err, F_SETFL, O_NONBLOCK);
                while ((n = read(t.picker_err, buf, sizeof buf)) > 0)
                        g_string_append_len(t.picker_log, buf, n);
                fprintf(stderr, "picker said:\n%s", t.picker_log->str);
                close(t.picker_err);
        }
        if (t.picker_log)
                g_string_free(t.picker_log, TRUE);
        stop_child(&t.picker);
        stop_child(&t.xvfb);
        g_free(t.display);
        test_bus_stop();
        /* The launcher leaves with the session bus and stops its accessibility bus and
         * registry itself (killed, it would orphan them). */
        if (t.a11y_launcher > 0) {
                long long deadline = test_bus_now_ms() + 5000;

                while (waitpid(t.a11y_launcher, NULL, WNOHANG) == 0) {
                        if (test_bus_now_ms() > deadline) {
                                stop_child(&t.a11y_launcher);
                                break;
                        }
                        g_usleep(50 * 1000);
                }
                t.a11y_launcher = 0;
        }
}

/* --- the interactive request, on a raw connection --- */

/* Sends SelectCertificate(@context, ORIGIN) that may wait INTERACTIVE_MS for the user, with
 * no candidates (the daemon's database: alice and bob). */
static DBusPendingCall *select_interactive(DBusConnection *conn, const char *context) {
        DBusMessage *msg = test_bus_method("SelectCertificate");
        DBusMessageIter args, dict, entry, variant, candidates;
        const char *origin = ORIGIN, *key = "interactive_timeout_ms";
        dbus_uint32_t timeout = INTERACTIVE_MS;
        DBusPendingCall *pending = NULL;

        dbus_message_iter_init_append(msg, &args);
        dbus_message_iter_append_basic(&args, DBUS_TYPE_STRING, &context);
        dbus_message_iter_append_basic(&args, DBUS_TYPE_STRING, &origin);
        dbus_message_iter_open_container(&args, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key);
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "u", &variant);
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT32, &timeout);
        dbus_message_iter_close_container(&entry, &variant);
        dbus_message_iter_close_container(&dict, &entry);
        dbus_message_iter_close_container(&args, &dict);
        dbus_message_iter_open_container(&args, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &candidates);
        dbus_message_iter_close_container(&args, &candidates);
        ck_assert(dbus_connection_send_with_reply(conn, msg, &pending, INTERACTIVE_MS + 30000));
        ck_assert_ptr_nonnull(pending);
        dbus_connection_flush(conn);
        dbus_message_unref(msg);
        return pending;
}

/* The decision and identity of the reply @pending waits for (transfer full: g_free()). */
static void select_reply(DBusPendingCall *pending, char **ret_decision, char **ret_identity) {
        DBusMessage *reply;
        DBusError error = DBUS_ERROR_INIT;
        const char *decision = NULL, *identity = NULL;

        dbus_pending_call_block(pending);
        reply = dbus_pending_call_steal_reply(pending);
        ck_assert_ptr_nonnull(reply);
        ck_assert_msg(!dbus_set_error_from_message(&error, reply), "SelectCertificate: %s: %s",
                      error.name, error.message);
        ck_assert(dbus_message_get_args(reply, &error, DBUS_TYPE_STRING, &decision,
                                        DBUS_TYPE_STRING, &identity, DBUS_TYPE_INVALID));
        *ret_decision = g_strdup(decision);
        *ret_identity = g_strdup(identity);
        dbus_message_unref(reply);
        dbus_pending_call_unref(pending);
}

/* --- the test --- */

/* The two certificates of the daemon's database in the order the picker lists them: not
 * interactive, SelectCertificate answers "ask" with them, best first (transfer full). */
static void eligible_pair(TlsidContext *context, char **ret_first, char **ret_second) {
        TlsidDecision decision;
        TlsidCertificateInfo *eligible = NULL;
        size_t n_eligible = 0;
        char *identity = NULL;

        ASSERT_OK(tlsid_context_select_certificate(context, ORIGIN, NULL, NULL, 0, &decision,
                                                   &identity, NULL, &eligible, &n_eligible));
        ck_assert_int_eq(decision, TLSID_DECISION_ASK);
        ck_assert_uint_eq(n_eligible, 2);
        *ret_first = g_strdup(eligible[0].identity);
        *ret_second = g_strdup(eligible[1].identity);
        tlsid_certificate_infos_free(eligible, n_eligible);
        free(identity);
}

/* Asks for @context interactively, types @keys in its window (titled with @label) and
 * returns the certificate the call got. Saves the window as @screenshot_name (nullable)
 * before the last key. */
static char *choose(DBusConnection *conn, const char *context, const char *label,
                    const char *const *keys, const char *screenshot_name) {
        g_autofree char *title = g_strdup_printf("Certificate for %s — %s", ORIGIN, label);
        g_autofree char *window = NULL, *decision = NULL;
        DBusPendingCall *pending = select_interactive(conn, context);
        const char *last[2] = { NULL, NULL };
        const char *before[8] = { NULL };
        size_t n = 0;
        char *identity = NULL;

        while (keys[n + 1]) {
                ck_assert_uint_lt(n, G_N_ELEMENTS(before) - 1);
                before[n] = keys[n];
                n++;
        }
        last[0] = keys[n];
        window = window_wait(title);
        window_keys(window, before);
        if (screenshot_name)
                screenshot(window, screenshot_name);
        window_keys(window, last);
        select_reply(pending, &decision, &identity);
        ck_assert_str_eq(decision, "certificate");
        return identity;
}

/* The "done when": from the sites' requests, one tab gets the first certificate and
 * another the second, through the picker alone, remembered; later the second tab's choice
 * is forgotten in the Remembered decisions window, and the first tab keeps its own. */
START_TEST(test_picker_choose_and_forget) {
        TlsidClient *client = client_new();
        TlsidContext *tab = NULL, *other = NULL;
        g_autofree char *first = NULL, *second = NULL, *chosen = NULL, *chosen_other = NULL;
        char *identity = NULL;
        g_autofree char *decisions_window = NULL;
        TlsidChoice state;
        DBusConnection *conn;
        Changes changes = { 0 };

        ASSERT_OK(tlsid_context_open(client, TAB, 0, TAB_LABEL, &tab));
        ASSERT_OK(tlsid_context_open(client, TAB_OTHER, 0, "Home tab", &other));

        eligible_pair(tab, &first, &second);

        picker_start();
        conn = test_bus_connect();
        /* The home tab: the first certificate, which has the focus, remembered (Alt+R) and
         * sent (Enter). The work tab: the second (Down), remembered, sent. */
        chosen_other = choose(conn, TAB_OTHER, "Home tab",
                              (const char *const[]){ "alt+r", "Return", NULL }, NULL);
        ck_assert_str_eq(chosen_other, first);
        chosen = choose(conn, TAB, TAB_LABEL,
                        (const char *const[]){ "Down", "alt+r", "Return", NULL },
                        "picker-request");
        ck_assert_str_eq(chosen, second);
        ASSERT_OK(tlsid_context_get_partition(tab, ORIGIN, &state, &identity, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, second);

        /* "Remember this decision" ticked: the choices outlive the daemon. A new tlsidd is a
         * new owner of the manager's name, and the picker registers with it too. */
        test_bus_restart_daemon();
        ck_assert_msg(read_until(t.picker_err, t.picker_log, "registered as the agent", 2,
                                 "RegisterAgent", STEP_MS),
                      "the picker did not register with the new tlsidd; it said:\n%s",
                      t.picker_log->str);
        tlsid_context_unref(tab);
        tlsid_context_unref(other);
        ASSERT_OK(tlsid_context_open(client, TAB, 0, TAB_LABEL, &tab));
        ASSERT_OK(tlsid_context_open(client, TAB_OTHER, 0, "Home tab", &other));
        g_clear_pointer(&identity, free);
        ASSERT_OK(tlsid_context_get_partition(tab, ORIGIN, &state, &identity, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, second);
        g_clear_pointer(&identity, free);
        ASSERT_OK(tlsid_context_get_partition(other, ORIGIN, &state, &identity, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, first);

        /* The Remembered decisions window, opened in the running picker by a second
         * tlsid-picker: the first Forget button has the focus (the home tab's, listed
         * first), Tab moves to the work tab's, Space presses it. */
        watch_changes(client, &changes);
        g_free(run((const char *const[]){ picker_path(), "--decisions", NULL }));
        decisions_window = window_wait("Remembered decisions");
        screenshot(decisions_window, "picker-decisions");
        window_keys(decisions_window, (const char *const[]){ "Tab", "space", NULL });
        ck_assert_msg(dispatch_until(client, &changes.count, 1), "no IdentityChanged");
        ck_assert_int_eq(changes.state, TLSID_CHOICE_UNDECIDED);
        g_clear_pointer(&identity, free);
        ASSERT_OK(tlsid_context_get_partition(tab, ORIGIN, &state, &identity, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_str_eq(identity, "");
        /* Only that tab was logged out. */
        g_clear_pointer(&identity, free);
        ASSERT_OK(tlsid_context_get_partition(other, ORIGIN, &state, &identity, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, first);

        free(identity);
        test_bus_disconnect(conn);
        tlsid_context_unref(other);
        tlsid_context_unref(tab);
        tlsid_client_unref(client);
}
END_TEST

/* Two tabs ask at once: a window each, titled with the tab. One answers Don't send; the
 * other is decided elsewhere meanwhile (as tlsidctl choose would), so the daemon cancels
 * its prompt and the window closes; a third request is cancelled with Escape. */
START_TEST(test_picker_several_requests) {
        TlsidClient *client = client_new();
        TlsidContext *home = NULL, *work = NULL;
        g_autofree char *first = NULL, *second = NULL, *home_window = NULL;
        g_autofree char *work_window = NULL;
        g_autofree char *decision_home = NULL, *identity_home = NULL;
        g_autofree char *decision_work = NULL, *identity_work = NULL;
        g_autofree char *decision_again = NULL, *identity_again = NULL;
        g_autofree char *again_window = NULL;
        TlsidChoice state;
        DBusConnection *conn;
        DBusPendingCall *pending_home, *pending_work, *pending_again;

        ASSERT_OK(tlsid_context_open(client, TAB_OTHER, 0, "Home tab", &home));
        ASSERT_OK(tlsid_context_open(client, TAB, 0, TAB_LABEL, &work));
        eligible_pair(work, &first, &second);

        picker_start();
        conn = test_bus_connect();
        pending_home = select_interactive(conn, TAB_OTHER);
        pending_work = select_interactive(conn, TAB);
        home_window = window_wait("Certificate for " ORIGIN " — Home tab");
        work_window = window_wait("Certificate for " ORIGIN " — " TAB_LABEL);
        ck_assert_str_ne(home_window, work_window);

        /* Don't send (Alt+D) in the home tab's window: its choice is none. */
        window_keys(home_window, (const char *const[]){ "alt+d", NULL });
        select_reply(pending_home, &decision_home, &identity_home);
        ck_assert_str_eq(decision_home, "none");
        ck_assert_str_eq(identity_home, "");
        ASSERT_OK(tlsid_context_get_partition(home, ORIGIN, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_NONE);
        ck_assert_msg(window_gone("— Home tab"), "the answered window stayed open");

        /* The work tab's choice made elsewhere: the waiting call gets it, the daemon
         * cancels the prompt, and the picker closes that window. */
        ASSERT_OK(tlsid_context_set_choice(work, ORIGIN, TLSID_CHOICE_CERTIFICATE, first, 0));
        select_reply(pending_work, &decision_work, &identity_work);
        ck_assert_str_eq(decision_work, "certificate");
        ck_assert_str_eq(identity_work, first);
        ck_assert_msg(window_gone("— " TAB_LABEL), "the cancelled window stayed open");

        /* Escape cancels: nothing changes and the call gets "ask". */
        ASSERT_OK(tlsid_context_set_choice(home, ORIGIN, TLSID_CHOICE_UNDECIDED, NULL, 0));
        pending_again = select_interactive(conn, TAB_OTHER);
        again_window = window_wait("Certificate for " ORIGIN " — Home tab");
        window_keys(again_window, (const char *const[]){ "Escape", NULL });
        select_reply(pending_again, &decision_again, &identity_again);
        ck_assert_str_eq(decision_again, "ask");
        ASSERT_OK(tlsid_context_get_partition(home, ORIGIN, &state, NULL, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_UNDECIDED);
        ck_assert_msg(window_gone("— Home tab"), "the cancelled window stayed open");

        test_bus_disconnect(conn);
        tlsid_context_unref(work);
        tlsid_context_unref(home);
        tlsid_client_unref(client);
}
END_TEST

/* at-spi-bus-launcher on the test bus, waited for until it owns org.a11y.Bus; returns
 * the accessibility bus. */
static GDBusConnection *a11y_start(void) {
        const char *launcher = getenv("TLSID_AT_SPI_BUS_LAUNCHER");
        const char *argv[] = { launcher, "--launch-immediately", NULL };
        DBusConnection *watch = test_bus_connect_watching();
        g_autoptr(GError) error = NULL;
        GDBusConnection *a11y;

        ck_assert_msg(launcher && *launcher,
                      "at-spi-bus-launcher not found: install at-spi2-core");
        ck_assert_msg(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                    NULL, &t.a11y_launcher, &error),
                      "cannot start %s: %s", launcher, error->message);
        ck_assert_msg(test_bus_wait_owner_change(watch, "org.a11y.Bus", false, STEP_MS),
                      "%s did not take org.a11y.Bus", launcher);
        test_bus_disconnect(watch);
        a11y = a11y_connect(&error);
        ck_assert_msg(a11y, "the accessibility bus: %s", error->message);
        return a11y;
}

/* The picker's accessibility tree once it holds @needle (or, !@present, no longer does).
 * GTK makes a window's nodes as it shows it, and nothing signals that to the test, which
 * asks again every 100 ms. */
static char *a11y_wait_for(GDBusConnection *a11y, const char *needle, bool present) {
        long long deadline = test_bus_now_ms() + STEP_MS;
        char *tree = NULL;

        for (;;) {
                g_autoptr(GError) error = NULL;

                g_free(tree);
                tree = a11y_dump_application(a11y, "tlsid-picker", &error);
                if (tree && (strstr(tree, needle) != NULL) == present)
                        return tree;
                if (test_bus_now_ms() > deadline)
                        ck_abort_msg("\"%s\" %s in the picker's accessibility tree: %s",
                                     needle, present ? "not" : "still",
                                     tree ? tree : error->message);
                g_usleep(100 * 1000);
        }
}

static char *a11y_wait(GDBusConnection *a11y, const char *needle) {
        return a11y_wait_for(a11y, needle, true);
}

static void assert_reads(const char *tree, const char *line) {
        ck_assert_msg(strstr(tree, line), "a screen reader does not read \"%s\":\n%s", line,
                      tree);
}

/* What a screen reader reads of both windows: the request's site, tab and reason, each
 * certificate as one sentence, the controls by their names; each Forget button says what
 * it forgets, and the decisions window follows a choice made while it is open and a
 * daemon restart. */
START_TEST(test_picker_accessible) {
        g_autoptr(GDBusConnection) a11y = a11y_start();
        TlsidClient *client = client_new();
        TlsidContext *tab = NULL;
        g_autofree char *window = NULL, *tree = NULL, *decision = NULL, *identity = NULL;
        g_autofree char *decisions_tree = NULL;
        DBusConnection *conn;
        DBusPendingCall *pending;

        ASSERT_OK(tlsid_context_open(client, TAB, 0, TAB_LABEL, &tab));
        picker_start();
        conn = test_bus_connect();
        pending = select_interactive(conn, TAB);
        window = window_wait("Certificate for " ORIGIN " — " TAB_LABEL);
        tree = a11y_wait(a11y, "button: Send (");
        assert_reads(tree, "dialog: Certificate for " ORIGIN " — " TAB_LABEL " (" ORIGIN
                           " asks which certificate to send Tab: " TAB_LABEL " (" TAB ")");
        assert_reads(tree, "list: Certificates:\n");
        assert_reads(tree, "list item: alice. Subject: CN=Alice,O=tlsid e2e. Issued by: "
                           "CN=tlsid e2e CA,O=tlsid e2e. Valid: ");
        assert_reads(tree, "list item: bob. Subject: CN=Bob,O=tlsid e2e. Issued by: ");
        assert_reads(tree, "checkbox: Remember this decision (");
        assert_reads(tree, "button: Send (Send the selected certificate");
        assert_reads(tree, "button: Don't send (Send no certificate");
        assert_reads(tree, "button: Cancel (Decide later");
        window_keys(window, (const char *const[]){ "Escape", NULL });
        select_reply(pending, &decision, &identity);
        ck_assert_str_eq(decision, "ask");

        /* The decisions window follows IdentityChanged: a choice made while it is open
         * appears in it. */
        g_free(run((const char *const[]){ picker_path(), "--decisions", NULL }));
        g_free(window_wait("Remembered decisions"));
        g_free(a11y_wait(a11y, "label: No decisions: every site asks\n"));
        ASSERT_OK(tlsid_context_set_choice(tab, ORIGIN, TLSID_CHOICE_NONE, NULL, 0));
        decisions_tree = a11y_wait(a11y, "button: Forget the choice for " ORIGIN " in "
                                         TAB_LABEL);
        assert_reads(decisions_tree, "label: Sends no certificate\n");
        /* A new daemon holds other state: the window reads it again (the choice was not
         * remembered, so it is gone). */
        test_bus_restart_daemon();
        g_free(a11y_wait_for(a11y, "label: Sends no certificate\n", false));

        test_bus_disconnect(conn);
        tlsid_context_unref(tab);
        tlsid_client_unref(client);
}
END_TEST

static Suite *picker_suite(void) {
        Suite *s = suite_create("picker");
        TCase *tc = tcase_create("xvfb");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_picker_choose_and_forget);
        tcase_add_test(tc, test_picker_several_requests);
        tcase_add_test(tc, test_picker_accessible);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        const char *tools[] = { "Xvfb", "xdotool", "import" };
        const char *packages[] = { "xvfb", "xdotool", "imagemagick" };
        int status;

        for (size_t i = 0; i < G_N_ELEMENTS(tools); i++) {
                g_autofree char *found = g_find_program_in_path(tools[i]);

                if (!found) {
                        fprintf(stderr, "%s not found: install %s\n", tools[i], packages[i]);
                        return 1;
                }
        }
        signal(SIGPIPE, SIG_IGN);
        certs_make_with("TLSID_MAKE_E2E_CERTS", NULL);
        status = test_run_suite(picker_suite(), CK_FORK);
        certs_remove();
        return status;
}
