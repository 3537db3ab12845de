/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's client handle: creating and dropping it, its timeout, the poll fd and
 * dispatching, and the calls about the daemon as a whole (its owner, its statistics). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "libtlsid-private.h"
#include "tlsid-limits.h"

/* The public header states the daemon's limit for applications: they must agree. */
_Static_assert(TLSID_INTERACTIVE_TIMEOUT_MAX_USEC ==
                       TLSID_INTERACTIVE_TIMEOUT_MAX_MS * UINT64_C(1000),
               "tlsid.h and tlsid-limits.h disagree on the longest interactive timeout");

_public_ int tlsid_client_new(const char *bus_address, TlsidClient **ret_client) {
        struct epoll_event ev = { .events = EPOLLIN };
        _cleanup_(tlsid_client_unrefp) TlsidClient *c = NULL;
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
        direct_init(c);
        if (bus_address && !(c->bus_address = strdup(bus_address)))
                return set_oom();
        c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        c->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->epoll_fd < 0 || c->event_fd < 0 ||
            epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, c->event_fd, &ev) < 0)
                return set_error(-errno, "cannot create the poll fd: %s", strerror(errno));

        pthread_mutex_lock(&c->lock);
        r = client_connect_locked(c);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        *ret_client = TAKE_PTR(c);
        return 0;
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
        connection_drop(client->direct);
        if (client->epoll_fd >= 0)
                close(client->epoll_fd);
        if (client->event_fd >= 0)
                close(client->event_fd);
        agent_free(&client->agent);
        free(client->daemon_owner);
        free(client->bus_address);
        pthread_mutex_destroy(&client->lock);
        free(client);
        return NULL;
}

_public_ void tlsid_client_unrefp(TlsidClient **client) {
        if (client)
                *client = tlsid_client_unref(*client);
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

_public_ int tlsid_client_set_interactive_timeout(TlsidClient *client, uint64_t usec) {
        uint64_t ms;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (usec > TLSID_INTERACTIVE_TIMEOUT_MAX_USEC)
                return set_error(-EINVAL, "interactive timeout: at most %u s",
                                 (unsigned) (TLSID_INTERACTIVE_TIMEOUT_MAX_USEC / 1000000));
        ms = usec / 1000 + (usec % 1000 ? 1 : 0);
        __atomic_store_n(&client->interactive_ms, (uint32_t) ms, __ATOMIC_RELAXED);
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

/* Reads and dispatches what @conn has queued; when the bus went away, tries once to
 * reconnect, so a listener that makes no calls keeps its signals, and otherwise stops
 * polling the dead socket and lets the next call reconnect. */
static int dispatch_connection(TlsidClient *client, DBusConnection *conn) {
        bool connected;
        int r;

        if (dbus_connection_get_is_connected(conn))
                (void) dbus_connection_read_write(conn, 0);
        while (dbus_connection_dispatch(conn) == DBUS_DISPATCH_DATA_REMAINS)
                ;
        connected = dbus_connection_get_is_connected(conn);
        if (connected)
                return 0;
        r = client_get_connection(client, &conn);
        if (r >= 0) {
                dbus_connection_unref(conn);
                return r;
        }
        pthread_mutex_lock(&client->lock);
        if (client->conn_fd >= 0)
                (void) epoll_ctl(client->epoll_fd, EPOLL_CTL_DEL, client->conn_fd, NULL);
        client->conn_fd = -1;
        pthread_mutex_unlock(&client->lock);
        return r;
}

/* Counts every IdentityChanged and SessionsFlushed signal read (and each restart), whether
 * or not a callback is set. */
_public_ int tlsid_client_dispatch(TlsidClient *client) {
        TlsidClient *outer_client = dispatching;
        int outer_delivered = dispatch_delivered;
        DBusConnection *conn = NULL;
        uint64_t counter;
        bool restart;
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
                r = dispatch_connection(client, conn);
                dbus_connection_unref(conn);
        }
        delivered = dispatch_delivered;
        dispatching = outer_client;
        dispatch_delivered = outer_delivered;
        return r < 0 ? r : delivered;
}

_public_ int tlsid_client_get_daemon(TlsidClient *client, char **ret_owner) {
        _cleanup_(dbus_connection_unrefp) DBusConnection *conn = NULL;
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
        if (r < 0)
                return r;
        *ret_owner = owner;
        return 0;
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
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        DBusMessageIter iter, dict, entry, variant;
        TlsidStatistics stats = { 0 };
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!ret_statistics)
                return set_error(-EINVAL, "ret_statistics is NULL");
        r = client_call(client, new_call(METHOD_GET_STATISTICS), NULL, &reply);
        if (r < 0)
                return r;
        if (!reply_has_signature(reply, METHOD_GET_STATISTICS))
                return -EIO;
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
        *ret_statistics = stats;
        return 0;
}
