"""Debian's GCC and binutils as pinned inputs: the packages a target's recipe
names (`gcc_debs`, each by version and sha256), unpacked into one tree in
the cache, which the musl-gcc toolchain runs instead of whatever the host's
apt installed. GCC finds its own programs relative to where it lies, and the
wrappers put the tree's bin/ first on PATH (as, ld, ar) and its libraries
first on LD_LIBRARY_PATH (cc1's isl, mpc, mpfr and gmp; binutils' bfd). So a
host whose apt has moved on to another gcc-12 still compiles the pinned
bytes, and a published profile still fits.

What the host still gives: glibc, which runs the compiler, and zlib and
zstd, which (de)compress its intermediate files; none of their code reaches
the output.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from . import cache, sources
from .context import Context
from .errors import BuildError
from .recipes import Target


def gcc_root(ctx: Context, target: Target) -> Path:
    """The target's gcc_debs unpacked into one tree (a cache entry)."""
    if not target.gcc_debs:
        raise BuildError(f"recipes/targets/{target.arch}.toml pins no gcc_debs: a PGO build for {target.arch} on a "
                         f"{target.arch} host compiles with Debian's GCC from pinned packages")
    pins = {deb.package: [deb.version, deb.sha256] for deb in target.gcc_debs}
    entry = cache.entry(ctx.cache_dir / "gcc", f"{target.debian_arch}-{target.gcc_suite}", pins)
    if entry.path.is_dir():
        return entry.path
    debs = [sources.fetch_debian_binary(ctx, deb.package, target.debian_arch, deb.version, deb.sha256,
                                        target.gcc_suite) for deb in target.gcc_debs]
    with entry.publish() as tmp:
        for deb in debs:
            result = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"cannot unpack {deb.name}: {result.stderr.strip()}")
    return entry.path
