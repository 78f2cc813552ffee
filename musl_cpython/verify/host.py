"""The checks that need this machine as well as the interpreter: installers
(venv, pip and the package index, a C extension compiled here), leaks of
build paths, and the run in a bare root."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from .. import emulation, musl, relocate, toolchain
from ..archives import safe_extract, tree_in
from .checks import Fail, Report, Skip
from .session import Session, last_line

MUSLLINUX_PIP = (21, 2)  # pip's first release that knows musllinux tags (PEP 656)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text or "")[:2])


def certificate(session: Session) -> dict:
    """A certificate and key for the TLS check, or why there is none."""
    if shutil.which("openssl") is None:
        return {"skip": "the host has no openssl command to make a certificate (apt-get install openssl)"}
    cert, key = session.home / "cert.pem", session.home / "key.pem"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True)
    if result.returncode != 0:
        return {"fail": f"openssl req: {last_line(result)}"}
    return {"cert": str(cert), "key": str(key)}


def make_copies_venv(session: Session) -> Path:
    """A venv whose interpreter is a copy (venv.create's default), not a symlink. Raises Fail."""
    venv = session.home / "venv-copies"
    result = session.python(session.tree / "bin" / "python3", "-m", "venv", "--copies", venv)
    if result.returncode != 0:
        raise Fail(f"python -m venv --copies: {last_line(result)}")
    return venv


def make_venv(session: Session, shipped_pip: str | None, pinned_pip: str | None) -> tuple[Path, str]:
    """A venv of the archive's interpreter, used as it comes: its pip must be
    the one the tree ships, which is the recipe's pinned pip (ensurepip's
    wheel too), recent enough to know musllinux tags. Returns the venv and a
    note naming that pip. Raises Fail."""
    if pinned_pip and shipped_pip != pinned_pip:
        raise Fail(f"the tree ships pip {shipped_pip}, the recipe pins pip {pinned_pip}")
    venv = session.home / "venv"
    result = session.python(session.tree / "bin" / "python3", "-m", "venv", venv)
    if result.returncode != 0:
        raise Fail(f"python -m venv: {last_line(result)}")
    # Read from its metadata rather than by starting the interpreter once more;
    # the venv's pip runs in the checks that use it.
    installed = sorted(venv.glob("lib/python*/site-packages/pip-*.dist-info"))
    if len(installed) != 1:
        raise Fail(f"the venv has {len(installed)} pip installations: {', '.join(p.name for p in installed)}")
    got = installed[0].name[len("pip-"):-len(".dist-info")]
    if got != shipped_pip:
        raise Fail(f"the venv got pip {got} from ensurepip, the tree ships pip {shipped_pip}")
    if _version(got) < MUSLLINUX_PIP:
        raise Fail(f"the shipped pip {got} predates musllinux tags (pip {_dotted(MUSLLINUX_PIP)})")
    return venv, f" (pip {got}, as shipped)"


def install_wheels(session: Session, wheels: dict[str, str], venv: Path | None, wheel_arch: str,
                   minor: str, abiflags: str = "") -> tuple[Path, dict, list[str], str]:
    """Install the recipe's wheels where the archive's interpreter imports
    them: the program to import with, its environment, the modules, and
    what was installed. Raises Skip or Fail."""
    env = session.env()
    if session.runner.root is None:  # this machine runs the target: pip in the venv, from the index
        if venv is None:
            raise Skip("no venv to install into (see installers.venv)")
        result = session.python(venv / "bin" / "python", "-m", "pip", "install", "--only-binary=:all:",
                                "--disable-pip-version-check", "--no-input", *wheels, env=env)
        if result.returncode != 0:
            raise Fail(f"pip install: {last_line(result)}")
        installed = "; ".join(re.findall(r"Successfully installed (.*)", result.stdout))
        return venv / "bin" / "python", env, list(wheels.values()), installed
    # Another arch: this machine's pip downloads the target's musllinux wheels
    # (a root has no network set up) and installs them into a directory.
    platforms = [f"--platform=musllinux_1_{n}_{wheel_arch}" for n in (2, 1)]
    # A free-threaded interpreter loads only cp313t wheels; this machine's pip would pick cp313 ones.
    abi = [f"--abi=cp{minor.replace('.', '')}{abiflags}"] if "t" in abiflags else []
    selection = [*platforms, f"--python-version={minor}", "--implementation=cp", *abi, "--only-binary=:all:",
                 "--disable-pip-version-check", "--no-input"]
    wheelhouse, site = session.home / "wheelhouse", session.home / "site-packages"
    found, absent = [], []
    for distribution in wheels:
        download = subprocess.run([sys.executable, "-m", "pip", "download", "-q", *selection, "-d", str(wheelhouse),
                                   distribution], capture_output=True, text=True, timeout=900)
        if download.returncode == 0 and _has_musllinux_wheel(wheelhouse, distribution):
            found.append(distribution)
        elif download.returncode == 0 or "No matching distribution" in download.stderr:
            # None, or only a pure-Python placeholder (pydantic-core 0.0.1 on riscv64), which proves nothing.
            absent.append(distribution)
        else:
            raise Fail(f"pip download {distribution}: {last_line(download)}")
    if not found:
        raise Skip(f"the package index has no musllinux wheel for {wheel_arch} of {', '.join(absent)}")
    # Requires-Python was matched against the target's version by the download.
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *selection, "--no-index",
                              "--ignore-requires-python", f"--find-links={wheelhouse}", f"--target={site}", *found],
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        raise Fail(f"pip install --target: {last_line(install)}")
    files = sorted(path.name for path in wheelhouse.glob("*.whl"))
    none = f"; no musllinux wheel for {wheel_arch} on the index: {', '.join(absent)}" if absent else ""
    return (session.tree / "bin" / "python3", {**env, "PYTHONPATH": str(site)}, [wheels[d] for d in found],
            f"{', '.join(found)} from {', '.join(files)}{none}")


