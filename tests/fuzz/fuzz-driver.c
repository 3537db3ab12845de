/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A main() for fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput once per file
 * named (every regular file of a named directory), or once on stdin. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* The inputs libFuzzer itself would take: -max_len defaults to 4096, the corpus is small. */
#define INPUT_MAX (1024 * 1024)

static int run_stream(FILE *f, const char *name) {
        uint8_t *data = malloc(INPUT_MAX + 1);
        size_t size;

        if (!data) {
                fprintf(stderr, "%s: out of memory\n", name);
                return -1;
        }
        size = fread(data, 1, INPUT_MAX + 1, f);
        if (ferror(f) || size > INPUT_MAX) {
                fprintf(stderr, "%s: %s\n", name, ferror(f) ? "read error" : "larger than 1 MiB");
                free(data);
                return -1;
        }
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        return 0;
}

static int run_file(const char *path) {
        FILE *f = fopen(path, "rbe");
        int r;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        r = run_stream(f, path);
        fclose(f);
        return r;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted, so a failure names the same file on every run. */
static int run_directory(const char *path, size_t *ret_count) {
        DIR *dir = opendir(path);
        struct dirent *entry;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        if (!dir) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        while ((entry = readdir(dir))) {
                char **more;

                if (entry->d_name[0] == '.')
                        continue;
                more = realloc(names, (n + 1) * sizeof *names);
                if (!more || !(more[n] = malloc(strlen(path) + strlen(entry->d_name) + 2))) {
                        names = more ? more : names;
                        r = -1;
                        break;
                }
                names = more;
                sprintf(names[n++], "%s/%s", path, entry->d_name);
        }
        closedir(dir);
        if (r == 0 && n > 0)
                qsort(names, n, sizeof *names, name_compare);
        for (size_t i = 0; i < n; i++) {
                struct stat st;

                if (r == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(names[i]) < 0)
                                r = -1;
                        else
                                (*ret_count)++;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        size_t count = 0;

        if (argc < 2)
                return run_stream(stdin, "stdin") < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (run_directory(argv[i], &count) < 0)
                                return EXIT_FAILURE;
                } else if (run_file(argv[i]) < 0)
                        return EXIT_FAILURE;
                else
                        count++;
        }
        printf("%zu inputs run\n", count);
        /* A corpus that vanished would otherwise pass silently. */
        return count > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
