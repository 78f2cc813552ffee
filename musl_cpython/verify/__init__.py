"""Prove that an artifact works the way its users will use it.

The archive is unpacked into a fresh directory whose path contains a space.
The ELF rules (elf.py) read every ELF file; the interpreter then runs the
probes (probes/interpreter.py) once per way of starting it: directly,
through a symlink placed elsewhere, with LC_ALL=C, in a venv, and under
Debian's newest musl; the checks that need this machine too are in
host.py. Each check passes, fails, or is skipped with the reason; the
results go to a JSON report next to the archive, listed by stable check id
(checks.py), with the number of interpreter starts and the wall time.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from .. import code_identity, emulation, musl
from ..archives import safe_extract, tree_in
from ..context import Context
from ..errors import BuildError, EmulationUnavailable, UnsafeArchive, UsageError, VerificationCannotRun
from ..names import ArchiveName, NotAnArchiveName
from ..python_recipes import load_pythons
from ..recipes import Target, load_targets, target_for_triple
from ..sources import sha256_file
from ..steps import detail
from . import host
from .checks import Fail, Report, Skip
from .elf import elf_policy
from .session import Session

__all__ = ["VerificationCannotRun", "distributions", "earlier_report", "identify", "verify", "verify_all"]

# What the direct start answers; the other ways of starting answer one or two checks each.
DIRECT = ["facts.build", "identity.soabi", "identity.extension_suffixes", "identity.musllinux_tags",
          "identity.variant", "functional.threads",
          "functional.ssl_paths", "functional.sqlite3", "functional.ctypes", "functional.allocator",
          "functional.uuid", "functional.curses", "functional.readline", "functional.compression",
          "functional.hashlib", "functional.decimal",
          "functional.thread_recursion", "functional.tls_handshake", "functional.time_past_2038",
          "functional.byte_order", "functional.startup_lang_unset", "installers.unpacked_by_hand", "stdlib.imports",
          "stdlib.builtin_modules"]
FOREIGN_ARGV0 = "not-python"  # what a supervisor might call its child


def identify(archive: Path) -> tuple[Target, ArchiveName]:
    """The target and the parsed name of an archive."""
    try:
        name = ArchiveName.parse(archive.name)
    except NotAnArchiveName as e:
        raise VerificationCannotRun(str(e)) from None
    target = target_for_triple(name.triple)
    if target is None:
        raise VerificationCannotRun(f"{archive.name}: no target recipe for {name.triple}; known: "
                                    f"{', '.join(t.triple for t in load_targets().values())}")
    return target, name


class Verifier:
    def __init__(self, ctx: Context, archive: Path, network: bool = True):
        self.ctx, self.archive, self.network = ctx, archive, network
        self.target, self.name = identify(archive)
        self.minor = self.name.minor
        self.recipe = load_pythons().get(self.minor)
        if self.recipe is None:
            raise VerificationCannotRun(f"{archive.name}: no recipe for Python {self.minor}")
        try:
            self.abiflags = self.recipe.variant_abiflags(self.name.variant)
            variants = [self.recipe.options[name] for name in
                        self.recipe.variant_options(names=[self.name.variant] if self.name.variant else [])]
        except UsageError as e:
            raise VerificationCannotRun(f"{archive.name}: {e}") from None
        self.ldversion, self.stdlib_dir = self.recipe.ldversion(self.abiflags), self.recipe.stdlib_dir(self.abiflags)
        self.without_wheels = {name: why for variant in variants for name, why in variant.without_wheels.items()}
        self.wheels = {name: module for name, module in self.recipe.wheels.items() if name not in self.without_wheels}
        project = ctx.project
        self.report = Report({"loader": self.target.musl_loader, "musl": musl.checked_version(ctx, self.target),
                              "wheel_platform": f"musllinux_1_2_{self.target.wheel_arch}",
                              "byteorder": self.target.byteorder, "wheels": ", ".join(self.wheels),
                              "abiflags_shown": repr(self.abiflags)})
        self.newest = project.musl.newest_debian_version
        self.config = {"triplet": self.target.platform_triplet, "abiflags": self.abiflags,
                       "byteorder": self.target.byteorder,
                       "wheel_platform": f"musllinux_1_2_{self.target.wheel_arch}",
                       "not_built": self.recipe.missing_modules, "absent_allowed": self.recipe.absent_allowed(),
                       "musl_lacks": list(project.musl.debian_minimum_lacks)}

    def run(self) -> dict:
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="musl-cpython-verify-") as tmp:
            workdir = Path(tmp)
            root = workdir / "unpacked here"
            try:
                safe_extract(self.archive, root)
            except UnsafeArchive as e:
                raise VerificationCannotRun(str(e)) from None
            tree = tree_in(root)
            if not (tree / "bin" / "python3").exists():
                raise VerificationCannotRun(f"{self.archive.name}: no python/bin/python3 inside")
            musl_root = musl.musl_root(self.ctx, self.target)
            exports = musl.exported_symbols(musl.libc_path(musl_root, self.target))
            exports |= set(self.ctx.project.musl.debian_minimum_lacks)
            for check in elf_policy(tree, self.target, exports, musl.checked_version(self.ctx, self.target)):
                self.report.add(check.id, check.status, check.detail)
            session = Session(self.ctx, self.target, workdir, tree, self.config)
            try:
                with emulation.runner(self.ctx, self.target, [workdir]) as session.runner:
                    self._interpreter(session)
            except EmulationUnavailable as e:
                raise VerificationCannotRun(str(e)) from None
            self.report.run("leaks.build_paths", lambda: host.leaks(session))
            self.report.run("isolation.loader_only_root", lambda: host.isolated(
                session, self.archive, self.recipe.missing_modules, workdir / "isolated"))
            self.report.run("isolation.no_proc", lambda: host.isolated(
                session, self.archive, self.recipe.missing_modules, workdir / "isolated-no-proc", proc=False))
        counts = self.report.counts()
        return {
            "archive": self.archive.name, "target": self.target.triple, "python": self.name.version,
            "minimum_musl": self.ctx.project.musl.minimum,
            "checks": self.report.ordered(),
            "summary": {"run": len(self.report.checks), "passed": counts["pass"], "failed": counts["fail"],
                        "skipped": counts["skip"], "wall_time_s": round(time.monotonic() - start, 1),
                        "interpreter_starts": session.starts},
        }

    def _interpreter(self, session: Session) -> None:
        report, tree = self.report, session.tree
        cert = host.certificate(session)
        direct = [i for i in DIRECT if i != "functional.tls_handshake" or "cert" in cert]
        results, first = session.probe(tree / "bin" / "python3", direct, config=cert if "cert" in cert else {},
                                       name="direct")
        facts = host.facts(results)
        host.record(report, results, "identity.soabi")
        self._symlink_and_extension(session, facts)
        host.record(report, results, "identity.extension_suffixes", "identity.musllinux_tags", "identity.variant",
                    "stdlib.imports", "stdlib.builtin_modules")
        host.record(report, results, *(i for i in direct if i.startswith("functional.")
                                       and i != "functional.startup_lang_unset"))
        if "cert" not in cert:
            report.add("functional.tls_handshake", *(("skip", cert["skip"]) if "skip" in cert else ("fail", cert["fail"])))
        status, text = results["functional.startup_lang_unset"]
        if status == "pass" and first is not None and first.stderr:
            status, text = "fail", first.stderr.strip().splitlines()[-1]
        report.add("functional.startup_lang_unset", status, text)
        c_locale, _ = session.probe(tree / "bin" / "python3", ["functional.startup_lc_all_c"], name="lc-all-c",
                                    env={"PATH": "/usr/bin:/bin", "HOME": str(session.home), "LC_ALL": "C"})
        host.record(report, c_locale, "functional.startup_lc_all_c")
        foreign, _ = session.probe(tree / "bin" / "python3", ["identity.foreign_argv0"], exec_as=FOREIGN_ARGV0,
                                   config={"foreign_argv0": FOREIGN_ARGV0}, name="foreign-argv0")
        host.record(report, foreign, "identity.foreign_argv0")
        status, text = results["installers.unpacked_by_hand"]
        try:
            text = f"{host.python_config(session, self.ldversion, facts)}; {text}" if status == "pass" else text
        except Fail as e:
            status, text = "fail", str(e)
        report.add("installers.unpacked_by_hand", status, text)
        self._installers(session, facts)

    def _symlink_and_extension(self, session: Session, facts: dict) -> None:
        """A symlink elsewhere finds the tree; a C extension compiled here imports."""
        elsewhere = session.workdir / "elsewhere" / "bin"
        elsewhere.mkdir(parents=True)
        (elsewhere / "python3").symlink_to(session.tree / "bin" / "python3")
        try:
            extension = host.compile_extension(session, facts, self.ldversion)
        except Fail as e:
            extension = None
            self.extension_failure = str(e)
        ids = ["identity.soabi_via_symlink"] + (["installers.c_extension"] if extension else [])
        self.symlink_results, _ = session.probe(elsewhere / "python3", ids, name="symlink",
                                                config={"extension_dir": str(extension.parent) if extension else ""})
        host.record(self.report, self.symlink_results, "identity.soabi_via_symlink")
        self.extension = extension

    def _installers(self, session: Session, facts: dict) -> None:
        report = self.report
        venv, note = None, ""
        try:
            venv, note = host.make_venv(session, facts.get("pip"), self.recipe.pip_version)
            report.add("installers.venv", "pass", f"{venv.name} created{note}")
        except (Skip, Fail) as e:
            report.add("installers.venv", "skip" if isinstance(e, Skip) else "fail", str(e))
        try:
            copies = host.make_copies_venv(session)
            results, _ = session.probe(copies / "bin" / "python", ["installers.venv_copies"], name="venv-copies")
            host.record(report, results, "installers.venv_copies")
        except Fail as e:
            report.add("installers.venv_copies", "fail", str(e))
        if venv is not None:
            tags, _ = session.probe(venv / "bin" / "python", ["identity.musllinux_tags_in_venv"], name="venv")
            host.record(report, tags, "identity.musllinux_tags_in_venv", suffix=note)
        else:
            report.add("identity.musllinux_tags_in_venv", report.checks["installers.venv"].status,
                       report.checks["installers.venv"].detail)
        self._wheels_and_crypt(session, venv)
        if self.extension is None:
            report.add("installers.c_extension", "fail", self.extension_failure)
        else:
            status, text = self.symlink_results["installers.c_extension"]
            report.add("installers.c_extension", status, self.extension.name if status == "pass" else text)

    def _wheels_and_crypt(self, session: Session, venv: Path | None) -> None:
        """Wheels from the index and crypt(3) under Debian's newest musl: current
        musllinux wheels need musl >= 1.2.4 (DT_RELR, see recipes/project.toml),
        and Debian's build of the oldest musl has no crypt(3)."""
        report, newest = self.report, self.newest
        wanted = []
        program, env, modules, installed = session.tree / "bin" / f"python{self.ldversion}", session.env(), [], ""
        try:
            if not self.network:
                raise Skip("--offline: the package index is not used")
            program, env, modules, installed = host.install_wheels(session, self.wheels, venv,
                                                                   self.target.wheel_arch, self.minor, self.abiflags)
            wanted.append("installers.wheels")
        except (Skip, Fail) as e:
            report.add("installers.wheels", "skip" if isinstance(e, Skip) else "fail", str(e))
        has_crypt = (session.tree / "lib" / self.stdlib_dir / "crypt.py").exists()  # removed in 3.13
        if has_crypt:
            wanted.append("functional.crypt")
        if not wanted:
            return
        try:
            results, _ = session.probe(program, wanted, env=env, config={"wheel_modules": modules},
                                       newest_musl=True, name="newest-musl")
        except BuildError as e:
            for check_id in wanted:
                report.add(check_id, "skip", f"Debian's newest musl is not available here: {e}")
            return
        if "installers.wheels" in wanted:
            status, text = results["installers.wheels"]
            if status == "pass":
                text = (f"{installed}; imported under Debian's musl {newest} loader" if session.runner.root is None
                        else f"imported {installed}")
            else:
                text = f"import under musl {newest}: {text}"
            if self.without_wheels:
                text += "; not installed for this variant: " + "; ".join(
                    f"{name} ({why})" for name, why in self.without_wheels.items())
            report.add("installers.wheels", status, text)
        if has_crypt:
            host.record(report, results, "functional.crypt", suffix=f" under musl {newest}")


