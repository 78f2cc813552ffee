"""The compilers, as data: one spec per toolchain kind, and the wrappers
each one gets, rendered from templates/.

- zig: zig cc from PyPI, for any target from any host.
- native: the host's own GCC on a musl host of the target's arch (inside Alpine).
- musl-gcc: Debian's GCC with musl's specs, for PGO builds of CPython on a
  glibc host of the target's arch (zig's clang has no profile runtime).
- cross-gcc: Debian's cross GCC for the target with the specs of Debian's
  musl-dev for it, unpacked into the cache: PGO cross builds of CPython.

Build systems get programs named for what they are (`clang` for zig's,
`gcc` for a GCC), because configure scripts pick compiler-specific options
(CPython's LTO among them) by matching those names in $CC. The compiler
wrappers add the hardening link flags to every link, and zig's add
`-dynamic` so that executables ask for musl's loader (zig links executables
statically unless told otherwise).
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from . import musl, pinned_gcc, zig_runtime
from .cache import key_of
from .context import Context
from .errors import BuildError, MissingHostTool
from .recipes import Target

TEMPLATES = Path(__file__).parent / "templates"

# What sysconfig records instead of each role's wrapper: the names a user's machine has.
GENERIC_NAMES = {"cc": "cc", "cxx": "c++", "ar": "ar", "ranlib": "ranlib"}

# Programs a build on Debian runs on the build machine, and the Debian package with each.
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
    "llvm-nm": "llvm",       # zig links of executable objects (executable_objects.compiler_rt_copy)
    "llvm-objcopy": "llvm",
    "openssl": "openssl",    # verification makes a TLS certificate
    "dpkg-deb": "dpkg",      # Debian's musl package for verification
}

# What a native build inside Alpine runs (it does not verify), and the Alpine
# package with each: Dockerfile.alpine installs them.
NATIVE_HOST_TOOLS = {
    "make": "build-base", "patch": "patch", "perl": "perl", "tclsh": "tcl", "cmake": "cmake",
    "pkg-config": "pkgconf", "cc": "build-base", "gcc-ar": "build-base", "xz": "xz", "llvm-strip": "llvm",
}

_GCC_TOOLS = {"ar": ("GCC's ar, which loads the LTO plugin", "gcc-ar"),
              "ranlib": ("GCC's ranlib, which loads the LTO plugin", "gcc-ranlib")}
_GCC_PROGRAMS = {"cc": "gcc", "cxx": "g++", "ar": "gcc-ar", "ranlib": "gcc-ranlib"}


@dataclass(frozen=True)
class Kind:
    """What one toolchain kind is: its wrappers, where it runs, what decides its output."""

    name: str
    through: str  # what the wrappers call, for their header
    programs: dict[str, str]  # role (cc, cxx, ar, ranlib) -> the wrapper's name
    # cc and cxx -> the compiler command; {zig_target}, {cpu} and {musl} are the target's.
    compilers: dict[str, str]
    tools: dict[str, tuple[str, str]]  # ar and ranlib -> (what it is, command)
    flags: str  # the table of recipes/project.toml with its cflags and ldflags
    host_tools: dict[str, str]  # program -> package that has it; {cross_gcc} as in version_commands
    install_command: str  # how to install host_tools' packages
    link_first: tuple[str, ...] = ()  # link flags before the project's
    # Link flags for executables only: a -shared, -r or -static link goes without.
    executable_link: tuple[str, ...] = ()
    runs_zig: bool = False  # the wrappers run zig, which needs its cache directories
    reads_zig_lib: bool = False  # compiles with zig's headers (zig's directory is mapped away)
    answers_multiarch: bool = False  # `cc --print-multiarch` answers the musl platform triplet
    drops_host_library_dirs: bool = False  # -L/usr/lib... never reach the linker
    profiles: bool = False  # links a profile runtime: can build CPython with PGO
    environment: tuple[tuple[str, str], ...] = ()  # variables for every build command
    takes_target_environment: bool = False  # the target's zig_environment applies
    # Commands whose output decides what the compiler produces (beyond the
    # scripts and flags); {cross_gcc} is the target's cross compiler prefix.
    version_commands: tuple[tuple[str, ...], ...] = ()
    # Compiles against Debian's musl-dev for the target, unpacked into the
    # cache (musl.sysroot), through specs that point into it.
    musl_sysroot: bool = False
    # Runs GCC and binutils from the target's pinned Debian packages,
    # unpacked into the cache (pinned_gcc.py), never the host's.
    pinned_gcc: bool = False


KINDS = {
    "zig": Kind(
        name="zig", through="zig", flags="toolchain", host_tools=HOST_TOOLS,
        install_command="apt-get install {packages} (or run ./bootstrap.sh)",
        programs={"cc": "clang", "cxx": "clang++", "ar": "llvm-ar", "ranlib": "llvm-ranlib"},
        # The CPU goes on every command line, compile and link alike: zig builds
        # its own libc and runtime objects for the CPU it is given.
        compilers={"cc": "@ZIG@ cc -target {zig_target}{cpu}", "cxx": "@ZIG@ c++ -target {zig_target}{cpu}"},
        tools={"ar": ("zig's ar (an LLVM ar)", "@ZIG@ ar"), "ranlib": ("zig's ranlib (an LLVM ranlib)", "@ZIG@ ranlib")},
        link_first=("-dynamic",), runs_zig=True, reads_zig_lib=True, takes_target_environment=True,
        # zig links executables position-dependent unless told (GCC's Debian
        # and Alpine builds default to PIE). Besides giving up address
        # randomisation, such an executable takes copy relocations of musl's
        # data, and zig's libc stub gives those objects one address: on armv7
        # the static interpreter (LTO) read environ back as __progname and
        # crashed before main; i686 and riscv64 link the same way.
        executable_link=("-pie",)),
    "native": Kind(
        name="native", through="the host's own compiler", flags="native_toolchain", host_tools=NATIVE_HOST_TOOLS,
        install_command="apk add {packages} (Dockerfile.alpine does)",
        programs=_GCC_PROGRAMS, compilers={"cc": "cc", "cxx": "c++"}, tools=_GCC_TOOLS, profiles=True,
        # The compiler, binutils and musl versions (Alpine packages are not
        # pinned, the base image is).
        version_commands=(("cc", "--version"), ("ld", "--version"),
                          ("apk", "info", "-v", "gcc", "binutils", "musl", "musl-dev"))),
    "musl-gcc": Kind(
        name="musl-gcc", through="Debian's GCC from pinned packages, with musl's specs", flags="native_toolchain",
        host_tools=HOST_TOOLS,  # GCC and binutils are not the host's: the target's gcc_debs (pinned_gcc.py)
        install_command="apt-get install {packages} (or run ./bootstrap.sh)",
        programs=_GCC_PROGRAMS,
        # Debian's musl-dev from the cache (pinned), as for cross-gcc; its
        # crypt.h with crypt(3) is missing, so zig's musl headers are searched
        # after all others, for what Debian's lack. The Linux headers are
        # zig's too, whose version is pinned. The sysroot and GCC's own tree
        # (its include/ directory) are mapped to fixed names like the others.
        # Nothing CPython builds is C++ (Debian's libstdc++ is glibc's anyway):
        # no g++ is pinned, and the C++ wrapper names one that is not there.
        compilers={"cc": "@GCC_ROOT@/usr/bin/gcc-12 -ffile-prefix-map=@MUSL_SYSROOT@=/musl "
                         "-ffile-prefix-map=@GCC_ROOT@=/gcc {musl}",
                   "cxx": "@GCC_ROOT@/usr/bin/g++-12 -ffile-prefix-map=@MUSL_SYSROOT@=/musl "
                          "-ffile-prefix-map=@GCC_ROOT@=/gcc {musl}"},
        tools={"ar": ("GCC's ar, which loads the LTO plugin", "@GCC_ROOT@/usr/bin/gcc-ar-12"),
               "ranlib": ("GCC's ranlib, which loads the LTO plugin", "@GCC_ROOT@/usr/bin/gcc-ranlib-12")},
        reads_zig_lib=True, answers_multiarch=True, drops_host_library_dirs=True, profiles=True,
        musl_sysroot=True, pinned_gcc=True,
        # Debian's libc.so of musl lacks crypt(3), which every other musl build
        # exports: configure's link test for it fails, though the crypt module
        # links (as a shared object) and loads wherever musl is whole.
        environment=(("ac_cv_search_crypt_r", "none required"), ("ac_cv_crypt_crypt", "yes"))),
    "cross-gcc": Kind(
        name="cross-gcc", through="Debian's cross GCC with musl's specs", flags="native_toolchain",
        host_tools={**HOST_TOOLS, "{cross_gcc}-gcc": "gcc-{cross_gcc}"},
        install_command="apt-get install {packages} (or run ./bootstrap.sh)",
        programs=_GCC_PROGRAMS,
        # As musl-gcc, with the target's musl-dev from the cache instead of the
        # host's; the sysroot's path is mapped to a fixed name like the others.
        compilers={"cc": "{cross_gcc}-gcc -ffile-prefix-map=@MUSL_SYSROOT@=/musl {musl}",
                   "cxx": "{cross_gcc}-g++ -ffile-prefix-map=@MUSL_SYSROOT@=/musl {musl}"},
        tools={"ar": ("GCC's ar, which loads the LTO plugin", "{cross_gcc}-gcc-ar"),
               "ranlib": ("GCC's ranlib, which loads the LTO plugin", "{cross_gcc}-gcc-ranlib")},
        reads_zig_lib=True, answers_multiarch=True, drops_host_library_dirs=True, profiles=True,
        musl_sysroot=True,
        environment=(("ac_cv_search_crypt_r", "none required"), ("ac_cv_crypt_crypt", "yes")),
        # The cross GCC and binutils are Debian's (bookworm's); musl-dev is
        # pinned by sha256 in the target's recipe.
        version_commands=(("dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "gcc-12-{cross_gcc}",
                           "binutils-{cross_gcc}"), ("{cross_gcc}-gcc", "--version"))),
}


@dataclass(frozen=True)
class Toolchain:
    target: Target
    bin_dir: Path
    cflags: tuple[str, ...]
    identity: str  # changes whenever what the wrappers produce may change
    kind: Kind = field(default_factory=lambda: KINDS["zig"])
    extra_environment: tuple[tuple[str, str], ...] = ()  # the kind's and the target's variables, filled in
    zig_cache: Path | None = None  # where the wrappers have zig keep what it compiles (kinds that run zig)

    def tool(self, role: str) -> str:
        """The wrapper for a role: cc, cxx, ar or ranlib."""
        return str(self.bin_dir / self.kind.programs[role])

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


def build_triplet() -> str:
    """autoconf's --build: the machine the build runs on."""
    return f"{platform.machine()}-pc-linux-gnu"


