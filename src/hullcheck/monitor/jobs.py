"""The service's jobs: plain functions of the context and JSON arguments, run by a worker
(``monitor.workers``) in either mode. Each writes its results and the events they raise in
one transaction, with the follow-up jobs (delivery, assessment) queued in it too.

    scan      pull and read an image once (packages, vulnerabilities, secrets, config) and
              record it; queues ``assess``. Events: new/fixed/changed findings, secret-found
    assess    base image, signatures, policy (each reads the image's registry): base-stale,
              image-unsigned, policy-failed
    advisories, rematch   (``monitor.advisories``) update, diff, delta re-match
    base      re-check every stored base tag; images whose base moved are assessed again
    watch     poll a configured repository's tags; new digests are scanned
    deliver   (``monitor.delivery``) send due deliveries through the channels
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from hullcheck.errors import FormatError, HullcheckError, UsageError
from hullcheck.fleet import scans
from hullcheck.fleet.model import JSON, ImageStatus
from hullcheck.model import Inventory
from hullcheck.monitor import alerts, convert, intake, queue
from hullcheck.monitor.context import Context
from hullcheck.registry.reference import parse_reference

JobFunction = Callable[[Context, dict[str, Any]], None]
MAX_SECRETS_SHOWN = 20  # secret findings an event lists (the count says how many)


def run(ctx: Context, kind: str, args: dict[str, Any]) -> None:
    """Run one job; exceptions mean "retry later" (the worker decides how often)."""
    from hullcheck.monitor import advisories, delivery

    table: dict[str, JobFunction] = {
        "scan": scan, "assess": assess, "advisories": advisories.update,
        "rematch": advisories.rematch, "base": recheck_bases, "watch": watch,
        "deliver": delivery.deliver,
    }
    if kind not in table:
        raise FormatError(f"unknown job kind {kind!r}")
    # Every image a job reads (scan; assess's policy evidence) takes its layers' analyses
    # from the service's layer cache and keeps there the ones it made.
    with convert.layer_cache(ctx.layers):
        table[kind](ctx, args)


def _str(args: dict[str, Any], key: str) -> str:
    value = args.get(key, "")
    if not isinstance(value, str):
        raise FormatError(f"job argument {key!r} must be a string")
    return value


def _strings(args: dict[str, Any], key: str) -> list[str]:
    value = args.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"job argument {key!r} must be a list of strings")
    return value


def _iso(now: dt.datetime) -> str:
    return now.isoformat().replace("+00:00", "Z")


def owners_for(ctx: Context, inv: Inventory, repository: str) -> tuple[str, ...]:
    return convert.owners(inv, ((r.match.matches(repository), r.owners)
                                for r in ctx.config.repositories))


def _event(conn: Connection, ctx: Context, kind: str, digest: str, extra: JSON) -> bool:
    """An event of the monitor's own (not a finding change), routed by the alert rules, in
    ``conn``'s transaction; True when some channel wants it."""
    payload: JSON = {"event": kind, "image": scans.image_context(conn, digest), **extra,
                     "occurredAt": _iso(ctx.clock())}
    channels = alerts.channels_for(ctx.config, kind, payload)
    scans.add_event(conn, kind, digest, payload, channels=channels, now=ctx.clock())
    return bool(channels)


def _has_deliveries(conn: Connection, event_ids: Sequence[int]) -> bool:
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t

    if not event_ids:
        return False
    d = t.deliveries.c
    return conn.execute(sa.select(d.id).where(d.event_id.in_(list(event_ids))).limit(1)
                        ).first() is not None


def wake_delivery(ctx: Context, conn: Connection) -> None:
    """Queue one delivery run (in ``conn``'s transaction) unless one is already queued."""
    import sqlalchemy as sa

    if ctx.postgresql:
        queued = conn.execute(sa.text(
            "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'deliver' AND status = 'todo' "
            "AND (scheduled_at IS NULL OR scheduled_at <= now()) LIMIT 1")).first()
    else:
        from hullcheck.fleet import schema as t

        j = t.jobs.c
        queued = conn.execute(sa.select(j.id).where(j.kind == "deliver", j.status == "queued",
                                                    j.run_after <= ctx.clock()).limit(1)).first()
    if queued is None:
        queue.enqueue_delivery(ctx, conn=conn)


