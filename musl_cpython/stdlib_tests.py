"""Run CPython's own tests (the test package the archive installs, from the
same source tree) on a built interpreter, for a fixed list of modules, and
count what passed and failed per module.

Exclusions live in recipes/python/*.toml under [stdlib_tests.exclude], each
with its reason; they are passed to regrtest's --ignore and reported.
"""
from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .archives import safe_extract
from .errors import BuildError
from .recipes import load_pythons
from .steps import say
from .verify import identify, tree_in


def run(archive: Path, modules: list[str] | None = None, timeout: int = 1800) -> dict:
    target, version, _ = identify(archive)
    recipe = load_pythons()[".".join(version.split(".")[:2])]
    modules = modules or list(recipe.stdlib_tests["modules"])
    excluded = recipe.stdlib_tests.get("exclude", {})
    results = {}
    with tempfile.TemporaryDirectory(prefix="musl-cpython-tests-") as tmp:
        safe_extract(archive, Path(tmp) / "unpacked")
        python = tree_in(Path(tmp) / "unpacked") / "bin" / "python3"
        for module in modules:
            report = Path(tmp) / f"{module}.xml"
            ignores = [arg for test_id in excluded if test_id.split(".")[1] == module
                       for arg in ("--ignore", test_id)]
            start = time.monotonic()
            result = subprocess.run([str(python), "-m", "test", "--junit-xml", str(report), "--timeout",
                                     str(timeout), *ignores, module],
                                    capture_output=True, text=True, cwd=tmp, timeout=timeout + 60,
                                    env={"PATH": "/usr/bin:/bin", "HOME": tmp, "TERM": "xterm"},
                                    # A background job inherits SIGINT ignored; test_threading's
                                    # interrupt_main tests need the default action.
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            counts = (_counts(report) if report.is_file()
                      else {"tests": 0, "failed": 0, "skipped": 0, "failures": {}})
            counts.update(passed=counts["tests"] - counts["failed"] - counts["skipped"],
                          exit=result.returncode, seconds=round(time.monotonic() - start),
                          excluded={t: excluded[t] for t in excluded if t.split(".")[1] == module})
            if result.returncode != 0:
                counts["output_tail"] = result.stdout.strip().splitlines()[-15:]
            results[module] = counts
            say(f"    {module}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} "
                f"skipped, {len(counts['excluded'])} excluded ({counts['seconds']} s)")
    summary = {"archive": archive.name, "python": version, "target": target.triple, "modules": results}
    out = archive.with_name(archive.name + ".stdlib-tests.json")
    out.write_text(json.dumps(summary, indent=2) + "\n")
    say(f"    report: {out}")
    if any(r["exit"] != 0 and r["failed"] == 0 for r in results.values()):
        raise BuildError(f"regrtest could not run some modules; see {out}")
    return summary


def _counts(report: Path) -> dict:
    """Per test case, from regrtest's JUnit XML: a case counts once however many problems it had."""
    tests = skipped = 0
    failures = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        tests += 1
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            text = (problem.get("message") or problem.text or "").strip().splitlines()
            failures[case.get("name", "?")] = text[-1][:300] if text else ""
        elif case.find("skipped") is not None:
            skipped += 1
    return {"tests": tests, "failed": len(failures), "skipped": skipped, "failures": failures}
