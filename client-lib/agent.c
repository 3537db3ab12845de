/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's agent: org.tlsid.Agent1 served for the daemon (RequestChoice read into a
 * TlsidAgentRequest, Cancel), its registration (again after a reconnect or a daemon
 * restart), and the answers, which are RequestChoice's replies. */
#include <errno.h>
#include <string.h>

#include "agent-interface.h"
#include "libtlsid-private.h"
#include "tlsid-limits.h"

#define REQUEST_ID_MAX 128

static void pending_free(PendingRequest *p) {
        if (!p)
                return;
        free(p->id);
        if (p->call)
                dbus_message_unref(p->call);
        free(p);
}

void agent_free(Agent *agent) {
        while (agent->pending) {
                PendingRequest *p = agent->pending;

                agent->pending = p->next;
                pending_free(p);
        }
        agent->n_pending = 0;
}

/* Unlinks and returns the pending request @id, or NULL. Called with the lock held. */
static PendingRequest *pending_take_locked(Agent *agent, const char *id) {
        for (PendingRequest **pp = &agent->pending; *pp; pp = &(*pp)->next) {
                PendingRequest *p = *pp;

                if (strcmp(p->id, id) != 0)
                        continue;
                *pp = p->next;
                agent->n_pending--;
                return p;
        }
        return NULL;
}

static DBusMessage *register_call(void) {
        DBusMessageIter iter, dict;
        const char *path = AGENT_PATH;
        DBusMessage *msg = new_call(METHOD_REGISTER_AGENT);

        if (!msg)
                return NULL;
        dbus_message_iter_init_append(msg, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_OBJECT_PATH, &path) ||
            !open_dict(&iter, &dict) || !dbus_message_iter_close_container(&iter, &dict)) {
                dbus_message_unref(msg);
                return NULL;
        }
        return msg;
}

void agent_register_again(TlsidClient *c, DBusConnection *conn) {
        _cleanup_(dbus_message_unrefp) DBusMessage *msg = register_call(), *reply = NULL;
        _cleanup_(dbus_error_free) DBusError e = DBUS_ERROR_INIT;

        /* A failure leaves the agent unregistered until the next restart: nothing else
         * would retry it, and the daemon then answers "ask" as without an agent. */
        if (msg)
                reply = dbus_connection_send_with_reply_and_block(conn, msg, timeout_ms(c), &e);
}

/* The pending requests of a daemon that is gone, unlinked. */
void agent_withdraw_all(TlsidClient *c) {
        PendingRequest *list;
        TlsidAgentCancelFn cancel;
        void *userdata;

        pthread_mutex_lock(&c->lock);
        list = c->agent.pending;
        c->agent.pending = NULL;
        c->agent.n_pending = 0;
        cancel = c->agent.cancel;
        userdata = c->agent.userdata;
        pthread_mutex_unlock(&c->lock);
        while (list) {
                PendingRequest *p = list;

                list = p->next;
                if (cancel)
                        cancel(c, p->id, userdata);
                pending_free(p);
        }
}

/* ---- Reading RequestChoice ---- */

/* The request, with the storage its pointers point into. */
typedef struct {
        TlsidAgentRequest request;
        char **ca_names;
        TlsidCertificateInfo *certificates;
} AgentRequest;

static void agent_request_clear(AgentRequest *q) {
        for (size_t i = 0; i < q->request.n_ca_names; i++)
                free(q->ca_names[i]);
        free(q->ca_names);
        tlsid_certificate_infos_free(q->certificates, q->request.n_certificates);
}

static size_t array_length(DBusMessageIter *array) {
        size_t n = 0;

        for (DBusMessageIter it = *array; dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&it))
                n++;
        return n;
}

static int read_ca_names(DBusMessageIter *variant, AgentRequest *q) {
        DBusMessageIter array;
        size_t n;

        dbus_message_iter_recurse(variant, &array);
        n = array_length(&array);
        if (n == 0)
                return 0;
        if (!(q->ca_names = calloc(n, sizeof *q->ca_names)))
                return -ENOMEM;
        for (; q->request.n_ca_names < n; dbus_message_iter_next(&array)) {
                const char *name;

                dbus_message_iter_get_basic(&array, &name);
                if (!(q->ca_names[q->request.n_ca_names] = strdup(name)))
                        return -ENOMEM;
                q->request.n_ca_names++;
        }
        q->request.ca_names = (const char *const *) q->ca_names;
        return 0;
}

