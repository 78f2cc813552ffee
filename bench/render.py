"""BENCHMARKS.md from run.py's results, through the template BENCHMARKS.md.j2."""
from __future__ import annotations

import re
from pathlib import Path

import jinja2

TEMPLATE = Path(__file__).with_name("BENCHMARKS.md.j2")
ABLATION_TEMPLATE = Path(__file__).with_name("ablation.md.j2")
# An ablation table (bench/ablation.py) sits between these markers, one per
# version, after what bench/run.py renders; each command keeps the other's.
REGION = re.compile(r"^<!-- ablation (\S+) -->\n.*?^<!-- /ablation \1 -->\n", re.S | re.M)
# The goals the tables compare against (issue texts); figures, never assertions.
TARGETS = {"geomean": 0.97, "startup": 1.00, "cold_min": 20, "warm_min": 6, "noop_s": 10, "stripped_mib": 22}


def duration(seconds: float) -> str:
    """A time with three significant figures and its unit."""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}" if seconds >= 100 * scale else f"{seconds / scale:.3f} {unit}"
    return f"{seconds * 1e9:.1f} ns"


def met(value: float, limit: float) -> str:
    return "met" if value <= limit else "**not met**"


def cpython_stages(stages: dict, version: str) -> str:
    return _minutes(stages, version, ("configure", "make", "install"))


def training_stages(stages: dict, version: str) -> str:
    """The profile stage's own configure and its instrumented build with training (pgo.py)."""
    label = f"{version} (profile)"
    return _minutes(stages, label, ("configure", "training")) if f"CPython {label}: training" in stages else "cached"


def _minutes(stages: dict, version: str, steps: tuple[str, ...]) -> str:
    parts = [stages.get(f"CPython {version}: {step}") for step in steps]
    shown = " / ".join(f"{p / 60:.1f}" for p in parts if p is not None)
    return f"{shown} min" if shown else "cached"


def packaging_seconds(stages: dict) -> float:
    return sum(stages.get(s, 0) for s in ("relocate", "package", "relocate and package"))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     autoescape=False)
    environment.filters.update(time=duration, met=met)
    return environment


def ablation_key(results: dict) -> str:
    """What marks a run's table: its version, and the name of a further table of that version."""
    version, table = results["reference"]["version"], results.get("table")
    return f"{version}/{''.join(c if c.isalnum() else '-' for c in table)}" if table else version


def render_ablation(results: dict) -> str:
    """One ablation run's table, with its markers."""
    template = _environment().from_string(ABLATION_TEMPLATE.read_text())
    text = template.render(r=_Lenient(results), m=results["machine"], key=ablation_key(results),
                           ref=_Lenient(results["measured"]["reference"]))
    return text.rstrip("\n") + "\n"


def ablation_regions(text: str) -> dict[str, str]:
    """key (ablation_key) -> its ablation table, as the text holds them."""
    return {match.group(1): match.group(0) for match in REGION.finditer(text)}


def splice(existing: str, key: str, block: str) -> str:
    """`existing` with the table marked `key` replaced by `block` (or added at the end)."""
    regions = ablation_regions(existing)
    if key in regions:
        return existing.replace(regions[key], block)
    return existing.rstrip("\n") + "\n\n" + block if existing.strip() else block


def render(results: dict, existing: str = "") -> str:
    """BENCHMARKS.md from bench/run.py's results, keeping the ablation tables of `existing`."""
    environment = _environment()
    template = environment.from_string(TEMPLATE.read_text())
    startup = results.get("startup")  # absent when only the builds were measured
    startup_ratio = startup["musl"]["pass_median"] / startup["reference"]["pass_median"] if startup else None
    text = template.render(r=_Lenient(results), m=results["machine"], v=_Lenient(results["versions"]),
                           targets=TARGETS, startup_ratio=startup_ratio,
                           cpython_stages=cpython_stages, training_stages=training_stages,
                           packaging_seconds=packaging_seconds)
    text = text.rstrip("\n") + "\n"
    for block in ablation_regions(existing).values():
        text += "\n" + block
    return text


class _Lenient(dict):
    """The results, where an optional section that was not measured is simply absent."""

    def __getattr__(self, name):
        value = self.get(name)
        return _Lenient(value) if isinstance(value, dict) else value
