"""One build, stage by stage: recipes -> sources -> toolchain -> dependencies
-> cpython -> relocate -> package -> smoke check -> verify. This module only
orchestrates; each stage's work is in its own module."""
from __future__ import annotations

import dataclasses
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import (cache, code_identity, container, cpython, dependencies, musl, package, pgo, pinned_gcc, relocate,
               smoke, sources, toolchain, verify)
from .context import Context, publishing
from .cpython import BuiltPython, Job
from .errors import SourceUnavailable, UsageError
from .python_recipes import PythonRecipe, PythonRelease, python_for, split_abiflags
from .recipes import Target, dependency_closure, load_dependencies, target_for
from .steps import detail, stage


@dataclass
class BuildResult:
    archives: list[Path]  # install_only, install_only_stripped, full
    version: str
    target: Target
    info: dict
    verification: dict = field(default_factory=dict)
    profile: Path | None = None  # the PGO profile, beside the archives


def select_release(ctx: Context, spec: str) -> tuple[PythonRecipe, PythonRelease]:
    """The release a version spec means: exact, or the newest obtainable patch release
    (upstream counts where it answers)."""
    recipe, releases = python_for(spec)
    if len(releases) == 1:
        return recipe, releases[0]
    for release in releases:
        if sources.obtainable(ctx, release.sources, network=True):
            return recipe, release
    raise SourceUnavailable(
        f"source unavailable: no pinned CPython {spec} release can be obtained here "
        f"(pinned: {', '.join(r.version for r in releases)}; looked in the cache, the local mirror "
        "and Debian's source index; run `build.py fetch` where the sources can be reached)")


def with_build_options(base: PythonRecipe, target: Target, add=(), remove=()) -> PythonRecipe:
    """`base` with the options a build for `target` has folded in: the defaults
    that apply, plus `add`, minus `remove`. A cross build asks for PGO by name
    (choose_options), and has it only for a target with a profiling cross
    compiler."""
    names = base.choose_options(target.arch, add, remove)
    cross_pgo = "pgo" in add and platform.machine() != target.arch
    if cross_pgo and not target.cross_gcc:
        raise UsageError(f"build option 'pgo': a PGO build for {target.arch} on this {platform.machine()} machine "
                         f"needs a profiling cross compiler, and recipes/targets/{target.arch}.toml names none "
                         f"(cross_gcc); builds for {target.arch} here are LTO only")
    return base.with_options(names)


def build(ctx: Context, spec: str, arch: str, out_dir: Path, network: bool = True, backend: str = "auto",
          verify_archives: bool = True, add_options=(), remove_options=(), profile: Path | None = None) -> BuildResult:
    """Build one distribution on the chosen backend, then verify its archives here.
    `add_options` and `remove_options` name build options ([options] in the
    recipes); `profile` is a PGO profile (or a full archive carrying one) to
    compile with instead of training."""
    ctx.check_buildable()
    with ctx.exclusive():
        return _build(ctx, spec, arch, out_dir.absolute(), network, backend, verify_archives,
                      tuple(add_options), tuple(remove_options), profile)


def _build(ctx: Context, spec: str, arch: str, out_dir: Path, network: bool, backend: str,
           verify_archives: bool, add_options: tuple[str, ...], remove_options: tuple[str, ...],
           profile: Path | None) -> BuildResult:
    with stage("recipes"):
        target = target_for(arch)
        base, release = select_release(ctx, spec)
        # uv's spelling of a variant (3.13t) asks for its option.
        add_options = (*base.variant_options(split_abiflags(spec)[1]), *add_options)
        recipe = with_build_options(base, target, add_options, remove_options)
        deps = dependency_closure(recipe.depends, load_dependencies())
        backend, engine = container.choose_backend(backend, ctx, target)
        detail(f"CPython {release.version} for {target.triple}, {len(deps)} dependencies, "
               f"{backend} backend{f' ({engine})' if engine else ''}; "
               f"options: {', '.join(recipe.enabled_options) or 'none'}")
    with stage("sources"):
        fetch_all(ctx, recipe, release, deps)
    if backend == "container":
        with stage("container build"):
            container.build(ctx, engine, target, release.version, out_dir, add_options, remove_options)
        names = package.archive_names(recipe, release.version, target, ctx.project.build_tag)
        result = BuildResult([out_dir / str(name) for name in names], release.version, target, {})
    else:
        result = _build_here(ctx, base, recipe, release, target, out_dir, profile)
    if verify_archives:
        with stage("verify"):
            result.verification = verify.verify_all(ctx, result.archives, network)
    return result


