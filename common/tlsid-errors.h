/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid error codes: one table shared by the daemon's GError domain, the D-Bus error
 * names and the client library's errno mapping; and the errno of the standard
 * org.freedesktop.DBus.Error.* names that the library meets. */
#pragma once

#include <stddef.h>

/* Codes of the daemon's GError domain; each maps 1:1 to an org.tlsid.Error.* name. */
typedef enum {
        TLSID_ERROR_FAILED = 0,
        TLSID_ERROR_INVALID_ARGUMENT,
        TLSID_ERROR_NO_SUCH_CONTEXT,
        TLSID_ERROR_LIMIT_EXCEEDED,
        TLSID_ERROR_ACCESS_DENIED,
        TLSID_ERROR_NOT_SAVED, /* a remembered choice is in force but not on disk */
        _TLSID_ERROR_MAX,
} TlsidErrorCode;

/* The D-Bus error name of @code ("org.tlsid.Error.Failed" for unknown codes). */
const char *error_code_to_dbus_name(int code);

/* The code whose D-Bus name is @name, or -1 when @name is not one of ours. */
int error_code_from_dbus_name(const char *name);

/* The negative errno a library call returns for @code (-EIO for unknown codes). */
int error_code_to_errno(int code);

/* The negative errno of the standard D-Bus error @name (org.freedesktop.DBus.Error.*, and
 * the org.freedesktop.systemd1.* refusals a bus relays) as the library reports it:
 * -ETIMEDOUT (no reply in time), -ECONNREFUSED (the bus or the daemon cannot be reached),
 * -EHOSTDOWN (the bus could not start the daemon), -ENOMEM, -EINVAL (a bad bus address or
 * bad arguments), -EACCES; 0 for any other name, NULL included. */
int dbus_error_name_to_errno(const char *name);
