"""Every check verification runs, by stable id, in the order the report lists them.

An id (`elf.runpath`, `identity.soabi`) never changes once given; the
display name may. Tests and tools look checks up by id.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..steps import detail
from .elf import RULES, Check

# id -> display name; {fields} are filled in per archive (see names()).
CATALOGUE = {
    "elf.readable": "readable ELF files",  # only reported when one is not
    **{check_id: name for check_id, (name, _) in RULES.items()},
    "identity.soabi": "_multiarch and SOABI end in -linux-musl (run directly)",
    "identity.soabi_via_symlink": "_multiarch and SOABI end in -linux-musl (run through a symlink)",
    "identity.extension_suffixes": "EXTENSION_SUFFIXES lists the musl suffix first",
    "identity.musllinux_tags": "packaging offers {wheel_platform}",
    "identity.musllinux_tags_in_venv": "packaging offers {wheel_platform} inside a venv",
    "identity.variant": "sys.abiflags is {abiflags_shown}: the GIL and debug build as the archive's name says",
    "identity.foreign_argv0": "started with a foreign argv[0], it still finds the standard library",
    "stdlib.imports": "every standard-library module imports",
    "stdlib.builtin_modules": "what Setup.local builds in is built in, and nothing is also in lib-dynload",
    "functional.ssl_paths": "ssl verify paths",
    "functional.sqlite3": "sqlite3",
    "functional.ctypes": "ctypes",
    "functional.allocator": "the malloc family is the C library's, or wholly the executable's (mimalloc)",
    "functional.uuid": "uuid",
    "functional.curses": "curses",
    "functional.readline": "readline",
    "functional.compression": "compression round trips",
    "functional.hashlib": "hashlib",
    "functional.decimal": "decimal",
    "functional.thread_recursion": "deep recursion in a thread",
    "functional.threads": "CPU-bound threads compute the right results (their speed-up is reported)",
    "functional.tls_handshake": "TLS handshake with a generated certificate",
    "functional.time_past_2038": "os.utime and os.stat past 2038",
    "functional.byte_order": "{byteorder}-endian: struct, array and hash vectors",
    "functional.crypt": "crypt(3) through the crypt module",
    "functional.startup_lang_unset": "start-up and locale with LANG unset",
    "functional.startup_lc_all_c": "start-up and locale with LC_ALL=C",
    "installers.venv": "python -m venv",
    "installers.venv_copies": "a venv --copies interpreter imports ssl, sqlite3 and ctypes and runs its pip",
    "installers.wheels": "pip installs {wheels} as musllinux wheels",
    "installers.c_extension": "C extension built with zig cc from sysconfig and python3-config",
    "installers.unpacked_by_hand": "unpacked by hand at a path with a space: python3-config --includes --ldflags "
                                   "work, sysconfig's LIBDIR and INCLUDEPY exist",
    "leaks.build_paths": "no file, text or binary, names the build, cache, toolchain, venv or home paths",
    "isolation.loader_only_root": "runs in a root holding only the musl loader and the tree",
    "isolation.no_proc": "runs in a root holding only the musl loader and the tree, with no /proc mounted",
}


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class Report:
    """The checks of one archive as they finish, printed as they come and
    listed in catalogue order."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        self.checks: dict[str, Check] = {}

    def add(self, check_id: str, status: str, text: str = "") -> Check:
        if check_id in self.checks:
            raise ValueError(f"check {check_id} reported twice")
        check = Check(check_id, check_id.split(".")[0], CATALOGUE[check_id].format(**self.fields), status,
                      str(text).strip().replace("\n", "; ")[:500])
        self.checks[check_id] = check
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[status]
        detail(f"{mark} {check.group}: {check.name}{': ' + check.detail if check.detail else ''}")
        return check

    def run(self, check_id: str, function) -> Check:
        """Run a host-side check: its return value is the detail; Skip and Fail say otherwise."""
        try:
            return self.add(check_id, "pass", function() or "")
        except Skip as e:
            return self.add(check_id, "skip", str(e))
        except Fail as e:
            return self.add(check_id, "fail", str(e))
        except (OSError, AssertionError, ValueError, KeyError) as e:
            return self.add(check_id, "fail", f"{type(e).__name__}: {e}")

    def ordered(self) -> list[dict]:
        return [asdict(self.checks[i]) for i in CATALOGUE if i in self.checks] + [
            asdict(c) for i, c in self.checks.items() if i not in CATALOGUE]

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks.values()) for s in ("pass", "fail", "skip")}
