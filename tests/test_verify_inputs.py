"""`build.py verify` on inputs it cannot verify: one clear line, exit code 2."""
import subprocess
import sys
import tarfile

import pytest

from musl_cpython import REPO

NAME = "cpython-3.13.15+20261121-x86_64-unknown-linux-musl-install_only.tar.gz"


def verify(path):
    return subprocess.run([sys.executable, str(REPO / "build.py"), "verify", str(path)],
                          capture_output=True, text=True)


def evil_archive(path):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("python/bin/python3")
        info.type = tarfile.SYMTYPE
        info.linkname = "/usr/bin/python3"
        tar.addfile(info)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"this is not a tarball"), "not a readable tar archive"),
    (evil_archive, "absolute symlink"),
])
def test_unverifiable_archive(tmp_path, make, message):
    archive = tmp_path / NAME
    make(archive)
    result = verify(archive)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "evil").exists()


def test_arch_without_a_recipe(tmp_path):
    archive = tmp_path / NAME.replace("x86_64-unknown-linux-musl", "vax-unknown-linux-musl")
    archive.write_bytes(b"")
    result = verify(archive)
    assert result.returncode == 2 and "no target recipe for vax-unknown-linux-musl" in result.stderr


def test_not_a_distribution_name(tmp_path):
    archive = tmp_path / "something.tar.gz"
    archive.write_bytes(b"")
    result = verify(archive)
    assert result.returncode == 2 and "not a distribution archive name" in result.stderr


@pytest.mark.parametrize("kind", ["install_only", "install_only_stripped", "lto-full", "pgo+lto-full"])
def test_every_archive_kind_name_is_understood(kind):
    from pathlib import Path
    from musl_cpython.verify import identify
    extension = "tar.zst" if kind.endswith("full") else "tar.gz"
    target, name = identify(Path(f"cpython-3.13.15+20261121-x86_64-unknown-linux-musl-{kind}.{extension}"))
    assert (target.arch, name.version, name.flavour) == ("x86_64", "3.13.15", kind)


def test_a_report_is_reused_only_for_the_same_bytes_code_and_network(tmp_path):
    import json

    from musl_cpython import code_identity
    from musl_cpython.sources import sha256_file
    from musl_cpython.verify import earlier_report
    archive = tmp_path / "cpython-3.13.15+20261121-x86_64-unknown-linux-musl-install_only.tar.gz"
    archive.write_bytes(b"archive bytes")
    report = {"archive_sha256": sha256_file(archive), "code": code_identity(), "network": False,
              "summary": {"failed": 0}}
    path = archive.with_name(archive.name + ".verify.json")
    path.write_text(json.dumps(report))
    assert earlier_report(archive, network=False) == report
    assert earlier_report(archive, network=True) is None  # the wheel checks were skipped then
    path.write_text(json.dumps(report | {"code": "0" * 64}))
    assert earlier_report(archive, network=False) is None
    path.write_text(json.dumps(report | {"summary": {"failed": 1}}))
    assert earlier_report(archive, network=False) is None
    path.write_text(json.dumps(report))
    archive.write_bytes(b"other bytes")
    assert earlier_report(archive, network=False) is None
