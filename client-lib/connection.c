/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's connection: the private bus connection and its match rules, reconnecting,
 * reopening contexts after a daemon restart, tracking the daemon's name owner, and
 * client_call(), through which every method call goes (on the connection direct.c
 * chooses). */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "libtlsid-private.h"
#include "tlsid-errors.h"

#define MATCH_DAEMON_SIGNALS \
        "type='signal',sender='" TLSID_BUS_NAME "',interface='" TLSID_INTERFACE "'"
#define MATCH_NAME_OWNER \
        "type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS "'," \
        "member='NameOwnerChanged',arg0='" TLSID_BUS_NAME "'"

int timeout_ms(TlsidClient *c) {
        return __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED);
}

uint32_t interactive_ms(TlsidClient *c) {
        return __atomic_load_n(&c->interactive_ms, __ATOMIC_RELAXED);
}

void wake_up(TlsidClient *c) {
        uint64_t one = 1;

        /* Cannot fail short of a counter overflow, which would still leave it readable. */
        (void) !write(c->event_fd, &one, sizeof one);
}

/* Called by libdbus, possibly from another thread and with its lock held: only wake up. */
static void on_dispatch_status(DBusConnection *conn, DBusDispatchStatus status, void *userdata) {
        if (status == DBUS_DISPATCH_DATA_REMAINS)
                wake_up(userdata);
}

/* Sends @msg on @conn and waits for the reply, which it drops; no reconnection, no retry. */
static int call_on(DBusConnection *conn, DBusMessage *msg, int timeout) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;

        reply = dbus_connection_send_with_reply_and_block(conn, msg, timeout, &e);
        if (!reply)
                return set_error_from_dbus(&e, dbus_message_get_member(msg));
        return 0;
}

static int add_match(DBusConnection *conn, const char *rule, int timeout) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL;

        msg = message_with_args(new_bus_call("AddMatch"), DBUS_TYPE_STRING, &rule,
                                DBUS_TYPE_INVALID);
        if (!msg)
                return set_oom();
        return call_on(conn, msg, timeout);
}

int get_name_owner(DBusConnection *conn, int timeout, char **ret_owner) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL, *reply = NULL;
        const char *name = TLSID_BUS_NAME, *owner;
        char *copy;

        msg = message_with_args(new_bus_call("GetNameOwner"), DBUS_TYPE_STRING, &name,
                                DBUS_TYPE_INVALID);
        if (!msg)
                return set_oom();
        reply = dbus_connection_send_with_reply_and_block(conn, msg, timeout, &e);
        if (!reply) {
                /* The bus's answer for a name without owner, not a failure to reach it. */
                if (dbus_error_has_name(&e, DBUS_ERROR_NAME_HAS_NO_OWNER))
                        return set_error(-ENOENT, "tlsidd is not running");
                return set_error_from_dbus(&e, "GetNameOwner");
        }
        if (!dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &owner, DBUS_TYPE_INVALID))
                return set_error(-EIO, "GetNameOwner: unexpected reply");
        copy = strdup(owner);
        if (!copy)
                return set_oom();
        *ret_owner = copy;
        return 0;
}

static int open_context_on(DBusConnection *conn, int timeout, const char *name, unsigned flags,
                           const char *label) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL;
        int r;

        r = build_open_context(name, flags, label, &msg);
        if (r < 0)
                return r;
        return call_on(conn, msg, timeout);
}

void connection_drop(DBusConnection *conn) {
        if (!conn)
                return;
        dbus_connection_set_dispatch_status_function(conn, NULL, NULL, NULL);
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
}

int bus_open(TlsidClient *c, DBusConnection **ret_conn) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        DBusConnection *conn;
        int r;

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
                return r;
        }
        dbus_connection_set_exit_on_disconnect(conn, FALSE);
        *ret_conn = conn;
        return 0;
}

/* The filter, match rules and daemon owner of a new connection, and the open contexts
 * reopened on it. */
