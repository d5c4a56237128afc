"""The events outbox and its deliveries: claim with a lease, mark delivered, failed (retried
later) or dead; list and retry dead letters.

A delivery is one event to one channel (``UNIQUE(event, channel)``). Workers claim due
deliveries under a lease: PostgreSQL locks the rows it picks with ``FOR UPDATE SKIP
LOCKED`` (two workers never pick the same row, and neither waits for the other); SQLite
runs the claim as one ``UPDATE ... RETURNING`` inside a ``BEGIN IMMEDIATE`` transaction,
which holds the only write lock. A worker killed mid-delivery leaves its lease to expire;
the delivery is then claimed again. Each claim counts as an attempt.

A delivery is marked delivered only after the channel accepted it, and only by the worker
holding its lease. Between "sent" and "marked" a crash means one more send: delivery is
at least once, and channels send ``Delivery.idempotency_key`` so receivers can drop the
repeat (docs/fleet.md).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hullcheck.fleet import schema as t
from hullcheck.fleet.model import Delivery, DeliveryStatus, Event
from hullcheck.fleet.sql import chunks

d = t.deliveries.c


def _expired(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.or_(d.locked_until.is_(None), d.locked_until < now)


def claim(conn: Connection, worker: str, *, now: dt.datetime, lease: dt.timedelta,
          limit: int = 10, max_attempts: int = 10) -> list[Delivery]:
    """Up to ``limit`` due deliveries, leased to ``worker`` until ``now + lease``. A delivery
    whose lease expired ``max_attempts`` times (its worker keeps dying) is dead instead."""
    conn.execute(
        t.deliveries.update()
        .where(d.status == DeliveryStatus.PENDING, d.attempts >= max_attempts,
               d.locked_until.is_not(None), d.locked_until < now)
        .values(status=DeliveryStatus.DEAD, locked_until=None,
                last_error=sa.func.coalesce(sa.func.nullif(d.last_error, ""),
                                            "the lease expired on every attempt"))
    )
    due = (sa.select(d.id)
           .where(d.status == DeliveryStatus.PENDING, d.next_attempt_at <= now, _expired(now))
           .order_by(d.next_attempt_at, d.id).limit(limit)
           .with_for_update(skip_locked=True))  # SQLite: renders nothing; the write lock serialises
    claimed = conn.execute(
        t.deliveries.update().where(d.id.in_(due.scalar_subquery()))
        .values(locked_by=worker, locked_until=now + lease, attempts=d.attempts + 1)
        .returning(*t.deliveries.c)
    ).mappings().all()
    events = _events(conn, {r["event_id"] for r in claimed})
    return sorted((_delivery(r, events[r["event_id"]]) for r in claimed),
                  key=lambda x: (x.next_attempt_at, x.id))


def _events(conn: Connection, ids: set[int]) -> dict[int, Event]:
    e = t.events.c
    out: dict[int, Event] = {}
    for batch in chunks(sorted(ids)):
        for r in conn.execute(sa.select(t.events).where(e.id.in_(batch))).mappings():
            out[r["id"]] = Event(id=r["id"], uid=r["uid"], type=r["type"],
                                 image_digest=r["image_digest"], payload=r["payload"],
                                 created_at=r["created_at"])
    return out


def _delivery(r: RowMapping, event: Event) -> Delivery:
    return Delivery(id=r["id"], event=event, channel=r["channel"],
                    status=DeliveryStatus(r["status"]), attempts=r["attempts"],
                    next_attempt_at=r["next_attempt_at"], last_error=r["last_error"],
                    delivered_at=r["delivered_at"])


def _held(delivery_id: int, worker: str) -> sa.ColumnElement[bool]:
    return sa.and_(d.id == delivery_id, d.locked_by == worker,
                   d.status == DeliveryStatus.PENDING)


def mark_delivered(conn: Connection, delivery_id: int, worker: str, *,
                   now: dt.datetime) -> bool:
    """The channel accepted it. False when ``worker`` no longer holds the lease (another
    worker claimed it after the lease expired: it will send it too, with the same key)."""
    done = conn.execute(t.deliveries.update().where(_held(delivery_id, worker))
                        .values(status=DeliveryStatus.DELIVERED, delivered_at=now,
                                locked_until=None, last_error=""))
    return done.rowcount == 1


def mark_failed(conn: Connection, delivery_id: int, worker: str, *, error: str,
                retry_at: dt.datetime | None) -> bool:
    """The channel refused or did not answer: retried at ``retry_at`` (the caller's backoff),
    or dead when None. False when ``worker`` no longer holds the lease."""
    values: dict[str, object] = {"last_error": error[:2000], "locked_until": None}
    if retry_at is None:
        values["status"] = DeliveryStatus.DEAD
    else:
        values["next_attempt_at"] = retry_at
    done = conn.execute(t.deliveries.update().where(_held(delivery_id, worker)).values(values))
    return done.rowcount == 1


def listed(conn: Connection, *, status: DeliveryStatus, limit: int = 100,
           event_id: int | None = None) -> list[Delivery]:
    """Deliveries in ``status`` (dead letters: ``DEAD``), newest first."""
    query = sa.select(t.deliveries).where(d.status == status)
    if event_id is not None:
        query = query.where(d.event_id == event_id)
    rows = conn.execute(query.order_by(d.id.desc()).limit(limit)).mappings().all()
    events = _events(conn, {r["event_id"] for r in rows})
    return [_delivery(r, events[r["event_id"]]) for r in rows]


def retry(conn: Connection, delivery_id: int, *, now: dt.datetime) -> bool:
    """A dead letter back to pending, due now, its attempts counted afresh."""
    done = conn.execute(
        t.deliveries.update().where(d.id == delivery_id, d.status == DeliveryStatus.DEAD)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, attempts=0, locked_by="",
                locked_until=None))
    return done.rowcount == 1


def events_since(conn: Connection, after_id: int, *, limit: int = 1000) -> list[Event]:
    """Events with an id above ``after_id``, oldest first (a feed for pages and digests)."""
    e = t.events.c
    rows = conn.execute(sa.select(t.events.c.id).where(e.id > after_id).order_by(e.id)
                        .limit(limit)).scalars().all()
    events = _events(conn, set(rows))
    return [events[i] for i in rows]


def next_due(conn: Connection) -> dt.datetime | None:
    """When the next pending delivery can be claimed (its retry time, or the end of the
    lease a dead worker left on it); None when nothing is pending."""
    due = sa.case((sa.and_(d.locked_until.is_not(None), d.locked_until > d.next_attempt_at),
                   d.locked_until), else_=d.next_attempt_at)
    first = sa.type_coerce(sa.func.min(due), d.next_attempt_at.type)
    return conn.execute(sa.select(first).where(d.status == DeliveryStatus.PENDING)).scalar()
