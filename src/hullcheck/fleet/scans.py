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
        "entry_hash": p.entry_hash,
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
                    reason: str = "advisory update", note: bool = True) -> list[Changes]:
    """``apply_rematch`` of many images in the caller's transaction, set-based: one lock,
    one build update and one read of the stored findings for all of them (a delta re-match
    visits most images to change nothing). Images no longer stored are skipped; the
    changes of the others, in order. ``note``: as ``lock_images``."""
    present = lock_images(conn, [r.digest for r in images], build=build, now=now, note=note)
    stored = _load_many(conn, {r.digest: r.purls for r in images if r.digest in present})
    why = reason if not build else f"{reason} {build}"
    work = [_image_diff(r.digest, r.findings, r.purls, stored.get(r.digest, {}))
            for r in images if r.digest in present]
    return _apply_diffs(conn, work, now=now, route=route, reason=why)


def lock_images(conn: Connection, digests: Iterable[str], *, build: str,
                now: dt.datetime, note: bool = True) -> set[str]:
    """Lock the stored images of ``digests`` (in digest order: two batches never lock in a
    cycle) and mark them matched against ``build`` (when given); the stored ones. ``note``
    False: the build's ``advisory_builds`` row is left alone (a re-match job's plan noted
    it; upserted by every job, it stayed locked until each committed, and two workers'
    jobs ran one at a time)."""
    i = t.images.c
    present: set[str] = set()
    for batch in chunks(sorted(set(digests))):
        present.update(conn.execute(sa.select(i.digest).where(i.digest.in_(batch))
                                    .order_by(i.digest).with_for_update()).scalars())
    if build:
        for batch in chunks(sorted(present)):
            conn.execute(t.images.update().where(i.digest.in_(batch)).values(matched_build=build))
        if note:
            _note_build(conn, build, now)
    return present


