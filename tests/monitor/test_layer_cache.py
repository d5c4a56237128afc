"""The service's layer cache: a layer is analysed once, whichever worker scans it. SQLite
mode keeps the cache in the data dir; PostgreSQL mode keeps it in the fleet database, so two
services on one database (two machines: nothing shared on disk) share it. Layers read are
counted (the blobs opened), never timed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hullcheck.fleet import schema as t
from hullcheck.image.writer import BuiltImage, ImageBuilder
from hullcheck.layercache import LayerCache
from hullcheck.monitor.service import Service
from tests.fixtures.registry import RunningRegistry
from tests.monitor.support import (
    SITE,
    config,
    drain,
    metadata,
    osv_record,
    push_image,
    write_sources,
)

SUFFIX = uuid.uuid4().hex[:8]
BASE = {"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n"}
PIP = {f"{SITE}/requests-2.19.0.dist-info/METADATA": metadata("requests", "2.19.0")}




def _image(*top: dict[str, str]) -> BuiltImage:
    """The shared base and pip layers, then ``top``'s layers of its own."""
    b = ImageBuilder().add_layer(BASE, created_by="base").add_layer(PIP, created_by="pip")
    for i, files in enumerate(top):
        b.add_layer(files, created_by=f"app {i}")
    return b.build()


def _app(n: int) -> dict[str, str]:
    return {f"srv/app{n}.py": f"print({n})\n",
            f"{SITE}/flask-2.0.{n}.dist-info/METADATA": metadata("flask", f"2.0.{n}")}


def _service(tmp_path: Path, registry: RunningRegistry, data: str,
             database_url: str | None) -> Service:
    cfg = config(f'registries: [{{host: "{registry.host}"}}]\n'
                 "advisories: {sources: sources.yaml}\n", base=tmp_path)
    return Service.open(data_dir=tmp_path / data, database_url=database_url, config=cfg)


def _scan(svc: Service, registry: RunningRegistry, name: str, image: BuiltImage) -> str:
    digest = push_image(registry.host, f"cache/{name}-{SUFFIX}:1", image)
    job = svc.submit_scan(f"{registry.host}/cache/{name}-{SUFFIX}:1", requested_by="ci")
    drain(svc)
    info = svc.job(job)
    assert info is not None and info.status == "done", info
    return digest


def test_two_services_on_one_postgresql_share_the_layer_cache(
        tmp_path: Path, registry: RunningRegistry, postgres_url: str,
        opened: list[str]) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])  # requests < 2.20.0
    first, second, third = _image(_app(1)), _image(_app(2)), _image(_app(3))
    base_digests = [la.digest for la in first.layers[:2]]
    assert base_digests == [la.digest for la in second.layers[:2]]  # the same blobs
    with _service(tmp_path, registry, "machine-a", postgres_url) as a, \
            _service(tmp_path, registry, "machine-b", postgres_url) as b:
        for svc in (a, b):  # each machine's own advisory database
            svc.update_advisories(requested_by="admin")
            drain(svc)
        d1 = _scan(a, registry, "one", first)
        assert sorted(opened) == sorted(la.digest for la in first.layers)  # cold: all three
        opened.clear()

        d2 = _scan(b, registry, "two", second)
        assert opened == [second.layers[2].digest]  # only its own layer
        # The cached layers' packages and findings, as a cold scan finds them.
        for svc, digest in ((a, d1), (b, d2)):
            stored = svc.image(digest)
            assert stored is not None
            assert [f.finding.advisory_id for f in stored.findings] == ["CVE-2018-18074"]
        assert {h.digest for h in b.search_purl("pkg:pypi/requests@2.19.0")} == {d1, d2}
        assert {h.digest for h in b.search_purl("pkg:pypi/flask@2.0.2")} == {d2}

        # A damaged row is not trusted: the layer is read again and its row rewritten.
        with a.store.write() as conn:
            conn.execute(sa.update(t.layer_cache).values(
                payload=sa.func.substr(t.layer_cache.c.payload, 1, 40)))
        opened.clear()
        d3 = _scan(a, registry, "three", third)
        assert sorted(opened) == sorted(la.digest for la in third.layers)
        assert {h.digest for h in a.search_purl("pkg:pypi/requests@2.19.0")} == {d1, d2, d3}
        opened.clear()
        _scan(b, registry, "four", _image(_app(4)))
        assert len(opened) == 1  # the rewritten rows serve the other machine again
    # Nothing on either machine's disk: the entries are in the database.
    assert not (tmp_path / "machine-a" / "layers").exists()
    assert not (tmp_path / "machine-b" / "layers").exists()


def test_sqlite_mode_keeps_the_cache_in_the_data_dir(
        tmp_path: Path, registry: RunningRegistry, opened: list[str]) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    first, second = _image(_app(1)), _image(_app(2))
    with _service(tmp_path, registry, "data", None) as svc:
        svc.update_advisories(requested_by="admin")
        drain(svc)
        _scan(svc, registry, "one-sqlite", first)
        assert len(opened) == 3
        opened.clear()
        d2 = _scan(svc, registry, "two-sqlite", second)
        assert opened == [second.layers[2].digest]
        stored = svc.image(d2)
        assert stored is not None
        assert [f.finding.advisory_id for f in stored.findings] == ["CVE-2018-18074"]
    entries = list((tmp_path / "data" / "layers").glob("*.layer"))
    assert len(entries) >= 4 * 3  # four layers: entries, binaries, record digests at least


def test_the_service_reads_and_checks_a_base_layers_entries_once(
        tmp_path: Path, registry: RunningRegistry, opened: list[str]) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    with _service(tmp_path, registry, "data", None) as svc:
        svc.update_advisories(requested_by="admin")
        drain(svc)
        cache = svc.ctx.layers
        assert isinstance(cache, LayerCache)
        _scan(svc, registry, "one-mem", _image(_app(1)))
        d2 = _scan(svc, registry, "two-mem", _image(_app(2)))
        read = cache.reads
        opened.clear()
        d3 = _scan(svc, registry, "three-mem", _image(_app(3)))
        assert len(opened) == 1  # only the new layer read
        assert cache.reads == read  # the entries it has read or written, from memory
        for digest in (d2, d3):
            stored = svc.image(digest)
            assert stored is not None
            assert [f.finding.advisory_id for f in stored.findings] == ["CVE-2018-18074"]


@pytest.mark.parametrize(("size", "expected"), [
    ("2GiB", 2 << 30), ("500MB", 500 * 10**6), ("64 MiB", 64 << 20), ("1073741824", 1 << 30),
    (None, 2 << 30)])
def test_the_config_bounds_the_cache(tmp_path: Path, registry: RunningRegistry,
                                     size: str | None, expected: int) -> None:
    text = f"registries: [{{host: \"{registry.host}\"}}]\n"
    if size is not None:
        text += f"layer-cache: {{max-size: {size}}}\n"
    with Service.open(data_dir=tmp_path / "data", database_url=None,
                      config=config(text, base=tmp_path)) as svc:
        assert svc.ctx.layers.status().max_bytes == expected
