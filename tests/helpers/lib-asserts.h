/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Check assertions on libtlsid return values, with the library's error message. */
#pragma once

#include <check.h>
#include <string.h>

#include <tlsid/tlsid.h>

/* @expr returned 0 or a positive value. */
#define ASSERT_OK(expr)                                                                 \
        do {                                                                            \
                int _r = (expr);                                                        \
                ck_assert_msg(_r >= 0, "%s failed: %d (%s): %s", #expr, _r,             \
                              strerror(-_r), tlsid_error_message());                    \
        } while (0)

/* @expr failed with -@err. */
#define ASSERT_ERRNO(expr, err)                                                         \
        do {                                                                            \
                int _r = (expr);                                                        \
                ck_assert_msg(_r == -(err), "%s returned %d (%s), expected %d (%s): %s", \
                              #expr, _r, strerror(-_r), -(err), strerror(err),          \
                              tlsid_error_message());                                   \
        } while (0)
