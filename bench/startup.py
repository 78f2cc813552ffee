"""Start-up of several interpreters side by side, in one run.

    .venv/bin/python bench/startup.py ARCHIVE_OR_PYTHON ... [--rounds 3]

Each argument is an install_only archive (unpacked into a scratch
directory) or an interpreter. `python -c pass` is timed with pyperf command
for each in turn, `--rounds` times over (so that drift of the machine hits
all of them alike), and the -X importtime total is taken; the table gives
medians and the ratio of each to the first. Figures are reported, never
asserted.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import REPO, ensure_requirements, log, startup, unpack  # noqa: E402
from render import duration  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("subjects", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-startup")
    args = parser.parse_args(argv)
    ensure_requirements()
    pythons = []
    for index, subject in enumerate(args.subjects):
        if subject.name.endswith(".tar.gz"):
            python, version = unpack(subject.absolute(), args.work.absolute() / str(index))
            pythons.append((subject.name, python))
        else:
            pythons.append((str(subject), str(subject)))
    # Before/after comparisons are often of archives with the same name in two directories.
    names = [label for label, _ in pythons]
    pythons = [(f"{subject.parent.name}/{label}" if names.count(label) > 1 else label, python)
               for subject, (label, python) in zip(args.subjects, pythons)]
    runs = {label: [] for label, _ in pythons}
    for round_ in range(args.rounds):
        for label, python in pythons:
            log(f"round {round_ + 1}: {label}")
            runs[label].append(startup(python, args.work.absolute(), f"{round_}-{len(runs[label])}-{label}"))
    first = statistics.median(r["pass_median"] for r in runs[pythons[0][0]])
    print("| interpreter | `-c pass` (median of rounds) | ratio to the first | `-X importtime` total |")
    print("| --- | ---: | ---: | ---: |")
    for label, _ in pythons:
        passes = statistics.median(r["pass_median"] for r in runs[label])
        imports = statistics.median(r["importtime_us"] for r in runs[label])
        print(f"| `{label}` | {duration(passes)} | {passes / first:.3f} | {imports:.0f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
