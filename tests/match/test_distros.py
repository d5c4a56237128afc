"""Each distro end to end: its advisories as published -> ``db import`` -> an image holding
that distro's real package database -> ``scan`` finds exactly what the records say.

Real records: tests/fixtures/advisories/distro (see its README): Ubuntu's UBUNTU-CVE-2025-6491
and -38094, Red Hat's RHSA-2024:6220 (the python39:3.9 module) and RHSA-2024:4546, Chainguard's
CGA records and the Wolfi/Chainguard secdb samples, Go's stdlib/toolchain records. No record
of Rocky Linux, AlmaLinux, SUSE or openSUSE with affected packages is in the snapshot; those
are written below in their published OSV shape (and say so), as is the one Ubuntu case the
real records lack (a fix only Ubuntu Pro has). The Amazon updateinfo files are constructed
from yum's documented updateinfo schema (README).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.osimages import Rpm, apk_installed, dpkg_status, os_release, rpmdb
from tests.match.support import write_osv

DISTRO = Path(__file__).parent.parent / "fixtures" / "advisories" / "distro"
GO_STDLIB = Path(__file__).parent.parent / "fixtures" / "advisories" / "upstream" / "go-stdlib"
MakeImage = Callable[..., str]


def _import(db: Path, kind: str, *paths: Path) -> None:
    assert main(["db", "--db", str(db), "import", "--kind", kind, *map(str, paths)]) == 0


def _scan(image: str, db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["scan", image, "--db", str(db), "-o", "json"]) in (0, 1)
    doc: dict[str, Any] = json.loads(capsys.readouterr()[0])
    return doc


def _found(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["package"]["name"], f["id"]): f for f in doc["findings"]}


# --------------------------------------------------------------------------- Ubuntu


def test_ubuntu_release_and_lts_name_the_records(make_image: MakeImage, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """22.04 is "Ubuntu:22.04:LTS" (it was searched as "Ubuntu:22.04", finding nothing);
    the source package php8.1 is what the record names; a backport is a dpkg comparison."""
    db = tmp_path / "vuln.db"
    _import(db, "osv", DISTRO / "ubuntu")
    image = make_image({
        "etc/os-release": os_release("ubuntu", "22.04", "Ubuntu 22.04.4 LTS",
                                     VERSION="22.04.4 LTS (Jammy Jellyfish)"),
        "var/lib/dpkg/status": dpkg_status(
            ("php8.1-cli", "8.1.2-1ubuntu2.21", "php8.1"),       # one before the fix
            ("php8.1-common", "8.1.2-1ubuntu2.22", "php8.1"),    # the fix itself
            ("linux-libc-dev", "5.15.0-100.110", "linux")),      # 38094: 14.04 Pro only
    })
    doc = _scan(image, db, capsys)
    found = _found(doc)
    assert set(found) == {("php8.1-cli", "CVE-2025-6491")}
    f = found["php8.1-cli", "CVE-2025-6491"]
    assert f["aliases"] == ["UBUNTU-CVE-2025-6491"]  # "upstream" joined them
    assert (f["status"], f["fixedVersions"]) == ("fixed", ["8.1.2-1ubuntu2.22"])
    assert f["severity"] == "medium" and f["cvss"]["score"] == 5.9
    [ev] = f["evidence"]
    assert (ev["ecosystem"], ev["searchedName"], ev["via"]) == (
        "Ubuntu:22.04:LTS", "php8.1", "source-package")


def test_ubuntu_pro_esm_records_are_searched_and_said(make_image: MakeImage, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """20.04's php7.4 is only in "Ubuntu:Pro:20.04:LTS" (ESM), still vulnerable there."""
    db = tmp_path / "vuln.db"
    _import(db, "osv", DISTRO / "ubuntu")
    image = make_image({
        "etc/os-release": os_release("ubuntu", "20.04", "Ubuntu 20.04.6 LTS"),
        "var/lib/dpkg/status": dpkg_status(("php7.4-cli", "7.4.3-4ubuntu2.29", "php7.4")),
    })
    found = _found(_scan(image, db, capsys))
    f = found["php7.4-cli", "CVE-2025-6491"]
    assert (f["status"], f["fixedVersions"]) == ("not-fixed", [])
    [ev] = f["evidence"]
    assert ev["ecosystem"] == "Ubuntu:Pro:20.04:LTS"
    assert ev["matched"].endswith("(in Ubuntu Pro (ESM))")


