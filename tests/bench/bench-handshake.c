/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: TLS handshakes per second of an NSS client, full, resumed by NSS, resumed by
 * tlsidd from the process's own tokens and from another process's.
 *
 * Against a local nginx (tests/helpers/tls-server.c, its port that never asks for a client
 * certificate), under TLS 1.3 and then TLS 1.2, one thread opens connections one after the
 * other, each: TCP connect, handshake, "GET /", the response read to its end, close. Five
 * modes, with the same client options and the same server:
 *  (a) full: SSL_NO_CACHE, no token;
 *  (b) NSS cache: one fixed peer id, no token callback, no daemon: NSS's in-process
 *      session cache resumes;
 *  (c) tlsidd, own tokens: tlsid_nss_attach() to a context whose choice for the origin is
 *      "none": each connection resumes from the token its predecessor made, which the
 *      adapter's outbox serves before it is sent (or the daemon, once sent). With a token
 *      callback set NSS caches nothing itself; a probe with the partition's peer id checks
 *      that;
 *  (d) tlsidd, own tokens, asynchronous: (c) with tlsid_nss_attach_start() before the
 *      socket exists, the TCP connect made non-blocking and the socket's TLS layer set up
 *      while the daemon's round trip runs, both completed on one poll loop, then
 *      tlsid_nss_attach_finish(): the round trip overlaps the connect;
 *  (e) tlsidd, another process's tokens: the same in a second context, where before each
 *      connection a feeder (this program with --feeder, a process of its own) makes one
 *      connection and puts its token, and after it this process sends its own
 *      (tlsid_nss_flush(), untimed), so that its outbox never holds one: only the daemon
 *      can serve, the case the daemon exists for. The run checks that the daemon served
 *      every one (its hits around each connection).
 * The modes are interleaved in blocks, in a rotating order, so that they share the
 * machine's conditions; the figures mean something only as ratios within one run. Besides
 * handshakes per second and p50/p99 per connection it prints the p50 of each phase of a
 * connection, and for (c) how much of tlsid_nss_attach() is CPU in the client and how long
 * one GetPartition round trip takes: where (c) loses time against (b).
 *
 * Then, as root, the whole set again with a 1 ms round-trip time: this program again
 * (--in-netns) under `unshare -n`, whose network namespace's loopback gets
 * `tc qdisc add dev lo root netem delay 500us` (its bus, daemon and nginx are its own);
 * it says so when it cannot (not root, no namespaces, no tc, a kernel without netem).
 *
 * Speed is only printed; the exit status is non-zero when a connection fails or a mode
 * resumes other than it must (a lost resumption included). It runs as one Check test
 * without forking, so that the fixtures' failures come with their message.
 *
 * Usage: bench-handshake [--connections N] [--warmup N] [--no-rtt]
 * Environment: TLSID_MAKE_E2E_CERTS, the path of tests/helpers/make-e2e-certs.sh. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <nss.h>
#include <poll.h>
#include <prerror.h>
#include <prio.h>
#include <prnetdb.h>
#include <private/pprio.h> /* PR_FileDesc2NativeHandle, for poll() */
#include <ssl.h>
#include <sslproto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tlsid/tlsid-nss.h>
#include <tlsid/tlsid.h>

#include "bench-handshake-common.h"
#include "check-main.h"
#include "lib-asserts.h"
#include "test-bus.h"
#include "tls-server.h"

#define CONTEXT "bench/handshake"
#define CONTEXT_OTHER "bench/handshake-other"
#define CACHE_PEER_ID "bench-nss-cache"
#define BLOCK 50
#define IO_TIMEOUT_SECONDS 10
#define RESPONSE_MAX 2048
#define FEEDER_TIMEOUT_MS 30000
#define FLUSH_USEC (10u * 1000u * 1000u)
#define NETEM_DELAY "500us"

typedef enum { MODE_FULL, MODE_CACHE, MODE_DAEMON, MODE_ASYNC, MODE_OTHER, N_MODES } Mode;

/* The parts of a connection, timed separately to show where a mode spends its time. */
typedef enum {
        PHASE_CONNECT,  /* socket, TCP connect, SSL_ImportFD, options */
        PHASE_SETUP,    /* what the mode adds: (c) and (e) tlsid_nss_attach(); (d) the
                         * start, the wait for the attach once connected, the finish */
        PHASE_HANDSHAKE,
        PHASE_EXCHANGE, /* the request and the whole response (and NewSessionTicket) */
        PHASE_CLOSE,
        N_PHASES
} Phase;

static const char *const phase_names[N_PHASES] = {
        "connect", "setup", "handshake", "GET", "close",
};

