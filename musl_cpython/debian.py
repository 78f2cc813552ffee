"""This machine's Debian archive, as its apt sources name it, and private apt views of it.

Standard library only: scripts/debian_sources.py uses it before the
project's virtualenv exists.
"""
from __future__ import annotations

import glob
import subprocess
from pathlib import Path

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_DEBIAN_SUITES = ("bullseye", "bookworm", "trixie", "forky", "sid",
                  "oldstable", "stable", "testing", "unstable")


def _deb822_entries(text):
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields:
            yield fields


def _one_line_entries(text):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "deb":
            options = {}
            if words[1].startswith("["):
                while not words[1].endswith("]"):
                    words[1:3] = [words[1] + " " + words[2]]
                for option in words[1].strip("[]").split():
                    key, _, value = option.partition("=")
                    options[key] = value
                words.pop(1)
            yield {"types": "deb", "uris": words[1], "suites": words[2],
                   "signed-by": options.get("signed-by", "")}


def archive_uris(etc: str = "/etc/apt") -> dict[str, str]:
    """URI -> keyring of every enabled entry for Debian's main archive (not security, not third parties)."""
    entries = []
    for path in sorted(glob.glob(f"{etc}/sources.list.d/*.sources")):
        entries += _deb822_entries(open(path).read())
    for path in [f"{etc}/sources.list", *sorted(glob.glob(f"{etc}/sources.list.d/*.list"))]:
        try:
            entries += _one_line_entries(open(path).read())
        except OSError:
            pass
    uris = {}
    for entry in entries:
        if "deb" not in entry.get("types", "").split() or entry.get("enabled", "yes").lower() == "no":
            continue
        if not any(s.split("-")[0] in _DEBIAN_SUITES for s in entry.get("suites", "").split()):
            continue
        for uri in entry.get("uris", "").split():
            if uri.rstrip("/").endswith("/debian"):
                uris.setdefault(uri, entry.get("signed-by", "") or KEYRING)
    return uris


def apt_options(state: Path, suite: str, arch: str) -> list[str]:
    """apt options for a private view of one suite's binary packages for one
    architecture, kept under `state`.

    The machine's own apt configuration and package lists stay untouched.
    """
    lists = state / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = state / "sources.list"
    uris = archive_uris()
    if not uris:
        raise RuntimeError("no Debian archive entry in /etc/apt")
    sources.write_text("".join(f"deb [signed-by={key}] {uri} {suite} main\n" for uri, key in uris.items()))
    options = ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
               "-o", f"Dir::State::Lists={lists}", "-o", "Dir::Cache::pkgcache=",
               "-o", "Dir::Cache::srcpkgcache=", "-o", f"APT::Architecture={arch}",
               "-o", f"APT::Architectures={arch}"]
    if not any(lists.glob("*Packages*")):
        subprocess.run(["apt-get", *options, "update", "-qq"], check=True, capture_output=True)
    return options
