/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of policy.json and Chromium's auto-select semantics (daemon/model/policy.c). */
#include <check.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "check-main.h"
#include "policy.h"
#include "store.h"
#include "tmp-dir.h"

static char *tmpdir;
static char *policy_path;

static void setup(void) {
        tmpdir = tmp_dir_make("tlsid-policy-XXXXXX");
        policy_path = g_build_filename(tmpdir, "policy.json", NULL);
}

static void teardown(void) {
        tmp_dir_remove(tmpdir);
        g_clear_pointer(&tmpdir, g_free);
        g_clear_pointer(&policy_path, g_free);
}

static Policy *load_text(const char *text, GError **error) {
        ck_assert(g_file_set_contents(policy_path, text, -1, NULL));
        return policy_load(policy_path, error);
}

/* The file text {"auto_select": [@entries...]}: each entry is the JSON text that
 * Chromium's policy holds as a string (transfer full). */
static char *auto_select_file(const char *const *entries) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "auto_select");
        json_builder_begin_array(b);
        for (gsize i = 0; entries[i]; i++)
                json_builder_add_string_value(b, entries[i]);
        json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        return json_generator_to_data(gen, NULL);
}

static Policy *load_entries(const char *const *entries) {
        g_autofree char *text = auto_select_file(entries);
        g_autoptr(GError) error = NULL;
        Policy *policy = load_text(text, &error);

        ck_assert_msg(policy, "%s: %s", text, error ? error->message : "");
        return policy;
}

/* --- certificates made by hand: only the names matter to policy --- */

typedef struct {
        const char *cn, *l;
        const char *o[3];
        const char *ou[3];
} NameSpec;

static void fill_name(CertName *name, const NameSpec *spec) {
        name->cn = g_strdup(spec->cn);
        name->l = g_strdup(spec->l);
        name->o = g_strdupv((char **) spec->o);
        name->ou = g_strdupv((char **) spec->ou);
}

static void clear_name(CertName *name) {
        g_free(name->cn);
        g_free(name->l);
        g_strfreev(name->o);
        g_strfreev(name->ou);
}

static CertInfo *make_cert(NameSpec subject, NameSpec issuer) {
        CertInfo *cert = g_new0(CertInfo, 1);

        fill_name(&cert->subject_name, &subject);
        fill_name(&cert->issuer_name, &issuer);
        return cert;
}

static void free_cert(CertInfo *cert) {
        clear_name(&cert->subject_name);
        clear_name(&cert->issuer_name);
        g_free(cert);
}

/* alice: issued by Acme CA, two organizations; bob: issued by Beta CA, no issuer L. */
static CertInfo *certs[2];

static void setup_certs(void) {
        setup();
        certs[0] = make_cert(
                (NameSpec) { "alice", "Berlin", { "Acme", "Other" }, { "Eng" } },
                (NameSpec) { "Acme CA", "Paris", { "Acme" }, { "PKI", "Ops" } });
        certs[1] = make_cert(
                (NameSpec) { "bob", "Rome", { "Beta" }, { NULL } },
                (NameSpec) { "Beta CA", NULL, { "Beta" }, { NULL } });
}

static void teardown_certs(void) {
        for (gsize i = 0; i < G_N_ELEMENTS(certs); i++)
                g_clear_pointer(&certs[i], free_cert);
        teardown();
}

/* --- patterns --- */

