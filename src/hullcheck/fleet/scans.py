"""Writing what scans and re-matches found: images, packages, findings with history, and
the events their changes raise (the transactional outbox: the same transaction).

"The same finding" across scans is the key (image, advisory id, package purl). Diffing the
stored findings of an image with a new set gives:

- new: a key not stored, or stored as fixed (then ``reopened``);
- fixed: an open key absent from the new set (within the re-matched packages, for a delta);
- changed: an open key whose severity, KEV, fixed versions, status or suppression changed.
  Other differences (a CVSS score, a summary) update the stored finding without an event.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hullcheck.fleet import schema as t
from hullcheck.fleet import summary
from hullcheck.fleet.model import (
    JSON,
    Changes,
    EventType,
    FindingChange,
    FindingRow,
    FindingState,
    ImageRecord,
    ImageStatus,
    PackageRow,
)
from hullcheck.fleet.sql import chunks, name_key, purl_base, upsert

# The monitor's alert rules, as a function: which channels want this event (type, payload).
# Deliveries are written with the event, in the same transaction.
Router = Callable[[str, JSON], Iterable[str]]

# Fields whose change is an event ("finding-changed"); others update silently.
SIGNIFICANT = ("severity", "kev", "fixed_versions", "status", "suppressed")


# -- images --------------------------------------------------------------------------------


def record_pending(conn: Connection, digest: str, repository: str, tags: Sequence[str],
                   now: dt.datetime) -> None:
    """An image we are about to scan: listed as pending unless already known."""
    conn.execute(
        upsert(conn, t.images).values(
            digest=digest, repository=repository, status=ImageStatus.PENDING, labels={},
            signatures=[], first_seen=now,
        ).on_conflict_do_nothing(index_elements=["digest"])
    )
    summary.add(conn, digest)
    _record_tags(conn, digest, repository, tags, now)


def record_failure(conn: Connection, digest: str, repository: str, error: str,
                   now: dt.datetime) -> None:
    """A scan that failed: ``failed`` when never scanned; a scanned image keeps its data and
    its status, with the error noted."""
    record_pending(conn, digest, repository, (), now)
    conn.execute(
        t.images.update().where(t.images.c.digest == digest).values(
            error=error[:2000],
            status=sa.case((t.images.c.status == ImageStatus.SCANNED, ImageStatus.SCANNED),
                           else_=ImageStatus.FAILED),
        )
    )


def _write_image(conn: Connection, image: ImageRecord, now: dt.datetime, build: str) -> None:
    values: dict[str, Any] = {
        "repository": image.repository, "status": ImageStatus.SCANNED, "error": "",
        "media_type": image.media_type, "created": image.created, "labels": dict(image.labels),
        "base": image.base, "policy": image.policy, "signatures": list(image.signatures),
        "last_scanned": now, "matched_build": build,
    }
    stmt = upsert(conn, t.images).values(digest=image.digest, first_seen=now, first_scanned=now,
                                         **values)
    # The upsert locks the image row (PostgreSQL) until commit: scans and re-matches of one
    # image are serialised, so two workers cannot both insert "the same" new finding.
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["digest"],
        set_={**values,
              "first_scanned": sa.func.coalesce(t.images.c.first_scanned, now)},
    ))
    d = image.digest
    conn.execute(t.layers.delete().where(t.layers.c.image_digest == d))
    if image.layers:
        conn.execute(t.layers.insert(), [
            {"image_digest": d, "position": i, "digest": la.digest, "diff_id": la.diff_id,
             "size": la.size, "created_by": la.created_by} for i, la in enumerate(image.layers)
        ])
    conn.execute(t.owners.delete().where(t.owners.c.image_digest == d))
    if image.owners:
        conn.execute(t.owners.insert(),
                     [{"image_digest": d, "owner": o} for o in dict.fromkeys(image.owners)])
    conn.execute(t.sboms.delete().where(t.sboms.c.image_digest == d))
    if image.sbom:
        conn.execute(t.sboms.insert().values(image_digest=d, encoding=image.sbom_encoding,
                                             data=image.sbom))
    _record_tags(conn, d, image.repository, image.tags, now)


def _record_tags(conn: Connection, digest: str, repository: str, tags: Sequence[str],
                 now: dt.datetime) -> None:
    """Each tag now points at ``digest``: rows of the tag at other digests stop being current
    (their ``last_seen`` is when it moved); this one is current, first seen once."""
    tags = sorted(set(tags))
    if conn.dialect.name == "postgresql":
        # Two scans moving the same tags (to two digests) would lock each other's rows in
        # opposite orders: take a lock per tag, in one order, first.
        for tag in tags:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                sa.func.hashtextextended(f"{repository}:{tag}", 0))))
    for tag in tags:
        conn.execute(
            t.tags.update()
            .where(t.tags.c.repository == repository, t.tags.c.tag == tag,
                   t.tags.c.image_digest != digest, t.tags.c.current.is_(True))
            .values(current=False, last_seen=now)
        )
        conn.execute(
            upsert(conn, t.tags).values(repository=repository, tag=tag, image_digest=digest,
                                        first_seen=now, last_seen=now, current=True)
            .on_conflict_do_update(index_elements=["repository", "tag", "image_digest"],
                                   set_={"last_seen": now, "current": True})
        )


def _write_packages(conn: Connection, digest: str, packages: Iterable[PackageRow]) -> None:
    conn.execute(t.packages.delete().where(t.packages.c.image_digest == digest))
    rows = ({
        "image_digest": digest, "purl": p.purl, "purl_base": purl_base(p.purl), "type": p.type,
        "ecosystem": p.ecosystem, "name": p.name, "name_key": name_key(p.ecosystem, p.name),
        "version": p.version, "source_name": p.source_name,
        "source_key": name_key(p.ecosystem, p.source_name), "source_version": p.source_version,
        "licence": p.licence, "layer": p.layer, "visible": p.visible,
    } for p in packages)
    for batch in chunks(rows):
        conn.execute(t.packages.insert(), batch)


def record_scan(conn: Connection, image: ImageRecord, packages: Iterable[PackageRow],
                findings: Iterable[FindingRow], *, now: dt.datetime, route: Router | None,
                build: str = "", reason: str = "scan") -> Changes:
    """Store a scan of ``image`` and diff its findings with the stored ones; every change is
    an event (and its deliveries) in the caller's transaction."""
    _write_image(conn, image, now, build)
    _write_packages(conn, image.digest, packages)
    if build:
        _note_build(conn, build, now)
    changes = diff_findings(conn, image.digest, findings, scope=None, now=now, route=route,
                            reason=reason)
    summary.refresh(conn, image.digest)  # its base and policy were rewritten too
    return changes


