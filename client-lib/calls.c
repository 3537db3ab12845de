/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's calls without waiting: a handshake-path method call in flight (TlsidCall),
 * the fd that polls readable when its reply is in or its time is up, and how the reply is
 * noticed without dispatching the connection.
 *
 * Dispatching the shared connection would run the application's signal callbacks in
 * the caller's thread, and another thread's blocking call may read our reply off the
 * socket itself. libdbus tells neither directly, but it removes a pending call's timeout
 * (through the connection's timeout functions) the moment the reply is queued, in
 * whichever thread read it: that is the signal used here (on_remove_timeout()). The
 * reply is then taken with dbus_pending_call_block(), which returns at once when the
 * reply is queued. The call's own deadline is a timerfd, the same fd that a reply
 * arms to fire at once. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "libtlsid-private.h"

struct TlsidCall {
        TlsidClient *client;            /* a reference */
        MethodId id;
        DBusConnection *conn;           /* a reference */
        DBusPendingCall *pending;       /* until the call ends */
        DBusTimeout *timeout;           /* the pending call's, under calls_lock */
        bool watched;                   /* under calls_lock: its timeout was seen added */
        bool arrived;                   /* under calls_lock: the reply is queued */
        TlsidCall *next;                /* in calls_in_flight, under calls_lock */
        int epoll_fd;                   /* tlsid_call_get_fd(): the timer and the socket */
        int timer_fd;
        int socket_fd;
        bool polls_out;                 /* the socket is polled for writing too */
        uint64_t deadline_usec;         /* CLOCK_MONOTONIC */
        bool done;
        int r;                          /* when done without a reply */
        DBusMessage *reply;             /* when done with one (an error reply included) */
};

/* The calls whose reply has not been queued yet, by their pending call's timeout. */
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static TlsidCall *calls_in_flight;
/* The call this thread is sending: the timeout libdbus adds meanwhile is its own. */
static __thread TlsidCall *call_sending;
/* Which connections have our timeout functions (a data slot), set under hook_lock. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static dbus_int32_t hooked_slot = -1;

/* Arms the timer to fire now: the fd polls readable. */
static void call_wake(TlsidCall *call) {
        struct itimerspec soon = { .it_value = { .tv_sec = 0, .tv_nsec = 1 } };

        (void) timerfd_settime(call->timer_fd, 0, &soon, NULL);
}

/* libdbus calls these with the connection's lock held, possibly in another thread: they
 * take only calls_lock. */
static dbus_bool_t on_add_timeout(DBusTimeout *timeout, void *userdata) {
        TlsidCall *call = call_sending;

        if (call && !call->watched) {
                pthread_mutex_lock(&calls_lock);
                call->watched = true;
                call->timeout = timeout;
                call->next = calls_in_flight;
                calls_in_flight = call;
                pthread_mutex_unlock(&calls_lock);
        }
        return TRUE;
}

static void on_remove_timeout(DBusTimeout *timeout, void *userdata) {
        pthread_mutex_lock(&calls_lock);
        for (TlsidCall **p = &calls_in_flight; *p; p = &(*p)->next) {
                TlsidCall *call = *p;

                if (call->timeout != timeout)
                        continue;
                *p = call->next;
                call->next = NULL;
                call->timeout = NULL;
                call->arrived = true;
                call_wake(call);
                break;
        }
        pthread_mutex_unlock(&calls_lock);
}

static void on_timeout_toggled(DBusTimeout *timeout, void *userdata) {
        /* Our deadline is the call's timer; blocking calls keep their own time. */
}

/* Takes @call out of calls_in_flight, if it is there. */
static bool call_unregister(TlsidCall *call) {
        bool arrived;

        pthread_mutex_lock(&calls_lock);
        for (TlsidCall **p = &calls_in_flight; *p; p = &(*p)->next)
                if (*p == call) {
                        *p = call->next;
                        break;
                }
        call->next = NULL;
        call->timeout = NULL;
        arrived = call->arrived;
        pthread_mutex_unlock(&calls_lock);
        return arrived;
}

/* Installs our timeout functions on @conn once. Blocking calls keep working as before:
 * libdbus times them itself. */
static int hook_connection(DBusConnection *conn) {
        int r = 0;

        pthread_mutex_lock(&hook_lock);
        if (hooked_slot < 0 && !dbus_connection_allocate_data_slot(&hooked_slot))
                r = set_oom();
        else if (!dbus_connection_get_data(conn, hooked_slot) &&
                 (!dbus_connection_set_timeout_functions(conn, on_add_timeout, on_remove_timeout,
                                                         on_timeout_toggled, NULL, NULL) ||
                  !dbus_connection_set_data(conn, hooked_slot, conn, NULL)))
                r = set_oom();
        pthread_mutex_unlock(&hook_lock);
        return r;
}

/* The connection a handshake-path call @msg goes to: direct.c chooses. Every call sent
 * from here asks this function, and only it. */
static int call_connection(TlsidClient *c, DBusMessage *msg, DBusConnection **ret_conn) {
        bool direct;

        return client_call_connection(c, msg, ret_conn, &direct);
}

/* Polls the socket for writing while libdbus still holds bytes of ours: another thread's
 * blocking call may hold the socket for reading only. */
static void call_poll_out(TlsidCall *call) {
        bool out = dbus_connection_has_messages_to_send(call->conn);
        struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0) };

        if (out == call->polls_out)
                return;
        if (epoll_ctl(call->epoll_fd, EPOLL_CTL_MOD, call->socket_fd, &ev) == 0)
                call->polls_out = out;
}

