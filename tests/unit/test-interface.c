/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the D-Bus layer: the method table against the XML contract, and the
 * dispatcher (daemon/bus/manager.c) over a peer-to-peer connection, without a bus. */
#include <check.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "bus-glib.h"
#include "check-main.h"
#include "manager.h"
#include "store.h"

#define PEER_INTERFACE "org.freedesktop.DBus.Peer"
#define TIMEOUT_MS 10000

/* --- the XML contract --- */

#define NO_REPLY_ANNOTATION "org.freedesktop.DBus.Method.NoReply"

typedef enum { XML_METHOD, XML_SIGNAL, XML_PROPERTY } XmlKind;

typedef struct {
        char *interface;
        char *name;
        XmlKind kind;
        GString *in;  /* method in-args, signal args, or a property's type */
        GString *out; /* method out-args */
        char *access; /* properties */
        gboolean no_reply; /* methods annotated NO_REPLY_ANNOTATION */
} XmlMember;

typedef struct {
        GPtrArray *members; /* XmlMember */
        char *interface;    /* current <interface> */
        XmlMember *member;  /* current <method>, <signal> or <property> */
} XmlParse;

static void xml_member_free(XmlMember *x) {
        g_free(x->interface);
        g_free(x->name);
        g_string_free(x->in, TRUE);
        g_string_free(x->out, TRUE);
        g_free(x->access);
        g_free(x);
}

static const char *attr(const char **names, const char **values, const char *name) {
        for (size_t i = 0; names[i]; i++)
                if (strcmp(names[i], name) == 0)
                        return values[i];
        return NULL;
}

static void xml_start(GMarkupParseContext *ctx, const char *element, const char **names,
                      const char **values, gpointer user_data, GError **error) {
        XmlParse *p = user_data;

        if (strcmp(element, "interface") == 0) {
                g_free(p->interface);
                p->interface = g_strdup(attr(names, values, "name"));
        } else if (strcmp(element, "method") == 0 || strcmp(element, "signal") == 0 ||
                   strcmp(element, "property") == 0) {
                XmlMember *x = g_new0(XmlMember, 1);
                x->interface = g_strdup(p->interface);
                x->name = g_strdup(attr(names, values, "name"));
                x->kind = element[0] == 'm' ? XML_METHOD : element[0] == 's' ? XML_SIGNAL
                                                                             : XML_PROPERTY;
                x->in = g_string_new(NULL);
                x->out = g_string_new(NULL);
                if (x->kind == XML_PROPERTY) {
                        const char *type = attr(names, values, "type");
                        g_string_append(x->in, type ? type : "?");
                        x->access = g_strdup(attr(names, values, "access"));
                }
                g_ptr_array_add(p->members, x);
                p->member = x;
        } else if (strcmp(element, "arg") == 0 && p->member) {
                const char *type = attr(names, values, "type");
                const char *direction = attr(names, values, "direction");
                /* Method args are "in" unless said otherwise; signal args have none. */
                gboolean out = p->member->kind == XML_METHOD && g_strcmp0(direction, "out") == 0;
                g_string_append(out ? p->member->out : p->member->in, type ? type : "?");
        } else if (strcmp(element, "annotation") == 0 && p->member &&
                   g_strcmp0(attr(names, values, "name"), NO_REPLY_ANNOTATION) == 0) {
                p->member->no_reply = g_strcmp0(attr(names, values, "value"), "true") == 0;
        }
}

static void xml_end(GMarkupParseContext *ctx, const char *element, gpointer user_data,
                    GError **error) {
        XmlParse *p = user_data;

        if (strcmp(element, "method") == 0 || strcmp(element, "signal") == 0 ||
            strcmp(element, "property") == 0)
                p->member = NULL;
        else if (strcmp(element, "interface") == 0)
                g_clear_pointer(&p->interface, g_free);
}

static char *xml_path(void) {
        const char *src = g_getenv("TLSID_SOURCE_DIR");

        ck_assert_msg(src != NULL, "TLSID_SOURCE_DIR is not set");
        return g_build_filename(src, "dbus", "org.tlsid.Manager1.xml", NULL);
}

/* Every method, signal and property of the XML file (transfer full). */
static GPtrArray *xml_members(void) {
        static const GMarkupParser parser = { .start_element = xml_start, .end_element = xml_end };
        g_autofree char *path = xml_path();
        g_autofree char *text = NULL;
        gsize len = 0;
        g_autoptr(GError) error = NULL;
        XmlParse p = {
                .members = g_ptr_array_new_with_free_func((GDestroyNotify) xml_member_free),
        };

        ck_assert_msg(g_file_get_contents(path, &text, &len, &error), "%s",
                      error ? error->message : "");
        GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);
        gboolean ok = g_markup_parse_context_parse(ctx, text, len, &error) &&
                      g_markup_parse_context_end_parse(ctx, &error);
        g_markup_parse_context_free(ctx);
        g_free(p.interface);
        ck_assert_msg(ok, "%s: %s", path, error ? error->message : "");
        return p.members;
}

static XmlMember *xml_find(GPtrArray *members, const char *interface, const char *name,
                           XmlKind kind) {
        for (guint i = 0; i < members->len; i++) {
                XmlMember *x = g_ptr_array_index(members, i);
                if (x->kind == kind && g_strcmp0(x->interface, interface) == 0 &&
                    g_strcmp0(x->name, name) == 0)
                        return x;
        }
        return NULL;
}