def kind_for(target: Target) -> Kind:
    """The toolchain kind a host build of `target` uses here."""
    return KINDS["native"] if native_possible(target) else KINDS["zig"]


def cpython_kind(target: Target, profile_guided: bool) -> Kind:
    """The toolchain kind CPython builds and links with here: the
    dependencies' one, except for a PGO build with a kind that cannot
    profile, which gets musl-gcc (or, for another arch, cross-gcc)."""
    kind = kind_for(target)
    if kind.profiles or not profile_guided:
        return kind
    return KINDS["musl-gcc"] if platform.machine() == target.arch else KINDS["cross-gcc"]


def for_cpython(ctx: Context, target: Target, tools: Toolchain, profile_guided: bool) -> Toolchain:
    """The toolchain of cpython_kind(), prepared."""
    kind = cpython_kind(target, profile_guided)
    if kind is tools.kind:
        return tools
    if kind.name == "cross-gcc":
        if not target.cross_gcc or not target.musl_dev_deb_sha256:
            raise BuildError(f"PGO for {target.arch} from this {platform.machine()} machine needs cross_gcc and "
                             f"musl_dev_deb_sha256 in recipes/targets/{target.arch}.toml")
        require_host_tools(kind, target)
        return prepare(ctx, target, kind)
    if not target.gcc_debs or not target.musl_dev_deb_sha256:
        raise BuildError(f"PGO for {target.arch} on this {target.arch} host needs a profiling compiler: pin "
                         f"gcc_debs, gcc_suite and musl_dev_deb_sha256 in recipes/targets/{target.arch}.toml "
                         "(as x86_64.toml does), or build with --no-pgo")
    musl_gcc = KINDS["musl-gcc"]
    require_host_tools(musl_gcc)
    return prepare(ctx, target, musl_gcc)