static const char *const mode_names[N_MODES] = {
        "(a) full handshake",
        "(b) NSS session cache",
        "(c) tlsidd, own tokens",
        "(d) (c), asynchronous",
        "(e) tlsidd, other's",
};

static int connections = 2000;
static int warmup = 200;
static bool rtt_variant = true;
static bool in_netns;           /* this run is the 1 ms RTT variant */

/* The process that puts the tokens of (e), driven over two pipes: one byte asks for a
 * token, one byte answers that the daemon holds it. */
typedef struct {
        pid_t pid;
        int request_fd, reply_fd;
} Feeder;

typedef struct {
        TlsidContext *context;          /* (c) */
        TlsidContext *other;            /* (e) */
        Feeder *feeder;                 /* (e): NULL in the feeder itself */
        uint16_t port;
        char origin[32];
        PRNetAddr addr;
} Target;

typedef struct {
        uint64_t ns;            /* the whole connection */
        uint64_t phase_ns[N_PHASES];
        uint64_t setup_cpu_ns;  /* this thread's CPU time in PHASE_SETUP */
        bool resumed;           /* NSS says so */
        bool server_resumed;    /* nginx says so ($ssl_session_reused) */
} Outcome;

typedef struct {
        uint64_t *ns[N_MODES];
        uint64_t *phase_ns[N_MODES][N_PHASES];
        uint64_t *attach_cpu_ns[N_MODES];
        int resumed[N_MODES];
        int server_resumed[N_MODES];
        uint64_t hits[N_MODES];         /* tokens the daemon served during the mode */
} Samples;

typedef struct {
        TlsVersion version;
        double per_s[N_MODES], p50_us[N_MODES], p99_us[N_MODES];
        int resumed[N_MODES], server_resumed[N_MODES];
        uint64_t hits[N_MODES];
        double phase_p50_us[N_MODES][N_PHASES];
        double attach_p99_us[N_MODES], attach_cpu_p50_us[N_MODES];
        double get_partition_p50_us;    /* one GetPartition round trip, for comparison */
        uint64_t puts;
        bool probe_resumed;
} Result;

static Result results[2];
static size_t n_results;

static uint64_t thread_cpu_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static const char *nss_error(void) {
        const char *name = PR_ErrorToName(PR_GetError());

        return name ? name : "unknown NSS error";
}

static void target_init(Target *t, uint16_t port) {
        t->port = port;
        snprintf(t->origin, sizeof(t->origin), "localhost:%u", port);
        ck_assert_int_eq(PR_InitializeNetAddr(PR_IpAddrLoopback, port, &t->addr), PR_SUCCESS);
}

/* Dispatches @attach when its fd is readable, without waiting. */
static void poll_attach(TlsidNssAttach *attach, struct pollfd *p) {
        if (p->fd >= 0 && (p->revents & POLLIN) && tlsid_nss_attach_dispatch(attach) == 1)
                p->fd = -1;
}

/* (d): the TCP connect, non-blocking, on one poll loop with the attach's round trip, which
 * may end before or after it. */
static void connect_overlapped(const Target *t, PRFileDesc *tcp, TlsidNssAttach *attach) {
        PRSocketOptionData nonblocking = { .option = PR_SockOpt_Nonblocking };
        struct pollfd p[2] = {
                { .fd = tlsid_nss_attach_get_fd(attach), .events = POLLIN },
                { .fd = PR_FileDesc2NativeHandle(tcp), .events = POLLOUT },
        };

        nonblocking.value.non_blocking = PR_TRUE;
        ck_assert_int_eq(PR_SetSocketOption(tcp, &nonblocking), PR_SUCCESS);
        if (PR_Connect(tcp, &t->addr, PR_INTERVAL_NO_WAIT) != PR_SUCCESS) {
                ck_assert_msg(PR_GetError() == PR_IN_PROGRESS_ERROR, "connect to port %u: %s",
                              t->port, nss_error());
                for (;;) {
                        int n = poll(p, 2, IO_TIMEOUT_SECONDS * 1000);

                        ck_assert_msg(n > 0, "connect to port %u timed out", t->port);
                        poll_attach(attach, &p[0]);
                        if (p[1].revents) {
                                PRInt16 flags = (p[1].revents & POLLOUT ? PR_POLL_WRITE : 0) |
                                                (p[1].revents & POLLERR ? PR_POLL_ERR : 0) |
                                                (p[1].revents & POLLHUP ? PR_POLL_HUP : 0);

                                ck_assert_msg(PR_ConnectContinue(tcp, flags) == PR_SUCCESS,
                                              "connect to port %u: %s", t->port, nss_error());
                                break;
                        }
                }
        }
        nonblocking.value.non_blocking = PR_FALSE;
        ck_assert_int_eq(PR_SetSocketOption(tcp, &nonblocking), PR_SUCCESS);
}

