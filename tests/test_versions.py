"""Every pinned CPython version whose source this machine can obtain, built,
verified (which installs numpy, pydantic-core, cryptography and MarkupSafe as
musllinux wheels and imports them) and checked for its extension suffixes.

Not part of the default run (each cold build takes a quarter of an hour):
./bootstrap.sh test -m versions
"""
import json
import subprocess
import sys

import pytest

from musl_cpython import REPO, musl, sources
from musl_cpython.archives import safe_extract
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.python_recipes import load_pythons
from musl_cpython.recipes import target_for

# Also e2e, so that `-m "not e2e"` (which replaces the default `-m "not versions"`) leaves them out.
pytestmark = [pytest.mark.versions, pytest.mark.e2e]

# numpy 2.0.2 is the last numpy with cp39 wheels; its musllinux wheel was
# built by an interpreter without the bpo-43112 fix, so its 19 extension
# modules are named *.cpython-39-x86_64-linux-gnu.so.
GNU_SUFFIX_WHEEL = ("numpy==2.0.2", "numpy._core._multiarray_umath", "-x86_64-linux-gnu.so")


def obtainable_releases():
    ctx = Context(build_dir=REPO / "build", cache_dir=default_cache_dir())
    return [release.version for recipe in load_pythons().values() for release in recipe.releases
            if sources.obtainable(ctx, release.sources)]


@pytest.fixture(scope="module", params=obtainable_releases())
def built(request, tmp_path_factory):
    version = request.param
    work = tmp_path_factory.mktemp(f"cpython-{version}")
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "build", "--python", version,
                             "--out", str(work / "dist"), "--build-dir", str(work / "build")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    return version, work / "dist"


def test_built_and_verified_with_the_wheels(built):
    version, dist = built
    minor = ".".join(version.split(".")[:2])
    wheels = load_pythons()[minor].wheels
    reports = sorted(dist.glob("*.verify.json"))
    assert len(reports) == 3
    for path in reports:
        report = json.loads(path.read_text())
        assert report["summary"]["failed"] == 0
        check = next(c for c in report["checks"] if c["id"] == "installers.wheels")
        assert check["status"] == "pass", check
        for distribution in ("numpy", "pydantic-core", "cryptography"):
            assert distribution in wheels
            assert f"{distribution}-" in check["detail"], check["detail"]  # "Successfully installed numpy-2.0.2 ..."


def test_extension_suffixes(built, tmp_path):
    version, dist = built
    archive = next(dist.glob("*-install_only.tar.gz"))
    safe_extract(archive, tmp_path)
    python = tmp_path / "python" / "bin" / "python3"
    nodot = "".join(version.split(".")[:2])
    suffixes = json.loads(subprocess.run(
        [str(python), "-c", "import importlib.machinery, json; print(json.dumps(importlib.machinery.EXTENSION_SUFFIXES))"],
        capture_output=True, text=True, check=True).stdout)
    musl_suffix = f".cpython-{nodot}-x86_64-linux-musl.so"
    gnu_suffix = f".cpython-{nodot}-x86_64-linux-gnu.so"
    assert suffixes[0] == musl_suffix
    if version.startswith(("3.9.", "3.10.")):  # cp39/cp310 musllinux wheels are named -linux-gnu
        assert suffixes[1] == gnu_suffix
    else:
        assert gnu_suffix not in suffixes


def test_a_wheel_with_gnu_suffixed_modules_imports_on_3_9(built, tmp_path):
    version, dist = built
    if not version.startswith("3.9."):
        pytest.skip("only cp39 (and cp310) musllinux wheels carry -linux-gnu file names")
    archive = next(dist.glob("*-install_only.tar.gz"))
    safe_extract(archive, tmp_path)
    tree = tmp_path / "python"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([str(tree / "bin" / "python3"), "-m", "venv", str(tmp_path / "venv")], check=True, env=env)
    requirement, module, suffix = GNU_SUFFIX_WHEEL
    # The venv's own pip, as shipped (3.9.2 bundled pip 20.2.3, which knows no
    # musllinux tags; the build ships the recipe's pinned pip instead): no upgrade.
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    installed = subprocess.run([*pip, "--only-binary=:all:", requirement], env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    # numpy's vendored libraries carry DT_RELR: musl >= 1.2.4 (see verify.py).
    ctx = Context(build_dir=REPO / "build", cache_dir=default_cache_dir())
    target = target_for("x86_64")
    loader = musl.libc_path(musl.musl_root(ctx, target, newest=True), target)
    out = subprocess.run([str(loader), "--library-path", str(tree / "lib"), str(tmp_path / "venv" / "bin" / "python"),
                          "-c", f"import {module} as m; print(m.__file__)"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(suffix), out.stdout
