/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tlsid error table. */
#include "tlsid-errors.h"

#include <errno.h>
#include <string.h>

static const struct {
        const char *dbus_name;
        int errnum;
} error_table[_TLSID_ERROR_MAX] = {
        [TLSID_ERROR_FAILED]           = { "org.tlsid.Error.Failed",          EIO },
        [TLSID_ERROR_INVALID_ARGUMENT] = { "org.tlsid.Error.InvalidArgument", EINVAL },
        [TLSID_ERROR_NO_SUCH_CONTEXT]  = { "org.tlsid.Error.NoSuchContext",   ENOENT },
        [TLSID_ERROR_LIMIT_EXCEEDED]   = { "org.tlsid.Error.LimitExceeded",   ENOBUFS },
        [TLSID_ERROR_ACCESS_DENIED]    = { "org.tlsid.Error.AccessDenied",    EACCES },
};

const char *error_code_to_dbus_name(int code) {
        if (code < 0 || code >= _TLSID_ERROR_MAX)
                code = TLSID_ERROR_FAILED;
        return error_table[code].dbus_name;
}

int error_code_from_dbus_name(const char *name) {
        if (!name)
                return -1;
        for (int i = 0; i < _TLSID_ERROR_MAX; i++)
                if (strcmp(error_table[i].dbus_name, name) == 0)
                        return i;
        return -1;
}

int error_code_to_errno(int code) {
        if (code < 0 || code >= _TLSID_ERROR_MAX)
                code = TLSID_ERROR_FAILED;
        return -error_table[code].errnum;
}
