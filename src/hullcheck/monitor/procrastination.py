"""PostgreSQL mode: the jobs run as procrastinate tasks.

Schema: procrastinate's own schema (``procrastinate_*`` tables and functions, from the
installed procrastinate, pinned in pyproject), applied by ``Service.open`` when it is absent,
under a PostgreSQL advisory lock so that processes starting together apply it once. The
store's Alembic migrations leave those objects alone (docs/monitor.md says why).

Jobs are deferred with procrastinate's SQL function on the caller's connection
(``monitor.queue``): in the transaction of the change they follow. A worker killed with
SIGKILL stops sending heartbeats; the ``sweep`` task (every few seconds, on any worker)
retries the jobs of workers silent for longer than the lease, and queues what the schedules
say is due (advisory updates, base re-checks, registry watches).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hullcheck import fleet
from hullcheck.monitor.context import Context

SCHEMA_LOCK = 0x68_63_70_72  # "hcpr": the advisory lock key for applying the schema
log = logging.getLogger(__name__)


def apply_schema(store: fleet.Store) -> bool:
    """Apply procrastinate's schema unless present; True when it was applied now."""
    from procrastinate.schema import SchemaManager

    with store.write() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
        present = conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if present is not None:
            return False
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(SchemaManager.get_schema())  # no parameters: no % substitution
        finally:
            cursor.close()
    return True


def last_error(conn: Connection, job_id: int) -> str:
    """The error the monitor noted for a failed attempt of ``job_id`` (procrastinate keeps
    none): the newest ``job.failed`` entry of the audit log."""
    from hullcheck.fleet import schema as t

    al = t.audit_log.c
    return conn.execute(sa.select(al.reason).where(al.target == f"job:{job_id}",
                                                    al.action == "job.failed")
                        .order_by(al.id.desc()).limit(1)).scalar() or ""


def conninfo(store: fleet.Store) -> str:
    """The libpq connection string of the store's engine (procrastinate opens its own pool)."""
    url = store.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def app(ctx: Context, *, sweep_every: int = 5) -> Any:
    """A procrastinate App whose tasks are the monitor's job kinds, run against ``ctx``."""
    import procrastinate

    from hullcheck.monitor import jobs, workers
    from hullcheck.monitor.queue import KINDS, MAX_ATTEMPTS, QUEUE

    application = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(ctx.store)))

    def register(kind: str) -> None:
        def task(context: Any, /, **args: Any) -> None:
            try:
                jobs.run(ctx, kind, args)
            except Exception as exc:
                ctx.store.audit(actor=ctx.worker, action="job.failed",
                                target=f"job:{context.job.id}", reason=workers.describe(exc))
                raise

        application.task(name=kind, queue=QUEUE, pass_context=True,
                         retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS[kind] - 1,
                                                           exponential_wait=5))(task)

    for kind in KINDS:
        register(kind)

    @application.periodic(cron=f"* * * * * */{sweep_every}")
    @application.task(name="sweep", queue=QUEUE, pass_context=True)
    async def sweep(context: Any, timestamp: int) -> None:
        manager = context.app.job_manager
        lease = ctx.job_lease.total_seconds()
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=lease):
            log.warning("retrying job %s of a worker silent for %ss", job.id, lease)
            await manager.retry_job(job)
        import asyncio

        await asyncio.to_thread(workers.schedule_due, ctx)

    return application
