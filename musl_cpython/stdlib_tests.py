"""Run CPython's own tests, taken from the pinned source tree of the
archive's version, on the built interpreter, for a fixed list of modules,
and count what passed and failed per module. (The installed test package is
replaced by the source tree's: some releases do not install every test
package, 3.11.2 leaves out test_sqlite3 and test_capi.)

Exclusions live in recipes/python/*.toml under [stdlib_tests.exclude], each
with its reason; they are passed to regrtest's --ignore and reported.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from . import emulation, sources
from .archives import safe_extract, tree_in
from .context import Context
from .errors import BuildError, UsageError
from .names import ArchiveName, NotAnArchiveName
from .python_recipes import load_pythons
from .recipes import target_for_triple
from .steps import detail


def run(ctx: Context, archive: Path, modules: list[str] | None = None, timeout: int = 1800) -> dict:
    try:
        name = ArchiveName.parse(archive.name)
    except NotAnArchiveName as e:
        raise UsageError(str(e)) from None
    target, version, minor = target_for_triple(name.triple), name.version, name.minor
    if target is None:
        raise UsageError(f"{archive.name}: no target recipe for {name.triple}")
    recipe = load_pythons()[minor]
    release = next((r for r in recipe.releases if r.version == version), None)
    if release is None:
        raise BuildError(f"{archive.name}: CPython {version} is not pinned in recipes/python/{minor}.toml")
    stdlib_dir = recipe.stdlib_dir(recipe.variant_abiflags(name.variant))
    modules = modules or list(recipe.stdlib_tests.modules)
    excluded = recipe.stdlib_tests.exclude
    results = {}
    with tempfile.TemporaryDirectory(prefix="musl-cpython-tests-") as tmp:
        safe_extract(archive, Path(tmp) / "unpacked")
        tree = tree_in(Path(tmp) / "unpacked")
        _use_source_tests(ctx, release, tree / "lib" / stdlib_dir / "test", Path(tmp) / "source")
        python = tree / "bin" / "python3"
        # Foreign arches run under qemu in the arch's musl root, as verification does.
        with emulation.runner(ctx, target, [Path(tmp)]) as runner:
            for module in modules:
                results[module] = _run_module(runner, python, module, Path(tmp), excluded, timeout)
    summary = {"archive": archive.name, "python": version, "target": target.triple, "modules": results}
    out = archive.with_name(archive.name + ".stdlib-tests.json")
    out.write_text(json.dumps(summary, indent=2) + "\n")
    detail(f"report: {out}")
    if any(r["exit"] != 0 and r["failed"] == 0 for r in results.values()):
        raise BuildError(f"regrtest could not run some modules; see {out}")
    return summary


def _run_module(runner: emulation.Runner, python: Path, module: str, tmp: Path, excluded: dict,
                timeout: int) -> dict:
    """One test module under regrtest: its counts, exit status and time."""
    report = tmp / f"{module}.xml"
    # Exclusions are test ids of the form "test.<module>.<Class>.<method>".
    mine = {t: why for t, why in excluded.items() if t.split(".")[1:2] == [module]}
    start = time.monotonic()
    argv = [str(python), "-m", "test", "-v", "--junit-xml", str(report), "--timeout", str(timeout),
            *(arg for test_id in mine for arg in ("--ignore", test_id)), module]
    try:
        result = subprocess.run(
            runner.argv(argv, tmp), capture_output=True, text=True, cwd=tmp, timeout=timeout + 60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "TERM": "xterm"},
            # A background job inherits SIGINT ignored; test_threading's
            # interrupt_main tests need the default action.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        output, code = result.stdout, result.returncode
    except subprocess.TimeoutExpired as e:
        output = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        code = f"timed out after {timeout + 60} s"
    counts = _counts(report, output)
    counts.update(passed=counts["tests"] - counts["failed"] - counts["skipped"],
                  exit=code, seconds=round(time.monotonic() - start), excluded=mine)
    if code != 0:
        counts["output_tail"] = output.strip().splitlines()[-15:]
    detail(f"{module}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} "
           f"skipped, {len(counts['excluded'])} excluded ({counts['seconds']} s)")
    return counts

def _use_source_tests(ctx: Context, release, installed: Path, scratch: Path) -> None:
    _, source = sources.fetch(ctx, release.sources, f"CPython {release.version}")
    with tarfile.open(source) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[1:3] == ["Lib", "test"]]
        tar.extractall(scratch, members=members, filter="data")
    shutil.rmtree(installed, ignore_errors=True)
    shutil.move(str(next(scratch.iterdir()) / "Lib" / "test"), installed)


# unittest's verbose summary of a failed test, subtests included:
# "ERROR: test_x (test.test_mod.Class.test_x) [subtest]" (3.11+), or
# "ERROR: test_x (test.test_mod.Class)" (before).
_PROBLEM = re.compile(r"^(?:ERROR|FAIL): (\S+) \(([\w.]+)\)(.*)$", re.M)


def _counts(report: Path, output: str) -> dict:
    """Test cases and skips from regrtest's JUnit report; failures from unittest's
    verbose output, which also names failing subtests (the report does not)."""
    tests = skipped = 0
    if report.is_file():
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            tests += 1
            skipped += case.find("skipped") is not None
    failures = {}
    for name, where, detail in _PROBLEM.findall(output):
        test_id = where if where.endswith(f".{name}") else f"{where}.{name}"
        failures.setdefault(test_id, detail.strip())
    return {"tests": tests, "failed": len(failures), "skipped": skipped, "failures": failures}
