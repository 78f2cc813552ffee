"""The container backend, as far as a machine without a container engine can
take it: the rendered Dockerfiles, the engine command lines, the choice of
backend, and the native-GCC wrappers the container build uses."""
import os
import re
import subprocess

import pytest

from musl_cpython import REPO, container, relocate, toolchain
from musl_cpython.context import Context
from musl_cpython.recipes import load_project, load_targets, target_for

TARGETS = list(load_targets().values())


@pytest.mark.parametrize("target", TARGETS, ids=[t.arch for t in TARGETS])
def test_dockerfile_rendered_for_every_target(ctx, target):
    text = container.render_dockerfile(ctx, target)
    settings = load_project().container
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", settings.alpine_digest)
    assert f"FROM --platform={target.docker_platform} {settings.alpine}@{settings.alpine_digest}\n" in text
    assert f"RUN apk add --no-cache build-base {' '.join(settings.packages)}\n" in text
    assert "COPY requirements.txt " in text and f"MUSL_CPYTHON_IN_CONTAINER={target.arch}" in text
    assert "{{" not in text and "{%" not in text
    # Every tool a native build needs comes from a package the image installs.
    installed = {"build-base", *settings.packages}
    assert set(toolchain.NATIVE_HOST_TOOLS.values()) <= installed


def fake_engine(tmp_path, name: str, answers: bool = True, has_image: bool = False, pulls: bool = False):
    """An engine program that records its arguments; it answers `info` or not,
    holds the build image or not, and can pull the Alpine base or not."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    record = tmp_path / f"{name}.calls"
    script = bin_dir / name
    script.write_text(f"""#!/bin/sh
printf '%s\\n' "$*" >> {record}
case "$1" in
  info) {'exit 0' if answers else 'echo "Cannot connect to the daemon" >&2; exit 1'} ;;
  image) {'exit 0' if has_image else 'echo "Error: inspecting object: $3: image not known" >&2; exit 125'} ;;
  pull) echo "Trying to pull $4..." >&2
        {'exit 0' if pulls else 'echo "Error: initializing source $4: pinging container registry: no such host" >&2; exit 125'} ;;
