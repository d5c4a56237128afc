"""The distros' own feeds, read as published: Wolfi's and Chainguard's secdb, Amazon's
updateinfo (ALAS), and what Ubuntu's and Red Hat's OSV records say in their own way
(``upstream``, Ubuntu's priority, notices, module streams). Hostile files get one line.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.errors import FormatError
from hullcheck.vulndb import SourceKind, VulnStore, alpine, amazon, osv
from hullcheck.vulndb.build import Source, build
from hullcheck.vulndb.detect import detect
from hullcheck.vulndb.model import DistroStatus
from hullcheck.vulndb.severity import Rating
from hullcheck.vulndb.update import DEFAULT_SOURCES
from tests.vulndb.conftest import FIXTURES

DISTRO = FIXTURES / "distro"
AL2 = DISTRO / "amazon" / "updateinfo-al2.xml"
AL2023 = DISTRO / "amazon" / "updateinfo-al2023.xml.gz"


# --------------------------------------------------------------------------- secdb


def test_wolfi_secdb_is_read_without_a_release() -> None:
    errors: list[FormatError] = []
    got = {a.id: a for a in alpine.read(DISTRO / "wolfi-secdb-security-sample.json",
                                        source="wolfi-secdb", errors=errors, distro="Wolfi")}
    assert not errors
    busybox = got["WOLFI-CVE-2022-28391"]
    assert busybox.aliases == ("CVE-2022-28391",)
    [a] = busybox.affected
    assert (a.ecosystem, a.package, a.fixed_versions, a.status) == (
        "Wolfi", "busybox", ("1.35.0-r3",), DistroStatus.FIXED)
    [never] = got["WOLFI-CVE-2016-2781"].affected  # coreutils "0": never affected
    assert (never.package, never.status, never.ranges) == (
        "coreutils", DistroStatus.NOT_AFFECTED, ())


def test_a_release_less_reading_refuses_an_alpine_file() -> None:
    errors: list[FormatError] = []
    got = list(alpine.read(DISTRO / "alpine-secdb-v3.15-main-sample.yaml", source="x",
                           errors=errors, distro="Chainguard"))
    assert got == []
    assert len(errors) == 1 and "a Chainguard secdb has no 'distroversion'" in str(errors[0])


# --------------------------------------------------------------------------- ALAS


def test_amazon_updateinfo_security_updates() -> None:
    errors: list[FormatError] = []
    got = list(amazon.read([AL2, AL2023], source="alas", errors=errors))
    assert not errors
    assert [a.id for a in got] == ["ALAS2-2018-951", "ALAS2023-2023-100"]  # the bug fix: not
    curl, openssl = got
    assert curl.aliases == ("CVE-2018-1000120", "CVE-2018-1000121", "CVE-2018-1000122")
    assert curl.severity.rating is Rating.HIGH and curl.database_severity == "important"
    assert (curl.published, curl.modified) == ("2018-03-22T15:57:00Z", "2018-03-22T23:56:00Z")
    assert curl.references[0].url == "https://alas.aws.amazon.com/AL2/ALAS-2018-951.html"
    assert [(a.ecosystem, a.package, a.fixed_versions) for a in curl.affected] == [
        ("Amazon Linux:2", n, ("0:7.55.1-9.amzn2.0.1",))
        for n in ("curl", "curl-debuginfo", "libcurl", "libcurl-devel")]
    # gzip by its magic bytes; one entry per name whatever the architectures; the epoch kept
    [ssl] = openssl.affected
    assert (ssl.ecosystem, ssl.package, ssl.fixed_versions) == (
        "Amazon Linux:2023", "openssl-libs", ("1:3.0.8-1.amzn2023.0.3",))


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE updates [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<updates><update type="security"><id>ALAS2-2018-1</id><title>&c;</title></update></updates>
"""


