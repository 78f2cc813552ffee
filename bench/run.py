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
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from musl_cpython.archives import safe_extract  # noqa: E402
from musl_cpython.context import default_cache_dir  # noqa: E402

BENCHMARKS = ["nbody", "richards", "float", "chaos", "go", "deltablue", "raytrace", "json_dumps", "json_loads",
              "regex_v8", "pickle", "unpack_sequence", "generators", "coroutines", "sqlite_synth", "logging"]
TARGETS = {"geomean": 1.00, "startup": 1.05, "cold_min": 25, "warm_min": 6, "noop_s": 30, "stripped_mib": 25}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=True, **kwargs)


def machine() -> dict:
    cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    memory = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {"cpu": cpu.group(1) if cpu else platform.processor(), "cores": os.cpu_count(),
            "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
            "os": release.get("PRETTY_NAME", "").strip('"'), "kernel": platform.release(),
            "commit": commit.stdout.strip(), "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC")}


# ---------------------------------------------------------------- build times

def time_builds(version: str, work: Path, jobs: int) -> dict:
    """Cold, warm and no-op builds in a private cache; returns seconds, stage
    times from the build's own log, and the archives of the cold build."""
    cache, dist = work / "cache", work / "dist"
    for path in (cache, work / "build", dist):
        shutil.rmtree(path, ignore_errors=True)
    cache.mkdir(parents=True)
    for shared in ("sources", "zig"):
        (default_cache_dir() / shared).mkdir(parents=True, exist_ok=True)
        (cache / shared).symlink_to(default_cache_dir() / shared)
    results = {}
    for label in ("cold", "warm", "no-op"):
        if label == "warm":
            for entry in ("cpython", "dist"):
                shutil.rmtree(cache / entry, ignore_errors=True)
        log(f"{label} build of CPython {version}")
        output = work / f"build-{label}.log"
        start = time.monotonic()
        with open(output, "w") as f:
            code = subprocess.run([sys.executable, REPO / "build.py", "build", "--python", version, "--arch", "x86_64",
                                   "--cache-dir", cache, "--build-dir", work / "build", "--out", dist, "--jobs",
                                   str(jobs), "--no-verify"], stdout=f, stderr=subprocess.STDOUT, cwd=REPO).returncode
        seconds = time.monotonic() - start
        if code != 0:
            raise SystemExit(f"the {label} build failed (exit {code}); see {output}")
        stages = {m.group(1): _seconds(m.group(2))
                  for m in re.finditer(r"^<== (.+?): ([\d.]+(?:s|min))$", output.read_text(), re.M)}
        results[label] = {"seconds": round(seconds, 1), "stages": stages}
        log(f"{label}: {seconds / 60:.1f} min")
    results["archives"] = sorted(str(p) for p in dist.glob("cpython-*"))
    return results


def _seconds(text: str) -> float:
    return float(text[:-3]) * 60 if text.endswith("min") else float(text[:-1])


# ---------------------------------------------------------------- runtime

def run_pyperformance(python: str, label: str, work: Path, mode: str, environment: dict | None = None) -> Path:
    """Run the benchmark set with `python`; returns pyperf's JSON file."""
    directory = work / "pyperformance" / label
    directory.mkdir(parents=True, exist_ok=True)  # holds the venv pyperformance makes for `python`
    output = directory / "results.json"
    output.unlink(missing_ok=True)
    # -E: the driver (this machine's Python) must not read the variables meant
    # for the candidate (3.11 refuses PYTHONMALLOC=mimalloc); its workers inherit them.
    argv = [sys.executable, "-E", "-m", "pyperformance", "run", "--python", python, "-b", ",".join(BENCHMARKS),
            "-o", output, *(["--" + mode] if mode != "default" else [])]
    env = dict(os.environ)
    if environment:
        env.update(environment)
        argv += ["--inherit-environ", ",".join(environment)]
    log(f"pyperformance ({mode}) with {label}: {python}")
    with open(directory / "output.log", "w") as f:
        run(argv, cwd=directory, env=env, stdout=f, stderr=subprocess.STDOUT)
    return output


def load_results(path: Path) -> dict:
    import pyperf
    results = {}
    for bench in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks():
        results[bench.get_name()] = {"median": bench.median(), "mad": bench.median_abs_dev(),
                                     "values": bench.get_nvalue(), "unit": bench.get_unit()}
    return results


def ratios(candidate: dict, reference: dict) -> tuple[list[dict], float]:
    rows = []
    for name in sorted(set(candidate) & set(reference)):
        rows.append({"name": name, "candidate": candidate[name], "reference": reference[name],
                     "ratio": candidate[name]["median"] / reference[name]["median"]})
    geomean = math.exp(statistics.fmean(math.log(r["ratio"]) for r in rows)) if rows else float("nan")
    return rows, geomean


# ---------------------------------------------------------------- start-up, memory

def clean_environment(extra: dict | None = None) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LC_ALL": "C.UTF-8", **(extra or {})}