/* (d): the rest of the round trip, if the connect did not hide all of it. */
static void wait_attach(TlsidNssAttach *attach) {
        struct pollfd p = { .fd = tlsid_nss_attach_get_fd(attach), .events = POLLIN };

        while (tlsid_nss_attach_dispatch(attach) == 0)
                ck_assert_msg(poll(&p, 1, IO_TIMEOUT_SECONDS * 1000) == 1,
                              "the attach did not end");
}

/* One connection: connect, handshake, GET /, read to the end, close. In MODE_CACHE the
 * socket uses @peer_id. */
static Outcome connect_once(const Target *t, Mode mode, const char *peer_id) {
        static const char request[] =
                "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        SSLVersionRange range = { SSL_LIBRARY_VERSION_TLS_1_2, SSL_LIBRARY_VERSION_TLS_1_3 };
        PRSocketOptionData nodelay = { .option = PR_SockOpt_NoDelay, .value.no_delay = PR_TRUE };
        TlsidNssConnection *conn = NULL;
        TlsidNssAttach *attach = NULL;
        SSLChannelInfo info;
        char response[RESPONSE_MAX];
        PRIntervalTime timeout = PR_SecondsToInterval(IO_TIMEOUT_SECONDS);
        PRFileDesc *tcp, *fd;
        Outcome out = { 0 };
        uint64_t start = bench_now_ns(), mark = start, cpu = 0;
        size_t got = 0;

        if (mode == MODE_ASYNC) {
                /* As soon as the origin is known. */
                cpu = thread_cpu_ns();
                ASSERT_OK(tlsid_nss_attach_start(t->context, "localhost", t->port, 0, &attach));
                out.phase_ns[PHASE_SETUP] = bench_now_ns() - mark;
                out.setup_cpu_ns = thread_cpu_ns() - cpu;
                mark = bench_now_ns();
        }
        tcp = PR_OpenTCPSocket(PR_AF_INET);
        ck_assert_msg(tcp != NULL, "PR_OpenTCPSocket: %s", nss_error());
        /* The client's Finished and the request are separate writes: no Nagle delay. */
        ck_assert_int_eq(PR_SetSocketOption(tcp, &nodelay), PR_SUCCESS);
        if (mode == MODE_ASYNC)
                connect_overlapped(t, tcp, attach);
        else
                ck_assert_msg(PR_Connect(tcp, &t->addr, timeout) == PR_SUCCESS,
                              "connect to port %u: %s", t->port, nss_error());
        fd = SSL_ImportFD(NULL, tcp);
        ck_assert_msg(fd != NULL, "SSL_ImportFD: %s", nss_error());
        /* tlsid-fetch's options, in every mode. */
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_SECURITY, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_OptionSet(fd, SSL_ENABLE_SESSION_TICKETS, PR_TRUE), SECSuccess);
        ck_assert_int_eq(SSL_VersionRangeSet(fd, &range), SECSuccess);
        ck_assert_int_eq(SSL_SetURL(fd, "localhost"), SECSuccess);
        ck_assert_int_eq(SSL_ResetHandshake(fd, PR_FALSE), SECSuccess);
        out.phase_ns[PHASE_CONNECT] = bench_now_ns() - mark;
        /* CPU against wall time tells computing from waiting for the daemon. */
        cpu = thread_cpu_ns();
        mark = bench_now_ns();
        switch (mode) {
        case MODE_ASYNC:
                /* Whatever of the round trip the connect did not hide, and the finish. */
                wait_attach(attach);
                ASSERT_OK(tlsid_nss_attach_finish(attach, fd, &conn));
                ck_assert_msg(!tlsid_nss_connection_is_degraded(conn),
                              "the adapter could not reach tlsidd");
                break;
        case MODE_FULL:
                ck_assert_int_eq(SSL_OptionSet(fd, SSL_NO_CACHE, PR_TRUE), SECSuccess);
                break;
        case MODE_CACHE:
                ck_assert_int_eq(SSL_SetSockPeerID(fd, peer_id), SECSuccess);
                break;
        case MODE_DAEMON:
        case MODE_OTHER:
                ASSERT_OK(tlsid_nss_attach(fd, mode == MODE_DAEMON ? t->context : t->other,
                                           "localhost", t->port, 0, &conn));
                ck_assert_msg(!tlsid_nss_connection_is_degraded(conn),
                              "the adapter could not reach tlsidd");
                ck_assert_str_eq(tlsid_nss_connection_get_identity(conn), "");
                break;
        default:
                ck_abort_msg("mode %d", (int) mode);
        }
        out.phase_ns[PHASE_SETUP] += bench_now_ns() - mark;
        out.setup_cpu_ns += thread_cpu_ns() - cpu;
        mark = bench_now_ns();

        ck_assert_msg(SSL_ForceHandshakeWithTimeout(fd, timeout) == SECSuccess,
                      "%s: handshake: %s", mode_names[mode], nss_error());
        out.phase_ns[PHASE_HANDSHAKE] = bench_now_ns() - mark;
        mark = bench_now_ns();
        ck_assert_int_eq(PR_Write(fd, request, (PRInt32) sizeof(request) - 1),
                         (PRInt32) sizeof(request) - 1);
        /* Reading to the end also reads a TLS 1.3 NewSessionTicket (the new token). */
        for (;;) {
                PRInt32 n = PR_Recv(fd, response + got, (PRInt32) (sizeof(response) - 1 - got),
                                    0, timeout);

                ck_assert_msg(n >= 0, "%s: read: %s", mode_names[mode], nss_error());
                if (n == 0)
                        break;
                got += (size_t) n;
                ck_assert_msg(got < sizeof(response) - 1, "overlong response");
        }
        response[got] = '\0';
        ck_assert_msg(strncmp(response, "HTTP/1.1 200 ", 13) == 0, "%s: response: %s",
                      mode_names[mode], response);
        ck_assert_int_eq(SSL_GetChannelInfo(fd, &info, sizeof(info)), SECSuccess);
        out.resumed = info.resumed;
        out.server_resumed = strstr(response, "reused=r ") != NULL;
        out.phase_ns[PHASE_EXCHANGE] = bench_now_ns() - mark;
        mark = bench_now_ns();
        PR_Close(fd);
        tlsid_nss_connection_free(conn);
        out.phase_ns[PHASE_CLOSE] = bench_now_ns() - mark;
        out.ns = bench_now_ns() - start;
        return out;
}

