"""Trivy's and Grype's ignore files, as their documentation shows them, mark hullcheck's
findings (docs/ignore-files.md has the mapping); found in the working directory as those
tools find theirs; what cannot be applied is noted; a broken file is one line, exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from tests.cli.test_scan_cli import DEB_LAYER, PY_LAYER
from tests.match.support import build_match_db

# Trivy's documented .trivyignore (docs "Filtering: By Finding IDs"), its ids made this image's.
TRIVYIGNORE = """\
# Accept the risk
CVE-2018-14618
CVE-2018-18074

# Accept the risk until 2023-01-01
CVE-2019-11324 exp:2023-01-01

CVE-2025-53603

# Ignore misconfigurations
AVD-DS-0002

# Ignore secrets
generic-unwanted-rule
aws-account-id
"""

# Trivy's documented .trivyignore.yaml ("By Finding IDs", YAML), ids and paths made this image's.
TRIVYIGNORE_YAML = """\
vulnerabilities:
  - id: CVE-2018-18074
    paths:
      - "usr/lib/python3/dist-packages/requests-*.dist-info/METADATA"
    statement: Accept the risk
  - id: CVE-2019-11324
    paths:
      - "usr/local/lib/python3.9/site-packages/**"
  - id: CVE-2023-52356
    purls:
      - "pkg:deb/debian/libtiff6"
  - id: CVE-2025-53603
    purls:
      - "pkg:deb/debian/libtiff6"
  - id: CVE-2025-6272
    expired_at: 2023-09-01

misconfigurations:
  - id: AVD-DS-0001
  - id: AVD-DS-0002
    paths:
      - "docs/Dockerfile"
    statement: The image needs root privileges

secrets:
  - id: aws-access-key-id
  - id: aws-secret-access-key
    paths:
      - "foo/bar/aws.secret"

licenses:
  - id: GPL-3.0 # License name is used as ID
    paths:
      - "usr/share/gcc/python/libstdcxx/v6/__init__.py"
"""

# Grype's documented .grype.yaml ignore rules (README "Specifying matches to ignore"), with
# rules for this image's findings after the README's own.
GRYPE_YAML = """\
output: table
ignore:
  # This is the full set of supported rule fields:
  - vulnerability: CVE-2008-4318
    fix-state: unknown
    # VEX fields apply when Grype reads vex data:
    vex-status: not_affected
    vex-justification: vulnerable_code_not_present
    package:
      name: libcurl
      version: 1.5.1
      type: npm
      location: "/usr/local/lib/node_modules/**"

  # We can make rules to match just by vulnerability ID:
  - vulnerability: CVE-2019-11324

  # ...or just by a single package field:
  - package:
      type: gem

  - package:
      type: deb
      upstream-name: tiff
    reason: tiff is only used to read our own files
  - fix-state: not-fixed
    package:
      language: python
  - vulnerability: CVE-2025-53603
    match-type: exact-indirect-match
  # Conditions that do not hold for requests' finding: it stays.
  - vulnerability: CVE-2018-18074
    fix-state: not-fixed
  - vulnerability: CVE-2018-18074
    package:
      name: requests
      version: 2.20.0
  - vulnerability: CVE-2018-18074
    match-type: cpe-match
  - package:
      location: "/usr/local/**"
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_match_db(tmp_path_factory.mktemp("foreign-ignore-db"))


@pytest.fixture
def image(make_image: Callable[..., str]) -> str:
    return make_image({**PY_LAYER, **DEB_LAYER})


