"""One build, stage by stage: recipes -> sources -> toolchain -> dependencies
-> cpython -> relocate -> package -> smoke check -> verify."""
from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import (REPO, code_identity, container, cpython, dependencies, metadata, package, relocate, smoke,
               sources, toolchain, verify)
from .context import Context, publishing
from .errors import BuildError, SourceUnavailable
from .recipes import (PythonRecipe, PythonRelease, Target, dependency_closure, load_dependencies,
                      python_for, target_for)
from .steps import say, stage

# Scripts installed with a "#!/install/bin/python3.X" line would only work at
# /install; this shell-then-Python header finds the interpreter next to itself.
_RELOCATABLE_SHEBANG = """#!/bin/sh
'''exec' "$(dirname -- "$(realpath -- "$0")")/{python}" "$0" "$@"
' '''
"""


@dataclass
class BuildResult:
    archives: list[Path]  # install_only, install_only_stripped, full
    version: str
    target: Target
    info: dict
    verification: dict = field(default_factory=dict)


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


def build(ctx: Context, spec: str, arch: str, out_dir: Path, network: bool = True, backend: str = "auto",
          verify_archives: bool = True) -> BuildResult:
    """Build one distribution on the chosen backend, then verify its archives here."""
    with ctx.exclusive():
        return _build(ctx, spec, arch, out_dir, network, backend, verify_archives)


def _build(ctx: Context, spec: str, arch: str, out_dir: Path, network: bool, backend: str,
           verify_archives: bool) -> BuildResult:
    with stage("recipes"):
        target = target_for(arch)
        recipe, release = select_release(ctx, spec)
        deps = dependency_closure(recipe.depends, load_dependencies())
        backend, engine = container.choose_backend(backend)
        say(f"    CPython {release.version} for {target.triple}, {len(deps)} dependencies, "
            f"{backend} backend{f' ({engine})' if engine else ''}")
    with stage("sources"):
        fetch_all(ctx, release, deps)
    if backend == "container":
        with stage("container build"):
            container.build(ctx, engine, target, release.version, out_dir.absolute())
        archives = [out_dir.absolute() / package.archive_name(release.version, ctx.project.build_tag,
                                                              target.triple, kind)
                    for kind in archive_kinds(recipe, target.arch)]
        result = BuildResult(archives, release.version, target, {})
    else:
        result = _build_here(ctx, recipe, release, target, out_dir)
    if verify_archives:
        with stage("verify"):
            result.verification = verify_all(ctx, result.archives, network)
    return result


def archive_kinds(recipe: PythonRecipe, arch: str) -> list[str]:
    return ["install_only", "install_only_stripped", f"{metadata.build_options(recipe, arch)}-full"]


def verify_all(ctx: Context, archives: list[Path], network: bool) -> dict:
    reports = {}
    for archive in archives:
        report = verify.earlier_report(archive, network)
        if report:
            say(f"    {archive.name}: verified before, unchanged ({report['summary']['passed']} passed, "
                f"{report['summary']['skipped']} skipped)")
        else:
            report = verify.verify(ctx, archive, network=network)
        reports[archive.name] = report
        if report["summary"]["failed"]:
            failed = [f"{c['group']}: {c['name']}" for c in report["checks"] if c["status"] == "fail"]
            raise BuildError(f"verification of {archive.name} failed ({'; '.join(failed)}); the "
                             f"archive and its report were moved to {report['quarantined']}")
    return reports


