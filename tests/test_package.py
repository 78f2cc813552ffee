import hashlib
import os
import tarfile

import pytest

from musl_cpython.errors import BuildError
from musl_cpython.archives import write_archive


def tree(root, mtime):
    python = root / "python"
    (python / "bin").mkdir(parents=True)
    (python / "lib").mkdir()
    exe = python / "bin" / "python3.13"
    exe.write_bytes(b"\x7fELF fake")
    exe.chmod(0o775)
    (python / "lib" / "os.py").write_text("# os\n")
    (python / "bin" / "python3").symlink_to("python3.13")
    for path in [python, *python.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def test_archives_are_byte_identical_whatever_the_disk_says(tmp_path):
    a = write_archive(tree(tmp_path / "a", 1_000_000), "python", tmp_path / "a.tar.gz", 1763683200)
    b = write_archive(tree(tmp_path / "b", 2_000_000), "python", tmp_path / "b.tar.gz", 1763683200)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    with tarfile.open(a) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and names[0] == "python"
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 1763683200)}
    modes = {m.name: m.mode for m in members}
    assert modes["python/bin/python3.13"] == 0o755 and modes["python/lib/os.py"] == 0o644


def test_escaping_symlinks_are_refused(tmp_path):
    root = tree(tmp_path / "t", 0)
    (root / "python" / "bin" / "escape").symlink_to("/usr/bin/python3")
    with pytest.raises(BuildError, match="relative, in-tree symlinks"):
        write_archive(root, "python", tmp_path / "x.tar.gz", 0)
    assert not (tmp_path / "x.tar.gz").exists()
    assert list(tmp_path.glob(".tmp-*")) == []




def test_zstd_archives_are_deterministic_and_lead_with_the_named_member(tmp_path):
    for name, mtime in (("a", 1), ("b", 2)):
        root = tree(tmp_path / name, mtime)
        (root / "python" / "PYTHON.json").write_text("{}")
        write_archive(root, "python", tmp_path / f"{name}.tar.zst", 0, first=("python/PYTHON.json",))
    assert (tmp_path / "a.tar.zst").read_bytes() == (tmp_path / "b.tar.zst").read_bytes()
    import zstandard
    with open(tmp_path / "a.tar.zst", "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        names = [m.name for m in tar]
    assert names[0] == "python/PYTHON.json" and names.count("python/PYTHON.json") == 1
    assert "python/bin/python3.13" in names




def test_stripped_tree_leaves_out_the_test_suite_its_extension_modules_and_optimised_bytecode(tmp_path):
    from musl_cpython.package import trim_for_running
    from musl_cpython.python_recipes import python_for
    stdlib = tmp_path / "lib" / "python3.13"
    for relative in ("test/test_os.py", "idlelib/idle_test/test_x.py", "idlelib/editor.py", "tkinter/ttk.py",
                     "turtle.py", "json/__init__.py",
                     "json/__pycache__/__init__.cpython-313.pyc", "json/__pycache__/__init__.cpython-313.opt-1.pyc",
                     "json/__pycache__/__init__.cpython-313.opt-2.pyc",
                     "lib-dynload/_testcapi.cpython-313-x86_64-linux-musl.so",
                     "lib-dynload/_json.cpython-313-x86_64-linux-musl.so"):
        (stdlib / relative).parent.mkdir(parents=True, exist_ok=True)
        (stdlib / relative).write_text("")
    trim_for_running(stdlib, python_for("3.13")[0].stripped)
    left = sorted(p.relative_to(stdlib).as_posix() for p in stdlib.rglob("*") if p.is_file())
    assert left == ["json/__init__.py", "json/__pycache__/__init__.cpython-313.pyc",
                    "lib-dynload/_json.cpython-313-x86_64-linux-musl.so", "turtle.py"]
