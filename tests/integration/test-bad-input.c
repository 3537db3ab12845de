/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: malformed calls to every method, made with raw libdbus so nothing
 * checks them before tlsidd does. Each asserts the exact error name, that the message
 * names the field, and that the daemon still answers with its data intact. */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check-main.h"
#include "raw-bus.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000

#define ERR_INVALID "org.tlsid.Error.InvalidArgument"
#define ERR_NO_CONTEXT "org.tlsid.Error.NoSuchContext"
#define ERR_LIMIT "org.tlsid.Error.LimitExceeded"
#define ERR_ACCESS "org.tlsid.Error.AccessDenied"
/* The dispatcher checks each call's signature before its handler runs, and says so
 * with InvalidArgument. */
#define ERR_SIGNATURE ERR_INVALID

#define ORIGIN "example.com:443"
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEEP_CONTEXT "keep/ctx"
#define KEEP_TOKEN "keep-this-token"

static DBusConnection *conn;
static dbus_uint32_t keep_generation;
/* The value under test, named in failure messages. */
static const char *current_case = "";

/* --- building calls --- */

static DBusMessage *call_new(const char *method) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      TEST_BUS_INTERFACE, method);

        ck_assert_ptr_nonnull(m);
        return m;
}

static void append_basic(DBusMessageIter *it, int type, const void *value) {
        ck_assert(dbus_message_iter_append_basic(it, type, value));
}

/* Appends one a{sv} from @ap: an int count, then per entry a key (const char *), a type
 * character ('s', 'b', 'q', 'u', 'i', 'x') and a value of that type. */
static void append_dict(DBusMessageIter *it, va_list *ap) {
        DBusMessageIter array, entry, variant;
        int n = va_arg(*ap, int);

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "{sv}", &array));
        for (int i = 0; i < n; i++) {
                const char *key = va_arg(*ap, const char *);
                char type = (char) va_arg(*ap, int);
                char sig[2] = { type, 0 };

                ck_assert(dbus_message_iter_open_container(&array, DBUS_TYPE_DICT_ENTRY, NULL,
                                                           &entry));
                append_basic(&entry, DBUS_TYPE_STRING, &key);
                ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, sig,
                                                           &variant));
                switch (type) {
                case 's': {
                        const char *v = va_arg(*ap, const char *);

                        append_basic(&variant, DBUS_TYPE_STRING, &v);
                        break;
                }
                case 'b': {
                        dbus_bool_t v = va_arg(*ap, int) ? TRUE : FALSE;

                        append_basic(&variant, DBUS_TYPE_BOOLEAN, &v);
                        break;
                }
                case 'q': {
                        dbus_uint16_t v = (dbus_uint16_t) va_arg(*ap, int);

                        append_basic(&variant, DBUS_TYPE_UINT16, &v);
                        break;
                }
                case 'u': {
                        dbus_uint32_t v = va_arg(*ap, unsigned);

                        append_basic(&variant, DBUS_TYPE_UINT32, &v);
                        break;
                }
                case 'i': {
                        dbus_int32_t v = va_arg(*ap, int);

                        append_basic(&variant, DBUS_TYPE_INT32, &v);
                        break;
                }
                case 'x': {
                        dbus_int64_t v = va_arg(*ap, int64_t);

                        append_basic(&variant, DBUS_TYPE_INT64, &v);
                        break;
                }
                default:
                        ck_abort_msg("bad dict type '%c'", type);
                }
                ck_assert(dbus_message_iter_close_container(&entry, &variant));
                ck_assert(dbus_message_iter_close_container(&array, &entry));
        }
        ck_assert(dbus_message_iter_close_container(it, &array));
}

/* A call of @method with arguments described by @fmt, one character each:
 * s (const char *), u (unsigned), i (int), x (int64_t), b (int), y (int),
 * A (const void *, size_t: an ay), D (a{sv}, see append_dict()). */
static DBusMessage *call_build(const char *method, const char *fmt, ...) {
        DBusMessage *m = call_new(method);
        DBusMessageIter it;
        va_list ap;

        dbus_message_iter_init_append(m, &it);
        va_start(ap, fmt);
        for (const char *f = fmt; *f; f++) {
                switch (*f) {
                case 's': {
                        const char *v = va_arg(ap, const char *);

                        append_basic(&it, DBUS_TYPE_STRING, &v);
                        break;
                }
                case 'u': {
                        dbus_uint32_t v = va_arg(ap, unsigned);

                        append_basic(&it, DBUS_TYPE_UINT32, &v);
                        break;
                }
                case 'i': {
                        dbus_int32_t v = va_arg(ap, int);

                        append_basic(&it, DBUS_TYPE_INT32, &v);
                        break;
                }
                case 'x': {
                        dbus_int64_t v = va_arg(ap, int64_t);

                        append_basic(&it, DBUS_TYPE_INT64, &v);
                        break;
                }
                case 'b': {
                        dbus_bool_t v = va_arg(ap, int) ? TRUE : FALSE;

                        append_basic(&it, DBUS_TYPE_BOOLEAN, &v);
                        break;
                }
                case 'y': {
                        unsigned char v = (unsigned char) va_arg(ap, int);

                        append_basic(&it, DBUS_TYPE_BYTE, &v);
                        break;
                }
                case 'A': {
                        const void *data = va_arg(ap, const void *);
                        int len = (int) va_arg(ap, size_t);
                        DBusMessageIter array;

                        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "y",
                                                                   &array));
                        ck_assert(dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE,
                                                                       &data, len));
                        ck_assert(dbus_message_iter_close_container(&it, &array));
                        break;
                }
                case 'D':
                        append_dict(&it, &ap);
                        break;
                default:
                        ck_abort_msg("bad format '%c'", *f);
                }
        }
        va_end(ap);
        return m;
}

