"""The process-allocator option: the executable's malloc family forwarding
to the mimalloc CPython 3.13+ compiles into libpython. Here the object is
linked, as builds link it, against mimalloc's sources from the pinned 3.13
release, into a program that allocates the ways libraries do."""
from __future__ import annotations

import platform
import subprocess
import tarfile

import pytest
from conftest import keyed_job, object_symbols, pinned_source

from musl_cpython import REPO, cpython, executable_objects, pipeline, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.errors import MissingHostTool, UsageError
from musl_cpython.python_recipes import load_pythons
from musl_cpython.recipes import load_project, target_for

OPTION = "process-allocator"
FAMILY = {"malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign", "memalign", "malloc_usable_size",
          "reallocarray"}
CHECK = "process_allocator_check.c"


@pytest.mark.skipif(platform.machine() != "x86_64",
                    reason=f"Debian's musl-gcc targets the host's arch; this host is {platform.machine()}")
def test_the_executables_malloc_family_serves_libc_and_threads_from_mimalloc(tmp_path):
    recipe = load_pythons()["3.13"]
    source = pinned_source(recipe.releases[0], tmp_path)
    with tarfile.open(source) as tar:
        wanted = [m for m in tar.getmembers()
                  if m.name.split("/", 1)[-1].startswith(("Objects/mimalloc/", "Include/internal/mimalloc/"))]
        tar.extractall(tmp_path / "src", members=wanted, filter="data")
    src = next((tmp_path / "src").iterdir())
    target = target_for("x86_64")
    ctx = Context(build_dir=tmp_path / "toolchain", cache_dir=default_cache_dir())
    try:
        gcc = toolchain.for_cpython(ctx, target, toolchain.prepare(ctx, target), profile_guided=True)
    except MissingHostTool as e:
        pytest.skip(f"this machine lacks the PGO compiler: {e}")
    [obj] = executable_objects.compile_objects(gcc, ["malloc-override.c"], tmp_path / "objects",
                                               gcc.environment(0), tmp_path / "objects.log")
    defined, undefined = object_symbols(obj)
    assert defined == FAMILY
    assert undefined == {"mi_" + name for name in FAMILY}  # forwards, and calls nothing else
    program = tmp_path / "check"
    fixture = REPO / "tests" / "fixtures" / CHECK
    compiled = subprocess.run([gcc.cc, *gcc.cflags, "-O2", f"-I{src / 'Include/internal/mimalloc'}",
                               f"-I{src / 'Objects/mimalloc'}", str(fixture), str(obj), "-o", str(program),
                               "-pthread", "-Wl,-export-dynamic"], capture_output=True, text=True,
                              env=gcc.environment(0))
    assert compiled.returncode == 0, compiled.stderr
    result = subprocess.run([str(program)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout.endswith("0 failed\n"), result.stdout + result.stderr
    assert result.stdout.count("ok: ") == 19 and result.stderr == ""


def test_the_option_applies_to_3_13_and_later_on_x86_64_is_on_by_default_and_keys_only_builds_that_have_it():
    pythons = load_pythons()
    with pytest.raises(UsageError, match="does not apply to Python 3.11 for x86_64; it applies to Python >=3.13 "
                                         "on arches x86_64"):
        pythons["3.11"].choose_options("x86_64", add=(OPTION,))
    with pytest.raises(UsageError, match="does not apply to Python 3.13 for aarch64"):
        pythons["3.13"].choose_options("aarch64", add=(OPTION,))
    recipe = pythons["3.13"]
    assert OPTION in recipe.choose_options("x86_64")  # on by default
    assert OPTION not in pipeline.with_build_options(recipe, target_for("x86_64"), remove=("pgo",)).enabled_options
    folded = recipe.with_options(recipe.choose_options("x86_64", remove=("memory-routines",)))
    assert folded.executable_objects == ("malloc-override.c",)
    material = cpython.cache_material(load_project(), keyed_job(folded))
    assert set(material["executable_objects"]["sources"]) == {"malloc-override.c"}
