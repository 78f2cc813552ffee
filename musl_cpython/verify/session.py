"""Starting the archive's interpreter: directly, through a symlink, in a
venv, or under another musl loader, on this machine or in the target's
root. Each start runs the probes (probes/interpreter.py) for every check
that way of starting serves, and is counted.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from .. import emulation, musl
from ..context import Context
from ..recipes import Target

PROBES = Path(__file__).parent / "probes"
TIMEOUT = 900


def last_line(result: subprocess.CompletedProcess) -> str:
    """The line of a failed run's output that says why: the last one naming an
    error (a fatal start-up error ends with a thread dump), else the last one."""
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\w*Error\b|error:", line)]
    return (errors or lines or [f"exit status {result.returncode}"])[-1]


class Session:
    """One archive, unpacked, and the ways of starting its interpreter."""

    def __init__(self, ctx: Context, target: Target, workdir: Path, tree: Path, config: dict):
        self.ctx, self.target, self.workdir, self.tree = ctx, target, workdir, tree
        self.home = workdir / "home"
        self.home.mkdir()
        self.probes = workdir / "probes"  # a copy inside the directories a target's root binds
        shutil.copytree(PROBES, self.probes)
        self.config = {**config, "tree": str(tree), "home": str(self.home)}
        self.starts = 0
        self.runner = None  # set by the caller, inside emulation.runner()

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "TERM": "xterm", **extra}

    def python(self, program: Path, *args, env=None, cwd=None, runner=None, timeout=TIMEOUT):
        """Start an interpreter of the archive (or a venv's), counted."""
        self.starts += 1
        runner = runner or self.runner
        cwd = cwd or self.home
        return subprocess.run(runner.argv([program, *args], cwd), capture_output=True, text=True,
                              env=self.env() if env is None else env, cwd=cwd, timeout=timeout)

    def under_newest_musl(self, program: Path, *args, env: dict):
        """Start `program` with Debian's newest musl loader, counted. On this
        machine's own arch the loader runs as a command, and --library-path
        stands in for the $ORIGIN RUNPATH, which the loader would otherwise
        resolve from a venv's symlink. Elsewhere, in a root with that loader."""
        if self.runner.root is None:
            newest = musl.libc_path(musl.musl_root(self.ctx, self.target, newest=True), self.target)
            self.starts += 1
            argv = [newest, "--library-path", self.tree / "lib", program, *args]
            return subprocess.run(list(map(str, argv)), capture_output=True, text=True, env=env, cwd=self.home,
                                  timeout=TIMEOUT)
        with emulation.runner(self.ctx, self.target, [self.workdir], newest=True) as runner:
            return self.python(program, *args, env=env, runner=runner)

    def probe(self, program: Path, check_ids: list[str], *, env=None, config=None, newest_musl=False,
              exec_as: str | None = None,
              name="probe") -> tuple[dict[str, tuple[str, str]], subprocess.CompletedProcess | None]:
        """Run the probes for `check_ids` with one start of `program`; a check
        the interpreter dies in fails, and the rest run in a new start. With
        `exec_as`, the probe starts the interpreter again with that argv[0].
        Returns id -> (status, detail), and the first start's result (its
        standard error is what start-up wrote)."""
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps({**self.config, **(config or {})}))
        results, first, remaining = {}, None, list(check_ids)
        while remaining:
            argv = [self.probes / "interpreter.py", "--config", path,
                    *(["--exec-as", exec_as] if exec_as else []), *remaining]
            try:
                if newest_musl:
                    result = self.under_newest_musl(program, *argv, env=env or self.env())
                else:
                    result = self.python(program, *argv, env=env)
            except subprocess.TimeoutExpired:
                results.update({i: ("fail", f"timed out after {TIMEOUT} s") for i in remaining})
                break
            first = first or result
            running = None
            for line in result.stdout.splitlines():
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue
                if answer.get("status") == "running":
                    running = answer["id"]
                elif answer.get("id") in remaining:
                    results[answer["id"]] = (answer["status"], answer.get("detail", ""))
            remaining = [i for i in remaining if i not in results]
            if not remaining:
                break
            log = self.home / "probe-stderr.log"
            said = log.read_text().strip().splitlines()[-1:] if log.is_file() else []
            why = f"{last_line(result)}{f' ({said[0]})' if said else ''} (exit {result.returncode})"
            if running is None:
                results.update({i: ("fail", f"the interpreter did not start: {why}") for i in remaining})
                break
            if running not in remaining:  # it ended between checks
                results.update({i: ("fail", f"the interpreter exited before this check: {why}") for i in remaining})
                break
            results[running] = ("fail", f"the interpreter died in this check: {why}")
            remaining.remove(running)
        return results, first
