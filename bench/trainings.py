"""How far apart independent PGO trainings of one build land: train the same
build several times, each from scratch, and compare the profiles counter by
counter and the archives compiled from them member by member; writes its
table into BENCHMARKS.md.

    .venv/bin/python bench/trainings.py --python 3.13.15 --trainings 2

Every training is a whole `build.py build --no-verify` with a private cache
in which only the verified sources, zig's compiled libc and the dependency
builds are shared (none depends on the profile), in the same build
directory one after the other, so the profile and everything compiled with
it are made afresh. Profiles are read with gcov-dump (GCC's own reader of
its .gcda files); the .gcda header's stamp, which changes with every
instrumented compile and which -fprofile-use does not read, is left out of
the comparison. This is the measurement behind docs/reproducibility.md's
"two trainings differ": reproducible bytes come from the pinned profile.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import REPO, log, machine  # noqa: E402
from render import splice  # noqa: E402

from musl_cpython.archives import safe_extract  # noqa: E402
from musl_cpython.context import default_cache_dir  # noqa: E402
from musl_cpython.sources import sha256_file  # noqa: E402

# What each training shares with the others: nothing in them depends on a profile.
SHARED = ("sources", "zig", "deps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="3.13.15")
    parser.add_argument("--trainings", type=int, default=2)
    parser.add_argument("--option", action="append", default=[], metavar="--with=NAME|--without=NAME",
                        help="a build option every training gets, passed to build.py build as given")
    parser.add_argument("--label", default="default build", help="what the table calls this configuration")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                        help="where the shared sources, zig and dependency builds are")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-trainings")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if args.trainings < 2:
        parser.error("--trainings: at least two, to compare")
    dump = shutil.which("gcov-dump")
    if dump is None:
        raise SystemExit("gcov-dump not found (Debian's gcc package has it)")
    command = " ".join([".venv/bin/python bench/trainings.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    work = args.work.absolute()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs = [train_and_build(args, work, number) for number in range(args.trainings)]
    first = runs[0]
    pairs = []
    for other in runs[1:]:
        pairs.append({"profiles": compare_profiles(dump, first["profile"], other["profile"], work / "unpacked"),
                      "archives": {name: compare_archives(first["archives"][name], other["archives"][name])
                                   for name in first["archives"]}})
    results = {"machine": machine(), "command": command, "label": args.label, "python": args.python,
               "arch": platform.machine(), "options": args.option, "gcc": _first_line(["gcc", "--version"]),
               "trainings": [{k: str(v) if isinstance(v, Path) else v for k, v in run.items() if k != "archives"}
                             for run in runs], "pairs": pairs}
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    key = f"trainings/{''.join(c if c.isalnum() else '-' for c in args.label)}"
    existing = args.output.read_text() if args.output.is_file() else ""
    args.output.write_text(splice(existing, key, render(results, key)))
    log(f"wrote {args.output} (raw results: {work / 'results.json'})")
    return 0


def train_and_build(args, work: Path, number: int) -> dict:
    """One training from scratch and the build compiled with it."""
    run = work / f"training-{number + 1}"
    cache = run / "cache"
    cache.mkdir(parents=True)
    for shared in SHARED:
        (args.cache_dir / shared).mkdir(parents=True, exist_ok=True)
        (cache / shared).symlink_to(args.cache_dir.absolute() / shared)
    shutil.rmtree(work / "build", ignore_errors=True)
    log(f"training {number + 1} of {args.trainings}")
    start = time.monotonic()
    output = run / "build.log"
    with open(output, "w") as f:
        code = subprocess.run([sys.executable, REPO / "build.py", "build", "--python", args.python, "--arch",
                               platform.machine(), "--cache-dir", cache, "--build-dir", work / "build", "--out",
                               run / "dist", "--jobs", str(args.jobs), "--no-verify", *args.option],
                              stdout=f, stderr=subprocess.STDOUT, cwd=REPO).returncode
    if code != 0:
        raise SystemExit(f"training {number + 1} failed (exit {code}); see {output}")
    training = re.search(r"^<== CPython \S+ \(profile\): training: ([\d.]+)(s|min)$", output.read_text(), re.M)
    profiles = sorted((run / "dist").glob("*-pgo-profile.tar.zst"))
    if not training or len(profiles) != 1:
        raise SystemExit(f"training {number + 1}: the build did not train a profile; see {output}")
    archives = {_kind(p.name): p for p in (run / "dist").iterdir() if p.name.endswith((".tar.gz", ".tar.zst"))
                and p not in profiles}
    return {"profile": profiles[0], "profile_sha256": sha256_file(profiles[0]),
            "training_minutes": round(float(training.group(1)) / (60 if training.group(2) == "s" else 1), 1),
            "build_minutes": round((time.monotonic() - start) / 60, 1), "archives": archives,
            "archive_sha256": {kind: sha256_file(path) for kind, path in archives.items()}}


def _kind(name: str) -> str:
    """install_only, install_only_stripped or full, from an archive's name."""
    return "full" if name.endswith("-full.tar.zst") else name.split("-")[-1].split(".")[0]


