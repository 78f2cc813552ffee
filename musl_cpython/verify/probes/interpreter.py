"""What verification asks of a built interpreter, run by that interpreter.

Every check is a unittest test whose id is `<group>.<name>` (the class's
`group` and the method name without `test_`). The checks answer in JSON,
one line each on standard output: {"id": ..., "status": "running"} as a
check starts, then {"id": ..., "status": "pass"|"fail"|"skip", "detail": ...}.
If the interpreter dies in a check, the last "running" line names it.

It runs on every CPython the project builds (3.9 and later), with only the
standard library (and pip's vendored packaging). By hand:

    python3 interpreter.py --config config.json [CHECK_ID ...]

where config.json holds what the checks expect (see Config); with no ids,
every check runs.
"""
import argparse
import json
import os
import sys
import unittest


class Config:
    """What the host expects of this interpreter (the keys of config.json)."""

    def __init__(self, values):
        self.tree = values["tree"]  # the unpacked install tree
        self.triplet = values["triplet"]  # e.g. x86_64-linux-musl
        self.abiflags = values.get("abiflags", "")  # the variant's: t (free-threaded), d (debug)
        self.byteorder = values["byteorder"]
        self.wheel_platform = values["wheel_platform"]  # e.g. musllinux_1_2_x86_64
        self.home = values["home"]  # a writable directory
        self.not_built = values.get("not_built", {})  # module -> why
        self.absent_allowed = values.get("absent_allowed", {})  # module -> why it may fail to import
        self.musl_lacks = values.get("musl_lacks", [])  # functions the oldest musl's Debian build lacks
        self.cert, self.key = values.get("cert"), values.get("key")  # for the TLS check
        self.extension_dir = values.get("extension_dir")  # where the host built hello<EXT_SUFFIX>
        self.wheel_modules = values.get("wheel_modules", [])  # modules of installed wheels
        self.foreign_argv0 = values.get("foreign_argv0")  # what --exec-as started this run as


CONFIG = None
MUSLLINUX_PIP = (21, 2)  # pip's first release that knows musllinux tags (PEP 656)
NODOT = "%d%d" % sys.version_info[:2]


class Probe(unittest.TestCase):
    group = ""
    detail = ""

    def note(self, text):
        """The detail the report shows for this check."""
        self.detail = str(text)

    def needs_module(self, name):
        if name in CONFIG.not_built:
            self.skipTest(f"the {name} module is not built for this version: {CONFIG.not_built[name]}")

    def assert_prefix_is_the_tree(self):
        self.assertEqual(os.path.realpath(sys.prefix), os.path.realpath(CONFIG.tree),
                         f"sys.prefix is {sys.prefix}, not the unpacked tree")


