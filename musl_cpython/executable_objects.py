"""Executable objects: C files under resources/ that a build option links into
bin/python3.X alone (the process allocator, the memory routines), so that
what they define interposes on musl's for the whole process but not for
programs that embed libpython. They are appended to configure's
LINKFORSHARED, with the objects of the dependencies an option adds
(mimalloc for 3.9 to 3.12), and the executable must export what they define.

zig links its compiler_rt into every executable, and that defines memcpy,
memmove, memset, memcmp and bcmp as weak hidden symbols. A linker gives a
symbol the most hidden visibility among its definitions, so a zig-linked
executable keeps our routines to itself. The link therefore gets, before
zig's own, a copy of that compiler_rt in which those definitions are local:
it answers every other reference, zig's is never pulled in, and ours are
the only global definitions (compiler_rt_copy).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from . import elf, zig_runtime
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


def compiler_rt_copy(toolchain: Toolchain, objects, directory: Path, env: dict[str, str], log: Path) -> list[Path]:
    """For a zig link: a copy of zig's compiler_rt in which what `objects`
    define is local, to link before zig's own (see the module's docstring);
    nothing for another toolchain, or where compiler_rt defines none of them."""
    if not toolchain.kind.runs_zig or not objects:
        return []
    runtime = zig_runtime.compiler_rt(toolchain, directory)
    listed = subprocess.run(["llvm-nm", "--defined-only", str(runtime)], capture_output=True, text=True)
    if listed.returncode != 0:
        raise BuildError(f"llvm-nm cannot read zig's compiler_rt {runtime}: {listed.stderr.strip()}")
    with open(log, "a") as f:
        f.write(f"$ llvm-nm --defined-only {runtime}\n({len(listed.stdout.splitlines())} lines)\n")
    defined = {line.split()[-1] for line in listed.stdout.splitlines() if len(line.split()) == 3}
    shared = sorted(frozenset().union(*map(elf.object_functions, objects)) & defined)
    if not shared:
        return []
    library = directory / "libcompiler_rt-local.a"
    run("make compiler_rt's copies local", ["llvm-objcopy", *(f"--localize-symbol={name}" for name in shared),
                                              str(runtime), library.name], log=log, cwd=directory, env=env)
    detail(f"zig's compiler_rt, with {', '.join(shared)} local, links before zig's own")
    return [library]
