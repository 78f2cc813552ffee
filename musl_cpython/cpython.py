"""Configure, build and install CPython against the bundled dependencies.

The result is cached like a dependency: an install tree under prefix
/install (uv's convention for relocatable builds) plus build-info.json,
keyed by the release pin, the patches, the options, the toolchain, the
dependency keys and, for PGO builds, the profile (pgo.py), with which
CPython is compiled once.
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import archives, cache, executable_objects, patching, sources, stdlib_modules
from .context import Context
from .dependencies import BuiltDependency, assemble_sysroot, fill
from .errors import BuildError
from .python_recipes import RESOURCES, PythonRecipe, PythonRelease
from .recipes import Target
from .steps import detail, run, stage
from .toolchain import Toolchain, build_triplet, write_script

INSTALL_PREFIX = "/install"


@dataclass(frozen=True)
class BuiltPython:
    release: PythonRelease
    key: str
    path: Path
    info: dict

    @property
    def tree(self) -> Path:
        """The installed tree: what becomes python/ in the archive."""
        return self.path / INSTALL_PREFIX.lstrip("/")


@dataclass(frozen=True)
class BuildPython:
    """The same release built for this machine: what a cross build runs to
    generate code, freeze modules, byte-compile and install pip."""
    program: Path  # a wrapper that finds the build's bundled libraries
    key: str


@dataclass(frozen=True)
class Job:
    """Everything one CPython build is made from."""

    recipe: PythonRecipe
    release: PythonRelease
    target: Target
    toolchain: Toolchain  # CPython's own (for PGO builds it may differ from the dependencies')
    dependencies: dict[str, BuiltDependency] = field(hash=False)
    build_python: BuildPython | None = None  # set for cross builds
    profile: object | None = None  # pgo.Profile: the training profile a PGO build compiles with

    @property
    def version(self) -> str:
        return self.release.version

    @property
    def minor(self) -> str:
        return self.recipe.minor

    @property
    def ldversion(self) -> str:
        return self.recipe.ldversion(self.recipe.abiflags)

    @property
    def stdlib_dir(self) -> str:
        return self.recipe.stdlib_dir(self.recipe.abiflags)

    @property
    def profile_guided(self) -> bool:
        return self.recipe.profile_guided(self.target.arch)


def build_python(ctx: Context, python: BuiltPython, deps: dict[str, BuiltDependency], ldversion: str) -> BuildPython:
    """A runnable wrapper around a cached build for this machine. Its RUNPATH
    names a build-time sysroot that no longer exists, so the wrapper points
    the loader at the cached dependency builds instead."""
    program = python.tree / "bin" / f"python{ldversion}"
    libraries = ":".join([str(python.tree / "lib"), *(str(dep.root / "lib") for dep in deps.values())])
    wrapper = build_python_wrapper(ctx.build_dir / "toolchain", python.release.version)
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    write_script(wrapper, f"#!/bin/sh\n# Generated: CPython {python.release.version} for this machine, for cross "
                          f"builds.\nLD_LIBRARY_PATH={shlex.quote(libraries)} exec "
                          f"{shlex.quote(str(program))} \"$@\"\n")
    return BuildPython(wrapper, python.key)


def build_python_wrapper(toolchains: Path, version: str) -> Path:
    """Where build_python() writes its wrapper: in the build directory's
    toolchain directory (whose toolchains' own directories build-info.json
    records), so a cross build's files that name it can be found later
    from any build directory."""
    return toolchains / f"python-for-build-{version}"


def _configure_env(recipe: PythonRecipe, project, cross: bool = False) -> dict[str, str]:
    env = {
        "CPPFLAGS": "-I{deps}/include",
        # The build runs ./python, which must find the bundled libraries; the
        # relocation stage replaces this RUNPATH with $ORIGIN-relative ones.
        "LDFLAGS": "-L{deps}/lib -Wl,-rpath,{deps_rpath}",
        "CFLAGS": " ".join(["{cflags}", *recipe.cflags]),
        "PKG_CONFIG_LIBDIR": "{deps}/lib/pkgconfig",
        "PKG_CONFIG_SYSROOT_DIR": "{sysroot}",
        # configure insists on llvm-ar for LTO with clang (zig's ar is one); GCC builds ignore it.
        "LLVM_AR": "{ar}",
    }
    env.update({f"ac_cv_func_{name}": "no" for name in project.musl.functions_after_minimum})
    env.update(recipe.environment)
    if cross:
        env.update(recipe.cross_environment)
    return env


def cache_material(project, job: Job) -> dict:
    recipe, release, target, deps = job.recipe, job.release, job.target, job.dependencies
    material = {
        "version": release.version,
        "sources": [s.sha256 for s in release.sources],
        "patches": {name: hashlib.sha256(path.read_bytes()).hexdigest()
                    for name, path in zip(recipe.patches, recipe.patch_paths())},
        "configure": list(recipe.configure), "make": list(recipe.make), "env": _configure_env(recipe, project),
        "missing_modules": sorted(recipe.missing_modules),
        "prefix": INSTALL_PREFIX,
        "target": [target.arch, target.zig_target, target.platform_triplet, list(target.cflags)],
        "toolchain": job.toolchain.identity,
        "depends": {name: deps[name].key for name in sorted(deps)},
    }
    if recipe.arch_configure.get(target.arch):  # only then, so other arches' keys stay as they were
        material["arch_configure"] = list(recipe.arch_configure[target.arch])
    if job.build_python:
        material["cross"] = {"env": _configure_env(recipe, project, cross=True),
                             "build_python": job.build_python.key, "host": target.autoconf_host}
    if recipe.builtin_modules:  # only then, so builds without them keep their keys
        material["builtin_modules"] = sorted(recipe.builtin_modules)
    if recipe.executable_objects:  # only then, so builds without them keep their keys
        material["executable_objects"] = {
            "flags": list(executable_objects.OBJECT_FLAGS),
            "sources": {name: hashlib.sha256((RESOURCES / name).read_bytes()).hexdigest()
                        for name in recipe.executable_objects}}
        if job.toolchain.kind.runs_zig:  # linked with a copy of zig's compiler_rt (executable_objects.compiler_rt_copy)
            material["executable_objects"]["zig_runtime"] = "local copies"
    if job.profile is not None:
        material["profile"] = job.profile.sha256
    return material


# Length of the build-time RUNPATH string in every ELF file CPython links.
RPATH_LENGTH = 384


def fixed_length(directory: Path, length: int = RPATH_LENGTH) -> str:
    """`directory` spelled with exactly `length` characters ("/." and "/" padding).

    The build-time RUNPATH names the build directory. Relocation later
    overwrites it in place with a shorter $ORIGIN path and NUL padding
    (relocate._overwrite_runpath), so the bytes only match between builds
    if the original string had the same length wherever the build ran.
    """
    path = str(directory)
    padding = length - len(path)
    if padding < 0:
        raise BuildError(f"build directory path too long for a reproducible build ({len(path)} > "
                         f"{length} characters): {path}")
    padded = path + "/" * (padding % 2) + "/." * (padding // 2)
    assert len(padded) == length
    return padded


@dataclass(frozen=True)
class Prepared:
    """A patched source tree and what its configure and make commands get."""

    work: Path
    src: Path
    sysroot: Path
    deps_root: Path
    env: dict[str, str]
    configure: list[str]
    make_variables: list[str]
    applied: list[str]
    logs: Path
    purpose: str = ""  # "profile" for the PGO training's tree: its steps and logs are named apart
    executable_objects: tuple[Path, ...] = ()  # compiled from the recipe's, linked into bin/python

    def step(self, job: Job, name: str, argv: list[str]) -> Path:
        """Run one step in the source tree, logged to cpython-<version>[-<purpose>]-<name>.log."""
        suffix = f"-{self.purpose}" if self.purpose else ""
        log = self.logs / f"cpython-{job.version}{suffix}-{name}.log"
        log.write_text("")
        label = f"CPython {job.version}{f' ({self.purpose})' if self.purpose else ''}"
        with stage(f"{label}: {name}"):
            run(f"{label} {name}", argv, log=log, cwd=self.src, env=self.env)
        return log


def prepare(ctx: Context, job: Job, work_name: str, extra_environment: dict[str, str] | None = None,
            purpose: str = "") -> Prepared:
    """Unpack and patch the release in a fresh work directory, assemble the
    dependencies' sysroot, and fill in configure's arguments and make's variables."""
    recipe, release, target, toolchain = job.recipe, job.release, job.target, job.toolchain
    _, archive = sources.fetch(ctx, release.sources, f"CPython {release.version}")
    work = ctx.work_dir(target.arch, work_name)
    archives.safe_extract(archive, work / "src")
    src = archives.single_top_dir(work / "src")
    logs = ctx.logs / target.arch
    logs.mkdir(parents=True, exist_ok=True)
    patch_log = logs / f"cpython-{release.version}{f'-{purpose}' if purpose else ''}-patch.log"
    patch_log.write_text("")
    applied = patching.apply(recipe.patches, src, f"CPython {release.version}", patch_log)
    if recipe.builtin_modules:
        (src / "Modules" / "Setup.local").write_text(
            stdlib_modules.setup_local(src, recipe.builtin_modules, release.version))
    sysroot = work / "sysroot"
    deps_root = assemble_sysroot(list(job.dependencies.values()), sysroot)
    values = {"arch": target.arch, "deps": str(deps_root), "deps_rpath": fixed_length(deps_root / "lib"),
              "sysroot": str(sysroot), "ar": toolchain.tool("ar"),
              "cflags": " ".join(toolchain.cflags)}
    where = f"python/{recipe.minor}.toml"
    env = toolchain.environment(ctx.project.source_date_epoch)
    env.update({k: fill(v, values, where) for k, v in _configure_env(recipe, ctx.project,
                                                                     cross=bool(job.build_python)).items()})
    env.update(extra_environment or {})
    configure = [f"--prefix={INSTALL_PREFIX}", *(fill(arg, values, where) for arg in recipe.configure_for(target.arch))]
    if job.build_python:
        configure += ["--with-ensurepip=no", f"--host={target.autoconf_host}", f"--build={build_triplet()}",
                      f"--with-build-python={job.build_python.program}"]
    make_variables = [fill(arg, values, where) for arg in recipe.make]
    objects = ()
    if recipe.executable_objects:
        directory, log = work / "executable-objects", patch_log.with_name(patch_log.name.replace("-patch", "-objects"))
        objects = tuple(executable_objects.compile_objects(toolchain, recipe.executable_objects, directory, env, log))
        linked = [*objects, *(deps_root / "lib" / dep.recipe.executable_object
                              for dep in job.dependencies.values() if dep.recipe.executable_object),
                  *executable_objects.compiler_rt_copy(toolchain, objects, directory, env, log)]
        make_variables.append(f"LINKFORSHARED={executable_objects.LINKFORSHARED} {' '.join(map(str, linked))}")
    return Prepared(work, src, sysroot, deps_root, env, configure, make_variables, applied, logs, purpose, objects)