def apply_rematch(conn: Connection, digest: str, findings: Iterable[FindingRow], *,
                  purls: Collection[str] | None, now: dt.datetime, route: Router | None,
                  build: str = "", reason: str = "advisory update") -> Changes:
    """A re-match of some of an image's packages (``purls``; None: all of them): only
    findings on those packages can be new, fixed or changed."""
    done = apply_rematches(conn, [Rematched(digest, list(findings), purls)], now=now,
                           route=route, build=build, reason=reason)
    if not done:
        raise KeyError(f"image {digest} is not in the store")
    return done[0]


@dataclass(frozen=True, slots=True)
class Rematched:
    """One image's re-match: its findings on the re-matched packages (``purls``; None: all)."""

    digest: str
    findings: Sequence[FindingRow]
    purls: Collection[str] | None


def apply_rematches(conn: Connection, images: Sequence[Rematched], *, now: dt.datetime,
                    route: Router | None, build: str = "",
                    reason: str = "advisory update") -> list[Changes]:
    """``apply_rematch`` of many images in the caller's transaction, set-based: one lock,
    one build update and one read of the stored findings for all of them (a delta re-match
    visits most images to change nothing). Images no longer stored are skipped; the
    changes of the others, in order."""
    i = t.images.c
    digests = sorted({r.digest for r in images})
    present: set[str] = set()
    for batch in chunks(digests):  # in digest order: two batches never lock in a cycle
        present.update(conn.execute(sa.select(i.digest).where(i.digest.in_(batch))
                                    .order_by(i.digest).with_for_update()).scalars())
    if build:
        for batch in chunks(sorted(present)):
            conn.execute(t.images.update().where(i.digest.in_(batch)).values(matched_build=build))
        _note_build(conn, build, now)
    stored = _load_many(conn, {r.digest: r.purls for r in images if r.digest in present})
    why = reason if not build else f"{reason} {build}"
    out = [diff_findings(conn, r.digest, r.findings, scope=r.purls, now=now, route=route,
                         reason=why, stored=stored.get(r.digest, {}))
           for r in images if r.digest in present]
    # Only where a finding is new, fixed or changed did a count or flag of the summary move.
    summary.refresh_many(conn, [c.digest for c in out if c])
    return out


