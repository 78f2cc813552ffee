"""The compilers: zig from PyPI (any target, from any host), or the native
compiler of a musl host (inside Alpine), behind small per-target wrappers.
PGO builds of CPython on a glibc host of the target's arch use Debian's
musl-gcc instead of zig: zig's clang has no profile runtime to link.

Build systems get programs named for what they are (`clang` for zig's,
`gcc` for a native GCC), because configure scripts pick compiler-specific
options (CPython's LTO among them) by matching those names in $CC. The
compiler wrappers add the hardening link flags to every link, and zig's add
`-dynamic` so that executables ask for musl's loader (zig links executables
statically unless told otherwise).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .context import Context
from .errors import BuildError, MissingHostTool
from .recipes import Target

# The wrappers' names for each role, per toolchain kind.
PROGRAMS = {
    "zig": {"cc": "clang", "cxx": "clang++", "ar": "llvm-ar", "ranlib": "llvm-ranlib"},
    "native": {"cc": "gcc", "cxx": "g++", "ar": "gcc-ar", "ranlib": "gcc-ranlib"},
    "musl-gcc": {"cc": "gcc", "cxx": "g++", "ar": "gcc-ar", "ranlib": "gcc-ranlib"},
}

# What sysconfig records instead of each wrapper: the names a user's machine has.
# Longest first, so that "clang++" is not rewritten as "clang" + "++".
GENERIC_NAMES = {"clang++": "c++", "clang": "cc", "llvm-ranlib": "ranlib", "llvm-ar": "ar",
                 "gcc-ranlib": "ranlib", "gcc-ar": "ar", "g++": "c++", "gcc": "cc"}

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
# Generated: {what} for {zig_target} through {through}. Hardening flags go on
# every link, never on compile-only steps, so no build system can drop them.
# Paths of the build directory and of zig are mapped to fixed names in
# debug info and macros, so outputs do not depend on where the build ran.{environment}
# Arguments are rewritten on the way through: zig's linker knows -soname but
# not its short form -h (CPython's Makefile uses -Wl,-h<name>). And zig hands
# a link whose only inputs are shared libraries (CPython's libpython3.so stub)
# to the host's clang driver, which links against the host's glibc: an empty
# C input keeps such links in zig's hands. So does standard input ("-") with
# no language given, which zig would preprocess with the host's headers.
{answers}link={link}
expect= inputs= libraries= language=
for arg in "$@"; do
  shift
  if [ -n "$expect" ]; then
    expect=
  else
    case "$arg" in
      -c|-E|-S|-M|-MM) link= ;;
      -x) expect=1 language=1 ;;
      -x?*) language=1 ;;
      -o|-MF|-MT|-MQ|-include|-isystem|-I|-L|-l|-target|-Xlinker) expect=1 ;;
      -Wl,-h) arg=-Wl,-soname ;;
      -Wl,-h,*) arg="-Wl,-soname,${{arg#-Wl,-h,}}" ;;
      -Wl,-h?*) arg="-Wl,-soname,${{arg#-Wl,-h}}" ;;
      -) inputs=1; [ -n "$language" ] || set -- "$@" -x c ;;
{dropped}      -*) ;;
      *.so|*.so.*) libraries=1 ;;
      *) inputs=1 ;;
    esac
  fi
  set -- "$@" "$arg"
done
if [ -n "$link" ] && [ -n "$libraries" ] && [ -z "$inputs" ]; then
  set -- "$@" -x c /dev/null
fi
exec {compiler} -ffile-prefix-map=@WORK@=/build{more_maps} $link "$@"
"""

_TOOL = """#!/bin/sh
# Generated: {what}.{environment}
exec {tool} "$@"
"""

_ZIG_ENVIRONMENT = "\nexport ZIG_GLOBAL_CACHE_DIR=@ZIG_CACHE@ ZIG_LOCAL_CACHE_DIR=@ZIG_CACHE@"


