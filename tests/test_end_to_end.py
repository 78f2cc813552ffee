"""The default target built for real, unpacked somewhere new and run.

The first run on a machine builds everything (tens of minutes); later runs
take the dependency and CPython builds from ~/.cache/musl-cpython and only
relocate, package and check.
"""
import io
import json
import os
import subprocess
import tarfile

import pytest
import zstandard
from elftools.elf.elffile import ELFFile

from musl_cpython import REPO, elf
from musl_cpython.archives import safe_extract
from musl_cpython.python_recipes import load_pythons
from musl_cpython.verify.checks import CATALOGUE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def unpacked(build, tmp_path_factory):
    archive = build.archive
    where = tmp_path_factory.mktemp("unpacked") / "a" / "deep" / "new" / "place with space"
    safe_extract(archive, where)
    return where / "python"


def run_python(tree, code, **env):
    return subprocess.run([str(tree / "bin" / "python3"), "-c", code], capture_output=True,
                          text=True, env=env, timeout=300)


def test_archive_layout(build):
    archive = build.archive
    assert archive.name.startswith("cpython-3.13.")
    assert archive.name.endswith("-x86_64-unknown-linux-musl-install_only.tar.gz")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert {m.name.split("/")[0] for m in members} == {"python"}
    for top in ("python/bin", "python/lib", "python/include", "python/share"):
        assert any(m.name == top for m in members), top
    links = {m.name: m.linkname for m in members if m.issym()}
    assert links["python/bin/python3"] == links["python/bin/python"] == "python3.13"
    for name, target in links.items():
        assert not target.startswith("/"), (name, target)
        assert os.path.normpath(os.path.join(os.path.dirname(name), target)).startswith("python/")


def test_stages_are_reported_with_times(build):
    stdout = build.stdout
    # Archives of unchanged inputs come from the packaging cache in one stage.
    packaging = ["relocate and package"] if "==> relocate and package" in stdout else ["relocate", "package"]
    for stage in ("recipes", "sources", "toolchain", "dependencies", "cpython", *packaging, "smoke check",
                  "verify"):
        assert f"==> {stage}" in stdout and f"<== {stage}: " in stdout, stage
    assert "ssl: OpenSSL 3.5" in stdout


def test_imports_with_an_empty_environment(unpacked):
    result = run_python(unpacked, "import ssl, sqlite3, ctypes, _decimal; print(ssl.OPENSSL_VERSION)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OpenSSL 3.5")


def test_identity_and_sysconfig(unpacked):
    code = ("import sys, sysconfig, json, importlib.machinery as m; v = sysconfig.get_config_vars(); "
            "print(json.dumps({k: v.get(k) for k in ('prefix', 'CC', 'CXX', 'SOABI', 'EXT_SUFFIX', 'LDSHARED', "
            "'LIBDIR', 'INCLUDEPY', 'LIBPL')}"
            " | {'multiarch': sys.implementation._multiarch, 'suffixes': m.EXTENSION_SUFFIXES,"
            " 'sys_prefix': sys.prefix, 'stdlib': sysconfig.get_paths()['stdlib']}))")
    result = run_python(unpacked, code)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["multiarch"] == "x86_64-linux-musl"
    assert info["SOABI"] == "cpython-313-x86_64-linux-musl"
    assert info["suffixes"][0] == ".cpython-313-x86_64-linux-musl.so"
    assert info["CC"].split()[0] == "cc" and info["CXX"].split()[0] == "c++"
    assert info["LDSHARED"].split()[0] == "cc"
    # Built for /install; unpacked by hand, sysconfig names where the tree is.
    assert info["prefix"] == info["sys_prefix"] == str(unpacked)
    assert info["LIBDIR"] == str(unpacked / "lib") and info["INCLUDEPY"] == str(unpacked / "include" / "python3.13")
    assert info["LIBPL"].startswith(str(unpacked / "lib" / "python3.13" / "config-3.13"))
    assert info["stdlib"] == str(unpacked / "lib" / "python3.13")


