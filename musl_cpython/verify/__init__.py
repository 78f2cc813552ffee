"""Prove that an artifact works the way its users will use it.

The archive is unpacked into a fresh directory whose path contains a space,
and the interpreter is run from there, directly and through a symlink placed
elsewhere. Each check passes, fails, or is skipped with the reason; the
results go to a JSON report next to the archive.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
from packaging.utils import canonicalize_name, parse_wheel_filename

from . import REPO, code_identity, emulation, musl, relocate, toolchain
from .archives import safe_extract
from .context import Context
from .errors import BuildError, UnsafeArchive
from .sources import sha256_file
from .recipes import Target, load_pythons, load_targets
from .steps import say

# pyelftools names for the flags the hardening rules read.
DF_TEXTREL, DF_BIND_NOW, DF_1_NOW, PF_X = 0x4, 0x8, 0x1, 0x1



# pip's first release that knows musllinux tags (PEP 656).
MUSLLINUX_PIP = (21, 2)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


class VerificationCannotRun(BuildError):
    """Not a verdict on the artifact: the check itself could not start. Exit code 2."""

    exit_code = 2


class Fail(Exception):
    pass


class Skip(Exception):
    pass


@dataclass
class Check:
    group: str
    name: str
    status: str  # pass, fail or skip
    detail: str = ""


# --- reading ELF files -----------------------------------------------------------

@dataclass
class ElfFacts:
    path: Path
    interp: str | None
    needed: list[str]
    runpath: list[str]
    glibc_versions: list[str]
    exec_stack: bool
    has_relro: bool
    bind_now: bool
    textrel: bool
    undefined: set[str]  # strong undefined dynamic symbols
    defined: set[str]


def read_elf(path: Path) -> ElfFacts:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        interp, exec_stack, has_relro, has_stack_header = None, False, False, False
        for segment in elf.iter_segments():
            kind = segment["p_type"]
            if kind == "PT_INTERP":
                interp = segment.get_interp_name()
            elif kind == "PT_GNU_STACK":
                has_stack_header = True
                exec_stack = bool(segment["p_flags"] & PF_X)
            elif kind == "PT_GNU_RELRO":
                has_relro = True
        needed, runpath, flags, flags_1, textrel = [], [], 0, 0, False
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    name = tag.entry.d_tag
                    if name == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif name == "DT_RUNPATH":
                        runpath += tag.runpath.split(":")
                    elif name == "DT_RPATH":
                        runpath += tag.rpath.split(":")
                    elif name == "DT_FLAGS":
                        flags = tag.entry.d_val
                    elif name == "DT_FLAGS_1":
                        flags_1 = tag.entry.d_val
                    elif name == "DT_TEXTREL":
                        textrel = True
        glibc = []
        versions = elf.get_section_by_name(".gnu.version_r")
        if isinstance(versions, GNUVerNeedSection):
            for verneed, auxiliaries in versions.iter_versions():
                glibc += [aux.name for aux in auxiliaries if aux.name.startswith("GLIBC_")]
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
    return ElfFacts(path, interp, needed, runpath, glibc, exec_stack or not has_stack_header,
                    has_relro, bool(flags & DF_BIND_NOW or flags_1 & DF_1_NOW),
                    textrel or bool(flags & DF_TEXTREL), undefined, defined)


def elf_policy(tree: Path, target: Target, musl_exports: set[str], minimum_musl: str) -> list[Check]:
    """The ELF rules, one check each, over every ELF file in the tree."""
    facts = []
    for path in relocate.elf_files(tree):
        try:
            facts.append(read_elf(path))
        except ELFError as e:
            return [Check("elf", "readable ELF files", "fail", f"{path.relative_to(tree)}: {e}")]
    lib = tree / "lib"
    bundled = {p.name for p in lib.glob("lib*.so*")}
    provided = set(musl_exports)
    for fact in facts:
        if fact.path.parent == lib:
            provided |= fact.defined

    def rel(path):
        return str(path.relative_to(tree))

    rules = {
        "PT_INTERP is " + target.musl_loader: [
            f"{rel(f.path)}: {f.interp}" for f in facts
            if f.interp is not None and f.interp != target.musl_loader]
        + ([] if any(f.path.parent.name == "bin" and f.interp == target.musl_loader for f in facts)
           else ["bin/: no executable asks for the musl loader"]),
        "DT_NEEDED only musl libc and bundled libraries": [
            f"{rel(f.path)} needs {name}" for f in facts for name in f.needed
            if name != relocate.MUSL_LIBC and name not in bundled],
        "RUNPATH entries are $ORIGIN-relative and stay in the tree": [
            f"{rel(f.path)}: {entry}" for f in facts for entry in f.runpath
            if not _origin_inside(entry, f.path, tree)],
        "no GLIBC_ symbol versions": [
            f"{rel(f.path)}: {', '.join(sorted(set(f.glibc_versions)))}" for f in facts if f.glibc_versions],
        "non-executable stack": [rel(f.path) for f in facts if f.exec_stack],
        "RELRO": [rel(f.path) for f in facts if not f.has_relro],
        "BIND_NOW": [rel(f.path) for f in facts if not f.bind_now],
        "no TEXTREL": [rel(f.path) for f in facts if f.textrel],
        f"undefined symbols resolve against musl {minimum_musl} or bundled libraries": [
            f"{rel(f.path)}: {', '.join(sorted(f.undefined - provided)[:8])}" for f in facts
            if f.undefined - provided],
    }
    checks = []
    for name, problems in rules.items():
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            checks.append(Check("elf", name, "fail", shown))
        else:
            checks.append(Check("elf", name, "pass", f"{len(facts)} ELF files"))
    return checks


def _origin_inside(entry: str, path: Path, tree: Path) -> bool:
    if not entry.startswith("$ORIGIN"):
        return False
    resolved = os.path.normpath(str(path.parent) + entry[len("$ORIGIN"):])
    return Path(resolved).is_relative_to(tree)


# --- running the interpreter ---------------------------------------------------

SCRIPTS = {
    "identity": """
        import importlib.machinery, json, sys, sysconfig
        print(json.dumps({"multiarch": sys.implementation._multiarch,
                          "soabi": sysconfig.get_config_var("SOABI"),
                          "suffixes": importlib.machinery.EXTENSION_SUFFIXES,
                          "prefix": sys.prefix, "executable": sys.executable}))
    """,
    "tags": """
        from pip._vendor.packaging import tags
        print("\\n".join(sorted({t.platform for t in tags.sys_tags()})))
    """,
    "stdlib": """
        import importlib, json, os, sys
        os.environ["BROWSER"] = "true"  # antigravity opens a browser on import
        failed = {}
        names = getattr(sys, "stdlib_module_names", None)
        if names is None:  # before 3.10: what the installed standard library holds
            import pkgutil, sysconfig
            stdlib = sysconfig.get_paths()["stdlib"]
            names = set(sys.builtin_module_names) | {
                m.name for m in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")])}
        for name in sorted(names):
            if name in ("this", "antigravity", "__main__"):
                continue
            try:
                importlib.import_module(name)
            except Exception as e:
                failed[name] = f"{type(e).__name__}: {e}"
        print(json.dumps(failed))
    """,
    "ssl verify paths": """
        import ssl
        paths = ssl.get_default_verify_paths()
        assert paths.openssl_cafile == "/etc/ssl/cert.pem", paths
        assert paths.openssl_capath == "/etc/ssl/certs", paths
        print(paths.openssl_cafile, paths.openssl_capath)
    """,
    "ssl handshake": """
        import socket, ssl, sys, threading
        cert, key = sys.argv[1], sys.argv[2]
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        def serve():
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(5).upper())
        threading.Thread(target=serve, daemon=True).start()
        client_ctx = ssl.create_default_context(cafile=cert)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"hello")
                assert tls.recv(5) == b"HELLO"
                print(tls.version(), tls.cipher()[0])
    """,
    "sqlite3": """
        import sqlite3
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE docs USING fts5(body)")
        db.execute("INSERT INTO docs VALUES ('musl builds of python')")
        assert db.execute("SELECT count(*) FROM docs WHERE docs MATCH 'musl'").fetchone() == (1,)
        assert db.execute("SELECT json_extract('{\\"a\\": [1, 2]}', '$.a[1]')").fetchone() == (2,)
        db.enable_load_extension(True)
        db.enable_load_extension(False)
        print("SQLite", sqlite3.sqlite_version, "FTS5, JSON1, loadable extensions")
    """,
    "ctypes": """
        import ctypes, ctypes.util
        assert ctypes.CDLL(None).getpid() > 0
        name = ctypes.util.find_library("c")
        assert name, "find_library('c') returned None"
        assert ctypes.CDLL(name).strlen(b"musl") == 4
        print("find_library('c') ->", name)
    """,
    "uuid": """
        import uuid
        u = uuid.uuid1()
        assert u.version == 1 and uuid._uuid is not None, "libuuid not used"
        print(u)
    """,
    "curses": """
        import curses
        curses.setupterm("xterm")
        assert curses.tigetstr("clear"), "no terminfo entry for xterm"
        print("ncurses", curses.ncurses_version)
    """,
    "readline": """
        import readline
        readline.add_history("musl")
        assert readline.get_history_item(1) == "musl"
        print(getattr(readline, "backend", "readline"), readline._READLINE_LIBRARY_VERSION)
    """,
    "compression round trips": """
        import bz2, lzma, zlib, importlib
        data = b"musl " * 10000
        for module in (bz2, lzma, zlib):
            assert module.decompress(module.compress(data)) == data, module.__name__
        done = ["bz2", "lzma", "zlib"]
        try:
            zstd = importlib.import_module("compression.zstd")
        except ModuleNotFoundError:
            pass
        else:
            assert zstd.decompress(zstd.compress(data)) == data
            done.append("zstd")
        print(", ".join(done))
    """,
    "hashlib": """
        import hashlib
        assert hashlib.sha3_256(b"").hexdigest().startswith("a7ffc6f8bf1ed766")
        assert hashlib.blake2b(b"").hexdigest().startswith("786a02f742015903")
        assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")
        assert hashlib.md5(b"", usedforsecurity=False).hexdigest() == "d41d8cd98f00b204e9800998ecf8427e"
        print(len(hashlib.algorithms_available), "algorithms")
    """,
    "decimal": """
        import decimal
        assert decimal.Decimal(1) / decimal.Decimal(7) == decimal.Decimal("0.1428571428571428571428571429")
        print("libmpdec", decimal.__libmpdec_version__)
    """,
    "locale": """
        import locale, sys
        locale.setlocale(locale.LC_ALL, "")
        print(sys.getfilesystemencoding(), locale.getlocale(), locale.getpreferredencoding())
    """,
    "deep recursion in a thread": """
        import sys, threading
        def deep(n):
            return deep(n + 1)
        outcome = []
        def worker():
            # From 3.11 Python-to-Python calls use no C stack, so the limit
            # can be high; before, each level takes C stack and the default
            # limit is what must fit in a thread's stack.
            sys.setrecursionlimit(100000 if sys.version_info >= (3, 11) else 1000)
            try:
                deep(0)
            except RecursionError:
                outcome.append("RecursionError")
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert outcome == ["RecursionError"], outcome
        print("RecursionError raised; thread stack", threading.stack_size() or "default")
    """,
    "timestamps past 2038": """
        import calendar, os, struct, sys, tempfile, time
        when = calendar.timegm((2039, 2, 23, 3, 14, 8))  # past a 32-bit time_t (2**31 - 1)
        assert when > 2**31 and time.gmtime(when)[:6] == (2039, 2, 23, 3, 14, 8), time.gmtime(when)
        with tempfile.NamedTemporaryFile(dir=sys.argv[1]) as f:
            os.utime(f.name, (when, when))
            assert os.stat(f.name).st_mtime == when, os.stat(f.name)
        print(f"{struct.calcsize('P') * 8}-bit; utime/stat round trip at {when} (2039-02-23)")
    """,
    "byte order and known vectors": """
        import array, hashlib, struct, sys, zlib
        assert sys.byteorder == sys.argv[1], sys.byteorder
        word = 0x01020304
        native = word.to_bytes(4, sys.byteorder)
        assert struct.pack("=I", word) == native and struct.pack(">I", word) == bytes([1, 2, 3, 4])
        assert struct.pack("<I", word) == bytes([4, 3, 2, 1]) and struct.unpack("@d", struct.pack("@d", 1.5)) == (1.5,)
        assert struct.pack(">d", 1.0) == bytes.fromhex("3ff0000000000000")
        assert array.array("I", [word]).tobytes() == native
        assert array.array("d", [1.0]).tobytes() == struct.pack("=d", 1.0)
        assert hashlib.sha256(b"abc").hexdigest() == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        assert hashlib.sha1(b"abc").hexdigest() == "a9993e364706816aba3e25717850c26c9cd0d89d"
        assert hashlib.blake2s(b"abc").hexdigest() == (
            "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
        assert zlib.crc32(b"123456789") == 0xCBF43926 and zlib.adler32(b"abc") == 0x024D0127
        print(sys.byteorder, "endian; struct, array, sha256, sha1, blake2s, crc32, adler32 match")
    """,
    "extension module": """
        import hello
        assert hello.add(2, 3) == 5
        print(hello.__file__)
    """,
}

EXTENSION_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "hello", NULL, -1, methods};
PyMODINIT_FUNC PyInit_hello(void) { return PyModule_Create(&module); }
"""


class Verifier:
    def __init__(self, ctx: Context, archive: Path, network: bool = True):
        self.ctx, self.archive, self.network = ctx, archive, network
        self.target, self.version, _ = identify(archive)
        minor = ".".join(self.version.split(".")[:2])
        recipe = load_pythons().get(minor)
        if recipe is None:
            raise VerificationCannotRun(f"{archive.name}: no recipe for Python {minor}")
        self.may_be_absent = recipe.may_be_absent
        self.not_built = recipe.missing_modules
        self.wheels = recipe.wheels
        self.minor = minor
        self.checks: list[Check] = []

    # Running things -------------------------------------------------------------

    def python(self, *args, via=None, env=None, cwd=None, timeout=900):
        program = via or self.tree / "bin" / "python3"
        base = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "TERM": "xterm"}
        cwd = cwd or self.home
        return subprocess.run(self.runner.argv([program, *args], cwd), capture_output=True, text=True,
                              env=base if env is None else env, cwd=cwd, timeout=timeout)

    def script(self, name, *args, **kwargs):
        result = self.python("-c", textwrap.dedent(SCRIPTS[name]), *args, **kwargs)
        if result.returncode != 0:
            raise Fail(_last_line(result))
        return result.stdout.strip()

    def check(self, group, name, function):
        try:
            detail = function() or ""
            status = "pass"
        except Skip as e:
            status, detail = "skip", str(e)
        except Fail as e:
            status, detail = "fail", str(e)
        except (subprocess.TimeoutExpired, OSError, AssertionError, ValueError, KeyError) as e:
            status, detail = "fail", f"{type(e).__name__}: {e}"
        check = Check(group, name, status, str(detail).strip().replace("\n", "; ")[:500])
        self.checks.append(check)
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[status]
        say(f"    {mark} {group}: {name}{': ' + check.detail if check.detail else ''}")

    # The run ------------------------------------------------------------------------

    def run(self) -> dict:
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="musl-cpython-verify-") as tmp:
            self.workdir = Path(tmp)
            root = self.workdir / "unpacked here"
            try:
                safe_extract(self.archive, root)
            except UnsafeArchive as e:
                raise VerificationCannotRun(str(e)) from None
            self.tree = tree_in(root)
            if not (self.tree / "bin" / "python3").exists():
                raise VerificationCannotRun(f"{self.archive.name}: no python/bin/python3 inside")
            self.home = Path(tmp) / "home"
            self.home.mkdir()
            self.elsewhere = Path(tmp) / "elsewhere" / "bin"
            self.elsewhere.mkdir(parents=True)
            (self.elsewhere / "python3").symlink_to(self.tree / "bin" / "python3")
            musl_root = musl.musl_root(self.ctx, self.target)
            self._elf(musl_root)
            try:
                with emulation.runner(self.ctx, self.target, [self.workdir]) as self.runner:
                    self._identity()
                    self.check("stdlib", "every standard-library module imports", self._stdlib)
                    self._functional()
                    self._installers()
            except emulation.EmulationUnavailable as e:
                raise VerificationCannotRun(str(e)) from None
            self.check("leaks", "no text file names the build, cache or toolchain paths", self._leaks)
            self.check("isolation", "runs in a root holding only the musl loader and the tree",
                       lambda: self._isolated(musl_root, Path(tmp) / "isolated"))
        counts = {s: sum(c.status == s for c in self.checks) for s in ("pass", "fail", "skip")}
        return {
            "archive": self.archive.name, "target": self.target.triple, "python": self.version,
            "minimum_musl": self.ctx.project.musl_minimum,
            "checks": [asdict(c) for c in self.checks],
            "summary": {"run": len(self.checks), "passed": counts["pass"], "failed": counts["fail"],
                        "skipped": counts["skip"], "wall_time_s": round(time.monotonic() - start, 1)},
        }

    def _elf(self, musl_root: Path) -> None:
        exports = musl.exported_symbols(musl.libc_path(musl_root, self.target))
        exports |= set(self.ctx.project.musl_debian_minimum_lacks)
        for check in elf_policy(self.tree, self.target, exports, musl.checked_version(self.ctx, self.target)):
            self.check(check.group, check.name, lambda c=check: _replay(c))

    def _identity(self) -> None:
        triplet = self.target.platform_triplet
        nodot = self.minor.replace(".", "")
        for label, via in (("run directly", None), ("run through a symlink", self.elsewhere / "python3")):
            def identity(via=via):
                info = json.loads(self.script("identity", via=via))
                if info["multiarch"] != triplet:
                    raise Fail(f"_multiarch is {info['multiarch']}, expected {triplet}")
                if info["soabi"] != f"cpython-{nodot}-{triplet}":
                    raise Fail(f"SOABI is {info['soabi']}")
                if Path(info["prefix"]) != self.tree:
                    raise Fail(f"sys.prefix is {info['prefix']}, not the unpacked tree")
                return f"{info['multiarch']}, {info['soabi']}"
            self.check("identity", f"_multiarch and SOABI end in -linux-musl ({label})", identity)

        def suffixes():
            found = json.loads(self.script("identity"))["suffixes"]
            if found[0] != f".cpython-{nodot}-{triplet}.so":
                raise Fail(f"EXTENSION_SUFFIXES = {found}")
            return ", ".join(found)
        self.check("identity", "EXTENSION_SUFFIXES lists the musl suffix first", suffixes)

        wanted = f"musllinux_1_2_{self.target.wheel_arch}"

        def tags(python=None):
            platforms = self.script("tags", via=python).split()
            if wanted not in platforms:
                raise Fail(f"{wanted} missing; offered: {', '.join(platforms[:6])}")
            return f"{wanted} offered"

        def base_tags():
            pip = self._pip_version()
            if pip < MUSLLINUX_PIP:
                raise Skip(f"the pip this release bundles ({_dotted(pip)}) predates musllinux tags "
                           f"(PEP 656, pip {_dotted(MUSLLINUX_PIP)}); checked in the venv after "
                           "upgrading pip there")
            return tags()
        self.check("identity", f"packaging offers {wanted}", base_tags)

        def venv_tags():
            self._make_venv()
            return tags(self.venv / "bin" / "python") + self.venv_note
        self.check("identity", f"packaging offers {wanted} inside a venv", venv_tags)

    def _pip_version(self, python=None) -> tuple[int, ...]:
        out = self.python("-c", "import pip; print(pip.__version__)", via=python).stdout
        return tuple(int(part) for part in re.findall(r"\d+", out)[:2])

    def _make_venv(self) -> None:
        if not getattr(self, "venv", None):
            venv = self.home / "venv"
            result = self.python("-m", "venv", venv)
            if result.returncode != 0:
                raise Fail(f"python -m venv: {_last_line(result)}")
            note = ""
            bundled = self._pip_version(venv / "bin" / "python")
            if bundled < MUSLLINUX_PIP:
                # What a user of this release does first: its pip cannot see musllinux wheels.
                if not self.network:
                    raise Skip(f"the bundled pip {_dotted(bundled)} predates musllinux tags, and "
                               "--offline forbids upgrading it")
                upgrade = self.python("-m", "pip", "install", "-q",
                                      "--disable-pip-version-check", f"pip>={_dotted(MUSLLINUX_PIP)}",
                                      via=venv / "bin" / "python")
                if upgrade.returncode != 0:
                    raise Fail(f"upgrading the bundled pip: {_last_line(upgrade)}")
                now = self._pip_version(venv / "bin" / "python")
                note = f" (the venv's pip upgraded from {_dotted(bundled)} to {_dotted(now)})"
            self.venv, self.venv_note = venv, note

    def _stdlib(self) -> str:
        failed = json.loads(self.script("stdlib"))
        lacks = self.ctx.project.musl_debian_minimum_lacks
        # Modules that only Debian's musl 1.2.3 build cannot load; the crypt check imports them under newer musl.
        debian_gap = {name for name, why in failed.items()
                      if any(re.search(rf"\b{s}: symbol not found", why) for s in lacks)}
        unexpected = {name: why for name, why in failed.items()
                      if name not in self.may_be_absent and name not in debian_gap}
        if unexpected:
            raise Fail("; ".join(f"{n}: {w}" for n, w in sorted(unexpected.items())))
        absent = ", ".join(sorted(set(failed) - debian_gap)) or "none"
        gap = f"; not under Debian's musl {self.ctx.project.musl_minimum} (no crypt(3)): " \
              f"{', '.join(sorted(debian_gap))}" if debian_gap else ""
        return f"absent as allowed: {absent}{gap}"

    def _under_newest_musl(self, python: Path, code: str, *args: str, env: dict):
        """Run `python -c code` with Debian's newest musl loader. On this
        machine's own arch the loader runs as a command; --library-path stands
        in for the $ORIGIN RUNPATH, which the loader would otherwise resolve
        from a venv's symlink. Elsewhere, in a root with that loader."""
        argv = [python, "-W", "ignore", "-c", code, *args]
        if self.runner.root is None:
            newest = musl.libc_path(musl.musl_root(self.ctx, self.target, newest=True), self.target)
            argv = [newest, "--library-path", self.tree / "lib", *argv]
            return subprocess.run(list(map(str, argv)), capture_output=True, text=True, env=env, cwd=self.home)
        with emulation.runner(self.ctx, self.target, [self.workdir], newest=True) as runner:
            return subprocess.run(runner.argv(argv, self.home), capture_output=True, text=True, env=env,
                                  cwd=self.home, timeout=900)

    def _crypt(self) -> str:
        """crypt (3.9-3.12) under Debian's newest musl, whose build has crypt(3)."""
        code = ("import crypt, sys; h = crypt.crypt('musl', crypt.METHOD_SHA512); "
                "assert h.startswith('$6$') and crypt.crypt('musl', h) == h; print(h[:12] + '...')")
        try:
            out = self._under_newest_musl(self.tree / "bin" / f"python{self.minor}", code,
                                          env={"PATH": "/usr/bin:/bin"})
        except BuildError as e:
            raise Skip(f"Debian's newest musl is not available here: {e}") from None
        if out.returncode != 0:
            raise Fail(_last_line(out))
        return f"{out.stdout.strip()} under musl {self.ctx.project.musl_newest_debian_version}"

    def _functional(self) -> None:
        for name in ("ssl verify paths", "sqlite3", "ctypes", "uuid", "curses", "readline",
                     "compression round trips", "hashlib", "decimal", "deep recursion in a thread"):
            self.check("functional", name, lambda name=name: self._functional_script(name))
        self.check("functional", "TLS handshake with a generated certificate", self._tls)
        self.check("functional", "os.utime and os.stat past 2038",
                   lambda: self.script("timestamps past 2038", self.home))
        self.check("functional", f"{self.target.byteorder}-endian: struct, array and hash vectors",
                   lambda: self.script("byte order and known vectors", self.target.byteorder))
        if (self.tree / "lib" / f"python{self.minor}" / "crypt.py").exists():  # removed in 3.13
            self.check("functional", "crypt(3) through the crypt module", self._crypt)
        for label, env in (("LANG unset", {}), ("LC_ALL=C", {"LC_ALL": "C"})):
            def startup(env=env):
                result = self.python("-c", textwrap.dedent(SCRIPTS["locale"]),
                                     env={"PATH": "/usr/bin:/bin", **env})
                if result.returncode != 0 or result.stderr:
                    raise Fail(_last_line(result))
                return result.stdout.strip()
            self.check("functional", f"start-up and locale with {label}", startup)

    def _functional_script(self, name: str) -> str:
        if name in self.not_built:
            raise Skip(f"the {name} module is not built for {self.minor}: {self.not_built[name]}")
        return self.script(name)

    def _tls(self) -> str:
        if shutil.which("openssl") is None:
            raise Skip("the host has no openssl command to make a certificate (apt-get install openssl)")
        cert, key = self.home / "cert.pem", self.home / "key.pem"
        result = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise Fail(f"openssl req: {_last_line(result)}")
        return self.script("ssl handshake", cert, key)

    def _installers(self) -> None:
        self.check("installers", "python -m venv", lambda: self._make_venv() or f"{self.venv.name} created")

        def wheels():
            if not self.network:
                raise Skip("--offline: the package index is not used")
            if self.runner.root is not None:
                return self._wheels_for_another_arch()
            self._make_venv()
            pip = [self.venv / "bin" / "python", "-m", "pip", "install", "--only-binary=:all:",
                   "--disable-pip-version-check", "--no-input", *self.wheels]
            env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home)}
            result = subprocess.run(list(map(str, pip)), capture_output=True, text=True, env=env,
                                    timeout=900)
            if result.returncode != 0:
                raise Fail(f"pip install: {_last_line(result)}")
            # Current musllinux wheels need musl >= 1.2.4 (DT_RELR, see recipes/project.toml).
            code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m); print(m)\n"
            out = self._under_newest_musl(self.venv / "bin" / "python", code, *self.wheels.values(), env=env)
            if out.returncode != 0:
                raise Fail(f"import under musl {self.ctx.project.musl_newest_debian_version}: "
                           f"{_last_line(out)} (exit {out.returncode})")
            installed = re.findall(r"Successfully installed (.*)", result.stdout)
            return (f"{'; '.join(installed)}; imported under Debian's musl "
                    f"{self.ctx.project.musl_newest_debian_version} loader")
        self.check("installers", f"pip installs {', '.join(self.wheels)} as musllinux wheels", wheels)
        self.check("installers", "C extension built with zig cc from sysconfig and python3-config",
                   self._extension)

    def _wheels_for_another_arch(self) -> str:
        """This machine's pip downloads the target's musllinux wheels (a root has
        no network set up) and installs them into a directory; the target's
        interpreter imports them under Debian's newest musl."""
        platforms = [f"--platform=musllinux_1_{n}_{self.target.wheel_arch}" for n in (2, 1)]
        selection = [*platforms, f"--python-version={self.minor}", "--implementation=cp", "--only-binary=:all:",
                     "--disable-pip-version-check", "--no-input"]
        wheelhouse, site = self.home / "wheelhouse", self.home / "site-packages"
        found, absent = [], []
        for distribution in self.wheels:
            download = subprocess.run([sys.executable, "-m", "pip", "download", "-q", *selection, "-d", str(wheelhouse),
                                       distribution], capture_output=True, text=True, timeout=900)
            if download.returncode == 0 and _has_musllinux_wheel(wheelhouse, distribution):
                found.append(distribution)
            elif download.returncode == 0 or "No matching distribution" in download.stderr:
                # None, or only a pure-Python placeholder (pydantic-core 0.0.1 on riscv64), which proves nothing.
                absent.append(distribution)
            else:
                raise Fail(f"pip download {distribution}: {_last_line(download)}")
        if not found:
            raise Skip(f"the package index has no musllinux wheel for {self.target.wheel_arch} of "
                       f"{', '.join(absent)}")
        # Requires-Python was matched against the target's version by the download.
        install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *selection, "--no-index",
                                  "--ignore-requires-python",
                                  f"--find-links={wheelhouse}", f"--target={site}", *found],
                                 capture_output=True, text=True, timeout=900)
        if install.returncode != 0:
            raise Fail(f"pip install --target: {_last_line(install)}")
        code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m); print(m)\n"
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "PYTHONPATH": str(site)}
        out = self._under_newest_musl(self.tree / "bin" / "python3", code, *(self.wheels[d] for d in found), env=env)
        if out.returncode != 0:
            raise Fail(f"import under musl {self.ctx.project.musl_newest_debian_version}: "
                       f"{_last_line(out)} (exit {out.returncode})")
        files = sorted(path.name for path in wheelhouse.glob("*.whl"))
        none = f"; no musllinux wheel for {self.target.wheel_arch} on the index: {', '.join(absent)}" if absent else ""
        return f"imported {', '.join(found)} from {', '.join(files)}{none}"

    def _extension(self) -> str:
        tools = toolchain.prepare(self.ctx, self.target)
        config = self.tree / "bin" / f"python{self.minor}-config"
        suffix = subprocess.run([str(config), "--extension-suffix"], capture_output=True, text=True)
        if suffix.returncode != 0:
            raise Fail(f"python3-config --extension-suffix: {_last_line(suffix)}")
        names = ("CFLAGS", "CCSHARED", "LDSHARED", "EXT_SUFFIX")
        values = json.loads(self.python(
            "-c", "import json, sysconfig; print(json.dumps([sysconfig.get_paths()['include']] + "
            f"[sysconfig.get_config_var(k) for k in {names!r}]))").stdout)
        include, cflags, ccshared, ldshared, ext_suffix = values
        if suffix.stdout.strip() != ext_suffix:
            raise Fail(f"python3-config says {suffix.stdout.strip()}, sysconfig says {ext_suffix}")
        build = self.home / "ext"
        build.mkdir()
        (build / "hello.c").write_text(EXTENSION_SOURCE)
        out = build / f"hello{ext_suffix}"
        # sysconfig says "cc -shared"; "cc" on this machine is glibc's, so the
        # musl compiler stands in for the first word only. The include path
        # goes in as one argument: python3-config --includes cannot quote
        # the space this check puts in the path.
        argv = [tools.cc, f"-I{include}", *cflags.split(), *ccshared.split(), *ldshared.split()[1:],
                str(build / "hello.c"), "-o", str(out)]
        result = subprocess.run(argv, capture_output=True, text=True, env=tools.environment(0))
        if result.returncode != 0:
            raise Fail(f"compile: {result.stderr.strip()[-300:]}")
        self.script("extension module", cwd=build)
        return out.name

    def _leaks(self) -> str:
        zig_dir = toolchain.zig_executable(self.ctx.project.toolchain["version"]).parent
        forbidden = [str(self.ctx.build_dir), str(self.ctx.cache_dir), str(zig_dir), str(REPO)]
        leaks = relocate.find_leaks(self.tree, forbidden)
        if leaks:
            raise Fail("; ".join(leaks[:10]))
        return "checked against " + ", ".join(forbidden)

    def _isolated(self, musl_root: Path, root: Path) -> str:
        loader = root / self.target.musl_loader.lstrip("/")
        loader.parent.mkdir(parents=True)
        shutil.copyfile(musl.libc_path(musl_root, self.target), loader)
        loader.chmod(0o755)
        safe_extract(self.archive, root)
        inside = "/" + str(tree_in(root).relative_to(root))
        modules = [m for m in ("ssl", "sqlite3", "ctypes", "decimal", "lzma", "bz2", "zlib", "uuid", "readline",
                               "curses") if m not in self.not_built]
        code = f"import {', '.join(modules)}; print('ok')"
        # musl finds $ORIGIN of the main program through /proc/self/exe, so
        # the root gets a /proc of its own: a fresh proc mount in a private
        # mount and PID namespace (nothing from the host's files).
        (root / "proc").mkdir()
        if emulation.missing_tools():
            raise Skip("; ".join(emulation.missing_tools()))
        argv = emulation.Runner(root, bare=True).argv([f"{inside}/bin/python3", "-c", code], "/")
        result = subprocess.run(argv, capture_output=True, text=True, env={})
        if result.returncode != 0 and re.search(r"Operation not permitted|cannot change root|unshare failed|"
                                                r"Permission denied", result.stderr):
            raise Skip(f"this machine forbids chroot/namespaces: {_last_line(result)}")
        if result.returncode != 0 or result.stdout.strip() != "ok":
            raise Fail(_last_line(result))
        return f"only {self.target.musl_loader}, {inside} and a fresh /proc in the root, empty environment"


