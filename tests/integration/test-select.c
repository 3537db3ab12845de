/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: SelectCertificate, ListCertificates and GetPolicy against tlsidd on a
 * private bus, with certificates and an NSS database generated for the run
 * (tests/helpers/make-certs.sh), through libtlsid, raw libdbus and tlsidctl. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "json-check.h"
#include "test-bus.h"

#define CALL_TIMEOUT_MS 20000

#define CTX "app/select"
#define ORIGIN "www.example.com:443"
#define OTHER_ORIGIN "other.test:443"

#define ERR_INVALID "org.tlsid.Error.InvalidArgument"

/* --- daemon set-up --- */

static void setup(void) {
        test_bus_start();
        use_nss_db("nssdb");
}

static void teardown(void) {
        test_bus_stop();
}

/* --- libtlsid helpers --- */

static TlsidContext *context_open(TlsidClient *client) {
        TlsidContext *context = NULL;

        ASSERT_OK(tlsid_context_open(client, CTX, 0, NULL, &context));
        return context;
}

typedef struct {
        TlsidDecision decision;
        char *identity;
        uint32_t generation;
        TlsidCertificateInfo *eligible;
        size_t n;
} Result;

static void result_clear(Result *r) {
        free(r->identity);
        tlsid_certificate_infos_free(r->eligible, r->n);
        memset(r, 0, sizeof *r);
}

/* Candidates from certificate names, each with the chain @chain (names, NULL-ended). */
typedef struct {
        TlsidCandidate items[16];
        TlsidDer chains[16][4];
        GBytes *keep[80];
        size_t n, n_keep;
} Candidates;

static const void *keep(Candidates *c, GBytes *bytes, size_t *ret_len) {
        gsize len;
        const void *data = g_bytes_get_data(bytes, &len);

        ck_assert_uint_lt(c->n_keep, G_N_ELEMENTS(c->keep));
        c->keep[c->n_keep++] = bytes;
        *ret_len = len;
        return data;
}

static void candidates_add(Candidates *c, const char *leaf, const char *const *chain) {
        TlsidCandidate *item = &c->items[c->n];
        size_t k = 0;

        ck_assert_uint_lt(c->n, G_N_ELEMENTS(c->items));
        item->der = keep(c, cert_der(leaf), &item->len);
        for (; chain && chain[k]; k++)
                c->chains[c->n][k].der = keep(c, cert_der(chain[k]), &c->chains[c->n][k].len);
        item->chain = c->chains[c->n];
        item->n_chain = k;
        c->n++;
}

static void candidates_clear(Candidates *c) {
        for (size_t i = 0; i < c->n_keep; i++)
                g_bytes_unref(c->keep[i]);
        memset(c, 0, sizeof *c);
}

static const char *const under_inter[] = { "inter", "root", NULL };

static Result select_cert(TlsidContext *context, const char *origin,
                          const TlsidCertRequest *request, const Candidates *candidates) {
        Result r = { 0 };

        ASSERT_OK(tlsid_context_select_certificate(context, origin, request,
                                                   candidates ? candidates->items : NULL,
                                                   candidates ? candidates->n : 0, &r.decision,
                                                   &r.identity, &r.generation, &r.eligible, &r.n));
        return r;
}

static const TlsidCertificateInfo *find_eligible(const Result *r, const char *identity) {
        for (size_t i = 0; i < r->n; i++)
                if (strcmp(r->eligible[i].identity, identity) == 0)
                        return &r->eligible[i];
        return NULL;
}

static uint32_t generation_of(TlsidContext *context, const char *origin) {
        uint32_t generation = 0;

        ASSERT_OK(tlsid_context_get_partition(context, origin, NULL, NULL, &generation, NULL));
        return generation;
}

static void reload_policy(void) {
        pid_t pid = test_bus_daemon_pid();

        ck_assert_int_gt(pid, 0);
        ck_assert_int_eq(kill(pid, SIGHUP), 0);
}

/* --- tests --- */