/* The usual PutSession arguments around @token. */
static DBusMessage *put_call(const char *context, const char *origin, const char *identity,
                             dbus_uint32_t generation, const void *token, size_t len) {
        return call_build("PutSession", "sssuAxD", context, origin, identity ? identity : "",
                          generation, token, len, (int64_t) time(NULL) + 3600, 0);
}

/* --- sending --- */

/* Sends @m (consumed) and returns the reply, failing the test on an error. */
static DBusMessage *call_ok(DBusMessage *m) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply;
        const char *method = dbus_message_get_member(m);
        char name[64];

        snprintf(name, sizeof(name), "%s", method ? method : "?");
        reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS, &error);
        dbus_message_unref(m);
        ck_assert_msg(reply, "%s failed: %s: %s", name, error.name, error.message);
        return reply;
}

static void call_ok_unref(DBusMessage *m) {
        dbus_message_unref(call_ok(m));
}

/* Sends @m (consumed), expects the error @name and, when @field is not NULL, that its
 * message mentions @field; then checks the daemon still answers. */
static void expect_error_at(int line, DBusMessage *m, const char *name, const char *field) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply;
        char what[512];

        snprintf(what, sizeof(what), "line %d: %s(%s) [%s]", line, dbus_message_get_member(m),
                 dbus_message_get_signature(m), current_case);
        reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS, &error);
        dbus_message_unref(m);
        if (reply)
                dbus_message_unref(reply);
        ck_assert_msg(!reply, "%s succeeded, expected %s", what, name);
        ck_assert_msg(strcmp(error.name, name) == 0, "%s: got %s (%s), expected %s", what,
                      error.name, error.message, name);
        ck_assert_msg(error.message && *error.message, "%s: empty error message", what);
        if (field)
                ck_assert_msg(strstr(error.message, field), "%s: message \"%s\" does not name %s",
                              what, error.message, field);
        dbus_error_free(&error);
        /* Still alive. */
        call_ok_unref(call_new("GetStatistics"));
}

#define expect_error(m, name, field) expect_error_at(__LINE__, (m), (name), (field))

/* Reads a u or t entry @key of the GetStatistics dictionary. */
static uint64_t statistic(const char *key) {
        DBusMessage *reply = call_ok(call_new("GetStatistics"));
        uint64_t value = 0;
        bool found;

        ck_assert_str_eq(dbus_message_get_signature(reply), "a{sv}");
        found = raw_bus_statistic(reply, key, &value);
        dbus_message_unref(reply);
        ck_assert_msg(found, "statistic %s missing", key);
        return value;
}

static dbus_uint32_t generation_of(const char *context, const char *origin) {
        DBusMessage *reply = call_ok(call_build("GetPartition", "ss", context, origin));
        const char *state, *identity, *peer_id;
        dbus_uint32_t generation = 0;

        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &state,
                                        DBUS_TYPE_STRING, &identity, DBUS_TYPE_UINT32,
                                        &generation, DBUS_TYPE_STRING, &peer_id,
                                        DBUS_TYPE_INVALID));
        dbus_message_unref(reply);
        return generation;
}

/* Takes a token; returns its length and copies it to @buf (of @size bytes). */
static int take(const char *context, const char *origin, const char *identity,
                dbus_uint32_t generation, char *buf, size_t size) {
        DBusMessage *reply = call_ok(call_build("TakeSession", "sssu", context, origin,
                                                identity, generation));
        const unsigned char *data = NULL;
        int len = -1;

        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &data,
                                        &len, DBUS_TYPE_INVALID));
        ck_assert_uint_le((size_t) len, size);
        /* An empty array comes back as NULL, which memcpy() must not be given. */
        if (len > 0)
                memcpy(buf, data, (size_t) len);
        dbus_message_unref(reply);
        return len;
}

static void setup(void) {
        test_bus_start();
        conn = test_bus_connect();
        /* Data that must survive everything the tests throw at the daemon. */
        call_ok_unref(call_build("OpenContext", "sD", KEEP_CONTEXT, 1, "label", 's', "Kept"));
        keep_generation = generation_of(KEEP_CONTEXT, ORIGIN);
        call_ok_unref(put_call(KEEP_CONTEXT, ORIGIN, "", keep_generation, KEEP_TOKEN,
                               strlen(KEEP_TOKEN)));
        call_ok_unref(call_build("SetChoice", "ssssD", KEEP_CONTEXT, "kept.example:443", "none",
                                 "", 0));
}

/* The daemon's data is what setup() left. */
static void assert_intact(void) {
        char buf[64];
        int len;

        ck_assert_uint_eq(statistic("tokens"), 1);
        ck_assert_uint_eq(generation_of(KEEP_CONTEXT, ORIGIN), keep_generation);
        len = take(KEEP_CONTEXT, ORIGIN, "", keep_generation, buf, sizeof(buf));
        ck_assert_int_eq(len, (int) strlen(KEEP_TOKEN));
        ck_assert(memcmp(buf, KEEP_TOKEN, (size_t) len) == 0);
}

static void teardown(void) {
        test_bus_disconnect(conn);
        conn = NULL;
        test_bus_stop();
}

