/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real TLS servers on loopback for the end-to-end tests: nginx and NSS selfserv. */
#include "tls-server.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-bus.h"

#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 10000
#define START_ATTEMPTS 5
#define MAX_SERVERS 8

struct TlsServer {
        pid_t pid;
        bool selfserv;
        bool request_cert;
        uint16_t port, noask_port;
        char *dir;
        char *log_path;
};

/* What still runs, for the exit handler of the process that started it. */
static TlsServer *running[MAX_SERVERS];
static pid_t running_owner;

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *tls_version_name(TlsVersion version) {
        return version == TLS_VERSION_1_3 ? "TLSv1.3" : "TLSv1.2";
}

static void kill_running(void) {
        if (running_owner != getpid())
                return;
        for (size_t i = 0; i < MAX_SERVERS; i++) {
                if (!running[i])
                        continue;
                kill(running[i]->pid, SIGKILL);
                waitpid(running[i]->pid, NULL, 0);
                running[i] = NULL;
        }
}

static void track(TlsServer *server) {
        static bool handler;

        if (!handler) {
                atexit(kill_running);
                handler = true;
        }
        if (running_owner != getpid()) {
                /* A forked test: what the parent ran is not ours to kill. */
                memset(running, 0, sizeof(running));
                running_owner = getpid();
        }
        for (size_t i = 0; i < MAX_SERVERS; i++) {
                if (!running[i]) {
                        running[i] = server;
                        return;
                }
        }
        ck_abort_msg("more than %d TLS servers at once", MAX_SERVERS);
}

static void untrack(TlsServer *server) {
        for (size_t i = 0; i < MAX_SERVERS; i++)
                if (running[i] == server)
                        running[i] = NULL;
}

/* The path of @name: in $PATH, else in the sbin and NSS tools directories a normal
 * user's $PATH often lacks. NULL when not found (transfer full). */
static char *find_program(const char *name) {
        static const char *const extra[] = {
                "/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/lib64/nss/unsupported-tools",
                "/usr/lib/nss/unsupported-tools",
        };
        const char *path = getenv("PATH");
        char *dirs = strdup(path ? path : "/usr/bin:/bin"), *save = NULL;
        char *found = NULL;

        for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
                char *p = test_xasprintf("%s/%s", *d ? d : ".", name);

                if (access(p, X_OK) == 0)
                        found = p;
                else
                        free(p);
        }
        free(dirs);
        for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]) && !found; i++) {
                char *p = test_xasprintf("%s/%s", extra[i], name);

                if (access(p, X_OK) == 0)
                        found = p;
                else
                        free(p);
        }
        return found;
}

