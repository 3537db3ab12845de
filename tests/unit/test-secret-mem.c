/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the secret memory allocator (daemon/model/secret-mem.c). */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "asan.h"
#include "check-main.h"
#include "secret-mem.h"
#include "zeroed-hook.h"

static void setup(void) {
        zeroed_hook_install();
}

static void teardown(void) {
        zeroed_hook_remove();
}

static SecretMemStatistics statistics(void) {
        SecretMemStatistics s;

        secret_mem_get_statistics(&s);
        return s;
}

/* The VmFlags line of the mapping of /proc/self/smaps holding @p (transfer full), or
 * NULL. */
static char *vm_flags_of(const void *p) {
        FILE *f = fopen("/proc/self/smaps", "re");
        char line[512];
        gboolean inside = FALSE;
        char *flags = NULL;

        ck_assert_ptr_nonnull(f);
        while (!flags && fgets(line, sizeof line, f)) {
                unsigned long lo, hi;

                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
                        inside = (guintptr) p >= lo && (guintptr) p < hi;
                else if (inside && g_str_has_prefix(line, "VmFlags:"))
                        flags = g_strdup(line);
        }
        fclose(f);
        return flags;
}

START_TEST(test_secret_mem_chunks) {
        guint8 *a = secret_mem_alloc(1024), *b = secret_mem_alloc(1025);
        guint8 *c = secret_mem_alloc(SECRET_MEM_MAX);

        ck_assert_uint_eq(secret_mem_chunk_size(1), 16);
        ck_assert_uint_eq(secret_mem_chunk_size(1024), 1024);
        ck_assert_uint_eq(secret_mem_chunk_size(1025), 1280);
        ck_assert_uint_eq(secret_mem_chunk_size(SECRET_MEM_MAX), SECRET_MEM_MAX);
        ck_assert_uint_eq(statistics().in_use, 1024 + 1280 + SECRET_MEM_MAX);
        for (gsize i = 0; i < 1024; i++)
                ck_assert_uint_eq(a[i], 0);
        memset(a, 0xa5, 1024);
        memset(b, 0xa5, 1025);
        memset(c, 0xa5, SECRET_MEM_MAX);
        secret_mem_free(a);
        secret_mem_free(b);
        secret_mem_free(c);
        secret_mem_free(NULL);
        ck_assert_uint_eq(zeroed_count, 3);
        ck_assert(zeroed_all_zero);
        ck_assert_uint_eq(statistics().in_use, 0);
        /* A chunk handed out again holds nothing of its last use. */
        a = secret_mem_alloc(1000);
        for (gsize i = 0; i < 1000; i++)
                ck_assert_uint_eq(a[i], 0);
        secret_mem_free(a);
}
END_TEST

/* Powers of two up to 256 bytes, four sizes per doubling above: no chunk past 256 bytes
 * wastes more than a fifth of its request, and each size is 16-byte aligned. */
START_TEST(test_secret_mem_sizes) {
        static const gsize expected[][2] = {
                { 16, 16 },     { 17, 32 },     { 200, 256 },   { 256, 256 },
                { 257, 320 },   { 321, 384 },   { 449, 512 },   { 513, 640 },
                { 1100, 1280 }, { 1281, 1536 }, { 1537, 1792 }, { 1793, 2048 },
                { 2049, 2560 }, { 40000, 40960 }, { 57345, 65536 },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(expected); i++)
                ck_assert_uint_eq(secret_mem_chunk_size(expected[i][0]), expected[i][1]);
        for (gsize len = 257; len <= SECRET_MEM_MAX; len += 7) {
                gsize size = secret_mem_chunk_size(len);

                ck_assert_uint_ge(size, len);
                ck_assert_uint_eq(size % 16, 0);
                ck_assert_msg(size * 4 <= len * 5, "%zu bytes take %zu", len, size);
        }
        /* Every size allocates, each chunk within its arena and zeroed. */
        for (gsize len = 300; len <= SECRET_MEM_MAX; len = len * 5 / 4) {
                guint8 *p = secret_mem_alloc(len);

                for (gsize i = 0; i < len; i++)
                        ck_assert_uint_eq(p[i], 0);
                memset(p, 0x5a, len);
                secret_mem_free(p);
        }
        ck_assert(zeroed_all_zero);
        ck_assert_uint_eq(statistics().in_use, 0);
}
END_TEST