static const struct {
        const char *pattern;
        const char *origin;
        gboolean match;
} pattern_cases[] = {
        /* [*.]: the domain and every subdomain, on any port when none is given */
        { "[*.]example.com", "example.com:443", TRUE },
        { "[*.]example.com", "www.example.com:443", TRUE },
        { "[*.]example.com", "a.b.example.com:8443", TRUE },
        { "[*.]example.com", "badexample.com:443", FALSE },
        { "[*.]example.com", "example.com.evil.org:443", FALSE },
        { "[*.]example.com", "example.org:443", FALSE },
        /* a bare host: that host only, any scheme, any port */
        { "example.com", "example.com:443", TRUE },
        { "example.com", "example.com:8443", TRUE },
        { "example.com", "www.example.com:443", FALSE },
        /* scheme: https and * match, http never does (a TLS origin is https) */
        { "https://example.com", "example.com:443", TRUE },
        { "*://example.com", "example.com:443", TRUE },
        { "http://example.com", "example.com:443", FALSE },
        { "https://[*.]example.com", "www.example.com:443", TRUE },
        /* port */
        { "https://example.com:443", "example.com:443", TRUE },
        { "https://example.com:443", "example.com:8443", FALSE },
        { "example.com:8443", "example.com:8443", TRUE },
        { "example.com:*", "example.com:1234", TRUE },
        { "https://*:8443", "foo.example:8443", TRUE },
        { "https://*:8443", "foo.example:443", FALSE },
        /* "*": everything, IP literals included */
        { "*", "anything.example:1", TRUE },
        { "*", "[::1]:443", TRUE },
        { "*", "10.0.0.1:443", TRUE },
        { "[*.]example.com", "[::1]:443", FALSE },
        /* IP literals, compared by value */
        { "[::1]", "[::1]:443", TRUE },
        { "[0:0::1]", "[::1]:443", TRUE },
        { "https://[::1]:8443", "[::1]:8443", TRUE },
        { "https://[::1]:8443", "[::1]:443", FALSE },
        { "[::2]", "[::1]:443", FALSE },
        { "[2001:db8::1]", "[2001:db8::1]:443", TRUE },
        { "10.0.0.1", "10.0.0.1:443", TRUE },
        { "10.0.0.1", "10.0.0.2:443", FALSE },
        /* canonicalization: case, one trailing dot, IDN, a path (ignored) */
        { "HTTPS://Example.COM.", "example.com:443", TRUE },
        { "b\xc3\xbc" "cher.example", "xn--bcher-kva.example:443", TRUE },
        { "example.com/some/path", "example.com:443", TRUE },
        /* an invalid origin matches nothing */
        { "*", "Example.com:443", FALSE },
        { "*", "example.com", FALSE },
};

START_TEST(test_policy_pattern) {
        g_autofree char *entry = g_strdup_printf("{\"pattern\": \"%s\", \"filter\": {}}",
                                                 pattern_cases[_i].pattern);
        const char *entries[] = { entry, NULL };
        g_autoptr(Policy) policy = load_entries(entries);
        int got = policy_auto_select(policy, pattern_cases[_i].origin, certs, 2);

        ck_assert_msg(got == (pattern_cases[_i].match ? 0 : -1), "%s on %s: got %d",
                      pattern_cases[_i].pattern, pattern_cases[_i].origin, got);
}
END_TEST

/* --- filters --- */

static const struct {
        const char *filter;  /* "filter": ... or "filters": ... */
        int expected;
} filter_cases[] = {
        { "\"filter\": {}", 0 },
        { "\"filter\": {\"ISSUER\": {}}", 0 },
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Beta CA\"}}", 1 },
        /* CN and L: exact and case-sensitive */
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Beta\"}}", -1 },
        { "\"filter\": {\"ISSUER\": {\"CN\": \"beta ca\"}}", -1 },
        { "\"filter\": {\"SUBJECT\": {\"L\": \"Rome\"}}", 1 },
        { "\"filter\": {\"SUBJECT\": {\"L\": \"Rom\"}}", -1 },
        /* O and OU: one of the certificate's values */
        { "\"filter\": {\"SUBJECT\": {\"O\": \"Other\"}}", 0 },
        { "\"filter\": {\"SUBJECT\": {\"O\": \"Acme, Other\"}}", -1 },
        { "\"filter\": {\"ISSUER\": {\"OU\": \"Ops\"}}", 0 },
        /* ISSUER and SUBJECT are different names */
        { "\"filter\": {\"SUBJECT\": {\"OU\": \"Ops\"}}", -1 },
        { "\"filter\": {\"SUBJECT\": {\"CN\": \"Acme CA\"}}", -1 },
        /* every given field must match */
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Acme CA\"}, \"SUBJECT\": {\"CN\": \"bob\"}}", -1 },
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Acme CA\", \"L\": \"Paris\", \"O\": \"Acme\", "
          "\"OU\": \"PKI\"}, \"SUBJECT\": {\"CN\": \"alice\", \"L\": \"Berlin\", "
          "\"O\": \"Acme\", \"OU\": \"Eng\"}}", 0 },
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Acme CA\", \"L\": \"Rome\"}}", -1 },
        /* a missing attribute matches no given value */
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Beta CA\", \"L\": \"Paris\"}}", -1 },
        { "\"filter\": {\"SUBJECT\": {\"OU\": \"Eng\", \"CN\": \"bob\"}}", -1 },
        /* "" is "not given", as in Chromium */
        { "\"filter\": {\"ISSUER\": {\"CN\": \"\"}}", 0 },
        /* several filters: a certificate matching any of them */
        { "\"filters\": [{\"SUBJECT\": {\"CN\": \"nobody\"}}, "
          "{\"SUBJECT\": {\"CN\": \"bob\"}}]", 1 },
        { "\"filters\": [{\"SUBJECT\": {\"CN\": \"nobody\"}}]", -1 },
        { "\"filters\": []", -1 },
        /* the first certificate in the given order, not the first filter's */
        { "\"filters\": [{\"SUBJECT\": {\"CN\": \"bob\"}}, "
          "{\"SUBJECT\": {\"CN\": \"alice\"}}]", 0 },
        /* Chromium reads the entries with trailing commas allowed */
        { "\"filter\": {\"ISSUER\": {\"CN\": \"Beta CA\",},},", 1 },
};

