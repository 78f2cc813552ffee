"""Builds of one CPython version for another arch, timed side by side under
qemu-user in one run; writes their table into BENCHMARKS.md.

    .venv/bin/python bench/emulated.py --arch aarch64 \\
        --config "LTO only=dist/a/cpython-3.13.15+...-aarch64-unknown-linux-musl-install_only.tar.gz" \\
        --config "PGO+LTO=dist/b/cpython-3.13.15+...-aarch64-unknown-linux-musl-install_only.tar.gz"

pyperformance does not fit under emulation (a venv and pip per interpreter,
minutes per benchmark), so each build runs bench/kernels.py: a few
CPU-bound kernels, standard library only. Every round runs each build once,
in a rotating order, in the arch's root (musl_cpython/emulation.py, the
same root verification uses); the table gives each kernel's median and its
ratio to the first configuration. Emulation changes what is expensive, so
the ratios say how the builds compare under this qemu, not on hardware.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import REPO, log, machine  # noqa: E402
from render import splice  # noqa: E402

from musl_cpython import emulation  # noqa: E402
from musl_cpython.archives import safe_extract  # noqa: E402
from musl_cpython.context import Context, default_cache_dir  # noqa: E402
from musl_cpython.recipes import target_for  # noqa: E402

KERNELS = Path(__file__).with_name("kernels.py")


def configuration(text: str) -> tuple[str, Path]:
    label, separator, path = text.partition("=")
    if not separator or not label or not path.endswith("-install_only.tar.gz"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=<...>-install_only.tar.gz")
    return label, Path(path).absolute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True, help="the arch the archives are for")
    parser.add_argument("--config", type=configuration, action="append", required=True,
                        help="LABEL=ARCHIVE (install_only); the first is what the others are compared with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--scale", type=int, default=3, help="passes over each kernel per run")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-emulated")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    target = target_for(args.arch)
    if not emulation.needs_emulator(target):
        raise SystemExit(f"{args.arch} runs natively here: bench/ablation.py measures such builds")
    command = " ".join([".venv/bin/python bench/emulated.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    work = args.work.absolute()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copyfile(KERNELS, work / KERNELS.name)
    pythons = []
    for index, (label, archive) in enumerate(args.config):
        safe_extract(archive, work / str(index))
        pythons.append(work / str(index) / "python" / "bin" / "python3")
    ctx = Context(build_dir=work / "build", cache_dir=default_cache_dir())
    runs: list[list[dict]] = [[] for _ in pythons]
    with emulation.runner(ctx, target, [work]) as runner:
        versions = [_run(runner, [python, "-c", "import platform; print(platform.python_version())"], work).strip()
                    for python in pythons]
        if len(set(versions)) != 1:
            raise SystemExit(f"the archives are of different versions: {', '.join(versions)}")
        for number in range(args.rounds):
            for offset in range(len(pythons)):
                index = (number + offset) % len(pythons)
                runs[index].append(json.loads(_run(runner, [pythons[index], KERNELS.name, str(args.scale)], work)))
            log(f"round {number + 1} of {args.rounds}")
    checksums = {run["checksum"] for per_build in runs for run in per_build}
    if len(checksums) != 1:
        raise SystemExit(f"the builds computed different results: {sorted(checksums)}")
    kernels = list(runs[0][0]["seconds"])
    medians = [{k: statistics.median(run["seconds"][k] for run in per_build) for k in kernels} for per_build in runs]
    rows = [{"kernel": k, "cells": [(m[k], m[k] / medians[0][k]) for m in medians]} for k in kernels]
    geomeans = [math.exp(statistics.fmean(math.log(m[k] / medians[0][k]) for k in kernels)) for m in medians]
    peaks = [statistics.median(run["peak_rss_kib"] for run in per_build) for per_build in runs]
    results = {"machine": machine(), "command": command, "arch": args.arch, "version": versions[0],
               "labels": [label for label, _ in args.config], "archives": [a.name for _, a in args.config],
               "rounds": args.rounds, "scale": args.scale, "rows": rows, "geomeans": geomeans,
               "peak_rss_kib": peaks,
               "qemu": emulation.emulator_version(target)}
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    key = f"{results['version']}/{args.arch}-under-qemu"
    existing = args.output.read_text() if args.output.is_file() else ""
    args.output.write_text(splice(existing, key, render(results, key)))
    log(f"geometric means against {results['labels'][0]}: "
        + ", ".join(f"{label} {g:.3f}" for label, g in zip(results["labels"], geomeans)))
    log(f"wrote {args.output} (raw results: {work / 'results.json'})")
    return 0


def _run(runner: emulation.Runner, argv: list, cwd: Path) -> str:
    result = subprocess.run(runner.argv([str(a) for a in argv], cwd), capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed under emulation: {result.stderr[-2000:]}")
    return result.stdout


def render(results: dict, key: str) -> str:
    m, labels = results["machine"], results["labels"]
    lines = [f"<!-- ablation {key} -->",
             f"## Under qemu: CPython {results['version']} for {results['arch']}", "",
             f"Generated by `bench/emulated.py` ({m['date']}, commit {m['commit']}; {m['cpu']}, {m['cores']} cores; "
             f"{results['qemu']}): bench/kernels.py, {results['rounds']} rounds of {results['scale']} passes, every "
             "build in every round, in the arch's root. Medians; ratios are to the first column, below 1 is faster. "
             "They compare the builds under this emulator, not on the arch's hardware.", "",
             "```", results["command"], "```", "",
             "| kernel | " + " | ".join(labels) + " |",
             "| --- |" + " ---: |" * len(labels)]
    for row in results["rows"]:
        lines.append(f"| {row['kernel']} | "
                     + " | ".join(f"{seconds * 1000:.0f} ms ({ratio:.3f})" for seconds, ratio in row["cells"]) + " |")
    lines.append("| **geometric mean** | " + " | ".join(f"**{g:.3f}**" for g in results["geomeans"]) + " |")
    if "peak_rss_kib" in results:  # the whole run's, qemu's own memory included
        peaks = results["peak_rss_kib"]
        lines.append("| peak RSS (under qemu) | " + " | ".join(f"{kib / 1024:.1f} MiB ({kib / peaks[0]:.3f})"
                                                             for kib in peaks) + " |")
    lines += ["", "Archives: " + "; ".join(f"{label}: `{name}`" for label, name in zip(labels, results["archives"]))
              + ".", f"<!-- /ablation {key} -->"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
