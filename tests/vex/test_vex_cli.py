"""VEX and ignore files through `hullcheck scan` and `hullcheck policy check`: statements
that name nothing matchable are noted once; hostile files are one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.match.support import build_fixture_db, dist_info

CPE = "cpe:2.3:a:python:requests:2.19.0:*:*:*:*:*:*:*"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("vex-db"))


@pytest.fixture
def image(make_image: Callable[..., str]) -> str:
    return make_image({**dist_info("requests", "2.19.0"), **dist_info("urllib3", "1.24.1")})


def _vex(tmp_path: Path, *products: object) -> Path:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex",
        "author": "a", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": vid}, "status": "not_affected",
                        "justification": "component_not_present", "products": [product]}
                       for vid in ("CVE-2018-18074", "CVE-2019-11324")
                       for product in products]}))
    return path


def test_statements_naming_no_product_are_noted_once_and_suppress_nothing(
        image: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vex = _vex(tmp_path, {"identifiers": {"cpe23": CPE}}, {})
    code = main(["scan", image, "--db", str(db), "--vex", str(vex), "-o", "json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and doc["findings"]
    assert all(f["suppressed"] is None for f in doc["findings"])
    notes = [line for line in err.splitlines() if "VEX:" in line]
    assert notes == [f"note: VEX: 4 statement(s) name products hullcheck cannot match to this "
                     f"image or its packages ({CPE}, an empty product {{}}); those products are "
                     "ignored, and a statement left with none applies to nothing"]
    assert doc["notes"] == [notes[0].removeprefix("note: ")]
    # the table says it once too
    assert main(["scan", image, "--db", str(db), "--vex", str(vex)]) == 0
    out, _ = capsys.readouterr()
    assert out.count("VEX: 4 statement(s)") == 1


@pytest.mark.parametrize(("option", "name", "text", "message"), [
    ("--vex", "deep.json", '{"statements": ' + "[" * 50_000 + "]" * 50_000 + "}",
     "VEX document: nested more than 128 levels deep"),
    ("--vex", "types.json", '{"statements": [{"vulnerability": 5, "status": "fixed"}]}',
     "statements[0]: vulnerability must be a string or an object, not a number"),
    ("--ignore", "bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 10) + "]\n"
               for i in range(8)) + "ignore:\n  - {id: *b7, reason: r}\n",
     "YAML aliases expand to more than 1,000,000 nodes; refused"),
])
def test_hostile_files_exit_2_in_one_line(image: str, db: Path, tmp_path: Path, option: str,
                                          name: str, text: str, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["scan", image, "--db", str(db), option, str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"hullcheck: error: {path}") and err[0].endswith(message), err
    assert len(err) == 2 and err[1].startswith("hint: ")


def test_dev_zero_as_vex_or_ignore_file(image: str, db: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for option, cap in (("--vex", "64 MiB"), ("--ignore", "4 MiB")):
        assert main(["scan", image, "--db", str(db), option, "/dev/zero"]) == 2
        err = capsys.readouterr().err
        assert f"/dev/zero: larger than {cap}; refused" in err


def test_policy_check_vex_naming_nothing_is_noted(image: str, db: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: hullcheck/v1\nkind: Policy\nrules:\n"
                      "  - id: any\n    type: vulnerabilities\n    severity: unknown\n")
    vex = _vex(tmp_path, {})
    code = main(["policy", "check", image, "--policy", str(policy), "--db", str(db),
                 "--vex", str(vex), "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["outcome"] == "fail"  # the statements suppressed nothing
    assert doc["waived"] == []
    assert [n for n in doc["notes"] if n.startswith("VEX:")] == [
        "VEX: 2 statement(s) name products hullcheck cannot match to this image or its "
        "packages (an empty product {}); those products are ignored, and a statement left "
        "with none applies to nothing"]
