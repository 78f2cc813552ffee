"""Tar archives: extract them without letting any member escape the target
directory, and write them with deterministic bytes.

Written archives have sorted members owned by 0:0 with empty owner names,
normalised modes and one mtime (SOURCE_DATE_EPOCH); the gzip header has no
file name and the same timestamp, and zstd runs single-threaded, so the
same tree always gives the same bytes.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import posixpath
import stat
import tarfile
import tempfile
from pathlib import Path

import zstandard

from .context import publishing
from .errors import BuildError, UnsafeArchive

ZSTD_LEVEL = 15


def _check_member(member: tarfile.TarInfo, archive_name: str) -> None:
    def reject(why: str):
        raise UnsafeArchive(f"{archive_name}: refusing to extract {member.name!r}: {why}")

    name = member.name
    if name.startswith("/") or name.startswith("\\"):
        reject("absolute path")
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../"):
        reject("path leaves the extraction directory")
    if member.issym():
        target = member.linkname
        if target.startswith("/"):
            reject(f"absolute symlink to {target!r}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(normal), target))
        if resolved == ".." or resolved.startswith("../"):
            reject(f"symlink to {target!r} leaves the extraction directory")
    elif member.islnk():
        target = posixpath.normpath(member.linkname)
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            reject(f"hard link to {member.linkname!r} leaves the extraction directory")
    elif not (member.isfile() or member.isdir()):
        reject("device, FIFO or other special file")


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract `archive` (any tar, or .tar.zst) into `dest`, after checking every member first.

    Nothing is written unless every member stays inside `dest`.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zst"):
        with tempfile.NamedTemporaryFile(dir=dest, suffix=".tar") as plain:
            try:
                with open(archive, "rb") as f:
                    zstandard.ZstdDecompressor().copy_stream(f, plain)
            except zstandard.ZstdError as e:
                raise UnsafeArchive(f"{archive.name}: not a readable zstd archive ({e})") from None
            plain.flush()
            return _extract_tar(Path(plain.name), dest, archive.name)
    return _extract_tar(archive, dest, archive.name)


def _extract_tar(archive: Path, dest: Path, shown_name: str) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, shown_name)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # Python < 3.11.4: the checks above are the whole defence
                tar.extractall(dest, members=members)
    except getattr(tarfile, "FilterError", ()) as e:
        raise UnsafeArchive(f"{shown_name}: refusing to extract: {e}") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UnsafeArchive(f"{shown_name}: not a readable tar archive ({first_line})") from None


def single_top_dir(dest: Path) -> Path:
    """The one directory a source tarball unpacked into."""
    entries = [p for p in dest.iterdir()]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def tree_in(root: Path) -> Path:
    """The install tree in an unpacked distribution archive: python/, or
    python/install/ in a full archive."""
    full = root / "python" / "install"
    return full if (full / "bin").is_dir() else root / "python"


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


@contextlib.contextmanager
def _streamed(archive: Path):
    """A .tar.gz or .tar.zst read as a stream; one that cannot be read to its end is a BuildError."""
    try:
        with open(archive, "rb") as raw:
            stream = zstandard.ZstdDecompressor().stream_reader(raw) if archive.name.endswith(".zst") else raw
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                yield tar
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as e:
        raise BuildError(f"{archive}: not a readable archive ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                         ) from None


def member_text(archive: Path, name: str) -> str:
    """One member's text, read as a stream (PYTHON.json leads a full archive)."""
    with _streamed(archive) as tar:
        for member in tar:
            if member.name == name and member.isreg():
                return tar.extractfile(member).read().decode()
    raise BuildError(f"{archive}: no {name} in it")


def member_digests(archive: Path) -> dict[str, str]:
    """Each member of a .tar.gz or .tar.zst, read as a stream, as one line
    that changes with anything in it: type, mode, owner, mtime, and the
    sha256 of a file's bytes or a link's target."""
    def describe(member: tarfile.TarInfo, tar: tarfile.TarFile) -> str:
        header = f"{member.mode:o} {member.uid}:{member.gid} {member.uname}:{member.gname} {member.mtime}"
        if member.isreg():
            digest = hashlib.sha256()
            stream = tar.extractfile(member)
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
            return f"file {header} {digest.hexdigest()}"
        if member.issym() or member.islnk():
            return f"{'symlink' if member.issym() else 'hardlink'} {header} -> {member.linkname}"
        return f"{'directory' if member.isdir() else 'other'} {header}"

    with _streamed(archive) as tar:
        return {member.name: describe(member, tar) for member in tar}
