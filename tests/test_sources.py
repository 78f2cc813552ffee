import hashlib
import re
import http.server
import shutil
import subprocess
import threading

import pytest

from musl_cpython import sources
from musl_cpython.errors import ChecksumMismatch, SourceUnavailable
from musl_cpython.recipes import SourceFile, load_dependencies

PAYLOAD = b"pinned source bytes\n" * 1000
PIN = hashlib.sha256(PAYLOAD).hexdigest()


def leftovers(ctx):
    return [p for p in ctx.source_cache.rglob("*") if p.name.startswith(".tmp-") or p.name.startswith(".apt-")]


@pytest.fixture
def server():
    """A local HTTP server: /good serves PAYLOAD, /short promises more bytes than it sends."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/good/src.tar.gz":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD)
            elif self.path == "/short/src.tar.gz":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.write(PAYLOAD[:1000])
                self.close_connection = True
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def mirror(ctx, tmp_path):
    """A local mirror folder holding src.tar.gz with the given bytes."""
    def put(data: bytes):
        folder = tmp_path / "mirror"
        folder.mkdir(exist_ok=True)
        (folder / "src.tar.gz").write_bytes(data)
        ctx.sources_dir = folder
        return folder
    return put


def test_mirror_file_is_verified_and_cached(ctx, mirror):
    folder = mirror(PAYLOAD)
    pin = SourceFile(file="src.tar.gz", sha256=PIN)
    _, path = sources.fetch(ctx, (pin,), "example")
    assert path.read_bytes() == PAYLOAD and path.parent.name == PIN
    shutil.rmtree(folder)
    assert sources.fetch(ctx, (pin,), "example")[1] == path  # now from the cache


def test_mismatch_is_a_hard_error_and_nothing_is_kept(ctx, mirror):
    mirror(PAYLOAD + b"tampered")
    with pytest.raises(ChecksumMismatch) as e:
        sources.fetch(ctx, (SourceFile(file="src.tar.gz", sha256=PIN),), "example")
    message = str(e.value)
    assert "src.tar.gz" in message and PIN in message
    assert hashlib.sha256(PAYLOAD + b"tampered").hexdigest() in message
    assert not sources.cache_path(ctx, SourceFile(file="src.tar.gz", sha256=PIN)).exists()
    assert leftovers(ctx) == []


def test_upstream_download(ctx, server):
    pin = SourceFile(file="src.tar.gz", sha256=PIN, url=f"{server}/good/src.tar.gz")
    assert sources.fetch(ctx, (pin,), "example")[1].read_bytes() == PAYLOAD


def test_partial_download_never_enters_the_cache(ctx, server):
    pin = SourceFile(file="src.tar.gz", sha256=PIN, url=f"{server}/short/src.tar.gz")
    with pytest.raises(SourceUnavailable) as e:
        sources.fetch(ctx, (pin,), "example")
    assert f"{server}/short/src.tar.gz" in str(e.value)
    assert not sources.cache_path(ctx, pin).exists()
    assert leftovers(ctx) == []


def test_unavailable_source_names_every_place_tried(ctx, server, tmp_path):
    ctx.sources_dir = tmp_path / "empty-mirror"
    pin = SourceFile(file="src.tar.gz", sha256=PIN, url=f"{server}/missing/src.tar.gz",
                     debian="no-such-source-package-here")
    with pytest.raises(SourceUnavailable) as e:
        sources.fetch(ctx, (pin,), "example 1.0")
    message = str(e.value)
    assert "source unavailable: example 1.0" in message
    assert "cache: no " in message and "local mirror" in message and "HTTP 404" in message
    assert "Debian source package no-such-source-package-here" in message


def test_damaged_cache_entry_is_replaced(ctx, mirror):
    mirror(PAYLOAD)
    pin = SourceFile(file="src.tar.gz", sha256=PIN)
    path = sources.fetch(ctx, (pin,), "example")[1]
    path.write_bytes(b"bit rot")
    assert sources.fetch(ctx, (pin,), "example")[1].read_bytes() == PAYLOAD


def test_debian_source_package_matching_the_pin(ctx):
    """bzip2's Debian orig tarball is the upstream release: fetched through apt-get source."""
    bzip2 = load_dependencies()["bzip2"]
    pin = next(s for s in bzip2.sources if s.debian)
    assert sources.obtainable(ctx, (pin,)) == "debian", \
        "deb-src entries are missing: ./bootstrap.sh setup adds them"
    _, path = sources.fetch(ctx, (pin,), "bzip2")
    assert sources.sha256_file(path) == pin.sha256
    assert subprocess.run(["tar", "tzf", str(path)], capture_output=True).returncode == 0
    assert leftovers(ctx) == []