START_TEST(test_interface_xml_methods_in_table) {
        g_autoptr(GPtrArray) members = xml_members();
        size_t n = 0;
        const ManagerMethod *methods = manager_get_methods(&n);
        guint checked = 0;

        for (guint i = 0; i < members->len; i++) {
                XmlMember *x = g_ptr_array_index(members, i);
                /* libdbus answers org.freedesktop.DBus.Peer itself, before our handler. */
                if (x->kind != XML_METHOD || g_strcmp0(x->interface, PEER_INTERFACE) == 0)
                        continue;
                const ManagerMethod *found = NULL;
                for (size_t j = 0; j < n; j++)
                        if (strcmp(methods[j].spec->interface, x->interface) == 0 &&
                            strcmp(methods[j].spec->name, x->name) == 0)
                                found = &methods[j];
                ck_assert_msg(found != NULL, "%s.%s is in the XML but not in the method table",
                              x->interface, x->name);
                ck_assert_msg(strcmp(found->spec->in_signature, x->in->str) == 0,
                              "%s: table in-signature \"%s\", XML \"%s\"", x->name,
                              found->spec->in_signature, x->in->str);
                ck_assert_msg(strcmp(found->spec->out_signature, x->out->str) == 0,
                              "%s: table out-signature \"%s\", XML \"%s\"", x->name,
                              found->spec->out_signature, x->out->str);
                checked++;
        }
        /* 22 org.tlsid.Manager1 methods, Properties' Get, GetAll and Set, and Introspect. */
        ck_assert_uint_eq(checked, 26);
}
END_TEST

START_TEST(test_interface_table_methods_in_xml) {
        g_autoptr(GPtrArray) members = xml_members();
        size_t n = 0;
        const ManagerMethod *methods = manager_get_methods(&n);

        ck_assert_uint_gt(n, 0);
        for (size_t j = 0; j < n; j++) {
                XmlMember *x = xml_find(members, methods[j].spec->interface, methods[j].spec->name, XML_METHOD);
                ck_assert_msg(x != NULL, "%s.%s is in the method table but not in the XML",
                              methods[j].spec->interface, methods[j].spec->name);
                ck_assert_str_eq(methods[j].spec->in_signature, x->in->str);
                ck_assert_str_eq(methods[j].spec->out_signature, x->out->str);
                ck_assert_msg(methods[j].handler != NULL, "%s has no handler", methods[j].spec->name);
                ck_assert_msg(dbus_signature_validate(methods[j].spec->in_signature, NULL) ||
                              methods[j].spec->in_signature[0] == '\0',
                              "%s: bad in-signature", methods[j].spec->name);
                ck_assert_msg(dbus_signature_validate(methods[j].spec->out_signature, NULL) ||
                              methods[j].spec->out_signature[0] == '\0',
                              "%s: bad out-signature", methods[j].spec->name);
                for (size_t k = 0; k < j; k++)
                        ck_assert_msg(strcmp(methods[k].spec->name, methods[j].spec->name) != 0 ||
                                      strcmp(methods[k].spec->interface, methods[j].spec->interface) != 0,
                                      "%s is in the table twice", methods[j].spec->name);
        }
}
END_TEST

START_TEST(test_interface_signals_match_xml) {
        g_autoptr(GPtrArray) members = xml_members();
        size_t n = 0;
        const SignalSpec *signals = manager_get_signals(&n);
        guint xml_signals = 0;

        for (size_t j = 0; j < n; j++) {
                XmlMember *x = xml_find(members, signals[j].interface, signals[j].name,
                                        XML_SIGNAL);
                ck_assert_msg(x != NULL, "signal %s is emitted but not in the XML",
                              signals[j].name);
                ck_assert_str_eq(signals[j].signature, x->in->str);
        }
        for (guint i = 0; i < members->len; i++) {
                XmlMember *x = g_ptr_array_index(members, i);
                if (x->kind != XML_SIGNAL)
                        continue;
                xml_signals++;
                gboolean found = FALSE;
                for (size_t j = 0; j < n; j++)
                        found |= strcmp(signals[j].interface, x->interface) == 0 &&
                                 strcmp(signals[j].name, x->name) == 0;
                ck_assert_msg(found, "signal %s is in the XML but not emitted", x->name);
        }
        ck_assert_uint_eq(xml_signals, n);
        ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_interface_properties_match_xml) {
        g_autoptr(GPtrArray) members = xml_members();
        guint xml_properties = 0;

        for (guint i = 0; i < members->len; i++) {
                XmlMember *x = g_ptr_array_index(members, i);
                const PropertySpec *found = NULL;

                if (x->kind != XML_PROPERTY)
                        continue;
                xml_properties++;
                ck_assert_msg(g_strcmp0(x->access, "read") == 0, "%s: access \"%s\"", x->name,
                              x->access);
                for (size_t j = 0; j < _PROPERTY_MAX; j++)
                        if (strcmp(interface_properties[j].interface, x->interface) == 0 &&
                            strcmp(interface_properties[j].name, x->name) == 0)
                                found = &interface_properties[j];
                ck_assert_msg(found != NULL, "property %s is in the XML but not in the table",
                              x->name);
                ck_assert_str_eq(found->signature, x->in->str);
                ck_assert_msg(dbus_signature_validate_single(found->signature, NULL) &&
                              dbus_type_is_basic(found->signature[0]),
                              "%s: type \"%s\" is not one basic type", x->name, found->signature);
        }
        for (size_t j = 0; j < _PROPERTY_MAX; j++)
                ck_assert_msg(xml_find(members, interface_properties[j].interface,
                                       interface_properties[j].name, XML_PROPERTY) != NULL,
                              "property %s is in the table but not in the XML",
                              interface_properties[j].name);
        ck_assert_uint_eq(xml_properties, _PROPERTY_MAX);
        /* Version, the eleven limits of tlsidd.conf and DirectAddress. */
        ck_assert_uint_eq(xml_properties, 13);
}
END_TEST