/* --- wrong signatures --- */

START_TEST(test_bad_input_wrong_signatures) {
        /* Too few, too many and mistyped arguments, for every method. */
        expect_error(call_build("OpenContext", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("OpenContext", "s", "a/b"), ERR_SIGNATURE, NULL);
        expect_error(call_build("OpenContext", "i", 5), ERR_SIGNATURE, NULL);
        expect_error(call_build("OpenContext", "sDs", "a/b", 0, "extra"), ERR_SIGNATURE, NULL);
        expect_error(call_build("CloseContext", "u", 1), ERR_SIGNATURE, NULL);
        expect_error(call_build("CloseContext", "ss", KEEP_CONTEXT, "x"), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListContexts", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListContexts", "s", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListContexts", "us", 0u, ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("GetPartition", "s", KEEP_CONTEXT), ERR_SIGNATURE, NULL);
        expect_error(call_build("GetPartition", "su", KEEP_CONTEXT, 443), ERR_SIGNATURE, NULL);
        expect_error(call_build("PutSession", "sssuAx", KEEP_CONTEXT, ORIGIN, "", 1, "t",
                                (size_t) 1, (int64_t) 0), ERR_SIGNATURE, NULL);
        /* The token as a string, the generation as an int32, expires as uint32. */
        expect_error(call_build("PutSession", "sssusxD", KEEP_CONTEXT, ORIGIN, "", 1, "t",
                                (int64_t) 0, 0), ERR_SIGNATURE, NULL);
        expect_error(call_build("PutSession", "sssiAxD", KEEP_CONTEXT, ORIGIN, "", 1, "t",
                                (size_t) 1, (int64_t) 0, 0), ERR_SIGNATURE, NULL);
        expect_error(call_build("PutSession", "sssuAuD", KEEP_CONTEXT, ORIGIN, "", 1, "t",
                                (size_t) 1, 0u, 0), ERR_SIGNATURE, NULL);
        expect_error(call_build("TakeSession", "ssss", KEEP_CONTEXT, ORIGIN, "", "1"),
                     ERR_SIGNATURE, NULL);
        expect_error(call_build("TakeSession", "sss", KEEP_CONTEXT, ORIGIN, ""), ERR_SIGNATURE,
                     NULL);
        expect_error(call_build("FlushSessions", "s", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("FlushSessions", "sb", "", 1), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListSessions", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListSessions", "u", 0u), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListSessions", "s", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("ListSessions", "ssi", "", "", 0), ERR_SIGNATURE, NULL);
        expect_error(call_build("SetChoice", "ssss", KEEP_CONTEXT, ORIGIN, "none", ""),
                     ERR_SIGNATURE, NULL);
        expect_error(call_build("SetChoice", "sssbD", KEEP_CONTEXT, ORIGIN, "none", 0, 0),
                     ERR_SIGNATURE, NULL);
        expect_error(call_build("ForgetChoices", "s", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("ForgetChoices", "sss", "", "", ""), ERR_SIGNATURE, NULL);
        expect_error(call_build("GetStatistics", "s", "all"), ERR_SIGNATURE, NULL);
        assert_intact();
}
END_TEST

/* Sends @m (consumed) and expects one of the org.freedesktop.DBus.Error.Unknown* errors. */
static void expect_unknown(DBusMessage *m) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply;

        reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS, &error);
        dbus_message_unref(m);
        ck_assert_ptr_null(reply);
        ck_assert_msg(strncmp(error.name, "org.freedesktop.DBus.Error.Unknown", 34) == 0,
                      "unexpected error %s", error.name);
        dbus_error_free(&error);
}

START_TEST(test_bad_input_unknown_method_and_interface) {
        expect_error(call_build("DropEverything", ""), DBUS_ERROR_UNKNOWN_METHOD, NULL);
        expect_unknown(dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                    "org.tlsid.Manager2", "GetStatistics"));
        expect_unknown(dbus_message_new_method_call(TEST_BUS_NAME, "/org/tlsid/Other",
                                                    TEST_BUS_INTERFACE, "GetStatistics"));
        assert_intact();
}
END_TEST

/* --- bad ids --- */

static const char *const bad_contexts[] = {
        "",                       /* empty is a wildcard only where the contract says so */
        "has space",
        "tab\there",
        "a*b",
        "quote\"",
        "caf\xc3\xa9",            /* valid UTF-8, not in the alphabet */
        /* 129 bytes, one past the longest */
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
};

START_TEST(test_bad_input_bad_context_ids) {
        for (size_t i = 0; i < sizeof(bad_contexts) / sizeof(bad_contexts[0]); i++) {
                const char *c = bad_contexts[i];

                current_case = c;

                expect_error(call_build("OpenContext", "sD", c, 0), ERR_INVALID, "context");
                expect_error(call_build("CloseContext", "s", c), ERR_INVALID, "context");
                expect_error(call_build("GetPartition", "ss", c, ORIGIN), ERR_INVALID, "context");
                expect_error(put_call(c, ORIGIN, "", 1, "t", 1), ERR_INVALID, "context");
                expect_error(call_build("TakeSession", "sssu", c, ORIGIN, "", 1), ERR_INVALID,
                             "context");
                expect_error(call_build("SetChoice", "ssssD", c, ORIGIN, "none", "", 0),
                             ERR_INVALID, "context");
                if (*c) {
                        expect_error(call_build("FlushSessions", "ss", c, ""), ERR_INVALID,
                                     "context");
                        expect_error(call_build("ListSessions", "ssu", c, "", 0u), ERR_INVALID,
                                     "context");
                        expect_error(call_build("ForgetChoices", "ss", c, ""), ERR_INVALID,
                                     "context");
                }
        }
        /* 128 bytes is the longest valid id. */
        {
                char longest[129];

                memset(longest, 'c', 128);
                longest[128] = 0;
                call_ok_unref(call_build("OpenContext", "sD", longest, 0));
                call_ok_unref(call_build("CloseContext", "s", longest));
        }
        assert_intact();
}
END_TEST

static const char *const bad_origins[] = {
        "Example.com:443",        /* upper case is refused, not folded */
        "example.com",            /* no port */
        "example.com:",
        "example.com:0",
        "example.com:65536",
        "example.com:-1",
        "example.com:443x",
        "example.com:0443",
        ":443",
        "2001:db8::1:443",        /* unbracketed IPv6 */
        "[2001:db8::1]",
        "[2001:db8::zz]:443",
        "exa mple.com:443",
        "example..com:443",
        "-example.com:443",
        "example.com.:443",
        "ex_ample.com:443",
        "http://example.com:443",
        "",
};

START_TEST(test_bad_input_bad_origins) {
        for (size_t i = 0; i < sizeof(bad_origins) / sizeof(bad_origins[0]); i++) {
                const char *o = bad_origins[i];

                current_case = o;

                expect_error(call_build("GetPartition", "ss", KEEP_CONTEXT, o), ERR_INVALID,
                             "origin");
                expect_error(put_call(KEEP_CONTEXT, o, "", 1, "t", 1), ERR_INVALID, "origin");
                expect_error(call_build("TakeSession", "sssu", KEEP_CONTEXT, o, "", 1),
                             ERR_INVALID, "origin");
                expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, o, "none", "", 0),
                             ERR_INVALID, "origin");
                if (*o) {
                        expect_error(call_build("FlushSessions", "ss", KEEP_CONTEXT, o),
                                     ERR_INVALID, "origin");
                        expect_error(call_build("ForgetChoices", "ss", "", o), ERR_INVALID,
                                     "origin");
                }
        }
        /* The edges that are valid. */
        generation_of(KEEP_CONTEXT, "example.com:1");
        generation_of(KEEP_CONTEXT, "example.com:65535");
        generation_of(KEEP_CONTEXT, "[2001:db8::1]:443");
        generation_of(KEEP_CONTEXT, "192.0.2.1:443");
        generation_of(KEEP_CONTEXT, "xn--bcher-kva.example:443");
        assert_intact();
}
END_TEST

