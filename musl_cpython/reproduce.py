"""Build the same inputs twice and compare the archives byte for byte, or
rebuild a published full archive and compare it member by member.

Each clean build gets its own empty build directory and its own empty
dependency and CPython caches. They share only the verified source files
and zig's compiled copy of its own libc (part of the pinned toolchain, not
of the build), so the comparison covers every compile and link of the
project. With `against_cache`, the first build is an ordinary one that
takes dependencies and CPython from the regular caches (themselves the
output of an earlier clean build, in another directory): half the time.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import archives, pipeline
from .context import Context
from .errors import UsageError
from .names import ArchiveName, NotAnArchiveName
from .python_recipes import python_for
from .recipes import target_for_triple
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
            run_ctx = clean_context(ctx, scratch / run)
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


def clean_context(ctx: Context, directory: Path) -> Context:
    """A build directory and caches of their own under `directory`, sharing
    only `ctx`'s verified sources and zig's compiled copy of its libc."""
    cache = directory / "cache"
    cache.mkdir(parents=True)
    for shared in ("sources", "zig"):
        (ctx.cache_dir / shared).mkdir(parents=True, exist_ok=True)
        (cache / shared).symlink_to(ctx.cache_dir / shared)
    return Context(build_dir=directory / "build", cache_dir=cache, sources_dir=ctx.sources_dir, jobs=ctx.jobs,
                   project=ctx.project)


def request(ctx: Context, full: Path) -> tuple[str, str, tuple[str, ...], tuple[str, ...], bool, str]:
    """What build made a full archive, from its PYTHON.json: (version, arch,
    options to add, options to remove, whether it carries its PGO profile,
    the backend: the container where Alpine's own GCC compiled it)."""
    try:
        name = ArchiveName.parse(full.name)
    except NotAnArchiveName as e:
        raise UsageError(str(e)) from None
    if name.kind != "full":
        raise UsageError(f"{full.name}: reproduce --from takes a -full archive, which carries PYTHON.json")
    info = json.loads(archives.member_text(full, "python/PYTHON.json"))
    target = target_for_triple(info["target_triple"])
    if target is None:
        raise UsageError(f"{full.name}: no target recipe for {info['target_triple']}")
    if info["build_tag"] != ctx.project.build_tag:
        raise UsageError(f"{full.name} was built with build tag {info['build_tag']}; these recipes give "
                         f"{ctx.project.build_tag}: check out the commit that made it")
    recipe, _ = python_for(info["python_version"])
    enabled = tuple(info["build_options_enabled"])
    defaults = recipe.choose_options(target.arch)
    backend = "container" if info.get("toolchain", {}).get("kind") == "native" else "host"
    return (info["python_version"], target.arch, enabled, tuple(o for o in defaults if o not in enabled),
            "pgo_profile" in info, backend)


def compare(given: Path, rebuilt: Path) -> list[str]:
    """The members in which two archives differ (changed, missing, extra); none if alike."""
    ours, theirs = archives.member_digests(given), archives.member_digests(rebuilt)
    return [f"{'changed' if m in ours and m in theirs else 'only in ' + (given.name if m in ours else 'the rebuild')}"
            f": {m}" for m in sorted(set(ours) | set(theirs)) if ours.get(m) != theirs.get(m)]


def reproduce_from(ctx: Context, full: Path, keep: Path | None = None) -> bool:
    """Rebuild the build a published full archive names, in fresh caches
    with the profile it carries, and compare that archive and any of its
    install_only siblings beside it, member by member."""
    version, arch, add, remove, profiled, backend = request(ctx, full)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="musl-cpython-reproduce-", dir=keep))
    same = False
    try:
        with stage(f"clean build of CPython {version} for {arch} ({', '.join(add) or 'no options'})"):
            # On the backend that made it: Alpine's GCC gives other bytes than the host path's compilers.
            result = pipeline.build(clean_context(ctx, scratch), version, arch, scratch / "dist", network=False,
                                    backend=backend, add_options=add, remove_options=remove,
                                    profile=full if profiled else None)
        same = True
        for rebuilt in result.archives:
            given = full.with_name(rebuilt.name)
            if not given.is_file():
                detail(f"not beside {full.name}, not compared: {rebuilt.name}")
                continue
            differing = compare(given, rebuilt)
            members = len(archives.member_digests(rebuilt))
            if differing:
                same = False
                detail(f"DIFFERENT  {given.name}: {len(differing)} of {members} members\n    "
                       + "\n    ".join(differing))
            elif sha256_file(given) != sha256_file(rebuilt):
                same = False  # alike member by member, but the compressed stream is not
                detail(f"DIFFERENT  {given.name}: all {members} members alike, but not the archive's bytes")
            else:
                detail(f"identical  {given.name}: all {members} members, and every byte "
                       f"(sha256 {sha256_file(given)})")
        if not same:
            detail(f"the rebuild is kept in {scratch} for comparison (e.g. with diffoscope)")
        return same
    finally:
        if keep is None and same:
            shutil.rmtree(scratch, ignore_errors=True)