static int connection_set_up(TlsidClient *c, DBusConnection *conn, char **ret_owner) {
        int timeout = timeout_ms(c);
        int r;

        if (!dbus_connection_add_filter(conn, on_message, c, NULL))
                return set_oom();
        r = add_match(conn, MATCH_DAEMON_SIGNALS, timeout);
        if (r < 0)
                return r;
        r = add_match(conn, MATCH_NAME_OWNER, timeout);
        if (r < 0)
                return r;
        r = get_name_owner(conn, timeout, ret_owner);
        if (r < 0 && r != -ENOENT)
                return r;
        c->daemon_gone = r == -ENOENT;

        /* A context that cannot be reopened stays in the list: the next call on it retries. */
        for (TlsidContext *ctx = c->contexts; ctx; ctx = ctx->next)
                if (!ctx->closed)
                        (void) open_context_on(conn, timeout, ctx->name, ctx->flags, ctx->label);
        if (c->agent.request)
                agent_register_again(c, conn);
        return 0;
}

/* Puts the socket of @conn into the epoll fd in place of the previous one. The epoll fd
 * keeps its number. */
static int connection_poll(TlsidClient *c, DBusConnection *conn) {
        struct epoll_event ev = { .events = EPOLLIN };
        int fd = -1;

        if (!dbus_connection_get_unix_fd(conn, &fd))
                return set_error(-ECONNREFUSED, "connect: the bus connection has no socket");
        if (c->conn_fd >= 0)
                (void) epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, c->conn_fd, NULL);
        c->conn_fd = -1;
        if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return set_error(-errno, "connect: cannot poll the bus socket: %s",
                                 strerror(errno));
        c->conn_fd = fd;
        return 0;
}

int client_connect_locked(TlsidClient *c) {
        bool reconnect = c->conn != NULL || c->daemon_owner != NULL || c->contexts != NULL;
        _cleanup_(freep) char *owner = NULL;
        DBusConnection *conn = NULL;
        int r;

        r = bus_open(c, &conn);
        if (r < 0)
                return r;
        r = connection_set_up(c, conn, &owner);
        if (r >= 0)
                r = connection_poll(c, conn);
        if (r < 0) {
                dbus_connection_remove_filter(conn, on_message, c);
                dbus_connection_close(conn);
                dbus_connection_unref(conn);
                return r;
        }

        connection_drop(c->conn);
        c->conn = conn;
        free(c->daemon_owner);
        c->daemon_owner = TAKE_PTR(owner);
        dbus_connection_set_dispatch_status_function(conn, on_dispatch_status, c, NULL);
        if (reconnect)
                c->restart_pending = true;
        if (reconnect || dbus_connection_get_dispatch_status(conn) == DBUS_DISPATCH_DATA_REMAINS)
                wake_up(c);
        return 0;
}