static const char *const bad_identities[] = {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* upper case */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  /* 63 */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ("aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:"
         "aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa:aa"),                /* tlsidctl's form */
        "none",
};

START_TEST(test_bad_input_bad_identities_and_states) {
        for (size_t i = 0; i < sizeof(bad_identities) / sizeof(bad_identities[0]); i++) {
                const char *id = bad_identities[i];

                current_case = id;

                expect_error(put_call(KEEP_CONTEXT, ORIGIN, id, keep_generation, "t", 1),
                             ERR_INVALID, "identity");
                expect_error(call_build("TakeSession", "sssu", KEEP_CONTEXT, ORIGIN, id,
                                        keep_generation), ERR_INVALID, "identity");
                expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN,
                                        "certificate", id, 0), ERR_INVALID, "identity");
        }
        /* certificate needs a fingerprint; the other states take none. */
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "certificate", "", 0),
                     ERR_INVALID, "identity");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "none", FP_A, 0),
                     ERR_INVALID, "identity");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "undecided", FP_A, 0),
                     ERR_INVALID, "identity");
        /* Bad states. */
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "maybe", "", 0),
                     ERR_INVALID, "state");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "", "", 0),
                     ERR_INVALID, "state");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "NONE", "", 0),
                     ERR_INVALID, "state");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "Certificate", FP_A,
                                0), ERR_INVALID, "state");
        assert_intact();
}
END_TEST

/* --- tokens --- */

START_TEST(test_bad_input_token_sizes) {
        size_t max = 64 * 1024;
        unsigned char *big = malloc(max + 1);
        char buf[64];

        memset(big, 0x5a, max + 1);
        expect_error(put_call(KEEP_CONTEXT, ORIGIN, "", keep_generation, big, max + 1),
                     ERR_INVALID, "token");
        expect_error(put_call(KEEP_CONTEXT, ORIGIN, "", keep_generation, big, 0), ERR_INVALID,
                     "token");
        /* Nothing was stored by the refused puts. */
        ck_assert_uint_eq(statistic("tokens"), 1);

        /* Exactly 64 KiB is fine, in another partition. */
        call_ok_unref(put_call(KEEP_CONTEXT, "big.example:443", "", 1, big, max));
        {
                dbus_uint32_t gen = generation_of(KEEP_CONTEXT, "big.example:443");
                DBusMessage *reply = call_ok(call_build("TakeSession", "sssu", KEEP_CONTEXT,
                                                        "big.example:443", "", gen));
                const unsigned char *data;
                int len = 0;

                ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE,
                                                &data, &len, DBUS_TYPE_INVALID));
                ck_assert_int_eq(len, (int) max);
                ck_assert(memcmp(data, big, max) == 0);
                dbus_message_unref(reply);
        }
        /* A taken-empty partition answers with an empty array. */
        ck_assert_int_eq(take(KEEP_CONTEXT, "big.example:443", "",
                              generation_of(KEEP_CONTEXT, "big.example:443"), buf, sizeof(buf)),
                         0);
        free(big);
        assert_intact();
}
END_TEST

