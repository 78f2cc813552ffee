"""zig's own runtime: what zig compiles into its cache and links into every
program, compiler_rt (libcompiler_rt.a) into every link and the start file
(Scrt1.o) into every executable.

Their debug info names zig's lib directory (inside the venv), zig's cache
(inside the build cache) and the working directory of whichever build first
asked zig for them (seen: one dependency's source directory, named by every
executable linked afterwards). So unstripped archives depended on where the
venv, the cache and the build lived, and on what had been built before.
Once per toolchain the files are stripped of debug info in place (zig reuses
a cached file by its inputs, never checking its bytes): then they name
nothing, whoever built them first. zig builds its runtime once per
optimisation mode, so each mode is probed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BuildError

if TYPE_CHECKING:
    from .toolchain import Toolchain

# -O0 (and none) gives zig's Debug runtime, -O1 to -O3 its ReleaseFast, -Os and -Oz its ReleaseSmall.
OPTIMISATIONS = ("-O0", "-O2", "-Os")
# What zig keeps of its runtime in its cache (o/<hash>/<name>), for any program it links.
RUNTIME_FILES = ("libcompiler_rt.a", "Scrt1.o", "crt1.o", "rcrt1.o", "crti.o", "crtn.o")
_PROBE = "zig-runtime-probe"
_LINKED = re.compile(r"\S+\.(?:o|a)(?=\s|$)")


def files(tools: Toolchain, optimisation: str, directory: Path) -> list[Path]:
    """The runtime files from zig's cache that zig links into an executable
    built with `optimisation`, as its verbose link line names them."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{_PROBE}.c").write_text("int main(void) { return 0; }\n")
    argv = [tools.cc, *tools.cflags, optimisation, "-v", f"{_PROBE}.c", "-o", _PROBE]
    result = subprocess.run(argv, cwd=directory, env=tools.environment(0), capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"zig cannot link a program for {tools.target.arch} "
                         f"({' '.join(argv)}): {result.stderr.strip()[-500:]}")
    cache = (tools.zig_cache or Path("/nonexistent")).resolve()
    found = {Path(p).resolve() for p in _LINKED.findall(result.stderr + result.stdout)}
    # What zig keeps (cache/o/<hash>/...), not the probe's own object (cache/tmp/...).
    return sorted(p for p in found if p.is_relative_to(cache) and p.relative_to(cache).parts[0] == "o"
                  and _PROBE not in p.name)


def compiler_rt(tools: Toolchain, directory: Path) -> Path:
    """zig's compiler_rt as CPython's optimised links take it."""
    archives = [p for p in files(tools, "-O2", directory) if p.name == "libcompiler_rt.a"]
    if len(archives) != 1:
        raise BuildError(f"zig's link line names {len(archives)} compiler_rt archives for {tools.target.arch}, "
                         "not one")
    return archives[0]


def strip_debug_info(tools: Toolchain) -> None:
    """Strip zig's runtime files for this toolchain of debug info, in place;
    remembered in the toolchain's directory, so a later call only looks."""
    record = tools.bin_dir / "zig-runtime.json"
    try:
        stripped = json.loads(record.read_text())
    except (OSError, ValueError):
        stripped = {}
    if stripped and all(Path(p).is_file() and os.stat(p).st_size == size for p, size in stripped.items()):
        return
    for optimisation in OPTIMISATIONS:  # have zig build each mode's runtime, if it has not yet
        files(tools, optimisation, tools.bin_dir / "zig-runtime-probe")
    # Then every runtime file in the cache, whichever flags made it (-Os -g gives a compiler_rt of its own).
    runtime = sorted(path for name in RUNTIME_FILES for path in (tools.zig_cache / "o").glob(f"*/{name}"))
    stripped = {}
    for path in runtime:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        result = subprocess.run(["llvm-objcopy", "--strip-debug", str(path), str(tmp)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise BuildError(f"llvm-objcopy cannot strip zig's {path}: {result.stderr.strip()}")
        if tmp.read_bytes() != path.read_bytes():
            os.replace(tmp, path)  # whole, so a link running beside this reads one or the other
        else:
            tmp.unlink()
        stripped[str(path)] = path.stat().st_size
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.write_text(json.dumps(stripped, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, record)
