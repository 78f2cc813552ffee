"""A quick proof that an archive works once unpacked somewhere new.

The full verification is `build.py verify`; this only unpacks the archive
into a fresh, deep directory, starts the interpreter with an almost empty
environment and imports the modules that use bundled libraries.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from . import emulation
from .archives import safe_extract
from .context import Context
from .errors import BuildError
from .recipes import Target
from .steps import say

SCRIPT = r"""
import importlib, sys

def dbm_backends(dbm):
    found = []
    for name in ("dbm.sqlite3", "dbm.gnu", "dbm.ndbm"):
        try:
            importlib.import_module(name)
            found.append(name)
        except ImportError:
            pass
    return "dbm backends: " + ", ".join(found)

checks = {
    "ssl": lambda m: m.OPENSSL_VERSION,
    "sqlite3": lambda m: "SQLite " + m.sqlite_version,
    "ctypes": lambda m: "CDLL(None) loads: " + repr(m.CDLL(None)),
    "decimal": lambda m: "libmpdec " + m.__libmpdec_version__,
    "lzma": lambda m: "liblzma round trip: " + str(m.decompress(m.compress(b"ok")) == b"ok"),
    "bz2": lambda m: "libbz2 round trip: " + str(m.decompress(m.compress(b"ok")) == b"ok"),
    "zlib": lambda m: "zlib " + m.ZLIB_RUNTIME_VERSION,
    "readline": lambda m: f"{getattr(m, 'backend', 'readline')} {m._READLINE_LIBRARY_VERSION}",
    "curses": lambda m: "ncurses " + ".".join(map(str, m.ncurses_version)),
    "dbm": dbm_backends,
    "uuid": lambda m: f"uuid1 {m.uuid1()} (libuuid: {m._uuid is not None})",
    "pyexpat": lambda m: m.EXPAT_VERSION,
    "compression.zstd": lambda m: "zstd " + ".".join(map(str, m.zstd_version_info)),
}
not_built = set(sys.argv[1:])  # the recipe's [missing_modules] for this version
failed = []
for name, describe in checks.items():
    try:
        print(f"{name}: {describe(importlib.import_module(name))}")
    except ModuleNotFoundError as e:
        if name == "compression.zstd" and e.name in ("compression", "compression.zstd"):
            print(f"{name}: not in Python {sys.version_info[0]}.{sys.version_info[1]}")
        elif name in not_built and e.name == name:
            print(f"{name}: not built for this version, as the recipe says")
        else:
            failed.append(name)
            print(f"{name}: FAILED {e!r}")
    except Exception as e:
        failed.append(name)
        print(f"{name}: FAILED {e!r}")
print(sys.version)
sys.exit(1 if failed else 0)
"""


def smoke_check(ctx: Context, archive: Path, target: Target, not_built=()) -> str:
    """Run SCRIPT with the archive's interpreter, on this machine or in the
    target's root (emulation.runner)."""
    with tempfile.TemporaryDirectory(prefix="musl-cpython-smoke-") as tmp:
        where = Path(tmp, "a", "deep", "new", "directory")
        safe_extract(archive, where)
        python = where / "python" / "bin" / "python3"
        with emulation.runner(ctx, target, [Path(tmp)]) as runner:
            result = subprocess.run(runner.argv([python, "-c", SCRIPT, *not_built], tmp), capture_output=True,
                                    text=True, env={"PATH": "/usr/bin:/bin", "TERM": "xterm"}, cwd=tmp)
    for line in result.stdout.splitlines():
        say(f"    {line}")
    if result.returncode != 0:
        raise BuildError(f"smoke check of {archive.name} failed (exit {result.returncode}):\n"
                         f"{result.stdout}{result.stderr}")
    return result.stdout
