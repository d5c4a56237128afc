"""hullcheck against the SBOMs real Trivy and Syft wrote for the same image (tests/fixtures/
peers: the documents, the tools' versions and commands). The golden files elsewhere hold
hullcheck's own output; these hold other tools' opinions, so they can disagree with it.

- (a) ``hullcheck scan`` reads each peer document back: the packages Trivy named, with their
  source packages, epochs and scoped names, and the findings the image itself gives;
- (b) hullcheck's own SBOM of the image names the same (name, version, purl type) set as
  Trivy's, OS packages and language packages alike. Where the documents differ in the
  details, each difference is written out below and asserted, not normalised away
  silently: if a tool changes its mind, a test says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from hullcheck import sbom
from hullcheck.cli.main import main
from hullcheck.image.writer import write_docker_archive
from tests.fixtures.peers.image import DPKG, NPM, PYTHON, REMOVED, TAG, peer_image
from tests.match.support import debian_source, make_db, osv_source, write_osv, write_tracker

PEERS = Path(__file__).parent.parent / "fixtures" / "peers"
DOCS = {"trivy cyclonedx": "trivy.cdx.json", "trivy spdx": "trivy.spdx.json",
        "syft cyclonedx": "syft.cdx.json", "syft spdx": "syft.spdx.json"}


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PEERS / DOCS[name]).read_bytes())
    return doc


def _props(component: dict[str, Any], prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        if p["name"].startswith(prefix):
            out.setdefault(p["name"].removeprefix(prefix), []).append(p["value"])
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image the peers scanned, rebuilt (as the docker archive they were given)."""
    path = tmp_path_factory.mktemp("peers") / "image.tar"
    return f"docker-archive:{write_docker_archive(path, peer_image(), [TAG])}"


def test_the_documents_are_the_tools_and_describe_this_image() -> None:
    """Trivy recorded the image ID (config digest) and the layers' diff IDs of the image the
    tests rebuild byte for byte; Syft the same layers. So the comparisons below are about
    one image."""
    img = peer_image()
    diff_ids = json.loads(img.config)["rootfs"]["diff_ids"]
    trivy = _doc("trivy cyclonedx")
    assert trivy["metadata"]["tools"]["components"][0]["version"] == "0.59.1"
    meta = _props(trivy["metadata"]["component"], "aquasecurity:trivy:")
    assert meta["ImageID"] == [img.config_digest]
    assert sorted(meta["DiffID"]) == sorted(diff_ids)
    syft = _doc("syft cyclonedx")
    assert syft["metadata"]["tools"]["components"][0] == {
        "type": "application", "author": "anchore", "name": "syft", "version": "1.18.1"}
    layers = {v for c in syft["components"] for v in _props(c, "syft:location:0:").get(
        "layerID", [])}
    assert layers and layers <= set(diff_ids)
    assert "Tool: trivy-0.59.1" in {a["annotator"] for p in _doc("trivy spdx")["packages"]
                                    for a in p.get("annotations", [])}
    assert "Tool: syft-1.18.1" in _doc("syft spdx")["creationInfo"]["creators"]


# -- what each document says: the facts the comparisons rest on -----------------------------


def _trivy_libraries() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _doc("trivy cyclonedx")["components"]
            if c["type"] == "library"}


def test_trivy_names_the_visible_installed_packages() -> None:
    """Trivy lists the final file system's packages: not tzdata (removed by the last
    layer's status file) nor urllib3 (its dist-info whited out), nor libgdbm6 (removed,
    its configuration kept: not installed)."""
    expected = {(p, v) for p, v, _, _ in DPKG if p != "tzdata"} | {
        (n, v) for n, v, _ in PYTHON if n != "urllib3"} | {(n.split("/")[-1], v) for n, v, _ in NPM}
    assert {(c["name"], c["version"]) for c in _trivy_libraries().values()} == expected


# -- (a) hullcheck scan reads the peers' documents -------------------------------------------


