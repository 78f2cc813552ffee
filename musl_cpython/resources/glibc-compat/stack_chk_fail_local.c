/* One member of the cross-gcc toolchain's compatibility library (see
 * getauxval.c for what the library is).
 *
 * i386: position-independent code built with a stack protector calls the
 * hidden __stack_chk_fail_local, which every shared object and executable
 * carries its own copy of (glibc's from libc_nonshared.a, through its
 * libc.so script; Alpine's from musl's libssp_nonshared.a). Debian's musl
 * has neither; musl's libc.so exports __stack_chk_fail, which this calls. */
_Noreturn void __stack_chk_fail(void);

__attribute__((visibility("hidden"))) _Noreturn void __stack_chk_fail_local(void) {
    __stack_chk_fail();
}
