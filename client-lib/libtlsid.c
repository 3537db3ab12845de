/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid: the client of tlsidd, on a private libdbus connection. */
#include "tlsid/tlsid.h"

#include <dbus/dbus.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tlsid-errors.h"
#include "interface.h"
#include "tlsid-ids.h"

#define _public_ __attribute__((visibility("default")))


#define DEFAULT_TIMEOUT_MS 1000

#define MATCH_DAEMON_SIGNALS \
        "type='signal',sender='" TLSID_BUS_NAME "',interface='" TLSID_INTERFACE "'"
#define MATCH_NAME_OWNER \
        "type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS "'," \
        "member='NameOwnerChanged',arg0='" TLSID_BUS_NAME "'"

struct TlsidContext {
        int refs;                       /* atomic */
        TlsidClient *client;            /* a reference */
        char *name;
        char *label;                    /* nullable */
        unsigned flags;
        bool closed;                    /* under client->lock */
        TlsidContext *prev, *next;      /* under client->lock */
};

struct TlsidClient {
        unsigned n_ref;                 /* atomic */
        int timeout_ms;                 /* atomic */
        char *bus_address;              /* NULL: the session bus */
        int epoll_fd;                   /* what tlsid_client_get_fd() returns */
        int event_fd;                   /* in epoll_fd: the connection has queued messages */

        /* Everything below is under lock. The lock is never held while a callback runs,
         * and held across blocking calls only while (re)connecting. */
        pthread_mutex_t lock;
        DBusConnection *conn;           /* NULL only when connecting failed */
        int conn_fd;                    /* the socket inside epoll_fd, or -1 */
        char *daemon_owner;             /* the unique name of the daemon we know, nullable */
        bool restart_pending;           /* reconnected: report at the next dispatch */
        TlsidIdentityChangedFn identity_changed;
        void *identity_changed_userdata;
        TlsidSessionsFlushedFn sessions_flushed;
        void *sessions_flushed_userdata;
        TlsidContext *contexts;         /* every live handle */
};

static __thread char error_buffer[512];
/* The client whose tlsid_client_dispatch() runs in this thread, and what it delivered:
 * libdbus deadlocks when a connection is dispatched again from inside its own dispatch. */
static __thread TlsidClient *dispatching;
static __thread int dispatch_delivered;

static int set_error(int r, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int set_error(int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(error_buffer, sizeof error_buffer, format, ap);
        va_end(ap);
        return r;
}

static int set_oom(void) {
        return set_error(-ENOMEM, "out of memory");
}

_public_ const char *tlsid_error_message(void) {
        return error_buffer;
}

/* Maps a D-Bus error to an errno and records its message. */
static int set_error_from_dbus(const DBusError *e, const char *method) {
        int code = error_code_from_dbus_name(e->name);
        const char *message = e->message ? e->message : e->name;

        if (code >= 0)
                return set_error(error_code_to_errno(code), "%s", message);
        switch (dbus_error_name_to_errno(e->name)) {
        case -ETIMEDOUT:
                return set_error(-ETIMEDOUT, "%s: tlsidd did not answer in time", method);
        case -ECONNREFUSED:
                return set_error(-ECONNREFUSED, "%s: cannot reach tlsidd: %s", method, message);
        case -ENOMEM:
                return set_oom();
        case -EINVAL:
                /* A bad address is the caller's bus address, not an argument of @method. */
                if (dbus_error_has_name(e, DBUS_ERROR_BAD_ADDRESS))
                        return set_error(-EINVAL, "bus address: %s", message);
                return set_error(-EINVAL, "%s: %s", method, message);
        case -EACCES:
                return set_error(-EACCES, "%s: %s", method, message);
        default:
                return set_error(-EIO, "%s: %s (%s)", method, message, e->name);
        }
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* ---- Argument checks: refuse before anything is sent, naming the field. ---- */

static int check_context(const char *context) {
        const char *why = id_context_check(context);

        return why ? set_error(-EINVAL, "context %s", why) : 0;
}

/* NULL or "" is the wildcard. */
static int check_context_or_all(const char *context) {
        return !context || !*context ? 0 : check_context(context);
}

static int check_origin(const char *origin) {
        const char *why = id_origin_check(origin);

        return why ? set_error(-EINVAL, "origin %s", why) : 0;
}

static int check_origin_or_all(const char *origin) {
        return !origin || !*origin ? 0 : check_origin(origin);
}

static int check_identity(const char *identity) {
        const char *why = id_identity_check(identity);

        return why ? set_error(-EINVAL, "identity %s", why) : 0;
}

/* libdbus treats invalid UTF-8 in a string argument as a programming error and may abort,
 * so every caller-supplied free-form string is checked here first. */
static int check_text(const char *field, const char *s, size_t max) {
        if (strlen(s) > max)
                return set_error(-EINVAL, "%s must be at most %zu bytes", field, max);
        if (!dbus_validate_utf8(s, NULL))
                return set_error(-EINVAL, "%s must be valid UTF-8", field);
        return 0;
}

/* ---- Messages ---- */

static DBusMessage *new_call(const char *member) {
        return dbus_message_new_method_call(TLSID_BUS_NAME, TLSID_OBJECT_PATH, TLSID_INTERFACE,
                                            member);
}

/* A call to the bus itself (org.freedesktop.DBus). */
static DBusMessage *new_bus_call(const char *member) {
        return dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                            member);
}

/* @msg (transfer full; NULL from a failed allocation passes through) with the arguments
 * appended as by dbus_message_append_args(); NULL, with @msg freed, when memory ran out. */
static DBusMessage *message_with_args(DBusMessage *msg, int first_arg_type, ...) {
        va_list ap;
        bool ok;

        if (!msg)
                return NULL;
        va_start(ap, first_arg_type);
        ok = dbus_message_append_args_valist(msg, first_arg_type, ap);
        va_end(ap);
        if (!ok) {
                dbus_message_unref(msg);
                return NULL;
        }
        return msg;
}

static bool dict_append(DBusMessageIter *dict, const char *key, int type, const void *value) {
        DBusMessageIter entry, variant;
        char signature[2] = { (char) type, 0 };

        if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry))
                return false;
        if (!dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature, &variant)) {
                dbus_message_iter_abandon_container(dict, &entry);
                return false;
        }
        if (!dbus_message_iter_append_basic(&variant, type, value)) {
                dbus_message_iter_abandon_container(&entry, &variant);
                dbus_message_iter_abandon_container(dict, &entry);
                return false;
        }
        return dbus_message_iter_close_container(&entry, &variant) &&
                dbus_message_iter_close_container(dict, &entry);
}

static bool open_dict(DBusMessageIter *iter, DBusMessageIter *dict) {
        return dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", dict);
}

static bool reply_has_signature(DBusMessage *reply, const char *signature, const char *method) {
        if (dbus_message_has_signature(reply, signature))
                return true;
        set_error(-EIO, "%s: unexpected reply signature '%s'", method,
                  dbus_message_get_signature(reply));
        return false;
}

/* Reads an unsigned number from a variant of any integer type or a boolean; a negative
 * number reads as 0. */
static bool variant_get_uint64(DBusMessageIter *variant, uint64_t *ret) {
        int type = dbus_message_iter_get_arg_type(variant);
        DBusBasicValue v;
        int64_t n;

        /* The fixed types but double, and fd (which reading would duplicate). */
        if (!dbus_type_is_fixed(type) || type == DBUS_TYPE_DOUBLE || type == DBUS_TYPE_UNIX_FD)
                return false;
        dbus_message_iter_get_basic(variant, &v);
        switch (type) {
        case DBUS_TYPE_UINT64:
                *ret = v.u64;
                return true;
        case DBUS_TYPE_INT64:
                n = v.i64;
                break;
        case DBUS_TYPE_UINT32:
                n = v.u32;
                break;
        case DBUS_TYPE_INT32:
                n = v.i32;
                break;
        case DBUS_TYPE_UINT16:
                n = v.u16;
                break;
        case DBUS_TYPE_INT16:
                n = v.i16;
                break;
        case DBUS_TYPE_BYTE:
                n = v.byt;
                break;
        case DBUS_TYPE_BOOLEAN:
                n = v.bool_val ? 1 : 0;
                break;
        default:
                return false;
        }
        *ret = n < 0 ? 0 : (uint64_t) n;
        return true;
}

/* ---- Connection ---- */

static int timeout_ms(TlsidClient *c) {
        return __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED);
}

static void wake_up(TlsidClient *c) {
        uint64_t one = 1;

        /* Cannot fail short of a counter overflow, which would still leave it readable. */
        (void) !write(c->event_fd, &one, sizeof one);
}

/* Called by libdbus, possibly from another thread and with its lock held: only wake up. */
static void on_dispatch_status(DBusConnection *conn, DBusDispatchStatus status, void *userdata) {
        if (status == DBUS_DISPATCH_DATA_REMAINS)
                wake_up(userdata);
}

/* Sends @msg on @conn and waits for the reply; no reconnection, no retry. */
static int call_on(DBusConnection *conn, DBusMessage *msg, int timeout,
                   DBusMessage **ret_reply) {
        DBusError e = DBUS_ERROR_INIT;
        DBusMessage *reply;
        int r;

        reply = dbus_connection_send_with_reply_and_block(conn, msg, timeout, &e);
        if (!reply) {
                r = set_error_from_dbus(&e, dbus_message_get_member(msg));
                dbus_error_free(&e);
                return r;
        }
        *ret_reply = reply;
        return 0;
}

static int call_on_simple(DBusConnection *conn, DBusMessage *msg, int timeout) {
        DBusMessage *reply = NULL;
        int r = call_on(conn, msg, timeout, &reply);

        if (reply)
                dbus_message_unref(reply);
        return r;
}

static int add_match(DBusConnection *conn, const char *rule, int timeout) {
        DBusMessage *msg;
        int r;

        msg = message_with_args(new_bus_call("AddMatch"), DBUS_TYPE_STRING, &rule,
                                DBUS_TYPE_INVALID);
        if (!msg)
                return set_oom();
        r = call_on_simple(conn, msg, timeout);
        dbus_message_unref(msg);
        return r;
}

