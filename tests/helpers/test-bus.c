/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A private dbus-daemon with a throwaway home for the integration tests and the benchmark. */
#include "test-bus.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 15000

/* Process layout: the test process forks a keeper, in a process group of its own (Check
 * kills the test's group when a test ends) and a subreaper (it reaps what the bus
 * spawned). The keeper starts dbus-daemon, in another group, and waits for its lifeline
 * pipe to close: test_bus_stop() closes it, and so does the death of the test process,
 * however it dies (failed assertion, timeout). Then the keeper stops the bus and all
 * it spawned, reaps them and removes the temporary directory. */
typedef struct {
        pid_t owner;         /* the process that started the bus; only it cleans up */
        pid_t keeper_pid;
        int lifeline_fd;     /* closing it tells the keeper to clean up */
        pid_t spawned_pid;   /* tlsidd started by test_bus_spawn_daemon(), or 0 */
        char *tmpdir;
        char *home, *state, *config, *runtime;
        char *address;
        char *bus_config;    /* the bus's config: TEST_BUS_CONFIG or one in tmpdir */
        DBusConnection *control; /* NameOwnerChanged watcher used by the fixture */
        bool exit_handler;
} TestBus;

static TestBus bus;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "test-bus: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        /* The keeper notices this process is gone and cleans up. */
        exit(1);
}

char *test_xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                fail("out of memory");
        return s;
}

long long test_bus_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_dir(const char *path) {
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                fail("mkdir %s: %s", path, strerror(errno));
}

static void write_file(const char *path, const char *contents) {
        FILE *f = fopen(path, "we");

        if (!f)
                fail("open %s: %s", path, strerror(errno));
        fputs(contents, f);
        if (fclose(f) != 0)
                fail("write %s: %s", path, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        remove(path);
        return 0;
}

/* Sends @sig to a process that is not our child and waits until it has exited, through
 * a pidfd where the kernel has them. */
static void kill_and_wait_foreign(pid_t pid, int sig, int timeout_ms) {
        int pidfd = -1;

#ifdef SYS_pidfd_open
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
#endif
        if (kill(pid, sig) < 0) {
                if (pidfd >= 0)
                        close(pidfd);
                return;
        }
        if (pidfd >= 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };

                if (poll(&p, 1, timeout_ms) <= 0)
                        fprintf(stderr, "test-bus: process %d did not exit after signal %d\n",
                                (int) pid, sig);
                close(pidfd);
        }
}

static void reap_spawned(int sig) {
        int status;

        if (bus.spawned_pid <= 0)
                return;
        kill(bus.spawned_pid, sig);
        waitpid(bus.spawned_pid, &status, 0);
        bus.spawned_pid = 0;
}

static void free_paths(void) {
        free(bus.tmpdir);
        free(bus.home);
        free(bus.state);
        free(bus.config);
        free(bus.runtime);
        free(bus.address);
        free(bus.bus_config);
        bus.tmpdir = bus.home = bus.state = bus.config = bus.runtime = bus.address = NULL;
        bus.bus_config = NULL;
}

