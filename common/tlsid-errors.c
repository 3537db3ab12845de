/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tlsid error table, and the errno of the standard D-Bus errors. */
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
        /* The daemon's disk failed it: neither the caller's I/O nor the bus's. */
        [TLSID_ERROR_NOT_SAVED]        = { "org.tlsid.Error.NotSaved",        EREMOTEIO },
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

/* Spelled out, not DBUS_ERROR_*: common/ does not use libdbus (tests/unit/test-errors.c
 * checks each name against libdbus's). */
#define DBUS_ERROR_PREFIX "org.freedesktop.DBus.Error."
/* systemd's (src/libsystemd/sd-bus/bus-common-errors.h), which dbus-daemon relays when
 * systemd refuses to start the unit of an activation. */
#define SYSTEMD_ERROR_PREFIX "org.freedesktop.systemd1."

static const struct {
        const char *name;
        int errnum;
} dbus_error_table[] = {
        /* No reply in time. */
        { DBUS_ERROR_PREFIX "NoReply",                  ETIMEDOUT },
        { DBUS_ERROR_PREFIX "Timeout",                  ETIMEDOUT },
        { DBUS_ERROR_PREFIX "TimedOut",                 ETIMEDOUT },
        /* Neither the bus nor the daemon can be reached. */
        { DBUS_ERROR_PREFIX "ServiceUnknown",           ECONNREFUSED },
        { DBUS_ERROR_PREFIX "NameHasNoOwner",           ECONNREFUSED },
        { DBUS_ERROR_PREFIX "Disconnected",             ECONNREFUSED },
        { DBUS_ERROR_PREFIX "NoServer",                 ECONNREFUSED },
        { DBUS_ERROR_PREFIX "NoNetwork",                ECONNREFUSED },
        { DBUS_ERROR_PREFIX "FileNotFound",             ECONNREFUSED },
        /* The bus tried to start the daemon and failed: dbus-daemon's own activation
         * (Spawn.*), or systemd's refusal of the unit, which the bus passes on. */
        { DBUS_ERROR_PREFIX "Spawn.ServiceNotFound",    EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.ServiceNotValid",    EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.ExecFailed",         EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.ChildExited",        EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.ChildSignaled",      EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.Failed",             EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.FailedToSetup",      EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.PermissionsInvalid", EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.FileInvalid",        EHOSTDOWN },
        { DBUS_ERROR_PREFIX "Spawn.NoMemory",           EHOSTDOWN },
        { SYSTEMD_ERROR_PREFIX "NoSuchUnit",            EHOSTDOWN },
        { SYSTEMD_ERROR_PREFIX "LoadFailed",            EHOSTDOWN },
        { SYSTEMD_ERROR_PREFIX "UnitMasked",            EHOSTDOWN },
        { DBUS_ERROR_PREFIX "NoMemory",                 ENOMEM },
        { DBUS_ERROR_PREFIX "BadAddress",               EINVAL },
        { DBUS_ERROR_PREFIX "InvalidArgs",              EINVAL },
        { DBUS_ERROR_PREFIX "AccessDenied",             EACCES },
        { DBUS_ERROR_PREFIX "AuthFailed",               EACCES },
};

int dbus_error_name_to_errno(const char *name) {
        if (!name)
                return 0;
        for (size_t i = 0; i < sizeof dbus_error_table / sizeof dbus_error_table[0]; i++)
                if (strcmp(dbus_error_table[i].name, name) == 0)
                        return -dbus_error_table[i].errnum;
        return 0;
}
