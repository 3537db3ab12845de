/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writes the seed corpus of fuzz-dispatch: each seed is a few D-Bus messages in wire
 * format (dbus_message_marshal()), one after the other, such as a client would send to
 * org.tlsid.Manager1: every method with valid arguments and with the mistakes each
 * handler refuses, properties, introspection, and messages the daemon must not trust
 * on a peer-to-peer connection. The corpus is checked in; this program says how it was
 * made. Usage: dispatch-seeds DIRECTORY */
#include <dbus/dbus.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interface.h"

/* A self-signed P-256 client certificate (CN=alice, O=Example Org, clientAuth, valid
 * until 2126), made with openssl req -x509; its identity is IDENTITY. */
static const char cert_der[] =
        "\x30\x82\x01\xc5\x30\x82\x01\x6b\xa0\x03\x02\x01\x02\x02\x14\x33"
        "\xef\x0e\xd5\xff\x64\xe2\xc8\x01\x1c\x0a\x12\x36\x30\xd4\x6b\x7e"
        "\xfa\xe1\xf3\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02\x30"
        "\x26\x31\x0e\x30\x0c\x06\x03\x55\x04\x03\x0c\x05\x61\x6c\x69\x63"
        "\x65\x31\x14\x30\x12\x06\x03\x55\x04\x0a\x0c\x0b\x45\x78\x61\x6d"
        "\x70\x6c\x65\x20\x4f\x72\x67\x30\x20\x17\x0d\x32\x36\x31\x32\x30"
        "\x31\x32\x32\x33\x34\x31\x37\x5a\x18\x0f\x32\x31\x32\x36\x31\x31"
        "\x30\x37\x32\x32\x33\x34\x31\x37\x5a\x30\x26\x31\x0e\x30\x0c\x06"
        "\x03\x55\x04\x03\x0c\x05\x61\x6c\x69\x63\x65\x31\x14\x30\x12\x06"
        "\x03\x55\x04\x0a\x0c\x0b\x45\x78\x61\x6d\x70\x6c\x65\x20\x4f\x72"
        "\x67\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08"
        "\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00\x04\xd9\xe3\x21\x36"
        "\x84\x5c\xf7\x24\x32\x9b\x39\x4b\x44\x7a\xed\x3b\xcd\x18\x7c\x06"
        "\x8b\x57\x31\x76\x80\x7d\x2f\x14\x43\xaa\x42\xbf\x71\xdf\xcd\x07"
        "\xd8\xe7\x35\x92\x8d\x06\x43\xe7\xad\x96\x0e\x4b\x5b\xc6\xca\x63"
        "\xbd\x03\x5c\xad\x87\x41\x49\xf7\xe5\xfa\x28\xea\xa3\x75\x30\x73"
        "\x30\x1d\x06\x03\x55\x1d\x0e\x04\x16\x04\x14\x27\x6c\x44\xaa\xf7"
        "\xa5\x00\x42\xcc\x4e\xc9\xcb\xa1\x14\x0a\xb6\xfe\x3b\xe4\x50\x30"
        "\x1f\x06\x03\x55\x1d\x23\x04\x18\x30\x16\x80\x14\x27\x6c\x44\xaa"
        "\xf7\xa5\x00\x42\xcc\x4e\xc9\xcb\xa1\x14\x0a\xb6\xfe\x3b\xe4\x50"
        "\x30\x13\x06\x03\x55\x1d\x25\x04\x0c\x30\x0a\x06\x08\x2b\x06\x01"
        "\x05\x05\x07\x03\x02\x30\x0e\x06\x03\x55\x1d\x0f\x01\x01\xff\x04"
        "\x04\x03\x02\x07\x80\x30\x0c\x06\x03\x55\x1d\x13\x01\x01\xff\x04"
        "\x02\x30\x00\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02\x03"
        "\x48\x00\x30\x45\x02\x20\x63\xb5\xef\x5e\x84\x03\xc1\x11\xee\x77"
        "\x3a\xc6\xd3\x81\x32\x71\x35\x9f\x51\x06\x17\x73\xc5\x2a\x60\xbb"
        "\xad\x6c\x10\x20\x0f\xef\x02\x21\x00\xfe\xc2\xb7\xf1\xd4\xe4\x4c"
        "\xd5\x8f\x0e\xc5\x15\x87\x66\x00\xf4\xd3\xc6\x19\xbb\xd5\xb4\xcb"
        "\xd4\x75\xde\xa0\xdf\xf0\x72\xd6\x57";
