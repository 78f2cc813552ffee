"""Content-addressed cache entries: hash the inputs, find the entry, or build
it in a staging directory and publish it whole.

Dependency builds, CPython builds, packaged archives and musl roots are all
entries: a directory named by a prefix and the first 16 hex digits of the
sha256 of their inputs as JSON. An entry exists only once complete
(context.publishing), so finding its directory means it can be used.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .context import publishing
from .steps import detail


def key_of(material) -> str:
    """The sha256 of `material` as canonical JSON: what a cache key is."""
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    path: Path
    key: str

    def found(self, label: str) -> bool:
        """Whether the entry exists; if so, says that `label` is cached."""
        if self.path.is_dir():
            detail(f"{label}: cached")
            return True
        return False

    @contextmanager
    def publish(self):
        """A fresh staging directory that becomes the entry when the block succeeds."""
        with publishing(self.path) as staging:
            staging.mkdir()
            yield staging


def entry(directory: Path, prefix: str, material) -> Entry:
    key = key_of(material)
    return Entry(directory / f"{prefix}-{key[:16]}", key)
