import re

import pytest

from musl_cpython import toolchain

from musl_cpython.errors import UsageError
from musl_cpython.python_recipes import PATCHES, load_pythons, python_for
from musl_cpython.recipes import dependency_closure, load_dependencies, load_project, load_targets, target_for

SPDX = re.compile(r"^[A-Za-z0-9.+-]+$")


def test_every_dependency_is_pinned_and_licensed():
    deps = load_dependencies()
    assert {"zlib", "bzip2", "xz", "libffi", "openssl", "sqlite", "ncurses", "libedit",
            "mpdecimal", "expat", "libuuid", "gdbm", "zstd"} <= set(deps)
    for dep in deps.values():
        assert dep.licenses and all(SPDX.match(lic) for lic in dep.licenses), dep.name
        assert dep.modules or dep.executable_object, f"{dep.name}: which stdlib modules need it?"
        for src in dep.sources:
            assert src.url or src.debian, f"{dep.name}: {src.file} has nowhere to come from"
            if src.debian:
                assert src.note, f"{dep.name}: say how Debian's file relates to upstream"


def test_what_build_options_and_dependencies_name_exists():
    deps = load_dependencies()
    for recipe in load_pythons().values():
        for name, option in recipe.options.items():
            assert set(option.depends) <= set(deps), f"{recipe.minor}: option {name!r} depends on an unknown library"
    for dep in deps.values():
        for patch in dep.patches:
            header = (PATCHES / patch).read_text().split("\n--- ", 1)[0]
            assert all(field in header for field in ("What:", "Why:", "Scope:")), f"{dep.name}: {patch}"


def test_targets_carry_every_name_a_build_needs():
    for arch, target in load_targets().items():
        assert target.triple.startswith(arch) and "linux-musl" in target.triple
        # musl names its loader for its own arch name (armhf, i386, powerpc64le...),
        # which the Debian package for the arch provides (tests/test_emulation.py runs it).
        assert re.fullmatch(r"/lib/ld-musl-[a-z0-9_]+\.so\.1", target.musl_loader)
        assert target.zig_target.endswith("-linux-musl") or "musleabi" in target.zig_target
        assert target.autoconf_host.split("-")[1:] == target.zig_target.split("-")[1:]
        assert target.debian_arch and target.byteorder in ("little", "big")


def test_targets_that_name_a_profiling_compiler_name_what_it_reads():
    # The kernel headers are zig's, which must have the directory named; a
    # pinned GCC comes whole from one suite, with the musl-dev it compiles against.
    zig_headers = toolchain.zig_executable(load_project().toolchain.version).parent / "lib" / "libc" / "include"
    targets = load_targets()
    assert targets["x86_64"].gcc_debs
    for arch, target in targets.items():
        if target.gcc_debs or target.cross_gcc:
            assert (zig_headers / target.zig_kernel_headers).is_dir(), arch
            assert target.zig_kernel_headers.endswith("-linux-any"), arch
            assert re.fullmatch(r"[0-9a-f]{64}", target.musl_dev_deb_sha256), arch
        if target.gcc_debs:
            assert target.gcc_suite, arch
            packages = {deb.package for deb in target.gcc_debs}
            assert {"cpp-12", "libgcc-12-dev", "binutils", "libisl23", "libmpc3", "libmpfr6"} <= packages, arch
            for deb in target.gcc_debs:
                assert re.fullmatch(r"[0-9a-f]{64}", deb.sha256), (arch, deb.package)


def test_python_recipes_name_existing_patches_and_their_why():
    for recipe in load_pythons().values():
        for patch in recipe.patch_paths():
            text = patch.read_text()
            assert text.startswith("What:") and "\nWhy:" in text, patch
            assert "\n--- a/" in text
        assert set(recipe.depends) <= set(load_dependencies())


def test_version_specs():
    recipe, releases = python_for("3.13")
    assert [r.version for r in releases] == sorted((r.version for r in releases),
                                                   key=lambda v: tuple(map(int, v.split("."))),
                                                   reverse=True)
    _, exact = python_for("3.13.15")
    assert [r.version for r in exact] == ["3.13.15"]
    for bad in ("3.7", "3.13.99", "three"):
        with pytest.raises(UsageError) as e:
            python_for(bad)
        assert e.value.exit_code == 2 and "3.13" in str(e.value)


def test_unknown_arch_lists_known_ones():
    with pytest.raises(UsageError) as e:
        target_for("vax")
    assert e.value.exit_code == 2 and "x86_64" in str(e.value)


def test_dependency_order_puts_libraries_before_their_users():
    order = [d.name for d in dependency_closure(["libedit"], load_dependencies())]
    assert order == ["ncurses", "libedit"]


def test_project_settings():
    project = load_project()
    assert project.source_date_epoch > 0 and project.build_tag
    flags = " ".join(project.toolchain.ldflags)
    for flag in ("relro", "now", "noexecstack", "stack-size"):
        assert flag in flags
    assert PATCHES.is_dir()


# A recipe that says something the schema does not allow stops the run with
# exit code 2 and names the file and the key.

@pytest.fixture
def recipes_copy(tmp_path, monkeypatch):
    import shutil

    from musl_cpython import recipes
    copy = tmp_path / "recipes"
    shutil.copytree(recipes.RECIPES, copy)
    monkeypatch.setattr(recipes, "RECIPES", copy)
    return copy


def prepend(path, text):
    path.write_text(text + path.read_text())