START_TEST(test_select_explicit_candidates) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        /* rsa_pkcs1_sha256 only for the chain's signatures: TLS 1.3 keys need PSS. */
        static const uint16_t schemes[] = { 0x0804, 0x0403, 0x0401 };
        TlsidCertRequest request = {
                .tls_version = 0x0304,
                .signature_schemes = schemes,
                .n_signature_schemes = G_N_ELEMENTS(schemes),
        };
        Candidates c = { 0 };
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *ec = fingerprint("ec256");
        const TlsidCertificateInfo *info;
        Result r;

        candidates_add(&c, "rsa", under_inter);
        candidates_add(&c, "ec256", under_inter);
        candidates_add(&c, "expired", under_inter);
        candidates_add(&c, "server-auth", under_inter);
        candidates_add(&c, "ec384", under_inter); /* no P-384 scheme offered */

        r = select_cert(context, ORIGIN, &request, &c);
        /* Undecided under the default policy (mode ask). */
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        ck_assert_str_eq(r.identity, "");
        ck_assert_uint_eq(r.n, 2);
        info = find_eligible(&r, rsa);
        ck_assert_ptr_nonnull(info);
        ck_assert_str_eq(info->key_type, "rsa");
        ck_assert_ptr_nonnull(strstr(info->subject, "CN=rsa client"));
        ck_assert_ptr_nonnull(strstr(info->issuer, "CN=tlsid Test Intermediate CA"));
        ck_assert_int_lt(info->not_before, (int64_t) time(NULL));
        ck_assert_int_gt(info->not_after, (int64_t) time(NULL) + 86400);
        info = find_eligible(&r, ec);
        ck_assert_ptr_nonnull(info);
        ck_assert_str_eq(info->key_type, "ec");
        result_clear(&r);

        /* An ask changes nothing. */
        ck_assert_uint_eq(generation_of(context, ORIGIN), generation_of(context, ORIGIN));
        candidates_clear(&c);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_from_daemon_database) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *ec = fingerprint("ec256");
        TlsidCertificateInfo *infos = NULL;
        size_t n = 0;
        Result r;

        /* No request, no candidates: the database's user certificates, all eligible. */
        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        ck_assert_uint_eq(r.n, 2);
        ck_assert_ptr_nonnull(find_eligible(&r, rsa));
        ck_assert_str_eq(find_eligible(&r, rsa)->nickname, "rsa client");
        ck_assert_str_eq(find_eligible(&r, ec)->nickname, "ec256 client");
        result_clear(&r);

        ASSERT_OK(tlsid_client_list_certificates(client, &infos, &n));
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(infos[0].nickname, "ec256 client");
        ck_assert_str_eq(infos[0].identity, ec);
        ck_assert_str_eq(infos[0].key_type, "ec");
        ck_assert_str_eq(infos[1].nickname, "rsa client");
        ck_assert_str_eq(infos[1].identity, rsa);
        tlsid_certificate_infos_free(infos, n);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_remembered_choice) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autofree char *rsa = fingerprint("rsa");
        uint32_t generation;
        Changes changes;
        Result r;

        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, rsa,
                                           TLSID_CHOICE_REMEMBER));
        generation = generation_of(context, ORIGIN);
        watch_changes(client, &changes);
        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(r.identity, rsa);
        ck_assert_uint_eq(r.n, 2);
        result_clear(&r);
        /* The same choice: no change, no signal, and it is still remembered. */
        ck_assert_uint_eq(generation_of(context, ORIGIN), generation);
        test_bus_restart_daemon();
        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(r.identity, rsa);
        result_clear(&r);
        tlsid_client_dispatch(client);
        ck_assert_msg(changes.count == 0, "%d changes, last %d %s %u", changes.count,
                      changes.state, changes.identity, changes.generation);

        /* Another origin is undecided. */
        r = select_cert(context, OTHER_ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        result_clear(&r);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_none) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autoptr(GBytes) other_ca = subject_der("ec-ca");
        TlsidDer ca_names[1];
        TlsidCertRequest request = { .ca_names = ca_names, .n_ca_names = 1 };
        Result r;

        /* Nothing eligible (neither database certificate is under the ECDSA CA): none,
         * without asking anyone. */
        ca_names[0].der = g_bytes_get_data(other_ca, &ca_names[0].len);
        r = select_cert(context, ORIGIN, &request, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_NONE);
        ck_assert_str_eq(r.identity, "");
        ck_assert_uint_eq(r.n, 0);
        result_clear(&r);

        /* The choice none: none, although certificates are eligible. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_NONE, NULL, 0));
        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_NONE);
        ck_assert_uint_eq(r.n, 2);
        result_clear(&r);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_ineligible_choice_asks) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *expired = fingerprint("expired");
        g_autoptr(GBytes) root = subject_der("root");
        g_autoptr(GBytes) dsa_ca = subject_der("dsa-ca");
        static const char *const under_dsa_ca[] = { "dsa-ca", NULL };
        TlsidDer ca_names[1];
        TlsidCertRequest request = { .ca_names = ca_names, .n_ca_names = 1 };
        Candidates c = { 0 };
        Result r;

        candidates_add(&c, "rsa", under_inter);
        candidates_add(&c, "expired", under_inter);
        candidates_add(&c, "dsa", under_dsa_ca);

        /* A CA name that only the root above the intermediate has: rsa is allowed. */
        ca_names[0].der = g_bytes_get_data(root, &ca_names[0].len);
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, rsa, 0));
        uint32_t generation = generation_of(context, ORIGIN);
        r = select_cert(context, ORIGIN, &request, &c);
        ck_assert_int_eq(r.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(r.identity, rsa);
        ck_assert_uint_eq(r.n, 1);
        result_clear(&r);

        /* The server now asks for the DSA CA only: the remembered certificate is not
         * allowed, another one is, and the daemon asks rather than switch. */
        ca_names[0].der = g_bytes_get_data(dsa_ca, &ca_names[0].len);
        r = select_cert(context, ORIGIN, &request, &c);
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        ck_assert_str_eq(r.identity, "");
        ck_assert_uint_eq(r.n, 1);
        ck_assert_str_eq(r.eligible[0].key_type, "dsa");
        result_clear(&r);

        /* A remembered certificate that expired: ask too. */
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, expired,
                                           0));
        r = select_cert(context, ORIGIN, NULL, &c);
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        ck_assert_ptr_null(find_eligible(&r, expired));
        result_clear(&r);
        /* Asking changed nothing: the choice is still the expired certificate. */
        char *identity = NULL;
        TlsidChoice state;
        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, &state, &identity, NULL, NULL));
        ck_assert_int_eq(state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_str_eq(identity, expired);
        ck_assert_uint_gt(generation_of(context, ORIGIN), generation);
        free(identity);
        candidates_clear(&c);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_policy_auto) {
        TlsidClient *client, *watcher;
        TlsidContext *context;
        Changes changes;
        uint32_t before;
        Result r;

        write_policy("{\"mode\": \"auto\", "
                     "\"contexts\": {\"app/private-\": {\"mode\": \"none\"}}}");
        client = client_new();
        watcher = client_new();
        context = context_open(client);
        watch_changes(watcher, &changes);
        before = generation_of(context, ORIGIN);

        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_uint_eq(r.n, 2);
        /* The best eligible one. */
        ck_assert_str_eq(r.identity, r.eligible[0].identity);
        ck_assert(dispatch_until(watcher, &changes.count, 1));
        ck_assert_str_eq(changes.identity, r.identity);
        ck_assert_int_eq(changes.state, TLSID_CHOICE_CERTIFICATE);
        ck_assert_uint_gt(changes.generation, before);
        ck_assert_uint_eq(generation_of(context, ORIGIN), changes.generation);

        /* It is the choice now: the same again is no change. */
        Result again = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(again.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(again.identity, r.identity);
        ck_assert_uint_eq(generation_of(context, ORIGIN), changes.generation);
        result_clear(&again);
        result_clear(&r);

        /* A context override: mode none for app/private-... */
        TlsidContext *private = NULL;
        ASSERT_OK(tlsid_context_open(client, "app/private-1", TLSID_CONTEXT_EPHEMERAL, NULL,
                                     &private));
        r = select_cert(private, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_NONE);
        result_clear(&r);
        tlsid_context_unref(private);
        tlsid_context_unref(context);
        tlsid_client_unref(watcher);
        tlsid_client_unref(client);
}
END_TEST

static bool has_auto_select(const char *json, const char *problem) {
        return strstr(json, "ec256 client") != NULL;
}

START_TEST(test_select_policy_auto_select_after_sighup) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autofree char *ec = fingerprint("ec256");
        Changes changes;
        uint32_t before;
        Result r;

        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        result_clear(&r);

        write_policy("{\"auto_select\": [\"{\\\"pattern\\\": \\\"https://[*.]example.com\\\", "
                     "\\\"filter\\\": {\\\"SUBJECT\\\": {\\\"CN\\\": \\\"ec256 client\\\"}, "
                     "\\\"ISSUER\\\": {\\\"O\\\": \\\"tlsid test\\\"}}}\"]}");
        reload_policy();
        wait_policy(client, has_auto_select);

        watch_changes(client, &changes);
        before = generation_of(context, ORIGIN);
        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(r.identity, ec);
        result_clear(&r);
        ck_assert(dispatch_until(client, &changes.count, 1));
        ck_assert_str_eq(changes.identity, ec);
        ck_assert_uint_gt(changes.generation, before);

        /* The pattern does not match another host: ask. */
        r = select_cert(context, OTHER_ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_ASK);
        result_clear(&r);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

static bool has_error(const char *json, const char *problem) {
        return problem != NULL;
}

START_TEST(test_select_bad_policy_keeps_previous) {
        TlsidClient *client;
        TlsidContext *context;
        char *json = NULL, *problem = NULL;
        Result r;

        write_policy("{\"mode\": \"none\"}\n");
        client = client_new();
        context = context_open(client);
        ASSERT_OK(tlsid_client_get_policy(client, &json, &problem));
        ck_assert_ptr_null(problem);
        ck_assert_ptr_nonnull(strstr(json, "\"none\""));
        free(json);

        write_policy("{\n  \"mode\": \"auto\",,\n}\n");
        reload_policy();
        wait_policy(client, has_error);
        ASSERT_OK(tlsid_client_get_policy(client, &json, &problem));
        ck_assert_msg(strstr(problem, "policy.json:2:") != NULL, "error: %s", problem);
        /* The previous policy is still in force. */
        ck_assert_ptr_nonnull(strstr(json, "\"none\""));
        free(json);
        free(problem);
        r = select_cert(context, ORIGIN, NULL, NULL);
        ck_assert_int_eq(r.decision, TLSID_DECISION_NONE);
        result_clear(&r);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_token_expiry_clamped_to_not_after) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autofree char *short_lived = fingerprint("short");
        static const char *const chain[] = { "inter", NULL };
        TlsidSessionInfo *sessions = NULL;
        Candidates c = { 0 };
        uint32_t generation;
        size_t n = 0;
        Result r;

        candidates_add(&c, "short", chain);
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE,
                                           short_lived, 0));
        r = select_cert(context, ORIGIN, NULL, &c);
        ck_assert_int_eq(r.decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_uint_eq(r.n, 1);
        int64_t not_after = r.eligible[0].not_after;
        /* Valid for a day: well inside the 7 days of a TLS 1.3 token. */
        ck_assert_int_lt(not_after, (int64_t) time(NULL) + 2 * 86400);
        result_clear(&r);

        generation = generation_of(context, ORIGIN);
        ASSERT_OK(tlsid_context_put_session(context, ORIGIN, short_lived, generation, "ticket",
                                            6, (int64_t) time(NULL) + 5 * 86400, 0x0304, NULL));
        ASSERT_OK(tlsid_client_list_sessions(client, CTX, &sessions, &n));
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(sessions[0].tokens, 1);
        ck_assert_int_gt(sessions[0].earliest_expiry, 0);
        ck_assert_int_le(sessions[0].earliest_expiry, not_after);
        tlsid_session_infos_free(sessions, n);
        candidates_clear(&c);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* --- bad requests, with raw libdbus so nothing checks them first --- */

typedef void (*FillFn)(DBusMessageIter *it, int arg);

static void append_bytes(DBusMessageIter *it, const void *data, int len) {
        DBusMessageIter array;
        const unsigned char *p = data;

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "y", &array));
        if (len > 0)
                ck_assert(dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &p, len));
        ck_assert(dbus_message_iter_close_container(it, &array));
}