/* ---- the feeder of (e) ---- */

static void feeder_start(Feeder *f, const char *db, const Target *t) {
        char request_fd[16], reply_fd[16], port[8];
        const char *bus = test_bus_address();
        int request[2], reply[2];

        ck_assert_int_eq(pipe2(request, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(reply, O_CLOEXEC), 0);
        snprintf(request_fd, sizeof(request_fd), "%d", request[0]);
        snprintf(reply_fd, sizeof(reply_fd), "%d", reply[1]);
        snprintf(port, sizeof(port), "%u", t->port);
        fflush(stdout);
        fflush(stderr);
        f->pid = fork();
        ck_assert_int_ge(f->pid, 0);
        if (f->pid == 0) {
                /* Only the feeder's own ends survive the exec. */
                if (fcntl(request[0], F_SETFD, 0) < 0 || fcntl(reply[1], F_SETFD, 0) < 0)
                        _exit(127);
                execl("/proc/self/exe", "bench-handshake", "--feeder", bus, db,
                      port, request_fd, reply_fd, (char *) NULL);
                _exit(127);
        }
        close(request[0]);
        close(reply[1]);
        f->request_fd = request[1];
        f->reply_fd = reply[0];
}

/* Has the feeder put one token of CONTEXT_OTHER; returns once the daemon holds it. */
static void feeder_put_one(Feeder *f) {
        struct pollfd p = { .fd = f->reply_fd, .events = POLLIN };
        char c = 'p';

        ck_assert_int_eq(write(f->request_fd, &c, 1), 1);
        ck_assert_msg(poll(&p, 1, FEEDER_TIMEOUT_MS) == 1, "the feeder does not answer");
        ck_assert_msg(read(f->reply_fd, &c, 1) == 1 && c == 'k', "the feeder failed");
}

static void feeder_stop(Feeder *f) {
        int status = 0;

        close(f->request_fd);
        ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
        close(f->reply_fd);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the feeder failed (status 0x%x)", (unsigned) status);
}

static struct {
        const char *bus, *db;
        uint16_t port;
        int request_fd, reply_fd;
} feeder_args;

/* The feeder's life: for each byte asked, one connection of its own to the origin through
 * the adapter (its BeginConnection takes a token, its new one is put), its puts sent, and
 * a round trip after them, so that the daemon holds the token when it answers. */
START_TEST(test_feeder) {
        TlsidClient *client = NULL;
        Target t = { 0 };
        char c;

        ck_assert_int_eq(NSS_Initialize(feeder_args.db, "", "", "", NSS_INIT_READONLY),
                         SECSuccess);
        ck_assert_int_eq(NSS_SetDomesticPolicy(), SECSuccess);
        ASSERT_OK(tlsid_nss_client_new(feeder_args.bus, &client));
        ASSERT_OK(tlsid_context_open(client, CONTEXT_OTHER, TLSID_CONTEXT_EPHEMERAL, NULL,
                                     &t.context));
        target_init(&t, feeder_args.port);
        while (read(feeder_args.request_fd, &c, 1) == 1) {
                connect_once(&t, MODE_DAEMON, NULL);
                ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
                ASSERT_OK(tlsid_context_get_partition(t.context, t.origin, NULL, NULL, NULL,
                                                      NULL));
                c = 'k';
                ck_assert_int_eq(write(feeder_args.reply_fd, &c, 1), 1);
        }
        tlsid_context_unref(t.context);
        tlsid_client_unref(client);
        SSL_ClearSessionCache();
        NSS_Shutdown();
}
END_TEST

static int feeder_main(char *argv[]) {
        Suite *suite = suite_create("bench-handshake-feeder");
        TCase *tc = tcase_create("feeder");

        feeder_args.bus = argv[0];
        feeder_args.db = argv[1];
        feeder_args.port = (uint16_t) atoi(argv[2]);
        feeder_args.request_fd = atoi(argv[3]);
        feeder_args.reply_fd = atoi(argv[4]);
        tcase_add_test(tc, test_feeder);
        suite_add_tcase(suite, tc);
        return test_run_suite(suite, CK_NOFORK);
}

/* ---- runs ---- */

/* One connection of @mode; (e) between its untimed steps: the feeder's token first, this
 * process's own sent after. */
static Outcome connect_mode(const Target *t, Mode mode, uint64_t *hits) {
        uint64_t before = 0;
        Outcome o;

        if (mode == MODE_OTHER) {
                feeder_put_one(t->feeder);
                before = bench_daemon_hits(t->other);
        }
        o = connect_once(t, mode, CACHE_PEER_ID);
        if (mode == MODE_OTHER) {
                *hits += bench_daemon_hits(t->other) - before;
                ck_assert_int_eq(tlsid_nss_flush(FLUSH_USEC), 0);
        }
        return o;
}

/* @count connections per mode, in blocks of BLOCK, the order of the modes rotating from
 * one round to the next. @samples: NULL for the warm-up. */
static void run_interleaved(const Target *t, int count, Samples *samples) {
        int done[N_MODES] = { 0 };

        for (int round = 0;; round++) {
                bool more = false;

                for (int m = 0; m < N_MODES; m++)
                        more = more || done[m] < count;
                if (!more)
                        break;
                for (int k = 0; k < N_MODES; k++) {
                        Mode mode = (Mode) ((round + k) % N_MODES);
                        uint64_t hits = 0, block_start = 0;
                        bool counted = (mode == MODE_DAEMON || mode == MODE_ASYNC) &&
                                       done[mode] < count;

                        if (counted)
                                block_start = bench_daemon_hits(t->context);
                        for (int i = 0; i < BLOCK && done[mode] < count; i++) {
                                Outcome o = connect_mode(t, mode, &hits);

                                if (samples) {
                                        samples->ns[mode][done[mode]] = o.ns;
                                        for (int p = 0; p < N_PHASES; p++)
                                                samples->phase_ns[mode][p][done[mode]] =
                                                        o.phase_ns[p];
                                        samples->attach_cpu_ns[mode][done[mode]] =
                                                o.setup_cpu_ns;
                                        samples->resumed[mode] += o.resumed;
                                        samples->server_resumed[mode] += o.server_resumed;
                                }
                                done[mode]++;
                        }
                        if (counted)
                                hits = bench_daemon_hits(t->context) - block_start;
                        if (samples)
                                samples->hits[mode] += hits;
                }
        }
}

/* The p50 of GetPartition round trips on the adapter's client: the unit of what
 * tlsid_nss_attach() waits for. */
static double get_partition_p50(TlsidContext *context, const char *origin) {
        enum { CALLS = 500 };
        uint64_t *ns = calloc(CALLS, sizeof(uint64_t));
        double p50, p99;

        ck_assert_ptr_nonnull(ns);
        for (int i = 0; i < CALLS; i++) {
                uint64_t t0 = bench_now_ns();

                ASSERT_OK(tlsid_context_get_partition(context, origin, NULL, NULL, NULL, NULL));
                ns[i] = bench_now_ns() - t0;
        }
        bench_percentiles(ns, CALLS, &p50, &p99, NULL);
        free(ns);
        return p50;
}

static void print_result(const Result *r, const char *indent) {
        bool v13 = r->version == TLS_VERSION_1_3;

        printf("%s%-23s %6s %15s %13s %9s %9s\n", indent, "mode", "conns",
               "resumed nss/srv", "handshakes/s", "p50 us", "p99 us");
        for (int m = 0; m < N_MODES; m++) {
                char resumed[32];

                snprintf(resumed, sizeof(resumed), "%d/%d", r->resumed[m], r->server_resumed[m]);
                printf("%s%-23s %6d %15s %13.0f %9.0f %9.0f\n", indent, mode_names[m],
                       connections, resumed, r->per_s[m], r->p50_us[m], r->p99_us[m]);
        }
        printf("%sp50 us by phase:", indent);
        for (int p = 0; p < N_PHASES; p++)
                printf(" %9s", phase_names[p]);
        printf("\n");
        for (int m = 0; m < N_MODES; m++) {
                printf("%s  %-23s", indent, mode_names[m]);
                for (int p = 0; p < N_PHASES; p++)
                        printf(" %9.0f", r->phase_p50_us[m][p]);
                printf("\n");
        }
        printf("%s(c) tlsid_nss_attach(): p50 %.0f us (of which CPU in this thread %.0f us), "
               "p99 %.0f us;\n%s    one GetPartition round trip alone: p50 %.0f us\n", indent,
               r->phase_p50_us[MODE_DAEMON][PHASE_SETUP], r->attach_cpu_p50_us[MODE_DAEMON],
               r->attach_p99_us[MODE_DAEMON], indent, r->get_partition_p50_us);
        printf("%s(d) start + wait after the connect + finish: p50 %.0f us (CPU %.0f us), "
               "p99 %.0f us\n", indent, r->phase_p50_us[MODE_ASYNC][PHASE_SETUP],
               r->attach_cpu_p50_us[MODE_ASYNC], r->attach_p99_us[MODE_ASYNC]);
        for (int m = MODE_DAEMON; m <= MODE_ASYNC; m++)
                printf("%stokens the daemon served: %.3s %llu (the outbox served the other "
                       "%llu)\n", indent, mode_names[m], (unsigned long long) r->hits[m],
                       (unsigned long long) ((uint64_t) r->resumed[m] > r->hits[m]
                                                     ? (uint64_t) r->resumed[m] - r->hits[m]
                                                     : 0));
        printf("%stokens the daemon served: (e) %llu\n", indent,
               (unsigned long long) r->hits[MODE_OTHER]);
        printf("%sratios of handshakes/s%s:", indent, in_netns ? " (1 ms RTT)" : "");
        bench_print_ratio("(c)/(b)", r->per_s[MODE_DAEMON] / r->per_s[MODE_CACHE],
                    in_netns ? 0.95 : v13 ? 0.8 : 0.7);
        bench_print_ratio("(d)/(b)", r->per_s[MODE_ASYNC] / r->per_s[MODE_CACHE],
                    in_netns ? 0.98 : 0);
        bench_print_ratio("(d)/(c)", r->per_s[MODE_ASYNC] / r->per_s[MODE_DAEMON], 0);
        bench_print_ratio("(e)/(b)", r->per_s[MODE_OTHER] / r->per_s[MODE_CACHE],
                    in_netns ? 0.95 : 0.7);
        bench_print_ratio("(c)/(a)", r->per_s[MODE_DAEMON] / r->per_s[MODE_FULL], in_netns ? 0 : 3);
        printf("\n");
}

static void bench_version(TlsidContext *context, TlsidContext *other, const char *certs,
                          const char *db, TlsVersion version) {
        char *dir = test_xasprintf("%s/nginx-%s", test_bus_tmpdir(), tls_version_name(version));
        TlsServer *server = tls_server_start_nginx(certs, dir, version);
        Result *r = &results[n_results++];
        Samples samples = { 0 };
        TlsidStatistics before, after;
        Target t = { .context = context, .other = other };
        Feeder feeder;
        char *peer_id = NULL;
        Outcome probe;

        r->version = version;
        target_init(&t, tls_server_noask_port(server));
        t.feeder = &feeder;
        ASSERT_OK(tlsid_context_set_choice(context, t.origin, TLSID_CHOICE_NONE, NULL, 0));
        ASSERT_OK(tlsid_context_set_choice(other, t.origin, TLSID_CHOICE_NONE, NULL, 0));
        feeder_start(&feeder, db, &t);

        printf("\n%s%s: nginx on 127.0.0.1:%u (never asks for a certificate); %d warm-up and %d "
               "timed connections per mode\n", tls_version_name(version),
               in_netns ? " over a 1 ms RTT" : "", t.port, warmup, connections);
        fflush(stdout);
        SSL_ClearSessionCache();
        /* An attach before any session NSS caches itself, as an application would: NSS
         * then wraps this process's session secrets with the daemon's key, so that the
         * feeder's tokens resume here. */
        connect_once(&t, MODE_DAEMON, NULL);
        run_interleaved(&t, warmup, NULL);

        for (int m = 0; m < N_MODES; m++) {
                samples.ns[m] = calloc((size_t) connections, sizeof(uint64_t));
                ck_assert_ptr_nonnull(samples.ns[m]);
                for (int p = 0; p < N_PHASES; p++) {
                        samples.phase_ns[m][p] = calloc((size_t) connections, sizeof(uint64_t));
                        ck_assert_ptr_nonnull(samples.phase_ns[m][p]);
                }
        }
        for (int m = 0; m < N_MODES; m++) {
                samples.attach_cpu_ns[m] = calloc((size_t) connections, sizeof(uint64_t));
                ck_assert_ptr_nonnull(samples.attach_cpu_ns[m]);
        }
        ASSERT_OK(tlsid_client_get_statistics(tlsid_context_get_client(context), &before));
        run_interleaved(&t, connections, &samples);
        ASSERT_OK(tlsid_client_get_statistics(tlsid_context_get_client(context), &after));
        r->puts = after.puts - before.puts;
        feeder_stop(&feeder);

        /* NSS's own cache must hold nothing under the partition's peer id: a socket with
         * that peer id and no token callback would resume from it. */
        ASSERT_OK(tlsid_context_get_partition(context, t.origin, NULL, NULL, NULL, &peer_id));
        probe = connect_once(&t, MODE_CACHE, peer_id);
        r->probe_resumed = probe.resumed;
        free(peer_id);

        for (int m = 0; m < N_MODES; m++) {
                uint64_t sum;

                bench_percentiles(samples.ns[m], (size_t) connections, &r->p50_us[m], &r->p99_us[m],
                            &sum);
                r->per_s[m] = (double) connections / ((double) sum / 1e9);
                r->resumed[m] = samples.resumed[m];
                r->server_resumed[m] = samples.server_resumed[m];
                r->hits[m] = samples.hits[m];
                free(samples.ns[m]);
                for (int p = 0; p < N_PHASES; p++) {
                        double p99;

                        bench_percentiles(samples.phase_ns[m][p], (size_t) connections,
                                    &r->phase_p50_us[m][p], &p99, NULL);
                        if (p == PHASE_SETUP)
                                r->attach_p99_us[m] = p99;
                        free(samples.phase_ns[m][p]);
                }
        }
        for (int m = 0; m < N_MODES; m++) {
                double p99;

                bench_percentiles(samples.attach_cpu_ns[m], (size_t) connections,
                            &r->attach_cpu_p50_us[m], &p99, NULL);
                free(samples.attach_cpu_ns[m]);
        }
        r->get_partition_p50_us = get_partition_p50(context, t.origin);

        print_result(r, "  ");
        printf("  the daemon stored %llu tokens during the timed run; a probe with (c)'s peer id "
               "and no token %s\n", (unsigned long long) r->puts,
               r->probe_resumed ? "RESUMED (NSS's cache holds the partition)"
                                : "was a full handshake (NSS's cache holds nothing for it)");
        fflush(stdout);

        tls_server_stop(server);
        free(dir);
        SSL_ClearSessionCache();

        /* What makes the figures mean what they say. */
        ck_assert_msg(r->resumed[MODE_FULL] == 0 && r->server_resumed[MODE_FULL] == 0,
                      "full handshakes resumed");
        for (int m = MODE_CACHE; m < N_MODES; m++)
                ck_assert_msg(r->resumed[m] == connections && r->server_resumed[m] == connections,
                              "%s resumed %d of %d (nginx says %d)", mode_names[m],
                              r->resumed[m], connections, r->server_resumed[m]);
        ck_assert_msg(r->hits[MODE_OTHER] == (uint64_t) r->resumed[MODE_OTHER],
                      "(e) resumed %d times but the daemon served %llu tokens",
                      r->resumed[MODE_OTHER], (unsigned long long) r->hits[MODE_OTHER]);
        ck_assert_msg(!r->probe_resumed, "NSS's cache resumed the partition's peer id");
}

/* The whole set again over a 1 ms RTT: this program in a network namespace of its own,
 * whose loopback delays every packet by 500 us each way. */
static void run_rtt_variant(void) {
        static const char script[] =
                "command -v tc > /dev/null || exit 78\n"
                "ip link set lo up || exit 77\n"
                "tc qdisc add dev lo root netem delay " NETEM_DELAY " || exit 77\n"
                "exec \"$0\" --in-netns --connections \"$1\" --warmup \"$2\"\n";
        char exe[PATH_MAX], n[16], w[16];
        ssize_t len;
        int status = 0;
        pid_t pid;

        printf("\n1 ms RTT variant (server and client in a network namespace, netem delay "
               NETEM_DELAY " on its loopback): ");
        if (geteuid() != 0) {
                printf("skipped: making a network namespace needs root\n");
                return;
        }
        if (system("unshare -n true 2> /dev/null") != 0) {
                printf("skipped: `unshare -n` cannot make a network namespace here\n");
                return;
        }
        len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        ck_assert_int_gt(len, 0);
        exe[len] = '\0';
        snprintf(n, sizeof(n), "%d", connections);
        snprintf(w, sizeof(w), "%d", warmup);
        printf("running\n");
        fflush(stdout);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                execlp("unshare", "unshare", "-n", "--", "sh", "-c", script, exe, n, w,
                       (char *) NULL);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "the 1 ms RTT run died (status 0x%x)",
                      (unsigned) status);
        if (WEXITSTATUS(status) == 77)
                printf("1 ms RTT variant skipped: `tc qdisc add dev lo root netem delay "
                       NETEM_DELAY "` failed in the namespace (a kernel without sch_netem, "
                       "CONFIG_NET_SCH_NETEM?)\n");
        else if (WEXITSTATUS(status) == 78)
                printf("1 ms RTT variant skipped: tc is missing (Debian package iproute2)\n");
        else
                ck_assert_msg(WEXITSTATUS(status) == 0, "the 1 ms RTT run failed (exit %d)",
                              WEXITSTATUS(status));
}

