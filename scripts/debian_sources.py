#!/usr/bin/env python3
"""Print deb-src entries derived from this machine's own Debian apt sources.

Source packages are the only route to many upstream tarballs on machines that
reach nothing but Debian's archive. The entries reuse the URIs and keyring of
the existing Debian entries (whatever mirror the machine is configured for)
and add the suites whose source indexes carry the pinned files. Runs with
the system's python3, before the project's virtualenv exists.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from musl_cpython.debian import archive_uris  # noqa: E402  (standard library only)

SUITES = ["bullseye", "bookworm", "trixie", "forky", "sid"]


def main():
    uris = archive_uris()
    if not uris:
        sys.exit("no Debian archive entry found in /etc/apt: cannot derive deb-src entries")
    for uri, keyring in uris.items():
        print("Types: deb-src")
        print(f"URIs: {uri}")
        print(f"Suites: {' '.join(SUITES)}")
        print("Components: main")
        print(f"Signed-By: {keyring}")
        print()


if __name__ == "__main__":
    main()
