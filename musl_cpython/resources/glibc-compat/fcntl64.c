/* One member of the cross-gcc toolchain's compatibility library (see
 * getauxval.c for what the library is).
 *
 * 32-bit arches: libgcov locks its .gcda files through glibc's large-file
 * fcntl64. musl's off_t and struct flock are always 64-bit, and its F_*LK*
 * commands are the 64-bit ones there, so fcntl takes the same arguments;
 * the optional one is read as musl's own fcntl reads it. */
#include <fcntl.h>
#include <stdarg.h>

__attribute__((visibility("hidden"))) int fcntl64(int fd, int command, ...) {
    va_list arguments;
    va_start(arguments, command);
    unsigned long argument = va_arg(arguments, unsigned long);
    va_end(arguments);
    return fcntl(fd, command, argument);
}
