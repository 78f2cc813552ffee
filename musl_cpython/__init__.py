"""Build relocatable, dynamically linked musl CPython distributions.

The modules follow the data flow of a build: recipes -> sources -> toolchain
-> dependencies -> cpython -> relocate -> package -> smoke -> verify;
pipeline.py runs them in that order and cli.py is the command line.
"""
import functools
import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@functools.cache  # (not `cache`: that name is the submodule musl_cpython.cache)
def code_identity() -> str:
    """A digest of everything that decides what packaging and verification do
    with a build: this package's code, templates and probes, the recipes and
    the patches. Cached archives and verification reports are reused only
    while it is unchanged."""
    digest = hashlib.sha256()
    for directory, pattern in ((Path(__file__).parent, "*"), (REPO / "recipes", "*.toml"),
                               (REPO / "patches", "*.patch")):
        for path in sorted(directory.rglob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(REPO)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()