START_TEST(test_policy_filter) {
        g_autofree char *entry = g_strdup_printf("{\"pattern\": \"[*.]example.com\", %s}",
                                                 filter_cases[_i].filter);
        const char *entries[] = { entry, NULL };
        g_autoptr(Policy) policy = load_entries(entries);
        int got = policy_auto_select(policy, "www.example.com:443", certs, 2);

        ck_assert_msg(got == filter_cases[_i].expected, "%s: got %d, expected %d", entry, got,
                      filter_cases[_i].expected);
}
END_TEST

START_TEST(test_policy_first_certificate_in_order) {
        const char *entries[] = { "{\"pattern\": \"*\", \"filter\": {}}", NULL };
        g_autoptr(Policy) policy = load_entries(entries);
        CertInfo *reversed[] = { certs[1], certs[0] };

        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", certs, 2), 0);
        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", reversed, 2), 0);
        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", certs + 1, 1), 0);
        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", certs, 0), -1);
}
END_TEST

/* Entries with the same pattern pool their filters, whatever their order. */
START_TEST(test_policy_same_pattern_pools_filters) {
        const char *entries[] = {
                "{\"pattern\": \"example.com\", \"filter\": {\"SUBJECT\": {\"CN\": \"nobody\"}}}",
                "{\"pattern\": \"[*.]example.org\", \"filter\": {}}",
                "{\"pattern\": \"example.com\", \"filter\": {\"SUBJECT\": {\"CN\": \"bob\"}}}",
                /* the same pattern spelled differently */
                "{\"pattern\": \"*://EXAMPLE.com:*\", "
                "\"filter\": {\"SUBJECT\": {\"CN\": \"alice\"}}}",
                NULL
        };
        g_autoptr(Policy) policy = load_entries(entries);

        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", certs, 2), 0);
        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", certs + 1, 1), 0);
}
END_TEST

/* Of the matching patterns only the most specific counts (Chromium's content-settings
 * precedence), whatever the order in the file. */
static const struct {
        const char *a, *b;      /* a selects alice (0), b selects bob (1) */
        const char *origin;
        int expected;
} precedence_cases[] = {
        /* an exact host before [*.] */
        { "[*.]example.com", "www.example.com", "www.example.com:443", 1 },
        { "[*.]example.com", "www.example.com", "mail.example.com:443", 0 },
        /* a longer [*.] domain before a shorter one, and before "*" */
        { "[*.]example.com", "[*.]www.example.com", "a.www.example.com:443", 1 },
        { "*", "[*.]example.com", "a.example.com:443", 1 },
        /* host first: an exact host on any port before [*.] with a port */
        { "[*.]example.com:443", "www.example.com", "www.example.com:443", 1 },
        /* then a given port before any port */
        { "example.com", "example.com:443", "example.com:443", 1 },
        { "example.com", "example.com:443", "example.com:8443", 0 },
        /* then a given scheme before any scheme */
        { "example.com", "https://example.com", "example.com:443", 1 },
};

START_TEST(test_policy_most_specific_pattern) {
        g_autofree char *a = g_strdup_printf(
                "{\"pattern\": \"%s\", \"filter\": {\"SUBJECT\": {\"CN\": \"alice\"}}}",
                precedence_cases[_i].a);
        g_autofree char *b = g_strdup_printf(
                "{\"pattern\": \"%s\", \"filter\": {\"SUBJECT\": {\"CN\": \"bob\"}}}",
                precedence_cases[_i].b);
        const char *ab[] = { a, b, NULL };
        const char *ba[] = { b, a, NULL };
        g_autoptr(Policy) p1 = load_entries(ab);
        g_autoptr(Policy) p2 = load_entries(ba);

        ck_assert_int_eq(policy_auto_select(p1, precedence_cases[_i].origin, certs, 2),
                         precedence_cases[_i].expected);
        ck_assert_int_eq(policy_auto_select(p2, precedence_cases[_i].origin, certs, 2),
                         precedence_cases[_i].expected);
}
END_TEST

