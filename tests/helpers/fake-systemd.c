/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stand-in for the user's systemd on the private test bus. */
#include "fake-systemd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-bus.h"

#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER SYSTEMD_NAME ".Manager"
#define JOB_PATH SYSTEMD_PATH "/job/7"
#define UNIT_PATH SYSTEMD_PATH "/unit/tlsid_2eservice"
#define START_TIMEOUT_MS 30000

static void send_and_unref(DBusConnection *conn, DBusMessage *msg) {
        if (!msg || !dbus_connection_send(conn, msg, NULL))
                _exit(2);
        dbus_message_unref(msg);
}

static void answer_start_unit(DBusConnection *conn, DBusMessage *call, const char *job_result) {
        const char *unit = "", *mode = "", *job = JOB_PATH;
        dbus_uint32_t id = 7;
        DBusMessage *reply, *signal;

        dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &unit, DBUS_TYPE_STRING, &mode,
                              DBUS_TYPE_INVALID);
        if (strcmp(unit, "tlsid.service") != 0 || strcmp(mode, "replace") != 0) {
                send_and_unref(conn, dbus_message_new_error(call, DBUS_ERROR_INVALID_ARGS,
                                                            "not tlsid.service, replace"));
                return;
        }
        if (!job_result) {
                send_and_unref(conn, dbus_message_new_error(call, SYSTEMD_NAME ".NoSuchUnit",
                                                            "Unit tlsid.service not found."));
                return;
        }
        reply = dbus_message_new_method_return(call);
        dbus_message_append_args(reply, DBUS_TYPE_OBJECT_PATH, &job, DBUS_TYPE_INVALID);
        send_and_unref(conn, reply);
        /* After the reply, as systemd runs the job only once the method has returned. */
        signal = dbus_message_new_signal(SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved");
        dbus_message_append_args(signal, DBUS_TYPE_UINT32, &id, DBUS_TYPE_OBJECT_PATH, &job,
                                 DBUS_TYPE_STRING, &unit, DBUS_TYPE_STRING, &job_result,
                                 DBUS_TYPE_INVALID);
        send_and_unref(conn, signal);
}

static void answer(DBusConnection *conn, DBusMessage *call, const char *job_result) {
        DBusMessage *reply;

        if (dbus_message_is_method_call(call, SYSTEMD_MANAGER, "Subscribe")) {
                send_and_unref(conn, dbus_message_new_method_return(call));
        } else if (dbus_message_is_method_call(call, SYSTEMD_MANAGER, "StartUnit")) {
                answer_start_unit(conn, call, job_result);
        } else if (dbus_message_is_method_call(call, SYSTEMD_MANAGER, "GetUnit")) {
                const char *path = UNIT_PATH;

                reply = dbus_message_new_method_return(call);
                dbus_message_append_args(reply, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID);
                send_and_unref(conn, reply);
        } else if (dbus_message_is_method_call(call, DBUS_INTERFACE_PROPERTIES, "Get") &&
                   strcmp(dbus_message_get_path(call), UNIT_PATH) == 0) {
                const char *interface = "", *property = "", *value = "failed";
                DBusMessageIter iter, variant;

                dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &interface,
                                      DBUS_TYPE_STRING, &property, DBUS_TYPE_INVALID);
                if (strcmp(property, "Result") == 0)
                        value = "exit-code";
                reply = dbus_message_new_method_return(call);
                dbus_message_iter_init_append(reply, &iter);
                dbus_message_iter_open_container(&iter, DBUS_TYPE_VARIANT, "s", &variant);
                dbus_message_iter_append_basic(&variant, DBUS_TYPE_STRING, &value);
                dbus_message_iter_close_container(&iter, &variant);
                send_and_unref(conn, reply);
        } else {
                send_and_unref(conn, dbus_message_new_error(call, DBUS_ERROR_UNKNOWN_METHOD,
                                                            dbus_message_get_member(call)));
        }
}

static _Noreturn void serve(const char *job_result) {
        DBusError error = DBUS_ERROR_INIT;
        DBusConnection *conn = test_bus_connect();

        if (dbus_bus_request_name(conn, SYSTEMD_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE, &error) !=
            DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER)
                _exit(2);
        while (dbus_connection_read_write(conn, -1)) {
                DBusMessage *msg;

                while ((msg = dbus_connection_pop_message(conn))) {
                        if (dbus_message_get_type(msg) == DBUS_MESSAGE_TYPE_METHOD_CALL)
                                answer(conn, msg, job_result);
                        dbus_message_unref(msg);
                }
                dbus_connection_flush(conn);
        }
        _exit(0);
}

pid_t fake_systemd_start(const char *job_result) {
        DBusConnection *watch = test_bus_connect_watching();
        pid_t pid = fork();

        if (pid < 0) {
                perror("fork");
                exit(1);
        }
        if (pid == 0) {
                /* Not Check's handlers, which pass a signal on to the test's group. */
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                signal(SIGALRM, SIG_DFL);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                serve(job_result);
        }
        if (!test_bus_wait_owner_change(watch, SYSTEMD_NAME, false, START_TIMEOUT_MS)) {
                fprintf(stderr, "fake-systemd: %s did not appear\n", SYSTEMD_NAME);
                exit(1);
        }
        test_bus_disconnect(watch);
        return pid;
}

void fake_systemd_stop(pid_t pid) {
        int status;

        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
}
