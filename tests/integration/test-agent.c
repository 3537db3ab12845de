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

/* The string entry @key of the a{sv} @request of a RequestChoice (borrowed). */
static const char *request_string(DBusMessage *call, const char *key) {
        DBusMessageIter it, dict, entry, variant;

        ck_assert(dbus_message_iter_init(call, &it));
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                const char *name, *value;

                dbus_message_iter_recurse(&dict, &entry);
                dbus_message_iter_get_basic(&entry, &name);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (strcmp(name, key) == 0 &&
                    dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_STRING) {
                        dbus_message_iter_get_basic(&variant, &value);
                        return value;
                }
        }
        return NULL;
}

/* --- tests --- */

START_TEST(test_agent_answers_certificate) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *caller = test_bus_connect();
        g_autofree char *rsa = fingerprint("rsa");

        open_context(caller, CTX);
        guint32 before = generation_of(caller, CTX);
        DBusPendingCall *pending = send_async(caller, select_call(CTX, 15000, before));
        DBusMessage *request = agent_request(agent);
        ck_assert_str_eq(request_string(request, "context"), CTX);
        ck_assert_str_eq(request_string(request, "label"), LABEL);
        ck_assert_str_eq(request_string(request, "origin"), ORIGIN);
        ck_assert_str_eq(request_string(request, "reason"), "handshake");
        agent_answer(agent, request, "certificate", rsa, FALSE);

        /* The first handshake of a connection attached with none moves to the new
         * partition. */
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "certificate");
        ck_assert_str_eq(s.identity, rsa);
        ck_assert_uint_gt(s.generation, before);
        ck_assert_uint_eq(s.generation, generation_of(caller, CTX));
        test_bus_disconnect(caller);
        test_bus_disconnect(agent);
}
END_TEST

START_TEST(test_agent_answers_none) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *caller = test_bus_connect();

        open_context(caller, CTX);
        DBusPendingCall *pending = send_async(caller, select_call(CTX, 15000, 0));
        agent_answer(agent, agent_request(agent), "none", "", FALSE);
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "none");
        ck_assert_str_eq(s.identity, "");
        /* The choice stays: the next call is "none" without asking. */
        s = select_now(caller, CTX, 15000);
        ck_assert_str_eq(s.decision, "none");
        ck_assert_ptr_null(agent_next(agent, "RequestChoice", 300));
        test_bus_disconnect(caller);
        test_bus_disconnect(agent);
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
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *caller = test_bus_connect();

        open_context(caller, CTX);
        DBusPendingCall *pending = send_async(caller, select_call(CTX, 15000, 0));
        agent_answer(agent, agent_request(agent), "cancel", "", FALSE);
        Selected s = select_wait(pending);
        ck_assert_str_eq(s.decision, "ask");
        ck_assert_uint_eq(s.eligible_total, 2);
        test_bus_disconnect(caller);
        test_bus_disconnect(agent);
}
END_TEST

START_TEST(test_agent_bad_input) {
        DBusConnection *agent = agent_new(AGENT_PATH);
        DBusConnection *caller = test_bus_connect();

        /* The same (caller, path) twice. */
        call_fails(agent, register_call(AGENT_PATH), ERR_INVALID, "path");
        open_context(caller, CTX);
        call_fails(caller, select_call(CTX, 600001, 0), ERR_INVALID,
                   "request.interactive_timeout_ms");
        DBusMessage *m = test_bus_method("UnregisterAgent");
        const char *path = "/not/registered";
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID));
        call_fails(agent, m, ERR_INVALID, "path");
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
        call_fails(agent, m, ERR_INVALID, "options.modal");
        /* A path that is not an object path is the wrong signature. */
        m = test_bus_method("RegisterAgent");
        const char *text = "not a path";
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &text));
        append_empty_dict(&it);
        call_fails(agent, m, ERR_INVALID, "signature");

        /* The daemon still asks the registered agent. */
        DBusPendingCall *pending = send_async(caller, select_call(CTX, 15000, 0));
        DBusMessage *request = agent_request(agent);
        ck_assert_str_ne(request_id(request), "");
        agent_answer(agent, request, "cancel", "", FALSE);
        ck_assert_str_eq(select_wait(pending).decision, "ask");
        test_bus_disconnect(caller);
        test_bus_disconnect(agent);
}
END_TEST

/* --- main --- */

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
