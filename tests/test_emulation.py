"""Every target's programs run here: directly, or in a per-arch root with
Debian's musl loader for that arch, under qemu-user where the CPU differs.

Each test compiles a small C program with the target's real toolchain
wrappers and runs it the way verification runs the interpreter.
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from musl_cpython import REPO, elf, emulation, toolchain
from musl_cpython.context import Context, default_cache_dir
from musl_cpython.recipes import load_targets

TARGETS = load_targets()

PROGRAM = (Path(__file__).parent / "fixtures" / "stamp.c").read_text()


def shared_context(tmp_path) -> Context:
    """Scratch space of the test's own, zig's compiled libc and the musl packages shared with builds."""
    return Context(build_dir=tmp_path / "build", cache_dir=default_cache_dir())


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_target_programs_run_here(arch, tmp_path):
    target = TARGETS[arch]
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {arch} programs: {'; '.join(missing)}")
    ctx = shared_context(tmp_path)
    tools = toolchain.prepare(ctx, target)
    work = tmp_path / "work"
    work.mkdir()
    (work / "stamp.c").write_text(PROGRAM)
    program = work / "stamp"
    compiled = subprocess.run([tools.cc, *tools.cflags, "-O2", str(work / "stamp.c"), "-o", str(program)],
                              capture_output=True, text=True, env=tools.environment(0))
    assert compiled.returncode == 0, compiled.stderr
    assert elf.read(program).interp == target.musl_loader
    with emulation.runner(ctx, target, [work]) as runner:
        assert (runner.root is None) == emulation.runs_directly(target)
        result = subprocess.run(runner.argv([program], work), capture_output=True, text=True, cwd=work,
                                env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[:2] == ["time_t", "8"]
    assert int(words[3]) == 2**31 - 1 + 400 * 86400  # past 2038, on 32-bit arches too
    assert words[4] == target.byteorder


def test_root_holds_the_loader_and_nothing_of_the_host(tmp_path):
    """In a root the program sees the arch's loader and the bound directories, not the host's /usr."""
    target = TARGETS["aarch64"]
    if emulation.problems(target):
        pytest.skip(f"this machine cannot run aarch64 programs: {'; '.join(emulation.problems(target))}")
    ctx = shared_context(tmp_path)
    with emulation.runner(ctx, target, [tmp_path]) as runner:
        assert (runner.root / target.musl_loader.lstrip("/")).exists()
        loader = subprocess.run(runner.argv([target.musl_loader], tmp_path), capture_output=True, text=True)
        host_program = subprocess.run(runner.argv([target.musl_loader, "/bin/true"], tmp_path),
                                      capture_output=True, text=True)
    assert "musl libc (aarch64)" in loader.stderr and "Version 1.2.3" in loader.stderr
    assert host_program.returncode != 0 and "/bin/true" in host_program.stderr  # the host's / is not there


def test_missing_emulator_makes_verify_exit_2(tmp_path):
    """Without a binfmt_misc handler, verify of another arch's archive stops before judging it."""
    no_handlers = tmp_path / "binfmt_misc"
    no_handlers.mkdir()
    archive = tmp_path / "cpython-3.13.15+20261121-s390x-unknown-linux-musl-install_only.tar.gz"
    script = tmp_path / "python3"
    script.write_text("#!/bin/sh\n")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(script, "python/bin/python3")
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "verify", str(archive)],
                            capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "MUSL_CPYTHON_BINFMT_MISC": str(no_handlers)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "qemu-s390x" in result.stderr and "F flag" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_arch_exits_2_listing_the_known_ones(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "build", "--arch", "mips64",
                             "--build-dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    for arch in TARGETS:
        assert arch in result.stderr
