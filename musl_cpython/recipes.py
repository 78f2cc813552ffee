"""Load the declarative recipes under recipes/ into typed objects.

Everything that says what to build (versions, pins, options, per-target
names) is data in TOML; code only interprets it. Each table has a schema
(the dataclasses below, through schema.py): a misspelt key is an error that
names the file and the key.

This module holds the project settings, the targets and the dependencies,
and how every recipe file is read; python_recipes.py holds the CPython
recipes (versions, version ranges and build options).
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO, schema
from .errors import BuildError, RecipeError, UsageError

RECIPES = REPO / "recipes"
PATCHES = REPO / "patches"  # what CPython's and the dependencies' recipes name in `patches`


@dataclass(frozen=True)
class SourceFile:
    """One pinned file and the places it may come from."""

    file: str
    sha256: str
    url: str | None = None
    debian: str | None = None  # Debian source package whose orig tarball this is
    pypi: str | None = None  # a requirement (pip==26.3) that pip downloads from its package index
    note: str = ""


@dataclass(frozen=True)
class DebianPackage:
    """A Debian binary package, pinned by version and sha256."""

    package: str
    version: str
    sha256: str


@dataclass(frozen=True)
class Target:
    arch: str
    triple: str
    zig_target: str
    platform_triplet: str
    musl_loader: str
    debian_arch: str
    musl_deb_sha256: str
    musl_newest_deb_sha256: str
    uv_arch: str
    uv_libc: str
    docker_platform: str
    runner: str
    autoconf_host: str
    wheel_arch: str
    byteorder: str
    native_on: tuple[str, ...]
    qemu: str
    cflags: tuple[str, ...] = ()
    zig_cpu: str = ""  # zig's -mcpu, where the target's default CPU assumes too much
    # The compiler of PGO builds on a glibc host of this arch (the musl-gcc
    # toolchain): Debian's GCC and binutils from these packages of this
    # suite, unpacked into the cache (pinned_gcc.py), with the specs of
    # Debian's musl-dev (musl_dev_deb_sha256) and zig's directory of Linux
    # headers for the arch.
    gcc_debs: tuple[DebianPackage, ...] = ()
    gcc_suite: str = ""
    zig_kernel_headers: str = ""
    # The profiling compiler of a PGO cross build from another arch (build
    # --with pgo): Debian's cross GCC of this prefix (package gcc-<prefix>),
    # with the specs, headers and start files of Debian's musl-dev for this
    # arch (the oldest supported musl's, pinned by sha256; the musl-gcc
    # toolchain's too).
    cross_gcc: str = ""
    musl_dev_deb_sha256: str = ""
    # Build options the release workflow asks for by name for this target
    # (build --with NAME), where a version and variant take them: what its
    # published archives have beyond a local build's defaults.
    release_options: tuple[str, ...] = ()
    # Variables every command of a zig build gets for this target only; @ZIG@ is zig.
    zig_environment: dict[str, str] = field(default_factory=dict)
    # Where Debian has no package of the oldest supported musl for this arch:
    # the version (and suite) verification uses instead.
    musl_debian_version: str = ""
    musl_debian_suite: str = ""


@dataclass(frozen=True)
class DependencyBuild:
    style: str  # autotools, cmake or commands
    configure: tuple[str, ...] = ()
    make: tuple[str, ...] = ()
    install: tuple[str, ...] = ("install",)
    cmake: tuple[str, ...] = ()
    subdir: str = "."
    steps: tuple[tuple[str, ...], ...] = ()
    after_install: tuple[tuple[str, ...], ...] = ()
    cflags: tuple[str, ...] = ()
    cppflags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    licenses: tuple[str, ...]
    modules: tuple[str, ...]
    sources: tuple[SourceFile, ...]
    build: DependencyBuild
    license_files: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    vars: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> arch -> value
    patches: tuple[str, ...] = ()  # files under patches/, applied in order to the unpacked source
    # Where a library is no shared library but an object (under lib/) that a
    # build option links into bin/python3.X alone, as it does its executable
    # objects: nothing else links it, and the distribution bundles no file of it.
    executable_object: str = ""
    path: Path | None = field(default=None, compare=False, metadata={"internal": True})  # set by the loader


@dataclass(frozen=True)
class MuslSettings:
    minimum: str
    debian_version: str
    debian_suite: str
    newest_debian_version: str
    newest_debian_suite: str
    functions_after_minimum: tuple[str, ...]
    debian_minimum_lacks: tuple[str, ...]


@dataclass(frozen=True)
class ZigSettings:
    package: str
    version: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]


@dataclass(frozen=True)
class CompilerFlags:
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]


@dataclass(frozen=True)
class ContainerSettings:
    alpine: str
    alpine_digest: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    build_tag: str
    source_date_epoch: int
    musl: MuslSettings
    toolchain: ZigSettings
    native_toolchain: CompilerFlags
    container: ContainerSettings


def recipe_name(path: Path) -> str:
    """How errors name a recipe file: recipes/<...>.toml."""
    return str(path.relative_to(RECIPES.parent)) if path.is_relative_to(RECIPES.parent) else str(path)


def load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{recipe_name(path)}: {e}") from None


def check_pins(sources: tuple[SourceFile, ...], where: str) -> None:
    if not sources:
        raise RecipeError(f"{where}: no [[sources]] pinned")
    for src in sources:
        if len(src.sha256) != 64 or any(c not in "0123456789abcdef" for c in src.sha256):
            raise RecipeError(f"{where}: {src.file}: bad sha256 {src.sha256!r}")


def load_project() -> Project:
    path = RECIPES / "project.toml"
    return schema.build(Project, load_toml(path), recipe_name(path))


def load_targets() -> dict[str, Target]:
    targets = {}
    for path in sorted((RECIPES / "targets").glob("*.toml")):
        target = schema.build(Target, load_toml(path), recipe_name(path))
        targets[target.arch] = target
    return targets


def load_dependencies() -> dict[str, Dependency]:
    deps = {}
    for path in sorted((RECIPES / "deps").glob("*.toml")):
        dep = schema.build(Dependency, load_toml(path), recipe_name(path))
        check_pins(dep.sources, recipe_name(path))
        deps[dep.name] = dataclasses.replace(dep, path=path)
    for dep in deps.values():
        for name in dep.depends:
            if name not in deps:
                raise RecipeError(f"{recipe_name(dep.path)}: depends on unknown {name!r}")
    return deps


# Keys of a version-ranged item: the range, and its value (or, in tables of reasons, its reason).
def target_for(arch: str) -> Target:
    targets = load_targets()
    if arch not in targets:
        raise UsageError(f"unknown arch {arch!r}; known arches: {', '.join(targets)}")
    return targets[arch]


def target_for_triple(triple: str) -> Target | None:
    return next((t for t in load_targets().values() if t.triple == triple), None)


def dependency_closure(names, deps: dict[str, Dependency]) -> list[Dependency]:
    """The named dependencies and what they depend on, in build order."""
    order: list[Dependency] = []
    seen: set[str] = set()

    def visit(name, chain=()):
        if name in chain:
            raise BuildError(f"dependency cycle: {' -> '.join(chain + (name,))}")
        if name in seen:
            return
        for sub in deps[name].depends:
            visit(sub, chain + (name,))
        seen.add(name)
        order.append(deps[name])

    for name in names:
        if name not in deps:
            raise BuildError(f"unknown dependency {name!r}")
        visit(name)
    return order
