"""`hullcheck scan --scanners vuln,secret,config`: one read of the layers feeds the catalog,
the secret scanner and the configuration checks; every format shows what it can, and the
secret itself never appears in any output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hullcheck import filetree
from hullcheck.cli.main import main
from hullcheck.image.model import Image
from hullcheck.image.writer import file, whiteout
from tests.match.support import build_fixture_db, dist_info
from tests.sbom.support import assert_valid, cyclonedx_validator
from tests.secrets import fakes

SARIF_SCHEMA = Path(__file__).parent.parent / "fixtures" / "scan" / "sarif-schema-2.1.0.json"

KEY_ID = fakes.aws_key_id(11)
SECRET = fakes.aws_secret(11)
CREDENTIALS = f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
PY_LAYER = {**dist_info("requests", "2.19.0"), **dist_info("urllib3", "1.24.1")}
FORMATS = ("table", "json", "sarif", "cyclonedx-json")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("scanners-db"))


@pytest.fixture
def image(make_image: Callable[..., str]) -> str:
    """Vulnerable Python packages; AWS credentials written in layer 0 and deleted in layer 1
    (still shipped); root user, no healthcheck, a setuid binary."""
    return make_image({**PY_LAYER, "root/.aws/credentials": CREDENTIALS,
                       "usr/local/bin/helper": file("usr/local/bin/helper", b"#!/bin/sh\n",
                                                     mode=0o4755)},
                      [whiteout("root/.aws/credentials")])


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = scan(capsys, *args, "-o", "json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts tree builds and layer blob opens during a run."""
    counts = {"builds": 0, "layers": 0}
    real_build, real_open = filetree.build, Image.open_layer

    def build(*a: Any, **kw: Any) -> filetree.FileTree:
        counts["builds"] += 1
        return real_build(*a, **kw)

    def open_layer(self: Image, *a: Any, **kw: Any) -> Any:
        counts["layers"] += 1
        return real_open(self, *a, **kw)

    monkeypatch.setattr(filetree, "build", build)
    monkeypatch.setattr(Image, "open_layer", open_layer)
    yield counts