def test_sysconfigdata_prefix_is_install(unpacked):
    """The file keeps the build's prefix, in the form uv reads and rewrites."""
    data = next(unpacked.glob("lib/python3.13/_sysconfigdata_*.py")).read_text()
    assert "'prefix': '/install'" in data
    assert "'CC': 'cc" in data


def test_every_elf_file_is_relocatable_and_needs_only_musl(unpacked):
    lib = unpacked / "lib"
    bundled = {p.name for p in lib.glob("*.so*")}
    for path in elf.elf_files(unpacked):
        info = elf.read(path)
        assert info.rpath == (), path
        for entry in info.runpath:
            assert entry.startswith("$ORIGIN"), (path, entry)
        for needed in info.needed:
            assert needed == "libc.so" or needed in bundled, (path, needed)
    # The interpreter holds libpython itself: it needs musl's libc only, and no RUNPATH.
    interpreter = elf.read(unpacked / "bin" / "python3.13", symbols=True)
    assert interpreter.interp == "/lib/ld-musl-x86_64.so.1"
    assert interpreter.needed == ("libc.so",) and interpreter.runpath == ()
    assert {"Py_BytesMain", "PyLong_FromLong", "PyModule_Create2"} <= interpreter.defined
    embeddable = elf.read(unpacked / "lib" / "libpython3.13.so.1.0", symbols=True)
    assert embeddable.soname == "libpython3.13.so.1.0" and "Py_Initialize" in embeddable.defined
    for name in ("libssl.so.3", "libcrypto.so.3", "libsqlite3.so.0", "libffi.so.8", "libz.so.1"):
        assert name in bundled, name


def test_readelf_shows_no_absolute_runpath(unpacked):
    for path in elf.elf_files(unpacked):
        out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "RUNPATH" in line or "RPATH" in line:
                assert "[$ORIGIN" in line, (path, line)


