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
    compiled = subprocess.run([tools.cc, *tools.cflags, "-O2", "-flto=thin", "-Wl,-export-dynamic",
                               str(work / "stamp.c"), "-o", str(program)],
                              capture_output=True, text=True, env=tools.environment(0))
    assert compiled.returncode == 0, compiled.stderr
    facts = elf.read(program)
    assert facts.interp == target.musl_loader
    # A position-dependent executable would take copy relocations of musl's
    # data, which zig's libc stub gives one address: environ, read back as
    # __progname, crashed armv7's static interpreter before main.
    assert facts.position_independent
    with emulation.runner(ctx, target, [work]) as runner:
        assert (runner.root is None) == emulation.runs_directly(target)
        result = subprocess.run(runner.argv([program], work), capture_output=True, text=True, cwd=work,
                                env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[:2] == ["time_t", "8"]
    assert int(words[3]) == 2**31 - 1 + 400 * 86400  # past 2038, on 32-bit arches too
    assert words[4] == target.byteorder
    assert words[7:] == ["environ", "PATH=/usr/bin:/bin"], result.stdout


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


def test_without_proc_origin_runpaths_of_the_main_program_fail(compile_c, tmp_path):
    """musl expands $ORIGIN of the main program from /proc/self/exe: in a root
    with no /proc, a program that finds its library through $ORIGIN does not
    start, and one that needs only libc does. (Why the interpreter holds libpython.)"""
    import shutil

    from musl_cpython import musl
    target = TARGETS["x86_64"]
    if emulation.missing_tools():
        pytest.skip("; ".join(emulation.missing_tools()))
    ctx = shared_context(tmp_path)
    root = tmp_path / "root"
    (root / "tree" / "bin").mkdir(parents=True)
    (root / "tree" / "lib").mkdir()
    (root / "lib").mkdir()
    shutil.copyfile(musl.libc_path(musl.musl_root(ctx, target), target), root / "lib" / "ld-musl-x86_64.so.1")
    (root / "lib" / "ld-musl-x86_64.so.1").chmod(0o755)
    compile_c("int answer(void) { return 42; }", root / "tree" / "lib" / "libanswer.so", "-shared",
              "-Wl,-soname,libanswer.so")
    compile_c("int answer(void); int main(void) { return answer() - 42; }", root / "tree" / "bin" / "origin",
              f"-L{root / 'tree' / 'lib'}", "-lanswer", "-Wl,-rpath,$ORIGIN/../lib")
    compile_c("int main(void) { return 0; }", root / "tree" / "bin" / "alone")
    outcomes = {}
    for proc in (True, False):
        (root / "proc").mkdir(exist_ok=True) if proc else shutil.rmtree(root / "proc", ignore_errors=True)
        runner = emulation.Runner(root, bare=True, mount_proc=proc)
        for program in ("origin", "alone"):
            result = subprocess.run(runner.argv([f"/tree/bin/{program}"], "/"), capture_output=True, text=True, env={})
            if result.returncode != 0 and "Operation not permitted" in result.stderr:
                pytest.skip(f"this machine forbids chroot/namespaces: {result.stderr.strip()}")
            outcomes[program, proc] = result.returncode, result.stderr
    assert outcomes["origin", True][0] == 0 and outcomes["alone", True][0] == 0
    assert outcomes["alone", False][0] == 0
    assert outcomes["origin", False][0] != 0 and "libanswer.so" in outcomes["origin", False][1]
