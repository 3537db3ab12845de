/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target of the policy loader (daemon/model/policy.c): the input is the text of
 * policy.json, parsed by policy_parse() as policy_load() parses the file it read. A
 * refusal is INVALID_ARGUMENT with a message. A policy that loads is written back
 * (policy_to_json), and that text loads to a policy that decides alike and writes the
 * same text. The parser runs on a thread with a 256 KiB stack: the daemon's 8 MiB
 * survive a 1 MiB file (the size cap) only when nesting is bounded before json-glib
 * recurses, and so must 256 KiB survive any 4 KiB input (libFuzzer's default length),
 * far more than the 32 levels of the bound take, far less than thousands of levels. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "policy.h"

#define PARSER_STACK (256 * 1024)

/* Certificates and origins to ask the policy about, so that a round trip is checked for
 * what it decides, not only for its text. */
static char *org_a[] = { "Example Org", NULL };
static char *unit_a[] = { "Admins", "Staff", NULL };
static char *none[] = { NULL };
static CertInfo cert_a = {
        .subject_name = { .cn = "alice", .l = "Berlin", .o = org_a, .ou = unit_a },
        .issuer_name = { .cn = "Example CA", .o = org_a, .ou = none },
};
static CertInfo cert_b = {
        .subject_name = { .cn = "bob", .o = none, .ou = none },
        .issuer_name = { .cn = "Other CA", .l = "Paris", .o = none, .ou = none },
};
static CertInfo *const certs[] = { &cert_a, &cert_b };
static const char *const origins[] = {
        "example.com:443", "www.example.com:443", "example.com:8443", "10.0.0.1:443",
        "[::1]:443", "xn--bcher-kva.example:443", "localhost:1",
};
static const char *const contexts[] = {
        "", "firefox", "firefox/container-2/tab-17", "chromium/profile-1", "a",
};

typedef struct {
        const char *text;
        size_t len;
        Policy *policy;
        GError *error;
} Parse;

static void *parse_thread(void *data) {
        Parse *p = data;

        p->policy = policy_parse(p->text, p->len, "policy.json", &p->error);
        return NULL;
}

/* policy_parse() on a thread whose stack is PARSER_STACK bytes. */
static Policy *parse_on_small_stack(const char *text, size_t len, GError **error) {
        Parse p = { .text = text, .len = len };
        pthread_attr_t attr;
        pthread_t thread;

        REQUIRE(pthread_attr_init(&attr) == 0);
        REQUIRE(pthread_attr_setstacksize(&attr, PARSER_STACK) == 0);
        REQUIRE(pthread_create(&thread, &attr, parse_thread, &p) == 0);
        REQUIRE(pthread_join(thread, NULL) == 0);
        pthread_attr_destroy(&attr);
        if (p.error)
                g_propagate_error(error, p.error);
        return p.policy;
}

static void check_decides_alike(const Policy *a, const Policy *b) {
        for (size_t i = 0; i < G_N_ELEMENTS(contexts); i++)
                REQUIRE(policy_mode_for(a, contexts[i]) == policy_mode_for(b, contexts[i]));
        for (size_t i = 0; i < G_N_ELEMENTS(origins); i++) {
                int pick = policy_auto_select(a, origins[i], certs, G_N_ELEMENTS(certs));

                REQUIRE(pick >= -1 && pick < (int) G_N_ELEMENTS(certs));
                REQUIRE(pick == policy_auto_select(b, origins[i], certs, G_N_ELEMENTS(certs)));
                /* With one certificate fewer the pick can only be the same one or none. */
                int alone = policy_auto_select(a, origins[i], certs + 1, 1);
                REQUIRE(alone == -1 || alone == 0);
                REQUIRE(pick != 1 || alone == 0);
                REQUIRE(pick != -1 || alone == -1);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(Policy) policy = parse_on_small_stack((const char *) data, size, &error);

        REQUIRE((policy == NULL) == (error != NULL));
        if (!policy) {
                REQUIRE(g_error_matches(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT));
                REQUIRE(error->message[0]);
                return 0;
        }
        REQUIRE(policy_mode_to_string(policy_mode_for(policy, "")) != NULL);

        g_autofree char *json = policy_to_json(policy);
        g_autoptr(GError) again_error = NULL;
        g_autoptr(Policy) again = parse_on_small_stack(json, strlen(json), &again_error);

        if (!again)
                fprintf(stderr, "policy_to_json wrote what does not load: %s\n%s\n",
                        again_error->message, json);
        REQUIRE(again != NULL);
        check_decides_alike(policy, again);
        g_autofree char *json_again = policy_to_json(again);
        REQUIRE(strcmp(json, json_again) == 0);
        return 0;
}