static int call_open_fds(TlsidCall *call, int timeout) {
        struct epoll_event ev = { .events = EPOLLIN };
        struct itimerspec deadline = { 0 };

        call->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        call->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (call->timer_fd < 0 || call->epoll_fd < 0 ||
            epoll_ctl(call->epoll_fd, EPOLL_CTL_ADD, call->timer_fd, &ev) < 0)
                return set_error(-errno, "cannot make the call's poll fd: %s", strerror(errno));
        if (!dbus_connection_get_unix_fd(call->conn, &call->socket_fd) ||
            epoll_ctl(call->epoll_fd, EPOLL_CTL_ADD, call->socket_fd, &ev) < 0)
                return set_error(-ECONNREFUSED, "%s: the connection has no socket",
                                 interface_methods[call->id].name);
        call->deadline_usec = now_usec() + (uint64_t) timeout * 1000u;
        deadline.it_value.tv_sec = (time_t) (call->deadline_usec / 1000000u);
        deadline.it_value.tv_nsec = (long) (call->deadline_usec % 1000000u) * 1000;
        if (timerfd_settime(call->timer_fd, TFD_TIMER_ABSTIME, &deadline, NULL) < 0)
                return set_error(-errno, "cannot arm the call's timer: %s", strerror(errno));
        return 0;
}

/* Sends @msg (transfer full; NULL after a failed allocation) of method @id. */
static int call_start(TlsidClient *c, MethodId id, DBusMessage *msg, TlsidCall **ret_call) {
        _cleanup_(dbus_message_unrefp) DBusMessage *owned = msg;
        TlsidCall *call;
        int timeout = timeout_ms(c), r;
        dbus_bool_t sent;
        bool watched;

        if (!owned)
                return set_oom();
        call = calloc(1, sizeof *call);
        if (!call)
                return set_oom();
        call->client = tlsid_client_ref(c);
        call->id = id;
        call->epoll_fd = call->timer_fd = call->socket_fd = -1;
        r = call_connection(c, msg, &call->conn);
        if (r >= 0)
                r = hook_connection(call->conn);
        if (r >= 0)
                r = call_open_fds(call, timeout);
        if (r < 0) {
                tlsid_call_free(call);
                return r;
        }
        call_sending = call;
        sent = dbus_connection_send_with_reply(call->conn, msg, &call->pending, timeout);
        call_sending = NULL;
        /* The reply may be in already, read by another thread: watched, then arrived. */
        pthread_mutex_lock(&calls_lock);
        watched = call->watched;
        pthread_mutex_unlock(&calls_lock);
        if (!sent || !call->pending || !watched) {
                r = !sent ? set_oom()
                          : set_error(-ECONNREFUSED, "%s: lost the bus connection",
                                      interface_methods[id].name);
                tlsid_call_free(call);
                return r;
        }
        call_poll_out(call);
        *ret_call = call;
        return 0;
}

