/* LD_PRELOAD shim for tests/faults/test_power_loss.py: every fsync() and fdatasync()
 * of the process appends one line, "<call> <path of the descriptor>", to the file
 * named by FSYNC_LOG, before it calls the real function. Compiled with gcc at test time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(const char *call, int fd) {
    const char *log = getenv("FSYNC_LOG");
    if (log == NULL) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) n = 0;
    path[n] = '\0';
    char line[4200];
    int len = snprintf(line, sizeof line, "%s %s\n", call, path);
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (out < 0) return;
    ssize_t written = write(out, line, (size_t)len);
    (void)written;
    close(out);
}

int fsync(int fd) {
    static int (*real)(int) = NULL;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    note("fsync", fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int) = NULL;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    note("fdatasync", fd);
    return real(fd);
}
