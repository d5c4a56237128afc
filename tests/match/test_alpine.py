"""Alpine matching: secdb fixes by branch, through the origin (source) package, apk versions.

Real secdb data: tests/fixtures/advisories/distro/alpine-secdb-v3.15-main-sample.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main

SECDB = (Path(__file__).parent.parent / "fixtures" / "advisories" / "distro"
         / "alpine-secdb-v3.15-main-sample.yaml")


def _installed(*pkgs: tuple[str, str, str]) -> str:
    return "".join(f"P:{name}\nV:{version}\nA:x86_64\no:{origin}\n\n"
                   for name, version, origin in pkgs)


def test_alpine_secdb_matching(make_image: Callable[..., str], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", "--kind", "alpine", str(SECDB)]) == 0
    image = make_image({
        "etc/os-release": "ID=alpine\nVERSION_ID=3.15.4\n",
        "etc/alpine-release": "3.15.4\n",
        "lib/apk/db/installed": _installed(
            ("zlib", "1.2.12-r1", "zlib"),        # fixed in 1.2.12-r2: CVE-2022-37434 only
            ("xz-libs", "5.2.5-r0", "xz"),         # subpackage: matched via origin xz
            ("zsh", "5.8.1-r1", "zsh"),           # newer than every fix (5.8.1-r0): nothing
        ),
    })
    capsys.readouterr()
    assert main(["scan", image, "--db", str(db), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    found = {(f["package"]["name"], f["id"]): f for f in doc["findings"]}
    assert set(found) == {("zlib", "CVE-2022-37434"), ("xz-libs", "CVE-2022-1271")}
    assert found["zlib", "CVE-2022-37434"]["fixedVersions"] == ["1.2.12-r2"]
    xz = found["xz-libs", "CVE-2022-1271"]
    assert xz["fixedVersions"] == ["5.2.5-r1"]
    assert xz["evidence"][0]["via"] == "source-package"
    assert xz["evidence"][0]["ecosystem"] == "Alpine:v3.15"
    assert xz["evidence"][0]["searchedName"] == "xz"


def test_other_alpine_branch_is_not_used(make_image: Callable[..., str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", "--kind", "alpine", str(SECDB)]) == 0
    image = make_image({
        "etc/os-release": "ID=alpine\nVERSION_ID=3.16.0\n",
        "lib/apk/db/installed": _installed(("zlib", "1.2.12-r1", "zlib")),
    })
    capsys.readouterr()
    assert main(["scan", image, "--db", str(db), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr()[0])["findings"] == []  # v3.15 data, v3.16 image
