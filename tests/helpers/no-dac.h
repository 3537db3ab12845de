/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unreadable files and read-only directories in tests that run as root: without
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, root meets file modes as any owner does.
 * Header-only (libc and the kernel's headers). */
#pragma once

#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NO_DAC_BITS ((UINT32_C(1) << CAP_DAC_OVERRIDE) | (UINT32_C(1) << CAP_DAC_READ_SEARCH))

/* Clears the two capabilities from this process's @effective and/or @inheritable set. */
static inline bool no_dac_capset(bool effective, bool inheritable) {
        struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2];

        if (syscall(SYS_capget, &header, data) < 0)
                return false;
        if (effective)
                data[0].effective &= ~NO_DAC_BITS;
        if (inheritable)
                data[0].inheritable &= ~NO_DAC_BITS;
        return syscall(SYS_capset, &header, data) == 0;
}

/* File modes apply to this process from now on (for a test running in a child of its
 * own). True at once for a user other than root; false when they cannot be made to
 * apply (the test should then say it skips). */
static inline bool no_dac_override_here(void) {
        return geteuid() != 0 || no_dac_capset(true, false);
}

/* File modes apply to every program this process starts from now on (the test bus, and
 * the tlsidd it activates), while this process keeps its capabilities: dropped from the
 * bounding and inheritable sets, which a program started by root gets its own from. */
static inline bool no_dac_override_for_children(void) {
        if (geteuid() != 0)
                return true;
        return prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) == 0 &&
               prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) == 0 &&
               no_dac_capset(false, true);
}
