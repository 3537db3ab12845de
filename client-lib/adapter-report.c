/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The adapters' outage report (libtlsid-nss's and libtlsid-openssl's): one message when
 * the daemon becomes unreachable, one when it answers again, whichever thread notices. */
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter-private.h"

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static AdapterReportFn report_fn;      /* under report_lock; NULL: stderr */
static void *report_userdata;           /* under report_lock */
static bool outage;                     /* under report_lock */

static void report(AdapterReportFn fn, void *userdata, const char *message) {
        if (fn)
                fn(message, userdata);
        else
                fprintf(stderr, "%s: %s\n", adapter_name, message);
}

/* The callback runs outside the lock so that it may call back into the library. */
void note_unreachable(int r) {
        AdapterReportFn fn;
        void *userdata;
        char message[640];
        bool first;

        pthread_mutex_lock(&report_lock);
        first = !outage;
        outage = true;
        fn = report_fn;
        userdata = report_userdata;
        pthread_mutex_unlock(&report_lock);
        if (!first)
                return;
        snprintf(message, sizeof message,
                 "cannot use tlsidd (%s): TLS connections go on without resumption and "
                 "without client certificates",
                 *tlsid_error_message() ? tlsid_error_message() : strerror(-r));
        report(fn, userdata, message);
}

void note_reachable(void) {
        AdapterReportFn fn;
        void *userdata;
        bool was_out;

        pthread_mutex_lock(&report_lock);
        was_out = outage;
        outage = false;
        fn = report_fn;
        userdata = report_userdata;
        pthread_mutex_unlock(&report_lock);
        if (was_out)
                report(fn, userdata, "tlsidd is reachable again");
}

void report_set_function(AdapterReportFn fn, void *userdata) {
        pthread_mutex_lock(&report_lock);
        report_fn = fn;
        report_userdata = userdata;
        pthread_mutex_unlock(&report_lock);
}
