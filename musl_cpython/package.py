"""The three archives of a build: install_only, install_only_stripped and
<options>-full, written with deterministic bytes (archives.write_archive).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import elf, metadata, pgo
from .archives import write_archive
from .context import Context
from .cpython import BuiltPython, Job
from .errors import BuildError
from .names import ArchiveName
from .python_recipes import PythonRecipe
from .recipes import Target


def archive_names(recipe: PythonRecipe, version: str, target: Target, build_tag: str) -> list[ArchiveName]:
    """install_only, install_only_stripped and <options>-full, in that order;
    a variant leads the options of each (python-build-standalone's spelling:
    freethreaded-install_only, freethreaded+pgo+lto-full, debug-full)."""
    return [ArchiveName(version, build_tag, target.triple, "install_only", recipe.variant_names),
            ArchiveName(version, build_tag, target.triple, "install_only_stripped", recipe.variant_names),
            ArchiveName(version, build_tag, target.triple, "full", tuple(metadata.build_options(recipe, target.arch)
                                                                         .split("+")))]


def write_distributions(ctx: Context, job: Job, python: BuiltPython, work: Path, tree: Path,
                        out_dir: Path) -> list[Path]:
    """The three archive kinds of one build, each with the licence texts.

    install_only: the relocated tree as python/; install_only_stripped: the
    same with debug info stripped from every ELF file and [stripped]'s parts
    of the standard library left out; <options>-full (.tar.zst):
    python/PYTHON.json first, then python/install/ (the tree) and python/licenses/.
    """
    epoch = ctx.project.source_date_epoch
    install_only, stripped_name, full_name = (
        out_dir / str(name) for name in archive_names(job.recipe, job.version, job.target, ctx.project.build_tag))
    licenses = work / "licenses"
    license_paths = metadata.write_licenses(ctx, licenses, job.recipe, python, job.dependencies)

    full = work / "full" / "python"
    shutil.copytree(tree, full / "install", symlinks=True)
    shutil.copytree(licenses, full / "licenses")
    if job.profile is not None:  # the PGO profile it was compiled with, named in PYTHON.json
        shutil.copyfile(job.profile.path, full / pgo.dist_name(job, ctx.project.build_tag))
    info = metadata.python_json(ctx, job, python, tree, license_paths, "install")
    (full / "PYTHON.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    shutil.copytree(licenses, tree / "licenses")
    stripped = work / "stripped" / "python"
    shutil.copytree(tree, stripped, symlinks=True)
    strip_symbols(stripped)
    trim_for_running(stripped / "lib" / job.stdlib_dir, job.recipe.stripped)
    # Compression is most of packaging's time; zlib and zstd release the GIL.
    # Longest first (3.13 x86_64 on one core: zstd of the full archive 58 s,
    # gzip of install_only 44 s, of the stripped one 8 s), so that two
    # workers finish together instead of one waiting on the longest.
    with ThreadPoolExecutor(max_workers=max(1, min(3, ctx.jobs))) as pool:
        full_write = pool.submit(write_archive, full.parent, "python", full_name, epoch, first=("python/PYTHON.json",))
        writes = [pool.submit(write_archive, tree.parent, "python", install_only, epoch),
                  pool.submit(write_archive, stripped.parent, "python", stripped_name, epoch), full_write]
        return [write.result() for write in writes]


def strip_symbols(tree: Path) -> None:
    """Remove debug sections and the symbol table dynamic linking does not use
    (.symtab; .dynsym, which extension modules resolve against, stays) from
    every ELF file, as Debian strips its shared libraries. Symbolised
    profiles and backtraces are what install_only and -full are for.
    llvm-strip handles every target arch."""
    files = [str(p) for p in elf.elf_files(tree)]
    for start in range(0, len(files), 100):
        result = subprocess.run(["llvm-strip", "--strip-unneeded", *files[start:start + 100]],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"llvm-strip: {result.stderr.strip()}")


def trim_for_running(stdlib: Path, stripped) -> None:
    """What install_only_stripped leaves out of the standard library (recipe
    table [stripped]): the test suite's directories and extension modules,
    and -O/-OO bytecode."""
    for relative in stripped.drop:
        path = stdlib / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
    for module in stripped.drop_extensions:  # each version builds some of them
        for shared_object in (stdlib / "lib-dynload").glob(f"{module}.*.so"):
            shared_object.unlink()
    if not stripped.optimized_bytecode:
        for bytecode in stdlib.rglob("*.opt-[12].pyc"):
            bytecode.unlink()
