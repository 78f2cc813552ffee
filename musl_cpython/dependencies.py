"""Build the bundled libraries from their recipes, once per (recipe, target, toolchain).

Each dependency is installed with prefix /prefix into a staging directory
that becomes a cache entry named by a hash of everything that shapes it:
its pins, its build commands before local paths are filled in, the target,
the toolchain identity and the keys of the dependencies it builds against.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import archives, cache, patching, sources
from .context import Context
from .errors import BuildError
from .recipes import PATCHES, Dependency, Project, Target, dependency_closure, load_dependencies
from .steps import run, stage
from .toolchain import Toolchain, build_triplet

# The install prefix every dependency is configured with. Their files never
# live there: consumers get a sysroot whose <root>/prefix holds them, and
# pkg-config's sysroot support points -I/-L flags into it.
PREFIX = "/prefix"

# Libraries are built at -O2, as their own build systems default to.
DEPENDENCY_OPTIMISATION = "-O2"

# What a build leaves behind that neither CPython nor the distribution uses.
# Static archives go too, so that CPython links the shared libraries it bundles.
_UNUSED = ("bin", "sbin", "share/man", "share/doc", "share/info", "share/locale", "share/aclocal")


@dataclass(frozen=True)
class BuiltDependency:
    recipe: Dependency
    key: str
    path: Path  # cache entry; its files are under path/prefix

    @property
    def root(self) -> Path:
        return self.path / PREFIX.lstrip("/")


def _commands(dep: Dependency) -> list[list[str]]:
    build = dep.build
    style = build.style
    if style == "autotools":
        commands = [
            ["./configure", "--host={host}", "--build={build}", "--prefix={prefix}", *build.configure],
            ["make", "-j{jobs}", *build.make],
            ["make", *build.install, *build.make, "DESTDIR={destdir}"],
        ]
    elif style == "cmake":
        commands = [
            ["cmake", "-S", build.subdir, "-B", "_build", "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_INSTALL_PREFIX={prefix}", "-DCMAKE_INSTALL_LIBDIR=lib",
             "-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR={arch}",
             "-DCMAKE_C_COMPILER={cc}", "-DCMAKE_AR={ar}", "-DCMAKE_RANLIB={ranlib}",
             "-DBUILD_SHARED_LIBS=ON", *build.cmake],
            ["cmake", "--build", "_build", "-j{jobs}"],
            ["env", "DESTDIR={destdir}", "cmake", "--install", "_build"],
        ]
    elif style == "commands":
        commands = [list(step) for step in build.steps]
    else:
        raise BuildError(f"{dep.path.name}: unknown build style {style!r} (autotools, cmake or commands)")
    return commands + [list(step) for step in build.after_install]


def _environment_template(dep: Dependency, project: Project) -> dict[str, str]:
    """Variables added to the toolchain's environment, with placeholders unfilled."""
    # Only recipes that build against others get search paths into the
    # sysroot: some builds record their flags (OpenSSL's version info), and a
    # path there would differ with where the build ran.
    search = bool(dep.depends)
    env = {
        "CPPFLAGS": " ".join((["-I{deps}/include"] if search else []) + list(dep.build.cppflags)),
        "LDFLAGS": "-L{deps}/lib" if search else "",
        "CFLAGS": " ".join(["{cflags}", *dep.build.cflags]),
        "PKG_CONFIG_LIBDIR": "{deps}/lib/pkgconfig",
        "PKG_CONFIG_SYSROOT_DIR": "{sysroot}",
    }
    # autoconf answers: never use functions the oldest supported musl lacks.
    env.update({f"ac_cv_func_{name}": "no" for name in project.musl.functions_after_minimum})
    return env


def cache_material(dep: Dependency, target: Target, toolchain: Toolchain, project: Project,
                   dependency_keys: dict[str, str]) -> dict:
    material = {
        "name": dep.name, "version": dep.version,
        "sources": [s.sha256 for s in dep.sources],
        "commands": _commands(dep), "env": _environment_template(dep, project),
        "optimisation": DEPENDENCY_OPTIMISATION,
        "vars": dep.vars, "prefix": PREFIX,
        "target": [target.arch, target.zig_target, list(target.cflags)],
        "toolchain": toolchain.identity,
        "depends": {name: dependency_keys[name] for name in sorted(dependency_keys)},
    }
    if dep.patches:  # only then, so other libraries' keys stay as they were
        material["patches"] = {name: hashlib.sha256((PATCHES / name).read_bytes()).hexdigest()
                               for name in dep.patches}
    if dep.executable_object:
        material["executable_object"] = dep.executable_object
    return material


def fill(text: str, values: dict[str, str], where: str) -> str:
    """Fill {placeholders}. They are lower-case, so make's ${VARIABLES} pass through."""
    def replace(match):
        name = match.group(1)
        if name not in values:
            raise BuildError(f"{where}: unknown placeholder {{{name}}}")
        return values[name]
    return re.sub(r"\{([a-z_]+)\}", replace, text)


