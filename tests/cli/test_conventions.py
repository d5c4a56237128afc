"""What a Trivy, Grype or Syft user expects of the commands: a table by default, several
outputs of one run, tables that fit the terminal, --severity, Trivy's scanner names, a
missing file named as one, Syft's ``oci-dir:``, output files that follow the umask."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from tests.match.support import build_fixture_db, dist_info

PY_LAYER = {**dist_info("requests", "2.19.0"), **dist_info("urllib3", "1.24.1"),
            **dist_info("pywasm3", "0.5.0")}
SECRET = {"srv/.env": "AWS_ACCESS_KEY_ID=AKIAQ6FZIUGV3XKEX5OP\n"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("conventions-db"))


@pytest.fixture
def py_image(make_image: Callable[..., str]) -> str:
    return make_image(PY_LAYER, SECRET)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- a table by default, several outputs -----------------------------------------------------


@pytest.mark.parametrize("command", ["sbom", "scan", "secrets", "config"])
def test_a_table_is_the_default_even_when_not_on_a_terminal(
        command: str, py_image: str, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--db", str(db)] if command == "scan" else []
    code, out, err = run(capsys, command, py_image, *extra)
    assert code == 0, err
    assert out.split()[0] in ("NAME", "PACKAGE", "RULE", "CHECK")  # a table's header
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_several_outputs_from_one_run(py_image: str, db: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    as_json, as_sarif = tmp_path / "out.json", tmp_path / "out.sarif"
    code, out, _ = run(capsys, "scan", py_image, "--db", str(db), "-o", "table",
                       "-o", f"json={as_json}", "-o", f"sarif={as_sarif}")
    assert code == 0
    ids = {f["id"] for f in json.loads(as_json.read_text())["findings"]}
    assert ids == {"CVE-2018-18074", "CVE-2019-11324", "CVE-2025-6272"}
    sarif = json.loads(as_sarif.read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == ids
    assert out.startswith("PACKAGE") and all(i in out for i in ids)
    # The SBOM command too: a table on standard output, an SBOM in a file.
    sbom = tmp_path / "sbom.cdx.json"
    assert run(capsys, "sbom", py_image, "-o", f"cyclonedx-json={sbom}", "-o", "table")[0] == 0
    assert json.loads(sbom.read_text())["bomFormat"] == "CycloneDX"


def test_outputs_that_would_collide_are_usage_errors(py_image: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sbom", py_image, "-o", "table", "-o", "json")
    assert code == 2 and "only one output can go to standard output" in err
    dest = tmp_path / "x.json"
    code, _, err = run(capsys, "sbom", py_image, "-o", f"json={dest}", "-o", f"spdx-json={dest}")
    assert code == 2 and "two outputs name the same file" in err
    assert not dest.exists()
    with pytest.raises(SystemExit) as info:
        main(["sbom", py_image, "-o", "json="])
    assert info.value.code == 2 and "name the file after '='" in capsys.readouterr()[1]


# -- tables fit the terminal -----------------------------------------------------------------


def _words(*texts: str) -> set[str]:
    return {w for t in texts for w in t.split()}


def test_the_table_fits_the_terminal_and_cuts_no_word(
        py_image: str, db: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    columns = 76  # 77 wide at ease; the narrowest without cutting a word is 75
    code, doc_out, _ = run(capsys, "scan", py_image, "--db", str(db), "-o", "json")
    doc = json.loads(doc_out)
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = run(capsys, "scan", py_image, "--db", str(db), "--scanners", "vuln,secret")
    assert code == 0
    table = out.split("\n\n", 1)[0].removeprefix("== Vulnerabilities ==\n")
    assert max(len(line) for line in table.splitlines()) <= columns
    cells = [f["id"] for f in doc["findings"]] + [f["package"]["version"] for f in doc["findings"]]
    assert set(cells) <= _words(out)  # each id and version whole, on one line
    assert "critical" in _words(out) or "high" in _words(out)


def test_a_table_too_wide_for_the_terminal_is_wider_never_cut(
        py_image: str, db: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    code, out, _ = run(capsys, "scan", py_image, "--db", str(db))
    assert code == 0
    assert {"CVE-2018-18074", "CVE-2019-11324", "CVE-2025-6272", "VULNERABILITY",
            "2.19.0", "1.24.1"} <= _words(out)


# -- --severity, --scanners misconfig --------------------------------------------------------


def _severities(doc: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["severity"] for f in doc["findings"]}


def test_severity_shows_only_the_listed_severities(
        py_image: str, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", py_image, "--db", str(db), "-o", "json")
    every = _severities(json.loads(out))
    kept = set(every.values()) - {"unknown"}
    assert "unknown" in every.values() and kept
    code, out, err = run(capsys, "scan", py_image, "--db", str(db), "-o", "json",
                         "--severity", ",".join(s.upper() for s in kept))
    shown = _severities(json.loads(out))
    assert shown == {i: s for i, s in every.items() if s != "unknown"}
    hidden = sum(1 for s in every.values() if s == "unknown")
    assert f"note: {hidden} finding" in err and "of other severities not shown" in err
    # --fail-on judges what is shown, as Trivy's --exit-code with --severity
    code, _, _ = run(capsys, "scan", py_image, "--db", str(db), "--fail-on", "low")
    assert code == 1
    code, _, _ = run(capsys, "scan", py_image, "--db", str(db), "--severity", "unknown",
                     "--fail-on", "low", "-q")
    assert code == 0
    with pytest.raises(SystemExit) as info:
        main(["scan", py_image, "--db", str(db), "--severity", "severe"])
    assert info.value.code == 2 and "unknown severity 'severe'" in capsys.readouterr()[1]


def test_severity_filters_secrets_and_config_checks(
        py_image: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "secrets", py_image, "-o", "json")
    assert [f["ruleId"] for f in json.loads(out)["findings"]] == ["aws-access-key-id"]
    _, out, err = run(capsys, "secrets", py_image, "-o", "json", "--severity", "low")
    assert json.loads(out)["findings"] == [] and "1 finding of other severities" in err
    _, out, _ = run(capsys, "config", py_image, "-o", "json")
    assert "HC-C001" in {r["id"] for r in json.loads(out)["findings"]}  # high: runs as root
    _, out, _ = run(capsys, "config", py_image, "-o", "json", "--severity", "low,medium")
    shown = json.loads(out)["findings"]
    assert shown and {r["severity"] for r in shown} <= {"low", "medium"}


def test_scanners_accepts_trivys_misconfig(py_image: str, db: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", py_image, "--db", str(db), "--scanners",
                         "vuln,misconfig", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["scanners"] == ["vuln", "config"]
    assert "HC-C001" in {f["id"] for f in doc["config"]["findings"]}


# -- sources: a missing file, oci-dir: -------------------------------------------------------


@pytest.mark.parametrize("arg", ["./missing.tar", "missing.tar", "/nowhere/image.tar",
                                 "sbom.cdx.json"])
def test_a_missing_file_says_no_such_file(arg: str, db: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["sbom"], ["scan", "--db", str(db)]):
        code, out, err = run(capsys, *command, arg)
        assert (code, out) == (2, "")
        assert err.splitlines()[0] == f"hullcheck: error: no such file: {arg}"


def test_oci_dir_is_syfts_name_for_a_layout(make_image: Callable[..., str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(PY_LAYER)  # oci:DIR:TAG
    code, out, err = run(capsys, "sbom", ref.replace("oci:", "oci-dir:", 1), "-o", "json")
    assert code == 0, err
    assert {p["name"] for p in json.loads(out)["packages"]} == {"requests", "urllib3", "pywasm3"}


# -- output files follow the umask -----------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("command", [
    ["sbom", "IMAGE"], ["sbom", "IMAGE", "-o", "cyclonedx-json"], ["scan", "IMAGE", "--db", "DB"],
    ["secrets", "IMAGE"], ["config", "IMAGE"], ["policy", "check", "IMAGE", "--policy", "POLICY"],
])
def test_output_files_follow_the_umask(command: list[str], py_image: str, db: Path,
                                       tmp_path: Path, umask_022: None,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: t}\nrules:\n"
                      "  - id: no-secrets\n    type: secrets\n")
    values = {"IMAGE": py_image, "DB": str(db), "POLICY": str(policy)}
    argv = [values.get(a, a) for a in command]
    argv += [] if "-o" in argv else ["-o", "table"]  # what --file receives
    via_file, via_output = tmp_path / "a.out", tmp_path / "b.out"
    code, _, err = run(capsys, *argv, "--file", str(via_file), "-o", f"json={via_output}")
    assert code in (0, 1), err
    assert via_file.stat().st_mode & 0o777 == 0o644
    assert via_output.stat().st_mode & 0o777 == 0o644