/* GetNameOwner on the bus: 0 and the owner, or -ENOENT when the name has none. */
static int get_name_owner(DBusConnection *conn, int timeout, char **ret_owner) {
        const char *name = TLSID_BUS_NAME, *owner;
        DBusError e = DBUS_ERROR_INIT;
        DBusMessage *msg, *reply;
        char *copy;
        int r;

        msg = message_with_args(new_bus_call("GetNameOwner"), DBUS_TYPE_STRING, &name,
                                DBUS_TYPE_INVALID);
        if (!msg)
                return set_oom();
        reply = dbus_connection_send_with_reply_and_block(conn, msg, timeout, &e);
        dbus_message_unref(msg);
        if (!reply) {
                if (dbus_error_has_name(&e, DBUS_ERROR_NAME_HAS_NO_OWNER))
                        r = set_error(-ENOENT, "tlsidd is not running");
                else
                        r = set_error_from_dbus(&e, "GetNameOwner");
                dbus_error_free(&e);
                return r;
        }
        if (!dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &owner, DBUS_TYPE_INVALID)) {
                dbus_message_unref(reply);
                return set_error(-EIO, "GetNameOwner: unexpected reply");
        }
        copy = strdup(owner);
        dbus_message_unref(reply);
        if (!copy)
                return set_oom();
        *ret_owner = copy;
        return 0;
}

static int build_open_context(const char *name, unsigned flags, const char *label,
                              DBusMessage **ret_msg) {
        DBusMessageIter iter, dict;
        dbus_bool_t ephemeral = (flags & TLSID_CONTEXT_EPHEMERAL) != 0;
        DBusMessage *msg;

        msg = new_call("OpenContext");
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &name) ||
            !open_dict(&iter, &dict)) {
                dbus_message_unref(msg);
                return set_oom();
        }
        if (!dict_append(&dict, "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral) ||
            (label && !dict_append(&dict, "label", DBUS_TYPE_STRING, &label)) ||
            !dbus_message_iter_close_container(&iter, &dict)) {
                dbus_message_iter_abandon_container_if_open(&iter, &dict);
                dbus_message_unref(msg);
                return set_oom();
        }
        *ret_msg = msg;
        return 0;
}

static int open_context_on(DBusConnection *conn, int timeout, const char *name, unsigned flags,
                           const char *label) {
        DBusMessage *msg = NULL;
        int r;

        r = build_open_context(name, flags, label, &msg);
        if (r < 0)
                return r;
        r = call_on_simple(conn, msg, timeout);
        dbus_message_unref(msg);
        return r;
}

static DBusHandlerResult on_message(DBusConnection *conn, DBusMessage *msg, void *userdata);

static void connection_drop(DBusConnection *conn) {
        if (!conn)
                return;
        dbus_connection_set_dispatch_status_function(conn, NULL, NULL, NULL);
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
}

/* (Re)connects to the bus: a new private connection with our filter and match rules, the
 * daemon's current owner, and (when reconnecting) every open context reopened. The epoll
 * fd keeps its number; only the socket inside it is swapped. */
static int client_connect_locked(TlsidClient *c) {
        DBusError e = DBUS_ERROR_INIT;
        DBusConnection *conn;
        struct epoll_event ev = { .events = EPOLLIN };
        bool reconnect = c->conn != NULL || c->daemon_owner != NULL || c->contexts != NULL;
        int timeout = timeout_ms(c);
        char *owner = NULL;
        int fd = -1, r;

        if (c->bus_address) {
                conn = dbus_connection_open_private(c->bus_address, &e);
                if (conn && !dbus_bus_register(conn, &e)) {
                        dbus_connection_close(conn);
                        dbus_connection_unref(conn);
                        conn = NULL;
                }
        } else
                conn = dbus_bus_get_private(DBUS_BUS_SESSION, &e);
        if (!conn) {
                r = set_error_from_dbus(&e, "connect");
                if (r == -ECONNREFUSED || r == -EIO)
                        r = set_error(-ECONNREFUSED, "cannot connect to the bus: %s",
                                      e.message ? e.message : "unknown error");
                dbus_error_free(&e);
                return r;
        }
        dbus_connection_set_exit_on_disconnect(conn, FALSE);

        if (!dbus_connection_add_filter(conn, on_message, c, NULL)) {
                r = set_oom();
                goto fail;
        }
        r = add_match(conn, MATCH_DAEMON_SIGNALS, timeout);
        if (r < 0)
                goto fail;
        r = add_match(conn, MATCH_NAME_OWNER, timeout);
        if (r < 0)
                goto fail;
        r = get_name_owner(conn, timeout, &owner);
        if (r < 0 && r != -ENOENT)
                goto fail;

        /* A context that cannot be reopened stays in the list: the next call on it retries. */
        for (TlsidContext *ctx = c->contexts; ctx; ctx = ctx->next)
                if (!ctx->closed)
                        (void) open_context_on(conn, timeout, ctx->name, ctx->flags, ctx->label);

        if (!dbus_connection_get_unix_fd(conn, &fd)) {
                r = set_error(-ECONNREFUSED, "connect: the bus connection has no socket");
                goto fail;
        }
        if (c->conn_fd >= 0)
                (void) epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, c->conn_fd, NULL);
        c->conn_fd = -1;
        if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                r = set_error(-errno, "connect: cannot poll the bus socket: %s", strerror(errno));
                goto fail;
        }
        c->conn_fd = fd;

        connection_drop(c->conn);
        c->conn = conn;
        free(c->daemon_owner);
        c->daemon_owner = owner;
        dbus_connection_set_dispatch_status_function(conn, on_dispatch_status, c, NULL);
        if (reconnect)
                c->restart_pending = true;
        if (reconnect || dbus_connection_get_dispatch_status(conn) == DBUS_DISPATCH_DATA_REMAINS)
                wake_up(c);
        return 0;

fail:
        free(owner);
        dbus_connection_remove_filter(conn, on_message, c);
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
        return r;
}

/* The current connection, (transfer full); reconnects when it is gone. */
static int client_get_connection(TlsidClient *c, DBusConnection **ret_conn) {
        int r = 0;

        pthread_mutex_lock(&c->lock);
        if (!c->conn || !dbus_connection_get_is_connected(c->conn))
                r = client_connect_locked(c);
        if (r >= 0)
                *ret_conn = dbus_connection_ref(c->conn);
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* Reopens the context @name if this client holds an open handle of it. */
static int client_reopen_context(TlsidClient *c, DBusConnection *conn, const char *name) {
        char *label = NULL;
        unsigned flags = 0;
        bool found = false;
        int r;

        pthread_mutex_lock(&c->lock);
        for (TlsidContext *ctx = c->contexts; ctx; ctx = ctx->next)
                if (!ctx->closed && strcmp(ctx->name, name) == 0) {
                        found = true;
                        flags = ctx->flags;
                        if (ctx->label && !(label = strdup(ctx->label))) {
                                pthread_mutex_unlock(&c->lock);
                                return set_oom();
                        }
                        break;
                }
        pthread_mutex_unlock(&c->lock);
        if (!found)
                return -ENOENT;
        r = open_context_on(conn, timeout_ms(c), name, flags, label);
        free(label);
        return r;
}

static void client_note_daemon(TlsidClient *c, DBusMessage *reply) {
        const char *sender = dbus_message_get_sender(reply);

        if (!sender)
                return;
        pthread_mutex_lock(&c->lock);
        /* Only the first one: a different one is a restart that NameOwnerChanged reports. */
        if (!c->daemon_owner)
                c->daemon_owner = strdup(sender);
        pthread_mutex_unlock(&c->lock);
}

/* Calls the daemon. Reconnects first when the bus connection is gone. When the call names
 * a context this client has open (@context, nullable) and the daemon no longer knows it
 * (it restarted and NameOwnerChanged has not been dispatched yet), reopens the context and
 * retries once. @msg: (transfer full), NULL after a failed allocation is -ENOMEM.
 * @ret_reply: (transfer full). */
static int client_call(TlsidClient *c, DBusMessage *msg, const char *context,
                       DBusMessage **ret_reply) {
        DBusMessage *to_send = msg, *reply = NULL;
        DBusError e = DBUS_ERROR_INIT;
        DBusConnection *conn;
        bool retry;
        int r;

        if (!msg)
                return set_oom();
        for (int attempt = 0;; attempt++) {
                r = client_get_connection(c, &conn);
                if (r < 0)
                        break;
                reply = dbus_connection_send_with_reply_and_block(conn, to_send, timeout_ms(c),
                                                                   &e);
                if (to_send != msg)
                        dbus_message_unref(to_send);
                if (reply) {
                        dbus_connection_unref(conn);
                        if (streq_ptr(dbus_message_get_destination(msg), TLSID_BUS_NAME))
                                client_note_daemon(c, reply);
                        *ret_reply = reply;
                        r = 0;
                        break;
                }

                retry = false;
                if (attempt == 0 && !dbus_connection_get_is_connected(conn))
                        retry = true;
                else if (attempt == 0 && context &&
                         (error_code_from_dbus_name(e.name) == TLSID_ERROR_NO_SUCH_CONTEXT ||
                          dbus_error_has_name(&e, DBUS_ERROR_SERVICE_UNKNOWN)))
                        retry = client_reopen_context(c, conn, context) >= 0;
                dbus_connection_unref(conn);
                /* After a failed reopen, report the call's own error, not the reopen's. */
                r = set_error_from_dbus(&e, dbus_message_get_member(msg));
                dbus_error_free(&e);
                if (!retry)
                        break;
                /* A sent message is locked and has a serial: resend a copy. */
                to_send = dbus_message_copy(msg);
                if (!to_send) {
                        r = set_oom();
                        break;
                }
        }
        dbus_message_unref(msg);
        return r;
}

/* ---- Signals ---- */

static int deliver_restart(TlsidClient *c) {
        TlsidSessionsFlushedFn fn;
        void *userdata;

        pthread_mutex_lock(&c->lock);
        fn = c->sessions_flushed;
        userdata = c->sessions_flushed_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn("", "", 0, userdata);
        return 1;
}

/* The daemon's name got a new owner: decide whether it is a restart, and if so reopen our
 * contexts before telling the application that every partition changed. */
static void handle_name_owner_changed(TlsidClient *c, DBusMessage *msg) {
        const char *name, *old_owner, *new_owner;
        TlsidContext *ctx;
        bool restart = false;
        size_t n = 0, i = 0;
        struct {
                char *name, *label;
                unsigned flags;
        } *todo = NULL;
        DBusConnection *conn;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                   &old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID))
                return;
        if (strcmp(name, TLSID_BUS_NAME) != 0 || !*new_owner)
                return;

        pthread_mutex_lock(&c->lock);
        if (!c->daemon_owner)
                c->daemon_owner = strdup(new_owner);
        else if (strcmp(c->daemon_owner, new_owner) != 0) {
                char *copy = strdup(new_owner);

                if (copy) {
                        free(c->daemon_owner);
                        c->daemon_owner = copy;
                }
                restart = true;
        }
        if (restart) {
                /* Copies: another thread may drop a handle while we call. */
                for (ctx = c->contexts; ctx; ctx = ctx->next)
                        n++;
                todo = n ? calloc(n, sizeof *todo) : NULL;
                for (ctx = c->contexts; todo && ctx; ctx = ctx->next) {
                        if (ctx->closed)
                                continue;
                        todo[i].name = strdup(ctx->name);
                        todo[i].label = ctx->label ? strdup(ctx->label) : NULL;
                        todo[i].flags = ctx->flags;
                        i++;
                }
        }
        pthread_mutex_unlock(&c->lock);
        if (!restart)
                return;

        if (i > 0 && client_get_connection(c, &conn) >= 0) {
                for (size_t k = 0; k < i; k++)
                        if (todo[k].name)
                                (void) open_context_on(conn, timeout_ms(c), todo[k].name,
                                                       todo[k].flags, todo[k].label);
                dbus_connection_unref(conn);
        }
        for (size_t k = 0; k < i; k++) {
                free(todo[k].name);
                free(todo[k].label);
        }
        free(todo);
        dispatch_delivered += deliver_restart(c);
}

