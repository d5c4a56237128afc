"""Delta re-matching equals a full re-match, through the service on both backends: an
inventory of several images (Debian and Alpine packages with source packages, PyPI
packages) stored under advisory state A; an update to state B re-matches only what the
delta names; a full re-match of every image afterwards then changes nothing, and every
stored finding (id, package, state, severity, KEV, fixes, status, marks, the scan -o json
object) equals what the full re-match computes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hullcheck import sbom
from hullcheck.model import ImageSource
from hullcheck.monitor import advisories
from hullcheck.monitor.service import Service
from hullcheck.vulndb.delta import Scope
from tests.monitor.support import config, drain
from tests.vulndb.test_delta import (
    ABSENT,
    ALPINE_POOL,
    AS_PUBLISHED,
    EDITED,
    INVENTORIES,
    KEV,
    KEV_POOL,
    OSV_POOL,
    POOL_SIZE,
    TRACKER,
    TRACKER_POOL,
    WITHDRAWN,
    alpine_doc,
    load,
    osv,
    osv_edited,
    tracker_edited,
)


def write_state(root: Path, states: list[int]) -> None:
    """The advisory files of one pool state and a sources file naming them (as the
    property test of tests/vulndb/test_delta.py lays them out, for ``db update``)."""
    it = iter(states)
    (root / "pypa").mkdir(parents=True, exist_ok=True)
    for old in (root / "pypa").iterdir():
        old.unlink()
    for rid in OSV_POOL:
        state = next(it)
        if state == ABSENT:
            continue
        record = osv(rid)
        record = osv_edited(record) if state == EDITED else \
            {**record, "withdrawn": "2026-01-02T00:00:00Z"} if state == WITHDRAWN else record
        (root / "pypa" / f"{rid}.json").write_text(json.dumps(record))
    full_tracker = load(TRACKER)
    tracker: dict[str, Any] = {}
    for package, cve in TRACKER_POOL:
        state = next(it)
        if state != ABSENT:
            entry = full_tracker[package][cve]
            tracker.setdefault(package, {})[cve] = entry if state == AS_PUBLISHED \
                else tracker_edited(entry)
    secdb = alpine_doc()
    kept = []
    for p in secdb["packages"]:
        if p["pkg"]["name"] not in ALPINE_POOL:
            continue
        state = next(it)
        if state == AS_PUBLISHED:
            kept.append(p)
        elif state != ABSENT:
            fixes = p["pkg"]["secfixes"]
            kept.append({"pkg": {**p["pkg"], "secfixes": dict(list(fixes.items())[:-1]) or fixes}})
    secdb["packages"] = kept
    kev = load(KEV)
    listed = {cve for cve in KEV_POOL if next(it) != ABSENT}
    kev["vulnerabilities"] = [v for v in kev["vulnerabilities"] if v["cveID"] in listed]
    (root / "tracker.json").write_text(json.dumps(tracker))
    (root / "secdb.json").write_text(json.dumps(secdb))
    (root / "kev.json").write_text(json.dumps(kev))
    (root / "sources.yaml").write_text(yaml.safe_dump([
        {"name": "osv-pypa", "kind": "osv", "url": str(root / "pypa")},
        {"name": "debian", "kind": "debian", "url": str(root / "tracker.json")},
        {"name": "alpine", "kind": "alpine", "url": str(root / "secdb.json")},
        {"name": "kev", "kind": "kev", "url": str(root / "kev.json")}]))


def images() -> list[tuple[str, bytes]]:
    """Six images: each inventory of the delta property test, three times, with the Python
    packages of some at other versions."""
    out = []
    for i in range(6):
        inv = INVENTORIES[i % 2]
        if i >= 2:
            pkgs = tuple(dataclasses.replace(p, version=f"{p.version}.{i}",
                                             purl=p.purl.replace(f"@{p.version}",
                                                                 f"@{p.version}.{i}"))
                         if p.type.value == "python" and i % 3 == 0 else p for p in inv.packages)
            inv = dataclasses.replace(inv, packages=pkgs)
        digest = "sha256:" + f"{i:02d}" * 32
        inv = dataclasses.replace(inv, source=ImageSource(
            kind="registry", name=f"registry.example/app{i}:1", manifest_digest=digest))
        out.append((f"registry.example/app{i}:1", sbom.encode(inv, "json")))
    return out


def snapshot(svc: Service, digests: list[str]) -> dict[str, list[Any]]:
    out = {}
    for d in digests:
        image = svc.image(d)
        assert image is not None
        out[d] = sorted((f.finding.advisory_id, f.finding.package_purl, f.state.value,
                         f.finding.severity, f.finding.kev, f.finding.fixed_versions,
                         f.finding.status, f.finding.suppressed,
                         json.dumps(f.finding.data, sort_keys=True)) for f in image.findings)
    return out


def events(svc: Service) -> int:
    return len(svc.store.events_since(0, limit=100_000))


KEV_LAST = POOL_SIZE - len(KEV_POOL)
SCENARIOS = {
    "all-edited": ([AS_PUBLISHED] * POOL_SIZE, [EDITED] * POOL_SIZE),
    "withdrawn-and-kev": ([AS_PUBLISHED] * KEV_LAST + [ABSENT] * len(KEV_POOL),
                          [WITHDRAWN, AS_PUBLISHED, ABSENT] * (KEV_LAST // 3)
                          + [AS_PUBLISHED] * (KEV_LAST % 3) + [AS_PUBLISHED] * len(KEV_POOL)),
    "kev-only": ([AS_PUBLISHED] * KEV_LAST + [ABSENT] * len(KEV_POOL),
                 [AS_PUBLISHED] * POOL_SIZE),
    "one-record": ([AS_PUBLISHED] * POOL_SIZE,
                   [EDITED if i == OSV_POOL.index("PYSEC-2023-74") else AS_PUBLISHED
                    for i in range(POOL_SIZE)]),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_delta_rematch_equals_full_rematch(tmp_path: Path, database_url: str | None,
                                           scenario: str) -> None:
    before, after = SCENARIOS[scenario]
    root = tmp_path / "advisories"
    write_state(root, before)
    cfg = config("advisories: {sources: advisories/sources.yaml}\n", base=tmp_path)
    with Service.open(data_dir=tmp_path / "data", database_url=database_url, config=cfg) as svc:
        svc.update_advisories(requested_by="test")
        drain(svc)
        digests = [svc.ingest_push(doc, name=name, requested_by="ci") for name, doc in images()]
        first = snapshot(svc, digests)
        old_build = svc.ctx.build_id()

        write_state(root, after)
        svc.update_advisories(requested_by="test")
        drain(svc)
        delta = snapshot(svc, digests)
        new_build = svc.ctx.build_id()
        assert new_build != old_build
        assert delta != first  # the update changed findings: the comparison below has teeth
        for d in digests:
            assert svc.image(d).matched_build == new_build  # type: ignore[union-attr]

        written = events(svc)
        advisories.plan(svc.ctx, "", new_build, Scope(full=True))  # every image, every package
        drain(svc)
        assert events(svc) == written  # the full re-match found nothing the delta missed
        assert snapshot(svc, digests) == delta


def test_a_delta_rematches_only_what_it_names(tmp_path: Path) -> None:
    """The rematch jobs of a one-record update list only the packages that record names."""
    before, after = SCENARIOS["one-record"]
    root = tmp_path / "advisories"
    write_state(root, before)
    cfg = config("advisories: {sources: advisories/sources.yaml}\n", base=tmp_path)
    with Service.open(data_dir=tmp_path / "data", config=cfg) as svc:
        svc.update_advisories(requested_by="test")
        drain(svc)
        for name, doc in images():
            svc.ingest_push(doc, name=name, requested_by="ci")
        write_state(root, after)
        job = svc.update_advisories(requested_by="test")
        svc.run_pending(limit=1)
        assert svc.job(job).status == "done"  # type: ignore[union-attr]
        queued = svc.job(job + 1)
        assert queued is not None and queued.kind == "rematch"
        # The job carries the record's name and a range of digests, not the images' purls.
        assert queued.args["names"] == [["requests", "PyPI"]]
        with svc.store.read() as conn:
            holding = sorted(conn.execute(sa.text(
                "SELECT DISTINCT image_digest FROM packages WHERE name = 'requests'")).scalars())
        assert holding and queued.args["range"] == [holding[0], holding[-1]]
        assert "images" not in queued.args


def _pypa_state(root: Path, ids: list[str]) -> None:
    (root / "pypa").mkdir(parents=True, exist_ok=True)
    for old in (root / "pypa").iterdir():
        old.unlink()
    for rid in ids:
        (root / "pypa" / f"{rid}.json").write_text(json.dumps(osv(rid)))
    (root / "sources.yaml").write_text(yaml.safe_dump(
        [{"name": "osv-pypa", "kind": "osv", "url": str(root / "pypa")}]))


@pytest.mark.parametrize("added", [True, False], ids=["rating-added", "rating-removed"])
def test_a_rating_from_another_packages_advisory_reaches_the_stored_finding(
        tmp_path: Path, database_url: str | None, added: bool) -> None:
    """trytond's CVE-2016-1242 (PYSEC-2016-13) is rated by PYSEC-2016-41, which names only
    tryton: the update that adds or removes that record re-rates the stored finding, as a
    full re-match does (the fleet bench's one difference: issue 14)."""
    inv = INVENTORIES[0]
    trytond = dataclasses.replace(inv.packages[-1], name="trytond", version="3.2.0",
                                  purl="pkg:pypi/trytond@3.2.0")
    inv = dataclasses.replace(inv, packages=(trytond,), source=ImageSource(
        kind="registry", name="registry.example/tryton:1", manifest_digest="sha256:" + "7" * 64))
    states = [["PYSEC-2016-13"], ["PYSEC-2016-13", "PYSEC-2016-41"]]
    before, after = states if added else states[::-1]
    root = tmp_path / "advisories"
    _pypa_state(root, before)
    cfg = config("advisories: {sources: advisories/sources.yaml}\n", base=tmp_path)
    with Service.open(data_dir=tmp_path / "data", database_url=database_url, config=cfg) as svc:
        svc.update_advisories(requested_by="test")
        drain(svc)
        digest = svc.ingest_push(sbom.encode(inv, "json"), name="registry.example/tryton:1",
                                 requested_by="ci")
        first = snapshot(svc, [digest])
        _pypa_state(root, after)
        svc.update_advisories(requested_by="test")
        drain(svc)
        delta = snapshot(svc, [digest])
        assert [f[3] for f in first[digest]] != [f[3] for f in delta[digest]]  # re-rated
        advisories.plan(svc.ctx, "", svc.ctx.build_id(), Scope(full=True))
        drain(svc)
        assert snapshot(svc, [digest]) == delta
