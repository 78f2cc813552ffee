"""No byte of a distribution may name where it was built: the build and
cache directories, zig's installation and cache, the venv, the home
directory. The leak check reads binaries too, and zig's own runtime (which
zig compiles into its cache with debug info naming all of those) is
stripped, so programs and libraries zig links, with debug info, name none."""
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from musl_cpython import relocate, toolchain, zig_runtime
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.recipes import load_targets

TARGETS = load_targets()


def test_the_leak_check_reads_the_debug_info_of_binaries(tmp_path):
    """A path planted in a library's DWARF, the way an unmapped compile of
    zig's puts it there, is found; the same library built as the wrappers
    build it is clean."""
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    tools = toolchain.prepare(ctx, TARGETS["x86_64"])
    work, tree = ctx.build_dir / "work", tmp_path / "tree" / "lib"  # the wrappers map work/ to /build
    work.mkdir(parents=True)
    tree.mkdir(parents=True)
    (work / "lib.c").write_text("int answer(void) { return 42; }\n")
    # Compiled in a directory of the cache, as zig compiles its runtime: DW_AT_comp_dir names it.
    planted = Path(tempfile.mkdtemp(prefix="planted-", dir=ctx.cache_dir))
    shutil.copyfile(work / "lib.c", planted / "lib.c")
    for name, cwd in (("libplanted.so", planted), ("libclean.so", work)):
        subprocess.run([tools.cc, *tools.cflags, "-g", "-O2", "-shared", "lib.c", "-o", str(tree / name)],
                       cwd=cwd, check=True, capture_output=True, env=tools.environment(0))
    shutil.rmtree(planted)
    found = relocate.find_leaks(tree.parent, relocate.machine_paths(ctx) + [str(tmp_path)])
    assert found == [f"lib/libplanted.so names {ctx.cache_dir}"]
    assert b"\0" in (tree / "libplanted.so").read_bytes()[:8192]  # a binary, which the check once skipped


def test_this_machines_paths_include_the_venv_zig_and_home(monkeypatch, tmp_path):
    import sys
    ctx = Context()
    paths = relocate.machine_paths(ctx)
    assert sys.prefix != sys.base_prefix, "the tests run in the project's venv"
    assert {str(ctx.build_dir), str(ctx.cache_dir), sys.prefix, f"{Path.home()}/"} <= set(paths)
    assert any(path.endswith("ziglang") for path in paths)
    # A world-writable HOME (the container build's /tmp) is no one's: CPython's own files name /tmp/.
    monkeypatch.setenv("HOME", "/tmp")
    assert "/tmp/" not in relocate.machine_paths(Context(cache_dir=tmp_path))


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_what_zig_links_names_no_build_path(arch, tmp_path):
    """zig's runtime files (compiler_rt, the start file) carry no debug info
    once a toolchain is prepared, in every optimisation mode; a program and a
    shared library linked with debug info, from a work directory, name none
    of this machine's paths."""
    ctx = Context(build_dir=tmp_path / "build", cache_dir=tmp_path / "cache" / "nested")  # a cache of its own
    tools = toolchain.prepare(ctx, TARGETS[arch])
    for optimisation in zig_runtime.OPTIMISATIONS:
        runtime = zig_runtime.files(tools, optimisation, tmp_path / "probe")
        assert {path.name for path in runtime} >= {"libcompiler_rt.a", "Scrt1.o"}, (optimisation, runtime)
        for path in runtime:
            sections = subprocess.run(["llvm-objdump", "-h", str(path)], capture_output=True, text=True).stdout
            assert ".debug_info" not in sections, path
    work = ctx.build_dir / "work" / arch  # where builds compile: the wrappers map it to /build
    work.mkdir(parents=True)
    # 128-bit or 64-bit division and complex arithmetic pull compiler_rt in, as libmpdec and CPython do.
    (work / "program.c").write_text("#include <complex.h>\n"
                                    "double complex twice(double complex z) { return z * z; }\n"
                                    "long long divide(long long a, long long b) { return a / b; }\n"
                                    "int main(int argc, char **argv) { (void)argv; return (int)divide(argc, 3); }\n")
    env = tools.environment(0)
    out = tmp_path / "tree"
    out.mkdir()
    for flags, name in (([], "program"), (["-shared"], "libprogram.so")):
        subprocess.run([tools.cc, *tools.cflags, "-g", "-O2", *flags, "program.c", "-o", str(out / name)],
                       cwd=work, check=True, capture_output=True, env=env)
    assert relocate.find_leaks(out, relocate.machine_paths(ctx) + [str(tmp_path)]) == []


def test_zig_compiles_its_runtime_with_debug_info_that_names_the_cache(tmp_path):
    """Why the toolchain strips it: zig left to itself (a cache of its own,
    no wrapper) gives its start file and compiler_rt debug info naming its
    cache and the directory the first link ran in."""
    zig = toolchain.zig_executable(Context().project.toolchain.version)
    cache, work = tmp_path / "zig-cache", tmp_path / "first-build"
    work.mkdir()
    (work / "main.c").write_text("int main(void) { return 0; }\n")
    result = subprocess.run([str(zig), "cc", "-target", "x86_64-linux-musl", "-dynamic", "-pie", "-fPIE", "-O2",
                             "-v", "main.c", "-o", "main"], cwd=work, capture_output=True, text=True, check=True,
                            env={"PATH": "/usr/bin:/bin", "ZIG_GLOBAL_CACHE_DIR": str(cache),
                                 "ZIG_LOCAL_CACHE_DIR": str(cache)})
    start = next(Path(p) for p in result.stderr.split() if p.endswith("/Scrt1.o"))
    assert start.is_relative_to(cache)
    linked = (work / "main").read_bytes()
    assert str(work).encode() in linked  # Scrt1.o's DW_AT_comp_dir: where the first link ran
    assert str(zig.parent.resolve()).encode() in linked  # the start file's source, in zig's lib directory
