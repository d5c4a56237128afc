"""The API's wire rules: one-line JSON errors, request bodies read with a cap and a deadline,
content sniffed from the bytes (never from ``Content-Type``), JSON parsed with limits.

    body = await read_body(request, limit=settings.max_body, timeout=settings.body_timeout)
    doc = json_body(body, what="registry event")        # ApiError 400/415 on bad input
    raise ApiError(404, f"no image {digest}")            # -> {"error": "no image ..."}

Every refusal is ``{"error": "<one line>"}`` (plus ``"hint"`` when there is one) with a 4xx
or 5xx status; the message has control characters escaped, like every hullcheck error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from hullcheck import untrusted
from hullcheck.errors import (
    AuthError,
    DatabaseError,
    DeadlineExceeded,
    FormatError,
    HullcheckError,
    InputError,
    NotFound,
    RegistryError,
    Unreachable,
    UsageError,
    VerificationError,
    printable,
)

MAX_MESSAGE = 400  # characters of an error message
_BOM = b"\xef\xbb\xbf"
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_ZIP = b"PK\x03\x04"


class ApiError(Exception):
    """An answer other than success: the status and one line saying what and where."""

    def __init__(self, status: int, message: str, *, hint: str = "",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = one_line(message)
        self.hint = one_line(hint)
        self.headers = dict(headers or {})


def one_line(text: str) -> str:
    return " ".join(printable(text).split())[:MAX_MESSAGE]


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, str] = {"error": error.message}
    if error.hint:
        body["hint"] = error.hint
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def status_of(error: HullcheckError) -> int:
    """The HTTP status of an expected failure, by its place in the exception tree."""
    if isinstance(error, DeadlineExceeded | Unreachable):
        return 504  # we waited for someone else (a registry, the deadline) and gave up
    if isinstance(error, AuthError):
        return 502  # a registry refused *our* credentials: not the API client's fault
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, RegistryError):
        return 502
    if isinstance(error, DatabaseError):
        return 503
    if isinstance(error, VerificationError | InputError):
        return 422  # well-formed request, unusable content (an SBOM we cannot read...)
    if isinstance(error, UsageError):
        return 400
    return 400


def from_error(error: HullcheckError) -> ApiError:
    return ApiError(status_of(error), str(error), hint=error.hint)


# -- bodies -------------------------------------------------------------------------------


async def read_body(request: Request, *, limit: int, timeout: float, what: str) -> bytes:
    """The request body, at most ``limit`` bytes counted as they arrive (a declared
    ``Content-Length`` over the limit is refused before reading; a smaller one is not
    trusted), received within ``timeout`` seconds in all (not per read: a client sending a
    byte a second is cut off). Compressed transfer encodings are refused, not inflated.

    Hand-written rather than Starlette's ``max_body_size``: that answers in plain text and
    has no total-time deadline."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(415, f"{what}: Content-Encoding {encoding!r} is not accepted; send "
                            "the document uncompressed")
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ApiError(413, f"{what}: {int(declared):,} bytes declared, more than the limit "
                            f"of {limit:,}", headers={"Connection": "close"})
    parts: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise ApiError(413, f"{what}: more than the limit of {limit:,} bytes; "
                                        "refused", headers={"Connection": "close"})
                parts.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"{what}: the body did not arrive within {timeout:g}s",
                       headers={"Connection": "close"}) from None
    except ClientDisconnect:
        raise ApiError(400, f"{what}: the client went away before the body was complete") from None
    return b"".join(parts)


def sniff(body: bytes, *, what: str) -> str:
    """What the bytes are, whatever ``Content-Type`` claimed: ``"json"`` (an object or a
    list), else an :class:`ApiError` 400/415 naming what they look like."""
    head = body[:64].removeprefix(_BOM).lstrip()
    if not head:
        raise ApiError(400, f"{what}: the body is empty")
    if head[:1] in (b"{", b"["):
        return "json"
    if head[:1] == b"<":
        raise ApiError(415, f"{what}: an XML document; send JSON",
                       hint="XML SBOMs are not read; use CycloneDX JSON, SPDX JSON or hullcheck JSON")
    for magic, kind in ((_GZIP, "gzip"), (_ZSTD, "zstd"), (_ZIP, "zip")):
        if body.startswith(magic):
            raise ApiError(415, f"{what}: {kind}-compressed data; send the JSON document itself")
    raise ApiError(415, f"{what}: not a JSON document")


def json_body(body: bytes, *, what: str, expect: type = dict) -> Any:
    """The JSON value of a body sniffed as JSON, parsed with hullcheck's limits (nesting,
    UTF-8); a top-level value other than ``expect`` is a 400."""
    sniff(body, what=what)
    try:
        doc = untrusted.json_document(body.removeprefix(_BOM), what=what, error=FormatError)
    except FormatError as exc:
        raise ApiError(400, str(exc)) from None
    if not isinstance(doc, expect):
        wanted = "an object" if expect is dict else "a list"
        raise ApiError(400, f"{what}: expected {wanted} at the top level")
    return doc


def json_response(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> Response:
    """JSON with its UTF-8 bytes as written (no ASCII escaping), never NaN."""
    data = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(data.encode(), status_code=status, headers=dict(headers or {}),
                    media_type="application/json")