START_TEST(test_interface_no_reply_annotation) {
        g_autoptr(GPtrArray) members = xml_members();
        XmlMember *put = xml_find(members, TLSID_INTERFACE, "PutSession", XML_METHOD);
        guint annotated = 0;

        ck_assert_ptr_nonnull(put);
        ck_assert_msg(put->no_reply, "PutSession lacks the %s annotation", NO_REPLY_ANNOTATION);
        ck_assert(interface_methods[METHOD_PUT_SESSION].no_reply);
        /* The table carries the annotation of every method, and only PutSession has it. */
        for (size_t j = 0; j < _METHOD_MAX; j++) {
                const MethodSpec *spec = &interface_methods[j];
                XmlMember *x = xml_find(members, spec->interface, spec->name, XML_METHOD);

                ck_assert_ptr_nonnull(x);
                ck_assert_msg(spec->no_reply == x->no_reply, "%s: table no_reply %d, XML %d",
                              spec->name, spec->no_reply, x->no_reply);
                annotated += spec->no_reply;
        }
        ck_assert_uint_eq(annotated, 1);
}
END_TEST

START_TEST(test_interface_embedded_xml_matches_file) {
        g_autofree char *path = xml_path();
        g_autofree char *text = NULL;

        ck_assert(g_file_get_contents(path, &text, NULL, NULL));
        ck_assert_msg(strcmp(text, interface_xml) == 0,
                      "the embedded introspection XML differs from %s", path);
}
END_TEST

/* --- the dispatcher over a peer-to-peer connection --- */

/* The server side runs on the main context; the client makes blocking calls from a
 * thread, so the test waits for replies without sleeping. */
typedef struct {
        DBusServer *server;
        DBusConnection *connection; /* the daemon's end */
        BusGlib *bus;
        Store *store;
        Manager *manager;
        DBusConnection *client;
        char *address;
} Fixture;

static Fixture fx;
/* The daemon's configuration, with limits other than the defaults so that the properties
 * show they report it. */
static TlsidConfig fx_config;
#define FX_MAX_CONTEXTS 7
#define FX_MAX_TOKEN_BYTES (G_GUINT64_CONSTANT(4) << 30) /* past 32 bits */

static gboolean server_watch_cb(gint fd, GIOCondition condition, gpointer user_data) {
        dbus_watch_handle(user_data, DBUS_WATCH_READABLE);
        return G_SOURCE_CONTINUE;
}

static dbus_bool_t server_add_watch(DBusWatch *watch, void *data) {
        if (dbus_watch_get_enabled(watch)) {
                guint id = g_unix_fd_add(dbus_watch_get_unix_fd(watch), G_IO_IN, server_watch_cb,
                                         watch);
                dbus_watch_set_data(watch, GUINT_TO_POINTER(id), NULL);
        }
        return TRUE;
}

static void server_remove_watch(DBusWatch *watch, void *data) {
        guint id = GPOINTER_TO_UINT(dbus_watch_get_data(watch));

        if (id)
                g_source_remove(id);
        dbus_watch_set_data(watch, NULL, NULL);
}

static void new_connection_cb(DBusServer *server, DBusConnection *connection, void *data) {
        g_autoptr(GError) error = NULL;

        ck_assert_ptr_null(fx.connection);
        fx.connection = dbus_connection_ref(connection);
        fx.bus = bus_glib_attach(connection, NULL);
        fx.manager = manager_new(connection, fx.store, data, "/nonexistent/tlsid-test/choices",
                                 NULL, NULL);
        ck_assert_msg(manager_start(fx.manager, &error), "%s", error ? error->message : "");
}

static void setup(void) {
        g_auto(DBusError) error = DBUS_ERROR_INIT;
        const guint8 nonce[16] = { 1, 2, 3 };

        memset(&fx, 0, sizeof fx);
        config_init(&fx_config);
        fx_config.limits.max_contexts = FX_MAX_CONTEXTS;
        fx_config.limits.max_token_bytes = FX_MAX_TOKEN_BYTES;
        fx.store = store_new(&fx_config.limits, nonce);
        fx.server = dbus_server_listen("unix:tmpdir=/tmp", &error);
        ck_assert_msg(fx.server != NULL, "%s", error.message);
        dbus_server_set_new_connection_function(fx.server, new_connection_cb, &fx_config, NULL);
        ck_assert(dbus_server_set_watch_functions(fx.server, server_add_watch, server_remove_watch,
                                                  NULL, NULL, NULL));
        fx.address = dbus_server_get_address(fx.server);
}

