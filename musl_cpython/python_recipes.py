"""The CPython recipes: recipes/python/*.toml, their version ranges and build options.

recipes/python/common.toml holds what every version shares; any list item
or table value there may apply to a range of versions only, written as an
inline table `{value = ..., python = ">=3.10"}` (or `why =` for tables
whose values are reasons). recipes/python/<minor>.toml holds that minor's
releases and what is its own; its lists extend common's, its tables are
merged into common's, and its other values replace them.

A build option ([options]) is a named part of a build that can be left out
or asked for; PythonRecipe.with_options() folds the chosen ones into the
recipe that the build stages read.
"""
from __future__ import annotations

import dataclasses
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from . import REPO, recipes, schema
from .errors import RecipeError, UsageError
from .recipes import PATCHES, SourceFile, check_pins, load_toml, recipe_name

# C code the target runs as part of a build (build options name files here).
RESOURCES = Path(__file__).parent / "resources"


@dataclass(frozen=True)
class PythonRelease:
    version: str
    sources: tuple[SourceFile, ...]


@dataclass(frozen=True)
class StdlibTests:
    modules: tuple[str, ...] = ()
    exclude: dict[str, str] = field(default_factory=dict)  # test id -> reason


@dataclass(frozen=True)
class Stripped:
    drop: tuple[str, ...] = ()  # directories under lib/pythonX.Y
    optimized_bytecode: bool = True
    drop_extensions: tuple[str, ...] = ()  # extension modules whose shared objects in lib-dynload go


@dataclass(frozen=True)
class BuildOption:
    """A named part of a build that can be left out (build --without NAME) or
    asked for (build --with NAME): what it adds to the build when on."""

    why: str
    default: bool = True
    versions: str = ""  # the CPython versions it applies to, as a PEP 440 range ("" = all)
    arches: tuple[str, ...] = ()  # the arches it applies to (empty = all)
    configure: tuple[str, ...] = ()
    make: tuple[str, ...] = ()  # variables for every make command (make VAR=value)
    patches: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    # C files under musl_cpython/resources, compiled for the target and linked
    # into bin/python3.X alone, so that what they define interposes on musl's
    # for the whole process but not for programs that embed libpython.
    executable_objects: tuple[str, ...] = ()
    # Dependencies it adds to the build; one whose recipe names an
    # executable_object is linked into bin/python3.X with the objects above.
    depends: tuple[str, ...] = ()
    # Standard-library extension modules built into libpython (and so into a
    # static bin/python3.X) instead of lib-dynload: module -> why. Their
    # rules come from the release's own Modules/Setup.stdlib.in (3.11+).
    builtin_modules: dict[str, str] = field(default_factory=dict)
    # A variant (uv's and python-build-standalone's word): the letter it adds
    # to the ABI flags (t: free-threaded, d: debug), and so to the names of
    # the executable, libpython, the headers and the extension suffix.
    abi_flag: str = ""
    # Options it cannot be built with: left out when they are only defaults,
    # an error when asked for by name.
    excludes: tuple[str, ...] = ()
    # Options it cannot be built without: where one of them is left out, this
    # one is too when it is only a default, and asked for by name it is an error.
    requires: tuple[str, ...] = ()
    # [wheels] that verification cannot install for this variant: distribution -> why.
    without_wheels: dict[str, str] = field(default_factory=dict)

    def applies(self, minor: str, arch: str | None = None) -> bool:
        """Whether it applies to this version (and arch, unless None: on some arch)."""
        return (not self.versions or Version(minor) in SpecifierSet(self.versions)) and (
            arch is None or not self.arches or arch in self.arches)


