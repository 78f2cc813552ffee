import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from musl_cpython import toolchain
from musl_cpython.errors import MissingHostTool
from musl_cpython.relocate import dynamic_info

THREADS = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
static void *report(void *arg) {
    pthread_attr_t attr; size_t size;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstacksize(&attr, &size);
    printf("%zu\n", size);
    return arg;
}
int main(void) { pthread_t t; pthread_create(&t, 0, report, 0); pthread_join(t, 0); return 0; }
"""


def segments(path):
    with open(path, "rb") as f:
        return {seg["p_type"]: dict(seg.header) for seg in ELFFile(f).iter_segments()} | {
            "interp": next((seg.get_interp_name() for seg in ELFFile(f).iter_segments()
                            if seg["p_type"] == "PT_INTERP"), None)}


def test_executables_are_dynamic_musl_and_hardened(compile_c, tmp_path):
    exe = compile_c(THREADS, tmp_path / "threads")
    seg = segments(exe)
    assert seg["interp"] == "/lib/ld-musl-x86_64.so.1"
    assert "PT_GNU_RELRO" in seg
    assert seg["PT_GNU_STACK"]["p_flags"] & 1 == 0  # not executable
    assert dynamic_info(exe)["needed"] == ["libc.so"]
    with open(exe, "rb") as f:
        dyn = ELFFile(f).get_section_by_name(".dynamic")
        flags = {t.entry.d_tag: t.entry.d_val for t in dyn.iter_tags()}
    assert flags.get("DT_FLAGS", 0) & 0x8  # DF_BIND_NOW


def test_threads_get_two_mebibyte_stacks(compile_c, tmp_path):
    exe = compile_c(THREADS, tmp_path / "threads")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert int(out) >= 2 * 1024 * 1024


def test_compile_only_steps_get_no_link_flags(tools, tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int x;\n")
    result = subprocess.run([tools.cc, "-c", str(src), "-o", str(tmp_path / "x.o"), "-Werror"],
                            capture_output=True, text=True, env=tools.environment(0))
    assert result.returncode == 0, result.stderr


def test_missing_host_tool_says_what_to_install(monkeypatch):
    monkeypatch.setitem(toolchain.HOST_TOOLS, "surely-not-installed-tool", "some-package")
    with pytest.raises(MissingHostTool) as e:
        toolchain.require_host_tools()
    assert "apt-get install some-package" in str(e.value) and e.value.exit_code == 2


def test_wrong_zig_version_is_refused():
    with pytest.raises(MissingHostTool, match="pip install ziglang==0.0.1"):
        toolchain.zig_executable("0.0.1")


@pytest.mark.parametrize("flag", ["-Wl,-hlibshort.so.1", "-Wl,-h,libshort.so.1"])
def test_short_soname_flag_is_understood(compile_c, tmp_path, flag):
    """CPython's Makefile names libpython with -Wl,-h, which zig's linker does not know."""
    lib = compile_c("int f(void) { return 1; }", tmp_path / "libshort.so", "-shared", flag)
    assert dynamic_info(lib)["soname"] == "libshort.so.1"


def test_link_of_shared_libraries_alone_stays_musl(compile_c, tools, tmp_path):
    """zig gives such links to the host's clang and glibc; the wrapper keeps them in zig's hands."""
    base = compile_c("int f(void) { return 1; }", tmp_path / "libbase.so.1", "-shared",
                     "-Wl,-soname,libbase.so.1")
    stub = tmp_path / "libstub.so"
    subprocess.run([tools.cc, "-shared", "-Wl,--no-as-needed", "-o", str(stub), "-Wl,-hlibstub.so", str(base)],
                   check=True, env=tools.environment(0))
    info = dynamic_info(stub)
    assert info["needed"] == ["libbase.so.1"] and info["soname"] == "libstub.so"


def test_standard_input_is_preprocessed_with_musl_headers(tools):
    """zig gives a bare "-" input to the host's clang; setup.py (3.9, 3.10) reads include dirs that way."""
    result = subprocess.run([tools.cc, "-E", "-v", "-"], input="", capture_output=True, text=True,
                            env=tools.environment(0))
    assert result.returncode == 0, result.stderr
    search = result.stderr.split("search starts here:")[-1].split("End of search list.")[0].split()
    assert search and all("/usr/include" not in d for d in search), search
    assert any(d.endswith("x86_64-linux-musl") for d in search), search