def _build_here(ctx: Context, recipe: PythonRecipe, release: PythonRelease, target: Target,
                out_dir: Path) -> BuildResult:
    """The host backend: zig, or on a musl host of the target's arch its own compiler."""
    with stage("toolchain"):
        kind = toolchain.kind_for(target)
        toolchain.require_host_tools(toolchain.HOST_TOOLS if kind == "zig" else toolchain.NATIVE_HOST_TOOLS)
        tools = toolchain.prepare(ctx, target, kind)
        patchelf = relocate.find_patchelf()
        say(f"    {kind} toolchain in {tools.bin_dir}")
    python_for_build = None
    if platform.machine() != target.arch:
        with stage(f"CPython {release.version} for this machine ({platform.machine()}), for the cross build"):
            python_for_build = _python_for_build(ctx, recipe, release)
    with stage("dependencies"):
        built = dependencies.build_all(ctx, target, tools, recipe.depends)
    with stage("cpython"):
        python_tools = toolchain.for_cpython(ctx, target, tools, recipe.profile_guided(target.arch))
        if python_tools is not tools:
            say(f"    PGO: CPython builds with the {python_tools.kind} toolchain in {python_tools.bin_dir}")
        python = cpython.build(ctx, recipe, release, target, python_tools, built, python_for_build)
    names = [package.archive_name(release.version, ctx.project.build_tag, target.triple, kind)
             for kind in archive_kinds(recipe, target.arch)]
    entry = ctx.cache_dir / "dist" / target.arch / f"{release.version}-{packaged_key(python, built, patchelf)[:16]}"
    if all((entry / name).is_file() for name in names):
        with stage("relocate and package"):
            say(f"    cached: {entry}")
    else:
        with publishing(entry) as staging:
            with stage("relocate"):
                work = ctx.work_dir(target.arch, f"dist-{release.version}")
                tree = work / "install_only" / "python"
                shutil.copytree(python.tree, tree, symlinks=True)
                bundled = make_relocatable(ctx, tree, python, built, patchelf, python_for_build)
                say(f"    bundled: {', '.join(bundled)}")
            with stage("package"):
                write_distributions(ctx, work, tree, recipe, python, target, built, staging)
            shutil.rmtree(work, ignore_errors=True)
    archives = []
    for name in names:
        with publishing(out_dir.absolute() / name) as tmp:
            shutil.copyfile(entry / name, tmp)
        archives.append(out_dir.absolute() / name)
        say(f"    {archives[-1]} ({archives[-1].stat().st_size / 2**20:.1f} MiB)")
    with stage("smoke check"):
        smoke.smoke_check(ctx, archives[0], target, not_built=list(recipe.missing_modules))
    return BuildResult(archives, release.version, target, python.info)


def packaged_key(python: cpython.BuiltPython, built, patchelf: str) -> str:
    """What the archives of a build depend on beyond CPython's own cache key:
    the dependency builds, the code and recipes that relocate and package
    them, and the host tools that rewrite their ELF files."""
    tools = [subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
             for tool in (patchelf, "llvm-strip")]
    material = {"cpython": python.key, "depends": {name: built[name].key for name in sorted(built)},
                "code": code_identity(), "tools": tools}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _python_for_build(ctx: Context, recipe: PythonRecipe, release: PythonRelease) -> cpython.BuildPython:
    """The same release built for this machine (cached like any build): cross
    builds of CPython need one to run."""
    host = target_for(platform.machine())
    tools = toolchain.prepare(ctx, host, toolchain.kind_for(host))
    built = dependencies.build_all(ctx, host, tools, recipe.depends)
    python_tools = toolchain.for_cpython(ctx, host, tools, recipe.profile_guided(host.arch))
    python = cpython.build(ctx, recipe, release, host, python_tools, built)
    return cpython.build_python(ctx, python, built)