def write_script(path: Path, text: str) -> None:
    """Write an executable script, replacing it whole and only when it changed."""
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)


def require_host_tools(kind: Kind = KINDS["zig"], target: Target | None = None) -> None:
    """Fail with the install command when a program `kind` runs is missing;
    a kind whose programs carry the target's cross prefix needs the target."""
    prefix = target.cross_gcc if target else ""
    tools = {name.replace("{cross_gcc}", prefix): package.replace("{cross_gcc}", prefix)
             for name, package in kind.host_tools.items()}
    missing = [name for name in tools if shutil.which(name) is None]
    if missing:
        packages = " ".join(sorted({tools[name] for name in missing}))
        raise MissingHostTool(f"missing host tools: {', '.join(missing)}; install them with: "
                              + kind.install_command.format(packages=packages))


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


_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                keep_trailing_newline=True, autoescape=False)
_TEMPLATES.filters["quote"] = shlex.quote


def scripts(kind: Kind, target: Target, ldflags: tuple[str, ...]) -> dict[str, str]:
    """The wrappers of `kind` for `target`, with @MARKERS@ where local paths go."""
    headers = "@ZIG_LIB@/libc/include"
    specs = "@MUSL_SPECS@"  # the target's musl-dev's, moved into its sysroot (musl.sysroot_specs)
    fields = {"zig_target": target.zig_target, "cpu": f" -mcpu={target.zig_cpu}" if target.zig_cpu else "",
              "cross_gcc": target.cross_gcc,
              "musl": f"-specs {specs} -isystem {headers}/{target.zig_kernel_headers} "
                      f"-isystem {headers}/any-linux-any -idirafter {headers}/generic-musl"}
    link = " ".join([*kind.link_first, *ldflags])
    out = {}
    for role, command in kind.compilers.items():
        out[kind.programs[role]] = _TEMPLATES.get_template("compiler.sh.j2").render(
            what="C compiler" if role == "cc" else "C++ compiler", kind=kind, target=target, link=link,
            executable=" ".join(kind.executable_link), compiler=command.format(**fields))
    for role, (what, command) in kind.tools.items():
        out[kind.programs[role]] = _TEMPLATES.get_template("tool.sh.j2").render(
            what=what, kind=kind, tool=command.format(**fields))
    return out


