import dataclasses
import subprocess
from pathlib import Path

import pytest

from musl_cpython import elf, toolchain
from musl_cpython.errors import MissingHostTool
from musl_cpython.recipes import target_for

THREADS = (Path(__file__).parent / "fixtures" / "threads.c").read_text()


def test_executables_are_dynamic_musl_and_hardened(compile_c, tmp_path):
    info = elf.read(compile_c(THREADS, tmp_path / "threads"))
    assert info.interp == "/lib/ld-musl-x86_64.so.1"
    assert info.has_relro and info.has_stack_header and not info.exec_stack
    assert info.needed == ("libc.so",)
    assert info.flags & elf.DF_BIND_NOW


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


def test_a_missing_cross_compiler_is_named_with_its_package():
    target = dataclasses.replace(target_for("aarch64"), cross_gcc="surely-not-a-prefix")
    with pytest.raises(MissingHostTool) as e:
        toolchain.require_host_tools(toolchain.KINDS["cross-gcc"], target)
    assert "surely-not-a-prefix-gcc" in str(e.value)
    assert "apt-get install gcc-surely-not-a-prefix" in str(e.value) and e.value.exit_code == 2


def test_wrong_zig_version_is_refused():
    with pytest.raises(MissingHostTool, match="pip install ziglang==0.0.1"):
        toolchain.zig_executable("0.0.1")


@pytest.mark.parametrize("flag", ["-Wl,-hlibshort.so.1", "-Wl,-h,libshort.so.1"])
def test_short_soname_flag_is_understood(compile_c, tmp_path, flag):
    """CPython's Makefile names libpython with -Wl,-h, which zig's linker does not know."""
    lib = compile_c("int f(void) { return 1; }", tmp_path / "libshort.so", "-shared", flag)
    assert elf.read(lib).soname == "libshort.so.1"


def test_link_of_shared_libraries_alone_stays_musl(compile_c, tools, tmp_path):
    """zig gives such links to the host's clang and glibc; the wrapper keeps them in zig's hands."""
    base = compile_c("int f(void) { return 1; }", tmp_path / "libbase.so.1", "-shared",
                     "-Wl,-soname,libbase.so.1")
    stub = tmp_path / "libstub.so"
    subprocess.run([tools.cc, "-shared", "-Wl,--no-as-needed", "-o", str(stub), "-Wl,-hlibstub.so", str(base)],
                   check=True, env=tools.environment(0))
    info = elf.read(stub)
    assert info.needed == ("libbase.so.1",) and info.soname == "libstub.so"


def test_standard_input_is_preprocessed_with_musl_headers(tools):
    """zig gives a bare "-" input to the host's clang; setup.py (3.9, 3.10) reads include dirs that way."""
    result = subprocess.run([tools.cc, "-E", "-v", "-"], input="", capture_output=True, text=True,
                            env=tools.environment(0))
    assert result.returncode == 0, result.stderr
    search = result.stderr.split("search starts here:")[-1].split("End of search list.")[0].split()
    assert search and all("/usr/include" not in d for d in search), search
    assert any(d.endswith("x86_64-linux-musl") for d in search), search


@pytest.mark.parametrize("kind", sorted(toolchain.KINDS))
def test_generated_wrappers_pass_shellcheck(kind, tmp_path):
    """Every kind's wrappers for every target, as rendered from templates/, and the root-entering script."""
    import shutil

    from musl_cpython.recipes import load_targets
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck, or run ./bootstrap.sh)")
    scripts = []
    for target in load_targets().values():
        if toolchain.KINDS[kind].musl_sysroot and not target.cross_gcc:
            continue  # cross-gcc serves only the targets that name their cross compiler
        for name, text in toolchain.scripts(toolchain.KINDS[kind], target, ("-Wl,-z,now",)).items():
            path = tmp_path / f"{target.arch}-{name}"
            path.write_text(text)
            scripts.append(str(path))
    scripts.append(str(toolchain.TEMPLATES / "enter-root.sh"))
    result = subprocess.run([shellcheck, "--shell=sh", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