/* The keeper: never returns. */
static void run_keeper(int address_fd, int lifeline_fd) {
        pid_t bus_pid;
        char arg[64], c;
        int fd;

        setpgid(0, 0);
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        /* Nothing of the test's: its copies would keep the test's sockets and pipes open. */
        for (fd = 3; fd < 1024; fd++)
                if (fd != address_fd && fd != lifeline_fd)
                        close(fd);

        bus_pid = fork();
        if (bus_pid < 0)
                _exit(1);
        if (bus_pid == 0) {
                setpgid(0, 0);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGPIPE, SIG_DFL);
                fd = dup(address_fd); /* without O_CLOEXEC */
                snprintf(arg, sizeof(arg), "--print-address=%d", fd);
                execlp("dbus-daemon", "dbus-daemon", "--config-file", bus.bus_config,
                       "--nofork", "--nopidfile", arg, (char *) NULL);
                fprintf(stderr, "test-bus: exec dbus-daemon: %s\n", strerror(errno));
                _exit(127);
        }
        setpgid(bus_pid, bus_pid);
        close(address_fd);

        while (read(lifeline_fd, &c, 1) < 0 && errno == EINTR)
                ;
        /* The bus and whatever it activated that still runs (tlsidd inherits its group);
         * test_bus_stop() has already given tlsidd its SIGTERM. */
        kill(-bus_pid, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
                ;
        nftw(bus.tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        _exit(0);
}

/* Tells the keeper to clean up and waits until it has. */
static void stop_keeper(void) {
        if (bus.keeper_pid <= 0)
                return;
        close(bus.lifeline_fd);
        waitpid(bus.keeper_pid, NULL, 0);
        bus.keeper_pid = 0;
        bus.lifeline_fd = -1;
}

/* When the process exits without test_bus_stop() (fail(), or a failed assertion): the
 * keeper would clean up by itself; waiting for it means nothing outlives the process. */
static void exit_cleanup(void) {
        if (bus.owner != getpid())
                return;
        reap_spawned(SIGKILL);
        stop_keeper();
        free_paths();
        bus.owner = 0;
}

static char *read_address(int fd) {
        char buf[1024];
        size_t len = 0;
        long long deadline = test_bus_now_ms() + START_TIMEOUT_MS;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - test_bus_now_ms();
                ssize_t n;
                char *nl;

                if (left <= 0)
                        fail("dbus-daemon did not print its address");
                if (poll(&p, 1, (int) left) < 0 && errno != EINTR)
                        fail("poll: %s", strerror(errno));
                n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        fail("dbus-daemon exited before printing its address");
                len += (size_t) n;
                buf[len] = '\0';
                nl = strchr(buf, '\n');
                if (nl) {
                        *nl = '\0';
                        return strdup(buf);
                }
                if (len == sizeof(buf) - 1)
                        fail("dbus-daemon printed an overlong address");
        }
}

static DBusConnection *connect_or_fail(void) {
        DBusError error = DBUS_ERROR_INIT;
        DBusConnection *conn;

        conn = dbus_connection_open_private(bus.address, &error);
        if (!conn)
                fail("connect to %s: %s", bus.address, error.message);
        if (!dbus_bus_register(conn, &error))
                fail("register on %s: %s", bus.address, error.message);
        dbus_connection_set_exit_on_disconnect(conn, FALSE);
        return conn;
}

DBusMessage *test_bus_method(const char *name) {
        DBusMessage *m = dbus_message_new_method_call(TEST_BUS_NAME, TEST_BUS_PATH,
                                                      TEST_BUS_INTERFACE, name);

        if (!m)
                fail("out of memory for a %s call", name);
        return m;
}

DBusConnection *test_bus_connect(void) {
        return connect_or_fail();
}

DBusConnection *test_bus_connect_watching(void) {
        DBusConnection *conn = connect_or_fail();
        DBusError error = DBUS_ERROR_INIT;

        dbus_bus_add_match(conn, "type='signal',sender='org.freedesktop.DBus',"
                           "interface='org.freedesktop.DBus',member='NameOwnerChanged'",
                           &error);
        if (dbus_error_is_set(&error))
                fail("AddMatch: %s", error.message);
        return conn;
}

void test_bus_disconnect(DBusConnection *conn) {
        if (!conn)
                return;
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
}

bool test_bus_wait_owner_change(DBusConnection *conn, const char *name, bool gone,
                                int timeout_ms) {
        long long deadline = test_bus_now_ms() + timeout_ms;

        for (;;) {
                DBusMessage *m;
                long long left;

                while ((m = dbus_connection_pop_message(conn))) {
                        const char *n, *old_owner, *new_owner;
                        bool match = false;

                        if (dbus_message_is_signal(m, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
                            dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &n,
                                                  DBUS_TYPE_STRING, &old_owner,
                                                  DBUS_TYPE_STRING, &new_owner,
                                                  DBUS_TYPE_INVALID))
                                match = (!name || strcmp(n, name) == 0) &&
                                        (gone == (new_owner[0] == '\0'));
                        dbus_message_unref(m);
                        if (match)
                                return true;
                }
                left = deadline - test_bus_now_ms();
                if (left <= 0)
                        return false;
                if (!dbus_connection_read_write(conn, (int) left))
                        return false;
        }
}

