/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the error tables (common/tlsid-errors.c): the org.tlsid.Error.* names and
 * the errno of the standard D-Bus errors, each name checked against libdbus's (systemd's,
 * which libdbus lacks, spelled out). */
#include <check.h>
#include <dbus/dbus.h>
#include <errno.h>
#include <string.h>

#include "check-main.h"
#include "tlsid-errors.h"

#define N_ELEMENTS(a) (sizeof (a) / sizeof (a)[0])

/* Every standard name the library maps, and what it maps to. */
static const struct {
        const char *name;
        int errnum;
} dbus_rows[] = {
        { DBUS_ERROR_NO_REPLY, -ETIMEDOUT },
        { DBUS_ERROR_TIMEOUT, -ETIMEDOUT },
        { DBUS_ERROR_TIMED_OUT, -ETIMEDOUT },
        { DBUS_ERROR_SERVICE_UNKNOWN, -ECONNREFUSED },
        { DBUS_ERROR_NAME_HAS_NO_OWNER, -ECONNREFUSED },
        { DBUS_ERROR_DISCONNECTED, -ECONNREFUSED },
        { DBUS_ERROR_NO_SERVER, -ECONNREFUSED },
        { DBUS_ERROR_NO_NETWORK, -ECONNREFUSED },
        { DBUS_ERROR_FILE_NOT_FOUND, -ECONNREFUSED },
        { DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_SERVICE_INVALID, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_EXEC_FAILED, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_CHILD_EXITED, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_CHILD_SIGNALED, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_FAILED, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_SETUP_FAILED, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_PERMISSIONS_INVALID, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_FILE_INVALID, -EHOSTDOWN },
        { DBUS_ERROR_SPAWN_NO_MEMORY, -EHOSTDOWN },
        /* systemd's names, which libdbus does not define. */
        { "org.freedesktop.systemd1.NoSuchUnit", -EHOSTDOWN },
        { "org.freedesktop.systemd1.LoadFailed", -EHOSTDOWN },
        { "org.freedesktop.systemd1.UnitMasked", -EHOSTDOWN },
        { DBUS_ERROR_NO_MEMORY, -ENOMEM },
        { DBUS_ERROR_BAD_ADDRESS, -EINVAL },
        { DBUS_ERROR_INVALID_ARGS, -EINVAL },
        { DBUS_ERROR_ACCESS_DENIED, -EACCES },
        { DBUS_ERROR_AUTH_FAILED, -EACCES },
};

START_TEST(test_errors_dbus_name_to_errno) {
        ck_assert_msg(dbus_error_name_to_errno(dbus_rows[_i].name) == dbus_rows[_i].errnum,
                      "%s maps to %d, not %d", dbus_rows[_i].name,
                      dbus_error_name_to_errno(dbus_rows[_i].name), dbus_rows[_i].errnum);
}
END_TEST

/* Names the library reports as -EIO: unknown, ours, near misses and NULL. */
START_TEST(test_errors_dbus_name_unknown) {
        static const char *const names[] = {
                DBUS_ERROR_FAILED, DBUS_ERROR_UNKNOWN_METHOD, DBUS_ERROR_LIMITS_EXCEEDED,
                DBUS_ERROR_SPAWN_FORK_FAILED, "org.tlsid.Error.InvalidArgument",
                "org.freedesktop.DBus.Error.noreply", "org.freedesktop.DBus.Error.NoReplyX",
                "org.freedesktop.DBus.Error.", "org.freedesktop.systemd1.NoSuchJob", "",
        };

        for (size_t i = 0; i < N_ELEMENTS(names); i++)
                ck_assert_msg(dbus_error_name_to_errno(names[i]) == 0, "%s maps to %d",
                              names[i], dbus_error_name_to_errno(names[i]));
        ck_assert_int_eq(dbus_error_name_to_errno(NULL), 0);
}
END_TEST

/* Each tlsid code: its name, back to the code, and its errno. */
START_TEST(test_errors_tlsid_codes) {
        static const struct {
                int code;
                const char *name;
                int errnum;
        } rows[] = {
                { TLSID_ERROR_FAILED, "org.tlsid.Error.Failed", -EIO },
                { TLSID_ERROR_INVALID_ARGUMENT, "org.tlsid.Error.InvalidArgument", -EINVAL },
                { TLSID_ERROR_NO_SUCH_CONTEXT, "org.tlsid.Error.NoSuchContext", -ENOENT },
                { TLSID_ERROR_LIMIT_EXCEEDED, "org.tlsid.Error.LimitExceeded", -ENOBUFS },
                { TLSID_ERROR_ACCESS_DENIED, "org.tlsid.Error.AccessDenied", -EACCES },
                { TLSID_ERROR_NOT_SAVED, "org.tlsid.Error.NotSaved", -EREMOTEIO },
        };

        ck_assert_uint_eq(N_ELEMENTS(rows), _TLSID_ERROR_MAX);
        for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
                ck_assert_str_eq(error_code_to_dbus_name(rows[i].code), rows[i].name);
                ck_assert_int_eq(error_code_from_dbus_name(rows[i].name), rows[i].code);
                ck_assert_int_eq(error_code_to_errno(rows[i].code), rows[i].errnum);
        }
        ck_assert_int_eq(error_code_from_dbus_name(DBUS_ERROR_ACCESS_DENIED), -1);
        ck_assert_int_eq(error_code_from_dbus_name(NULL), -1);
        ck_assert_str_eq(error_code_to_dbus_name(_TLSID_ERROR_MAX), "org.tlsid.Error.Failed");
        ck_assert_int_eq(error_code_to_errno(-1), -EIO);
}
END_TEST

static Suite *errors_suite(void) {
        Suite *s = suite_create("errors");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, test_errors_dbus_name_to_errno, 0, N_ELEMENTS(dbus_rows));
        tcase_add_test(tc, test_errors_dbus_name_unknown);
        tcase_add_test(tc, test_errors_tlsid_codes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(errors_suite(), CK_FORK_GETENV);
}