@dataclass(frozen=True)
class PythonRecipe:
    minor: str
    licenses: tuple[str, ...]
    license_files: tuple[str, ...]
    depends: tuple[str, ...]
    releases: tuple[PythonRelease, ...]
    patches: tuple[str, ...] = ()
    configure: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    missing_modules: dict[str, str] = field(default_factory=dict)  # module -> why configure may leave it out
    may_be_absent: dict[str, str] = field(default_factory=dict)  # module -> why it may fail to import
    # Extension modules of Modules/Setup.stdlib.in that no option builds in: module -> why each stays shared.
    shared_modules: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # extra variables for configure and make
    cross_environment: dict[str, str] = field(default_factory=dict)  # ... and for cross builds only
    arch_configure: dict[str, tuple[str, ...]] = field(default_factory=dict)  # arch -> arguments after the others
    wheels: dict[str, str] = field(default_factory=dict)  # distribution -> module verification imports
    pip: tuple[SourceFile, ...] = ()  # the pip wheel every build of this minor ships, in place of the bundled one
    stdlib_tests: StdlibTests = field(default_factory=StdlibTests)  # CPython's own tests: modules, exclusions
    stripped: Stripped = field(default_factory=Stripped)  # what install_only_stripped leaves out
    make: tuple[str, ...] = ()  # variables for every make command
    options: dict[str, BuildOption] = field(default_factory=dict)
    # The options a with_options() recipe has folded in (set by the code, never by a recipe file).
    enabled_options: tuple[str, ...] = field(default=(), metadata={"internal": True})
    executable_objects: tuple[str, ...] = field(default=(), metadata={"internal": True})  # from its options
    builtin_modules: dict[str, str] = field(default_factory=dict, metadata={"internal": True})  # from its options

    def choose_options(self, arch: str, add=(), remove=()) -> tuple[str, ...]:
        """The options a build of this recipe for `arch` here has: the defaults
        that apply, plus `add`, minus `remove`. Naming an unknown option, or
        asking for one that cannot apply to this version or arch, is an error.
        A cross build has PGO only when it is asked for by name: its training
        runs the instrumented interpreter under qemu, which takes most of an
        hour."""
        for name in (*add, *remove):
            if name not in self.options:
                raise UsageError(f"unknown build option {name!r}; options for Python {self.minor}: "
                                 f"{', '.join(self.options) or 'none'}")
        for name in add:
            clash = [other for other in add if other in self.options[name].excludes]
            if clash:
                raise UsageError(f"build option {name!r} cannot be built with {', '.join(map(repr, clash))}")
            if not self.options[name].applies(self.minor, arch):
                option = self.options[name]
                where = [f"Python {option.versions}" if option.versions else "",
                         f"arches {', '.join(option.arches)}" if option.arches else ""]
                raise UsageError(f"build option {name!r} does not apply to Python {self.minor} for {arch}; it "
                                 f"applies to {' on '.join(w for w in where if w)}")
        cross = platform.machine() != arch
        chosen = [name for name, option in self.options.items()
                  if name not in remove and (name in add or (option.default and option.applies(self.minor, arch)
                                                             and not (cross and name == "pgo")))]
        excluded = {other for name in chosen for other in self.options[name].excludes}
        chosen = [name for name in chosen if name not in excluded]
        for name in list(chosen):
            missing = [needed for needed in self.options[name].requires if needed not in chosen]
            if missing and name in add:
                raise UsageError(f"build option {name!r} needs {', '.join(map(repr, missing))} for Python "
                                 f"{self.minor}, which this build leaves out")
            if missing:
                chosen.remove(name)
        return tuple(chosen)

    def with_options(self, names) -> PythonRecipe:
        """This recipe with what the named options add folded into its own lists and tables."""
        if self.enabled_options:
            raise ValueError("with_options() folds options into the recipe as loaded, once")
        merged = {"configure": list(self.configure), "make": list(self.make), "patches": list(self.patches),
                  "cflags": list(self.cflags), "environment": dict(self.environment),
                  "executable_objects": list(self.executable_objects), "builtin_modules": dict(self.builtin_modules),
                  "depends": list(self.depends)}
        for name in names:
            option = self.options[name]
            for key in ("configure", "make", "patches", "cflags", "executable_objects", "depends"):
                merged[key] += getattr(option, key)
            merged["environment"].update(option.environment)
            merged["builtin_modules"].update(option.builtin_modules)
        return dataclasses.replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()},
                                   enabled_options=tuple(names))

    def configure_for(self, arch: str) -> tuple[str, ...]:
        return (*self.configure, *self.arch_configure.get(arch, ()))

    @property
    def abiflags(self) -> str:
        """sys.abiflags of a build of this recipe: its variants' letters ("", "t", "d", "td")."""
        return "".join(self.options[name].abi_flag for name in self.enabled_options)

    def variant_abiflags(self, variant: str | None) -> str:
        """The ABI flags of a build whose archive names `variant` (freethreaded+debug -> td)."""
        return "".join(self.options[name].abi_flag for name in self.variant_options(names=[variant] if variant else []))

    def ldversion(self, abiflags: str) -> str:
        """3.13, or with a variant's ABI flags 3.13t, 3.13d: the executable is
        bin/python<ldversion>, its headers include/python<ldversion>."""
        return self.minor + abiflags

    def stdlib_dir(self, abiflags: str) -> str:
        """The standard library's directory under lib/: python3.13, or
        python3.13t for a free-threaded build (a debug build shares python3.13)."""
        return f"python{self.minor}{'t' if 't' in abiflags else ''}"

    @property
    def variant_names(self) -> tuple[str, ...]:
        """The variants among its options, as archive names lead with them."""
        return tuple(name for name in self.enabled_options if self.options[name].abi_flag)

    @property
    def variant(self) -> str | None:
        """Its variants as uv's download metadata spells them ("freethreaded",
        "debug", "freethreaded+debug"), or None."""
        return "+".join(self.variant_names) or None

    @property
    def variants(self) -> dict[str, BuildOption]:
        return {name: option for name, option in self.options.items() if option.abi_flag}

    def variant_options(self, abiflags: str = "", names=()) -> tuple[str, ...]:
        """The options that `3.13t`'s ABI letters and `--variant NAME`s ask for."""
        variants, chosen = self.variants, []
        for name in names:
            for part in name.split("+"):
                if part not in variants:
                    raise UsageError(f"unknown variant {part!r}; variants: {', '.join(variants)}")
                chosen.append(part)
        for letter in abiflags:
            named = [name for name, option in variants.items() if option.abi_flag == letter]
            if not named:
                raise UsageError(f"unknown ABI flag {letter!r} in the Python version; flags: "
                                 + ", ".join(f"{o.abi_flag} ({n})" for n, o in variants.items()))
            chosen.append(named[0])
        return tuple(name for name in variants if name in chosen)  # CPython's order: td, not dt

    @property
    def pip_version(self) -> str | None:
        """The version of the pip wheel pinned for this minor (its file name says it)."""
        return self.pip[0].file.split("-")[1] if self.pip else None

    def profile_guided(self, arch: str) -> bool:
        """Whether builds for `arch` here use PGO (configure takes the last flag)."""
        flags = [a for a in self.configure_for(arch) if a in ("--enable-optimizations", "--disable-optimizations")]
        return bool(flags) and flags[-1] == "--enable-optimizations"

    def patch_paths(self) -> list[Path]:
        return [PATCHES / name for name in self.patches]

    def absent_allowed(self) -> dict[str, str]:
        """Modules that may fail to import: those not built, and [may_be_absent]."""
        return {**{name: f"not built: {why}" for name, why in self.missing_modules.items()}, **self.may_be_absent}


