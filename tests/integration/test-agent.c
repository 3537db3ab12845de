/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the agent interface (dbus/org.tlsid.Agent1.xml, RegisterAgent):
 * interactive SelectCertificate and AnswerChallenge calls held for an agent's answer,
 * against tlsidd on a private bus with make-certs.sh's database. The agent is a bare
 * libdbus connection of the test, read by hand, so the test decides when it answers. */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert-bus.h"
#include "check-main.h"
#include "raw-bus.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000
#define CTX "app/agent"
#define LABEL "Tab seven"
#define ORIGIN "www.example.com:443"
#define AGENT_PATH "/test/agent"
#define AGENT_INTERFACE "org.tlsid.Agent1"
#define ERR_INVALID "org.tlsid.Error.InvalidArgument"
#define ERR_LIMIT "org.tlsid.Error.LimitExceeded"

static void setup(void) {
        test_bus_start();
        use_nss_db("nssdb");
}

static void teardown(void) {
        test_bus_stop();
}

/* --- calls --- */

/* Sends @m (taken) on @conn and returns the reply, failing the test on an error reply. */
static DBusMessage *call_ok(DBusConnection *conn, DBusMessage *m) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                        &error);

        dbus_message_unref(m);
        ck_assert_msg(reply, "%s: %s", error.name, error.message);
        return reply;
}

/* Sends @m (taken) on @conn and checks it fails with @name, its message containing
 * @needle. */
static void call_fails(DBusConnection *conn, DBusMessage *m, const char *name,
                       const char *needle) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                        &error);

        dbus_message_unref(m);
        ck_assert_msg(!reply, "accepted");
        ck_assert_str_eq(error.name, name);
        ck_assert_msg(strstr(error.message, needle), "\"%s\" does not say \"%s\"",
                      error.message, needle);
        dbus_error_free(&error);
}

static void append_empty_dict(DBusMessageIter *it) {
        DBusMessageIter dict;

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        ck_assert(dbus_message_iter_close_container(it, &dict));
}

static void dict_add(DBusMessageIter *dict, const char *key, int type, const void *value) {
        DBusMessageIter entry, variant;
        const char signature[2] = { (char) type, '\0' };

        ck_assert(dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
        ck_assert(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature,
                                                   &variant));
        ck_assert(dbus_message_iter_append_basic(&variant, type, value));
        ck_assert(dbus_message_iter_close_container(&entry, &variant));
        ck_assert(dbus_message_iter_close_container(dict, &entry));
}

static void open_context(DBusConnection *conn, const char *context) {
        DBusMessage *m = test_bus_method("OpenContext");
        DBusMessageIter it, dict;
        const char *label = LABEL;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        dict_add(&dict, "label", DBUS_TYPE_STRING, &label);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        dbus_message_unref(call_ok(conn, m));
}

/* A SelectCertificate of (@context, ORIGIN) with the daemon's database, interactive for
 * @timeout_ms (0: not), bound to @generation (0: not). */
static DBusMessage *select_call(const char *context, guint32 timeout_ms, guint32 generation) {
        DBusMessage *m = test_bus_method("SelectCertificate");
        DBusMessageIter it, dict, array;
        const char *origin = ORIGIN;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (timeout_ms)
                dict_add(&dict, "interactive_timeout_ms", DBUS_TYPE_UINT32, &timeout_ms);
        if (generation)
                dict_add(&dict, "generation", DBUS_TYPE_UINT32, &generation);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ayaaya{sv})",
                                                   &array));
        ck_assert(dbus_message_iter_close_container(&it, &array));
        return m;
}

/* Sends @m (taken) without waiting for its reply. */
static DBusPendingCall *send_async(DBusConnection *conn, DBusMessage *m) {
        DBusPendingCall *pending = NULL;

        ck_assert(dbus_connection_send_with_reply(conn, m, &pending, CALL_TIMEOUT_MS));
        ck_assert_ptr_nonnull(pending);
        dbus_message_unref(m);
        dbus_connection_flush(conn);
        return pending;
}

typedef struct {
        char decision[32];
        char identity[80];
        guint32 generation;
        guint32 eligible_total;
} Selected;

/* Waits for the reply of a SelectCertificate sent with send_async(). */
static Selected select_wait(DBusPendingCall *pending) {
        Selected s = { 0 };
        DBusMessageIter it, array;
        const char *decision, *identity;

        dbus_pending_call_block(pending);
        DBusMessage *reply = dbus_pending_call_steal_reply(pending);
        dbus_pending_call_unref(pending);
        ck_assert_ptr_nonnull(reply);
        ck_assert_msg(dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN, "%s",
                      dbus_message_get_error_name(reply));
        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_get_basic(&it, &decision);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &identity);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &s.generation);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &s.eligible_total);
        g_strlcpy(s.decision, decision, sizeof s.decision);
        g_strlcpy(s.identity, identity, sizeof s.identity);
        dbus_message_unref(reply);
        return s;
}

static Selected select_now(DBusConnection *conn, const char *context, guint32 timeout_ms) {
        return select_wait(send_async(conn, select_call(context, timeout_ms, 0)));
}

static guint32 generation_of(DBusConnection *conn, const char *context) {
        DBusMessage *m = test_bus_method("GetPartition");
        const char *origin = ORIGIN, *state, *identity, *peer;
        dbus_uint32_t generation = 0;

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                           &origin, DBUS_TYPE_INVALID));
        DBusMessage *reply = call_ok(conn, m);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state, DBUS_TYPE_STRING,
                                        &identity, DBUS_TYPE_UINT32, &generation,
                                        DBUS_TYPE_STRING, &peer, DBUS_TYPE_INVALID));
        dbus_message_unref(reply);
        return generation;
}