static void teardown(void) {
        manager_free(fx.manager);
        bus_glib_detach(fx.bus);
        if (fx.connection) {
                dbus_connection_close(fx.connection);
                dbus_connection_unref(fx.connection);
        }
        if (fx.client) {
                dbus_connection_close(fx.client);
                dbus_connection_unref(fx.client);
        }
        dbus_server_disconnect(fx.server);
        dbus_server_unref(fx.server);
        dbus_free(fx.address);
        store_free(fx.store);
}

typedef struct {
        DBusMessage *request;
        DBusMessage *reply; /* a method return or an error */
        char *failure;
        gint done;
} Call;

static gpointer call_thread(gpointer data) {
        Call *call = data;
        g_auto(DBusError) error = DBUS_ERROR_INIT;

        if (!fx.client) {
                fx.client = dbus_connection_open_private(fx.address, &error);
                if (!fx.client) {
                        call->failure = g_strdup(error.message);
                        goto out;
                }
        }
        if (dbus_message_get_no_reply(call->request)) {
                if (!dbus_connection_send(fx.client, call->request, NULL))
                        call->failure = g_strdup("send failed");
                dbus_connection_flush(fx.client);
                goto out;
        }
        DBusPendingCall *pending = NULL;
        if (!dbus_connection_send_with_reply(fx.client, call->request, &pending, TIMEOUT_MS) ||
            !pending) {
                call->failure = g_strdup("send failed");
                goto out;
        }
        dbus_pending_call_block(pending);
        call->reply = dbus_pending_call_steal_reply(pending);
        dbus_pending_call_unref(pending);
out:
        g_atomic_int_set(&call->done, 1);
        g_main_context_wakeup(NULL);
        return NULL;
}

/* Sends @request (consumed) and returns the reply, or NULL when none is expected. */
static DBusMessage *call_sync(DBusMessage *request) {
        Call call = { .request = request };
        GThread *thread = g_thread_new("client", call_thread, &call);

        while (!g_atomic_int_get(&call.done))
                g_main_context_iteration(NULL, TRUE);
        g_thread_join(thread);
        dbus_message_unref(request);
        ck_assert_msg(call.failure == NULL, "%s", call.failure);
        return call.reply;
}

static DBusMessage *new_call(const char *interface, const char *method) {
        DBusMessage *m = dbus_message_new_method_call(NULL, TLSID_OBJECT_PATH, interface, method);
        ck_assert_ptr_nonnull(m);
        return m;
}

static void append_dict_entry(DBusMessageIter *dict, const char *key, int type, const void *v) {
        DBusMessageIter entry, variant;
        const char sig[2] = { (char) type, 0 };

        ck_assert(dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
        ck_assert(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, sig, &variant));
        ck_assert(dbus_message_iter_append_basic(&variant, type, v));
        ck_assert(dbus_message_iter_close_container(&entry, &variant));
        ck_assert(dbus_message_iter_close_container(dict, &entry));
}

/* OpenContext(@context, {@key: @value of @type}); no option when @key is NULL. */
static DBusMessage *open_context(const char *context, const char *key, int type,
                                 const void *value) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "OpenContext");
        DBusMessageIter it, dict;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (key)
                append_dict_entry(&dict, key, type, value);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        return call_sync(m);
}

static DBusMessage *put_session(const char *context, const char *origin, guint32 generation,
                                const guint8 *token, int len, gboolean no_reply) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "PutSession");
        DBusMessageIter it, array, dict;
        const char *identity = "";
        dbus_int64_t expires = g_get_real_time() / G_USEC_PER_SEC + 3600;
        dbus_uint16_t tls_version = 0x0304;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &identity));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &generation));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "y", &array));
        ck_assert(dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &token, len));
        ck_assert(dbus_message_iter_close_container(&it, &array));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_INT64, &expires));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        append_dict_entry(&dict, "tls_version", DBUS_TYPE_UINT16, &tls_version);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        dbus_message_set_no_reply(m, no_reply);
        return call_sync(m);
}

/* SetChoice(@context, @origin, @state, @identity, {}). */
static DBusMessage *set_choice(const char *context, const char *origin, const char *state,
                               const char *identity) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "SetChoice");
        DBusMessageIter it, dict;

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                           DBUS_TYPE_STRING, &state, DBUS_TYPE_STRING, &identity,
                                           DBUS_TYPE_INVALID));
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        return call_sync(m);
}

static void assert_error(DBusMessage *reply, const char *name, const char *needle) {
        const char *text = NULL;

        ck_assert_ptr_nonnull(reply);
        ck_assert_int_eq(dbus_message_get_type(reply), DBUS_MESSAGE_TYPE_ERROR);
        ck_assert_str_eq(dbus_message_get_error_name(reply), name);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID));
        ck_assert_msg(strstr(text, needle) != NULL, "error \"%s\" lacks \"%s\"", text, needle);
        dbus_message_unref(reply);
}

static void assert_return(DBusMessage *reply) {
        ck_assert_ptr_nonnull(reply);
        ck_assert_msg(dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN,
                      "error reply %s", dbus_message_get_error_name(reply));
}

