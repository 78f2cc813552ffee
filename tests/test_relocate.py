import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from musl_cpython import elf, relocate
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
    assert elf.read(tree / "bin" / "prog").runpath == ("$ORIGIN/../lib",)
    assert elf.read(tree / "lib" / "libanswer.so.1").runpath == ()
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


def test_bytecode_compiled_from_a_build_path_is_a_leak(tmp_path):
    import py_compile
    source = tmp_path / "b" / "staging" / "mod.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    tree = tmp_path / "python"
    (tree / "lib").mkdir(parents=True)
    py_compile.compile(str(source), cfile=str(tree / "lib" / "mod.cpython-311.pyc"))
    py_compile.compile(str(source), cfile=str(tree / "lib" / "clean.cpython-311.pyc"), dfile="/install/lib/mod.py")
    assert relocate.find_leaks(tree, [str(tmp_path / "b")]) == [f"lib/mod.cpython-311.pyc names {tmp_path / 'b'}"]


def test_a_removed_runpath_leaves_no_trace_of_the_build_directory(compile_c, tmp_path):
    build_dir = tmp_path / "some" / "build" / "directory"
    tree = tmp_path / "python"
    (tree / "lib").mkdir(parents=True)
    module = tree / "lib" / "module.so"
    compile_c(LIB, module, "-shared", "-fPIC", f"-Wl,-rpath,{build_dir}")
    assert elf.read(module).runpath == (str(build_dir),)
    relocate.set_runpaths(tree, relocate.find_patchelf())
    assert elf.read(module).runpath == ()
    assert str(build_dir).encode() not in module.read_bytes()