def _note_build(conn: Connection, build: str, now: dt.datetime) -> None:
    conn.execute(upsert(conn, t.advisory_builds).values(build_id=build, matched_at=now)
                 .on_conflict_do_update(index_elements=["build_id"], set_={"matched_at": now}))


# -- findings --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stored:
    id: int
    state: str
    values: dict[str, Any]  # SIGNIFICANT fields + cvss, aliases, suppressed_reason, data


def _row_values(f: FindingRow) -> dict[str, Any]:
    return {
        "aliases": list(f.aliases), "severity": f.severity, "cvss": f.cvss, "kev": f.kev,
        "fixed_versions": list(f.fixed_versions), "status": f.status,
        "suppressed": f.suppressed, "suppressed_reason": f.suppressed_reason, "data": f.data,
    }


_STORED = ("aliases", "severity", "cvss", "kev", "fixed_versions", "status", "suppressed",
           "suppressed_reason", "data")


def _load(conn: Connection, digest: str) -> dict[tuple[str, str], _Stored]:
    return _load_many(conn, {digest: None}).get(digest, {})


_JSON_STORED = ("aliases", "fixed_versions", "data")


def _load_many(conn: Connection, scopes: dict[str, Collection[str] | None],
               ) -> dict[str, dict[tuple[str, str], _Stored]]:
    """The stored findings of each image of ``scopes`` by key, a query per thousand images;
    only those on the purls its scope names (None: all). JSON columns are fetched as text
    and decoded for those kept: a delta's images keep few of their findings."""
    c = t.findings.c
    stored: dict[str, dict[tuple[str, str], _Stored]] = {}
    columns = [c[k] if k not in _JSON_STORED else sa.cast(c[k], sa.Text).label(k)
               for k in _STORED]
    for batch in chunks(sorted(scopes)):
        rows = conn.execute(
            sa.select(c.image_digest, c.id, c.advisory_id, c.package_purl, c.state, *columns)
            .where(c.image_digest.in_(batch))
        ).mappings()
        for r in rows:
            scope = scopes[r["image_digest"]]
            if scope is not None and r["package_purl"] not in scope:
                continue
            values = {k: json.loads(r[k]) if k in _JSON_STORED else r[k] for k in _STORED}
            stored.setdefault(r["image_digest"], {})[(r["advisory_id"], r["package_purl"])] = \
                _Stored(r["id"], r["state"], values)
    return stored


@dataclass(slots=True)
class _Diff:
    """What one diff will write, gathered first and written in batches."""

    inserts: list[FindingRow]
    updates: list[tuple[_Stored, FindingRow]]
    fixes: list[tuple[tuple[str, str], _Stored]]
    changes: list[FindingChange]  # without event ids yet; same order as events


def diff_findings(conn: Connection, digest: str, findings: Iterable[FindingRow], *,
                  scope: Collection[str] | None, now: dt.datetime, route: Router | None,
                  reason: str, stored: dict[tuple[str, str], _Stored] | None = None) -> Changes:
    """``stored``: the image's stored findings when the caller read them already."""
    if stored is None:
        stored = _load(conn, digest)
    incoming: dict[tuple[str, str], FindingRow] = {}
    for f in findings:
        if scope is None or f.package_purl in scope:  # only re-matched packages change
            incoming.setdefault(f.key, f)  # one finding per key: the first wins
    diff = _compare(stored, incoming, scope)
    history = _write_findings(conn, digest, diff, now)
    events = _write_events(conn, digest, diff, stored=stored, incoming=incoming, now=now,
                           route=route)
    rows = [{"finding_id": finding_id, "at": now, "change": change, "reason": reason,
             "details": details | {"event": event_id}}
            for (finding_id, change, details), event_id in zip(history, events, strict=True)]
    for batch in chunks(rows):
        conn.execute(t.finding_history.insert(), batch)
    _count_daily(conn, diff, stored, now)
    changes = [_with_event(c, e) for c, e in zip(diff.changes, events, strict=True)]
    return Changes(
        digest=digest,
        new=tuple(c for c in changes if c.type is EventType.NEW_FINDING),
        fixed=tuple(c for c in changes if c.type is EventType.FIXED_FINDING),
        changed=tuple(c for c in changes if c.type is EventType.FINDING_CHANGED),
    )