/* TEST_BUS_CONFIG's contents (transfer full). */
static char *read_bus_config(void) {
        char *contents = NULL;
        size_t len = 0;
        FILE *f;

        f = fopen(TEST_BUS_CONFIG, "re");
        if (!f || getdelim(&contents, &len, '\0', f) < 0)
                fail("read %s: %s", TEST_BUS_CONFIG, strerror(errno));
        fclose(f);
        return contents;
}

/* @config (transfer full) with the text between @open_tag and the next @close_tag
 * replaced by @value (transfer full). */
static char *config_replace(char *config, const char *open_tag, const char *close_tag,
                            char *value) {
        char *start = strstr(config, open_tag), *end, *result;

        end = start ? strstr(start, close_tag) : NULL;
        if (!end)
                fail("%s has no %s...%s", TEST_BUS_CONFIG, open_tag, close_tag);
        result = test_xasprintf("%.*s%s%s", (int) (start - config + strlen(open_tag)), config,
                                value, end);
        free(config);
        free(value);
        return result;
}

/* A service directory in the temporary directory whose activation file runs @exec, used
 * by @config (transfer full, returned). */
static char *make_activation_of(const char *exec, char *config) {
        char *dir = test_xasprintf("%s/services", bus.tmpdir);
        char *service = test_xasprintf("%s/" TEST_BUS_NAME ".service", dir);
        char *contents = test_xasprintf("[D-BUS Service]\nName=" TEST_BUS_NAME "\nExec=%s\n",
                                        exec);

        make_dir(dir);
        write_file(service, contents);
        config = config_replace(config, "<servicedir>", "</servicedir>", dir);
        free(contents);
        free(service);
        return config;
}

/* The bus's config: TEST_BUS_CONFIG itself, or a copy in the temporary directory that
 * activates @exec (nullable) or has a max_message_size of @max_message_size (0: as it
 * is). */
static void make_bus_config(const char *exec, long max_message_size) {
        char *config;

        if (!exec && max_message_size <= 0) {
                bus.bus_config = strdup(TEST_BUS_CONFIG);
                return;
        }
        config = read_bus_config();
        if (exec)
                config = make_activation_of(exec, config);
        if (max_message_size > 0)
                config = config_replace(config, "<limit name=\"max_message_size\">", "</limit>",
                                        test_xasprintf("%ld", max_message_size));
        bus.bus_config = test_xasprintf("%s/bus.conf", bus.tmpdir);
        write_file(bus.bus_config, config);
        free(config);
}

static void start_bus(const char *exec, long max_message_size) {
        char template[] = "/tmp/tlsid-test-XXXXXX";
        int fds[2], lifeline[2];
        pid_t pid;

        if (bus.owner == getpid())
                fail("test_bus_start() called twice");
        if (!mkdtemp(template))
                fail("mkdtemp: %s", strerror(errno));
        bus.owner = getpid();
        bus.tmpdir = strdup(template);
        if (!bus.exit_handler) {
                atexit(exit_cleanup);
                bus.exit_handler = true;
        }
        bus.home = test_xasprintf("%s/home", bus.tmpdir);
        bus.state = test_xasprintf("%s/state", bus.tmpdir);
        bus.config = test_xasprintf("%s/config", bus.tmpdir);
        bus.runtime = test_xasprintf("%s/runtime", bus.tmpdir);
        make_dir(bus.home);
        make_dir(bus.state);
        make_dir(bus.config);
        make_dir(bus.runtime);
        make_bus_config(exec, max_message_size);
        /* Set before the bus starts: activated services inherit the bus's environment. */
        setenv("HOME", bus.home, 1);
        setenv("XDG_STATE_HOME", bus.state, 1);
        setenv("XDG_CONFIG_HOME", bus.config, 1);
        setenv("XDG_RUNTIME_DIR", bus.runtime, 1);
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        unsetenv("DBUS_STARTER_ADDRESS");
        unsetenv("DBUS_STARTER_BUS_TYPE");

        if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(lifeline, O_CLOEXEC) < 0)
                fail("pipe: %s", strerror(errno));
        pid = fork();
        if (pid < 0)
                fail("fork: %s", strerror(errno));
        if (pid == 0) {
                close(fds[0]);
                close(lifeline[1]);
                run_keeper(fds[1], lifeline[0]);
        }
        bus.keeper_pid = pid;
        bus.lifeline_fd = lifeline[1];
        close(lifeline[0]);
        close(fds[1]);
        bus.address = read_address(fds[0]);
        close(fds[0]);
        setenv("DBUS_SESSION_BUS_ADDRESS", bus.address, 1);
        bus.control = connect_or_fail();
        {
                DBusError error = DBUS_ERROR_INIT;

                dbus_bus_add_match(bus.control, "type='signal',sender='org.freedesktop.DBus',"
                                   "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                   "arg0='" TEST_BUS_NAME "'", &error);
                if (dbus_error_is_set(&error))
                        fail("AddMatch: %s", error.message);
        }
}