def test_scripts_naming_the_build_interpreter_find_the_one_beside_them(tmp_path):
    """make install writes #!/install/bin/python3.X; a cross build's pip names the build's Python."""
    bin_dir = tmp_path / "python" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "pip3").write_text("#!/install/bin/python3.13\nimport sys\nprint('pip', sys.argv[1:])\n")
    (bin_dir / "idle3").write_text("#!/b/toolchain/python-for-build-3.13.15\nprint('idle')\n")
    (bin_dir / "2to3").write_text("#!/bin/sh\necho shell\n")
    (bin_dir / "python3").symlink_to(sys.executable)
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    fixed = relocate.fix_shebangs(bin_dir, "python3")
    assert [p.name for p in fixed] == ["pip3"]  # idle3's interpreter is not a bin/python*
    moved = tmp_path / "somewhere else" / "bin"
    shutil.move(bin_dir, moved)
    out = subprocess.run([str(moved / "pip3"), "install", "x"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout == "pip ['install', 'x']\n", out.stderr
    assert (moved / "2to3").read_text() == "#!/bin/sh\necho shell\n"


def test_bytecode_is_compiled_again_for_the_install_prefix_and_by_hash(tmp_path):
    import importlib.util
    tree = tmp_path / "python"
    package = tree / "lib" / "python3.13" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    relocate.recompile(Path(sys.executable), tree, [tree / "lib"], 1763683200, levels=(0, 1))
    tag = sys.implementation.cache_tag
    pyc = package / "__pycache__" / f"__init__.{tag}.pyc"
    assert (package / "__pycache__" / f"__init__.{tag}.opt-1.pyc").is_file()
    data = pyc.read_bytes()
    assert int.from_bytes(data[4:8], "little") & 1  # validated by source hash, not mtime
    assert b"/install/lib/python3.13/site-packages/pkg/__init__.py" in data
    assert str(tmp_path).encode() not in data
    first = data
    relocate.recompile(Path(sys.executable), tree, [tree / "lib"], 1763683200, levels=(0, 1))
    assert pyc.read_bytes() == first
    assert importlib.util.source_hash(b"VALUE = 1\n") == data[8:16]


def test_the_standard_library_is_compiled_again_in_one_process_in_sorted_order(tmp_path):
    """make install's worker pool left bytes that depended on which worker
    compiled what (a string an earlier module shared gets FLAG_REF on 3.13).
    Every .pyc is written again, as one process compiling in sorted order
    writes it; invalid-syntax test inputs and site-packages are left alone."""
    tree = tmp_path / "python"
    stdlib = tree / "lib" / "python3.13"
    (stdlib / "test").mkdir(parents=True)
    (stdlib / "site-packages").mkdir()
    (stdlib / "a.py").write_text("import foo\n")
    (stdlib / "b.py").write_text('a = {"foo", 2, 3}\n\ndef f():\n    b = {"foo", 2, 3}\n')
    (stdlib / "test" / "badsyntax_future.py").write_text("def (:\n")
    (stdlib / "site-packages" / "p.py").write_text("X = 1\n")
    tag = sys.implementation.cache_tag
    planted = {stdlib / "__pycache__" / f"{name}.{tag}{opt}.pyc" for name in ("a", "b") for opt in ("", ".opt-1", ".opt-2")}
    for pyc in planted:
        pyc.parent.mkdir(exist_ok=True)
        pyc.write_bytes(b"written by another process")

    relocate.compile_standard_library(Path(sys.executable), tree, stdlib, 1763683200)

    assert set(stdlib.rglob("*.pyc")) == planted
    reference = tmp_path / "reference"
    shutil.copytree(stdlib, reference, ignore=shutil.ignore_patterns("__pycache__", "test", "site-packages"))
    compile_in_order = ("import compileall, sys\n"
                        "for path in sys.argv[1:]:\n"
                        "    compileall.compile_file(path, quiet=1, ddir='/install/lib/python3.13', optimize=[0, 1, 2])\n")
    subprocess.run([sys.executable, "-I", "-S", "-c", compile_in_order, "a.py", "b.py"], cwd=reference, check=True,
                   env={"SOURCE_DATE_EPOCH": "1763683200"})
    for pyc in planted:
        assert pyc.read_bytes() == (reference / "__pycache__" / pyc.name).read_bytes(), pyc.name


def test_a_module_a_pth_file_imports_is_compiled_for_the_install_prefix_too(tmp_path):
    """3.11's setuptools ships a .pth that imports _distutils_hack at every
    start: the compiling interpreter must not import it (and write its own
    .pyc, naming where the tree is) before compileall looks."""
    import venv
    tree = tmp_path / "python"
    venv.create(tree, symlinks=True)
    site_packages = next(tree.glob("lib/python*/site-packages"))
    (site_packages / "hack.py").write_text("VALUE = 1\n")
    (site_packages / "hack-precedence.pth").write_text("import hack\n")
    relocate.recompile(tree / "bin" / "python", tree, [site_packages], 1763683200, levels=(0,))
    pyc = site_packages / "__pycache__" / f"hack.{sys.implementation.cache_tag}.pyc"
    assert b"/install/" in pyc.read_bytes()
    assert relocate.find_leaks(site_packages, [str(tmp_path)]) == []


def test_record_files_give_the_fixed_scripts_hashes(tmp_path):
    """pip's RECORD named the script as installed, whose shebang named the installing Python."""
    import base64
    import hashlib
    tree = tmp_path / "python"
    (tree / "bin").mkdir(parents=True)
    record = tree / "lib" / "python3.13" / "site-packages" / "pip-26.2.1.dist-info" / "RECORD"
    record.parent.mkdir(parents=True)
    (tree / "bin" / "pip3").write_text("#!/some/cache/entry/bin/python3.13\nimport pip\n")
    record.write_bytes(b"../../../bin/pip3,sha256=stale,40\r\npip/__init__.py,sha256=keep,10\r\n")
    relocate.refresh_records(tree, relocate.fix_shebangs(tree / "bin", "python3.13"))
    data = (tree / "bin" / "pip3").read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert record.read_bytes().decode() == (f"../../../bin/pip3,sha256={digest},{len(data)}\r\n"
                                            "pip/__init__.py,sha256=keep,10\r\n")


OLD_ENSUREPIP = '''_SETUPTOOLS_VERSION = "49.2.1"
_PIP_VERSION = "20.2.3"
_PROJECTS = [
    ("setuptools", _SETUPTOOLS_VERSION, "py3"),
    ("pip", _PIP_VERSION, "py2.py3"),
]
'''


def test_the_pinned_pip_replaces_the_bundled_one_in_site_packages_and_ensurepip(tmp_path):
    """A venv of this machine's Python stands in for the tree (its pip is the
    'bundled' one); a 3.9-style ensurepip is given; the real pinned wheel is installed."""
    import types

    from musl_cpython.context import Context
    from musl_cpython.python_recipes import load_pythons
    tree = tmp_path / "python"
    subprocess.run([sys.executable, "-m", "venv", str(tree)], check=True)
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = tree / "lib" / f"python{minor}"
    (stdlib / "ensurepip" / "_bundled").mkdir(parents=True)
    (stdlib / "ensurepip" / "__init__.py").write_text(OLD_ENSUREPIP)
    (stdlib / "ensurepip" / "_bundled" / "pip-20.2.3-py2.py3-none-any.whl").write_bytes(b"old")
    recipe = load_pythons()[minor]
    job = types.SimpleNamespace(recipe=recipe, minor=minor, stdlib_dir=f"python{minor}")
    ctx = Context(build_dir=tmp_path / "build", cache_dir=tmp_path / "cache")

    changed = relocate.ship_pinned_pip(ctx, job, tree, tree / "bin" / "python")

    assert changed == [stdlib / "ensurepip" / "__init__.py"]
    pinned = recipe.pip_version
    assert [p.name for p in (stdlib / "site-packages").glob("pip-*.dist-info")] == [f"pip-{pinned}.dist-info"]
    assert not (stdlib / "site-packages" / f"pip-{pinned}.dist-info" / "direct_url.json").exists()
    assert [p.name for p in (stdlib / "ensurepip" / "_bundled").iterdir()] == [recipe.pip[0].file]
    text = changed[0].read_text()
    assert f'_PIP_VERSION = "{pinned}"' in text and '("pip", _PIP_VERSION, "py3")' in text
    fixed = relocate.fix_shebangs(tree / "bin", f"python{minor}")
    assert {p.name for p in fixed} >= {"pip", "pip3"}
    version = subprocess.run([str(tree / "bin" / "pip"), "--version"], capture_output=True, text=True, env={})
    assert version.stdout.startswith(f"pip {pinned} "), version.stderr


@pytest.mark.parametrize("executable", ['"/a very/long/bin/python3.13"',
                                        # Quoted only where it has spaces: a long --build-dir without any.
                                        "/" + "long/" * 30 + "bin/python3.13"])
def test_a_long_shebang_trampoline_is_made_relocatable_too(tmp_path, executable):
    script = tmp_path / "tool"
    script.write_text(f"#!/bin/sh\n'''exec' {executable} \"$0\" \"$@\"\n' '''\nimport sys\n")
    assert relocate.fix_shebangs(tmp_path, "python3.13") == [script]
    assert script.read_text() == relocate.RELOCATABLE_SHEBANG.format(python="python3.13") + "import sys\n"
    assert relocate.fix_shebangs(tmp_path, "python3.13") == []  # already relocatable


def test_a_cross_builds_python_wrapper_is_found_from_what_build_info_records(tmp_path):
    """Relocation finds the build Python's wrapper (named in a cross build's
    Makefile and sysconfig data) from the toolchain directory build-info.json
    records, so a cached build packaged from another build directory is
    rewritten too: the wrapper must be where cpython.build_python writes it."""
    from musl_cpython import cpython, toolchain
    from musl_cpython.context import Context, default_cache_dir
    from musl_cpython.python_recipes import python_for
    from musl_cpython.recipes import target_for
    _, releases = python_for("3.13.15")
    ctx = Context(build_dir=tmp_path / "the build's own directory", cache_dir=default_cache_dir())
    recorded = toolchain.prepare(ctx, target_for("aarch64")).bin_dir  # build-info.json's "toolchain"
    python = cpython.BuiltPython(releases[0], "k" * 64, tmp_path / "entry", {})
    written = cpython.build_python(ctx, python, {}, "3.13").program
    assert written.is_file()
    assert cpython.build_python_wrapper(recorded.parent, releases[0].version) == written
