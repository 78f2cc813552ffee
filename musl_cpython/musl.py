"""The oldest musl the artifacts support, from Debian's package for each arch.

Verification resolves every undefined symbol against this libc.so, and runs
artifacts with this loader: never the host's, which may be newer.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from . import cache, elf, sources
from .context import Context
from .errors import BuildError
from .recipes import Target


def musl_root(ctx: Context, target: Target, newest: bool = False) -> Path:
    """Debian's musl package for the target, unpacked (cached): the oldest
    supported one, or with `newest` the newest Debian has."""
    musl = ctx.project.musl
    if newest:
        version, sha256, suite = musl.newest_debian_version, target.musl_newest_deb_sha256, musl.newest_debian_suite
    else:
        version = target.musl_debian_version or musl.debian_version
        sha256, suite = target.musl_deb_sha256, target.musl_debian_suite or musl.debian_suite
    entry = cache.entry(ctx.cache_dir / "musl", f"{target.debian_arch}-{version}", {"deb_sha256": sha256})
    if entry.path.is_dir():
        return entry.path
    deb = sources.fetch_debian_binary(ctx, "musl", target.debian_arch, version, sha256, suite)
    with entry.publish() as tmp:
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"cannot unpack {deb.name}: {result.stderr.strip()}")
    return entry.path


def sysroot(ctx: Context, target: Target) -> Path:
    """Debian's musl and musl-dev for the target (the oldest supported musl),
    unpacked into one tree (cached): what the musl-gcc and cross-gcc
    toolchains compile and link against."""
    musl = ctx.project.musl
    version = target.musl_debian_version or musl.debian_version
    suite = target.musl_debian_suite or musl.debian_suite
    pins = {"musl": target.musl_deb_sha256, "musl-dev": target.musl_dev_deb_sha256}
    entry = cache.entry(ctx.cache_dir / "musl-sysroot", f"{target.debian_arch}-{version}", pins)
    if entry.path.is_dir():
        return entry.path
    debs = [sources.fetch_debian_binary(ctx, package, target.debian_arch, version, sha256, suite)
            for package, sha256 in pins.items()]
    with entry.publish() as tmp:
        for deb in debs:
            result = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"cannot unpack {deb.name}: {result.stderr.strip()}")
        # The specs link against /usr/lib/<triplet>/libc.so, which a merged-/usr
        # system reaches as the musl package's /lib/<triplet>/libc.so.
        libc = tmp / "usr" / "lib" / target.platform_triplet / "libc.so"
        if not libc.exists():
            libc.symlink_to(Path("../../../lib") / target.platform_triplet / "libc.so")
    return entry.path


def sysroot_specs(sysroot: Path, target: Target, spelled: str) -> str:
    """musl-dev's musl-gcc.specs with its header and library directories moved
    into the sysroot, which the text calls `spelled`; the loader it links
    against (-dynamic-linker) stays where the target's systems have it."""
    directories = [f"/usr/{kind}/{target.platform_triplet}" for kind in ("include", "lib")]
    specs = sysroot / directories[1].lstrip("/") / "musl-gcc.specs"
    if not specs.is_file():
        raise BuildError(f"{sysroot}: Debian's musl-dev for {target.debian_arch} has no {specs.relative_to(sysroot)}")
    text = specs.read_text()
    for directory in directories:
        if directory not in text:
            raise BuildError(f"{specs}: names no {directory}; the cross-gcc toolchain cannot point it into the sysroot")
        text = text.replace(directory, spelled + directory)
    return text


def checked_version(ctx: Context, target: Target) -> str:
    """The musl release whose exports the symbol check uses for this target."""
    return target.musl_debian_version.split("-")[0] or ctx.project.musl.minimum


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
    """Names musl's libc.so defines: the symbol floor every ELF file is checked against."""
    return set(elf.exported_symbols(path))