static void handle_identity_changed(TlsidClient *c, DBusMessage *msg) {
        const char *context, *origin, *state_name, *identity;
        dbus_uint32_t generation;
        TlsidIdentityChangedFn fn;
        void *userdata;
        int state;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                   &origin, DBUS_TYPE_STRING, &state_name, DBUS_TYPE_STRING,
                                   &identity, DBUS_TYPE_UINT32, &generation, DBUS_TYPE_INVALID))
                return;
        state = choice_state_from_string(state_name);
        if (state < 0)
                return;
        pthread_mutex_lock(&c->lock);
        fn = c->identity_changed;
        userdata = c->identity_changed_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(context, origin, (TlsidChoice) state, identity, generation, userdata);
        dispatch_delivered++;
}

static void handle_sessions_flushed(TlsidClient *c, DBusMessage *msg) {
        const char *context, *origin;
        dbus_uint32_t dropped;
        TlsidSessionsFlushedFn fn;
        void *userdata;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                   &origin, DBUS_TYPE_UINT32, &dropped, DBUS_TYPE_INVALID))
                return;
        pthread_mutex_lock(&c->lock);
        fn = c->sessions_flushed;
        userdata = c->sessions_flushed_userdata;
        pthread_mutex_unlock(&c->lock);
        if (fn)
                fn(context, origin, dropped, userdata);
        dispatch_delivered++;
}

/* Whether @msg comes from the daemon we know; anyone may send us a unicast signal. */
static bool from_daemon(TlsidClient *c, DBusMessage *msg) {
        bool ok;

        pthread_mutex_lock(&c->lock);
        ok = streq_ptr(dbus_message_get_sender(msg), c->daemon_owner);
        pthread_mutex_unlock(&c->lock);
        return ok;
}

static DBusHandlerResult on_message(DBusConnection *conn, DBusMessage *msg, void *userdata) {
        TlsidClient *c = userdata;

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_SIGNAL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
            streq_ptr(dbus_message_get_sender(msg), DBUS_SERVICE_DBUS)) {
                handle_name_owner_changed(c, msg);
                /* Others on this connection may want it too. */
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        }
        if (!dbus_message_has_path(msg, TLSID_OBJECT_PATH) ||
            !dbus_message_has_interface(msg, TLSID_INTERFACE) || !from_daemon(c, msg))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (dbus_message_has_member(msg, "IdentityChanged"))
                handle_identity_changed(c, msg);
        else if (dbus_message_has_member(msg, "SessionsFlushed"))
                handle_sessions_flushed(c, msg);
        else
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        return DBUS_HANDLER_RESULT_HANDLED;
}

/* ---- Client ---- */

_public_ int tlsid_client_new(const char *bus_address, TlsidClient **ret_client) {
        struct epoll_event ev = { .events = EPOLLIN };
        TlsidClient *c;
        int r;

        if (!ret_client)
                return set_error(-EINVAL, "ret_client is NULL");
        if (bus_address && !*bus_address)
                return set_error(-EINVAL, "bus address is empty");
        if (!dbus_threads_init_default())
                return set_oom();

        c = calloc(1, sizeof *c);
        if (!c)
                return set_oom();
        c->n_ref = 1;
        c->timeout_ms = DEFAULT_TIMEOUT_MS;
        c->epoll_fd = c->event_fd = c->conn_fd = -1;
        pthread_mutex_init(&c->lock, NULL);
        if (bus_address && !(c->bus_address = strdup(bus_address))) {
                r = set_oom();
                goto fail;
        }
        c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        c->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->epoll_fd < 0 || c->event_fd < 0 ||
            epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, c->event_fd, &ev) < 0) {
                r = set_error(-errno, "cannot create the poll fd: %s", strerror(errno));
                goto fail;
        }

        pthread_mutex_lock(&c->lock);
        r = client_connect_locked(c);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                goto fail;
        *ret_client = c;
        return 0;

fail:
        tlsid_client_unref(c);
        return r;
}

_public_ TlsidClient *tlsid_client_ref(TlsidClient *client) {
        if (client)
                __atomic_add_fetch(&client->n_ref, 1, __ATOMIC_RELAXED);
        return client;
}

_public_ TlsidClient *tlsid_client_unref(TlsidClient *client) {
        if (!client || __atomic_sub_fetch(&client->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;

        if (client->conn) {
                dbus_connection_remove_filter(client->conn, on_message, client);
                connection_drop(client->conn);
        }
        if (client->epoll_fd >= 0)
                close(client->epoll_fd);
        if (client->event_fd >= 0)
                close(client->event_fd);
        free(client->daemon_owner);
        free(client->bus_address);
        pthread_mutex_destroy(&client->lock);
        free(client);
        return NULL;
}

_public_ int tlsid_client_set_timeout(TlsidClient *client, uint64_t usec) {
        uint64_t ms;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (usec == 0)
                ms = DEFAULT_TIMEOUT_MS;
        else
                ms = usec / 1000 + (usec % 1000 ? 1 : 0);
        if (ms > INT_MAX)
                ms = INT_MAX;
        __atomic_store_n(&client->timeout_ms, (int) ms, __ATOMIC_RELAXED);
        return 0;
}

_public_ int tlsid_client_on_identity_changed(TlsidClient *client, TlsidIdentityChangedFn fn,
                                              void *userdata) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        client->identity_changed = fn;
        client->identity_changed_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&client->lock);
        return 0;
}

_public_ int tlsid_client_on_sessions_flushed(TlsidClient *client, TlsidSessionsFlushedFn fn,
                                              void *userdata) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        client->sessions_flushed = fn;
        client->sessions_flushed_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&client->lock);
        return 0;
}

/* An epoll fd rather than the socket: a blocking call in any thread may read signals off
 * the socket into libdbus's queue, and only the dispatch status function (the eventfd)
 * notices that. */
_public_ int tlsid_client_get_fd(TlsidClient *client) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        return client->epoll_fd;
}

/* Counts every IdentityChanged and SessionsFlushed signal read (and each restart), whether
 * or not a callback is set. */
_public_ int tlsid_client_dispatch(TlsidClient *client) {
        TlsidClient *outer_client = dispatching;
        int outer_delivered = dispatch_delivered;
        DBusConnection *conn = NULL;
        uint64_t counter;
        bool restart, connected;
        int delivered, r = 0;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (dispatching == client)
                return set_error(-EBUSY, "tlsid_client_dispatch() called from its own callback");

        while (read(client->event_fd, &counter, sizeof counter) > 0)
                ;

        pthread_mutex_lock(&client->lock);
        restart = client->restart_pending;
        client->restart_pending = false;
        if (client->conn)
                conn = dbus_connection_ref(client->conn);
        pthread_mutex_unlock(&client->lock);

        dispatching = client;
        dispatch_delivered = 0;
        if (restart)
                dispatch_delivered += deliver_restart(client);
        if (conn) {
                if (dbus_connection_get_is_connected(conn))
                        (void) dbus_connection_read_write(conn, 0);
                while (dbus_connection_dispatch(conn) == DBUS_DISPATCH_DATA_REMAINS)
                        ;
                connected = dbus_connection_get_is_connected(conn);
                dbus_connection_unref(conn);
                if (!connected) {
                        /* The bus went away: try once now, so a listener that makes no
                         * calls keeps its signals; otherwise stop polling the dead socket
                         * and let the next call reconnect. */
                        r = client_get_connection(client, &conn);
                        if (r >= 0)
                                dbus_connection_unref(conn);
                        else {
                                pthread_mutex_lock(&client->lock);
                                if (client->conn_fd >= 0)
                                        (void) epoll_ctl(client->epoll_fd, EPOLL_CTL_DEL,
                                                         client->conn_fd, NULL);
                                client->conn_fd = -1;
                                pthread_mutex_unlock(&client->lock);
                        }
                }
        }
        delivered = dispatch_delivered;
        dispatching = outer_client;
        dispatch_delivered = outer_delivered;
        return r < 0 ? r : delivered;
}

_public_ int tlsid_client_get_daemon(TlsidClient *client, char **ret_owner) {
        DBusConnection *conn;
        char *owner = NULL;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_owner)
                return set_error(-EINVAL, "ret_owner is NULL");
        r = client_get_connection(client, &conn);
        if (r < 0)
                return r;
        r = get_name_owner(conn, timeout_ms(client), &owner);
        dbus_connection_unref(conn);
        if (r < 0)
                return r;
        *ret_owner = owner;
        return 0;
}

/* ---- Contexts ---- */