@dataclass(frozen=True)
class Toolchain:
    target: Target
    bin_dir: Path
    cflags: tuple[str, ...]
    identity: str  # changes whenever what the wrappers produce may change
    kind: str = "zig"
    extra_environment: tuple[tuple[str, str], ...] = ()  # the target's zig_environment, filled in

    def tool(self, role: str) -> str:
        """The wrapper for a role: cc, cxx, ar or ranlib."""
        return str(self.bin_dir / PROGRAMS[self.kind][role])

    @property
    def cc(self) -> str:
        return self.tool("cc")

    def environment(self, source_date_epoch: int) -> dict[str, str]:
        """A clean environment for build commands: nothing leaks in from the caller's."""
        env = {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR") if key in os.environ}
        env.update(
            LC_ALL="C",
            SOURCE_DATE_EPOCH=str(source_date_epoch),
            CC=self.cc, CXX=self.tool("cxx"), AR=self.tool("ar"), RANLIB=self.tool("ranlib"),
            CFLAGS=" ".join(self.cflags), CXXFLAGS=" ".join(self.cflags),
            CC_FOR_BUILD="cc", BUILD_CC="cc",
        )
        env.update(self.extra_environment)
        return env


# What a native build inside Alpine runs (it does not verify), and the Alpine
# package with each: Dockerfile.alpine installs them.
NATIVE_HOST_TOOLS = {
    "make": "build-base", "patch": "patch", "perl": "perl", "tclsh": "tcl", "cmake": "cmake",
    "pkg-config": "pkgconf", "cc": "build-base", "gcc-ar": "build-base", "xz": "xz", "llvm-strip": "llvm",
}


def build_triplet() -> str:
    """autoconf's --build: the machine the build runs on."""
    return f"{platform.machine()}-pc-linux-gnu"


def kind_for(target: Target) -> str:
    """The toolchain kind a host build of `target` uses here."""
    return "native" if native_possible(target) else "zig"


def for_cpython(ctx: Context, target: Target, tools: Toolchain, profile_guided: bool) -> Toolchain:
    """The toolchain CPython builds with: the dependencies' one, except for a
    PGO build with zig, which needs a compiler that can profile (musl-gcc)."""
    if tools.kind != "zig" or not profile_guided:
        return tools
    if not target.musl_gcc_specs:
        raise BuildError(f"PGO for {target.arch} needs a profiling compiler: set musl_gcc_specs in "
                         f"recipes/targets/{target.arch}.toml, or drop --enable-optimizations")
    require_host_tools(MUSL_GCC_HOST_TOOLS)
    if not Path(target.musl_gcc_specs).is_file():
        raise MissingHostTool(f"{target.musl_gcc_specs} is missing: apt-get install musl-tools musl-dev "
                              "(or run ./bootstrap.sh)")
    return prepare(ctx, target, "musl-gcc")


def write_script(path: Path, text: str) -> None:
    """Write an executable script, replacing it whole and only when it changed."""
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)


# Debian's libc.so of musl lacks crypt(3), which every other musl build
# exports: configure's link test for it fails, though the crypt module links
# (as a shared object) and loads wherever musl is whole.
MUSL_GCC_ENVIRONMENT = (("ac_cv_search_crypt_r", "none required"), ("ac_cv_crypt_crypt", "yes"))

# What a PGO build with Debian's musl-gcc runs, beyond HOST_TOOLS.
MUSL_GCC_HOST_TOOLS = {"musl-gcc": "musl-tools", "gcc-ar": "gcc", "gcc-ranlib": "gcc"}


def require_host_tools(tools: dict[str, str] = HOST_TOOLS) -> None:
    missing = [name for name in tools if shutil.which(name) is None]
    if missing:
        packages = " ".join(sorted({tools[name] for name in missing}))
        how = (f"apk add {packages} (Dockerfile.alpine does)" if tools is NATIVE_HOST_TOOLS
               else f"apt-get install {packages} (or run ./bootstrap.sh)")
        raise MissingHostTool(f"missing host tools: {', '.join(missing)}; install them with: {how}")


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


def host_is_musl() -> bool:
    """True where the host's own C compiler targets musl (inside Alpine). A musl
    loader alone is not enough: Debian's musl package installs one beside glibc."""
    if shutil.which("cc") is None:
        return False
    machine = subprocess.run(["cc", "-dumpmachine"], capture_output=True, text=True).stdout
    return "musl" in machine


def native_possible(target: Target) -> bool:
    """A musl host of the target's own architecture can build with its own compiler."""
    return host_is_musl() and platform.machine() == target.arch


