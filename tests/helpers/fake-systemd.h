/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stand-in for the user's systemd on the private test bus: org.freedesktop.systemd1
 * answering what libtlsid asks when it starts tlsid.service itself.
 *
 * It answers Subscribe; StartUnit("tlsid.service", "replace") with a job, followed by that
 * job's JobRemoved signal with the chosen result (any other unit or mode is refused);
 * GetUnit, and Properties.Get on the unit: Result "exit-code", any other property (its
 * ActiveState, SubState) "failed". It starts nothing: for result "done" the bus's own
 * activation is what starts tlsidd. */
#pragma once

#include <sys/types.h>

/* Forks the stand-in, which owns org.freedesktop.systemd1 once this returns. @job_result:
 * the result its start jobs end with, or NULL to refuse StartUnit with
 * org.freedesktop.systemd1.NoSuchUnit. Returns its pid. */
pid_t fake_systemd_start(const char *job_result);
/* Stops the stand-in and waits for it. */
void fake_systemd_stop(pid_t pid);
