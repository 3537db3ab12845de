/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: org.freedesktop.DBus.Properties of tlsidd, called with raw libdbus
 * against a daemon started with a tlsidd.conf of its own: the values are the version and
 * the limits that file set, nothing can be set, and every refusal has its standard name. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "check-main.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000

/* The limits tlsidd.conf sets; the others stay at their defaults. */
#define CONF_MAX_CONTEXTS 5
#define CONF_MAX_TOKEN_BYTES (UINT64_C(1) << 30)
#define CONF_MAX_SENDERS 77
#define DEFAULT_MAX_TOKENS_PER_PARTITION 4
#define N_PROPERTIES 13

/* The dispatcher's answer to a call whose signature is not the method's. */
#define ERR_SIGNATURE "org.tlsid.Error.InvalidArgument"

static DBusConnection *conn;

static void setup(void) {
        test_bus_start();
        /* Before the first call activates the daemon. */
        test_bus_write_daemon_config("[limits]\n"
                                     "max_contexts = 5\n"
                                     "max_token_bytes = 1G\n"
                                     "[daemon]\n"
                                     "max_senders = 77\n");
        conn = test_bus_connect();
}

static void teardown(void) {
        test_bus_disconnect(conn);
        conn = NULL;
        test_bus_stop();
}

/* A call of Properties.@method with the string arguments @a and @b (NULL: left out). */
static DBusMessage *properties_call(const char *method, const char *a, const char *b) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      DBUS_INTERFACE_PROPERTIES, method);

        ck_assert_ptr_nonnull(m);
        if (a)
                ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &a, DBUS_TYPE_INVALID));
        if (b)
                ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &b, DBUS_TYPE_INVALID));
        return m;
}

/* Set(@interface, @name, <u @value>). */
static DBusMessage *set_call(const char *interface, const char *name, dbus_uint32_t value) {
        DBusMessage *m = properties_call("Set", interface, name);
        DBusMessageIter it, variant;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "u", &variant));
        ck_assert(dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT32, &value));
        ck_assert(dbus_message_iter_close_container(&it, &variant));
        return m;
}

/* Sends @m (consumed) and returns the reply, failing the test on an error. */
static DBusMessage *call_ok(DBusMessage *m) {
        DBusError error = DBUS_ERROR_INIT;
        char what[128];

        snprintf(what, sizeof what, "%s", dbus_message_get_member(m));
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                       &error);
        dbus_message_unref(m);
        ck_assert_msg(reply, "%s failed: %s: %s", what, error.name, error.message);
        return reply;
}

/* Sends @m (consumed) and expects the error @name whose message contains @needle. */
static void expect_error(DBusMessage *m, const char *name, const char *needle) {
        DBusError error = DBUS_ERROR_INIT;
        char what[128];

        snprintf(what, sizeof what, "%s(%s)", dbus_message_get_member(m),
                 dbus_message_get_signature(m));
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                       &error);
        dbus_message_unref(m);
        if (reply)
                dbus_message_unref(reply);
        ck_assert_msg(!reply, "%s succeeded, expected %s", what, name);
        ck_assert_msg(strcmp(error.name, name) == 0, "%s: got %s (%s), expected %s", what,
                      error.name, error.message, name);
        ck_assert_msg(strstr(error.message, needle), "%s: message \"%s\" does not name %s",
                      what, error.message, needle);
        dbus_error_free(&error);
}

/* Get(org.tlsid.Manager1, @name) of type @type into @ret_value (a dbus_uint32_t,
 * dbus_uint64_t or const char * valid until @ret_reply is unreffed). */
static void get_value(const char *name, int type, void *ret_value, DBusMessage **ret_reply) {
        DBusMessage *reply = call_ok(properties_call("Get", TEST_BUS_INTERFACE, name));
        DBusMessageIter it, variant;

        ck_assert_str_eq(dbus_message_get_signature(reply), "v");
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &variant);
        ck_assert_msg(dbus_message_iter_get_arg_type(&variant) == type, "%s: type %c, not %c",
                      name, dbus_message_iter_get_arg_type(&variant), type);
        dbus_message_iter_get_basic(&variant, ret_value);
        *ret_reply = reply;
}

static dbus_uint32_t get_uint32(const char *name) {
        DBusMessage *reply;
        dbus_uint32_t v = 0;

        get_value(name, DBUS_TYPE_UINT32, &v, &reply);
        dbus_message_unref(reply);
        return v;
}

/* The number of properties GetAll(@interface) gives; fills the values this test knows. */
static unsigned get_all(const char *interface, uint64_t *ret_token_bytes,
                        uint32_t *ret_max_senders, uint32_t *ret_tokens_per_partition) {
        DBusMessage *reply = call_ok(properties_call("GetAll", interface, NULL));
        DBusMessageIter it, dict, entry, variant;
        unsigned n = 0;

        ck_assert_str_eq(dbus_message_get_signature(reply), "a{sv}");
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict), n++) {
                const char *name = NULL;

                dbus_message_iter_recurse(&dict, &entry);
                dbus_message_iter_get_basic(&entry, &name);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                int type = dbus_message_iter_get_arg_type(&variant);
                if (strcmp(name, "MaxTokenBytes") == 0 && type == DBUS_TYPE_UINT64)
                        dbus_message_iter_get_basic(&variant, ret_token_bytes);
                else if (strcmp(name, "MaxSenders") == 0 && type == DBUS_TYPE_UINT32)
                        dbus_message_iter_get_basic(&variant, ret_max_senders);
                else if (strcmp(name, "MaxTokensPerPartition") == 0 && type == DBUS_TYPE_UINT32)
                        dbus_message_iter_get_basic(&variant, ret_tokens_per_partition);
        }
        dbus_message_unref(reply);
        return n;
}

