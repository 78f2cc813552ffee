"""The container backend: the same pipeline inside Alpine, with Alpine's GCC.

The image comes from Dockerfile.alpine, rendered per target. The repository
is mounted read-only, the host's source cache and a per-target cache
directory are mounted read-write, and the archives land in the host's
output directory; the host then verifies them as it verifies its own.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import jinja2

from . import REPO
from .context import Context
from .errors import ContainerUnavailable, UsageError
from .recipes import Target
from .steps import detail, run

ENGINES = ("docker", "podman")
BACKENDS = ("auto", "host", "container")
TEMPLATE = REPO / "Dockerfile.alpine"


# How long `engine pull` of the Alpine base may take before auto passes the engine over.
PULL_TIMEOUT = 600


def _ask(engine: str, *args: str, timeout: int = 30) -> tuple[bool, str]:
    """Run `engine args`: whether it succeeded, and the last line it wrote (the reason, when it did not)."""
    try:
        result = subprocess.run([engine, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"`{engine} {args[0]}` did not answer within {timeout} s"
    lines = (result.stderr or result.stdout).strip().splitlines()
    return result.returncode == 0, lines[-1] if lines else f"exit status {result.returncode}"


def image_problem(ctx: Context, engine: str, target: Target) -> str | None:
    """Why `engine` cannot start a build for `target`, or None: it holds the
    build image (whose tag names the rendered Dockerfile, and so the target's
    platform), or can pull the pinned Alpine it is built from. A base image
    at hand is not enough: building on it runs apk and pip, which need the
    network that a pull proves."""
    if _ask(engine, "image", "inspect", image_tag(render_dockerfile(ctx, target)))[0]:
        return None
    base = f"{ctx.project.container.alpine}@{ctx.project.container.alpine_digest}"  # Dockerfile.alpine's FROM
    pulled, said = _ask(engine, "pull", "--platform", target.docker_platform, base, timeout=PULL_TIMEOUT)
    return None if pulled else f"cannot pull {base} for {target.docker_platform}: {said}"


def usable_engine(ctx: Context, target: Target) -> tuple[str | None, list[str]]:
    """The first engine that answers and can obtain the build image, and why each other one was passed over."""
    reasons = []
    for engine in ENGINES:
        if shutil.which(engine) is None:
            reasons.append(f"{engine}: not installed")
            continue
        answers, said = _ask(engine, "info")
        if not answers:
            reasons.append(f"{engine}: `{engine} info` failed: {said}")
            continue
        problem = image_problem(ctx, engine, target)
        if problem is None:
            return engine, reasons
        reasons.append(f"{engine} answers, but {problem}")
    return None, reasons


def choose_backend(requested: str, ctx: Context, target: Target) -> tuple[str, str | None]:
    """(backend, engine) for --backend auto|host|container. auto takes the
    container only where an engine can build in it now: one that answers
    but cannot obtain the image would fail the build a step later."""
    if requested not in BACKENDS:
        raise UsageError(f"unknown backend {requested!r}; known: {', '.join(BACKENDS)}")
    if requested == "host" or os.environ.get("MUSL_CPYTHON_IN_CONTAINER"):
        return "host", None
    engine, reasons = usable_engine(ctx, target)
    if engine:
        return "container", engine
    if requested == "container":
        raise ContainerUnavailable("--backend container: no container engine can build here (" +
                                   "; ".join(reasons) + "); start docker or podman where the pinned Alpine "
                                   "image can be pulled, or build with --backend host")
    detail(f"--backend auto: building on the host ({'; '.join(reasons)})")
    return "host", None


def render_dockerfile(ctx: Context, target: Target) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     autoescape=False)
    template = environment.from_string(TEMPLATE.read_text())
    return template.render(target=target, container=ctx.project.container)


def image_tag(dockerfile: str) -> str:
    requirements = (REPO / "requirements.txt").read_bytes()
    digest = hashlib.sha256(dockerfile.encode() + requirements).hexdigest()[:16]
    return f"musl-cpython-build:{digest}"


# Where the host's directories appear inside the container. Distinctive
# names: relocation refuses any archive whose text files name the build's
# directories, and short ones such as /src or /cache occur in pip's own text.
INSIDE = Path("/musl-cpython")


def commands(ctx: Context, engine: str, target: Target, version: str, out_dir: Path,
             context_dir: Path, dockerfile: str, add_options=(), remove_options=()) -> list[list[str]]:
    """The engine command lines of one container build: build the image, run the pipeline."""
    tag = image_tag(dockerfile)
    cache = ctx.cache_dir / "container" / target.arch
    mirror = ["--volume", f"{ctx.sources_dir}:{INSIDE}/mirror:ro"] if ctx.sources_dir else []
    # Files the container writes must belong to the host user: docker runs as
    # that uid; rootless podman maps it with keep-id.
    user = ["--userns=keep-id"] if engine == "podman" else ["--user", f"{os.getuid()}:{os.getgid()}"]
    return [
        [engine, "build", "--platform", target.docker_platform, "--tag", tag,
         "--file", str(context_dir / "Dockerfile"), str(context_dir)],
        [engine, "run", "--rm", "--platform", target.docker_platform, *user, "--env", "HOME=/tmp",
         "--workdir", f"{INSIDE}/repo",
         "--volume", f"{REPO}:{INSIDE}/repo:ro",
         "--volume", f"{cache}:{INSIDE}/cache",
         "--volume", f"{ctx.source_cache}:{INSIDE}/cache/sources",
         # The build directory is the host's, so that its logs outlive the container.
         "--volume", f"{context_dir / 'build'}:{INSIDE}/build",
         "--volume", f"{out_dir}:{INSIDE}/dist", *mirror,
         tag, "python3", "build.py", "build", "--backend", "host", "--no-verify",
         "--python", version, "--arch", target.arch, "--out", f"{INSIDE}/dist",
         "--cache-dir", f"{INSIDE}/cache", "--build-dir", f"{INSIDE}/build", "--jobs", str(ctx.jobs),
         *(["--sources-dir", f"{INSIDE}/mirror"] if mirror else []),
         *(arg for name in add_options for arg in ("--with", name)),
         *(arg for name in remove_options for arg in ("--without", name))],
    ]


def build(ctx: Context, engine: str, target: Target, version: str, out_dir: Path, add_options=(),
          remove_options=()) -> None:
    """Run the pipeline for one target inside Alpine; the archives land in out_dir."""
    context_dir = ctx.build_dir / "container" / target.arch
    context_dir.mkdir(parents=True, exist_ok=True)
    dockerfile = render_dockerfile(ctx, target)
    (context_dir / "Dockerfile").write_text(dockerfile)
    shutil.copyfile(REPO / "requirements.txt", context_dir / "requirements.txt")
    for path in (ctx.source_cache, ctx.cache_dir / "container" / target.arch, out_dir, context_dir / "build"):
        path.mkdir(parents=True, exist_ok=True)
    log = ctx.logs / target.arch / f"container-{version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    for argv in commands(ctx, engine, target, version, out_dir, context_dir, dockerfile, add_options, remove_options):
        detail(f"$ {' '.join(argv[:3])} ... (log: {log}; the inner build's logs: {context_dir / 'build' / 'logs'})")
        run(f"container {argv[1]}", argv, log=log, cwd=context_dir, env=dict(os.environ))