#define IDENTITY "da6040ccff5d890d19cf78128f0a94fda951e13416212ff34f384844e1269cb2"
#define OTHER_IDENTITY "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"

static void check(dbus_bool_t ok) {
        if (!ok) {
                fprintf(stderr, "out of memory\n");
                exit(EXIT_FAILURE);
        }
}

static DBusMessage *call_on(const char *path, const char *interface, const char *method) {
        DBusMessage *m = dbus_message_new_method_call(NULL, path, interface, method);

        check(m != NULL);
        return m;
}

static DBusMessage *call(const char *method) {
        return call_on(TLSID_OBJECT_PATH, TLSID_INTERFACE, method);
}

static void add_string(DBusMessageIter *it, const char *s) {
        check(dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &s));
}

static void add_bytes(DBusMessageIter *it, const void *data, int len) {
        DBusMessageIter array;

        check(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "y", &array));
        check(dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &data, len));
        check(dbus_message_iter_close_container(it, &array));
}

/* Opens the variant of a{sv} entry @key; close with end_entry(). */
static void begin_entry(DBusMessageIter *dict, DBusMessageIter *entry, DBusMessageIter *variant,
                        const char *key, const char *signature) {
        check(dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, entry));
        add_string(entry, key);
        check(dbus_message_iter_open_container(entry, DBUS_TYPE_VARIANT, signature, variant));
}

static void end_entry(DBusMessageIter *dict, DBusMessageIter *entry, DBusMessageIter *variant) {
        check(dbus_message_iter_close_container(entry, variant));
        check(dbus_message_iter_close_container(dict, entry));
}

/* Appends {@key: <@value>} of the basic @type. */
static void add_entry(DBusMessageIter *dict, const char *key, int type, const void *value) {
        DBusMessageIter entry, variant;
        const char signature[2] = { (char) type, 0 };

        begin_entry(dict, &entry, &variant, key, signature);
        check(dbus_message_iter_append_basic(&variant, type, value));
        end_entry(dict, &entry, &variant);
}

static void add_bytes_entry(DBusMessageIter *dict, const char *key, const void *data, int len) {
        DBusMessageIter entry, variant;

        begin_entry(dict, &entry, &variant, key, "ay");
        add_bytes(&variant, data, len);
        end_entry(dict, &entry, &variant);
}

static void open_dict(DBusMessageIter *it, DBusMessageIter *dict) {
        check(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "{sv}", dict));
}

static void close_dict(DBusMessageIter *it, DBusMessageIter *dict) {
        check(dbus_message_iter_close_container(it, dict));
}

/* @method with (s context, s origin); more arguments may follow. */
static DBusMessage *call_context_origin(const char *method, const char *context,
                                        const char *origin) {
        DBusMessage *m = call(method);
        DBusMessageIter it;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, context);
        add_string(&it, origin);
        return m;
}

/* ListContexts(cursor, limit), or ListSessions(context, cursor, limit) with a context. */
static DBusMessage *list_page(const char *method, const char *context, const char *cursor,
                              dbus_uint32_t limit) {
        DBusMessage *m = call(method);
        DBusMessageIter it;

        dbus_message_iter_init_append(m, &it);
        if (context)
                add_string(&it, context);
        add_string(&it, cursor);
        check(dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &limit));
        return m;
}

static DBusMessage *call_string(const char *method, const char *s) {
        DBusMessage *m = call(method);
        DBusMessageIter it;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, s);
        return m;
}

static DBusMessage *open_context(const char *context, const char *label, int ephemeral) {
        DBusMessage *m = call("OpenContext");
        DBusMessageIter it, dict;
        dbus_bool_t b = ephemeral > 0;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, context);
        open_dict(&it, &dict);
        if (label)
                add_entry(&dict, "label", DBUS_TYPE_STRING, &label);
        if (ephemeral >= 0)
                add_entry(&dict, "ephemeral", DBUS_TYPE_BOOLEAN, &b);
        close_dict(&it, &dict);
        return m;
}

