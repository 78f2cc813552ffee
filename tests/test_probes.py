"""The probes verification runs inside an interpreter, and how their answers
come back: here run by this machine's own Python, which is a real
interpreter though not a musl one."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from musl_cpython import emulation
from musl_cpython.recipes import target_for
from musl_cpython.verify.session import PROBES, Session

TARGET = target_for("x86_64")
CONFIG = {"triplet": TARGET.platform_triplet, "byteorder": sys.byteorder, "wheel_platform": "musllinux_1_2_x86_64"}


@pytest.fixture
def session(ctx, tmp_path):
    session = Session(ctx, TARGET, tmp_path, Path(sys.prefix), CONFIG)
    session.runner = emulation.Runner()
    return session


def test_the_probes_answer_one_line_per_check(session):
    checks = ["functional.hashlib", "functional.decimal", "functional.time_past_2038", "functional.byte_order",
              "facts.build", "identity.extension_suffixes"]
    results, first = session.probe(Path(sys.executable), checks)
    assert set(results) == set(checks) and session.starts == 1
    for check in checks[:5]:
        assert results[check][0] == "pass", results[check]
    assert "2039-02-23" in results["functional.time_past_2038"][1]
    facts = json.loads(results["facts.build"][1])
    assert facts["EXT_SUFFIX"].endswith(".so") and Path(facts["include"]).is_dir()
    # This machine's Python is glibc's: the musl suffix check fails, saying what it found.
    status, detail = results["identity.extension_suffixes"]
    assert status == "fail" and "linux-gnu" in detail
    assert first.stderr == ""  # what the checks wrote to stderr went to the probe's log


def test_a_probe_can_be_run_by_hand(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CONFIG, "tree": sys.prefix, "home": str(tmp_path)}))
    result = subprocess.run([sys.executable, str(PROBES / "interpreter.py"), "--config", str(config),
                             "functional.decimal"], capture_output=True, text=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["running", "pass"] and lines[1]["id"] == "functional.decimal"
    unknown = subprocess.run([sys.executable, str(PROBES / "interpreter.py"), "--config", str(config), "no.such"],
                             capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown check ids: no.such" in unknown.stderr


FAKE = """
import json, os, sys
for check in sys.argv[3:]:
    print(json.dumps({"id": check, "status": "running"}), flush=True)
    if check == os.environ.get("DIE_IN"):
        os.kill(os.getpid(), 11)
    print(json.dumps({"id": check, "status": "pass", "detail": "fine"}), flush=True)
"""


def test_a_check_the_interpreter_dies_in_fails_and_the_rest_run_again(session):
    (session.probes / "interpreter.py").write_text(FAKE)
    env = {"PATH": "/usr/bin:/bin", "DIE_IN": "b.two"}
    results, _ = session.probe(Path(sys.executable), ["a.one", "b.two", "c.three"], env=env)
    assert results["a.one"] == ("pass", "fine") and results["c.three"] == ("pass", "fine")
    assert results["b.two"][0] == "fail" and "died in this check" in results["b.two"][1]
    assert "exit -11" in results["b.two"][1]
    assert session.starts == 2


def test_an_interpreter_that_does_not_start_fails_every_check_once(session, tmp_path):
    broken = tmp_path / "python3"
    broken.write_text("#!/bin/sh\necho 'Error loading shared library libpython3.13.so.1.0' >&2\nexit 127\n")
    broken.chmod(0o755)
    results, _ = session.probe(broken, ["a.one", "b.two"])
    assert session.starts == 1
    for status, detail in results.values():
        assert status == "fail" and "did not start" in detail and "libpython3.13.so.1.0" in detail


def test_builtin_modules_fails_when_setup_local_promises_what_is_not_built_in(tmp_path):
    # A venv's sys.prefix is its own directory, so its lib/pythonX.Y/config-*
    # can hold a Setup.local of the test's making; lib-dynload is the base's.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    config_dir = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "config-test"
    config_dir.mkdir(parents=True)
    builtin = "posix"  # built in on every CPython for Linux
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CONFIG, "tree": str(venv), "home": str(tmp_path)}))

    def run(setup_local: str) -> dict:
        (config_dir / "Setup.local").write_text(setup_local)
        result = subprocess.run([str(venv / "bin" / "python"), str(PROBES / "interpreter.py"), "--config",
                                 str(config), "stdlib.builtin_modules"], capture_output=True, text=True)
        return json.loads(result.stdout.splitlines()[-1])

    kept = run(f"# shared ones are not promised\n*shared*\nnosuch nosuch.c\n*static*\n{builtin} {builtin}.c\n")
    assert kept["status"] == "pass" and f"1 built in by Setup.local ({builtin})" in kept["detail"], kept
    broken = run(f"*static*\n{builtin} {builtin}.c\nnosuch nosuch.c -DX=1\n")
    assert broken["status"] == "fail" and "builds in nosuch, which the interpreter does not have" in broken["detail"]
