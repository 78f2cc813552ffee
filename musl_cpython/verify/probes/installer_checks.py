"""installers.*: wheels, venvs, a hand-unpacked tree and a C extension; facts.*: what
the host needs to know to run its own checks."""
import json
import os
import sys

from probe import Probe


class Installers(Probe):
    group = "installers"

    def test_wheels(self):
        import importlib
        if not self.config.wheel_modules:
            self.skipTest("no wheels were installed")
        for module in self.config.wheel_modules:
            importlib.import_module(module)
        # An extension that does not declare it runs without the GIL makes
        # CPython enable it again (with a RuntimeWarning).
        if "t" in self.config.abiflags:
            self.assertFalse(sys._is_gil_enabled(), "importing them enabled the GIL")
        free_threaded = "t" in self.config.abiflags
        self.note(", ".join(self.config.wheel_modules) + ("; the GIL is still disabled" if free_threaded else ""))

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
            self.assertTrue(os.path.realpath(value).startswith(os.path.realpath(self.config.tree)),
                            f"sysconfig's {name} is {value}, outside the tree")
        self.note(f"LIBDIR {sysconfig.get_config_var('LIBDIR')}")

    def test_c_extension(self):
        sys.path.insert(0, self.config.extension_dir)
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
