/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests: certificate lists whose whole reply would pass the bus's message
 * size limit: ListCertificates over a large NSS database and many offered certificates
 * (read through libtlsid, tlsidctl and raw pages), and the eligible lists of
 * SelectCertificate and AnswerChallenge from that database or from the most and largest
 * candidates a caller may pass (cut at their documented bounds), with the daemon still
 * there and holding its state afterwards. */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tlsid/tlsid.h>

#include "cert-bus.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tlsid-limits.h"
#include "tlsidctl-run.h"

/* The test bus refuses larger messages, so a few hundred certificates reach the bound. */
#define MAX_MESSAGE (512 * 1024)
/* More user certificates in the database than an eligible list holds. */
#define N_DATABASE (TLSID_ELIGIBLE_MAX + 2)
/* Offered by applications, in calls of the most candidates a call may pass. */
#define N_OFFERED (3 * TLSID_CANDIDATES_MAX)
/* make-many-certs.sh's template: its marker, and the '"' of its subject's OUs, each of
 * which the RFC 4514 subject (and the issuer: it is self-signed) spells as two bytes. */
#define MARKER "XQXQXQ"
#define QUOTES (47 * 60)

#define ORIGIN "many.example:443"

/* An unpaged, uncut reply would not fit: the subject and issuer of each certificate alone
 * take 4 * QUOTES bytes. */
G_STATIC_ASSERT((guint64) TLSID_CANDIDATES_MAX * 4 * QUOTES > MAX_MESSAGE);
G_STATIC_ASSERT((guint64) N_DATABASE * 4 * QUOTES > MAX_MESSAGE);

static GBytes *database_der[N_DATABASE];
static char *database_id[N_DATABASE];
static GBytes *offered_der[N_OFFERED];
static char *offered_id[N_OFFERED];

/* --- the certificates, made once in main() --- */

/* The template with the number @n in place of each marker (transfer full). */
static GBytes *variant(GBytes *template, unsigned n) {
        gsize len;
        const guint8 *data = g_bytes_get_data(template, &len);
        guint8 *copy = g_memdup2(data, len);
        char digits[sizeof MARKER];
        unsigned found = 0;

        snprintf(digits, sizeof digits, "%06u", n);
        for (gsize i = 0; i + strlen(MARKER) <= len; i++)
                if (memcmp(copy + i, MARKER, strlen(MARKER)) == 0) {
                        memcpy(copy + i, digits, strlen(MARKER));
                        found++;
                }
        /* In the subject and in the issuer. */
        if (found != 2) {
                fprintf(stderr, "template.der holds the marker %u times\n", found);
                exit(1);
        }
        return g_bytes_new_take(copy, len);
}

static void append_pem(GString *pem, GBytes *der) {
        g_autofree char *b64 = g_base64_encode(g_bytes_get_data(der, NULL), g_bytes_get_size(der));

        g_string_append(pem, "-----BEGIN CERTIFICATE-----\n");
        for (gsize i = 0, n = strlen(b64); i < n; i += 64)
                g_string_append_printf(pem, "%.64s\n", b64 + i);
        g_string_append(pem, "-----END CERTIFICATE-----\n");
}

static void write_or_exit(const char *name, const char *contents) {
        g_autofree char *path = g_build_filename(certs_dir, name, NULL);
        g_autoptr(GError) error = NULL;

        if (!g_file_set_contents(path, contents, -1, &error)) {
                fprintf(stderr, "%s\n", error->message);
                exit(1);
        }
}

static char *nickname_of(unsigned i) {
        return g_strdup_printf("many-%06u", i);
}

/* make-many-certs.sh's template, the variants, and the database of the first N_DATABASE
 * (nicknames many-000000...); the others stay files, for applications to offer. */
