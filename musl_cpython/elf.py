"""The one ELF reader: everything the project needs to know about an ELF file.

Relocation, verification, the musl symbol floor, metadata, stripping and
the tests read ELF files through this module only (on pyelftools).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from .errors import BuildError

# The flags the hardening rules read.
DF_TEXTREL, DF_BIND_NOW, DF_1_NOW, PF_X = 0x4, 0x8, 0x1, 0x1


class UnreadableElf(BuildError):
    """A file starts like an ELF file but pyelftools cannot read it."""


@dataclass(frozen=True)
class RunpathSlot:
    """Where the DT_RUNPATH (or DT_RPATH) string sits in the file, so it can be
    overwritten in place: its offset in the file and its current text."""

    offset: int
    text: bytes


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    interp: str | None = None  # PT_INTERP
    position_independent: bool = False  # ET_DYN: a shared object, or an executable linked as PIE
    needed: tuple[str, ...] = ()
    soname: str | None = None
    runpath: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    flags: int = 0  # DT_FLAGS
    flags_1: int = 0  # DT_FLAGS_1
    has_textrel_tag: bool = False
    has_stack_header: bool = False  # PT_GNU_STACK present
    stack_executable: bool = False
    has_relro: bool = False
    glibc_versions: tuple[str, ...] = ()  # GLIBC_* version needs
    runpath_slots: tuple[RunpathSlot, ...] = ()
    # Dynamic symbols, read only when asked for (they are most of the reading time).
    undefined: frozenset[str] = field(default_factory=frozenset)  # strong undefined
    defined: frozenset[str] = field(default_factory=frozenset)  # global and weak definitions

    @property
    def exec_stack(self) -> bool:
        """No PT_GNU_STACK means the loader gives an executable stack."""
        return self.stack_executable or not self.has_stack_header

    @property
    def bind_now(self) -> bool:
        return bool(self.flags & DF_BIND_NOW or self.flags_1 & DF_1_NOW)

    @property
    def textrel(self) -> bool:
        return self.has_textrel_tag or bool(self.flags & DF_TEXTREL)

    @property
    def search_path(self) -> tuple[str, ...]:
        """RUNPATH and RPATH entries together, as the verification rules see them."""
        return self.runpath + self.rpath


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def elf_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if is_elf(p))


def read(path: Path, symbols: bool = False) -> ElfInfo:
    """The facts of one ELF file; with `symbols`, its dynamic symbols too."""
    try:
        with open(path, "rb") as f:
            return _read(ELFFile(f), path, symbols)
    except ELFError as e:
        raise UnreadableElf(f"{path}: unreadable ELF file: {e}") from None


def _read(elf: ELFFile, path: Path, symbols: bool) -> ElfInfo:
    facts: dict = {"path": path, "position_independent": elf.header["e_type"] == "ET_DYN"}
    for segment in elf.iter_segments():
        kind = segment["p_type"]
        if kind == "PT_INTERP":
            facts["interp"] = segment.get_interp_name()
        elif kind == "PT_GNU_STACK":
            facts["has_stack_header"] = True
            facts["stack_executable"] = bool(segment["p_flags"] & PF_X)
        elif kind == "PT_GNU_RELRO":
            facts["has_relro"] = True
    needed, runpath, rpath, slots = [], [], [], []
    strings = elf.get_section_by_name(".dynstr")
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            name = tag.entry.d_tag
            if name == "DT_NEEDED":
                needed.append(tag.needed)
            elif name == "DT_SONAME":
                facts["soname"] = tag.soname
            elif name in ("DT_RUNPATH", "DT_RPATH"):
                (runpath if name == "DT_RUNPATH" else rpath).extend(getattr(tag, name[3:].lower()).split(":"))
                if strings is not None:
                    text = strings.data()[tag.entry.d_val:].split(b"\0", 1)[0]
                    slots.append(RunpathSlot(strings["sh_offset"] + tag.entry.d_val, text))
            elif name == "DT_FLAGS":
                facts["flags"] = tag.entry.d_val
            elif name == "DT_FLAGS_1":
                facts["flags_1"] = tag.entry.d_val
            elif name == "DT_TEXTREL":
                facts["has_textrel_tag"] = True
    facts.update(needed=tuple(needed), runpath=tuple(runpath), rpath=tuple(rpath), runpath_slots=tuple(slots))
    versions = elf.get_section_by_name(".gnu.version_r")
    if isinstance(versions, GNUVerNeedSection):
        facts["glibc_versions"] = tuple(aux.name for _, auxiliaries in versions.iter_versions()
                                        for aux in auxiliaries if aux.name.startswith("GLIBC_"))
    if symbols:
        facts["undefined"], facts["defined"] = _dynamic_symbols(elf)
    return ElfInfo(**facts)


def _dynamic_symbols(elf: ELFFile) -> tuple[frozenset[str], frozenset[str]]:
    undefined, defined = set(), set()
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is not None:
        for symbol in dynsym.iter_symbols():
            if not symbol.name:
                continue
            bind = symbol["st_info"]["bind"]
            if symbol["st_shndx"] == "SHN_UNDEF":
                if bind == "STB_GLOBAL":
                    undefined.add(symbol.name)
            elif bind in ("STB_GLOBAL", "STB_WEAK"):
                defined.add(symbol.name)
    return frozenset(undefined), frozenset(defined)


def object_functions(path: Path, weak: bool = False) -> frozenset[str]:
    """Global functions a relocatable object (.o) defines for others, from its
    symbol table; with `weak`, weak definitions too. Hidden ones are not for
    others (GCC's i686 PIC code defines __x86.get_pc_thunk.bx so)."""
    binds = ("STB_GLOBAL", "STB_WEAK") if weak else ("STB_GLOBAL",)
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return frozenset(s.name for s in (symtab.iter_symbols() if symtab else ())
                         if s["st_shndx"] != "SHN_UNDEF" and s["st_info"]["bind"] in binds
                         and s["st_info"]["type"] == "STT_FUNC"
                         and s["st_other"]["visibility"] in ("STV_DEFAULT", "STV_PROTECTED"))


def exported_symbols(path: Path) -> frozenset[str]:
    """Names a shared library defines in its dynamic symbol table."""
    return read(path, symbols=True).defined


def overwrite_runpath(path: Path, runpath: str) -> bool:
    """Write `runpath` over the file's one DT_RUNPATH (or DT_RPATH) string,
    NUL-padded; False if there is not exactly one or the new text does not fit.

    patchelf may leave the old string in .dynstr (--remove-rpath always does,
    --set-rpath when it appends a new one). The old string names the build
    directory, so bytes would differ with where the build ran; overwritten,
    nothing of it remains.
    """
    slots = read(path).runpath_slots
    new = runpath.encode()
    if len(slots) != 1 or len(new) > len(slots[0].text):
        return False
    with open(path, "r+b") as f:
        f.seek(slots[0].offset)
        f.write(new + b"\0" * (len(slots[0].text) - len(new)))
    return True