void test_bus_start(void) {
        start_bus(NULL, 0);
}

void test_bus_start_with_exec(const char *exec) {
        start_bus(exec, 0);
}

void test_bus_start_with_max_message_size(long bytes) {
        if (bytes <= 0)
                fail("max_message_size %ld: must be positive", bytes);
        start_bus(NULL, bytes);
}

void test_bus_stop(void) {
        if (bus.owner != getpid())
                return;
        if (bus.control) {
                /* Gently first: tlsidd saves its state on SIGTERM. */
                if (test_bus_daemon_pid() > 0)
                        test_bus_kill_daemon(SIGTERM);
                test_bus_disconnect(bus.control);
                bus.control = NULL;
        }
        reap_spawned(SIGTERM);
        stop_keeper();
        free_paths();
        bus.owner = 0;
}

const char *test_bus_address(void) {
        return bus.address;
}

const char *test_bus_tmpdir(void) {
        return bus.tmpdir;
}

const char *test_bus_home_dir(void) {
        return bus.home;
}

const char *test_bus_state_dir(void) {
        return bus.state;
}

const char *test_bus_config_dir(void) {
        return bus.config;
}

const char *test_bus_runtime_dir(void) {
        return bus.runtime;
}

const char *test_bus_tlsidd_path(void) {
        return TEST_TLSIDD_PATH;
}

void test_bus_write_daemon_config(const char *contents) {
        char *dir = test_xasprintf("%s/tlsid", bus.config);
        char *path = test_xasprintf("%s/tlsidd.conf", dir);

        make_dir(dir);
        write_file(path, contents);
        free(path);
        free(dir);
}

void test_bus_write_state_file(const char *contents) {
        char *dir = test_xasprintf("%s/tlsid", bus.state);
        char *path = test_xasprintf("%s/choices", dir);

        make_dir(dir);
        write_file(path, contents);
        chmod(path, 0600);
        free(path);
        free(dir);
}

static char *name_owner(void) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *call, *reply;
        const char *name = TEST_BUS_NAME, *owner;
        char *result = NULL;

        call = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
                                            DBUS_INTERFACE_DBUS, "GetNameOwner");
        dbus_message_append_args(call, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        reply = dbus_connection_send_with_reply_and_block(bus.control, call, 10000, &error);
        dbus_message_unref(call);
        if (!reply) {
                if (!dbus_error_has_name(&error, DBUS_ERROR_NAME_HAS_NO_OWNER))
                        fail("GetNameOwner: %s", error.message);
                dbus_error_free(&error);
                return NULL;
        }
        if (dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &owner, DBUS_TYPE_INVALID))
                result = strdup(owner);
        dbus_message_unref(reply);
        return result;
}

pid_t test_bus_daemon_pid(void) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *call, *reply;
        char *owner = name_owner();
        dbus_uint32_t pid = 0;
        const char *o = owner;

        if (!owner)
                return 0;
        call = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
                                            DBUS_INTERFACE_DBUS,
                                            "GetConnectionUnixProcessID");
        dbus_message_append_args(call, DBUS_TYPE_STRING, &o, DBUS_TYPE_INVALID);
        reply = dbus_connection_send_with_reply_and_block(bus.control, call, 10000, &error);
        dbus_message_unref(call);
        free(owner);
        if (!reply) {
                /* It went away between the two calls. */
                dbus_error_free(&error);
                return 0;
        }
        dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &pid, DBUS_TYPE_INVALID);
        dbus_message_unref(reply);
        return (pid_t) pid;
}

