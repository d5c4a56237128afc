"""Debian matching on a real root file system (debootstrap minbase bookworm) against Debian
security tracker data: source packages, the release's fixed version, tracker statuses.

The tracker records are written in the tracker's own JSON export format (as in
tests/fixtures/advisories/distro/debian-tracker-json-sample.json) for packages that really
are in the image, at the versions dpkg-query reports, since the trimmed real sample holds no
bookworm entry for them. The CVE ids are made up (CVE-2099-*) so they cannot be mistaken
for real advisories.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from tests.fixtures.debootstrap import debootstrap_image, debootstrap_rootfs

pytestmark = pytest.mark.slow


def _sources(root: Path) -> dict[str, str]:
    """source package -> source version, as dpkg-query says for the root."""
    out = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
         "-f", "${source:Package} ${source:Version}\\n"],
        check=True, capture_output=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def test_tracker_statuses_on_the_debootstrap_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = debootstrap_rootfs()
    sources = _sources(root)
    # Packages whose binary version differs from the source version exist too; pick any four.
    fixed_old, fixed_new, unfixed, nodsa = sorted(sources)[:4]

    def release(**fields: object) -> dict[str, object]:
        return {"releases": {"bookworm": {"repositories": {"bookworm": "x"}, **fields}},
                "scope": "local"}

    tracker = {
        # Fixed in exactly the installed version (a backport): must NOT be reported.
        fixed_old: {"CVE-2099-0001": release(status="resolved",
                                             fixed_version=sources[fixed_old],
                                             urgency="medium")},
        # Fixed in a later point release: reported, fixed, with that version.
        fixed_new: {"CVE-2099-0002": release(status="resolved",
                                             fixed_version=sources[fixed_new] + "+deb12u99",
                                             urgency="high")},
        # Open, no fix yet: reported not-fixed.
        unfixed: {"CVE-2099-0003": release(status="open", urgency="low")},
        # Open but the security team will not issue an advisory: reported wont-fix.
        nodsa: {"CVE-2099-0004": release(status="open", urgency="low", nodsa="Minor issue")},
    }
    feed = tmp_path / "tracker.json"
    feed.write_text(json.dumps(tracker))
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", "--kind", "debian", str(feed)]) == 0
    image = debootstrap_image(tmp_path)
    capsys.readouterr()
    assert main(["scan", image, "--db", str(db), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    by_id: dict[str, list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        by_id.setdefault(f["id"], []).append(f)
    assert "CVE-2099-0001" not in by_id  # the release's fixed version <= installed
    new = by_id["CVE-2099-0002"]
    assert {f["status"] for f in new} == {"fixed"}
    assert {tuple(f["fixedVersions"]) for f in new} == {(sources[fixed_new] + "+deb12u99",)}
    assert all(f["package"]["source"]["name"] == fixed_new for f in new)
    assert all(e["ecosystem"] == "Debian:12" for f in new for e in f["evidence"])
    assert {f["status"] for f in by_id["CVE-2099-0003"]} == {"not-fixed"}
    assert {f["status"] for f in by_id["CVE-2099-0004"]} == {"wont-fix"}
    # Every binary package built from an affected source is reported, none other.
    assert {f["package"]["source"]["name"] for f in doc["findings"]} == {fixed_new, unfixed, nodsa}