def _with_event(change: FindingChange, event_id: int) -> FindingChange:
    return FindingChange(type=change.type, advisory_id=change.advisory_id,
                         package_purl=change.package_purl, severity=change.severity,
                         changes=change.changes, reopened=change.reopened, event_id=event_id)


def _compare(stored: dict[tuple[str, str], _Stored], incoming: dict[tuple[str, str], FindingRow],
             scope: Collection[str] | None) -> _Diff:
    diff = _Diff([], [], [], [])
    for key, f in incoming.items():
        old = stored.get(key)
        if old is None:
            diff.inserts.append(f)
            diff.changes.append(_change(EventType.NEW_FINDING, f))
            continue
        new_values = _row_values(f)
        if old.state == FindingState.FIXED:
            diff.updates.append((old, f))
            diff.changes.append(_change(EventType.NEW_FINDING, f, reopened=True))
            continue
        changed = tuple((k, old.values[k], new_values[k]) for k in SIGNIFICANT
                        if old.values[k] != new_values[k])
        if changed:
            diff.changes.append(_change(EventType.FINDING_CHANGED, f, changes=changed))
        if changed or new_values != old.values:
            diff.updates.append((old, f))
    for key, old in stored.items():
        if old.state != FindingState.OPEN or key in incoming:
            continue
        if scope is not None and key[1] not in scope:
            continue  # not re-matched: unknown, unchanged
        diff.fixes.append((key, old))
        diff.changes.append(FindingChange(type=EventType.FIXED_FINDING, advisory_id=key[0],
                                          package_purl=key[1], severity=old.values["severity"]))
    return diff


def _change(kind: EventType, f: FindingRow, *, reopened: bool = False,
            changes: tuple[tuple[str, Any, Any], ...] = ()) -> FindingChange:
    return FindingChange(type=kind, advisory_id=f.advisory_id, package_purl=f.package_purl,
                         severity=f.severity, changes=changes, reopened=reopened)


def _write_findings(conn: Connection, digest: str, diff: _Diff,
                    now: dt.datetime) -> list[tuple[int, str, JSON]]:
    """Inserts, updates and fixes; the history entries (finding id, change, details) in the
    order of ``diff.changes``."""
    ids: dict[tuple[str, str], int] = {}
    if diff.inserts:
        rows = [{"image_digest": digest, "advisory_id": f.advisory_id,
                 "package_purl": f.package_purl, "state": FindingState.OPEN, "first_seen": now,
                 "updated_at": now, **_row_values(f)} for f in diff.inserts]
        for batch, keys in zip(chunks(rows), chunks([f.key for f in diff.inserts]), strict=True):
            result = conn.execute(
                t.findings.insert().returning(t.findings.c.id, sort_by_parameter_order=True),
                batch)
            ids.update(zip(keys, result.scalars(), strict=True))
        _write_names(conn, [(ids[f.key], f) for f in diff.inserts])
    for old, f in diff.updates:
        ids[f.key] = old.id
        conn.execute(t.findings.update().where(t.findings.c.id == old.id).values(
            state=FindingState.OPEN, fixed_at=None, updated_at=now, **_row_values(f)))
        if list(f.aliases) != old.values["aliases"]:
            conn.execute(t.finding_names.delete().where(t.finding_names.c.finding_id == old.id))
            _write_names(conn, [(old.id, f)])
    for key, old in diff.fixes:
        ids[key] = old.id
        conn.execute(t.findings.update().where(t.findings.c.id == old.id).values(
            state=FindingState.FIXED, fixed_at=now, updated_at=now))
    history = []
    for change in diff.changes:
        key = (change.advisory_id, change.package_purl)
        kind = {EventType.NEW_FINDING: "reopened" if change.reopened else "new",
                EventType.FIXED_FINDING: "fixed", EventType.FINDING_CHANGED: "changed"}
        details: JSON = {"severity": change.severity}
        if change.changes:
            details["changes"] = [{"field": k, "before": b, "after": a}
                                  for k, b, a in change.changes]
        history.append((ids[key], kind[change.type], details))
    return history


