"""Who may do what, and what they did: API tokens, the audit log, triage decisions, and
the deployments clusters report.

Tokens are 256 random bits (``secrets.token_urlsafe(32)``) behind a ``hc_`` prefix. The
store keeps their SHA-256 only: for a secret with that much entropy a fast hash is right (a
slow password hash such as argon2 defends guessable secrets; nobody can enumerate 2^256),
and it lets a token be found by an index lookup on the hash. The stored and computed hashes
are then compared with ``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hullcheck.errors import UsageError
from hullcheck.fleet import schema as t
from hullcheck.fleet.model import JSON, AuditEntry, Deployment, Scope, TokenInfo, TriageDecision
from hullcheck.fleet.sql import chunks, upsert

TOKEN_PREFIX = "hc_"  # noqa: S105 - a prefix that makes tokens recognisable, not a secret
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # at most one write per token per minute
tk = t.tokens.c


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _token(r: RowMapping) -> TokenInfo:
    return TokenInfo(id=r["id"], name=r["name"], scope=Scope(r["scope"]),
                     created_at=r["created_at"], last_used_at=r["last_used_at"],
                     revoked_at=r["revoked_at"])


def create_token(conn: Connection, name: str, scope: Scope, *,
                 now: dt.datetime) -> tuple[TokenInfo, str]:
    """A new token named ``name``: its info and the token itself (shown once, never stored)."""
    if not name or len(name) > 200 or not name.isprintable():
        raise UsageError("a token name must be 1-200 printable characters")
    exists = conn.execute(sa.select(tk.id).where(tk.name == name)).first()
    if exists is not None:
        raise UsageError(f"a token named {name!r} exists; revoke it or choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        t.tokens.insert().values(name=name, scope=scope, token_sha256=token_hash(token),
                                 created_at=now)
        .returning(*t.tokens.c)).mappings().one()
    return _token(row), token


def verify_token(conn: Connection, token: str) -> TokenInfo | None:
    """The token's info when it is known and not revoked, else None (a read)."""
    digest = token_hash(token)
    row = conn.execute(sa.select(t.tokens).where(tk.token_sha256 == digest)).mappings().first()
    if row is None or not hmac.compare_digest(row["token_sha256"], digest):
        return None
    if row["revoked_at"] is not None:
        return None
    return _token(row)


def use_is_due(info: TokenInfo, now: dt.datetime) -> bool:
    """Whether ``last_used_at`` is old enough to be written again."""
    return info.last_used_at is None or now - info.last_used_at >= LAST_USED_RESOLUTION


def touch_token(conn: Connection, token_id: int, *, now: dt.datetime) -> None:
    """Note a use; written at most once per ``LAST_USED_RESOLUTION`` so that reads do not
    all become writes."""
    conn.execute(t.tokens.update()
                 .where(tk.id == token_id, sa.or_(tk.last_used_at.is_(None),
                                                  tk.last_used_at <= now - LAST_USED_RESOLUTION))
                 .values(last_used_at=now))


def list_tokens(conn: Connection) -> tuple[TokenInfo, ...]:
    return tuple(_token(r) for r in conn.execute(sa.select(t.tokens).order_by(tk.name))
                 .mappings())


def revoke_token(conn: Connection, name: str, *, now: dt.datetime) -> bool:
    """Revoke the token named ``name``; False when there is none (or it was revoked)."""
    done = conn.execute(t.tokens.update().where(tk.name == name, tk.revoked_at.is_(None))
                        .values(revoked_at=now))
    return done.rowcount == 1


# -- audit log ------------------------------------------------------------------------------

al = t.audit_log.c


def audit(conn: Connection, *, actor: str, action: str, target: str, reason: str = "",
          details: JSON | None = None, now: dt.datetime) -> int:
    return int(conn.execute(
        t.audit_log.insert().values(at=now, actor=actor, action=action, target=target,
                                    reason=reason, details=details or {})
        .returning(al.id)).scalar_one())