_public_ int tlsid_context_open(TlsidClient *client, const char *context, unsigned flags,
                                const char *label, TlsidContext **ret_context) {
        DBusMessage *msg = NULL, *reply = NULL;
        TlsidContext *ctx;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_context)
                return set_error(-EINVAL, "ret_context is NULL");
        if ((r = check_context(context)) < 0)
                return r;
        if (flags & ~TLSID_CONTEXT_EPHEMERAL)
                return set_error(-EINVAL, "flags has unknown bits 0x%x",
                                 flags & ~TLSID_CONTEXT_EPHEMERAL);
        if (label && (r = check_text("label", label, TLSID_LABEL_MAX)) < 0)
                return r;

        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
                return set_oom();
        ctx->refs = 1;
        ctx->flags = flags;
        ctx->name = strdup(context);
        if (!ctx->name || (label && !(ctx->label = strdup(label)))) {
                r = set_oom();
                goto fail;
        }
        r = build_open_context(context, flags, label, &msg);
        if (r < 0)
                goto fail;
        r = client_call(client, msg, NULL, &reply);
        if (r < 0)
                goto fail;
        dbus_message_unref(reply);

        ctx->client = tlsid_client_ref(client);
        pthread_mutex_lock(&client->lock);
        ctx->next = client->contexts;
        if (client->contexts)
                client->contexts->prev = ctx;
        client->contexts = ctx;
        pthread_mutex_unlock(&client->lock);
        *ret_context = ctx;
        return 0;

fail:
        free(ctx->name);
        free(ctx->label);
        free(ctx);
        return r;
}

_public_ TlsidContext *tlsid_context_ref(TlsidContext *context) {
        if (context)
                __atomic_add_fetch(&context->refs, 1, __ATOMIC_RELAXED);
        return context;
}

_public_ TlsidContext *tlsid_context_unref(TlsidContext *context) {
        TlsidClient *c;

        if (!context || __atomic_sub_fetch(&context->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        c = context->client;
        pthread_mutex_lock(&c->lock);
        if (context->prev)
                context->prev->next = context->next;
        else
                c->contexts = context->next;
        if (context->next)
                context->next->prev = context->prev;
        pthread_mutex_unlock(&c->lock);
        free(context->name);
        free(context->label);
        free(context);
        tlsid_client_unref(c);
        return NULL;
}

_public_ const char *tlsid_context_get_name(TlsidContext *context) {
        return context ? context->name : NULL;
}

_public_ TlsidClient *tlsid_context_get_client(TlsidContext *context) {
        return context ? context->client : NULL;
}

/* A retry target for calls on @context: its name unless it was closed. */
static const char *context_retry_name(TlsidContext *context) {
        bool closed;

        pthread_mutex_lock(&context->client->lock);
        closed = context->closed;
        pthread_mutex_unlock(&context->client->lock);
        return closed ? NULL : context->name;
}

static int reply_get_u32(DBusMessage *reply, const char *method, uint32_t *ret) {
        dbus_uint32_t v;

        if (!reply_has_signature(reply, "u", method) ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &v, DBUS_TYPE_INVALID))
                return -EIO;
        *ret = v;
        return 0;
}

/* CloseContext; on success (or when the daemon no longer has it) no handle of the
 * context is ever reopened. */
static int close_context(TlsidClient *c, const char *name, uint32_t *ret_dropped) {
        DBusMessage *msg, *reply = NULL;
        uint32_t dropped = 0;
        int r;

        msg = message_with_args(new_call("CloseContext"), DBUS_TYPE_STRING, &name,
                                DBUS_TYPE_INVALID);
        /* No retry: reopening a context only to close it would be pointless. */
        r = client_call(c, msg, NULL, &reply);
        if (r >= 0) {
                r = reply_get_u32(reply, "CloseContext", &dropped);
                dbus_message_unref(reply);
        }
        if (r >= 0 || r == -ENOENT) {
                pthread_mutex_lock(&c->lock);
                for (TlsidContext *ctx = c->contexts; ctx; ctx = ctx->next)
                        if (strcmp(ctx->name, name) == 0)
                                ctx->closed = true;
                pthread_mutex_unlock(&c->lock);
        }
        if (r < 0)
                return r;
        if (ret_dropped)
                *ret_dropped = dropped;
        return 0;
}

_public_ int tlsid_context_close(TlsidContext *context, uint32_t *ret_dropped) {
        if (!context)
                return set_error(-EINVAL, "context is NULL");
        return close_context(context->client, context->name, ret_dropped);
}

_public_ int tlsid_client_close_context(TlsidClient *client, const char *context,
                                        uint32_t *ret_dropped) {
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if ((r = check_context(context)) < 0)
                return r;
        return close_context(client, context, ret_dropped);
}

/* GetPartition, or with @ret_token BeginConnection (which also takes the partition's
 * newest token when it has no identity). */
static int partition_call(TlsidContext *context, const char *origin, TlsidChoice *ret_state,
                          char **ret_identity, uint32_t *ret_generation, char **ret_peer_id,
                          void **ret_token, size_t *ret_len) {
        const char *method = ret_token ? "BeginConnection" : "GetPartition";
        const char *state_name, *identity, *peer_id;
        const unsigned char *bytes = NULL;
        DBusMessage *msg, *reply = NULL;
        dbus_uint32_t generation;
        char *identity_copy = NULL, *peer_id_copy = NULL;
        void *token = NULL;
        int state, n = 0, r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if ((r = check_origin(origin)) < 0)
                return r;
        msg = message_with_args(new_call(method), DBUS_TYPE_STRING, &context->name,
                                DBUS_TYPE_STRING, &origin, DBUS_TYPE_INVALID);
        r = client_call(context->client, msg, context_retry_name(context), &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, ret_token ? "ssusay" : "ssus", method) ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state_name, DBUS_TYPE_STRING,
                                   &identity, DBUS_TYPE_UINT32, &generation, DBUS_TYPE_STRING,
                                   &peer_id, ret_token ? DBUS_TYPE_ARRAY : DBUS_TYPE_INVALID,
                                   DBUS_TYPE_BYTE, &bytes, &n, DBUS_TYPE_INVALID)) {
                r = -EIO;
                goto out;
        }
        state = choice_state_from_string(state_name);
        if (state < 0) {
                r = set_error(-EIO, "%s: unknown state '%s'", method, state_name);
                goto out;
        }
        /* The reply's own buffer holds the token too; libdbus offers no way to wipe it. */
        if ((ret_identity && !(identity_copy = strdup(identity))) ||
            (ret_peer_id && !(peer_id_copy = strdup(peer_id))) ||
            (n > 0 && !(token = malloc((size_t) n)))) {
                free(identity_copy);
                free(peer_id_copy);
                r = set_oom();
                goto out;
        }
        if (n > 0)
                memcpy(token, bytes, (size_t) n);
        if (ret_state)
                *ret_state = (TlsidChoice) state;
        if (ret_identity)
                *ret_identity = identity_copy;
        if (ret_generation)
                *ret_generation = generation;
        if (ret_peer_id)
                *ret_peer_id = peer_id_copy;
        if (ret_token) {
                *ret_token = token;
                *ret_len = n > 0 ? (size_t) n : 0;
        }
        r = token ? 1 : 0;
out:
        dbus_message_unref(reply);
        return r;
}

_public_ int tlsid_context_get_partition(TlsidContext *context, const char *origin,
                                         TlsidChoice *ret_state, char **ret_identity,
                                         uint32_t *ret_generation, char **ret_peer_id) {
        return partition_call(context, origin, ret_state, ret_identity, ret_generation,
                              ret_peer_id, NULL, NULL);
}

_public_ int tlsid_context_begin_connection(TlsidContext *context, const char *origin,
                                            TlsidChoice *ret_state, char **ret_identity,
                                            uint32_t *ret_generation, char **ret_peer_id,
                                            void **ret_token, size_t *ret_len) {
        if (!ret_token || !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len must not be NULL");
        return partition_call(context, origin, ret_state, ret_identity, ret_generation,
                              ret_peer_id, ret_token, ret_len);
}

/* The token's bytes are copied into the message's buffer, which libdbus frees without
 * zeroing; no public libdbus call reaches that buffer, so the copy cannot be wiped. */
_public_ int tlsid_context_put_session(TlsidContext *context, const char *origin,
                                       const char *identity, uint32_t generation,
                                       const void *token, size_t len, int64_t expires,
                                       uint16_t tls_version, const char *alpn) {
        DBusMessageIter iter, array, dict;
        DBusConnection *conn;
        DBusMessage *msg;
        dbus_int64_t expires_v = expires;
        dbus_uint32_t generation_v = generation;
        dbus_uint16_t version_v = tls_version;
        const unsigned char *bytes = token;
        bool ok;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if ((r = check_origin(origin)) < 0 || (r = check_identity(identity)) < 0)
                return r;
        if (!token || len == 0 || len > TLSID_TOKEN_MAX)
                return set_error(-EINVAL, "token must be 1 to %d bytes", TLSID_TOKEN_MAX);
        if (alpn && (r = check_text("alpn", alpn, TLSID_ALPN_MAX)) < 0)
                return r;

        msg = new_call("PutSession");
        if (!msg)
                return set_oom();
        dbus_message_set_no_reply(msg, TRUE);
        dbus_message_iter_init_append(msg, &iter);
        ok = dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context->name) &&
                dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) &&
                dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &identity) &&
                dbus_message_iter_append_basic(&iter, DBUS_TYPE_UINT32, &generation_v);
        if (ok && dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "y", &array)) {
                ok = dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &bytes,
                                                          (int) len);
                ok = dbus_message_iter_close_container(&iter, &array) && ok;
        } else
                ok = false;
        ok = ok && dbus_message_iter_append_basic(&iter, DBUS_TYPE_INT64, &expires_v);
        if (ok && open_dict(&iter, &dict)) {
                ok = (!tls_version ||
                      dict_append(&dict, "tls_version", DBUS_TYPE_UINT16, &version_v)) &&
                        (!alpn || dict_append(&dict, "alpn", DBUS_TYPE_STRING, &alpn));
                if (ok)
                        ok = dbus_message_iter_close_container(&iter, &dict);
                else
                        dbus_message_iter_abandon_container_if_open(&iter, &dict);
        } else
                ok = false;
        if (!ok) {
                dbus_message_unref(msg);
                return set_oom();
        }

        r = client_get_connection(context->client, &conn);
        if (r >= 0) {
                if (dbus_connection_send(conn, msg, NULL))
                        dbus_connection_flush(conn);
                else
                        r = set_oom();
                if (r >= 0 && !dbus_connection_get_is_connected(conn))
                        r = set_error(-ECONNREFUSED, "PutSession: lost the bus connection");
                dbus_connection_unref(conn);
        }
        dbus_message_unref(msg);
        return r;
}

