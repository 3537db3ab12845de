/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a whole configuration or state file, bounded in size (file-read.h). */
#include "file-read.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

FileRead file_read_bounded(const char *path, gsize max, char **ret_text, gsize *ret_len,
                           int *ret_errno) {
        g_autofree char *buf = NULL;
        gsize len = 0;
        struct stat st;
        int fd;

        *ret_text = NULL;
        *ret_len = 0;
        *ret_errno = 0;
        /* Non-blocking: a FIFO put there must not hang the daemon. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                *ret_errno = errno;
                return errno == ENOENT || errno == ENOTDIR ? FILE_READ_MISSING
                                                            : FILE_READ_FAILED;
        }
        if (fstat(fd, &st) < 0) {
                *ret_errno = errno;
                close(fd);
                return FILE_READ_FAILED;
        }
        if (!S_ISREG(st.st_mode)) {
                *ret_errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
                close(fd);
                return FILE_READ_NOT_REGULAR;
        }
        if ((guint64) st.st_size > max) {
                close(fd);
                return FILE_READ_TOO_LARGE;
        }
        /* Up to one byte past @max: a file that grew since fstat() is still caught. */
        buf = g_malloc((gsize) st.st_size + 2);
        for (;;) {
                ssize_t n = read(fd, buf + len, (gsize) st.st_size + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        *ret_errno = errno;
                        close(fd);
                        return FILE_READ_FAILED;
                }
                len += (gsize) n;
                if (n == 0 || len > (gsize) st.st_size)
                        break;
        }
        close(fd);
        if (len > max)
                return FILE_READ_TOO_LARGE;
        buf[len] = '\0';
        *ret_text = g_steal_pointer(&buf);
        *ret_len = len;
        return FILE_READ_OK;
}