START_TEST(test_properties_version_and_configured_limits) {
        DBusMessage *reply;
        const char *version = NULL;
        uint64_t token_bytes = 0;
        uint32_t max_senders = 0, tokens_per_partition = 0;

        get_value("Version", DBUS_TYPE_STRING, &version, &reply);
        ck_assert_str_eq(version, PACKAGE_VERSION);
        dbus_message_unref(reply);
        ck_assert_uint_eq(get_uint32("MaxContexts"), CONF_MAX_CONTEXTS);

        ck_assert_uint_eq(get_all(TEST_BUS_INTERFACE, &token_bytes, &max_senders,
                                  &tokens_per_partition), N_PROPERTIES);
        ck_assert_uint_eq(token_bytes, CONF_MAX_TOKEN_BYTES);
        ck_assert_uint_eq(max_senders, CONF_MAX_SENDERS);
        ck_assert_uint_eq(tokens_per_partition, DEFAULT_MAX_TOKENS_PER_PARTITION);
        /* "" is every interface: the same properties. */
        ck_assert_uint_eq(get_all("", &token_bytes, &max_senders, &tokens_per_partition),
                          N_PROPERTIES);
        /* The object's other interfaces have none. */
        ck_assert_uint_eq(get_all(DBUS_INTERFACE_INTROSPECTABLE, &token_bytes, &max_senders,
                                  &tokens_per_partition), 0);
}
END_TEST

START_TEST(test_properties_reported_limit_is_in_force) {
        dbus_uint32_t max = get_uint32("MaxContexts");
        char context[32];

        ck_assert_uint_eq(max, CONF_MAX_CONTEXTS);
        for (dbus_uint32_t i = 0; i <= max; i++) {
                DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                              TEST_BUS_INTERFACE, "OpenContext");
                DBusMessageIter it, dict;
                const char *c = context;

                snprintf(context, sizeof context, "props/%u", (unsigned) i);
                dbus_message_iter_init_append(m, &it);
                ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &c));
                ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
                ck_assert(dbus_message_iter_close_container(&it, &dict));
                if (i < max)
                        dbus_message_unref(call_ok(m));
                else
                        expect_error(m, "org.tlsid.Error.LimitExceeded", "");
        }
}
END_TEST

START_TEST(test_properties_set_is_refused) {
        expect_error(set_call(TEST_BUS_INTERFACE, "MaxContexts", 1000),
                     DBUS_ERROR_PROPERTY_READ_ONLY, "MaxContexts");
        expect_error(set_call("", "Version", 1), DBUS_ERROR_PROPERTY_READ_ONLY, "Version");
        expect_error(set_call(TEST_BUS_INTERFACE, "Colour", 1), DBUS_ERROR_UNKNOWN_PROPERTY,
                     "Colour");
        expect_error(set_call("org.tlsid.Manager2", "MaxContexts", 1),
                     DBUS_ERROR_UNKNOWN_INTERFACE, "org.tlsid.Manager2");
        /* Nothing changed. */
        ck_assert_uint_eq(get_uint32("MaxContexts"), CONF_MAX_CONTEXTS);
}
END_TEST

START_TEST(test_properties_get_errors) {
        expect_error(properties_call("Get", TEST_BUS_INTERFACE, "MaxColours"),
                     DBUS_ERROR_UNKNOWN_PROPERTY, "MaxColours");
        expect_error(properties_call("Get", "", "MaxColours"), DBUS_ERROR_UNKNOWN_PROPERTY,
                     "MaxColours");
        expect_error(properties_call("Get", "org.tlsid.Manager2", "Version"),
                     DBUS_ERROR_UNKNOWN_INTERFACE, "org.tlsid.Manager2");
        /* An interface the object has, but not with that property. */
        expect_error(properties_call("Get", DBUS_INTERFACE_INTROSPECTABLE, "Version"),
                     DBUS_ERROR_UNKNOWN_PROPERTY, "Version");
        expect_error(properties_call("GetAll", "org.tlsid.Manager2", NULL),
                     DBUS_ERROR_UNKNOWN_INTERFACE, "org.tlsid.Manager2");
}
END_TEST

START_TEST(test_properties_wrong_signatures) {
        DBusMessage *m = properties_call("Set", TEST_BUS_INTERFACE, "MaxContexts");
        dbus_uint32_t bare = 1;

        expect_error(properties_call("Get", TEST_BUS_INTERFACE, NULL), ERR_SIGNATURE,
                     "\"ss\"");
        expect_error(properties_call("GetAll", NULL, NULL), ERR_SIGNATURE, "\"s\"");
        expect_error(properties_call("GetAll", TEST_BUS_INTERFACE, "Version"), ERR_SIGNATURE,
                     "\"s\"");
        /* The value of Set is a variant, not a bare u. */
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_UINT32, &bare, DBUS_TYPE_INVALID));
        expect_error(m, ERR_SIGNATURE, "\"ssv\"");
        /* Still answering. */
        ck_assert_uint_eq(get_uint32("MaxContexts"), CONF_MAX_CONTEXTS);
}
END_TEST

static Suite *properties_suite(void) {
        Suite *s = suite_create("properties");
        TCase *tc = tcase_create("properties");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_properties_version_and_configured_limits);
        tcase_add_test(tc, test_properties_reported_limit_is_in_force);
        tcase_add_test(tc, test_properties_set_is_refused);
        tcase_add_test(tc, test_properties_get_errors);
        tcase_add_test(tc, test_properties_wrong_signatures);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(properties_suite(), CK_FORK);
}
