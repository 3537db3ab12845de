/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For the asynchronous attach's tests: tlsidd stopped (SIGSTOP) for a while and continued
 * by a thread of its own, with a flag that the test's poll loop reads meanwhile. */
#pragma once

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "test-bus.h"

typedef struct {
        pid_t pid;
        unsigned ms;
        volatile int *stopped;
        pthread_t thread;
} DaemonPause;

static inline void *daemon_pause_main(void *data) {
        DaemonPause *p = data;

        usleep(p->ms * 1000);
        *p->stopped = 0;
        kill(p->pid, SIGCONT);
        return NULL;
}

/* Stops tlsidd and sets *@stopped; a thread clears it and continues tlsidd after @ms. */
static inline void daemon_pause_start(DaemonPause *p, unsigned ms, volatile int *stopped) {
        *p = (DaemonPause) { .pid = test_bus_daemon_pid(), .ms = ms, .stopped = stopped };
        ck_assert_int_gt(p->pid, 0);
        *stopped = 1;
        ck_assert_int_eq(kill(p->pid, SIGSTOP), 0);
        ck_assert_int_eq(pthread_create(&p->thread, NULL, daemon_pause_main, p), 0);
}

/* Waits until tlsidd was continued. */
static inline void daemon_pause_join(DaemonPause *p) {
        ck_assert_int_eq(pthread_join(p->thread, NULL), 0);
}