def counters(dump: str, gcda: Path) -> dict[tuple[str, str], list[int]]:
    """(function, counter kind) -> its values, as gcov-dump reads them."""
    text = subprocess.run([dump, "-l", str(gcda)], capture_output=True, text=True, check=True).stdout
    out: dict[tuple[str, str], list[int]] = {}
    function, current = "", None
    for line in text.splitlines():
        body = line.split(":", 1)[1] if line.startswith(str(gcda)) else line
        if found := re.search(r"FUNCTION ident=(\d+)", body):
            function = found.group(1)
        elif found := re.search(r"COUNTERS (\w+) \d+ counts", body):
            current = out.setdefault((function, found.group(1)), [])
        elif current is not None and (found := re.fullmatch(r"\s+\d+: ([-\d ]*)", body)):
            current.extend(int(value) for value in found.group(1).split())
    return out


def compare_profiles(dump: str, a: Path, b: Path, scratch: Path) -> dict:
    """Counter by counter: how many .gcda files, and how many arc counts (and
    how much of their total), differ; and which other counter kinds differ."""
    trees = []
    for side, profile in (("a", a), ("b", b)):
        shutil.rmtree(scratch / side, ignore_errors=True)
        safe_extract(profile, scratch / side)
        trees.append(scratch / side / "profile")
    names = sorted({p.relative_to(t).as_posix() for t in trees for p in t.rglob("*.gcda")})
    files_differing, arcs, arcs_differing, mass, mass_moved, kinds = [], 0, 0, 0, 0, {}
    for name in names:
        left, right = (counters(dump, t / name) if (t / name).is_file() else {} for t in trees)
        if left != right:
            files_differing.append(name)
        for key in sorted(set(left) | set(right)):
            x, y = left.get(key, []), right.get(key, [])
            if key[1] == "arcs":
                arcs += max(len(x), len(y))
                arcs_differing += sum(1 for i, j in zip(x, y) if i != j) + abs(len(x) - len(y))
                mass += sum(x) + sum(y)
                mass_moved += sum(abs(i - j) for i, j in zip(x, y))
            elif x != y:
                kinds[key[1]] = kinds.get(key[1], 0) + 1
    shutil.rmtree(scratch, ignore_errors=True)
    return {"files": len(names), "files_differing": len(files_differing), "arcs": arcs,
            "arcs_differing": arcs_differing, "arc_mass_moved": mass_moved / mass if mass else 0.0,
            "other_counters_differing": kinds, "differing_files": files_differing}


def members(archive: Path) -> dict[str, str]:
    """Member name -> sha256 of its content (or its link target)."""
    with open(archive, "rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw) if archive.name.endswith(".zst") else raw
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            out = {}
            for member in tar:
                if member.isfile():
                    out[member.name] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
                else:
                    out[member.name] = member.linkname or member.type.decode()
            return out


def compare_archives(a: Path, b: Path) -> dict:
    if sha256_file(a) == sha256_file(b):
        return {"identical": True, "members": None, "differing": []}
    left, right = members(a), members(b)
    differing = sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))
    return {"identical": False, "members": len(left), "differing": differing}


def _first_line(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]


def render(results: dict, key: str) -> str:
    m = results["machine"]
    lines = [f"<!-- ablation {key} -->",
             f"## Independent PGO trainings: CPython {results['python']} {results['arch']}, {results['label']}", "",
             f"Generated by `bench/trainings.py` ({m['date']}, commit {m['commit']}; {m['cpu']}, {m['cores']} cores; "
             f"{results['gcc']}): {len(results['trainings'])} trainings of the same build, each from scratch, "
             "each followed by the build compiled with it; every later one compared with the first.", "",
             "```", results["command"], "```", "",
             "| training | minutes (training / whole build) | profile sha256 | .gcda files differing | "
             "arc counts differing | share of all counts moved | other counters differing |",
             "| --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for number, run in enumerate(results["trainings"]):
        cells = ["", "", "", ""]
        if number:
            p = results["pairs"][number - 1]["profiles"]
            cells = [f"{p['files_differing']} of {p['files']}", f"{p['arcs_differing']:,} of {p['arcs']:,}",
                     f"{100 * p['arc_mass_moved']:.3f} %",
                     ", ".join(f"{kind} {n}" for kind, n in sorted(p["other_counters_differing"].items())) or "none"]
        lines.append(f"| {number + 1} | {run['training_minutes']} / {run['build_minutes']} | "
                     f"`{run['profile_sha256'][:12]}` | " + " | ".join(cells) + " |")
    lines += ["", "| archive | " + " | ".join(f"training {n + 1}" for n in range(len(results["trainings"]))) + " |",
              "| --- |" + " --- |" * len(results["trainings"])]
    for kind in sorted(results["trainings"][0]["archive_sha256"]):
        cells = [f"`{results['trainings'][0]['archive_sha256'][kind][:12]}`"]
        for pair, run in zip(results["pairs"], results["trainings"][1:]):
            archive = pair["archives"][kind]
            shown = "identical" if archive["identical"] else \
                f"{len(archive['differing'])} of {archive['members']:,} members differ: {_named(archive['differing'])}"
            cells.append(f"`{run['archive_sha256'][kind][:12]}` ({shown})")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append(f"<!-- /ablation {key} -->")
    return "\n".join(lines) + "\n"


def _named(names: list[str], shown: int = 6) -> str:
    """The first few differing members, by their file names."""
    short = [f"`{name.rsplit('/', 1)[-1]}`" for name in names[:shown]]
    return ", ".join(short) + (f" and {len(names) - shown} more" if len(names) > shown else "")


if __name__ == "__main__":
    sys.exit(main())
