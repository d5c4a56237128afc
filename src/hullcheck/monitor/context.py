"""What every job needs: the store, the config, the data dir (advisory database), the layer
cache, a clock and this worker's name. One per process; jobs receive it, never globals."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hullcheck import fleet, layercache
from hullcheck.errors import DatabaseError
from hullcheck.fileio import atomic_write
from hullcheck.image import PullOptions
from hullcheck.monitor.config import Config

Clock = Callable[[], dt.datetime]
ADVISORY_DIR = "advisories"  # inside the data dir
BUILD_FILE = "vuln.db.build"  # the build id of vuln.db, written with it
LAYER_DIR = "layers"  # inside the data dir: the layer cache in SQLite mode


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True, kw_only=True)
class Context:
    store: fleet.Store
    config: Config
    data_dir: Path
    clock: Clock = utc_now
    delivery_lease: dt.timedelta = dt.timedelta(minutes=2)  # > a channel's longest attempt
    job_lease: dt.timedelta = dt.timedelta(minutes=10)  # SQLite jobs; renewed while running
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                                                f"{uuid.uuid4().hex[:8]}")
    _layers: layercache.Store | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, *, data_dir: Path, database_url: str | None, config: Config,
             clock: Clock | None = None) -> Context:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        url = database_url or fleet.data_dir_url(data_dir)
        store = fleet.open(url, clock=clock or utc_now)
        try:
            if store.dialect == "postgresql":
                from hullcheck.monitor import procrastination

                procrastination.apply_schema(store)
        except BaseException:
            store.close()
            raise
        return cls(store=store, config=config, data_dir=data_dir, clock=clock or utc_now)

    def close(self) -> None:
        self.store.close()

    @property
    def postgresql(self) -> bool:
        return self.store.dialect == "postgresql"

    @property
    def layers(self) -> layercache.Store:
        """Where scans keep each layer's analysis: ``DATA_DIR/layers`` in SQLite mode; in
        PostgreSQL mode the fleet database's ``layer_cache`` table, which every worker on
        every machine shares (an image sharing layers with one scanned anywhere reads only
        its new layers)."""
        if self._layers is None:
            if self.postgresql:
                from hullcheck.fleet.layers import LayerTable

                self._layers = LayerTable(self.store, max_bytes=self.config.layer_cache_bytes)
            else:
                self._layers = layercache.LayerCache(
                    self.data_dir / LAYER_DIR, max_bytes=self.config.layer_cache_bytes,
                    memory_bytes=layercache.SERVICE_MEMORY_BYTES)  # image after image
        return self._layers

    # -- the advisory database ----------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        return self.data_dir / ADVISORY_DIR / "vuln.db"

    def build_id(self) -> str:
        """The id of the advisory database in use (the SHA-256 of its file, 16 hex digits,
        kept beside it when it is built); DatabaseError when there is none yet."""
        marker = self.db_path.with_name(BUILD_FILE)
        try:
            return marker.read_text().strip()
        except FileNotFoundError:
            pass
        if not self.db_path.exists():
            raise DatabaseError(f"the service has no advisory database yet ({self.db_path})",
                                hint="run an advisory update (POST /api/v1/advisories/update)")
        build = file_build_id(self.db_path)
        atomic_write(marker, (build + "\n").encode())
        return build

    def pull_options(self, host: str) -> PullOptions:
        """Docker's config by host; plain HTTP for a registry the config marks insecure."""
        registry = self.config.registry(host)
        return PullOptions(insecure=registry is not None and registry.insecure)


def file_build_id(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
