"""Many builds at once: every Python version and arch the recipes know.

The matrix is data for CI (`build.py matrix --json`) and a loop here
(`build.py build --python all`). Dependency builds are cached per target, so
versions built one after another share them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from . import pipeline
from .context import Context
from .errors import BuildError, SourceUnavailable, StepFailed, UsageError
from .python_recipes import load_pythons, python_for
from .recipes import load_targets, target_for
from .steps import say


def versions(spec: str) -> list[str]:
    """'all' -> every minor version with a recipe; otherwise the spec itself."""
    if spec == "all":
        return list(load_pythons())
    python_for(spec)  # an unknown version is a usage error here, before any build
    return [spec]


def arches(spec: str) -> list[str]:
    if spec == "all":
        return list(load_targets())
    target_for(spec)
    return [spec]


# What platform.machine() says on each CI runner the targets name.
RUNNER_MACHINES = {"ubuntu-24.04": "x86_64", "ubuntu-24.04-arm": "aarch64"}


def entries(python_spec: str = "all", arch_spec: str = "all") -> list[dict]:
    """One CI job per (newest pinned release, arch, variant), with the names its
    artifacts get. A variant's job asks for it by uv's spelling (3.13.15t)."""
    out = []
    for minor in versions(python_spec):
        recipe, releases = python_for(minor)
        for arch in arches(arch_spec):
            target = target_for(arch)
            variants = {"": ""} | {name: option.abi_flag for name, option in recipe.variants.items()
                                   if option.applies(recipe.minor, arch)}
            for variant, abi_flag in variants.items():
                out.append({"python": releases[0].version + abi_flag, "minor": recipe.minor, "arch": arch,
                            "variant": variant, "triple": target.triple,
                            "options": " ".join(f"--with {name}" for name in release_options(recipe, target, variant)),
                            "docker_platform": target.docker_platform, "runner": target.runner,
                            "backend": release_backend(target)})
    return out


def release_backend(target) -> str:
    """Where the release builds a target: on the host path, in Debian, as the
    README's command and `build.py reproduce` build it, so that anyone can
    rebuild the published bytes; that is every cross arch (zig, or the cross
    GCC for PGO), and an arch its runner runs natively whose PGO compiler is
    pinned (gcc_debs: x86_64). Inside Alpine, by its own GCC, an arch a runner
    runs natively without one (aarch64)."""
    native = RUNNER_MACHINES.get(target.runner) == target.arch
    return "container" if native and not target.gcc_debs else "host"


def release_options(recipe, target, variant: str) -> list[str]:
    """The target's release_options that a build of this version and variant
    accepts by name (PGO: from 3.10, and not for the debug variant)."""
    variants = (variant,) if variant else ()
    accepted = []
    for name in target.release_options:
        try:
            recipe.choose_options(target.arch, add=(*variants, name))
        except UsageError:
            continue
        accepted.append(name)
    return accepted


@dataclass
class Row:
    version: str
    arch: str
    status: str
    size_mib: float | None = None
    minutes: float | None = None
    verification: str = ""


def build_many(ctx: Context, python_spec: str, arch_spec: str, out_dir: Path, network: bool,
               backend: str) -> list[Row]:
    rows = []
    for arch in arches(arch_spec):
        for minor in versions(python_spec):
            try:
                _, release = pipeline.select_release(ctx, minor)
            except SourceUnavailable:
                rows.append(Row(minor, arch, "source unavailable"))
                continue
            say(f"=== CPython {release.version} for {arch}")
            start = time.monotonic()
            try:
                result = pipeline.build(ctx, release.version, arch, out_dir, network=network, backend=backend)
            except SourceUnavailable:
                rows.append(Row(release.version, arch, "source unavailable"))
                continue
            except BuildError as e:
                where = f" (log: {e.log_path})" if isinstance(e, StepFailed) else ""
                rows.append(Row(release.version, arch, f"failed: {str(e).splitlines()[0]}{where}",
                                minutes=(time.monotonic() - start) / 60))
                continue
            summaries = [report["summary"] for report in result.verification.values()]
            stripped = next(a for a in result.archives if "install_only_stripped" in a.name)
            rows.append(Row(release.version, arch, "ok", stripped.stat().st_size / 2**20,
                            (time.monotonic() - start) / 60,
                            f"{sum(s['passed'] for s in summaries)} passed, "
                            f"{sum(s['failed'] for s in summaries)} failed, "
                            f"{sum(s['skipped'] for s in summaries)} skipped ({len(summaries)} archives)"))
    return rows


def table(rows: list[Row]) -> str:
    header = ("version", "arch", "status", "stripped MiB", "minutes", "verification")
    lines = [header] + [(r.version, r.arch, r.status, f"{r.size_mib:.1f}" if r.size_mib else "-",
                         f"{r.minutes:.1f}" if r.minutes is not None else "-", r.verification or "-")
                        for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in lines)
