"""rpm databases read without librpm: the backend is chosen by the file's own magic.

``read_headers(data)`` yields the package header of every installed package in a
SQLite (``rpmdb.sqlite``), Berkeley DB hash (``Packages``) or NDB (``Packages.db``)
database. Anything malformed raises ``hullcheck.errors.FormatError`` with one line.
"""

from __future__ import annotations

from collections.abc import Iterator

from hullcheck.catalog.rpmdb import bdb, ndb, sqlite
from hullcheck.catalog.rpmdb.header import RpmHeader, parse_header
from hullcheck.errors import FormatError

__all__ = ["RpmHeader", "backend_of", "parse_header", "read_blobs", "read_headers"]


def backend_of(data: bytes) -> str:
    """"sqlite", "bdb" or "ndb"; ``FormatError`` for anything else."""
    if sqlite.is_sqlite(data):
        return "sqlite"
    if ndb.is_ndb(data):
        return "ndb"
    if bdb.byte_order(data) is not None:
        return "bdb"
    raise FormatError(f"not an rpm database: unknown format (first bytes {data[:16].hex()})")


def read_blobs(data: bytes) -> Iterator[bytes]:
    backend = backend_of(data)
    if backend == "sqlite":
        return sqlite.read_blobs(data)
    if backend == "ndb":
        return ndb.read_blobs(data)
    return bdb.read_blobs(data)


def read_headers(data: bytes) -> Iterator[RpmHeader]:
    for blob in read_blobs(data):
        yield parse_header(blob)
