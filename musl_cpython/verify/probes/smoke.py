"""The build's smoke check: import the modules that use bundled libraries
and print what each one found. Run by the interpreter of a fresh archive
(musl_cpython/smoke.py); by hand:

    python3 smoke.py [MODULE_NOT_BUILT ...]

The arguments are the recipe's [missing_modules] for this version.
"""
import importlib
import sys


def dbm_backends(dbm):
    found = []
    for name in ("dbm.sqlite3", "dbm.gnu", "dbm.ndbm"):
        try:
            importlib.import_module(name)
            found.append(name)
        except ImportError:
            pass
    return "dbm backends: " + ", ".join(found)


CHECKS = {
    "ssl": lambda m: m.OPENSSL_VERSION,
    "sqlite3": lambda m: "SQLite " + m.sqlite_version,
    "ctypes": lambda m: "CDLL(None) loads: " + repr(m.CDLL(None)),
    "decimal": lambda m: "libmpdec " + m.__libmpdec_version__,
    "lzma": lambda m: "liblzma round trip: " + str(m.decompress(m.compress(b"ok")) == b"ok"),
    "bz2": lambda m: "libbz2 round trip: " + str(m.decompress(m.compress(b"ok")) == b"ok"),
    "zlib": lambda m: "zlib " + m.ZLIB_RUNTIME_VERSION,
    "readline": lambda m: f"{getattr(m, 'backend', 'readline')} {m._READLINE_LIBRARY_VERSION}",
    "curses": lambda m: "ncurses " + ".".join(map(str, m.ncurses_version)),
    "dbm": dbm_backends,
    "uuid": lambda m: f"uuid1 {m.uuid1()} (libuuid: {m._uuid is not None})",
    "pyexpat": lambda m: m.EXPAT_VERSION,
    "compression.zstd": lambda m: "zstd " + ".".join(map(str, m.zstd_version_info)),
}


def main(not_built):
    failed = []
    for name, describe in CHECKS.items():
        try:
            print(f"{name}: {describe(importlib.import_module(name))}")
        except ModuleNotFoundError as e:
            if name == "compression.zstd" and e.name in ("compression", "compression.zstd"):
                print(f"{name}: not in Python {sys.version_info[0]}.{sys.version_info[1]}")
            elif name in not_built and e.name == name:
                print(f"{name}: not built for this version, as the recipe says")
            else:
                failed.append(name)
                print(f"{name}: FAILED {e!r}")
        except Exception as e:
            failed.append(name)
            print(f"{name}: FAILED {e!r}")
    print(sys.version)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(set(sys.argv[1:])))