/* --- the test agent --- */

static DBusMessage *register_call(const char *path) {
        DBusMessage *m = test_bus_method("RegisterAgent");
        DBusMessageIter it;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &path));
        append_empty_dict(&it);
        return m;
}

/* A new connection with an agent registered at @path. */
static DBusConnection *agent_new(const char *path) {
        DBusConnection *agent = test_bus_connect();

        dbus_message_unref(call_ok(agent, register_call(path)));
        return agent;
}

/* The next call of @member the agent gets, within @timeout_ms, or NULL; other messages
 * are dropped (a Cancel counted in *@ret_cancels, nullable). */
static DBusMessage *agent_next(DBusConnection *agent, const char *member, int timeout_ms) {
        long long deadline = test_bus_now_ms() + timeout_ms;

        while (test_bus_now_ms() < deadline) {
                DBusMessage *m = dbus_connection_pop_message(agent);

                if (!m) {
                        if (!dbus_connection_read_write(agent, 50))
                                return NULL;
                        continue;
                }
                if (dbus_message_is_method_call(m, AGENT_INTERFACE, member))
                        return m;
                dbus_message_unref(m);
        }
        return NULL;
}

/* The agent's RequestChoice, which must come. */
static DBusMessage *agent_request(DBusConnection *agent) {
        DBusMessage *m = agent_next(agent, "RequestChoice", CALL_TIMEOUT_MS);

        ck_assert_msg(m, "no RequestChoice came");
        ck_assert_str_eq(dbus_message_get_path(m), AGENT_PATH);
        ck_assert_str_eq(dbus_message_get_signature(m), "sa{sv}");
        return m;
}

static const char *request_id(DBusMessage *call) {
        const char *id = NULL;
        DBusMessageIter it;

        ck_assert(dbus_message_iter_init(call, &it));
        dbus_message_iter_get_basic(&it, &id);
        return id;
}

/* Answers the RequestChoice @call (taken). */
static void agent_answer(DBusConnection *agent, DBusMessage *call, const char *answer,
                         const char *identity, gboolean remember) {
        DBusMessage *reply = dbus_message_new_method_return(call);
        DBusMessageIter it, dict;
        dbus_bool_t r = remember;

        dbus_message_iter_init_append(reply, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &answer));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &identity));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (remember)
                dict_add(&dict, "remember", DBUS_TYPE_BOOLEAN, &r);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        ck_assert(dbus_connection_send(agent, reply, NULL));
        dbus_connection_flush(agent);
        dbus_message_unref(reply);
        dbus_message_unref(call);
}

/* The a{sv} @request of a RequestChoice, at @key (fails when absent). */
static void request_entry(DBusMessage *call, const char *key, DBusMessageIter *ret_variant) {
        DBusMessageIter it, dict, entry;

        ck_assert(dbus_message_iter_init(call, &it));
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                const char *name;

                dbus_message_iter_recurse(&dict, &entry);
                dbus_message_iter_get_basic(&entry, &name);
                dbus_message_iter_next(&entry);
                if (strcmp(name, key) == 0) {
                        dbus_message_iter_recurse(&entry, ret_variant);
                        return;
                }
        }
        ck_abort_msg("RequestChoice has no %s", key);
}

/* The string entry @key of the a{sv} @request of a RequestChoice (borrowed). */
static const char *request_string(DBusMessage *call, const char *key) {
        DBusMessageIter variant;
        const char *value = NULL;

        request_entry(call, key, &variant);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&variant), DBUS_TYPE_STRING);
        dbus_message_iter_get_basic(&variant, &value);
        return value;
}

/* A connection that receives the daemon's signals. */
static DBusConnection *watcher_new(void) {
        DBusConnection *conn = test_bus_connect();
        DBusError error = DBUS_ERROR_INIT;

        dbus_bus_add_match(conn, "type='signal',interface='" TEST_BUS_INTERFACE "'", &error);
        ck_assert_msg(!dbus_error_is_set(&error), "%s", error.message);
        return conn;
}

/* The next signal @member on @watcher within CALL_TIMEOUT_MS (fails when none came). */
static DBusMessage *watcher_next(DBusConnection *watcher, const char *member) {
        long long deadline = test_bus_now_ms() + CALL_TIMEOUT_MS;

        while (test_bus_now_ms() < deadline) {
                DBusMessage *m = dbus_connection_pop_message(watcher);

                if (!m) {
                        ck_assert(dbus_connection_read_write(watcher, 50));
                        continue;
                }
                if (dbus_message_is_signal(m, TEST_BUS_INTERFACE, member))
                        return m;
                dbus_message_unref(m);
        }
        ck_abort_msg("no %s came", member);
        return NULL;
}

/* Waits for CertificateRequestEnded and checks its id and outcome. */
static void watcher_ended(DBusConnection *watcher, const char *id, const char *outcome) {
        DBusMessage *m = watcher_next(watcher, "CertificateRequestEnded");
        const char *got_id, *got;

        ck_assert(dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &got_id, DBUS_TYPE_STRING,
                                        &got, DBUS_TYPE_INVALID));
        ck_assert_str_eq(got_id, id);
        ck_assert_str_eq(got, outcome);
        dbus_message_unref(m);
}

/* The agent's Cancel for @id, which must come. */
static void agent_cancelled(DBusConnection *agent, const char *id) {
        DBusMessage *m = agent_next(agent, "Cancel", CALL_TIMEOUT_MS);
        const char *got;

        ck_assert_msg(m, "no Cancel came");
        ck_assert(dbus_message_get_no_reply(m));
        ck_assert(dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &got, DBUS_TYPE_INVALID));
        ck_assert_str_eq(got, id);
        dbus_message_unref(m);
}

