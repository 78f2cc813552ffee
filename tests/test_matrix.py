import json
import subprocess
import sys

from musl_cpython import REPO, matrix
from musl_cpython.python_recipes import load_pythons
from musl_cpython.recipes import load_targets


def test_matrix_json_drives_ci():
    out = subprocess.run([sys.executable, "build.py", "matrix", "--json"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    include = json.loads(out)["include"]
    pythons, targets = load_pythons(), load_targets()
    plain = [e for e in include if not e["variant"]]
    assert len(plain) == len(pythons) * len(targets)
    assert {(e["minor"], e["arch"]) for e in plain} == {(m, a) for m in pythons for a in targets}
    # Every variant where its versions allow, asked for as uv spells it.
    assert {(e["minor"], e["arch"], e["python"]) for e in include if e["variant"] == "freethreaded"} == {
        (m, a, pythons[m].releases[0].version + "t") for m in pythons if m not in ("3.9", "3.10", "3.11", "3.12")
        for a in targets}
    assert {(e["minor"], e["arch"]) for e in include if e["variant"] == "debug"} == {
        (m, a) for m in pythons if m not in ("3.9", "3.10") for a in targets}
    for entry in include:
        recipe = pythons[entry["minor"]]
        assert entry["python"].rstrip("td") == recipe.releases[0].version  # the newest pin
        target = targets[entry["arch"]]
        assert (entry["triple"], entry["runner"], entry["docker_platform"]) == (
            target.triple, target.runner, target.docker_platform)
        # Alpine only on a runner of the arch itself without a pinned PGO compiler; the host path elsewhere.
        native = matrix.RUNNER_MACHINES[target.runner] == entry["arch"]
        assert entry["backend"] == ("container" if native and not target.gcc_debs else "host")
    assert {e["backend"] for e in include if e["arch"] == "aarch64"} == {"container"}
    # x86_64 is built as the README builds it, so its published bytes can be rebuilt by anyone.
    assert {e["backend"] for e in include if e["arch"] in ("x86_64", "s390x")} == {"host"}
    # The release workflow's jobs take one list per backend (tests/test_workflows.py runs them).
    workflow = (REPO / ".github" / "workflows" / "release.yml").read_text()
    assert "build.py matrix --github-output" in workflow
    for backend in ("host", "container"):
        assert f"fromJSON(needs.matrix.outputs.{backend})" in workflow and f"--backend {backend}" in workflow


def test_unknown_version_or_arch_in_a_matrix_build_is_refused_before_building():
    for args in (["--python", "2.7"], ["--arch", "sparc"]):
        result = subprocess.run([sys.executable, "build.py", "build", *args, "--arch" if "--python" in args
                                 else "--python", "all"], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        assert "known" in result.stderr


def test_summary_table():
    rows = [matrix.Row("3.13.15", "x86_64", "ok", 59.8, 17.9, "99 passed, 0 failed, 0 skipped (3 archives)"),
            matrix.Row("3.12", "x86_64", "source unavailable")]
    assert matrix.table(rows).splitlines() == [
        "version  arch    status              stripped MiB  minutes  verification",
        "3.13.15  x86_64  ok                  59.8          17.9     99 passed, 0 failed, 0 skipped (3 archives)",
        "3.12     x86_64  source unavailable  -             -        -",
    ]


def test_a_targets_release_options_go_to_the_jobs_whose_builds_take_them():
    """--with NAME goes only where the build accepts it by name (PGO from 3.10,
    never with the debug variant), so no release job asks for what its build refuses."""
    import dataclasses
    armv7 = dataclasses.replace(load_targets()["armv7"], release_options=("pgo",))
    pythons = load_pythons()
    assert matrix.release_options(pythons["3.13"], armv7, "") == ["pgo"]
    assert matrix.release_options(pythons["3.13"], armv7, "freethreaded") == ["pgo"]
    assert matrix.release_options(pythons["3.13"], armv7, "debug") == []
    assert matrix.release_options(pythons["3.9"], armv7, "") == []
    for entry in matrix.entries():
        target = load_targets()[entry["arch"]]
        assert entry["options"] == " ".join(
            f"--with {name}" for name in matrix.release_options(pythons[entry["minor"]], target, entry["variant"]))
        if "pgo" in target.release_options and entry["backend"] == "host":
            assert target.cross_gcc, f"{entry['arch']}: a PGO cross build needs cross_gcc"
    workflow = (REPO / ".github" / "workflows" / "release.yml").read_text()
    assert workflow.count('--out dist ${{ matrix.options }}') == 2  # the Alpine build and the cross build