/* One path for the partition calls: @id GetPartition, or BeginConnection(For @stack). */
static int partition_call_start(TlsidContext *context, const char *origin, MethodId id,
                                const char *stack, TlsidCall **ret_call) {
        DBusMessage *msg = NULL;
        int r;

        if (!ret_call)
                return set_error(-EINVAL, "ret_call is NULL");
        r = build_partition_call(context, origin, id, stack, &msg);
        if (r < 0)
                return r;
        return call_start(context->client, id, msg, ret_call);
}

_public_ int tlsid_context_get_partition_async(TlsidContext *context, const char *origin,
                                               TlsidCall **ret_call) {
        return partition_call_start(context, origin, METHOD_GET_PARTITION, NULL, ret_call);
}

_public_ int tlsid_context_begin_connection_async(TlsidContext *context, const char *origin,
                                                  TlsidCall **ret_call) {
        return partition_call_start(context, origin, METHOD_BEGIN_CONNECTION, NULL, ret_call);
}

_public_ int tlsid_context_begin_connection_for_async(TlsidContext *context,
                                                      const char *origin, const char *stack,
                                                      TlsidCall **ret_call) {
        if (!stack)
                return set_error(-EINVAL, "stack is NULL");
        return partition_call_start(context, origin, METHOD_BEGIN_CONNECTION_FOR, stack,
                                    ret_call);
}

/* TakeSession, or with @stack TakeSessionFor. */
static int take_session_start(TlsidContext *context, const char *origin, const char *identity,
                              uint32_t generation, const char *stack, TlsidCall **ret_call) {
        MethodId id = stack ? METHOD_TAKE_SESSION_FOR : METHOD_TAKE_SESSION;
        DBusMessage *msg = NULL;
        int r;

        if (!ret_call)
                return set_error(-EINVAL, "ret_call is NULL");
        r = build_take_session(context, origin, identity, generation, stack, &msg);
        if (r < 0)
                return r;
        return call_start(context->client, id, msg, ret_call);
}

_public_ int tlsid_context_take_session_async(TlsidContext *context, const char *origin,
                                              const char *identity, uint32_t generation,
                                              TlsidCall **ret_call) {
        return take_session_start(context, origin, identity, generation, NULL, ret_call);
}

_public_ int tlsid_context_take_session_for_async(TlsidContext *context, const char *origin,
                                                  const char *identity, uint32_t generation,
                                                  const char *stack, TlsidCall **ret_call) {
        if (!stack)
                return set_error(-EINVAL, "stack is NULL");
        return take_session_start(context, origin, identity, generation, stack, ret_call);
}

_public_ int tlsid_call_get_fd(const TlsidCall *call) {
        if (!call)
                return set_error(-EINVAL, "call is NULL");
        return call->epoll_fd;
}

/* Ends @call with its reply taken, or with @r. */
static void call_end(TlsidCall *call, int r) {
        (void) call_unregister(call);
        if (r >= 0) {
                /* Queued: this returns at once (or the application's dispatch completed it). */
                dbus_pending_call_block(call->pending);
                call->reply = dbus_pending_call_steal_reply(call->pending);
                if (!call->reply)
                        r = -EIO;
        } else
                dbus_pending_call_cancel(call->pending);
        dbus_pending_call_unref(call->pending);
        call->pending = NULL;
        call->r = r;
        call->done = true;
        call_wake(call);        /* the fd stays readable: dispatch says 1 from now on */
}

static bool call_arrived(TlsidCall *call) {
        bool arrived;

        pthread_mutex_lock(&calls_lock);
        arrived = call->arrived;
        pthread_mutex_unlock(&calls_lock);
        return arrived;
}