START_TEST(test_handshake_bench) {
        char *certs, *db;
        TlsidClient *client = NULL;
        TlsidContext *context = NULL, *other = NULL;

        certs = bench_handshake_setup();
        db = test_xasprintf("sql:%s/client-db", certs);
        ck_assert_int_eq(NSS_Initialize(db, "", "", "", NSS_INIT_READONLY), SECSuccess);
        ck_assert_int_eq(NSS_SetDomesticPolicy(), SECSuccess);

        /* As an application would: the adapter's client, with its 250 ms call timeout,
         * which activating the daemon may exceed, so that is done first. */
        test_bus_activate_daemon();
        ASSERT_OK(tlsid_nss_client_new(test_bus_address(), &client));
        ASSERT_OK(tlsid_context_open(client, CONTEXT, TLSID_CONTEXT_EPHEMERAL, NULL, &context));
        ASSERT_OK(tlsid_context_open(client, CONTEXT_OTHER, TLSID_CONTEXT_EPHEMERAL, NULL,
                                     &other));

        printf("tlsid handshake benchmark%s: one NSS client thread, connect + handshake + "
               "GET / + close;\nmodes interleaved in blocks of %d connections; figures are "
               "comparable only within one run (ratios)\n",
               in_netns ? " over a 1 ms RTT (netem delay " NETEM_DELAY " on loopback)" : "",
               BLOCK);
        bench_version(context, other, certs, db, TLS_VERSION_1_3);
        bench_version(context, other, certs, db, TLS_VERSION_1_2);

        printf("\nSummary%s (handshakes/s, p50/p99 us per connection):\n",
               in_netns ? " over a 1 ms RTT" : "");
        for (size_t i = 0; i < n_results; i++) {
                printf("%s\n", tls_version_name(results[i].version));
                print_result(&results[i], "  ");
        }
        fflush(stdout);

        ck_assert_int_eq(tlsid_context_close(context, NULL), 0);
        ck_assert_int_eq(tlsid_context_close(other, NULL), 0);
        tlsid_context_unref(context);
        tlsid_context_unref(other);
        tlsid_client_unref(client);
        SSL_ClearSessionCache();
        NSS_Shutdown();
        test_bus_stop();
        free(db);
        free(certs);

        if (!in_netns && rtt_variant)
                run_rtt_variant();
}
END_TEST

int main(int argc, char *argv[]) {
        Suite *suite = suite_create("bench-handshake");
        TCase *tc = tcase_create("handshakes");

        if (argc == 7 && strcmp(argv[1], "--feeder") == 0)
                return feeder_main(argv + 2);
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc)
                        connections = atoi(argv[++i]);
                else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
                        warmup = atoi(argv[++i]);
                else if (strcmp(argv[i], "--no-rtt") == 0)
                        rtt_variant = false;
                else if (strcmp(argv[i], "--in-netns") == 0)
                        in_netns = true;
                else {
                        fprintf(stderr, "Usage: %s [--connections N] [--warmup N] [--no-rtt]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (connections < 1 || warmup < 1) {
                fprintf(stderr, "bench-handshake: need --connections >= 1 and --warmup >= 1\n");
                return 2;
        }
        /* Check only reports the fixtures' failures with their message: no fork, no
         * timeout, the figures go straight to stdout. */
        tcase_add_test(tc, test_handshake_bench);
        suite_add_tcase(suite, tc);
        return test_run_suite(suite, CK_NOFORK);
}