/* assert_return() for a reply nothing else reads: consumes it, as assert_error() does. */
static void assert_return_unref(DBusMessage *reply) {
        assert_return(reply);
        dbus_message_unref(reply);
}

START_TEST(test_interface_dispatch_checks_signature) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "OpenContext");
        const char *context = "a/b";

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_INVALID));
        assert_error(call_sync(m), "org.tlsid.Error.InvalidArgument", "\"sa{sv}\"");
        /* The daemon still answers, and the context was not opened. */
        m = new_call(TLSID_INTERFACE, "CloseContext");
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_INVALID));
        assert_error(call_sync(m), "org.tlsid.Error.NoSuchContext", "a/b");
}
END_TEST

START_TEST(test_interface_dispatch_unknown_method) {
        assert_error(call_sync(new_call(TLSID_INTERFACE, "OpenContexts")),
                     DBUS_ERROR_UNKNOWN_METHOD, "OpenContexts");
        /* A known name on the wrong interface is unknown too. */
        assert_error(call_sync(new_call("org.example.Other", "GetStatistics")),
                     DBUS_ERROR_UNKNOWN_METHOD, "org.example.Other");
}
END_TEST

/* On a peer-to-peer connection the sender field is the peer's own writing: the call runs
 * as the socket's uid, and the daemon asks the peer nothing (it used to ask it for the
 * uid of the name, which a peer could answer as it pleased). */
START_TEST(test_interface_peer_sender_not_trusted) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "CloseContext");
        const char *context = "a/b";

        ck_assert(dbus_message_set_sender(m, ":1.42"));
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_INVALID));
        assert_error(call_sync(m), "org.tlsid.Error.NoSuchContext", "a/b");
}
END_TEST

START_TEST(test_interface_options_checked) {
        const char *text = "yes";
        dbus_bool_t yes = TRUE;

        assert_error(open_context("a/b", "ephemeral", DBUS_TYPE_STRING, &text),
                     "org.tlsid.Error.InvalidArgument",
                     "options.ephemeral: expected type b, got s");
        assert_error(open_context("a/b", "colour", DBUS_TYPE_BOOLEAN, &yes),
                     "org.tlsid.Error.InvalidArgument", "options.colour: unknown key");
        assert_return_unref(open_context("a/b", "label", DBUS_TYPE_STRING, &text));
}
END_TEST

START_TEST(test_interface_introspect_returns_contract) {
        DBusMessage *reply = call_sync(new_call(DBUS_INTERFACE_INTROSPECTABLE, "Introspect"));
        const char *xml = NULL;

        assert_return(reply);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID));
        ck_assert_str_eq(xml, interface_xml);
        dbus_message_unref(reply);

        /* Peer is answered (by libdbus) as well. */
        reply = call_sync(new_call(PEER_INTERFACE, "Ping"));
        assert_return(reply);
        dbus_message_unref(reply);
}
END_TEST

START_TEST(test_interface_put_without_reply_then_take) {
        const guint8 token[] = { 0xde, 0xad, 0xbe, 0xef };
        DBusMessage *m, *reply;
        DBusMessageIter it, array;
        const char *context = "a/b", *origin = "example.com:443", *identity = "";
        dbus_uint32_t generation = 1;
        const guint8 *got = NULL;
        int len = 0;

        assert_return_unref(open_context(context, NULL, 0, NULL));
        ck_assert_ptr_null(put_session(context, origin, generation, token, sizeof token, TRUE));

        m = new_call(TLSID_INTERFACE, "TakeSession");
        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &context, DBUS_TYPE_STRING, &origin,
                                           DBUS_TYPE_STRING, &identity,
                                           DBUS_TYPE_UINT32, &generation, DBUS_TYPE_INVALID));
        reply = call_sync(m);
        assert_return(reply);
        ck_assert(dbus_message_has_signature(reply, "ay"));
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_get_fixed_array(&array, &got, &len);
        ck_assert_int_eq(len, sizeof token);
        ck_assert_mem_eq(got, token, sizeof token);
        dbus_message_unref(reply);

        /* No reply to the put arrived before the take's reply. */
        DBusMessage *extra;
        while ((extra = dbus_connection_pop_message(fx.client))) {
                ck_assert_int_ne(dbus_message_get_type(extra), DBUS_MESSAGE_TYPE_METHOD_RETURN);
                ck_assert_int_ne(dbus_message_get_type(extra), DBUS_MESSAGE_TYPE_ERROR);
                dbus_message_unref(extra);
        }
}
END_TEST

START_TEST(test_interface_set_choice_signals_before_reply) {
        const char *context = "a/b", *origin = "example.com:443";
        const char *sig_context, *sig_origin, *sig_state, *sig_identity;
        dbus_uint32_t generation = 0;

        assert_return_unref(open_context(context, NULL, 0, NULL));
        DBusMessage *reply = set_choice(context, origin, "none", "");
        assert_return(reply);
        dbus_message_unref(reply);

        /* The signal came first, so it is queued on the client connection. */
        DBusMessage *signal = dbus_connection_pop_message(fx.client);
        ck_assert_ptr_nonnull(signal);
        ck_assert(dbus_message_is_signal(signal, TLSID_INTERFACE, "IdentityChanged"));
        ck_assert_str_eq(dbus_message_get_path(signal), TLSID_OBJECT_PATH);
        ck_assert(dbus_message_get_args(signal, NULL, DBUS_TYPE_STRING, &sig_context,
                                        DBUS_TYPE_STRING, &sig_origin, DBUS_TYPE_STRING, &sig_state,
                                        DBUS_TYPE_STRING, &sig_identity,
                                        DBUS_TYPE_UINT32, &generation, DBUS_TYPE_INVALID));
        ck_assert_str_eq(sig_context, context);
        ck_assert_str_eq(sig_origin, origin);
        ck_assert_str_eq(sig_state, "none");
        ck_assert_str_eq(sig_identity, "");
        ck_assert_uint_eq(generation, 2);
        dbus_message_unref(signal);

        /* A bad state is refused by the handler, naming the field. */
        assert_error(set_choice(context, origin, "maybe", ""), "org.tlsid.Error.InvalidArgument",
                     "state:");
}
END_TEST

