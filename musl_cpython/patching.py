"""Apply the patches a recipe names (files under patches/, each with a header
saying what, why and which versions it fits) to an unpacked source tree."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import BuildError
from .recipes import PATCHES


def apply(names, src: Path, what: str, log: Path) -> list[str]:
    """Apply `names` in order to `src` (the source of `what`, e.g. "CPython
    3.13.15"), each tried first with --dry-run so that a patch that does not
    apply is named and leaves the tree as it was; returns patches/<name> of each."""
    applied = []
    for name in names:
        patch = PATCHES / name
        if not patch.is_file():
            raise BuildError(f"patch {name} for {what} is missing: {patch}")
        for dry_run in (True, False):
            argv = ["patch", "-p1", "--forward", "--batch", "-i", str(patch)]
            result = subprocess.run(argv + (["--dry-run"] if dry_run else []), cwd=src,
                                    capture_output=True, text=True)
            with open(log, "a") as f:
                f.write(f"$ {' '.join(argv)}{' --dry-run' if dry_run else ''}\n{result.stdout}{result.stderr}")
            if result.returncode != 0:
                raise BuildError(f"patch {name} does not apply to {what}:\n{(result.stdout + result.stderr).strip()}")
        applied.append(f"patches/{name}")
    return applied