/* ListRequests' entries (borrowed from *@ret_reply, which the caller unrefs). */
static guint list_requests(DBusConnection *conn, DBusMessage **ret_reply) {
        DBusMessage *reply = call_ok(conn, test_bus_method("ListRequests"));
        DBusMessageIter it, array;
        guint n = 0;

        ck_assert_str_eq(dbus_message_get_signature(reply), "aa{sv}");
        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_recurse(&it, &array);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_ARRAY;
             dbus_message_iter_next(&array))
                n++;
        *ret_reply = reply;
        return n;
}

/* The value of @key in ListRequests' first entry, as text. */
static char *first_request_value(DBusMessage *reply, const char *key) {
        DBusMessageIter it, array, dict, entry, variant;

        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_recurse(&array, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                const char *name;

                dbus_message_iter_recurse(&dict, &entry);
                dbus_message_iter_get_basic(&entry, &name);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (strcmp(name, key) != 0)
                        continue;
                switch (dbus_message_iter_get_arg_type(&variant)) {
                case DBUS_TYPE_STRING: {
                        const char *v;
                        dbus_message_iter_get_basic(&variant, &v);
                        return g_strdup(v);
                }
                case DBUS_TYPE_UINT32: {
                        dbus_uint32_t v;
                        dbus_message_iter_get_basic(&variant, &v);
                        return g_strdup_printf("%u", v);
                }
                case DBUS_TYPE_INT64: {
                        dbus_int64_t v;
                        dbus_message_iter_get_basic(&variant, &v);
                        return g_strdup_printf("%" G_GINT64_FORMAT, (gint64) v);
                }
                default:
                        return g_strdup("?");
                }
        }
        return NULL;
}

static void set_choice(DBusConnection *conn, const char *context, const char *state,
                       const char *identity) {
        DBusMessage *m = test_bus_method("SetChoice");
        DBusMessageIter it;
        const char *origin = ORIGIN;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &state));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &identity));
        append_empty_dict(&it);
        dbus_message_unref(call_ok(conn, m));
}

static uint64_t statistic(DBusConnection *conn, const char *key) {
        DBusMessage *reply = call_ok(conn, test_bus_method("GetStatistics"));
        uint64_t v = 0;

        ck_assert_msg(raw_bus_statistic(reply, key, &v), "no statistic %s", key);
        dbus_message_unref(reply);
        return v;
}

#define CHALLENGE "transport mode=\"tls-client-certificate\""

/* An AnswerChallenge of (@context, ORIGIN) to a request sent under @generation,
 * interactive for @timeout_ms. */
static DBusMessage *challenge_call(const char *context, guint32 generation,
                                   guint32 timeout_ms) {
        DBusMessage *m = test_bus_method("AnswerChallenge");
        DBusMessageIter it, array, dict;
        const char *origin = ORIGIN, *value = CHALLENGE;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &array));
        ck_assert(dbus_message_iter_append_basic(&array, DBUS_TYPE_STRING, &value));
        ck_assert(dbus_message_iter_close_container(&it, &array));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        dict_add(&dict, "generation", DBUS_TYPE_UINT32, &generation);
        if (timeout_ms)
                dict_add(&dict, "interactive_timeout_ms", DBUS_TYPE_UINT32, &timeout_ms);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        return m;
}

/* The action and identity of an AnswerChallenge sent with send_async(). */
static void challenge_wait(DBusPendingCall *pending, char **ret_action, char **ret_identity,
                           guint32 *ret_generation) {
        const char *action, *identity;
        dbus_uint32_t generation;
        DBusMessageIter it;

        dbus_pending_call_block(pending);
        DBusMessage *reply = dbus_pending_call_steal_reply(pending);
        dbus_pending_call_unref(pending);
        ck_assert_msg(dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN, "%s",
                      dbus_message_get_error_name(reply));
        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_get_basic(&it, &action);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &identity);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &generation);
        *ret_action = g_strdup(action);
        *ret_identity = g_strdup(identity);
        *ret_generation = generation;
        dbus_message_unref(reply);
}

/* The usual cast: an agent registered at AGENT_PATH, and a caller with CTX open. */
static struct {
        DBusConnection *agent;
        DBusConnection *caller;
} scene;

static void scene_start(void) {
        scene.agent = agent_new(AGENT_PATH);
        scene.caller = test_bus_connect();
        open_context(scene.caller, CTX);
}

static void scene_end(void) {
        test_bus_disconnect(scene.caller);
        test_bus_disconnect(scene.agent);
}

/* Polls ListRequests until it lists @n requests, the first with @waiters waiting
 * (nullable: any): the daemon takes in calls and callers leaving on its own time. */
static void wait_listed(DBusConnection *conn, guint n, const char *waiters) {
        for (long long end = test_bus_now_ms() + CALL_TIMEOUT_MS;;) {
                DBusMessage *list = NULL;
                guint got = list_requests(conn, &list);
                g_autofree char *w = got ? first_request_value(list, "waiters") : NULL;

                dbus_message_unref(list);
                if (got == n && (!waiters || g_strcmp0(w, waiters) == 0))
                        return;
                ck_assert_msg(test_bus_now_ms() < end, "%u requests, waiters %s", got,
                              w ? w : "-");
        }
}

/* --- tests --- */

START_TEST(test_agent_answers_certificate) {
        scene_start();
        g_autofree char *rsa = fingerprint("rsa");

        guint32 before = generation_of(scene.caller, CTX);
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, before));
        DBusMessage *request = agent_request(scene.agent);
        ck_assert_str_eq(request_string(request, "context"), CTX);
        ck_assert_str_eq(request_string(request, "label"), LABEL);
        ck_assert_str_eq(request_string(request, "origin"), ORIGIN);
        ck_assert_str_eq(request_string(request, "reason"), "handshake");
        agent_answer(scene.agent, request, "certificate", rsa, FALSE);

        /* The first handshake of a connection attached with none moves to the new
         * partition. */
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "certificate");
        ck_assert_str_eq(s.identity, rsa);
        ck_assert_uint_gt(s.generation, before);
        ck_assert_uint_eq(s.generation, generation_of(scene.caller, CTX));
        scene_end();
}
END_TEST

