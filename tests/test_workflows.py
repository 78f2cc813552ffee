"""The GitHub workflows: linted by actionlint, every run: step one command of
the project, each matrix entry's commands resolving, and the release
workflow's host-backend build job run here for a real matrix entry."""
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from musl_cpython import REPO, cli, matrix
from musl_cpython.python_recipes import python_for, split_abiflags
from musl_cpython.recipes import target_for

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
RELEASE = REPO / ".github" / "workflows" / "release.yml"
# What GitHub's contexts give the release job, for running its commands here.
GITHUB = {"server_url": "https://github.example", "repository": "owner/musl-cpython", "ref_name": "release-test"}
# The one run: step that is not the project's: publishing the release with GitHub's own CLI.
PUBLISH = "gh release create "
PROJECT_COMMANDS = ("./bootstrap.sh ", ".venv/bin/python build.py ")


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    program = Path(sysconfig.get_path("scripts")) / "actionlint"
    if not program.exists():
        if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
            pytest.skip(f"requirements-lint.txt's actionlint wheel is published for x86_64 Linux only, "
                        f"not {platform.machine()}")
        pytest.fail(f"{program} is missing: ./bootstrap.sh installs it (requirements-lint.txt)")
    # Without shellcheck, actionlint skips the run: blocks silently.
    assert shutil.which("shellcheck"), "shellcheck is not installed (./bootstrap.sh installs it)"
    return subprocess.run([str(program), "-no-color", *map(str, paths)], cwd=REPO, capture_output=True, text=True)


def test_actionlint_is_clean():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: push\njobs:\n  one:\n    runs-on: ubuntu-24.04\n    steps:\n"
                      '      - run: echo "${{ github.no_such_property }}"\n'
                      "      - run: ls $UNQUOTED\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'property "no_such_property" is not defined' in result.stdout
    assert "shellcheck reported issue" in result.stdout and "SC2086" in result.stdout


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
    assert [step.get("run") for step in jobs(REPO / ".github" / "workflows" / "test.yml")["test"]["steps"]
            if "run" in step] == ["./bootstrap.sh test"]
    assert "./bootstrap.sh test" in (REPO / ".ci" / "run").read_text()


