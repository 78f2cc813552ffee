"""Every target arch, built for CPython 3.13 and verified here: directly on
this machine's own arch, under qemu-user in a per-arch root elsewhere.

Not part of the default run (a cold cross build takes a quarter of an hour
per arch): ./bootstrap.sh test -m arches
"""
import json
import subprocess
import sys

import pytest

from musl_cpython import REPO, emulation
from musl_cpython.recipes import load_targets

# Also e2e, so that `-m "not e2e"` leaves them out too.
pytestmark = [pytest.mark.arches, pytest.mark.e2e]

TARGETS = load_targets()


@pytest.fixture(scope="module", params=sorted(TARGETS))
def built(request, tmp_path_factory):
    target = TARGETS[request.param]
    missing = emulation.problems(target)
    if missing:
        pytest.skip(f"this machine cannot run {target.arch} programs: {'; '.join(missing)}")
    work = tmp_path_factory.mktemp(f"cpython-3.13-{target.arch}")
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "build", "--python", "3.13", "--arch",
                             target.arch, "--out", str(work / "dist"), "--build-dir", str(work / "build")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    return target, work / "dist"


def test_every_archive_verified_with_every_check_that_applies(built):
    target, dist = built
    reports = sorted(dist.glob(f"*-{target.triple}-*.verify.json"))
    assert len(reports) == 3
    for path in reports:
        report = json.loads(path.read_text())
        assert report["summary"]["failed"] == 0, path.name
        checks = {c["id"]: c for c in report["checks"]}
        past_2038 = checks["functional.time_past_2038"]
        assert past_2038["status"] == "pass" and "2039-02-23" in past_2038["detail"]
        order = checks["functional.byte_order"]
        assert order["status"] == "pass" and order["detail"].startswith(target.byteorder)
        assert checks["identity.musllinux_tags"]["status"] == "pass"
        # A skip is allowed only where the index has no musllinux wheel for the arch at all.
        wheels = checks["installers.wheels"]
        assert wheels["status"] == "pass" or "has no musllinux wheel" in wheels["detail"], wheels
        skipped = [c for c in report["checks"] if c["status"] == "skip" and c is not wheels]
        assert not skipped, skipped
