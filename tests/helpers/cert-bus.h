/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the integration tests of certificate decisions (test-select, test-challenge):
 * make-certs.sh's output, the daemon's NSS database and policy, a libtlsid client. */
#pragma once

#include <check.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include <tlsid/tlsid.h>

#define CALL_TIMEOUT_USEC (20u * 1000u * 1000u)
#define WAIT_MS 10000

/* The directory of the certificates (set by the test's main() before the tests fork). */
extern char *certs_dir;

/* The DER of certificate @name, certs_dir/NAME.der (transfer full). */
GBytes *cert_der(const char *name);
/* The identity of certificate @name: the SHA-256 of its DER (transfer full). */
char *fingerprint(const char *name);
/* The DER of the subject Name of certificate @name (transfer full). */
GBytes *subject_der(const char *name);

/* Points tlsidd at the NSS database @db (a directory under certs_dir) before it starts. */
void use_nss_db(const char *db);
/* $XDG_CONFIG_HOME/tlsid/policy.json (transfer full). */
char *policy_path(void);
/* Writes policy.json. */
void write_policy(const char *json);

/* Polls GetPolicy until @pred holds for (json, error): a reload runs on the daemon's main
 * loop after the file changes or a SIGHUP, so there is no reply to wait for. */
void wait_policy(TlsidClient *client, bool (*pred)(const char *json, const char *error));

/* A client of the test bus with a generous timeout. */
TlsidClient *client_new(void);

/* What IdentityChanged signals delivered. */
typedef struct {
        int count;
        char identity[80];
        uint32_t generation;
        TlsidChoice state;
} Changes;

/* Counts @client's IdentityChanged signals into @changes, from now on. */
void watch_changes(TlsidClient *client, Changes *changes);
/* Dispatches @client's signals until *@counter reaches @target; false after WAIT_MS. */
bool dispatch_until(TlsidClient *client, const int *counter, int target);

/* Makes certs_dir and runs make-certs.sh into it, then the shell commands @extra (nullable)
 * in it; exits on failure. */
void certs_make(const char *extra);
/* The same with the script the environment variable @script_variable names. */
void certs_make_with(const char *script_variable, const char *extra);
/* certs_dir/NAME.fp (make-e2e-certs.sh's fingerprints), stripped (transfer full). */
char *certs_read_fingerprint(const char *name);
/* Removes certs_dir. */
void certs_remove(void);