/* Reads RequestChoice's a{sv} into @q, whose strings point into @msg. Unknown keys and
 * keys of another type are skipped; absent strings read as "". Returns 0, -ENOMEM, or
 * -EINVAL with the key named in *@ret_bad. */
static int read_request(DBusMessageIter *dict, AgentRequest *q, const char **ret_bad) {
        /* Pointers into the message, not copies: the request lives as long as it. */
        static const StringField strings[] = {
                { "context", offsetof(TlsidAgentRequest, context) },
                { "label", offsetof(TlsidAgentRequest, label) },
                { "origin", offsetof(TlsidAgentRequest, origin) },
                { "reason", offsetof(TlsidAgentRequest, reason) },
                { "realm", offsetof(TlsidAgentRequest, realm) },
        };
        TlsidAgentRequest *r = &q->request;
        DBusMessageIter entry, variant, array;

        for (; dbus_message_iter_get_arg_type(dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(dict)) {
                _cleanup_(dbus_freep) char *sig = NULL;
                const char *key;
                int type;

                dbus_message_iter_recurse(dict, &entry);
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                type = dbus_message_iter_get_arg_type(&variant);
                sig = dbus_message_iter_get_signature(&variant);
                if (!sig)
                        return -ENOMEM;

                if (type == DBUS_TYPE_STRING) {
                        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
                                if (strcmp(strings[k].key, key) == 0)
                                        dbus_message_iter_get_basic(
                                                &variant,
                                                (const char **) ((char *) r + strings[k].offset));
                } else if (type == DBUS_TYPE_BOOLEAN && strcmp(key, "ephemeral") == 0) {
                        dbus_bool_t b;

                        dbus_message_iter_get_basic(&variant, &b);
                        r->ephemeral = b != 0;
                } else if (type == DBUS_TYPE_UINT32 && strcmp(key, "eligible_total") == 0) {
                        dbus_message_iter_get_basic(&variant, &r->eligible_total);
                } else if (type == DBUS_TYPE_UINT32 && strcmp(key, "timeout_ms") == 0) {
                        dbus_message_iter_get_basic(&variant, &r->timeout_ms);
                } else if (strcmp(sig, "as") == 0 && strcmp(key, "ca_names") == 0 &&
                           !q->ca_names) {
                        if (read_ca_names(&variant, q) < 0)
                                return -ENOMEM;
                } else if (strcmp(sig, "aa{sv}") == 0 && strcmp(key, "certificates") == 0 &&
                           !q->certificates) {
                        size_t n;

                        dbus_message_iter_recurse(&variant, &array);
                        n = array_length(&array);
                        if (n > TLSID_ELIGIBLE_MAX) {
                                *ret_bad = "certificates";
                                return -EINVAL;
                        }
                        if (read_certificate_infos(&array, n, &q->certificates) < 0)
                                return -ENOMEM;
                        r->certificates = q->certificates;
                        r->n_certificates = n;
                }
        }
        if (!r->context || !r->origin) {
                *ret_bad = !r->context ? "context" : "origin";
                return -EINVAL;
        }
        if (!r->label)
                r->label = "";
        if (!r->reason)
                r->reason = "";
        if (!r->realm)
                r->realm = "";
        if (r->eligible_total < r->n_certificates)
                r->eligible_total = (uint32_t) r->n_certificates;
        return 0;
}

/* ---- Serving org.tlsid.Agent1 ---- */

static DBusHandlerResult reply_error(DBusConnection *conn, DBusMessage *msg, const char *name,
                                     const char *text) {
        DBusMessage *reply = dbus_message_new_error(msg, name, text);

        if (reply) {
                (void) dbus_connection_send(conn, reply, NULL);
                dbus_message_unref(reply);
        }
        return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult handle_request_choice(TlsidClient *c, DBusConnection *conn,
                                               DBusMessage *msg) {
        AgentRequest q = { 0 };
        DBusMessageIter iter, dict;
        PendingRequest *p;
        TlsidAgentRequestFn fn;
        void *userdata;
        const char *id, *bad = NULL;
        int r;

        if (!dbus_message_has_signature(msg,
                                        agent_methods[AGENT_METHOD_REQUEST_CHOICE].in_signature))
                return reply_error(conn, msg, DBUS_ERROR_INVALID_ARGS,
                                   "RequestChoice takes (s id, a{sv} request)");
        dbus_message_iter_init(msg, &iter);
        dbus_message_iter_get_basic(&iter, &id);
        dbus_message_iter_next(&iter);
        if (!*id || strlen(id) > REQUEST_ID_MAX)
                return reply_error(conn, msg, DBUS_ERROR_INVALID_ARGS,
                                   "id: must be 1 to 128 bytes");
        dbus_message_iter_recurse(&iter, &dict);
        r = read_request(&dict, &q, &bad);
        if (r < 0) {
                agent_request_clear(&q);
                if (r == -ENOMEM)
                        return reply_error(conn, msg, DBUS_ERROR_NO_MEMORY, "out of memory");
                return reply_error(conn, msg, DBUS_ERROR_INVALID_ARGS, bad);
        }
        q.request.id = id;

        p = calloc(1, sizeof *p);
        if (!p || !(p->id = strdup(id))) {
                free(p);
                agent_request_clear(&q);
                return reply_error(conn, msg, DBUS_ERROR_NO_MEMORY, "out of memory");
        }
        p->call = dbus_message_ref(msg);

        pthread_mutex_lock(&c->lock);
        fn = c->agent.request;
        userdata = c->agent.userdata;
        for (PendingRequest *o = c->agent.pending; o; o = o->next)
                if (strcmp(o->id, id) == 0)
                        fn = NULL;
        if (fn && c->agent.n_pending < TLSID_AGENT_REQUESTS_MAX) {
                p->next = c->agent.pending;
                c->agent.pending = p;
                c->agent.n_pending++;
        } else
                r = fn ? -ENOBUFS : -EEXIST;
        pthread_mutex_unlock(&c->lock);
        if (r < 0 || !fn) {
                pending_free(p);
                agent_request_clear(&q);
                if (r == -ENOBUFS)
                        return reply_error(conn, msg, DBUS_ERROR_LIMITS_EXCEEDED,
                                           "too many requests pending");
                return reply_error(conn, msg, DBUS_ERROR_INVALID_ARGS,
                                   "no agent here, or the id is pending already");
        }
        fn(c, &q.request, userdata);
        agent_request_clear(&q);
        dispatch_delivered++;
        return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult handle_cancel(TlsidClient *c, DBusConnection *conn, DBusMessage *msg) {
        TlsidAgentCancelFn cancel;
        PendingRequest *p;
        void *userdata;
        const char *id;

        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &id, DBUS_TYPE_INVALID))
                return reply_error(conn, msg, DBUS_ERROR_INVALID_ARGS, "Cancel takes (s id)");
        pthread_mutex_lock(&c->lock);
        p = pending_take_locked(&c->agent, id);
        cancel = c->agent.cancel;
        userdata = c->agent.userdata;
        pthread_mutex_unlock(&c->lock);
        if (!dbus_message_get_no_reply(msg)) {
                DBusMessage *reply = dbus_message_new_method_return(msg);

                if (reply) {
                        (void) dbus_connection_send(conn, reply, NULL);
                        dbus_message_unref(reply);
                }
        }
        if (p) {
                if (cancel)
                        cancel(c, p->id, userdata);
                pending_free(p);
                dispatch_delivered++;
        }
        return DBUS_HANDLER_RESULT_HANDLED;
}

DBusHandlerResult agent_handle_call(TlsidClient *c, DBusConnection *conn, DBusMessage *msg) {
        if (!dbus_message_has_path(msg, AGENT_PATH))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (!from_daemon(c, msg))
                return reply_error(conn, msg, DBUS_ERROR_ACCESS_DENIED,
                                   "only the tlsid daemon may call its agent");
        if (dbus_message_is_method_call(msg, AGENT_INTERFACE,
                                        agent_methods[AGENT_METHOD_REQUEST_CHOICE].name))
                return handle_request_choice(c, conn, msg);
        if (dbus_message_is_method_call(msg, AGENT_INTERFACE,
                                        agent_methods[AGENT_METHOD_CANCEL].name))
                return handle_cancel(c, conn, msg);
        return reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "no such method");
}