def _build_here(ctx: Context, base: PythonRecipe, recipe: PythonRecipe, release: PythonRelease, target: Target,
                out_dir: Path, profile: Path | None = None) -> BuildResult:
    """The host backend: zig, or on a musl host of the target's arch its own compiler.
    `recipe` is `base` with the build's options folded in."""
    with stage("toolchain"):
        kind = toolchain.kind_for(target)
        toolchain.require_host_tools(kind)
        tools = toolchain.prepare(ctx, target, kind)
        patchelf = relocate.find_patchelf()
        detail(f"{kind.name} toolchain in {tools.bin_dir}")
    build_python = None
    if platform.machine() != target.arch:
        with stage(f"CPython {release.version} for this machine ({platform.machine()}), for the cross build"):
            build_python = _python_for_build(ctx, base, release, recipe.variant_names)
    python_tools = toolchain.for_cpython(ctx, target, tools, recipe.profile_guided(target.arch))
    with stage("dependencies"):
        built = dependencies.build_all(ctx, target, tools, recipe.depends)
    with stage("cpython"):
        if python_tools is not tools:
            detail(f"PGO: CPython builds with the {python_tools.kind.name} toolchain in {python_tools.bin_dir}")
        job = Job(recipe, release, target, python_tools, built, build_python)
        if job.profile_guided:
            job = dataclasses.replace(job, profile=pgo.obtain(ctx, job, profile))
        elif profile is not None:
            raise UsageError(f"--profile: this build of CPython {release.version} for {target.arch} does not use "
                             "PGO (a cross build without --with pgo, or --without pgo)")
        python = cpython.build(ctx, job)
    archives = _packaged(ctx, job, python, patchelf)
    final = []
    for archive in archives:
        with publishing(out_dir / archive.name) as tmp:
            shutil.copyfile(archive, tmp)
        final.append(out_dir / archive.name)
        detail(f"{final[-1]} ({final[-1].stat().st_size / 2**20:.1f} MiB)")
    profile_file = None
    if job.profile is not None:
        with publishing(out_dir / pgo.dist_name(job, ctx.project.build_tag)) as tmp:
            shutil.copyfile(job.profile.path, tmp)
        profile_file = out_dir / pgo.dist_name(job, ctx.project.build_tag)
        detail(f"{profile_file} (the PGO profile, {profile_file.stat().st_size / 2**20:.1f} MiB)")
    with stage("smoke check"):
        # A passing verification of these very bytes by this very code proves
        # more than the smoke check would (a no-op rebuild spends its time here).
        if verify.earlier_report(final[0], network=False):
            detail(f"{final[0].name}: verified before, unchanged")
        else:
            smoke.smoke_check(ctx, final[0], target, not_built=list(recipe.missing_modules))
    return BuildResult(final, release.version, target, python.info, profile=profile_file)