_RANGED_KEYS = {"python", "value", "why"}


def _for_version(value, version: Version, where: str, path: str):
    """`value` with every version-ranged item resolved for `version`: kept
    (as its value) when the version is in range, dropped otherwise."""
    if isinstance(value, list):
        resolved = [_ranged(item, version, where, f"{path}[{i}]") for i, item in enumerate(value)]
        return [item for item in resolved if item is not _OUT_OF_RANGE]
    if isinstance(value, dict):
        resolved = {key: _ranged(item, version, where, f"{path}.{key}" if path else key)
                    for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _OUT_OF_RANGE}
    return value


_OUT_OF_RANGE = object()


def _ranged(item, version: Version, where: str, path: str):
    if not (isinstance(item, dict) and "python" in item):
        return _for_version(item, version, where, path)
    unknown = set(item) - _RANGED_KEYS
    values = [key for key in ("value", "why") if key in item]
    if unknown or len(values) != 1:
        raise RecipeError(f"{where}: {path}: a version-ranged item has `python` and one of `value` or `why`"
                          f"{f', not {sorted(unknown)}' if unknown else ''}")
    try:
        wanted = SpecifierSet(item["python"])
    except InvalidSpecifier:
        raise RecipeError(f"{where}: {path}: python = {item['python']!r} is not a version range "
                          "(e.g. \">=3.9,<3.11\")") from None
    return item[values[0]] if version in wanted else _OUT_OF_RANGE