/* Reads the single ay of @reply (to @method) into a copy and unrefs @reply: 1 with the
 * bytes (free with tlsid_secret_free()), 0 with NULL and 0 when the array is empty. The
 * reply's own buffer holds the bytes too; libdbus offers no way to wipe it. */
static int reply_read_bytes(DBusMessage *reply, const char *method, void **ret_bytes,
                            size_t *ret_len) {
        DBusMessageIter iter, array;
        const unsigned char *bytes = NULL;
        void *copy = NULL;
        int n = 0, r = 0;

        if (!reply_has_signature(reply, "ay", method)) {
                dbus_message_unref(reply);
                return -EIO;
        }
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_recurse(&iter, &array);
        dbus_message_iter_get_fixed_array(&array, &bytes, &n);
        if (n > 0) {
                copy = malloc((size_t) n);
                if (copy)
                        memcpy(copy, bytes, (size_t) n);
                r = copy ? 1 : set_oom();
        }
        dbus_message_unref(reply);
        if (r < 0)
                return r;
        *ret_bytes = copy;
        *ret_len = copy ? (size_t) n : 0;
        return r;
}

_public_ int tlsid_context_take_session(TlsidContext *context, const char *origin,
                                        const char *identity, uint32_t generation,
                                        void **ret_token, size_t *ret_len) {
        DBusMessage *msg, *reply = NULL;
        dbus_uint32_t generation_v = generation;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if ((r = check_origin(origin)) < 0 || (r = check_identity(identity)) < 0)
                return r;
        if (!ret_token || !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len must not be NULL");

        msg = message_with_args(new_call("TakeSession"), DBUS_TYPE_STRING, &context->name,
                                DBUS_TYPE_STRING, &origin, DBUS_TYPE_STRING, &identity,
                                DBUS_TYPE_UINT32, &generation_v, DBUS_TYPE_INVALID);
        r = client_call(context->client, msg, context_retry_name(context), &reply);
        if (r < 0)
                return r;
        return reply_read_bytes(reply, "TakeSession", ret_token, ret_len);
}

static int build_set_choice(const char *context, const char *origin, TlsidChoice state,
                            const char *identity, unsigned flags, DBusMessage **ret_msg) {
        DBusMessageIter iter, dict;
        dbus_bool_t remember = TRUE;
        const char *state_name;
        DBusMessage *msg;
        int r;

        if ((r = check_context(context)) < 0 || (r = check_origin(origin)) < 0)
                return r;
        state_name = choice_state_to_string((int) state);
        if (!state_name)
                return set_error(-EINVAL, "state %d is not a TlsidChoice", (int) state);
        if (state == TLSID_CHOICE_CERTIFICATE) {
                const char *why = id_fingerprint_check(identity);

                if (why)
                        return set_error(-EINVAL, "identity %s", why);
        } else if (identity && *identity)
                return set_error(-EINVAL, "identity must be empty unless state is certificate");
        else
                identity = "";
        if (flags & ~TLSID_CHOICE_REMEMBER)
                return set_error(-EINVAL, "flags has unknown bits 0x%x",
                                 flags & ~TLSID_CHOICE_REMEMBER);

        msg = new_call("SetChoice");
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &state_name) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &identity) ||
            !open_dict(&iter, &dict)) {
                dbus_message_unref(msg);
                return set_oom();
        }
        if (((flags & TLSID_CHOICE_REMEMBER) &&
             !dict_append(&dict, "remember", DBUS_TYPE_BOOLEAN, &remember)) ||
            !dbus_message_iter_close_container(&iter, &dict)) {
                dbus_message_iter_abandon_container_if_open(&iter, &dict);
                dbus_message_unref(msg);
                return set_oom();
        }
        *ret_msg = msg;
        return 0;
}

static int set_choice(TlsidClient *c, const char *context, const char *retry_name,
                      const char *origin, TlsidChoice state, const char *identity,
                      unsigned flags) {
        DBusMessage *msg = NULL, *reply = NULL;
        int r;

        r = build_set_choice(context, origin, state, identity, flags, &msg);
        if (r < 0)
                return r;
        r = client_call(c, msg, retry_name, &reply);
        if (r < 0)
                return r;
        dbus_message_unref(reply);
        return 0;
}

_public_ int tlsid_context_set_choice(TlsidContext *context, const char *origin,
                                      TlsidChoice state, const char *identity, unsigned flags) {
        if (!context)
                return set_error(-EINVAL, "context is NULL");
        return set_choice(context->client, context->name, context_retry_name(context), origin,
                          state, identity, flags);
}

_public_ int tlsid_client_set_choice(TlsidClient *client, const char *context, const char *origin,
                                     TlsidChoice state, const char *identity, unsigned flags) {
        if (!client)
                return set_error(-EINVAL, "client is NULL");
        /* A context this client also has open is reopened after a restart like any other. */
        return set_choice(client, context, context, origin, state, identity, flags);
}

_public_ void tlsid_secret_free(void *p, size_t len) {
        if (!p)
                return;
        explicit_bzero(p, len);
        free(p);
}

/* FlushSessions and ForgetChoices: (s context, s origin) -> (u). */
static int call_wildcard(TlsidClient *c, const char *method, const char *context,
                         const char *origin, uint32_t *ret_count) {
        DBusMessage *msg, *reply = NULL;
        uint32_t count = 0;
        int r;

        if (!c)
                return set_error(-EINVAL, "client is NULL");
        if ((r = check_context_or_all(context)) < 0 || (r = check_origin_or_all(origin)) < 0)
                return r;
        context = context ? context : "";
        origin = origin ? origin : "";
        msg = message_with_args(new_call(method), DBUS_TYPE_STRING, &context,
                                DBUS_TYPE_STRING, &origin, DBUS_TYPE_INVALID);
        r = client_call(c, msg, *context ? context : NULL, &reply);
        if (r < 0)
                return r;
        r = reply_get_u32(reply, method, &count);
        dbus_message_unref(reply);
        if (r < 0)
                return r;
        if (ret_count)
                *ret_count = count;
        return 0;
}

_public_ int tlsid_client_flush_sessions(TlsidClient *client, const char *context,
                                         const char *origin, uint32_t *ret_dropped) {
        return call_wildcard(client, "FlushSessions", context, origin, ret_dropped);
}

_public_ int tlsid_client_forget_choices(TlsidClient *client, const char *context,
                                         const char *origin, uint32_t *ret_forgotten) {
        return call_wildcard(client, "ForgetChoices", context, origin, ret_forgotten);
}

_public_ void tlsid_context_infos_free(TlsidContextInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].context);
                free(infos[i].label);
        }
        free(infos);
}

/* Checks that @reply of @method is the one array @signature; @ret_array then points at its
 * first element and @ret_n holds the number of elements. */
static int reply_open_array(DBusMessage *reply, const char *signature, const char *method,
                            DBusMessageIter *ret_array, size_t *ret_n) {
        DBusMessageIter iter, sub;
        size_t n = 0;

        if (!reply_has_signature(reply, signature, method))
                return -EIO;
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_recurse(&iter, &sub);
        for (; dbus_message_iter_get_arg_type(&sub) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&sub))
                n++;
        dbus_message_iter_recurse(&iter, ret_array);
        *ret_n = n;
        return 0;
}

/* Reads a{sv} properties of one context; unknown keys are skipped. */
static int read_context_info(DBusMessageIter *dict, TlsidContextInfo *info) {
        DBusMessageIter entry, variant;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                const char *key;
                uint64_t v = 0;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);

                if (strcmp(key, "label") == 0) {
                        const char *label;

                        if (dbus_message_iter_get_arg_type(&variant) != DBUS_TYPE_STRING)
                                continue;
                        dbus_message_iter_get_basic(&variant, &label);
                        free(info->label);
                        if (!(info->label = strdup(label)))
                                return set_oom();
                        continue;
                }
                if (!variant_get_uint64(&variant, &v))
                        continue;
                if (strcmp(key, "ephemeral") == 0)
                        info->ephemeral = v != 0;
                else if (strcmp(key, "partitions") == 0)
                        info->partitions = (uint32_t) v;
                else if (strcmp(key, "tokens") == 0)
                        info->tokens = (uint32_t) v;
                else if (strcmp(key, "bytes") == 0)
                        info->bytes = v;
                else if (strcmp(key, "choices") == 0)
                        info->choices = (uint32_t) v;
        }
        if (!info->label && !(info->label = strdup("")))
                return set_oom();
        return 0;
}

_public_ int tlsid_client_list_contexts(TlsidClient *client, TlsidContextInfo **ret_infos,
                                        size_t *ret_n) {
        DBusMessageIter array, strct, dict;
        DBusMessage *reply = NULL;
        TlsidContextInfo *infos = NULL;
        size_t n = 0, i = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        r = client_call(client, new_call("ListContexts"), NULL, &reply);
        if (r < 0)
                return r;
        r = reply_open_array(reply, "a(sa{sv})", "ListContexts", &array, &n);
        if (r < 0)
                goto out;
        if (n > 0 && !(infos = calloc(n, sizeof *infos))) {
                r = set_oom();
                goto out;
        }
        for (; i < n; i++, dbus_message_iter_next(&array)) {
                const char *name;

                dbus_message_iter_recurse(&array, &strct);
                dbus_message_iter_get_basic(&strct, &name);
                if (!(infos[i].context = strdup(name))) {
                        r = set_oom();
                        goto out;
                }
                dbus_message_iter_next(&strct);
                dbus_message_iter_recurse(&strct, &dict);
                r = read_context_info(&dict, &infos[i]);
                if (r < 0)
                        goto out;
        }
        *ret_infos = infos;
        *ret_n = n;
        infos = NULL;
        r = 0;
out:
        tlsid_context_infos_free(infos, n);
        dbus_message_unref(reply);
        return r;
}

_public_ void tlsid_session_infos_free(TlsidSessionInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].context);
                free(infos[i].origin);
                free(infos[i].identity);
        }
        free(infos);
}

