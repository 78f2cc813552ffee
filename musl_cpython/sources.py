"""Obtain pinned source files, verify them, and cache them by content.

A pinned file may come from (in this order) the content-addressed cache, a
local mirror folder, its upstream URL, or Debian's source package whose orig
tarball has the pinned sha256. Nothing enters the cache unverified, and a
partial download never does.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from . import debian
from .context import Context, publishing
from .errors import ChecksumMismatch, SourceUnavailable
from .recipes import SourceFile
from .steps import detail

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path(ctx: Context, src: SourceFile) -> Path:
    return ctx.source_cache / src.sha256 / src.file


def _verified_cache_entry(ctx: Context, src: SourceFile) -> Path | None:
    path = cache_path(ctx, src)
    if not path.is_file():
        return None
    if sha256_file(path) != src.sha256:  # damaged on disk since it was stored
        path.unlink()
        return None
    return path


def _store(ctx: Context, src: SourceFile, produce, origin: str) -> Path:
    """Let `produce(tmp_path)` write the file, verify it, then publish it."""
    final = cache_path(ctx, src)
    with publishing(final) as tmp:
        produce(tmp)
        actual = sha256_file(tmp)
        if actual != src.sha256:
            raise ChecksumMismatch(src.file, src.sha256, actual, origin)
    return final


def fetch(ctx: Context, alternatives: tuple[SourceFile, ...], what: str) -> tuple[SourceFile, Path]:
    """Return (pin, path) for the first alternative that can be obtained."""
    for src in alternatives:
        if path := _verified_cache_entry(ctx, src):
            return src, path
    tried = [f"cache: no {cache_path(ctx, src)}" for src in alternatives]
    if ctx.sources_dir is None:
        tried.append("local mirror: none given (--sources-dir)")
    else:
        for src in alternatives:
            candidate = ctx.sources_dir / src.file
            if candidate.is_file():
                detail(f"{src.file}: from local mirror {ctx.sources_dir}")
                return src, _store(ctx, src, lambda tmp: shutil.copyfile(candidate, tmp),
                                   f"local mirror {candidate}")
            tried.append(f"local mirror: no {candidate}")
    for src in alternatives:
        if not src.url:
            continue
        try:
            return src, _store(ctx, src, lambda tmp: _download(src.url, tmp), src.url)
        except requests.RequestException as e:
            tried.append(f"upstream {src.url}: {_reason(e)}")
    for src in alternatives:
        if not src.pypi:
            continue
        try:
            detail(f"{src.file}: {src.pypi} from pip's package index")
            return src, _store(ctx, src, lambda tmp: _pip_download(src.pypi, src.file, tmp),
                               f"pip's package index ({src.pypi})")
        except SourceUnavailable as e:
            tried.append(str(e))
    for src in alternatives:
        if not src.debian:
            tried.append(f"Debian: no source package is pinned for {src.file}")
            continue
        try:
            version, filename = _debian_version_with(src)
        except SourceUnavailable as e:
            tried.append(str(e))
            continue
        detail(f"{src.file}: from Debian source package {src.debian}={version}")
        return src, _store(ctx, src, lambda tmp: _apt_get_source(src.debian, version, filename, tmp),
                           f"Debian source package {src.debian}={version}")
    raise SourceUnavailable(f"source unavailable: {what}; tried:\n" +
                            "\n".join(f"  - {t}" for t in tried))


def obtainable(ctx: Context, alternatives: tuple[SourceFile, ...], network: bool = False) -> str | None:
    """Where the file could come from right now, without downloading it."""
    for src in alternatives:
        if cache_path(ctx, src).is_file():
            return "cache"
    if ctx.sources_dir:
        for src in alternatives:
            if (ctx.sources_dir / src.file).is_file():
                return "mirror"
    for src in alternatives:
        if src.debian:
            try:
                version, filename = _debian_version_with(src)
            except SourceUnavailable:
                continue
            # An index may list what its pool no longer serves; ask the pool.
            if not network or _debian_pool_serves(src.debian, version, filename):
                return "debian"
    if any(src.pypi for src in alternatives):
        return "package index"  # pip's configured index; the project reaches it whenever it installs
    if network:
        for src in alternatives:
            if src.url:
                try:
                    requests.head(src.url, timeout=5, allow_redirects=True).raise_for_status()
                    return "upstream"
                except requests.RequestException:
                    pass
    return None


def pinned_origins(alternatives: tuple[SourceFile, ...]) -> str:
    """Where the recipe says the file comes from, for a user to fetch it by hand."""
    places = []
    for src in alternatives:
        places += [f"upstream {src.file}"] if src.url else []
        places += [f"Debian source package {src.debian}"] if src.debian else []
        places += [f"pip's index ({src.pypi})"] if src.pypi else []
    return "; ".join(places) or "nowhere but a local mirror (--sources-dir)"


def _reason(e: requests.RequestException) -> str:
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    if isinstance(e, requests.ConnectionError):
        return "cannot connect"
    if isinstance(e, requests.Timeout):
        return "timed out"
    return type(e).__name__


def _download(url: str, dest: Path) -> None:
    with requests.get(url, stream=True, timeout=(10, 60)) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length") or 0)
        done, shown = 0, -1
        name = url.rsplit("/", 1)[-1]
        with open(dest, "wb") as f:
            for chunk in response.iter_content(CHUNK):
                f.write(chunk)
                done += len(chunk)
                step = done * 10 // total if total else -1
                if step != shown:
                    shown = step
                    size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
                    print(f"    downloading {name}: {size}", file=sys.stderr, flush=True)
        if total and done != total:
            raise requests.ConnectionError(f"connection closed after {done} of {total} bytes")


def _pip_download(requirement: str, filename: str, dest: Path) -> None:
    """The wheel `filename` of `requirement`, downloaded by this machine's pip
    from the index it is configured with (no address is written here)."""
    with tempfile.TemporaryDirectory(prefix="musl-cpython-pip-") as scratch:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                                 "--ignore-requires-python", "--disable-pip-version-check", "--dest", scratch,
                                 requirement], capture_output=True, text=True)
        wheel = Path(scratch) / filename
        if result.returncode != 0 or not wheel.is_file():
            reason = (result.stderr.strip().splitlines() or ["no such file downloaded"])[-1]
            raise SourceUnavailable(f"pip's package index: {requirement}: {reason}")
        shutil.copyfile(wheel, dest)


def _debian_version_with(src: SourceFile) -> tuple[str, str]:
    """The Debian version of src.debian whose source files include src's sha256."""
    if shutil.which("apt-cache") is None:
        raise SourceUnavailable(f"Debian source package {src.debian}: apt-cache not found")
    result = subprocess.run(["apt-cache", "showsrc", src.debian], capture_output=True, text=True)
    version, in_checksums = None, False
    for line in result.stdout.splitlines():
        if line.startswith("Version:"):
            version = line.split(":", 1)[1].strip()
        if line.startswith("Checksums-Sha256:"):
            in_checksums = True
            continue
        if in_checksums and line.startswith(" "):
            fields = line.split()
            if len(fields) == 3 and fields[0] == src.sha256:
                return version, fields[2]
        else:
            in_checksums = False
    raise SourceUnavailable(
        f"Debian source package {src.debian}: no version in the apt index has a file with "
        f"sha256 {src.sha256} (deb-src entries missing? run ./bootstrap.sh)")