static void make_certs(void) {
        g_autoptr(GString) rest = g_string_new(NULL);
        g_autoptr(GString) names = g_string_new(NULL);
        g_autoptr(GString) first = g_string_new(NULL);
        g_autofree char *template_path = NULL;
        g_autofree char *first_name = nickname_of(0);
        g_autoptr(GError) error = NULL;
        g_autoptr(GMappedFile) mapped = NULL;
        g_autoptr(GBytes) template = NULL;
        int status = -1;

        certs_make_with("TLSID_MAKE_MANY_CERTS", NULL);
        template_path = g_build_filename(certs_dir, "template.der", NULL);
        mapped = g_mapped_file_new(template_path, FALSE, &error);
        if (!mapped) {
                fprintf(stderr, "%s\n", error->message);
                exit(1);
        }
        template = g_mapped_file_get_bytes(mapped);
        for (unsigned i = 0; i < N_DATABASE; i++) {
                database_der[i] = variant(template, i);
                database_id[i] = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, database_der[i]);
                if (i == 0) {
                        append_pem(first, database_der[i]);
                        continue;
                }
                append_pem(rest, database_der[i]);
                g_autofree char *name = nickname_of(i);
                g_string_append_printf(names, "%s\n", name);
        }
        for (unsigned i = 0; i < N_OFFERED; i++) {
                offered_der[i] = variant(template, 100000 + i);
                offered_id[i] = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, offered_der[i]);
        }
        write_or_exit("first.pem", first->str);
        write_or_exit("first.name", first_name);
        write_or_exit("rest.pem", rest->str);
        write_or_exit("rest.names", names->str);

        const char *argv[] = { "/bin/sh", getenv("TLSID_MAKE_MANY_CERTS"), certs_dir,
                               "database", NULL };
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                          &status, &error) ||
            !g_spawn_check_wait_status(status, &error)) {
                fprintf(stderr, "the database: %s\n", error->message);
                exit(1);
        }
}

/* --- helpers --- */

static void setup(void) {
        test_bus_start_with_max_message_size(MAX_MESSAGE);
        use_nss_db("nssdb");
}

static void teardown(void) {
        test_bus_stop();
}

/* Whether @id is one of the @n of @ids. */
static bool among(const char *id, char *const *ids, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(ids[i], id) == 0)
                        return true;
        return false;
}

/* The offered certificates @from to @from + @n as candidates (no chain, no nickname). */
static TlsidCandidate *candidates_of(unsigned from, unsigned n) {
        TlsidCandidate *c = calloc(n, sizeof *c);

        ck_assert_ptr_nonnull(c);
        for (unsigned i = 0; i < n; i++)
                c[i].der = g_bytes_get_data(offered_der[from + i], &c[i].len);
        return c;
}

/* Checks eligible descriptions: each from @ids, each once, names cut at their bound. */
static void assert_eligible(const TlsidCertificateInfo *eligible, size_t n, char *const *ids,
                            size_t n_ids) {
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

        for (size_t i = 0; i < n; i++) {
                ck_assert_msg(among(eligible[i].identity, ids, n_ids), "%s is not a candidate",
                              eligible[i].identity);
                ck_assert(g_hash_table_add(seen, eligible[i].identity));
                ck_assert_uint_eq(strlen(eligible[i].subject), TLSID_CERT_TEXT_MAX);
                ck_assert(g_str_has_suffix(eligible[i].subject, "..."));
                ck_assert(g_str_has_prefix(eligible[i].subject, "CN=client "));
                ck_assert_uint_eq(strlen(eligible[i].issuer), TLSID_CERT_TEXT_MAX);
                ck_assert_str_eq(eligible[i].key_type, "ec");
        }
}

/* Offers the offered certificates @from to @from + @n in one SelectCertificate. */
static void offer(TlsidContext *context, unsigned from, unsigned n) {
        TlsidCandidate *c = candidates_of(from, n);
        TlsidCertificateInfo *eligible = NULL;
        TlsidDecision decision;
        size_t n_eligible = 0;

        ASSERT_OK(tlsid_context_select_certificate(context, ORIGIN, NULL, c, n, &decision, NULL,
                                                   NULL, &eligible, &n_eligible));
        /* Undecided, several eligible, the policy asks: every candidate is listed. */
        ck_assert_int_eq(decision, TLSID_DECISION_ASK);
        ck_assert_uint_eq(n_eligible, n);
        assert_eligible(eligible, n_eligible, offered_id + from, n);
        tlsid_certificate_infos_free(eligible, n_eligible);
        free(c);
}

/* AnswerChallenge of a transport challenge from @origin that nothing decides: an ask. */
static TlsidChallengeAnswer *answer_challenge(TlsidContext *context, const char *origin,
                                              const TlsidChallengeConnection *connection) {
        const char *values[] = { "transport mode=\"tls-client-certificate\"" };
        TlsidChallengeAnswer *answer = NULL;

        ASSERT_OK(tlsid_context_answer_challenge(context, origin, values, 1, 0, -1, connection,
                                                 &answer));
        ck_assert_int_eq(answer->action, TLSID_ANSWER_ASK);
        return answer;
}

