/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the object (manager.c) and its method handlers (methods.c, lists.c, properties.c)
 * share. */
#pragma once

#include "agents.h"
#include "callers.h"
#include "direct.h"
#include "challenge.h"
#include "manager.h"
#include "offered-certs.h"
#include "state-saver.h"
#include "store-expiry.h"
#include "store-reclaim.h"
#include "tlsid-limits.h"

struct Manager {
        DBusConnection *connection;
        Store *store;
        CertDb *certs;          /* nullable */
        PolicyWatch *policy;    /* nullable */
        Policy *default_policy; /* in force when there is no watch */
        TlsidConfig config; /* the daemon's, copied: the properties report its limits */
        uid_t uid;
        gint64 started; /* monotonic, for the uptime statistic */
        GMainContext *context;

        gboolean registered;
        gboolean filter_added;
        Callers *callers;
        ChallengeRetries *retries; /* AnswerChallenge's loop guard */
        OfferedCerts *offered;     /* the certificates applications offered */
        /* ListCertificates' read of the database (Candidate*), kept between the pages of
         * a walk (lists.c); NULL when none is under way. */
        GPtrArray *listed_database;
        gint64 listed_at;          /* monotonic, when a page last used it */
        /* GetTokenKey's TLSID_TOKEN_KEY_LEN bytes, drawn in manager_start(), in secret
         * memory (never in a core dump); NULL before. */
        guint8 *token_key;
        StoreExpiry *expiry;
        StoreReclaimer *reclaimer;
        StateSaver *saver;
        ManagerAgents *agents; /* agents.c */
        DirectServer *direct;   /* nullable: not listening */
        guint64 direct_calls;   /* method calls that came on direct connections */
        gboolean in_direct_call; /* a handler runs for a call of a direct connection */
};

/* The method table, indexed by MethodId (methods.c). */
extern const ManagerMethod manager_methods[_METHOD_MAX];

/* Standard errors a handler may set beside TLSID_ERROR's; the dispatcher replies with
 * their org.freedesktop.DBus.Error.* names. */
#define BUS_STANDARD_ERROR (bus_standard_error_quark())
GQuark bus_standard_error_quark(void);
typedef enum {
        BUS_STANDARD_ERROR_UNKNOWN_INTERFACE,  /* DBUS_ERROR_UNKNOWN_INTERFACE */
        BUS_STANDARD_ERROR_UNKNOWN_PROPERTY,   /* DBUS_ERROR_UNKNOWN_PROPERTY */
        BUS_STANDARD_ERROR_PROPERTY_READ_ONLY, /* DBUS_ERROR_PROPERTY_READ_ONLY */
        _BUS_STANDARD_ERROR_MAX,
} BusStandardErrorCode;

/* Runs the method call @message that came on the direct connection @connection, whose
 * peer has the uid @uid, with the bus's checks and handlers (only the methods the table
 * marks direct; UnknownMethod for the others), and replies there. */
void manager_run_direct_call(Manager *manager, DBusConnection *connection,
                             DBusMessage *message, uid_t uid);

/* Sends the error reply for @error to @message, as the dispatcher does for a handler's
 * error: for a reply sent later than the handler returned. */
void manager_reply_error(Manager *manager, DBusMessage *message, const GError *error);

/* SetChoice with remember: sets *@ret_reply when the store's remembered choices are on
 * disk already, else holds @message and replies once they are, or with the error of the
 * write that failed (remember-reply.c). */
void manager_reply_when_saved(Manager *manager, DBusMessage *message,
                              DBusMessage **ret_reply);

/* Answers @message, a SelectCertificate or AnswerChallenge held for an agent
 * (agents.c) that began to wait at @start, as it would be answered without agents from
 * what the store holds now, and sends the reply or the error (methods.c). */
void manager_answer_again(Manager *manager, DBusMessage *message, const WaitStart *start);

/* The org.freedesktop.DBus.Properties handlers (properties.c). */
gboolean method_properties_get(Manager *manager, DBusMessage *message, DBusMessage **ret_reply,
                               GError **error);
gboolean method_properties_get_all(Manager *manager, DBusMessage *message,
                                   DBusMessage **ret_reply, GError **error);
gboolean method_properties_set(Manager *manager, DBusMessage *message, DBusMessage **ret_reply,
                               GError **error);

/* ListContexts, ListSessions and ListCertificates, a page per call (lists.c). */
gboolean method_list_contexts(Manager *manager, DBusMessage *message, DBusMessage **ret_reply,
                              GError **error);
gboolean method_list_sessions(Manager *manager, DBusMessage *message, DBusMessage **ret_reply,
                              GError **error);
gboolean method_list_certificates(Manager *manager, DBusMessage *message,
                                  DBusMessage **ret_reply, GError **error);

/* The selection policy in force: the watched file's, or the default one. */
const Policy *manager_policy(Manager *manager);

/* Emits SessionsFlushed. */
void manager_emit_sessions_flushed(Manager *manager, const char *context, const char *origin,
                                   guint dropped);

/* Logs the printf-style message for (context, origin) with the journal fields
 * TLSID_CONTEXT and TLSID_ORIGIN and the code location, except for an ephemeral context
 * (private browsing), whose context and origin appear neither in the fields nor in the
 * message. Never pass a secret. */
#define manager_log(m, level, context, origin, ...)                                   \
        manager_log_at((m), (level), __FILE__, G_STRINGIFY(__LINE__), G_STRFUNC,       \
                       (context), (origin), __VA_ARGS__)
void manager_log_at(Manager *manager, GLogLevelFlags level, const char *file,
                    const char *line, const char *func, const char *context,
                    const char *origin, const char *format, ...) G_GNUC_PRINTF(8, 9);
