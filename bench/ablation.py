"""Builds of one CPython version that differ by build options, measured side
by side against a glibc interpreter of the same version in one run; writes
the version's ablation table into BENCHMARKS.md.

    .venv/bin/python bench/ablation.py --reference /usr/bin/python3.11 \\
        --config "LTO only=dist/a/cpython-3.11.2+...-install_only.tar.gz" \\
        --config "+PGO, static interpreter=dist/b/cpython-3.11.2+...-install_only.tar.gz"

For 3.13.5 the reference is Debian 13's python3.13 from the private root
bench/reference.py makes (`--reference "$(.venv/bin/python bench/reference.py)"`);
for 3.11.2 it is this machine's /usr/bin/python3.11.

Each --config is LABEL=ARCHIVE (an install_only archive; the
install_only_stripped archive beside it, if any, gives the size column), in
the order the table lists them. For each, and for the reference: the
pyperformance set of bench/measure.py, start-up (`-c pass`) and the peak
RSS of bench/workload.py. The table's other sections of BENCHMARKS.md
(bench/run.py's, other versions' ablations) are kept as they are.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (BENCHMARKS, PROFILED, REPO, default_cache_dir, ensure_requirements, load_results,  # noqa: E402
                     log, machine, peak_rss, perf_available, perf_profile, python_version, ratios,
                     run_pyperformance, startup, unpack)
from render import ablation_key, render_ablation, splice  # noqa: E402


def configuration(text: str) -> tuple[str, Path]:
    label, separator, path = text.partition("=")
    if not separator or not label or not path.endswith("-install_only.tar.gz"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=<...>-install_only.tar.gz")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"{path}: no such archive")
    return label, Path(path).absolute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="the glibc interpreter of the same version")
    parser.add_argument("--config", type=configuration, action="append", required=True, dest="configs",
                        metavar="LABEL=ARCHIVE", help="a build to measure, in table order")
    parser.add_argument("--mode", default="fast", choices=["fast", "default", "rigorous"],
                        help="pyperformance's number of processes and values")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="a comma-separated subset")
    parser.add_argument("--profiles", default=",".join(PROFILED),
                        help="benchmarks to profile with perf record (comma-separated; empty for none)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "ablation")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--table", metavar="NAME",
                        help="a further table of the version, beside (not replacing) its main one, "
                             "named in its heading: for a run that measures only some of the options")
    parser.add_argument("--resume", action="store_true",
                        help="keep the interpreters an interrupted run with the same work directory measured")
    args = parser.parse_args(argv)
    BENCHMARKS[:] = args.benchmarks.split(",")
    profiled = [name for name in args.profiles.split(",") if name]
    unprofiled = perf_available() if profiled else None
    if unprofiled:
        log(f"no profiles: {unprofiled}")
        profiled = []
    labels = [label for label, _ in args.configs]
    if len(set(labels)) != len(labels) or "reference" in labels:
        raise SystemExit(f"configuration labels must be distinct and not 'reference': {labels}")
    ensure_requirements()
    work = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "ablation.json"
    earlier = json.loads(saved.read_text()) if args.resume and saved.is_file() else {}
    given = sys.argv[1:] if argv is None else argv
    # The private reference root sits in this machine's cache: the command
    # names the script that makes it, which works on any machine.
    references = str(default_cache_dir() / "references")
    shown = ['"$(.venv/bin/python bench/reference.py)"' if arg.startswith(references) else shlex.quote(arg)
             for arg in given]
    command = " ".join([".venv/bin/python bench/ablation.py", *shown])
    results = {"machine": earlier.get("machine") or machine(), "command": command, "mode": args.mode,
               "table": args.table,
               "benchmarks": BENCHMARKS, "profiled": profiled, "unprofiled": unprofiled,
               "measured": earlier.get("measured", {})}
    version = python_version(args.reference)
    results["reference"] = {"python": args.reference.replace(str(Path.home()), "~", 1), "version": version,
                            "build": _sys_version(args.reference)}

    def measure(label: str, python: str) -> dict:
        if label in results["measured"]:
            log(f"{label}: kept from the interrupted run")
            return results["measured"][label]
        directory = "".join(c if c.isalnum() else "-" for c in label)
        measured = {"runs": load_results(run_pyperformance(python, directory, work, args.mode)),
                    "startup": startup(python, work, directory), "memory": peak_rss(python)}
        if profiled:
            # The venv pyperformance made for this interpreter has pyperf.
            venv_python = next((work / "pyperformance" / directory / "venv").glob("*/bin/python"))
            log(f"perf record of {', '.join(profiled)} with {label}")
            measured["profiles"] = {name: perf_profile(venv_python, name, work, directory) for name in profiled}
        results["measured"][label] = measured
        saved.write_text(json.dumps(results, indent=2) + "\n")
        return measured

    reference = measure("reference", args.reference)
    rows = []
    for index, (label, archive) in enumerate(args.configs):
        python, found = unpack(archive, work / "trees" / str(index))
        if found != version:
            raise SystemExit(f"{archive.name} is CPython {found}, the reference is {version}: compare one version")
        measured = measure(label, python)
        per_benchmark, geomean = ratios(measured["runs"], reference["runs"])
        stripped = archive.with_name(archive.name.replace("-install_only.tar.gz", "-install_only_stripped.tar.gz"))
        rows.append({
            "label": label, "archive": archive.name, "geomean": geomean,
            "slowest": sorted(per_benchmark, key=lambda row: row["ratio"], reverse=True)[:5],
            "startup_ms": measured["startup"]["pass_median"] * 1000,
            "startup_ratio": measured["startup"]["pass_median"] / reference["startup"]["pass_median"],
            "rss_mib": measured["memory"]["median_kib"] / 1024,
            "rss_ratio": measured["memory"]["median_kib"] / reference["memory"]["median_kib"],
            "stripped_mib": round(stripped.stat().st_size / 2**20, 1) if stripped.is_file() else None,
        })
        log(f"{label}: geomean musl/glibc {geomean:.3f}")
    results["rows"] = rows
    saved.write_text(json.dumps(results, indent=2) + "\n")
    existing = args.output.read_text() if args.output.is_file() else ""
    key = ablation_key(results)
    args.output.write_text(splice(existing, key, render_ablation(results)))
    log(f"wrote the {key} ablation table into {args.output} (raw results: {saved})")
    return 0


def _sys_version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                          check=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