/* A more specific pattern whose filters match nothing hides the less specific ones:
 * Chromium looks at one pattern only. */
START_TEST(test_policy_specific_pattern_without_match_hides_others) {
        const char *entries[] = {
                "{\"pattern\": \"[*.]example.com\", \"filter\": {}}",
                "{\"pattern\": \"www.example.com\", "
                "\"filter\": {\"SUBJECT\": {\"CN\": \"nobody\"}}}",
                NULL
        };
        g_autoptr(Policy) policy = load_entries(entries);

        ck_assert_int_eq(policy_auto_select(policy, "www.example.com:443", certs, 2), -1);
        ck_assert_int_eq(policy_auto_select(policy, "mail.example.com:443", certs, 2), 0);
        ck_assert_int_eq(policy_auto_select(policy, "example.org:443", certs, 2), -1);
}
END_TEST

/* --- modes --- */

START_TEST(test_policy_mode_per_context_prefix) {
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = load_text(
                "{\"mode\": \"auto\", \"contexts\": {"
                "\"firefox/private-\": {\"mode\": \"none\"}, "
                "\"firefox/\": {\"mode\": \"ask\"}, "
                "\"chromium/work\": {\"mode\": \"auto\"}}}", &error);
        g_autoptr(Policy) def = policy_new_default();

        ck_assert_msg(policy, "%s", error ? error->message : "");
        ck_assert_int_eq(policy_mode_for(policy, "chromium/personal"), POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(policy, "firefox/container-1"), POLICY_MODE_ASK);
        ck_assert_int_eq(policy_mode_for(policy, "firefox/private-3"), POLICY_MODE_NONE);
        ck_assert_int_eq(policy_mode_for(policy, "firefox/private-"), POLICY_MODE_NONE);
        ck_assert_int_eq(policy_mode_for(policy, "firefox"), POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(policy, "chromium/work2"), POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(def, "firefox/private-3"), POLICY_MODE_ASK);
        ck_assert_str_eq(policy_mode_to_string(POLICY_MODE_ASK), "ask");
        ck_assert_str_eq(policy_mode_to_string(POLICY_MODE_AUTO), "auto");
        ck_assert_str_eq(policy_mode_to_string(POLICY_MODE_NONE), "none");
}
END_TEST

START_TEST(test_policy_missing_file_is_default) {
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = policy_load(policy_path, &error);
        g_autofree char *json = NULL;

        ck_assert_ptr_nonnull(policy);
        ck_assert_ptr_null(error);
        ck_assert_int_eq(policy_mode_for(policy, "any/context"), POLICY_MODE_ASK);
        ck_assert_int_eq(policy_auto_select(policy, "example.com:443", certs, 2), -1);
        json = policy_to_json(policy);
        ck_assert_str_eq(json, "{\n  \"mode\" : \"ask\",\n  \"auto_select\" : [],\n"
                               "  \"contexts\" : {  }\n}");
}
END_TEST