def _packaged(ctx: Context, job: Job, python: BuiltPython, patchelf: str) -> list[Path]:
    """The relocated, packaged archives of a build, from the packaging cache or made now."""
    names = [str(name) for name in package.archive_names(job.recipe, job.version, job.target, ctx.project.build_tag)]
    entry = cache.entry(ctx.cache_dir / "dist" / job.target.arch, job.version,
                        packaged_material(python, job.dependencies, patchelf))
    if entry.path.is_dir():
        with stage("relocate and package"):
            entry.found(str(entry.path))
    else:
        with entry.publish() as staging:
            with stage("relocate"):
                work = ctx.work_dir(job.target.arch, f"dist-{job.version}")
                tree = work / "install_only" / "python"
                shutil.copytree(python.tree, tree, symlinks=True)
                bundled = relocate.make_relocatable(ctx, job, python, tree, patchelf)
                detail(f"bundled: {', '.join(bundled)}")
            with stage("package"):
                package.write_distributions(ctx, job, python, work, tree, staging)
            shutil.rmtree(work, ignore_errors=True)
    return [entry.path / name for name in names]


def packaged_material(python: BuiltPython, built, patchelf: str) -> dict:
    """What the archives of a build depend on beyond CPython's own cache key:
    the dependency builds, the code and recipes that relocate and package
    them, and the host tools that rewrite their ELF files."""
    tools = [subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
             for tool in (patchelf, "llvm-strip")]
    return {"cpython": python.key, "depends": {name: built[name].key for name in sorted(built)},
            "code": code_identity(), "tools": tools}


def _python_for_build(ctx: Context, base: PythonRecipe, release: PythonRelease,
                      variants: tuple[str, ...] = ()) -> cpython.BuildPython:
    """The same release and variant built for this machine (cached like any
    build), with this machine's default options, so it is the native build's
    own: cross builds of CPython need one to run, and pip installs into the
    directories of the interpreter that runs it (lib/python3.13t)."""
    host = target_for(platform.machine())
    recipe = with_build_options(base, host, add=variants)
    tools = toolchain.prepare(ctx, host, toolchain.kind_for(host))
    built = dependencies.build_all(ctx, host, tools, recipe.depends)
    python_tools = toolchain.for_cpython(ctx, host, tools, recipe.profile_guided(host.arch))
    job = Job(recipe, release, host, python_tools, built)
    if job.profile_guided:
        job = dataclasses.replace(job, profile=pgo.obtain(ctx, job))
    python = cpython.build(ctx, job)
    return cpython.build_python(ctx, python, built, job.ldversion)


def fetch_all(ctx: Context, recipe: PythonRecipe, release: PythonRelease, deps) -> None:
    sources.fetch(ctx, release.sources, f"CPython {release.version}")
    if recipe.pip:
        sources.fetch(ctx, recipe.pip, f"pip {recipe.pip_version} for CPython {recipe.minor}")
    for dep in deps:
        sources.fetch(ctx, dep.sources, f"{dep.name} {dep.version}")



def fetch_for_build(ctx: Context, spec: str, arch: str) -> tuple[PythonRelease, int]:
    """Everything a default build of `spec` for `arch` needs from outside,
    obtained and verified for offline use: the sources of CPython and of the
    dependencies its options add, and the Debian packages its toolchains and
    verification unpack (musl, musl-dev, a pinned GCC); for a cross build, the
    same for this machine's build of the release. Returns the release and the
    number of dependencies."""
    target = target_for(arch)
    base, release = select_release(ctx, spec)
    variants = base.variant_options(split_abiflags(spec)[1])
    machines = [target] + ([target_for(platform.machine())] if platform.machine() != target.arch else [])
    names = set()
    for machine in machines:
        recipe = with_build_options(base, machine, variants)
        deps = dependency_closure(recipe.depends, load_dependencies())
        fetch_all(ctx, recipe, release, deps)
        names.update(dep.name for dep in deps)
        musl.musl_root(ctx, machine)
        musl.musl_root(ctx, machine, newest=True)
        if machine.musl_dev_deb_sha256:
            musl.sysroot(ctx, machine)
        if machine.gcc_debs and platform.machine() == machine.arch:  # its PGO compiler
            pinned_gcc.gcc_root(ctx, machine)
    return release, len(names)