def configure(job: Job, tree: Prepared) -> None:
    tree.step(job, "configure", ["./configure", *tree.configure])
    _check_triplet(tree.src / "Makefile", job.target, job.version)
    if job.recipe.executable_objects:
        executable_objects.check_linkforshared(tree.src / "Makefile", job.version, job.recipe.executable_objects)


def build(ctx: Context, job: Job) -> BuiltPython:
    """Build (or take from the cache) one release; with job.build_python, as a
    cross build; with job.profile, compiled once with that PGO profile."""
    recipe, release, target, toolchain = job.recipe, job.release, job.target, job.toolchain
    entry = cache.entry(ctx.cache_dir / "cpython" / target.arch, release.version, cache_material(ctx.project, job))
    if entry.found(f"CPython {release.version}"):
        return BuiltPython(release, entry.key, entry.path, json.loads((entry.path / "build-info.json").read_text()))
    if job.profile_guided and job.profile is None:
        raise BuildError(f"CPython {release.version} for {target.arch} builds with PGO but was given no profile")
    tree = prepare(ctx, job, f"cpython-{release.version}")
    with entry.publish() as staging:
        configure(job, tree)
        if job.profile is not None:
            job.profile.restore(tree.src)
        log = tree.step(job, "make", ["make", f"-j{ctx.jobs}", *tree.make_variables])
        if job.profile_guided and "-fprofile-use" not in log.read_text(errors="replace"):
            raise BuildError(f"CPython {release.version}: make did not compile with the PGO profile; see {log}")
        if tree.executable_objects:
            executable_objects.check_exported(tree.src / "python", tree.executable_objects,
                                              f"CPython {job.version} for {job.target.arch} (linked by the "
                                              f"{job.toolchain.kind.name} toolchain)")
        tree.step(job, "install", ["make", "install", f"DESTDIR={staging}", *tree.make_variables])
        if job.build_python:
            # make install's ensurepip would run the build's Python, whose pip
            # sees its own site-packages and installs nothing; install the
            # bundled pip wheel into the staged tree by its prefix instead.
            # By name from the bundled directory, as ensurepip does, so that no
            # direct_url.json records where the wheel was.
            tree.step(job, "pip", [str(job.build_python.program), "-m", "pip", "install", "--no-index",
                                   f"--find-links={tree.src / 'Lib' / 'ensurepip' / '_bundled'}", "--no-deps",
                                   "--no-cache-dir", "--disable-pip-version-check", "--root-user-action=ignore",
                                   "--ignore-installed", f"--root={staging}", f"--prefix={INSTALL_PREFIX}", "pip"])
        info = _build_info(recipe, release, target, tree.src, tree.applied,
                           tree.logs / f"cpython-{release.version}-make.log")
        if info["ldversion"] != job.ldversion:
            raise BuildError(f"CPython {release.version}: configure chose LDVERSION {info['ldversion']!r}, where "
                             f"the build's options ({', '.join(recipe.enabled_options)}) give {job.ldversion!r}")
        # Paths that may appear in the installed files; relocation removes them.
        info["build_paths"] = {"source": str(tree.src), "sysroot": str(tree.sysroot),
                               "deps": str(tree.deps_root), "toolchain": str(toolchain.bin_dir)}
        (staging / "build-info.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    if ctx.keep_work:
        detail(f"CPython's build directory is kept: {tree.src}")
    else:
        shutil.rmtree(tree.work, ignore_errors=True)
    return BuiltPython(release, entry.key, entry.path, info)


def makefile_var(makefile: Path, name: str) -> str:
    match = re.search(rf"^{name}=[ \t]*(.*)$", makefile.read_text(), re.M)
    return match.group(1).strip() if match else ""


def _check_triplet(makefile: Path, target: Target, version: str) -> None:
    soabi = makefile_var(makefile, "SOABI")
    if not soabi.endswith(f"-{target.platform_triplet}"):
        raise BuildError(f"CPython {version}: configure chose SOABI {soabi!r}, expected one ending in "
                         f"-{target.platform_triplet}; the platform-triplet patch did not take effect")


def _build_info(recipe, release, target, src: Path, applied: list[str], make_log: Path) -> dict:
    makefile = src / "Makefile"
    states, missing = stdlib_modules.built_modules(recipe, release.version, src, make_log)
    return {
        "version": release.version,
        "soabi": makefile_var(makefile, "SOABI"),
        "ext_suffix": makefile_var(makefile, "EXT_SUFFIX"),
        "multiarch": makefile_var(makefile, "MULTIARCH"),
        # The Makefile spells LDVERSION as $(VERSION)$(ABIFLAGS).
        "ldversion": makefile_var(makefile, "VERSION") + makefile_var(makefile, "ABIFLAGS"),
        "patches": applied,
        "modules": states,
        "missing_modules": {name: recipe.missing_modules[name] for name in sorted(missing)},
        "target": target.triple,
    }
