"""Output and build commands: a small logger, stages with timing, and
commands whose full output goes to a log.

The logger has three kinds of line: `say` (a top-level line), `detail` (an
indented line under the running stage) and `warning` (to stderr). In GitHub
Actions each stage is folded into a `::group::`.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import StepFailed

TAIL_LINES = 40
_INDENT = "    "


def _in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def say(message: str) -> None:
    print(message, flush=True)


def detail(message: str) -> None:
    """A line under the running stage."""
    say(_INDENT + message.replace("\n", "\n" + _INDENT))


def warning(message: str) -> None:
    print(f"::warning::{message}" if _in_github_actions() else f"warning: {message}", file=sys.stderr, flush=True)


def _elapsed(start: float) -> str:
    seconds = time.monotonic() - start
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


_depth = 0  # GitHub folds one level of groups; nested stages print plainly inside it


@contextmanager
def stage(name: str):
    """Announce a stage, and report how long it took or that it failed."""
    global _depth
    fold = _in_github_actions() and _depth == 0
    if fold:
        say(f"::group::{name}")
    say(f"==> {name}")
    start = time.monotonic()
    _depth += 1
    try:
        yield
    except BaseException:
        say(f"<== {name}: failed after {_elapsed(start)}")
        raise
    else:
        say(f"<== {name}: {_elapsed(start)}")
    finally:
        _depth -= 1
        if fold:
            say("::endgroup::")


def run(step: str, argv: list[str], *, log: Path, cwd: Path, env: dict[str, str]) -> None:
    """Run one command of a step, appending its output to the step's log.

    The command runs in its own process group so that an interrupt stops
    everything it started (make's children included) before we clean up.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"$ cd {shlex.quote(str(cwd))} && {shlex.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            out.write(f"cannot start {argv[0]}: {e}\n".encode())
            raise StepFailed(step, log, f"cannot start {argv[0]}: {e.strerror}") from None
        try:
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        if code != 0:
            out.write(f"exit status {code}\n".encode())
            raise StepFailed(step, log, f"`{shlex.join(argv)[:200]}` exited with status {code}")


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(log: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so cleanup code runs as it does for Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