/* OpenContext("tab-3", {@key: <@value>}), the entry @times over. */
static DBusMessage *open_with_option(const char *key, int type, const void *value, int times) {
        DBusMessage *m = call("OpenContext");
        DBusMessageIter it, dict;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, "tab-3");
        open_dict(&it, &dict);
        for (int i = 0; i < times; i++)
                add_entry(&dict, key, type, value);
        close_dict(&it, &dict);
        return m;
}

static DBusMessage *put_session(const char *context, const char *origin, const char *identity,
                                dbus_uint32_t generation, const char *token, dbus_int64_t expires,
                                dbus_uint16_t tls_version, const char *alpn) {
        DBusMessage *m = call("PutSession");
        DBusMessageIter it, dict;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, context);
        add_string(&it, origin);
        add_string(&it, identity);
        check(dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &generation));
        add_bytes(&it, token, (int) strlen(token));
        check(dbus_message_iter_append_basic(&it, DBUS_TYPE_INT64, &expires));
        open_dict(&it, &dict);
        if (tls_version)
                add_entry(&dict, "tls_version", DBUS_TYPE_UINT16, &tls_version);
        if (alpn)
                add_entry(&dict, "alpn", DBUS_TYPE_STRING, &alpn);
        close_dict(&it, &dict);
        return m;
}

static DBusMessage *take_session(const char *context, const char *origin, const char *identity,
                                 dbus_uint32_t generation) {
        DBusMessage *m = call("TakeSession");
        DBusMessageIter it;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, context);
        add_string(&it, origin);
        add_string(&it, identity);
        check(dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &generation));
        return m;
}

static DBusMessage *set_choice(const char *context, const char *origin, const char *state,
                               const char *identity, int remember) {
        DBusMessage *m = call("SetChoice");
        DBusMessageIter it, dict;
        dbus_bool_t b = remember > 0;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, context);
        add_string(&it, origin);
        add_string(&it, state);
        add_string(&it, identity);
        open_dict(&it, &dict);
        if (remember >= 0)
                add_entry(&dict, "remember", DBUS_TYPE_BOOLEAN, &b);
        close_dict(&it, &dict);
        return m;
}

/* A CertificateRequest a{sv} with every key; the CA names (which the certificate does not
 * match) only when @ca_names. */
static void add_request(DBusMessageIter *it, gboolean ca_names) {
        static const char ca_name[] = "\x30\x16\x31\x14\x30\x12\x06\x03\x55\x04\x03\x0c\x0b"
                                      "Example CA";
        static const char certificate_types[] = { 1, 64 };
        static const dbus_uint16_t schemes[] = { 0x0403, 0x0804, 0x0401, 0x0807 };
        static const char eku_oid[] = "\x55\x1d\x25";
        static const char eku_client[] = "\x30\x0a\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x02";
        DBusMessageIter dict, entry, variant, array, pair;
        const dbus_uint16_t *s = schemes;
        dbus_uint16_t tls_version = 0x0304, cipher_suite = 0x1301;
        dbus_uint32_t generation = 1;
        dbus_bool_t post_handshake = FALSE;

        open_dict(it, &dict);
        add_entry(&dict, "tls_version", DBUS_TYPE_UINT16, &tls_version);
        if (ca_names) {
                begin_entry(&dict, &entry, &variant, "ca_names", "aay");
                check(dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, "ay",
                                                       &array));
                add_bytes(&array, ca_name, (int) sizeof ca_name - 1);
                check(dbus_message_iter_close_container(&variant, &array));
                end_entry(&dict, &entry, &variant);
        }
        add_bytes_entry(&dict, "certificate_types", certificate_types, 2);
        begin_entry(&dict, &entry, &variant, "signature_schemes", "aq");
        check(dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, "q", &array));
        check(dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_UINT16, &s, 4));
        check(dbus_message_iter_close_container(&variant, &array));
        end_entry(&dict, &entry, &variant);
        begin_entry(&dict, &entry, &variant, "oid_filters", "a(ayay)");
        check(dbus_message_iter_open_container(&variant, DBUS_TYPE_ARRAY, "(ayay)", &array));
        check(dbus_message_iter_open_container(&array, DBUS_TYPE_STRUCT, NULL, &pair));
        add_bytes(&pair, eku_oid, 3);
        add_bytes(&pair, eku_client, (int) sizeof eku_client - 1);
        check(dbus_message_iter_close_container(&array, &pair));
        check(dbus_message_iter_close_container(&variant, &array));
        end_entry(&dict, &entry, &variant);
        add_bytes_entry(&dict, "server_certificate", cert_der, (int) sizeof cert_der - 1);
        add_entry(&dict, "cipher_suite", DBUS_TYPE_UINT16, &cipher_suite);
        add_entry(&dict, "post_handshake", DBUS_TYPE_BOOLEAN, &post_handshake);
        add_entry(&dict, "renegotiation", DBUS_TYPE_BOOLEAN, &post_handshake);
        add_entry(&dict, "generation", DBUS_TYPE_UINT32, &generation);
        close_dict(it, &dict);
}