START_TEST(test_agent_answers_none) {
        scene_start();

        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        agent_answer(scene.agent, agent_request(scene.agent), "none", "", FALSE);
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "none");
        ck_assert_str_eq(s.identity, "");
        /* The choice stays: the next call is "none" without asking. */
        s = select_now(scene.caller, CTX, 15000);
        ck_assert_str_eq(s.decision, "none");
        ck_assert_ptr_null(agent_next(scene.agent, "RequestChoice", 300));
        scene_end();
}
END_TEST

START_TEST(test_agent_none_registered_asks_at_once) {
        DBusConnection *caller = test_bus_connect();

        open_context(caller, CTX);
        Selected s = select_now(caller, CTX, 600000);
        ck_assert_str_eq(s.decision, "ask");
        ck_assert_uint_eq(s.eligible_total, 2);
        test_bus_disconnect(caller);
}
END_TEST

START_TEST(test_agent_cancel_asks) {
        scene_start();
        uint64_t before = statistic(scene.caller, "memory_used");
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(scene.agent);
        /* The held call is charged to max_memory while it waits. */
        ck_assert_uint_ge(statistic(scene.caller, "memory_used"), before + 512);
        agent_answer(scene.agent, request, "cancel", "", FALSE);
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "ask");
        ck_assert_uint_eq(s.eligible_total, 2);
        ck_assert_uint_eq(statistic(scene.caller, "memory_used"), before);
        scene_end();
}
END_TEST

START_TEST(test_agent_bad_input) {
        scene_start();

        /* The same (caller, path) twice. */
        call_fails(scene.agent, register_call(AGENT_PATH), ERR_INVALID, "path");
        call_fails(scene.caller, select_call(CTX, 600001, 0), ERR_INVALID,
                   "request.interactive_timeout_ms");
        DBusMessage *m = test_bus_method("UnregisterAgent");
        const char *path = "/not/registered";
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID));
        call_fails(scene.agent, m, ERR_INVALID, "path");
        /* Unknown options. */
        m = test_bus_method("RegisterAgent");
        DBusMessageIter it, dict;
        path = "/other";
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &path));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        dbus_bool_t yes = TRUE;
        dict_add(&dict, "modal", DBUS_TYPE_BOOLEAN, &yes);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        call_fails(scene.agent, m, ERR_INVALID, "options.modal");
        /* A path that is not an object path is the wrong signature. */
        m = test_bus_method("RegisterAgent");
        const char *text = "not a path";
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &text));
        append_empty_dict(&it);
        call_fails(scene.agent, m, ERR_INVALID, "signature");

        /* The daemon still asks the registered agent. */
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(scene.agent);
        ck_assert_str_ne(request_id(request), "");
        agent_answer(scene.agent, request, "cancel", "", FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        scene_end();
}
END_TEST

START_TEST(test_agent_answer_is_the_choice_with_identity_changed) {
        scene_start();
        DBusConnection *watcher = watcher_new();
        g_autofree char *ec = fingerprint("ec256");

        guint32 before = generation_of(scene.caller, CTX);
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, before));
        DBusMessage *requested = watcher_next(watcher, "CertificateRequested");
        DBusMessage *request = agent_request(scene.agent);
        const char *sig_id, *sig_context, *sig_origin;
        DBusMessageIter it;
        ck_assert(dbus_message_iter_init(requested, &it));
        dbus_message_iter_get_basic(&it, &sig_id);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &sig_context);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &sig_origin);
        ck_assert_str_eq(sig_id, request_id(request));
        ck_assert_str_eq(sig_context, CTX);
        ck_assert_str_eq(sig_origin, ORIGIN);
        g_autofree char *id = g_strdup(request_id(request));

        agent_answer(scene.agent, request, "certificate", ec, FALSE);
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "certificate");
        ck_assert_str_eq(s.identity, ec);

        DBusMessage *changed = watcher_next(watcher, "IdentityChanged");
        const char *context, *origin, *state, *identity;
        dbus_uint32_t generation;
        ck_assert(dbus_message_get_args(changed, NULL, DBUS_TYPE_STRING, &context,
                                        DBUS_TYPE_STRING, &origin, DBUS_TYPE_STRING, &state,
                                        DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32,
                                        &generation, DBUS_TYPE_INVALID));
        ck_assert_str_eq(state, "certificate");
        ck_assert_str_eq(identity, ec);
        ck_assert_uint_eq(generation, s.generation);
        watcher_ended(watcher, id, "certificate");
        ck_assert_uint_eq(statistic(scene.caller, "agent_requests"), 1);
        ck_assert_uint_eq(statistic(scene.caller, "agent_answers"), 1);
        dbus_message_unref(changed);
        dbus_message_unref(requested);
        test_bus_disconnect(watcher);
        scene_end();
}
END_TEST

