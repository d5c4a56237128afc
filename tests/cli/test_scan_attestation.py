"""`hullcheck scan IMAGE --from-attestation PUB`: the packages come from a verified
CycloneDX/SPDX attestation, the layers are never read, matching runs as usual."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck import filetree
from hullcheck.cli.main import main
from tests.fixtures.images import build, write
from tests.match.support import build_fixture_db, dist_info

PY_LAYER = {**dist_info("requests", "2.19.0"), **dist_info("urllib3", "1.24.1")}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("attestation-db"))


@pytest.fixture
def image(tmp_path: Path) -> str:
    return write(build(PY_LAYER), tmp_path)


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["scan", *args, "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _found(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["package"]["name"], f["id"]) for f in doc["findings"]}


def _no_layer_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **kw: object) -> None:
        raise AssertionError("the image's layers were read")

    monkeypatch.setattr(filetree, "build", refuse)


@pytest.mark.parametrize("kind", ["cyclonedx", "spdx"])
def test_scan_from_a_verified_attestation_matches_the_image_scan(
    image: str, db: Path, key_files: tuple[Path, Path, Path], kind: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    priv, pub, _ = key_files
    direct = _json(capsys, image, "--db", str(db))
    assert _found(direct) == {("requests", "CVE-2018-18074"), ("urllib3", "CVE-2019-11324")}
    if kind == "cyclonedx":
        attest = ["--sbom"]
    else:
        assert main(["sbom", image, "-o", "spdx-json", "--file", str(tmp_path / "spdx.json")]) == 0
        attest = ["--predicate", str(tmp_path / "spdx.json")]
    assert main(["attest", image, "--key", str(priv), "--type", kind, *attest]) == 0
    capsys.readouterr()
    _no_layer_reads(monkeypatch)
    attested = _json(capsys, image, "--db", str(db), "--from-attestation", str(pub))
    assert _found(attested) == _found(direct)
    assert attested["source"]["manifestDigest"] == direct["source"]["manifestDigest"]


def test_a_key_that_signed_nothing_fails_verification(
    image: str, db: Path, key_files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    priv, _, other = key_files
    assert main(["attest", image, "--key", str(priv), "--type", "cyclonedx", "--sbom"]) == 0
    capsys.readouterr()
    code = main(["scan", image, "--db", str(db), "--from-attestation", str(other), "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "no CycloneDX or SPDX attestation verifies" in err


@pytest.mark.parametrize("scanners", ["secret", "vuln,config"])
def test_image_scanners_are_refused_with_an_attestation(
    image: str, db: Path, key_files: tuple[Path, Path, Path], scanners: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_layer_reads(monkeypatch)
    code = main(["scan", image, "--db", str(db), "--from-attestation", str(key_files[1]),
                 "--scanners", scanners])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "--from-attestation reads only its SBOM" in err


def test_an_sbom_file_has_no_attestation(
    image: str, db: Path, key_files: tuple[Path, Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sbom = tmp_path / "bom.json"
    assert main(["sbom", image, "-o", "cyclonedx-json", "--file", str(sbom)]) == 0
    code = main(["scan", str(sbom), "--db", str(db), "--from-attestation", str(key_files[1])])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "is an SBOM file" in err
