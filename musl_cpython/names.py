"""Archive names: cpython-<version>+<tag>-<triple>-[<options>-]<kind>.<ext>.

python-build-standalone's spelling: `install_only` and
`install_only_stripped` are .tar.gz, `full` is .tar.zst and names the build
options (`pgo+lto-full`, `lto-full`, `noopt-full`). Options may lead the
other kinds too, for variants (`freethreaded-install_only`,
`freethreaded+pgo+lto-full`, `debug-full`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# profile: a PGO build's training profile (pgo.py), beside its archives.
KINDS = ("install_only", "install_only_stripped", "full", "profile")
# The option words that say how a build was optimized; the others name its variant.
OPTIMIZATIONS = ("pgo", "lto", "noopt")
EXTENSIONS = {"install_only": "tar.gz", "install_only_stripped": "tar.gz", "full": "tar.zst", "profile": "tar.zst"}

_NAME = re.compile(
    r"cpython-(?P<version>\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)\+(?P<tag>[0-9A-Za-z.]+)"
    # A triple ends in its libc (musl, musleabihf, ...), so options and kind cannot be taken for part of it.
    r"-(?P<triple>[0-9a-z_]+-[0-9a-z_]+-linux-musl[a-z]*)"
    r"-(?:(?P<options>[0-9a-z]+(?:\+[0-9a-z]+)*)-)?(?P<kind>install_only_stripped|install_only|full|profile)"
    r"\.(?P<ext>tar\.gz|tar\.zst)")


class NotAnArchiveName(ValueError):
    pass


@dataclass(frozen=True)
class ArchiveName:
    version: str
    build_tag: str
    triple: str
    kind: str  # install_only, install_only_stripped or full
    options: tuple[str, ...] = ()  # e.g. ("pgo", "lto"); a full archive always names some

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown archive kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind in ("full", "profile") and not self.options:
            raise ValueError(f"a {self.kind} archive names its build options (e.g. pgo+lto, noopt)")

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.kind]

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def variant(self) -> str | None:
        """freethreaded, debug, freethreaded+debug (uv's spelling), or None."""
        return "+".join(o for o in self.options if o not in OPTIMIZATIONS) or None

    @property
    def flavour(self) -> str:
        """The options and kind as one word: `pgo+lto-full`, `install_only`."""
        return "-".join(["+".join(self.options), self.kind] if self.options else [self.kind])

    def __str__(self) -> str:
        return f"cpython-{self.version}+{self.build_tag}-{self.triple}-{self.flavour}.{self.extension}"

    @classmethod
    def parse(cls, name: str) -> ArchiveName:
        match = _NAME.fullmatch(name)
        if not match:
            raise NotAnArchiveName(f"{name}: not a distribution archive name "
                                   "(cpython-<version>+<tag>-<triple>-<kind>.tar.gz or .tar.zst)")
        if match["ext"] != EXTENSIONS[match["kind"]]:
            raise NotAnArchiveName(f"{name}: a {match['kind']} archive is .{EXTENSIONS[match['kind']]}")
        options = tuple(match["options"].split("+")) if match["options"] else ()
        try:
            return cls(match["version"], match["tag"], match["triple"], match["kind"], options)
        except ValueError as e:
            raise NotAnArchiveName(f"{name}: {e}") from None