/* The reply to @call on @conn (which unrefs it), after checking it is no larger on the wire
 * than @bound and some room for the header and the fixed arguments. */
static DBusMessage *call_within(DBusConnection *conn, DBusMessage *call, size_t bound) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, call, 20000, &error);
        char *wire = NULL;
        int wire_len = 0;

        ck_assert_msg(reply, "%s: %s", dbus_message_get_member(call), error.message);
        dbus_message_unref(call);
        ck_assert(dbus_message_marshal(reply, &wire, &wire_len));
        ck_assert_int_le(wire_len, bound + 1024);
        dbus_free(wire);
        return reply;
}

static unsigned array_length(DBusMessageIter *it) {
        DBusMessageIter array;
        unsigned n = 0;

        for (dbus_message_iter_recurse(it, &array);
             dbus_message_iter_get_arg_type(&array) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&array))
                n++;
        return n;
}

/* The value of @key in the a{sv} at @dict. */
static const char *dict_string(DBusMessageIter *dict, const char *key) {
        DBusMessageIter d = *dict, entry, variant;

        for (; dbus_message_iter_get_arg_type(&d) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&d)) {
                const char *k, *v;

                dbus_message_iter_recurse(&d, &entry);
                dbus_message_iter_get_basic(&entry, &k);
                dbus_message_iter_next(&entry);
                dbus_message_iter_recurse(&entry, &variant);
                if (strcmp(k, key) == 0 &&
                    dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_STRING) {
                        dbus_message_iter_get_basic(&variant, &v);
                        return v;
                }
        }
        return NULL;
}

/* Walks ListCertificates in pages of @limit (0: the largest) and checks every reply: its
 * size on the wire within the byte budget, its total, each certificate once, the database's
 * before the applications'. Returns the number of pages. */
static unsigned walk_pages(dbus_uint32_t limit, unsigned want) {
        DBusConnection *conn = test_bus_connect();
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        char *cursor = strdup("");
        unsigned pages = 0, mixed = 0;
        bool applications = false;

        while (cursor) {
                DBusMessage *call = test_bus_method("ListCertificates");
                DBusMessageIter it, array, dict;
                dbus_uint32_t total = 0;
                const char *next;
                DBusMessage *reply;
                unsigned n, databases = 0;

                ck_assert(dbus_message_append_args(call, DBUS_TYPE_STRING, &cursor,
                                                   DBUS_TYPE_UINT32, &limit, DBUS_TYPE_INVALID));
                reply = call_within(conn, call, TLSID_LIST_PAGE_BYTES);
                dbus_message_iter_init(reply, &it);
                n = array_length(&it);
                for (dbus_message_iter_recurse(&it, &array);
                     dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_ARRAY;
                     dbus_message_iter_next(&array)) {
                        const char *source;

                        dbus_message_iter_recurse(&array, &dict);
                        ck_assert(g_hash_table_add(seen, g_strdup(dict_string(&dict, "identity"))));
                        source = dict_string(&dict, "source");
                        ck_assert_ptr_nonnull(source);
                        if (strcmp(source, "database") == 0) {
                                ck_assert(!applications);
                                databases++;
                        } else {
                                ck_assert_str_eq(source, "application");
                                ck_assert_str_eq(dict_string(&dict, "offered_by"), "offer");
                                applications = true;
                        }
                }
                if (databases && databases < n)
                        mixed++;
                dbus_message_iter_next(&it);
                dbus_message_iter_get_basic(&it, &next);
                dbus_message_iter_next(&it);
                dbus_message_iter_get_basic(&it, &total);
                ck_assert_uint_eq(total, want);
                ck_assert_uint_le(n, limit ? limit : TLSID_LIST_PAGE_MAX);
                ck_assert_uint_gt(n, 0);
                if (limit && *next)
                        ck_assert_uint_eq(n, limit);
                pages++;
                free(cursor);
                cursor = *next ? strdup(next) : NULL;
                dbus_message_unref(reply);
        }
        ck_assert_uint_eq(g_hash_table_size(seen), want);
        /* A page went on from the database's certificates to the applications'. */
        ck_assert_uint_eq(mixed, 1);
        test_bus_disconnect(conn);
        return pages;
}

/* --- the tests --- */

