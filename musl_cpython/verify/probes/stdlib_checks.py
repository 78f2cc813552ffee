"""stdlib.*: every standard-library module imports, and the built-in ones are what the build promised."""
import os
import sys

from probe import Probe


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
               if any(re.search(rf"\b{symbol}: symbol not found", why) for symbol in self.config.musl_lacks)}
        unexpected = {name: why for name, why in failed.items()
                      if name not in self.config.absent_allowed and name not in gap}
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
