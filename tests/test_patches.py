"""Every patch of every recipe applies, in order, to every pinned CPython
source that can be obtained here."""
import re
import tarfile

import pytest

from conftest import pinned_source

from musl_cpython import patching
from musl_cpython.python_recipes import load_pythons

RELEASES = [(recipe, release) for recipe in load_pythons().values() for release in recipe.releases]


def test_every_patch_has_a_header_saying_what_why_and_scope():
    for recipe in load_pythons().values():
        for patch in recipe.patch_paths():
            header = patch.read_text().split("\n--- ", 1)[0]
            for field in ("What:", "Why:", "Scope:"):
                assert field in header, f"{patch}: no {field} in the header"


@pytest.mark.parametrize("recipe, release", RELEASES, ids=[release.version for _, release in RELEASES])
def test_patches_apply_to_the_pinned_source(recipe, release, tmp_path):
    archive = pinned_source(release, tmp_path)
    patched = {re.sub(r"^b/", "", line.split()[1])
               for patch in recipe.patch_paths() for line in patch.read_text().splitlines()
               if line.startswith("+++ ")}
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/", 1)[-1] in patched]
        tar.extractall(tmp_path / "src", members=members, filter="data")
    assert {m.name.split("/", 1)[-1] for m in members} == patched
    src = next((tmp_path / "src").iterdir())
    applied = patching.apply(recipe.patches, src, f"CPython {release.version}", tmp_path / "patch.log")
    assert applied == [f"patches/{name}" for name in recipe.patches]