START_TEST(test_cert_lists_largest_candidates) {
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;
        TlsidCandidate *c = candidates_of(0, TLSID_CANDIDATES_MAX);
        TlsidChallengeConnection connection = {
                .candidates = c,
                .n_candidates = TLSID_CANDIDATES_MAX,
        };
        TlsidChallengeAnswer *answer;
        pid_t daemon;

        ASSERT_OK(tlsid_context_open(client, "offer/tab-1", 0, NULL, &context));
        daemon = test_bus_daemon_pid();
        /* 64 candidates whose descriptions together pass the limit: all listed, cut. */
        offer(context, 0, TLSID_CANDIDATES_MAX);
        answer = answer_challenge(context, ORIGIN, &connection);
        ck_assert_uint_eq(answer->n_eligible, TLSID_CANDIDATES_MAX);
        ck_assert_uint_eq(answer->eligible_total, TLSID_CANDIDATES_MAX);
        assert_eligible(answer->eligible, answer->n_eligible, offered_id, TLSID_CANDIDATES_MAX);
        tlsid_challenge_answer_free(answer);

        /* The same daemon, which still knows what was offered. */
        ck_assert_int_eq(test_bus_daemon_pid(), daemon);
        TlsidCertificateInfo *infos = NULL;
        size_t n = 0;
        ASSERT_OK(tlsid_client_list_certificates(client, &infos, &n));
        ck_assert_uint_eq(n, N_DATABASE + TLSID_CANDIDATES_MAX);
        tlsid_certificate_infos_free(infos, n);
        free(c);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

START_TEST(test_cert_lists_database_eligible_capped) {
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;
        TlsidCertificateInfo *eligible = NULL;
        TlsidChallengeAnswer *answer;
        TlsidDecision decision;
        char *identity = NULL;
        const char *unlisted = NULL;
        size_t n = 0;
        pid_t daemon;

        ASSERT_OK(tlsid_context_open(client, "db/tab-1", 0, NULL, &context));
        daemon = test_bus_daemon_pid();

        /* On the wire: the 64 best, within the eligible list's byte bound, and the count
         * of all. */
        DBusConnection *conn = test_bus_connect();
        DBusMessage *call = test_bus_method("SelectCertificate");
        DBusMessageIter it, sub;
        const char *context_name = "db/tab-1", *origin = ORIGIN;
        dbus_uint32_t total = 0;

        dbus_message_iter_init_append(call, &it);
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &context_name));
        ck_assert(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &origin));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &sub));
        ck_assert(dbus_message_iter_close_container(&it, &sub));
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ayaaya{sv})", &sub));
        ck_assert(dbus_message_iter_close_container(&it, &sub));
        DBusMessage *reply = call_within(conn, call, TLSID_ELIGIBLE_BYTES);
        ck_assert(dbus_message_has_signature(reply, "ssuaa{sv}u"));
        dbus_message_iter_init(reply, &it);
        for (int i = 0; i < 3; i++)
                dbus_message_iter_next(&it);
        ck_assert_uint_eq(array_length(&it), TLSID_ELIGIBLE_MAX);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &total);
        ck_assert_uint_eq(total, N_DATABASE);
        dbus_message_unref(reply);
        test_bus_disconnect(conn);

        ASSERT_OK(tlsid_context_select_certificate(context, ORIGIN, NULL, NULL, 0, &decision,
                                                   NULL, NULL, &eligible, &n));
        ck_assert_int_eq(decision, TLSID_DECISION_ASK);
        ck_assert_uint_eq(n, TLSID_ELIGIBLE_MAX);
        assert_eligible(eligible, n, database_id, N_DATABASE);
        /* One the list left out can still be chosen by its identity, and is then sent. */
        for (size_t i = 0; i < N_DATABASE && !unlisted; i++) {
                bool listed = false;

                for (size_t j = 0; j < n; j++)
                        listed = listed || strcmp(eligible[j].identity, database_id[i]) == 0;
                if (!listed)
                        unlisted = database_id[i];
        }
        ck_assert_ptr_nonnull(unlisted);
        tlsid_certificate_infos_free(eligible, n);
        ASSERT_OK(tlsid_context_set_choice(context, ORIGIN, TLSID_CHOICE_CERTIFICATE, unlisted,
                                           0));
        ASSERT_OK(tlsid_context_select_certificate(context, ORIGIN, NULL, NULL, 0, &decision,
                                                   &identity, NULL, NULL, NULL));
        ck_assert_int_eq(decision, TLSID_DECISION_CERTIFICATE);
        ck_assert_str_eq(identity, unlisted);
        free(identity);

        /* A challenge answered from the database: the same bound, the same count. */
        answer = answer_challenge(context, "other.example:443", NULL);
        ck_assert_uint_eq(answer->n_eligible, TLSID_ELIGIBLE_MAX);
        ck_assert_uint_eq(answer->eligible_total, N_DATABASE);
        assert_eligible(answer->eligible, answer->n_eligible, database_id, N_DATABASE);
        tlsid_challenge_answer_free(answer);

        ck_assert_int_eq(test_bus_daemon_pid(), daemon);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