/* ---- The exports ---- */

_public_ int tlsid_client_register_agent(TlsidClient *client, TlsidAgentRequestFn request,
                                         TlsidAgentCancelFn cancel, void *userdata) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!request)
                return set_error(-EINVAL, "request is NULL");
        pthread_mutex_lock(&client->lock);
        if (client->agent.request) {
                pthread_mutex_unlock(&client->lock);
                return set_error(-EBUSY, "this client is an agent already");
        }
        client->agent.request = request;
        client->agent.cancel = cancel;
        client->agent.userdata = userdata;
        pthread_mutex_unlock(&client->lock);

        r = client_call(client, register_call(), NULL, &reply);
        if (r < 0) {
                pthread_mutex_lock(&client->lock);
                client->agent.request = NULL;
                client->agent.cancel = NULL;
                client->agent.userdata = NULL;
                pthread_mutex_unlock(&client->lock);
        }
        return r;
}

/* Sends RequestChoice's reply to @call. */
static int send_answer(TlsidClient *c, DBusMessage *call, const char *answer,
                       const char *identity, dbus_bool_t remember) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = dbus_message_new_method_return(call);
        _cleanup_(dbus_connection_unrefp) DBusConnection *conn = NULL;
        DBusMessageIter iter, dict;
        int r;

        if (!reply)
                return set_oom();
        dbus_message_iter_init_append(reply, &iter);
        if (!dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &answer) ||
            !dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &identity) ||
            !open_dict(&iter, &dict) ||
            (remember && !dict_append(&dict, "remember", DBUS_TYPE_BOOLEAN, &remember)) ||
            !dbus_message_iter_close_container(&iter, &dict))
                return set_oom();
        r = client_get_connection(c, &conn);
        if (r < 0)
                return r;
        if (!dbus_connection_send(conn, reply, NULL))
                return set_oom();
        dbus_connection_flush(conn);
        return 0;
}

