"""Load the declarative recipes under recipes/ into typed objects.

Everything that says what to build (versions, pins, options, per-target
names) is data in TOML; code only interprets it.
"""
from __future__ import annotations

import platform
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from . import REPO
from .errors import BuildError, UsageError

RECIPES = REPO / "recipes"
PATCHES = REPO / "patches"


@dataclass(frozen=True)
class SourceFile:
    """One pinned file and the places it may come from."""

    file: str
    sha256: str
    url: str | None = None
    debian: str | None = None  # Debian source package whose orig tarball this is
    note: str = ""


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
    # Debian's musl-gcc specs for this arch (package musl-tools), and zig's
    # directory of Linux headers for it: the compiler of PGO builds on a
    # glibc host of this arch.
    musl_gcc_specs: str = ""
    zig_kernel_headers: str = ""
    # Variables every command of a zig build gets for this target only; @ZIG@ is zig.
    zig_environment: dict = field(default_factory=dict)
    # Where Debian has no package of the oldest supported musl for this arch:
    # the version (and suite) verification uses instead.
    musl_debian_version: str = ""
    musl_debian_suite: str = ""


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    licenses: tuple[str, ...]
    modules: tuple[str, ...]
    sources: tuple[SourceFile, ...]
    build: dict
    license_files: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    vars: dict = field(default_factory=dict)
    path: Path | None = None


@dataclass(frozen=True)
class PythonRelease:
    version: str
    sources: tuple[SourceFile, ...]


@dataclass(frozen=True)
class PythonRecipe:
    minor: str
    licenses: tuple[str, ...]
    license_files: tuple[str, ...]
    depends: tuple[str, ...]
    patches: tuple[str, ...]
    configure: tuple[str, ...]
    cflags: tuple[str, ...]
    missing_modules: dict
    may_be_absent: dict
    releases: tuple[PythonRelease, ...]
    environment: dict = field(default_factory=dict)  # extra variables for configure and make
    cross_environment: dict = field(default_factory=dict)  # ... and for cross builds only
    arch_configure: dict = field(default_factory=dict)  # arch -> configure arguments after the others

    def configure_for(self, arch: str) -> tuple[str, ...]:
        arguments = (*self.configure, *self.arch_configure.get(arch, ()))
        if platform.machine() != arch and "--enable-optimizations" in arguments:
            # PGO trains the instrumented interpreter on the build machine; a
            # cross build cannot run it (under qemu it would take hours).
            arguments = (*arguments, "--disable-optimizations")
        return arguments

    def profile_guided(self, arch: str) -> bool:
        """Whether builds for `arch` here use PGO (configure takes the last flag)."""
        flags = [a for a in self.configure_for(arch) if a in ("--enable-optimizations", "--disable-optimizations")]
        return bool(flags) and flags[-1] == "--enable-optimizations"
    wheels: dict = field(default_factory=dict)  # distribution -> module verification imports
    stdlib_tests: dict = field(default_factory=dict)  # CPython's own tests: modules, exclusions
    stripped: dict = field(default_factory=dict)  # what install_only_stripped leaves out

    def patch_paths(self) -> list[Path]:
        return [PATCHES / name for name in self.patches]


@dataclass(frozen=True)
class Project:
    build_tag: str
    source_date_epoch: int
    musl_minimum: str
    musl_debian_version: str
    musl_debian_suite: str
    musl_newest_debian_version: str
    musl_newest_debian_suite: str
    functions_after_minimum: tuple[str, ...]
    musl_debian_minimum_lacks: tuple[str, ...]
    toolchain: dict
    native_toolchain: dict
    container: dict