/* One request entry @key holding a value of @signature, filled by @fill. */
static void request_entry(DBusMessageIter *dict, const char *key, const char *signature,
                          FillFn fill, int arg) {
        DBusMessageIter entry, variant;

        ck_assert(dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
        ck_assert(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
        ck_assert(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature,
                                                   &variant));
        fill(&variant, arg);
        ck_assert(dbus_message_iter_close_container(&entry, &variant));
        ck_assert(dbus_message_iter_close_container(dict, &entry));
}

static void fill_string(DBusMessageIter *it, int arg) {
        const char *s = "1.3";

        ck_assert(dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &s));
}

/* @n names (an empty SEQUENCE each), or one empty name when @n is negative. */
static void fill_names(DBusMessageIter *it, int n) {
        DBusMessageIter array;
        const guint8 name[] = { 0x30, 0x00 };

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "ay", &array));
        for (int i = 0; i < n; i++)
                append_bytes(&array, name, sizeof name);
        if (n < 0)
                append_bytes(&array, NULL, 0);
        ck_assert(dbus_message_iter_close_container(it, &array));
}

static void fill_bad_oid_filter(DBusMessageIter *it, int arg) {
        DBusMessageIter array, pair;

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "(ayay)", &array));
        ck_assert(dbus_message_iter_open_container(&array, DBUS_TYPE_STRUCT, NULL, &pair));
        append_bytes(&pair, NULL, 0);
        append_bytes(&pair, NULL, 0);
        ck_assert(dbus_message_iter_close_container(&array, &pair));
        ck_assert(dbus_message_iter_close_container(it, &array));
}