void test_bus_activate_daemon(void) {
        DBusError error = DBUS_ERROR_INIT;
        DBusMessage *call, *reply;
        const char *name = TEST_BUS_NAME;
        dbus_uint32_t flags = 0;

        call = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
                                            DBUS_INTERFACE_DBUS, "StartServiceByName");
        dbus_message_append_args(call, DBUS_TYPE_STRING, &name, DBUS_TYPE_UINT32, &flags,
                                 DBUS_TYPE_INVALID);
        /* The reply comes once the service owns its name. */
        reply = dbus_connection_send_with_reply_and_block(bus.control, call, START_TIMEOUT_MS,
                                                          &error);
        dbus_message_unref(call);
        if (!reply)
                fail("StartServiceByName(%s): %s", name, error.message);
        dbus_message_unref(reply);
}

bool test_bus_kill_daemon(int sig) {
        pid_t pid;

        /* Drop stale NameOwnerChanged signals, so the wait below sees this exit. */
        while (dbus_connection_read_write(bus.control, 0)) {
                DBusMessage *m = dbus_connection_pop_message(bus.control);

                if (!m)
                        break;
                dbus_message_unref(m);
        }
        pid = test_bus_daemon_pid();
        if (pid <= 0)
                return false;
        if (pid == bus.spawned_pid) {
                int status;

                kill(pid, sig);
                waitpid(pid, &status, 0);
                bus.spawned_pid = 0;
        } else {
                kill_and_wait_foreign(pid, sig, STOP_TIMEOUT_MS);
        }
        if (!test_bus_wait_owner_change(bus.control, TEST_BUS_NAME, true, STOP_TIMEOUT_MS))
                fail("%s was not released after signal %d", TEST_BUS_NAME, sig);
        return true;
}

void test_bus_restart_daemon(void) {
        test_bus_kill_daemon(SIGTERM);
        test_bus_activate_daemon();
}

pid_t test_bus_spawn_daemon(void) {
        return test_bus_spawn_daemon_as((uid_t) -1, (gid_t) -1);
}

pid_t test_bus_spawn_daemon_as(uid_t uid, gid_t gid) {
        pid_t pid;

        if (bus.spawned_pid > 0)
                fail("tlsidd was already spawned");
        pid = fork();
        if (pid < 0)
                fail("fork: %s", strerror(errno));
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (uid != (uid_t) -1 &&
                    (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
                     setresuid(uid, uid, uid) < 0)) {
                        fprintf(stderr, "test-bus: cannot become uid %lu: %s\n",
                                (unsigned long) uid, strerror(errno));
                        _exit(127);
                }
                execl(TEST_TLSIDD_PATH, "tlsidd", "--bus-address", bus.address, (char *) NULL);
                fprintf(stderr, "test-bus: exec %s: %s\n", TEST_TLSIDD_PATH, strerror(errno));
                _exit(127);
        }
        bus.spawned_pid = pid;
        if (!test_bus_wait_owner_change(bus.control, TEST_BUS_NAME, false, START_TIMEOUT_MS))
                fail("spawned tlsidd did not take %s", TEST_BUS_NAME);
        return pid;
}

int test_bus_stop_spawned_daemon(int sig) {
        int status = 0;

        if (bus.spawned_pid <= 0)
                fail("no spawned tlsidd to stop");
        kill(bus.spawned_pid, sig);
        if (waitpid(bus.spawned_pid, &status, 0) < 0)
                fail("waitpid: %s", strerror(errno));
        bus.spawned_pid = 0;
        if (!test_bus_wait_owner_change(bus.control, TEST_BUS_NAME, true, STOP_TIMEOUT_MS))
                fail("%s was not released after signal %d", TEST_BUS_NAME, sig);
        return status;
}
