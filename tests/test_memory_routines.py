"""The memory-routines build option: our memcpy, memmove, memset, memcmp and
bcmp, compiled as builds compile them, must give musl's results.

A check program (fixtures/memory_routines_check.c) compares each routine
with the C library's on random sizes, alignments, overlaps and contents:
for every target as zig compiles it (under qemu in the arch's root, with
fewer cases), and on x86_64 as the PGO build compiles and links it, where
the executable exports it in place of musl's.
"""
from __future__ import annotations

import dataclasses
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import keyed_job, object_symbols

from musl_cpython import cpython, elf, emulation, executable_objects, pipeline, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.errors import MissingHostTool
from musl_cpython.python_recipes import RESOURCES, load_pythons
from musl_cpython.recipes import load_project, load_targets, target_for

TARGETS = load_targets()
CHECK = Path(__file__).parent / "fixtures" / "memory_routines_check.c"
ROUTINES = {"memcpy", "memmove", "memset", "memcmp", "bcmp"}
NATIVE_CASES = 1_000_000  # per routine
EMULATED_CASES = 100_000


def run_check(tools: toolchain.Toolchain, target, tmp_path: Path, obj: Path, cases: int, *flags: str) -> str:
    """Link the check program with `obj` and run it where the target's programs run."""
    program = obj.parent / "check"
    compiled = subprocess.run([tools.cc, *tools.cflags, "-O2", *flags, str(CHECK), str(obj), "-o", str(program)],
                              capture_output=True, text=True, env=tools.environment(0))
    assert compiled.returncode == 0, compiled.stderr
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    with emulation.runner(ctx, target, [obj.parent]) as runner:
        result = subprocess.run(runner.argv([program, str(cases), "20261202"], obj.parent), capture_output=True,
                                text=True, cwd=obj.parent, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{cases} cases per routine passed" in result.stdout
    return result.stdout


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_routines_give_musls_results_on_every_arch(arch, tmp_path):
    """Compiled by zig for each target with the build's flags, under other
    names (zig's linker would not export them: see the option's reason)."""
    target = TARGETS[arch]
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {arch} programs: {'; '.join(missing)}")
    tools = toolchain.prepare(Context(build_dir=tmp_path / "toolchain", cache_dir=default_cache_dir()), target)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(RESOURCES / "memory-routines.c", work / "memory-routines.c")
    renames = [f"-D{name}=ours_{name}" for name in sorted(ROUTINES)]
    subprocess.run([tools.cc, *tools.cflags, *executable_objects.OBJECT_FLAGS, *renames, "-c", "memory-routines.c",
                    "-o", "routines.o"], check=True, cwd=work, env=tools.environment(0))
    defined, undefined = object_symbols(work / "routines.o")
    assert defined == {f"ours_{name}" for name in ROUTINES}
    # Calling anything (memcpy above all, which compilers emit for copy loops) would recurse or leave musl's in use.
    assert not undefined, f"the routines call {sorted(undefined)}"
    run_check(tools, target, tmp_path, work / "routines.o",
              NATIVE_CASES if emulation.runs_directly(target) else EMULATED_CASES, "-DRENAMED")


GCC_LINKS = ["x86_64"] + sorted(arch for arch, target in TARGETS.items() if target.cross_gcc)


@pytest.mark.parametrize("arch", GCC_LINKS)
def test_a_gcc_linked_executable_exports_the_routines_in_place_of_musls(arch, tmp_path):
    """The object as PGO builds compile and link it (GCC with musl's specs:
    Debian's on x86_64, each cross GCC elsewhere): the executable's
    definitions are what every later lookup finds, and they agree with the
    C library's."""
    target = TARGETS[arch]
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {arch} programs: {'; '.join(missing)}")
    ctx = Context(build_dir=tmp_path / "toolchain", cache_dir=default_cache_dir())
    try:
        gcc = toolchain.for_cpython(ctx, target, toolchain.prepare(ctx, target), profile_guided=True)
    except MissingHostTool as e:
        pytest.skip(f"this machine lacks the PGO compiler: {e}")
    assert gcc.kind.name == ("musl-gcc" if arch == platform.machine() else "cross-gcc")
    [obj] = executable_objects.compile_objects(gcc, ["memory-routines.c"], tmp_path / "objects",
                                               gcc.environment(0), tmp_path / "objects.log")
    defined, undefined = object_symbols(obj)
    assert defined == ROUTINES and not undefined
    out = run_check(gcc, target, tmp_path, obj, NATIVE_CASES if emulation.runs_directly(target) else EMULATED_CASES,
                    f"-Wl,{executable_objects.LINKFORSHARED.split()[-1]}")
    for routine in ROUTINES:
        assert f"{routine}: ours from {obj.parent / 'check'}, the C library's from " in out


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_a_zig_linked_executable_exports_them_with_compiler_rts_copies_made_local(arch, tmp_path):
    """zig's compiler_rt defines the routines weak and hidden: linked as
    they are, the executable keeps its own to itself (the reproduction of
    why a zig link needs executable_objects.compiler_rt_copy). Linked before
    zig's, its copy with them local leaves ours the only global definitions:
    exported in place of musl's, and agreeing with them."""
    target = TARGETS[arch]
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {arch} programs: {'; '.join(missing)}")
    tools = toolchain.prepare(Context(build_dir=tmp_path / "toolchain", cache_dir=default_cache_dir()), target)
    work, env = tmp_path / "objects", tools.environment(0)
    [obj] = executable_objects.compile_objects(tools, ["memory-routines.c"], work, env, tmp_path / "objects.log")
    # As bin/python3.X links: exported symbols, and compiler_rt pulled in
    # (CPython's complex arithmetic calls its __muldc3, for one).
    flags = [f"-Wl,{executable_objects.LINKFORSHARED.split()[-1]}", "-Wl,-u,__muldc3"]
    hidden = work / "hidden"
    subprocess.run([tools.cc, *tools.cflags, "-O2", str(CHECK), str(obj), "-o", str(hidden), *flags], check=True,
                   capture_output=True, env=env)
    assert elf.read(hidden).position_independent  # linked as the interpreter is: PIE
    assert not ROUTINES & elf.exported_symbols(hidden), "zig's link exported them without the local copy"
    runtime = executable_objects.compiler_rt_copy(tools, [obj], work, env, tmp_path / "objects.log")
    assert [path.name for path in runtime] == ["libcompiler_rt-local.a"]
    out = run_check(tools, target, tmp_path, obj, NATIVE_CASES if emulation.runs_directly(target) else EMULATED_CASES,
                    *flags, *map(str, runtime))
    for routine in ROUTINES:
        assert f"{routine}: ours from {work / 'check'}, the C library's from " in out


def test_the_option_is_on_by_default_everywhere_and_only_builds_with_it_are_keyed():
    recipe = load_pythons()["3.13"]
    for arch in TARGETS:
        assert "memory-routines" in pipeline.with_build_options(recipe, TARGETS[arch]).enabled_options, arch
    # Without PGO, CPython links with zig on x86_64 too, and keeps them.
    assert "memory-routines" in pipeline.with_build_options(recipe, target_for("x86_64"),
                                                            remove=("pgo",)).enabled_options
    plain = recipe.with_options(recipe.choose_options("x86_64", remove=("memory-routines", "process-allocator")))
    with_routines = recipe.with_options(recipe.choose_options("x86_64", remove=("process-allocator",)))
    assert plain.executable_objects == () and with_routines.executable_objects == ("memory-routines.c",)
    job, project = keyed_job(plain), load_project()
    assert "executable_objects" not in cpython.cache_material(project, job)
    material = cpython.cache_material(project, dataclasses.replace(job, recipe=with_routines))
    assert set(material["executable_objects"]["sources"]) == {"memory-routines.c"}
