"""A vulnerability none of whose matched records rates it takes the rating of an alias
advisory elsewhere in the database, and says which.

Real records: PYSEC-2019-133 (urllib3 CVE-2019-11324, no score) and GHSA-mh33-7rrq-662w (the
same CVE, CVSS v3.0 7.5) from tests/fixtures/advisories. The Debian tracker entries for the
CVE are written here in the tracker's own JSON shape: the sample holds none for python-urllib3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.match import _best_alias, match
from hullcheck.model import PackageType, Severity
from hullcheck.vulndb import VulnStore
from hullcheck.vulndb.severity import Rating, Score
from tests.match.support import (
    BOOKWORM,
    FIXTURES,
    debian_source,
    ids_of,
    inventory,
    make_db,
    osv_source,
    pkg,
    write_tracker,
)

PYSEC = FIXTURES / "osv" / "pypa"
GHSA = FIXTURES / "ghsa"


def _tracker(urgency: str) -> dict[str, object]:
    return {"python-urllib3": {"CVE-2019-11324": {
        "description": "urllib3 CA certificates handling",
        "releases": {"bookworm": {"status": "open", "repositories": {"bookworm": "1.24.1-1"},
                                  "urgency": urgency}}}}}


def _db(tmp: Path, *, urgency: str, ghsa: bool) -> Path:
    tracker = write_tracker(tmp / "tracker.json", _tracker(urgency))
    sources = [osv_source("osv-pypa", PYSEC), debian_source("tracker", tracker)]
    if ghsa:
        sources.append(osv_source("ghsa", GHSA))
    return make_db(tmp / "vuln.db", *sources, fixtures=False)


PIP_URLLIB3 = pkg(PackageType.PYTHON, "urllib3", "1.24.1")
DEB_URLLIB3 = pkg(PackageType.DEB, "python3-urllib3", "1.24.1-1",
                  purl="pkg:deb/debian/python3-urllib3@1.24.1-1",
                  source=("python-urllib3", "1.24.1-1"))


def test_pypi_finding_takes_the_debian_urgency_of_its_cve(tmp_path: Path) -> None:
    """PYSEC-2019-133 has no score; the tracker rates CVE-2019-11324 medium for Debian."""
    with VulnStore.open(_db(tmp_path, urgency="medium", ghsa=False)) as store:
        result = match(inventory(PIP_URLLIB3), store)
    f = ids_of(result.findings)[("urllib3", "CVE-2019-11324")]
    assert (f.severity, f.severity_from) == (Severity.MEDIUM, "DEBIAN-CVE-2019-11324")
    assert f.score.source == "database" and f.score.score is None
    assert [e.advisory for e in f.evidence] == ["PYSEC-2019-133"]  # matched as before


def test_debian_finding_without_urgency_takes_the_ghsa_cvss(tmp_path: Path) -> None:
    """The tracker has not assigned an urgency; the GHSA record (PyPI, so it does not match
    the .deb) scores the same CVE 7.5."""
    with VulnStore.open(_db(tmp_path, urgency="not yet assigned", ghsa=True)) as store:
        result = match(inventory(DEB_URLLIB3, distro=BOOKWORM), store)
    f = ids_of(result.findings)[("python3-urllib3", "CVE-2019-11324")]
    assert (f.severity, f.severity_from) == (Severity.HIGH, "GHSA-mh33-7rrq-662w")
    assert (f.score.score, f.score.source) == (7.5, "CVSS_V3")
    assert f.score.vector == "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N"


def test_a_score_of_the_matched_records_is_kept(tmp_path: Path) -> None:
    """urllib3 from PyPI: the GHSA matches too, so its CVSS is the finding's own."""
    with VulnStore.open(_db(tmp_path, urgency="low", ghsa=True)) as store:
        result = match(inventory(PIP_URLLIB3), store)
    f = ids_of(result.findings)[("urllib3", "CVE-2019-11324")]
    assert (f.severity, f.severity_from, f.score.score) == (Severity.HIGH, "", 7.5)


def test_nothing_rates_it_stays_unknown(tmp_path: Path) -> None:
    with VulnStore.open(_db(tmp_path, urgency="not yet assigned", ghsa=False)) as store:
        result = match(inventory(PIP_URLLIB3), store)
    f = ids_of(result.findings)[("urllib3", "CVE-2019-11324")]
    assert (f.severity, f.severity_from) == (Severity.UNKNOWN, "")


@pytest.mark.parametrize(("found", "expected"), [
    ((), None),
    ((("A", Score(rating=Rating.UNKNOWN)),), None),
    # A CVSS score beats any word; the highest score wins.
    ((("DEBIAN-CVE-1", Score(rating=Rating.HIGH, source="database")),
      ("GHSA-1", Score(rating=Rating.MEDIUM, score=5.3, source="CVSS_V3")),
      ("NVD-1", Score(rating=Rating.MEDIUM, score=6.1, source="CVSS_V3"))), "NVD-1"),
    ((("DEBIAN-CVE-1", Score(rating=Rating.LOW, source="database")),
      ("GHSA-1", Score(rating=Rating.HIGH, source="database"))), "GHSA-1"),
])
def test_the_alias_rating_preference(found: tuple[tuple[str, Score], ...],
                                     expected: str | None) -> None:
    best = _best_alias(found)
    assert (best[0] if best else None) == expected