int client_get_connection(TlsidClient *c, DBusConnection **ret_conn) {
        int r = 0;

        pthread_mutex_lock(&c->lock);
        if (!c->conn || !dbus_connection_get_is_connected(c->conn))
                r = client_connect_locked(c);
        if (r >= 0)
                *ret_conn = dbus_connection_ref(c->conn);
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* Reopens the context @name if this client holds an open handle of it (on the bus: the
 * direct socket serves no OpenContext). */
static int client_reopen_context(TlsidClient *c, const char *name) {
        _cleanup_(dbus_connection_unrefp) DBusConnection *conn = NULL;
        _cleanup_(freep) char *label = NULL;
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
        r = client_get_connection(c, &conn);
        if (r < 0)
                return r;
        return open_context_on(conn, timeout_ms(c), name, flags, label);
}

/* Whether the daemon's name had no owner when we last heard. */
static bool daemon_gone(TlsidClient *c) {
        bool gone;

        pthread_mutex_lock(&c->lock);
        gone = c->daemon_gone;
        pthread_mutex_unlock(&c->lock);
        return gone;
}

static void client_note_daemon(TlsidClient *c, DBusMessage *reply) {
        const char *sender = dbus_message_get_sender(reply);

        if (!sender)
                return;
        pthread_mutex_lock(&c->lock);
        /* Only the first one: a different one is a restart that NameOwnerChanged reports. */
        if (!c->daemon_owner)
                c->daemon_owner = strdup(sender);
        c->daemon_gone = false;
        pthread_mutex_unlock(&c->lock);
}

/* Whether the error @e of a call on a context this client has open says the daemon forgot
 * it (it restarted and NameOwnerChanged has not been dispatched yet). */
static bool error_is_forgotten_context(const DBusError *e) {
        return error_code_from_dbus_name(e->name) == TLSID_ERROR_NO_SUCH_CONTEXT ||
                dbus_error_has_name(e, DBUS_ERROR_SERVICE_UNKNOWN);
}

int client_call(TlsidClient *c, DBusMessage *msg, const char *context,
                DBusMessage **ret_reply) {
        return client_call_waiting(c, msg, context, 0, ret_reply);
}

int client_call_waiting(TlsidClient *c, DBusMessage *msg, const char *context,
                        uint32_t wait_ms, DBusMessage **ret_reply) {
        _cleanup_(dbus_message_unrefp) DBusMessage *owned = msg;
        DBusMessage *reply;
        bool retry, to_daemon, direct, direct_lost_once = false;
        int call_timeout, r;

        if (!owned)
                return set_oom();
        call_timeout = (int64_t) timeout_ms(c) + wait_ms > INT_MAX ? INT_MAX
                                                                   : timeout_ms(c) + (int) wait_ms;
        to_daemon = streq_ptr(dbus_message_get_destination(msg), TLSID_BUS_NAME);
        for (int attempt = 0, sent = 0;; sent++) {
                _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
                _cleanup_(dbus_connection_unrefp) DBusConnection *conn = NULL;
                /* A sent message is locked and has a serial: a retry sends a copy, dropped
                 * however this attempt ends. */
                _cleanup_(dbus_message_unrefp) DBusMessage *copy = NULL;

                if (sent > 0 && !(copy = dbus_message_copy(msg)))
                        return set_oom();
                /* The daemon holds an interactive wait only on the bus. */
                direct = false;
                r = wait_ms > 0 ? client_bus_connection(c, msg, &conn)
                                : client_call_connection(c, msg, &conn, &direct);
                if (r < 0)
                        return r;
                if (attempt == 0 && !direct && to_daemon && daemon_gone(c)) {
                        r = start_daemon_unit(c, dbus_message_get_member(msg));
                        if (r < 0)
                                return r;
                }
                /* The daemon may hold the reply @wait_ms: our own timeout comes on top. */
                reply = dbus_connection_send_with_reply_and_block(conn, copy ? copy : msg,
                                                                   call_timeout, &e);
                if (reply) {
                        if (to_daemon)
                                client_note_daemon(c, reply);
                        *ret_reply = reply;
                        return 0;
                }

                /* The direct socket closed (the daemon restarted, or closed it): once,
                 * the same call again over the bus, which does not count as the retry. */
                if (direct && !direct_lost_once && !dbus_connection_get_is_connected(conn)) {
                        direct_lost(c, conn);
                        direct_lost_once = true;
                        continue;
                }
                retry = false;
                if (attempt == 0 && !dbus_connection_get_is_connected(conn))
                        retry = true;
                else if (attempt == 0 && context && error_is_forgotten_context(&e))
                        retry = client_reopen_context(c, context) >= 0;
                attempt++;
                /* After a failed reopen, report the call's own error, not the reopen's. */
                r = set_error_from_dbus(&e, dbus_message_get_member(msg));
                if (!retry && to_daemon && (r == -ETIMEDOUT || r == -ECONNREFUSED) &&
                    dbus_connection_get_is_connected(conn)) {
                        _cleanup_(dbus_connection_unrefp) DBusConnection *bus = NULL;
                        int failed = client_get_connection(c, &bus);

                        if (failed >= 0)
                                failed = check_daemon_unit_failed(bus, timeout_ms(c),
                                                                  dbus_message_get_member(msg));
                        return failed < 0 ? failed : r;
                }
                if (!retry)
                        return r;
        }
}

int client_call_array(TlsidClient *c, MethodId id, DBusMessage *msg, const char *context,
                      DBusMessage **ret_reply, DBusMessageIter *ret_array, size_t *ret_n) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        int r;

        r = client_call(c, msg, context, &reply);
        if (r < 0)
                return r;
        r = reply_open_array(reply, id, ret_array, ret_n);
        if (r < 0)
                return r;
        *ret_reply = TAKE_PTR(reply);
        return 0;
}

