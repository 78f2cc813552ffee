"""Where a run keeps its scratch files, logs, caches and outputs."""
from __future__ import annotations

import fcntl
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO
from .errors import BuildDirectoryBusy, UsageError
from .recipes import Project, load_project


# What configure, make, compiler flags and the loader's path lists cannot
# take in the name of a directory builds run in: autoconf stops at a space
# with "C compiler cannot create executables", and a colon splits a RUNPATH.
UNBUILDABLE = re.compile(r"[\s:;$#'\"\\`*?\[\](){}<>|&!]")


def default_cache_dir() -> Path:
    if os.environ.get("MUSL_CPYTHON_CACHE"):
        return Path(os.environ["MUSL_CPYTHON_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "musl-cpython"


@dataclass
class Context:
    build_dir: Path = REPO / "build"
    cache_dir: Path = field(default_factory=default_cache_dir)
    sources_dir: Path | None = None  # a local mirror of source files
    jobs: int = os.cpu_count() or 1
    project: Project = field(default_factory=load_project)
    keep_work: bool = False  # leave CPython's build directory in build/work, for inspection

    def __post_init__(self):
        self.build_dir = Path(self.build_dir).absolute()
        self.cache_dir = Path(self.cache_dir).absolute()
        if self.sources_dir is not None:
            self.sources_dir = Path(self.sources_dir).absolute()

    def check_buildable(self) -> None:
        """Refuse, before any work, a build or cache directory that the
        builds in it could not use (dependencies build in the cache, CPython
        in the build directory)."""
        for option, path in (("--build-dir", self.build_dir), ("--cache-dir", self.cache_dir)):
            found = dict.fromkeys("whitespace" if c.isspace() else repr(c) for c in UNBUILDABLE.findall(str(path)))
            if found:
                raise UsageError(f"{option} {path}: builds run configure and make in it, which cannot take "
                                 f"{', '.join(found)} in a directory name; choose a path without")

    @property
    def logs(self) -> Path:
        return self.build_dir / "logs"

    @property
    def source_cache(self) -> Path:
        return self.cache_dir / "sources"

    @contextmanager
    def exclusive(self):
        """Hold the build directory for one run: two runs would clear each
        other's scratch directories. Caches need no lock (see publishing())."""
        self.build_dir.mkdir(parents=True, exist_ok=True)
        with open(self.build_dir / ".lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "another process"
                raise BuildDirectoryBusy(f"{self.build_dir} is in use by {holder}; wait for it to finish "
                                         "or give this run its own --build-dir") from None
            lock.seek(0)
            lock.truncate()
            lock.write(f"pid {os.getpid()}\n")
            lock.flush()
            yield

    def work_dir(self, *parts: str) -> Path:
        """A fresh, empty scratch directory under build/work."""
        path = self.build_dir.joinpath("work", *parts)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path


def _temporary_sibling(final: Path) -> Path:
    return final.parent / f".tmp-{os.getpid()}-{final.name}"


@contextmanager
def publishing(final: Path):
    """Yield a temporary path next to `final`; move it into place only on success.

    Caches and dist/ only ever contain complete entries: an interrupted or
    failed producer leaves at most a .tmp-<pid>-* sibling, which
    prune_stale() removes once its process is gone.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    prune_stale(final.parent)
    tmp = _temporary_sibling(final)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and final.is_dir():
            # Another run published the same content first; keep theirs.
            _remove(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def prune_stale(directory: Path) -> None:
    for entry in directory.glob(".tmp-*"):
        try:
            pid = int(entry.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not _alive(pid):
            _remove(entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