def _has_musllinux_wheel(wheelhouse: Path, distribution: str) -> bool:
    """A wheel of `distribution` built for a musllinux platform is in `wheelhouse`;
    pure-Python wheels of it are removed, so they are not installed in its place."""
    found = False
    for wheel in wheelhouse.glob("*.whl"):
        name, _, _, tags = parse_wheel_filename(wheel.name)
        if name == canonicalize_name(distribution):
            if any(tag.platform.startswith("musllinux_") for tag in tags):
                found = True
            else:
                wheel.unlink()
    return found


def tree_in(root: Path) -> Path:
    """The install tree in an unpacked archive: python/, or python/install/ in a full archive."""
    full = root / "python" / "install"
    return full if (full / "bin").is_dir() else root / "python"


def _replay(check: Check) -> str:
    if check.status == "fail":
        raise Fail(check.detail)
    return check.detail


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout or f"exit status {result.returncode}").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


ARCHIVE_NAME = re.compile(r"cpython-(\d+\.\d+\.\d+)\+([^-]+)-(.+)-(install_only_stripped|install_only|"
                          r"[a-z+]+-full)\.tar\.(gz|zst)")


def identify(archive: Path) -> tuple[Target, str, str]:
    """The target, Python version and archive kind, from an archive's name."""
    match = ARCHIVE_NAME.fullmatch(archive.name)
    if not match:
        raise VerificationCannotRun(f"{archive.name}: not a distribution archive name "
                                    "(cpython-<version>+<tag>-<triple>-<kind>.tar.gz or .tar.zst)")
    version, triple, kind = match.group(1), match.group(3), match.group(4)
    for target in load_targets().values():
        if target.triple == triple:
            return target, version, kind
    raise VerificationCannotRun(f"{archive.name}: no target recipe for {triple}; known: "
                                f"{', '.join(t.triple for t in load_targets().values())}")


