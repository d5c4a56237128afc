"""The local catalog of known base images: one JSON file.

    path = catalog_path(explicit)            # --catalog, else $HULLCHECK_BASE_CATALOG, else user data
    entries = load(path)                      # () when the file does not exist yet
    save(path, merge(entries, [new_entry]))   # atomic: temp file in the same directory + rename

An entry is keyed by (name, tag, manifest digest): re-adding a tag that moved keeps the
old digest too, since images built on it must still be identified.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from hullcheck import untrusted
from hullcheck.base.model import CatalogEntry
from hullcheck.digest import parse_digest
from hullcheck.errors import FormatError, ImageError
from hullcheck.model import Distro

ENV_CATALOG = "HULLCHECK_BASE_CATALOG"
FILE_NAME = "base-catalog.json"
SCHEMA_VERSION = 1
MAX_CATALOG = 64 << 20


def catalog_path(explicit: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    value = (os.environ if env is None else env).get(ENV_CATALOG, "")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_data_dir("hullcheck")) / FILE_NAME


def distro_to_json(d: Distro | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"id": d.id, "versionId": d.version_id, "codename": d.codename, "name": d.name,
            "prettyName": d.pretty_name, "idLike": list(d.id_like)}


def _distro_from_json(obj: object, where: str) -> Distro | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise FormatError(f"{where}: 'distro' must be an object with an 'id'")
    like = obj.get("idLike") or []
    return Distro(id=obj["id"], version_id=str(obj.get("versionId", "")),
                  codename=str(obj.get("codename", "")), name=str(obj.get("name", "")),
                  pretty_name=str(obj.get("prettyName", "")),
                  id_like=tuple(str(x) for x in like) if isinstance(like, list) else ())


def entry_to_json(e: CatalogEntry) -> dict[str, Any]:
    return {"name": e.name, "tag": e.tag, "digest": e.digest, "manifestDigest": e.manifest_digest,
            "platform": e.platform, "created": e.created, "distro": distro_to_json(e.distro),
            "diffIds": list(e.diff_ids), "added": e.added}


def _digest(value: object, where: str, *, optional: bool = False) -> str:
    if optional and value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{where}: missing digest")
    try:
        parse_digest(value)
    except ImageError:
        raise FormatError(f"{where}: invalid digest {value!r}") from None
    return value


def entry_from_json(obj: object, where: str) -> CatalogEntry:
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: entry is not a JSON object")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise FormatError(f"{where}: entry without a name")
    diff_ids = obj.get("diffIds")
    if not isinstance(diff_ids, list) or not diff_ids:
        raise FormatError(f"{where}: {name}: 'diffIds' must be a non-empty list")
    return CatalogEntry(
        name=name,
        tag=str(obj.get("tag") or ""),
        digest=_digest(obj.get("digest"), f"{where}: {name}"),
        manifest_digest=_digest(obj.get("manifestDigest"), f"{where}: {name}"),
        platform=str(obj.get("platform") or ""),
        created=str(obj.get("created") or ""),
        distro=_distro_from_json(obj.get("distro"), f"{where}: {name}"),
        diff_ids=tuple(_digest(d, f"{where}: {name} diffId") for d in diff_ids),
        added=str(obj.get("added") or ""),
    )


def load(path: Path) -> tuple[CatalogEntry, ...]:
    """The entries of the catalog at ``path``; () when it does not exist; FormatError when it
    is not a catalog."""
    if not path.exists():
        return ()
    data = untrusted.read_file(path, what="base catalog", limit=MAX_CATALOG)
    try:
        doc = untrusted.json_document(data, what=f"{path}: base catalog")
    except FormatError as exc:
        raise FormatError(str(exc), hint="fix or delete the file, then 'hullcheck base add' the "
                                         "bases again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("bases"), list):
        raise FormatError(f"{path}: not a hullcheck base catalog (no 'bases' list)")
    version = doc.get("schemaVersion")
    if version != SCHEMA_VERSION:
        raise FormatError(f"{path}: base catalog schema version {version!r}, expected {SCHEMA_VERSION}",
                          hint="upgrade hullcheck, or recreate the catalog")
    return tuple(entry_from_json(e, f"{path}: bases[{i}]") for i, e in enumerate(doc["bases"]))


def _key(e: CatalogEntry) -> tuple[str, str, str]:
    return (e.name, e.tag, e.manifest_digest)


def merge(existing: Iterable[CatalogEntry], new: Iterable[CatalogEntry]) -> tuple[CatalogEntry, ...]:
    """``existing`` with ``new`` added; a new entry replaces one with the same key. Sorted."""
    by_key = {_key(e): e for e in existing}
    for e in new:
        by_key[_key(e)] = e
    return tuple(sorted(by_key.values(), key=lambda e: (e.name, e.tag, e.created, e.manifest_digest)))


def save(path: Path, entries: Iterable[CatalogEntry]) -> None:
    """Write the catalog atomically (temp file in the same directory, then rename)."""
    doc = {"schemaVersion": SCHEMA_VERSION, "bases": [entry_to_json(e) for e in entries]}
    data = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
