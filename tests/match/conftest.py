"""A database built once from the real fixture records plus the few cases the snapshot lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.match.support import debian_source, make_db, osv_source, write_osv, write_tracker

# The tracker sample has no bookworm entry that is <unfixed> or no-dsa, and no sudo entry for
# the KEV case; these are written here in the tracker's own JSON shape (status "open", no
# fixed_version = <unfixed>; a "nodsa" text = no-dsa), with real CVE ids.
TRACKER_EXTRA = {
    "tiff": {"CVE-2023-52356": {"description": "segfault in TIFFReadRGBATileExt",
                                "releases": {"bookworm": {"status": "open", "repositories": {
                                    "bookworm": "4.5.0-6+deb12u1"}, "urgency": "low"}}}},
    "openssl": {"CVE-2023-5678": {"description": "DH key checks slow",
                                  "releases": {"bookworm": {
                                      "status": "open", "repositories": {"bookworm": "3.0.11-1"},
                                      "urgency": "not yet assigned",
                                      "nodsa": "Minor issue", "nodsa_reason": ""}}}},
    "sudo": {"CVE-2021-3156": {"description": "Baron Samedit",
                               "releases": {"bookworm": {
                                   "status": "resolved", "repositories": {"bookworm": "1.9.13p3-1"},
                                   "fixed_version": "1.9.5p2-1", "urgency": "high"}}}},
}

# A GHSA record in OSV format aliasing the same CVE as the real PYSEC-2018-28 (as the real
# GHSA-x84v-xcm2-53pg does), with a CVSS v3.1 vector the PYSEC record lacks.
GHSA_REQUESTS = {
    "schema_version": "1.4.0",
    "id": "GHSA-x84v-xcm2-53pg",
    "modified": "2023-11-08T03:59:57Z",
    "published": "2018-10-29T19:06:46Z",
    "aliases": ["CVE-2018-18074"],
    "summary": "Insufficiently Protected Credentials in Requests",
    "severity": [{"type": "CVSS_V3",
                  "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}]}],
    "database_specific": {"severity": "HIGH"},
}


@pytest.fixture(scope="session")
def extras_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("extra")
    write_osv(d / "ghsa", GHSA_REQUESTS)
    write_tracker(d / "tracker-extra.json", TRACKER_EXTRA)
    return d


@pytest.fixture(scope="session")
def match_db(tmp_path_factory: pytest.TempPathFactory, extras_dir: Path) -> Path:
    return make_db(tmp_path_factory.mktemp("matchdb") / "vuln.db",
                   osv_source("test-ghsa", extras_dir / "ghsa"),
                   debian_source("test-tracker", extras_dir / "tracker-extra.json"))


@pytest.fixture(scope="session")
def fixture_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the real fixture records, nothing written by the tests."""
    return make_db(tmp_path_factory.mktemp("fixdb") / "vuln.db")
