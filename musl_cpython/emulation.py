"""Run a target's programs on this machine.

Where this machine runs the target's code and has its musl loader (x86_64
here), programs run directly. Otherwise they run inside a per-arch root: a
fresh copy of Debian's musl package for the target, in private mount and PID
namespaces, with the directories a run needs bound in at the same paths. The
loader is then where every executable's PT_INTERP says, and nothing is ever
installed into this machine's /. Where the CPU differs, qemu-user runs the
code through binfmt_misc; the handler needs the F flag (the kernel opens the
emulator when it is registered), so it works inside the root, and every
program a program starts (a venv's ensurepip, packaging running the loader
to learn musl's version) is emulated too.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import musl
from .context import Context
from .errors import EmulationUnavailable
from .recipes import Target

# Where binfmt_misc is mounted; MUSL_CPYTHON_BINFMT_MISC names another place
# (a machine that mounts it elsewhere, or a test of a machine without handlers).
BINFMT = Path(os.environ.get("MUSL_CPYTHON_BINFMT_MISC", "/proc/sys/fs/binfmt_misc"))

# Host directories a root gets read-only access to: terminfo for curses.
SHARED_READ_ONLY = ("/usr/share/terminfo", "/lib/terminfo", "/etc/terminfo")

# Run as root inside the new namespaces: binds what the run needs, then enters the root.
ENTER_ROOT = Path(__file__).parent / "templates" / "enter-root.sh"
_TOOLS = ("unshare", "mount", "sh")
_SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def runs_directly(target: Target) -> bool:
    return platform.machine() in target.native_on and Path(target.musl_loader).exists()


def needs_emulator(target: Target) -> bool:
    return platform.machine() not in target.native_on


def emulator_version(target: Target) -> str:
    """The first line of the target's qemu's --version ("" where it is
    missing: problems() says what to do)."""
    emulator = f"qemu-{target.qemu}-static"
    if shutil.which(emulator) is None:
        return ""
    return subprocess.run([emulator, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def missing_tools() -> list[str]:
    """What entering a root needs from this machine and lacks."""
    return [f"{tool} is missing (util-linux, mount, dash)" for tool in _TOOLS
            if shutil.which(tool, path=_SYSTEM_PATH) is None]


def problems(target: Target) -> list[str]:
    """What this machine lacks to run the target's programs, each with what to do."""
    found = []
    if needs_emulator(target):
        emulator = f"qemu-{target.qemu}-static"
        if shutil.which(emulator) is None:
            found.append(f"{emulator} is missing: apt-get install qemu-user-static")
        handler = BINFMT / f"qemu-{target.qemu}"
        text = handler.read_text() if handler.is_file() else ""
        flags = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags:")), "")
        if not text.startswith("enabled") or "F" not in flags:
            found.append(f"binfmt_misc has no enabled qemu-{target.qemu} handler with the F flag: run "
                         f"./bootstrap.sh, or as root: mount -t binfmt_misc binfmt_misc {BINFMT} "
                         f"(if not mounted); cat /usr/lib/binfmt.d/qemu-{target.qemu}.conf > {BINFMT}/register")
    return found + missing_tools()


@dataclass(frozen=True)
class Runner:
    """Builds the command line that runs a target program with `cwd` as its
    working directory; root None means directly on this machine. A bare
    root gets no host directories at all: only what is in it and a fresh /proc."""

    root: Path | None = None
    binds: tuple[str, ...] = ()
    bare: bool = False
    mount_proc: bool = True  # False: the program sees no /proc at all

    def argv(self, argv: list[str], cwd: Path | str) -> list[str]:
        if self.root is None:
            return [str(a) for a in argv]
        tools = {name: shutil.which(name, path=_SYSTEM_PATH) for name in _TOOLS}
        read_only = [] if self.bare else [d for d in SHARED_READ_ONLY if Path(d).is_dir()]
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        proc = [f"--mount-proc={self.root / 'proc'}"] if self.mount_proc else []
        return [tools["unshare"], *user, "--mount", "--pid", "--fork", "--kill-child", *proc, "/usr/bin/env", f"MOUNT={tools['mount']}",
                f"UNSHARE={tools['unshare']}", f"DEV={'' if self.bare else 'bind'}", tools["sh"], str(ENTER_ROOT),
                str(self.root), str(cwd), *self.binds, "--", *read_only, "--", *map(str, argv)]


@contextmanager
def runner(ctx: Context, target: Target, binds: list[Path], newest: bool = False):
    """A Runner for the target's programs, which may read and write under
    `binds`; with `newest`, always in a root with Debian's newest musl."""
    if runs_directly(target) and not newest:
        yield Runner()
        return
    missing = problems(target)
    if missing:
        raise EmulationUnavailable(f"cannot run {target.arch} programs here: " + "; ".join(missing))
    source = musl.musl_root(ctx, target, newest=newest)
    with tempfile.TemporaryDirectory(prefix=f"musl-cpython-root-{target.arch}-") as tmp:
        root = Path(tmp) / "root"
        shutil.copytree(source, root, symlinks=True)
        loader = root / target.musl_loader.lstrip("/")
        if not loader.exists():  # merged-/usr packages install it under /usr/lib only
            libc = musl.libc_path(root, target)
            loader.parent.mkdir(parents=True, exist_ok=True)
            loader.symlink_to("/" + str(libc.relative_to(root)))
        for directory in ("proc", "dev", *(str(b).lstrip("/") for b in binds),
                          *(d.lstrip("/") for d in SHARED_READ_ONLY)):
            (root / directory).mkdir(parents=True, exist_ok=True)
        yield Runner(root, tuple(str(b) for b in binds))