# Records written for these tests, in the real formats (the Debian security tracker's JSON
# export, OSV), with ids in a year no real advisory has. Each tests one thing the SBOM must
# carry: the source package (libc6 is built from glibc), the epoch (zlib's fix is the
# installed 1:1.2.13.dfsg-1; read without its epoch it would look older), a scoped npm name,
# and packages not visible (tzdata, urllib3), which squashed scans do not report.
TRACKER = {
    "glibc": {"CVE-2099-0101": {"description": "test: glibc", "releases": {"bookworm": {
        "status": "resolved", "repositories": {"bookworm": "2.36-9+deb12u7"},
        "fixed_version": "2.36-9+deb12u7", "urgency": "medium"}}}},
    "zlib": {"CVE-2099-0102": {"description": "test: zlib", "releases": {"bookworm": {
        "status": "resolved", "repositories": {"bookworm": "1:1.2.13.dfsg-1"},
        "fixed_version": "1:1.2.13.dfsg-1", "urgency": "low"}}}},
    "openssl": {"CVE-2099-0103": {"description": "test: openssl", "releases": {"bookworm": {
        "status": "open", "repositories": {"bookworm": "3.0.11-1~deb12u2"},
        "urgency": "low"}}}},
    "tzdata": {"CVE-2099-0104": {"description": "test: tzdata", "releases": {"bookworm": {
        "status": "resolved", "repositories": {"bookworm": "2024b-0+deb12u1"},
        "fixed_version": "2024b-0+deb12u1", "urgency": "low"}}}},
}


