/* Linked into everything the cross-gcc toolchain links (musl_cpython/toolchain.py).
 *
 * Debian's cross GCC ships a libgcc built for glibc. On aarch64 its outline
 * atomics (lse-init.o, pulled in by any atomic operation GCC outlines, and by
 * libgcov in an instrumented build) ask glibc's internal __getauxval whether
 * the CPU has LSE atomics; musl exports only the public getauxval. Hidden, so
 * no library built with it exports the name. */
#include <sys/auxv.h>

__attribute__((visibility("hidden"))) unsigned long __getauxval(unsigned long type) {
    return getauxval(type);
}