def test_hostile_updateinfo_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BOMB)
    errors: list[FormatError] = []
    assert list(amazon.read(bomb, source="x", errors=errors)) == []
    assert [str(e) for e in errors] == [
        f"{bomb}: not a readable updateinfo file (it declares a DTD or entities, which "
        "updateinfo never needs: refused)"]

    # an inflating gzip stops at the cap, never read whole
    monkeypatch.setattr(amazon, "MAX_XML", 4096)
    big = tmp_path / "big.xml.gz"
    big.write_bytes(gzip.compress(b"<updates>" + b" " * 1_000_000 + b"</updates>"))
    errors = []
    assert list(amazon.read(big, source="x", errors=errors)) == []
    assert "decompresses to more than 4096 bytes" in str(errors[0])

    # one broken update is one error; the good one is kept
    mixed = tmp_path / "mixed.xml"
    mixed.write_text(AL2.read_text().replace("</updates>", """
      <update type="security"><id>ALAS2-2018-960</id><pkglist><collection>
        <package name="bad name!" epoch="x" version="1" release="1"/></collection></pkglist>
      </update>
      <update type="security"><id>NOT-AN-ALAS</id></update></updates>"""))
    errors = []
    assert [a.id for a in amazon.read(mixed, source="x", errors=errors)] == ["ALAS2-2018-951"]
    assert [str(e).split(": ", 1)[1] for e in errors] == [
        "ALAS2-2018-960: package 'bad name!' needs name, numeric epoch, version and release",
        "update id 'NOT-AN-ALAS' is not an ALAS id"]

    # through the CLI: one line, exit 2, the database not written
    db = tmp_path / "vuln.db"
    capsys.readouterr()
    assert main(["db", "--db", str(db), "import", str(bomb)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not a readable updateinfo file" in err[0]
    assert err[1].startswith("hint: ")
    assert not db.exists()


# --------------------------------------------------------------------------- OSV in distro hands


def test_upstream_joins_aliases_for_one_vulnerability_only(tmp_path: Path) -> None:
    errors: list[FormatError] = []
    got = {a.id: a for a in osv.read(DISTRO / "ubuntu", source="s", errors=errors)}
    got |= {a.id: a for a in osv.read(DISTRO / "redhat", source="s", errors=errors)}
    assert not errors
    assert got["UBUNTU-CVE-2025-6491"].aliases == ("CVE-2025-6491",)
    assert got["RHSA-2024:4546"].aliases == ("CVE-2023-45288",)
    assert got["RHSA-2024:4546"].related == ("GO-2024-2687",)
    # Ubuntu's priority is the database's word when there is no CVSS vector
    kernel = got["UBUNTU-CVE-2025-38094"]
    assert kernel.database_severity == "medium" and kernel.severity.rating is Rating.MEDIUM
    many = {"id": "RHSA-2024:9999", "modified": "2024-01-01T00:00:00Z",
            "upstream": ["CVE-2024-1", "CVE-2024-2"], "related": ["X-1"], "affected": []}
    usn = {"id": "USN-7648-1", "modified": "2025-07-18T00:00:00Z",
           "upstream": ["UBUNTU-CVE-2025-6491"],
           "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "php8.1"},
                         "ranges": [{"type": "ECOSYSTEM", "events": [
                             {"introduced": "0"}, {"fixed": "8.1.2-1ubuntu2.22"}]}]}]}
    for doc in (many, usn):
        (tmp_path / f"{doc['id']}.json").write_text(json.dumps(doc))
    more = {a.id: a for a in osv.read(tmp_path, source="s", errors=errors)}
    assert set(more) == {"RHSA-2024:9999"}  # the notice is left out: its CVE record says it
    assert more["RHSA-2024:9999"].aliases == ()
    assert more["RHSA-2024:9999"].related == ("X-1", "CVE-2024-1", "CVE-2024-2")


def test_red_hat_module_builds_carry_their_stream() -> None:
    errors: list[FormatError] = []
    [adv] = osv.read(DISTRO / "redhat" / "RHSA-2024_6220.json", source="s", errors=errors)
    by_name = {a.package: a for a in adv.affected}
    assert by_name["numpy"].purl == "pkg:rpm/redhat/numpy?rpmmod=python39:3.9"
    [plain] = osv.read(DISTRO / "redhat" / "RHSA-2024_4546.json", source="s", errors=errors)
    assert all("rpmmod" not in a.purl for a in plain.affected)  # no module build, no stream


# --------------------------------------------------------------------------- import and defaults


@pytest.mark.parametrize(("name", "kind"), [
    ("wolfi-secdb-security-sample.json", SourceKind.WOLFI),
    ("chainguard-secdb-security-sample.json", SourceKind.CHAINGUARD),
    ("alpine-secdb-v3.15-main-sample.yaml", SourceKind.ALPINE),
    ("amazon/updateinfo-al2.xml", SourceKind.ALAS),
    ("amazon/updateinfo-al2023.xml.gz", SourceKind.ALAS),
    ("ubuntu", SourceKind.OSV),
])
def test_db_import_tells_the_feeds_apart(name: str, kind: SourceKind) -> None:
    assert detect(DISTRO / name) == kind


def test_store_lists_its_ecosystems(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    build(path, [Source(name="rh", kind=SourceKind.OSV, locations=(str(DISTRO / "redhat"),)),
                 Source(name="alas", kind=SourceKind.ALAS, locations=(str(AL2),))])
    with VulnStore.open(path) as store:
        assert store.ecosystems() == ("Amazon Linux:2", "Red Hat:rhel_aus:8.6::appstream",
                                      "Red Hat:rhel_e4s:8.6::appstream",
                                      "Red Hat:rhel_tus:8.6::appstream")


def test_db_update_defaults_fetch_the_distros_public_feeds() -> None:
    urls = {s.name: (s.kind, s.locations) for s in DEFAULT_SOURCES}
    osv_bucket = "https://osv-vulnerabilities.storage.googleapis.com"
    for eco, quoted in (("Ubuntu", "Ubuntu"), ("Red Hat", "Red%20Hat"),
                        ("Rocky Linux", "Rocky%20Linux"), ("AlmaLinux", "AlmaLinux"),
                        ("SUSE", "SUSE"), ("openSUSE", "openSUSE")):
        assert urls[f"osv-{eco}"] == (SourceKind.OSV, (f"{osv_bucket}/{quoted}/all.zip",))
    assert urls["wolfi-secdb"] == (SourceKind.WOLFI,
                                   ("https://packages.wolfi.dev/os/security.json",))
    assert urls["chainguard-secdb"] == (
        SourceKind.CHAINGUARD, ("https://packages.cgr.dev/chainguard/security.json",))
