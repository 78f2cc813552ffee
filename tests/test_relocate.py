import shutil
import subprocess

import pytest

from musl_cpython import relocate
from musl_cpython.errors import BuildError

LIB = "int answer(void) { return 42; }\n"
MAIN = """
#include <stdio.h>
int answer(void);
int main(void) { printf("%d\\n", answer()); return 0; }
"""


@pytest.fixture
def built(compile_c, tmp_path):
    """libanswer.so.1 in a 'dependency' dir, and a program linked against it."""
    deps = tmp_path / "deps" / "lib"
    deps.mkdir(parents=True)
    compile_c(LIB, deps / "libanswer.so.1", "-shared", "-fPIC", "-Wl,-soname,libanswer.so.1")
    (deps / "libanswer.so").symlink_to("libanswer.so.1")
    tree = tmp_path / "python"
    (tree / "bin").mkdir(parents=True)
    (tree / "lib").mkdir()
    compile_c(MAIN, tree / "bin" / "prog", f"-L{deps}", "-lanswer", f"-Wl,-rpath,{deps}")
    return tree, deps


def test_bundled_tree_runs_anywhere(built, tmp_path):
    patchelf = relocate.find_patchelf()
    tree, deps = built
    bundled = relocate.bundle_libraries(tree, relocate.library_index([deps]))
    assert bundled == ["libanswer.so.1"]
    relocate.set_runpaths(tree, patchelf)
    assert relocate.dynamic_info(tree / "bin" / "prog")["runpath"] == ["$ORIGIN/../lib"]
    assert relocate.dynamic_info(tree / "lib" / "libanswer.so.1")["runpath"] == []
    assert str(deps).encode() not in (tree / "bin" / "prog").read_bytes()
    shutil.rmtree(deps)  # the build-time location is gone
    moved = tmp_path / "elsewhere" / "with space" / "python"
    shutil.move(tree, moved)
    out = subprocess.run([str(moved / "bin" / "prog")], capture_output=True, text=True, env={})
    assert out.stdout == "42\n", out.stderr


def test_library_no_recipe_builds_is_an_error(built):
    tree, _ = built
    with pytest.raises(BuildError, match=r"libanswer.so.1 \(by bin/prog\)"):
        relocate.bundle_libraries(tree, {})


def test_build_paths_are_rewritten_and_leaks_found(tmp_path):
    tree = tmp_path / "python"
    data = tree / "lib" / "python3.13" / "_sysconfigdata__linux_x86_64-linux-musl.py"
    data.parent.mkdir(parents=True)
    data.write_text("build_time_vars = {'CC': '/b/toolchain/bin/cc -pthread',\n"
                    " 'LDFLAGS': '-L/b/sysroot/prefix/lib -Wl,-rpath,/b/sysroot/prefix/lib',\n"
                    " 'srcdir': '/b/src/Python-3.13.15'}\n")
    other = tree / "lib" / "python3.13" / "notes.txt"
    other.write_text("built in /b/src\n")
    changed = relocate.rewrite_build_paths(
        tree, replacements=[("/b/toolchain/bin/cc", "cc"), ("/b/sysroot/prefix", "/install"),
                            ("/b/src/Python-3.13.15", "/install")],
        drop_patterns=[relocate.RUNPATH_FLAG])
    assert changed == [data]
    namespace = {}
    exec(data.read_text(), namespace)
    assert namespace["build_time_vars"] == {"CC": "cc -pthread", "LDFLAGS": "-L/install/lib",
                                            "srcdir": "/install"}
    assert relocate.find_leaks(tree, ["/b/"]) == ["lib/python3.13/notes.txt names /b/"]


def test_a_removed_runpath_leaves_no_trace_of_the_build_directory(compile_c, tmp_path):
    build_dir = tmp_path / "some" / "build" / "directory"
    tree = tmp_path / "python"
    (tree / "lib").mkdir(parents=True)
    module = tree / "lib" / "module.so"
    compile_c(LIB, module, "-shared", "-fPIC", f"-Wl,-rpath,{build_dir}")
    assert relocate.dynamic_info(module)["runpath"] == [str(build_dir)]
    relocate.set_runpaths(tree, relocate.find_patchelf())
    assert relocate.dynamic_info(module)["runpath"] == []
    assert str(build_dir).encode() not in module.read_bytes()
