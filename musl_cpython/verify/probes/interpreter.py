"""What verification asks of a built interpreter, run by that interpreter.

Every check is a unittest test whose id is `<group>.<name>` (the class's
`group` and the method name without `test_`). The checks answer in JSON,
one line each on standard output: {"id": ..., "status": "running"} as a
check starts, then {"id": ..., "status": "pass"|"fail"|"skip", "detail": ...}.
If the interpreter dies in a check, the last "running" line names it.

It runs on every CPython the project builds (3.9 and later), with only the
standard library (and pip's vendored packaging). By hand:

    python3 interpreter.py --config config.json [CHECK_ID ...]

where config.json holds what the checks expect (see probe.Config); with no
ids, every check runs. The checks are in the modules beside this one, a
module per group (identity_checks.py, stdlib_checks.py, functional_checks.py,
installer_checks.py); this one runs them and reports.
"""
import argparse
import json
import os
import sys
import unittest

# The checks live beside this file, by group; a start with -P or
# PYTHONSAFEPATH would not put this directory on sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from functional_checks import Functional  # noqa: E402
from identity_checks import Identity  # noqa: E402
from installer_checks import Facts, Installers  # noqa: E402
from probe import Config, Probe  # noqa: E402
from stdlib_checks import Stdlib  # noqa: E402


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--exec-as", metavar="NAME", help="start this interpreter again with NAME as its argv[0]")
    parser.add_argument("checks", nargs="*", help="check ids (default: all)")
    args = parser.parse_args(argv)
    if args.exec_as:
        os.execv(sys.executable, [args.exec_as, os.path.abspath(__file__), "--config", args.config, *args.checks])
    with open(args.config) as f:
        Probe.config = Config(json.load(f))
    checks = all_checks()
    unknown = [name for name in args.checks if name not in checks]
    if unknown:
        parser.error(f"unknown check ids: {', '.join(unknown)}; known: {', '.join(checks)}")
    # Answers go to standard output, what else the checks write to probe-stderr.log
    # in the home directory: the host's standard error shows only what start-up wrote.
    log = open(os.path.join(Probe.config.home, "probe-stderr.log"), "a")
    os.dup2(log.fileno(), 2)
    suite = unittest.TestSuite(checks[name] for name in (args.checks or checks))
    out = sys.stdout
    sys.stdout = sys.stderr  # what the checks print must not mix with the answers
    suite.run(JsonLines(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