/* --- options --- */

START_TEST(test_bad_input_unknown_and_mistyped_options) {
        char long_label[258], long_alpn[257];

        memset(long_label, 'l', 257);
        long_label[257] = 0;
        memset(long_alpn, 'a', 256);
        long_alpn[256] = 0;

        expect_error(call_build("OpenContext", "sD", "opt/a", 1, "bogus", 'b', 1), ERR_INVALID,
                     "bogus");
        expect_error(call_build("OpenContext", "sD", "opt/a", 1, "ephemeral", 's', "yes"),
                     ERR_INVALID, "ephemeral");
        expect_error(call_build("OpenContext", "sD", "opt/a", 1, "ephemeral", 'u', 1u),
                     ERR_INVALID, "ephemeral");
        expect_error(call_build("OpenContext", "sD", "opt/a", 1, "label", 'u', 3u), ERR_INVALID,
                     "label");
        expect_error(call_build("OpenContext", "sD", "opt/a", 1, "label", 's', long_label),
                     ERR_INVALID, "label");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "none", "", 1,
                                "remember2", 'b', 1), ERR_INVALID, "remember2");
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, ORIGIN, "none", "", 1,
                                "remember", 's', "true"), ERR_INVALID, "remember");
        expect_error(call_build("PutSession", "sssuAxD", KEEP_CONTEXT, ORIGIN, "",
                                keep_generation, "t", (size_t) 1, (int64_t) time(NULL) + 60, 1,
                                "compression", 's', "zlib"), ERR_INVALID, "compression");
        expect_error(call_build("PutSession", "sssuAxD", KEEP_CONTEXT, ORIGIN, "",
                                keep_generation, "t", (size_t) 1, (int64_t) time(NULL) + 60, 1,
                                "tls_version", 'u', 0x0304u), ERR_INVALID, "tls_version");
        expect_error(call_build("PutSession", "sssuAxD", KEEP_CONTEXT, ORIGIN, "",
                                keep_generation, "t", (size_t) 1, (int64_t) time(NULL) + 60, 1,
                                "alpn", 'b', 1), ERR_INVALID, "alpn");
        expect_error(call_build("PutSession", "sssuAxD", KEEP_CONTEXT, ORIGIN, "",
                                keep_generation, "t", (size_t) 1, (int64_t) time(NULL) + 60, 1,
                                "alpn", 's', long_alpn), ERR_INVALID, "alpn");
        /* None of the refused opens opened anything. */
        ck_assert_uint_eq(statistic("contexts"), 1);
        /* The well-formed versions work. */
        call_ok_unref(call_build("OpenContext", "sD", "opt/a", 2, "ephemeral", 'b', 0, "label",
                                 's', "A label"));
        call_ok_unref(call_build("PutSession", "sssuAxD", KEEP_CONTEXT, "opt.example:443", "",
                                 generation_of(KEEP_CONTEXT, "opt.example:443"), "t", (size_t) 1,
                                 (int64_t) time(NULL) + 60, 2, "tls_version", 'q', 0x0304, "alpn",
                                 's', "h2"));
        /* Reopening with another ephemeral value is refused. */
        expect_error(call_build("OpenContext", "sD", "opt/a", 1, "ephemeral", 'b', 1),
                     ERR_INVALID, "ephemeral");
        call_ok_unref(call_build("FlushSessions", "ss", KEEP_CONTEXT, "opt.example:443"));
        assert_intact();
}
END_TEST

/* --- list cursors --- */

START_TEST(test_bad_input_list_cursors) {
        static const char *const bad_session_cursors[] = {
                "garbage", KEEP_CONTEXT, KEEP_CONTEXT " ", " " ORIGIN, "bad id " ORIGIN,
                KEEP_CONTEXT " example.com", KEEP_CONTEXT " " ORIGIN " ",
        };

        for (size_t i = 0; i < sizeof(bad_session_cursors) / sizeof(bad_session_cursors[0]);
             i++) {
                current_case = bad_session_cursors[i];
                expect_error(call_build("ListSessions", "ssu", "", bad_session_cursors[i], 0u),
                             ERR_INVALID, "cursor");
                expect_error(call_build("ListSessions", "ssu", KEEP_CONTEXT,
                                        bad_session_cursors[i], 0u),
                             ERR_INVALID, "cursor");
        }
        current_case = "";
        /* Another context's cursor, and what is not a context id. */
        expect_error(call_build("ListSessions", "ssu", KEEP_CONTEXT, "other/ctx " ORIGIN, 1u),
                     ERR_INVALID, "another context");
        expect_error(call_build("ListContexts", "su", "bad id", 0u), ERR_INVALID, "cursor");
        expect_error(call_build("ListContexts", "su", KEEP_CONTEXT " " ORIGIN, 0u), ERR_INVALID,
                     "cursor");
        /* A well-formed cursor past everything, or naming what is gone, is a page. */
        call_ok_unref(call_build("ListSessions", "ssu", "", "zzz " ORIGIN, 0u));
        call_ok_unref(call_build("ListSessions", "ssu", KEEP_CONTEXT, KEEP_CONTEXT " a.b:1",
                                 (unsigned) UINT32_MAX));
        call_ok_unref(call_build("ListContexts", "su", "gone/ctx", 1u));
        assert_intact();
}
END_TEST

