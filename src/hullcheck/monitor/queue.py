"""Putting jobs in the queue, in the caller's transaction: SQLite mode writes the store's
``jobs`` table; PostgreSQL mode defers a procrastinate job through procrastinate's own SQL
function, on the same connection, so the job exists exactly when the data change it follows
was committed (the outbox). Job kinds and their arguments are plain JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hullcheck.fleet import jobs as fleet_jobs
from hullcheck.fleet.model import JobStatus
from hullcheck.monitor.intake import Push, push_of

if TYPE_CHECKING:
    from hullcheck.monitor.context import Context
    from hullcheck.monitor.service import JobInfo
    from hullcheck.registry.reference import Reference

KINDS = ("scan", "assess", "advisories", "rematch", "base", "watch", "deliver")
QUEUE = "hullcheck"  # the procrastinate queue of every job
MAX_ATTEMPTS = {"scan": 3, "assess": 3, "advisories": 3, "rematch": 5, "base": 3, "watch": 3, "deliver": 10}

_DEFER = sa.text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL, "
    "CAST(:args AS jsonb), :at)::procrastinate_job_to_defer_v1])) AS id")


def enqueue(ctx: Context, kind: str, args: dict[str, Any], *, conn: Connection | None = None,
            run_after: dt.datetime | None = None) -> int:
    """Queue ``kind`` with ``args`` in ``conn``'s transaction (a new one when None)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    if conn is None:
        with ctx.store.write() as new:
            return enqueue(ctx, kind, args, conn=new, run_after=run_after)
    if ctx.postgresql:
        return int(conn.execute(_DEFER, {"queue": QUEUE, "task": kind, "args": json.dumps(args),
                                         "at": run_after}).scalar_one())
    return fleet_jobs.enqueue(conn, kind, args, now=ctx.clock(), run_after=run_after,
                              max_attempts=MAX_ATTEMPTS[kind])


def enqueue_scan(ctx: Context, ref: Reference, *, requested_by: str) -> int:
    (job,) = enqueue_scans(ctx, [push_of(ref)], requested_by=requested_by)
    return job


def enqueue_scans(ctx: Context, pushes: Iterable[Push], *, requested_by: str) -> list[int]:
    """A pending image row (when the digest is known) and a scan job per push, one
    transaction for all: an envelope is queued whole or not at all."""
    from hullcheck.fleet import scans

    ids = []
    with ctx.store.write() as conn:
        for push in pushes:
            if push.digest:
                scans.record_pending(conn, push.digest, push.repository, push.tags, ctx.clock())
            ids.append(enqueue(ctx, "scan", push.args() | {"requested_by": requested_by},
                               conn=conn))
    return ids


def enqueue_delivery(ctx: Context, *, conn: Connection | None = None,
                     at: dt.datetime | None = None) -> int:
    return enqueue(ctx, "deliver", {}, conn=conn, run_after=at)


# -- reading a job ----------------------------------------------------------------------------

_PG_STATUS = {"todo": JobStatus.QUEUED, "doing": JobStatus.RUNNING,
              "succeeded": JobStatus.DONE, "failed": JobStatus.FAILED,
              "cancelled": JobStatus.FAILED, "aborting": JobStatus.RUNNING,
              "aborted": JobStatus.FAILED}

_PG_JOB = sa.text(
    "SELECT j.id, j.task_name, j.status, j.attempts, j.args, "
    "(SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS created_at, "
    "(SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id "
    " AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at "
    "FROM procrastinate_jobs j WHERE j.id = :id")


def job_info(ctx: Context, job_id: int) -> JobInfo | None:
    from hullcheck.monitor.service import JobInfo

    if ctx.postgresql:
        with ctx.store.read() as conn:
            row = conn.execute(_PG_JOB, {"id": job_id}).mappings().first()
            error = _pg_error(conn, job_id) if row is not None else ""
        if row is None:
            return None
        return JobInfo(id=row["id"], kind=row["task_name"],
                       status=_PG_STATUS.get(row["status"], JobStatus.QUEUED).value,
                       attempts=row["attempts"], error=error, args=dict(row["args"]),
                       created_at=row["created_at"], finished_at=row["finished_at"])
    job = ctx.store.job(job_id)
    if job is None:
        return None
    return JobInfo(id=job.id, kind=job.kind, status=job.status.value, attempts=job.attempts,
                   error=job.last_error, args=dict(job.args), created_at=job.created_at,
                   finished_at=job.finished_at)


def _pg_error(conn: Connection, job_id: int) -> str:
    """Procrastinate keeps no error text: the monitor notes it in its own table."""
    from hullcheck.monitor import procrastination

    return procrastination.last_error(conn, job_id)
