"""Blast radius: images by purl (exact, or name with a version range), by advisory id or any
alias, with tags, deployments and owners; the packages a delta names."""

from __future__ import annotations

from hullcheck import fleet, versions
from hullcheck.fleet.sql import purl_base, purl_version
from tests.fleet.conftest import DIGEST_A, DIGEST_B, DIGEST_C, Clock, deb, finding, image, pypi

XZ_560 = deb("xz-utils", "5.6.0-0.2")
XZ_561 = deb("xz-utils", "5.6.1-1")
XZ_542 = deb("xz-utils", "5.4.1-0.2")
LZMA_560 = deb("liblzma5", "5.6.0-0.2", source="xz-utils", visible=False, layer=0)
FLASK = pypi("Flask", "2.0.1")


def fill(store: fleet.Store) -> None:
    store.record_scan(image(DIGEST_A, tags=("1.0", "latest"), owners=("team-a",)),
                      [XZ_560, LZMA_560, FLASK],
                      [finding("CVE-2024-3094", XZ_560, severity="critical",
                               aliases=("GHSA-rxwq-x6h5-x525",)),
                       finding("CVE-2024-3094", LZMA_560, severity="critical",
                               aliases=("GHSA-rxwq-x6h5-x525",))])
    store.record_scan(image(DIGEST_B, repository="registry.example/api", tags=("2.0",)),
                      [XZ_561], [])
    store.record_scan(image(DIGEST_C, repository="registry.example/old", tags=()),
                      [XZ_542, LZMA_560], [finding("CVE-2024-3094", LZMA_560, severity="critical",
                                                   aliases=("GHSA-rxwq-x6h5-x525",))])
    store.replace_deployments("prod", [
        fleet.Deployment(cluster="prod", namespace="web", workload="deploy/app", container="app",
                         image_digest=DIGEST_A),
        fleet.Deployment(cluster="prod", namespace="api", workload="deploy/api", container="api",
                         image_digest=DIGEST_B)])


def test_purl_base_and_version():
    purl = "pkg:DEB/debian/xz-utils@5.6.0-0.2?arch=amd64&distro=debian-12#sub/path"
    assert purl_base(purl) == "pkg:deb/debian/xz-utils"
    assert purl_version(purl) == "5.6.0-0.2"
    assert purl_base("pkg:npm/@angular/core@16.0.0") == "pkg:npm/@angular/core"
    assert purl_base("pkg:npm/%40angular/core") == "pkg:npm/%40angular/core"
    assert purl_version("pkg:npm/@angular/core") is None
    assert purl_version("pkg:maven/org.example/app@1.0%2Bbuild") == "1.0+build"


def test_search_by_exact_purl_finds_the_image_with_where_it_runs(store: fleet.Store):
    fill(store)
    (hit,) = store.images_with_package("pkg:deb/debian/xz-utils@5.6.0-0.2")
    assert (hit.digest, hit.repository, hit.tags, hit.owners) == (
        DIGEST_A, "registry.example/app", ("1.0", "latest"), ("team-a",))
    assert [(d.cluster, d.namespace, d.workload) for d in hit.deployments] == [
        ("prod", "web", "deploy/app")]
    assert [p.purl for p in hit.packages] == [XZ_560.purl]


def test_search_by_name_and_version_range_includes_hidden_packages(store: fleet.Store):
    fill(store)

    def affected(v: str) -> bool:  # 5.6.0 <= v < 5.6.2, as the caller evaluates ranges
        return (versions.compare("dpkg", v, "5.6.0") >= 0
                and versions.compare("dpkg", v, "5.6.2") < 0)

    hits = store.images_with_package("pkg:deb/debian/xz-utils", versions=affected)
    assert [(h.digest, [p.version for p in h.packages]) for h in hits] == [
        (DIGEST_A, ["5.6.0-0.2"]), (DIGEST_B, ["5.6.1-1"])]
    assert len(store.images_with_package("pkg:deb/debian/xz-utils")) == 3
    # liblzma5 lives in a lower layer only (shipped, not visible): still in the answer.
    (a, c) = store.images_with_package("pkg:deb/debian/liblzma5@5.6.0-0.2")
    assert (a.digest, c.digest) == (DIGEST_A, DIGEST_C)
    assert a.packages[0].visible is False
    # By name: binary or source name, in any ecosystem or one.
    named = store.images_with_package_named("xz-utils", versions=affected)
    assert [(h.digest, sorted(p.name for p in h.packages)) for h in named] == [
        (DIGEST_A, ["liblzma5", "xz-utils"]), (DIGEST_B, ["xz-utils"]), (DIGEST_C, ["liblzma5"])]
    assert [h.digest for h in store.images_with_package_named("flask", ecosystem="PyPI")] == [
        DIGEST_A]
    assert store.images_with_package_named("flask", ecosystem="npm") == ()


def test_search_by_advisory_id_or_any_alias(store: fleet.Store, clock: Clock):
    fill(store)
    for query in ("CVE-2024-3094", "ghsa-rxwq-x6h5-x525", "GHSA-RXWQ-X6H5-X525"):
        hits = store.images_with_advisory(query)
        assert [(h.digest, len(h.findings)) for h in hits] == [(DIGEST_A, 2), (DIGEST_C, 1)]
    assert store.images_with_advisory("CVE-2000-0001") == ()
    # Fixed findings leave the answer unless asked for.
    clock.advance(days=1)
    store.record_scan(image(DIGEST_C, repository="registry.example/old", tags=()),
                      [XZ_542, LZMA_560], [])
    assert [h.digest for h in store.images_with_advisory("CVE-2024-3094")] == [DIGEST_A]
    assert [h.digest for h in store.images_with_advisory("CVE-2024-3094",
                                                         include_fixed=True)] == [
        DIGEST_A, DIGEST_C]


def test_packages_named_streams_the_delta_per_image(store: fleet.Store):
    fill(store)
    # A delta naming the source package xz-utils on Debian 12 and an unrelated npm package.
    got = list(store.packages_named([("Debian:12", "xz-utils"), ("npm", "xz-utils")], batch=2))
    assert [(g.digest, [p.name for p in g.packages]) for g in got] == [
        (DIGEST_A, ["liblzma5", "xz-utils"]), (DIGEST_B, ["xz-utils"]),
        (DIGEST_C, ["liblzma5", "xz-utils"])]
    assert all(g.matched_build == "" for g in got)
    # Names are matched as the advisory database normalises them (PEP 503 for PyPI).
    (flask,) = store.packages_named([("PyPI", "FLASK")])
    assert flask.digest == DIGEST_A and [p.purl for p in flask.packages] == [FLASK.purl]
    assert list(store.packages_named([("Debian:11", "xz-utils")])) == []
    assert list(store.packages_named([])) == []
