"""Each ELF rule of `build.py verify` against small ELF files compiled here."""
import subprocess

import pytest

from musl_cpython import musl
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.recipes import target_for
from musl_cpython.verify.elf import RULES, elf_policy

TARGET = target_for("x86_64")
MAIN = "int main(void) { return 0; }\n"


@pytest.fixture(scope="module")
def musl_exports():
    ctx = Context(cache_dir=default_cache_dir())
    return musl.exported_symbols(musl.libc_path(musl.musl_root(ctx, TARGET), TARGET))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "python"
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    return root


def failures(tree, exports):
    """check id -> detail of every rule that fails."""
    return {c.id: c.detail for c in elf_policy(tree, TARGET, exports, "1.2.3") if c.status == "fail"}


def test_every_rule_has_a_stable_id(tree, musl_exports):
    assert [c.id for c in elf_policy(tree, TARGET, musl_exports, "1.2.3")] == list(RULES)


def host_gcc_library(tmp_path, out, code, *flags):
    """A dependency-free shared library from the host's gcc, for what zig refuses to produce."""
    src = tmp_path / "fixture.c"
    src.write_text(code)
    subprocess.run(["gcc", "-shared", "-nostdlib", "-Wl,-z,relro,-z,now", *flags, str(src), "-o", str(out)],
                   check=True)


def good_program(compile_c, tree, *flags):
    return compile_c(MAIN, tree / "bin" / "python3", "-Wl,-rpath,$ORIGIN/../lib", *flags)


def test_good_program_passes_every_rule(compile_c, tree, musl_exports):
    good_program(compile_c, tree)
    compile_c("int f(void) { return 1; }", tree / "lib" / "libgood.so.1", "-shared", "-Wl,-soname,libgood.so.1")
    assert failures(tree, musl_exports) == {}


def test_absolute_runpath(compile_c, tree, musl_exports):
    compile_c(MAIN, tree / "bin" / "python3", "-Wl,-rpath,/opt/build/lib")
    assert "/opt/build/lib" in failures(tree, musl_exports)["elf.runpath"]


def test_runpath_escaping_the_tree(compile_c, tree, musl_exports):
    compile_c(MAIN, tree / "bin" / "python3", "-Wl,-rpath,$ORIGIN/../../../usr/lib")
    assert "$ORIGIN/../../../usr/lib" in failures(tree, musl_exports)["elf.runpath"]


def test_linked_against_glibc(tree, tmp_path, musl_exports):
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("glibc"); return 0; }\n')
    subprocess.run(["gcc", str(src), "-o", str(tree / "bin" / "python3")], check=True)
    found = failures(tree, musl_exports)
    assert "ld-linux" in found["elf.interp"]
    assert "libc.so.6" in found["elf.needed"]
    assert "GLIBC_" in found["elf.glibc_versions"]


def test_executable_stack(compile_c, tree, tmp_path, musl_exports):
    good_program(compile_c, tree)
    host_gcc_library(tmp_path, tree / "lib" / "libexec.so", "int f(void) { return 1; }", "-Wl,-z,execstack")
    found = failures(tree, musl_exports)
    assert found == {"elf.stack": "lib/libexec.so"}


def test_no_relro_and_lazy_binding(compile_c, tree, musl_exports):
    good_program(compile_c, tree, "-Wl,-z,norelro", "-Wl,-z,lazy")
    assert set(failures(tree, musl_exports)) == {"elf.relro", "elf.bind_now"}


def test_text_relocations(compile_c, tree, tmp_path, musl_exports):
    good_program(compile_c, tree)
    host_gcc_library(tmp_path, tree / "lib" / "libtext.so",
                     "extern int counter; int get(void) { return counter; }\nint counter;\n",
                     "-fno-PIC", "-mcmodel=large", "-Wl,-z,notext")
    found = failures(tree, musl_exports)
    assert found == {"elf.textrel": "lib/libtext.so"}


def test_missing_library(compile_c, tree, tmp_path, musl_exports):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    compile_c("int gone(void) { return 1; }", elsewhere / "libgone.so", "-shared", "-Wl,-soname,libgone.so")
    compile_c("int gone(void);\nint main(void) { return gone(); }\n", tree / "bin" / "python3",
              f"-L{elsewhere}", "-lgone", "-Wl,-rpath,$ORIGIN/../lib")
    found = failures(tree, musl_exports)
    assert "needs libgone.so" in found["elf.needed"]
    assert "gone" in found["elf.symbols"]


def test_symbol_newer_than_the_oldest_musl(compile_c, tree, musl_exports):
    code = """
    #define _GNU_SOURCE
    #include <sys/uio.h>
    int main(void) { char b[1]; struct iovec v = {b, 1}; return (int)preadv2(0, &v, 1, 0, 0); }
    """
    good_program(compile_c, tree)
    compile_c(code, tree / "bin" / "newer", "-Wl,-rpath,$ORIGIN/../lib")
    found = failures(tree, musl_exports)
    assert set(found) == {"elf.symbols"}
    assert "bin/newer: preadv2" in found["elf.symbols"]


def test_position_dependent_executable(compile_c, tree, musl_exports):
    good_program(compile_c, tree, "-no-pie")
    assert failures(tree, musl_exports) == {"elf.pie": "bin/python3"}