_public_ int tlsid_client_list_sessions(TlsidClient *client, const char *context,
                                        TlsidSessionInfo **ret_infos, size_t *ret_n) {
        DBusMessageIter array, strct;
        DBusMessage *msg, *reply = NULL;
        TlsidSessionInfo *infos = NULL;
        size_t n = 0, i = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        if ((r = check_context_or_all(context)) < 0)
                return r;
        context = context ? context : "";
        msg = message_with_args(new_call("ListSessions"), DBUS_TYPE_STRING, &context,
                                DBUS_TYPE_INVALID);
        r = client_call(client, msg, *context ? context : NULL, &reply);
        if (r < 0)
                return r;
        r = reply_open_array(reply, "a(sssuuxt)", "ListSessions", &array, &n);
        if (r < 0)
                goto out;
        if (n > 0 && !(infos = calloc(n, sizeof *infos))) {
                r = set_oom();
                goto out;
        }
        for (; i < n; i++, dbus_message_iter_next(&array)) {
                const char *ctx, *origin, *identity;
                dbus_uint32_t generation, tokens;
                dbus_int64_t expiry;
                dbus_uint64_t bytes;

                dbus_message_iter_recurse(&array, &strct);
                dbus_message_iter_get_basic(&strct, &ctx);
                dbus_message_iter_next(&strct);
                dbus_message_iter_get_basic(&strct, &origin);
                dbus_message_iter_next(&strct);
                dbus_message_iter_get_basic(&strct, &identity);
                dbus_message_iter_next(&strct);
                dbus_message_iter_get_basic(&strct, &generation);
                dbus_message_iter_next(&strct);
                dbus_message_iter_get_basic(&strct, &tokens);
                dbus_message_iter_next(&strct);
                dbus_message_iter_get_basic(&strct, &expiry);
                dbus_message_iter_next(&strct);
                dbus_message_iter_get_basic(&strct, &bytes);

                infos[i].context = strdup(ctx);
                infos[i].origin = strdup(origin);
                infos[i].identity = strdup(identity);
                if (!infos[i].context || !infos[i].origin || !infos[i].identity) {
                        r = set_oom();
                        goto out;
                }
                infos[i].generation = generation;
                infos[i].tokens = tokens;
                infos[i].earliest_expiry = expiry;
                infos[i].bytes = bytes;
        }
        *ret_infos = infos;
        *ret_n = n;
        infos = NULL;
        r = 0;
out:
        tlsid_session_infos_free(infos, n);
        dbus_message_unref(reply);
        return r;
}

_public_ int tlsid_client_get_statistics(TlsidClient *client, TlsidStatistics *ret_statistics) {
        static const struct {
                const char *key;
                size_t offset;
        } fields[] = {
                { "contexts", offsetof(TlsidStatistics, contexts) },
                { "partitions", offsetof(TlsidStatistics, partitions) },
                { "tokens", offsetof(TlsidStatistics, tokens) },
                { "bytes", offsetof(TlsidStatistics, bytes) },
                { "takes", offsetof(TlsidStatistics, takes) },
                { "hits", offsetof(TlsidStatistics, hits) },
                { "misses", offsetof(TlsidStatistics, misses) },
                { "puts", offsetof(TlsidStatistics, puts) },
                { "stale_puts", offsetof(TlsidStatistics, stale_puts) },
                { "evictions", offsetof(TlsidStatistics, evictions) },
                { "expirations", offsetof(TlsidStatistics, expirations) },
                { "flushes", offsetof(TlsidStatistics, flushes) },
                { "uptime", offsetof(TlsidStatistics, uptime) },
        };
        DBusMessageIter iter, dict, entry, variant;
        DBusMessage *reply = NULL;
        TlsidStatistics stats = { 0 };

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_statistics)
                return set_error(-EINVAL, "ret_statistics is NULL");
        int r = client_call(client, new_call("GetStatistics"), NULL, &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, "a{sv}", "GetStatistics")) {
                dbus_message_unref(reply);
                return -EIO;
        }
        dbus_message_iter_init(reply, &iter);
        for (dbus_message_iter_recurse(&iter, &dict);
             dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                const char *key;
                uint64_t v;

                dbus_message_iter_recurse(&dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (!variant_get_uint64(&variant, &v))
                        continue;
                for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
                        if (strcmp(fields[k].key, key) == 0)
                                *(uint64_t *) ((char *) &stats + fields[k].offset) = v;
        }
        dbus_message_unref(reply);
        *ret_statistics = stats;
        return 0;
}

/* ---- Client certificates ---- */


_public_ void tlsid_certificate_infos_free(TlsidCertificateInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].identity);
                free(infos[i].subject);
                free(infos[i].issuer);
                free(infos[i].key_type);
                free(infos[i].nickname);
        }
        free(infos);
}

/* Reads one certificate's a{sv}; unknown keys are skipped, missing strings read as "". */
static int read_certificate_info(DBusMessageIter *dict, TlsidCertificateInfo *info) {
        static const struct {
                const char *key;
                size_t offset;
        } strings[] = {
                { "identity", offsetof(TlsidCertificateInfo, identity) },
                { "subject", offsetof(TlsidCertificateInfo, subject) },
                { "issuer", offsetof(TlsidCertificateInfo, issuer) },
                { "key_type", offsetof(TlsidCertificateInfo, key_type) },
                { "nickname", offsetof(TlsidCertificateInfo, nickname) },
        };
        DBusMessageIter entry, variant;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                const char *key;
                int type;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                type = dbus_message_iter_get_arg_type(&variant);

                if (type == DBUS_TYPE_INT64) {
                        dbus_int64_t v;

                        dbus_message_iter_get_basic(&variant, &v);
                        if (strcmp(key, "not_before") == 0)
                                info->not_before = v;
                        else if (strcmp(key, "not_after") == 0)
                                info->not_after = v;
                        continue;
                }
                if (type != DBUS_TYPE_STRING)
                        continue;
                for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) {
                        char **field = (char **) ((char *) info + strings[k].offset);
                        const char *value;

                        if (strcmp(strings[k].key, key) != 0)
                                continue;
                        dbus_message_iter_get_basic(&variant, &value);
                        free(*field);
                        if (!(*field = strdup(value)))
                                return set_oom();
                }
        }
        /* Every string but the nickname is there, whatever an older daemon sends. */
        if ((!info->identity && !(info->identity = strdup(""))) ||
            (!info->subject && !(info->subject = strdup(""))) ||
            (!info->issuer && !(info->issuer = strdup(""))) ||
            (!info->key_type && !(info->key_type = strdup("unknown"))))
                return set_oom();
        return 0;
}

/* Reads the aa{sv} at @array (with @n elements) into a new array. */
static int read_certificate_infos(DBusMessageIter *array, size_t n,
                                  TlsidCertificateInfo **ret_infos) {
        TlsidCertificateInfo *infos = NULL;
        DBusMessageIter dict;
        int r;

        if (n > 0 && !(infos = calloc(n, sizeof *infos)))
                return set_oom();
        for (size_t i = 0; i < n; i++, dbus_message_iter_next(array)) {
                dbus_message_iter_recurse(array, &dict);
                r = read_certificate_info(&dict, &infos[i]);
                if (r < 0) {
                        tlsid_certificate_infos_free(infos, n);
                        return r;
                }
        }
        *ret_infos = infos;
        return 0;
}

_public_ int tlsid_client_list_certificates(TlsidClient *client,
                                            TlsidCertificateInfo **ret_infos, size_t *ret_n) {
        DBusMessageIter array;
        DBusMessage *reply = NULL;
        TlsidCertificateInfo *infos = NULL;
        size_t n = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_infos || !ret_n)
                return set_error(-EINVAL, "ret_infos and ret_n must not be NULL");
        r = client_call(client, new_call("ListCertificates"), NULL, &reply);
        if (r < 0)
                return r;
        r = reply_open_array(reply, "aa{sv}", "ListCertificates", &array, &n);
        if (r >= 0)
                r = read_certificate_infos(&array, n, &infos);
        dbus_message_unref(reply);
        if (r < 0)
                return r;
        *ret_infos = infos;
        *ret_n = n;
        return 0;
}

_public_ int tlsid_client_get_policy(TlsidClient *client, char **ret_json, char **ret_error) {
        DBusMessage *reply = NULL;
        const char *json, *problem;
        char *json_copy = NULL, *problem_copy = NULL;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_json)
                return set_error(-EINVAL, "ret_json must not be NULL");
        r = client_call(client, new_call("GetPolicy"), NULL, &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, "ss", "GetPolicy") ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &json, DBUS_TYPE_STRING,
                                   &problem, DBUS_TYPE_INVALID)) {
                dbus_message_unref(reply);
                return -EIO;
        }
        if (!(json_copy = strdup(json)) ||
            (ret_error && *problem && !(problem_copy = strdup(problem)))) {
                free(json_copy);
                dbus_message_unref(reply);
                return set_oom();
        }
        dbus_message_unref(reply);
        *ret_json = json_copy;
        if (ret_error)
                *ret_error = problem_copy;
        return 0;
}

static bool append_bytes(DBusMessageIter *iter, const void *data, size_t len) {
        DBusMessageIter array;
        const unsigned char *bytes = data;

        if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "y", &array))
                return false;
        if (len > 0 && !dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &bytes,
                                                             (int) len)) {
                dbus_message_iter_abandon_container(iter, &array);
                return false;
        }
        return dbus_message_iter_close_container(iter, &array);
}

/* One request entry whose value is an array: @key with variant signature @signature.
 * @fill appends the elements to the open array. */
typedef bool (*FillFn)(DBusMessageIter *array, const void *items, size_t n);

static bool dict_append_array(DBusMessageIter *dict, const char *key, const char *signature,
                              FillFn fill, const void *items, size_t n) {
        DBusMessageIter entry, variant, array;
        bool ok;

        if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry))
                return false;
        if (!dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature, &variant)) {
                dbus_message_iter_abandon_container(dict, &entry);
                return false;
        }
        /* signature + 1: the element type of the array. */
        if (!dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, signature + 1,
                                              &array)) {
                dbus_message_iter_abandon_container(&entry, &variant);
                dbus_message_iter_abandon_container(dict, &entry);
                return false;
        }
        ok = fill(&array, items, n);
        if (!ok) {
                dbus_message_iter_abandon_container(&variant, &array);
                dbus_message_iter_abandon_container(&entry, &variant);
                dbus_message_iter_abandon_container(dict, &entry);
                return false;
        }
        return dbus_message_iter_close_container(&variant, &array) &&
                dbus_message_iter_close_container(&entry, &variant) &&
                dbus_message_iter_close_container(dict, &entry);
}

