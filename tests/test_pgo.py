"""PGO builds: the profiling compiler (Debian's GCC with musl's specs), and
which builds get PGO at all."""
import platform
import subprocess
from pathlib import Path

import pytest

from musl_cpython import elf, metadata, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.recipes import python_for, target_for

PROGRAM = (Path(__file__).parent / "fixtures" / "pgo_loop.c").read_text()

needs_x86_64 = pytest.mark.skipif(platform.machine() != "x86_64",
                                  reason=f"Debian's musl-gcc targets the host's arch; this host is {platform.machine()}")


@pytest.fixture(scope="module")
def gcc(tmp_path_factory):
    ctx = Context(build_dir=tmp_path_factory.mktemp("pgo"), cache_dir=default_cache_dir())
    x86_64 = target_for("x86_64")
    zig = toolchain.prepare(ctx, x86_64)
    recipe, _ = python_for("3.13")
    return toolchain.for_cpython(ctx, x86_64, zig, recipe.profile_guided("x86_64"))


@needs_x86_64
def test_pgo_builds_use_gcc_with_musl(gcc):
    assert gcc.kind.name == "musl-gcc"
    # CPython's configure compares this with the platform triplet; Debian's GCC would say x86_64-linux-gnu.
    answer = subprocess.run([gcc.cc, "--print-multiarch"], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "x86_64-linux-musl"


@needs_x86_64
def test_instrumented_program_writes_a_profile_that_the_optimised_build_uses(gcc, tmp_path):
    source = tmp_path / "loop.c"
    source.write_text(PROGRAM)
    env = gcc.environment(0)
    compile_ = [gcc.cc, *gcc.cflags, "-O2", "-flto", str(source), "-o"]
    subprocess.run([*compile_, str(tmp_path / "loop"), "-fprofile-generate"], check=True, cwd=tmp_path, env=env)
    assert elf.read(tmp_path / "loop").needed == ("libc.so",)  # musl's, not glibc's libc.so.6
    out = subprocess.run([str(tmp_path / "loop")], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split()[1] == "1"  # MFD_CLOEXEC, from the Linux headers the wrapper adds
    profiles = list(tmp_path.glob("*.gcda"))
    assert profiles, "the instrumented program wrote no .gcda profile"
    # GCC warns when -fprofile-use finds no profile; with -Werror that fails the build.
    (tmp_path / "loop").rename(tmp_path / "loop-instrumented")
    result = subprocess.run([*compile_, str(tmp_path / "loop"), "-fprofile-use", "-Werror=missing-profile"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


def test_cross_builds_drop_pgo_and_say_so_in_the_archive_name():
    recipe, _ = python_for("3.13")
    for arch in ("aarch64", "s390x", "x86_64"):
        here = platform.machine() == arch
        assert (recipe.configure_for(arch)[-1] == "--disable-optimizations") is not here
        assert metadata.build_options(recipe, arch).startswith("pgo+") is here
        assert recipe.profile_guided(arch) is here


def test_a_zig_toolchain_without_pgo_stays_as_it_is(tools):
    assert toolchain.for_cpython(None, tools.target, tools, profile_guided=False) is tools
