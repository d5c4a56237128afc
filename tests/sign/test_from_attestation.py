"""`hullcheck sbom --from-attestation PUB`: the SBOM comes from a verified attestation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck import __version__
from hullcheck.cli.main import main
from tests.fixtures.images import build, write

OS = {"etc/os-release": "ID=alpine\nVERSION_ID=3.19.0\n",
      "lib/apk/db/installed": "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\nP:zlib\nV:1.3-r2\nA:x86_64\n\n"}


def _packages(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["name"], p["version"]) for p in doc["packages"]}


def test_sbom_from_a_verified_attestation(
    tmp_path: Path, key_files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    priv, pub, other = key_files
    image = write(build(OS), tmp_path)
    assert main(["sbom", image, "-o", "json"]) == 0
    direct = json.loads(capsys.readouterr()[0])
    assert main(["attest", image, "--key", str(priv), "--type", "cyclonedx", "--sbom"]) == 0
    capsys.readouterr()
    assert main(["sbom", image, "--from-attestation", str(pub), "-o", "json"]) == 0
    attested = json.loads(capsys.readouterr()[0])
    assert _packages(attested) == _packages(direct) == {("musl", "1.2.4-r2"), ("zlib", "1.3-r2")}
    assert attested["distro"]["id"] == "alpine"
    # The cosign-style spelling gives the same answer.
    assert main(["sbom", image, "--from-attestation", "--key", str(pub), "-o", "json"]) == 0
    assert _packages(json.loads(capsys.readouterr()[0])) == _packages(direct)
    assert main(["sbom", image, "--from-attestation"]) == 2
    assert "needs a public key" in capsys.readouterr()[1]
    # Another key: nothing verifies, exit 1 with the reason.
    assert main(["sbom", image, "--from-attestation", str(other), "-o", "json"]) == 1
    assert "no CycloneDX or SPDX attestation verifies" in capsys.readouterr()[1]


def test_no_attestation_at_all(
    tmp_path: Path, key_files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    image = write(build(OS), tmp_path)
    assert main(["sbom", image, "--from-attestation", str(key_files[1])]) == 1
    assert "hint: attach one" in capsys.readouterr()[1]


def test_attest_scan_makes_a_cosign_vuln_predicate(
    tmp_path: Path, key_files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    priv, pub, _ = key_files
    fixtures = Path(__file__).parent.parent / "fixtures" / "advisories"
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", str(fixtures / "osv" / "malicious")]) == 0
    image = write(build({**OS, "app/node_modules/algo-svnlook/package.json":
                         '{"name": "algo-svnlook", "version": "1.0.0"}'}), tmp_path)
    assert main(["attest", image, "--key", str(priv), "--type", "vuln", "--scan",
                 "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["verify-attestation", image, "--key", str(pub), "--type", "vuln",
                 "-o", "predicate"]) == 0
    predicate = json.loads(capsys.readouterr()[0])
    assert predicate["scanner"]["uri"] == f"pkg:pypi/hullcheck@{__version__}"
    assert str(db) not in json.dumps(predicate)  # nothing of this machine: no database path
    assert predicate["scanner"]["db"]["version"]
    assert predicate["metadata"]["scanStartedOn"] <= predicate["metadata"]["scanFinishedOn"]
    ids = {f["id"] for f in predicate["scanner"]["result"]["findings"]}
    assert "MAL-2023-1547" in ids
    assert main(["attest", image, "--key", str(priv), "--type", "cyclonedx", "--scan"]) == 2