static bool fill_ders(DBusMessageIter *array, const void *items, size_t n) {
        const TlsidDer *ders = items;

        for (size_t i = 0; i < n; i++)
                if (!append_bytes(array, ders[i].der, ders[i].len))
                        return false;
        return true;
}

static bool fill_bytes(DBusMessageIter *array, const void *items, size_t n) {
        const unsigned char *bytes = items;

        return dbus_message_iter_append_fixed_array(array, DBUS_TYPE_BYTE, &bytes, (int) n);
}

static bool fill_uint16s(DBusMessageIter *array, const void *items, size_t n) {
        const dbus_uint16_t *values = items;

        return dbus_message_iter_append_fixed_array(array, DBUS_TYPE_UINT16, &values, (int) n);
}

static bool fill_oid_filters(DBusMessageIter *array, const void *items, size_t n) {
        const TlsidOidFilter *filters = items;
        DBusMessageIter pair;

        for (size_t i = 0; i < n; i++) {
                if (!dbus_message_iter_open_container(array, DBUS_TYPE_STRUCT, NULL, &pair))
                        return false;
                if (!append_bytes(&pair, filters[i].oid, filters[i].oid_len) ||
                    !append_bytes(&pair, filters[i].values, filters[i].values_len)) {
                        dbus_message_iter_abandon_container(array, &pair);
                        return false;
                }
                if (!dbus_message_iter_close_container(array, &pair))
                        return false;
        }
        return true;
}

/* A (pointer, length) pair is consistent: data for every byte it claims. */
static bool blob_ok(const void *p, size_t len, size_t max) {
        return len <= max && (p || len == 0);
}

/* Checks what libdbus would otherwise abort on or the daemon refuse anyway. */
static int check_cert_request(const TlsidCertRequest *q) {
        if (!q)
                return 0;
        if (!blob_ok(q->ca_names, q->n_ca_names, 256))
                return set_error(-EINVAL, "request.ca_names: at most 256, and not NULL");
        for (size_t i = 0; i < q->n_ca_names; i++)
                if (!blob_ok(q->ca_names[i].der, q->ca_names[i].len, 65535) ||
                    q->ca_names[i].len == 0)
                        return set_error(-EINVAL, "request.ca_names[%zu]: 1 to 65535 bytes", i);
        if (!blob_ok(q->certificate_types, q->n_certificate_types, 255))
                return set_error(-EINVAL, "request.certificate_types: at most 255");
        if (!blob_ok(q->signature_schemes, q->n_signature_schemes, 1024))
                return set_error(-EINVAL, "request.signature_schemes: at most 1024");
        if (!blob_ok(q->signature_schemes_cert, q->n_signature_schemes_cert, 1024))
                return set_error(-EINVAL, "request.signature_schemes_cert: at most 1024");
        if (!blob_ok(q->oid_filters, q->n_oid_filters, 64))
                return set_error(-EINVAL, "request.oid_filters: at most 64");
        for (size_t i = 0; i < q->n_oid_filters; i++)
                if (!blob_ok(q->oid_filters[i].oid, q->oid_filters[i].oid_len, 255) ||
                    !blob_ok(q->oid_filters[i].values, q->oid_filters[i].values_len, 65535))
                        return set_error(-EINVAL, "request.oid_filters[%zu]: bad lengths", i);
        if (!blob_ok(q->server_certificate, q->server_certificate_len, TLSID_CERTIFICATE_MAX))
                return set_error(-EINVAL, "request.server_certificate: at most %d bytes",
                                 TLSID_CERTIFICATE_MAX);
        return 0;
}

static int check_candidates(const TlsidCandidate *candidates, size_t n) {
        if (!blob_ok(candidates, n, TLSID_CANDIDATES_MAX))
                return set_error(-EINVAL, "candidates: at most %d, and not NULL",
                                 TLSID_CANDIDATES_MAX);
        for (size_t i = 0; i < n; i++) {
                const TlsidCandidate *c = &candidates[i];

                if (!blob_ok(c->der, c->len, TLSID_CERTIFICATE_MAX) || c->len == 0)
                        return set_error(-EINVAL, "candidates[%zu]: 1 to %d bytes", i,
                                         TLSID_CERTIFICATE_MAX);
                if (!blob_ok(c->chain, c->n_chain, TLSID_CHAIN_MAX))
                        return set_error(-EINVAL, "candidates[%zu].chain: at most %d", i,
                                         TLSID_CHAIN_MAX);
                for (size_t k = 0; k < c->n_chain; k++)
                        if (!blob_ok(c->chain[k].der, c->chain[k].len, TLSID_CERTIFICATE_MAX) ||
                            c->chain[k].len == 0)
                                return set_error(-EINVAL,
                                                 "candidates[%zu].chain[%zu]: 1 to %d bytes",
                                                 i, k, TLSID_CERTIFICATE_MAX);
        }
        return 0;
}

static bool append_request(DBusMessageIter *iter, const TlsidCertRequest *q) {
        DBusMessageIter dict;
        dbus_uint16_t version, suite;
        dbus_bool_t post;
        bool ok = true;

        if (!open_dict(iter, &dict))
                return false;
        if (q) {
                version = q->tls_version;
                suite = q->cipher_suite;
                post = q->post_handshake != 0;
                ok = (!version || dict_append(&dict, "tls_version", DBUS_TYPE_UINT16, &version)) &&
                        (!q->n_ca_names ||
                         dict_append_array(&dict, "ca_names", "aay", fill_ders, q->ca_names,
                                           q->n_ca_names)) &&
                        (!q->n_certificate_types ||
                         dict_append_array(&dict, "certificate_types", "ay", fill_bytes,
                                           q->certificate_types, q->n_certificate_types)) &&
                        (!q->n_signature_schemes ||
                         dict_append_array(&dict, "signature_schemes", "aq", fill_uint16s,
                                           q->signature_schemes, q->n_signature_schemes)) &&
                        (!q->n_signature_schemes_cert ||
                         dict_append_array(&dict, "signature_schemes_cert", "aq", fill_uint16s,
                                           q->signature_schemes_cert,
                                           q->n_signature_schemes_cert)) &&
                        (!q->n_oid_filters ||
                         dict_append_array(&dict, "oid_filters", "a(ayay)", fill_oid_filters,
                                           q->oid_filters, q->n_oid_filters)) &&
                        (!q->server_certificate_len ||
                         dict_append_array(&dict, "server_certificate", "ay", fill_bytes,
                                           q->server_certificate,
                                           q->server_certificate_len)) &&
                        (!suite || dict_append(&dict, "cipher_suite", DBUS_TYPE_UINT16, &suite)) &&
                        (!post || dict_append(&dict, "post_handshake", DBUS_TYPE_BOOLEAN, &post));
        }
        if (!ok) {
                dbus_message_iter_abandon_container(iter, &dict);
                return false;
        }
        return dbus_message_iter_close_container(iter, &dict);
}

static bool append_candidates(DBusMessageIter *iter, const TlsidCandidate *candidates,
                              size_t n) {
        DBusMessageIter array, pair, chain;

        if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "(ayaay)", &array))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!dbus_message_iter_open_container(&array, DBUS_TYPE_STRUCT, NULL, &pair))
                        goto fail_array;
                if (!append_bytes(&pair, candidates[i].der, candidates[i].len) ||
                    !dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "ay", &chain))
                        goto fail_pair;
                if (!fill_ders(&chain, candidates[i].chain, candidates[i].n_chain)) {
                        dbus_message_iter_abandon_container(&pair, &chain);
                        goto fail_pair;
                }
                if (!dbus_message_iter_close_container(&pair, &chain) ||
                    !dbus_message_iter_close_container(&array, &pair))
                        goto fail_array;
        }
        return dbus_message_iter_close_container(iter, &array);
fail_pair:
        dbus_message_iter_abandon_container(&array, &pair);
fail_array:
        dbus_message_iter_abandon_container_if_open(iter, &array);
        return false;
}

_public_ int tlsid_context_select_certificate(TlsidContext *context, const char *origin,
                                              const TlsidCertRequest *request,
                                              const TlsidCandidate *candidates, size_t n,
                                              TlsidDecision *ret_decision, char **ret_identity,
                                              TlsidCertificateInfo **ret_eligible,
                                              size_t *ret_n_eligible) {
        DBusMessageIter iter, array;
        DBusMessage *msg, *reply = NULL;
        TlsidCertificateInfo *eligible = NULL;
        const char *decision_name, *identity;
        char *identity_copy = NULL;
        TlsidDecision decision;
        size_t n_eligible = 0;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if (!ret_decision)
                return set_error(-EINVAL, "ret_decision must not be NULL");
        if (!ret_eligible != !ret_n_eligible)
                return set_error(-EINVAL, "ret_eligible and ret_n_eligible go together");
        if ((r = check_origin(origin)) < 0 || (r = check_cert_request(request)) < 0 ||
            (r = check_candidates(candidates, n)) < 0)
                return r;

        msg = new_call("SelectCertificate");
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context->name) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) ||
            !append_request(&iter, request) || !append_candidates(&iter, candidates, n)) {
                dbus_message_unref(msg);
                return set_oom();
        }
        r = client_call(context->client, msg, context_retry_name(context), &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, "ssaa{sv}", "SelectCertificate")) {
                r = -EIO;
                goto out;
        }
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_get_basic(&iter, &decision_name);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &identity);
        dbus_message_iter_next(&iter);
        if (strcmp(decision_name, "certificate") == 0)
                decision = TLSID_DECISION_CERTIFICATE;
        else if (strcmp(decision_name, "none") == 0)
                decision = TLSID_DECISION_NONE;
        else if (strcmp(decision_name, "ask") == 0)
                decision = TLSID_DECISION_ASK;
        else {
                r = set_error(-EIO, "SelectCertificate: unknown decision '%s'", decision_name);
                goto out;
        }
        if (ret_eligible) {
                dbus_message_iter_recurse(&iter, &array);
                for (DBusMessageIter it = array;
                     dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
                     dbus_message_iter_next(&it))
                        n_eligible++;
                r = read_certificate_infos(&array, n_eligible, &eligible);
                if (r < 0)
                        goto out;
        }
        if (ret_identity && !(identity_copy = strdup(identity))) {
                tlsid_certificate_infos_free(eligible, n_eligible);
                r = set_oom();
                goto out;
        }
        *ret_decision = decision;
        if (ret_identity)
                *ret_identity = identity_copy;
        if (ret_eligible) {
                *ret_eligible = eligible;
                *ret_n_eligible = n_eligible;
        }
        r = 0;