/* Candidates a(ayaaya{sv}): the certificate with no chain, and @garbage bytes as a second
 * one when given. */
static void add_candidates(DBusMessageIter *it, const char *garbage) {
        DBusMessageIter array, candidate, chain, dict;
        const char *nickname = "alice's key";

        check(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &array));
        for (int i = 0; i < (garbage ? 2 : 1); i++) {
                check(dbus_message_iter_open_container(&array, DBUS_TYPE_STRUCT, NULL,
                                                       &candidate));
                if (i == 0)
                        add_bytes(&candidate, cert_der, (int) sizeof cert_der - 1);
                else
                        add_bytes(&candidate, garbage, (int) strlen(garbage));
                check(dbus_message_iter_open_container(&candidate, DBUS_TYPE_ARRAY, "ay",
                                                       &chain));
                if (i == 0)
                        add_bytes(&chain, cert_der, (int) sizeof cert_der - 1);
                check(dbus_message_iter_close_container(&candidate, &chain));
                open_dict(&candidate, &dict);
                add_entry(&dict, "nickname", DBUS_TYPE_STRING, &nickname);
                close_dict(&candidate, &dict);
                check(dbus_message_iter_close_container(&array, &candidate));
        }
        check(dbus_message_iter_close_container(it, &array));
}

static DBusMessage *select_certificate(const char *context, const char *origin,
                                       int request, gboolean candidates,
                                       const char *garbage) {
        DBusMessage *m = call_context_origin("SelectCertificate", context, origin);
        DBusMessageIter it, dict, array;

        dbus_message_iter_init_append(m, &it);
        if (request) {
                add_request(&it, request > 1);
        } else {
                open_dict(&it, &dict);
                close_dict(&it, &dict);
        }
        if (candidates) {
                add_candidates(&it, garbage);
        } else {
                check(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ayaaya{sv})",
                                                       &array));
                check(dbus_message_iter_close_container(&it, &array));
        }
        return m;
}

static DBusMessage *answer_challenge(const char *context, const char *origin,
                                     const char *const *values, gboolean options) {
        DBusMessage *m = call_context_origin("AnswerChallenge", context, origin);
        DBusMessageIter it, array, dict, entry, variant;
        dbus_uint32_t generation = 1;
        dbus_bool_t proxy = FALSE;
        const char *sent = IDENTITY;

        dbus_message_iter_init_append(m, &it);
        check(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &array));
        for (; *values; values++)
                add_string(&array, *values);
        check(dbus_message_iter_close_container(&it, &array));
        open_dict(&it, &dict);
        if (options) {
                add_entry(&dict, "generation", DBUS_TYPE_UINT32, &generation);
                add_entry(&dict, "proxy", DBUS_TYPE_BOOLEAN, &proxy);
                add_entry(&dict, "sent_identity", DBUS_TYPE_STRING, &sent);
                begin_entry(&dict, &entry, &variant, "request", "a{sv}");
                add_request(&variant, FALSE);
                end_entry(&dict, &entry, &variant);
                begin_entry(&dict, &entry, &variant, "candidates", "a(ayaaya{sv})");
                add_candidates(&variant, NULL);
                end_entry(&dict, &entry, &variant);
        }
        close_dict(&it, &dict);
        return m;
}

/* SelectCertificate with the test certificate as candidate (an "ask"), interactive for
 * @timeout_ms. */
static DBusMessage *select_interactive(const char *context, const char *origin,
                                       dbus_uint32_t timeout_ms) {
        DBusMessage *m = call_context_origin("SelectCertificate", context, origin);
        DBusMessageIter it, dict;

        dbus_message_iter_init_append(m, &it);
        open_dict(&it, &dict);
        add_entry(&dict, "interactive_timeout_ms", DBUS_TYPE_UINT32, &timeout_ms);
        close_dict(&it, &dict);
        add_candidates(&it, NULL);
        return m;
}