def _has_musllinux_wheel(wheelhouse: Path, distribution: str) -> bool:
    """A wheel of `distribution` built for a musllinux platform is in `wheelhouse`;
    pure-Python wheels of it are removed, so they are not installed in its place."""
    found = False
    for wheel in wheelhouse.glob("*.whl"):
        name, _, _, tags = parse_wheel_filename(wheel.name)
        if name == canonicalize_name(distribution):
            if any(tag.platform.startswith("musllinux_") for tag in tags):
                found = True
            else:
                wheel.unlink()
    return found


def compile_extension(session: Session, facts: dict, ldversion: str) -> Path:
    """hello.c compiled with zig cc from what sysconfig and python3-config say;
    the file it is. Raises Fail."""
    if "missing" in facts:
        raise Fail(f"the interpreter did not report its sysconfig: {facts['missing']}")
    tools = toolchain.prepare(session.ctx, session.target)
    config = session.tree / "bin" / f"python{ldversion}-config"
    suffix = subprocess.run([str(config), "--extension-suffix"], capture_output=True, text=True)
    if suffix.returncode != 0:
        raise Fail(f"python3-config --extension-suffix: {last_line(suffix)}")
    if suffix.stdout.strip() != facts["EXT_SUFFIX"]:
        raise Fail(f"python3-config says {suffix.stdout.strip()}, sysconfig says {facts['EXT_SUFFIX']}")
    build = session.home / "ext"
    build.mkdir()
    source = build / "hello.c"
    shutil.copyfile(session.probes / "hello.c", source)
    out = build / f"hello{facts['EXT_SUFFIX']}"
    # sysconfig says "cc -shared"; "cc" on this machine is glibc's, so the
    # musl compiler stands in for the first word only. The include path goes
    # in as one argument: python3-config --includes cannot quote the space
    # this check puts in the path.
    argv = [tools.cc, f"-I{facts['include']}", *facts["CFLAGS"].split(), *facts["CCSHARED"].split(),
            *facts["LDSHARED"].split()[1:], str(source), "-o", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, env=tools.environment(0))
    if result.returncode != 0:
        raise Fail(f"compile: {result.stderr.strip()[-300:]}")
    return out


def leaks(session: Session) -> str:
    forbidden = relocate.machine_paths(session.ctx)
    found = relocate.find_leaks(session.tree, forbidden)
    if found:
        raise Fail("; ".join(found[:10]))
    return "checked against " + ", ".join(forbidden)


def isolated(session: Session, archive: Path, not_built, root: Path, proc: bool = True) -> str:
    """The interpreter in a root holding only the oldest musl's loader and the
    tree, with a fresh /proc of its own or (`proc` False) none at all."""
    target = session.target
    loader = root / target.musl_loader.lstrip("/")
    loader.parent.mkdir(parents=True)
    shutil.copyfile(musl.libc_path(musl.musl_root(session.ctx, target), target), loader)
    loader.chmod(0o755)
    safe_extract(archive, root)
    inside = "/" + str(tree_in(root).relative_to(root))
    modules = [m for m in ("ssl", "sqlite3", "ctypes", "decimal", "lzma", "bz2", "zlib", "uuid", "readline",
                           "curses") if m not in not_built]
    code = f"import {', '.join(modules)}; print('ok')"
    # With `proc`, a fresh proc mount in a private mount and PID namespace
    # (nothing from the host's files); without, a root like a bare chroot or
    # a build sandbox, where musl cannot expand $ORIGIN of the main program
    # (it reads /proc/self/exe).
    if proc:
        (root / "proc").mkdir()
    if emulation.missing_tools():
        raise Skip("; ".join(emulation.missing_tools()))
    runner = emulation.Runner(root, bare=True, mount_proc=proc)
    result = session.python(Path(f"{inside}/bin/python3"), "-c", code, env={}, cwd=Path("/"), runner=runner)
    if result.returncode != 0 and re.search(r"Operation not permitted|cannot change root|unshare failed|"
                                            r"Permission denied", result.stderr):
        raise Skip(f"this machine forbids chroot/namespaces: {last_line(result)}")
    if result.returncode != 0 or result.stdout.strip() != "ok":
        raise Fail(last_line(result))
    proc_note = "a fresh /proc" if proc else "no /proc"
    return f"only {target.musl_loader}, {inside} and {proc_note} in the root, empty environment"


def python_config(session: Session, ldversion: str, facts: dict) -> str:
    """python3-config of the tree as unpacked (at a path with a space) answers --includes and --ldflags."""
    if "missing" in facts:
        raise Fail(f"the interpreter did not report its sysconfig: {facts['missing']}")
    config = session.tree / "bin" / f"python{ldversion}-config"
    result = subprocess.run([str(config), "--includes", "--ldflags"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise Fail(f"python{ldversion}-config --includes --ldflags: {last_line(result)}")
    includes = f"-I{facts['include']}"
    if includes not in result.stdout:
        raise Fail(f"python{ldversion}-config --includes does not name {includes}: {result.stdout.strip()[:200]}")
    return f"python{ldversion}-config names {includes}"


def facts(results: dict) -> dict:
    """The facts probe's answer (what sysconfig and pip say), or why there is none."""
    status, text = results.get("facts.build", ("fail", "no answer"))
    return json.loads(text) if status == "pass" else {"missing": text}


def record(report: Report, results: dict, *check_ids: str, suffix: str = "") -> None:
    """Put probe answers into the report."""
    for check_id in check_ids:
        status, text = results[check_id]
        report.add(check_id, status, text + (suffix if status == "pass" else ""))