def _write_names(conn: Connection, findings: list[tuple[int, FindingRow]]) -> None:
    """Every name a finding answers to, upper-cased (ids are case-insensitive to users)."""
    rows = [{"finding_id": fid, "name": name}
            for fid, f in findings
            for name in dict.fromkeys(n.upper() for n in (f.advisory_id, *f.aliases))]
    for batch in chunks(rows):
        conn.execute(t.finding_names.insert(), batch)


# -- events ----------------------------------------------------------------------------------


def image_context(conn: Connection, digest: str) -> JSON:
    """What an event says about its image: digest, repository, current tags, owners and
    deployments, as they are when the event is written."""
    repository = conn.execute(
        sa.select(t.images.c.repository).where(t.images.c.digest == digest)).scalar_one()
    tag_rows = conn.execute(
        sa.select(t.tags.c.repository, t.tags.c.tag)
        .where(t.tags.c.image_digest == digest, t.tags.c.current.is_(True))
        .order_by(t.tags.c.repository, t.tags.c.tag)).all()
    owners = conn.execute(sa.select(t.owners.c.owner).where(t.owners.c.image_digest == digest)
                          .order_by(t.owners.c.owner)).scalars().all()
    d = t.deployments.c
    deployed = conn.execute(
        sa.select(d.cluster, d.namespace, d.workload, d.container)
        .where(d.image_digest == digest).order_by(d.cluster, d.namespace, d.workload,
                                                  d.container)).all()
    return {
        "digest": digest, "repository": repository,
        "tags": [tag if repo == repository else f"{repo}:{tag}" for repo, tag in tag_rows],
        "owners": list(owners),
        "deployments": [{"cluster": r.cluster, "namespace": r.namespace,
                         "workload": r.workload, "container": r.container} for r in deployed],
    }


def add_event(conn: Connection, kind: str, digest: str, payload: JSON, *,
              channels: Iterable[str], now: dt.datetime) -> int:
    """One event and its pending deliveries, in the caller's transaction; its id."""
    (event_id,) = add_events(conn, digest, [(kind, payload, channels)], now=now)
    return event_id


def add_events(conn: Connection, digest: str,
               events: Sequence[tuple[str, JSON, Iterable[str]]], *,
               now: dt.datetime) -> list[int]:
    """Events (type, payload, channels) of one image and their pending deliveries, written
    in batches; their ids in order."""
    ids: list[int] = []
    for some in chunks(events):
        result = conn.execute(
            t.events.insert().returning(t.events.c.id, sort_by_parameter_order=True),
            [{"uid": str(uuid.uuid4()), "type": kind, "image_digest": digest,
              "payload": payload, "created_at": now} for kind, payload, _ in some])
        ids.extend(int(i) for i in result.scalars())
    rows = [{"event_id": event_id, "channel": ch, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "locked_by": "", "last_error": ""}
            for event_id, (_, _, channels) in zip(ids, events, strict=True)
            for ch in dict.fromkeys(channels)]
    for batch in chunks(rows):
        conn.execute(t.deliveries.insert(), batch)
    return ids


def _write_events(conn: Connection, digest: str, diff: _Diff, *,
                  stored: dict[tuple[str, str], _Stored],
                  incoming: dict[tuple[str, str], FindingRow], now: dt.datetime,
                  route: Router | None) -> list[int]:
    if not diff.changes:
        return []
    image = image_context(conn, digest)
    events: list[tuple[str, JSON, Iterable[str]]] = []
    for change in diff.changes:
        key = (change.advisory_id, change.package_purl)
        finding = incoming[key].data if key in incoming else stored[key].values["data"]
        payload: JSON = {"event": change.type.value, "image": image, "finding": finding,
                         "occurredAt": now.isoformat().replace("+00:00", "Z")}
        if change.reopened:
            payload["reopened"] = True
        if change.changes:
            payload["changes"] = [{"field": k, "before": b, "after": a}
                                  for k, b, a in change.changes]
        channels = tuple(route(change.type.value, payload)) if route is not None else ()
        events.append((change.type.value, payload, channels))
    return add_events(conn, digest, events, now=now)


# -- daily counts ----------------------------------------------------------------------------


