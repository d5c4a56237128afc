"""Browser sessions of the web pages: a signed-in browser acts as the API token it signed in
with, until it logs out, the session ends or the token is revoked.

    sid = sessions.create(conn, token_id, now=now, lifetime=dt.timedelta(hours=12))
    info = sessions.lookup(conn, sid, now=now)      # TokenInfo, or None
    sessions.delete(conn, sid)                      # logout

The cookie carries ``sid`` (256 random bits); the store keeps only its SHA-256, so a copy of
the database signs nobody in. Kept in the database rather than in a signed cookie so that
logging out ends the session everywhere, and every API node of a PostgreSQL deployment knows it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hullcheck.fleet import schema as t
from hullcheck.fleet.access import _token
from hullcheck.fleet.model import TokenInfo

SESSION_PREFIX = "hs_"
MAX_SESSION_ID = 100  # characters; ours are 46
se = t.sessions.c


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "surrogateescape")).hexdigest()


def create(conn: Connection, token_id: int, *, now: dt.datetime, lifetime: dt.timedelta) -> str:
    """A new session acting as the token ``token_id``; its id (for the cookie, never stored).
    Sessions that ended are removed on the way (each sign-in tidies up)."""
    conn.execute(t.sessions.delete().where(se.expires_at <= now))
    sid = SESSION_PREFIX + secrets.token_urlsafe(32)
    conn.execute(t.sessions.insert().values(id_sha256=_hash(sid), token_id=token_id,
                                            created_at=now, expires_at=now + lifetime))
    return sid


def lookup(conn: Connection, sid: str, *, now: dt.datetime) -> TokenInfo | None:
    """The token a live session acts as; None when the session is unknown, has ended, or
    its token was revoked. One lookup by primary key, joined to the token."""
    if not sid or len(sid) > MAX_SESSION_ID:
        return None
    row = conn.execute(
        sa.select(t.tokens).join(t.sessions, se.token_id == t.tokens.c.id)
        .where(se.id_sha256 == _hash(sid), se.expires_at > now,
               t.tokens.c.revoked_at.is_(None))).mappings().first()
    return None if row is None else _token(row)


def delete(conn: Connection, sid: str) -> bool:
    """End a session (logout); whether it existed."""
    if not sid or len(sid) > MAX_SESSION_ID:
        return False
    return conn.execute(t.sessions.delete().where(se.id_sha256 == _hash(sid))).rowcount > 0

