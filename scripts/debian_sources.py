#!/usr/bin/env python3
"""Print deb-src entries derived from this machine's own Debian apt sources.

Source packages are the only route to many upstream tarballs on machines that
reach nothing but Debian's archive. The entries reuse the URIs and keyring of
the existing Debian entries (whatever mirror the machine is configured for)
and add the suites whose source indexes carry the pinned files. Standard
library only: this runs before the project's virtualenv exists.
"""
import glob
import sys

SUITES = ["bookworm", "trixie", "forky", "sid"]


def deb822_entries(text):
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields:
            yield fields


def one_line_entries(text):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "deb":
            options = {}
            if words[1].startswith("["):
                while not words[1].endswith("]"):
                    words[1:3] = [words[1] + " " + words[2]]
                for option in words[1].strip("[]").split():
                    key, _, value = option.partition("=")
                    options[key] = value
                words.pop(1)
            yield {"types": "deb", "uris": words[1], "suites": words[2],
                   "signed-by": options.get("signed-by", "")}


def main():
    entries = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        entries += deb822_entries(open(path).read())
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            entries += one_line_entries(open(path).read())
        except OSError:
            pass
    uris = {}
    for entry in entries:
        suites = entry.get("suites", "").split()
        if "deb" not in entry.get("types", "").split():
            continue
        if entry.get("enabled", "yes").lower() == "no":
            continue
        # The main archive only: not security, not third-party repositories.
        if not any(s.split("-")[0] in SUITES + ["bullseye", "stable", "oldstable", "testing",
                                                   "unstable"] for s in suites):
            continue
        for uri in entry.get("uris", "").split():
            if uri.rstrip("/").endswith("/debian"):
                uris.setdefault(uri, entry.get("signed-by", ""))
    if not uris:
        sys.exit("no Debian archive entry found in /etc/apt: cannot derive deb-src entries")
    for uri, keyring in uris.items():
        print("Types: deb-src")
        print(f"URIs: {uri}")
        print(f"Suites: {' '.join(SUITES)}")
        print("Components: main")
        if keyring:
            print(f"Signed-By: {keyring}")
        print()


if __name__ == "__main__":
    main()
