"""identity.*: which interpreter this is: its SOABI, extension suffixes, wheel tags, variant and argv[0]."""
import sys

from probe import MUSLLINUX_PIP, NODOT, Probe


class Identity(Probe):
    group = "identity"

    def test_soabi(self):
        import sysconfig
        multiarch = sys.implementation._multiarch
        soabi = sysconfig.get_config_var("SOABI")
        self.assertEqual(multiarch, self.config.triplet, f"_multiarch is {multiarch}, expected {self.config.triplet}")
        self.assertEqual(soabi, f"cpython-{NODOT}{self.config.abiflags}-{self.config.triplet}", f"SOABI is {soabi}")
        self.assert_prefix_is_the_tree()
        self.note(f"{multiarch}, {soabi}")

    test_soabi_via_symlink = test_soabi  # the same check, from another way of starting

    def test_extension_suffixes(self):
        import importlib.machinery
        found = importlib.machinery.EXTENSION_SUFFIXES
        self.assertEqual(found[0], f".cpython-{NODOT}{self.config.abiflags}-{self.config.triplet}.so",
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
        self.assertIn(self.config.wheel_platform, platforms,
                      f"{self.config.wheel_platform} missing; offered: {', '.join(platforms[:6])}")
        abi = f"cp{NODOT}{self.config.abiflags}"  # a free-threaded interpreter needs cp313t wheels
        self.assertTrue(any(t.abi == abi and t.platform == self.config.wheel_platform for t in offered),
                        f"no {abi}-{self.config.wheel_platform} tag; offered: {', '.join(map(str, offered[:4]))}")
        self.note(f"{abi}-{self.config.wheel_platform} offered")

    test_musllinux_tags_in_venv = test_musllinux_tags

    def test_variant(self):
        import sysconfig
        self.assertEqual(sys.abiflags, self.config.abiflags, f"sys.abiflags is {sys.abiflags!r}")
        free_threaded, debug = "t" in self.config.abiflags, "d" in self.config.abiflags
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
            self.assertEqual(sys.orig_argv[0], self.config.foreign_argv0, "not started with the foreign argv[0]")
        self.assert_prefix_is_the_tree()
        self.note(f"argv[0] {self.config.foreign_argv0!r}: sys.executable {sys.executable}")
