"""The oldest musl the artifacts support, from Debian's package for each arch.

Verification resolves every undefined symbol against this libc.so, and runs
artifacts with this loader: never the host's, which may be newer.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile

from . import sources
from .context import Context, publishing
from .errors import BuildError
from .recipes import Target


def musl_root(ctx: Context, target: Target, newest: bool = False) -> Path:
    """Debian's musl package for the target, unpacked (cached): the oldest
    supported one, or with `newest` the newest Debian has."""
    project = ctx.project
    if newest:
        version, sha256, suite = (project.musl_newest_debian_version, target.musl_newest_deb_sha256,
                                  project.musl_newest_debian_suite)
    else:
        version = target.musl_debian_version or project.musl_debian_version
        sha256, suite = target.musl_deb_sha256, target.musl_debian_suite or project.musl_debian_suite
    entry = ctx.cache_dir / "musl" / f"{target.debian_arch}-{version}"
    if entry.is_dir():
        return entry
    deb = sources.fetch_debian_binary(ctx, "musl", target.debian_arch, version, sha256, suite)
    with publishing(entry) as tmp:
        tmp.mkdir()
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"cannot unpack {deb.name}: {result.stderr.strip()}")
    return entry


def checked_version(ctx: Context, target: Target) -> str:
    """The musl release whose exports the symbol check uses for this target."""
    return target.musl_debian_version.split("-")[0] or ctx.project.musl_minimum


def libc_path(root: Path, target: Target) -> Path:
    """musl's libc.so inside an unpacked package; the loader is a link to it,
    in /lib or, in merged-/usr releases, /usr/lib."""
    for loader in (root / target.musl_loader.lstrip("/"), root / "usr" / target.musl_loader.lstrip("/")):
        candidate = loader
        while candidate.is_symlink():  # resolved inside root, never on the host
            link = candidate.readlink()
            candidate = root / str(link).lstrip("/") if link.is_absolute() else candidate.parent / link
        if candidate.is_file():
            return candidate
    raise BuildError(f"no musl libc.so in {root}")


def exported_symbols(path: Path) -> set[str]:
    """Names a shared library defines in its dynamic symbol table."""
    with open(path, "rb") as f:
        dynsym = ELFFile(f).get_section_by_name(".dynsym")
        if dynsym is None:
            return set()
        return {s.name for s in dynsym.iter_symbols()
                if s.name and s["st_shndx"] != "SHN_UNDEF"
                and s["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")}