def _scripts(kind: str, settings: dict, target: Target) -> dict[str, str]:
    names = PROGRAMS[kind]
    if kind == "zig":
        common = dict(zig_target=target.zig_target, through="zig", environment=_ZIG_ENVIRONMENT,
                      answers="", dropped="",
                      more_maps=" -ffile-prefix-map=@ZIG_LIB@=/zig",
                      link=shlex.quote(" ".join(["-dynamic", *settings["ldflags"]])))
        # The CPU goes on every command line, compile and link alike: zig builds
        # its own libc and runtime objects for the CPU it is given.
        cpu = f" -mcpu={target.zig_cpu}" if target.zig_cpu else ""
        compilers = {"cc": f"@ZIG@ cc -target {target.zig_target}{cpu}",
                     "cxx": f"@ZIG@ c++ -target {target.zig_target}{cpu}"}
        tools = {"ar": ("zig's ar (an LLVM ar)", "@ZIG@ ar"),
                 "ranlib": ("zig's ranlib (an LLVM ranlib)", "@ZIG@ ranlib")}
    elif kind == "musl-gcc":
        # Debian's GCC names its glibc multiarch, which CPython's configure
        # compares with the musl platform triplet. And GCC, unlike zig, links
        # what it finds on the build machine's library path, where 3.11's
        # setup.py points it (-L/usr/lib/x86_64-linux-gnu: glibc's libm).
        common = dict(zig_target=target.zig_target, through="Debian's GCC with musl's specs", environment="",
                      more_maps=" -ffile-prefix-map=@ZIG_LIB@=/zig",
                      link=shlex.quote(" ".join(settings["ldflags"])),
                      answers=f'[ "$*" = --print-multiarch ] && {{ echo {target.platform_triplet}; exit 0; }}\n',
                      dropped="      -L/lib|-L/lib/*|-L/lib64|-L/usr/lib|-L/usr/lib/*|-L/usr/lib64) continue ;;\n")
        # Debian's musl-dev leaves out crypt.h with crypt(3); zig's musl
        # headers are searched after all others, for what Debian's lack.
        headers = "@ZIG_LIB@/libc/include"
        musl = (f"-specs {target.musl_gcc_specs} -isystem {headers}/{target.zig_kernel_headers} "
                f"-isystem {headers}/any-linux-any -idirafter {headers}/generic-musl")
        compilers = {"cc": f"gcc {musl}", "cxx": f"g++ {musl}"}
        tools = {"ar": ("GCC's ar, which loads the LTO plugin", "gcc-ar"),
                 "ranlib": ("GCC's ranlib, which loads the LTO plugin", "gcc-ranlib")}
    else:
        common = dict(zig_target=target.zig_target, through="the host's own compiler", environment="",
                      more_maps="", answers="", dropped="", link=shlex.quote(" ".join(settings["ldflags"])))
        compilers = {"cc": "cc", "cxx": "c++"}
        tools = {"ar": ("GCC's ar, which loads the LTO plugin", "gcc-ar"),
                 "ranlib": ("GCC's ranlib, which loads the LTO plugin", "gcc-ranlib")}
    scripts = {names[role]: _COMPILER.format(what="C compiler" if role == "cc" else "C++ compiler",
                                             compiler=compiler, **common)
               for role, compiler in compilers.items()}
    scripts.update({names[role]: _TOOL.format(what=what, environment=common["environment"], tool=tool)
                    for role, (what, tool) in tools.items()})
    return scripts


def prepare(ctx: Context, target: Target, kind: str = "zig") -> Toolchain:
    """Write the wrappers for `kind`: "zig" (any host), "native" (a musl host's
    own compiler) or "musl-gcc" (Debian's GCC with musl's specs, for PGO)."""
    # GCC gets the flags of a native GCC build: zig's lld-only options aside, they are the same.
    settings = ctx.project.toolchain if kind == "zig" else ctx.project.native_toolchain
    local_paths = {"@WORK@": ctx.build_dir / "work"}
    if kind in ("zig", "musl-gcc"):
        zig_version = ctx.project.toolchain["version"]
        zig = zig_executable(zig_version)
        if not zig.is_file():
            raise BuildError(f"zig executable not found at {zig}")
        local_paths.update({"@ZIG@": zig, "@ZIG_CACHE@": ctx.cache_dir / "zig", "@ZIG_LIB@": zig.parent / "lib"})
    if kind == "zig":
        version = zig_version
    elif kind == "musl-gcc":
        # GCC, binutils and musl are Debian's (bookworm's, pinned by the suite);
        # the Linux headers are zig's.
        packages = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "gcc-12", "binutils",
                                   "musl-dev", "musl-tools"], capture_output=True, text=True).stdout
        version = [zig_version, packages, subprocess.run(["gcc", "--version"], capture_output=True,
                                                         text=True).stdout]
    else:
        if not native_possible(target):
            raise BuildError(f"the native toolchain builds only on a {target.arch} musl host")
        # What decides the output besides the scripts: the compiler, binutils and
        # musl versions (Alpine packages are not pinned, the base image is).
        version = [subprocess.run(argv, capture_output=True, text=True).stdout
                   for argv in (["cc", "--version"], ["ld", "--version"], ["apk", "info", "-v", "gcc", "binutils",
                                                                          "musl", "musl-dev"])
                   if shutil.which(argv[0])]
    scripts = _scripts(kind, settings, target)
    cflags = (*settings["cflags"], *target.cflags)
    # The identity covers the scripts before local paths are filled in, so
    # cache keys do not depend on where the venv, the cache or the build lives.
    described = (version, sorted(scripts.items()), cflags) if kind == "zig" else (kind, version, sorted(
        scripts.items()), cflags)
    if kind == "musl-gcc":
        described = (*described, MUSL_GCC_ENVIRONMENT)
    zig_environment = target.zig_environment if kind == "zig" else {}
    if zig_environment:  # only then, so other targets' cache keys stay as they were
        described = (*described, sorted(zig_environment.items()))
    identity = hashlib.sha256(repr(described).encode()).hexdigest()
    bin_dir = ctx.build_dir / "toolchain" / f"{target.arch}-{kind}"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, template in scripts.items():
        text = template
        for marker, local in local_paths.items():
            text = text.replace(marker, shlex.quote(str(local)))
        write_script(bin_dir / name, text)
    extra = tuple((name, value.replace("@ZIG@", str(local_paths["@ZIG@"])))
                  for name, value in sorted(zig_environment.items()))
    if kind == "musl-gcc":
        extra += MUSL_GCC_ENVIRONMENT
    return Toolchain(target=target, bin_dir=bin_dir, cflags=cflags, identity=identity, kind=kind,
                     extra_environment=extra)