/* --- unknown contexts --- */

START_TEST(test_bad_input_unknown_contexts) {
        const char *c = "not/open";

        expect_error(call_build("CloseContext", "s", c), ERR_NO_CONTEXT, NULL);
        expect_error(call_build("GetPartition", "ss", c, ORIGIN), ERR_NO_CONTEXT, NULL);
        expect_error(put_call(c, ORIGIN, "", 1, "t", 1), ERR_NO_CONTEXT, NULL);
        expect_error(call_build("TakeSession", "sssu", c, ORIGIN, "", 1), ERR_NO_CONTEXT, NULL);
        expect_error(call_build("FlushSessions", "ss", c, ""), ERR_NO_CONTEXT, NULL);
        expect_error(call_build("FlushSessions", "ss", c, ORIGIN), ERR_NO_CONTEXT, NULL);
        expect_error(call_build("ListSessions", "ssu", c, "", 0u), ERR_NO_CONTEXT, NULL);
        expect_error(call_build("SetChoice", "ssssD", c, ORIGIN, "none", "", 0), ERR_NO_CONTEXT,
                     NULL);
        expect_error(call_build("ForgetChoices", "ss", c, ""), ERR_NO_CONTEXT, NULL);
        /* A closed context is unknown again. */
        call_ok_unref(call_build("OpenContext", "sD", "was/open", 0));
        call_ok_unref(call_build("CloseContext", "s", "was/open"));
        expect_error(call_build("GetPartition", "ss", "was/open", ORIGIN), ERR_NO_CONTEXT, NULL);
        /* The wildcards are not unknown contexts. */
        call_ok_unref(call_build("FlushSessions", "ss", "", "nothing.example:443"));
        call_ok_unref(call_build("ListSessions", "ssu", "", "", 0u));
        call_ok_unref(call_build("ForgetChoices", "ss", "", "nothing.example:443"));
        assert_intact();
}
END_TEST

START_TEST(test_bad_input_limits) {
        /* A restarted daemon reads the new limits. */
        test_bus_write_daemon_config("[limits]\nmax_origins_per_context=2\nmax_contexts=3\n");
        test_bus_restart_daemon();
        call_ok_unref(call_build("OpenContext", "sD", KEEP_CONTEXT, 0));
        call_ok_unref(call_build("SetChoice", "ssssD", KEEP_CONTEXT, "a.example:443", "none", "",
                                 0));
        call_ok_unref(put_call(KEEP_CONTEXT, "b.example:443", "",
                               generation_of(KEEP_CONTEXT, "b.example:443"), "t", 1));
        ck_assert_uint_eq(statistic("tokens"), 1);
        expect_error(call_build("SetChoice", "ssssD", KEEP_CONTEXT, "c.example:443", "none", "",
                                0), ERR_LIMIT, NULL);
        expect_error(put_call(KEEP_CONTEXT, "c.example:443", "",
                              generation_of(KEEP_CONTEXT, "c.example:443"), "t", 1),
                     ERR_LIMIT, NULL);
        /* Existing origins are still served. */
        call_ok_unref(call_build("SetChoice", "ssssD", KEEP_CONTEXT, "b.example:443", "none", "",
                                 0));
        call_ok_unref(call_build("OpenContext", "sD", "limit/2", 0));
        call_ok_unref(call_build("OpenContext", "sD", "limit/3", 0));
        expect_error(call_build("OpenContext", "sD", "limit/4", 0), ERR_LIMIT, NULL);
        ck_assert_uint_eq(statistic("contexts"), 3);
}
END_TEST

/* The global memory cap: past max_memory a call is refused with LimitExceeded naming it,
 * the daemon keeps serving what it holds, and room made by a flush is usable again. */
