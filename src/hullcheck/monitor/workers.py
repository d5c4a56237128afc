"""Running the jobs: threads in this process over the store's ``jobs`` table (SQLite mode),
or procrastinate workers (PostgreSQL mode); and the schedules (advisory updates, base
re-checks, registry watches) that queue jobs when they are due.

SQLite mode: each thread claims the next due job under a lease (renewed while the job runs),
runs it, and marks it done, or failed with a retry time (backoff). A process killed with
SIGKILL leaves its running jobs leased; when the lease lapses another worker claims them.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from hullcheck.errors import HullcheckError
from hullcheck.monitor import jobs, queue
from hullcheck.monitor.context import Context

log = logging.getLogger(__name__)
POLL = 0.5  # seconds between claims when the queue is empty
SCHEDULE_EVERY = 5.0  # seconds between checks of the schedules
_SCHEDULE_LOCK = 0x68_63_73_63  # "hcsc": one scheduler at a time (PostgreSQL)


def describe(exc: BaseException) -> str:
    """One line for a failed attempt: the message of an expected error, else the type too."""
    if isinstance(exc, HullcheckError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"[:2000]


def job_backoff(attempts: int) -> float:
    return float(min(3600.0, 10.0 * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0))


# -- SQLite: one job ---------------------------------------------------------------------------


@contextmanager
def _renewing(ctx: Context, job_id: int) -> Iterator[None]:
    """Renew the job's lease every third of it while the job runs (a long scan)."""
    stop = threading.Event()
    period = max(ctx.job_lease.total_seconds() / 3, 0.2)

    def renew() -> None:
        while not stop.wait(period):
            try:
                ctx.store.renew_job(job_id, ctx.worker, lease=ctx.job_lease)
            except HullcheckError:
                log.warning("could not renew the lease of job %s", job_id)

    thread = threading.Thread(target=renew, name=f"renew-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_one(ctx: Context) -> bool:
    """Claim and run one due job (SQLite mode); False when none is due."""
    job = ctx.store.claim_job(ctx.worker, lease=ctx.job_lease)
    if job is None:
        return False
    try:
        with _renewing(ctx, job.id):
            jobs.run(ctx, job.kind, dict(job.args))
    except Exception as exc:
        log.warning("job %s (%s) failed: %s", job.id, job.kind, describe(exc))
        retry = ctx.clock() + dt.timedelta(seconds=job_backoff(job.attempts))
        ctx.store.fail_job(job.id, ctx.worker, error=describe(exc), retry_at=retry)
        return True
    ctx.store.complete_job(job.id, ctx.worker)
    return True


def run_pending(ctx: Context, *, limit: int = 1000) -> int:
    """Run due jobs until none is due (or ``limit``); the number run."""
    if ctx.postgresql:
        return _run_pending_procrastinate(ctx, limit)
    n = 0
    while n < limit and run_one(ctx):
        n += 1
    return n


def _run_pending_procrastinate(ctx: Context, limit: int) -> int:
    from hullcheck.monitor import procrastination

    def count() -> int:
        with ctx.store.read() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN "
                "('succeeded', 'failed') AND task_name <> 'sweep'")).scalar_one())

    before = count()
    app = procrastination.app(ctx)
    app.run_worker(queues=[queue.QUEUE], wait=False, install_signal_handlers=False,
                   concurrency=1, listen_notify=False)
    return min(count() - before, limit)


# -- schedules -------------------------------------------------------------------------------


def _schedules(ctx: Context) -> list[tuple[str, dict[str, Any], float]]:
    """(kind, args, every) of each schedule the config sets."""
    out: list[tuple[str, dict[str, Any], float]] = []
    every = ctx.config.advisories.update_every
    if every:
        out += [("advisories", {}, every), ("base", {}, every)]
    out += [("watch", {"repository": w.repository}, w.every) for w in ctx.config.watch]
    return out