/* SelectCertificate(@context, "example.com:443", {@key: @value of @type} or {}, and
 * @n_candidates candidates of one byte each). */
static DBusMessage *select_certificate(const char *context, const char *key, int type,
                                       const void *value, int n_candidates) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "SelectCertificate");
        DBusMessageIter it, dict, array, pair, leaf, chain, meta;
        const char *origin = "example.com:443";
        const guint8 der[] = { 0x30 };
        const guint8 *p = der;

        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (key)
                append_dict_entry(&dict, key, type, value);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &array));
        for (int i = 0; i < n_candidates; i++) {
                ck_assert(dbus_message_iter_open_container(&array, DBUS_TYPE_STRUCT, NULL, &pair));
                ck_assert(dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "y", &leaf));
                ck_assert(dbus_message_iter_append_fixed_array(&leaf, DBUS_TYPE_BYTE, &p, 1));
                ck_assert(dbus_message_iter_close_container(&pair, &leaf));
                ck_assert(dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "ay", &chain));
                ck_assert(dbus_message_iter_close_container(&pair, &chain));
                ck_assert(dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "{sv}", &meta));
                ck_assert(dbus_message_iter_close_container(&pair, &meta));
                ck_assert(dbus_message_iter_close_container(&array, &pair));
        }
        ck_assert(dbus_message_iter_close_container(&it, &array));
        return call_sync(m);
}

START_TEST(test_interface_select_without_certificates) {
        const char *context = "a/b", *decision = NULL, *identity = NULL;
        const char *text = "1.3";
        dbus_uint16_t version = 0x0304;
        dbus_uint32_t generation = 0;
        DBusMessageIter it, array;
        DBusMessage *reply;

        /* The context must be open. */
        assert_error(select_certificate(context, NULL, 0, NULL, 0),
                     "org.tlsid.Error.NoSuchContext", "a/b");
        assert_return_unref(open_context(context, NULL, 0, NULL));
        /* No database, no candidates: nothing is eligible, so nobody is asked. */
        reply = select_certificate(context, "tls_version", DBUS_TYPE_UINT16, &version, 0);
        assert_return(reply);
        ck_assert(dbus_message_has_signature(reply, "ssuaa{sv}u"));
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_get_basic(&it, &decision);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &identity);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &generation);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &array);
        ck_assert_str_eq(decision, "none");
        ck_assert_str_eq(identity, "");
        /* Nothing was chosen: the partition is the one it was. */
        ck_assert_uint_eq(generation, 1);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&array), DBUS_TYPE_INVALID);
        dbus_message_unref(reply);

        /* Request keys are checked by name and type. */
        assert_error(select_certificate(context, "colour", DBUS_TYPE_UINT16, &version, 0),
                     "org.tlsid.Error.InvalidArgument", "request.colour: unknown key");
        assert_error(select_certificate(context, "tls_version", DBUS_TYPE_STRING, &text, 0),
                     "org.tlsid.Error.InvalidArgument",
                     "request.tls_version: expected type q, got s");
        /* Too many candidates is refused before anything is parsed... */
        assert_error(select_certificate(context, NULL, 0, NULL, 65),
                     "org.tlsid.Error.InvalidArgument", "candidates: at most 64");
        /* ...and without NSS a candidate cannot be parsed at all. */
        assert_error(select_certificate(context, NULL, 0, NULL, 1), "org.tlsid.Error.Failed",
                     "NSS");
}
END_TEST

/* ListCertificates(@cursor, 0). */
static DBusMessage *list_certificates(const char *cursor) {
        DBusMessage *m = new_call(TLSID_INTERFACE, "ListCertificates");
        dbus_uint32_t limit = 0;

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &cursor, DBUS_TYPE_UINT32,
                                           &limit, DBUS_TYPE_INVALID));
        return call_sync(m);
}

