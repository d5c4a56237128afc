"""A small durable job queue for SQLite mode (PostgreSQL mode runs procrastinate).

A job is a kind, JSON arguments and a status: ``queued`` (due at ``run_after``), ``running``
(claimed under a lease), ``done`` or ``failed``. Claiming works like the outbox's: ``FOR
UPDATE SKIP LOCKED`` in PostgreSQL, one ``UPDATE ... RETURNING`` under SQLite's write lock.
A worker killed mid-job leaves a running job whose lease expires; the next claim takes it
again (attempt + 1), and a job that used up ``max_attempts`` that way is failed instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hullcheck.fleet import schema as t
from hullcheck.fleet.model import JSON, Job, JobStatus

j = t.jobs.c


def enqueue(conn: Connection, kind: str, args: JSON, *, now: dt.datetime,
            run_after: dt.datetime | None = None, max_attempts: int = 5) -> int:
    return int(conn.execute(
        t.jobs.insert().values(kind=kind, args=args, status=JobStatus.QUEUED, attempts=0,
                               max_attempts=max_attempts, run_after=run_after or now,
                               locked_by="", last_error="", created_at=now)
        .returning(j.id)).scalar_one())


def _job(r: RowMapping) -> Job:
    return Job(id=r["id"], kind=r["kind"], args=r["args"], status=JobStatus(r["status"]),
               attempts=r["attempts"], run_after=r["run_after"], locked_by=r["locked_by"],
               locked_until=r["locked_until"], last_error=r["last_error"],
               created_at=r["created_at"], finished_at=r["finished_at"])


def claim(conn: Connection, worker: str, *, now: dt.datetime, lease: dt.timedelta,
          kinds: Collection[str] | None = None) -> Job | None:
    """The next due job (oldest first), leased to ``worker``; None when none is due."""
    lapsed = sa.and_(j.status == JobStatus.RUNNING, j.locked_until < now)
    conn.execute(t.jobs.update().where(lapsed, j.attempts >= j.max_attempts).values(
        status=JobStatus.FAILED, finished_at=now, locked_until=None,
        last_error=sa.func.coalesce(sa.func.nullif(j.last_error, ""),
                                    "the lease expired on every attempt")))
    due = sa.or_(sa.and_(j.status == JobStatus.QUEUED, j.run_after <= now), lapsed)
    pick = sa.select(j.id).where(due)
    if kinds is not None:
        pick = pick.where(j.kind.in_(list(kinds)))
    pick = pick.order_by(j.run_after, j.id).limit(1).with_for_update(skip_locked=True)
    row = conn.execute(
        t.jobs.update().where(j.id.in_(pick.scalar_subquery()))
        .values(status=JobStatus.RUNNING, locked_by=worker, locked_until=now + lease,
                attempts=j.attempts + 1)
        .returning(*t.jobs.c)).mappings().first()
    return None if row is None else _job(row)


def _held(job_id: int, worker: str) -> sa.ColumnElement[bool]:
    return sa.and_(j.id == job_id, j.locked_by == worker, j.status == JobStatus.RUNNING)


def renew(conn: Connection, job_id: int, worker: str, *, now: dt.datetime,
          lease: dt.timedelta) -> bool:
    """Extend the lease of a long job; False when ``worker`` lost it."""
    return conn.execute(t.jobs.update().where(_held(job_id, worker))
                        .values(locked_until=now + lease)).rowcount == 1


def complete(conn: Connection, job_id: int, worker: str, *, now: dt.datetime) -> bool:
    return conn.execute(t.jobs.update().where(_held(job_id, worker)).values(
        status=JobStatus.DONE, finished_at=now, locked_until=None)).rowcount == 1


def fail(conn: Connection, job_id: int, worker: str, *, error: str,
         retry_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Queued again for ``retry_at`` while attempts remain, else failed (also when None).
    False when ``worker`` lost the lease."""
    row = conn.execute(sa.select(j.attempts, j.max_attempts).where(_held(job_id, worker))
                       .with_for_update()).first()
    if row is None:
        return False
    again = retry_at is not None and row.attempts < row.max_attempts
    values: dict[str, object] = {"last_error": error[:2000], "locked_until": None}
    if again:
        values |= {"status": JobStatus.QUEUED, "run_after": retry_at}
    else:
        values |= {"status": JobStatus.FAILED, "finished_at": now}
    conn.execute(t.jobs.update().where(j.id == job_id).values(values))
    return True


def get(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(sa.select(t.jobs).where(j.id == job_id)).mappings().first()
    return None if row is None else _job(row)