class Identity(Probe):
    group = "identity"

    def test_soabi(self):
        import sysconfig
        multiarch = sys.implementation._multiarch
        soabi = sysconfig.get_config_var("SOABI")
        self.assertEqual(multiarch, CONFIG.triplet, f"_multiarch is {multiarch}, expected {CONFIG.triplet}")
        self.assertEqual(soabi, f"cpython-{NODOT}{CONFIG.abiflags}-{CONFIG.triplet}", f"SOABI is {soabi}")
        self.assert_prefix_is_the_tree()
        self.note(f"{multiarch}, {soabi}")

    test_soabi_via_symlink = test_soabi  # the same check, from another way of starting

    def test_extension_suffixes(self):
        import importlib.machinery
        found = importlib.machinery.EXTENSION_SUFFIXES
        self.assertEqual(found[0], f".cpython-{NODOT}{CONFIG.abiflags}-{CONFIG.triplet}.so",
                         f"EXTENSION_SUFFIXES = {found}")
        self.note(", ".join(found))

    def test_musllinux_tags(self):
        import pip
        version = tuple(int(part) for part in pip.__version__.split(".")[:2])
        self.assertGreaterEqual(version, MUSLLINUX_PIP, f"the shipped pip {pip.__version__} predates musllinux "
                                f"tags (PEP 656, pip {'.'.join(map(str, MUSLLINUX_PIP))})")
        from pip._vendor.packaging import tags
        offered = list(tags.sys_tags())
        platforms = sorted({t.platform for t in offered})
        self.assertIn(CONFIG.wheel_platform, platforms,
                      f"{CONFIG.wheel_platform} missing; offered: {', '.join(platforms[:6])}")
        abi = f"cp{NODOT}{CONFIG.abiflags}"  # a free-threaded interpreter needs cp313t wheels
        self.assertTrue(any(t.abi == abi and t.platform == CONFIG.wheel_platform for t in offered),
                        f"no {abi}-{CONFIG.wheel_platform} tag; offered: {', '.join(map(str, offered[:4]))}")
        self.note(f"{abi}-{CONFIG.wheel_platform} offered")

    test_musllinux_tags_in_venv = test_musllinux_tags

    def test_variant(self):
        import sysconfig
        self.assertEqual(sys.abiflags, CONFIG.abiflags, f"sys.abiflags is {sys.abiflags!r}")
        free_threaded, debug = "t" in CONFIG.abiflags, "d" in CONFIG.abiflags
        gil_disabled = sysconfig.get_config_var("Py_GIL_DISABLED")
        self.assertEqual(bool(gil_disabled), free_threaded, f"Py_GIL_DISABLED is {gil_disabled!r}")
        gil = getattr(sys, "_is_gil_enabled", lambda: True)()  # new in 3.13
        self.assertEqual(gil, not free_threaded, f"sys._is_gil_enabled() is {gil} at start")
        self.assertEqual(bool(sysconfig.get_config_var("Py_DEBUG")), debug, "Py_DEBUG")
        self.assertEqual(hasattr(sys, "gettotalrefcount"), debug, "sys.gettotalrefcount")
        self.note(", ".join([f"abiflags {sys.abiflags!r}", "GIL disabled" if free_threaded else "GIL enabled"]
                            + ([f"debug ({sys.gettotalrefcount()} references)"] if debug else [])))

    def test_foreign_argv0(self):
        if sys.version_info >= (3, 10):  # sys.orig_argv is new in 3.10
            self.assertEqual(sys.orig_argv[0], CONFIG.foreign_argv0, "not started with the foreign argv[0]")
        self.assert_prefix_is_the_tree()
        self.note(f"argv[0] {CONFIG.foreign_argv0!r}: sys.executable {sys.executable}")