START_TEST(test_interface_list_certificates_and_policy_defaults) {
        DBusMessageIter it, array;
        const char *json = NULL, *problem = NULL, *next = NULL;
        dbus_uint32_t total = 1;
        DBusMessage *reply = list_certificates("");

        /* No database, nothing offered: one empty page. */
        assert_return(reply);
        ck_assert(dbus_message_has_signature(reply, "aa{sv}su"));
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &array);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&array), DBUS_TYPE_INVALID);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &next);
        ck_assert_str_eq(next, "");
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &total);
        ck_assert_uint_eq(total, 0);
        dbus_message_unref(reply);
        /* A cursor the daemon could not have given is refused, quoted. */
        assert_error(list_certificates("database:0123"), "org.tlsid.Error.InvalidArgument",
                     "cursor \"database:0123\": not one ListCertificates returned");
        assert_error(list_certificates("elsewhere:" "0123456789abcdef0123456789abcdef"
                                       "0123456789abcdef0123456789abcdef"),
                     "org.tlsid.Error.InvalidArgument", "not one ListCertificates returned");

        reply = call_sync(new_call(TLSID_INTERFACE, "GetPolicy"));
        assert_return(reply);
        ck_assert(dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &json, DBUS_TYPE_STRING,
                                        &problem, DBUS_TYPE_INVALID));
        ck_assert_msg(strstr(json, "\"mode\"") && strstr(json, "\"ask\""), "policy %s", json);
        ck_assert_str_eq(problem, "");
        dbus_message_unref(reply);
}
END_TEST

/* --- the log --- */

/* The structured records the daemon logged, as "KEY=value\n" lines each. */
static GPtrArray *logged;

static GLogWriterOutput capture_writer(GLogLevelFlags level, const GLogField *fields,
                                       gsize n_fields, gpointer user_data) {
        GString *record = g_string_new(NULL);

        for (gsize i = 0; i < n_fields; i++)
                if (fields[i].length < 0)
                        g_string_append_printf(record, "%s=%s\n", fields[i].key,
                                               (const char *) fields[i].value);
        g_ptr_array_add(logged, g_string_free(record, FALSE));
        return G_LOG_WRITER_HANDLED;
}

/* The one record whose MESSAGE contains @needle (fails when none or several). */
static const char *logged_record(const char *needle) {
        const char *found = NULL;

        for (guint i = 0; i < logged->len; i++)
                if (strstr(logged->pdata[i], needle)) {
                        ck_assert_msg(!found, "two records with '%s'", needle);
                        found = logged->pdata[i];
                }
        ck_assert_msg(found, "no record with '%s' among %u", needle, logged->len);
        return found;
}

START_TEST(test_interface_decisions_logged_private_contexts_not) {
        g_autoptr(GError) error = NULL;
        static gboolean installed;

        logged = g_ptr_array_new_with_free_func(g_free);
        /* Once per process: GLib refuses a second writer. */
        if (!installed)
                g_log_set_writer_func(capture_writer, NULL, NULL);
        installed = TRUE;
        g_log_set_debug_enabled(TRUE);

        assert_return_unref(open_context("a/b", NULL, 0, NULL));
        assert_return_unref(select_certificate("a/b", NULL, 0, NULL, 0));
        const char *r = logged_record("SelectCertificate");
        ck_assert_msg(strstr(r, "MESSAGE=a/b example.com:443: SelectCertificate: none "
                                "(nothing-eligible), generation 1, 0 eligible of 0\n") &&
                      strstr(r, "TLSID_CONTEXT=a/b\n") &&
                      strstr(r, "TLSID_ORIGIN=example.com:443\n") &&
                      strstr(r, "GLIB_DOMAIN=tlsidd\n") &&
                      strstr(r, "CODE_FUNC=select_certificate\n") &&
                      strstr(r, "CODE_FILE="), "%s", r);

        /* An ephemeral context (private browsing): the decision is logged without it. */
        g_ptr_array_set_size(logged, 0);
        ck_assert(store_open_context(fx.store, "private/tab-1", TRUE, NULL, ":1.99", &error));
        assert_return_unref(select_certificate("private/tab-1", NULL, 0, NULL, 0));
        r = logged_record("SelectCertificate");
        ck_assert_msg(strstr(r, "MESSAGE=a private context: SelectCertificate: none") &&
                      !strstr(r, "private/tab-1") && !strstr(r, "example.com") &&
                      !strstr(r, "TLSID_CONTEXT=") && !strstr(r, "TLSID_ORIGIN="), "%s", r);
        g_log_set_debug_enabled(FALSE);
        g_clear_pointer(&logged, g_ptr_array_unref);
}
END_TEST

/* Properties.GetAll(@interface). */
static DBusMessage *get_all(const char *interface) {
        DBusMessage *m = new_call(DBUS_INTERFACE_PROPERTIES, "GetAll");

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &interface, DBUS_TYPE_INVALID));
        return call_sync(m);
}

/* Properties.Get(@interface, @name). */
static DBusMessage *get_property(const char *interface, const char *name) {
        DBusMessage *m = new_call(DBUS_INTERFACE_PROPERTIES, "Get");

        ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING,
                                           &name, DBUS_TYPE_INVALID));
        return call_sync(m);
}

/* Checks the value in @variant of property @name against the fixture. */
static void assert_property_value(const char *name, DBusMessageIter *variant) {
        const char *text = NULL;
        dbus_uint32_t u = 0;
        dbus_uint64_t t = 0;

        if (strcmp(name, "Version") == 0) {
                dbus_message_iter_get_basic(variant, &text);
                ck_assert_str_eq(text, PACKAGE_VERSION);
        } else if (strcmp(name, "MaxContexts") == 0) {
                dbus_message_iter_get_basic(variant, &u);
                ck_assert_uint_eq(u, FX_MAX_CONTEXTS);
        } else if (strcmp(name, "MaxTokenBytes") == 0) {
                dbus_message_iter_get_basic(variant, &t);
                ck_assert_uint_eq(t, FX_MAX_TOKEN_BYTES);
        } else if (strcmp(name, "MaxSenders") == 0) {
                dbus_message_iter_get_basic(variant, &u);
                ck_assert_uint_eq(u, fx_config.max_senders);
        }
}

