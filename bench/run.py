"""Measure the musl builds against a glibc interpreter of the same version,
and the build itself, in one run on one machine; write BENCHMARKS.md.

    .venv/bin/python bench/run.py            # everything (about an hour on 2 cores)

What it measures, in order:
  1. build time of one version for x86_64: cold (empty dependency, CPython
     and packaging caches; only the verified sources and zig's compiled copy
     of its own libc are shared), warm (dependencies cached) and no-op;
  2. the sizes of the archives that build produced;
  3. runtime: a fixed set of pyperformance benchmarks, run by the archive's
     interpreter and by the reference (Debian's python3.11, glibc, PGO+LTO);
  4. start-up: `python -c pass` (pyperf command) and the -X importtime total;
  5. peak RSS of bench/workload.py;
  6. optionally (--allocator-archive, 3.13+): the same with CPython's own
     mimalloc in place of pymalloc and musl's malloc (PYTHONMALLOC=mimalloc).

Timings are medians over pyperf's repeated runs, with the median absolute
deviation as spread. This is not part of the test suite: figures are
reported, never asserted.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (BENCHMARKS, REPO, archive_sizes, ensure_requirements, load_results, log, machine,  # noqa: E402
                     peak_rss, python_version, ratios, run_pyperformance, startup, time_builds, unpack)
from render import render  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="3.11.2", help="the version to build, time and benchmark")
    parser.add_argument("--reference", default="/usr/bin/python3.11",
                        help="the glibc interpreter of the same version")
    parser.add_argument("--mode", default="fast", choices=["fast", "default", "rigorous", "debug-single-value"],
                        help="pyperformance's number of processes and values")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="a comma-separated subset")
    parser.add_argument("--archive", type=Path,
                        help="benchmark this install_only archive and skip the build timings")
    parser.add_argument("--allocator-archive", type=Path,
                        help="a 3.13+ install_only archive: also compare PYTHONMALLOC=mimalloc with the default")
    parser.add_argument("--sizes", type=Path, nargs="*", default=[],
                        help="more archives whose sizes to report (e.g. the default target's)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--only", choices=["builds"],
                        help="builds: time the builds and report the sizes, skip the runtime comparison "
                             "(for a version that has no glibc reference here)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the sections an interrupted run with the same work directory finished")
    args = parser.parse_args(argv)
    BENCHMARKS[:] = args.benchmarks.split(",")
    ensure_requirements()
    command = " ".join([".venv/bin/python bench/run.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    work = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    earlier = json.loads(saved.read_text()) if args.resume and saved.is_file() else {}
    results: dict = {"machine": machine(), "command": command, "mode": args.mode}
    if earlier:  # the date and code of the measurements, not of this rendering
        results["machine"]["date"] = earlier["machine"]["date"]
        results["machine"]["commit"] = earlier["machine"]["commit"]

    def section(name: str, measure):
        """Measure one section, unless a resumed run has it; save after each."""
        if name in earlier:
            log(f"{name}: kept from the interrupted run ({earlier['machine']['date']})")
            results[name] = earlier[name]
        else:
            results[name] = measure()
        saved.write_text(json.dumps(results, indent=2, default=str) + "\n")
        return results[name]

    if args.archive:
        archives = [args.archive.absolute()]
    else:
        archives = [Path(p) for p in section("builds", lambda: time_builds(args.python, work, args.jobs))["archives"]]
    results["sizes"] = archive_sizes([*archives, *args.sizes])
    install_only = next(p for p in archives if p.name.endswith("-install_only.tar.gz"))
    musl, musl_version = unpack(install_only, work / "musl")
    if args.only == "builds":
        results["versions"] = {"musl": musl_version, "archive": install_only.name}
        return finish(results, args.output, saved)
    reference_version = python_version(args.reference)
    if musl_version != reference_version:
        raise SystemExit(f"{install_only.name} is CPython {musl_version}, the reference is {reference_version}: "
                         "the pair must be of the same version")
    results["versions"] = {"musl": musl_version, "archive": install_only.name, "reference": args.reference,
                           "reference_build": subprocess.run([args.reference, "-c", "import sys; print(sys.version)"],
                                                             capture_output=True, text=True).stdout.strip()}
    results["versions"]["pyperformance"] = importlib.metadata.version("pyperformance")

    def runtime():
        reference_runs = load_results(run_pyperformance(args.reference, "reference", work, args.mode))
        musl_runs = load_results(run_pyperformance(musl, "musl", work, args.mode))
        rows, geomean = ratios(musl_runs, reference_runs)
        log(f"runtime geometric mean musl/glibc: {geomean:.3f}")
        return {"rows": rows, "geomean": geomean}

    section("runtime", runtime)
    section("startup", lambda: {"musl": startup(musl, work, "musl"),
                                "reference": startup(args.reference, work, "reference")})
    section("memory", lambda: {"musl": peak_rss(musl), "reference": peak_rss(args.reference)})

    def allocator():
        other, other_version = unpack(args.allocator_archive.absolute(), work / "allocator")
        mimalloc = {"PYTHONMALLOC": "mimalloc"}
        plain = load_results(run_pyperformance(other, "allocator-default", work, args.mode))
        with_mimalloc = load_results(run_pyperformance(other, "allocator-mimalloc", work, args.mode, mimalloc))
        rows, geomean = ratios(with_mimalloc, plain)
        return {"version": other_version, "archive": args.allocator_archive.name, "rows": rows, "geomean": geomean,
                "memory": {"default": peak_rss(other), "mimalloc": peak_rss(other, mimalloc)},
                "startup": {"default": startup(other, work, "allocator-default"),
                            "mimalloc": startup(other, work, "allocator-mimalloc", mimalloc)}}

    if args.allocator_archive:
        section("allocator", allocator)
    return finish(results, args.output, saved)


def finish(results: dict, output: Path, saved: Path) -> int:
    output.write_text(render(results, output.read_text() if output.is_file() else ""))
    log(f"wrote {output} (raw results: {saved})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
