/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the certificate-decision integration tests. */
#include "cert-bus.h"

#include <ftw.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib-asserts.h"
#include "test-bus.h"

char *certs_dir;

GBytes *cert_der(const char *name) {
        g_autofree char *path = g_strdup_printf("%s/%s.der", certs_dir, name);
        g_autoptr(GError) error = NULL;
        char *data = NULL;
        gsize len = 0;

        ck_assert_msg(g_file_get_contents(path, &data, &len, &error), "%s", error->message);
        return g_bytes_new_take(data, len);
}

/* The identity of certificate @name: the SHA-256 of its DER (transfer full). */
char *fingerprint(const char *name) {
        g_autoptr(GBytes) der = cert_der(name);

        return g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, der);
}

/* Reads one DER tag and length at *@p (within @end); returns the start of the contents
 * and sets *@p past the element. */
static const guint8 *der_next(const guint8 **p, const guint8 *end, guint8 *ret_tag,
                              gsize *ret_len) {
        const guint8 *q = *p;
        gsize len = 0;

        ck_assert(end - q >= 2);
        *ret_tag = *q++;
        if (*q & 0x80) {
                int n = *q++ & 0x7f;

                ck_assert(n >= 1 && n <= 3 && end - q >= n);
                while (n--)
                        len = len << 8 | *q++;
        } else {
                len = *q++;
        }
        ck_assert((gsize) (end - q) >= len);
        *p = q + len;
        *ret_len = len;
        return q;
}

/* The DER of the subject Name of certificate @name (transfer full). */
GBytes *subject_der(const char *name) {
        g_autoptr(GBytes) der = cert_der(name);
        gsize size, len;
        const guint8 *data = g_bytes_get_data(der, &size), *end = data + size, *p = data;
        const guint8 *start;
        guint8 tag;

        /* Certificate, tbsCertificate, then [0] version, serial, signature, issuer,
         * validity, subject. */
        p = der_next(&p, end, &tag, &len);
        end = p + len;
        p = der_next(&p, end, &tag, &len);
        end = p + len;
        for (int field = 0; field < 6; field++) {
                start = p;
                der_next(&p, end, &tag, &len);
                if (field == 0 && tag != 0xa0)
                        field++; /* no version: v1 */
                if (field == 5)
                        return g_bytes_new(start, (gsize) (p - start));
        }
        ck_abort_msg("no subject in %s", name);
        return NULL;
}


/* Points tlsidd at the NSS database @db (a directory under certs_dir) before it starts. */
void use_nss_db(const char *db) {
        g_autofree char *conf = g_strdup_printf("[certificates]\nnss_db = sql:%s/%s\n",
                                                certs_dir, db);

        test_bus_write_daemon_config(conf);
}

char *policy_path(void) {
        return g_build_filename(test_bus_config_dir(), "tlsid", "policy.json", NULL);
}

void write_policy(const char *json) {
        g_autofree char *path = policy_path();
        g_autofree char *dir = g_path_get_dirname(path);
        g_autoptr(GError) error = NULL;

        ck_assert_int_eq(g_mkdir_with_parents(dir, 0700), 0);
        ck_assert_msg(g_file_set_contents(path, json, -1, &error), "%s", error->message);
}


TlsidClient *client_new(void) {
        TlsidClient *client = NULL;

        ASSERT_OK(tlsid_client_new(test_bus_address(), &client));
        ASSERT_OK(tlsid_client_set_timeout(client, CALL_TIMEOUT_USEC));
        return client;
}


static void on_identity_changed(const char *context, const char *origin, TlsidChoice state,
                                const char *identity, uint32_t generation, void *userdata) {
        Changes *c = userdata;

        c->count++;
        snprintf(c->identity, sizeof c->identity, "%s", identity);
        c->generation = generation;
        c->state = state;
}

void watch_changes(TlsidClient *client, Changes *changes) {
        TlsidStatistics s;

        ASSERT_OK(tlsid_client_on_identity_changed(client, on_identity_changed, changes));
        /* A round trip, so the bus has the match rule before anything is emitted; what
         * came before (signals of earlier calls of this client) does not count. */
        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        ASSERT_OK(tlsid_client_dispatch(client));
        memset(changes, 0, sizeof *changes);
}

bool dispatch_until(TlsidClient *client, const int *counter, int target) {
        long long deadline = test_bus_now_ms() + WAIT_MS;
        struct pollfd p = { .fd = tlsid_client_get_fd(client), .events = POLLIN };

        while (*counter < target) {
                long long left = deadline - test_bus_now_ms();

                if (left <= 0)
                        return false;
                if (poll(&p, 1, (int) left) > 0)
                        ASSERT_OK(tlsid_client_dispatch(client));
        }
        return true;
}


/* Polls GetPolicy until @pred holds for (json, error); a reload runs on the daemon's
 * main loop after the signal arrives, so there is no reply to wait for. */
void wait_policy(TlsidClient *client, bool (*pred)(const char *, const char *)) {
        long long deadline = test_bus_now_ms() + WAIT_MS;

        for (;;) {
                char *json = NULL, *problem = NULL;
                bool done;

                ASSERT_OK(tlsid_client_get_policy(client, &json, &problem));
                done = pred(json, problem);
                if (!done && test_bus_now_ms() > deadline)
                        ck_abort_msg("policy did not change: %s (%s)", json,
                                     problem ? problem : "no error");
                free(json);
                free(problem);
                if (done)
                        return;
                g_usleep(10000);
        }
}

void certs_make(const char *extra) {
        certs_make_with("TLSID_MAKE_CERTS", extra);
}

void certs_make_with(const char *script_variable, const char *extra) {
        const char *script = getenv(script_variable);
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL, *command = NULL;
        int status = -1;

        if (!script || !*script) {
                fprintf(stderr, "%s is not set\n", script_variable);
                exit(1);
        }
        certs_dir = g_dir_make_tmp("tlsid-certs-XXXXXX", &error);
        if (!certs_dir) {
                fprintf(stderr, "%s\n", error->message);
                exit(1);
        }
        command = g_strdup_printf("set -e; sh '%s' '%s' >/dev/null; cd '%s'\n%s", script,
                                  certs_dir, certs_dir, extra ? extra : "");
        const char *argv[] = { "/bin/sh", "-c", command, NULL };
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                          &status, &error) ||
            !g_spawn_check_wait_status(status, &error)) {
                fprintf(stderr, "generating certificates failed: %s\n%s\n", error->message,
                        err ? err : "");
                exit(1);
        }
}

char *certs_read_fingerprint(const char *name) {
        g_autofree char *path = g_strdup_printf("%s/%s.fp", certs_dir, name);
        g_autoptr(GError) error = NULL;
        char *fp = NULL;

        ck_assert_msg(g_file_get_contents(path, &fp, NULL, &error), "%s", error->message);
        return g_strstrip(fp);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

void certs_remove(void) {
        if (certs_dir)
                nftw(certs_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        g_clear_pointer(&certs_dir, g_free);
}
