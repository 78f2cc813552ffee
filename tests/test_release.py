import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from musl_cpython import release
from musl_cpython.errors import BuildError

TAG = "20261121"
TRIPLE = "x86_64-unknown-linux-musl"


def archive(directory, kind="install_only", version="3.13.15", verified=True, members=("python/bin/python3",),
            triple=TRIPLE):
    path = directory / f"cpython-{version}+{TAG}-{triple}-{kind}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in members:
            data = b"\x7fELF" + bytes(200_000)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if verified is not None:
        report = {"summary": {"failed": 0 if verified else 2}}
        path.with_name(path.name + ".verify.json").write_text(json.dumps(report))
    return path


def test_index_lists_good_archives_and_prefers_stripped(tmp_path, capsys):
    plain = archive(tmp_path)
    stripped = archive(tmp_path, "install_only_stripped")
    sums, meta = release.write_release(tmp_path)
    lines = sums.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == sorted([plain.name, stripped.name])
    entries = json.loads(meta.read_text())
    entry = entries["cpython-3.13.15-linux-x86_64-musl"]
    assert entry["url"] == stripped.as_uri()
    assert entry["arch"] == {"family": "x86_64", "variant": None} and entry["libc"] == "musl"
    assert (entry["major"], entry["minor"], entry["patch"], entry["build"]) == (3, 13, 15, TAG)
    assert entry["sha256"] in sums.read_text() and "version" not in entries


def test_base_url(tmp_path):
    path = archive(tmp_path)
    _, meta = release.write_release(tmp_path, base_url="https://example.invalid/releases/")
    url = json.loads(meta.read_text())["cpython-3.13.15-linux-x86_64-musl"]["url"]
    assert url == "https://example.invalid/releases/" + path.name.replace("+", "%2B")


@pytest.mark.parametrize("spoil, why", [
    (lambda p: p.write_bytes(b"garbage" * 100), "unreadable"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "unreadable"),
])
def test_corrupt_and_truncated_archives_are_skipped(tmp_path, capsys, spoil, why):
    good = archive(tmp_path, version="3.13.15")
    bad = archive(tmp_path, version="3.13.5")
    spoil(bad)
    sums, meta = release.write_release(tmp_path)
    err = capsys.readouterr().err
    assert f"warning: skipping {bad.name}: {why}" in err
    assert bad.name not in sums.read_text() and bad.name not in meta.read_text()
    assert good.name in sums.read_text()


def test_foreign_and_unverified_archives_are_skipped(tmp_path, capsys):
    archive(tmp_path)
    foreign = archive(tmp_path, version="3.13.5", members=("numpy/__init__.py",))
    unverified = archive(tmp_path, version="3.13.4", verified=None)
    failed = archive(tmp_path, version="3.13.3", verified=False)
    other = tmp_path / "cpython-3.13.2+x-vax-unknown-linux-musl-install_only.tar.gz"
    other.write_bytes(b"")
    sums, _ = release.write_release(tmp_path)
    err = capsys.readouterr().err
    for path, why in ((foreign, "holds no python/bin/python3"), (unverified, "no verification report"),
                      (failed, "failed verification"), (other, "no target recipe")):
        assert f"warning: skipping {path.name}: {why}" in err
        assert path.name not in sums.read_text()


def test_metadata_pointing_at_a_missing_file_is_an_error(tmp_path):
    path = archive(tmp_path)
    artifacts = release.collect(tmp_path)
    path.unlink()
    with pytest.raises(BuildError, match="missing file"):
        release.download_metadata(artifacts, tmp_path, None)


def test_uv_parses_the_metadata_of_every_target(tmp_path):
    """uv's own parser reads every arch and libc spelling; an entry it cannot
    parse it skips silently, so each one must be listed back."""
    from musl_cpython.recipes import load_targets
    uv = Path(sys.executable).with_name("uv")
    if not uv.is_file():
        pytest.skip("uv is not installed in this environment (requirements.txt installs it)")
    targets = load_targets().values()
    for target in targets:
        archive(tmp_path, "install_only_stripped", triple=target.triple)
    _, meta = release.write_release(tmp_path)
    result = subprocess.run([str(uv), "python", "list", "--all-platforms", "--all-arches", "--only-downloads",
                             "--python-downloads-json-url", str(meta), "3.13.15", "-v"],
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "Skipping entry" not in result.stderr, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    for target in targets:
        # uv prints i686 as x86 and riscv64 as riscv64gc (target-lexicon's names).
        shown = {"i686": "x86", "riscv64": "riscv64gc"}.get(target.uv_arch, target.uv_arch)
        assert f"cpython-3.13.15-linux-{shown}-{target.uv_libc}" in listed, result.stdout


def test_variants_get_entries_of_their_own_that_uv_lists_as_variants(tmp_path):
    """A free-threaded or debug archive is a download of its own, keyed and
    marked as uv spells it, and uv reads each entry."""
    uv = Path(sys.executable).with_name("uv")
    if not uv.is_file():
        pytest.skip("uv is not installed in this environment (requirements.txt installs it)")
    archive(tmp_path, "install_only_stripped")
    threaded = archive(tmp_path, "freethreaded-install_only_stripped")
    archive(tmp_path, "freethreaded-install_only")
    archive(tmp_path, "debug-install_only")
    _, meta = release.write_release(tmp_path)
    entries = json.loads(meta.read_text())
    assert sorted(entries) == ["cpython-3.13.15+debug-linux-x86_64-musl",
                               "cpython-3.13.15+freethreaded-linux-x86_64-musl", "cpython-3.13.15-linux-x86_64-musl"]
    assert entries["cpython-3.13.15+freethreaded-linux-x86_64-musl"]["variant"] == "freethreaded"
    assert entries["cpython-3.13.15+freethreaded-linux-x86_64-musl"]["url"] == threaded.as_uri()
    assert entries["cpython-3.13.15+debug-linux-x86_64-musl"]["variant"] == "debug"
    assert entries["cpython-3.13.15-linux-x86_64-musl"]["variant"] is None
    # uv python list hides debug downloads by design ("we just hide them for now"); that it read
    # the entry shows in -v, which names every entry it skips.
    for request, shown in (("3.13.15t", {"cpython-3.13.15+freethreaded-linux-x86_64-musl"}), ("3.13.15d", set())):
        result = subprocess.run([str(uv), "python", "list", "--all-platforms", "--all-arches", "--only-downloads",
                                 "--python-downloads-json-url", str(meta), request, "-v"],
                                capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert "Skipping entry" not in result.stderr, result.stderr
        listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
        assert listed == shown, result.stdout
