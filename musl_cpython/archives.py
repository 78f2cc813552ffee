"""Extract tar archives without letting any member escape the target directory."""
from __future__ import annotations

import posixpath
import tarfile
import tempfile
from pathlib import Path

import zstandard

from .errors import UnsafeArchive


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
