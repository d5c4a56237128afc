"""HTTP for registries: bounded reads of streamed responses, errors that say what failed
(no answer is ``Unreachable``; an answer refused, a ``RegistryError``; the deadline passed,
``DeadlineExceeded``), and the small parts of answers every request looks at."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from hullcheck import deadline, untrusted
from hullcheck.digest import parse_digest
from hullcheck.errors import (
    AuthError,
    DigestMismatch,
    HullcheckError,
    ImageError,
    NotFound,
    RegistryError,
    Unreachable,
)

MAX_SMALL_BODY = 4 * 1024 * 1024  # tag lists, tokens, referrers indexes
MAX_ERROR_BODY = 64 * 1024
CHUNK = 1 << 20
TLS_HINT = (
    "the registry's certificate did not verify; fix its certificate (or SSL_CERT_FILE), "
    "or use --insecure only if you trust the network to it"
)
LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``localhost`` or ``[::1]``, with or without a port."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


# TLS errors that mean the connection went away, not that the server's TLS was refused.
TLS_CUT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def tls_refused(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by TLS we refuse: a certificate that does not verify, a
    failed handshake, a server that does not speak TLS."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return not isinstance(cause, TLS_CUT)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def network_error(exc: httpx.TransportError, *, where: str, doing: str) -> HullcheckError:
    """The error for a request or read that failed without an HTTP answer: DeadlineExceeded
    when the command's deadline has passed (raised), else RegistryError for TLS we refuse
    (an answer, of a kind), else Unreachable for no answer (refused, DNS, timeouts, a
    dropped connection), else RegistryError (an answer that is not HTTP)."""
    deadline.check(doing)
    detail = str(exc) or type(exc).__name__
    if tls_refused(exc):
        return RegistryError(f"TLS with {where} failed while {doing}: {detail}", hint=TLS_HINT)
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{where} did not answer in time while {doing} ({detail})")
    if isinstance(exc, httpx.NetworkError):
        return Unreachable(f"cannot reach {where} while {doing}: {detail}")
    return RegistryError(f"{where} sent an answer that is not valid HTTP while {doing}: {detail}")


class ResponseStream:
    """A read(n) view over a streamed httpx response body; transport errors become
    RegistryError. Bytes are read raw (no content decoding): they are what was hashed."""

    def __init__(self, response: httpx.Response, *, host: str, what: str) -> None:
        # ``what`` names the body for messages: "reading <what>".
        self._chunks: Iterator[bytes]
        try:
            # A response some transports (tests' MockTransport) hand over already loaded.
            loaded = response.content
        except httpx.ResponseNotRead:
            self._chunks = response.iter_raw()
        else:
            self._chunks = iter((loaded,) if loaded else ())
        self._buffer = b""
        self._eof = False
        self._host = host
        self._what = what
        self._response = response

    def _next_chunk(self) -> bytes:
        # A per-read timeout alone lets a server that drips a byte at a time go on for
        # ever: the command's deadline is checked before every read.
        deadline.check(f"reading {self._what}")
        try:
            return next(self._chunks)
        except StopIteration:
            self._eof = True
            return b""
        except httpx.TransportError as exc:
            raise network_error(exc, where=self._host, doing=f"reading {self._what}") from None
        except httpx.HTTPError as exc:  # e.g. a body cut short of its Content-Length
            raise RegistryError(f"{self._host} broke off {self._what}: {exc}") from None

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes, fewer only at the end of the body, as a file's ``read`` gives: readers
        sniff magic numbers with ``read(4)``, and a slow server sends a byte at a time."""
        if n is None or n < 0:
            parts = [self._buffer]
            self._buffer = b""
            while not self._eof:
                parts.append(self._next_chunk())
            return b"".join(parts)
        parts, have = [self._buffer], len(self._buffer)
        while have < n and not self._eof:
            chunk = self._next_chunk()
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self._buffer = data[:n], data[n:]
        return out

    def close(self) -> None:
        self._response.close()


def read_capped(response: httpx.Response, cap: int, *, host: str, what: str) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise ImageError(f"{what} on {host} is {int(length)} bytes, over the {cap}-byte limit")
    stream = ResponseStream(response, host=host, what=what)
    parts: list[bytes] = []
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        if total > cap:
            raise ImageError(f"{what} on {host} is over the {cap}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


def read_sized(response: httpx.Response, size: int, *, host: str, what: str) -> bytes:
    """A body its descriptor declares ``size`` bytes long: at most one byte more is read (the
    caller checks the length with the digest), and a Content-Length saying otherwise is
    refused before any of it."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) != size:
        raise DigestMismatch(f"{what}: {host} serves {int(length)} bytes, expected {size}")
    return ResponseStream(response, host=host, what=what).read(size + 1)


def error_detail(response: httpx.Response, *, host: str, what: str) -> str:
    """``CODE: message`` from an OCI error body, else a short text excerpt. The text goes
    into an error message, which escapes control characters (a hostile body's ANSI/OSC
    sequences never reach the terminal)."""
    try:
        body = read_capped(response, MAX_ERROR_BODY, host=host, what=f"error body of {what}")
    except (ImageError, RegistryError):
        return ""
    try:
        doc = untrusted.json_document(body, what=f"error body from {host}", error=RegistryError)
    except RegistryError:
        text = body.decode("utf-8", "replace").strip()
        return " ".join(text.split())[:200]
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list):
        parts = []
        for err in errors[:3]:
            if isinstance(err, dict):
                code, msg = err.get("code", ""), err.get("message", "")
                parts.append(f"{code}: {msg}" if code and msg else str(code or msg))
        return "; ".join(p for p in parts if p)[:300]
    return ""


def json_object(data: bytes, *, host: str, what: str) -> dict[str, Any]:
    return untrusted.json_object(data, what=f"{what} from {host}", error=RegistryError)


def join(base: httpx.URL, link: str, *, host: str, what: str) -> httpx.URL:
    """``link`` (a Location or Link header) resolved against ``base``; RegistryError when
    it is not a URL."""
    try:
        return base.join(link)
    except httpx.InvalidURL:
        raise RegistryError(f"{host} sent an invalid URL {link[:200]!r} for {what}") from None


def next_link(response: httpx.Response, *, host: str, what: str) -> httpx.URL | None:
    m = LINK_RE.search(response.headers.get("link", ""))
    return join(response.url, m.group(1), host=host, what=what) if m else None


def raise_for_status(response: httpx.Response, *, host: str, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    detail = error_detail(response, host=host, what=what) if response.request.method != "HEAD" else ""
    suffix = f" ({detail})" if detail else ""
    if status == 404:
        raise NotFound(f"{what} not found on {host}{suffix}")
    if status in (401, 403):
        raise AuthError(f"{host} denied {what}: HTTP {status}{suffix}")
    raise RegistryError(f"{host} answered HTTP {status} for {what}{suffix}")


def netloc(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def header_digest(header: str, *, host: str, what: str) -> tuple[str, str]:
    """(algorithm, hex) of a Docker-Content-Digest header; RegistryError when malformed."""
    try:
        return parse_digest(header)
    except ImageError:
        raise RegistryError(
            f"{host} sent an invalid Docker-Content-Digest {header!r} for {what}"
        ) from None