class Stdlib(Probe):
    group = "stdlib"

    def test_imports(self):
        import importlib
        import re
        os.environ["BROWSER"] = "true"  # antigravity opens a browser on import
        names = getattr(sys, "stdlib_module_names", None)
        if names is None:  # before 3.10: what the installed standard library holds
            import pkgutil
            import sysconfig
            stdlib = sysconfig.get_paths()["stdlib"]
            names = set(sys.builtin_module_names) | {
                m.name for m in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")])}
        failed = {}
        for name in sorted(names):
            if name in ("this", "antigravity", "__main__"):
                continue
            try:
                importlib.import_module(name)
            except Exception as e:
                failed[name] = f"{type(e).__name__}: {e}"
        # Modules that only Debian's build of the oldest musl cannot load (it has
        # no crypt(3)); functional.crypt imports them under a newer musl.
        gap = {name for name, why in failed.items()
               if any(re.search(rf"\b{symbol}: symbol not found", why) for symbol in CONFIG.musl_lacks)}
        unexpected = {name: why for name, why in failed.items() if name not in CONFIG.absent_allowed and name not in gap}
        self.assertFalse(unexpected, "; ".join(f"{n}: {w}" for n, w in sorted(unexpected.items())))
        absent = ", ".join(sorted(set(failed) - gap)) or "none"
        note = f"; not under Debian's oldest musl (no crypt(3)): {', '.join(sorted(gap))}" if gap else ""
        self.note(f"absent as allowed: {absent}{note}")

    def test_builtin_modules(self):
        import glob
        import re
        # The tree's own lib/pythonX.Y, named as the interpreter's stdlib is
        # (python3.13t for a free-threaded build); sys.prefix, not os.__file__,
        # so a venv of the tree reads the venv's copy.
        stdlib = os.path.join(sys.prefix, "lib", os.path.basename(os.path.dirname(os.__file__)))
        shared = {name.split(".", 1)[0] for path in sys.path if os.path.basename(path) == "lib-dynload"
                  and os.path.isdir(path) for name in os.listdir(path) if name.endswith(".so")}
        builtin = set(sys.builtin_module_names)
        self.assertFalse(shared & builtin, "built in and in lib-dynload too: %s" % ", ".join(sorted(shared & builtin)))
        # What the build asked makesetup to build in: the *static* rules of
        # Setup.local, which make install copies beside the Makefile.
        promised, static = set(), True
        for setup_local in glob.glob(os.path.join(stdlib, "config-*", "Setup.local")):
            with open(setup_local) as f:
                for line in f:
                    line = line.split("#", 1)[0].strip()
                    if re.fullmatch(r"\*\w+\*", line):
                        static = line in ("*static*", "*doconfig*")
                    elif line and static and not re.match(r"\w+\s*=", line):  # not a variable
                        promised.add(line.split()[0])
        self.assertFalse(promised - builtin, "Setup.local builds in %s, which the interpreter does not have"
                         % ", ".join(sorted(promised - builtin)))
        self.note("%d built in by Setup.local%s, %d in lib-dynload, none in both"
                  % (len(promised), " (%s)" % ", ".join(sorted(promised)) if promised else "", len(shared)))


class Functional(Probe):
    group = "functional"

    def test_ssl_paths(self):
        import ssl
        paths = ssl.get_default_verify_paths()
        self.assertEqual(paths.openssl_cafile, "/etc/ssl/cert.pem", paths)
        self.assertEqual(paths.openssl_capath, "/etc/ssl/certs", paths)
        self.note(f"{paths.openssl_cafile} {paths.openssl_capath}")

    def test_sqlite3(self):
        import sqlite3
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE docs USING fts5(body)")
        db.execute("INSERT INTO docs VALUES ('musl builds of python')")
        self.assertEqual(db.execute("SELECT count(*) FROM docs WHERE docs MATCH 'musl'").fetchone(), (1,))
        self.assertEqual(db.execute("""SELECT json_extract('{"a": [1, 2]}', '$.a[1]')""").fetchone(), (2,))
        db.enable_load_extension(True)
        db.enable_load_extension(False)
        self.note(f"SQLite {sqlite3.sqlite_version} FTS5, JSON1, loadable extensions")

    def test_ctypes(self):
        import ctypes
        import ctypes.util
        self.assertGreater(ctypes.CDLL(None).getpid(), 0)
        name = ctypes.util.find_library("c")
        self.assertTrue(name, "find_library('c') returned None")
        self.assertEqual(ctypes.CDLL(name).strlen(b"musl"), 4)
        self.note(f"find_library('c') -> {name}")

    def test_allocator(self):
        import ctypes
        import ctypes.util
        process = ctypes.CDLL(None)  # what every library's calls bind to: the executable's first
        libc = ctypes.CDLL(ctypes.util.find_library("c"))

        def address(library, name):
            return ctypes.cast(getattr(library, name), ctypes.c_void_p).value

        family = ["malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign", "memalign",
                  "malloc_usable_size", "reallocarray"]
        replaced = [name for name in family if address(process, name) != address(libc, name)]
        if not replaced:
            self.note("the C library's malloc serves the process")
            return
        self.assertEqual(replaced, family, "the executable replaces only part of the malloc family")
        for function, restype, argtypes in (
                (process.malloc, ctypes.c_void_p, [ctypes.c_size_t]),
                (process.calloc, ctypes.c_void_p, [ctypes.c_size_t, ctypes.c_size_t]),
                (process.realloc, ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_size_t]),
                (process.aligned_alloc, ctypes.c_void_p, [ctypes.c_size_t, ctypes.c_size_t]),
                (process.memalign, ctypes.c_void_p, [ctypes.c_size_t, ctypes.c_size_t]),
                (process.posix_memalign, ctypes.c_int,
                 [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_size_t]),
                (process.malloc_usable_size, ctypes.c_size_t, [ctypes.c_void_p]),
                (process.strdup, ctypes.c_void_p, [ctypes.c_char_p]), (process.free, None, [ctypes.c_void_p])):
            function.restype, function.argtypes = restype, argtypes
        held = ctypes.c_void_p()
        self.assertEqual(process.posix_memalign(ctypes.byref(held), 256, 1000), 0)
        blocks = {"malloc": (process.malloc(100), 100, 16), "calloc": (process.calloc(10, 10), 100, 16),
                  "realloc": (process.realloc(process.malloc(10), 100000), 100000, 16),
                  "aligned_alloc": (process.aligned_alloc(4096, 8192), 8192, 4096),
                  "memalign": (process.memalign(64, 640), 640, 64), "posix_memalign": (held.value, 1000, 256),
                  # musl's strdup calls malloc: libc's own allocations come from the replacement too.
                  "strdup": (process.strdup(b"musl"), 5, 1)}
        for name, (pointer, size, alignment) in blocks.items():
            self.assertTrue(pointer, "%s returned NULL" % name)
            self.assertEqual(pointer % alignment, 0, "%s's block is not %d-aligned" % (name, alignment))
            self.assertGreaterEqual(process.malloc_usable_size(pointer), size, name)
        self.assertEqual(ctypes.string_at(blocks["strdup"][0]), b"musl")
        self.assertEqual(ctypes.string_at(blocks["calloc"][0], 100), bytes(100))
        for pointer, _, _ in blocks.values():
            process.free(pointer)
        # mimalloc's own exit report says whether it served memory: its
        # "touched" line stays 0 where only CPython's copy of it is linked in
        # and musl's malloc serves the process (PYTHONMALLOC unset).
        import re
        import subprocess
        child = subprocess.run([sys.executable, "-c", "import ssl, sqlite3; bytes(10**6)"], capture_output=True,
                               text=True, env=dict(os.environ, MIMALLOC_SHOW_STATS="1"))
        touched = re.search(r"^\s*touched:\s+(\S+)", child.stderr, re.M)
        self.assertTrue(touched and touched.group(1) != "0",
                        "mimalloc's report does not show it serving memory: %s" % child.stderr[-300:])
        self.note("the executable's malloc family (mimalloc) serves the process, musl's strdup included")

    def test_uuid(self):
        import uuid
        u = uuid.uuid1()
        self.assertTrue(u.version == 1 and uuid._uuid is not None, "libuuid not used")
        self.note(u)

    def test_curses(self):
        import curses
        curses.setupterm("xterm")
        self.assertTrue(curses.tigetstr("clear"), "no terminfo entry for xterm")
        self.note(f"ncurses {curses.ncurses_version}")

    def test_readline(self):
        self.needs_module("readline")
        import readline
        readline.add_history("musl")
        self.assertEqual(readline.get_history_item(1), "musl")
        self.note(f"{getattr(readline, 'backend', 'readline')} {readline._READLINE_LIBRARY_VERSION}")

    def test_compression(self):
        import bz2
        import importlib
        import lzma
        import zlib
        data = b"musl " * 10000
        for module in (bz2, lzma, zlib):
            self.assertEqual(module.decompress(module.compress(data)), data, module.__name__)
        done = ["bz2", "lzma", "zlib"]
        try:
            zstd = importlib.import_module("compression.zstd")
        except ModuleNotFoundError:
            pass
        else:
            self.assertEqual(zstd.decompress(zstd.compress(data)), data)
            done.append("zstd")
        self.note(", ".join(done))

    def test_hashlib(self):
        import hashlib
        self.assertTrue(hashlib.sha3_256(b"").hexdigest().startswith("a7ffc6f8bf1ed766"))
        self.assertTrue(hashlib.blake2b(b"").hexdigest().startswith("786a02f742015903"))
        self.assertEqual(hashlib.md5(b"", usedforsecurity=False).hexdigest(), "d41d8cd98f00b204e9800998ecf8427e")
        self.note(f"{len(hashlib.algorithms_available)} algorithms")

    def test_decimal(self):
        import decimal
        self.assertEqual(decimal.Decimal(1) / decimal.Decimal(7), decimal.Decimal("0.1428571428571428571428571429"))
        self.note(f"libmpdec {decimal.__libmpdec_version__}")

    def test_thread_recursion(self):
        import threading
        outcome = []

        def deep(n):
            return deep(n + 1)

        def worker():
            try:
                deep(0)
            except RecursionError:
                outcome.append("RecursionError")
        # From 3.11 Python-to-Python calls use no C stack, so the limit can be high; before, each
        # level takes C stack and the default limit is what must fit in a thread's stack.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(100000 if sys.version_info >= (3, 11) else 1000)
        try:
            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
        finally:
            sys.setrecursionlimit(limit)
        self.assertEqual(outcome, ["RecursionError"])
        self.note(f"RecursionError raised; thread stack {threading.stack_size() or 'default'}")

    def test_threads(self):
        """CPU-bound Python code in threads: the results are checked, the
        speed-up only reported (it is 1 with the GIL, and depends on the machine)."""
        import threading
        import time

        def work(n, out, index):
            total = 0
            for i in range(n):
                total += i * i % 7
            out[index] = total

        count, n = max(2, min(4, os.cpu_count() or 1)), 200_000
        expected = sum(i * i % 7 for i in range(n))
        serial, parallel = [None] * count, [None] * count
        start = time.perf_counter()
        for index in range(count):
            work(n, serial, index)
        one_by_one = time.perf_counter() - start
        threads = [threading.Thread(target=work, args=(n, parallel, index)) for index in range(count)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = time.perf_counter() - start
        self.assertEqual(serial, [expected] * count)
        self.assertEqual(parallel, [expected] * count)
        self.note(f"{count} threads: {one_by_one / together:.2f}x the speed of one after another "
                  f"({one_by_one * 1000:.0f} ms / {together * 1000:.0f} ms)")

    def test_tls_handshake(self):
        import socket
        import ssl
        import threading
        if not CONFIG.cert:
            self.skipTest("the host made no certificate")
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(CONFIG.cert, CONFIG.key)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(5).upper())
        threading.Thread(target=serve, daemon=True).start()
        client_ctx = ssl.create_default_context(cafile=CONFIG.cert)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"hello")
                self.assertEqual(tls.recv(5), b"HELLO")
                self.note(f"{tls.version()} {tls.cipher()[0]}")
        listener.close()

    def test_time_past_2038(self):
        import calendar
        import struct
        import tempfile
        import time
        when = calendar.timegm((2039, 2, 23, 3, 14, 8))  # past a 32-bit time_t (2**31 - 1)
        self.assertTrue(when > 2**31 and time.gmtime(when)[:6] == (2039, 2, 23, 3, 14, 8), time.gmtime(when))
        with tempfile.NamedTemporaryFile(dir=CONFIG.home) as f:
            os.utime(f.name, (when, when))
            self.assertEqual(os.stat(f.name).st_mtime, when)
        self.note(f"{struct.calcsize('P') * 8}-bit; utime/stat round trip at {when} (2039-02-23)")

    def test_byte_order(self):
        import array
        import hashlib
        import struct
        import zlib
        self.assertEqual(sys.byteorder, CONFIG.byteorder)
        word = 0x01020304
        native = word.to_bytes(4, sys.byteorder)
        self.assertEqual(struct.pack("=I", word), native)
        self.assertEqual(struct.pack(">I", word), bytes([1, 2, 3, 4]))
        self.assertEqual(struct.pack("<I", word), bytes([4, 3, 2, 1]))
        self.assertEqual(struct.unpack("@d", struct.pack("@d", 1.5)), (1.5,))
        self.assertEqual(struct.pack(">d", 1.0), bytes.fromhex("3ff0000000000000"))
        self.assertEqual(array.array("I", [word]).tobytes(), native)
        self.assertEqual(array.array("d", [1.0]).tobytes(), struct.pack("=d", 1.0))
        self.assertEqual(hashlib.sha256(b"abc").hexdigest(),
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        self.assertEqual(hashlib.sha1(b"abc").hexdigest(), "a9993e364706816aba3e25717850c26c9cd0d89d")
        self.assertEqual(hashlib.blake2s(b"abc").hexdigest(),
                         "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
        self.assertEqual(zlib.crc32(b"123456789"), 0xCBF43926)
        self.assertEqual(zlib.adler32(b"abc"), 0x024D0127)
        self.note(f"{sys.byteorder} endian; struct, array, sha256, sha1, blake2s, crc32, adler32 match")

    def test_crypt(self):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # crypt is deprecated from 3.11
            import crypt
        hashed = crypt.crypt("musl", crypt.METHOD_SHA512)
        self.assertTrue(hashed.startswith("$6$") and crypt.crypt("musl", hashed) == hashed)
        self.note(hashed[:12] + "...")

    def _locale(self):
        import locale
        locale.setlocale(locale.LC_ALL, "")
        self.note(f"{sys.getfilesystemencoding()} {locale.getlocale()} {locale.getpreferredencoding()}")

    def test_startup_lang_unset(self):
        self.assertNotIn("LANG", os.environ)
        self._locale()

    def test_startup_lc_all_c(self):
        self.assertEqual(os.environ.get("LC_ALL"), "C")
        self._locale()


class Installers(Probe):
    group = "installers"

    def test_wheels(self):
        import importlib
        if not CONFIG.wheel_modules:
            self.skipTest("no wheels were installed")
        for module in CONFIG.wheel_modules:
            importlib.import_module(module)
        # An extension that does not declare it runs without the GIL makes
        # CPython enable it again (with a RuntimeWarning).
        if "t" in CONFIG.abiflags:
            self.assertFalse(sys._is_gil_enabled(), "importing them enabled the GIL")
        self.note(", ".join(CONFIG.wheel_modules) + ("; the GIL is still disabled" if "t" in CONFIG.abiflags else ""))

    def test_venv_copies(self):
        import ctypes
        import sqlite3
        import ssl
        import subprocess
        self.assertNotEqual(sys.prefix, sys.base_prefix, "not in a venv")
        self.assertFalse(os.path.islink(sys.executable), f"{sys.executable} is a symlink, not a copy")
        pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
        self.assertEqual(pip.returncode, 0, pip.stderr.strip()[-300:])
        self.note(f"{ssl.OPENSSL_VERSION}, SQLite {sqlite3.sqlite_version}, ctypes {ctypes.__version__}; "
                  f"{pip.stdout.split(' from ')[0]}")

    def test_unpacked_by_hand(self):
        import sysconfig
        for name in ("LIBDIR", "INCLUDEPY"):
            value = sysconfig.get_config_var(name)
            self.assertTrue(os.path.isdir(value), f"sysconfig's {name} is {value}, which does not exist")
            self.assertTrue(os.path.realpath(value).startswith(os.path.realpath(CONFIG.tree)),
                            f"sysconfig's {name} is {value}, outside the tree")
        self.note(f"LIBDIR {sysconfig.get_config_var('LIBDIR')}")

    def test_c_extension(self):
        sys.path.insert(0, CONFIG.extension_dir)
        import hello
        self.assertEqual(hello.add(2, 3), 5)
        self.note(hello.__file__)


class Facts(Probe):
    """Not a check: what the host needs to know to run its own (reported as "facts")."""

    group = "facts"

    def test_build(self):
        import sysconfig
        try:
            import pip
        except ImportError:
            pip = None
        self.facts = {"include": sysconfig.get_paths()["include"], "pip": getattr(pip, "__version__", None),
                      **{name: sysconfig.get_config_var(name) for name in ("CFLAGS", "CCSHARED", "LDSHARED",
                                                                           "EXT_SUFFIX")}}
        self.note(json.dumps(self.facts))


def check_id(test):
    return f"{type(test).group}.{test._testMethodName[len('test_'):]}"


def all_checks():
    loader = unittest.TestLoader()
    return {check_id(test): test for case in (Identity, Stdlib, Functional, Installers, Facts)
            for test in loader.loadTestsFromTestCase(case)}


class JsonLines(unittest.TestResult):
    """Each check's outcome as one JSON line on `out`."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def _emit(self, test, status, detail=""):
        self.out.write(json.dumps({"id": check_id(test), "status": status, "detail": str(detail)}) + "\n")
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self._emit(test, "running")

    def addSuccess(self, test):
        self._emit(test, "pass", test.detail)

    def addSkip(self, test, reason):
        self._emit(test, "skip", reason)

    def addFailure(self, test, err):
        self._emit(test, "fail", err[1])

    def addError(self, test, err):
        self._emit(test, "fail", f"{err[0].__name__}: {err[1]}")


def main(argv=None):
    global CONFIG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--exec-as", metavar="NAME", help="start this interpreter again with NAME as its argv[0]")
    parser.add_argument("checks", nargs="*", help="check ids (default: all)")
    args = parser.parse_args(argv)
    if args.exec_as:
        os.execv(sys.executable, [args.exec_as, os.path.abspath(__file__), "--config", args.config, *args.checks])
    with open(args.config) as f:
        CONFIG = Config(json.load(f))
    checks = all_checks()
    unknown = [name for name in args.checks if name not in checks]
    if unknown:
        parser.error(f"unknown check ids: {', '.join(unknown)}; known: {', '.join(checks)}")
    # Answers go to standard output, what else the checks write to probe-stderr.log
    # in the home directory: the host's standard error shows only what start-up wrote.
    log = open(os.path.join(CONFIG.home, "probe-stderr.log"), "a")
    os.dup2(log.fileno(), 2)
    suite = unittest.TestSuite(checks[name] for name in (args.checks or checks))
    out = sys.stdout
    sys.stdout = sys.stderr  # what the checks print must not mix with the answers
    suite.run(JsonLines(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
