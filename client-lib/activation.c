/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's start of tlsidd through the user's systemd: the unit's start job, watched.
 *
 * Under systemd activation dbus-daemon never answers a call whose start job fails after
 * systemd queued it (ExecStart= exits, say): the caller waits for its timeout and learns
 * only that tlsidd did not answer. So where org.freedesktop.systemd1 is on the bus, the
 * first call to a daemon that is not running starts tlsid.service itself and waits for the
 * job's JobRemoved, which says "done" or why not. Without systemd1 the bus activates
 * tlsidd as before, and its Spawn.* errors say what failed. A call that times out or
 * finds no daemon asks systemd1 whether the unit failed, for a client that did not see
 * the daemon go. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "build-config.h"
#include "libtlsid-private.h"

#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER SYSTEMD_NAME ".Manager"
#define MATCH_JOB_REMOVED \
        "type='signal',sender='" SYSTEMD_NAME "',path='" SYSTEMD_PATH "'," \
        "interface='" SYSTEMD_MANAGER "',member='JobRemoved'"

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A call to systemd1 that never activates it: a bus without it answers at once. */
static DBusMessage *new_systemd_call(const char *path, const char *interface,
                                     const char *member) {
        DBusMessage *msg = dbus_message_new_method_call(SYSTEMD_NAME, path, interface, member);

        if (msg)
                dbus_message_set_auto_start(msg, FALSE);
        return msg;
}

/* Sends @msg (transfer full) and returns the reply, or NULL with @e set. */
static DBusMessage *call_systemd(DBusConnection *conn, DBusMessage *msg, int timeout,
                                 DBusError *e) {
        _cleanup_(dbus_message_unrefp) DBusMessage *owned = msg;

        if (!msg) {
                dbus_set_error_const(e, DBUS_ERROR_NO_MEMORY, "out of memory");
                return NULL;
        }
        return dbus_connection_send_with_reply_and_block(conn, msg, timeout, e);
}

/* The string property @property of @interface of the loaded unit tlsid.service; NULL when
 * systemd does not say (transfer full). */
static char *unit_property(DBusConnection *conn, int timeout, const char *interface,
                           const char *property) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        const char *unit = TLSID_UNIT_NAME, *path, *value;
        DBusMessage *msg;
        DBusMessageIter iter, variant;

        reply = call_systemd(conn, message_with_args(new_systemd_call(SYSTEMD_PATH,
                                                                      SYSTEMD_MANAGER,
                                                                      "GetUnit"),
                                                     DBUS_TYPE_STRING, &unit, DBUS_TYPE_INVALID),
                             timeout, &e);
        if (!reply || !dbus_message_get_args(reply, NULL, DBUS_TYPE_OBJECT_PATH, &path,
                                             DBUS_TYPE_INVALID))
                return NULL;
        /* @path points into the reply: keep it until the call is built. */
        msg = message_with_args(new_systemd_call(path, DBUS_INTERFACE_PROPERTIES, "Get"),
                                DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING, &property,
                                DBUS_TYPE_INVALID);
        dbus_message_unref(TAKE_PTR(reply));
        reply = call_systemd(conn, msg, timeout, &e);
        if (!reply || !dbus_message_iter_init(reply, &iter) ||
            dbus_message_iter_get_arg_type(&iter) != DBUS_TYPE_VARIANT)
                return NULL;
        dbus_message_iter_recurse(&iter, &variant);
        if (dbus_message_iter_get_arg_type(&variant) != DBUS_TYPE_STRING)
                return NULL;
        dbus_message_iter_get_basic(&variant, &value);
        return strdup(value);
}

/* The service's Result ("exit-code", "timeout", ...), for the message. */
static char *unit_service_result(DBusConnection *conn, int timeout) {
        return unit_property(conn, timeout, SYSTEMD_NAME ".Service", "Result");
}

/* What the job's @result means for the call: 0 to go on (the daemon runs, or the bus may
 * still start it), or -EHOSTDOWN. */
static int job_result_to_errno(DBusConnection *conn, int timeout, const char *result,
                               const char *method) {
        static const char *const failures[] = {
                "failed", "dependency", "timeout", "assert", "invalid", "unsupported",
        };
        _cleanup_(freep) char *service_result = NULL;

        for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++)
                if (strcmp(result, failures[i]) == 0) {
                        service_result = unit_service_result(conn, timeout);
                        if (service_result)
                                return set_error(-EHOSTDOWN, "%s: the start job of %s: %s, "
                                                 "service result %s", method,
                                                 TLSID_UNIT_NAME, result, service_result);
                        return set_error(-EHOSTDOWN, "%s: the start job of %s: %s", method,
                                         TLSID_UNIT_NAME, result);
                }
        return 0;
}