static void fill_garbage(DBusMessageIter *it, int len) {
        g_autofree guint8 *data = g_malloc0((gsize) len);

        append_bytes(it, data, len);
}

/* @n candidates, each a leaf of @leaf_len garbage bytes (or the rsa certificate when 0)
 * with @chain_len chain entries (the intermediate). */
static void fill_candidates(DBusMessageIter *it, int n, int leaf_len, int chain_len) {
        g_autoptr(GBytes) rsa = cert_der("rsa");
        g_autoptr(GBytes) inter = cert_der("inter");
        DBusMessageIter array, pair, chain, meta;
        gsize len;

        ck_assert(dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &array));
        for (int i = 0; i < n; i++) {
                ck_assert(dbus_message_iter_open_container(&array, DBUS_TYPE_STRUCT, NULL,
                                                           &pair));
                if (leaf_len) {
                        fill_garbage(&pair, leaf_len);
                } else {
                        const void *data = g_bytes_get_data(rsa, &len);
                        append_bytes(&pair, data, (int) len);
                }
                ck_assert(dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "ay", &chain));
                for (int k = 0; k < chain_len; k++) {
                        const void *data = g_bytes_get_data(inter, &len);
                        append_bytes(&chain, data, (int) len);
                }
                ck_assert(dbus_message_iter_close_container(&pair, &chain));
                ck_assert(dbus_message_iter_open_container(&pair, DBUS_TYPE_ARRAY, "{sv}", &meta));
                ck_assert(dbus_message_iter_close_container(&pair, &meta));
                ck_assert(dbus_message_iter_close_container(&array, &pair));
        }
        ck_assert(dbus_message_iter_close_container(it, &array));
}

