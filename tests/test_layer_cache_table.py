"""The layer cache in the fleet database (``fleet.layers.LayerTable``), on both backends:
entries as the directory cache writes them, verified on the way out (a damaged row is
deleted and read again, never trusted), least recently used rows out first, a new version's
entries beside the old ones; and the 0004 -> 0005 upgrade."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hullcheck import fleet, layercache
from hullcheck.fleet import db
from hullcheck.fleet import schema as t
from hullcheck.fleet.layers import LayerTable, split_key

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
DIGEST = "sha256:" + "a" * 64


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return fleet.data_dir_url(tmp_path / "data")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[fleet.Store]:
    with fleet.open(url, clock=clock) as s:
        yield s


def _key(n: int, rest: str = "entries abc 0.1.0") -> str:
    return f"sha256:{n:064x} {rest}"


def test_entries_round_trip_by_digest_and_variant(store: fleet.Store) -> None:
    cache = LayerTable(store)
    data = os.urandom(5000)
    assert cache.get(_key(1)) is None and cache.misses == 1
    cache.put(_key(1), data, "entries: 3 globs")
    cache.put(_key(1, "secrets abc def 0.1.0"), b"findings")
    assert cache.get(_key(1)) == data
    assert cache.get(_key(1, "secrets abc def 0.1.0")) == b"findings"
    assert cache.hits == 2
    with store.read() as conn:
        rows = conn.execute(sa.select(t.layer_cache.c.digest, t.layer_cache.c.variant,
                                      t.layer_cache.c.payload, t.layer_cache.c.size)).all()
    assert {r.digest for r in rows} == {f"sha256:{1:064x}"}
    assert {r.variant for r in rows} == {split_key(_key(1))[1],
                                         split_key(_key(1, "secrets abc def 0.1.0"))[1]}
    # The payload is the directory cache's entry, byte for byte.
    (row,) = [r for r in rows if r.variant == split_key(_key(1))[1]]
    assert bytes(row.payload) == layercache.head(_key(1), data, "entries: 3 globs") + data
    assert row.size == len(row.payload)
    status = cache.status()
    assert (status.entries, status.versions) == (2, (("0.1.0", 2),))
    assert cache.clean() == 2 and cache.get(_key(1)) is None


def _damage(store: fleet.Store, key: str, how: str, other: str) -> None:
    digest, variant = split_key(key)
    c = t.layer_cache.c
    where = (c.digest == digest) & (c.variant == variant)
    with store.write() as conn:
        payload = bytes(conn.execute(sa.select(c.payload).where(where)).scalar_one())
        if how == "truncate":
            payload = payload[:-100]
        elif how == "flip":
            payload = payload[:-50] + bytes([payload[-50] ^ 0x40]) + payload[-49:]
        elif how == "swap":  # another entry's (valid) row under this key
            o_digest, o_variant = split_key(other)
            payload = bytes(conn.execute(sa.select(c.payload).where(
                (c.digest == o_digest) & (c.variant == o_variant))).scalar_one())
        elif how == "magic":
            payload = b"HCLC 9\n" + payload[7:]
        conn.execute(sa.update(t.layer_cache).where(where).values(payload=payload))


@pytest.mark.parametrize("how", ["truncate", "flip", "swap", "magic"])
def test_a_damaged_row_is_deleted_not_trusted(store: fleet.Store, how: str) -> None:
    cache = LayerTable(store)
    cache.put(_key(1), os.urandom(3000))
    cache.put(_key(2), os.urandom(3000))
    _damage(store, _key(1), how, _key(2))
    assert cache.get(_key(1)) is None and cache.rejected == 1
    assert cache.status().entries == 1  # deleted: the layer is read again and rewritten
    assert cache.get(_key(2)) is not None


def test_least_recently_used_rows_go_first(store: fleet.Store, clock: Clock) -> None:
    noise = os.urandom(9000)
    cache = LayerTable(store, max_bytes=40_000)
    for i in range(4):
        clock.now = T0 + dt.timedelta(minutes=i)
        cache.put(_key(i), noise + bytes([i]))
    clock.now = T0 + dt.timedelta(minutes=10)
    assert cache.get(_key(0)) is not None  # used now: 1 is the least recent
    cache.put(_key(4), noise + b"4")
    assert cache.get(_key(1)) is None
    assert cache.get(_key(0)) is not None and cache.get(_key(4)) == noise + b"4"
    assert cache.status().bytes <= 40_000


def test_a_new_version_keeps_its_own_rows(store: fleet.Store,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import hullcheck.fleet.layers as layers

    cache = LayerTable(store)
    cache.put(_key(1, "entries abc 0.1.0"), b"old")
    monkeypatch.setattr(layers, "__version__", "99.0")
    cache.put(_key(1, "entries abc 99.0"), b"new")
    assert cache.get(_key(1, "entries abc 0.1.0")) == b"old"
    assert cache.get(_key(1, "entries abc 99.0")) == b"new"
    assert dict(cache.status().versions) == {"0.1.0": 1, "99.0": 1}


def test_a_database_that_refuses_is_a_miss(store: fleet.Store) -> None:
    cache = LayerTable(store)
    cache.put(_key(1), b"x")
    with store.write() as conn:
        conn.execute(sa.text("DROP TABLE layer_cache"))
    cache.put(_key(2), b"y")  # no error: the scan has its answer
    assert cache.get(_key(1)) is None and cache.misses == 1


def test_upgrade_from_0004_adds_the_table(url: str) -> None:
    engine = db.connect(url)
    assert db.migrate(engine, to="0004") == "0004"
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("layer_cache")
    engine.dispose()
    with fleet.open(url) as store:
        with store.read() as conn:
            assert db.current(conn) == db.head()
        cache = LayerTable(store)
        cache.put(_key(1), b"entry")
        assert cache.get(_key(1)) == b"entry"
