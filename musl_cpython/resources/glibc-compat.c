/* Linked into everything the cross-gcc toolchain links (musl_cpython/toolchain.py),
 * after libgcc: the glibc functions that Debian's cross libgcc and libgcov
 * (built for glibc) call and musl does not export. Hidden, so that no library
 * built with them exports the names. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/auxv.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* aarch64: the outline atomics (lse-init.o, pulled in by any atomic operation
 * GCC outlines, and by libgcov) ask glibc's internal __getauxval whether the
 * CPU has LSE atomics; musl has the public getauxval. */
HIDDEN unsigned long __getauxval(unsigned long type) {
    return getauxval(type);
}

/* 32-bit arches: libgcov locks its .gcda files through glibc's large-file
 * fcntl64. musl's off_t and struct flock are always 64-bit, and its F_*LK*
 * commands are the 64-bit ones there, so fcntl takes the same arguments;
 * the optional one is read as musl's own fcntl reads it. */
HIDDEN int fcntl64(int fd, int command, ...) {
    va_list arguments;
    va_start(arguments, command);
    unsigned long argument = va_arg(arguments, unsigned long);
    va_end(arguments);
    return fcntl(fd, command, argument);
}
