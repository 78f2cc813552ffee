"""The builtin-modules option: which standard-library extension modules are
built into libpython, read against every pinned CPython source (3.11 and
later) that can be obtained here. The build itself is proved by
verification's stdlib.builtin_modules check on a build with the option."""
from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

import pytest

from conftest import keyed_job, pinned_source

from musl_cpython import cpython, stdlib_modules
from musl_cpython.errors import BuildError, UsageError
from musl_cpython.python_recipes import load_pythons
from musl_cpython.recipes import load_project, load_targets

OPTION = "builtin-modules"
RELEASES = [(recipe, release) for recipe in load_pythons().values() for release in recipe.releases
            if recipe.options[OPTION].applies(recipe.minor)]


def setup_stdlib_in(release, tmp_path: Path) -> Path:
    """The release's source tree holding just Modules/Setup.stdlib.in."""
    archive = pinned_source(release, tmp_path)
    with tarfile.open(archive) as tar:
        [member] = [m for m in tar.getmembers() if m.name.split("/", 1)[-1] == "Modules/Setup.stdlib.in"]
        tar.extractall(tmp_path / "src", members=[member], filter="data")
    return next((tmp_path / "src").iterdir())


@pytest.mark.parametrize("recipe, release", RELEASES, ids=[release.version for _, release in RELEASES])
def test_every_module_of_the_source_is_built_in_or_has_a_reason_to_stay_shared(recipe, release, tmp_path):
    src = setup_stdlib_in(release, tmp_path)
    folded = recipe.with_options((OPTION,))
    listed = set(stdlib_modules.stdlib_rules(src, release.version))
    unexplained = listed - set(folded.builtin_modules) - set(recipe.shared_modules)
    assert not unexplained, f"{release.version}: neither built in nor in [shared_modules]: {sorted(unexplained)}"
    assert set(folded.builtin_modules) <= listed
    setup_local = stdlib_modules.setup_local(src, folded.builtin_modules, release.version)
    rules = setup_local.split("*static*\n", 1)[1].splitlines()
    assert [rule.split()[0] for rule in rules] == sorted(folded.builtin_modules)
    assert "_pickle _pickle.c" in rules and "_json _json.c" in rules
    # A module whose rule the release does not have is named, not left out.
    with pytest.raises(BuildError, match=f"CPython {release.version}: Modules/Setup.stdlib.in has no rule "
                                         "for _nosuch"):
        stdlib_modules.setup_local(src, {**folded.builtin_modules, "_nosuch": "test"}, release.version)


def test_no_module_stays_shared_that_the_option_builds_in_and_bundled_libraries_stay_out():
    for recipe in load_pythons().values():
        built_in = set(recipe.options[OPTION].builtin_modules)
        assert not built_in & set(recipe.shared_modules)
        for dep_module in ("_ssl", "_hashlib", "_sqlite3", "_ctypes", "_curses", "readline", "zlib", "_bz2",
                           "_lzma", "_decimal", "pyexpat", "_uuid", "_gdbm", "binascii"):
            assert dep_module not in built_in, f"{recipe.minor}: {dep_module} links a bundled library"


def test_asking_for_it_where_it_cannot_apply_names_the_version():
    for minor in ("3.9", "3.10"):
        recipe = load_pythons()[minor]
        with pytest.raises(UsageError, match=f"build option 'builtin-modules' does not apply to Python {minor} "
                                             "for x86_64; it applies to Python >=3.11"):
            recipe.choose_options("x86_64", add=(OPTION,))


def test_it_is_on_by_default_on_every_arch_and_only_builds_with_it_carry_it_in_their_key():
    recipe = load_pythons()["3.13"]
    assert all(OPTION in recipe.choose_options(arch) for arch in load_targets())
    plain = recipe.with_options(recipe.choose_options("x86_64", remove=(OPTION,)))
    with_modules = recipe.with_options(recipe.choose_options("x86_64"))
    assert plain.builtin_modules == {} and "_pickle" in with_modules.builtin_modules
    job, project = keyed_job(plain), load_project()
    assert "builtin_modules" not in cpython.cache_material(project, job)
    material = cpython.cache_material(project, dataclasses.replace(job, recipe=with_modules))
    assert material["builtin_modules"] == sorted(with_modules.builtin_modules)
