"""Archive names: one type formats and parses every kind and variant."""
import pytest

from musl_cpython.names import ArchiveName, NotAnArchiveName

TRIPLE = "x86_64-unknown-linux-musl"


@pytest.mark.parametrize("name, kind, options", [
    (f"cpython-3.13.15+20261121-{TRIPLE}-install_only.tar.gz", "install_only", ()),
    (f"cpython-3.13.15+20261121-{TRIPLE}-install_only_stripped.tar.gz", "install_only_stripped", ()),
    (f"cpython-3.13.15+20261121-{TRIPLE}-pgo+lto-full.tar.zst", "full", ("pgo", "lto")),
    (f"cpython-3.13.15+20261121-{TRIPLE}-noopt-full.tar.zst", "full", ("noopt",)),
    (f"cpython-3.13.15+20261121-{TRIPLE}-freethreaded+pgo+lto-full.tar.zst", "full", ("freethreaded", "pgo", "lto")),
    (f"cpython-3.13.15+20261121-{TRIPLE}-debug-full.tar.zst", "full", ("debug",)),
    (f"cpython-3.13.15+20261121-{TRIPLE}-freethreaded-install_only.tar.gz", "install_only", ("freethreaded",)),
    ("cpython-3.15.0rc1+20261121-armv7-unknown-linux-musleabihf-install_only_stripped.tar.gz",
     "install_only_stripped", ()),
])
def test_names_round_trip(name, kind, options):
    parsed = ArchiveName.parse(name)
    assert (parsed.kind, parsed.options) == (kind, options)
    assert str(parsed) == name
    assert parsed.triple.endswith(("linux-musl", "linux-musleabihf"))


def test_fields_of_a_name():
    name = ArchiveName.parse(f"cpython-3.9.2+20261121-{TRIPLE}-lto-full.tar.zst")
    assert (name.version, name.minor, name.build_tag, name.triple, name.flavour) == \
        ("3.9.2", "3.9", "20261121", TRIPLE, "lto-full")


@pytest.mark.parametrize("bad", [
    "something.tar.gz",
    f"cpython-3.13.15+20261121-{TRIPLE}-install_only.tar.zst",  # install_only is .tar.gz
    f"cpython-3.13.15+20261121-{TRIPLE}-full.tar.zst",  # a full archive names its options
    f"cpython-3.13.15+20261121-x86_64-unknown-linux-gnu-install_only.tar.gz",
    f"cpython-3.13+20261121-{TRIPLE}-install_only.tar.gz",
])
def test_what_is_not_an_archive_name(bad):
    with pytest.raises(NotAnArchiveName, match="cpython|something"):
        ArchiveName.parse(bad)


def test_a_full_archive_without_options_cannot_be_made():
    with pytest.raises(ValueError, match="build options"):
        ArchiveName("3.13.15", "20261121", TRIPLE, "full")