# The real records lack a fix published only to Ubuntu Pro while the release itself has
# none (a universe package in ESM Apps): this one is written here in Ubuntu's OSV shape.
ESM_ONLY = {
    "schema_version": "1.7.0", "id": "UBUNTU-CVE-2024-0001", "upstream": ["CVE-2024-0001"],
    "modified": "2024-06-01T00:00:00Z", "severity": [{"type": "Ubuntu", "score": "high"}],
    "affected": [
        {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "zabbix"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
         "versions": ["1:5.0.17+dfsg-1"]},
        {"package": {"ecosystem": "Ubuntu:Pro:22.04:LTS", "name": "zabbix"},
         "ranges": [{"type": "ECOSYSTEM", "events": [
             {"introduced": "0"}, {"fixed": "1:5.0.17+dfsg-1ubuntu0.1~esm1"}]}],
         "ecosystem_specific": {"availability": "Available with Ubuntu Pro: "
                                                "https://ubuntu.com/pro"}}],
}


@pytest.mark.parametrize(("installed", "expected"), [
    ("1:5.0.17+dfsg-1", ["1:5.0.17+dfsg-1ubuntu0.1~esm1"]),  # fix with Pro: said so
    ("1:5.0.17+dfsg-1ubuntu0.1~esm1", None),  # the ESM update installed: nothing
])
def test_ubuntu_esm_fix_shown_and_honoured(make_image: MakeImage, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], installed: str,
                                           expected: list[str] | None) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "osv", write_osv(tmp_path / "esm", ESM_ONLY))
    image = make_image({
        "etc/os-release": os_release("ubuntu", "22.04", "Ubuntu 22.04.4 LTS"),
        "var/lib/dpkg/status": dpkg_status(("zabbix-agent", installed, "zabbix")),
    })
    found = _found(_scan(image, db, capsys))
    if expected is None:
        assert found == {}
        return
    f = found["zabbix-agent", "CVE-2024-0001"]
    assert (f["status"], f["fixedVersions"], f["severity"]) == ("fixed", expected, "high")
    pro = [e for e in f["evidence"] if e["ecosystem"] == "Ubuntu:Pro:22.04:LTS"]
    assert pro and "Ubuntu Pro (ESM)" in pro[0]["matched"]


# --------------------------------------------------------------------------- RHEL