def _count_daily(conn: Connection, diff: _Diff, stored: dict[tuple[str, str], _Stored],
                 now: dt.datetime) -> None:
    """Today's new / fixed counts and the running open count, by severity. Open counts only
    unsuppressed findings; a suppression or severity change moves one between counts."""
    opened: Counter[str] = Counter()
    new: Counter[str] = Counter()
    fixed: Counter[str] = Counter()
    for f in diff.inserts:
        new[f.severity] += 1
        opened[f.severity] += 0 if f.suppressed else 1
    for old, f in diff.updates:
        if old.state == FindingState.FIXED:
            new[f.severity] += 1
        elif not old.values["suppressed"]:
            opened[old.values["severity"]] -= 1
        opened[f.severity] += 0 if f.suppressed else 1
    for _, old in diff.fixes:
        fixed[old.values["severity"]] += 1
        opened[old.values["severity"]] -= 0 if old.values["suppressed"] else 1
    rows = [{"day_": now.date(), "severity_": severity, "opened": opened[severity],
             "new_": new[severity], "fixed_": fixed[severity]}
            for severity in sorted(set(opened) | set(new) | set(fixed))
            if opened[severity] or new[severity] or fixed[severity]]
    if rows:
        conn.execute(_bump_statement(conn.dialect.name), rows)


@functools.cache
def _bump_statement(dialect: str) -> Any:
    """Add to a day's counts (executemany over severities); a day's first row starts from
    the last day's open count. Built once per dialect: building Core statements costs more
    than running this one."""
    dc = t.daily_counts
    day = sa.bindparam("day_", type_=sa.Date)
    severity = sa.bindparam("severity_", type_=sa.Text)
    opened, new, fixed = (sa.bindparam(n, type_=sa.Integer) for n in ("opened", "new_", "fixed_"))
    previous = (sa.select(dc.c.open).where(dc.c.severity == severity, dc.c.day < day)
                .order_by(dc.c.day.desc()).limit(1).scalar_subquery())
    insert = postgresql.insert(dc) if dialect == "postgresql" else sqlite.insert(dc)
    return insert.values(
        day=day, severity=severity, open=sa.func.coalesce(previous, 0) + opened, new=new,
        fixed=fixed,
    ).on_conflict_do_update(
        index_elements=["day", "severity"],
        set_={"open": dc.c.open + opened, "new": dc.c.new + new, "fixed": dc.c.fixed + fixed},
    )


# -- the monitor's additions: assessments and advisory builds ---------------------------------


def set_assessment(conn: Connection, digest: str, *, base: JSON | None = None,
                   policy: JSON | None = None,
                   signatures: Sequence[JSON] | None = None) -> bool:
    """Store an image's base assessment, policy decision or signatures (each when given),
    found after its scan; False when the image is unknown."""
    values: dict[str, Any] = {}
    if base is not None:
        values["base"] = base
    if policy is not None:
        values["policy"] = policy
    if signatures is not None:
        values["signatures"] = list(signatures)
    if not values:
        return False
    done = conn.execute(t.images.update().where(t.images.c.digest == digest).values(values))
    if done.rowcount != 1:
        return False
    if base is not None or policy is not None:
        summary.refresh(conn, digest)
    return True


def note_build(conn: Connection, build: str, now: dt.datetime) -> None:
    """Advisory build ``build`` is the one matched now (``last_build`` answers it)."""
    _note_build(conn, build, now)


def advance_build(conn: Connection, old: str, new: str, *,
                  awaiting: Sequence[str] = (), marker: str = "") -> None:
    """Images matched against ``old`` are now matched against ``new``, except ``awaiting``
    (they await a re-match: their ``matched_build`` becomes ``marker``, which no update
    takes for a build, so a re-match that never happens leaves them for a full one)."""
    i = t.images.c
    conn.execute(t.images.update().where(i.matched_build == old, i.status == ImageStatus.SCANNED)
                 .values(matched_build=new))
    for batch in chunks(awaiting):
        conn.execute(t.images.update().where(i.digest.in_(batch)).values(matched_build=marker))


def images_with_base(conn: Connection) -> list[tuple[str, str, JSON]]:
    """(digest, repository, base assessment) of every image that has one."""
    i = t.images.c
    return [(r.digest, r.repository, r.base) for r in conn.execute(
        sa.select(i.digest, i.repository, i.base).where(i.base.is_not(None))
        .order_by(i.digest))]
