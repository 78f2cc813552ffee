import os
from pathlib import Path

import pytest

from musl_cpython import cpython, patching, stdlib_modules
from musl_cpython.errors import BuildError
from musl_cpython.python_recipes import load_pythons


@pytest.mark.parametrize("path", ["/b", "/work/main/build/work/x86_64/cpython-3.13.15/sysroot/prefix/lib"])
def test_build_runpath_has_the_same_length_wherever_the_build_runs(path):
    padded = cpython.fixed_length(Path(path))
    assert len(padded) == cpython.RPATH_LENGTH and os.path.normpath(padded) == path


def test_build_directory_too_long_for_reproducible_builds():
    with pytest.raises(BuildError, match="too long"):
        cpython.fixed_length(Path("/" + "x" * 1000))


def test_module_states_come_from_the_makefile(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("MODULE__SSL_STATE=yes\nMODULE__TKINTER_STATE=missing\nMODULE_NIS_STATE=n/a\n")
    assert stdlib_modules.module_states(makefile) == {"_ssl": "yes", "_tkinter": "missing", "nis": "n/a"}


def test_a_patch_that_does_not_apply_is_named_with_the_version(tmp_path):
    recipe = load_pythons()["3.13"]
    (tmp_path / "Misc").mkdir()
    (tmp_path / "Misc" / "platform_triplet.c").write_text("unrelated\n")
    with pytest.raises(BuildError) as e:
        patching.apply(recipe.patches, tmp_path, "CPython 3.13.99", tmp_path / "patch.log")
    assert "musl-triplet-in-platform-triplet-c.patch" in str(e.value) and "3.13.99" in str(e.value)


def test_setup_py_reports_give_the_modules_it_did_not_build():
    log = """running build_ext
The necessary bits to build these optional modules were not found:
_tkinter              nis                   readline
To find the necessary bits, look in setup.py in detect_modules() for the module's name.


The following modules found by detect_modules() in setup.py, have been
built by the Makefile instead, as configured by the Setup files:
_abc                  atexit                pwd

Failed to build these modules:
ossaudiodev

running build_scripts
"""
    assert stdlib_modules.setup_py_states(log) == {"_tkinter": "missing", "nis": "missing", "readline": "missing",
                                            "ossaudiodev": "failed"}


def test_regrtest_failures_are_named_per_test_in_either_spelling(tmp_path):
    from musl_cpython import stdlib_tests
    output = ("ERROR: test_load_cert_chain (test.test_ssl.ContextTests)\n"
              "FAIL: test_cadata (test.test_ssl.ContextTests.test_cadata)\n"
              "ERROR: test_sysconfig (test.test_venv.BasicTest.test_sysconfig) [get_default_scheme()]\n"
              "ERROR: test_sysconfig (test.test_venv.BasicTest.test_sysconfig) [is_python_build()]\n")
    counts = stdlib_tests._counts(tmp_path / "no-report.xml", output)
    assert sorted(counts["failures"]) == ["test.test_ssl.ContextTests.test_cadata",
                                          "test.test_ssl.ContextTests.test_load_cert_chain",
                                          "test.test_venv.BasicTest.test_sysconfig"]
    assert counts["failed"] == 3