def test_rhel_module_streams_and_epochs(make_image: MakeImage, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """RHSA-2024:6220 (python39:3.9) and RHSA-2024:4546 as Red Hat publishes them, on a
    RHEL 8.6 rpm database written by rpm itself."""
    db = tmp_path / "vuln.db"
    _import(db, "osv", DISTRO / "redhat")
    mod39 = "python39:3.9:8050020211014141218:6a0f1cd0"
    packages = rpmdb(tmp_path, [
        # in the stream, below the fix: found (by binary name and by source name)
        Rpm("python39-numpy", "1.19.4", "2.module+el8.5.0+12204+54860423", source="numpy",
            module=mod39),
        # another stream of the same software: not this advisory's
        Rpm("python38-numpy", "1.17.3", "6.module+el8.5.0+12204+54860423", source="numpy",
            module="python38:3.8:8050020211109130820:ad4fb5c5"),
        # outside any module: the module's fix does not apply
        Rpm("python3-numpy", "1.14.3", "10.el8", source="numpy"),
        # epoch 1 as the fix has it, release below: found; the fixed release: not
        Rpm("python39-wheel", "0.35.1", "3.module+el8.5.0+12204+54860423", epoch=1,
            source="python-wheel", module=mod39),
        Rpm("python39-wheel-wheel", "0.35.1", "4.module+el8.5.0+12204+54860423", epoch=1,
            source="python-wheel-w", module=mod39),
        # a plain package, one release before the fix
        Rpm("git-lfs", "2.13.3", "3.el8_6"),
    ])
    image = make_image({
        "etc/os-release": os_release("rhel", "8.6", "Red Hat Enterprise Linux 8.6 (Ootpa)"),
        "var/lib/rpm/rpmdb.sqlite": packages,
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("python39-numpy", "CVE-2024-6345"),
                          ("python39-wheel", "CVE-2024-6345"),
                          ("git-lfs", "CVE-2023-45288")}
    numpy = found["python39-numpy", "CVE-2024-6345"]
    assert numpy["aliases"] == ["RHSA-2024:6220"]
    assert numpy["fixedVersions"] == ["0:1.19.4-3.module+el8.5.0+12204+54860423"]
    assert {e["searchedName"] for e in numpy["evidence"]} == {"python39-numpy", "numpy"}
    assert {e["ecosystem"] for e in numpy["evidence"]} == {
        "Red Hat:rhel_aus:8.6::appstream", "Red Hat:rhel_e4s:8.6::appstream",
        "Red Hat:rhel_tus:8.6::appstream"}
    wheel = found["python39-wheel", "CVE-2024-6345"]
    assert wheel["package"]["version"] == "1:0.35.1-3.module+el8.5.0+12204+54860423"
    assert wheel["fixedVersions"] == ["1:0.35.1-4.module+el8.5.0+12204+54860423"]
    assert found["git-lfs", "CVE-2023-45288"]["fixedVersions"] == ["0:2.13.3-3.el8_6.1"]


def test_rhel_other_major_release_is_not_searched(make_image: MakeImage, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "osv", DISTRO / "redhat")
    image = make_image({
        "etc/os-release": os_release("rhel", "9.4", "Red Hat Enterprise Linux 9.4 (Plow)"),
        "var/lib/rpm/rpmdb.sqlite": rpmdb(tmp_path, [Rpm("git-lfs", "2.13.3", "3.el8_6")]),
    })
    assert _scan(image, db, capsys)["findings"] == []


# --------------------------------------------------------------------------- Rocky, Alma

# Written here in Rocky Linux's and AlmaLinux's published OSV shape (ecosystem
# "<distro>:<major>", epochs in the fixed versions, module streams only in the summary,
# AlmaLinux's "module_el" spelling and CVEs in "related"): no such record is in the snapshot.
RLSA = {
    "schema_version": "1.6.0", "id": "RLSA-2023:7877", "modified": "2024-01-02T00:00:00Z",
    "summary": "Low: openssl security update", "upstream": ["CVE-2023-3446"],
    "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "openssl"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]}]}],
}
RLSA_NODEJS = {
    "schema_version": "1.6.0", "id": "RLSA-2024:1510", "modified": "2024-04-01T00:00:00Z",
    "summary": "Important: nodejs:20 security update", "upstream": ["CVE-2024-27983"],
    "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "nodejs"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"},
                      {"fixed": "1:20.11.1-1.module+el9.3.0+27.ab0a1b02"}]}]}],
}
ALSA = {
    "schema_version": "1.6.0", "id": "ALSA-2024:1510", "modified": "2024-04-01T00:00:00Z",
    "summary": "Important: nodejs:20 security update", "related": ["CVE-2024-27983"],
    "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "nodejs"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"},
                      {"fixed": "1:20.11.1-1.module_el9.3.0+38+8b1b4bb1"}]}]}],
}


