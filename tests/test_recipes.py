import re

import pytest

from musl_cpython.errors import UsageError
from musl_cpython.recipes import (PATCHES, dependency_closure, load_dependencies, load_project,
                                  load_pythons, load_targets, python_for, target_for)

SPDX = re.compile(r"^[A-Za-z0-9.+-]+$")


def test_every_dependency_is_pinned_and_licensed():
    deps = load_dependencies()
    assert {"zlib", "bzip2", "xz", "libffi", "openssl", "sqlite", "ncurses", "libedit",
            "mpdecimal", "expat", "libuuid", "gdbm", "zstd"} <= set(deps)
    for dep in deps.values():
        assert dep.licenses and all(SPDX.match(lic) for lic in dep.licenses), dep.name
        assert dep.modules, f"{dep.name}: which stdlib modules need it?"
        for src in dep.sources:
            assert src.url or src.debian, f"{dep.name}: {src.file} has nowhere to come from"
            if src.debian:
                assert src.note, f"{dep.name}: say how Debian's file relates to upstream"


def test_targets_carry_every_name_a_build_needs():
    for arch, target in load_targets().items():
        assert target.triple.startswith(arch) and "linux-musl" in target.triple
        # musl names its loader for its own arch name (armhf, i386, powerpc64le...),
        # which the Debian package for the arch provides (tests/test_emulation.py runs it).
        assert re.fullmatch(r"/lib/ld-musl-[a-z0-9_]+\.so\.1", target.musl_loader)
        assert target.zig_target.endswith("-linux-musl") or "musleabi" in target.zig_target
        assert target.autoconf_host.split("-")[1:] == target.zig_target.split("-")[1:]
        assert target.debian_arch and target.byteorder in ("little", "big")


def test_python_recipes_name_existing_patches_and_their_why():
    for recipe in load_pythons().values():
        for patch in recipe.patch_paths():
            text = patch.read_text()
            assert text.startswith("What:") and "\nWhy:" in text, patch
            assert "\n--- a/" in text
        assert set(recipe.depends) <= set(load_dependencies())


def test_version_specs():
    recipe, releases = python_for("3.13")
    assert [r.version for r in releases] == sorted((r.version for r in releases),
                                                   key=lambda v: tuple(map(int, v.split("."))),
                                                   reverse=True)
    _, exact = python_for("3.13.15")
    assert [r.version for r in exact] == ["3.13.15"]
    for bad in ("3.7", "3.13.99", "three"):
        with pytest.raises(UsageError) as e:
            python_for(bad)
        assert e.value.exit_code == 2 and "3.13" in str(e.value)


def test_unknown_arch_lists_known_ones():
    with pytest.raises(UsageError) as e:
        target_for("vax")
    assert e.value.exit_code == 2 and "x86_64" in str(e.value)


def test_dependency_order_puts_libraries_before_their_users():
    order = [d.name for d in dependency_closure(["libedit"], load_dependencies())]
    assert order == ["ncurses", "libedit"]


def test_project_settings():
    project = load_project()
    assert project.source_date_epoch > 0 and project.build_tag
    flags = " ".join(project.toolchain["ldflags"])
    for flag in ("relro", "now", "noexecstack", "stack-size"):
        assert flag in flags
    assert PATCHES.is_dir()