def test_find_library_finds_bundled_libraries(unpacked):
    """The ctypes patch searches the tree's own lib/ (verify checks find_library('c'))."""
    code = "import ctypes.util; print(ctypes.util.find_library('ssl'))"
    result = run_python(unpacked, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(unpacked / "lib" / "libssl.so.3")


def test_no_build_paths_in_text_files(unpacked):
    needles = [str(REPO).encode(), os.path.expanduser("~/.cache").encode(), b"ziglang"]
    for path in unpacked.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        for needle in needles:
            assert needle not in data, (path, needle)


def test_pip_runs_from_the_relocated_tree(unpacked):
    result = subprocess.run([str(unpacked / "bin" / "pip3"), "--version"], capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert str(unpacked) in result.stdout


def read_member(archive, name):
    with open(archive, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if member.name == name:
                return tar.extractfile(member).read()
    raise AssertionError(f"{archive.name} has no {name}")


def test_the_shipped_pip_is_the_pinned_one_also_for_venvs(build, unpacked):
    pinned = load_pythons()["3.13"].pip_version
    shipped = run_python(unpacked, "import ensurepip, pip; print(pip.__version__, ensurepip.version())")
    assert shipped.stdout.split() == [pinned, pinned], shipped.stderr
    full = next(a for a in build.archives if a.name.endswith("full.tar.zst"))
    metadata = json.loads(read_member(full, "python/PYTHON.json"))
    assert [(s["name"], s["version"]) for s in metadata["sources"] if s["name"] == "pip"] == [("pip", pinned)]


def test_second_build_reuses_the_caches(build):
    first = {a.name: a.read_bytes() for a in build.archives}
    # --offline: verification skips the wheel downloads it already did once.
    result = subprocess.run([*build.argv, "--offline"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "CPython 3.13" in result.stdout and ": cached" in result.stdout
    assert "==> dependency " not in result.stdout  # nothing rebuilt
    assert {a.name: a.read_bytes() for a in build.archives} == first  # same bytes again


def test_bytecode_is_validated_by_hash_not_mtime(unpacked):
    """Archives normalise mtimes, so timestamp-validated .pyc files would all be stale."""
    for name in ("os", "_sysconfigdata__linux_x86_64-linux-musl"):
        pyc = unpacked / "lib" / "python3.13" / "__pycache__" / f"{name}.cpython-313.pyc"
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags & 1, f"{pyc.name} is timestamp-based"


@pytest.mark.parametrize("index", [0, 1, 2], ids=["install_only", "install_only_stripped", "full"])
def test_build_verified_every_archive_kind(build, index):
    """The build's last stage is `verify`: every check ran, and none failed."""
    archive = build.archives[index]
    report = json.loads(archive.with_name(archive.name + ".verify.json").read_text())
    assert report["summary"]["failed"] == 0, [c for c in report["checks"] if c["status"] == "fail"]
    skipped = [c for c in report["checks"] if c["status"] == "skip"]
    assert all(c["detail"] for c in skipped), "every skip says why"
    # Every check 3.13 has (crypt left in 3.13; elf.readable is reported only when a file is not).
    assert [c["id"] for c in report["checks"]] == [i for i in CATALOGUE if i not in ("elf.readable", "functional.crypt")]
    assert {c["group"] for c in report["checks"]} == {"elf", "identity", "stdlib", "functional", "installers", "leaks",
                                                      "isolation"}
    assert report["minimum_musl"] == "1.2.3"
    # One start per way of starting the interpreter, not one per check.
    assert report["summary"]["interpreter_starts"] <= 12, report["summary"]
    assert "==> verify" in build.stdout


def test_this_machine_builds_with_pgo_and_the_stripped_archive_is_for_running(build):
    assert build.archives[2].name.endswith("-x86_64-unknown-linux-musl-pgo+lto-full.tar.zst")
    with tarfile.open(build.archives[1]) as tar:
        names = tar.getnames()
    assert "python/lib/python3.13/os.py" in names
    assert "python/lib/python3.13/__pycache__/os.cpython-313.pyc" in names
    assert not [n for n in names if n.startswith("python/lib/python3.13/test/") or ".opt-" in n]
    # Only the dynamic symbol table is left, and extension modules still find the C API in it.
    for archive, kept in ((build.archives[0], True), (build.archives[1], False)):
        with tarfile.open(archive) as tar:
            program = ELFFile(io.BytesIO(tar.extractfile("python/bin/python3.13").read()))
        assert (program.get_section_by_name(".symtab") is not None) is kept, archive.name
        assert not [s.name for s in program.iter_sections() if s.name.startswith(".debug")] or kept, archive.name
        assert any(s.name == "PyObject_GetAttr" for s in program.get_section_by_name(".dynsym").iter_symbols())


def test_a_free_threaded_build_is_laid_out_named_and_verified_as_its_own_abi(freethreaded_build):
    names = [archive.name for archive in freethreaded_build.archives]
    assert names[0].endswith("-x86_64-unknown-linux-musl-freethreaded-install_only.tar.gz")
    assert names[1].endswith("-freethreaded-install_only_stripped.tar.gz") and names[2].endswith(
        "-freethreaded+lto-full.tar.zst")
    with tarfile.open(freethreaded_build.archives[0]) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert all(members[f"python/bin/{name}"].linkname == "python3.13t" for name in ("python", "python3", "python3.13"))
    assert "python/lib/python3.13t/os.py" in members and "python/include/python3.13t/Python.h" in members
    metadata = json.loads(read_member(freethreaded_build.archives[2], "python/PYTHON.json"))
    assert (metadata["variant"], metadata["python_abi_tag"], metadata["python_stdlib"]) == (
        "freethreaded", "cp313t", "install/lib/python3.13t")
    for archive in freethreaded_build.archives:
        report = json.loads(archive.with_name(archive.name + ".verify.json").read_text())
        assert report["summary"]["failed"] == 0, [c for c in report["checks"] if c["status"] == "fail"]
        checks = {c["id"]: c for c in report["checks"]}
        assert checks["identity.variant"]["detail"].startswith("abiflags 't', GIL disabled")
        assert "cpython-313t-x86_64-linux-musl" in checks["identity.soabi"]["detail"]
        assert "threads:" in checks["functional.threads"]["detail"]