def test_rocky_epochs_and_streams(make_image: MakeImage, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "osv", write_osv(tmp_path / "rocky", RLSA, RLSA_NODEJS))
    image = make_image({
        "etc/os-release": os_release("rocky", "9.3", "Rocky Linux 9.3 (Blue Onyx)"),
        "var/lib/rpm/rpmdb.sqlite": rpmdb(tmp_path, [
            Rpm("openssl-libs", "3.0.7", "24.el9", epoch=1, source="openssl"),
            Rpm("nodejs", "20.10.0", "1.module+el9.3.0+20+a1b2c3d4", epoch=1,
                module="nodejs:20:9030020231120082734:rhel9"),
            # nodejs:18's build of the same source: nodejs:20's fix is not for it
            Rpm("nodejs-full-i18n", "18.19.0", "1.module+el9.3.0+21+a1b2c3d4", epoch=1,
                source="nodejs", module="nodejs:18:9030020231120082734:rhel9"),
        ]),
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("openssl-libs", "CVE-2023-3446"), ("nodejs", "CVE-2024-27983")}
    assert found["openssl-libs", "CVE-2023-3446"]["fixedVersions"] == ["1:3.0.7-25.el9_3"]
    assert found["openssl-libs", "CVE-2023-3446"]["evidence"][0]["ecosystem"] == "Rocky Linux:9"


def test_almalinux_related_cves_and_module_el(make_image: MakeImage, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "osv", write_osv(tmp_path / "alma", ALSA))
    image = make_image({
        "etc/os-release": os_release("almalinux", "9.3", "AlmaLinux 9.3 (Shamrock Pampas Cat)"),
        "var/lib/rpm/rpmdb.sqlite": rpmdb(tmp_path, [
            Rpm("nodejs", "20.10.0", "1.module_el9.3.0+37+8b1b4bb1", epoch=1,
                module="nodejs:20:9030020231120082734:rhel9"),
            Rpm("npm", "10.2.3", "1.18.19.0.1.module_el9.3.0+37+8b1b4bb1", epoch=1,
                source="nodejs", module="nodejs:18:9030020231120082734:rhel9")]),
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("nodejs", "ALSA-2024:1510")}  # an ALSA's CVEs are only related


# --------------------------------------------------------------------------- SUSE

# Written here in SUSE's published OSV shape: the source package under every product that
# ships it, "<product> <version> SP<n>[-LTSS]", binaries in ecosystem_specific.
SUSE_SU = {
    "schema_version": "1.5.0", "id": "SUSE-SU-2024:0510-1", "modified": "2024-02-20T00:00:00Z",
    "summary": "Security update for openssl-3", "related": ["CVE-2023-6237"],
    "affected": [
        {"package": {"ecosystem": "SUSE:Linux Enterprise Module for Basesystem 15 SP5",
                     "name": "openssl-3", "purl": "pkg:rpm/suse/openssl-3"},
         "ranges": [{"type": "ECOSYSTEM", "events": [
             {"introduced": "0"}, {"fixed": "3.0.8-150500.5.20.1"}]}],
         "ecosystem_specific": {"binaries": [{"libopenssl3": "3.0.8-150500.5.20.1",
                                              "openssl-3": "3.0.8-150500.5.20.1"}]}},
        {"package": {"ecosystem": "SUSE:Linux Enterprise Server 15 SP4-LTSS",
                     "name": "openssl-3", "purl": "pkg:rpm/suse/openssl-3"},
         "ranges": [{"type": "ECOSYSTEM", "events": [
             {"introduced": "0"}, {"fixed": "3.0.1-150400.4.51.1"}]}]},
        {"package": {"ecosystem": "openSUSE:Leap 15.5", "name": "openssl-3",
                     "purl": "pkg:rpm/opensuse/openssl-3"},
         "ranges": [{"type": "ECOSYSTEM", "events": [
             {"introduced": "0"}, {"fixed": "3.0.8-150500.5.20.1"}]}]},
    ],
}


@pytest.mark.parametrize(("distro", "pretty"), [
    (("sles", "15.5"), "SUSE Linux Enterprise Server 15 SP5"),
    (("opensuse-leap", "15.5"), "openSUSE Leap 15.5"),
])
def test_suse_products_of_the_release(make_image: MakeImage, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      distro: tuple[str, str], pretty: str) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "osv", write_osv(tmp_path / "suse", SUSE_SU), DISTRO / "suse")
    image = make_image({
        "etc/os-release": os_release(*distro, pretty),
        "var/lib/rpm/rpmdb.sqlite": rpmdb(tmp_path, [
            Rpm("libopenssl3", "3.0.8", "150500.5.14.1", source="openssl-3"),
            Rpm("openssl-3", "3.0.8", "150500.5.20.1")]),
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("libopenssl3", "SUSE-SU-2024:0510-1")}
    f = found["libopenssl3", "SUSE-SU-2024:0510-1"]
    assert f["fixedVersions"] == ["3.0.8-150500.5.20.1"]  # not SP4-LTSS's 3.0.1 fix


# --------------------------------------------------------------------------- Amazon


@pytest.mark.parametrize(("version_id", "rpm", "expected"), [
    ("2", Rpm("libcurl", "7.55.1", "8.amzn2", source="curl"), {("libcurl", "ALAS2-2018-951")}),
    ("2", Rpm("libcurl", "7.55.1", "9.amzn2.0.1", source="curl"), set()),
    ("2023", Rpm("openssl-libs", "3.0.8", "1.amzn2023.0.2", epoch=1, source="openssl"),
     {("openssl-libs", "CVE-2023-0286")}),
    ("2023", Rpm("libcurl", "7.55.1", "8.amzn2", source="curl"), set()),  # AL2's advisory
])
def test_amazon_linux_alas(make_image: MakeImage, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str], version_id: str, rpm: Rpm,
                           expected: set[tuple[str, str]]) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "alas", DISTRO / "amazon")
    image = make_image({
        "etc/os-release": os_release("amzn", version_id, f"Amazon Linux {version_id}"),
        "var/lib/rpm/rpmdb.sqlite": rpmdb(tmp_path, [rpm]),
    })
    doc = _scan(image, db, capsys)
    assert set(_found(doc)) == expected
    for f in doc["findings"]:
        assert f["severity"] == "high"  # ALAS "important"
        assert f["evidence"][0]["ecosystem"] == f"Amazon Linux:{version_id}"