@pytest.mark.parametrize("file, text, key", [
    ("targets/x86_64.toml", 'musl_loadr = "/lib/ld-musl-x86_64.so.1"\n', "'musl_loadr'"),
    ("deps/zlib.toml", 'licence = "Zlib"\n', "'licence'"),
    ("deps/zlib.toml", '[build.extra]\nx = 1\n', "'build.extra'"),
    ("python/3.13.toml", 'stripped = {dorp = ["test"]}\n', "'stripped.dorp'"),
    ("python/common.toml", 'configur = []\n', "'configur'"),
    ("project.toml", 'build_tgg = "x"\n', "'build_tgg'"),
])
def test_a_misspelt_key_names_the_file_and_the_key(recipes_copy, file, text, key):
    from musl_cpython.errors import RecipeError
    prepend(recipes_copy / file, text)
    with pytest.raises(RecipeError) as e:
        load_project(), load_targets(), load_dependencies(), load_pythons()
    assert f"recipes/{file}" in str(e.value) and key in str(e.value)
    assert e.value.exit_code == 2


def test_a_value_of_the_wrong_type_is_named(recipes_copy):
    from musl_cpython.errors import RecipeError
    path = recipes_copy / "targets" / "aarch64.toml"
    path.write_text(path.read_text().replace('native_on = ["aarch64"]', 'native_on = "aarch64"'))
    with pytest.raises(RecipeError, match=r"recipes/targets/aarch64.toml: native_on must be an array"):
        load_targets()


def test_version_ranges_in_common_apply_to_their_versions_only():
    pythons = load_pythons()
    assert "libedit" not in pythons["3.9"].depends and "libedit" in pythons["3.10"].depends
    assert "zstd" in pythons["3.14"].depends and "zstd" not in pythons["3.13"].depends
    assert "nis" in pythons["3.12"].missing_modules and "nis" not in pythons["3.13"].missing_modules
    assert "test_sqlite" in pythons["3.10"].stdlib_tests.modules
    assert "test_sqlite3" in pythons["3.11"].stdlib_tests.modules
    assert pythons["3.11"].cflags[-1] == "-D_RL_FUNCTION_TYPEDEF"  # 3.11.toml's own, after common's
    # [may_be_absent] includes what [missing_modules] says, without saying it twice.
    assert "readline" in pythons["3.9"].absent_allowed() and "readline" not in pythons["3.10"].absent_allowed()


@pytest.mark.parametrize("item, message", [
    ('{value = "x", python = "3.9"}', "python = '3.9' is not a version range"),
    ('{value = "x", python = ">=3.9", extra = 1}', "a version-ranged item has `python` and one of"),
    ('{python = ">=3.9"}', "a version-ranged item has `python` and one of"),
])
def test_bad_version_ranges_are_named(recipes_copy, item, message):
    from musl_cpython.errors import RecipeError
    path = recipes_copy / "python" / "common.toml"
    path.write_text(path.read_text().replace('license_files = ["LICENSE"]', f'license_files = ["LICENSE", {item}]'))
    with pytest.raises(RecipeError, match=rf"recipes/python/common.toml: license_files\[1\]: {message}"):
        load_pythons()


def test_build_options_are_chosen_by_name_and_fold_into_the_recipe():
    recipe = load_pythons()["3.13"]
    on_by_default = ("pgo", "static-interpreter", "memory-routines", "process-allocator", "builtin-modules")
    assert recipe.choose_options("x86_64") == on_by_default
    # From 3.13 the process allocator needs the static interpreter (its requires), so it goes too.
    assert recipe.choose_options("x86_64", remove=("static-interpreter",)) == tuple(
        name for name in on_by_default if name not in ("static-interpreter", "process-allocator"))
    # pgo: 3.10 and later; built-in modules: 3.11 and later.
    assert load_pythons()["3.9"].choose_options("x86_64") == ("static-interpreter", "memory-routines",
                                                              "process-allocator")
    folded = recipe.with_options(("static-interpreter",))
    assert folded.make == ("LINK_PYTHON_OBJS=$(LIBRARY_OBJS)", "LINK_PYTHON_DEPS=$(LIBRARY_OBJS)",
                           "PYTHON_FOR_BUILD_DEPS=$(BUILDPYTHON) $(LIBRARY_DEPS)") and folded.enabled_options == ("static-interpreter",)
    assert load_pythons()["3.9"].with_options(("static-interpreter",)).make == ("BLDLIBRARY=$(LIBRARY_OBJS)",)
    assert recipe.with_options(()).make == ()


def test_an_unknown_or_inapplicable_option_is_a_usage_error(recipes_copy):
    import dataclasses

    from musl_cpython.python_recipes import BuildOption
    recipe = load_pythons()["3.13"]
    with pytest.raises(UsageError, match="unknown build option 'turbo'; options for Python 3.13: pgo, static-interpreter"):
        recipe.choose_options("x86_64", add=("turbo",))
    narrow = dataclasses.replace(recipe, options={"bolt": BuildOption(why="x", default=False, versions=">=3.14",
                                                                      arches=("x86_64",))})
    with pytest.raises(UsageError, match="'bolt' does not apply to Python 3.13 for aarch64; it applies to "
                                         "Python >=3.14 on arches x86_64") as e:
        narrow.choose_options("aarch64", add=("bolt",))
    assert e.value.exit_code == 2
    assert narrow.choose_options("aarch64") == ()  # off by default, and asked for by no one


def test_list_names_every_pinned_release_and_where_its_source_can_come_from():
    import subprocess
    import sys

    from musl_cpython import REPO
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "list"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for recipe in load_pythons().values():
        for release in recipe.releases:
            line = re.search(rf"^  {re.escape(recipe.minor)} +{re.escape(release.version)} +(.+)$", result.stdout, re.M)
            assert line, f"{release.version} not listed"
            assert line.group(1).split()[0] in ("cache", "mirror", "debian", "upstream", "not"), line.group(0)
    assert re.search(r"^  3\.15 +3\.15\.\d+ ", result.stdout, re.M)