START_TEST(test_interface_properties_have_values) {
        g_autoptr(GPtrArray) members = xml_members();
        const char *const interfaces[] = { TLSID_INTERFACE, "" };

        for (size_t k = 0; k < G_N_ELEMENTS(interfaces); k++) {
                DBusMessage *reply = get_all(interfaces[k]);
                DBusMessageIter it, dict, entry, variant;
                guint n = 0;

                assert_return(reply);
                ck_assert(dbus_message_has_signature(reply, "a{sv}"));
                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &dict);
                for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
                     dbus_message_iter_next(&dict)) {
                        const char *name = NULL;

                        dbus_message_iter_recurse(&dict, &entry);
                        dbus_message_iter_get_basic(&entry, &name);
                        dbus_message_iter_next(&entry);
                        dbus_message_iter_recurse(&entry, &variant);
                        XmlMember *x = xml_find(members, TLSID_INTERFACE, name, XML_PROPERTY);
                        ck_assert_msg(x != NULL, "GetAll gave %s, not in the XML", name);
                        g_autofree char *sig = dbus_message_iter_get_signature(&variant);
                        ck_assert_str_eq(sig, x->in->str);
                        assert_property_value(name, &variant);
                        n++;
                }
                ck_assert_uint_eq(n, _PROPERTY_MAX);
                dbus_message_unref(reply);
        }

        /* Get gives each XML property with its type and the same value. */
        for (guint i = 0; i < members->len; i++) {
                XmlMember *x = g_ptr_array_index(members, i);
                DBusMessageIter it, variant;

                if (x->kind != XML_PROPERTY)
                        continue;
                DBusMessage *reply = get_property(x->interface, x->name);
                assert_return(reply);
                ck_assert(dbus_message_has_signature(reply, "v"));
                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &variant);
                g_autofree char *sig = dbus_message_iter_get_signature(&variant);
                ck_assert_msg(strcmp(sig, x->in->str) == 0, "%s: Get gave type %s, XML %s",
                              x->name, sig, x->in->str);
                assert_property_value(x->name, &variant);
                dbus_message_unref(reply);
        }
}
END_TEST

START_TEST(test_interface_properties_errors) {
        DBusMessageIter it, dict;
        DBusMessage *reply = get_all(DBUS_INTERFACE_INTROSPECTABLE);

        /* The object's other interfaces have no properties... */
        assert_return(reply);
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &dict);
        ck_assert_int_eq(dbus_message_iter_get_arg_type(&dict), DBUS_TYPE_INVALID);
        dbus_message_unref(reply);
        /* ...and one it does not have is unknown. */
        assert_error(get_all("org.example.Other"), DBUS_ERROR_UNKNOWN_INTERFACE,
                     "org.example.Other");
        assert_error(get_property("org.example.Other", "Version"),
                     DBUS_ERROR_UNKNOWN_INTERFACE, "org.example.Other");
        assert_error(get_property(TLSID_INTERFACE, "Colour"), DBUS_ERROR_UNKNOWN_PROPERTY,
                     "Colour");
        assert_error(get_property(DBUS_INTERFACE_INTROSPECTABLE, "Version"),
                     DBUS_ERROR_UNKNOWN_PROPERTY, "Version");
}
END_TEST

static Suite *interface_suite(void) {
        Suite *s = suite_create("interface");
        TCase *tc = tcase_create("contract");
        TCase *dispatch = tcase_create("dispatch");

        tcase_add_test(tc, test_interface_xml_methods_in_table);
        tcase_add_test(tc, test_interface_table_methods_in_xml);
        tcase_add_test(tc, test_interface_signals_match_xml);
        tcase_add_test(tc, test_interface_properties_match_xml);
        tcase_add_test(tc, test_interface_no_reply_annotation);
        tcase_add_test(tc, test_interface_embedded_xml_matches_file);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(dispatch, setup, teardown);
        tcase_add_test(dispatch, test_interface_dispatch_checks_signature);
        tcase_add_test(dispatch, test_interface_dispatch_unknown_method);
        tcase_add_test(dispatch, test_interface_peer_sender_not_trusted);
        tcase_add_test(dispatch, test_interface_options_checked);
        tcase_add_test(dispatch, test_interface_introspect_returns_contract);
        tcase_add_test(dispatch, test_interface_put_without_reply_then_take);
        tcase_add_test(dispatch, test_interface_set_choice_signals_before_reply);
        tcase_add_test(dispatch, test_interface_select_without_certificates);
        tcase_add_test(dispatch, test_interface_list_certificates_and_policy_defaults);
        tcase_add_test(dispatch, test_interface_decisions_logged_private_contexts_not);
        tcase_add_test(dispatch, test_interface_properties_have_values);
        tcase_add_test(dispatch, test_interface_properties_errors);
        suite_add_tcase(s, dispatch);
        return s;
}

int main(void) {
        return test_run_suite(interface_suite(), CK_FORK_GETENV);
}
