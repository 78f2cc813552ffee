#!/usr/bin/env python3
"""Build relocatable, dynamically linked musl CPython distributions: see README.md."""
import sys

from musl_cpython.cli import main

if __name__ == "__main__":
    sys.exit(main())
