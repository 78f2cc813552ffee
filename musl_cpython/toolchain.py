"""The cross toolchain: zig from PyPI behind small per-target wrapper scripts.

Build systems get `clang`, `clang++`, `llvm-ar` and `llvm-ranlib` programs:
named for what they are, because configure scripts pick compiler-specific
options (CPython's LTO among them) by matching "clang" in $CC. The compiler
wrappers add the hardening link flags to every link, and `-dynamic` so that
executables ask for musl's loader (zig links executables statically unless
told otherwise).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from .context import Context
from .errors import BuildError, MissingHostTool
from .recipes import Target

# What sysconfig records instead of each wrapper: the names a user's machine has.
# Longest first, so that "clang++" is not rewritten as "clang" + "++".
GENERIC_NAMES = {"clang++": "c++", "clang": "cc", "llvm-ranlib": "ranlib", "llvm-ar": "ar"}

# Programs the build runs on the build machine, and the Debian package with each.
HOST_TOOLS = {
    "make": "make",
    "patch": "patch",
    "perl": "perl",         # OpenSSL's Configure
    "tclsh": "tcl",          # SQLite's canonical source generates code with Tcl
    "cmake": "cmake",        # expat
    "pkg-config": "pkgconf",
    "cc": "gcc",             # helper programs that run during a build (ncurses, SQLite)
    "xz": "xz-utils",
    "llvm-strip": "llvm",    # the stripped archive kind
    "openssl": "openssl",    # verification makes a TLS certificate
    "dpkg-deb": "dpkg",      # Debian's musl package for verification
}

_COMPILER = """#!/bin/sh
# Generated: {what} for {zig_target} through zig. Hardening flags go on
# every link, never on compile-only steps, so no build system can drop them.
# Paths of the build directory and of zig are mapped to fixed names in
# debug info and macros, so outputs do not depend on where the build ran.
export ZIG_GLOBAL_CACHE_DIR=@ZIG_CACHE@ ZIG_LOCAL_CACHE_DIR=@ZIG_CACHE@
# Arguments are rewritten on the way through: zig's linker knows -soname but
# not its short form -h (CPython's Makefile uses -Wl,-h<name>). And zig hands
# a link whose only inputs are shared libraries (CPython's libpython3.so stub)
# to the host's clang driver, which links against the host's glibc: an empty
# C input keeps such links in zig's hands.
link={link}
expect= inputs= libraries=
for arg in "$@"; do
  shift
  if [ -n "$expect" ]; then
    expect=
  else
    case "$arg" in
      -c|-E|-S|-M|-MM) link= ;;
      -o|-x|-MF|-MT|-MQ|-include|-isystem|-I|-L|-l|-target|-Xlinker) expect=1 ;;
      -Wl,-h) arg=-Wl,-soname ;;
      -Wl,-h,*) arg="-Wl,-soname,${{arg#-Wl,-h,}}" ;;
      -Wl,-h?*) arg="-Wl,-soname,${{arg#-Wl,-h}}" ;;
      -) inputs=1 ;;
      -*) ;;
      *.so|*.so.*) libraries=1 ;;
      *) inputs=1 ;;
    esac
  fi
  set -- "$@" "$arg"
done
if [ -n "$link" ] && [ -n "$libraries" ] && [ -z "$inputs" ]; then
  set -- "$@" -x c /dev/null
fi
exec @ZIG@ {mode} -target {zig_target} -ffile-prefix-map=@WORK@=/build -ffile-prefix-map=@ZIG_LIB@=/zig $link "$@"
"""

_TOOL = """#!/bin/sh
# Generated: zig's {mode} (an LLVM {mode}).
export ZIG_GLOBAL_CACHE_DIR=@ZIG_CACHE@ ZIG_LOCAL_CACHE_DIR=@ZIG_CACHE@
exec @ZIG@ {mode} "$@"
"""


@dataclass(frozen=True)
class Toolchain:
    target: Target
    bin_dir: Path
    cflags: tuple[str, ...]
    identity: str  # changes whenever what the wrappers produce may change

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def cc(self) -> str:
        return self.tool("clang")

    def environment(self, source_date_epoch: int) -> dict[str, str]:
        """A clean environment for build commands: nothing leaks in from the caller's."""
        env = {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR") if key in os.environ}
        env.update(
            LC_ALL="C",
            SOURCE_DATE_EPOCH=str(source_date_epoch),
            CC=self.cc, CXX=self.tool("clang++"), AR=self.tool("llvm-ar"), RANLIB=self.tool("llvm-ranlib"),
            CFLAGS=" ".join(self.cflags), CXXFLAGS=" ".join(self.cflags),
            CC_FOR_BUILD="cc", BUILD_CC="cc",
        )
        return env


def require_host_tools(names=HOST_TOOLS) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        packages = sorted({HOST_TOOLS[name] for name in missing})
        raise MissingHostTool(f"missing host tools: {', '.join(missing)}; install them with: "
                              f"apt-get install {' '.join(packages)} (or run ./bootstrap.sh)")


def zig_executable(expected_version: str) -> Path:
    try:
        installed = importlib.metadata.version("ziglang")
        import ziglang
    except (importlib.metadata.PackageNotFoundError, ImportError):
        raise MissingHostTool(f"zig is missing: pip install ziglang=={expected_version}") from None
    if installed != expected_version:
        raise MissingHostTool(f"ziglang {installed} is installed but the recipes pin {expected_version}: "
                              f"pip install ziglang=={expected_version}")
    return Path(ziglang.__file__).parent / "zig"


def prepare(ctx: Context, target: Target) -> Toolchain:
    settings = ctx.project.toolchain
    zig = zig_executable(settings["version"])
    link = shlex.quote(" ".join(["-dynamic", *settings["ldflags"]]))
    scripts = {
        "clang": _COMPILER.format(what="C compiler", mode="cc", link=link, zig_target=target.zig_target),
        "clang++": _COMPILER.format(what="C++ compiler", mode="c++", link=link, zig_target=target.zig_target),
        "llvm-ar": _TOOL.format(mode="ar"),
        "llvm-ranlib": _TOOL.format(mode="ranlib"),
    }
    cflags = (*settings["cflags"], *target.cflags)
    # The identity covers the scripts before local paths are filled in, so
    # cache keys do not depend on where the venv, the cache or the build lives.
    identity = hashlib.sha256(repr((settings["version"], sorted(scripts.items()), cflags))
                              .encode()).hexdigest()
    local_paths = {"@ZIG@": zig, "@ZIG_CACHE@": ctx.cache_dir / "zig", "@ZIG_LIB@": zig.parent / "lib",
                   "@WORK@": ctx.build_dir / "work"}
    bin_dir = ctx.build_dir / "toolchain" / target.arch / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, template in scripts.items():
        text = template
        for marker, local in local_paths.items():
            text = text.replace(marker, shlex.quote(str(local)))
        script = bin_dir / name
        if not script.is_file() or script.read_text() != text:
            tmp = script.with_name(f".{name}.tmp")
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, script)
    if not zig.is_file():
        raise BuildError(f"zig executable not found at {zig}")
    return Toolchain(target=target, bin_dir=bin_dir, cflags=cflags, identity=identity)