def schedule_due(ctx: Context) -> int:
    """Queue each scheduled job that has none queued or running and whose last run ended
    at least its period ago; the number queued. Serialised across workers (PostgreSQL: an
    advisory lock; SQLite: the write lock)."""
    queued = 0
    with ctx.store.write() as conn:
        if ctx.postgresql and not conn.execute(
                sa.text(f"SELECT pg_try_advisory_xact_lock({_SCHEDULE_LOCK})")).scalar():
            return 0
        now = ctx.clock()
        for kind, args, every in _schedules(ctx):
            busy, last = _last_run(ctx, conn, kind, args)
            if busy or (last is not None and last + dt.timedelta(seconds=every) > now):
                continue
            queue.enqueue(ctx, kind, args, conn=conn)
            queued += 1
    return queued


def _last_run(ctx: Context, conn: Any, kind: str,
              args: dict[str, Any]) -> tuple[bool, dt.datetime | None]:
    """(a job of this kind and args is queued or running, when the last one ended)."""
    import json

    if ctx.postgresql:
        row = conn.execute(sa.text(
            "SELECT bool_or(j.status IN ('todo', 'doing')) AS busy, max(e.at) AS last "
            "FROM procrastinate_jobs j LEFT JOIN procrastinate_events e ON e.job_id = j.id "
            "AND e.type IN ('succeeded', 'failed') "
            "WHERE j.task_name = :kind AND j.args = CAST(:args AS jsonb)"),
            {"kind": kind, "args": json.dumps(args)}).first()
        return bool(row.busy), row.last
    from hullcheck.fleet import schema as t

    j = t.jobs.c
    busy = False
    last = None
    for status, finished, job_args in conn.execute(
            sa.select(j.status, j.finished_at, j.args).where(j.kind == kind)
            .order_by(j.id.desc()).limit(50)):
        if job_args != args:
            continue
        busy = busy or status in ("queued", "running")
        if finished is not None and (last is None or finished > last):
            last = finished
    return busy, last


# -- running workers ----------------------------------------------------------------------------


@dataclass
class InProcess:
    """Worker threads (and the scheduler) in this process; ``stop()`` ends them."""

    ctx: Context
    threads: int
    stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _pg: Any = None

    def start(self) -> InProcess:
        if self.ctx.postgresql:
            self._pg = _Procrastinate(self.ctx, self.threads)
            self._pg.start()
            return self
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"hullcheck-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._schedule, name="hullcheck-schedule", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                ran = run_one(self.ctx)
            except Exception as exc:  # the store unreachable: wait, try again
                log.error("worker: %s", describe(exc))
                ran = False
            if not ran:
                self.stopping.wait(POLL)

    def _schedule(self) -> None:
        while not self.stopping.is_set():
            try:
                schedule_due(self.ctx)
            except Exception as exc:
                log.error("scheduler: %s", describe(exc))
            self.stopping.wait(SCHEDULE_EVERY)

    def stop(self) -> None:
        self.stopping.set()
        if self._pg is not None:
            self._pg.stop()
        for t in self._threads:
            t.join()

    def wait(self) -> None:
        """Block until ``stop()`` (from a signal handler or another thread)."""
        while not self.stopping.wait(1.0):
            pass


class _Procrastinate:
    """A procrastinate worker on its own event loop in a thread; ``stop()`` cancels it (a
    stop asked before the loop started is kept: the worker then stops as it starts)."""

    def __init__(self, ctx: Context, concurrency: int) -> None:
        self.ctx, self.concurrency = ctx, concurrency
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hullcheck-procrastinate",
                                       daemon=True)

    def _run(self) -> None:
        import asyncio

        from hullcheck.monitor import procrastination

        app = procrastination.app(self.ctx)
        lease = self.ctx.job_lease.total_seconds()

        async def main() -> None:
            async with app.open_async():
                worker = asyncio.ensure_future(app.run_worker_async(
                    queues=[queue.QUEUE], concurrency=self.concurrency, wait=True,
                    install_signal_handlers=False, name=self.ctx.worker,
                    update_heartbeat_interval=max(lease / 4, 0.5),
                    stalled_worker_timeout=lease))
                stop = asyncio.ensure_future(asyncio.to_thread(self._stop.wait))
                await asyncio.wait({worker, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not worker.done():
                    worker.cancel()
                with suppress(asyncio.CancelledError):
                    await worker

        try:
            asyncio.run(main())
        except Exception as exc:
            log.error("procrastinate worker: %s", describe(exc))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=60)


def start(ctx: Context, *, threads: int = 2) -> InProcess:
    return InProcess(ctx, threads).start()
