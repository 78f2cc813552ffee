"""functional.*: the bundled libraries and the C library at work (TLS, SQLite, ctypes,
the allocator, threads, time, locale)."""
import os
import sys

from probe import Probe


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
        if not self.config.cert:
            self.skipTest("the host made no certificate")
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(self.config.cert, self.config.key)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(5).upper())
        threading.Thread(target=serve, daemon=True).start()
        client_ctx = ssl.create_default_context(cafile=self.config.cert)
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
        with tempfile.NamedTemporaryFile(dir=self.config.home) as f:
            os.utime(f.name, (when, when))
            self.assertEqual(os.stat(f.name).st_mtime, when)
        self.note(f"{struct.calcsize('P') * 8}-bit; utime/stat round trip at {when} (2039-02-23)")

    def test_byte_order(self):
        import array
        import hashlib
        import struct
        import zlib
        self.assertEqual(sys.byteorder, self.config.byteorder)
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