START_TEST(test_agent_concurrent_requests_one_prompt) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *one = test_bus_connect();
        DBusConnection *two = test_bus_connect();
        g_autofree char *rsa = fingerprint("rsa");

        open_context(one, CTX);
        DBusPendingCall *first = send_async(one, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(agent);
        DBusPendingCall *second = send_async(two, select_call(CTX, 15000, 0));
        DBusPendingCall *third = send_async(one, select_call(CTX, 15000, 0));
        /* Both wait on the one prompt: ListRequests says so once they are in. */
        DBusMessage *list = NULL;
        wait_listed(one, 1, "3");
        ck_assert_uint_eq(list_requests(one, &list), 1);
        g_autofree char *label = first_request_value(list, "label");
        g_autofree char *reason = first_request_value(list, "reason");
        g_autofree char *listed_agent = first_request_value(list, "agent");
        g_autofree char *listed_id = first_request_value(list, "id");
        g_autofree char *since = first_request_value(list, "since");
        ck_assert_str_eq(label, LABEL);
        ck_assert_str_eq(reason, "handshake");
        ck_assert_str_eq(listed_agent, dbus_bus_get_unique_name(agent));
        ck_assert_str_eq(listed_id, request_id(request));
        ck_assert_int_gt(g_ascii_strtoll(since, NULL, 10), 0);
        dbus_message_unref(list);

        agent_answer(agent, request, "certificate", rsa, FALSE);
        ck_assert_str_eq(select_wait(first).identity, rsa);
        ck_assert_str_eq(select_wait(second).identity, rsa);
        ck_assert_str_eq(select_wait(third).identity, rsa);
        /* ONE RequestChoice for them all. */
        ck_assert_ptr_null(agent_next(agent, "RequestChoice", 300));
        ck_assert_uint_eq(list_requests(one, &list), 0);
        dbus_message_unref(list);
        test_bus_disconnect(two);
        test_bus_disconnect(one);
        test_bus_disconnect(agent);
}
END_TEST

START_TEST(test_agent_caller_timeout_asks) {
        scene_start();
        DBusConnection *watcher = watcher_new();

        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 300, 0));
        DBusMessage *request = agent_request(scene.agent);
        g_autofree char *id = g_strdup(request_id(request));
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "ask");
        ck_assert_uint_eq(s.eligible_total, 2);
        /* Nobody waits: the agent closes its prompt. */
        agent_cancelled(scene.agent, id);
        watcher_ended(watcher, id, "timeout");
        /* A late answer changes nothing. */
        g_autofree char *rsa = fingerprint("rsa");
        agent_answer(scene.agent, request, "certificate", rsa, FALSE);
        ck_assert_str_eq(select_now(scene.caller, CTX, 0).decision, "ask");
        test_bus_disconnect(watcher);
        scene_end();
}
END_TEST

START_TEST(test_agent_error_asks) {
        scene_start();
        DBusConnection *watcher = watcher_new();

        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(scene.agent);
        g_autofree char *id = g_strdup(request_id(request));
        DBusMessage *error = dbus_message_new_error(request, "org.example.Error.Broken", "no");
        ck_assert(dbus_connection_send(scene.agent, error, NULL));
        dbus_connection_flush(scene.agent);
        dbus_message_unref(error);
        dbus_message_unref(request);
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        watcher_ended(watcher, id, "cancel");
        test_bus_disconnect(watcher);
        scene_end();
}
END_TEST

START_TEST(test_agent_not_eligible_is_cancel) {
        scene_start();
        /* In make-certs.sh's output, not in the daemon's database. */
        g_autofree char *other = fingerprint("ec384");

        guint32 before = generation_of(scene.caller, CTX);
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        agent_answer(scene.agent, agent_request(scene.agent), "certificate", other, FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        ck_assert_uint_eq(generation_of(scene.caller, CTX), before);
        scene_end();
}
END_TEST

START_TEST(test_agent_leaving_asks) {
        DBusConnection *second = agent_new("/second");
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *caller = test_bus_connect();
        DBusConnection *watcher = watcher_new();

        open_context(caller, CTX);
        DBusPendingCall *pending = send_async(caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(agent);
        g_autofree char *id = g_strdup(request_id(request));
        dbus_message_unref(request);
        test_bus_disconnect(agent);
        /* Its request is its cancel; the other agent is not asked in its place. */
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        watcher_ended(watcher, id, "cancel");
        ck_assert_ptr_null(agent_next(second, "RequestChoice", 300));
        /* The next request goes to the agent that remains. */
        pending = send_async(caller, select_call(CTX, 15000, 0));
        request = agent_next(second, "RequestChoice", CALL_TIMEOUT_MS);
        ck_assert_ptr_nonnull(request);
        ck_assert_str_eq(dbus_message_get_path(request), "/second");
        agent_answer(second, request, "none", "", FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "none");
        test_bus_disconnect(watcher);
        test_bus_disconnect(caller);
        test_bus_disconnect(second);
}
END_TEST

START_TEST(test_agent_callers_leaving_abandon) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *one = test_bus_connect();
        DBusConnection *two = test_bus_connect();
        DBusConnection *watcher = watcher_new();
        DBusMessage *list = NULL;

        open_context(watcher, CTX);
        DBusPendingCall *a = send_async(one, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(agent);
        g_autofree char *id = g_strdup(request_id(request));
        DBusPendingCall *b = send_async(two, select_call(CTX, 15000, 0));
        wait_listed(watcher, 1, "2");
        dbus_pending_call_unref(a);
        test_bus_disconnect(one);
        /* One waiter remains: the prompt goes on. */
        wait_listed(watcher, 1, "1");
        dbus_pending_call_unref(b);
        test_bus_disconnect(two);
        agent_cancelled(agent, id);
        watcher_ended(watcher, id, "abandoned");
        ck_assert_uint_eq(list_requests(watcher, &list), 0);
        dbus_message_unref(list);
        dbus_message_unref(request);
        test_bus_disconnect(watcher);
        test_bus_disconnect(agent);
}
END_TEST

START_TEST(test_agent_set_choice_meanwhile_answers) {
        scene_start();
        DBusConnection *watcher = watcher_new();
        g_autofree char *ec = fingerprint("ec256");

        guint32 before = generation_of(scene.caller, CTX);
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, before));
        DBusMessage *request = agent_request(scene.agent);
        g_autofree char *id = g_strdup(request_id(request));
        dbus_message_unref(request);
        /* tlsidctl choose, from a terminal. */
        set_choice(watcher, CTX, "certificate", ec);
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "certificate");
        ck_assert_str_eq(s.identity, ec);
        ck_assert_uint_gt(s.generation, before);
        agent_cancelled(scene.agent, id);
        watcher_ended(watcher, id, "answered");
        test_bus_disconnect(watcher);
        scene_end();
}
END_TEST