typedef struct {
        const char *name;
        const char *key;        /* NULL: no request entry */
        const char *signature;
        FillFn fill;
        int arg;
        int n_candidates, leaf_len, chain_len;
        const char *needle;     /* what the InvalidArgument message starts with */
} BadCase;

static const BadCase bad_cases[] = {
        { "unknown key", "colour", "s", fill_string, 0, 0, 0, 0, "request.colour: unknown key" },
        { "wrong type", "tls_version", "s", fill_string, 0, 0, 0, 0,
          "request.tls_version: expected type q, got s" },
        { "ca_names as a string", "ca_names", "s", fill_string, 0, 0, 0, 0,
          "request.ca_names: expected type aay" },
        { "too many ca_names", "ca_names", "aay", fill_names, 257, 0, 0, 0,
          "request.ca_names: at most 256" },
        { "empty ca_names", "ca_names", "aay", fill_names, 0, 0, 0, 0, NULL },
        { "empty CA name", "ca_names", "aay", fill_names, -1, 0, 0, 0,
          "request.ca_names[0]: a DER name is 1 to" },
        { "bad oid", "oid_filters", "a(ayay)", fill_bad_oid_filter, 0, 0, 0, 0,
          "request.oid_filters[0]" },
        { "garbage server certificate", "server_certificate", "ay", fill_garbage, 40, 0, 0, 0,
          "request.server_certificate" },
        { "too many candidates", NULL, NULL, NULL, 0, 65, 0, 0, "candidates: at most 64" },
        { "chain too long", NULL, NULL, NULL, 0, 1, 0, 9, "candidates[0].chain: at most 8" },
        { "certificate too big", NULL, NULL, NULL, 0, 1, 65537, 0, "candidates[0]: " },
        { "garbage candidate", NULL, NULL, NULL, 0, 2, 30, 0, "candidates[0]" },
};