int client_call_wildcard(TlsidClient *c, MethodId id, const char *context, const char *origin,
                         uint32_t *ret_count) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessage *msg;
        uint32_t count = 0;
        int r;

        if (!c)
                return set_error(-EINVAL, "client is NULL");
        if ((r = check_context_or_all(context)) < 0 || (r = check_origin_or_all(origin)) < 0)
                return r;
        context = context ? context : "";
        origin = origin ? origin : "";
        msg = message_with_args(new_call(id), DBUS_TYPE_STRING, &context,
                                DBUS_TYPE_STRING, &origin, DBUS_TYPE_INVALID);
        r = client_call(c, msg, *context ? context : NULL, &reply);
        if (r < 0)
                return r;
        r = reply_get_u32(reply, id, &count);
        if (r < 0)
                return r;
        if (ret_count)
                *ret_count = count;
        return 0;
}

/* A copy of what reopening one context needs: another thread may drop a handle meanwhile. */
typedef struct {
        char *name, *label;
        unsigned flags;
} ReopenItem;

static void reopen_items_free(ReopenItem *items, size_t n) {
        for (size_t k = 0; items && k < n; k++) {
                free(items[k].name);
                free(items[k].label);
        }
        free(items);
}

/* Copies the open contexts of @c into @ret_items (possibly NULL when memory ran out, as the
 * library always did: the restart is still reported). Called with c->lock held. */
static size_t reopen_items_copy_locked(TlsidClient *c, ReopenItem **ret_items) {
        ReopenItem *items;
        size_t n = 0, i = 0;

        for (TlsidContext *ctx = c->contexts; ctx; ctx = ctx->next)
                n++;
        items = n ? calloc(n, sizeof *items) : NULL;
        for (TlsidContext *ctx = c->contexts; items && ctx; ctx = ctx->next) {
                if (ctx->closed)
                        continue;
                items[i].name = strdup(ctx->name);
                items[i].label = ctx->label ? strdup(ctx->label) : NULL;
                items[i].flags = ctx->flags;
                i++;
        }
        *ret_items = items;
        return i;
}

void client_handle_name_owner_changed(TlsidClient *c, DBusMessage *msg) {
        const char *name, *old_owner, *new_owner;
        ReopenItem *todo = NULL;
        bool restart = false, agent = false;
        size_t n = 0;
        DBusConnection *conn;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                   &old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID))
                return;
        if (strcmp(name, TLSID_BUS_NAME) != 0)
                return;

        pthread_mutex_lock(&c->lock);
        c->daemon_gone = !*new_owner;
        if (!*new_owner) {
                pthread_mutex_unlock(&c->lock);
                /* Gone: its direct socket with it. */
                direct_forget(c);
                return;
        }
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
                n = reopen_items_copy_locked(c, &todo);
                agent = c->agent.request != NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (!restart)
                return;
        /* The new daemon has a socket of its own, learnt at the next call. */
        direct_forget(c);

        if ((n > 0 || agent) && client_get_connection(c, &conn) >= 0) {
                for (size_t k = 0; k < n; k++)
                        if (todo[k].name)
                                (void) open_context_on(conn, timeout_ms(c), todo[k].name,
                                                       todo[k].flags, todo[k].label);
                if (agent) {
                        /* The old daemon's requests died with it. */
                        agent_withdraw_all(c);
                        agent_register_again(c, conn);
                }
                dbus_connection_unref(conn);
        }
        reopen_items_free(todo, n);
        dispatch_delivered += deliver_restart(c);
}