START_TEST(test_policy_to_json_round_trip) {
        const char *text =
                "{\"contexts\": {\"z/\": {\"mode\": \"auto\"}, \"firefox/private-\": "
                "{\"mode\": \"none\"}}, \"mode\": \"none\", \"auto_select\": ["
                "\"{\\\"pattern\\\": \\\"[*.]example.com\\\", \\\"filter\\\": {\\\"SUBJECT\\\": "
                "{\\\"OU\\\": \\\"Eng\\\", \\\"CN\\\": \\\"alice\\\"}, \\\"ISSUER\\\": {}},}\", "
                "\"{\\\"pattern\\\": \\\"example.org\\\", \\\"filters\\\": [{}, "
                "{\\\"ISSUER\\\": {\\\"O\\\": \\\"Beta\\\"}}]}\"]}";
        const char *expected =
                "{\n"
                "  \"mode\" : \"none\",\n"
                "  \"auto_select\" : [\n"
                "    \"{\\\"pattern\\\":\\\"[*.]example.com\\\",\\\"filter\\\":{\\\"SUBJECT\\\":"
                "{\\\"CN\\\":\\\"alice\\\",\\\"OU\\\":\\\"Eng\\\"}}}\",\n"
                "    \"{\\\"pattern\\\":\\\"example.org\\\",\\\"filters\\\":[{},{\\\"ISSUER\\\":"
                "{\\\"O\\\":\\\"Beta\\\"}}]}\"\n"
                "  ],\n"
                "  \"contexts\" : {\n"
                "    \"firefox/private-\" : {\n"
                "      \"mode\" : \"none\"\n"
                "    },\n"
                "    \"z/\" : {\n"
                "      \"mode\" : \"auto\"\n"
                "    }\n"
                "  }\n"
                "}";
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = load_text(text, &error);
        g_autoptr(Policy) again = NULL;
        g_autofree char *json = NULL;
        g_autofree char *json2 = NULL;

        ck_assert_msg(policy, "%s", error ? error->message : "");
        json = policy_to_json(policy);
        ck_assert_str_eq(json, expected);
        again = load_text(json, &error);
        ck_assert_msg(again, "%s", error ? error->message : "");
        json2 = policy_to_json(again);
        ck_assert_str_eq(json2, json);
        ck_assert_int_eq(policy_auto_select(again, "a.example.com:443", certs, 2), 0);
        ck_assert_int_eq(policy_auto_select(again, "example.org:443", certs + 1, 1), 0);
}
END_TEST

/* --- bad files --- */