def _load(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BuildError(f"{path.relative_to(REPO)}: {e}") from None


def _sources(items: list[dict], where: Path) -> tuple[SourceFile, ...]:
    if not items:
        raise BuildError(f"{where.relative_to(REPO)}: no [[sources]] pinned")
    out = []
    for item in items:
        sha = item.get("sha256", "")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise BuildError(f"{where.relative_to(REPO)}: {item.get('file')}: bad sha256 {sha!r}")
        out.append(SourceFile(**item))
    return tuple(out)


def load_project() -> Project:
    data = _load(RECIPES / "project.toml")
    return Project(
        build_tag=data["build_tag"],
        source_date_epoch=int(data["source_date_epoch"]),
        musl_minimum=data["musl"]["minimum"],
        musl_debian_version=data["musl"]["debian_version"],
        musl_debian_suite=data["musl"]["debian_suite"],
        musl_newest_debian_version=data["musl"]["newest_debian_version"],
        musl_newest_debian_suite=data["musl"]["newest_debian_suite"],
        functions_after_minimum=tuple(data["musl"]["functions_after_minimum"]),
        musl_debian_minimum_lacks=tuple(data["musl"]["debian_minimum_lacks"]),
        toolchain=data["toolchain"],
        native_toolchain=data["native_toolchain"],
        container=data["container"],
    )


def load_targets() -> dict[str, Target]:
    targets = {}
    for path in sorted((RECIPES / "targets").glob("*.toml")):
        data = _load(path)
        data["cflags"] = tuple(data.get("cflags", ()))
        data["native_on"] = tuple(data.get("native_on", ()))
        targets[data["arch"]] = Target(**data)
    return targets


def load_dependencies() -> dict[str, Dependency]:
    deps = {}
    for path in sorted((RECIPES / "deps").glob("*.toml")):
        data = _load(path)
        deps[data["name"]] = Dependency(
            name=data["name"],
            version=data["version"],
            licenses=tuple(data["licenses"]),
            modules=tuple(data.get("modules", ())),
            sources=_sources(data.get("sources", []), path),
            build=data["build"],
            license_files=tuple(data.get("license_files", ())),
            depends=tuple(data.get("depends", ())),
            vars=data.get("vars", {}),
            path=path,
        )
    for dep in deps.values():
        for name in dep.depends:
            if name not in deps:
                raise BuildError(f"{dep.path.relative_to(REPO)}: depends on unknown {name!r}")
    return deps


# Tables a per-version recipe extends rather than replaces.
_EXTENDED_TABLES = ("missing_modules", "may_be_absent", "wheels", "environment")


def load_pythons() -> dict[str, PythonRecipe]:
    common = _load(RECIPES / "python" / "common.toml")
    pythons = {}
    for path in sorted((RECIPES / "python").glob("3.*.toml")):
        own = _load(path)
        data = common | own
        for table in _EXTENDED_TABLES:
            data[table] = common.get(table, {}) | own.get(table, {})
        data["cflags"] = [*common.get("cflags", ()), *own.get("cflags", ())]
        tests, own_tests = common.get("stdlib_tests", {}), own.get("stdlib_tests", {})
        data["stdlib_tests"] = {"modules": own_tests.get("modules", tests.get("modules", [])),
                                "exclude": tests.get("exclude", {}) | own_tests.get("exclude", {})}
        releases = tuple(
            PythonRelease(version=r["version"], sources=_sources(r.get("sources", []), path))
            for r in data["releases"])
        pythons[data["minor"]] = PythonRecipe(
            minor=data["minor"],
            licenses=tuple(data["licenses"]),
            license_files=tuple(data.get("license_files", ())),
            depends=tuple(data["depends"]),
            patches=tuple(data.get("patches", ())),
            configure=tuple(data.get("configure", ())),
            cflags=tuple(data.get("cflags", ())),
            missing_modules=data.get("missing_modules", {}),
            may_be_absent=data.get("may_be_absent", {}),
            releases=tuple(sorted(releases, key=lambda r: Version(r.version), reverse=True)),
            environment=data.get("environment", {}),
            cross_environment=data.get("cross_environment", {}),
            arch_configure=data.get("arch_configure", {}),
            stripped=data.get("stripped", {}),
            wheels=data.get("wheels", {}),
            stdlib_tests=data.get("stdlib_tests", {}),
        )
    return dict(sorted(pythons.items(), key=lambda item: Version(item[0])))


def target_for(arch: str) -> Target:
    targets = load_targets()
    if arch not in targets:
        raise UsageError(f"unknown arch {arch!r}; known arches: {', '.join(targets)}")
    return targets[arch]


def python_for(spec: str) -> tuple[PythonRecipe, list[PythonRelease]]:
    """The recipe for a version spec, and the releases it may mean.

    '3.13' means every pinned 3.13 release, newest first (the caller takes
    the newest obtainable one); '3.13.15' means exactly that release.
    """
    pythons = load_pythons()
    known = [r.version for p in pythons.values() for r in p.releases]
    parts = spec.split(".")
    minor = ".".join(parts[:2])
    recipe = pythons.get(minor)
    if recipe is None or len(parts) not in (2, 3):
        raise UsageError(f"unknown Python version {spec!r}; known versions: "
                         f"{', '.join(pythons)} (pinned releases: {', '.join(known)})")
    if len(parts) == 2:
        return recipe, list(recipe.releases)
    matches = [r for r in recipe.releases if r.version == spec]
    if not matches:
        raise UsageError(f"unknown Python version {spec!r}; known versions: "
                         f"{', '.join(pythons)} (pinned releases: {', '.join(known)})")
    return recipe, matches


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
