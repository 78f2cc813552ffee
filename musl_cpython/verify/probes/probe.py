"""What every check of probes/interpreter.py shares: the run's Config and the Probe base class."""
import os
import sys
import unittest

MUSLLINUX_PIP = (21, 2)  # pip's first release that knows musllinux tags (PEP 656)
NODOT = "%d%d" % sys.version_info[:2]


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


class Probe(unittest.TestCase):
    group = ""
    detail = ""
    config = None  # this run's Config: set by interpreter.main()

    def note(self, text):
        """The detail the report shows for this check."""
        self.detail = str(text)

    def needs_module(self, name):
        if name in self.config.not_built:
            self.skipTest(f"the {name} module is not built for this version: {self.config.not_built[name]}")

    def assert_prefix_is_the_tree(self):
        self.assertEqual(os.path.realpath(sys.prefix), os.path.realpath(self.config.tree),
                         f"sys.prefix is {sys.prefix}, not the unpacked tree")
