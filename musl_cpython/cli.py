"""Command line: build, fetch, list."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import REPO, container, matrix, pipeline, release, reproduce, sources, stdlib_tests, verify
from .context import Context, default_cache_dir
from .errors import BuildError, StepFailed, UsageError
from .python_recipes import load_pythons, python_for
from .recipes import load_dependencies, load_targets
from .steps import TAIL_LINES, detail, exit_on_sigterm, say, tail


def _context(args) -> Context:
    return Context(build_dir=args.build_dir, cache_dir=args.cache_dir,
                   sources_dir=args.sources_dir, jobs=getattr(args, "jobs", None) or os.cpu_count() or 1,
                   keep_work=getattr(args, "keep_work", False))


def _variant_options(args) -> list[str]:
    """The build options that --variant names, for the version asked for."""
    return python_for(args.python)[0].variant_options(names=args.variant)


def cmd_build(args) -> int:
    start = time.monotonic()
    if "all" in (args.python, args.arch):
        if args.variant:
            raise UsageError("--variant builds one version for one arch; `build.py matrix` lists every variant's job")
        rows = matrix.build_many(_context(args), args.python, args.arch, Path(args.out),
                                 network=not args.offline, backend=args.backend)
        say(f"matrix built in {(time.monotonic() - start) / 60:.1f} min:\n{matrix.table(rows)}")
        return 0 if all(row.status in ("ok", "source unavailable") for row in rows) else 1
    variants = _variant_options(args)
    result = pipeline.build(_context(args), args.python, args.arch, Path(args.out), network=not args.offline,
                            backend=args.backend, verify_archives=not args.no_verify,
                            add_options=[*variants, *args.with_options],
                            remove_options=args.without_options + (["pgo"] if args.no_pgo else []),
                            profile=Path(args.profile).absolute() if args.profile else None)
    missing = result.info.get("missing_modules", {})
    say(f"built in {(time.monotonic() - start) / 60:.1f} min: " + ", ".join(a.name for a in result.archives))
    for name, reason in missing.items():
        detail(f"not built: {name}: {reason}")
    return 0


def cmd_matrix(args) -> int:
    entries = matrix.entries(args.python, args.arch)
    if args.github_output:
        with open(args.github_output, "a") as f:
            for backend in ("host", "container"):
                jobs = [entry for entry in entries if entry["backend"] == backend]
                f.write(f"{backend}={json.dumps({'include': jobs})}\n")
                say(f"{backend}: {len(jobs)} jobs")
    elif args.json:
        print(json.dumps({"include": entries}))
    else:
        for entry in entries:
            say(f"  {entry['python']:10} {entry['arch']:8} {entry['triple']:34} {entry['runner']}")
    return 0


def cmd_stdlib_tests(args) -> int:
    summary = stdlib_tests.run(_context(args), Path(args.archive).absolute(), args.module or None)
    failed = sum(r["failed"] for r in summary["modules"].values())
    say(f"CPython {summary['python']}: {sum(r['passed'] for r in summary['modules'].values())} passed, "
        f"{failed} failed")
    return 1 if failed else 0


def cmd_verify(args) -> int:
    ctx = _context(args)
    archives = verify.distributions([Path(path).absolute() for path in args.archives])
    failed = []
    for archive in archives:
        report = verify.verify(ctx, archive, network=not args.offline)
        if report["summary"]["failed"]:
            say(f"verification of {archive.name} failed; moved to {report['quarantined']}")
            failed.append(archive.name)
    if len(archives) > 1:
        say(f"{len(archives) - len(failed)} of {len(archives)} archives passed verification")
    return 1 if failed else 0


def cmd_reproduce(args) -> int:
    if args.from_archive:
        if args.against_cache or args.profile or args.variant:
            raise UsageError("reproduce --from takes the build, its options and its profile from the archive; "
                             "--against-cache, --profile and --variant do not go with it")
        same = reproduce.reproduce_from(_context(args), Path(args.from_archive).absolute(),
                                        Path(args.keep) if args.keep else None)
        say(f"reproducible: every member of {Path(args.from_archive).name} and the archives beside it is identical"
            if same else "NOT reproducible: members differ")
        return 0 if same else 1
    same = reproduce.reproduce(_context(args), args.python, args.arch,
                               Path(args.keep) if args.keep else None, args.against_cache,
                               Path(args.profile).absolute() if args.profile else None, _variant_options(args))
    say("reproducible: every archive is byte-identical" if same else "NOT reproducible: archives differ")
    return 0 if same else 1


def cmd_release(args) -> int:
    release.write_release(Path(args.directory), args.base_url)
    return 0


def cmd_fetch(args) -> int:
    ctx = _context(args)
    release, deps = pipeline.fetch_for_build(ctx, args.python, args.arch)
    say(f"sources for CPython {release.version}, {deps} dependencies and the Debian packages its toolchains and "
        f"verification unpack are in {ctx.cache_dir}")
    return 0


def cmd_list(args) -> int:
    ctx = _context(args)
    say("targets:")
    for target in load_targets().values():
        say(f"  {target.arch:8} {target.triple:34} zig {target.zig_target:22} loader {target.musl_loader}")
    say("python versions (obtainable: where its source can come from now):")
    for recipe in load_pythons().values():
        for pinned in recipe.releases:
            where = (sources.obtainable(ctx, pinned.sources, network=args.network)
                     or f"not obtainable here (pinned from: {sources.pinned_origins(pinned.sources)})")
            if where == "debian" and not args.network:
                where = "debian (apt's index lists it; --network asks whether the pool serves it)"
            say(f"  {recipe.minor:6} {pinned.version:10} {where}")
    say("build options (build --with/--without NAME):")
    options = {name: option for recipe in load_pythons().values() for name, option in recipe.options.items()}
    for name, option in options.items():
        scope = ", ".join(filter(None, [f"Python {option.versions}" if option.versions else "every version",
                                        f"arches {' '.join(option.arches)}" if option.arches else ""]))
        say(f"  {name:20} {'on' if option.default else 'off'} by default; {scope}")
    say("dependencies:")
    for dep in load_dependencies().values():
        say(f"  {dep.name:10} {dep.version:14} {' '.join(dep.licenses):18} for {', '.join(dep.modules)}")
    return 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", default=default_cache_dir(),
                        help="sources, dependency and CPython builds (default: %(default)s)")
    common.add_argument("--build-dir", default=REPO / "build", help="scratch files and logs (default: build/)")
    common.add_argument("--sources-dir", default=None, help="a local mirror of source files, tried first")

    variant = argparse.ArgumentParser(add_help=False)
    variant.add_argument("--variant", action="append", default=[], metavar="NAME",
                         help="freethreaded, debug, or both (freethreaded+debug); build.py list names them")
    top = argparse.ArgumentParser(prog="build.py", description="Build relocatable musl CPython distributions.")
    sub = top.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", parents=[common, variant], help="build, package and smoke-check one distribution")
    build.add_argument("--python", default="3.13",
                       help="3.13 (newest obtainable 3.13.x), an exact 3.13.15, or all (every version, "
                            "with a summary table); 3.13t: free-threaded (uv's spelling, as --variant)")
    build.add_argument("--arch", default="x86_64", help="a target arch, or all")
    build.add_argument("--jobs", "-j", type=int, default=os.cpu_count())
    build.add_argument("--out", default=REPO / "dist", help="where archives go (default: dist/)")
    build.add_argument("--offline", action="store_true",
                       help="verification skips the checks that install from the package index")
    build.add_argument("--backend", default="auto", choices=container.BACKENDS,
                       help="host: zig (or a musl host's own compiler); container: Alpine's GCC in "
                            "docker or podman; auto (default): the container when an engine answers")
    build.add_argument("--no-verify", action="store_true",
                       help="stop after the smoke check (the container backend's inner build; the host verifies)")
    build.add_argument("--keep-work", action="store_true",
                       help="keep CPython's build directory (build/work/<arch>/cpython-<version>) when it is built")
    build.add_argument("--with", dest="with_options", action="append", default=[], metavar="OPTION",
                       help="a build option that is off by default ([options] in recipes/python/common.toml)")
    build.add_argument("--without", dest="without_options", action="append", default=[], metavar="OPTION",
                       help="leave out a build option that is on by default (e.g. static-interpreter)")
    build.add_argument("--no-pgo", action="store_true", help="the same as --without pgo")
    build.add_argument("--profile", metavar="PATH",
                       help="compile with this PGO profile (a *-pgo-profile.tar.zst, or a -full archive that "
                            "carries one) instead of training; it must be for this very build")
    build.set_defaults(func=cmd_build)

    matrixer = sub.add_parser("matrix", help="the release matrix: every Python version x arch")
    matrixer.add_argument("--python", default="all")
    matrixer.add_argument("--arch", default="all")
    matrixer.add_argument("--json", action="store_true", help="GitHub Actions' matrix format")
    matrixer.add_argument("--github-output", metavar="FILE",
                          help="append one GitHub Actions matrix per backend to FILE ($GITHUB_OUTPUT): "
                               "host=... (cross builds, in Debian) and container=... (in Alpine)")
    matrixer.set_defaults(func=cmd_matrix)

    checker = sub.add_parser("verify", parents=[common], help="prove archives work (runs after every build)")
    checker.add_argument("archives", nargs="+", metavar="ARCHIVE",
                         help="a distribution archive, or a folder: every distribution archive in it "
                              "(not PGO profiles)")
    checker.add_argument("--offline", action="store_true", help="skip the checks that install from the package index")
    checker.set_defaults(func=cmd_verify)

    tester = sub.add_parser("stdlib-tests", parents=[common],
                            help="run CPython's own tests (a fixed list of modules) on an archive")
    tester.add_argument("archive")
    tester.add_argument("--module", action="append", help="only this test module (repeatable)")
    tester.set_defaults(func=cmd_stdlib_tests)

    again = sub.add_parser("reproduce", parents=[common, variant],
                           help="build twice from scratch in clean directories and compare the archives")
    again.add_argument("--python", default="3.13")
    again.add_argument("--arch", default="x86_64")
    again.add_argument("--jobs", "-j", type=int, default=os.cpu_count())
    again.add_argument("--keep", help="keep both builds under this directory for inspection")
    again.add_argument("--against-cache", action="store_true",
                       help="compare one clean build with a build from the regular caches (half the time)")
    again.add_argument("--profile", metavar="PATH",
                       help="the PGO profile both builds use (a profile file or a published full archive); "
                            "by default the first build trains one and the second uses it")
    again.add_argument("--from", dest="from_archive", metavar="FULL_ARCHIVE",
                       help="rebuild what a published -full archive's PYTHON.json names, in fresh caches with "
                            "the profile it carries, and report every member that differs from it (and from "
                            "the install_only archives beside it)")
    again.set_defaults(func=cmd_reproduce)

    releaser = sub.add_parser("release", help="write SHA256SUMS and uv's download-metadata.json for a folder")
    releaser.add_argument("directory", help="a folder of verified archives, e.g. dist/")
    releaser.add_argument("--base-url", help="where the archives will be published (default: file:// URLs)")
    releaser.set_defaults(func=cmd_release)

    fetch = sub.add_parser("fetch", parents=[common], help="download and verify the sources a build needs")
    fetch.add_argument("--python", default="3.13")
    fetch.add_argument("--arch", default="x86_64")
    fetch.set_defaults(func=cmd_fetch)

    lister = sub.add_parser("list", parents=[common], help="show targets, Python versions and dependencies")
    lister.add_argument("--network", action="store_true", help="also probe upstream URLs")
    lister.set_defaults(func=cmd_list)
    return top


def report_failure(e: StepFailed) -> None:
    print(f"error: {e}", file=sys.stderr)
    print(f"--- last {TAIL_LINES} lines of {e.log_path} ---", file=sys.stderr)
    print(tail(e.log_path), file=sys.stderr)
    print(f"--- full log: {e.log_path}", file=sys.stderr)


def main(argv=None) -> int:
    exit_on_sigterm()
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except StepFailed as e:
        report_failure(e)
        return e.exit_code
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; completed stages are kept and the next run resumes from them", file=sys.stderr)
        return 130
