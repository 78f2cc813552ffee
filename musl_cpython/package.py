"""The three archives of a build, with deterministic bytes.

Members are sorted, owned by 0:0 with empty owner names, carry normalised
modes and the recipes' SOURCE_DATE_EPOCH as mtime; the gzip header has no
file name and the same timestamp, and zstd runs single-threaded, so the
same tree always gives the same bytes.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zstandard

from . import elf, metadata
from .context import Context, publishing
from .cpython import BuiltPython, Job
from .errors import BuildError
from .names import ArchiveName
from .recipes import PythonRecipe, Target

ZSTD_LEVEL = 15


def archive_names(recipe: PythonRecipe, version: str, target: Target, build_tag: str) -> list[ArchiveName]:
    """install_only, install_only_stripped and <options>-full, in that order."""
    options = tuple(metadata.build_options(recipe, target.arch).split("+"))
    return [ArchiveName(version, build_tag, target.triple, "install_only"),
            ArchiveName(version, build_tag, target.triple, "install_only_stripped"),
            ArchiveName(version, build_tag, target.triple, "full", options)]


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
    info = metadata.python_json(ctx, job, python, tree, license_paths, "install")
    (full / "PYTHON.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    shutil.copytree(licenses, tree / "licenses")
    stripped = work / "stripped" / "python"
    shutil.copytree(tree, stripped, symlinks=True)
    strip_debug_info(stripped)
    trim_for_running(stripped / "lib" / f"python{job.minor}", job.recipe.stripped)
    # Compression is most of packaging's time; zlib and zstd release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(3, ctx.jobs))) as pool:
        writes = [pool.submit(write_archive, tree.parent, "python", install_only, epoch),
                  pool.submit(write_archive, stripped.parent, "python", stripped_name, epoch),
                  pool.submit(write_archive, full.parent, "python", full_name, epoch, first=("python/PYTHON.json",))]
        return [write.result() for write in writes]


def strip_debug_info(tree: Path) -> None:
    """Remove debug sections from every ELF file (llvm-strip handles every target arch)."""
    files = [str(p) for p in elf.elf_files(tree)]
    for start in range(0, len(files), 100):
        result = subprocess.run(["llvm-strip", "--strip-debug", *files[start:start + 100]],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"llvm-strip: {result.stderr.strip()}")


def trim_for_running(stdlib: Path, stripped) -> None:
    """What install_only_stripped leaves out of the standard library (recipe
    table [stripped]): the test suite's directories, and -O/-OO bytecode."""
    for relative in stripped.drop:
        path = stdlib / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
    if not stripped.optimized_bytecode:
        for bytecode in stdlib.rglob("*.opt-[12].pyc"):
            bytecode.unlink()


def _members(root: Path, top: str) -> list[Path]:
    base = root / top
    paths = [base]
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            paths.append(Path(dirpath) / name)
    return sorted(paths, key=lambda p: p.relative_to(root).as_posix())


def _check_symlink(path: Path, root: Path, top: str) -> None:
    target = os.readlink(path)
    resolved = (path.parent / target).resolve()
    if os.path.isabs(target) or not resolved.is_relative_to((root / top).resolve()):
        raise BuildError(f"{path.relative_to(root)} -> {target}: archives hold only relative, "
                         "in-tree symlinks")


def _tarinfo(path: Path, root: Path, epoch: int) -> tarfile.TarInfo:
    st = path.lstat()
    info = tarfile.TarInfo(path.relative_to(root).as_posix())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = epoch
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    else:
        raise BuildError(f"{path}: special files cannot go into an archive")
    return info


def write_archive(root: Path, top: str, dest: Path, epoch: int, first: tuple[str, ...] = ()) -> Path:
    """Archive root/top (as top/...) into dest (.tar.gz or .tar.zst), atomically.

    Members named in `first` (paths relative to root) lead, in that order.
    """
    members = _members(root, top)
    leading = [root / name for name in first]
    members = leading + [m for m in members if m not in leading]
    with publishing(dest) as tmp:
        with open(tmp, "wb") as raw, _compressor(dest, raw, epoch) as stream, \
                tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for path in members:
                if path.is_symlink():
                    _check_symlink(path, root, top)
                info = _tarinfo(path, root, epoch)
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return dest


def _compressor(dest: Path, raw, epoch: int):
    if dest.name.endswith(".tar.gz"):
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=9)
    if dest.name.endswith(".tar.zst"):
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0).stream_writer(raw, closefd=False)
    raise BuildError(f"{dest.name}: unknown archive type (expected .tar.gz or .tar.zst)")
