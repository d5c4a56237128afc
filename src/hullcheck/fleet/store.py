"""The store's one entry point: ``Store`` runs each query in its own transaction.

    with fleet.open("sqlite:///data/fleet.db") as store:
        changes = store.record_scan(image, packages, findings, route=rules)
        hits = store.images_with_package("pkg:deb/debian/xz-utils@5.6.0-0.2")

Each method is one transaction over the functions of ``scans``, ``queries``, ``outbox``,
``jobs`` and ``access`` (which take a ``Connection``); a caller that must combine several in
one transaction uses ``store.write()`` and calls them itself. Times come from ``clock`` (UTC),
so tests move time instead of waiting for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hullcheck.fleet import access, bulk, db, jobs, outbox, queries, scans, sql
from hullcheck.fleet.model import (
    JSON,
    AuditEntry,
    Changes,
    DailyCount,
    Delivery,
    DeliveryStatus,
    Deployment,
    Event,
    FindingRow,
    ImageDetail,
    ImageHit,
    ImageRecord,
    Job,
    PackageRow,
    Page,
    Scope,
    TokenInfo,
    TriageDecision,
)
from hullcheck.fleet.queries import ImagePackages, VersionFilter
from hullcheck.fleet.scans import Router

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open(url: str, *, clock: Clock = utc_now) -> Store:
    """Open the store at ``url`` (``sqlite:///PATH`` or ``postgresql://...``), applying the
    missing migrations. One-line errors: a bad URL (``UsageError``), a database that cannot
    be reached or read, or one newer than this code (``DatabaseError``)."""
    engine = db.connect(url)
    try:
        db.migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, clock=clock)


class Store:
    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``); committed when the block ends."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise db.unreachable(self.engine, error) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction (SQLite: plain ``BEGIN``, a WAL snapshot that never waits for
        the writer; PostgreSQL: READ COMMITTED, each statement sees what was committed)."""
        try:
            with self.engine.connect().execution_options(**db.READ) as conn, conn.begin():
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise db.unreachable(self.engine, error) from None

    # -- scans ------------------------------------------------------------------------------

    def record_pending(self, digest: str, repository: str, tags: Sequence[str] = ()) -> None:
        with self.write() as conn:
            scans.record_pending(conn, digest, repository, tags, self.clock())

    def record_failure(self, digest: str, repository: str, error: str) -> None:
        with self.write() as conn:
            scans.record_failure(conn, digest, repository, error, self.clock())

    def record_scan(self, image: ImageRecord, packages: Iterable[PackageRow],
                    findings: Iterable[FindingRow], *, route: Router | None = None,
                    build: str = "") -> Changes:
        """Store a scan and its findings' changes, with their events and deliveries (the
        channels ``route`` names for each), in one transaction."""
        with self.write() as conn:
            return scans.record_scan(conn, image, packages, findings, now=self.clock(),
                                     route=route, build=build)

    def bulk_load(self, items: Iterable[bulk.Loaded], *, build: str = "",
                  batch: int = 1000) -> int:
        """Load new images in bulk (``fleet.bulk``: COPY in PostgreSQL, no events), one
        transaction per ``batch`` images; the number loaded."""
        done = 0
        for some in sql.chunks(items, batch):
            with self.write() as conn:
                done += bulk.load(conn, some, now=self.clock(), build=build)
        return done

    def apply_rematch(self, digest: str, findings: Iterable[FindingRow], *,
                      purls: Collection[str] | None = None, route: Router | None = None,
                      build: str = "") -> Changes:
        """A re-match of the packages ``purls`` (None: all) of a stored image."""
        with self.write() as conn:
            return scans.apply_rematch(conn, digest, findings, purls=purls, now=self.clock(),
                                       route=route, build=build)

    def add_event(self, kind: str, digest: str, payload: JSON, channels: Iterable[str]) -> int:
        """An event the monitor raises itself (``policy-failed``, ``base-stale``...)."""
        with self.write() as conn:
            return scans.add_event(conn, kind, digest, payload, channels=channels,
                                   now=self.clock())

    # -- reads ------------------------------------------------------------------------------

    def images_by_repository(self, repository: str, *, limit: int = 100,
                             after: str | None = None) -> Page:
        with self.read() as conn:
            return queries.images_by_repository(conn, repository, limit=limit, after=after)

    def image(self, digest: str) -> ImageDetail | None:
        with self.read() as conn:
            return queries.image(conn, digest)

    def sbom(self, digest: str) -> tuple[str, bytes] | None:
        with self.read() as conn:
            return queries.sbom(conn, digest)

    def images_with_package(self, purl: str, *, versions: VersionFilter | None = None,
                            limit: int = 1000) -> tuple[ImageHit, ...]:
        with self.read() as conn:
            return queries.images_with_package(conn, purl, versions=versions, limit=limit)

    def images_with_package_named(self, name: str, *, ecosystem: str | None = None,
                                  versions: VersionFilter | None = None,
                                  limit: int = 1000) -> tuple[ImageHit, ...]:
        with self.read() as conn:
            return queries.images_with_package_named(conn, name, ecosystem=ecosystem,
                                                     versions=versions, limit=limit)

    def images_with_advisory(self, advisory: str, *, include_fixed: bool = False,
                             limit: int = 1000) -> tuple[ImageHit, ...]:
        with self.read() as conn:
            return queries.images_with_advisory(conn, advisory, include_fixed=include_fixed,
                                                limit=limit)

    def packages_named(self, pairs: Iterable[tuple[str, str]], *,
                       batch: int = 500) -> Iterator[ImagePackages]:
        """Streamed: one read transaction stays open while the caller iterates."""
        with self.read() as conn:
            yield from queries.packages_named(conn, pairs, batch=batch)

    def images_not_matched(self, build: str) -> Iterator[str]:
        with self.read() as conn:
            yield from queries.images_not_matched(conn, build)

    def last_build(self) -> str | None:
        with self.read() as conn:
            return queries.last_build(conn)

    def trend(self, *, days: int = 30) -> tuple[DailyCount, ...]:
        with self.read() as conn:
            return queries.trend(conn, since=self.clock().date() - dt.timedelta(days=days))

    # -- deployments ------------------------------------------------------------------------

    def replace_deployments(self, cluster: str, deployments: Iterable[Deployment]) -> int:
        with self.write() as conn:
            return access.replace_deployments(conn, cluster, deployments, now=self.clock())

    def deployments_of(self, digest: str) -> tuple[Deployment, ...]:
        with self.read() as conn:
            return queries.deployments_of(conn, [digest]).get(digest, ())

    def deployments_in(self, cluster: str) -> tuple[Deployment, ...]:
        with self.read() as conn:
            return queries.deployments_in(conn, cluster)

    # -- tokens, audit, triage --------------------------------------------------------------

    def create_token(self, name: str, scope: Scope, *, actor: str) -> tuple[TokenInfo, str]:
        """A new token (shown once); audited as ``token.create`` by ``actor``."""
        with self.write() as conn:
            now = self.clock()
            info, token = access.create_token(conn, name, scope, now=now)
            access.audit(conn, actor=actor, action="token.create", target=f"token:{name}",
                         details={"scope": scope.value}, now=now)
            return info, token

    def verify_token(self, token: str) -> TokenInfo | None:
        """A read; plus a write at most once a minute per token, noting when it was used."""
        with self.read() as conn:
            info = access.verify_token(conn, token)
        now = self.clock()
        if info is not None and access.use_is_due(info, now):
            with self.write() as conn:
                access.touch_token(conn, info.id, now=now)
        return info

    def list_tokens(self) -> tuple[TokenInfo, ...]:
        with self.read() as conn:
            return access.list_tokens(conn)

    def revoke_token(self, name: str, *, actor: str, reason: str = "") -> bool:
        with self.write() as conn:
            now = self.clock()
            done = access.revoke_token(conn, name, now=now)
            if done:
                access.audit(conn, actor=actor, action="token.revoke", target=f"token:{name}",
                             reason=reason, now=now)
            return done

    def audit(self, *, actor: str, action: str, target: str, reason: str = "",
              details: JSON | None = None) -> int:
        with self.write() as conn:
            return access.audit(conn, actor=actor, action=action, target=target, reason=reason,
                                details=details, now=self.clock())

    def audit_log(self, *, target: str | None = None, before: int | None = None,
                  limit: int = 100) -> tuple[AuditEntry, ...]:
        with self.read() as conn:
            return access.audit_entries(conn, target=target, before=before, limit=limit)

    def decide(self, decision: TriageDecision, *, actor: str) -> None:
        with self.write() as conn:
            access.decide(conn, decision, actor=actor, now=self.clock())

    def decisions(self, *, digest: str | None = None,
                  repository: str | None = None) -> tuple[TriageDecision, ...]:
        with self.read() as conn:
            return access.decisions(conn, digest=digest, repository=repository)

    # -- outbox -----------------------------------------------------------------------------

    def claim_deliveries(self, worker: str, *, lease: dt.timedelta = dt.timedelta(minutes=1),
                         limit: int = 10, max_attempts: int = 10) -> list[Delivery]:
        with self.write() as conn:
            return outbox.claim(conn, worker, now=self.clock(), lease=lease, limit=limit,
                                max_attempts=max_attempts)

    def mark_delivered(self, delivery_id: int, worker: str) -> bool:
        with self.write() as conn:
            return outbox.mark_delivered(conn, delivery_id, worker, now=self.clock())

    def mark_failed(self, delivery_id: int, worker: str, *, error: str,
                    retry_at: dt.datetime | None) -> bool:
        with self.write() as conn:
            return outbox.mark_failed(conn, delivery_id, worker, error=error, retry_at=retry_at)

    def deliveries(self, status: DeliveryStatus, *, limit: int = 100,
                   event_id: int | None = None) -> list[Delivery]:
        with self.read() as conn:
            return outbox.listed(conn, status=status, limit=limit, event_id=event_id)

    def dead_letters(self, *, limit: int = 100) -> list[Delivery]:
        return self.deliveries(DeliveryStatus.DEAD, limit=limit)

    def retry_delivery(self, delivery_id: int) -> bool:
        with self.write() as conn:
            return outbox.retry(conn, delivery_id, now=self.clock())

    def next_delivery_due(self) -> dt.datetime | None:
        with self.read() as conn:
            return outbox.next_due(conn)

    def events_since(self, after_id: int = 0, *, limit: int = 1000) -> list[Event]:
        with self.read() as conn:
            return outbox.events_since(conn, after_id, limit=limit)

    # -- jobs -------------------------------------------------------------------------------

    def enqueue(self, kind: str, args: JSON, *, run_after: dt.datetime | None = None,
                max_attempts: int = 5) -> int:
        with self.write() as conn:
            return jobs.enqueue(conn, kind, args, now=self.clock(), run_after=run_after,
                                max_attempts=max_attempts)

    def claim_job(self, worker: str, *, lease: dt.timedelta = dt.timedelta(minutes=5),
                  kinds: Collection[str] | None = None) -> Job | None:
        with self.write() as conn:
            return jobs.claim(conn, worker, now=self.clock(), lease=lease, kinds=kinds)

    def renew_job(self, job_id: int, worker: str, *,
                  lease: dt.timedelta = dt.timedelta(minutes=5)) -> bool:
        with self.write() as conn:
            return jobs.renew(conn, job_id, worker, now=self.clock(), lease=lease)

    def complete_job(self, job_id: int, worker: str) -> bool:
        with self.write() as conn:
            return jobs.complete(conn, job_id, worker, now=self.clock())

    def fail_job(self, job_id: int, worker: str, *, error: str,
                 retry_at: dt.datetime | None = None) -> bool:
        with self.write() as conn:
            return jobs.fail(conn, job_id, worker, error=error, retry_at=retry_at,
                             now=self.clock())

    def job(self, job_id: int) -> Job | None:
        with self.read() as conn:
            return jobs.get(conn, job_id)
