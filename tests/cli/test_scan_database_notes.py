"""A thin or stale database does not pass silently: `scan` notes its age over --db-max-age
and each distro release or ecosystem of the image it holds no advisories for."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.match.support import (
    FIXTURES,
    OS_RELEASE,
    build_fixture_db,
    dist_info,
    dpkg_status,
    make_db,
    osv_source,
)

DEBIAN = {**OS_RELEASE, **dpkg_status({"Package": "sudo", "Version": "1.9.13p3-1"},
                                      {"Package": "libtiff6", "Version": "4.5.0-6+deb12u1",
                                       "Source": "tiff"})}


@pytest.fixture(scope="module")
def pypi_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As `db update --sources` with PyPI alone would leave it."""
    tmp = tmp_path_factory.mktemp("pypi-only")
    return make_db(tmp / "vuln.db", osv_source("osv-pypa", FIXTURES / "osv" / "pypa"),
                   fixtures=False)


@pytest.fixture(scope="module")
def fixture_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("notes-db"))


@pytest.fixture(scope="module")
def old_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture database, as if built 30 days ago (its recorded build time rewritten)."""
    path = build_fixture_db(tmp_path_factory.mktemp("old-db"))
    built = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'built_at'", (built,))
    conn.close()
    return path


def _notes(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    code = main(["scan", *args, "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    notes: list[str] = json.loads(out)["notes"]
    assert err.splitlines() == [f"note: {n}" for n in notes]  # also on standard error
    return notes


def test_no_advisories_for_the_images_release(make_image: Callable[..., str],
                                              pypi_only_db: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image({**DEBIAN, **dist_info("requests", "2.19.0")})
    notes = _notes(capsys, ref, "--db", str(pypi_only_db))
    assert notes == ["no advisories for Debian 12 in this database: findings for its 2 "
                     "packages would be missing"]


def test_a_database_holding_them_says_nothing(make_image: Callable[..., str],
                                              fixture_only_db: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image({**DEBIAN, **dist_info("requests", "2.19.0")})
    assert _notes(capsys, ref, "--db", str(fixture_only_db)) == []


@pytest.mark.parametrize(("release", "note"), [
    ('ID=ubuntu\nVERSION_ID="4.10"\n', "no advisories for Ubuntu 4.10 in this database: "
                                        "findings for its 2 packages would be missing"),
    ('ID=arch\nPRETTY_NAME="Arch Linux"\n', "no advisory source for Arch Linux: its 2 OS "
                                            "packages are not matched"),
])
def test_a_release_nobody_publishes_for(make_image: Callable[..., str], fixture_only_db: Path,
                                        capsys: pytest.CaptureFixture[str], release: str,
                                        note: str) -> None:
    ref = make_image({**DEBIAN, "etc/os-release": release})
    assert _notes(capsys, ref, "--db", str(fixture_only_db)) == [note]


def test_an_ecosystem_without_advisories(make_image: Callable[..., str], pypi_only_db: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pj = '{"name": "left-pad", "version": "1.3.0"}'
    ref = make_image({"srv/app/node_modules/left-pad/package.json": pj,
                      **dist_info("requests", "2.19.0")})
    assert _notes(capsys, ref, "--db", str(pypi_only_db)) == [
        "no advisories for npm in this database: findings for its 1 package would be missing"]


def test_a_stale_database(make_image: Callable[..., str], old_db: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(dist_info("requests", "2.19.0"))
    (note,) = _notes(capsys, ref, "--db", str(old_db))
    assert note.startswith("the advisory database was built 30 days ago (")
    assert "more than 5" in note and "hullcheck db update" in note
    assert _notes(capsys, ref, "--db", str(old_db), "--db-max-age", "60") == []
    assert _notes(capsys, ref, "--db", str(old_db), "--db-max-age", "0") == []
    code = main(["scan", ref, "--db", str(old_db), "-o", "table"])
    out, _ = capsys.readouterr()
    assert code == 0 and "note: the advisory database was built 30 days ago" in out


def test_db_max_age_must_be_days(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["scan", "x", "--db-max-age", "soon"])
    assert info.value.code == 2
    assert "argument --db-max-age: 'soon' is not a number of days" in capsys.readouterr().err