/* Reads @conn until JobRemoved of @job arrives or @deadline_ms passes; @ret_result is
 * (transfer full). */
static int wait_job_removed(DBusConnection *conn, const char *job, long long deadline_ms,
                            char **ret_result) {
        for (;;) {
                DBusMessage *msg;
                long long left;

                while ((msg = dbus_connection_pop_message(conn))) {
                        const char *path, *unit, *result;
                        dbus_uint32_t id;
                        bool ours;

                        ours = dbus_message_is_signal(msg, SYSTEMD_MANAGER, "JobRemoved") &&
                                dbus_message_get_args(msg, NULL, DBUS_TYPE_UINT32, &id,
                                                      DBUS_TYPE_OBJECT_PATH, &path,
                                                      DBUS_TYPE_STRING, &unit,
                                                      DBUS_TYPE_STRING, &result,
                                                      DBUS_TYPE_INVALID) &&
                                strcmp(path, job) == 0;
                        if (ours)
                                *ret_result = strdup(result);
                        dbus_message_unref(msg);
                        if (ours)
                                return *ret_result ? 0 : set_oom();
                }
                left = deadline_ms - now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                if (!dbus_connection_read_write(conn, (int) left))
                        return -ECONNREFUSED;
        }
}

int start_daemon_unit(TlsidClient *c, const char *method) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        _cleanup_(connection_dropp) DBusConnection *conn = NULL;
        _cleanup_(freep) char *job = NULL, *result = NULL;
        const char *unit = TLSID_UNIT_NAME, *mode = "replace", *path;
        int timeout = timeout_ms(c);
        long long deadline = now_ms() + timeout;
        int r;

        /* Its own connection: the job's signals stay out of the client's dispatch, and
         * closing it ends the subscription. */
        r = bus_open(c, &conn);
        if (r < 0)
                return r;
        /* systemd sends JobRemoved on a shared bus only to subscribers. An error here is
         * a bus without systemd1: the bus activates tlsidd. */
        reply = call_systemd(conn, new_systemd_call(SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe"),
                             timeout, &e);
        if (!reply)
                return dbus_error_has_name(&e, DBUS_ERROR_NO_MEMORY) ? set_oom() : 0;
        dbus_message_unref(TAKE_PTR(reply));
        dbus_bus_add_match(conn, MATCH_JOB_REMOVED, &e);
        if (dbus_error_is_set(&e))
                return 0;
        reply = call_systemd(conn, message_with_args(new_systemd_call(SYSTEMD_PATH,
                                                                      SYSTEMD_MANAGER,
                                                                      "StartUnit"),
                                                     DBUS_TYPE_STRING, &unit,
                                                     DBUS_TYPE_STRING, &mode, DBUS_TYPE_INVALID),
                             timeout, &e);
        /* No such unit, say: the bus's own activation answers, and its error says why. */
        if (!reply || !dbus_message_get_args(reply, NULL, DBUS_TYPE_OBJECT_PATH, &path,
                                             DBUS_TYPE_INVALID))
                return 0;
        job = strdup(path);
        if (!job)
                return set_oom();

        r = wait_job_removed(conn, job, deadline, &result);
        if (r == -ETIMEDOUT)
                return set_error(-ETIMEDOUT, "%s: %s did not start in time", method,
                                 TLSID_UNIT_NAME);
        if (r < 0)
                return 0;
        return job_result_to_errno(conn, timeout, result, method);
}

int check_daemon_unit_failed(DBusConnection *conn, int timeout, const char *method) {
        _cleanup_(freep) char *active = NULL, *sub = NULL, *result = NULL;

        active = unit_property(conn, timeout, SYSTEMD_NAME ".Unit", "ActiveState");
        if (!active)
                return 0;
        /* Between a failed start and the next try of Restart=on-failure. */
        if (strcmp(active, "failed") != 0) {
                sub = unit_property(conn, timeout, SYSTEMD_NAME ".Unit", "SubState");
                if (!streq_ptr(sub, "auto-restart"))
                        return 0;
        }
        result = unit_service_result(conn, timeout);
        return set_error(-EHOSTDOWN, "%s: %s %s, service result %s", method, TLSID_UNIT_NAME,
                         sub ? sub : active, result ? result : "unknown");
}
