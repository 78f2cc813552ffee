import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from musl_cpython import REPO
from musl_cpython.cli import report_failure
from musl_cpython.context import publishing
from musl_cpython.errors import StepFailed
from musl_cpython.steps import run


def test_failed_step_names_itself_and_keeps_its_log(tmp_path, capsys):
    log = tmp_path / "logs" / "step.log"
    with pytest.raises(StepFailed) as e:
        run("compile thing", ["sh", "-c", "for i in $(seq 1 100); do echo line $i; done; exit 3"],
            log=log, cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert e.value.step == "compile thing" and e.value.log_path == log
    assert "line 1\n" in log.read_text()  # the full log is kept
    report_failure(e.value)
    err = capsys.readouterr().err
    assert "step 'compile thing' failed" in err and "exited with status 3" in err
    # the last 40 lines of the log: lines 62..100 and the exit status
    assert "line 62\n" in err and "line 100\n" in err and "line 61\n" not in err
    assert str(log) in err


def test_failed_producer_publishes_nothing(tmp_path):
    final = tmp_path / "cache" / "entry"
    with pytest.raises(RuntimeError):
        with publishing(final) as tmp:
            tmp.mkdir()
            (tmp / "half-written").write_text("x")
            raise RuntimeError("compile failed")
    assert not final.exists() and list(final.parent.iterdir()) == []


def test_killed_run_leaves_nothing_and_is_cleaned_up(tmp_path):
    """SIGTERM mid-step: the child's process group stops and no entry appears."""
    final = tmp_path / "cache" / "entry"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from musl_cpython.context import publishing
        from musl_cpython.steps import exit_on_sigterm, run
        exit_on_sigterm()
        with publishing(Path({str(final)!r})) as tmp:
            tmp.mkdir()
            print("started", flush=True)
            run("slow", ["sleep", "60"], log=tmp / "log", cwd=tmp, env={{"PATH": "/usr/bin:/bin"}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "started\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert not final.exists() and list(final.parent.iterdir()) == []
    assert subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True).stdout == b""


def test_a_build_directory_serves_one_run_at_a_time(ctx):
    from musl_cpython.errors import BuildDirectoryBusy
    with ctx.exclusive():
        with pytest.raises(BuildDirectoryBusy, match="is in use by pid") as e:
            with ctx.exclusive():
                pass
        assert e.value.exit_code == 2
    with ctx.exclusive():  # released
        pass


@pytest.mark.parametrize("option", ["--build-dir", "--cache-dir"])
def test_a_directory_builds_cannot_run_in_is_refused_before_any_work(option, tmp_path):
    """configure stops at a space in its directory ("C compiler cannot create
    executables", an hour into a cold build), and a colon splits RUNPATHs:
    say so at once, with exit code 2, and create nothing."""
    where = tmp_path / "with space"
    result = subprocess.run([sys.executable, REPO / "build.py", "build", "--no-verify", option, where],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert f"{option} {where}: builds run configure and make in it, which cannot take whitespace" in result.stderr
    assert not where.exists()