def startup(python: str, work: Path, label: str, extra: dict | None = None) -> dict:
    """`python -c pass` under pyperf command, and the -X importtime total (median of 41 runs)."""
    import pyperf
    output = work / "startup" / f"{label}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    env = clean_environment(extra)
    run([sys.executable, "-E", "-m", "pyperf", "command", "--quiet", "-o", output, "--", python, "-c", "pass"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    bench = pyperf.Benchmark.load(str(output))
    totals = []
    for _ in range(41):
        result = subprocess.run([python, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True,
                                check=True)
        totals.append(sum(int(m.group(1)) for m in re.finditer(r"^import time:\s+(\d+)\s*\|", result.stderr, re.M)))
    return {"pass_median": bench.median(), "pass_mad": bench.median_abs_dev(), "pass_values": bench.get_nvalue(),
            "importtime_us": statistics.median(totals),
            "importtime_mad_us": statistics.median(abs(t - statistics.median(totals)) for t in totals)}


def peak_rss(python: str, extra: dict | None = None, repeat: int = 5) -> dict:
    """Peak RSS (KiB) of bench/workload.py, from the kernel's rusage of the child."""
    peaks, outputs = [], set()
    for _ in range(repeat):
        child = subprocess.Popen([python, str(REPO / "bench" / "workload.py")], env=clean_environment(extra),
                                 stdout=subprocess.PIPE, text=True)
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{python} bench/workload.py failed (exit {child.returncode})")
        peaks.append(usage.ru_maxrss)
        outputs.add(output.strip())
    return {"median_kib": statistics.median(peaks), "min_kib": min(peaks), "max_kib": max(peaks),
            "output": sorted(outputs)}


# ---------------------------------------------------------------- driver

def ensure_requirements() -> None:
    try:
        import pyperformance  # noqa: F401
    except ImportError:
        log("installing bench/requirements.txt")
        run([sys.executable, "-m", "pip", "install", "-q", "-r", REPO / "bench" / "requirements.txt"])


def unpack(archive: Path, into: Path) -> str:
    shutil.rmtree(into, ignore_errors=True)
    safe_extract(archive, into)
    python = into / "python" / "bin" / "python3"
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return str(python), version


def archive_sizes(paths: list[Path]) -> list[dict]:
    return [{"name": p.name, "mib": round(p.stat().st_size / 2**20, 1)} for p in sorted(paths)]


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
    if earlier:  # the date of the measurements, not of this rendering
        results["machine"]["date"] = earlier["machine"]["date"]

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
    reference_version = subprocess.run([args.reference, "-c", "import platform; print(platform.python_version())"],
                                       capture_output=True, text=True, check=True).stdout.strip()
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
    args.output.write_text(render(results))
    log(f"wrote {args.output} (raw results: {saved})")
    return 0


# ---------------------------------------------------------------- report

def _time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}" if seconds >= 100 * scale else f"{seconds / scale:.3f} {unit}"
    return f"{seconds * 1e9:.1f} ns"


def _met(value: float, limit: float) -> str:
    return "met" if value <= limit else "**not met**"


def render(r: dict) -> str:
    m, v = r["machine"], r["versions"]
    lines = ["# Benchmarks", "",
             "Generated by `bench/run.py`; do not edit by hand. To regenerate (about an hour on 2 cores):", "",
             "```", r["command"], "```", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}, Linux {m['kernel']}",
             f"- Date: {m['date']}; project commit {m['commit']}",
             f"- musl build: CPython {v['musl']} (`{v['archive']}`)",
             f"- Reference: `{v['reference']}`, {v['reference_build']} (Debian's, glibc, PGO+LTO)",
             f"- pyperformance {v['pyperformance']}, `--{r['mode']}` mode (pyperf: several worker processes, "
             "warm-ups discarded); medians with the median absolute deviation (±)", ""]
    startup, memory = r["startup"], r["memory"]
    startup_ratio = startup["musl"]["pass_median"] / startup["reference"]["pass_median"]
    lines += ["## Targets", "", "| target | measured | |", "| --- | --- | --- |",
              f"| runtime geometric mean musl/glibc ≤ {TARGETS['geomean']:.2f} | {r['runtime']['geomean']:.3f} | "
              f"{_met(r['runtime']['geomean'], TARGETS['geomean'])} |",
              f"| start-up (`-c pass`) musl/glibc ≤ {TARGETS['startup']:.2f} | {startup_ratio:.3f} | "
              f"{_met(startup_ratio, TARGETS['startup'])} |"]
    if "builds" in r:
        b = r["builds"]
        lines += [f"| cold build ≤ {TARGETS['cold_min']} min | {b['cold']['seconds'] / 60:.1f} min | "
                  f"{_met(b['cold']['seconds'] / 60, TARGETS['cold_min'])} |",
                  f"| warm build ≤ {TARGETS['warm_min']} min | {b['warm']['seconds'] / 60:.1f} min | "
                  f"{_met(b['warm']['seconds'] / 60, TARGETS['warm_min'])} |",
                  f"| no-op build ≤ {TARGETS['noop_s']} s | {b['no-op']['seconds']:.0f} s | "
                  f"{_met(b['no-op']['seconds'], TARGETS['noop_s'])} |"]
    for size in r["sizes"]:
        if "3.13" in size["name"] and "install_only_stripped" in size["name"]:
            lines.append(f"| 3.13 install_only_stripped ≤ {TARGETS['stripped_mib']} MiB | {size['mib']} MiB | "
                         f"{_met(size['mib'], TARGETS['stripped_mib'])} |")
    lines += ["", "## Runtime", "", "Time per benchmark; ratio < 1 means the musl build is faster.", "",
              "| benchmark | musl | glibc reference | musl/glibc |", "| --- | ---: | ---: | ---: |"]
    for row in r["runtime"]["rows"]:
        c, ref = row["candidate"], row["reference"]
        lines.append(f"| {row['name']} | {_time(c['median'])} ± {_time(c['mad'])} | "
                     f"{_time(ref['median'])} ± {_time(ref['mad'])} | {row['ratio']:.3f} |")
    lines += [f"| **geometric mean** | | | **{r['runtime']['geomean']:.3f}** |", "",
              "## Start-up", "", "| | musl | glibc reference | musl/glibc |", "| --- | ---: | ---: | ---: |",
              f"| `python -c pass` (pyperf command) | {_time(startup['musl']['pass_median'])} ± "
              f"{_time(startup['musl']['pass_mad'])} | {_time(startup['reference']['pass_median'])} ± "
              f"{_time(startup['reference']['pass_mad'])} | {startup_ratio:.3f} |",
              f"| `-X importtime` total (median of 41) | {startup['musl']['importtime_us']:.0f} µs | "
              f"{startup['reference']['importtime_us']:.0f} µs | "
              f"{startup['musl']['importtime_us'] / startup['reference']['importtime_us']:.3f} |", "",
              "## Memory", "",
              "Peak RSS of `bench/workload.py` (JSON, dicts, SQLite, sorting), median of 5 runs.", "",
              "| musl | glibc reference | musl/glibc |", "| ---: | ---: | ---: |",
              f"| {memory['musl']['median_kib'] / 1024:.1f} MiB | {memory['reference']['median_kib'] / 1024:.1f} MiB | "
              f"{memory['musl']['median_kib'] / memory['reference']['median_kib']:.3f} |"]
    if "builds" in r:
        b = r["builds"]
        lines += ["", "## Build time", "",
                  f"CPython {v['musl']} for x86_64 with `build.py build --no-verify` (verification is timed "
                  "separately by every build), on this machine's cores. Cold: empty dependency, CPython and "
                  "packaging caches (the verified sources and zig's compiled libc are shared); warm: dependencies "
                  "cached; no-op: everything cached.", "",
                  *([b["note"], ""] if b.get("note") else []),
                  "| build | total | dependencies | CPython (configure / make with PGO / install) | relocate + package |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for label in ("cold", "warm", "no-op"):
            stages = b[label]["stages"]
            parts = [stages.get(f"CPython {v['musl']}: {step}") for step in ("configure", "make", "install")]
            cpython = " / ".join(f"{p / 60:.1f}" for p in parts if p is not None)
            cpython = f"{cpython} min" if cpython else "cached"
            packaging = sum(stages.get(s, 0) for s in ("relocate", "package", "relocate and package"))
            lines.append(f"| {label} | {b[label]['seconds'] / 60:.1f} min | {stages.get('dependencies', 0) / 60:.1f} min "
                         f"| {cpython} | {packaging / 60:.1f} min |")
    lines += ["", "## Archive sizes", "", "| archive | MiB |", "| --- | ---: |"]
    lines += [f"| `{s['name']}` | {s['mib']} |" for s in r["sizes"]]
    if "allocator" in r:
        a = r["allocator"]
        lines += ["", "## Allocator: CPython's mimalloc", "",
                  f"CPython {a['version']} (`{a['archive']}`) with `PYTHONMALLOC=mimalloc` against its default "
                  "(pymalloc for small objects, musl's mallocng for the rest); ratio < 1 means mimalloc is faster.", "",
                  "| benchmark | default | mimalloc | mimalloc/default |", "| --- | ---: | ---: | ---: |"]
        for row in a["rows"]:
            lines.append(f"| {row['name']} | {_time(row['reference']['median'])} | "
                         f"{_time(row['candidate']['median'])} | {row['ratio']:.3f} |")
        mem = a["memory"]
        lines += [f"| **geometric mean** | | | **{a['geomean']:.3f}** |", "",
                  f"- Start-up (`-c pass`): {_time(a['startup']['default']['pass_median'])} default, "
                  f"{_time(a['startup']['mimalloc']['pass_median'])} with mimalloc.",
                  f"- Peak RSS of the workload: {mem['default']['median_kib'] / 1024:.1f} MiB default, "
                  f"{mem['mimalloc']['median_kib'] / 1024:.1f} MiB with mimalloc."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
