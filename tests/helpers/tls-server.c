/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real TLS servers on loopback for the end-to-end tests: nginx, NSS selfserv, Apache. */
#include "tls-server.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
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
#define MAX_CHILDREN 16

typedef enum { NGINX, SELFSERV, APACHE } ServerKind;

/* A process, told from a later one with the same pid by its start time. */
typedef struct {
        pid_t pid;
        unsigned long long start_time;
} Process;

struct TlsServer {
        ServerKind kind;
        pid_t pid;
        bool request_cert;
        uint16_t port, noask_port, require_port; /* the last two: nginx only */
        char port_arg[8];  /* @port as text, for argv */
        char *dir;
        char *log_path;    /* what tls_server_log_path() returns */
        char *error_log;   /* where the server's own output and start-up errors go */
        char *docroot;     /* Apache's world-readable page directory (removed at stop) */
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

/* Reads /proc/@pid/stat: its parent and start time. False when there is no such process
 * or it is a zombie (gone, only not reaped yet). */
static bool process_stat(pid_t pid, pid_t *ret_ppid, unsigned long long *ret_start_time) {
        char path[64], buf[1024], state;
        const char *p;
        int ppid, fd;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        /* "pid (comm) state ppid ..."; comm may hold spaces and parentheses. The start
         * time is the 22nd field, the 20th after the state. */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
                return false;
        for (int field = 0; field < 20 && p; field++)
                p = strchr(p + 1, ' ');
        if (!p || sscanf(p, " %llu", ret_start_time) != 1)
                return false;
        *ret_ppid = ppid;
        return true;
}

/* The live children of @parent, into @ret (up to MAX_CHILDREN). Returns how many. */
static size_t children_of(pid_t parent, Process *ret) {
        DIR *proc = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        /* Also called from the exit handler: no assertions. */
        if (!proc)
                return 0;
        while ((de = readdir(proc)) && n < MAX_CHILDREN) {
                pid_t pid = (pid_t) atoi(de->d_name), ppid;
                unsigned long long start_time;

                if (pid > 0 && process_stat(pid, &ppid, &start_time) && ppid == parent)
                        ret[n++] = (Process) { pid, start_time };
        }
        closedir(proc);
        return n;
}

static bool process_alive(const Process *p) {
        pid_t ppid;
        unsigned long long start_time;

        return process_stat(p->pid, &ppid, &start_time) && start_time == p->start_time;
}

/* Removes Apache's page directory (the only files the servers keep outside @dir). */
static void remove_docroot(TlsServer *server) {
        char *page;

        if (!server->docroot)
                return;
        page = test_xasprintf("%s/echo.shtml", server->docroot);
        unlink(page);
        rmdir(server->docroot);
        free(page);
        free(server->docroot);
        server->docroot = NULL;
}

static void kill_running(void) {
        if (running_owner != getpid())
                return;
        for (size_t i = 0; i < MAX_SERVERS; i++) {
                Process children[MAX_CHILDREN];
                size_t n;

                if (!running[i])
                        continue;
                /* Apache's children do not die with their parent: kill them by pid too. */
                n = children_of(running[i]->pid, children);
                kill(running[i]->pid, SIGKILL);
                for (size_t k = 0; k < n; k++)
                        if (process_alive(&children[k]))
                                kill(children[k].pid, SIGKILL);
                waitpid(running[i]->pid, NULL, 0);
                remove_docroot(running[i]);
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

/* Sets @server's port (and its text) to a free one. */
static void pick_port(TlsServer *server) {
        server->port = free_port();
        snprintf(server->port_arg, sizeof(server->port_arg), "%u", server->port);
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
                    (!server->noask_port || port_accepts(server->noask_port)) &&
                    (!server->require_port || port_accepts(server->require_port)))
                        return READY;
                if (now_ms() > deadline) {
                        char *log = read_file(server->error_log);

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

/* Runs @argv until it accepts connections: each attempt, @configure picks the ports (and
 * writes what @argv reads); an attempt whose port another process took in the meantime is
 * retried. Aborts the test when @what cannot start. */
static void server_run(TlsServer *server, const char *what, char *const argv[],
                       void (*configure)(TlsServer *server, void *userdata), void *userdata) {
        for (int attempt = 1;; attempt++) {
                configure(server, userdata);
                unlink(server->error_log);
                server->pid = spawn(argv, server->error_log);
                track(server);
                if (wait_ready(server, what) == READY)
                        return;
                untrack(server);
                if (attempt == START_ATTEMPTS || !log_says_port_taken(server->error_log)) {
                        char *log = read_file(server->error_log);

                        remove_docroot(server);
                        ck_abort_msg("%s exited at start; its log:\n%s", what, log);
                }
        }
}

/* Fills in the template @template_path into @out_path: @pairs is a NULL-ended list of
 * placeholder, value, placeholder, value... */
static void write_config(const char *template_path, const char *out_path,
                         const char *const *pairs) {
        char *conf = read_file(template_path);

        ck_assert_msg(conf[0] != '\0', "cannot read %s", template_path);
        for (; pairs[0]; pairs += 2)
                conf = replace_all(conf, pairs[0], pairs[1]);
        write_file(out_path, conf);
        free(conf);
}

/* The path of server program @name, or an abort naming @package to install. */
static char *require_program(const char *name, const char *where, const char *package) {
        char *path = find_program(name);

        ck_assert_msg(path != NULL, "%s not found in %s: install the %s package "
                      "(apt-get install %s)", name, where, package, package);
        return path;
}

static TlsServer *server_new(const char *dir, ServerKind kind) {
        static const char *const error_logs[] = {
                [NGINX] = "error.log", [SELFSERV] = "selfserv.log", [APACHE] = "error.log",
        };
        TlsServer *server = calloc(1, sizeof(*server));

        ck_assert_msg(server != NULL, "out of memory");
        ck_assert_msg(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", dir,
                      strerror(errno));
        server->dir = strdup(dir);
        server->kind = kind;
        server->error_log = test_xasprintf("%s/%s", dir, error_logs[kind]);
        server->log_path = kind == APACHE ? test_xasprintf("%s/access.log", dir)
                                          : strdup(server->error_log);
        return server;
}

static void server_free(TlsServer *server) {
        remove_docroot(server);
        free(server->dir);
        free(server->log_path);
        free(server->error_log);
        free(server);
}

typedef struct {
        const char *certs_dir;
        const char *conf_path;
        TlsVersion version;
        bool session_cache;
} ConfigArgs;

static void configure_nginx(TlsServer *server, void *userdata) {
        const ConfigArgs *a = userdata;
        char noask[8];

        char require[8];

        pick_port(server);
        do
                server->noask_port = free_port();
        while (server->noask_port == server->port);
        do
                server->require_port = free_port();
        while (server->require_port == server->port || server->require_port == server->noask_port);
        snprintf(noask, sizeof(noask), "%u", server->noask_port);
        snprintf(require, sizeof(require), "%u", server->require_port);
        write_config(TLS_SERVER_NGINX_CONF_IN, a->conf_path, (const char *const[]) {
                "@DIR@", server->dir, "@CERTS@", a->certs_dir, "@PORT@", server->port_arg,
                "@NOASK_PORT@", noask, "@REQUIRE_PORT@", require,
                "@PROTOCOLS@", tls_version_name(a->version), NULL,
        });
}

TlsServer *tls_server_start_nginx(const char *certs_dir, const char *dir, TlsVersion version) {
        TlsServer *server = server_new(dir, NGINX);
        char *nginx = require_program("nginx", "$PATH or /usr/sbin", "nginx");
        char *conf_path = test_xasprintf("%s/nginx.conf", dir);
        char *prefix = test_xasprintf("%s/", dir);
        ConfigArgs args = { .certs_dir = certs_dir, .conf_path = conf_path, .version = version };
        char *argv[] = { nginx, "-p", prefix, "-c", conf_path, "-e", server->error_log, NULL };

        server_run(server, "nginx", argv, configure_nginx, &args);
        free(prefix);
        free(conf_path);
        free(nginx);
        return server;
}

static void configure_selfserv(TlsServer *server, void *userdata) {
        (void) userdata;
        pick_port(server);
}

TlsServer *tls_server_start_selfserv(const char *certs_dir, const char *dir, TlsVersion version,
                                     bool request_cert) {
        TlsServer *server = server_new(dir, SELFSERV);
        char *selfserv = require_program("selfserv", "$PATH or the NSS tools directories",
                                         "libnss3-tools");
        char *db = test_xasprintf("sql:%s/server-db", certs_dir);
        const char *range = version == TLS_VERSION_1_3 ? "tls1.3:tls1.3" : "tls1.2:tls1.2";
        /* -v prints the session cache counters for each connection (how the log tells a
         * resumption), -u enables session tickets (which TLS 1.2 needs for NSS clients to
         * export resumption tokens). */
        char *argv[] = { selfserv, "-d", db, "-n", "server", "-p", server->port_arg, "-V",
                         (char *) range, "-v", "-u", request_cert ? "-r" : NULL, NULL };

        server->request_cert = request_cert;
        server_run(server, "selfserv", argv, configure_selfserv, NULL);
        free(db);
        free(selfserv);
        return server;
}

static void configure_apache(TlsServer *server, void *userdata) {
        const ConfigArgs *a = userdata;
        char *cache = test_xasprintf("shmcb:%s/ssl-session-cache(512000)", server->dir);

        pick_port(server);
        write_config(TLS_SERVER_APACHE_CONF_IN, a->conf_path, (const char *const[]) {
                "@DIR@", server->dir, "@DOCROOT@", server->docroot, "@CERTS@", a->certs_dir,
                "@PORT@", server->port_arg, "@PROTOCOL@", tls_version_name(a->version),
                "@SESSION_CACHE@", a->session_cache ? cache : "none",
                "@SESSION_TICKETS@", a->session_cache ? "on" : "off", NULL,
        });
        free(cache);
}

TlsServer *tls_server_start_apache(const char *certs_dir, const char *dir, TlsVersion version,
                                   bool session_cache) {
        TlsServer *server = server_new(dir, APACHE);
        char *apache = require_program("apache2", "$PATH or /usr/sbin", "apache2");
        char *conf_path = test_xasprintf("%s/apache.conf", dir);
        ConfigArgs args = { .certs_dir = certs_dir, .conf_path = conf_path, .version = version,
                            .session_cache = session_cache };
        char *argv[] = { apache, "-f", conf_path, "-DFOREGROUND", NULL };
        char *page, *echo = read_file(TLS_SERVER_APACHE_ECHO);

        /* Run as root, Apache serves as www-data, who cannot enter @dir (private to the
         * test's user): the page goes where everyone may read it, /tmp rather than $TMPDIR
         * (which may be private too). */
        ck_assert_msg(echo[0] != '\0', "cannot read %s", TLS_SERVER_APACHE_ECHO);
        server->docroot = strdup("/tmp/tlsid-apache-XXXXXX");
        ck_assert_msg(mkdtemp(server->docroot) != NULL, "mkdtemp: %s", strerror(errno));
        ck_assert_msg(chmod(server->docroot, 0755) == 0, "chmod %s: %s", server->docroot,
                      strerror(errno));
        page = test_xasprintf("%s/echo.shtml", server->docroot);
        write_file(page, echo);
        ck_assert_msg(chmod(page, 0644) == 0, "chmod %s: %s", page, strerror(errno));
        server_run(server, "apache2", argv, configure_apache, &args);
        free(page);
        free(echo);
        free(conf_path);
        free(apache);
        return server;
}

/* Waits up to STOP_TIMEOUT_MS for @server's process to exit, then kills it. */
static void wait_exit(TlsServer *server) {
        long long deadline = now_ms() + STOP_TIMEOUT_MS;
        int status;

        while (waitpid(server->pid, &status, WNOHANG) == 0) {
                if (now_ms() > deadline) {
                        kill(server->pid, SIGKILL);
                        waitpid(server->pid, &status, 0);
                        break;
                }
                poll(NULL, 0, 10);
        }
}

void tls_server_stop(TlsServer *server) {
        Process children[MAX_CHILDREN];
        size_t n = 0;

        if (!server)
                return;
        untrack(server);
        if (server->pid > 0) {
                /* Apache's parent stops its children; check that it did. */
                n = children_of(server->pid, children);
                kill(server->pid, SIGTERM);
                wait_exit(server);
        }
        for (size_t k = 0; k < n; k++) {
                long long deadline = now_ms() + STOP_TIMEOUT_MS;

                while (process_alive(&children[k])) {
                        if (now_ms() > deadline) {
                                kill(children[k].pid, SIGKILL);
                                ck_abort_msg("child %d of the server outlived it by %d ms",
                                             (int) children[k].pid, STOP_TIMEOUT_MS);
                        }
                        /* Reparented: not ours to wait for. */
                        poll(NULL, 0, 10);
                }
        }
        server_free(server);
}

uint16_t tls_server_port(const TlsServer *server) {
        return server->port;
}

uint16_t tls_server_require_port(const TlsServer *server) {
        return server->require_port;
}

uint16_t tls_server_noask_port(const TlsServer *server) {
        return server->noask_port;
}

const char *tls_server_log_path(const TlsServer *server) {
        return server->log_path;
}

const char *tls_server_error_log_path(const TlsServer *server) {
        return server->error_log;
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

        ck_assert_msg(server->kind == SELFSERV, "not a selfserv server");
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

/* Copies @len bytes of @src into @dst (of @size), or "" when they are Apache's "-". */
static void copy_field(char *dst, size_t size, const char *src, size_t len) {
        if (len == 1 && src[0] == '-')
                len = 0;
        ck_assert_msg(len < size, "log field too long: '%.*s'", (int) len, src);
        memcpy(dst, src, len);
        dst[len] = '\0';
}

/* The access log format of apache.conf.in: "conn=PORT request=ID status=N protocol=P
 * resumed=Initial|Resumed verify=V dn=SUBJECT REQUEST-LINE", tab-separated, "-" for a
 * value Apache did not have. A line that does not parse fails the test, so a change of
 * format cannot pass silently. */
size_t tls_server_apache_requests(const TlsServer *server, TlsServerRequest *ret, size_t max) {
        char *log = read_file(server->log_path);
        char *save = NULL;
        size_t n = 0;

        ck_assert_msg(server->kind == APACHE, "not an Apache server");
        for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                TlsServerRequest scratch, *r = n < max ? &ret[n] : &scratch;
                char status[8], resumed[16], request_line[512];
                const struct {
                        const char *key;
                        char *value;
                        size_t size;
                } fields[] = {
                        { "conn=", r->connection, sizeof(r->connection) },
                        { "request=", r->request, sizeof(r->request) },
                        { "status=", status, sizeof(status) },
                        { "protocol=", r->protocol, sizeof(r->protocol) },
                        { "resumed=", resumed, sizeof(resumed) },
                        { "verify=", r->verify, sizeof(r->verify) },
                        { "dn=", r->subject, sizeof(r->subject) },
                        { "", request_line, sizeof(request_line) },
                };
                const char *field = line, *path;

                memset(r, 0, sizeof(*r));
                for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
                        size_t key_len = strlen(fields[k].key), len;

                        ck_assert_msg(field && strncmp(field, fields[k].key, key_len) == 0,
                                      "unexpected Apache log line: '%s'", line);
                        field += key_len;
                        len = strcspn(field, "\t");
                        copy_field(fields[k].value, fields[k].size, field, len);
                        field = field[len] == '\t' ? field + len + 1 : NULL;
                }
                ck_assert_msg(!field && sscanf(status, "%d", &r->status) == 1 &&
                              (strcmp(resumed, "Initial") == 0 ||
                               strcmp(resumed, "Resumed") == 0 || resumed[0] == '\0'),
                              "unexpected Apache log line: '%s'", line);
                r->resumed = strcmp(resumed, "Resumed") == 0;
                /* "METHOD PATH VERSION": the path is the second word. */
                path = strchr(request_line, ' ');
                if (path)
                        copy_field(r->path, sizeof(r->path), path + 1, strcspn(path + 1, " "));
                n++;
        }
        free(log);
        return n;
}

/* nginx.conf.in's echo line, also the first line of Apache's page: "dn=SUBJECT reused=R
 * protocol=P", R "r" (resumed) or ".". The subject may hold spaces, so the other fields
 * are found from the end. */
size_t tls_server_parse_echoes(const char *body, TlsServerEcho *ret, size_t max) {
        size_t n = 0;

        for (const char *line = body; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);
                char *copy = strndup(line, len), *reused, *protocol = NULL;
                TlsServerEcho scratch, *e = n < max ? &ret[n] : &scratch;

                ck_assert_msg(copy != NULL, "out of memory");
                line = end ? end + 1 : NULL;
                if (strncmp(copy, "dn=", 3) != 0) {
                        free(copy);
                        continue;
                }
                for (char *p = copy; (p = strstr(p, " protocol=")); p++)
                        protocol = p;
                reused = protocol && protocol - copy >= 12 ? protocol - 9 : NULL;
                ck_assert_msg(reused && strncmp(reused, " reused=", 8) == 0 &&
                              (reused[8] == 'r' || reused[8] == '.'),
                              "unexpected echo line: '%s'", copy);
                memset(e, 0, sizeof(*e));
                copy_field(e->subject, sizeof(e->subject), copy + 3, (size_t) (reused - copy - 3));
                e->resumed = reused[8] == 'r';
                copy_field(e->protocol, sizeof(e->protocol), protocol + 10, strlen(protocol + 10));
                free(copy);
                n++;
        }
        return n;
}

size_t tls_server_apache_requests_wait(const TlsServer *server, TlsServerRequest *ret,
                                       size_t max, size_t want) {
        /* Polled: nothing tells when Apache has written its log line. */
        for (int waited_ms = 0;; waited_ms += 10) {
                size_t n = tls_server_apache_requests(server, ret, max);

                if (n >= want || waited_ms >= 10000)
                        return n;
                usleep(10 * 1000);
        }
}