START_TEST(test_agent_limit_per_caller) {
        scene_start();
        DBusConnection *other = test_bus_connect();
        DBusPendingCall *pending[8];

        for (guint i = 0; i < G_N_ELEMENTS(pending); i++)
                pending[i] = send_async(scene.caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(scene.agent);
        call_fails(scene.caller, select_call(CTX, 15000, 0), ERR_LIMIT,
                   "max_agent_waits_per_caller is 8");
        /* Not interactive, it is answered as ever; another caller may wait. */
        ck_assert_str_eq(select_now(scene.caller, CTX, 0).decision, "ask");
        DBusPendingCall *more = send_async(other, select_call(CTX, 15000, 0));
        agent_answer(scene.agent, request, "none", "", FALSE);
        for (guint i = 0; i < G_N_ELEMENTS(pending); i++)
                ck_assert_str_eq(select_wait(pending[i]).decision, "none");
        ck_assert_str_eq(select_wait(more).decision, "none");
        test_bus_disconnect(other);
        scene_end();
}
END_TEST

START_TEST(test_agent_limit_in_all) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *callers[8];
        DBusPendingCall *pending[64];

        for (guint c = 0; c < G_N_ELEMENTS(callers); c++)
                callers[c] = test_bus_connect();
        for (guint i = 0; i < G_N_ELEMENTS(pending); i++) {
                g_autofree char *context = g_strdup_printf("app/tab-%u", i);
                open_context(callers[0], context);
                pending[i] = send_async(callers[i % 8], select_call(context, 30000, 0));
        }
        wait_listed(callers[0], 64, NULL);
        DBusConnection *ninth = test_bus_connect();
        open_context(ninth, CTX);
        call_fails(ninth, select_call(CTX, 15000, 0), ERR_LIMIT, "max_agent_requests is 64");
        /* The agent leaves: every one of them is answered "ask". */
        test_bus_disconnect(agent);
        for (guint i = 0; i < G_N_ELEMENTS(pending); i++)
                ck_assert_str_eq(select_wait(pending[i]).decision, "ask");
        test_bus_disconnect(ninth);
        for (guint c = 0; c < G_N_ELEMENTS(callers); c++)
                test_bus_disconnect(callers[c]);
}
END_TEST

START_TEST(test_agent_challenge_retry_after_answer) {
        scene_start();
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *action = NULL, *identity = NULL;
        guint32 generation = 0;

        guint32 before = generation_of(scene.caller, CTX);
        DBusPendingCall *pending = send_async(scene.caller, challenge_call(CTX, before, 15000));
        DBusMessage *request = agent_request(scene.agent);
        ck_assert_str_eq(request_string(request, "reason"), "challenge");
        agent_answer(scene.agent, request, "certificate", rsa, FALSE);
        challenge_wait(pending, &action, &identity, &generation);
        ck_assert_str_eq(action, "retry");
        ck_assert_str_eq(identity, rsa);
        ck_assert_uint_gt(generation, before);
        ck_assert_uint_eq(generation, generation_of(scene.caller, CTX));
        scene_end();
}
END_TEST

START_TEST(test_agent_challenge_declined_after_none) {
        scene_start();
        g_autofree char *action = NULL, *identity = NULL;
        guint32 generation = 0;

        DBusPendingCall *pending = send_async(scene.caller, challenge_call(CTX, 1, 15000));
        agent_answer(scene.agent, agent_request(scene.agent), "none", "", FALSE);
        challenge_wait(pending, &action, &identity, &generation);
        ck_assert_str_eq(action, "declined");
        call_fails(scene.caller, challenge_call(CTX, 1, 600001), ERR_INVALID,
                   "options.interactive_timeout_ms");
        /* Not in the connection's CertificateRequest. */
        DBusMessage *m = test_bus_method("AnswerChallenge");
        DBusMessageIter it, array, dict, entry, variant, request;
        const char *context = CTX, *origin = ORIGIN, *value = CHALLENGE, *key = "request";
        dbus_uint32_t timeout = 1000;
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &array));
        ck_assert(dbus_message_iter_append_basic(&array, DBUS_TYPE_STRING, &value));
        ck_assert(dbus_message_iter_close_container(&it, &array));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        ck_assert(dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
        ck_assert(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "a{sv}",
                                                   &variant));
        ck_assert(dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, "{sv}",
                                                   &request));
        dict_add(&request, "interactive_timeout_ms", DBUS_TYPE_UINT32, &timeout);
        ck_assert(dbus_message_iter_close_container(&variant, &request));
        ck_assert(dbus_message_iter_close_container(&entry, &variant));
        ck_assert(dbus_message_iter_close_container(&dict, &entry));
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        call_fails(scene.caller, m, ERR_INVALID, "options.request.interactive_timeout_ms");
        scene_end();
}
END_TEST