# -- scan ------------------------------------------------------------------------------------


def scan(ctx: Context, args: dict[str, Any]) -> None:
    """Scan ``reference`` (pinned to ``digest`` when known) and record it under
    ``repository`` with ``tags``."""
    reference, digest = _str(args, "reference"), _str(args, "digest")
    ref = intake.allowed_reference(reference, ctx.config)  # the config may have changed
    repository = _str(args, "repository") or ref.name
    tags = _strings(args, "tags") or ([ref.tag] if ref.tag else [])
    pull = ctx.pull_options(ref.registry)
    if not digest:
        digest = ref.digest or convert.resolve(str(ref), pull)
        ctx.store.record_pending(digest, repository, tags)
    build = ctx.build_id()
    known = ctx.store.image(digest)
    if known is not None and known.status == ImageStatus.SCANNED and \
            known.matched_build == build and not args.get("force"):
        ctx.store.record_pending(digest, repository, tags)  # the tags, nothing else changed
        return
    target = f"registry:{ref.name}@{digest}"
    try:
        report = convert.scan(target, ctx.db_path, pull, vex_files=ctx.config.vex,
                              ignore=ctx.config.ignore, today=ctx.clock().date())
    except HullcheckError as exc:
        if _permanent(exc):
            ctx.store.record_failure(digest, repository, str(exc))
            return
        raise
    inv = report.inventory
    decisions = ctx.store.decisions(digest=digest, repository=repository)
    findings = convert.mark(report.findings, inv, convert.triage_marks(decisions, digest),
                            today=ctx.clock().date())
    first = known is None or known.status != ImageStatus.SCANNED
    record(ctx, inv, findings=convert.finding_rows(findings, inv), digest=digest,
           repository=repository, tags=tags, build=build,
           secrets=convert.secrets_json(report) if first else [], assess=True,
           config_failed=convert.config_json(report) if first else [])


def _permanent(exc: HullcheckError) -> bool:
    """Errors a retry cannot fix: the image itself is malformed or refused."""
    from hullcheck.errors import InputError, NotFound, VerificationError

    return isinstance(exc, InputError | NotFound | VerificationError | UsageError)


def record(ctx: Context, inv: Inventory, *, findings: list[Any], digest: str, repository: str,
           tags: Sequence[str], build: str, secrets: list[JSON], assess: bool,
           config_failed: Sequence[JSON] = ()) -> None:
    """Store a scan and everything it raises, in one transaction."""
    image = convert.image_record(inv, digest=digest, repository=repository, tags=tags,
                                 owners=owners_for(ctx, inv, repository), base=None, policy=None,
                                 signatures=())
    with ctx.store.write() as conn:
        previous = conn.execute(_assessment_of(digest)).first()
        changes = scans.record_scan(conn, image, convert.package_rows(inv), findings,
                                    now=ctx.clock(), route=alerts.router(ctx.config), build=build)
        if previous is not None:  # a rescan keeps what the assessment found until it runs
            scans.set_assessment(conn, digest, base=previous.base, policy=previous.policy,
                                 signatures=previous.signatures)
        wake = _has_deliveries(conn, changes.events)
        if secrets:
            wake |= _event(conn, ctx, "secret-found", digest, {
                "secrets": secrets[:MAX_SECRETS_SHOWN], "count": len(secrets)})
        if config_failed:  # the image page shows them; alert rules may route them
            wake |= _event(conn, ctx, "config-failed", digest, {
                "checks": list(config_failed[:MAX_SECRETS_SHOWN]), "count": len(config_failed),
                "summary": f"{len(config_failed)} configuration check(s) failed"})
        if assess:
            queue.enqueue(ctx, "assess", {"digest": digest, "repository": repository}, conn=conn)
        if wake:
            wake_delivery(ctx, conn)


def _assessment_of(digest: str) -> Any:
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t

    i = t.images.c
    return sa.select(i.base, i.policy, i.signatures).where(i.digest == digest,
                                                          i.status == ImageStatus.SCANNED)


# -- uploads ---------------------------------------------------------------------------------


