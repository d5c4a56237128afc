"""Moving a database between machines: ``export`` writes a bundle, ``import_bundle`` swaps it in.

A bundle is a tar (zstd-compressed for ``.tar.zst``/``.tzst``, gzip for ``.tar.gz``/``.tgz``)
holding exactly two members, in this order: ``manifest.json`` (format, schema version,
sha256 and size of the database, counts) and ``vuln.db``. Import streams ``vuln.db`` to a
temporary file beside the target, checks its size and sha256 against the manifest and
its schema and integrity with SQLite, and only then renames it over the old database.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import secrets
import sqlite3
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard

from hullcheck import untrusted
from hullcheck.errors import DatabaseError, FormatError, VerificationError
from hullcheck.vulndb.store import SCHEMA_VERSION, DbStatus, VulnStore

BUNDLE_FORMAT = "hullcheck-vulndb"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBER = "vuln.db"
MAX_MANIFEST = 1024 * 1024
MAX_DB = 16 * 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleResult:
    bundle: Path
    db: Path
    sha256: str
    size: int  # bytes of the database
    advisories: int
    affected: int
    kev: int
    built_at: str


def _zstd(dest: Path) -> bool:
    return dest.name.lower().endswith((".zst", ".tzst"))


def export(path: Path | str, dest: Path | str) -> BundleResult:
    """Write a bundle of the database at ``path`` to ``dest`` (atomically)."""
    path, dest = Path(path), Path(dest)
    tmp_db = dest.with_name(f".{dest.name}.db-{secrets.token_hex(6)}")
    tmp_out = dest.with_name(f"{dest.name}.tmp-{secrets.token_hex(6)}")
    try:
        # Copy first (the file is never changed in place, and a swap meanwhile only
        # replaces the name), then validate and describe the copy we actually ship.
        digest = hashlib.sha256()
        try:
            with path.open("rb") as src, tmp_db.open("wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            raise DatabaseError(f"no vulnerability database at {path}") from None
        with VulnStore.open(tmp_db) as store:
            status = store.status()
        manifest = _manifest(status, digest.hexdigest(), tmp_db.stat().st_size)
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        with tmp_out.open("wb") as raw:
            with _compressor(raw, dest) as stream, tarfile.open(fileobj=stream, mode="w|") as tf:
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(body), 0o644
                tf.addfile(info, io.BytesIO(body))
                info = tarfile.TarInfo(DB_MEMBER)
                info.size, info.mode = manifest["size"], 0o644
                with tmp_db.open("rb") as fh:
                    tf.addfile(info, fh)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp_out, dest)
    except OSError as exc:
        raise DatabaseError(f"cannot write the bundle {dest}: {exc.strerror or exc}") from None
    finally:
        for leftover in (tmp_db, tmp_out):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return _result(dest, path, manifest, status)


def _result(bundle: Path, db: Path, manifest: dict[str, Any], status: DbStatus) -> BundleResult:
    return BundleResult(
        bundle=bundle,
        db=db,
        sha256=manifest["sha256"],
        size=manifest["size"],
        advisories=status.advisories,
        affected=status.affected,
        kev=status.kev,
        built_at=status.built_at,
    )


@contextlib.contextmanager
def _compressor(raw: IO[bytes], dest: Path) -> Any:
    if _zstd(dest):
        with zstandard.ZstdCompressor(level=10, threads=-1).stream_writer(raw, closefd=False) as z:
            yield z
    else:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            yield gz


def _manifest(status: DbStatus, sha256: str, size: int) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "bundle_version": BUNDLE_VERSION,
        "schema_version": status.schema_version,
        "built_at": status.built_at,
        "sha256": sha256,
        "size": size,
        "advisories": status.advisories,
        "affected": status.affected,
        "kev": status.kev,
        "sources": [{"name": s.name, "records": s.records} for s in status.sources],
    }


def _open_stream(bundle: Path) -> tuple[IO[bytes], tarfile.TarFile]:
    try:
        raw = bundle.open("rb")
    except OSError as exc:
        raise FormatError(f"{bundle}: cannot read: {exc.strerror or exc}") from None
    try:
        magic = raw.read(4)
        raw.seek(0)
        if magic == b"\x28\xb5\x2f\xfd":
            stream: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
            return stream, tarfile.open(fileobj=stream, mode="r|")
        return raw, tarfile.open(fileobj=raw, mode="r|*")
    except (tarfile.TarError, OSError, zstandard.ZstdError) as exc:
        raw.close()
        raise FormatError(f"{bundle}: not a database bundle: {exc}") from None


def import_bundle(bundle: Path | str, path: Path | str) -> BundleResult:
    """Verify ``bundle`` and swap its database in at ``path``; the old one stays on failure."""
    bundle, path = Path(bundle), Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(6)}")
    stream, tf = _open_stream(bundle)
    try:
        with stream, tf:
            manifest = _read_members(bundle, tf, tmp)
        _check_db(bundle, tmp)
        with VulnStore.open(tmp) as store:
            status = store.status()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except (tarfile.TarError, EOFError, zstandard.ZstdError, gzip.BadGzipFile) as exc:
        raise FormatError(f"{bundle}: corrupt or truncated bundle: {exc}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot write the database {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return _result(bundle, path, manifest, status)


def _read_members(bundle: Path, tf: tarfile.TarFile, tmp: Path) -> dict[str, Any]:
    manifest: dict[str, Any] | None = None
    got_db = False
    for info in tf:
        if info.name not in (MANIFEST, DB_MEMBER) or not info.isfile():
            raise FormatError(f"{bundle}: unexpected bundle member {info.name!r}")
        fh = tf.extractfile(info)
        assert fh is not None
        if info.name == MANIFEST:
            if manifest is not None or info.size > MAX_MANIFEST:
                raise FormatError(f"{bundle}: invalid manifest member")
            manifest = _parse_manifest(bundle, fh.read(MAX_MANIFEST + 1))
            continue
        if manifest is None or got_db:
            raise FormatError(f"{bundle}: the manifest must come first, and one database only")
        if info.size != manifest["size"]:
            raise VerificationError(
                f"{bundle}: database is {info.size} bytes, the manifest says {manifest['size']}"
            )
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != manifest["sha256"]:
            raise VerificationError(
                f"{bundle}: database sha256 {digest.hexdigest()} does not match the manifest "
                f"({manifest['sha256']})",
                hint="the bundle is corrupt or was tampered with; export it again",
            )
        got_db = True
    if manifest is None or not got_db:
        raise FormatError(f"{bundle}: not a database bundle (needs {MANIFEST} and {DB_MEMBER})")
    return manifest


def _parse_manifest(bundle: Path, data: bytes) -> dict[str, Any]:
    m = untrusted.json_document(data, what=f"{bundle}: bundle manifest")
    if not isinstance(m, dict) or m.get("format") != BUNDLE_FORMAT:
        raise FormatError(f"{bundle}: not a hullcheck database bundle")
    if m.get("bundle_version") != BUNDLE_VERSION or m.get("schema_version") != SCHEMA_VERSION:
        raise DatabaseError(
            f"{bundle}: bundle version {m.get('bundle_version')}, schema "
            f"{m.get('schema_version')}; this hullcheck reads {BUNDLE_VERSION}/{SCHEMA_VERSION}",
            hint="export the bundle with the same hullcheck version, or run 'hullcheck db update'",
        )
    sha, size = m.get("sha256"), m.get("size")
    if (
        not isinstance(sha, str)
        or len(sha) != 64
        or not isinstance(size, int)
        or not 0 < size <= MAX_DB
    ):
        raise FormatError(f"{bundle}: manifest lacks a valid sha256 and size")
    return m


def _check_db(bundle: Path, tmp: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(str(tmp))}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"{bundle}: the database in the bundle is corrupt ({exc})") from None
    if ok != "ok":
        raise DatabaseError(f"{bundle}: the database in the bundle is corrupt ({ok})")
