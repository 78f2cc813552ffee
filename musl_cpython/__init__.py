"""Build relocatable, dynamically linked musl CPython distributions.

The modules follow the data flow of a build: recipes -> sources -> toolchain
-> dependencies -> cpython -> relocate -> package -> smoke; pipeline.py runs
them in that order and cli.py is the command line.
"""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
