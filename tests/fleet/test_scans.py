"""Recording scans and re-matches: the finding diff, its events (once), history, tags over
time and daily counts, on both backends."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from hullcheck import fleet
from hullcheck.fleet import schema
from hullcheck.fleet.model import DeliveryStatus, FindingState, ImageStatus, PackageRow
from tests.fleet.conftest import DIGEST_A, DIGEST_B, Clock, deb, finding, image, pypi

OPENSSL = deb("openssl", "3.0.11-1~deb12u2")
XZ = deb("xz-utils", "5.6.0-0.2", source="xz-utils")
LIBLZMA = deb("liblzma5", "5.6.0-0.2", source="xz-utils")
REQUESTS = pypi("requests", "2.19.0")
PACKAGES = (OPENSSL, XZ, LIBLZMA, REQUESTS)


def every_channel(kind: str, payload: dict) -> list[str]:
    return ["ops", "mail"]


def event_rows(store: fleet.Store) -> list[tuple[str, str, str]]:
    """(type, advisory, package purl) of every event written, in order."""
    return [(e.type, e.payload["finding"]["id"], e.payload["finding"]["package"]["purl"])
            for e in store.events_since(0)]


def test_record_scan_twice_writes_exactly_the_changes_once(store: fleet.Store, clock: Clock):
    first = [
        finding("CVE-2024-0001", OPENSSL, severity="medium"),
        finding("CVE-2024-3094", XZ, severity="critical", aliases=("GHSA-xz",)),
        finding("PYSEC-2018-28", REQUESTS, aliases=("CVE-2018-18074",), fixed=("2.20.0",)),
    ]
    changes = store.record_scan(image(), PACKAGES, first, route=every_channel)
    assert sorted(c.advisory_id for c in changes.new) == [
        "CVE-2024-0001", "CVE-2024-3094", "PYSEC-2018-28"]
    assert not changes.fixed and not changes.changed

    clock.advance(hours=6)
    second = [
        finding("CVE-2024-0001", OPENSSL, severity="high", kev=True),  # changed: severity, KEV
        finding("PYSEC-2018-28", REQUESTS, aliases=("CVE-2018-18074",), fixed=("2.20.0",),
                cvss=5.0),  # only the score moved: updated silently
        finding("CVE-2025-1111", LIBLZMA, severity="low"),  # new
        # CVE-2024-3094 gone: fixed
    ]
    changes = store.record_scan(image(), PACKAGES, second, route=every_channel)
    assert [c.advisory_id for c in changes.new] == ["CVE-2025-1111"]
    assert [c.advisory_id for c in changes.fixed] == ["CVE-2024-3094"]
    assert [(c.advisory_id, c.changes) for c in changes.changed] == [
        ("CVE-2024-0001", (("severity", "medium", "high"), ("kev", False, True)))]

    # The same scan again changes nothing and writes no event.
    clock.advance(hours=1)
    assert not store.record_scan(image(), PACKAGES, second, route=every_channel)

    assert sorted(event_rows(store)) == sorted([
        ("new-finding", "CVE-2024-0001", OPENSSL.purl),
        ("new-finding", "CVE-2024-3094", XZ.purl),
        ("new-finding", "PYSEC-2018-28", REQUESTS.purl),
        ("new-finding", "CVE-2025-1111", LIBLZMA.purl),
        ("fixed-finding", "CVE-2024-3094", XZ.purl),
        ("finding-changed", "CVE-2024-0001", OPENSSL.purl),
    ])
    # Each event has one pending delivery per routed channel.
    pending = store.deliveries(DeliveryStatus.PENDING, limit=1000)
    assert len(pending) == 12
    assert {(d.event.id, d.channel) for d in pending} == {
        (e.id, ch) for e in store.events_since(0) for ch in ("ops", "mail")}


def test_event_payload_names_the_image_and_the_finding(store: fleet.Store, clock: Clock):
    store.replace_deployments("prod", [fleet.Deployment(
        cluster="prod", namespace="web", workload="deploy/app", container="app",
        image_digest=DIGEST_A)])
    store.record_scan(image(owners=("team-web@example.org",)), PACKAGES,
                      [finding("CVE-2024-3094", XZ, severity="critical")])
    (event,) = store.events_since(0)
    assert event.payload == {
        "event": "new-finding",
        "image": {"digest": DIGEST_A, "repository": "registry.example/app", "tags": ["1.0"],
                  "owners": ["team-web@example.org"],
                  "deployments": [{"cluster": "prod", "namespace": "web",
                                   "workload": "deploy/app", "container": "app"}]},
        "finding": finding("CVE-2024-3094", XZ, severity="critical").data,
        "occurredAt": "2025-03-01T12:00:00Z",
    }
    assert len(event.uid) == 36 and event.uid != ""


def test_fixed_finding_that_comes_back_is_reopened(store: fleet.Store, clock: Clock):
    f = finding("CVE-2024-3094", XZ, severity="critical")
    store.record_scan(image(), PACKAGES, [f])
    clock.advance(days=1)
    store.record_scan(image(), PACKAGES, [])
    clock.advance(days=1)
    changes = store.record_scan(image(), PACKAGES, [f])
    assert [(c.advisory_id, c.reopened) for c in changes.new] == [("CVE-2024-3094", True)]
    detail = store.image(DIGEST_A)
    assert detail is not None
    (stored,) = detail.findings
    assert stored.state is FindingState.OPEN and stored.fixed_at is None
    assert stored.first_seen == dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert [h.change for h in stored.history] == ["new", "fixed", "reopened"]
    assert [h.at.day for h in stored.history] == [1, 2, 3]


def test_rematch_touches_only_the_rematched_packages(store: fleet.Store, clock: Clock):
    store.record_scan(image(), PACKAGES, [
        finding("CVE-2024-0001", OPENSSL), finding("CVE-2024-3094", XZ),
        finding("PYSEC-2018-28", REQUESTS)])
    clock.advance(hours=1)
    # A delta named xz-utils: its packages were re-matched; the advisory was withdrawn and
    # a new one appeared. OpenSSL and requests were not re-matched: their findings stay.
    changes = store.apply_rematch(DIGEST_A, [finding("CVE-2025-2222", LIBLZMA)],
                                  purls={XZ.purl, LIBLZMA.purl}, build="build-2")
    assert [c.advisory_id for c in changes.fixed] == ["CVE-2024-3094"]
    assert [c.advisory_id for c in changes.new] == ["CVE-2025-2222"]
    detail = store.image(DIGEST_A)
    assert detail is not None and detail.matched_build == "build-2"
    states = {f.finding.advisory_id: f.state for f in detail.findings}
    assert states == {"CVE-2024-0001": FindingState.OPEN, "CVE-2024-3094": FindingState.FIXED,
                      "PYSEC-2018-28": FindingState.OPEN, "CVE-2025-2222": FindingState.OPEN}
    fixed = next(f for f in detail.findings if f.finding.advisory_id == "CVE-2024-3094")
    assert fixed.history[-1].reason == "advisory update build-2"
    assert store.last_build() == "build-2"
    assert list(store.images_not_matched("build-2")) == []
    assert list(store.images_not_matched("build-3")) == [DIGEST_A]


def test_suppression_is_a_change_and_leaves_the_open_count(store: fleet.Store, clock: Clock):
    store.record_scan(image(), PACKAGES, [finding("CVE-2024-3094", XZ, severity="critical")])
    changes = store.record_scan(image(), PACKAGES, [
        finding("CVE-2024-3094", XZ, severity="critical", suppressed=True)])
    assert [c.changes for c in changes.changed] == [(("suppressed", False, True),)]
    (summary,) = store.images_by_repository("registry.example/app").images
    assert summary.findings == {}
    (day,) = store.trend()
    assert (day.severity, day.open, day.new, day.fixed) == ("critical", 0, 1, 0)


def test_daily_counts_carry_the_open_count_across_days(store: fleet.Store, clock: Clock):
    store.record_scan(image(), PACKAGES, [finding("A-1", OPENSSL), finding("A-2", XZ)])
    clock.advance(days=2)
    store.record_scan(image(), PACKAGES, [finding("A-1", OPENSSL)])
    counts = [(c.day.isoformat(), c.severity, c.open, c.new, c.fixed) for c in store.trend()]
    assert counts == [("2025-03-01", "high", 2, 2, 0), ("2025-03-03", "high", 1, 0, 1)]


def test_tags_over_time_and_pending_and_failed_images(store: fleet.Store, clock: Clock):
    store.record_scan(image(DIGEST_A, tags=("latest", "1.0")), PACKAGES, [])
    clock.advance(days=1)
    store.record_pending(DIGEST_B, "registry.example/app", ["latest", "1.1"])
    page = store.images_by_repository("registry.example/app")
    assert [(s.digest, s.tags, s.status) for s in page.images] == [
        (DIGEST_A, ("1.0",), ImageStatus.SCANNED),
        (DIGEST_B, ("1.1", "latest"), ImageStatus.PENDING)]
    store.record_failure(DIGEST_B, "registry.example/app", "registry said 500")
    store.record_failure(DIGEST_A, "registry.example/app", "rescan failed")
    detail_a, detail_b = store.image(DIGEST_A), store.image(DIGEST_B)
    assert detail_a is not None and detail_b is not None
    assert detail_b.status is ImageStatus.FAILED and detail_b.error == "registry said 500"
    assert detail_a.status is ImageStatus.SCANNED and detail_a.error == "rescan failed"
    latest = {(g.tag, g.current, g.last_seen.day) for g in detail_a.tags}
    assert latest == {("latest", False, 2), ("1.0", True, 1)}


def test_images_by_repository_pages_and_counts(store: fleet.Store):
    digests = sorted("sha256:" + f"{i:x}" * 64 for i in range(1, 6))
    for d in digests:
        store.record_scan(image(d, tags=()), PACKAGES, [
            finding("C-1", XZ, severity="critical"), finding("H-1", OPENSSL),
            finding("H-2", REQUESTS)])
    first = store.images_by_repository("registry.example/app", limit=2)
    assert [s.digest for s in first.images] == digests[:2] and first.next == digests[1]
    rest = store.images_by_repository("registry.example/app", limit=10, after=first.next)
    assert [s.digest for s in rest.images] == digests[2:] and rest.next is None
    assert rest.images[0].findings == {"critical": 1, "high": 2}
    assert store.images_by_repository("registry.example/other").images == ()


def test_rescan_replaces_packages_layers_and_sbom(store: fleet.Store):
    store.record_scan(image(), PACKAGES, [])
    store.record_scan(image(sbom=b"second"), (OPENSSL,), [])
    with store.read() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.packages)).scalar()
        layers = conn.execute(sa.select(sa.func.count()).select_from(schema.layers)).scalar()
    assert (n, layers) == (1, 1)
    assert store.sbom(DIGEST_A) == ("zstd", b"second")


def test_two_scans_moving_the_same_tags_at_once_both_land(store_url: str):
    """Two workers record two digests that both claim `latest` and `stable`, many times,
    concurrently: no deadlock, no error, and each tag ends current at exactly one digest."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    with fleet.open(store_url) as store:

        def scan(digest: str) -> None:
            barrier.wait()
            try:
                for _ in range(30):
                    store.record_scan(image(digest, tags=("stable", "latest")), [OPENSSL], [])
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=scan, args=(d,)) for d in (DIGEST_A, DIGEST_B)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        current = [(s.digest, s.tags) for s in
                   store.images_by_repository("registry.example/app").images if s.tags]
        assert len(current) == 1 and current[0][1] == ("latest", "stable")


def test_nul_in_hostile_strings_is_stored_the_same_on_both_backends(store: fleet.Store):
    evil = PackageRow(purl="pkg:deb/debian/evil@1.0\x00x", type="deb", ecosystem="Debian:12",
                      name="evil\x00", version="1.0\x00x", source_name="evil")
    store.record_scan(image(labels={"a\x00": "b\x00"}), [evil],
                      [finding("CVE-2025-0\x00", evil)])
    (hit,) = store.images_with_package("pkg:deb/debian/evil")
    assert [(p.name, p.version) for p in hit.packages] == [("evil\ufffd", "1.0\ufffdx")]
    detail = store.image(DIGEST_A)
    assert detail is not None and detail.labels == {"a\x00": "b\x00"}  # JSON keeps it
    assert [f.finding.advisory_id for f in detail.findings] == ["CVE-2025-0\ufffd"]
