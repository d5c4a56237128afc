"""The monitoring service as one object: what the HTTP API and the CLI call.

    with Service.open(data_dir=Path("/var/lib/hullcheck"), config=load_config(path)) as svc:
        job = svc.submit_scan("registry.example.org/app:1.2", requested_by="ci")
        svc.job(job)                       # JobInfo: queued / running / done / failed
        svc.run_pending()                  # SQLite mode: run what is due, here and now
        svc.image("sha256:...")            # fleet.ImageDetail

Intake (scan requests, registry events, uploads, SBOMs, deployments) is checked here and
becomes rows and jobs; the jobs (``monitor.jobs``) do the work, run by workers
(``monitor.workers``: threads in this process for SQLite, procrastinate for PostgreSQL).
Every failure a caller can cause is a ``HullcheckError`` with one line: ``UsageError`` for
a request that is not allowed (a registry not in the config), ``FormatError`` for a body
that is not what it claims, ``DatabaseError`` for the store or the advisory database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from hullcheck import fleet
from hullcheck.errors import UsageError
from hullcheck.fleet.model import (
    AuditEntry,
    Delivery,
    ImageDetail,
    ImageHit,
    Page,
    Scope,
    TokenInfo,
    TriageDecision,
)
from hullcheck.fleet.queries import VersionFilter
from hullcheck.monitor import intake, jobs, queue, triage
from hullcheck.monitor.config import Config
from hullcheck.monitor.context import Context

Clock = Callable[[], dt.datetime]

MAX_UPLOAD = 64 << 20  # bytes of a pushed scan result or an SBOM
MAX_ENVELOPE = 4 << 20  # bytes of a registry notification envelope
MAX_DEPLOYMENTS = 32 << 20  # bytes of a deployments document (kubectl get pods -A -o json)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """A job as ``GET /api/v1/jobs/{id}`` shows it, the same in both modes."""

    id: int
    kind: str  # scan, advisories, rematch, base, watch, deliver
    status: str  # queued / running / done / failed
    attempts: int
    error: str  # the last error (one line), "" when none
    args: dict[str, Any]  # the job's arguments (a scan: reference, digest when known)
    created_at: dt.datetime | None
    finished_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        return {"id": self.id, "kind": self.kind, "status": self.status,
                "attempts": self.attempts, "error": self.error or None, "args": self.args,
                "createdAt": iso(self.created_at), "finishedAt": iso(self.finished_at)}


class Service:
    """The facade over the store, the config, the job queue and the workers."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._worker: Any = None  # workers.InProcess, started by start_worker()
        self._lock = threading.RLock()  # a signal handler may stop while start holds it
        self._stopping = threading.Event()  # run_worker() returns once it is set

    @classmethod
    def open(cls, *, data_dir: Path, database_url: str | None = None,
             config: Config | None = None, clock: Clock | None = None) -> Service:
        """Open (and migrate) the store: SQLite in ``data_dir`` unless ``database_url``
        names PostgreSQL (whose procrastinate schema is applied here too, once). The
        advisory database lives in ``data_dir`` in both modes."""
        return cls(Context.open(data_dir=data_dir, database_url=database_url,
                                config=config or Config(), clock=clock))

    def close(self) -> None:
        self.stop_worker()
        self.ctx.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def store(self) -> fleet.Store:
        return self.ctx.store

    @property
    def config(self) -> Config:
        return self.ctx.config

    @property
    def mode(self) -> str:
        """``sqlite`` (in-process jobs) or ``postgresql`` (procrastinate jobs)."""
        return self.ctx.store.dialect

    # -- intake -------------------------------------------------------------------------------

    def submit_scan(self, reference: str, *, requested_by: str) -> int:
        """Queue a scan of ``reference`` (``HOST/REPO:TAG`` or ``@sha256:...``, in a registry
        of the config: others are a ``UsageError``); the job id."""
        ref = intake.allowed_reference(reference, self.config)
        return queue.enqueue_scan(self.ctx, ref, requested_by=requested_by)

    def ingest_registry_event(self, envelope: bytes, *,
                              requested_by: str = "registry") -> list[int]:
        """A CNCF distribution notification envelope: each push of a manifest or an index to
        a configured registry becomes a scan job (ids returned). Other events (pulls,
        deletes, blobs) are ignored; a push to a host not in the config is refused
        (``UsageError``) and nothing is queued; a malformed envelope is a ``FormatError``."""
        pushes = intake.registry_pushes(envelope, self.config, limit=MAX_ENVELOPE)
        return queue.enqueue_scans(self.ctx, pushes, requested_by=requested_by)

    def ingest_push(self, upload: bytes, *, name: str, requested_by: str) -> str:
        """A scan result made elsewhere (``hullcheck push``): hullcheck's native SBOM JSON
        (``monitor.upload``), stored under ``name`` (``REPO[:TAG]``) and matched here against
        this service's advisories. Returns the image's manifest digest."""
        return jobs.record_upload(self.ctx, upload, name=name, requested_by=requested_by,
                                  limit=MAX_UPLOAD)

    def ingest_sbom(self, document: bytes, *, name: str, version: str,
                    requested_by: str) -> str:
        """A CycloneDX or SPDX JSON SBOM (the content decides, not a header), stored as the
        image ``name:version``; its digest (the SBOM's image digest when it names one, else
        the SHA-256 of the document)."""
        return jobs.record_sbom(self.ctx, document, name=name, version=version,
                                requested_by=requested_by, limit=MAX_UPLOAD)

    def ingest_deployments(self, document: bytes, *, cluster: str | None = None,
                           requested_by: str) -> dict[str, int]:
        """``kubectl get pods -A -o json`` (then ``cluster`` names the cluster) or a list of
        ``{cluster, namespace, workload, container?, digest}``: each cluster named is
        replaced. Returns the rows written per cluster."""
        by_cluster = intake.deployments(document, cluster=cluster, limit=MAX_DEPLOYMENTS)
        written = {c: self.store.replace_deployments(c, rows) for c, rows in by_cluster.items()}
        self.store.audit(actor=requested_by, action="deployments.replace",
                         target=",".join(sorted(written)), details={"rows": written})
        return written

    # -- advisories -----------------------------------------------------------------------------

    def update_advisories(self, *, requested_by: str) -> int:
        """Queue an advisory update (fetch, rebuild, delta re-match); the job id."""
        self.store.audit(actor=requested_by, action="advisories.update", target="advisories")
        return queue.enqueue(self.ctx, "advisories", {"requested_by": requested_by})

    # -- jobs ---------------------------------------------------------------------------------

    def job(self, job_id: int) -> JobInfo | None:
        return queue.job_info(self.ctx, job_id)

    def run_pending(self, *, limit: int = 1000) -> int:
        """Run due jobs in this thread until none is due (SQLite mode; tests and ``make
        demo``); the number run. PostgreSQL mode: run them through procrastinate once."""
        from hullcheck.monitor import workers

        return workers.run_pending(self.ctx, limit=limit)

    def start_worker(self, *, threads: int = 2) -> None:
        """Start the in-process worker (``serve monitor`` without ``--no-worker``): a thread
        pool that runs due jobs and the schedules (advisory updates, registry watches)."""
        from hullcheck.monitor import workers

        with self._lock:
            if self._worker is None:
                self._worker = workers.start(self.ctx, threads=threads)

    def run_worker(self, *, threads: int = 2) -> None:
        """Start the worker and block until ``stop_worker()`` (``hullcheck worker``; call it
        from a signal handler: a stop asked before the worker started is kept, not lost)."""
        self.start_worker(threads=threads)
        while not self._stopping.wait(1.0):
            pass
        self.stop_worker()

    def stop_worker(self) -> None:
        self._stopping.set()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    # -- respond ------------------------------------------------------------------------------

    def triage(self, decision: TriageDecision, *, actor: str) -> None:
        """Record an acknowledge / assign / VEX decision (audit-logged). A VEX decision marks
        the findings it covers at once (a re-match of the images it names)."""
        triage.decide(self.ctx, decision, actor=actor)

    def openvex(self, repository: str) -> dict[str, Any]:
        """The repository's VEX decisions as one OpenVEX document (per image decisions name
        the image digest as product)."""
        return triage.openvex(self.ctx, repository)

    def attach_openvex(self, repository: str, *, actor: str) -> list[str]:
        """Sign the OpenVEX document with the configured key and attach it to each current
        image of ``repository`` as an in-toto attestation; the image digests attested.
        ``UsageError`` when no signing key is configured."""
        return triage.attach(self.ctx, repository, actor=actor)

    # -- reads (pass-throughs) ------------------------------------------------------------------

    def images(self, repository: str, *, limit: int = 100, after: str | None = None) -> Page:
        return self.store.images_by_repository(repository, limit=limit, after=after)

    def image(self, digest: str) -> ImageDetail | None:
        return self.store.image(digest)

    def search_purl(self, purl: str, *, versions: str | None = None,
                    limit: int = 1000) -> tuple[ImageHit, ...]:
        """Images shipping ``purl`` (exact when it has a version); ``versions`` a range such
        as ``>=5.6.0,<5.6.2`` compared with the package type's own scheme."""
        accept: VersionFilter | None = intake.version_filter(purl, versions)
        return self.store.images_with_package(purl, versions=accept, limit=limit)

    def search_advisory(self, advisory: str, *, limit: int = 1000) -> tuple[ImageHit, ...]:
        return self.store.images_with_advisory(advisory, limit=limit)

    def dead_letters(self, *, limit: int = 100) -> list[Delivery]:
        return self.store.dead_letters(limit=limit)

    def retry_delivery(self, delivery_id: int, *, actor: str) -> bool:
        done = self.store.retry_delivery(delivery_id)
        if done:
            self.store.audit(actor=actor, action="delivery.retry", target=f"delivery:{delivery_id}")
            queue.enqueue_delivery(self.ctx)
        return done

    def audit_log(self, *, target: str | None = None, before: int | None = None,
                  limit: int = 100) -> tuple[AuditEntry, ...]:
        return self.store.audit_log(target=target, before=before, limit=limit)

    def decisions(self, *, digest: str | None = None,
                  repository: str | None = None) -> tuple[TriageDecision, ...]:
        return self.store.decisions(digest=digest, repository=repository)

    # -- tokens (pass-throughs) -----------------------------------------------------------------

    def create_token(self, name: str, scope: Scope, *, actor: str) -> tuple[TokenInfo, str]:
        return self.store.create_token(name, scope, actor=actor)

    def verify_token(self, token: str) -> TokenInfo | None:
        return self.store.verify_token(token)

    def list_tokens(self) -> tuple[TokenInfo, ...]:
        return self.store.list_tokens()

    def revoke_token(self, name: str, *, actor: str, reason: str = "") -> bool:
        return self.store.revoke_token(name, actor=actor, reason=reason)


def channels_named(config: Config) -> Iterable[str]:
    """The channels the config defines (for a settings page)."""
    return tuple(config.channels)


__all__ = ["JobInfo", "Service", "UsageError", "channels_named"]
