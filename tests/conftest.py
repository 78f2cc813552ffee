"""Shared fixtures: a real zig toolchain, and contexts with throwaway caches;
helpers for tests that read pinned sources or compute cache keys."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from musl_cpython import REPO, cpython, elf, sources, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.errors import SourceUnavailable
from musl_cpython.recipes import target_for


def pinned_source(release, tmp_path: Path) -> Path:
    """The release's verified source archive from the shared cache (fetched
    if need be), or a skip saying why this machine cannot obtain it."""
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    if not sources.obtainable(ctx, release.sources):
        pytest.skip(f"CPython {release.version}: no source on this machine (cache, mirror, Debian)")
    try:
        return sources.fetch(ctx, release.sources, f"CPython {release.version}")[1]
    except SourceUnavailable as e:  # an index may list what its pool does not serve
        pytest.skip(str(e))


def object_symbols(obj: Path) -> tuple[set[str], set[str]]:
    """The object's defined global functions, and every symbol it needs from elsewhere."""
    undefined = set()
    with open(obj, "rb") as f:
        for symbol in ELFFile(f).get_section_by_name(".symtab").iter_symbols():
            # ARM's unwind tables name a personality routine; nothing calls it.
            # The GOT (i686) and TOC (ppc64le) bases are the linker's, not a library's.
            if (symbol.entry.st_shndx == "SHN_UNDEF" and symbol.name
                    and not symbol.name.startswith("__aeabi_unwind_cpp_pr")
                    and symbol.name not in ("_GLOBAL_OFFSET_TABLE_", ".TOC.")):
                undefined.add(symbol.name)
    return set(elf.object_functions(obj)), undefined


def keyed_job(recipe, arch: str = "x86_64") -> cpython.Job:
    """A CPython job for cache_material(): no toolchain or dependencies behind it."""
    target = target_for(arch)
    return cpython.Job(recipe=recipe, release=recipe.releases[0], target=target,
                       toolchain=toolchain.Toolchain(target, Path("/nonexistent"), (), "identity"), dependencies={})


@pytest.fixture
def ctx(tmp_path) -> Context:
    """A context whose caches and scratch space are private to the test."""
    return Context(build_dir=tmp_path / "build", cache_dir=tmp_path / "cache", jobs=2)


@pytest.fixture(scope="session")
def tools(tmp_path_factory) -> toolchain.Toolchain:
    """The x86_64 toolchain, sharing zig's compiled libc with real builds."""
    build = tmp_path_factory.mktemp("toolchain")
    shared = Context(build_dir=build, cache_dir=default_cache_dir())
    return toolchain.prepare(shared, target_for("x86_64"))


@pytest.fixture
def compile_c(tools, tmp_path):
    """Compile C source with the musl toolchain: compile_c(code, out, *flags)."""
    import subprocess

    def compile_(code: str, out: Path, *flags: str) -> Path:
        src = tmp_path / (out.name + ".c")
        src.write_text(textwrap.dedent(code))
        env = tools.environment(0)
        result = subprocess.run([tools.cc, *tools.cflags, *flags, str(src), "-o", str(out)],
                                capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return out
    return compile_


@dataclass
class Built:
    dist: Path
    archives: list  # install_only, install_only_stripped, full
    stdout: str
    argv: list

    @property
    def archive(self) -> Path:
        return self.archives[0]


def _built(work: Path, *arguments: str) -> Built:
    argv = [sys.executable, str(REPO / "build.py"), "build", "--out", str(work / "dist"),
            "--build-dir", str(work / "build"), *arguments]
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    kinds = ("install_only.tar.gz", "install_only_stripped.tar.gz", "full.tar.zst")
    archives = [next((work / "dist").glob(f"*-{kind}")) for kind in kinds]
    return Built(work / "dist", archives, result.stdout, argv)


@pytest.fixture(scope="session")
def build(tmp_path_factory) -> Built:
    """The default target, built for real by the CLI (dependencies and CPython cached between runs)."""
    return _built(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="session")
def freethreaded_build(tmp_path_factory) -> Built:
    """CPython 3.13t for x86_64, built and verified by the CLI. Without PGO,
    so that a cold test run trains one profile, not two: what is tested here
    is the variant's layout, names and ABI, which PGO does not change."""
    return _built(tmp_path_factory.mktemp("e2e-freethreaded"), "--python", "3.13t", "--no-pgo")
