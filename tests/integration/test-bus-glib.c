/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: the libdbus-GLib glue (daemon/bus/bus-glib.c) on a private bus loses
 * no wake-up. A service connection runs on a GLib loop in a thread of its own, as tlsidd's
 * does; a client connection drives it. A message that another thread's blocking call
 * reads and queues while the loop is about to sleep is still dispatched, and a reply too
 * large for one write, sent from an idle callback, goes out in full with no further
 * traffic to wake the loop. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "bus-glib.h"
#include "check-main.h"
#include "test-bus.h"

#define TEST_PATH "/org/tlsid/TestBusGlib"
#define TEST_INTERFACE "org.tlsid.TestBusGlib"
#define WAIT_MS 5000
#define CALL_TIMEOUT_MS 20000
/* Far more than a socket buffer: the reply needs many writes, each awaiting POLLOUT. */
#define LARGE_REPLY_BYTES (16 * 1024 * 1024)

static DBusConnection *service, *client;
static GMainContext *context;
static GMainLoop *loop;
static GThread *loop_thread;
static BusGlib *bus;

/* What the service's loop reports, and the stall of its poll(), under lock. */
static GMutex lock;
static GCond changed;
static gboolean pinged;
static gint stall_armed;        /* atomic: the next poll() stalls */
static gboolean stalled, go_on; /* the loop waits in a stalled poll(); it may go on */

/* GLib's poll() on the service's context: once armed, the next poll() that would sleep
 * (every source's prepare() found nothing to do) stops before it sleeps, until the test
 * lets it go on. Whatever is queued meanwhile can only be seen through a wake-up. */
static gint stalling_poll(GPollFD *fds, guint n_fds, gint timeout) {
        if (timeout != 0 && g_atomic_int_compare_and_exchange(&stall_armed, 1, 0)) {
                g_mutex_lock(&lock);
                stalled = TRUE;
                g_cond_broadcast(&changed);
                while (!go_on)
                        g_cond_wait(&changed, &lock);
                g_mutex_unlock(&lock);
        }
        return g_poll(fds, n_fds, timeout);
}

/* Waits until *@flag is set or WAIT_MS passed; returns it. */
static gboolean wait_for(gboolean *flag) {
        gint64 deadline = g_get_monotonic_time() + WAIT_MS * G_TIME_SPAN_MILLISECOND;
        gboolean value;

        g_mutex_lock(&lock);
        while (!*flag && g_cond_wait_until(&changed, &lock, deadline))
                ;
        value = *flag;
        g_mutex_unlock(&lock);
        return value;
}

static gboolean send_large_reply(gpointer data) {
        DBusMessage *call = data;
        g_autoptr(DBusMessage) reply = dbus_message_new_method_return(call);
        g_autofree unsigned char *bytes = g_malloc(LARGE_REPLY_BYTES);
        const unsigned char *p = bytes;

        memset(bytes, 0xa5, LARGE_REPLY_BYTES);
        ck_assert(dbus_message_append_args(reply, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &p,
                                           LARGE_REPLY_BYTES, DBUS_TYPE_INVALID));
        ck_assert(dbus_connection_send(service, reply, NULL));
        return G_SOURCE_REMOVE;
}

/* The service, on the loop's thread: Ping (no reply) is recorded; ArmStall stalls the
 * loop's next poll(); Large is answered later, from an idle callback. */
