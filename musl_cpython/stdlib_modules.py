"""Which standard-library extension modules a CPython build has: configure's
and setup.py's verdicts, checked against the recipe, and the rules that
build modules into libpython (Modules/Setup.local, 3.11 and later).
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import BuildError
from .python_recipes import PythonRecipe


def stdlib_rules(src: Path, version: str) -> dict[str, str]:
    """Module -> its rule (sources and flags) in the release's Modules/Setup.stdlib.in (3.11+)."""
    template = src / "Modules" / "Setup.stdlib.in"
    if not template.is_file():
        raise BuildError(f"CPython {version} has no Modules/Setup.stdlib.in to take built-in modules' rules from")
    found = (re.fullmatch(r"@MODULE_\w+_TRUE@(\w+)\s+(.*)", line.strip()) for line in template.read_text().splitlines())
    return {match.group(1): match.group(2).strip() for match in found if match}


def setup_local(src: Path, modules, version: str) -> str:
    """Modules/Setup.local building `modules` into libpython, each by the rule
    the release's Modules/Setup.stdlib.in gives it. makesetup reads
    Setup.local first and lets the first rule for a module win, so the
    shared rule configure writes for it into Setup.stdlib is skipped."""
    rules = stdlib_rules(src, version)
    unknown = sorted(set(modules) - set(rules))
    if unknown:
        raise BuildError(f"CPython {version}: Modules/Setup.stdlib.in has no rule for {', '.join(unknown)}, "
                         "which the builtin-modules option builds in")
    substituted = sorted(name for name in modules if "@" in rules[name])
    if substituted:  # configure fills these in; a Setup.local rule would keep the placeholder
        raise BuildError(f"CPython {version}: the Modules/Setup.stdlib.in rules for {', '.join(substituted)} "
                         "hold configure substitutions and cannot be built in this way")
    lines = [f"{name} {rules[name]}" for name in sorted(modules)]
    return "# Written by musl-cpython's builtin-modules option.\n*static*\n" + "\n".join(lines) + "\n"


def module_states(makefile: Path) -> dict[str, str]:
    """Extension module name -> configure's verdict (yes, missing, disabled, n/a)."""
    states = {}
    for match in re.finditer(r"^MODULE_(\w+)_STATE=\s*(\S*)", makefile.read_text(), re.M):
        states[match.group(1).lower()] = match.group(2)
    return states


# How setup.py (3.9 to 3.11) reports the extension modules it did not build.
_SETUP_PY_REPORTS = {
    "The necessary bits to build these optional modules were not found:": "missing",
    "Failed to build these modules:": "failed",
    "Following modules built successfully but were removed because they could not be imported:": "removed",
}


def setup_py_states(make_log: str) -> dict[str, str]:
    """Extension module name -> verdict, for the modules setup.py did not build."""
    states, verdict = {}, None
    for line in make_log.splitlines():
        if line.strip() in _SETUP_PY_REPORTS:
            verdict = _SETUP_PY_REPORTS[line.strip()]
        elif verdict and line.strip() and not line.startswith("To find the necessary bits"):
            states.update((name, verdict) for name in line.split())
        else:
            verdict = None
    return states


def built_modules(recipe: PythonRecipe, version: str, src: Path, make_log: Path) -> tuple[dict, dict]:
    """(every module's verdict, the modules not built): an error if a module
    is missing that the recipe does not say may be, or one is not built in
    that an option builds in."""
    makefile = src / "Makefile"
    # configure decides the modules from 3.11 on, but setup.py compiles some of
    # them up to 3.11 and reports what it could not build.
    states = module_states(makefile)
    states.update(setup_py_states(make_log.read_text(errors="replace")))
    missing = {name: state for name, state in states.items() if state not in ("yes", "n/a")}
    unexpected = sorted(set(missing) - set(recipe.missing_modules))
    if unexpected:
        raise BuildError(f"CPython {version}: extension modules not built: " +
                         ", ".join(f"{m} ({missing[m]})" for m in unexpected) +
                         f"; see {makefile.parent.name}/config.log, or list them under "
                         f"[missing_modules] in recipes/python/{recipe.minor}.toml with the reason")
    config_c = (src / "Modules" / "config.c").read_text()
    not_in = sorted(name for name in recipe.builtin_modules if f"PyInit_{name}(void)" not in config_c)
    if not_in:
        raise BuildError(f"CPython {version}: {', '.join(not_in)} should be built in, but Modules/config.c "
                         "does not list them; see Modules/Setup.local")
    return states, missing
