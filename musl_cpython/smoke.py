"""A quick proof that an archive works once unpacked somewhere new.

The full verification is `build.py verify`; this only unpacks the archive
into a fresh, deep directory, starts the interpreter with an almost empty
environment and runs verify/probes/smoke.py, which imports the modules that
use bundled libraries.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from . import emulation
from .archives import safe_extract
from .context import Context
from .errors import BuildError
from .recipes import Target
from .steps import detail

PROGRAM = Path(__file__).parent / "verify" / "probes" / "smoke.py"


def smoke_check(ctx: Context, archive: Path, target: Target, not_built=()) -> str:
    """Run the smoke program with the archive's interpreter, on this machine or
    in the target's root (emulation.runner)."""
    with tempfile.TemporaryDirectory(prefix="musl-cpython-smoke-") as tmp:
        where = Path(tmp, "a", "deep", "new", "directory")
        safe_extract(archive, where)
        python = where / "python" / "bin" / "python3"
        program = Path(tmp) / PROGRAM.name
        shutil.copyfile(PROGRAM, program)
        with emulation.runner(ctx, target, [Path(tmp)]) as runner:
            result = subprocess.run(runner.argv([python, program, *not_built], tmp), capture_output=True,
                                    text=True, env={"PATH": "/usr/bin:/bin", "TERM": "xterm"}, cwd=tmp)
    for line in result.stdout.splitlines():
        detail(line)
    if result.returncode != 0:
        raise BuildError(f"smoke check of {archive.name} failed (exit {result.returncode}):\n"
                         f"{result.stdout}{result.stderr}")
    return result.stdout
