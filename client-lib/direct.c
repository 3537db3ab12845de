/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's direct socket: which connection a call goes on. The handshake path's methods
 * go to the daemon's private peer-to-peer socket (its DirectAddress, learnt over the bus
 * once per daemon instance, connected on first use), everything else and every fallback
 * over the bus. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libtlsid-private.h"

/* After the daemon offered no direct socket, or connecting to it failed: how long calls
 * stay on the bus before the next attempt (a restart the client hears of ends it
 * earlier). */
#define DIRECT_RETRY_USEC (5 * UINT64_C(1000000))

void direct_init(TlsidClient *c) {
        const char *env = getenv("TLSID_DIRECT");

        c->direct_off = env && strcmp(env, "0") == 0;
}

/* Whether @msg is a call of one of the methods the direct socket serves. */
static bool method_is_direct(DBusMessage *msg) {
        static const MethodId direct[] = {
                METHOD_GET_PARTITION, METHOD_BEGIN_CONNECTION, METHOD_PUT_SESSION,
                METHOD_TAKE_SESSION, METHOD_SELECT_CERTIFICATE, METHOD_BEGIN_CONNECTION_FOR,
                METHOD_TAKE_SESSION_FOR,
        };
        const char *member = dbus_message_get_member(msg);

        if (!streq_ptr(dbus_message_get_destination(msg), TLSID_BUS_NAME) ||
            !streq_ptr(dbus_message_get_interface(msg), TLSID_INTERFACE) || !member)
                return false;
        for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++)
                if (strcmp(member, interface_methods[direct[i]].name) == 0)
                        return true;
        return false;
}

/* Takes the direct connection out of @c (to be dropped outside the lock; nullable).
 * Called with c->lock held. */
static DBusConnection *direct_take_locked(TlsidClient *c) {
        c->direct_unsynced = false;
        return TAKE_PTR(c->direct);
}

void direct_forget(TlsidClient *c) {
        DBusConnection *conn;

        pthread_mutex_lock(&c->lock);
        conn = direct_take_locked(c);
        c->direct_retry_at = 0;
        pthread_mutex_unlock(&c->lock);
        connection_drop(conn);
}

void direct_lost(TlsidClient *c, DBusConnection *conn) {
        bool ours;

        pthread_mutex_lock(&c->lock);
        ours = c->direct == conn;
        if (ours)
                c->direct = NULL;
        pthread_mutex_unlock(&c->lock);
        /* The caller holds its own reference. */
        if (ours)
                connection_drop(conn);
}

/* The daemon's DirectAddress, asked on the bus connection @bus: 0 with the address
 * (transfer full; "" when the daemon has none). */
static int learn_address(DBusConnection *bus, int timeout, char **ret_address) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL, *reply = NULL;
        const char *interface = TLSID_INTERFACE;
        const char *name = interface_properties[PROPERTY_DIRECT_ADDRESS].name;
        DBusMessageIter iter, variant;
        const char *address;

        msg = dbus_message_new_method_call(TLSID_BUS_NAME, TLSID_OBJECT_PATH,
                                           DBUS_INTERFACE_PROPERTIES, "Get");
        msg = message_with_args(msg, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING, &name,
                                DBUS_TYPE_INVALID);
        if (!msg)
                return -ENOMEM;
        /* Never activates the daemon: only asked once it is known to run. */
        dbus_message_set_auto_start(msg, FALSE);
        reply = dbus_connection_send_with_reply_and_block(bus, msg, timeout, &e);
        if (!reply)
                return -EIO; /* a daemon older than the direct socket, or gone */
        if (!dbus_message_iter_init(reply, &iter) ||
            dbus_message_iter_get_arg_type(&iter) != DBUS_TYPE_VARIANT)
                return -EIO;
        dbus_message_iter_recurse(&iter, &variant);
        if (dbus_message_iter_get_arg_type(&variant) != DBUS_TYPE_STRING)
                return -EIO;
        dbus_message_iter_get_basic(&variant, &address);
        *ret_address = strdup(address);
        return *ret_address ? 0 : -ENOMEM;
}

/* A Peer.Ping round trip on @conn: 0 once answered. */
static int ping(DBusConnection *conn, int timeout) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = NULL, *reply = NULL;

        msg = dbus_message_new_method_call(NULL, "/", DBUS_INTERFACE_PEER, "Ping");
        if (!msg)
                return -ENOMEM;
        reply = dbus_connection_send_with_reply_and_block(conn, msg, timeout, &e);
        if (!reply || dbus_message_get_type(reply) != DBUS_MESSAGE_TYPE_METHOD_RETURN)
                return -ECONNREFUSED;
        return 0;
}

