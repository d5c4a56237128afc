"""match() against databases built from real advisory records: ids, ranges, distro statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.match import Status, match
from hullcheck.model import PackageType, Severity
from hullcheck.vulndb import VulnStore
from tests.match.support import (
    BOOKWORM,
    FIXTURES,
    ids_of,
    inventory,
    make_db,
    osv_source,
    pkg,
    write_osv,
)

PY, NPM, GO, DEB, CARGO = (PackageType.PYTHON, PackageType.NPM, PackageType.GO,
                           PackageType.DEB, PackageType.CARGO)


def run(db: Path, *packages, distro=None):
    with VulnStore.open(db) as store:
        return match(inventory(*packages, distro=distro), store)


def test_requests_and_urllib3_real_advisories(fixture_only_db: Path) -> None:
    res = run(fixture_only_db, pkg(PY, "requests", "2.19.0"), pkg(PY, "urllib3", "1.24.1"))
    found = ids_of(res.findings)
    assert set(found) == {("requests", "CVE-2018-18074"), ("urllib3", "CVE-2019-11324")}
    req = found["requests", "CVE-2018-18074"]
    assert set(req.aliases) == {"PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"}
    assert req.fixed_versions == ("2.20.0",)
    assert req.status is Status.FIXED
    (ev,) = req.evidence
    assert (ev.advisory, ev.ecosystem, ev.name, ev.via) == ("PYSEC-2018-28", "PyPI", "requests",
                                                           "direct")
    assert "fixed 2.20.0" in ev.matched
    url = found["urllib3", "CVE-2019-11324"]
    assert "PYSEC-2019-133" in url.aliases and url.fixed_versions == ("1.24.2",)
    assert res.skipped == () and res.packages_checked == 2


@pytest.mark.parametrize("version", ["2.20.0", "2.31.0"])
def test_fixed_requests_is_clean(fixture_only_db: Path, version: str) -> None:
    assert run(fixture_only_db, pkg(PY, "requests", version)).findings == ()


@pytest.mark.parametrize(("version", "hit"), [
    ("8.3.40", False),  # below PYSEC-2024-154's introduced 8.3.41
    ("8.3.41", True),
    ("8.3.46", True),
    ("8.3.47", False),  # its fixed version
    ("8.4.0", False),
])
def test_range_excludes_versions_outside_it(fixture_only_db: Path, version: str, hit: bool) -> None:
    found = ids_of(run(fixture_only_db, pkg(PY, "ultralytics", version)).findings)
    assert (("ultralytics", "PYSEC-2024-154") in found) is hit
    if hit:
        f = found["ultralytics", "PYSEC-2024-154"]
        assert f.fixed_versions == ("8.3.47",)
        assert f.score.source == "CVSS_V3" and f.severity is Severity.HIGH


@pytest.mark.parametrize(("version", "hit"), [("0.5.0", True), ("0.4.9", True),
                                              ("0.5.1", False)])
def test_last_affected_is_inclusive(fixture_only_db: Path, version: str, hit: bool) -> None:
    found = ids_of(run(fixture_only_db, pkg(PY, "pywasm3", version)).findings)
    assert (("pywasm3", "CVE-2025-6272") in found) is hit
    if hit:  # last_affected gives no fixed version: not fixed
        f = found["pywasm3", "CVE-2025-6272"]
        assert f.status is Status.NOT_FIXED and f.fixed_versions == ()
        assert f.score.source == "CVSS_V4"


def test_withdrawn_records_are_skipped(fixture_only_db: Path) -> None:
    res = run(fixture_only_db, pkg(PY, "plone", "2.5"),  # PYSEC-2006-10, withdrawn
              pkg(GO, "k8s.io/kubernetes", "v1.20.0"),  # GO-2022-0617, withdrawn
              pkg(NPM, "drata", "1.0.0"),  # MAL-2024-1398, withdrawn
              pkg(CARGO, "spin", "0.0.0-alpha"))  # RUSTSEC-2019-0031, withdrawn
    assert res.findings == ()


@pytest.mark.parametrize(("version", "hit"), [("v1.5.0", True), ("1.5.0", True),
                                              ("v1.6.0", False), ("v1.10.0", False),
                                              ("v0.0.0-20190101000000-abcdefabcdef", True)])
def test_go_semver_ranges_with_v_prefix(fixture_only_db: Path, version: str, hit: bool) -> None:
    found = ids_of(run(fixture_only_db, pkg(GO, "github.com/gin-gonic/gin", version)).findings)
    assert (("github.com/gin-gonic/gin", "CVE-2020-36567") in found) is hit
    if hit:
        assert found["github.com/gin-gonic/gin", "CVE-2020-36567"].fixed_versions == ("1.6.0",)


def test_rust_semver_range_from_0_0_0_pre(fixture_only_db: Path) -> None:
    found = ids_of(run(fixture_only_db, pkg(CARGO, "openssl", "0.8.3")).findings)
    assert found["openssl", "CVE-2016-10931"].fixed_versions == ("0.9.0",)
    assert run(fixture_only_db, pkg(CARGO, "openssl", "0.10.0")).findings == ()


def test_malicious_listed_version(fixture_only_db: Path) -> None:
    found = ids_of(run(fixture_only_db, pkg(NPM, "@hyperion-util/cookies", "77.77.79",
                                            purl="pkg:npm/%40hyperion-util/cookies@77.77.79"),
                       pkg(NPM, "algo-svnlook", "3.0.0")).findings)
    cookies = found["@hyperion-util/cookies", "MAL-2023-1"]
    assert cookies.severity is Severity.MALICIOUS and cookies.status is Status.MALICIOUS
    assert cookies.evidence[0].matched == "version 77.77.79 listed"
    whole = found["algo-svnlook", "MAL-2023-1547"]  # a range of just introduced: 0
    assert whole.severity is Severity.MALICIOUS and whole.status is Status.MALICIOUS
    # malicious sorts above everything
    assert Severity.MALICIOUS.rank > Severity.CRITICAL.rank


def test_malicious_record_without_versions_or_ranges(tmp_path: Path) -> None:
    # The snapshot has no MAL record with neither versions nor ranges; MAL-2023-1 with its
    # versions list removed stands in for one (the README says so).
    rec = json.loads((FIXTURES / "osv/malicious/npm/MAL-2023-1.json").read_text())
    del rec["affected"][0]["versions"]
    db = make_db(tmp_path / "v.db", osv_source("mal", write_osv(tmp_path / "mal", rec)),
                 fixtures=False)
    res = run(db, pkg(NPM, "@hyperion-util/cookies", "1.0.0"))
    (f,) = res.findings
    assert (f.id, f.severity, f.status) == ("MAL-2023-1", Severity.MALICIOUS, Status.MALICIOUS)
    assert f.evidence[0].matched == "all versions"
    # the version list of the original still bounds it: 1.0.0 is not malicious there
    assert run(make_db(tmp_path / "w.db", osv_source("mal", FIXTURES / "osv/malicious"),
                       fixtures=False), pkg(NPM, "@hyperion-util/cookies", "1.0.0")).findings == ()


def test_alias_merge_one_finding_with_both_records(match_db: Path) -> None:
    res = run(match_db, pkg(PY, "requests", "2.19.0"))
    (f,) = res.findings
    assert f.id == "CVE-2018-18074"
    assert {e.advisory for e in f.evidence} == {"PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"}
    assert {e.source for e in f.evidence} == {"osv-pypa", "test-ghsa"}
    assert set(f.aliases) == {"PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"}
    # the GHSA record carries a CVSS vector: score and severity agree with it
    assert f.score.score == 7.5 and f.severity is Severity.HIGH
    assert f.fixed_versions == ("2.20.0",)


# -- Debian, through the source package, with the tracker sample ------------------------


def test_debian_fixed_in_release_not_reported(match_db: Path) -> None:
    # sope: bookworm fixed in 5.8.0-1+deb12u1 (the tracker sample)
    fixed = pkg(DEB, "libsope1", "5.8.0-1+deb12u1", source=("sope", "5.8.0-1+deb12u1"))
    newer = pkg(DEB, "libsope-appserver4.9", "5.8.1-1", source=("sope", "5.8.1-1"))
    assert run(match_db, fixed, newer, distro=BOOKWORM).findings == ()


def test_debian_affected_via_source_package(match_db: Path) -> None:
    res = run(match_db, pkg(DEB, "libsope1", "5.8.0-1", source=("sope", "5.8.0-1")),
              distro=BOOKWORM)
    (f,) = res.findings
    assert f.id == "CVE-2025-53603" and f.aliases == ("DEBIAN-CVE-2025-53603",)
    assert f.package.name == "libsope1"
    assert f.fixed_versions == ("5.8.0-1+deb12u1",) and f.status is Status.FIXED
    (ev,) = f.evidence
    assert (ev.via, ev.name, ev.ecosystem, ev.version) == ("source-package", "sope",
                                                          "Debian:12", "5.8.0-1")


def test_debian_unfixed_and_no_dsa(match_db: Path) -> None:
    res = run(match_db,
              pkg(DEB, "libtiff6", "4.5.0-6+deb12u1", source=("tiff", "4.5.0-6+deb12u1")),
              pkg(DEB, "libssl3", "3.0.11-1~deb12u2", source=("openssl", "3.0.11-1~deb12u2")),
              distro=BOOKWORM)
    found = ids_of(res.findings)
    tiff = found["libtiff6", "CVE-2023-52356"]
    assert tiff.status is Status.NOT_FIXED and tiff.fixed_versions == ()
    assert tiff.severity is Severity.LOW and tiff.distro_urgency == "low"
    assert tiff.evidence[0].via == "source-package"
    ssl = found["libssl3", "CVE-2023-5678"]
    assert ssl.status is Status.WONT_FIX


def test_debian_kev_membership(match_db: Path) -> None:
    res = run(match_db, pkg(DEB, "sudo", "1.9.5p1-1", source=("sudo", "1.9.5p1-1")),
              distro=BOOKWORM)
    (f,) = res.findings
    assert f.id == "CVE-2021-3156" and f.kev is not None
    assert f.kev.date_added == "2022-04-06"
    assert f.severity is Severity.HIGH  # the tracker urgency
    assert run(match_db, pkg(DEB, "sudo", "1.9.13p3-1", source=("sudo", "1.9.13p3-1")),
               distro=BOOKWORM).findings == ()


def test_debian_binnmu_compares_the_source_version(match_db: Path) -> None:
    # binNMU: binary sope 5.8.0-1+b1 from source sope 5.8.0-1 — compared as 5.8.0-1.
    res = run(match_db, pkg(DEB, "sope", "5.8.0-1+b1", source=("sope", "5.8.0-1")),
              distro=BOOKWORM)
    (f,) = res.findings
    (ev,) = f.evidence
    assert (ev.via, ev.version) == ("source-package", "5.8.0-1")
    # A binary carrying its own epoch (1:5.8.0-1) built from source 5.8.0-1: by the binary
    # version it would look newer than the fix; by the source version it is affected.
    res = run(match_db, pkg(DEB, "sope", "1:5.8.0-1", source=("sope", "5.8.0-1")),
              distro=BOOKWORM)
    assert [f.id for f in res.findings] == ["CVE-2025-53603"]
    # and the binNMU of the fixed upload is clean
    assert run(match_db, pkg(DEB, "sope", "5.8.0-1+deb12u1+b1",
                             source=("sope", "5.8.0-1+deb12u1")), distro=BOOKWORM).findings == ()


def test_debian_other_release_not_used(match_db: Path) -> None:
    from hullcheck.model import Distro

    bullseye = Distro(id="debian", version_id="11", codename="bullseye")
    res = run(match_db, pkg(DEB, "libsope1", "5.0.1-2+deb11u1", source=("sope", "5.0.1-2+deb11u1")),
              distro=bullseye)
    assert res.findings == ()
    res = run(match_db, pkg(DEB, "libsope1", "5.0.1-2", source=("sope", "5.0.1-2")),
              distro=bullseye)
    assert [f.fixed_versions for f in res.findings] == [("5.0.1-2+deb11u1",)]


def test_unreadable_version_is_skipped_not_guessed(fixture_only_db: Path) -> None:
    res = run(fixture_only_db, pkg(PY, "requests", "not a version!"))
    assert res.findings == ()
    (s,) = res.skipped
    assert s.package.name == "requests" and "not readable as pep440" in s.reason


def test_unreadable_range_event_is_skipped(tmp_path: Path) -> None:
    rec = {"id": "PYSEC-0000-1", "modified": "2024-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "demo"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                       {"fixed": "1.0 final!"}]}]}]}
    db = make_db(tmp_path / "v.db", osv_source("x", write_osv(tmp_path / "x", rec)),
                 fixtures=False)
    res = run(db, pkg(PY, "demo", "0.5"))
    assert res.findings == ()
    (s,) = res.skipped
    assert s.advisory == "PYSEC-0000-1" and "1.0 final!" in s.reason


def test_os_package_without_distro_is_skipped(match_db: Path) -> None:
    res = run(match_db, pkg(DEB, "libsope1", "5.8.0-1", source=("sope", "5.8.0-1")))
    assert res.findings == ()
    assert "unknown distro" in res.skipped[0].reason
