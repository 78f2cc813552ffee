/* One member of the cross-gcc toolchain's compatibility library (see
 * musl_cpython/toolchain.py): a glibc function that Debian's cross libgcc
 * and libgcov (built for glibc) call and musl does not export. Hidden, so
 * that nothing built with it exports the name; one function per file, so a
 * link takes only what it references.
 *
 * aarch64: the outline atomics (lse-init.o, pulled in by any atomic
 * operation GCC outlines, and by libgcov) ask glibc's internal __getauxval
 * whether the CPU has LSE atomics; musl has the public getauxval. */
#include <sys/auxv.h>

__attribute__((visibility("hidden"))) unsigned long __getauxval(unsigned long type) {
    return getauxval(type);
}