/* Kept out of core dumps (the kernel's and gcore's both skip "dd" mappings), and locked
 * within RLIMIT_MEMLOCK. */
START_TEST(test_secret_mem_not_dumped_and_locked) {
        guint8 *p = secret_mem_alloc(64);
        g_autofree char *flags = vm_flags_of(p);
        struct rlimit rl;
        SecretMemStatistics s = statistics();

        ck_assert_ptr_nonnull(flags);
        ck_assert_msg(strstr(flags, " dd") != NULL, "not excluded from dumps: %s", flags);
        ck_assert_uint_gt(s.locked + s.unlocked, 0);
        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
#ifndef HAVE_ASAN /* AddressSanitizer's mlock() returns 0 and locks nothing */
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 1024 * 1024) {
                ck_assert_uint_gt(s.locked, 0);
                ck_assert_msg(strstr(flags, " lo") != NULL, "not locked: %s", flags);
        }
#endif
        secret_mem_free(p);
}
END_TEST

/* Past RLIMIT_MEMLOCK the memory is unlocked but still kept out of dumps. */
START_TEST(test_secret_mem_fallback_unlocked) {
        struct rlimit rl = { 0, 0 };
        guint8 *p;
        g_autofree char *flags = NULL;

        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
        rl.rlim_cur = 0;
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
        p = secret_mem_alloc(64);
        flags = vm_flags_of(p);
        ck_assert_uint_eq(statistics().locked, 0);
        ck_assert_uint_gt(statistics().unlocked, 0);
        ck_assert_ptr_nonnull(flags);
        ck_assert(strstr(flags, " dd") != NULL);
        ck_assert(strstr(flags, " lo") == NULL);
        memset(p, 1, 64);
        secret_mem_free(p);
        ck_assert(zeroed_all_zero);
}
END_TEST

/* A large drop gives the memory back: arenas with nothing in use are unmapped, one spare
 * per size kept. */
START_TEST(test_secret_mem_returns_arenas) {
        guint8 *chunks[256];
        SecretMemStatistics s;

        for (guint i = 0; i < G_N_ELEMENTS(chunks); i++)
                chunks[i] = secret_mem_alloc(16 * 1024);
        s = statistics();
        ck_assert_uint_ge(s.locked + s.unlocked, 256 * 16 * 1024);
        for (guint i = 0; i < G_N_ELEMENTS(chunks); i++)
                secret_mem_free(chunks[i]);
        s = statistics();
        ck_assert_uint_eq(s.in_use, 0);
        ck_assert_uint_le(s.locked + s.unlocked, 256 * 1024);
}
END_TEST

START_TEST(test_secret_mem_bytes) {
        const guint8 data[] = { 9, 8, 7 };
        guint8 *chunk = secret_mem_alloc(sizeof data);
        GBytes *b, *ref;

        memcpy(chunk, data, sizeof data);
        b = secret_bytes_new_take(chunk, sizeof data);
        ck_assert_ptr_eq(g_bytes_get_data(b, NULL), chunk);
        ck_assert_uint_eq(g_bytes_get_size(b), sizeof data);
        ck_assert_mem_eq(g_bytes_get_data(b, NULL), data, sizeof data);
        ref = g_bytes_ref(b);
        g_bytes_unref(b);
        ck_assert_uint_eq(zeroed_count, 0);
        g_bytes_unref(ref);
        ck_assert_uint_eq(zeroed_count, 1);
        ck_assert(zeroed_all_zero);
}
END_TEST

static Suite *secret_mem_suite(void) {
        Suite *s = suite_create("secret-mem");
        TCase *tc = tcase_create("secret-mem");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_secret_mem_chunks);
        tcase_add_test(tc, test_secret_mem_sizes);
        tcase_add_test(tc, test_secret_mem_not_dumped_and_locked);
        tcase_add_test(tc, test_secret_mem_fallback_unlocked);
        tcase_add_test(tc, test_secret_mem_returns_arenas);
        tcase_add_test(tc, test_secret_mem_bytes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(secret_mem_suite(), CK_FORK_GETENV);
}