START_TEST(test_bad_input_memory_cap) {
        static char token[16384];
        unsigned stored = 0;
        DBusMessage *refused = NULL;

        test_bus_write_daemon_config("[limits]\nmax_memory=256K\nmax_token_bytes=64M\n");
        test_bus_restart_daemon();
        ck_assert_uint_eq(statistic("memory_cap"), 256 * 1024);
        call_ok_unref(call_build("OpenContext", "sD", KEEP_CONTEXT, 0));
        call_ok_unref(put_call(KEEP_CONTEXT, ORIGIN, "", generation_of(KEEP_CONTEXT, ORIGIN),
                               KEEP_TOKEN, strlen(KEEP_TOKEN)));
        keep_generation = generation_of(KEEP_CONTEXT, ORIGIN);
        memset(token, 0x5a, sizeof(token));
        /* 16 KiB tokens in partitions of their own until one is refused: under the
         * default cap all of them (within max_token_bytes) would be stored. */
        for (; stored < 64; stored++) {
                char origin[64];
                DBusMessage *m, *reply;
                DBusError error = DBUS_ERROR_INIT;

                snprintf(origin, sizeof(origin), "o%u.cap.example:443", stored);
                m = put_call(KEEP_CONTEXT, origin, "", generation_of(KEEP_CONTEXT, origin),
                             token, sizeof(token));
                reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                  &error);
                if (!reply) {
                        ck_assert_str_eq(error.name, ERR_LIMIT);
                        ck_assert_msg(strstr(error.message, "max_memory"),
                                      "\"%s\" does not name max_memory", error.message);
                        dbus_error_free(&error);
                        refused = m;
                        break;
                }
                dbus_message_unref(reply);
                dbus_message_unref(m);
        }
        ck_assert_msg(refused, "64 tokens of 16 KiB stored under max_memory=256K");
        dbus_message_unref(refused);
        ck_assert_uint_ge(stored, 8);
        ck_assert_uint_le(statistic("memory_used"), 256 * 1024);
        ck_assert_uint_eq(statistic("tokens"), stored + 1);
        /* Other kinds of state are refused the same way: contexts until one is. */
        for (unsigned i = 0;; i++) {
                char context[64];
                DBusMessage *m, *reply;
                DBusError error = DBUS_ERROR_INIT;

                ck_assert_uint_lt(i, 1000);
                snprintf(context, sizeof(context), "cap/%u", i);
                m = call_build("OpenContext", "sD", context, 0);
                reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                  &error);
                dbus_message_unref(m);
                if (reply) {
                        dbus_message_unref(reply);
                        continue;
                }
                ck_assert_str_eq(error.name, ERR_LIMIT);
                ck_assert_msg(strstr(error.message, "max_memory"), "%s", error.message);
                dbus_error_free(&error);
                break;
        }
        ck_assert_uint_le(statistic("memory_used"), 256 * 1024);

        /* What it holds is intact; a flush makes room again. */
        ck_assert_uint_eq(generation_of(KEEP_CONTEXT, ORIGIN), keep_generation);
        {
                char buf[64];
                int len = take(KEEP_CONTEXT, ORIGIN, "", keep_generation, buf, sizeof(buf));

                ck_assert_int_eq(len, (int) strlen(KEEP_TOKEN));
                ck_assert(memcmp(buf, KEEP_TOKEN, (size_t) len) == 0);
        }
        call_ok_unref(call_build("FlushSessions", "ss", KEEP_CONTEXT, ""));
        call_ok_unref(put_call(KEEP_CONTEXT, "after.cap.example:443", "",
                               generation_of(KEEP_CONTEXT, "after.cap.example:443"), token,
                               sizeof(token)));
        ck_assert_uint_eq(statistic("tokens"), 1);
}
END_TEST

/* --- delivery modes and standard interfaces --- */

START_TEST(test_bad_input_put_without_reply) {
        DBusMessage *m = put_call(KEEP_CONTEXT, "noreply.example:443", "",
                                  generation_of(KEEP_CONTEXT, "noreply.example:443"), "nr-token",
                                  8);
        DBusMessage *bad = put_call("not/open", ORIGIN, "", 1, "t", 1);
        char buf[64];

        dbus_message_set_no_reply(m, TRUE);
        dbus_message_set_no_reply(bad, TRUE);
        /* A failing no-reply put makes no error reply, and nothing breaks. */
        ck_assert(dbus_connection_send(conn, bad, NULL));
        ck_assert(dbus_connection_send(conn, m, NULL));
        dbus_message_unref(bad);
        dbus_message_unref(m);
        /* Calls on one connection are handled in order: the put is in before the take. */
        ck_assert_int_eq(take(KEEP_CONTEXT, "noreply.example:443", "",
                              generation_of(KEEP_CONTEXT, "noreply.example:443"), buf,
                              sizeof(buf)), 8);
        ck_assert(memcmp(buf, "nr-token", 8) == 0);
        /* Nothing else arrived: no error reply to the failed put. */
        {
                DBusMessage *extra;

                dbus_connection_read_write(conn, 0);
                while ((extra = dbus_connection_pop_message(conn))) {
                        ck_assert_msg(dbus_message_get_type(extra) != DBUS_MESSAGE_TYPE_ERROR,
                                      "unexpected error reply %s",
                                      dbus_message_get_error_name(extra));
                        dbus_message_unref(extra);
                }
        }
        assert_intact();
}
END_TEST

START_TEST(test_bad_input_introspect_and_peer) {
        DBusMessage *m, *reply;
        const char *xml = NULL;

        m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                         DBUS_INTERFACE_INTROSPECTABLE, "Introspect");
        reply = call_ok(m);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID));
        ck_assert_ptr_nonnull(strstr(xml, "<interface name=\"org.tlsid.Manager1\">"));
        ck_assert_ptr_nonnull(strstr(xml, "<method name=\"PutSession\">"));
        ck_assert_ptr_nonnull(strstr(xml, "<signal name=\"IdentityChanged\">"));
        dbus_message_unref(reply);

        m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH, DBUS_INTERFACE_PEER,
                                         "Ping");
        call_ok_unref(m);
        /* Introspect takes no arguments. */
        m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                         DBUS_INTERFACE_INTROSPECTABLE, "Introspect");
        {
                const char *arg = "x";

                dbus_message_append_args(m, DBUS_TYPE_STRING, &arg, DBUS_TYPE_INVALID);
        }
        expect_error(m, ERR_SIGNATURE, NULL);
        assert_intact();
}
END_TEST

/* --- access --- */

/* The daemon holds tokens and the token key: no core dump, no ptrace by the user's other
 * processes. */
START_TEST(test_bad_input_daemon_is_not_dumpable) {
        ck_assert_uint_eq(statistic("dumpable"), 0);
}
END_TEST