static int compare_ids(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

START_TEST(test_cert_lists_list_beyond_bus_limit) {
        const unsigned want = N_DATABASE + N_OFFERED;
        TlsidClient *client = client_new();
        TlsidContext *context = NULL;
        TlsidCertificateInfo *infos = NULL;
        char *sorted[N_OFFERED];
        size_t n = 0;
        pid_t daemon;
        char *out, *save = NULL;
        unsigned lines = 0;

        ASSERT_OK(tlsid_context_open(client, "offer/tab-2", 0, NULL, &context));
        daemon = test_bus_daemon_pid();
        /* The database alone, whose whole list would not fit either. */
        ASSERT_OK(tlsid_client_list_certificates(client, &infos, &n));
        ck_assert_uint_eq(n, N_DATABASE);
        tlsid_certificate_infos_free(infos, n);
        for (unsigned from = 0; from < N_OFFERED; from += TLSID_CANDIDATES_MAX)
                offer(context, from, TLSID_CANDIDATES_MAX);

        /* Through libtlsid: every certificate once, the database's by nickname, then the
         * applications' (no nickname) by identity. */
        ASSERT_OK(tlsid_client_list_certificates(client, &infos, &n));
        ck_assert_uint_eq(n, want);
        for (unsigned i = 0; i < N_DATABASE; i++) {
                g_autofree char *nickname = nickname_of(i);

                ck_assert_str_eq(infos[i].identity, database_id[i]);
                ck_assert_str_eq(infos[i].nickname, nickname);
                ck_assert_str_eq(infos[i].source, "database");
        }
        memcpy(sorted, offered_id, sizeof sorted);
        qsort(sorted, N_OFFERED, sizeof *sorted, compare_ids);
        for (unsigned i = 0; i < N_OFFERED; i++) {
                ck_assert_str_eq(infos[N_DATABASE + i].identity, sorted[i]);
                ck_assert_str_eq(infos[N_DATABASE + i].source, "application");
                ck_assert_str_eq(infos[N_DATABASE + i].offered_by, "offer");
        }

        /* Through tlsidctl: one line each, in the same order. */
        out = tlsidctl_run((const char *[]) { "certs", "--no-legend", NULL });
        for (char *line = strtok_r(out, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save), lines++) {
                ck_assert_uint_lt(lines, want);
                ck_assert_msg(strncmp(line, infos[lines].identity, TLSID_IDENTITY_LEN) == 0,
                              "line %u: %.80s", lines, line);
        }
        ck_assert_uint_eq(lines, want);
        free(out);
        tlsid_certificate_infos_free(infos, n);

        /* Raw pages: cut by the byte budget, or by the count asked for. */
        ck_assert_uint_gt(walk_pages(0, want), 1);
        ck_assert_uint_eq(walk_pages(7, want), (want + 6) / 7);

        /* The same daemon, with what it was offered and its context. */
        ck_assert_int_eq(test_bus_daemon_pid(), daemon);
        TlsidStatistics s;
        ASSERT_OK(tlsid_client_get_statistics(client, &s));
        ck_assert_uint_eq(s.contexts, 1);
        tlsid_context_unref(context);
        tlsid_client_unref(client);
}
END_TEST

static Suite *cert_lists_suite(void) {
        Suite *s = suite_create("cert-lists");
        TCase *tc = tcase_create("cert-lists");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_cert_lists_largest_candidates);
        tcase_add_test(tc, test_cert_lists_database_eligible_capped);
        tcase_add_test(tc, test_cert_lists_list_beyond_bus_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int r;

        make_certs();
        r = test_run_suite(cert_lists_suite(), CK_FORK);
        certs_remove();
        return r;
}