START_TEST(test_agent_remember_survives_restart) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *caller = test_bus_connect();
        g_autofree char *rsa = fingerprint("rsa");

        open_context(caller, CTX);
        DBusPendingCall *pending = send_async(caller, select_call(CTX, 15000, 0));
        agent_answer(agent, agent_request(agent), "certificate", rsa, TRUE);
        ck_assert_str_eq(select_wait(pending).decision, "certificate");
        test_bus_disconnect(caller);
        test_bus_disconnect(agent);
        /* SIGTERM writes what is not on disk yet. */
        test_bus_restart_daemon();
        caller = test_bus_connect();
        open_context(caller, CTX);
        Selected s = select_now(caller, CTX, 0);
        ck_assert_str_eq(s.decision, "certificate");
        ck_assert_str_eq(s.identity, rsa);
        test_bus_disconnect(caller);
}
END_TEST

START_TEST(test_agent_unregistered_not_asked) {
        scene_start();
        DBusMessage *m = test_bus_method("UnregisterAgent");
        const char *path = AGENT_PATH;

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID));
        dbus_message_unref(call_ok(scene.agent, m));
        ck_assert_str_eq(select_now(scene.caller, CTX, 15000).decision, "ask");
        ck_assert_ptr_null(agent_next(scene.agent, "RequestChoice", 300));
        /* Registered again, it is asked again. */
        dbus_message_unref(call_ok(scene.agent, register_call(AGENT_PATH)));
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        agent_answer(scene.agent, agent_request(scene.agent), "cancel", "", FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        scene_end();
}
END_TEST

START_TEST(test_agent_configured_limits) {
        g_autofree char *conf = g_strdup_printf("[certificates]\nnss_db = sql:%s/nssdb\n"
                                                "[agents]\nmax_agents=1\n"
                                                "max_agent_requests=1\n"
                                                "max_agent_waits_per_caller=1\n", certs_dir);
        test_bus_write_daemon_config(conf);
        scene_start();
        DBusMessage *m = test_bus_method("UnregisterAgent");

        call_fails(scene.agent, register_call("/second"), ERR_LIMIT, "max_agents is 1");
        open_context(scene.caller, "app/other");
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(scene.agent);
        call_fails(scene.caller, select_call(CTX, 15000, 0), ERR_LIMIT,
                   "max_agent_waits_per_caller is 1");
        DBusConnection *other = test_bus_connect();
        call_fails(other, select_call("app/other", 15000, 0), ERR_LIMIT,
                   "max_agent_requests is 1");
        agent_answer(scene.agent, request, "cancel", "", FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "ask");

        /* The properties report them. */
        const char *interface = TEST_BUS_INTERFACE, *name = "MaxAgentWaitsPerCaller";
        DBusMessage *get = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                        "org.freedesktop.DBus.Properties",
                                                        "Get");
        ck_assert(dbus_message_append_args(get, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING,
                                           &name, DBUS_TYPE_INVALID));
        DBusMessage *reply = call_ok(scene.caller, get);
        DBusMessageIter it, variant;
        dbus_uint32_t v = 0;
        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_recurse(&it, &variant);
        dbus_message_iter_get_basic(&variant, &v);
        ck_assert_uint_eq(v, 1);
        dbus_message_unref(reply);
        dbus_message_unref(m);
        test_bus_disconnect(other);
        scene_end();
}
END_TEST


START_TEST(test_agent_request_details) {
        scene_start();
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *ec = fingerprint("ec256");
        g_autoptr(GBytes) inter = subject_der("inter");
        DBusMessageIter variant, array, names, dict, entry, value;
        gsize len = 0;
        const void *der = g_bytes_get_data(inter, &len);

        /* A request naming the intermediate CA, which issued both. */
        DBusMessage *m = test_bus_method("SelectCertificate");
        const char *context = CTX, *origin = ORIGIN, *key = "ca_names";
        dbus_uint32_t timeout = 12345;
        DBusMessageIter it, rq, e, v, a, name, c;
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &rq));
        ck_assert(dbus_message_iter_open_container(&rq, DBUS_TYPE_DICT_ENTRY, NULL, &e));
        ck_assert(dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&e, DBUS_TYPE_VARIANT, "aay", &v));
        ck_assert(dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "ay", &a));
        ck_assert(dbus_message_iter_open_container(&a, DBUS_TYPE_ARRAY, "y", &name));
        ck_assert(dbus_message_iter_append_fixed_array(&name, DBUS_TYPE_BYTE, &der, (int) len));
        ck_assert(dbus_message_iter_close_container(&a, &name));
        ck_assert(dbus_message_iter_close_container(&v, &a));
        ck_assert(dbus_message_iter_close_container(&e, &v));
        ck_assert(dbus_message_iter_close_container(&rq, &e));
        dict_add(&rq, "interactive_timeout_ms", DBUS_TYPE_UINT32, &timeout);
        ck_assert(dbus_message_iter_close_container(&it, &rq));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &c));
        ck_assert(dbus_message_iter_close_container(&it, &c));
        DBusPendingCall *pending = send_async(scene.caller, m);

        DBusMessage *request = agent_request(scene.agent);
        request_entry(request, "ca_names", &variant);
        dbus_message_iter_recurse(&variant, &names);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&names), DBUS_TYPE_STRING);
        const char *ca;
        dbus_message_iter_get_basic(&names, &ca);
        ck_assert_msg(strstr(ca, "CN=tlsid Test Intermediate CA"), "%s", ca);
        request_entry(request, "timeout_ms", &variant);
        dbus_uint32_t got_timeout;
        dbus_message_iter_get_basic(&variant, &got_timeout);
        ck_assert_uint_eq(got_timeout, 12345);
        request_entry(request, "eligible_total", &variant);
        dbus_uint32_t total;
        dbus_message_iter_get_basic(&variant, &total);
        ck_assert_uint_eq(total, 2);
        request_entry(request, "ephemeral", &variant);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&variant), DBUS_TYPE_BOOLEAN);

        /* Both certificates of the database, described for a person. */
        request_entry(request, "certificates", &variant);
        dbus_message_iter_recurse(&variant, &array);
        guint n = 0, seen = 0;
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_ARRAY;
             dbus_message_iter_next(&array), n++) {
                dbus_message_iter_recurse(&array, &dict);
                for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
                     dbus_message_iter_next(&dict)) {
                        const char *k, *text;

                        dbus_message_iter_recurse(&dict, &entry);
                        dbus_message_iter_get_basic(&entry, &k);
                        dbus_message_iter_next(&entry);
                        dbus_message_iter_recurse(&entry, &value);
                        if (dbus_message_iter_get_arg_type(&value) != DBUS_TYPE_STRING)
                                continue;
                        dbus_message_iter_get_basic(&value, &text);
                        if (strcmp(k, "identity") == 0)
                                seen |= strcmp(text, rsa) == 0 ? 1 : strcmp(text, ec) == 0 ? 2 : 0;
                        if (strcmp(k, "source") == 0)
                                ck_assert_str_eq(text, "database");
                        if (strcmp(k, "issuer") == 0)
                                ck_assert_msg(strstr(text, "Intermediate"), "%s", text);
                }
        }
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(seen, 3);
        agent_answer(scene.agent, request, "cancel", "", FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        scene_end();
}
END_TEST