def _merged(common: dict, own: dict) -> dict:
    """`own` over `common`: lists extend, tables merge, other values replace."""
    out = dict(common)
    for key, value in own.items():
        if isinstance(value, list) and isinstance(common.get(key), list):
            out[key] = [*common[key], *value]
        elif isinstance(value, dict) and isinstance(common.get(key), dict):
            out[key] = _merged(common[key], value)
        else:
            out[key] = value
    return out


def load_pythons() -> dict[str, PythonRecipe]:
    directory = recipes.RECIPES / "python"  # read when called: tests point it at a copy
    common_path = directory / "common.toml"
    common = load_toml(common_path)
    schema.check_keys(PythonRecipe, common, recipe_name(common_path))
    pythons = {}
    for path in sorted(directory.glob("3.*.toml")):
        own = load_toml(path)
        schema.check_keys(PythonRecipe, own, recipe_name(path))
        minor = own.get("minor")
        if not isinstance(minor, str) or path.stem != minor:
            raise RecipeError(f"{recipe_name(path)}: minor = {minor!r}, expected {path.stem!r} (the file's name)")
        version = Version(minor)
        data = _merged(_for_version(common, version, recipe_name(common_path), ""),
                       _for_version(own, version, recipe_name(path), ""))
        recipe = schema.build(PythonRecipe, data, f"{recipe_name(path)} (with {common_path.name})")
        for release in recipe.releases:
            check_pins(release.sources, f"{recipe_name(path)}: release {release.version}")
        check_pins(recipe.pip, f"{recipe_name(path)}: [[pip]]")
        for name, option in recipe.options.items():
            for source in option.executable_objects:
                if not (RESOURCES / source).is_file() or not source.endswith(".c"):
                    raise RecipeError(f"{recipe_name(common_path)}: option {name!r}: executable_objects names "
                                      f"{source!r}, which is no C file in {RESOURCES.relative_to(REPO)}")
            if option.builtin_modules and option.applies(minor) and version < Version("3.11"):
                raise RecipeError(f"{recipe_name(common_path)}: option {name!r} builds modules in, which takes "
                                  "Modules/Setup.stdlib.in (3.11 and later); its versions must exclude "
                                  f"Python {minor}")
            kept = sorted(set(option.builtin_modules) & (set(recipe.shared_modules) | set(recipe.missing_modules)))
            if kept:
                raise RecipeError(f"{recipe_name(common_path)}: option {name!r} builds {', '.join(kept)} into "
                                  f"Python {minor}, which [shared_modules] or [missing_modules] also list")
        if any(not re.fullmatch(r"pip-[0-9.]+-py3-none-any\.whl", src.file) for src in recipe.pip):
            raise RecipeError(f"{recipe_name(path)}: [[pip]] must pin pip wheels (pip-<version>-py3-none-any.whl)")
        releases = tuple(sorted(recipe.releases, key=lambda r: Version(r.version), reverse=True))
        pythons[minor] = dataclasses.replace(recipe, releases=releases)
    return dict(sorted(pythons.items(), key=lambda item: Version(item[0])))


def python_for(spec: str) -> tuple[PythonRecipe, list[PythonRelease]]:
    """The recipe for a version spec, and the releases it may mean.

    '3.13' means every pinned 3.13 release, newest first (the caller takes
    the newest obtainable one); '3.13.15' means exactly that release.
    """
    pythons = load_pythons()
    known = [r.version for p in pythons.values() for r in p.releases]
    spec = split_abiflags(spec)[0]
    parts = spec.split(".")
    minor = ".".join(parts[:2])
    recipe = pythons.get(minor)
    if recipe is None or len(parts) not in (2, 3):
        raise UsageError(f"unknown Python version {spec!r}; known versions: "
                         f"{', '.join(pythons)} (pinned releases: {', '.join(known)})")
    if len(parts) == 2:
        return recipe, list(recipe.releases)
    matches = [r for r in recipe.releases if r.version == spec]
    if not matches:
        raise UsageError(f"unknown Python version {spec!r}; known versions: "
                         f"{', '.join(pythons)} (pinned releases: {', '.join(known)})")
    return recipe, matches


def split_abiflags(spec: str) -> tuple[str, str]:
    """'3.13t' -> ('3.13', 't'): uv's spelling of a variant, letters after the version."""
    match = re.fullmatch(r"(.*?\d)([a-z]*)", spec)
    return (match.group(1), match.group(2)) if match else (spec, "")
