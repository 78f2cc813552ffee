"""What a distribution says about itself: licence texts and PYTHON.json.

PYTHON.json keeps python-build-standalone's field names wherever a field
means the same thing; docs/PYTHON.json.md documents every field.
"""
from __future__ import annotations

import re
import tarfile
from pathlib import Path

from . import elf, pgo, sources, toolchain
from .context import Context
from .cpython import BuiltPython, Job
from .dependencies import BuiltDependency
from .errors import BuildError
from .python_recipes import PythonRecipe
from .recipes import SourceFile, Target

# python-build-standalone's PYTHON.json schema version whose names we follow.
SCHEMA_VERSION = "8"


def write_licenses(ctx: Context, dest: Path, recipe: PythonRecipe, python: BuiltPython,
                   deps: dict[str, BuiltDependency]) -> dict[str, str]:
    """Copy every licence text out of the pinned source archives; name -> path in dest."""
    dest.mkdir(parents=True, exist_ok=True)
    written = {}
    wanted = [("cpython", python.release.sources, recipe.license_files)]
    wanted += [(d.recipe.name, d.recipe.sources, d.recipe.license_files) for d in deps.values()]
    for name, pins, files in wanted:
        if not files:
            raise BuildError(f"{name}: its recipe lists no license_files")
        _, archive = sources.fetch(ctx, pins, name)
        texts = _read_members(archive, files)
        path = dest / f"LICENSE.{name}.txt"
        path.write_text("\n\n".join(texts[f] for f in files))
        written[name] = f"licenses/{path.name}"
    return written


def _read_members(archive: Path, files: tuple[str, ...]) -> dict[str, str]:
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            top, _, inner = member.name.partition("/")
            if inner in files and member.isfile():
                found[inner] = tar.extractfile(member).read().decode("utf-8", errors="replace")
    missing = set(files) - set(found)
    if missing:
        raise BuildError(f"{archive.name}: licence files not found: {', '.join(sorted(missing))}")
    return found


def _pin(name: str, version: str, pins: tuple[SourceFile, ...], ctx: Context) -> dict:
    """The pinned file a build used (the first alternative in the cache)."""
    used = next((p for p in pins if sources.cache_path(ctx, p).is_file()), pins[0])
    entry = {"name": name, "version": version, "file": used.file, "sha256": used.sha256}
    if used.url:
        entry["url"] = used.url
    if used.debian:
        entry["debian_source_package"] = used.debian
    if used.pypi:
        entry["pypi"] = used.pypi
    return entry


def _alt_soabi(tree: Path, ldversion: str) -> list[str]:
    """The second SOABI the interpreter accepts, if any (3.9, 3.10: the -linux-gnu spelling)."""
    config = tree / "include" / f"python{ldversion}" / "pyconfig.h"
    match = re.search(r'^#define ALT_SOABI "([^"]+)"', config.read_text(), re.M) if config.is_file() else None
    return [match.group(1)] if match else []


