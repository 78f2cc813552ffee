"""Executable objects: C files under resources/ that a build option links into
bin/python3.X alone (the process allocator, the memory routines), so that
what they define interposes on musl's for the whole process but not for
programs that embed libpython. They are appended to configure's
LINKFORSHARED, and the executable must export what they define.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from . import elf
from .errors import BuildError
from .python_recipes import RESOURCES
from .steps import detail, run
from .toolchain import Toolchain

# How the executable's own objects are compiled, besides the target's flags:
# they define the C library's functions, so the compiler must not assume it
# may call them in their place.
OBJECT_FLAGS = ("-O2", "-ffreestanding", "-fPIC")
# What configure gives LINKFORSHARED on Linux, every version: the python
# executable's extra link arguments. The objects are appended to it.
LINKFORSHARED = "-Xlinker -export-dynamic"


def compile_objects(toolchain: Toolchain, names, directory: Path, env: dict[str, str], log: Path) -> list[Path]:
    """Compile executable objects (files under resources/) with the target's
    compiler. Each source is copied in first and compiled by its bare name,
    so the object records no path of this checkout."""
    directory.mkdir(parents=True, exist_ok=True)
    objects = []
    for name in names:
        shutil.copyfile(RESOURCES / name, directory / name)
        obj = directory / (Path(name).stem + ".o")
        run(f"compile {name}", [toolchain.cc, *toolchain.cflags, *OBJECT_FLAGS, "-c", name, "-o", obj.name],
            log=log, cwd=directory, env=env)
        objects.append(obj)
    return objects




def check_linkforshared(makefile: Path, version: str, names) -> None:
    """configure's LINKFORSHARED is the one the objects extend."""
    found = re.search(r"^LINKFORSHARED=[ \t]*(.*?)[ \t]*$", makefile.read_text(), re.M)
    if not found or found.group(1) != LINKFORSHARED:
        raise BuildError(f"CPython {version}: configure set LINKFORSHARED to "
                         f"{found.group(1) if found else 'nothing'!r}, where {LINKFORSHARED!r} was expected; "
                         f"the executable objects ({', '.join(names)}) are linked by extending it")


def check_exported(executable: Path, objects, built: str) -> None:
    """The objects' functions are in the executable's dynamic symbol table,
    where other libraries' references find them first. `built` names the
    build in the error."""
    defined = frozenset().union(*map(elf.object_functions, objects))
    missing = defined - elf.exported_symbols(executable)
    if missing:
        raise BuildError(f"{built}: the python executable does not export {', '.join(sorted(missing))} "
                         f"from {', '.join(path.with_suffix('.c').name for path in objects)}")
    detail(f"bin/python exports {', '.join(sorted(defined))} of its own")