def placeholder_values(ctx: Context, dep: Dependency, target: Target, toolchain: Toolchain,
                       destdir: Path, deps_root: Path, sysroot: Path) -> dict[str, str]:
    """What {placeholders} in a dependency recipe stand for."""
    return {
        "prefix": PREFIX, "destdir": str(destdir), "jobs": str(ctx.jobs),
        "host": target.autoconf_host, "build": build_triplet(),
        "cc": toolchain.cc, "cxx": toolchain.tool("cxx"), "ar": toolchain.tool("ar"),
        "ranlib": toolchain.tool("ranlib"), "cflags": " ".join([DEPENDENCY_OPTIMISATION, *toolchain.cflags]),
        "deps": str(deps_root), "sysroot": str(sysroot), "arch": target.arch, "build_cc": "cc",
        **{name: per_arch[target.arch] for name, per_arch in dep.vars.items() if target.arch in per_arch},
    }


def expanded_plan(dep: Dependency, project: Project, values: dict[str, str]):
    """The commands and extra environment of a build, placeholders filled."""
    where = dep.path.name
    commands = [[fill(arg, values, where) for arg in command] for command in _commands(dep)]
    env = {k: fill(v, values, where) for k, v in _environment_template(dep, project).items()}
    return commands, env


def assemble_sysroot(built: list[BuiltDependency], sysroot: Path) -> Path:
    """Merge dependency entries into one tree; return the directory standing for PREFIX."""
    root = sysroot / PREFIX.lstrip("/")
    root.mkdir(parents=True, exist_ok=True)
    for entry in built:
        shutil.copytree(entry.root, root, symlinks=True, dirs_exist_ok=True)
    return root


def build_all(ctx: Context, target: Target, toolchain: Toolchain, names) -> dict[str, BuiltDependency]:
    """Build (or take from the cache) the named dependencies and their own dependencies."""
    built: dict[str, BuiltDependency] = {}
    for dep in dependency_closure(names, load_dependencies()):
        built[dep.name] = _ensure(ctx, dep, target, toolchain, built)
    return built


def _closure(dep: Dependency, built: dict[str, BuiltDependency]) -> list[BuiltDependency]:
    out, todo = {}, list(dep.depends)
    while todo:
        name = todo.pop()
        if name not in out:
            out[name] = built[name]
            todo.extend(built[name].recipe.depends)
    return [out[name] for name in sorted(out)]


def _ensure(ctx: Context, dep: Dependency, target: Target, toolchain: Toolchain,
            built: dict[str, BuiltDependency]) -> BuiltDependency:
    needs = _closure(dep, built)
    entry = cache.entry(ctx.cache_dir / "deps" / target.arch, f"{dep.name}-{dep.version}",
                        cache_material(dep, target, toolchain, ctx.project, {b.recipe.name: b.key for b in needs}))
    result = BuiltDependency(dep, entry.key, entry.path)
    if entry.found(f"{dep.name} {dep.version}"):
        return result
    with stage(f"dependency {dep.name} {dep.version} ({target.arch})"):
        _, archive = sources.fetch(ctx, dep.sources, f"{dep.name} {dep.version}")
        work = ctx.work_dir(target.arch, "deps", dep.name)
        archives.safe_extract(archive, work / "src")
        src = archives.single_top_dir(work / "src")
        sysroot = work / "sysroot"
        deps_root = assemble_sysroot(needs, sysroot)
        log = ctx.logs / target.arch / f"dep-{dep.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        patching.apply(dep.patches, src, f"{dep.name} {dep.version}", log)
        with entry.publish() as staging:
            values = placeholder_values(ctx, dep, target, toolchain, staging, deps_root, sysroot)
            commands, extra_env = expanded_plan(dep, ctx.project, values)
            env = toolchain.environment(ctx.project.source_date_epoch) | extra_env
            for argv in commands:
                run(f"dependency {dep.name}", argv, log=log, cwd=src, env=env)
            _tidy(staging / PREFIX.lstrip("/"), dep)
            (staging / "manifest.json").write_text(json.dumps(
                {"name": dep.name, "version": dep.version, "key": entry.key, "target": target.arch,
                 "licenses": list(dep.licenses)}, indent=2))
        shutil.rmtree(work, ignore_errors=True)
    return result


def _tidy(root: Path, dep: Dependency) -> None:
    if not (root / "lib").is_dir():
        raise BuildError(f"{root}: the install step produced no lib/ directory")
    if dep.executable_object:
        if not (root / "lib" / dep.executable_object).is_file():
            raise BuildError(f"{root}: the install step produced no lib/{dep.executable_object}")
    # CPython links what is here and the distribution bundles it: a build that
    # quietly fell back to static libraries (libtool does when it cannot
    # check the linker) must stop here, not at CPython's configure.
    elif not any(p.is_file() for p in (root / "lib").glob("*.so*")):
        raise BuildError(f"{root}: the build produced no shared library (see its log: did libtool "
                         "decide the target cannot have any?)")
    for name in _UNUSED:
        shutil.rmtree(root / name, ignore_errors=True)
    for pattern in ("*.a", "*.la"):
        for path in (root / "lib").rglob(pattern):
            path.unlink()