def earlier_report(archive: Path, network: bool) -> dict | None:
    """The passing report of an earlier verification of these very bytes by
    this very code (and with the package index, if this run has it), if any."""
    try:
        report = json.loads(archive.with_name(archive.name + ".verify.json").read_text())
    except (OSError, ValueError):
        return None
    if (report.get("archive_sha256") == sha256_file(archive) and report.get("code") == code_identity()
            and report.get("network", False) >= network and report["summary"]["failed"] == 0):
        return report
    return None


def distributions(paths: list[Path]) -> list[Path]:
    """The archives `build.py verify` was given: files as named, and for a
    folder every distribution archive in it (a PGO profile beside them is none)."""
    archives = []
    for path in paths:
        if not path.is_dir():
            archives.append(path)
            continue
        found = []
        for candidate in sorted(path.iterdir()):
            try:
                if ArchiveName.parse(candidate.name).kind != "profile":
                    found.append(candidate)
            except NotAnArchiveName:
                continue
        if not found:
            raise VerificationCannotRun(f"{path}: no distribution archives in this folder")
        archives += found
    return archives


def verify(ctx: Context, archive: Path, network: bool = True) -> dict:
    """Verify an archive and write <archive>.verify.json; failures quarantine it."""
    if not archive.is_file():
        raise VerificationCannotRun(f"{archive}: no such file")
    detail(f"verifying {archive.name}")
    report = Verifier(ctx, archive, network).run()
    report.update(archive_sha256=sha256_file(archive), code=code_identity(), network=network)
    report_path = archive.with_name(archive.name + ".verify.json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    summary = report["summary"]
    detail(f"{summary['run']} checks: {summary['passed']} passed, {summary['failed']} failed, "
           f"{summary['skipped']} skipped in {summary['wall_time_s']}s, {summary['interpreter_starts']} "
           f"interpreter starts; report: {report_path}")
    if summary["failed"]:
        report["quarantined"] = str(quarantine(archive, report_path))
    return report


def quarantine(archive: Path, report_path: Path) -> Path:
    """Move a failed archive and its report out of the way, into quarantine/ beside them."""
    directory = archive.parent / "quarantine"
    directory.mkdir(exist_ok=True)
    for path in (archive, report_path):
        os.replace(path, directory / path.name)
    return directory / archive.name


def verify_all(ctx: Context, archives: list[Path], network: bool) -> dict:
    """Verify each archive (reusing passing reports of the same bytes); a failure stops the build."""
    reports = {}
    for archive in archives:
        report = earlier_report(archive, network)
        if report:
            detail(f"{archive.name}: verified before, unchanged ({report['summary']['passed']} passed, "
                   f"{report['summary']['skipped']} skipped)")
        else:
            report = verify(ctx, archive, network=network)
        reports[archive.name] = report
        if report["summary"]["failed"]:
            failed = [f"{c['id']} ({c['group']}: {c['name']})" for c in report["checks"] if c["status"] == "fail"]
            raise BuildError(f"verification of {archive.name} failed ({'; '.join(failed)}); the "
                             f"archive and its report were moved to {report['quarantined']}")
    return reports