/* A loopback port nobody listens on now (the kernel's pick for port 0). */
static uint16_t free_port(void) {
        struct sockaddr_in addr = { .sin_family = AF_INET };
        socklen_t len = sizeof(addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_msg(bind(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0, "bind: %s",
                      strerror(errno));
        ck_assert_msg(getsockname(fd, (struct sockaddr *) &addr, &len) == 0, "getsockname: %s",
                      strerror(errno));
        close(fd);
        return ntohs(addr.sin_port);
}

static bool port_accepts(uint16_t port) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok;

        ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0;
        close(fd);
        return ok;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *data = NULL;
        size_t size = 0;

        if (!f)
                return strdup("");
        {
                FILE *mem = open_memstream(&data, &size);
                char buf[4096];
                size_t n;

                ck_assert_msg(mem != NULL, "open_memstream: %s", strerror(errno));
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                        fwrite(buf, 1, n, mem);
                fclose(mem);
        }
        fclose(f);
        return data;
}

static void write_file(const char *path, const char *contents) {
        FILE *f = fopen(path, "we");

        ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
        fputs(contents, f);
        ck_assert_msg(fclose(f) == 0, "write %s: %s", path, strerror(errno));
}

/* @text with every @from replaced by @to (transfer full; frees @text). */
static char *replace_all(char *text, const char *from, const char *to) {
        size_t from_len = strlen(from), to_len = strlen(to), n = 0;
        char *out, *o;
        const char *p;

        for (p = text; (p = strstr(p, from)); p += from_len)
                n++;
        out = malloc(strlen(text) + n * to_len + 1);
        ck_assert_msg(out != NULL, "out of memory");
        o = out;
        for (p = text;;) {
                const char *hit = strstr(p, from);

                if (!hit) {
                        strcpy(o, p);
                        break;
                }
                memcpy(o, p, (size_t) (hit - p));
                o += hit - p;
                memcpy(o, to, to_len);
                o += to_len;
                p = hit + from_len;
        }
        free(text);
        return out;
}

/* Forks and execs @argv with stdout and stderr appended to @log_path, stdin from
 * /dev/null, no other descriptor of the test, and SIGKILL when the test dies. */
static pid_t spawn(char *const argv[], const char *log_path) {
        pid_t parent = getpid();
        pid_t pid = fork();

        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
                int null_fd = open("/dev/null", O_RDONLY);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent || log_fd < 0 || null_fd < 0)
                        _exit(127);
                dup2(null_fd, 0);
                dup2(log_fd, 1);
                dup2(log_fd, 2);
                for (int fd = 3; fd < 1024; fd++)
                        close(fd);
                signal(SIGPIPE, SIG_DFL);
                execv(argv[0], argv);
                fprintf(stderr, "tls-server: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

typedef enum { READY, EXITED } Readiness;

/* Waits until @server accepts on its ports, or exits. */
static Readiness wait_ready(TlsServer *server, const char *what) {
        long long deadline = now_ms() + READY_TIMEOUT_MS;

        for (;;) {
                int status;

                if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
                        server->pid = 0;
                        return EXITED;
                }
                if (port_accepts(server->port) &&
                    (!server->noask_port || port_accepts(server->noask_port)))
                        return READY;
                if (now_ms() > deadline) {
                        char *log = read_file(server->log_path);

                        ck_abort_msg("%s did not accept connections within %d ms; its log:\n%s",
                                     what, READY_TIMEOUT_MS, log);
                }
                /* Polling with a deadline: nothing else says when it listens. */
                poll(NULL, 0, 20);
        }
}

static bool log_says_port_taken(const char *log_path) {
        char *log = read_file(log_path);
        bool taken = strstr(log, "Address already in use") || strstr(log, "-5982") ||
                     strstr(log, "address is in use");

        free(log);
        return taken;
}

static TlsServer *server_new(const char *dir, bool selfserv) {
        TlsServer *server = calloc(1, sizeof(*server));

        ck_assert_msg(server != NULL, "out of memory");
        ck_assert_msg(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", dir,
                      strerror(errno));
        server->dir = strdup(dir);
        server->selfserv = selfserv;
        server->log_path = test_xasprintf("%s/%s", dir, selfserv ? "selfserv.log" : "error.log");
        return server;
}

static void server_free(TlsServer *server) {
        free(server->dir);
        free(server->log_path);
        free(server);
}

TlsServer *tls_server_start_nginx(const char *certs_dir, const char *dir, TlsVersion version) {
        TlsServer *server = server_new(dir, false);
        char *nginx = find_program("nginx");
        char *conf_path = test_xasprintf("%s/nginx.conf", dir);
        char *prefix = test_xasprintf("%s/", dir);

        ck_assert_msg(nginx != NULL,
                      "nginx not found in $PATH or /usr/sbin: install the nginx package "
                      "(apt-get install nginx)");
        for (int attempt = 1;; attempt++) {
                char *conf = read_file(TLS_SERVER_NGINX_CONF_IN);
                char port[8], noask[8];
                char *argv[] = { nginx, "-p", prefix, "-c", conf_path, "-e", server->log_path,
                                 NULL };

                ck_assert_msg(conf[0] != '\0', "cannot read %s", TLS_SERVER_NGINX_CONF_IN);
                server->port = free_port();
                do
                        server->noask_port = free_port();
                while (server->noask_port == server->port);
                snprintf(port, sizeof(port), "%u", server->port);
                snprintf(noask, sizeof(noask), "%u", server->noask_port);
                conf = replace_all(conf, "@DIR@", dir);
                conf = replace_all(conf, "@CERTS@", certs_dir);
                conf = replace_all(conf, "@PORT@", port);
                conf = replace_all(conf, "@NOASK_PORT@", noask);
                conf = replace_all(conf, "@PROTOCOLS@", tls_version_name(version));
                write_file(conf_path, conf);
                free(conf);
                unlink(server->log_path);

                server->pid = spawn(argv, server->log_path);
                track(server);
                if (wait_ready(server, "nginx") == READY)
                        break;
                untrack(server);
                if (attempt == START_ATTEMPTS || !log_says_port_taken(server->log_path)) {
                        char *log = read_file(server->log_path);

                        ck_abort_msg("nginx exited at start; its log:\n%s", log);
                }
        }
        free(prefix);
        free(conf_path);
        free(nginx);
        return server;
}

TlsServer *tls_server_start_selfserv(const char *certs_dir, const char *dir, TlsVersion version,
                                     bool request_cert) {
        TlsServer *server = server_new(dir, true);
        char *selfserv = find_program("selfserv");
        char *db = test_xasprintf("sql:%s/server-db", certs_dir);
        const char *range = version == TLS_VERSION_1_3 ? "tls1.3:tls1.3" : "tls1.2:tls1.2";

        ck_assert_msg(selfserv != NULL,
                      "selfserv not found in $PATH or the NSS tools directories: install the "
                      "libnss3-tools package (apt-get install libnss3-tools)");
        server->request_cert = request_cert;
        for (int attempt = 1;; attempt++) {
                char port[8];
                /* -v prints the session cache counters for each connection (how the log
                 * tells a resumption), -u enables session tickets (which TLS 1.2 needs for
                 * NSS clients to export resumption tokens). */
                char *argv[] = { selfserv, "-d", db, "-n", "server", "-p", port, "-V",
                                 (char *) range, "-v", "-u", request_cert ? "-r" : NULL, NULL };

                server->port = free_port();
                snprintf(port, sizeof(port), "%u", server->port);
                unlink(server->log_path);
                server->pid = spawn(argv, server->log_path);
                track(server);
                if (wait_ready(server, "selfserv") == READY)
                        break;
                untrack(server);
                if (attempt == START_ATTEMPTS || !log_says_port_taken(server->log_path)) {
                        char *log = read_file(server->log_path);

                        ck_abort_msg("selfserv exited at start; its log:\n%s", log);
                }
        }
        free(db);
        free(selfserv);
        return server;
}

void tls_server_stop(TlsServer *server) {
        long long deadline;
        int status;

        if (!server)
                return;
        untrack(server);
        if (server->pid > 0) {
                kill(server->pid, SIGTERM);
                deadline = now_ms() + STOP_TIMEOUT_MS;
                while (waitpid(server->pid, &status, WNOHANG) == 0) {
                        if (now_ms() > deadline) {
                                kill(server->pid, SIGKILL);
                                waitpid(server->pid, &status, 0);
                                break;
                        }
                        poll(NULL, 0, 10);
                }
        }
        server_free(server);
}

uint16_t tls_server_port(const TlsServer *server) {
        return server->port;
}

uint16_t tls_server_noask_port(const TlsServer *server) {
        return server->noask_port;
}

const char *tls_server_log_path(const TlsServer *server) {
        return server->log_path;
}

/* selfserv prints, for each connection once its first bytes are read: "selfserv: SSL
 * version 3.x ..." and, with -r, "selfserv: subject DN: ..." for the client certificate
 * (of the resumed session too) on stderr; then, flushed from stdout, the cumulative
 * "selfserv: N cache hits; ..." counter, which a resumption (session id or ticket, TLS
 * 1.2 or 1.3) increments. Connections are never concurrent in these tests, so the lines
 * of one connection are not interleaved with another's. */
size_t tls_server_selfserv_connections(const TlsServer *server,
                                       TlsServerConnection *ret_connections, size_t max) {
        char *log = read_file(server->log_path);
        TlsServerConnection *current = NULL, scratch;
        unsigned long hits = 0;
        size_t n = 0;
        char *save = NULL;

        ck_assert_msg(server->selfserv, "not a selfserv server");
        for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned long h;

                if (strncmp(line, "selfserv: SSL version ", 22) == 0) {
                        current = n < max ? &ret_connections[n] : &scratch;
                        memset(current, 0, sizeof(*current));
                        snprintf(current->version, sizeof(current->version), "%.*s",
                                 (int) strcspn(line + 22, " "), line + 22);
                        n++;
                } else if (current && server->request_cert &&
                           strncmp(line, "selfserv: subject DN: ", 22) == 0) {
                        snprintf(current->subject, sizeof(current->subject), "%s", line + 22);
                } else if (current && sscanf(line, "selfserv: %lu cache hits;", &h) == 1) {
                        current->resumed = h > hits;
                        hits = h;
                }
        }
        free(log);
        return n;
}
