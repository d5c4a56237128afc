"""Bulk loading and set-based re-matching: what ``bulk_load`` stores reads back exactly as a
first ``record_scan`` of the same image (without its events), on both backends; re-matching
many images at once costs a fixed number of statements, not some per image."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from hullcheck import fleet
from hullcheck.errors import DatabaseError
from hullcheck.fleet import scans, schema
from hullcheck.fleet.bulk import Loaded
from tests.fleet.conftest import DIGEST_A, DIGEST_B, Clock, consistent, deb, finding, image, pypi

XZ = deb("liblzma5", "5.4.1-0.2", source="xz-utils")
REQUESTS = pypi("requests", "2.19.0")
FINDINGS = (finding("CVE-2024-3094", XZ, severity="critical", aliases=("GHSA-rxwq-x6h5-x525",),
                    kev=True, fixed=("5.6.1-1",)),
            finding("PYSEC-2018-28", REQUESTS, severity="medium", aliases=("CVE-2018-18074",),
                    suppressed=True))


def _comparable(detail: fleet.model.ImageDetail | None) -> dict[str, object]:
    assert detail is not None
    out = dataclasses.asdict(detail)
    out.pop("digest")
    out["tags"] = [tag["tag"] for tag in out["tags"]]
    for f in out["findings"]:
        f.pop("id", None)
        for h in f.get("history", ()):
            h.pop("reason", None)
            h.pop("details", None)
    return out


def test_bulk_load_stores_what_a_first_scan_stores(store: fleet.Store, clock: Clock):
    store.record_scan(image(DIGEST_A), [XZ, REQUESTS], FINDINGS, build="b1")
    loaded = store.bulk_load([Loaded(image(DIGEST_B, tags=("2.0",)), [XZ, REQUESTS], FINDINGS)],
                             build="b1")

    assert loaded == 1
    assert _comparable(store.image(DIGEST_B)) == _comparable(store.image(DIGEST_A)) | {
        "tags": ["2.0"]}
    assert store.sbom(DIGEST_B) == store.sbom(DIGEST_A)
    # Found by package, by any alias (finding_names), and listed as matched against b1.
    assert {h.digest for h in store.images_with_package(XZ.purl)} == {DIGEST_A, DIGEST_B}
    assert {h.digest for h in store.images_with_advisory("ghsa-rxwq-x6h5-x525")} == \
        {DIGEST_A, DIGEST_B}
    assert list(store.images_not_matched("b1")) == []
    # Today's trend counts both images' findings (the suppressed one is not open).
    today = {c.severity: (c.open, c.new) for c in store.trend(days=1)}
    assert today == {"critical": (2, 2), "medium": (0, 2)}
    # An import is not news: only the scan raised events.
    assert {e.image_digest for e in store.events_since(0)} == {DIGEST_A}
    assert consistent(store)[DIGEST_B] == consistent(store)[DIGEST_A] | {
        "image_digest": DIGEST_B}  # the fleet page's summary row, as a scan writes it


def test_bulk_load_refuses_an_image_already_stored(store: fleet.Store):
    store.record_scan(image(DIGEST_A), [XZ], FINDINGS[:1])
    with pytest.raises(DatabaseError, match=r"^bulk load: images: .*(UNIQUE|duplicate key)"):
        store.bulk_load([Loaded(image(DIGEST_A), [XZ], FINDINGS[:1])])
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.packages)
                            ).scalar_one() == 1


def _statements(store: fleet.Store, run: object) -> int:
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    sa.event.listen(store.engine, "before_cursor_execute", counted)
    try:
        run()  # type: ignore[operator]
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", counted)
    return count


@pytest.mark.parametrize("images", [1, 60])
def test_rematching_many_images_costs_the_same_statements_as_one(store: fleet.Store,
                                                                  clock: Clock, images: int):
    """60 images whose re-match changes nothing: as many statements as for one image."""
    digests = [f"sha256:{i:064x}" for i in range(images)]
    store.bulk_load([Loaded(image(d), [XZ, REQUESTS], FINDINGS) for d in digests], build="b1")
    work = [scans.Rematched(d, list(FINDINGS), {XZ.purl}) for d in digests]

    def rematch() -> None:
        with store.write() as conn:
            changes = scans.apply_rematches(conn, work, now=clock(), route=None, build="b2")
            assert [c.digest for c in changes] == digests and not any(changes)

    assert _statements(store, rematch) <= 6
    assert list(store.images_not_matched("b2")) == []


def test_a_batch_rematch_that_fixes_findings_keeps_the_summaries(store: fleet.Store,
                                                                 clock: Clock) -> None:
    digests = [f"sha256:{i:064x}" for i in range(30)]
    store.bulk_load([Loaded(image(d), [XZ, REQUESTS], FINDINGS) for d in digests], build="b1")
    before = consistent(store)
    fixed = [f for f in FINDINGS if f.package_purl != XZ.purl]
    with store.write() as conn:
        changes = scans.apply_rematches(conn, [scans.Rematched(d, fixed, {XZ.purl})
                                               for d in digests[:10]], now=clock(), route=None)
    assert all(changes)
    after = consistent(store)
    assert [d for d in digests if after[d] != before[d]] == digests[:10]