# --------------------------------------------------------------------------- Wolfi, Chainguard


def test_wolfi_secdb_and_chainguard_osv(make_image: MakeImage, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    _import(db, "wolfi", DISTRO / "wolfi-secdb-security-sample.json")
    assert main(["db", "--db", str(db), "import", str(DISTRO / "chainguard-osv")]) == 0
    image = make_image({
        "etc/os-release": os_release("wolfi", "20230201", "Wolfi"),
        "lib/apk/db/installed": apk_installed(
            ("busybox", "1.35.0-r2", "busybox"),         # secdb: 2 CVEs fixed in -r3
            ("coreutils", "9.1-r0", "coreutils"),        # secdb "0": never affected
            ("syncthing", "2.0.13-r0", "syncthing"),     # CGA-xcpc-gm23-prj9, Wolfi entry
            ("haproxy-2.8", "2.8.1-r0", "haproxy-2.8")),  # CGA: a Chainguard entry only
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("busybox", "CVE-2022-28391"), ("busybox", "CVE-2022-30065"),
                          ("syncthing", "CVE-2025-68121")}
    assert found["busybox", "CVE-2022-28391"]["evidence"][0]["ecosystem"] == "Wolfi"
    assert found["syncthing", "CVE-2025-68121"]["fixedVersions"] == ["2.0.14-r1"]


def test_chainguard_secdb_and_osv(make_image: MakeImage, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import",
                 str(DISTRO / "chainguard-secdb-security-sample.json"),
                 str(DISTRO / "chainguard-osv")]) == 0  # both detected
    image = make_image({
        "etc/os-release": os_release("chainguard", "20230214", "Chainguard"),
        "lib/apk/db/installed": apk_installed(
            ("bind", "9.18.10-r0", "bind"),               # secdb: 3 fixed in 9.18.11-r0
            ("syncthing-compat", "2.0.13-r0", "syncthing-compat"),  # fixed "0": not affected
            ("haproxy-2.8", "2.8.1-r0", "haproxy-2.8")),
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("bind", "CVE-2022-3094"), ("bind", "CVE-2022-3736"),
                          ("bind", "CVE-2022-3924"), ("haproxy-2.8", "CVE-2025-32464")}
    assert found["haproxy-2.8", "CVE-2025-32464"]["aliases"] == [
        "CGA-224q-ccj5-2p53", "GHSA-frg5-h47x-75j9"]


# --------------------------------------------------------------------------- distroless


def test_distroless_is_debian_underneath(make_image: MakeImage, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """gcr.io/distroless: os-release says Debian 12 (PRETTY_NAME "Distroless"), and the
    packages are one stanza per file under /var/lib/dpkg/status.d/."""
    db = tmp_path / "vuln.db"
    _import(db, "debian", DISTRO / "debian-tracker-json-sample.json")
    image = make_image({
        "etc/os-release": os_release("debian", "12", "Distroless", NAME="Debian GNU/Linux",
                                     VERSION="Debian GNU/Linux 12 (bookworm)",
                                     HOME_URL="https://github.com/GoogleContainerTools/distroless"),
        "var/lib/dpkg/status.d/libsope1": ("Package: libsope1\nVersion: 5.8.0-1\n"
                                           "Architecture: amd64\nSource: sope\n"),
    })
    found = _found(_scan(image, db, capsys))
    assert set(found) == {("libsope1", "CVE-2025-53603")}
    assert found["libsope1", "CVE-2025-53603"]["fixedVersions"] == ["5.8.0-1+deb12u1"]


# --------------------------------------------------------------------------- binaries

GO_RECORDS = ("GO-2024-2687", "GO-2024-2824", "GO-2024-2825", "GO-2024-2887")


def test_go_toolchain_found_by_version_string_is_matched(make_image: MakeImage, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """A Go toolchain copied in (no package manager): Go's own database names it, as
    "toolchain" (the go command) and "stdlib" (the library it builds into programs)."""
    assert sorted(p.stem for p in GO_STDLIB.iterdir()) == list(GO_RECORDS)
    db = tmp_path / "vuln.db"
    _import(db, "osv", GO_STDLIB)
    elf = make_elf([(".text", b"\x90" * 64), (".rodata", b"\x00junk\x00go1.21.9\x00")])
    busybox = make_elf([(".text", b"\x90" * 64), (".rodata", b"\x00BusyBox v1.36.1 (2023)\x00")])
    image = make_image({"usr/local/go/bin/go": elf, "bin/busybox": busybox})
    doc = _scan(image, db, capsys)
    found = _found(doc)
    # 2687 fixed 1.21.9 (installed), 2824 is 1.22 only: neither
    assert set(found) == {("go", "CVE-2024-24787"), ("go", "CVE-2024-24790")}
    tool = found["go", "CVE-2024-24787"]["evidence"][0]
    assert (tool["ecosystem"], tool["searchedName"], tool["via"]) == ("Go", "toolchain",
                                                                     "upstream")
    assert found["go", "CVE-2024-24790"]["evidence"][0]["searchedName"] == "stdlib"
    [skip] = [s for s in doc["skipped"] if s["package"].startswith("pkg:generic/busybox")]
    assert "no advisories name busybox by version" in skip["reason"]
    assert "busybox:busybox" in skip["reason"]


def test_real_go_toolchain_is_matched_once(make_image: MakeImage, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The machine's own go command: its build info gives "stdlib" (a Go package), its
    version string the toolchain; the standard library's advisories are not reported twice."""
    go = Path(shutil.which("go") or "go").resolve()
    db = tmp_path / "vuln.db"
    _import(db, "osv", GO_STDLIB)
    doc = _scan(make_image({"usr/local/go/bin/go": go.read_bytes()}), db, capsys)
    version = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True,
                             check=True).stdout.strip().removeprefix("go")
    assert version.startswith("1.19.")  # every record below is fixed in 1.21 or later
    found = _found(doc)
    assert set(found) == {("go", "CVE-2024-24787"),      # toolchain, by version string
                          ("stdlib", "CVE-2023-45288"),  # stdlib, by build info
                          ("stdlib", "CVE-2024-24790")}
    assert found["go", "CVE-2024-24787"]["evidence"][0]["searchedName"] == "toolchain"
    assert found["stdlib", "CVE-2024-24790"]["package"]["version"] == version