_public_ int tlsid_call_dispatch(TlsidCall *call) {
        uint64_t expirations;

        if (!call)
                return set_error(-EINVAL, "call is NULL");
        if (call->done)
                return 1;
        (void) !read(call->timer_fd, &expirations, sizeof expirations);
        /* Reads what the socket holds and writes what waits, without blocking: when another
         * thread's blocking call holds the socket, it reads our reply for us. */
        if (!call_arrived(call) && dbus_connection_get_is_connected(call->conn))
                (void) dbus_connection_read_write(call->conn, 0);
        if (call_arrived(call))
                call_end(call, 0);
        else if (!dbus_connection_get_is_connected(call->conn))
                call_end(call, -ECONNREFUSED);
        else if (now_usec() >= call->deadline_usec)
                call_end(call, -ETIMEDOUT);
        else {
                call_poll_out(call);
                return 0;
        }
        return 1;
}

/* The reply of @call, a call of method @id that ended, or its error recorded. */
static int call_reply(TlsidCall *call, MethodId id, DBusMessage **ret_reply) {
        const char *name = interface_methods[id].name;

        if (!call)
                return set_error(-EINVAL, "call is NULL");
        if (call->id != id)
                return set_error(-EINVAL, "the call is %s, not %s",
                                 interface_methods[call->id].name, name);
        if (!call->done)
                return set_error(-EAGAIN, "%s: no reply yet (tlsid_call_dispatch() says when)",
                                 name);
        if (call->r == -ETIMEDOUT)
                return set_error(-ETIMEDOUT, "%s: no reply in time", name);
        if (call->r == -ECONNREFUSED)
                return set_error(-ECONNREFUSED, "%s: lost the bus connection", name);
        if (call->r < 0)
                return set_error(call->r, "%s: no reply", name);
        if (dbus_message_get_type(call->reply) == DBUS_MESSAGE_TYPE_ERROR) {
                _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;

                dbus_set_error_from_message(&e, call->reply);
                return set_error_from_dbus(&e, name);
        }
        *ret_reply = call->reply;
        return 0;
}

_public_ int tlsid_call_finish_partition(TlsidCall *call, TlsidChoice *ret_state,
                                         char **ret_identity, uint32_t *ret_generation,
                                         char **ret_peer_id, void **ret_token,
                                         size_t *ret_len) {
        DBusMessage *reply;
        MethodId id;
        int r;

        if (!call)
                return set_error(-EINVAL, "call is NULL");
        if (!ret_token != !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len go together");
        id = call->id == METHOD_BEGIN_CONNECTION || call->id == METHOD_BEGIN_CONNECTION_FOR
                     ? call->id
                     : METHOD_GET_PARTITION;
        r = call_reply(call, id, &reply);
        if (r < 0)
                return r;
        if (id == METHOD_GET_PARTITION && ret_token) {
                *ret_token = NULL;
                *ret_len = 0;
                ret_token = NULL;
                ret_len = NULL;
        }
        return read_partition_reply(reply, id, ret_state, ret_identity, ret_generation,
                                    ret_peer_id, ret_token, ret_len);
}

_public_ int tlsid_call_finish_session(TlsidCall *call, void **ret_token, size_t *ret_len) {
        DBusMessage *reply;
        MethodId id;
        int r;

        if (!ret_token || !ret_len)
                return set_error(-EINVAL, "ret_token and ret_len must not be NULL");
        id = call && call->id == METHOD_TAKE_SESSION_FOR ? METHOD_TAKE_SESSION_FOR
                                                         : METHOD_TAKE_SESSION;
        r = call_reply(call, id, &reply);
        if (r < 0)
                return r;
        return reply_read_bytes(reply, id, ret_token, ret_len);
}

_public_ void tlsid_call_free(TlsidCall *call) {
        if (!call)
                return;
        /* Out of the list before the cancel, which removes the timeout under libdbus's lock. */
        (void) call_unregister(call);
        if (call->pending) {
                dbus_pending_call_cancel(call->pending);
                dbus_pending_call_unref(call->pending);
        }
        if (call->reply)
                dbus_message_unref(call->reply);
        if (call->epoll_fd >= 0)
                close(call->epoll_fd);
        if (call->timer_fd >= 0)
                close(call->timer_fd);
        if (call->conn)
                dbus_connection_unref(call->conn);
        tlsid_client_unref(call->client);
        free(call);
}
