"""build.py reproduce --from: what a published full archive says was built
(its PYTHON.json), and the member-by-member comparison of an archive with
its rebuild. The rebuild itself is a whole clean build (minutes to most of
an hour); the closing notes of the work that changes how builds are made
record its runs."""
import json
import subprocess
import sys

import pytest

from musl_cpython import REPO, archives, reproduce
from musl_cpython.context import Context
from musl_cpython.errors import UsageError

STEM = "cpython-3.13.15+20261121"


def full_archive(directory, info, triple="x86_64-unknown-linux-musl", options="pgo+lto"):
    root = directory / "tree"
    (root / "python" / "install").mkdir(parents=True, exist_ok=True)
    (root / "python" / "PYTHON.json").write_text(json.dumps(info))
    (root / "python" / "install" / "file").write_text("bytes\n")
    return archives.write_archive(root, "python", directory / f"{STEM}-{triple}-{options}-full.tar.zst", 0,
                                  first=("python/PYTHON.json",))


def test_the_request_is_read_from_python_json(tmp_path):
    ctx = Context()
    info = {"target_triple": "armv7-unknown-linux-musleabihf", "build_tag": ctx.project.build_tag,
            "python_version": "3.13.15", "pgo_profile": {},
            "build_options_enabled": ["freethreaded", "pgo", "static-interpreter", "builtin-modules"]}
    full = full_archive(tmp_path, info, "armv7-unknown-linux-musleabihf", "freethreaded+pgo+lto")
    version, arch, add, remove, profiled, backend = reproduce.request(ctx, full)
    assert (version, arch, profiled, backend) == ("3.13.15", "armv7", True, "host")
    assert add == ("freethreaded", "pgo", "static-interpreter", "builtin-modules")
    assert set(remove) == {"memory-routines", "process-allocator"}  # defaults the archive did not have
    # Alpine's GCC made it: the rebuild runs in the container too.
    alpine = full_archive(tmp_path / "alpine", {**info, "toolchain": {"kind": "native"}},
                          "armv7-unknown-linux-musleabihf", "freethreaded+pgo+lto")
    assert reproduce.request(ctx, alpine)[5] == "container"
    with pytest.raises(UsageError, match="built with build tag 19700101; these recipes give"):
        reproduce.request(ctx, full_archive(tmp_path / "old", {**info, "build_tag": "19700101"},
                                            "armv7-unknown-linux-musleabihf"))


def test_only_a_full_archive_names_its_build():
    with pytest.raises(UsageError, match="takes a -full archive"):
        reproduce.request(Context(), REPO / f"{STEM}-x86_64-unknown-linux-musl-install_only.tar.gz")


def test_archives_are_compared_member_by_member(tmp_path):
    def make(name, files, links=()):
        root = tmp_path / name
        for path, text in files.items():
            (root / "python" / path).parent.mkdir(parents=True, exist_ok=True)
            (root / "python" / path).write_text(text)
        for path, target in links:
            (root / "python" / path).symlink_to(target)
        return archives.write_archive(root, "python", tmp_path / f"{name}.tar.gz", 0)

    given = make("given", {"bin/a": "1", "lib/b": "2", "lib/c": "3"}, [("bin/python3", "a")])
    same = make("same", {"bin/a": "1", "lib/b": "2", "lib/c": "3"}, [("bin/python3", "a")])
    other = make("other", {"bin/a": "1", "lib/b": "changed", "lib/d": "4"}, [("bin/python3", "lib")])
    assert reproduce.compare(given, same) == []
    assert reproduce.compare(given, other) == ["changed: python/bin/python3", "changed: python/lib/b",
                                               f"only in {given.name}: python/lib/c", "only in the rebuild: python/lib/d"]


def test_the_cli_refuses_options_the_archive_decides(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "reproduce", "--from", str(tmp_path / "x"),
                             "--against-cache"], capture_output=True, text=True)
    assert result.returncode == 2 and "--against-cache, --profile and --variant do not go with it" in result.stderr