def bump_daily(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` (day_, severity_, opened, new_, fixed_) to the daily counts."""
    conn.execute(_bump_statement(conn.dialect.name), rows)


def _note_build(conn: Connection, build: str, now: dt.datetime) -> None:
    conn.execute(upsert(conn, t.advisory_builds).values(build_id=build, matched_at=now)
                 .on_conflict_do_update(index_elements=["build_id"], set_={"matched_at": now}))


# -- findings --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stored:
    id: int
    state: str
    values: dict[str, Any]  # SIGNIFICANT fields + cvss, aliases, suppressed_reason (+ data)
    data_text: str = ""  # the stored ``data`` JSON as text, decoded when needed (``data``)

    @property
    def data(self) -> Any:
        if "data" not in self.values:
            self.values["data"] = json.loads(self.data_text)
        return self.values["data"]

    def same_data(self, data: Any, text: str) -> bool:
        """Whether the stored ``data`` is ``data`` (``text``: its JSON as the store writes
        it): equal text is equal data, else the values are compared."""
        return text == self.data_text or self.data == data


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
        query = sa.select(c.image_digest, c.id, c.advisory_id, c.package_purl, c.state,
                          *columns).where(c.image_digest.in_(batch))
        purls = _purls([scopes[d] for d in batch])
        if purls is not None:  # the scopes' purls: the rest is not read at all
            query = query.where(c.package_purl.in_(purls))
        rows = conn.execute(query)
        for r in rows:
            scope = scopes[r.image_digest]
            if scope is not None and r.package_purl not in scope:
                continue
            values = {k: _loads(r[n]) if k in _JSON_STORED else r[n]
                      for n, k in enumerate(_STORED, start=5) if k != "data"}
            stored.setdefault(r.image_digest, {})[(r.advisory_id, r.package_purl)] = \
                _Stored(r.id, r.state, values, r.data)
    return stored


PURLS_IN = 5_000  # purls of a batch's scopes named in the query (more: filtered here)


def _purls(scopes: Sequence[Collection[str] | None]) -> list[str] | None:
    """Every purl of ``scopes`` when they are few enough to name in a query, else None."""
    if any(scope is None for scope in scopes):
        return None
    found = sorted({p for scope in scopes if scope is not None for p in scope})
    return found if len(found) <= PURLS_IN else None


@functools.lru_cache(maxsize=65_536)
def _loads(text: str) -> Any:
    """A stored JSON list (aliases, fixed versions), decoded once per distinct text: many
    images store the same finding. Callers only compare and quote it, never change it."""
    return json.loads(text)


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
    (changes,) = _apply_diffs(conn, [_image_diff(digest, findings, scope, stored)], now=now,
                              route=route, reason=reason)
    return changes


@dataclass(slots=True)
class _ImageDiff:
    """One image's diff, with what it was computed from (events quote either side)."""

    digest: str
    diff: _Diff
    stored: dict[tuple[str, str], _Stored]
    incoming: dict[tuple[str, str], FindingRow]


def _image_diff(digest: str, findings: Iterable[FindingRow], scope: Collection[str] | None,
                stored: dict[tuple[str, str], _Stored]) -> _ImageDiff:
    incoming: dict[tuple[str, str], FindingRow] = {}
    for f in findings:
        if scope is None or f.package_purl in scope:  # only re-matched packages change
            incoming.setdefault(f.key, f)  # one finding per key: the first wins
    return _ImageDiff(digest, _compare(stored, incoming, scope), stored, incoming)


def _apply_diffs(conn: Connection, work: Sequence[_ImageDiff], *, now: dt.datetime,
                 route: Router | None, reason: str) -> list[Changes]:
    """Write the diffs of many images at once: each kind of row (findings inserted, updated,
    fixed; names; events and their image context; deliveries; history; daily counts) in a
    few statements per thousand rows, whatever the number of images."""
    ids = _write_findings(conn, work, now)
    events = _write_events(conn, work, now=now, route=route)
    rows = []
    out = []
    for w, event_ids in zip(work, events, strict=True):
        for change, event_id in zip(w.diff.changes, event_ids, strict=True):
            rows.append({"finding_id": ids[(w.digest, change.advisory_id, change.package_purl)],
                         "at": now, "change": _history_kind(change), "reason": reason,
                         "details": _history_details(change) | {"event": event_id}})
        changes = [_with_event(c, e) for c, e in zip(w.diff.changes, event_ids, strict=True)]
        out.append(Changes(
            digest=w.digest,
            new=tuple(c for c in changes if c.type is EventType.NEW_FINDING),
            fixed=tuple(c for c in changes if c.type is EventType.FIXED_FINDING),
            changed=tuple(c for c in changes if c.type is EventType.FINDING_CHANGED),
        ))
    for batch in chunks(rows):
        conn.execute(t.finding_history.insert(), batch)
    _count_daily(conn, [w.diff for w in work], now)
    summaries_changed(conn, [w.digest for w in work if w.diff.changes or w.diff.updates])
    return out


def summaries_changed(conn: Connection, digests: Sequence[str]) -> None:
    """The findings of ``digests`` changed in this transaction: the one place where the
    per-image summaries kept beside the findings (the fleet page's) are refreshed for a set
    of images."""
    summary.refresh_many(conn, digests)


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
        if old.state == FindingState.FIXED:
            diff.updates.append((old, f))
            diff.changes.append(_change(EventType.NEW_FINDING, f, reopened=True))
            continue
        new_values = _row_values(f)
        changed = tuple((k, old.values[k], new_values[k]) for k in SIGNIFICANT
                        if old.values[k] != new_values[k])
        if changed:
            diff.changes.append(_change(EventType.FINDING_CHANGED, f, changes=changed))
        if changed or any(old.values[k] != new_values[k] for k in _STORED if k != "data") \
                or not old.same_data(f.data, _text(f.data)):
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


def _text(data: Any) -> str:
    """``data`` as JSON text, as the store's JSON columns write it (json.dumps, SQLAlchemy's
    default serializer); once per finding row object, which many images share."""
    key = id(data)
    found = _TEXTS.get(key)
    if found is None or found[0] is not data:
        if len(_TEXTS) > 200_000:
            _TEXTS.clear()
        found = _TEXTS[key] = (data, json.dumps(data))
    return found[1]


_TEXTS: dict[int, tuple[Any, str]] = {}  # id(data) -> (data, its text): the object is kept


def _history_kind(change: FindingChange) -> str:
    if change.type is EventType.NEW_FINDING:
        return "reopened" if change.reopened else "new"
    return "fixed" if change.type is EventType.FIXED_FINDING else "changed"


def _history_details(change: FindingChange) -> JSON:
    details: JSON = {"severity": change.severity}
    if change.changes:
        details["changes"] = [{"field": k, "before": b, "after": a}
                              for k, b, a in change.changes]
    return details


@functools.cache
def _update_statement() -> Any:
    """A finding (re)opened with new values, by id: one statement, run as executemany."""
    c = t.findings.c
    return t.findings.update().where(c.id == sa.bindparam("b_id")).values(
        state=sa.bindparam("b_state"), fixed_at=sa.bindparam("b_fixed_at", type_=c.fixed_at.type),
        updated_at=sa.bindparam("b_updated_at", type_=c.updated_at.type),
        **{k: sa.bindparam(f"b_{k}", type_=c[k].type) for k in _STORED})


@functools.cache
def _fix_statement() -> Any:
    c = t.findings.c
    return t.findings.update().where(c.id == sa.bindparam("b_id")).values(
        state=FindingState.FIXED.value,
        fixed_at=sa.bindparam("b_now", type_=c.fixed_at.type),
        updated_at=sa.bindparam("b_now2", type_=c.updated_at.type))


def _write_findings(conn: Connection, work: Sequence[_ImageDiff],
                    now: dt.datetime) -> dict[tuple[str, str, str], int]:
    """Inserts, updates and fixes of every image, batched across images; the id of each
    finding that changed by (digest, advisory id, purl)."""
    ids: dict[tuple[str, str, str], int] = {}
    inserts = [(w.digest, f) for w in work for f in w.diff.inserts]
    rows = [{"image_digest": d, "advisory_id": f.advisory_id, "package_purl": f.package_purl,
             "state": FindingState.OPEN, "first_seen": now, "updated_at": now,
             **_row_values(f)} for d, f in inserts]
    taken = take_ids(conn, t.findings, len(rows))
    for row, (d, f), i in zip(rows, inserts, taken, strict=True):
        row["id"] = i
        ids[(d, *f.key)] = i
    for batch in chunks(rows):
        conn.execute(t.findings.insert(), batch)
    named = [(ids[(d, *f.key)], f) for d, f in inserts]
    updates = [(w.digest, old, f) for w in work for old, f in w.diff.updates]
    params = [{"b_id": old.id, "b_state": FindingState.OPEN.value, "b_fixed_at": None,
               "b_updated_at": now, **{f"b_{k}": v for k, v in _row_values(f).items()}}
              for _, old, f in updates]
    for batch in chunks(params):
        conn.execute(_update_statement(), batch)
    renamed = [(old.id, f) for _, old, f in updates if list(f.aliases) != old.values["aliases"]]
    for batch in chunks([{"b_id": fid} for fid, _ in renamed]):
        conn.execute(t.finding_names.delete().where(
            t.finding_names.c.finding_id == sa.bindparam("b_id")), batch)
    _write_names(conn, named + renamed)
    ids.update(((d, *f.key), old.id) for d, old, f in updates)
    fixes = [(w.digest, key, old) for w in work for key, old in w.diff.fixes]
    for batch in chunks([{"b_id": old.id, "b_now": now, "b_now2": now}
                         for _, _, old in fixes]):
        conn.execute(_fix_statement(), batch)
    ids.update(((d, *key), old.id) for d, key, old in fixes)
    return ids


def take_ids(conn: Connection, table: sa.Table, n: int) -> list[int]:
    """``n`` ids of ``table`` taken now, in increasing order, so that many rows are written
    in one multi-row statement: an INSERT ... RETURNING in parameter order is written a row
    at a time by SQLAlchemy on SQLite (no sentinel), and its ids are needed for the rows
    that refer to them."""
    if n == 0:
        return []
    if conn.dialect.name == "postgresql":
        return list(conn.execute(sa.text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        ), {"table": table.name, "n": n}).scalars())
    # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE): nobody else inserts.
    # AUTOINCREMENT tables never reuse an id: above their sequence too, not only max(id).
    top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
    if table.dialect_options["sqlite"]["autoincrement"]:
        seq = conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"),
                           {"t": table.name}).scalar()
        top = max(top, seq or 0)
    return list(range(top + 1, top + 1 + n))


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
    found = image_contexts(conn, [digest])
    if digest not in found:
        raise KeyError(f"image {digest} is not in the store")
    return found[digest]


def image_contexts(conn: Connection, digests: Sequence[str]) -> dict[str, JSON]:
    """``image_context`` of many images: four queries per thousand images."""
    out: dict[str, JSON] = {}
    d = t.deployments.c
    for batch in chunks(sorted(set(digests))):
        for digest, repository in conn.execute(
                sa.select(t.images.c.digest, t.images.c.repository)
                .where(t.images.c.digest.in_(batch))):
            out[digest] = {"digest": digest, "repository": repository, "tags": [],
                           "owners": [], "deployments": []}
        for r in conn.execute(
                sa.select(t.tags.c.image_digest, t.tags.c.repository, t.tags.c.tag)
                .where(t.tags.c.image_digest.in_(batch), t.tags.c.current.is_(True))
                .order_by(t.tags.c.image_digest, t.tags.c.repository, t.tags.c.tag)):
            if r.image_digest in out:
                own = out[r.image_digest]["repository"]
                out[r.image_digest]["tags"].append(r.tag if r.repository == own
                                                   else f"{r.repository}:{r.tag}")
        for o in conn.execute(
                sa.select(t.owners.c.image_digest, t.owners.c.owner)
                .where(t.owners.c.image_digest.in_(batch))
                .order_by(t.owners.c.image_digest, t.owners.c.owner)):
            if o.image_digest in out:
                out[o.image_digest]["owners"].append(o.owner)
        for dep in conn.execute(
                sa.select(d.image_digest, d.cluster, d.namespace, d.workload, d.container)
                .where(d.image_digest.in_(batch))
                .order_by(d.image_digest, d.cluster, d.namespace, d.workload, d.container)):
            if dep.image_digest in out:
                out[dep.image_digest]["deployments"].append(
                    {"cluster": dep.cluster, "namespace": dep.namespace,
                     "workload": dep.workload, "container": dep.container})
    return out


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
    return _add_events(conn, [(digest, *e) for e in events], now=now)


def _add_events(conn: Connection, events: Sequence[tuple[str, str, JSON, Iterable[str]]], *,
                now: dt.datetime) -> list[int]:
    """Events (digest, type, payload, channels) of any images, and their deliveries."""
    ids = take_ids(conn, t.events, len(events))
    for some in chunks(list(zip(ids, events, strict=True))):
        conn.execute(t.events.insert(), [
            {"id": i, "uid": str(uuid.uuid4()), "type": kind, "image_digest": digest,
             "payload": payload, "created_at": now} for i, (digest, kind, payload, _) in some])
    rows = [{"event_id": event_id, "channel": ch, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "locked_by": "", "last_error": ""}
            for event_id, (_, _, _, channels) in zip(ids, events, strict=True)
            for ch in dict.fromkeys(channels)]
    for batch in chunks(rows):
        conn.execute(t.deliveries.insert(), batch)
    return ids


def _write_events(conn: Connection, work: Sequence[_ImageDiff], *, now: dt.datetime,
                  route: Router | None) -> list[list[int]]:
    """The events of every image's changes (image context read in bulk); their ids, per
    image in the order of its changes."""
    contexts = image_contexts(conn, [w.digest for w in work if w.diff.changes])
    when = now.isoformat().replace("+00:00", "Z")
    events: list[tuple[str, str, JSON, Iterable[str]]] = []
    for w in work:
        for change in w.diff.changes:
            key = (change.advisory_id, change.package_purl)
            finding = w.incoming[key].data if key in w.incoming else \
                w.stored[key].data
            payload: JSON = {"event": change.type.value, "image": contexts[w.digest],
                             "finding": finding, "occurredAt": when}
            if change.reopened:
                payload["reopened"] = True
            if change.changes:
                payload["changes"] = [{"field": k, "before": b, "after": a}
                                      for k, b, a in change.changes]
            channels = tuple(route(change.type.value, payload)) if route is not None else ()
            events.append((w.digest, change.type.value, payload, channels))
    ids = iter(_add_events(conn, events, now=now))
    return [[next(ids) for _ in w.diff.changes] for w in work]


# -- daily counts ----------------------------------------------------------------------------


def _count_daily(conn: Connection, diffs: Sequence[_Diff], now: dt.datetime) -> None:
    """Today's new / fixed counts and the running open count, by severity. Open counts only
    unsuppressed findings; a suppression or severity change moves one between counts."""
    opened: Counter[str] = Counter()
    new: Counter[str] = Counter()
    fixed: Counter[str] = Counter()
    for diff in diffs:
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