def write_distributions(ctx: Context, work: Path, tree: Path, recipe: PythonRecipe,
                        python: cpython.BuiltPython, target: Target, built, out_dir: Path) -> list[Path]:
    """The three archive kinds of one build, each with the licence texts.

    install_only: the tree as python/; install_only_stripped: the same with
    debug info stripped from every ELF file and [stripped]'s parts of the
    standard library left out; <options>-full (.tar.zst):
    python/PYTHON.json first, then python/install/ (the tree) and python/licenses/.
    """
    version, epoch = python.release.version, ctx.project.source_date_epoch
    name = lambda kind: out_dir / package.archive_name(version, ctx.project.build_tag, target.triple, kind)
    licenses = work / "licenses"
    license_paths = metadata.write_licenses(ctx, licenses, recipe, python, built)

    minor = ".".join(version.split(".")[:2])
    full = work / "full" / "python"
    shutil.copytree(tree, full / "install", symlinks=True)
    shutil.copytree(licenses, full / "licenses")
    info = metadata.python_json(ctx, recipe, python, target, built, tree, license_paths, "install")
    (full / "PYTHON.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    shutil.copytree(licenses, tree / "licenses")
    stripped = work / "stripped" / "python"
    shutil.copytree(tree, stripped, symlinks=True)
    package.strip_debug_info(stripped)
    package.trim_for_running(stripped / "lib" / f"python{minor}", recipe.stripped)
    # Compression is most of packaging's time; zlib and zstd release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(3, ctx.jobs))) as pool:
        writes = [pool.submit(package.write_archive, tree.parent, "python", name("install_only"), epoch),
                  pool.submit(package.write_archive, stripped.parent, "python", name("install_only_stripped"),
                              epoch),
                  pool.submit(package.write_archive, full.parent, "python",
                              name(archive_kinds(recipe, target.arch)[2]), epoch, first=("python/PYTHON.json",))]
        return [write.result() for write in writes]


def fetch_all(ctx: Context, release: PythonRelease, deps) -> None:
    sources.fetch(ctx, release.sources, f"CPython {release.version}")
    for dep in deps:
        sources.fetch(ctx, dep.sources, f"{dep.name} {dep.version}")


def make_relocatable(ctx: Context, tree: Path, python: cpython.BuiltPython, built,
                     patchelf: str, python_for_build: cpython.BuildPython | None = None) -> list[str]:
    available = relocate.library_index([b.root / "lib" for b in built.values()])
    bundled = relocate.bundle_libraries(tree, available)
    relocate.set_runpaths(tree, patchelf)
    minor = ".".join(python.release.version.split(".")[:2])
    _link(tree / "bin" / "python", f"python{minor}")
    _link(tree / "bin" / "python3", f"python{minor}")
    _fix_shebangs(tree, f"python{minor}")

    paths = python.info["build_paths"]
    changed = relocate.rewrite_build_paths(
        tree,
        replacements=[(f"{paths['toolchain']}/{tool}", generic)
                      for tool, generic in toolchain.GENERIC_NAMES.items()]
        + ([(str(python_for_build.program), f"python{minor}")] if python_for_build else [])
        + [(paths["deps"], cpython.INSTALL_PREFIX), (paths["source"], cpython.INSTALL_PREFIX)],
        drop_patterns=[relocate.RUNPATH_FLAG])
    epoch = ctx.project.source_date_epoch
    # Bytecode depends on the release only: a cross build compiles it with the
    # same release built for this machine.
    compiler = python_for_build.program if python_for_build else tree / "bin" / f"python{minor}"
    _recompile(compiler, tree, [p for p in changed if p.suffix == ".py"], epoch, levels=(0, 1, 2))
    # ensurepip's pip compiled its .pyc files under `make install`'s DESTDIR and
    # recorded that staging path as their source file name; compile them again.
    site_packages = tree / "lib" / f"python{minor}" / "site-packages"
    for stale in site_packages.rglob("*.pyc"):
        stale.unlink()
    _recompile(compiler, tree, [site_packages], epoch, levels=(0,))

    zig_dir = str(toolchain.zig_executable(ctx.project.toolchain["version"]).parent)
    forbidden = [*paths.values(), str(ctx.build_dir), str(ctx.cache_dir), zig_dir, str(REPO)]
    leaks = relocate.find_leaks(tree, forbidden)
    if leaks:
        raise BuildError("build paths left in the distribution:\n  " + "\n  ".join(leaks[:20]))
    return bundled


def _link(path: Path, target: str) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def _fix_shebangs(tree: Path, python: str) -> None:
    """Scripts whose "#!" names a Python by absolute path: /install/bin/python3.X
    (make install), or in cross builds the build's Python that installed pip."""
    for script in sorted((tree / "bin").iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        with open(script, "rb") as f:
            first = f.readline()
        if re.fullmatch(rb"#!/\S*/bin/python[0-9.]*\n", first):
            rest = script.read_bytes()[len(first):]
            script.write_bytes(_RELOCATABLE_SHEBANG.format(python=python).encode() + rest)


def _recompile(python: Path, tree: Path, files: list[Path], epoch: int, levels: tuple[int, ...]) -> None:
    """Byte-compile modules with `python` (the tree's own interpreter, or the same
    release for this machine), at the optimisation levels make install used
    for them (the stdlib: all three; pip: 0).

    With SOURCE_DATE_EPOCH set, .pyc files are validated by source hash, not
    mtime: archives normalise mtimes, which would make timestamp pycs stale.
    """
    if not files:
        return
    argv = [str(python), "-I", "-m", "compileall", "-q",
            *(f"-o{level}" for level in levels), "-s", str(tree), "-p", cpython.INSTALL_PREFIX,
            *map(str, files)]
    result = subprocess.run(argv, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": str(epoch)})
    if result.returncode != 0:
        raise BuildError(f"byte-compiling {', '.join(f.name for f in files)} failed:\n"
                         f"{result.stdout}{result.stderr}")
