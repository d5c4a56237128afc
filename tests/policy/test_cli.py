"""hullcheck policy check: exit 0 pass/warn, 1 fail, 2 error; every output format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main

STATUS = "var/lib/dpkg/status"
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\n'
RULES = """\
apiVersion: hullcheck/v1
kind: Policy
metadata: {name: ci}
rules:
  - id: sbom
    type: sbom
    required: true
    banned: [evilpkg]
  - id: small
    type: cel
    expression: packages.size() < 2
    message: more than one package
    action: warn
"""


def _status(*names: str) -> str:
    return "\n".join(f"Package: {n}\nStatus: install ok installed\nVersion: 1.0\n"
                     f"Architecture: amd64\nDescription: {n}\n" for n in names)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "ci.yaml"
    p.write_text(RULES)
    return p


def test_pass_and_fail_exit_codes(make_image: Callable[..., str], policy_file: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = make_image({"etc/os-release": OS_RELEASE, STATUS: _status("bash")})
    assert main(["policy", "check", good, "--policy", str(policy_file), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "pass" and doc["violations"] == []
    bad = make_image({"etc/os-release": OS_RELEASE, STATUS: _status("bash", "evilpkg")})
    assert main(["policy", "check", bad, "--policy", str(policy_file), "-o", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "fail"
    assert [(v["rule"], [i["id"] for i in v["items"]]) for v in doc["violations"]] == [
        ("sbom", ["evilpkg"]), ("small", [])]


def test_warn_exits_zero_and_renders_every_format(make_image: Callable[..., str],
                                                 policy_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image({"etc/os-release": OS_RELEASE, STATUS: _status("bash", "zlib1g")})
    rc = main(["policy", "check", img, "--policy", str(policy_file), "-o", "table"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "policy ci: WARN" in out and "small: more than one package" in out
    assert main(["policy", "check", img, "--policy", str(policy_file), "-o", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out.encode()).find("testsuite")
    assert suite is not None and [c.get("name") for c in suite] == ["sbom", "small"]
    assert suite.get("failures") == "0"
    assert "more than one package" in (suite[1].findtext("system-out") or "")
    assert main(["policy", "check", img, "--policy", str(policy_file), "-o", "sarif"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    assert [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]] == ["sbom", "small"]


def test_broken_policy_exits_2_with_line(tmp_path: Path, make_image: Callable[..., str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("required: true", "requird: true"))
    img = make_image({STATUS: _status("bash")})
    assert main(["policy", "check", img, "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:7: rules[0].requird: unknown field" in err
    assert main(["policy", "validate", str(bad)]) == 2


def test_validate_ok(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(policy_file)]) == 0
    assert "2 rules" in capsys.readouterr().out


def test_secrets_and_config_gathered_through_the_pipeline(
        make_image: Callable[..., str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nrules:\n"
                      "  - id: no-secrets\n    type: secrets\n"
                      "  - id: cfg\n    type: config\n    severity: negligible\n    action: warn\n")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    from hullcheck.image.writer import whiteout

    img = make_image({"root/.ssh/id_ed25519": key}, [whiteout("root/.ssh/id_ed25519")])
    rc = main(["policy", "check", img, "--policy", str(policy), "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    secret = [v for v in doc["violations"] if v["rule"] == "no-secrets"]
    assert rc == 1 and secret, doc
    assert "deleted by a later layer" in secret[0]["message"]
    assert any(v["rule"] == "cfg" for v in doc["violations"])  # e.g. no USER, no HEALTHCHECK


def test_an_unknown_end_of_life_does_not_pass_a_not_eol_rule(
        make_image: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # No os-release: the base room cannot say whether the release is supported. The evidence
    # adapter once read EolStatus.past_security_support (False for "unknown") and passed it.
    monkeypatch.setenv("HULLCHECK_BASE_CATALOG", str(tmp_path / "catalog.json"))
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nrules:\n"
                      "  - id: supported\n    type: base\n    notEol: true\n")
    img = make_image({STATUS: _status("bash")})
    assert main(["policy", "check", img, "--policy", str(policy), "-o", "json"]) == 1
    (violation,) = json.loads(capsys.readouterr().out)["violations"]
    assert violation["rule"] == "supported"
    assert violation["message"] == "the base image is of unknown end-of-life status"
