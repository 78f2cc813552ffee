"""Release index for a folder of archives: SHA256SUMS and uv's download metadata.

Only archives that can be read end to end, hold a distribution and passed
verification are listed; anything else is named in a warning and skipped.
"""
from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import zstandard

from . import pgo
from .context import publishing
from .errors import BuildError, UsageError
from .names import ArchiveName, NotAnArchiveName
from .recipes import Target, target_for_triple
from .sources import sha256_file
from .steps import detail, say, warning


@dataclass(frozen=True)
class Artifact:
    path: Path
    target: Target
    name: ArchiveName
    sha256: str


def _readable(path: Path) -> str | None:
    """Why the archive cannot be released, or None if it reads to the end and holds a distribution."""
    try:
        if path.name.endswith(".zst"):
            with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as stream, \
                    tarfile.open(fileobj=stream, mode="r|") as tar:
                names = _drain(tar)
        else:
            with tarfile.open(path, mode="r|*") as tar:
                names = _drain(tar)
    except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError) as e:
        return f"unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if not any(re.fullmatch(r"python/(install/)?bin/python3", n) for n in names):
        return "holds no python/bin/python3"
    return None


def _drain(tar: tarfile.TarFile) -> set[str]:
    names = set()
    for member in tar:
        names.add(member.name)
        if member.isfile():
            stream = tar.extractfile(member)
            while stream.read(1 << 20):
                pass
    return names


def _readable_profile(path: Path) -> str | None:
    """Why a PGO profile beside the archives cannot be released, if it cannot."""
    try:
        pgo.load(path)
    except UsageError as e:
        return str(e).split(": ", 1)[-1]
    return None


def _verified(path: Path) -> str | None:
    report = path.with_name(path.name + ".verify.json")
    try:
        summary = json.loads(report.read_text())["summary"]
    except (OSError, ValueError, KeyError):
        return f"no verification report ({report.name}); run build.py verify first"
    if summary.get("failed", 1):
        return f"failed verification ({report.name})"
    return None


def collect(directory: Path) -> list[Artifact]:
    artifacts = []
    for path in sorted(directory.glob("cpython-*.tar.*")):
        if not path.name.endswith((".tar.gz", ".tar.zst")):
            continue
        try:
            name = ArchiveName.parse(path.name)
        except NotAnArchiveName as e:
            warning(f"skipping {e}")  # the message starts with the archive's name
            continue
        target = target_for_triple(name.triple)
        problem = ("no target recipe for " + name.triple if target is None else None) or (
            _readable_profile(path) if name.kind == "profile" else _readable(path) or _verified(path))
        if problem:
            warning(f"skipping {path.name}: {problem}")
            continue
        artifacts.append(Artifact(path, target, name, sha256_file(path)))
    return artifacts


def download_metadata(artifacts: list[Artifact], directory: Path, base_url: str | None) -> dict:
    """uv's download-metadata.json: one entry per install_only build, the stripped one preferred."""
    chosen: dict[tuple, Artifact] = {}
    for artifact in artifacts:
        if artifact.name.kind not in ("install_only", "install_only_stripped"):
            continue
        key = (artifact.name.version, artifact.target.arch, artifact.name.variant or "")
        if key not in chosen or artifact.name.kind == "install_only_stripped":
            chosen[key] = artifact
    entries = {}
    for (version, _, variant), artifact in sorted(chosen.items()):
        major, minor, patch = version.split(".")
        target = artifact.target
        if base_url:
            url = base_url.rstrip("/") + "/" + quote(artifact.path.name)
        else:
            url = artifact.path.absolute().as_uri()
        if not (directory / artifact.path.name).is_file():
            raise BuildError(f"metadata would point at a missing file: {artifact.path.name}")
        # uv's key spells a variant after the version: cpython-3.13.15+freethreaded-linux-x86_64-musl.
        entries[f"cpython-{version}{'+' + variant if variant else ''}-linux-{target.uv_arch}-{target.uv_libc}"] = {
            "name": "cpython",
            "arch": {"family": target.uv_arch, "variant": None},
            "os": "linux",
            "libc": target.uv_libc,
            "major": int(major), "minor": int(minor), "patch": int(patch),
            "prerelease": "",
            "url": url,
            "sha256": artifact.sha256,
            "variant": variant or None,
            "build": artifact.name.build_tag,
        }
    return entries


def write_release(directory: Path, base_url: str | None = None) -> tuple[Path, Path]:
    directory = directory.absolute()
    if not directory.is_dir():
        raise BuildError(f"{directory}: no such directory")
    artifacts = collect(directory)
    if not artifacts:
        raise BuildError(f"{directory}: no releasable archives")
    metadata = download_metadata(artifacts, directory, base_url)
    sums, meta = directory / "SHA256SUMS", directory / "download-metadata.json"
    with publishing(sums) as tmp:
        tmp.write_text("".join(f"{a.sha256}  {a.path.name}\n" for a in artifacts))
    with publishing(meta) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    for artifact in artifacts:
        detail(f"{artifact.sha256}  {artifact.path.name}")
    say(f"wrote {sums} ({len(artifacts)} archives) and {meta} ({len(metadata)} entries)")
    return sums, meta