esac
exit 0
""")
    script.chmod(0o755)
    return bin_dir, record


def test_engine_command_lines(tmp_path, monkeypatch):
    bin_dir, record = fake_engine(tmp_path, "docker", has_image=True)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.delenv("MUSL_CPYTHON_IN_CONTAINER", raising=False)
    ctx = Context(build_dir=tmp_path / "build", cache_dir=tmp_path / "cache", jobs=2)
    target = target_for("x86_64")
    assert container.choose_backend("auto", ctx, target) == ("container", "docker")
    dockerfile = container.render_dockerfile(ctx, target)
    tag = container.image_tag(dockerfile)
    assert record.read_text().splitlines() == ["info", f"image inspect {tag}"]
    record.unlink()

    out = tmp_path / "dist"
    container.build(ctx, "docker", target, "3.13.15", out)
    assert (ctx.build_dir / "container" / "x86_64" / "Dockerfile").read_text() == dockerfile
    context_dir = ctx.build_dir / "container" / "x86_64"
    uid = f"{os.getuid()}:{os.getgid()}"
    assert "--userns=keep-id" in container.commands(ctx, "podman", target, "3.13.15", out, context_dir,
                                                      dockerfile)[1]
    assert record.read_text().splitlines() == [
        f"build --platform linux/amd64 --tag {tag} --file {context_dir}/Dockerfile {context_dir}",
        f"run --rm --platform linux/amd64 --user {uid} --env HOME=/tmp --workdir /musl-cpython/repo "
        f"--volume {REPO}:/musl-cpython/repo:ro "
        f"--volume {ctx.cache_dir}/container/x86_64:/musl-cpython/cache "
        f"--volume {ctx.source_cache}:/musl-cpython/cache/sources "
        f"--volume {context_dir}/build:/musl-cpython/build --volume {out}:/musl-cpython/dist "
        f"{tag} python3 build.py build --backend host --no-verify --python 3.13.15 --arch x86_64 "
        f"--out /musl-cpython/dist --cache-dir /musl-cpython/cache --build-dir /musl-cpython/build --jobs 2",
    ]
    # Relocation refuses text naming these paths; the distribution's own files must not.
    assert relocate.find_leaks(REPO / ".venv" / "lib", ["/musl-cpython/"]) == []
    assert (context_dir / "requirements.txt").read_bytes() == (REPO / "requirements.txt").read_bytes()


def fake_engines(tmp_path, monkeypatch, **docker):
    """docker as described, and no podman: PATH holds the fake alone (its shell needs no other program)."""
    bin_dir, record = fake_engine(tmp_path, "docker", **docker)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("MUSL_CPYTHON_IN_CONTAINER", raising=False)
    return record


def test_an_engine_that_answers_but_cannot_pull_the_image_is_passed_over(ctx, tmp_path, monkeypatch, capsys):
    record = fake_engines(tmp_path, monkeypatch, answers=True)
    target = target_for("aarch64")
    assert container.choose_backend("auto", ctx, target) == ("host", None)
    said = capsys.readouterr().out
    base = f"{ctx.project.container.alpine}@{ctx.project.container.alpine_digest}"
    assert f"--backend auto: building on the host (docker answers, but cannot pull {base} for linux/arm64: " \
           "Error: initializing source" in said and "podman: not installed" in said
    assert said.count("\n") == 1  # one line
    assert record.read_text().splitlines()[-1] == f"pull --platform linux/arm64 {base}"
    with pytest.raises(container.ContainerUnavailable) as e:
        container.choose_backend("container", ctx, target)
    assert e.value.exit_code == 2
    assert f"docker answers, but cannot pull {base}" in str(e.value) and "no such host" in str(e.value)
    assert "--backend host" in str(e.value)


def test_an_engine_that_holds_or_can_pull_the_image_builds(ctx, tmp_path, monkeypatch):
    for docker in ({"has_image": True}, {"pulls": True}):
        assert fake_engines(tmp_path, monkeypatch, **docker)
        assert container.choose_backend("auto", ctx, target_for("x86_64")) == ("container", "docker"), docker
        assert container.choose_backend("container", ctx, target_for("x86_64")) == ("container", "docker")
    assert container.choose_backend("host", ctx, target_for("x86_64")) == ("host", None)


def test_no_engine_answering_means_host_or_a_clear_error(ctx, tmp_path, monkeypatch, capsys):
    fake_engines(tmp_path, monkeypatch, answers=False)
    assert container.choose_backend("auto", ctx, target_for("x86_64")) == ("host", None)
    assert "docker: `docker info` failed: Cannot connect to the daemon" in capsys.readouterr().out
    with pytest.raises(container.ContainerUnavailable) as e:
        container.choose_backend("container", ctx, target_for("x86_64"))
    message = str(e.value)
    assert "docker: `docker info` failed: Cannot connect to the daemon" in message
    assert "podman: not installed" in message and "--backend host" in message
    assert e.value.exit_code == 2


def test_this_machine_builds_through_the_host_path(ctx):
    """No engine here can obtain the Alpine image (no registry answers): auto must fall back to the host path."""
    engine, reasons = container.usable_engine(ctx, target_for("x86_64"))
    if engine:
        pytest.skip(f"{engine} can build containers on this machine")
    assert container.choose_backend("auto", ctx, target_for("x86_64")) == ("host", None), reasons


def test_native_gcc_wrapper_hardens_every_link(tmp_path):
    """The wrapper the Alpine build uses, run here with the host's GCC."""
    scripts = toolchain.scripts(toolchain.KINDS["native"], target_for("x86_64"), load_project().native_toolchain.ldflags)
    assert set(scripts) == {"gcc", "g++", "gcc-ar", "gcc-ranlib"}
    assert "--undefined-version" not in scripts["gcc"]  # lld-only
    gcc = tmp_path / "gcc"
    gcc.write_text(scripts["gcc"].replace("@WORK@", str(tmp_path)))
    gcc.chmod(0o755)
    (tmp_path / "hello.c").write_text("int main(void) { return 0; }\n")
    subprocess.run([str(gcc), "-c", "hello.c", "-o", "hello.o"], cwd=tmp_path, check=True)
    subprocess.run([str(gcc), "hello.o", "-o", "hello"], cwd=tmp_path, check=True)
    headers = subprocess.run(["readelf", "-W", "-l", "-d", "hello"], cwd=tmp_path, capture_output=True,
                             text=True).stdout
    assert "GNU_RELRO" in headers and "BIND_NOW" in headers
    stack = next(line for line in headers.splitlines() if "GNU_STACK" in line)
    assert "RW " in stack and "RWE" not in stack and "0x200000" in stack
