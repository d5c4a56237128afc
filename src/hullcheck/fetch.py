"""HTTP downloads of files other people serve: the one bounded fetcher (advisory feeds for
``db update``, ``db import URL``, the end-of-life table).

    got = fetch.to_file(url, dest, limit=MAX, error=DatabaseError)   # renamed into place
    data = fetch.to_bytes(url, limit=8 << 20, error=DatabaseError)

Every download is capped: a declared ``Content-Length`` over the cap is refused before the
body is read, a body that grows past it as soon as it does. The command's deadline
(``--timeout``) is checked at every chunk the network delivers, so a server dripping a byte
at a time ends at the deadline; each connect and read waits at most ``CONNECT_TIMEOUT`` /
``READ_TIMEOUT`` and never past the deadline. A file goes through a ``*.tmp-<random>`` file
beside it, renamed once complete and removed on every failure. Failures are one line of the
caller's exception class (``error``), prefixed with ``what`` when given.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from hullcheck import deadline
from hullcheck.errors import HullcheckError

READ_TIMEOUT = 60.0  # each read; never past the command's deadline
CONNECT_TIMEOUT = 20.0
TMP_MARK = ".tmp-"  # in the name of every temporary download (writers clean up what has it)
USER_AGENT = "hullcheck"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """One GET. ``modified`` False: the server answered 304 to the validators sent, and
    nothing was written."""

    modified: bool = True
    sha256: str = ""
    size: int = 0
    etag: str = ""
    last_modified: str = ""


def client() -> httpx.Client:
    """An HTTP client for downloads: redirects followed, the timeouts above."""
    return httpx.Client(follow_redirects=True,
                        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                        headers={"User-Agent": USER_AGENT})


def temporary(dest: Path) -> Path:
    """A fresh temporary name beside ``dest``, marked with ``TMP_MARK``."""
    return dest.with_name(f"{dest.name}{TMP_MARK}{secrets.token_hex(6)}")


def to_file(url: str, dest: Path, *, limit: int, error: type[HullcheckError],
            http: httpx.Client | None = None, what: str = "", hint: str | None = None,
            etag: str = "", last_modified: str = "") -> Fetched:
    """GET ``url`` into ``dest`` (synced, then renamed). With ``etag``/``last_modified`` from
    an earlier download the request is conditional, and a 304 answer writes nothing."""
    headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified))
               if v}
    tmp = temporary(dest)
    try:
        with _get(url, http, headers, error=error, what=what, hint=hint) as resp:
            if resp.status_code == 304 and headers:
                return Fetched(modified=False)
            digest, size = hashlib.sha256(), 0
            with tmp.open("wb") as out:
                for chunk in _body(resp, url, limit, error=error, what=what):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            got = Fetched(sha256=digest.hexdigest(), size=size,
                          etag=resp.headers.get("ETag", ""),
                          last_modified=resp.headers.get("Last-Modified", ""))
        os.replace(tmp, dest)
        return got
    except OSError as exc:
        raise error(f"cannot write {tmp}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def to_bytes(url: str, *, limit: int, error: type[HullcheckError],
             http: httpx.Client | None = None, what: str = "", hint: str | None = None) -> bytes:
    """GET ``url`` into memory (a small document: ``limit`` bounds what is held)."""
    with _get(url, http, {}, error=error, what=what, hint=hint) as resp:
        return b"".join(_body(resp, url, limit, error=error, what=what))


@contextlib.contextmanager
def _get(url: str, http: httpx.Client | None, headers: dict[str, str], *,
         error: type[HullcheckError], what: str, hint: str | None) -> Iterator[httpx.Response]:
    """The streamed answer to GET ``url`` (200, or 304 to a conditional request); any other
    status and every transport failure is ``error`` (DeadlineExceeded once it has passed)."""
    prefix = f"{what}: " if what else ""
    own = http is None
    session = http or client()
    timeout = httpx.Timeout(deadline.clamp(READ_TIMEOUT), connect=deadline.clamp(CONNECT_TIMEOUT))
    try:
        with session.stream("GET", url, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200 and not (resp.status_code == 304 and headers):
                raise error(f"{prefix}GET {url} returned HTTP {resp.status_code}", hint=hint)
            yield resp
    except httpx.HTTPError as exc:
        deadline.check(f"downloading {url}")
        raise error(f"{prefix}GET {url}: {exc}", hint=hint) from None
    finally:
        if own:
            session.close()


def _body(resp: httpx.Response, url: str, limit: int, *, error: type[HullcheckError],
          what: str) -> Iterator[bytes]:
    """The body's chunks, refused past ``limit`` bytes; the deadline checked at each."""
    prefix = f"{what}: " if what else ""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise error(f"{prefix}{url} is too large ({declared} bytes, over the "
                    f"{limit}-byte limit)")
    # A .gz file served with Content-Encoding: gzip is kept as served. Unsized iterators
    # yield what each read brings, so the deadline is checked that often.
    keep = resp.url.path.endswith((".gz", ".zst")) and "content-encoding" in resp.headers
    size = 0
    for chunk in resp.iter_raw() if keep else resp.iter_bytes():
        deadline.check(f"downloading {url}")
        size += len(chunk)
        if size > limit:
            raise error(f"{prefix}{url} is larger than {limit} bytes; refused")
        yield chunk
