"""The layer cache in the fleet database: what ``hullcheck.layercache.LayerCache`` keeps in a
directory, kept in the ``layer_cache`` table, so the service's workers on several machines
share it (PostgreSQL mode; in SQLite mode the service keeps a directory in its data dir).

    cache = LayerTable(store, max_bytes=2 << 30)     # a layercache.Store
    with pipeline.layer_cache(cache): ...

A row is an entry exactly as the directory cache writes one (magic, header, data), keyed by
the layer's blob digest and the entry's variant (the SHA-256 of the rest of its key), and
checked on the way out by the same ``layercache.verified``: a damaged row is deleted and the
layer read again, never trusted. Reading an entry marks it used (at most once a minute, so
warm scans do not rewrite rows); once the table holds more than ``max_bytes``, the least
recently used rows go. A cache that cannot be read or written is a miss, never a failed scan.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa

from hullcheck import __version__, layercache
from hullcheck.errors import DatabaseError
from hullcheck.fleet import db
from hullcheck.fleet import schema as t
from hullcheck.fleet.sql import upsert
from hullcheck.fleet.store import Store

TOUCH_EVERY = dt.timedelta(minutes=1)  # last_used is rewritten at most this often
_c = t.layer_cache.c


def split_key(key: str) -> tuple[str, str]:
    """(blob digest, variant) of a cache key (``filetree.Analysis.keys``: the digest first)."""
    digest, _, rest = key.partition(" ")
    return digest, hashlib.sha256(rest.encode("utf-8", "surrogateescape")).hexdigest()


class LayerTable:
    """The ``layer_cache`` table of a fleet store (``layercache.Store``)."""

    def __init__(self, store: Store, *, max_bytes: int = layercache.DEFAULT_MAX_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.hits = self.misses = self.rejected = 0

    def get(self, key: str) -> bytes | None:
        digest, variant = split_key(key)
        where = (_c.digest == digest) & (_c.variant == variant)
        try:
            with self.store.read() as conn:
                row = conn.execute(sa.select(_c.payload, _c.last_used).where(where)).first()
            if row is None:
                self.misses += 1
                return None
            data = layercache.verified(bytes(row.payload), key)
            now = self.store.clock()
            if data is None:
                self.rejected += 1
                with self.store.write() as conn:  # read again from the image, and rewritten
                    conn.execute(sa.delete(t.layer_cache).where(where))
                return None
            if now - row.last_used >= TOUCH_EVERY:
                with self.store.write() as conn:  # recently used
                    conn.execute(sa.update(t.layer_cache).where(where).values(last_used=now))
        except (DatabaseError, sa.exc.SQLAlchemyError):
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, key: str, data: bytes, label: str = "") -> None:
        """Keep ``data`` under ``key``; a database that refuses is no error (the scan has its
        answer: only the next one is slower)."""
        digest, variant = split_key(key)
        payload = layercache.head(key, data, label) + data
        values = {"version": __version__, "label": label, "payload": payload,
                  "size": len(payload), "last_used": self.store.clock()}
        try:
            with self.store.write() as conn:
                insert = upsert(conn, t.layer_cache).values(digest=digest, variant=variant,
                                                             **values)
                conn.execute(insert.on_conflict_do_update(index_elements=["digest", "variant"],
                                                          set_=values))
            del payload, values
            self._evict()
        except (DatabaseError, sa.exc.SQLAlchemyError):
            return

    def _evict(self) -> None:
        """Delete the least recently used rows until the table is within its size (to 90%,
        room for a few more before the next sweep)."""
        with self.store.write() as conn:
            total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(_c.size), 0))).scalar()
            if int(total or 0) <= self.max_bytes:
                return
            total = int(total or 0)
            victims = []
            for digest, variant, size in conn.execute(
                    sa.select(_c.digest, _c.variant, _c.size).order_by(_c.last_used)):
                victims.append((digest, variant))
                total -= size
                if total <= self.max_bytes * 0.9:
                    break
            for digest, variant in victims:
                conn.execute(sa.delete(t.layer_cache).where(
                    (_c.digest == digest) & (_c.variant == variant)))

    def status(self) -> layercache.CacheStatus:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(_c.version, sa.func.count(), sa.func.sum(_c.size))
                                .group_by(_c.version)).all()
        return layercache.CacheStatus(
            directory=None, location=f"table layer_cache of {db.describe(self.store.engine)}",
            entries=sum(int(n) for _, n, _ in rows), bytes=sum(int(b or 0) for _, _, b in rows),
            max_bytes=self.max_bytes, versions=tuple(sorted((v, int(n)) for v, n, _ in rows)))

    def clean(self) -> int:
        with self.store.write() as conn:
            return int(conn.execute(sa.delete(t.layer_cache)).rowcount)