START_TEST(test_select_bad_request_fields) {
        const BadCase *bc = &bad_cases[_i];
        DBusConnection *conn = test_bus_connect();
        DBusMessage *m;
        DBusMessageIter it, dict;
        DBusError error = DBUS_ERROR_INIT;
        const char *context = CTX, *origin = ORIGIN;
        TlsidClient *client = client_new();
        TlsidContext *ctx = context_open(client);

        m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH, TEST_BUS_INTERFACE,
                                         "SelectCertificate");
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict));
        if (bc->key)
                request_entry(&dict, bc->key, bc->signature, bc->fill, bc->arg);
        ck_assert(dbus_message_iter_close_container(&it, &dict));
        fill_candidates(&it, bc->n_candidates, bc->leaf_len, bc->chain_len);

        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, CALL_TIMEOUT_MS,
                                                                        &error);
        dbus_message_unref(m);
        if (!bc->needle) {
                /* Accepted: an empty list of names means any CA. */
                ck_assert_msg(reply != NULL, "%s: %s", bc->name, error.message);
                dbus_message_unref(reply);
        } else {
                ck_assert_msg(reply == NULL, "%s: accepted", bc->name);
                ck_assert_str_eq(error.name, ERR_INVALID);
                ck_assert_msg(strncmp(error.message, bc->needle, strlen(bc->needle)) == 0,
                              "%s: \"%s\" does not start with \"%s\"", bc->name, error.message,
                              bc->needle);
                dbus_error_free(&error);
        }

        /* The daemon still answers, with the context intact. */
        Result r = select_cert(ctx, ORIGIN, NULL, NULL);
        ck_assert_uint_eq(r.n, 2);
        result_clear(&r);
        tlsid_context_unref(ctx);
        tlsid_client_unref(client);
        test_bus_disconnect(conn);
}
END_TEST

START_TEST(test_select_library_checks_arguments) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        TlsidCandidate many[65] = { 0 };
        TlsidCertRequest request = { .n_ca_names = 1 };
        TlsidDecision decision;

        for (size_t i = 0; i < G_N_ELEMENTS(many); i++) {
                many[i].der = "x";
                many[i].len = 1;
        }
        ck_assert_int_eq(tlsid_context_select_certificate(context, ORIGIN, NULL, many, 65,
                                                          &decision, NULL, NULL, NULL, NULL),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(tlsid_error_message(), "candidates"));
        /* n_ca_names without ca_names. */
        ck_assert_int_eq(tlsid_context_select_certificate(context, ORIGIN, &request, NULL, 0,
                                                          &decision, NULL, NULL, NULL, NULL),
                         -EINVAL);
        ck_assert_int_eq(tlsid_context_select_certificate(context, "Bad:443", NULL, NULL, 0,
                                                          &decision, NULL, NULL, NULL, NULL),
                         -EINVAL);
        /* An unknown context is -ENOENT, from the daemon. */
        ASSERT_OK(tlsid_context_close(context, NULL));
        ck_assert_int_eq(tlsid_context_select_certificate(context, ORIGIN, NULL, NULL, 0,
                                                          &decision, NULL, NULL, NULL, NULL),
                         -ENOENT);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* --- tlsidctl --- */

