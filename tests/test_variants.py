"""Variants (free-threaded, debug): how they are asked for, what they fold
into a build, and the names their archives get. The builds themselves are in
test_end_to_end.py."""
import subprocess
import sys

import pytest

from musl_cpython import REPO, pipeline
from musl_cpython.errors import UsageError
from musl_cpython.names import ArchiveName
from musl_cpython.package import archive_names
from musl_cpython.python_recipes import load_pythons, split_abiflags
from musl_cpython.recipes import target_for

TAG = "20261201"


@pytest.mark.parametrize("spec, split", [("3.13t", ("3.13", "t")), ("3.13.15td", ("3.13.15", "td")),
                                         ("3.13", ("3.13", "")), ("all", ("all", ""))])
def test_uv_spelling_puts_the_abi_flags_after_the_version(spec, split):
    assert split_abiflags(spec) == split


def test_3_13t_and_the_variant_name_ask_for_the_same_option():
    recipe = load_pythons()["3.13"]
    assert recipe.variant_options("t") == recipe.variant_options("", ["freethreaded"]) == ("freethreaded",)
    assert recipe.variant_options("td") == recipe.variant_options("", ["debug+freethreaded"]) == (
        "freethreaded", "debug")
    assert recipe.variant_abiflags("debug+freethreaded") == "td"


def test_a_free_threaded_build_folds_in_disable_gil_and_names_its_archives_as_pbs_does():
    recipe = load_pythons()["3.13"]
    folded = pipeline.with_build_options(recipe, target_for("x86_64"), add=("freethreaded",))
    assert "--disable-gil" in folded.configure and folded.abiflags == "t" and folded.variant == "freethreaded"
    assert folded.stdlib_dir(folded.abiflags) == "python3.13t"
    names = [str(name) for name in archive_names(folded, "3.13.15", target_for("x86_64"), TAG)]
    assert names == [f"cpython-3.13.15+{TAG}-x86_64-unknown-linux-musl-freethreaded-install_only.tar.gz",
                     f"cpython-3.13.15+{TAG}-x86_64-unknown-linux-musl-freethreaded-install_only_stripped.tar.gz",
                     f"cpython-3.13.15+{TAG}-x86_64-unknown-linux-musl-freethreaded+pgo+lto-full.tar.zst"]
    assert [ArchiveName.parse(name).variant for name in names] == ["freethreaded"] * 3
    assert recipe.variant_abiflags("freethreaded") == "t"


def test_a_debug_build_leaves_pgo_out_unless_both_are_asked_for_which_is_an_error():
    recipe = load_pythons()["3.13"]
    folded = pipeline.with_build_options(recipe, target_for("x86_64"), add=("debug",))
    assert "pgo" not in folded.enabled_options and not folded.profile_guided("x86_64")
    assert folded.configure[-2:] == ("--with-pydebug", "--without-lto") and folded.abiflags == "d"
    # zig links a build without PGO, and it keeps the executable's own objects (with compiler_rt's copies local).
    assert folded.executable_objects == ("memory-routines.c", "malloc-override.c")
    assert folded.stdlib_dir(folded.abiflags) == "python3.13"
    names = [str(name) for name in archive_names(folded, "3.13.15", target_for("x86_64"), TAG)]
    assert names[2] == f"cpython-3.13.15+{TAG}-x86_64-unknown-linux-musl-debug-full.tar.zst"
    with pytest.raises(UsageError, match="build option 'debug' cannot be built with 'pgo'"):
        recipe.choose_options("x86_64", add=("debug", "pgo"))
    both = pipeline.with_build_options(recipe, target_for("x86_64"), add=("freethreaded", "debug"))
    assert both.abiflags == "td" and both.variant == "freethreaded+debug"
    assert str(archive_names(both, "3.13.15", target_for("x86_64"), TAG)[2]).endswith("-freethreaded+debug-full.tar.zst")


def build_py(*arguments):
    return subprocess.run([sys.executable, REPO / "build.py", *arguments], capture_output=True, text=True)


# build and reproduce take a variant the same two ways; neither starts building on a bad one.
COMMANDS = [("build", "--no-verify"), ("reproduce",)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_variant_the_version_lacks_is_exit_code_2_naming_the_versions_that_have_it(command, tmp_path):
    command = (*command, "--build-dir", str(tmp_path))
    result = build_py(*command, "--python", "3.11t")
    assert result.returncode == 2
    assert "build option 'freethreaded' does not apply to Python 3.11 for x86_64; it applies to Python >=3.13" \
        in result.stderr
    result = build_py(*command, "--python", "3.11", "--variant", "freethreaded")
    assert result.returncode == 2 and "it applies to Python >=3.13" in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unknown_variant_or_abi_flag_is_exit_code_2_listing_the_variants(command, tmp_path):
    command = (*command, "--build-dir", str(tmp_path))
    result = build_py(*command, "--python", "3.13", "--variant", "turbo")
    assert result.returncode == 2
    assert "unknown variant 'turbo'; variants: freethreaded, debug" in result.stderr
    result = build_py(*command, "--python", "3.13x")
    assert result.returncode == 2 and "unknown ABI flag 'x'" in result.stderr and "t (freethreaded)" in result.stderr
