import io
import tarfile

import pytest

from musl_cpython.archives import safe_extract
from musl_cpython.errors import UnsafeArchive


def make_tar(path, *members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def test_good_archive_extracts(tmp_path):
    archive = make_tar(tmp_path / "good.tar.gz", file_member("top/a.txt", b"hello"),
                       link_member("top/link", "a.txt"))
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out/top/link").read_bytes() == b"hello"


@pytest.mark.parametrize("member, why", [
    (file_member("/etc/evil"), "absolute path"),
    (file_member("top/../../evil"), "leaves"),
    (link_member("top/abs", "/etc/passwd"), "absolute symlink"),
    (link_member("top/up", "../../outside"), "leaves"),
    (link_member("top/hard", "../outside", tarfile.LNKTYPE), "hard link"),
])
def test_escaping_members_are_refused_before_anything_is_written(tmp_path, member, why):
    archive = make_tar(tmp_path / "bad.tar.gz", file_member("top/first.txt"), member)
    out = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchive) as e:
        safe_extract(archive, out)
    assert why in str(e.value)
    assert not (out / "top" / "first.txt").exists()
    assert not (tmp_path / "evil").exists()


def test_device_files_are_refused(tmp_path):
    info = tarfile.TarInfo("top/null")
    info.type = tarfile.CHRTYPE
    archive = make_tar(tmp_path / "dev.tar.gz", (info, None))
    with pytest.raises(UnsafeArchive, match="special file"):
        safe_extract(archive, tmp_path / "out")


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(UnsafeArchive, match="not a readable tar archive"):
        safe_extract(junk, tmp_path / "out")