START_TEST(test_agent_forget_meanwhile_answers) {
        DBusConnection *watcher = watcher_new();
        g_autofree char *gone = fingerprint("ec384");

        scene_start();
        /* A remembered certificate the database no longer holds: "ask", never a silent
         * switch. */
        set_choice(scene.caller, CTX, "certificate", gone);
        DBusPendingCall *pending = send_async(scene.caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(scene.agent);
        g_autofree char *id = g_strdup(request_id(request));
        dbus_message_unref(request);
        /* tlsidctl forget: the choice changed, so the prompt ends without the agent. */
        DBusMessage *m = test_bus_method("ForgetChoices");
        const char *context = CTX, *origin = ORIGIN;
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING,
                                           &origin, DBUS_TYPE_INVALID));
        dbus_message_unref(call_ok(watcher, m));
        agent_cancelled(scene.agent, id);
        watcher_ended(watcher, id, "answered");
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "ask");
        ck_assert_uint_eq(s.eligible_total, 2);
        test_bus_disconnect(watcher);
        scene_end();
}
END_TEST

/* --- main --- */

/* The direct socket answers an interactive call at once: the daemon holds waits only for
 * bus callers, whose leaving it sees and to whom the held reply can go. */
START_TEST(test_agent_direct_socket_answers_at_once) {
        scene_start();
        DBusMessage *get = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                        DBUS_INTERFACE_PROPERTIES, "Get");
        const char *interface = TEST_BUS_INTERFACE, *name = "DirectAddress", *address;
        DBusMessageIter it, variant;
        DBusError error = DBUS_ERROR_INIT;

        ck_assert(dbus_message_append_args(get, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING,
                                           &name, DBUS_TYPE_INVALID));
        DBusMessage *reply = call_ok(scene.caller, get);
        ck_assert(dbus_message_iter_init(reply, &it));
        dbus_message_iter_recurse(&it, &variant);
        dbus_message_iter_get_basic(&variant, &address);
        ck_assert_str_ne(address, "");
        DBusConnection *direct = dbus_connection_open_private(address, &error);
        ck_assert_msg(direct, "%s: %s", address, error.message);
        dbus_message_unref(reply);
        dbus_connection_set_exit_on_disconnect(direct, FALSE);

        Selected s = select_now(direct, CTX, 15000);
        ck_assert_str_eq(s.decision, "ask");
        ck_assert_uint_eq(s.eligible_total, 2);
        ck_assert_ptr_null(agent_next(scene.agent, "RequestChoice", 300));
        dbus_connection_close(direct);
        dbus_connection_unref(direct);
        scene_end();
}
END_TEST

static Suite *agent_suite(void) {
        Suite *s = suite_create("agent");
        TCase *tc = tcase_create("agent");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_agent_answers_certificate);
        tcase_add_test(tc, test_agent_answers_none);
        tcase_add_test(tc, test_agent_none_registered_asks_at_once);
        tcase_add_test(tc, test_agent_cancel_asks);
        tcase_add_test(tc, test_agent_bad_input);
        tcase_add_test(tc, test_agent_answer_is_the_choice_with_identity_changed);
        tcase_add_test(tc, test_agent_concurrent_requests_one_prompt);
        tcase_add_test(tc, test_agent_caller_timeout_asks);
        tcase_add_test(tc, test_agent_error_asks);
        tcase_add_test(tc, test_agent_not_eligible_is_cancel);
        tcase_add_test(tc, test_agent_leaving_asks);
        tcase_add_test(tc, test_agent_callers_leaving_abandon);
        tcase_add_test(tc, test_agent_set_choice_meanwhile_answers);
        tcase_add_test(tc, test_agent_forget_meanwhile_answers);
        tcase_add_test(tc, test_agent_limit_per_caller);
        tcase_add_test(tc, test_agent_limit_in_all);
        tcase_add_test(tc, test_agent_challenge_retry_after_answer);
        tcase_add_test(tc, test_agent_challenge_declined_after_none);
        tcase_add_test(tc, test_agent_remember_survives_restart);
        tcase_add_test(tc, test_agent_unregistered_not_asked);
        tcase_add_test(tc, test_agent_configured_limits);
        tcase_add_test(tc, test_agent_request_details);
        tcase_add_test(tc, test_agent_direct_socket_answers_at_once);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        certs_make(NULL);
        status = test_run_suite(agent_suite(), CK_FORK);
        certs_remove();
        return status;
}
