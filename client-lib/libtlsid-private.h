/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's insides: the handles' structs, the cleanup helpers and the prototypes the
 * source files share (connection.c, message.c, pages.c, error.c and one file per section
 * of tlsid.h). Nothing here is exported. */
#pragma once

#include <dbus/dbus.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "interface.h"
#include "tlsid/tlsid.h"

#define _public_ __attribute__((visibility("default")))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

/* ---- Scope-based cleanup (systemd's habit) ---- */

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Hands the value of @p over and leaves NULL behind, for ownership that moves on. */
#define TAKE_PTR(p)                                  \
        ({                                           \
                __typeof__(p) *_pp_ = &(p);          \
                __typeof__(p) _p_ = *_pp_;           \
                *_pp_ = NULL;                        \
                _p_;                                 \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void dbus_message_unrefp(DBusMessage **m) {
        if (*m)
                dbus_message_unref(*m);
}

/* For what libdbus allocates, such as dbus_message_iter_get_signature()'s string. */
static inline void dbus_freep(void *p) {
        dbus_free(*(void **) p);
}

static inline void dbus_connection_unrefp(DBusConnection **c) {
        if (*c)
                dbus_connection_unref(*c);
}

/* For a DBusError on the stack, from DBUS_ERROR_INIT: _cleanup_(dbus_error_free). */

#define DEFAULT_TIMEOUT_MS 1000

/* CLOCK_MONOTONIC in microseconds, for the library's deadlines. */
static inline uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* A RequestChoice call of the daemon that waits for the application's answer. */
typedef struct PendingRequest {
        char *id;
        DBusMessage *call;              /* a reference: the reply goes to it */
        struct PendingRequest *next;
} PendingRequest;

/* The agent a client serves (agent.c), under the client's lock. */
typedef struct {
        TlsidAgentRequestFn request;    /* NULL: no agent registered */
        TlsidAgentCancelFn cancel;
        void *userdata;
        PendingRequest *pending;
        size_t n_pending;
} Agent;
/* Partition calls of a context kept built, by origin: building one costs libdbus about 30
 * times what copying it does (its string arguments are validated and marshalled). */
#define PARTITION_CALLS_KEPT 4

struct TlsidContext {
        int refs;                       /* atomic */
        TlsidClient *client;            /* a reference */
        char *name;
        char *label;                    /* nullable */
        unsigned flags;
        bool closed;                    /* under client->lock */
        TlsidContext *prev, *next;      /* under client->lock */
        pthread_mutex_t calls_lock;
        struct {
                MethodId id;
                char *origin;           /* NULL: the slot is empty */
                DBusMessage *msg;       /* never sent: the template of a copy */
        } calls[PARTITION_CALLS_KEPT];  /* under calls_lock */
        unsigned calls_next;            /* under calls_lock */
};

struct TlsidClient {
        unsigned n_ref;                 /* atomic */
        int timeout_ms;                 /* atomic */
        uint32_t interactive_ms;        /* atomic; 0: calls never wait for an agent */
        char *bus_address;              /* NULL: the session bus */
        int epoll_fd;                   /* what tlsid_client_get_fd() returns */
        int event_fd;                   /* in epoll_fd: the connection has queued messages */

        /* Everything below is under lock. The lock is never held while a callback runs,
         * and held across blocking calls only while (re)connecting. */
        pthread_mutex_t lock;
        DBusConnection *conn;           /* NULL only when connecting failed */
        int conn_fd;                    /* the socket inside epoll_fd, or -1 */
        char *daemon_owner;             /* the unique name of the daemon we know, nullable */
        bool daemon_gone;               /* its name had no owner when we last heard */
        bool restart_pending;           /* reconnected: report at the next dispatch */
        TlsidIdentityChangedFn identity_changed;
        void *identity_changed_userdata;
        TlsidSessionsFlushedFn sessions_flushed;
        void *sessions_flushed_userdata;
        TlsidCertificateRequestedFn certificate_requested;
        void *certificate_requested_userdata;
        TlsidCertificateRequestEndedFn certificate_request_ended;
        void *certificate_request_ended_userdata;
        TlsidContext *contexts;         /* every live handle */
        Agent agent;

        /* The direct socket (direct.c), also under lock. */
        bool direct_off;                /* TLSID_DIRECT=0: every call over the bus */
        DBusConnection *direct;         /* connected to the daemon's socket, nullable */
        uint64_t direct_retry_at;       /* now_usec(): the bus alone until then */
        bool direct_unsynced;           /* a call without reply went direct since the last sync */
};

/* ---- error.c ---- */

/* Records the message of the failing call in this thread (what tlsid_error_message()
 * returns) and returns @r. */
int set_error(int r, const char *format, ...) _printf_(2, 3);
/* set_error(-ENOMEM, "out of memory"). */
int set_oom(void);
/* Maps the D-Bus error @e of a call to @method to an errno and records its message. */
int set_error_from_dbus(const DBusError *e, const char *method);

/* ---- message.c ---- */

/* Whether @a and @b are both set and equal. */
bool streq_ptr(const char *a, const char *b);

/* Argument checks: refuse before anything is sent, naming the field. The _or_all variants
 * accept NULL or "", the wildcard. Each returns 0 or set_error(-EINVAL, ...). */
int check_context(const char *context);
int check_context_or_all(const char *context);
int check_origin(const char *origin);
int check_origin_or_all(const char *origin);
int check_identity(const char *identity);
/* A caller's free-form string @s, named @field: at most @max bytes of UTF-8 (libdbus may
 * abort on invalid UTF-8). */
int check_text(const char *field, const char *s, size_t max);

/* A call of the daemon's method @id, NULL when memory ran out. (transfer full) */
DBusMessage *new_call(MethodId id);
/* A call to the bus itself (org.freedesktop.DBus), NULL when memory ran out. */
DBusMessage *new_bus_call(const char *member);
/* @msg (transfer full; NULL from a failed allocation passes through) with the arguments
 * appended as by dbus_message_append_args(); NULL, with @msg freed, when memory ran out. */
DBusMessage *message_with_args(DBusMessage *msg, int first_arg_type, ...);
/* Opens an a{sv} at @iter. */
bool open_dict(DBusMessageIter *iter, DBusMessageIter *dict);
/* Opens the entry @key of the open a{sv} @dict and in it a variant of @signature. */
bool dict_open_entry(DBusMessageIter *dict, const char *key, const char *signature,
                     DBusMessageIter *entry, DBusMessageIter *variant);
/* Closes what dict_open_entry() opened or, when @ok is false (filling the variant
 * failed), abandons it; returns whether the entry is complete. */
bool dict_close_entry(DBusMessageIter *dict, DBusMessageIter *entry, DBusMessageIter *variant,
                      bool ok);
/* Appends the entry @key of basic @type and @value to the open a{sv} @dict. */
bool dict_append(DBusMessageIter *dict, const char *key, int type, const void *value);
/* Appends @len bytes at @data as an ay (@data may be NULL when @len is 0). */
bool append_bytes(DBusMessageIter *iter, const void *data, size_t len);

/* Whether @reply has the out-signature of method @id; else records -EIO. */
bool reply_has_signature(DBusMessage *reply, MethodId id);
/* The single u of @reply to method @id. */
int reply_get_u32(DBusMessage *reply, MethodId id, uint32_t *ret);
/* Checks that @reply is the one-array out-signature of method @id; @ret_array then points
 * at its first element and @ret_n holds the number of elements. */
int reply_open_array(DBusMessage *reply, MethodId id, DBusMessageIter *ret_array,
                     size_t *ret_n);
/* Reads the single ay of @reply (to method @id) into a copy: 1 with the bytes (free with
 * tlsid_secret_free()), 0 with NULL and 0 when the array is empty. */
int reply_read_bytes(DBusMessage *reply, MethodId id, void **ret_bytes, size_t *ret_len);
/* A string member of a struct the library fills, by its key in an a{sv}. */
typedef struct {
        const char *key;
        size_t offset;          /* of a char * */
} StringField;
/* When @key is one of the @n @fields and @variant holds a string, stores a copy in that
 * field of @item (freeing what it held): 1; 0 when it is not such a member; -ENOMEM. */
int read_string_field(const char *key, DBusMessageIter *variant, const StringField *fields,
                      size_t n, void *item);
/* Reads an unsigned number from a variant of any integer type or a boolean; a negative
 * number reads as 0. */
bool variant_get_uint64(DBusMessageIter *variant, uint64_t *ret);

/* ---- connection.c ---- */

/* The timeout of one call, in milliseconds. */
int timeout_ms(TlsidClient *c);
/* How long an interactive call may wait for an agent, in milliseconds; 0: not at all. */
uint32_t interactive_ms(TlsidClient *c);
/* Makes the client's fd poll readable. */
void wake_up(TlsidClient *c);
/* (Re)connects to the bus: a new private connection with our filter and match rules, the
 * daemon's current owner, and (when reconnecting) every open context reopened. Called
 * with c->lock held. */
int client_connect_locked(TlsidClient *c);
/* Closes and drops @conn (nullable), which our filter no longer uses. */
void connection_drop(DBusConnection *conn);
static inline void connection_dropp(DBusConnection **conn) {
        connection_drop(*conn);
}
/* A new private connection to the client's bus, registered (transfer full). */
int bus_open(TlsidClient *c, DBusConnection **ret_conn);
/* The current connection, (transfer full); reconnects when it is gone. */
int client_get_connection(TlsidClient *c, DBusConnection **ret_conn);
/* Calls the daemon. Reconnects first when the bus connection is gone. When the call names
 * a context this client has open (@context, nullable) and the daemon no longer knows it,
 * reopens the context and retries once. @msg: (transfer full), NULL after a failed
 * allocation is -ENOMEM. @ret_reply: (transfer full). */
int client_call(TlsidClient *c, DBusMessage *msg, const char *context,
                DBusMessage **ret_reply);
/* client_call() of a call the daemon may hold @wait_ms before it replies (an interactive
 * SelectCertificate or AnswerChallenge): the call's timeout is the client's plus that. */
int client_call_waiting(TlsidClient *c, DBusMessage *msg, const char *context,
                        uint32_t wait_ms, DBusMessage **ret_reply);
/* client_call() of method @id, whose reply is one array: @ret_reply (transfer full) holds
 * it, @ret_array points at its first element and @ret_n counts them. */
int client_call_array(TlsidClient *c, MethodId id, DBusMessage *msg, const char *context,
                      DBusMessage **ret_reply, DBusMessageIter *ret_array, size_t *ret_n);
/* Method @id, one of FlushSessions and ForgetChoices: (s context, s origin) -> (u), each
 * nullable or "" for all. */
int client_call_wildcard(TlsidClient *c, MethodId id, const char *context, const char *origin,
                         uint32_t *ret_count);
/* GetNameOwner of the daemon's name: 0 and the owner, or -ENOENT when it has none. */
int get_name_owner(DBusConnection *conn, int timeout, char **ret_owner);
/* The daemon's name got a new owner (a NameOwnerChanged @msg): when it is a restart,
 * reopens our contexts, then reports it as a restart. */
void client_handle_name_owner_changed(TlsidClient *c, DBusMessage *msg);

/* ---- agent.c ---- */

/* The object path of a client's agent. */
#define AGENT_PATH "/org/tlsid/libtlsid/Agent1"
/* Routes a method call to the agent (RequestChoice, Cancel), or NOT_YET_HANDLED. */
DBusHandlerResult agent_handle_call(TlsidClient *c, DBusConnection *conn, DBusMessage *msg);
/* RegisterAgent on @conn when @c serves an agent (a new connection, or a new daemon). */
void agent_register_again(TlsidClient *c, DBusConnection *conn);
/* The daemon restarted: its requests are gone; reports each as withdrawn. */
void agent_withdraw_all(TlsidClient *c);
/* Frees what an agent still holds (the client is being freed). */
void agent_free(Agent *agent);

/* ---- sessions.c ---- */

/* The GetPartition, BeginConnection or BeginConnectionFor (@id, with @stack) call of
 * (@context, @origin), checked: a copy of the one built last for them, when the context
 * keeps it. @ret_msg: (transfer full). */
int build_partition_call(TlsidContext *context, const char *origin, MethodId id,
                         const char *stack, DBusMessage **ret_msg);
/* Reads @reply to GetPartition, BeginConnection or BeginConnectionFor (@id); outputs as
 * tlsid_context_begin_connection()'s, each nullable (@ret_token only for BeginConnection). */
int read_partition_reply(DBusMessage *reply, MethodId id, TlsidChoice *ret_state,
                         char **ret_identity, uint32_t *ret_generation, char **ret_peer_id,
                         void **ret_token, size_t *ret_len);
/* The TakeSession (TakeSessionFor with @stack) call of (@context, @origin, @identity,
 * @generation), checked.
 * @ret_msg: (transfer full). */
int build_take_session(TlsidContext *context, const char *origin, const char *identity,
                       uint32_t generation, const char *stack, DBusMessage **ret_msg);

/* Drops the calls @context keeps built. */
void context_forget_calls(TlsidContext *context);

/* ---- direct.c ---- */

/* Reads TLSID_DIRECT from the environment into a new client. */
void direct_init(TlsidClient *c);
/* The connection to send the daemon's call @msg on (transfer full), the one place that
 * chooses: the direct socket for the handshake path's methods (GetPartition,
 * BeginConnection, PutSession, TakeSession, their ...For forms, SelectCertificate) when the daemon offers one
 * and it can be reached, learning its address over the bus and connecting when there is
 * no connection yet (blocking, once per daemon instance); otherwise the bus connection,
 * reconnected when it is gone (client_get_connection()), after a Ping on the direct
 * connection when calls without a reply went there since (so that one client's calls
 * reach the daemon in the order it made them). *@ret_direct says which. Fails
 * only as client_get_connection() does. A call sent on a direct connection that turns
 * out closed reports it with direct_lost() and goes again over the bus. */
int client_call_connection(TlsidClient *c, DBusMessage *msg, DBusConnection **ret_conn,
                           bool *ret_direct);
/* The bus connection for @msg, after the same sync as client_call_connection(): for calls
 * that must not go direct (an interactive wait, held by the daemon per bus name). */
int client_bus_connection(TlsidClient *c, DBusMessage *msg, DBusConnection **ret_conn);
/* @conn, a direct connection a call failed on, closed: the next call learns the address
 * again (the daemon may have restarted) and meanwhile this one goes over the bus. */
void direct_lost(TlsidClient *c, DBusConnection *conn);
/* Drops the direct connection, if any, and allows a new attempt at once: the daemon
 * restarted or went away. */
void direct_forget(TlsidClient *c);

/* ---- pages.c ---- */

/* A paged list method (ListContexts, ListSessions, ListCertificates) and how to read its
 * entries. */
typedef struct {
        MethodId id;
        const char *context; /* ListSessions' context ("": all); NULL for the others */
        size_t item_size;
        /* Reads the contents of one entry (a struct's fields, a dictionary's entries) at
         * @element into @item (zeroed); on failure @item is freed with the others by
         * free_items. */
        int (*read_item)(DBusMessageIter *element, void *item);
        void (*free_items)(void *items, size_t n);
} ListCall;

/* Calls @call's method page after page until the daemon says the list ended, and reads
 * every entry into one new array of @ret_n items (transfer full: free with
 * @call->free_items). Each page is one call, with the client's timeout; the pages are
 * not one snapshot of the daemon's state. */
int client_list_all(TlsidClient *c, const ListCall *call, void **ret_items, size_t *ret_n);

/* ---- activation.c ---- */

/* Starts tlsid.service through org.freedesktop.systemd1 when it is on the bus, and waits
 * (up to the client's timeout) for the job: 0 when it is done or when the bus is to
 * activate tlsidd itself (no systemd1, no such unit); -EHOSTDOWN when the job failed,
 * -ETIMEDOUT when it did not end in time, each with a message that names @method. */
int start_daemon_unit(TlsidClient *c, const char *method);
/* After a call to @method of the daemon timed out or found no daemon: -EHOSTDOWN, with a
 * message, when systemd1 on @conn's bus says tlsid.service failed (or waits to restart
 * after failing); else 0, the call's own error standing. */
int check_daemon_unit_failed(DBusConnection *conn, int timeout, const char *method);

/* ---- signals.c ---- */

/* The client whose tlsid_client_dispatch() runs in this thread, and the number of signals
 * it delivered so far: libdbus deadlocks when a connection is dispatched again from inside
 * its own dispatch. */
extern __thread TlsidClient *dispatching;
extern __thread int dispatch_delivered;

/* Whether @msg comes from the daemon we know: anyone on the bus may send us a signal or
 * call our agent. */
bool from_daemon(TlsidClient *c, DBusMessage *msg);
/* The connection's filter: routes NameOwnerChanged and the daemon's signals. */
DBusHandlerResult on_message(DBusConnection *conn, DBusMessage *msg, void *userdata);
/* Reports a daemon restart as sessions_flushed("", "", 0); returns 1, the count. */
int deliver_restart(TlsidClient *c);

/* ---- contexts.c ---- */

/* The OpenContext call of @name. (transfer full) */
int build_open_context(const char *name, unsigned flags, const char *label,
                       DBusMessage **ret_msg);
/* A retry target for calls on @context: its name unless it was closed. */
const char *context_retry_name(TlsidContext *context);

/* ---- certificates.c ---- */

/* Reads the aa{sv} at @array (with @n elements) into a new array. */
int read_certificate_infos(DBusMessageIter *array, size_t n, TlsidCertificateInfo **ret_infos);
/* Checks what libdbus would otherwise abort on or the daemon refuse anyway (@request:
 * nullable). */
int check_cert_request(const TlsidCertRequest *request);
int check_candidates(const TlsidCandidate *candidates, size_t n);
/* Appends @request (nullable: empty) as SelectCertificate's a{sv}, with
 * "interactive_timeout_ms" when @interactive_ms is not 0. */
bool append_request(DBusMessageIter *iter, const TlsidCertRequest *request,
                    uint32_t interactive_ms);
/* Appends @n candidates as a(ayaaya{sv}). */
bool append_candidates(DBusMessageIter *iter, const TlsidCandidate *candidates, size_t n);
