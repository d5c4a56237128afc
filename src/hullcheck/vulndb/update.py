"""Fetch the public sources and rebuild the database atomically.

    result = update(db_path())                      # DEFAULT_SOURCES, a fresh httpx.Client
    result = update(path, resolve_sources(), http=client)

Each source URL is fetched with ``If-None-Match``/``If-Modified-Since`` from the last
download, which is kept (with its validators) in ``<db>.sources/``. When every source
answers 304 and the database was built from exactly those downloads, nothing is rebuilt.
Any failed download (an HTTP error status, a network error, a body over the size limit)
raises ``DatabaseError`` before the database is touched; the previous one stays usable.

Every download (here and ``db import URL``, through :func:`download`) goes through
:mod:`hullcheck.fetch`: capped at ``MAX_DOWNLOAD`` bytes, within the command's deadline
(``--timeout``), through a ``*.tmp-<random>`` file removed on every failure.
:func:`exclusive` lets one writer at a time import or update a database, and removes what a
killed one left behind.

Sources come from ``$HULLCHECK_DB_SOURCES`` when set: either the path of a YAML/JSON file
(a list of ``{name, kind, url | urls}``, or ``{sources: [...]}``), or inline entries
``[name=]kind:location[|location...]`` separated by spaces or ``;``. Locations may be
URLs or local paths.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from hullcheck import deadline, fetch, untrusted
from hullcheck.ecosystem import OSV_DOWNLOADS
from hullcheck.errors import DatabaseError, FormatError, UsageError
from hullcheck.vulndb.build import BuildResult, Source, SourceKind, build
from hullcheck.vulndb.paths import cache_dir
from hullcheck.vulndb.store import DbStatus, FetchInfo, VulnStore

if sys.platform != "win32":  # Windows has no advisory locks: one writer at a time is the user's care
    import fcntl

ENV_SOURCES = "HULLCHECK_DB_SOURCES"
OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
DEBIAN_TRACKER = "https://security-tracker.debian.org/tracker/data/json"
ALPINE_SECDB = "https://secdb.alpinelinux.org"
WOLFI_SECDB = "https://packages.wolfi.dev/os/security.json"
CHAINGUARD_SECDB = "https://packages.cgr.dev/chainguard/security.json"
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
# Amazon publishes ALAS only in its yum repositories' metadata, behind a mirror list: a
# "yum:" location names the mirror list, resolved to the repository's updateinfo at update time.
YUM = "yum:"
AMAZON_LINUX_MIRRORS = (
    "https://cdn.amazonlinux.com/2/core/latest/x86_64/mirror.list",
    "https://cdn.amazonlinux.com/al2023/core/mirrors/latest/x86_64/mirror.list",
)
_MAX_MIRROR_LIST = 64 << 10
_MAX_REPOMD = 4 << 20
OSV_ECOSYSTEMS = OSV_DOWNLOADS  # from THE table: a new ecosystem's row is downloaded too
ALPINE_BRANCHES = ("v3.17", "v3.18", "v3.19", "v3.20", "v3.21", "v3.22")
MAX_DOWNLOAD = 4 * 1024 * 1024 * 1024  # per file, for 'db update' and 'db import URL' alike
_TMP = fetch.TMP_MARK  # the mark of every temporary file a database writer makes
_UPDATE_HINT = ("the previous database is unchanged; check the network, retry later or fix "
                "the source list")

# Order is preference: for an advisory id found in two sources the first one wins, so the
# distro trackers (with no-dsa/postponed statuses) come before OSV's conversions of them.
# Each distro's row in ecosystem.DISTROS says which of these cover it ("feeds", "osv").
DEFAULT_SOURCES: tuple[Source, ...] = (
    Source(name="debian-tracker", kind=SourceKind.DEBIAN, locations=(DEBIAN_TRACKER,)),
    Source(
        name="alpine-secdb",
        kind=SourceKind.ALPINE,
        locations=tuple(
            f"{ALPINE_SECDB}/{b}/{repo}.json"
            for b in ALPINE_BRANCHES
            for repo in ("main", "community")
        ),
    ),
    Source(name="wolfi-secdb", kind=SourceKind.WOLFI, locations=(WOLFI_SECDB,)),
    Source(name="chainguard-secdb", kind=SourceKind.CHAINGUARD, locations=(CHAINGUARD_SECDB,)),
    Source(name="amazon-alas", kind=SourceKind.ALAS,
           locations=tuple(YUM + url for url in AMAZON_LINUX_MIRRORS)),
    *(
        Source(name=f"osv-{eco}", kind=SourceKind.OSV,
               locations=(f"{OSV_BUCKET}/{urllib.parse.quote(eco)}/all.zip",))
        for eco in OSV_ECOSYSTEMS
    ),
    Source(name="cisa-kev", kind=SourceKind.KEV, locations=(KEV_URL,)),
)


class FetchState(StrEnum):
    DOWNLOADED = "downloaded"
    NOT_MODIFIED = "not-modified"
    LOCAL = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetch:
    source: str
    location: str
    state: FetchState
    bytes: int  # downloaded now (0 when not modified or local)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateResult:
    path: Path
    rebuilt: bool
    fetches: tuple[Fetch, ...]
    build: BuildResult | None  # None when nothing changed

    @property
    def downloaded(self) -> int:
        return sum(1 for f in self.fetches if f.state is FetchState.DOWNLOADED)

    @property
    def not_modified(self) -> int:
        return sum(1 for f in self.fetches if f.state is FetchState.NOT_MODIFIED)


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://", YUM))


def update(
    path: Path | str,
    sources: Sequence[Source] = DEFAULT_SOURCES,
    http: httpx.Client | None = None,
    *,
    cache: Path | None = None,
    force: bool = False,
    max_download: int | None = None,
) -> UpdateResult:
    """Fetch ``sources`` (conditionally); rebuild the database at ``path`` if anything changed.
    ``max_download``: bytes per file (default ``MAX_DOWNLOAD``)."""
    path = Path(path)
    max_download = MAX_DOWNLOAD if max_download is None else max_download
    cache = cache or cache_dir(path)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create {cache}: {exc.strerror or exc}") from None
    own_client = http is None
    client = http or fetch.client()
    fetches: list[Fetch] = []
    local_sources: list[Source] = []
    fetched: dict[str, tuple[FetchInfo, ...]] = {}
    try:
        for src in sources:
            paths: list[str] = []
            infos: list[FetchInfo] = []
            for loc in src.locations:
                if not _is_url(loc):
                    local = loc.removeprefix("file://")
                    if not Path(local).exists():
                        raise DatabaseError(
                            f"source {src.name}: {local} does not exist",
                            hint="fix the source list; the previous database is unchanged",
                        )
                    paths.append(local)
                    fetches.append(
                        Fetch(source=src.name, location=loc, state=FetchState.LOCAL, bytes=0)
                    )
                    continue
                url = _updateinfo_url(client, src.name, loc) if loc.startswith(YUM) else loc
                file, info, state, size = _fetch(client, src.name, url, cache, max_download)
                paths.append(str(file))
                infos.append(info)
                fetches.append(Fetch(source=src.name, location=loc, state=state, bytes=size))
            local_sources.append(Source(name=src.name, kind=src.kind, locations=tuple(paths)))
            fetched[src.name] = tuple(infos)
    finally:
        if own_client:
            client.close()
    if not force and _unchanged(path, sources, fetches, fetched):
        return UpdateResult(path=path, rebuilt=False, fetches=tuple(fetches), build=None)
    result = build(path, local_sources, fetched=fetched)
    return UpdateResult(path=path, rebuilt=True, fetches=tuple(fetches), build=result)


def _unchanged(
    path: Path,
    sources: Sequence[Source],
    fetches: list[Fetch],
    fetched: Mapping[str, tuple[FetchInfo, ...]],
) -> bool:
    if any(f.state is not FetchState.NOT_MODIFIED for f in fetches):
        return False
    try:
        with VulnStore.open(path) as store:
            status: DbStatus = store.status()
    except DatabaseError:
        return False
    built = {s.name: tuple(f.sha256 for f in s.fetched) for s in status.sources}
    wanted = {s.name: tuple(f.sha256 for f in fetched.get(s.name, ())) for s in sources}
    return built == wanted


def _updateinfo_url(client: httpx.Client, name: str, location: str) -> str:
    """The updateinfo file of the yum repository a mirror list names: the list's first URL,
    then its ``repodata/repomd.xml``'s ``updateinfo`` entry (how dnf finds it)."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    what = f"update failed: source {name}"
    mirrors = fetch.to_bytes(location.removeprefix(YUM), limit=_MAX_MIRROR_LIST,
                             error=DatabaseError, http=client, what=what, hint=_UPDATE_HINT)
    base = next((line.strip() for line in mirrors.decode("utf-8", "replace").splitlines()
                 if line.strip().startswith(("https://", "http://"))), "")
    if not base:
        raise DatabaseError(f"{what}: {location.removeprefix(YUM)} names no repository URL",
                            hint=_UPDATE_HINT)
    base = base.rstrip("/") + "/"
    repomd = fetch.to_bytes(base + "repodata/repomd.xml", limit=_MAX_REPOMD, error=DatabaseError,
                            http=client, what=what, hint=_UPDATE_HINT)
    try:
        root = ElementTree.fromstring(repomd, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise DatabaseError(f"{what}: {base}repodata/repomd.xml is not valid repository "
                            f"metadata ({exc})", hint=_UPDATE_HINT) from None
    for data in root:
        if data.tag.rsplit("}", 1)[-1] == "data" and data.get("type") == "updateinfo":
            href = str(next((c.get("href", "") for c in data
                             if c.tag.rsplit("}", 1)[-1] == "location"), ""))
            if href and not href.startswith(("/", "..")) and "/../" not in href:
                return urllib.parse.urljoin(base, href)
    raise DatabaseError(f"{what}: {base}repodata/repomd.xml lists no updateinfo",
                        hint=_UPDATE_HINT)


def _key(url: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", url.rstrip("/").rsplit("/", 1)[-1])[:60] or "data"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{base}"


def _fetch(
    client: httpx.Client, name: str, url: str, cache: Path, max_download: int
) -> tuple[Path, FetchInfo, FetchState, int]:
    key = _key(url)
    data, meta = cache / key, cache / f"{key}.meta.json"
    previous = _read_meta(meta) if data.is_file() else None
    got = fetch.to_file(url, data, limit=max_download, error=DatabaseError, http=client,
                        what=f"update failed: source {name}", hint=_UPDATE_HINT,
                        etag=previous.etag if previous else "",
                        last_modified=previous.last_modified if previous else "")
    if not got.modified and previous is not None:
        return data, previous, FetchState.NOT_MODIFIED, 0
    info = FetchInfo(url=url, etag=got.etag, last_modified=got.last_modified, sha256=got.sha256,
                     size=got.size, fetched_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        _write_meta(meta, info)
    except OSError as exc:
        raise DatabaseError(f"cannot write {meta}: {exc.strerror or exc}") from None
    return data, info, FetchState.DOWNLOADED, got.size


# ---------------------------------------------------------------- downloads


def download(url: str, dest: Path, *, http: httpx.Client | None = None,
             max_download: int | None = None) -> Path:
    """GET ``url`` into ``dest`` through a temporary file beside it, renamed once complete:
    at most ``max_download`` bytes (default ``MAX_DOWNLOAD``, as for ``update``), within the
    command's deadline. DatabaseError when it fails; the temporary file never stays."""
    fetch.to_file(url, dest, limit=MAX_DOWNLOAD if max_download is None else max_download,
                  error=DatabaseError, http=http,
                  hint="check the URL, or download the file and import it")
    return dest


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[tuple[Path, ...]]:
    """Hold the writer lock of the database at ``path`` (``<path>.lock``, waited for within
    the command's deadline) and yield the temporary files removed on taking it: with the
    lock held no other writer runs, so any ``*.tmp-*`` left is from one that was killed.
    Without ``fcntl`` (Windows) nothing is locked and nothing removed."""
    if sys.platform == "win32":
        yield ()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(path.name + ".lock").open("a+b")
    except OSError as exc:
        raise DatabaseError(f"cannot lock {path}: {exc.strerror or exc}") from None
    with lock:
        _wait_for_lock(lock.fileno(), path)
        try:
            yield _remove_stale(path)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _wait_for_lock(fd: int, path: Path) -> None:
    if deadline.remaining() is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            deadline.check(f"waiting for another hullcheck to finish writing {path}")
            time.sleep(0.1)


def _remove_stale(path: Path) -> tuple[Path, ...]:
    """Remove the temporary files of the database at ``path``: beside it (a new database
    being built), in its download cache and in the cache's imports."""
    cache = cache_dir(path)
    found = [
        *path.parent.glob(f"{glob.escape(path.name)}{_TMP}*"),
        *cache.glob(f"*{_TMP}*"),
        *(cache / "imports").glob(f"*{_TMP}*"),
    ]
    removed = []
    for tmp in found:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            tmp.unlink()
            removed.append(tmp)
    return tuple(removed)


def _read_meta(meta: Path) -> FetchInfo | None:
    try:
        d = json.loads(meta.read_text())
        return FetchInfo(**{k: d[k] for k in FetchInfo.__dataclass_fields__ if k in d})
    except (OSError, ValueError, TypeError):
        return None


def _write_meta(meta: Path, info: FetchInfo) -> None:
    tmp = meta.with_name(meta.name + ".tmp")
    tmp.write_text(json.dumps({k: getattr(info, k) for k in FetchInfo.__dataclass_fields__}))
    os.replace(tmp, meta)


# ---------------------------------------------------------------- configuration


MAX_SOURCES_FILE = 1 << 20  # a list of feeds: a few hundred bytes a source


def resolve_sources(env: Mapping[str, str] | None = None) -> tuple[Source, ...]:
    """``$HULLCHECK_DB_SOURCES`` (a file path or inline entries), else DEFAULT_SOURCES."""
    value = (os.environ if env is None else env).get(ENV_SOURCES, "").strip()
    if not value:
        return DEFAULT_SOURCES
    candidate = Path(value).expanduser()
    if candidate.is_file():
        return load_sources(candidate)
    return parse_sources(value)


def parse_sources(text: str) -> tuple[Source, ...]:
    """Inline entries ``[name=]kind:location[|location...]`` separated by spaces or ``;``."""
    out: list[Source] = []
    for entry in re.split(r"[\s;]+", text.strip()):
        if not entry:
            continue
        name, _, spec = entry.rpartition("=") if "=" in entry.split(":", 1)[0] else ("", "", entry)
        kind, sep, locs = spec.partition(":")
        out.append(_source(name, kind, [x for x in locs.split("|") if x] if sep else [], entry))
    if not out:
        raise UsageError(f"{ENV_SOURCES} names no sources")
    return tuple(out)


def load_sources(path: Path) -> tuple[Source, ...]:
    """Sources from a YAML or JSON file: a list of ``{name, kind, url | urls}``."""
    text = untrusted.read_text(path, what="source list", limit=MAX_SOURCES_FILE)
    doc: Any = untrusted.yaml_document(text, what=f"{path}: source list")
    if isinstance(doc, dict):
        doc = doc.get("sources")
    if not isinstance(doc, list) or not doc:
        raise FormatError(f"{path}: expected a list of sources")
    out = []
    for i, d in enumerate(doc):
        if not isinstance(d, dict):
            raise FormatError(f"{path}: sources[{i}] must be an object")
        urls = d.get("urls") or ([d["url"]] if d.get("url") else [])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise FormatError(f"{path}: sources[{i}]: 'url'/'urls' must be strings")
        out.append(_source(str(d.get("name", "")), str(d.get("kind", "")), urls, f"{path}[{i}]"))
    return tuple(out)


def _source(name: str, kind: str, locations: list[str], where: str) -> Source:
    try:
        k = SourceKind(kind)
    except ValueError:
        raise UsageError(
            f"source {where}: unknown kind {kind!r} "
            f"(one of {', '.join(s.value for s in SourceKind)})"
        ) from None
    if not locations:
        raise UsageError(f"source {where}: no location given")
    if not name:
        stem = locations[0].rstrip("/").split("/")
        name = f"{k.value}-{stem[-2]}" if k is SourceKind.OSV and len(stem) > 1 else k.value
    return Source(name=name, kind=k, locations=tuple(locations))