def test_bootstrap_passes_shellcheck():
    result = subprocess.run(["shellcheck", "bootstrap.sh", ".ci/run"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def jobs(workflow: Path) -> dict:
    return yaml.safe_load(workflow.read_text())["jobs"]


def run_lines(job: dict, entry: dict) -> list[tuple[str, str]]:
    """(step name, command) of each run: step, with the matrix entry's and GitHub's values filled in."""
    lines = []
    for number, step in enumerate(job["steps"]):
        if "run" not in step:
            continue

        def value(match):
            context, key = match.group(1), match.group(2)
            values = entry if context == "matrix" else GITHUB
            assert key in values, f"${{{{ {context}.{key} }}}}: no such value"
            return str(values[key])
        command = re.sub(r"\$\{\{\s*(matrix|github)\.(\w+)\s*\}\}", value, step["run"].strip())
        assert "${{" not in command, f"{command}: only matrix and GitHub values are passed"
        lines.append((step.get("name", f"step {number}"), command))
    return lines


def release_matrices() -> dict[str, list[dict]]:
    """What the matrix job's command writes to $GITHUB_OUTPUT: backend -> jobs."""
    entries = matrix.entries()
    return {backend: [e for e in entries if e["backend"] == backend] for backend in ("host", "container")}


def job_matrix(job: dict) -> str | None:
    """Which of the matrix job's outputs a job's matrix is (host, container), if any."""
    found = re.fullmatch(r"\$\{\{\s*fromJSON\(needs\.matrix\.outputs\.(\w+)\)\s*\}\}",
                         str(job.get("strategy", {}).get("matrix", "")))
    return found.group(1) if found else None


def test_every_run_step_is_one_project_command():
    for workflow in WORKFLOWS:
        for name, job in jobs(workflow).items():
            for step_name, command in run_lines(job, {key: "VALUE" for key in release_matrices()["host"][0]}):
                where = f"{workflow.name}: {name}: {step_name}"
                if command.startswith(PUBLISH):
                    assert name == "release", f"{where}: only the release job publishes"
                    continue
                assert command.startswith(PROJECT_COMMANDS), f"{where}: {command!r} is not the project's"
                # One command: no shell logic, lists, loops or substitutions.
                assert not re.search(r"&&|\|\||[;|`\n]|\$\(|\bfor\b|\bif\b", command), f"{where}: {command!r}"


def test_the_matrix_job_writes_one_matrix_per_backend(tmp_path):
    output = tmp_path / "github-output"
    [(_, command)] = [line for line in run_lines(jobs(RELEASE)["matrix"], {}) if "build.py" in line[1]]
    subprocess.run(["bash", "-e", "-c", command.replace(".venv/bin/python", shlex.quote(sys.executable))],
                   cwd=REPO, env={**os.environ, "GITHUB_OUTPUT": str(output)}, check=True, capture_output=True)
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert {key: json.loads(value)["include"] for key, value in written.items()} == release_matrices()
    assert all(release_matrices().values()), "a backend without jobs: GitHub refuses an empty matrix"
    used = {job_matrix(job) for job in jobs(RELEASE).values()} - {None}
    assert used == set(written) and set(jobs(RELEASE)["matrix"]["outputs"]) == set(written)


def test_every_matrix_entrys_commands_resolve():
    """Each job's commands, for each of its matrix entries: a known bootstrap
    mode, or a build.py command line the CLI accepts, naming a known arch and
    version and options the build takes; and a runner label that exists."""
    modes = re.search(r"usage: \$0 \[([\w|]+)\]", (REPO / "bootstrap.sh").read_text()).group(1).split("|")
    checked = 0
    for name, job in jobs(RELEASE).items():
        backend = job_matrix(job)
        for entry in release_matrices()[backend] if backend else [{}]:
            if backend:
                assert job["runs-on"] == "${{ matrix.runner }}" or job["runs-on"] in matrix.RUNNER_MACHINES, name
                assert entry["runner"] in matrix.RUNNER_MACHINES, f"{name}: no runner {entry['runner']!r}"
            for _, command in run_lines(job, entry):
                if command.startswith(PUBLISH):
                    continue
                words = shlex.split(command)
                if words[0] == "./bootstrap.sh":
                    assert words[1:] and words[1] in modes, f"{name}: {command}"
                    continue
                try:
                    args = cli.parser().parse_args(words[2:])
                except SystemExit:
                    pytest.fail(f"{name}: build.py refuses {command!r}")
                if args.command in ("build", "fetch"):
                    assert (args.python, args.arch) == (entry["python"], entry["arch"]), command
                    target_for(args.arch)
                    recipe, releases = python_for(args.python)
                    assert releases and target_for(args.arch).triple == entry["triple"]
                if args.command == "build":
                    assert args.backend == backend, f"{name}: a {backend} job builds with --backend {args.backend}"
                    variants = recipe.variant_options(split_abiflags(args.python)[1], names=args.variant)
                    recipe.choose_options(args.arch, add=(*variants, *args.with_options))
                checked += 1
    assert checked > len(matrix.entries())


def test_artifacts_pass_between_the_jobs_by_name_and_path():
    """What GitHub cannot be asked about here: every artifact a job downloads
    is one an earlier job of its needs uploads, by the same name, and none
    lies under a hidden directory, which upload-artifact leaves out."""
    def artifacts(job, action):
        return [step["with"] for step in job["steps"] if step.get("uses", "").startswith(f"actions/{action}@")]
    all_jobs = jobs(RELEASE)
    for name, job in all_jobs.items():
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        uploaded = {a["name"] for need in needs for a in artifacts(all_jobs[need], "upload-artifact")}
        for download in artifacts(job, "download-artifact"):
            if "pattern" in download:
                assert any(re.fullmatch(download["pattern"].replace("*", ".*"), n) for n in uploaded), name
            else:
                assert download["name"] in uploaded, f"{name} downloads {download['name']}, which no need uploads"
        for upload in artifacts(job, "upload-artifact"):
            for path in upload["path"].split():
                assert not any(part.startswith(".") for part in Path(path).parts), f"{name}: {path} is hidden"
    released = [a["name"] for job in all_jobs.values() for a in artifacts(job, "upload-artifact")
                if a["name"].startswith("cpython-")]
    assert {n.split("${{")[0] for n in released} == {"cpython-"} and len(released) == 2  # build-host, verify-container


def test_the_verify_step_takes_the_distributions_and_not_the_profile(tmp_path):
    """`build.py verify dist` verifies each distribution archive; given a PGO
    profile it would exit 2, which had failed every PGO job (ebdb71f)."""
    from musl_cpython.verify import distributions
    stem = "cpython-3.13.15+20261121-x86_64-unknown-linux-musl"
    names = ["install_only.tar.gz", "install_only_stripped.tar.gz", "pgo+lto-full.tar.zst", "pgo-profile.tar.zst",
             "install_only.tar.gz.verify.json"]
    for name in names:
        (tmp_path / f"{stem}-{name}").write_bytes(b"")
    (tmp_path / "SHA256SUMS").write_text("")
    assert [p.name for p in distributions([tmp_path])] == [f"{stem}-{name}" for name in sorted(names[:3])]
    assert ".venv/bin/python build.py verify dist" in [c for _, c in run_lines(jobs(RELEASE)["verify-container"], {
        key: "" for key in release_matrices()["container"][0]})]


@pytest.mark.e2e
def test_the_host_build_job_runs_here(tmp_path):
    """The build-host job's run: steps, verbatim, for the x86_64 3.13 entry of
    the matrix job's host output (x86_64 releases are built as the README
    builds them), in a copy of this checkout (this machine is the job's
    Debian 12, as root); then the release job's index step. The artifacts
    come from the shared cache where earlier builds left them."""
    work = tmp_path / "checkout"
    shutil.copytree(REPO, work, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", "ci-cache"))
    (work / ".venv").symlink_to(REPO / ".venv")  # bootstrap's pip installs find everything in place
    output = tmp_path / "github-output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output)}

    def run(commands):
        for step, command in commands:
            result = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", command],
                                    cwd=work, env=env, capture_output=True, text=True)
            assert result.returncode == 0, f"{step}: {command}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"

    run(run_lines(jobs(RELEASE)["matrix"], {}))
    written = {key: json.loads(value)["include"] for key, value in
               (line.split("=", 1) for line in output.read_text().splitlines())}
    [entry] = [e for e in written["host"] if (e["minor"], e["arch"], e["variant"]) == ("3.13", "x86_64", "")]
    run(run_lines(jobs(RELEASE)["build-host"], entry))
    dist = work / "dist"
    archives = sorted(p.name for p in dist.iterdir() if not p.name.endswith(".verify.json"))
    kinds = ["install_only.tar.gz", "install_only_stripped.tar.gz", "pgo+lto-full.tar.zst", "pgo-profile.tar.zst"]
    assert [name.split(f"-{entry['triple']}-")[1] for name in archives] == kinds
    for name in archives[:3]:
        summary = json.loads((dist / f"{name}.verify.json").read_text())["summary"]
        assert summary["failed"] == 0 and summary["passed"] > 40, (name, summary)

    run([line for line in run_lines(jobs(RELEASE)["release"], entry) if not line[1].startswith(PUBLISH)])
    sums = (dist / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split("  ")[1] for line in sums) == archives
    metadata = json.loads((dist / "download-metadata.json").read_text())
    base = f"{GITHUB['server_url']}/{GITHUB['repository']}/releases/download/{GITHUB['ref_name']}/"
    assert [e["url"] for e in metadata.values()] == [base + archives[1].replace("+", "%2B")]
