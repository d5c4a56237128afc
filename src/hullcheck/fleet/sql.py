"""Small SQL helpers shared by the store's modules: dialect-neutral upserts, chunking,
and the names and purls as the store indexes them."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hullcheck.vulndb.store import package_key

T = TypeVar("T")

# Parameters per statement: SQLite allows 32,766 bound variables, PostgreSQL 65,535.
MAX_PARAMS = 30_000
CHUNK = 1_000  # rows of an IN list or a multi-row write


def upsert(conn: Connection, table: sa.Table) -> Any:
    """``INSERT`` with ``on_conflict_do_update`` / ``_do_nothing`` for the connection's dialect
    (both dialects spell them the same)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(items: Sequence[T] | Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def name_key(ecosystem: str, name: str) -> str:
    """A package name as the advisory database indexes it (PEP 503 for PyPI...), so a delta's
    (ecosystem, name) pairs find the stored packages."""
    return package_key(ecosystem, name) if name else ""


def purl_base(purl: str) -> str:
    """``pkg:type/namespace/name`` of a purl: version, qualifiers and subpath cut off, the
    type lowercased. A string cut, not packageurl's parser: it runs for every stored package,
    and the separators it cuts at are reserved by the purl spec (a name's own ``@`` is
    percent-encoded; a namespace's literal ``@`` comes before the last ``/``)."""
    base = purl.split("#", 1)[0].split("?", 1)[0]
    slash = base.rfind("/")
    at = base.rfind("@")
    if at > slash:
        base = base[:at]
    scheme, sep, rest = base.partition(":")
    if not sep:
        return base
    ptype, sep2, tail = rest.partition("/")
    return f"{scheme.lower()}:{ptype.lower()}{sep2}{tail}"


def purl_version(purl: str) -> str | None:
    """The version a purl names, percent-decoded (None: it names no version)."""
    base = purl.split("#", 1)[0].split("?", 1)[0]
    at = base.rfind("@")
    if at <= base.rfind("/"):
        return None
    return urllib.parse.unquote(base[at + 1:])
