/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HAVE_ASAN: defined when this file is compiled with AddressSanitizer (clang or GCC), for
 * the few checks that cannot hold under it (it owns malloc, and its mlock() is a no-op). */
#pragma once

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(HAVE_ASAN)
#define HAVE_ASAN 1
#endif
