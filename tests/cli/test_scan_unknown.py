"""Severity from aliases as the user sees it, and --fail-on-unknown.

The image holds urllib3 1.24.1 from PyPI; the database the real PYSEC-2019-133 (no score)
and, in "rated", a Debian tracker entry for its CVE (written in the tracker's JSON shape;
the sample has none for python-urllib3) whose urgency rates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.match.support import (
    FIXTURES,
    debian_source,
    dist_info,
    make_db,
    osv_source,
    write_tracker,
)

TRACKER = {"python-urllib3": {"CVE-2019-11324": {
    "description": "urllib3 CA certificates handling",
    "releases": {"bookworm": {"status": "resolved", "repositories": {"bookworm": "1.26.12-1"},
                              "fixed_version": "1.24.1-1.1", "urgency": "medium"}}}}}


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """"rated": the tracker rates the CVE; "unrated": only the unscored PYSEC records."""
    tmp = tmp_path_factory.mktemp("unknown-db")
    pypa = osv_source("osv-pypa", FIXTURES / "osv" / "pypa")
    tracker = debian_source("tracker", write_tracker(tmp / "tracker.json", TRACKER))
    return {"rated": make_db(tmp / "rated.db", pypa, tracker, fixtures=False),
            "unrated": make_db(tmp / "unrated.db", pypa, fixtures=False)}


@pytest.fixture
def image(make_image: Callable[..., str]) -> str:
    return make_image(dist_info("urllib3", "1.24.1"))


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return code, out


def test_alias_severity_in_json_and_table(image: str, dbs: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, out = _scan(capsys, image, "--db", str(dbs["rated"]), "-o", "json")
    (f,) = json.loads(out)["findings"]
    assert (f["id"], f["severity"], f["severityFrom"]) == (
        "CVE-2019-11324", "medium", "DEBIAN-CVE-2019-11324")
    _, table = _scan(capsys, image, "--db", str(dbs["rated"]), "-o", "table")
    assert "medium*" in table and "* severity of an alias advisory" in table


@pytest.mark.parametrize(("db", "args", "code"), [
    ("unrated", ("--fail-on", "low"), 0),  # unknown is below low: documented default
    ("unrated", ("--fail-on", "low", "--fail-on-unknown"), 1),
    ("unrated", ("--fail-on-unknown",), 1),
    ("unrated", (), 0),
    ("rated", ("--fail-on-unknown",), 0),  # rated medium through its alias
    ("rated", ("--fail-on", "medium"), 1),
    ("rated", ("--fail-on", "high", "--fail-on-unknown"), 0),
])
def test_fail_on_unknown(image: str, dbs: dict[str, Path], capsys: pytest.CaptureFixture[str],
                         db: str, args: tuple[str, ...], code: int) -> None:
    got, _ = _scan(capsys, image, "--db", str(dbs[db]), "-o", "json", *args)
    assert got == code
