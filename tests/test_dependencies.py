from dataclasses import replace
from pathlib import Path

import pytest

from musl_cpython import dependencies
from musl_cpython.cache import key_of
from musl_cpython.errors import BuildError
from musl_cpython.recipes import load_dependencies, load_project, load_targets


def test_placeholders_are_lower_case_so_make_variables_pass_through():
    values = {"cc": "/t/clang"}
    assert dependencies.fill("CC={cc} ${LDFLAGS} ${CC}", values, "x") == "CC=/t/clang ${LDFLAGS} ${CC}"
    with pytest.raises(BuildError, match="unknown placeholder {nope}"):
        dependencies.fill("{nope}", values, "x")


@pytest.mark.parametrize("arch", sorted(load_targets()))
def test_every_recipe_expands_for_every_target(ctx, tools, arch):
    target = load_targets()[arch]
    for dep in load_dependencies().values():
        values = dependencies.placeholder_values(ctx, dep, target, tools, Path("/d"), Path("/r/prefix"),
                                                 Path("/r"))
        commands, env = dependencies.expanded_plan(dep, ctx.project, values)
        assert commands and all(arg and "{" not in arg.replace("${", "") for c in commands for arg in c), dep.name
        assert env["PKG_CONFIG_LIBDIR"] == "/r/prefix/lib/pkgconfig"


def test_cache_key_follows_what_shapes_the_build(tools):
    project, target = load_project(), load_targets()["x86_64"]
    zlib = load_dependencies()["zlib"]

    def key(dep=zlib, toolchain=tools, depends=None):
        return key_of(dependencies.cache_material(dep, target, toolchain, project, depends or {}))
    assert key() == key()
    assert key(replace(zlib, build=replace(zlib.build, steps=(*zlib.build.steps, ("true",))))) != key()
    assert key(toolchain=replace(tools, identity="other")) != key()
    assert key(depends={"ncurses": "k"}) != key()


def test_a_build_that_fell_back_to_static_libraries_stops(tmp_path):
    """libtool builds only static libraries when it cannot probe the linker;
    CPython would then fail far from the cause, so the dependency stage stops."""
    lib = tmp_path / "prefix" / "lib"
    lib.mkdir(parents=True)
    (lib / "libedit.a").write_bytes(b"!<arch>\n")
    libedit = load_dependencies()["libedit"]
    with pytest.raises(BuildError, match="no shared library"):
        dependencies._tidy(tmp_path / "prefix", libedit)
    (lib / "libedit.so.0").write_bytes(b"\x7fELF")
    dependencies._tidy(tmp_path / "prefix", libedit)
    assert not (lib / "libedit.a").exists()  # static archives never reach CPython


def test_a_library_for_the_executable_installs_its_object_and_no_shared_library(tmp_path):
    lib = tmp_path / "prefix" / "lib"
    lib.mkdir(parents=True)
    mimalloc = load_dependencies()["mimalloc"]
    with pytest.raises(BuildError, match="no lib/mimalloc.o"):
        dependencies._tidy(tmp_path / "prefix", mimalloc)
    (lib / "mimalloc.o").write_bytes(b"\x7fELF")
    dependencies._tidy(tmp_path / "prefix", mimalloc)
    assert (lib / "mimalloc.o").is_file()