def audit_entries(conn: Connection, *, target: str | None = None, before: int | None = None,
                  limit: int = 100) -> tuple[AuditEntry, ...]:
    """Newest first; ``before`` (an entry id) pages back."""
    query = sa.select(t.audit_log)
    if target is not None:
        query = query.where(al.target == target)
    if before is not None:
        query = query.where(al.id < before)
    return tuple(AuditEntry(id=r["id"], at=r["at"], actor=r["actor"], action=r["action"],
                            target=r["target"], reason=r["reason"], details=r["details"])
                 for r in conn.execute(query.order_by(al.id.desc()).limit(limit)).mappings())


# -- triage ---------------------------------------------------------------------------------

tr = t.triage.c


def decide(conn: Connection, decision: TriageDecision, *, actor: str, now: dt.datetime) -> None:
    """Record (or replace) a triage decision, and audit it, in the caller's transaction."""
    values = {"assignee": decision.assignee, "vex_status": decision.vex_status,
              "vex_justification": decision.vex_justification, "reason": decision.reason,
              "expires": decision.expires, "actor": actor, "at": now}
    conn.execute(
        upsert(conn, t.triage).values(scope=decision.scope, target=decision.target,
                                      advisory_id=decision.advisory_id,
                                      package_purl=decision.package_purl,
                                      action=decision.action, **values)
        .on_conflict_do_update(
            index_elements=["scope", "target", "advisory_id", "package_purl", "action"],
            set_=values))
    audit(conn, actor=actor, action=f"triage.{decision.action}",
          target=f"{decision.scope}:{decision.target}", reason=decision.reason,
          details={"advisory": decision.advisory_id, "package": decision.package_purl,
                   "assignee": decision.assignee, "vexStatus": decision.vex_status,
                   "vexJustification": decision.vex_justification,
                   **({"expires": decision.expires.isoformat()} if decision.expires else {})},
          now=now)


def decisions(conn: Connection, *, digest: str | None = None,
              repository: str | None = None) -> tuple[TriageDecision, ...]:
    """The decisions that apply to an image (its own and its repository's), or to a
    repository."""
    return decisions_of(conn, digests=[digest] if digest is not None else [],
                        repositories=[repository] if repository is not None else [])


def decisions_of(conn: Connection, *, digests: Sequence[str],
                 repositories: Sequence[str]) -> tuple[TriageDecision, ...]:
    """The decisions about any of ``digests`` (image scope) or ``repositories``."""
    conds = [sa.and_(tr.scope == "image", tr.target.in_(some)) for some in chunks(digests)]
    conds += [sa.and_(tr.scope == "repository", tr.target.in_(some))
              for some in chunks(repositories)]
    if not conds:
        return ()
    rows = conn.execute(sa.select(t.triage).where(sa.or_(*conds))
                        .order_by(tr.advisory_id, tr.package_purl, tr.action)).mappings()
    return tuple(TriageDecision(scope=r["scope"], target=r["target"], advisory_id=r["advisory_id"],
                                action=r["action"], package_purl=r["package_purl"],
                                assignee=r["assignee"], vex_status=r["vex_status"],
                                vex_justification=r["vex_justification"], reason=r["reason"],
                                expires=r["expires"])
                 for r in rows)


# -- deployments ----------------------------------------------------------------------------


def replace_deployments(conn: Connection, cluster: str, deployments: Iterable[Deployment], *,
                        now: dt.datetime) -> int:
    """What runs in ``cluster`` now: its previous rows are replaced in one transaction, so a
    reader sees the old set or the new one, never a mix. The number of rows written."""
    rows = []
    for dep in dict.fromkeys(deployments):
        if dep.cluster != cluster:
            raise UsageError(f"deployment {dep.namespace}/{dep.workload} is in cluster "
                             f"{dep.cluster!r}, not {cluster!r}")
        rows.append({"cluster": cluster, "namespace": dep.namespace, "workload": dep.workload,
                     "container": dep.container, "image_digest": dep.image_digest,
                     "reported_at": now})
    conn.execute(t.deployments.delete().where(t.deployments.c.cluster == cluster))
    for batch in chunks(rows):
        conn.execute(t.deployments.insert(), batch)
    return len(rows)