static DBusHandlerResult service_message(DBusConnection *conn, DBusMessage *m, void *data) {
        if (dbus_message_is_method_call(m, TEST_INTERFACE, "Ping")) {
                g_mutex_lock(&lock);
                pinged = TRUE;
                g_cond_broadcast(&changed);
                g_mutex_unlock(&lock);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        if (dbus_message_is_method_call(m, TEST_INTERFACE, "ArmStall")) {
                g_autoptr(DBusMessage) reply = dbus_message_new_method_return(m);

                /* Armed from the loop's own thread, which has nothing else to do: no
                 * wake-up is pending when the stalled poll() comes. */
                g_atomic_int_set(&stall_armed, 1);
                dbus_connection_send(conn, reply, NULL);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        if (dbus_message_is_method_call(m, TEST_INTERFACE, "Large")) {
                GSource *idle = g_idle_source_new();

                g_source_set_callback(idle, send_large_reply, dbus_message_ref(m),
                                      (GDestroyNotify) dbus_message_unref);
                g_source_attach(idle, context);
                g_source_unref(idle);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static gpointer run_loop(gpointer data) {
        g_main_context_push_thread_default(context);
        g_main_loop_run(loop);
        g_main_context_pop_thread_default(context);
        return NULL;
}

static void setup(void) {
        static const DBusObjectPathVTable vtable = { .message_function = service_message };

        dbus_threads_init_default();
        test_bus_start();
        service = test_bus_connect();
        client = test_bus_connect();
        ck_assert(dbus_connection_register_object_path(service, TEST_PATH, &vtable, NULL));
        pinged = stalled = go_on = FALSE;
        g_atomic_int_set(&stall_armed, 0);
        context = g_main_context_new();
        g_main_context_set_poll_func(context, stalling_poll);
        loop = g_main_loop_new(context, FALSE);
        bus = bus_glib_attach(service, context);
        loop_thread = g_thread_new("service-loop", run_loop, NULL);
}

static void teardown(void) {
        g_mutex_lock(&lock);
        go_on = TRUE;
        g_cond_broadcast(&changed);
        g_mutex_unlock(&lock);
        g_main_loop_quit(loop);
        g_thread_join(loop_thread);
        bus_glib_detach(bus);
        g_main_loop_unref(loop);
        g_main_context_unref(context);
        test_bus_disconnect(service);
        test_bus_disconnect(client);
        test_bus_stop();
}

/* A call from a thread other than the loop's, blocking on the service connection until
 * the client answers it: libdbus reads, in that thread, whatever arrives before the
 * reply. Infinite timeout: a timeout would attach a GLib source from this thread, which
 * wakes the loop by itself. Returns whether the reply came. */
static gpointer hold_call(gpointer data) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
                dbus_bus_get_unique_name(client), TEST_PATH, TEST_INTERFACE, "Hold");
        g_auto(DBusError) error = DBUS_ERROR_INIT;
        g_autoptr(DBusMessage) reply = dbus_connection_send_with_reply_and_block(
                service, call, DBUS_TIMEOUT_INFINITE, &error);

        return GINT_TO_POINTER(reply != NULL);
}

/* Reads the client connection until a call of @member arrives (transfer full). */
static DBusMessage *client_wait_call(const char *member) {
        long long deadline = test_bus_now_ms() + WAIT_MS;

        while (test_bus_now_ms() < deadline) {
                DBusMessage *m;

                dbus_connection_read_write(client, 100);
                while ((m = dbus_connection_pop_message(client))) {
                        if (dbus_message_is_method_call(m, TEST_INTERFACE, member))
                                return m;
                        dbus_message_unref(m);
                }
        }
        ck_abort_msg("no %s call reached the client", member);
        return NULL;
}

START_TEST(test_bus_glib_message_queued_by_another_thread_is_dispatched) {
        g_autoptr(DBusMessage) ping = dbus_message_new_method_call(
                dbus_bus_get_unique_name(service), TEST_PATH, TEST_INTERFACE, "Ping");
        GThread *holder;

        /* The loop's next poll() stalls after its prepare() found nothing to dispatch. */
        g_autoptr(DBusMessage) arm = dbus_message_new_method_call(
                dbus_bus_get_unique_name(service), TEST_PATH, TEST_INTERFACE, "ArmStall");
        g_auto(DBusError) error = DBUS_ERROR_INIT;
        g_autoptr(DBusMessage) armed = dbus_connection_send_with_reply_and_block(
                client, arm, CALL_TIMEOUT_MS, &error);
        ck_assert_msg(armed, "ArmStall: %s", error.message);
        ck_assert_msg(wait_for(&stalled), "the service's loop did not reach poll()");

        holder = g_thread_new("holder", hold_call, NULL);
        g_autoptr(DBusMessage) hold = client_wait_call("Hold");
        /* The bus keeps the order: the holding thread reads the Ping before its reply. */
        dbus_message_set_no_reply(ping, TRUE);
        ck_assert(dbus_connection_send(client, ping, NULL));
        g_autoptr(DBusMessage) hold_reply = dbus_message_new_method_return(hold);
        ck_assert(dbus_connection_send(client, hold_reply, NULL));
        dbus_connection_flush(client);
        ck_assert_msg(g_thread_join(holder), "the holding call got no reply");

        /* The Ping waits in the service's queue, read by the holding thread: the socket
         * holds nothing more for the loop's poll() to see. */
        ck_assert_int_eq(dbus_connection_get_dispatch_status(service), DBUS_DISPATCH_DATA_REMAINS);
        g_mutex_lock(&lock);
        ck_assert(!pinged);
        go_on = TRUE;
        g_cond_broadcast(&changed);
        g_mutex_unlock(&lock);
        ck_assert_msg(wait_for(&pinged), "a message queued by another thread was not "
                                         "dispatched: the loop was not woken");
}
END_TEST

START_TEST(test_bus_glib_large_reply_from_idle_goes_out) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
                dbus_bus_get_unique_name(service), TEST_PATH, TEST_INTERFACE, "Large");
        g_auto(DBusError) error = DBUS_ERROR_INIT;
        const unsigned char *bytes = NULL;
        int n = -1;

        g_autoptr(DBusMessage) reply = dbus_connection_send_with_reply_and_block(
                client, call, CALL_TIMEOUT_MS, &error);
        ck_assert_msg(reply, "no reply: %s", error.message);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes, &n,
                                        DBUS_TYPE_INVALID));
        ck_assert_int_eq(n, LARGE_REPLY_BYTES);
        ck_assert(bytes[0] == 0xa5 && bytes[n - 1] == 0xa5);
}
END_TEST

static Suite *bus_glib_suite(void) {
        Suite *s = suite_create("bus-glib");
        TCase *tc = tcase_create("bus-glib");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_bus_glib_message_queued_by_another_thread_is_dispatched);
        tcase_add_test(tc, test_bus_glib_large_reply_from_idle_goes_out);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(bus_glib_suite(), CK_FORK);
}
