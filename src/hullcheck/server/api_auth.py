"""Who is calling, and whether they may: bearer tokens (verified by the fleet store), scopes
(read < write < admin) and per-token rate limits on intake.

    token = bearer(request.headers)               # ApiError 401 when missing or malformed
    require(info, Scope.WRITE)                    # ApiError 403
    limiter.hit(info)                             # ApiError 429 with Retry-After

The token itself never appears in a message or a log; only its name does.
"""

from __future__ import annotations

import math
import re
import time

from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers

from hullcheck.errors import UsageError
from hullcheck.fleet.model import Scope, TokenInfo
from hullcheck.server.api_http import ApiError

MAX_TOKEN = 256  # characters; hullcheck's tokens are 46
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")  # RFC 6750 b64token
CHALLENGE = 'Bearer realm="hullcheck"'


def bearer(headers: Headers) -> str:
    """The token of ``Authorization: Bearer TOKEN``; a 401 when there is none or it is not
    one (without saying which part was wrong beyond the scheme)."""
    value = headers.get("authorization")
    if value is None:
        raise _unauthorized("this call needs 'Authorization: Bearer TOKEN'")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise _unauthorized("only 'Authorization: Bearer TOKEN' is accepted")
    if not token or len(token) > MAX_TOKEN or not _TOKEN.fullmatch(token):
        raise _unauthorized("the bearer token is malformed")
    return token


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": CHALLENGE},
                    hint="create a token with 'hullcheck token create --scope read|write|admin'")


def unknown_token() -> ApiError:
    return _unauthorized("the token is not known or was revoked")


def require(info: TokenInfo, needed: Scope) -> None:
    if not info.scope.allows(needed):
        raise ApiError(403, f"token {info.name!r} has scope {info.scope.value}; this call "
                            f"needs {needed.value}")


class RateLimiter:
    """A moving window per token on intake calls (``"60/minute"``, ``"10/second"``...): a
    token over its rate gets 429 with ``Retry-After`` (whole seconds until a slot frees).
    In memory, per process: each API node limits what reaches it."""

    def __init__(self, rate: str) -> None:
        try:
            item = parse_rate(rate)
        except ValueError:
            item = None
        if item is None or item.amount < 1:
            raise UsageError(f"rate limit {rate!r} is not a rate; write e.g. 60/minute or "
                             "5/second")
        self.rate = item
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.text = rate

    def hit(self, info: TokenInfo) -> None:
        key = f"token:{info.id}"
        if self._limiter.hit(self.rate, key):
            return
        reset = self._limiter.get_window_stats(self.rate, key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(429, f"token {info.name!r} is over its intake rate of {self.text}; "
                            f"try again in {wait}s", headers={"Retry-After": str(wait)})
