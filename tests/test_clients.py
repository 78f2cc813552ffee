"""Real clients on the built archives: uv's download flow, and pip in a venv.

uv installs the distribution from our download-metadata.json (file:// URLs,
offline), then uses it to make a venv, install a musllinux wheel and build
an sdist with a C extension. C code is compiled by the musl toolchain: on
this glibc host, the `cc` that sysconfig names would be glibc's gcc. uv
trusts the system's certificate store (UV_SYSTEM_CERTS), as pip does here.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from musl_cpython import REPO, musl
from musl_cpython.archives import safe_extract
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.recipes import target_for

pytestmark = pytest.mark.e2e

UV = os.path.join(os.path.dirname(sys.executable), "uv")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """muslprobe-1.0.tar.gz: an sdist whose C extension each flow compiles for musl."""
    base = tmp_path_factory.mktemp("muslprobe")
    project = base / "src"
    shutil.copytree(Path(__file__).parent / "fixtures" / "muslprobe", project)
    out = base / "dist"
    run([UV, "build", "--sdist", "--python", sys.executable, "--out-dir", out, project],
        {"PATH": "/usr/bin:/bin", "HOME": str(base), "UV_NO_CONFIG": "1", "UV_SYSTEM_CERTS": "1"})
    return next(out.glob("muslprobe-1.0.tar.gz"))


def run(argv, env, **kwargs):
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def check_venv(python, env):
    code = "import markupsafe, muslprobe; print(markupsafe.escape('<'), muslprobe.triple(14))"
    assert run([python, "-c", code], env).stdout.strip() == "&lt; 42"


def test_uv_flow(build, tmp_path, tools, sdist):
    run([sys.executable, REPO / "build.py", "release", build.dist], dict(os.environ))
    metadata = build.dist / "download-metadata.json"
    env = {"PATH": f"{os.path.dirname(UV)}:/usr/bin:/bin", "HOME": str(tmp_path),
           "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"),
           "UV_LIBC": "musl", "UV_PYTHON_DOWNLOADS_JSON_URL": str(metadata), "UV_NO_CONFIG": "1",
           "UV_SYSTEM_CERTS": "1", "CC": tools.cc}
    installed = run([UV, "python", "install", "cpython-3.13-linux-x86_64-musl", "--offline"], env)
    assert "sysconfig" not in installed.stderr.lower(), installed.stderr
    python = run([UV, "python", "find", "cpython-3.13-linux-x86_64-musl"], env).stdout.strip()
    assert python.startswith(str(tmp_path / "pythons"))
    version, cc = run([python, "-c", "import sys, sysconfig; print(sys.version.split()[0], "
                                     "sysconfig.get_config_var('CC'))"], env).stdout.split()
    assert version.startswith("3.13.") and cc == "cc"
    # uv read the sysconfig data (it warns when it cannot) and rewrote every value, or word of a
    # value, that starts with /install to where it installed; "-L/install/lib" stays as it was.
    # The interpreter gives the real paths either way (see the unpacked_by_hand check).
    home = Path(python).resolve().parent.parent
    data = next(home.glob("lib/python3.13/_sysconfigdata_*.py")).read_text()
    assert re.search(rf"""["']prefix["']: ["']{re.escape(str(home))}["']""", data), data[-400:]
    assert not re.search(r"""["'\s]/install\b""", data)
    libdir = run([python, "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"], env).stdout.strip()
    assert libdir == str(home / "lib")

    venv = tmp_path / "venv"
    run([UV, "venv", "--python", python, venv], env)
    run([UV, "pip", "install", "--python", venv / "bin" / "python", "--only-binary", ":all:", "markupsafe"], env)
    run([UV, "pip", "install", "--python", venv / "bin" / "python", sdist], env)
    check_venv(venv / "bin" / "python", env)

    # numpy's musllinux wheel, as built today, vendors a libgcc_s with DT_RELR
    # relocations: musl applies them from 1.2.4 on (Debian 12's 1.2.3 crashes),
    # so the README's flow names Debian 13's musl, and so does this import.
    run([UV, "pip", "install", "--python", venv / "bin" / "python", "--only-binary", ":all:", "numpy"], env)
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    target = target_for("x86_64")
    loader = musl.libc_path(musl.musl_root(ctx, target, newest=True), target)
    code = "import numpy; print(numpy.__version__, int(numpy.arange(10).sum()))"
    out = run([loader, "--library-path", home / "lib", venv / "bin" / "python", "-c", code], env).stdout.split()
    assert out[1] == "45", out


def test_uv_flow_free_threaded(freethreaded_build, tmp_path):
    """uv installs 3.13t by its own spelling, makes a venv with it, and
    installs numpy's cp313t musllinux wheel, which imports under Debian's
    newest musl with the GIL still disabled."""
    run([sys.executable, REPO / "build.py", "release", freethreaded_build.dist], dict(os.environ))
    metadata = freethreaded_build.dist / "download-metadata.json"
    env = {"PATH": f"{os.path.dirname(UV)}:/usr/bin:/bin", "HOME": str(tmp_path),
           "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"),
           "UV_LIBC": "musl", "UV_PYTHON_DOWNLOADS_JSON_URL": str(metadata), "UV_NO_CONFIG": "1",
           "UV_SYSTEM_CERTS": "1"}
    run([UV, "python", "install", "cpython-3.13t-linux-x86_64-musl", "--offline"], env)
    venv = tmp_path / "venv"
    run([UV, "venv", "-p", "3.13t", venv], env)
    run([UV, "pip", "install", "--python", venv / "bin" / "python", "--only-binary", ":all:", "numpy"], env)
    [extension] = (venv / "lib" / "python3.13t" / "site-packages" / "numpy" / "_core").glob("_multiarray_umath.*.so")
    assert extension.name == "_multiarray_umath.cpython-313t-x86_64-linux-musl.so"
    home = (venv / "bin" / "python").resolve().parent.parent
    ctx = Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())
    target = target_for("x86_64")
    loader = musl.libc_path(musl.musl_root(ctx, target, newest=True), target)
    code = ("import sys, numpy; print(sys._is_gil_enabled(), int(numpy.arange(10).sum()), "
            "sys.abiflags, sys.prefix != sys.base_prefix)")
    out = run([loader, "--library-path", home / "lib", venv / "bin" / "python", "-c", code], env).stdout.split()
    assert out == ["False", "45", "t", "True"], out


def test_pip_flow_in_a_venv_from_the_archive(build, tmp_path, tools, sdist):
    safe_extract(build.archive, tmp_path / "unpacked")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CC": tools.cc}
    venv = tmp_path / "venv"
    run([tmp_path / "unpacked" / "python" / "bin" / "python3", "-m", "venv", venv], env)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check"]
    run([*pip, "--only-binary=:all:", "markupsafe"], env)
    run([*pip, sdist], env)
    check_venv(venv / "bin" / "python", env)
    assert "musllinux" in run([venv / "bin" / "python", "-m", "pip", "debug", "--verbose"], env).stdout