static char *ctl_out, *ctl_err;

/* Runs tlsidctl on the test bus with @args (NULL-ended); returns its exit status. */
static int run_ctl(const char *first, ...) {
        const char *argv[16] = { getenv("TLSIDCTL"), "--bus-address", test_bus_address() };
        g_autoptr(GError) error = NULL;
        size_t n = 3;
        int status = -1;
        va_list ap;

        ck_assert_ptr_nonnull(argv[0]);
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *)) {
                ck_assert_uint_lt(n, G_N_ELEMENTS(argv) - 1);
                argv[n++] = a;
        }
        va_end(ap);
        argv[n] = NULL;
        g_clear_pointer(&ctl_out, g_free);
        g_clear_pointer(&ctl_err, g_free);
        ck_assert_msg(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   &ctl_out, &ctl_err, &status, &error),
                      "%s", error ? error->message : "");
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void choice_is(TlsidContext *context, const char *expected) {
        char *identity = NULL;

        ASSERT_OK(tlsid_context_get_partition(context, ORIGIN, NULL, &identity, NULL, NULL));
        ck_assert_str_eq(identity, expected);
        free(identity);
}

START_TEST(test_select_tlsidctl) {
        TlsidClient *client = client_new();
        TlsidContext *context = context_open(client);
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *ec = fingerprint("ec256");
        g_autofree char *prefix = g_strndup(rsa, 6);
        g_autofree char *colons = g_strdup_printf("%.2s:%.2s:%.2s", rsa, rsa + 2, rsa + 4);

        ck_assert_int_eq(run_ctl("certs", NULL), 0);
        ck_assert_msg(strstr(ctl_out, "FINGERPRINT") && strstr(ctl_out, rsa) &&
                      strstr(ctl_out, "rsa client") && strstr(ctl_out, ec) &&
                      strstr(ctl_out, "CN=tlsid Test Intermediate CA"), "%s", ctl_out);
        ck_assert_int_eq(run_ctl("--json", "certs", NULL), 0);
        ck_assert_msg(json_check(ctl_out, NULL), "not JSON: %s", ctl_out);
        ck_assert_ptr_nonnull(strstr(ctl_out, "\"nickname\":\"ec256 client\""));
        ck_assert_ptr_nonnull(strstr(ctl_out, "\"not_after\":"));

        /* choose by nickname, by prefix, with colons. */
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, "ec256 client", NULL), 0);
        choice_is(context, ec);
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, prefix, NULL), 0);
        choice_is(context, rsa);
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, "none", NULL), 0);
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, colons, NULL), 0);
        choice_is(context, rsa);
        /* Too short a prefix, an unknown name: refused, the choice unchanged. */
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, "abc", NULL), 1);
        ck_assert_ptr_nonnull(strstr(ctl_err, "tlsidctl: choose: no certificate"));
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, "no such client", NULL), 1);
        choice_is(context, rsa);

        /* policy: the default, then a bad file after a good one. */
        ck_assert_int_eq(run_ctl("policy", NULL), 0);
        ck_assert_msg(strstr(ctl_out, "\"mode\"") && strstr(ctl_out, "\"ask\""), "%s", ctl_out);
        ck_assert_str_eq(ctl_err, "");
        write_policy("[1, 2");
        reload_policy();
        wait_policy(client, has_error);
        ck_assert_int_eq(run_ctl("policy", NULL), 0);
        ck_assert_ptr_nonnull(strstr(ctl_out, "\"ask\""));
        ck_assert_msg(strstr(ctl_err, "tlsidctl: policy: policy.json:1:") != NULL, "%s", ctl_err);
        ck_assert_int_eq(run_ctl("--json", "policy", NULL), 0);
        ck_assert_msg(json_check(ctl_out, NULL), "not JSON: %s", ctl_out);
        ck_assert_ptr_nonnull(strstr(ctl_out, "\"error\":\"policy.json:1:"));
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_select_tlsidctl_ambiguous_nickname) {
        TlsidClient *client;
        TlsidContext *context;
        g_autofree char *rsa = fingerprint("rsa");
        g_autofree char *rsa2 = fingerprint("rsa2");

        /* A database where two certificates (same subject) share a nickname. */
        use_nss_db("nssdb-dup");
        client = client_new();
        context = context_open(client);
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, "rsa client", NULL), 1);
        ck_assert_msg(strstr(ctl_err, "matches 2 certificates") && strstr(ctl_err, rsa) &&
                      strstr(ctl_err, rsa2), "%s", ctl_err);
        ck_assert_msg(strchr(ctl_err, '\n') == ctl_err + strlen(ctl_err) - 1, "%s", ctl_err);
        choice_is(context, "");
        /* Either one by its fingerprint prefix. */
        g_autofree char *prefix = g_strndup(rsa2, 8);
        ck_assert_int_eq(run_ctl("choose", CTX, ORIGIN, prefix, NULL), 0);
        choice_is(context, rsa2);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