# One C file per function, each an archive member of its own.
COMPAT_SOURCES = Path(__file__).parent / "resources" / "glibc-compat"
COMPAT_LIBRARY = "libglibc-compat.a"


def _compat_sources() -> dict[str, str]:
    """The compatibility library's sources, by the names they get beside the wrappers."""
    return {f"glibc-compat-{path.name}": path.read_text() for path in sorted(COMPAT_SOURCES.glob("*.c"))}


def _compile_compat_library(bin_dir: Path, library: Path) -> None:
    """The compatibility functions as a static library (GCC names libgcc twice
    in a link, so bare objects would be defined twice), built by the
    toolchain's own compiler whenever a source (written beside it, when it
    changed) is newer."""
    sources = [bin_dir / name for name in _compat_sources()]
    if library.is_file() and all(library.stat().st_mtime >= source.stat().st_mtime for source in sources):
        return
    env = {"PATH": os.environ.get("PATH", "")}
    tmp = library.with_name(f".{library.name}.tmp")
    tmp.unlink(missing_ok=True)
    objects = [source.with_suffix(".o").name for source in sources]
    # No stack protector: __stack_chk_fail_local is what a protected function would call.
    commands = [[str(bin_dir / "gcc"), "-O2", "-fPIC", "-fno-stack-protector", "-c", source.name, "-o", obj]
                for source, obj in zip(sources, objects)]
    for argv in [*commands, [str(bin_dir / "gcc-ar"), "rcD", tmp.name, *objects]]:
        result = subprocess.run(argv, cwd=bin_dir, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise BuildError(f"cannot build {library.name} for the cross-gcc toolchain: {result.stderr.strip()}")
    os.replace(tmp, library)


def prepare(ctx: Context, target: Target, kind: Kind = KINDS["zig"]) -> Toolchain:
    """Write the wrappers of `kind` for `target` and return the toolchain."""
    if kind.name == "native" and not native_possible(target):
        raise BuildError(f"the native toolchain builds only on a {target.arch} musl host")
    settings = getattr(ctx.project, kind.flags)
    local_paths = {"@WORK@": ctx.build_dir / "work"}
    facts = [[kind.name]]
    if kind.runs_zig or kind.reads_zig_lib:
        zig_version = ctx.project.toolchain.version
        zig = zig_executable(zig_version)
        if not zig.is_file():
            raise BuildError(f"zig executable not found at {zig}")
        # zig's lib directory by its real path: GCC names a system header by its
        # canonical path where that is shorter, which -ffile-prefix-map would
        # not match if the project's venv were reached through a symlink (a
        # /work/main/.venv path in _socket's debug info, seen from a checkout
        # whose .venv was a link to it); zig finds its lib through its real path too.
        local_paths.update({"@ZIG@": zig, "@ZIG_CACHE@": ctx.cache_dir / "zig",
                            "@ZIG_LIB@": (zig.parent / "lib").resolve()})
        facts.append([zig_version])
    if kind.runs_zig:
        # zig_runtime.strip_debug_info's and executable_objects.compiler_rt_copy's tools write bytes that are linked.
        facts.append(["zig's runtime stripped of debug info",
                      *(subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
                        for tool in ("llvm-objcopy", "llvm-nm") if shutil.which(tool))])
    commands = [[arg.replace("{cross_gcc}", target.cross_gcc) for arg in argv] for argv in kind.version_commands]
    facts += [subprocess.run(argv, capture_output=True, text=True).stdout
              for argv in commands if shutil.which(argv[0])]
    texts = scripts(kind, target, settings.ldflags)
    bin_dir = ctx.build_dir / "toolchain" / f"{target.arch}-{kind.name}"
    if kind.pinned_gcc:
        root = pinned_gcc.gcc_root(ctx, target)
        libraries = sorted((root / "usr" / "lib").glob("*-linux-gnu"))
        local_paths.update({"@GCC_ROOT@": root, "@GCC_LIBRARIES@": libraries[0] if libraries else root / "usr" / "lib"})
        facts.append([[deb.package, deb.version, deb.sha256] for deb in target.gcc_debs])
    if kind.musl_sysroot:
        sysroot = musl.sysroot(ctx, target)
        specs = musl.sysroot_specs(sysroot, target, "@MUSL_SYSROOT@")
        # Every link takes the glibc-compatibility library after libgcc, whose
        # references it answers (resources/glibc-compat/).
        texts["musl-gcc.specs"] = re.sub(r"^(\*libgcc:\n.*)$", r"\1 @MUSL_COMPAT@", specs, count=1, flags=re.M)
        texts.update(_compat_sources())
        facts.append([target.musl_deb_sha256, target.musl_dev_deb_sha256])
        local_paths.update({"@MUSL_SYSROOT@": sysroot, "@MUSL_SPECS@": bin_dir / "musl-gcc.specs",
                            "@MUSL_COMPAT@": bin_dir / COMPAT_LIBRARY})
    cflags = (*settings.cflags, *target.cflags)
    target_environment = target.zig_environment if kind.takes_target_environment else {}
    # The identity covers the scripts before local paths are filled in, so
    # cache keys do not depend on where the venv, the cache or the build lives.
    identity = key_of({"facts": facts, "scripts": texts, "cflags": cflags, "environment": list(kind.environment),
                       "target_environment": target_environment})
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, template in texts.items():
        for marker, local in local_paths.items():
            # Shell scripts get quoted paths; GCC's specs split on white space
            # and take quotes literally.
            if name.endswith(".specs") and any(c.isspace() for c in str(local)):
                raise BuildError(f"{local}: GCC's specs cannot name a path with white space in it")
            template = template.replace(marker, str(local) if name.endswith(".specs") else shlex.quote(str(local)))
        write_script(bin_dir / name, template)
    if kind.musl_sysroot:
        _compile_compat_library(bin_dir, local_paths["@MUSL_COMPAT@"])
    extra = tuple((name, value.replace("@ZIG@", str(local_paths["@ZIG@"])))
                  for name, value in sorted(target_environment.items())) + kind.environment
    tools = Toolchain(target=target, bin_dir=bin_dir, cflags=cflags, identity=identity, kind=kind,
                      extra_environment=extra, zig_cache=local_paths.get("@ZIG_CACHE@") if kind.runs_zig else None)
    if kind.runs_zig:
        zig_runtime.strip_debug_info(tools)
    return tools
