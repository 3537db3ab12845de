/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a whole file the daemon depends on, bounded in size before anything parses it:
 * policy.json, tlsidd.conf, the choices file. */
#pragma once

#include <glib.h>

typedef enum {
        FILE_READ_OK,          /* *ret_text holds the file, NUL-terminated */
        FILE_READ_MISSING,     /* no such file (ENOENT, or ENOTDIR on the way) */
        FILE_READ_TOO_LARGE,   /* more than @max bytes; nothing was kept */
        FILE_READ_NOT_REGULAR, /* a directory, FIFO, device...: *ret_errno EISDIR or EINVAL */
        FILE_READ_FAILED,      /* open or read failed: *ret_errno says why */
} FileRead;

/* Reads @path, at most @max bytes, without blocking on a FIFO put in its place. */
FileRead file_read_bounded(const char *path, gsize max, char **ret_text, gsize *ret_len,
                           int *ret_errno);