def test_all_three_scanners_from_one_read(image: str, db: Path, reads: dict[str, int],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    doc = scan_json(capsys, image, "--db", str(db), "--scanners", "vuln,secret,config")
    assert reads == {"builds": 1, "layers": 2}  # two layers, each opened once
    assert doc["scanners"] == ["vuln", "secret", "config"]
    assert {f["id"] for f in doc["findings"]} >= {"CVE-2018-18074", "CVE-2019-11324"}
    files = {(f["ruleId"], f["path"], f["line"]): f for f in doc["secrets"]["findings"]
             if f["origin"] == "file"}
    assert set(files) == {("aws-access-key-id", "/root/.aws/credentials", 2),
                          ("aws-secret-access-key", "/root/.aws/credentials", 3)}
    for f in files.values():
        assert f["visible"] is False
        assert f["layer"]["index"] == 0 and f["layer"]["createdBy"] == "RUN step 0"
        assert f["deletedBy"]["index"] == 1
        assert f["match"].endswith("*****") or "*****" in f["match"]
    failed = {f["id"]: f for f in doc["config"]["findings"]}
    assert {"HC-C001", "HC-C002", "HC-C006"} <= set(failed)
    assert failed["HC-C001"]["cis"] == "4.1"
    assert any("/usr/local/bin/helper" in e for e in failed["HC-C006"]["evidence"])
    assert doc["summary"]["secrets"] == len(doc["secrets"]["findings"]) >= 2
    assert doc["summary"]["configFailed"] == len(failed)


def test_default_is_vuln_only(image: str, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = scan_json(capsys, image, "--db", str(db))
    assert doc["scanners"] == ["vuln"]
    assert doc["secrets"] is None and doc["config"] is None
    assert "CVE-2018-18074" in {f["id"] for f in doc["findings"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_secret_never_appears_in_any_output(image: str, db: Path, fmt: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = scan(capsys, image, "--db", str(db), "--scanners", "vuln,secret,config",
                          "-o", fmt)
    assert code == 0, err
    assert out.strip()
    for text in (out, err):
        assert SECRET not in text and KEY_ID not in text
        assert SECRET[:12] not in text and KEY_ID[4:] not in text


def test_table_has_a_section_per_scanner(image: str, db: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = scan(capsys, image, "--db", str(db), "--scanners", "vuln,secret,config",
                        "-o", "table")
    assert code == 0
    sections = [line for line in out.splitlines() if line.startswith("== ")]
    assert sections == ["== Vulnerabilities ==", "== Secrets (redacted) ==",
                        "== Image configuration =="]
    vulns, secrets, config = out.split("== Secrets (redacted) ==")[0], *out.split(
        "== Secrets (redacted) ==")[1].split("== Image configuration ==")
    assert "CVE-2018-18074" in vulns and "aws-secret-access-key" not in vulns
    assert "aws-secret-access-key" in secrets and "deleted in 1" in secrets
    assert "HC-C001" in config and "4.1" in config


def _sarif_validator() -> jsonschema.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def test_sarif_rules_and_locations_for_secrets_and_checks(
    image: str, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = scan(capsys, image, "--db", str(db), "--scanners", "vuln,secret,config",
                        "-o", "sarif")
    assert code == 0
    doc = json.loads(out)
    assert_valid(_sarif_validator(), doc)
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert {"CVE-2018-18074", "aws-access-key-id", "aws-secret-access-key", "HC-C001",
            "HC-C006"} <= set(ids)
    by_id = {r["id"]: r for r in rules}
    assert by_id["HC-C001"]["properties"]["cis"] == "4.1"
    assert by_id["aws-secret-access-key"]["properties"]["security-severity"] == "9.5"
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    secret = next(r for r in run["results"] if r["ruleId"] == "aws-secret-access-key"
                  and r["properties"]["origin"] == "file")
    loc = secret["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "root/.aws/credentials"
    assert loc["region"]["startLine"] == 3
    assert secret["properties"]["layer"]["index"] == 0
    assert secret["properties"]["visible"] is False and secret["properties"]["deletedBy"] == 1
    assert "layer 0 (RUN step 0)" in secret["message"]["text"]
    assert secret["level"] == "error"
    setid = next(r for r in run["results"] if r["ruleId"] == "HC-C006")
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in setid["locations"]] \
        == ["usr/local/bin/helper"]


def test_cyclonedx_holds_vulnerabilities_only_and_says_so(
    image: str, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = scan(capsys, image, "--db", str(db), "--scanners", "vuln,secret",
                          "-o", "cyclonedx-json")
    assert code == 0
    doc = json.loads(out)
    assert_valid(cyclonedx_validator(), doc)
    assert "CVE-2018-18074" in {v["id"] for v in doc["vulnerabilities"]}
    assert "aws-" not in out
    assert "cyclonedx-json holds vulnerabilities only" in err


@pytest.mark.parametrize(("scanners", "threshold", "code"), [
    ("vuln", "critical", 0),  # requests/urllib3: nothing critical
    ("vuln,secret", "critical", 1),  # the AWS keys are critical
    ("secret", "critical", 1),
    ("config", "high", 1),  # runs as root (high)
    ("config", "critical", 0),  # no critical check fails
])
def test_fail_on_counts_every_scanner(image: str, db: Path, scanners: str, threshold: str,
                                      code: int, capsys: pytest.CaptureFixture[str]) -> None:
    got, _, err = scan(capsys, image, "--db", str(db), "--scanners", scanners,
                       "--fail-on", threshold, "-o", "json")
    assert got == code, err


def test_secret_and_config_scans_need_no_database(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = scan_json(capsys, image, "--db", str(tmp_path / "none.db"),
                    "--scanners", "secret,config")
    assert doc["database"] is None and doc["findings"] == []
    assert doc["secrets"]["findings"] and doc["config"]["findings"]
    assert not (tmp_path / "none.db").exists()


def test_secret_config_allow_list(image: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "secrets.yaml"
    cfg.write_text("allow:\n  paths: ['^/root/\\.aws/']\n")
    doc = scan_json(capsys, image, "--db", str(tmp_path / "none.db"), "--scanners", "secret",
                    "--secret-config", str(cfg))
    assert [f for f in doc["secrets"]["findings"] if f["origin"] == "file"] == []
    assert doc["secrets"]["skipped"]["allowlisted"] == 1


def test_sbom_file_cannot_be_scanned_for_secrets(
    image: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sbom", image, "-o", "cyclonedx-json", "--file", str(tmp_path / "s.json")]) == 0
    for scanners in ("secret", "vuln,config"):
        code, out, err = scan(capsys, str(tmp_path / "s.json"), "--db", str(db),
                              "--scanners", scanners)
        assert code == 2 and out == ""
        assert "needs an image" in err and "is an SBOM file" in err
    code, _, _ = scan(capsys, str(tmp_path / "s.json"), "--db", str(db), "--scanners", "vuln",
                      "-o", "json")
    assert code == 0


@pytest.mark.parametrize(("args", "message"), [
    (("--scanners", "vuln,license"), "unknown scanner 'license'"),
    (("--scanners", ","), "unknown scanner '(none)'"),
    (("--secret-config", "x.yaml"), "--secret-config needs --scanners with secret"),
])
def test_bad_scanner_options_are_usage_errors(image: str, db: Path, args: tuple[str, ...],
                                              message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = scan(capsys, image, "--db", str(db), *args)
    assert code == 2 and out == ""
    assert message in err