START_TEST(test_bad_input_other_uid_is_denied) {
        pid_t pid;
        int status;

        if (geteuid() != 0) {
                printf("test_bad_input_other_uid_is_denied: skipped, needs root to switch to "
                       "uid 65534\n");
                return;
        }
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                DBusError error = DBUS_ERROR_INIT;
                DBusConnection *c;
                DBusMessage *m, *reply;

                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(10);
                c = dbus_connection_open_private(test_bus_address(), &error);
                if (!c || !dbus_bus_register(c, &error)) {
                        fprintf(stderr, "nobody: connect: %s\n", error.message);
                        _exit(11);
                }
                m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                 TEST_BUS_INTERFACE, "GetStatistics");
                reply = dbus_connection_send_with_reply_and_block(c, m, CALL_TIMEOUT_MS, &error);
                if (reply) {
                        fprintf(stderr, "nobody: GetStatistics succeeded\n");
                        _exit(12);
                }
                if (strcmp(error.name, ERR_ACCESS) != 0) {
                        fprintf(stderr, "nobody: got %s: %s\n", error.name, error.message);
                        _exit(13);
                }
                dbus_error_free(&error);
                /* Nor can it change anything. */
                m = call_build("FlushSessions", "ss", "", "");
                reply = dbus_connection_send_with_reply_and_block(c, m, CALL_TIMEOUT_MS, &error);
                if (reply || strcmp(error.name, ERR_ACCESS) != 0)
                        _exit(14);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child as uid 65534 failed: status 0x%x", status);
        assert_intact();
}
END_TEST

/* Connections of another uid cannot take the caller slots the owner needs: the daemon
 * keeps no slot for a caller it refused. With max_senders 4, six foreign connections that
 * called and stay connected, then the owner's new connection: it is served. */
static void setup_few_senders(void) {
        test_bus_start();
        test_bus_write_daemon_config("[daemon]\nmax_senders = 4\n");
        conn = test_bus_connect();
}

START_TEST(test_bad_input_other_uid_cannot_take_the_owner_slots) {
        int ready[2], done[2];
        pid_t pid;
        char byte;
        int status;

        if (geteuid() != 0) {
                printf("test_bad_input_other_uid_cannot_take_the_owner_slots: skipped, needs "
                       "root to switch to uid 65534\n");
                return;
        }
        /* The daemon is running, with its limits, before the others connect. */
        call_ok_unref(call_build("GetStatistics", ""));
        ck_assert_int_eq(pipe(ready), 0);
        ck_assert_int_eq(pipe(done), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                DBusConnection *c[6];

                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(10);
                for (int i = 0; i < 6; i++) {
                        DBusError error = DBUS_ERROR_INIT;
                        DBusMessage *m, *reply;

                        c[i] = dbus_connection_open_private(test_bus_address(), &error);
                        if (!c[i] || !dbus_bus_register(c[i], &error))
                                _exit(11);
                        m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                         TEST_BUS_INTERFACE, "GetStatistics");
                        reply = dbus_connection_send_with_reply_and_block(c[i], m,
                                                                          CALL_TIMEOUT_MS,
                                                                          &error);
                        if (reply)
                                _exit(12);
                        dbus_error_free(&error);
                        dbus_message_unref(m);
                }
                /* Connected, each having called: the owner goes now. */
                if (write(ready[1], "r", 1) != 1 || read(done[0], &byte, 1) != 1)
                        _exit(13);
                _exit(0);
        }
        ck_assert_int_eq(read(ready[0], &byte, 1), 1);
        {
                DBusConnection *owner = test_bus_connect();
                DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                              TEST_BUS_INTERFACE,
                                                              "GetStatistics");
                DBusError error = DBUS_ERROR_INIT;
                DBusMessage *reply = dbus_connection_send_with_reply_and_block(owner, m,
                                                                               CALL_TIMEOUT_MS,
                                                                               &error);

                ck_assert_msg(reply, "the owner was refused: %s: %s", error.name,
                              error.message);
                dbus_message_unref(reply);
                dbus_message_unref(m);
                dbus_connection_close(owner);
                dbus_connection_unref(owner);
        }
        ck_assert_int_eq(write(done[1], "d", 1), 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child as uid 65534 failed: status 0x%x", status);
}
END_TEST

static Suite *bad_input_suite(void) {
        Suite *s = suite_create("bad-input");
        TCase *tc = tcase_create("bad-input");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_bad_input_wrong_signatures);
        tcase_add_test(tc, test_bad_input_unknown_method_and_interface);
        tcase_add_test(tc, test_bad_input_bad_context_ids);
        tcase_add_test(tc, test_bad_input_bad_origins);
        tcase_add_test(tc, test_bad_input_bad_identities_and_states);
        tcase_add_test(tc, test_bad_input_token_sizes);
        tcase_add_test(tc, test_bad_input_unknown_and_mistyped_options);
        tcase_add_test(tc, test_bad_input_list_cursors);
        tcase_add_test(tc, test_bad_input_unknown_contexts);
        tcase_add_test(tc, test_bad_input_limits);
        tcase_add_test(tc, test_bad_input_memory_cap);
        tcase_add_test(tc, test_bad_input_put_without_reply);
        tcase_add_test(tc, test_bad_input_daemon_is_not_dumpable);
        tcase_add_test(tc, test_bad_input_introspect_and_peer);
        tcase_add_test(tc, test_bad_input_other_uid_is_denied);
        suite_add_tcase(s, tc);

        tc = tcase_create("few-senders");
        tcase_add_checked_fixture(tc, setup_few_senders, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_bad_input_other_uid_cannot_take_the_owner_slots);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(bad_input_suite(), CK_FORK);
}