def earlier_report(archive: Path, network: bool) -> dict | None:
    """The passing report of an earlier verification of these very bytes by
    this very code (and with the package index, if this run has it), if any."""
    try:
        report = json.loads(archive.with_name(archive.name + ".verify.json").read_text())
    except (OSError, ValueError):
        return None
    if (report.get("archive_sha256") == sha256_file(archive) and report.get("code") == code_identity()
            and report.get("network", False) >= network and report["summary"]["failed"] == 0):
        return report
    return None


def verify(ctx: Context, archive: Path, network: bool = True) -> dict:
    """Verify an archive and write <archive>.verify.json; failures quarantine it."""
    if not archive.is_file():
        raise VerificationCannotRun(f"{archive}: no such file")
    say(f"    verifying {archive.name}")
    report = Verifier(ctx, archive, network).run()
    report.update(archive_sha256=sha256_file(archive), code=code_identity(), network=network)
    report_path = archive.with_name(archive.name + ".verify.json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    summary = report["summary"]
    say(f"    {summary['run']} checks: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped in {summary['wall_time_s']}s; report: {report_path}")
    if summary["failed"]:
        quarantine = archive.parent / "quarantine"
        quarantine.mkdir(exist_ok=True)
        for path in (archive, report_path):
            os.replace(path, quarantine / path.name)
        report["quarantined"] = str(quarantine / archive.name)
    return report