/* Before a call of the daemon on the bus: calls sent on the direct connection without
 * waiting for a reply (PutSession) are handled first, as they would have been on one
 * connection. The daemon reads a connection's messages in order, so the answer to a Ping
 * sent after them says they were. */
static void direct_sync(TlsidClient *c) {
        DBusConnection *conn = NULL;

        pthread_mutex_lock(&c->lock);
        if (c->direct_unsynced && c->direct)
                conn = dbus_connection_ref(c->direct);
        c->direct_unsynced = false;
        pthread_mutex_unlock(&c->lock);
        if (!conn)
                return;
        (void) ping(conn, timeout_ms(c));
        dbus_connection_unref(conn);
}

/* A new connection to @address whose peer answered a Ping: authenticated, our uid
 * accepted, within the daemon's limit (transfer full). */
static int direct_open(const char *address, int timeout, DBusConnection **ret_conn) {
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;
        DBusConnection *conn;
        int r;

        conn = dbus_connection_open_private(address, &e);
        if (!conn)
                return -ECONNREFUSED;
        dbus_connection_set_exit_on_disconnect(conn, FALSE);
        r = ping(conn, timeout);
        if (r < 0) {
                connection_drop(conn);
                return r;
        }
        *ret_conn = conn;
        return 0;
}

/* Learns the address and connects, without the lock: 0 with the connection, or negative
 * (the call then goes over the bus). */
static int direct_connect(TlsidClient *c, DBusConnection **ret_conn) {
        _cleanup_(dbus_connection_unrefp) DBusConnection *bus = NULL;
        _cleanup_(freep) char *address = NULL;
        int timeout = timeout_ms(c), r;

        r = client_get_connection(c, &bus);
        if (r < 0)
                return r;
        r = learn_address(bus, timeout, &address);
        if (r < 0)
                return r;
        if (!*address)
                return -ENOENT;
        return direct_open(address, timeout, ret_conn);
}

int client_bus_connection(TlsidClient *c, DBusMessage *msg, DBusConnection **ret_conn) {
        if (streq_ptr(dbus_message_get_destination(msg), TLSID_BUS_NAME))
                direct_sync(c);
        return client_get_connection(c, ret_conn);
}

int client_call_connection(TlsidClient *c, DBusMessage *msg, DBusConnection **ret_conn,
                           bool *ret_direct) {
        DBusConnection *stale = NULL, *conn = NULL;
        bool try_direct;

        *ret_direct = false;
        if (c->direct_off || !method_is_direct(msg))
                return client_bus_connection(c, msg, ret_conn);

        pthread_mutex_lock(&c->lock);
        if (c->direct && dbus_connection_get_is_connected(c->direct)) {
                *ret_conn = dbus_connection_ref(c->direct);
                *ret_direct = true;
                if (dbus_message_get_no_reply(msg))
                        c->direct_unsynced = true;
                pthread_mutex_unlock(&c->lock);
                return 0;
        }
        stale = direct_take_locked(c);
        /* Not while the daemon is not known to run: the bus call starts it. */
        try_direct = c->daemon_owner && !c->daemon_gone && now_usec() >= c->direct_retry_at;
        pthread_mutex_unlock(&c->lock);
        connection_drop(stale);
        if (!try_direct || direct_connect(c, &conn) < 0) {
                if (try_direct) {
                        pthread_mutex_lock(&c->lock);
                        c->direct_retry_at = now_usec() + DIRECT_RETRY_USEC;
                        pthread_mutex_unlock(&c->lock);
                }
                /* What went wrong on the way to the direct socket is not the call's. */
                return client_get_connection(c, ret_conn);
        }

        pthread_mutex_lock(&c->lock);
        /* Another thread may have connected meanwhile: one connection is kept. */
        if (c->direct && dbus_connection_get_is_connected(c->direct)) {
                stale = conn;
                conn = dbus_connection_ref(c->direct);
        } else {
                stale = direct_take_locked(c);
                c->direct = dbus_connection_ref(conn);
        }
        if (dbus_message_get_no_reply(msg))
                c->direct_unsynced = true;
        pthread_mutex_unlock(&c->lock);
        connection_drop(stale);
        *ret_conn = conn;
        *ret_direct = true;
        return 0;
}