def _debian_pool_serves(package: str, version: str, filename: str) -> bool:
    result = subprocess.run(["apt-get", "source", "--print-uris", "--download-only", "--tar-only",
                             f"{package}={version}"], capture_output=True, text=True)
    uris = [line.split()[0].strip("'") for line in result.stdout.splitlines()
            if line.startswith("'") and len(line.split()) > 1 and line.split()[1] == filename]
    try:
        return bool(uris) and requests.head(uris[0], timeout=10, allow_redirects=True).ok
    except requests.RequestException:
        return False


def _apt_get_source(package: str, version: str, filename: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".apt-") as tmp:
        result = subprocess.run(
            ["apt-get", "source", "--download-only", "--tar-only", f"{package}={version}"],
            cwd=tmp, capture_output=True, text=True)
        got = Path(tmp) / filename
        if result.returncode != 0 or not got.is_file():
            raise SourceUnavailable(f"Debian source package {package}={version}: apt-get source failed: "
                                    f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
        shutil.move(got, dest)


def fetch_debian_binary(ctx: Context, package: str, debian_arch: str, version: str, sha256: str,
                        suite: str) -> Path:
    """A Debian binary package (.deb), pinned by sha256, through `apt-get download`
    from a private apt view of one suite and architecture (cached), so that a
    package of any Debian release and architecture can be had without touching
    the machine's apt configuration.
    """
    pin = SourceFile(file=f"{package}_{version.split(':')[-1]}_{debian_arch}.deb", sha256=sha256)
    if path := _verified_cache_entry(ctx, pin):
        return path
    if ctx.sources_dir is not None and (ctx.sources_dir / pin.file).is_file():
        candidate = ctx.sources_dir / pin.file
        detail(f"{pin.file}: from local mirror {ctx.sources_dir}")
        return _store(ctx, pin, lambda tmp: shutil.copyfile(candidate, tmp), f"local mirror {candidate}")
    spec = f"{package}:{debian_arch}={version}"
    options = debian.apt_options(ctx.cache_dir / "apt" / f"{suite}-{debian_arch}", suite, debian_arch)

    def download(dest: Path) -> None:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".apt-") as tmp:
            result = subprocess.run(["apt-get", *options, "download", spec], cwd=tmp, capture_output=True,
                                    text=True)
            debs = list(Path(tmp).glob("*.deb"))
            if result.returncode != 0 or len(debs) != 1:
                said = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise SourceUnavailable(
                    f"Debian package {package} {version} for {debian_arch} (pinned sha256 {sha256}) is not served "
                    f"by Debian's {suite} here ({said}); put {pin.file} into a local mirror and give it with "
                    "--sources-dir")
            shutil.move(debs[0], dest)

    return _store(ctx, pin, download, f"Debian package {spec}")