/* RegisterAgent(@path, {@key: <true>}), or with no option when @key is NULL; or
 * UnregisterAgent(@path) when @unregister. */
static DBusMessage *agent_call(const char *path, const char *key, gboolean unregister) {
        DBusMessage *m = call(unregister ? "UnregisterAgent" : "RegisterAgent");
        DBusMessageIter it, dict;
        dbus_bool_t yes = TRUE;

        dbus_message_iter_init_append(m, &it);
        check(dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &path));
        if (unregister)
                return m;
        open_dict(&it, &dict);
        if (key)
                add_entry(&dict, key, DBUS_TYPE_BOOLEAN, &yes);
        close_dict(&it, &dict);
        return m;
}

static DBusMessage *properties(const char *method, const char *interface, const char *name) {
        DBusMessage *m = call_on(TLSID_OBJECT_PATH, DBUS_INTERFACE_PROPERTIES, method);
        DBusMessageIter it, variant;
        dbus_uint32_t value = 1;

        dbus_message_iter_init_append(m, &it);
        add_string(&it, interface);
        if (name)
                add_string(&it, name);
        if (strcmp(method, "Set") == 0) {
                check(dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "u", &variant));
                check(dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT32, &value));
                check(dbus_message_iter_close_container(&it, &variant));
        }
        return m;
}

/* --- writing --- */

static const char *out_dir;

/* Writes the messages of the NULL-terminated list (consumed) as the seed @name. */
static void seed(const char *name, ...) {
        g_autoptr(GByteArray) bytes = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *path = g_build_filename(out_dir, name, NULL);
        dbus_uint32_t serial = 1;
        DBusMessage *m;
        va_list ap;

        va_start(ap, name);
        while ((m = va_arg(ap, DBusMessage *))) {
                char *wire = NULL;
                int len = 0;

                dbus_message_set_serial(m, serial++);
                check(dbus_message_marshal(m, &wire, &len));
                g_byte_array_append(bytes, (const guint8 *) wire, (guint) len);
                dbus_free(wire);
                dbus_message_unref(m);
        }
        va_end(ap);
        if (!g_file_set_contents(path, (const char *) bytes->data, bytes->len, &error)) {
                fprintf(stderr, "%s\n", error->message);
                exit(EXIT_FAILURE);
        }
}

static DBusMessage *with_sender(DBusMessage *m, const char *sender) {
        check(dbus_message_set_sender(m, sender));
        return m;
}

static DBusMessage *no_reply(DBusMessage *m) {
        dbus_message_set_no_reply(m, TRUE);
        return m;
}