_public_ int tlsid_client_unregister_agent(TlsidClient *client) {
        _cleanup_(dbus_message_unrefp) DBusMessage *reply = NULL;
        const char *path = AGENT_PATH;
        PendingRequest *list;
        bool registered;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        pthread_mutex_lock(&client->lock);
        registered = client->agent.request != NULL;
        list = client->agent.pending;
        client->agent = (Agent) { 0 };
        pthread_mutex_unlock(&client->lock);
        if (!registered)
                return set_error(-ENOENT, "no agent is registered on this client");
        while (list) {
                PendingRequest *p = list;

                list = p->next;
                (void) send_answer(client, p->call, "cancel", "", FALSE);
                pending_free(p);
        }
        return client_call(client,
                           message_with_args(new_call(METHOD_UNREGISTER_AGENT),
                                             DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID),
                           NULL, &reply);
}

_public_ int tlsid_client_answer_request(TlsidClient *client, const char *id,
                                         TlsidAgentAnswer answer, const char *identity,
                                         unsigned flags) {
        static const char *const names[] = {
                [TLSID_AGENT_CANCEL] = "cancel",
                [TLSID_AGENT_NONE] = "none",
                [TLSID_AGENT_CERTIFICATE] = "certificate",
        };
        PendingRequest *p;
        int r;

        if (!client)
                return set_error(-EINVAL, "client is NULL");
        if (!id)
                return set_error(-EINVAL, "id is NULL");
        if ((unsigned) answer > TLSID_AGENT_CERTIFICATE)
                return set_error(-EINVAL, "answer: unknown value %d", (int) answer);
        if (flags & ~TLSID_CHOICE_REMEMBER)
                return set_error(-EINVAL, "flags: unknown bits 0x%x", flags);
        if (answer == TLSID_AGENT_CERTIFICATE) {
                if (!identity)
                        return set_error(-EINVAL, "identity is NULL for a certificate");
                if ((r = check_identity(identity)) < 0)
                        return r;
                if (!*identity)
                        return set_error(-EINVAL, "identity is empty for a certificate");
        } else if (identity && *identity)
                return set_error(-EINVAL, "identity must be empty unless the answer is a "
                                 "certificate");

        pthread_mutex_lock(&client->lock);
        p = pending_take_locked(&client->agent, id);
        pthread_mutex_unlock(&client->lock);
        if (!p)
                return set_error(-ENOENT, "request %s is not pending", id);
        r = send_answer(client, p->call, names[answer],
                        answer == TLSID_AGENT_CERTIFICATE ? identity : "",
                        (flags & TLSID_CHOICE_REMEMBER) != 0);
        pending_free(p);
        return r;
}
