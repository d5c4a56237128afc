"""Debian security tracker JSON, Alpine secdb and CISA KEV importers on real samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.vulndb import Advisory, DistroStatus, EventKind, alpine, debian, kev
from tests.vulndb.conftest import FIXTURES

DISTRO = FIXTURES / "distro"
TRACKER = DISTRO / "debian-tracker-json-sample.json"


def _debian(path: Path = TRACKER) -> tuple[dict[str, Advisory], list[FormatError]]:
    errors: list[FormatError] = []
    return {a.id: a for a in debian.read(path, source="debian", errors=errors)}, errors


def test_debian_fixed_release_maps_codename_to_version() -> None:
    got, errors = _debian()
    assert errors == []
    adv = got["DEBIAN-CVE-2008-7220"]
    assert adv.aliases == ("CVE-2008-7220",)
    assert adv.details.startswith("Unspecified vulnerability in Prototype")
    by_eco = {a.ecosystem: a for a in adv.affected}
    assert set(by_eco) == {"Debian:8", "Debian:9", "Debian:10", "Debian:unstable"}
    buster = by_eco["Debian:10"]
    assert buster.package == "prototypejs" and buster.status is DistroStatus.FIXED
    assert buster.fixed_versions == ("1.6.0.2-1",) and buster.urgency == "high**"
    assert adv.database_severity == "HIGH"


def test_debian_fixed_version_zero_means_not_affected() -> None:
    got, _ = _debian()
    stretch = next(a for a in got["DEBIAN-CVE-2007-2383"].affected if a.ecosystem == "Debian:9")
    assert stretch.status is DistroStatus.NOT_AFFECTED
    assert stretch.ranges == () and not stretch.all_versions


def test_debian_open_end_of_life_and_empty_releases() -> None:
    got, _ = _debian()
    eol = {a.ecosystem: a for a in got["DEBIAN-CVE-2022-0456"].affected}
    assert eol["Debian:10"].status is DistroStatus.END_OF_LIFE
    assert eol["Debian:10"].all_versions and eol["Debian:10"].fixed_versions == ()
    # chromium-browser lists CVE-2022-0358 with "releases": [] — known, nothing affected.
    assert got["DEBIAN-CVE-2022-0358"].affected == ()


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({}, DistroStatus.UNFIXED),
        ({"nodsa": "Minor issue"}, DistroStatus.NO_DSA),
        ({"nodsa": "Minor issue", "nodsa_reason": "postponed"}, DistroStatus.POSTPONED),
        ({"nodsa": "", "nodsa_reason": "ignored"}, DistroStatus.IGNORED),
    ],
)
def test_debian_open_statuses(tmp_path: Path, extra: dict[str, str], status: DistroStatus) -> None:
    doc = json.loads(TRACKER.read_text())
    rel = {"status": "open", "repositories": {"bookworm": "2.4.57-2"}, "urgency": "low", **extra}
    doc["prototypejs"]["CVE-2008-7220"]["releases"] = {"bookworm": rel}
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(doc))
    got, _ = _debian(path)
    (aff,) = got["DEBIAN-CVE-2008-7220"].affected
    assert (aff.ecosystem, aff.status, aff.all_versions) == ("Debian:12", status, True)


def test_debian_bad_entries_are_collected(tmp_path: Path) -> None:
    doc = json.loads(TRACKER.read_text())
    doc["prototypejs"]["CVE-2008-7220"]["releases"]["hamm"] = {"status": "open"}
    doc["txt2man"] = ["not", "an", "object"]
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(doc))
    got, errors = _debian(path)
    assert "DEBIAN-CVE-2007-2383" in got
    assert sorted(str(e) for e in errors) == [
        f"{path}: DEBIAN-CVE-2008-7220 (prototypejs): unknown Debian release 'hamm'",
        f"{path}: package 'txt2man': expected an object of issues",
    ]


def test_debian_not_json_raises(tmp_path: Path) -> None:
    path = tmp_path / "json"
    path.write_text("<html>502 Bad Gateway</html>")
    with pytest.raises(FormatError, match="json: not valid JSON"):
        _debian(path)


def test_alpine_json_and_yaml() -> None:
    errors: list[FormatError] = []
    got = {
        a.id: a
        for a in alpine.read(
            [DISTRO / "alpine", DISTRO / "alpine-secdb-v3.15-main-sample.yaml"],
            source="alpine",
            errors=errors,
        )
    }
    assert errors == []
    zlib = [a for a in got["ALPINE-CVE-2018-25032"].affected if a.ecosystem == "Alpine:v3.15"]
    assert [(a.package, a.fixed_versions, a.status) for a in zlib] == [
        ("zlib", ("1.2.12-r0",), DistroStatus.FIXED)
    ]
    assert got["ALPINE-CVE-2018-25032"].aliases == ("CVE-2018-25032",)
    ecosystems = {a.ecosystem for adv in got.values() for a in adv.affected}
    assert ecosystems == {"Alpine:v3.4", "Alpine:v3.5", "Alpine:v3.15"}
    rng = zlib[0].ranges[0]
    assert [e.kind for e in rng.events] == [EventKind.INTRODUCED, EventKind.FIXED]


def test_alpine_fixed_version_zero_means_not_affected(tmp_path: Path) -> None:
    doc = {
        "distroversion": "v3.18", "reponame": "main",
        "packages": [{"pkg": {"name": "xz", "secfixes": {"0": ["CVE-2024-3094"]}}}],
    }
    (tmp_path / "main.json").write_text(json.dumps(doc))
    errors: list[FormatError] = []
    (adv,) = alpine.read(tmp_path, source="alpine", errors=errors)
    assert adv.id == "ALPINE-CVE-2024-3094"
    assert adv.affected[0].status is DistroStatus.NOT_AFFECTED and adv.affected[0].ranges == ()


def test_kev_subset() -> None:
    errors: list[FormatError] = []
    path = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
    entries = {e.cve: e for e in kev.read(path, errors=errors)}
    assert errors == [] and len(entries) == 5
    log4j = entries["CVE-2021-44228"]
    assert log4j.date_added == "2021-12-10" and log4j.ransomware
    assert log4j.vendor == "Apache"
    assert not entries["CVE-2025-48384"].ransomware
    assert entries["CVE-2025-48384"].due_date == "2025-09-15"