def test_with_network_a_debian_pin_counts_only_if_the_pool_serves_it(ctx):
    served = SourceFile(file="python3.9_3.9.2.orig.tar.xz", debian="python3.9",
                        sha256="3c2034c54f811448f516668dce09d24008a0716c3a794dd8639b5388cbde247d")
    assert sources.obtainable(ctx, (served,), network=True) == "debian"
    # Listed in the apt index, but the pool answers 404 for it here.
    listed_only = SourceFile(file="python3.14_3.14.10.orig.tar.xz", debian="python3.14",
                             sha256="de414a57119abef52784d8993e341d53aed635fc2b05c2607d9f98a2c5b72032")
    if sources.obtainable(ctx, (listed_only,)) != "debian":
        pytest.skip("this machine's apt index does not list python3.14 3.14.10")
    assert sources.obtainable(ctx, (listed_only,), network=True) is None


@pytest.fixture(scope="module")
def pinned_pips(tmp_path_factory):
    """Every pinned pip wheel, fetched from pip's package index into one private cache."""
    from musl_cpython.context import Context
    from musl_cpython.python_recipes import load_pythons
    ctx = Context(build_dir=tmp_path_factory.mktemp("build"), cache_dir=tmp_path_factory.mktemp("cache"))
    return {minor: sources.fetch(ctx, recipe.pip, f"pip for {minor}")[1]
            for minor, recipe in load_pythons().items()}


def test_every_minor_pins_a_pip_that_supports_it_and_knows_musllinux(pinned_pips):
    import zipfile

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version
    for minor, wheel in pinned_pips.items():
        with zipfile.ZipFile(wheel) as z:
            metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        requires = re.search(r"^Requires-Python: (.+)$", metadata, re.M).group(1)
        assert Version(f"{minor}.0") in SpecifierSet(requires), (wheel.name, requires)
        assert Version(wheel.name.split("-")[1]) >= Version("21.2"), wheel.name  # PEP 656 musllinux tags


def test_a_pypi_pin_whose_bytes_differ_is_refused(ctx):
    src = SourceFile(file="pip-26.3-py3-none-any.whl", sha256="0" * 64, pypi="pip==26.3")
    with pytest.raises(ChecksumMismatch, match="package index"):
        sources.fetch(ctx, (src,), "pip")
    assert not leftovers(ctx) and not sources.cache_path(ctx, src).exists()


def test_a_pypi_pin_that_does_not_exist_is_named(ctx):
    src = SourceFile(file="pip-0.0.0-py3-none-any.whl", sha256="0" * 64, pypi="pip==0.0.0")
    with pytest.raises(SourceUnavailable, match="pip==0.0.0"):
        sources.fetch(ctx, (src,), "pip")


def test_a_pinned_debian_package_the_archive_no_longer_serves_names_the_pin_and_the_mirror(ctx, tmp_path):
    """A pin apt cannot get (here a version Debian never had) fails with one
    message naming the package, its pin and --sources-dir; from a mirror
    holding the file it is taken, verified."""
    from musl_cpython.context import Context
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(SourceUnavailable) as e:
        sources.fetch_debian_binary(ctx, "gcc-12", "amd64", "12.2.0-0musl1", sha256, "bookworm")
    message = str(e.value)
    assert "gcc-12 12.2.0-0musl1 for amd64" in message and sha256 in message and "--sources-dir" in message
    assert not leftovers(ctx)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "gcc-12_12.2.0-0musl1_amd64.deb").write_bytes(PAYLOAD)
    mirrored = Context(build_dir=ctx.build_dir, cache_dir=ctx.cache_dir, sources_dir=mirror)
    path = sources.fetch_debian_binary(mirrored, "gcc-12", "amd64", "12.2.0-0musl1", sha256, "bookworm")
    assert path.read_bytes() == PAYLOAD


def test_fetch_obtains_what_the_build_options_add_and_the_toolchains_debian_packages(tmp_path):
    """build.py fetch folds in the build's default options (3.11's process
    allocator adds the mimalloc dependency, whose source is the pinned 3.13
    release) and unpacks the pinned Debian packages the build and its
    verification need (x86_64's GCC, musl and musl-dev, the newest musl)."""
    from musl_cpython import pipeline
    from musl_cpython.context import Context, default_cache_dir
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    release, count = pipeline.fetch_for_build(ctx, "3.11.2", "x86_64")
    mimalloc = load_dependencies()["mimalloc"]
    assert release.version == "3.11.2" and count == 13
    assert sources.cache_path(ctx, mimalloc.sources[0]).is_file()
    from musl_cpython.recipes import target_for
    x86_64 = target_for("x86_64")
    for pin in [deb.sha256 for deb in x86_64.gcc_debs] + [x86_64.musl_deb_sha256, x86_64.musl_dev_deb_sha256,
                                                           x86_64.musl_newest_deb_sha256]:
        assert any(ctx.source_cache.glob(f"{pin}/*.deb")), pin