def _osv(osv_id: str, ecosystem: str, name: str, fixed: str) -> dict[str, Any]:
    return {"schema_version": "1.6.0", "id": osv_id, "modified": "2099-01-01T00:00:00Z",
            "summary": f"test: {name}", "affected": [
                {"package": {"ecosystem": ecosystem, "name": name}, "ranges": [
                    {"type": "SEMVER" if ecosystem == "npm" else "ECOSYSTEM",
                     "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}


OSV = (_osv("TEST-2099-0201", "npm", "lodash", "4.17.22"),
       _osv("TEST-2099-0202", "npm", "@types/node", "20.11.6"),
       _osv("TEST-2099-0203", "PyPI", "urllib3", "2.0.8"))
# What the image's visible packages give (the real fixture records add nothing here:
# requests 2.31.0 is past PYSEC-2018-28's fix).
FINDINGS = {("libc6", "CVE-2099-0101", "fixed"), ("libssl3", "CVE-2099-0103", "not-fixed"),
            ("lodash", "TEST-2099-0201", "fixed"), ("@types/node", "TEST-2099-0202", "fixed")}
# What the packages the layers shipped but the final file system lacks give: hullcheck
# counts them in the default scope and lists them with --scope all-layers (its SBOM marks
# them shipped-not-visible); an SBOM of the final file system, as Trivy's and Syft's are,
# has no such packages to report.
HIDDEN = {("tzdata", "CVE-2099-0104", "fixed"), ("urllib3", "TEST-2099-0203", "fixed")}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("peers-db")
    return make_db(d / "vuln.db", osv_source("peers-osv", write_osv(d / "osv", *OSV)),
                   debian_source("peers-tracker", write_tracker(d / "tracker.json", TRACKER)))


def _scan(target: str, db: Path, capsys: pytest.CaptureFixture[str],
          *args: str) -> dict[str, Any]:
    assert main(["scan", target, "--db", str(db), "-q", *args]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _findings(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["package"]["name"], f["id"], f["status"]) for f in doc["findings"]}


def test_scanning_the_image_gives_the_expected_findings(
        image: str, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reference the peers' documents are held to (and that the records work)."""
    squashed = _scan(image, db, capsys, "-o", "json")
    assert _findings(squashed) == FINDINGS
    assert squashed["summary"]["hiddenFindings"] == len(HIDDEN)
    assert _findings(_scan(image, db, capsys, "-o", "json", "--scope", "all-layers")) == (
        FINDINGS | HIDDEN)
    hidden = _scan(image, db, capsys, "-o", "cyclonedx-json", "--scope", "all-layers")
    assert {c["name"] for c in hidden["components"] if "shipped-not-visible" in {
        p["value"] for p in c.get("properties", [])}} == {name for name, _, _ in HIDDEN}


def test_scan_reads_trivys_cyclonedx_back(db: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Trivy's packages, as Trivy wrote them (versions, purls), come out of
    ``hullcheck scan``'s CycloneDX; its source packages and epochs are read from Trivy's
    own properties (SrcName, SrcVersion, SrcRelease, SrcEpoch)."""
    path = str(PEERS / DOCS["trivy cyclonedx"])
    out = _scan(path, db, capsys, "-o", "cyclonedx-json")
    mine = {(c["purl"], c["version"]) for c in out["components"] if c["type"] == "library"}
    assert mine == {(c["purl"], c["version"]) for c in _trivy_libraries().values()}
    # Trivy splits a scoped npm name into group and name; its purl, and we, keep it whole.
    assert _trivy_libraries()["node"]["group"] == "@types"
    assert "@types/node" in {c["name"] for c in out["components"]}
    inv = sbom.decode((PEERS / DOCS["trivy cyclonedx"]).read_bytes(), name="trivy")
    assert inv.distro is not None and (inv.distro.id, inv.distro.version_id) == ("debian", "12.5")
    sources = {p.name: (p.source.name, p.source.version) for p in inv.packages if p.source}
    assert sources == {"base-files": ("base-files", "12.4+deb12u5"), "bash": ("bash", "5.2.15-2"),
                       "libc6": ("glibc", "2.36-9+deb12u4"),
                       "libssl3": ("openssl", "3.0.11-1~deb12u2"),
                       "zlib1g": ("zlib", "1:1.2.13.dfsg-1")}
    # Layers from Trivy's LayerDiffID: the OS packages' first layer, the languages' second.
    assert {p.name: p.locations[0].layer for p in inv.packages} == {
        **{p: 0 for p, *_ in DPKG if p != "tzdata"},
        **{n: 1 for n, *_ in PYTHON if n != "urllib3"}, "lodash": 1, "@types/node": 1}


def test_each_format_of_a_peer_gives_the_same_source_packages() -> None:
    """Trivy's SPDX says in sourceInfo ("built package from: glibc 2.36-9+deb12u4") what its
    CycloneDX says in properties; Syft says it in the purl (upstream=) in both."""
    def sources(name: str) -> dict[str, tuple[str, str]]:
        inv = sbom.decode((PEERS / DOCS[name]).read_bytes(), name=name)
        return {p.name: (p.source.name, p.source.version) for p in inv.packages if p.source}

    trivy = sources("trivy cyclonedx")
    assert trivy["libc6"] == ("glibc", "2.36-9+deb12u4")
    assert sources("trivy spdx") == trivy
    syft = sources("syft cyclonedx")
    assert sources("syft spdx") == syft
    # Syft names a source only where its name or version differs from the binary package's
    # (base-files is its own source), and for the removed libgdbm6, which Syft lists (see
    # test_syft_differs_where_it_says_so).
    differs = {"bash", "libc6", "libssl3", "zlib1g"}
    assert set(syft) == differs | {REMOVED[0]}
    assert {k: syft[k] for k in differs} == {k: trivy[k] for k in differs}


@pytest.mark.parametrize("name", list(DOCS))
def test_each_peer_document_scans_as_the_image_does(
        name: str, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same findings from a peer's SBOM as from the image's visible packages: nothing
    lost on the way (a source package, an epoch, a scoped name), nothing added. (Trivy's
    SPDX gives the source package only in its sourceInfo, "built package from: glibc
    2.36-9+deb12u4", which was once not read: libc6 and libssl3 were matched under their
    own names and their Debian advisories missed.)"""
    assert _findings(_scan(str(PEERS / DOCS[name]), db, capsys, "-o", "json")) == FINDINGS


# -- (b) hullcheck's SBOM of the image against Trivy's -----------------------------------------


def _normalised(purl: str) -> str:
    """A purl with the differences below folded away: the epoch in the version (Trivy: an
    ``epoch`` qualifier), no ``distro`` (Trivy: debian-12.5 from /etc/debian_version; we,
    like Syft: debian-12 from os-release's VERSION_ID) and no ``upstream`` (we and Syft
    name the source package there; Trivy in its SrcName properties)."""
    p = PackageURL.from_string(purl)
    q = dict(p.qualifiers) if isinstance(p.qualifiers, dict) else {}
    epoch = q.pop("epoch", "")
    q.pop("distro", None)
    q.pop("upstream", None)
    version = f"{epoch}:{p.version}" if epoch else p.version
    return PackageURL(p.type, p.namespace, p.name, version, q or None, p.subpath).to_string()


def _our_sbom(image: str, fmt: str, dest: Path) -> dict[str, Any]:
    """``hullcheck sbom IMAGE -o FMT`` (squashed, as Trivy's), written to ``dest``."""
    assert main(["sbom", image, "-o", fmt, "-q", "--file", str(dest)]) == 0
    doc: dict[str, Any] = json.loads(dest.read_bytes())
    return doc


@pytest.fixture(scope="module")
def ours(image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _our_sbom(image, "cyclonedx-json", tmp_path_factory.mktemp("ours") / "sbom.json")


def test_our_sbom_names_the_packages_trivy_names(ours: dict[str, Any]) -> None:
    libraries = [c for c in ours["components"] if c["type"] == "library"]
    key = {(c["name"], c["version"], PackageURL.from_string(c["purl"]).type) for c in libraries}
    trivy = {(c["name"].split("/")[-1] if c["purl"].startswith("pkg:npm/%40") else c["name"],
              c["version"], PackageURL.from_string(c["purl"]).type)
             for c in _trivy_libraries().values()}
    # Trivy names a scoped npm package by its last part ("node"); we, like Syft and npm,
    # by its full name ("@types/node"). The purl is the same.
    assert {(n.split("/")[-1], v, t) for n, v, t in key} == trivy
    assert {c["name"] for c in libraries if c["purl"].startswith("pkg:npm/%40")} == {"@types/node"}
    os_ = {(n, v) for n, v, t in key if t == "deb"}
    assert os_ == {(p, v) for p, v, _, _ in DPKG if p != "tzdata"}
    # With the documented differences folded (see _normalised), the purls are the same.
    assert {_normalised(c["purl"]) for c in libraries} == {
        _normalised(c["purl"]) for c in _trivy_libraries().values()}


def test_the_differences_in_the_purls_are_the_documented_ones(ours: dict[str, Any]) -> None:
    mine = {c["name"]: PackageURL.from_string(c["purl"]) for c in ours["components"]
            if c["type"] == "library"}
    theirs = {c["name"]: PackageURL.from_string(c["purl"]) for c in _trivy_libraries().values()}
    assert mine["zlib1g"].version == "1:1.2.13.dfsg-1" and "epoch" not in mine["zlib1g"].qualifiers
    assert theirs["zlib1g"].version == "1.2.13.dfsg-1" and theirs["zlib1g"].qualifiers["epoch"] == "1"
    assert {p.qualifiers["distro"] for p in mine.values() if p.type == "deb"} == {"debian-12"}
    assert {p.qualifiers["distro"] for p in theirs.values() if p.type == "deb"} == {"debian-12.5"}
    assert mine["libc6"].qualifiers["upstream"] == "glibc"
    assert "upstream" not in theirs["libc6"].qualifiers
    assert _props(_trivy_libraries()["libc6"], "aquasecurity:trivy:")["SrcName"] == ["glibc"]
    # Identical where neither side has anything to add.
    for name in ("requests", "certifi", "lodash"):
        assert mine[name] == theirs[name]


def test_our_layers_are_trivys(ours: dict[str, Any]) -> None:
    """Both attribute a package to the layer that first shipped it."""
    mine = {c["name"]: _props(c, "hullcheck:layer:")["diff-id"][0]
            for c in ours["components"] if c["type"] == "library"}
    theirs = {c["name"]: _props(c, "aquasecurity:trivy:")["LayerDiffID"][0]
              for c in _trivy_libraries().values()}
    assert {n.split("/")[-1]: d for n, d in mine.items()} == theirs


def test_syft_differs_where_it_says_so(ours: dict[str, Any]) -> None:
    """Syft lists a package whose status is ``deinstall ok config-files`` (removed, its
    configuration kept): dpkg, Trivy and we do not count it installed. Otherwise the same
    set; Syft's purls put the epoch in the version, as ours do."""
    syft = {c["name"]: c for c in _doc("syft cyclonedx")["components"] if c["type"] == "library"}
    mine = {c["name"]: c for c in ours["components"] if c["type"] == "library"}
    assert set(syft) - set(mine) == {REMOVED[0]}
    assert set(mine) - set(syft) == set()
    assert {n: _normalised(c["purl"]) for n, c in syft.items() if n != REMOVED[0]} == {
        n: _normalised(c["purl"]) for n, c in mine.items()}
    assert syft["zlib1g"]["purl"] == mine["zlib1g"]["purl"]


def test_our_spdx_names_the_packages_trivys_spdx_names(image: str, tmp_path: Path) -> None:
    """As for CycloneDX. One more difference: we list each Debian source package as an SPDX
    package of its own (purl arch=source), its binaries GENERATED_FROM it; Trivy names
    the source in each binary's sourceInfo."""
    def packages(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
        out = {}
        for p in doc["packages"]:
            purls = [r["referenceLocator"] for r in p.get("externalRefs", [])
                     if r["referenceType"] == "purl"]
            if purls and purls[0].startswith(("pkg:deb/", "pkg:pypi/", "pkg:npm/")):
                out[_normalised(purls[0])] = (p["name"], p["versionInfo"])
        return out

    ours, trivy = _our_sbom(image, "spdx-json", tmp_path / "sbom.spdx.json"), _doc("trivy spdx")
    mine = packages(ours)
    sources = {purl for purl in mine if "arch=source" in purl}
    assert {mine[p][0] for p in sources} == {"base-files", "bash", "glibc", "openssl", "zlib"}
    assert {p: v for p, v in mine.items() if p not in sources} == packages(trivy)
    built = {p["name"]: p["sourceInfo"] for p in trivy["packages"]
             if p.get("sourceInfo", "").startswith("built package from: ")}
    assert built["libc6"] == "built package from: glibc 2.36-9+deb12u4"
