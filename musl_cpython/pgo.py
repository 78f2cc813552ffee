"""PGO profiles as build inputs.

A profile is what CPython's training task (`make profile-run-stamp`: an
instrumented build, then PROFILE_TASK) leaves in the build tree: one .gcda
file of counts per object file. It is collected into a deterministic
archive (profile/... and profile/PROFILE.json), cached under a key of
everything it depends on (the CPython build's own inputs, the training task
and its environment), shipped in the full archive and beside it in dist/,
and taken back with `build --profile`. With a profile at hand CPython is
compiled once: the counts go back into a fresh tree, make is told the
training ran (profile-run-stamp), and it compiles with -fprofile-use.

A cross build with PGO (build --with pgo, Debian's cross GCC) runs the same
task under qemu-user in the target's root (emulation.py): make builds the
instrumented tree, then runs the task with the command that enters the root
in front of ./python, where a native build has $(RUNSHARED).
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import shlex
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from . import cache, cpython, emulation
from .archives import safe_extract, write_archive
from .context import Context, publishing
from .cpython import Job
from .errors import BuildError, UsageError
from .names import ArchiveName
from .sources import sha256_file
from .steps import detail, stage

FILE = "profile.tar.zst"
MANIFEST = "profile/PROFILE.json"
FORMAT = 1
# What the training run gets besides the build's environment: a fixed hash
# seed, so that dict and set orders (and the paths they lead down) repeat.
# (SOURCE_DATE_EPOCH, which every step has, seeds the test runner's random.)
TRAINING_ENVIRONMENT = {"PYTHONHASHSEED": "0"}
# The training's processes run with address randomisation off, so that
# object addresses, and the hashes and orders that follow from them, repeat
# from one training to the next (bench/trainings.py measured two trainings
# 0.2 % of their counts apart with it, 0.04 % without). Best effort: a
# container's seccomp profile may refuse it, and the training goes on.
TRAINING_ADDRESS_LAYOUT = "fixed"
ADDR_NO_RANDOMIZE = 0x0040000  # <linux/personality.h>
STAMP = "profile-run-stamp"  # CPython's Makefile: the training has run
# The instrumented build links without LTO. GCC instruments each object as
# it compiles it, so the counts are the same either way, and an LTO link of
# the instrumented interpreter (and of libpython and each extension module)
# is minutes of CPU spent on programs that run once. The objects are fat
# (-ffat-lto-objects): the link takes their ordinary code. Only GCC trains.
INSTRUMENTED_LINK = "LDFLAGS_NODIST=-fno-lto"


@dataclass(frozen=True)
class Profile:
    path: Path  # the profile archive
    key: str  # what it was trained for
    sha256: str
    manifest: dict

    def restore(self, src: Path) -> None:
        """Put the counts into a configured source tree and tell make the training ran."""
        with tempfile.TemporaryDirectory(dir=src, prefix=".profile-") as tmp:
            safe_extract(self.path, Path(tmp))
            counts = Path(tmp) / "profile"
            for gcda in counts.rglob("*.gcda"):
                target = src / gcda.relative_to(counts)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(gcda, target)
        (src / STAMP).touch()
        detail(f"PGO: {self.manifest['files']} profile files restored from {self.path.name} (key {self.key[:16]})")


def describe(job: Job) -> dict:
    """What a profile is for, in words a mismatch error can show."""
    return {"python": job.version, "target": job.target.triple, "toolchain": job.toolchain.kind.name,
            "options": list(job.recipe.enabled_options)}


def _key_material(ctx: Context, job: Job) -> dict:
    """Everything the counts depend on: the build's own inputs (release pin,
    patches, configure options, compiler identity, target, dependency keys),
    the training task and its environment."""
    job = dataclasses.replace(job, profile=None)
    material = {"build": cpython.cache_material(ctx.project, job), "training": TRAINING_ENVIRONMENT,
                "address_layout": TRAINING_ADDRESS_LAYOUT,
                "task": job.recipe.environment.get("PROFILE_TASK", ""), "format": FORMAT,
                "instrumented_link": INSTRUMENTED_LINK}
    if job.build_python:  # trained under emulation, whose version may decide what the tests do
        material["emulator"] = emulation.emulator_version(job.target)
    return material


def key_for(ctx: Context, job: Job) -> str:
    return cache.key_of(_key_material(ctx, job))


def key_parts(ctx: Context, job: Job) -> dict[str, str]:
    """A digest of each part of the key (each dependency's on its own), which
    PROFILE.json keeps, so that a profile refused for another key can be
    told what differs."""
    material = _key_material(ctx, job)
    build = dict(material.pop("build"))
    parts = {**build, **{f"depends.{name}": key for name, key in build.pop("depends").items()}, **material}
    parts.pop("depends", None)
    return {name: cache.key_of(value)[:16] for name, value in sorted(parts.items())}


def dist_name(job: Job, build_tag: str) -> str:
    """The profile's file name beside the archives (and in the full archive):
    `pgo-profile`, led by the variant as the archives are."""
    return str(ArchiveName(job.version, build_tag, job.target.triple, "profile", (*job.recipe.variant_names, "pgo")))


def obtain(ctx: Context, job: Job, given: Path | None = None) -> Profile:
    """The profile for `job`: the one given (which must be for this very build;
    it then joins the cache), else the cached one, else a new training run."""
    key = key_for(ctx, job)
    entry = cache.entry(ctx.cache_dir / "profiles" / job.target.arch, job.version, {"key": key})
    if given is not None:
        with tempfile.TemporaryDirectory(prefix="musl-cpython-profile-") as tmp:
            profile = load(given, Path(tmp))
            if profile.key != key:
                raise UsageError(f"{given}: a PGO profile for {_words(profile.manifest)} (key {profile.key[:16]}); "
                                 f"this build needs one for {_words(describe(job))} (key {key[:16]})"
                                 + _differing_parts(profile.manifest, key_parts(ctx, job)))
            if not entry.path.is_dir():
                with entry.publish() as staging:
                    shutil.copyfile(profile.path, staging / FILE)
            elif sha256_file(entry.path / FILE) != profile.sha256:
                # Two trainings for one key give different counts, so the cache
                # may hold another profile for this very build; the one given
                # is what the build must be compiled with (to rebuild a
                # published archive's bytes), and it takes the cached one's place.
                with publishing(entry.path / FILE) as replacement:
                    shutil.copyfile(profile.path, replacement)
                detail(f"PGO profile given replaces the cached one for key {key[:16]}")
        detail(f"PGO profile given: {given.name} (key {key[:16]})")
        return load(entry.path / FILE)
    if entry.found(f"PGO profile for CPython {job.version}"):
        return load(entry.path / FILE)
    with entry.publish() as staging:
        train(ctx, job, key, staging / FILE)
    return load(entry.path / FILE)


def _differing_parts(manifest: dict, needed: dict[str, str]) -> str:
    """Which parts of the key differ, where the profile records its parts."""
    given = manifest.get("key_parts")
    if not isinstance(given, dict):
        return ""
    differing = sorted(name for name in set(given) | set(needed) if given.get(name) != needed.get(name))
    return f"; they differ in {', '.join(differing)}" if differing else ""


def _words(manifest: dict) -> str:
    options = ", ".join(manifest.get("options", [])) or "no options"
    return (f"CPython {manifest.get('python', '?')} for {manifest.get('target', '?')} built by "
            f"{manifest.get('toolchain', '?')} with {options}")


def train(ctx: Context, job: Job, key: str, dest: Path) -> None:
    """Build instrumented, run the training task, and collect the counts into `dest`."""
    with stage(f"PGO profile for CPython {job.version}: instrumented build and training"):
        tree = cpython.prepare(ctx, job, f"profile-{job.version}", TRAINING_ENVIRONMENT, purpose="profile")
        cpython.configure(job, tree)
        with fixed_address_layout() as fixed:
            detail("PGO: the training runs with address randomisation off" if fixed else
                   "PGO: address randomisation stays on for the training (personality(ADDR_NO_RANDOMIZE) "
                   "was refused here, as a container's seccomp profile does)")
            if job.build_python:
                log = _train_under_emulation(ctx, job, tree)
            else:
                log = tree.step(job, "training", ["make", f"-j{ctx.jobs}", STAMP, *tree.make_variables,
                                                  INSTRUMENTED_LINK])
        counts = sorted(tree.src.rglob("*.gcda"))
        if not (tree.src / "Python" / "ceval.gcda").is_file():
            raise BuildError(f"CPython {job.version}: the training run wrote no profile for Python/ceval.c; "
                             f"its output is in {log}")
        manifest = {**describe(job), "key": key, "key_parts": key_parts(ctx, job),
                    "task": job.recipe.environment.get("PROFILE_TASK", ""),
                    "training_environment": TRAINING_ENVIRONMENT,
                    "address_layout": "fixed" if fixed else "randomised (personality refused)"}
        collect(tree.src, counts, manifest, dest, ctx.project.source_date_epoch)
        detail(f"{len(counts)} profile files, {dest.stat().st_size / 2**20:.1f} MiB")
        if not ctx.keep_work:
            shutil.rmtree(tree.work, ignore_errors=True)


@contextlib.contextmanager
def fixed_address_layout():
    """While inside, programs this process starts (and theirs) run without
    address randomisation: the personality flag is inherited across fork and
    exec, and an exec lays out its address space by it. Yields whether the
    kernel allowed it; this process's own layout, set when it started, does
    not change, and its personality is restored on the way out."""
    personality = ctypes.CDLL(None, use_errno=True).personality
    personality.argtypes, personality.restype = [ctypes.c_ulong], ctypes.c_int
    before = personality(0xFFFFFFFF)  # queries without changing
    if before == -1 or personality(before | ADDR_NO_RANDOMIZE) == -1:
        yield False
        return
    try:
        yield personality(0xFFFFFFFF) & ADDR_NO_RANDOMIZE != 0
    finally:
        personality(before)


def _train_under_emulation(ctx: Context, job: Job, tree: cpython.Prepared) -> Path:
    """The instrumented cross build, then its training task run by qemu-user
    in the target's root, with the whole work tree (sources, objects, the
    dependencies' sysroot) bound in at its own path, so the counts land
    beside the objects as they do natively."""
    tree.step(job, "instrumented build", ["make", f"-j{ctx.jobs}", "profile-gen-stamp", *tree.make_variables,
                                          INSTRUMENTED_LINK])
    scratch = tree.work / "tmp"  # the root has no /tmp of its own
    scratch.mkdir(exist_ok=True)
    # What configure gave RUNSHARED (libpython's directory, without the static
    # interpreter) goes through to the emulated program.
    runshared = cpython.makefile_var(tree.src / "Makefile", "RUNSHARED")
    with emulation.runner(ctx, job.target, binds=[tree.work]) as runner:
        enter = " ".join([*shlex.split(runshared), f"TMPDIR={scratch}",
                          *map(shlex.quote, runner.argv([], tree.src))])
        # make finds profile-gen-stamp made and goes on to the task.
        return tree.step(job, "training", ["make", STAMP, *tree.make_variables, INSTRUMENTED_LINK,
                                           f"RUNSHARED={enter}"])


def collect(src: Path, counts: list[Path], manifest: dict, dest: Path, epoch: int) -> None:
    """The .gcda files `counts` under `src` (by their paths relative to it) and
    PROFILE.json, as a deterministic archive at `dest`."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".collect-") as tmp:
        collected = Path(tmp)
        for gcda in counts:
            target = collected / "profile" / gcda.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(gcda, target)
        (collected / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
        (collected / MANIFEST).write_text(json.dumps({**manifest, "format": FORMAT, "files": len(counts)},
                                                     indent=2, sort_keys=True) + "\n")
        write_archive(collected, "profile", dest, epoch, first=(MANIFEST,))


def load(path: Path, scratch: Path | None = None) -> Profile:
    """A profile archive, or (copied into `scratch`) the one inside a published
    full archive. Anything else (corrupt, truncated, not a profile) is a
    usage error of one line."""
    if not path.is_file():
        raise UsageError(f"{path}: no such PGO profile")
    with _streamed(path, "PGO profile") as tar:
        first = tar.next()
        # Told apart by what they hold, not by their names: a downloaded
        # archive may have been renamed.
        full_archive = first is not None and first.name.split("/")[0] == "python"
        if not full_archive:
            if first is None or first.name != MANIFEST or not first.isfile():
                raise UsageError(f"{path}: not a PGO profile (its first member is not {MANIFEST})")
            manifest = json.loads(tar.extractfile(first).read())
            for _ in tar:  # read to the end: a truncated archive fails here
                pass
    if full_archive:
        if scratch is None:
            raise UsageError(f"{path}: a full archive, where a profile file was expected")
        return load(_out_of_full_archive(path, scratch))
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("key"), str):
        raise UsageError(f"{path}: a PGO profile of another format ({manifest.get('format')!r}, this build reads {FORMAT})")
    return Profile(path, manifest["key"], sha256_file(path), manifest)


def _out_of_full_archive(path: Path, scratch: Path) -> Path:
    """The profile a full archive carries (python/<name>-pgo-profile.tar.zst), copied into `scratch`."""
    with _streamed(path, "full archive") as tar:
        for member in tar:
            inner = member.name.split("/")
            if len(inner) == 2 and inner[0] == "python" and inner[1].endswith("-profile.tar.zst") and member.isfile():
                out = scratch / inner[1]
                with open(out, "wb") as copy:
                    shutil.copyfileobj(tar.extractfile(member), copy)
                return out
    raise UsageError(f"{path}: a full archive without a PGO profile (it was not built with PGO)")


@contextlib.contextmanager
def _streamed(path: Path, what: str):
    """A .tar.zst read as a stream; a corrupt or truncated one is a usage error of one line."""
    try:
        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            yield tar
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable {what} ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                         ) from None