out:
        dbus_message_unref(reply);
        return r;
}

/* ---- Transport challenges ---- */

static const char *const answer_actions[] = {
        [TLSID_ANSWER_NOT_TRANSPORT] = "not-transport",
        [TLSID_ANSWER_RETRY] = "retry",
        [TLSID_ANSWER_ASK] = "ask",
        [TLSID_ANSWER_DECLINED] = "declined",
        [TLSID_ANSWER_REJECTED] = "rejected",
};

_public_ const char *tlsid_answer_action_to_string(TlsidAnswerAction action) {
        if ((size_t) action >= sizeof answer_actions / sizeof answer_actions[0])
                return "unknown";
        return answer_actions[action];
}

_public_ void tlsid_challenge_answer_free(TlsidChallengeAnswer *a) {
        if (!a)
                return;
        free(a->identity);
        for (size_t i = 0; a->schemes && i < a->n_schemes; i++)
                free(a->schemes[i]);
        free(a->schemes);
        free(a->error);
        free(a->realm);
        free(a->url);
        free(a->header);
        free(a->authorization);
        free(a->status);
        tlsid_certificate_infos_free(a->eligible, a->n_eligible);
        free(a);
}

/* @s as UTF-8: a copy when it is valid, else its bytes read as ISO-8859-1, the historic
 * charset of HTTP field values (RFC 9110 5.5: obs-text). Transfer full. */
static char *field_value_utf8(const char *s) {
        size_t len = strlen(s), j = 0;
        char *out;

        if (dbus_validate_utf8(s, NULL))
                return strdup(s);
        out = malloc(2 * len + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c < 0x80) {
                        out[j++] = (char) c;
                } else {
                        out[j++] = (char) (0xc0 | (c >> 6));
                        out[j++] = (char) (0x80 | (c & 0x3f));
                }
        }
        out[j] = '\0';
        return out;
}

static bool append_field_values(DBusMessageIter *iter, const char *const *values, size_t n) {
        DBusMessageIter array;
        bool ok = true;

        if (!dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "s", &array))
                return false;
        for (size_t i = 0; ok && i < n; i++) {
                char *v = field_value_utf8(values[i]);

                ok = v && dbus_message_iter_append_basic(&array, DBUS_TYPE_STRING, &v);
                free(v);
        }
        if (!ok) {
                dbus_message_iter_abandon_container(iter, &array);
                return false;
        }
        return dbus_message_iter_close_container(iter, &array);
}

static int dup_into(char **field, const char *value) {
        free(*field);
        *field = strdup(value);
        return *field ? 0 : set_oom();
}

/* Reads AnswerChallenge's details a{sv} into @a; unknown keys and types are skipped. */
static int read_answer_details(DBusMessageIter *dict, TlsidChallengeAnswer *a) {
        static const struct {
                const char *key;
                size_t offset;
        } strings[] = {
                { "error", offsetof(TlsidChallengeAnswer, error) },
                { "realm", offsetof(TlsidChallengeAnswer, realm) },
                { "url", offsetof(TlsidChallengeAnswer, url) },
                { "header", offsetof(TlsidChallengeAnswer, header) },
                { "authorization", offsetof(TlsidChallengeAnswer, authorization) },
                { "status", offsetof(TlsidChallengeAnswer, status) },
        };
        DBusMessageIter entry, variant, array;
        int r;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                const char *key, *sig;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                sig = dbus_message_iter_get_signature(&variant);
                if (!sig)
                        return set_oom();

                if (strcmp(sig, "s") == 0) {
                        const char *value;

                        dbus_message_iter_get_basic(&variant, &value);
                        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) {
                                if (strcmp(strings[k].key, key) == 0 &&
                                    (r = dup_into((char **) ((char *) a + strings[k].offset),
                                                  value)) < 0) {
                                        dbus_free((char *) sig);
                                        return r;
                                }
                        }
                } else if (strcmp(sig, "as") == 0 && strcmp(key, "schemes") == 0 &&
                           !a->schemes) {
                        size_t n = 0;

                        dbus_message_iter_recurse(&variant, &array);
                        for (DBusMessageIter it = array;
                             dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_STRING;
                             dbus_message_iter_next(&it))
                                n++;
                        a->schemes = calloc(n + 1, sizeof *a->schemes);
                        if (!a->schemes) {
                                dbus_free((char *) sig);
                                return set_oom();
                        }
                        for (; a->n_schemes < n; a->n_schemes++, dbus_message_iter_next(&array)) {
                                const char *value;

                                dbus_message_iter_get_basic(&array, &value);
                                if (!(a->schemes[a->n_schemes] = strdup(value))) {
                                        dbus_free((char *) sig);
                                        return set_oom();
                                }
                        }
                } else if (strcmp(sig, "aa{sv}") == 0 && strcmp(key, "eligible") == 0 &&
                           !a->eligible) {
                        size_t n = 0;

                        dbus_message_iter_recurse(&variant, &array);
                        for (DBusMessageIter it = array;
                             dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
                             dbus_message_iter_next(&it))
                                n++;
                        r = read_certificate_infos(&array, n, &a->eligible);
                        if (r < 0) {
                                dbus_free((char *) sig);
                                return r;
                        }
                        a->n_eligible = n;
                }
                dbus_free((char *) sig);
        }
        /* Every string is there, whatever an older daemon sends. */
        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) {
                char **field = (char **) ((char *) a + strings[k].offset);

                if (!*field && !(*field = strdup("")))
                        return set_oom();
        }
        if (!a->schemes && !(a->schemes = calloc(1, sizeof *a->schemes)))
                return set_oom();
        return 0;
}

_public_ int tlsid_context_answer_challenge(TlsidContext *context, const char *origin,
                                            const char *const *field_values, size_t n,
                                            unsigned flags, int64_t generation,
                                            TlsidChallengeAnswer **ret_answer) {
        DBusMessageIter iter, options;
        DBusMessage *msg, *reply = NULL;
        TlsidChallengeAnswer *a = NULL;
        const char *action, *identity;
        int r;

        if (!context)
                return set_error(-EINVAL, "context is NULL");
        if (!ret_answer)
                return set_error(-EINVAL, "ret_answer must not be NULL");
        if (n > 0 && !field_values)
                return set_error(-EINVAL, "field_values is NULL");
        for (size_t i = 0; i < n; i++) {
                if (!field_values[i])
                        return set_error(-EINVAL, "field_values[%zu] is NULL", i);
        }
        if (flags & ~TLSID_CHALLENGE_PROXY)
                return set_error(-EINVAL, "flags: unknown bits 0x%x", flags);
        if (generation > UINT32_MAX)
                return set_error(-EINVAL, "generation: larger than 2^32-1");
        if ((r = check_origin(origin)) < 0)
                return r;

        msg = new_call("AnswerChallenge");
        if (!msg)
                return set_oom();
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &context->name) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &origin) ||
            !append_field_values(&iter, field_values, n) || !open_dict(&iter, &options))
                goto oom;
        if (generation >= 0) {
                dbus_uint32_t g = (dbus_uint32_t) generation;

                if (!dict_append(&options, "generation", DBUS_TYPE_UINT32, &g))
                        goto oom_dict;
        }
        if (flags & TLSID_CHALLENGE_PROXY) {
                dbus_bool_t proxy = TRUE;

                if (!dict_append(&options, "proxy", DBUS_TYPE_BOOLEAN, &proxy))
                        goto oom_dict;
        }
        if (!dbus_message_iter_close_container(&iter, &options))
                goto oom;

        r = client_call(context->client, msg, context_retry_name(context), &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, "ssua{sv}", "AnswerChallenge")) {
                r = -EIO;
                goto out;
        }
        if (!(a = calloc(1, sizeof *a))) {
                r = set_oom();
                goto out;
        }
        dbus_message_iter_init(reply, &iter);
        dbus_message_iter_get_basic(&iter, &action);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &identity);
        dbus_message_iter_next(&iter);
        dbus_message_iter_get_basic(&iter, &a->generation);
        dbus_message_iter_next(&iter);

        r = -EIO;
        for (size_t k = 0; k < sizeof answer_actions / sizeof answer_actions[0]; k++) {
                if (strcmp(answer_actions[k], action) == 0) {
                        a->action = (TlsidAnswerAction) k;
                        r = 0;
                }
        }
        if (r < 0) {
                r = set_error(-EIO, "AnswerChallenge: unknown action '%s'", action);
                goto out;
        }
        if ((r = dup_into(&a->identity, identity)) < 0)
                goto out;
        dbus_message_iter_recurse(&iter, &options);
        if ((r = read_answer_details(&options, a)) < 0)
                goto out;
        *ret_answer = a;
        a = NULL;
        r = 0;
out:
        tlsid_challenge_answer_free(a);
        dbus_message_unref(reply);
        return r;
oom_dict:
        dbus_message_iter_abandon_container(&iter, &options);
oom:
        dbus_message_unref(msg);
        return set_oom();
}

_public_ int tlsid_client_get_token_key(TlsidClient *client, void **ret_key, size_t *ret_len) {
        DBusMessage *reply = NULL;
        void *key = NULL;
        size_t len = 0;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_key || !ret_len)
                return set_error(-EINVAL, "ret_key and ret_len must not be NULL");
        r = client_call(client, new_call("GetTokenKey"), NULL, &reply);
        if (r < 0)
                return r;
        r = reply_read_bytes(reply, "GetTokenKey", &key, &len);
        if (r < 0)
                return r;
        if (r == 0)
                return set_error(-EIO, "GetTokenKey: empty key");
        *ret_key = key;
        *ret_len = len;
        return 0;
}
