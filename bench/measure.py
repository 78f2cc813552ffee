"""Measuring: build times, pyperformance, start-up, peak RSS and sizes.

Each function measures one thing on this machine and returns plain data
(saved as JSON by run.py, rendered by render.py). Figures are reported,
never asserted.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from musl_cpython.archives import safe_extract  # noqa: E402
from musl_cpython.context import default_cache_dir  # noqa: E402

BENCHMARKS = ["nbody", "richards", "float", "chaos", "go", "deltablue", "raytrace", "json_dumps", "json_loads",
              "regex_v8", "pickle", "unpack_sequence", "generators", "coroutines", "sqlite_synth", "logging"]


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
    return str(python), python_version(str(python))


def python_version(python: str) -> str:
    """What `python` says its version is (platform.python_version())."""
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def archive_sizes(paths: list[Path]) -> list[dict]:
    return [{"name": p.name, "mib": round(p.stat().st_size / 2**20, 1)} for p in sorted(paths)]


PROFILED = ["pickle", "json_loads", "sqlite_synth"]


def perf_available() -> str | None:
    """Why `perf record` cannot sample here, or None when it can."""
    if not shutil.which("perf"):
        return "perf is not installed (Debian package linux-perf)"
    probe = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"perf record fails here: {probe.stderr.strip()[:200]}"


def perf_profile(venv_python: Path, benchmark: str, work: Path, label: str, top: int = 8) -> dict:
    """Where `benchmark` (pyperformance's own script, run by the venv
    pyperformance made for the interpreter) spends its time: the share of
    user-space samples per shared object and the hottest symbols. cpu-clock
    is a software event, so this works in VMs without hardware counters."""
    import pyperformance
    benchmarks = Path(pyperformance.__file__).parent / "data-files" / "benchmarks"
    manifest = dict(line.split("\t") for line in (benchmarks / "MANIFEST").read_text().splitlines()
                    if "\t" in line and not line.startswith("["))
    location = manifest[benchmark].strip()
    directory = benchmarks / f"bm_{location[len('<local:'):-1] if ':' in location else benchmark}"
    extra = []
    for toml_file in (directory / f"bm_{benchmark}.toml", directory / "pyproject.toml"):
        if toml_file.is_file():
            extra = tomllib.loads(toml_file.read_text()).get("tool", {}).get("pyperformance", {}).get("extra_opts", [])
            break
    data = work / "perf" / label / f"{benchmark}.data"
    data.parent.mkdir(parents=True, exist_ok=True)
    run(["perf", "record", "-q", "--all-user", "-e", "cpu-clock", "-F", "2000", "-o", data, "--",
         venv_python, directory / "run_benchmark.py", *extra, "--fast", "-p", "1", "-o", data.with_suffix(".json")],
        env={**os.environ, **clean_environment()}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data.with_suffix(".json").unlink(missing_ok=True)

    def report(sort: str) -> list[tuple[float, str]]:
        text = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-q", "--sort", sort,
                               "--percent-limit", "0.5"], capture_output=True, text=True, check=True).stdout
        rows = []
        for line in text.splitlines():
            share, _, rest = line.strip().partition("%")
            if rest:
                rows.append((float(share), " ".join(rest.split()).replace("[.] ", "")))
        return rows

    symbols = [(share, *text.split(" ", 1)) for share, text in report("dso,sym")]
    # A stripped binary (Debian's) shows its functions as bare addresses.
    named = [{"share": share, "name": name, "object": Path(dso).name} for share, dso, name in symbols
             if not name.startswith("0x")]
    return {"objects": [{"share": share, "name": Path(name).name} for share, name in report("dso")[:4]],
            "symbols": named[:top],
            "unnamed_share": round(sum(share for share, _, name in symbols if name.startswith("0x")), 1)}
