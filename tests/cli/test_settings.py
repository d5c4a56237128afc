"""Every option also from HULLCHECK_* variables and a settings file (./hullcheck.yaml or
--config FILE), as Trivy takes its flags: the command line wins, then the environment, then
the file, then the default; a bad value or a hostile file is one line naming where it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from tests.cli.test_scan_cli import DEB_LAYER, PY_LAYER
from tests.match.support import build_match_db
from tests.vulndb.conftest import FIXTURES

KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"


@pytest.fixture(scope="module")
def kev_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings-db") / "vuln.db"
    assert main(["db", "--db", str(path), "import", "-q", str(KEV)]) == 0
    return path


@pytest.fixture(scope="module")
def match_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_match_db(tmp_path_factory.mktemp("settings-matchdb"))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of the test's own, and no HULLCHECK_* variable from outside."""
    monkeypatch.chdir(tmp_path)
    for name in ("HULLCHECK_OUTPUT", "HULLCHECK_QUIET", "HULLCHECK_DB", "HULLCHECK_FAIL_ON"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_flag_then_environment_then_file_then_default(
        here: Path, kev_db: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    status = ("db", "--db", str(kev_db), "status")
    code, out, _ = run(capsys, *status)
    assert code == 0 and not is_json(out)  # the default: a table
    (here / "hullcheck.yaml").write_text("output: json\n")
    code, out, err = run(capsys, *status)
    assert code == 0 and is_json(out)
    assert "hullcheck: note: settings read from ./hullcheck.yaml" in err
    # A command's section wins over the top of the file.
    (here / "hullcheck.yaml").write_text("output: json\ndb:\n  status:\n    output: table\n")
    assert not is_json(run(capsys, *status)[1])
    monkeypatch.setenv("HULLCHECK_OUTPUT", "json")  # the environment over the file
    assert is_json(run(capsys, *status)[1])
    assert not is_json(run(capsys, *status, "-o", "table")[1])  # the flag over both
    assert not is_json(run(capsys, *status, "--output=table")[1])


def test_named_settings_file_before_or_after_the_command(
        here: Path, kev_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "hullcheck.yaml").write_text("output: table\n")
    named = here / "ci.yaml"
    named.write_text(f"db: {kev_db}\nquiet: yes\n")
    for args in (("--config", str(named), "db", "status", "-o", "json"),
                 ("db", "status", "-o", "json", f"--config={named}")):
        code, out, err = run(capsys, *args)
        assert code == 0 and json.loads(out)["path"] == str(kev_db), err
        assert err == ""  # quiet: yes, and no note about ./hullcheck.yaml, not read


def test_scan_takes_switches_lists_and_thresholds(
        here: Path, match_db: Path, make_image: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    image = make_image({**PY_LAYER, **DEB_LAYER})
    rules = here / "rules.yaml"
    rules.write_text("ignore:\n  - id: CVE-2018-18074\n    reason: only used without redirects\n")
    (here / "hullcheck.yaml").write_text(
        f"db: {match_db}\nscan:\n  only-fixed: true\n  ignore: [{rules}]\n  output: [json]\n")
    code, out, err = run(capsys, "scan", image)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    assert {f["status"] for f in doc["findings"]} == {"fixed"}  # only-fixed
    assert {f["id"] for f in doc["findings"] if f["suppressed"]} == {"CVE-2018-18074"}
    monkeypatch.setenv("HULLCHECK_FAIL_ON", "low")
    monkeypatch.setenv("HULLCHECK_ONLY_FIXED", "false")  # the environment turns it off again
    code, out, _ = run(capsys, "scan", image)
    assert code == 1
    assert "not-fixed" in {f["status"] for f in json.loads(out)["findings"]}
    code, _, _ = run(capsys, "scan", image, "--fail-on", "malicious")
    assert code == 0  # the flag over the environment


def test_a_required_option_from_the_environment(
        here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HULLCHECK_SERVER", "http://127.0.0.1:9")
    monkeypatch.setenv("HULLCHECK_TOKEN", "not-a-real-token")
    code, _, err = run(capsys, "query", "--advisory", "CVE-2024-1")
    assert code == 2
    assert "required" not in err and "127.0.0.1:9" in err


@pytest.mark.parametrize(("env", "text", "message"), [
    ({}, "- a\n- b\n", "hullcheck.yaml: expected a mapping of settings (option: value)"),
    ({}, "scan: [1\n", "hullcheck.yaml:2: not valid YAML: did not find expected ',' or ']'"),
    ({}, "scan:\n  fail-onn: high\n", "hullcheck.yaml: scan: unknown setting 'fail-onn'"),
    ({}, "scan:\n  only-fixed: maybe\n",
     "hullcheck.yaml: scan.only-fixed: 'maybe' is neither true nor false"),
    ({}, "scope: [squashed, all-layers]\n", "hullcheck.yaml: scope: one value, not a list"),
    ({}, "scan:\n  scope: everything\n",
     "hullcheck.yaml: scan.scope: 'everything' is not one of squashed, all-layers"),
    ({}, "db-max-age: -3\n", "hullcheck.yaml: db-max-age: '-3' is not a number of days"),
    ({}, "output: [json=a.json]\nfile: out.json\n",
     "hullcheck.yaml: file (--file): every -o names its own file"),
    ({"HULLCHECK_FAIL_ON": "bogus"}, "",
     "HULLCHECK_FAIL_ON (--fail-on): unknown severity 'bogus'"),
    ({"HULLCHECK_OUTPUT": "json,xml"}, "", "HULLCHECK_OUTPUT: unknown format 'xml'"),
    ({}, "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 10) + "]\n"
        for i in range(8)), "YAML aliases expand to more than 1,000,000 nodes; refused"),
    ({}, "scan: " + "[" * 5000 + "]" * 5000 + "\n",
     "hullcheck.yaml:1: not valid YAML: exceeded maximum nesting depth"),
])
def test_a_bad_setting_is_one_line(here: Path, kev_db: Path, env: dict[str, str], text: str,
                                   message: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if text:
        (here / "hullcheck.yaml").write_text(text)
    code, out, err = run(capsys, "scan", "--db", str(kev_db), str(here / "missing.json"))
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if not line.startswith("hullcheck: note: ")]
    assert lines[0].startswith("hullcheck: error: ") and message in lines[0], err
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert sorted(p.name for p in here.iterdir()) == (["hullcheck.yaml"] if text else [])


def test_a_settings_file_that_is_not_one(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", "/dev/zero", "db", "status")
    assert code == 2 and "/dev/zero: larger than 1 MiB; refused" in err
    code, _, err = run(capsys, "--config", str(here / "none.yaml"), "db", "status")
    assert code == 2 and f"--config: no such file: {here / 'none.yaml'}" in err


def test_secrets_keeps_its_own_config_option(
        here: Path, make_image: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    image = make_image({"srv/app/.env": "AWS_ACCESS_KEY_ID=AKIAQYLPMN5HHHFPZAM2\n"})
    rules = here / "rules.yaml"
    rules.write_text("allow:\n  paths: ['^/srv/app/']\n")
    (here / "settings.yaml").write_text("secrets:\n  fail-on: low\n")
    code, out, err = run(capsys, "--config", str(here / "settings.yaml"), "secrets", image,
                         "-o", "json")
    assert code == 1 and json.loads(out)["findings"], err  # fail-on low from the file
    code, out, err = run(capsys, "--config", str(here / "settings.yaml"), "secrets", image,
                         "--config", str(rules), "-o", "json")
    assert code == 0 and json.loads(out)["findings"] == [], err  # allowed by its rules file
