"""Build the same inputs twice and compare the archives byte for byte.

Each clean build gets its own empty build directory and its own empty
dependency and CPython caches. They share only the verified source files
and zig's compiled copy of its own libc (part of the pinned toolchain, not
of the build), so the comparison covers every compile and link of the
project. With `against_cache`, the first build is an ordinary one that
takes dependencies and CPython from the regular caches (themselves the
output of an earlier clean build, in another directory): half the time.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import pipeline
from .context import Context
from .sources import sha256_file
from .steps import detail, stage


def reproduce(ctx: Context, spec: str, arch: str, keep: Path | None = None,
              against_cache: bool = False, profile: Path | None = None, add_options=()) -> bool:
    """Two builds compared byte for byte. A PGO build's second build uses the
    first's profile (or both use `profile`, a profile file or a published
    full archive): the profile is an input like the sources. `add_options`
    are build options (a variant's) both builds get."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="musl-cpython-reproduce-", dir=keep))
    digests = []
    try:
        if against_cache:
            with stage("build from the regular caches"):
                result = pipeline.build(ctx, spec, arch, scratch / "cached" / "dist", network=False, profile=profile,
                                        add_options=add_options)
            digests.append(_digests(result))
            profile = profile or result.profile
        for run in ("first", "second")[len(digests):]:
            cache = scratch / run / "cache"
            cache.mkdir(parents=True)
            for shared in ("sources", "zig"):
                (ctx.cache_dir / shared).mkdir(parents=True, exist_ok=True)
                (cache / shared).symlink_to(ctx.cache_dir / shared)
            run_ctx = Context(build_dir=scratch / run / "build", cache_dir=cache,
                              sources_dir=ctx.sources_dir, jobs=ctx.jobs, project=ctx.project)
            with stage(f"{run} clean build"):
                result = pipeline.build(run_ctx, spec, arch, scratch / run / "dist", network=False, profile=profile,
                                        add_options=add_options)
            digests.append(_digests(result))
            profile = profile or result.profile
        same = digests[0] == digests[1]
        for name in sorted(set(digests[0]) | set(digests[1])):
            a, b = digests[0].get(name), digests[1].get(name)
            detail(f"{'identical' if a == b else 'DIFFERENT'}  {name}\n    {a}\n    {b}")
        if not same:
            keep = keep or scratch  # the differing archives are what one needs to look at
            detail(f"both builds are kept in {scratch} for comparison (e.g. with diffoscope)")
        return same
    finally:
        if keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


def _digests(result: pipeline.BuildResult) -> dict[str, str]:
    """sha256 of every file a build writes to dist: the archives and, for a PGO
    build, its profile (both sides must list the same files to compare)."""
    files = [*result.archives, *([result.profile] if result.profile else [])]
    return {path.name: sha256_file(path) for path in files}