/* --- main --- */

/* Generates the certificates: make-certs.sh, a certificate valid for one day ("short"),
 * and a copy of the database with a second "rsa client" ("rsa2", same subject). */
static void make_certs(void) {
        certs_make(
                "printf '[c]\\nkeyUsage = critical, digitalSignature\\n"
                "extendedKeyUsage = clientAuth\\n' > short.cnf\n"
                "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out short.key\n"
                "openssl req -new -key short.key -subj '/O=tlsid test/CN=short client' "
                "-out short.csr\n"
                "openssl x509 -req -in short.csr -CA inter.pem -CAkey inter.key -set_serial 9001 "
                "-days 1 -extfile short.cnf -extensions c -out short.pem 2>/dev/null\n"
                "openssl x509 -in short.pem -outform DER -out short.der\n"
                "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.key\n"
                "openssl req -new -key rsa2.key -subj \"$(openssl x509 -in rsa.pem -noout "
                "-subject -nameopt compat | sed 's/^subject=//')\" -out rsa2.csr\n"
                "openssl x509 -req -in rsa2.csr -CA inter.pem -CAkey inter.key -set_serial 9002 "
                "-days 30 -extfile short.cnf -extensions c -out rsa2.pem 2>/dev/null\n"
                "openssl x509 -in rsa2.pem -outform DER -out rsa2.der\n"
                "cp -r nssdb nssdb-dup\n"
                "openssl pkcs12 -export -inkey rsa2.key -in rsa2.pem -name 'rsa client' "
                "-passout pass:t -out rsa2.p12\n"
                "pk12util -i rsa2.p12 -d sql:nssdb-dup -W t -K '' >/dev/null\n");
}

static Suite *select_suite(void) {
        Suite *s = suite_create("select");
        TCase *tc = tcase_create("select");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_select_explicit_candidates);
        tcase_add_test(tc, test_select_from_daemon_database);
        tcase_add_test(tc, test_select_remembered_choice);
        tcase_add_test(tc, test_select_none);
        tcase_add_test(tc, test_select_ineligible_choice_asks);
        tcase_add_test(tc, test_select_policy_auto);
        tcase_add_test(tc, test_select_policy_auto_select_after_sighup);
        tcase_add_test(tc, test_select_bad_policy_keeps_previous);
        tcase_add_test(tc, test_select_token_expiry_clamped_to_not_after);
        tcase_add_loop_test(tc, test_select_bad_request_fields, 0, G_N_ELEMENTS(bad_cases));
        tcase_add_test(tc, test_select_library_checks_arguments);
        tcase_add_test(tc, test_select_tlsidctl);
        tcase_add_test(tc, test_select_tlsidctl_ambiguous_nickname);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int status;

        make_certs();
        status = test_run_suite(select_suite(), CK_FORK);
        certs_remove();
        return status;
}
