/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid's error reporting: the thread-local message behind tlsid_error_message(), and
 * D-Bus errors turned into errno (through common/tlsid-errors.c's tables). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "libtlsid-private.h"
#include "tlsid-errors.h"

static __thread char error_buffer[512];

int set_error(int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(error_buffer, sizeof error_buffer, format, ap);
        va_end(ap);
        return r;
}

int set_oom(void) {
        return set_error(-ENOMEM, "out of memory");
}

_public_ const char *tlsid_error_message(void) {
        return error_buffer;
}

int set_error_from_dbus(const DBusError *e, const char *method) {
        int code = error_code_from_dbus_name(e->name);
        const char *message = e->message ? e->message : e->name;

        if (code >= 0)
                return set_error(error_code_to_errno(code), "%s", message);
        switch (dbus_error_name_to_errno(e->name)) {
        case -ETIMEDOUT:
                return set_error(-ETIMEDOUT, "%s: tlsidd did not answer in time", method);
        case -ECONNREFUSED:
                return set_error(-ECONNREFUSED, "%s: cannot reach tlsidd: %s", method, message);
        case -EHOSTDOWN:
                return set_error(-EHOSTDOWN, "%s: the bus could not start tlsidd: %s (%s)", method,
                                 message, e->name);
        case -ENOMEM:
                return set_oom();
        case -EINVAL:
                /* A bad address is the caller's bus address, not an argument of @method. */
                if (dbus_error_has_name(e, DBUS_ERROR_BAD_ADDRESS))
                        return set_error(-EINVAL, "bus address: %s", message);
                return set_error(-EINVAL, "%s: %s", method, message);
        case -EACCES:
                return set_error(-EACCES, "%s: %s", method, message);
        default:
                return set_error(-EIO, "%s: %s (%s)", method, message, e->name);
        }
}
