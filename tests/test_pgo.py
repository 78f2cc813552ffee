"""PGO builds: the profiling compiler (Debian's GCC with musl's specs), and
which builds get PGO at all."""
import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from musl_cpython import elf, emulation, metadata, musl, pgo, pinned_gcc, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.python_recipes import python_for
from musl_cpython.recipes import load_targets, target_for

PROGRAM = (Path(__file__).parent / "fixtures" / "pgo_loop.c").read_text()

needs_x86_64 = pytest.mark.skipif(platform.machine() != "x86_64",
                                  reason=f"Debian's musl-gcc targets the host's arch; this host is {platform.machine()}")


@pytest.fixture(scope="module")
def gcc(tmp_path_factory):
    ctx = Context(build_dir=tmp_path_factory.mktemp("pgo"), cache_dir=default_cache_dir())
    x86_64 = target_for("x86_64")
    zig = toolchain.prepare(ctx, x86_64)
    return toolchain.for_cpython(ctx, x86_64, zig, default_recipe("x86_64").profile_guided("x86_64"))


def default_recipe(arch):
    """3.13 with the build options a build for `arch` here gets by default (pgo where it is native)."""
    recipe, _ = python_for("3.13")
    return recipe.with_options(recipe.choose_options(arch))


@needs_x86_64
def test_pgo_builds_use_gcc_with_musl(gcc):
    assert gcc.kind.name == "musl-gcc"
    # CPython's configure compares this with the platform triplet; Debian's GCC would say x86_64-linux-gnu.
    answer = subprocess.run([gcc.cc, "--print-multiarch"], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "x86_64-linux-musl"


@needs_x86_64
def test_the_pgo_compiler_comes_from_its_pinned_packages_and_needs_nothing_of_the_hosts_apt(gcc, tmp_path):
    """With no host program on PATH at all (no gcc, as or ld), the wrapper
    compiles, LTO-links and instruments a program from the pinned tree."""
    root = pinned_gcc.gcc_root(Context(cache_dir=default_cache_dir()), target_for("x86_64"))
    (tmp_path / "loop.c").write_text(PROGRAM)
    result = subprocess.run([gcc.cc, *gcc.cflags, "-O2", "-flto", "-fprofile-generate", "-v", "loop.c", "-o", "loop"],
                            capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/nonexistent", "HOME": "/"})
    assert result.returncode == 0, result.stderr
    # The programs the driver ran (as and ld, by name, can only come from the PATH the wrapper sets).
    programs = [line.split()[0] for line in result.stderr.splitlines()
                if line.startswith(" /") and Path(line.split()[0]).name in ("cc1", "collect2", "lto-wrapper", "lto1")]
    assert {Path(p).name for p in programs} >= {"cc1", "collect2"}, result.stderr[-2000:]
    assert all(Path(program).resolve().is_relative_to(root) for program in programs), programs
    assert subprocess.run([str(tmp_path / "loop")], capture_output=True, cwd=tmp_path).returncode == 0
    assert list(tmp_path.glob("*.gcda"))


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


@needs_x86_64
def test_counts_of_an_instrumented_build_linked_without_lto_serve_the_lto_build(gcc, tmp_path):
    # As a training build compiles (fat LTO objects) and links (pgo.INSTRUMENTED_LINK).
    no_lto = pgo.INSTRUMENTED_LINK.split("=", 1)[1]
    (tmp_path / "loop.c").write_text(PROGRAM)
    env = gcc.environment(0)
    compile_ = [gcc.cc, *gcc.cflags, "-O2", "-flto", "-ffat-lto-objects", "-c", "loop.c", "-o", "loop.o"]
    subprocess.run([*compile_, "-fprofile-generate"], check=True, cwd=tmp_path, env=env)
    subprocess.run([gcc.cc, "-flto", "-fprofile-generate", no_lto, "loop.o", "-o", "loop"], check=True,
                   cwd=tmp_path, env=env)
    subprocess.run(["./loop"], check=True, cwd=tmp_path, capture_output=True)
    assert (tmp_path / "loop.gcda").is_file()
    # A profile that does not fit the objects would fail here (missing-profile,
    # coverage-mismatch), as would one the LTO link could not read.
    for argv in ([*compile_, "-fprofile-use", "-Werror=missing-profile", "-Werror=coverage-mismatch"],
                 [gcc.cc, "-flto", "-fprofile-use", "loop.o", "-o", "loop-optimised"]):
        result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
    assert subprocess.run(["./loop-optimised"], cwd=tmp_path, capture_output=True).returncode == 0


CROSS_ARCHES = sorted(arch for arch, target in load_targets().items() if target.cross_gcc)


@pytest.fixture(scope="module", params=CROSS_ARCHES)
def cross_gcc(request, tmp_path_factory):
    """The profiling cross compiler for an arch (Debian's, with Debian's
    musl-dev for the arch from the cache), as a PGO cross build of CPython
    gets it."""
    target = target_for(request.param)
    if platform.machine() == target.arch:
        pytest.skip(f"{target.arch} is this machine's own arch: its PGO builds use musl-gcc")
    if shutil.which(f"{target.cross_gcc}-gcc") is None:
        pytest.skip(f"{target.cross_gcc}-gcc is missing (./bootstrap.sh installs gcc-{target.cross_gcc})")
    ctx = Context(build_dir=tmp_path_factory.mktemp(f"cross-pgo-{target.arch}"), cache_dir=default_cache_dir())
    zig = toolchain.prepare(ctx, target)
    return ctx, toolchain.for_cpython(ctx, target, zig, profile_guided=True)


def test_a_cross_instrumented_program_trains_under_qemu_and_its_profile_is_used(cross_gcc, tmp_path):
    """What a PGO cross build does, on a small program: compile instrumented
    with the cross GCC, run it under qemu in the target's root, compile again
    with the counts it wrote."""
    ctx, gcc = cross_gcc
    target = gcc.target
    assert gcc.kind.name == "cross-gcc"
    answer = subprocess.run([gcc.cc, "--print-multiarch"], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == target.platform_triplet
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {target.arch} programs: {'; '.join(missing)}")
    (tmp_path / "loop.c").write_text(PROGRAM)
    env = gcc.environment(0)
    compile_ = [gcc.cc, *gcc.cflags, "-O2", "-flto", "-g", "loop.c", "-o", "loop"]
    subprocess.run([*compile_, "-fprofile-generate"], check=True, cwd=tmp_path, env=env)
    program = elf.read(tmp_path / "loop")
    assert program.interp == target.musl_loader and program.needed == ("libc.so",)
    assert program.has_relro and program.bind_now and not program.exec_stack
    sysroot = musl.sysroot(ctx, target)
    assert str(sysroot).encode() not in (tmp_path / "loop").read_bytes()  # mapped to /musl in debug info
    with emulation.runner(ctx, target, [tmp_path]) as runner:
        out = subprocess.run(runner.argv(["./loop"], tmp_path), capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "1"  # MFD_CLOEXEC, from zig's Linux headers for the arch
    assert list(tmp_path.glob("*.gcda")), "the instrumented program wrote no .gcda profile under qemu"
    result = subprocess.run([*compile_, "-fprofile-use", "-Werror=missing-profile"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


PROTECTED = """#include <string.h>
int copy(const char *text) {  /* a char array: -fstack-protector-strong guards it */
    char buffer[16];
    memcpy(buffer, text, strlen(text) + 1);
    return buffer[0];
}
"""
CALLER = """int copy(const char *text);
int main(int argc, char **argv) { return copy(argc > 1 ? argv[1] : "fits") == 'f' ? 0 : 1; }
"""


def test_a_cross_shared_object_with_a_stack_protector_links_and_catches_a_smash(cross_gcc, tmp_path):
    """Position-independent protected code calls what glibc's or Alpine's
    nonshared libraries give every object (i386: __stack_chk_fail_local);
    the compatibility library gives it, hidden, and musl's handler fires."""
    ctx, gcc = cross_gcc
    target = gcc.target
    (tmp_path / "protected.c").write_text(PROTECTED)
    (tmp_path / "caller.c").write_text(CALLER)
    env = gcc.environment(0)
    for argv in ([gcc.cc, *gcc.cflags, "-O2", "-fPIC", "-fstack-protector-strong", "-shared", "protected.c",
                  "-o", "libprotected.so"],
                 [gcc.cc, *gcc.cflags, "-O2", "caller.c", "-o", "caller", "-L.", "-lprotected", "-Wl,-rpath,$ORIGIN"]):
        result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
    library = elf.read(tmp_path / "libprotected.so")
    assert not library.defined & {"__stack_chk_fail_local", "__getauxval", "fcntl64"}  # hidden: not exported
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {target.arch} programs: {'; '.join(missing)}")
    with emulation.runner(ctx, target, [tmp_path]) as runner:
        fits = subprocess.run(runner.argv(["./caller"], tmp_path), capture_output=True, text=True, cwd=tmp_path)
        # Under qemu a crash is qemu raising the signal on itself: a program that
        # was its namespace's PID 1 would never get it and hang (enter-root.sh).
        smash = subprocess.run(runner.argv(["./caller", "f" * 200], tmp_path), capture_output=True, cwd=tmp_path,
                               timeout=120)
    assert fits.returncode == 0, fits.stderr
    assert smash.returncode not in (0, 1), "an overflowed buffer went unnoticed"


def test_a_cross_pgo_build_is_asked_for_by_name_and_needs_a_cross_compiler():
    import dataclasses

    from musl_cpython.errors import UsageError
    from musl_cpython.pipeline import with_build_options
    base, _ = python_for("3.13")
    for arch in ("aarch64", "s390x"):
        if platform.machine() == arch:
            pytest.skip(f"{arch} is this machine's own arch")
    asked = with_build_options(base, target_for("aarch64"), add=("pgo",))
    assert asked.profile_guided("aarch64") and "pgo" in asked.enabled_options
    assert toolchain.cpython_kind(target_for("aarch64"), True).name == "cross-gcc"
    assert metadata.build_options(asked, "aarch64").startswith("pgo+lto")
    assert not with_build_options(base, target_for("aarch64")).profile_guided("aarch64")  # the default: LTO only
    without = dataclasses.replace(target_for("s390x"), cross_gcc="")
    with pytest.raises(UsageError, match=r"s390x .*names none \(cross_gcc\)"):
        with_build_options(base, without, add=("pgo",))


@pytest.mark.parametrize("kind", sorted(toolchain.KINDS))
def test_every_toolchain_kind_is_named_in_python_json(kind):
    from musl_cpython.recipes import load_project
    description = metadata.compiler_description(toolchain.KINDS[kind], target_for("aarch64"), load_project().toolchain)
    assert description and "{" not in description


def test_cross_builds_drop_pgo_and_say_so_in_the_archive_name_and_python_json():
    for arch in ("aarch64", "s390x", "x86_64"):
        recipe = default_recipe(arch)
        here = platform.machine() == arch
        assert ("--enable-optimizations" in recipe.configure_for(arch)) is here
        assert metadata.build_options(recipe, arch).startswith("pgo+") is here
        assert recipe.profile_guided(arch) is here
        # PYTHON.json's build_options_enabled had named pgo for every cross build
        assert ("pgo" in recipe.enabled_options) is here


def test_a_zig_toolchain_without_pgo_stays_as_it_is(tools):
    assert toolchain.for_cpython(None, tools.target, tools, profile_guided=False) is tools


def test_without_pgo_the_build_is_lto_only():
    recipe, _ = python_for("3.13")
    without = recipe.with_options(recipe.choose_options("x86_64", remove=("pgo",)))
    assert not without.profile_guided("x86_64") and metadata.build_options(without, "x86_64") == "lto"


# The profile as a build input (musl_cpython/pgo.py), on a small program and
# on the keys of a real job, without building CPython.

def small_job(tools, **changes):
    import dataclasses

    from musl_cpython.cpython import Job
    from musl_cpython.dependencies import BuiltDependency
    from musl_cpython.recipes import load_dependencies
    recipe, releases = python_for("3.13.15")
    recipe = recipe.with_options(recipe.choose_options("x86_64"))
    zlib = load_dependencies()["zlib"]
    job = Job(recipe, releases[0], target_for("x86_64"), tools, {"zlib": BuiltDependency(zlib, "k" * 64, None)})
    return dataclasses.replace(job, **changes)


def test_the_profile_key_follows_what_the_counts_depend_on(ctx, tools):
    import dataclasses

    from musl_cpython import pgo
    job = small_job(tools)
    key = pgo.key_for(ctx, job)
    assert key == pgo.key_for(ctx, small_job(tools))
    other_task = dataclasses.replace(job.recipe, environment={**job.recipe.environment, "PROFILE_TASK": "-m test_re"})
    assert pgo.key_for(ctx, dataclasses.replace(job, recipe=other_task)) != key
    assert pgo.key_for(ctx, dataclasses.replace(job, recipe=python_for("3.13")[0].with_options(()))) != key
    assert pgo.key_for(ctx, dataclasses.replace(job, toolchain=dataclasses.replace(tools, identity="x"))) != key
    # The profile itself is not part of its own key.
    assert pgo.key_for(ctx, dataclasses.replace(job, profile=object())) == key


@needs_x86_64
def test_a_collected_profile_is_restored_into_another_tree_and_used(gcc, tmp_path, ctx, tools):
    """Train in one directory, collect the counts, compile in another with
    -fprofile-use: what a PGO build with a given profile does."""
    from musl_cpython import pgo
    trained, fresh = tmp_path / "first build dir", tmp_path / "second"
    for tree in (trained, fresh):
        (tree / "sub").mkdir(parents=True)
        (tree / "sub" / "loop.c").write_text(PROGRAM)
    env = gcc.environment(0)
    compile_ = [gcc.cc, *gcc.cflags, "-O2", "sub/loop.c", "-o", "sub/loop"]
    subprocess.run([*compile_, "-fprofile-generate"], check=True, cwd=trained, env=env)
    subprocess.run(["./sub/loop"], check=True, cwd=trained, capture_output=True)
    counts = sorted(trained.rglob("*.gcda"))
    assert counts
    dest = tmp_path / "profiles"
    dest.mkdir()
    for name in ("a", "b"):
        pgo.collect(trained, counts, {"key": "k" * 64, "python": "3.13.15"}, dest / f"{name}.tar.zst", 1763683200)
    assert (dest / "a.tar.zst").read_bytes() == (dest / "b.tar.zst").read_bytes()  # deterministic
    profile = pgo.load(dest / "a.tar.zst")
    assert profile.key == "k" * 64 and profile.manifest["files"] == len(counts)
    profile.restore(fresh)
    assert (fresh / pgo.STAMP).is_file()
    result = subprocess.run([*compile_, "-fprofile-use", "-Werror=missing-profile"], capture_output=True, text=True,
                            cwd=fresh, env=env)
    assert result.returncode == 0, result.stderr


def write_profile(path, key="k" * 64, fmt=1, files=0, **more):
    import io
    import tarfile

    import zstandard
    manifest = json.dumps({"key": key, "format": fmt, "files": files, "python": "3.13.15", **more}).encode()
    raw = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(raw, closefd=False) as stream, \
            tarfile.open(fileobj=stream, mode="w|") as tar:
        info = tarfile.TarInfo("profile/PROFILE.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    path.write_bytes(raw.getvalue())
    return path


@pytest.mark.parametrize("spoil, message", [
    (lambda p: p.write_bytes(b"not zstd at all"), "not a readable PGO profile"),
    (lambda p: p.write_bytes(write_profile(p).read_bytes()[:40]), "not a readable PGO profile"),
    (lambda p: write_profile(p, fmt=99), "a PGO profile of another format"),
])
def test_a_bad_profile_is_one_line_and_exit_code_2(tmp_path, spoil, message):
    from musl_cpython import pgo
    from musl_cpython.errors import UsageError
    path = tmp_path / "cpython-3.13.15+20261121-x86_64-unknown-linux-musl-pgo-profile.tar.zst"
    spoil(path)
    with pytest.raises(UsageError) as e:
        pgo.load(path)
    assert message in str(e.value) and "\n" not in str(e.value) and e.value.exit_code == 2


def test_a_full_archive_gives_its_profile_whatever_its_file_is_called(tmp_path):
    import io
    import tarfile

    import zstandard
    from musl_cpython import pgo
    from musl_cpython.errors import UsageError
    inner = write_profile(tmp_path / "cpython-3.13.15+20261121-x86_64-unknown-linux-musl-pgo-profile.tar.zst")
    raw = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(raw, closefd=False) as stream, \
            tarfile.open(fileobj=stream, mode="w|") as tar:
        tar.addfile(tarfile.TarInfo("python/PYTHON.json"), io.BytesIO())
        tar.add(inner, arcname=f"python/{inner.name}")
    renamed = tmp_path / "downloaded.tar.zst"
    renamed.write_bytes(raw.getvalue())
    (tmp_path / "scratch").mkdir()
    assert pgo.load(renamed, tmp_path / "scratch").key == "k" * 64
    with pytest.raises(UsageError, match="a full archive, where a profile file was expected"):
        pgo.load(renamed)


def test_a_profile_for_another_build_names_both_keys(ctx, tools, tmp_path):
    from musl_cpython import pgo
    from musl_cpython.errors import UsageError
    given = write_profile(tmp_path / "given-pgo-profile.tar.zst", key="0" * 64)
    job = small_job(tools)
    with pytest.raises(UsageError) as e:
        pgo.obtain(ctx, job, given)
    assert f"(key {'0' * 16})" in str(e.value) and f"(key {pgo.key_for(ctx, job)[:16]})" in str(e.value)
    assert "this build needs one for CPython 3.13.15 for x86_64-unknown-linux-musl" in str(e.value)
    assert not (ctx.cache_dir / "profiles").exists() or not any((ctx.cache_dir / "profiles").rglob("*.tar.zst"))


def test_a_refused_profile_that_records_its_key_parts_is_told_which_differ(ctx, tools, tmp_path):
    """The same build with another zlib build: the words are the same, the key says what differs."""
    import dataclasses

    from musl_cpython import pgo
    from musl_cpython.errors import UsageError
    job = small_job(tools)
    zlib = dataclasses.replace(job.dependencies["zlib"], key="z" * 64)
    other = dataclasses.replace(job, dependencies={"zlib": zlib})
    given = write_profile(tmp_path / "given-pgo-profile.tar.zst", key=pgo.key_for(ctx, other),
                          key_parts=pgo.key_parts(ctx, other))
    with pytest.raises(UsageError) as e:
        pgo.obtain(ctx, job, given)
    assert str(e.value).endswith("; they differ in depends.zlib") and "\n" not in str(e.value)
    assert set(pgo.key_parts(ctx, job)) >= {"sources", "patches", "configure", "toolchain", "task", "depends.zlib"}


def test_a_given_profile_joins_the_cache_and_is_reused(ctx, tools, tmp_path):
    from musl_cpython import pgo
    job = small_job(tools)
    given = write_profile(tmp_path / "given-pgo-profile.tar.zst", key=pgo.key_for(ctx, job))
    first = pgo.obtain(ctx, job, given)
    given.unlink()
    again = pgo.obtain(ctx, job)  # no training: the cache has it
    assert again.path == first.path and again.sha256 == first.sha256


def test_a_given_profile_is_used_where_the_cache_holds_another_for_the_same_key(ctx, tools, tmp_path):
    """Two trainings for one key give different counts: rebuilding a published
    archive must use the profile it carries, not one this machine trained."""
    from musl_cpython import pgo
    job = small_job(tools)
    key = pgo.key_for(ctx, job)
    trained_here = pgo.obtain(ctx, job, write_profile(tmp_path / "here-pgo-profile.tar.zst", key=key, files=1))
    published = write_profile(tmp_path / "published-pgo-profile.tar.zst", key=key, files=2)
    used = pgo.obtain(ctx, job, published)
    assert used.sha256 == pgo.load(published).sha256 != trained_here.sha256
    assert pgo.obtain(ctx, job).sha256 == used.sha256  # and the cache now holds it


def test_an_interrupted_training_leaves_no_profile(ctx, tools, monkeypatch):
    from musl_cpython import pgo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pgo, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pgo.obtain(ctx, small_job(tools))
    assert list((ctx.cache_dir / "profiles" / "x86_64").iterdir()) == []


def _stack_mapping() -> str:
    """Where a new process's stack is mapped (a fresh exec's address layout)."""
    maps = subprocess.run(["cat", "/proc/self/maps"], capture_output=True, text=True, check=True).stdout
    return next(line.split()[0] for line in maps.splitlines() if line.endswith("[stack]"))


def test_the_training_runs_with_address_randomisation_off():
    """Programs started inside fixed_address_layout() (the training's make and
    everything under it) get the same address layout every time; this
    process's personality is as it was afterwards."""
    from musl_cpython import pgo
    allowed = subprocess.run(["setarch", "--addr-no-randomize", "true"], capture_output=True, text=True)
    if allowed.returncode != 0:
        pytest.skip(f"this kernel or container refuses address randomisation off: {allowed.stderr.strip()}")
    before = Path("/proc/self/personality").read_text()
    with pgo.fixed_address_layout() as fixed:
        assert fixed
        inside = [_stack_mapping() for _ in range(3)]
    assert len(set(inside)) == 1
    assert Path("/proc/self/personality").read_text() == before
    if not int(before, 16) & pgo.ADDR_NO_RANDOMIZE:  # (a test run under setarch -R has it off throughout)
        assert len({_stack_mapping() for _ in range(3)}) > 1
