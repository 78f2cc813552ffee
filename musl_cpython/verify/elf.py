"""The ELF policy: a table of rules, each a check over every ELF file in the tree."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import elf
from ..recipes import Target
from ..relocate import MUSL_LIBC


@dataclass
class Check:
    id: str  # stable, e.g. elf.runpath; tests and tools look checks up by it
    group: str
    name: str  # what the report shows
    status: str  # pass, fail or skip
    detail: str = ""


@dataclass(frozen=True)
class Tree:
    """The facts the rules read: every ELF file, what the tree bundles, what musl provides."""

    root: Path
    files: list[elf.ElfInfo]
    bundled: set[str]  # file names in lib/
    provided: set[str]  # symbols musl or a bundled library defines

    def rel(self, info: elf.ElfInfo) -> str:
        return str(info.path.relative_to(self.root))


def _interp(tree: Tree, target: Target) -> list[str]:
    wrong = [f"{tree.rel(f)}: {f.interp}" for f in tree.files if f.interp is not None and f.interp != target.musl_loader]
    if not any(f.path.parent.name == "bin" and f.interp == target.musl_loader for f in tree.files):
        wrong.append("bin/: no executable asks for the musl loader")
    return wrong


def _runpath_inside(entry: str, path: Path, root: Path) -> bool:
    if not entry.startswith("$ORIGIN"):
        return False
    resolved = os.path.normpath(str(path.parent) + entry[len("$ORIGIN"):])
    return Path(resolved).is_relative_to(root)


# id -> (display name, the problems the rule finds). Display names may name the target's loader
# and the oldest musl; `{loader}` and `{musl}` are filled in.
RULES = {
    "elf.interp": ("PT_INTERP is {loader}", _interp),
    "elf.needed": ("DT_NEEDED only musl libc and bundled libraries", lambda tree, target: [
        f"{tree.rel(f)} needs {name}" for f in tree.files for name in f.needed
        if name != MUSL_LIBC and name not in tree.bundled]),
    "elf.runpath": ("RUNPATH entries are $ORIGIN-relative and stay in the tree", lambda tree, target: [
        f"{tree.rel(f)}: {entry}" for f in tree.files for entry in f.search_path
        if not _runpath_inside(entry, f.path, tree.root)]),
    "elf.glibc_versions": ("no GLIBC_ symbol versions", lambda tree, target: [
        f"{tree.rel(f)}: {', '.join(sorted(set(f.glibc_versions)))}" for f in tree.files if f.glibc_versions]),
    "elf.stack": ("non-executable stack", lambda tree, target: [tree.rel(f) for f in tree.files if f.exec_stack]),
    "elf.relro": ("RELRO", lambda tree, target: [tree.rel(f) for f in tree.files if not f.has_relro]),
    "elf.bind_now": ("BIND_NOW", lambda tree, target: [tree.rel(f) for f in tree.files if not f.bind_now]),
    "elf.textrel": ("no TEXTREL", lambda tree, target: [tree.rel(f) for f in tree.files if f.textrel]),
    # Address randomisation; and a position-dependent executable takes copy
    # relocations of musl's data, which zig's libc stub gives one address.
    "elf.pie": ("executables are position-independent (PIE)", lambda tree, target: [
        tree.rel(f) for f in tree.files if f.interp is not None and not f.position_independent]),
    "elf.symbols": ("undefined symbols resolve against musl {musl} or bundled libraries", lambda tree, target: [
        f"{tree.rel(f)}: {', '.join(sorted(f.undefined - tree.provided)[:8])}" for f in tree.files
        if f.undefined - tree.provided]),
}


def elf_policy(root: Path, target: Target, musl_exports: set[str], minimum_musl: str) -> list[Check]:
    """The ELF rules, one check each, over every ELF file under `root`."""
    try:
        files = [elf.read(path, symbols=True) for path in elf.elf_files(root)]
    except elf.UnreadableElf as e:
        return [Check("elf.readable", "elf", "readable ELF files", "fail", str(e))]
    lib = root / "lib"
    provided = set(musl_exports).union(*(f.defined for f in files if f.path.parent == lib))
    tree = Tree(root, files, {p.name for p in lib.glob("lib*.so*")}, provided)
    checks = []
    for check_id, (name, problems_of) in RULES.items():
        name = name.format(loader=target.musl_loader, musl=minimum_musl)
        problems = problems_of(tree, target)
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            checks.append(Check(check_id, "elf", name, "fail", shown))
        else:
            checks.append(Check(check_id, "elf", name, "pass", f"{len(files)} ELF files"))
    return checks