def _name(name: str) -> tuple[str, tuple[str, ...]]:
    """(repository, tags) of ``REPO[:TAG]`` as an upload names its image."""
    try:
        ref = parse_reference(name, default_tag=False)
    except HullcheckError as exc:
        raise UsageError(f"name {name!r}: {exc}") from None
    if ref.digest:
        raise UsageError(f"name {name!r}: give REPOSITORY[:TAG], not a digest")
    return ref.name, (ref.tag,) if ref.tag else ()


def _match_upload(ctx: Context, inv: Inventory, digest: str, repository: str) -> list[Any]:
    decisions = ctx.store.decisions(digest=digest, repository=repository)
    marks = convert.load_marks(ctx.config.vex, ctx.config.ignore, decisions, digest)
    with convert.open_vulnstore(ctx.db_path) as store:
        found = convert.judge(inv, store, marks, today=ctx.clock().date())
    return convert.finding_rows(found, inv)


def record_upload(ctx: Context, upload: bytes, *, name: str, requested_by: str,
                  limit: int) -> str:
    """``hullcheck push``: the native SBOM of an image scanned elsewhere."""
    if len(upload) > limit:
        raise FormatError(f"upload: larger than {limit} bytes")
    if not convert.is_native(upload):
        raise FormatError("upload: not a hullcheck native SBOM ('hullcheck sbom -o json')")
    inv = convert.decode_sbom(upload, name="upload")
    digest = inv.source.manifest_digest
    if not digest or not intake._DIGEST.fullmatch(digest):
        raise FormatError("upload: the SBOM names no image manifest digest (source."
                          "manifestDigest); SBOMs of files go to POST /api/v1/sboms")
    repository, tags = _name(name)
    build = ctx.build_id()
    findings = _match_upload(ctx, inv, digest, repository)
    record(ctx, inv, findings=findings, digest=digest, repository=repository, tags=tags,
           build=build, secrets=[], assess=False)
    ctx.store.audit(actor=requested_by, action="image.push", target=f"image:{digest}",
                    details={"name": name})
    return digest


def record_sbom(ctx: Context, document: bytes, *, name: str, version: str, requested_by: str,
                limit: int) -> str:
    """A CycloneDX or SPDX SBOM from elsewhere, as the image ``name:version``."""
    if len(document) > limit:
        raise FormatError(f"SBOM: larger than {limit} bytes")
    if not name or len(name) > 255 or not name.isprintable():
        raise UsageError("name must be 1-255 printable characters")
    if len(version) > 128 or not version.isprintable():
        raise UsageError("version must be at most 128 printable characters")
    inv = convert.decode_sbom(document, name=f"SBOM {name}")
    digest = inv.source.manifest_digest
    if not digest or not intake._DIGEST.fullmatch(digest):
        digest = "sha256:" + hashlib.sha256(document).hexdigest()
    build = ctx.build_id()
    findings = _match_upload(ctx, inv, digest, name)
    record(ctx, inv, findings=findings, digest=digest, repository=name,
           tags=(version,) if version else (), build=build, secrets=[], assess=False)
    ctx.store.audit(actor=requested_by, action="sbom.upload", target=f"image:{digest}",
                    details={"name": name, "version": version})
    return digest


# -- assess: base, signatures, policy ---------------------------------------------------------


def _stale(base: JSON | None) -> bool:
    fresh = (base or {}).get("freshness")
    return isinstance(fresh, dict) and fresh.get("upToDate") is False


def _failed(policy: JSON | None) -> bool:
    return isinstance(policy, dict) and policy.get("outcome") == "fail"