def python_json(ctx: Context, job: Job, python: BuiltPython, tree: Path, licenses: dict[str, str],
                tree_prefix: str) -> dict:
    """PYTHON.json for a distribution whose install tree is at `tree_prefix` in the archive."""
    recipe, target, deps = job.recipe, job.target, job.dependencies
    info, version, minor = python.info, job.version, job.minor
    nodot = minor.replace(".", "")
    soabi = info["soabi"]
    sonames = {path.name: elf.read(path).soname for path in elf.elf_files(tree / "lib")
               if path.parent == tree / "lib"}
    bundled, linked_in = [], []
    for dep in deps.values():
        if dep.recipe.executable_object:
            linked_in.append({"name": dep.recipe.name, "version": dep.recipe.version,
                              "licenses": list(dep.recipe.licenses), "license_path": licenses[dep.recipe.name],
                              "object": dep.recipe.executable_object})
            continue
        names = sorted(n for n, so in sonames.items()
                       if so and any(so == p.name for p in (dep.root / "lib").glob("*.so*")))
        if not names:  # built, but nothing in the tree links it
            continue
        bundled.append({
            "name": dep.recipe.name, "version": dep.recipe.version,
            "licenses": list(dep.recipe.licenses), "license_path": licenses[dep.recipe.name],
            "shared_libraries": names, "stdlib_modules": list(dep.recipe.modules),
        })
    options = build_options(recipe, target.arch)
    return {
        "version": SCHEMA_VERSION,
        "target_triple": target.triple,
        "optimizations": options,
        "build_options": options,
        "build_tag": ctx.project.build_tag,
        "python_tag": f"cp{nodot}",
        "python_abi_tag": f"cp{nodot}{recipe.abiflags}",
        "python_platform_tag": f"linux-{target.wheel_arch}",
        "platform_tags": [f"musllinux_{'_'.join(ctx.project.musl.minimum.split('.')[:2])}_{target.wheel_arch}"],
        "python_implementation_name": "cpython",
        "python_implementation_cache_tag": f"cpython-{nodot}",
        "python_version": version,
        "python_major_minor_version": minor,
        "python_exe": f"{tree_prefix}/bin/python{job.ldversion}",
        "python_stdlib": f"{tree_prefix}/lib/{job.stdlib_dir}",
        "variant": recipe.variant,
        "python_soabi": soabi,
        "python_multiarch": info["multiarch"],
        "python_suffixes": {
            "bytecode": [".pyc"], "optimized_bytecode": [".opt-1.pyc", ".opt-2.pyc"], "source": [".py"],
            "extension": [f".{soabi}.so", *(f".{alt}.so" for alt in _alt_soabi(tree, job.ldversion)), ".abi3.so", ".so"],
        },
        "python_extension_module_loading": ["builtin", "shared-library"],
        # static: bin/python3.X holds libpython; lib/libpython3.X.so still ships for embedders.
        "libpython_link_mode": "static" if "static-interpreter" in recipe.enabled_options else "shared",
        "build_options_enabled": list(recipe.enabled_options),
        "crt_features": ["musl-dynamic"],
        "minimum_musl": ctx.project.musl.minimum,
        "licenses": list(recipe.licenses),
        "license_path": licenses["cpython"],
        "bundled_libraries": bundled,
        "executable_libraries": linked_in,
        "sources": [_pin("cpython", version, python.release.sources, ctx)]
        + [_pin(d.recipe.name, d.recipe.version, d.recipe.sources, ctx) for d in deps.values()]
        + ([_pin("pip", recipe.pip_version, recipe.pip, ctx)] if recipe.pip else []),
        "patches": info["patches"],
        "missing_modules": info["missing_modules"],
        "toolchain": _toolchain(ctx, job),
        **({"pgo_profile": {"path": pgo.dist_name(job, ctx.project.build_tag),
                            "sha256": job.profile.sha256, "key": job.profile.key}} if job.profile else {}),
    }


def _toolchain(ctx: Context, job: Job) -> dict:
    """What compiled CPython, and the dependencies (zig's, or inside Alpine its GCC)."""
    kind = job.toolchain.kind
    dependencies = toolchain.KINDS["native" if kind.name == "native" else "zig"]
    return {"kind": kind.name, "compiler": compiler_description(kind, job.target, ctx.project.toolchain),
            "target": job.target.zig_target, "cflags": list(job.toolchain.cflags),
            "ldflags": [*kind.link_first, *getattr(ctx.project, kind.flags).ldflags],
            "dependencies_compiler": compiler_description(dependencies, job.target, ctx.project.toolchain)}


def compiler_description(kind: toolchain.Kind, target: Target, zig) -> str:
    """A toolchain kind's compiler in words, for PYTHON.json."""
    return {"zig": f"zig cc {zig.version} (PyPI {zig.package})",
            "musl-gcc": f"Debian's GCC and binutils from pinned packages, with the specs of Debian's musl-dev for "
                        f"{target.debian_arch}, and zig {zig.version}'s Linux headers",
            "cross-gcc": f"Debian's cross GCC ({target.cross_gcc}) with the specs of Debian's musl-dev for "
                         f"{target.debian_arch}, and zig {zig.version}'s Linux headers",
            "native": "the host's GCC (Alpine)"}[kind.name]


def build_options(recipe: PythonRecipe, arch: str) -> str:
    """The options part of a full archive's name, as python-build-standalone
    spells it: pgo+lto, lto, noopt, led by a variant (freethreaded+pgo+lto,
    debug for a debug build without optimizations)."""
    configure = recipe.configure_for(arch)
    options = list(recipe.variant_names)
    if recipe.profile_guided(arch):
        options.append("pgo")
    lto = [arg for arg in configure if arg.startswith(("--with-lto", "--without-lto"))]
    if lto and lto[-1].startswith("--with-lto"):  # configure takes the last one
        options.append("lto")
    return "+".join(options) or "noopt"