static const struct {
        const char *text;    /* the whole file, or NULL for {"auto_select": [entry]} */
        const char *entry;
        const char *message; /* exact, or a regex when it starts with '^' */
} bad_cases[] = {
        /* syntax: line and column */
        { "{\n  \"mode\": \"ask\",\n  \"x\": tru\n}", NULL, "^policy\\.json:3:[0-9]+: \\S" },
        { "{\"mode\": \"ask\",\n\n\n  }", NULL, "^policy\\.json:[14]:[0-9]+: \\S" },
        { "{\"mode\": \"ask\"} {", NULL, "^policy\\.json:1:[0-9]+: \\S" },
        { "", NULL, "policy.json:1:1: no JSON object (write {} for the default policy)" },
        { "\xff\xfe", NULL, "^policy\\.json: \\S" },
        /* structure */
        { "[]", NULL, "policy.json: must hold a JSON object, not an array" },
        { "{\"mdoe\": \"ask\"}", NULL,
          "mdoe: unknown member (known: mode, auto_select, contexts)" },
        { "{\"my mode\": \"ask\"}", NULL,
          "[\"my mode\"]: unknown member (known: mode, auto_select, contexts)" },
        { "{\"mode\": \"maybe\"}", NULL, "mode: must be ask, auto or none, not \"maybe\"" },
        { "{\"mode\": 1}", NULL, "mode: must be ask, auto or none, not a number" },
        { "{\"mode\": null}", NULL, "mode: must be ask, auto or none, not null" },
        { "{\"contexts\": []}", NULL,
          "contexts: must be an object of context prefixes, not an array" },
        { "{\"contexts\": {\"firefox/private-\": {\"mode\": \"maybe\"}}}", NULL,
          "contexts[\"firefox/private-\"]: mode must be ask, auto or none, not \"maybe\"" },
        { "{\"contexts\": {\"firefox/private-\": \"none\"}}", NULL,
          "contexts[\"firefox/private-\"]: must be an object {\"mode\": ...}, not a string" },
        { "{\"contexts\": {\"firefox/private-\": {}}}", NULL,
          "contexts[\"firefox/private-\"]: has no mode" },
        { "{\"contexts\": {\"firefox/\": {\"mode\": \"none\", \"moed\": 1}}}", NULL,
          "contexts[\"firefox/\"].moed: unknown member (known: mode)" },
        { "{\"contexts\": {\"bad prefix\": {\"mode\": \"none\"}}}", NULL,
          "contexts[\"bad prefix\"]: a context prefix may hold only "
          "A-Z a-z 0-9 and . _ : / @ + -" },
        { "{\"contexts\": {\"\": {\"mode\": \"none\"}}}", NULL,
          "contexts[\"\"]: a context prefix must be 1 to 128 bytes" },
        { "{\"auto_select\": \"x\"}", NULL,
          "auto_select: must be an array of strings, not a string" },
        { "{\"auto_select\": [{\"pattern\": \"x\", \"filter\": {}}]}", NULL,
          "auto_select[0]: must be a string holding JSON, as in Chromium's "
          "AutoSelectCertificateForUrls, not an object" },
        { "{\"auto_select\": [\"{\\\"pattern\\\": \\\"*\\\", \\\"filter\\\": {}}\", 7]}", NULL,
          "auto_select[1]: must be a string holding JSON, as in Chromium's "
          "AutoSelectCertificateForUrls, not a number" },
        /* inside an auto_select string */
        { NULL, "{\"pattern\": x}",
          "^auto_select\\[0\\]: not valid JSON at 1:[0-9]+ of the string: \\S" },
        { NULL, "", "auto_select[0]: must hold a JSON object {\"pattern\": ..., \"filter\": ...}, "
          "not nothing" },
        { NULL, "[1]",
          "auto_select[0]: must hold a JSON object {\"pattern\": ..., \"filter\": ...}, "
          "not an array" },
        { NULL, "{\"pattern\": \"example.com\"}",
          "auto_select[0]: has no filter (use {} to allow every certificate)" },
        { NULL, "{\"filter\": {}}", "auto_select[0]: has no pattern" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {}, \"filters\": []}",
          "auto_select[0]: has both filter and filters; use one" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {}, \"patern\": \"x\"}",
          "auto_select[0].patern: unknown member (known: pattern, filter, filters)" },
        { NULL, "{\"pattern\": 5, \"filter\": {}}",
          "auto_select[0].pattern: must be a string, not a number" },
        { NULL, "{\"pattern\": \"\", \"filter\": {}}", "auto_select[0].pattern: empty pattern" },
        { NULL, "{\"pattern\": \"ftp://example.com\", \"filter\": {}}",
          "auto_select[0].pattern: scheme must be https, http or *, not ftp" },
        { NULL, "{\"pattern\": \"https://\", \"filter\": {}}",
          "auto_select[0].pattern: no host in https://" },
        { NULL, "{\"pattern\": \"https://:443\", \"filter\": {}}",
          "auto_select[0].pattern: no host in https://:443" },
        { NULL, "{\"pattern\": \"exa*mple.com\", \"filter\": {}}",
          "auto_select[0].pattern: '*' is allowed only as \"[*.]\" or alone" },
        { NULL, "{\"pattern\": \"[*.].example.com\", \"filter\": {}}",
          "auto_select[0].pattern: \"[*.].\" has one dot too many" },
        { NULL, "{\"pattern\": \"example.com..\", \"filter\": {}}",
          "auto_select[0].pattern: host ends in \"..\"" },
        { NULL, "{\"pattern\": \"example.com:99999\", \"filter\": {}}",
          "auto_select[0].pattern: port must be * or 1 to 65535, not 99999" },
        { NULL, "{\"pattern\": \"example.com:0443\", \"filter\": {}}",
          "auto_select[0].pattern: port must be * or 1 to 65535, not 0443" },
        { NULL, "{\"pattern\": \"example.com:http\", \"filter\": {}}",
          "auto_select[0].pattern: port must be * or 1 to 65535, not http" },
        { NULL, "{\"pattern\": \"[*.]10.0.0.1\", \"filter\": {}}",
          "auto_select[0].pattern: [*.] cannot apply to an IP address" },
        { NULL, "{\"pattern\": \"[::g]\", \"filter\": {}}",
          "auto_select[0].pattern: invalid IPv6 literal [::g]" },
        { NULL, "{\"pattern\": \"[::1\", \"filter\": {}}",
          "auto_select[0].pattern: '[' without its closing ']'" },
        { NULL, "{\"pattern\": \"10.0.0.300\", \"filter\": {}}",
          "auto_select[0].pattern: invalid IPv4 address 10.0.0.300" },
        { NULL, "{\"pattern\": \"exa$mple.com\", \"filter\": {}}",
          "auto_select[0].pattern: host has a character outside a-z 0-9 - _ ." },
        { NULL, "{\"pattern\": \"*\", \"filter\": []}",
          "auto_select[0].filter: must be an object, not an array" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {\"ISUER\": {}}}",
          "auto_select[0].filter.ISUER: unknown member (known: ISSUER, SUBJECT)" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {\"issuer\": {}}}",
          "auto_select[0].filter.issuer: unknown member (known: ISSUER, SUBJECT)" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {\"SUBJECT\": \"bob\"}}",
          "auto_select[0].filter.SUBJECT: must be an object, not a string" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {\"SUBJECT\": {\"C\": \"DE\"}}}",
          "auto_select[0].filter.SUBJECT.C: unknown member (known: CN, L, O, OU)" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {\"ISSUER\": {\"CN\": 1}}}",
          "auto_select[0].filter.ISSUER.CN: must be a string, not a number" },
        { NULL, "{\"pattern\": \"*\", \"filter\": {\"ISSUER\": {\"O\": [\"a\"]}}}",
          "auto_select[0].filter.ISSUER.O: must be a string, not an array" },
        { NULL, "{\"pattern\": \"*\", \"filters\": {}}",
          "auto_select[0].filters: must be an array of filters, not an object" },
        { NULL, "{\"pattern\": \"*\", \"filters\": [{}, 3]}",
          "auto_select[0].filters[1]: must be an object, not a number" },
        { NULL, "{\"pattern\": \"*\", \"filters\": [{\"SUBJECT\": {\"OU\": true}}]}",
          "auto_select[0].filters[0].SUBJECT.OU: must be a string, not true" },
};

START_TEST(test_policy_bad_file) {
        g_autofree char *built = NULL;
        const char *text = bad_cases[_i].text;
        const char *expected = bad_cases[_i].message;
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = NULL;

        if (!text) {
                const char *entries[] = { bad_cases[_i].entry, NULL };

                text = built = auto_select_file(entries);
        }
        policy = load_text(text, &error);
        ck_assert_msg(!policy, "accepted: %s", text);
        ck_assert_ptr_nonnull(error);
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
        if (expected[0] == '^')
                ck_assert_msg(g_regex_match_simple(expected, error->message, 0, 0),
                              "\"%s\" does not match %s", error->message, expected);
        else
                ck_assert_str_eq(error->message, expected);
}
END_TEST

START_TEST(test_policy_syntax_error_position) {
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = load_text("{\n  \"mode\": \"ask\",\n  \"x\": tru\n}", &error);

        /* json-glib reports the position after the bad token: line 3, column 10. */
        ck_assert_ptr_null(policy);
        ck_assert_str_eq(error->message,
                         "policy.json:3:10: unexpected identifier `tru', expected value");
}
END_TEST

START_TEST(test_policy_not_a_regular_file) {
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = NULL;

        ck_assert_int_eq(g_mkdir(policy_path, 0700), 0);
        policy = policy_load(policy_path, &error);
        ck_assert_ptr_null(policy);
        ck_assert(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_FAILED));
        ck_assert_ptr_nonnull(strstr(error->message, "not a regular file"));
}
END_TEST

START_TEST(test_policy_too_large) {
        gsize n = 1024 * 1024 + 16;
        g_autofree char *text = g_malloc(n + 1);
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = NULL;

        /* Valid JSON, only too long: a JSON object padded with spaces. */
        memset(text, ' ', n);
        text[0] = '{';
        text[n - 1] = '}';
        text[n] = 0;
        policy = load_text(text, &error);
        ck_assert_ptr_null(policy);
        ck_assert_str_eq(error->message, "policy.json: larger than 1048576 bytes");
        text[n - 64] = 0;
        text[n - 65] = '}';
        g_clear_error(&error);
        policy = load_text(text, &error);
        ck_assert_msg(policy, "%s", error ? error->message : "");
}
END_TEST

/* A file nested far deeper than any policy: refused with where, not a crash (json-glib's
 * parser recurses once per level). */
START_TEST(test_policy_nesting_is_bounded) {
        gsize depth = 200000;
        g_autofree char *text = g_malloc(2 * depth + 32);
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = NULL;
        gsize n = 0;

        n += (gsize) g_snprintf(text, 32, "{\"x\": ");
        memset(text + n, '[', depth);
        memset(text + n + depth, ']', depth);
        strcpy(text + n + 2 * depth, "}");
        policy = load_text(text, &error);
        ck_assert_ptr_null(policy);
        ck_assert_msg(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT), "%s",
                      error ? error->message : "");
        /* The 33rd level, counting the object: the 32nd '[', at column 7 + 31. */
        ck_assert_str_eq(error->message, "policy.json:1:38: nested deeper than 32 levels");

        /* Brackets inside strings are text, whatever their number. */
        g_clear_pointer(&policy, policy_free);
        g_clear_error(&error);
        n = (gsize) g_snprintf(text, 32, "{\"mode\": \"");
        memset(text + n, '[', depth);
        strcpy(text + n + depth, "\"}");
        policy = load_text(text, &error);
        ck_assert_ptr_null(policy);
        ck_assert_msg(strstr(error->message, "mode: must be ask, auto or none"), "%s",
                      error->message);

        /* An auto_select entry is JSON inside a string: bounded the same way. */
        g_clear_error(&error);
        n = (gsize) g_snprintf(text, 64, "{\"auto_select\": [\"{\\\"pattern\\\": ");
        memset(text + n, '[', depth);
        strcpy(text + n + depth, "}\"]}");
        policy = load_text(text, &error);
        ck_assert_ptr_null(policy);
        ck_assert_msg(strstr(error->message, "auto_select[0]: nested deeper than 32 levels"),
                      "%s", error->message);
}
END_TEST

/* json-glib also reads single-quoted strings and comments: a '"' inside one of them must
 * not hide the brackets after it from the nesting bound. Neither is JSON: both are
 * refused, with where. */
START_TEST(test_policy_nesting_not_hidden_by_extensions) {
        static const struct {
                const char *head, *tail, *message;
        } cases[] = {
                { "{\"x\": /* \" */ ", "}",
                  "policy.json:1:7: a comment, which JSON does not have" },
                { "{\"x\": ['\"', ", "}",
                  "policy.json:1:8: a single-quoted string, which JSON does not have" },
                { "{\"auto_select\": [\"{'\\\"': ", "}\"]}",
                  "auto_select[0]: a single-quoted string, which JSON does not have" },
        };
        gsize depth = 200000;

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *text = g_malloc(depth + 64);
                g_autoptr(GError) error = NULL;
                g_autoptr(Policy) policy = NULL;
                gsize n = (gsize) g_snprintf(text, 32, "%s", cases[i].head);

                memset(text + n, '[', depth);
                strcpy(text + n + depth, cases[i].tail);
                policy = load_text(text, &error);
                ck_assert_ptr_null(policy);
                ck_assert_str_eq(error->message, cases[i].message);
        }
}
END_TEST

START_TEST(test_policy_example_file) {
        g_autofree char *path = g_build_filename(g_getenv("TLSID_SOURCE_DIR"), "docs",
                                                 "examples", "policy.json", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = policy_load(path, &error);

        /* The installed example is a policy tlsidd accepts, with the modes tlsid-policy(5) gives. */
        ck_assert_msg(policy, "%s", error ? error->message : "");
        ck_assert_int_eq(policy_mode_for(policy, "firefox/private-2"), POLICY_MODE_NONE);
        ck_assert_int_eq(policy_mode_for(policy, "tlsid-fetch/default"), POLICY_MODE_AUTO);
        ck_assert_int_eq(policy_mode_for(policy, "firefox/container-1"), POLICY_MODE_ASK);
}
END_TEST

START_TEST(test_policy_default_path) {
        g_autofree char *path = policy_default_path();
        g_autofree char *expected = g_build_filename(g_get_user_config_dir(), "tlsid",
                                                     "policy.json", NULL);

        ck_assert_str_eq(path, expected);
}
END_TEST

static Suite *policy_suite(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("policy");

        tcase_add_checked_fixture(tc, setup_certs, teardown_certs);
        tcase_add_loop_test(tc, test_policy_pattern, 0, G_N_ELEMENTS(pattern_cases));
        tcase_add_loop_test(tc, test_policy_filter, 0, G_N_ELEMENTS(filter_cases));
        tcase_add_test(tc, test_policy_first_certificate_in_order);
        tcase_add_test(tc, test_policy_same_pattern_pools_filters);
        tcase_add_loop_test(tc, test_policy_most_specific_pattern, 0,
                            G_N_ELEMENTS(precedence_cases));
        tcase_add_test(tc, test_policy_specific_pattern_without_match_hides_others);
        tcase_add_test(tc, test_policy_mode_per_context_prefix);
        tcase_add_test(tc, test_policy_missing_file_is_default);
        tcase_add_test(tc, test_policy_to_json_round_trip);
        tcase_add_loop_test(tc, test_policy_bad_file, 0, G_N_ELEMENTS(bad_cases));
        tcase_add_test(tc, test_policy_syntax_error_position);
        tcase_add_test(tc, test_policy_not_a_regular_file);
        tcase_add_test(tc, test_policy_too_large);
        tcase_add_test(tc, test_policy_nesting_is_bounded);
        tcase_add_test(tc, test_policy_nesting_not_hidden_by_extensions);
        tcase_add_test(tc, test_policy_example_file);
        tcase_add_test(tc, test_policy_default_path);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(policy_suite(), CK_FORK_GETENV);
}