def marks(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    """The scan's JSON, its findings as (package, id) -> suppression reason (None: active)."""
    code = main(["scan", *args, "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    doc["marks"] = {(f["package"]["name"], f["id"]): (f["suppressed"] or {}).get("reason")
                    for f in doc["findings"]}
    return doc, err


def test_trivyignore_text_in_the_working_directory(
        image: str, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".trivyignore").write_text(TRIVYIGNORE)
    monkeypatch.chdir(tmp_path)
    doc, err = marks(capsys, image, "--db", str(db))
    assert doc["marks"] == {
        ("requests", "CVE-2018-18074"): "Accept the risk",
        ("urllib3", "CVE-2019-11324"): None,  # its rule expired
        ("libsope1", "CVE-2025-53603"): "listed in .trivyignore",
        ("libtiff6", "CVE-2023-52356"): None,
        ("pywasm3", "CVE-2025-6272"): None,
    }
    assert ("note: ignore rules read from .trivyignore in the working directory (--ignore "
            "FILE names others)") in err
    assert ("ignore rule for CVE-2019-11324 expired on 2023-01-01 (.trivyignore); it no "
            "longer applies") in doc["notes"]


def test_trivyignore_yaml(image: str, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".trivyignore.yaml").write_text(TRIVYIGNORE_YAML)
    monkeypatch.chdir(tmp_path)
    doc, _ = marks(capsys, image, "--db", str(db))
    assert doc["marks"] == {
        ("requests", "CVE-2018-18074"): "Accept the risk",  # its path matches
        ("urllib3", "CVE-2019-11324"): None,  # installed elsewhere than the path says
        ("libtiff6", "CVE-2023-52356"): "listed in .trivyignore.yaml",
        ("libsope1", "CVE-2025-53603"): None,  # the purl names another package
        ("pywasm3", "CVE-2025-6272"): None,  # expired
    }
    assert (".trivyignore.yaml: 2 rules not applied: Trivy's misconfigurations entries: "
            "hullcheck's ignore files mark vulnerabilities only") in doc["notes"]
    assert (".trivyignore.yaml: 2 rules not applied: Trivy's secrets entries: hullcheck's "
            "ignore files mark vulnerabilities only") in doc["notes"]
    assert (".trivyignore.yaml: 1 rule not applied: Trivy's licenses entries: hullcheck's "
            "ignore files mark vulnerabilities only") in doc["notes"]


def test_grype_yaml_every_condition_counts(
        image: str, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".grype.yaml").write_text(GRYPE_YAML)
    monkeypatch.chdir(tmp_path)
    doc, _ = marks(capsys, image, "--db", str(db))
    assert doc["marks"] == {
        ("requests", "CVE-2018-18074"): None,  # each rule naming it has a condition not met
        ("urllib3", "CVE-2019-11324"): "listed in .grype.yaml",
        ("libtiff6", "CVE-2023-52356"): "tiff is only used to read our own files",
        ("libsope1", "CVE-2025-53603"): "listed in .grype.yaml",  # matched via its source
        ("pywasm3", "CVE-2025-6272"): "listed in .grype.yaml",  # python, not fixed
    }
    assert (".grype.yaml: 1 rule not applied: Grype rules with vex-status: hullcheck cannot "
            "tell which findings they mean") in doc["notes"]


def test_named_files_replace_those_of_the_working_directory(
        image: str, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".trivyignore").write_text("CVE-2018-18074\n")
    grype = tmp_path / "grype-rules.yaml"  # any name: Grype's fields tell it apart
    grype.write_text("ignore:\n  - vulnerability: CVE-2019-11324\n    reason: r\n")
    native = tmp_path / "ours.yaml"
    native.write_text("ignore:\n  - id: CVE-2025-6272\n    reason: not reachable\n")
    monkeypatch.chdir(tmp_path)
    doc, err = marks(capsys, image, "--db", str(db), "--ignore", str(grype),
                     "--ignore", str(native))
    assert {k for k, v in doc["marks"].items() if v} == {
        ("urllib3", "CVE-2019-11324"), ("pywasm3", "CVE-2025-6272")}
    assert "working directory" not in err


@pytest.mark.parametrize(("name", "text", "message"), [
    (".trivyignore", "CVE-2018-18074 exp:2023-13-01\n",
     ".trivyignore:1: exp '2023-13-01' is not a YYYY-MM-DD date"),
    (".trivyignore", "CVE-2018-18074\n\xff\xfe\n", ".trivyignore: not UTF-8 text"),
    (".trivyignore", "CVE-\x1b[31m-1\n", ".trivyignore:1: 'CVE-\\x1b[31m-1' is not a "
                                         "vulnerability id"),
    (".trivyignore.yaml", "vulnerabilities:\n  - statement: no id\n",
     ".trivyignore.yaml: vulnerabilities[0]: 'id' is required"),
    (".trivyignore.yaml", "vulnerabilities: []\nexceptions: []\n",
     ".trivyignore.yaml: unknown section(s) exceptions (Trivy's ignore file has "
     "vulnerabilities, misconfigurations, secrets, licenses)"),
    (".trivyignore.yaml", "vulnerabilities:\n  - id: CVE-1\n    purls: pkg:pypi/x\n",
     ".trivyignore.yaml: vulnerabilities[0]: purls must be a list of strings"),
    (".grype.yaml", "ignore:\n  - vulnerability: CVE-1\n    fix-state: maybe\n",
     ".grype.yaml: ignore[0]: fix-state 'maybe' is not one of fixed, not-fixed, wont-fix, "
     "unknown"),
    (".grype.yaml", "ignore:\n  - package: {name: [a, b]}\n",
     ".grype.yaml: ignore[0]: package: name must be a single value, not a list"),
    (".grype.yaml", "ignore:\n  - vulnerability: CVE-1\n    package: {flavour: x}\n",
     ".grype.yaml: ignore[0]: package: unknown field(s) flavour"),
])
def test_a_broken_file_is_one_line(image: str, db: Path, tmp_path: Path, name: str,
                                   text: str, message: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / name).write_bytes(text.encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    assert main(["scan", image, "--db", str(db), "-o", "json", "-q"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0] == f"hullcheck: error: {message}"
