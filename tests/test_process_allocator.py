"""The process-allocator option: the executable's malloc family forwarding to
mimalloc, which 3.13 and later compile into libpython and 3.9 to 3.12 get
as a dependency (CPython 3.13's copy, recipes/deps/mimalloc.toml) linked
into the executable. Here malloc-override.o and that dependency, built by
the pipeline for each target, are linked as each toolchain links
bin/python3.X into a program that allocates the ways libraries do, and run
where the target's programs run."""
from __future__ import annotations

import subprocess

import pytest
from conftest import keyed_job, object_symbols
from packaging.version import Version

from musl_cpython import REPO, cpython, dependencies, elf, emulation, executable_objects, pipeline, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.errors import MissingHostTool, UsageError
from musl_cpython.python_recipes import load_pythons
from musl_cpython.recipes import load_dependencies, load_project, load_targets, target_for

OPTION = "process-allocator"
FAMILY = {"malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign", "memalign", "malloc_usable_size",
          "reallocarray"}
CHECK = REPO / "tests" / "fixtures" / "process_allocator_check.c"
TARGETS = load_targets()
# Every way bin/python3.X is linked: zig (every arch's LTO build), musl-gcc
# (x86_64's PGO build) and each cross GCC (PGO cross builds).
LINKS = [(arch, "zig") for arch in sorted(TARGETS)] + [("x86_64", "musl-gcc")] + [
    (arch, "cross-gcc") for arch in sorted(TARGETS) if TARGETS[arch].cross_gcc]


@pytest.mark.parametrize("arch, kind", LINKS, ids=[f"{arch}-{kind}" for arch, kind in LINKS])
def test_the_executables_malloc_family_serves_libc_and_threads_from_mimalloc(arch, kind, tmp_path):
    target = TARGETS[arch]
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {arch} programs: {'; '.join(missing)}")
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    zig = toolchain.prepare(ctx, target)
    try:
        linker = zig if kind == "zig" else toolchain.for_cpython(ctx, target, zig, profile_guided=True)
    except MissingHostTool as e:
        pytest.skip(f"this machine lacks the {kind} compiler: {e}")
    assert linker.kind.name == kind
    mimalloc = dependencies.build_all(ctx, target, zig, ["mimalloc"])["mimalloc"]
    work, log, env = tmp_path / "objects", tmp_path / "objects.log", linker.environment(0)
    [override] = executable_objects.compile_objects(linker, ["malloc-override.c"], work, env, log)
    defined, undefined = object_symbols(override)
    assert defined == FAMILY
    assert undefined == {"mi_" + name for name in FAMILY}  # forwards, and calls nothing else
    assert executable_objects.compiler_rt_copy(linker, [override], work, env, log) == []  # compiler_rt has none of them
    program = work / "check"
    compiled = subprocess.run([linker.cc, *linker.cflags, "-O2", str(CHECK), str(override),
                               str(mimalloc.root / "lib" / "mimalloc.o"), "-o", str(program), "-pthread",
                               "-Wl,-export-dynamic"], capture_output=True, text=True, env=env)
    assert compiled.returncode == 0, compiled.stderr
    exported = elf.exported_symbols(program)
    assert FAMILY <= exported and not [name for name in exported if name.startswith(("mi_", "_mi_"))]
    with emulation.runner(ctx, target, [work]) as runner:
        result = subprocess.run(runner.argv([program], work), capture_output=True, text=True, cwd=work,
                                env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout.endswith("0 failed\n"), result.stdout + result.stderr
    assert result.stdout.count("ok: ") == 19 and result.stderr == ""


def test_the_mimalloc_dependency_is_an_object_for_the_executable_from_cpython_313s_pinned_source():
    mimalloc = load_dependencies()["mimalloc"]
    assert mimalloc.executable_object == "mimalloc.o" and not mimalloc.modules
    assert mimalloc.sources == load_pythons()["3.13"].releases[0].sources  # the pinned 3.13 release, whole


def test_the_option_is_on_by_default_everywhere_and_3_9_to_3_12_link_the_mimalloc_dependency():
    project = load_project()
    for minor, recipe in load_pythons().items():
        for arch in TARGETS:
            assert OPTION in recipe.choose_options(arch), (minor, arch)
        # A build without PGO links with zig on x86_64 too, and keeps it.
        assert OPTION in pipeline.with_build_options(recipe, target_for("x86_64"), remove=("pgo",)).enabled_options
        folded = recipe.with_options(recipe.choose_options("x86_64", remove=("memory-routines",)))
        assert folded.executable_objects == ("malloc-override.c",)
        assert ("mimalloc" in folded.depends) == (Version(minor) < Version("3.13")), minor
        without = recipe.with_options(recipe.choose_options("x86_64", remove=("memory-routines", OPTION)))
        assert "mimalloc" not in without.depends and without.executable_objects == ()
        material = cpython.cache_material(project, keyed_job(folded))
        assert set(material["executable_objects"]["sources"]) == {"malloc-override.c"}
        assert "executable_objects" not in cpython.cache_material(project, keyed_job(without))


def test_from_313_it_needs_the_static_interpreter_whose_libpython_objects_hold_mimalloc():
    """libpython3.13.so exports no mi_ function (LTO keeps them), so a
    dynamically linked interpreter could not call them: without
    static-interpreter the option is left out, and asked for, refused.
    3.9 to 3.12 link their own mimalloc object and keep it."""
    pythons = load_pythons()
    assert OPTION not in pythons["3.13"].choose_options("x86_64", remove=("static-interpreter",))
    with pytest.raises(UsageError, match="'process-allocator' needs 'static-interpreter' for Python 3.13"):
        pythons["3.13"].choose_options("x86_64", add=(OPTION,), remove=("static-interpreter",))
    assert OPTION in pythons["3.11"].choose_options("x86_64", remove=("static-interpreter",))