def assess(ctx: Context, args: dict[str, Any]) -> None:
    digest, repository = _str(args, "digest"), _str(args, "repository")
    known = ctx.store.image(digest)
    if known is None or known.status != ImageStatus.SCANNED:
        return
    host = repository.split("/", 1)[0]
    if ctx.config.registry(host) is None:
        return  # an upload or an SBOM: nothing the service may pull
    pull, target, today = ctx.pull_options(host), f"registry:{repository}@{digest}", \
        ctx.clock().date()
    cfg = ctx.config
    try:
        base = convert.assess_base(target, ctx.db_path, pull, catalog=cfg.base_catalog,
                                   trust=cfg.base_trust, today=today,
                                   allowed=lambda h: cfg.registry(h) is not None)
    except HullcheckError as exc:
        base = {"error": str(exc)}
    signatures = convert.verified_signatures(target, cfg.signature_keys, pull,
                                             keyless=cfg.signature_keyless) \
        if cfg.signature_keys or cfg.signature_keyless else None
    policy = None
    if cfg.policy is not None:
        try:
            policy = convert.policy_decision(cfg.policy, target, ctx.db_path, pull,
                                             vex_files=cfg.vex, ignore=cfg.ignore, today=today,
                                             base_catalog=cfg.base_catalog,
                                             base_trust=cfg.base_trust,
                                             allowed=lambda h: cfg.registry(h) is not None)
        except HullcheckError as exc:
            policy = {"outcome": "error", "error": str(exc)}
    with ctx.store.write() as conn:
        scans.set_assessment(conn, digest, base=base, policy=policy, signatures=signatures)
        wake = False
        if _stale(base) and not _stale(known.base):
            wake |= _event(conn, ctx, "base-stale", digest, {
                "base": base.get("base"), "freshness": base.get("freshness"),
                "advice": base.get("advice"),
                "summary": (base.get("advice") or base.get("freshness") or {}).get("summary")})
        if signatures is not None and not signatures and known.base is None:
            wake |= _event(conn, ctx, "image-unsigned", digest, {
                "summary": "no signature by any configured key or keyless signer",
                "keys": [str(k) for k in cfg.signature_keys],
                "identities": [p.describe() for p in (cfg.signature_keyless.identities
                                                      if cfg.signature_keyless else ())]})
        if _failed(policy) and not _failed(known.policy):
            assert policy is not None
            wake |= _event(conn, ctx, "policy-failed", digest, {
                "policy": policy, "summary": f"policy {policy.get('policy')} failed: "
                f"{len(policy.get('violations', []))} violation(s)"})
        if wake:
            wake_delivery(ctx, conn)


# -- base re-check, registry watch --------------------------------------------------------------


def recheck_bases(ctx: Context, args: dict[str, Any]) -> None:
    """Resolve each stored base tag once; images whose base tag moved (since their last
    assessment) are assessed again, which raises ``base-stale`` with rebuild advice."""
    with ctx.store.read() as conn:
        rows = scans.images_with_base(conn)
    by_tag: dict[str, list[tuple[str, str, str]]] = {}
    for digest, repository, base in rows:
        fresh = base.get("freshness") if isinstance(base, dict) else None
        if isinstance(fresh, dict) and isinstance(fresh.get("tag"), str):
            by_tag.setdefault(fresh["tag"], []).append(
                (digest, repository, str(fresh.get("currentDigest", ""))))
    for tag, images in sorted(by_tag.items()):
        host = tag.split("/", 1)[0]
        try:
            now = convert.resolve(tag, ctx.pull_options(host))
        except HullcheckError:
            continue  # unknown now; the next re-check tries again
        with ctx.store.write() as conn:
            for digest, repository, seen in images:
                if seen != now:
                    queue.enqueue(ctx, "assess", {"digest": digest, "repository": repository},
                                  conn=conn)


def watch(ctx: Context, args: dict[str, Any]) -> None:
    """Poll ``repository``'s tags; a tag (matching the watch's globs) whose digest is not
    scanned there is queued for a scan."""
    repository = _str(args, "repository")
    rule = next((w for w in ctx.config.watch if w.repository == repository), None)
    if rule is None:
        return  # no longer watched
    host = repository.split("/", 1)[0]
    pull = ctx.pull_options(host)
    current: dict[str, str] = {}
    page = ctx.store.images_by_repository(repository, limit=500)
    for summary in page.images:
        if summary.status == ImageStatus.SCANNED:
            current.update(dict.fromkeys(summary.tags, summary.digest))
    pushes = []
    for tag in convert.list_tags(repository, pull):
        if rule.tags and not any(g.matches(tag) for g in rule.tags):
            continue
        digest = convert.resolve(f"{repository}:{tag}", pull)
        if current.get(tag) != digest:
            pushes.append(intake.Push(reference=f"{repository}@{digest}", repository=repository,
                                      digest=digest, tags=(tag,)))
    if pushes:
        queue.enqueue_scans(ctx, pushes, requested_by=f"watch:{repository}")