int main(int argc, char **argv) {
        const char *origin = "example.com:443", *text = "x";
        dbus_uint32_t one = 1;
        static const char *const transport[] = {
                "Transport mode=\"tls-client-certificate\", realm=\"intranet\", "
                "ca-names=\"MBYxFDASBgNVBAMMC0V4YW1wbGUgQ0E=\", key-types=\"ec, rsa\"",
                "Basic realm=\"x\"", NULL,
        };
        static const char *const declined[] = {
                "Transport mode=\"tls-client-certificate\", status=\"declined\"", NULL,
        };
        static const char *const garbage_values[] = { "Transport ,,=\"", "", NULL };

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
                return EXIT_FAILURE;
        }
        out_dir = argv[1];

        seed("introspect", call_on(TLSID_OBJECT_PATH, DBUS_INTERFACE_INTROSPECTABLE,
                                   "Introspect"), NULL);
        seed("introspect-root", call_on("/", DBUS_INTERFACE_INTROSPECTABLE, "Introspect"),
             call_on("/org/tlsid", DBUS_INTERFACE_INTROSPECTABLE, "Introspect"), NULL);
        seed("contexts", open_context("tab-1", "Tab 1", 0), open_context("tab-1", "again", -1),
             list_page("ListContexts", NULL, "", 0), call_string("CloseContext", "tab-1"),
             call_string("CloseContext", "tab-1"), NULL);
        seed("open-ephemeral", open_context("private/tab-2", NULL, 1), NULL);
        seed("open-errors", open_context("", NULL, -1), open_context("fuzz", NULL, 1),
             open_context("a b", NULL, -1), NULL);
        seed("open-bad-options", open_with_option("label", DBUS_TYPE_STRING, &text, 2),
             open_with_option("ephemeral", DBUS_TYPE_UINT32, &one, 1),
             open_with_option("colour", DBUS_TYPE_STRING, &text, 1), NULL);
        seed("sessions", call_context_origin("GetPartition", "fuzz", origin),
             put_session("fuzz", origin, "", 1, "token one", G_MAXINT64, 0x0304, "h2"),
             put_session("fuzz", origin, "", 1, "token two", 4102444800, 0x0303, NULL),
             call_context_origin("BeginConnection", "fuzz", origin),
             take_session("fuzz", origin, "", 1), take_session("fuzz", origin, "", 1),
             list_page("ListSessions", "", "", 0), list_page("ListSessions", "fuzz", "", 1),
             call("GetStatistics"), NULL);
        seed("session-errors", put_session("fuzz", origin, "", 7, "stale", G_MAXINT64, 0, NULL),
             put_session("fuzz", origin, "", 1, "expired", 1, 0x0304, NULL),
             put_session("fuzz", origin, "", 1, "", G_MAXINT64, 0, NULL),
             put_session("fuzz", origin, IDENTITY, 1, "x", G_MAXINT64, 0, NULL),
             put_session("nope", origin, "", 1, "x", G_MAXINT64, 0, NULL),
             put_session("fuzz", "Example.com:443", "", 1, "x", G_MAXINT64, 0, NULL),
             take_session("fuzz", origin, "xyz", 1), list_page("ListSessions", "nope", "", 0),
             call_context_origin("GetPartition", "fuzz", "[::1]:0"), NULL);
        seed("put-no-reply",
             no_reply(put_session("fuzz", "[::1]:8443", "", 1, "t", G_MAXINT64, 0x0304, NULL)),
             no_reply(list_page("ListContexts", NULL, "", 0)), NULL);
        seed("list-pages", open_context("tab-1", NULL, 0), open_context("tab-2", NULL, 0),
             list_page("ListContexts", NULL, "", 1), list_page("ListContexts", NULL, "fuzz", 1),
             list_page("ListContexts", NULL, "zz", 5000),
             put_session("fuzz", origin, "", 1, "t", G_MAXINT64, 0x0304, NULL),
             list_page("ListSessions", "", "fuzz example.com:443", 1),
             list_page("ListSessions", "fuzz", "no-space", 1),
             list_page("ListSessions", "tab-1", "fuzz example.com:443", 1),
             call_string("ListSessions", ""), NULL);
        seed("flush", put_session("fuzz", origin, "", 1, "t", G_MAXINT64, 0x0304, NULL),
             call_context_origin("FlushSessions", "fuzz", origin),
             call_context_origin("FlushSessions", "", ""),
             call_context_origin("FlushSessions", "fuzz", ""),
             call_context_origin("FlushSessions", "nope", ""), NULL);
        seed("choices", set_choice("fuzz", origin, "none", "", -1),
             set_choice("fuzz", origin, "certificate", IDENTITY, 1),
             set_choice("fuzz", "10.0.0.1:8443", "certificate", OTHER_IDENTITY, 0),
             call_context_origin("GetPartition", "fuzz", origin),
             call_context_origin("ForgetChoices", "fuzz", origin),
             call_context_origin("ForgetChoices", "", ""), NULL);
        seed("choice-errors", set_choice("fuzz", origin, "maybe", "", -1),
             set_choice("fuzz", origin, "none", IDENTITY, -1),
             set_choice("fuzz", origin, "certificate", "", -1),
             set_choice("nope", origin, "undecided", "", 1),
             call_context_origin("ForgetChoices", "nope", ""), NULL);
        seed("select-database", select_certificate("fuzz", origin, 0, FALSE, NULL),
             call("ListCertificates"), NULL);
        seed("select-candidates", select_certificate("fuzz", origin, 1, TRUE, NULL),
             select_certificate("fuzz", origin, 2, TRUE, NULL), call("ListCertificates"),
             NULL);
        seed("select-bad-candidate",
             select_certificate("fuzz", origin, 0, TRUE, "\x30\x03\x02\x01\x01"), NULL);
        seed("select-unknown-context", select_certificate("nope", origin, 1, TRUE, NULL),
             NULL);
        {
                DBusMessage *m = call_context_origin("SelectCertificate", "fuzz", origin);
                DBusMessageIter it, dict, array;
                dbus_uint32_t u = 3;

                dbus_message_iter_init_append(m, &it);
                open_dict(&it, &dict);
                add_entry(&dict, "tls_version", DBUS_TYPE_UINT32, &u);
                add_entry(&dict, "server_name", DBUS_TYPE_UINT32, &u);
                close_dict(&it, &dict);
                check(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ayaaya{sv})",
                                                       &array));
                check(dbus_message_iter_close_container(&it, &array));
                seed("select-bad-request", m, NULL);
        }
        seed("challenge", answer_challenge("fuzz", origin, transport, FALSE),
             answer_challenge("fuzz", origin, transport, TRUE),
             answer_challenge("fuzz", origin, declined, TRUE), NULL);
        seed("challenge-errors", answer_challenge("fuzz", origin, garbage_values, FALSE),
             answer_challenge("nope", origin, transport, FALSE), NULL);
        seed("agents", agent_call("/agent", NULL, FALSE), agent_call("/agent", NULL, FALSE),
             agent_call("/other", "modal", FALSE), open_context("fuzz", NULL, 0),
             select_interactive("fuzz", origin, 60000), select_interactive("fuzz", origin, 1),
             call("ListRequests"), agent_call("/agent", NULL, TRUE),
             agent_call("/agent", NULL, TRUE), call("ListRequests"), NULL);
        seed("agent-errors", open_context("fuzz", NULL, 0),
             select_interactive("fuzz", origin, 600001),
             select_interactive("fuzz", origin, 60000), call_string("RegisterAgent", "/x"),
             NULL);
        seed("policy-and-key", call("GetPolicy"), call("GetTokenKey"), NULL);
        seed("properties", properties("Get", TLSID_INTERFACE, "Version"),
             properties("Get", TLSID_INTERFACE, "MaxTokenBytes"),
             properties("GetAll", TLSID_INTERFACE, NULL), properties("GetAll", "", NULL),
             NULL);
        seed("property-errors", properties("Get", TLSID_INTERFACE, "Colour"),
             properties("Get", "org.example.Other", "Version"),
             properties("Set", TLSID_INTERFACE, "MaxContexts"), NULL);
        seed("unknown-calls", call("Reticulate"),
             call_on(TLSID_OBJECT_PATH, "org.example.Other", "OpenContext"),
             call_on("/org/example", TLSID_INTERFACE, "ListContexts"),
             call_on(TLSID_OBJECT_PATH, DBUS_INTERFACE_PEER, "GetMachineId"), NULL);
        {
                DBusMessage *m = call_on(TLSID_OBJECT_PATH, NULL, "ListSessions");
                dbus_uint32_t u = 1;

                check(dbus_message_append_args(m, DBUS_TYPE_UINT32, &u, DBUS_TYPE_INVALID));
                seed("wrong-signature", m, call_string("GetStatistics", "extra"), NULL);
        }
        {
                DBusMessage *sig = dbus_message_new_signal(TLSID_OBJECT_PATH, TLSID_INTERFACE,
                                                           "SessionsFlushed");
                DBusMessage *request = call("ListContexts");
                DBusMessage *ret, *err;

                dbus_message_set_serial(request, 1);
                ret = dbus_message_new_method_return(request);
                err = dbus_message_new_error(request, "org.example.Error", "no");

                check(sig && ret && err);
                dbus_message_unref(request);
                seed("not-calls", sig, ret, err, NULL);
        }
        /* On a peer-to-peer connection the peer writes the sender itself: it must not
         * make the daemon ask the peer for the uid of that name. */
        seed("forged-sender", with_sender(open_context("tab-4", NULL, 0), ":1.42"),
             with_sender(open_context("private/tab-5", NULL, 1), ":1.42"),
             with_sender(call("ListContexts"), "org.tlsid.Manager1"), NULL);
        {
                DBusMessage *sig = dbus_message_new_signal(DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                           "NameOwnerChanged");
                const char *name = ":1.42", *old_owner = ":1.42", *new_owner = "";

                check(sig != NULL);
                check(dbus_message_append_args(sig, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                               &old_owner, DBUS_TYPE_STRING, &new_owner,
                                               DBUS_TYPE_INVALID));
                seed("forged-name-owner-changed", with_sender(sig, DBUS_SERVICE_DBUS),
                     call("ListContexts"), NULL);
        }
        return EXIT_SUCCESS;
}
